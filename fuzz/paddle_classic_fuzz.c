
/*
 * Copyright (C) b24trigger authors
 *
 * libFuzzer target: what paddle_classic signs.  The input is a form
 * body; it goes through the steps a strict read takes (at most
 * NGX_HTTP_B24TRIGGER_FIELDS_MAX pairs, the root fields, no name twice),
 * then through ngx_http_b24trigger_php_serialize() without "p_signature".
 * The serialization is read back here, by a reader of PHP's format of its
 * own: it must hold exactly the other fields, every name once, in
 * ascending byte order, each with its value; a refusal must name a field
 * that is there.
 *
 * FUZZ_SOURCES: src/ngx_http_b24trigger_verify_pubkey_parse.c
 * FUZZ_SOURCES: src/ngx_http_b24trigger_verify_sig.c
 * FUZZ_SOURCES: src/ngx_http_b24trigger_body_parse.c fuzz/ngx_shim.c
 */


#include "fuzz.h"
#include "ngx_http_b24trigger_body_parse.h"
#include "ngx_http_b24trigger_verify_pubkey_parse.h"


static ngx_uint_t b24_fuzz_php_str(u_char **p, u_char *last, ngx_str_t *s);
static ngx_uint_t b24_fuzz_php_num(u_char **p, u_char *last, size_t *n);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                      *body, *p, *last;
    size_t                       n;
    ngx_int_t                    rc;
    ngx_str_t                    skip, out, bad, name, value, prev;
    ngx_uint_t                   i, expect;
    ngx_pool_t                  *pool;
    ngx_array_t                  pairs, root;
    ngx_http_b24trigger_root_t  *f;

    body = b24_fuzz_copy(data, size);

    pool = ngx_create_pool(4096, NULL);
    b24_fuzz_assert(pool != NULL);

    if (ngx_http_b24trigger_form_count(body, size)
        > NGX_HTTP_B24TRIGGER_FIELDS_MAX)
    {
        goto done;
    }

    b24_fuzz_assert(ngx_array_init(&pairs, pool, 8, sizeof(ngx_keyval_t))
                    == NGX_OK);
    b24_fuzz_assert(ngx_http_b24trigger_form_parse(pool, body, size, &pairs)
                    == NGX_OK);
    b24_fuzz_assert(ngx_http_b24trigger_form_root(pool, &pairs, &root)
                    == NGX_OK);

    if (ngx_http_b24trigger_root_unique(pool, &root, &name) != NGX_OK) {
        goto done;
    }

    ngx_str_set(&skip, "p_signature");

    rc = ngx_http_b24trigger_php_serialize(pool, &root, &skip, &out, &bad);

    if (rc == NGX_DECLINED) {
        b24_fuzz_assert(ngx_http_b24trigger_root_get(&root, bad.data,
                                                     bad.len)
                        != NULL);
        goto done;
    }

    b24_fuzz_assert(rc == NGX_OK);

    expect = root.nelts
             - (ngx_http_b24trigger_root_get(&root, skip.data, skip.len)
                != NULL);

    /* a:N:{s:L:"name";s:L:"value";...} */

    p = out.data;
    last = p + out.len;

    b24_fuzz_assert(last - p >= 2 && p[0] == 'a' && p[1] == ':');
    p += 2;
    b24_fuzz_assert(b24_fuzz_php_num(&p, last, &n) && n == expect);
    b24_fuzz_assert(p < last && *p++ == '{');

    ngx_str_null(&prev);

    for (i = 0; i < n; i++) {
        b24_fuzz_assert(b24_fuzz_php_str(&p, last, &name));
        b24_fuzz_assert(b24_fuzz_php_str(&p, last, &value));

        f = ngx_http_b24trigger_root_get(&root, name.data, name.len);
        b24_fuzz_assert(f != NULL);
        b24_fuzz_assert(f->value.len == value.len
                        && memcmp(f->value.data, value.data, value.len)
                           == 0);
        b24_fuzz_assert(!(name.len == skip.len
                          && memcmp(name.data, skip.data, skip.len) == 0));

        /* strictly ascending, a prefix first */

        if (i > 0) {
            rc = memcmp(prev.data, name.data, ngx_min(prev.len, name.len));
            b24_fuzz_assert(rc < 0 || (rc == 0 && prev.len < name.len));
        }

        prev = name;
    }

    b24_fuzz_assert(p + 1 == last && *p == '}');

done:

    ngx_destroy_pool(pool);
    free(body);

    return 0;
}


/* s:LEN:"bytes"; */

static ngx_uint_t
b24_fuzz_php_str(u_char **p, u_char *last, ngx_str_t *s)
{
    size_t  n;

    if (last - *p < 2 || (*p)[0] != 's' || (*p)[1] != ':') {
        return 0;
    }

    *p += 2;

    if (!b24_fuzz_php_num(p, last, &n)) {
        return 0;
    }

    if ((size_t) (last - *p) < n + 3 || **p != '"' || (*p)[n + 1] != '"'
        || (*p)[n + 2] != ';')
    {
        return 0;
    }

    s->data = *p + 1;
    s->len = n;
    *p += n + 3;

    return 1;
}


/* digits then ":" */

static ngx_uint_t
b24_fuzz_php_num(u_char **p, u_char *last, size_t *n)
{
    u_char  *start;

    start = *p;
    *n = 0;

    while (*p < last && **p >= '0' && **p <= '9') {
        *n = *n * 10 + (**p - '0');
        (*p)++;
    }

    if (*p == start || *p == last || **p != ':') {
        return 0;
    }

    (*p)++;

    return 1;
}
