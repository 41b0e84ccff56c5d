
/*
 * Copyright (C) b24trigger authors
 *
 * multipart/form-data bodies as form fields
 * (src/ngx_http_b24trigger_multipart.c).  Pure functions of bytes and a
 * pool, so that fuzz/multipart_fuzz.c links them alone.
 */


#ifndef _NGX_HTTP_B24TRIGGER_MULTIPART_H_INCLUDED_
#define _NGX_HTTP_B24TRIGGER_MULTIPART_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_b24trigger_body_parse.h"


/* the most bytes of one part's headers */
#define NGX_HTTP_B24TRIGGER_PART_HEADERS_MAX  2048

/* the most header lines of one part */
#define NGX_HTTP_B24TRIGGER_PART_LINES_MAX    16


/*
 * The boundary parameter of a Content-Type value, as written or unquoted:
 * 1 to 70 characters, no CR, LF or '"'.  NGX_OK, or NGX_DECLINED if the
 * value has none or a bad one.
 */
ngx_int_t ngx_http_b24trigger_multipart_boundary(ngx_str_t *type,
    ngx_str_t *boundary);

/*
 * The parts of a multipart/form-data body (RFC 7578) as ngx_keyval_t
 * pairs, in order: the name of each part's Content-Disposition and its
 * content as sent, both pointing into data (nothing is decoded; a
 * Content-Transfer-Encoding other than 7bit, 8bit or binary is refused).
 * A preamble and an epilogue are skipped.  Bounded: at most max parts
 * (NGX_DECLINED with error->too_many set beyond, before any more work),
 * NGX_HTTP_B24TRIGGER_PART_HEADERS_MAX bytes and
 * NGX_HTTP_B24TRIGGER_PART_LINES_MAX lines of headers per part.  NGX_OK,
 * NGX_DECLINED (error->what, error->offset: malformed) or NGX_ERROR.
 */
ngx_int_t ngx_http_b24trigger_multipart_parse(ngx_pool_t *pool, u_char *data,
    size_t len, ngx_str_t *boundary, ngx_uint_t max, ngx_array_t *pairs,
    ngx_http_b24trigger_parse_error_t *error);


#endif /* _NGX_HTTP_B24TRIGGER_MULTIPART_H_INCLUDED_ */
