
/*
 * Copyright (C) b24trigger authors
 *
 * The durable spool of "b24trigger_delivery queue": the directory layout
 *
 *     PATH/tmp/     <pid>.<id>.tmp, being written by the request path
 *     PATH/queue/   <due ms>-<id>.json, ready; any *.json here is taken
 *     PATH/claim/<pid>/   claimed by the worker <pid>, being delivered
 *     PATH/dead/    <id>.json, dead letters with the reason
 *
 * created at configuration load and owned by the worker user; the bytes
 * waiting, in a zone of this file's own, which max_size is checked
 * against; returning the claims of processes that are gone.  An event is
 * put in by ngx_http_b24trigger_queue_enqueue.c on the request path; what
 * happens to a claimed event lives in ngx_http_b24trigger_queue_delivery.c.
 */


#include "ngx_http_b24trigger_queue.h"

#include <dirent.h>


#define NGX_HTTP_B24TRIGGER_SPOOL_ZONE       "b24trigger_queue"
#define NGX_HTTP_B24TRIGGER_SPOOL_ZONE_SIZE  (32 * 1024)


typedef struct {
    off_t                          bytes;      /* in queue/ and claim/ */
} ngx_http_b24trigger_spool_sh_t;


static ngx_int_t ngx_http_b24trigger_spool_init_zone(
    ngx_shm_zone_t *shm_zone, void *data);
static char *ngx_http_b24trigger_spool_dir(ngx_conf_t *cf,
    ngx_http_b24trigger_spool_t *spool, ngx_str_t *dir, const char *sub);
static off_t ngx_http_b24trigger_spool_dir_size(ngx_log_t *log, char *dir,
    ngx_uint_t depth);
static ngx_uint_t ngx_http_b24trigger_pid_alive(ngx_pid_t pid);
static ngx_int_t ngx_http_b24trigger_spool_return(ngx_log_t *log,
    ngx_http_b24trigger_spool_t *spool, char *dir, ngx_pid_t pid);


char *
ngx_http_b24trigger_queue_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_b24trigger_main_conf_t *bmcf = conf;

    char                         *rv;
    ngx_int_t                     n;
    ngx_str_t                    *value, s;
    ngx_uint_t                    i;
    ngx_http_b24trigger_spool_t  *spool;

    if (bmcf->spool) {
        return "is duplicate";
    }

    spool = ngx_pcalloc(cf->pool, sizeof(ngx_http_b24trigger_spool_t));
    if (spool == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    spool->path = value[1];

    spool->max_size = 1024 * 1024 * 1024;
    spool->max_age = 72 * 3600;
    spool->backoff = 1000;
    spool->backoff_max = 300000;
    spool->concurrency = 16;
    spool->visibility = 60000;

    if (value[1].len == 5 && ngx_strncmp(value[1].data, "redis", 5) == 0) {
        /* entries in the stream and the retries, not bytes */
        spool->redis = 1;
        spool->max_size = 1000000;
        goto parameters;
    }

    while (spool->path.len > 1
           && spool->path.data[spool->path.len - 1] == '/')
    {
        spool->path.len--;
    }

    if (ngx_conf_full_name(cf->cycle, &spool->path, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

parameters:

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "max_size=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            if (spool->redis) {
                spool->max_size = ngx_atoi(s.data, s.len);

            } else {
                spool->max_size = ngx_parse_offset(&s);
            }

            if (spool->max_size <= 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "max_age=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            spool->max_age = ngx_parse_time(&s, 1);
            if (spool->max_age == (time_t) NGX_ERROR || spool->max_age == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "backoff=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            spool->backoff = ngx_parse_time(&s, 0);
            if (spool->backoff == (ngx_msec_t) NGX_ERROR
                || spool->backoff == 0)
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "backoff_max=", 12) == 0) {
            s.data = value[i].data + 12;
            s.len = value[i].len - 12;

            spool->backoff_max = ngx_parse_time(&s, 0);
            if (spool->backoff_max == (ngx_msec_t) NGX_ERROR
                || spool->backoff_max == 0)
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "concurrency=", 12) == 0) {
            n = ngx_atoi(value[i].data + 12, value[i].len - 12);
            if (n <= 0) {
                goto invalid;
            }

            spool->concurrency = n;
            continue;
        }

        if (spool->redis && ngx_strncmp(value[i].data, "visibility=", 11) == 0)
        {
            s.data = value[i].data + 11;
            s.len = value[i].len - 11;

            spool->visibility = ngx_parse_time(&s, 0);
            if (spool->visibility == (ngx_msec_t) NGX_ERROR
                || spool->visibility < 1000)
            {
                goto invalid;
            }

            continue;
        }

        goto invalid;
    }

    if (spool->backoff_max < spool->backoff) {
        spool->backoff_max = spool->backoff;
    }

    if (spool->redis) {
        /* no folders: b24trigger_cluster is checked at postconfiguration */
        bmcf->spool = spool;
        return NGX_CONF_OK;
    }

    /* nginx makes them, and gives them to the worker user (ngx_add_path) */

    rv = ngx_http_b24trigger_spool_dir(cf, spool, &spool->path, NULL);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (ngx_http_b24trigger_spool_dir(cf, spool, &spool->tmp, "tmp")
        != NGX_CONF_OK
        || ngx_http_b24trigger_spool_dir(cf, spool, &spool->queue, "queue")
           != NGX_CONF_OK
        || ngx_http_b24trigger_spool_dir(cf, spool, &spool->claim, "claim")
           != NGX_CONF_OK
        || ngx_http_b24trigger_spool_dir(cf, spool, &spool->dead, "dead")
           != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_b24trigger_reach_add(cf, &spool->path, "b24trigger_queue", 0,
                                    NGX_LOG_EMERG)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    bmcf->spool = spool;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


static char *
ngx_http_b24trigger_spool_dir(ngx_conf_t *cf,
    ngx_http_b24trigger_spool_t *spool, ngx_str_t *dir, const char *sub)
{
    u_char      *p;
    size_t       len;
    ngx_path_t  *path;

    if (sub) {
        len = spool->path.len + 1 + ngx_strlen(sub);

        dir->data = ngx_pnalloc(cf->pool, len + 1);
        if (dir->data == NULL) {
            return NGX_CONF_ERROR;
        }

        p = ngx_sprintf(dir->data, "%V/%s", &spool->path, sub);
        *p = '\0';
        dir->len = len;
    }

    path = ngx_pcalloc(cf->pool, sizeof(ngx_path_t));
    if (path == NULL) {
        return NGX_CONF_ERROR;
    }

    path->name = *dir;
    path->conf_file = cf->conf_file->file.name.data;
    path->line = cf->conf_file->line;

    if (ngx_add_path(cf, &path) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


u_char *
ngx_http_b24trigger_spool_path(ngx_pool_t *pool, ngx_str_t *dir,
    ngx_str_t *name)
{
    u_char  *p, *path;

    path = ngx_pnalloc(pool, dir->len + 1 + name->len + 1);
    if (path == NULL) {
        return NULL;
    }

    p = ngx_sprintf(path, "%V/%V", dir, name);
    *p = '\0';

    return path;
}


/*
 * The zone "b24trigger_queue", this file's own: the bytes waiting in
 * queue/ and claim/, which max_size is checked against.  Made at
 * postconfiguration, after the buckets' zone, so that the folders are
 * checked (ngx_http_b24trigger_reach_check()) before the spool is read.
 */

ngx_int_t
ngx_http_b24trigger_spool_init_conf(ngx_conf_t *cf,
    ngx_http_b24trigger_main_conf_t *bmcf)
{
    ngx_str_t                     name;
    ngx_shm_zone_t               *shm_zone;
    ngx_http_b24trigger_spool_t  *spool;

    spool = bmcf->spool;

    if (spool && spool->redis) {
        return ngx_http_b24trigger_queue_redis_init_conf(cf, bmcf);
    }

    if (spool == NULL || bmcf->portals.nelts == 0) {
        return NGX_OK;
    }

    ngx_str_set(&name, NGX_HTTP_B24TRIGGER_SPOOL_ZONE);

    shm_zone = ngx_shared_memory_add(cf, &name,
                                     NGX_HTTP_B24TRIGGER_SPOOL_ZONE_SIZE,
                                     &ngx_http_b24trigger_module);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "shared memory zone \"%V\" is taken", &name);
        return NGX_ERROR;
    }

    shm_zone->init = ngx_http_b24trigger_spool_init_zone;
    shm_zone->data = spool;

    spool->zone = shm_zone;

    return NGX_OK;
}


/* in the master at every configuration load: the spool measured again */

static ngx_int_t
ngx_http_b24trigger_spool_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    size_t                           len;
    ngx_slab_pool_t                 *shpool;
    ngx_http_b24trigger_spool_t     *spool;
    ngx_http_b24trigger_spool_sh_t  *sh;

    spool = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shpool->data == NULL) {
        sh = ngx_slab_alloc(shpool, sizeof(ngx_http_b24trigger_spool_sh_t));
        if (sh == NULL) {
            return NGX_ERROR;
        }

        shpool->data = sh;

        len = sizeof(" in " NGX_HTTP_B24TRIGGER_SPOOL_ZONE " zone") - 1;

        shpool->log_ctx = ngx_slab_alloc(shpool, len + 1);
        if (shpool->log_ctx == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(shpool->log_ctx,
                   " in " NGX_HTTP_B24TRIGGER_SPOOL_ZONE " zone", len + 1);

    } else {
        sh = shpool->data;
    }

    sh->bytes = ngx_http_b24trigger_spool_dir_size(shm_zone->shm.log,
                                                   (char *) spool->queue.data,
                                                   0)
                + ngx_http_b24trigger_spool_dir_size(shm_zone->shm.log,
                                                   (char *) spool->claim.data,
                                                   1);

    return NGX_OK;
}


/* max_size: the bytes of events not yet delivered */

ngx_int_t
ngx_http_b24trigger_spool_reserve(ngx_http_b24trigger_spool_t *spool,
    off_t size)
{
    ngx_int_t                        rc;
    ngx_slab_pool_t                 *shpool;
    ngx_http_b24trigger_spool_sh_t  *sh;

    shpool = (ngx_slab_pool_t *) spool->zone->shm.addr;
    sh = shpool->data;

    ngx_shmtx_lock(&shpool->mutex);

    if (sh->bytes + size > spool->max_size) {
        rc = NGX_DECLINED;

    } else {
        sh->bytes += size;
        rc = NGX_OK;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return rc;
}


void
ngx_http_b24trigger_spool_release(ngx_http_b24trigger_spool_t *spool,
    off_t size)
{
    ngx_slab_pool_t                 *shpool;
    ngx_http_b24trigger_spool_sh_t  *sh;

    if (spool->zone == NULL) {
        return;
    }

    shpool = (ngx_slab_pool_t *) spool->zone->shm.addr;
    sh = shpool->data;

    ngx_shmtx_lock(&shpool->mutex);

    sh->bytes = (sh->bytes > size) ? sh->bytes - size : 0;

    ngx_shmtx_unlock(&shpool->mutex);
}


static off_t
ngx_http_b24trigger_spool_dir_size(ngx_log_t *log, char *dir,
    ngx_uint_t depth)
{
    DIR              *d;
    off_t             size;
    struct stat       st;
    struct dirent    *de;
    u_char            path[NGX_MAX_PATH];

    d = opendir(dir);
    if (d == NULL) {
        return 0;
    }

    size = 0;

    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }

        ngx_snprintf(path, NGX_MAX_PATH, "%s/%s%Z", dir, de->d_name);

        if (stat((char *) path, &st) == -1) {
            continue;
        }

        if (S_ISDIR(st.st_mode)) {
            if (depth) {
                size += ngx_http_b24trigger_spool_dir_size(log, (char *) path,
                                                           depth - 1);
            }

            continue;
        }

        size += st.st_size;
    }

    closedir(d);

    return size;
}


/*
 * Claims of processes that are gone go back to the queue, and what they
 * left half-written in tmp/ is removed (it was never acknowledged).  A
 * process is gone when no process of that pid is a sibling or runs our
 * binary; our own pid counts as gone at start only: a claim of a previous
 * process with the same pid.  Returns the number of events returned.
 */

ngx_int_t
ngx_http_b24trigger_spool_recover(ngx_log_t *log,
    ngx_http_b24trigger_spool_t *spool, ngx_uint_t start)
{
    DIR             *d;
    u_char          *p;
    ngx_int_t        n, total;
    ngx_pid_t        pid;
    struct dirent   *de;
    u_char           path[NGX_MAX_PATH];

    total = 0;

    d = opendir((char *) spool->claim.data);

    if (d == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "opendir() \"%V\" failed", &spool->claim);
        return 0;
    }

    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }

        pid = ngx_atoi((u_char *) de->d_name, ngx_strlen(de->d_name));
        if (pid <= 0) {
            continue;
        }

        if (pid == ngx_pid ? !start : ngx_http_b24trigger_pid_alive(pid)) {
            continue;
        }

        ngx_snprintf(path, NGX_MAX_PATH, "%V/%P%Z", &spool->claim, pid);

        n = ngx_http_b24trigger_spool_return(log, spool, (char *) path, pid);

        if (n > 0) {
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "b24trigger: %i claimed events of exited process "
                          "%P returned to the queue", n, pid);
            total += n;
        }

        if (pid != ngx_pid) {
            (void) rmdir((char *) path);
        }
    }

    closedir(d);

    /* tmp/<pid>.<id>.tmp of processes that are gone */

    d = opendir((char *) spool->tmp.data);
    if (d == NULL) {
        return total;
    }

    while ((de = readdir(d)) != NULL) {
        p = (u_char *) ngx_strchr(de->d_name, '.');
        if (p == NULL || p == (u_char *) de->d_name) {
            continue;
        }

        pid = ngx_atoi((u_char *) de->d_name, p - (u_char *) de->d_name);
        if (pid <= 0
            || (pid == ngx_pid ? !start : ngx_http_b24trigger_pid_alive(pid)))
        {
            continue;
        }

        ngx_snprintf(path, NGX_MAX_PATH, "%V/%s%Z", &spool->tmp, de->d_name);
        (void) ngx_delete_file(path);
    }

    closedir(d);

    return total;
}


static ngx_int_t
ngx_http_b24trigger_spool_return(ngx_log_t *log,
    ngx_http_b24trigger_spool_t *spool, char *dir, ngx_pid_t pid)
{
    DIR             *d;
    ngx_int_t        n;
    struct dirent   *de;
    u_char           from[NGX_MAX_PATH], to[NGX_MAX_PATH];

    d = opendir(dir);
    if (d == NULL) {
        return 0;
    }

    n = 0;

    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') {
            if (de->d_name[1] != '\0'
                && !(de->d_name[1] == '.' && de->d_name[2] == '\0'))
            {
                /* a rewrite that did not finish: the claim still holds */
                ngx_snprintf(from, NGX_MAX_PATH, "%s/%s%Z", dir, de->d_name);
                (void) ngx_delete_file(from);
            }

            continue;
        }

        ngx_snprintf(from, NGX_MAX_PATH, "%s/%s%Z", dir, de->d_name);
        ngx_snprintf(to, NGX_MAX_PATH, "%V/%s%Z", &spool->queue, de->d_name);

        if (ngx_rename_file(from, to) == NGX_FILE_ERROR) {
            if (ngx_errno != NGX_ENOENT) {
                ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                              ngx_rename_file_n " \"%s\" to \"%s\" failed",
                              from, to);
            }

            continue;
        }

        n++;
    }

    closedir(d);

    return n;
}


static ngx_uint_t
ngx_http_b24trigger_pid_alive(ngx_pid_t pid)
{
    u_char   *p;
    ssize_t   n, m;
    ngx_fd_t  fd;
    u_char    path[64], exe[NGX_MAX_PATH], self[NGX_MAX_PATH];

    if (kill(pid, 0) == -1 && ngx_errno == NGX_ESRCH) {
        return 0;
    }

    /* a sibling: a worker of our master, of this or an older generation */

    ngx_snprintf(path, sizeof(path), "/proc/%P/stat%Z", pid);

    fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd != NGX_INVALID_FILE) {
        n = read(fd, exe, sizeof(exe) - 1);
        (void) ngx_close_file(fd);

        if (n > 0) {
            exe[n] = '\0';

            /* "pid (comm) S ppid ...": comm may hold anything but ")" last */

            p = (u_char *) strrchr((char *) exe, ')');

            if (p && p + 4 < exe + n) {
                if (p[2] == 'Z') {
                    return 0;
                }

                if ((ngx_pid_t) strtol((char *) p + 4, NULL, 10)
                    == getppid())
                {
                    return 1;
                }
            }
        }
    }

    /*
     * a pid reused by another program does not hold claims: the process
     * must run the same binary as we do (also when the file was replaced
     * by an upgrade since)
     */

    ngx_snprintf(path, sizeof(path), "/proc/%P/exe%Z", pid);

    m = readlink("/proc/self/exe", (char *) self, sizeof(self));

    if (m <= 0) {
        /* no /proc: trust kill() */
        return 1;
    }

    n = readlink((char *) path, (char *) exe, sizeof(exe));

    if (n <= 0) {
        /* a zombie has no exe; not allowed to look: alive */
        return ngx_errno != NGX_ENOENT;
    }

    if (n > 10 && ngx_strncmp(exe + n - 10, " (deleted)", 10) == 0) {
        n -= 10;
    }

    if (m > 10 && ngx_strncmp(self + m - 10, " (deleted)", 10) == 0) {
        m -= 10;
    }

    return n == m && ngx_strncmp(exe, self, n) == 0;
}
