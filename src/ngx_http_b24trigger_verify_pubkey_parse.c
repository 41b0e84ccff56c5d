
/*
 * Copyright (C) b24trigger authors
 *
 * The text of the public-key schemes: key texts, base64 signatures of a
 * bounded size, and Paddle Classic's PHP serialize() of form fields
 * (see ngx_http_b24trigger_verify_pubkey_parse.h).  Pure functions over
 * bytes and a pool; they use no OpenSSL and know nothing about HTTP.
 * Work is O(n log n) in the fields: one sort, one pass.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_b24trigger_verify_sig.h"
#include "ngx_http_b24trigger_body_parse.h"
#include "ngx_http_b24trigger_verify_pubkey_parse.h"


static void ngx_http_b24trigger_pubkey_trim(u_char **p, size_t *len);
static ngx_uint_t ngx_http_b24trigger_php_name(ngx_str_t *name);
static int ngx_http_b24trigger_php_cmp(const void *one, const void *two);
static u_char *ngx_http_b24trigger_php_string(u_char *p, ngx_str_t *s);
static u_char *ngx_http_b24trigger_php_number(u_char *p, size_t n);


ngx_int_t
ngx_http_b24trigger_pubkey_text(u_char *p, size_t len, ngx_uint_t *kind,
    u_char *dst, size_t *n, const char **why)
{
    ssize_t  r;

    ngx_http_b24trigger_pubkey_trim(&p, &len);

    if (len == 0) {
        *why = "is empty";
        return NGX_DECLINED;
    }

    if (len >= 11 && ngx_strncmp(p, "-----BEGIN ", 11) == 0) {
        *kind = NGX_HTTP_B24TRIGGER_PUBKEY_PEM;
        *n = 0;
        return NGX_OK;
    }

    if (len > 5 && ngx_strncmp(p, "whpk_", 5) == 0) {
        p += 5;
        len -= 5;

        if (ngx_http_b24trigger_base64_size(len)
            > NGX_HTTP_B24TRIGGER_PUBKEY_MAX)
        {
            *why = "is not \"whpk_\" and the base64 of 32 bytes";
            return NGX_DECLINED;
        }

        r = ngx_http_b24trigger_base64_decode(dst, p, len);

        if (r != NGX_HTTP_B24TRIGGER_ED25519_KEY) {
            *why = "is not \"whpk_\" and the base64 of 32 bytes";
            return NGX_DECLINED;
        }

        *kind = NGX_HTTP_B24TRIGGER_PUBKEY_RAW;
        *n = r;
        return NGX_OK;
    }

    if (ngx_http_b24trigger_base64_size(len) > NGX_HTTP_B24TRIGGER_PUBKEY_MAX)
    {
        *why = "is too long for a public key";
        return NGX_DECLINED;
    }

    r = ngx_http_b24trigger_base64_decode(dst, p, len);

    if (r <= 0) {
        *why = "is neither PEM, \"whpk_...\" nor base64";
        return NGX_DECLINED;
    }

    *kind = NGX_HTTP_B24TRIGGER_PUBKEY_DER;
    *n = r;

    return NGX_OK;
}


ssize_t
ngx_http_b24trigger_pubsig_decode(u_char *dst, size_t max, u_char *src,
    size_t len)
{
    ssize_t  n;
    u_char   buf[NGX_HTTP_B24TRIGGER_PUBSIG_MAX];

    ngx_http_b24trigger_pubkey_trim(&src, &len);

    if (len == 0 || max > NGX_HTTP_B24TRIGGER_PUBSIG_MAX
        || ngx_http_b24trigger_base64_size(len)
           > NGX_HTTP_B24TRIGGER_PUBSIG_MAX)
    {
        return -1;
    }

    n = ngx_http_b24trigger_base64_decode(buf, src, len);

    if (n <= 0 || (size_t) n > max) {
        return -1;
    }

    ngx_memcpy(dst, buf, n);

    return n;
}


ngx_int_t
ngx_http_b24trigger_php_serialize(ngx_pool_t *pool, ngx_array_t *root,
    ngx_str_t *skip, ngx_str_t *out, ngx_str_t *bad)
{
    u_char                       *p;
    size_t                        len;
    ngx_uint_t                    i, n;
    ngx_http_b24trigger_root_t   *f, **sorted;

    f = root->elts;

    sorted = ngx_palloc(pool, (root->nelts + 1) * sizeof(void *));
    if (sorted == NULL) {
        return NGX_ERROR;
    }

    n = 0;
    len = sizeof("a::{}") - 1 + NGX_SIZE_T_LEN;

    for (i = 0; i < root->nelts; i++) {

        if (f[i].name.len == skip->len
            && ngx_strncmp(f[i].name.data, skip->data, skip->len) == 0)
        {
            continue;
        }

        if (!ngx_http_b24trigger_php_name(&f[i].name)) {
            *bad = f[i].name;
            return NGX_DECLINED;
        }

        /* s:LEN:"name";s:LEN:"value"; */

        len += 2 * (sizeof("s::\"\";") - 1 + NGX_SIZE_T_LEN)
               + f[i].name.len + f[i].value.len;

        sorted[n++] = &f[i];
    }

    /* not ngx_sort(): an insertion sort, quadratic */

    ngx_qsort(sorted, n, sizeof(void *), ngx_http_b24trigger_php_cmp);

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;

    *p++ = 'a';
    *p++ = ':';
    p = ngx_http_b24trigger_php_number(p, n);
    *p++ = ':';
    *p++ = '{';

    for (i = 0; i < n; i++) {
        p = ngx_http_b24trigger_php_string(p, &sorted[i]->name);
        p = ngx_http_b24trigger_php_string(p, &sorted[i]->value);
    }

    *p++ = '}';

    out->len = p - out->data;

    return NGX_OK;
}


/*
 * A name PHP keeps as it is, a string key: a letter or "_", then letters,
 * digits, "_" or "-".  Anything else PHP may rewrite ("a.b" and "a b"
 * become "a_b", "a[b]" an array, "12" an integer key, a leading blank is
 * dropped), and Paddle sends no such name.
 */

static ngx_uint_t
ngx_http_b24trigger_php_name(ngx_str_t *name)
{
    u_char      c;
    ngx_uint_t  i;

    if (name->len == 0) {
        return 0;
    }

    for (i = 0; i < name->len; i++) {
        c = name->data[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
            continue;
        }

        if (i > 0 && ((c >= '0' && c <= '9') || c == '-')) {
            continue;
        }

        return 0;
    }

    return 1;
}


/*
 * ksort() of string keys that are not numeric: byte by byte, a prefix
 * first (zend_binary_strcmp()); names are unique
 */

static int
ngx_http_b24trigger_php_cmp(const void *one, const void *two)
{
    int                          rc;
    ngx_http_b24trigger_root_t  *a, *b;

    a = *(ngx_http_b24trigger_root_t **) one;
    b = *(ngx_http_b24trigger_root_t **) two;

    rc = ngx_memcmp(a->name.data, b->name.data,
                    ngx_min(a->name.len, b->name.len));
    if (rc != 0) {
        return rc;
    }

    if (a->name.len == b->name.len) {
        return 0;
    }

    return (a->name.len > b->name.len) ? 1 : -1;
}


/* s:LEN:"bytes"; with LEN in bytes, the bytes as they are */

static u_char *
ngx_http_b24trigger_php_string(u_char *p, ngx_str_t *s)
{
    *p++ = 's';
    *p++ = ':';
    p = ngx_http_b24trigger_php_number(p, s->len);
    *p++ = ':';
    *p++ = '"';
    p = ngx_cpymem(p, s->data, s->len);
    *p++ = '"';
    *p++ = ';';

    return p;
}


/* decimal digits; not ngx_sprintf(), which the fuzz targets do not have */

static u_char *
ngx_http_b24trigger_php_number(u_char *p, size_t n)
{
    u_char   digits[NGX_SIZE_T_LEN];
    size_t   i;

    i = 0;

    do {
        digits[i++] = (u_char) ('0' + n % 10);
        n /= 10;
    } while (n);

    while (i) {
        *p++ = digits[--i];
    }

    return p;
}


static void
ngx_http_b24trigger_pubkey_trim(u_char **p, size_t *len)
{
    while (*len && (**p == ' ' || **p == '\t' || **p == '\r'
                    || **p == '\n'))
    {
        (*p)++;
        (*len)--;
    }

    while (*len && ((*p)[*len - 1] == ' ' || (*p)[*len - 1] == '\t'
                    || (*p)[*len - 1] == '\r' || (*p)[*len - 1] == '\n'))
    {
        (*len)--;
    }
}
