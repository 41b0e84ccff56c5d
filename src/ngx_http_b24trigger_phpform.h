
/*
 * Copyright (C) b24trigger authors
 *
 * A form as PHP reads it, written back as PHP's json_encode() writes it
 * (src/ngx_http_b24trigger_phpform.c): what Prodamus signs.  Pure
 * functions of the decoded form pairs and a pool, so that
 * fuzz/phpform_fuzz.c links them alone.
 */


#ifndef _NGX_HTTP_B24TRIGGER_PHPFORM_H_INCLUDED_
#define _NGX_HTTP_B24TRIGGER_PHPFORM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_b24trigger_body_parse.h"


/*
 * The root fields of a form (ngx_http_b24trigger_root_t, names and values
 * decoded, as ngx_http_b24trigger_form_root() gives them) as PHP puts
 * them in $_POST ("products[0][name]" nested), every value a string,
 * keys sorted by ksort() at every level, then
 * json_encode($data, JSON_UNESCAPED_UNICODE).  In O(n log n).
 *
 * Only forms PHP and b24trigger_field read alike are taken: NGX_DECLINED
 * with *error set for a name PHP would rewrite ("a.b", "a b", "a[b",
 * "a[b]c", "[a]", "a[]"), a key PHP would compare as a number without
 * being an integer ("00", "1.5"), integer and string keys side by side
 * (PHP 7 and 8 sort them differently), a name given twice or both as a
 * value and as an array, more than NGX_HTTP_B24TRIGGER_DEPTH_MAX levels,
 * and names or values that are not UTF-8 (json_encode() fails on them).
 * NGX_OK with *json set, or NGX_ERROR (no memory).
 */
ngx_int_t ngx_http_b24trigger_phpform_json(ngx_pool_t *pool,
    ngx_array_t *root, ngx_str_t *json, const char **error);


#endif /* _NGX_HTTP_B24TRIGGER_PHPFORM_H_INCLUDED_ */
