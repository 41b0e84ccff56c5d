
/*
 * Copyright (C) b24trigger authors
 *
 * What reaches the error log.  Secrets never do: our own messages never
 * print them; nginx's do: at debug level it logs every request header,
 * and a sender using "b24trigger_verify token" puts the secret itself in
 * one.  So the workers' error logs get a writer that replaces every
 * configured secret (portal secrets, b24trigger_secret values) by "***"
 * before the line is written: file logs, and syslog logs, whose line then
 * goes on to nginx's syslog writer.  Memory logs (a debug build's ring
 * buffer, never sent anywhere) keep their own writer.
 *
 * A sender may write a secret otherwise: "token basic" decodes base64, so
 * its secrets are redacted base64-encoded too (padded, unpadded, and all
 * but the last character, which holds bits the decoder drops); "token
 * query=NAME" unescapes the argument, so in every line the value after
 * "?NAME=", "&NAME=" or "\"NAME=" (nginx's "http args" debug line), up
 * to "&", a space, a quote or the end, is masked whatever it is.
 *
 * A value from a sender or a portal (a dedup key, a code, a target, the
 * portal's error) is printed only through ngx_http_b24trigger_log_value():
 * escaped as nginx escapes $request in the access log, and bounded, so
 * it cannot forge a line or flood one.
 */


#include "ngx_http_b24trigger.h"


#define NGX_HTTP_B24TRIGGER_REDACT_MIN  4

/* bytes of a value from outside shown in a log line, then "..." */
#define NGX_HTTP_B24TRIGGER_LOG_VALUE_MAX  256


static ngx_int_t ngx_http_b24trigger_redact_chain(ngx_log_t *log,
    ngx_log_writer_pt writer);
static void ngx_http_b24trigger_redact_writer(ngx_log_t *log,
    ngx_uint_t level, u_char *buf, size_t len);
static size_t ngx_http_b24trigger_redact_masked(u_char *buf, size_t len,
    ngx_uint_t escaped);
static size_t ngx_http_b24trigger_redact_list(u_char *buf, size_t len,
    ngx_str_t *s, ngx_uint_t n, ngx_uint_t escaped);
static u_char *ngx_http_b24trigger_redact_find(u_char *p, u_char *last,
    ngx_str_t *s, ngx_uint_t escaped, size_t *hlen);
static size_t ngx_http_b24trigger_redact_match(u_char *p, u_char *last,
    ngx_str_t *s);
static ngx_int_t ngx_http_b24trigger_redact_hex(u_char *p, ngx_uint_t n);
static size_t ngx_http_b24trigger_redact_args(u_char *buf, size_t len);


static ngx_array_t  *ngx_http_b24trigger_redact_secrets;
static ngx_array_t  *ngx_http_b24trigger_redact_names;
static ngx_array_t  *ngx_http_b24trigger_redact_logs;

static ngx_str_t  ngx_http_b24trigger_log_no_memory =
    ngx_string("(no memory)");


/*
 * A value from outside, for a log line: bytes below 0x20, from 0x7f, the
 * quote and the backslash as \xHH (as nginx's access log escapes
 * $request), at most NGX_HTTP_B24TRIGGER_LOG_VALUE_MAX bytes of it, then
 * "..."; NUL-ended.  Never NULL: usable right in the argument list.
 */

ngx_str_t *
ngx_http_b24trigger_log_value(ngx_pool_t *pool, ngx_str_t *value)
{
    u_char         *p, c;
    size_t          len, n, i;
    ngx_str_t      *out;
    static u_char   hex[] = "0123456789ABCDEF";

    len = ngx_min(value->len, NGX_HTTP_B24TRIGGER_LOG_VALUE_MAX);

    n = 0;

    for (i = 0; i < len; i++) {
        c = value->data[i];
        n += (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') ? 4 : 1;
    }

    out = ngx_palloc(pool, sizeof(ngx_str_t));
    if (out == NULL) {
        return &ngx_http_b24trigger_log_no_memory;
    }

    out->data = ngx_pnalloc(pool, n + sizeof("...") - 1 + 1);
    if (out->data == NULL) {
        return &ngx_http_b24trigger_log_no_memory;
    }

    p = out->data;

    for (i = 0; i < len; i++) {
        c = value->data[i];

        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = 'x';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0xf];

        } else {
            *p++ = c;
        }
    }

    if (value->len > len) {
        p = ngx_cpymem(p, "...", sizeof("...") - 1);
    }

    *p = '\0';
    out->len = p - out->data;

    return out;
}


ngx_int_t
ngx_http_b24trigger_redact_secret(ngx_conf_t *cf, ngx_str_t *secret)
{
    ngx_str_t                        *s;
    ngx_uint_t                        i;
    ngx_http_b24trigger_main_conf_t  *bmcf;

    if (secret->len < NGX_HTTP_B24TRIGGER_REDACT_MIN) {
        return NGX_OK;
    }

    bmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_b24trigger_module);

    s = bmcf->redact.elts;

    for (i = 0; i < bmcf->redact.nelts; i++) {
        if (s[i].len == secret->len
            && ngx_memcmp(s[i].data, secret->data, secret->len) == 0)
        {
            return NGX_OK;
        }
    }

    s = ngx_array_push(&bmcf->redact);
    if (s == NULL) {
        return NGX_ERROR;
    }

    *s = *secret;

    return NGX_OK;
}


/* "token basic": the secret "user:password" as base64 */

ngx_int_t
ngx_http_b24trigger_redact_base64(ngx_conf_t *cf, ngx_str_t *secret)
{
    ngx_str_t  encoded;

    if (secret->len < NGX_HTTP_B24TRIGGER_REDACT_MIN) {
        return NGX_OK;
    }

    encoded.len = ngx_base64_encoded_length(secret->len);
    encoded.data = ngx_pnalloc(cf->pool, encoded.len);
    if (encoded.data == NULL) {
        return NGX_ERROR;
    }

    ngx_encode_base64(&encoded, secret);

    if (ngx_http_b24trigger_redact_secret(cf, &encoded) != NGX_OK) {
        return NGX_ERROR;
    }

    while (encoded.data[encoded.len - 1] == '=') {
        encoded.len--;
    }

    if (ngx_http_b24trigger_redact_secret(cf, &encoded) != NGX_OK) {
        return NGX_ERROR;
    }

    if (secret->len % 3 == 0) {
        return NGX_OK;
    }

    encoded.len--;

    return ngx_http_b24trigger_redact_secret(cf, &encoded);
}


/* "token query=NAME": the argument's value, however it is escaped */

ngx_int_t
ngx_http_b24trigger_redact_arg(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_str_t                        *a;
    ngx_uint_t                        i;
    ngx_http_b24trigger_main_conf_t  *bmcf;

    bmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_b24trigger_module);

    a = bmcf->redact_args.elts;

    for (i = 0; i < bmcf->redact_args.nelts; i++) {
        if (a[i].len == name->len
            && ngx_strncasecmp(a[i].data, name->data, name->len) == 0)
        {
            return NGX_OK;
        }
    }

    a = ngx_array_push(&bmcf->redact_args);
    if (a == NULL) {
        return NGX_ERROR;
    }

    *a = *name;

    return NGX_OK;
}


ngx_int_t
ngx_http_b24trigger_redact_log(ngx_conf_t *cf, ngx_log_t *log)
{
    ngx_log_t                        **l;
    ngx_uint_t                         i;
    ngx_http_b24trigger_main_conf_t   *bmcf;

    bmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_b24trigger_module);

    l = bmcf->logs.elts;

    for (i = 0; i < bmcf->logs.nelts; i++) {
        if (l[i] == log) {
            return NGX_OK;
        }
    }

    l = ngx_array_push(&bmcf->logs);
    if (l == NULL) {
        return NGX_ERROR;
    }

    *l = log;

    return NGX_OK;
}


/* in each worker, before it serves anything */

ngx_int_t
ngx_http_b24trigger_redact_init(ngx_cycle_t *cycle,
    ngx_http_b24trigger_main_conf_t *bmcf)
{
    ngx_log_t   **l;
    ngx_uint_t    i;

    if (bmcf->redact.nelts == 0 && bmcf->redact_args.nelts == 0) {
        return NGX_OK;
    }

    ngx_http_b24trigger_redact_secrets = &bmcf->redact;
    ngx_http_b24trigger_redact_names = &bmcf->redact_args;
    ngx_http_b24trigger_redact_logs = &bmcf->logs;

    (void) ngx_http_b24trigger_redact_chain(&cycle->new_log,
                                        ngx_http_b24trigger_redact_writer);

    l = bmcf->logs.elts;

    for (i = 0; i < bmcf->logs.nelts; i++) {
        (void) ngx_http_b24trigger_redact_chain(l[i],
                                        ngx_http_b24trigger_redact_writer);
    }

    return NGX_OK;
}


/*
 * At exit, before the module is unloaded: nginx logs while it destroys
 * the cycle, and a writer pointing into an unmapped module would crash it
 */

void
ngx_http_b24trigger_redact_exit(ngx_cycle_t *cycle)
{
    ngx_log_t   **l;
    ngx_uint_t    i;

    if (ngx_http_b24trigger_redact_logs == NULL) {
        return;
    }

    (void) ngx_http_b24trigger_redact_chain(&cycle->new_log, NULL);

    l = ngx_http_b24trigger_redact_logs->elts;

    for (i = 0; i < ngx_http_b24trigger_redact_logs->nelts; i++) {
        (void) ngx_http_b24trigger_redact_chain(l[i], NULL);
    }

    ngx_http_b24trigger_redact_logs = NULL;
    ngx_http_b24trigger_redact_secrets = NULL;
    ngx_http_b24trigger_redact_names = NULL;
}


/*
 * installs writer in file and syslog logs, or puts theirs back (writer
 * NULL): a file log has no writer of its own, a syslog log has no file
 */

static ngx_int_t
ngx_http_b24trigger_redact_chain(ngx_log_t *log, ngx_log_writer_pt writer)
{
    for ( /* void */ ; log; log = log->next) {

        if (writer != NULL) {
            if ((log->writer == NULL && log->file != NULL)
                || log->writer == ngx_syslog_writer)
            {
                log->writer = writer;
            }

        } else if (log->writer == ngx_http_b24trigger_redact_writer) {
            log->writer = (log->file != NULL) ? NULL : ngx_syslog_writer;
        }
    }

    return NGX_OK;
}


static void
ngx_http_b24trigger_redact_writer(ngx_log_t *log, ngx_uint_t level,
    u_char *buf, size_t len)
{
    u_char  *o;
    u_char   out[NGX_MAX_ERROR_STR + 1];

    if (len > NGX_MAX_ERROR_STR) {
        len = NGX_MAX_ERROR_STR;
    }

    ngx_memcpy(out, buf, len);

    o = out + ngx_http_b24trigger_redact_text(out, len);

    if (ngx_http_b24trigger_redact_names->nelts) {
        o = out + ngx_http_b24trigger_redact_args(out, o - out);
    }

    *o = '\0';

    if (log->file == NULL) {
        /* a syslog log: its own writer sends the line, now redacted */
        ngx_syslog_writer(log, level, out, o - out);
        return;
    }

    (void) ngx_write_fd(log->file->fd, out, o - out);
}


/*
 * Every configured secret replaced by "***" in buf, in place (the
 * log's lines): the new length, never more
 */

size_t
ngx_http_b24trigger_redact_text(u_char *buf, size_t len)
{
    return ngx_http_b24trigger_redact_masked(buf, len, 0);
}


/*
 * The same for a body as a sender wrote it (the journal's bodies): a
 * secret is also found where its bytes are escaped as the body's format
 * escapes them ("token field=" reads the value decoded): "%2F" or "%2f"
 * in a form, "+" for a space, "\/" or "\u002f" in JSON
 */

size_t
ngx_http_b24trigger_redact_body(u_char *buf, size_t len)
{
    return ngx_http_b24trigger_redact_masked(buf, len, 1);
}


/*
 * One secret no configuration names (a call's OAuth access token)
 * replaced as the configured ones are; one shorter than "***" is left
 */

size_t
ngx_http_b24trigger_redact_one(u_char *buf, size_t len, ngx_str_t *secret)
{
    if (secret->len < 3) {
        return len;
    }

    return ngx_http_b24trigger_redact_list(buf, len, secret, 1, 0);
}


static size_t
ngx_http_b24trigger_redact_masked(u_char *buf, size_t len,
    ngx_uint_t escaped)
{
    if (ngx_http_b24trigger_redact_secrets == NULL) {
        return len;
    }

    return ngx_http_b24trigger_redact_list(buf, len,
                                    ngx_http_b24trigger_redact_secrets->elts,
                                    ngx_http_b24trigger_redact_secrets->nelts,
                                    escaped);
}


/* the n secrets s replaced in buf, in place: the new length */

static size_t
ngx_http_b24trigger_redact_list(u_char *buf, size_t len, ngx_str_t *s,
    ngx_uint_t n, ngx_uint_t escaped)
{
    u_char      *p, *last, *hit, *o, *next;
    size_t       hlen, n1;
    ngx_uint_t   i;

    p = buf;
    last = buf + len;
    o = buf;
    hlen = 0;

    /*
     * every secret is at least 3 bytes (4 configured), at least as many
     * written, and becomes "***": o stays behind p
     */

    while (p < last) {
        hit = NULL;

        for (i = 0; i < n; i++) {
            if (s[i].len > (size_t) (last - p)) {
                continue;
            }

            next = ngx_http_b24trigger_redact_find(p, last, &s[i], escaped,
                                                   &n1);

            /* the first, and the longest there (a padded base64) */

            if (next != NULL
                && (hit == NULL || next < hit
                    || (next == hit && n1 > hlen)))
            {
                hit = next;
                hlen = n1;
            }
        }

        if (hit == NULL) {
            o = ngx_movemem(o, p, last - p);
            break;
        }

        o = ngx_movemem(o, p, hit - p);
        o = ngx_cpymem(o, "***", 3);
        p = hit + hlen;
    }

    return o - buf;
}


/* where s is first written from p on, and in how many bytes (*hlen) */

static u_char *
ngx_http_b24trigger_redact_find(u_char *p, u_char *last, ngx_str_t *s,
    ngx_uint_t escaped, size_t *hlen)
{
    size_t  n;

    if (!escaped) {
        last -= s->len - 1;

        for ( /* void */ ; p < last; p++) {
            if (*p == s->data[0] && ngx_memcmp(p, s->data, s->len) == 0) {
                *hlen = s->len;
                return p;
            }
        }

        return NULL;
    }

    for ( /* void */ ; p < last; p++) {
        if (*p != s->data[0] && *p != '%' && *p != '\\' && *p != '+') {
            continue;
        }

        n = ngx_http_b24trigger_redact_match(p, last, s);

        if (n) {
            *hlen = n;
            return p;
        }
    }

    return NULL;
}


/* the bytes s takes at p, each byte as it is or escaped; 0: not there */

static size_t
ngx_http_b24trigger_redact_match(u_char *p, u_char *last, ngx_str_t *s)
{
    u_char      *q, c;
    ngx_uint_t   i;

    q = p;

    for (i = 0; i < s->len; i++) {
        c = s->data[i];

        if (q >= last) {
            return 0;
        }

        if (*q == c) {
            q++;

        } else if (*q == '%' && last - q >= 3
                   && ngx_http_b24trigger_redact_hex(q + 1, 2) == c)
        {
            q += 3;

        } else if (*q == '+' && c == ' ') {
            q++;

        } else if (*q == '\\' && last - q >= 2 && q[1] == c
                   && (c == '/' || c == '"' || c == '\\'))
        {
            q += 2;

        } else if (*q == '\\' && last - q >= 6 && q[1] == 'u'
                   && ngx_http_b24trigger_redact_hex(q + 2, 4) == c)
        {
            q += 6;

        } else {
            return 0;
        }
    }

    return q - p;
}


/* n hex digits at p, their value; -1: not hex digits */

static ngx_int_t
ngx_http_b24trigger_redact_hex(u_char *p, ngx_uint_t n)
{
    u_char      c;
    ngx_int_t   v;
    ngx_uint_t  i;

    v = 0;

    for (i = 0; i < n; i++) {
        c = p[i];

        if (c >= '0' && c <= '9') {
            v = v * 16 + (c - '0');

        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            v = v * 16 + ((c | 0x20) - 'a' + 10);

        } else {
            return -1;
        }
    }

    return v;
}


/*
 * masks in place the value of each "token query=" argument, by as many
 * "*" as it has bytes, three at most: the line never grows; the length
 */

static size_t
ngx_http_b24trigger_redact_args(u_char *buf, size_t len)
{
    u_char      *p, *o, *last, *v, c;
    size_t       n;
    ngx_str_t   *a;
    ngx_uint_t   i;

    a = ngx_http_b24trigger_redact_names->elts;

    p = buf;
    o = buf;
    last = buf + len;

    while (p < last) {
        c = *p;
        *o++ = *p++;

        if (c != '?' && c != '&' && c != '"') {
            continue;
        }

        for (i = 0; i < ngx_http_b24trigger_redact_names->nelts; i++) {
            if ((size_t) (last - p) > a[i].len
                && p[a[i].len] == '='
                && ngx_strncasecmp(p, a[i].data, a[i].len) == 0)
            {
                break;
            }
        }

        if (i == ngx_http_b24trigger_redact_names->nelts) {
            continue;
        }

        for (n = a[i].len + 1; n; n--) {
            *o++ = *p++;
        }

        for (v = p; v < last && *v != '&' && *v != ' ' && *v != '"'; v++) {
            /* void */
        }

        for (n = ngx_min((size_t) (v - p), 3); n; n--) {
            *o++ = '*';
        }

        p = v;
    }

    return o - buf;
}
