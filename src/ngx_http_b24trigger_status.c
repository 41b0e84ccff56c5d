
/*
 * Copyright (C) b24trigger authors
 *
 * Counters shared by all workers and kept across reloads, and the
 * b24trigger_status location that shows them as JSON or in the Prometheus
 * text format.  A series is a node in a shared-memory rbtree keyed by its
 * metric and label values; labels come from the configuration (location
 * and portal names) or from small fixed sets (results, reasons, Bitrix24
 * error codes), so the zone does not grow without bound.  Knows nothing
 * about how a webhook is verified or delivered: callers say what happened.
 */


#include "ngx_http_b24trigger.h"


#define NGX_HTTP_B24TRIGGER_STATS_ZONE  "b24trigger_stats"
#define NGX_HTTP_B24TRIGGER_STATS_SIZE  (1024 * 1024)
#define NGX_HTTP_B24TRIGGER_QUEUES_MAX  16
#define NGX_HTTP_B24TRIGGER_STATS_CACHE 256
#define NGX_HTTP_B24TRIGGER_STATS_PENDING 64

/* a label value is kept to this many bytes: its length is one u_char */
#define NGX_HTTP_B24TRIGGER_LABEL_MAX   255

/* a series' key: the metric, the two lengths, the two values */
#define NGX_HTTP_B24TRIGGER_SERIES_KEY_MAX                                    \
    (3 + 2 * NGX_HTTP_B24TRIGGER_LABEL_MAX)


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


/* what this worker added to a series and has not yet added to the zone */

typedef struct {
    ngx_http_b24trigger_stat_t      *stat;
    ngx_atomic_int_t                 delta;
} ngx_http_b24trigger_pending_t;


typedef struct {
    char                        *name;      /* Prometheus */
    char                        *json;
    char                        *type;
    char                        *help;
    char                        *label1;
    char                        *label2;
} ngx_http_b24trigger_metric_t;


typedef struct {
    u_char                      *pos;
    u_char                      *last;
    u_char                      *start;
    ngx_pool_t                  *pool;
} ngx_http_b24trigger_out_t;


static ngx_int_t ngx_http_b24trigger_stats_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_b24trigger_stats_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_http_b24trigger_stat_t *ngx_http_b24trigger_stats_lookup(
    ngx_uint_t metric, ngx_str_t *l1, ngx_str_t *l2);
static void ngx_http_b24trigger_stats_flush_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_b24trigger_stats_log(ngx_http_request_t *r);
static ngx_int_t ngx_http_b24trigger_out(ngx_http_b24trigger_out_t *o,
    size_t len);
static void ngx_http_b24trigger_out_str(ngx_http_b24trigger_out_t *o,
    u_char *s, size_t len, ngx_uint_t json);
static void ngx_http_b24trigger_stats_refresh(ngx_http_request_t *r);
static ngx_int_t ngx_http_b24trigger_status_json(
    ngx_http_b24trigger_out_t *o);
static ngx_int_t ngx_http_b24trigger_status_prometheus(
    ngx_http_b24trigger_out_t *o);


/* the series, made of their one list (ngx_http_b24trigger.h) */

#define NGX_HTTP_B24TRIGGER_METRIC_ROW(id, name, json, type, help, l1, l2)    \
    { name, json, type, help, l1, l2 },

static ngx_http_b24trigger_metric_t  ngx_http_b24trigger_metrics[] = {
    NGX_HTTP_B24TRIGGER_METRICS(NGX_HTTP_B24TRIGGER_METRIC_ROW)
    { NULL, NULL, NULL, NULL, NULL, NULL }
};


/* the latency buckets, in ms, and their "le" labels */

static ngx_msec_t  ngx_http_b24trigger_le_ms[] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000
};

static ngx_str_t  ngx_http_b24trigger_le[] = {
    ngx_string("0.005"), ngx_string("0.01"), ngx_string("0.025"),
    ngx_string("0.05"), ngx_string("0.1"), ngx_string("0.25"),
    ngx_string("0.5"), ngx_string("1"), ngx_string("2.5"),
    ngx_string("5"), ngx_string("10"), ngx_string("30"),
    ngx_string("+Inf")
};


static ngx_http_b24trigger_stats_ctx_t  *ngx_http_b24trigger_stats;

/*
 * the series this worker has used, by hash: a series is never freed and
 * its key never changes, so a hit needs neither the zone's mutex nor a
 * walk down the tree
 */

static ngx_http_b24trigger_stat_t
    *ngx_http_b24trigger_stats_cache[NGX_HTTP_B24TRIGGER_STATS_CACHE];

/* the same series, by the addresses of their labels (no hash of bytes) */

static ngx_http_b24trigger_stat_t
    *ngx_http_b24trigger_stats_fast[NGX_HTTP_B24TRIGGER_STATS_CACHE];

/*
 * A worker's additions, by series, added to the zone once per turn of
 * its event loop (a posted event), not with an atomic operation each:
 * a webhook adds to six series, a busy turn serves many webhooks.  The
 * status location flushes its own worker's first; another worker's
 * reach the zone at the end of its current turn.
 */

static ngx_http_b24trigger_pending_t
    ngx_http_b24trigger_stats_pending[NGX_HTTP_B24TRIGGER_STATS_PENDING];
static ngx_event_t  ngx_http_b24trigger_stats_flush_event;


ngx_int_t
ngx_http_b24trigger_stats_init_conf(ngx_conf_t *cf)
{
    ngx_str_t                         name;
    ngx_shm_zone_t                   *shm_zone;
    ngx_http_handler_pt              *h;
    ngx_http_core_main_conf_t        *cmcf;
    ngx_http_b24trigger_main_conf_t  *bmcf;
    ngx_http_b24trigger_stats_ctx_t  *ctx;

    bmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_b24trigger_module);

    if (!bmcf->used && !bmcf->status) {
        return NGX_OK;
    }

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_b24trigger_stats_ctx_t));
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&name, NGX_HTTP_B24TRIGGER_STATS_ZONE);

    shm_zone = ngx_shared_memory_add(cf, &name,
                                     NGX_HTTP_B24TRIGGER_STATS_SIZE,
                                     &ngx_http_b24trigger_module);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    shm_zone->init = ngx_http_b24trigger_stats_init_zone;
    shm_zone->data = ctx;

    bmcf->stats = ctx;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_b24trigger_stats_log;

    return NGX_OK;
}


void
ngx_http_b24trigger_stats_init_process(ngx_http_b24trigger_main_conf_t *bmcf)
{
    ngx_http_b24trigger_stats = bmcf->stats;

    /* nothing the master may have looked up: the zone may be new */

    ngx_memzero(ngx_http_b24trigger_stats_cache,
                sizeof(ngx_http_b24trigger_stats_cache));
    ngx_memzero(ngx_http_b24trigger_stats_fast,
                sizeof(ngx_http_b24trigger_stats_fast));
    ngx_memzero(ngx_http_b24trigger_stats_pending,
                sizeof(ngx_http_b24trigger_stats_pending));

    ngx_http_b24trigger_stats_flush_event.handler =
        ngx_http_b24trigger_stats_flush_handler;
    ngx_http_b24trigger_stats_flush_event.log = ngx_cycle->log;
}


/* this worker's additions into the zone; before any read or set of it */

void
ngx_http_b24trigger_stats_flush(void)
{
    ngx_uint_t                      i;
    ngx_http_b24trigger_pending_t  *pd;

    if (ngx_http_b24trigger_stats_flush_event.posted) {
        ngx_delete_posted_event(&ngx_http_b24trigger_stats_flush_event);
    }

    pd = ngx_http_b24trigger_stats_pending;

    for (i = 0; i < NGX_HTTP_B24TRIGGER_STATS_PENDING; i++) {
        if (pd[i].stat == NULL) {
            continue;
        }

        if (pd[i].delta) {
            (void) ngx_atomic_fetch_add(&pd[i].stat->value, pd[i].delta);
        }

        pd[i].stat = NULL;
        pd[i].delta = 0;
    }
}


static void
ngx_http_b24trigger_stats_flush_handler(ngx_event_t *ev)
{
    ngx_http_b24trigger_stats_flush();
}


static ngx_int_t
ngx_http_b24trigger_stats_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_b24trigger_stats_ctx_t  *octx = data;

    size_t                            len;
    ngx_http_b24trigger_stats_ctx_t  *ctx;

    ctx = shm_zone->data;

    if (octx) {
        /* a reload: the counters go on */
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
                             sizeof(ngx_http_b24trigger_stats_sh_t));
    if (ctx->sh == NULL) {
        return NGX_ERROR;
    }

    ctx->shpool->data = ctx->sh;

    ngx_rbtree_init(&ctx->sh->rbtree, &ctx->sh->sentinel,
                    ngx_http_b24trigger_stats_insert);
    ngx_queue_init(&ctx->sh->all);

    len = sizeof(" in b24trigger_stats zone");

    ctx->shpool->log_ctx = ngx_slab_alloc(ctx->shpool, len);
    if (ctx->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(ctx->shpool->log_ctx, " in b24trigger_stats zone%Z");

    return NGX_OK;
}


static void
ngx_http_b24trigger_stats_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t          **p;
    ngx_http_b24trigger_stat_t  *s, *st;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            s = (ngx_http_b24trigger_stat_t *) node;
            st = (ngx_http_b24trigger_stat_t *) temp;

            p = (ngx_memn2cmp(&s->metric, &st->metric, 3 + s->len1 + s->len2,
                              3 + st->len1 + st->len2)
                 < 0) ? &temp->left : &temp->right;
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


/* the series' counter, made on first use; NULL if the zone is full */

static ngx_http_b24trigger_stat_t *
ngx_http_b24trigger_stats_lookup(ngx_uint_t metric, ngx_str_t *l1,
    ngx_str_t *l2)
{
    u_char                           *p;
    size_t                            len1, len2, n;
    uint32_t                          hash;
    ngx_rbtree_node_t                *node, *sentinel;
    ngx_http_b24trigger_stat_t       *s, **cache, **fast;
    ngx_http_b24trigger_stats_ctx_t  *ctx;
    u_char                            key[NGX_HTTP_B24TRIGGER_SERIES_KEY_MAX];

    ctx = ngx_http_b24trigger_stats;

    if (ctx == NULL || ctx->sh == NULL) {
        return NULL;
    }

    len1 = ngx_min(l1->len, NGX_HTTP_B24TRIGGER_LABEL_MAX);
    len2 = l2 ? ngx_min(l2->len, NGX_HTTP_B24TRIGGER_LABEL_MAX) : 0;

    /*
     * first by where the labels are: most of them live in the
     * configuration (a location's, a portal's name) or are constants, so
     * the same addresses come back; the bytes are compared all the same
     */

    fast = &ngx_http_b24trigger_stats_fast[
               ((((uintptr_t) l1->data >> 3) * 31
                 + ((uintptr_t) (l2 ? l2->data : NULL) >> 3)) * 31 + metric)
               % NGX_HTTP_B24TRIGGER_STATS_CACHE];
    s = *fast;

    if (s != NULL && s->metric == metric && s->len1 == len1
        && s->len2 == len2
        && ngx_memcmp(s->data, l1->data, len1) == 0
        && (len2 == 0 || ngx_memcmp(s->data + len1, l2->data, len2) == 0))
    {
        return s;
    }

    key[0] = (u_char) metric;
    key[1] = (u_char) len1;
    key[2] = (u_char) len2;
    p = ngx_cpymem(key + 3, l1->data, len1);

    if (len2) {
        p = ngx_cpymem(p, l2->data, len2);
    }

    n = p - key;
    hash = ngx_crc32_short(key, n);

    cache = &ngx_http_b24trigger_stats_cache[hash
                                     % NGX_HTTP_B24TRIGGER_STATS_CACHE];
    s = *cache;

    if (s != NULL && s->node.key == hash
        && ngx_memn2cmp(key, &s->metric, n, 3 + s->len1 + s->len2) == 0)
    {
        *fast = s;
        return s;
    }

    ngx_shmtx_lock(&ctx->shpool->mutex);

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

        s = (ngx_http_b24trigger_stat_t *) node;

        if (ngx_memn2cmp(key, &s->metric, n, 3 + s->len1 + s->len2) == 0) {
            ngx_shmtx_unlock(&ctx->shpool->mutex);
            *cache = s;
            *fast = s;
            return s;
        }

        node = (ngx_memn2cmp(key, &s->metric, n, 3 + s->len1 + s->len2) < 0)
               ? node->left : node->right;
    }

    s = ngx_slab_alloc_locked(ctx->shpool,
                              offsetof(ngx_http_b24trigger_stat_t, data)
                              + len1 + len2);
    if (s == NULL) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return NULL;
    }

    s->node.key = hash;
    s->value = 0;
    ngx_memcpy(&s->metric, key, n);

    ngx_rbtree_insert(&ctx->sh->rbtree, &s->node);
    ngx_queue_insert_tail(&ctx->sh->all, &s->queue);

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    *cache = s;
    *fast = s;

    return s;
}


void
ngx_http_b24trigger_stats_add(ngx_uint_t metric, ngx_str_t *l1,
    ngx_str_t *l2, ngx_atomic_int_t delta)
{
    ngx_http_b24trigger_stat_t     *s;
    ngx_http_b24trigger_pending_t  *pd;

    s = ngx_http_b24trigger_stats_lookup(metric, l1, l2);

    if (s == NULL) {
        return;
    }

    /* no event loop to flush (the master): into the zone at once */

    if (ngx_http_b24trigger_stats_flush_event.handler == NULL) {
        (void) ngx_atomic_fetch_add(&s->value, delta);
        return;
    }

    pd = &ngx_http_b24trigger_stats_pending[((uintptr_t) s >> 4)
                                     % NGX_HTTP_B24TRIGGER_STATS_PENDING];

    if (pd->stat != s) {

        /* another series had the place: its addition goes first */

        if (pd->stat && pd->delta) {
            (void) ngx_atomic_fetch_add(&pd->stat->value, pd->delta);
        }

        pd->stat = s;
        pd->delta = 0;
    }

    pd->delta += delta;

    if (!ngx_http_b24trigger_stats_flush_event.posted) {
        ngx_post_event(&ngx_http_b24trigger_stats_flush_event,
                       &ngx_posted_events);
    }
}


void
ngx_http_b24trigger_stats_set(ngx_uint_t metric, ngx_str_t *l1,
    ngx_str_t *l2, ngx_atomic_uint_t value)
{
    ngx_http_b24trigger_stat_t     *s;
    ngx_http_b24trigger_pending_t  *pd;

    s = ngx_http_b24trigger_stats_lookup(metric, l1, l2);

    if (s == NULL) {
        return;
    }

    /* an addition made before it must not land after it */

    pd = &ngx_http_b24trigger_stats_pending[((uintptr_t) s >> 4)
                                     % NGX_HTTP_B24TRIGGER_STATS_PENDING];

    if (pd->stat == s) {
        pd->delta = 0;
    }

    s->value = value;
}


/* a call to the portal is over: its outcome and how long it took */

void
ngx_http_b24trigger_stats_call(ngx_http_b24trigger_call_t *call)
{
    ngx_str_t   outcome, sum;
    ngx_uint_t  i;

    switch (call->outcome) {

    case NGX_HTTP_B24TRIGGER_CALL_OK:
        ngx_str_set(&outcome, "ok");
        break;

    case NGX_HTTP_B24TRIGGER_CALL_PORTAL_ERROR:
    case NGX_HTTP_B24TRIGGER_CALL_RATE_LIMITED:
        if (call->error.len) {
            outcome = call->error;

        } else {
            ngx_str_set(&outcome, "portal_error");
        }
        break;

    case NGX_HTTP_B24TRIGGER_CALL_UNREACHABLE:
        ngx_str_set(&outcome, "unreachable");
        break;

    case NGX_HTTP_B24TRIGGER_CALL_TIMEOUT:
        ngx_str_set(&outcome, "timeout");
        break;

    case NGX_HTTP_B24TRIGGER_CALL_BAD_RESPONSE:
        ngx_str_set(&outcome, "invalid_response");
        break;

    default:
        ngx_str_set(&outcome, "internal_error");
        break;
    }

    ngx_http_b24trigger_stats_add(NGX_HTTP_B24TRIGGER_M_PORTAL_CALLS,
                                  &call->portal->name, &outcome, 1);

    if (call->outcome == NGX_HTTP_B24TRIGGER_CALL_INTERNAL) {
        return;
    }

    for (i = 0; i < sizeof(ngx_http_b24trigger_le_ms) / sizeof(ngx_msec_t);
         i++)
    {
        if (call->time <= ngx_http_b24trigger_le_ms[i]) {
            break;
        }
    }

    ngx_http_b24trigger_stats_add(NGX_HTTP_B24TRIGGER_M_LATENCY_BUCKET,
                                  &call->portal->name,
                                  &ngx_http_b24trigger_le[i], 1);

    /* the sum in ms, shown in seconds */

    ngx_str_null(&sum);
    ngx_http_b24trigger_stats_add(NGX_HTTP_B24TRIGGER_M_LATENCY_SUM,
                                  &call->portal->name, &sum,
                                  (ngx_atomic_int_t) call->time);
}


/* the log phase: every webhook is counted once, whatever became of it */

static ngx_int_t
ngx_http_b24trigger_stats_log(ngx_http_request_t *r)
{
    ngx_str_t                   result, reason;
    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_b24trigger_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_b24trigger_module);

    if (ctx == NULL || r != r->main) {
        return NGX_OK;
    }

    if (ctx->result == NGX_HTTP_B24TRIGGER_NONE) {

        /* the client went away, or nginx failed before any outcome */

        ctx->result = NGX_HTTP_B24TRIGGER_FAILED;

        if (ctx->error.len == 0) {
            if (r->headers_out.status == NGX_HTTP_CLIENT_CLOSED_REQUEST
                || r->connection->error)
            {
                ngx_str_set(&ctx->error, "client_closed");

            } else {
                ngx_str_set(&ctx->error, "internal_error");
            }
        }
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    result = *ngx_http_b24trigger_result_name(ctx->result);

    ngx_http_b24trigger_stats_add(NGX_HTTP_B24TRIGGER_M_WEBHOOKS,
                                  &clcf->name, &result, 1);

    if (ctx->result == NGX_HTTP_B24TRIGGER_REJECTED) {
        reason = ctx->error;

        if (reason.len == 0) {
            ngx_str_set(&reason, "unknown");
        }

        ngx_http_b24trigger_stats_add(NGX_HTTP_B24TRIGGER_M_REJECTIONS,
                                      &clcf->name, &reason, 1);
    }

    return NGX_OK;
}


/*
 * "b24trigger_status": JSON, or Prometheus for ?format=prometheus; the
 * journal's API (ngx_http_b24trigger_status_api.c) for ?view= and POST;
 * the page for a browser (ngx_http_b24trigger_status_page.c)
 */

ngx_int_t
ngx_http_b24trigger_status_handler(ngx_http_request_t *r)
{
    ngx_int_t                         rc;
    ngx_str_t                         body, type, format;
    ngx_uint_t                        prometheus;
    ngx_http_b24trigger_out_t         o;
    ngx_http_b24trigger_stats_ctx_t  *ctx;

    /* the journal's API: ?view=..., and the POST actions */

    rc = ngx_http_b24trigger_status_api(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    /* a browser: the page (?format=html, Accept), its script and style */

    rc = ngx_http_b24trigger_status_page(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    prometheus = 0;

    if (ngx_http_arg(r, (u_char *) "format", 6, &format) == NGX_OK) {
        if (format.len == 10
            && ngx_strncmp(format.data, "prometheus", 10) == 0)
        {
            prometheus = 1;

        } else if (format.len != 4
                   || ngx_strncmp(format.data, "json", 4) != 0)
        {
            return NGX_HTTP_BAD_REQUEST;
        }

    } else if (r->headers_in.accept
               && (ngx_strlcasestrn(r->headers_in.accept->value.data,
                                    r->headers_in.accept->value.data
                                    + r->headers_in.accept->value.len,
                                    (u_char *) "text/plain", 10 - 1)
                   || ngx_strlcasestrn(r->headers_in.accept->value.data,
                                       r->headers_in.accept->value.data
                                       + r->headers_in.accept->value.len,
                                       (u_char *) "openmetrics", 11 - 1))
               && !ngx_strlcasestrn(r->headers_in.accept->value.data,
                                    r->headers_in.accept->value.data
                                    + r->headers_in.accept->value.len,
                                    (u_char *) "application/json", 16 - 1))
    {
        prometheus = 1;
    }

    ngx_memzero(&o, sizeof(ngx_http_b24trigger_out_t));
    o.pool = r->pool;

    ctx = ngx_http_b24trigger_stats;

    if (ctx == NULL || ctx->sh == NULL) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    ngx_http_b24trigger_stats_flush();
    ngx_http_b24trigger_stats_refresh(r);

    ngx_shmtx_lock(&ctx->shpool->mutex);

    rc = prometheus ? ngx_http_b24trigger_status_prometheus(&o)
                    : ngx_http_b24trigger_status_json(&o);

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.data = o.start;
    body.len = o.pos - o.start;

    if (prometheus) {
        ngx_str_set(&type, "text/plain; version=0.0.4; charset=utf-8");

    } else {
        ngx_str_set(&type, "application/json");
    }

    return ngx_http_b24trigger_reply(r, NGX_HTTP_OK, &body, &type);
}


static ngx_int_t
ngx_http_b24trigger_status_json(ngx_http_b24trigger_out_t *o)
{
    u_char                        *l1, *l2;
    ngx_uint_t                     m, first, first1, first2;
    ngx_queue_t                   *q, *q2;
    ngx_atomic_uint_t              count, total, sum;
    ngx_http_b24trigger_stat_t    *s, *s2;
    ngx_http_b24trigger_metric_t  *mt;

    if (ngx_http_b24trigger_out(o, sizeof(NGX_HTTP_B24TRIGGER_VERSION) + 16)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    o->pos = ngx_sprintf(o->pos, "{\"version\":\"%s\"",
                         NGX_HTTP_B24TRIGGER_VERSION);
    first = 0;

    for (m = 0; m < NGX_HTTP_B24TRIGGER_M_LATENCY_BUCKET; m++) {
        mt = &ngx_http_b24trigger_metrics[m];

        if (ngx_http_b24trigger_out(o, 64) != NGX_OK) {
            return NGX_ERROR;
        }

        o->pos = ngx_sprintf(o->pos, "%s\"%s\":{", first ? "" : ",",
                             mt->json);
        first = 0;
        first1 = 1;

        /* group by the first label, in the order series appeared */

        for (q = ngx_queue_head(&ngx_http_b24trigger_stats->sh->all);
             q != ngx_queue_sentinel(&ngx_http_b24trigger_stats->sh->all);
             q = ngx_queue_next(q))
        {
            s = ngx_queue_data(q, ngx_http_b24trigger_stat_t, queue);

            if (m == NGX_HTTP_B24TRIGGER_M_LATENCY) {
                if (s->metric != NGX_HTTP_B24TRIGGER_M_LATENCY_SUM) {
                    continue;
                }

            } else if (s->metric != m) {
                continue;
            }

            l1 = s->data;

            /* seen already under an earlier series of the same label */

            for (q2 = ngx_queue_head(&ngx_http_b24trigger_stats->sh->all);
                 q2 != q;
                 q2 = ngx_queue_next(q2))
            {
                s2 = ngx_queue_data(q2, ngx_http_b24trigger_stat_t, queue);

                if (s2->metric == s->metric && s2->len1 == s->len1
                    && ngx_memcmp(s2->data, l1, s->len1) == 0)
                {
                    break;
                }
            }

            if (q2 != q) {
                continue;
            }

            if (ngx_http_b24trigger_out(o, 8) != NGX_OK) {
                return NGX_ERROR;
            }

            if (!first1) {
                *o->pos++ = ',';
            }

            first1 = 0;

            ngx_http_b24trigger_out_str(o, l1, s->len1, 1);

            if (ngx_http_b24trigger_out(o, 64) != NGX_OK) {
                return NGX_ERROR;
            }

            *o->pos++ = ':';

            if (mt->label2 == NULL && m != NGX_HTTP_B24TRIGGER_M_LATENCY) {
                if (m == NGX_HTTP_B24TRIGGER_M_CLUSTER_LATENCY) {
                    /* kept in ms, shown in seconds */
                    o->pos = ngx_sprintf(o->pos, "%A.%03A", s->value / 1000,
                                         s->value % 1000);
                    continue;
                }

                o->pos = ngx_sprintf(o->pos, "%A", s->value);
                continue;
            }

            *o->pos++ = '{';
            first2 = 1;
            count = 0;
            total = 0;
            sum = (m == NGX_HTTP_B24TRIGGER_M_LATENCY) ? s->value : 0;

            if (m == NGX_HTTP_B24TRIGGER_M_LATENCY) {
                o->pos = ngx_sprintf(o->pos, "\"le\":{");
            }

            /* the histogram's buckets came before its sum */

            q2 = (m == NGX_HTTP_B24TRIGGER_M_LATENCY)
                 ? ngx_queue_head(&ngx_http_b24trigger_stats->sh->all) : q;

            for ( /* void */ ;
                 q2 != ngx_queue_sentinel(&ngx_http_b24trigger_stats->sh->all);
                 q2 = ngx_queue_next(q2))
            {
                s2 = ngx_queue_data(q2, ngx_http_b24trigger_stat_t, queue);

                if (s2->len1 != s->len1
                    || ngx_memcmp(s2->data, l1, s->len1) != 0)
                {
                    continue;
                }

                if (m == NGX_HTTP_B24TRIGGER_M_LATENCY) {
                    if (s2->metric != NGX_HTTP_B24TRIGGER_M_LATENCY_BUCKET) {
                        continue;
                    }

                } else if (s2->metric != m) {
                    continue;
                }

                l2 = s2->data + s2->len1;

                if (ngx_http_b24trigger_out(o, 8) != NGX_OK) {
                    return NGX_ERROR;
                }

                if (!first2) {
                    *o->pos++ = ',';
                }

                first2 = 0;

                ngx_http_b24trigger_out_str(o, l2, s2->len2, 1);

                if (ngx_http_b24trigger_out(o, 32) != NGX_OK) {
                    return NGX_ERROR;
                }

                o->pos = ngx_sprintf(o->pos, ":%A", s2->value);
                total += s2->value;
            }

            count = total;

            if (m == NGX_HTTP_B24TRIGGER_M_LATENCY) {
                if (ngx_http_b24trigger_out(o, 96) != NGX_OK) {
                    return NGX_ERROR;
                }

                o->pos = ngx_sprintf(o->pos,
                                     "},\"count\":%A,\"sum\":%A.%03A",
                                     count, sum / 1000, sum % 1000);
            }

            *o->pos++ = '}';
        }

        if (ngx_http_b24trigger_out(o, 2) != NGX_OK) {
            return NGX_ERROR;
        }

        *o->pos++ = '}';
    }

    if (ngx_http_b24trigger_out(o, 2) != NGX_OK) {
        return NGX_ERROR;
    }

    *o->pos++ = '}';
    *o->pos++ = '\n';

    return NGX_OK;
}


static ngx_int_t
ngx_http_b24trigger_status_prometheus(ngx_http_b24trigger_out_t *o)
{
    u_char                        *l1, *l2;
    ngx_uint_t                     m, i, nle;
    ngx_queue_t                   *q, *q2;
    ngx_atomic_uint_t              cum, v, sum;
    ngx_http_b24trigger_stat_t    *s, *s2;
    ngx_http_b24trigger_metric_t  *mt;

    nle = sizeof(ngx_http_b24trigger_le) / sizeof(ngx_str_t);

    if (ngx_http_b24trigger_out(o, sizeof(NGX_HTTP_B24TRIGGER_VERSION) + 128)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    o->pos = ngx_sprintf(o->pos,
                         "# HELP b24trigger_info The module's version.\n"
                         "# TYPE b24trigger_info gauge\n"
                         "b24trigger_info{version=\"%s\"} 1\n",
                         NGX_HTTP_B24TRIGGER_VERSION);

    for (m = 0; m < NGX_HTTP_B24TRIGGER_M_LATENCY_BUCKET; m++) {
        mt = &ngx_http_b24trigger_metrics[m];

        if (ngx_http_b24trigger_out(o, 512) != NGX_OK) {
            return NGX_ERROR;
        }

        o->pos = ngx_sprintf(o->pos, "# HELP %s %s\n# TYPE %s %s\n",
                             mt->name, mt->help, mt->name, mt->type);

        for (q = ngx_queue_head(&ngx_http_b24trigger_stats->sh->all);
             q != ngx_queue_sentinel(&ngx_http_b24trigger_stats->sh->all);
             q = ngx_queue_next(q))
        {
            s = ngx_queue_data(q, ngx_http_b24trigger_stat_t, queue);
            l1 = s->data;

            if (m != NGX_HTTP_B24TRIGGER_M_LATENCY) {

                if (s->metric != m) {
                    continue;
                }

                if (ngx_http_b24trigger_out(o, 128) != NGX_OK) {
                    return NGX_ERROR;
                }

                o->pos = ngx_sprintf(o->pos, "%s{%s=\"", mt->name,
                                     mt->label1);
                ngx_http_b24trigger_out_str(o, l1, s->len1, 0);

                if (ngx_http_b24trigger_out(o, 128) != NGX_OK) {
                    return NGX_ERROR;
                }

                if (mt->label2) {
                    o->pos = ngx_sprintf(o->pos, "\",%s=\"", mt->label2);
                    ngx_http_b24trigger_out_str(o, l1 + s->len1, s->len2, 0);
                }

                if (ngx_http_b24trigger_out(o, 64) != NGX_OK) {
                    return NGX_ERROR;
                }

                if (m == NGX_HTTP_B24TRIGGER_M_CLUSTER_LATENCY) {
                    o->pos = ngx_sprintf(o->pos, "\"} %A.%03A\n",
                                         s->value / 1000, s->value % 1000);
                    continue;
                }

                o->pos = ngx_sprintf(o->pos, "\"} %A\n", s->value);
                continue;
            }

            /* the histogram of one portal: cumulative buckets, sum, count */

            if (s->metric != NGX_HTTP_B24TRIGGER_M_LATENCY_SUM) {
                continue;
            }

            sum = s->value;
            cum = 0;

            for (i = 0; i < nle; i++) {
                v = 0;

                for (q2 = ngx_queue_head(&ngx_http_b24trigger_stats->sh->all);
                     q2 != ngx_queue_sentinel(
                                         &ngx_http_b24trigger_stats->sh->all);
                     q2 = ngx_queue_next(q2))
                {
                    s2 = ngx_queue_data(q2, ngx_http_b24trigger_stat_t,
                                        queue);
                    l2 = s2->data + s2->len1;

                    if (s2->metric == NGX_HTTP_B24TRIGGER_M_LATENCY_BUCKET
                        && s2->len1 == s->len1
                        && ngx_memcmp(s2->data, l1, s->len1) == 0
                        && s2->len2 == ngx_http_b24trigger_le[i].len
                        && ngx_memcmp(l2, ngx_http_b24trigger_le[i].data,
                                      s2->len2) == 0)
                    {
                        v = s2->value;
                        break;
                    }
                }

                cum += v;

                if (ngx_http_b24trigger_out(o, 128) != NGX_OK) {
                    return NGX_ERROR;
                }

                o->pos = ngx_sprintf(o->pos, "%s_bucket{portal=\"",
                                     mt->name);
                ngx_http_b24trigger_out_str(o, l1, s->len1, 0);

                if (ngx_http_b24trigger_out(o, 128) != NGX_OK) {
                    return NGX_ERROR;
                }

                o->pos = ngx_sprintf(o->pos, "\",le=\"%V\"} %A\n",
                                     &ngx_http_b24trigger_le[i], cum);
            }

            if (ngx_http_b24trigger_out(o, 256) != NGX_OK) {
                return NGX_ERROR;
            }

            o->pos = ngx_sprintf(o->pos, "%s_sum{portal=\"", mt->name);
            ngx_http_b24trigger_out_str(o, l1, s->len1, 0);

            if (ngx_http_b24trigger_out(o, 256) != NGX_OK) {
                return NGX_ERROR;
            }

            o->pos = ngx_sprintf(o->pos, "\"} %A.%03A\n%s_count{portal=\"",
                                 sum / 1000, sum % 1000, mt->name);
            ngx_http_b24trigger_out_str(o, l1, s->len1, 0);

            if (ngx_http_b24trigger_out(o, 64) != NGX_OK) {
                return NGX_ERROR;
            }

            o->pos = ngx_sprintf(o->pos, "\"} %A\n", cum);
        }
    }

    return NGX_OK;
}


/*
 * Gauges read when shown: each portal's bucket now, and the age of the
 * oldest queued event from its arrival time, which the delivery scan
 * publishes
 */

static void
ngx_http_b24trigger_stats_refresh(ngx_http_request_t *r)
{
    int64_t                           now, arrival, age;
    ngx_str_t                         name;
    ngx_time_t                       *tp;
    ngx_uint_t                        i, n;
    ngx_queue_t                      *q;
    ngx_http_b24trigger_stat_t       *s;
    ngx_http_b24trigger_stat_t       *arrivals[NGX_HTTP_B24TRIGGER_QUEUES_MAX];
    ngx_http_b24trigger_portal_t     *portal;
    ngx_http_b24trigger_main_conf_t  *bmcf;

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_b24trigger_module);

    portal = bmcf->portals.elts;

    for (i = 0; i < bmcf->portals.nelts; i++) {
        ngx_http_b24trigger_stats_set(NGX_HTTP_B24TRIGGER_M_BUCKET_LEVEL,
                                      &portal[i].name, NULL,
                                      ngx_http_b24trigger_bucket_level(
                                                                &portal[i]));
    }

    tp = ngx_timeofday();
    now = (int64_t) tp->sec * 1000 + tp->msec;
    n = 0;

    ngx_shmtx_lock(&ngx_http_b24trigger_stats->shpool->mutex);

    for (q = ngx_queue_head(&ngx_http_b24trigger_stats->sh->all);
         q != ngx_queue_sentinel(&ngx_http_b24trigger_stats->sh->all)
         && n < NGX_HTTP_B24TRIGGER_QUEUES_MAX;
         q = ngx_queue_next(q))
    {
        s = ngx_queue_data(q, ngx_http_b24trigger_stat_t, queue);

        if (s->metric == NGX_HTTP_B24TRIGGER_M_QUEUE_ARRIVAL) {
            arrivals[n++] = s;
        }
    }

    ngx_shmtx_unlock(&ngx_http_b24trigger_stats->shpool->mutex);

    /* series are never freed: their labels stay where they are */

    for (i = 0; i < n; i++) {
        arrival = (int64_t) arrivals[i]->value;
        age = (arrival && now > arrival) ? (now - arrival) / 1000 : 0;

        name.data = arrivals[i]->data;
        name.len = arrivals[i]->len1;

        ngx_http_b24trigger_stats_set(NGX_HTTP_B24TRIGGER_M_QUEUE_OLDEST,
                                      &name, NULL, (ngx_atomic_uint_t) age);
    }
}


/* room for len more bytes in the output */

static ngx_int_t
ngx_http_b24trigger_out(ngx_http_b24trigger_out_t *o, size_t len)
{
    u_char  *p;
    size_t   size, used;

    if (o->start && (size_t) (o->last - o->pos) >= len) {
        return NGX_OK;
    }

    used = o->pos - o->start;
    size = ngx_max((size_t) (o->last - o->start) * 2, 4096);

    while (size - used < len) {
        size *= 2;
    }

    p = ngx_pnalloc(o->pool, size);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (used) {
        ngx_memcpy(p, o->start, used);
    }

    o->start = p;
    o->pos = p + used;
    o->last = p + size;

    return NGX_OK;
}


/* a label value: JSON string (quoted) or Prometheus label value (not) */

static void
ngx_http_b24trigger_out_str(ngx_http_b24trigger_out_t *o, u_char *s,
    size_t len, ngx_uint_t json)
{
    u_char  c;
    size_t  i;

    if (ngx_http_b24trigger_out(o, len * 6 + 2) != NGX_OK) {
        return;
    }

    if (json) {
        *o->pos++ = '"';
    }

    for (i = 0; i < len; i++) {
        c = s[i];

        if (c == '"' || c == '\\') {
            *o->pos++ = '\\';
            *o->pos++ = c;

        } else if (c == '\n') {
            *o->pos++ = '\\';
            *o->pos++ = 'n';

        } else if (c < 0x20 && json) {
            o->pos = ngx_sprintf(o->pos, "\\u%04xd", (ngx_uint_t) c);

        } else {
            *o->pos++ = c;
        }
    }

    if (json) {
        *o->pos++ = '"';
    }
}
