
/*
 * Copyright (C) b24trigger authors
 *
 * Fields of the request body: the "b24trigger_field" variables,
 * ngx_http_b24trigger_field_value() and the root fields the digest
 * schemes hash.  Decides what the body is (as the location's scheme
 * says: always JSON, always a form, its first byte, or its content type),
 * parses it once per request, when the first field is looked up, and
 * keeps the result in the request's context, so that verification and
 * mapping read the same values.  Where fields are read before the
 * signature is checked, it bounds them and refuses a root name given
 * twice.  The parsing itself is in ngx_http_b24trigger_body_parse.c.  Knows
 * the body and nothing about portals or signatures.
 */


#include "ngx_http_b24trigger.h"
#include "ngx_http_b24trigger_fields.h"
#include "ngx_http_b24trigger_multipart.h"


typedef enum {
    NGX_HTTP_B24TRIGGER_BODY_EMPTY = 0,
    NGX_HTTP_B24TRIGGER_BODY_JSON,
    NGX_HTTP_B24TRIGGER_BODY_FORM,
    NGX_HTTP_B24TRIGGER_BODY_MULTIPART,     /* read into pairs: then FORM */
    NGX_HTTP_B24TRIGGER_BODY_INVALID,
    NGX_HTTP_B24TRIGGER_BODY_UNSUPPORTED,
    NGX_HTTP_B24TRIGGER_BODY_TOO_MANY
} ngx_http_b24trigger_body_e;


struct ngx_http_b24trigger_fields_s {
    ngx_http_b24trigger_body_e     kind;
    ngx_http_b24trigger_json_t    *json;
    ngx_array_t                    pairs;      /* ngx_keyval_t */
    ngx_array_t                    root;       /* ngx_http_b24trigger_
                                                  root_t, if has_root */
    ngx_str_t                      reason;     /* why not usable */
    unsigned                       strict:1;
    unsigned                       has_root:1;
};


/* a "b24trigger_field" variable */

typedef struct {
    ngx_str_t                      path;
    ngx_http_b24trigger_seg_t     *segs;
    ngx_uint_t                     nsegs;
} ngx_http_b24trigger_field_t;


/* a name in a reason: at most this many bytes of it, escaped */
#define NGX_HTTP_B24TRIGGER_NAME_SHOWN  64


static ngx_int_t ngx_http_b24trigger_field_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_b24trigger_field_lookup(ngx_http_request_t *r,
    ngx_http_b24trigger_seg_t *segs, ngx_uint_t nsegs, ngx_str_t *value);
static ngx_http_b24trigger_fields_t *ngx_http_b24trigger_fields_get(
    ngx_http_request_t *r, ngx_http_b24trigger_ctx_t *ctx);
static ngx_int_t ngx_http_b24trigger_fields_parse(ngx_http_request_t *r,
    ngx_http_b24trigger_fields_t *f, ngx_str_t *body);
static ngx_int_t ngx_http_b24trigger_fields_unique(ngx_http_request_t *r,
    ngx_http_b24trigger_fields_t *f);
static ngx_int_t ngx_http_b24trigger_fields_payload(ngx_http_request_t *r,
    ngx_str_t *body, ngx_http_b24trigger_body_e *kind);
static ngx_int_t ngx_http_b24trigger_fields_multipart(ngx_http_request_t *r,
    ngx_http_b24trigger_fields_t *f, ngx_str_t *body);
static ngx_http_b24trigger_body_e ngx_http_b24trigger_body_kind(
    ngx_http_request_t *r, ngx_str_t *body, ngx_uint_t read);
static ngx_http_b24trigger_body_e ngx_http_b24trigger_body_sniff(
    ngx_str_t *body);


char *
ngx_http_b24trigger_field_add(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *path)
{
    const char                   *error;
    ngx_http_variable_t          *var;
    ngx_http_b24trigger_seg_t     segs[NGX_HTTP_B24TRIGGER_DEPTH_MAX];
    ngx_http_b24trigger_field_t  *field;

    if (name->len < 2 || name->data[0] != '$') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid variable name \"%V\"", name);
        return NGX_CONF_ERROR;
    }

    field = ngx_pcalloc(cf->pool, sizeof(ngx_http_b24trigger_field_t));
    if (field == NULL) {
        return NGX_CONF_ERROR;
    }

    field->path = *path;

    if (ngx_http_b24trigger_path_parse(&field->path, segs, &field->nsegs,
                                       &error)
        != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid path \"%V\" of variable \"%V\": %s",
                           path, name, error);
        return NGX_CONF_ERROR;
    }

    field->segs = ngx_palloc(cf->pool,
                             field->nsegs * sizeof(ngx_http_b24trigger_seg_t));
    if (field->segs == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(field->segs, segs,
               field->nsegs * sizeof(ngx_http_b24trigger_seg_t));

    name->len--;
    name->data++;

    /*
     * not cacheable: a value asked for before the body is in (in a rewrite
     * phase, say) must not stick; the parse itself is cached in the context
     */

    var = ngx_http_add_variable(cf, name, NGX_HTTP_VAR_NOCACHEABLE);
    if (var == NULL) {
        return NGX_CONF_ERROR;
    }

    if (var->get_handler != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "variable \"$%V\" is already defined", name);
        return NGX_CONF_ERROR;
    }

    var->get_handler = ngx_http_b24trigger_field_variable;
    var->data = (uintptr_t) field;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_b24trigger_field_path(ngx_http_variable_t *v, ngx_str_t *path,
    ngx_str_t *root, ngx_uint_t *depth)
{
    ngx_http_b24trigger_field_t  *field;

    if (v->get_handler != ngx_http_b24trigger_field_variable) {
        return NGX_DECLINED;
    }

    field = (ngx_http_b24trigger_field_t *) v->data;

    *path = field->path;
    *root = field->segs[0].name;
    *depth = field->nsegs;

    return NGX_OK;
}


static ngx_int_t
ngx_http_b24trigger_field_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_b24trigger_field_t *field = (ngx_http_b24trigger_field_t *) data;

    ngx_int_t  rc;
    ngx_str_t  value;

    rc = ngx_http_b24trigger_field_lookup(r, field->segs, field->nsegs,
                                          &value);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "b24trigger field \"%V\": %s, %uz bytes",
                   &field->path,
                   rc == NGX_OK ? "found" : "not found", value.len);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc != NGX_OK) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = value.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = value.data;

    return NGX_OK;
}


ngx_int_t
ngx_http_b24trigger_field_value(ngx_http_request_t *r, ngx_str_t *path,
    ngx_str_t *value)
{
    ngx_uint_t                  nsegs;
    const char                 *error;
    ngx_http_b24trigger_seg_t   segs[NGX_HTTP_B24TRIGGER_DEPTH_MAX];

    if (ngx_http_b24trigger_path_parse(path, segs, &nsegs, &error) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    return ngx_http_b24trigger_field_lookup(r, segs, nsegs, value);
}


static ngx_int_t
ngx_http_b24trigger_field_lookup(ngx_http_request_t *r,
    ngx_http_b24trigger_seg_t *segs, ngx_uint_t nsegs, ngx_str_t *value)
{
    ngx_http_b24trigger_ctx_t     *ctx;
    ngx_http_b24trigger_fields_t  *f;

    value->len = 0;
    value->data = NULL;

    ctx = ngx_http_b24trigger_get_ctx(r);

    /* no body yet, or not all of it: nothing to look in */

    if (ctx == NULL || !ctx->body_done || ctx->too_large) {
        return NGX_DECLINED;
    }

    f = ngx_http_b24trigger_fields_get(r->main, ctx);
    if (f == NULL) {
        return NGX_ERROR;
    }

    switch (f->kind) {

    case NGX_HTTP_B24TRIGGER_BODY_JSON:
        return ngx_http_b24trigger_json_lookup(f->json, segs, nsegs, value);

    case NGX_HTTP_B24TRIGGER_BODY_FORM:
        return ngx_http_b24trigger_form_lookup(&f->pairs, segs, nsegs,
                                               f->strict, value);

    default:
        return NGX_DECLINED;
    }
}


ngx_int_t
ngx_http_b24trigger_fields_root(ngx_http_request_t *r, ngx_array_t **root)
{
    ngx_http_b24trigger_ctx_t     *ctx;
    ngx_http_b24trigger_fields_t  *f;

    ctx = ngx_http_b24trigger_get_ctx(r);

    if (ctx == NULL || !ctx->body_done || ctx->too_large) {
        return NGX_DECLINED;
    }

    f = ngx_http_b24trigger_fields_get(r->main, ctx);
    if (f == NULL) {
        return NGX_ERROR;
    }

    if (f->has_root) {
        *root = &f->root;
        return NGX_OK;
    }

    switch (f->kind) {

    case NGX_HTTP_B24TRIGGER_BODY_JSON:
        if (ngx_http_b24trigger_json_root(r->pool, f->json, &f->root)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        break;

    case NGX_HTTP_B24TRIGGER_BODY_FORM:
        if (ngx_http_b24trigger_form_root(r->pool, &f->pairs, &f->root)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        break;

    case NGX_HTTP_B24TRIGGER_BODY_EMPTY:
        if (ngx_array_init(&f->root, r->pool, 1,
                           sizeof(ngx_http_b24trigger_root_t))
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        break;

    default:
        return NGX_DECLINED;
    }

    f->has_root = 1;
    *root = &f->root;

    return NGX_OK;
}


/* the body parsed, once per request */

static ngx_http_b24trigger_fields_t *
ngx_http_b24trigger_fields_get(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx)
{
    ngx_str_t                      body;
    ngx_http_b24trigger_fields_t  *f;

    if (ctx->fields) {
        return ctx->fields;
    }

    f = ngx_pcalloc(r->pool, sizeof(ngx_http_b24trigger_fields_t));
    if (f == NULL) {
        return NULL;
    }

    f->strict = (ctx->body_read & NGX_HTTP_B24TRIGGER_READ_STRICT) ? 1 : 0;

    body = ctx->body;

    /* Robokassa's GET: the same fields in the query string */

    if (body.len == 0 && (ctx->body_read & NGX_HTTP_B24TRIGGER_READ_QUERY)) {
        body = r->args;
    }

    f->kind = ngx_http_b24trigger_body_kind(r, &body, ctx->body_read);

    /* GitHub's form content type: payload=<the JSON> */

    if (f->kind == NGX_HTTP_B24TRIGGER_BODY_FORM
        && (ctx->body_read & NGX_HTTP_B24TRIGGER_READ_PAYLOAD))
    {
        if (ngx_http_b24trigger_fields_payload(r, &body, &f->kind)
            != NGX_OK)
        {
            return NULL;
        }
    }

    if (ngx_http_b24trigger_fields_parse(r, f, &body) != NGX_OK) {
        return NULL;
    }

    if (f->strict && ngx_http_b24trigger_fields_unique(r, f) != NGX_OK) {
        return NULL;
    }

    ctx->fields = f;

    return f;
}


static ngx_int_t
ngx_http_b24trigger_fields_parse(ngx_http_request_t *r,
    ngx_http_b24trigger_fields_t *f, ngx_str_t *body)
{
    u_char                             *p;
    ngx_int_t                           rc;
    ngx_uint_t                          max, n;
    ngx_http_b24trigger_ctx_t          *ctx;
    ngx_http_b24trigger_parse_error_t   err;

    max = f->strict ? NGX_HTTP_B24TRIGGER_FIELDS_MAX : 0;

    switch (f->kind) {

    case NGX_HTTP_B24TRIGGER_BODY_JSON:

        /*
         * the request body is followed by zeros (body.c), read in place;
         * a part of it (a copy, a shorter text) is not
         */

        ctx = ngx_http_get_module_ctx(r, ngx_http_b24trigger_module);

        if (ctx->body_padded
            && body->data == ctx->body.data
            && body->len == ctx->body.len)
        {
            rc = ngx_http_b24trigger_json_parse_padded(r->pool, body->data,
                                                       body->len, max,
                                                       &f->json, &err);

        } else {
            rc = ngx_http_b24trigger_json_parse_max(r->pool, body->data,
                                                    body->len, max, &f->json,
                                                    &err);
        }

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_DECLINED && err.too_many) {
            f->kind = NGX_HTTP_B24TRIGGER_BODY_TOO_MANY;

            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "b24trigger body has more than %ui values, "
                           "not parsed further", max);
            break;
        }

        if (rc == NGX_DECLINED) {
            p = ngx_pnalloc(r->pool, sizeof("JSON:  at byte ") - 1
                                     + ngx_strlen(err.what) + NGX_SIZE_T_LEN);
            if (p == NULL) {
                return NGX_ERROR;
            }

            f->kind = NGX_HTTP_B24TRIGGER_BODY_INVALID;
            f->reason.data = p;
            f->reason.len = ngx_sprintf(p, "JSON: %s at byte %uz", err.what,
                                        err.offset)
                            - p;

            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "b24trigger body is not valid: %V", &f->reason);
            break;
        }

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "b24trigger body parsed as json, %ui values",
                       ngx_http_b24trigger_json_count(f->json));
        break;

    case NGX_HTTP_B24TRIGGER_BODY_FORM:

        /* counted first: nothing is allocated for a form too large */

        n = ngx_http_b24trigger_form_count(body->data, body->len);

        if (max && n > max) {
            f->kind = NGX_HTTP_B24TRIGGER_BODY_TOO_MANY;

            ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "b24trigger form has %ui fields, more than %ui",
                           n, max);
            break;
        }

        if (ngx_array_init(&f->pairs, r->pool, n ? n : 1,
                           sizeof(ngx_keyval_t))
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ngx_http_b24trigger_form_parse(r->pool, body->data, body->len,
                                           &f->pairs)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "b24trigger body parsed as form, %ui fields",
                       f->pairs.nelts);
        break;

    case NGX_HTTP_B24TRIGGER_BODY_MULTIPART:

        if (ngx_http_b24trigger_fields_multipart(r, f, body) != NGX_OK) {
            return NGX_ERROR;
        }

        break;

    case NGX_HTTP_B24TRIGGER_BODY_UNSUPPORTED:

        f->reason = r->headers_in.content_type->value;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "b24trigger body of content type \"%V\" has no fields",
                       ngx_http_b24trigger_log_value(r->pool, &f->reason));
        break;

    default: /* NGX_HTTP_B24TRIGGER_BODY_EMPTY */

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "b24trigger body is empty, no fields");
        break;
    }

    return NGX_OK;
}


/*
 * A multipart/form-data body: its parts become the pairs of a form, at
 * most NGX_HTTP_B24TRIGGER_FIELDS_MAX of them, whatever the scheme; a
 * malformed one, or one without a usable boundary, is not valid (400)
 */

static ngx_int_t
ngx_http_b24trigger_fields_multipart(ngx_http_request_t *r,
    ngx_http_b24trigger_fields_t *f, ngx_str_t *body)
{
    u_char                             *p;
    ngx_int_t                           rc;
    ngx_str_t                           boundary;
    ngx_http_b24trigger_parse_error_t   err;

    if (ngx_array_init(&f->pairs, r->pool, 8, sizeof(ngx_keyval_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_b24trigger_multipart_boundary(
            &r->headers_in.content_type->value, &boundary)
        != NGX_OK)
    {
        f->kind = NGX_HTTP_B24TRIGGER_BODY_INVALID;
        ngx_str_set(&f->reason, "multipart: no usable boundary");
        return NGX_OK;
    }

    rc = ngx_http_b24trigger_multipart_parse(r->pool, body->data, body->len,
                                             &boundary,
                                             NGX_HTTP_B24TRIGGER_FIELDS_MAX,
                                             &f->pairs, &err);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED && err.too_many) {
        f->kind = NGX_HTTP_B24TRIGGER_BODY_TOO_MANY;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "b24trigger multipart body has more than %ui parts",
                       (ngx_uint_t) NGX_HTTP_B24TRIGGER_FIELDS_MAX);
        return NGX_OK;
    }

    if (rc == NGX_DECLINED) {
        p = ngx_pnalloc(r->pool, sizeof("multipart:  at byte ") - 1
                                 + ngx_strlen(err.what) + NGX_SIZE_T_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        f->kind = NGX_HTTP_B24TRIGGER_BODY_INVALID;
        f->reason.data = p;
        f->reason.len = ngx_sprintf(p, "multipart: %s at byte %uz", err.what,
                                    err.offset)
                        - p;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "b24trigger body is not valid: %V", &f->reason);
        return NGX_OK;
    }

    f->kind = NGX_HTTP_B24TRIGGER_BODY_FORM;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "b24trigger body parsed as multipart, %ui parts",
                   f->pairs.nelts);

    return NGX_OK;
}


/*
 * A form of one field, "payload": its value, decoded, is the body, and
 * it is JSON (GitHub's application/x-www-form-urlencoded deliveries, whose
 * signature covers the form's bytes as sent).  Any other form stays a
 * form.
 */

static ngx_int_t
ngx_http_b24trigger_fields_payload(ngx_http_request_t *r, ngx_str_t *body,
    ngx_http_b24trigger_body_e *kind)
{
    ngx_array_t    pairs;
    ngx_keyval_t  *kv;

    if (ngx_http_b24trigger_form_count(body->data, body->len) != 1) {
        return NGX_OK;
    }

    if (ngx_array_init(&pairs, r->pool, 1, sizeof(ngx_keyval_t)) != NGX_OK
        || ngx_http_b24trigger_form_parse(r->pool, body->data, body->len,
                                          &pairs)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    kv = pairs.elts;

    if (pairs.nelts != 1 || kv[0].key.len != sizeof("payload") - 1
        || ngx_strncmp(kv[0].key.data, "payload", kv[0].key.len) != 0)
    {
        return NGX_OK;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "b24trigger body is a form of one \"payload\", "
                   "%uz bytes of JSON", kv[0].value.len);

    *body = kv[0].value;
    *kind = body->len ? NGX_HTTP_B24TRIGGER_BODY_JSON
                      : NGX_HTTP_B24TRIGGER_BODY_EMPTY;

    return NGX_OK;
}


/*
 * A name given twice at the root: verification could hash one and
 * mapping read the other.  Refused: 'field "label" appears twice', the
 * name escaped (bytes outside printable ASCII, '"' and '\' as \xNN) and
 * cut, so that the reason is safe in a log line and a reply.
 */

static ngx_int_t
ngx_http_b24trigger_fields_unique(ngx_http_request_t *r,
    ngx_http_b24trigger_fields_t *f)
{
    u_char                      *p;
    size_t                       i, len;
    ngx_int_t                    rc;
    ngx_str_t                    name;
    ngx_array_t                 *root;

    if (f->kind != NGX_HTTP_B24TRIGGER_BODY_JSON
        && f->kind != NGX_HTTP_B24TRIGGER_BODY_FORM)
    {
        return NGX_OK;
    }

    if (f->kind == NGX_HTTP_B24TRIGGER_BODY_JSON) {
        rc = ngx_http_b24trigger_json_root(r->pool, f->json, &f->root);

    } else {
        rc = ngx_http_b24trigger_form_root(r->pool, &f->pairs, &f->root);
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    f->has_root = 1;
    root = &f->root;

    rc = ngx_http_b24trigger_root_unique(r->pool, root, &name);

    if (rc != NGX_DECLINED) {
        return rc;
    }

    len = ngx_min(name.len, NGX_HTTP_B24TRIGGER_NAME_SHOWN);

    p = ngx_pnalloc(r->pool, sizeof("field \"...\" appears twice") - 1
                             + 4 * len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    f->kind = NGX_HTTP_B24TRIGGER_BODY_INVALID;
    f->reason.data = p;

    p = ngx_cpymem(p, "field \"", sizeof("field \"") - 1);

    for (i = 0; i < len; i++) {
        if (name.data[i] < 0x20 || name.data[i] >= 0x7f
            || name.data[i] == '"' || name.data[i] == '\\')
        {
            p = ngx_sprintf(p, "\\x%02Xd", name.data[i]);

        } else {
            *p++ = name.data[i];
        }
    }

    if (len < name.len) {
        p = ngx_cpymem(p, "...", 3);
    }

    p = ngx_cpymem(p, "\" appears twice", sizeof("\" appears twice") - 1);

    f->reason.len = p - f->reason.data;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "b24trigger body refused: %V", &f->reason);

    return NGX_OK;
}


/*
 * What the scheme says the body is: JSON, a form, or as its first byte
 * says ("{" or "[" after white space or a UTF-8 byte order mark is JSON,
 * anything else a form): the signed bytes decide, not the unsigned
 * Content-Type.  Otherwise by Content-Type: JSON for application/json
 * and any type/subtype+json, a form for
 * application/x-www-form-urlencoded, its parts for multipart/form-data,
 * other parameters (charset) not looked at;
 * without a Content-Type, by the first byte.  An empty body has no
 * fields whatever its type.
 */

static ngx_http_b24trigger_body_e
ngx_http_b24trigger_body_kind(ngx_http_request_t *r, ngx_str_t *body,
    ngx_uint_t read)
{
    u_char     *semi;
    size_t      len;
    ngx_str_t  *type;

    if (body->len == 0) {
        return NGX_HTTP_B24TRIGGER_BODY_EMPTY;
    }

    switch (read & NGX_HTTP_B24TRIGGER_READ_KIND) {

    case NGX_HTTP_B24TRIGGER_READ_JSON:
        return NGX_HTTP_B24TRIGGER_BODY_JSON;

    case NGX_HTTP_B24TRIGGER_READ_FORM:

        if ((read & NGX_HTTP_B24TRIGGER_READ_MULTIPART)
            && r->headers_in.content_type
            && r->headers_in.content_type->value.len
               >= sizeof("multipart/form-data") - 1
            && ngx_strncasecmp(r->headers_in.content_type->value.data,
                               (u_char *) "multipart/form-data",
                               sizeof("multipart/form-data") - 1)
               == 0)
        {
            return NGX_HTTP_B24TRIGGER_BODY_MULTIPART;
        }

        return NGX_HTTP_B24TRIGGER_BODY_FORM;

    case NGX_HTTP_B24TRIGGER_READ_SNIFF:
        return ngx_http_b24trigger_body_sniff(body);

    default: /* NGX_HTTP_B24TRIGGER_READ_TYPE */
        break;
    }

    if (r->headers_in.content_type == NULL
        || r->headers_in.content_type->value.len == 0)
    {
        return ngx_http_b24trigger_body_sniff(body);
    }

    type = &r->headers_in.content_type->value;

    semi = ngx_strlchr(type->data, type->data + type->len, ';');
    len = (semi ? semi : type->data + type->len) - type->data;

    while (len && (type->data[len - 1] == ' '
                   || type->data[len - 1] == '\t'))
    {
        len--;
    }

    if (len == sizeof("application/json") - 1
        && ngx_strncasecmp(type->data, (u_char *) "application/json", len)
           == 0)
    {
        return NGX_HTTP_B24TRIGGER_BODY_JSON;
    }

    if (len == sizeof("application/x-www-form-urlencoded") - 1
        && ngx_strncasecmp(type->data,
                           (u_char *) "application/x-www-form-urlencoded",
                           len)
           == 0)
    {
        return NGX_HTTP_B24TRIGGER_BODY_FORM;
    }

    if (len == sizeof("multipart/form-data") - 1
        && ngx_strncasecmp(type->data, (u_char *) "multipart/form-data", len)
           == 0)
    {
        return NGX_HTTP_B24TRIGGER_BODY_MULTIPART;
    }

    if (len > sizeof("+json") - 1
        && ngx_strlchr(type->data, type->data + len, '/') != NULL
        && ngx_strncasecmp(type->data + len - 5, (u_char *) "+json", 5)
           == 0)
    {
        return NGX_HTTP_B24TRIGGER_BODY_JSON;
    }

    return NGX_HTTP_B24TRIGGER_BODY_UNSUPPORTED;
}


static ngx_http_b24trigger_body_e
ngx_http_b24trigger_body_sniff(ngx_str_t *body)
{
    u_char  *p, *last;

    p = body->data;
    last = body->data + body->len;

    if (body->len >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
        p += 3;
    }

    while (p < last && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
    {
        p++;
    }

    if (p < last && (*p == '{' || *p == '[')) {
        return NGX_HTTP_B24TRIGGER_BODY_JSON;
    }

    return NGX_HTTP_B24TRIGGER_BODY_FORM;
}


ngx_uint_t
ngx_http_b24trigger_fields_failed(ngx_http_b24trigger_ctx_t *ctx)
{
    return ctx->fields != NULL
           && (ctx->fields->kind == NGX_HTTP_B24TRIGGER_BODY_INVALID
               || ctx->fields->kind == NGX_HTTP_B24TRIGGER_BODY_UNSUPPORTED
               || ctx->fields->kind == NGX_HTTP_B24TRIGGER_BODY_TOO_MANY);
}


/*
 * The answer to a body whose fields cannot be read, decided for the
 * handler to send (NGX_DONE):
 *
 * 400 {"error":"body_invalid","reason":"JSON: invalid UTF-8 at byte 9"}
 * 400 {"error":"body_invalid","reason":"field \"label\" appears twice"}
 * 413 {"error":"too_many_fields","reason":"more than 1000 fields"}
 * 415 {"error":"content_type_unsupported","content_type":"text/plain"}
 */

ngx_int_t
ngx_http_b24trigger_fields_reject(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx)
{
    u_char                        *p;
    size_t                         len;
    ngx_str_t                      extra;
    ngx_uint_t                     unsupported;
    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_b24trigger_fields_t  *f;

    f = ctx->fields;
    unsupported = (f->kind == NGX_HTTP_B24TRIGGER_BODY_UNSUPPORTED);

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (f->kind == NGX_HTTP_B24TRIGGER_BODY_TOO_MANY) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "b24trigger: too many fields in location \"%V\", "
                      "more than %ui before the signature is checked",
                      &clcf->name, (ngx_uint_t) NGX_HTTP_B24TRIGGER_FIELDS_MAX);

        ctx->result = NGX_HTTP_B24TRIGGER_REJECTED;

        extra.data = ngx_pnalloc(r->pool,
                                 sizeof(",\"reason\":\"more than  fields\"")
                                 - 1 + NGX_INT_T_LEN);
        if (extra.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        extra.len = ngx_sprintf(extra.data,
                                ",\"reason\":\"more than %ui fields\"",
                                (ngx_uint_t) NGX_HTTP_B24TRIGGER_FIELDS_MAX)
                    - extra.data;

        return ngx_http_b24trigger_decide(ctx,
                                          NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                          "too_many_fields", &extra, 0);
    }

    p = ngx_http_b24trigger_json_string(r->pool, &f->reason, 100, &len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (unsupported) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "b24trigger: body of content type \"%V\" has no "
                      "fields, needed in location \"%V\"",
                      ngx_http_b24trigger_log_value(r->pool, &f->reason),
                      &clcf->name);

    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "b24trigger: invalid body, fields needed in location "
                      "\"%V\": %V", &clcf->name, &f->reason);
    }

    extra.len = sizeof(",\"content_type\":\"\"") - 1 + len;
    extra.data = ngx_pnalloc(r->pool, extra.len);
    if (extra.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    extra.len = ngx_sprintf(extra.data,
                            unsupported ? ",\"content_type\":\"%*s\""
                                        : ",\"reason\":\"%*s\"",
                            len, p)
                - extra.data;

    ctx->result = NGX_HTTP_B24TRIGGER_REJECTED;

    if (unsupported) {
        return ngx_http_b24trigger_decide(ctx, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                          "content_type_unsupported", &extra,
                                          0);
    }

    return ngx_http_b24trigger_decide(ctx, NGX_HTTP_BAD_REQUEST, "body_invalid",
                                      &extra, 0);
}
