
/*
 * Copyright (C) b24trigger authors
 *
 * What the sender gets back: a status and a small JSON body (or the body
 * b24trigger_reply asks for); the strings of it, and of the portal's
 * calls, escaped for JSON.  Knows nothing about portals or signatures.
 */


#include "ngx_http_b24trigger.h"


/* the bytes ngx_escape_json() escapes */

static u_char  ngx_http_b24trigger_json_escapes[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,      /* '"' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,      /* '\\' */
};


ngx_int_t
ngx_http_b24trigger_reply(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *json, ngx_str_t *type)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    if (r->header_sent) {
        return NGX_ERROR;
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = json->len;

    if (type != NULL) {
        r->headers_out.content_type = *type;

    } else {
        ngx_str_set(&r->headers_out.content_type, "application/json");
    }

    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    if (json->len == 0) {
        return ngx_http_send_special(r, NGX_HTTP_LAST);
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = json->data;
    b->last = json->data + json->len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * A 2xx answer (forwarded, ignored, queued, duplicate): the JSON given, or
 * the body "b24trigger_reply" asks for, with its content type or the
 * location's default_type, as "return" does
 */

ngx_int_t
ngx_http_b24trigger_reply_success(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *json)
{
    ngx_str_t                        body;
    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_b24trigger_loc_conf_t  *blcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_b24trigger_module);

    if (blcf->reply == NULL) {
        return ngx_http_b24trigger_reply(r, status, json, NULL);
    }

    if (ngx_http_complex_value(r, &blcf->reply->value, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (blcf->reply->type.len) {
        return ngx_http_b24trigger_reply(r, status, &body, &blcf->reply->type);
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    return ngx_http_b24trigger_reply(r, status, &body, &clcf->default_type);
}


/* {"error":"ERROR"EXTRA}, EXTRA being ready-made ',"key":"value"' pairs */

ngx_int_t
ngx_http_b24trigger_reply_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error, ngx_str_t *extra)
{
    size_t                      len;
    ngx_str_t                   json;
    ngx_http_b24trigger_ctx_t  *ctx;

    ctx = ngx_http_b24trigger_get_ctx(r);

    if (ctx != NULL && ctx->error.len == 0) {
        ctx->error.data = (u_char *) error;
        ctx->error.len = ngx_strlen(error);
    }

    len = sizeof("{\"error\":\"\"}") - 1 + ngx_strlen(error)
          + (extra ? extra->len : 0);

    json.data = ngx_pnalloc(r->pool, len);
    if (json.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json.len = ngx_sprintf(json.data, "{\"error\":\"%s\"%V}", error,
                           extra ? extra : &(ngx_str_t) ngx_null_string)
               - json.data;

    return ngx_http_b24trigger_reply(r, status, &json, NULL);
}


/*
 * src as the inside of a JSON string, cut at max bytes before escaping:
 * src itself when nothing in it needs escaping (never NULL)
 */

u_char *
ngx_http_b24trigger_json_string(ngx_pool_t *pool, ngx_str_t *src,
    size_t max, size_t *len)
{
    u_char     *p, *last;
    size_t      n;
    uintptr_t   extra;

    n = ngx_min(src->len, max);

    extra = ngx_http_b24trigger_json_escaped(src->data, n);

    if (extra == 0) {
        *len = n;
        return n ? src->data : (u_char *) "";
    }

    p = ngx_pnalloc(pool, n + extra);
    if (p == NULL) {
        return NULL;
    }

    last = (u_char *) ngx_escape_json(p, src->data, n);
    *len = last - p;

    return p;
}


/*
 * What ngx_escape_json(NULL, src, size) gives, the bytes its escaping
 * adds, but found to be 0 (nothing to escape: the usual, a target, a
 * code, a token) by a quick look, where nginx takes a switch per byte.
 * A caller copies src as it is where it is 0 (JSON strings are written
 * on every webhook: its call and its reply).
 */

uintptr_t
ngx_http_b24trigger_json_escaped(u_char *src, size_t size)
{
    size_t    i;
    u_char    bad;
    uint64_t  w, q, b, hit;

    /*
     * no '"', no '\\', no byte below 0x20, eight bytes at a time: bit 7
     * of a byte of (x - 0x01..) & ~x is set where x is zero, of
     * (x - 0x20..) & ~x where x is below 0x20 (exact for "any": a
     * borrow starts only at such a byte); the rest by table
     */

    hit = 0;

    for (i = 0; i + 8 <= size; i += 8) {
        ngx_memcpy(&w, src + i, 8);

        q = w ^ 0x2222222222222222ULL;
        b = w ^ 0x5c5c5c5c5c5c5c5cULL;

        hit |= ((w - 0x2020202020202020ULL) & ~w)
               | ((q - 0x0101010101010101ULL) & ~q)
               | ((b - 0x0101010101010101ULL) & ~b);
    }

    bad = (hit & 0x8080808080808080ULL) != 0;

    for ( /* void */ ; i < size; i++) {
        bad |= ngx_http_b24trigger_json_escapes[src[i]];
    }

    return bad ? ngx_escape_json(NULL, src, size) : 0;
}


/*
 * src into dst as the inside of a JSON string, escaped when escaped (what
 * ngx_http_b24trigger_json_escaped() said of it) is not 0, else as it is
 */

u_char *
ngx_http_b24trigger_json_copy(u_char *dst, ngx_str_t *src,
    uintptr_t escaped)
{
    if (escaped) {
        return (u_char *) ngx_escape_json(dst, src->data, src->len);
    }

    return ngx_cpymem(dst, src->data, src->len);
}


ngx_int_t
ngx_http_b24trigger_reply_retry(ngx_http_request_t *r, ngx_uint_t status,
    const char *error, time_t retry_after)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    ngx_str_set(&h->key, "Retry-After");

    h->value.data = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (h->value.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->value.len = ngx_sprintf(h->value.data, "%T", retry_after)
                   - h->value.data;

    return ngx_http_b24trigger_reply_error(r, status, error, NULL);
}


/*
 * A step's decision (a duplicate, a body that cannot be read, the
 * enqueue's 202 or 503), kept for the handler to send: error NULL is a
 * 2xx with json as its body, else json is the error's extra pairs.
 * Always NGX_DONE.
 */

ngx_int_t
ngx_http_b24trigger_decide(ngx_http_b24trigger_ctx_t *ctx,
    ngx_uint_t status, const char *error, ngx_str_t *json,
    time_t retry_after)
{
    ctx->decision.status = status;
    ctx->decision.error = error;
    ctx->decision.retry_after = retry_after;

    if (json) {
        ctx->decision.json = *json;

    } else {
        ngx_str_null(&ctx->decision.json);
    }

    return NGX_DONE;
}
