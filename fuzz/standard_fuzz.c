
/*
 * Copyright (C) b24trigger authors
 *
 * libFuzzer target: the webhook-signature / svix-signature header of
 * Standard Webhooks, "v1,<b64> v1,<b64> v1a,<b64>"
 *
 * FUZZ_SOURCES: src/ngx_http_b24trigger_verify_sig.c
 */


#include "fuzz.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    b24_fuzz_list(data, size, ' ', NULL, NULL, "v1",
                  NGX_HTTP_B24TRIGGER_BASE64);

    return 0;
}
