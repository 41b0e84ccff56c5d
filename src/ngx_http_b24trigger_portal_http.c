
/*
 * Copyright (C) b24trigger authors
 *
 * The portal call over nginx's own connections, as proxy_pass makes
 * them: one HTTP/1.1 POST per call on a kept-alive connection of the
 * worker, TLS by nginx's OpenSSL layer (the certificate and the host name
 * checked before a byte is sent, the worker's last session resumed), the
 * whole answer read into the call's pool (portal_answer.c parses it).
 * Every call to a portal whose address was resolved when the
 * configuration was loaded starts this way; libcurl (portal_curl.c) keeps
 * the rest: a moved portal's new address, a host that could not be
 * resolved then or whose address no longer takes calls (portal.c
 * decides), and the OAuth token server.  It fills the same transfer as
 * portal_curl.c, with libcurl's result codes and words, so the portal
 * client classifies both alike.  Knows
 * nothing about Bitrix24 answers.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>

#include "ngx_http_b24trigger_portal_http.h"
#include "ngx_http_b24trigger_portal_answer.h"

#if (NGX_SSL)
#include <openssl/x509v3.h>
#endif


#define NGX_HTTP_B24TRIGGER_HTTP_IDLE        64    /* per portal, worker */
#define NGX_HTTP_B24TRIGGER_HTTP_IDLE_MS     60000
/* what every call says besides its line, Host and Content-Length */
#define NGX_HTTP_B24TRIGGER_HTTP_HEADERS                                      \
    "User-Agent: b24trigger/1.0" CRLF                                         \
    "Accept: application/json" CRLF                                           \
    "Content-Type: application/json" CRLF

/* the first read of an answer: doubled as long as the answer needs */
#define NGX_HTTP_B24TRIGGER_HTTP_BUF         1024


typedef struct {
    ngx_queue_t                      queue;
    ngx_connection_t                *connection;
    ngx_http_b24trigger_peer_t      *peer;
} ngx_http_b24trigger_keep_t;


#if (NGX_SSL)
/* the peer of a TLS connection, whatever the connection's state */
static int  ngx_http_b24trigger_http_peer_index = -1;
#endif




typedef struct {
    ngx_http_b24trigger_transfer_t  *transfer;
    ngx_http_b24trigger_peer_t      *peer;
    ngx_http_b24trigger_keep_t      *keep;       /* its connection */
    ngx_event_t                      timer;      /* the whole call */
    ngx_event_t                      post;       /* done() after start() */

    u_char                          *out;        /* the request */
    u_char                          *out_pos;
    u_char                          *out_last;

    u_char                          *in;         /* the answer */
    u_char                          *in_last;
    u_char                          *in_end;
    size_t                           received;

    ngx_http_b24trigger_answer_t     answer;

    ngx_uint_t                       addr;       /* addresses tried */
    ngx_msec_t                       start;
    ngx_msec_t                       connect_timeout;

    unsigned                         connecting:1;
    unsigned                         reused:1;
    unsigned                         retried:1;
    unsigned                         starting:1;
    unsigned                         sent:1;     /* a byte, ever */
} ngx_http_b24trigger_http_t;


static void ngx_http_b24trigger_http_cleanup(void *data);
static void ngx_http_b24trigger_http_connect(ngx_http_b24trigger_http_t *h,
    ngx_uint_t fresh);
static void ngx_http_b24trigger_http_connected(
    ngx_http_b24trigger_http_t *h);
#if (NGX_SSL)
static void ngx_http_b24trigger_http_handshake(ngx_event_t *ev);
static void ngx_http_b24trigger_http_save_session(ngx_connection_t *c);
static void ngx_http_b24trigger_http_forget(ngx_http_b24trigger_peer_t *peer);
static void ngx_http_b24trigger_http_handshaked(ngx_connection_t *c);
static ngx_int_t ngx_http_b24trigger_http_check_peer(
    ngx_http_b24trigger_http_t *h, ngx_connection_t *c);
#endif
static void ngx_http_b24trigger_http_write(ngx_event_t *wev);
static void ngx_http_b24trigger_http_next(ngx_http_b24trigger_http_t *h,
    ngx_err_t err);
static void ngx_http_b24trigger_http_read(ngx_event_t *rev);
static void ngx_http_b24trigger_http_send(ngx_http_b24trigger_http_t *h);
static void ngx_http_b24trigger_http_complete(ngx_http_b24trigger_http_t *h);
static ngx_int_t ngx_http_b24trigger_http_retry(
    ngx_http_b24trigger_http_t *h);
static void ngx_http_b24trigger_http_fail(ngx_http_b24trigger_http_t *h,
    CURLcode result, const char *fmt, ...);
static void ngx_http_b24trigger_http_finish(ngx_http_b24trigger_http_t *h,
    CURLcode result);
static void ngx_http_b24trigger_http_posted(ngx_event_t *ev);
static void ngx_http_b24trigger_http_timeout(ngx_event_t *ev);
static void ngx_http_b24trigger_http_keep(ngx_http_b24trigger_http_t *h);
static void ngx_http_b24trigger_http_idle(ngx_event_t *ev);
static void ngx_http_b24trigger_http_idle_write(ngx_event_t *ev);
static void ngx_http_b24trigger_http_close(ngx_connection_t *c);


/*
 * The portal's host is resolved here, in the master, as proxy_pass does:
 * a changed address needs a reload.  A host that cannot be resolved now
 * leaves the portal to libcurl, which resolves it at every new
 * connection.
 */

ngx_int_t
ngx_http_b24trigger_http_peer(ngx_conf_t *cf,
    ngx_http_b24trigger_portal_t *portal)
{
    u_char                      *p, *host, *last;
    ngx_url_t                    u;
    ngx_uint_t                   https;
    ngx_http_b24trigger_peer_t  *peer;

    p = portal->url.data;
    last = p + portal->url.len;

    if (portal->url.len > 8 && ngx_strncasecmp(p, (u_char *) "https://", 8)
                               == 0)
    {
        host = p + 8;
        https = 1;

    } else if (portal->url.len > 7
               && ngx_strncasecmp(p, (u_char *) "http://", 7) == 0)
    {
        host = p + 7;
        https = 0;

    } else {
        return NGX_OK;
    }

#if !(NGX_SSL)
    if (https) {
        return NGX_OK;
    }
#endif

    p = ngx_strlchr(host, last, '/');
    if (p == NULL || p == host) {
        return NGX_OK;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url.data = host;
    u.url.len = p - host;
    u.default_port = https ? 443 : 80;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_NOTICE, cf, 0,
                           "b24trigger: the host of portal \"%V\" is not "
                           "resolved now (%s), its calls go through "
                           "libcurl, which resolves it at each connection",
                           &portal->name, u.err ? u.err : "no address");
        return NGX_OK;
    }

    peer = ngx_pcalloc(cf->pool, sizeof(ngx_http_b24trigger_peer_t));
    if (peer == NULL) {
        return NGX_ERROR;
    }

    peer->addrs = u.addrs;
    peer->naddrs = u.naddrs;
    peer->prefix = p - portal->url.data;
    peer->https = https;

    peer->host.data = host;
    peer->host.len = p - host;

    /* the name without brackets and port, NUL-ended */

    p = u.host.data;
    last = u.host.data + u.host.len;

    if (p < last && *p == '[') {
        p++;
        last--;
    }

    peer->name.len = last - p;
    peer->name.data = ngx_pnalloc(cf->pool, peer->name.len + 1);
    if (peer->name.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(peer->name.data, p, peer->name.len);
    peer->name.data[peer->name.len] = '\0';

    peer->literal = (ngx_inet_addr(peer->name.data, peer->name.len)
                     != INADDR_NONE);

#if (NGX_HAVE_INET6)
    if (!peer->literal) {
        u_char  a6[16];

        peer->literal = (ngx_inet6_addr(peer->name.data, peer->name.len, a6)
                         == NGX_OK);
    }
#endif

    ngx_queue_init(&peer->idle);

    portal->peer = peer;

    return NGX_OK;
}


/* one TLS context for every https portal, once the CA file is known */

ngx_int_t
ngx_http_b24trigger_http_init_conf(ngx_conf_t *cf,
    ngx_http_b24trigger_main_conf_t *bmcf)
{
#if (NGX_SSL)
    ngx_str_t                      cafile;
    ngx_uint_t                     i;
    ngx_ssl_t                     *ssl;
    ngx_pool_cleanup_t            *cln;
    ngx_http_b24trigger_peer_t    *peer;
    ngx_http_b24trigger_portal_t  *portal;

    ssl = NULL;
    portal = bmcf->portals.elts;

    for (i = 0; i < bmcf->portals.nelts; i++) {
        peer = portal[i].peer;

        if (peer == NULL || !peer->https) {
            continue;
        }

        if (ssl == NULL) {
            ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
            if (ssl == NULL) {
                return NGX_ERROR;
            }

            ssl->log = cf->log;

            if (ngx_ssl_create(ssl, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3, NULL)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            cln = ngx_pool_cleanup_add(cf->pool, 0);
            if (cln == NULL) {
                ngx_ssl_cleanup_ctx(ssl);
                return NGX_ERROR;
            }

            cln->handler = ngx_ssl_cleanup_ctx;
            cln->data = ssl;

            /* sessions resumed on new connections, kept per worker */

            if (ngx_ssl_client_session_cache(cf, ssl, 1) != NGX_OK) {
                return NGX_ERROR;
            }

            if (ngx_http_b24trigger_http_peer_index == -1) {
                ngx_http_b24trigger_http_peer_index =
                                  SSL_get_ex_new_index(0, NULL, NULL, NULL,
                                                       NULL);
                if (ngx_http_b24trigger_http_peer_index == -1) {
                    ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                                  "SSL_get_ex_new_index() failed");
                    return NGX_ERROR;
                }
            }

            if (bmcf->ssl_trusted_certificate.len) {

                /*
                 * ngx_ssl_trusted_certificate() makes the name full, in
                 * place, and opens it: a copy, NUL-ended
                 */

                cafile.len = bmcf->ssl_trusted_certificate.len;
                cafile.data = ngx_pnalloc(cf->pool, cafile.len + 1);
                if (cafile.data == NULL) {
                    return NGX_ERROR;
                }

                ngx_memcpy(cafile.data, bmcf->ssl_trusted_certificate.data,
                           cafile.len);
                cafile.data[cafile.len] = '\0';

                if (ngx_ssl_trusted_certificate(cf, ssl, &cafile, 10)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

            } else if (SSL_CTX_set_default_verify_paths(ssl->ctx) != 1) {
                ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                              "SSL_CTX_set_default_verify_paths() failed");
                return NGX_ERROR;
            }
        }

        peer->ssl = ssl;
    }
#endif

    return NGX_OK;
}


void
ngx_http_b24trigger_http_exit(ngx_cycle_t *cycle,
    ngx_http_b24trigger_main_conf_t *bmcf)
{
    ngx_uint_t                     i;
    ngx_queue_t                   *q;
    ngx_http_b24trigger_keep_t    *keep;
    ngx_http_b24trigger_peer_t    *peer;
    ngx_http_b24trigger_portal_t  *portal;

    portal = bmcf->portals.elts;

    for (i = 0; i < bmcf->portals.nelts; i++) {
        peer = portal[i].peer;

        if (peer == NULL) {
            continue;
        }

        while (!ngx_queue_empty(&peer->idle)) {
            q = ngx_queue_head(&peer->idle);
            ngx_queue_remove(q);
            keep = ngx_queue_data(q, ngx_http_b24trigger_keep_t, queue);
            ngx_http_b24trigger_http_close(keep->connection);
        }

        peer->nidle = 0;

#if (NGX_SSL)
        if (peer->session) {
            ngx_ssl_free_session(peer->session);
            peer->session = NULL;
        }
#endif
    }
}


ngx_http_b24trigger_transfer_t *
ngx_http_b24trigger_http_start(ngx_pool_t *pool, ngx_log_t *log,
    ngx_http_b24trigger_peer_t *peer, u_char *url, u_char *body, size_t len,
    ngx_msec_t timeout, ngx_msec_t connect_timeout)
{
    u_char                          *p, *d;
    size_t                           n, ulen, v;
    ngx_pool_cleanup_t              *cln;
    ngx_http_b24trigger_http_t      *h;
    ngx_http_b24trigger_transfer_t  *t;
    u_char                           digits[NGX_SIZE_T_LEN];

    t = ngx_pcalloc(pool, sizeof(ngx_http_b24trigger_transfer_t));
    if (t == NULL) {
        return NULL;
    }

    h = ngx_pcalloc(pool, sizeof(ngx_http_b24trigger_http_t));
    if (h == NULL) {
        return NULL;
    }

    /* whatever happens to the pool, its timer and connection go first */

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_b24trigger_http_cleanup;
    cln->data = t;

    t->pool = pool;
    t->log = log;
    t->native = h;

    h->transfer = t;
    h->peer = peer;
    h->connect_timeout = connect_timeout;
    h->start = ngx_current_msec;

    url += peer->prefix;
    ulen = ngx_strlen(url);

    n = sizeof("POST  HTTP/1.1" CRLF "Host: " CRLF) - 1
        + sizeof(NGX_HTTP_B24TRIGGER_HTTP_HEADERS "Content-Length: "
                 CRLF CRLF) - 1
        + ulen + peer->host.len + NGX_SIZE_T_LEN + len;

    h->out = ngx_pnalloc(pool, n);
    if (h->out == NULL) {
        return NULL;
    }

    /* copies, not ngx_sprintf(): this runs for every call */

    p = ngx_cpymem(h->out, "POST ", sizeof("POST ") - 1);
    p = ngx_cpymem(p, url, ulen);
    p = ngx_cpymem(p, " HTTP/1.1" CRLF "Host: ",
                   sizeof(" HTTP/1.1" CRLF "Host: ") - 1);
    p = ngx_cpymem(p, peer->host.data, peer->host.len);
    p = ngx_cpymem(p, CRLF NGX_HTTP_B24TRIGGER_HTTP_HEADERS "Content-Length: ",
                   sizeof(CRLF NGX_HTTP_B24TRIGGER_HTTP_HEADERS
                          "Content-Length: ") - 1);

    /* the body's length in decimal */

    d = digits + NGX_SIZE_T_LEN;
    v = len;

    do {
        *--d = (u_char) ('0' + v % 10);
        v /= 10;
    } while (v);

    p = ngx_cpymem(p, d, digits + NGX_SIZE_T_LEN - d);
    *p++ = CR; *p++ = LF;
    *p++ = CR; *p++ = LF;

    h->out_last = ngx_cpymem(p, body, len);
    h->out_pos = h->out;

    ngx_http_b24trigger_answer_init(&h->answer,
                                    NGX_HTTP_B24TRIGGER_RESPONSE_MAX);

    h->timer.handler = ngx_http_b24trigger_http_timeout;
    h->timer.data = h;
    h->timer.log = log;

    h->post.handler = ngx_http_b24trigger_http_posted;
    h->post.data = h;
    h->post.log = log;

    ngx_add_timer(&h->timer, timeout);

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, log, 0,
                   "b24trigger http start: %p", t);

    h->starting = 1;
    ngx_http_b24trigger_http_connect(h, 0);
    h->starting = 0;

    return t;
}


void
ngx_http_b24trigger_http_cancel(ngx_http_b24trigger_transfer_t *t)
{
    ngx_http_b24trigger_http_t  *h = t->native;

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, t->log, 0,
                   "b24trigger http cancel: %p", t);

    if (h->timer.timer_set) {
        ngx_del_timer(&h->timer);
    }

    if (h->post.posted) {
        ngx_delete_posted_event(&h->post);
    }

    if (h->keep) {
        ngx_http_b24trigger_http_close(h->keep->connection);
        h->keep = NULL;
    }
}


static void
ngx_http_b24trigger_http_cleanup(void *data)
{
    ngx_http_b24trigger_transfer_t  *t = data;

    ngx_http_b24trigger_http_t  *h = t->native;

    if (h->timer.timer_set || h->post.posted || h->keep) {
        ngx_http_b24trigger_http_cancel(t);
    }
}


/* a kept-alive connection, the newest first, or a new one */

static void
ngx_http_b24trigger_http_connect(ngx_http_b24trigger_http_t *h,
    ngx_uint_t fresh)
{
    ngx_int_t                    rc;
    ngx_err_t                    err;
    ngx_queue_t                 *q;
    ngx_addr_t                  *addr;
    ngx_connection_t            *c;
    ngx_peer_connection_t        pc;
    ngx_http_b24trigger_keep_t  *keep;
    ngx_http_b24trigger_peer_t  *peer;

    peer = h->peer;

    if (!fresh && !ngx_queue_empty(&peer->idle)) {
        q = ngx_queue_head(&peer->idle);
        ngx_queue_remove(q);
        peer->nidle--;

        keep = ngx_queue_data(q, ngx_http_b24trigger_keep_t, queue);
        c = keep->connection;

        if (c->read->timer_set) {
            ngx_del_timer(c->read);
        }

        c->idle = 0;
        c->data = h;
        c->log = h->transfer->log;
        c->pool->log = c->log;
        c->read->log = c->log;
        c->write->log = c->log;
        c->read->handler = ngx_http_b24trigger_http_read;
        c->write->handler = ngx_http_b24trigger_http_write;

        h->keep = keep;
        h->reused = 1;

        ngx_log_debug1(NGX_LOG_DEBUG_EVENT, c->log, 0,
                       "b24trigger http reuse: fd:%d", c->fd);

        ngx_http_b24trigger_http_send(h);
        return;
    }

    h->reused = 0;

    addr = &peer->addrs[(peer->next + h->addr) % peer->naddrs];

    ngx_memzero(&pc, sizeof(ngx_peer_connection_t));

    pc.sockaddr = addr->sockaddr;
    pc.socklen = addr->socklen;
    pc.name = &addr->name;
    pc.get = ngx_event_get_peer;
    pc.log = h->transfer->log;
    pc.log_error = NGX_ERROR_INFO;

    rc = ngx_event_connect_peer(&pc);
    err = ngx_socket_errno;

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, pc.log, 0,
                   "b24trigger http connect to %V: %i", pc.name, rc);

    if (rc == NGX_DECLINED) {
        /* connect() failed at once, and nginx said so */
        ngx_http_b24trigger_http_next(h, err);
        return;
    }

    if (rc != NGX_OK && rc != NGX_AGAIN) {
        /* no socket, no connection: another address would fare no better */
        h->addr = peer->naddrs;
        ngx_http_b24trigger_http_next(h, 0);
        return;
    }

    c = pc.connection;

    c->pool = ngx_create_pool(512, c->log);
    if (c->pool == NULL) {
        ngx_close_connection(c);
        ngx_http_b24trigger_http_fail(h, CURLE_OUT_OF_MEMORY,
                                      "Out of memory");
        return;
    }

    keep = ngx_palloc(c->pool, sizeof(ngx_http_b24trigger_keep_t));
    if (keep == NULL) {
        ngx_http_b24trigger_http_close(c);
        ngx_http_b24trigger_http_fail(h, CURLE_OUT_OF_MEMORY,
                                      "Out of memory");
        return;
    }

    keep->connection = c;
    keep->peer = peer;

    c->data = h;
    c->sendfile = 0;
    c->read->handler = ngx_http_b24trigger_http_read;
    c->write->handler = ngx_http_b24trigger_http_write;

    h->keep = keep;

    if (rc == NGX_AGAIN) {
        h->connecting = 1;
        ngx_add_timer(c->write, h->connect_timeout);
        return;
    }

    ngx_http_b24trigger_http_connected(h);
}


static void
ngx_http_b24trigger_http_connected(ngx_http_b24trigger_http_t *h)
{
    ngx_connection_t  *c;

    c = h->keep->connection;

    h->connecting = 0;
    h->peer->next = (h->peer->next + h->addr) % h->peer->naddrs;

#if (NGX_SSL)
    {
    ngx_int_t                    rc;
    ngx_http_b24trigger_peer_t  *peer;

    peer = h->peer;

    if (peer->https) {

        if (!c->write->timer_set) {
            ngx_add_timer(c->write, h->connect_timeout);
        }

        if (ngx_ssl_create_connection(peer->ssl, c,
                                      NGX_SSL_BUFFER|NGX_SSL_CLIENT)
            != NGX_OK)
        {
            ngx_http_b24trigger_http_fail(h, CURLE_SSL_CONNECT_ERROR,
                                          "SSL connect error");
            return;
        }

        if (!peer->literal
            && SSL_set_tlsext_host_name(c->ssl->connection,
                                        (char *) peer->name.data)
               != 1)
        {
            ngx_http_b24trigger_http_fail(h, CURLE_SSL_CONNECT_ERROR,
                                          "SSL: cannot set SNI");
            return;
        }

        if (SSL_set_ex_data(c->ssl->connection,
                            ngx_http_b24trigger_http_peer_index, peer)
            != 1
            || (peer->session
                && ngx_ssl_set_session(c, peer->session) != NGX_OK))
        {
            ngx_http_b24trigger_http_fail(h, CURLE_SSL_CONNECT_ERROR,
                                          "SSL connect error");
            return;
        }

        c->ssl->save_session = ngx_http_b24trigger_http_save_session;

        rc = ngx_ssl_handshake(c);

        if (rc == NGX_AGAIN) {
            c->ssl->handler = ngx_http_b24trigger_http_handshaked;
            c->read->handler = ngx_http_b24trigger_http_handshake;
            c->write->handler = ngx_http_b24trigger_http_handshake;
            return;
        }

        ngx_http_b24trigger_http_handshaked(c);
        return;
    }
    }
#endif

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    ngx_http_b24trigger_http_send(h);
}


#if (NGX_SSL)

/*
 * nginx's own handshake handler, but for a worker that exits: it stops
 * at once instead of going on until connect_timeout
 */

static void
ngx_http_b24trigger_http_handshake(ngx_event_t *ev)
{
    ngx_connection_t            *c;
    ngx_http_b24trigger_http_t  *h;

    c = ev->data;
    h = c->data;

    if (c->close) {
        ngx_http_b24trigger_http_fail(h, CURLE_ABORTED_BY_CALLBACK,
                                      "worker is shutting down");
        return;
    }

    if (!ev->timedout && ngx_ssl_handshake(c) == NGX_AGAIN) {

        /* ngx_ssl_handshake() set its own handlers */

        c->read->handler = ngx_http_b24trigger_http_handshake;
        c->write->handler = ngx_http_b24trigger_http_handshake;
        return;
    }

    ngx_http_b24trigger_http_handshaked(c);
}


static void
ngx_http_b24trigger_http_handshaked(ngx_connection_t *c)
{
    ngx_http_b24trigger_http_t  *h = c->data;

    if (c->read->timedout || c->write->timedout) {
        ngx_http_b24trigger_http_fail(h, CURLE_OPERATION_TIMEDOUT,
                                      "Connection timed out after %M "
                                      "milliseconds",
                                      ngx_current_msec - h->start);
        return;
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (!c->ssl->handshaked) {
        ngx_http_b24trigger_http_fail(h, CURLE_SSL_CONNECT_ERROR,
                                      "SSL connect error with %s port %d",
                                      h->peer->name.data,
                                      (int) ngx_inet_get_port(c->sockaddr));
        return;
    }

    if (ngx_http_b24trigger_http_check_peer(h, c) != NGX_OK) {
        return;
    }

    c->read->handler = ngx_http_b24trigger_http_read;
    c->write->handler = ngx_http_b24trigger_http_write;

    ngx_http_b24trigger_http_send(h);
}


/* a new session of the portal (TLS 1.3 sends them after the handshake) */

static void
ngx_http_b24trigger_http_save_session(ngx_connection_t *c)
{
    ngx_ssl_session_t           *session;
    ngx_http_b24trigger_peer_t  *peer;

    peer = SSL_get_ex_data(c->ssl->connection,
                           ngx_http_b24trigger_http_peer_index);
    if (peer == NULL) {
        return;
    }

    session = ngx_ssl_get_session(c);
    if (session == NULL) {
        return;
    }

    if (peer->session) {
        ngx_ssl_free_session(peer->session);
    }

    peer->session = session;

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, c->log, 0,
                   "b24trigger http: TLS session of \"%s\" kept",
                   peer->name.data);
}


/* as libcurl does by default: the chain, then the name or address */

static ngx_int_t
ngx_http_b24trigger_http_check_peer(ngx_http_b24trigger_http_t *h,
    ngx_connection_t *c)
{
    int                          rc;
    long                         v;
    X509                        *cert;
    ngx_http_b24trigger_peer_t  *peer;

    peer = h->peer;

    v = SSL_get_verify_result(c->ssl->connection);

    if (v != X509_V_OK) {
        ngx_http_b24trigger_http_forget(peer);
        ngx_http_b24trigger_http_fail(h, CURLE_PEER_FAILED_VERIFICATION,
                                      "SSL certificate problem: %s",
                                      X509_verify_cert_error_string(v));
        return NGX_ERROR;
    }

    cert = SSL_get_peer_certificate(c->ssl->connection);

    if (cert == NULL) {
        ngx_http_b24trigger_http_forget(peer);
        ngx_http_b24trigger_http_fail(h, CURLE_PEER_FAILED_VERIFICATION,
                                      "SSL: no certificate");
        return NGX_ERROR;
    }

    if (peer->literal) {
        rc = X509_check_ip_asc(cert, (char *) peer->name.data, 0);

    } else {
        rc = X509_check_host(cert, (char *) peer->name.data,
                             peer->name.len, 0, NULL);
    }

    X509_free(cert);

    if (rc != 1) {
        ngx_http_b24trigger_http_forget(peer);
        ngx_http_b24trigger_http_fail(h, CURLE_PEER_FAILED_VERIFICATION,
                                      "SSL: no alternative certificate "
                                      "subject name matches target host "
                                      "name '%s'", peer->name.data);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a session of a portal that failed its checks is not resumed */

static void
ngx_http_b24trigger_http_forget(ngx_http_b24trigger_peer_t *peer)
{
    if (peer->session) {
        ngx_ssl_free_session(peer->session);
        peer->session = NULL;
    }
}

#endif


static void
ngx_http_b24trigger_http_write(ngx_event_t *wev)
{
    int                          err;
    socklen_t                    len;
    ngx_connection_t            *c;
    ngx_http_b24trigger_http_t  *h;

    c = wev->data;
    h = c->data;

    if (c->close) {
        ngx_http_b24trigger_http_fail(h, CURLE_ABORTED_BY_CALLBACK,
                                      "worker is shutting down");
        return;
    }

    if (!h->connecting) {
        ngx_http_b24trigger_http_send(h);
        return;
    }

    if (wev->timedout) {
        ngx_http_b24trigger_http_next(h, NGX_ETIMEDOUT);
        return;
    }

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1)
    {
        err = ngx_socket_errno;
    }

    if (err == 0) {
        ngx_http_b24trigger_http_connected(h);
        return;
    }

    ngx_http_b24trigger_http_next(h, err);
}


/*
 * The address tried took nothing (err, or 0 when no connection could even
 * be made): the next one of the name, or the call fails as libcurl says
 */

static void
ngx_http_b24trigger_http_next(ngx_http_b24trigger_http_t *h, ngx_err_t err)
{
    ngx_http_b24trigger_peer_t  *peer;

    peer = h->peer;

    if (h->keep) {

        /*
         * a connect() in progress that failed, which nginx does not log;
         * the last address's timeout is the call's own line
         */

        if (err != NGX_ETIMEDOUT || h->addr + 1 < peer->naddrs) {
            ngx_log_error(NGX_LOG_INFO, h->keep->connection->log, err,
                          "connect() to %V failed",
                          &peer->addrs[(peer->next + h->addr)
                                       % peer->naddrs].name);
        }

        ngx_http_b24trigger_http_close(h->keep->connection);
        h->keep = NULL;
        h->connecting = 0;
    }

    if (++h->addr < peer->naddrs) {
        ngx_http_b24trigger_http_connect(h, 1);
        return;
    }

    if (err == NGX_ETIMEDOUT) {
        ngx_http_b24trigger_http_fail(h, CURLE_OPERATION_TIMEDOUT,
                                      "Connection timed out after %M "
                                      "milliseconds",
                                      ngx_current_msec - h->start);
        return;
    }

    ngx_http_b24trigger_http_fail(h, CURLE_COULDNT_CONNECT,
                                  "Failed to connect to %s port %d after "
                                  "%M ms: %s", peer->name.data,
                                  (int) ngx_inet_get_port(
                                                   peer->addrs[0].sockaddr),
                                  ngx_current_msec - h->start,
                                  err ? strerror(err) : "Could not connect");
}


static void
ngx_http_b24trigger_http_send(ngx_http_b24trigger_http_t *h)
{
    ssize_t            n;
    ngx_err_t          err;
    ngx_connection_t  *c;

    c = h->keep->connection;

    while (h->out_pos < h->out_last) {

        n = c->send(c, h->out_pos, h->out_last - h->out_pos);

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
                ngx_http_b24trigger_http_fail(h, CURLE_SEND_ERROR,
                                              "Send failure");
            }

            return;
        }

        if (n <= 0) {
            err = ngx_socket_errno;

            if (ngx_http_b24trigger_http_retry(h) == NGX_OK) {
                return;
            }

            ngx_http_b24trigger_http_fail(h, CURLE_SEND_ERROR,
                                          "Send failure: %s",
                                          err ? strerror(err) : "closed");
            return;
        }

        h->out_pos += n;
        h->sent = 1;
    }

    /* all sent: the answer, perhaps already here */

    if (c->read->ready) {
        ngx_http_b24trigger_http_read(c->read);
        return;
    }

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_http_b24trigger_http_fail(h, CURLE_RECV_ERROR, "Recv failure");
    }
}


static void
ngx_http_b24trigger_http_read(ngx_event_t *rev)
{
    u_char                      *p;
    size_t                       size, max, len;
    ssize_t                      n;
    ngx_int_t                    rc;
    ngx_err_t                    err;
    ngx_connection_t            *c;
    ngx_http_b24trigger_http_t  *h;

    c = rev->data;
    h = c->data;

    if (c->close) {
        ngx_http_b24trigger_http_fail(h, CURLE_ABORTED_BY_CALLBACK,
                                      "worker is shutting down");
        return;
    }

    if (h->out_pos < h->out_last) {
        /* an answer before the whole request: read once it is sent */
        return;
    }

    max = NGX_HTTP_B24TRIGGER_ANSWER_HEADERS
          + NGX_HTTP_B24TRIGGER_RESPONSE_MAX + 4096;

    for ( ;; ) {

        if (h->in_last == h->in_end && h->in) {
            len = ngx_http_b24trigger_answer_compact(&h->answer, h->in,
                                                     h->in_last - h->in);
            h->in_last = h->in + len;
        }

        if (h->in_last == h->in_end) {
            size = h->in ? (size_t) (h->in_end - h->in) * 2
                         : NGX_HTTP_B24TRIGGER_HTTP_BUF;

            /* the whole answer at once, when its length is known */

            if (h->answer.headers && h->answer.length >= 0
                && size < h->answer.body + (size_t) h->answer.length)
            {
                size = h->answer.body + (size_t) h->answer.length;
            }

            if (size > max) {
                size = max;
            }

            if (h->in && (size_t) (h->in_end - h->in) >= size) {
                /* chunk framing of more than 4 kB: as too large */
                h->transfer->too_large = 1;
                ngx_http_b24trigger_http_fail(h, CURLE_WRITE_ERROR,
                                              "answer too large");
                return;
            }

            p = ngx_pnalloc(h->transfer->pool, size);
            if (p == NULL) {
                ngx_http_b24trigger_http_fail(h, CURLE_OUT_OF_MEMORY,
                                              "Out of memory");
                return;
            }

            if (h->in) {
                ngx_memcpy(p, h->in, h->in_last - h->in);
            }

            h->in_last = p + (h->in_last - h->in);
            h->in = p;
            h->in_end = p + size;
        }

        n = c->recv(c, h->in_last, h->in_end - h->in_last);

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ngx_http_b24trigger_http_fail(h, CURLE_RECV_ERROR,
                                              "Recv failure");
            }

            return;
        }

        if (n == NGX_ERROR) {
            err = ngx_socket_errno;

            if (ngx_http_b24trigger_http_retry(h) == NGX_OK) {
                return;
            }

            ngx_http_b24trigger_http_fail(h, CURLE_RECV_ERROR,
                                          "Recv failure: %s",
                                          err ? strerror(err)
                                              : "Connection reset by peer");
            return;
        }

        if (n == 0) {

            if (h->received == 0) {
                if (ngx_http_b24trigger_http_retry(h) == NGX_OK) {
                    return;
                }

                ngx_http_b24trigger_http_fail(h, CURLE_GOT_NOTHING,
                                              "Empty reply from server");
                return;
            }

            if (ngx_http_b24trigger_answer_eof(&h->answer,
                                               h->in_last - h->in)
                == NGX_OK)
            {
                ngx_http_b24trigger_http_complete(h);
                return;
            }

            ngx_http_b24trigger_http_fail(h, CURLE_PARTIAL_FILE, "%s",
                                          h->answer.error);
            return;
        }

        h->in_last += n;
        h->received += n;

        len = h->in_last - h->in;
        rc = ngx_http_b24trigger_answer_parse(&h->answer, h->in, &len);
        h->in_last = h->in + len;

        if (rc == NGX_OK) {
            ngx_http_b24trigger_http_complete(h);
            return;
        }

        if (rc == NGX_ERROR) {
            h->transfer->too_large = h->answer.too_large;
            ngx_http_b24trigger_http_fail(h, h->answer.too_large
                                             ? CURLE_WRITE_ERROR
                                             : CURLE_WEIRD_SERVER_REPLY,
                                          "%s", h->answer.error);
            return;
        }
    }
}


static void
ngx_http_b24trigger_http_complete(ngx_http_b24trigger_http_t *h)
{
    u_char                          *p;
    ngx_str_t                        location;
    ngx_http_b24trigger_peer_t      *peer;
    ngx_http_b24trigger_answer_t    *a;
    ngx_http_b24trigger_transfer_t  *t;

    t = h->transfer;
    peer = h->peer;

    a = &h->answer;

    t->status = a->status;
    t->response.data = h->in + a->body;
    t->response.len = a->body_end - a->body;

    /* Location, made absolute and NUL-ended, as libcurl gives it */

    if (a->location_len) {
        location.data = h->in + a->location;
        location.len = a->location_len;

        t->redirect.data = ngx_pnalloc(t->pool, sizeof("https://") - 1
                                                + peer->host.len
                                                + location.len + 1);
        if (t->redirect.data != NULL) {

            if (location.data[0] == '/') {
                p = ngx_sprintf(t->redirect.data, "%s%V%V",
                                peer->https ? "https://" : "http://",
                                &peer->host, &location);

            } else {
                p = ngx_cpymem(t->redirect.data, location.data,
                               location.len);
            }

            *p = '\0';
            t->redirect.len = p - t->redirect.data;
        }
    }

    if (a->close) {
        ngx_http_b24trigger_http_close(h->keep->connection);
        h->keep = NULL;

    } else {
        ngx_http_b24trigger_http_keep(h);
    }

    ngx_http_b24trigger_http_finish(h, CURLE_OK);
}


/*
 * a kept-alive connection the portal closed meanwhile: once more on a
 * new one, if nothing of an answer came, as libcurl does
 */

static ngx_int_t
ngx_http_b24trigger_http_retry(ngx_http_b24trigger_http_t *h)
{
    if (!h->reused || h->retried || h->received) {
        return NGX_DECLINED;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_EVENT, h->transfer->log, 0,
                   "b24trigger http: kept connection died, once more");

    ngx_http_b24trigger_http_close(h->keep->connection);
    h->keep = NULL;

    h->retried = 1;
    h->out_pos = h->out;
    h->in_last = h->in;
    h->addr = 0;

    ngx_http_b24trigger_http_connect(h, 1);

    return NGX_OK;
}


static void
ngx_http_b24trigger_http_fail(ngx_http_b24trigger_http_t *h,
    CURLcode result, const char *fmt, ...)
{
    u_char                          *p;
    va_list                          args;
    ngx_http_b24trigger_transfer_t  *t;

    t = h->transfer;

    /* nothing ever reached the portal: it may be elsewhere now */
    t->unsent = !h->sent;

    /* the status of an answer that went wrong afterwards, for the log */
    t->status = h->answer.status;

    va_start(args, fmt);
    p = ngx_vslprintf((u_char *) t->errbuf,
                      (u_char *) t->errbuf + CURL_ERROR_SIZE - 1, fmt, args);
    va_end(args);

    *p = '\0';

    if (h->keep) {
        ngx_http_b24trigger_http_close(h->keep->connection);
        h->keep = NULL;
    }

    ngx_http_b24trigger_http_finish(h, result);
}


static void
ngx_http_b24trigger_http_finish(ngx_http_b24trigger_http_t *h,
    CURLcode result)
{
    ngx_http_b24trigger_transfer_t  *t;

    t = h->transfer;

    t->result = result;
    t->time = ngx_current_msec - h->start;

    if (h->timer.timer_set) {
        ngx_del_timer(&h->timer);
    }

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, t->log, 0,
                   "b24trigger http done: %p %d status:%ui",
                   t, result, t->status);

    if (h->starting) {
        ngx_post_event(&h->post, &ngx_posted_events);
        return;
    }

    /* may free the pool of t and h */

    t->done(t);
}


static void
ngx_http_b24trigger_http_posted(ngx_event_t *ev)
{
    ngx_http_b24trigger_http_t  *h = ev->data;

    h->transfer->done(h->transfer);
}


static void
ngx_http_b24trigger_http_timeout(ngx_event_t *ev)
{
    ngx_http_b24trigger_http_t  *h = ev->data;

    if (h->connecting) {
        ngx_http_b24trigger_http_fail(h, CURLE_OPERATION_TIMEDOUT,
                                      "Connection timed out after %M "
                                      "milliseconds",
                                      ngx_current_msec - h->start);
        return;
    }

    ngx_http_b24trigger_http_fail(h, CURLE_OPERATION_TIMEDOUT,
                                  "Operation timed out after %M "
                                  "milliseconds with %uz bytes received",
                                  ngx_current_msec - h->start, h->received);
}


static void
ngx_http_b24trigger_http_keep(ngx_http_b24trigger_http_t *h)
{
    ngx_queue_t                 *q;
    ngx_connection_t            *c;
    ngx_http_b24trigger_keep_t  *keep, *old;
    ngx_http_b24trigger_peer_t  *peer;

    keep = h->keep;
    h->keep = NULL;

    c = keep->connection;
    peer = keep->peer;

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    if (ngx_terminate || ngx_exiting
        || c->read->eof || c->read->error || c->write->error
        || ngx_handle_read_event(c->read, 0) != NGX_OK)
    {
        ngx_http_b24trigger_http_close(c);
        return;
    }

#if (NGX_SSL)

    /*
     * what OpenSSL has read past the answer (more data; a close_notify or
     * an error, perhaps already processed) would never wake the idle
     * check, and the next call would take it for its answer, wait for
     * one, or fail
     */

    if (c->ssl
        && (c->ssl->last == NGX_ERROR || c->ssl->last == NGX_DONE
            || SSL_has_pending(c->ssl->connection)
            || (SSL_get_shutdown(c->ssl->connection) & SSL_RECEIVED_SHUTDOWN)))
    {
        ngx_http_b24trigger_http_close(c);
        return;
    }

#endif

    if (peer->nidle >= NGX_HTTP_B24TRIGGER_HTTP_IDLE) {
        q = ngx_queue_last(&peer->idle);
        ngx_queue_remove(q);
        peer->nidle--;

        old = ngx_queue_data(q, ngx_http_b24trigger_keep_t, queue);
        ngx_http_b24trigger_http_close(old->connection);
    }

    ngx_queue_insert_head(&peer->idle, &keep->queue);
    peer->nidle++;

    c->data = keep;
    c->idle = 1;
    c->log = ngx_cycle->log;
    c->pool->log = ngx_cycle->log;
    c->read->log = ngx_cycle->log;
    c->write->log = ngx_cycle->log;
    c->read->handler = ngx_http_b24trigger_http_idle;
    c->write->handler = ngx_http_b24trigger_http_idle_write;

    ngx_add_timer(c->read, NGX_HTTP_B24TRIGGER_HTTP_IDLE_MS);

    if (c->read->ready) {
        /* perhaps only the end of a full read: look */
        ngx_http_b24trigger_http_idle(c->read);
    }
}


/* the portal closed a kept-alive connection, or it aged, or we exit */

static void
ngx_http_b24trigger_http_idle(ngx_event_t *ev)
{
    int                          n;
    char                         buf[1];
    ngx_connection_t            *c;
    ngx_http_b24trigger_keep_t  *keep;

    c = ev->data;
    keep = c->data;

    if (!c->close && !ev->timedout) {
        n = recv(c->fd, buf, 1, MSG_PEEK);

        if (n == -1 && ngx_socket_errno == NGX_EAGAIN) {
            ev->ready = 0;

            if (ngx_handle_read_event(c->read, 0) == NGX_OK) {
                return;
            }
        }
    }

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, c->log, 0,
                   "b24trigger http idle close: fd:%d", c->fd);

    ngx_queue_remove(&keep->queue);
    keep->peer->nidle--;

    ngx_http_b24trigger_http_close(c);
}


static void
ngx_http_b24trigger_http_idle_write(ngx_event_t *ev)
{
    ngx_log_debug0(NGX_LOG_DEBUG_EVENT, ev->log, 0,
                   "b24trigger http idle write");
}


static void
ngx_http_b24trigger_http_close(ngx_connection_t *c)
{
    ngx_pool_t  *pool;

#if (NGX_SSL)
    if (c->ssl) {
        c->ssl->no_wait_shutdown = 1;
        c->ssl->no_send_shutdown = 1;
        (void) ngx_ssl_shutdown(c);
    }
#endif

    pool = c->pool;

    ngx_close_connection(c);

    if (pool) {
        ngx_destroy_pool(pool);
    }
}
