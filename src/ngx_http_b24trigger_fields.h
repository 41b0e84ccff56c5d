
/*
 * Copyright (C) b24trigger authors
 *
 * Fields of the request body: JSON dot paths and form fields, parsed at
 * most once per request (src/ngx_http_b24trigger_fields.c).  This is what
 * the rest of the module, verification included, may call.  The parsers
 * themselves, ngx_http_b24trigger_form_parse() among them, are declared
 * in ngx_http_b24trigger_body_parse.h.
 */


#ifndef _NGX_HTTP_B24TRIGGER_FIELDS_H_INCLUDED_
#define _NGX_HTTP_B24TRIGGER_FIELDS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_b24trigger.h"
#include "ngx_http_b24trigger_body_parse.h"


/*
 * How a location reads its body, as its verification scheme says
 * (ngx_http_b24trigger_verify_reads()): a kind, and flags
 */

#define NGX_HTTP_B24TRIGGER_READ_TYPE    0     /* by its Content-Type */
#define NGX_HTTP_B24TRIGGER_READ_SNIFF   1     /* by its first byte */
#define NGX_HTTP_B24TRIGGER_READ_JSON    2     /* JSON, whatever the type */
#define NGX_HTTP_B24TRIGGER_READ_FORM    3     /* a form, whatever the type */
#define NGX_HTTP_B24TRIGGER_READ_KIND    0x0f

/* an empty body: the fields are those of the query string */
#define NGX_HTTP_B24TRIGGER_READ_QUERY   0x10

/*
 * a form, or its parts where the Content-Type says multipart/form-data
 * (a scheme that signs the values, not the bytes: Prodamus)
 */
#define NGX_HTTP_B24TRIGGER_READ_MULTIPART  0x80

/*
 * a form whose one field is "payload" (GitHub's form content type): the
 * fields are those of the JSON it carries
 */
#define NGX_HTTP_B24TRIGGER_READ_PAYLOAD 0x40

/*
 * fields read before the signature is checked: at most
 * NGX_HTTP_B24TRIGGER_FIELDS_MAX of them, no root name twice, and no path
 * that reaches two names
 */
#define NGX_HTTP_B24TRIGGER_READ_STRICT  0x20


/*
 * The value at PATH in the body of r ("data.object.id", "items.0.id" for
 * JSON; a field name, "a.b.0" for the PHP-style "a[b][0]", for
 * application/x-www-form-urlencoded).  Strings as they are, numbers,
 * true and false as written.  Returns NGX_OK, NGX_DECLINED (missing,
 * null, an object or an array, an invalid path, or a body that cannot be
 * parsed), or NGX_ERROR.
 */
ngx_int_t ngx_http_b24trigger_field_value(ngx_http_request_t *r,
    ngx_str_t *path, ngx_str_t *value);

/* "b24trigger_field $NAME PATH": the variable, for the directive */
char *ngx_http_b24trigger_field_add(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *path);

/*
 * At configuration time: is v a "b24trigger_field" variable?  Then its
 * path as written, the path's first name and its number of segments
 * (NGX_OK); NGX_DECLINED if not
 */
ngx_int_t ngx_http_b24trigger_field_path(ngx_http_variable_t *v,
    ngx_str_t *path, ngx_str_t *root, ngx_uint_t *depth);

/*
 * The fields at the root of the body (ngx_http_b24trigger_root_t), from
 * the same parse as every other field of r: what a scheme that signs
 * field values hashes.  NGX_OK, NGX_DECLINED (the body cannot give them:
 * ngx_http_b24trigger_fields_failed() is then true) or NGX_ERROR.
 */
ngx_int_t ngx_http_b24trigger_fields_root(ngx_http_request_t *r,
    ngx_array_t **root);

/*
 * Was a field looked up in a body that is not JSON nor a form, not valid,
 * with a root name twice or too many fields where that matters?  Then
 * ngx_http_b24trigger_fields_reject() decides the answer, 400, 413 or 415
 * (ctx->decision, NGX_DONE), for the handler to send.
 */
ngx_uint_t ngx_http_b24trigger_fields_failed(ngx_http_b24trigger_ctx_t *ctx);
ngx_int_t ngx_http_b24trigger_fields_reject(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx);


#endif /* _NGX_HTTP_B24TRIGGER_FIELDS_H_INCLUDED_ */
