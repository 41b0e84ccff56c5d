
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
 * name, value.  Strings with escapes are decoded once, during the parse,
 * into an arena as large as the body at most; others point into the body.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_b24trigger_body_parse.h"

#if (__SSE2__)
#include <emmintrin.h>
#define NGX_HTTP_B24TRIGGER_SSE2  1
#else
#define NGX_HTTP_B24TRIGGER_SSE2  0
#endif


/* 12 bytes a value: a text of 256 MB at most is indexed */

#define NGX_HTTP_B24TRIGGER_JSON_LEN_MAX  0x0fffffff

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


typedef enum {
    sw_value = 0,
    sw_name,
    sw_after_value
} ngx_http_b24trigger_json_state_e;


static ngx_str_t  ngx_http_b24trigger_json_true = ngx_string("true");
static ngx_str_t  ngx_http_b24trigger_json_false = ngx_string("false");
static ngx_str_t  ngx_http_b24trigger_json_null = ngx_string("null");


static ngx_inline ngx_int_t ngx_http_b24trigger_json_node(
    ngx_http_b24trigger_json_t *json, ngx_uint_t type, u_char *start,
    size_t len);
static ngx_inline u_char *ngx_http_b24trigger_json_skip(u_char *p,
    u_char *last);
static ngx_inline u_char *ngx_http_b24trigger_json_plain(
    ngx_http_b24trigger_json_t *json, u_char *p, u_char *last);
static u_char *ngx_http_b24trigger_json_scan_string(
    ngx_http_b24trigger_json_t *json, u_char *p, u_char *last,
    const char **error);
static ngx_int_t ngx_http_b24trigger_json_decode(
    ngx_http_b24trigger_json_t *json, u_char *p, u_char *last);
static u_char *ngx_http_b24trigger_json_scan_number(u_char *p, u_char *last);
static ngx_int_t ngx_http_b24trigger_json_hex4(u_char *p);
static size_t ngx_http_b24trigger_utf8_valid(u_char *p, u_char *last);
static ngx_uint_t ngx_http_b24trigger_form_match(ngx_str_t *key,
    ngx_http_b24trigger_seg_t *segs, ngx_uint_t nsegs, ngx_uint_t *counters);
static void ngx_http_b24trigger_form_decode(u_char *dst, size_t *dlen,
    u_char *src, size_t len);
static int ngx_http_b24trigger_root_cmp(const void *one, const void *two);


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
    u_char                            *p, *last, *q;
    uint32_t                           stack[NGX_HTTP_B24TRIGGER_DEPTH_MAX];
    ngx_str_t                         *lit;
    ngx_uint_t                         depth, top, type, values;
    const char                        *error;
    ngx_http_b24trigger_json_t        *json;
    ngx_http_b24trigger_json_state_e   state;

    p = data;
    last = data + len;

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

    json->data = data;
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

    /* a UTF-8 byte order mark is allowed before the text */

    if (len >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
        p += 3;
    }

    depth = 0;
    values = 0;
    state = sw_value;
    error = NULL;

    for ( ;; ) {

        p = ngx_http_b24trigger_json_skip(p, last);

        switch (state) {

        case sw_value:

            if (p == last) {
                error = "unexpected end";
                goto invalid;
            }

            if (max && ++values > max) {
                err->too_many = 1;
                error = "too many values";
                goto invalid;
            }

            switch (*p) {

            case '{':
            case '[':
                if (depth == NGX_HTTP_B24TRIGGER_DEPTH_MAX) {
                    error = "nesting deeper than 64";
                    goto invalid;
                }

                if (ngx_http_b24trigger_json_node(json,
                                   *p == '{' ? NGX_HTTP_B24TRIGGER_JSON_OBJECT
                                             : NGX_HTTP_B24TRIGGER_JSON_ARRAY,
                                   p, 1)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

                stack[depth++] = json->nnodes - 1;

                q = ngx_http_b24trigger_json_skip(p + 1, last);

                if (q < last && *q == (*p == '{' ? '}' : ']')) {
                    p = q + 1;
                    goto close;
                }

                state = (*p == '{') ? sw_name : sw_value;
                p++;
                continue;

            case '"':
                q = ngx_http_b24trigger_json_plain(json, p, last);

                if (q == NULL) {
                    q = ngx_http_b24trigger_json_scan_string(json, p, last,
                                                             &error);
                }

                if (q == NULL) {
                    if (error == NULL) {
                        return NGX_ERROR;
                    }

                    p = json->error_at;
                    goto invalid;
                }

                p = q;
                break;

            case 't':
            case 'f':
            case 'n':
                if (*p == 't') {
                    lit = &ngx_http_b24trigger_json_true;
                    type = NGX_HTTP_B24TRIGGER_JSON_TRUE;

                } else if (*p == 'f') {
                    lit = &ngx_http_b24trigger_json_false;
                    type = NGX_HTTP_B24TRIGGER_JSON_FALSE;

                } else {
                    lit = &ngx_http_b24trigger_json_null;
                    type = NGX_HTTP_B24TRIGGER_JSON_NULL;
                }

                if ((size_t) (last - p) < lit->len
                    || ngx_strncmp(p, lit->data, lit->len) != 0)
                {
                    error = "unexpected character";
                    goto invalid;
                }

                if (ngx_http_b24trigger_json_node(json, type, p, lit->len)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

                p += lit->len;
                break;

            default:
                q = ngx_http_b24trigger_json_scan_number(p, last);
                if (q == NULL) {
                    error = (*p == '-' || (*p >= '0' && *p <= '9'))
                            ? "invalid number" : "unexpected character";
                    goto invalid;
                }

                if (ngx_http_b24trigger_json_node(json,
                                              NGX_HTTP_B24TRIGGER_JSON_NUMBER,
                                              p, q - p)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

                p = q;
                break;
            }

            state = sw_after_value;
            continue;

        case sw_name:

            if (p == last || *p != '"') {
                error = (p == last) ? "unexpected end" : "expected a name";
                goto invalid;
            }

            q = ngx_http_b24trigger_json_plain(json, p, last);

            if (q == NULL) {
                q = ngx_http_b24trigger_json_scan_string(json, p, last,
                                                         &error);
            }

            if (q == NULL) {
                if (error == NULL) {
                    return NGX_ERROR;
                }

                p = json->error_at;
                goto invalid;
            }

            p = ngx_http_b24trigger_json_skip(q, last);

            if (p == last || *p != ':') {
                error = (p == last) ? "unexpected end" : "expected \":\"";
                goto invalid;
            }

            p++;
            state = sw_value;
            continue;

        case sw_after_value:

            if (depth == 0) {
                if (p != last) {
                    error = "data after the value";
                    goto invalid;
                }

                *jsonp = json;
                return NGX_OK;
            }

            if (p == last) {
                error = "unexpected end";
                goto invalid;
            }

            top = stack[depth - 1];

            if (*p == ',') {
                p++;
                state = (json->nodes[top].type
                         == NGX_HTTP_B24TRIGGER_JSON_OBJECT)
                        ? sw_name : sw_value;
                continue;
            }

            if (*p != (json->nodes[top].type == NGX_HTTP_B24TRIGGER_JSON_OBJECT
                       ? '}' : ']'))
            {
                error = (json->nodes[top].type
                         == NGX_HTTP_B24TRIGGER_JSON_OBJECT)
                        ? "expected \",\" or \"}\""
                        : "expected \",\" or \"]\"";
                goto invalid;
            }

            p++;
            goto close;
        }

    close:

        top = stack[--depth];
        json->nodes[top].next = (uint32_t) json->nnodes;
        json->nodes[top].len = (uint32_t) (p - data) - json->nodes[top].start;
        state = sw_after_value;
    }

invalid:

    err->what = error;
    err->offset = p - data;

    return NGX_DECLINED;
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
    u_char                           *name;
    ngx_uint_t                        n, k, i, found;
    ngx_http_b24trigger_json_node_t  *node, *key;

    n = 0;

    for (i = 0; i < nsegs; i++) {
        node = &json->nodes[n];

        if (node->type == NGX_HTTP_B24TRIGGER_JSON_OBJECT) {

            /* names may repeat: the last one wins */

            found = 0;

            for (k = n + 1; k < node->next; k = json->nodes[k + 1].next) {
                key = &json->nodes[k];

                name = key->decoded ? json->arena + key->start
                                    : json->data + key->start;

                /* the first byte inline: few names share length and it */

                if (key->len == segs[i].name.len
                    && (key->len == 0
                        || (name[0] == segs[i].name.data[0]
                            && ngx_memcmp(name, segs[i].name.data, key->len)
                               == 0)))
                {
                    found = k + 1;
                }
            }

            if (found == 0) {
                return NGX_DECLINED;
            }

            n = found;
            continue;
        }

        if (node->type == NGX_HTTP_B24TRIGGER_JSON_ARRAY) {

            if (segs[i].index == NGX_HTTP_B24TRIGGER_NO_INDEX) {
                return NGX_DECLINED;
            }

            k = n + 1;

            for (found = 0; found < segs[i].index && k < node->next;
                 found++)
            {
                k = json->nodes[k].next;
            }

            if (k >= node->next) {
                return NGX_DECLINED;
            }

            n = k;
            continue;
        }

        return NGX_DECLINED;
    }

    node = &json->nodes[n];

    value->data = node->decoded ? json->arena + node->start
                                : json->data + node->start;
    value->len = node->len;

    return node->type;
}


static ngx_inline ngx_int_t
ngx_http_b24trigger_json_node(ngx_http_b24trigger_json_t *json,
    ngx_uint_t type, u_char *start, size_t len)
{
    ngx_uint_t                        n;
    ngx_http_b24trigger_json_node_t  *nodes, *node;

    if (json->nnodes == json->nalloc) {
        n = json->nalloc * 2;

        nodes = ngx_palloc(json->pool,
                           n * sizeof(ngx_http_b24trigger_json_node_t));
        if (nodes == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(nodes, json->nodes,
                   json->nnodes * sizeof(ngx_http_b24trigger_json_node_t));

        ngx_pfree(json->pool, json->nodes);

        json->nodes = nodes;
        json->nalloc = n;
    }

    node = &json->nodes[json->nnodes++];

    node->start = (uint32_t) (start - json->data);
    node->len = len;
    node->next = (uint32_t) json->nnodes;
    node->type = type;
    node->decoded = 0;

    return NGX_OK;
}


static ngx_inline u_char *
ngx_http_b24trigger_json_skip(u_char *p, u_char *last)
{
    uint64_t  w;

    if (p < last && *p > ' ') {
        return p;
    }

    /* padding: runs of spaces, eight at a time */

    while (last - p >= 8) {
        ngx_memcpy(&w, p, 8);

        if (w != 0x2020202020202020ULL) {
            break;
        }

        p += 8;
    }

    while (p < last
           && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    {
        p++;
    }

    return p;
}


/*
 * The common string, at p (the opening quote): ASCII, no escape, 16 bytes
 * of text after it at least.  Added to the index, and the byte after the
 * closing quote returned; NULL for any other, which
 * ngx_http_b24trigger_json_scan_string() then reads in full.
 */

static ngx_inline u_char *
ngx_http_b24trigger_json_plain(ngx_http_b24trigger_json_t *json, u_char *p,
    u_char *last)
{
#if (NGX_HTTP_B24TRIGGER_SSE2)

    int                               q, m;
    u_char                           *s;
    __m128i                           v;
    ngx_http_b24trigger_json_node_t  *node;

    if (json->nnodes == json->nalloc) {
        return NULL;
    }

    for (s = p + 1; last - s >= 16; s += 16) {

        v = _mm_loadu_si128((const __m128i *) s);

        /*
         * the quotes, and the others: none of the others before the
         * first quote (the masks say it; no load of the byte found)
         */

        q = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')));
        m = _mm_movemask_epi8(
                _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\\')),
                             _mm_cmplt_epi8(v, _mm_set1_epi8(0x20))));

        if ((q | m) == 0) {
            continue;
        }

        if (m & ((q & -q) - 1)) {
            return NULL;
        }

        s += __builtin_ctz(q);

        node = &json->nodes[json->nnodes++];

        node->start = (uint32_t) (p + 1 - json->data);
        node->len = s - (p + 1);
        node->next = (uint32_t) json->nnodes;
        node->type = NGX_HTTP_B24TRIGGER_JSON_STRING;
        node->decoded = 0;

        return s + 1;
    }

#endif

    return NULL;
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


/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, or NULL */

static u_char *
ngx_http_b24trigger_json_scan_number(u_char *p, u_char *last)
{
    if (p < last && *p == '-') {
        p++;
    }

    if (p == last || *p < '0' || *p > '9') {
        return NULL;
    }

    if (*p == '0') {
        p++;

    } else {
        while (p < last && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (p < last && *p == '.') {
        p++;

        if (p == last || *p < '0' || *p > '9') {
            return NULL;
        }

        while (p < last && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (p < last && (*p == 'e' || *p == 'E')) {
        p++;

        if (p < last && (*p == '+' || *p == '-')) {
            p++;
        }

        if (p == last || *p < '0' || *p > '9') {
            return NULL;
        }

        while (p < last && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    return p;
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
