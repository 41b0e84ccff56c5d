
/*
 * Copyright (C) b24trigger authors
 *
 * libcurl inside nginx's event loop.  One multi handle per worker; every
 * socket libcurl wants watched becomes an nginx connection with
 * level-triggered events, libcurl's single timer becomes an nginx timer,
 * and completed transfers are drained after every socket action.  Nothing
 * here blocks, nothing is freed inside a libcurl callback, and this file
 * knows nothing about HTTP requests or Bitrix24: a transfer is an easy
 * handle, a pool and a done() callback.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_b24trigger_portal_curl.h"


#define NGX_HTTP_B24TRIGGER_KEEPALIVE  64
#define NGX_HTTP_B24TRIGGER_IDLE       64


typedef struct {
    /* ngx_event_ident() reads the 4th word of timer.data as an fd */
    void                *dummy[3];
    ngx_socket_t         ident;

    CURLM               *multi;
    ngx_event_t          timer;
    ngx_log_t            log;
    ngx_queue_t          transfers;
    ngx_queue_t          kept;          /* wrappers curl does not watch */
    CURL                *idle[NGX_HTTP_B24TRIGGER_IDLE];
    ngx_uint_t           nidle;
    ngx_str_t            cafile;
    ngx_uint_t           exiting;
} ngx_http_b24trigger_worker_t;


static int ngx_http_b24trigger_curl_socket(CURL *easy, curl_socket_t s,
    int what, void *userp, void *socketp);
static ngx_connection_t *ngx_http_b24trigger_curl_kept(
    ngx_http_b24trigger_worker_t *w, ngx_socket_t s);
static int ngx_http_b24trigger_curl_interest(ngx_connection_t *c,
    ngx_uint_t in, ngx_uint_t out);
static int ngx_http_b24trigger_curl_timer(CURLM *multi, long timeout_ms,
    void *userp);
static void ngx_http_b24trigger_curl_event(ngx_event_t *ev);
static void ngx_http_b24trigger_curl_timeout(ngx_event_t *ev);
static void ngx_http_b24trigger_curl_action(ngx_http_b24trigger_worker_t *w,
    curl_socket_t fd, int mask);
static void ngx_http_b24trigger_curl_check(ngx_http_b24trigger_worker_t *w);
static void ngx_http_b24trigger_curl_finish(ngx_http_b24trigger_worker_t *w,
    ngx_http_b24trigger_transfer_t *t, CURLcode result);
static void ngx_http_b24trigger_curl_abort_all(
    ngx_http_b24trigger_worker_t *w);
static void ngx_http_b24trigger_curl_release(ngx_connection_t *c,
    ngx_uint_t flags);
static ngx_connection_t *ngx_http_b24trigger_curl_find(ngx_socket_t s);
static int ngx_http_b24trigger_curl_close(void *clientp, curl_socket_t s);
static size_t ngx_http_b24trigger_curl_write(char *ptr, size_t size,
    size_t nmemb, void *userdata);
static void ngx_http_b24trigger_transfer_cleanup(void *data);
static void ngx_http_b24trigger_curl_idle(ngx_http_b24trigger_worker_t *w);
static void ngx_http_b24trigger_curl_put(ngx_http_b24trigger_worker_t *w,
    CURL *easy);
static void ngx_http_b24trigger_curl_detach(ngx_http_b24trigger_worker_t *w,
    ngx_http_b24trigger_transfer_t *t);


static ngx_http_b24trigger_worker_t  *ngx_http_b24trigger_worker;


ngx_int_t
ngx_http_b24trigger_curl_init(ngx_cycle_t *cycle, ngx_str_t *cafile)
{
    CURLcode                       rc;
    curl_version_info_data        *info;
    ngx_http_b24trigger_worker_t  *w;

    rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "curl_global_init() failed: %s",
                      curl_easy_strerror(rc));
        return NGX_ERROR;
    }

    info = curl_version_info(CURLVERSION_NOW);

    if (!(info->features & CURL_VERSION_ASYNCHDNS)) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "b24trigger: libcurl %s resolves names synchronously "
                      "and would block the worker; use a libcurl built with "
                      "the threaded resolver or c-ares (Debian's "
                      "libcurl4 is)", info->version);
        curl_global_cleanup();
        return NGX_ERROR;
    }

    w = ngx_pcalloc(cycle->pool, sizeof(ngx_http_b24trigger_worker_t));
    if (w == NULL) {
        curl_global_cleanup();
        return NGX_ERROR;
    }

    w->ident = (ngx_socket_t) -1;
    w->log = *cycle->log;
    w->cafile = *cafile;
    ngx_queue_init(&w->transfers);
    ngx_queue_init(&w->kept);

    w->multi = curl_multi_init();
    if (w->multi == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "curl_multi_init() failed");
        curl_global_cleanup();
        return NGX_ERROR;
    }

    curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION,
                      ngx_http_b24trigger_curl_socket);
    curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w);
    curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION,
                      ngx_http_b24trigger_curl_timer);
    curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w);

    /*
     * keep-alive connections to the portal: libcurl's default cache is
     * four per easy handle in the multi, which shrinks to nothing between
     * calls when each call has a handle of its own
     */

    curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS,
                      (long) NGX_HTTP_B24TRIGGER_KEEPALIVE);

    w->timer.handler = ngx_http_b24trigger_curl_timeout;
    w->timer.data = w;
    w->timer.log = &w->log;
    w->timer.cancelable = 1;

    ngx_http_b24trigger_worker = w;

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, cycle->log, 0,
                   "b24trigger curl init: libcurl %s", info->version);

    return NGX_OK;
}


void
ngx_http_b24trigger_curl_exit(ngx_cycle_t *cycle)
{
    ngx_uint_t                       i;
    ngx_queue_t                     *q;
    ngx_connection_t                *c;
    ngx_http_b24trigger_worker_t    *w;
    ngx_http_b24trigger_transfer_t  *t;

    w = ngx_http_b24trigger_worker;

    if (w == NULL) {
        return;
    }

    /* from here the socket callback releases wrappers, never makes them */

    w->exiting = 1;

    while (!ngx_queue_empty(&w->transfers)) {
        q = ngx_queue_head(&w->transfers);
        t = ngx_queue_data(q, ngx_http_b24trigger_transfer_t, queue);

        ngx_log_error(NGX_LOG_WARN, &w->log, 0,
                      "b24trigger: call to the portal aborted on exit");

        ngx_http_b24trigger_transfer_cancel(t);
    }

    while (w->nidle) {
        curl_easy_cleanup(w->idle[--w->nidle]);
    }

    curl_multi_cleanup(w->multi);
    w->multi = NULL;

    /* libcurl does not always announce the sockets it drops (#16026) */

    c = cycle->connections;

    for (i = 0; i < cycle->connection_n; i++) {
        if (c[i].fd != (ngx_socket_t) -1
            && c[i].read != NULL
            && c[i].read->handler == ngx_http_b24trigger_curl_event)
        {
            ngx_http_b24trigger_curl_release(&c[i], NGX_CLOSE_EVENT);
        }
    }

    if (w->timer.timer_set) {
        ngx_del_timer(&w->timer);
    }

    curl_global_cleanup();

    ngx_http_b24trigger_worker = NULL;
}


ngx_http_b24trigger_transfer_t *
ngx_http_b24trigger_transfer_create(ngx_pool_t *pool, ngx_log_t *log)
{
    CURL                            *easy;
    ngx_uint_t                       fresh;
    ngx_pool_cleanup_t              *cln;
    ngx_http_b24trigger_worker_t    *w;
    ngx_http_b24trigger_transfer_t  *t;

    w = ngx_http_b24trigger_worker;

    if (w == NULL || w->exiting) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "b24trigger: no curl state in this process");
        return NULL;
    }

    t = ngx_pcalloc(pool, sizeof(ngx_http_b24trigger_transfer_t));
    if (t == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    /*
     * a handle of an earlier call saves libcurl's allocations, and keeps
     * the options every call shares: every caller sets the same options
     * of its own again, so no curl_easy_reset() is needed
     */

    if (w->nidle) {
        easy = w->idle[--w->nidle];
        fresh = 0;

    } else {
        easy = curl_easy_init();
        fresh = 1;
    }

    if (easy == NULL) {
        ngx_log_error(NGX_LOG_ALERT, log, 0, "curl_easy_init() failed");
        return NULL;
    }

    t->easy = easy;
    t->pool = pool;
    t->log = log;

    /* the handle goes away with its pool, whatever happened before */

    cln->handler = ngx_http_b24trigger_transfer_cleanup;
    cln->data = t;

    if (curl_easy_setopt(easy, CURLOPT_PRIVATE, t) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t->errbuf)
           != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_WRITEDATA, t) != CURLE_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, log, 0, "curl_easy_setopt() failed");
        return NULL;
    }

    if (!fresh) {
        return t;
    }

    if (curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https")
           != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION,
                            ngx_http_b24trigger_curl_write)
           != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION,
                            ngx_http_b24trigger_curl_close)
           != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, w) != CURLE_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, log, 0, "curl_easy_setopt() failed");
        return NULL;
    }

    if (w->cafile.len
        && curl_easy_setopt(easy, CURLOPT_CAINFO, w->cafile.data)
           != CURLE_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "curl_easy_setopt(CURLOPT_CAINFO) failed");
        return NULL;
    }

    return t;
}


ngx_int_t
ngx_http_b24trigger_transfer_start(ngx_http_b24trigger_transfer_t *t)
{
    CURLMcode                      rc;
    ngx_http_b24trigger_worker_t  *w;

    w = ngx_http_b24trigger_worker;

    /* queued first: the timer callback that add_handle makes sees it */

    ngx_queue_insert_tail(&w->transfers, &t->queue);

    rc = curl_multi_add_handle(w->multi, t->easy);

    if (rc != CURLM_OK) {
        ngx_queue_remove(&t->queue);
        ngx_log_error(NGX_LOG_ALERT, t->log, 0,
                      "curl_multi_add_handle() failed: %s",
                      curl_multi_strerror(rc));
        return NGX_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, t->log, 0,
                   "b24trigger curl start: %p", t->easy);

    return NGX_OK;
}


void
ngx_http_b24trigger_transfer_cancel(ngx_http_b24trigger_transfer_t *t)
{
    ngx_http_b24trigger_worker_t  *w;

    if (t->easy == NULL) {
        return;
    }

    w = ngx_http_b24trigger_worker;

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, t->log, 0,
                   "b24trigger curl cancel: %p", t->easy);

    ngx_http_b24trigger_curl_detach(w, t);
    ngx_http_b24trigger_curl_idle(w);
}


/* the easy handle leaves the multi and goes back to the idle ones */

static void
ngx_http_b24trigger_curl_detach(ngx_http_b24trigger_worker_t *w,
    ngx_http_b24trigger_transfer_t *t)
{
    if (t->queue.next != NULL) {

        /* may call the socket and timer callbacks: they touch only w */

        (void) curl_multi_remove_handle(w->multi, t->easy);
        ngx_queue_remove(&t->queue);
        t->queue.next = NULL;
    }

    ngx_http_b24trigger_curl_put(w, t->easy);
    t->easy = NULL;

    if (t->headers) {
        curl_slist_free_all(t->headers);
        t->headers = NULL;
    }
}


static void
ngx_http_b24trigger_curl_put(ngx_http_b24trigger_worker_t *w, CURL *easy)
{
    if (w->nidle < NGX_HTTP_B24TRIGGER_IDLE && !w->exiting) {
        w->idle[w->nidle++] = easy;
        return;
    }

    curl_easy_cleanup(easy);
}


static void
ngx_http_b24trigger_transfer_cleanup(void *data)
{
    ngx_http_b24trigger_transfer_t  *t = data;

    if (ngx_http_b24trigger_worker == NULL) {
        return;
    }

    ngx_http_b24trigger_transfer_cancel(t);
}


static int
ngx_http_b24trigger_curl_socket(CURL *easy, curl_socket_t s, int what,
    void *userp, void *socketp)
{
    ngx_http_b24trigger_worker_t  *w = userp;

    ngx_connection_t  *c;

    c = socketp;

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, &w->log, 0,
                   "b24trigger curl socket: fd:%d what:%d c:%p", s, what, c);

    if (what == CURL_POLL_REMOVE) {

        /* may come for a socket never announced (curl #17949) */

        if (c != NULL) {
            if (w->multi) {
                (void) curl_multi_assign(w->multi, s, NULL);
            }

            if (w->exiting) {
                ngx_http_b24trigger_curl_release(c, 0);
                return 0;
            }

            /*
             * a connection back in curl's cache is mostly used again by
             * the next call: the wrapper and its events are kept, and an
             * event that comes while curl does not watch the socket
             * (the portal closed it, say) removes them
             */

            ngx_queue_insert_tail(&w->kept, &c->queue);
        }

        return 0;
    }

    if (c == NULL) {
        c = ngx_http_b24trigger_curl_kept(w, s);

        if (c != NULL) {
            if (curl_multi_assign(w->multi, s, c) != CURLM_OK) {
                ngx_http_b24trigger_curl_release(c, 0);
                return -1;
            }
        }
    }

    if (c == NULL) {

        if (w->exiting) {
            return 0;
        }

        c = ngx_get_connection(s, &w->log);
        if (c == NULL) {
            /* fails every transfer of the multi handle: documented */
            return -1;
        }

        c->data = w;
        c->read->handler = ngx_http_b24trigger_curl_event;
        c->write->handler = ngx_http_b24trigger_curl_event;
        c->read->log = &w->log;
        c->write->log = &w->log;
        c->log = &w->log;
        c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

        if (curl_multi_assign(w->multi, s, c) != CURLM_OK) {
            ngx_http_b24trigger_curl_release(c, 0);
            return -1;
        }
    }

    return ngx_http_b24trigger_curl_interest(c, what & CURL_POLL_IN,
                                             what & CURL_POLL_OUT);
}


/* the kept wrapper of a socket curl watches again, out of the kept ones */

static ngx_connection_t *
ngx_http_b24trigger_curl_kept(ngx_http_b24trigger_worker_t *w,
    ngx_socket_t s)
{
    ngx_queue_t       *q;
    ngx_connection_t  *c;

    for (q = ngx_queue_head(&w->kept);
         q != ngx_queue_sentinel(&w->kept);
         q = ngx_queue_next(q))
    {
        c = ngx_queue_data(q, ngx_connection_t, queue);

        if (c->fd == s) {
            ngx_queue_remove(q);
            c->queue.next = NULL;
            return c;
        }
    }

    return NULL;
}


/*
 * Level-triggered on purpose: libcurl may leave data in a socket it was
 * told is readable (curl #1545), and edge-triggered events would then
 * stall until a timer.
 */

static int
ngx_http_b24trigger_curl_interest(ngx_connection_t *c, ngx_uint_t in,
    ngx_uint_t out)
{
    if (in && !c->read->active) {
        if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            return -1;
        }

    } else if (!in && c->read->active) {
        if (ngx_del_event(c->read, NGX_READ_EVENT, 0) != NGX_OK) {
            return -1;
        }
    }

    if (out && !c->write->active) {
        if (ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            return -1;
        }

    } else if (!out && c->write->active) {
        if (ngx_del_event(c->write, NGX_WRITE_EVENT, 0) != NGX_OK) {
            return -1;
        }
    }

    return 0;
}


static int
ngx_http_b24trigger_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    ngx_http_b24trigger_worker_t  *w = userp;

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, &w->log, 0,
                   "b24trigger curl timer: %l", timeout_ms);

    /* a new deadline replaces the old one, even a close one (lazy delay) */

    if (w->timer.timer_set) {
        ngx_del_timer(&w->timer);
    }

    if (timeout_ms < 0 || w->exiting) {
        return 0;
    }

    /*
     * while calls are in flight the timer keeps a gracefully exiting
     * worker alive, so they finish; "0" fires from the timer phase,
     * never from inside libcurl
     */

    w->timer.cancelable = ngx_queue_empty(&w->transfers);

    ngx_add_timer(&w->timer, (ngx_msec_t) timeout_ms);

    return 0;
}


static void
ngx_http_b24trigger_curl_event(ngx_event_t *ev)
{
    ngx_socket_t                   fd;
    ngx_connection_t              *c;
    ngx_http_b24trigger_worker_t  *w;

    c = ev->data;
    w = c->data;

    if (c->close) {
        /* worker_shutdown_timeout: nginx closes every connection */
        ngx_http_b24trigger_curl_abort_all(w);
        return;
    }

    fd = c->fd;

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, &w->log, 0,
                   "b24trigger curl event: fd:%d %s", fd,
                   ev->write ? "out" : "in");

    if (c->queue.next != NULL) {

        /* kept, not watched by curl: level-triggered, it would come back */

        (void) ngx_http_b24trigger_curl_interest(c, 0, 0);
        return;
    }

    /* c may be released by the time socket_action returns */

    ngx_http_b24trigger_curl_action(w, fd, ev->write ? CURL_CSELECT_OUT
                                                     : CURL_CSELECT_IN);
}


static void
ngx_http_b24trigger_curl_timeout(ngx_event_t *ev)
{
    ngx_http_b24trigger_worker_t  *w;

    w = ev->data;

    ngx_log_debug0(NGX_LOG_DEBUG_EVENT, &w->log, 0,
                   "b24trigger curl timeout");

    ngx_http_b24trigger_curl_action(w, CURL_SOCKET_TIMEOUT, 0);
}


/* libcurl does what the socket or the timer is ready for; then the harvest */

static void
ngx_http_b24trigger_curl_action(ngx_http_b24trigger_worker_t *w,
    curl_socket_t fd, int mask)
{
    int        running;
    CURLMcode  rc;

    rc = curl_multi_socket_action(w->multi, fd, mask, &running);

    if (rc != CURLM_OK) {
        ngx_log_error(NGX_LOG_ALERT, &w->log, 0,
                      "curl_multi_socket_action() failed: %s",
                      curl_multi_strerror(rc));
    }

    ngx_http_b24trigger_curl_check(w);
}


static void
ngx_http_b24trigger_curl_check(ngx_http_b24trigger_worker_t *w)
{
    int                              left;
    CURL                            *easy;
    CURLMsg                         *msg;
    CURLcode                         result;
    ngx_http_b24trigger_transfer_t  *t;

    while ((msg = curl_multi_info_read(w->multi, &left)) != NULL) {

        if (msg->msg != CURLMSG_DONE) {
            continue;
        }

        /* copied out: msg does not survive curl_multi_remove_handle() */

        easy = msg->easy_handle;
        result = msg->data.result;

        t = NULL;
        (void) curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &t);

        if (t == NULL) {
            (void) curl_multi_remove_handle(w->multi, easy);
            continue;
        }

        ngx_http_b24trigger_curl_finish(w, t, result);
    }

    ngx_http_b24trigger_curl_idle(w);
}


static void
ngx_http_b24trigger_curl_finish(ngx_http_b24trigger_worker_t *w,
    ngx_http_b24trigger_transfer_t *t, CURLcode result)
{
    long         status;
    char        *url;
    size_t       len;
    curl_off_t   total;

    status = 0;
    total = 0;
    url = NULL;

    (void) curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    (void) curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME_T, &total);
    (void) curl_easy_getinfo(t->easy, CURLINFO_REDIRECT_URL, &url);

    t->result = result;
    t->status = status > 0 ? (ngx_uint_t) status : 0;
    t->time = (ngx_msec_t) (total / 1000);

    if (url != NULL) {
        len = ngx_strlen(url);

        t->redirect.data = ngx_pnalloc(t->pool, len + 1);
        if (t->redirect.data != NULL) {
            ngx_memcpy(t->redirect.data, url, len + 1);
            t->redirect.len = len;
        }
    }

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, t->log, 0,
                   "b24trigger curl done: %p result:%d status:%ui",
                   t->easy, result, t->status);

    ngx_http_b24trigger_curl_detach(w, t);

    t->done(t);
}


static void
ngx_http_b24trigger_curl_abort_all(ngx_http_b24trigger_worker_t *w)
{
    ngx_queue_t                     *q;
    ngx_http_b24trigger_transfer_t  *t;

    while (!ngx_queue_empty(&w->transfers)) {
        q = ngx_queue_head(&w->transfers);
        t = ngx_queue_data(q, ngx_http_b24trigger_transfer_t, queue);

        ngx_http_b24trigger_curl_finish(w, t, CURLE_ABORTED_BY_CALLBACK);
    }

    ngx_http_b24trigger_curl_idle(w);
}


static void
ngx_http_b24trigger_curl_idle(ngx_http_b24trigger_worker_t *w)
{
    /* nothing in flight: the timer must not hold a quitting worker */

    if (ngx_queue_empty(&w->transfers)) {
        w->timer.cancelable = 1;
    }
}


/*
 * ngx_close_connection() without close(): libcurl owns the fd.  With
 * NGX_CLOSE_EVENT the fd is about to be closed, so epoll is not asked.
 */

static void
ngx_http_b24trigger_curl_release(ngx_connection_t *c, ngx_uint_t flags)
{
    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, c->log, 0,
                   "b24trigger curl release: fd:%d c:%p", c->fd, c);

    if (c->queue.next != NULL) {
        ngx_queue_remove(&c->queue);
        c->queue.next = NULL;
    }

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    if (c->read->active || c->write->active) {
        if (ngx_del_conn) {
            ngx_del_conn(c, flags);

        } else {
            if (c->read->active) {
                ngx_del_event(c->read, NGX_READ_EVENT, flags);
            }

            if (c->write->active) {
                ngx_del_event(c->write, NGX_WRITE_EVENT, flags);
            }
        }
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    c->read->closed = 1;
    c->write->closed = 1;

    ngx_free_connection(c);

    c->fd = (ngx_socket_t) -1;
}


static ngx_connection_t *
ngx_http_b24trigger_curl_find(ngx_socket_t s)
{
    ngx_uint_t         i;
    ngx_connection_t  *c;

    c = ngx_cycle->connections;

    for (i = 0; i < ngx_cycle->connection_n; i++) {
        if (c[i].fd == s
            && c[i].read != NULL
            && c[i].read->handler == ngx_http_b24trigger_curl_event)
        {
            return &c[i];
        }
    }

    return NULL;
}


/*
 * The wrapper of a socket libcurl closes is dropped before close(), so
 * epoll never sees a closed fd: mostly one of the kept ones (CURL_POLL_REMOVE
 * came first); only a socket never announced as removed (curl #14976)
 * needs the walk over all connections
 */

static int
ngx_http_b24trigger_curl_close(void *clientp, curl_socket_t s)
{
    ngx_http_b24trigger_worker_t  *w = clientp;

    ngx_connection_t  *c;

    c = ngx_http_b24trigger_curl_kept(w, s);

    if (c == NULL) {
        c = ngx_http_b24trigger_curl_find(s);
    }

    if (c != NULL) {
        ngx_http_b24trigger_curl_release(c, NGX_CLOSE_EVENT);
    }

    return close(s);
}


static size_t
ngx_http_b24trigger_curl_write(char *ptr, size_t size, size_t nmemb,
    void *userdata)
{
    ngx_http_b24trigger_transfer_t  *t = userdata;

    u_char  *p;
    size_t   len, n;

    len = size * nmemb;

    if (t->response.len + len > NGX_HTTP_B24TRIGGER_RESPONSE_MAX) {
        t->too_large = 1;
        return 0;
    }

    if (t->response.len + len > t->response_size) {
        n = ngx_max(t->response_size * 2, 1024);

        while (n < t->response.len + len) {
            n *= 2;
        }

        p = ngx_pnalloc(t->pool, n);
        if (p == NULL) {
            return 0;
        }

        if (t->response.len) {
            ngx_memcpy(p, t->response.data, t->response.len);
        }

        t->response.data = p;
        t->response_size = n;
    }

    ngx_memcpy(t->response.data + t->response.len, ptr, len);
    t->response.len += len;

    return len;
}
