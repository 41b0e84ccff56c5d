
/*
 * Copyright (C) b24trigger authors
 *
 * What the OAuth client (ngx_http_b24trigger_oauth.c) offers its install
 * handler (ngx_http_b24trigger_oauth_install.c): a try of the posted access
 * token at the portal, a refresh_token grant at the portal's token
 * server, and the verdicts on their answers; and what the cluster's part
 * (ngx_http_b24trigger_oauth_cluster.c) offers the OAuth client: the pair
 * in Redis, the lock of its refresh, and their answers.
 */


#ifndef _NGX_HTTP_B24TRIGGER_OAUTH_H_INCLUDED_
#define _NGX_HTTP_B24TRIGGER_OAUTH_H_INCLUDED_


#include "ngx_http_b24trigger.h"
#include "ngx_http_b24trigger_portal_curl.h"


#define NGX_HTTP_B24TRIGGER_TOKEN_MAX     256
#define NGX_HTTP_B24TRIGGER_MEMBER_MAX    64

/*
 * the longest life of a pair a token server's answer is believed: 30
 * days (s; a plain number, it is given to Redis's scripts as text)
 */
#define NGX_HTTP_B24TRIGGER_OAUTH_LIFETIME_MAX  2592000

/*
 * a pair in Redis may expire this much later than a pair this node could
 * get now: other nodes' clocks (s)
 */
#define NGX_HTTP_B24TRIGGER_OAUTH_SKEW_MAX      86400

/*
 * a lock of a refresh in Redis living this much longer than this node's
 * own (ms) is no node's: a node with a longer timeout= by this much is
 * not expected
 */
#define NGX_HTTP_B24TRIGGER_OAUTH_LOCK_SLACK    60000

/* the lock of a refresh across nodes: 16 hex digits */
#define NGX_HTTP_B24TRIGGER_OAUTH_LOCK_LEN  16

/* what a claim of the pair in Redis is for */
#define NGX_HTTP_B24TRIGGER_OAUTH_REFRESH  0   /* refresh unless newer */
#define NGX_HTTP_B24TRIGGER_OAUTH_LOOK     1   /* the pair was refused */
#define NGX_HTTP_B24TRIGGER_OAUTH_PEEK     2   /* in the background, quiet */


/* a token pair; in the zone "b24trigger_oauth", guarded by its mutex */

typedef struct {
    ngx_uint_t                     version;     /* +1 with each new pair */
    time_t                         expires;
    time_t                         lifetime;    /* expires_in, or 0 */
    time_t                         refreshing;  /* since when, or 0 */
    ngx_uint_t                     failed;      /* version + 1, or 0 */
    ngx_uint_t                     refused;     /* version + 1, or 0 */
    ngx_uint_t                     unshared;    /* not in Redis yet */
    time_t                         looked;      /* Redis last asked */
    size_t                         access_len;
    size_t                         refresh_len;
    size_t                         member_len;
    u_char                         access[NGX_HTTP_B24TRIGGER_TOKEN_MAX];
    u_char                         refresh[NGX_HTTP_B24TRIGGER_TOKEN_MAX];
    u_char                         member[NGX_HTTP_B24TRIGGER_MEMBER_MAX];
} ngx_http_b24trigger_tokens_t;


/*
 * What the cluster answered a claim: NGX_OK, the lock is this node's,
 * refresh; NGX_DONE, Redis holds a newer pair, in *pair; NGX_AGAIN,
 * another node refreshes, ask again; NGX_DECLINED, nothing newer (a
 * claim that only looks); NGX_ERROR, no answer (the link is down, or
 * Redis refused the script): go on with the node's own pair; NGX_ABORT,
 * the worker exits.
 */

typedef void (*ngx_http_b24trigger_oauth_claimed_pt)(void *data,
    ngx_int_t rc, ngx_http_b24trigger_tokens_t *pair);

/* a pair written to Redis (1), or not (0: not newer, or the link down) */

typedef void (*ngx_http_b24trigger_oauth_written_pt)(void *data,
    ngx_uint_t written, ngx_uint_t down);


/* how a pair is written to Redis */

typedef enum {
    NGX_HTTP_B24TRIGGER_OAUTH_CAS = 0,   /* if Redis still holds "old" */
    NGX_HTTP_B24TRIGGER_OAUTH_NEWER,     /* if it expires later */
    NGX_HTTP_B24TRIGGER_OAUTH_SET,       /* an install: whatever is there */
    NGX_HTTP_B24TRIGGER_OAUTH_UNLOCK     /* no pair, the lock only */
} ngx_http_b24trigger_oauth_write_e;


ngx_http_b24trigger_transfer_t *ngx_http_b24trigger_oauth_grant(
    ngx_pool_t *pool, ngx_log_t *log, ngx_http_b24trigger_portal_t *portal,
    u_char *refresh, size_t len);
ngx_http_b24trigger_transfer_t *ngx_http_b24trigger_oauth_probe(
    ngx_pool_t *pool, ngx_log_t *log, ngx_http_b24trigger_portal_t *portal,
    ngx_str_t *token);
ngx_int_t ngx_http_b24trigger_oauth_probe_done(
    ngx_http_b24trigger_transfer_t *t);
const char *ngx_http_b24trigger_oauth_install_done(
    ngx_http_b24trigger_transfer_t *t, ngx_http_b24trigger_portal_t *portal,
    ngx_log_t *log);
const char *ngx_http_b24trigger_oauth_install_check(
    ngx_http_b24trigger_portal_t *portal, ngx_str_t *domain,
    ngx_str_t *member);

ngx_int_t ngx_http_b24trigger_oauth_cluster_claim(void *redis,
    ngx_str_t *name, ngx_http_b24trigger_tokens_t *local, u_char *lock,
    ngx_msec_t ttl, ngx_uint_t what,
    ngx_http_b24trigger_oauth_claimed_pt handler, void *data);
ngx_int_t ngx_http_b24trigger_oauth_cluster_write(void *redis,
    ngx_str_t *name, ngx_http_b24trigger_tokens_t *pair,
    ngx_http_b24trigger_oauth_write_e mode, u_char *old, size_t old_len,
    u_char *lock, ngx_http_b24trigger_oauth_written_pt handler, void *data);


#endif /* _NGX_HTTP_B24TRIGGER_OAUTH_H_INCLUDED_ */
