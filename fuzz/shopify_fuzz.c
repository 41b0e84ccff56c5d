
/*
 * Copyright (C) b24trigger authors
 *
 * libFuzzer target: the X-Shopify-Hmac-Sha256 and X-WC-Webhook-Signature
 * headers (Shopify, WooCommerce): base64 alone
 *
 * FUZZ_SOURCES: src/ngx_http_b24trigger_verify_sig.c
 */


#include "fuzz.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    b24_fuzz_prefixed(data, size, "", NGX_HTTP_B24TRIGGER_BASE64);

    return 0;
}
