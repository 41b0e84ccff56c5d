
/*
 * Copyright (C) b24trigger authors
 *
 * The Redis client of cluster mode (ngx_http_b24trigger_redis.c): what it
 * offers the parts that keep state in Redis.  It knows nothing about
 * webhooks: it sends commands and hands back replies.
 */


#ifndef _NGX_HTTP_B24TRIGGER_REDIS_H_INCLUDED_
#define _NGX_HTTP_B24TRIGGER_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


typedef struct ngx_http_b24trigger_redis_s  ngx_http_b24trigger_redis_t;


/* a reply, as the caller sees it (RESP2) */

typedef enum {
    NGX_HTTP_B24TRIGGER_REDIS_DOWN = 0,    /* no reply: the link is gone */
    NGX_HTTP_B24TRIGGER_REDIS_NIL,
    NGX_HTTP_B24TRIGGER_REDIS_STRING,
    NGX_HTTP_B24TRIGGER_REDIS_STATUS,
    NGX_HTTP_B24TRIGGER_REDIS_INTEGER,
    NGX_HTTP_B24TRIGGER_REDIS_ERROR,
    NGX_HTTP_B24TRIGGER_REDIS_ARRAY
} ngx_http_b24trigger_redis_type_e;


typedef struct ngx_http_b24trigger_redis_reply_s
    ngx_http_b24trigger_redis_reply_t;

/* everything in it is valid in the handler only: copy what is kept */

struct ngx_http_b24trigger_redis_reply_s {
    ngx_http_b24trigger_redis_type_e   type;
    ngx_str_t                          str;      /* STRING, STATUS, ERROR */
    int64_t                            integer;  /* INTEGER */
    ngx_uint_t                         nelts;    /* ARRAY */
    ngx_http_b24trigger_redis_reply_t *elts;     /* ARRAY, nelts of them */
};


/*
 * Called once for every command sent: with its reply, or with DOWN when
 * the link was lost or the command timed out first
 */

typedef void (*ngx_http_b24trigger_redis_handler_pt)(void *data,
    ngx_http_b24trigger_redis_reply_t *reply);


ngx_http_b24trigger_redis_t *ngx_http_b24trigger_redis_create(
    ngx_conf_t *cf, ngx_str_t *args, ngx_uint_t nargs);
ngx_int_t ngx_http_b24trigger_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_b24trigger_redis_t *redis);
void ngx_http_b24trigger_redis_exit_process(
    ngx_http_b24trigger_redis_t *redis);

/* the link is up: commands are sent, not refused */
ngx_uint_t ngx_http_b24trigger_redis_up(ngx_http_b24trigger_redis_t *redis);

/* the key prefix, "b24t:" unless prefix= says otherwise */
ngx_str_t *ngx_http_b24trigger_redis_prefix(
    ngx_http_b24trigger_redis_t *redis);

/* the URL without its password, replicas=, timeout= */
ngx_str_t *ngx_http_b24trigger_redis_name(ngx_http_b24trigger_redis_t *redis);
ngx_uint_t ngx_http_b24trigger_redis_replicas(
    ngx_http_b24trigger_redis_t *redis);
ngx_msec_t ngx_http_b24trigger_redis_timeout(
    ngx_http_b24trigger_redis_t *redis);

/* a second, quiet link to the same Redis (init and exit it as the first) */
ngx_http_b24trigger_redis_t *ngx_http_b24trigger_redis_clone(ngx_conf_t *cf,
    ngx_http_b24trigger_redis_t *redis);

/*
 * NGX_OK: sent, handler (if any) called later; NGX_DECLINED: the link is
 * down, nothing sent, handler never called
 */
ngx_int_t ngx_http_b24trigger_redis_command(ngx_http_b24trigger_redis_t *redis,
    ngx_http_b24trigger_redis_handler_pt handler, void *data,
    ngx_uint_t argc, ngx_str_t *argv);


#endif /* _NGX_HTTP_B24TRIGGER_REDIS_H_INCLUDED_ */
