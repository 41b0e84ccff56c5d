
/*
 * Copyright (C) b24trigger authors
 *
 * A zone of entries keyed by bytes, the oldest evicted first
 * (ngx_http_b24trigger_keyzone.c): the shape limit_req gives its zone,
 * an rbtree by hash then key and an LRU queue, for the dedup zones
 * (ngx_http_b24trigger_dedup.c) and the lookups' zones
 * (ngx_http_b24trigger_lookup_cache.c).  The owner of a zone says what
 * its entries mean; the calls on entries are made with the zone locked
 * (ngx_shmtx_lock(&kz->shpool->mutex)).
 */


#ifndef _NGX_HTTP_B24TRIGGER_KEYZONE_H_INCLUDED_
#define _NGX_HTTP_B24TRIGGER_KEYZONE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* a key is at most this long */
#define NGX_HTTP_B24TRIGGER_KEYZONE_KEY_MAX  65535


/* an entry, after the rbtree node's key, left, right and parent */

typedef struct {
    u_char                             color;
    u_char                             state;    /* the owner's */
    u_short                            len;      /* of the key */
    u_char                             keep;     /* not evicted before it
                                                    expires */
    ngx_queue_t                        queue;    /* LRU, newest first */
    time_t                             expire;
    u_char                             data[1];  /* the key, then the
                                                    owner's value */
} ngx_http_b24trigger_keyzone_entry_t;


typedef struct {
    ngx_rbtree_t                       rbtree;
    ngx_rbtree_node_t                  sentinel;
    ngx_queue_t                        queue;    /* LRU, newest first */
} ngx_http_b24trigger_keyzone_sh_t;


/* shm_zone->data of a zone */

typedef struct {
    ngx_http_b24trigger_keyzone_sh_t  *sh;
    ngx_slab_pool_t                   *shpool;
    char                              *directive; /* that declares it */
    time_t                             ttl;       /* the owner's */
} ngx_http_b24trigger_keyzone_t;


/* the owner's value of an entry: after its key, unaligned */
#define ngx_http_b24trigger_keyzone_value(e)  ((e)->data + (e)->len)


ngx_int_t ngx_http_b24trigger_keyzone_parse(ngx_conf_t *cf, ngx_str_t *arg,
    ngx_str_t *name, ssize_t *size);
ngx_shm_zone_t *ngx_http_b24trigger_keyzone_add(ngx_conf_t *cf,
    ngx_str_t *name, ssize_t size, char *directive, void *tag);
ngx_shm_zone_t *ngx_http_b24trigger_keyzone_named(ngx_cycle_t *cycle,
    ngx_str_t *name, char *directive, void *tag);

ngx_http_b24trigger_keyzone_entry_t *ngx_http_b24trigger_keyzone_lookup(
    ngx_http_b24trigger_keyzone_t *kz, ngx_str_t *key, uint32_t hash);
ngx_http_b24trigger_keyzone_entry_t *ngx_http_b24trigger_keyzone_insert(
    ngx_http_b24trigger_keyzone_t *kz, ngx_str_t *key, uint32_t hash,
    size_t value_size, ngx_uint_t keep);
void ngx_http_b24trigger_keyzone_touch(ngx_http_b24trigger_keyzone_t *kz,
    ngx_http_b24trigger_keyzone_entry_t *e);
void ngx_http_b24trigger_keyzone_delete(ngx_http_b24trigger_keyzone_t *kz,
    ngx_http_b24trigger_keyzone_entry_t *e);
void ngx_http_b24trigger_keyzone_expire(ngx_http_b24trigger_keyzone_t *kz,
    ngx_uint_t n);


#endif /* _NGX_HTTP_B24TRIGGER_KEYZONE_H_INCLUDED_ */
