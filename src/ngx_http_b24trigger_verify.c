
/*
 * Copyright (C) b24trigger authors
 *
 * The "b24trigger_verify" schemes: parsing them at configuration time and
 * deciding per request whether a webhook really comes from its sender.
 * Knows HTTP requests and secrets; knows nothing about Bitrix24.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "ngx_http_b24trigger_verify.h"


typedef enum {
    NGX_HTTP_B24TRIGGER_VERIFY_NONE = 0,
    NGX_HTTP_B24TRIGGER_VERIFY_TOKEN
} ngx_http_b24trigger_scheme_e;


typedef enum {
    NGX_HTTP_B24TRIGGER_TOKEN_HEADER = 0,
    NGX_HTTP_B24TRIGGER_TOKEN_QUERY,
    NGX_HTTP_B24TRIGGER_TOKEN_BEARER,
    NGX_HTTP_B24TRIGGER_TOKEN_BASIC
} ngx_http_b24trigger_token_e;


struct ngx_http_b24trigger_verify_s {
    ngx_http_b24trigger_scheme_e   scheme;
    ngx_http_b24trigger_token_e    token;
    ngx_str_t                      name;      /* header or query argument */
    ngx_str_t                      lcname;
};


static ngx_int_t ngx_http_b24trigger_verify_token(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys,
    ngx_http_b24trigger_verdict_t *vd);
static ngx_table_elt_t *ngx_http_b24trigger_find_header(
    ngx_http_request_t *r, ngx_str_t *lcname);
static ngx_uint_t ngx_http_b24trigger_token_match(ngx_array_t *keys,
    u_char *data, size_t len);


ngx_int_t ngx_http_b24trigger_secure_equal(u_char *a, size_t alen,
    u_char *b, size_t blen);


char *
ngx_http_b24trigger_verify_parse(ngx_conf_t *cf, ngx_str_t *args,
    ngx_uint_t nargs, ngx_http_b24trigger_verify_t **vp)
{
    ngx_uint_t                     i;
    ngx_http_b24trigger_verify_t  *v;

    v = ngx_pcalloc(cf->pool, sizeof(ngx_http_b24trigger_verify_t));
    if (v == NULL) {
        return NGX_CONF_ERROR;
    }

    if (args[0].len == 4 && ngx_strncmp(args[0].data, "none", 4) == 0) {

        if (nargs > 1) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "scheme \"none\" takes no parameters");
            return NGX_CONF_ERROR;
        }

        v->scheme = NGX_HTTP_B24TRIGGER_VERIFY_NONE;
        *vp = v;
        return NGX_CONF_OK;
    }

    if (args[0].len == 5 && ngx_strncmp(args[0].data, "token", 5) == 0) {

        if (nargs != 2) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "scheme \"token\" needs exactly one of "
                               "\"header=NAME\", \"query=NAME\", "
                               "\"bearer\" or \"basic\"");
            return NGX_CONF_ERROR;
        }

        v->scheme = NGX_HTTP_B24TRIGGER_VERIFY_TOKEN;

        for (i = 1; i < nargs; i++) {

            if (ngx_strncmp(args[i].data, "header=", 7) == 0
                && args[i].len > 7)
            {
                v->token = NGX_HTTP_B24TRIGGER_TOKEN_HEADER;
                v->name.data = args[i].data + 7;
                v->name.len = args[i].len - 7;
                continue;
            }

            if (ngx_strncmp(args[i].data, "query=", 6) == 0
                && args[i].len > 6)
            {
                v->token = NGX_HTTP_B24TRIGGER_TOKEN_QUERY;
                v->name.data = args[i].data + 6;
                v->name.len = args[i].len - 6;
                continue;
            }

            if (args[i].len == 6
                && ngx_strncmp(args[i].data, "bearer", 6) == 0)
            {
                v->token = NGX_HTTP_B24TRIGGER_TOKEN_BEARER;
                continue;
            }

            if (args[i].len == 5
                && ngx_strncmp(args[i].data, "basic", 5) == 0)
            {
                v->token = NGX_HTTP_B24TRIGGER_TOKEN_BASIC;
                continue;
            }

            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" of scheme "
                               "\"token\"", &args[i]);
            return NGX_CONF_ERROR;
        }

        if (v->token == NGX_HTTP_B24TRIGGER_TOKEN_HEADER) {
            v->lcname.len = v->name.len;
            v->lcname.data = ngx_pnalloc(cf->pool, v->name.len);
            if (v->lcname.data == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_strlow(v->lcname.data, v->name.data, v->name.len);
        }

        *vp = v;
        return NGX_CONF_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "unknown verification scheme \"%V\"", &args[0]);
    return NGX_CONF_ERROR;
}


ngx_array_t *
ngx_http_b24trigger_verify_keys(ngx_conf_t *cf,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *secrets,
    ngx_str_t *location)
{
    ngx_array_t  *keys;

    if (v->scheme == NGX_HTTP_B24TRIGGER_VERIFY_NONE) {
        keys = ngx_array_create(cf->pool, 1, sizeof(ngx_str_t));
        return keys;
    }

    if (secrets == NULL || secrets->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"b24trigger_verify\" in location \"%V\" "
                           "needs \"b24trigger_secret\"", location);
        return NULL;
    }

    return secrets;
}


ngx_uint_t
ngx_http_b24trigger_verify_needs_body(ngx_http_b24trigger_verify_t *v)
{
    return 0;
}


ngx_int_t
ngx_http_b24trigger_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd)
{
    switch (v->scheme) {

    case NGX_HTTP_B24TRIGGER_VERIFY_NONE:
        return NGX_OK;

    case NGX_HTTP_B24TRIGGER_VERIFY_TOKEN:
        return ngx_http_b24trigger_verify_token(r, v, keys, vd);
    }

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_b24trigger_verify_token(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys,
    ngx_http_b24trigger_verdict_t *vd)
{
    u_char           *p;
    ngx_str_t         value, decoded;
    ngx_table_elt_t  *h;

    ngx_str_null(&value);

    switch (v->token) {

    case NGX_HTTP_B24TRIGGER_TOKEN_HEADER:
        h = ngx_http_b24trigger_find_header(r, &v->lcname);
        if (h != NULL) {
            value = h->value;
        }
        break;

    case NGX_HTTP_B24TRIGGER_TOKEN_QUERY:
        if (ngx_http_arg(r, v->name.data, v->name.len, &value) != NGX_OK) {
            ngx_str_null(&value);
            break;
        }

        p = ngx_pnalloc(r->pool, value.len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        decoded.data = p;
        ngx_unescape_uri(&p, &value.data, value.len, NGX_UNESCAPE_URI);
        decoded.len = p - decoded.data;
        value = decoded;
        break;

    case NGX_HTTP_B24TRIGGER_TOKEN_BEARER:
    case NGX_HTTP_B24TRIGGER_TOKEN_BASIC:
        h = r->headers_in.authorization;
        if (h == NULL) {
            break;
        }

        value = h->value;

        if (v->token == NGX_HTTP_B24TRIGGER_TOKEN_BEARER) {
            if (value.len < 7
                || ngx_strncasecmp(value.data, (u_char *) "Bearer ", 7) != 0)
            {
                ngx_str_null(&value);
                break;
            }

            value.data += 7;
            value.len -= 7;
            break;
        }

        if (value.len < 6
            || ngx_strncasecmp(value.data, (u_char *) "Basic ", 6) != 0)
        {
            ngx_str_null(&value);
            break;
        }

        value.data += 6;
        value.len -= 6;

        decoded.len = ngx_base64_decoded_length(value.len);
        decoded.data = ngx_pnalloc(r->pool, decoded.len + 1);
        if (decoded.data == NULL) {
            return NGX_ERROR;
        }

        if (ngx_decode_base64(&decoded, &value) != NGX_OK) {
            ngx_str_set(&vd->error, "token_invalid");
            ngx_str_set(&vd->reason, "malformed basic credentials");
            return NGX_DECLINED;
        }

        value = decoded;
        break;
    }

    if (value.len == 0) {
        ngx_str_set(&vd->error, "signature_missing");
        ngx_str_set(&vd->reason, "no token in the request");
        return NGX_DECLINED;
    }

    if (!ngx_http_b24trigger_token_match(keys, value.data, value.len)) {
        ngx_str_set(&vd->error, "token_invalid");
        ngx_str_set(&vd->reason, "token does not match");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static ngx_table_elt_t *
ngx_http_b24trigger_find_header(ngx_http_request_t *r, ngx_str_t *lcname)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == lcname->len
            && ngx_strncasecmp(h[i].key.data, lcname->data, lcname->len) == 0)
        {
            return &h[i];
        }
    }
}


static ngx_uint_t
ngx_http_b24trigger_token_match(ngx_array_t *keys, u_char *data, size_t len)
{
    ngx_uint_t   i, match;
    ngx_str_t   *key;

    key = keys->elts;
    match = 0;

    /* every key is tried, so the time taken does not tell which matched */

    for (i = 0; i < keys->nelts; i++) {
        match |= ngx_http_b24trigger_secure_equal(key[i].data, key[i].len,
                                                  data, len);
    }

    return match;
}


/*
 * Constant-time equality of two strings of any length: both are hashed
 * first, so neither the position of the first difference nor the length
 * of the secret shows in the time taken.
 */

ngx_int_t
ngx_http_b24trigger_secure_equal(u_char *a, size_t alen, u_char *b,
    size_t blen)
{
    u_char  ha[SHA256_DIGEST_LENGTH], hb[SHA256_DIGEST_LENGTH];

    if (EVP_Digest(a, alen, ha, NULL, EVP_sha256(), NULL) != 1
        || EVP_Digest(b, blen, hb, NULL, EVP_sha256(), NULL) != 1)
    {
        return 0;
    }

    return CRYPTO_memcmp(ha, hb, SHA256_DIGEST_LENGTH) == 0;
}
