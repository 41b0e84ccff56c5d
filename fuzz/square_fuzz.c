
/*
 * Copyright (C) b24trigger authors
 *
 * libFuzzer target: Square's x-square-hmacsha256-signature (base64, no
 * prefix) and its message "<notification URL><body>": the input, cut at
 * an offset its first byte chooses, is the URL and the body; the message
 * must be the two end to end, and nothing else.
 *
 * FUZZ_SOURCES: src/ngx_http_b24trigger_verify_message.c
 * FUZZ_SOURCES: src/ngx_http_b24trigger_verify_sig.c fuzz/ngx_shim.c
 * FUZZ_LIBS: -ljansson
 */


#include "fuzz.h"
#include "ngx_http_b24trigger_verify_message.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char      *p;
    size_t       cut;
    ngx_int_t    rc;
    ngx_str_t    none, url, body, msg;
    ngx_pool_t  *pool;

    b24_fuzz_prefixed(data, size, "", NGX_HTTP_B24TRIGGER_BASE64);

    if (size < 1) {
        return 0;
    }

    cut = data[0] % size;
    p = b24_fuzz_copy(data + 1, size - 1);
    size--;

    ngx_str_null(&none);
    url.data = p;
    url.len = cut;
    body.data = p + cut;
    body.len = size - cut;

    pool = ngx_create_pool(1024, NULL);
    b24_fuzz_assert(pool != NULL);

    rc = ngx_http_b24trigger_message_url(pool, &none, &url, &body, &none,
                                         &msg);
    b24_fuzz_assert(rc == NGX_OK);
    b24_fuzz_assert(msg.len == size);
    b24_fuzz_assert(size == 0 || memcmp(msg.data, p, size) == 0);

    ngx_destroy_pool(pool);
    free(p);

    return 0;
}
