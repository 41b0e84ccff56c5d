
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
    time_t                                 latest;   /* expiry believed */
    ngx_uint_t                             nsent;
    size_t                                 sent_len[3];
    u_char                                 sent[3][
                                             NGX_HTTP_B24TRIGGER_TOKEN_MAX];
    size_t                                 member_len;
    u_char                                 member[
                                             NGX_HTTP_B24TRIGGER_MEMBER_MAX];
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
    ngx_http_b24trigger_oauth_ask_t *a, ngx_http_b24trigger_redis_reply_t *e,
    ngx_http_b24trigger_tokens_t *pair);
static ngx_uint_t ngx_http_b24trigger_oauth_cluster_token(
    ngx_http_b24trigger_redis_reply_t *e, size_t min, size_t max);
static void ngx_http_b24trigger_oauth_cluster_replaced(
    ngx_http_b24trigger_oauth_ask_t *a, ngx_http_b24trigger_redis_reply_t *e,
    ngx_uint_t nelts);
static ngx_http_b24trigger_oauth_ask_t *ngx_http_b24trigger_oauth_cluster_ask(
    ngx_str_t *name, ngx_http_b24trigger_tokens_t *local);
static void ngx_http_b24trigger_oauth_cluster_sent(
    ngx_http_b24trigger_oauth_ask_t *a, u_char *token, size_t len);
static void ngx_http_b24trigger_oauth_cluster_free(
    ngx_http_b24trigger_oauth_ask_t *a);
static ngx_str_t *ngx_http_b24trigger_oauth_cluster_said(
    ngx_http_b24trigger_oauth_ask_t *a, ngx_str_t *s, u_char *buf,
    size_t max);
static void ngx_http_b24trigger_oauth_cluster_refused(
    ngx_http_b24trigger_oauth_ask_t *a,
    ngx_http_b24trigger_redis_reply_t *reply);


/*
 * What the scripts take for a pair, the same rules as the C side's
 * (oauth_cluster_pair) and as a token server's answer (oauth_pair): a
 * token of 1 to TOKEN_MAX printable ASCII bytes, no space; a time of
 * digits only, at most 12, no more than a limit (Lua's tonumber() takes
 * "1e999", "0x10", " 1" and "-1", nginx does not).
 */

#define NGX_HTTP_B24TRIGGER_OAUTH_LUA_CHECKS                                  \
    "local function tok(s, n) return type(s) == 'string' and #s > 0 "        \
    "and #s <= n and not s:find('[^!-~]') end "                               \
    "local function num(s, m) return type(s) == 'string' and #s > 0 "        \
    "and #s <= 12 and not s:find('%D') and tonumber(s) <= m end "             \
    "local n = " NGX_HTTP_B24TRIGGER_OAUTH_STR(NGX_HTTP_B24TRIGGER_TOKEN_MAX) \
    " "


/*
 * A claim: KEYS[1] the pair, KEYS[2] the lock; ARGV[1] "look" or
 * "refresh", ARGV[2] the lock's token, ARGV[3] its life (ms), ARGV[4..8]
 * the node's pair (access, refresh, expires, lifetime, member), ARGV[9]
 * the latest expiry believed; the other limits are written in (the
 * client sends 16 words at most).  A pair in Redis that
 * differs and expires no earlier is newer: {1, its five fields}.  Else,
 * to look only: {3}.  Else the node's pair is the current one (written
 * if Redis had none, an older one, or one that is no pair: something
 * else wrote the key, another portal's member_id, the key of another
 * type) and the lock is taken (one without expiry, of another type, or
 * living longer than any node's is no lock: replaced): {0, why the pair
 * was replaced or "", why the lock was or ""}; or another node holds
 * it: {2, its ms left}.  The "why"s are the scripts' own words, never
 * what the keys held.
 */

static ngx_str_t  ngx_http_b24trigger_oauth_claim_lua = ngx_string(
    NGX_HTTP_B24TRIGGER_OAUTH_LUA_CHECKS
    "local t = redis.call('TYPE', KEYS[1]).ok "
    "local p = {false, false, false, false, false} "
    "local why = '' "
    "if t == 'hash' then "
    "p = redis.call('HMGET', KEYS[1], 'access_token', 'refresh_token', "
    "'expires', 'lifetime', 'member_id') "
    "elseif t ~= 'none' then why = 'the key is a ' .. t end "
    "local m = p[5] or '' "
    "local ok = t == 'hash' and tok(p[1], n) and tok(p[2], n) "
    "and num(p[3], tonumber(ARGV[9])) "
    "and num(p[4] or '0', "
    NGX_HTTP_B24TRIGGER_OAUTH_STR(NGX_HTTP_B24TRIGGER_OAUTH_LIFETIME_MAX) ") "
    "and (m == '' or tok(m, "
    NGX_HTTP_B24TRIGGER_OAUTH_STR(NGX_HTTP_B24TRIGGER_MEMBER_MAX) ")) "
    "if ok and m ~= '' and ARGV[8] ~= '' and m ~= ARGV[8] then "
    "ok = false why = \"another portal's member_id\" end "
    "if t == 'hash' and not ok and why == '' then "
    "why = 'a field that is no token or no time' end "
    "if ok and p[2] ~= ARGV[5] and tonumber(p[3]) >= tonumber(ARGV[6]) "
    "then return {1, p[1], p[2], p[3], p[4] or '0', m} end "
    "if ARGV[1] == 'look' then return {3} end "
    "if not ok and t ~= 'none' then redis.call('DEL', KEYS[1]) end "
    "if not ok or p[2] ~= ARGV[5] then "
    "redis.call('HSET', KEYS[1], 'access_token', ARGV[4], "
    "'refresh_token', ARGV[5], 'expires', ARGV[6], 'lifetime', ARGV[7], "
    "'member_id', ARGV[8]) end "
    "local lw = '' "
    "local lt = redis.call('TYPE', KEYS[2]).ok "
    "if lt ~= 'none' and lt ~= 'string' then lw = 'a ' .. lt "
    "elseif lt == 'string' then "
    "local l = redis.call('PTTL', KEYS[2]) "
    "if l == -1 then lw = 'no expiry' "
    "elseif l > tonumber(ARGV[3]) + "
    NGX_HTTP_B24TRIGGER_OAUTH_STR(NGX_HTTP_B24TRIGGER_OAUTH_LOCK_SLACK)
    " then "
    "lw = \"longer than any node's\" end end "
    "if lw ~= '' then redis.call('DEL', KEYS[2]) end "
    "if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then "
    "return {0, why, lw} end "
    "return {2, redis.call('PTTL', KEYS[2])}");


/*
 * A new pair: ARGV[1] "cas" (written if Redis still holds the refresh
 * token ARGV[2], or no pair), "newer" (if what Redis holds expires
 * earlier, or is no pair), "set" (an install), "unlock" (no pair);
 * ARGV[3] the lock's token, released if it is still this node's;
 * ARGV[4..8] the pair.  A key of another type
 * is no pair: deleted first.  Returns 1 if the pair was written.
 */

static ngx_str_t  ngx_http_b24trigger_oauth_write_lua = ngx_string(
    NGX_HTTP_B24TRIGGER_OAUTH_LUA_CHECKS
    "local t = redis.call('TYPE', KEYS[1]).ok "
    "local c = {false, false} "
    "if t == 'hash' then "
    "c = redis.call('HMGET', KEYS[1], 'refresh_token', 'expires') "
    "elseif t ~= 'none' and ARGV[1] ~= 'unlock' then "
    "redis.call('DEL', KEYS[1]) end "
    "local e = num(c[2], 999999999999) and tonumber(c[2]) or 0 "
    "local w = 0 "
    "if ARGV[1] ~= 'unlock' and (ARGV[1] == 'set' "
    "or not tok(c[1], n) or e == 0 "
    "or (ARGV[1] == 'cas' and c[1] == ARGV[2]) "
    "or (ARGV[1] == 'newer' and e < tonumber(ARGV[6]))) then "
    "redis.call('HSET', KEYS[1], 'access_token', ARGV[4], "
    "'refresh_token', ARGV[5], 'expires', ARGV[6], 'lifetime', ARGV[7], "
    "'member_id', ARGV[8]) w = 1 end "
    "if ARGV[3] ~= '' and redis.call('TYPE', KEYS[2]).ok == 'string' "
    "and redis.call('GET', KEYS[2]) == ARGV[3] then "
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
    ngx_str_t                         args[9];
    ngx_http_b24trigger_oauth_ask_t  *a;
    u_char                            px[NGX_INT_T_LEN];
    u_char                            expires[NGX_TIME_T_LEN];
    u_char                            lifetime[NGX_TIME_T_LEN];
    u_char                            latest[NGX_TIME_T_LEN];

    a = ngx_http_b24trigger_oauth_cluster_ask(name, local);
    if (a == NULL) {
        return NGX_DECLINED;
    }

    ngx_http_b24trigger_oauth_cluster_sent(a, local->access,
                                           local->access_len);
    ngx_http_b24trigger_oauth_cluster_sent(a, local->refresh,
                                           local->refresh_len);

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
    args[8].data = latest;
    args[8].len = ngx_sprintf(latest, "%T", a->latest) - latest;

    return ngx_http_b24trigger_oauth_cluster_send(redis, name,
               &ngx_http_b24trigger_oauth_claim_lua, args, 9,
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

    a = ngx_http_b24trigger_oauth_cluster_ask(name, NULL);
    if (a == NULL) {
        return NGX_DECLINED;
    }

    if (pair) {
        ngx_http_b24trigger_oauth_cluster_sent(a, pair->access,
                                               pair->access_len);
        ngx_http_b24trigger_oauth_cluster_sent(a, pair->refresh,
                                               pair->refresh_len);
    }

    ngx_http_b24trigger_oauth_cluster_sent(a, old, old_len);

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
ngx_http_b24trigger_oauth_cluster_ask(ngx_str_t *name,
    ngx_http_b24trigger_tokens_t *local)
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
    a->nsent = 0;

    /* a pair may expire no later than one got now could, give or take */
    a->latest = ngx_time() + NGX_HTTP_B24TRIGGER_OAUTH_LIFETIME_MAX
                + NGX_HTTP_B24TRIGGER_OAUTH_SKEW_MAX;

    a->member_len = local ? local->member_len : 0;

    if (a->member_len) {
        ngx_memcpy(a->member, local->member, a->member_len);
    }

    a->name.len = name->len;
    a->name.data = a->buf;
    ngx_memcpy(a->buf, name->data, name->len);

    return a;
}


/*
 * a token sent with the question: Redis's answer is searched for it
 * before any of it is logged (a server that is no Redis may quote it)
 */

static void
ngx_http_b24trigger_oauth_cluster_sent(ngx_http_b24trigger_oauth_ask_t *a,
    u_char *token, size_t len)
{
    if (len == 0 || len > NGX_HTTP_B24TRIGGER_TOKEN_MAX || a->nsent == 3) {
        return;
    }

    ngx_memcpy(a->sent[a->nsent], token, len);
    a->sent_len[a->nsent++] = len;
}


static void
ngx_http_b24trigger_oauth_cluster_free(ngx_http_b24trigger_oauth_ask_t *a)
{
    ngx_explicit_memzero(a->sent, sizeof(a->sent));
    ngx_free(a);
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
        ngx_http_b24trigger_oauth_cluster_free(ask);
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
        ngx_http_b24trigger_oauth_cluster_free(ask);
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
        ngx_http_b24trigger_oauth_cluster_replaced(a, e, reply->nelts);
        rc = NGX_OK;
        break;

    case 1:
        if (reply->nelts == 6
            && ngx_http_b24trigger_oauth_cluster_pair(a, &e[1], &pair)
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

    ngx_http_b24trigger_oauth_cluster_free(a);

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

    ngx_http_b24trigger_oauth_cluster_free(a);

    if (handler) {
        handler(hd, written, down);
    }
}


/*
 * the five fields of a pair from Redis: access, refresh, expires,
 * lifetime, member_id; held to the claim script's rules, again
 */

static ngx_int_t
ngx_http_b24trigger_oauth_cluster_pair(ngx_http_b24trigger_oauth_ask_t *a,
    ngx_http_b24trigger_redis_reply_t *e, ngx_http_b24trigger_tokens_t *pair)
{
    time_t      expires, lifetime;
    ngx_uint_t  i;

    for (i = 0; i < 5; i++) {
        if (e[i].type != NGX_HTTP_B24TRIGGER_REDIS_STRING) {
            return NGX_ERROR;
        }
    }

    if (!ngx_http_b24trigger_oauth_cluster_token(&e[0], 1,
                                                 NGX_HTTP_B24TRIGGER_TOKEN_MAX)
        || !ngx_http_b24trigger_oauth_cluster_token(&e[1], 1,
                                                 NGX_HTTP_B24TRIGGER_TOKEN_MAX)
        || !ngx_http_b24trigger_oauth_cluster_token(&e[4], 0,
                                                NGX_HTTP_B24TRIGGER_MEMBER_MAX))
    {
        return NGX_ERROR;
    }

    /* another portal's pair */

    if (e[4].str.len && a->member_len
        && (e[4].str.len != a->member_len
            || ngx_memcmp(e[4].str.data, a->member, a->member_len) != 0))
    {
        return NGX_ERROR;
    }

    expires = ngx_atotm(e[2].str.data, e[2].str.len);
    lifetime = ngx_atotm(e[3].str.data, e[3].str.len);

    if (expires == NGX_ERROR || expires > a->latest
        || lifetime == NGX_ERROR
        || lifetime > NGX_HTTP_B24TRIGGER_OAUTH_LIFETIME_MAX)
    {
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


/* min to max bytes of printable ASCII, no space: as tokens are */

static ngx_uint_t
ngx_http_b24trigger_oauth_cluster_token(ngx_http_b24trigger_redis_reply_t *e,
    size_t min, size_t max)
{
    size_t  i;

    if (e->str.len < min || e->str.len > max) {
        return 0;
    }

    for (i = 0; i < e->str.len; i++) {
        if (e->str.data[i] < 0x21 || e->str.data[i] > 0x7e) {
            return 0;
        }
    }

    return 1;
}


/*
 * a claim that replaced what was no pair, or no lock, says so: the
 * script's own words, never the keys' content
 */

static void
ngx_http_b24trigger_oauth_cluster_replaced(ngx_http_b24trigger_oauth_ask_t *a,
    ngx_http_b24trigger_redis_reply_t *e, ngx_uint_t nelts)
{
    u_char  buf[60 * 4];

    if (nelts > 1 && e[1].type == NGX_HTTP_B24TRIGGER_REDIS_STRING
        && e[1].str.len)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "b24trigger: redis held no valid token pair of "
                      "portal \"%V\" (%V), replaced by this node's",
                      &a->name,
                      ngx_http_b24trigger_oauth_cluster_said(a, &e[1].str,
                                                             buf, 60));
    }

    if (nelts > 2 && e[2].type == NGX_HTTP_B24TRIGGER_REDIS_STRING
        && e[2].str.len)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "b24trigger: redis held a lock of the refresh of "
                      "portal \"%V\" that no node holds (%V), replaced",
                      &a->name,
                      ngx_http_b24trigger_oauth_cluster_said(a, &e[2].str,
                                                             buf, 60));
    }
}


/*
 * an error of Redis's; a look in the background says nothing, the
 * refresh that follows does
 */

static void
ngx_http_b24trigger_oauth_cluster_refused(ngx_http_b24trigger_oauth_ask_t *a,
    ngx_http_b24trigger_redis_reply_t *reply)
{
    ngx_str_t  what, *said;
    u_char     buf[120 * 4];

    if (reply->type == NGX_HTTP_B24TRIGGER_REDIS_DOWN || a->quiet) {
        return;
    }

    if (reply->type == NGX_HTTP_B24TRIGGER_REDIS_ERROR) {
        said = ngx_http_b24trigger_oauth_cluster_said(a, &reply->str, buf,
                                                      120);

    } else {
        ngx_str_set(&what, "an unexpected answer");
        said = &what;
    }

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "b24trigger: redis refused the token pair of portal "
                  "\"%V\" (\"%V\"), this node's pair used", &a->name, said);
}


/*
 * What Redis said, for a log line: Redis's own errors and the scripts'
 * words quote nothing that was sent, but the link has no TLS and the
 * server may be no Redis.  An answer quoting a token sent with the
 * question is not shown at all; else at most "max" bytes of it, escaped
 * as ngx_http_b24trigger_log_value() escapes (no line break, no quote:
 * no forged line).  "buf" holds max * 4 bytes.
 */

static ngx_str_t *
ngx_http_b24trigger_oauth_cluster_said(ngx_http_b24trigger_oauth_ask_t *a,
    ngx_str_t *s, u_char *buf, size_t max)
{
    u_char            *p, c;
    size_t             i, len;
    ngx_uint_t         k;
    static ngx_str_t   withheld = ngx_string("an answer quoting a token, "
                                             "not shown");
    static ngx_str_t   out;
    static u_char      hex[] = "0123456789ABCDEF";

    for (k = 0; k < a->nsent; k++) {
        if (ngx_strlcasestrn(s->data, s->data + s->len, a->sent[k],
                             a->sent_len[k] - 1)
            != NULL)
        {
            return &withheld;
        }
    }

    len = ngx_min(s->len, max);
    p = buf;

    for (i = 0; i < len; i++) {
        c = s->data[i];

        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {

            if (p + 4 > buf + max * 4) {
                break;
            }

            *p++ = '\\';
            *p++ = 'x';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0xf];

        } else {

            if (p + 1 > buf + max * 4) {
                break;
            }

            *p++ = c;
        }
    }

    out.data = buf;
    out.len = p - buf;

    return &out;
}
