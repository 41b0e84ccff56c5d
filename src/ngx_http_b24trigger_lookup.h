
/*
 * Copyright (C) b24trigger authors
 *
 * The target found by a business key ("b24trigger_lookup"): what a
 * lookup asks (ngx_http_b24trigger_lookup.c, the directive and one
 * lookup's way: the cache, the portal's bucket, the call, the answer)
 * and the answers kept in shared memory
 * (ngx_http_b24trigger_lookup_cache.c, "b24trigger_lookup_zone").  Used
 * by sync requests (ngx_http_b24trigger_handler.c) and by queued
 * deliveries (ngx_http_b24trigger_queue_delivery.c) alike.
 */


#ifndef _NGX_HTTP_B24TRIGGER_LOOKUP_H_INCLUDED_
#define _NGX_HTTP_B24TRIGGER_LOOKUP_H_INCLUDED_


#include "ngx_http_b24trigger.h"


/* a value longer than this is not looked up (Bitrix24 strings: 255) */
#define NGX_HTTP_B24TRIGGER_LOOKUP_VALUE_MAX  255

/* how a lookup ended */
#define NGX_HTTP_B24TRIGGER_FOUND             0
#define NGX_HTTP_B24TRIGGER_NOT_FOUND         1
#define NGX_HTTP_B24TRIGGER_AMBIGUOUS         2
#define NGX_HTTP_B24TRIGGER_FIND_FAILED       3   /* find->call says why */
#define NGX_HTTP_B24TRIGGER_FIND_BUSY         4   /* the portal's bucket */


/*
 * What is looked up: the same for a location (its configuration) and a
 * queued event (its "lookup" member, ngx_http_b24trigger_queue_event.c)
 */

typedef struct {
    ngx_str_t                      entity;     /* "DEAL", "DYNAMIC_128":
                                                  the target's name */
    ngx_str_t                      field;      /* "UF_CRM_ORDER_ID", or
                                                  "PHONE", "EMAIL" */
    ngx_str_t                      value;      /* per request */
    ngx_str_t                      zone;       /* the cache's name */
    time_t                         ttl;
    time_t                         not_found_ttl;   /* 0: not kept */
    ngx_uint_t                     attempts;   /* queue: lookups before a
                                                  dead letter */
} ngx_http_b24trigger_lookup_spec_t;


/* "b24trigger_lookup ENTITY FIELD VALUE zone=NAME ..." of a location */

struct ngx_http_b24trigger_lookup_s {
    ngx_http_b24trigger_lookup_spec_t   spec;
    ngx_http_complex_value_t            value;
    ngx_shm_zone_t                     *zone;
};


typedef struct ngx_http_b24trigger_find_s  ngx_http_b24trigger_find_t;

typedef void (*ngx_http_b24trigger_find_done_pt)(
    ngx_http_b24trigger_find_t *find);


/* one lookup under way */

struct ngx_http_b24trigger_find_s {
    ngx_http_b24trigger_lookup_spec_t  *spec;
    ngx_http_b24trigger_portal_t       *portal;
    ngx_pool_t                         *pool;
    ngx_log_t                          *log;
    ngx_msec_t                          wait;     /* for the bucket */
    ngx_http_b24trigger_find_done_pt    done;
    void                               *data;

    /* the answer */
    ngx_uint_t                          result;
    ngx_str_t                           target;   /* "DEAL_57" if found */
    ngx_uint_t                          bucket;   /* BUSY: FULL, BLOCKED */
    ngx_msec_t                          delay;    /* BUSY: for how long */
    unsigned                            cached:1;

    /* private */
    ngx_shm_zone_t                     *zone;
    ngx_str_t                           key;
    ngx_http_b24trigger_call_t          call;
    ngx_event_t                         timer;
    unsigned                            calling:1;
};


/* ngx_http_b24trigger_lookup.c */
char *ngx_http_b24trigger_lookup_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_b24trigger_find_start(ngx_http_b24trigger_find_t *find);
void ngx_http_b24trigger_find_cancel(ngx_http_b24trigger_find_t *find);
const char *ngx_http_b24trigger_find_error(ngx_uint_t result);

/* ngx_http_b24trigger_lookup_cache.c */
char *ngx_http_b24trigger_lookup_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_shm_zone_t *ngx_http_b24trigger_lookup_cache_zone(ngx_cycle_t *cycle,
    ngx_str_t *name);
ngx_int_t ngx_http_b24trigger_lookup_cache_get(ngx_shm_zone_t *zone,
    ngx_str_t *key, uint64_t *id);
void ngx_http_b24trigger_lookup_cache_put(ngx_shm_zone_t *zone,
    ngx_str_t *key, uint64_t id, time_t ttl);


#endif /* _NGX_HTTP_B24TRIGGER_LOOKUP_H_INCLUDED_ */
