
/*
 * Copyright (C) b24trigger authors
 *
 * The series of the counters (ngx_http_b24trigger_stats.c) as the status
 * location reads them (ngx_http_b24trigger_status.c): the zone's shape,
 * the metrics' names and the latency buckets' labels.  A reader holds the
 * zone's mutex while it walks the series.
 */


#ifndef _NGX_HTTP_B24TRIGGER_STATS_H_INCLUDED_
#define _NGX_HTTP_B24TRIGGER_STATS_H_INCLUDED_


#include "ngx_http_b24trigger.h"


typedef struct {
    ngx_rbtree_t                 rbtree;
    ngx_rbtree_node_t            sentinel;
    ngx_queue_t                  all;
} ngx_http_b24trigger_stats_sh_t;


typedef struct {
    ngx_rbtree_node_t            node;
    ngx_queue_t                  queue;
    ngx_atomic_t                 value;
    u_char                       metric;
    u_char                       len1;
    u_char                       len2;
    u_char                       data[1];   /* label1 label2 */
} ngx_http_b24trigger_stat_t;


typedef struct {
    ngx_http_b24trigger_stats_sh_t  *sh;
    ngx_slab_pool_t                 *shpool;
} ngx_http_b24trigger_stats_ctx_t;


typedef struct {
    char                        *name;      /* Prometheus */
    char                        *json;
    char                        *type;
    char                        *help;
    char                        *label1;
    char                        *label2;
} ngx_http_b24trigger_metric_t;


/* the metrics, in the order of NGX_HTTP_B24TRIGGER_METRICS, NULL-ended */
extern ngx_http_b24trigger_metric_t  ngx_http_b24trigger_metrics[];

/* the latency buckets' "le" labels, the last "+Inf" */
extern ngx_str_t  ngx_http_b24trigger_le[];
extern ngx_uint_t  ngx_http_b24trigger_nle;

/* the zone of this worker, NULL when no counter is configured */
ngx_http_b24trigger_stats_ctx_t *ngx_http_b24trigger_stats_zone(void);


#endif /* _NGX_HTTP_B24TRIGGER_STATS_H_INCLUDED_ */
