
/*
 * Copyright (C) b24trigger authors
 *
 * libFuzzer target for multipart/form-data bodies
 * (src/ngx_http_b24trigger_multipart.c): the input is "CONTENT-TYPE\nBODY".
 * Besides memory errors it checks that at most the allowed parts come
 * out, that every name and value lies inside the body, that a refusal
 * says why and where, and that the parts written again with the same
 * boundary read back the same.
 *
 * FUZZ_SOURCES: src/ngx_http_b24trigger_multipart.c fuzz/ngx_shim.c
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "fuzz.h"
#include "ngx_http_b24trigger_multipart.h"


#define MULTIPART_FUZZ_MAX  50


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                             *nl, *in, *body, *p, *again;
    size_t                              len, n;
    ngx_int_t                           rc;
    ngx_str_t                           type, boundary;
    ngx_uint_t                          i;
    ngx_pool_t                         *pool;
    ngx_array_t                         pairs, pairs2;
    ngx_keyval_t                       *kv, *kv2;
    ngx_http_b24trigger_parse_error_t   err;

    nl = memchr(data, '\n', size);
    if (nl == NULL) {
        return 0;
    }

    in = b24_fuzz_copy(data, size);

    type.data = in;
    type.len = nl - data;
    body = in + type.len + 1;
    len = size - type.len - 1;

    pool = ngx_create_pool(4096, NULL);
    b24_fuzz_assert(pool != NULL);

    if (ngx_http_b24trigger_multipart_boundary(&type, &boundary) != NGX_OK) {
        goto done;
    }

    b24_fuzz_assert(boundary.len >= 1 && boundary.len <= 70);
    b24_fuzz_assert(boundary.data >= type.data
                    && boundary.data + boundary.len <= type.data + type.len);

    b24_fuzz_assert(ngx_array_init(&pairs, pool, 4, sizeof(ngx_keyval_t))
                    == NGX_OK);

    rc = ngx_http_b24trigger_multipart_parse(pool, body, len, &boundary,
                                             MULTIPART_FUZZ_MAX, &pairs, &err);

    b24_fuzz_assert(rc != NGX_ERROR);

    if (rc != NGX_OK) {
        b24_fuzz_assert(err.what != NULL && err.offset <= len);
        b24_fuzz_assert(!err.too_many || pairs.nelts == MULTIPART_FUZZ_MAX);
        goto done;
    }

    b24_fuzz_assert(pairs.nelts <= MULTIPART_FUZZ_MAX);

    kv = pairs.elts;
    n = 4 + boundary.len + 4;

    for (i = 0; i < pairs.nelts; i++) {
        b24_fuzz_assert(kv[i].key.len > 0);
        b24_fuzz_assert(kv[i].key.data >= body
                        && kv[i].key.data + kv[i].key.len <= body + len);
        b24_fuzz_assert(kv[i].value.len == 0
                        || (kv[i].value.data >= body
                            && kv[i].value.data + kv[i].value.len
                               <= body + len));
        b24_fuzz_assert(memchr(kv[i].key.data, '"', kv[i].key.len) == NULL);

        n += boundary.len + kv[i].key.len + kv[i].value.len + 64;
    }

    /* written again, read again: the same parts */

    again = malloc(n);
    b24_fuzz_assert(again != NULL);

    p = again;

    for (i = 0; i < pairs.nelts; i++) {
        p = ngx_cpymem(p, "--", 2);
        p = ngx_cpymem(p, boundary.data, boundary.len);
        p = ngx_cpymem(p, "\r\nContent-Disposition: form-data; name=\"",
                       sizeof("\r\nContent-Disposition: form-data; name=\"")
                       - 1);
        p = ngx_cpymem(p, kv[i].key.data, kv[i].key.len);
        p = ngx_cpymem(p, "\"\r\n\r\n", 5);
        p = ngx_cpymem(p, kv[i].value.data, kv[i].value.len);
        p = ngx_cpymem(p, "\r\n", 2);
    }

    p = ngx_cpymem(p, "--", 2);
    p = ngx_cpymem(p, boundary.data, boundary.len);
    p = ngx_cpymem(p, "--\r\n", 4);

    b24_fuzz_assert((size_t) (p - again) <= n);

    b24_fuzz_assert(ngx_array_init(&pairs2, pool, 4, sizeof(ngx_keyval_t))
                    == NGX_OK);

    rc = ngx_http_b24trigger_multipart_parse(pool, again, p - again,
                                             &boundary, MULTIPART_FUZZ_MAX,
                                             &pairs2, &err);

    if (pairs.nelts > 0) {
        b24_fuzz_assert(rc == NGX_OK);
        b24_fuzz_assert(pairs2.nelts == pairs.nelts);

        kv2 = pairs2.elts;

        for (i = 0; i < pairs.nelts; i++) {
            b24_fuzz_assert(kv2[i].key.len == kv[i].key.len
                            && memcmp(kv2[i].key.data, kv[i].key.data,
                                      kv[i].key.len) == 0);
            b24_fuzz_assert(kv2[i].value.len == kv[i].value.len
                            && (kv[i].value.len == 0
                                || memcmp(kv2[i].value.data,
                                          kv[i].value.data,
                                          kv[i].value.len) == 0));
        }
    }

    free(again);

done:

    ngx_destroy_pool(pool);
    free(in);

    return 0;
}
