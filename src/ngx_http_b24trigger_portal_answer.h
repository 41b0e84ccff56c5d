
/*
 * Copyright (C) b24trigger authors
 *
 * An HTTP/1.x answer read as it arrives (ngx_http_b24trigger_portal_answer.c):
 * the status line, the headers the portal client needs, the body by
 * Content-Length, by chunks (decoded in place) or up to the close.  A
 * pure function of bytes: no connection, no pool, no logging, so that
 * fuzz/answer_fuzz.c links it alone.
 */


#ifndef _NGX_HTTP_B24TRIGGER_PORTAL_ANSWER_H_INCLUDED_
#define _NGX_HTTP_B24TRIGGER_PORTAL_ANSWER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* the status line and headers at most */
#define NGX_HTTP_B24TRIGGER_ANSWER_HEADERS  16384


typedef struct {
    size_t                 max;        /* the body at most, set by the
                                          caller */
    ngx_uint_t             status;

    size_t                 body;       /* the body, decoded: buf + body */
    size_t                 body_end;   /* .. buf + body_end */
    size_t                 location;   /* Location's value, or 0 */
    size_t                 location_len;

    const char            *error;      /* NGX_ERROR: why, in libcurl's
                                          words */

    /* private */
    off_t                  length;     /* Content-Length, or -1 */
    off_t                  chunk_left;
    size_t                 scanned;    /* the head's next line starts */
    size_t                 raw;        /* chunks parsed up to */
    ngx_uint_t             state;

    unsigned               headers:1;
    unsigned               chunked:1;
    unsigned               close:1;    /* the connection is not to be
                                          used again */
    unsigned               too_large:1;
    unsigned               invalid:1;  /* a header line is wrong */
} ngx_http_b24trigger_answer_t;


void ngx_http_b24trigger_answer_init(ngx_http_b24trigger_answer_t *a,
    size_t max);

/*
 * buf holds *len bytes received so far, appended to between calls (a 1xx
 * answer is dropped from it, so *len may shrink).  NGX_OK: the answer is
 * whole; NGX_AGAIN: more is needed; NGX_ERROR: a->error says why.
 */
ngx_int_t ngx_http_b24trigger_answer_parse(ngx_http_b24trigger_answer_t *a,
    u_char *buf, size_t *len);

/* the buffer holds len bytes, what is left once the chunk framing is out */
size_t ngx_http_b24trigger_answer_compact(ngx_http_b24trigger_answer_t *a,
    u_char *buf, size_t len);

/* the connection closed: NGX_OK if the answer ends there */
ngx_int_t ngx_http_b24trigger_answer_eof(ngx_http_b24trigger_answer_t *a,
    size_t len);


#endif /* _NGX_HTTP_B24TRIGGER_PORTAL_ANSWER_H_INCLUDED_ */
