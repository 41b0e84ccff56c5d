
/*
 * Copyright (C) b24trigger authors
 *
 * URLs as Twilio's SDK reads the one it signs
 * (src/ngx_http_b24trigger_url_parse.c): the same URL with its port
 * removed or the default one added, and a query argument's value as
 * written.  Pure functions of bytes and a pool, so that
 * fuzz/url_fuzz.c links them alone.
 */


#ifndef _NGX_HTTP_B24TRIGGER_URL_PARSE_H_INCLUDED_
#define _NGX_HTTP_B24TRIGGER_URL_PARSE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * For "scheme://[userinfo@]host[:port]...": *alt is the URL without its
 * port when it has one, else with ":443" (https) or ":80" (any other
 * scheme) after the host; the host ends where the authority does
 * ("/", "?", "#"), a port starts at the first ":" after an IPv6
 * literal's "]".  NGX_OK, NGX_DECLINED (no "scheme://": no other form),
 * or NGX_ERROR (no memory).
 */
ngx_int_t ngx_http_b24trigger_url_port_variant(ngx_pool_t *pool,
    ngx_str_t *url, ngx_str_t *alt);

/*
 * The value of the first argument called name in the URL's query string
 * (after the first "?", before a "#"), as written, not decoded: NGX_OK,
 * or NGX_DECLINED if there is none
 */
ngx_int_t ngx_http_b24trigger_url_arg(ngx_str_t *url, ngx_str_t *name,
    ngx_str_t *value);


#endif /* _NGX_HTTP_B24TRIGGER_URL_PARSE_H_INCLUDED_ */
