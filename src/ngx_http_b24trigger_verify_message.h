
/*
 * Copyright (C) b24trigger authors
 *
 * The messages of the HMAC presets that sign more than a timestamp and
 * the body (src/ngx_http_b24trigger_verify_message.c): the public URL of
 * Square and HubSpot v3, HubSpot's method and millisecond timestamp, and
 * the answer to Zoom's endpoint.url_validation.  Pure functions of their
 * arguments and a pool, for the HMAC code and the fuzzers.
 */


#ifndef _NGX_HTTP_B24TRIGGER_VERIFY_MESSAGE_H_INCLUDED_
#define _NGX_HTTP_B24TRIGGER_VERIFY_MESSAGE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* the longest plainToken Zoom's answer echoes */
#define NGX_HTTP_B24TRIGGER_ZOOM_TOKEN_MAX  256

/* HubSpot's timestamp: milliseconds, at most this many digits */
#define NGX_HTTP_B24TRIGGER_MS_DIGITS       15


/*
 * "<method><url><body><ts>" in one buffer of the pool, each part as it
 * is, any of them empty (Square: the URL and the body).  NGX_OK or
 * NGX_ERROR.
 */
ngx_int_t ngx_http_b24trigger_message_url(ngx_pool_t *pool,
    ngx_str_t *method, ngx_str_t *url, ngx_str_t *body, ngx_str_t *ts,
    ngx_str_t *msg);

/*
 * A Unix time in milliseconds (X-HubSpot-Request-Timestamp): 1 to
 * NGX_HTTP_B24TRIGGER_MS_DIGITS digits, nothing else, no leading zero;
 * *t gets the whole seconds.  NGX_OK or NGX_DECLINED.
 */
ngx_int_t ngx_http_b24trigger_message_ms(u_char *p, size_t len, time_t *t);

/*
 * Zoom's answer to endpoint.url_validation:
 * {"plainToken":"<token>","encryptedToken":"<mac in lowercase hex>"},
 * JSON-escaped.  NGX_OK; NGX_DECLINED for a token that is not UTF-8, is
 * empty or longer than NGX_HTTP_B24TRIGGER_ZOOM_TOKEN_MAX; NGX_ERROR.
 */
ngx_int_t ngx_http_b24trigger_message_zoom(ngx_pool_t *pool,
    ngx_str_t *token, u_char *mac, size_t maclen, ngx_str_t *reply);


#endif /* _NGX_HTTP_B24TRIGGER_VERIFY_MESSAGE_H_INCLUDED_ */
