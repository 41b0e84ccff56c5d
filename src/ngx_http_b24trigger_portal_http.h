
/*
 * Copyright (C) b24trigger authors
 *
 * The portal call over nginx's own connections
 * (ngx_http_b24trigger_portal_http.c).
 */


#ifndef _NGX_HTTP_B24TRIGGER_PORTAL_HTTP_H_INCLUDED_
#define _NGX_HTTP_B24TRIGGER_PORTAL_HTTP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_b24trigger.h"
#include "ngx_http_b24trigger_portal_curl.h"


/* a portal's address, resolved when the configuration is loaded */

typedef struct {
    ngx_addr_t         *addrs;
    ngx_uint_t          naddrs;
    ngx_uint_t          next;       /* the address that worked last */
    size_t              prefix;     /* of URLs: "https://HOST[:PORT]" */
    ngx_str_t           host;       /* "Host:", as in the URL */
    ngx_str_t           name;       /* for SNI and the certificate,
                                       NUL-ended */
#if (NGX_SSL)
    ngx_ssl_t          *ssl;        /* NULL: plain http */
    ngx_ssl_session_t  *session;    /* the last one, per worker */
#endif
    ngx_queue_t         idle;       /* kept-alive connections, per worker */
    ngx_uint_t          nidle;
    unsigned            https:1;
    unsigned            literal:1;  /* the host is an IP address */
    unsigned            moved:1;    /* warned: it has another now */
} ngx_http_b24trigger_peer_t;


ngx_int_t ngx_http_b24trigger_http_peer(ngx_conf_t *cf,
    ngx_http_b24trigger_portal_t *portal);
ngx_int_t ngx_http_b24trigger_http_init_conf(ngx_conf_t *cf,
    ngx_http_b24trigger_main_conf_t *bmcf);
void ngx_http_b24trigger_http_exit(ngx_cycle_t *cycle,
    ngx_http_b24trigger_main_conf_t *bmcf);

/*
 * POST body to url (which starts with the peer's prefix); done() is
 * called later, never from inside start()
 */
ngx_http_b24trigger_transfer_t *ngx_http_b24trigger_http_start(
    ngx_pool_t *pool, ngx_log_t *log, ngx_http_b24trigger_peer_t *peer,
    u_char *url, u_char *body, size_t len, ngx_msec_t timeout,
    ngx_msec_t connect_timeout);
void ngx_http_b24trigger_http_cancel(ngx_http_b24trigger_transfer_t *t);


#endif /* _NGX_HTTP_B24TRIGGER_PORTAL_HTTP_H_INCLUDED_ */
