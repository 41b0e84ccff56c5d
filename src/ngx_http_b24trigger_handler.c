
/*
 * Copyright (C) b24trigger authors
 *
 * One webhook's way through the module: method and size limits, the body
 * read into memory, verification, mapping to a target and a code, the
 * call to the portal, and the reply.  The content handler of every
 * location with "b24trigger_pass".
 */


#include "ngx_http_b24trigger.h"
#include "ngx_http_b24trigger_verify.h"
#include "ngx_http_b24trigger_fields.h"
#include "ngx_http_b24trigger_queue.h"
#include "ngx_http_b24trigger_lookup.h"


static ngx_int_t ngx_http_b24trigger_reject(ngx_http_request_t *r,
    ngx_uint_t status, const char *error);
static ngx_int_t ngx_http_b24trigger_answer(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_int_t rc);
static void ngx_http_b24trigger_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_b24trigger_process(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx);
static void ngx_http_b24trigger_checked(ngx_http_request_t *r, ngx_int_t rc);
static ngx_int_t ngx_http_b24trigger_send(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx);
static ngx_int_t ngx_http_b24trigger_map(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx);
static ngx_int_t ngx_http_b24trigger_ignored(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx);
static ngx_int_t ngx_http_b24trigger_target_invalid(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx);
static ngx_int_t ngx_http_b24trigger_dry_run(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx);
static ngx_int_t ngx_http_b24trigger_lookup_invalid(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx);
static ngx_int_t ngx_http_b24trigger_find(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx);
static void ngx_http_b24trigger_found(ngx_http_b24trigger_find_t *find);
static ngx_int_t ngx_http_b24trigger_found_reply(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_http_b24trigger_find_t *find);
static void ngx_http_b24trigger_find_cleanup(void *data);
static ngx_int_t ngx_http_b24trigger_busy(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_uint_t rc, ngx_msec_t delay);
static ngx_int_t ngx_http_b24trigger_deliver(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx);
static void ngx_http_b24trigger_bucket_answered(void *data, ngx_uint_t rc,
    ngx_msec_t delay);
static void ngx_http_b24trigger_bucket_gone(void *data);
static ngx_int_t ngx_http_b24trigger_bucket_taken(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_uint_t rc, ngx_msec_t delay);
static void ngx_http_b24trigger_bucket_waited(ngx_http_request_t *r);
static ngx_int_t ngx_http_b24trigger_deliver_call(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx);
static void ngx_http_b24trigger_call_finished(
    ngx_http_b24trigger_call_t *call);
static ngx_int_t ngx_http_b24trigger_call_reply(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_http_b24trigger_call_t *call);
static ngx_int_t ngx_http_b24trigger_forwarded(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx);
static void ngx_http_b24trigger_cleanup(void *data);
static void ngx_http_b24trigger_queued(ngx_http_request_t *r, ngx_int_t rc);


static ngx_str_t  ngx_http_b24trigger_ignored_json =
    ngx_string("{\"result\":\"ignored\"}");


ngx_int_t
ngx_http_b24trigger_handler(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_uint_t                       early;
    ngx_http_b24trigger_ctx_t       *ctx;
    ngx_http_b24trigger_loc_conf_t  *blcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_b24trigger_module);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_b24trigger_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_b24trigger_module);

    /*
     * verification and mapping read the body one way: the scheme's, or
     * JSON where "message=" does not fix where the body ends
     */

    ctx->body_read = ngx_http_b24trigger_verify_reads(blcf->verify);

    if (blcf->trust & NGX_HTTP_B24TRIGGER_TRUST_BODY_JSON) {
        ctx->body_read = (ctx->body_read & ~NGX_HTTP_B24TRIGGER_READ_KIND)
                         | NGX_HTTP_B24TRIGGER_READ_JSON;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "b24trigger handler, portal \"%V\"", &blcf->portal->name);

    if (r != r->main) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    if (!(r->method & blcf->methods)) {
        return ngx_http_b24trigger_reject(r, NGX_HTTP_NOT_ALLOWED,
                                          "method_not_allowed");
    }

    /* the arguments "$request_uri" signs, as nginx parsed them */

    if (ngx_http_b24trigger_trust_request(r, blcf) != NGX_OK) {
        return ngx_http_b24trigger_reject(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                          "request_rewritten");
    }

    /*
     * an announced length over the limit is refused at once; HTTP/2
     * senders read the answer only once their body is sent, so there the
     * body is read and dropped first, as for a chunked one
     */

    early = (r->headers_in.content_length_n > (off_t) blcf->body_max);

#if (NGX_HTTP_V2)
    if (r->stream) {
        early = 0;
    }
#endif

    if (early) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "b24trigger: body of %O bytes is larger than "
                      "b24trigger_body_max %uz",
                      r->headers_in.content_length_n, blcf->body_max);

        return ngx_http_b24trigger_reject(r,
                                          NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                          "body_too_large");
    }

    rc = ngx_http_b24trigger_body_read(r, ctx,
                                       ngx_http_b24trigger_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_http_b24trigger_reject(ngx_http_request_t *r, ngx_uint_t status,
    const char *error)
{
    ngx_int_t                   rc;
    ngx_http_b24trigger_ctx_t  *ctx;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_http_b24trigger_get_ctx(r);
    ctx->result = NGX_HTTP_B24TRIGGER_REJECTED;

    return ngx_http_b24trigger_reply_error(r, status, error, NULL);
}


/*
 * The one place a step's decision reaches the sender: rc NGX_DONE is an
 * answer a step decided (ctx->decision); anything else is passed on
 */

static ngx_int_t
ngx_http_b24trigger_answer(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_int_t rc)
{
    ngx_http_b24trigger_decision_t  *a;

    if (rc != NGX_DONE) {
        return rc;
    }

    a = &ctx->decision;

    if (a->error == NULL) {
        return ngx_http_b24trigger_reply_success(r, a->status, &a->json);
    }

    if (a->retry_after) {
        return ngx_http_b24trigger_reply_retry(r, a->status, a->error,
                                               a->retry_after);
    }

    return ngx_http_b24trigger_reply_error(r, a->status, a->error,
                                           a->json.len ? &a->json : NULL);
}


static void
ngx_http_b24trigger_body_handler(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_http_b24trigger_ctx_t  *ctx;

    ctx = ngx_http_b24trigger_get_ctx(r);

    rc = ngx_http_b24trigger_process(r, ctx);

    if (rc == NGX_DONE) {
        /* a call is in flight: its completion finalizes the request */
        return;
    }

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_http_b24trigger_process(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx)
{
    ngx_int_t                        rc;
    ngx_str_t                        reply;
    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_b24trigger_verdict_t    vd;
    ngx_http_b24trigger_loc_conf_t  *blcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_b24trigger_module);

    if (ctx->too_large) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "b24trigger: body is larger than b24trigger_body_max "
                      "%uz", blcf->body_max);

        ctx->result = NGX_HTTP_B24TRIGGER_REJECTED;
        return ngx_http_b24trigger_reply_error(r,
                                      NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                      "body_too_large", NULL);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "b24trigger body of %uz bytes", ctx->body.len);

    /* all of the body is in (none, for a GET): fields may be looked up */

    ctx->body_done = 1;

    /* verify: nothing unverified goes any further */

    ngx_memzero(&vd, sizeof(ngx_http_b24trigger_verdict_t));

    rc = ngx_http_b24trigger_verify(r, blcf->verify, blcf->keys, &ctx->body,
                                    &vd);

    switch (rc) {

    case NGX_OK:
        ctx->signature = vd.signature;
        ctx->signature_head = vd.signature_head;
        break;

    case NGX_DECLINED:

        /* fields checked before the signature: a body that cannot be read */

        if (ngx_http_b24trigger_fields_failed(ctx)) {
            return ngx_http_b24trigger_answer(r, ctx,
                               ngx_http_b24trigger_fields_reject(r, ctx));
        }

        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "b24trigger: webhook rejected in location \"%V\": "
                      "%V (%V)", &clcf->name, &vd.error, &vd.reason);

        ctx->result = NGX_HTTP_B24TRIGGER_REJECTED;
        ctx->error = vd.error;

        return ngx_http_b24trigger_reply_error(r, NGX_HTTP_UNAUTHORIZED,
                                               (char *) vd.error.data, NULL);

    case NGX_DONE:

        /* a verified handshake (Slack url_verification, ...) */

        ctx->result = NGX_HTTP_B24TRIGGER_IGNORED;

        rc = ngx_http_b24trigger_reply(r, NGX_HTTP_OK, &vd.reply,
                                       vd.reply_type.len ? &vd.reply_type
                                                         : NULL);
        return rc;

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * ignore, then target and code; a field any of them needed in a body
     * that is not JSON or a form answers 400 or 415 before anything else
     */

    if (blcf->ignore) {
        rc = ngx_http_test_predicates(r, blcf->ignore);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ngx_http_b24trigger_fields_failed(ctx)) {
            return ngx_http_b24trigger_answer(r, ctx,
                               ngx_http_b24trigger_fields_reject(r, ctx));
        }

        if (rc == NGX_DECLINED) {
            return ngx_http_b24trigger_ignored(r, ctx);
        }
    }

    if (ngx_http_b24trigger_map(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * the reply is made when the answer is sent, so that it may use
     * $b24trigger_result and the like; it is tried now too, so that a
     * field it needs fails the request before the portal is called
     */

    if (blcf->reply
        && ngx_http_complex_value(r, &blcf->reply->value, &reply) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_b24trigger_fields_failed(ctx)) {
        return ngx_http_b24trigger_answer(r, ctx,
                               ngx_http_b24trigger_fields_reject(r, ctx));
    }

    if (blcf->lookup) {

        /* the target is found later: what is looked up, checked now */

        if (ctx->lookup.len == 0
            || ctx->lookup.len > NGX_HTTP_B24TRIGGER_LOOKUP_VALUE_MAX
            || !ngx_http_b24trigger_utf8_string(&ctx->lookup))
        {
            return ngx_http_b24trigger_lookup_invalid(r, ctx);
        }

    } else if (!ngx_http_b24trigger_target_valid(&ctx->target)) {
        return ngx_http_b24trigger_target_invalid(r, ctx);
    }

    /*
     * Bitrix24 takes JSON: a code that is not UTF-8 cannot be sent; nor
     * can a longer one than a queued event holds (the same in both modes)
     */

    if (ctx->code.len > NGX_HTTP_B24TRIGGER_CODE_MAX
        || !ngx_http_b24trigger_utf8_string(&ctx->code))
    {
        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "b24trigger: code for target \"%V\" is not UTF-8 "
                      "or longer than %d bytes in location \"%V\"; check "
                      "b24trigger_code", &ctx->target,
                      NGX_HTTP_B24TRIGGER_CODE_MAX, &clcf->name);

        ctx->result = NGX_HTTP_B24TRIGGER_REJECTED;

        return ngx_http_b24trigger_reply_error(r, 422, "code_invalid", NULL);
    }

    if (blcf->dry_run) {

        /* a lookup only reads: a dry run makes it, to show its target */

        if (blcf->lookup) {
            return ngx_http_b24trigger_find(r, ctx);
        }

        return ngx_http_b24trigger_dry_run(r, ctx);
    }

    /*
     * a replay of a signed request, then a duplicate of an event; in a
     * cluster the request waits for Redis's answer, as for the portal's
     */

    rc = ngx_http_b24trigger_dedup_checks(r, ctx,
                                          ngx_http_b24trigger_checked);

    if (rc == NGX_AGAIN) {
        ctx->waiting = 1;

        r->read_event_handler = ngx_http_test_reading;
        r->write_event_handler = ngx_http_request_empty_handler;

        return NGX_DONE;
    }

    if (rc != NGX_DECLINED) {
        return ngx_http_b24trigger_answer(r, ctx, rc);
    }

    return ngx_http_b24trigger_send(r, ctx);
}


/* Redis answered the checks: the request goes on where it stopped */

static void
ngx_http_b24trigger_checked(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_connection_t           *c;
    ngx_http_b24trigger_ctx_t  *ctx;

    c = r->connection;
    ctx = ngx_http_b24trigger_get_ctx(r);
    ctx->waiting = 0;

    if (rc == NGX_DECLINED) {
        rc = ngx_http_b24trigger_send(r, ctx);

        if (rc == NGX_DONE) {
            /* a call or the bucket's wait: its end finalizes the request */
            return;
        }

    } else {
        rc = ngx_http_b24trigger_answer(r, ctx, rc);
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/* the checks passed: queued, or sent to the portal now */

static ngx_int_t
ngx_http_b24trigger_send(ngx_http_request_t *r, ngx_http_b24trigger_ctx_t *ctx)
{
    ngx_int_t                        rc;
    ngx_http_b24trigger_loc_conf_t  *blcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_b24trigger_module);

    /* queued: the target is looked up when the event is delivered */

    if (blcf->delivery == NGX_HTTP_B24TRIGGER_DELIVERY_QUEUE) {
        rc = ngx_http_b24trigger_enqueue(r, ctx, ngx_http_b24trigger_queued);

        if (rc != NGX_AGAIN) {
            return ngx_http_b24trigger_answer(r, ctx, rc);
        }

        /* the group commit at the end of this turn answers */

        r->read_event_handler = ngx_http_block_reading;
        r->write_event_handler = ngx_http_request_empty_handler;

        return NGX_DONE;
    }

    if (blcf->lookup) {
        return ngx_http_b24trigger_find(r, ctx);
    }

    return ngx_http_b24trigger_deliver(r, ctx);
}


/* "b24trigger_ignore": acknowledged, not forwarded, target not checked */

static ngx_int_t
ngx_http_b24trigger_ignored(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx)
{
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "b24trigger ignored");

    ctx->result = NGX_HTTP_B24TRIGGER_IGNORED;

    return ngx_http_b24trigger_reply_success(r, NGX_HTTP_OK,
                                             &ngx_http_b24trigger_ignored_json);
}


/* target and code out of the request */

static ngx_int_t
ngx_http_b24trigger_map(ngx_http_request_t *r, ngx_http_b24trigger_ctx_t *ctx)
{
    ngx_http_b24trigger_loc_conf_t  *blcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_b24trigger_module);

    if (blcf->target
        && ngx_http_complex_value(r, blcf->target, &ctx->target) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (blcf->lookup
        && ngx_http_complex_value(r, &blcf->lookup->value, &ctx->lookup)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (blcf->code
        && ngx_http_complex_value(r, blcf->code, &ctx->code) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_b24trigger_target_invalid(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx)
{
    u_char                    *p;
    size_t                     len;
    ngx_str_t                  extra;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    p = ngx_http_b24trigger_json_string(r->pool, &ctx->target, 100, &len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "b24trigger: invalid target \"%V\" in location \"%V\", "
                  "expected TYPENAME_ID such as DEAL_57",
                  ngx_http_b24trigger_log_value(r->pool, &ctx->target),
                  &clcf->name);

    extra.len = sizeof(",\"target\":\"\"") - 1 + len;
    extra.data = ngx_pnalloc(r->pool, extra.len);
    if (extra.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf(extra.data, ",\"target\":\"%*s\"", len, p);

    ctx->result = NGX_HTTP_B24TRIGGER_REJECTED;

    return ngx_http_b24trigger_reply_error(r, 422, "target_invalid", &extra);
}


/*
 * TYPENAME_ID: a name ([A-Za-z] then letters, digits, "_"; at most 64),
 * "_", a positive integer of at most 18 digits, nothing after it
 */

ngx_int_t
ngx_http_b24trigger_target_valid(ngx_str_t *target)
{
    u_char  *p, *last, *us;

    p = target->data;
    last = target->data + target->len;

    us = NULL;

    for (us = last; us > p; us--) {
        if (us[-1] == '_') {
            break;
        }
    }

    if (us == p) {
        return 0;
    }

    /* us points after the last "_" */

    if (last - us == 0 || last - us > NGX_HTTP_B24TRIGGER_TARGET_ID_MAX
        || *us == '0')
    {
        return 0;
    }

    for (p = us; p < last; p++) {
        if (*p < '0' || *p > '9') {
            return 0;
        }
    }

    last = us - 1;
    p = target->data;

    if (last - p == 0 || last - p > NGX_HTTP_B24TRIGGER_TARGET_NAME_MAX) {
        return 0;
    }

    if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))) {
        return 0;
    }

    for (p++; p < last; p++) {
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')
              || (*p >= '0' && *p <= '9') || *p == '_'))
        {
            return 0;
        }
    }

    return 1;
}


/* "b24trigger_dry_run on": the call is logged, not made */

static ngx_int_t
ngx_http_b24trigger_dry_run(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx)
{
    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_b24trigger_loc_conf_t  *blcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_b24trigger_module);
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "b24trigger: dry run, not sent to portal \"%V\": "
                  "target \"%V\" code \"%V\" from location \"%V\"",
                  &blcf->portal->name, &ctx->target,
                  ngx_http_b24trigger_log_value(r->pool, &ctx->code),
                  &clcf->name);

    ctx->result = NGX_HTTP_B24TRIGGER_DRY_RUN;

    return ngx_http_b24trigger_forwarded(r, ctx);
}


/*
 * The portal's bucket first (src/ngx_http_b24trigger_bucket.c): a place now,
 * a place after a wait of at most the portal's "wait=" (the request waits
 * on a timer, as limit_req's delay does), or 503 with Retry-After and the
 * portal is not called at all.
 */

static ngx_int_t
ngx_http_b24trigger_deliver(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx)
{
    void                            *ask;
    ngx_int_t                        rc;
    ngx_msec_t                       delay;
    ngx_pool_cleanup_t              *cln;
    ngx_http_b24trigger_loc_conf_t  *blcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_b24trigger_module);

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_b24trigger_bucket_take_shared(blcf->portal,
                                         blcf->portal->wait, &delay,
                                         ngx_http_b24trigger_bucket_answered,
                                         r, &ask);

    if (rc == NGX_AGAIN) {

        /* the cluster's bucket: the request waits for Redis */

        ctx->bucket = ask;
        ctx->waiting = 1;

        cln->handler = ngx_http_b24trigger_bucket_gone;
        cln->data = ctx;

        r->read_event_handler = ngx_http_test_reading;
        r->write_event_handler = ngx_http_request_empty_handler;

        return NGX_DONE;
    }

    return ngx_http_b24trigger_bucket_taken(r, ctx, (ngx_uint_t) rc, delay);
}


static void
ngx_http_b24trigger_bucket_answered(void *data, ngx_uint_t rc,
    ngx_msec_t delay)
{
    ngx_int_t                   rv;
    ngx_connection_t           *c;
    ngx_http_request_t         *r;
    ngx_http_b24trigger_ctx_t  *ctx;

    r = data;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    ctx = ngx_http_b24trigger_get_ctx(r);
    ctx->bucket = NULL;
    ctx->waiting = 0;

    rv = ngx_http_b24trigger_bucket_taken(r, ctx, rc, delay);

    if (rv == NGX_DONE) {
        return;
    }

    ngx_http_finalize_request(r, rv);
    ngx_http_run_posted_requests(c);
}


/* the request went away while Redis had its bucket's answer to give */

static void
ngx_http_b24trigger_bucket_gone(void *data)
{
    ngx_http_b24trigger_ctx_t *ctx = data;

    if (ctx->bucket) {
        ngx_http_b24trigger_bucket_cancel(ctx->bucket);
        ctx->bucket = NULL;
    }
}


static ngx_int_t
ngx_http_b24trigger_bucket_taken(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_uint_t rc, ngx_msec_t delay)
{
    ngx_connection_t  *c;

    c = r->connection;

    if (rc != NGX_HTTP_B24TRIGGER_BUCKET_OK) {
        return ngx_http_b24trigger_busy(r, ctx, rc, delay);
    }

    if (delay == 0) {
        return ngx_http_b24trigger_deliver_call(r, ctx);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "b24trigger waits %M ms for the portal's bucket", delay);

    ctx->waiting = 1;

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_b24trigger_bucket_waited;

    c->write->delayed = 1;
    ngx_add_timer(c->write, delay);

    return NGX_DONE;
}


/* no place in the portal's bucket within its wait=: 503, Retry-After */

static ngx_int_t
ngx_http_b24trigger_busy(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_uint_t rc, ngx_msec_t delay)
{
    time_t                           secs;
    ngx_connection_t                *c;
    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_b24trigger_loc_conf_t  *blcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_b24trigger_module);
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    c = r->connection;

    secs = (delay + 999) / 1000;
    ctx->result = NGX_HTTP_B24TRIGGER_FAILED;

    ngx_http_b24trigger_dedup_release(ctx);

    if (rc == NGX_HTTP_B24TRIGGER_BUCKET_BLOCKED) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "b24trigger: portal \"%V\" is blocked "
                      "(OPERATION_TIME_LIMIT) for %T s, target \"%V\" "
                      "from location \"%V\" not triggered; the method's "
                      "time budget on the portal is used up for a while",
                      &blcf->portal->name, secs, &ctx->target,
                      &clcf->name);

        ngx_str_set(&ctx->error, "portal_rate_limited");

        return ngx_http_b24trigger_reply_retry(r,
                                          NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "portal_rate_limited", secs);
    }

    ngx_log_error(NGX_LOG_ERR, c->log, 0,
                  "b24trigger: the bucket of portal \"%V\" is full, "
                  "target \"%V\" from location \"%V\" not triggered, "
                  "the sender is asked to retry in %T s; raise rate= "
                  "and burst= of b24trigger_portal if the portal allows "
                  "more, or use \"b24trigger_delivery queue\"",
                  &blcf->portal->name, &ctx->target, &clcf->name, secs);

    ngx_str_set(&ctx->error, "rate_limited");

    return ngx_http_b24trigger_reply_retry(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                           "rate_limited", secs);
}


static void
ngx_http_b24trigger_bucket_waited(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_event_t                *wev;
    ngx_http_b24trigger_ctx_t  *ctx;

    wev = r->connection->write;

    if (wev->delayed) {
        if (ngx_handle_write_event(wev, 0) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        return;
    }

    ctx = ngx_http_b24trigger_get_ctx(r);

    r->write_event_handler = ngx_http_request_empty_handler;

    rc = ngx_http_b24trigger_deliver_call(r, ctx);

    if (rc == NGX_DONE) {
        return;
    }

    ctx->waiting = 0;
    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_http_b24trigger_deliver_call(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx)
{
    ngx_connection_t                *c;
    ngx_pool_cleanup_t              *cln;
    ngx_http_b24trigger_call_t      *call;
    ngx_http_b24trigger_loc_conf_t  *blcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_b24trigger_module);
    c = r->connection;

    call = ngx_pcalloc(r->pool, sizeof(ngx_http_b24trigger_call_t));
    if (call == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    call->portal = blcf->portal;
    call->target = ctx->target;
    call->code = ctx->code;
    call->method = blcf->method;
    call->pool = r->pool;
    call->log = c->log;
    call->done = ngx_http_b24trigger_call_finished;
    call->data = r;

    ctx->call = call;
    ctx->attempts = 1;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "b24trigger call portal \"%V\" target:\"%V\" code:\"%V\"",
                   &call->portal->name, &call->target,
                   ngx_http_b24trigger_log_value(r->pool, &call->code));

    if (ngx_http_b24trigger_call_start(call) != NGX_OK) {
        ctx->result = NGX_HTTP_B24TRIGGER_FAILED;
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* a client that goes away cancels the call, and nothing is left */

    cln->handler = ngx_http_b24trigger_cleanup;
    cln->data = call;

    ctx->waiting = 1;

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    if (c->read->ready) {
        ngx_post_event(c->read, &ngx_posted_events);
    }

    return NGX_DONE;
}


/* the group commit covered this request's event, or failed */

static void
ngx_http_b24trigger_queued(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_connection_t           *c;
    ngx_http_b24trigger_ctx_t  *ctx;

    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    ctx = ngx_http_b24trigger_get_ctx(r);

    ngx_http_finalize_request(r, ngx_http_b24trigger_answer(r, ctx, rc));
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_b24trigger_cleanup(void *data)
{
    ngx_http_b24trigger_call_t  *call = data;

    ngx_http_b24trigger_call_cancel(call);
}


static void
ngx_http_b24trigger_call_finished(ngx_http_b24trigger_call_t *call)
{
    ngx_int_t                   rc;
    ngx_connection_t           *c;
    ngx_http_request_t         *r;
    ngx_http_b24trigger_ctx_t  *ctx;

    r = call->data;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    ctx = ngx_http_b24trigger_get_ctx(r);
    ctx->waiting = 0;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "b24trigger call done: %s status:%ui time:%M",
                   ngx_http_b24trigger_outcome_name(call->outcome),
                   call->status, call->time);

    if (call->outcome != NGX_HTTP_B24TRIGGER_CALL_OK) {
        ngx_http_b24trigger_dedup_release(ctx);
    }

    rc = ngx_http_b24trigger_call_reply(r, ctx, call);

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_b24trigger_call_reply(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_http_b24trigger_call_t *call)
{
    u_char                    *e, *d;
    size_t                     elen, dlen;
    ngx_str_t                  extra;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    switch (call->outcome) {

    case NGX_HTTP_B24TRIGGER_CALL_OK:
        ctx->result = NGX_HTTP_B24TRIGGER_FORWARDED;

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "b24trigger forwarded");

        ngx_http_b24trigger_dedup_commit(r, ctx);

        return ngx_http_b24trigger_forwarded(r, ctx);

    case NGX_HTTP_B24TRIGGER_CALL_PORTAL_ERROR:
        ctx->result = NGX_HTTP_B24TRIGGER_FAILED;

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "b24trigger: portal \"%V\" refused target \"%V\" "
                      "code \"%V\" from location \"%V\": %ui %s \"%V\" "
                      "(attempt %ui); %s",
                      &call->portal->name, &call->target,
                      ngx_http_b24trigger_log_value(r->pool, &call->code),
                      &clcf->name, call->status,
                      call->error.len
                      ? (char *) ngx_http_b24trigger_log_value(r->pool,
                                                         &call->error)->data
                      : "(no error code)",
                      ngx_http_b24trigger_log_value(r->pool,
                                                    &call->error_description),
                      ctx->attempts, ngx_http_b24trigger_call_hint(call));

        e = ngx_http_b24trigger_json_string(r->pool, &call->error, 128,
                                            &elen);
        d = ngx_http_b24trigger_json_string(r->pool,
                                            &call->error_description, 512,
                                            &dlen);
        if (e == NULL || d == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        extra.len = sizeof(",\"portal_error\":\"\","
                           "\"portal_error_description\":\"\"") - 1
                    + elen + dlen;
        extra.data = ngx_pnalloc(r->pool, extra.len);
        if (extra.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_sprintf(extra.data,
                    ",\"portal_error\":\"%*s\","
                    "\"portal_error_description\":\"%*s\"",
                    elen, e, dlen, d);

        return ngx_http_b24trigger_reply_error(r, NGX_HTTP_BAD_GATEWAY,
                                               "portal_error", &extra);

    case NGX_HTTP_B24TRIGGER_CALL_RATE_LIMITED:
        ctx->result = NGX_HTTP_B24TRIGGER_FAILED;

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "b24trigger: portal \"%V\" is rate limiting "
                      "(%V \"%V\"), target \"%V\" from location \"%V\" "
                      "not triggered, the sender is asked to retry in "
                      "%T s; %s", &call->portal->name,
                      ngx_http_b24trigger_log_value(r->pool, &call->error),
                      ngx_http_b24trigger_log_value(r->pool,
                                                    &call->error_description),
                      &call->target, &clcf->name, call->retry_after,
                      ngx_http_b24trigger_call_hint(call));

        ctx->error.data = call->error.data;
        ctx->error.len = call->error.len;

        return ngx_http_b24trigger_reply_retry(r,
                                               NGX_HTTP_SERVICE_UNAVAILABLE,
                                               "portal_rate_limited",
                                               call->retry_after);

    case NGX_HTTP_B24TRIGGER_CALL_TIMEOUT:
    case NGX_HTTP_B24TRIGGER_CALL_UNREACHABLE:
        ctx->result = NGX_HTTP_B24TRIGGER_FAILED;

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "b24trigger: portal \"%V\" at \"%V\" %s: %V; target "
                      "\"%V\" from location \"%V\" not triggered "
                      "(attempt %ui); %s",
                      &call->portal->name, &call->portal->safe_url,
                      call->outcome == NGX_HTTP_B24TRIGGER_CALL_TIMEOUT
                      ? "timed out" : "unreachable",
                      ngx_http_b24trigger_log_value(r->pool, &call->detail),
                      &call->target, &clcf->name,
                      ctx->attempts, ngx_http_b24trigger_call_hint(call));

        if (call->outcome == NGX_HTTP_B24TRIGGER_CALL_TIMEOUT) {
            return ngx_http_b24trigger_reply_error(r,
                                                NGX_HTTP_GATEWAY_TIME_OUT,
                                                "portal_timeout", NULL);
        }

        return ngx_http_b24trigger_reply_error(r, NGX_HTTP_BAD_GATEWAY,
                                               "portal_unreachable", NULL);

    case NGX_HTTP_B24TRIGGER_CALL_BAD_RESPONSE:
        ctx->result = NGX_HTTP_B24TRIGGER_FAILED;

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "b24trigger: portal \"%V\" gave an invalid answer "
                      "(HTTP %ui, %V); target \"%V\" from location \"%V\" "
                      "not triggered (attempt %ui); %s", &call->portal->name,
                      call->status,
                      ngx_http_b24trigger_log_value(r->pool, &call->detail),
                      &call->target, &clcf->name, ctx->attempts,
                      ngx_http_b24trigger_call_hint(call));

        extra.data = ngx_pnalloc(r->pool, sizeof(",\"portal_status\":") - 1
                                          + NGX_INT_T_LEN);
        if (extra.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        extra.len = ngx_sprintf(extra.data, ",\"portal_status\":%ui",
                                call->status)
                    - extra.data;

        return ngx_http_b24trigger_reply_error(r, NGX_HTTP_BAD_GATEWAY,
                                               "portal_invalid_response",
                                               &extra);

    default:
        ctx->result = NGX_HTTP_B24TRIGGER_FAILED;
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


/* {"result":"forwarded","target":"DEAL_57","code":"c5u4m"} */

static ngx_int_t
ngx_http_b24trigger_forwarded(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx)
{
    u_char     *code, *p;
    size_t      len;
    ngx_str_t   json;

    code = ngx_http_b24trigger_json_string(r->pool, &ctx->code, 1024, &len);
    if (code == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json.data = ngx_pnalloc(r->pool,
                            sizeof("{\"result\":\"forwarded\",\"target\":\"\","
                                   "\"code\":\"\"}") - 1
                            + ctx->target.len + len);
    if (json.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* copies, not ngx_sprintf(): this runs for every webhook */

    p = ngx_cpymem(json.data, "{\"result\":\"forwarded\",\"target\":\"",
                   sizeof("{\"result\":\"forwarded\",\"target\":\"") - 1);
    p = ngx_cpymem(p, ctx->target.data, ctx->target.len);
    p = ngx_cpymem(p, "\",\"code\":\"", sizeof("\",\"code\":\"") - 1);
    p = ngx_cpymem(p, code, len);
    *p++ = '"';
    *p++ = '}';

    json.len = p - json.data;

    return ngx_http_b24trigger_reply_success(r, NGX_HTTP_OK, &json);
}


/* "b24trigger_lookup" with no value to look up: 422, nothing asked */

static ngx_int_t
ngx_http_b24trigger_lookup_invalid(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx)
{
    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_b24trigger_loc_conf_t  *blcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_b24trigger_module);
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "b24trigger: nothing to look up in location \"%V\": the "
                  "value of \"b24trigger_lookup %V %V\" is empty, longer "
                  "than %d bytes or not UTF-8",
                  &clcf->name, &blcf->lookup->spec.entity,
                  &blcf->lookup->spec.field,
                  NGX_HTTP_B24TRIGGER_LOOKUP_VALUE_MAX);

    ctx->result = NGX_HTTP_B24TRIGGER_REJECTED;

    return ngx_http_b24trigger_reply_error(r, 422, "lookup_value_invalid",
                                           NULL);
}


/*
 * The target found by "b24trigger_lookup" (ngx_http_b24trigger_lookup.c):
 * at once from its zone, or after a call to the portal that spends a
 * place in its bucket like the trigger's own call
 */

static ngx_int_t
ngx_http_b24trigger_find(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx)
{
    ngx_int_t                           rc;
    ngx_pool_cleanup_t                 *cln;
    ngx_http_b24trigger_find_t         *find;
    ngx_http_b24trigger_loc_conf_t     *blcf;
    ngx_http_b24trigger_lookup_spec_t  *spec;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_b24trigger_module);

    find = ngx_pcalloc(r->pool, sizeof(ngx_http_b24trigger_find_t));
    spec = ngx_palloc(r->pool, sizeof(ngx_http_b24trigger_lookup_spec_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (find == NULL || spec == NULL || cln == NULL) {
        ngx_http_b24trigger_dedup_release(ctx);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *spec = blcf->lookup->spec;
    spec->value = ctx->lookup;

    find->spec = spec;
    find->zone = blcf->lookup->zone;
    find->portal = blcf->portal;
    find->pool = r->pool;
    find->log = r->connection->log;
    find->wait = blcf->portal->wait;
    find->done = ngx_http_b24trigger_found;
    find->data = r;

    /* a client that goes away cancels the lookup */

    cln->handler = ngx_http_b24trigger_find_cleanup;
    cln->data = find;

    rc = ngx_http_b24trigger_find_start(find);

    if (rc == NGX_ERROR) {
        ctx->result = NGX_HTTP_B24TRIGGER_FAILED;
        ngx_http_b24trigger_dedup_release(ctx);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_OK) {
        return ngx_http_b24trigger_found_reply(r, ctx, find);
    }

    ctx->find = find;
    ctx->waiting = 1;

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    return NGX_DONE;
}


static void
ngx_http_b24trigger_find_cleanup(void *data)
{
    ngx_http_b24trigger_find_t  *find = data;

    ngx_http_b24trigger_find_cancel(find);
}


static void
ngx_http_b24trigger_found(ngx_http_b24trigger_find_t *find)
{
    ngx_int_t                   rc;
    ngx_connection_t           *c;
    ngx_http_request_t         *r;
    ngx_http_b24trigger_ctx_t  *ctx;

    r = find->data;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    ctx = ngx_http_b24trigger_get_ctx(r);
    ctx->waiting = 0;
    ctx->find = NULL;

    rc = ngx_http_b24trigger_found_reply(r, ctx, find);

    if (rc == NGX_DONE) {
        /* the trigger's call is on its way, or waits for the bucket */
        return;
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/* what the lookup found leads to: the trigger, or the sender hears why */

static ngx_int_t
ngx_http_b24trigger_found_reply(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_http_b24trigger_find_t *find)
{
    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_b24trigger_loc_conf_t  *blcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_b24trigger_module);
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    switch (find->result) {

    case NGX_HTTP_B24TRIGGER_FOUND:
        ctx->target = find->target;

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "b24trigger lookup found \"%V\"%s", &ctx->target,
                       find->cached ? " in its zone" : "");

        if (blcf->dry_run) {
            return ngx_http_b24trigger_dry_run(r, ctx);
        }

        return ngx_http_b24trigger_deliver(r, ctx);

    case NGX_HTTP_B24TRIGGER_NOT_FOUND:
    case NGX_HTTP_B24TRIGGER_AMBIGUOUS:
        ngx_http_b24trigger_dedup_release(ctx);

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "b24trigger: portal \"%V\" has %s %V with %V \"%V\"%s, "
                      "location \"%V\" triggers nothing",
                      &blcf->portal->name,
                      find->result == NGX_HTTP_B24TRIGGER_AMBIGUOUS
                      ? "more than one" : "no",
                      &find->spec->entity, &find->spec->field,
                      ngx_http_b24trigger_log_value(r->pool,
                                                    &find->spec->value),
                      find->cached ? " (as its zone remembers)" : "",
                      &clcf->name);

        ctx->result = NGX_HTTP_B24TRIGGER_REJECTED;

        return ngx_http_b24trigger_reply_error(r, 422,
                              ngx_http_b24trigger_find_error(find->result),
                              NULL);

    case NGX_HTTP_B24TRIGGER_FIND_BUSY:
        return ngx_http_b24trigger_busy(r, ctx, find->bucket, find->delay);

    default:

        /* the portal's error: the same replies as the trigger's call */

        ngx_http_b24trigger_dedup_release(ctx);

        if (find->call.outcome == NGX_HTTP_B24TRIGGER_CALL_INTERNAL) {
            ctx->result = NGX_HTTP_B24TRIGGER_FAILED;
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->attempts = 1;

        return ngx_http_b24trigger_call_reply(r, ctx, &find->call);
    }
}
