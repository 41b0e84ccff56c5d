
/*
 * Copyright (C) b24trigger authors
 *
 * libcurl's multi-socket interface driven by nginx's event loop: one multi
 * handle per worker, curl's sockets as nginx connections, curl's timer as
 * an nginx timer.  Knows nothing about HTTP requests nor about Bitrix24.
 */


#ifndef _NGX_HTTP_B24TRIGGER_PORTAL_CURL_H_INCLUDED_
#define _NGX_HTTP_B24TRIGGER_PORTAL_CURL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include <curl/curl.h>


#define NGX_HTTP_B24TRIGGER_RESPONSE_MAX  65536


typedef struct ngx_http_b24trigger_transfer_s  ngx_http_b24trigger_transfer_t;

typedef void (*ngx_http_b24trigger_transfer_done_pt)(
    ngx_http_b24trigger_transfer_t *t);


struct ngx_http_b24trigger_transfer_s {
    CURL                                  *easy;
    void                                  *native;     /* portal_http.c's */
    struct curl_slist                     *headers;
    ngx_queue_t                            queue;
    ngx_pool_t                            *pool;
    ngx_log_t                             *log;

    ngx_http_b24trigger_transfer_done_pt   done;
    void                                  *data;

    /* the answer, filled in before done() is called */
    CURLcode                               result;
    ngx_uint_t                             status;
    ngx_str_t                              response;
    size_t                                 response_size;
    ngx_str_t                              redirect;    /* Location, absolute */
    ngx_msec_t                             time;

    unsigned                               too_large:1;
    unsigned                               unsent:1;  /* nothing left */

    char                                   errbuf[CURL_ERROR_SIZE];
};


ngx_int_t ngx_http_b24trigger_curl_init(ngx_cycle_t *cycle,
    ngx_str_t *cafile);
void ngx_http_b24trigger_curl_exit(ngx_cycle_t *cycle);

/*
 * an easy handle with the options every call shares, perhaps of an
 * earlier call; the caller sets all of its own options every time
 */
ngx_http_b24trigger_transfer_t *ngx_http_b24trigger_transfer_create(
    ngx_pool_t *pool, ngx_log_t *log);
ngx_int_t ngx_http_b24trigger_transfer_start(
    ngx_http_b24trigger_transfer_t *t);
void ngx_http_b24trigger_transfer_cancel(ngx_http_b24trigger_transfer_t *t);


#endif /* _NGX_HTTP_B24TRIGGER_PORTAL_CURL_H_INCLUDED_ */
