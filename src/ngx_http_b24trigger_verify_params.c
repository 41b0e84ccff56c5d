
/*
 * Copyright (C) b24trigger authors
 *
 * Schemes that sign the request's parameters rather than its bytes:
 * Twilio (the URL and the POST parameters sorted by name, or the URL and
 * a SHA-256 of the body in it), Sber acquiring callbacks ("checksum" over
 * the parameters sorted by name as "name;value;"), Prodamus (the form as
 * PHP reads it, json_encode()d: src/ngx_http_b24trigger_phpform.c),
 * Mailgun (the "signature" object of the JSON body: a timestamp and a
 * token) and Telegram (a secret header compared as "token header=" does,
 * the update_id as the replay shield's key).  The parameters are those
 * b24trigger_field reads, from the same parse
 * (src/ngx_http_b24trigger_fields.c), bounded and with no name twice
 * where they are read before the signature is checked; sorting is
 * O(n log n).  Every key is tried, comparisons are constant-time.  Also
 * says which fields each of them signs.  Knows nothing about Bitrix24;
 * no key or computed signature is ever logged.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "ngx_http_b24trigger_verify_schemes.h"
#include "ngx_http_b24trigger_fields.h"
#include "ngx_http_b24trigger_phpform.h"
#include "ngx_http_b24trigger_url_parse.h"


#define NGX_HTTP_B24TRIGGER_TWILIO_URLS  2


static ngx_int_t ngx_http_b24trigger_params_root(ngx_http_request_t *r,
    ngx_http_b24trigger_verdict_t *vd, ngx_array_t **root);
static ngx_http_b24trigger_root_t **ngx_http_b24trigger_params_sorted(
    ngx_http_request_t *r, ngx_array_t *root);
static int ngx_http_b24trigger_params_cmp(const void *one, const void *two);
static ngx_int_t ngx_http_b24trigger_params_match(ngx_http_request_t *r,
    const EVP_MD *md, ngx_array_t *keys, ngx_str_t *msg, ngx_uint_t nmsg,
    u_char *expect, ssize_t n, ngx_uint_t *match);
static ngx_int_t ngx_http_b24trigger_params_verdict(ngx_http_request_t *r,
    ngx_http_b24trigger_verdict_t *vd, u_char *sig, size_t len);
static ngx_uint_t ngx_http_b24trigger_json_like(ngx_str_t *body);


/* Twilio: "url=VALUE", the URL Twilio requested, as its webhook says */

char *
ngx_http_b24trigger_twilio_parse(ngx_conf_t *cf,
    ngx_http_b24trigger_verify_t *v, ngx_str_t *args, ngx_uint_t nargs)
{
    ngx_str_t                          value;
    ngx_uint_t                         i;
    ngx_http_compile_complex_value_t   ccv;

    static ngx_str_t  dflt = ngx_string("$scheme://$http_host$request_uri");

    ngx_str_null(&value);

    for (i = 1; i < nargs; i++) {

        if (args[i].len > 4 && ngx_strncmp(args[i].data, "url=", 4) == 0
            && value.data == NULL)
        {
            value.data = args[i].data + 4;
            value.len = args[i].len - 4;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" of scheme \"twilio\"",
                           &args[i]);
        return NGX_CONF_ERROR;
    }

    if (value.data == NULL) {
        value = dflt;
    }

    v->url = ngx_pcalloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (v->url == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value;
    ccv.complex_value = v->url;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * Twilio: base64 HMAC (SHA-1, or SHA-256 where
 * X-Twilio-Webhooks-Signature-Settings says algorithm=HMAC_SHA256) of
 * the URL followed by every POST parameter, by name, as name then value;
 * a URL with "bodySHA256=" signs the URL alone and carries the SHA-256
 * (hex) of the body.  The URL is tried as it is, and with its port
 * removed or the default port added, as Twilio's SDK does
 * (src/ngx_http_b24trigger_url_parse.c).
 */

ngx_int_t
ngx_http_b24trigger_twilio_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd)
{
    u_char                       *p;
    size_t                        len;
    ssize_t                       n;
    ngx_int_t                     rc;
    ngx_str_t                     url, hash;
    ngx_str_t                     msg[NGX_HTTP_B24TRIGGER_TWILIO_URLS];
    ngx_str_t                     urls[NGX_HTTP_B24TRIGGER_TWILIO_URLS];
    ngx_uint_t                    i, j, nurls, match;
    ngx_array_t                  *root;
    const EVP_MD                 *md;
    ngx_table_elt_t              *h, *sh;
    ngx_http_b24trigger_root_t  **sorted;
    u_char                        expect[NGX_HTTP_B24TRIGGER_SIG_MAX];
    u_char                        digest[SHA256_DIGEST_LENGTH];
    u_char                        hex[2 * SHA256_DIGEST_LENGTH];

    static ngx_str_t  name = ngx_string("X-Twilio-Signature");
    static ngx_str_t  body_sha256 = ngx_string("bodySHA256");
    static ngx_str_t  settings = ngx_string(
                                     "X-Twilio-Webhooks-Signature-Settings");

    sh = ngx_http_b24trigger_header(r, &name, 0);

    if (sh == NULL || sh->value.len == 0) {
        ngx_http_b24trigger_refuse(vd, "signature_missing",
                                   "no \"X-Twilio-Signature\" header");
        return NGX_DECLINED;
    }

    md = v->md;
    h = ngx_http_b24trigger_header(r, &settings, 0);

    if (h && ngx_strlcasestrn(h->value.data, h->value.data + h->value.len,
                              (u_char *) "algorithm=HMAC_SHA256",
                              sizeof("algorithm=HMAC_SHA256") - 2)
             != NULL)
    {
        md = EVP_sha256();
    }

    n = ngx_http_b24trigger_sig_decode(NGX_HTTP_B24TRIGGER_BASE64, expect,
                                       sh->value.data, sh->value.len);

    if (n != EVP_MD_size(md)) {
        ngx_http_b24trigger_refuse(vd, "signature_invalid",
                                   "malformed \"X-Twilio-Signature\" header");
        return NGX_DECLINED;
    }

    if (ngx_http_complex_value(r, v->url, &url) != NGX_OK) {
        return NGX_ERROR;
    }

    /* as signed, and without its port or with the default one */

    urls[0] = url;
    nurls = 1;

    rc = ngx_http_b24trigger_url_port_variant(r->pool, &url, &urls[1]);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_OK) {
        nurls = 2;
    }

    root = NULL;
    sorted = NULL;
    ngx_str_null(&hash);

    rc = ngx_http_b24trigger_url_arg(&url, &body_sha256, &hash);

    if (rc == NGX_DECLINED) {

        /* the POST parameters: a form, never the JSON a sniff would see */

        if (ngx_http_b24trigger_json_like(body)) {
            ngx_http_b24trigger_refuse(vd, "signature_invalid",
                                       "a JSON body without \"bodySHA256\" "
                                       "in the URL");
            return NGX_DECLINED;
        }

        rc = ngx_http_b24trigger_params_root(r, vd, &root);
        if (rc != NGX_OK) {
            return rc;
        }

        sorted = ngx_http_b24trigger_params_sorted(r, root);
        if (sorted == NULL) {
            return NGX_ERROR;
        }
    }

    for (i = 0; i < nurls; i++) {
        len = urls[i].len;

        for (j = 0; root && j < root->nelts; j++) {
            len += sorted[j]->name.len + sorted[j]->value.len;
        }

        p = ngx_pnalloc(r->pool, len ? len : 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        msg[i].data = p;
        p = ngx_cpymem(p, urls[i].data, urls[i].len);

        for (j = 0; root && j < root->nelts; j++) {
            p = ngx_cpymem(p, sorted[j]->name.data, sorted[j]->name.len);
            p = ngx_cpymem(p, sorted[j]->value.data, sorted[j]->value.len);
        }

        msg[i].len = p - msg[i].data;
    }

    if (ngx_http_b24trigger_params_match(r, md, keys, msg, nurls, expect, n,
                                         &match)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (!match) {
        ngx_http_b24trigger_refuse(vd, "signature_invalid",
                                   "\"X-Twilio-Signature\" does not match");
        return NGX_DECLINED;
    }

    if (root == NULL) {

        /* the URL is signed; the body must be the one it names */

        SHA256(body->data, body->len, digest);
        ngx_hex_dump(hex, digest, SHA256_DIGEST_LENGTH);

        if (hash.len != sizeof(hex)
            || CRYPTO_memcmp(hash.data, hex, sizeof(hex)) != 0)
        {
            ngx_http_b24trigger_refuse(vd, "signature_invalid",
                                       "the body does not match "
                                       "\"bodySHA256\"");
            return NGX_DECLINED;
        }
    }

    return ngx_http_b24trigger_params_verdict(r, vd, expect, n);
}


/* what the body sniff reads as JSON: "{" or "[" first, after blanks */

static ngx_uint_t
ngx_http_b24trigger_json_like(ngx_str_t *body)
{
    u_char  *p, *last;

    p = body->data;
    last = p + body->len;

    if (body->len >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
        p += 3;
    }

    while (p < last && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
    {
        p++;
    }

    return p < last && (*p == '{' || *p == '[');
}


/*
 * Sber acquiring, "callback notifications with a checksum": HMAC-SHA256,
 * upper-case hex, of every parameter but "checksum" and "sign_alias",
 * sorted by name, each as "name;value;".  The parameters of a form body,
 * or, for a body-less GET, of the query string.
 */

ngx_int_t
ngx_http_b24trigger_sber_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd)
{
    u_char                       *p;
    size_t                        len;
    ssize_t                       n;
    ngx_int_t                     rc;
    ngx_str_t                     msg;
    ngx_uint_t                    i, match;
    ngx_array_t                  *root;
    ngx_http_b24trigger_root_t   *sig, **sorted;
    u_char                        expect[NGX_HTTP_B24TRIGGER_SIG_MAX];

    rc = ngx_http_b24trigger_params_root(r, vd, &root);
    if (rc != NGX_OK) {
        return rc;
    }

    sig = ngx_http_b24trigger_root_get(root, (u_char *) "checksum", 8);

    if (sig == NULL || sig->value.len == 0) {
        ngx_http_b24trigger_refuse(vd, "signature_missing",
                                   "no \"checksum\" field");
        return NGX_DECLINED;
    }

    n = ngx_http_b24trigger_sig_decode(NGX_HTTP_B24TRIGGER_HEX, expect,
                                       sig->value.data, sig->value.len);

    if (n != EVP_MD_size(v->md)) {
        ngx_http_b24trigger_refuse(vd, "signature_invalid",
                                   "malformed \"checksum\" field");
        return NGX_DECLINED;
    }

    sorted = ngx_http_b24trigger_params_sorted(r, root);
    if (sorted == NULL) {
        return NGX_ERROR;
    }

    len = 0;

    for (i = 0; i < root->nelts; i++) {

        /*
         * ";" is the string's own separator: a name holding one could fold
         * the real fields into itself, under the same checksum, while a
         * stranger's value takes their place
         */

        if (ngx_strlchr(sorted[i]->name.data,
                        sorted[i]->name.data + sorted[i]->name.len, ';'))
        {
            ngx_http_b24trigger_refuse(vd, "signature_invalid",
                                       "a parameter name holds \";\"");
            return NGX_DECLINED;
        }

        len += sorted[i]->name.len + sorted[i]->value.len + 2;
    }

    msg.data = ngx_pnalloc(r->pool, len ? len : 1);
    if (msg.data == NULL) {
        return NGX_ERROR;
    }

    p = msg.data;

    for (i = 0; i < root->nelts; i++) {

        if (sorted[i] == sig
            || (sorted[i]->name.len == 10
                && ngx_strncmp(sorted[i]->name.data, "sign_alias", 10) == 0))
        {
            continue;
        }

        p = ngx_cpymem(p, sorted[i]->name.data, sorted[i]->name.len);
        *p++ = ';';
        p = ngx_cpymem(p, sorted[i]->value.data, sorted[i]->value.len);
        *p++ = ';';
    }

    msg.len = p - msg.data;

    if (ngx_http_b24trigger_params_match(r, v->md, keys, &msg, 1, expect, n,
                                         &match)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (!match) {
        ngx_http_b24trigger_refuse(vd, "signature_invalid",
                                   "\"checksum\" does not match");
        return NGX_DECLINED;
    }

    return ngx_http_b24trigger_params_verdict(r, vd, expect, n);
}


/*
 * Prodamus: header "Sign", HMAC-SHA256 in hex (either case) of the form
 * as Prodamus' PHP class signs $_POST: every value a string, keys sorted
 * at every level, json_encode() with JSON_UNESCAPED_UNICODE
 */

ngx_int_t
ngx_http_b24trigger_prodamus_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd)
{
    ssize_t           n;
    ngx_int_t         rc;
    ngx_str_t         json;
    ngx_uint_t        match;
    const char       *error;
    ngx_array_t      *root;
    ngx_table_elt_t  *h;
    u_char            expect[NGX_HTTP_B24TRIGGER_SIG_MAX];

    static ngx_str_t  name = ngx_string("Sign");

    h = ngx_http_b24trigger_header(r, &name, 0);

    if (h == NULL || h->value.len == 0) {
        ngx_http_b24trigger_refuse(vd, "signature_missing",
                                   "no \"Sign\" header");
        return NGX_DECLINED;
    }

    n = ngx_http_b24trigger_sig_decode(NGX_HTTP_B24TRIGGER_HEX, expect,
                                       h->value.data, h->value.len);

    if (n != EVP_MD_size(v->md)) {
        ngx_http_b24trigger_refuse(vd, "signature_invalid",
                                   "malformed \"Sign\" header");
        return NGX_DECLINED;
    }

    rc = ngx_http_b24trigger_params_root(r, vd, &root);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_b24trigger_phpform_json(r->pool, root, &json, &error);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_b24trigger_refusal(r, vd, "signature_invalid",
                                           "the form is not one Prodamus "
                                           "signs: %s", error);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "b24trigger prodamus: %uz bytes of JSON signed", json.len);

    if (ngx_http_b24trigger_params_match(r, v->md, keys, &json, 1, expect, n,
                                         &match)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (!match) {
        ngx_http_b24trigger_refuse(vd, "signature_invalid",
                                   "\"Sign\" does not match");
        return NGX_DECLINED;
    }

    return ngx_http_b24trigger_params_verdict(r, vd, expect, n);
}


/*
 * Mailgun: the JSON body's "signature" object: "signature", the hex
 * HMAC-SHA256 of "timestamp" followed by "token"; the timestamp within
 * tolerance.  The rest of the body ("event-data") is not signed.
 */

ngx_int_t
ngx_http_b24trigger_mailgun_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd)
{
    u_char      *p;
    time_t       ts;
    ssize_t      n;
    ngx_int_t    rc;
    ngx_str_t    value[3], msg;
    ngx_uint_t   i, match;
    u_char       expect[NGX_HTTP_B24TRIGGER_SIG_MAX];

    static ngx_str_t  paths[] = {
        ngx_string("signature.timestamp"),
        ngx_string("signature.token"),
        ngx_string("signature.signature")
    };

    for (i = 0; i < 3; i++) {
        rc = ngx_http_b24trigger_field_value(r, &paths[i], &value[i]);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc != NGX_OK || value[i].len == 0) {
            return ngx_http_b24trigger_refusal(r, vd, "signature_missing",
                                               "no \"%V\" field", &paths[i]);
        }
    }

    n = ngx_http_b24trigger_sig_decode(NGX_HTTP_B24TRIGGER_HEX, expect,
                                       value[2].data, value[2].len);

    if (n != EVP_MD_size(v->md)) {
        ngx_http_b24trigger_refuse(vd, "signature_invalid",
                                   "malformed \"signature.signature\" field");
        return NGX_DECLINED;
    }

    msg.len = value[0].len + value[1].len;
    msg.data = ngx_pnalloc(r->pool, msg.len);
    if (msg.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(msg.data, value[0].data, value[0].len);
    ngx_memcpy(p, value[1].data, value[1].len);

    if (ngx_http_b24trigger_params_match(r, v->md, keys, &msg, 1, expect, n,
                                         &match)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (!match) {
        ngx_http_b24trigger_refuse(vd, "signature_invalid",
                                   "\"signature.signature\" does not match");
        return NGX_DECLINED;
    }

    /* after the signature: only a genuine request is said to be late */

    ts = (value[0].len <= 12) ? ngx_atotm(value[0].data, value[0].len)
                              : NGX_ERROR;

    if (ts == (time_t) NGX_ERROR) {
        ngx_http_b24trigger_refuse(vd, "signature_invalid",
                                   "malformed timestamp");
        return NGX_DECLINED;
    }

    rc = ngx_http_b24trigger_check_time(r, ts, v->tolerance, vd);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_b24trigger_params_verdict(r, vd, expect, n);
}


/* Telegram: the secret header, "token header=" as it is */

char *
ngx_http_b24trigger_telegram_parse(ngx_conf_t *cf,
    ngx_http_b24trigger_verify_t *v, ngx_str_t *args, ngx_uint_t nargs)
{
    if (nargs > 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "scheme \"telegram\" takes no parameters");
        return NGX_CONF_ERROR;
    }

    v->token = NGX_HTTP_B24TRIGGER_TOKEN_HEADER;
    ngx_str_set(&v->name, "X-Telegram-Bot-Api-Secret-Token");

    return NGX_CONF_OK;
}


/*
 * Telegram: X-Telegram-Bot-Api-Secret-Token compared with the secrets as
 * "token header=" compares; then the update's "update_id", with the
 * location's name, is what the replay shield remembers
 */

ngx_int_t
ngx_http_b24trigger_telegram_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd)
{
    u_char                    *p;
    ngx_int_t                  rc;
    ngx_str_t                  id;
    ngx_uint_t                 i;
    ngx_http_core_loc_conf_t  *clcf;

    static ngx_str_t  path = ngx_string("update_id");

    rc = ngx_http_b24trigger_token_verify(r, v, keys, body, vd);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_b24trigger_field_value(r, &path, &id);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc != NGX_OK || id.len == 0 || id.len > NGX_INT64_LEN) {
        return NGX_OK;
    }

    for (i = 0; i < id.len; i++) {
        if (id.data[i] < '0' || id.data[i] > '9') {
            return NGX_OK;
        }
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    p = ngx_pnalloc(r->pool, sizeof("telegram update_id  in ") - 1 + id.len
                             + clcf->name.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    vd->signature.data = p;
    vd->signature.len = ngx_sprintf(p, "telegram update_id %V in %V", &id,
                                    &clcf->name)
                        - p;

    return NGX_OK;
}


/*
 * What these schemes vouch for (NGX_HTTP_B24TRIGGER_SIGNS_*), or
 * NGX_DECLINED for another scheme
 */

ngx_int_t
ngx_http_b24trigger_params_signs(ngx_http_b24trigger_verify_t *v)
{
    ngx_http_b24trigger_scheme_verify_pt  verify;

    verify = v->scheme->verify;

    if (verify == ngx_http_b24trigger_telegram_verify) {
        return NGX_HTTP_B24TRIGGER_SIGNS_REQUEST;
    }

    if (verify == ngx_http_b24trigger_mailgun_verify) {

        /* of the body, only the signature object: ..._signs_field() */

        return NGX_HTTP_B24TRIGGER_SIGNS_BODY
               |NGX_HTTP_B24TRIGGER_SIGNS_TIMESTAMP;
    }

    if (verify == ngx_http_b24trigger_twilio_verify
        || verify == ngx_http_b24trigger_sber_verify
        || verify == ngx_http_b24trigger_prodamus_verify)
    {
        return NGX_HTTP_B24TRIGGER_SIGNS_BODY;
    }

    return NGX_DECLINED;
}


/*
 * Does the scheme sign the body field whose path begins with root and has
 * depth segments?  1 or 0, or NGX_DECLINED for another scheme.  Twilio
 * and Prodamus: every field (the parameters, or the body through its
 * hash); Sber: every parameter but "sign_alias"; Mailgun: only
 * signature.timestamp, .token and .signature
 */

ngx_int_t
ngx_http_b24trigger_params_signs_field(ngx_http_b24trigger_verify_t *v,
    ngx_str_t *root, ngx_uint_t depth)
{
    ngx_http_b24trigger_scheme_verify_pt  verify;

    verify = v->scheme->verify;

    if (verify == ngx_http_b24trigger_telegram_verify
        || verify == ngx_http_b24trigger_twilio_verify
        || verify == ngx_http_b24trigger_prodamus_verify)
    {
        return 1;
    }

    if (verify == ngx_http_b24trigger_sber_verify) {
        return depth == 1
               && !(root->len == 10
                    && ngx_strncmp(root->data, "sign_alias", 10) == 0);
    }

    if (verify == ngx_http_b24trigger_mailgun_verify) {
        return depth == 2 && root->len == 9
               && ngx_strncmp(root->data, "signature", 9) == 0;
    }

    return NGX_DECLINED;
}


/*
 * The body's root fields, from the parse mapping reads too; a body that
 * cannot give them is answered by the handler as not valid (400, 413)
 */

static ngx_int_t
ngx_http_b24trigger_params_root(ngx_http_request_t *r,
    ngx_http_b24trigger_verdict_t *vd, ngx_array_t **root)
{
    ngx_int_t  rc;

    rc = ngx_http_b24trigger_fields_root(r, root);

    if (rc == NGX_DECLINED) {
        ngx_http_b24trigger_refuse(vd, "signature_missing",
                                   "the body has no fields to check");
    }

    return rc;
}


/* pointers to the root fields, sorted by name, byte by byte */

static ngx_http_b24trigger_root_t **
ngx_http_b24trigger_params_sorted(ngx_http_request_t *r, ngx_array_t *root)
{
    ngx_uint_t                    i;
    ngx_http_b24trigger_root_t   *f, **sorted;

    sorted = ngx_palloc(r->pool, (root->nelts ? root->nelts : 1)
                                 * sizeof(ngx_http_b24trigger_root_t *));
    if (sorted == NULL) {
        return NULL;
    }

    f = root->elts;

    for (i = 0; i < root->nelts; i++) {
        sorted[i] = &f[i];
    }

    /* not ngx_sort(): an insertion sort, quadratic */

    ngx_qsort(sorted, root->nelts, sizeof(ngx_http_b24trigger_root_t *),
              ngx_http_b24trigger_params_cmp);

    return sorted;
}


static int
ngx_http_b24trigger_params_cmp(const void *one, const void *two)
{
    int                          rc;
    ngx_http_b24trigger_root_t  *a, *b;

    a = *(ngx_http_b24trigger_root_t **) one;
    b = *(ngx_http_b24trigger_root_t **) two;

    rc = ngx_memcmp(a->name.data, b->name.data,
                    ngx_min(a->name.len, b->name.len));
    if (rc != 0) {
        return rc;
    }

    return (a->name.len > b->name.len) - (a->name.len < b->name.len);
}


/*
 * HMAC of each message with each key, compared in constant time with the
 * decoded signature; no early exit tells which matched
 */

static ngx_int_t
ngx_http_b24trigger_params_match(ngx_http_request_t *r, const EVP_MD *md,
    ngx_array_t *keys, ngx_str_t *msg, ngx_uint_t nmsg, u_char *expect,
    ssize_t n, ngx_uint_t *match)
{
    ngx_uint_t                  i, j;
    unsigned int                len;
    ngx_http_b24trigger_key_t  *key;
    u_char                      out[EVP_MAX_MD_SIZE];

    *match = 0;
    key = keys->elts;

    for (i = 0; i < keys->nelts; i++) {
        for (j = 0; j < nmsg; j++) {

            if (HMAC(md, key[i].value.data, (int) key[i].value.len,
                     msg[j].data, msg[j].len, out, &len)
                == NULL)
            {
                ngx_explicit_memzero(out, sizeof(out));
                ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                              "b24trigger: HMAC() failed");
                return NGX_ERROR;
            }

            if (n == (ssize_t) len) {
                *match |= (CRYPTO_memcmp(out, expect, len) == 0);
            }
        }
    }

    ngx_explicit_memzero(out, sizeof(out));

    return NGX_OK;
}


/* the signature that matched, what the replay shield remembers */

static ngx_int_t
ngx_http_b24trigger_params_verdict(ngx_http_request_t *r,
    ngx_http_b24trigger_verdict_t *vd, u_char *sig, size_t len)
{
    vd->signature.data = ngx_pnalloc(r->pool, len);
    if (vd->signature.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(vd->signature.data, sig, len);
    vd->signature.len = len;

    return NGX_OK;
}
