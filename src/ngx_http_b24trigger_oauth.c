
/*
 * Copyright (C) b24trigger authors
 *
 * Portals reached through an OAuth application (Bitrix24's OAuth 2.0
 * protocol: the application's client_endpoint and its token server): the
 * token pair in the state file and in the zone "b24trigger_oauth" that
 * this file alone owns, its refresh through the token server with one
 * refresh at a time across all workers, and the calls that wait for it.
 * A call with a token is the portal client's business
 * (ngx_http_b24trigger_portal.c); this file only says which token, or why
 * there is none.  With a cluster, the pair is claimed in Redis before a
 * refresh, through ngx_http_b24trigger_oauth_cluster.c: one node
 * refreshes, the others take its pair; the zone and the state file stay
 * the node's own copy, and serve alone while Redis is away.
 *
 * Tokens are never written to any log: those read from the state file at
 * configuration time are also given to the error-log redaction, those
 * obtained at run time are simply never printed.
 */


#include "ngx_http_b24trigger_oauth.h"
#include "ngx_http_b24trigger_queue.h"
#include "ngx_http_b24trigger_redis.h"

#include <jansson.h>


#define NGX_HTTP_B24TRIGGER_OAUTH_ZONE       "b24trigger_oauth"
#define NGX_HTTP_B24TRIGGER_OAUTH_ZONE_SIZE  (128 * 1024)

/*
 * a token this close to its expiry is refreshed before it is used; a
 * token living less than twice as long, at half its lifetime
 */
#define NGX_HTTP_B24TRIGGER_OAUTH_MARGIN_SEC  60

/*
 * the lifetime of a pair whose token server gave none that makes sense
 * (expires_in missing, 0, negative, beyond LIFETIME_MAX, or an "expires"
 * already past): Bitrix24's access tokens live an hour; if the portal
 * refuses one earlier, the call refreshes it once (seconds)
 */
#define NGX_HTTP_B24TRIGGER_OAUTH_LIFETIME      3600

/* how often a call waiting for another worker's refresh looks again */
#define NGX_HTTP_B24TRIGGER_OAUTH_POLL_MS     50

/* how often a node asks Redis again while another node refreshes */
#define NGX_HTTP_B24TRIGGER_OAUTH_CLUSTER_POLL_MS  100

/*
 * how often, while calls go, a node looks in Redis for a pair newer than
 * its own (an install through another node), in the background
 */
#define NGX_HTTP_B24TRIGGER_OAUTH_PEEK_SEC  1

/* a background look that Redis refused (an ACL): the next one waits */
#define NGX_HTTP_B24TRIGGER_OAUTH_PEEK_PAUSE_SEC  60


/* the zone "b24trigger_oauth", this file's own: a pair per portal name */

typedef struct ngx_http_b24trigger_oauth_node_s
    ngx_http_b24trigger_oauth_node_t;

struct ngx_http_b24trigger_oauth_node_s {
    ngx_http_b24trigger_oauth_node_t  *next;
    ngx_http_b24trigger_tokens_t       tokens;
    size_t                             len;
    u_char                             name[1];
};


typedef struct {
    ngx_http_b24trigger_oauth_node_t  *nodes;
} ngx_http_b24trigger_oauth_sh_t;


struct ngx_http_b24trigger_oauth_s {
    ngx_str_t                      state_file;  /* NUL-ended */
    ngx_str_t                      state_tmp;   /* NUL-ended */
    ngx_str_t                      client_id;
    ngx_str_t                      client_secret;
    ngx_str_t                      token_url;   /* NUL-ended */
    ngx_str_t                      domain;      /* the portal's host */
    ngx_http_b24trigger_tokens_t  *loaded;      /* the state file, or NULL */
    ngx_http_b24trigger_tokens_t  *tokens;      /* in this file's zone */
    ngx_shmtx_t                   *mutex;       /* the zone's */
    void                          *cluster;     /* Redis, or NULL */
};


/*
 * one refresh in flight in this worker; with a cluster, first a claim
 * of the pair in Redis, asked again while another node refreshes
 */

typedef struct {
    ngx_http_b24trigger_portal_t  *portal;
    ngx_uint_t                     version;
    ngx_pool_t                    *pool;
    ngx_uint_t                     look;      /* OAUTH_REFRESH, ... */
    ngx_uint_t                     locked;    /* the cluster's lock held */
    ngx_uint_t                     refused;   /* by Redis: not shared */
    ngx_uint_t                     refused_grant;  /* invalid_grant */
    ngx_event_t                    retry;
    ngx_http_b24trigger_tokens_t   pair;      /* the one refreshed */
    u_char                         lock[NGX_HTTP_B24TRIGGER_OAUTH_LOCK_LEN];
} ngx_http_b24trigger_refresh_t;


static ngx_http_b24trigger_transfer_t *ngx_http_b24trigger_oauth_post(
    ngx_pool_t *pool, ngx_log_t *log, ngx_http_b24trigger_portal_t *portal,
    u_char *url, u_char *body, size_t len);
static ngx_int_t ngx_http_b24trigger_oauth_load(ngx_conf_t *cf,
    ngx_http_b24trigger_portal_t *portal);
static ngx_int_t ngx_http_b24trigger_oauth_init_zone(
    ngx_shm_zone_t *shm_zone, void *data);
static void ngx_http_b24trigger_oauth_zone_pair(
    ngx_http_b24trigger_portal_t *portal, ngx_http_b24trigger_tokens_t *tk,
    ngx_uint_t fresh);
static ngx_uint_t ngx_http_b24trigger_oauth_printable(json_t *s);
static ngx_int_t ngx_http_b24trigger_oauth_pair(json_t *root,
    ngx_http_b24trigger_tokens_t *tk, time_t now);
static time_t ngx_http_b24trigger_oauth_margin(
    ngx_http_b24trigger_tokens_t *tk);
static ngx_int_t ngx_http_b24trigger_oauth_start(
    ngx_http_b24trigger_call_t *call);
static ngx_int_t ngx_http_b24trigger_oauth_done(
    ngx_http_b24trigger_call_t *call);
static ngx_int_t ngx_http_b24trigger_oauth_go(
    ngx_http_b24trigger_call_t *call);
static ngx_int_t ngx_http_b24trigger_oauth_wait(
    ngx_http_b24trigger_call_t *call, ngx_msec_t delay);
static void ngx_http_b24trigger_oauth_wake(ngx_event_t *ev);
static void ngx_http_b24trigger_oauth_wait_cleanup(void *data);
static ngx_int_t ngx_http_b24trigger_oauth_refresh(
    ngx_http_b24trigger_portal_t *portal, ngx_uint_t version,
    ngx_http_b24trigger_tokens_t *pair, ngx_uint_t look, ngx_log_t *log);
static void ngx_http_b24trigger_oauth_claimed(void *data, ngx_int_t rc,
    ngx_http_b24trigger_tokens_t *pair);
static void ngx_http_b24trigger_oauth_reclaim(ngx_event_t *ev);
static ngx_int_t ngx_http_b24trigger_oauth_grant_start(
    ngx_http_b24trigger_refresh_t *rf);
static void ngx_http_b24trigger_oauth_refresh_free(
    ngx_http_b24trigger_refresh_t *rf);
static void ngx_http_b24trigger_oauth_unlock(
    ngx_http_b24trigger_refresh_t *rf);
static void ngx_http_b24trigger_oauth_push(
    ngx_http_b24trigger_portal_t *portal);
static void ngx_http_b24trigger_oauth_shared(void *data, ngx_uint_t written,
    ngx_uint_t down);
static void ngx_http_b24trigger_oauth_refreshed(
    ngx_http_b24trigger_transfer_t *t);
static void ngx_http_b24trigger_oauth_refused(
    ngx_http_b24trigger_portal_t *portal);
static ngx_int_t ngx_http_b24trigger_oauth_answer(
    ngx_http_b24trigger_transfer_t *t, ngx_http_b24trigger_portal_t *portal,
    ngx_http_b24trigger_tokens_t *pair, ngx_uint_t *refused, ngx_uint_t level,
    ngx_log_t *log);
static void ngx_http_b24trigger_oauth_publish(ngx_log_t *log,
    ngx_http_b24trigger_portal_t *portal, ngx_http_b24trigger_tokens_t *pair,
    ngx_int_t share, ngx_http_b24trigger_refresh_t *rf);
static void ngx_http_b24trigger_oauth_fail(
    ngx_http_b24trigger_portal_t *portal, ngx_uint_t version,
    ngx_uint_t failed, ngx_uint_t refused);
static ngx_int_t ngx_http_b24trigger_oauth_store(ngx_log_t *log,
    ngx_http_b24trigger_portal_t *portal, ngx_http_b24trigger_tokens_t *tk);
static u_char *ngx_http_b24trigger_oauth_arg(u_char *p, const char *name,
    u_char *value, size_t len);


static ngx_http_b24trigger_auth_t  ngx_http_b24trigger_oauth_auth = {
    ngx_http_b24trigger_oauth_start,
    ngx_http_b24trigger_oauth_done
};


/*
 * "https://HOST[:PORT][/PREFIX]/rest/": the application's client_endpoint;
 * the method is appended per call.  Plain http only for loopback hosts.
 */

char *
ngx_http_b24trigger_oauth_parse_url(ngx_conf_t *cf,
    ngx_http_b24trigger_portal_t *portal, ngx_str_t *url)
{
    u_char                     *p, *last, *host, *path;
    ngx_str_t                   h;
    ngx_uint_t                  https;
    ngx_http_b24trigger_url_t   u;

    p = url->data;
    last = url->data + url->len;

    while (last > p && (last[-1] == '\n' || last[-1] == '\r'
                        || last[-1] == ' '))
    {
        last--;
    }

    if (last - p > 8 && ngx_strncasecmp(p, (u_char *) "https://", 8) == 0) {
        host = p + 8;
        https = 1;

    } else if (last - p > 7
               && ngx_strncasecmp(p, (u_char *) "http://", 7) == 0)
    {
        host = p + 7;
        https = 0;

    } else {
        goto format;
    }

    path = ngx_strlchr(host, last, '/');

    if (path && ngx_strlchr(host, path, '@')) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "URL of OAuth portal \"%V\" must not have a user "
                           "name or password", &portal->name);
        return NGX_CONF_ERROR;
    }

    if (path == NULL || path == host
        || ngx_strlchr(host, last, '?') || ngx_strlchr(host, last, '#'))
    {
        goto format;
    }

    if (last[-1] != '/') {
        if (last - path < 5 || ngx_strncmp(last - 5, "/rest", 5) != 0) {
            goto format;
        }

    } else if (last - path < 6 || ngx_strncmp(last - 6, "/rest/", 6) != 0) {
        goto format;
    }

    h.data = host;
    h.len = path - host;

    /* what libcurl will make of it: the same host, or it is refused */

    switch (ngx_http_b24trigger_url_parse(cf->pool, p, last - p, &u)) {

    case NGX_OK:
        break;

    case NGX_DECLINED:
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "URL of OAuth portal \"%V\" %s",
                           &portal->name, u.error);
        return NGX_CONF_ERROR;

    default:
        return NGX_CONF_ERROR;
    }

    portal->host = u.host;
    portal->port = u.port;
    portal->loopback = u.loopback;

    if (!https && !portal->loopback) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "portal \"%V\" at \"http://%V\": plain http is "
                           "only allowed for loopback hosts, use "
                           "\"https://\"", &portal->name, &h);
        return NGX_CONF_ERROR;
    }

    portal->oauth->domain = h;

    portal->url.len = (last - p) + (last[-1] == '/' ? 0 : 1);
    portal->url.data = ngx_pnalloc(cf->pool, portal->url.len + 1);
    if (portal->url.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(portal->url.data, url->data, last - url->data);
    if (last[-1] != '/') {
        *p++ = '/';
    }
    *p = '\0';

    portal->safe_url = portal->url;

    portal->method_url.len = portal->url.len
                             + sizeof("crm.automation.trigger") - 1;
    portal->method_url.data = ngx_pnalloc(cf->pool,
                                          portal->method_url.len + 1);
    if (portal->method_url.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(portal->method_url.data, "%Vcrm.automation.trigger%Z",
                &portal->url);

    portal->execute_url.len = portal->url.len
                              + sizeof("crm.automation.trigger.execute") - 1;
    portal->execute_url.data = ngx_pnalloc(cf->pool,
                                           portal->execute_url.len + 1);
    if (portal->execute_url.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(portal->execute_url.data,
                "%Vcrm.automation.trigger.execute%Z", &portal->url);

    return NGX_CONF_OK;

format:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "URL of OAuth portal \"%V\" must look like "
                       "\"https://HOST/rest/\", the application's "
                       "client_endpoint", &portal->name);
    return NGX_CONF_ERROR;
}


ngx_http_b24trigger_oauth_t *
ngx_http_b24trigger_oauth_create(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool, sizeof(ngx_http_b24trigger_oauth_t));
}


/* oauth=FILE client_id=ID client_secret=SECRET [oauth_server=URL] */

char *
ngx_http_b24trigger_oauth_conf(ngx_conf_t *cf,
    ngx_http_b24trigger_portal_t *portal, ngx_str_t *state,
    ngx_str_t *client_id, ngx_str_t *secret, ngx_str_t *server)
{
    u_char                       *p;
    ngx_str_t                     s;
    ngx_http_b24trigger_url_t     u;
    ngx_http_b24trigger_oauth_t  *oa;

    oa = portal->oauth;

    if (state->len == 0 || client_id->len == 0 || secret->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "OAuth portal \"%V\" needs \"oauth=\", "
                           "\"client_id=\" and \"client_secret=\"",
                           &portal->name);
        return NGX_CONF_ERROR;
    }

    s = *state;

    if (ngx_conf_full_name(cf->cycle, &s, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    oa->state_file.len = s.len;
    oa->state_file.data = ngx_pnalloc(cf->pool, s.len + 1);

    /* "FILE.<pid>.<random>.tmp", made anew by each write */

    oa->state_tmp.len = s.len + 1 + NGX_INT64_LEN + 1 + 8
                        + sizeof(".tmp") - 1;
    oa->state_tmp.data = ngx_pnalloc(cf->pool, oa->state_tmp.len + 1);

    if (oa->state_file.data == NULL || oa->state_tmp.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(oa->state_file.data, "%V%Z", &s);

    /* the workers write the new pairs beside it */

    while (s.len > 1 && s.data[s.len - 1] != '/') {
        s.len--;
    }

    if (s.len > 1) {
        s.len--;
    }

    if (ngx_http_b24trigger_reach_add(cf, &s, "oauth=", 1, NGX_LOG_WARN)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    oa->client_id = *client_id;

    if (ngx_http_b24trigger_secret_load(cf, secret, &oa->client_secret,
                                        "client_secret")
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_b24trigger_redact_secret(cf, &oa->client_secret) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (server->len == 0) {
        ngx_str_set(server, "https://oauth.bitrix.info/");
    }

    if (!((server->len > 8
           && ngx_strncasecmp(server->data, (u_char *) "https://", 8) == 0)
          || (server->len > 7
              && ngx_strncasecmp(server->data, (u_char *) "http://", 7)
                 == 0)))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "oauth_server of portal \"%V\" must start with "
                           "\"https://\"", &portal->name);
        return NGX_CONF_ERROR;
    }

    /* read as libcurl reads it: the client secret goes there */

    switch (ngx_http_b24trigger_url_parse(cf->pool, server->data,
                                          server->len, &u))
    {
    case NGX_OK:
        break;

    case NGX_DECLINED:
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "oauth_server of portal \"%V\" %s",
                           &portal->name, u.error);
        return NGX_CONF_ERROR;

    default:
        return NGX_CONF_ERROR;
    }

    if (u.query) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "oauth_server of portal \"%V\" must look like "
                           "\"https://HOST[:PORT]/\", without a query",
                           &portal->name);
        return NGX_CONF_ERROR;
    }

    if (!u.https && !u.loopback) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "oauth_server of portal \"%V\": plain http "
                           "is only allowed for loopback hosts",
                           &portal->name);
        return NGX_CONF_ERROR;
    }

    oa->token_url.len = server->len + sizeof("/oauth/token/") - 1;
    oa->token_url.data = ngx_pnalloc(cf->pool, oa->token_url.len + 1);
    if (oa->token_url.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(oa->token_url.data, server->data, server->len);

    if (p[-1] != '/') {
        *p++ = '/';
    }

    p = ngx_cpymem(p, "oauth/token/", sizeof("oauth/token/") - 1);
    *p = '\0';
    oa->token_url.len = p - oa->token_url.data;

    if (ngx_http_b24trigger_oauth_load(cf, portal) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* the portal client asks this file for its tokens through these */

    portal->auth = &ngx_http_b24trigger_oauth_auth;

    return NGX_CONF_OK;
}


/*
 * The state file, read when the configuration is loaded (by the master,
 * never on the request path): {"access_token", "refresh_token",
 * "expires", "member_id", "domain"}.  A missing file is an application
 * not installed yet.
 */

static ngx_int_t
ngx_http_b24trigger_oauth_load(ngx_conf_t *cf,
    ngx_http_b24trigger_portal_t *portal)
{
    json_t                        *root, *v;
    ngx_str_t                      s;
    json_error_t                   err;
    ngx_file_info_t                fi;
    ngx_http_b24trigger_oauth_t   *oa;
    ngx_http_b24trigger_tokens_t  *tk;

    oa = portal->oauth;

    if (ngx_file_info(oa->state_file.data, &fi) == NGX_FILE_ERROR) {
        if (ngx_errno == NGX_ENOENT) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "OAuth portal \"%V\" has no state file "
                               "\"%V\" yet: calls fail until the "
                               "application is installed",
                               &portal->name, &oa->state_file);
            return NGX_OK;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_file_info_n " \"%V\" failed",
                           &oa->state_file);
        return NGX_ERROR;
    }

    if (fi.st_mode & (S_IRWXG|S_IRWXO)) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "state file \"%V\" of portal \"%V\" is "
                           "accessible by group or others (mode %d%d%d), "
                           "consider chmod 600", &oa->state_file,
                           &portal->name, (int) (fi.st_mode >> 6) & 7,
                           (int) (fi.st_mode >> 3) & 7,
                           (int) fi.st_mode & 7);
    }

    root = json_load_file((char *) oa->state_file.data, 0, &err);

    if (root == NULL || !json_is_object(root)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "state file \"%V\" of portal \"%V\" is not a "
                           "JSON object", &oa->state_file, &portal->name);
        goto failed;
    }

    tk = ngx_pcalloc(cf->pool, sizeof(ngx_http_b24trigger_tokens_t));
    if (tk == NULL) {
        goto failed;
    }

    if (ngx_http_b24trigger_oauth_pair(root, tk, 0) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "state file \"%V\" of portal \"%V\" needs "
                           "\"access_token\", \"refresh_token\" and "
                           "\"expires\"", &oa->state_file, &portal->name);
        goto failed;
    }

    v = json_object_get(root, "domain");

    if (json_is_string(v)
        && (json_string_length(v) != oa->domain.len
            || ngx_strncasecmp((u_char *) json_string_value(v),
                               oa->domain.data, oa->domain.len) != 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "state file \"%V\" of portal \"%V\" belongs to "
                           "another portal, \"%s\"", &oa->state_file,
                           &portal->name, json_string_value(v));
        goto failed;
    }

    json_decref(root);

    /* known now: kept out of the error log from the start */

    s.data = tk->access;
    s.len = tk->access_len;

    if (ngx_http_b24trigger_redact_secret(cf, &s) != NGX_OK) {
        return NGX_ERROR;
    }

    s.data = tk->refresh;
    s.len = tk->refresh_len;

    if (ngx_http_b24trigger_redact_secret(cf, &s) != NGX_OK) {
        return NGX_ERROR;
    }

    oa->loaded = tk;

    return NGX_OK;

failed:

    if (root) {
        json_decref(root);
    }

    return NGX_ERROR;
}


/* a token answer or the state file into *tk; now: add "expires_in" */

static ngx_int_t
ngx_http_b24trigger_oauth_pair(json_t *root, ngx_http_b24trigger_tokens_t *tk,
    time_t now)
{
    json_t  *at, *rt, *exp, *mid, *in;

    at = json_object_get(root, "access_token");
    rt = json_object_get(root, "refresh_token");
    mid = json_object_get(root, "member_id");
    exp = json_object_get(root, "expires");

    /* the token server's "expires_in", or the state file's "lifetime" */

    in = json_object_get(root, now ? "expires_in" : "lifetime");

    if (json_is_integer(in) && json_integer_value(in) > 0
        && json_integer_value(in) <= NGX_HTTP_B24TRIGGER_OAUTH_LIFETIME_MAX)
    {
        tk->lifetime = (time_t) json_integer_value(in);
    }

    if (now) {

        /*
         * a token answer: the pair lives from now, for expires_in, or
         * until "expires" if that is ahead, or an hour: never a pair
         * already expired, which every call would refresh again
         */

        if (tk->lifetime == 0
            && json_is_integer(exp) && json_integer_value(exp) > now
            && json_integer_value(exp) - now
               <= NGX_HTTP_B24TRIGGER_OAUTH_LIFETIME_MAX)
        {
            tk->lifetime = (time_t) json_integer_value(exp) - now;
        }

        if (tk->lifetime == 0) {
            tk->lifetime = NGX_HTTP_B24TRIGGER_OAUTH_LIFETIME;
        }

        tk->expires = now + tk->lifetime;

    } else if (json_is_integer(exp)) {
        tk->expires = (time_t) json_integer_value(exp);

    } else {
        return NGX_ERROR;
    }

    if (!json_is_string(at) || !json_is_string(rt)
        || json_string_length(at) == 0 || json_string_length(rt) == 0
        || json_string_length(at) > NGX_HTTP_B24TRIGGER_TOKEN_MAX
        || json_string_length(rt) > NGX_HTTP_B24TRIGGER_TOKEN_MAX
        || !ngx_http_b24trigger_oauth_printable(at)
        || !ngx_http_b24trigger_oauth_printable(rt))
    {
        return NGX_ERROR;
    }

    tk->access_len = json_string_length(at);
    ngx_memcpy(tk->access, json_string_value(at), tk->access_len);

    tk->refresh_len = json_string_length(rt);
    ngx_memcpy(tk->refresh, json_string_value(rt), tk->refresh_len);

    if (json_is_string(mid)
        && json_string_length(mid) <= NGX_HTTP_B24TRIGGER_MEMBER_MAX
        && ngx_http_b24trigger_oauth_printable(mid))
    {
        tk->member_len = json_string_length(mid);
        ngx_memcpy(tk->member, json_string_value(mid), tk->member_len);
    }

    return NGX_OK;
}


/*
 * printable ASCII, no space, as Bitrix24's tokens and member_ids are: a
 * NUL (which the state file could not be read back with), a line break or
 * a byte of another charset is no token, wherever it comes from (the
 * token server, the state file, Redis: the claim script holds pairs to
 * the same rule)
 */

static ngx_uint_t
ngx_http_b24trigger_oauth_printable(json_t *s)
{
    size_t   i, len;
    u_char  *p;

    p = (u_char *) json_string_value(s);
    len = json_string_length(s);

    for (i = 0; i < len; i++) {
        if (p[i] < 0x21 || p[i] > 0x7e) {
            return 0;
        }
    }

    return 1;
}


/* the zone of the pairs, made when an OAuth portal is declared */

ngx_int_t
ngx_http_b24trigger_oauth_init_conf(ngx_conf_t *cf,
    ngx_http_b24trigger_main_conf_t *bmcf)
{
    ngx_str_t                      name;
    ngx_uint_t                     i, found;
    ngx_shm_zone_t                *shm_zone;
    ngx_http_b24trigger_portal_t  *portal;

    portal = bmcf->portals.elts;

    found = 0;

    for (i = 0; i < bmcf->portals.nelts; i++) {
        if (portal[i].oauth) {
            /* with a cluster, the pair is shared through Redis */
            portal[i].oauth->cluster = bmcf->cluster;
            found = 1;
        }
    }

    if (!found) {
        return NGX_OK;
    }

    ngx_str_set(&name, NGX_HTTP_B24TRIGGER_OAUTH_ZONE);

    shm_zone = ngx_shared_memory_add(cf, &name,
                                     NGX_HTTP_B24TRIGGER_OAUTH_ZONE_SIZE,
                                     &ngx_http_b24trigger_module);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "shared memory zone \"%V\" is taken", &name);
        return NGX_ERROR;
    }

    shm_zone->init = ngx_http_b24trigger_oauth_init_zone;
    shm_zone->data = bmcf;

    return NGX_OK;
}


/*
 * In the master at every configuration load: a portal that stays keeps
 * its pair (it may have been refreshed since the state file was read),
 * a new portal gets one.
 */

static ngx_int_t
ngx_http_b24trigger_oauth_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    size_t                             len;
    ngx_uint_t                         i, fresh;
    ngx_slab_pool_t                   *shpool;
    ngx_http_b24trigger_portal_t      *portal;
    ngx_http_b24trigger_oauth_sh_t    *sh;
    ngx_http_b24trigger_oauth_node_t  *node;
    ngx_http_b24trigger_main_conf_t   *bmcf;

    bmcf = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shpool->data == NULL) {
        sh = ngx_slab_alloc(shpool, sizeof(ngx_http_b24trigger_oauth_sh_t));
        if (sh == NULL) {
            return NGX_ERROR;
        }

        sh->nodes = NULL;

        shpool->data = sh;

        len = sizeof(" in " NGX_HTTP_B24TRIGGER_OAUTH_ZONE " zone") - 1;

        shpool->log_ctx = ngx_slab_alloc(shpool, len + 1);
        if (shpool->log_ctx == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(shpool->log_ctx,
                   " in " NGX_HTTP_B24TRIGGER_OAUTH_ZONE " zone", len + 1);

    } else {
        sh = shpool->data;
    }

    portal = bmcf->portals.elts;

    for (i = 0; i < bmcf->portals.nelts; i++) {

        if (portal[i].oauth == NULL) {
            continue;
        }

        for (node = sh->nodes; node; node = node->next) {
            if (node->len == portal[i].name.len
                && ngx_strncmp(node->name, portal[i].name.data, node->len)
                   == 0)
            {
                break;
            }
        }

        fresh = 0;

        if (node == NULL) {
            node = ngx_slab_alloc(shpool,
                                  sizeof(ngx_http_b24trigger_oauth_node_t)
                                  + portal[i].name.len);
            if (node == NULL) {
                return NGX_ERROR;
            }

            node->len = portal[i].name.len;
            ngx_memcpy(node->name, portal[i].name.data, node->len);

            node->next = sh->nodes;
            sh->nodes = node;

            fresh = 1;
        }

        portal[i].oauth->mutex = &shpool->mutex;

        ngx_http_b24trigger_oauth_zone_pair(&portal[i], &node->tokens, fresh);
    }

    return NGX_OK;
}


/*
 * The pair of the state file replaces the one in the zone when it differs
 * (a new install, a first start); the one in the zone is kept otherwise.
 */

static void
ngx_http_b24trigger_oauth_zone_pair(ngx_http_b24trigger_portal_t *portal,
    ngx_http_b24trigger_tokens_t *tk, ngx_uint_t fresh)
{
    ngx_uint_t                     version;
    ngx_http_b24trigger_tokens_t  *loaded;

    loaded = portal->oauth->loaded;

    portal->oauth->tokens = tk;

    if (fresh) {
        ngx_memzero(tk, sizeof(ngx_http_b24trigger_tokens_t));
    }

    if (loaded == NULL
        || (tk->refresh_len == loaded->refresh_len
            && ngx_memcmp(tk->refresh, loaded->refresh, tk->refresh_len)
               == 0))
    {
        return;
    }

    version = tk->version;
    ngx_memcpy(tk, loaded, sizeof(ngx_http_b24trigger_tokens_t));
    tk->version = version + 1;
}


/* a call to an OAuth portal: with the token, or once there is one */

static ngx_int_t
ngx_http_b24trigger_oauth_start(ngx_http_b24trigger_call_t *call)
{
    ngx_int_t  rc;

    rc = ngx_http_b24trigger_oauth_go(call);

    if (rc == NGX_DECLINED) {
        /* the failure is reported from the event loop, as any other */
        return ngx_http_b24trigger_oauth_wait(call, 0);
    }

    return rc;
}


/*
 * After the portal answered: 401 expired_token or invalid_token means a
 * refresh and the call once more (NGX_AGAIN); NGX_OK: the call is over.
 */

static ngx_int_t
ngx_http_b24trigger_oauth_done(ngx_http_b24trigger_call_t *call)
{
    ngx_int_t  rc;

    if (call->outcome != NGX_HTTP_B24TRIGGER_CALL_PORTAL_ERROR
        || call->status != 401
        || call->refreshed
        || !((call->error.len == sizeof("expired_token") - 1
              && ngx_strncmp(call->error.data, "expired_token",
                             call->error.len) == 0)
             || (call->error.len == sizeof("invalid_token") - 1
                 && ngx_strncmp(call->error.data, "invalid_token",
                                call->error.len) == 0)))
    {
        return NGX_OK;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, call->log, 0,
                   "b24trigger oauth: \"%V\" token v%ui refused, refresh",
                   &call->portal->name, call->version);

    call->refreshed = 1;

    rc = ngx_http_b24trigger_oauth_go(call);

    if (rc == NGX_OK) {
        return NGX_AGAIN;
    }

    if (rc == NGX_ERROR) {
        call->outcome = NGX_HTTP_B24TRIGGER_CALL_INTERNAL;
    }

    return NGX_OK;
}


/*
 * NGX_OK: the call went with a token, or waits for a refresh;
 * NGX_DECLINED: it cannot go, its outcome says why; NGX_ERROR.
 */

static ngx_int_t
ngx_http_b24trigger_oauth_go(ngx_http_b24trigger_call_t *call)
{
    time_t                         now;
    ngx_str_t                      token;
    ngx_uint_t                     version, stale, waited, got, look, peek;
    ngx_shmtx_t                   *mutex;
    ngx_http_b24trigger_oauth_t   *oa;
    ngx_http_b24trigger_tokens_t  *tk, pair;

    oa = call->portal->oauth;
    tk = oa->tokens;
    mutex = oa->mutex;
    now = ngx_time();
    look = NGX_HTTP_B24TRIGGER_OAUTH_REFRESH;
    peek = 0;

    if (oa->cluster) {
        ngx_http_b24trigger_oauth_push(call->portal);
    }

    ngx_shmtx_lock(mutex);

    version = tk->version;

    if (tk->access_len == 0) {
        ngx_shmtx_unlock(mutex);
        ngx_str_set(&call->detail, "the OAuth application is not "
                                   "installed (no state file)");
        goto unreachable;
    }

    if (tk->refused == version + 1) {

        /*
         * with a cluster, another node may have the pair that replaced
         * this one: each call asks Redis once, without refreshing
         */

        if (oa->cluster && ngx_http_b24trigger_redis_up(oa->cluster)) {

            if (call->waiting_for != version + 1) {
                call->waiting_for = version + 1;
                look = NGX_HTTP_B24TRIGGER_OAUTH_LOOK;
                goto refresh;
            }

            if (tk->refreshing
                && now - tk->refreshing
                   < (time_t) (call->portal->timeout / 1000) + 5)
            {
                ngx_shmtx_unlock(mutex);
                return ngx_http_b24trigger_oauth_wait(call,
                                         NGX_HTTP_B24TRIGGER_OAUTH_POLL_MS);
            }
        }

        ngx_shmtx_unlock(mutex);
        ngx_str_set(&call->detail, "the token server refused the refresh "
                                   "token: install the application again");
        goto unreachable;
    }

    /* this call was refused with this very token */
    stale = (call->refreshed && call->version == version);

    /* it waits for a refresh of this pair */
    waited = (call->waiting_for == version + 1);

    /*
     * a refresh it waited for brought a new pair: taken whatever its
     * expiry says, the portal judges it; a call never refreshes twice in
     * a row by itself, so a token server giving short-lived tokens cannot
     * make it refresh in a loop
     */
    got = (call->waiting_for != 0 && version >= call->waiting_for);

    if (!stale
        && (got
            || tk->expires > now + ngx_http_b24trigger_oauth_margin(tk)
            || (waited && tk->failed == version + 1
                && tk->expires > now)))
    {
        /* a token that is good, or still good after a failed refresh */
        goto send;
    }

    if (waited && tk->failed == version + 1 && tk->refreshing == 0) {
        ngx_shmtx_unlock(mutex);
        ngx_str_set(&call->detail, "the access token could not be "
                                   "refreshed");
        goto unreachable;
    }

    call->waiting_for = version + 1;

refresh:

    if (tk->refreshing
        && now - tk->refreshing
           < (time_t) (call->portal->timeout / 1000) + 5)
    {
        /* another call, here or in another worker, refreshes it */
        ngx_shmtx_unlock(mutex);
        return ngx_http_b24trigger_oauth_wait(call,
                                         NGX_HTTP_B24TRIGGER_OAUTH_POLL_MS);
    }

    tk->refreshing = now;

    if (!look) {
        tk->failed = 0;
    }

    ngx_memcpy(&pair, tk, sizeof(ngx_http_b24trigger_tokens_t));

    ngx_shmtx_unlock(mutex);

    if (ngx_http_b24trigger_oauth_refresh(call->portal, version, &pair,
                                          look, call->log)
        != NGX_OK)
    {
        ngx_http_b24trigger_oauth_fail(call->portal, version, 1, look);
    }

    ngx_explicit_memzero(&pair, sizeof(ngx_http_b24trigger_tokens_t));

    return ngx_http_b24trigger_oauth_wait(call,
                                          NGX_HTTP_B24TRIGGER_OAUTH_POLL_MS);

send:

    token.len = tk->access_len;
    token.data = ngx_pnalloc(call->pool, token.len);

    if (token.data == NULL) {
        ngx_shmtx_unlock(mutex);
        return NGX_ERROR;
    }

    ngx_memcpy(token.data, tk->access, token.len);
    call->version = version;

    if (oa->cluster && tk->refreshing == 0
        && now - tk->looked >= NGX_HTTP_B24TRIGGER_OAUTH_PEEK_SEC
        && ngx_http_b24trigger_redis_up(oa->cluster))
    {
        tk->looked = now;
        ngx_memcpy(&pair, tk, sizeof(ngx_http_b24trigger_tokens_t));
        peek = 1;
    }

    ngx_shmtx_unlock(mutex);

    call->waiting_for = 0;

    if (peek) {
        /* this call goes on with its token meanwhile */
        (void) ngx_http_b24trigger_oauth_refresh(call->portal, version,
                                          &pair, NGX_HTTP_B24TRIGGER_OAUTH_PEEK,
                                          call->log);
        ngx_explicit_memzero(&pair, sizeof(ngx_http_b24trigger_tokens_t));
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, call->log, 0,
                   "b24trigger oauth: \"%V\" call with token v%ui",
                   &call->portal->name, version);

    return ngx_http_b24trigger_call_send(call, &token);

unreachable:

    call->outcome = NGX_HTTP_B24TRIGGER_CALL_UNREACHABLE;
    call->waiting_for = 0;

    return NGX_DECLINED;
}


/*
 * How long before its expiry a pair is refreshed: 60 s, or half its
 * lifetime when that is shorter, so each pair is refreshed at most once in
 * its lifetime whatever expires_in says
 */

static time_t
ngx_http_b24trigger_oauth_margin(ngx_http_b24trigger_tokens_t *tk)
{
    if (tk->lifetime == 0) {
        return NGX_HTTP_B24TRIGGER_OAUTH_MARGIN_SEC;
    }

    return ngx_min(NGX_HTTP_B24TRIGGER_OAUTH_MARGIN_SEC, tk->lifetime / 2);
}


static ngx_int_t
ngx_http_b24trigger_oauth_wait(ngx_http_b24trigger_call_t *call,
    ngx_msec_t delay)
{
    ngx_event_t         *ev;
    ngx_pool_cleanup_t  *cln;

    ev = call->wait;

    if (ev == NULL) {
        ev = ngx_pcalloc(call->pool, sizeof(ngx_event_t));
        if (ev == NULL) {
            return NGX_ERROR;
        }

        cln = ngx_pool_cleanup_add(call->pool, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        cln->handler = ngx_http_b24trigger_oauth_wait_cleanup;
        cln->data = ev;

        /*
         * not cancelable: a call waiting for a refresh is a request in
         * progress, it keeps a gracefully exiting worker (a reload) until
         * it is answered, as nginx's own request timers do; it waits no
         * longer than a refresh may take
         */

        ev->handler = ngx_http_b24trigger_oauth_wake;
        ev->data = call;
        ev->log = call->log;

        call->wait = ev;
    }

    ngx_add_timer(ev, delay);

    return NGX_OK;
}


static void
ngx_http_b24trigger_oauth_wait_cleanup(void *data)
{
    ngx_event_t  *ev = data;

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }
}


static void
ngx_http_b24trigger_oauth_wake(ngx_event_t *ev)
{
    ngx_int_t                    rc;
    ngx_http_b24trigger_call_t  *call;

    call = ev->data;

    rc = ngx_http_b24trigger_oauth_go(call);

    if (rc == NGX_OK) {
        return;
    }

    if (rc == NGX_ERROR) {
        call->outcome = NGX_HTTP_B24TRIGGER_CALL_INTERNAL;
    }

    ngx_http_b24trigger_call_finish(call);
}


/* grant_type=refresh_token, a POST form as CREST and the JS SDK send it */

ngx_http_b24trigger_transfer_t *
ngx_http_b24trigger_oauth_grant(ngx_pool_t *pool, ngx_log_t *log,
    ngx_http_b24trigger_portal_t *portal, u_char *refresh, size_t len)
{
    u_char                          *p, *body;
    size_t                           size;
    ngx_http_b24trigger_oauth_t     *oa;

    oa = portal->oauth;

    size = sizeof("grant_type=refresh_token&client_id=&client_secret="
                  "&refresh_token=")
           + 3 * (oa->client_id.len + oa->client_secret.len + len);

    body = ngx_pnalloc(pool, size);
    if (body == NULL) {
        return NULL;
    }

    p = ngx_cpymem(body, "grant_type=refresh_token",
                   sizeof("grant_type=refresh_token") - 1);
    p = ngx_http_b24trigger_oauth_arg(p, "client_id", oa->client_id.data,
                                      oa->client_id.len);
    p = ngx_http_b24trigger_oauth_arg(p, "client_secret",
                                      oa->client_secret.data,
                                      oa->client_secret.len);
    p = ngx_http_b24trigger_oauth_arg(p, "refresh_token", refresh, len);

    return ngx_http_b24trigger_oauth_post(pool, log, portal,
                                          oa->token_url.data, body, p - body);
}


/*
 * A refresh of "pair" (a copy of the zone's version "version"); with a
 * cluster whose link is up, the pair in Redis is claimed first (look:
 * only a newer pair is taken, nothing is refreshed)
 */

static ngx_int_t
ngx_http_b24trigger_oauth_refresh(ngx_http_b24trigger_portal_t *portal,
    ngx_uint_t version, ngx_http_b24trigger_tokens_t *pair, ngx_uint_t look,
    ngx_log_t *log)
{
    uint32_t                         r[2];
    ngx_pool_t                      *pool;
    ngx_http_b24trigger_oauth_t     *oa;
    ngx_http_b24trigger_refresh_t   *rf;

    oa = portal->oauth;

    pool = ngx_create_pool(1024, ngx_cycle->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    rf = ngx_pcalloc(pool, sizeof(ngx_http_b24trigger_refresh_t));
    if (rf == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    rf->portal = portal;
    rf->version = version;
    rf->pool = pool;
    rf->look = look;
    ngx_memcpy(&rf->pair, pair, sizeof(ngx_http_b24trigger_tokens_t));

    rf->retry.handler = ngx_http_b24trigger_oauth_reclaim;
    rf->retry.data = rf;
    rf->retry.log = ngx_cycle->log;
    rf->retry.cancelable = 1;

    if (oa->cluster) {

        /* the lock's token: this refresh's own */

        r[0] = (uint32_t) ngx_random();
        r[1] = (uint32_t) ngx_random() ^ (uint32_t) ngx_pid;
        ngx_sprintf(rf->lock, "%08xD%08xD", r[0], r[1]);

        if (ngx_http_b24trigger_oauth_cluster_claim(oa->cluster,
                                    &portal->name, &rf->pair, rf->lock,
                                    portal->timeout + 5000, look,
                                    ngx_http_b24trigger_oauth_claimed, rf)
            == NGX_OK)
        {
            ngx_log_debug3(NGX_LOG_DEBUG_HTTP, log, 0,
                           "b24trigger oauth: \"%V\" v%ui claimed in "
                           "redis, look:%ui", &portal->name, version, look);
            return NGX_OK;
        }

        if (look) {
            ngx_http_b24trigger_oauth_refresh_free(rf);
            return NGX_ERROR;
        }
    }

    if (ngx_http_b24trigger_oauth_grant_start(rf) != NGX_OK) {
        ngx_http_b24trigger_oauth_refresh_free(rf);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* what the cluster said of the pair: see oauth_claimed_pt */

static void
ngx_http_b24trigger_oauth_claimed(void *data, ngx_int_t rc,
    ngx_http_b24trigger_tokens_t *pair)
{
    ngx_http_b24trigger_refresh_t *rf = data;

    ngx_uint_t                     current;
    ngx_shmtx_t                   *mutex;
    ngx_http_b24trigger_tokens_t  *tk;
    ngx_http_b24trigger_portal_t  *portal;

    portal = rf->portal;
    tk = portal->oauth->tokens;
    mutex = portal->oauth->mutex;

    ngx_shmtx_lock(mutex);

    current = (tk->version == rf->version);

    if (current && rc == NGX_AGAIN && !rf->look) {
        /* still under way, for the other workers of this node */
        tk->refreshing = ngx_time();
    }

    ngx_shmtx_unlock(mutex);

    switch (rc) {

    case NGX_OK:

        /* the lock is this node's: the token server is asked */

        rf->locked = 1;

        if (!current) {
            /* a newer pair came meanwhile (an install): nothing to do */
            ngx_http_b24trigger_oauth_unlock(rf);
            break;
        }

        if (ngx_http_b24trigger_oauth_grant_start(rf) == NGX_OK) {
            return;
        }

        ngx_http_b24trigger_oauth_unlock(rf);
        ngx_http_b24trigger_oauth_fail(portal, rf->version, 1, 0);
        break;

    case NGX_DONE:

        /* another node refreshed (or installed): its pair is taken */

        if (current) {
            ngx_http_b24trigger_oauth_publish(ngx_cycle->log, portal, pair,
                                              NGX_DECLINED, NULL);

            ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                          "b24trigger: access token of portal \"%V\" "
                          "taken from the cluster, another node refreshed "
                          "or installed it", &portal->name);
        }

        break;

    case NGX_AGAIN:

        /* another node refreshes: asked again, until its lock expires */

        if (current && !rf->look) {
            ngx_add_timer(&rf->retry,
                          NGX_HTTP_B24TRIGGER_OAUTH_CLUSTER_POLL_MS);
            return;
        }

        break;

    case NGX_DECLINED:

        /* a look: Redis has nothing newer than the refused pair */

        if (rf->look == NGX_HTTP_B24TRIGGER_OAUTH_LOOK) {

            if (rf->refused_grant) {
                ngx_http_b24trigger_oauth_refused(portal);
            }

            ngx_http_b24trigger_oauth_fail(portal, rf->version, 1, 1);
        }

        break;

    case NGX_ERROR:

        /* the link went down, or Redis refused: the node goes alone */

        if (rf->look == NGX_HTTP_B24TRIGGER_OAUTH_PEEK) {

            if (ngx_http_b24trigger_redis_up(portal->oauth->cluster)) {
                /* refused, not down: not asked again for a while */
                ngx_shmtx_lock(mutex);
                tk->looked = ngx_time()
                             + NGX_HTTP_B24TRIGGER_OAUTH_PEEK_PAUSE_SEC;
                ngx_shmtx_unlock(mutex);
            }

            break;
        }

        /* refused, not down: the new pair is not offered to Redis */
        rf->refused = ngx_http_b24trigger_redis_up(portal->oauth->cluster);

        if (!rf->look && current
            && ngx_http_b24trigger_oauth_grant_start(rf) == NGX_OK)
        {
            return;
        }

        if (rf->refused_grant) {
            ngx_http_b24trigger_oauth_refused(portal);
        }

        ngx_http_b24trigger_oauth_fail(portal, rf->version, 1, rf->look);
        break;

    default: /* NGX_ABORT: the worker exits */

        if (rf->refused_grant) {
            ngx_http_b24trigger_oauth_refused(portal);
            ngx_http_b24trigger_oauth_fail(portal, rf->version, 1, 1);

        } else if (rf->look != NGX_HTTP_B24TRIGGER_OAUTH_PEEK) {
            ngx_http_b24trigger_oauth_fail(portal, rf->version, 0, 0);
        }

        break;
    }

    ngx_http_b24trigger_oauth_refresh_free(rf);
}


static void
ngx_http_b24trigger_oauth_reclaim(ngx_event_t *ev)
{
    ngx_http_b24trigger_refresh_t *rf = ev->data;

    ngx_http_b24trigger_portal_t  *portal;

    portal = rf->portal;

    /*
     * the timer is cancelable: it keeps no exiting worker by itself; it
     * fires while calls keep the worker, and the refresh they wait for
     * goes on then (giving up would only make them start another)
     */

    if (ngx_terminate) {
        ngx_http_b24trigger_oauth_fail(portal, rf->version, 0, 0);
        ngx_http_b24trigger_oauth_refresh_free(rf);
        return;
    }

    if (ngx_http_b24trigger_oauth_cluster_claim(portal->oauth->cluster,
                                    &portal->name, &rf->pair, rf->lock,
                                    portal->timeout + 5000, rf->look,
                                    ngx_http_b24trigger_oauth_claimed, rf)
        != NGX_OK)
    {
        /* the link is down now */
        ngx_http_b24trigger_oauth_claimed(rf, NGX_ERROR, NULL);
    }
}


/* the refresh_token grant of rf->pair, outside any client request */

static ngx_int_t
ngx_http_b24trigger_oauth_grant_start(ngx_http_b24trigger_refresh_t *rf)
{
    ngx_http_b24trigger_portal_t    *portal;
    ngx_http_b24trigger_transfer_t  *t;

    portal = rf->portal;

    t = ngx_http_b24trigger_oauth_grant(rf->pool, ngx_cycle->log, portal,
                                        rf->pair.refresh,
                                        rf->pair.refresh_len);
    if (t == NULL) {
        return NGX_ERROR;
    }

    t->done = ngx_http_b24trigger_oauth_refreshed;
    t->data = rf;

    if (ngx_http_b24trigger_transfer_start(t) != NGX_OK) {
        return NGX_ERROR;
    }

    if (portal->oauth->cluster && !rf->locked && !rf->refused) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "b24trigger: access token of portal \"%V\" "
                      "refreshed by this node alone, the cluster link is "
                      "down; the pair goes to redis once it is back",
                      &portal->name);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "b24trigger oauth: \"%V\" refresh of v%ui started",
                   &portal->name, rf->version);

    return NGX_OK;
}


static void
ngx_http_b24trigger_oauth_refresh_free(ngx_http_b24trigger_refresh_t *rf)
{
    if (rf->retry.timer_set) {
        ngx_del_timer(&rf->retry);
    }

    ngx_explicit_memzero(&rf->pair, sizeof(ngx_http_b24trigger_tokens_t));
    ngx_destroy_pool(rf->pool);
}


/* a refresh that failed lets the other nodes try at once */

static void
ngx_http_b24trigger_oauth_unlock(ngx_http_b24trigger_refresh_t *rf)
{
    if (!rf->locked) {
        return;
    }

    rf->locked = 0;

    (void) ngx_http_b24trigger_oauth_cluster_write(rf->portal->oauth->cluster,
                                         &rf->portal->name, NULL,
                                         NGX_HTTP_B24TRIGGER_OAUTH_UNLOCK,
                                         NULL, 0, rf->lock, NULL, NULL);
}


/*
 * A pair this node got while the link was down (a refresh, an install)
 * goes to Redis once it is back, where it replaces an older one only
 */

static void
ngx_http_b24trigger_oauth_push(ngx_http_b24trigger_portal_t *portal)
{
    ngx_shmtx_t                   *mutex;
    ngx_http_b24trigger_oauth_t   *oa;
    ngx_http_b24trigger_tokens_t  *tk, pair;

    oa = portal->oauth;
    tk = oa->tokens;
    mutex = oa->mutex;

    if (!ngx_http_b24trigger_redis_up(oa->cluster)) {
        return;
    }

    ngx_shmtx_lock(mutex);

    if (!tk->unshared || tk->access_len == 0) {
        ngx_shmtx_unlock(mutex);
        return;
    }

    tk->unshared = 0;
    ngx_memcpy(&pair, tk, sizeof(ngx_http_b24trigger_tokens_t));

    ngx_shmtx_unlock(mutex);

    if (ngx_http_b24trigger_oauth_cluster_write(oa->cluster, &portal->name,
                                        &pair,
                                        NGX_HTTP_B24TRIGGER_OAUTH_NEWER,
                                        NULL, 0, NULL,
                                        ngx_http_b24trigger_oauth_shared,
                                        portal)
        != NGX_OK)
    {
        ngx_http_b24trigger_oauth_shared(portal, 0, 1);
    }

    ngx_explicit_memzero(&pair, sizeof(ngx_http_b24trigger_tokens_t));
}


/* a pair not written for want of a link is written later */

static void
ngx_http_b24trigger_oauth_shared(void *data, ngx_uint_t written,
    ngx_uint_t down)
{
    ngx_http_b24trigger_portal_t *portal = data;

    ngx_shmtx_t                   *mutex;
    ngx_http_b24trigger_tokens_t  *tk;

    if (!down || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    tk = portal->oauth->tokens;
    mutex = portal->oauth->mutex;

    ngx_shmtx_lock(mutex);
    tk->unshared = 1;
    ngx_shmtx_unlock(mutex);
}


/*
 * A token server's answer: NGX_OK and the new pair in *pair; NGX_DECLINED
 * with *refused set for invalid_grant; NGX_ERROR otherwise.  Logged at
 * "level" (the install handler's refusals are the sender's business).
 */

static ngx_int_t
ngx_http_b24trigger_oauth_answer(ngx_http_b24trigger_transfer_t *t,
    ngx_http_b24trigger_portal_t *portal, ngx_http_b24trigger_tokens_t *pair,
    ngx_uint_t *refused, ngx_uint_t level, ngx_log_t *log)
{
    json_t        *root, *error;
    ngx_str_t      e;
    json_error_t   err;

    *refused = 0;

    if (t->result != CURLE_OK) {
        ngx_log_error(level, log, 0,
                      "b24trigger: access token of portal \"%V\" not "
                      "refreshed, token server unreachable: %s",
                      &portal->name,
                      t->errbuf[0] ? t->errbuf
                                   : curl_easy_strerror(t->result));
        return NGX_ERROR;
    }

    root = json_loadb((char *) t->response.data, t->response.len, 0, &err);

    if (root == NULL || !json_is_object(root)) {
        ngx_log_error(level, log, 0,
                      "b24trigger: access token of portal \"%V\" not "
                      "refreshed, token server answered HTTP %ui without "
                      "JSON; check oauth_server", &portal->name, t->status);
        goto failed;
    }

    error = json_object_get(root, "error");

    if (json_is_string(error)) {
        *refused = (ngx_strcmp(json_string_value(error), "invalid_grant")
                    == 0);

        if (!*refused) {
            e.data = (u_char *) json_string_value(error);
            e.len = json_string_length(error);

            ngx_log_error(level, log, 0,
                          "b24trigger: access token of portal \"%V\" not "
                          "refreshed: HTTP %ui \"%V\"%s", &portal->name,
                          t->status, ngx_http_b24trigger_log_value(t->pool, &e),
                          ngx_strcmp(json_string_value(error),
                                     "invalid_client") == 0
                          ? "; check client_id and client_secret" : "");
        }

        json_decref(root);
        return *refused ? NGX_DECLINED : NGX_ERROR;
    }

    ngx_memzero(pair, sizeof(ngx_http_b24trigger_tokens_t));

    if (t->status != 200
        || ngx_http_b24trigger_oauth_pair(root, pair, ngx_time()) != NGX_OK)
    {
        ngx_log_error(level, log, 0,
                      "b24trigger: access token of portal \"%V\" not "
                      "refreshed, token server answered HTTP %ui without "
                      "a token pair", &portal->name, t->status);
        goto failed;
    }

    json_decref(root);

    return NGX_OK;

failed:

    if (root) {
        json_decref(root);
    }

    return NGX_ERROR;
}


/*
 * A new pair for every worker: to Redis with a cluster ("share" is how,
 * or NGX_DECLINED: it came from there), to disk (the old refresh token
 * is dead now), then into the zone, where it clears any failure
 */

static void
ngx_http_b24trigger_oauth_publish(ngx_log_t *log,
    ngx_http_b24trigger_portal_t *portal, ngx_http_b24trigger_tokens_t *pair,
    ngx_int_t share, ngx_http_b24trigger_refresh_t *rf)
{
    ngx_uint_t                     unshared;
    ngx_shmtx_t                   *mutex;
    ngx_http_b24trigger_oauth_t   *oa;
    ngx_http_b24trigger_tokens_t  *tk;

    oa = portal->oauth;
    tk = oa->tokens;

    if (pair->member_len == 0) {
        pair->member_len = tk->member_len;
        ngx_memcpy(pair->member, tk->member, tk->member_len);
    }

    unshared = 0;

    if (oa->cluster && share != NGX_DECLINED && !(rf && rf->refused)) {

        /* a refresh under the cluster's lock: only over the pair it had */

        if (rf && rf->locked) {
            share = NGX_HTTP_B24TRIGGER_OAUTH_CAS;
            rf->locked = 0;
        }

        unshared = (ngx_http_b24trigger_oauth_cluster_write(oa->cluster,
                                    &portal->name, pair,
                                    (ngx_http_b24trigger_oauth_write_e) share,
                                    rf ? rf->pair.refresh : NULL,
                                    rf ? rf->pair.refresh_len : 0,
                                    rf ? rf->lock : NULL,
                                    ngx_http_b24trigger_oauth_shared, portal)
                    != NGX_OK);
    }

    (void) ngx_http_b24trigger_oauth_store(log, portal, pair);

    mutex = oa->mutex;

    ngx_shmtx_lock(mutex);

    pair->version = tk->version + 1;
    pair->unshared = unshared;
    ngx_memcpy(tk, pair, sizeof(ngx_http_b24trigger_tokens_t));

    ngx_shmtx_unlock(mutex);

    ngx_explicit_memzero(pair, sizeof(ngx_http_b24trigger_tokens_t));
}


static void
ngx_http_b24trigger_oauth_refreshed(ngx_http_b24trigger_transfer_t *t)
{
    ngx_int_t                       rc;
    ngx_uint_t                      refused;
    ngx_http_b24trigger_portal_t   *portal;
    ngx_http_b24trigger_tokens_t    pair;
    ngx_http_b24trigger_refresh_t  *rf;

    rf = t->data;
    portal = rf->portal;

    if (t->result == CURLE_ABORTED_BY_CALLBACK) {

        /* the worker exits: the next call, in any worker, refreshes */

        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "b24trigger: refresh of the access token of portal "
                      "\"%V\" abandoned on exit", &portal->name);

        ngx_http_b24trigger_oauth_unlock(rf);
        ngx_http_b24trigger_oauth_fail(portal, rf->version, 0, 0);
        ngx_http_b24trigger_oauth_refresh_free(rf);
        return;
    }

    rc = ngx_http_b24trigger_oauth_answer(t, portal, &pair, &refused,
                                          NGX_LOG_ERR, ngx_cycle->log);

    if (rc == NGX_OK) {

        /*
         * without the cluster's lock (the link was down), the pair goes
         * to Redis if it is newer than what Redis holds
         */

        ngx_http_b24trigger_oauth_publish(ngx_cycle->log, portal, &pair,
                                          NGX_HTTP_B24TRIGGER_OAUTH_NEWER,
                                          rf);

        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "b24trigger: access token of portal \"%V\" refreshed",
                      &portal->name);

        ngx_http_b24trigger_oauth_refresh_free(rf);
        return;
    }

    ngx_http_b24trigger_oauth_unlock(rf);

    if (refused && portal->oauth->cluster
        && ngx_http_b24trigger_redis_up(portal->oauth->cluster))
    {
        /*
         * another node may have used this refresh token first (a lock
         * that expired meanwhile, a link that was down): its pair is in
         * Redis, or is about to be; the calls waiting for this refresh
         * go on with it rather than fail
         */

        rf->look = NGX_HTTP_B24TRIGGER_OAUTH_LOOK;
        rf->refused_grant = 1;

        if (ngx_http_b24trigger_oauth_cluster_claim(portal->oauth->cluster,
                                    &portal->name, &rf->pair, rf->lock,
                                    portal->timeout + 5000, rf->look,
                                    ngx_http_b24trigger_oauth_claimed, rf)
            == NGX_OK)
        {
            return;
        }
    }

    if (refused) {
        ngx_http_b24trigger_oauth_refused(portal);
    }

    ngx_http_b24trigger_oauth_fail(portal, rf->version, 1, refused);
    ngx_http_b24trigger_oauth_refresh_free(rf);
}


static void
ngx_http_b24trigger_oauth_refused(ngx_http_b24trigger_portal_t *portal)
{
    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "b24trigger: the token server refused the refresh "
                  "token of portal \"%V\" (invalid_grant); no call "
                  "reaches the portal until the application is "
                  "installed again: open the application in Bitrix24 "
                  "(Applications > My applications > Reinstall), its "
                  "install handler stores the new pair",
                  &portal->name);
}


/* NULL: an install call for this portal; else why it is not */

const char *
ngx_http_b24trigger_oauth_install_check(ngx_http_b24trigger_portal_t *portal,
    ngx_str_t *domain, ngx_str_t *member)
{
    ngx_uint_t                     ok;
    ngx_shmtx_t                   *mutex;
    ngx_http_b24trigger_oauth_t   *oa;
    ngx_http_b24trigger_tokens_t  *tk;

    oa = portal->oauth;
    tk = oa->tokens;

    if (domain->len != oa->domain.len
        || ngx_strncasecmp(domain->data, oa->domain.data, domain->len) != 0)
    {
        return "DOMAIN is another portal";
    }

    mutex = oa->mutex;

    ngx_shmtx_lock(mutex);

    ok = (tk->member_len == 0
          || (tk->member_len == member->len
              && ngx_memcmp(tk->member, member->data, member->len) == 0));

    ngx_shmtx_unlock(mutex);

    return ok ? NULL : "member_id is another portal's";
}


/*
 * The install handler's first check, before anything carries
 * client_secret: the AUTH_ID posted must work at the configured portal.
 * "profile" answers any application's token, whatever its scope; only the
 * token goes along, to the portal it belongs to.
 */

ngx_http_b24trigger_transfer_t *
ngx_http_b24trigger_oauth_probe(ngx_pool_t *pool, ngx_log_t *log,
    ngx_http_b24trigger_portal_t *portal, ngx_str_t *token)
{
    u_char                          *p, *body, *url;

    url = ngx_pnalloc(pool, portal->url.len + sizeof("profile"));
    body = ngx_pnalloc(pool, sizeof("auth=") + 3 * token->len);

    if (url == NULL || body == NULL) {
        return NULL;
    }

    ngx_sprintf(url, "%Vprofile%Z", &portal->url);

    p = ngx_cpymem(body, "auth=", sizeof("auth=") - 1);
    p = (u_char *) ngx_escape_uri(p, token->data, token->len,
                                  NGX_ESCAPE_ARGS);

    return ngx_http_b24trigger_oauth_post(pool, log, portal, url, body,
                                          p - body);
}


/* a form POSTed through libcurl, within the portal's timeouts */

static ngx_http_b24trigger_transfer_t *
ngx_http_b24trigger_oauth_post(ngx_pool_t *pool, ngx_log_t *log,
    ngx_http_b24trigger_portal_t *portal, u_char *url, u_char *body,
    size_t len)
{
    CURL                            *easy;
    ngx_http_b24trigger_transfer_t  *t;

    t = ngx_http_b24trigger_transfer_create(pool, log);
    if (t == NULL) {
        return NULL;
    }

    easy = t->easy;

    t->headers = curl_slist_append(NULL, "Accept: application/json");
    if (t->headers == NULL) {
        goto failed;
    }

    if (curl_easy_setopt(easy, CURLOPT_URL, (char *) url) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_POST, 1L) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long) len)
           != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t->headers)
           != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_USERAGENT, "b24trigger/1.0")
           != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long) portal->timeout)
           != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                            (long) portal->connect_timeout)
           != CURLE_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, log, 0, "curl_easy_setopt() failed");
        goto failed;
    }

    return t;

failed:

    ngx_http_b24trigger_transfer_cancel(t);
    return NULL;
}


/*
 * NGX_OK: the portal took the token: it answered "profile" with a result,
 * or with insufficient_scope, which Bitrix24 checks only after the token
 * (as its OAuth errors are documented); NGX_DECLINED: it refused it;
 * NGX_ERROR: it could not be asked
 */

ngx_int_t
ngx_http_b24trigger_oauth_probe_done(ngx_http_b24trigger_transfer_t *t)
{
    json_t        *root, *error;
    ngx_int_t      rc;
    json_error_t   err;

    if (t->result != CURLE_OK) {
        return NGX_ERROR;
    }

    root = json_loadb((char *) t->response.data, t->response.len, 0, &err);
    error = json_is_object(root) ? json_object_get(root, "error") : NULL;

    if (error == NULL) {
        rc = (t->status == 200 && json_is_object(root)
              && json_object_get(root, "result") != NULL)
             ? NGX_OK : NGX_DECLINED;

    } else {
        rc = (json_is_string(error)
              && ngx_strcmp(json_string_value(error), "insufficient_scope")
                 == 0)
             ? NGX_OK : NGX_DECLINED;
    }

    if (root) {
        json_decref(root);
    }

    return rc;
}


/*
 * The install handler's second check: the pair Bitrix24 posted is
 * refreshed at once with this portal's client_id and client_secret; the
 * token server takes a refresh token only from the application it was
 * issued to, and must name this portal in client_endpoint (read as
 * libcurl reads URLs: the same host and port).  NULL: the new pair is
 * stored; else why it is not ours.
 */

const char *
ngx_http_b24trigger_oauth_install_done(ngx_http_b24trigger_transfer_t *t,
    ngx_http_b24trigger_portal_t *portal, ngx_log_t *log)
{
    json_t                        *root, *v;
    ngx_int_t                      rc;
    ngx_uint_t                     refused;
    json_error_t                   err;
    ngx_http_b24trigger_url_t      u;
    ngx_http_b24trigger_tokens_t   pair;

    if (ngx_http_b24trigger_oauth_answer(t, portal, &pair, &refused,
                                         NGX_LOG_INFO, log)
        != NGX_OK)
    {
        return "the token server does not take its refresh token from "
               "this client";
    }

    /* client_endpoint, "https://HOST/rest/", must be this portal's */

    root = json_loadb((char *) t->response.data, t->response.len, 0, &err);
    v = root ? json_object_get(root, "client_endpoint") : NULL;

    rc = NGX_DECLINED;

    if (json_is_string(v)) {
        rc = ngx_http_b24trigger_url_parse(t->pool,
                                          (u_char *) json_string_value(v),
                                          json_string_length(v), &u);
    }

    if (root) {
        json_decref(root);
    }

    if (rc == NGX_OK
        && (u.host.len != portal->host.len
            || ngx_strncmp(u.host.data, portal->host.data, u.host.len) != 0
            || u.port != portal->port))
    {
        rc = NGX_DECLINED;
    }

    if (rc != NGX_OK) {
        ngx_explicit_memzero(&pair, sizeof(ngx_http_b24trigger_tokens_t));
        return "the token server names no portal or another one in "
               "client_endpoint";
    }

    ngx_http_b24trigger_oauth_publish(log, portal, &pair,
                                      NGX_HTTP_B24TRIGGER_OAUTH_SET, NULL);

    return NULL;
}


static void
ngx_http_b24trigger_oauth_fail(ngx_http_b24trigger_portal_t *portal,
    ngx_uint_t version, ngx_uint_t failed, ngx_uint_t refused)
{
    ngx_shmtx_t                   *mutex;
    ngx_http_b24trigger_tokens_t  *tk;

    tk = portal->oauth->tokens;
    mutex = portal->oauth->mutex;

    ngx_shmtx_lock(mutex);

    if (tk->version == version) {
        tk->refreshing = 0;

        if (failed) {
            tk->failed = version + 1;
        }

        if (refused) {
            tk->refused = version + 1;
        }
    }

    ngx_shmtx_unlock(mutex);
}


/*
 * the state file, atomically and for nginx's user only: a temporary file
 * of mode 0600 under a name of its own, fsync, rename
 */

static ngx_int_t
ngx_http_b24trigger_oauth_store(ngx_log_t *log,
    ngx_http_b24trigger_portal_t *portal, ngx_http_b24trigger_tokens_t *tk)
{
    char                         *text;
    json_t                       *root;
    ngx_int_t                     rc;
    ngx_http_b24trigger_oauth_t  *oa;

    oa = portal->oauth;

    root = json_pack("{s:s%,s:s%,s:I,s:I,s:s%,s:s%}",
                     "access_token", tk->access, tk->access_len,
                     "refresh_token", tk->refresh, tk->refresh_len,
                     "expires", (json_int_t) tk->expires,
                     "lifetime", (json_int_t) tk->lifetime,
                     "member_id", tk->member, tk->member_len,
                     "domain", oa->domain.data, oa->domain.len);
    if (root == NULL) {
        return NGX_ERROR;
    }

    text = json_dumps(root, JSON_COMPACT);
    json_decref(root);

    if (text == NULL) {
        return NGX_ERROR;
    }

    /* a name of this write only: file_write() creates it exclusively */

    ngx_sprintf(oa->state_tmp.data, "%V.%P.%08xD.tmp%Z", &oa->state_file,
                ngx_pid, (uint32_t) ngx_random());

    rc = ngx_http_b24trigger_file_write(log, oa->state_tmp.data,
                                        oa->state_file.data, (u_char *) text,
                                        ngx_strlen(text),
                                        NGX_HTTP_B24TRIGGER_FILE_KEEP);

    ngx_explicit_memzero(text, ngx_strlen(text));
    free(text);

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "b24trigger: the new token pair of portal \"%V\" is "
                      "not stored in \"%V\", only kept in memory: after a "
                      "restart the application must be installed again; "
                      "let nginx's user write to the file's directory",
                      &portal->name, &oa->state_file);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static u_char *
ngx_http_b24trigger_oauth_arg(u_char *p, const char *name, u_char *value,
    size_t len)
{
    *p++ = '&';

    p = ngx_cpymem(p, name, ngx_strlen(name));
    *p++ = '=';

    return (u_char *) ngx_escape_uri(p, value, len, NGX_ESCAPE_ARGS);
}
