
/*
 * Copyright (C) b24trigger authors
 *
 * Digests over body fields, the Russian payment providers' way: the
 * secret is one of the hashed values and the signature travels in the
 * body.  T-Bank ("Token": SHA-256 over the sorted root fields and the
 * terminal password), Robokassa ("SignatureValue" over OutSum, InvId,
 * password #2 and the sorted Shp_ fields) and YooMoney ("sha1_hash" over
 * a fixed list of fields and the notification secret).  The fields are
 * those b24trigger_field reads, from the same parse
 * (src/ngx_http_b24trigger_fields.c): names matched exactly, a root name
 * given twice and more fields than NGX_HTTP_B24TRIGGER_FIELDS_MAX refused
 * there; sorting is O(n log n).  Every key is tried, comparisons are
 * constant-time.  Knows nothing about Bitrix24.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/crypto.h>

#include "ngx_http_b24trigger_verify_schemes.h"
#include "ngx_http_b24trigger_fields.h"


/*
 * One value of the hashed string; value.data NULL stands for the secret,
 * an empty value is "" and never NULL
 */

typedef struct {
    ngx_str_t   name;
    ngx_str_t   value;
} ngx_http_b24trigger_item_t;


static ngx_int_t ngx_http_b24trigger_digest_fields(ngx_http_request_t *r,
    ngx_http_b24trigger_verdict_t *vd, ngx_array_t **root);
static ngx_str_t *ngx_http_b24trigger_digest_get(ngx_array_t *root,
    char *name);
static ngx_int_t ngx_http_b24trigger_digest_match(ngx_http_request_t *r,
    const EVP_MD *md, ngx_array_t *keys, ngx_array_t *items,
    ngx_str_t *sep, ngx_str_t *sig, ngx_uint_t *match);
static ngx_int_t ngx_http_b24trigger_item_add(ngx_array_t *items,
    u_char *name, size_t nlen, u_char *value, size_t vlen);
static int ngx_http_b24trigger_item_cmp(const void *one, const void *two);


/*
 * T-Bank: root scalar fields except "Token", plus "Password", sorted by
 * name, values concatenated; SHA-256 in hex.  Strings decoded, numbers,
 * true and false as written: what b24trigger_field gives for them.
 */

ngx_int_t
ngx_http_b24trigger_tbank_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd)
{
    ngx_int_t                    rc;
    ngx_str_t                    sep;
    ngx_uint_t                   i, match;
    ngx_array_t                 *root, items;
    ngx_http_b24trigger_root_t  *f, *token;

    rc = ngx_http_b24trigger_digest_fields(r, vd, &root);
    if (rc != NGX_OK) {
        return rc;
    }

    token = ngx_http_b24trigger_root_get(root, (u_char *) "Token", 5);

    if (token == NULL || token->type != NGX_HTTP_B24TRIGGER_JSON_STRING
        || token->value.len == 0)
    {
        ngx_http_b24trigger_refuse(vd, "signature_missing",
                                   "no \"Token\" field");
        return NGX_DECLINED;
    }

    if (ngx_array_init(&items, r->pool, root->nelts + 1,
                       sizeof(ngx_http_b24trigger_item_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    f = root->elts;

    for (i = 0; i < root->nelts; i++) {

        if (&f[i] == token) {
            continue;
        }

        switch (f[i].type) {

        case NGX_HTTP_B24TRIGGER_JSON_STRING:
        case NGX_HTTP_B24TRIGGER_JSON_NUMBER:
        case NGX_HTTP_B24TRIGGER_JSON_TRUE:
        case NGX_HTTP_B24TRIGGER_JSON_FALSE:
            break;

        default:

            /* nested objects and arrays (Receipt, DATA) and nulls */

            continue;
        }

        if (ngx_http_b24trigger_item_add(&items, f[i].name.data,
                                         f[i].name.len, f[i].value.data,
                                         f[i].value.len)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_http_b24trigger_item_add(&items, (u_char *) "Password", 8, NULL,
                                     0)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* not ngx_sort(): an insertion sort, quadratic */

    ngx_qsort(items.elts, items.nelts, sizeof(ngx_http_b24trigger_item_t),
              ngx_http_b24trigger_item_cmp);

    ngx_str_null(&sep);

    rc = ngx_http_b24trigger_digest_match(r, v->md, keys, &items, &sep,
                                          &token->value, &match);
    if (rc != NGX_OK) {
        return rc;
    }

    if (!match) {
        ngx_http_b24trigger_refuse(vd, "signature_invalid",
                                   "\"Token\" does not match");
        return NGX_DECLINED;
    }

    return ngx_http_b24trigger_verdict_signature(r, vd, &token->value);
}


/*
 * Robokassa: "OutSum:InvId:Password#2[:Shp_a=1:Shp_b=2]", the Shp_ fields
 * (any case of the prefix) sorted by name; MD5 by default, hex compared
 * without regard to case.  Fields come from the form body, or from the
 * query string of a GET.
 */

ngx_int_t
ngx_http_b24trigger_robokassa_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd)
{
    u_char                      *p;
    size_t                       n;
    ngx_int_t                    rc;
    ngx_str_t                   *sig, *val, sep, empty;
    ngx_uint_t                   i, match;
    ngx_array_t                 *root, items, shp;
    ngx_http_b24trigger_root_t  *f;
    ngx_http_b24trigger_item_t  *item, *it;

    rc = ngx_http_b24trigger_digest_fields(r, vd, &root);
    if (rc != NGX_OK) {
        return rc;
    }

    sig = ngx_http_b24trigger_digest_get(root, "SignatureValue");

    if (sig == NULL || sig->len == 0) {
        ngx_http_b24trigger_refuse(vd, "signature_missing",
                                   "no \"SignatureValue\" field");
        return NGX_DECLINED;
    }

    if (ngx_array_init(&items, r->pool, root->nelts + 3,
                       sizeof(ngx_http_b24trigger_item_t))
        != NGX_OK
        || ngx_array_init(&shp, r->pool, root->nelts ? root->nelts : 1,
                          sizeof(ngx_http_b24trigger_item_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_str_set(&empty, "");

    val = ngx_http_b24trigger_digest_get(root, "OutSum");
    val = val ? val : &empty;

    if (ngx_http_b24trigger_item_add(&items, NULL, 0, val->data, val->len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    val = ngx_http_b24trigger_digest_get(root, "InvId");
    val = val ? val : &empty;

    if (ngx_http_b24trigger_item_add(&items, NULL, 0, val->data, val->len)
        != NGX_OK
        || ngx_http_b24trigger_item_add(&items, NULL, 0, NULL, 0) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* Shp_ fields as "Shp_name=value", by name */

    f = root->elts;

    for (i = 0; i < root->nelts; i++) {

        if (f[i].name.len <= 4
            || ngx_strncasecmp(f[i].name.data, (u_char *) "shp_", 4) != 0)
        {
            continue;
        }

        /*
         * ":" and "=" are the string's own separators: a name holding one
         * could fold the real Shp_ fields into itself, under the same
         * signature, while a stranger's value takes their place
         */

        if (ngx_strlchr(f[i].name.data, f[i].name.data + f[i].name.len, ':')
            || ngx_strlchr(f[i].name.data, f[i].name.data + f[i].name.len,
                           '='))
        {
            ngx_http_b24trigger_refuse(vd, "signature_invalid",
                                       "a Shp_ field name holds \":\" or "
                                       "\"=\"");
            return NGX_DECLINED;
        }

        n = f[i].name.len + 1 + f[i].value.len;

        p = ngx_pnalloc(r->pool, n);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(p, "%V=%V", &f[i].name, &f[i].value);

        if (ngx_http_b24trigger_item_add(&shp, f[i].name.data, f[i].name.len,
                                         p, n)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    /* not ngx_sort(): an insertion sort, quadratic */

    ngx_qsort(shp.elts, shp.nelts, sizeof(ngx_http_b24trigger_item_t),
              ngx_http_b24trigger_item_cmp);

    it = shp.elts;

    for (i = 0; i < shp.nelts; i++) {
        item = ngx_array_push(&items);
        if (item == NULL) {
            return NGX_ERROR;
        }

        *item = it[i];
    }

    ngx_str_set(&sep, ":");

    rc = ngx_http_b24trigger_digest_match(r, v->md, keys, &items, &sep, sig,
                                          &match);
    if (rc != NGX_OK) {
        return rc;
    }

    if (!match) {
        ngx_http_b24trigger_refuse(vd, "signature_invalid",
                                   "\"SignatureValue\" does not match");
        return NGX_DECLINED;
    }

    return ngx_http_b24trigger_verdict_signature(r, vd, sig);
}


/*
 * YooMoney: "notification_type&operation_id&amount&currency&datetime&
 * sender&codepro&notification_secret&label", missing fields empty; SHA-1
 */

ngx_int_t
ngx_http_b24trigger_yoomoney_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd)
{
    ngx_int_t     rc;
    ngx_str_t    *sig, *val, sep;
    ngx_uint_t    i, match;
    ngx_array_t  *root, items;

    static char  *fields[] = {
        "notification_type", "operation_id", "amount", "currency",
        "datetime", "sender", "codepro", NULL, "label"
    };

    rc = ngx_http_b24trigger_digest_fields(r, vd, &root);
    if (rc != NGX_OK) {
        return rc;
    }

    sig = ngx_http_b24trigger_digest_get(root, "sha1_hash");

    if (sig == NULL || sig->len == 0) {
        ngx_http_b24trigger_refuse(vd, "signature_missing",
                                   "no \"sha1_hash\" field");
        return NGX_DECLINED;
    }

    if (ngx_array_init(&items, r->pool, 9, sizeof(ngx_http_b24trigger_item_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {

        val = fields[i] ? ngx_http_b24trigger_digest_get(root, fields[i])
                        : NULL;

        if (fields[i] && val == NULL) {
            rc = ngx_http_b24trigger_item_add(&items, NULL, 0,
                                              (u_char *) "", 0);

        } else if (fields[i]) {
            rc = ngx_http_b24trigger_item_add(&items, NULL, 0, val->data,
                                              val->len);

        } else {
            rc = ngx_http_b24trigger_item_add(&items, NULL, 0, NULL, 0);
        }

        if (rc != NGX_OK) {
            return NGX_ERROR;
        }
    }

    ngx_str_set(&sep, "&");

    rc = ngx_http_b24trigger_digest_match(r, v->md, keys, &items, &sep, sig,
                                          &match);
    if (rc != NGX_OK) {
        return rc;
    }

    if (!match) {
        ngx_http_b24trigger_refuse(vd, "signature_invalid",
                                   "\"sha1_hash\" does not match");
        return NGX_DECLINED;
    }

    return ngx_http_b24trigger_verdict_signature(r, vd, sig);
}


/*
 * The body's root fields, from the parse mapping reads too
 * (src/ngx_http_b24trigger_fields.c): JSON or a form as the scheme says,
 * no name twice, at most NGX_HTTP_B24TRIGGER_FIELDS_MAX fields.  A body
 * that cannot give them is refused; the handler answers it as a body
 * that is not valid (400, 413, 415), not as a signature.
 */

static ngx_int_t
ngx_http_b24trigger_digest_fields(ngx_http_request_t *r,
    ngx_http_b24trigger_verdict_t *vd, ngx_array_t **root)
{
    ngx_int_t  rc;

    rc = ngx_http_b24trigger_fields_root(r, root);

    if (rc == NGX_DECLINED) {
        ngx_http_b24trigger_refuse(vd, "signature_missing",
                                   "the body has no fields to check");
    }

    return rc;
}


/* the root field of exactly that name, as b24trigger_field finds it */

static ngx_str_t *
ngx_http_b24trigger_digest_get(ngx_array_t *root, char *name)
{
    ngx_http_b24trigger_root_t  *f;

    f = ngx_http_b24trigger_root_get(root, (u_char *) name,
                                     ngx_strlen(name));

    return f ? &f->value : NULL;
}


/*
 * The digest of the items joined by sep, the secret in place of the item
 * without data, for every key; compared in constant time with the hex
 * signature (either case)
 */

static ngx_int_t
ngx_http_b24trigger_digest_match(ngx_http_request_t *r, const EVP_MD *md,
    ngx_array_t *keys, ngx_array_t *items, ngx_str_t *sep, ngx_str_t *sig,
    ngx_uint_t *match)
{
    ssize_t                      n;
    ngx_int_t                    rc;
    ngx_str_t                   *s;
    ngx_uint_t                   i, j;
    EVP_MD_CTX                  *ctx;
    unsigned int                 len;
    ngx_http_b24trigger_key_t   *key;
    ngx_http_b24trigger_item_t  *item;
    u_char                       expect[NGX_HTTP_B24TRIGGER_SIG_MAX];
    u_char                       md_out[EVP_MAX_MD_SIZE];

    *match = 0;

    n = ngx_http_b24trigger_sig_decode(NGX_HTTP_B24TRIGGER_HEX, expect,
                                       sig->data, sig->len);

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_OK;
    key = keys->elts;
    item = items->elts;

    for (i = 0; i < keys->nelts; i++) {

        if (EVP_DigestInit_ex(ctx, md, NULL) != 1) {
            rc = NGX_ERROR;
            break;
        }

        for (j = 0; j < items->nelts; j++) {

            s = item[j].value.data ? &item[j].value : &key[i].value;

            if ((j && EVP_DigestUpdate(ctx, sep->data, sep->len) != 1)
                || EVP_DigestUpdate(ctx, s->data, s->len) != 1)
            {
                rc = NGX_ERROR;
                break;
            }
        }

        if (rc != NGX_OK || EVP_DigestFinal_ex(ctx, md_out, &len) != 1) {
            rc = NGX_ERROR;
            break;
        }

        if (n == (ssize_t) len) {
            *match |= (CRYPTO_memcmp(md_out, expect, len) == 0);
        }
    }

    ngx_explicit_memzero(md_out, sizeof(md_out));
    EVP_MD_CTX_free(ctx);

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "b24trigger: EVP_Digest*() failed");
    }

    return rc;
}


static ngx_int_t
ngx_http_b24trigger_item_add(ngx_array_t *items, u_char *name, size_t nlen,
    u_char *value, size_t vlen)
{
    ngx_http_b24trigger_item_t  *item;

    item = ngx_array_push(items);
    if (item == NULL) {
        return NGX_ERROR;
    }

    item->name.data = name;
    item->name.len = nlen;
    item->value.data = value;
    item->value.len = vlen;

    return NGX_OK;
}


/* by name; a field named as the secret comes before the secret */

static int
ngx_http_b24trigger_item_cmp(const void *one, const void *two)
{
    int                          rc;
    ngx_http_b24trigger_item_t  *a, *b;

    a = (ngx_http_b24trigger_item_t *) one;
    b = (ngx_http_b24trigger_item_t *) two;

    rc = ngx_memcmp(a->name.data, b->name.data,
                    ngx_min(a->name.len, b->name.len));
    if (rc != 0) {
        return rc;
    }

    if (a->name.len != b->name.len) {
        return (a->name.len > b->name.len) ? 1 : -1;
    }

    return (a->value.data == NULL) - (b->value.data == NULL);
}
