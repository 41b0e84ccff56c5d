
/*
 * Copyright (C) b24trigger authors
 *
 * What every family of verification uses (the token in
 * ngx_http_b24trigger_verify.c, the HMAC schemes in
 * ngx_http_b24trigger_verify_hmac.c, the digests in
 * ngx_http_b24trigger_verify_digest.c): a request header by name, the
 * comparison in constant time, the hash by name, the timestamp window,
 * the verdict's refusal and its signature.  Calls no scheme; no secret,
 * key or computed signature is ever logged, at any level.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "ngx_http_b24trigger_verify_schemes.h"


/* a header name looked up longer than this is compared case-folded */
#define NGX_HTTP_B24TRIGGER_HEADER_LOW  64


static u_char *ngx_http_b24trigger_header_lower(ngx_str_t *name,
    u_char *buf);
static ngx_inline ngx_uint_t ngx_http_b24trigger_header_is(
    ngx_table_elt_t *h, ngx_str_t *name, u_char *low);


/* sha1, sha256, sha512 for HMAC; also md5 and sha384 for plain digests */

const EVP_MD *
ngx_http_b24trigger_md(ngx_str_t *name, ngx_uint_t plain)
{
    if (name->len == 4 && ngx_strncmp(name->data, "sha1", 4) == 0) {
        return EVP_sha1();
    }

    if (name->len == 6 && ngx_strncmp(name->data, "sha256", 6) == 0) {
        return EVP_sha256();
    }

    if (name->len == 6 && ngx_strncmp(name->data, "sha512", 6) == 0) {
        return EVP_sha512();
    }

    if (!plain) {
        return NULL;
    }

    if (name->len == 3 && ngx_strncmp(name->data, "md5", 3) == 0) {
        return EVP_md5();
    }

    if (name->len == 6 && ngx_strncmp(name->data, "sha384", 6) == 0) {
        return EVP_sha384();
    }

    return NULL;
}


/* the n-th request header of that name (0 is the first), or NULL */

ngx_table_elt_t *
ngx_http_b24trigger_header(ngx_http_request_t *r, ngx_str_t *name,
    ngx_uint_t n)
{
    u_char           *low;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;
    u_char            buf[NGX_HTTP_B24TRIGGER_HEADER_LOW];

    low = ngx_http_b24trigger_header_lower(name, buf);

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (ngx_http_b24trigger_header_is(&h[i], name, low) && n-- == 0) {
            return &h[i];
        }
    }
}


/*
 * Every request header of that name, in their order: up to max of them
 * into found[]; returns how many there are, found or not.  One walk for
 * a scheme that reads every header of a name, where header() walks them
 * once for each and once more to learn there is no other.  low is the
 * name in lower case, made when the configuration was read, or NULL.
 */

ngx_uint_t
ngx_http_b24trigger_headers(ngx_http_request_t *r, ngx_str_t *name,
    u_char *low, ngx_table_elt_t **found, ngx_uint_t max)
{
    ngx_uint_t        i, n;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;
    u_char            buf[NGX_HTTP_B24TRIGGER_HEADER_LOW];

    if (low == NULL) {
        low = ngx_http_b24trigger_header_lower(name, buf);
    }

    n = 0;
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return n;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (ngx_http_b24trigger_header_is(&h[i], name, low)) {
            if (n < max) {
                found[n] = &h[i];
            }

            n++;
        }
    }
}


/*
 * the name in lower case into buf, once per lookup, to be compared with
 * the lower-case key nginx keeps of every request header (HTTP/1 lowers
 * it, HTTP/2 and 3 allow no other): one ngx_memcmp() instead of a
 * case-folding ngx_strncasecmp() per header; NULL for a longer name
 */

static u_char *
ngx_http_b24trigger_header_lower(ngx_str_t *name, u_char *buf)
{
    u_char    c;
    size_t    j;
    uint64_t  w, b;

    if (name->len > NGX_HTTP_B24TRIGGER_HEADER_LOW) {
        return NULL;
    }

    /*
     * eight bytes at a time: bit 7 of each byte of b is set where the
     * byte is 'A' to 'Z' (at least 'A', not above 'Z', ASCII), and
     * becomes its 0x20
     */

    for (j = 0; j + 8 <= name->len; j += 8) {
        ngx_memcpy(&w, name->data + j, 8);

        b = w & 0x7f7f7f7f7f7f7f7fULL;
        b = (b + 0x3f3f3f3f3f3f3f3fULL) & ~(b + 0x2525252525252525ULL)
            & ~w & 0x8080808080808080ULL;
        w |= b >> 2;

        ngx_memcpy(buf + j, &w, 8);
    }

    for ( /* void */ ; j < name->len; j++) {
        c = name->data[j];
        buf[j] = (u_char) (c | (((u_char) (c - 'A') < 26) << 5));
    }

    return buf;
}


/*
 * h has that name: by its lower-case key where both are known, else
 * case-folded (a header added without one, or a longer name)
 */

static ngx_inline ngx_uint_t
ngx_http_b24trigger_header_is(ngx_table_elt_t *h, ngx_str_t *name,
    u_char *low)
{
    if (h->hash == 0 || h->key.len != name->len) {
        return 0;
    }

    if (low && h->lowcase_key) {
        return ngx_memcmp(h->lowcase_key, low, name->len) == 0;
    }

    return ngx_strncasecmp(h->key.data, name->data, name->len) == 0;
}


/*
 * Constant-time equality of two strings of any length: both are hashed
 * first, so neither the position of the first difference nor the length
 * of the secret shows in the time taken.
 */

ngx_int_t
ngx_http_b24trigger_secure_equal(u_char *a, size_t alen, u_char *b,
    size_t blen)
{
    u_char  ha[SHA256_DIGEST_LENGTH], hb[SHA256_DIGEST_LENGTH];

    if (EVP_Digest(a, alen, ha, NULL, EVP_sha256(), NULL) != 1
        || EVP_Digest(b, blen, hb, NULL, EVP_sha256(), NULL) != 1)
    {
        return 0;
    }

    return CRYPTO_memcmp(ha, hb, SHA256_DIGEST_LENGTH) == 0;
}


/*
 * Equality of two strings of the same known length (an HMAC and a
 * decoded signature) in a time that does not depend on their bytes:
 * every byte is read, the differences OR-ed, one test at the end, as
 * CRYPTO_memcmp() does, but eight bytes at a time where it takes one
 * (about 230 instructions fewer for a SHA-256 HMAC, on every webhook).
 * The empty asm keeps the compiler from learning anything of the
 * running difference, and so from leaving the loop early.
 */

ngx_uint_t
ngx_http_b24trigger_equal(u_char *a, u_char *b, size_t len)
{
    size_t    i;
    uint64_t  x, y, d;

    d = 0;

    for (i = 0; i + 8 <= len; i += 8) {
        ngx_memcpy(&x, a + i, 8);
        ngx_memcpy(&y, b + i, 8);
        d |= x ^ y;

#if (__GNUC__)
        __asm__ __volatile__ ("" : "+r" (d));
#endif
    }

    for ( /* void */ ; i < len; i++) {
        d |= a[i] ^ b[i];

#if (__GNUC__)
        __asm__ __volatile__ ("" : "+r" (d));
#endif
    }

    return d == 0;
}


/*
 * A verified request's timestamp against the clock: refused when it is
 * more than tolerance seconds in the past or in the future
 */

ngx_int_t
ngx_http_b24trigger_check_time(ngx_http_request_t *r, time_t ts,
    time_t tolerance, ngx_http_b24trigger_verdict_t *vd)
{
    u_char  *p;
    time_t   now, diff;

    now = ngx_time();

    if (ts >= now - tolerance && ts <= now + tolerance) {
        return NGX_OK;
    }

    diff = ts < now ? now - ts : ts - now;

    p = ngx_pnalloc(r->pool, sizeof("timestamp is  s in the future, "
                                    "tolerance  s") - 1
                             + 2 * NGX_TIME_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&vd->error, "timestamp_out_of_range");

    vd->reason.data = p;
    vd->reason.len = ngx_sprintf(p, "timestamp is %T s in the %s, "
                                 "tolerance %T s", diff,
                                 ts < now ? "past" : "future", tolerance)
                     - p;

    return NGX_DECLINED;
}


/*
 * A verified signature in hex, decoded into the verdict: the replay
 * shield's key.  It matched, so it decodes.
 */

ngx_int_t
ngx_http_b24trigger_verdict_signature(ngx_http_request_t *r,
    ngx_http_b24trigger_verdict_t *vd, ngx_str_t *sig)
{
    u_char   *p;
    ssize_t   n;

    p = ngx_pnalloc(r->pool, NGX_HTTP_B24TRIGGER_SIG_MAX);
    if (p == NULL) {
        return NGX_ERROR;
    }

    n = ngx_http_b24trigger_sig_decode(NGX_HTTP_B24TRIGGER_HEX, p,
                                       sig->data, sig->len);
    if (n <= 0) {
        return NGX_ERROR;
    }

    vd->signature.data = p;
    vd->signature.len = n;

    return NGX_OK;
}


/*
 * A refusal whose reason needs words from the request or the
 * configuration (a header name, a count): never a secret, never a
 * signature.  error is a literal.  Returns NGX_DECLINED or NGX_ERROR.
 */

ngx_int_t
ngx_http_b24trigger_refusal(ngx_http_request_t *r,
    ngx_http_b24trigger_verdict_t *vd, char *error, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    p = ngx_pnalloc(r->pool, NGX_HTTP_B24TRIGGER_REASON_MAX);
    if (p == NULL) {
        return NGX_ERROR;
    }

    vd->error.data = (u_char *) error;
    vd->error.len = ngx_strlen(error);

    va_start(args, fmt);
    vd->reason.len = ngx_vslprintf(p, p + NGX_HTTP_B24TRIGGER_REASON_MAX,
                                   fmt, args)
                     - p;
    va_end(args);

    vd->reason.data = p;

    return NGX_DECLINED;
}
