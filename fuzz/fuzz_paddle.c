
/*
 * Copyright (C) b24trigger authors
 *
 * libFuzzer target: the Paddle-Signature header, "ts=..;h1=..;h1=.."
 */


#include "fuzz.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    b24_fuzz_list(data, size, ';', "ts", "h1", NULL, NGX_HTTP_B24TRIGGER_HEX);

    return 0;
}
