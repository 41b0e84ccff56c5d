
/*
 * Copyright (C) b24trigger authors
 *
 * Digests over body fields, the Russian payment providers' way: the
 * secret is one of the hashed values and the signature travels in the
 * body.  T-Bank ("Token": SHA-256 over the sorted root fields and the
 * terminal password), Robokassa ("SignatureValue" over OutSum, InvId,
 * password #2 and the sorted Shp_ fields) and YooMoney ("sha1_hash" over
 * a fixed list of fields and the notification secret).  Every key is
 * tried, comparisons are constant-time.  Knows nothing about Bitrix24.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/crypto.h>

#include <jansson.h>

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


static ngx_int_t ngx_http_b24trigger_digest_match(ngx_http_request_t *r,
    const EVP_MD *md, ngx_array_t *keys, ngx_array_t *items,
    ngx_str_t *sep, ngx_str_t *sig, ngx_uint_t *match);
static ngx_int_t ngx_http_b24trigger_item_add(ngx_array_t *items,
    char *name, size_t nlen, u_char *value, size_t vlen);
static ngx_int_t ngx_http_b24trigger_item_cmp(const void *one,
    const void *two);
static ngx_int_t ngx_http_b24trigger_form_fields(ngx_http_request_t *r,
    ngx_str_t *body, ngx_array_t *pairs);
static ngx_str_t *ngx_http_b24trigger_form_get(ngx_array_t *pairs,
    char *name);


/*
 * T-Bank: root scalar fields except "Token", plus "Password", sorted by
 * name, values concatenated; SHA-256 in hex
 */

ngx_int_t
ngx_http_b24trigger_tbank_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd)
{
    char          *dump;
    u_char        *p;
    size_t         len;
    json_t        *root, *value, *token;
    ngx_int_t      rc;
    ngx_str_t      sig, sep;
    ngx_uint_t     match;
    const char    *name;
    ngx_array_t   *items;
    json_error_t   err;

    /*
     * a key given twice could be read one way here and another way by
     * whoever maps the fields: refused
     */

    root = json_loadb((char *) body->data, body->len,
                      JSON_REJECT_DUPLICATES, &err);

    if (root == NULL || !json_is_object(root)) {
        if (root) {
            json_decref(root);
        }

        ngx_http_b24trigger_refuse(vd, "signature_missing",
                                   "body is not a JSON object with unique "
                                   "keys");
        return NGX_DECLINED;
    }

    /* NGX_ERROR until the digest has been compared: never fail open */

    rc = NGX_ERROR;

    token = json_object_get(root, "Token");

    if (!json_is_string(token) || json_string_length(token) == 0) {
        ngx_http_b24trigger_refuse(vd, "signature_missing",
                                   "no \"Token\" field");
        rc = NGX_DECLINED;
        goto done;
    }

    items = ngx_array_create(r->pool, 16, sizeof(ngx_http_b24trigger_item_t));
    if (items == NULL) {
        goto done;
    }

    json_object_foreach(root, name, value) {

        if (ngx_strcmp(name, "Token") == 0) {
            continue;
        }

        switch (json_typeof(value)) {

        case JSON_STRING:
            p = (u_char *) json_string_value(value);
            len = json_string_length(value);
            break;

        case JSON_TRUE:
            p = (u_char *) "true";
            len = 4;
            break;

        case JSON_FALSE:
            p = (u_char *) "false";
            len = 5;
            break;

        case JSON_INTEGER:
        case JSON_REAL:
            dump = json_dumps(value, JSON_ENCODE_ANY);
            if (dump == NULL) {
                goto done;
            }

            len = ngx_strlen(dump);

            p = ngx_pnalloc(r->pool, len);
            if (p == NULL) {
                free(dump);
                goto done;
            }

            ngx_memcpy(p, dump, len);
            free(dump);
            break;

        default:

            /* nested objects and arrays (Receipt, DATA) and nulls */

            continue;
        }

        if (ngx_http_b24trigger_item_add(items, (char *) name,
                                         ngx_strlen(name), p, len)
            != NGX_OK)
        {
            goto done;
        }
    }

    if (ngx_http_b24trigger_item_add(items, "Password", 8, NULL, 0)
        != NGX_OK)
    {
        goto done;
    }

    ngx_sort(items->elts, items->nelts, sizeof(ngx_http_b24trigger_item_t),
             ngx_http_b24trigger_item_cmp);

    sig.data = (u_char *) json_string_value(token);
    sig.len = json_string_length(token);
    ngx_str_null(&sep);

    rc = ngx_http_b24trigger_digest_match(r, v->md, keys, items, &sep, &sig,
                                          &match);
    if (rc != NGX_OK) {
        goto done;
    }

    if (!match) {
        ngx_http_b24trigger_refuse(vd, "signature_invalid",
                                   "\"Token\" does not match");
        rc = NGX_DECLINED;
        goto done;
    }

    rc = ngx_http_b24trigger_verdict_signature(r, vd, &sig);

done:

    json_decref(root);

    return rc;
}


/*
 * Robokassa: "OutSum:InvId:Password#2[:Shp_a=1:Shp_b=2]", the Shp_ fields
 * sorted by name; MD5 by default, hex compared without regard to case.
 * Fields come from the form body, or from the query string of a GET.
 */

ngx_int_t
ngx_http_b24trigger_robokassa_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd)
{
    u_char                      *p;
    ngx_int_t                    rc;
    ngx_str_t                   *sig, *val, sep, empty;
    ngx_uint_t                   i, n, match;
    ngx_array_t                  pairs, *items, shp;
    ngx_keyval_t                *kv;
    ngx_http_b24trigger_item_t  *item, *it;

    if (ngx_array_init(&pairs, r->pool, 16, sizeof(ngx_keyval_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_b24trigger_form_fields(r, body, &pairs) != NGX_OK) {
        return NGX_ERROR;
    }

    sig = ngx_http_b24trigger_form_get(&pairs, "SignatureValue");

    if (sig == NULL || sig->len == 0) {
        ngx_http_b24trigger_refuse(vd, "signature_missing",
                                   "no \"SignatureValue\" field");
        return NGX_DECLINED;
    }

    items = ngx_array_create(r->pool, 8, sizeof(ngx_http_b24trigger_item_t));
    if (items == NULL) {
        return NGX_ERROR;
    }

    if (ngx_array_init(&shp, r->pool, 4, sizeof(ngx_http_b24trigger_item_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_str_set(&empty, "");

    val = ngx_http_b24trigger_form_get(&pairs, "OutSum");
    val = val ? val : &empty;

    if (ngx_http_b24trigger_item_add(items, "", 0, val->data, val->len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    val = ngx_http_b24trigger_form_get(&pairs, "InvId");
    val = val ? val : &empty;

    if (ngx_http_b24trigger_item_add(items, "", 0, val->data, val->len)
        != NGX_OK
        || ngx_http_b24trigger_item_add(items, "", 0, NULL, 0) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* Shp_ fields as "Shp_name=value", by name */

    kv = pairs.elts;

    for (i = 0; i < pairs.nelts; i++) {

        if (kv[i].key.len <= 4
            || ngx_strncasecmp(kv[i].key.data, (u_char *) "shp_", 4) != 0)
        {
            continue;
        }

        n = kv[i].key.len + 1 + kv[i].value.len;

        p = ngx_pnalloc(r->pool, n);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(p, "%V=%V", &kv[i].key, &kv[i].value);

        if (ngx_http_b24trigger_item_add(&shp, (char *) kv[i].key.data,
                                         kv[i].key.len, p, n)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    ngx_sort(shp.elts, shp.nelts, sizeof(ngx_http_b24trigger_item_t),
             ngx_http_b24trigger_item_cmp);

    it = shp.elts;

    for (i = 0; i < shp.nelts; i++) {
        item = ngx_array_push(items);
        if (item == NULL) {
            return NGX_ERROR;
        }

        *item = it[i];
    }

    ngx_str_set(&sep, ":");

    rc = ngx_http_b24trigger_digest_match(r, v->md, keys, items, &sep, sig,
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
    ngx_array_t   pairs, *items;

    static char  *fields[] = {
        "notification_type", "operation_id", "amount", "currency",
        "datetime", "sender", "codepro", NULL, "label"
    };

    if (ngx_array_init(&pairs, r->pool, 16, sizeof(ngx_keyval_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_b24trigger_form_parse(r->pool, body->data, body->len,
                                       &pairs)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    sig = ngx_http_b24trigger_form_get(&pairs, "sha1_hash");

    if (sig == NULL || sig->len == 0) {
        ngx_http_b24trigger_refuse(vd, "signature_missing",
                                   "no \"sha1_hash\" field");
        return NGX_DECLINED;
    }

    items = ngx_array_create(r->pool, 9, sizeof(ngx_http_b24trigger_item_t));
    if (items == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {

        val = fields[i] ? ngx_http_b24trigger_form_get(&pairs, fields[i])
                        : NULL;

        if (fields[i] && val == NULL) {
            rc = ngx_http_b24trigger_item_add(items, "", 0, (u_char *) "", 0);

        } else if (fields[i]) {
            rc = ngx_http_b24trigger_item_add(items, "", 0, val->data,
                                              val->len);

        } else {
            rc = ngx_http_b24trigger_item_add(items, "", 0, NULL, 0);
        }

        if (rc != NGX_OK) {
            return NGX_ERROR;
        }
    }

    ngx_str_set(&sep, "&");

    rc = ngx_http_b24trigger_digest_match(r, v->md, keys, items, &sep, sig,
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
ngx_http_b24trigger_item_add(ngx_array_t *items, char *name, size_t nlen,
    u_char *value, size_t vlen)
{
    ngx_http_b24trigger_item_t  *item;

    item = ngx_array_push(items);
    if (item == NULL) {
        return NGX_ERROR;
    }

    item->name.data = (u_char *) name;
    item->name.len = nlen;
    item->value.data = value;
    item->value.len = vlen;

    return NGX_OK;
}


static ngx_int_t
ngx_http_b24trigger_item_cmp(const void *one, const void *two)
{
    size_t                       len;
    ngx_int_t                    rc;
    ngx_http_b24trigger_item_t  *a, *b;

    a = (ngx_http_b24trigger_item_t *) one;
    b = (ngx_http_b24trigger_item_t *) two;

    len = ngx_min(a->name.len, b->name.len);

    rc = ngx_memcmp(a->name.data, b->name.data, len);
    if (rc != 0) {
        return rc;
    }

    return (ngx_int_t) a->name.len - (ngx_int_t) b->name.len;
}


/* the fields of a form body, or of the query string when there is none */

static ngx_int_t
ngx_http_b24trigger_form_fields(ngx_http_request_t *r, ngx_str_t *body,
    ngx_array_t *pairs)
{
    if (body->len) {
        return ngx_http_b24trigger_form_parse(r->pool, body->data, body->len,
                                              pairs);
    }

    return ngx_http_b24trigger_form_parse(r->pool, r->args.data,
                                          r->args.len, pairs);
}


/* the first field of that name, compared without regard to case */

static ngx_str_t *
ngx_http_b24trigger_form_get(ngx_array_t *pairs, char *name)
{
    size_t         len;
    ngx_uint_t     i;
    ngx_keyval_t  *kv;

    len = ngx_strlen(name);
    kv = pairs->elts;

    for (i = 0; i < pairs->nelts; i++) {
        if (kv[i].key.len == len
            && ngx_strncasecmp(kv[i].key.data, (u_char *) name, len) == 0)
        {
            return &kv[i].value;
        }
    }

    return NULL;
}
