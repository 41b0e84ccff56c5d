
/*
 * Copyright (C) b24trigger authors
 *
 * "b24trigger_queue redis": the queue as a Redis Stream shared by every
 * node of a cluster (b24trigger_cluster).  It owns the keys
 *
 *     PREFIX queue          the stream: one entry an event, field "e"
 *     PREFIX queue:retry    a sorted set: events waiting for a retry,
 *                           scored by when they are due (ms)
 *     PREFIX queue:dead     a hash: dead letters, event id -> the event
 *
 * and the consumer group "b24trigger" of the stream.  The request path
 * adds an event with one script (the depth checked against max_size and
 * XADD at once) and answers 202 only when Redis said so, and, with
 * replicas=N, once "WAIT N" on a link of its own said N replicas have
 * it.  Each worker polls the group (XREADGROUP, no BLOCK), takes over
 * the entries idle longer than visibility= (XAUTOCLAIM: a node that
 * died), keeps its own entries fresh (XCLAIM JUSTID) while it holds them,
 * moves due retries back into the stream, removes the consumers of
 * workers gone (a reload, a restart) once nothing is pending for them
 * and they have been idle longer than visibility=, and calls the portal
 * through the same client and answers as the local spool, paced by the
 * cluster's bucket (the sync calls' of every node), an event of
 * b24trigger_lookup having its target found first; a settled entry is
 * acknowledged and deleted in the same script that records its retry or
 * dead letter.  For
 * the status API it reads the dead letters into a request and replays or
 * drops one.  The link is ngx_http_b24trigger_redis.c's; the event's
 * format is ngx_http_b24trigger_queue_event.c's.  It knows nothing of
 * the spool's folders.
 */


#include "ngx_http_b24trigger_queue.h"
#include "ngx_http_b24trigger_journal.h"
#include "ngx_http_b24trigger_redis.h"


/* a queue that cannot take the event: the sender tries again after */
#define NGX_HTTP_B24TRIGGER_RQ_RETRY_SEC     10

/* the poll: soon after work was found, less often when idle */
#define NGX_HTTP_B24TRIGGER_RQ_POLL_MS       50
#define NGX_HTTP_B24TRIGGER_RQ_IDLE_MS       250

/* due retries moved back into the stream this often, this many a time */
#define NGX_HTTP_B24TRIGGER_RQ_MOVE_MS       250
#define NGX_HTTP_B24TRIGGER_RQ_MOVE_MAX      "64"

/* the stream's depth read for the status page this often */
#define NGX_HTTP_B24TRIGGER_RQ_COUNT_MS      1000

/* ids in one XCLAIM that keeps held entries fresh */
#define NGX_HTTP_B24TRIGGER_RQ_BEAT_IDS      48

/* an entry larger than this is no event of ours */
#define NGX_HTTP_B24TRIGGER_RQ_EVENT_MAX     65536

#define NGX_HTTP_B24TRIGGER_RQ_GROUP         "b24trigger"


/* the depth checked and the event added, at once */

static ngx_str_t  ngx_http_b24trigger_rq_add_lua = ngx_string(
    "if redis.call('XLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2])"
    " >= tonumber(ARGV[1]) then return false end "
    "return redis.call('XADD', KEYS[1], '*', 'e', ARGV[2])");

/*
 * an entry settled: acknowledged, its retry or dead letter recorded, and
 * deleted; nothing done when it is pending for nobody (another consumer
 * settled it first), or when the entry under that id is another event:
 * after a failover, an id the old primary gave after the new one was
 * promoted may name another event in the new one
 */

static ngx_str_t  ngx_http_b24trigger_rq_settle_lua = ngx_string(
    "if ARGV[6] ~= '' then "
    "local e = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2]) "
    "if #e > 0 and not string.find(tostring(e[1][2][2]), ARGV[6], 1, true) "
    "then return -1 end end "
    "if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then "
    "return 0 end "
    "if ARGV[3] == 'z' then redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5]) "
    "elseif ARGV[3] == 'h' then redis.call('HSET', KEYS[2], ARGV[4], "
    "ARGV[5]) end "
    "redis.call('XDEL', KEYS[1], ARGV[2]) return 1");

/* the retries that are due, back into the stream */

static ngx_str_t  ngx_http_b24trigger_rq_move_lua = ngx_string(
    "local m = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1],"
    " 'LIMIT', 0, tonumber(ARGV[2])) "
    "for i = 1, #m do redis.call('ZREM', KEYS[1], m[i]) "
    "redis.call('XADD', KEYS[2], '*', 'e', m[i]) end "
    "return #m");

/* a dead letter back into the stream, where it starts afresh */

static ngx_str_t  ngx_http_b24trigger_rq_replay_lua = ngx_string(
    "local v = redis.call('HGET', KEYS[1], ARGV[1]) "
    "if not v then return 0 end "
    "redis.call('XADD', KEYS[2], '*', 'e', v) "
    "return redis.call('HDEL', KEYS[1], ARGV[1])");

/*
 * The consumers of the group idle longer than ARGV[2] ms with nothing
 * pending, but ARGV[3] (the caller), removed: every reload or restart of
 * a worker leaves one behind.  Removing one that lives is harmless (its
 * next XREADGROUP makes it again), and one with entries pending is never
 * removed: XAUTOCLAIM takes its entries over first.  Returns how many.
 */

static ngx_str_t  ngx_http_b24trigger_rq_prune_lua = ngx_string(
    "if redis.replicate_commands then redis.replicate_commands() end "
    "local n = 0 "
    "for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) "
    "do "
    "local name, pending, idle "
    "for i = 1, #c - 1, 2 do "
    "if c[i] == 'name' then name = c[i + 1] "
    "elseif c[i] == 'pending' then pending = c[i + 1] "
    "elseif c[i] == 'idle' then idle = c[i + 1] end end "
    "if name and name ~= ARGV[3] and pending == 0 and idle "
    "and idle > tonumber(ARGV[2]) then "
    "redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name) "
    "n = n + 1 end end "
    "return n");

/* the depth, the dead letters, the oldest entry's id */

static ngx_str_t  ngx_http_b24trigger_rq_count_lua = ngx_string(
    "local f = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1) "
    "local o = '0' if #f > 0 then o = f[1][1] end "
    "return {redis.call('XLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2]),"
    " redis.call('HLEN', KEYS[3]), o}");


/* a sender waiting for Redis (and the replicas) */

typedef struct ngx_http_b24trigger_rq_waiter_s  ngx_http_b24trigger_rq_waiter_t;
typedef struct ngx_http_b24trigger_rq_group_s   ngx_http_b24trigger_rq_group_t;

struct ngx_http_b24trigger_rq_waiter_s {
    ngx_http_request_t                *r;
    ngx_http_b24trigger_ctx_t         *ctx;
    ngx_http_b24trigger_enqueued_pt    done;
    ngx_str_t                          id;
    ngx_http_b24trigger_rq_group_t    *group;     /* with replicas= */
    ngx_http_b24trigger_rq_waiter_t   *next;
    const char                        *error;     /* NULL: added */
    ngx_str_t                          why;       /* for the log */
};


/* the events added since the last WAIT, answered by the next */

struct ngx_http_b24trigger_rq_group_s {
    ngx_http_b24trigger_rq_waiter_t   *first;
    ngx_http_b24trigger_rq_waiter_t   *last;
    ngx_uint_t                         pending;   /* adds not answered */
    ngx_int_t                          replicas;  /* WAIT's, -1: none */
    unsigned                           waited:1;
};


/* an entry this worker holds */

typedef struct {
    ngx_queue_t                        queue;     /* rq->held */
    ngx_pool_t                        *pool;
    ngx_str_t                          sid;       /* the stream's id */
    ngx_str_t                          raw;       /* the entry's event */
    ngx_http_b24trigger_record_t       rec;
    ngx_http_b24trigger_portal_t      *portal;
    ngx_http_b24trigger_call_t         call;
    ngx_str_t                          settle[11];   /* the script's argv */
    void                              *ask;       /* the bucket's */
    ngx_http_b24trigger_find_t         find;      /* its target's lookup */
    unsigned                           asking:1;  /* the bucket's answer */
    unsigned                           finding:1; /* the lookup's */
    unsigned                           found:1;
    unsigned                           parsed:1;
    unsigned                           calling:1;
    unsigned                           settling:1;   /* sent */
    unsigned                           unsettled:1;  /* to send again */
    unsigned                           orphan:1;     /* the worker exits */
} ngx_http_b24trigger_rq_event_t;


typedef struct {
    ngx_event_t                        tick;
    ngx_log_t                          log;
    ngx_http_b24trigger_main_conf_t   *bmcf;
    ngx_http_b24trigger_spool_t       *spool;
    ngx_http_b24trigger_redis_t       *redis;     /* the shared link */
    ngx_str_t                          consumer;  /* host:pid */
    ngx_queue_t                        held;
    ngx_uint_t                         nheld;
    ngx_uint_t                         inflight;
    ngx_msec_t                         moved;
    ngx_msec_t                         claimed;
    ngx_msec_t                         beat;
    ngx_msec_t                         counted;
    ngx_msec_t                         pruned;
    ngx_msec_t                         busy;      /* a bucket's delay */
    unsigned                           reading:1;
    unsigned                           claiming:1;
    unsigned                           pruning:1;
    unsigned                           grouped:1;
    unsigned                           grouping:1;
    unsigned                           checked:1;
    unsigned                           more:1;
    unsigned                           unsettled_logged:1;
    unsigned                           released:1;
    unsigned                           refused:1;  /* an error said */
} ngx_http_b24trigger_rq_t;


static ngx_int_t ngx_http_b24trigger_rq_refuse(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, const char *error, ngx_str_t *why);
static void ngx_http_b24trigger_rq_added(void *data,
    ngx_http_b24trigger_redis_reply_t *reply);
static void ngx_http_b24trigger_rq_wait_post(ngx_event_t *ev);
static void ngx_http_b24trigger_rq_waited(void *data,
    ngx_http_b24trigger_redis_reply_t *reply);
static void ngx_http_b24trigger_rq_group_answer(
    ngx_http_b24trigger_rq_group_t *g);
static void ngx_http_b24trigger_rq_answer(ngx_http_b24trigger_rq_waiter_t *w);
static void ngx_http_b24trigger_rq_tick(ngx_event_t *ev);
static void ngx_http_b24trigger_rq_kick(ngx_msec_t ms);
static void ngx_http_b24trigger_rq_grouped(void *data,
    ngx_http_b24trigger_redis_reply_t *reply);
static void ngx_http_b24trigger_rq_read(void *data,
    ngx_http_b24trigger_redis_reply_t *reply);
static void ngx_http_b24trigger_rq_claimed(void *data,
    ngx_http_b24trigger_redis_reply_t *reply);
static void ngx_http_b24trigger_rq_pruned(void *data,
    ngx_http_b24trigger_redis_reply_t *reply);
static void ngx_http_b24trigger_rq_entries(ngx_http_b24trigger_rq_t *rq,
    ngx_http_b24trigger_redis_reply_t *list);
static void ngx_http_b24trigger_rq_entry(ngx_http_b24trigger_rq_t *rq,
    ngx_http_b24trigger_redis_reply_t *entry);
static void ngx_http_b24trigger_rq_start(ngx_http_b24trigger_rq_t *rq,
    ngx_http_b24trigger_rq_event_t *ev);
static void ngx_http_b24trigger_rq_bucket(void *data, ngx_uint_t rc,
    ngx_msec_t delay);
static void ngx_http_b24trigger_rq_call(ngx_http_b24trigger_rq_t *rq,
    ngx_http_b24trigger_rq_event_t *ev, ngx_uint_t rc, ngx_msec_t delay);
static void ngx_http_b24trigger_rq_find(ngx_http_b24trigger_rq_t *rq,
    ngx_http_b24trigger_rq_event_t *ev);
static void ngx_http_b24trigger_rq_found(ngx_http_b24trigger_find_t *find);
static void ngx_http_b24trigger_rq_lookup(ngx_http_b24trigger_rq_t *rq,
    ngx_http_b24trigger_rq_event_t *ev);
static void ngx_http_b24trigger_rq_done(ngx_http_b24trigger_call_t *call);
static void ngx_http_b24trigger_rq_outcome(ngx_http_b24trigger_rq_t *rq,
    ngx_http_b24trigger_rq_event_t *ev);
static void ngx_http_b24trigger_rq_retry(ngx_http_b24trigger_rq_t *rq,
    ngx_http_b24trigger_rq_event_t *ev);
static void ngx_http_b24trigger_rq_dead(ngx_http_b24trigger_rq_t *rq,
    ngx_http_b24trigger_rq_event_t *ev, const char *reason);
static void ngx_http_b24trigger_rq_settle(ngx_http_b24trigger_rq_t *rq,
    ngx_http_b24trigger_rq_event_t *ev, const char *kind, ngx_str_t *key,
    ngx_str_t *field, u_char *value, size_t len);
static void ngx_http_b24trigger_rq_send_settle(ngx_http_b24trigger_rq_t *rq,
    ngx_http_b24trigger_rq_event_t *ev);
static void ngx_http_b24trigger_rq_settled(void *data,
    ngx_http_b24trigger_redis_reply_t *reply);
static void ngx_http_b24trigger_rq_free(ngx_http_b24trigger_rq_t *rq,
    ngx_http_b24trigger_rq_event_t *ev);
static void ngx_http_b24trigger_rq_release(ngx_http_b24trigger_rq_t *rq);
static void ngx_http_b24trigger_rq_beat(ngx_http_b24trigger_rq_t *rq);
static void ngx_http_b24trigger_rq_counted(void *data,
    ngx_http_b24trigger_redis_reply_t *reply);
static void ngx_http_b24trigger_rq_check(ngx_http_b24trigger_rq_t *rq);
static void ngx_http_b24trigger_rq_checked(void *data,
    ngx_http_b24trigger_redis_reply_t *reply);
static void ngx_http_b24trigger_rq_event_cleanup(void *data);
static void ngx_http_b24trigger_rq_journal(ngx_http_b24trigger_rq_event_t *ev,
    ngx_uint_t result, const char *reason);
static int64_t ngx_http_b24trigger_rq_now(void);


/* the keys, made at configuration */
static ngx_str_t  ngx_http_b24trigger_rq_stream;
static ngx_str_t  ngx_http_b24trigger_rq_retries;
static ngx_str_t  ngx_http_b24trigger_rq_dead_key;

static ngx_http_b24trigger_rq_t     *ngx_http_b24trigger_rq;
static ngx_http_b24trigger_rq_group_t  *ngx_http_b24trigger_rq_gathering;
static ngx_event_t                   ngx_http_b24trigger_rq_wait_ev;
static ngx_uint_t                    ngx_http_b24trigger_rq_waiting;
static ngx_log_t                     ngx_http_b24trigger_rq_wait_log;

/* what CONFIG GET said of appendonly, until appendfsync's answer */
static u_char                        ngx_http_b24trigger_rq_aof[16];


ngx_int_t
ngx_http_b24trigger_queue_redis_init_conf(ngx_conf_t *cf,
    ngx_http_b24trigger_main_conf_t *bmcf)
{
    u_char                       *p;
    ngx_str_t                    *prefix;
    ngx_http_b24trigger_spool_t  *spool;

    spool = bmcf->spool;

    if (bmcf->cluster == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"b24trigger_queue redis\" needs "
                           "\"b24trigger_cluster\", the Redis the queue "
                           "lives in");
        return NGX_ERROR;
    }

    prefix = ngx_http_b24trigger_redis_prefix(bmcf->cluster);

    p = ngx_pnalloc(cf->pool, 3 * prefix->len + sizeof("queuequeue:retry"
                                                       "queue:dead"));
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_http_b24trigger_rq_stream.data = p;
    p = ngx_sprintf(p, "%Vqueue", prefix);
    ngx_http_b24trigger_rq_stream.len = p - ngx_http_b24trigger_rq_stream.data;

    ngx_http_b24trigger_rq_retries.data = p;
    p = ngx_sprintf(p, "%Vqueue:retry", prefix);
    ngx_http_b24trigger_rq_retries.len = p
                                     - ngx_http_b24trigger_rq_retries.data;

    ngx_http_b24trigger_rq_dead_key.data = p;
    p = ngx_sprintf(p, "%Vqueue:dead", prefix);
    ngx_http_b24trigger_rq_dead_key.len = p
                                      - ngx_http_b24trigger_rq_dead_key.data;

    /* WAIT holds the link it is sent on: the events go on a link of their
     * own, whose writes are the ones WAIT counts */

    if (ngx_http_b24trigger_redis_replicas(bmcf->cluster)) {
        spool->link = ngx_http_b24trigger_redis_clone(cf, bmcf->cluster);
        if (spool->link == NULL) {
            return NGX_ERROR;
        }

    } else {
        spool->link = bmcf->cluster;
    }

    return NGX_OK;
}


/*
 * On the request path: the event goes to Redis and the request waits
 * (NGX_AGAIN) for its answer, after which "done" is called with the
 * decision; or the decision now (503: the link is down)
 */

ngx_int_t
ngx_http_b24trigger_queue_redis_enqueue(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_http_b24trigger_record_t *rec,
    ngx_str_t *json, ngx_http_b24trigger_enqueued_pt done)
{
    u_char                           *p;
    ngx_str_t                         argv[7], why;
    ngx_http_b24trigger_spool_t      *spool;
    ngx_http_b24trigger_rq_group_t   *g;
    ngx_http_b24trigger_rq_waiter_t  *w;
    ngx_http_b24trigger_main_conf_t  *bmcf;
    u_char                            max[NGX_OFF_T_LEN];

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_b24trigger_module);
    spool = bmcf->spool;

    w = ngx_pcalloc(r->pool, sizeof(ngx_http_b24trigger_rq_waiter_t));
    if (w == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w->r = r;
    w->ctx = ctx;
    w->done = done;
    w->id = rec->id;

    p = ngx_sprintf(max, "%O", spool->max_size);

    ngx_str_set(&argv[0], "EVAL");
    argv[1] = ngx_http_b24trigger_rq_add_lua;
    ngx_str_set(&argv[2], "2");
    argv[3] = ngx_http_b24trigger_rq_stream;
    argv[4] = ngx_http_b24trigger_rq_retries;
    argv[5].data = max;
    argv[5].len = p - max;
    argv[6] = *json;

    /* the record's line end stays out of Redis */

    if (argv[6].len && argv[6].data[argv[6].len - 1] == '\n') {
        argv[6].len--;
    }

    if (ngx_http_b24trigger_redis_replicas(bmcf->cluster)) {
        g = ngx_http_b24trigger_rq_gathering;

        if (g == NULL) {
            g = ngx_calloc(sizeof(ngx_http_b24trigger_rq_group_t),
                           r->connection->log);
            if (g == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            g->replicas = -1;
        }

        w->group = g;
    }

    if (ngx_http_b24trigger_redis_command(spool->link,
                                          ngx_http_b24trigger_rq_added, w,
                                          7, argv)
        != NGX_OK)
    {
        if (w->group && ngx_http_b24trigger_rq_gathering != w->group) {
            ngx_free(w->group);
        }

        ngx_str_set(&why, "the link to Redis is down");
        return ngx_http_b24trigger_rq_refuse(r, ctx, "queue_unavailable",
                                             &why);
    }

    g = w->group;

    if (g) {
        g->pending++;

        if (g->last) {
            g->last->next = w;

        } else {
            g->first = w;
        }

        g->last = w;

        /*
         * one WAIT for the events added in this turn of the loop, or
         * while the WAIT before was out: one at a time, so that an add
         * waits behind two at most, within the link's timeout=
         */

        if (ngx_http_b24trigger_rq_gathering == NULL) {
            ngx_http_b24trigger_rq_gathering = g;

            if (!ngx_http_b24trigger_rq_waiting) {
                ngx_http_b24trigger_rq_wait_log = *ngx_cycle->log;
                ngx_http_b24trigger_rq_wait_ev.handler =
                                          ngx_http_b24trigger_rq_wait_post;
                ngx_http_b24trigger_rq_wait_ev.log =
                                          &ngx_http_b24trigger_rq_wait_log;
                ngx_post_event(&ngx_http_b24trigger_rq_wait_ev,
                               &ngx_posted_events);
            }
        }
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "b24trigger queue redis: \"%V\" sent", &w->id);

    return NGX_AGAIN;
}


static void
ngx_http_b24trigger_rq_added(void *data,
    ngx_http_b24trigger_redis_reply_t *reply)
{
    ngx_http_b24trigger_rq_waiter_t  *w = data;

    ngx_http_b24trigger_rq_group_t  *g;

    if (reply && reply->type == NGX_HTTP_B24TRIGGER_REDIS_STRING) {
        w->error = NULL;

    } else if (reply && reply->type == NGX_HTTP_B24TRIGGER_REDIS_NIL) {
        w->error = "queue_full";
        ngx_str_set(&w->why, "max_size reached");

    } else {
        w->error = "queue_unavailable";

        if (reply && reply->type == NGX_HTTP_B24TRIGGER_REDIS_ERROR) {
            w->why.len = ngx_min(reply->str.len, 128);
            w->why.data = ngx_pnalloc(w->r->pool, w->why.len);
            if (w->why.data == NULL) {
                w->why.len = 0;

            } else {
                ngx_memcpy(w->why.data, reply->str.data, w->why.len);
            }

        } else {
            ngx_str_set(&w->why, "no answer from Redis");
        }
    }

    g = w->group;

    if (g == NULL) {
        ngx_http_b24trigger_rq_answer(w);
        return;
    }

    g->pending--;

    if (g->waited && g->pending == 0) {
        ngx_http_b24trigger_rq_group_answer(g);
    }
}


/* after the adds of this turn of the loop: WAIT N on the same link */

static void
ngx_http_b24trigger_rq_wait_post(ngx_event_t *ev)
{
    u_char                           *p;
    ngx_str_t                         argv[3];
    ngx_msec_t                        ms;
    ngx_http_b24trigger_rq_group_t   *g;
    ngx_http_b24trigger_redis_t      *cluster;
    ngx_http_b24trigger_main_conf_t  *bmcf;
    u_char                            n[NGX_INT_T_LEN];
    u_char                            t[NGX_INT_T_LEN];

    g = ngx_http_b24trigger_rq_gathering;
    ngx_http_b24trigger_rq_gathering = NULL;

    if (g == NULL) {
        return;
    }

    bmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_b24trigger_module);
    cluster = bmcf->cluster;

    /* answered well before the link's own timeout= gives it up */

    ms = ngx_http_b24trigger_redis_timeout(cluster) / 3;
    if (ms == 0) {
        ms = 1;
    }

    ngx_str_set(&argv[0], "WAIT");
    argv[1].data = n;
    p = ngx_sprintf(n, "%ui", ngx_http_b24trigger_redis_replicas(cluster));
    argv[1].len = p - n;
    argv[2].data = t;
    p = ngx_sprintf(t, "%M", ms);
    argv[2].len = p - t;

    if (ngx_http_b24trigger_redis_command(bmcf->spool->link,
                                          ngx_http_b24trigger_rq_waited, g,
                                          3, argv)
        != NGX_OK)
    {
        g->waited = 1;

        if (g->pending == 0) {
            ngx_http_b24trigger_rq_group_answer(g);
        }

        return;
    }

    ngx_http_b24trigger_rq_waiting = 1;
}


static void
ngx_http_b24trigger_rq_waited(void *data,
    ngx_http_b24trigger_redis_reply_t *reply)
{
    ngx_http_b24trigger_rq_group_t *g = data;

    g->waited = 1;

    /* the events added meanwhile: their WAIT now */

    ngx_http_b24trigger_rq_waiting = 0;

    if (ngx_http_b24trigger_rq_gathering && reply) {
        ngx_http_b24trigger_rq_wait_ev.handler =
                                          ngx_http_b24trigger_rq_wait_post;
        ngx_http_b24trigger_rq_wait_ev.log = &ngx_http_b24trigger_rq_wait_log;
        ngx_post_event(&ngx_http_b24trigger_rq_wait_ev, &ngx_posted_events);
    }

    if (reply && reply->type == NGX_HTTP_B24TRIGGER_REDIS_INTEGER) {
        g->replicas = (ngx_int_t) reply->integer;
    }

    if (g->pending == 0) {
        ngx_http_b24trigger_rq_group_answer(g);
    }
}


static void
ngx_http_b24trigger_rq_group_answer(ngx_http_b24trigger_rq_group_t *g)
{
    ngx_uint_t                        want;
    ngx_http_b24trigger_rq_waiter_t  *w, *next;
    ngx_http_b24trigger_main_conf_t  *bmcf;

    bmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_b24trigger_module);

    want = ngx_http_b24trigger_redis_replicas(bmcf->cluster);

    for (w = g->first; w; w = next) {
        next = w->next;

        if (w->error == NULL
            && (g->replicas < 0 || (ngx_uint_t) g->replicas < want))
        {
            /* in the primary, not in enough replicas: not durable */

            w->error = "queue_unavailable";
            ngx_str_set(&w->why, "the replicas did not acknowledge it "
                                 "within the time (WAIT)");
        }

        ngx_http_b24trigger_rq_answer(w);
    }

    ngx_free(g);
}


/* the sender hears it: 202 with the event's id, or 503 */

static void
ngx_http_b24trigger_rq_answer(ngx_http_b24trigger_rq_waiter_t *w)
{
    ngx_int_t                   rc;
    ngx_str_t                   json;
    ngx_http_request_t         *r;
    ngx_http_b24trigger_ctx_t  *ctx;

    r = w->r;
    ctx = w->ctx;

    if (w->error) {
        rc = ngx_http_b24trigger_rq_refuse(r, ctx, w->error, &w->why);
        w->done(r, rc);
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "b24trigger queued \"%V\" in Redis", &w->id);

    ctx->result = NGX_HTTP_B24TRIGGER_QUEUED;
    ctx->id = w->id;

    ngx_http_b24trigger_dedup_commit(r, ctx);

    json.data = ngx_pnalloc(r->pool, sizeof("{\"result\":\"queued\","
                                            "\"id\":\"\"}") - 1 + w->id.len);
    if (json.data == NULL) {
        w->done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    json.len = ngx_sprintf(json.data, "{\"result\":\"queued\",\"id\":\"%V\"}",
                           &w->id)
               - json.data;

    rc = ngx_http_b24trigger_decide(ctx, NGX_HTTP_ACCEPTED, NULL, &json, 0);

    w->done(r, rc);

    ngx_http_b24trigger_rq_kick(NGX_HTTP_B24TRIGGER_RQ_POLL_MS);
}


static ngx_int_t
ngx_http_b24trigger_rq_refuse(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, const char *error, ngx_str_t *why)
{
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "b24trigger: queue \"redis\" cannot take the webhook for "
                  "target \"%V\": %V, answered 503",
                  ngx_http_b24trigger_log_value(r->pool, &ctx->target), why);

    ctx->result = NGX_HTTP_B24TRIGGER_FAILED;
    ctx->error.data = (u_char *) error;
    ctx->error.len = ngx_strlen(error);

    ngx_http_b24trigger_dedup_release(ctx);

    return ngx_http_b24trigger_decide(ctx, NGX_HTTP_SERVICE_UNAVAILABLE, error,
                                      NULL, NGX_HTTP_B24TRIGGER_RQ_RETRY_SEC);
}


/* delivery, in every worker */

ngx_int_t
ngx_http_b24trigger_queue_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_b24trigger_main_conf_t *bmcf)
{
    u_char                    *p;
    ngx_http_b24trigger_rq_t  *rq;

    if (bmcf->spool == NULL || !bmcf->spool->redis) {
        return NGX_OK;
    }

    if (bmcf->spool->link != bmcf->cluster
        && ngx_http_b24trigger_redis_init_process(cycle, bmcf->spool->link)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    rq = ngx_pcalloc(cycle->pool, sizeof(ngx_http_b24trigger_rq_t));
    if (rq == NULL) {
        return NGX_ERROR;
    }

    rq->log = *cycle->log;
    rq->bmcf = bmcf;
    rq->spool = bmcf->spool;
    rq->redis = bmcf->cluster;
    ngx_queue_init(&rq->held);

    rq->consumer.data = ngx_pnalloc(cycle->pool,
                                    cycle->hostname.len + NGX_INT64_LEN + 2);
    if (rq->consumer.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(rq->consumer.data, "%V:%P", &cycle->hostname, ngx_pid);
    rq->consumer.len = p - rq->consumer.data;

    rq->tick.handler = ngx_http_b24trigger_rq_tick;
    rq->tick.data = rq;
    rq->tick.log = &rq->log;

    /* not cancelable: a worker that quits looks once more, to give back
     * what it holds (ngx_http_b24trigger_rq_release()) */

    /* a takeover waits for the first look at the group */
    rq->claimed = ngx_current_msec;

    ngx_add_timer(&rq->tick, NGX_HTTP_B24TRIGGER_RQ_POLL_MS);

    ngx_http_b24trigger_rq = rq;

    return NGX_OK;
}


/*
 * Worker exit: calls still in flight are abandoned; their entries stay
 * this consumer's in Redis and another worker takes them over after
 * visibility=.  An entry whose settling Redis has not answered yet is
 * left to that answer.
 */

void
ngx_http_b24trigger_queue_redis_exit_process(ngx_cycle_t *cycle,
    ngx_http_b24trigger_main_conf_t *bmcf)
{
    ngx_queue_t                     *q;
    ngx_http_b24trigger_rq_t        *rq;
    ngx_http_b24trigger_rq_event_t  *ev;

    rq = ngx_http_b24trigger_rq;

    if (rq == NULL) {
        return;
    }

    if (rq->tick.timer_set) {
        ngx_del_timer(&rq->tick);
    }

    while (!ngx_queue_empty(&rq->held)) {
        q = ngx_queue_head(&rq->held);
        ev = ngx_queue_data(q, ngx_http_b24trigger_rq_event_t, queue);

        ngx_queue_remove(q);

        if (ev->calling) {
            ngx_log_error(NGX_LOG_NOTICE, &rq->log, 0,
                          "b24trigger: delivery of queued event \"%V\" "
                          "abandoned on exit, left to the cluster",
                          ngx_http_b24trigger_log_value(ev->pool,
                                                        &ev->rec.id));

            ngx_http_b24trigger_call_cancel(&ev->call);
        }

        if (ev->asking) {
            ngx_http_b24trigger_bucket_cancel(ev->ask);
        }

        if (ev->finding) {
            ngx_http_b24trigger_find_cancel(&ev->find);
        }

        if (ev->settling) {
            ev->orphan = 1;
            continue;
        }

        ngx_destroy_pool(ev->pool);
    }

    ngx_http_b24trigger_rq = NULL;

    if (bmcf->spool->link != bmcf->cluster) {
        ngx_http_b24trigger_redis_exit_process(bmcf->spool->link);
    }
}


static void
ngx_http_b24trigger_rq_kick(ngx_msec_t ms)
{
    ngx_http_b24trigger_rq_t  *rq;

    rq = ngx_http_b24trigger_rq;

    if (rq == NULL || ngx_exiting) {
        return;
    }

    if (rq->tick.timer_set
        && (ngx_msec_int_t) (rq->tick.timer.key - ngx_current_msec)
           <= (ngx_msec_int_t) ms)
    {
        return;
    }

    if (rq->tick.timer_set) {
        ngx_del_timer(&rq->tick);
    }

    ngx_add_timer(&rq->tick, ms);
}


static void
ngx_http_b24trigger_rq_tick(ngx_event_t *tev)
{
    ngx_http_b24trigger_rq_t *rq = tev->data;

    u_char                          *p;
    ngx_str_t                        argv[11];
    ngx_msec_t                       wait, every;
    ngx_queue_t                     *q, *next;
    ngx_uint_t                       want;
    ngx_http_b24trigger_rq_event_t  *ev;
    u_char                           count[NGX_INT_T_LEN];
    u_char                           now[NGX_INT64_LEN];
    u_char                           idle[NGX_INT_T_LEN];

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        /* no new entries; calls in flight finish on their own */
        ngx_http_b24trigger_rq_release(rq);
        return;
    }

    wait = NGX_HTTP_B24TRIGGER_RQ_IDLE_MS;

    if (!ngx_http_b24trigger_redis_up(rq->redis)) {
        goto next;
    }

    if (!rq->checked && ngx_worker == 0) {
        ngx_http_b24trigger_rq_check(rq);
    }

    if (!rq->grouped) {
        if (!rq->grouping) {
            ngx_str_set(&argv[0], "XGROUP");
            ngx_str_set(&argv[1], "CREATE");
            argv[2] = ngx_http_b24trigger_rq_stream;
            ngx_str_set(&argv[3], NGX_HTTP_B24TRIGGER_RQ_GROUP);
            ngx_str_set(&argv[4], "0");
            ngx_str_set(&argv[5], "MKSTREAM");

            if (ngx_http_b24trigger_redis_command(rq->redis,
                                              ngx_http_b24trigger_rq_grouped,
                                              rq, 6, argv)
                == NGX_OK)
            {
                rq->grouping = 1;
            }
        }

        goto next;
    }

    /* what waits: a settling to send again, a call for the bucket */

    rq->busy = 0;

    for (q = ngx_queue_head(&rq->held);
         q != ngx_queue_sentinel(&rq->held);
         q = next)
    {
        next = ngx_queue_next(q);
        ev = ngx_queue_data(q, ngx_http_b24trigger_rq_event_t, queue);

        if (ev->unsettled) {
            ngx_http_b24trigger_rq_send_settle(rq, ev);
            continue;
        }

        if (!ev->calling && !ev->settling) {
            ngx_http_b24trigger_rq_start(rq, ev);
        }
    }

    /* due retries back into the stream */

    if (ngx_current_msec - rq->moved >= NGX_HTTP_B24TRIGGER_RQ_MOVE_MS) {
        rq->moved = ngx_current_msec;

        ngx_str_set(&argv[0], "EVAL");
        argv[1] = ngx_http_b24trigger_rq_move_lua;
        ngx_str_set(&argv[2], "2");
        argv[3] = ngx_http_b24trigger_rq_retries;
        argv[4] = ngx_http_b24trigger_rq_stream;
        argv[5].data = now;
        argv[5].len = ngx_sprintf(now, "%L", ngx_http_b24trigger_rq_now())
                      - now;
        ngx_str_set(&argv[6], NGX_HTTP_B24TRIGGER_RQ_MOVE_MAX);

        (void) ngx_http_b24trigger_redis_command(rq->redis, NULL, NULL, 7,
                                                 argv);
    }

    /* the entries held stay ours: their idle time starts again */

    every = ngx_max(rq->spool->visibility / 4, 250);

    if (rq->nheld && ngx_current_msec - rq->beat >= every) {
        rq->beat = ngx_current_msec;
        ngx_http_b24trigger_rq_beat(rq);
    }

    want = (rq->nheld < rq->spool->concurrency)
           ? rq->spool->concurrency - rq->nheld : 0;

    if (want && !rq->reading) {
        p = ngx_sprintf(count, "%ui", want);

        ngx_str_set(&argv[0], "XREADGROUP");
        ngx_str_set(&argv[1], "GROUP");
        ngx_str_set(&argv[2], NGX_HTTP_B24TRIGGER_RQ_GROUP);
        argv[3] = rq->consumer;
        ngx_str_set(&argv[4], "COUNT");
        argv[5].data = count;
        argv[5].len = p - count;
        ngx_str_set(&argv[6], "STREAMS");
        argv[7] = ngx_http_b24trigger_rq_stream;
        ngx_str_set(&argv[8], ">");

        if (ngx_http_b24trigger_redis_command(rq->redis,
                                              ngx_http_b24trigger_rq_read,
                                              rq, 9, argv)
            == NGX_OK)
        {
            rq->reading = 1;
        }
    }

    /* entries of consumers that went quiet (a node that died) */

    every = ngx_max(rq->spool->visibility / 4, 500);

    if (want && !rq->claiming && ngx_current_msec - rq->claimed >= every) {
        rq->claimed = ngx_current_msec;

        p = ngx_sprintf(count, "%ui", want);

        ngx_str_set(&argv[0], "XAUTOCLAIM");
        argv[1] = ngx_http_b24trigger_rq_stream;
        ngx_str_set(&argv[2], NGX_HTTP_B24TRIGGER_RQ_GROUP);
        argv[3] = rq->consumer;
        argv[4].data = idle;
        argv[4].len = ngx_sprintf(idle, "%M", rq->spool->visibility) - idle;
        ngx_str_set(&argv[5], "0-0");
        ngx_str_set(&argv[6], "COUNT");
        argv[7].data = count;
        argv[7].len = p - count;

        if (ngx_http_b24trigger_redis_command(rq->redis,
                                              ngx_http_b24trigger_rq_claimed,
                                              rq, 8, argv)
            == NGX_OK)
        {
            rq->claiming = 1;
        }
    }

    /* consumers of workers gone, once nothing is pending for them */

    if (!rq->pruning
        && ngx_current_msec - rq->pruned >= rq->spool->visibility)
    {
        rq->pruned = ngx_current_msec;

        ngx_str_set(&argv[0], "EVAL");
        argv[1] = ngx_http_b24trigger_rq_prune_lua;
        ngx_str_set(&argv[2], "1");
        argv[3] = ngx_http_b24trigger_rq_stream;
        ngx_str_set(&argv[4], NGX_HTTP_B24TRIGGER_RQ_GROUP);
        argv[5].data = idle;
        argv[5].len = ngx_sprintf(idle, "%M", rq->spool->visibility) - idle;
        argv[6] = rq->consumer;

        if (ngx_http_b24trigger_redis_command(rq->redis,
                                              ngx_http_b24trigger_rq_pruned,
                                              rq, 7, argv)
            == NGX_OK)
        {
            rq->pruning = 1;
        }
    }

    if (ngx_current_msec - rq->counted >= NGX_HTTP_B24TRIGGER_RQ_COUNT_MS) {
        rq->counted = ngx_current_msec;

        ngx_str_set(&argv[0], "EVAL");
        argv[1] = ngx_http_b24trigger_rq_count_lua;
        ngx_str_set(&argv[2], "3");
        argv[3] = ngx_http_b24trigger_rq_stream;
        argv[4] = ngx_http_b24trigger_rq_retries;
        argv[5] = ngx_http_b24trigger_rq_dead_key;

        (void) ngx_http_b24trigger_redis_command(rq->redis,
                                                 ngx_http_b24trigger_rq_counted,
                                                 rq, 6, argv);
    }

    if (rq->more) {
        wait = NGX_HTTP_B24TRIGGER_RQ_POLL_MS;
    }

    if (rq->busy) {
        wait = ngx_min(wait, ngx_max(rq->busy, 1));
    }

next:

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, &rq->log, 0,
                   "b24trigger queue redis: %ui held, %ui in flight, next "
                   "look in %M ms", rq->nheld, rq->inflight, wait);

    if (!rq->tick.timer_set) {
        ngx_add_timer(&rq->tick, wait);
    }
}


static void
ngx_http_b24trigger_rq_grouped(void *data,
    ngx_http_b24trigger_redis_reply_t *reply)
{
    ngx_http_b24trigger_rq_t  *rq;

    rq = ngx_http_b24trigger_rq;

    if (rq == NULL || reply == NULL) {
        return;
    }

    rq->grouping = 0;

    if (reply->type == NGX_HTTP_B24TRIGGER_REDIS_STATUS
        || (reply->type == NGX_HTTP_B24TRIGGER_REDIS_ERROR
            && reply->str.len >= 9
            && ngx_strncmp(reply->str.data, "BUSYGROUP", 9) == 0))
    {
        rq->grouped = 1;
        ngx_http_b24trigger_rq_kick(1);
        return;
    }

    if (reply->type == NGX_HTTP_B24TRIGGER_REDIS_ERROR && !rq->refused) {
        rq->refused = 1;
        ngx_log_error(NGX_LOG_ERR, &rq->log, 0,
                      "b24trigger: XGROUP CREATE of the queue \"%V\" "
                      "failed: %V", &ngx_http_b24trigger_rq_stream,
                      &reply->str);
    }
}


/* XREADGROUP: [[stream, [[id, [field, value, ...]], ...]]] or nil */

static void
ngx_http_b24trigger_rq_read(void *data,
    ngx_http_b24trigger_redis_reply_t *reply)
{
    ngx_http_b24trigger_rq_t  *rq;

    rq = ngx_http_b24trigger_rq;

    if (rq == NULL || reply == NULL) {
        return;
    }

    rq->reading = 0;
    rq->more = 0;

    if (reply->type == NGX_HTTP_B24TRIGGER_REDIS_ERROR) {

        if (reply->str.len >= 7
            && ngx_strncmp(reply->str.data, "NOGROUP", 7) == 0)
        {
            /* the stream went (a Redis that lost its data): anew */
            rq->grouped = 0;
            return;
        }

        if (!rq->refused) {
            rq->refused = 1;
            ngx_log_error(NGX_LOG_ERR, &rq->log, 0,
                          "b24trigger: XREADGROUP of the queue \"%V\" "
                          "failed: %V", &ngx_http_b24trigger_rq_stream,
                          &reply->str);
        }

        return;
    }

    /* a refusal is said once, until Redis reads again */
    rq->refused = 0;

    if (reply->type != NGX_HTTP_B24TRIGGER_REDIS_ARRAY
        || reply->nelts == 0
        || reply->elts[0].type != NGX_HTTP_B24TRIGGER_REDIS_ARRAY
        || reply->elts[0].nelts != 2)
    {
        return;
    }

    ngx_http_b24trigger_rq_entries(rq, &reply->elts[0].elts[1]);
}


/* XAUTOCLAIM: [cursor, [[id, fields], ...], [deleted ids]] */

static void
ngx_http_b24trigger_rq_claimed(void *data,
    ngx_http_b24trigger_redis_reply_t *reply)
{
    ngx_http_b24trigger_rq_t  *rq;

    rq = ngx_http_b24trigger_rq;

    if (rq == NULL || reply == NULL) {
        return;
    }

    rq->claiming = 0;

    if (reply->type != NGX_HTTP_B24TRIGGER_REDIS_ARRAY || reply->nelts < 2) {

        if (reply->type == NGX_HTTP_B24TRIGGER_REDIS_ERROR
            && !rq->refused
            && !(reply->str.len >= 7
                 && ngx_strncmp(reply->str.data, "NOGROUP", 7) == 0))
        {
            rq->refused = 1;
            ngx_log_error(NGX_LOG_ERR, &rq->log, 0,
                          "b24trigger: XAUTOCLAIM of the queue \"%V\" "
                          "failed: %V", &ngx_http_b24trigger_rq_stream,
                          &reply->str);
        }

        return;
    }

    if (reply->elts[1].type == NGX_HTTP_B24TRIGGER_REDIS_ARRAY
        && reply->elts[1].nelts)
    {
        ngx_log_error(NGX_LOG_WARN, &rq->log, 0,
                      "b24trigger: %ui queued event(s) idle for more than "
                      "%M ms taken over from another consumer",
                      reply->elts[1].nelts, rq->spool->visibility);

        ngx_http_b24trigger_rq_entries(rq, &reply->elts[1]);
    }

    /* not at the end of the pending entries: the next look goes on */

    if (reply->elts[0].type == NGX_HTTP_B24TRIGGER_REDIS_STRING
        && !(reply->elts[0].str.len == 3
             && ngx_strncmp(reply->elts[0].str.data, "0-0", 3) == 0))
    {
        rq->claimed = 0;
        rq->more = 1;
    }
}


static void
ngx_http_b24trigger_rq_entries(ngx_http_b24trigger_rq_t *rq,
    ngx_http_b24trigger_redis_reply_t *list)
{
    ngx_uint_t  i;

    if (list->type != NGX_HTTP_B24TRIGGER_REDIS_ARRAY) {
        return;
    }

    for (i = 0; i < list->nelts; i++) {
        ngx_http_b24trigger_rq_entry(rq, &list->elts[i]);
    }

    if (list->nelts) {
        rq->more = 1;
        ngx_http_b24trigger_rq_kick(NGX_HTTP_B24TRIGGER_RQ_POLL_MS);
    }
}


/* one entry, [id, [field, value, ...]]: held, then started */

static void
ngx_http_b24trigger_rq_entry(ngx_http_b24trigger_rq_t *rq,
    ngx_http_b24trigger_redis_reply_t *entry)
{
    const char                          *why;
    ngx_str_t                            none;
    ngx_uint_t                           i;
    ngx_pool_t                          *pool;
    ngx_pool_cleanup_t                  *cln;
    ngx_http_b24trigger_rq_event_t      *ev;
    ngx_http_b24trigger_redis_reply_t   *id, *fields, *e;

    if (entry->type != NGX_HTTP_B24TRIGGER_REDIS_ARRAY || entry->nelts != 2
        || entry->elts[0].type != NGX_HTTP_B24TRIGGER_REDIS_STRING)
    {
        return;
    }

    id = &entry->elts[0];
    fields = &entry->elts[1];
    e = NULL;

    if (fields->type == NGX_HTTP_B24TRIGGER_REDIS_ARRAY) {
        for (i = 0; i + 1 < fields->nelts; i += 2) {
            if (fields->elts[i].type == NGX_HTTP_B24TRIGGER_REDIS_STRING
                && fields->elts[i].str.len == 1
                && fields->elts[i].str.data[0] == 'e'
                && fields->elts[i + 1].type
                   == NGX_HTTP_B24TRIGGER_REDIS_STRING)
            {
                e = &fields->elts[i + 1];
                break;
            }
        }
    }

    pool = ngx_create_pool(4096, &rq->log);
    if (pool == NULL) {
        return;
    }

    ev = ngx_pcalloc(pool, sizeof(ngx_http_b24trigger_rq_event_t));
    if (ev == NULL) {
        ngx_destroy_pool(pool);
        return;
    }

    ev->pool = pool;

    ev->sid.data = ngx_pstrdup(pool, &id->str);
    ev->sid.len = id->str.len;

    if (ev->sid.data == NULL) {
        ngx_destroy_pool(pool);
        return;
    }

    ngx_queue_insert_tail(&rq->held, &ev->queue);
    rq->nheld++;

    if (e == NULL) {
        /* an entry deleted under us, or not ours: acknowledged */
        ngx_str_null(&none);
        ngx_http_b24trigger_rq_settle(rq, ev, "", &none, &none, NULL, 0);
        return;
    }

    ev->raw.len = e->str.len;
    ev->raw.data = ngx_pnalloc(pool, e->str.len + 1);
    if (ev->raw.data == NULL) {
        ngx_http_b24trigger_rq_free(rq, ev);
        return;
    }

    ngx_memcpy(ev->raw.data, e->str.data, e->str.len);
    ev->raw.data[e->str.len] = '\0';

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        ngx_http_b24trigger_rq_free(rq, ev);
        return;
    }

    cln->handler = ngx_http_b24trigger_rq_event_cleanup;
    cln->data = ev;

    why = "too large";

    if (ev->raw.len > NGX_HTTP_B24TRIGGER_RQ_EVENT_MAX
        || ngx_http_b24trigger_event_read(&ev->rec, ev->raw.data,
                                          ev->raw.len, &why)
           != NGX_OK
        || ev->rec.portal.data == NULL)
    {
        /* not an event of ours: a dead letter as it is, by stream id */

        ngx_log_error(NGX_LOG_ERR, &rq->log, 0,
                      "b24trigger: queue entry \"%V\" is not an event "
                      "(%s), moved to dead letters as it is",
                      &ev->sid, why ? why : "unreadable");

        ngx_http_b24trigger_rq_settle(rq, ev, "h",
                                      &ngx_http_b24trigger_rq_dead_key,
                                      &ev->sid, ev->raw.data, ev->raw.len);
        return;
    }

    ev->parsed = 1;

    ev->call.target = ev->rec.target;
    ev->call.code = ev->rec.code;
    ev->call.method = ev->rec.method;

    if (ev->rec.dead) {
        ngx_log_error(NGX_LOG_NOTICE, &rq->log, 0,
                      "b24trigger: dead letter \"%V\" replayed",
                      ngx_http_b24trigger_log_value(pool, &ev->rec.id));

        if (ngx_http_b24trigger_event_replay(&ev->rec,
                                             ngx_http_b24trigger_rq_now())
            != NGX_OK)
        {
            ngx_http_b24trigger_rq_free(rq, ev);
            return;
        }
    }

    ev->portal = ngx_http_b24trigger_portal_find(rq->bmcf, &ev->rec.portal);

    if (ev->portal == NULL) {
        ngx_http_b24trigger_rq_dead(rq, ev, "portal_unknown");
        return;
    }

    ngx_http_b24trigger_rq_start(rq, ev);
}


/* a held event: its call, when its portal's bucket lets it */

static void
ngx_http_b24trigger_rq_start(ngx_http_b24trigger_rq_t *rq,
    ngx_http_b24trigger_rq_event_t *ev)
{
    int64_t     age;
    ngx_uint_t  rc;
    ngx_msec_t  delay;

    if (ev->asking || ev->finding) {
        return;
    }

    age = ngx_http_b24trigger_rq_now() - ev->rec.received;

    if (age > (int64_t) rq->spool->max_age * 1000) {
        ngx_http_b24trigger_rq_dead(rq, ev, "expired");
        return;
    }

    if (ev->rec.lookup.value.len && !ev->found) {
        ngx_http_b24trigger_rq_find(rq, ev);
        return;
    }

    /* the cluster's bucket, as the sync calls of every node take it */

    rc = ngx_http_b24trigger_bucket_take_shared(ev->portal, 0, &delay,
                                            ngx_http_b24trigger_rq_bucket,
                                            ev, &ev->ask);

    if (rc == (ngx_uint_t) NGX_AGAIN) {
        ev->asking = 1;
        return;
    }

    ngx_http_b24trigger_rq_call(rq, ev, rc, delay);
}


static void
ngx_http_b24trigger_rq_bucket(void *data, ngx_uint_t rc, ngx_msec_t delay)
{
    ngx_http_b24trigger_rq_event_t  *ev = data;

    ev->asking = 0;
    ev->ask = NULL;

    if (ngx_http_b24trigger_rq == NULL) {
        return;
    }

    ngx_http_b24trigger_rq_call(ngx_http_b24trigger_rq, ev, rc, delay);
}


static void
ngx_http_b24trigger_rq_call(ngx_http_b24trigger_rq_t *rq,
    ngx_http_b24trigger_rq_event_t *ev, ngx_uint_t rc, ngx_msec_t delay)
{
    if (rc != NGX_HTTP_B24TRIGGER_BUCKET_OK) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, &rq->log, 0,
                       "b24trigger queue redis: portal \"%V\" busy for %M ms",
                       &ev->portal->name, delay);

        delay = ngx_min(ngx_max(delay, 1), NGX_HTTP_B24TRIGGER_RQ_IDLE_MS);

        if (rq->busy == 0 || delay < rq->busy) {
            rq->busy = delay;
        }

        ngx_http_b24trigger_rq_kick(delay);
        return;
    }

    if (!ev->found) {
        /* a lookup counted the attempt already */
        ev->rec.attempts++;
    }

    ev->call.portal = ev->portal;
    ev->call.pool = ev->pool;
    ev->call.log = &rq->log;
    ev->call.done = ngx_http_b24trigger_rq_done;
    ev->call.data = ev;

    if (ngx_http_b24trigger_call_start(&ev->call) != NGX_OK) {
        ngx_http_b24trigger_bucket_give_back(ev->portal);

        if (!ev->found) {
            ev->rec.attempts--;
        }

        return;
    }

    ev->calling = 1;
    rq->inflight++;

    ngx_http_b24trigger_stats_add(NGX_HTTP_B24TRIGGER_M_QUEUE_CLAIMED,
                                  &rq->spool->path, NULL, 1);
}


/* the call's outcome: delivered, retried or dead, as the spool decides */

static void
ngx_http_b24trigger_rq_done(ngx_http_b24trigger_call_t *call)
{
    ngx_http_b24trigger_rq_event_t  *ev = call->data;

    ngx_http_b24trigger_rq_t  *rq;

    rq = ngx_http_b24trigger_rq;

    ev->calling = 0;
    rq->inflight--;

    ngx_http_b24trigger_stats_add(NGX_HTTP_B24TRIGGER_M_QUEUE_CLAIMED,
                                  &rq->spool->path, NULL, -1);

    ngx_http_b24trigger_rq_outcome(rq, ev);

    if (!ngx_exiting && !ngx_quit && !ngx_terminate) {
        ngx_http_b24trigger_rq_kick(1);
    }
}


static void
ngx_http_b24trigger_rq_outcome(ngx_http_b24trigger_rq_t *rq,
    ngx_http_b24trigger_rq_event_t *ev)
{
    ngx_str_t                    none;
    const char                  *reason;
    ngx_http_b24trigger_call_t  *call;

    call = &ev->call;

    switch (ngx_http_b24trigger_event_verdict(&ev->rec, call, &reason)) {

    case NGX_HTTP_B24TRIGGER_EVENT_DELIVERED:

        ngx_log_error(NGX_LOG_INFO, &rq->log, 0,
                      "b24trigger: queued event \"%V\" delivered to portal "
                      "\"%V\", target \"%V\" code \"%V\", attempt %ui",
                      ngx_http_b24trigger_log_value(ev->pool, &ev->rec.id),
                      &ev->portal->name,
                      ngx_http_b24trigger_log_value(ev->pool, &call->target),
                      ngx_http_b24trigger_log_value(ev->pool, &call->code),
                      ev->rec.attempts);

        ngx_http_b24trigger_rq_journal(ev, NGX_HTTP_B24TRIGGER_J_DELIVERED,
                                       NULL);

        ngx_str_null(&none);
        ngx_http_b24trigger_rq_settle(rq, ev, "", &none, &none, NULL, 0);
        break;

    case NGX_HTTP_B24TRIGGER_EVENT_DEAD:
        ngx_http_b24trigger_rq_dead(rq, ev, reason);
        break;

    default: /* NGX_HTTP_B24TRIGGER_EVENT_RETRY */
        ngx_http_b24trigger_rq_retry(rq, ev);
        break;
    }
}


/*
 * The target of an event first (b24trigger_lookup): from the lookup's
 * zone at once, or after a call that takes its own place in the portal's
 * bucket, as the spool's delivery finds it
 */

static void
ngx_http_b24trigger_rq_find(ngx_http_b24trigger_rq_t *rq,
    ngx_http_b24trigger_rq_event_t *ev)
{
    ngx_int_t  rc;

    ev->rec.attempts++;

    ev->find.spec = &ev->rec.lookup;
    ev->find.portal = ev->portal;
    ev->find.pool = ev->pool;
    ev->find.log = &rq->log;
    ev->find.wait = 0;
    ev->find.done = ngx_http_b24trigger_rq_found;
    ev->find.data = ev;

    rc = ngx_http_b24trigger_find_start(&ev->find);

    if (rc == NGX_ERROR) {
        /* held: tried again at the next look */
        ev->rec.attempts--;
        return;
    }

    if (rc == NGX_OK) {
        ngx_http_b24trigger_rq_lookup(rq, ev);
        return;
    }

    ev->finding = 1;
}


static void
ngx_http_b24trigger_rq_found(ngx_http_b24trigger_find_t *find)
{
    ngx_http_b24trigger_rq_event_t  *ev = find->data;

    ev->finding = 0;

    if (ngx_http_b24trigger_rq == NULL) {
        return;
    }

    ngx_http_b24trigger_rq_lookup(ngx_http_b24trigger_rq, ev);

    if (!ngx_exiting && !ngx_quit && !ngx_terminate) {
        ngx_http_b24trigger_rq_kick(1);
    }
}


/* what the lookup found: the call, or the event retried or dead */

static void
ngx_http_b24trigger_rq_lookup(ngx_http_b24trigger_rq_t *rq,
    ngx_http_b24trigger_rq_event_t *ev)
{
    ngx_msec_t                   delay;
    ngx_http_b24trigger_find_t  *find;

    find = &ev->find;

    switch (find->result) {

    case NGX_HTTP_B24TRIGGER_FOUND:
        ev->call.target = find->target;
        ev->found = 1;

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, &rq->log, 0,
                       "b24trigger queue redis: \"%V\" is for \"%V\"",
                       &ev->rec.id, &find->target);

        ngx_http_b24trigger_rq_start(rq, ev);
        return;

    case NGX_HTTP_B24TRIGGER_FIND_BUSY:
        ev->rec.attempts--;

        delay = ngx_min(ngx_max(find->delay, 1),
                        NGX_HTTP_B24TRIGGER_RQ_IDLE_MS);

        if (rq->busy == 0 || delay < rq->busy) {
            rq->busy = delay;
        }

        ngx_http_b24trigger_rq_kick(delay);
        return;

    case NGX_HTTP_B24TRIGGER_NOT_FOUND:
    case NGX_HTTP_B24TRIGGER_AMBIGUOUS:
        ev->call.outcome = (find->result == NGX_HTTP_B24TRIGGER_AMBIGUOUS)
                           ? NGX_HTTP_B24TRIGGER_CALL_AMBIGUOUS
                           : NGX_HTTP_B24TRIGGER_CALL_NOT_FOUND;

        ev->call.target = find->call.target;
        ev->call.detail.data = ngx_pnalloc(ev->pool,
                                           sizeof("no  with =") - 1
                                           + sizeof("more than one") - 1
                                           + ev->rec.lookup.entity.len
                                           + ev->rec.lookup.field.len
                                           + ev->rec.lookup.value.len);
        if (ev->call.detail.data == NULL) {
            ev->call.detail.len = 0;

        } else {
            ev->call.detail.len = ngx_sprintf(ev->call.detail.data,
                                   "%s %V with %V=%V",
                                   ev->call.outcome
                                   == NGX_HTTP_B24TRIGGER_CALL_AMBIGUOUS
                                   ? "more than one" : "no",
                                   &ev->rec.lookup.entity,
                                   &ev->rec.lookup.field,
                                   &ev->rec.lookup.value)
                                  - ev->call.detail.data;
        }

        ngx_http_b24trigger_rq_outcome(rq, ev);
        return;

    default:

        /* the portal's error: as the trigger's call would have had it */

        ev->call = find->call;
        ngx_http_b24trigger_rq_outcome(rq, ev);
        return;
    }
}


/*
 * Into the retries, scored by when it is due: backoff doubles from
 * "backoff" up to "backoff_max", each delay drawn from [3/4 d, d]; a
 * portal's OPERATION_TIME_LIMIT block is waited out whole
 */

static void
ngx_http_b24trigger_rq_retry(ngx_http_b24trigger_rq_t *rq,
    ngx_http_b24trigger_rq_event_t *ev)
{
    u_char      *data, *p;
    size_t       len;
    int64_t      now, next;
    ngx_str_t    score;
    ngx_msec_t   delay;

    now = ngx_http_b24trigger_rq_now();

    if (now - ev->rec.received > (int64_t) rq->spool->max_age * 1000) {
        ngx_http_b24trigger_rq_dead(rq, ev, "expired");
        return;
    }

    delay = ngx_http_b24trigger_event_backoff(rq->spool, &ev->rec, &ev->call);

    next = now + delay;

    if (ngx_http_b24trigger_event_failed(&ev->rec, &ev->call,
                           ngx_http_b24trigger_outcome_name(ev->call.outcome),
                           now)
        != NGX_OK
        || ngx_http_b24trigger_event_retry(&ev->rec, next) != NGX_OK)
    {
        goto failed;
    }

    data = ngx_http_b24trigger_event_dump(ev->pool, &ev->rec, 0, &len);
    score.data = ngx_pnalloc(ev->pool, NGX_INT64_LEN);

    if (data == NULL || score.data == NULL) {
        goto failed;
    }

    p = ngx_sprintf(score.data, "%L", next);
    score.len = p - score.data;

    if (len && data[len - 1] == '\n') {
        len--;
    }

    ngx_log_error(NGX_LOG_WARN, &rq->log, 0,
                  "b24trigger: queued event \"%V\" for portal \"%V\" "
                  "target \"%V\" failed (attempt %ui): %s %ui %V%s%V; "
                  "next attempt in %M ms",
                  ngx_http_b24trigger_log_value(ev->pool, &ev->rec.id),
                  &ev->portal->name,
                  ngx_http_b24trigger_log_value(ev->pool, &ev->call.target),
                  ev->rec.attempts,
                  ngx_http_b24trigger_outcome_name(ev->call.outcome),
                  ev->call.status,
                  ngx_http_b24trigger_log_value(ev->pool, &ev->call.error),
                  ev->call.error.len ? " " : "",
                  ngx_http_b24trigger_log_value(ev->pool, &ev->call.detail),
                  delay);

    ngx_http_b24trigger_rq_journal(ev, NGX_HTTP_B24TRIGGER_J_RETRY, NULL);

    ngx_http_b24trigger_rq_settle(rq, ev, "z",
                                  &ngx_http_b24trigger_rq_retries, &score,
                                  data, len);
    return;

failed:

    /* no memory: left pending, taken over after visibility= */

    ngx_http_b24trigger_rq_free(rq, ev);
}


static void
ngx_http_b24trigger_rq_dead(ngx_http_b24trigger_rq_t *rq,
    ngx_http_b24trigger_rq_event_t *ev, const char *reason)
{
    u_char  *data;
    size_t   len;

    if (ev->call.outcome != NGX_HTTP_B24TRIGGER_CALL_OK || ev->call.status) {
        if (ngx_http_b24trigger_event_failed(&ev->rec, &ev->call,
                           ngx_http_b24trigger_outcome_name(ev->call.outcome),
                           ngx_http_b24trigger_rq_now())
            != NGX_OK)
        {
            goto failed;
        }
    }

    if (ngx_http_b24trigger_event_dead(&ev->rec, reason,
                                       ngx_http_b24trigger_rq_now())
        != NGX_OK)
    {
        goto failed;
    }

    data = ngx_http_b24trigger_event_dump(ev->pool, &ev->rec, 0, &len);
    if (data == NULL) {
        goto failed;
    }

    if (len && data[len - 1] == '\n') {
        len--;
    }

    ngx_log_error(NGX_LOG_ERR, &rq->log, 0,
                  "b24trigger: queued event \"%V\" for portal \"%V\" target "
                  "\"%V\" moved to dead letters after %ui attempt%s: %s "
                  "(last: %s %ui \"%V\" \"%V\"); %s",
                  ngx_http_b24trigger_log_value(ev->pool, &ev->rec.id),
                  ngx_http_b24trigger_log_value(ev->pool, &ev->rec.portal),
                  ngx_http_b24trigger_log_value(ev->pool, &ev->call.target),
                  ev->rec.attempts, ev->rec.attempts == 1 ? "" : "s", reason,
                  ngx_http_b24trigger_outcome_name(ev->call.outcome),
                  ev->call.status,
                  ngx_http_b24trigger_log_value(ev->pool, &ev->call.error),
                  ngx_http_b24trigger_log_value(ev->pool,
                                            &ev->call.error_description),
                  ngx_http_b24trigger_call_hint(&ev->call));

    ngx_http_b24trigger_rq_journal(ev, NGX_HTTP_B24TRIGGER_J_DEAD, reason);

    ngx_http_b24trigger_rq_settle(rq, ev, "h",
                                  &ngx_http_b24trigger_rq_dead_key,
                                  &ev->rec.id, data, len);
    return;

failed:

    ngx_http_b24trigger_rq_free(rq, ev);
}


/* the script that settles the entry; sent again until Redis answers */

static void
ngx_http_b24trigger_rq_settle(ngx_http_b24trigger_rq_t *rq,
    ngx_http_b24trigger_rq_event_t *ev, const char *kind, ngx_str_t *key,
    ngx_str_t *field, u_char *value, size_t len)
{
    ngx_str_t  *argv;

    argv = ev->settle;

    ngx_str_set(&argv[0], "EVAL");
    argv[1] = ngx_http_b24trigger_rq_settle_lua;
    ngx_str_set(&argv[2], "2");
    argv[3] = ngx_http_b24trigger_rq_stream;
    argv[4] = key->len ? *key : ngx_http_b24trigger_rq_stream;
    ngx_str_set(&argv[5], NGX_HTTP_B24TRIGGER_RQ_GROUP);
    argv[6] = ev->sid;
    argv[7].data = (u_char *) kind;
    argv[7].len = ngx_strlen(kind);
    argv[8] = *field;
    argv[9].data = value;
    argv[9].len = len;

    if (argv[9].data == NULL) {
        argv[9].data = (u_char *) "";
    }

    if (argv[8].data == NULL) {
        argv[8].data = (u_char *) "";
    }

    /* the event's own id, when it was read: the entry must hold it */

    if (ev->parsed) {
        argv[10] = ev->rec.id;

    } else {
        ngx_str_set(&argv[10], "");
    }

    ngx_http_b24trigger_rq_send_settle(rq, ev);
}


static void
ngx_http_b24trigger_rq_send_settle(ngx_http_b24trigger_rq_t *rq,
    ngx_http_b24trigger_rq_event_t *ev)
{
    ev->unsettled = 1;

    if (ngx_http_b24trigger_redis_command(rq->redis,
                                          ngx_http_b24trigger_rq_settled, ev,
                                          11, ev->settle)
        == NGX_OK)
    {
        ev->unsettled = 0;
        ev->settling = 1;
    }
}


static void
ngx_http_b24trigger_rq_settled(void *data,
    ngx_http_b24trigger_redis_reply_t *reply)
{
    ngx_http_b24trigger_rq_event_t *ev = data;

    ngx_http_b24trigger_rq_t  *rq;

    ev->settling = 0;

    if (ev->orphan) {
        ngx_destroy_pool(ev->pool);
        return;
    }

    rq = ngx_http_b24trigger_rq;

    if (reply && reply->type == NGX_HTTP_B24TRIGGER_REDIS_INTEGER) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, &rq->log, 0,
                       "b24trigger queue redis: \"%V\" settled: %L",
                       &ev->sid, reply->integer);

        ngx_http_b24trigger_rq_free(rq, ev);
        return;
    }

    /* sent again on the next look, when the link is up */

    ev->unsettled = 1;

    if (reply && reply->type == NGX_HTTP_B24TRIGGER_REDIS_ERROR
        && !rq->unsettled_logged)
    {
        rq->unsettled_logged = 1;

        ngx_log_error(NGX_LOG_ERR, &rq->log, 0,
                      "b24trigger: queue entry \"%V\" could not be settled "
                      "in Redis: %V; tried again", &ev->sid, &reply->str);
    }
}


/* the event leaves this worker's hands */

static void
ngx_http_b24trigger_rq_free(ngx_http_b24trigger_rq_t *rq,
    ngx_http_b24trigger_rq_event_t *ev)
{
    ngx_queue_remove(&ev->queue);
    rq->nheld--;

    ngx_destroy_pool(ev->pool);
}


/*
 * The worker quits: the entries it holds but has not started are given
 * back at once, "XCLAIM ... IDLE <visibility>" making them as idle as
 * those of a node that died, so that the next worker to look takes them
 * over rather than after visibility=
 */

static void
ngx_http_b24trigger_rq_release(ngx_http_b24trigger_rq_t *rq)
{
    u_char                          *p;
    ngx_str_t                        argv[NGX_HTTP_B24TRIGGER_RQ_BEAT_IDS + 8];
    ngx_uint_t                       n, given;
    ngx_queue_t                     *q, *next;
    ngx_http_b24trigger_rq_event_t  *ev;
    u_char                           idle[NGX_INT_T_LEN];

    if (rq->released || !ngx_http_b24trigger_redis_up(rq->redis)) {
        return;
    }

    rq->released = 1;

    p = ngx_sprintf(idle, "%M", rq->spool->visibility);

    ngx_str_set(&argv[0], "XCLAIM");
    argv[1] = ngx_http_b24trigger_rq_stream;
    ngx_str_set(&argv[2], NGX_HTTP_B24TRIGGER_RQ_GROUP);
    argv[3] = rq->consumer;
    ngx_str_set(&argv[4], "0");

    given = 0;

    do {
        n = 5;

        for (q = ngx_queue_head(&rq->held);
             q != ngx_queue_sentinel(&rq->held)
             && n < NGX_HTTP_B24TRIGGER_RQ_BEAT_IDS + 5;
             q = ngx_queue_next(q))
        {
            ev = ngx_queue_data(q, ngx_http_b24trigger_rq_event_t, queue);

            if (ev->calling || ev->settling || ev->unsettled
                || ev->finding)
            {
                continue;
            }

            if (ev->asking) {
                ngx_http_b24trigger_bucket_cancel(ev->ask);
                ev->asking = 0;
            }

            ev->orphan = 1;          /* given back, freed below */
            argv[n++] = ev->sid;
        }

        if (n == 5) {
            break;
        }

        ngx_str_set(&argv[n], "IDLE");
        argv[n + 1].data = idle;
        argv[n + 1].len = p - idle;
        ngx_str_set(&argv[n + 2], "JUSTID");

        /* the arguments are copied into the link's buffer at once */

        (void) ngx_http_b24trigger_redis_command(rq->redis, NULL, NULL,
                                                 n + 3, argv);

        for (q = ngx_queue_head(&rq->held);
             q != ngx_queue_sentinel(&rq->held);
             q = next)
        {
            next = ngx_queue_next(q);
            ev = ngx_queue_data(q, ngx_http_b24trigger_rq_event_t, queue);

            if (ev->orphan) {
                given++;
                ngx_http_b24trigger_rq_free(rq, ev);
            }
        }

    } while (n == NGX_HTTP_B24TRIGGER_RQ_BEAT_IDS + 5);

    if (given) {
        ngx_log_error(NGX_LOG_NOTICE, &rq->log, 0,
                      "b24trigger: %ui queued event(s) not started given "
                      "back to the cluster on exit", given);
    }
}


/* XCLAIM ... 0 id... JUSTID: the idle time of held entries starts again */

static void
ngx_http_b24trigger_rq_beat(ngx_http_b24trigger_rq_t *rq)
{
    ngx_str_t                        argv[NGX_HTTP_B24TRIGGER_RQ_BEAT_IDS + 6];
    ngx_uint_t                       n;
    ngx_queue_t                     *q;
    ngx_http_b24trigger_rq_event_t  *ev;

    ngx_str_set(&argv[0], "XCLAIM");
    argv[1] = ngx_http_b24trigger_rq_stream;
    ngx_str_set(&argv[2], NGX_HTTP_B24TRIGGER_RQ_GROUP);
    argv[3] = rq->consumer;
    ngx_str_set(&argv[4], "0");

    n = 5;

    for (q = ngx_queue_head(&rq->held);
         q != ngx_queue_sentinel(&rq->held);
         q = ngx_queue_next(q))
    {
        ev = ngx_queue_data(q, ngx_http_b24trigger_rq_event_t, queue);

        argv[n++] = ev->sid;

        if (n == NGX_HTTP_B24TRIGGER_RQ_BEAT_IDS + 5) {
            ngx_str_set(&argv[n], "JUSTID");
            (void) ngx_http_b24trigger_redis_command(rq->redis, NULL, NULL,
                                                     n + 1, argv);
            n = 5;
        }
    }

    if (n > 5) {
        ngx_str_set(&argv[n], "JUSTID");
        (void) ngx_http_b24trigger_redis_command(rq->redis, NULL, NULL,
                                                 n + 1, argv);
    }
}


/* how many consumers of workers gone were removed */

static void
ngx_http_b24trigger_rq_pruned(void *data,
    ngx_http_b24trigger_redis_reply_t *reply)
{
    ngx_http_b24trigger_rq_t  *rq;

    rq = ngx_http_b24trigger_rq;

    if (rq == NULL || reply == NULL) {
        return;
    }

    rq->pruning = 0;

    if (reply->type == NGX_HTTP_B24TRIGGER_REDIS_INTEGER
        && reply->integer > 0)
    {
        ngx_log_error(NGX_LOG_NOTICE, &rq->log, 0,
                      "b24trigger: %L consumer(s) of the queue \"%V\" idle "
                      "for more than %M ms with nothing pending removed "
                      "(workers gone)", reply->integer,
                      &ngx_http_b24trigger_rq_stream,
                      rq->spool->visibility);
    }

    /* NOGROUP (the stream went) and the like: the next look tries again;
       an older Redis without XINFO CONSUMERS's fields leaves them be */
}


/* [depth, dead letters, oldest id]: for b24trigger_status */

static void
ngx_http_b24trigger_rq_counted(void *data,
    ngx_http_b24trigger_redis_reply_t *reply)
{
    u_char                    *p, *last;
    int64_t                    ms;
    ngx_http_b24trigger_rq_t  *rq;

    rq = ngx_http_b24trigger_rq;

    if (rq == NULL || reply == NULL
        || reply->type != NGX_HTTP_B24TRIGGER_REDIS_ARRAY
        || reply->nelts != 3
        || reply->elts[0].type != NGX_HTTP_B24TRIGGER_REDIS_INTEGER
        || reply->elts[1].type != NGX_HTTP_B24TRIGGER_REDIS_INTEGER
        || reply->elts[2].type != NGX_HTTP_B24TRIGGER_REDIS_STRING)
    {
        return;
    }

    ms = 0;
    p = reply->elts[2].str.data;
    last = p + reply->elts[2].str.len;

    for ( /* void */ ; p < last && *p >= '0' && *p <= '9'; p++) {
        ms = ms * 10 + (*p - '0');
    }

    ngx_http_b24trigger_stats_set(NGX_HTTP_B24TRIGGER_M_QUEUE_WAITING,
                                  &rq->spool->path, NULL,
                                  (ngx_atomic_uint_t) reply->elts[0].integer);
    ngx_http_b24trigger_stats_set(NGX_HTTP_B24TRIGGER_M_QUEUE_ARRIVAL,
                                  &rq->spool->path, NULL,
                                  reply->elts[0].integer
                                  ? (ngx_atomic_uint_t) ms : 0);
    ngx_http_b24trigger_stats_set(NGX_HTTP_B24TRIGGER_M_DEAD_LETTERS,
                                  &rq->spool->path, NULL,
                                  (ngx_atomic_uint_t) reply->elts[1].integer);
}


/* once, in the first worker: does Redis keep what it acknowledged? */

static void
ngx_http_b24trigger_rq_check(ngx_http_b24trigger_rq_t *rq)
{
    ngx_str_t  argv[3];

    ngx_str_set(&argv[0], "CONFIG");
    ngx_str_set(&argv[1], "GET");
    ngx_str_set(&argv[2], "appendonly");

    if (ngx_http_b24trigger_redis_command(rq->redis,
                                          ngx_http_b24trigger_rq_checked,
                                          (void *) 1, 3, argv)
        != NGX_OK)
    {
        return;
    }

    ngx_str_set(&argv[2], "appendfsync");

    if (ngx_http_b24trigger_redis_command(rq->redis,
                                          ngx_http_b24trigger_rq_checked,
                                          (void *) 2, 3, argv)
        != NGX_OK)
    {
        return;
    }

    rq->checked = 1;
}


static void
ngx_http_b24trigger_rq_checked(void *data,
    ngx_http_b24trigger_redis_reply_t *reply)
{
    u_char                    *p;
    ngx_str_t                  value, *name, odd;
    ngx_http_b24trigger_rq_t  *rq;

    ngx_str_set(&odd, "an unexpected reply");

    rq = ngx_http_b24trigger_rq;

    if (rq == NULL || reply == NULL) {
        return;
    }

    name = ngx_http_b24trigger_redis_name(rq->redis);

    if (reply->type != NGX_HTTP_B24TRIGGER_REDIS_ARRAY || reply->nelts != 2
        || reply->elts[1].type != NGX_HTTP_B24TRIGGER_REDIS_STRING)
    {
        if (data == (void *) 2) {
            return;
        }

        ngx_log_error(NGX_LOG_WARN, &rq->log, 0,
                      "b24trigger: cannot read the persistence settings of "
                      "\"%V\" (CONFIG GET: %V); an event the queue "
                      "acknowledged is durable only with \"appendonly yes\" "
                      "and \"appendfsync always\"",
                      name,
                      reply->type == NGX_HTTP_B24TRIGGER_REDIS_ERROR
                      ? &reply->str : &odd);

        ngx_memcpy(ngx_http_b24trigger_rq_aof, "?", 2);
        return;
    }

    value = reply->elts[1].str;

    if (data == (void *) 1) {
        p = ngx_cpymem(ngx_http_b24trigger_rq_aof, value.data,
                       ngx_min(value.len,
                               sizeof(ngx_http_b24trigger_rq_aof) - 1));
        *p = '\0';
        return;
    }

    if (ngx_http_b24trigger_rq_aof[0] == '?') {
        return;
    }

    if (ngx_strcmp(ngx_http_b24trigger_rq_aof, "yes") == 0
        && value.len == 6 && ngx_strncmp(value.data, "always", 6) == 0)
    {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, &rq->log, 0,
                  "b24trigger: \"%V\" has appendonly \"%s\" and "
                  "appendfsync \"%V\": an event the queue acknowledged may "
                  "be lost if Redis stops; set \"appendonly yes\" and "
                  "\"appendfsync always\"",
                  name, ngx_http_b24trigger_rq_aof, &value);
}


/*
 * The status API (ngx_http_b24trigger_status_api.c) lists, replays and
 * drops dead letters synchronously: for the Redis queue the request
 * first reads them all (HGETALL, at most DEAD_MAX), and the API runs on
 * that snapshot once Redis answered
 */

#define NGX_HTTP_B24TRIGGER_RQ_DEAD_MAX      10000


typedef struct {
    ngx_http_request_t                   *r;
    ngx_http_b24trigger_dead_fetched_pt   done;
} ngx_http_b24trigger_rq_fetch_t;


static ngx_array_t  *ngx_http_b24trigger_rq_snapshot;


static void
ngx_http_b24trigger_rq_dead_fetched(void *data,
    ngx_http_b24trigger_redis_reply_t *reply)
{
    ngx_http_b24trigger_rq_fetch_t *fetch = data;

    ngx_uint_t                          i, n;
    ngx_array_t                        *snap;
    ngx_keyval_t                       *kv;
    ngx_http_request_t                 *r;
    ngx_http_b24trigger_redis_reply_t  *k, *v;

    r = fetch->r;
    snap = NULL;

    if (reply && reply->type == NGX_HTTP_B24TRIGGER_REDIS_ARRAY) {
        n = ngx_min(reply->nelts / 2, NGX_HTTP_B24TRIGGER_RQ_DEAD_MAX);

        snap = ngx_array_create(r->pool, n + 1, sizeof(ngx_keyval_t));

        for (i = 0; snap && i < n; i++) {
            k = &reply->elts[2 * i];
            v = &reply->elts[2 * i + 1];

            if (k->type != NGX_HTTP_B24TRIGGER_REDIS_STRING
                || v->type != NGX_HTTP_B24TRIGGER_REDIS_STRING)
            {
                continue;
            }

            kv = ngx_array_push(snap);
            if (kv == NULL) {
                snap = NULL;
                break;
            }

            kv->key.len = k->str.len;
            kv->key.data = ngx_pstrdup(r->pool, &k->str);
            kv->value.len = v->str.len;
            kv->value.data = ngx_pstrdup(r->pool, &v->str);

            if (kv->key.data == NULL || kv->value.data == NULL) {
                snap = NULL;
            }
        }
    }

    ngx_http_b24trigger_rq_snapshot = snap;

    fetch->done(r, snap != NULL);

    ngx_http_b24trigger_rq_snapshot = NULL;
}


/* NGX_AGAIN: done(r, ok) is called later; NGX_DECLINED: the link is down */

ngx_int_t
ngx_http_b24trigger_queue_redis_dead_fetch(ngx_http_request_t *r,
    ngx_http_b24trigger_dead_fetched_pt done)
{
    ngx_str_t                         argv[2];
    ngx_http_b24trigger_rq_t         *rq;
    ngx_http_b24trigger_rq_fetch_t   *fetch;

    rq = ngx_http_b24trigger_rq;

    if (rq == NULL) {
        return NGX_DECLINED;
    }

    fetch = ngx_palloc(r->pool, sizeof(ngx_http_b24trigger_rq_fetch_t));
    if (fetch == NULL) {
        return NGX_DECLINED;
    }

    fetch->r = r;
    fetch->done = done;

    ngx_str_set(&argv[0], "HGETALL");
    argv[1] = ngx_http_b24trigger_rq_dead_key;

    if (ngx_http_b24trigger_redis_command(rq->redis,
                                          ngx_http_b24trigger_rq_dead_fetched,
                                          fetch, 2, argv)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    return NGX_AGAIN;
}


/* while done() runs: what Redis gave, or NULL */

ngx_array_t *
ngx_http_b24trigger_queue_redis_dead_snapshot(void)
{
    return ngx_http_b24trigger_rq_snapshot;
}


/*
 * Replay (back into the stream, in one script) or drop a dead letter of
 * the snapshot: sent now, done by Redis in the order sent; NGX_ERROR when
 * the link is down
 */

ngx_int_t
ngx_http_b24trigger_queue_redis_dead_action(ngx_str_t *id, ngx_uint_t replay)
{
    ngx_str_t                  argv[6];
    ngx_http_b24trigger_rq_t  *rq;

    rq = ngx_http_b24trigger_rq;

    if (rq == NULL) {
        return NGX_ERROR;
    }

    if (replay) {
        ngx_str_set(&argv[0], "EVAL");
        argv[1] = ngx_http_b24trigger_rq_replay_lua;
        ngx_str_set(&argv[2], "2");
        argv[3] = ngx_http_b24trigger_rq_dead_key;
        argv[4] = ngx_http_b24trigger_rq_stream;
        argv[5] = *id;

    } else {
        ngx_str_set(&argv[0], "HDEL");
        argv[1] = ngx_http_b24trigger_rq_dead_key;
        argv[2] = *id;
    }

    if (ngx_http_b24trigger_redis_command(rq->redis, NULL, NULL,
                                          replay ? 6 : 3, argv)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rq->counted = 0;
    ngx_http_b24trigger_rq_kick(NGX_HTTP_B24TRIGGER_RQ_POLL_MS);

    return NGX_OK;
}


static void
ngx_http_b24trigger_rq_event_cleanup(void *data)
{
    ngx_http_b24trigger_rq_event_t  *ev = data;

    ngx_http_b24trigger_event_free(&ev->rec);
}


/* the journal's entry for what became of a delivery */

static void
ngx_http_b24trigger_rq_journal(ngx_http_b24trigger_rq_event_t *ev,
    ngx_uint_t result, const char *reason)
{
    ngx_http_b24trigger_journal_event(&ev->rec, &ev->call, result, reason,
                                      ngx_http_b24trigger_rq_now(),
                                      ngx_cycle->log);
}


static int64_t
ngx_http_b24trigger_rq_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + tp->msec;
}
