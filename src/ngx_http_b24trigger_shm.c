
/*
 * Copyright (C) b24trigger authors
 *
 * The module's own shared memory zone, "b24trigger", made whenever a
 * portal is declared: one leaky bucket per portal (rate=, burst=), the
 * block a portal imposed with OPERATION_TIME_LIMIT, the last
 * operating_reset_at it announced, and the byte count of the spool that
 * max_size is checked against, and the token pairs of OAuth portals
 * (ngx_http_b24trigger_oauth.c).  Shared by every worker and by both
 * delivery modes; kept across reloads.  Knows nothing of requests, files
 * or libcurl.
 */


#include "ngx_http_b24trigger_queue.h"


#define NGX_HTTP_B24TRIGGER_SHM_SIZE  (128 * 1024)

/* the furthest a portal may push its block: ten one-minute baskets */
#define NGX_HTTP_B24TRIGGER_BLOCK_MAX  660


typedef struct ngx_http_b24trigger_bucket_s  ngx_http_b24trigger_bucket_t;

struct ngx_http_b24trigger_bucket_s {
    ngx_http_b24trigger_bucket_t  *next;
    ngx_msec_t                     last;      /* when level was drained */
    uint64_t                       level;     /* calls x 1000 */
    time_t                         blocked;   /* no call before this */
    time_t                         reset_at;  /* operating_reset_at */
    void                          *tokens;    /* OAuth portals, oauth.c */
    size_t                         len;
    u_char                         name[1];
};


typedef struct {
    ngx_http_b24trigger_bucket_t  *buckets;
    off_t                          spool_bytes;
} ngx_http_b24trigger_shm_t;


static ngx_int_t ngx_http_b24trigger_shm_init(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_b24trigger_bucket_drain(
    ngx_http_b24trigger_portal_t *portal, ngx_http_b24trigger_bucket_t *b);
static ngx_slab_pool_t *ngx_http_b24trigger_shm_pool(
    ngx_http_b24trigger_main_conf_t *bmcf);


ngx_int_t
ngx_http_b24trigger_shm_add(ngx_conf_t *cf,
    ngx_http_b24trigger_main_conf_t *bmcf)
{
    ngx_str_t        name;
    ngx_shm_zone_t  *shm_zone;

    if (bmcf->portals.nelts == 0) {
        return NGX_OK;
    }

    ngx_str_set(&name, "b24trigger");

    shm_zone = ngx_shared_memory_add(cf, &name, NGX_HTTP_B24TRIGGER_SHM_SIZE,
                                     &ngx_http_b24trigger_module);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "shared memory zone \"b24trigger\" is taken");
        return NGX_ERROR;
    }

    shm_zone->init = ngx_http_b24trigger_shm_init;
    shm_zone->data = bmcf;

    bmcf->shm_zone = shm_zone;

    return NGX_OK;
}


/*
 * Runs in the master at every configuration load: buckets of portals that
 * stay are kept (their level survives a reload), new portals get theirs,
 * and the spool is measured again from disk.
 */

static ngx_int_t
ngx_http_b24trigger_shm_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_b24trigger_main_conf_t  *obmcf = data;

    size_t                            len;
    ngx_uint_t                        i, fresh;
    ngx_slab_pool_t                  *shpool;
    ngx_http_b24trigger_shm_t        *sh;
    ngx_http_b24trigger_bucket_t     *b;
    ngx_http_b24trigger_portal_t     *portal;
    ngx_http_b24trigger_main_conf_t  *bmcf;

    bmcf = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    /* the first point of a load where the worker user is known */

    if (ngx_http_b24trigger_reach_check(bmcf, shm_zone->shm.log) != NGX_OK) {
        return NGX_ERROR;
    }

    if (obmcf == NULL || shpool->data == NULL) {
        sh = ngx_slab_alloc(shpool, sizeof(ngx_http_b24trigger_shm_t));
        if (sh == NULL) {
            return NGX_ERROR;
        }

        sh->buckets = NULL;
        sh->spool_bytes = 0;

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
            b->tokens = NULL;
            b->len = portal[i].name.len;
            ngx_memcpy(b->name, portal[i].name.data, b->len);

            b->next = sh->buckets;
            sh->buckets = b;
        }

        portal[i].bucket = b;

        if (portal[i].oauth) {
            fresh = 0;

            if (b->tokens == NULL) {
                b->tokens = ngx_slab_alloc(shpool,
                                       ngx_http_b24trigger_oauth_shm_size());
                if (b->tokens == NULL) {
                    return NGX_ERROR;
                }

                fresh = 1;
            }

            ngx_http_b24trigger_oauth_shm_init(&portal[i], b->tokens, fresh);
        }
    }

    if (bmcf->spool) {
        sh->spool_bytes = ngx_http_b24trigger_spool_count(shm_zone->shm.log,
                                                          bmcf->spool);
    }

    return NGX_OK;
}


static ngx_slab_pool_t *
ngx_http_b24trigger_shm_pool(ngx_http_b24trigger_main_conf_t *bmcf)
{
    return (ngx_slab_pool_t *) bmcf->shm_zone->shm.addr;
}


/* the zone's lock, for what other files keep in it */

ngx_shmtx_t *
ngx_http_b24trigger_shm_mutex(void)
{
    ngx_http_b24trigger_main_conf_t  *bmcf;

    bmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_b24trigger_module);

    return &ngx_http_b24trigger_shm_pool(bmcf)->mutex;
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
    ngx_http_b24trigger_main_conf_t  *bmcf;

    b = portal->bucket;

    if (b == NULL) {
        return 0;
    }

    bmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_b24trigger_module);
    shpool = ngx_http_b24trigger_shm_pool(bmcf);

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
    ngx_http_b24trigger_main_conf_t  *bmcf;

    b = portal->bucket;
    *delay = 0;

    if (b == NULL) {
        return NGX_HTTP_B24TRIGGER_BUCKET_OK;
    }

    bmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_b24trigger_module);
    shpool = ngx_http_b24trigger_shm_pool(bmcf);

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
    ngx_http_b24trigger_main_conf_t  *bmcf;

    b = portal->bucket;

    if (b == NULL) {
        return;
    }

    bmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_b24trigger_module);
    shpool = ngx_http_b24trigger_shm_pool(bmcf);

    ngx_shmtx_lock(&shpool->mutex);

    b->level = (b->level > 1000) ? b->level - 1000 : 0;

    ngx_shmtx_unlock(&shpool->mutex);
}


/*
 * What a finished call teaches about the portal, for every worker: the
 * operating_reset_at of a success; QUERY_LIMIT_EXCEEDED means the
 * portal's bucket is full whatever ours says; OPERATION_TIME_LIMIT blocks
 * the method until the oldest basket leaves, which is the last
 * operating_reset_at seen (reference/bitrix24-api.md §4.2), else a
 * minute.  call->retry_after is set to the time left.
 */

void
ngx_http_b24trigger_bucket_learn(ngx_http_b24trigger_call_t *call)
{
    time_t                            now, until;
    ngx_slab_pool_t                  *shpool;
    ngx_http_b24trigger_bucket_t     *b;
    ngx_http_b24trigger_main_conf_t  *bmcf;

    b = call->portal->bucket;

    if (b == NULL) {
        return;
    }

    bmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_b24trigger_module);
    shpool = ngx_http_b24trigger_shm_pool(bmcf);
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

            if (until <= now || until > now + NGX_HTTP_B24TRIGGER_BLOCK_MAX) {
                until = now + 60;
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


/* max_size: the bytes of events not yet delivered */

ngx_int_t
ngx_http_b24trigger_spool_reserve(ngx_http_b24trigger_main_conf_t *bmcf,
    off_t size)
{
    ngx_int_t                   rc;
    ngx_slab_pool_t            *shpool;
    ngx_http_b24trigger_shm_t  *sh;

    shpool = ngx_http_b24trigger_shm_pool(bmcf);
    sh = shpool->data;

    ngx_shmtx_lock(&shpool->mutex);

    if (sh->spool_bytes + size > bmcf->spool->max_size) {
        rc = NGX_DECLINED;

    } else {
        sh->spool_bytes += size;
        rc = NGX_OK;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return rc;
}


void
ngx_http_b24trigger_spool_release(ngx_http_b24trigger_main_conf_t *bmcf,
    off_t size)
{
    ngx_slab_pool_t            *shpool;
    ngx_http_b24trigger_shm_t  *sh;

    if (bmcf->shm_zone == NULL) {
        return;
    }

    shpool = ngx_http_b24trigger_shm_pool(bmcf);
    sh = shpool->data;

    ngx_shmtx_lock(&shpool->mutex);

    sh->spool_bytes = (sh->spool_bytes > size) ? sh->spool_bytes - size : 0;

    ngx_shmtx_unlock(&shpool->mutex);
}
