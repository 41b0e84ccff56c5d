
/*
 * Copyright (C) b24trigger authors
 *
 * Signature headers and their encodings, taken apart: hex and base64
 * decoders, the "t=..,v1=.." and "ts=..;h1=.." lists, the Standard
 * Webhooks "v1,<b64> v1,<b64>" list, "sha256=" prefixes and Unix
 * timestamps.  Pure functions over bytes: they use nginx types and inline
 * macros only, never the nginx runtime (no pools, no logs), so that the
 * fuzz targets in fuzz/ link them alone.  They know nothing about HTTP,
 * keys or Bitrix24.
 */


#ifndef _NGX_HTTP_B24TRIGGER_VERIFY_SIG_H_INCLUDED_
#define _NGX_HTTP_B24TRIGGER_VERIFY_SIG_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_HTTP_B24TRIGGER_HEX      0
#define NGX_HTTP_B24TRIGGER_BASE64   1

/* an HMAC is at most SHA-512 long */
#define NGX_HTTP_B24TRIGGER_SIG_MAX  64

/* at most 12 digits: the year 33658 is far enough */
#define NGX_HTTP_B24TRIGGER_TS_DIGITS  12


/* the signatures of one header, and its timestamp where it carries one */

typedef struct {
    ngx_str_t    timestamp;
    ngx_str_t   *sigs;        /* the caller's array of nalloc entries */
    ngx_uint_t   nsigs;
    ngx_uint_t   nalloc;
} ngx_http_b24trigger_sig_list_t;


/*
 * Hex of either case into bytes: returns the number of bytes written to
 * dst (len / 2) or -1 for an odd length or a non-hex character.
 */
ssize_t ngx_http_b24trigger_hex_decode(u_char *dst, u_char *src, size_t len);

/*
 * Base64 into bytes, the standard or the URL-safe alphabet, "=" padding
 * optional but, when present, correct.  dst must hold
 * ngx_http_b24trigger_base64_size(len) bytes.  Returns the number of bytes
 * written or -1 for a malformed input.
 */
ssize_t ngx_http_b24trigger_base64_decode(u_char *dst, u_char *src,
    size_t len);

#define ngx_http_b24trigger_base64_size(len)  (((len) + 3) / 4 * 3)

/*
 * A signature in its encoding (NGX_HTTP_B24TRIGGER_HEX or _BASE64) into
 * at most NGX_HTTP_B24TRIGGER_SIG_MAX bytes at dst.  Returns the length or
 * -1 when it is malformed or too long to be an HMAC.
 */
ssize_t ngx_http_b24trigger_sig_decode(ngx_uint_t encoding, u_char *dst,
    u_char *src, size_t len);

/* how many items a list separated by sep may hold at most */
ngx_uint_t ngx_http_b24trigger_sig_items(u_char *p, size_t len, u_char sep);

/*
 * "t=1700000000,v1=ab..,v1=cd..,v0=ef.." (Stripe, sep ',', ts_key "t",
 * sig_key "v1") or "ts=1700000000;h1=ab..;h1=cd.." (Paddle, sep ';'):
 * every sig_key value goes to list->sigs, the ts_key value to
 * list->timestamp; other keys are ignored, blanks around items trimmed.
 * Returns NGX_OK, or NGX_DECLINED when a signature does not fit in
 * list->nalloc (never with an array from ngx_http_b24trigger_sig_items).
 */
ngx_int_t ngx_http_b24trigger_sig_parse_kv(u_char *p, size_t len,
    u_char sep, ngx_str_t *ts_key, ngx_str_t *sig_key,
    ngx_http_b24trigger_sig_list_t *list);

/*
 * "v1,g0hM.. v1,Abc.. v1a,xyz.." (Standard Webhooks): the signatures of
 * the given version, separated by blanks.  Returns as above.
 */
ngx_int_t ngx_http_b24trigger_sig_parse_versioned(u_char *p, size_t len,
    ngx_str_t *version, ngx_http_b24trigger_sig_list_t *list);

/*
 * "sha256=757107ea..", "v0=a2114d.." with the prefix compared as is;
 * blanks around the value are trimmed.  Returns NGX_OK and the part after
 * the prefix in sig, or NGX_DECLINED when the prefix is not there.
 */
ngx_int_t ngx_http_b24trigger_sig_strip_prefix(u_char *p, size_t len,
    ngx_str_t *prefix, ngx_str_t *sig);

/*
 * A Unix time in seconds: 1 to NGX_HTTP_B24TRIGGER_TS_DIGITS digits,
 * blanks around allowed.  Returns NGX_OK or NGX_DECLINED.
 */
ngx_int_t ngx_http_b24trigger_sig_timestamp(u_char *p, size_t len,
    time_t *t);


#endif /* _NGX_HTTP_B24TRIGGER_VERIFY_SIG_H_INCLUDED_ */
