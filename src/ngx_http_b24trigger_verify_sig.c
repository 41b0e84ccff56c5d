
/*
 * Copyright (C) b24trigger authors
 *
 * Signature headers and encodings taken apart (see the header file).
 * Only nginx types and inline macros here: the fuzz targets link this
 * file without the nginx runtime.  Every input is hostile; every read is
 * bounded by the length given.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_b24trigger_verify_sig.h"

#if (__SSE2__)
#include <emmintrin.h>
#endif


static void ngx_http_b24trigger_sig_trim(u_char **p, u_char **last);
static ngx_int_t ngx_http_b24trigger_sig_add(
    ngx_http_b24trigger_sig_list_t *list, u_char *p, u_char *last);


/* 0..63 for the standard and the URL-safe alphabets, 0xff otherwise */

static u_char  ngx_http_b24trigger_b64[256] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff,   62, 0xff,   62, 0xff,   63,
      52,   53,   54,   55,   56,   57,   58,   59,
      60,   61, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff,    0,    1,    2,    3,    4,    5,    6,
       7,    8,    9,   10,   11,   12,   13,   14,
      15,   16,   17,   18,   19,   20,   21,   22,
      23,   24,   25, 0xff, 0xff, 0xff, 0xff,   63,
    0xff,   26,   27,   28,   29,   30,   31,   32,
      33,   34,   35,   36,   37,   38,   39,   40,
      41,   42,   43,   44,   45,   46,   47,   48,
      49,   50,   51, 0xff, 0xff, 0xff, 0xff, 0xff,

    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff
};


/* the value of a hex digit, either case, or 0xff */

static u_char  ngx_http_b24trigger_hex[256] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
       0,    1,    2,    3,    4,    5,    6,    7,
       8,    9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff,   10,   11,   12,   13,   14,   15, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff,   10,   11,   12,   13,   14,   15, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,

    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff
};


ssize_t
ngx_http_b24trigger_hex_decode(u_char *dst, u_char *src, size_t len)
{
    u_char     h, l, bad;
    size_t     i;
#if (NGX_HAVE_LITTLE_ENDIAN)
    uint32_t   o;
    uint64_t   w, v, digit, letter, n, wrong;
#if (__SSE2__)
    __m128i    xx, vv, dd, ll, nn, ok;
#endif
#endif

    if (len % 2) {
        return -1;
    }

    i = 0;
    bad = 0;

#if (NGX_HAVE_LITTLE_ENDIAN)

    wrong = 0;

#if (__SSE2__)

    /*
     * sixteen digits at a time with SSE2's byte compares (signed: a byte
     * that is not ASCII is below '0'), the same arithmetic as below;
     * nibble pairs into bytes in 16-bit lanes, packed into eight bytes
     */

    ok = _mm_set1_epi8(-1);

    for ( /* void */ ; i + 16 <= len; i += 16) {
        xx = _mm_loadu_si128((__m128i *) (src + i));

        dd = _mm_and_si128(_mm_cmpgt_epi8(xx, _mm_set1_epi8('0' - 1)),
                           _mm_cmplt_epi8(xx, _mm_set1_epi8('9' + 1)));

        vv = _mm_or_si128(xx, _mm_set1_epi8(0x20));
        ll = _mm_and_si128(_mm_cmpgt_epi8(vv, _mm_set1_epi8('a' - 1)),
                           _mm_cmplt_epi8(vv, _mm_set1_epi8('f' + 1)));

        ok = _mm_and_si128(ok, _mm_or_si128(dd, ll));

        nn = _mm_add_epi8(_mm_and_si128(xx, _mm_set1_epi8(0x0f)),
                          _mm_and_si128(ll, _mm_set1_epi8(9)));

        nn = _mm_or_si128(_mm_slli_epi16(nn, 4), _mm_srli_epi16(nn, 8));
        nn = _mm_and_si128(nn, _mm_set1_epi16(0x00ff));

        _mm_storel_epi64((__m128i *) dst, _mm_packus_epi16(nn, nn));
        dst += 8;
    }

    wrong = (uint64_t) (_mm_movemask_epi8(ok) ^ 0xffff);

#endif

    /*
     * eight digits at a time, by arithmetic on the bytes of a word: a byte
     * x below 0x80 lies in [lo, hi] where bit 7 of x + (0x80 - lo) is set
     * and that of x + (0x7f - hi) is not (no carry between bytes); a
     * digit is worth its low nibble, a letter (either case: "| 0x20"
     * makes A-F a-f and nothing else a-f) its low nibble plus 9.  A byte
     * that is neither, or not ASCII, sets a bit of "wrong" (the sums of
     * its word are then meaningless, and so is the output).  No branch
     * per digit, one test at the end (a signature is decoded on every
     * webhook: a quarter of the table's 16 instructions a byte here, a
     * tenth with SSE2).
     */

    for ( /* void */ ; i + 8 <= len; i += 8) {
        ngx_memcpy(&w, src + i, 8);

        digit = (w + 0x5050505050505050ULL) & ~(w + 0x4646464646464646ULL);

        v = w | 0x2020202020202020ULL;
        letter = (v + 0x1f1f1f1f1f1f1f1fULL) & ~(v + 0x1919191919191919ULL);

        wrong |= (w | ~(digit | letter)) & 0x8080808080808080ULL;

        n = (w & 0x0f0f0f0f0f0f0f0fULL)
            + ((letter >> 7) & 0x0101010101010101ULL) * 9;

        /* nibble pairs into bytes: 16-bit lanes, then 32, then 4 bytes */

        n = ((n & 0x000f000f000f000fULL) << 4)
            | ((n >> 8) & 0x000f000f000f000fULL);
        n = (n | (n >> 8)) & 0x0000ffff0000ffffULL;
        o = (uint32_t) (n | (n >> 16));

        ngx_memcpy(dst, &o, 4);
        dst += 4;
    }

    bad = (wrong != 0) << 4;

#endif

    /* the rest by table */

    for ( /* void */ ; i < len; i += 2) {
        h = ngx_http_b24trigger_hex[src[i]];
        l = ngx_http_b24trigger_hex[src[i + 1]];
        bad |= h | l;
        *dst++ = (u_char) ((h << 4) | (l & 0x0f));
    }

    if (bad & 0xf0) {
        return -1;
    }

    return len / 2;
}


ssize_t
ngx_http_b24trigger_base64_decode(u_char *dst, u_char *src, size_t len)
{
    u_char  *d, a, b, c, e;
    size_t   i, pad, n;

    pad = 0;

    while (len > 0 && src[len - 1] == '=' && pad < 2) {
        len--;
        pad++;
    }

    if (pad && (len + pad) % 4) {
        return -1;
    }

    if (len % 4 == 1) {
        return -1;
    }

    for (i = 0; i < len; i++) {
        if (ngx_http_b24trigger_b64[src[i]] == 0xff) {
            return -1;
        }
    }

    d = dst;
    n = len - len % 4;

    for (i = 0; i < n; i += 4) {
        a = ngx_http_b24trigger_b64[src[i]];
        b = ngx_http_b24trigger_b64[src[i + 1]];
        c = ngx_http_b24trigger_b64[src[i + 2]];
        e = ngx_http_b24trigger_b64[src[i + 3]];

        *d++ = (u_char) (a << 2 | b >> 4);
        *d++ = (u_char) (b << 4 | c >> 2);
        *d++ = (u_char) (c << 6 | e);
    }

    switch (len % 4) {

    case 2:
        a = ngx_http_b24trigger_b64[src[i]];
        b = ngx_http_b24trigger_b64[src[i + 1]];

        *d++ = (u_char) (a << 2 | b >> 4);
        break;

    case 3:
        a = ngx_http_b24trigger_b64[src[i]];
        b = ngx_http_b24trigger_b64[src[i + 1]];
        c = ngx_http_b24trigger_b64[src[i + 2]];

        *d++ = (u_char) (a << 2 | b >> 4);
        *d++ = (u_char) (b << 4 | c >> 2);
        break;
    }

    return d - dst;
}


ssize_t
ngx_http_b24trigger_sig_decode(ngx_uint_t encoding, u_char *dst,
    u_char *src, size_t len)
{
    ssize_t  n;
    u_char   buf[ngx_http_b24trigger_base64_size(88)];

    if (encoding == NGX_HTTP_B24TRIGGER_HEX) {

        if (len == 0 || len > 2 * NGX_HTTP_B24TRIGGER_SIG_MAX) {
            return -1;
        }

        return ngx_http_b24trigger_hex_decode(dst, src, len);
    }

    /* base64 of 64 bytes is 88 characters with its padding */

    if (len == 0 || len > 88) {
        return -1;
    }

    n = ngx_http_b24trigger_base64_decode(buf, src, len);
    if (n < 0 || n > NGX_HTTP_B24TRIGGER_SIG_MAX) {
        return -1;
    }

    ngx_memcpy(dst, buf, n);

    return n;
}


ngx_uint_t
ngx_http_b24trigger_sig_items(u_char *p, size_t len, u_char sep)
{
    u_char      *last;
    size_t       i;
    ngx_uint_t   n;

    n = 1;

    if (sep == ' ') {
        for (i = 0; i < len; i++) {
            if (p[i] == ' ' || p[i] == '\t') {
                n++;
            }
        }

        return n;
    }

    last = p + len;

    while ((p = memchr(p, sep, last - p)) != NULL) {
        n++;
        p++;
    }

    return n;
}


ngx_int_t
ngx_http_b24trigger_sig_parse_kv(u_char *p, size_t len, u_char sep,
    ngx_str_t *ts_key, ngx_str_t *sig_key,
    ngx_http_b24trigger_sig_list_t *list)
{
    u_char  *last, *end, *item, *eq, *k, *kl, *v, *vl;

    last = p + len;

    while (p < last) {

        end = memchr(p, sep, last - p);
        if (end == NULL) {
            end = last;
        }

        item = p;
        p = end + 1;

        eq = memchr(item, '=', end - item);
        if (eq == NULL) {
            continue;
        }

        k = item;
        kl = eq;
        ngx_http_b24trigger_sig_trim(&k, &kl);

        v = eq + 1;
        vl = end;
        ngx_http_b24trigger_sig_trim(&v, &vl);

        if ((size_t) (kl - k) == sig_key->len
            && ngx_memcmp(k, sig_key->data, sig_key->len) == 0)
        {
            if (ngx_http_b24trigger_sig_add(list, v, vl) != NGX_OK) {
                return NGX_DECLINED;
            }

            continue;
        }

        if (ts_key != NULL
            && (size_t) (kl - k) == ts_key->len
            && ngx_memcmp(k, ts_key->data, ts_key->len) == 0
            && list->timestamp.data == NULL)
        {
            list->timestamp.data = v;
            list->timestamp.len = vl - v;
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_b24trigger_sig_parse_versioned(u_char *p, size_t len,
    ngx_str_t *version, ngx_http_b24trigger_sig_list_t *list)
{
    u_char  *last, *item, *comma;

    last = p + len;

    while (p < last) {

        if (*p == ' ' || *p == '\t') {
            p++;
            continue;
        }

        item = p;

        while (p < last && *p != ' ' && *p != '\t') {
            p++;
        }

        comma = ngx_strlchr(item, p, ',');
        if (comma == NULL) {
            continue;
        }

        if ((size_t) (comma - item) == version->len
            && ngx_strncmp(item, version->data, version->len) == 0)
        {
            if (ngx_http_b24trigger_sig_add(list, comma + 1, p) != NGX_OK) {
                return NGX_DECLINED;
            }
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_b24trigger_sig_strip_prefix(u_char *p, size_t len,
    ngx_str_t *prefix, ngx_str_t *sig)
{
    u_char  *last;

    last = p + len;
    ngx_http_b24trigger_sig_trim(&p, &last);

    if ((size_t) (last - p) < prefix->len
        || ngx_strncmp(p, prefix->data, prefix->len) != 0)
    {
        return NGX_DECLINED;
    }

    sig->data = p + prefix->len;
    sig->len = last - sig->data;

    return NGX_OK;
}


ngx_int_t
ngx_http_b24trigger_sig_timestamp(u_char *p, size_t len, time_t *t)
{
    u_char  *last;
    time_t   n;

    last = p + len;
    ngx_http_b24trigger_sig_trim(&p, &last);

    if (last == p || last - p > NGX_HTTP_B24TRIGGER_TS_DIGITS) {
        return NGX_DECLINED;
    }

    for (n = 0; p < last; p++) {
        if (*p < '0' || *p > '9') {
            return NGX_DECLINED;
        }

        n = n * 10 + (*p - '0');
    }

    *t = n;

    return NGX_OK;
}


static void
ngx_http_b24trigger_sig_trim(u_char **p, u_char **last)
{
    while (*p < *last && (**p == ' ' || **p == '\t')) {
        (*p)++;
    }

    while (*last > *p && ((*last)[-1] == ' ' || (*last)[-1] == '\t')) {
        (*last)--;
    }
}


static ngx_int_t
ngx_http_b24trigger_sig_add(ngx_http_b24trigger_sig_list_t *list,
    u_char *p, u_char *last)
{
    if (list->nsigs == list->nalloc) {
        return NGX_DECLINED;
    }

    list->sigs[list->nsigs].data = p;
    list->sigs[list->nsigs].len = last - p;
    list->nsigs++;

    return NGX_OK;
}
