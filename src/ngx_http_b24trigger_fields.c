
/*
 * Copyright (C) b24trigger authors
 *
 * Fields of the request body: JSON dot paths and form fields.  Knows the
 * body bytes and nothing about portals or signatures.
 */


#include "ngx_http_b24trigger.h"
#include "ngx_http_b24trigger_fields.h"


static void ngx_http_b24trigger_form_decode(u_char *dst, size_t *dlen,
    u_char *src, size_t len);


ngx_int_t
ngx_http_b24trigger_field_value(ngx_http_request_t *r, ngx_str_t *path,
    ngx_str_t *value)
{
    /* body fields arrive with issue #4 */

    return NGX_DECLINED;
}


ngx_int_t
ngx_http_b24trigger_form_parse(ngx_pool_t *pool, u_char *data, size_t len,
    ngx_array_t *pairs)
{
    u_char        *p, *last, *amp, *eq;
    ngx_keyval_t  *kv;

    p = data;
    last = data + len;

    while (p < last) {

        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        if (amp == p) {
            p++;
            continue;
        }

        eq = ngx_strlchr(p, amp, '=');

        kv = ngx_array_push(pairs);
        if (kv == NULL) {
            return NGX_ERROR;
        }

        kv->key.data = ngx_pnalloc(pool, (eq ? eq : amp) - p + 1);
        kv->value.data = ngx_pnalloc(pool, eq ? amp - eq : 1);

        if (kv->key.data == NULL || kv->value.data == NULL) {
            return NGX_ERROR;
        }

        ngx_http_b24trigger_form_decode(kv->key.data, &kv->key.len, p,
                                        (eq ? eq : amp) - p);

        if (eq) {
            ngx_http_b24trigger_form_decode(kv->value.data, &kv->value.len,
                                            eq + 1, amp - eq - 1);
        } else {
            kv->value.len = 0;
        }

        p = amp + 1;
    }

    return NGX_OK;
}


/* "+" is a space, %XX a byte; a malformed escape is kept as it is */

static void
ngx_http_b24trigger_form_decode(u_char *dst, size_t *dlen, u_char *src,
    size_t len)
{
    u_char   *d, c, h, l;
    size_t    i;

    d = dst;

    for (i = 0; i < len; i++) {
        c = src[i];

        if (c == '+') {
            *d++ = ' ';
            continue;
        }

        if (c == '%' && i + 2 < len) {
            h = src[i + 1];
            l = src[i + 2];

            h = (h >= '0' && h <= '9') ? h - '0'
                : ((h | 0x20) >= 'a' && (h | 0x20) <= 'f')
                  ? (h | 0x20) - 'a' + 10 : 0xff;
            l = (l >= '0' && l <= '9') ? l - '0'
                : ((l | 0x20) >= 'a' && (l | 0x20) <= 'f')
                  ? (l | 0x20) - 'a' + 10 : 0xff;

            if (h != 0xff && l != 0xff) {
                *d++ = (u_char) ((h << 4) | l);
                i += 2;
                continue;
            }
        }

        *d++ = c;
    }

    *dlen = d - dst;
}
