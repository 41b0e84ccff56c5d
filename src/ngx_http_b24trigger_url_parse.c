
/*
 * Copyright (C) b24trigger authors
 *
 * The URL Twilio signs, read as Twilio's SDK reads it: its port removed,
 * or the scheme's default one added, for the second form the SDK tries
 * (its splitUrl(), addPort(), removePort()); and "bodySHA256" found in
 * its query string.  Nothing is normalised: the bytes Twilio signed stay
 * as they are.  Pure: bytes and a pool, nothing of a request.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_b24trigger_url_parse.h"


ngx_int_t
ngx_http_b24trigger_url_port_variant(ngx_pool_t *pool, ngx_str_t *url,
    ngx_str_t *alt)
{
    u_char      *p, *last, *auth, *host, *end, *colon, *q, c;
    ngx_uint_t   https;

    p = url->data;
    last = p + url->len;

    /* [a-z][a-z0-9+.-]*:// */

    if (p == last || !((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z')) {
        return NGX_DECLINED;
    }

    for (p++; p < last; p++) {
        c = *p | 0x20;

        if (!((c >= 'a' && c <= 'z') || (*p >= '0' && *p <= '9')
              || *p == '+' || *p == '.' || *p == '-'))
        {
            break;
        }
    }

    if (last - p < 3 || p[0] != ':' || p[1] != '/' || p[2] != '/') {
        return NGX_DECLINED;
    }

    auth = p + 3;

    https = (p - url->data == 5
             && (url->data[0] | 0x20) == 'h' && (url->data[1] | 0x20) == 't'
             && (url->data[2] | 0x20) == 't' && (url->data[3] | 0x20) == 'p'
             && (url->data[4] | 0x20) == 's');

    for (end = auth; end < last; end++) {
        if (*end == '/' || *end == '?' || *end == '#') {
            break;
        }
    }

    /* after the userinfo; then after an IPv6 literal's "]" */

    host = auth;

    for (q = auth; q < end; q++) {
        if (*q == '@') {
            host = q + 1;
        }
    }

    for (q = end; q > host; q--) {
        if (q[-1] == ']') {
            break;
        }
    }

    colon = NULL;

    for ( /* void */ ; q < end; q++) {
        if (*q == ':') {
            colon = q;
            break;
        }
    }

    if (colon) {
        alt->len = url->len - (end - colon);
        alt->data = ngx_pnalloc(pool, alt->len ? alt->len : 1);
        if (alt->data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(alt->data, url->data, colon - url->data);
        ngx_memcpy(p, end, last - end);

        return NGX_OK;
    }

    alt->len = url->len + (https ? 4 : 3);
    alt->data = ngx_pnalloc(pool, alt->len);
    if (alt->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(alt->data, url->data, end - url->data);
    p = ngx_cpymem(p, https ? ":443" : ":80", https ? 4 : 3);
    ngx_memcpy(p, end, last - end);

    return NGX_OK;
}


ngx_int_t
ngx_http_b24trigger_url_arg(ngx_str_t *url, ngx_str_t *name,
    ngx_str_t *value)
{
    u_char  *p, *last, *amp, *end;

    p = ngx_strlchr(url->data, url->data + url->len, '?');
    if (p == NULL) {
        return NGX_DECLINED;
    }

    end = ngx_strlchr(p, url->data + url->len, '#');
    last = end ? end : url->data + url->len;
    p++;

    while (p < last) {
        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        if ((size_t) (amp - p) > name->len && p[name->len] == '='
            && ngx_memcmp(p, name->data, name->len) == 0)
        {
            value->data = p + name->len + 1;
            value->len = amp - value->data;
            return NGX_OK;
        }

        p = amp + 1;
    }

    return NGX_DECLINED;
}
