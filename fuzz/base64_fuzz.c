
/*
 * Copyright (C) b24trigger authors
 *
 * libFuzzer target: the base64 decoder, standard and URL-safe, padded or
 * not; what decodes is encoded again and must decode to the same bytes
 *
 * FUZZ_SOURCES: src/ngx_http_b24trigger_verify_sig.c
 */


#include "fuzz.h"


static size_t b24_fuzz_encode(u_char *dst, u_char *src, size_t len);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char   *p, *out, *again, *back;
    size_t    len;
    ssize_t   n, m;

    p = b24_fuzz_copy(data, size);
    out = malloc(ngx_http_b24trigger_base64_size(size) + 1);
    b24_fuzz_assert(out != NULL);

    n = ngx_http_b24trigger_base64_decode(out, p, size);
    b24_fuzz_assert(n >= -1
                    && n <= (ssize_t) ngx_http_b24trigger_base64_size(size));

    if (n >= 0) {
        again = malloc((n + 2) / 3 * 4 + 1);
        b24_fuzz_assert(again != NULL);

        len = b24_fuzz_encode(again, out, n);

        back = malloc(ngx_http_b24trigger_base64_size(len) + 1);
        b24_fuzz_assert(back != NULL);

        m = ngx_http_b24trigger_base64_decode(back, again, len);
        b24_fuzz_assert(m == n && memcmp(back, out, n) == 0);

        free(back);
        free(again);
    }

    free(out);
    free(p);

    return 0;
}


static size_t
b24_fuzz_encode(u_char *dst, u_char *src, size_t len)
{
    u_char         *d;
    static u_char   b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                            "abcdefghijklmnopqrstuvwxyz0123456789+/";

    d = dst;

    while (len > 2) {
        *d++ = b64[src[0] >> 2];
        *d++ = b64[((src[0] & 3) << 4) | (src[1] >> 4)];
        *d++ = b64[((src[1] & 15) << 2) | (src[2] >> 6)];
        *d++ = b64[src[2] & 63];

        src += 3;
        len -= 3;
    }

    if (len) {
        *d++ = b64[src[0] >> 2];

        if (len == 1) {
            *d++ = b64[(src[0] & 3) << 4];
            *d++ = '=';

        } else {
            *d++ = b64[((src[0] & 3) << 4) | (src[1] >> 4)];
            *d++ = b64[(src[1] & 15) << 2];
        }

        *d++ = '=';
    }

    return d - dst;
}
