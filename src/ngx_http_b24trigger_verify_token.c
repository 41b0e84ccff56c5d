
/*
 * Copyright (C) b24trigger authors
 *
 * The "token" scheme: a shared secret the sender repeats as it is, in a
 * header, a query argument, a body field, a Bearer or a Basic
 * authorization, compared in constant time with every configured secret.
 * Knows HTTP requests and secrets, nothing about Bitrix24; no secret is
 * ever logged, at any level.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_b24trigger_verify_schemes.h"
#include "ngx_http_b24trigger_fields.h"


static ngx_uint_t ngx_http_b24trigger_token_match(ngx_array_t *keys,
    u_char *data, size_t len);


char *
ngx_http_b24trigger_token_parse(ngx_conf_t *cf,
    ngx_http_b24trigger_verify_t *v, ngx_str_t *args, ngx_uint_t nargs)
{
    ngx_str_t  *a;

    if (nargs != 2) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "scheme \"token\" needs exactly one of "
                           "\"header=NAME\", \"query=NAME\", "
                           "\"field=PATH\", \"bearer\" or \"basic\"");
        return NGX_CONF_ERROR;
    }

    a = &args[1];

    if (a->len > 7 && ngx_strncmp(a->data, "header=", 7) == 0) {
        v->token = NGX_HTTP_B24TRIGGER_TOKEN_HEADER;
        v->name.data = a->data + 7;
        v->name.len = a->len - 7;
        return NGX_CONF_OK;
    }

    if (a->len > 6 && ngx_strncmp(a->data, "query=", 6) == 0) {
        v->token = NGX_HTTP_B24TRIGGER_TOKEN_QUERY;
        v->name.data = a->data + 6;
        v->name.len = a->len - 6;
        return NGX_CONF_OK;
    }

    if (a->len > 6 && ngx_strncmp(a->data, "field=", 6) == 0) {
        v->token = NGX_HTTP_B24TRIGGER_TOKEN_FIELD;
        v->name.data = a->data + 6;
        v->name.len = a->len - 6;
        return NGX_CONF_OK;
    }

    if (a->len == 6 && ngx_strncmp(a->data, "bearer", 6) == 0) {
        v->token = NGX_HTTP_B24TRIGGER_TOKEN_BEARER;
        return NGX_CONF_OK;
    }

    if (a->len == 5 && ngx_strncmp(a->data, "basic", 5) == 0) {
        v->token = NGX_HTTP_B24TRIGGER_TOKEN_BASIC;
        return NGX_CONF_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" of scheme \"token\"", a);
    return NGX_CONF_ERROR;
}


ngx_int_t
ngx_http_b24trigger_token_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd)
{
    u_char           *p;
    ngx_int_t         rc;
    ngx_str_t         value, decoded;
    ngx_table_elt_t  *h;

    ngx_str_null(&value);

    switch (v->token) {

    case NGX_HTTP_B24TRIGGER_TOKEN_HEADER:
        h = ngx_http_b24trigger_header(r, &v->name, 0);
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

    case NGX_HTTP_B24TRIGGER_TOKEN_FIELD:
        rc = ngx_http_b24trigger_field_value(r, &v->name, &value);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc != NGX_OK) {
            ngx_str_null(&value);
        }
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
            ngx_http_b24trigger_refuse(vd, "token_invalid",
                                       "malformed basic credentials");
            return NGX_DECLINED;
        }

        /* the secret is "user:password" */

        value = decoded;
        break;
    }

    if (value.len == 0) {
        ngx_http_b24trigger_refuse(vd, "signature_missing",
                                   "no token in the request");
        return NGX_DECLINED;
    }

    if (!ngx_http_b24trigger_token_match(keys, value.data, value.len)) {
        ngx_http_b24trigger_refuse(vd, "token_invalid",
                                   "token does not match");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_b24trigger_token_match(ngx_array_t *keys, u_char *data, size_t len)
{
    ngx_uint_t                  i, match;
    ngx_http_b24trigger_key_t  *key;

    key = keys->elts;
    match = 0;

    /* every key is tried, so the time taken does not tell which matched */

    for (i = 0; i < keys->nelts; i++) {
        match |= ngx_http_b24trigger_secure_equal(key[i].value.data,
                                                  key[i].value.len,
                                                  data, len);
    }

    return match;
}
