
/*
 * Copyright (C) b24trigger authors
 *
 * libFuzzer target for "one view of the body": the values a scheme that
 * signs field values hashes (tbank, robokassa, yoomoney) and the values
 * b24trigger_field reads must be the same.  The input is a body; it goes,
 * as JSON and as a form, through the steps src/ngx_http_b24trigger_fields.c
 * takes where fields are read before the signature is checked (at most
 * NGX_HTTP_B24TRIGGER_FIELDS_MAX fields, the root fields, no name twice),
 * then every root field the verification finds by its name
 * (ngx_http_b24trigger_root_get(), as src/ngx_http_b24trigger_verify_
 * digest.c does) is looked up as mapping looks it up (the JSON lookup of
 * the name, the strict form lookup of the path the name stands for).  It
 * aborts when the two saw different values, when a name given twice was
 * accepted, when a refusal named a name that is not there twice, or when
 * the cap on fields was wrong either way.
 *
 * FUZZ_SOURCES: src/ngx_http_b24trigger_body_parse.c fuzz/ngx_shim.c
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_b24trigger_body_parse.h"


#define oneview_assert(c)                                                     \
    if (!(c)) {                                                               \
        fprintf(stderr, "oneview: %s, line %d\n", #c, __LINE__);              \
        abort();                                                              \
    }


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void oneview_json(ngx_pool_t *pool, u_char *body, size_t len);
static void oneview_form(ngx_pool_t *pool, u_char *body, size_t len);
static void oneview_unique(ngx_pool_t *pool, ngx_array_t *root,
    ngx_uint_t *unique);
static ngx_uint_t oneview_count(ngx_array_t *root, ngx_str_t *name);
static ngx_uint_t oneview_path(ngx_str_t *name,
    ngx_http_b24trigger_seg_t *segs);
static ngx_uint_t oneview_index(ngx_str_t *name);
static ngx_uint_t oneview_same(ngx_str_t *a, ngx_str_t *b);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char      *body;
    ngx_pool_t  *pool;

    /* an exact-size copy: any read past its end is caught */

    body = malloc(size ? size : 1);
    oneview_assert(body != NULL);

    if (size) {
        memcpy(body, data, size);
    }

    pool = ngx_create_pool(4096, NULL);
    oneview_assert(pool != NULL);

    oneview_json(pool, body, size);
    oneview_form(pool, body, size);

    ngx_destroy_pool(pool);
    free(body);

    return 0;
}


/* the tbank way: a JSON object's root members */

static void
oneview_json(ngx_pool_t *pool, u_char *body, size_t len)
{
    ngx_int_t                           rc, all;
    ngx_str_t                           value;
    ngx_uint_t                          i, unique;
    ngx_array_t                         root;
    ngx_http_b24trigger_json_t         *json, *full;
    ngx_http_b24trigger_root_t         *f;
    ngx_http_b24trigger_seg_t           seg;
    ngx_http_b24trigger_parse_error_t   err, err2;

    rc = ngx_http_b24trigger_json_parse_max(pool, body, len,
                                            NGX_HTTP_B24TRIGGER_FIELDS_MAX,
                                            &json, &err);
    oneview_assert(rc != NGX_ERROR);

    /* the cap changes nothing but for texts of more values than it */

    all = ngx_http_b24trigger_json_parse(pool, body, len, &full, &err2);
    oneview_assert(all != NGX_ERROR);
    oneview_assert(!err2.too_many || all == NGX_OK);

    if (rc == NGX_DECLINED && err.too_many) {
        oneview_assert(all != NGX_OK
                       || ngx_http_b24trigger_json_count(full)
                          > NGX_HTTP_B24TRIGGER_FIELDS_MAX);
        return;
    }

    oneview_assert(rc == all);

    if (rc != NGX_OK) {
        return;
    }

    oneview_assert(ngx_http_b24trigger_json_count(json)
                   == ngx_http_b24trigger_json_count(full));

    rc = ngx_http_b24trigger_json_root(pool, json, &root);
    oneview_assert(rc == NGX_OK);
    oneview_assert(root.nelts <= NGX_HTTP_B24TRIGGER_FIELDS_MAX);

    oneview_unique(pool, &root, &unique);

    if (!unique) {
        return;
    }

    f = root.elts;

    for (i = 0; i < root.nelts; i++) {

        /* what verification takes for this name */

        oneview_assert(ngx_http_b24trigger_root_get(&root, f[i].name.data,
                                                    f[i].name.len)
                       == &f[i]);

        /* what b24trigger_field reads at the name */

        seg.name = f[i].name;
        seg.index = NGX_HTTP_B24TRIGGER_NO_INDEX;

        rc = ngx_http_b24trigger_json_lookup(json, &seg, 1, &value);

        switch (f[i].type) {

        case NGX_HTTP_B24TRIGGER_JSON_STRING:
        case NGX_HTTP_B24TRIGGER_JSON_NUMBER:
        case NGX_HTTP_B24TRIGGER_JSON_TRUE:
        case NGX_HTTP_B24TRIGGER_JSON_FALSE:
            oneview_assert(rc == NGX_OK);
            oneview_assert(oneview_same(&value, &f[i].value));
            break;

        default:

            /* an object, an array or null: hashed by no one, read as empty */

            oneview_assert(rc == NGX_DECLINED);
        }
    }
}


/* the robokassa and yoomoney way: form pairs */

static void
oneview_form(ngx_pool_t *pool, u_char *body, size_t len)
{
    ngx_int_t                   rc;
    ngx_str_t                   value;
    ngx_uint_t                  i, n, nsegs, unique;
    ngx_array_t                 pairs, root;
    ngx_http_b24trigger_root_t  *f;
    ngx_http_b24trigger_seg_t    segs[NGX_HTTP_B24TRIGGER_DEPTH_MAX];

    /* the count that refuses a form before it is parsed is exact */

    n = ngx_http_b24trigger_form_count(body, len);

    rc = ngx_array_init(&pairs, pool, n ? n : 1, sizeof(ngx_keyval_t));
    oneview_assert(rc == NGX_OK);

    rc = ngx_http_b24trigger_form_parse(pool, body, len, &pairs);
    oneview_assert(rc == NGX_OK);
    oneview_assert(pairs.nelts == n);

    if (n > NGX_HTTP_B24TRIGGER_FIELDS_MAX) {
        return;
    }

    rc = ngx_http_b24trigger_form_root(pool, &pairs, &root);
    oneview_assert(rc == NGX_OK);
    oneview_assert(root.nelts == n);

    oneview_unique(pool, &root, &unique);

    if (!unique) {
        return;
    }

    f = root.elts;

    for (i = 0; i < root.nelts; i++) {

        oneview_assert(f[i].type == NGX_HTTP_B24TRIGGER_JSON_STRING);
        oneview_assert(ngx_http_b24trigger_root_get(&root, f[i].name.data,
                                                    f[i].name.len)
                       == &f[i]);

        nsegs = oneview_path(&f[i].name, segs);

        if (nsegs == 0) {

            /* "a[]" (reached by no path there) or more than 64 names */

            continue;
        }

        rc = ngx_http_b24trigger_form_lookup(&pairs, segs, nsegs, 1, &value);

        if (rc != NGX_OK || !oneview_same(&value, &f[i].value)) {
            fprintf(stderr, "oneview: field %zu \"%.*s\": mapping reads "
                    "\"%.*s\"\n", (size_t) i, (int) f[i].name.len,
                    f[i].name.data, rc == NGX_OK ? (int) value.len : 0,
                    rc == NGX_OK ? value.data : (u_char *) "");
            abort();
        }
    }
}


/*
 * ngx_http_b24trigger_root_unique() against a plain O(n^2) look: an
 * accepted list has no name twice, a refused one has the name it gives
 */

static void
oneview_unique(ngx_pool_t *pool, ngx_array_t *root, ngx_uint_t *unique)
{
    ngx_int_t                    rc;
    ngx_str_t                    name;
    ngx_uint_t                   i, dup;
    ngx_http_b24trigger_root_t  *f;

    rc = ngx_http_b24trigger_root_unique(pool, root, &name);
    oneview_assert(rc != NGX_ERROR);

    f = root->elts;
    dup = 0;

    for (i = 0; i < root->nelts && !dup; i++) {
        dup = (oneview_count(root, &f[i].name) > 1);
    }

    if (rc == NGX_OK) {
        oneview_assert(!dup);
        *unique = 1;
        return;
    }

    oneview_assert(dup);
    oneview_assert(oneview_count(root, &name) > 1);

    *unique = 0;
}


static ngx_uint_t
oneview_count(ngx_array_t *root, ngx_str_t *name)
{
    ngx_uint_t                   i, n;
    ngx_http_b24trigger_root_t  *f;

    f = root->elts;
    n = 0;

    for (i = 0; i < root->nelts; i++) {
        n += oneview_same(&f[i].name, name);
    }

    return n;
}


/*
 * The path b24trigger_field uses for a form name, written here from the
 * documentation: "NAME[b][c]" is NAME, b, c when every "[" is closed,
 * with nothing between or after the brackets and no "[" inside them;
 * any other name is one segment as it is.  0 for a name with "[]" (at no
 * path in a strict location) or of more than 64 segments.
 */

static ngx_uint_t
oneview_path(ngx_str_t *name, ngx_http_b24trigger_seg_t *segs)
{
    u_char      *p, *last, *open, *close;
    ngx_uint_t   n, empty;

    p = name->data;
    last = name->data + name->len;

    open = memchr(p, '[', name->len);

    if (open == NULL || open == p) {
        goto plain;
    }

    segs[0].name.data = p;
    segs[0].name.len = open - p;
    segs[0].index = NGX_HTTP_B24TRIGGER_NO_INDEX;
    n = 1;
    empty = 0;

    for (p = open; p < last; p = close + 1) {

        if (*p != '[') {
            goto plain;
        }

        close = memchr(p + 1, ']', last - p - 1);

        if (close == NULL || memchr(p + 1, '[', close - p - 1) != NULL) {
            goto plain;
        }

        if (close == p + 1) {
            empty = 1;

        } else if (n < NGX_HTTP_B24TRIGGER_DEPTH_MAX) {
            segs[n].name.data = p + 1;
            segs[n].name.len = close - p - 1;
            segs[n].index = oneview_index(&segs[n].name);
        }

        n++;
    }

    if (empty || n > NGX_HTTP_B24TRIGGER_DEPTH_MAX) {
        return 0;
    }

    return n;

plain:

    segs[0].name = *name;
    segs[0].index = NGX_HTTP_B24TRIGGER_NO_INDEX;

    return 1;
}


/* as a path gives it: "0" or [1-9][0-9]*, at most 9 digits, is an index */

static ngx_uint_t
oneview_index(ngx_str_t *name)
{
    size_t      i;
    ngx_uint_t  index;

    if (name->len > 9 || (name->data[0] == '0' && name->len > 1)) {
        return NGX_HTTP_B24TRIGGER_NO_INDEX;
    }

    index = 0;

    for (i = 0; i < name->len; i++) {
        if (name->data[i] < '0' || name->data[i] > '9') {
            return NGX_HTTP_B24TRIGGER_NO_INDEX;
        }

        index = index * 10 + (name->data[i] - '0');
    }

    return index;
}


static ngx_uint_t
oneview_same(ngx_str_t *a, ngx_str_t *b)
{
    return a->len == b->len
           && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}
