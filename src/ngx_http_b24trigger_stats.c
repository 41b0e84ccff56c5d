
/*
 * Copyright (C) b24trigger authors
 *
 * Counters shared by all workers and kept across reloads.  A series is a
 * node in a shared-memory rbtree keyed by its metric and label values;
 * labels come from the configuration (location and portal names) or from
 * small fixed sets (results, reasons, Bitrix24 error codes), so the zone
 * does not grow without bound.  Knows nothing about how a webhook is
 * verified or delivered, nor how the counters are shown: callers say
 * what happened, the status location (ngx_http_b24trigger_status.c) reads
 * the series through ngx_http_b24trigger_stats.h.
 */


#include "ngx_http_b24trigger_stats.h"


#define NGX_HTTP_B24TRIGGER_STATS_ZONE  "b24trigger_stats"
#define NGX_HTTP_B24TRIGGER_STATS_SIZE  (1024 * 1024)
#define NGX_HTTP_B24TRIGGER_STATS_CACHE 256
#define NGX_HTTP_B24TRIGGER_STATS_PENDING 64

/* a label value is kept to this many bytes: its length is one u_char */
#define NGX_HTTP_B24TRIGGER_LABEL_MAX   255

/* a series' key: the metric, the two lengths, the two values */
#define NGX_HTTP_B24TRIGGER_SERIES_KEY_MAX                                    \
    (3 + 2 * NGX_HTTP_B24TRIGGER_LABEL_MAX)


/* the latency buckets, "+Inf" included */
#define NGX_HTTP_B24TRIGGER_LE_NUMBER   13


/* what this worker added to a series and has not yet added to the zone */

typedef struct {
    ngx_http_b24trigger_stat_t      *stat;
    ngx_atomic_int_t                 delta;
} ngx_http_b24trigger_pending_t;


/*
 * The series whose labels are fixed where they are kept: a portal's (its
 * name alone, with "ok", with each latency bucket, the latency's sum) and
 * a location's (its name with each result).  Each is found once per
 * worker, then taken from here: the labels live as long as the portal or
 * the location, so their series needs neither a hash nor a comparison of
 * their bytes (six per webhook).  Made on first use, in the worker's
 * cycle pool: only for what counts.
 */

typedef struct {
    ngx_http_b24trigger_stat_t      *in_flight;
    ngx_http_b24trigger_stat_t      *ok;
    ngx_http_b24trigger_stat_t      *sum;
    ngx_http_b24trigger_stat_t      *le[NGX_HTTP_B24TRIGGER_LE_NUMBER];
} ngx_http_b24trigger_portal_series_t;


typedef struct {
    ngx_http_b24trigger_stat_t      *result[NGX_HTTP_B24TRIGGER_DRY_RUN + 1];
} ngx_http_b24trigger_location_series_t;


static ngx_int_t ngx_http_b24trigger_stats_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_b24trigger_stats_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_http_b24trigger_stat_t *ngx_http_b24trigger_stats_lookup(
    ngx_uint_t metric, ngx_str_t *l1, ngx_str_t *l2);
static void ngx_http_b24trigger_stats_count(ngx_http_b24trigger_stat_t *s,
    ngx_atomic_int_t delta);
static void *ngx_http_b24trigger_stats_kept(void **series, size_t size);
static void ngx_http_b24trigger_stats_add_kept(
    ngx_http_b24trigger_stat_t **kept, ngx_uint_t metric, ngx_str_t *l1,
    ngx_str_t *l2, ngx_atomic_int_t delta);
static void ngx_http_b24trigger_stats_flush_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_b24trigger_stats_log(ngx_http_request_t *r);


/* the series, made of their one list (ngx_http_b24trigger.h) */

#define NGX_HTTP_B24TRIGGER_METRIC_ROW(id, name, json, type, help, l1, l2)    \
    { name, json, type, help, l1, l2 },

ngx_http_b24trigger_metric_t  ngx_http_b24trigger_metrics[] = {
    NGX_HTTP_B24TRIGGER_METRICS(NGX_HTTP_B24TRIGGER_METRIC_ROW)
    { NULL, NULL, NULL, NULL, NULL, NULL }
};


/* the latency buckets, in ms, and their "le" labels */

static ngx_msec_t
    ngx_http_b24trigger_le_ms[NGX_HTTP_B24TRIGGER_LE_NUMBER - 1] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000
};

ngx_str_t  ngx_http_b24trigger_le[NGX_HTTP_B24TRIGGER_LE_NUMBER] = {
    ngx_string("0.005"), ngx_string("0.01"), ngx_string("0.025"),
    ngx_string("0.05"), ngx_string("0.1"), ngx_string("0.25"),
    ngx_string("0.5"), ngx_string("1"), ngx_string("2.5"),
    ngx_string("5"), ngx_string("10"), ngx_string("30"),
    ngx_string("+Inf")
};

ngx_uint_t  ngx_http_b24trigger_nle =
    sizeof(ngx_http_b24trigger_le) / sizeof(ngx_str_t);


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
    ngx_http_b24trigger_stats_add_kept(NULL, metric, l1, l2, delta);
}


/* a series' addition, kept by the worker until the end of its turn */

static void
ngx_http_b24trigger_stats_count(ngx_http_b24trigger_stat_t *s,
    ngx_atomic_int_t delta)
{
    ngx_http_b24trigger_pending_t  *pd;

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


/*
 * The series kept by a portal or a location (series is its field), made
 * on first use; NULL without counters or outside a worker (the master
 * looks its series up each time: its cycle changes under it)
 */

static void *
ngx_http_b24trigger_stats_kept(void **series, size_t size)
{
    if (*series == NULL
        && ngx_http_b24trigger_stats != NULL
        && ngx_http_b24trigger_stats_flush_event.handler != NULL)
    {
        *series = ngx_pcalloc(ngx_cycle->pool, size);
    }

    return *series;
}


/*
 * stats_add() of a series kept in *kept, found there after the first;
 * with no place to keep it (kept NULL), looked up each time
 */

static void
ngx_http_b24trigger_stats_add_kept(ngx_http_b24trigger_stat_t **kept,
    ngx_uint_t metric, ngx_str_t *l1, ngx_str_t *l2, ngx_atomic_int_t delta)
{
    ngx_http_b24trigger_stat_t  *s;

    s = kept ? *kept : NULL;

    if (s == NULL) {
        s = ngx_http_b24trigger_stats_lookup(metric, l1, l2);

        if (s == NULL) {
            /* the zone is full: looked for again next time, as before */
            return;
        }

        if (kept) {
            *kept = s;
        }
    }

    ngx_http_b24trigger_stats_count(s, delta);
}


/* a call to the portal starts (1) or is over (-1) */

void
ngx_http_b24trigger_stats_in_flight(ngx_http_b24trigger_portal_t *portal,
    ngx_atomic_int_t delta)
{
    ngx_http_b24trigger_portal_series_t  *ps;

    ps = ngx_http_b24trigger_stats_kept(&portal->series, sizeof(*ps));

    ngx_http_b24trigger_stats_add_kept(ps ? &ps->in_flight : NULL,
                                       NGX_HTTP_B24TRIGGER_M_IN_FLIGHT,
                                       &portal->name, NULL, delta);
}


/* a call to the portal is over: its outcome and how long it took */

void
ngx_http_b24trigger_stats_call(ngx_http_b24trigger_call_t *call)
{
    ngx_str_t                             outcome, sum;
    ngx_uint_t                            i;
    ngx_http_b24trigger_portal_t         *portal;
    ngx_http_b24trigger_portal_series_t  *ps;

    portal = call->portal;

    ps = ngx_http_b24trigger_stats_kept(&portal->series, sizeof(*ps));

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

    /* an error code comes from the answer: its series is looked up */

    ngx_http_b24trigger_stats_add_kept(
                  (ps && call->outcome == NGX_HTTP_B24TRIGGER_CALL_OK)
                  ? &ps->ok : NULL,
                  NGX_HTTP_B24TRIGGER_M_PORTAL_CALLS, &portal->name,
                  &outcome, 1);

    if (call->outcome == NGX_HTTP_B24TRIGGER_CALL_INTERNAL) {
        return;
    }

    for (i = 0; i < NGX_HTTP_B24TRIGGER_LE_NUMBER - 1; i++) {
        if (call->time <= ngx_http_b24trigger_le_ms[i]) {
            break;
        }
    }

    /* the sum in ms, shown in seconds */

    ngx_str_null(&sum);

    ngx_http_b24trigger_stats_add_kept(ps ? &ps->le[i] : NULL,
                                       NGX_HTTP_B24TRIGGER_M_LATENCY_BUCKET,
                                       &portal->name,
                                       &ngx_http_b24trigger_le[i], 1);

    ngx_http_b24trigger_stats_add_kept(ps ? &ps->sum : NULL,
                                       NGX_HTTP_B24TRIGGER_M_LATENCY_SUM,
                                       &portal->name, &sum,
                                       (ngx_atomic_int_t) call->time);
}


/* the log phase: every webhook is counted once, whatever became of it */

static ngx_int_t
ngx_http_b24trigger_stats_log(ngx_http_request_t *r)
{
    ngx_str_t                               result, reason;
    ngx_http_core_loc_conf_t               *clcf;
    ngx_http_b24trigger_ctx_t              *ctx;
    ngx_http_b24trigger_loc_conf_t         *blcf;
    ngx_http_b24trigger_location_series_t  *ls;

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
    blcf = ngx_http_get_module_loc_conf(r, ngx_http_b24trigger_module);

    result = *ngx_http_b24trigger_result_name(ctx->result);

    /* the location's name and the result: both fixed where blcf is */

    ls = ngx_http_b24trigger_stats_kept(&blcf->series, sizeof(*ls));

    ngx_http_b24trigger_stats_add_kept(
                  (ls && ctx->result <= NGX_HTTP_B24TRIGGER_DRY_RUN)
                  ? &ls->result[ctx->result] : NULL,
                  NGX_HTTP_B24TRIGGER_M_WEBHOOKS, &clcf->name, &result, 1);

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


ngx_http_b24trigger_stats_ctx_t *
ngx_http_b24trigger_stats_zone(void)
{
    return ngx_http_b24trigger_stats;
}
