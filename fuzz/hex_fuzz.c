
/*
 * Copyright (C) b24trigger authors
 *
 * libFuzzer target: the hex decoder, against a digit-at-a-time decoder
 * written here (the module's decodes eight digits at a time): the same
 * verdict, and the same bytes for every input it accepts
 *
 * FUZZ_SOURCES: src/ngx_http_b24trigger_verify_sig.c
 */


#include "fuzz.h"


static ssize_t
hex_fuzz_reference(u_char *dst, const u_char *src, size_t len)
{
    int     d[2];
    u_char  c;
    size_t  i, k;

    if (len % 2) {
        return -1;
    }

    for (i = 0; i < len; i += 2) {
        for (k = 0; k < 2; k++) {
            c = src[i + k];

            if (c >= '0' && c <= '9') {
                d[k] = c - '0';

            } else if (c >= 'a' && c <= 'f') {
                d[k] = c - 'a' + 10;

            } else if (c >= 'A' && c <= 'F') {
                d[k] = c - 'A' + 10;

            } else {
                return -1;
            }
        }

        dst[i / 2] = (u_char) (d[0] << 4 | d[1]);
    }

    return len / 2;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char   *p, *out, *ref;
    ssize_t   n, m;

    p = b24_fuzz_copy(data, size);
    out = malloc(size / 2 + 1);
    ref = malloc(size / 2 + 1);
    b24_fuzz_assert(out != NULL && ref != NULL);

    n = ngx_http_b24trigger_hex_decode(out, p, size);
    b24_fuzz_assert(n == -1 || (size_t) n == size / 2);
    b24_fuzz_assert(n == -1 || size % 2 == 0);

    m = hex_fuzz_reference(ref, p, size);
    b24_fuzz_assert(n == m);
    b24_fuzz_assert(n == -1 || memcmp(out, ref, n) == 0);

    free(ref);
    free(out);
    free(p);

    return 0;
}
