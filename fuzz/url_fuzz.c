
/*
 * Copyright (C) b24trigger authors
 *
 * libFuzzer target for the URL Twilio signs
 * (src/ngx_http_b24trigger_url_parse.c): the input is a URL.  Besides
 * memory errors it checks that the other form differs from the URL only
 * in its port (what is before the authority's end and after it is kept
 * byte for byte), that it is the URL without a ":port" exactly when the
 * URL had one, and that a query argument found lies inside the URL's
 * query string, after "NAME=".
 *
 * FUZZ_SOURCES: src/ngx_http_b24trigger_url_parse.c fuzz/ngx_shim.c
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "fuzz.h"
#include "ngx_http_b24trigger_url_parse.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char      *url, *q;
    size_t       k, d;
    ngx_uint_t   found;
    ngx_int_t    rc;
    ngx_str_t    u, alt, value, name, *longer, *shorter;
    ngx_pool_t  *pool;

    url = b24_fuzz_copy(data, size);
    u.data = url;
    u.len = size;

    pool = ngx_create_pool(4096, NULL);
    b24_fuzz_assert(pool != NULL);

    rc = ngx_http_b24trigger_url_port_variant(pool, &u, &alt);

    b24_fuzz_assert(rc == NGX_OK || rc == NGX_DECLINED);

    if (rc == NGX_OK) {
        b24_fuzz_assert(alt.len != u.len);

        longer = alt.len > u.len ? &alt : &u;
        shorter = alt.len > u.len ? &u : &alt;

        /*
         * the two agree but for ":port" (no "/", "?" or "#" in it) that
         * the longer one has at some place k
         */

        d = longer->len - shorter->len;
        found = 0;

        for (k = 0; k <= shorter->len && !found; k++) {
            if (k > 0 && shorter->data[k - 1] != longer->data[k - 1]) {
                break;
            }

            if (longer->data[k] != ':'
                || memcmp(longer->data + k + d, shorter->data + k,
                          shorter->len - k) != 0)
            {
                continue;
            }

            found = 1;

            for (q = longer->data + k; q < longer->data + k + d; q++) {
                b24_fuzz_assert(*q != '/' && *q != '?' && *q != '#');
            }
        }

        b24_fuzz_assert(found);

        if (alt.len > u.len) {
            b24_fuzz_assert(alt.len - u.len == 3 || alt.len - u.len == 4);
        }
    }

    ngx_str_set(&name, "bodySHA256");

    if (ngx_http_b24trigger_url_arg(&u, &name, &value) == NGX_OK) {
        b24_fuzz_assert(value.data >= u.data + name.len + 2);
        b24_fuzz_assert(value.data + value.len <= u.data + u.len);
        b24_fuzz_assert(value.data[-1] == '=');
        b24_fuzz_assert(memcmp(value.data - 1 - name.len, name.data,
                               name.len) == 0);
        b24_fuzz_assert(memchr(value.data, '&', value.len) == NULL);
        b24_fuzz_assert(memchr(value.data, '#', value.len) == NULL);
        b24_fuzz_assert(memchr(u.data, '?', value.data - u.data) != NULL);
    }

    ngx_destroy_pool(pool);
    free(url);

    return 0;
}
