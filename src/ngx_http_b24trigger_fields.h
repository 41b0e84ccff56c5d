
/*
 * Copyright (C) b24trigger authors
 *
 * Fields of the request body: JSON dot paths and form fields, parsed at
 * most once per request (src/ngx_http_b24trigger_fields.c).  This is what
 * the rest of the module, verification included, may call.
 */


#ifndef _NGX_HTTP_B24TRIGGER_FIELDS_H_INCLUDED_
#define _NGX_HTTP_B24TRIGGER_FIELDS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/*
 * The value at PATH in the body of r ("data.object.id", "items.0.id" for
 * JSON; a field name, "a.b.0" for the PHP-style "a[b][0]", for
 * application/x-www-form-urlencoded).  Strings as they are, integers
 * exactly, other numbers and booleans as JSON text.  Returns NGX_OK,
 * NGX_DECLINED (missing, null, an object or an array, or a body that
 * cannot be parsed), or NGX_ERROR.
 */
ngx_int_t ngx_http_b24trigger_field_value(ngx_http_request_t *r,
    ngx_str_t *path, ngx_str_t *value);

/*
 * An application/x-www-form-urlencoded body as ngx_keyval_t pairs, in
 * order, "+" and %XX decoded, keys as sent (no "[...]" rewriting).
 * Returns NGX_OK or NGX_ERROR (no memory).
 */
ngx_int_t ngx_http_b24trigger_form_parse(ngx_pool_t *pool, u_char *data,
    size_t len, ngx_array_t *pairs);


#endif /* _NGX_HTTP_B24TRIGGER_FIELDS_H_INCLUDED_ */
