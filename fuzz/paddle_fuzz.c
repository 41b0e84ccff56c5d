
/*
 * Copyright (C) b24trigger authors
 *
 * libFuzzer target: the Paddle-Signature header, "ts=..;h1=..;h1=.."
 *
 * FUZZ_SOURCES: src/ngx_http_b24trigger_verify_sig.c
 */


#include "fuzz.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    b24_fuzz_list(data, size, ';', "ts", "h1", NULL, NGX_HTTP_B24TRIGGER_HEX);

    return 0;
}
