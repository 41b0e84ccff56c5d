
/*
 * Copyright (C) b24trigger authors
 *
 * libFuzzer target: what the sendgrid scheme reads from text.  The input
 * is "SIGNATURE\nTIMESTAMP\nKEY": the X-Twilio-Email-Event-Webhook-
 * Signature value decoded to at most the 72 bytes of a DER ECDSA P-256
 * signature, the timestamp header, and a key as written in "key=" (PEM,
 * "whpk_", base64 DER).  Besides memory errors it checks the bounds each
 * promises and that a decoded signature is the base64 it came from.
 *
 * FUZZ_SOURCES: src/ngx_http_b24trigger_verify_pubkey_parse.c
 * FUZZ_SOURCES: src/ngx_http_b24trigger_verify_sig.c
 * FUZZ_SOURCES: src/ngx_http_b24trigger_body_parse.c fuzz/ngx_shim.c
 */


#include "fuzz.h"
#include "ngx_http_b24trigger_verify_pubkey_parse.h"


static void b24_fuzz_pubsig(u_char *p, size_t len, size_t max);
static void b24_fuzz_pubkey(u_char *p, size_t len);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char     *p, *last, *nl, *nl2;
    ngx_str_t   ts;

    p = b24_fuzz_copy(data, size);
    last = p + size;

    nl = memchr(p, '\n', size);
    nl2 = nl ? memchr(nl + 1, '\n', last - nl - 1) : NULL;

    b24_fuzz_pubsig(p, nl ? (size_t) (nl - p) : size, 72);

    if (nl) {
        ts.data = nl + 1;
        ts.len = (nl2 ? nl2 : last) - ts.data;
        b24_fuzz_timestamp(&ts);
    }

    if (nl2) {
        b24_fuzz_pubkey(nl2 + 1, last - nl2 - 1);
    }

    free(p);

    return 0;
}


static void
b24_fuzz_pubsig(u_char *p, size_t len, size_t max)
{
    u_char   *copy;
    ssize_t   n;
    u_char    out[NGX_HTTP_B24TRIGGER_PUBSIG_MAX];
    u_char    again[NGX_HTTP_B24TRIGGER_PUBSIG_MAX];

    copy = b24_fuzz_copy(p, len);

    n = ngx_http_b24trigger_pubsig_decode(out, max, copy, len);

    b24_fuzz_assert(n == -1 || (n > 0 && (size_t) n <= max));

    if (n > 0) {

        /* the same bytes through the plain decoder */

        b24_fuzz_assert(ngx_http_b24trigger_pubsig_decode(again,
                                          NGX_HTTP_B24TRIGGER_PUBSIG_MAX,
                                          copy, len)
                        == n);
        b24_fuzz_assert(memcmp(out, again, n) == 0);
    }

    free(copy);
}


static void
b24_fuzz_pubkey(u_char *p, size_t len)
{
    u_char      *copy;
    size_t       n;
    ngx_int_t    rc;
    ngx_uint_t   kind;
    const char  *why;
    u_char       out[NGX_HTTP_B24TRIGGER_PUBKEY_MAX];

    copy = b24_fuzz_copy(p, len);
    why = NULL;

    rc = ngx_http_b24trigger_pubkey_text(copy, len, &kind, out, &n, &why);

    if (rc == NGX_OK) {
        b24_fuzz_assert(n <= NGX_HTTP_B24TRIGGER_PUBKEY_MAX);
        b24_fuzz_assert(kind != NGX_HTTP_B24TRIGGER_PUBKEY_RAW
                        || n == NGX_HTTP_B24TRIGGER_ED25519_KEY);
        b24_fuzz_assert(kind != NGX_HTTP_B24TRIGGER_PUBKEY_PEM || n == 0);

    } else {
        b24_fuzz_assert(rc == NGX_DECLINED && why != NULL);
    }

    free(copy);
}
