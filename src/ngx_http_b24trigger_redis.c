
/*
 * Copyright (C) b24trigger authors
 *
 * The Redis client of cluster mode ("b24trigger_cluster"): hiredis's
 * asynchronous API on nginx's event loop, one connection per worker.  It
 * owns the link: the directive's URL, the non-blocking connect (to the
 * address given, or to the primary the Sentinels name after every loss),
 * AUTH and SELECT, a timeout on every command, reconnection with backoff,
 * the link's state in the error log and in the status page, and the small
 * shared zone through which the workers of a node say "down" once.  It
 * knows nothing about webhooks: callers send commands and get replies.
 */


#include "ngx_http_b24trigger.h"
#include "ngx_http_b24trigger_redis.h"

#include <sys/ioctl.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>


#define NGX_HTTP_B24TRIGGER_REDIS_PORT           6379
#define NGX_HTTP_B24TRIGGER_SENTINEL_PORT        26379

#define NGX_HTTP_B24TRIGGER_REDIS_BACKOFF_MIN    100
#define NGX_HTTP_B24TRIGGER_REDIS_BACKOFF_MAX    3000

#define NGX_HTTP_B24TRIGGER_REDIS_ARGS_MAX       64

/* an idle link is checked this often (PING), so that a worker learns of a
 * Redis that went away without a word before a webhook waits for it */
#define NGX_HTTP_B24TRIGGER_REDIS_PING           1000

#define NGX_HTTP_B24TRIGGER_REDIS_REASON       160

/* the link, in this worker */
#define NGX_HTTP_B24TRIGGER_REDIS_IDLE           0   /* waits to retry */
#define NGX_HTTP_B24TRIGGER_REDIS_RESOLVING      1   /* asks a Sentinel */
#define NGX_HTTP_B24TRIGGER_REDIS_CONNECTING     2   /* AUTH, SELECT, PING */
#define NGX_HTTP_B24TRIGGER_REDIS_UP             3


typedef struct {
    u_char                          host[NGX_SOCKADDR_STRLEN + 1];
    in_port_t                       port;
} ngx_http_b24trigger_redis_addr_t;


/* one hiredis context and the nginx connection its socket is watched by */

typedef struct {
    redisAsyncContext              *ac;
    ngx_connection_t               *c;
    ngx_http_b24trigger_redis_t    *redis;
} ngx_http_b24trigger_redis_sock_t;


typedef struct {
    ngx_queue_t                            queue;    /* redis->pending */
    ngx_msec_t                             sent;
    ngx_http_b24trigger_redis_handler_pt   handler;
    void                                  *data;
    ngx_http_b24trigger_redis_t           *redis;
} ngx_http_b24trigger_redis_cmd_t;


/* shared by the workers of one configuration */

/*
 * shared by the workers of one configuration: which are down, by worker
 * number, so that a worker started again in the place of one that died
 * takes its place back
 */

typedef struct {
    ngx_atomic_t                    down;    /* workers whose link is down */
    ngx_atomic_t                    worker[NGX_MAX_PROCESSES];
} ngx_http_b24trigger_redis_sh_t;


struct ngx_http_b24trigger_redis_s {
    /* configuration */
    ngx_str_t                       name;      /* the URL, no password */
    ngx_array_t                     addrs;     /* the server, or the
                                                  Sentinels */
    ngx_str_t                       master;    /* sentinel:// */
    ngx_str_t                       user;
    ngx_str_t                       password;
    ngx_int_t                       db;        /* -1: none */
    ngx_str_t                       prefix;
    ngx_msec_t                      timeout;
    ngx_uint_t                      replicas;
    ngx_shm_zone_t                 *zone;
    unsigned                        sentinel:1;
    unsigned                        quiet:1;   /* a second link (clone):
                                                  no line, no metric */

    /* the link, in this worker */
    ngx_log_t                      *log;
    ngx_http_b24trigger_redis_sh_t *sh;
    ngx_uint_t                      state;
    ngx_http_b24trigger_redis_sock_t  main;
    ngx_http_b24trigger_redis_sock_t  ask;     /* a Sentinel */
    ngx_queue_t                     pending;   /* commands sent, oldest
                                                  first */
    ngx_event_t                     retry;     /* reconnect, next Sentinel */
    ngx_event_t                     connect;   /* connect timeout */
    ngx_event_t                     command;   /* command timeout */
    ngx_event_t                     drop;      /* posted: drop the link */
    ngx_event_t                     ping;      /* an idle link's check */
    ngx_msec_t                      backoff;
    ngx_uint_t                      next;      /* the Sentinel to ask */
    ngx_uint_t                      asked;     /* in this round */
    ngx_http_b24trigger_redis_addr_t  primary;
    u_char                          reason[NGX_HTTP_B24TRIGGER_REDIS_REASON];
    unsigned                        refused:1; /* AUTH or SELECT */
    unsigned                        been_up:1;
    unsigned                        exiting:1;
};


static char *ngx_http_b24trigger_redis_parse_url(ngx_conf_t *cf,
    ngx_http_b24trigger_redis_t *redis, ngx_str_t *url);
static ngx_int_t ngx_http_b24trigger_redis_parse_addr(ngx_conf_t *cf,
    ngx_str_t *s, in_port_t port, ngx_http_b24trigger_redis_addr_t *addr);
static ngx_int_t ngx_http_b24trigger_redis_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_b24trigger_redis_start(ngx_http_b24trigger_redis_t *redis);
static void ngx_http_b24trigger_redis_ask(ngx_http_b24trigger_redis_t *redis);
static void ngx_http_b24trigger_redis_asked(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_b24trigger_redis_ask_next(
    ngx_http_b24trigger_redis_t *redis);
static void ngx_http_b24trigger_redis_connect(
    ngx_http_b24trigger_redis_t *redis);
static void ngx_http_b24trigger_redis_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_b24trigger_redis_disconnected(const redisAsyncContext *ac,
    int status);
static void ngx_http_b24trigger_redis_hello(void *data,
    ngx_http_b24trigger_redis_reply_t *reply);
static void ngx_http_b24trigger_redis_role(void *data,
    ngx_http_b24trigger_redis_reply_t *reply);
static void ngx_http_b24trigger_redis_ready(void *data,
    ngx_http_b24trigger_redis_reply_t *reply);
static ngx_int_t ngx_http_b24trigger_redis_send(
    ngx_http_b24trigger_redis_t *redis,
    ngx_http_b24trigger_redis_handler_pt handler, void *data,
    ngx_uint_t argc, ngx_str_t *argv);
static void ngx_http_b24trigger_redis_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static ngx_int_t ngx_http_b24trigger_redis_convert(ngx_pool_t *pool,
    redisReply *reply, ngx_http_b24trigger_redis_reply_t *rr);
static void ngx_http_b24trigger_redis_lost(ngx_http_b24trigger_redis_t *redis);
static void ngx_http_b24trigger_redis_free(
    ngx_http_b24trigger_redis_sock_t *sock);
static void ngx_http_b24trigger_redis_mark_down(
    ngx_http_b24trigger_redis_t *redis);
static void ngx_http_b24trigger_redis_mark_up(
    ngx_http_b24trigger_redis_t *redis);
static void ngx_http_b24trigger_redis_because(
    ngx_http_b24trigger_redis_t *redis, const char *fmt, ...);
static void ngx_http_b24trigger_redis_retry_handler(ngx_event_t *ev);
static void ngx_http_b24trigger_redis_connect_handler(ngx_event_t *ev);
static void ngx_http_b24trigger_redis_command_handler(ngx_event_t *ev);
static void ngx_http_b24trigger_redis_drop_handler(ngx_event_t *ev);
static void ngx_http_b24trigger_redis_ping_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_b24trigger_redis_attach(
    ngx_http_b24trigger_redis_sock_t *sock, redisAsyncContext *ac);
static void ngx_http_b24trigger_redis_read_handler(ngx_event_t *ev);
static void ngx_http_b24trigger_redis_write_handler(ngx_event_t *ev);
static void ngx_http_b24trigger_redis_add_read(void *data);
static void ngx_http_b24trigger_redis_del_read(void *data);
static void ngx_http_b24trigger_redis_add_write(void *data);
static void ngx_http_b24trigger_redis_del_write(void *data);
static void ngx_http_b24trigger_redis_cleanup(void *data);


static ngx_str_t  ngx_http_b24trigger_redis_zone_name =
    ngx_string("b24trigger_cluster");


/*
 * "b24trigger_cluster URL [password=] [prefix=] [timeout=] [replicas=]":
 * args[0] is the URL
 */

ngx_http_b24trigger_redis_t *
ngx_http_b24trigger_redis_create(ngx_conf_t *cf, ngx_str_t *args,
    ngx_uint_t nargs)
{
    char                         *rv;
    size_t                        size;
    ngx_int_t                     n;
    ngx_str_t                     s;
    ngx_uint_t                    i;
    ngx_http_b24trigger_redis_t  *redis;

    redis = ngx_pcalloc(cf->pool, sizeof(ngx_http_b24trigger_redis_t));
    if (redis == NULL) {
        return NULL;
    }

    if (ngx_array_init(&redis->addrs, cf->pool, 3,
                       sizeof(ngx_http_b24trigger_redis_addr_t))
        != NGX_OK)
    {
        return NULL;
    }

    redis->db = -1;
    redis->timeout = 1000;
    ngx_str_set(&redis->prefix, "b24t:");

    rv = ngx_http_b24trigger_redis_parse_url(cf, redis, &args[0]);
    if (rv != NGX_CONF_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid b24trigger_cluster URL \"%V\": %s; "
                           "expected redis://[[USER]:PASSWORD@]HOST:PORT[/DB] "
                           "or sentinel://HOST:PORT[,HOST:PORT...]/MASTER",
                           &redis->name, rv);
        return NULL;
    }

    for (i = 1; i < nargs; i++) {

        if (ngx_strncmp(args[i].data, "password=", 9) == 0) {

            if (redis->password.len) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "b24trigger_cluster: the password is "
                                   "given twice, in the URL and by "
                                   "\"password=\"");
                return NULL;
            }

            s.data = args[i].data + 9;
            s.len = args[i].len - 9;

            if (ngx_http_b24trigger_secret_load(cf, &s, &redis->password,
                                                "b24trigger_cluster password")
                != NGX_OK)
            {
                return NULL;
            }

            if (redis->password.len == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "b24trigger_cluster: the password is "
                                   "empty");
                return NULL;
            }

            continue;
        }

        if (ngx_strncmp(args[i].data, "prefix=", 7) == 0) {
            redis->prefix.data = args[i].data + 7;
            redis->prefix.len = args[i].len - 7;

            if (redis->prefix.len == 0 || redis->prefix.len > 64) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(args[i].data, "timeout=", 8) == 0) {
            s.data = args[i].data + 8;
            s.len = args[i].len - 8;

            redis->timeout = ngx_parse_time(&s, 0);
            if (redis->timeout == (ngx_msec_t) NGX_ERROR
                || redis->timeout == 0)
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(args[i].data, "replicas=", 9) == 0) {
            n = ngx_atoi(args[i].data + 9, args[i].len - 9);
            if (n == NGX_ERROR || n > 16) {
                goto invalid;
            }

            redis->replicas = n;
            continue;
        }

        goto invalid;
    }

    if (redis->password.len
        && ngx_http_b24trigger_redact_secret(cf, &redis->password) != NGX_OK)
    {
        return NULL;
    }

    size = 8 * ngx_pagesize + sizeof(ngx_http_b24trigger_redis_sh_t);

    redis->zone = ngx_shared_memory_add(cf,
                                        &ngx_http_b24trigger_redis_zone_name,
                                        size, &ngx_http_b24trigger_module);
    if (redis->zone == NULL) {
        return NULL;
    }

    /* each configuration counts its own workers */

    redis->zone->noreuse = 1;
    redis->zone->init = ngx_http_b24trigger_redis_init_zone;
    redis->zone->data = redis;

    return redis;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "b24trigger_cluster: invalid parameter \"%V\"",
                       &args[i]);
    return NULL;
}


/*
 * redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]
 * sentinel://[[USER]:PASSWORD@]HOST[:PORT][,HOST[:PORT]...]/MASTER
 * Names are resolved now, once, as proxy_pass does: hiredis would resolve
 * them with a blocking call.  redis->name is the URL without its password.
 */

static char *
ngx_http_b24trigger_redis_parse_url(ngx_conf_t *cf,
    ngx_http_b24trigger_redis_t *redis, ngx_str_t *url)
{
    u_char                            *p, *last, *at, *slash, *colon, *host;
    size_t                             skip;
    in_port_t                          port;
    ngx_str_t                          s, rest;
    ngx_http_b24trigger_redis_addr_t  *addr;

    last = url->data + url->len;

    if (url->len >= 8 && ngx_strncmp(url->data, "redis://", 8) == 0) {
        skip = 8;
        port = NGX_HTTP_B24TRIGGER_REDIS_PORT;

    } else if (url->len >= 11
               && ngx_strncmp(url->data, "sentinel://", 11) == 0)
    {
        skip = 11;
        port = NGX_HTTP_B24TRIGGER_SENTINEL_PORT;
        redis->sentinel = 1;

    } else {
        redis->name.data = (u_char *) "...";
        redis->name.len = 3;

        /* what comes before "://" only: a password never shows */

        p = ngx_strlcasestrn(url->data, last, (u_char *) "://", 3 - 1);
        if (p) {
            redis->name.data = url->data;
            redis->name.len = p + 3 - url->data;
        }

        return "the scheme is neither redis:// nor sentinel://";
    }

    rest.data = url->data + skip;
    rest.len = url->len - skip;

    /*
     * the userinfo ends at the last "@" of the URL, not before the first
     * "/": a password written raw may have "/", "?" or "#" in it (base64
     * ones do), and a URL refused must not be shown with it
     */

    at = NULL;

    for (p = rest.data; p < last; p++) {
        if (*p == '@') {
            at = p;
        }
    }

    /* the name shown: scheme, then what follows the userinfo */

    redis->name.len = skip + (at ? (size_t) (last - at - 1) : rest.len);
    redis->name.data = ngx_pnalloc(cf->pool, redis->name.len);
    if (redis->name.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(redis->name.data, url->data, skip);
    ngx_memcpy(p, at ? at + 1 : rest.data, redis->name.len - skip);

    if (at) {
        colon = ngx_strlchr(rest.data, at, ':');

        if (colon == NULL) {
            return "the userinfo has no \":\" before the password";
        }

        redis->user.data = rest.data;
        redis->user.len = colon - rest.data;
        redis->password.data = colon + 1;
        redis->password.len = at - colon - 1;

        if (redis->password.len == 0) {
            return "the password is empty";
        }

        rest.data = at + 1;
        rest.len = last - rest.data;
    }

    /* the hosts, up to "/" */

    slash = ngx_strlchr(rest.data, last, '/');
    host = rest.data;

    for (p = rest.data; p <= (slash ? slash : last); p++) {

        if (p != (slash ? slash : last) && *p != ',') {
            continue;
        }

        s.data = host;
        s.len = p - host;
        host = p + 1;

        if (s.len == 0) {
            return "a host is missing";
        }

        if (!redis->sentinel && redis->addrs.nelts == 1) {
            return "redis:// takes one host";
        }

        addr = ngx_array_push(&redis->addrs);
        if (addr == NULL) {
            return NGX_CONF_ERROR;
        }

        if (ngx_http_b24trigger_redis_parse_addr(cf, &s, port, addr)
            != NGX_OK)
        {
            return "a host is invalid or does not resolve";
        }
    }

    s.data = slash ? slash + 1 : last;
    s.len = last - s.data;

    if (redis->sentinel) {
        if (s.len == 0 || ngx_strlchr(s.data, last, '/') != NULL) {
            return "sentinel:// needs the master's name after \"/\"";
        }

        redis->master = s;
        return NGX_CONF_OK;
    }

    if (slash && s.len == 0) {
        return "the database number after \"/\" is missing";
    }

    if (s.len) {
        redis->db = ngx_atoi(s.data, s.len);

        if (redis->db == NGX_ERROR || s.len > 5) {
            return "the database is not a number";
        }
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_b24trigger_redis_parse_addr(ngx_conf_t *cf, ngx_str_t *s,
    in_port_t port, ngx_http_b24trigger_redis_addr_t *addr)
{
    size_t     len;
    ngx_url_t  u;

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = *s;
    u.default_port = port;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
        return NGX_ERROR;
    }

    if (u.addrs[0].sockaddr->sa_family != AF_INET
#if (NGX_HAVE_INET6)
        && u.addrs[0].sockaddr->sa_family != AF_INET6
#endif
       )
    {
        return NGX_ERROR;
    }

    len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, addr->host,
                        NGX_SOCKADDR_STRLEN, 0);
    addr->host[len] = '\0';
    addr->port = ngx_inet_get_port(u.addrs[0].sockaddr);

    return NGX_OK;
}


static ngx_int_t
ngx_http_b24trigger_redis_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t              *shpool;
    ngx_http_b24trigger_redis_t  *redis;

    redis = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    redis->sh = ngx_slab_calloc(shpool,
                                sizeof(ngx_http_b24trigger_redis_sh_t));
    if (redis->sh == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_b24trigger_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_b24trigger_redis_t *redis)
{
    ngx_event_t  *ev[5];
    ngx_uint_t    i;

    redis->log = cycle->log;
    redis->main.redis = redis;
    redis->ask.redis = redis;
    redis->backoff = NGX_HTTP_B24TRIGGER_REDIS_BACKOFF_MIN;

    ngx_queue_init(&redis->pending);

    redis->retry.handler = ngx_http_b24trigger_redis_retry_handler;
    redis->connect.handler = ngx_http_b24trigger_redis_connect_handler;
    redis->command.handler = ngx_http_b24trigger_redis_command_handler;
    redis->drop.handler = ngx_http_b24trigger_redis_drop_handler;
    redis->ping.handler = ngx_http_b24trigger_redis_ping_handler;

    ev[0] = &redis->retry;
    ev[1] = &redis->connect;
    ev[2] = &redis->command;
    ev[3] = &redis->drop;
    ev[4] = &redis->ping;

    for (i = 0; i < 5; i++) {
        ev[i]->data = redis;
        ev[i]->log = cycle->log;

        /*
         * a worker that quits waits for the replies of the commands it
         * sent (at most the timeout), not for a reconnection
         */

        ev[i]->cancelable = (ev[i] != &redis->command);
    }

    if (redis->quiet) {
        ngx_http_b24trigger_redis_start(redis);
        return NGX_OK;
    }

    ngx_http_b24trigger_stats_set(NGX_HTTP_B24TRIGGER_M_CLUSTER_UP,
                                  &redis->name, NULL, 0);

    /* the place of a worker that died down: not down before it tried */

    if (ngx_worker < NGX_MAX_PROCESSES
        && ngx_atomic_cmp_set(&redis->sh->worker[ngx_worker], 1, 0))
    {
        (void) ngx_atomic_fetch_add(&redis->sh->down, -1);
    }

    ngx_http_b24trigger_redis_start(redis);

    return NGX_OK;
}


void
ngx_http_b24trigger_redis_exit_process(ngx_http_b24trigger_redis_t *redis)
{
    if (redis->log == NULL) {
        return;
    }

    redis->exiting = 1;

    if (redis->retry.timer_set) {
        ngx_del_timer(&redis->retry);
    }

    if (redis->connect.timer_set) {
        ngx_del_timer(&redis->connect);
    }

    if (redis->command.timer_set) {
        ngx_del_timer(&redis->command);
    }

    if (redis->ping.timer_set) {
        ngx_del_timer(&redis->ping);
    }

    if (redis->drop.posted) {
        ngx_delete_posted_event(&redis->drop);
    }

    ngx_http_b24trigger_redis_free(&redis->ask);
    ngx_http_b24trigger_redis_free(&redis->main);

    if (!redis->quiet
        && ngx_worker < NGX_MAX_PROCESSES
        && ngx_atomic_cmp_set(&redis->sh->worker[ngx_worker], 1, 0))
    {
        (void) ngx_atomic_fetch_add(&redis->sh->down, -1);
    }
}


ngx_uint_t
ngx_http_b24trigger_redis_up(ngx_http_b24trigger_redis_t *redis)
{
    return redis->state == NGX_HTTP_B24TRIGGER_REDIS_UP;
}


ngx_str_t *
ngx_http_b24trigger_redis_prefix(ngx_http_b24trigger_redis_t *redis)
{
    return &redis->prefix;
}


ngx_str_t *
ngx_http_b24trigger_redis_name(ngx_http_b24trigger_redis_t *redis)
{
    return &redis->name;
}


ngx_uint_t
ngx_http_b24trigger_redis_replicas(ngx_http_b24trigger_redis_t *redis)
{
    return redis->replicas;
}


ngx_msec_t
ngx_http_b24trigger_redis_timeout(ngx_http_b24trigger_redis_t *redis)
{
    return redis->timeout;
}


/*
 * A second link to the same Redis, for a caller whose commands must not
 * wait behind the shared link's, or the shared one behind its (WAIT):
 * the same address, password and database; it says nothing in the error
 * log or the metrics, the shared link speaks for both
 */

ngx_http_b24trigger_redis_t *
ngx_http_b24trigger_redis_clone(ngx_conf_t *cf,
    ngx_http_b24trigger_redis_t *redis)
{
    ngx_http_b24trigger_redis_t  *clone;

    clone = ngx_palloc(cf->pool, sizeof(ngx_http_b24trigger_redis_t));
    if (clone == NULL) {
        return NULL;
    }

    *clone = *redis;
    clone->quiet = 1;

    return clone;
}


ngx_int_t
ngx_http_b24trigger_redis_command(ngx_http_b24trigger_redis_t *redis,
    ngx_http_b24trigger_redis_handler_pt handler, void *data,
    ngx_uint_t argc, ngx_str_t *argv)
{
    if (redis->state != NGX_HTTP_B24TRIGGER_REDIS_UP || redis->exiting) {
        return NGX_DECLINED;
    }

    return ngx_http_b24trigger_redis_send(redis, handler, data, argc, argv);
}


/* a connection from scratch: the primary, or first the Sentinels */

static void
ngx_http_b24trigger_redis_start(ngx_http_b24trigger_redis_t *redis)
{
    ngx_http_b24trigger_redis_addr_t  *addr;

    if (redis->sentinel) {
        redis->asked = 0;
        redis->state = NGX_HTTP_B24TRIGGER_REDIS_RESOLVING;
        ngx_http_b24trigger_redis_ask(redis);
        return;
    }

    addr = redis->addrs.elts;
    redis->primary = addr[0];

    ngx_http_b24trigger_redis_connect(redis);
}


/* SENTINEL get-master-addr-by-name, to one Sentinel */

static void
ngx_http_b24trigger_redis_ask(ngx_http_b24trigger_redis_t *redis)
{
    redisAsyncContext                 *ac;
    ngx_http_b24trigger_redis_addr_t  *addr;

    ngx_http_b24trigger_redis_free(&redis->ask);

    addr = redis->addrs.elts;
    addr = &addr[redis->next];

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, redis->log, 0,
                   "b24trigger redis: asking sentinel %s:%d",
                   addr->host, (int) addr->port);

    ac = redisAsyncConnect((char *) addr->host, addr->port);

    if (ac == NULL || ac->err) {
        ngx_http_b24trigger_redis_because(redis,
                                          "sentinel %s:%d: %s", addr->host,
                                          (int) addr->port,
                                          ac ? ac->errstr : "no memory");
        if (ac) {
            redisAsyncFree(ac);
        }

        ngx_http_b24trigger_redis_ask_next(redis);
        return;
    }

    if (ngx_http_b24trigger_redis_attach(&redis->ask, ac) != NGX_OK) {
        redisAsyncFree(ac);
        ngx_http_b24trigger_redis_because(redis, "sentinel %s:%d: no free "
                                          "connection", addr->host,
                                          (int) addr->port);
        ngx_http_b24trigger_redis_ask_next(redis);
        return;
    }

    if (redisAsyncCommand(ac, ngx_http_b24trigger_redis_asked, redis,
                          "SENTINEL get-master-addr-by-name %b",
                          redis->master.data, redis->master.len)
        != REDIS_OK)
    {
        ngx_http_b24trigger_redis_free(&redis->ask);
        ngx_http_b24trigger_redis_because(redis, "sentinel %s:%d: the "
                                          "command was not sent",
                                          addr->host, (int) addr->port);
        ngx_http_b24trigger_redis_ask_next(redis);
        return;
    }

    ngx_add_timer(&redis->connect, redis->timeout);
}


/* a Sentinel's answer; NULL: none (refused, closed, timed out) */

static void
ngx_http_b24trigger_redis_asked(redisAsyncContext *ac, void *r,
    void *privdata)
{
    ngx_http_b24trigger_redis_t *redis = privdata;

    size_t                             len;
    ngx_int_t                          port;
    ngx_str_t                         *ip, *pt;
    ngx_pool_t                        *pool;
    redisReply                        *reply;
    ngx_http_b24trigger_redis_addr_t  *addr;
    ngx_http_b24trigger_redis_reply_t  rr;
    u_char                             buf[sizeof(struct in6_addr)];

    reply = r;
    addr = redis->addrs.elts;
    addr = &addr[redis->next];

    if (redis->connect.timer_set) {
        ngx_del_timer(&redis->connect);
    }

    if (redis->exiting) {
        return;
    }

    if (reply == NULL) {
        if (redis->reason[0] == '\0') {
            ngx_http_b24trigger_redis_because(redis, "sentinel %s:%d: %s",
                                              addr->host, (int) addr->port,
                                              ac->errstr[0] ? ac->errstr
                                              : "no answer");
        }

        ngx_http_b24trigger_redis_ask_next(redis);
        return;
    }

    redisAsyncDisconnect(ac);

    /* [ip, port], as any caller would read it */

    pool = ngx_create_pool(1024, redis->log);

    if (pool == NULL
        || ngx_http_b24trigger_redis_convert(pool, reply, &rr) != NGX_OK
        || rr.type != NGX_HTTP_B24TRIGGER_REDIS_ARRAY || rr.nelts != 2
        || rr.elts[0].type != NGX_HTTP_B24TRIGGER_REDIS_STRING
        || rr.elts[1].type != NGX_HTTP_B24TRIGGER_REDIS_STRING)
    {
        if (pool) {
            ngx_destroy_pool(pool);
        }

        ngx_http_b24trigger_redis_because(redis,
                                          "sentinel %s:%d does not know "
                                          "master \"%V\"", addr->host,
                                          (int) addr->port, &redis->master);
        ngx_http_b24trigger_redis_ask_next(redis);
        return;
    }

    ip = &rr.elts[0].str;
    pt = &rr.elts[1].str;
    len = ngx_min(ip->len, NGX_SOCKADDR_STRLEN);

    ngx_memcpy(redis->primary.host, ip->data, len);
    redis->primary.host[len] = '\0';

    port = ngx_atoi(pt->data, pt->len);

    ngx_destroy_pool(pool);

    /* an address, never a name: hiredis would resolve it blocking */

    if (port == NGX_ERROR || port == 0 || port > 65535
        || (inet_pton(AF_INET, (char *) redis->primary.host, buf) != 1
#if (NGX_HAVE_INET6)
            && inet_pton(AF_INET6, (char *) redis->primary.host, buf) != 1
#endif
           ))
    {
        ngx_http_b24trigger_redis_because(redis,
                                          "sentinel %s:%d named a primary "
                                          "that is not an IP address and "
                                          "port", addr->host,
                                          (int) addr->port);
        ngx_http_b24trigger_redis_ask_next(redis);
        return;
    }

    redis->primary.port = (in_port_t) port;

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, redis->log, 0,
                   "b24trigger redis: sentinel names primary %s:%d of "
                   "\"%V\"", redis->primary.host, (int) port,
                   &redis->master);

    ngx_http_b24trigger_redis_connect(redis);
}


/* the next Sentinel, from a timer: the last one's context may be in use */

static void
ngx_http_b24trigger_redis_ask_next(ngx_http_b24trigger_redis_t *redis)
{
    if (++redis->asked >= redis->addrs.nelts) {
        ngx_http_b24trigger_redis_lost(redis);
        return;
    }

    redis->next = (redis->next + 1) % redis->addrs.nelts;

    ngx_add_timer(&redis->retry, 1);
}


/* the primary: connect, then AUTH, SELECT and PING, pipelined */

static void
ngx_http_b24trigger_redis_connect(ngx_http_b24trigger_redis_t *redis)
{
    ngx_str_t           argv[3];
    ngx_uint_t          n;
    redisAsyncContext  *ac;
    u_char              db[NGX_INT_T_LEN];

    ngx_http_b24trigger_redis_free(&redis->main);

    redis->state = NGX_HTTP_B24TRIGGER_REDIS_CONNECTING;
    redis->refused = 0;

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, redis->log, 0,
                   "b24trigger redis: connecting to %s:%d",
                   redis->primary.host, (int) redis->primary.port);

    ac = redisAsyncConnect((char *) redis->primary.host,
                           redis->primary.port);

    if (ac == NULL || ac->err) {
        ngx_http_b24trigger_redis_because(redis, "%s:%d: %s",
                                          redis->primary.host,
                                          (int) redis->primary.port,
                                          ac ? ac->errstr : "no memory");
        if (ac) {
            redisAsyncFree(ac);
        }

        ngx_http_b24trigger_redis_lost(redis);
        return;
    }

    if (ngx_http_b24trigger_redis_attach(&redis->main, ac) != NGX_OK) {
        redisAsyncFree(ac);
        ngx_http_b24trigger_redis_because(redis, "no free connection");
        ngx_http_b24trigger_redis_lost(redis);
        return;
    }

    ac->data = redis;

    (void) redisEnableKeepAlive(&ac->c);
    (void) redisAsyncSetConnectCallback(ac,
                                        ngx_http_b24trigger_redis_connected);
    (void) redisAsyncSetDisconnectCallback(ac,
                                       ngx_http_b24trigger_redis_disconnected);

    if (redis->password.len) {
        ngx_str_set(&argv[0], "AUTH");
        n = 1;

        if (redis->user.len) {
            argv[n++] = redis->user;
        }

        argv[n++] = redis->password;

        (void) ngx_http_b24trigger_redis_send(redis,
                                             ngx_http_b24trigger_redis_hello,
                                             redis, n, argv);
    }

    if (redis->db >= 0) {
        ngx_str_set(&argv[0], "SELECT");
        argv[1].data = db;
        argv[1].len = ngx_sprintf(db, "%i", redis->db) - db;

        (void) ngx_http_b24trigger_redis_send(redis,
                                             ngx_http_b24trigger_redis_hello,
                                             redis, 2, argv);
    }

    /* what a Sentinel names may be out of date: the node must say so */

    if (redis->sentinel) {
        ngx_str_set(&argv[0], "ROLE");

        (void) ngx_http_b24trigger_redis_send(redis,
                                              ngx_http_b24trigger_redis_role,
                                              redis, 1, argv);
    }

    ngx_str_set(&argv[0], "PING");

    (void) ngx_http_b24trigger_redis_send(redis,
                                          ngx_http_b24trigger_redis_ready,
                                          redis, 1, argv);

    ngx_add_timer(&redis->connect, redis->timeout);
}


static void
ngx_http_b24trigger_redis_connected(const redisAsyncContext *ac, int status)
{
    ngx_http_b24trigger_redis_t  *redis;

    redis = ac->data;

    if (status == REDIS_OK || redis->exiting) {
        return;
    }

    /* hiredis frees the context after this: the commands get no reply */

    ngx_http_b24trigger_redis_because(redis, "%s:%d: %s",
                                      redis->primary.host,
                                      (int) redis->primary.port,
                                      ac->errstr);
    ngx_http_b24trigger_redis_lost(redis);
}


static void
ngx_http_b24trigger_redis_disconnected(const redisAsyncContext *ac,
    int status)
{
    ngx_http_b24trigger_redis_t  *redis;

    redis = ac->data;

    if (redis->exiting) {
        return;
    }

    ngx_http_b24trigger_redis_because(redis, "%s:%d: %s",
                                      redis->primary.host,
                                      (int) redis->primary.port,
                                      ac->err ? ac->errstr
                                              : "connection closed");
    ngx_http_b24trigger_redis_lost(redis);
}


/* the answer to AUTH or SELECT: an error is why the link is refused */

static void
ngx_http_b24trigger_redis_hello(void *data,
    ngx_http_b24trigger_redis_reply_t *reply)
{
    ngx_http_b24trigger_redis_t *redis = data;

    if (reply == NULL || reply->type != NGX_HTTP_B24TRIGGER_REDIS_ERROR
        || redis->refused)
    {
        return;
    }

    redis->refused = 1;

    /* Redis names the error, never the password */

    ngx_http_b24trigger_redis_because(redis, "%s:%d refused the "
                                      "connection: %V",
                                      redis->primary.host,
                                      (int) redis->primary.port,
                                      &reply->str);
}


/* the answer to ROLE: ["master", ...], or the link is refused */

static void
ngx_http_b24trigger_redis_role(void *data,
    ngx_http_b24trigger_redis_reply_t *reply)
{
    ngx_http_b24trigger_redis_t *redis = data;

    size_t      i;
    ngx_str_t   role;

    if (reply == NULL || reply->type == NGX_HTTP_B24TRIGGER_REDIS_DOWN
        || redis->refused)
    {
        return;
    }

    if (reply->type == NGX_HTTP_B24TRIGGER_REDIS_ERROR) {
        ngx_http_b24trigger_redis_hello(data, reply);
        return;
    }

    ngx_str_set(&role, "?");

    if (reply->type == NGX_HTTP_B24TRIGGER_REDIS_ARRAY && reply->nelts
        && reply->elts[0].type == NGX_HTTP_B24TRIGGER_REDIS_STRING)
    {
        if (reply->elts[0].str.len == 6
            && ngx_strncmp(reply->elts[0].str.data, "master", 6) == 0)
        {
            return;
        }

        /* "slave", "sentinel": shown if it is a word */

        for (i = 0; i < reply->elts[0].str.len && i < 16; i++) {
            if (reply->elts[0].str.data[i] < 'a'
                || reply->elts[0].str.data[i] > 'z')
            {
                break;
            }
        }

        if (i && i == reply->elts[0].str.len) {
            role = reply->elts[0].str;
        }
    }

    redis->refused = 1;

    ngx_http_b24trigger_redis_because(redis, "%s:%d, named by the "
                                      "sentinels, is not the primary "
                                      "(ROLE %V)", redis->primary.host,
                                      (int) redis->primary.port, &role);
}


/* the answer to PING: the link is up, or AUTH or SELECT failed first */

static void
ngx_http_b24trigger_redis_ready(void *data,
    ngx_http_b24trigger_redis_reply_t *reply)
{
    ngx_http_b24trigger_redis_t *redis = data;

    if (reply == NULL || reply->type == NGX_HTTP_B24TRIGGER_REDIS_DOWN) {
        return;
    }

    if (redis->connect.timer_set) {
        ngx_del_timer(&redis->connect);
    }

    if (reply->type != NGX_HTTP_B24TRIGGER_REDIS_STATUS || redis->refused) {
        if (!redis->refused) {
            ngx_http_b24trigger_redis_because(redis, "%s:%d refused the "
                                              "connection: %V",
                                              redis->primary.host,
                                              (int) redis->primary.port,
                                              &reply->str);
        }

        ngx_post_event(&redis->drop, &ngx_posted_events);
        return;
    }

    redis->state = NGX_HTTP_B24TRIGGER_REDIS_UP;
    redis->backoff = NGX_HTTP_B24TRIGGER_REDIS_BACKOFF_MIN;
    redis->reason[0] = '\0';

    if (redis->been_up && !redis->quiet) {
        ngx_http_b24trigger_stats_add(NGX_HTTP_B24TRIGGER_M_CLUSTER_RECONNECTS,
                                      &redis->name, NULL, 1);
    }

    redis->been_up = 1;

    ngx_add_timer(&redis->ping, NGX_HTTP_B24TRIGGER_REDIS_PING);

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, redis->log, 0,
                   "b24trigger redis: up, %s:%d",
                   redis->primary.host, (int) redis->primary.port);

    ngx_http_b24trigger_redis_mark_up(redis);
}


static ngx_int_t
ngx_http_b24trigger_redis_send(ngx_http_b24trigger_redis_t *redis,
    ngx_http_b24trigger_redis_handler_pt handler, void *data,
    ngx_uint_t argc, ngx_str_t *argv)
{
    ngx_uint_t                        i;
    ngx_http_b24trigger_redis_cmd_t  *cmd;
    const char                       *args[NGX_HTTP_B24TRIGGER_REDIS_ARGS_MAX];
    size_t                            lens[NGX_HTTP_B24TRIGGER_REDIS_ARGS_MAX];

    if (redis->main.ac == NULL || argc > NGX_HTTP_B24TRIGGER_REDIS_ARGS_MAX) {
        return NGX_DECLINED;
    }

    cmd = ngx_alloc(sizeof(ngx_http_b24trigger_redis_cmd_t), redis->log);
    if (cmd == NULL) {
        return NGX_DECLINED;
    }

    for (i = 0; i < argc; i++) {
        args[i] = (const char *) argv[i].data;
        lens[i] = argv[i].len;
    }

    cmd->sent = ngx_current_msec;
    cmd->handler = handler;
    cmd->data = data;
    cmd->redis = redis;

    if (redisAsyncCommandArgv(redis->main.ac,
                              ngx_http_b24trigger_redis_reply, cmd,
                              (int) argc, args, lens)
        != REDIS_OK)
    {
        ngx_free(cmd);
        return NGX_DECLINED;
    }

    ngx_queue_insert_tail(&redis->pending, &cmd->queue);

    if (!redis->command.timer_set) {
        ngx_add_timer(&redis->command, redis->timeout);
    }

    return NGX_OK;
}


/* hiredis hands a reply over; NULL: the context is going away */

static void
ngx_http_b24trigger_redis_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    ngx_http_b24trigger_redis_cmd_t *cmd = privdata;

    ngx_msec_t                          ms;
    ngx_pool_t                         *pool;
    redisReply                         *reply;
    ngx_http_b24trigger_redis_t        *redis;
    ngx_http_b24trigger_redis_reply_t   rr;

    reply = r;
    redis = cmd->redis;

    ngx_queue_remove(&cmd->queue);

    if (ngx_queue_empty(&redis->pending) && redis->command.timer_set) {
        ngx_del_timer(&redis->command);
    }

    ngx_memzero(&rr, sizeof(ngx_http_b24trigger_redis_reply_t));

    pool = NULL;

    if (reply) {
        ms = ngx_current_msec - cmd->sent;

        if (!redis->quiet) {
            ngx_http_b24trigger_stats_set(
                                      NGX_HTTP_B24TRIGGER_M_CLUSTER_LATENCY,
                                      &redis->name, NULL, ms);
        }

        /* an array's elements live in a pool of the reply's own */

        if (reply->type == REDIS_REPLY_ARRAY && reply->elements) {
            pool = ngx_create_pool(1024, redis->log);
        }

        if (ngx_http_b24trigger_redis_convert(pool, reply, &rr) != NGX_OK) {
            ngx_memzero(&rr, sizeof(ngx_http_b24trigger_redis_reply_t));
            rr.type = NGX_HTTP_B24TRIGGER_REDIS_ERROR;
            ngx_str_set(&rr.str, "ERR no memory for the reply");
        }

        /* a primary demoted under us: ask the Sentinels again */

        if (rr.type == NGX_HTTP_B24TRIGGER_REDIS_ERROR
            && rr.str.len >= 8
            && ngx_strncmp(rr.str.data, "READONLY", 8) == 0
            && !redis->drop.posted)
        {
            ngx_http_b24trigger_redis_because(redis, "%s:%d is a replica "
                                              "now",
                                              redis->primary.host,
                                              (int) redis->primary.port);
            ngx_post_event(&redis->drop, &ngx_posted_events);
        }
    }

    if (cmd->handler) {
        cmd->handler(cmd->data, redis->exiting ? NULL : &rr);
    }

    if (pool) {
        ngx_destroy_pool(pool);
    }

    ngx_free(cmd);
}


/* hiredis's reply as the caller sees it; strings are not copied */

static ngx_int_t
ngx_http_b24trigger_redis_convert(ngx_pool_t *pool, redisReply *reply,
    ngx_http_b24trigger_redis_reply_t *rr)
{
    size_t  i;

    switch (reply->type) {

    case REDIS_REPLY_NIL:
        rr->type = NGX_HTTP_B24TRIGGER_REDIS_NIL;
        return NGX_OK;

    case REDIS_REPLY_INTEGER:
        rr->type = NGX_HTTP_B24TRIGGER_REDIS_INTEGER;
        rr->integer = reply->integer;
        return NGX_OK;

    case REDIS_REPLY_ARRAY:
        rr->type = NGX_HTTP_B24TRIGGER_REDIS_ARRAY;
        rr->nelts = reply->elements;

        if (reply->elements == 0) {
            return NGX_OK;
        }

        if (pool == NULL) {
            return NGX_ERROR;
        }

        rr->elts = ngx_pcalloc(pool, reply->elements
                               * sizeof(ngx_http_b24trigger_redis_reply_t));
        if (rr->elts == NULL) {
            return NGX_ERROR;
        }

        for (i = 0; i < reply->elements; i++) {
            if (ngx_http_b24trigger_redis_convert(pool, reply->element[i],
                                                  &rr->elts[i])
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        return NGX_OK;

    case REDIS_REPLY_STRING:
        rr->type = NGX_HTTP_B24TRIGGER_REDIS_STRING;
        break;

    case REDIS_REPLY_STATUS:
        rr->type = NGX_HTTP_B24TRIGGER_REDIS_STATUS;
        break;

    default:
        rr->type = NGX_HTTP_B24TRIGGER_REDIS_ERROR;
        break;
    }

    if (reply->str) {
        rr->str.data = (u_char *) reply->str;
        rr->str.len = reply->len;
    }

    return NGX_OK;
}


/* the link is gone (or never came): say so, and try again later */

static void
ngx_http_b24trigger_redis_lost(ngx_http_b24trigger_redis_t *redis)
{
    if (redis->exiting) {
        return;
    }

    if (redis->connect.timer_set) {
        ngx_del_timer(&redis->connect);
    }

    if (redis->ping.timer_set) {
        ngx_del_timer(&redis->ping);
    }

    redis->state = NGX_HTTP_B24TRIGGER_REDIS_IDLE;

    ngx_http_b24trigger_redis_mark_down(redis);

    if (redis->retry.timer_set) {
        ngx_del_timer(&redis->retry);
    }

    ngx_add_timer(&redis->retry, redis->backoff);

    redis->backoff = ngx_min(redis->backoff * 2,
                             NGX_HTTP_B24TRIGGER_REDIS_BACKOFF_MAX);
}


/* outside hiredis's callbacks only */

static void
ngx_http_b24trigger_redis_free(ngx_http_b24trigger_redis_sock_t *sock)
{
    redisAsyncContext  *ac;

    ac = sock->ac;

    if (ac == NULL) {
        return;
    }

    ac->onDisconnect = NULL;
    redisAsyncFree(ac);

    /* the cleanup hook has run */

    sock->ac = NULL;
}


/*
 * The workers of a node say "down" once: the first whose link goes down,
 * and "up again" the last whose link comes back
 */

static void
ngx_http_b24trigger_redis_mark_down(ngx_http_b24trigger_redis_t *redis)
{
    if (redis->quiet) {
        return;
    }

    if (ngx_worker >= NGX_MAX_PROCESSES
        || !ngx_atomic_cmp_set(&redis->sh->worker[ngx_worker], 0, 1))
    {
        ngx_log_debug1(NGX_LOG_DEBUG_EVENT, redis->log, 0,
                       "b24trigger redis: still down: %s", redis->reason);
        return;
    }

    ngx_http_b24trigger_stats_set(NGX_HTTP_B24TRIGGER_M_CLUSTER_UP,
                                  &redis->name, NULL, 0);

    if (ngx_atomic_fetch_add(&redis->sh->down, 1) != 0) {
        return;
    }

    ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                  "b24trigger: cluster link to \"%V\" is down (%s); "
                  "de-duplication and buckets are node-local until it "
                  "is back",
                  &redis->name, redis->reason);
}


static void
ngx_http_b24trigger_redis_mark_up(ngx_http_b24trigger_redis_t *redis)
{
    if (redis->quiet) {
        return;
    }

    if (ngx_worker >= NGX_MAX_PROCESSES
        || !ngx_atomic_cmp_set(&redis->sh->worker[ngx_worker], 1, 0))
    {
        if (redis->sh->down == 0) {
            ngx_http_b24trigger_stats_set(NGX_HTTP_B24TRIGGER_M_CLUSTER_UP,
                                          &redis->name, NULL, 1);
        }

        return;
    }

    if (ngx_atomic_fetch_add(&redis->sh->down, -1) != 1) {
        return;
    }

    ngx_http_b24trigger_stats_set(NGX_HTTP_B24TRIGGER_M_CLUSTER_UP,
                                  &redis->name, NULL, 1);

    ngx_log_error(NGX_LOG_NOTICE, redis->log, 0,
                  "b24trigger: cluster link to \"%V\" is up again, "
                  "de-duplication and buckets are shared again", &redis->name);
}


/* why the link is down, for the one line that says so */

static void
ngx_http_b24trigger_redis_because(ngx_http_b24trigger_redis_t *redis,
    const char *fmt, ...)
{
    u_char   *p, *c;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(redis->reason, redis->reason + sizeof(redis->reason) - 1,
                      fmt, args);
    va_end(args);

    *p = '\0';

    /*
     * the reason quotes what the server (or a Sentinel) answered: one
     * that is no Redis must not break the log's line or forge another
     */

    for (c = redis->reason; c < p; c++) {
        if (*c < 0x20 || *c >= 0x7f) {
            *c = '?';
        }
    }

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, redis->log, 0,
                   "b24trigger redis: %s", redis->reason);
}


static void
ngx_http_b24trigger_redis_retry_handler(ngx_event_t *ev)
{
    ngx_http_b24trigger_redis_t *redis = ev->data;

    if (redis->exiting || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    if (redis->state == NGX_HTTP_B24TRIGGER_REDIS_RESOLVING) {
        ngx_http_b24trigger_redis_ask(redis);
        return;
    }

    redis->reason[0] = '\0';

    ngx_http_b24trigger_redis_start(redis);
}


/* a connect (or a Sentinel's answer) that takes longer than timeout= */

static void
ngx_http_b24trigger_redis_connect_handler(ngx_event_t *ev)
{
    ngx_http_b24trigger_redis_t *redis = ev->data;

    if (redis->state == NGX_HTTP_B24TRIGGER_REDIS_RESOLVING) {
        ngx_http_b24trigger_redis_because(redis, "a sentinel did not answer "
                                          "within %M ms", redis->timeout);

        /* its command gets no reply: the next one is asked */

        ngx_http_b24trigger_redis_free(&redis->ask);
        return;
    }

    ngx_http_b24trigger_redis_because(redis, "%s:%d: no connection within "
                                      "%M ms", redis->primary.host,
                                      (int) redis->primary.port,
                                      redis->timeout);

    ngx_http_b24trigger_redis_free(&redis->main);
    ngx_http_b24trigger_redis_lost(redis);
}


/* the oldest command waits longer than timeout=: the link is dropped */

static void
ngx_http_b24trigger_redis_command_handler(ngx_event_t *ev)
{
    ngx_http_b24trigger_redis_t *redis = ev->data;

    ngx_msec_t                        age;
    ngx_http_b24trigger_redis_cmd_t  *cmd;

    if (ngx_queue_empty(&redis->pending)) {
        return;
    }

    cmd = ngx_queue_data(ngx_queue_head(&redis->pending),
                         ngx_http_b24trigger_redis_cmd_t, queue);

    age = ngx_current_msec - cmd->sent;

    if (age < redis->timeout) {
        ngx_add_timer(&redis->command, redis->timeout - age);
        return;
    }

    ngx_http_b24trigger_redis_because(redis, "%s:%d: no reply within %M ms",
                                      redis->primary.host,
                                      (int) redis->primary.port,
                                      redis->timeout);

    ngx_http_b24trigger_redis_free(&redis->main);
    ngx_http_b24trigger_redis_lost(redis);
}


static void
ngx_http_b24trigger_redis_drop_handler(ngx_event_t *ev)
{
    ngx_http_b24trigger_redis_t *redis = ev->data;

    if (redis->exiting) {
        return;
    }

    ngx_http_b24trigger_redis_free(&redis->main);
    ngx_http_b24trigger_redis_lost(redis);
}


/*
 * An idle link is sent a PING now and then: its reply, or the command
 * timeout, tells whether Redis is still there.  A link in use needs none.
 */

static void
ngx_http_b24trigger_redis_ping_handler(ngx_event_t *ev)
{
    ngx_http_b24trigger_redis_t *redis = ev->data;

    ngx_str_t  ping;

    if (redis->exiting || ngx_exiting || ngx_quit || ngx_terminate
        || redis->state != NGX_HTTP_B24TRIGGER_REDIS_UP)
    {
        return;
    }

    if (ngx_queue_empty(&redis->pending)) {
        ngx_str_set(&ping, "PING");
        (void) ngx_http_b24trigger_redis_send(redis, NULL, NULL, 1, &ping);
    }

    ngx_add_timer(&redis->ping, NGX_HTTP_B24TRIGGER_REDIS_PING);
}


/*
 * The event adapter: hiredis's socket watched by an nginx connection.
 * The socket has one owner: hiredis closes it, the connection is only
 * given back (fd -1, so that a stale event is skipped).
 */

static ngx_int_t
ngx_http_b24trigger_redis_attach(ngx_http_b24trigger_redis_sock_t *sock,
    redisAsyncContext *ac)
{
    ngx_connection_t  *c;

    c = ngx_get_connection(ac->c.fd, sock->redis->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = sock;
    c->read->handler = ngx_http_b24trigger_redis_read_handler;
    c->write->handler = ngx_http_b24trigger_redis_write_handler;
    c->read->log = c->log;
    c->write->log = c->log;

    sock->c = c;
    sock->ac = ac;

    ac->ev.data = sock;
    ac->ev.addRead = ngx_http_b24trigger_redis_add_read;
    ac->ev.delRead = ngx_http_b24trigger_redis_del_read;
    ac->ev.addWrite = ngx_http_b24trigger_redis_add_write;
    ac->ev.delWrite = ngx_http_b24trigger_redis_del_write;
    ac->ev.cleanup = ngx_http_b24trigger_redis_cleanup;

    return NGX_OK;
}


/*
 * hiredis reads at most 16k at a time, and nginx's events are
 * edge-triggered: read again while bytes are waiting
 */

static void
ngx_http_b24trigger_redis_read_handler(ngx_event_t *ev)
{
    int                                n;
    ngx_socket_t                       fd;
    ngx_connection_t                  *c;
    redisAsyncContext                 *ac;
    ngx_http_b24trigger_redis_sock_t  *sock;

    c = ev->data;
    sock = c->data;

    for ( ;; ) {
        ac = sock->ac;

        if (ac == NULL) {
            return;
        }

        fd = ac->c.fd;

        redisAsyncHandleRead(ac);

        if (sock->ac != ac || ac->err) {
            return;
        }

        if (ioctl(fd, FIONREAD, &n) == -1 || n <= 0) {
            return;
        }
    }
}


static void
ngx_http_b24trigger_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t                  *c;
    ngx_http_b24trigger_redis_sock_t  *sock;

    c = ev->data;
    sock = c->data;

    if (sock->ac) {
        redisAsyncHandleWrite(sock->ac);
    }
}


static void
ngx_http_b24trigger_redis_add_read(void *data)
{
    ngx_http_b24trigger_redis_sock_t *sock = data;

    if (sock->c && !sock->c->read->active) {
        (void) ngx_add_event(sock->c->read, NGX_READ_EVENT,
                             (ngx_event_flags & NGX_USE_CLEAR_EVENT)
                             ? NGX_CLEAR_EVENT : NGX_LEVEL_EVENT);
    }
}


static void
ngx_http_b24trigger_redis_del_read(void *data)
{
    ngx_http_b24trigger_redis_sock_t *sock = data;

    if (sock->c && sock->c->read->active) {
        (void) ngx_del_event(sock->c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_b24trigger_redis_add_write(void *data)
{
    ngx_http_b24trigger_redis_sock_t *sock = data;

    if (sock->c && !sock->c->write->active) {
        (void) ngx_add_event(sock->c->write, NGX_WRITE_EVENT,
                             (ngx_event_flags & NGX_USE_CLEAR_EVENT)
                             ? NGX_CLEAR_EVENT : NGX_LEVEL_EVENT);
    }
}


static void
ngx_http_b24trigger_redis_del_write(void *data)
{
    ngx_http_b24trigger_redis_sock_t *sock = data;

    if (sock->c && sock->c->write->active) {
        (void) ngx_del_event(sock->c->write, NGX_WRITE_EVENT, 0);
    }
}


/* hiredis frees the context (and closes the socket) after this */

static void
ngx_http_b24trigger_redis_cleanup(void *data)
{
    ngx_http_b24trigger_redis_sock_t *sock = data;

    ngx_connection_t  *c;

    c = sock->c;

    if (c) {
        if (c->read->active) {
            (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
        }

        if (c->write->active) {
            (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
        }

        if (c->read->posted) {
            ngx_delete_posted_event(c->read);
        }

        if (c->write->posted) {
            ngx_delete_posted_event(c->write);
        }

        ngx_free_connection(c);
        c->fd = (ngx_socket_t) -1;
    }

    sock->c = NULL;
    sock->ac = NULL;
}
