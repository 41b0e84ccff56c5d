
/*
 * Copyright (C) b24trigger authors
 *
 * multipart/form-data bodies (RFC 7578, RFC 2046 section 5.1): the
 * boundary of the Content-Type, and the parts as name/value pairs that
 * b24trigger_field looks up as it looks up a form's.  One pass; finding
 * a delimiter costs at most its length (72 bytes) per byte of the body;
 * the parts, their header bytes and lines are bounded, and anything
 * malformed is refused, never guessed: a part without a name, two
 * Content-Disposition headers, a folded header line, an encoded part, a
 * body that ends before its closing delimiter.  Pure: bytes and a pool.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_b24trigger_multipart.h"


static u_char *ngx_http_b24trigger_multipart_find(u_char *p, u_char *last,
    u_char *needle, size_t n);
static ngx_int_t ngx_http_b24trigger_multipart_headers(u_char *p,
    u_char *last, ngx_str_t *name, const char **what);
static ngx_int_t ngx_http_b24trigger_multipart_disposition(u_char *p,
    u_char *last, ngx_str_t *name, const char **what);
static ngx_uint_t ngx_http_b24trigger_multipart_is(u_char *p, size_t len,
    char *word);


ngx_int_t
ngx_http_b24trigger_multipart_boundary(ngx_str_t *type, ngx_str_t *boundary)
{
    u_char  *p, *last, *start, *q;

    p = type->data;
    last = p + type->len;

    /* "multipart/form-data" then parameters; a quoted ';' is skipped */

    for ( ;; ) {
        while (p < last && *p != ';') {
            if (*p == '"') {
                q = ngx_strlchr(p + 1, last, '"');
                if (q == NULL) {
                    return NGX_DECLINED;
                }

                p = q;
            }

            p++;
        }

        if (p == last) {
            return NGX_DECLINED;
        }

        p++;

        while (p < last && (*p == ' ' || *p == '\t')) {
            p++;
        }

        if (last - p < 9
            || !ngx_http_b24trigger_multipart_is(p, 9, "boundary="))
        {
            continue;
        }

        p += 9;

        if (p < last && *p == '"') {
            start = ++p;
            p = ngx_strlchr(p, last, '"');
            if (p == NULL) {
                return NGX_DECLINED;
            }

        } else {
            start = p;

            while (p < last && *p != ';' && *p != ' ' && *p != '\t') {
                p++;
            }
        }

        boundary->data = start;
        boundary->len = p - start;

        if (boundary->len == 0 || boundary->len > 70) {
            return NGX_DECLINED;
        }

        for (q = start; q < p; q++) {
            if (*q == '\r' || *q == '\n' || *q == '"' || *q == '\0') {
                return NGX_DECLINED;
            }
        }

        return NGX_OK;
    }
}


ngx_int_t
ngx_http_b24trigger_multipart_parse(ngx_pool_t *pool, u_char *data,
    size_t len, ngx_str_t *boundary, ngx_uint_t max, ngx_array_t *pairs,
    ngx_http_b24trigger_parse_error_t *error)
{
    u_char        *p, *last, *q, *hend, *delim, *limit;
    size_t         dlen;
    ngx_str_t      name;
    ngx_keyval_t  *kv;

    error->what = NULL;
    error->offset = 0;
    error->too_many = 0;

    p = data;
    last = data + len;

    /* "\r\n--BOUNDARY": the delimiter ends each part's content */

    dlen = 4 + boundary->len;

    delim = ngx_pnalloc(pool, dlen);
    if (delim == NULL) {
        return NGX_ERROR;
    }

    delim[0] = '\r';
    delim[1] = '\n';
    delim[2] = '-';
    delim[3] = '-';
    ngx_memcpy(delim + 4, boundary->data, boundary->len);

    /* the first delimiter: at the very start, or after a preamble */

    if ((size_t) (last - p) >= dlen - 2
        && ngx_memcmp(p, delim + 2, dlen - 2) == 0)
    {
        p += dlen - 2;

    } else {
        q = ngx_http_b24trigger_multipart_find(p, last, delim, dlen);
        if (q == NULL) {
            error->what = "no boundary";
            return NGX_DECLINED;
        }

        p = q + dlen;
    }

    for ( ;; ) {

        /* after a delimiter: "--" closes, else blanks and CRLF */

        if (last - p >= 2 && p[0] == '-' && p[1] == '-') {
            return NGX_OK;
        }

        while (p < last && (*p == ' ' || *p == '\t')) {
            p++;
        }

        if (last - p < 2 || p[0] != '\r' || p[1] != '\n') {
            error->what = "a boundary line not ended by CRLF";
            error->offset = p - data;
            return NGX_DECLINED;
        }

        p += 2;

        if (pairs->nelts == max) {
            error->what = "too many parts";
            error->offset = p - data;
            error->too_many = 1;
            return NGX_DECLINED;
        }

        /* the headers, up to an empty line, bounded */

        limit = (size_t) (last - p) > NGX_HTTP_B24TRIGGER_PART_HEADERS_MAX + 4
                ? p + NGX_HTTP_B24TRIGGER_PART_HEADERS_MAX + 4 : last;

        hend = NULL;

        if (last - p >= 2 && p[0] == '\r' && p[1] == '\n') {
            error->what = "a part without headers";
            error->offset = p - data;
            return NGX_DECLINED;
        }

        for (q = p; q + 3 < limit; q++) {
            if (q[0] == '\r' && q[1] == '\n' && q[2] == '\r' && q[3] == '\n')
            {
                hend = q;
                break;
            }
        }

        if (hend == NULL) {
            error->what = (limit == last) ? "part headers not ended"
                                          : "part headers too large";
            error->offset = p - data;
            return NGX_DECLINED;
        }

        if (ngx_http_b24trigger_multipart_headers(p, hend + 2, &name,
                                                  &error->what)
            != NGX_OK)
        {
            error->offset = p - data;
            return NGX_DECLINED;
        }

        p = hend + 4;

        /* the content, up to the next delimiter */

        q = ngx_http_b24trigger_multipart_find(p - 2, last, delim, dlen);

        if (q == NULL) {
            error->what = "no closing boundary";
            error->offset = p - data;
            return NGX_DECLINED;
        }

        kv = ngx_array_push(pairs);
        if (kv == NULL) {
            return NGX_ERROR;
        }

        kv->key = name;
        kv->value.data = p;
        kv->value.len = (q > p) ? (size_t) (q - p) : 0;

        p = q + dlen;
    }
}


/*
 * The first needle in [p, last), or NULL.  p may be the CRLF that ends
 * the headers, so that a part with empty content is found at once.
 */

static u_char *
ngx_http_b24trigger_multipart_find(u_char *p, u_char *last, u_char *needle,
    size_t n)
{
    while ((size_t) (last - p) >= n) {
        p = memchr(p, '\r', last - p - n + 1);
        if (p == NULL) {
            return NULL;
        }

        if (ngx_memcmp(p, needle, n) == 0) {
            return p;
        }

        p++;
    }

    return NULL;
}


/*
 * Header lines "Name: value" CRLF, from p to last (after the last CRLF):
 * one Content-Disposition, form-data with a name; a
 * Content-Transfer-Encoding only 7bit, 8bit or binary; others ignored
 */

static ngx_int_t
ngx_http_b24trigger_multipart_headers(u_char *p, u_char *last,
    ngx_str_t *name, const char **what)
{
    u_char      *eol, *colon, *v, *e;
    ngx_uint_t   lines, disposition;

    lines = 0;
    disposition = 0;

    /* obsolete line folding, anywhere: refused before anything is read */

    for (v = p; v + 2 < last; v++) {
        if (v[0] == '\r' && v[1] == '\n' && (v[2] == ' ' || v[2] == '\t')) {
            *what = "a folded part header line";
            return NGX_DECLINED;
        }
    }

    while (p < last) {

        if (++lines > NGX_HTTP_B24TRIGGER_PART_LINES_MAX) {
            *what = "too many part header lines";
            return NGX_DECLINED;
        }

        eol = ngx_strlchr(p, last, '\r');

        if (eol == NULL || eol + 1 >= last || eol[1] != '\n') {
            *what = "a part header line not ended by CRLF";
            return NGX_DECLINED;
        }

        if (*p == ' ' || *p == '\t') {
            *what = "a folded part header line";
            return NGX_DECLINED;
        }

        colon = ngx_strlchr(p, eol, ':');
        if (colon == NULL || colon == p) {
            *what = "a part header line without a name";
            return NGX_DECLINED;
        }

        for (v = p; v < eol; v++) {
            if (*v == '\n' || *v == '\0') {
                *what = "a control character in a part header";
                return NGX_DECLINED;
            }
        }

        v = colon + 1;

        while (v < eol && (*v == ' ' || *v == '\t')) {
            v++;
        }

        e = eol;

        while (e > v && (e[-1] == ' ' || e[-1] == '\t')) {
            e--;
        }

        if (ngx_http_b24trigger_multipart_is(p, colon - p,
                                             "content-disposition"))
        {
            if (disposition++) {
                *what = "two Content-Disposition headers in a part";
                return NGX_DECLINED;
            }

            if (ngx_http_b24trigger_multipart_disposition(v, e, name, what)
                != NGX_OK)
            {
                return NGX_DECLINED;
            }

        } else if (ngx_http_b24trigger_multipart_is(p, colon - p,
                                               "content-transfer-encoding"))
        {
            if (!ngx_http_b24trigger_multipart_is(v, e - v, "7bit")
                && !ngx_http_b24trigger_multipart_is(v, e - v, "8bit")
                && !ngx_http_b24trigger_multipart_is(v, e - v, "binary"))
            {
                *what = "an encoded part";
                return NGX_DECLINED;
            }
        }

        p = eol + 2;
    }

    if (!disposition) {
        *what = "a part without a name";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * "form-data; name=\"deal\"; filename=\"a.txt\"": the name, quoted (taken
 * as it is between the quotes, as browsers write it) or a token; once
 */

static ngx_int_t
ngx_http_b24trigger_multipart_disposition(u_char *p, u_char *last,
    ngx_str_t *name, const char **what)
{
    u_char      *k, *kend, *start;
    ngx_uint_t   found;

    if (last - p < 9 || !ngx_http_b24trigger_multipart_is(p, 9, "form-data")) {
        *what = "a part that is not form-data";
        return NGX_DECLINED;
    }

    p += 9;
    found = 0;

    for ( ;; ) {

        while (p < last && (*p == ' ' || *p == '\t')) {
            p++;
        }

        if (p == last) {
            break;
        }

        if (*p++ != ';') {
            *what = "a malformed Content-Disposition";
            return NGX_DECLINED;
        }

        while (p < last && (*p == ' ' || *p == '\t')) {
            p++;
        }

        k = p;

        while (p < last && *p != '=' && *p != ';' && *p != ' '
               && *p != '\t' && *p != '"')
        {
            p++;
        }

        kend = p;

        if (p == last || *p != '=' || kend == k) {
            *what = "a malformed Content-Disposition";
            return NGX_DECLINED;
        }

        p++;

        if (p < last && *p == '"') {
            start = ++p;
            p = ngx_strlchr(p, last, '"');

            if (p == NULL) {
                *what = "a malformed Content-Disposition";
                return NGX_DECLINED;
            }

            if (ngx_http_b24trigger_multipart_is(k, kend - k, "name")) {
                if (found++) {
                    *what = "a part named twice";
                    return NGX_DECLINED;
                }

                name->data = start;
                name->len = p - start;
            }

            p++;
            continue;
        }

        start = p;

        while (p < last && *p != ';' && *p != ' ' && *p != '\t'
               && *p != '"')
        {
            p++;
        }

        if (ngx_http_b24trigger_multipart_is(k, kend - k, "name")) {
            if (found++) {
                *what = "a part named twice";
                return NGX_DECLINED;
            }

            name->data = start;
            name->len = p - start;
        }
    }

    if (!found || name->len == 0) {
        *what = "a part without a name";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* len bytes at p are the word, without regard to ASCII case */

static ngx_uint_t
ngx_http_b24trigger_multipart_is(u_char *p, size_t len, char *word)
{
    size_t   i;
    u_char   c;

    for (i = 0; i < len; i++) {
        if (word[i] == '\0') {
            return 0;
        }

        c = p[i];

        if (c >= 'A' && c <= 'Z') {
            c |= 0x20;
        }

        if (c != (u_char) word[i]) {
            return 0;
        }
    }

    return word[len] == '\0';
}
