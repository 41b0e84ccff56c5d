
/*
 * Copyright (C) b24trigger authors
 *
 * Request bodies as data.  One pass over a JSON body validates it and
 * builds a flat index of its values in the pool; a form body becomes
 * decoded pairs.  Lookups walk a path through either.  Nothing here
 * logs, touches a request or needs a running nginx: only a pool.
 *
 * The JSON index is an array of nodes in document order.  A container's
 * children follow it; "next" is the node after its whole subtree, so
 * siblings are found without recursion.  An object's children alternate
 * name, value; a name's "next" links the object's names in a ring, each
 * to the name before and the first to the last, so that a lookup meets
 * the last of repeated names first.  Strings with escapes are decoded
 * once, during the parse, into an arena as large as the body at most;
 * others point into the body.
 *
 * The parse reads the text followed by zero bytes (a copy, unless the
 * caller left them), so no read checks for the end first, and finds
 * strings through bit masks of 64-byte windows (SSE2, or AVX2 where the
 * processor has it) instead of scanning each from its start.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_b24trigger_body_parse.h"

/*
 * SSE2 is in every x86-64; NGX_HTTP_B24TRIGGER_JSON_PORTABLE builds the
 * plain C that other processors run (a fuzz target does).  AVX2 and BMI
 * are chosen at startup where the processor has them: gcc and clang
 * compile one function of the parse for them (the target attribute).
 */

#if (__SSE2__ && !NGX_HTTP_B24TRIGGER_JSON_PORTABLE)
#include <emmintrin.h>
#define NGX_HTTP_B24TRIGGER_SSE2  1
#else
#define NGX_HTTP_B24TRIGGER_SSE2  0
#endif

#if (NGX_HTTP_B24TRIGGER_SSE2 && __x86_64__ && (__GNUC__ >= 5 || __clang__))
#include <immintrin.h>
#define NGX_HTTP_B24TRIGGER_AVX2         1
#define NGX_HTTP_B24TRIGGER_JSON_INLINE                                      \
    ngx_inline __attribute__((always_inline))
#define NGX_HTTP_B24TRIGGER_JSON_NOINLINE  __attribute__((noinline))
#else
#define NGX_HTTP_B24TRIGGER_AVX2         0
#define NGX_HTTP_B24TRIGGER_JSON_INLINE  ngx_inline
#endif


/* 12 bytes a value: a text of 256 MB at most is indexed */

#define NGX_HTTP_B24TRIGGER_JSON_LEN_MAX  0x0fffffff

/*
 * A text not followed by NGX_HTTP_B24TRIGGER_JSON_PAD zero bytes is read
 * from a copy that is: on the stack up to this size, more than most
 * webhooks; in the pool above it
 */

#define NGX_HTTP_B24TRIGGER_JSON_COPY     4096

typedef struct {
    uint32_t                       start;    /* in the body or the arena */
    uint32_t                       next;     /* the node after the subtree */
    unsigned                       len:28;
    unsigned                       type:3;
    unsigned                       decoded:1;  /* start is in the arena */
} ngx_http_b24trigger_json_node_t;


struct ngx_http_b24trigger_json_s {
    u_char                            *data;
    size_t                             len;
    u_char                            *arena;
    size_t                             arena_len;
    ngx_http_b24trigger_json_node_t   *nodes;
    ngx_uint_t                         nnodes;
    ngx_uint_t                         nalloc;
    ngx_pool_t                        *pool;
    u_char                            *error_at;  /* in a string */
};


typedef uint64_t (*ngx_http_b24trigger_json_window_pt)(u_char *p);
typedef ngx_int_t (*ngx_http_b24trigger_json_walk_pt)(
    ngx_http_b24trigger_json_t *json, u_char *text, u_char *p, ngx_uint_t max,
    ngx_http_b24trigger_parse_error_t *err);


static ngx_int_t ngx_http_b24trigger_json_parse_text(ngx_pool_t *pool,
    u_char *data, size_t len, ngx_uint_t max, ngx_uint_t padded,
    ngx_http_b24trigger_json_t **jsonp, ngx_http_b24trigger_parse_error_t *err);
static NGX_HTTP_B24TRIGGER_JSON_INLINE ngx_int_t
    ngx_http_b24trigger_json_walk(ngx_http_b24trigger_json_t *json,
    u_char *text, u_char *p, ngx_uint_t max,
    ngx_http_b24trigger_parse_error_t *err,
    ngx_http_b24trigger_json_window_pt window);
static ngx_int_t ngx_http_b24trigger_json_walk_base(
    ngx_http_b24trigger_json_t *json, u_char *text, u_char *p, ngx_uint_t max,
    ngx_http_b24trigger_parse_error_t *err);
#if (NGX_HTTP_B24TRIGGER_AVX2)
static ngx_int_t ngx_http_b24trigger_json_walk_avx2(
    ngx_http_b24trigger_json_t *json, u_char *text, u_char *p, ngx_uint_t max,
    ngx_http_b24trigger_parse_error_t *err);
#endif
static ngx_http_b24trigger_json_node_t *ngx_http_b24trigger_json_grow(
    ngx_http_b24trigger_json_t *json, ngx_uint_t n);
static ngx_inline ngx_int_t ngx_http_b24trigger_json_node(
    ngx_http_b24trigger_json_t *json, ngx_uint_t type, u_char *start,
    size_t len);
static u_char *ngx_http_b24trigger_json_space(u_char *p);
static uint64_t ngx_http_b24trigger_json_window_base(u_char *p);
#if (NGX_HTTP_B24TRIGGER_SSE2)
static ngx_inline uint64_t ngx_http_b24trigger_json_window16(u_char *p);
#endif
#if (NGX_HTTP_B24TRIGGER_AVX2)
static NGX_HTTP_B24TRIGGER_JSON_NOINLINE uint64_t
    ngx_http_b24trigger_json_window_avx2(u_char *p);
#endif
static ngx_inline void ngx_http_b24trigger_json_at(u_char *text, u_char *p,
    u_char **base, uint64_t *bits, ngx_http_b24trigger_json_window_pt window);
static ngx_inline void ngx_http_b24trigger_json_sync(u_char *text,
    u_char *p, u_char **base, uint64_t *bits,
    ngx_http_b24trigger_json_window_pt window);
static ngx_inline u_char *ngx_http_b24trigger_json_plain(u_char *text,
    u_char *p, u_char **base, uint64_t *bits,
    ngx_http_b24trigger_json_window_pt window);
static ngx_inline void ngx_http_b24trigger_json_set(
    ngx_http_b24trigger_json_node_t *node, size_t start, ngx_uint_t next,
    size_t len, ngx_uint_t type);
static u_char *ngx_http_b24trigger_json_scan_string(
    ngx_http_b24trigger_json_t *json, u_char *p, u_char *last,
    const char **error);
static ngx_int_t ngx_http_b24trigger_json_decode(
    ngx_http_b24trigger_json_t *json, u_char *p, u_char *last);
static NGX_HTTP_B24TRIGGER_JSON_INLINE u_char *
    ngx_http_b24trigger_json_scan_number(u_char *p);
static ngx_inline u_char *ngx_http_b24trigger_json_digits(u_char *p);
static ngx_int_t ngx_http_b24trigger_json_hex4(u_char *p);
static size_t ngx_http_b24trigger_utf8_valid(u_char *p, u_char *last);
static ngx_uint_t ngx_http_b24trigger_form_match(ngx_str_t *key,
    ngx_http_b24trigger_seg_t *segs, ngx_uint_t nsegs, ngx_uint_t *counters);
static void ngx_http_b24trigger_form_decode(u_char *dst, size_t *dlen,
    u_char *src, size_t len);
static int ngx_http_b24trigger_root_cmp(const void *one, const void *two);


#if (NGX_HTTP_B24TRIGGER_AVX2)

/*
 * What the AVX2 window compares with, 32 bytes of each, set when it is
 * chosen: read from memory, not made anew in registers on every window
 */

static u_char  ngx_http_b24trigger_json_quotes[32];
static u_char  ngx_http_b24trigger_json_backslashes[32];
static u_char  ngx_http_b24trigger_json_spaces[32];

#endif


/* the parse the processor runs best, ngx_http_b24trigger_json_simd() */

static ngx_http_b24trigger_json_walk_pt  ngx_http_b24trigger_json_walker =
    ngx_http_b24trigger_json_walk_base;


ngx_int_t
ngx_http_b24trigger_path_parse(ngx_str_t *path,
    ngx_http_b24trigger_seg_t *segs, ngx_uint_t *nsegs, const char **error)
{
    u_char      *p, *last, *start;
    ngx_uint_t   n, i, index;

    p = path->data;
    last = path->data + path->len;
    n = 0;

    if (p == last) {
        *error = "empty path";
        return NGX_ERROR;
    }

    for ( ;; ) {

        if (n == NGX_HTTP_B24TRIGGER_DEPTH_MAX) {
            *error = "more than 64 segments";
            return NGX_ERROR;
        }

        if (*p == '[') {
            start = ++p;

            while (p < last && *p != ']' && *p != '[') {
                p++;
            }

            if (p == last || *p != ']' || p == start) {
                *error = "a \"[\" without a name and \"]\"";
                return NGX_ERROR;
            }

            segs[n].name.data = start;
            segs[n].name.len = p - start;
            p++;

        } else {
            start = p;

            while (p < last && *p != '.' && *p != '[' && *p != ']') {
                p++;
            }

            if (p == start) {
                *error = "an empty name";
                return NGX_ERROR;
            }

            segs[n].name.data = start;
            segs[n].name.len = p - start;
        }

        /* "0" or [1-9][0-9]*, at most 9 digits, may index an array */

        index = NGX_HTTP_B24TRIGGER_NO_INDEX;

        if (segs[n].name.len <= 9
            && (segs[n].name.data[0] != '0' || segs[n].name.len == 1))
        {
            index = 0;

            for (i = 0; i < segs[n].name.len; i++) {
                if (segs[n].name.data[i] < '0' || segs[n].name.data[i] > '9')
                {
                    index = NGX_HTTP_B24TRIGGER_NO_INDEX;
                    break;
                }

                index = index * 10 + (segs[n].name.data[i] - '0');
            }
        }

        segs[n++].index = index;

        if (p == last) {
            break;
        }

        if (*p == '.') {
            p++;

            if (p == last || *p == '.' || *p == '[' || *p == ']') {
                *error = "an empty name";
                return NGX_ERROR;
            }

            continue;
        }

        if (*p == '[') {
            continue;
        }

        *error = "a \"]\" without \"[\"";
        return NGX_ERROR;
    }

    *nsegs = n;

    return NGX_OK;
}


ngx_int_t
ngx_http_b24trigger_json_parse(ngx_pool_t *pool, u_char *data, size_t len,
    ngx_http_b24trigger_json_t **jsonp, ngx_http_b24trigger_parse_error_t *err)
{
    return ngx_http_b24trigger_json_parse_max(pool, data, len, 0, jsonp, err);
}


ngx_int_t
ngx_http_b24trigger_json_parse_max(ngx_pool_t *pool, u_char *data,
    size_t len, ngx_uint_t max, ngx_http_b24trigger_json_t **jsonp,
    ngx_http_b24trigger_parse_error_t *err)
{
    return ngx_http_b24trigger_json_parse_text(pool, data, len, max, 0,
                                               jsonp, err);
}


ngx_int_t
ngx_http_b24trigger_json_parse_padded(ngx_pool_t *pool, u_char *data,
    size_t len, ngx_uint_t max, ngx_http_b24trigger_json_t **jsonp,
    ngx_http_b24trigger_parse_error_t *err)
{
    return ngx_http_b24trigger_json_parse_text(pool, data, len, max, 1,
                                               jsonp, err);
}


static ngx_int_t
ngx_http_b24trigger_json_parse_text(ngx_pool_t *pool, u_char *data,
    size_t len, ngx_uint_t max, ngx_uint_t padded,
    ngx_http_b24trigger_json_t **jsonp, ngx_http_b24trigger_parse_error_t *err)
{
    u_char                       *p, *text;
    ngx_int_t                     rc;
    ngx_http_b24trigger_json_t   *json;
    u_char                        copy[NGX_HTTP_B24TRIGGER_JSON_COPY
                                       + NGX_HTTP_B24TRIGGER_JSON_PAD + 64];

    err->too_many = 0;

    if (len > NGX_HTTP_B24TRIGGER_JSON_LEN_MAX) {
        err->what = "body too large to index";
        err->offset = 0;
        return NGX_DECLINED;
    }

    json = ngx_pcalloc(pool, sizeof(ngx_http_b24trigger_json_t));
    if (json == NULL) {
        return NGX_ERROR;
    }

    json->len = len;
    json->pool = pool;

    /*
     * the index starts at about a node per 8 bytes of text (a compact
     * JSON text has fewer) and doubles in the rare text that needs more:
     * no pass over the text only to count its values
     */

    json->nalloc = len / 8 + 16;

    /* max values, and as many names at most */

    if (max && json->nalloc > 2 * max + 2) {
        json->nalloc = 2 * max + 2;
    }

    json->nodes = ngx_palloc(pool, json->nalloc
                                   * sizeof(ngx_http_b24trigger_json_node_t));
    if (json->nodes == NULL) {
        return NGX_ERROR;
    }

    /*
     * The text is read followed by zero bytes: in place if the caller
     * left them, or from a copy.  A zero ends every token (it is no digit,
     * no part of a literal, a control character in a string), so no read
     * checks for the end first: only where a zero stopped a token does
     * "p == last" tell the end from a zero byte in the text.  The copy is
     * on the stack for most webhooks; nodes are offsets, the same in the
     * copy and in the body, which the index keeps.
     */

    if (padded) {
        text = data;

    } else if (len <= NGX_HTTP_B24TRIGGER_JSON_COPY) {
        text = ngx_align_ptr(copy, 64);

    } else {
        text = ngx_palloc(pool, len + NGX_HTTP_B24TRIGGER_JSON_PAD);
        if (text == NULL) {
            return NGX_ERROR;
        }
    }

    if (!padded) {
        ngx_memcpy(text, data, len);
        ngx_memzero(text + len, NGX_HTTP_B24TRIGGER_JSON_PAD);
    }

    json->data = text;

    p = text;

    /* a UTF-8 byte order mark is allowed before the text */

    if (len >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
        p += 3;
    }

    rc = ngx_http_b24trigger_json_walker(json, text, p, max, err);

    if (!padded && len > NGX_HTTP_B24TRIGGER_JSON_COPY) {
        ngx_pfree(pool, text);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    json->data = data;
    *jsonp = json;

    return NGX_OK;
}


/*
 * The parse proper, of the text at "text" (followed by zero bytes) from
 * p, into the index of json.  Inlined into the two functions below it,
 * one of which may be compiled for AVX2 and BMI, each with its own window
 * function (a constant there).
 */

static NGX_HTTP_B24TRIGGER_JSON_INLINE ngx_int_t
ngx_http_b24trigger_json_walk(ngx_http_b24trigger_json_t *json,
    u_char *text, u_char *p, ngx_uint_t max,
    ngx_http_b24trigger_parse_error_t *err,
    ngx_http_b24trigger_json_window_pt window)
{
    u_char                           *last, *q, *base;
    uint32_t                          stack[NGX_HTTP_B24TRIGGER_DEPTH_MAX + 1];
    uint32_t                          names[NGX_HTTP_B24TRIGGER_DEPTH_MAX + 1];
    uint64_t                          bits;
    ngx_int_t                         rc;
    ngx_uint_t                        depth, budget, n, nalloc, type, k;
    const char                       *error;
    ngx_http_b24trigger_json_node_t  *nodes;

    rc = NGX_DECLINED;
    error = NULL;

    last = text + json->len;

    /*
     * The states are labels: each token jumps to what may follow it,
     * instead of a state variable switched on for every token.  An
     * object's members, the most common, have a path of their own (a name,
     * a string value, a comma); anything else goes through "value" and
     * "after", which read the innermost container from the stack: its node
     * and, in the low bit, whether it is an object (stack[0], the outside,
     * is neither).  The index is kept in locals, written back to json
     * around the calls that read or grow it; "budget" is how many more
     * values may come.
     */

    nodes = json->nodes;
    nalloc = json->nalloc;
    n = 0;

    budget = max ? max : (ngx_uint_t) -1;
    depth = 0;
    stack[0] = 0;

    ngx_http_b24trigger_json_at(text, p, &base, &bits, window);

value:

    /* counted first; whitespace, not a value, gives it back */

    if (budget-- == 0) {
        goto too_many;
    }

    if (*p == '"') {
        q = ngx_http_b24trigger_json_plain(text, p, &base, &bits, window);

        if (q == NULL) {
            goto string;
        }

        if (n == nalloc) {
            nodes = ngx_http_b24trigger_json_grow(json, n);
            if (nodes == NULL) {
                goto failed;
            }

            nalloc = json->nalloc;
        }

        ngx_http_b24trigger_json_set(&nodes[n], p + 1 - text, n + 1,
                                     q - (p + 1),
                                     NGX_HTTP_B24TRIGGER_JSON_STRING);
        n++;
        p = q + 1;
        goto after;
    }

    if ((u_char) (*p - '0') <= 9 || *p == '-') {
        q = ngx_http_b24trigger_json_scan_number(p);
        if (q == NULL) {
            error = "invalid number";
            goto invalid;
        }

        type = NGX_HTTP_B24TRIGGER_JSON_NUMBER;

    } else if (*p == '{' || *p == '[') {
        goto open;

    } else if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
        budget++;
        p = ngx_http_b24trigger_json_space(p);
        ngx_http_b24trigger_json_sync(text, p, &base, &bits, window);
        goto value;

    /* literals: the zeros after the text end them too */

    } else if (*p == 't' && ngx_memcmp(p, "true", 4) == 0) {
        q = p + 4;
        type = NGX_HTTP_B24TRIGGER_JSON_TRUE;

    } else if (*p == 'f' && ngx_memcmp(p, "false", 5) == 0) {
        q = p + 5;
        type = NGX_HTTP_B24TRIGGER_JSON_FALSE;

    } else if (*p == 'n' && ngx_memcmp(p, "null", 4) == 0) {
        q = p + 4;
        type = NGX_HTTP_B24TRIGGER_JSON_NULL;

    } else {
        error = (p == last) ? "unexpected end" : "unexpected character";
        goto invalid;
    }

    if (n == nalloc) {
        nodes = ngx_http_b24trigger_json_grow(json, n);
        if (nodes == NULL) {
            goto failed;
        }

        nalloc = json->nalloc;
    }

    ngx_http_b24trigger_json_set(&nodes[n], p - text, n + 1, q - p, type);
    n++;
    p = q;

after:

    /* after a value: whitespace, the end, or the container's "," or close */

    if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
        p = ngx_http_b24trigger_json_space(p);
        ngx_http_b24trigger_json_sync(text, p, &base, &bits, window);
    }

    if (depth == 0) {
        if (p != last) {
            error = "data after the value";
            goto invalid;
        }

        rc = NGX_OK;
        goto done;
    }

    if (stack[depth] & 1) {
        if (*p == ',') {
            p++;
            goto member;
        }

        if (*p == '}') {
            p++;
            goto close;
        }

        error = (p == last) ? "unexpected end" : "expected \",\" or \"}\"";
        goto invalid;
    }

    if (*p == ',') {
        p++;
        goto value;
    }

    if (*p == ']') {
        p++;
        goto close;
    }

    error = (p == last) ? "unexpected end" : "expected \",\" or \"]\"";
    goto invalid;

open:

    if (depth == NGX_HTTP_B24TRIGGER_DEPTH_MAX) {
        error = "nesting deeper than 64";
        goto invalid;
    }

    if (n == nalloc) {
        nodes = ngx_http_b24trigger_json_grow(json, n);
        if (nodes == NULL) {
            goto failed;
        }

        nalloc = json->nalloc;
    }

    /* "next" and "len" are set on close */

    if (*p++ == '{') {
        ngx_http_b24trigger_json_set(&nodes[n], p - 1 - text, n + 1, 1,
                                     NGX_HTTP_B24TRIGGER_JSON_OBJECT);
        stack[++depth] = (uint32_t) (n++ << 1 | 1);
        names[depth] = 0;

        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
            p = ngx_http_b24trigger_json_space(p);
            ngx_http_b24trigger_json_sync(text, p, &base, &bits, window);
        }

        if (*p == '}') {
            p++;
            goto close;
        }

        goto member;
    }

    ngx_http_b24trigger_json_set(&nodes[n], p - 1 - text, n + 1, 1,
                                 NGX_HTTP_B24TRIGGER_JSON_ARRAY);
    stack[++depth] = (uint32_t) (n++ << 1);

    if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
        p = ngx_http_b24trigger_json_space(p);
        ngx_http_b24trigger_json_sync(text, p, &base, &bits, window);
    }

    if (*p == ']') {
        p++;
        goto close;
    }

    goto value;

close:

    k = stack[depth] >> 1;

    nodes[k].next = (uint32_t) n;
    nodes[k].len = (uint32_t) (p - text) - nodes[k].start;

    /* an object's first name closes the ring of its names: the last */

    if ((stack[depth] & 1) && n > k + 1) {
        nodes[k + 1].next = names[depth];
    }

    depth--;

    goto after;

member:

    /* a name, after "{" or "," */

    if (*p != '"') {
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
            p = ngx_http_b24trigger_json_space(p);
            ngx_http_b24trigger_json_sync(text, p, &base, &bits, window);
            goto member;
        }

        error = (p == last) ? "unexpected end" : "expected a name";
        goto invalid;
    }

member_name:

    q = ngx_http_b24trigger_json_plain(text, p, &base, &bits, window);

    if (q != NULL && n != nalloc) {
        ngx_http_b24trigger_json_set(&nodes[n], p + 1 - text, names[depth],
                                     q - (p + 1),
                                     NGX_HTTP_B24TRIGGER_JSON_STRING);
        names[depth] = (uint32_t) n++;

        p = q + 1;

    } else {
        json->nnodes = n;

        q = ngx_http_b24trigger_json_scan_string(json, p, last, &error);

        if (q == NULL) {
            goto failed;
        }

        nodes = json->nodes;
        nalloc = json->nalloc;
        n = json->nnodes;

        nodes[n - 1].next = names[depth];
        names[depth] = (uint32_t) (n - 1);

        p = q;
        ngx_http_b24trigger_json_sync(text, p, &base, &bits, window);
    }

    /* ":" and a string, in one compare */

    if (ngx_memcmp(p, ":\"", 2) == 0 && budget) {
        p++;
        goto member_string;
    }

    if (*p != ':') {
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
            p = ngx_http_b24trigger_json_space(p);
            ngx_http_b24trigger_json_sync(text, p, &base, &bits, window);
        }

        if (*p != ':') {
            error = (p == last) ? "unexpected end" : "expected \":\"";
            goto invalid;
        }
    }

    p++;

    /* its value, a string or a number most often; any other in "value" */

    if (budget == 0) {
        goto value;
    }

    if (*p == '"') {

member_string:

        q = ngx_http_b24trigger_json_plain(text, p, &base, &bits, window);

        if (q == NULL) {
            budget--;
            goto string;
        }

        if (n == nalloc) {
            nodes = ngx_http_b24trigger_json_grow(json, n);
            if (nodes == NULL) {
                goto failed;
            }

            nalloc = json->nalloc;
        }

        ngx_http_b24trigger_json_set(&nodes[n], p + 1 - text, n + 1,
                                     q - (p + 1),
                                     NGX_HTTP_B24TRIGGER_JSON_STRING);
        p = q + 1;

    } else if ((u_char) (*p - '0') <= 9 || *p == '-') {
        q = ngx_http_b24trigger_json_scan_number(p);
        if (q == NULL) {
            error = "invalid number";
            goto invalid;
        }

        if (n == nalloc) {
            nodes = ngx_http_b24trigger_json_grow(json, n);
            if (nodes == NULL) {
                goto failed;
            }

            nalloc = json->nalloc;
        }

        ngx_http_b24trigger_json_set(&nodes[n], p - text, n + 1, q - p,
                                     NGX_HTTP_B24TRIGGER_JSON_NUMBER);
        p = q;

    } else {
        goto value;
    }

    n++;
    budget--;

    /* and what follows it: the next member most often */

    if (ngx_memcmp(p, ",\"", 2) == 0) {
        p++;
        goto member_name;
    }

    if (*p == ',') {
        p++;
        goto member;
    }

    if (*p == '}') {
        p++;
        goto close;
    }

    goto after;

string:

    /* a string value that is not plain */

    json->nnodes = n;

    q = ngx_http_b24trigger_json_scan_string(json, p, last, &error);

    if (q == NULL) {
        goto failed;
    }

    nodes = json->nodes;
    nalloc = json->nalloc;
    n = json->nnodes;

    p = q;
    ngx_http_b24trigger_json_sync(text, p, &base, &bits, window);

    goto after;

too_many:

    if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
        budget++;
        p = ngx_http_b24trigger_json_space(p);
        ngx_http_b24trigger_json_sync(text, p, &base, &bits, window);
        goto value;
    }

    if (p == last) {
        error = "unexpected end";

    } else {
        err->too_many = 1;
        error = "too many values";
    }

    goto invalid;

failed:

    /* an invalid string (error set, where in json->error_at), or no memory */

    if (error == NULL) {
        rc = NGX_ERROR;
        goto done;
    }

    p = json->error_at;

invalid:

    err->what = error;
    err->offset = p - text;

done:

    if (rc == NGX_OK) {
        json->nodes = nodes;
        json->nnodes = n;
        json->nalloc = nalloc;
    }

    return rc;
}


static ngx_int_t
ngx_http_b24trigger_json_walk_base(ngx_http_b24trigger_json_t *json,
    u_char *text, u_char *p, ngx_uint_t max,
    ngx_http_b24trigger_parse_error_t *err)
{
    return ngx_http_b24trigger_json_walk(json, text, p, max, err,
                                         ngx_http_b24trigger_json_window_base);
}


#if (NGX_HTTP_B24TRIGGER_AVX2)

static __attribute__((target("avx2,bmi,bmi2"))) ngx_int_t
ngx_http_b24trigger_json_walk_avx2(ngx_http_b24trigger_json_t *json,
    u_char *text, u_char *p, ngx_uint_t max,
    ngx_http_b24trigger_parse_error_t *err)
{
    return ngx_http_b24trigger_json_walk(json, text, p, max, err,
                                         ngx_http_b24trigger_json_window_avx2);
}

#endif


ngx_uint_t
ngx_http_b24trigger_json_simd(ngx_uint_t level)
{
    ngx_http_b24trigger_json_walker = ngx_http_b24trigger_json_walk_base;

#if (NGX_HTTP_B24TRIGGER_AVX2)

    if (level >= NGX_HTTP_B24TRIGGER_JSON_AVX2) {
        __builtin_cpu_init();

        if (__builtin_cpu_supports("avx2")
            && __builtin_cpu_supports("bmi")
            && __builtin_cpu_supports("bmi2"))
        {
            ngx_memset(ngx_http_b24trigger_json_quotes, '"', 32);
            ngx_memset(ngx_http_b24trigger_json_backslashes, '\\', 32);
            ngx_memset(ngx_http_b24trigger_json_spaces, ' ', 32);

            ngx_http_b24trigger_json_walker =
                                        ngx_http_b24trigger_json_walk_avx2;
            return NGX_HTTP_B24TRIGGER_JSON_AVX2;
        }
    }

#endif

    return NGX_HTTP_B24TRIGGER_JSON_BASE;
}


void
ngx_http_b24trigger_json_init(void)
{
    char  *s;

    s = getenv("B24TRIGGER_JSON_SIMD");

    (void) ngx_http_b24trigger_json_simd(s != NULL && ngx_strcmp(s, "base") == 0
                                         ? NGX_HTTP_B24TRIGGER_JSON_BASE
                                         : NGX_HTTP_B24TRIGGER_JSON_AVX2);
}


ngx_uint_t
ngx_http_b24trigger_json_count(ngx_http_b24trigger_json_t *json)
{
    return json->nnodes;
}


ngx_int_t
ngx_http_b24trigger_json_lookup(ngx_http_b24trigger_json_t *json,
    ngx_http_b24trigger_seg_t *segs, ngx_uint_t nsegs, ngx_str_t *value)
{
    switch (ngx_http_b24trigger_json_find(json, segs, nsegs, value)) {

    case NGX_HTTP_B24TRIGGER_JSON_STRING:
    case NGX_HTTP_B24TRIGGER_JSON_NUMBER:
    case NGX_HTTP_B24TRIGGER_JSON_TRUE:
    case NGX_HTTP_B24TRIGGER_JSON_FALSE:
        return NGX_OK;

    default:
        return NGX_DECLINED;
    }
}


ngx_int_t
ngx_http_b24trigger_json_find(ngx_http_b24trigger_json_t *json,
    ngx_http_b24trigger_seg_t *segs, ngx_uint_t nsegs, ngx_str_t *value)
{
    u_char                           *name, *want;
    size_t                            len;
    ngx_uint_t                        n, k, i, end, found, first;
    ngx_http_b24trigger_json_node_t  *nodes, *node, *key;

    nodes = json->nodes;
    n = 0;

    for (i = 0; i < nsegs; i++) {
        node = &nodes[n];

        if (node->type == NGX_HTTP_B24TRIGGER_JSON_OBJECT) {

            /*
             * names may repeat: the last one wins, the first found from
             * the end of the ring; the length first, a name's text only
             * where it matches (few names share it)
             */

            k = n + 1;

            if (k >= node->next) {
                return NGX_DECLINED;
            }

            len = segs[i].name.len;
            want = segs[i].name.data;
            first = k;
            k = nodes[first].next;

            for ( ;; ) {
                key = &nodes[k];

                if (key->len == len) {
                    name = key->decoded ? json->arena + key->start
                                        : json->data + key->start;

                    if (len == 0
                        || (name[0] == want[0]
                            && ngx_memcmp(name, want, len) == 0))
                    {
                        break;
                    }
                }

                if (k == first) {
                    return NGX_DECLINED;
                }

                k = key->next;
            }

            n = k + 1;
            continue;
        }

        if (node->type == NGX_HTTP_B24TRIGGER_JSON_ARRAY) {

            if (segs[i].index == NGX_HTTP_B24TRIGGER_NO_INDEX) {
                return NGX_DECLINED;
            }

            k = n + 1;
            end = node->next;

            for (found = 0; found < segs[i].index && k < end; found++) {
                k = nodes[k].next;
            }

            if (k >= end) {
                return NGX_DECLINED;
            }

            n = k;
            continue;
        }

        return NGX_DECLINED;
    }

    node = &nodes[n];

    value->data = node->decoded ? json->arena + node->start
                                : json->data + node->start;
    value->len = node->len;

    return node->type;
}


/* the index twice as large: its new array, or NULL */

static ngx_http_b24trigger_json_node_t *
ngx_http_b24trigger_json_grow(ngx_http_b24trigger_json_t *json,
    ngx_uint_t n)
{
    ngx_uint_t                        size;
    ngx_http_b24trigger_json_node_t  *nodes;

    size = json->nalloc * 2;

    nodes = ngx_palloc(json->pool,
                       size * sizeof(ngx_http_b24trigger_json_node_t));
    if (nodes == NULL) {
        return NULL;
    }

    ngx_memcpy(nodes, json->nodes,
               n * sizeof(ngx_http_b24trigger_json_node_t));

    ngx_pfree(json->pool, json->nodes);

    json->nodes = nodes;
    json->nalloc = size;

    return nodes;
}


static ngx_inline ngx_int_t
ngx_http_b24trigger_json_node(ngx_http_b24trigger_json_t *json,
    ngx_uint_t type, u_char *start, size_t len)
{
    if (json->nnodes == json->nalloc
        && ngx_http_b24trigger_json_grow(json, json->nnodes) == NULL)
    {
        return NGX_ERROR;
    }

    ngx_http_b24trigger_json_set(&json->nodes[json->nnodes], start - json->data,
                                 json->nnodes + 1, len, type);
    json->nnodes++;

    return NGX_OK;
}


/* a run of whitespace, in a text followed by zero bytes */

static u_char *
ngx_http_b24trigger_json_space(u_char *p)
{
#if (NGX_HTTP_B24TRIGGER_SSE2)

    int      m;
    __m128i  v, w, space;

    /* padding: runs of spaces, 32 bytes at a time */

    space = _mm_set1_epi8(' ');

    for ( ;; ) {
        v = _mm_loadu_si128((const __m128i *) p);
        w = _mm_loadu_si128((const __m128i *) (p + 16));

        if (_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(v, space),
                                            _mm_cmpeq_epi8(w, space)))
            != 0xffff)
        {
            break;
        }

        p += 32;
    }

    /* the rest, and indentation, 16 bytes at a time */

    for ( ;; ) {
        v = _mm_loadu_si128((const __m128i *) p);

        m = _mm_movemask_epi8(
                _mm_or_si128(
                    _mm_or_si128(_mm_cmpeq_epi8(v, space),
                                 _mm_cmpeq_epi8(v, _mm_set1_epi8('\n'))),
                    _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\r')),
                                 _mm_cmpeq_epi8(v, _mm_set1_epi8('\t')))));

        if (m != 0xffff) {
            return p + __builtin_ctz(~m);
        }

        p += 16;
    }

#else

    uint64_t  w;

    /* padding: runs of spaces, eight at a time */

    for ( ;; ) {
        ngx_memcpy(&w, p, 8);

        if (w != 0x2020202020202020ULL) {
            break;
        }

        p += 8;
    }

    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
        p++;
    }

    return p;

#endif
}


/*
 * Strings are found through windows of 64 bytes of the text, one bit for
 * each byte that is a quote, a backslash or below 0x20 signed (a control
 * character, a zero after the text, a byte of a multibyte character: the
 * top bit of v - 0x20 saturated, all movemask reads of it).  "bits" holds
 * those of the window at "base" not yet passed.  A window is
 * read once, whatever the number of strings in it, and where a string
 * ends is found in a register: it does not wait for a load at the end of
 * the string before, as a scan from each string's start would.
 */

static uint64_t
ngx_http_b24trigger_json_window_base(u_char *p)
{
#if (NGX_HTTP_B24TRIGGER_SSE2)

    return ngx_http_b24trigger_json_window16(p)
           | ngx_http_b24trigger_json_window16(p + 16) << 16
           | ngx_http_b24trigger_json_window16(p + 32) << 32
           | ngx_http_b24trigger_json_window16(p + 48) << 48;

#else

    uint64_t    m;
    ngx_uint_t  i;

    m = 0;

    for (i = 0; i < 64; i++) {
        if (p[i] == '"' || p[i] == '\\' || p[i] < 0x20 || p[i] >= 0x80) {
            m |= (uint64_t) 1 << i;
        }
    }

    return m;

#endif
}


#if (NGX_HTTP_B24TRIGGER_SSE2)

static ngx_inline uint64_t
ngx_http_b24trigger_json_window16(u_char *p)
{
    __m128i  v;

    v = _mm_loadu_si128((const __m128i *) p);

    return (unsigned) _mm_movemask_epi8(
               _mm_or_si128(
                   _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                   _mm_subs_epi8(v, _mm_set1_epi8(0x20))));
}

#endif


#if (NGX_HTTP_B24TRIGGER_AVX2)

/*
 * Out of line: its 256-bit registers are cleared on return, and the rest
 * of the parse, SSE and 128-bit code, pays nothing for them (inlined, the
 * parse took 1.6 times as long)
 */

static NGX_HTTP_B24TRIGGER_JSON_NOINLINE __attribute__((target("avx2")))
uint64_t
ngx_http_b24trigger_json_window_avx2(u_char *p)
{
    __m256i  v, w, quote, backslash, control;

    quote = _mm256_loadu_si256(
                         (const __m256i *) ngx_http_b24trigger_json_quotes);
    backslash = _mm256_loadu_si256(
                    (const __m256i *) ngx_http_b24trigger_json_backslashes);
    control = _mm256_loadu_si256(
                         (const __m256i *) ngx_http_b24trigger_json_spaces);

    v = _mm256_loadu_si256((const __m256i *) p);
    w = _mm256_loadu_si256((const __m256i *) (p + 32));

    v = _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(v, quote),
                                        _mm256_cmpeq_epi8(v, backslash)),
                        _mm256_subs_epi8(v, control));
    w = _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(w, quote),
                                        _mm256_cmpeq_epi8(w, backslash)),
                        _mm256_subs_epi8(w, control));

    return (uint32_t) _mm256_movemask_epi8(v)
           | (uint64_t) (uint32_t) _mm256_movemask_epi8(w) << 32;
}

#endif


/* the window of p, from p on */

static ngx_inline void
ngx_http_b24trigger_json_at(u_char *text, u_char *p, u_char **base,
    uint64_t *bits, ngx_http_b24trigger_json_window_pt window)
{
    ngx_uint_t  off;

    off = (p - text) & 63;

    *base = p - off;
    *bits = window(*base)
            & ((uint64_t) -1 << off);
}


/*
 * After whitespace or a string read in full: the bits before p passed,
 * most often in the same window
 */

static ngx_inline void
ngx_http_b24trigger_json_sync(u_char *text, u_char *p, u_char **base,
    uint64_t *bits, ngx_http_b24trigger_json_window_pt window)
{
    if (p - *base < 64) {
        *bits &= (uint64_t) -1 << (p - *base);
        return;
    }

    ngx_http_b24trigger_json_at(text, p, base, bits, window);
}


/*
 * The common string, opening at p, in a text followed by zero bytes:
 * ASCII, no escape, no control character.  Returns its closing quote, or
 * NULL for any other, which ngx_http_b24trigger_json_scan_string() then
 * reads in full.  The opening quote is the first of the bits if any are
 * left: between the last byte marked and p there were only structure,
 * numbers, literals and spaces (other whitespace is synced past).
 */

static ngx_inline u_char *
ngx_http_b24trigger_json_plain(u_char *text, u_char *p, u_char **base,
    uint64_t *bits, ngx_http_b24trigger_json_window_pt window)
{
    u_char    *q;
    uint64_t   b;

    /* none left in the window: p is in a later one, maybe not the next */

    if (*bits == 0) {
        ngx_http_b24trigger_json_at(text, p, base, bits, window);
    }

    b = *bits;

    /* the opening quote off; the next byte marked ends the string or not */

    b &= b - 1;

    while (b == 0) {
        *base += 64;
        b = window(*base);
    }

    q = *base + (unsigned) __builtin_ctzll(b);
    *bits = b & (b - 1);

    return (*q == '"') ? q : NULL;
}


/* a node, the whole of it */

static ngx_inline void
ngx_http_b24trigger_json_set(ngx_http_b24trigger_json_node_t *node,
    size_t start, ngx_uint_t next, size_t len, ngx_uint_t type)
{
    node->start = (uint32_t) start;
    node->next = (uint32_t) next;
    node->len = len;
    node->type = type;
    node->decoded = 0;
}


/*
 * A string at p (the opening quote): checked, added to the index, decoded
 * into the arena if it has escapes.  Returns the byte after the closing
 * quote, or NULL: *error set if the string is invalid, not if no memory.
 */

static u_char *
ngx_http_b24trigger_json_scan_string(ngx_http_b24trigger_json_t *json,
    u_char *p, u_char *last, const char **error)
{
    u_char     *start;
    size_t      n;
    ngx_int_t   c, lo;
    ngx_uint_t  escaped;
#if (NGX_HTTP_B24TRIGGER_SSE2)
    int         m;
    __m128i     v;
#else
    uint64_t    w, q, b;
#endif

    start = ++p;
    escaped = 0;

    while (p < last) {

        /*
         * plain bytes in bulk: none of them a quote, a backslash, a
         * control character or a byte of a multibyte character
         */

#if (NGX_HTTP_B24TRIGGER_SSE2)

        while (last - p >= 16) {
            v = _mm_loadu_si128((const __m128i *) p);

            m = _mm_movemask_epi8(
                    _mm_or_si128(
                        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                     _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                        _mm_cmplt_epi8(v, _mm_set1_epi8(0x20))));

            if (m) {
                p += __builtin_ctz(m);
                break;
            }

            p += 16;
        }

#else

        /* (x - 0x01..) & ~x & 0x80.. finds a zero byte in x */

        while (last - p >= 8) {
            ngx_memcpy(&w, p, 8);

            q = w ^ 0x2222222222222222ULL;
            b = w ^ 0x5c5c5c5c5c5c5c5cULL;

            if ((((q - 0x0101010101010101ULL) & ~q)
                 | ((b - 0x0101010101010101ULL) & ~b)
                 | (w - 0x2020202020202020ULL)
                 | w)
                & 0x8080808080808080ULL)
            {
                break;
            }

            p += 8;
        }

#endif

        if (p == last) {
            break;
        }

        if (*p == '"') {
            break;
        }

        if (*p == '\\') {
            escaped = 1;

            if (last - p < 2) {
                break;
            }

            switch (p[1]) {

            case '"': case '\\': case '/':
            case 'b': case 'f': case 'n': case 'r': case 't':
                p += 2;
                continue;

            case 'u':
                if (last - p < 6
                    || (c = ngx_http_b24trigger_json_hex4(p + 2)) < 0)
                {
                    json->error_at = p;
                    *error = "invalid \\u escape";
                    return NULL;
                }

                if (c >= 0xdc00 && c <= 0xdfff) {
                    json->error_at = p;
                    *error = "unpaired surrogate in \\u escape";
                    return NULL;
                }

                if (c >= 0xd800 && c <= 0xdbff) {
                    lo = (last - p >= 12 && p[6] == '\\' && p[7] == 'u')
                         ? ngx_http_b24trigger_json_hex4(p + 8) : -1;

                    if (lo < 0xdc00 || lo > 0xdfff) {
                        json->error_at = p;
                        *error = "unpaired surrogate in \\u escape";
                        return NULL;
                    }

                    p += 12;
                    continue;
                }

                p += 6;
                continue;

            default:
                json->error_at = p;
                *error = "invalid escape";
                return NULL;
            }
        }

        if (*p < 0x20) {
            json->error_at = p;
            *error = "control character in a string";
            return NULL;
        }

        if (*p < 0x80) {
            p++;
            continue;
        }

        n = ngx_http_b24trigger_utf8_valid(p, last);
        if (n == 0) {
            json->error_at = p;
            *error = "invalid UTF-8";
            return NULL;
        }

        p += n;
    }

    if (p >= last || *p != '"') {
        json->error_at = last;
        *error = "unterminated string";
        return NULL;
    }

    if (ngx_http_b24trigger_json_node(json, NGX_HTTP_B24TRIGGER_JSON_STRING,
                                      start, p - start)
        != NGX_OK)
    {
        *error = NULL;
        return NULL;
    }

    if (escaped && ngx_http_b24trigger_json_decode(json, start, p) != NGX_OK) {
        *error = NULL;
        return NULL;
    }

    return p + 1;
}


/* a checked string with escapes, into the arena; the last node is its */

static ngx_int_t
ngx_http_b24trigger_json_decode(ngx_http_b24trigger_json_t *json,
    u_char *p, u_char *last)
{
    u_char                           *d, *start;
    ngx_uint_t                        c;
    ngx_http_b24trigger_json_node_t  *node;

    if (json->arena == NULL) {

        /* no string decodes longer than it is written */

        json->arena = ngx_pnalloc(json->pool, json->len);
        if (json->arena == NULL) {
            return NGX_ERROR;
        }
    }

    start = json->arena + json->arena_len;
    d = start;

    while (p < last) {

        if (*p != '\\') {
            *d++ = *p++;
            continue;
        }

        switch (p[1]) {
        case 'b': *d++ = '\b'; p += 2; continue;
        case 'f': *d++ = '\f'; p += 2; continue;
        case 'n': *d++ = '\n'; p += 2; continue;
        case 'r': *d++ = '\r'; p += 2; continue;
        case 't': *d++ = '\t'; p += 2; continue;
        case 'u': break;
        default: *d++ = p[1]; p += 2; continue;
        }

        c = ngx_http_b24trigger_json_hex4(p + 2);
        p += 6;

        if (c >= 0xd800 && c <= 0xdbff) {
            c = 0x10000 + ((c - 0xd800) << 10)
                + (ngx_http_b24trigger_json_hex4(p + 2) - 0xdc00);
            p += 6;
        }

        if (c < 0x80) {
            *d++ = (u_char) c;

        } else if (c < 0x800) {
            *d++ = (u_char) (0xc0 | (c >> 6));
            *d++ = (u_char) (0x80 | (c & 0x3f));

        } else if (c < 0x10000) {
            *d++ = (u_char) (0xe0 | (c >> 12));
            *d++ = (u_char) (0x80 | ((c >> 6) & 0x3f));
            *d++ = (u_char) (0x80 | (c & 0x3f));

        } else {
            *d++ = (u_char) (0xf0 | (c >> 18));
            *d++ = (u_char) (0x80 | ((c >> 12) & 0x3f));
            *d++ = (u_char) (0x80 | ((c >> 6) & 0x3f));
            *d++ = (u_char) (0x80 | (c & 0x3f));
        }
    }

    node = &json->nodes[json->nnodes - 1];

    node->start = (uint32_t) json->arena_len;
    node->len = (uint32_t) (d - start);
    node->decoded = 1;

    json->arena_len += d - start;

    return NGX_OK;
}


/*
 * -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, or NULL, in a text
 * followed by zero bytes
 */

static NGX_HTTP_B24TRIGGER_JSON_INLINE u_char *
ngx_http_b24trigger_json_scan_number(u_char *p)
{
    if (*p == '-') {
        p++;
    }

    if (*p < '0' || *p > '9') {
        return NULL;
    }

    if (*p == '0') {
        p++;

    } else {
        p = ngx_http_b24trigger_json_digits(p + 1);
    }

    if (*p == '.') {
        p++;

        if (*p < '0' || *p > '9') {
            return NULL;
        }

        p = ngx_http_b24trigger_json_digits(p + 1);
    }

    if (*p == 'e' || *p == 'E') {
        p++;

        if (*p == '+' || *p == '-') {
            p++;
        }

        if (*p < '0' || *p > '9') {
            return NULL;
        }

        p = ngx_http_b24trigger_json_digits(p + 1);
    }

    return p;
}


/* the end of a run of digits: ids and timestamps are ten or more */

static ngx_inline u_char *
ngx_http_b24trigger_json_digits(u_char *p)
{
#if (NGX_HTTP_B24TRIGGER_SSE2)

    int      m;
    __m128i  v;

    for ( ;; ) {
        v = _mm_loadu_si128((const __m128i *) p);

        m = _mm_movemask_epi8(
                _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                              _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1))));

        if (m != 0xffff) {
            return p + __builtin_ctz(~m);
        }

        p += 16;
    }

#else

    while (*p >= '0' && *p <= '9') {
        p++;
    }

    return p;

#endif
}


static ngx_int_t
ngx_http_b24trigger_json_hex4(u_char *p)
{
    u_char      ch;
    ngx_int_t   c;
    ngx_uint_t  i;

    c = 0;

    for (i = 0; i < 4; i++) {
        ch = p[i];

        if (ch >= '0' && ch <= '9') {
            c = c * 16 + (ch - '0');

        } else if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f') {
            c = c * 16 + ((ch | 0x20) - 'a' + 10);

        } else {
            return -1;
        }
    }

    return c;
}


/*
 * The length of the well-formed UTF-8 sequence at p (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF), or 0
 */

static size_t
ngx_http_b24trigger_utf8_valid(u_char *p, u_char *last)
{
    u_char  c, lo, hi;
    size_t  n, i;

    c = p[0];
    lo = 0x80;
    hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;

        if (c == 0xe0) {
            lo = 0xa0;

        } else if (c == 0xed) {
            hi = 0x9f;
        }

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;

        if (c == 0xf0) {
            lo = 0x90;

        } else if (c == 0xf4) {
            hi = 0x8f;
        }

    } else {
        return 0;
    }

    if ((size_t) (last - p) < n) {
        return 0;
    }

    if (p[1] < lo || p[1] > hi) {
        return 0;
    }

    for (i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            return 0;
        }
    }

    return n;
}


/* a whole string of well-formed UTF-8, as jansson and JSON want it */

ngx_uint_t
ngx_http_b24trigger_utf8_string(ngx_str_t *s)
{
    u_char  *p, *last;
    size_t   n;

    p = s->data;
    last = s->data + s->len;

    while (p < last) {

        if (*p < 0x80) {
            p++;
            continue;
        }

        n = ngx_http_b24trigger_utf8_valid(p, last);
        if (n == 0) {
            return 0;
        }

        p += n;
    }

    return 1;
}


ngx_int_t
ngx_http_b24trigger_form_parse(ngx_pool_t *pool, u_char *data, size_t len,
    ngx_array_t *pairs)
{
    u_char        *p, *last, *amp, *eq;
    ngx_keyval_t  *kv;

    p = data;
    last = data + len;

    while (p < last) {

        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        if (amp == p) {
            p++;
            continue;
        }

        eq = ngx_strlchr(p, amp, '=');

        kv = ngx_array_push(pairs);
        if (kv == NULL) {
            return NGX_ERROR;
        }

        kv->key.data = ngx_pnalloc(pool, (eq ? eq : amp) - p + 1);
        kv->value.data = ngx_pnalloc(pool, eq ? amp - eq : 1);

        if (kv->key.data == NULL || kv->value.data == NULL) {
            return NGX_ERROR;
        }

        ngx_http_b24trigger_form_decode(kv->key.data, &kv->key.len, p,
                                        (eq ? eq : amp) - p);

        if (eq) {
            ngx_http_b24trigger_form_decode(kv->value.data, &kv->value.len,
                                            eq + 1, amp - eq - 1);
        } else {
            kv->value.len = 0;
        }

        p = amp + 1;
    }

    return NGX_OK;
}


ngx_uint_t
ngx_http_b24trigger_form_count(u_char *data, size_t len)
{
    u_char      *p, *last, *amp;
    ngx_uint_t   n;

    p = data;
    last = data + len;
    n = 0;

    while (p < last) {

        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        if (amp != p) {
            n++;
        }

        p = amp + 1;
    }

    return n;
}


ngx_int_t
ngx_http_b24trigger_form_lookup(ngx_array_t *pairs,
    ngx_http_b24trigger_seg_t *segs, ngx_uint_t nsegs, ngx_uint_t strict,
    ngx_str_t *value)
{
    ngx_uint_t     i, counters[NGX_HTTP_B24TRIGGER_DEPTH_MAX];
    ngx_keyval_t  *kv, *found;

    ngx_memzero(counters, sizeof(counters));

    kv = pairs->elts;
    found = NULL;

    /* repeated fields: the last one wins, as in PHP */

    for (i = 0; i < pairs->nelts; i++) {
        if (ngx_http_b24trigger_form_match(&kv[i].key, segs, nsegs,
                                           strict ? NULL : counters))
        {
            found = &kv[i];
        }
    }

    if (found == NULL) {
        return NGX_DECLINED;
    }

    *value = found->value;

    return NGX_OK;
}


/*
 * Does a decoded form name match the path?  "a[b][0]" is a, b, 0; the
 * n-th "[]" under the same prefix is n-1 (counters hold, per depth, how
 * many such "[]" came before; without counters "[]" matches nothing).
 * A name that is not NAME[..][..] exactly ("a[b", "a[b]c", "[a]") is one
 * segment, taken as it is.
 */

static ngx_uint_t
ngx_http_b24trigger_form_match(ngx_str_t *key,
    ngx_http_b24trigger_seg_t *segs, ngx_uint_t nsegs, ngx_uint_t *counters)
{
    u_char      *p, *last, *name, *start;
    ngx_uint_t   j, brackets;

    p = key->data;
    last = key->data + key->len;

    name = ngx_strlchr(p, last, '[');
    brackets = (name != NULL && name != p);

    /* NAME[..][..]: each "[" closed, nothing in between or after */

    for (p = name; brackets && p < last; p++) {
        if (*p != '[') {
            brackets = 0;
            break;
        }

        while (++p < last && *p != ']') {
            if (*p == '[') {
                brackets = 0;
                break;
            }
        }

        if (p == last) {
            brackets = 0;
        }
    }

    if (!brackets) {
        return nsegs == 1 && segs[0].name.len == key->len
               && ngx_memcmp(segs[0].name.data, key->data, key->len) == 0;
    }

    if (segs[0].name.len != (size_t) (name - key->data)
        || ngx_memcmp(segs[0].name.data, key->data, name - key->data) != 0)
    {
        return 0;
    }

    j = 0;
    p = name;

    while (p < last) {
        start = ++p;

        while (*p != ']') {
            p++;
        }

        if (++j == nsegs) {
            return 0;
        }

        if (p == start) {

            /* "[]": the next index under this prefix */

            if (counters == NULL || segs[j].index != counters[j]++) {
                return 0;
            }

        } else if (segs[j].name.len != (size_t) (p - start)
                   || ngx_memcmp(segs[j].name.data, start, p - start) != 0)
        {
            return 0;
        }

        p++;
    }

    return j + 1 == nsegs;
}


ngx_int_t
ngx_http_b24trigger_json_root(ngx_pool_t *pool,
    ngx_http_b24trigger_json_t *json, ngx_array_t *root)
{
    ngx_uint_t                        k, n;
    ngx_http_b24trigger_root_t       *f;
    ngx_http_b24trigger_json_node_t  *obj, *name, *value;

    obj = &json->nodes[0];
    n = 0;

    if (obj->type == NGX_HTTP_B24TRIGGER_JSON_OBJECT) {
        for (k = 1; k < obj->next; k = json->nodes[k + 1].next) {
            n++;
        }
    }

    if (ngx_array_init(root, pool, n ? n : 1,
                       sizeof(ngx_http_b24trigger_root_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (n == 0) {
        return NGX_OK;
    }

    /* an object's children alternate name, value */

    for (k = 1; k < obj->next; k = json->nodes[k + 1].next) {
        name = &json->nodes[k];
        value = &json->nodes[k + 1];

        f = ngx_array_push(root);

        f->name.data = name->decoded ? json->arena + name->start
                                     : json->data + name->start;
        f->name.len = name->len;
        f->value.data = value->decoded ? json->arena + value->start
                                       : json->data + value->start;
        f->value.len = value->len;
        f->type = value->type;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_b24trigger_form_root(ngx_pool_t *pool, ngx_array_t *pairs,
    ngx_array_t *root)
{
    ngx_uint_t                   i;
    ngx_keyval_t                *kv;
    ngx_http_b24trigger_root_t  *f;

    if (ngx_array_init(root, pool, pairs->nelts ? pairs->nelts : 1,
                       sizeof(ngx_http_b24trigger_root_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    kv = pairs->elts;

    for (i = 0; i < pairs->nelts; i++) {
        f = ngx_array_push(root);

        f->name = kv[i].key;
        f->value = kv[i].value;
        f->type = NGX_HTTP_B24TRIGGER_JSON_STRING;
    }

    return NGX_OK;
}


/* the names sorted (pointers to them, so the fields keep their order) */

ngx_int_t
ngx_http_b24trigger_root_unique(ngx_pool_t *pool, ngx_array_t *root,
    ngx_str_t *name)
{
    ngx_uint_t                    i;
    ngx_http_b24trigger_root_t   *f, **sorted;

    if (root->nelts < 2) {
        return NGX_OK;
    }

    sorted = ngx_palloc(pool, root->nelts * sizeof(void *));
    if (sorted == NULL) {
        return NGX_ERROR;
    }

    f = root->elts;

    for (i = 0; i < root->nelts; i++) {
        sorted[i] = &f[i];
    }

    /* not ngx_sort(): an insertion sort, quadratic */

    ngx_qsort(sorted, root->nelts, sizeof(void *),
              ngx_http_b24trigger_root_cmp);

    for (i = 1; i < root->nelts; i++) {
        if (sorted[i]->name.len == sorted[i - 1]->name.len
            && ngx_memcmp(sorted[i]->name.data, sorted[i - 1]->name.data,
                          sorted[i]->name.len)
               == 0)
        {
            *name = sorted[i]->name;
            ngx_pfree(pool, sorted);
            return NGX_DECLINED;
        }
    }

    ngx_pfree(pool, sorted);

    return NGX_OK;
}


static int
ngx_http_b24trigger_root_cmp(const void *one, const void *two)
{
    int                          rc;
    ngx_http_b24trigger_root_t  *a, *b;

    a = *(ngx_http_b24trigger_root_t **) one;
    b = *(ngx_http_b24trigger_root_t **) two;

    rc = ngx_memcmp(a->name.data, b->name.data,
                    ngx_min(a->name.len, b->name.len));
    if (rc != 0) {
        return rc;
    }

    return (a->name.len > b->name.len) - (a->name.len < b->name.len);
}


ngx_http_b24trigger_root_t *
ngx_http_b24trigger_root_get(ngx_array_t *root, u_char *name, size_t len)
{
    ngx_uint_t                   i;
    ngx_http_b24trigger_root_t  *f;

    f = root->elts;

    for (i = 0; i < root->nelts; i++) {
        if (f[i].name.len == len && ngx_memcmp(f[i].name.data, name, len) == 0)
        {
            return &f[i];
        }
    }

    return NULL;
}


/* "+" is a space, %XX a byte; a malformed escape is kept as it is */

static void
ngx_http_b24trigger_form_decode(u_char *dst, size_t *dlen, u_char *src,
    size_t len)
{
    u_char   *d, c, h, l;
    size_t    i;

    d = dst;

    for (i = 0; i < len; i++) {
        c = src[i];

        if (c == '+') {
            *d++ = ' ';
            continue;
        }

        if (c == '%' && i + 2 < len) {
            h = src[i + 1];
            l = src[i + 2];

            h = (h >= '0' && h <= '9') ? h - '0'
                : ((h | 0x20) >= 'a' && (h | 0x20) <= 'f')
                  ? (h | 0x20) - 'a' + 10 : 0xff;
            l = (l >= '0' && l <= '9') ? l - '0'
                : ((l | 0x20) >= 'a' && (l | 0x20) <= 'f')
                  ? (l | 0x20) - 'a' + 10 : 0xff;

            if (h != 0xff && l != 0xff) {
                *d++ = (u_char) ((h << 4) | l);
                i += 2;
                continue;
            }
        }

        *d++ = c;
    }

    *dlen = d - dst;
}
