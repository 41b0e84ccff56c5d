
/*
 * Copyright (C) b24trigger authors
 *
 * The request path of "b24trigger_delivery queue", with group commit:
 * the events accepted within a millisecond are written together (one
 * file, one fsync, one rename, one fsync of the directory: the one
 * blocking disk write of the module) when it is over, and only
 * then does each sender hear 202 with its event's id, or 503 when the
 * spool cannot take it.  One event alone is written as "<id>.json", as
 * before; several as "<id of the first>.batch", one event per line, which
 * delivery (ngx_http_b24trigger_queue_delivery.c) takes whole.  The spool
 * (ngx_http_b24trigger_queue_spool.c) knows nothing of requests; the
 * handler hands a function that answers the sender.
 */


#include "ngx_http_b24trigger_queue.h"


/* a spool that cannot take the event: the sender tries again after */
#define NGX_HTTP_B24TRIGGER_QUEUE_RETRY_SEC  10


static ngx_int_t ngx_http_b24trigger_enqueue_fail(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_err_t err, const char *what);


/* a batch is written once it holds this many events, at the latest */
#define NGX_HTTP_B24TRIGGER_BATCH_MAX        1024

/*
 * and this long after its first event came: nginx accepts a connection a
 * turn of its loop (without multi_accept), so a millisecond gathers the
 * senders that came on connections of their own
 */
#define NGX_HTTP_B24TRIGGER_BATCH_MS         1


typedef struct {
    ngx_http_request_t                *r;
    ngx_http_b24trigger_enqueued_pt    done;
    size_t                             size;       /* reserved */
    ngx_str_t                          id;         /* in the request's pool */
} ngx_http_b24trigger_waiter_t;


typedef struct {
    ngx_event_t                        event;      /* timer: the write */
    ngx_log_t                          log;
    ngx_http_b24trigger_spool_t       *spool;
    ngx_http_b24trigger_waiter_t      *waiters;
    ngx_http_b24trigger_waiter_t      *answering;  /* the other array */
    ngx_uint_t                         n;
    u_char                            *buf;        /* the records, each
                                                      ended by "\n" */
    size_t                             len;
    size_t                             size;
    u_char                             first[NGX_HTTP_B24TRIGGER_EVENT_ID_MAX];
    size_t                             first_len;
} ngx_http_b24trigger_commit_t;


static ngx_int_t ngx_http_b24trigger_commit_add(
    ngx_http_b24trigger_spool_t *spool, ngx_str_t *json);
static void ngx_http_b24trigger_commit_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_b24trigger_commit_write(
    ngx_http_b24trigger_commit_t *cm);
static ngx_int_t ngx_http_b24trigger_enqueued(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_str_t *id);
static ngx_int_t ngx_http_b24trigger_enqueue_fail(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_err_t err, const char *what);


/* this worker's batch being gathered */

static ngx_http_b24trigger_commit_t  *ngx_http_b24trigger_commit;


/*
 * On the request path: the event joins the batch being gathered and the
 * request waits (NGX_AGAIN) for the write that covers it, after which "done" is
 * called with the decision; or the decision now (503: the spool is full).
 * The id is the time of arrival in ms, the pid and a random number.
 */

ngx_int_t
ngx_http_b24trigger_enqueue(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_http_b24trigger_enqueued_pt done)
{
    u_char                           *p;
    ngx_str_t                         id, json;
    ngx_msec_t                        now;
    ngx_http_core_loc_conf_t         *clcf;
    ngx_http_b24trigger_spool_t      *spool;
    ngx_http_b24trigger_record_t      rec;
    ngx_http_b24trigger_waiter_t     *w;
    ngx_http_b24trigger_commit_t     *cm;
    ngx_http_b24trigger_loc_conf_t   *blcf;
    ngx_http_b24trigger_main_conf_t  *bmcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_b24trigger_module);
    bmcf = ngx_http_get_module_main_conf(r, ngx_http_b24trigger_module);
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    spool = bmcf->spool;

    now = (ngx_msec_t) ngx_cached_time->sec * 1000
          + ngx_cached_time->msec;

    id.data = ngx_pnalloc(r->pool, NGX_INT64_LEN * 3);
    if (id.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(id.data, "%013M-%P-%08xD", now, ngx_pid,
                    (uint32_t) ngx_random());
    id.len = p - id.data;

    ngx_memzero(&rec, sizeof(ngx_http_b24trigger_record_t));

    rec.id = id;
    rec.portal = blcf->portal->name;
    rec.target = ctx->target;
    rec.code = ctx->code;
    rec.location = clcf->name;
    rec.method = blcf->method;
    rec.received = now;

    if (blcf->lookup) {
        rec.lookup = blcf->lookup->spec;
        rec.lookup.value = ctx->lookup;
    }

    if (ngx_http_b24trigger_event_write(r->pool, &rec, &json) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (spool->redis) {
        /* a Redis Stream: ngx_http_b24trigger_queue_redis.c */
        return ngx_http_b24trigger_queue_redis_enqueue(r, ctx, &rec, &json,
                                                       done);
    }

    /* the record ends with "\n": a batch is a line a record */

    if (ngx_http_b24trigger_spool_reserve(spool, json.len) != NGX_OK) {
        return ngx_http_b24trigger_enqueue_fail(r, ctx, 0, "max_size reached");
    }

    if (ngx_http_b24trigger_commit_add(spool, &json) != NGX_OK) {
        ngx_http_b24trigger_spool_release(spool, json.len);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cm = ngx_http_b24trigger_commit;

    w = &cm->waiters[cm->n++];
    w->r = r;
    w->done = done;
    w->size = json.len;
    w->id = id;

    if (cm->n == 1) {
        ngx_memcpy(cm->first, id.data, id.len);
        cm->first_len = id.len;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "b24trigger queue: \"%V\" waits for the write, %ui in "
                   "this batch", &id, cm->n);

    if (!cm->event.timer_set) {
        ngx_add_timer(&cm->event, NGX_HTTP_B24TRIGGER_BATCH_MS);
    }

    return NGX_AGAIN;
}


/* the event's bytes join the batch; a full batch is written first */

static ngx_int_t
ngx_http_b24trigger_commit_add(ngx_http_b24trigger_spool_t *spool,
    ngx_str_t *json)
{
    u_char                        *buf;
    size_t                         need;
    ngx_http_b24trigger_commit_t  *cm;

    cm = ngx_http_b24trigger_commit;

    if (cm == NULL) {
        cm = ngx_calloc(sizeof(ngx_http_b24trigger_commit_t),
                        ngx_cycle->log);
        if (cm == NULL) {
            return NGX_ERROR;
        }

        /* two arrays: answering one batch may start the next */

        cm->waiters = ngx_alloc(2 * NGX_HTTP_B24TRIGGER_BATCH_MAX
                                * sizeof(ngx_http_b24trigger_waiter_t),
                                ngx_cycle->log);
        if (cm->waiters == NULL) {
            ngx_free(cm);
            return NGX_ERROR;
        }

        cm->answering = cm->waiters + NGX_HTTP_B24TRIGGER_BATCH_MAX;

        cm->log = *ngx_cycle->log;
        cm->spool = spool;
        cm->event.handler = ngx_http_b24trigger_commit_handler;
        cm->event.data = cm;
        cm->event.log = &cm->log;

        ngx_http_b24trigger_commit = cm;
    }

    if (cm->n == NGX_HTTP_B24TRIGGER_BATCH_MAX) {
        if (cm->event.timer_set) {
            ngx_del_timer(&cm->event);
        }

        ngx_http_b24trigger_commit_handler(&cm->event);
    }

    need = cm->len + json->len;

    if (need > cm->size) {
        need = ngx_max(need, ngx_max(2 * cm->size, 16384));

        buf = ngx_alloc(need, &cm->log);
        if (buf == NULL) {
            return NGX_ERROR;
        }

        if (cm->buf) {
            ngx_memcpy(buf, cm->buf, cm->len);
            ngx_free(cm->buf);
        }

        cm->buf = buf;
        cm->size = need;
    }

    ngx_memcpy(cm->buf + cm->len, json->data, json->len);
    cm->len += json->len;

    return NGX_OK;
}


/*
 * The batch's millisecond is over: the batch on disk, then every sender
 * in it hears the outcome, in the order they came
 */

static void
ngx_http_b24trigger_commit_handler(ngx_event_t *ev)
{
    ngx_http_b24trigger_commit_t *cm = ev->data;

    ngx_err_t                      err;
    ngx_int_t                      rc, ok;
    ngx_uint_t                     i, n;
    ngx_http_request_t            *r;
    ngx_http_b24trigger_ctx_t     *ctx;
    ngx_http_b24trigger_waiter_t  *w, *waiters;

    n = cm->n;

    if (n == 0) {
        return;
    }

    ok = ngx_http_b24trigger_commit_write(cm);
    err = ngx_errno;

    /*
     * answering a sender may bring another event (a pipelined request,
     * another stream): it goes to a new batch, in the other array
     */

    waiters = cm->waiters;
    cm->waiters = cm->answering;
    cm->answering = waiters;
    cm->n = 0;
    cm->len = 0;

    for (i = 0; i < n; i++) {
        w = &waiters[i];
        r = w->r;

        ctx = ngx_http_get_module_ctx(r, ngx_http_b24trigger_module);

        if (ok == NGX_OK) {
            rc = ngx_http_b24trigger_enqueued(r, ctx, &w->id);

        } else {
            ngx_http_b24trigger_spool_release(cm->spool, w->size);
            rc = ngx_http_b24trigger_enqueue_fail(r, ctx, err, NULL);
        }

        w->done(r, rc);
    }

    if (ok == NGX_OK) {
        ngx_http_b24trigger_delivery_kick();
    }
}


/* write, fsync, rename, fsync of the directory: once for the batch */

static ngx_int_t
ngx_http_b24trigger_commit_write(ngx_http_b24trigger_commit_t *cm)
{
    u_char                       *p;
    ngx_int_t                     rc;
    ngx_str_t                     first;
    ngx_http_b24trigger_spool_t  *spool;
    u_char                        tmp[NGX_MAX_PATH];
    u_char                        name[NGX_MAX_PATH];

    spool = cm->spool;

    first.data = cm->first;
    first.len = cm->first_len;

    if (spool->tmp.len + spool->queue.len + 2 * first.len
        + 2 * NGX_INT64_LEN + sizeof("/..tmp/..batch")
        > NGX_MAX_PATH)
    {
        ngx_set_errno(NGX_ENAMETOOLONG);
        return NGX_ERROR;
    }

    p = ngx_sprintf(tmp, "%V/%P.%V.tmp", &spool->tmp, ngx_pid, &first);
    *p = '\0';

    /* due now: the name starts with the time it may be delivered */

    if (cm->n == 1) {
        p = ngx_sprintf(name, "%V/%V.json", &spool->queue, &first);

    } else {
        p = ngx_sprintf(name, "%V/%V.%ui.batch", &spool->queue, &first,
                        cm->n);
    }

    *p = '\0';

    rc = ngx_http_b24trigger_file_write(&cm->log, tmp, name, cm->buf,
                                        cm->len,
                                        NGX_HTTP_B24TRIGGER_FILE_DURABLE);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, &cm->log, 0,
                   "b24trigger queue: %ui event(s) written as \"%s\": %i",
                   cm->n, name, rc);

    return rc;
}


/* the batch is on disk: 202 with the event's id */

static ngx_int_t
ngx_http_b24trigger_enqueued(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_str_t *id)
{
    ngx_str_t  json;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "b24trigger queued \"%V\"", id);

    ctx->result = NGX_HTTP_B24TRIGGER_QUEUED;

    /* the journal's id of the event, and its later deliveries' (the id
     * is in the request's pool already) */

    ctx->id = *id;

    ngx_http_b24trigger_dedup_commit(r, ctx);

    json.data = ngx_pnalloc(r->pool, sizeof("{\"result\":\"queued\","
                                            "\"id\":\"\"}") - 1 + id->len);
    if (json.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json.len = ngx_sprintf(json.data, "{\"result\":\"queued\",\"id\":\"%V\"}",
                           id)
               - json.data;

    return ngx_http_b24trigger_decide(ctx, NGX_HTTP_ACCEPTED, NULL, &json, 0);
}


/*
 * The worker exits: its timer keeps a gathered batch's worker alive until
 * written, so none should be left; if one is, it is written, and its
 * senders, whose connections are gone, hear nothing
 */

void
ngx_http_b24trigger_enqueue_exit(void)
{
    ngx_http_b24trigger_commit_t  *cm;

    cm = ngx_http_b24trigger_commit;

    if (cm == NULL) {
        return;
    }

    if (cm->event.timer_set) {
        ngx_del_timer(&cm->event);
    }

    if (cm->n) {
        (void) ngx_http_b24trigger_commit_write(cm);
    }

    ngx_free(cm->buf);
    ngx_free(cm->waiters < cm->answering ? cm->waiters : cm->answering);
    ngx_free(cm);

    ngx_http_b24trigger_commit = NULL;
}


static ngx_int_t
ngx_http_b24trigger_enqueue_fail(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_err_t err, const char *what)
{
    const char                       *error;
    ngx_http_b24trigger_main_conf_t  *bmcf;

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_b24trigger_module);

    error = (what || err == NGX_ENOSPC) ? "queue_full" : "queue_unavailable";

    ngx_log_error(NGX_LOG_ERR, r->connection->log, what ? 0 : err,
                  "b24trigger: spool \"%V\" cannot take the webhook for "
                  "target \"%V\"%s%s, answered 503",
                  &bmcf->spool->path, &ctx->target,
                  what ? ": " : "", what ? what : "");

    ctx->result = NGX_HTTP_B24TRIGGER_FAILED;
    ctx->error.data = (u_char *) error;
    ctx->error.len = ngx_strlen(error);

    ngx_http_b24trigger_dedup_release(ctx);

    return ngx_http_b24trigger_decide(ctx, NGX_HTTP_SERVICE_UNAVAILABLE, error,
                                      NULL,
                                      NGX_HTTP_B24TRIGGER_QUEUE_RETRY_SEC);
}
