
/*
 * Copyright (C) b24trigger authors
 *
 * libFuzzer target: the hex decoder
 *
 * FUZZ_SOURCES: src/ngx_http_b24trigger_verify_sig.c
 */


#include "fuzz.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char   *p, *out;
    ssize_t   n;

    p = b24_fuzz_copy(data, size);
    out = malloc(size / 2 + 1);
    b24_fuzz_assert(out != NULL);

    n = ngx_http_b24trigger_hex_decode(out, p, size);
    b24_fuzz_assert(n == -1 || (size_t) n == size / 2);
    b24_fuzz_assert(n == -1 || size % 2 == 0);

    free(out);
    free(p);

    return 0;
}
