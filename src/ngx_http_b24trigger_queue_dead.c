
/*
 * Copyright (C) b24trigger authors
 *
 * The dead letters of the spool (PATH/dead/<id>.json) for the status
 * API: listed newest first with filters, replayed (renamed back into
 * PATH/queue, where delivery picks them up as doc/queue.md says) or
 * dropped (removed).  An id names a file only once it is checked as the
 * spool checks ids.  Reads files of at most 64 KB and renames or removes
 * one: short disk work in a management request, never on a webhook's
 * way.  Knows the spool's layout, nothing of HTTP.
 */


#include "ngx_http_b24trigger_queue.h"

#include <dirent.h>
#include <jansson.h>


/* names of dead/ looked at by one request, and the largest file read */
#define NGX_HTTP_B24TRIGGER_DEAD_SCAN_MAX   10000
#define NGX_HTTP_B24TRIGGER_DEAD_FILE_MAX   65536


static ngx_int_t ngx_http_b24trigger_dead_parse(ngx_pool_t *pool,
    ngx_str_t *id, u_char *buf, size_t len, ngx_http_b24trigger_dfilter_t *f,
    ngx_http_b24trigger_dead_t *dl);
static ngx_int_t ngx_http_b24trigger_dead_redis(ngx_pool_t *pool,
    ngx_http_b24trigger_dfilter_t *f, ngx_array_t *out);
static ngx_int_t ngx_http_b24trigger_dead_read(ngx_pool_t *pool,
    ngx_log_t *log, ngx_http_b24trigger_spool_t *spool, ngx_str_t *name,
    ngx_http_b24trigger_dfilter_t *f, ngx_http_b24trigger_dead_t *dl);
static ngx_int_t ngx_http_b24trigger_dead_str(ngx_pool_t *pool,
    json_t *root, const char *key, const char *sub, ngx_str_t *s);
static ngx_int_t ngx_http_b24trigger_dead_match(ngx_str_t *want,
    ngx_str_t *have);
static int ngx_libc_cdecl ngx_http_b24trigger_dead_cmp(const void *one,
    const void *two);


/* an id as the spool writes them: [A-Za-z0-9._-], no leading ".", <= 128 */

ngx_int_t
ngx_http_b24trigger_dead_id_valid(ngx_str_t *id)
{
    size_t  i;

    if (id->len == 0 || id->len > NGX_HTTP_B24TRIGGER_EVENT_ID_MAX
        || id->data[0] == '.')
    {
        return 0;
    }

    for (i = 0; i < id->len; i++) {
        if (!((id->data[i] >= 'a' && id->data[i] <= 'z')
              || (id->data[i] >= 'A' && id->data[i] <= 'Z')
              || (id->data[i] >= '0' && id->data[i] <= '9')
              || id->data[i] == '.' || id->data[i] == '_'
              || id->data[i] == '-'))
        {
            return 0;
        }
    }

    return 1;
}


/* the dead letters that match, newest first (ids begin with their ms) */

ngx_int_t
ngx_http_b24trigger_dead_list(ngx_pool_t *pool, ngx_log_t *log,
    ngx_http_b24trigger_spool_t *spool, ngx_http_b24trigger_dfilter_t *f,
    ngx_array_t *out)
{
    DIR                         *dir;
    size_t                       len;
    ngx_str_t                   *name, one;
    ngx_int_t                    rc;
    ngx_uint_t                   i;
    ngx_array_t                  names;
    struct dirent               *de;
    ngx_http_b24trigger_dead_t  *dl;

    f->total = 0;

    if (spool->redis) {
        /* kept in Redis: what ngx_http_b24trigger_queue_redis.c read */
        return ngx_http_b24trigger_dead_redis(pool, f, out);
    }

    if (ngx_array_init(&names, pool, 64, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    if (f->id.len) {

        /* one: no need to look at the folder */

        if (!ngx_http_b24trigger_dead_id_valid(&f->id)) {
            return NGX_OK;
        }

        one.len = f->id.len + sizeof(".json") - 1;
        one.data = ngx_pnalloc(pool, one.len);
        if (one.data == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(one.data, "%V.json", &f->id);

        name = ngx_array_push(&names);
        if (name == NULL) {
            return NGX_ERROR;
        }

        *name = one;

    } else {

        dir = opendir((char *) spool->dead.data);
        if (dir == NULL) {
            ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                          "opendir() \"%s\" failed", spool->dead.data);
            return NGX_ERROR;
        }

        while (names.nelts < NGX_HTTP_B24TRIGGER_DEAD_SCAN_MAX) {
            ngx_set_errno(0);
            de = readdir(dir);

            if (de == NULL) {
                break;
            }

            len = ngx_strlen(de->d_name);

            if (len <= sizeof(".json") - 1 || de->d_name[0] == '.'
                || ngx_strcmp(de->d_name + len - 5, ".json") != 0)
            {
                continue;
            }

            name = ngx_array_push(&names);
            if (name == NULL) {
                closedir(dir);
                return NGX_ERROR;
            }

            name->len = len;
            name->data = ngx_pnalloc(pool, len);
            if (name->data == NULL) {
                closedir(dir);
                return NGX_ERROR;
            }

            ngx_memcpy(name->data, de->d_name, len);
        }

        closedir(dir);

        ngx_qsort(names.elts, names.nelts, sizeof(ngx_str_t),
                  ngx_http_b24trigger_dead_cmp);
    }

    f->total = names.nelts;
    name = names.elts;

    for (i = 0; i < names.nelts && out->nelts < f->limit; i++) {

        dl = ngx_array_push(out);
        if (dl == NULL) {
            return NGX_ERROR;
        }

        rc = ngx_http_b24trigger_dead_read(pool, log, spool, &name[i], f, dl);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc != NGX_OK) {
            /* gone, not an event, or not asked for */
            out->nelts--;
        }
    }

    return NGX_OK;
}


/*
 * NGX_OK: listed; NGX_DONE: a dead letter that does not match;
 * NGX_DECLINED: none (gone, not an event)
 */

static ngx_int_t
ngx_http_b24trigger_dead_read(ngx_pool_t *pool, ngx_log_t *log,
    ngx_http_b24trigger_spool_t *spool, ngx_str_t *name,
    ngx_http_b24trigger_dfilter_t *f, ngx_http_b24trigger_dead_t *dl)
{
    u_char           *path, *buf;
    size_t            len;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_str_t         id;
    ngx_file_info_t   fi;

    id.data = name->data;
    id.len = name->len - (sizeof(".json") - 1);

    if (!ngx_http_b24trigger_dead_id_valid(&id)) {
        return NGX_DECLINED;
    }

    path = ngx_http_b24trigger_spool_path(pool, &spool->dead, name);
    if (path == NULL) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN|O_NOFOLLOW, 0);

    if (fd == NGX_INVALID_FILE) {
        return NGX_DECLINED;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || !ngx_is_file(&fi)
        || ngx_file_size(&fi) > NGX_HTTP_B24TRIGGER_DEAD_FILE_MAX)
    {
        (void) ngx_close_file(fd);
        return NGX_DECLINED;
    }

    len = (size_t) ngx_file_size(&fi);

    buf = ngx_pnalloc(pool, len + 1);
    if (buf == NULL) {
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    n = read(fd, buf, len);
    (void) ngx_close_file(fd);

    if (n != (ssize_t) len) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "read() \"%s\" failed", path);
        return NGX_DECLINED;
    }

    return ngx_http_b24trigger_dead_parse(pool, &id, buf, len, f, dl);
}


/*
 * The dead letters of "b24trigger_queue redis", as Redis gave them to the
 * request (ngx_http_b24trigger_queue_redis_dead_snapshot()): the same
 * order (newest id first), filter and limit as the files
 */

static ngx_int_t
ngx_http_b24trigger_dead_redis(ngx_pool_t *pool,
    ngx_http_b24trigger_dfilter_t *f, ngx_array_t *out)
{
    ngx_int_t                    rc;
    ngx_str_t                   *name;
    ngx_uint_t                   i, j;
    ngx_array_t                 *snap, names;
    ngx_keyval_t                *kv;
    ngx_http_b24trigger_dead_t  *dl;

    snap = ngx_http_b24trigger_queue_redis_dead_snapshot();

    if (snap == NULL) {
        return NGX_OK;
    }

    if (ngx_array_init(&names, pool, snap->nelts + 1, sizeof(ngx_str_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    kv = snap->elts;

    for (i = 0; i < snap->nelts; i++) {
        if (f->id.len
            && (f->id.len != kv[i].key.len
                || ngx_strncmp(f->id.data, kv[i].key.data, f->id.len) != 0))
        {
            continue;
        }

        name = ngx_array_push(&names);
        if (name == NULL) {
            return NGX_ERROR;
        }

        *name = kv[i].key;
    }

    ngx_qsort(names.elts, names.nelts, sizeof(ngx_str_t),
              ngx_http_b24trigger_dead_cmp);

    f->total = names.nelts;
    name = names.elts;

    for (i = 0; i < names.nelts && out->nelts < f->limit; i++) {

        for (j = 0; j < snap->nelts; j++) {
            if (kv[j].key.data == name[i].data) {
                break;
            }
        }

        dl = ngx_array_push(out);
        if (dl == NULL) {
            return NGX_ERROR;
        }

        rc = ngx_http_b24trigger_dead_parse(pool, &name[i],
                                            kv[j].value.data,
                                            kv[j].value.len, f, dl);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc != NGX_OK) {
            out->nelts--;
        }
    }

    return NGX_OK;
}


/* a dead letter's JSON: NGX_OK, NGX_DONE (does not match), NGX_DECLINED */

static ngx_int_t
ngx_http_b24trigger_dead_parse(ngx_pool_t *pool, ngx_str_t *id, u_char *buf,
    size_t len, ngx_http_b24trigger_dfilter_t *f,
    ngx_http_b24trigger_dead_t *dl)
{
    json_t     *root, *v;
    ngx_int_t   rc;

    root = json_loadb((char *) buf, len, JSON_REJECT_DUPLICATES, NULL);

    if (root == NULL || !json_is_object(root)) {
        if (root) {
            json_decref(root);
        }

        return NGX_DECLINED;
    }

    ngx_memzero(dl, sizeof(ngx_http_b24trigger_dead_t));

    dl->id = *id;

    rc = NGX_ERROR;

    if (ngx_http_b24trigger_dead_str(pool, root, "portal", NULL, &dl->portal)
           != NGX_OK
        || ngx_http_b24trigger_dead_str(pool, root, "target", NULL,
                                        &dl->target) != NGX_OK
        || ngx_http_b24trigger_dead_str(pool, root, "code", NULL, &dl->code)
           != NGX_OK
        || ngx_http_b24trigger_dead_str(pool, root, "location", NULL,
                                        &dl->location) != NGX_OK
        || ngx_http_b24trigger_dead_str(pool, root, "dead", "reason",
                                        &dl->reason) != NGX_OK)
    {
        goto done;
    }

    v = json_object_get(root, "attempts");
    dl->attempts = json_is_integer(v) ? (ngx_uint_t) json_integer_value(v) : 0;

    if (!ngx_http_b24trigger_dead_match(&f->portal, &dl->portal)
        || !ngx_http_b24trigger_dead_match(&f->target, &dl->target)
        || !ngx_http_b24trigger_dead_match(&f->location, &dl->location)
        || !ngx_http_b24trigger_dead_match(&f->reason, &dl->reason))
    {
        rc = NGX_DONE;
        goto done;
    }

    /* the file as it is, on one line: the API's dead letter */

    len = json_dumpb(root, NULL, 0, JSON_COMPACT);

    dl->json.data = ngx_pnalloc(pool, len);
    if (dl->json.data == NULL) {
        goto done;
    }

    dl->json.len = json_dumpb(root, (char *) dl->json.data, len,
                              JSON_COMPACT);

    rc = NGX_OK;

done:

    json_decref(root);

    return rc;
}


static ngx_int_t
ngx_http_b24trigger_dead_str(ngx_pool_t *pool, json_t *root,
    const char *key, const char *sub, ngx_str_t *s)
{
    json_t  *v;

    v = json_object_get(root, key);

    if (sub && json_is_object(v)) {
        v = json_object_get(v, sub);
    }

    if (!json_is_string(v)) {
        ngx_str_null(s);
        return NGX_OK;
    }

    s->len = json_string_length(v);
    s->data = ngx_pnalloc(pool, s->len + 1);
    if (s->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(s->data, json_string_value(v), s->len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_b24trigger_dead_match(ngx_str_t *want, ngx_str_t *have)
{
    return want->len == 0
           || (want->len == have->len
               && ngx_memcmp(want->data, have->data, want->len) == 0);
}


static int ngx_libc_cdecl
ngx_http_b24trigger_dead_cmp(const void *one, const void *two)
{
    ngx_str_t  *a = (ngx_str_t *) one;
    ngx_str_t  *b = (ngx_str_t *) two;

    /* newest first */

    return ngx_memn2cmp(b->data, a->data, b->len, a->len);
}


/*
 * Back into the queue under its own name: the delivery reads "dead" in
 * it and starts it afresh (when the caller kicks it, or at its next look).
 * NGX_DECLINED: no such dead letter.
 */

ngx_int_t
ngx_http_b24trigger_dead_replay(ngx_pool_t *pool, ngx_log_t *log,
    ngx_http_b24trigger_spool_t *spool, ngx_str_t *id)
{
    u_char     *from, *to;
    ngx_str_t   name;

    if (!ngx_http_b24trigger_dead_id_valid(id)) {
        return NGX_DECLINED;
    }

    if (spool->redis) {
        return ngx_http_b24trigger_queue_redis_dead_action(id, 1);
    }

    name.len = id->len + sizeof(".json") - 1;
    name.data = ngx_pnalloc(pool, name.len);
    if (name.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(name.data, "%V.json", id);

    from = ngx_http_b24trigger_spool_path(pool, &spool->dead, &name);
    to = ngx_http_b24trigger_spool_path(pool, &spool->queue, &name);

    if (from == NULL || to == NULL) {
        return NGX_ERROR;
    }

    if (ngx_rename_file(from, to) == NGX_FILE_ERROR) {

        if (ngx_errno == NGX_ENOENT) {
            return NGX_DECLINED;
        }

        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      ngx_rename_file_n " \"%s\" to \"%s\" failed",
                      from, to);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* removed for good; NGX_DECLINED: no such dead letter */

ngx_int_t
ngx_http_b24trigger_dead_drop(ngx_pool_t *pool, ngx_log_t *log,
    ngx_http_b24trigger_spool_t *spool, ngx_str_t *id)
{
    u_char     *path;
    ngx_str_t   name;

    if (!ngx_http_b24trigger_dead_id_valid(id)) {
        return NGX_DECLINED;
    }

    if (spool->redis) {
        return ngx_http_b24trigger_queue_redis_dead_action(id, 0);
    }

    name.len = id->len + sizeof(".json") - 1;
    name.data = ngx_pnalloc(pool, name.len);
    if (name.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(name.data, "%V.json", id);

    path = ngx_http_b24trigger_spool_path(pool, &spool->dead, &name);
    if (path == NULL) {
        return NGX_ERROR;
    }

    if (ngx_delete_file(path) == NGX_FILE_ERROR) {

        if (ngx_errno == NGX_ENOENT) {
            return NGX_DECLINED;
        }

        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      ngx_delete_file_n " \"%s\" failed", path);
        return NGX_ERROR;
    }

    return NGX_OK;
}
