
/*
 * Copyright (C) b24trigger authors
 *
 * Delivery from the spool, in every worker: a timer scans PATH/queue in
 * bounded batches, claims due events by rename() into PATH/claim/<pid>
 * (one worker per event, and a claim survives a crash), waits for the
 * portal's bucket, and calls the portal through the same client as sync
 * requests, each call with a pool of its own.  A success removes the
 * event; a transient failure writes it back to the queue with its next
 * attempt after an exponential, jittered backoff; a permanent failure or
 * an event older than max_age goes to PATH/dead as readable JSON.  Knows
 * the spool's layout (ngx_http_b24trigger_queue_spool.c), reads and
 * updates events through ngx_http_b24trigger_queue_event.c, and knows
 * nothing of client requests.
 */


#include "ngx_http_b24trigger_queue.h"

#include <dirent.h>


/* the entries of queue/ read in one pass of the scan */
#define NGX_HTTP_B24TRIGGER_SCAN_BATCH       256

/* the longest a worker sleeps between passes when nothing is due */
#define NGX_HTTP_B24TRIGGER_SCAN_IDLE_MS     1000

/* the dead letters are counted for the status page at most this often */
#define NGX_HTTP_B24TRIGGER_DEAD_COUNT_SEC   5

/* more to do (an event queued here, more due): the next pass this soon */
#define NGX_HTTP_B24TRIGGER_KICK_MS          20

/* how often the claims of workers that are gone are returned */
#define NGX_HTTP_B24TRIGGER_RECOVER_MS       30000

/* a file larger than this is no event of ours: a dead letter as it is */
#define NGX_HTTP_B24TRIGGER_EVENT_MAX_BYTES  65536


typedef struct {
    ngx_queue_t                        queue;
    ngx_pool_t                        *pool;
    ngx_str_t                          name;       /* file name */
    u_char                            *path;       /* in our claim dir */
    ngx_http_b24trigger_record_t       rec;        /* what it says */
    off_t                              size;
    ngx_http_b24trigger_portal_t      *portal;
    ngx_http_b24trigger_call_t         call;
} ngx_http_b24trigger_event_t;


typedef struct {
    ngx_event_t                        tick;
    ngx_log_t                          log;
    ngx_http_b24trigger_main_conf_t   *bmcf;
    ngx_http_b24trigger_spool_t       *spool;
    DIR                               *dir;
    ngx_str_t                          claim;      /* claim/<pid> */
    ngx_queue_t                        events;
    ngx_uint_t                         inflight;
    ngx_msec_t                         recovered;
    ngx_uint_t                         due;        /* seen in this pass */
    ngx_uint_t                         waiting;    /* all, this pass */
    int64_t                            oldest;     /* arrival, ms */
    time_t                             dead_counted;
} ngx_http_b24trigger_delivery_t;


static void ngx_http_b24trigger_delivery_tick(ngx_event_t *ev);
static void ngx_http_b24trigger_delivery_arrival(
    ngx_http_b24trigger_delivery_t *d, u_char *name, size_t len);
static void ngx_http_b24trigger_delivery_publish(
    ngx_http_b24trigger_delivery_t *d);
static ngx_msec_t ngx_http_b24trigger_delivery_scan(
    ngx_http_b24trigger_delivery_t *d);
static ngx_int_t ngx_http_b24trigger_delivery_claim(
    ngx_http_b24trigger_delivery_t *d, char *name, ngx_msec_t *wait);
static ngx_int_t ngx_http_b24trigger_delivery_load(
    ngx_http_b24trigger_delivery_t *d, ngx_http_b24trigger_event_t *ev);
static void ngx_http_b24trigger_delivery_done(
    ngx_http_b24trigger_call_t *call);
static void ngx_http_b24trigger_delivery_retry(
    ngx_http_b24trigger_delivery_t *d, ngx_http_b24trigger_event_t *ev);
static void ngx_http_b24trigger_delivery_dead(
    ngx_http_b24trigger_delivery_t *d, ngx_http_b24trigger_event_t *ev,
    const char *reason);
static void ngx_http_b24trigger_delivery_unclaim(
    ngx_http_b24trigger_delivery_t *d, ngx_http_b24trigger_event_t *ev);
static void ngx_http_b24trigger_delivery_free(
    ngx_http_b24trigger_event_t *ev);
static ngx_int_t ngx_http_b24trigger_delivery_last_error(
    ngx_http_b24trigger_event_t *ev);
static void ngx_http_b24trigger_delivery_event_cleanup(void *data);
static int64_t ngx_http_b24trigger_now_ms(void);


static ngx_http_b24trigger_delivery_t  *ngx_http_b24trigger_delivery;


ngx_int_t
ngx_http_b24trigger_delivery_init(ngx_cycle_t *cycle,
    ngx_http_b24trigger_main_conf_t *bmcf)
{
    u_char                          *p;
    ngx_http_b24trigger_delivery_t  *d;

    if (bmcf->spool == NULL) {
        return NGX_OK;
    }

    d = ngx_pcalloc(cycle->pool, sizeof(ngx_http_b24trigger_delivery_t));
    if (d == NULL) {
        return NGX_ERROR;
    }

    d->log = *cycle->log;
    d->bmcf = bmcf;
    d->spool = bmcf->spool;
    ngx_queue_init(&d->events);

    d->claim.data = ngx_pnalloc(cycle->pool,
                                d->spool->claim.len + NGX_INT64_LEN + 2);
    if (d->claim.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(d->claim.data, "%V/%P", &d->spool->claim, ngx_pid);
    d->claim.len = p - d->claim.data;
    *p = '\0';

    /* a previous process with our pid left claims: they go back first */

    (void) ngx_http_b24trigger_spool_recover(&d->log, d->spool, 1);

    if (ngx_create_dir(d->claim.data, 0700) == NGX_FILE_ERROR
        && ngx_errno != NGX_EEXIST)
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      ngx_create_dir_n " \"%V\" failed", &d->claim);
        return NGX_ERROR;
    }

    d->recovered = ngx_current_msec;

    d->tick.handler = ngx_http_b24trigger_delivery_tick;
    d->tick.data = d;
    d->tick.log = &d->log;
    d->tick.cancelable = 1;

    ngx_add_timer(&d->tick, 1);

    ngx_http_b24trigger_delivery = d;

    return NGX_OK;
}


/* an event was queued by this worker: look soon */

void
ngx_http_b24trigger_delivery_kick(void)
{
    ngx_http_b24trigger_delivery_t  *d;

    d = ngx_http_b24trigger_delivery;

    if (d == NULL || ngx_exiting) {
        return;
    }

    if (d->tick.timer_set
        && (ngx_msec_int_t) (d->tick.timer.key - ngx_current_msec)
           <= NGX_HTTP_B24TRIGGER_KICK_MS)
    {
        return;
    }

    if (d->tick.timer_set) {
        ngx_del_timer(&d->tick);
    }

    ngx_add_timer(&d->tick, NGX_HTTP_B24TRIGGER_KICK_MS);
}


/*
 * Worker exit: calls still in flight are abandoned and their events go
 * back to the queue at once; a kill -9 leaves them claimed instead, and
 * another worker returns them (ngx_http_b24trigger_spool_recover).
 */

void
ngx_http_b24trigger_delivery_exit(ngx_cycle_t *cycle)
{
    ngx_queue_t                     *q;
    ngx_http_b24trigger_event_t     *ev;
    ngx_http_b24trigger_delivery_t  *d;

    d = ngx_http_b24trigger_delivery;

    if (d == NULL) {
        return;
    }

    while (!ngx_queue_empty(&d->events)) {
        q = ngx_queue_head(&d->events);
        ev = ngx_queue_data(q, ngx_http_b24trigger_event_t, queue);

        ngx_log_error(NGX_LOG_NOTICE, &d->log, 0,
                      "b24trigger: delivery of queued event \"%V\" "
                      "abandoned on exit, returned to the queue",
                      ngx_http_b24trigger_log_value(ev->pool, &ev->rec.id));

        ngx_http_b24trigger_call_cancel(&ev->call);
        ngx_http_b24trigger_delivery_unclaim(d, ev);
    }

    if (d->tick.timer_set) {
        ngx_del_timer(&d->tick);
    }

    if (d->dir) {
        closedir(d->dir);
        d->dir = NULL;
    }

    (void) rmdir((char *) d->claim.data);

    ngx_http_b24trigger_delivery = NULL;
}


static void
ngx_http_b24trigger_delivery_tick(ngx_event_t *ev)
{
    ngx_msec_t                       wait;
    ngx_http_b24trigger_delivery_t  *d;

    d = ev->data;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        /* no new claims; calls in flight finish on their own */
        return;
    }

    if (ngx_current_msec - d->recovered >= NGX_HTTP_B24TRIGGER_RECOVER_MS) {
        d->recovered = ngx_current_msec;
        (void) ngx_http_b24trigger_spool_recover(&d->log, d->spool, 0);
    }

    wait = ngx_http_b24trigger_delivery_scan(d);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, &d->log, 0,
                   "b24trigger delivery: %ui in flight, next look in %M ms",
                   d->inflight, wait);

    ngx_add_timer(&d->tick, wait);
}


/* returns when to look again */

static ngx_msec_t
ngx_http_b24trigger_delivery_scan(ngx_http_b24trigger_delivery_t *d)
{
    u_char          *p, *last;
    size_t           len;
    int64_t          due, now;
    ngx_int_t        rc;
    ngx_uint_t       n;
    ngx_msec_t       wait;
    struct dirent   *de;

    wait = NGX_HTTP_B24TRIGGER_SCAN_IDLE_MS;
    now = ngx_http_b24trigger_now_ms();

    if (d->dir == NULL) {
        d->dir = opendir((char *) d->spool->queue.data);

        if (d->dir == NULL) {
            ngx_log_error(NGX_LOG_ERR, &d->log, ngx_errno,
                          "opendir() \"%V\" failed", &d->spool->queue);
            return wait;
        }

        d->due = 0;
        d->waiting = 0;
        d->oldest = 0;
    }

    for (n = 0; n < NGX_HTTP_B24TRIGGER_SCAN_BATCH; n++) {

        if (d->inflight >= d->spool->concurrency) {
            return wait;
        }

        de = readdir(d->dir);

        if (de == NULL) {
            /*
             * the end: the next look starts afresh and sees new files,
             * soon if this pass found work (more may have come meanwhile)
             */

            closedir(d->dir);
            d->dir = NULL;

            ngx_http_b24trigger_delivery_publish(d);

            return d->due ? NGX_HTTP_B24TRIGGER_KICK_MS : wait;
        }

        len = ngx_strlen(de->d_name);

        if (de->d_name[0] == '.' || len < sizeof(".json")
            || ngx_strcmp(de->d_name + len - 5, ".json") != 0)
        {
            continue;
        }

        d->waiting++;
        ngx_http_b24trigger_delivery_arrival(d, (u_char *) de->d_name, len);

        /* "<due ms>-...": digits up to the first "-" */

        due = 0;
        last = (u_char *) de->d_name + len;

        for (p = (u_char *) de->d_name; p < last && *p >= '0' && *p <= '9';
             p++)
        {
            if (due < 100000000000000LL) {
                due = due * 10 + (*p - '0');
            }
        }

        if (due > now) {
            if ((ngx_msec_t) (due - now) < wait) {
                wait = (ngx_msec_t) (due - now);
            }

            continue;
        }

        d->due++;

        rc = ngx_http_b24trigger_delivery_claim(d, de->d_name, &wait);

        if (rc == NGX_BUSY) {
            /* the bucket (or a block) holds this portal: look later */
            return wait;
        }
    }

    /* more to read */

    return 1;
}


/*
 * Names are "<arrival ms>-<pid>-<rand>.json", or with "<due ms>-" in front
 * once retried: the arrival is the first field of the id either way
 */

static void
ngx_http_b24trigger_delivery_arrival(ngx_http_b24trigger_delivery_t *d,
    u_char *name, size_t len)
{
    u_char      *p, *last, *start;
    int64_t      ms;
    ngx_uint_t   dashes;

    last = name + len;
    dashes = 0;

    for (p = name; p < last; p++) {
        if (*p == '-') {
            dashes++;
        }
    }

    start = name;

    if (dashes == 3) {
        start = ngx_strlchr(name, last, '-') + 1;
    }

    ms = 0;

    for (p = start; p < last && *p >= '0' && *p <= '9' && p - start < 15;
         p++)
    {
        ms = ms * 10 + (*p - '0');
    }

    if (ms && (d->oldest == 0 || ms < d->oldest)) {
        d->oldest = ms;
    }
}


/* what a full pass saw, for b24trigger_status; dead letters now and then */

static void
ngx_http_b24trigger_delivery_publish(ngx_http_b24trigger_delivery_t *d)
{
    DIR            *dir;
    ngx_uint_t      n;
    struct dirent  *de;

    ngx_http_b24trigger_stats_set(NGX_HTTP_B24TRIGGER_M_QUEUE_WAITING,
                                  &d->spool->path, NULL, d->waiting);
    ngx_http_b24trigger_stats_set(NGX_HTTP_B24TRIGGER_M_QUEUE_ARRIVAL,
                                  &d->spool->path, NULL,
                                  d->waiting ? (ngx_atomic_uint_t) d->oldest
                                             : 0);

    if (ngx_time() - d->dead_counted < NGX_HTTP_B24TRIGGER_DEAD_COUNT_SEC) {
        return;
    }

    d->dead_counted = ngx_time();

    dir = opendir((char *) d->spool->dead.data);
    if (dir == NULL) {
        return;
    }

    n = 0;

    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] != '.') {
            n++;
        }
    }

    closedir(dir);

    ngx_http_b24trigger_stats_set(NGX_HTTP_B24TRIGGER_M_DEAD_LETTERS,
                                  &d->spool->path, NULL, n);
}


static ngx_int_t
ngx_http_b24trigger_delivery_claim(ngx_http_b24trigger_delivery_t *d,
    char *name, ngx_msec_t *wait)
{
    u_char                       *from;
    int64_t                       age;
    ngx_uint_t                    rc;
    ngx_msec_t                    delay;
    ngx_pool_t                   *pool;
    ngx_http_b24trigger_event_t  *ev;

    pool = ngx_create_pool(2048, &d->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    ev = ngx_pcalloc(pool, sizeof(ngx_http_b24trigger_event_t));
    if (ev == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    ev->pool = pool;
    ev->name.len = ngx_strlen(name);
    ev->name.data = ngx_pnalloc(pool, ev->name.len);

    if (ev->name.data == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    ngx_memcpy(ev->name.data, name, ev->name.len);

    from = ngx_http_b24trigger_spool_path(pool, &d->spool->queue, &ev->name);
    ev->path = ngx_http_b24trigger_spool_path(pool, &d->claim, &ev->name);

    if (from == NULL || ev->path == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    /* the claim: whoever renames first delivers */

    if (ngx_rename_file(from, ev->path) == NGX_FILE_ERROR) {
        if (ngx_errno != NGX_ENOENT) {
            ngx_log_error(NGX_LOG_ERR, &d->log, ngx_errno,
                          ngx_rename_file_n " \"%s\" to \"%s\" failed",
                          from, ev->path);
        }

        ngx_destroy_pool(pool);
        return NGX_DECLINED;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, &d->log, 0,
                   "b24trigger delivery: claimed \"%V\"", &ev->name);

    switch (ngx_http_b24trigger_delivery_load(d, ev)) {

    case NGX_OK:
        break;

    case NGX_DECLINED:
        /* not an event, or for a portal we no longer know: dead */
        return NGX_DECLINED;

    default:
        ngx_http_b24trigger_delivery_unclaim(d, ev);
        return NGX_ERROR;
    }

    age = ngx_http_b24trigger_now_ms() - ev->rec.received;

    if (age > (int64_t) d->spool->max_age * 1000) {
        ngx_http_b24trigger_delivery_dead(d, ev, "expired");
        return NGX_DECLINED;
    }

    rc = ngx_http_b24trigger_bucket_take(ev->portal, 0, &delay);

    if (rc != NGX_HTTP_B24TRIGGER_BUCKET_OK) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, &d->log, 0,
                       "b24trigger delivery: portal \"%V\" busy for %M ms",
                       &ev->portal->name, delay);

        ngx_http_b24trigger_delivery_unclaim(d, ev);

        *wait = ngx_min(ngx_max(delay, 1), NGX_HTTP_B24TRIGGER_SCAN_IDLE_MS);
        return NGX_BUSY;
    }

    /* the cluster's bucket counts it too (bucket=cluster) */

    ngx_http_b24trigger_bucket_charge(ev->portal);

    ev->rec.attempts++;

    ev->call.portal = ev->portal;
    ev->call.pool = pool;
    ev->call.log = &d->log;
    ev->call.done = ngx_http_b24trigger_delivery_done;
    ev->call.data = ev;

    if (ngx_http_b24trigger_call_start(&ev->call) != NGX_OK) {
        ngx_http_b24trigger_bucket_give_back(ev->portal);
        ngx_http_b24trigger_delivery_unclaim(d, ev);
        return NGX_ERROR;
    }

    ngx_queue_insert_tail(&d->events, &ev->queue);
    d->inflight++;

    ngx_http_b24trigger_stats_add(NGX_HTTP_B24TRIGGER_M_QUEUE_CLAIMED,
                                  &d->spool->path, NULL, 1);

    return NGX_OK;
}


/* read the claimed file; NGX_DECLINED: it went to the dead letters */

static ngx_int_t
ngx_http_b24trigger_delivery_load(ngx_http_b24trigger_delivery_t *d,
    ngx_http_b24trigger_event_t *ev)
{
    u_char              *buf, *to;
    ssize_t              n;
    ngx_fd_t             fd;
    ngx_file_info_t      fi;
    const char          *why;
    ngx_pool_cleanup_t  *cln;

    why = NULL;

    fd = ngx_open_file(ev->path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, &d->log, ngx_errno,
                      ngx_open_file_n " \"%s\" failed", ev->path);
        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, &d->log, ngx_errno,
                      ngx_fd_info_n " \"%s\" failed", ev->path);
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    ev->size = ngx_file_size(&fi);

    if (ev->size > NGX_HTTP_B24TRIGGER_EVENT_MAX_BYTES) {
        (void) ngx_close_file(fd);
        goto invalid;
    }

    buf = ngx_pnalloc(ev->pool, (size_t) ev->size + 1);
    if (buf == NULL) {
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    n = read(fd, buf, (size_t) ev->size);
    (void) ngx_close_file(fd);

    if (n != (ssize_t) ev->size) {
        ngx_log_error(NGX_LOG_ERR, &d->log, ngx_errno,
                      "read() \"%s\" failed", ev->path);
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(ev->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_b24trigger_delivery_event_cleanup;
    cln->data = ev;

    if (ngx_http_b24trigger_event_read(&ev->rec, buf, n, &why) != NGX_OK) {
        goto invalid;
    }

    ev->call.target = ev->rec.target;
    ev->call.code = ev->rec.code;
    ev->call.method = ev->rec.method;

    if (ev->rec.dead) {
        ngx_log_error(NGX_LOG_NOTICE, &d->log, 0,
                      "b24trigger: dead letter \"%V\" replayed",
                      ngx_http_b24trigger_log_value(ev->pool, &ev->rec.id));

        if (ngx_http_b24trigger_event_replay(&ev->rec,
                                             ngx_http_b24trigger_now_ms())
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ev->rec.portal.data == NULL) {
        goto invalid;
    }

    ev->portal = ngx_http_b24trigger_portal_find(d->bmcf, &ev->rec.portal);


    if (ev->portal == NULL) {
        ngx_http_b24trigger_delivery_dead(d, ev, "portal_unknown");
        return NGX_DECLINED;
    }

    return NGX_OK;

invalid:

    /* kept as it is, for a human to look at */

    to = ngx_http_b24trigger_spool_path(ev->pool, &d->spool->dead,
                                        &ev->name);

    if (why) {
        ngx_log_error(NGX_LOG_ERR, &d->log, 0,
                      "b24trigger: queued event \"%s\" %s, moved to "
                      "\"%s\"", ev->path, why, to ? to : (u_char *) "");

    } else {
        ngx_log_error(NGX_LOG_ERR, &d->log, 0,
                      "b24trigger: \"%s\" is not a queued event, moved to "
                      "\"%s\"", ev->path, to ? to : (u_char *) "");
    }

    if (to == NULL || ngx_rename_file(ev->path, to) == NGX_FILE_ERROR) {
        (void) ngx_delete_file(ev->path);
    }

    ngx_http_b24trigger_delivery_free(ev);

    return NGX_DECLINED;
}


static void
ngx_http_b24trigger_delivery_done(ngx_http_b24trigger_call_t *call)
{
    ngx_http_b24trigger_event_t     *ev = call->data;

    ngx_http_b24trigger_delivery_t  *d;

    d = ngx_http_b24trigger_delivery;

    ngx_queue_remove(&ev->queue);
    ev->queue.next = NULL;
    d->inflight--;

    ngx_http_b24trigger_stats_add(NGX_HTTP_B24TRIGGER_M_QUEUE_CLAIMED,
                                  &d->spool->path, NULL, -1);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, &d->log, 0,
                   "b24trigger delivery done: \"%V\" %s status:%ui",
                   ngx_http_b24trigger_log_value(ev->pool, &ev->rec.id),
                   ngx_http_b24trigger_outcome_name(call->outcome),
                   call->status);

    switch (call->outcome) {

    case NGX_HTTP_B24TRIGGER_CALL_OK:

        ngx_log_error(NGX_LOG_INFO, &d->log, 0,
                      "b24trigger: queued event \"%V\" delivered to portal "
                      "\"%V\", target \"%V\" code \"%V\", attempt %ui",
                      ngx_http_b24trigger_log_value(ev->pool, &ev->rec.id),
                      &ev->portal->name,
                      ngx_http_b24trigger_log_value(ev->pool, &call->target),
                      ngx_http_b24trigger_log_value(ev->pool, &call->code),
                      ev->rec.attempts);

        if (ngx_delete_file(ev->path) == NGX_FILE_ERROR) {
            ngx_log_error(NGX_LOG_ALERT, &d->log, ngx_errno,
                          ngx_delete_file_n " \"%s\" failed", ev->path);
        }

        ngx_http_b24trigger_spool_release(d->spool, ev->size);
        ngx_http_b24trigger_delivery_free(ev);
        break;

    case NGX_HTTP_B24TRIGGER_CALL_PORTAL_ERROR:

        /*
         * the portal judged the call: a target or credentials error (400,
         * 401, 403, 404) will not change by repeating it; a 5xx may
         */

        if (call->status < 500) {
            ngx_http_b24trigger_delivery_dead(d, ev, "portal_error");
            break;
        }

        ngx_http_b24trigger_delivery_retry(d, ev);
        break;

    default:
        ngx_http_b24trigger_delivery_retry(d, ev);
        break;
    }

    if (!ngx_exiting && !ngx_quit && !ngx_terminate) {
        ngx_http_b24trigger_delivery_kick();
    }
}


/*
 * Back to the queue under a name that says when: backoff doubles from
 * "backoff" up to "backoff_max", each delay drawn from [3/4 d, d]; a
 * portal's OPERATION_TIME_LIMIT block is waited out whole.
 */

static void
ngx_http_b24trigger_delivery_retry(ngx_http_b24trigger_delivery_t *d,
    ngx_http_b24trigger_event_t *ev)
{
    u_char      *p, *data, *to, *tmp;
    size_t       len;
    int64_t      now, next;
    ngx_str_t    name;
    ngx_uint_t   i;
    ngx_msec_t   delay;
    u_char       buf[NGX_INT64_LEN + 2];

    now = ngx_http_b24trigger_now_ms();

    if (now - ev->rec.received > (int64_t) d->spool->max_age * 1000) {
        ngx_http_b24trigger_delivery_dead(d, ev, "expired");
        return;
    }

    delay = d->spool->backoff;

    for (i = 1; i < ev->rec.attempts && delay < d->spool->backoff_max; i++) {
        delay *= 2;
    }

    delay = ngx_min(delay, d->spool->backoff_max);
    delay -= (ngx_msec_t) ngx_random() % (delay / 4 + 1);

    if (ev->call.outcome == NGX_HTTP_B24TRIGGER_CALL_RATE_LIMITED
        && (ngx_msec_t) ev->call.retry_after * 1000 > delay)
    {
        delay = (ngx_msec_t) ev->call.retry_after * 1000;
    }

    next = now + delay;

    if (ngx_http_b24trigger_delivery_last_error(ev) != NGX_OK
        || ngx_http_b24trigger_event_retry(&ev->rec, next) != NGX_OK)
    {
        goto failed;
    }

    data = ngx_http_b24trigger_event_dump(ev->pool, &ev->rec, 0, &len);
    if (data == NULL) {
        goto failed;
    }

    /* "<due>-<id>.json" */

    name.len = ngx_sprintf(buf, "%L-", next) - buf + ev->rec.id.len
               + sizeof(".json") - 1;
    name.data = ngx_pnalloc(ev->pool, name.len);
    tmp = ngx_pnalloc(ev->pool, d->claim.len + ev->name.len
                                + sizeof("/..tmp"));

    if (name.data == NULL || tmp == NULL) {
        goto failed;
    }

    ngx_sprintf(name.data, "%L-%V.json", next, &ev->rec.id);

    p = ngx_sprintf(tmp, "%V/.%V.tmp", &d->claim, &ev->name);
    *p = '\0';

    to = ngx_http_b24trigger_spool_path(ev->pool, &d->spool->queue, &name);
    if (to == NULL) {
        goto failed;
    }

    /* the claim takes the new content first, then moves in one rename */

    if (ngx_http_b24trigger_file_write(&d->log, tmp, ev->path, data, len,
                                       NGX_HTTP_B24TRIGGER_FILE_NOSYNC)
        != NGX_OK)
    {
        /* e.g. a full disk: the old content, but still not before due */
        len = (size_t) ev->size;
    }

    if (ngx_rename_file(ev->path, to) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, &d->log, ngx_errno,
                      ngx_rename_file_n " \"%s\" to \"%s\" failed",
                      ev->path, to);
        ngx_http_b24trigger_delivery_free(ev);
        return;
    }

    ngx_http_b24trigger_spool_release(d->spool, ev->size - (off_t) len);

    ngx_log_error(NGX_LOG_WARN, &d->log, 0,
                  "b24trigger: queued event \"%V\" for portal \"%V\" "
                  "target \"%V\" failed (attempt %ui): %s %ui %V%s%V; "
                  "next attempt in %M ms",
                  ngx_http_b24trigger_log_value(ev->pool, &ev->rec.id),
                  &ev->portal->name,
                  ngx_http_b24trigger_log_value(ev->pool, &ev->call.target),
                  ev->rec.attempts,
                  ngx_http_b24trigger_outcome_name(ev->call.outcome),
                  ev->call.status,
                  ngx_http_b24trigger_log_value(ev->pool, &ev->call.error),
                  ev->call.error.len ? " " : "",
                  ngx_http_b24trigger_log_value(ev->pool, &ev->call.detail),
                  delay);

    ngx_http_b24trigger_delivery_free(ev);
    return;

failed:

    /* the event stays claimed as it was: unclaim tries plain rename */

    ngx_http_b24trigger_delivery_unclaim(d, ev);
}


static void
ngx_http_b24trigger_delivery_dead(ngx_http_b24trigger_delivery_t *d,
    ngx_http_b24trigger_event_t *ev, const char *reason)
{
    u_char     *p, *data, *to, *tmp;
    size_t      len;
    ngx_str_t   name;

    if (ev->call.outcome != NGX_HTTP_B24TRIGGER_CALL_OK || ev->call.status) {
        if (ngx_http_b24trigger_delivery_last_error(ev) != NGX_OK) {
            goto failed;
        }
    }

    if (ngx_http_b24trigger_event_dead(&ev->rec, reason,
                                       ngx_http_b24trigger_now_ms())
        != NGX_OK)
    {
        goto failed;
    }

    data = ngx_http_b24trigger_event_dump(ev->pool, &ev->rec, 1, &len);
    if (data == NULL) {
        goto failed;
    }

    name.len = ev->rec.id.len + sizeof(".json") - 1;
    name.data = ngx_pnalloc(ev->pool, name.len);
    tmp = ngx_pnalloc(ev->pool, d->claim.len + ev->name.len
                                + sizeof("/..tmp"));

    if (name.data == NULL || tmp == NULL) {
        goto failed;
    }

    ngx_sprintf(name.data, "%V.json", &ev->rec.id);

    p = ngx_sprintf(tmp, "%V/.%V.tmp", &d->claim, &ev->name);
    *p = '\0';

    to = ngx_http_b24trigger_spool_path(ev->pool, &d->spool->dead, &name);
    if (to == NULL) {
        goto failed;
    }

    if (ngx_http_b24trigger_file_write(&d->log, tmp, to, data, len,
                                       NGX_HTTP_B24TRIGGER_FILE_DURABLE)
        != NGX_OK)
    {
        goto failed;
    }

    if (ngx_delete_file(ev->path) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, &d->log, ngx_errno,
                      ngx_delete_file_n " \"%s\" failed", ev->path);
    }

    ngx_http_b24trigger_spool_release(d->spool, ev->size);

    ngx_log_error(NGX_LOG_ERR, &d->log, 0,
                  "b24trigger: queued event \"%V\" for portal \"%V\" target "
                  "\"%V\" moved to dead letters after %ui attempt%s: %s "
                  "(last: %s %ui \"%V\" \"%V\"); %s",
                  ngx_http_b24trigger_log_value(ev->pool, &ev->rec.id),
                  ngx_http_b24trigger_log_value(ev->pool, &ev->rec.portal),
                  ngx_http_b24trigger_log_value(ev->pool, &ev->call.target),
                  ev->rec.attempts, ev->rec.attempts == 1 ? "" : "s", reason,
                  ngx_http_b24trigger_outcome_name(ev->call.outcome),
                  ev->call.status,
                  ngx_http_b24trigger_log_value(ev->pool, &ev->call.error),
                  ngx_http_b24trigger_log_value(ev->pool,
                                            &ev->call.error_description),
                  ngx_http_b24trigger_call_hint(&ev->call));

    /* counted again at the end of the next pass */
    d->dead_counted = 0;

    ngx_http_b24trigger_delivery_free(ev);
    return;

failed:

    ngx_http_b24trigger_delivery_unclaim(d, ev);
}


/* what the last call got, kept in the event for whoever reads it */

static ngx_int_t
ngx_http_b24trigger_delivery_last_error(ngx_http_b24trigger_event_t *ev)
{
    return ngx_http_b24trigger_event_failed(&ev->rec, &ev->call,
                           ngx_http_b24trigger_outcome_name(ev->call.outcome),
                           ngx_http_b24trigger_now_ms());
}


/* give the claim back untouched, e.g. the bucket is full or we exit */

static void
ngx_http_b24trigger_delivery_unclaim(ngx_http_b24trigger_delivery_t *d,
    ngx_http_b24trigger_event_t *ev)
{
    u_char  *to;

    to = ngx_http_b24trigger_spool_path(ev->pool, &d->spool->queue,
                                        &ev->name);

    if (to == NULL || ngx_rename_file(ev->path, to) == NGX_FILE_ERROR) {

        /* left claimed: the recovery returns it once we are gone */

        ngx_log_error(NGX_LOG_ALERT, &d->log, ngx_errno,
                      "b24trigger: claimed event \"%s\" could not be "
                      "returned to the queue", ev->path);
    }

    if (ev->queue.next) {
        ngx_queue_remove(&ev->queue);
        ev->queue.next = NULL;
        d->inflight--;

        ngx_http_b24trigger_stats_add(NGX_HTTP_B24TRIGGER_M_QUEUE_CLAIMED,
                                      &d->spool->path, NULL, -1);
    }

    ngx_http_b24trigger_delivery_free(ev);
}


static void
ngx_http_b24trigger_delivery_free(ngx_http_b24trigger_event_t *ev)
{
    ngx_destroy_pool(ev->pool);
}


static void
ngx_http_b24trigger_delivery_event_cleanup(void *data)
{
    ngx_http_b24trigger_event_t  *ev = data;

    ngx_http_b24trigger_event_free(&ev->rec);
}


static int64_t
ngx_http_b24trigger_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + tp->msec;
}
