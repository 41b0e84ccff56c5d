
/*
 * Copyright (C) b24trigger authors
 *
 * What every libFuzzer target of fuzz/ shares: the header grammars of
 * src/ngx_http_b24trigger_verify_sig.c exercised the way the module uses them
 * (count the items, parse into an array of that size, decode every
 * signature, read the timestamp), with invariants checked on the way.
 * Each fuzz/NAME_fuzz.c is built by fuzz/run.sh with
 * clang -fsanitize=fuzzer,address,undefined, seeded from fuzz/corpus/NAME/.
 */


#ifndef _B24_FUZZ_H_INCLUDED_
#define _B24_FUZZ_H_INCLUDED_


#include <stdlib.h>
#include <string.h>

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_b24trigger_verify_sig.h"


#define b24_fuzz_assert(c)  if (!(c)) { abort(); }


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


/*
 * a copy of the input in a buffer of exactly its size, so that ASan sees
 * every read past its end
 */

static u_char *
b24_fuzz_copy(const uint8_t *data, size_t size)
{
    u_char  *p;

    p = malloc(size ? size : 1);
    b24_fuzz_assert(p != NULL);

    if (size) {
        memcpy(p, data, size);
    }

    return p;
}


static void
b24_fuzz_decode(ngx_uint_t encoding, ngx_str_t *sig)
{
    ssize_t  n;
    u_char   out[NGX_HTTP_B24TRIGGER_SIG_MAX];

    n = ngx_http_b24trigger_sig_decode(encoding, out, sig->data, sig->len);

    b24_fuzz_assert(n >= -1 && n <= NGX_HTTP_B24TRIGGER_SIG_MAX);
}


static void
b24_fuzz_timestamp(ngx_str_t *ts)
{
    time_t  t;

    if (ts->data == NULL) {
        return;
    }

    if (ngx_http_b24trigger_sig_timestamp(ts->data, ts->len, &t) == NGX_OK) {
        b24_fuzz_assert(t >= 0);
    }
}


/*
 * One header value through a list grammar: sep ',' or ';' for key=value
 * lists (ts_key and sig_key set), ' ' for the versioned list (version)
 */

static void
b24_fuzz_list(const uint8_t *data, size_t size, u_char sep,
    char *ts_key, char *sig_key, char *version, ngx_uint_t encoding)
{
    u_char                          *p;
    ngx_int_t                        rc;
    ngx_str_t                        tk, sk, ver;
    ngx_uint_t                       i, n;
    ngx_http_b24trigger_sig_list_t   list;

    p = b24_fuzz_copy(data, size);

    n = ngx_http_b24trigger_sig_items(p, size, sep);
    b24_fuzz_assert(n >= 1 && n <= size + 1);

    ngx_memzero(&list, sizeof(ngx_http_b24trigger_sig_list_t));

    list.sigs = malloc(n * sizeof(ngx_str_t));
    b24_fuzz_assert(list.sigs != NULL);
    list.nalloc = n;

    if (version) {
        ver.data = (u_char *) version;
        ver.len = strlen(version);

        rc = ngx_http_b24trigger_sig_parse_versioned(p, size, &ver, &list);

    } else {
        tk.data = (u_char *) ts_key;
        tk.len = strlen(ts_key);
        sk.data = (u_char *) sig_key;
        sk.len = strlen(sig_key);

        rc = ngx_http_b24trigger_sig_parse_kv(p, size, sep, &tk, &sk, &list);
    }

    /* an array sized by sig_items() is always large enough */

    b24_fuzz_assert(rc == NGX_OK);
    b24_fuzz_assert(list.nsigs <= list.nalloc);

    for (i = 0; i < list.nsigs; i++) {
        b24_fuzz_assert(list.sigs[i].data >= p
                        && list.sigs[i].data + list.sigs[i].len <= p + size);
        b24_fuzz_decode(encoding, &list.sigs[i]);
    }

    if (list.timestamp.data) {
        b24_fuzz_assert(list.timestamp.data >= p
                        && list.timestamp.data + list.timestamp.len
                           <= p + size);
    }

    b24_fuzz_timestamp(&list.timestamp);

    free(list.sigs);
    free(p);
}


/* a single-signature header: an optional prefix, then the signature */

static void
b24_fuzz_prefixed(const uint8_t *data, size_t size, char *prefix,
    ngx_uint_t encoding)
{
    u_char     *p;
    ngx_str_t   pre, sig;

    p = b24_fuzz_copy(data, size);

    pre.data = (u_char *) prefix;
    pre.len = strlen(prefix);

    if (ngx_http_b24trigger_sig_strip_prefix(p, size, &pre, &sig) == NGX_OK) {
        b24_fuzz_assert(sig.data >= p && sig.data + sig.len <= p + size);
        b24_fuzz_decode(encoding, &sig);
    }

    free(p);
}


#endif /* _B24_FUZZ_H_INCLUDED_ */
