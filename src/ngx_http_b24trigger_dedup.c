
/*
 * Copyright (C) b24trigger authors
 *
 * De-duplication: "b24trigger_dedup_zone NAME:SIZE [ttl=]" keeps event keys
 * in shared memory (an rbtree, and an LRU queue that gives way when the
 * zone is full, as limit_req does), and "b24trigger_dedup ZONE KEY" asks it
 * before a webhook is delivered.  A key is in flight while its webhook is
 * being forwarded or queued, remembered for ttl once that succeeded, and
 * forgotten if it failed, so the sender may retry.  Also the JSON reply
 * with Retry-After shared by the queue and the bucket.
 */


#include "ngx_http_b24trigger_queue.h"

#include <ngx_md5.h>


/* how long a key may stay in flight: longer than any call, shorter than
 * a sender's patience; a worker killed mid-call leaves nothing longer */
#define NGX_HTTP_B24TRIGGER_DEDUP_INFLIGHT  120

#define NGX_HTTP_B24TRIGGER_DEDUP_KEY_MAX   256

#define NGX_HTTP_B24TRIGGER_DEDUP_FLIGHT    0
#define NGX_HTTP_B24TRIGGER_DEDUP_DONE      1


typedef struct {
    u_char                         color;
    u_char                         state;
    u_short                        len;
    ngx_queue_t                    queue;
    time_t                         expire;
    u_char                         data[1];
} ngx_http_b24trigger_dedup_node_t;


typedef struct {
    ngx_rbtree_t                   rbtree;
    ngx_rbtree_node_t              sentinel;
    ngx_queue_t                    queue;     /* LRU, newest first */
} ngx_http_b24trigger_dedup_sh_t;


typedef struct {
    ngx_http_b24trigger_dedup_sh_t  *sh;
    ngx_slab_pool_t                 *shpool;
    time_t                           ttl;
} ngx_http_b24trigger_dedup_ctx_t;


/* a key this request holds in flight */

typedef struct {
    ngx_shm_zone_t                  *zone;
    ngx_str_t                        key;
    uint32_t                         hash;
    ngx_log_t                       *log;
    unsigned                         done:1;
} ngx_http_b24trigger_dedup_hold_t;


static ngx_int_t ngx_http_b24trigger_dedup_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_b24trigger_dedup_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_rbtree_node_t *ngx_http_b24trigger_dedup_lookup(
    ngx_http_b24trigger_dedup_ctx_t *ctx, ngx_str_t *key, uint32_t hash);
static ngx_http_b24trigger_dedup_node_t *ngx_http_b24trigger_dedup_alloc(
    ngx_http_b24trigger_dedup_ctx_t *ctx, ngx_str_t *key, uint32_t hash);
static void ngx_http_b24trigger_dedup_free(
    ngx_http_b24trigger_dedup_ctx_t *ctx, ngx_rbtree_node_t *node);
static void ngx_http_b24trigger_dedup_expire(
    ngx_http_b24trigger_dedup_ctx_t *ctx, ngx_uint_t n);
static void ngx_http_b24trigger_dedup_cleanup(void *data);


char *
ngx_http_b24trigger_dedup_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    u_char                           *p;
    ssize_t                           size;
    ngx_str_t                        *value, name, s;
    ngx_uint_t                        i;
    ngx_shm_zone_t                   *shm_zone;
    ngx_http_b24trigger_dedup_ctx_t  *ctx;

    value = cf->args->elts;

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_b24trigger_dedup_ctx_t));
    if (ctx == NULL) {
        return NGX_CONF_ERROR;
    }

    ctx->ttl = 24 * 3600;

    p = (u_char *) ngx_strchr(value[1].data, ':');

    if (p == NULL || p == value[1].data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone \"%V\", expected NAME:SIZE",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    name.data = value[1].data;
    name.len = p - value[1].data;

    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid size of zone \"%V\", at least %uz",
                           &value[1], 8 * ngx_pagesize);
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "ttl=", 4) == 0) {
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            ctx->ttl = ngx_parse_time(&s, 1);
            if (ctx->ttl == (time_t) NGX_ERROR || ctx->ttl == 0) {
                goto invalid;
            }

            continue;
        }

        goto invalid;
    }

    shm_zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_http_b24trigger_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate zone \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    shm_zone->init = ngx_http_b24trigger_dedup_init_zone;
    shm_zone->data = ctx;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


char *
ngx_http_b24trigger_dedup(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_b24trigger_loc_conf_t *blcf = conf;

    ngx_str_t                         *value;
    ngx_http_compile_complex_value_t   ccv;

    if (blcf->dedup_zone != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0 && cf->args->nelts == 2) {
        blcf->dedup_zone = NULL;
        return NGX_CONF_OK;
    }

    if (cf->args->nelts != 3) {
        return "needs a zone and a key, or \"off\"";
    }

    /* a zone declared nowhere fails with "zero size shared memory zone" */

    blcf->dedup_zone = ngx_shared_memory_add(cf, &value[1], 0,
                                             &ngx_http_b24trigger_module);
    if (blcf->dedup_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    blcf->dedup_key = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (blcf->dedup_key == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[2];
    ccv.complex_value = blcf->dedup_key;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_b24trigger_dedup_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_b24trigger_dedup_ctx_t  *octx = data;

    size_t                            len;
    ngx_http_b24trigger_dedup_ctx_t  *ctx;

    ctx = shm_zone->data;

    if (octx) {
        ctx->sh = octx->sh;
        ctx->shpool = octx->shpool;
        return NGX_OK;
    }

    ctx->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        ctx->sh = ctx->shpool->data;
        return NGX_OK;
    }

    ctx->sh = ngx_slab_alloc(ctx->shpool,
                             sizeof(ngx_http_b24trigger_dedup_sh_t));
    if (ctx->sh == NULL) {
        return NGX_ERROR;
    }

    ctx->shpool->data = ctx->sh;

    ngx_rbtree_init(&ctx->sh->rbtree, &ctx->sh->sentinel,
                    ngx_http_b24trigger_dedup_rbtree_insert);
    ngx_queue_init(&ctx->sh->queue);

    len = sizeof(" in b24trigger_dedup_zone \"\"") + shm_zone->shm.name.len;

    ctx->shpool->log_ctx = ngx_slab_alloc(ctx->shpool, len);
    if (ctx->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(ctx->shpool->log_ctx, " in b24trigger_dedup_zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone evicts the oldest keys without a word */

    ctx->shpool->log_nomem = 0;

    return NGX_OK;
}


static void
ngx_http_b24trigger_dedup_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t                 **p;
    ngx_http_b24trigger_dedup_node_t   *dn, *dnt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            dn = (ngx_http_b24trigger_dedup_node_t *) &node->color;
            dnt = (ngx_http_b24trigger_dedup_node_t *) &temp->color;

            p = (ngx_memn2cmp(dn->data, dnt->data, dn->len, dnt->len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/*
 * NGX_DECLINED: go on (no key, or the key is now in flight and held by
 * ctx->dedup); anything else is the reply (duplicate, 409, error).
 */

ngx_int_t
ngx_http_b24trigger_dedup_check(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx)
{
    u_char                            *p;
    time_t                             now;
    uint32_t                           hash;
    ngx_md5_t                          md5;
    ngx_str_t                          key, json;
    ngx_rbtree_node_t                 *node;
    ngx_pool_cleanup_t                *cln;
    ngx_http_b24trigger_dedup_ctx_t   *dctx;
    ngx_http_b24trigger_dedup_node_t  *dn;
    ngx_http_b24trigger_dedup_hold_t  *hold;
    ngx_http_b24trigger_loc_conf_t    *blcf;
    u_char                             digest[16];

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_b24trigger_module);

    if (blcf->dedup_zone == NULL) {
        return NGX_DECLINED;
    }

    if (ngx_http_complex_value(r, blcf->dedup_key, &key) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (key.len == 0) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "b24trigger dedup: empty key");
        return NGX_DECLINED;
    }

    if (key.len > NGX_HTTP_B24TRIGGER_DEDUP_KEY_MAX) {
        ngx_md5_init(&md5);
        ngx_md5_update(&md5, key.data, key.len);
        ngx_md5_final(digest, &md5);

        key.data = ngx_pnalloc(r->pool, sizeof("md5:") - 1 + 32);
        if (key.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_cpymem(key.data, "md5:", 4);
        p = ngx_hex_dump(p, digest, 16);
        key.len = p - key.data;
    }

    hold = ngx_pcalloc(r->pool, sizeof(ngx_http_b24trigger_dedup_hold_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (hold == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    dctx = blcf->dedup_zone->data;
    hash = ngx_crc32_short(key.data, key.len);
    now = ngx_time();

    ngx_shmtx_lock(&dctx->shpool->mutex);

    ngx_http_b24trigger_dedup_expire(dctx, 2);

    node = ngx_http_b24trigger_dedup_lookup(dctx, &key, hash);

    if (node) {
        dn = (ngx_http_b24trigger_dedup_node_t *) &node->color;

        if (dn->expire > now) {

            if (dn->state == NGX_HTTP_B24TRIGGER_DEDUP_DONE) {
                ngx_shmtx_unlock(&dctx->shpool->mutex);

                ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                              "b24trigger: duplicate of \"%V\" not "
                              "forwarded",
                              ngx_http_b24trigger_log_value(r->pool, &key));

                ctx->result = NGX_HTTP_B24TRIGGER_DUPLICATE;
                ngx_str_set(&json, "{\"result\":\"duplicate\"}");

                return ngx_http_b24trigger_reply_success(r, NGX_HTTP_OK,
                                                         &json);
            }

            ngx_shmtx_unlock(&dctx->shpool->mutex);

            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "b24trigger: \"%V\" is in flight, the duplicate "
                          "is answered 409",
                          ngx_http_b24trigger_log_value(r->pool, &key));

            ctx->result = NGX_HTTP_B24TRIGGER_REJECTED;
            ngx_str_set(&ctx->error, "duplicate_in_flight");

            return ngx_http_b24trigger_reply_retry(r, NGX_HTTP_CONFLICT,
                                                   "duplicate_in_flight", 1);
        }

        /* expired: ours now */

        dn->state = NGX_HTTP_B24TRIGGER_DEDUP_FLIGHT;
        dn->expire = now + NGX_HTTP_B24TRIGGER_DEDUP_INFLIGHT;

        ngx_queue_remove(&dn->queue);
        ngx_queue_insert_head(&dctx->sh->queue, &dn->queue);

    } else {
        dn = ngx_http_b24trigger_dedup_alloc(dctx, &key, hash);

        if (dn == NULL) {
            ngx_shmtx_unlock(&dctx->shpool->mutex);

            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "b24trigger: no room for key \"%V\" in "
                          "b24trigger_dedup_zone \"%V\", not de-duplicated",
                          ngx_http_b24trigger_log_value(r->pool, &key),
                          &blcf->dedup_zone->shm.name);
            return NGX_DECLINED;
        }

        dn->state = NGX_HTTP_B24TRIGGER_DEDUP_FLIGHT;
        dn->expire = now + NGX_HTTP_B24TRIGGER_DEDUP_INFLIGHT;
    }

    ngx_shmtx_unlock(&dctx->shpool->mutex);

    hold->zone = blcf->dedup_zone;
    hold->key = key;
    hold->hash = hash;
    hold->log = r->connection->log;

    cln->handler = ngx_http_b24trigger_dedup_cleanup;
    cln->data = hold;

    ctx->dedup = hold;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "b24trigger dedup: \"%V\" in flight",
                   ngx_http_b24trigger_log_value(r->pool, &key));

    return NGX_DECLINED;
}


/* forwarded or queued: the key is remembered for ttl */

void
ngx_http_b24trigger_dedup_commit(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx)
{
    ngx_rbtree_node_t                 *node;
    ngx_http_b24trigger_dedup_ctx_t   *dctx;
    ngx_http_b24trigger_dedup_node_t  *dn;
    ngx_http_b24trigger_dedup_hold_t  *hold;

    hold = ctx->dedup;

    if (hold == NULL || hold->done) {
        return;
    }

    hold->done = 1;
    dctx = hold->zone->data;

    ngx_shmtx_lock(&dctx->shpool->mutex);

    node = ngx_http_b24trigger_dedup_lookup(dctx, &hold->key, hold->hash);

    if (node) {
        dn = (ngx_http_b24trigger_dedup_node_t *) &node->color;

    } else {
        /* evicted while in flight */
        dn = ngx_http_b24trigger_dedup_alloc(dctx, &hold->key, hold->hash);
    }

    if (dn) {
        dn->state = NGX_HTTP_B24TRIGGER_DEDUP_DONE;
        dn->expire = ngx_time() + dctx->ttl;
    }

    ngx_shmtx_unlock(&dctx->shpool->mutex);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "b24trigger dedup: \"%V\" remembered",
                   ngx_http_b24trigger_log_value(r->pool, &hold->key));
}


/*
 * The webhook failed: its key is free again before the sender hears of
 * it, so that an immediate retry is not taken for a duplicate in flight
 */

void
ngx_http_b24trigger_dedup_release(ngx_http_b24trigger_ctx_t *ctx)
{
    if (ctx->dedup != NULL) {
        ngx_http_b24trigger_dedup_cleanup(ctx->dedup);
    }
}


/* the request ends without success: the key is free again */

static void
ngx_http_b24trigger_dedup_cleanup(void *data)
{
    ngx_http_b24trigger_dedup_hold_t  *hold = data;

    ngx_rbtree_node_t                 *node;
    ngx_http_b24trigger_dedup_ctx_t   *dctx;
    ngx_http_b24trigger_dedup_node_t  *dn;

    if (hold->done) {
        return;
    }

    hold->done = 1;

    dctx = hold->zone->data;

    ngx_shmtx_lock(&dctx->shpool->mutex);

    node = ngx_http_b24trigger_dedup_lookup(dctx, &hold->key, hold->hash);

    if (node) {
        dn = (ngx_http_b24trigger_dedup_node_t *) &node->color;

        if (dn->state == NGX_HTTP_B24TRIGGER_DEDUP_FLIGHT) {
            ngx_http_b24trigger_dedup_free(dctx, node);
        }
    }

    ngx_shmtx_unlock(&dctx->shpool->mutex);
}


static ngx_rbtree_node_t *
ngx_http_b24trigger_dedup_lookup(ngx_http_b24trigger_dedup_ctx_t *ctx,
    ngx_str_t *key, uint32_t hash)
{
    ngx_int_t                          rc;
    ngx_rbtree_node_t                 *node, *sentinel;
    ngx_http_b24trigger_dedup_node_t  *dn;

    node = ctx->sh->rbtree.root;
    sentinel = ctx->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        dn = (ngx_http_b24trigger_dedup_node_t *) &node->color;

        rc = ngx_memn2cmp(key->data, dn->data, key->len, (size_t) dn->len);

        if (rc == 0) {
            return node;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/* with the zone locked; the oldest keys give way when it is full */

static ngx_http_b24trigger_dedup_node_t *
ngx_http_b24trigger_dedup_alloc(ngx_http_b24trigger_dedup_ctx_t *ctx,
    ngx_str_t *key, uint32_t hash)
{
    size_t                             size;
    ngx_uint_t                         i;
    ngx_rbtree_node_t                 *node;
    ngx_http_b24trigger_dedup_node_t  *dn;

    size = offsetof(ngx_rbtree_node_t, color)
           + offsetof(ngx_http_b24trigger_dedup_node_t, data)
           + key->len;

    for (i = 0; i < 16; i++) {
        node = ngx_slab_alloc_locked(ctx->shpool, size);

        if (node) {
            break;
        }

        ngx_http_b24trigger_dedup_expire(ctx, 0);
    }

    if (node == NULL) {
        return NULL;
    }

    node->key = hash;

    dn = (ngx_http_b24trigger_dedup_node_t *) &node->color;

    dn->len = (u_short) key->len;
    ngx_memcpy(dn->data, key->data, key->len);

    ngx_rbtree_insert(&ctx->sh->rbtree, node);
    ngx_queue_insert_head(&ctx->sh->queue, &dn->queue);

    return dn;
}


static void
ngx_http_b24trigger_dedup_free(ngx_http_b24trigger_dedup_ctx_t *ctx,
    ngx_rbtree_node_t *node)
{
    ngx_http_b24trigger_dedup_node_t  *dn;

    dn = (ngx_http_b24trigger_dedup_node_t *) &node->color;

    ngx_queue_remove(&dn->queue);
    ngx_rbtree_delete(&ctx->sh->rbtree, node);
    ngx_slab_free_locked(ctx->shpool, node);
}


/*
 * n == 0: evict the oldest key whatever its age (the zone is full), then
 * up to two more expired ones; else remove up to n expired keys
 */

static void
ngx_http_b24trigger_dedup_expire(ngx_http_b24trigger_dedup_ctx_t *ctx,
    ngx_uint_t n)
{
    time_t                             now;
    ngx_queue_t                       *q;
    ngx_rbtree_node_t                 *node;
    ngx_http_b24trigger_dedup_node_t  *dn;

    now = ngx_time();

    if (n == 0) {
        if (ngx_queue_empty(&ctx->sh->queue)) {
            return;
        }

        q = ngx_queue_last(&ctx->sh->queue);
        dn = ngx_queue_data(q, ngx_http_b24trigger_dedup_node_t, queue);
        node = (ngx_rbtree_node_t *)
                   ((u_char *) dn - offsetof(ngx_rbtree_node_t, color));

        ngx_http_b24trigger_dedup_free(ctx, node);
        n = 2;
    }

    while (n-- && !ngx_queue_empty(&ctx->sh->queue)) {
        q = ngx_queue_last(&ctx->sh->queue);
        dn = ngx_queue_data(q, ngx_http_b24trigger_dedup_node_t, queue);

        if (dn->expire > now) {
            return;
        }

        node = (ngx_rbtree_node_t *)
                   ((u_char *) dn - offsetof(ngx_rbtree_node_t, color));

        ngx_http_b24trigger_dedup_free(ctx, node);
    }
}
