
/*
 * Copyright (C) b24trigger authors
 *
 * The one writer of the module's files: the spool's events
 * (ngx_http_b24trigger_queue_enqueue.c, ngx_http_b24trigger_queue_delivery.c)
 * and the OAuth state file with its tokens (ngx_http_b24trigger_oauth.c).
 * A file is private (0600) and appears whole under its name or not at
 * all.  Knows paths and bytes, nothing of what is in them.
 */


#include "ngx_http_b24trigger.h"


/*
 * write the file tmp, fsync it, rename it to name; with sync_dir (DURABLE
 * or KEEP), fsync the directory of name too, so the new name survives a
 * power cut.  The
 * file is 0600 and tmp is created, never opened: whatever is found at
 * that name (a file left by a crash, a symlink planted there) is removed,
 * not followed; rename() replaces a symlink at name, never its target.
 * Every file of the module goes through here: the spool's events and the
 * OAuth state file with its tokens.
 */

ngx_int_t
ngx_http_b24trigger_file_write(ngx_log_t *log, u_char *tmp, u_char *name,
    u_char *data, size_t len, ngx_uint_t sync_dir)
{
    u_char     *slash;
    ssize_t     n;
    ngx_fd_t    fd;
    ngx_err_t   err;

    fd = open((char *) tmp, O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW, 0600);

    if (fd == NGX_INVALID_FILE && ngx_errno == NGX_EEXIST) {

        if (unlink((char *) tmp) == 0) {
            fd = open((char *) tmp, O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW,
                      0600);

        } else {
            ngx_set_errno(NGX_EEXIST);
        }
    }

    if (fd == NGX_INVALID_FILE) {
        err = ngx_errno;
        ngx_log_error(NGX_LOG_ERR, log, err,
                      ngx_open_file_n " \"%s\" failed", tmp);
        ngx_set_errno(err);
        return NGX_ERROR;
    }

    n = write(fd, data, len);

    if (n != (ssize_t) len) {
        err = (n == -1) ? ngx_errno : NGX_ENOSPC;
        ngx_log_error(NGX_LOG_ERR, log, err, "write() \"%s\" failed", tmp);
        goto failed;
    }

    if (fsync(fd) == -1) {
        err = ngx_errno;
        ngx_log_error(NGX_LOG_ERR, log, err, "fsync() \"%s\" failed", tmp);
        goto failed;
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        err = ngx_errno;
        ngx_log_error(NGX_LOG_ERR, log, err,
                      ngx_close_file_n " \"%s\" failed", tmp);
        fd = NGX_INVALID_FILE;
        goto failed;
    }

    fd = NGX_INVALID_FILE;

    if (ngx_rename_file(tmp, name) == NGX_FILE_ERROR) {
        err = ngx_errno;
        ngx_log_error(NGX_LOG_ERR, log, err,
                      ngx_rename_file_n " \"%s\" to \"%s\" failed",
                      tmp, name);
        goto failed;
    }

    if (!sync_dir) {
        return NGX_OK;
    }

    slash = (u_char *) strrchr((char *) name, '/');

    *slash = '\0';
    fd = open((char *) name, O_RDONLY|O_DIRECTORY);
    err = ngx_errno;
    *slash = '/';

    if (fd == -1 || fsync(fd) == -1) {
        err = (fd == -1) ? err : ngx_errno;
        ngx_log_error(NGX_LOG_ERR, log, err,
                      "fsync() of the directory of \"%s\" failed", name);

        if (fd != -1) {
            (void) ngx_close_file(fd);
        }

        /*
         * the name may not survive a crash: an event's sender must not
         * rely on it (DURABLE: gone, 503); an OAuth state file keeps it
         * (KEEP): it holds the only pair the token server still honours
         */

        if (sync_dir == NGX_HTTP_B24TRIGGER_FILE_DURABLE) {
            (void) ngx_delete_file(name);
        }

        ngx_set_errno(err);
        return NGX_ERROR;
    }

    (void) ngx_close_file(fd);

    return NGX_OK;

failed:

    if (fd != NGX_INVALID_FILE) {
        (void) ngx_close_file(fd);
    }

    (void) ngx_delete_file(tmp);
    ngx_set_errno(err);

    return NGX_ERROR;
}
