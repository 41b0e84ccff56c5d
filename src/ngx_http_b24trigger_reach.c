
/*
 * Copyright (C) b24trigger authors
 *
 * Whether nginx's worker user can reach the directories the module's
 * workers write in: the spool of "b24trigger_queue" and the folder of an
 * OAuth portal's state file.  The directives register their folders at
 * configuration time; the master checks them at every load ("nginx -t",
 * start, reload), once the "user" directive is known, so that a folder
 * under a private home (/root, mode 0700) is refused with a message that
 * names the folder and the user, instead of workers that die at start and
 * are respawned in a loop.  Knows paths and users, nothing of requests.
 */


#include "ngx_http_b24trigger.h"

#include <grp.h>
#include <pwd.h>


/* how many supplementary groups of the worker user are looked at */
#define NGX_HTTP_B24TRIGGER_REACH_GROUPS  64


typedef struct {
    ngx_str_t                      path;       /* NUL-ended */
    const char                    *what;       /* the directive */
    ngx_uint_t                     write;      /* the folder itself too */
    ngx_uint_t                     level;      /* EMERG: refused */
} ngx_http_b24trigger_reach_t;


typedef struct {
    ngx_uid_t                      uid;
    ngx_gid_t                      gid;
    int                            ngroups;
    gid_t                          groups[NGX_HTTP_B24TRIGGER_REACH_GROUPS];
    const char                    *name;
} ngx_http_b24trigger_reach_user_t;


static ngx_int_t ngx_http_b24trigger_reach_one(ngx_log_t *log,
    ngx_http_b24trigger_reach_t *rc, ngx_http_b24trigger_reach_user_t *u);
static ngx_uint_t ngx_http_b24trigger_reach_may(
    ngx_http_b24trigger_reach_user_t *u, ngx_file_info_t *fi,
    mode_t what);


/*
 * dir: a folder the workers write in (write: create files in it) or under
 * (the spool: nginx itself makes and hands over the folder, only the way
 * there must be open).  level: NGX_LOG_EMERG refuses the configuration,
 * NGX_LOG_WARN only says so (what is written there is also kept in memory).
 */

ngx_int_t
ngx_http_b24trigger_reach_add(ngx_conf_t *cf, ngx_str_t *dir,
    const char *what, ngx_uint_t write, ngx_uint_t level)
{
    ngx_http_b24trigger_reach_t      *rc;
    ngx_http_b24trigger_main_conf_t  *bmcf;

    bmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_b24trigger_module);

    if (bmcf->reach.elts == NULL
        && ngx_array_init(&bmcf->reach, cf->pool, 2,
                          sizeof(ngx_http_b24trigger_reach_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_array_push(&bmcf->reach);
    if (rc == NULL) {
        return NGX_ERROR;
    }

    rc->path.len = dir->len;
    rc->path.data = ngx_pnalloc(cf->pool, dir->len + 1);
    if (rc->path.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(rc->path.data, dir->data, dir->len);
    rc->path.data[dir->len] = '\0';

    rc->what = what;
    rc->write = write;
    rc->level = level;

    bmcf->cycle = cf->cycle;

    return NGX_OK;
}


/*
 * Runs in the master after the core module's configuration is complete
 * (the buckets' zone init), so "user" is known wherever it was written.
 */

ngx_int_t
ngx_http_b24trigger_reach_check(ngx_http_b24trigger_main_conf_t *bmcf,
    ngx_log_t *log)
{
    ngx_uint_t                        i;
    struct passwd                    *pw;
    ngx_core_conf_t                  *ccf;
    ngx_http_b24trigger_reach_t      *rc;
    ngx_http_b24trigger_reach_user_t  u;

    if (bmcf->reach.nelts == 0) {
        return NGX_OK;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(bmcf->cycle->conf_ctx,
                                           ngx_core_module);

    /* not root: the workers are the master's user, who made the folders */

    if (ccf->user == (ngx_uid_t) NGX_CONF_UNSET_UINT
        || ccf->user == geteuid()
        || ccf->user == 0)
    {
        return NGX_OK;
    }

    u.uid = ccf->user;
    u.gid = ccf->group;
    u.name = ccf->username ? ccf->username : "?";
    u.ngroups = 0;

    pw = getpwuid(u.uid);

    if (pw) {
        u.ngroups = NGX_HTTP_B24TRIGGER_REACH_GROUPS;

        if (getgrouplist(pw->pw_name, u.gid, u.groups, &u.ngroups) == -1) {
            u.ngroups = NGX_HTTP_B24TRIGGER_REACH_GROUPS;
        }
    }

    rc = bmcf->reach.elts;

    for (i = 0; i < bmcf->reach.nelts; i++) {
        if (ngx_http_b24trigger_reach_one(log, &rc[i], &u) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_b24trigger_reach_one(ngx_log_t *log,
    ngx_http_b24trigger_reach_t *rc, ngx_http_b24trigger_reach_user_t *u)
{
    u_char           *p, *end, save, mode[9];
    ngx_int_t         rv;
    ngx_uint_t        i;
    ngx_str_t         part;
    ngx_uint_t        last;
    ngx_file_info_t   fi;

    end = rc->path.data + rc->path.len;

    /* every folder on the way: "/root", "/root/p", ... */

    for (p = rc->path.data + 1; /* void */ ; p++) {

        if (p < end && *p != '/') {
            continue;
        }

        last = (p == end);

        save = *p;
        *p = '\0';
        rv = ngx_file_info(rc->path.data, &fi);
        *p = save;

        if (rv == NGX_FILE_ERROR) {

            /* not made yet: the master makes it, and owns what is below */

            return NGX_OK;
        }

        if (!ngx_http_b24trigger_reach_may(u, &fi, S_IXOTH)
            || (last && rc->write
                && !ngx_http_b24trigger_reach_may(u, &fi, S_IWOTH)))
        {
            part.data = rc->path.data;
            part.len = p - rc->path.data;

            for (i = 0; i < 9; i++) {
                mode[i] = (fi.st_mode & (0400 >> i)) ? "rwx"[i % 3] : '-';
            }

            ngx_log_error(rc->level, log, 0,
                          "b24trigger: nginx's worker user \"%s\" cannot "
                          "%s \"%V\" (%*s, owner uid %uD), so it "
                          "cannot use \"%V\" of \"%s\": choose a folder that "
                          "user can reach, open the way to it, or set "
                          "\"user\" to one that can",
                          u->name, last && rc->write ? "write in" : "enter",
                          &part, (size_t) 9, mode,
                          (uint32_t) fi.st_uid, &rc->path, rc->what);

            return rc->level == NGX_LOG_EMERG ? NGX_ERROR : NGX_OK;
        }

        if (last) {
            return NGX_OK;
        }
    }
}


/* what: S_IXOTH or S_IWOTH, shifted for the owner and the group */

static ngx_uint_t
ngx_http_b24trigger_reach_may(ngx_http_b24trigger_reach_user_t *u,
    ngx_file_info_t *fi, mode_t what)
{
    int  i;

    if (fi->st_uid == u->uid) {
        return (fi->st_mode & (what << 6)) != 0;
    }

    if (fi->st_gid == u->gid) {
        return (fi->st_mode & (what << 3)) != 0;
    }

    for (i = 0; i < u->ngroups; i++) {
        if (fi->st_gid == u->groups[i]) {
            return (fi->st_mode & (what << 3)) != 0;
        }
    }

    return (fi->st_mode & what) != 0;
}
