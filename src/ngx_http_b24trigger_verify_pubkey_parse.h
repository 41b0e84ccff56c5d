
/*
 * Copyright (C) b24trigger authors
 *
 * What the public-key schemes (sendgrid, standard_v1a, paddle_classic)
 * read from text, taken apart: a public key as written in the
 * configuration ("whpk_<base64>", the base64 of a DER key, or PEM), a
 * base64 signature of a bounded size, and the PHP serialize() of a form's
 * fields that Paddle Classic signs.  Pure functions over bytes and a pool
 * (src/ngx_http_b24trigger_verify_pubkey_parse.c): no requests, no logs,
 * no OpenSSL, so that the fuzz targets in fuzz/ link them alone.  They
 * know nothing about HTTP or Bitrix24.
 */


#ifndef _NGX_HTTP_B24TRIGGER_VERIFY_PUBKEY_PARSE_H_INCLUDED_
#define _NGX_HTTP_B24TRIGGER_VERIFY_PUBKEY_PARSE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* what a key text is */
#define NGX_HTTP_B24TRIGGER_PUBKEY_PEM    1   /* "-----BEGIN ": OpenSSL's */
#define NGX_HTTP_B24TRIGGER_PUBKEY_RAW    2   /* "whpk_": raw Ed25519 */
#define NGX_HTTP_B24TRIGGER_PUBKEY_DER    3   /* base64 of a DER key */

/* an Ed25519 public key, an Ed25519 signature */
#define NGX_HTTP_B24TRIGGER_ED25519_KEY   32
#define NGX_HTTP_B24TRIGGER_ED25519_SIG   64

/* the largest DER key read inline, the largest signature (RSA 4096) */
#define NGX_HTTP_B24TRIGGER_PUBKEY_MAX    4096
#define NGX_HTTP_B24TRIGGER_PUBSIG_MAX    512


/*
 * A key as written, blanks and line ends around it ignored: PEM (nothing
 * decoded, *kind PEM), "whpk_" and base64 of 32 bytes (decoded into dst),
 * or base64 of at most NGX_HTTP_B24TRIGGER_PUBKEY_MAX bytes (decoded into
 * dst, for d2i_PUBKEY()).  dst holds NGX_HTTP_B24TRIGGER_PUBKEY_MAX bytes.
 * Returns NGX_OK, or NGX_DECLINED for anything else, *why then saying
 * what, without the key.
 */
ngx_int_t ngx_http_b24trigger_pubkey_text(u_char *p, size_t len,
    ngx_uint_t *kind, u_char *dst, size_t *n, const char **why);

/*
 * A base64 signature (either alphabet, blanks around trimmed) into at
 * most max bytes at dst, max <= NGX_HTTP_B24TRIGGER_PUBSIG_MAX.  Returns
 * the length, or -1 when it is empty, malformed or longer than max.
 */
ssize_t ngx_http_b24trigger_pubsig_decode(u_char *dst, size_t max,
    u_char *src, size_t len);

/*
 * Paddle Classic: PHP's serialize() of the form fields but the one named
 * skip, sorted by name as ksort() sorts them, every value a string:
 * a:N:{s:LEN:"name";s:LEN:"value";...}.  root holds
 * ngx_http_b24trigger_root_t (names unique, as a strict read leaves
 * them).  A name that PHP would not keep as it is ($_POST rewrites
 * blanks, dots and brackets, turns digits into an integer key) makes it
 * NGX_DECLINED with *bad set to that name; otherwise NGX_OK, or NGX_ERROR.
 */
ngx_int_t ngx_http_b24trigger_php_serialize(ngx_pool_t *pool,
    ngx_array_t *root, ngx_str_t *skip, ngx_str_t *out, ngx_str_t *bad);


#endif /* _NGX_HTTP_B24TRIGGER_VERIFY_PUBKEY_PARSE_H_INCLUDED_ */
