
/*
 * Copyright (C) b24trigger authors
 *
 * Delivery from the spool, in every worker: a timer scans PATH/queue in
 * bounded batches, claims due events by rename() into PATH/claim/<pid>
 * (one worker per event, and a claim survives a crash), waits for the
 * portal's bucket, and calls the portal through the same client as sync
 * requests, each call with a pool of its own; an event whose target is
 * looked up (ngx_http_b24trigger_lookup.c) has it found first, and one
 * found nowhere is tried again like a failed call, then a dead letter.  A
 * success removes the event; a transient failure writes it back to the
 * queue with its next attempt after an exponential, jittered backoff; a
 * permanent failure or an event older than max_age goes to PATH/dead as
 * readable JSON.  A batch (several events the request path wrote with one
 * fsync, one per line) is claimed whole and held in memory: its events
 * are delivered from there, one written out on its own (durably) only
 * when it must wait for a retry, dies, or is left at exit; the batch file
 * goes once every event in it is settled, so a crash delivers its events
 * again rather than losing one; the ids of those delivered are appended
 * to "<batch>.done" beside it (no fsync), which the next claimer skips,
 * so that a crash of a process repeats only the calls it had in flight.
 * Knows the spool's layout (ngx_http_b24trigger_queue_spool.c), reads and
 * updates events through ngx_http_b24trigger_queue_event.c, and knows
 * nothing of client requests.
 */


#include "ngx_http_b24trigger_queue.h"
#include "ngx_http_b24trigger_journal.h"

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

/* nor a batch larger than this (1024 events of 64 KB at most) */
#define NGX_HTTP_B24TRIGGER_BATCH_MAX_BYTES  (64 * 1024 * 1024)


/* a batch claimed by this worker, "<id of its first event>.batch" */

typedef struct {
    ngx_queue_t                        queue;      /* in d->batches */
    ngx_pool_t                        *pool;
    ngx_str_t                          name;
    u_char                            *path;       /* in our claim dir */
    u_char                            *next;       /* the first line not
                                                      taken yet */
    u_char                            *last;
    ngx_uint_t                         left;       /* events not settled */
    ngx_uint_t                         line;       /* of the next */
    u_char                            *done_path;  /* "<name>.done": the
                                                      ids settled (sent,
                                                      or written out) */
    ngx_fd_t                           done;       /* appended to */
    ngx_str_t                          delivered;  /* ids an earlier
                                                      claimer delivered */
    unsigned                           starting:1;
    unsigned                           keep:1;     /* an event could not
                                                      be written out: the
                                                      file goes back whole */
} ngx_http_b24trigger_batch_t;


typedef struct {
    ngx_queue_t                        queue;
    ngx_pool_t                        *pool;
    ngx_str_t                          name;       /* file name */
    u_char                            *path;       /* in our claim dir */
    ngx_http_b24trigger_record_t       rec;        /* what it says */
    off_t                              size;
    ngx_http_b24trigger_portal_t      *portal;
    ngx_http_b24trigger_call_t         call;
    ngx_http_b24trigger_batch_t       *batch;      /* or NULL: a file */
    u_char                            *line;       /* in the batch */
    ngx_http_b24trigger_find_t         find;      /* its target's lookup */
} ngx_http_b24trigger_event_t;


typedef struct {
    ngx_event_t                        tick;
    ngx_log_t                          log;
    ngx_http_b24trigger_main_conf_t   *bmcf;
    ngx_http_b24trigger_spool_t       *spool;
    DIR                               *dir;
    ngx_str_t                          claim;      /* claim/<pid> */
    ngx_queue_t                        events;
    ngx_queue_t                        batches;
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
static ngx_int_t ngx_http_b24trigger_delivery_take(
    ngx_http_b24trigger_delivery_t *d, ngx_pool_t *pool, char *name,
    size_t len, ngx_str_t *copy, u_char **from, u_char **path);
static ngx_int_t ngx_http_b24trigger_delivery_start(
    ngx_http_b24trigger_delivery_t *d, ngx_http_b24trigger_event_t *ev,
    ngx_msec_t *wait);
static ngx_int_t ngx_http_b24trigger_delivery_load(
    ngx_http_b24trigger_delivery_t *d, ngx_http_b24trigger_event_t *ev);
static ngx_int_t ngx_http_b24trigger_delivery_parse(
    ngx_http_b24trigger_delivery_t *d, ngx_http_b24trigger_event_t *ev,
    u_char *buf, size_t len, const char **why);
static ngx_int_t ngx_http_b24trigger_batch_claim(
    ngx_http_b24trigger_delivery_t *d, char *name, size_t len,
    ngx_msec_t *wait);
static ngx_int_t ngx_http_b24trigger_batch_start(
    ngx_http_b24trigger_delivery_t *d, ngx_http_b24trigger_batch_t *b,
    ngx_msec_t *wait);
static ngx_http_b24trigger_event_t *ngx_http_b24trigger_batch_event(
    ngx_http_b24trigger_delivery_t *d, ngx_http_b24trigger_batch_t *b);
static ngx_int_t ngx_http_b24trigger_batch_write(
    ngx_http_b24trigger_delivery_t *d, ngx_http_b24trigger_event_t *ev,
    ngx_str_t *dir, u_char *data, size_t len);
static void ngx_http_b24trigger_batch_settled(
    ngx_http_b24trigger_delivery_t *d, ngx_http_b24trigger_batch_t *b);
static ngx_int_t ngx_http_b24trigger_batch_return(
    ngx_http_b24trigger_delivery_t *d, ngx_http_b24trigger_batch_t *b);
static ngx_uint_t ngx_http_b24trigger_batch_events(u_char *name, size_t len);
static ngx_int_t ngx_http_b24trigger_batch_done_read(
    ngx_http_b24trigger_delivery_t *d, ngx_http_b24trigger_batch_t *b,
    u_char *from);
static ngx_uint_t ngx_http_b24trigger_batch_delivered(
    ngx_http_b24trigger_batch_t *b, ngx_str_t *id);
static void ngx_http_b24trigger_batch_done_write(
    ngx_http_b24trigger_delivery_t *d, ngx_http_b24trigger_event_t *ev);
static ngx_int_t ngx_http_b24trigger_delivery_send(
    ngx_http_b24trigger_delivery_t *d, ngx_http_b24trigger_event_t *ev,
    ngx_msec_t *wait);
static ngx_int_t ngx_http_b24trigger_delivery_find(
    ngx_http_b24trigger_delivery_t *d, ngx_http_b24trigger_event_t *ev,
    ngx_msec_t *wait);
static void ngx_http_b24trigger_delivery_found(
    ngx_http_b24trigger_find_t *find);
static ngx_int_t ngx_http_b24trigger_delivery_lookup(
    ngx_http_b24trigger_delivery_t *d, ngx_http_b24trigger_event_t *ev,
    ngx_msec_t *wait);
static void ngx_http_b24trigger_delivery_done(
    ngx_http_b24trigger_call_t *call);
static void ngx_http_b24trigger_delivery_outcome(
    ngx_http_b24trigger_delivery_t *d, ngx_http_b24trigger_event_t *ev);
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
static void ngx_http_b24trigger_delivery_journal(
    ngx_http_b24trigger_delivery_t *d, ngx_http_b24trigger_event_t *ev,
    ngx_uint_t result, const char *reason);
static int64_t ngx_http_b24trigger_now_ms(void);


static ngx_http_b24trigger_delivery_t  *ngx_http_b24trigger_delivery;


ngx_int_t
ngx_http_b24trigger_delivery_init(ngx_cycle_t *cycle,
    ngx_http_b24trigger_main_conf_t *bmcf)
{
    u_char                          *p;
    ngx_http_b24trigger_delivery_t  *d;

    if (bmcf->spool == NULL || bmcf->spool->redis) {
        /* a Redis Stream's: ngx_http_b24trigger_queue_redis.c */
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
    ngx_queue_init(&d->batches);

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
    u_char                          *line;
    ngx_queue_t                     *q;
    ngx_http_b24trigger_batch_t     *b;
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

        ngx_http_b24trigger_find_cancel(&ev->find);
        ngx_http_b24trigger_call_cancel(&ev->call);
        ngx_http_b24trigger_delivery_unclaim(d, ev);
    }

    /* what is left of the batches: each event a file of its own */

    while (!ngx_queue_empty(&d->batches)) {
        q = ngx_queue_head(&d->batches);
        b = ngx_queue_data(q, ngx_http_b24trigger_batch_t, queue);

        b->starting = 1;

        while (b->next < b->last) {
            line = b->next;

            ev = ngx_http_b24trigger_batch_event(d, b);

            if (ev) {
                ngx_http_b24trigger_delivery_unclaim(d, ev);

            } else if (b->next == line) {
                /* no memory: the file stays, delivered again later */
                b->keep = 1;
                b->left = 0;
                break;
            }
        }

        b->starting = 0;

        if (b->left) {
            /* calls of it were not in flight: cannot be, kept whole */
            b->keep = 1;
            b->left = 0;
        }

        ngx_log_error(NGX_LOG_NOTICE, &d->log, 0,
                      "b24trigger: the rest of the queued batch \"%V\" "
                      "returned to the queue on exit, an event a file",
                      &b->name);

        ngx_http_b24trigger_batch_settled(d, b);
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
    ngx_uint_t                    n;
    ngx_msec_t                    wait;
    ngx_queue_t                  *q, *next;
    struct dirent                *de;
    ngx_http_b24trigger_batch_t  *b;

    wait = NGX_HTTP_B24TRIGGER_SCAN_IDLE_MS;
    now = ngx_http_b24trigger_now_ms();

    /* the batches this worker holds come first: they are claimed */

    for (q = ngx_queue_head(&d->batches);
         q != ngx_queue_sentinel(&d->batches);
         q = next)
    {
        next = ngx_queue_next(q);
        b = ngx_queue_data(q, ngx_http_b24trigger_batch_t, queue);

        if (b->next < b->last
            && ngx_http_b24trigger_batch_start(d, b, &wait) == NGX_BUSY)
        {
            return wait;
        }
    }

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

        if (de->d_name[0] == '.') {
            continue;
        }

        if (len >= sizeof(".json")
            && ngx_strcmp(de->d_name + len - 5, ".json") == 0)
        {
            d->waiting++;

        } else if (len >= sizeof(".batch")
                   && ngx_strcmp(de->d_name + len - 6, ".batch") == 0)
        {
            d->waiting += ngx_http_b24trigger_batch_events(
                                                  (u_char *) de->d_name, len);

        } else {
            continue;
        }

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
    size_t                        len;
    ngx_int_t                     rc;
    ngx_pool_t                   *pool;
    ngx_http_b24trigger_event_t  *ev;

    len = ngx_strlen(name);

    if (len > sizeof(".batch") - 1
        && ngx_strcmp(name + len - 6, ".batch") == 0)
    {
        return ngx_http_b24trigger_batch_claim(d, name, len, wait);
    }

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

    rc = ngx_http_b24trigger_delivery_take(d, pool, name, len, &ev->name,
                                           &from, &ev->path);
    if (rc != NGX_OK) {
        ngx_destroy_pool(pool);
        return rc;
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

    return ngx_http_b24trigger_delivery_start(d, ev, wait);
}


/*
 * The claim of queue/<name> by rename() into our claim dir: whoever
 * renames first delivers.  NGX_OK with the name and both paths in pool;
 * NGX_DECLINED, another worker was first; NGX_ERROR
 */

static ngx_int_t
ngx_http_b24trigger_delivery_take(ngx_http_b24trigger_delivery_t *d,
    ngx_pool_t *pool, char *name, size_t len, ngx_str_t *copy, u_char **from,
    u_char **path)
{
    copy->len = len;
    copy->data = ngx_pnalloc(pool, len);

    if (copy->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(copy->data, name, len);

    *from = ngx_http_b24trigger_spool_path(pool, &d->spool->queue, copy);
    *path = ngx_http_b24trigger_spool_path(pool, &d->claim, copy);

    if (*from == NULL || *path == NULL) {
        return NGX_ERROR;
    }

    if (ngx_rename_file(*from, *path) == NGX_FILE_ERROR) {
        if (ngx_errno != NGX_ENOENT) {
            ngx_log_error(NGX_LOG_ERR, &d->log, ngx_errno,
                          ngx_rename_file_n " \"%s\" to \"%s\" failed",
                          *from, *path);
        }

        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* a claimed event, read: now, when its portal's bucket lets it */

static ngx_int_t
ngx_http_b24trigger_delivery_start(ngx_http_b24trigger_delivery_t *d,
    ngx_http_b24trigger_event_t *ev, ngx_msec_t *wait)
{
    int64_t  age;

    age = ngx_http_b24trigger_now_ms() - ev->rec.received;

    if (age > (int64_t) d->spool->max_age * 1000) {
        ngx_http_b24trigger_delivery_dead(d, ev, "expired");
        return NGX_DECLINED;
    }

    ev->rec.attempts++;

    if (ev->rec.lookup.value.len) {
        return ngx_http_b24trigger_delivery_find(d, ev, wait);
    }

    return ngx_http_b24trigger_delivery_send(d, ev, wait);
}


/* the call, once the bucket has a place for it: NGX_OK, NGX_BUSY, ... */

static ngx_int_t
ngx_http_b24trigger_delivery_send(ngx_http_b24trigger_delivery_t *d,
    ngx_http_b24trigger_event_t *ev, ngx_msec_t *wait)
{
    ngx_uint_t  rc;
    ngx_msec_t  delay;

    rc = ngx_http_b24trigger_bucket_take(ev->portal, 0, &delay);

    if (rc != NGX_HTTP_B24TRIGGER_BUCKET_OK) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, &d->log, 0,
                       "b24trigger delivery: portal \"%V\" busy for %M ms",
                       &ev->portal->name, delay);

        if (ev->batch && ev->batch->starting
            && ev->line + ev->size == ev->batch->next)
        {
            /* just taken from the batch: read again next time */
            ev->batch->next = ev->line;
            ev->batch->line--;
            ngx_destroy_pool(ev->pool);

        } else {
            /* a file, or an event of a batch that waited for its lookup */
            ngx_http_b24trigger_delivery_unclaim(d, ev);
        }

        *wait = ngx_min(ngx_max(delay, 1), NGX_HTTP_B24TRIGGER_SCAN_IDLE_MS);
        return NGX_BUSY;
    }

    /* the cluster's bucket counts it too (bucket=cluster) */

    ngx_http_b24trigger_bucket_charge(ev->portal);

    ev->call.portal = ev->portal;
    ev->call.pool = ev->pool;
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
    u_char           *buf, *to;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_file_info_t   fi;
    const char       *why;

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

    switch (ngx_http_b24trigger_delivery_parse(d, ev, buf, n, &why)) {

    case NGX_OK:
        return NGX_OK;

    case NGX_ABORT:
        /* settled already: a dead letter */
        return NGX_DECLINED;

    case NGX_DECLINED:
        goto invalid;

    default:
        return NGX_ERROR;
    }

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


/*
 * A batch, "<id of its first event>.<events>.batch": claimed whole, read
 * into memory, its events started as a file's are
 */

static ngx_int_t
ngx_http_b24trigger_batch_claim(ngx_http_b24trigger_delivery_t *d,
    char *name, size_t len, ngx_msec_t *wait)
{
    u_char                       *from, *buf, *to, *p;
    ssize_t                       n;
    ngx_fd_t                      fd;
    ngx_int_t                     rc;
    ngx_uint_t                    lines;
    ngx_pool_t                   *pool;
    ngx_file_info_t               fi;
    ngx_http_b24trigger_batch_t  *b;

    pool = ngx_create_pool(1024, &d->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    b = ngx_pcalloc(pool, sizeof(ngx_http_b24trigger_batch_t));
    if (b == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    b->pool = pool;

    rc = ngx_http_b24trigger_delivery_take(d, pool, name, len, &b->name,
                                           &from, &b->path);
    if (rc != NGX_OK) {
        ngx_destroy_pool(pool);
        return rc;
    }

    fd = ngx_open_file(b->path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, &d->log, ngx_errno,
                      ngx_open_file_n " \"%s\" failed", b->path);
        goto unclaim;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, &d->log, ngx_errno,
                      ngx_fd_info_n " \"%s\" failed", b->path);
        (void) ngx_close_file(fd);
        goto unclaim;
    }

    if (ngx_file_size(&fi) > NGX_HTTP_B24TRIGGER_BATCH_MAX_BYTES
        || ngx_file_size(&fi) == 0)
    {
        (void) ngx_close_file(fd);

        to = ngx_http_b24trigger_spool_path(pool, &d->spool->dead, &b->name);

        ngx_log_error(NGX_LOG_ERR, &d->log, 0,
                      "b24trigger: \"%s\" is not a batch of queued events, "
                      "moved to \"%s\"", b->path, to ? to : (u_char *) "");

        if (to == NULL || ngx_rename_file(b->path, to) == NGX_FILE_ERROR) {
            (void) ngx_delete_file(b->path);
        }

        ngx_destroy_pool(pool);
        return NGX_DECLINED;
    }

    buf = ngx_pnalloc(pool, (size_t) ngx_file_size(&fi));
    if (buf == NULL) {
        (void) ngx_close_file(fd);
        goto unclaim;
    }

    n = read(fd, buf, (size_t) ngx_file_size(&fi));
    (void) ngx_close_file(fd);

    if (n != (ssize_t) ngx_file_size(&fi)) {
        ngx_log_error(NGX_LOG_ERR, &d->log, ngx_errno,
                      "read() \"%s\" failed", b->path);
        goto unclaim;
    }

    /* an event a line, each ended by "\n" (the last one may lack it) */

    lines = 0;

    for (p = buf; p < buf + n; p++) {
        p = memchr(p, '\n', buf + n - p);

        lines++;

        if (p == NULL) {
            break;
        }
    }

    b->next = buf;
    b->last = buf + n;
    b->left = lines;
    b->done = NGX_INVALID_FILE;

    if (ngx_http_b24trigger_batch_done_read(d, b, from) != NGX_OK) {
        goto unclaim;
    }

    ngx_queue_insert_tail(&d->batches, &b->queue);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, &d->log, 0,
                   "b24trigger delivery: claimed the batch \"%V\", "
                   "%ui events", &b->name, lines);

    return ngx_http_b24trigger_batch_start(d, b, wait);

unclaim:

    if (ngx_rename_file(b->path, from) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, &d->log, ngx_errno,
                      "b24trigger: claimed batch \"%s\" could not be "
                      "returned to the queue", b->path);
    }

    ngx_destroy_pool(pool);

    return NGX_ERROR;
}


/* "<id>.<events>.batch": how many events, for the queue's depth */

static ngx_uint_t
ngx_http_b24trigger_batch_events(u_char *name, size_t len)
{
    u_char      *p, *last;
    ngx_uint_t   n;

    last = name + len - (sizeof(".batch") - 1);

    for (p = last; p > name && p[-1] >= '0' && p[-1] <= '9'; p--) {
        /* void */
    }

    if (p == last || p == name || p[-1] != '.' || last - p > 6) {
        return 1;
    }

    for (n = 0; p < last; p++) {
        n = n * 10 + (*p - '0');
    }

    return n ? n : 1;
}


/*
 * "<batch>.done", if the batch was claimed before (a crash: the recovery
 * returned both): the ids delivered then, taken along into our claim
 */

static ngx_int_t
ngx_http_b24trigger_batch_done_read(ngx_http_b24trigger_delivery_t *d,
    ngx_http_b24trigger_batch_t *b, u_char *from)
{
    u_char           *p;
    size_t            len;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_file_info_t   fi;

    len = ngx_strlen(from);

    p = ngx_pnalloc(b->pool, len + sizeof(".done"));
    b->done_path = ngx_pnalloc(b->pool, ngx_strlen(b->path)
                                        + sizeof(".done"));

    if (p == NULL || b->done_path == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(p, "%s.done%Z", from);
    ngx_sprintf(b->done_path, "%s.done%Z", b->path);

    if (ngx_rename_file(p, b->done_path) == NGX_FILE_ERROR) {
        if (ngx_errno == NGX_ENOENT) {
            return NGX_OK;
        }

        ngx_log_error(NGX_LOG_ERR, &d->log, ngx_errno,
                      ngx_rename_file_n " \"%s\" to \"%s\" failed",
                      p, b->done_path);
        return NGX_ERROR;
    }

    /* never through a symlink planted there, as every file of the spool */

    fd = open((char *) b->done_path, O_RDONLY|O_NOFOLLOW);
    if (fd == NGX_INVALID_FILE) {
        return NGX_OK;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > NGX_HTTP_B24TRIGGER_BATCH_MAX_BYTES)
    {
        (void) ngx_close_file(fd);
        return NGX_OK;
    }

    b->delivered.data = ngx_pnalloc(b->pool, (size_t) ngx_file_size(&fi));
    if (b->delivered.data == NULL) {
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    n = read(fd, b->delivered.data, (size_t) ngx_file_size(&fi));
    (void) ngx_close_file(fd);

    b->delivered.len = (n > 0) ? (size_t) n : 0;

    ngx_log_error(NGX_LOG_NOTICE, &d->log, 0,
                  "b24trigger: the queued batch \"%V\" was claimed before; "
                  "the events then delivered are skipped", &b->name);

    return NGX_OK;
}


/* the id among the lines of "<batch>.done" */

static ngx_uint_t
ngx_http_b24trigger_batch_delivered(ngx_http_b24trigger_batch_t *b,
    ngx_str_t *id)
{
    u_char  *p, *last, *eol;

    p = b->delivered.data;
    last = p + b->delivered.len;

    while (p < last) {
        eol = memchr(p, '\n', last - p);

        if (eol == NULL) {
            /* a line cut short by the crash: not a whole id */
            break;
        }

        if ((size_t) (eol - p) == id->len
            && ngx_memcmp(p, id->data, id->len) == 0)
        {
            return 1;
        }

        p = eol + 1;
    }

    return 0;
}


/* an event of the batch delivered: its id appended, no fsync */

static void
ngx_http_b24trigger_batch_done_write(ngx_http_b24trigger_delivery_t *d,
    ngx_http_b24trigger_event_t *ev)
{
    u_char                       *p;
    ngx_http_b24trigger_batch_t  *b;
    u_char                        line[NGX_HTTP_B24TRIGGER_EVENT_ID_MAX + 1];

    b = ev->batch;

    if (b->done == NGX_INVALID_FILE) {
        b->done = open((char *) b->done_path,
                       O_WRONLY|O_APPEND|O_CREAT|O_NOFOLLOW, 0600);

        if (b->done == NGX_INVALID_FILE) {
            ngx_log_error(NGX_LOG_ERR, &d->log, ngx_errno,
                          ngx_open_file_n " \"%s\" failed", b->done_path);
            return;
        }
    }

    if (ev->rec.id.len > NGX_HTTP_B24TRIGGER_EVENT_ID_MAX) {
        return;
    }

    p = ngx_cpymem(line, ev->rec.id.data, ev->rec.id.len);
    *p++ = '\n';

    if (write(b->done, line, p - line) != p - line) {
        ngx_log_error(NGX_LOG_ERR, &d->log, ngx_errno,
                      "write() \"%s\" failed", b->done_path);
    }
}


/* the batch's events not taken yet, while the bucket and concurrency let */

static ngx_int_t
ngx_http_b24trigger_batch_start(ngx_http_b24trigger_delivery_t *d,
    ngx_http_b24trigger_batch_t *b, ngx_msec_t *wait)
{
    u_char                       *line;
    ngx_int_t                     rc;
    ngx_http_b24trigger_event_t  *ev;

    rc = NGX_OK;
    b->starting = 1;

    while (b->next < b->last) {

        if (d->inflight >= d->spool->concurrency) {
            break;
        }

        line = b->next;

        ev = ngx_http_b24trigger_batch_event(d, b);

        if (ev == NULL) {
            if (b->next == line) {
                /* it could not be read now: later */
                break;
            }

            continue;
        }

        rc = ngx_http_b24trigger_delivery_start(d, ev, wait);

        if (rc == NGX_BUSY) {
            break;
        }
    }

    b->starting = 0;

    ngx_http_b24trigger_batch_settled(d, b);

    return (rc == NGX_BUSY) ? NGX_BUSY : NGX_OK;
}


/*
 * The next line of the batch as an event; NULL if it was settled at once
 * (not an event: a dead letter as it is) or cannot be read now (memory:
 * the line is left for later)
 */

static ngx_http_b24trigger_event_t *
ngx_http_b24trigger_batch_event(ngx_http_b24trigger_delivery_t *d,
    ngx_http_b24trigger_batch_t *b)
{
    u_char                       *line, *end, *p;
    ngx_int_t                     rc;
    ngx_pool_t                   *pool;
    const char                   *why;
    ngx_http_b24trigger_event_t  *ev;

    line = b->next;
    end = memchr(line, '\n', b->last - line);

    if (end == NULL) {
        end = b->last;
        b->next = b->last;

    } else {
        b->next = end + 1;
    }

    b->line++;

    pool = ngx_create_pool(2048, &d->log);
    if (pool == NULL) {
        goto later;
    }

    ev = ngx_pcalloc(pool, sizeof(ngx_http_b24trigger_event_t));
    if (ev == NULL) {
        ngx_destroy_pool(pool);
        goto later;
    }

    ev->pool = pool;
    ev->batch = b;
    ev->line = line;
    ev->path = b->path;
    ev->size = b->next - line;

    /* "<batch>-<line>.json" until the event's own id is known */

    ev->name.data = ngx_pnalloc(pool, b->name.len + NGX_INT_T_LEN
                                      + sizeof("-.json"));
    if (ev->name.data == NULL) {
        ngx_destroy_pool(pool);
        goto later;
    }

    ev->name.len = ngx_sprintf(ev->name.data, "%*s-%ui.json",
                               b->name.len - (sizeof(".batch") - 1),
                               b->name.data, b->line)
                   - ev->name.data;

    why = NULL;

    rc = ngx_http_b24trigger_delivery_parse(d, ev, line, end - line, &why);

    switch (rc) {

    case NGX_OK:

        if (ngx_http_b24trigger_batch_delivered(b, &ev->rec.id)) {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, &d->log, 0,
                           "b24trigger delivery: \"%V\" was delivered "
                           "before the batch was returned",
                           &ev->rec.id);

            ngx_http_b24trigger_spool_release(d->spool, ev->size);
            ngx_http_b24trigger_delivery_free(ev);
            return NULL;
        }

        p = ngx_pnalloc(pool, ev->rec.id.len + sizeof(".json") - 1);
        if (p == NULL) {
            ngx_destroy_pool(pool);
            goto later;
        }

        ev->name.len = ngx_sprintf(p, "%V.json", &ev->rec.id) - p;
        ev->name.data = p;

        return ev;

    case NGX_ABORT:
        /* a dead letter already */
        return NULL;

    case NGX_DECLINED:

        /* kept as it is, for a human to look at */

        ngx_log_error(NGX_LOG_ERR, &d->log, 0,
                      "b24trigger: line %ui of the queued batch \"%s\" %s, "
                      "moved to the dead letters as \"%V\"", b->line,
                      b->path, why ? why : "is not a queued event",
                      &ev->name);

        if (ngx_http_b24trigger_batch_write(d, ev, &d->spool->dead, line,
                                            end - line)
            != NGX_OK)
        {
            b->keep = 1;
        }

        ngx_http_b24trigger_spool_release(d->spool, ev->size);
        d->dead_counted = 0;

        ngx_http_b24trigger_delivery_free(ev);
        return NULL;

    default:
        ngx_destroy_pool(pool);
        goto later;
    }

later:

    b->next = line;
    b->line--;

    return NULL;
}


/* an event of a batch as a file of its own, in dir, named ev->name */

static ngx_int_t
ngx_http_b24trigger_batch_write(ngx_http_b24trigger_delivery_t *d,
    ngx_http_b24trigger_event_t *ev, ngx_str_t *dir, u_char *data,
    size_t len)
{
    u_char  *tmp, *to, *p;

    tmp = ngx_pnalloc(ev->pool, d->claim.len + ev->name.len
                                + sizeof("/..tmp"));
    to = ngx_http_b24trigger_spool_path(ev->pool, dir, &ev->name);

    if (tmp == NULL || to == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(tmp, "%V/.%V.tmp", &d->claim, &ev->name);
    *p = '\0';

    return ngx_http_b24trigger_file_write(&d->log, tmp, to, data, len,
                                          NGX_HTTP_B24TRIGGER_FILE_DURABLE);
}


/* every event of the batch settled: the file goes */

static void
ngx_http_b24trigger_batch_settled(ngx_http_b24trigger_delivery_t *d,
    ngx_http_b24trigger_batch_t *b)
{
    if (b->left || b->starting) {
        return;
    }

    if (b->done != NGX_INVALID_FILE) {
        (void) ngx_close_file(b->done);
        b->done = NGX_INVALID_FILE;
    }

    if (b->keep) {

        /*
         * an event could not be written out (a full disk): the batch goes
         * back to the queue whole, after backoff_max, and its next claimer
         * skips what "<name>.done" lists
         */

        if (ngx_http_b24trigger_batch_return(d, b) != NGX_OK) {
            ngx_log_error(NGX_LOG_ALERT, &d->log, ngx_errno,
                          "b24trigger: the batch \"%s\" stays claimed: an "
                          "event of it could not be written; it is "
                          "delivered again once this worker is gone",
                          b->path);
        }

    } else {

        /* the ids first: a crash between the two repeats, never loses */

        if (ngx_delete_file(b->done_path) == NGX_FILE_ERROR
            && ngx_errno != NGX_ENOENT)
        {
            ngx_log_error(NGX_LOG_ALERT, &d->log, ngx_errno,
                          ngx_delete_file_n " \"%s\" failed", b->done_path);
        }

        if (ngx_delete_file(b->path) == NGX_FILE_ERROR) {
            ngx_log_error(NGX_LOG_ALERT, &d->log, ngx_errno,
                          ngx_delete_file_n " \"%s\" failed", b->path);
        }
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, &d->log, 0,
                   "b24trigger delivery: batch \"%V\" settled", &b->name);

    ngx_queue_remove(&b->queue);
    ngx_destroy_pool(b->pool);
}


/*
 * The batch back in the queue as "<due ms>-<name>" (a due time it had
 * replaced), its "<name>.done" along: renames, which a full disk allows
 */

static ngx_int_t
ngx_http_b24trigger_batch_return(ngx_http_b24trigger_delivery_t *d,
    ngx_http_b24trigger_batch_t *b)
{
    u_char      *p, *last, *to, *done;
    ngx_str_t    name;
    ngx_uint_t   dashes;
    int64_t      due;

    /* an id has two dashes: a third is after a due time */

    p = b->name.data;
    last = b->name.data + b->name.len;

    for (dashes = 0; p < last; p++) {
        dashes += (*p == '-');
    }

    p = b->name.data;

    if (dashes == 3) {
        p = ngx_strlchr(p, last, '-') + 1;
    }

    due = ngx_http_b24trigger_now_ms() + (int64_t) d->spool->backoff_max;

    name.data = ngx_pnalloc(b->pool, NGX_INT64_LEN + 1 + (last - p));
    if (name.data == NULL) {
        return NGX_ERROR;
    }

    name.len = ngx_sprintf(name.data, "%L-%*s", due, last - p, p)
               - name.data;

    to = ngx_http_b24trigger_spool_path(b->pool, &d->spool->queue, &name);
    done = ngx_pnalloc(b->pool, d->spool->queue.len + name.len
                                + sizeof("/.done"));

    if (to == NULL || done == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(done, "%s.done%Z", to);

    if (ngx_rename_file(b->done_path, done) == NGX_FILE_ERROR
        && ngx_errno != NGX_ENOENT)
    {
        return NGX_ERROR;
    }

    if (ngx_rename_file(b->path, to) == NGX_FILE_ERROR) {
        (void) ngx_rename_file(done, b->done_path);
        return NGX_ERROR;
    }

    ngx_log_error(NGX_LOG_ERR, &d->log, 0,
                  "b24trigger: an event of the claimed batch \"%s\" could "
                  "not be written; the batch is returned to the queue as "
                  "\"%V\", the events not settled tried again in %M ms",
                  b->path, &name, d->spool->backoff_max);

    return NGX_OK;
}


/*
 * An event's bytes (a file's, a batch's line) become the event: NGX_OK;
 * NGX_DECLINED, not an event (why set, or NULL); NGX_ABORT, a dead letter
 * already (a portal we no longer know); NGX_ERROR
 */

static ngx_int_t
ngx_http_b24trigger_delivery_parse(ngx_http_b24trigger_delivery_t *d,
    ngx_http_b24trigger_event_t *ev, u_char *buf, size_t len,
    const char **why)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(ev->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_b24trigger_delivery_event_cleanup;
    cln->data = ev;

    if (ngx_http_b24trigger_event_read(&ev->rec, buf, len, why) != NGX_OK) {
        return NGX_DECLINED;
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
        return NGX_DECLINED;
    }

    ev->portal = ngx_http_b24trigger_portal_find(d->bmcf, &ev->rec.portal);

    if (ev->portal == NULL) {
        ngx_http_b24trigger_delivery_dead(d, ev, "portal_unknown");
        return NGX_ABORT;
    }

    return NGX_OK;
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

    ngx_http_b24trigger_delivery_outcome(d, ev);

    if (!ngx_exiting && !ngx_quit && !ngx_terminate) {
        ngx_http_b24trigger_delivery_kick();
    }
}


/* what the call's outcome does to the event: gone, retried or dead */

static void
ngx_http_b24trigger_delivery_outcome(ngx_http_b24trigger_delivery_t *d,
    ngx_http_b24trigger_event_t *ev)
{
    const char                  *reason;
    ngx_http_b24trigger_call_t  *call;

    call = &ev->call;

    switch (ngx_http_b24trigger_event_verdict(&ev->rec, call, &reason)) {

    case NGX_HTTP_B24TRIGGER_EVENT_DELIVERED:

        ngx_log_error(NGX_LOG_INFO, &d->log, 0,
                      "b24trigger: queued event \"%V\" delivered to portal "
                      "\"%V\", target \"%V\" code \"%V\", attempt %ui",
                      ngx_http_b24trigger_log_value(ev->pool, &ev->rec.id),
                      &ev->portal->name,
                      ngx_http_b24trigger_log_value(ev->pool, &call->target),
                      ngx_http_b24trigger_log_value(ev->pool, &call->code),
                      ev->rec.attempts);

        if (ev->batch) {
            ngx_http_b24trigger_batch_done_write(d, ev);

        } else if (ngx_delete_file(ev->path) == NGX_FILE_ERROR) {
            ngx_log_error(NGX_LOG_ALERT, &d->log, ngx_errno,
                          ngx_delete_file_n " \"%s\" failed", ev->path);
        }

        ngx_http_b24trigger_spool_release(d->spool, ev->size);
        ngx_http_b24trigger_delivery_journal(d, ev,
                                      NGX_HTTP_B24TRIGGER_J_DELIVERED, NULL);
        ngx_http_b24trigger_delivery_free(ev);
        break;

    case NGX_HTTP_B24TRIGGER_EVENT_DEAD:
        ngx_http_b24trigger_delivery_dead(d, ev, reason);
        break;

    default: /* NGX_HTTP_B24TRIGGER_EVENT_RETRY */
        ngx_http_b24trigger_delivery_retry(d, ev);
        break;
    }
}


/*
 * The target of an event first: from the lookup's zone at once, or after
 * a call that takes its own place in the portal's bucket
 */

static ngx_int_t
ngx_http_b24trigger_delivery_find(ngx_http_b24trigger_delivery_t *d,
    ngx_http_b24trigger_event_t *ev, ngx_msec_t *wait)
{
    ngx_int_t  rc;

    ev->find.spec = &ev->rec.lookup;
    ev->find.portal = ev->portal;
    ev->find.pool = ev->pool;
    ev->find.log = &d->log;
    ev->find.wait = 0;
    ev->find.done = ngx_http_b24trigger_delivery_found;
    ev->find.data = ev;

    rc = ngx_http_b24trigger_find_start(&ev->find);

    if (rc == NGX_ERROR) {
        ngx_http_b24trigger_delivery_unclaim(d, ev);
        return NGX_ERROR;
    }

    if (rc == NGX_OK) {
        return ngx_http_b24trigger_delivery_lookup(d, ev, wait);
    }

    ngx_queue_insert_tail(&d->events, &ev->queue);
    d->inflight++;

    ngx_http_b24trigger_stats_add(NGX_HTTP_B24TRIGGER_M_QUEUE_CLAIMED,
                                  &d->spool->path, NULL, 1);

    return NGX_OK;
}


static void
ngx_http_b24trigger_delivery_found(ngx_http_b24trigger_find_t *find)
{
    ngx_http_b24trigger_event_t     *ev = find->data;

    ngx_msec_t                       wait;
    ngx_http_b24trigger_delivery_t  *d;

    d = ngx_http_b24trigger_delivery;

    ngx_queue_remove(&ev->queue);
    ev->queue.next = NULL;
    d->inflight--;

    ngx_http_b24trigger_stats_add(NGX_HTTP_B24TRIGGER_M_QUEUE_CLAIMED,
                                  &d->spool->path, NULL, -1);

    (void) ngx_http_b24trigger_delivery_lookup(d, ev, &wait);

    if (!ngx_exiting && !ngx_quit && !ngx_terminate) {
        ngx_http_b24trigger_delivery_kick();
    }
}


/* what the lookup found: the call, or the event retried or dead */

static ngx_int_t
ngx_http_b24trigger_delivery_lookup(ngx_http_b24trigger_delivery_t *d,
    ngx_http_b24trigger_event_t *ev, ngx_msec_t *wait)
{
    ngx_http_b24trigger_find_t  *find;

    find = &ev->find;

    switch (find->result) {

    case NGX_HTTP_B24TRIGGER_FOUND:
        ev->call.target = find->target;

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, &d->log, 0,
                       "b24trigger delivery: \"%V\" is for \"%V\"",
                       ngx_http_b24trigger_log_value(ev->pool, &ev->rec.id),
                       &find->target);

        return ngx_http_b24trigger_delivery_send(d, ev, wait);

    case NGX_HTTP_B24TRIGGER_FIND_BUSY:
        ngx_http_b24trigger_delivery_unclaim(d, ev);

        *wait = ngx_min(ngx_max(find->delay, 1),
                        NGX_HTTP_B24TRIGGER_SCAN_IDLE_MS);
        return NGX_BUSY;

    case NGX_HTTP_B24TRIGGER_NOT_FOUND:
    case NGX_HTTP_B24TRIGGER_AMBIGUOUS:
        ev->call.outcome = (find->result == NGX_HTTP_B24TRIGGER_AMBIGUOUS)
                           ? NGX_HTTP_B24TRIGGER_CALL_AMBIGUOUS
                           : NGX_HTTP_B24TRIGGER_CALL_NOT_FOUND;

        ev->call.target = find->call.target;
        ev->call.detail.data = ngx_pnalloc(ev->pool,
                                           sizeof("no  with =") - 1
                                           + sizeof("more than one") - 1
                                           + ev->rec.lookup.entity.len
                                           + ev->rec.lookup.field.len
                                           + ev->rec.lookup.value.len);
        if (ev->call.detail.data == NULL) {
            ngx_http_b24trigger_delivery_unclaim(d, ev);
            return NGX_ERROR;
        }

        ev->call.detail.len = ngx_sprintf(ev->call.detail.data,
                                   "%s %V with %V=%V",
                                   ev->call.outcome
                                   == NGX_HTTP_B24TRIGGER_CALL_AMBIGUOUS
                                   ? "more than one" : "no",
                                   &ev->rec.lookup.entity,
                                   &ev->rec.lookup.field,
                                   &ev->rec.lookup.value)
                              - ev->call.detail.data;

        ngx_http_b24trigger_delivery_outcome(d, ev);
        return NGX_DECLINED;

    default:

        /* the portal's error: as the trigger's call would have had it */

        ev->call = find->call;
        ngx_http_b24trigger_delivery_outcome(d, ev);
        return NGX_DECLINED;
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
    ngx_msec_t   delay;
    u_char       buf[NGX_INT64_LEN + 2];

    now = ngx_http_b24trigger_now_ms();

    if (now - ev->rec.received > (int64_t) d->spool->max_age * 1000) {
        ngx_http_b24trigger_delivery_dead(d, ev, "expired");
        return;
    }

    delay = ngx_http_b24trigger_event_backoff(d->spool, &ev->rec, &ev->call);

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

    if (ev->batch) {

        /* out of the batch: a file of its own, on disk before settled */

        if (ngx_http_b24trigger_file_write(&d->log, tmp, to, data, len,
                                           NGX_HTTP_B24TRIGGER_FILE_DURABLE)
            != NGX_OK)
        {
            goto failed;
        }

        ngx_http_b24trigger_batch_done_write(d, ev);

        goto written;
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

written:

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

    ngx_http_b24trigger_delivery_journal(d, ev, NGX_HTTP_B24TRIGGER_J_RETRY,
                                         NULL);
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

    if (ev->batch) {
        ngx_http_b24trigger_batch_done_write(d, ev);

    } else if (ngx_delete_file(ev->path) == NGX_FILE_ERROR) {
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

    ngx_http_b24trigger_delivery_journal(d, ev, NGX_HTTP_B24TRIGGER_J_DEAD,
                                         reason);
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
    u_char  *to, *data;
    size_t   len;

    if (ev->batch) {

        /* out of the batch: a file of its own, due now */

        data = ngx_http_b24trigger_event_dump(ev->pool, &ev->rec, 0, &len);

        if (data == NULL
            || ngx_http_b24trigger_batch_write(d, ev, &d->spool->queue,
                                               data, len)
               != NGX_OK)
        {
            /* the batch goes back whole once settled */

            ngx_log_error(NGX_LOG_ERR, &d->log, ngx_errno,
                          "b24trigger: event \"%V\" of the claimed batch "
                          "\"%s\" could not be returned to the queue",
                          ngx_http_b24trigger_log_value(ev->pool,
                                                        &ev->rec.id),
                          ev->batch->path);

            ev->batch->keep = 1;

        } else {
            ngx_http_b24trigger_batch_done_write(d, ev);
            ngx_http_b24trigger_spool_release(d->spool,
                                              ev->size - (off_t) len);
        }

    } else {
        to = ngx_http_b24trigger_spool_path(ev->pool, &d->spool->queue,
                                            &ev->name);

        if (to == NULL || ngx_rename_file(ev->path, to) == NGX_FILE_ERROR) {

            /* left claimed: the recovery returns it once we are gone */

            ngx_log_error(NGX_LOG_ALERT, &d->log, ngx_errno,
                          "b24trigger: claimed event \"%s\" could not be "
                          "returned to the queue", ev->path);
        }
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


/* the event is settled (delivered, retried, dead, back in the queue) */

static void
ngx_http_b24trigger_delivery_free(ngx_http_b24trigger_event_t *ev)
{
    ngx_http_b24trigger_batch_t  *b;

    b = ev->batch;

    ngx_destroy_pool(ev->pool);

    if (b) {
        b->left--;
        ngx_http_b24trigger_batch_settled(ngx_http_b24trigger_delivery, b);
    }
}


static void
ngx_http_b24trigger_delivery_event_cleanup(void *data)
{
    ngx_http_b24trigger_event_t  *ev = data;

    ngx_http_b24trigger_event_free(&ev->rec);
}


/* the journal's entry for what became of a delivery */

static void
ngx_http_b24trigger_delivery_journal(ngx_http_b24trigger_delivery_t *d,
    ngx_http_b24trigger_event_t *ev, ngx_uint_t result, const char *reason)
{
    ngx_http_b24trigger_journal_event(&ev->rec, &ev->call, result, reason,
                                      ngx_http_b24trigger_now_ms(), &d->log);
}


static int64_t
ngx_http_b24trigger_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + tp->msec;
}
