
/*
 * Copyright (C) b24trigger authors
 *
 * HMAC signatures: the generic "hmac" scheme, and the verification of
 * every HMAC scheme, "hmac" or a preset described in
 * ngx_http_b24trigger_verify_presets.c, with or without a timestamp, and
 * the two handshakes (Slack url_verification, the WooCommerce ping).
 * The messages over a URL, HubSpot's timestamp and Zoom's answer are
 * built by ngx_http_b24trigger_verify_message.c, what else a verified
 * body says is read by ngx_http_b24trigger_verify_event.c.
 * Every configured key is tried against every signature the request
 * lists, with no early exit.  Each key's HMAC is keyed once, at
 * configuration time: per request only the message is hashed.  Knows
 * nothing about Bitrix24.
 */


/*
 * The keyed states are OpenSSL's low-level SHA contexts, deprecated in
 * 3.0 but still there; nginx's ngx_event_openssl.h defines this too
 */
#ifndef OPENSSL_SUPPRESS_DEPRECATED
#define OPENSSL_SUPPRESS_DEPRECATED
#endif


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <jansson.h>

#include "ngx_http_b24trigger_verify_schemes.h"
#include "ngx_http_b24trigger_verify_message.h"


/*
 * An OpenSSL built without the 3.0 deprecated API has no SHA contexts:
 * every HMAC is then computed by HMAC(), keyed on every request
 */
#ifndef OPENSSL_NO_DEPRECATED_3_0
#define NGX_HTTP_B24TRIGGER_HMAC_KEYED  1
#else
#define NGX_HTTP_B24TRIGGER_HMAC_KEYED  0
#endif


/* the headers of a signature's name read in one walk; more, one by one */
#define NGX_HTTP_B24TRIGGER_SIG_HEADERS  8


#if (NGX_HTTP_B24TRIGGER_HMAC_KEYED)

typedef union {
    SHA_CTX                      sha1;
    SHA256_CTX                   sha256;
    SHA512_CTX                   sha512;
} ngx_http_b24trigger_sha_ctx_t;


/*
 * RFC 2104: HMAC(K, m) = H((K' ^ opad) || H((K' ^ ipad) || m)), K' the key
 * padded to the hash's block, or its hash when longer than a block.  Both
 * states after their first block are kept; a request copies them and
 * hashes only m, then the inner digest.
 */

struct ngx_http_b24trigger_hmac_key_s {
    int                              nid;        /* NID_sha1, NID_sha256,
                                                    NID_sha512 */
    ngx_http_b24trigger_sha_ctx_t    inner;      /* after K' ^ ipad */
    ngx_http_b24trigger_sha_ctx_t    outer;      /* after K' ^ opad */
};

#endif


static ngx_int_t ngx_http_b24trigger_hmac_signatures(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_http_b24trigger_sig_list_t *list,
    ngx_int_t *family, ngx_uint_t *headers);
static ngx_int_t ngx_http_b24trigger_hmac_message(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_str_t *id, ngx_str_t *ts,
    ngx_str_t *body, ngx_str_t *head, ngx_str_t *msg);
static ngx_uint_t ngx_http_b24trigger_hmac_match(ngx_pool_t *pool,
    const EVP_MD *md, ngx_uint_t encoding, ngx_array_t *keys,
    ngx_str_t *head, ngx_str_t *msg, ngx_str_t *sigs, ngx_uint_t n,
    ngx_uint_t *which, ngx_int_t *err);
static ngx_int_t ngx_http_b24trigger_hmac(const EVP_MD *md,
    ngx_http_b24trigger_key_t *key, ngx_str_t *head, ngx_str_t *msg,
    u_char *mac, unsigned int *len);
static ngx_int_t ngx_http_b24trigger_slack_handshake(ngx_http_request_t *r,
    ngx_str_t *body, ngx_http_b24trigger_verdict_t *vd);
static ngx_int_t ngx_http_b24trigger_woo_ping(ngx_http_request_t *r,
    ngx_str_t *body, ngx_http_b24trigger_verdict_t *vd);
static char *ngx_http_b24trigger_hmac_template(ngx_conf_t *cf,
    ngx_http_b24trigger_verify_t *v, ngx_str_t *value);


/*
 * hmac [alg=sha1|sha256|sha512] header=NAME [prefix=STR]
 *      [encoding=hex|base64] [message=VALUE]
 *      [timestamp=VALUE [tolerance=TIME]]
 */

char *
ngx_http_b24trigger_hmac_parse(ngx_conf_t *cf,
    ngx_http_b24trigger_verify_t *v, ngx_str_t *args, ngx_uint_t nargs)
{
    char                              *rv;
    ngx_str_t                          s;
    ngx_uint_t                         i;
    ngx_http_b24trigger_hmac_t        *h;
    ngx_http_compile_complex_value_t   ccv;

    h = ngx_pcalloc(cf->pool, sizeof(ngx_http_b24trigger_hmac_t));
    if (h == NULL) {
        return NGX_CONF_ERROR;
    }

    v->hmac = h;
    h->encoding = NGX_HTTP_B24TRIGGER_HEX;

    for (i = 1; i < nargs; i++) {

        if (args[i].len > 4 && ngx_strncmp(args[i].data, "alg=", 4) == 0) {
            s.data = args[i].data + 4;
            s.len = args[i].len - 4;

            v->md = ngx_http_b24trigger_md(&s, 0);
            if (v->md == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"alg\" value \"%V\" of scheme "
                                   "\"hmac\", expected sha1, sha256 or "
                                   "sha512", &s);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (args[i].len > 7 && ngx_strncmp(args[i].data, "header=", 7) == 0)
        {
            h->header[0].data = args[i].data + 7;
            h->header[0].len = args[i].len - 7;
            continue;
        }

        if (args[i].len > 7 && ngx_strncmp(args[i].data, "prefix=", 7) == 0)
        {
            h->prefix.data = args[i].data + 7;
            h->prefix.len = args[i].len - 7;
            h->grammar = NGX_HTTP_B24TRIGGER_GRAMMAR_PREFIX;
            continue;
        }

        if (args[i].len == 12
            && ngx_strncmp(args[i].data, "encoding=hex", 12) == 0)
        {
            h->encoding = NGX_HTTP_B24TRIGGER_HEX;
            continue;
        }

        if (args[i].len == 15
            && ngx_strncmp(args[i].data, "encoding=base64", 15) == 0)
        {
            h->encoding = NGX_HTTP_B24TRIGGER_BASE64;
            continue;
        }

        if (args[i].len > 8 && ngx_strncmp(args[i].data, "message=", 8) == 0)
        {
            s.data = args[i].data + 8;
            s.len = args[i].len - 8;

            rv = ngx_http_b24trigger_hmac_template(cf, v, &s);
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            h->message = NGX_HTTP_B24TRIGGER_MSG_TEMPLATE;
            continue;
        }

        if (args[i].len > 10
            && ngx_strncmp(args[i].data, "timestamp=", 10) == 0)
        {
            s.data = args[i].data + 10;
            s.len = args[i].len - 10;

            v->timestamp = ngx_palloc(cf->pool,
                                      sizeof(ngx_http_complex_value_t));
            if (v->timestamp == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

            ccv.cf = cf;
            ccv.value = &s;
            ccv.complex_value = v->timestamp;

            if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (args[i].len > 10
            && ngx_strncmp(args[i].data, "tolerance=", 10) == 0)
        {
            s.data = args[i].data + 10;
            s.len = args[i].len - 10;

            v->tolerance = ngx_parse_time(&s, 1);
            if (v->tolerance == (time_t) NGX_ERROR || v->tolerance == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"tolerance\" value \"%V\" of "
                                   "scheme \"hmac\", expected a time such "
                                   "as 300s or 5m", &s);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" of scheme \"hmac\"",
                           &args[i]);
        return NGX_CONF_ERROR;
    }

    if (h->header[0].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "scheme \"hmac\" needs \"header=NAME\", the "
                           "header that carries the signature");
        return NGX_CONF_ERROR;
    }

    if (v->tolerance != NGX_CONF_UNSET && v->timestamp == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tolerance\" of scheme \"hmac\" needs "
                           "\"timestamp=VALUE\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * "message=" is a complex value in which the literal "{body}" stands for
 * the raw body: it is cut there into pieces compiled one by one
 */

static char *
ngx_http_b24trigger_hmac_template(ngx_conf_t *cf,
    ngx_http_b24trigger_verify_t *v, ngx_str_t *value)
{
    u_char                            *p, *last, *q;
    ngx_str_t                          piece;
    ngx_http_b24trigger_part_t        *part;
    ngx_http_compile_complex_value_t   ccv;

    if (v->message != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate \"message\" of scheme \"hmac\"");
        return NGX_CONF_ERROR;
    }

    v->message = ngx_array_create(cf->pool, 2,
                                  sizeof(ngx_http_b24trigger_part_t));
    if (v->message == NULL) {
        return NGX_CONF_ERROR;
    }

    p = value->data;
    last = value->data + value->len;

    while (p < last) {

        for (q = p; q < last; q++) {
            if (last - q >= 6 && ngx_strncmp(q, "{body}", 6) == 0) {
                break;
            }
        }

        part = ngx_array_push(v->message);
        if (part == NULL) {
            return NGX_CONF_ERROR;
        }

        part->value = NULL;
        part->body = (q < last);

        if (q > p) {
            piece.data = p;
            piece.len = q - p;

            part->value = ngx_palloc(cf->pool,
                                     sizeof(ngx_http_complex_value_t));
            if (part->value == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

            ccv.cf = cf;
            ccv.value = &piece;
            ccv.complex_value = part->value;

            if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
                return NGX_CONF_ERROR;
            }
        }

        p = part->body ? q + 6 : last;
    }

    if (v->message->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty \"message\" of scheme \"hmac\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_b24trigger_hmac_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd)
{
    time_t                           ts;
    ngx_int_t                        family, rc;
    ngx_str_t                        tsv, id, head, msg, *name;
    ngx_uint_t                       headers, match, which;
    ngx_table_elt_t                 *e;
    ngx_http_b24trigger_hmac_t      *h;
    ngx_http_b24trigger_sig_list_t   list;

    h = v->hmac;

    ngx_memzero(&list, sizeof(ngx_http_b24trigger_sig_list_t));

    rc = ngx_http_b24trigger_hmac_signatures(r, v, &list, &family, &headers);
    if (rc != NGX_OK) {
        return rc;
    }

    if (headers == 0) {

        if (h->handshake == NGX_HTTP_B24TRIGGER_HANDSHAKE_WOO_PING) {
            rc = ngx_http_b24trigger_woo_ping(r, body, vd);
            if (rc != NGX_DECLINED) {
                return rc;
            }
        }

        return ngx_http_b24trigger_refusal(r, vd, "signature_missing",
                                           "no \"%V\" header",
                                           &h->header[0]);
    }

    name = &h->header[family];

    if (list.nsigs == 0) {
        return ngx_http_b24trigger_refusal(r, vd, "signature_invalid",
                                           "no signature in \"%V\" header",
                                           name);
    }

    /* the timestamp and the message id, where the scheme signs them */

    ngx_str_null(&tsv);
    ngx_str_null(&id);

    if (h->grammar == NGX_HTTP_B24TRIGGER_GRAMMAR_KV) {
        tsv = list.timestamp;

        if (tsv.data == NULL) {
            return ngx_http_b24trigger_refusal(r, vd, "signature_invalid",
                                               "no timestamp in \"%V\" "
                                               "header", name);
        }

    } else if (h->ts_header[0].len) {
        e = ngx_http_b24trigger_header(r, &h->ts_header[family], 0);

        if (e == NULL || e->value.len == 0) {
            return ngx_http_b24trigger_refusal(r, vd, "signature_missing",
                                               "no \"%V\" header",
                                               &h->ts_header[family]);
        }

        tsv = e->value;

    } else if (v->timestamp) {
        if (ngx_http_complex_value(r, v->timestamp, &tsv) != NGX_OK) {
            return NGX_ERROR;
        }

        if (tsv.len == 0) {
            return ngx_http_b24trigger_refusal(r, vd, "signature_missing",
                                               "no timestamp");
        }
    }

    if (h->id_header[0].len) {
        e = ngx_http_b24trigger_header(r, &h->id_header[family], 0);

        if (e == NULL || e->value.len == 0) {
            return ngx_http_b24trigger_refusal(r, vd, "signature_missing",
                                               "no \"%V\" header",
                                               &h->id_header[family]);
        }

        id = e->value;

        /*
         * "<id>.<timestamp>.<body>": the timestamp is digits, so the
         * pieces are where the first two dots are, unless the id holds
         * one; then a body's text could become a fresh timestamp
         */

        if (ngx_strlchr(id.data, id.data + id.len, '.')) {
            return ngx_http_b24trigger_refusal(r, vd, "signature_invalid",
                                               "\"%V\" header holds \".\"",
                                               &h->id_header[family]);
        }
    }

    ts = 0;

    if (tsv.data
        && (h->message == NGX_HTTP_B24TRIGGER_MSG_METHOD_URL
            ? ngx_http_b24trigger_message_ms(tsv.data, tsv.len, &ts)
            : ngx_http_b24trigger_sig_timestamp(tsv.data, tsv.len, &ts))
           != NGX_OK)
    {
        return ngx_http_b24trigger_refusal(r, vd, "signature_invalid",
                                           "malformed timestamp");
    }

    if (ngx_http_b24trigger_hmac_message(r, v, &id, &tsv, body, &head, &msg)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = NGX_OK;
    which = 0;
    match = ngx_http_b24trigger_hmac_match(r->pool, v->md, h->encoding,
                                           keys, &head, &msg, list.sigs,
                                           list.nsigs, &which, &rc);
    if (rc != NGX_OK) {
        return rc;
    }

    if (!match) {
        return ngx_http_b24trigger_refusal(r, vd, "signature_invalid",
                                           "%ui signature%s in \"%V\", "
                                           "none matches", list.nsigs,
                                           list.nsigs == 1 ? "" : "s",
                                           name);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "b24trigger verify: one of %ui signature(s) matches",
                   list.nsigs);

    /*
     * what the replay shield keys on: the signed bytes themselves, not the
     * signature that matched, so that a request signed with two secrets
     * (rotation) is the same request whichever of its signatures a replay
     * keeps, and a reload that adds a secret forgets nothing
     */

    vd->signature_head = head;
    vd->signature = msg;

    if (tsv.data) {
        rc = ngx_http_b24trigger_check_time(r, ts, v->tolerance, vd);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (h->handshake == NGX_HTTP_B24TRIGGER_HANDSHAKE_SLACK) {
        return ngx_http_b24trigger_slack_handshake(r, body, vd);
    }

    if (h->handshake == NGX_HTTP_B24TRIGGER_HANDSHAKE_ZOOM) {
        return ngx_http_b24trigger_zoom_handshake(r, v->md,
                           (ngx_http_b24trigger_key_t *) keys->elts + which,
                           vd);
    }

    return ngx_http_b24trigger_event_key(r, h, vd);
}


/*
 * Every signature of every header that may carry one, into list; family
 * is the header name found first (0 or 1), headers how many there are
 */

static ngx_int_t
ngx_http_b24trigger_hmac_signatures(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_http_b24trigger_sig_list_t *list,
    ngx_int_t *family, ngx_uint_t *headers)
{
    u_char                      *p, *last;
    ngx_str_t                    sig;
    ngx_uint_t                   f, n, items, count[2];
    ngx_table_elt_t             *e, *found[2][NGX_HTTP_B24TRIGGER_SIG_HEADERS];
    ngx_http_b24trigger_hmac_t  *h;

    h = v->hmac;

    *family = 0;
    *headers = 0;
    items = 0;

    /* each name's headers in one walk; past the first few, one by one */

    for (f = 0; f < 2 && h->header[f].len; f++) {
        count[f] = ngx_http_b24trigger_headers(r, &h->header[f],
                                            v->header_low[f].data, found[f],
                                            NGX_HTTP_B24TRIGGER_SIG_HEADERS);

        if (count[f] && *headers == 0) {
            *family = f;
        }

        *headers += count[f];

        /*
         * a plain signature, or one after a prefix, is one a header:
         * the other grammars list several, counted to size the list
         */

        if (h->grammar == NGX_HTTP_B24TRIGGER_GRAMMAR_PLAIN
            || h->grammar == NGX_HTTP_B24TRIGGER_GRAMMAR_PREFIX)
        {
            items += count[f];
            continue;
        }

        for (n = 0; n < count[f]; n++) {
            e = (n < NGX_HTTP_B24TRIGGER_SIG_HEADERS)
                ? found[f][n] : ngx_http_b24trigger_header(r, &h->header[f], n);

            items += ngx_http_b24trigger_sig_items(e->value.data,
                                                   e->value.len,
                                                   h->sep ? h->sep : ' ');
        }
    }

    if (*headers == 0) {
        return NGX_OK;
    }

    list->sigs = ngx_palloc(r->pool, items * sizeof(ngx_str_t));
    if (list->sigs == NULL) {
        return NGX_ERROR;
    }

    list->nalloc = items;

    for (f = 0; f < 2 && h->header[f].len; f++) {
        for (n = 0; n < count[f]; n++) {
            e = (n < NGX_HTTP_B24TRIGGER_SIG_HEADERS)
                ? found[f][n] : ngx_http_b24trigger_header(r, &h->header[f], n);

            p = e->value.data;
            last = p + e->value.len;

            switch (h->grammar) {

            case NGX_HTTP_B24TRIGGER_GRAMMAR_KV:
                (void) ngx_http_b24trigger_sig_parse_kv(p, last - p, h->sep,
                                                        &h->ts_key,
                                                        &h->sig_key, list);
                break;

            case NGX_HTTP_B24TRIGGER_GRAMMAR_VERSIONED:
                (void) ngx_http_b24trigger_sig_parse_versioned(p, last - p,
                                                               &h->prefix,
                                                               list);
                break;

            default:

                /* NGX_HTTP_B24TRIGGER_GRAMMAR_PREFIX, or _PLAIN: no prefix */

                if (ngx_http_b24trigger_sig_strip_prefix(p, last - p,
                                                         &h->prefix, &sig)
                    == NGX_OK
                    && sig.len)
                {
                    list->sigs[list->nsigs++] = sig;
                }
                break;
            }
        }
    }

    return NGX_OK;
}


/*
 * What the scheme signs: head, then msg.  Where it signs a timestamp (and
 * an id) before the body, head holds them and msg is the body itself, not
 * a copy of it; elsewhere head is empty.
 */

static ngx_int_t
ngx_http_b24trigger_hmac_message(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_str_t *id, ngx_str_t *ts,
    ngx_str_t *body, ngx_str_t *head, ngx_str_t *msg)
{
    u_char                      *p;
    size_t                       len;
    ngx_str_t                   *val, url, method;
    ngx_uint_t                   i;
    ngx_http_b24trigger_part_t  *part;

    ngx_str_null(head);

    switch (v->hmac->message) {

    case NGX_HTTP_B24TRIGGER_MSG_BODY:
        *msg = *body;
        return NGX_OK;

    case NGX_HTTP_B24TRIGGER_MSG_TEMPLATE:
        break;

    case NGX_HTTP_B24TRIGGER_MSG_URL:
    case NGX_HTTP_B24TRIGGER_MSG_METHOD_URL:

        /* the public URL of "url=", as the sender was told it */

        if (ngx_http_complex_value(r, v->url, &url) != NGX_OK) {
            return NGX_ERROR;
        }

        /* Square signs no method and has no timestamp: ts is empty */

        if (v->hmac->message == NGX_HTTP_B24TRIGGER_MSG_URL) {
            ngx_str_null(&method);

        } else {
            method = r->method_name;
        }

        return ngx_http_b24trigger_message_url(r->pool, &method, &url, body,
                                               ts, msg);

    default:
        len = sizeof("v0::") - 1 + id->len + 1 + ts->len;

#if !(NGX_HTTP_B24TRIGGER_HMAC_KEYED)
        len += body->len;
#endif

        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        head->data = p;

        switch (v->hmac->message) {

        case NGX_HTTP_B24TRIGGER_MSG_TS_DOT:
            p = ngx_cpymem(p, ts->data, ts->len);
            *p++ = '.';
            break;

        case NGX_HTTP_B24TRIGGER_MSG_TS_COLON:
            p = ngx_cpymem(p, ts->data, ts->len);
            *p++ = ':';
            break;

        case NGX_HTTP_B24TRIGGER_MSG_V0:
            p = ngx_cpymem(p, "v0:", sizeof("v0:") - 1);
            p = ngx_cpymem(p, ts->data, ts->len);
            *p++ = ':';
            break;

        default: /* NGX_HTTP_B24TRIGGER_MSG_ID_TS */
            p = ngx_cpymem(p, id->data, id->len);
            *p++ = '.';
            p = ngx_cpymem(p, ts->data, ts->len);
            *p++ = '.';
            break;
        }

        head->len = p - head->data;

#if (NGX_HTTP_B24TRIGGER_HMAC_KEYED)

        /* the body is hashed where it is, after the head */

        *msg = *body;

#else

        /* HMAC() takes one buffer */

        p = ngx_cpymem(p, body->data, body->len);

        msg->data = head->data;
        msg->len = p - msg->data;

        ngx_str_null(head);

#endif

        return NGX_OK;
    }

    /* the "message=" template of "hmac" */

    part = v->message->elts;

    val = ngx_palloc(r->pool, v->message->nelts * sizeof(ngx_str_t));
    if (val == NULL) {
        return NGX_ERROR;
    }

    len = 0;

    for (i = 0; i < v->message->nelts; i++) {
        ngx_str_null(&val[i]);

        if (part[i].value
            && ngx_http_complex_value(r, part[i].value, &val[i]) != NGX_OK)
        {
            return NGX_ERROR;
        }

        len += val[i].len + (part[i].body ? body->len : 0);
    }

    p = ngx_pnalloc(r->pool, len ? len : 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    msg->data = p;

    for (i = 0; i < v->message->nelts; i++) {
        p = ngx_cpymem(p, val[i].data, val[i].len);

        if (part[i].body) {
            p = ngx_cpymem(p, body->data, body->len);
        }
    }

    msg->len = p - msg->data;

    return NGX_OK;
}


/*
 * HMAC of msg with every key, compared in constant time with every
 * signature that decodes to an HMAC's length; no early exit, so the time
 * taken tells neither which key nor which signature matched.  *which is
 * the index of a key that matched (Zoom's handshake answers with it).
 */

static ngx_uint_t
ngx_http_b24trigger_hmac_match(ngx_pool_t *pool, const EVP_MD *md,
    ngx_uint_t encoding, ngx_array_t *keys, ngx_str_t *head, ngx_str_t *msg,
    ngx_str_t *sigs, ngx_uint_t n, ngx_uint_t *which, ngx_int_t *err)
{
    u_char                     *dec;
    ssize_t                    *declen;
    ngx_uint_t                  i, j, match, eq;
    unsigned int                maclen;
    ngx_http_b24trigger_key_t  *key;
    u_char                      mac[EVP_MAX_MD_SIZE];

    /* decoded once, before any key is used */

    declen = ngx_palloc(pool, n * sizeof(ssize_t));
    dec = ngx_pnalloc(pool, n * NGX_HTTP_B24TRIGGER_SIG_MAX);

    if (declen == NULL || dec == NULL) {
        *err = NGX_ERROR;
        return 0;
    }

    maclen = 0;

    for (j = 0; j < n; j++) {
        declen[j] = ngx_http_b24trigger_sig_decode(encoding,
                                        dec + j * NGX_HTTP_B24TRIGGER_SIG_MAX,
                                        sigs[j].data, sigs[j].len);
    }

    key = keys->elts;
    match = 0;

    for (i = 0; i < keys->nelts; i++) {

        if (ngx_http_b24trigger_hmac(md, &key[i], head, msg, mac, &maclen)
            != NGX_OK)
        {
            *err = NGX_ERROR;
            break;
        }

        for (j = 0; j < n; j++) {
            if (declen[j] == (ssize_t) maclen) {
                eq = ngx_http_b24trigger_equal(mac,
                                        dec + j * NGX_HTTP_B24TRIGGER_SIG_MAX,
                                        maclen);

                /* *which = i where it matched, without a branch */

                *which ^= (*which ^ i) & (0 - eq);
                match |= eq;
            }
        }
    }

    ngx_explicit_memzero(mac, sizeof(mac));

    return match;
}


/*
 * At configuration time: the key's two states, for sha1, sha256 and
 * sha512.  Any other digest, or an OpenSSL without the SHA contexts,
 * leaves key->hmac NULL (HMAC() per request).  NGX_DECLINED: the key
 * could not be hashed.
 */

ngx_int_t
ngx_http_b24trigger_hmac_key(ngx_pool_t *pool, const EVP_MD *md,
    ngx_http_b24trigger_key_t *key)
{
#if (NGX_HTTP_B24TRIGGER_HMAC_KEYED)

    int                              nid;
    size_t                           i, block;
    ngx_http_b24trigger_hmac_key_t  *hk;
    u_char                           k[SHA512_CBLOCK];
    u_char                           ipad[SHA512_CBLOCK];
    u_char                           opad[SHA512_CBLOCK];

    key->hmac = NULL;

    nid = EVP_MD_type(md);

    switch (nid) {

    case NID_sha1:
        block = SHA_CBLOCK;
        break;

    case NID_sha256:
        block = SHA256_CBLOCK;
        break;

    case NID_sha512:
        block = SHA512_CBLOCK;
        break;

    default:
        return NGX_OK;
    }

    hk = ngx_palloc(pool, sizeof(ngx_http_b24trigger_hmac_key_t));
    if (hk == NULL) {
        return NGX_ERROR;
    }

    hk->nid = nid;

    /* K': a key longer than a block is hashed first, then zero-padded */

    ngx_memzero(k, sizeof(k));

    if (key->value.len > block) {
        if (EVP_Digest(key->value.data, key->value.len, k, NULL, md, NULL)
            != 1)
        {
            ngx_explicit_memzero(k, sizeof(k));
            return NGX_DECLINED;
        }

    } else {
        ngx_memcpy(k, key->value.data, key->value.len);
    }

    for (i = 0; i < block; i++) {
        ipad[i] = k[i] ^ 0x36;
        opad[i] = k[i] ^ 0x5c;
    }

    switch (nid) {

    case NID_sha1:
        (void) SHA1_Init(&hk->inner.sha1);
        (void) SHA1_Update(&hk->inner.sha1, ipad, block);
        (void) SHA1_Init(&hk->outer.sha1);
        (void) SHA1_Update(&hk->outer.sha1, opad, block);
        break;

    case NID_sha256:
        (void) SHA256_Init(&hk->inner.sha256);
        (void) SHA256_Update(&hk->inner.sha256, ipad, block);
        (void) SHA256_Init(&hk->outer.sha256);
        (void) SHA256_Update(&hk->outer.sha256, opad, block);
        break;

    default: /* NID_sha512 */
        (void) SHA512_Init(&hk->inner.sha512);
        (void) SHA512_Update(&hk->inner.sha512, ipad, block);
        (void) SHA512_Init(&hk->outer.sha512);
        (void) SHA512_Update(&hk->outer.sha512, opad, block);
        break;
    }

    ngx_explicit_memzero(k, sizeof(k));
    ngx_explicit_memzero(ipad, sizeof(ipad));
    ngx_explicit_memzero(opad, sizeof(opad));

    key->hmac = hk;

#else

    key->hmac = NULL;

#endif

    return NGX_OK;
}


/*
 * Per request: the HMAC of msg, from the key's states copied by
 * assignment (no allocation, no lookup of the algorithm), else by HMAC()
 */

static ngx_int_t
ngx_http_b24trigger_hmac(const EVP_MD *md, ngx_http_b24trigger_key_t *key,
    ngx_str_t *head, ngx_str_t *msg, u_char *mac, unsigned int *len)
{
#if (NGX_HTTP_B24TRIGGER_HMAC_KEYED)

    ngx_http_b24trigger_sha_ctx_t    ctx;
    ngx_http_b24trigger_hmac_key_t  *hk;

    hk = key->hmac;

    if (hk) {

        switch (hk->nid) {

        case NID_sha1:
            ctx.sha1 = hk->inner.sha1;
            (void) SHA1_Update(&ctx.sha1, head->data, head->len);
            (void) SHA1_Update(&ctx.sha1, msg->data, msg->len);
            (void) SHA1_Final(mac, &ctx.sha1);

            ctx.sha1 = hk->outer.sha1;
            (void) SHA1_Update(&ctx.sha1, mac, SHA_DIGEST_LENGTH);
            (void) SHA1_Final(mac, &ctx.sha1);

            *len = SHA_DIGEST_LENGTH;
            break;

        case NID_sha256:
            ctx.sha256 = hk->inner.sha256;
            (void) SHA256_Update(&ctx.sha256, head->data, head->len);
            (void) SHA256_Update(&ctx.sha256, msg->data, msg->len);
            (void) SHA256_Final(mac, &ctx.sha256);

            ctx.sha256 = hk->outer.sha256;
            (void) SHA256_Update(&ctx.sha256, mac, SHA256_DIGEST_LENGTH);
            (void) SHA256_Final(mac, &ctx.sha256);

            *len = SHA256_DIGEST_LENGTH;
            break;

        default: /* NID_sha512 */
            ctx.sha512 = hk->inner.sha512;
            (void) SHA512_Update(&ctx.sha512, head->data, head->len);
            (void) SHA512_Update(&ctx.sha512, msg->data, msg->len);
            (void) SHA512_Final(mac, &ctx.sha512);

            ctx.sha512 = hk->outer.sha512;
            (void) SHA512_Update(&ctx.sha512, mac, SHA512_DIGEST_LENGTH);
            (void) SHA512_Final(mac, &ctx.sha512);

            *len = SHA512_DIGEST_LENGTH;
            break;
        }

        /* the copies hold the keyed state: not left on the stack */

        ngx_explicit_memzero(&ctx, sizeof(ngx_http_b24trigger_sha_ctx_t));

        return NGX_OK;
    }

#endif

    if (HMAC(md, key->value.data, (int) key->value.len, msg->data, msg->len,
             mac, len)
        == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Slack's url_verification (signed, so checked first): answered with the
 * challenge, nothing forwarded
 */

static ngx_int_t
ngx_http_b24trigger_slack_handshake(ngx_http_request_t *r, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd)
{
    char         *out;
    json_t       *root, *type, *challenge, *reply;
    ngx_int_t     rc;
    json_error_t  err;

    if (ngx_strlcasestrn(body->data, body->data + body->len,
                         (u_char *) "url_verification",
                         sizeof("url_verification") - 2)
        == NULL)
    {
        return NGX_OK;
    }

    root = json_loadb((char *) body->data, body->len, 0, &err);
    if (root == NULL) {
        return NGX_OK;
    }

    rc = NGX_OK;
    type = json_object_get(root, "type");
    challenge = json_object_get(root, "challenge");

    if (json_is_string(type)
        && ngx_strcmp(json_string_value(type), "url_verification") == 0
        && json_is_string(challenge))
    {
        rc = NGX_ERROR;

        reply = json_pack("{s:O}", "challenge", challenge);

        if (reply) {
            out = json_dumps(reply, JSON_COMPACT);

            if (out) {
                vd->reply.len = ngx_strlen(out);
                vd->reply.data = ngx_pnalloc(r->pool, vd->reply.len);

                if (vd->reply.data) {
                    ngx_memcpy(vd->reply.data, out, vd->reply.len);
                    ngx_str_set(&vd->reply_type, "application/json");
                    rc = NGX_DONE;
                }

                free(out);
            }

            json_decref(reply);
        }

        if (rc == NGX_DONE) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "b24trigger: slack url_verification answered");
        }
    }

    json_decref(root);

    return rc;
}


/*
 * WooCommerce pings a new webhook with an unsigned "webhook_id=N" and
 * activates it only on 200: answered here, nothing forwarded
 */

static ngx_int_t
ngx_http_b24trigger_woo_ping(ngx_http_request_t *r, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd)
{
    size_t   i;
    u_char  *p;

    p = body->data;

    if (body->len <= sizeof("webhook_id=") - 1
        || body->len > sizeof("webhook_id=") - 1 + 19
        || ngx_strncmp(p, "webhook_id=", sizeof("webhook_id=") - 1) != 0)
    {
        return NGX_DECLINED;
    }

    for (i = sizeof("webhook_id=") - 1; i < body->len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return NGX_DECLINED;
        }
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "b24trigger: woocommerce ping answered");

    ngx_str_set(&vd->reply, "{\"result\":\"ignored\"}");
    ngx_str_set(&vd->reply_type, "application/json");

    return NGX_DONE;
}
