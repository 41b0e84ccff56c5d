
/*
 * Copyright (C) b24trigger authors
 *
 * Request bodies as data: field paths, a one-pass JSON parser that indexes
 * the body, and path lookups in JSON and in form pairs
 * (src/ngx_http_b24trigger_body_parse.c).  Pure functions of bytes and a pool:
 * no requests, no logging, nothing that needs a running nginx, so that
 * fuzz/fields_fuzz.c links them alone.
 */


#ifndef _NGX_HTTP_B24TRIGGER_BODY_PARSE_H_INCLUDED_
#define _NGX_HTTP_B24TRIGGER_BODY_PARSE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* JSON nesting and path segments, both at most */
#define NGX_HTTP_B24TRIGGER_DEPTH_MAX  64

#define NGX_HTTP_B24TRIGGER_NO_INDEX   ((ngx_uint_t) -1)

/*
 * The most fields a body may have where they are read before the
 * signature is checked (the tbank, robokassa and yoomoney presets): form
 * pairs, or JSON values at any depth (names not counted).  A real
 * notification has a few dozen; more is refused before any work that
 * grows with them.
 */
#define NGX_HTTP_B24TRIGGER_FIELDS_MAX  1000


typedef struct ngx_http_b24trigger_json_s  ngx_http_b24trigger_json_t;


/* what a JSON value is */

typedef enum {
    NGX_HTTP_B24TRIGGER_JSON_OBJECT = 0,
    NGX_HTTP_B24TRIGGER_JSON_ARRAY,
    NGX_HTTP_B24TRIGGER_JSON_STRING,
    NGX_HTTP_B24TRIGGER_JSON_NUMBER,
    NGX_HTTP_B24TRIGGER_JSON_TRUE,
    NGX_HTTP_B24TRIGGER_JSON_FALSE,
    NGX_HTTP_B24TRIGGER_JSON_NULL
} ngx_http_b24trigger_json_type_e;


/* one segment of a path: "items", or "0", which may also index an array */

typedef struct {
    ngx_str_t                      name;
    ngx_uint_t                     index;     /* or NGX_HTTP_B24TRIGGER_
                                                 NO_INDEX */
} ngx_http_b24trigger_seg_t;


/* why a body is not JSON, and where */

typedef struct {
    const char                    *what;
    size_t                         offset;
    ngx_uint_t                     too_many;  /* more values than allowed */
} ngx_http_b24trigger_parse_error_t;


/*
 * A field at the root of a body: a member of a JSON object (its value's
 * text as ngx_http_b24trigger_json_find() gives it), or a form pair (a
 * NGX_HTTP_B24TRIGGER_JSON_STRING).  Names and values are decoded.
 */

typedef struct {
    ngx_str_t                      name;
    ngx_str_t                      value;
    ngx_uint_t                     type;
} ngx_http_b24trigger_root_t;


/*
 * "data.object.id", "items.0.id", "a[b][0]", "metadata[order.id]": names
 * separated by dots, or in brackets, where a name may contain dots.  The
 * segments point into path.  NGX_OK, or NGX_ERROR with *error set.
 */
ngx_int_t ngx_http_b24trigger_path_parse(ngx_str_t *path,
    ngx_http_b24trigger_seg_t *segs, ngx_uint_t *nsegs, const char **error);

/*
 * Parses and validates a whole JSON text (RFC 8259, UTF-8) once, keeping
 * an index of its values in the pool.  NGX_OK, NGX_DECLINED (not JSON:
 * *error says why and where) or NGX_ERROR (no memory).
 */
ngx_int_t ngx_http_b24trigger_json_parse(ngx_pool_t *pool, u_char *data,
    size_t len, ngx_http_b24trigger_json_t **json,
    ngx_http_b24trigger_parse_error_t *error);

/*
 * The same, stopping at the value after the first max (0: no limit), in
 * memory for max values only: NGX_DECLINED with error->too_many set
 */
ngx_int_t ngx_http_b24trigger_json_parse_max(ngx_pool_t *pool,
    u_char *data, size_t len, ngx_uint_t max,
    ngx_http_b24trigger_json_t **json,
    ngx_http_b24trigger_parse_error_t *error);

/*
 * The parse reads a text followed by this many zero bytes (the widest
 * read past its end, a window of 64 bytes); any other text is copied
 * first.  ngx_http_b24trigger_body.c keeps the request body so.
 */
#define NGX_HTTP_B24TRIGGER_JSON_PAD  64

/* ngx_http_b24trigger_json_parse_max() of a text followed by the zeros */
ngx_int_t ngx_http_b24trigger_json_parse_padded(ngx_pool_t *pool,
    u_char *data, size_t len, ngx_uint_t max,
    ngx_http_b24trigger_json_t **json,
    ngx_http_b24trigger_parse_error_t *error);

/*
 * What the JSON parse runs: NGX_HTTP_B24TRIGGER_JSON_BASE (SSE2 on x86-64,
 * plain C elsewhere; the default) or NGX_HTTP_B24TRIGGER_JSON_AVX2, at
 * most "level" and only what the processor has.  Returns what it chose.
 * Set once, before any parse (the master, at startup; fuzz targets).
 */
#define NGX_HTTP_B24TRIGGER_JSON_BASE  0
#define NGX_HTTP_B24TRIGGER_JSON_AVX2  1

ngx_uint_t ngx_http_b24trigger_json_simd(ngx_uint_t level);

/*
 * The same at startup: the widest the processor has, or the base with
 * B24TRIGGER_JSON_SIMD=base in the environment (tests of the base code)
 */
void ngx_http_b24trigger_json_init(void);

/* values in the index, objects and arrays included */
ngx_uint_t ngx_http_b24trigger_json_count(ngx_http_b24trigger_json_t *json);

/*
 * The scalar at a path: strings decoded, numbers, true and false as they
 * are written.  NGX_OK, or NGX_DECLINED for missing, null, an object or
 * an array.
 */
ngx_int_t ngx_http_b24trigger_json_lookup(ngx_http_b24trigger_json_t *json,
    ngx_http_b24trigger_seg_t *segs, ngx_uint_t nsegs, ngx_str_t *value);

/*
 * Any value at a path: its type, and for a scalar its text (strings
 * decoded, numbers and literals as written); NGX_DECLINED if missing.
 * No segments: the whole text.
 */
ngx_int_t ngx_http_b24trigger_json_find(ngx_http_b24trigger_json_t *json,
    ngx_http_b24trigger_seg_t *segs, ngx_uint_t nsegs, ngx_str_t *value);

/*
 * An application/x-www-form-urlencoded body as ngx_keyval_t pairs, in
 * order, "+" and %XX decoded, keys as sent (no "[...]" rewriting).
 * Returns NGX_OK or NGX_ERROR (no memory).
 */
ngx_int_t ngx_http_b24trigger_form_parse(ngx_pool_t *pool, u_char *data,
    size_t len, ngx_array_t *pairs);

/* how many pairs ngx_http_b24trigger_form_parse() would make, in one scan */
ngx_uint_t ngx_http_b24trigger_form_count(u_char *data, size_t len);

/*
 * The value of the form field at a path, in ngx_keyval_t pairs as
 * ngx_http_b24trigger_form_parse() makes them: "a[b][0]" is at "a.b.0",
 * the n-th "a[]" at "a.(n-1)", the last of repeated fields wins.
 * Strict: "a[]" is at no path, so that a path reaches one name only
 * ("a[]" and "a[0]" would both be at "a.0").  NGX_OK or NGX_DECLINED.
 */
ngx_int_t ngx_http_b24trigger_form_lookup(ngx_array_t *pairs,
    ngx_http_b24trigger_seg_t *segs, ngx_uint_t nsegs, ngx_uint_t strict,
    ngx_str_t *value);

/*
 * The root fields (ngx_http_b24trigger_root_t), in the order of the body,
 * into an array not yet initialized: of a JSON object (another JSON value
 * has none), or of form pairs.  NGX_OK or NGX_ERROR.
 */
ngx_int_t ngx_http_b24trigger_json_root(ngx_pool_t *pool,
    ngx_http_b24trigger_json_t *json, ngx_array_t *root);
ngx_int_t ngx_http_b24trigger_form_root(ngx_pool_t *pool,
    ngx_array_t *pairs, ngx_array_t *root);

/*
 * No name twice among the root fields, in O(n log n): NGX_OK, NGX_DECLINED
 * with *name set to one that repeats, or NGX_ERROR
 */
ngx_int_t ngx_http_b24trigger_root_unique(ngx_pool_t *pool,
    ngx_array_t *root, ngx_str_t *name);

/* the root field of exactly that name (bytes, case included), or NULL */
ngx_http_b24trigger_root_t *ngx_http_b24trigger_root_get(ngx_array_t *root,
    u_char *name, size_t len);


/* a whole string of well-formed UTF-8 (RFC 3629) */
ngx_uint_t ngx_http_b24trigger_utf8_string(ngx_str_t *s);


#endif /* _NGX_HTTP_B24TRIGGER_BODY_PARSE_H_INCLUDED_ */
