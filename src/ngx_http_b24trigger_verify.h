
/*
 * Copyright (C) b24trigger authors
 *
 * Verification of senders: the "b24trigger_verify" schemes.  This is the
 * whole interface the rest of the module sees; what a scheme is and how it
 * signs stays inside src/ngx_http_b24trigger_verify*.c, which know nothing
 * about Bitrix24.
 */


#ifndef _NGX_HTTP_B24TRIGGER_VERIFY_H_INCLUDED_
#define _NGX_HTTP_B24TRIGGER_VERIFY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


typedef struct ngx_http_b24trigger_verify_s  ngx_http_b24trigger_verify_t;


typedef struct {
    ngx_str_t   error;       /* signature_missing, signature_invalid,
                                timestamp_out_of_range, token_invalid */
    ngx_str_t   reason;      /* words for the error log, never a secret
                                nor a computed signature */
    ngx_str_t   reply;       /* handshake (Slack url_verification, ...):
                                the body to answer with */
    ngx_str_t   reply_type;  /* its content type */
    ngx_str_t   signature;   /* verified: the signature that matched,
                                decoded (what the sender sent, so no
                                secret); empty for "none" and "token" */
    ngx_str_t   signature_head; /* what was signed before signature
                                (a timestamp, "t."), or empty: the
                                replay key is both, one after the other */
} ngx_http_b24trigger_verdict_t;


/* a piece of the "message=" template of "hmac" */

typedef struct {
    ngx_http_complex_value_t  *value;       /* or NULL */
    ngx_uint_t                 body;        /* then the raw body */
} ngx_http_b24trigger_part_t;


/* what a scheme vouches for: ngx_http_b24trigger_verify_signs() */

/* "none", "token": the request as a whole, whatever it holds */
#define NGX_HTTP_B24TRIGGER_SIGNS_REQUEST    0x01
/* the body, or some of its fields: ask ..._signs_field() */
#define NGX_HTTP_B24TRIGGER_SIGNS_BODY       0x02
/* a timestamp, signed and checked against the clock */
#define NGX_HTTP_B24TRIGGER_SIGNS_TIMESTAMP  0x04
/* "none": no signature at all */
#define NGX_HTTP_B24TRIGGER_SIGNS_NOTHING    0x08


/*
 * "b24trigger_verify SCHEME [param=value ...]": args[0] is the scheme;
 * returns NGX_CONF_OK or NGX_CONF_ERROR after an EMERG message
 */
char *ngx_http_b24trigger_verify_parse(ngx_conf_t *cf, ngx_str_t *args,
    ngx_uint_t nargs, ngx_http_b24trigger_verify_t **vp);

/*
 * At merge time: turns the location's secrets (ngx_str_t, already loaded
 * from literal, file: or env:) into the keys the scheme uses (e.g. the
 * base64-decoded "whsec_" key of Standard Webhooks; for an HMAC scheme,
 * its hash states keyed once), refusing a scheme that needs a secret and
 * has none.  Returns the array of keys, opaque outside the verification
 * files (may be empty for "none"), or NULL after an EMERG message naming
 * the location.
 */
ngx_array_t *ngx_http_b24trigger_verify_keys(ngx_conf_t *cf,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *secrets,
    ngx_str_t *location);

/*
 * For the configuration check that only signed data chooses the target
 * (ngx_http_b24trigger_trust.c): what the scheme vouches for
 * (NGX_HTTP_B24TRIGGER_SIGNS_*); whether it signs the body field whose
 * path starts with the name root and has depth segments; whether it
 * joins names and values without a separator (a field is then signed
 * only where b24trigger_replay answers a copy split another way); the
 * "message=" template of "hmac" (ngx_http_b24trigger_part_t, or NULL) and
 * its
 * "timestamp=" (or NULL), which are signed only as far as the template
 * holds their variables; the scheme's name, for messages.
 */
ngx_uint_t ngx_http_b24trigger_verify_signs(ngx_http_b24trigger_verify_t *v);
ngx_uint_t ngx_http_b24trigger_verify_signs_field(
    ngx_http_b24trigger_verify_t *v, ngx_str_t *root, ngx_uint_t depth);
ngx_uint_t ngx_http_b24trigger_verify_joins_fields(
    ngx_http_b24trigger_verify_t *v);
ngx_array_t *ngx_http_b24trigger_verify_message(
    ngx_http_b24trigger_verify_t *v);
ngx_http_complex_value_t *ngx_http_b24trigger_verify_timestamp(
    ngx_http_b24trigger_verify_t *v);
ngx_str_t *ngx_http_b24trigger_verify_name(ngx_http_b24trigger_verify_t *v);

/* does this scheme need the raw body before it can decide */
ngx_uint_t ngx_http_b24trigger_verify_needs_body(
    ngx_http_b24trigger_verify_t *v);

/*
 * How a location verified by this scheme reads its body, for verification
 * and mapping alike: NGX_HTTP_B24TRIGGER_READ_* of
 * ngx_http_b24trigger_fields.h (JSON or a form whatever the Content-Type
 * says, where the provider always sends one of them)
 */
ngx_uint_t ngx_http_b24trigger_verify_reads(ngx_http_b24trigger_verify_t *v);

/*
 * For the error-log redaction: how a sender writes this scheme's secret
 * in its request other than byte for byte.  NGX_HTTP_B24TRIGGER_LOGGED_ARG:
 * in the query argument *name ("token query=NAME"), where it may be
 * percent-encoded; NGX_HTTP_B24TRIGGER_LOGGED_BASE64: base64-encoded
 * ("token basic"); 0: as it is
 */

#define NGX_HTTP_B24TRIGGER_LOGGED_ARG     1
#define NGX_HTTP_B24TRIGGER_LOGGED_BASE64  2

ngx_uint_t ngx_http_b24trigger_verify_logged(ngx_http_b24trigger_verify_t *v,
    ngx_str_t *name);

/*
 * Per request, once the body is in memory.  Returns NGX_OK (verified),
 * NGX_DECLINED (refused: vd->error and vd->reason are set), NGX_DONE
 * (a verified handshake: answer vd->reply, forward nothing) or NGX_ERROR.
 */
ngx_int_t ngx_http_b24trigger_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd);


#endif /* _NGX_HTTP_B24TRIGGER_VERIFY_H_INCLUDED_ */
