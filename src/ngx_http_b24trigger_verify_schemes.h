
/*
 * Copyright (C) b24trigger authors
 *
 * What the verification files share among themselves and with no one
 * else: the scheme table entry, the configured scheme, the description of
 * an HMAC scheme and a few helpers.  The rest of the module sees only
 * ngx_http_b24trigger_verify.h.
 */


#ifndef _NGX_HTTP_B24TRIGGER_VERIFY_SCHEMES_H_INCLUDED_
#define _NGX_HTTP_B24TRIGGER_VERIFY_SCHEMES_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>

#include "ngx_http_b24trigger_verify.h"
#include "ngx_http_b24trigger_verify_sig.h"


#define NGX_HTTP_B24TRIGGER_TOLERANCE    300
#define NGX_HTTP_B24TRIGGER_REASON_MAX   160

/* what a preset accepts besides its name */
#define NGX_HTTP_B24TRIGGER_PARAM_TOLERANCE  0x01
#define NGX_HTTP_B24TRIGGER_PARAM_ALG        0x02
#define NGX_HTTP_B24TRIGGER_PARAM_URL        0x04    /* "url=", required */


/* how the configured secrets become keys */

typedef enum {
    NGX_HTTP_B24TRIGGER_KEY_NONE = 0,     /* no secret at all ("none") */
    NGX_HTTP_B24TRIGGER_KEY_RAW,          /* the secret string as is */
    NGX_HTTP_B24TRIGGER_KEY_STANDARD,     /* base64 after "whsec_" */
    NGX_HTTP_B24TRIGGER_KEY_HTML,         /* HTML entities decoded */
    NGX_HTTP_B24TRIGGER_KEY_PUBLIC        /* "key=" public keys, not
                                             secrets */
} ngx_http_b24trigger_key_e;


/*
 * A key as a scheme uses it, made of one secret at configuration time by
 * ngx_http_b24trigger_verify_keys(); the key of an HMAC scheme carries
 * its hash states, keyed once (ngx_http_b24trigger_verify_hmac.c)
 */

typedef struct ngx_http_b24trigger_hmac_key_s  ngx_http_b24trigger_hmac_key_t;

typedef struct {
    ngx_str_t                        value;
    ngx_http_b24trigger_hmac_key_t  *hmac;       /* or NULL: HMAC() */
} ngx_http_b24trigger_key_t;


/* how the signature header of an HMAC scheme reads */

typedef enum {
    NGX_HTTP_B24TRIGGER_GRAMMAR_PLAIN = 0,    /* the signature alone */
    NGX_HTTP_B24TRIGGER_GRAMMAR_PREFIX,       /* "sha256=<sig>" */
    NGX_HTTP_B24TRIGGER_GRAMMAR_KV,           /* "t=..,v1=..,v1=.." */
    NGX_HTTP_B24TRIGGER_GRAMMAR_VERSIONED     /* "v1,<sig> v1,<sig>" */
} ngx_http_b24trigger_grammar_e;


/* what an HMAC scheme signs */

typedef enum {
    NGX_HTTP_B24TRIGGER_MSG_BODY = 0,     /* the raw body */
    NGX_HTTP_B24TRIGGER_MSG_TS_DOT,       /* "<ts>.<body>" (Stripe) */
    NGX_HTTP_B24TRIGGER_MSG_TS_COLON,     /* "<ts>:<body>" (Paddle) */
    NGX_HTTP_B24TRIGGER_MSG_V0,           /* "v0:<ts>:<body>" (Slack) */
    NGX_HTTP_B24TRIGGER_MSG_ID_TS,        /* "<id>.<ts>.<body>" (Standard
                                             Webhooks) */
    NGX_HTTP_B24TRIGGER_MSG_TEMPLATE,     /* "message=" of "hmac" */
    NGX_HTTP_B24TRIGGER_MSG_URL,          /* "<url><body>" (Square) */
    NGX_HTTP_B24TRIGGER_MSG_METHOD_URL    /* "<method><url><body><ts>", ts
                                             in ms (HubSpot v3) */
} ngx_http_b24trigger_msg_e;


/* what a verified HMAC request may be instead of an event */

typedef enum {
    NGX_HTTP_B24TRIGGER_HANDSHAKE_NONE = 0,
    NGX_HTTP_B24TRIGGER_HANDSHAKE_SLACK,      /* url_verification */
    NGX_HTTP_B24TRIGGER_HANDSHAKE_WOO_PING,   /* unsigned "webhook_id=N" */
    NGX_HTTP_B24TRIGGER_HANDSHAKE_ZOOM        /* endpoint.url_validation */
} ngx_http_b24trigger_handshake_e;


/*
 * An HMAC scheme: a preset's constant description, or the one "hmac"
 * builds from its parameters.  Header names are compared without regard
 * to case; [1] is an alternative name ("svix-signature", "X-Content-HMAC")
 */

typedef struct {
    ngx_str_t                        header[2];
    ngx_str_t                        ts_header[2];
    ngx_str_t                        id_header[2];
    ngx_http_b24trigger_grammar_e    grammar;
    ngx_str_t                        prefix;     /* or the version, "v1" */
    u_char                           sep;        /* of a KV list */
    ngx_str_t                        ts_key;     /* "t", "ts" */
    ngx_str_t                        sig_key;    /* "v1", "h1" */
    ngx_http_b24trigger_msg_e        message;
    ngx_uint_t                       encoding;   /* NGX_HTTP_B24TRIGGER_HEX,
                                                    _BASE64 */
    ngx_http_b24trigger_handshake_e  handshake;
} ngx_http_b24trigger_hmac_t;


typedef char *(*ngx_http_b24trigger_scheme_parse_pt)(ngx_conf_t *cf,
    ngx_http_b24trigger_verify_t *v, ngx_str_t *args, ngx_uint_t nargs);
typedef ngx_int_t (*ngx_http_b24trigger_scheme_verify_pt)(
    ngx_http_request_t *r, ngx_http_b24trigger_verify_t *v,
    ngx_array_t *keys, ngx_str_t *body, ngx_http_b24trigger_verdict_t *vd);


typedef struct {
    ngx_str_t                             name;
    ngx_http_b24trigger_scheme_parse_pt   parse;
    ngx_http_b24trigger_scheme_verify_pt  verify;
    ngx_http_b24trigger_key_e             key;
    ngx_http_b24trigger_hmac_t           *hmac;
    ngx_uint_t                            params;
    const char                           *alg;     /* default, if any */
    ngx_uint_t                            read;    /* how the body is read:
                                                      READ_* (fields.h) */
} ngx_http_b24trigger_scheme_t;


/* token: where the token is */

typedef enum {
    NGX_HTTP_B24TRIGGER_TOKEN_HEADER = 0,
    NGX_HTTP_B24TRIGGER_TOKEN_QUERY,
    NGX_HTTP_B24TRIGGER_TOKEN_FIELD,
    NGX_HTTP_B24TRIGGER_TOKEN_BEARER,
    NGX_HTTP_B24TRIGGER_TOKEN_BASIC
} ngx_http_b24trigger_token_e;


struct ngx_http_b24trigger_verify_s {
    ngx_http_b24trigger_scheme_t    *scheme;
    ngx_http_b24trigger_hmac_t      *hmac;
    const EVP_MD                    *md;
    time_t                           tolerance;

    ngx_http_b24trigger_token_e      token;
    ngx_str_t                        name;       /* header, argument, path */

    ngx_str_t                        header_low[2];  /* hmac->header[],
                                                        lower case */

    ngx_array_t                     *message;    /* of "hmac": parts */
    ngx_http_complex_value_t        *timestamp;  /* of "hmac" */

    ngx_http_complex_value_t        *url;        /* "url=": Square, HubSpot,
                                                    Twilio */
    ngx_array_t                     *pubkeys;    /* EVP_PKEY *, "key=" */
};


/* set a refusal: error is a literal, reason a literal too */
#define ngx_http_b24trigger_refuse(vd, err, why)                              \
    ngx_str_set(&(vd)->error, err); ngx_str_set(&(vd)->reason, why)


/* ngx_http_b24trigger_verify_common.c */
ngx_table_elt_t *ngx_http_b24trigger_header(ngx_http_request_t *r,
    ngx_str_t *name, ngx_uint_t n);
ngx_uint_t ngx_http_b24trigger_headers(ngx_http_request_t *r,
    ngx_str_t *name, u_char *low, ngx_table_elt_t **found, ngx_uint_t max);
ngx_int_t ngx_http_b24trigger_secure_equal(u_char *a, size_t alen,
    u_char *b, size_t blen);
ngx_uint_t ngx_http_b24trigger_equal(u_char *a, u_char *b, size_t len);
const EVP_MD *ngx_http_b24trigger_md(ngx_str_t *name, ngx_uint_t plain);
ngx_int_t ngx_http_b24trigger_refusal(ngx_http_request_t *r,
    ngx_http_b24trigger_verdict_t *vd, char *error, const char *fmt, ...);
ngx_int_t ngx_http_b24trigger_check_time(ngx_http_request_t *r,
    time_t ts, time_t tolerance, ngx_http_b24trigger_verdict_t *vd);
ngx_int_t ngx_http_b24trigger_verdict_signature(ngx_http_request_t *r,
    ngx_http_b24trigger_verdict_t *vd, ngx_str_t *sig);

/* ngx_http_b24trigger_verify_token.c: "token" */
char *ngx_http_b24trigger_token_parse(ngx_conf_t *cf,
    ngx_http_b24trigger_verify_t *v, ngx_str_t *args, ngx_uint_t nargs);
ngx_int_t ngx_http_b24trigger_token_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd);

/* ngx_http_b24trigger_verify_presets.c: the HMAC presets */
extern ngx_http_b24trigger_hmac_t  ngx_http_b24trigger_stripe;
extern ngx_http_b24trigger_hmac_t  ngx_http_b24trigger_standard;
extern ngx_http_b24trigger_hmac_t  ngx_http_b24trigger_github;
extern ngx_http_b24trigger_hmac_t  ngx_http_b24trigger_shopify;
extern ngx_http_b24trigger_hmac_t  ngx_http_b24trigger_slack;
extern ngx_http_b24trigger_hmac_t  ngx_http_b24trigger_paddle;
extern ngx_http_b24trigger_hmac_t  ngx_http_b24trigger_typeform;
extern ngx_http_b24trigger_hmac_t  ngx_http_b24trigger_woocommerce;
extern ngx_http_b24trigger_hmac_t  ngx_http_b24trigger_cloudpayments;
extern ngx_http_b24trigger_hmac_t  ngx_http_b24trigger_calendly;
extern ngx_http_b24trigger_hmac_t  ngx_http_b24trigger_zoom;
extern ngx_http_b24trigger_hmac_t  ngx_http_b24trigger_hubspot;
extern ngx_http_b24trigger_hmac_t  ngx_http_b24trigger_intercom;
extern ngx_http_b24trigger_hmac_t  ngx_http_b24trigger_square;

/* ngx_http_b24trigger_verify_hmac.c: "hmac" and every HMAC scheme */

char *ngx_http_b24trigger_hmac_parse(ngx_conf_t *cf,
    ngx_http_b24trigger_verify_t *v, ngx_str_t *args, ngx_uint_t nargs);
ngx_int_t ngx_http_b24trigger_hmac_key(ngx_pool_t *pool, const EVP_MD *md,
    ngx_http_b24trigger_key_t *key);
ngx_int_t ngx_http_b24trigger_hmac_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd);

/*
 * ngx_http_b24trigger_verify_event.c: what a verified body of Zoom,
 * Intercom or Square says besides its event
 */
ngx_int_t ngx_http_b24trigger_zoom_handshake(ngx_http_request_t *r,
    const EVP_MD *md, ngx_http_b24trigger_key_t *key,
    ngx_http_b24trigger_verdict_t *vd);
ngx_int_t ngx_http_b24trigger_event_key(ngx_http_request_t *r,
    ngx_http_b24trigger_hmac_t *h, ngx_http_b24trigger_verdict_t *vd);

/* ngx_http_b24trigger_verify_digest.c: digests over body fields */
ngx_int_t ngx_http_b24trigger_tbank_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd);
ngx_int_t ngx_http_b24trigger_robokassa_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd);
ngx_int_t ngx_http_b24trigger_yoomoney_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd);

/* ngx_http_b24trigger_verify_pubkey.c: public-key signatures */
char *ngx_http_b24trigger_pubkey_parse(ngx_conf_t *cf,
    ngx_http_b24trigger_verify_t *v, ngx_str_t *args, ngx_uint_t nargs);
ngx_array_t *ngx_http_b24trigger_pubkey_keys(ngx_conf_t *cf,
    ngx_http_b24trigger_verify_t *v, ngx_str_t *location);
ngx_uint_t ngx_http_b24trigger_pubkey_signs(ngx_http_b24trigger_verify_t *v);
ngx_uint_t ngx_http_b24trigger_pubkey_signs_field(
    ngx_http_b24trigger_verify_t *v, ngx_str_t *root, ngx_uint_t depth);
ngx_int_t ngx_http_b24trigger_sendgrid_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd);
ngx_int_t ngx_http_b24trigger_v1a_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd);
ngx_int_t ngx_http_b24trigger_paddle_classic_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd);

/* ngx_http_b24trigger_verify_params.c: signed parameters */
char *ngx_http_b24trigger_twilio_parse(ngx_conf_t *cf,
    ngx_http_b24trigger_verify_t *v, ngx_str_t *args, ngx_uint_t nargs);
char *ngx_http_b24trigger_telegram_parse(ngx_conf_t *cf,
    ngx_http_b24trigger_verify_t *v, ngx_str_t *args, ngx_uint_t nargs);
ngx_int_t ngx_http_b24trigger_twilio_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd);
ngx_int_t ngx_http_b24trigger_sber_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd);
ngx_int_t ngx_http_b24trigger_prodamus_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd);
ngx_int_t ngx_http_b24trigger_mailgun_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd);
ngx_int_t ngx_http_b24trigger_telegram_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd);
ngx_int_t ngx_http_b24trigger_params_signs(ngx_http_b24trigger_verify_t *v);
ngx_int_t ngx_http_b24trigger_params_signs_field(
    ngx_http_b24trigger_verify_t *v, ngx_str_t *root, ngx_uint_t depth);


#endif /* _NGX_HTTP_B24TRIGGER_VERIFY_SCHEMES_H_INCLUDED_ */
