
/*
 * Copyright (C) b24trigger authors
 *
 * libFuzzer target for body fields: the path parser, the JSON index and
 * lookup, the form parser and lookup (src/ngx_http_b24trigger_body_parse.c).
 * The input is "PATH\nBODY".  Besides memory errors it checks what the
 * parser promises: that it accepts exactly the JSON texts jansson accepts
 * (but for the documented differences: nesting beyond 64, numbers of any
 * size, a byte order mark, "\u0000" in a name; and jansson stops at a NUL
 * byte after a value, we do not), that a string value at a
 * top-level name is the one jansson decodes (the last of repeated names),
 * and that every string it returns is valid UTF-8.  The parse's other
 * ways to the same answers must give them too: the base build and the
 * AVX2 one where the processor has it, the text copied or read in place
 * (ngx_http_b24trigger_json_parse_padded()).
 *
 * FUZZ_SOURCES: src/ngx_http_b24trigger_body_parse.c fuzz/ngx_shim.c
 * FUZZ_LIBS: -ljansson
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <jansson.h>

#include "ngx_http_b24trigger_body_parse.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void fields_fuzz_json(ngx_pool_t *pool, u_char *body, size_t len,
    ngx_http_b24trigger_seg_t *segs, ngx_uint_t nsegs);
static void fields_fuzz_ways(ngx_pool_t *pool, u_char *body, size_t len,
    ngx_http_b24trigger_seg_t *segs, ngx_uint_t nsegs, ngx_int_t rc,
    ngx_http_b24trigger_parse_error_t *err, ngx_http_b24trigger_json_t *json);
static void fields_fuzz_form(ngx_pool_t *pool, u_char *body, size_t len,
    ngx_http_b24trigger_seg_t *segs, ngx_uint_t nsegs);
static ngx_uint_t fields_fuzz_utf8(u_char *p, size_t len);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                     *nl, *body, *path;
    size_t                      len;
    ngx_str_t                   p;
    ngx_uint_t                  nsegs;
    ngx_pool_t                 *pool;
    const char                 *error;
    ngx_http_b24trigger_seg_t   segs[NGX_HTTP_B24TRIGGER_DEPTH_MAX];

    nl = memchr(data, '\n', size);
    if (nl == NULL) {
        return 0;
    }

    /* exact-size copies: any read past either end is caught */

    p.len = nl - data;
    path = malloc(p.len + 1);
    len = size - p.len - 1;
    body = malloc(len + 1);

    if (path == NULL || body == NULL) {
        abort();
    }

    memcpy(path, data, p.len);
    memcpy(body, nl + 1, len);
    p.data = path;

    pool = ngx_create_pool(4096, NULL);
    if (pool == NULL) {
        abort();
    }

    if (ngx_http_b24trigger_path_parse(&p, segs, &nsegs, &error) == NGX_OK) {
        if (nsegs == 0 || nsegs > NGX_HTTP_B24TRIGGER_DEPTH_MAX) {
            abort();
        }

    } else {
        nsegs = 0;
    }

    fields_fuzz_json(pool, body, len, segs, nsegs);
    fields_fuzz_form(pool, body, len, segs, nsegs);

    ngx_destroy_pool(pool);
    free(body);
    free(path);

    return 0;
}


static void
fields_fuzz_json(ngx_pool_t *pool, u_char *body, size_t len,
    ngx_http_b24trigger_seg_t *segs, ngx_uint_t nsegs)
{
    char                               *key;
    json_t                             *j, *jv;
    ngx_int_t                           rc;
    ngx_str_t                           value;
    json_error_t                        jerr;
    ngx_http_b24trigger_json_t         *json;
    ngx_http_b24trigger_parse_error_t   err;

    (void) ngx_http_b24trigger_json_simd(NGX_HTTP_B24TRIGGER_JSON_AVX2);

    rc = ngx_http_b24trigger_json_parse(pool, body, len, &json, &err);

    if (rc == NGX_ERROR) {
        abort();
    }

    fields_fuzz_ways(pool, body, len, segs, nsegs, rc, &err, json);

    if (rc == NGX_DECLINED && (err.what == NULL || err.offset > len)) {
        abort();
    }

    j = json_loadb((char *) body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL,
                   &jerr);

    if (rc == NGX_OK && j == NULL
        && strstr(jerr.text, "too big") == NULL
        && strstr(jerr.text, "overflow") == NULL
        && strstr(jerr.text, "NUL") == NULL
        && !(len >= 3 && body[0] == 0xef && body[1] == 0xbb
             && body[2] == 0xbf))
    {
        fprintf(stderr, "accepted, jansson says: %s\n", jerr.text);
        abort();
    }

    /* jansson takes a NUL byte for the end of the text */

    if (rc == NGX_DECLINED && j != NULL
        && strstr(err.what, "nesting") == NULL
        && !(err.offset < len && body[err.offset] == '\0'))
    {
        fprintf(stderr, "refused (%s at %zu), jansson accepts\n", err.what,
                err.offset);
        abort();
    }

    if (rc != NGX_OK) {
        json_decref(j);
        return;
    }

    if (nsegs == 0) {
        json_decref(j);
        return;
    }

    rc = ngx_http_b24trigger_json_lookup(json, segs, nsegs, &value);

    if (rc == NGX_OK && !fields_fuzz_utf8(value.data, value.len)) {
        abort();
    }

    /* a top-level name, compared with jansson's view */

    if (j != NULL && json_is_object(j) && nsegs == 1
        && memchr(segs[0].name.data, '\0', segs[0].name.len) == NULL)
    {
        key = strndup((char *) segs[0].name.data, segs[0].name.len);
        if (key == NULL) {
            abort();
        }

        jv = json_object_get(j, key);
        free(key);

        if (jv == NULL || json_is_null(jv) || json_is_object(jv)
            || json_is_array(jv))
        {
            if (rc != NGX_DECLINED) {
                abort();
            }

        } else if (json_is_string(jv)) {
            if (rc != NGX_OK || value.len != json_string_length(jv)
                || memcmp(value.data, json_string_value(jv), value.len) != 0)
            {
                abort();
            }

        } else if (json_is_true(jv) || json_is_false(jv)) {
            if (rc != NGX_OK
                || value.len != (json_is_true(jv) ? 4 : 5)
                || memcmp(value.data, json_is_true(jv) ? "true" : "false",
                          value.len) != 0)
            {
                abort();
            }

        } else if (rc != NGX_OK) {
            abort();
        }
    }

    json_decref(j);
}


/* the same answers, with the base build, and from a padded text */

static void
fields_fuzz_ways(ngx_pool_t *pool, u_char *body, size_t len,
    ngx_http_b24trigger_seg_t *segs, ngx_uint_t nsegs, ngx_int_t rc,
    ngx_http_b24trigger_parse_error_t *err, ngx_http_b24trigger_json_t *json)
{
    u_char                             *padded;
    ngx_int_t                           rc2, t, t2;
    ngx_str_t                           v, v2;
    ngx_uint_t                          way;
    ngx_http_b24trigger_json_t         *json2;
    ngx_http_b24trigger_parse_error_t   err2;

    padded = malloc(len + NGX_HTTP_B24TRIGGER_JSON_PAD);
    if (padded == NULL) {
        abort();
    }

    memcpy(padded, body, len);
    memset(padded + len, 0, NGX_HTTP_B24TRIGGER_JSON_PAD);

    for (way = 0; way < 3; way++) {

        (void) ngx_http_b24trigger_json_simd(way == 1
                                             ? NGX_HTTP_B24TRIGGER_JSON_AVX2
                                             : NGX_HTTP_B24TRIGGER_JSON_BASE);

        rc2 = (way == 2)
              ? ngx_http_b24trigger_json_parse(pool, body, len, &json2, &err2)
              : ngx_http_b24trigger_json_parse_padded(pool, padded, len, 0,
                                                      &json2, &err2);

        if (rc2 != rc) {
            abort();
        }

        if (rc == NGX_DECLINED) {
            if (strcmp(err2.what, err->what) != 0
                || err2.offset != err->offset)
            {
                fprintf(stderr, "%s at %zu, another way %s at %zu\n",
                        err->what, err->offset, err2.what, err2.offset);
                abort();
            }

            continue;
        }

        if (ngx_http_b24trigger_json_count(json2)
            != ngx_http_b24trigger_json_count(json))
        {
            abort();
        }

        t = ngx_http_b24trigger_json_find(json, segs, nsegs, &v);
        t2 = ngx_http_b24trigger_json_find(json2, segs, nsegs, &v2);

        if (t != t2
            || (t != NGX_DECLINED
                && (v.len != v2.len || memcmp(v.data, v2.data, v.len) != 0)))
        {
            abort();
        }
    }

    (void) ngx_http_b24trigger_json_simd(NGX_HTTP_B24TRIGGER_JSON_AVX2);

    free(padded);
}


static void
fields_fuzz_form(ngx_pool_t *pool, u_char *body, size_t len,
    ngx_http_b24trigger_seg_t *segs, ngx_uint_t nsegs)
{
    ngx_str_t     value;
    ngx_array_t   pairs;

    if (ngx_array_init(&pairs, pool, 4, sizeof(ngx_keyval_t)) != NGX_OK) {
        abort();
    }

    if (ngx_http_b24trigger_form_parse(pool, body, len, &pairs) != NGX_OK) {
        abort();
    }

    if (nsegs) {
        (void) ngx_http_b24trigger_form_lookup(&pairs, segs, nsegs, 0,
                                               &value);
        (void) ngx_http_b24trigger_form_lookup(&pairs, segs, nsegs, 1,
                                               &value);
    }
}


static ngx_uint_t
fields_fuzz_utf8(u_char *p, size_t len)
{
    size_t  i, n;

    for (i = 0; i < len; i += n) {
        if (p[i] < 0x80) {
            n = 1;

        } else if (p[i] >= 0xc2 && p[i] <= 0xdf) {
            n = 2;

        } else if (p[i] >= 0xe0 && p[i] <= 0xef) {
            n = 3;

        } else if (p[i] >= 0xf0 && p[i] <= 0xf4) {
            n = 4;

        } else {
            return 0;
        }

        if (i + n > len) {
            return 0;
        }
    }

    return 1;
}
