
/*
 * Copyright (C) b24trigger authors
 *
 * The request body, kept in memory exactly as sent.  A request body filter
 * copies what nginx decoded (Content-Length or chunked) into one buffer of
 * the request's context, so signatures are computed over the raw bytes and
 * nothing ever lands in a temporary file, whatever client_body_buffer_size
 * says.  Beyond b24trigger_body_max the rest is read and dropped, and the
 * handler answers 413.  Once read, the body is followed in its buffer by
 * NGX_HTTP_B24TRIGGER_JSON_PAD zero bytes, not part of it: the JSON parse
 * reads it in place then, instead of a copy.
 */


#include "ngx_http_b24trigger.h"
#include "ngx_http_b24trigger_body_parse.h"


#define NGX_HTTP_B24TRIGGER_BODY_CHUNK  4096


static ngx_int_t ngx_http_b24trigger_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_b24trigger_body_append(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, size_t max, u_char *data, size_t len);


static ngx_http_request_body_filter_pt   ngx_http_next_request_body_filter;


ngx_int_t
ngx_http_b24trigger_body_init(ngx_conf_t *cf)
{
    ngx_http_next_request_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_http_b24trigger_body_filter;

    return NGX_OK;
}


ngx_int_t
ngx_http_b24trigger_body_read(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_http_client_body_handler_pt handler)
{
    ngx_http_b24trigger_loc_conf_t  *blcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_b24trigger_module);

    if (r->headers_in.content_length_n > 0
        && r->headers_in.content_length_n <= (off_t) blcf->body_max)
    {
        /* the length is known and within b24trigger_body_max */

        ctx->body.data = ngx_pnalloc(r->pool,
                                 (size_t) r->headers_in.content_length_n
                                 + NGX_HTTP_B24TRIGGER_JSON_PAD);
        if (ctx->body.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->body_size = (size_t) r->headers_in.content_length_n;
    }

    ctx->reading = 1;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "b24trigger read body, length:%O",
                   r->headers_in.content_length_n);

    return ngx_http_read_client_request_body(r, handler);
}


static ngx_int_t
ngx_http_b24trigger_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    size_t                           size;
    ngx_buf_t                       *b;
    ngx_uint_t                       last;
    ngx_chain_t                     *cl, out;
    ngx_http_b24trigger_ctx_t       *ctx;
    ngx_http_b24trigger_loc_conf_t  *blcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_b24trigger_module);

    if (ctx == NULL || !ctx->reading) {
        return ngx_http_next_request_body_filter(r, in);
    }

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_b24trigger_module);

    last = 0;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;
        size = b->last - b->pos;

        if (size && !ctx->too_large) {
            if (ngx_http_b24trigger_body_append(r, ctx, blcf->body_max,
                                                b->pos, size)
                != NGX_OK)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }

        /* consumed: nginx may reuse the buffer */

        b->pos = b->last;

        if (b->last_buf) {
            last = 1;
        }
    }

    if (!last) {
        return NGX_OK;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "b24trigger body done, size:%uz too large:%d",
                   ctx->body.len, ctx->too_large);

    ctx->reading = 0;
    ctx->body_done = 1;

    if (ctx->body.data) {
        ngx_memzero(ctx->body.data + ctx->body.len,
                    NGX_HTTP_B24TRIGGER_JSON_PAD);
        ctx->body_padded = 1;
    }

    /* the save filter only learns that the body is over */

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last_buf = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_request_body_filter(r, &out);
}


static ngx_int_t
ngx_http_b24trigger_body_append(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, size_t max, u_char *data, size_t len)
{
    u_char  *p;
    size_t   size;

    if (ctx->body.len + len > max) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "b24trigger body larger than %uz", max);
        ctx->too_large = 1;
        return NGX_OK;
    }

    if (ctx->body.len + len > ctx->body_size) {

        /* chunked or longer than announced: grow geometrically */

        size = ngx_max(ctx->body_size * 2, NGX_HTTP_B24TRIGGER_BODY_CHUNK);

        while (size < ctx->body.len + len) {
            size *= 2;
        }

        if (size > max) {
            size = max;
        }

        p = ngx_pnalloc(r->pool, size + NGX_HTTP_B24TRIGGER_JSON_PAD);
        if (p == NULL) {
            return NGX_ERROR;
        }

        if (ctx->body.len) {
            ngx_memcpy(p, ctx->body.data, ctx->body.len);
        }

        ctx->body.data = p;
        ctx->body_size = size;
    }

    ngx_memcpy(ctx->body.data + ctx->body.len, data, len);
    ctx->body.len += len;

    return NGX_OK;
}
