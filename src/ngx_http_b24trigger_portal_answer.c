
/*
 * Copyright (C) b24trigger authors
 *
 * An HTTP/1.x answer, parsed as its bytes arrive: "HTTP/1.x NNN", the
 * headers that frame the body (Content-Length, Transfer-Encoding,
 * Connection) and Location, then the body, with chunks decoded in place.
 * 1xx answers are dropped.  Strict where framing is at stake (a second
 * Content-Length, a coding other than chunked, a bad chunk size), lenient
 * about the rest (bare LF line ends, unknown headers).  Knows nothing
 * about connections, Bitrix24 or JSON.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_b24trigger_portal_answer.h"


#define NGX_HTTP_B24TRIGGER_CHUNK_SIZE     0
#define NGX_HTTP_B24TRIGGER_CHUNK_DATA     1
#define NGX_HTTP_B24TRIGGER_CHUNK_CRLF     2
#define NGX_HTTP_B24TRIGGER_CHUNK_TRAILER  3


static ngx_int_t ngx_http_b24trigger_answer_status(
    ngx_http_b24trigger_answer_t *a, u_char *buf, u_char *last);
static void ngx_http_b24trigger_answer_header(
    ngx_http_b24trigger_answer_t *a, u_char *buf, u_char *p, u_char *eol);
static ngx_int_t ngx_http_b24trigger_answer_chunks(
    ngx_http_b24trigger_answer_t *a, u_char *buf, size_t len);
static ngx_uint_t ngx_http_b24trigger_answer_is(u_char *p, size_t len,
    const char *name);
static ngx_uint_t ngx_http_b24trigger_answer_has(u_char *p, u_char *last,
    const char *word);


void
ngx_http_b24trigger_answer_init(ngx_http_b24trigger_answer_t *a, size_t max)
{
    ngx_memzero(a, sizeof(ngx_http_b24trigger_answer_t));

    a->max = max;
    a->length = -1;
}


ngx_int_t
ngx_http_b24trigger_answer_parse(ngx_http_b24trigger_answer_t *a,
    u_char *buf, size_t *len)
{
    u_char  *p, *last, *eol, *end;
    size_t   have;

    while (!a->headers) {

        /*
         * The head a line at a time, as it arrives, each line looked at
         * once (scanned is where the next one starts): the headers after
         * the status line, up to the empty line (CRLF or LF) that ends
         * them.  The status line is read once the head is whole, and so
         * is the verdict on a wrong header line: what is said, and of
         * which status, is what reading the whole head at the end said
         * (a head too large first, the status line next, a 1xx's headers
         * never).
         */

        last = buf + *len;
        end = NULL;

        for (p = buf + a->scanned; p < last; p = eol + 1) {

            eol = memchr(p, LF, last - p);

            if (eol == NULL) {
                break;
            }

            if (p == buf) {
                continue;
            }

            if (eol == p || (eol == p + 1 && *p == CR)) {
                end = eol + 1;
                break;
            }

            if (!a->invalid) {
                ngx_http_b24trigger_answer_header(a, buf, p, eol);
            }
        }

        if (end == NULL) {
            a->scanned = p - buf;

            if (*len > NGX_HTTP_B24TRIGGER_ANSWER_HEADERS) {
                a->error = "header too large";
                return NGX_ERROR;
            }

            return NGX_AGAIN;
        }

        if (end - buf > NGX_HTTP_B24TRIGGER_ANSWER_HEADERS) {
            a->error = "header too large";
            return NGX_ERROR;
        }

        switch (ngx_http_b24trigger_answer_status(a, buf, end)) {

        case NGX_ERROR:
            a->error = "Invalid response header";
            return NGX_ERROR;

        case NGX_AGAIN:

            /* 1xx: the answer follows */

            ngx_memmove(buf, end, last - end);
            *len = last - end;

            ngx_http_b24trigger_answer_init(a, a->max);
            continue;

        default:
            break;
        }

        if (a->invalid) {
            a->error = "Invalid response header";
            return NGX_ERROR;
        }

        if (a->chunked) {
            /* Content-Length is ignored, RFC 9112 6.3 */
            a->length = -1;
        }

        a->headers = 1;
        a->body = end - buf;
        a->body_end = a->body;
        a->raw = a->body;

        if (a->status == 204 || a->status == 304) {
            a->length = 0;
            a->chunked = 0;
        }
    }

    if (a->chunked) {
        return ngx_http_b24trigger_answer_chunks(a, buf, *len);
    }

    have = *len - a->body;

    if (a->length == -1) {

        /* up to the close */

        a->close = 1;
        a->body_end = *len;

        if (have > a->max) {
            a->too_large = 1;
            a->error = "answer too large";
            return NGX_ERROR;
        }

        return NGX_AGAIN;
    }

    if (a->length > (off_t) a->max) {
        a->too_large = 1;
        a->error = "answer too large";
        return NGX_ERROR;
    }

    if ((off_t) have < a->length) {
        return NGX_AGAIN;
    }

    if ((off_t) have > a->length) {
        /* more than the answer: the connection is not trusted again */
        a->close = 1;
    }

    a->body_end = a->body + (size_t) a->length;

    return NGX_OK;
}


ngx_int_t
ngx_http_b24trigger_answer_eof(ngx_http_b24trigger_answer_t *a, size_t len)
{
    if (a->headers && a->length == -1 && !a->chunked) {
        a->body_end = len;
        a->close = 1;
        return NGX_OK;
    }

    a->error = "transfer closed with outstanding read data remaining";

    return NGX_ERROR;
}


/*
 * Chunked: the framing parsed so far lies between the decoded body and
 * the raw rest; moving the rest down frees that room, so that framing does
 * not count against the room of a buffer.  Returns the new length.
 */

size_t
ngx_http_b24trigger_answer_compact(ngx_http_b24trigger_answer_t *a,
    u_char *buf, size_t len)
{
    size_t  gap;

    if (!a->headers || !a->chunked || a->raw <= a->body_end) {
        return len;
    }

    gap = a->raw - a->body_end;

    ngx_memmove(buf + a->body_end, buf + a->raw, len - a->raw);
    a->raw = a->body_end;

    return len - gap;
}


/*
 * the status line of the head buf .. last; NGX_AGAIN for a 1xx.  A
 * status line shorter than "HTTP/1.1 200" fails on the byte its line
 * ends with, with the digits read until then in a->status.
 */

static ngx_int_t
ngx_http_b24trigger_answer_status(ngx_http_b24trigger_answer_t *a,
    u_char *buf, u_char *last)
{
    u_char      *p;
    ngx_uint_t   i;

    p = buf;

    if (last - p < 13
        || ngx_memcmp(p, "HTTP/1.", 7) != 0
        || (p[7] != '0' && p[7] != '1')
        || p[8] != ' ')
    {
        return NGX_ERROR;
    }

    a->status = 0;

    for (i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return NGX_ERROR;
        }

        a->status = a->status * 10 + (p[i] - '0');
    }

    if (a->status < 100
        || (p[12] != ' ' && p[12] != CR && p[12] != LF))
    {
        return NGX_ERROR;
    }

    if (a->status < 200) {
        return NGX_AGAIN;
    }

    /* "Connection: close" of a header may have said so already */

    if (p[7] == '0') {
        a->close = 1;
    }

    return NGX_OK;
}


/*
 * A header line, p .. eol (its LF), of a head read so far: what frames
 * the body, and Location; a line that is wrong marks the head invalid
 * (said once the head is whole)
 */

static void
ngx_http_b24trigger_answer_header(ngx_http_b24trigger_answer_t *a,
    u_char *buf, u_char *p, u_char *eol)
{
    u_char  *colon, *v, *ve;
    off_t    n;

    colon = memchr(p, ':', eol - p);
    if (colon == NULL || colon == p) {
        a->invalid = 1;
        return;
    }

    v = colon + 1;
    ve = eol;

    while (v < ve && (*v == ' ' || *v == '\t')) {
        v++;
    }

    while (ve > v && (ve[-1] == CR || ve[-1] == ' ' || ve[-1] == '\t')) {
        ve--;
    }

    if (ngx_http_b24trigger_answer_is(p, colon - p, "content-length")) {

        if (a->length != -1 || v == ve) {
            a->invalid = 1;
            return;
        }

        for (n = 0; v < ve; v++) {
            if (*v < '0' || *v > '9' || n > (NGX_MAX_OFF_T_VALUE - 9) / 10) {
                a->invalid = 1;
                return;
            }

            n = n * 10 + (*v - '0');
        }

        a->length = n;

    } else if (ngx_http_b24trigger_answer_is(p, colon - p,
                                             "transfer-encoding"))
    {
        if (a->chunked
            || !ngx_http_b24trigger_answer_is(v, ve - v, "chunked"))
        {
            a->invalid = 1;
            return;
        }

        a->chunked = 1;

    } else if (ngx_http_b24trigger_answer_is(p, colon - p, "connection")) {
        if (ngx_http_b24trigger_answer_has(v, ve, "close")) {
            a->close = 1;
        }

    } else if (ngx_http_b24trigger_answer_is(p, colon - p, "location")) {
        a->location = v - buf;
        a->location_len = ve - v;
    }
}


/* decodes the chunks in place, to body .. body_end, as they come */

static ngx_int_t
ngx_http_b24trigger_answer_chunks(ngx_http_b24trigger_answer_t *a,
    u_char *buf, size_t len)
{
    u_char  *p, *last, *eol;
    off_t    size;
    size_t   n;

    last = buf + len;

    for ( ;; ) {
        p = buf + a->raw;

        switch (a->state) {

        case NGX_HTTP_B24TRIGGER_CHUNK_SIZE:

            /* a size line of 256 bytes at most, however it arrives */

            eol = ngx_strlchr(p, last, LF);

            if ((eol ? eol : last) - p > 256) {
                goto invalid;
            }

            if (eol == NULL) {
                return NGX_AGAIN;
            }

            /* 8 hex digits at most: the body is far smaller anyway */

            size = 0;
            n = 0;

            while (p < eol && n < 9) {
                if (*p >= '0' && *p <= '9') {
                    size = size * 16 + (*p - '0');

                } else if ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'f') {
                    size = size * 16 + ((*p | 0x20) - 'a' + 10);

                } else {
                    break;
                }

                p++;
                n++;
            }

            if (n == 0 || n == 9
                || (p < eol && *p != ';' && *p != CR && *p != ' '
                    && *p != '\t'))
            {
                goto invalid;
            }

            a->raw = eol + 1 - buf;

            if (size == 0) {
                a->state = NGX_HTTP_B24TRIGGER_CHUNK_TRAILER;
                break;
            }

            if (size > (off_t) a->max
                || (off_t) (a->body_end - a->body) + size > (off_t) a->max)
            {
                a->too_large = 1;
                a->error = "answer too large";
                return NGX_ERROR;
            }

            a->chunk_left = size;
            a->state = NGX_HTTP_B24TRIGGER_CHUNK_DATA;
            break;

        case NGX_HTTP_B24TRIGGER_CHUNK_DATA:

            n = (size_t) ngx_min((off_t) (last - p), a->chunk_left);

            if (n == 0) {
                return NGX_AGAIN;
            }

            ngx_memmove(buf + a->body_end, p, n);
            a->body_end += n;
            a->raw += n;
            a->chunk_left -= n;

            if (a->chunk_left == 0) {
                a->state = NGX_HTTP_B24TRIGGER_CHUNK_CRLF;
            }

            break;

        case NGX_HTTP_B24TRIGGER_CHUNK_CRLF:

            if (p < last && *p == LF) {
                a->raw += 1;
                a->state = NGX_HTTP_B24TRIGGER_CHUNK_SIZE;
                break;
            }

            if (last - p < 2) {
                return NGX_AGAIN;
            }

            if (p[0] != CR || p[1] != LF) {
                goto invalid;
            }

            a->raw += 2;
            a->state = NGX_HTTP_B24TRIGGER_CHUNK_SIZE;
            break;

        default: /* NGX_HTTP_B24TRIGGER_CHUNK_TRAILER */

            eol = ngx_strlchr(p, last, LF);

            if ((eol ? eol : last) - p > 4096) {
                goto invalid;
            }

            if (eol == NULL) {
                return NGX_AGAIN;
            }

            a->raw = eol + 1 - buf;

            if (eol == p || (eol == p + 1 && *p == CR)) {

                if (a->raw < len) {
                    a->close = 1;
                }

                return NGX_OK;
            }

            break;
        }
    }

invalid:

    a->error = "invalid chunked encoding";

    return NGX_ERROR;
}


/* p .. p + len is name, in any case */

static ngx_uint_t
ngx_http_b24trigger_answer_is(u_char *p, size_t len, const char *name)
{
    size_t  i;

    /* most names differ in length: "Content-Type" is not content-length */

    if (ngx_strlen(name) != len) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (ngx_tolower(p[i]) != (u_char) name[i]) {
            return 0;
        }
    }

    return 1;
}


/* word, in any case, among the comma-separated tokens of p .. last */

static ngx_uint_t
ngx_http_b24trigger_answer_has(u_char *p, u_char *last, const char *word)
{
    u_char  *start, *end;

    while (p < last) {
        while (p < last && (*p == ',' || *p == ' ' || *p == '\t')) {
            p++;
        }

        start = p;

        while (p < last && *p != ',') {
            p++;
        }

        end = p;

        while (end > start && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }

        if (ngx_http_b24trigger_answer_is(start, end - start, word)) {
            return 1;
        }
    }

    return 0;
}
