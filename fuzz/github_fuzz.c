
/*
 * Copyright (C) b24trigger authors
 *
 * libFuzzer target: the X-Hub-Signature-256 header of GitHub, "sha256=<hex>"
 *
 * FUZZ_SOURCES: src/ngx_http_b24trigger_verify_sig.c
 */


#include "fuzz.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    b24_fuzz_prefixed(data, size, "sha256=", NGX_HTTP_B24TRIGGER_HEX);

    return 0;
}
