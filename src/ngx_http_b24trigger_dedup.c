
/*
 * Copyright (C) b24trigger authors
 *
 * De-duplication: "b24trigger_dedup_zone NAME:SIZE [ttl=]" keeps event keys
 * in a zone of entries keyed by bytes, the oldest evicted first when it
 * is full (ngx_http_b24trigger_keyzone.c), and "b24trigger_dedup ZONE KEY"
 * asks it before a webhook is delivered.  A key is in flight while its
 * webhook is being forwarded or queued, remembered for ttl once that
 * succeeded, and forgotten if it failed, so the sender may retry.  The
 * replay shield, "b24trigger_replay ZONE [window=]", keeps in the same
 * zones a key made of the verified signature itself, so that one signed
 * request is forwarded at most once within the window; a replay key is
 * never evicted before its window ends.  With "b24trigger_cluster", both
 * key spaces live in Redis under the cluster's prefix, one for all nodes
 * (SET NX, the request waiting for the reply); while the link is down,
 * the zones of this node serve instead.
 */


#include "ngx_http_b24trigger_queue.h"
#include "ngx_http_b24trigger_redis.h"
#include "ngx_http_b24trigger_keyzone.h"

#include <ngx_md5.h>

#include <openssl/evp.h>


/* how long a key may stay in flight: longer than any call, shorter than
 * a sender's patience; a worker killed mid-call leaves nothing longer */
#define NGX_HTTP_B24TRIGGER_DEDUP_INFLIGHT_SEC  120

#define NGX_HTTP_B24TRIGGER_DEDUP_KEY_MAX   256

#define NGX_HTTP_B24TRIGGER_DEDUP_FLIGHT    0
#define NGX_HTTP_B24TRIGGER_DEDUP_DONE      1

/* a replay shield that could not remember: the sender retries after */
#define NGX_HTTP_B24TRIGGER_SHIELD_RETRY_SEC    60

/* a key in Redis: "d" done, or "f" and the holder's token in flight */
#define NGX_HTTP_B24TRIGGER_DEDUP_TOKEN     (1 + 16 + NGX_INT_T_LEN)

/* a key is forgotten in Redis only by the request that holds it */
static ngx_str_t  ngx_http_b24trigger_dedup_release_lua = ngx_string(
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('DEL', KEYS[1]) end return 0");


#define NGX_HTTP_B24TRIGGER_DEDUP_DIRECTIVE  "b24trigger_dedup_zone"


/* a key this request holds in flight: its dedup key, its replay key */

typedef struct ngx_http_b24trigger_dedup_hold_s
    ngx_http_b24trigger_dedup_hold_t;

struct ngx_http_b24trigger_dedup_hold_s {
    ngx_shm_zone_t                    *zone;
    ngx_str_t                          key;
    uint32_t                           hash;
    time_t                             ttl;      /* once remembered */
    ngx_log_t                         *log;
    ngx_http_b24trigger_dedup_hold_t  *next;
    ngx_http_b24trigger_redis_t       *redis;    /* held in Redis */
    ngx_str_t                          rkey;     /* the key there */
    ngx_str_t                          token;
    unsigned                           done:1;
    unsigned                           shield:1;
};


/*
 * A SET NX sent to Redis for a request: allocated apart from the request,
 * which may go away before the reply (the key is then given back)
 */

typedef struct {
    ngx_http_request_t                *r;        /* NULL: gone */
    ngx_pool_cleanup_t                *cln;
    ngx_http_b24trigger_dedup_hold_t  *hold;     /* in r's pool */
    ngx_http_b24trigger_redis_t       *redis;
    ngx_str_t                          rkey;     /* copies, for a */
    ngx_str_t                          token;    /* request gone */
} ngx_http_b24trigger_dedup_ask_t;


static ngx_int_t ngx_http_b24trigger_dedup_run(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx);
static ngx_int_t ngx_http_b24trigger_replay_check(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx);
static ngx_int_t ngx_http_b24trigger_dedup_check(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx);
static ngx_int_t ngx_http_b24trigger_dedup_hold(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_shm_zone_t *zone, ngx_str_t *key,
    time_t ttl, ngx_uint_t replay);
static ngx_int_t ngx_http_b24trigger_dedup_hold_local(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_http_b24trigger_dedup_hold_t *hold);
static ngx_int_t ngx_http_b24trigger_dedup_hold_cluster(ngx_http_request_t *r,
    ngx_http_b24trigger_dedup_hold_t *hold);
static void ngx_http_b24trigger_dedup_asked(void *data,
    ngx_http_b24trigger_redis_reply_t *reply);
static ngx_int_t ngx_http_b24trigger_dedup_verdict(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_http_b24trigger_dedup_hold_t *hold,
    ngx_http_b24trigger_redis_t *redis,
    ngx_http_b24trigger_redis_reply_t *reply);
static void ngx_http_b24trigger_dedup_ask_gone(void *data);
static void ngx_http_b24trigger_dedup_held(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_http_b24trigger_dedup_hold_t *hold,
    ngx_pool_cleanup_t *cln);
static ngx_int_t ngx_http_b24trigger_dedup_duplicate(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_http_b24trigger_dedup_hold_t *hold);
static ngx_int_t ngx_http_b24trigger_dedup_in_flight(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_http_b24trigger_dedup_hold_t *hold);
static void ngx_http_b24trigger_dedup_unset(ngx_http_b24trigger_redis_t *redis,
    ngx_str_t *rkey, ngx_str_t *token);
static void ngx_http_b24trigger_dedup_remember(ngx_http_request_t *r,
    ngx_http_b24trigger_dedup_hold_t *hold);
static void ngx_http_b24trigger_dedup_forget(
    ngx_http_b24trigger_dedup_hold_t *hold);
static void ngx_http_b24trigger_dedup_cleanup(void *data);


char *
ngx_http_b24trigger_dedup_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    time_t                          ttl;
    ssize_t                         size;
    ngx_str_t                      *value, name, s;
    ngx_uint_t                      i;
    ngx_shm_zone_t                 *shm_zone;
    ngx_http_b24trigger_keyzone_t  *kz;

    value = cf->args->elts;

    ttl = 24 * 3600;

    /* in a cluster a zone's keys are "PREFIX<zone>:<key>", the portals'
     * buckets "PREFIXbucket:<portal>": the name is kept for them */

    if (value[1].len > sizeof("bucket:") - 1
        && ngx_strncmp(value[1].data, "bucket:", sizeof("bucket:") - 1)
           == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone name \"bucket\" is reserved for the "
                           "portals' buckets in a cluster; choose another");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_b24trigger_keyzone_parse(cf, &value[1], &name, &size)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "ttl=", 4) == 0) {
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            ttl = ngx_parse_time(&s, 1);
            if (ttl == (time_t) NGX_ERROR || ttl == 0) {
                goto invalid;
            }

            continue;
        }

        goto invalid;
    }

    shm_zone = ngx_http_b24trigger_keyzone_add(cf, &name, size,
                                         NGX_HTTP_B24TRIGGER_DEDUP_DIRECTIVE,
                                         &ngx_http_b24trigger_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    kz = shm_zone->data;
    kz->ttl = ttl;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


char *
ngx_http_b24trigger_dedup(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_b24trigger_loc_conf_t *blcf = conf;

    ngx_str_t                         *value;
    ngx_http_compile_complex_value_t   ccv;

    if (blcf->dedup_zone != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0 && cf->args->nelts == 2) {
        blcf->dedup_zone = NULL;
        return NGX_CONF_OK;
    }

    if (cf->args->nelts != 3) {
        return "needs a zone and a key, or \"off\"";
    }

    /* a zone declared nowhere fails with "zero size shared memory zone" */

    blcf->dedup_zone = ngx_shared_memory_add(cf, &value[1], 0,
                                             &ngx_http_b24trigger_module);
    if (blcf->dedup_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    blcf->dedup_key = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (blcf->dedup_key == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[2];
    ccv.complex_value = blcf->dedup_key;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * "b24trigger_replay ZONE [window=TIME] | off": the zone is one of
 * b24trigger_dedup_zone; window 0 stands for the zone's ttl
 */

char *
ngx_http_b24trigger_replay(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_b24trigger_loc_conf_t *blcf = conf;

    ngx_str_t   *value, s;
    ngx_uint_t   i;

    if (blcf->replay_zone != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0 && cf->args->nelts == 2) {
        blcf->replay_zone = NULL;
        return NGX_CONF_OK;
    }

    blcf->replay_window = 0;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "window=", 7) == 0) {
            s.data = value[i].data + 7;
            s.len = value[i].len - 7;

            blcf->replay_window = ngx_parse_time(&s, 1);
            if (blcf->replay_window == (time_t) NGX_ERROR
                || blcf->replay_window == 0)
            {
                goto invalid;
            }

            continue;
        }

        goto invalid;
    }

    /* a zone declared nowhere fails with "zero size shared memory zone" */

    blcf->replay_zone = ngx_shared_memory_add(cf, &value[1], 0,
                                              &ngx_http_b24trigger_module);
    if (blcf->replay_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


/*
 * The replay shield, then b24trigger_dedup.  NGX_DECLINED: go on (no key,
 * or the keys are now in flight and held by ctx->dedup); NGX_AGAIN: Redis
 * is asked, resume(r, rc) is called with the same meanings once it
 * answers; anything else is the reply (duplicate, 409, error).
 */

ngx_int_t
ngx_http_b24trigger_dedup_checks(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_http_b24trigger_resume_pt resume)
{
    ctx->resume = resume;

    return ngx_http_b24trigger_dedup_run(r, ctx);
}


static ngx_int_t
ngx_http_b24trigger_dedup_run(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx)
{
    ngx_int_t  rc;

    if (!ctx->replay_checked) {
        ctx->replay_checked = 1;

        rc = ngx_http_b24trigger_replay_check(r, ctx);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    if (!ctx->dedup_checked) {
        ctx->dedup_checked = 1;

        rc = ngx_http_b24trigger_dedup_check(r, ctx);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    return NGX_DECLINED;
}


/* b24trigger_dedup: the event's key */

static ngx_int_t
ngx_http_b24trigger_dedup_check(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx)
{
    u_char                          *p;
    ngx_md5_t                        md5;
    ngx_str_t                        key;
    ngx_http_b24trigger_keyzone_t   *kz;
    ngx_http_b24trigger_loc_conf_t  *blcf;
    u_char                           digest[16];

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_b24trigger_module);

    if (blcf->dedup_zone == NULL) {
        return NGX_DECLINED;
    }

    if (ngx_http_complex_value(r, blcf->dedup_key, &key) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (key.len == 0) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "b24trigger dedup: empty key");
        return NGX_DECLINED;
    }

    if (key.len > NGX_HTTP_B24TRIGGER_DEDUP_KEY_MAX) {
        ngx_md5_init(&md5);
        ngx_md5_update(&md5, key.data, key.len);
        ngx_md5_final(digest, &md5);

        key.data = ngx_pnalloc(r->pool, sizeof("md5:") - 1 + 32);
        if (key.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_cpymem(key.data, "md5:", 4);
        p = ngx_hex_dump(p, digest, 16);
        key.len = p - key.data;
    }

    kz = blcf->dedup_zone->data;

    return ngx_http_b24trigger_dedup_hold(r, ctx, blcf->dedup_zone, &key,
                                          kz->ttl, 0);
}


/*
 * The replay shield.  The key is SHA-256 over what was signed: the signed
 * bytes of an HMAC scheme (the same whichever of several signatures a
 * replay keeps), the signature of a digest over fields (T-Bank,
 * Robokassa, YooMoney: one per request, and the same for a T-Bank
 * notification whose digits moved between fields).  So one signed
 * request counts once in the zone whatever else a replay changes: its
 * headers, its query string (also where b24trigger_unsigned lets it
 * choose the target), the location it is sent to.  A token signs
 * nothing: there the key is the body, the target and the code.  Each
 * part is preceded by its length.  Same answers as b24trigger_dedup.
 */

static ngx_int_t
ngx_http_b24trigger_replay_check(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx)
{
    u_char                           *p;
    size_t                            len, size;
    time_t                            window;
    ngx_str_t                         key, *part[3], *head;
    ngx_uint_t                        i, n;
    EVP_MD_CTX                       *md;
    unsigned int                      dlen;
    ngx_http_b24trigger_keyzone_t    *kz;
    ngx_http_b24trigger_loc_conf_t   *blcf;
    u_char                            digest[EVP_MAX_MD_SIZE];
    u_char                            plen[NGX_SIZE_T_LEN + 1];

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_b24trigger_module);

    if (blcf->replay_zone == NULL) {
        return NGX_DECLINED;
    }

    /*
     * the signed bytes may come in two pieces (a timestamp, then the
     * body where it is): hashed as the one part they make
     */

    head = &ctx->signature_head;

    if (ctx->signature.len || head->len) {
        part[0] = &ctx->signature;
        n = 1;

    } else {
        /* what a lookup looks up stands for the target it finds */

        part[0] = &ctx->body;
        part[1] = blcf->lookup ? &ctx->lookup : &ctx->target;
        part[2] = &ctx->code;
        n = 3;
    }

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        goto failed;
    }

    for (i = 0; i < n; i++) {
        size = part[i]->len + (i == 0 ? head->len : 0);
        len = ngx_sprintf(plen, "%uz:", size) - plen;

        if (EVP_DigestUpdate(md, plen, len) != 1
            || (i == 0 && head->len
                && EVP_DigestUpdate(md, head->data, head->len) != 1)
            || EVP_DigestUpdate(md, part[i]->data, part[i]->len) != 1)
        {
            goto failed;
        }
    }

    if (EVP_DigestFinal_ex(md, digest, &dlen) != 1) {
        goto failed;
    }

    EVP_MD_CTX_free(md);

    key.data = ngx_pnalloc(r->pool, sizeof("replay:") - 1 + 2 * dlen);
    if (key.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(key.data, "replay:", sizeof("replay:") - 1);
    p = ngx_hex_dump(p, digest, dlen);
    key.len = p - key.data;

    kz = blcf->replay_zone->data;
    window = blcf->replay_window ? blcf->replay_window : kz->ttl;

    return ngx_http_b24trigger_dedup_hold(r, ctx, blcf->replay_zone, &key,
                                          window, 1);

failed:

    EVP_MD_CTX_free(md);

    ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                  "b24trigger: EVP_Digest*() failed");

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/*
 * The key is looked up and, if free, held in flight by this request: in
 * Redis while the cluster's link is up, else in the zone
 */

static ngx_int_t
ngx_http_b24trigger_dedup_hold(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_shm_zone_t *zone, ngx_str_t *key,
    time_t ttl, ngx_uint_t replay)
{
    ngx_http_b24trigger_redis_t       *redis;
    ngx_http_b24trigger_dedup_hold_t  *hold;
    ngx_http_b24trigger_main_conf_t   *bmcf;

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_b24trigger_module);

    hold = ngx_pcalloc(r->pool, sizeof(ngx_http_b24trigger_dedup_hold_t));
    if (hold == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    hold->zone = zone;
    hold->key = *key;
    hold->hash = ngx_crc32_short(key->data, key->len);
    hold->ttl = ttl;
    hold->shield = replay;
    hold->log = r->connection->log;

    redis = bmcf->cluster;

    if (redis && ngx_http_b24trigger_redis_up(redis)
        && ngx_http_b24trigger_dedup_hold_cluster(r, hold) == NGX_OK)
    {
        return NGX_AGAIN;
    }

    return ngx_http_b24trigger_dedup_hold_local(r, ctx, hold);
}


/* SET prefix+zone:key f<token> NX GET EX inflight */

static ngx_int_t
ngx_http_b24trigger_dedup_hold_cluster(ngx_http_request_t *r,
    ngx_http_b24trigger_dedup_hold_t *hold)
{
    u_char                           *p;
    size_t                            len;
    ngx_str_t                        *prefix, argv[7];
    ngx_http_b24trigger_redis_t      *redis;
    ngx_http_b24trigger_dedup_ask_t  *ask;
    ngx_http_b24trigger_main_conf_t  *bmcf;
    u_char                            token[NGX_HTTP_B24TRIGGER_DEDUP_TOKEN];

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_b24trigger_module);
    redis = bmcf->cluster;
    prefix = ngx_http_b24trigger_redis_prefix(redis);

    hold->token.data = token;
    hold->token.len = ngx_sprintf(token, "f%08xD%08xD%P",
                                  (uint32_t) ngx_random(),
                                  (uint32_t) ngx_random(), ngx_pid)
                      - token;

    len = prefix->len + hold->zone->shm.name.len + 1 + hold->key.len;

    ask = ngx_alloc(sizeof(ngx_http_b24trigger_dedup_ask_t) + len
                    + hold->token.len, r->connection->log);
    if (ask == NULL) {
        return NGX_ERROR;
    }

    ask->rkey.data = (u_char *) ask + sizeof(ngx_http_b24trigger_dedup_ask_t);
    ask->rkey.len = len;

    p = ngx_cpymem(ask->rkey.data, prefix->data, prefix->len);
    p = ngx_cpymem(p, hold->zone->shm.name.data, hold->zone->shm.name.len);
    *p++ = ':';
    p = ngx_cpymem(p, hold->key.data, hold->key.len);

    ask->token.data = p;
    ask->token.len = hold->token.len;
    ngx_memcpy(p, token, hold->token.len);

    /* the hold's own copies, for the commit and the release */

    hold->rkey.data = ngx_pnalloc(r->pool, len + hold->token.len);
    ask->cln = ngx_pool_cleanup_add(r->pool, 0);

    if (hold->rkey.data == NULL || ask->cln == NULL) {
        ngx_free(ask);
        return NGX_ERROR;
    }

    hold->rkey.len = len;
    ngx_memcpy(hold->rkey.data, ask->rkey.data, len + hold->token.len);
    hold->token.data = hold->rkey.data + len;

    ask->r = r;
    ask->hold = hold;
    ask->redis = redis;

    ngx_str_set(&argv[0], "SET");
    argv[1] = ask->rkey;
    argv[2] = ask->token;
    ngx_str_set(&argv[3], "NX");
    ngx_str_set(&argv[4], "GET");
    ngx_str_set(&argv[5], "EX");
    ngx_str_set(&argv[6], "120");

    if (ngx_http_b24trigger_redis_command(redis,
                                          ngx_http_b24trigger_dedup_asked,
                                          ask, 7, argv)
        != NGX_OK)
    {
        ngx_free(ask);
        return NGX_ERROR;
    }

    ask->cln->handler = ngx_http_b24trigger_dedup_ask_gone;
    ask->cln->data = ask;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "b24trigger dedup: asking redis for \"%V\"",
                   ngx_http_b24trigger_log_value(r->pool, &hold->key));

    return NGX_OK;
}


/* the request went away before Redis answered */

static void
ngx_http_b24trigger_dedup_ask_gone(void *data)
{
    ngx_http_b24trigger_dedup_ask_t *ask = data;

    ask->r = NULL;
    ask->hold = NULL;
}


static void
ngx_http_b24trigger_dedup_asked(void *data,
    ngx_http_b24trigger_redis_reply_t *reply)
{
    ngx_http_b24trigger_dedup_ask_t *ask = data;

    ngx_int_t                          rc;
    ngx_connection_t                  *c;
    ngx_http_request_t                *r;
    ngx_http_b24trigger_ctx_t         *ctx;
    ngx_http_b24trigger_redis_t       *redis;
    ngx_http_b24trigger_dedup_hold_t  *hold;

    r = ask->r;
    hold = ask->hold;
    redis = ask->redis;

    if (r) {
        ask->cln->handler = NULL;
    }

    if (r == NULL || reply == NULL) {

        /* nobody waits: a key set for nobody is given back */

        if (reply && reply->type == NGX_HTTP_B24TRIGGER_REDIS_NIL) {
            ngx_http_b24trigger_dedup_unset(ask->redis, &ask->rkey,
                                            &ask->token);
        }

        ngx_free(ask);
        return;
    }

    ngx_free(ask);

    c = r->connection;
    ngx_http_set_log_request(c->log, r);

    ctx = ngx_http_b24trigger_get_ctx(r);

    rc = ngx_http_b24trigger_dedup_verdict(r, ctx, hold, redis, reply);

    if (rc == NGX_DECLINED) {
        rc = ngx_http_b24trigger_dedup_run(r, ctx);
    }

    if (rc == NGX_AGAIN) {
        return;
    }

    ctx->resume(r, rc);
}


/* what Redis said about the key: held, done, in flight, or down */

static ngx_int_t
ngx_http_b24trigger_dedup_verdict(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_http_b24trigger_dedup_hold_t *hold,
    ngx_http_b24trigger_redis_t *redis,
    ngx_http_b24trigger_redis_reply_t *reply)
{
    ngx_pool_cleanup_t  *cln;

    switch (reply->type) {

    case NGX_HTTP_B24TRIGGER_REDIS_NIL:

        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        hold->redis = redis;

        ngx_http_b24trigger_dedup_held(r, ctx, hold, cln);

        return NGX_DECLINED;

    case NGX_HTTP_B24TRIGGER_REDIS_STRING:

        if (reply->str.len && reply->str.data[0] == 'd') {
            return ngx_http_b24trigger_dedup_duplicate(r, ctx, hold);
        }

        return ngx_http_b24trigger_dedup_in_flight(r, ctx, hold);

    case NGX_HTTP_B24TRIGGER_REDIS_DOWN:

        /* the link went down meanwhile: this node's zone decides */

        return ngx_http_b24trigger_dedup_hold_local(r, ctx, hold);

    default:

        /* a primary demoted meanwhile: the link says so, and goes */

        if (reply->str.len < 8
            || ngx_strncmp(reply->str.data, "READONLY", 8) != 0)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "b24trigger: redis refused de-duplication "
                          "(\"%V\"), node-local de-duplication used",
                          ngx_http_b24trigger_log_value(r->pool,
                                                        &reply->str));
        }

        return ngx_http_b24trigger_dedup_hold_local(r, ctx, hold);
    }
}


/* the key is held by the request from now on */

static void
ngx_http_b24trigger_dedup_held(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_http_b24trigger_dedup_hold_t *hold,
    ngx_pool_cleanup_t *cln)
{
    hold->next = ctx->dedup;

    cln->handler = ngx_http_b24trigger_dedup_cleanup;
    cln->data = hold;

    ctx->dedup = hold;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "b24trigger dedup: \"%V\" in flight%s",
                   ngx_http_b24trigger_log_value(r->pool, &hold->key),
                   hold->redis ? " in redis" : "");
}


static ngx_int_t
ngx_http_b24trigger_dedup_duplicate(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_http_b24trigger_dedup_hold_t *hold)
{
    ngx_str_t                  json;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (hold->shield) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "b24trigger: replay not forwarded: "
                      "location \"%V\" forwarded or queued "
                      "the same signed request less than "
                      "%T s ago", &clcf->name, hold->ttl);

    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "b24trigger: duplicate of \"%V\" not forwarded",
                      ngx_http_b24trigger_log_value(r->pool, &hold->key));
    }

    ctx->result = NGX_HTTP_B24TRIGGER_DUPLICATE;
    ngx_str_set(&json, "{\"result\":\"duplicate\"}");

    return ngx_http_b24trigger_decide(ctx, NGX_HTTP_OK, NULL, &json, 0);
}


static ngx_int_t
ngx_http_b24trigger_dedup_in_flight(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_http_b24trigger_dedup_hold_t *hold)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (hold->shield) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "b24trigger: the same signed request is in "
                      "flight in location \"%V\", the replay is "
                      "answered 409", &clcf->name);

    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "b24trigger: \"%V\" is in flight, the "
                      "duplicate is answered 409",
                      ngx_http_b24trigger_log_value(r->pool, &hold->key));
    }

    ctx->result = NGX_HTTP_B24TRIGGER_REJECTED;
    ngx_str_set(&ctx->error, "duplicate_in_flight");

    return ngx_http_b24trigger_decide(ctx, NGX_HTTP_CONFLICT,
                                      "duplicate_in_flight", NULL, 1);
}


/* the key in this node's zone */

static ngx_int_t
ngx_http_b24trigger_dedup_hold_local(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_http_b24trigger_dedup_hold_t *hold)
{
    time_t                                now;
    ngx_str_t                            *key;
    ngx_shm_zone_t                       *zone;
    ngx_pool_cleanup_t                   *cln;
    ngx_http_core_loc_conf_t             *clcf;
    ngx_http_b24trigger_keyzone_t        *kz;
    ngx_http_b24trigger_keyzone_entry_t  *e;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    zone = hold->zone;
    key = &hold->key;
    kz = zone->data;
    now = ngx_time();

    hold->redis = NULL;

    ngx_shmtx_lock(&kz->shpool->mutex);

    ngx_http_b24trigger_keyzone_expire(kz, 2);

    e = ngx_http_b24trigger_keyzone_lookup(kz, key, hold->hash);

    if (e) {

        if (e->expire > now) {
            ngx_shmtx_unlock(&kz->shpool->mutex);

            if (e->state == NGX_HTTP_B24TRIGGER_DEDUP_DONE) {
                return ngx_http_b24trigger_dedup_duplicate(r, ctx, hold);
            }

            return ngx_http_b24trigger_dedup_in_flight(r, ctx, hold);
        }

        /* expired: ours now */

        e->state = NGX_HTTP_B24TRIGGER_DEDUP_FLIGHT;
        e->expire = now + NGX_HTTP_B24TRIGGER_DEDUP_INFLIGHT_SEC;

        ngx_http_b24trigger_keyzone_touch(kz, e);

    } else {
        e = ngx_http_b24trigger_keyzone_insert(kz, key, hold->hash, 0,
                                               hold->shield);

        if (e == NULL) {
            ngx_shmtx_unlock(&kz->shpool->mutex);

            if (hold->shield) {

                /*
                 * every key in the zone is a replay key within its
                 * window: forwarding could be a replay, so fail closed
                 */

                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "b24trigger: no room in "
                              "b24trigger_dedup_zone \"%V\" for the replay "
                              "shield of location \"%V\", answered 503; "
                              "give the zone more memory, a shorter "
                              "window, or a zone of its own",
                              &zone->shm.name, &clcf->name);

                ctx->result = NGX_HTTP_B24TRIGGER_REJECTED;
                ngx_str_set(&ctx->error, "replay_shield_full");

                return ngx_http_b24trigger_decide(
                        ctx, NGX_HTTP_SERVICE_UNAVAILABLE, "replay_shield_full",
                        NULL, NGX_HTTP_B24TRIGGER_SHIELD_RETRY_SEC);
            }

            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "b24trigger: no room for key \"%V\" in "
                          "b24trigger_dedup_zone \"%V\", not "
                          "de-duplicated",
                          ngx_http_b24trigger_log_value(r->pool, key),
                          &zone->shm.name);

            return NGX_DECLINED;
        }

        e->state = NGX_HTTP_B24TRIGGER_DEDUP_FLIGHT;
        e->expire = now + NGX_HTTP_B24TRIGGER_DEDUP_INFLIGHT_SEC;
    }

    ngx_shmtx_unlock(&kz->shpool->mutex);

    ngx_http_b24trigger_dedup_held(r, ctx, hold, cln);

    return NGX_DECLINED;
}


/* a key of Redis forgotten, if this token still holds it */

static void
ngx_http_b24trigger_dedup_unset(ngx_http_b24trigger_redis_t *redis,
    ngx_str_t *rkey, ngx_str_t *token)
{
    ngx_str_t  argv[5];

    ngx_str_set(&argv[0], "EVAL");
    argv[1] = ngx_http_b24trigger_dedup_release_lua;
    ngx_str_set(&argv[2], "1");
    argv[3] = *rkey;
    argv[4] = *token;

    (void) ngx_http_b24trigger_redis_command(redis, NULL, NULL, 5, argv);
}


/* forwarded or queued: every key the request holds is remembered */

void
ngx_http_b24trigger_dedup_commit(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx)
{
    ngx_http_b24trigger_keyzone_t        *kz;
    ngx_http_b24trigger_dedup_hold_t     *hold;
    ngx_http_b24trigger_keyzone_entry_t  *e;

    for (hold = ctx->dedup; hold; hold = hold->next) {

        if (hold->done) {
            continue;
        }

        hold->done = 1;

        if (hold->redis) {
            ngx_http_b24trigger_dedup_remember(r, hold);
            continue;
        }

        kz = hold->zone->data;

        ngx_shmtx_lock(&kz->shpool->mutex);

        e = ngx_http_b24trigger_keyzone_lookup(kz, &hold->key, hold->hash);

        if (e == NULL) {
            /* evicted while in flight */
            e = ngx_http_b24trigger_keyzone_insert(kz, &hold->key,
                                                   hold->hash, 0,
                                                   hold->shield);
        }

        if (e) {
            e->state = NGX_HTTP_B24TRIGGER_DEDUP_DONE;
            e->expire = ngx_time() + hold->ttl;
        }

        ngx_shmtx_unlock(&kz->shpool->mutex);

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "b24trigger dedup: \"%V\" remembered",
                       ngx_http_b24trigger_log_value(r->pool, &hold->key));
    }
}


/* SET prefix+zone:key d EX ttl */

static void
ngx_http_b24trigger_dedup_remember(ngx_http_request_t *r,
    ngx_http_b24trigger_dedup_hold_t *hold)
{
    ngx_str_t  argv[5];
    u_char     ttl[NGX_TIME_T_LEN];

    ngx_str_set(&argv[0], "SET");
    argv[1] = hold->rkey;
    ngx_str_set(&argv[2], "d");
    ngx_str_set(&argv[3], "EX");
    argv[4].data = ttl;
    argv[4].len = ngx_sprintf(ttl, "%T", hold->ttl) - ttl;

    if (ngx_http_b24trigger_redis_command(hold->redis, NULL, NULL, 5, argv)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "b24trigger: key \"%V\" could not be remembered in "
                      "redis, the link is down; it is free again in %d s",
                      ngx_http_b24trigger_log_value(r->pool, &hold->key),
                      NGX_HTTP_B24TRIGGER_DEDUP_INFLIGHT_SEC);
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "b24trigger dedup: \"%V\" remembered in redis",
                   ngx_http_b24trigger_log_value(r->pool, &hold->key));
}


/*
 * The webhook failed: its keys are free again before the sender hears of
 * it, so that an immediate retry is not taken for a duplicate in flight
 */

void
ngx_http_b24trigger_dedup_release(ngx_http_b24trigger_ctx_t *ctx)
{
    ngx_http_b24trigger_dedup_hold_t  *hold;

    for (hold = ctx->dedup; hold; hold = hold->next) {
        ngx_http_b24trigger_dedup_forget(hold);
    }
}


/* the request ends without success: the key is free again */

static void
ngx_http_b24trigger_dedup_cleanup(void *data)
{
    ngx_http_b24trigger_dedup_forget(data);
}


static void
ngx_http_b24trigger_dedup_forget(ngx_http_b24trigger_dedup_hold_t *hold)
{
    ngx_http_b24trigger_keyzone_t        *kz;
    ngx_http_b24trigger_keyzone_entry_t  *e;

    if (hold->done) {
        return;
    }

    hold->done = 1;

    if (hold->redis) {
        ngx_http_b24trigger_dedup_unset(hold->redis, &hold->rkey,
                                        &hold->token);
        return;
    }

    kz = hold->zone->data;

    ngx_shmtx_lock(&kz->shpool->mutex);

    e = ngx_http_b24trigger_keyzone_lookup(kz, &hold->key, hold->hash);

    if (e && e->state == NGX_HTTP_B24TRIGGER_DEDUP_FLIGHT) {
        ngx_http_b24trigger_keyzone_delete(kz, e);
    }

    ngx_shmtx_unlock(&kz->shpool->mutex);
}
