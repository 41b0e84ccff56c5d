
/*
 * Copyright (C) b24trigger authors
 *
 * The request path of "b24trigger_delivery queue": the event is written
 * to the spool (write, fsync, rename, fsync of the directory: the one
 * blocking disk write of the module), the delivery of this worker is
 * woken, and the sender hears 202 with the event's id, or 503 when the
 * spool cannot take it.  The spool (ngx_http_b24trigger_queue_spool.c) knows
 * nothing of requests; delivery (ngx_http_b24trigger_queue_delivery.c) nothing
 * of this file.
 */


#include "ngx_http_b24trigger_queue.h"


/* a spool that cannot take the event: the sender tries again after */
#define NGX_HTTP_B24TRIGGER_QUEUE_RETRY_SEC  10


static ngx_int_t ngx_http_b24trigger_enqueue_fail(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_err_t err, const char *what);


/*
 * On the request path: the event is on disk before the sender hears 202.
 * The id is the time of arrival in ms, the pid and a random number.
 */

ngx_int_t
ngx_http_b24trigger_enqueue(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx)
{
    u_char                           *tmp, *name, *p;
    ngx_str_t                         id, json;
    ngx_msec_t                        now;
    ngx_err_t                         err;
    ngx_http_core_loc_conf_t         *clcf;
    ngx_http_b24trigger_spool_t      *spool;
    ngx_http_b24trigger_record_t      rec;
    ngx_http_b24trigger_loc_conf_t   *blcf;
    ngx_http_b24trigger_main_conf_t  *bmcf;
    u_char                            buf[64];

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_b24trigger_module);
    bmcf = ngx_http_get_module_main_conf(r, ngx_http_b24trigger_module);
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    spool = bmcf->spool;

    now = (ngx_msec_t) ngx_cached_time->sec * 1000
          + ngx_cached_time->msec;

    id.data = buf;
    id.len = ngx_sprintf(buf, "%013M-%P-%08xD", now, ngx_pid,
                         (uint32_t) ngx_random())
             - buf;

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

    tmp = ngx_pnalloc(r->pool, spool->tmp.len + NGX_INT64_LEN + id.len
                               + sizeof("/..tmp"));
    name = ngx_pnalloc(r->pool, spool->queue.len + 2 * id.len
                                + sizeof("/-.json"));
    if (tmp == NULL || name == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(tmp, "%V/%P.%V.tmp", &spool->tmp, ngx_pid, &id);
    *p = '\0';

    /* due now: the name starts with the time it may be delivered */

    p = ngx_sprintf(name, "%V/%V.json", &spool->queue, &id);
    *p = '\0';

    if (ngx_http_b24trigger_spool_reserve(spool, json.len) != NGX_OK) {
        return ngx_http_b24trigger_enqueue_fail(r, ctx, 0, "max_size reached");
    }

    if (ngx_http_b24trigger_file_write(r->connection->log, tmp, name,
                                       json.data, json.len,
                                       NGX_HTTP_B24TRIGGER_FILE_DURABLE)
        != NGX_OK)
    {
        err = ngx_errno;
        ngx_http_b24trigger_spool_release(spool, json.len);
        return ngx_http_b24trigger_enqueue_fail(r, ctx, err, NULL);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "b24trigger queued \"%V\" as \"%s\"", &id, name);

    ctx->result = NGX_HTTP_B24TRIGGER_QUEUED;

    ngx_http_b24trigger_dedup_commit(r, ctx);
    ngx_http_b24trigger_delivery_kick();

    json.data = ngx_pnalloc(r->pool, sizeof("{\"result\":\"queued\","
                                            "\"id\":\"\"}") - 1 + id.len);
    if (json.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json.len = ngx_sprintf(json.data, "{\"result\":\"queued\",\"id\":\"%V\"}",
                           &id)
               - json.data;

    return ngx_http_b24trigger_decide(ctx, NGX_HTTP_ACCEPTED, NULL, &json, 0);
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
