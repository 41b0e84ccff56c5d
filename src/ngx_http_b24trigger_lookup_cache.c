
/*
 * Copyright (C) b24trigger authors
 *
 * The lookups' answers, "b24trigger_lookup_zone NAME:SIZE": a zone of
 * shared memory (an rbtree, and an LRU queue that gives way when the zone
 * is full, as limit_req does) where each key (portal, entity, field,
 * value) keeps the id the portal answered, or 0 for "none", until it
 * expires.  Shared by every worker, kept across reloads.  Knows nothing
 * of requests, of the portal or of what a key means.
 */


#include "ngx_http_b24trigger_lookup.h"


/* how far from the oldest end a full zone looks for room */
#define NGX_HTTP_B24TRIGGER_LOOKUP_EVICT  16


typedef struct {
    u_char                         color;
    u_char                         pad;
    u_short                        len;
    ngx_queue_t                    queue;
    time_t                         expire;
    uint64_t                       id;        /* 0: none found */
    u_char                         data[1];
} ngx_http_b24trigger_lookup_node_t;


typedef struct {
    ngx_rbtree_t                   rbtree;
    ngx_rbtree_node_t              sentinel;
    ngx_queue_t                    queue;     /* LRU, newest first */
} ngx_http_b24trigger_lookup_sh_t;


typedef struct {
    ngx_http_b24trigger_lookup_sh_t  *sh;
    ngx_slab_pool_t                  *shpool;
} ngx_http_b24trigger_lookup_ctx_t;


static ngx_int_t ngx_http_b24trigger_lookup_init_zone(
    ngx_shm_zone_t *shm_zone, void *data);
static void ngx_http_b24trigger_lookup_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_rbtree_node_t *ngx_http_b24trigger_lookup_node(
    ngx_http_b24trigger_lookup_ctx_t *ctx, ngx_str_t *key, uint32_t hash);
static void ngx_http_b24trigger_lookup_free(
    ngx_http_b24trigger_lookup_ctx_t *ctx, ngx_rbtree_node_t *node);


char *
ngx_http_b24trigger_lookup_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    u_char                            *p;
    ssize_t                            size;
    ngx_str_t                         *value, name, s;
    ngx_shm_zone_t                    *shm_zone;
    ngx_http_b24trigger_lookup_ctx_t  *ctx;

    value = cf->args->elts;

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

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_b24trigger_lookup_ctx_t));
    if (ctx == NULL) {
        return NGX_CONF_ERROR;
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

    shm_zone->init = ngx_http_b24trigger_lookup_init_zone;
    shm_zone->data = ctx;

    return NGX_CONF_OK;
}


/* the zone of a name, for a queued event that names it; NULL: none */

ngx_shm_zone_t *
ngx_http_b24trigger_lookup_cache_zone(ngx_cycle_t *cycle, ngx_str_t *name)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_shm_zone_t   *shm_zone;

    part = &cycle->shared_memory.part;
    shm_zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            shm_zone = part->elts;
            i = 0;
        }

        if (shm_zone[i].tag == &ngx_http_b24trigger_module
            && shm_zone[i].init == ngx_http_b24trigger_lookup_init_zone
            && shm_zone[i].shm.name.len == name->len
            && ngx_strncmp(shm_zone[i].shm.name.data, name->data, name->len)
               == 0)
        {
            return &shm_zone[i];
        }
    }
}


/*
 * NGX_OK with *id (0: the portal had none) while the answer is fresh;
 * NGX_DECLINED: not known
 */

ngx_int_t
ngx_http_b24trigger_lookup_cache_get(ngx_shm_zone_t *zone, ngx_str_t *key,
    uint64_t *id)
{
    uint32_t                            hash;
    ngx_int_t                           rc;
    ngx_rbtree_node_t                  *node;
    ngx_http_b24trigger_lookup_ctx_t   *ctx;
    ngx_http_b24trigger_lookup_node_t  *ln;

    ctx = zone->data;
    hash = ngx_crc32_short(key->data, key->len);
    rc = NGX_DECLINED;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    node = ngx_http_b24trigger_lookup_node(ctx, key, hash);

    if (node != NULL) {
        ln = (ngx_http_b24trigger_lookup_node_t *) &node->color;

        if (ln->expire > ngx_time()) {
            *id = ln->id;
            rc = NGX_OK;

        } else {
            ngx_http_b24trigger_lookup_free(ctx, node);
        }
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return rc;
}


/* the portal's answer, kept for ttl seconds; a full zone forgets the
 * oldest answers first */

void
ngx_http_b24trigger_lookup_cache_put(ngx_shm_zone_t *zone, ngx_str_t *key,
    uint64_t id, time_t ttl)
{
    size_t                              size;
    uint32_t                            hash;
    ngx_uint_t                          n;
    ngx_queue_t                        *q;
    ngx_rbtree_node_t                  *node;
    ngx_http_b24trigger_lookup_ctx_t   *ctx;
    ngx_http_b24trigger_lookup_node_t  *ln;

    /* no zone: a queued event names one the configuration lost */

    if (zone == NULL || ttl <= 0 || key->len > 65535) {
        return;
    }

    ctx = zone->data;
    hash = ngx_crc32_short(key->data, key->len);

    ngx_shmtx_lock(&ctx->shpool->mutex);

    node = ngx_http_b24trigger_lookup_node(ctx, key, hash);

    if (node != NULL) {
        ngx_http_b24trigger_lookup_free(ctx, node);
    }

    size = offsetof(ngx_rbtree_node_t, color)
           + offsetof(ngx_http_b24trigger_lookup_node_t, data)
           + key->len;

    node = ngx_slab_alloc_locked(ctx->shpool, size);

    for (n = 0; node == NULL && n < NGX_HTTP_B24TRIGGER_LOOKUP_EVICT; n++) {

        if (ngx_queue_empty(&ctx->sh->queue)) {
            break;
        }

        q = ngx_queue_last(&ctx->sh->queue);
        ln = ngx_queue_data(q, ngx_http_b24trigger_lookup_node_t, queue);

        ngx_http_b24trigger_lookup_free(ctx, (ngx_rbtree_node_t *)
                             ((u_char *) ln
                              - offsetof(ngx_rbtree_node_t, color)));

        node = ngx_slab_alloc_locked(ctx->shpool, size);
    }

    if (node == NULL) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return;
    }

    node->key = hash;

    ln = (ngx_http_b24trigger_lookup_node_t *) &node->color;

    ln->len = (u_short) key->len;
    ln->expire = ngx_time() + ttl;
    ln->id = id;
    ngx_memcpy(ln->data, key->data, key->len);

    ngx_rbtree_insert(&ctx->sh->rbtree, node);
    ngx_queue_insert_head(&ctx->sh->queue, &ln->queue);

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


static ngx_int_t
ngx_http_b24trigger_lookup_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_b24trigger_lookup_ctx_t  *octx = data;

    size_t                             len;
    ngx_http_b24trigger_lookup_ctx_t  *ctx;

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
                             sizeof(ngx_http_b24trigger_lookup_sh_t));
    if (ctx->sh == NULL) {
        return NGX_ERROR;
    }

    ctx->shpool->data = ctx->sh;

    ngx_rbtree_init(&ctx->sh->rbtree, &ctx->sh->sentinel,
                    ngx_http_b24trigger_lookup_rbtree_insert);
    ngx_queue_init(&ctx->sh->queue);

    len = sizeof(" in b24trigger_lookup_zone \"\"") + shm_zone->shm.name.len;

    ctx->shpool->log_ctx = ngx_slab_alloc(ctx->shpool, len);
    if (ctx->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(ctx->shpool->log_ctx, " in b24trigger_lookup_zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone forgets its oldest answers without a word */

    ctx->shpool->log_nomem = 0;

    return NGX_OK;
}


static void
ngx_http_b24trigger_lookup_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t                  **p;
    ngx_http_b24trigger_lookup_node_t   *ln, *lnt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            ln = (ngx_http_b24trigger_lookup_node_t *) &node->color;
            lnt = (ngx_http_b24trigger_lookup_node_t *) &temp->color;

            p = (ngx_memn2cmp(ln->data, lnt->data, ln->len, lnt->len) < 0)
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


static ngx_rbtree_node_t *
ngx_http_b24trigger_lookup_node(ngx_http_b24trigger_lookup_ctx_t *ctx,
    ngx_str_t *key, uint32_t hash)
{
    ngx_int_t                           rc;
    ngx_rbtree_node_t                  *node, *sentinel;
    ngx_http_b24trigger_lookup_node_t  *ln;

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

        ln = (ngx_http_b24trigger_lookup_node_t *) &node->color;

        rc = ngx_memn2cmp(key->data, ln->data, key->len, ln->len);

        if (rc == 0) {
            return node;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_http_b24trigger_lookup_free(ngx_http_b24trigger_lookup_ctx_t *ctx,
    ngx_rbtree_node_t *node)
{
    ngx_http_b24trigger_lookup_node_t  *ln;

    ln = (ngx_http_b24trigger_lookup_node_t *) &node->color;

    ngx_queue_remove(&ln->queue);
    ngx_rbtree_delete(&ctx->sh->rbtree, node);
    ngx_slab_free_locked(ctx->shpool, node);
}
