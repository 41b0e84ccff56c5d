
/*
 * Copyright (C) b24trigger authors
 *
 * The messages of the HMAC presets that sign more than a timestamp and
 * the body: Square's "<notification URL><body>", HubSpot v3's
 * "<method><URL><body><timestamp>" and its timestamp in milliseconds,
 * and the JSON answer to Zoom's endpoint.url_validation.  Pure functions
 * of their arguments and a pool: what the request holds is read by the
 * HMAC code (ngx_http_b24trigger_verify_hmac.c) and the handshake
 * (ngx_http_b24trigger_verify_event.c); fuzz/hubspot_fuzz.c,
 * square_fuzz.c and zoom_fuzz.c run these alone.  Knows nothing about
 * HTTP requests, secrets or Bitrix24.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <jansson.h>

#include "ngx_http_b24trigger_verify_message.h"


ngx_int_t
ngx_http_b24trigger_message_url(ngx_pool_t *pool, ngx_str_t *method,
    ngx_str_t *url, ngx_str_t *body, ngx_str_t *ts, ngx_str_t *msg)
{
    u_char      *p;
    size_t       len;
    ngx_str_t   *part[4];
    ngx_uint_t   i;

    part[0] = method;
    part[1] = url;
    part[2] = body;
    part[3] = ts;

    len = method->len + url->len + body->len + ts->len;

    p = ngx_pnalloc(pool, len ? len : 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    msg->data = p;

    /* an empty part may be ngx_null_string: memcpy() takes no NULL */

    for (i = 0; i < 4; i++) {
        if (part[i]->len) {
            p = ngx_cpymem(p, part[i]->data, part[i]->len);
        }
    }

    msg->len = p - msg->data;

    return NGX_OK;
}


/*
 * No leading zero and no blanks: the timestamp follows the body in what
 * HubSpot signs, so its first byte must not be one a body could have
 * given up
 */

ngx_int_t
ngx_http_b24trigger_message_ms(u_char *p, size_t len, time_t *t)
{
    size_t    i;
    int64_t   ms;

    if (len == 0 || len > NGX_HTTP_B24TRIGGER_MS_DIGITS || p[0] == '0') {
        return NGX_DECLINED;
    }

    ms = 0;

    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return NGX_DECLINED;
        }

        ms = ms * 10 + (p[i] - '0');
    }

    *t = (time_t) (ms / 1000);

    return NGX_OK;
}


ngx_int_t
ngx_http_b24trigger_message_zoom(ngx_pool_t *pool, ngx_str_t *token,
    u_char *mac, size_t maclen, ngx_str_t *reply)
{
    char       *out;
    size_t      i;
    json_t     *root, *plain, *encrypted;
    ngx_int_t   rc;
    u_char      hex[2 * 64 + 1];

    static u_char  digits[] = "0123456789abcdef";

    if (token->len == 0 || token->len > NGX_HTTP_B24TRIGGER_ZOOM_TOKEN_MAX
        || maclen > 64)
    {
        return NGX_DECLINED;
    }

    plain = json_stringn((const char *) token->data, token->len);
    if (plain == NULL) {

        /* not UTF-8 (or out of memory: jansson does not say which) */

        return NGX_DECLINED;
    }

    for (i = 0; i < maclen; i++) {
        hex[2 * i] = digits[mac[i] >> 4];
        hex[2 * i + 1] = digits[mac[i] & 0x0f];
    }

    encrypted = json_stringn((const char *) hex, 2 * maclen);
    root = json_object();

    if (encrypted == NULL || root == NULL) {
        json_decref(plain);
        json_decref(encrypted);
        json_decref(root);
        return NGX_ERROR;
    }

    /* json_object_set_new() takes the value, whether it fails or not */

    if (json_object_set_new(root, "plainToken", plain) != 0) {
        json_decref(encrypted);
        json_decref(root);
        return NGX_ERROR;
    }

    if (json_object_set_new(root, "encryptedToken", encrypted) != 0) {
        json_decref(root);
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    out = json_dumps(root, JSON_COMPACT|JSON_PRESERVE_ORDER);

    if (out) {
        reply->len = ngx_strlen(out);
        reply->data = ngx_pnalloc(pool, reply->len);

        if (reply->data) {
            ngx_memcpy(reply->data, out, reply->len);
            rc = NGX_OK;
        }

        free(out);
    }

    json_decref(root);

    return rc;
}
