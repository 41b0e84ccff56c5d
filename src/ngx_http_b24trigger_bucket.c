
/*
 * Copyright (C) b24trigger authors
 *
 * The portals' rate buckets, in the shared memory zone "b24trigger" that
 * this file alone owns, made whenever a portal is declared: one leaky
 * bucket per portal (rate=, burst=), the block a portal imposed with
 * OPERATION_TIME_LIMIT and the last operating_reset_at it announced.
 * Shared by every worker and by both delivery modes; kept across reloads.
 * The bucket takes no lock: its level is one 64-bit word, the moment it
 * is empty again (GCRA's "theoretical arrival time"), changed by
 * compare-and-swap; a worker preempted in the middle of a take holds
 * nothing the other workers wait for.
 * With "b24trigger_cluster" (bucket=cluster, the default there), a sync
 * call takes its place in one bucket per portal in Redis, shared by every
 * node (a script, so that the level is read and changed at once), and the
 * block of OPERATION_TIME_LIMIT is shared too; the zone's bucket mirrors
 * what Redis said and serves while the link is down.  Knows nothing of
 * requests, files, tokens or libcurl.
 */


#include "ngx_http_b24trigger_queue.h"
#include "ngx_http_b24trigger_redis.h"


#define NGX_HTTP_B24TRIGGER_BUCKET_ZONE_SIZE  (128 * 1024)

/* the furthest a portal may push its block: ten one-minute baskets */
#define NGX_HTTP_B24TRIGGER_BLOCK_MAX_SEC     660

/* the block of an OPERATION_TIME_LIMIT with no operating_reset_at known */
#define NGX_HTTP_B24TRIGGER_BLOCK_SEC         60

/*
 * the furthest ahead, in microseconds, the bucket is empty again: 146,000
 * years; a burst= whose room is more (burst x one call) has this much,
 * rather than a product that wrapped past 64 bits
 */
#define NGX_HTTP_B24TRIGGER_BUCKET_FAR        ((uint64_t) 1 << 62)

/*
 * the most a level (thousandths of a call) is taken as: a million calls,
 * more than any bucket holds, and the moment it makes fits 64 bits
 */
#define NGX_HTTP_B24TRIGGER_BUCKET_LEVEL_MAX  1000000000

/* prefix, "bucket:" and the portal's name */
#define NGX_HTTP_B24TRIGGER_BUCKET_KEY        512


typedef struct ngx_http_b24trigger_bucket_s  ngx_http_b24trigger_bucket_t;

struct ngx_http_b24trigger_bucket_s {
    uint64_t                       empty;     /* us, monotonic clock: the
                                                 bucket is empty from then;
                                                 first, for 8-byte atomics
                                                 on 32-bit machines too */
    ngx_http_b24trigger_bucket_t  *next;
    ngx_uint_t                     rate;      /* the rate= "empty" counts
                                                 calls in (init_zone) */
    time_t                         blocked;   /* no call before this */
    time_t                         reset_at;  /* operating_reset_at */
    size_t                         len;
    u_char                         name[1];
};


typedef struct {
    ngx_http_b24trigger_bucket_t  *buckets;
} ngx_http_b24trigger_bucket_sh_t;


static ngx_int_t ngx_http_b24trigger_bucket_init_zone(
    ngx_shm_zone_t *shm_zone, void *data);
static void ngx_http_b24trigger_bucket_rescale(
    ngx_http_b24trigger_bucket_t *b, ngx_http_b24trigger_portal_t *portal);
static uint64_t ngx_http_b24trigger_bucket_call(
    ngx_http_b24trigger_portal_t *portal);
static uint64_t ngx_http_b24trigger_bucket_call_at(ngx_uint_t rate);
static ngx_inline uint64_t ngx_http_b24trigger_bucket_now(void);
static uint64_t ngx_http_b24trigger_bucket_room(
    ngx_http_b24trigger_portal_t *portal, uint64_t call);
static uint64_t ngx_http_b24trigger_bucket_empty_at(uint64_t now,
    uint64_t level, uint64_t call);
static void ngx_http_b24trigger_bucket_fill(ngx_http_b24trigger_bucket_t *b,
    uint64_t empty);
static void ngx_http_b24trigger_bucket_block(ngx_http_b24trigger_bucket_t *b,
    time_t until);
static void ngx_http_b24trigger_bucket_answered(void *data,
    ngx_http_b24trigger_redis_reply_t *reply);
static void ngx_http_b24trigger_bucket_mirror(
    ngx_http_b24trigger_portal_t *portal, int64_t level, int64_t blocked);
static ngx_int_t ngx_http_b24trigger_bucket_eval(
    ngx_http_b24trigger_portal_t *portal, ngx_str_t *script,
    ngx_msec_t max_wait, ngx_uint_t charge, void *ask);
static void ngx_http_b24trigger_bucket_learn_shared(
    ngx_http_b24trigger_call_t *call, time_t now);


/* a take from the cluster's bucket, waiting for Redis (take_shared()) */

typedef struct {
    ngx_http_b24trigger_bucket_handler_pt   handler;   /* NULL: cancelled */
    void                                   *data;
    ngx_http_b24trigger_portal_t           *portal;
    ngx_msec_t                              max_wait;
} ngx_http_b24trigger_bucket_ask_t;


/*
 * The leaky bucket of one portal in Redis, as the zone's: the level in
 * thousandths of a call, drained at ARGV[1] thousandths of a call per
 * second since "last", on Redis's clock.  ARGV[2] is the burst, ARGV[3]
 * the longest wait, ARGV[4] "1" to take a place whatever the level (a
 * queued call that took one in its node's bucket).  Returns {rc, delay
 * ms, level, ms blocked still}: rc 0 a place (after delay), 1 full, 2
 * blocked by the portal (OPERATION_TIME_LIMIT).
 */

static ngx_str_t  ngx_http_b24trigger_bucket_take_lua = ngx_string(
    "local t = redis.call('TIME') "
    "local now = t[1] * 1000 + math.floor(t[2] / 1000) "
    "local b = redis.call('HMGET', KEYS[1], 'level', 'last', 'blocked') "
    "local level = tonumber(b[1]) or 0 "
    "local last = tonumber(b[2]) or now "
    "local blocked = tonumber(b[3]) or 0 "
    "if blocked > now and ARGV[4] ~= '1' then "
    "return {2, blocked - now, level, blocked - now} end "
    "local rate = tonumber(ARGV[1]) "
    "local drained = math.floor((now - last) * rate / 1000) "
    "if drained > 0 or last > now then "
    "level = math.max(level - drained, 0) last = now end "
    "local excess = level + 1000 - tonumber(ARGV[2]) * 1000 "
    "local rc, delay = 0, 0 "
    "if excess > 0 and ARGV[4] ~= '1' then "
    "delay = math.floor(excess * 1000 / rate) + 1 "
    "if delay > tonumber(ARGV[3]) then rc = 1 end end "
    "if rc == 0 then level = level + 1000 end "
    "redis.call('HSET', KEYS[1], 'level', level, 'last', last) "
    "redis.call('PEXPIRE', KEYS[1], 3600000) "
    "return {rc, delay, level, math.max(blocked - now, 0)}");


/*
 * What a call taught, for every node: ARGV[1] "block" and ARGV[2] the
 * epoch ms before which no call goes (OPERATION_TIME_LIMIT), or "full"
 * and ARGV[2] the burst (QUERY_LIMIT_EXCEEDED: the portal's bucket is
 * full whatever ours says)
 */

static ngx_str_t  ngx_http_b24trigger_bucket_learn_lua = ngx_string(
    "local t = redis.call('TIME') "
    "local now = t[1] * 1000 + math.floor(t[2] / 1000) "
    "if ARGV[1] == 'block' then "
    "local b = tonumber(redis.call('HGET', KEYS[1], 'blocked')) or 0 "
    "if tonumber(ARGV[2]) > b then "
    "redis.call('HSET', KEYS[1], 'blocked', ARGV[2]) end "
    "else "
    "redis.call('HSET', KEYS[1], 'level', tonumber(ARGV[2]) * 1000, "
    "'last', now) end "
    "redis.call('PEXPIRE', KEYS[1], 3600000) "
    "return 1");


ngx_int_t
ngx_http_b24trigger_bucket_init_conf(ngx_conf_t *cf,
    ngx_http_b24trigger_main_conf_t *bmcf)
{
    ngx_str_t                      name;
    ngx_uint_t                     i;
    ngx_shm_zone_t                *shm_zone;
    ngx_http_b24trigger_portal_t  *portal;

    if (bmcf->portals.nelts == 0) {
        return NGX_OK;
    }

    /* bucket=cluster by default where there is a cluster */

    portal = bmcf->portals.elts;

    for (i = 0; i < bmcf->portals.nelts; i++) {

        if (portal[i].bucket_mode == 1 && bmcf->cluster == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"bucket=cluster\" of portal \"%V\" needs "
                               "\"b24trigger_cluster\"", &portal[i].name);
            return NGX_ERROR;
        }

        if (portal[i].bucket_mode != 0) {
            portal[i].cluster = bmcf->cluster;
        }
    }

    ngx_str_set(&name, "b24trigger");

    shm_zone = ngx_shared_memory_add(cf, &name,
                                     NGX_HTTP_B24TRIGGER_BUCKET_ZONE_SIZE,
                                     &ngx_http_b24trigger_module);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "shared memory zone \"b24trigger\" is taken");
        return NGX_ERROR;
    }

    shm_zone->init = ngx_http_b24trigger_bucket_init_zone;
    shm_zone->data = bmcf;

    return NGX_OK;
}


/*
 * Runs in the master at every configuration load: buckets of portals that
 * stay are kept (their level survives a reload), new portals get theirs.
 */

static ngx_int_t
ngx_http_b24trigger_bucket_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_b24trigger_main_conf_t  *obmcf = data;

    size_t                            len;
    ngx_uint_t                        i;
    ngx_slab_pool_t                  *shpool;
    ngx_http_b24trigger_bucket_sh_t  *sh;
    ngx_http_b24trigger_bucket_t     *b;
    ngx_http_b24trigger_portal_t     *portal;
    ngx_http_b24trigger_main_conf_t  *bmcf;

    bmcf = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    /*
     * the first point of a load where the worker user is known and a
     * refusal still keeps the running configuration: the folders of the
     * spool and of OAuth state files are checked here, whoever owns them
     */

    if (ngx_http_b24trigger_reach_check(bmcf, shm_zone->shm.log) != NGX_OK) {
        return NGX_ERROR;
    }

    if (obmcf == NULL || shpool->data == NULL) {
        sh = ngx_slab_alloc(shpool, sizeof(ngx_http_b24trigger_bucket_sh_t));
        if (sh == NULL) {
            return NGX_ERROR;
        }

        sh->buckets = NULL;

        shpool->data = sh;

        len = sizeof(" in b24trigger zone") - 1;

        shpool->log_ctx = ngx_slab_alloc(shpool, len + 1);
        if (shpool->log_ctx == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(shpool->log_ctx, " in b24trigger zone", len + 1);

    } else {
        sh = shpool->data;
    }

    portal = bmcf->portals.elts;

    for (i = 0; i < bmcf->portals.nelts; i++) {

        for (b = sh->buckets; b; b = b->next) {
            if (b->len == portal[i].name.len
                && ngx_strncmp(b->name, portal[i].name.data, b->len) == 0)
            {
                break;
            }
        }

        if (b == NULL) {
            b = ngx_slab_alloc(shpool, sizeof(ngx_http_b24trigger_bucket_t)
                                       + portal[i].name.len);
            if (b == NULL) {
                return NGX_ERROR;
            }

            b->empty = 0;
            b->rate = portal[i].rate;
            b->blocked = 0;
            b->reset_at = 0;
            b->len = portal[i].name.len;
            ngx_memcpy(b->name, portal[i].name.data, b->len);

            b->next = sh->buckets;
            sh->buckets = b;

        } else if (b->rate != portal[i].rate) {
            ngx_http_b24trigger_bucket_rescale(b, &portal[i]);
        }

        portal[i].bucket = b;
    }

    return NGX_OK;
}


/*
 * A reload changed the portal's rate=: the calls the bucket holds stay as
 * many calls (a million at most, as Redis's level), drained at the new
 * rate, as the level in thousandths of a call did; else a bucket filled
 * at 1r/m would refuse calls at 20r/s for the minutes the old calls took
 */

static void
ngx_http_b24trigger_bucket_rescale(ngx_http_b24trigger_bucket_t *b,
    ngx_http_b24trigger_portal_t *portal)
{
    uint64_t  now, empty, was, call, level, to;

    now = ngx_http_b24trigger_bucket_now();
    was = ngx_http_b24trigger_bucket_call_at(b->rate);
    call = ngx_http_b24trigger_bucket_call(portal);

    empty = __atomic_load_n(&b->empty, __ATOMIC_RELAXED);

    do {
        if (empty <= now) {
            break;
        }

        /* thousandths of a call */

        level = ((empty - now) / was
                 >= NGX_HTTP_B24TRIGGER_BUCKET_LEVEL_MAX / 1000)
                ? NGX_HTTP_B24TRIGGER_BUCKET_LEVEL_MAX
                : (empty - now) * 1000 / was;

        to = ngx_http_b24trigger_bucket_empty_at(now, level, call);

    } while (!__atomic_compare_exchange_n(&b->empty, &empty, to, 0,
                                          __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));

    b->rate = portal->rate;
}


/*
 * One call's room in the bucket, in microseconds: the bucket drains 1/20
 * slower than the portal's own (portal->rate is thousandths of a call per
 * second), so that calls sent exactly in step still arrive in step after
 * network jitter.  The level in calls is (empty - now) / this.
 */

static uint64_t
ngx_http_b24trigger_bucket_call(ngx_http_b24trigger_portal_t *portal)
{
    return ngx_http_b24trigger_bucket_call_at(portal->rate);
}


static uint64_t
ngx_http_b24trigger_bucket_call_at(ngx_uint_t rate)
{
    rate -= rate / 20;

    return (rate < 1000000000) ? 1000000000 / rate : 1;
}


/* burst calls' room, in microseconds */

static uint64_t
ngx_http_b24trigger_bucket_room(ngx_http_b24trigger_portal_t *portal,
    uint64_t call)
{
    if (portal->burst > NGX_HTTP_B24TRIGGER_BUCKET_FAR / call) {
        return NGX_HTTP_B24TRIGGER_BUCKET_FAR;
    }

    return (uint64_t) portal->burst * call;
}


/* the moment a bucket of level thousandths of a call is empty again */

static uint64_t
ngx_http_b24trigger_bucket_empty_at(uint64_t now, uint64_t level,
    uint64_t call)
{
    level = ngx_min(level, NGX_HTTP_B24TRIGGER_BUCKET_LEVEL_MAX);

    return now + level * call / 1000;
}


/*
 * now, in the bucket's microseconds of nginx's monotonic clock.  Where
 * ngx_msec_t has 32 bits (i386, armhf) ngx_current_msec wraps every 49.7
 * days of uptime: "now" would fall back 49.7 days below a bucket's
 * "empty", and the bucket refuse every call until then.  There the same
 * clock is read whole (a vDSO call, no system call).
 */

static ngx_inline uint64_t
ngx_http_b24trigger_bucket_now(void)
{
#if (NGX_HAVE_CLOCK_MONOTONIC)
    struct timespec  ts;

    if (sizeof(ngx_msec_t) < sizeof(uint64_t)) {
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);

        return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    }
#endif

    return (uint64_t) ngx_current_msec * 1000;
}


ngx_uint_t
ngx_http_b24trigger_bucket_level(ngx_http_b24trigger_portal_t *portal)
{
    uint64_t                       now, empty, call;
    ngx_http_b24trigger_bucket_t  *b;

    b = portal->bucket;

    if (b == NULL) {
        return 0;
    }

    now = ngx_http_b24trigger_bucket_now();
    empty = __atomic_load_n(&b->empty, __ATOMIC_RELAXED);

    if (empty <= now) {
        return 0;
    }

    call = ngx_http_b24trigger_bucket_call(portal);

    return (ngx_uint_t) ((empty - now + call - 1) / call);
}


/*
 * A call may go now (BUCKET_OK, *delay 0), after *delay ms (BUCKET_OK; the
 * place in the bucket is taken: the caller must wait, then call), or not
 * within max_wait (BUCKET_FULL, *delay is when it could).  A portal that
 * blocked us answers BUCKET_BLOCKED with *delay until the block ends.
 *
 * A place is taken by moving the moment the bucket is empty one call
 * later, from now if it is empty already; whoever moved it last in the
 * meantime makes the compare-and-swap fail, and the take is worked out
 * again on the new value.
 */

ngx_uint_t
ngx_http_b24trigger_bucket_take(ngx_http_b24trigger_portal_t *portal,
    ngx_msec_t max_wait, ngx_msec_t *delay)
{
    time_t                         blocked;
    int64_t                        excess;
    uint64_t                       now, empty, from, call, room;
    ngx_uint_t                     rc;
    ngx_http_b24trigger_bucket_t  *b;

    b = portal->bucket;
    *delay = 0;

    if (b == NULL) {
        return NGX_HTTP_B24TRIGGER_BUCKET_OK;
    }

    blocked = __atomic_load_n(&b->blocked, __ATOMIC_RELAXED);

    if (blocked > ngx_time()) {
        *delay = (ngx_msec_t) (blocked - ngx_time()) * 1000;
        return NGX_HTTP_B24TRIGGER_BUCKET_BLOCKED;
    }

    now = ngx_http_b24trigger_bucket_now();
    call = ngx_http_b24trigger_bucket_call(portal);
    room = ngx_http_b24trigger_bucket_room(portal, call);

    empty = __atomic_load_n(&b->empty, __ATOMIC_RELAXED);

    do {
        from = ngx_max(empty, now);

        /* how far the bucket, with this call, would stand above burst */

        excess = (int64_t) (from + call - now - room);

        if (excess <= 0) {
            *delay = 0;
            rc = NGX_HTTP_B24TRIGGER_BUCKET_OK;

        } else {
            *delay = (ngx_msec_t) (excess / 1000 + 1);

            if (*delay > max_wait) {
                rc = NGX_HTTP_B24TRIGGER_BUCKET_FULL;
                break;
            }

            rc = NGX_HTTP_B24TRIGGER_BUCKET_OK;
        }

    } while (!__atomic_compare_exchange_n(&b->empty, &empty, from + call, 0,
                                          __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "b24trigger bucket \"%V\": rc:%ui empty in:%uLus "
                   "delay:%M", &portal->name, rc,
                   (empty > now) ? empty - now : 0, *delay);

    return rc;
}


/* a place taken but not used: the bucket one call emptier, not below 0 */

void
ngx_http_b24trigger_bucket_give_back(ngx_http_b24trigger_portal_t *portal)
{
    uint64_t                       now, empty, less, call;
    ngx_http_b24trigger_bucket_t  *b;

    b = portal->bucket;

    if (b == NULL) {
        return;
    }

    now = ngx_http_b24trigger_bucket_now();
    call = ngx_http_b24trigger_bucket_call(portal);
    empty = __atomic_load_n(&b->empty, __ATOMIC_RELAXED);

    do {
        if (empty <= now) {
            return;
        }

        /* less than a call in the bucket: empty now (and no wrap below 0
           when the clock itself is younger than a call) */

        less = (empty - now > call) ? empty - call : now;

    } while (!__atomic_compare_exchange_n(&b->empty, &empty, less, 0,
                                          __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
}


/* the bucket as full as another told (Redis, or the portal itself) */

static void
ngx_http_b24trigger_bucket_fill(ngx_http_b24trigger_bucket_t *b,
    uint64_t empty)
{
    __atomic_store_n(&b->empty, empty, __ATOMIC_RELAXED);
}


/* no call before "until": a block only ever grows */

static void
ngx_http_b24trigger_bucket_block(ngx_http_b24trigger_bucket_t *b,
    time_t until)
{
    time_t  blocked;

    blocked = __atomic_load_n(&b->blocked, __ATOMIC_RELAXED);

    while (until > blocked
           && !__atomic_compare_exchange_n(&b->blocked, &blocked, until, 0,
                                           __ATOMIC_RELAXED,
                                           __ATOMIC_RELAXED))
    {
        /* void */
    }
}


/*
 * bucket_take() in the cluster's bucket, for a sync call: NGX_AGAIN and
 * handler(data, rc, delay) once Redis answered (*ask is the take, for
 * ngx_http_b24trigger_bucket_cancel()); or, without a shared bucket or
 * while the link is down, what bucket_take() says, at once
 */

ngx_int_t
ngx_http_b24trigger_bucket_take_shared(ngx_http_b24trigger_portal_t *portal,
    ngx_msec_t max_wait, ngx_msec_t *delay,
    ngx_http_b24trigger_bucket_handler_pt handler, void *data, void **ask)
{
    ngx_http_b24trigger_bucket_ask_t  *a;

    *ask = NULL;

    if (portal->cluster == NULL || portal->bucket == NULL
        || !ngx_http_b24trigger_redis_up(portal->cluster))
    {
        return ngx_http_b24trigger_bucket_take(portal, max_wait, delay);
    }

    a = ngx_alloc(sizeof(ngx_http_b24trigger_bucket_ask_t), ngx_cycle->log);
    if (a == NULL) {
        return ngx_http_b24trigger_bucket_take(portal, max_wait, delay);
    }

    a->handler = handler;
    a->data = data;
    a->portal = portal;
    a->max_wait = max_wait;

    if (ngx_http_b24trigger_bucket_eval(portal,
                                        &ngx_http_b24trigger_bucket_take_lua,
                                        max_wait, 0, a)
        != NGX_OK)
    {
        ngx_free(a);
        return ngx_http_b24trigger_bucket_take(portal, max_wait, delay);
    }

    *ask = a;

    return NGX_AGAIN;
}


/* the waiting request went away: the place, if taken, stays taken */

void
ngx_http_b24trigger_bucket_cancel(void *ask)
{
    ngx_http_b24trigger_bucket_ask_t  *a = ask;

    a->handler = NULL;
    a->data = NULL;
}


/*
 * A queued call took a place in its node's bucket: it takes one in the
 * cluster's too, so that the sync calls of every node count it
 */

void
ngx_http_b24trigger_bucket_charge(ngx_http_b24trigger_portal_t *portal)
{
    if (portal->cluster == NULL
        || !ngx_http_b24trigger_redis_up(portal->cluster))
    {
        return;
    }

    (void) ngx_http_b24trigger_bucket_eval(portal,
                                        &ngx_http_b24trigger_bucket_take_lua,
                                        0, 1, NULL);
}


static ngx_int_t
ngx_http_b24trigger_bucket_eval(ngx_http_b24trigger_portal_t *portal,
    ngx_str_t *script, ngx_msec_t max_wait, ngx_uint_t charge, void *ask)
{
    u_char                                *p;
    ngx_str_t                              argv[8], *prefix;
    ngx_http_b24trigger_redis_handler_pt   handler;
    u_char                                 rate[NGX_INT_T_LEN];
    u_char                                 burst[NGX_INT_T_LEN];
    u_char                                 wait[NGX_INT_T_LEN];
    u_char                                 key[NGX_HTTP_B24TRIGGER_BUCKET_KEY];

    prefix = ngx_http_b24trigger_redis_prefix(portal->cluster);

    if (prefix->len + sizeof("bucket:") - 1 + portal->name.len
        > NGX_HTTP_B24TRIGGER_BUCKET_KEY)
    {
        return NGX_ERROR;
    }

    p = ngx_cpymem(key, prefix->data, prefix->len);
    p = ngx_cpymem(p, "bucket:", sizeof("bucket:") - 1);
    p = ngx_cpymem(p, portal->name.data, portal->name.len);

    ngx_str_set(&argv[0], "EVAL");
    argv[1] = *script;
    ngx_str_set(&argv[2], "1");
    argv[3].data = key;
    argv[3].len = p - key;
    argv[4].data = rate;
    argv[4].len = ngx_sprintf(rate, "%ui", portal->rate - portal->rate / 20)
                  - rate;
    argv[5].data = burst;
    argv[5].len = ngx_sprintf(burst, "%ui", portal->burst) - burst;
    argv[6].data = wait;
    argv[6].len = ngx_sprintf(wait, "%M", max_wait) - wait;
    argv[7].data = (u_char *) (charge ? "1" : "0");
    argv[7].len = 1;

    handler = ask ? ngx_http_b24trigger_bucket_answered : NULL;

    return ngx_http_b24trigger_redis_command(portal->cluster, handler, ask,
                                             8, argv);
}


static void
ngx_http_b24trigger_bucket_answered(void *data,
    ngx_http_b24trigger_redis_reply_t *reply)
{
    ngx_http_b24trigger_bucket_ask_t *a = data;

    void                                   *hd;
    ngx_uint_t                              rc, i;
    ngx_msec_t                              delay;
    ngx_pool_t                             *pool;
    ngx_http_b24trigger_bucket_handler_pt   handler;
    ngx_http_b24trigger_redis_reply_t      *e;
    static ngx_str_t                        unreadable =
                                                ngx_string("an answer "
                                                           "that is no "
                                                           "error");

    handler = a->handler;
    hd = a->data;

    if (reply == NULL || handler == NULL) {
        ngx_free(a);
        return;
    }

    e = reply->elts;

    if (reply->type == NGX_HTTP_B24TRIGGER_REDIS_ARRAY && reply->nelts == 4) {

        for (i = 0; i < 4; i++) {
            if (e[i].type != NGX_HTTP_B24TRIGGER_REDIS_INTEGER
                || e[i].integer < 0)
            {
                break;
            }
        }

        if (i == 4 && e[0].integer <= NGX_HTTP_B24TRIGGER_BUCKET_BLOCKED) {
            rc = (ngx_uint_t) e[0].integer;

            /*
             * what Redis says is input too: a place is never waited for
             * longer than wait=, nor a block longer than a portal may
             * impose one
             */

            delay = (e[1].integer > NGX_HTTP_B24TRIGGER_BLOCK_MAX_SEC * 1000)
                    ? NGX_HTTP_B24TRIGGER_BLOCK_MAX_SEC * 1000
                    : (ngx_msec_t) e[1].integer;

            if (rc == NGX_HTTP_B24TRIGGER_BUCKET_OK && delay > a->max_wait) {
                delay = a->max_wait;
            }

            ngx_http_b24trigger_bucket_mirror(a->portal, e[2].integer,
                                ngx_min(e[3].integer,
                                        NGX_HTTP_B24TRIGGER_BLOCK_MAX_SEC
                                        * 1000));

            ngx_log_debug4(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                           "b24trigger bucket \"%V\" in redis: rc:%ui "
                           "level:%L delay:%M", &a->portal->name, rc,
                           e[2].integer, delay);

            ngx_free(a);
            handler(hd, rc, delay);
            return;
        }
    }

    if (reply->type != NGX_HTTP_B24TRIGGER_REDIS_DOWN) {

        /* Redis's words are input: escaped and capped, as every value */

        pool = ngx_create_pool(512, ngx_cycle->log);

        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "b24trigger: redis refused the bucket of portal "
                      "\"%V\" (\"%V\"), this node's bucket used",
                      &a->portal->name,
                      pool == NULL ? &unreadable
                      : ngx_http_b24trigger_log_value(pool,
                            reply->type == NGX_HTTP_B24TRIGGER_REDIS_ERROR
                            ? &reply->str : &unreadable));

        if (pool) {
            ngx_destroy_pool(pool);
        }
    }

    /* the link went down meanwhile: this node's bucket decides */

    rc = ngx_http_b24trigger_bucket_take(a->portal, a->max_wait, &delay);

    ngx_free(a);
    handler(hd, rc, delay);
}


/* the zone's bucket shows what Redis said, and serves if it goes away */

static void
ngx_http_b24trigger_bucket_mirror(ngx_http_b24trigger_portal_t *portal,
    int64_t level, int64_t blocked)
{
    ngx_http_b24trigger_bucket_t  *b;

    b = portal->bucket;

    ngx_http_b24trigger_bucket_fill(b, ngx_http_b24trigger_bucket_empty_at(
                                   ngx_http_b24trigger_bucket_now(),
                                   (uint64_t) level,
                                   ngx_http_b24trigger_bucket_call(portal)));

    if (blocked) {
        ngx_http_b24trigger_bucket_block(b, ngx_time()
                                         + (time_t) ((blocked + 999) / 1000));
    }
}


/*
 * What a finished call teaches about the portal, for every worker: the
 * operating_reset_at of a success; QUERY_LIMIT_EXCEEDED means the
 * portal's bucket is full whatever ours says; OPERATION_TIME_LIMIT blocks
 * the method until the oldest basket leaves, which is the last
 * operating_reset_at seen (Bitrix24's REST limits: the time a method may
 * use is counted in one-minute baskets over ten minutes), else a minute.
 * call->retry_after is set to the time left.
 */

void
ngx_http_b24trigger_bucket_learn(ngx_http_b24trigger_call_t *call)
{
    time_t                            now, until, reset_at;
    ngx_http_b24trigger_bucket_t     *b;

    b = call->portal->bucket;

    if (b == NULL) {
        return;
    }

    reset_at = __atomic_load_n(&b->reset_at, __ATOMIC_RELAXED);

    if (call->outcome == NGX_HTTP_B24TRIGGER_CALL_OK) {

        /* most answers change nothing: the reset time moves once in ten
           minutes */

        if (call->operating_reset_at
            && call->operating_reset_at != reset_at)
        {
            __atomic_store_n(&b->reset_at, call->operating_reset_at,
                             __ATOMIC_RELAXED);
        }

        return;
    }

    if (call->outcome != NGX_HTTP_B24TRIGGER_CALL_RATE_LIMITED) {
        return;
    }

    now = ngx_time();

    if (call->error.len == sizeof("OPERATION_TIME_LIMIT") - 1
        && ngx_strncmp(call->error.data, "OPERATION_TIME_LIMIT",
                       call->error.len) == 0)
    {
        until = reset_at;

        if (until <= now || until > now + NGX_HTTP_B24TRIGGER_BLOCK_MAX_SEC) {
            until = now + NGX_HTTP_B24TRIGGER_BLOCK_SEC;
        }

        ngx_http_b24trigger_bucket_block(b, until);

        call->retry_after = __atomic_load_n(&b->blocked, __ATOMIC_RELAXED)
                            - now;

    } else {
        ngx_http_b24trigger_bucket_fill(b, ngx_http_b24trigger_bucket_now()
                                + ngx_http_b24trigger_bucket_room(
                                      call->portal,
                                      ngx_http_b24trigger_bucket_call(
                                          call->portal)));
    }

    if (call->outcome == NGX_HTTP_B24TRIGGER_CALL_RATE_LIMITED
        && call->portal->cluster
        && ngx_http_b24trigger_redis_up(call->portal->cluster))
    {
        ngx_http_b24trigger_bucket_learn_shared(call, now);
    }

    if (call->outcome == NGX_HTTP_B24TRIGGER_CALL_RATE_LIMITED
        && call->retry_after > 1)
    {
        ngx_log_error(NGX_LOG_WARN, call->log, 0,
                      "b24trigger: portal \"%V\" blocks calls with "
                      "OPERATION_TIME_LIMIT, no call before %T s from now",
                      &call->portal->name, call->retry_after);
    }
}


/* OPERATION_TIME_LIMIT's block, QUERY_LIMIT_EXCEEDED's full bucket */

static void
ngx_http_b24trigger_bucket_learn_shared(ngx_http_b24trigger_call_t *call,
    time_t now)
{
    u_char                        *p;
    ngx_str_t                      argv[6], *prefix;
    ngx_http_b24trigger_portal_t  *portal;
    u_char                         val[NGX_INT64_LEN];
    u_char                         key[NGX_HTTP_B24TRIGGER_BUCKET_KEY];

    portal = call->portal;
    prefix = ngx_http_b24trigger_redis_prefix(portal->cluster);

    if (prefix->len + sizeof("bucket:") - 1 + portal->name.len
        > NGX_HTTP_B24TRIGGER_BUCKET_KEY)
    {
        return;
    }

    p = ngx_cpymem(key, prefix->data, prefix->len);
    p = ngx_cpymem(p, "bucket:", sizeof("bucket:") - 1);
    p = ngx_cpymem(p, portal->name.data, portal->name.len);

    ngx_str_set(&argv[0], "EVAL");
    argv[1] = ngx_http_b24trigger_bucket_learn_lua;
    ngx_str_set(&argv[2], "1");
    argv[3].data = key;
    argv[3].len = p - key;
    argv[5].data = val;

    if (call->error.len == sizeof("OPERATION_TIME_LIMIT") - 1
        && ngx_strncmp(call->error.data, "OPERATION_TIME_LIMIT",
                       call->error.len) == 0)
    {
        ngx_str_set(&argv[4], "block");
        argv[5].len = ngx_sprintf(val, "%L",
                                  (int64_t) (now + call->retry_after) * 1000)
                      - val;

    } else {
        ngx_str_set(&argv[4], "full");
        argv[5].len = ngx_sprintf(val, "%ui", portal->burst) - val;
    }

    (void) ngx_http_b24trigger_redis_command(portal->cluster, NULL, NULL, 6,
                                             argv);
}
