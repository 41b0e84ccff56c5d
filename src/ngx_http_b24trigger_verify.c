
/*
 * Copyright (C) b24trigger authors
 *
 * The "b24trigger_verify" schemes: the table of schemes, their parameters
 * at configuration time, the keys made of the secrets, and per request
 * the dispatch and "none".  The token lives in
 * ngx_http_b24trigger_verify_token.c, the HMAC schemes in
 * ngx_http_b24trigger_verify_hmac.c (the presets' descriptions in
 * ngx_http_b24trigger_verify_presets.c), the digests over body fields in
 * ngx_http_b24trigger_verify_digest.c, the public-key signatures in
 * ngx_http_b24trigger_verify_pubkey.c, the header grammars in
 * ngx_http_b24trigger_verify_sig.c, what they all use in
 * ngx_http_b24trigger_verify_common.c.  Knows HTTP requests and secrets;
 * knows nothing about Bitrix24.  No secret, key or computed signature is
 * ever logged, at any level.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_b24trigger_verify_schemes.h"
#include "ngx_http_b24trigger_fields.h"


static char *ngx_http_b24trigger_none_parse(ngx_conf_t *cf,
    ngx_http_b24trigger_verify_t *v, ngx_str_t *args, ngx_uint_t nargs);
static char *ngx_http_b24trigger_preset_parse(ngx_conf_t *cf,
    ngx_http_b24trigger_verify_t *v, ngx_str_t *args, ngx_uint_t nargs);
static ngx_int_t ngx_http_b24trigger_none_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd);
static ngx_int_t ngx_http_b24trigger_key_standard(ngx_pool_t *pool,
    ngx_str_t *secret, ngx_str_t *key);
static ngx_int_t ngx_http_b24trigger_key_html(ngx_pool_t *pool,
    ngx_str_t *secret, ngx_str_t *key);


static ngx_http_b24trigger_scheme_t  ngx_http_b24trigger_schemes[] = {

    { ngx_string("none"),
      ngx_http_b24trigger_none_parse,
      ngx_http_b24trigger_none_verify,
      NGX_HTTP_B24TRIGGER_KEY_NONE, NULL, 0, NULL,
      NGX_HTTP_B24TRIGGER_READ_TYPE },

    { ngx_string("token"),
      ngx_http_b24trigger_token_parse,
      ngx_http_b24trigger_token_verify,
      NGX_HTTP_B24TRIGGER_KEY_RAW, NULL, 0, NULL,
      NGX_HTTP_B24TRIGGER_READ_TYPE },

    { ngx_string("hmac"),
      ngx_http_b24trigger_hmac_parse,
      ngx_http_b24trigger_hmac_verify,
      NGX_HTTP_B24TRIGGER_KEY_RAW, NULL, 0, "sha256",
      NGX_HTTP_B24TRIGGER_READ_SNIFF },

    { ngx_string("stripe"),
      ngx_http_b24trigger_preset_parse,
      ngx_http_b24trigger_hmac_verify,
      NGX_HTTP_B24TRIGGER_KEY_RAW, &ngx_http_b24trigger_stripe,
      NGX_HTTP_B24TRIGGER_PARAM_TOLERANCE, "sha256",
      NGX_HTTP_B24TRIGGER_READ_JSON },

    { ngx_string("standard"),
      ngx_http_b24trigger_preset_parse,
      ngx_http_b24trigger_hmac_verify,
      NGX_HTTP_B24TRIGGER_KEY_STANDARD, &ngx_http_b24trigger_standard,
      NGX_HTTP_B24TRIGGER_PARAM_TOLERANCE, "sha256",
      NGX_HTTP_B24TRIGGER_READ_SNIFF },

    { ngx_string("github"),
      ngx_http_b24trigger_preset_parse,
      ngx_http_b24trigger_hmac_verify,
      NGX_HTTP_B24TRIGGER_KEY_RAW, &ngx_http_b24trigger_github,
      0, "sha256",
      NGX_HTTP_B24TRIGGER_READ_SNIFF
      | NGX_HTTP_B24TRIGGER_READ_PAYLOAD },

    { ngx_string("shopify"),
      ngx_http_b24trigger_preset_parse,
      ngx_http_b24trigger_hmac_verify,
      NGX_HTTP_B24TRIGGER_KEY_RAW, &ngx_http_b24trigger_shopify,
      0, "sha256",
      NGX_HTTP_B24TRIGGER_READ_JSON },

    { ngx_string("slack"),
      ngx_http_b24trigger_preset_parse,
      ngx_http_b24trigger_hmac_verify,
      NGX_HTTP_B24TRIGGER_KEY_RAW, &ngx_http_b24trigger_slack,
      NGX_HTTP_B24TRIGGER_PARAM_TOLERANCE, "sha256",
      NGX_HTTP_B24TRIGGER_READ_SNIFF },

    { ngx_string("paddle"),
      ngx_http_b24trigger_preset_parse,
      ngx_http_b24trigger_hmac_verify,
      NGX_HTTP_B24TRIGGER_KEY_RAW, &ngx_http_b24trigger_paddle,
      NGX_HTTP_B24TRIGGER_PARAM_TOLERANCE, "sha256",
      NGX_HTTP_B24TRIGGER_READ_JSON },

    { ngx_string("typeform"),
      ngx_http_b24trigger_preset_parse,
      ngx_http_b24trigger_hmac_verify,
      NGX_HTTP_B24TRIGGER_KEY_RAW, &ngx_http_b24trigger_typeform,
      0, "sha256",
      NGX_HTTP_B24TRIGGER_READ_JSON },

    { ngx_string("woocommerce"),
      ngx_http_b24trigger_preset_parse,
      ngx_http_b24trigger_hmac_verify,
      NGX_HTTP_B24TRIGGER_KEY_HTML, &ngx_http_b24trigger_woocommerce,
      NGX_HTTP_B24TRIGGER_PARAM_ALG, "sha256",
      NGX_HTTP_B24TRIGGER_READ_JSON },

    { ngx_string("cloudpayments"),
      ngx_http_b24trigger_preset_parse,
      ngx_http_b24trigger_hmac_verify,
      NGX_HTTP_B24TRIGGER_KEY_RAW, &ngx_http_b24trigger_cloudpayments,
      0, "sha256",
      NGX_HTTP_B24TRIGGER_READ_SNIFF },

    { ngx_string("calendly"),
      ngx_http_b24trigger_preset_parse,
      ngx_http_b24trigger_hmac_verify,
      NGX_HTTP_B24TRIGGER_KEY_RAW, &ngx_http_b24trigger_calendly,
      NGX_HTTP_B24TRIGGER_PARAM_TOLERANCE, "sha256",
      NGX_HTTP_B24TRIGGER_READ_JSON },

    { ngx_string("zoom"),
      ngx_http_b24trigger_preset_parse,
      ngx_http_b24trigger_hmac_verify,
      NGX_HTTP_B24TRIGGER_KEY_RAW, &ngx_http_b24trigger_zoom,
      NGX_HTTP_B24TRIGGER_PARAM_TOLERANCE, "sha256",
      NGX_HTTP_B24TRIGGER_READ_JSON },

    { ngx_string("hubspot"),
      ngx_http_b24trigger_preset_parse,
      ngx_http_b24trigger_hmac_verify,
      NGX_HTTP_B24TRIGGER_KEY_RAW, &ngx_http_b24trigger_hubspot,
      NGX_HTTP_B24TRIGGER_PARAM_TOLERANCE|NGX_HTTP_B24TRIGGER_PARAM_URL,
      "sha256",
      NGX_HTTP_B24TRIGGER_READ_JSON },

    { ngx_string("intercom"),
      ngx_http_b24trigger_preset_parse,
      ngx_http_b24trigger_hmac_verify,
      NGX_HTTP_B24TRIGGER_KEY_RAW, &ngx_http_b24trigger_intercom,
      0, "sha1",
      NGX_HTTP_B24TRIGGER_READ_JSON },

    { ngx_string("square"),
      ngx_http_b24trigger_preset_parse,
      ngx_http_b24trigger_hmac_verify,
      NGX_HTTP_B24TRIGGER_KEY_RAW, &ngx_http_b24trigger_square,
      NGX_HTTP_B24TRIGGER_PARAM_URL, "sha256",
      NGX_HTTP_B24TRIGGER_READ_JSON },

    { ngx_string("tbank"),
      ngx_http_b24trigger_preset_parse,
      ngx_http_b24trigger_tbank_verify,
      NGX_HTTP_B24TRIGGER_KEY_RAW, NULL, 0, "sha256",
      NGX_HTTP_B24TRIGGER_READ_JSON
      | NGX_HTTP_B24TRIGGER_READ_STRICT },

    { ngx_string("robokassa"),
      ngx_http_b24trigger_preset_parse,
      ngx_http_b24trigger_robokassa_verify,
      NGX_HTTP_B24TRIGGER_KEY_RAW, NULL,
      NGX_HTTP_B24TRIGGER_PARAM_ALG, "md5",
      NGX_HTTP_B24TRIGGER_READ_FORM
      | NGX_HTTP_B24TRIGGER_READ_QUERY
      | NGX_HTTP_B24TRIGGER_READ_STRICT },

    { ngx_string("yoomoney"),
      ngx_http_b24trigger_preset_parse,
      ngx_http_b24trigger_yoomoney_verify,
      NGX_HTTP_B24TRIGGER_KEY_RAW, NULL, 0, "sha1",
      NGX_HTTP_B24TRIGGER_READ_FORM
      | NGX_HTTP_B24TRIGGER_READ_STRICT },

    /* public keys: ngx_http_b24trigger_verify_pubkey.c */

    { ngx_string("sendgrid"),
      ngx_http_b24trigger_pubkey_parse,
      ngx_http_b24trigger_sendgrid_verify,
      NGX_HTTP_B24TRIGGER_KEY_PUBLIC, NULL,
      NGX_HTTP_B24TRIGGER_PARAM_TOLERANCE, "sha256",
      NGX_HTTP_B24TRIGGER_READ_JSON },

    { ngx_string("standard_v1a"),
      ngx_http_b24trigger_pubkey_parse,
      ngx_http_b24trigger_v1a_verify,
      NGX_HTTP_B24TRIGGER_KEY_PUBLIC, NULL,
      NGX_HTTP_B24TRIGGER_PARAM_TOLERANCE, NULL,
      NGX_HTTP_B24TRIGGER_READ_SNIFF },

    { ngx_string("paddle_classic"),
      ngx_http_b24trigger_pubkey_parse,
      ngx_http_b24trigger_paddle_classic_verify,
      NGX_HTTP_B24TRIGGER_KEY_PUBLIC, NULL, 0, "sha1",
      NGX_HTTP_B24TRIGGER_READ_FORM
      | NGX_HTTP_B24TRIGGER_READ_STRICT },

    /* ngx_http_b24trigger_verify_params.c */

    { ngx_string("twilio"),
      ngx_http_b24trigger_twilio_parse,
      ngx_http_b24trigger_twilio_verify,
      NGX_HTTP_B24TRIGGER_KEY_RAW, NULL, 0, "sha1",
      NGX_HTTP_B24TRIGGER_READ_SNIFF
      | NGX_HTTP_B24TRIGGER_READ_STRICT },

    { ngx_string("sber"),
      ngx_http_b24trigger_preset_parse,
      ngx_http_b24trigger_sber_verify,
      NGX_HTTP_B24TRIGGER_KEY_RAW, NULL, 0, "sha256",
      NGX_HTTP_B24TRIGGER_READ_FORM
      | NGX_HTTP_B24TRIGGER_READ_QUERY
      | NGX_HTTP_B24TRIGGER_READ_STRICT },

    { ngx_string("prodamus"),
      ngx_http_b24trigger_preset_parse,
      ngx_http_b24trigger_prodamus_verify,
      NGX_HTTP_B24TRIGGER_KEY_RAW, NULL, 0, "sha256",
      NGX_HTTP_B24TRIGGER_READ_FORM
      | NGX_HTTP_B24TRIGGER_READ_MULTIPART
      | NGX_HTTP_B24TRIGGER_READ_STRICT },

    { ngx_string("mailgun"),
      ngx_http_b24trigger_preset_parse,
      ngx_http_b24trigger_mailgun_verify,
      NGX_HTTP_B24TRIGGER_KEY_RAW, NULL,
      NGX_HTTP_B24TRIGGER_PARAM_TOLERANCE, "sha256",
      NGX_HTTP_B24TRIGGER_READ_JSON
      | NGX_HTTP_B24TRIGGER_READ_STRICT },

    { ngx_string("telegram"),
      ngx_http_b24trigger_telegram_parse,
      ngx_http_b24trigger_telegram_verify,
      NGX_HTTP_B24TRIGGER_KEY_RAW, NULL, 0, NULL,
      NGX_HTTP_B24TRIGGER_READ_JSON },

    { ngx_null_string, NULL, NULL, 0, NULL, 0, NULL, 0 }
};


char *
ngx_http_b24trigger_verify_parse(ngx_conf_t *cf, ngx_str_t *args,
    ngx_uint_t nargs, ngx_http_b24trigger_verify_t **vp)
{
    u_char                        *p, *end;
    char                          *rv;
    size_t                         n;
    ngx_uint_t                     i;
    const char                    *sep;
    ngx_str_t                      alg;
    ngx_http_b24trigger_scheme_t  *s;
    ngx_http_b24trigger_verify_t  *v;
    u_char                         names[512];

    for (s = ngx_http_b24trigger_schemes; s->name.len; s++) {
        if (s->name.len == args[0].len
            && ngx_strncmp(s->name.data, args[0].data, args[0].len) == 0)
        {
            break;
        }
    }

    if (s->name.len == 0) {

        /* the names, from the table: "none, token, ... or LAST" */

        p = names;
        end = names + sizeof(names) - 1;

        for (s = ngx_http_b24trigger_schemes; s->name.len; s++) {
            sep = (p == names) ? "" : (s[1].name.len ? ", " : " or ");
            n = ngx_min((size_t) (end - p), ngx_strlen(sep));
            p = ngx_cpymem(p, sep, n);

            n = ngx_min((size_t) (end - p), s->name.len);
            p = ngx_cpymem(p, s->name.data, n);
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown verification scheme \"%V\" (expected "
                           "%*s)", &args[0], p - names, names);
        return NGX_CONF_ERROR;
    }

    v = ngx_pcalloc(cf->pool, sizeof(ngx_http_b24trigger_verify_t));
    if (v == NULL) {
        return NGX_CONF_ERROR;
    }

    v->scheme = s;
    v->hmac = s->hmac;
    v->tolerance = NGX_CONF_UNSET;

    if (s->alg) {
        alg.data = (u_char *) s->alg;
        alg.len = ngx_strlen(s->alg);

        v->md = ngx_http_b24trigger_md(&alg, 1);
        if (v->md == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "digest \"%V\" is not available in this "
                               "OpenSSL", &alg);
            return NGX_CONF_ERROR;
        }
    }

    rv = s->parse(cf, v, args, nargs);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    /* the signature headers' names lowered once, not per request */

    for (i = 0; v->hmac && i < 2 && v->hmac->header[i].len; i++) {
        v->header_low[i].len = v->hmac->header[i].len;
        v->header_low[i].data = ngx_pnalloc(cf->pool, v->header_low[i].len);
        if (v->header_low[i].data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_strlow(v->header_low[i].data, v->hmac->header[i].data,
                   v->header_low[i].len);
    }

    if (v->tolerance == NGX_CONF_UNSET) {
        v->tolerance = NGX_HTTP_B24TRIGGER_TOLERANCE;
    }

    *vp = v;

    return NGX_CONF_OK;
}


static char *
ngx_http_b24trigger_none_parse(ngx_conf_t *cf,
    ngx_http_b24trigger_verify_t *v, ngx_str_t *args, ngx_uint_t nargs)
{
    if (nargs > 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "scheme \"none\" takes no parameters");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * the presets: "tolerance=" where timestamps apply, "alg=" where chosen,
 * "url=" where the URL is signed
 */

static char *
ngx_http_b24trigger_preset_parse(ngx_conf_t *cf,
    ngx_http_b24trigger_verify_t *v, ngx_str_t *args, ngx_uint_t nargs)
{
    ngx_str_t                          s;
    ngx_uint_t                         i;
    ngx_http_compile_complex_value_t   ccv;

    for (i = 1; i < nargs; i++) {

        if ((v->scheme->params & NGX_HTTP_B24TRIGGER_PARAM_TOLERANCE)
            && args[i].len > 10
            && ngx_strncmp(args[i].data, "tolerance=", 10) == 0)
        {
            s.data = args[i].data + 10;
            s.len = args[i].len - 10;

            v->tolerance = ngx_parse_time(&s, 1);
            if (v->tolerance == (time_t) NGX_ERROR || v->tolerance == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"tolerance\" value \"%V\" of "
                                   "scheme \"%V\", expected a time such as "
                                   "300s or 5m", &s, &args[0]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if ((v->scheme->params & NGX_HTTP_B24TRIGGER_PARAM_ALG)
            && args[i].len > 4
            && ngx_strncmp(args[i].data, "alg=", 4) == 0)
        {
            s.data = args[i].data + 4;
            s.len = args[i].len - 4;

            v->md = ngx_http_b24trigger_md(&s, v->hmac == NULL);
            if (v->md == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"alg\" value \"%V\" of scheme "
                                   "\"%V\", expected %s", &s, &args[0],
                                   v->hmac ? "sha1, sha256 or sha512"
                                           : "md5, sha1, sha256, sha384 "
                                             "or sha512");
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if ((v->scheme->params & NGX_HTTP_B24TRIGGER_PARAM_URL)
            && args[i].len > 4
            && ngx_strncmp(args[i].data, "url=", 4) == 0)
        {
            s.data = args[i].data + 4;
            s.len = args[i].len - 4;

            v->url = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
            if (v->url == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

            ccv.cf = cf;
            ccv.value = &s;
            ccv.complex_value = v->url;

            if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" of scheme \"%V\"",
                           &args[i], &args[0]);
        return NGX_CONF_ERROR;
    }

    if ((v->scheme->params & NGX_HTTP_B24TRIGGER_PARAM_URL) && v->url == NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "scheme \"%V\" needs \"url=URL\", the "
                           "notification URL exactly as registered with "
                           "the sender", &args[0]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


ngx_array_t *
ngx_http_b24trigger_verify_keys(ngx_conf_t *cf,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *secrets,
    ngx_str_t *location)
{
    ngx_int_t                   rc;
    ngx_str_t                  *secret;
    ngx_uint_t                  i;
    ngx_array_t                *keys;
    ngx_http_b24trigger_key_t  *key;

    if (v->scheme->key == NGX_HTTP_B24TRIGGER_KEY_NONE) {
        return ngx_array_create(cf->pool, 1,
                                sizeof(ngx_http_b24trigger_key_t));
    }

    if (v->scheme->key == NGX_HTTP_B24TRIGGER_KEY_PUBLIC) {
        return ngx_http_b24trigger_pubkey_keys(cf, v, location);
    }

    if (secrets == NULL || secrets->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"b24trigger_verify\" in location \"%V\" "
                           "needs \"b24trigger_secret\"", location);
        return NULL;
    }

    keys = ngx_array_create(cf->pool, secrets->nelts,
                            sizeof(ngx_http_b24trigger_key_t));
    if (keys == NULL) {
        return NULL;
    }

    secret = secrets->elts;

    for (i = 0; i < secrets->nelts; i++) {

        key = ngx_array_push(keys);
        if (key == NULL) {
            return NULL;
        }

        key->hmac = NULL;

        switch (v->scheme->key) {

        case NGX_HTTP_B24TRIGGER_KEY_STANDARD:
            if (ngx_http_b24trigger_key_standard(cf->pool, &secret[i],
                                                 &key->value)
                != NGX_OK)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "secret %ui of location \"%V\" is not "
                                   "a Standard Webhooks key (\"whsec_\" "
                                   "followed by base64)", i + 1, location);
                return NULL;
            }

            break;

        case NGX_HTTP_B24TRIGGER_KEY_HTML:
            if (ngx_http_b24trigger_key_html(cf->pool, &secret[i],
                                             &key->value)
                != NGX_OK)
            {
                return NULL;
            }

            break;

        default:
            key->value = secret[i];
        }

        /* an HMAC key is keyed here once, not on every request */

        if (v->hmac == NULL) {
            continue;
        }

        rc = ngx_http_b24trigger_hmac_key(cf->pool, v->md, key);

        if (rc == NGX_ERROR) {
            return NULL;
        }

        if (rc != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "secret %ui of location \"%V\" cannot key "
                               "an HMAC: EVP_Digest() failed", i + 1,
                               location);
            return NULL;
        }
    }

    return keys;
}


/*
 * Standard Webhooks: "whsec_" then base64 of the key bytes; Supabase
 * shows the same as "v1,whsec_..."; a key without the prefix is base64
 * all the same, as in the reference libraries
 */

static ngx_int_t
ngx_http_b24trigger_key_standard(ngx_pool_t *pool, ngx_str_t *secret,
    ngx_str_t *key)
{
    u_char   *p;
    size_t    len;
    ssize_t   n;

    p = secret->data;
    len = secret->len;

    if (len > 3 && ngx_strncmp(p, "v1,", 3) == 0) {
        p += 3;
        len -= 3;
    }

    if (len > 6 && ngx_strncmp(p, "whsec_", 6) == 0) {
        p += 6;
        len -= 6;
    }

    key->data = ngx_pnalloc(pool, ngx_http_b24trigger_base64_size(len));
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    n = ngx_http_b24trigger_base64_decode(key->data, p, len);
    if (n <= 0) {
        return NGX_DECLINED;
    }

    key->len = n;

    return NGX_OK;
}


/*
 * WooCommerce signs with wp_specialchars_decode($secret, ENT_QUOTES): the
 * entities WordPress may have stored in the secret are turned back, so
 * the secret works both as typed and as stored
 */

static ngx_int_t
ngx_http_b24trigger_key_html(ngx_pool_t *pool, ngx_str_t *secret,
    ngx_str_t *key)
{
    u_char      *p, *last, *d, *q, c;
    ngx_uint_t   i, n, hex;

    static struct {
        ngx_str_t  name;
        u_char     c;
    } entities[] = {
        { ngx_string("amp;"), '&' },
        { ngx_string("lt;"), '<' },
        { ngx_string("gt;"), '>' },
        { ngx_string("quot;"), '"' },
        { ngx_null_string, 0 }
    };

    key->data = ngx_pnalloc(pool, secret->len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    d = key->data;
    p = secret->data;
    last = p + secret->len;

    while (p < last) {

        if (*p != '&') {
            *d++ = *p++;
            continue;
        }

        c = 0;
        q = p + 1;

        for (i = 0; entities[i].name.len; i++) {
            if ((size_t) (last - q) >= entities[i].name.len
                && ngx_strncmp(q, entities[i].name.data,
                               entities[i].name.len) == 0)
            {
                c = entities[i].c;
                q += entities[i].name.len;
                break;
            }
        }

        if (c == 0 && q < last && *q == '#') {

            /* &#039; &#34; &#x27; &#X26; ... with any leading zeros */

            q++;
            hex = 0;

            if (q < last && (*q == 'x' || *q == 'X')) {
                hex = 1;
                q++;
            }

            while (q < last && *q == '0') {
                q++;
            }

            n = 0;

            while (q < last && *q >= '0' && *q <= '9' && n < 1000) {
                n = n * (hex ? 16 : 10) + (*q++ - '0');
            }

            if (q < last && *q == ';') {
                q++;

                if (hex) {
                    c = (n == 0x27) ? '\'' : (n == 0x22) ? '"'
                        : (n == 0x26) ? '&' : 0;

                } else {
                    c = (n == 39) ? '\'' : (n == 34) ? '"'
                        : (n == 60) ? '<' : (n == 62) ? '>'
                        : (n == 38) ? '&' : 0;
                }
            }
        }

        if (c == 0) {
            *d++ = *p++;
            continue;
        }

        *d++ = c;
        p = q;
    }

    key->len = d - key->data;

    return NGX_OK;
}


ngx_uint_t
ngx_http_b24trigger_verify_needs_body(ngx_http_b24trigger_verify_t *v)
{
    if (v->scheme->verify == ngx_http_b24trigger_none_verify) {
        return 0;
    }

    if (v->scheme->verify == ngx_http_b24trigger_token_verify) {
        return v->token == NGX_HTTP_B24TRIGGER_TOKEN_FIELD;
    }

    return 1;
}


ngx_uint_t
ngx_http_b24trigger_verify_signs(ngx_http_b24trigger_verify_t *v)
{
    ngx_int_t                    rc;
    ngx_uint_t                   i;
    ngx_http_b24trigger_part_t  *part;

    rc = ngx_http_b24trigger_params_signs(v);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (v->scheme->verify == ngx_http_b24trigger_none_verify) {
        return NGX_HTTP_B24TRIGGER_SIGNS_REQUEST
               |NGX_HTTP_B24TRIGGER_SIGNS_NOTHING;
    }

    if (v->scheme->verify == ngx_http_b24trigger_token_verify) {
        return NGX_HTTP_B24TRIGGER_SIGNS_REQUEST;
    }

    if (v->scheme->key == NGX_HTTP_B24TRIGGER_KEY_PUBLIC) {
        return ngx_http_b24trigger_pubkey_signs(v);
    }

    if (v->hmac == NULL) {

        /* tbank, robokassa, yoomoney: some fields of the body */

        return NGX_HTTP_B24TRIGGER_SIGNS_BODY;
    }

    switch (v->hmac->message) {

    case NGX_HTTP_B24TRIGGER_MSG_BODY:
    case NGX_HTTP_B24TRIGGER_MSG_URL:
        return NGX_HTTP_B24TRIGGER_SIGNS_BODY;

    case NGX_HTTP_B24TRIGGER_MSG_TEMPLATE:

        /* "hmac": its timestamp, if any, is for the caller to judge */

        part = v->message->elts;

        for (i = 0; i < v->message->nelts; i++) {
            if (part[i].body) {
                return NGX_HTTP_B24TRIGGER_SIGNS_BODY;
            }
        }

        return 0;

    default:

        /*
         * Stripe, Standard Webhooks, Slack, Paddle, Calendly, Zoom, HubSpot:
         * a timestamp, the body
         */

        return NGX_HTTP_B24TRIGGER_SIGNS_BODY
               |NGX_HTTP_B24TRIGGER_SIGNS_TIMESTAMP;
    }
}


/*
 * The body field whose path begins with the name root and has depth
 * segments: signed?  An HMAC of the body signs all of it; the digests
 * over fields sign the fields they hash, by their exact names
 */

ngx_uint_t
ngx_http_b24trigger_verify_signs_field(ngx_http_b24trigger_verify_t *v,
    ngx_str_t *root, ngx_uint_t depth)
{
    ngx_int_t   rc;
    ngx_uint_t  signs, i;

    static ngx_str_t  robokassa[] = {
        ngx_string("OutSum"),
        ngx_string("InvId"),
        ngx_string("SignatureValue"),
        ngx_null_string
    };

    static ngx_str_t  yoomoney[] = {
        ngx_string("notification_type"),
        ngx_string("operation_id"),
        ngx_string("amount"),
        ngx_string("currency"),
        ngx_string("datetime"),
        ngx_string("sender"),
        ngx_string("codepro"),
        ngx_string("label"),
        ngx_string("sha1_hash"),
        ngx_null_string
    };

    signs = ngx_http_b24trigger_verify_signs(v);

    if (signs & NGX_HTTP_B24TRIGGER_SIGNS_REQUEST) {
        return 1;
    }

    if (!(signs & NGX_HTTP_B24TRIGGER_SIGNS_BODY)) {
        return 0;
    }

    if (v->hmac) {
        return 1;
    }

    if (v->scheme->key == NGX_HTTP_B24TRIGGER_KEY_PUBLIC) {
        return ngx_http_b24trigger_pubkey_signs_field(v, root, depth);
    }

    rc = ngx_http_b24trigger_params_signs_field(v, root, depth);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    /* T-Bank: the scalar fields at the root */

    if (v->scheme->verify == ngx_http_b24trigger_tbank_verify) {
        return depth == 1;
    }

    if (depth != 1) {
        return 0;
    }

    if (v->scheme->verify == ngx_http_b24trigger_robokassa_verify) {

        /* every Shp_ field, whatever the case of its prefix */

        if (root->len > 4
            && ngx_strncasecmp(root->data, (u_char *) "shp_", 4) == 0)
        {
            return 1;
        }

        for (i = 0; robokassa[i].len; i++) {
            if (root->len == robokassa[i].len
                && ngx_strncmp(root->data, robokassa[i].data, root->len)
                   == 0)
            {
                return 1;
            }
        }

        return 0;
    }

    for (i = 0; yoomoney[i].len; i++) {
        if (root->len == yoomoney[i].len
            && ngx_strncmp(root->data, yoomoney[i].data, root->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * Does the scheme join its fields' names and values with nothing between
 * them (Twilio: "NAMEVALUE" after "NAMEVALUE")?  Then a value and the next
 * name can trade bytes under the same signature: "comment=x deal_id999,
 * deal_id=57" and "comment=x , deal_id=999, deal_id5=7" are signed alike
 */

ngx_uint_t
ngx_http_b24trigger_verify_joins_fields(ngx_http_b24trigger_verify_t *v)
{
    return v->scheme->verify == ngx_http_b24trigger_twilio_verify;
}


ngx_array_t *
ngx_http_b24trigger_verify_message(ngx_http_b24trigger_verify_t *v)
{
    return v->message;
}


ngx_http_complex_value_t *
ngx_http_b24trigger_verify_timestamp(ngx_http_b24trigger_verify_t *v)
{
    return v->timestamp;
}


ngx_str_t *
ngx_http_b24trigger_verify_name(ngx_http_b24trigger_verify_t *v)
{
    return &v->scheme->name;
}


ngx_uint_t
ngx_http_b24trigger_verify_reads(ngx_http_b24trigger_verify_t *v)
{
    return v->scheme->read;
}


ngx_uint_t
ngx_http_b24trigger_verify_logged(ngx_http_b24trigger_verify_t *v,
    ngx_str_t *name)
{
    if (v->scheme->parse != ngx_http_b24trigger_token_parse) {
        return 0;
    }

    switch (v->token) {

    case NGX_HTTP_B24TRIGGER_TOKEN_QUERY:
        *name = v->name;
        return NGX_HTTP_B24TRIGGER_LOGGED_ARG;

    case NGX_HTTP_B24TRIGGER_TOKEN_BASIC:
        return NGX_HTTP_B24TRIGGER_LOGGED_BASE64;

    default:
        return 0;
    }
}


ngx_int_t
ngx_http_b24trigger_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd)
{
    ngx_int_t  rc;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "b24trigger verify \"%V\" with %ui key(s)",
                   &v->scheme->name, keys->nelts);

    rc = v->scheme->verify(r, v, keys, body, vd);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "b24trigger verify done: %i \"%V\" \"%V\"",
                   rc, &vd->error, &vd->reason);

    return rc;
}


static ngx_int_t
ngx_http_b24trigger_none_verify(ngx_http_request_t *r,
    ngx_http_b24trigger_verify_t *v, ngx_array_t *keys, ngx_str_t *body,
    ngx_http_b24trigger_verdict_t *vd)
{
    return NGX_OK;
}
