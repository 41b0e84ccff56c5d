
/*
 * Copyright (C) b24trigger authors
 *
 * libFuzzer target: HubSpot v3, its X-HubSpot-Request-Timestamp in
 * milliseconds and the message "<method><url><body><ts>".  The input is
 * cut in four at offsets its first two bytes choose; the message must be
 * the four parts end to end, and the timestamp parser must accept
 * exactly 1 to 15 digits without a leading zero, giving the seconds
 * strtoull() finds.  The whole input is also read as the base64
 * signature header.
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
    u_char      *p, *digits;
    size_t       i, a, b, c;
    time_t       t;
    ngx_int_t    rc;
    ngx_str_t    part[4], msg;
    ngx_uint_t   ok;
    ngx_pool_t  *pool;

    b24_fuzz_prefixed(data, size, "", NGX_HTTP_B24TRIGGER_BASE64);

    if (size < 2) {
        return 0;
    }

    p = b24_fuzz_copy(data + 2, size - 2);
    size -= 2;

    a = size ? data[0] % (size + 1) : 0;
    b = a + (size - a ? data[1] % (size - a + 1) : 0);
    c = b + (size - b) / 2;

    part[0].data = p;
    part[0].len = a;
    part[1].data = p + a;
    part[1].len = b - a;
    part[2].data = p + b;
    part[2].len = c - b;
    part[3].data = p + c;
    part[3].len = size - c;

    pool = ngx_create_pool(1024, NULL);
    b24_fuzz_assert(pool != NULL);

    rc = ngx_http_b24trigger_message_url(pool, &part[0], &part[1], &part[2],
                                         &part[3], &msg);
    b24_fuzz_assert(rc == NGX_OK);
    b24_fuzz_assert(msg.len == size);
    b24_fuzz_assert(size == 0 || memcmp(msg.data, p, size) == 0);

    /* the timestamp: the last part */

    ok = part[3].len >= 1 && part[3].len <= NGX_HTTP_B24TRIGGER_MS_DIGITS
         && part[3].data[0] != '0';

    for (i = 0; ok && i < part[3].len; i++) {
        ok = (part[3].data[i] >= '0' && part[3].data[i] <= '9');
    }

    t = -1;
    rc = ngx_http_b24trigger_message_ms(part[3].data, part[3].len, &t);

    b24_fuzz_assert((rc == NGX_OK) == ok);

    if (rc == NGX_OK) {
        digits = malloc(part[3].len + 1);
        b24_fuzz_assert(digits != NULL);
        memcpy(digits, part[3].data, part[3].len);
        digits[part[3].len] = '\0';
        b24_fuzz_assert(t == (time_t) (strtoull((char *) digits, NULL, 10)
                                       / 1000));
        free(digits);
    }

    ngx_destroy_pool(pool);
    free(p);

    return 0;
}
