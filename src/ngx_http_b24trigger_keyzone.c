
/*
 * Copyright (C) b24trigger authors
 *
 * A zone of entries keyed by bytes, the oldest evicted first: the idiom
 * of limit_req's zone (a slab pool, an rbtree by hash then key, an LRU
 * queue), declared as "NAME:SIZE", kept across reloads, where a full
 * zone makes room by evicting its oldest entries without a word.  An
 * entry has a key, an expiry, a byte of state and a value of its
 * owner's; one marked "keep" is not evicted before it expires.  Owns no
 * zone itself: each owner file (dedup, the lookups' cache) adds its
 * zones here and says what the entries mean.  Calls no other file of
 * the module.
 */


#include "ngx_http_b24trigger_keyzone.h"


/* how far from the oldest end a full zone looks for an entry to evict */
#define NGX_HTTP_B24TRIGGER_KEYZONE_SCAN   64

/* how many entries a full zone evicts at most for one new entry */
#define NGX_HTTP_B24TRIGGER_KEYZONE_EVICT  16


#define ngx_http_b24trigger_keyzone_entry(node)                               \
    ((ngx_http_b24trigger_keyzone_entry_t *) &(node)->color)

#define ngx_http_b24trigger_keyzone_node(e)                                   \
    ((ngx_rbtree_node_t *) ((u_char *) (e)                                    \
                            - offsetof(ngx_rbtree_node_t, color)))


static ngx_int_t ngx_http_b24trigger_keyzone_init(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_b24trigger_keyzone_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_uint_t ngx_http_b24trigger_keyzone_evict(
    ngx_http_b24trigger_keyzone_t *kz);


/* "NAME:SIZE" of a directive's argument, at least 8 pages */

ngx_int_t
ngx_http_b24trigger_keyzone_parse(ngx_conf_t *cf, ngx_str_t *arg,
    ngx_str_t *name, ssize_t *size)
{
    u_char     *p;
    ngx_str_t   s;

    p = (u_char *) ngx_strchr(arg->data, ':');

    if (p == NULL || p == arg->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone \"%V\", expected NAME:SIZE", arg);
        return NGX_ERROR;
    }

    name->data = arg->data;
    name->len = p - arg->data;

    s.data = p + 1;
    s.len = arg->data + arg->len - s.data;

    *size = ngx_parse_size(&s);

    if (*size == NGX_ERROR || *size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid size of zone \"%V\", at least %uz",
                           arg, 8 * ngx_pagesize);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The zone, declared once by the directive named; its keyzone is
 * shm_zone->data
 */

ngx_shm_zone_t *
ngx_http_b24trigger_keyzone_add(ngx_conf_t *cf, ngx_str_t *name,
    ssize_t size, char *directive, void *tag)
{
    ngx_shm_zone_t                 *shm_zone;
    ngx_http_b24trigger_keyzone_t  *kz;

    kz = ngx_pcalloc(cf->pool, sizeof(ngx_http_b24trigger_keyzone_t));
    if (kz == NULL) {
        return NULL;
    }

    kz->directive = directive;

    shm_zone = ngx_shared_memory_add(cf, name, size, tag);
    if (shm_zone == NULL) {
        return NULL;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate zone \"%V\"", name);
        return NULL;
    }

    shm_zone->init = ngx_http_b24trigger_keyzone_init;
    shm_zone->data = kz;

    return shm_zone;
}


/* the zone of that name declared by that directive; NULL: none */

ngx_shm_zone_t *
ngx_http_b24trigger_keyzone_named(ngx_cycle_t *cycle, ngx_str_t *name,
    char *directive, void *tag)
{
    ngx_uint_t                      i;
    ngx_list_part_t                *part;
    ngx_shm_zone_t                 *shm_zone;
    ngx_http_b24trigger_keyzone_t  *kz;

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

        if (shm_zone[i].tag != tag
            || shm_zone[i].init != ngx_http_b24trigger_keyzone_init
            || shm_zone[i].shm.name.len != name->len
            || ngx_strncmp(shm_zone[i].shm.name.data, name->data, name->len)
               != 0)
        {
            continue;
        }

        kz = shm_zone[i].data;

        if (ngx_strcmp(kz->directive, directive) == 0) {
            return &shm_zone[i];
        }
    }
}


/* a reload keeps the entries */

static ngx_int_t
ngx_http_b24trigger_keyzone_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_b24trigger_keyzone_t  *okz = data;

    size_t                          len;
    ngx_http_b24trigger_keyzone_t  *kz;

    kz = shm_zone->data;

    if (okz) {
        kz->sh = okz->sh;
        kz->shpool = okz->shpool;
        return NGX_OK;
    }

    kz->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        kz->sh = kz->shpool->data;
        return NGX_OK;
    }

    kz->sh = ngx_slab_alloc(kz->shpool,
                            sizeof(ngx_http_b24trigger_keyzone_sh_t));
    if (kz->sh == NULL) {
        return NGX_ERROR;
    }

    kz->shpool->data = kz->sh;

    ngx_rbtree_init(&kz->sh->rbtree, &kz->sh->sentinel,
                    ngx_http_b24trigger_keyzone_rbtree_insert);
    ngx_queue_init(&kz->sh->queue);

    len = sizeof(" in  \"\"") + ngx_strlen(kz->directive)
          + shm_zone->shm.name.len;

    kz->shpool->log_ctx = ngx_slab_alloc(kz->shpool, len);
    if (kz->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(kz->shpool->log_ctx, " in %s \"%V\"%Z",
                kz->directive, &shm_zone->shm.name);

    /* a full zone evicts its oldest entries without a word */

    kz->shpool->log_nomem = 0;

    return NGX_OK;
}


static void
ngx_http_b24trigger_keyzone_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t                    **p;
    ngx_http_b24trigger_keyzone_entry_t   *e, *et;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            e = ngx_http_b24trigger_keyzone_entry(node);
            et = ngx_http_b24trigger_keyzone_entry(temp);

            p = (ngx_memn2cmp(e->data, et->data, e->len, et->len) < 0)
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


/* the entry of a key, expired or not; NULL: none */

ngx_http_b24trigger_keyzone_entry_t *
ngx_http_b24trigger_keyzone_lookup(ngx_http_b24trigger_keyzone_t *kz,
    ngx_str_t *key, uint32_t hash)
{
    ngx_int_t                             rc;
    ngx_rbtree_node_t                    *node, *sentinel;
    ngx_http_b24trigger_keyzone_entry_t  *e;

    node = kz->sh->rbtree.root;
    sentinel = kz->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        e = ngx_http_b24trigger_keyzone_entry(node);

        rc = ngx_memn2cmp(key->data, e->data, key->len, (size_t) e->len);

        if (rc == 0) {
            return e;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/*
 * A new entry for a key not in the zone, the newest, with room for a
 * value of value_size bytes; its state, expiry and value are the
 * caller's to set.  A full zone evicts its oldest entries first.  NULL:
 * no room even so.
 */

ngx_http_b24trigger_keyzone_entry_t *
ngx_http_b24trigger_keyzone_insert(ngx_http_b24trigger_keyzone_t *kz,
    ngx_str_t *key, uint32_t hash, size_t value_size, ngx_uint_t keep)
{
    size_t                                size;
    ngx_uint_t                            n;
    ngx_rbtree_node_t                    *node;
    ngx_http_b24trigger_keyzone_entry_t  *e;

    if (key->len > NGX_HTTP_B24TRIGGER_KEYZONE_KEY_MAX) {
        return NULL;
    }

    size = offsetof(ngx_rbtree_node_t, color)
           + offsetof(ngx_http_b24trigger_keyzone_entry_t, data)
           + key->len + value_size;

    node = ngx_slab_alloc_locked(kz->shpool, size);

    for (n = 0; node == NULL && n < NGX_HTTP_B24TRIGGER_KEYZONE_EVICT; n++) {

        if (!ngx_http_b24trigger_keyzone_evict(kz)) {
            break;
        }

        node = ngx_slab_alloc_locked(kz->shpool, size);
    }

    if (node == NULL) {
        return NULL;
    }

    node->key = hash;

    e = ngx_http_b24trigger_keyzone_entry(node);

    e->state = 0;
    e->len = (u_short) key->len;
    e->keep = (u_char) keep;
    e->expire = 0;
    ngx_memcpy(e->data, key->data, key->len);

    ngx_rbtree_insert(&kz->sh->rbtree, node);
    ngx_queue_insert_head(&kz->sh->queue, &e->queue);

    return e;
}


/* the entry becomes the newest */

void
ngx_http_b24trigger_keyzone_touch(ngx_http_b24trigger_keyzone_t *kz,
    ngx_http_b24trigger_keyzone_entry_t *e)
{
    ngx_queue_remove(&e->queue);
    ngx_queue_insert_head(&kz->sh->queue, &e->queue);
}


void
ngx_http_b24trigger_keyzone_delete(ngx_http_b24trigger_keyzone_t *kz,
    ngx_http_b24trigger_keyzone_entry_t *e)
{
    ngx_rbtree_node_t  *node;

    node = ngx_http_b24trigger_keyzone_node(e);

    ngx_queue_remove(&e->queue);
    ngx_rbtree_delete(&kz->sh->rbtree, node);
    ngx_slab_free_locked(kz->shpool, node);
}


/* up to n expired entries removed, from the oldest end */

void
ngx_http_b24trigger_keyzone_expire(ngx_http_b24trigger_keyzone_t *kz,
    ngx_uint_t n)
{
    time_t                                now;
    ngx_queue_t                          *q;
    ngx_http_b24trigger_keyzone_entry_t  *e;

    now = ngx_time();

    while (n-- && !ngx_queue_empty(&kz->sh->queue)) {
        q = ngx_queue_last(&kz->sh->queue);
        e = ngx_queue_data(q, ngx_http_b24trigger_keyzone_entry_t, queue);

        if (e->expire > now) {
            return;
        }

        ngx_http_b24trigger_keyzone_delete(kz, e);
    }
}


/*
 * The zone is full: the oldest entry that may go is evicted, as in
 * limit_req, looking at most SCAN entries from the oldest end; an entry
 * kept within its time never is.  Returns whether one was.
 */

static ngx_uint_t
ngx_http_b24trigger_keyzone_evict(ngx_http_b24trigger_keyzone_t *kz)
{
    time_t                                now;
    ngx_uint_t                            i;
    ngx_queue_t                          *q;
    ngx_http_b24trigger_keyzone_entry_t  *e;

    now = ngx_time();

    for (q = ngx_queue_last(&kz->sh->queue), i = 0;
         q != ngx_queue_sentinel(&kz->sh->queue)
         && i < NGX_HTTP_B24TRIGGER_KEYZONE_SCAN;
         q = ngx_queue_prev(q), i++)
    {
        e = ngx_queue_data(q, ngx_http_b24trigger_keyzone_entry_t, queue);

        if (e->keep && e->expire > now) {
            continue;
        }

        ngx_http_b24trigger_keyzone_delete(kz, e);

        return 1;
    }

    return 0;
}
