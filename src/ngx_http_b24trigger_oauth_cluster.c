
/*
 * Copyright (C) b24trigger authors
 *
 * An OAuth portal's token pair shared by the nodes of a cluster: the
 * pair in Redis (the hash PREFIX "oauth:" NAME), the lock of its refresh
 * (PREFIX "oauth-lock:" NAME, SET NX PX with a token of the refreshing
 * node), and the scripts that read, lock and write them at once.  It
 * sends commands and hands the answers to the OAuth client
 * (ngx_http_b24trigger_oauth.c) through the handler it is given; it
 * knows nothing of calls, the zone, the state file or libcurl.  No
 * token, of any pair, is ever written to a log.
 */


#include "ngx_http_b24trigger_oauth.h"
#include "ngx_http_b24trigger_redis.h"


/* prefix, "oauth-lock:" and the portal's name */
#define NGX_HTTP_B24TRIGGER_OAUTH_KEY  512

/* a number as a string literal, for the scripts' limits */
#define NGX_HTTP_B24TRIGGER_OAUTH_STR2(n)  #n
#define NGX_HTTP_B24TRIGGER_OAUTH_STR(n)   NGX_HTTP_B24TRIGGER_OAUTH_STR2(n)


/* a command waiting for Redis */

typedef struct {
    ngx_http_b24trigger_oauth_claimed_pt   claimed;
    ngx_http_b24trigger_oauth_written_pt   written;
    void                                  *data;
    ngx_uint_t                             quiet;
    ngx_str_t                              name;
    u_char                                 buf[1];
} ngx_http_b24trigger_oauth_ask_t;


static ngx_int_t ngx_http_b24trigger_oauth_cluster_send(void *redis,
    ngx_str_t *name, ngx_str_t *script, ngx_str_t *args, ngx_uint_t nargs,
    ngx_http_b24trigger_redis_handler_pt handler,
    ngx_http_b24trigger_oauth_ask_t *ask);
static void ngx_http_b24trigger_oauth_cluster_claimed(void *data,
    ngx_http_b24trigger_redis_reply_t *reply);
static void ngx_http_b24trigger_oauth_cluster_written(void *data,
    ngx_http_b24trigger_redis_reply_t *reply);
static ngx_int_t ngx_http_b24trigger_oauth_cluster_pair(
    ngx_http_b24trigger_redis_reply_t *e,
    ngx_http_b24trigger_tokens_t *pair);
static ngx_http_b24trigger_oauth_ask_t *ngx_http_b24trigger_oauth_cluster_ask(
    ngx_str_t *name);
static void ngx_http_b24trigger_oauth_cluster_refused(
    ngx_http_b24trigger_oauth_ask_t *a,
    ngx_http_b24trigger_redis_reply_t *reply);


/*
 * A claim: KEYS[1] the pair, KEYS[2] the lock; ARGV[1] "look" or
 * "refresh", ARGV[2] the lock's token, ARGV[3] its life (ms), ARGV[4..8]
 * the node's pair (access, refresh, expires, lifetime, member), ARGV[9]
 * the longest token, ARGV[10] the longest member_id.  A pair in Redis
 * that differs and expires no earlier is newer: {1, its five fields}.
 * Else, to look only: {3}.  Else the node's pair is the current one
 * (written if Redis had none, an older one, or one that is no pair:
 * something else wrote the key) and the lock is taken: {0}; or another
 * node holds it: {2, its ms left}.
 */

static ngx_str_t  ngx_http_b24trigger_oauth_claim_lua = ngx_string(
    "local p = redis.call('HMGET', KEYS[1], 'access_token', "
    "'refresh_token', 'expires', 'lifetime', 'member_id') "
    "local n = tonumber(ARGV[9]) "
    "if p[1] and p[2] and #p[1] > 0 and #p[1] <= n "
    "and #p[2] > 0 and #p[2] <= n "
    "and tonumber(p[3]) and tonumber(p[4] or '0') "
    "and #(p[5] or '') <= tonumber(ARGV[10]) "
    "and p[2] ~= ARGV[5] and tonumber(p[3]) >= tonumber(ARGV[6]) then "
    "return {1, p[1], p[2], p[3], p[4] or '0', p[5] or ''} end "
    "if ARGV[1] == 'look' then return {3} end "
    "if p[2] ~= ARGV[5] then "
    "redis.call('HSET', KEYS[1], 'access_token', ARGV[4], "
    "'refresh_token', ARGV[5], 'expires', ARGV[6], 'lifetime', ARGV[7], "
    "'member_id', ARGV[8]) end "
    "if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then "
    "return {0} end "
    "return {2, redis.call('PTTL', KEYS[2])}");


/*
 * A new pair: ARGV[1] "cas" (written if Redis still holds the refresh
 * token ARGV[2], or nothing), "newer" (if what Redis holds expires
 * earlier), "set" (an install), "unlock" (no pair); ARGV[3] the lock's
 * token, released if it is still this node's; ARGV[4..8] the pair.
 * Returns 1 if the pair was written.
 */

static ngx_str_t  ngx_http_b24trigger_oauth_write_lua = ngx_string(
    "local c = redis.call('HMGET', KEYS[1], 'refresh_token', 'expires') "
    "local w = 0 "
    "if ARGV[1] == 'set' or (ARGV[1] ~= 'unlock' and not c[1]) "
    "or (ARGV[1] == 'cas' and c[1] == ARGV[2]) "
    "or (ARGV[1] == 'newer' "
    "and (tonumber(c[2]) or 0) < tonumber(ARGV[6])) then "
    "redis.call('HSET', KEYS[1], 'access_token', ARGV[4], "
    "'refresh_token', ARGV[5], 'expires', ARGV[6], 'lifetime', ARGV[7], "
    "'member_id', ARGV[8]) w = 1 end "
    "if ARGV[3] ~= '' and redis.call('GET', KEYS[2]) == ARGV[3] then "
    "redis.call('DEL', KEYS[2]) end "
    "return w");


static ngx_str_t  ngx_http_b24trigger_oauth_modes[] = {
    ngx_string("cas"),
    ngx_string("newer"),
    ngx_string("set"),
    ngx_string("unlock")
};


/*
 * NGX_OK: asked, handler(data, rc, pair) called once with the answer;
 * NGX_DECLINED: the link is down, nothing asked
 */

ngx_int_t
ngx_http_b24trigger_oauth_cluster_claim(void *redis, ngx_str_t *name,
    ngx_http_b24trigger_tokens_t *local, u_char *lock, ngx_msec_t ttl,
    ngx_uint_t what, ngx_http_b24trigger_oauth_claimed_pt handler,
    void *data)
{
    ngx_str_t                         args[10];
    ngx_http_b24trigger_oauth_ask_t  *a;
    u_char                            px[NGX_INT_T_LEN];
    u_char                            expires[NGX_TIME_T_LEN];
    u_char                            lifetime[NGX_TIME_T_LEN];

    a = ngx_http_b24trigger_oauth_cluster_ask(name);
    if (a == NULL) {
        return NGX_DECLINED;
    }

    a->claimed = handler;
    a->data = data;
    a->quiet = (what == NGX_HTTP_B24TRIGGER_OAUTH_PEEK);

    if (what != NGX_HTTP_B24TRIGGER_OAUTH_REFRESH) {
        ngx_str_set(&args[0], "look");

    } else {
        ngx_str_set(&args[0], "refresh");
    }

    args[1].data = lock;
    args[1].len = NGX_HTTP_B24TRIGGER_OAUTH_LOCK_LEN;
    args[2].data = px;
    args[2].len = ngx_sprintf(px, "%M", ttl) - px;
    args[3].data = local->access;
    args[3].len = local->access_len;
    args[4].data = local->refresh;
    args[4].len = local->refresh_len;
    args[5].data = expires;
    args[5].len = ngx_sprintf(expires, "%T", local->expires) - expires;
    args[6].data = lifetime;
    args[6].len = ngx_sprintf(lifetime, "%T", local->lifetime) - lifetime;
    args[7].data = local->member;
    args[7].len = local->member_len;
    ngx_str_set(&args[8], NGX_HTTP_B24TRIGGER_OAUTH_STR(
                              NGX_HTTP_B24TRIGGER_TOKEN_MAX));
    ngx_str_set(&args[9], NGX_HTTP_B24TRIGGER_OAUTH_STR(
                              NGX_HTTP_B24TRIGGER_MEMBER_MAX));

    return ngx_http_b24trigger_oauth_cluster_send(redis, name,
               &ngx_http_b24trigger_oauth_claim_lua, args, 10,
               ngx_http_b24trigger_oauth_cluster_claimed, a);
}


/*
 * NGX_OK: sent, handler (if any) called once; NGX_DECLINED: the link is
 * down, nothing sent
 */

ngx_int_t
ngx_http_b24trigger_oauth_cluster_write(void *redis, ngx_str_t *name,
    ngx_http_b24trigger_tokens_t *pair,
    ngx_http_b24trigger_oauth_write_e mode, u_char *old, size_t old_len,
    u_char *lock, ngx_http_b24trigger_oauth_written_pt handler, void *data)
{
    ngx_str_t                         args[8];
    ngx_http_b24trigger_oauth_ask_t  *a;
    u_char                            expires[NGX_TIME_T_LEN];
    u_char                            lifetime[NGX_TIME_T_LEN];

    a = ngx_http_b24trigger_oauth_cluster_ask(name);
    if (a == NULL) {
        return NGX_DECLINED;
    }

    a->written = handler;
    a->data = data;

    args[0] = ngx_http_b24trigger_oauth_modes[mode];
    args[1].data = old;
    args[1].len = old_len;
    args[2].data = lock;
    args[2].len = lock ? NGX_HTTP_B24TRIGGER_OAUTH_LOCK_LEN : 0;

    if (pair) {
        args[3].data = pair->access;
        args[3].len = pair->access_len;
        args[4].data = pair->refresh;
        args[4].len = pair->refresh_len;
        args[5].data = expires;
        args[5].len = ngx_sprintf(expires, "%T", pair->expires) - expires;
        args[6].data = lifetime;
        args[6].len = ngx_sprintf(lifetime, "%T", pair->lifetime)
                      - lifetime;
        args[7].data = pair->member;
        args[7].len = pair->member_len;

    } else {
        ngx_str_null(&args[3]);
        ngx_str_null(&args[4]);
        ngx_str_set(&args[5], "0");
        ngx_str_set(&args[6], "0");
        ngx_str_null(&args[7]);
    }

    return ngx_http_b24trigger_oauth_cluster_send(redis, name,
               &ngx_http_b24trigger_oauth_write_lua, args, 8,
               ngx_http_b24trigger_oauth_cluster_written, a);
}


/* the portal's name is kept with the question, for the log */

static ngx_http_b24trigger_oauth_ask_t *
ngx_http_b24trigger_oauth_cluster_ask(ngx_str_t *name)
{
    ngx_http_b24trigger_oauth_ask_t  *a;

    a = ngx_alloc(sizeof(ngx_http_b24trigger_oauth_ask_t) + name->len,
                  ngx_cycle->log);
    if (a == NULL) {
        return NULL;
    }

    a->claimed = NULL;
    a->written = NULL;
    a->data = NULL;
    a->quiet = 0;
    a->name.len = name->len;
    a->name.data = a->buf;
    ngx_memcpy(a->buf, name->data, name->len);

    return a;
}


static ngx_int_t
ngx_http_b24trigger_oauth_cluster_send(void *redis, ngx_str_t *name,
    ngx_str_t *script, ngx_str_t *args, ngx_uint_t nargs,
    ngx_http_b24trigger_redis_handler_pt handler,
    ngx_http_b24trigger_oauth_ask_t *ask)
{
    u_char      *p;
    ngx_str_t    argv[16], *prefix;
    ngx_uint_t   i;
    u_char       key[NGX_HTTP_B24TRIGGER_OAUTH_KEY];
    u_char       lock[NGX_HTTP_B24TRIGGER_OAUTH_KEY];

    prefix = ngx_http_b24trigger_redis_prefix(redis);

    if (!ngx_http_b24trigger_redis_up(redis)
        || prefix->len + sizeof("oauth-lock:") - 1 + name->len
           > NGX_HTTP_B24TRIGGER_OAUTH_KEY
        || nargs > 16 - 5)
    {
        ngx_free(ask);
        return NGX_DECLINED;
    }

    p = ngx_cpymem(key, prefix->data, prefix->len);
    p = ngx_cpymem(p, "oauth:", sizeof("oauth:") - 1);
    p = ngx_cpymem(p, name->data, name->len);

    ngx_str_set(&argv[0], "EVAL");
    argv[1] = *script;
    ngx_str_set(&argv[2], "2");
    argv[3].data = key;
    argv[3].len = p - key;

    p = ngx_cpymem(lock, prefix->data, prefix->len);
    p = ngx_cpymem(p, "oauth-lock:", sizeof("oauth-lock:") - 1);
    p = ngx_cpymem(p, name->data, name->len);

    argv[4].data = lock;
    argv[4].len = p - lock;

    for (i = 0; i < nargs; i++) {
        argv[5 + i] = args[i];
    }

    if (ngx_http_b24trigger_redis_command(redis, handler, ask, 5 + nargs,
                                          argv)
        != NGX_OK)
    {
        ngx_free(ask);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static void
ngx_http_b24trigger_oauth_cluster_claimed(void *data,
    ngx_http_b24trigger_redis_reply_t *reply)
{
    ngx_http_b24trigger_oauth_ask_t *a = data;

    void                                  *hd;
    ngx_int_t                              rc;
    ngx_http_b24trigger_tokens_t           pair;
    ngx_http_b24trigger_redis_reply_t     *e;
    ngx_http_b24trigger_oauth_claimed_pt   handler;

    handler = a->claimed;
    hd = a->data;

    ngx_memzero(&pair, sizeof(ngx_http_b24trigger_tokens_t));

    if (reply == NULL) {
        rc = NGX_ABORT;
        goto done;
    }

    rc = NGX_ERROR;

    if (reply->type != NGX_HTTP_B24TRIGGER_REDIS_ARRAY || reply->nelts == 0
        || reply->elts[0].type != NGX_HTTP_B24TRIGGER_REDIS_INTEGER)
    {
        ngx_http_b24trigger_oauth_cluster_refused(a, reply);
        goto done;
    }

    e = reply->elts;

    switch (e[0].integer) {

    case 0:
        rc = NGX_OK;
        break;

    case 1:
        if (reply->nelts == 6
            && ngx_http_b24trigger_oauth_cluster_pair(&e[1], &pair)
               == NGX_OK)
        {
            rc = NGX_DONE;

        } else if (!a->quiet) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "b24trigger: redis holds no valid token pair "
                          "for portal \"%V\", this node's pair used",
                          &a->name);
        }

        break;

    case 2:
        rc = NGX_AGAIN;
        break;

    case 3:
        rc = NGX_DECLINED;
        break;

    default:
        ngx_http_b24trigger_oauth_cluster_refused(a, reply);
        break;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "b24trigger oauth \"%V\" in redis: claim rc:%i",
                   &a->name, rc);

done:

    ngx_free(a);

    handler(hd, rc, &pair);

    ngx_explicit_memzero(&pair, sizeof(ngx_http_b24trigger_tokens_t));
}


static void
ngx_http_b24trigger_oauth_cluster_written(void *data,
    ngx_http_b24trigger_redis_reply_t *reply)
{
    ngx_http_b24trigger_oauth_ask_t *a = data;

    void                                  *hd;
    ngx_uint_t                             written, down;
    ngx_http_b24trigger_oauth_written_pt   handler;

    handler = a->written;
    hd = a->data;

    written = 0;
    down = (reply == NULL || reply->type == NGX_HTTP_B24TRIGGER_REDIS_DOWN);

    if (reply && reply->type == NGX_HTTP_B24TRIGGER_REDIS_INTEGER) {
        written = (reply->integer == 1);

    } else if (!down) {
        /* not tried again: it would be refused again */
        ngx_http_b24trigger_oauth_cluster_refused(a, reply);
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "b24trigger oauth \"%V\" in redis: written:%ui down:%ui",
                   &a->name, written, down);

    ngx_free(a);

    if (handler) {
        handler(hd, written, down);
    }
}


/* the five fields of a pair from Redis: access, refresh, expires, ... */

static ngx_int_t
ngx_http_b24trigger_oauth_cluster_pair(ngx_http_b24trigger_redis_reply_t *e,
    ngx_http_b24trigger_tokens_t *pair)
{
    time_t      expires, lifetime;
    ngx_uint_t  i;

    for (i = 0; i < 5; i++) {
        if (e[i].type != NGX_HTTP_B24TRIGGER_REDIS_STRING) {
            return NGX_ERROR;
        }
    }

    if (e[0].str.len == 0 || e[0].str.len > NGX_HTTP_B24TRIGGER_TOKEN_MAX
        || e[1].str.len == 0 || e[1].str.len > NGX_HTTP_B24TRIGGER_TOKEN_MAX
        || e[4].str.len > NGX_HTTP_B24TRIGGER_MEMBER_MAX)
    {
        return NGX_ERROR;
    }

    expires = ngx_atotm(e[2].str.data, e[2].str.len);
    lifetime = ngx_atotm(e[3].str.data, e[3].str.len);

    if (expires == NGX_ERROR || lifetime == NGX_ERROR) {
        return NGX_ERROR;
    }

    pair->expires = expires;
    pair->lifetime = lifetime;
    pair->access_len = e[0].str.len;
    ngx_memcpy(pair->access, e[0].str.data, e[0].str.len);
    pair->refresh_len = e[1].str.len;
    ngx_memcpy(pair->refresh, e[1].str.data, e[1].str.len);
    pair->member_len = e[4].str.len;
    ngx_memcpy(pair->member, e[4].str.data, e[4].str.len);

    return NGX_OK;
}


/*
 * an error of Redis's (never a token: the scripts print none); a look in
 * the background says nothing, the refresh that follows does
 */

static void
ngx_http_b24trigger_oauth_cluster_refused(ngx_http_b24trigger_oauth_ask_t *a,
    ngx_http_b24trigger_redis_reply_t *reply)
{
    ngx_str_t  what;

    if (reply->type == NGX_HTTP_B24TRIGGER_REDIS_DOWN || a->quiet) {
        return;
    }

    if (reply->type == NGX_HTTP_B24TRIGGER_REDIS_ERROR) {
        what = reply->str;

        /* Redis quotes nothing of the arguments; kept short anyway */

        if (what.len > 120) {
            what.len = 120;
        }

    } else {
        ngx_str_set(&what, "an unexpected answer");
    }

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "b24trigger: redis refused the token pair of portal "
                  "\"%V\" (\"%V\"), this node's pair used", &a->name,
                  &what);
}
