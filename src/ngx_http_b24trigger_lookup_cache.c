
/*
 * Copyright (C) b24trigger authors
 *
 * The lookups' answers, "b24trigger_lookup_zone NAME:SIZE": a zone of
 * entries keyed by bytes, the oldest evicted first
 * (ngx_http_b24trigger_keyzone.c), where each key (portal, entity,
 * field, value) keeps the id the portal answered, or 0 for "none", until
 * it expires.  Shared by every worker, kept across reloads.  Knows
 * nothing of requests, of the portal or of what a key means.
 */


#include "ngx_http_b24trigger_lookup.h"
#include "ngx_http_b24trigger_keyzone.h"


#define NGX_HTTP_B24TRIGGER_LOOKUP_DIRECTIVE  "b24trigger_lookup_zone"


char *
ngx_http_b24trigger_lookup_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ssize_t     size;
    ngx_str_t  *value, name;

    value = cf->args->elts;

    if (ngx_http_b24trigger_keyzone_parse(cf, &value[1], &name, &size)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_b24trigger_keyzone_add(cf, &name, size,
                                        NGX_HTTP_B24TRIGGER_LOOKUP_DIRECTIVE,
                                        &ngx_http_b24trigger_module)
        == NULL)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* the zone of a name, for a queued event that names it; NULL: none */

ngx_shm_zone_t *
ngx_http_b24trigger_lookup_cache_zone(ngx_cycle_t *cycle, ngx_str_t *name)
{
    return ngx_http_b24trigger_keyzone_named(cycle, name,
                                        NGX_HTTP_B24TRIGGER_LOOKUP_DIRECTIVE,
                                        &ngx_http_b24trigger_module);
}


/*
 * NGX_OK with *id (0: the portal had none) while the answer is fresh;
 * NGX_DECLINED: not known
 */

ngx_int_t
ngx_http_b24trigger_lookup_cache_get(ngx_shm_zone_t *zone, ngx_str_t *key,
    uint64_t *id)
{
    uint32_t                              hash;
    ngx_int_t                             rc;
    ngx_http_b24trigger_keyzone_t        *kz;
    ngx_http_b24trigger_keyzone_entry_t  *e;

    kz = zone->data;
    hash = ngx_crc32_short(key->data, key->len);
    rc = NGX_DECLINED;

    ngx_shmtx_lock(&kz->shpool->mutex);

    e = ngx_http_b24trigger_keyzone_lookup(kz, key, hash);

    if (e != NULL) {

        if (e->expire > ngx_time()) {
            ngx_memcpy(id, ngx_http_b24trigger_keyzone_value(e),
                       sizeof(uint64_t));
            rc = NGX_OK;

        } else {
            ngx_http_b24trigger_keyzone_delete(kz, e);
        }
    }

    ngx_shmtx_unlock(&kz->shpool->mutex);

    return rc;
}


/* the portal's answer, kept for ttl seconds; a full zone forgets the
 * oldest answers first */

void
ngx_http_b24trigger_lookup_cache_put(ngx_shm_zone_t *zone, ngx_str_t *key,
    uint64_t id, time_t ttl)
{
    uint32_t                              hash;
    ngx_http_b24trigger_keyzone_t        *kz;
    ngx_http_b24trigger_keyzone_entry_t  *e;

    /* no zone: a queued event names one the configuration lost */

    if (zone == NULL || ttl <= 0
        || key->len > NGX_HTTP_B24TRIGGER_KEYZONE_KEY_MAX)
    {
        return;
    }

    kz = zone->data;
    hash = ngx_crc32_short(key->data, key->len);

    ngx_shmtx_lock(&kz->shpool->mutex);

    e = ngx_http_b24trigger_keyzone_lookup(kz, key, hash);

    if (e != NULL) {
        ngx_http_b24trigger_keyzone_delete(kz, e);
    }

    e = ngx_http_b24trigger_keyzone_insert(kz, key, hash, sizeof(uint64_t),
                                           0);

    if (e != NULL) {
        e->expire = ngx_time() + ttl;
        ngx_memcpy(ngx_http_b24trigger_keyzone_value(e), &id,
                   sizeof(uint64_t));
    }

    ngx_shmtx_unlock(&kz->shpool->mutex);
}
