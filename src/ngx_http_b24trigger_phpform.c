
/*
 * Copyright (C) b24trigger authors
 *
 * A form read as PHP reads it into $_POST and written back as
 * json_encode($data, JSON_UNESCAPED_UNICODE) writes it, keys sorted by
 * ksort() at every level and every value a string: the text Prodamus
 * signs.  The names are split into keys ("products[0][name]" is
 * products, 0, name), the fields sorted by their keys, so that the
 * members of every array come out together and in order, and the JSON
 * written in one pass; a first pass decides which arrays PHP writes as
 * lists (keys 0, 1, 2, ... exactly) and which as objects.  O(n log n) in
 * the number of fields.  A form PHP would read otherwise than
 * b24trigger_field reads it is refused, not guessed.  Pure: bytes and a
 * pool, nothing of a request.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_b24trigger_phpform.h"


typedef struct {
    ngx_str_t                        text;
    int64_t                          n;
    ngx_uint_t                       integer;
} ngx_http_b24trigger_php_key_t;


typedef struct {
    ngx_http_b24trigger_php_key_t   *keys;
    ngx_uint_t                       nkeys;
    ngx_str_t                        value;
    u_char                          *list;   /* [d]: the array this field
                                                opens at depth d is a list */
} ngx_http_b24trigger_php_var_t;


static ngx_int_t ngx_http_b24trigger_php_split(ngx_pool_t *pool,
    ngx_http_b24trigger_root_t *f, ngx_http_b24trigger_php_var_t *var,
    const char **error);
static ngx_int_t ngx_http_b24trigger_php_key(ngx_str_t *text,
    ngx_http_b24trigger_php_key_t *key);
static ngx_int_t ngx_http_b24trigger_php_key_cmp(
    ngx_http_b24trigger_php_key_t *a, ngx_http_b24trigger_php_key_t *b);
static int ngx_http_b24trigger_php_var_cmp(const void *one, const void *two);
static ngx_uint_t ngx_http_b24trigger_php_common(
    ngx_http_b24trigger_php_var_t *a, ngx_http_b24trigger_php_var_t *b);
static u_char *ngx_http_b24trigger_php_string(u_char *p, ngx_str_t *s);
static u_char *ngx_http_b24trigger_php_name(u_char *p,
    ngx_http_b24trigger_php_key_t *key);


ngx_int_t
ngx_http_b24trigger_phpform_json(ngx_pool_t *pool, ngx_array_t *root,
    ngx_str_t *json, const char **error)
{
    u_char                         *p;
    size_t                          size;
    ngx_uint_t                      i, d, c, n, prev;
    ngx_uint_t                      count[NGX_HTTP_B24TRIGGER_DEPTH_MAX];
    ngx_uint_t                      list[NGX_HTTP_B24TRIGGER_DEPTH_MAX];
    ngx_uint_t                      type[NGX_HTTP_B24TRIGGER_DEPTH_MAX];
    ngx_uint_t                      owner[NGX_HTTP_B24TRIGGER_DEPTH_MAX];
    u_char                          open[NGX_HTTP_B24TRIGGER_DEPTH_MAX];
    ngx_http_b24trigger_php_key_t  *key;
    ngx_http_b24trigger_php_var_t  *var;
    ngx_http_b24trigger_root_t     *f;

    n = root->nelts;
    f = root->elts;

    if (n == 0) {
        ngx_str_set(json, "[]");
        return NGX_OK;
    }

    var = ngx_palloc(pool, n * sizeof(ngx_http_b24trigger_php_var_t));
    if (var == NULL) {
        return NGX_ERROR;
    }

    size = 2;

    for (i = 0; i < n; i++) {
        if (ngx_http_b24trigger_php_split(pool, &f[i], &var[i], error)
            != NGX_OK)
        {
            return *error ? NGX_DECLINED : NGX_ERROR;
        }

        /* escaped at most six times over, quotes, colons, brackets */

        size += 6 * var[i].value.len + 3;

        for (d = 0; d < var[i].nkeys; d++) {
            size += 6 * var[i].keys[d].text.len + 6;
        }
    }

    ngx_qsort(var, n, sizeof(ngx_http_b24trigger_php_var_t),
              ngx_http_b24trigger_php_var_cmp);

    /*
     * first pass: no name twice nor both a value and an array; integer
     * and string keys never side by side; which arrays are lists
     */

    count[0] = 0;
    list[0] = 1;
    type[0] = var[0].keys[0].integer;

    for (i = 0; i < n; i++) {

        c = 0;

        if (i > 0) {
            prev = var[i - 1].nkeys;
            c = ngx_http_b24trigger_php_common(&var[i - 1], &var[i]);

            if (c == prev || c == var[i].nkeys) {
                *error = "a name is given twice, or both as a value and "
                         "as an array";
                return NGX_DECLINED;
            }

            /* the arrays of the previous field below c are complete */

            for (d = c + 1; d < prev; d++) {
                var[owner[d]].list[d] = (u_char) list[d];
            }
        }

        for (d = c; d < var[i].nkeys; d++) {
            key = &var[i].keys[d];

            if (d > c) {

                /* a new array at depth d, opened by this field */

                count[d] = 0;
                list[d] = 1;
                type[d] = key->integer;
                owner[d] = i;
            }

            if (key->integer != type[d]) {
                *error = "integer and string keys in the same array";
                return NGX_DECLINED;
            }

            list[d] = list[d] && key->integer
                      && key->n == (int64_t) count[d];
            count[d]++;
        }
    }

    for (d = 1; d < var[n - 1].nkeys; d++) {
        var[owner[d]].list[d] = (u_char) list[d];
    }

    /* second pass: the JSON */

    json->data = ngx_pnalloc(pool, size);
    if (json->data == NULL) {
        return NGX_ERROR;
    }

    p = json->data;

    open[0] = (u_char) list[0];
    *p++ = list[0] ? '[' : '{';

    for (i = 0; i < n; i++) {

        c = 0;

        if (i > 0) {
            prev = var[i - 1].nkeys;
            c = ngx_http_b24trigger_php_common(&var[i - 1], &var[i]);

            for (d = prev - 1; d > c; d--) {
                *p++ = open[d] ? ']' : '}';
            }

            *p++ = ',';
        }

        for (d = c; d < var[i].nkeys; d++) {

            if (!open[d]) {
                p = ngx_http_b24trigger_php_name(p, &var[i].keys[d]);
                *p++ = ':';
            }

            if (d + 1 < var[i].nkeys) {
                open[d + 1] = var[i].list[d + 1];
                *p++ = open[d + 1] ? '[' : '{';
            }
        }

        p = ngx_http_b24trigger_php_string(p, &var[i].value);
    }

    for (d = var[n - 1].nkeys - 1; d > 0; d--) {
        *p++ = open[d] ? ']' : '}';
    }

    *p++ = open[0] ? ']' : '}';

    json->len = p - json->data;

    return NGX_OK;
}


/*
 * "products[0][name]" as PHP's php_register_variable_ex() reads it,
 * where it reads it as b24trigger_field does: a root name without "[",
 * " ", "." or NUL, then "[KEY]" as many times as wanted, each KEY not
 * empty and without "["; nothing after the last "]"
 */

static ngx_int_t
ngx_http_b24trigger_php_split(ngx_pool_t *pool, ngx_http_b24trigger_root_t *f,
    ngx_http_b24trigger_php_var_t *var, const char **error)
{
    u_char                         *p, *last, *start;
    ngx_str_t                       text;
    ngx_uint_t                      n;
    ngx_http_b24trigger_php_key_t   keys[NGX_HTTP_B24TRIGGER_DEPTH_MAX];

    *error = NULL;

    if (!ngx_http_b24trigger_utf8_string(&f->name)
        || !ngx_http_b24trigger_utf8_string(&f->value))
    {
        *error = "a name or a value is not UTF-8";
        return NGX_DECLINED;
    }

    p = f->name.data;
    last = p + f->name.len;

    while (p < last && *p != '[') {
        if (*p == ' ' || *p == '.' || *p == '\0') {
            *error = "a name PHP would rewrite (a space, a dot or a NUL "
                     "before \"[\")";
            return NGX_DECLINED;
        }

        p++;
    }

    if (p == f->name.data) {
        *error = "a name without a root";
        return NGX_DECLINED;
    }

    text.data = f->name.data;
    text.len = p - f->name.data;
    n = 0;

    for ( ;; ) {

        if (n == NGX_HTTP_B24TRIGGER_DEPTH_MAX) {
            *error = "a name nested too deep";
            return NGX_DECLINED;
        }

        if (ngx_http_b24trigger_php_key(&text, &keys[n]) != NGX_OK) {
            *error = "a key PHP would compare as a number";
            return NGX_DECLINED;
        }

        n++;

        if (p == last) {
            break;
        }

        /* *p == '[' */

        start = ++p;

        while (p < last && *p != ']') {
            if (*p == '[' || *p == '\0') {
                p = last;
                break;
            }

            p++;
        }

        if (p == last || p == start || (p + 1 < last && p[1] != '[')) {
            *error = "a name PHP would read otherwise (\"a[]\", \"a[b\", "
                     "\"a[b]c\")";
            return NGX_DECLINED;
        }

        text.data = start;
        text.len = p - start;
        p++;
    }

    var->keys = ngx_palloc(pool, n * sizeof(ngx_http_b24trigger_php_key_t));
    var->list = ngx_pcalloc(pool, n);

    if (var->keys == NULL || var->list == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(var->keys, keys, n * sizeof(ngx_http_b24trigger_php_key_t));
    var->nkeys = n;
    var->value = f->value;

    return NGX_OK;
}


/*
 * A key: an integer as PHP makes one of a string ("0", "57", "-3"; at
 * most 18 digits here), or a string; NGX_DECLINED for a string PHP may
 * take for a number ("00", "1.5", " 1", "1e3"): any string of digits,
 * signs, dots, "e" and white space with a digit in it
 */

static ngx_int_t
ngx_http_b24trigger_php_key(ngx_str_t *text, ngx_http_b24trigger_php_key_t *key)
{
    u_char      *p, *last;
    int64_t      n;
    ngx_uint_t   digit, neg;

    key->text = *text;
    key->integer = 0;
    key->n = 0;

    p = text->data;
    last = p + text->len;
    neg = 0;

    if (p < last && *p == '-') {
        neg = 1;
        p++;
    }

    if (p < last
        && ((*p >= '1' && *p <= '9') || (*p == '0' && p + 1 == last && !neg))
        && last - p <= 18)
    {
        n = 0;

        while (p < last && *p >= '0' && *p <= '9') {
            n = n * 10 + (*p++ - '0');
        }

        if (p == last) {
            key->integer = 1;
            key->n = neg ? -n : n;
            return NGX_OK;
        }
    }

    digit = 0;

    for (p = text->data; p < last; p++) {
        if (*p >= '0' && *p <= '9') {
            digit = 1;
            continue;
        }

        if (*p == '+' || *p == '-' || *p == '.' || *p == 'e' || *p == 'E'
            || *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'
            || *p == '\v' || *p == '\f')
        {
            continue;
        }

        return NGX_OK;
    }

    return digit ? NGX_DECLINED : NGX_OK;
}


/* ksort(): integers by value, strings byte by byte, integers first */

static ngx_int_t
ngx_http_b24trigger_php_key_cmp(ngx_http_b24trigger_php_key_t *a,
    ngx_http_b24trigger_php_key_t *b)
{
    ngx_int_t  rc;

    if (a->integer != b->integer) {
        return a->integer ? -1 : 1;
    }

    if (a->integer) {
        return (a->n < b->n) ? -1 : (a->n > b->n);
    }

    rc = ngx_memcmp(a->text.data, b->text.data,
                    ngx_min(a->text.len, b->text.len));
    if (rc != 0) {
        return rc < 0 ? -1 : 1;
    }

    return (a->text.len < b->text.len) ? -1 : (a->text.len > b->text.len);
}


/* by keys, depth after depth; a name before the longer ones it starts */

static int
ngx_http_b24trigger_php_var_cmp(const void *one, const void *two)
{
    ngx_int_t                       rc;
    ngx_uint_t                      d;
    ngx_http_b24trigger_php_var_t  *a, *b;

    a = (ngx_http_b24trigger_php_var_t *) one;
    b = (ngx_http_b24trigger_php_var_t *) two;

    for (d = 0; d < a->nkeys && d < b->nkeys; d++) {
        rc = ngx_http_b24trigger_php_key_cmp(&a->keys[d], &b->keys[d]);
        if (rc != 0) {
            return (int) rc;
        }
    }

    return (a->nkeys < b->nkeys) ? -1 : (a->nkeys > b->nkeys);
}


/* how many keys, from the root, two fields share */

static ngx_uint_t
ngx_http_b24trigger_php_common(ngx_http_b24trigger_php_var_t *a,
    ngx_http_b24trigger_php_var_t *b)
{
    ngx_uint_t  d;

    for (d = 0; d < a->nkeys && d < b->nkeys; d++) {
        if (ngx_http_b24trigger_php_key_cmp(&a->keys[d], &b->keys[d]) != 0) {
            break;
        }
    }

    return d;
}


/* a key as an object member's name: integers in decimal, quoted */

static u_char *
ngx_http_b24trigger_php_name(u_char *p, ngx_http_b24trigger_php_key_t *key)
{
    if (key->integer) {

        /* the key's text is the integer's canonical decimal */

        *p++ = '"';
        p = ngx_cpymem(p, key->text.data, key->text.len);
        *p++ = '"';

        return p;
    }

    return ngx_http_b24trigger_php_string(p, &key->text);
}


/*
 * A string as json_encode() with JSON_UNESCAPED_UNICODE writes it: '"',
 * '\' and '/' escaped, \b \f \n \r \t, other control characters as
 * \u00xx (lower case), U+2028 and U+2029 as \u2028 and \u2029, the rest
 * of UTF-8 as it is
 */

static u_char *
ngx_http_b24trigger_php_string(u_char *p, ngx_str_t *s)
{
    u_char   c, *q, *last;

    static u_char  hex[] = "0123456789abcdef";

    *p++ = '"';

    q = s->data;
    last = q + s->len;

    while (q < last) {
        c = *q++;

        switch (c) {

        case '"':
        case '\\':
        case '/':
            *p++ = '\\';
            *p++ = c;
            continue;

        case '\b':
            *p++ = '\\'; *p++ = 'b';
            continue;

        case '\f':
            *p++ = '\\'; *p++ = 'f';
            continue;

        case '\n':
            *p++ = '\\'; *p++ = 'n';
            continue;

        case '\r':
            *p++ = '\\'; *p++ = 'r';
            continue;

        case '\t':
            *p++ = '\\'; *p++ = 't';
            continue;

        default:
            break;
        }

        if (c < 0x20) {
            p = ngx_cpymem(p, "\\u00", 4);
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0x0f];
            continue;
        }

        if (c == 0xe2 && last - q >= 2 && q[0] == 0x80
            && (q[1] == 0xa8 || q[1] == 0xa9))
        {
            p = ngx_cpymem(p, q[1] == 0xa8 ? "\\u2028" : "\\u2029", 6);
            q += 2;
            continue;
        }

        *p++ = c;
    }

    *p++ = '"';

    return p;
}
