
/*
 * Copyright (C) b24trigger authors
 *
 * libFuzzer target: Zoom's x-zm-signature ("v0=<hex>") and the answer to
 * endpoint.url_validation.  The input is a plainToken (any bytes, as a
 * JSON string may decode to) and, from its first bytes, a MAC of 0 to 64
 * bytes; the answer must be JSON that jansson reads back as an object of
 * exactly the plainToken, byte for byte, and the MAC in lowercase hex, or
 * be declined for a token that is empty, too long or not UTF-8.
 *
 * FUZZ_SOURCES: src/ngx_http_b24trigger_verify_message.c
 * FUZZ_SOURCES: src/ngx_http_b24trigger_verify_sig.c fuzz/ngx_shim.c
 * FUZZ_LIBS: -ljansson
 */


#include <jansson.h>

#include "fuzz.h"
#include "ngx_http_b24trigger_verify_message.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char        *p, hex[3];
    size_t         i, maclen;
    json_t        *root, *plain, *enc;
    ngx_int_t      rc;
    ngx_str_t      token, reply;
    ngx_pool_t    *pool;
    json_error_t   err;

    b24_fuzz_prefixed(data, size, "v0=", NGX_HTTP_B24TRIGGER_HEX);

    if (size < 1) {
        return 0;
    }

    maclen = data[0] % 65;
    maclen = maclen < size - 1 ? maclen : size - 1;

    p = b24_fuzz_copy(data + 1, size - 1);

    token.data = p + maclen;
    token.len = size - 1 - maclen;

    pool = ngx_create_pool(1024, NULL);
    b24_fuzz_assert(pool != NULL);

    rc = ngx_http_b24trigger_message_zoom(pool, &token, p, maclen, &reply);
    b24_fuzz_assert(rc == NGX_OK || rc == NGX_DECLINED);

    if (rc == NGX_DECLINED) {
        plain = json_stringn((char *) token.data, token.len);
        b24_fuzz_assert(token.len == 0
                        || token.len > NGX_HTTP_B24TRIGGER_ZOOM_TOKEN_MAX
                        || plain == NULL);
        json_decref(plain);
        goto done;
    }

    root = json_loadb((char *) reply.data, reply.len, JSON_ALLOW_NUL, &err);
    b24_fuzz_assert(root != NULL);
    b24_fuzz_assert(json_object_size(root) == 2);

    plain = json_object_get(root, "plainToken");
    enc = json_object_get(root, "encryptedToken");

    b24_fuzz_assert(json_is_string(plain) && json_is_string(enc));
    b24_fuzz_assert(json_string_length(plain) == token.len);
    b24_fuzz_assert(memcmp(json_string_value(plain), token.data, token.len)
                    == 0);
    b24_fuzz_assert(json_string_length(enc) == 2 * maclen);

    for (i = 0; i < maclen; i++) {
        snprintf((char *) hex, sizeof(hex), "%02x", p[i]);
        b24_fuzz_assert(memcmp(json_string_value(enc) + 2 * i, hex, 2)
                        == 0);
    }

    json_decref(root);

done:

    ngx_destroy_pool(pool);
    free(p);

    return 0;
}
