
/*
 * Copyright (C) b24trigger authors
 *
 * The portals' rate buckets, in the shared memory zone "b24trigger" that
 * this file alone owns, made whenever a portal is declared: one leaky
 * bucket per portal (rate=, burst=), the block a portal imposed with
 * OPERATION_TIME_LIMIT and the last operating_reset_at it announced.
 * Shared by every worker and by both delivery modes; kept across reloads.
 * Knows nothing of requests, files, tokens or libcurl.
 */


#include "ngx_http_b24trigger_queue.h"


#define NGX_HTTP_B24TRIGGER_BUCKET_ZONE_SIZE  (128 * 1024)

/* the furthest a portal may push its block: ten one-minute baskets */
#define NGX_HTTP_B24TRIGGER_BLOCK_MAX_SEC     660

/* the block of an OPERATION_TIME_LIMIT with no operating_reset_at known */
#define NGX_HTTP_B24TRIGGER_BLOCK_SEC         60


typedef struct ngx_http_b24trigger_bucket_s  ngx_http_b24trigger_bucket_t;

struct ngx_http_b24trigger_bucket_s {
    ngx_http_b24trigger_bucket_t  *next;
    ngx_msec_t                     last;      /* when level was drained */
    uint64_t                       level;     /* calls x 1000 */
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
static void ngx_http_b24trigger_bucket_drain(
    ngx_http_b24trigger_portal_t *portal, ngx_http_b24trigger_bucket_t *b);
static ngx_slab_pool_t *ngx_http_b24trigger_bucket_pool(void);


ngx_int_t
ngx_http_b24trigger_bucket_init_conf(ngx_conf_t *cf,
    ngx_http_b24trigger_main_conf_t *bmcf)
{
    ngx_str_t        name;
    ngx_shm_zone_t  *shm_zone;

    if (bmcf->portals.nelts == 0) {
        return NGX_OK;
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

    bmcf->bucket_zone = shm_zone;

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

            b->last = ngx_current_msec;
            b->level = 0;
            b->blocked = 0;
            b->reset_at = 0;
            b->len = portal[i].name.len;
            ngx_memcpy(b->name, portal[i].name.data, b->len);

            b->next = sh->buckets;
            sh->buckets = b;
        }

        portal[i].bucket = b;
    }

    return NGX_OK;
}


static ngx_slab_pool_t *
ngx_http_b24trigger_bucket_pool(void)
{
    ngx_http_b24trigger_main_conf_t  *bmcf;

    bmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_b24trigger_module);

    return (ngx_slab_pool_t *) bmcf->bucket_zone->shm.addr;
}


/* called with the zone locked */

static void
ngx_http_b24trigger_bucket_drain(ngx_http_b24trigger_portal_t *portal,
    ngx_http_b24trigger_bucket_t *b)
{
    uint64_t          drained, rate;
    ngx_msec_int_t    ms;

    ms = (ngx_msec_int_t) (ngx_current_msec - b->last);

    if (ms <= 0) {
        return;
    }

    /*
     * portal->rate is calls per 1000 s, i.e. thousandths of a call per
     * second; our copy drains 1/20 slower than the portal's own, so that
     * calls sent exactly in step still arrive in step after network jitter
     */

    rate = portal->rate - portal->rate / 20;
    drained = (uint64_t) ms * rate / 1000;

    if (drained == 0) {
        return;
    }

    b->level = (b->level > drained) ? b->level - drained : 0;
    b->last = ngx_current_msec;
}


/*
 * A call may go now (BUCKET_OK, *delay 0), after *delay ms (BUCKET_OK; the
 * place in the bucket is taken: the caller must wait, then call), or not
 * within max_wait (BUCKET_FULL, *delay is when it could).  A portal that
 * blocked us answers BUCKET_BLOCKED with *delay until the block ends.
 */

ngx_uint_t
ngx_http_b24trigger_bucket_level(ngx_http_b24trigger_portal_t *portal)
{
    uint64_t                          level;
    ngx_slab_pool_t                  *shpool;
    ngx_http_b24trigger_bucket_t     *b;

    b = portal->bucket;

    if (b == NULL) {
        return 0;
    }

    shpool = ngx_http_b24trigger_bucket_pool();

    ngx_shmtx_lock(&shpool->mutex);

    ngx_http_b24trigger_bucket_drain(portal, b);
    level = b->level;

    ngx_shmtx_unlock(&shpool->mutex);

    return (ngx_uint_t) ((level + 999) / 1000);
}


ngx_uint_t
ngx_http_b24trigger_bucket_take(ngx_http_b24trigger_portal_t *portal,
    ngx_msec_t max_wait, ngx_msec_t *delay)
{
    int64_t                           excess;
    uint64_t                          rate;
    ngx_uint_t                        rc;
    ngx_slab_pool_t                  *shpool;
    ngx_http_b24trigger_bucket_t     *b;

    b = portal->bucket;
    *delay = 0;

    if (b == NULL) {
        return NGX_HTTP_B24TRIGGER_BUCKET_OK;
    }

    shpool = ngx_http_b24trigger_bucket_pool();

    ngx_shmtx_lock(&shpool->mutex);

    if (b->blocked > ngx_time()) {
        *delay = (ngx_msec_t) (b->blocked - ngx_time()) * 1000;
        rc = NGX_HTTP_B24TRIGGER_BUCKET_BLOCKED;
        goto done;
    }

    ngx_http_b24trigger_bucket_drain(portal, b);

    excess = (int64_t) b->level + 1000 - (int64_t) portal->burst * 1000;

    if (excess <= 0) {
        b->level += 1000;
        rc = NGX_HTTP_B24TRIGGER_BUCKET_OK;
        goto done;
    }

    rate = portal->rate - portal->rate / 20;

    *delay = (ngx_msec_t) ((uint64_t) excess * 1000 / rate + 1);

    if (*delay <= max_wait) {
        b->level += 1000;
        rc = NGX_HTTP_B24TRIGGER_BUCKET_OK;

    } else {
        rc = NGX_HTTP_B24TRIGGER_BUCKET_FULL;
    }

done:

    ngx_shmtx_unlock(&shpool->mutex);

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "b24trigger bucket \"%V\": rc:%ui level:%uL delay:%M",
                   &portal->name, rc, b->level, *delay);

    return rc;
}


/* a place taken but not used */

void
ngx_http_b24trigger_bucket_give_back(ngx_http_b24trigger_portal_t *portal)
{
    ngx_slab_pool_t                  *shpool;
    ngx_http_b24trigger_bucket_t     *b;

    b = portal->bucket;

    if (b == NULL) {
        return;
    }

    shpool = ngx_http_b24trigger_bucket_pool();

    ngx_shmtx_lock(&shpool->mutex);

    b->level = (b->level > 1000) ? b->level - 1000 : 0;

    ngx_shmtx_unlock(&shpool->mutex);
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
    time_t                            now, until;
    ngx_slab_pool_t                  *shpool;
    ngx_http_b24trigger_bucket_t     *b;

    b = call->portal->bucket;

    if (b == NULL) {
        return;
    }

    shpool = ngx_http_b24trigger_bucket_pool();
    now = ngx_time();

    ngx_shmtx_lock(&shpool->mutex);

    if (call->outcome == NGX_HTTP_B24TRIGGER_CALL_OK) {
        if (call->operating_reset_at) {
            b->reset_at = call->operating_reset_at;
        }

    } else if (call->outcome == NGX_HTTP_B24TRIGGER_CALL_RATE_LIMITED) {

        if (call->error.len == sizeof("OPERATION_TIME_LIMIT") - 1
            && ngx_strncmp(call->error.data, "OPERATION_TIME_LIMIT",
                           call->error.len) == 0)
        {
            until = b->reset_at;

            if (until <= now
                || until > now + NGX_HTTP_B24TRIGGER_BLOCK_MAX_SEC)
            {
                until = now + NGX_HTTP_B24TRIGGER_BLOCK_SEC;
            }

            if (until > b->blocked) {
                b->blocked = until;
            }

            call->retry_after = b->blocked - now;

        } else {
            b->level = (uint64_t) call->portal->burst * 1000;
            b->last = ngx_current_msec;
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (call->outcome == NGX_HTTP_B24TRIGGER_CALL_RATE_LIMITED
        && call->retry_after > 1)
    {
        ngx_log_error(NGX_LOG_WARN, call->log, 0,
                      "b24trigger: portal \"%V\" blocks calls with "
                      "OPERATION_TIME_LIMIT, no call before %T s from now",
                      &call->portal->name, call->retry_after);
    }
}
