
/*
 * Copyright (C) b24trigger authors
 *
 * libFuzzer target: the webhook-signature header as the standard_v1a
 * scheme reads it, "v1,<b64> v1a,<b64> v1a,<b64>": the "v1a" entries
 * (the list grammar of src/ngx_http_b24trigger_verify_sig.c), each
 * decoded as the scheme does, to exactly the 64 bytes of an Ed25519
 * signature or nothing; and the input as a "whpk_" key.
 *
 * FUZZ_SOURCES: src/ngx_http_b24trigger_verify_pubkey_parse.c
 * FUZZ_SOURCES: src/ngx_http_b24trigger_verify_sig.c
 * FUZZ_SOURCES: src/ngx_http_b24trigger_body_parse.c fuzz/ngx_shim.c
 */


#include "fuzz.h"
#include "ngx_http_b24trigger_verify_pubkey_parse.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                          *p;
    size_t                           n;
    ssize_t                          len;
    ngx_int_t                        rc;
    ngx_str_t                        ver;
    ngx_uint_t                       i, items, kind;
    const char                      *why;
    ngx_http_b24trigger_sig_list_t   list;
    u_char                           sig[NGX_HTTP_B24TRIGGER_ED25519_SIG];
    u_char                           key[NGX_HTTP_B24TRIGGER_PUBKEY_MAX];

    p = b24_fuzz_copy(data, size);

    items = ngx_http_b24trigger_sig_items(p, size, ' ');

    ngx_memzero(&list, sizeof(ngx_http_b24trigger_sig_list_t));
    list.sigs = malloc((items ? items : 1) * sizeof(ngx_str_t));
    b24_fuzz_assert(list.sigs != NULL);
    list.nalloc = items;

    ngx_str_set(&ver, "v1a");

    rc = ngx_http_b24trigger_sig_parse_versioned(p, size, &ver, &list);
    b24_fuzz_assert(rc == NGX_OK && list.nsigs <= list.nalloc);

    for (i = 0; i < list.nsigs; i++) {
        b24_fuzz_assert(list.sigs[i].data >= p
                        && list.sigs[i].data + list.sigs[i].len <= p + size);

        len = ngx_http_b24trigger_pubsig_decode(sig, sizeof(sig),
                                                list.sigs[i].data,
                                                list.sigs[i].len);
        b24_fuzz_assert(len == -1
                        || (len > 0
                            && len <= NGX_HTTP_B24TRIGGER_ED25519_SIG));
    }

    why = NULL;
    rc = ngx_http_b24trigger_pubkey_text(p, size, &kind, key, &n, &why);

    b24_fuzz_assert(rc == NGX_OK || (rc == NGX_DECLINED && why != NULL));
    b24_fuzz_assert(rc != NGX_OK || kind != NGX_HTTP_B24TRIGGER_PUBKEY_RAW
                    || n == NGX_HTTP_B24TRIGGER_ED25519_KEY);

    free(list.sigs);
    free(p);

    return 0;
}
