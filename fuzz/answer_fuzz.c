
/*
 * Copyright (C) b24trigger authors
 *
 * libFuzzer target for the portal's HTTP answers
 * (src/ngx_http_b24trigger_portal_answer.c).  The first input byte says where
 * the rest is cut in two, the rest is what the portal sent.  Besides
 * memory errors it checks that reading the answer in two parts gives
 * what reading it at once does (the outcome, the status, the body and
 * Location), and so does reading it a byte at a time (the head is read a
 * line at a time as it arrives), that the body stays inside the bytes
 * received and under its limit, and that an answer framed by
 * Content-Length is the bytes that follow the headers.
 *
 * FUZZ_SOURCES: src/ngx_http_b24trigger_portal_answer.c
 */


#include <stdlib.h>
#include <string.h>

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_b24trigger_portal_answer.h"


#define b24_fuzz_assert(c)  if (!(c)) { abort(); }

#define ANSWER_FUZZ_MAX  512


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static ngx_int_t answer_fuzz_read(const uint8_t *data, size_t size,
    size_t cut, size_t step, ngx_http_b24trigger_answer_t *a, u_char **buf,
    size_t *len);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                        *one, *two, *three;
    size_t                         cut, len1, len2, len3;
    ngx_int_t                      rc1, rc2, rc3;
    ngx_http_b24trigger_answer_t   a1, a2, a3;

    if (size < 2) {
        return 0;
    }

    cut = data[0] % size;
    data++;
    size--;

    if (cut > size) {
        cut = size;
    }

    rc1 = answer_fuzz_read(data, size, size, 0, &a1, &one, &len1);
    rc2 = answer_fuzz_read(data, size, cut, 0, &a2, &two, &len2);
    rc3 = answer_fuzz_read(data, size, 0, 1, &a3, &three, &len3);

    /* the outcome does not depend on how the bytes came */

    b24_fuzz_assert(rc1 == rc2);
    b24_fuzz_assert(rc1 == rc3);

    if (rc1 == NGX_OK) {
        b24_fuzz_assert(a1.status == a3.status);
        b24_fuzz_assert(a1.body_end - a1.body == a3.body_end - a3.body);
        b24_fuzz_assert(memcmp(one + a1.body, three + a3.body,
                               a1.body_end - a1.body) == 0);
        b24_fuzz_assert(a1.location_len == a3.location_len);
        b24_fuzz_assert(memcmp(one + a1.location, three + a3.location,
                               a1.location_len) == 0);
    }

    if (rc1 == NGX_ERROR) {
        b24_fuzz_assert(a3.error != NULL
                        && strcmp(a1.error, a3.error) == 0);
        b24_fuzz_assert(a1.too_large == a3.too_large);
    }

    if (rc1 == NGX_OK) {
        b24_fuzz_assert(a1.status == a2.status);
        b24_fuzz_assert(a1.status >= 200 && a1.status <= 999);

        b24_fuzz_assert(a1.body <= a1.body_end && a1.body_end <= len1);
        b24_fuzz_assert(a1.body_end - a1.body <= ANSWER_FUZZ_MAX);

        b24_fuzz_assert(a1.body_end - a1.body == a2.body_end - a2.body);
        b24_fuzz_assert(memcmp(one + a1.body, two + a2.body,
                               a1.body_end - a1.body) == 0);

        b24_fuzz_assert(a1.location_len == a2.location_len);
        b24_fuzz_assert(memcmp(one + a1.location, two + a2.location,
                               a1.location_len) == 0);

        if (!a1.chunked && a1.length >= 0) {
            /* by Content-Length: the very bytes after the headers */
            b24_fuzz_assert((off_t) (a1.body_end - a1.body) == a1.length);
        }
    }

    if (rc1 == NGX_ERROR) {
        b24_fuzz_assert(a1.error != NULL && a2.error != NULL);
        b24_fuzz_assert(a1.too_large == a2.too_large);
    }

    free(one);
    free(two);
    free(three);

    return 0;
}


/*
 * the bytes in two reads, cut apart, or "step" bytes a read, into a
 * buffer as large as them all; at the end, the connection closes if the
 * answer is not whole yet
 */

static ngx_int_t
answer_fuzz_read(const uint8_t *data, size_t size, size_t cut,
    size_t step, ngx_http_b24trigger_answer_t *a, u_char **buf,
    size_t *len)
{
    size_t     n, have, fed;
    ngx_int_t  rc;

    *buf = malloc(size ? size : 1);
    b24_fuzz_assert(*buf != NULL);

    ngx_http_b24trigger_answer_init(a, ANSWER_FUZZ_MAX);

    *len = 0;
    fed = 0;
    rc = NGX_AGAIN;

    for (n = 0; (step ? fed < size : n < 2) && rc == NGX_AGAIN; n++) {
        have = step ? ngx_min(fed + step, size) : (n == 0) ? cut : size;

        if (have <= fed) {
            continue;
        }

        /* the chunk framing out, as the client does when it is full */

        if (n > 0) {
            *len = ngx_http_b24trigger_answer_compact(a, *buf, *len);
        }

        /* what arrived since, after what the parser kept */

        memcpy(*buf + *len, data + fed, have - fed);
        *len += have - fed;
        fed = have;

        rc = ngx_http_b24trigger_answer_parse(a, *buf, len);

        b24_fuzz_assert(*len <= fed);
        b24_fuzz_assert(rc != NGX_ERROR || a->error != NULL);
    }

    if (rc == NGX_AGAIN) {
        rc = ngx_http_b24trigger_answer_eof(a, *len);
    }

    return rc;
}
