
/*
 * Copyright (C) b24trigger authors
 *
 * Loading secret values at configuration time: written inline, read from
 * "file:PATH" (its first line) or from "env:NAME".  Messages name where a
 * secret comes from, never what it is.
 */


#include "ngx_http_b24trigger.h"


#define NGX_HTTP_B24TRIGGER_SECRET_MAX  4096


static ngx_int_t ngx_http_b24trigger_secret_file(ngx_conf_t *cf,
    ngx_str_t *path, ngx_str_t *value, const char *what);


ngx_int_t
ngx_http_b24trigger_secret_load(ngx_conf_t *cf, ngx_str_t *spec,
    ngx_str_t *value, const char *what)
{
    char       *env;
    size_t      len;
    ngx_str_t   name;

    if (spec->len > 5 && ngx_strncmp(spec->data, "file:", 5) == 0) {
        name.data = spec->data + 5;
        name.len = spec->len - 5;

        return ngx_http_b24trigger_secret_file(cf, &name, value, what);
    }

    if (spec->len > 4 && ngx_strncmp(spec->data, "env:", 4) == 0) {
        name.data = spec->data + 4;
        name.len = spec->len - 4;

        /* spec comes from the configuration parser: NUL-terminated */

        env = getenv((char *) name.data);

        if (env == NULL || env[0] == '\0') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s: environment variable \"%V\" is not set "
                               "or empty", what, &name);
            return NGX_ERROR;
        }

        len = ngx_strlen(env);

        value->data = ngx_pnalloc(cf->pool, len + 1);
        if (value->data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(value->data, env, len + 1);
        value->len = len;

        return NGX_OK;
    }

    if (spec->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s: empty value", what);
        return NGX_ERROR;
    }

    *value = *spec;

    return NGX_OK;
}


static ngx_int_t
ngx_http_b24trigger_secret_file(ngx_conf_t *cf, ngx_str_t *path,
    ngx_str_t *value, const char *what)
{
    u_char           *p, *last;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_str_t         full;
    ngx_file_info_t   fi;
    u_char            buf[NGX_HTTP_B24TRIGGER_SECRET_MAX];

    full = *path;

    if (ngx_conf_full_name(cf->cycle, &full, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(full.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "%s: cannot open secret file \"%V\"",
                           what, &full);
        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "%s: cannot stat secret file \"%V\"",
                           what, &full);
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    if (fi.st_mode & (S_IRWXG|S_IRWXO)) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "%s: secret file \"%V\" is accessible by group "
                           "or others (mode %d%d%d), consider chmod 600",
                           what, &full, (int) (fi.st_mode >> 6) & 7,
                           (int) (fi.st_mode >> 3) & 7,
                           (int) fi.st_mode & 7);
    }

    n = read(fd, buf, sizeof(buf));

    if (n == -1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "%s: cannot read secret file \"%V\"",
                           what, &full);
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    (void) ngx_close_file(fd);

    /* the first line; a trailing "\r\n" or "\n" is not part of it */

    last = buf + n;
    p = ngx_strlchr(buf, last, '\n');

    if (p != NULL) {
        last = p;
    }

    if (last > buf && last[-1] == '\r') {
        last--;
    }

    if (last == buf) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s: secret file \"%V\" is empty", what, &full);
        return NGX_ERROR;
    }

    if (p == NULL && n == (ssize_t) sizeof(buf)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s: secret file \"%V\" has a first line longer "
                           "than %d bytes", what, &full,
                           NGX_HTTP_B24TRIGGER_SECRET_MAX - 1);
        return NGX_ERROR;
    }

    value->len = last - buf;
    value->data = ngx_pnalloc(cf->pool, value->len + 1);
    if (value->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(value->data, buf, value->len);
    value->data[value->len] = '\0';

    ngx_explicit_memzero(buf, sizeof(buf));

    return NGX_OK;
}
