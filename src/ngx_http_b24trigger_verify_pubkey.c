
/*
 * Copyright (C) b24trigger authors
 *
 * Public-key signatures: the "sendgrid" (ECDSA P-256 with SHA-256 over
 * the timestamp and the body), "standard_v1a" (Standard Webhooks' Ed25519
 * "v1a" over "<id>.<timestamp>.<body>") and "paddle_classic" (RSA with
 * SHA-1 over the PHP serialize() of the form fields) schemes.  Their keys
 * are public, given with "key=" of b24trigger_verify (inline or
 * "file:PATH"), loaded and checked once when the configuration is read
 * (type, curve, size), and verified per request with OpenSSL 3's
 * EVP_DigestVerify(); every key is tried against every signature.  The
 * text they read is taken apart in
 * ngx_http_b24trigger_verify_pubkey_parse.c.  Knows HTTP requests and
 * keys; knows nothing about Bitrix24.  No key, signature or signed
 * message is ever logged.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ngx_http_b24trigger_verify_schemes.h"
#include "ngx_http_b24trigger_verify_pubkey_parse.h"
#include "ngx_http_b24trigger_fields.h"


/* the largest key file read, a PEM RSA key of 16384 bits fits */
#define NGX_HTTP_B24TRIGGER_KEYFILE_MAX  16384

/* the most "v1a" signatures tried: each costs a verification */
#define NGX_HTTP_B24TRIGGER_V1A_MAX      8

/* RSA keys shorter than this are refused */
#define NGX_HTTP_B24TRIGGER_RSA_BITS     2048

/* an ECDSA P-256 signature in DER is at most 72 bytes */
#define NGX_HTTP_B24TRIGGER_ECDSA_SIG    72


static char *ngx_http_b24trigger_pubkey_add(ngx_conf_t *cf,
    ngx_http_b24trigger_verify_t *v, ngx_str_t *spec, ngx_uint_t n,
    ngx_str_t *scheme);
static ngx_int_t ngx_http_b24trigger_pubkey_file(ngx_conf_t *cf,
    ngx_str_t *path, ngx_str_t *text, ngx_str_t *scheme);
static EVP_PKEY *ngx_http_b24trigger_pubkey_load(u_char *p, size_t len,
    const char **why);
static const char *ngx_http_b24trigger_pubkey_check(
    ngx_http_b24trigger_verify_t *v, EVP_PKEY *pkey);
static void ngx_http_b24trigger_pubkey_cleanup(void *data);
static ngx_int_t ngx_http_b24trigger_pubkey_match(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *sig,
    ngx_str_t *msg, ngx_uint_t *match);
static ngx_int_t ngx_http_b24trigger_pubkey_time(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *tsv, time_t *ts,
    ngx_http_b24trigger_verdict_t *vd);


static ngx_str_t  ngx_http_b24trigger_sendgrid_sig =
    ngx_string("X-Twilio-Email-Event-Webhook-Signature");
static ngx_str_t  ngx_http_b24trigger_sendgrid_ts =
    ngx_string("X-Twilio-Email-Event-Webhook-Timestamp");

static ngx_str_t  ngx_http_b24trigger_v1a_sig =
    ngx_string("webhook-signature");
static ngx_str_t  ngx_http_b24trigger_v1a_ts =
    ngx_string("webhook-timestamp");
static ngx_str_t  ngx_http_b24trigger_v1a_id = ngx_string("webhook-id");
static ngx_str_t  ngx_http_b24trigger_v1a_version = ngx_string("v1a");

static ngx_str_t  ngx_http_b24trigger_paddle_sig =
    ngx_string("p_signature");


/*
 * "key=KEY" (one or more: any may match, for rotation) and, for the
 * schemes that sign a timestamp, "tolerance="
 */

char *
ngx_http_b24trigger_pubkey_parse(ngx_conf_t *cf,
    ngx_http_b24trigger_verify_t *v, ngx_str_t *args, ngx_uint_t nargs)
{
    ngx_str_t            s;
    ngx_uint_t           i;
    ngx_pool_cleanup_t  *cln;

    v->pubkeys = ngx_array_create(cf->pool, 2, sizeof(EVP_PKEY *));
    if (v->pubkeys == NULL) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_b24trigger_pubkey_cleanup;
    cln->data = v->pubkeys;

    for (i = 1; i < nargs; i++) {

        if (args[i].len > 4 && ngx_strncmp(args[i].data, "key=", 4) == 0) {
            s.data = args[i].data + 4;
            s.len = args[i].len - 4;

            if (ngx_http_b24trigger_pubkey_add(cf, v, &s,
                                               v->pubkeys->nelts + 1,
                                               &args[0])
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if ((v->scheme->params & NGX_HTTP_B24TRIGGER_PARAM_TOLERANCE)
            && args[i].len > 10
            && ngx_strncmp(args[i].data, "tolerance=", 10) == 0)
        {
            s.data = args[i].data + 10;
            s.len = args[i].len - 10;

            v->tolerance = ngx_parse_time(&s, 1);
            if (v->tolerance == (time_t) NGX_ERROR || v->tolerance == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"tolerance\" value \"%V\" of "
                                   "scheme \"%V\", expected a time such as "
                                   "300s or 5m", &s, &args[0]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" of scheme \"%V\"",
                           &args[i], &args[0]);
        return NGX_CONF_ERROR;
    }

    if (v->pubkeys->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "scheme \"%V\" needs the sender's public key: "
                           "\"key=file:/path/to/key.pem\"", &args[0]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* one "key=": inline or "file:PATH"; messages name the file, not the key */

static char *
ngx_http_b24trigger_pubkey_add(ngx_conf_t *cf,
    ngx_http_b24trigger_verify_t *v, ngx_str_t *spec, ngx_uint_t n,
    ngx_str_t *scheme)
{
    u_char       where[NGX_MAX_PATH + 32], *last;
    ngx_str_t    text, path;
    EVP_PKEY    *pkey, **slot;
    const char  *why;

    if (spec->len > 5 && ngx_strncmp(spec->data, "file:", 5) == 0) {
        path.data = spec->data + 5;
        path.len = spec->len - 5;

        if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        if (ngx_http_b24trigger_pubkey_file(cf, &path, &text, scheme)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        last = ngx_snprintf(where, sizeof(where) - 1, "key file \"%V\"",
                            &path);

    } else {
        text = *spec;
        last = ngx_snprintf(where, sizeof(where) - 1, "key %ui", n);
    }

    *last = '\0';

    pkey = ngx_http_b24trigger_pubkey_load(text.data, text.len, &why);

    if (pkey == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"b24trigger_verify %V\": %s %s",
                           scheme, where, why);
        return NGX_CONF_ERROR;
    }

    slot = ngx_array_push(v->pubkeys);
    if (slot == NULL) {
        EVP_PKEY_free(pkey);
        return NGX_CONF_ERROR;
    }

    *slot = pkey;

    why = ngx_http_b24trigger_pubkey_check(v, pkey);

    if (why) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"b24trigger_verify %V\": %s %s",
                           scheme, where, why);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_b24trigger_pubkey_file(ngx_conf_t *cf, ngx_str_t *path,
    ngx_str_t *text, ngx_str_t *scheme)
{
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_file_info_t  fi;

    fd = ngx_open_file(path->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"b24trigger_verify %V\": cannot open key file "
                           "\"%V\"", scheme, path);
        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"b24trigger_verify %V\": cannot stat key file "
                           "\"%V\"", scheme, path);
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    if (!ngx_is_file(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"b24trigger_verify %V\": key file \"%V\" is "
                           "not a regular file", scheme, path);
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    if (ngx_file_size(&fi) > NGX_HTTP_B24TRIGGER_KEYFILE_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"b24trigger_verify %V\": key file \"%V\" is "
                           "larger than %d bytes", scheme, path,
                           NGX_HTTP_B24TRIGGER_KEYFILE_MAX);
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    text->data = ngx_pnalloc(cf->temp_pool,
                             NGX_HTTP_B24TRIGGER_KEYFILE_MAX + 1);
    if (text->data == NULL) {
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    n = read(fd, text->data, NGX_HTTP_B24TRIGGER_KEYFILE_MAX + 1);

    if (n == -1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"b24trigger_verify %V\": cannot read key file "
                           "\"%V\"", scheme, path);
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    (void) ngx_close_file(fd);

    if (n > NGX_HTTP_B24TRIGGER_KEYFILE_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"b24trigger_verify %V\": key file \"%V\" is "
                           "larger than %d bytes", scheme, path,
                           NGX_HTTP_B24TRIGGER_KEYFILE_MAX);
        return NGX_ERROR;
    }

    text->len = n;

    return NGX_OK;
}


/* PEM, "whpk_<base64>" or base64 DER into a key, or NULL and why */

static EVP_PKEY *
ngx_http_b24trigger_pubkey_load(u_char *p, size_t len, const char **why)
{
    BIO            *bio;
    size_t          n;
    EVP_PKEY       *pkey;
    ngx_str_t       text;
    ngx_uint_t      kind;
    const u_char   *d;
    u_char          der[NGX_HTTP_B24TRIGGER_PUBKEY_MAX];

    if (ngx_http_b24trigger_pubkey_text(p, len, &kind, der, &n, why)
        != NGX_OK)
    {
        return NULL;
    }

    pkey = NULL;

    switch (kind) {

    case NGX_HTTP_B24TRIGGER_PUBKEY_RAW:
        pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, der, n);
        *why = "is not an Ed25519 public key";
        break;

    case NGX_HTTP_B24TRIGGER_PUBKEY_DER:
        d = der;
        pkey = d2i_PUBKEY(NULL, &d, n);

        if (pkey && d != der + n) {
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }

        *why = "is not the base64 of a DER public key "
               "(SubjectPublicKeyInfo)";
        break;

    default: /* NGX_HTTP_B24TRIGGER_PUBKEY_PEM */
        bio = BIO_new_mem_buf(p, (int) len);
        if (bio == NULL) {
            *why = "cannot be read: BIO_new_mem_buf() failed";
            break;
        }

        pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        BIO_free(bio);

        text.data = p;
        text.len = len;

        if (ngx_strlcasestrn(text.data, text.data + text.len,
                             (u_char *) "PRIVATE KEY", 11 - 1)
            != NULL)
        {
            *why = "holds a private key: give the sender's public key "
                   "(\"-----BEGIN PUBLIC KEY-----\")";

            if (pkey) {
                EVP_PKEY_free(pkey);
                pkey = NULL;
            }

        } else {
            *why = "is not a PEM public key (\"-----BEGIN PUBLIC "
                   "KEY-----\")";
        }

        break;
    }

    ngx_explicit_memzero(der, sizeof(der));

    /* nothing of a failed parse is left for a later ngx_ssl_error() */

    ERR_clear_error();

    return pkey;
}


/* the kind of key the scheme verifies with: NULL, or why not */

static const char *
ngx_http_b24trigger_pubkey_check(ngx_http_b24trigger_verify_t *v,
    EVP_PKEY *pkey)
{
    size_t  len;
    char    group[64];

    if (v->scheme->verify == ngx_http_b24trigger_sendgrid_verify) {

        if (!EVP_PKEY_is_a(pkey, "EC")) {
            return "is not an ECDSA key: SendGrid signs with ECDSA P-256";
        }

        if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &len) != 1
            || (ngx_strcmp(group, "prime256v1") != 0
                && ngx_strcmp(group, "P-256") != 0))
        {
            ERR_clear_error();
            return "is an ECDSA key on another curve than P-256 "
                   "(prime256v1), which SendGrid signs with";
        }

        return NULL;
    }

    if (v->scheme->verify == ngx_http_b24trigger_v1a_verify) {

        if (!EVP_PKEY_is_a(pkey, "ED25519")) {
            return "is not an Ed25519 key: Standard Webhooks \"v1a\" "
                   "signs with Ed25519";
        }

        return NULL;
    }

    /* paddle_classic */

    if (!EVP_PKEY_is_a(pkey, "RSA")) {
        return "is not an RSA key: Paddle Classic signs with RSA";
    }

    if (EVP_PKEY_get_bits(pkey) < NGX_HTTP_B24TRIGGER_RSA_BITS) {
        return "is an RSA key shorter than 2048 bits";
    }

    return NULL;
}


static void
ngx_http_b24trigger_pubkey_cleanup(void *data)
{
    ngx_array_t *keys = data;

    EVP_PKEY    **pkey;
    ngx_uint_t    i;

    pkey = keys->elts;

    for (i = 0; i < keys->nelts; i++) {
        EVP_PKEY_free(pkey[i]);
    }

    keys->nelts = 0;
}


/*
 * At merge time: the keys are those of "key=", loaded already; a
 * "b24trigger_secret", maybe inherited, plays no part
 */

ngx_array_t *
ngx_http_b24trigger_pubkey_keys(ngx_conf_t *cf,
    ngx_http_b24trigger_verify_t *v, ngx_str_t *location)
{
    return v->pubkeys;
}


ngx_uint_t
ngx_http_b24trigger_pubkey_signs(ngx_http_b24trigger_verify_t *v)
{
    if (v->scheme->verify == ngx_http_b24trigger_paddle_classic_verify) {
        return NGX_HTTP_B24TRIGGER_SIGNS_BODY;
    }

    return NGX_HTTP_B24TRIGGER_SIGNS_BODY
           |NGX_HTTP_B24TRIGGER_SIGNS_TIMESTAMP;
}


/*
 * SendGrid and Standard Webhooks sign the whole body; Paddle Classic
 * every field of the form, which has no nested names (refused)
 */

ngx_uint_t
ngx_http_b24trigger_pubkey_signs_field(ngx_http_b24trigger_verify_t *v,
    ngx_str_t *root, ngx_uint_t depth)
{
    if (v->scheme->verify == ngx_http_b24trigger_paddle_classic_verify) {
        return depth == 1;
    }

    return 1;
}


/*
 * SendGrid's Event Webhook: X-Twilio-Email-Event-Webhook-Signature, the
 * base64 of a DER ECDSA signature, SHA-256, of the
 * X-Twilio-Email-Event-Webhook-Timestamp value followed by the body
 */

ngx_int_t
ngx_http_b24trigger_sendgrid_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd)
{
    u_char           *p;
    time_t            ts;
    ssize_t           n;
    ngx_int_t         rc;
    ngx_str_t         sig, msg;
    ngx_uint_t        match;
    ngx_table_elt_t  *hs, *ht;
    u_char            der[NGX_HTTP_B24TRIGGER_ECDSA_SIG];

    hs = ngx_http_b24trigger_header(r, &ngx_http_b24trigger_sendgrid_sig, 0);

    if (hs == NULL || hs->value.len == 0) {
        return ngx_http_b24trigger_refusal(r, vd, "signature_missing",
                                           "no \"%V\" header",
                                           &ngx_http_b24trigger_sendgrid_sig);
    }

    ht = ngx_http_b24trigger_header(r, &ngx_http_b24trigger_sendgrid_ts, 0);

    if (ht == NULL || ht->value.len == 0) {
        return ngx_http_b24trigger_refusal(r, vd, "signature_missing",
                                           "no \"%V\" header",
                                           &ngx_http_b24trigger_sendgrid_ts);
    }

    if (ngx_http_b24trigger_header(r, &ngx_http_b24trigger_sendgrid_sig, 1)
        || ngx_http_b24trigger_header(r, &ngx_http_b24trigger_sendgrid_ts,
                                      1))
    {
        ngx_http_b24trigger_refuse(vd, "signature_invalid",
                                   "a SendGrid header given twice");
        return NGX_DECLINED;
    }

    rc = ngx_http_b24trigger_pubkey_time(r, &ngx_http_b24trigger_sendgrid_ts,
                                         &ht->value, &ts, vd);
    if (rc != NGX_OK) {
        return rc;
    }

    n = ngx_http_b24trigger_pubsig_decode(der, sizeof(der), hs->value.data,
                                          hs->value.len);
    if (n < 0) {
        return ngx_http_b24trigger_refusal(r, vd, "signature_invalid",
                                           "malformed \"%V\" header",
                                           &ngx_http_b24trigger_sendgrid_sig);
    }

    sig.data = der;
    sig.len = n;

    msg.len = ht->value.len + body->len;
    msg.data = ngx_pnalloc(r->pool, msg.len + 1);
    if (msg.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(msg.data, ht->value.data, ht->value.len);
    ngx_memcpy(p, body->data, body->len);

    rc = ngx_http_b24trigger_pubkey_match(r, v, keys, &sig, &msg, &match);
    if (rc != NGX_OK) {
        return rc;
    }

    if (!match) {
        ngx_http_b24trigger_refuse(vd, "signature_invalid",
                                   "the ECDSA signature does not match");
        return NGX_DECLINED;
    }

    /*
     * the replay shield keys on the signed bytes: an ECDSA signature has
     * more than one valid form for the same message
     */

    vd->signature = msg;

    return ngx_http_b24trigger_check_time(r, ts, v->tolerance, vd);
}


/*
 * Standard Webhooks, asymmetric: "webhook-signature: v1a,<base64> ..."
 * (every webhook-signature header, v1 and other versions skipped), an
 * Ed25519 signature of "<webhook-id>.<webhook-timestamp>.<body>"
 */

ngx_int_t
ngx_http_b24trigger_v1a_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd)
{
    u_char                          *p;
    time_t                           ts;
    ssize_t                          n;
    ngx_int_t                        rc;
    ngx_str_t                        msg, sig;
    ngx_uint_t                       i, k, items, headers, match, tried;
    ngx_table_elt_t                 *e, *hid, *hts;
    ngx_http_b24trigger_sig_list_t   list;
    u_char                           raw[NGX_HTTP_B24TRIGGER_ED25519_SIG];

    items = 0;
    headers = 0;

    for (k = 0; /* void */; k++) {
        e = ngx_http_b24trigger_header(r, &ngx_http_b24trigger_v1a_sig, k);
        if (e == NULL) {
            break;
        }

        headers++;
        items += ngx_http_b24trigger_sig_items(e->value.data, e->value.len,
                                               ' ');
    }

    if (headers == 0) {
        return ngx_http_b24trigger_refusal(r, vd, "signature_missing",
                                           "no \"%V\" header",
                                           &ngx_http_b24trigger_v1a_sig);
    }

    hid = ngx_http_b24trigger_header(r, &ngx_http_b24trigger_v1a_id, 0);

    if (hid == NULL || hid->value.len == 0) {
        return ngx_http_b24trigger_refusal(r, vd, "signature_missing",
                                           "no \"%V\" header",
                                           &ngx_http_b24trigger_v1a_id);
    }

    /* as for "standard": the first two dots must be the message's */

    if (ngx_strlchr(hid->value.data, hid->value.data + hid->value.len, '.'))
    {
        return ngx_http_b24trigger_refusal(r, vd, "signature_invalid",
                                           "\"%V\" header holds \".\"",
                                           &ngx_http_b24trigger_v1a_id);
    }

    hts = ngx_http_b24trigger_header(r, &ngx_http_b24trigger_v1a_ts, 0);

    if (hts == NULL || hts->value.len == 0) {
        return ngx_http_b24trigger_refusal(r, vd, "signature_missing",
                                           "no \"%V\" header",
                                           &ngx_http_b24trigger_v1a_ts);
    }

    ngx_memzero(&list, sizeof(ngx_http_b24trigger_sig_list_t));

    list.sigs = ngx_palloc(r->pool, items * sizeof(ngx_str_t));
    if (list.sigs == NULL) {
        return NGX_ERROR;
    }

    list.nalloc = items;

    for (k = 0; k < headers; k++) {
        e = ngx_http_b24trigger_header(r, &ngx_http_b24trigger_v1a_sig, k);

        (void) ngx_http_b24trigger_sig_parse_versioned(e->value.data,
                                          e->value.len,
                                          &ngx_http_b24trigger_v1a_version,
                                          &list);
    }

    if (list.nsigs == 0) {
        return ngx_http_b24trigger_refusal(r, vd, "signature_invalid",
                                           "no \"v1a\" signature in \"%V\" "
                                           "header",
                                           &ngx_http_b24trigger_v1a_sig);
    }

    if (list.nsigs > NGX_HTTP_B24TRIGGER_V1A_MAX) {
        return ngx_http_b24trigger_refusal(r, vd, "signature_invalid",
                                           "more than %d \"v1a\" "
                                           "signatures",
                                           NGX_HTTP_B24TRIGGER_V1A_MAX);
    }

    rc = ngx_http_b24trigger_pubkey_time(r, &ngx_http_b24trigger_v1a_ts,
                                         &hts->value, &ts, vd);
    if (rc != NGX_OK) {
        return rc;
    }

    msg.len = hid->value.len + 1 + hts->value.len + 1 + body->len;
    msg.data = ngx_pnalloc(r->pool, msg.len + 1);
    if (msg.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(msg.data, "%V.%V.", &hid->value, &hts->value);
    ngx_memcpy(p, body->data, body->len);

    match = 0;
    tried = 0;

    for (i = 0; i < list.nsigs; i++) {

        n = ngx_http_b24trigger_pubsig_decode(raw, sizeof(raw),
                                              list.sigs[i].data,
                                              list.sigs[i].len);

        if (n != NGX_HTTP_B24TRIGGER_ED25519_SIG) {
            continue;
        }

        tried++;

        sig.data = raw;
        sig.len = n;

        rc = ngx_http_b24trigger_pubkey_match(r, v, keys, &sig, &msg, &k);
        if (rc != NGX_OK) {
            return rc;
        }

        match |= k;
    }

    if (tried == 0) {
        return ngx_http_b24trigger_refusal(r, vd, "signature_invalid",
                                           "malformed \"v1a\" signature in "
                                           "\"%V\" header",
                                           &ngx_http_b24trigger_v1a_sig);
    }

    if (!match) {
        return ngx_http_b24trigger_refusal(r, vd, "signature_invalid",
                                           "%ui \"v1a\" signature%s, none "
                                           "matches", list.nsigs,
                                           list.nsigs == 1 ? "" : "s");
    }

    vd->signature = msg;

    return ngx_http_b24trigger_check_time(r, ts, v->tolerance, vd);
}


/*
 * Paddle Classic: "p_signature", the base64 of an RSA signature with
 * SHA-1 of the PHP serialize() of the other fields, sorted by name
 */

ngx_int_t
ngx_http_b24trigger_paddle_classic_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd)
{
    ssize_t                      n;
    ngx_int_t                    rc;
    ngx_str_t                    sig, msg, bad;
    ngx_uint_t                   match;
    ngx_array_t                 *root;
    ngx_http_b24trigger_root_t  *f;
    u_char                       raw[NGX_HTTP_B24TRIGGER_PUBSIG_MAX];

    rc = ngx_http_b24trigger_fields_root(r, &root);

    if (rc == NGX_DECLINED) {
        ngx_http_b24trigger_refuse(vd, "signature_missing",
                                   "the body has no fields to check");
        return NGX_DECLINED;
    }

    if (rc != NGX_OK) {
        return rc;
    }

    f = ngx_http_b24trigger_root_get(root,
                                     ngx_http_b24trigger_paddle_sig.data,
                                     ngx_http_b24trigger_paddle_sig.len);

    if (f == NULL || f->value.len == 0) {
        ngx_http_b24trigger_refuse(vd, "signature_missing",
                                   "no \"p_signature\" field");
        return NGX_DECLINED;
    }

    n = ngx_http_b24trigger_pubsig_decode(raw, sizeof(raw), f->value.data,
                                          f->value.len);
    if (n < 0) {
        ngx_http_b24trigger_refuse(vd, "signature_invalid",
                                   "malformed \"p_signature\" field");
        return NGX_DECLINED;
    }

    sig.data = raw;
    sig.len = n;

    rc = ngx_http_b24trigger_php_serialize(r->pool, root,
                                           &ngx_http_b24trigger_paddle_sig,
                                           &msg, &bad);
    if (rc == NGX_DECLINED) {

        /* never the name itself: the sender chose it */

        ngx_http_b24trigger_refuse(vd, "signature_invalid",
                                   "a field name PHP would rewrite");
        return NGX_DECLINED;
    }

    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_b24trigger_pubkey_match(r, v, keys, &sig, &msg, &match);
    if (rc != NGX_OK) {
        return rc;
    }

    if (!match) {
        ngx_http_b24trigger_refuse(vd, "signature_invalid",
                                   "\"p_signature\" does not match");
        return NGX_DECLINED;
    }

    vd->signature = msg;

    return NGX_OK;
}


/* sig of msg with every key, no early exit */

static ngx_int_t
ngx_http_b24trigger_pubkey_match(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *sig,
    ngx_str_t *msg, ngx_uint_t *match)
{
    int            ok;
    EVP_PKEY     **pkey;
    ngx_uint_t     i;
    EVP_MD_CTX    *ctx;

    *match = 0;

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "b24trigger: EVP_MD_CTX_new() failed");
        return NGX_ERROR;
    }

    pkey = keys->elts;

    for (i = 0; i < keys->nelts; i++) {

        if (EVP_MD_CTX_reset(ctx) != 1
            || EVP_DigestVerifyInit(ctx, NULL, v->md, NULL, pkey[i]) != 1)
        {
            ERR_clear_error();
            EVP_MD_CTX_free(ctx);

            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "b24trigger: EVP_DigestVerifyInit() failed");
            return NGX_ERROR;
        }

        /* 1 verified, 0 not, < 0 a signature that is not even well-formed */

        ok = EVP_DigestVerify(ctx, sig->data, sig->len, msg->data, msg->len);

        *match |= (ok == 1);
    }

    ERR_clear_error();
    EVP_MD_CTX_free(ctx);

    return NGX_OK;
}


/* a timestamp header as Unix seconds */

static ngx_int_t
ngx_http_b24trigger_pubkey_time(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *tsv, time_t *ts, ngx_http_b24trigger_verdict_t *vd)
{
    if (ngx_http_b24trigger_sig_timestamp(tsv->data, tsv->len, ts)
        != NGX_OK)
    {
        return ngx_http_b24trigger_refusal(r, vd, "signature_invalid",
                                           "malformed \"%V\" header", name);
    }

    return NGX_OK;
}
