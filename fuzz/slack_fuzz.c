
/*
 * Copyright (C) b24trigger authors
 *
 * libFuzzer target: the X-Slack-Signature header, "v0=<hex>", and its
 * X-Slack-Request-Timestamp
 *
 * FUZZ_SOURCES: src/ngx_http_b24trigger_verify_sig.c
 */


#include "fuzz.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char     *p;
    ngx_str_t   ts;

    b24_fuzz_prefixed(data, size, "v0=", NGX_HTTP_B24TRIGGER_HEX);

    p = b24_fuzz_copy(data, size);
    ts.data = p;
    ts.len = size;
    b24_fuzz_timestamp(&ts);
    free(p);

    return 0;
}
