
/*
 * Copyright (C) b24trigger authors
 *
 * What the OAuth client (ngx_http_b24trigger_oauth.c) offers its install
 * handler (ngx_http_b24trigger_oauth_install.c): a try of the posted access
 * token at the portal, a refresh_token grant at the portal's token
 * server, and the verdicts on their answers.
 */


#ifndef _NGX_HTTP_B24TRIGGER_OAUTH_H_INCLUDED_
#define _NGX_HTTP_B24TRIGGER_OAUTH_H_INCLUDED_


#include "ngx_http_b24trigger.h"
#include "ngx_http_b24trigger_portal_curl.h"


ngx_http_b24trigger_transfer_t *ngx_http_b24trigger_oauth_grant(
    ngx_pool_t *pool, ngx_log_t *log, ngx_http_b24trigger_portal_t *portal,
    u_char *refresh, size_t len);
ngx_http_b24trigger_transfer_t *ngx_http_b24trigger_oauth_probe(
    ngx_pool_t *pool, ngx_log_t *log, ngx_http_b24trigger_portal_t *portal,
    ngx_str_t *token);
ngx_int_t ngx_http_b24trigger_oauth_probe_done(
    ngx_http_b24trigger_transfer_t *t);
const char *ngx_http_b24trigger_oauth_install_done(
    ngx_http_b24trigger_transfer_t *t, ngx_http_b24trigger_portal_t *portal,
    ngx_log_t *log);
const char *ngx_http_b24trigger_oauth_install_check(
    ngx_http_b24trigger_portal_t *portal, ngx_str_t *domain,
    ngx_str_t *member);


#endif /* _NGX_HTTP_B24TRIGGER_OAUTH_H_INCLUDED_ */
