
/*
 * Copyright (C) b24trigger authors
 *
 * libFuzzer target: the header of the generic "hmac" scheme.  The first
 * byte picks the encoding and the length of a prefix, the next bytes are
 * that prefix, the rest is the header value
 *
 * FUZZ_SOURCES: src/ngx_http_b24trigger_verify_sig.c
 */


#include "fuzz.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t      plen;
    ngx_uint_t  enc;
    char        prefix[16];

    if (size == 0) {
        return 0;
    }

    enc = (data[0] & 0x80) ? NGX_HTTP_B24TRIGGER_BASE64
                           : NGX_HTTP_B24TRIGGER_HEX;
    plen = data[0] & 0x0f;
    data++;
    size--;

    if (plen > size) {
        plen = size;
    }

    memcpy(prefix, data, plen);
    prefix[plen] = '\0';

    if (memchr(prefix, '\0', plen) != NULL) {
        return 0;
    }

    b24_fuzz_prefixed(data + plen, size - plen, prefix, enc);

    return 0;
}
