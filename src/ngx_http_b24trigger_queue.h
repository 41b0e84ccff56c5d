
/*
 * Copyright (C) b24trigger authors
 *
 * Never lose a trigger: the durable spool
 * (ngx_http_b24trigger_queue_spool.c), the request path that puts an
 * event in it (ngx_http_b24trigger_queue_enqueue.c), the event's format
 * (ngx_http_b24trigger_queue_event.c), the workers that deliver from it
 * (ngx_http_b24trigger_queue_delivery.c), the same as a Redis Stream
 * (ngx_http_b24trigger_queue_redis.c), the portals' leaky buckets
 * (ngx_http_b24trigger_bucket.c) and the de-duplication zones
 * (ngx_http_b24trigger_dedup.c): what each offers the others, the tables
 * and the request flow.
 */


#ifndef _NGX_HTTP_B24TRIGGER_QUEUE_H_INCLUDED_
#define _NGX_HTTP_B24TRIGGER_QUEUE_H_INCLUDED_


#include "ngx_http_b24trigger.h"
#include "ngx_http_b24trigger_lookup.h"


#define NGX_HTTP_B24TRIGGER_DELIVERY_SYNC   0
#define NGX_HTTP_B24TRIGGER_DELIVERY_QUEUE  1


/*
 * b24trigger_queue PATH [max_size=] [max_age=] [backoff=] ...
 * b24trigger_queue redis [max_size=] ... [visibility=]: a Redis Stream
 * (ngx_http_b24trigger_queue_redis.c); path is "redis", no folders
 */

struct ngx_http_b24trigger_spool_s {
    ngx_str_t                      path;       /* NUL-ended, all four */
    ngx_str_t                      tmp;
    ngx_str_t                      queue;
    ngx_str_t                      claim;
    ngx_str_t                      dead;
    off_t                          max_size;
    time_t                         max_age;
    ngx_msec_t                     backoff;
    ngx_msec_t                     backoff_max;
    ngx_uint_t                     concurrency;
    ngx_shm_zone_t                *zone;       /* the bytes waiting, for
                                                  max_size: the spool's */
    ngx_msec_t                     visibility; /* redis: an entry held
                                                  longer is taken over */
    void                          *link;       /* redis: the link the
                                                  events are added on */
    unsigned                       redis:1;    /* max_size: entries */
};


/* an event's "id", a part of file names: [A-Za-z0-9._-], no "..", no "/" */
#define NGX_HTTP_B24TRIGGER_EVENT_ID_MAX    128


/* a queued event (ngx_http_b24trigger_queue_event.c says the format) */

typedef struct {
    void                          *root;       /* the JSON, opaque */
    ngx_str_t                      id;
    ngx_str_t                      portal;
    ngx_str_t                      target;
    ngx_str_t                      code;
    ngx_str_t                      location;
    ngx_uint_t                     method;     /* b24trigger_method */
    int64_t                        received;   /* ms */
    ngx_uint_t                     attempts;   /* calls made */
    ngx_http_b24trigger_lookup_spec_t  lookup; /* value empty: none */
    unsigned                       dead:1;     /* a dead letter moved
                                                  back by hand */
} ngx_http_b24trigger_record_t;


/* a dead letter as the status API lists it */

typedef struct {
    ngx_str_t                      id;
    ngx_str_t                      portal;
    ngx_str_t                      target;
    ngx_str_t                      code;
    ngx_str_t                      location;
    ngx_str_t                      reason;     /* "dead": {"reason"} */
    ngx_uint_t                     attempts;
    ngx_str_t                      json;       /* the file, compact */
} ngx_http_b24trigger_dead_t;


/* which dead letters: empty strings match any */

typedef struct {
    ngx_str_t                      id;
    ngx_str_t                      portal;
    ngx_str_t                      target;
    ngx_str_t                      location;
    ngx_str_t                      reason;
    ngx_uint_t                     limit;
    ngx_uint_t                     total;      /* out: files in dead/ */
} ngx_http_b24trigger_dfilter_t;


/* what a call's outcome makes of a queued event (event_verdict()) */

#define NGX_HTTP_B24TRIGGER_EVENT_DELIVERED 0
#define NGX_HTTP_B24TRIGGER_EVENT_RETRY     1
#define NGX_HTTP_B24TRIGGER_EVENT_DEAD      2


/* the bucket gives way: a call may go now, later, or not in time */

#define NGX_HTTP_B24TRIGGER_BUCKET_OK       0
#define NGX_HTTP_B24TRIGGER_BUCKET_FULL     1   /* our own bucket */
#define NGX_HTTP_B24TRIGGER_BUCKET_BLOCKED  2   /* the portal's block */


/* ngx_http_b24trigger_queue_event.c */
ngx_int_t ngx_http_b24trigger_event_write(ngx_pool_t *pool,
    ngx_http_b24trigger_record_t *rec, ngx_str_t *out);
ngx_int_t ngx_http_b24trigger_event_read(ngx_http_b24trigger_record_t *rec,
    u_char *buf, size_t len, const char **why);
ngx_int_t ngx_http_b24trigger_event_replay(ngx_http_b24trigger_record_t *rec,
    int64_t now);
ngx_int_t ngx_http_b24trigger_event_failed(ngx_http_b24trigger_record_t *rec,
    ngx_http_b24trigger_call_t *call, const char *outcome, int64_t now);
ngx_int_t ngx_http_b24trigger_event_retry(ngx_http_b24trigger_record_t *rec,
    int64_t next);
ngx_int_t ngx_http_b24trigger_event_dead(ngx_http_b24trigger_record_t *rec,
    const char *reason, int64_t now);
ngx_msec_t ngx_http_b24trigger_event_backoff(ngx_http_b24trigger_spool_t *spool,
    ngx_http_b24trigger_record_t *rec, ngx_http_b24trigger_call_t *call);
ngx_uint_t ngx_http_b24trigger_event_verdict(
    ngx_http_b24trigger_record_t *rec, ngx_http_b24trigger_call_t *call,
    const char **reason);
u_char *ngx_http_b24trigger_event_dump(ngx_pool_t *pool,
    ngx_http_b24trigger_record_t *rec, ngx_uint_t indent, size_t *len);
void ngx_http_b24trigger_event_free(ngx_http_b24trigger_record_t *rec);

/* ngx_http_b24trigger_journal.c: the entry of a delivery */
void ngx_http_b24trigger_journal_event(ngx_http_b24trigger_record_t *rec,
    ngx_http_b24trigger_call_t *call, ngx_uint_t result, const char *reason,
    int64_t now, ngx_log_t *log);

/* ngx_http_b24trigger_queue_enqueue.c */

/* the handler's: the sender hears the decision (rc as from decide()) */
typedef void (*ngx_http_b24trigger_enqueued_pt)(ngx_http_request_t *r,
    ngx_int_t rc);

ngx_int_t ngx_http_b24trigger_enqueue(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_http_b24trigger_enqueued_pt done);
void ngx_http_b24trigger_enqueue_exit(void);

/* ngx_http_b24trigger_queue_spool.c */
char *ngx_http_b24trigger_queue_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_b24trigger_spool_init_conf(ngx_conf_t *cf,
    ngx_http_b24trigger_main_conf_t *bmcf);
ngx_int_t ngx_http_b24trigger_spool_reserve(
    ngx_http_b24trigger_spool_t *spool, off_t size);
void ngx_http_b24trigger_spool_release(ngx_http_b24trigger_spool_t *spool,
    off_t size);
ngx_int_t ngx_http_b24trigger_spool_recover(ngx_log_t *log,
    ngx_http_b24trigger_spool_t *spool, ngx_uint_t start);
u_char *ngx_http_b24trigger_spool_path(ngx_pool_t *pool, ngx_str_t *dir,
    ngx_str_t *name);

/* ngx_http_b24trigger_queue_dead.c */
ngx_int_t ngx_http_b24trigger_dead_id_valid(ngx_str_t *id);
ngx_int_t ngx_http_b24trigger_dead_list(ngx_pool_t *pool, ngx_log_t *log,
    ngx_http_b24trigger_spool_t *spool, ngx_http_b24trigger_dfilter_t *f,
    ngx_array_t *out);
ngx_int_t ngx_http_b24trigger_dead_replay(ngx_pool_t *pool, ngx_log_t *log,
    ngx_http_b24trigger_spool_t *spool, ngx_str_t *id);
ngx_int_t ngx_http_b24trigger_dead_drop(ngx_pool_t *pool, ngx_log_t *log,
    ngx_http_b24trigger_spool_t *spool, ngx_str_t *id);

/* ngx_http_b24trigger_queue_delivery.c */
ngx_int_t ngx_http_b24trigger_delivery_init(ngx_cycle_t *cycle,
    ngx_http_b24trigger_main_conf_t *bmcf);
void ngx_http_b24trigger_delivery_kick(void);
void ngx_http_b24trigger_delivery_exit(ngx_cycle_t *cycle);

/* ngx_http_b24trigger_queue_redis.c */
ngx_int_t ngx_http_b24trigger_queue_redis_init_conf(ngx_conf_t *cf,
    ngx_http_b24trigger_main_conf_t *bmcf);
ngx_int_t ngx_http_b24trigger_queue_redis_enqueue(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_http_b24trigger_record_t *rec,
    ngx_str_t *json, ngx_http_b24trigger_enqueued_pt done);
ngx_int_t ngx_http_b24trigger_queue_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_b24trigger_main_conf_t *bmcf);
void ngx_http_b24trigger_queue_redis_exit_process(ngx_cycle_t *cycle,
    ngx_http_b24trigger_main_conf_t *bmcf);

/* the dead letters for the status API: read, then done(r, ok) */
typedef void (*ngx_http_b24trigger_dead_fetched_pt)(ngx_http_request_t *r,
    ngx_uint_t ok);

ngx_int_t ngx_http_b24trigger_queue_redis_dead_fetch(ngx_http_request_t *r,
    ngx_http_b24trigger_dead_fetched_pt done);
ngx_array_t *ngx_http_b24trigger_queue_redis_dead_snapshot(void);
ngx_int_t ngx_http_b24trigger_queue_redis_dead_action(ngx_str_t *id,
    ngx_uint_t replay);

/* ngx_http_b24trigger_bucket.c */
ngx_int_t ngx_http_b24trigger_bucket_init_conf(ngx_conf_t *cf,
    ngx_http_b24trigger_main_conf_t *bmcf);
ngx_uint_t ngx_http_b24trigger_bucket_take(
    ngx_http_b24trigger_portal_t *portal, ngx_msec_t max_wait,
    ngx_msec_t *delay);
void ngx_http_b24trigger_bucket_give_back(
    ngx_http_b24trigger_portal_t *portal);

/* the cluster's bucket (bucket=cluster), for sync calls; rc, delay */
typedef void (*ngx_http_b24trigger_bucket_handler_pt)(void *data,
    ngx_uint_t rc, ngx_msec_t delay);

ngx_int_t ngx_http_b24trigger_bucket_take_shared(
    ngx_http_b24trigger_portal_t *portal, ngx_msec_t max_wait,
    ngx_msec_t *delay, ngx_http_b24trigger_bucket_handler_pt handler,
    void *data, void **ask);
void ngx_http_b24trigger_bucket_cancel(void *ask);
void ngx_http_b24trigger_bucket_charge(ngx_http_b24trigger_portal_t *portal);
void ngx_http_b24trigger_bucket_learn(ngx_http_b24trigger_call_t *call);

/* ngx_http_b24trigger_dedup.c */
char *ngx_http_b24trigger_dedup_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_b24trigger_dedup(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_b24trigger_replay(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_b24trigger_dedup_checks(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_http_b24trigger_resume_pt resume);
void ngx_http_b24trigger_dedup_release(ngx_http_b24trigger_ctx_t *ctx);
void ngx_http_b24trigger_dedup_commit(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx);


#endif /* _NGX_HTTP_B24TRIGGER_QUEUE_H_INCLUDED_ */
