
/*
 * Copyright (C) b24trigger authors
 *
 * Types shared by every part of the module: configuration, the per-request
 * context and the entry points each src/ file offers to the others.
 */


#ifndef _NGX_HTTP_B24TRIGGER_H_INCLUDED_
#define _NGX_HTTP_B24TRIGGER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_HTTP_B24TRIGGER_TARGET_NAME_MAX  64
#define NGX_HTTP_B24TRIGGER_TARGET_ID_MAX    18

/*
 * a trigger's code, in bytes: a queued event is at most 64 KB, and a code
 * of control bytes takes six times its length in the event's JSON
 */
#define NGX_HTTP_B24TRIGGER_CODE_MAX         1024

/* b24trigger_method */
#define NGX_HTTP_B24TRIGGER_METHOD_TRIGGER   0
#define NGX_HTTP_B24TRIGGER_METHOD_EXECUTE   1
/* im.notify.system.add: target is USER_ID, code the MESSAGE (alert.c) */
#define NGX_HTTP_B24TRIGGER_METHOD_NOTIFY    2


typedef struct ngx_http_b24trigger_verify_s  ngx_http_b24trigger_verify_t;
typedef struct ngx_http_b24trigger_call_s    ngx_http_b24trigger_call_t;
typedef struct ngx_http_b24trigger_fields_s  ngx_http_b24trigger_fields_t;
typedef struct ngx_http_b24trigger_spool_s   ngx_http_b24trigger_spool_t;
typedef struct ngx_http_b24trigger_oauth_s   ngx_http_b24trigger_oauth_t;
typedef struct ngx_http_b24trigger_lookup_s  ngx_http_b24trigger_lookup_t;


/* a URL as libcurl reads it (ngx_http_b24trigger_url_parse()) */

typedef struct {
    ngx_str_t                      host;       /* lower case, no port, no
                                                  final ".", "[::1]" */
    ngx_uint_t                     port;       /* given, or the scheme's */
    ngx_str_t                      where;      /* host[:port], for logs */
    ngx_str_t                      path;       /* and "?query", if any */
    const char                    *error;      /* why it is refused */
    unsigned                       https:1;
    unsigned                       loopback:1;
    unsigned                       query:1;    /* a query or a fragment */
} ngx_http_b24trigger_url_t;


/*
 * How a portal's calls are authorised when the URL's secret is not
 * enough: the OAuth client installs these on its portals at configuration
 * time (as an upstream module gives nginx its handlers), and the portal
 * client calls them, never the OAuth file by name.
 */

typedef struct {
    /* the call with a token, now or once there is one; it goes on
       through ngx_http_b24trigger_call_send() or _call_finish() */
    ngx_int_t                    (*start)(ngx_http_b24trigger_call_t *call);
    /* the portal answered: NGX_AGAIN when the call is repeated */
    ngx_int_t                    (*done)(ngx_http_b24trigger_call_t *call);
} ngx_http_b24trigger_auth_t;


/* a Bitrix24 portal: an incoming-webhook URL, or an OAuth application */

typedef struct {
    ngx_str_t                      name;
    ngx_str_t                      url;        /* with secret, NUL-ended,
                                                  ends with "/" */
    ngx_str_t                      host;       /* of url, as libcurl reads
                                                  it: redirects stay here */
    ngx_uint_t                     port;
    ngx_str_t                      safe_url;   /* secret replaced by "***" */
    ngx_str_t                      method_url; /* url + method, NUL-ended */
    ngx_str_t                      execute_url; /* OAuth: url +
                                                   ...trigger.execute */
    ngx_http_b24trigger_oauth_t   *oauth;     /* NULL: a webhook */
    ngx_http_b24trigger_auth_t    *auth;      /* oauth.c's, or NULL */
    ngx_msec_t                     timeout;
    ngx_msec_t                     connect_timeout;
    ngx_uint_t                     rate;       /* requests per 1000 s */
    ngx_uint_t                     burst;
    ngx_msec_t                     wait;
    void                          *bucket;    /* in shared memory */
    ngx_int_t                      bucket_mode;  /* bucket=: unset, 0 node,
                                                    1 cluster */
    void                          *cluster;   /* the Redis client that
                                                 holds the bucket, or NULL */
    void                          *peer;      /* its address (portal_http.c);
                                                 NULL: libcurl's */
    void                          *series;    /* the counters its calls
                                                 add to, stats.c's */
    unsigned                       loopback:1;
} ngx_http_b24trigger_portal_t;


typedef struct {
    ngx_array_t                    portals;   /* ngx_http_b24trigger_portal_t */
    ngx_str_t                      ssl_trusted_certificate;
    ngx_array_t                    redact;    /* ngx_str_t, secrets */
    ngx_array_t                    logs;      /* ngx_log_t *, to redact */
    ngx_array_t                    redact_args; /* ngx_str_t, query
                                                   arguments masked */
    void                          *stats;     /* the counters' zone */
    ngx_flag_t                     used;
    ngx_flag_t                     status;
    ngx_http_b24trigger_spool_t   *spool;     /* b24trigger_queue */
    ngx_uint_t                     journal_ring; /* entries kept */
    void                          *journal_file; /* b24trigger_journal */
    void                          *journal;   /* journal.c's */
    ngx_array_t                   *alerts;    /* alert.c's rules */
    void                          *alert_zone; /* alert.c's */
    ngx_array_t                    reach;     /* folders workers write
                                                 in, reach.c */
    ngx_cycle_t                   *cycle;     /* the one configured */
    void                          *cluster;   /* b24trigger_cluster: the
                                                 Redis client's, or NULL */
} ngx_http_b24trigger_main_conf_t;


/*
 * What the trust check (ngx_http_b24trigger_trust.c) leaves for the
 * request: a decision rests on the query string as "$request_uri" signs
 * it, so a request rewritten or redirected inside nginx is refused; a
 * decision rests on a body field although "message=" does not fix where
 * {body} ends, so the body is read as JSON only
 */

#define NGX_HTTP_B24TRIGGER_TRUST_REQUEST_LINE  0x01
#define NGX_HTTP_B24TRIGGER_TRUST_BODY_JSON     0x02


/* "b24trigger_reply VALUE [content_type=TYPE]" */

typedef struct {
    ngx_http_complex_value_t       value;
    ngx_str_t                      type;       /* empty: default_type */
} ngx_http_b24trigger_reply_t;


typedef struct {
    ngx_str_t                      portal_name;
    ngx_http_b24trigger_portal_t  *portal;
    ngx_http_complex_value_t      *target;
    ngx_http_b24trigger_lookup_t  *lookup;    /* b24trigger_lookup: the
                                                 target found */
    ngx_http_complex_value_t      *code;
    ngx_http_b24trigger_verify_t  *verify;
    ngx_array_t                   *secrets;   /* ngx_str_t, as loaded */
    ngx_array_t                   *keys;      /* made for the scheme,
                                                 opaque here */
    size_t                         body_max;
    ngx_uint_t                     methods;
    ngx_array_t                   *ignore;    /* predicates, as
                                                 proxy_no_cache */
    ngx_http_b24trigger_reply_t   *reply;
    ngx_flag_t                     dry_run;
    ngx_uint_t                     delivery;  /* b24trigger_delivery */
    ngx_uint_t                     method;    /* b24trigger_method */
    ngx_shm_zone_t                *dedup_zone;
    ngx_http_complex_value_t      *dedup_key;
    ngx_shm_zone_t                *replay_zone;  /* b24trigger_replay */
    time_t                         replay_window; /* 0: the zone's ttl */
    ngx_array_t                   *unsigned_vars; /* ngx_uint_t indexes,
                                                    b24trigger_unsigned */
    ngx_uint_t                     trust;     /* NGX_HTTP_B24TRIGGER_TRUST_*,
                                                 set by the trust check */
    ngx_array_t                   *fresh;     /* ngx_uint_t indexes of
                                                 the variables traced,
                                                 computed afresh for each
                                                 request (trust check) */
    ngx_str_t                      install_name;
    ngx_http_b24trigger_portal_t  *install;   /* b24trigger_oauth_install */
    ngx_flag_t                     manage;    /* b24trigger_status
                                                 manage=on */
    ngx_array_t                   *names;     /* ngx_http_server_name_t,
                                                 of the server {}, for
                                                 manage=on */
    void                          *series;    /* the counters its
                                                 webhooks add to,
                                                 stats.c's */
} ngx_http_b24trigger_loc_conf_t;


/*
 * The series of b24trigger_status, in the order they are shown: the one
 * list of them, from which both the indexes NGX_HTTP_B24TRIGGER_M_* below
 * and the table of names in the status page (the stats file) are made.
 * M(INDEX, Prometheus name, JSON name, type, help, label, label); the
 * parts of the latency histogram come last, shown with it, not alone.
 */

#define NGX_HTTP_B24TRIGGER_METRICS(M)                                        \
    M(WEBHOOKS, "b24trigger_webhooks_total", "webhooks", "counter",           \
      "Webhooks handled, by location and result.",                            \
      "location", "result")                                                   \
    M(REJECTIONS, "b24trigger_rejections_total", "rejections", "counter",     \
      "Webhooks refused, by location and reason.",                            \
      "location", "reason")                                                   \
    M(PORTAL_CALLS, "b24trigger_portal_calls_total", "portal_calls",          \
      "counter",                                                              \
      "Calls to the portal, by portal and outcome (ok or the Bitrix24 "       \
      "error code).",                                                         \
      "portal", "outcome")                                                    \
    M(IN_FLIGHT, "b24trigger_portal_calls_in_flight",                         \
      "portal_calls_in_flight", "gauge",                                      \
      "Calls to the portal waiting for an answer.",                           \
      "portal", NULL)                                                         \
    M(LATENCY, "b24trigger_portal_latency_seconds", "portal_latency_seconds", \
      "histogram", "Time from sending a call to its answer.",                 \
      "portal", NULL)                                                         \
    M(BUCKET_LEVEL, "b24trigger_bucket_level", "bucket_level", "gauge",       \
      "Calls in the portal's leaky bucket now (it admits up to burst).",      \
      "portal", NULL)                                                         \
    M(QUEUE_WAITING, "b24trigger_queue_waiting", "queue_waiting", "gauge",    \
      "Events waiting in the spool, as the last full scan found them.",       \
      "queue", NULL)                                                          \
    M(QUEUE_CLAIMED, "b24trigger_queue_delivering", "queue_delivering",       \
      "gauge", "Events claimed by a worker and being delivered.",             \
      "queue", NULL)                                                          \
    M(QUEUE_OLDEST, "b24trigger_queue_oldest_seconds",                        \
      "queue_oldest_seconds", "gauge",                                        \
      "Age of the oldest event waiting in the spool.",                        \
      "queue", NULL)                                                          \
    M(DEAD_LETTERS, "b24trigger_dead_letters", "dead_letters", "gauge",       \
      "Events in the dead-letter folder.",                                    \
      "queue", NULL)                                                          \
    M(LOOKUP_CALLS, "b24trigger_lookup_calls_total", "lookup_calls",         \
      "counter",                                                              \
      "Target lookups asked of the portal, by portal and answer (found, "     \
      "not_found, ambiguous, failed).",                                       \
      "portal", "answer")                                                     \
    M(LOOKUP_CACHE, "b24trigger_lookup_cache_hits_total",                     \
      "lookup_cache_hits", "counter",                                         \
      "Target lookups answered from b24trigger_lookup_zone, by portal and "   \
      "answer (found, not_found).",                                           \
      "portal", "answer")                                                     \
    M(CLUSTER_UP, "b24trigger_cluster_up", "cluster_up", "gauge",             \
      "1 while every worker's link to Redis is up, 0 while a worker runs "    \
      "on node-local state.",                                                 \
      "cluster", NULL)                                                        \
    M(CLUSTER_LATENCY, "b24trigger_cluster_latency_seconds",                  \
      "cluster_latency_seconds", "gauge",                                     \
      "Round trip of the latest command answered by Redis.",                  \
      "cluster", NULL)                                                        \
    M(CLUSTER_RECONNECTS, "b24trigger_cluster_reconnects_total",              \
      "cluster_reconnects", "counter",                                        \
      "Links to Redis made again after a loss.",                              \
      "cluster", NULL)                                                        \
    M(LATENCY_BUCKET, "b24trigger_portal_latency_seconds_bucket",             \
      NULL, NULL, NULL, "portal", "le")                                       \
    M(LATENCY_SUM, "b24trigger_portal_latency_seconds_sum",                   \
      NULL, NULL, NULL, "portal", NULL)                                       \
    M(QUEUE_ARRIVAL, "b24trigger_queue_arrival",                              \
      NULL, NULL, NULL, "queue", NULL)


#define NGX_HTTP_B24TRIGGER_METRIC_INDEX(id, name, json, type, help, l1, l2)  \
    NGX_HTTP_B24TRIGGER_M_ ## id,

typedef enum {
    NGX_HTTP_B24TRIGGER_METRICS(NGX_HTTP_B24TRIGGER_METRIC_INDEX)
    NGX_HTTP_B24TRIGGER_M_NUMBER
} ngx_http_b24trigger_metric_e;


/* how a webhook ended, also $b24trigger_result */

typedef enum {
    NGX_HTTP_B24TRIGGER_NONE = 0,
    NGX_HTTP_B24TRIGGER_FORWARDED,
    NGX_HTTP_B24TRIGGER_QUEUED,
    NGX_HTTP_B24TRIGGER_IGNORED,
    NGX_HTTP_B24TRIGGER_DUPLICATE,
    NGX_HTTP_B24TRIGGER_REJECTED,
    NGX_HTTP_B24TRIGGER_FAILED,
    NGX_HTTP_B24TRIGGER_DRY_RUN
} ngx_http_b24trigger_result_e;


/* the outcome of one call to the portal, as the portal client reports it */

typedef enum {
    NGX_HTTP_B24TRIGGER_CALL_OK = 0,
    NGX_HTTP_B24TRIGGER_CALL_PORTAL_ERROR,
    NGX_HTTP_B24TRIGGER_CALL_RATE_LIMITED,
    NGX_HTTP_B24TRIGGER_CALL_UNREACHABLE,
    NGX_HTTP_B24TRIGGER_CALL_TIMEOUT,
    NGX_HTTP_B24TRIGGER_CALL_BAD_RESPONSE,
    NGX_HTTP_B24TRIGGER_CALL_INTERNAL,
    /* no call made: what a queued event's lookup found (lookup.c) */
    NGX_HTTP_B24TRIGGER_CALL_NOT_FOUND,
    NGX_HTTP_B24TRIGGER_CALL_AMBIGUOUS
} ngx_http_b24trigger_outcome_e;


typedef void (*ngx_http_b24trigger_call_done_pt)(
    ngx_http_b24trigger_call_t *call);


struct ngx_http_b24trigger_call_s {
    ngx_http_b24trigger_portal_t      *portal;
    ngx_str_t                          target;
    ngx_str_t                          code;
    ngx_pool_t                        *pool;
    ngx_log_t                         *log;
    ngx_uint_t                         method;       /* trigger, execute */
    ngx_str_t                          rest_method;  /* another method,
                                                        "crm.item.list":
                                                        params is its
                                                        JSON object */
    ngx_str_t                          params;

    ngx_http_b24trigger_call_done_pt   done;
    void                              *data;

    /* filled in when the call is over */
    ngx_http_b24trigger_outcome_e      outcome;
    ngx_uint_t                         status;       /* HTTP status */
    ngx_str_t                          error;        /* Bitrix24 "error" */
    ngx_str_t                          error_description;
    ngx_msec_t                         time;         /* ms, all attempts */
    time_t                             retry_after;  /* seconds, or 0 */
    time_t                             operating_reset_at;   /* or 0 */
    ngx_str_t                          detail;       /* curl's words */
    ngx_uint_t                         redirects;
    ngx_str_t                          answer;       /* the body of an
                                                        "ok" answer */

    /* private to the portal client */
    void                              *transfer;
    u_char                            *payload;
    size_t                             payload_len;
    ngx_msec_t                         started;
    ngx_str_t                          location;
    u_char                            *url;          /* of this attempt */
    u_char                            *rest_url;     /* of rest_method */
    ngx_msec_t                         spent;        /* by nginx's client */
    unsigned                           fallback:1;   /* libcurl's turn */

    /* private to the OAuth client */
    ngx_event_t                       *wait;
    ngx_uint_t                         version;      /* of the token used */
    ngx_uint_t                         waiting_for;  /* version + 1 */
    ngx_str_t                          token;        /* the access token
                                                        of this attempt */
    unsigned                           refreshed:1;
};


/*
 * The answer a step decided on (de-duplication, the body's fields, the
 * enqueue): it fills this and returns NGX_DONE; the handler, the one place
 * that answers a webhook, writes it (ngx_http_b24trigger_answer())
 */

typedef struct {
    ngx_uint_t                         status;       /* 0: none decided */
    const char                        *error;        /* NULL: a 2xx */
    ngx_str_t                          json;         /* a 2xx's body, or
                                                        an error's extra
                                                        ',"key":"value"' */
    time_t                             retry_after;  /* seconds, or 0 */
} ngx_http_b24trigger_decision_t;


/* a step that waited (for Redis) hands its verdict back */

typedef void (*ngx_http_b24trigger_resume_pt)(ngx_http_request_t *r,
    ngx_int_t rc);


typedef struct {
    ngx_str_t                          body;         /* raw bytes as sent */
    size_t                             body_size;    /* allocated */
    ngx_str_t                          target;
    ngx_str_t                          code;
    ngx_str_t                          lookup;       /* the value looked
                                                        up, if any */
    void                              *find;         /* the lookup, if
                                                        under way */
    ngx_str_t                          error;        /* $b24trigger_error */
    ngx_http_b24trigger_result_e       result;
    ngx_http_b24trigger_call_t        *call;
    ngx_uint_t                         attempts;
    ngx_http_b24trigger_fields_t      *fields;       /* the body parsed,
                                                        once (fields.c) */
    ngx_uint_t                         body_read;    /* how: the scheme's
                                                        READ_* (fields.h) */
    void                              *dedup;        /* keys in flight */
    void                              *bucket;       /* a take from the
                                                        cluster's bucket,
                                                        waiting for Redis */
    ngx_str_t                          signature;    /* verified, decoded:
                                                        the replay key */
    ngx_str_t                          signature_head; /* signed before
                                                        it, or empty */
    ngx_str_t                          id;           /* a queued event's */
    ngx_http_b24trigger_decision_t     decision;     /* a step's, to send */
    ngx_http_b24trigger_resume_pt      resume;       /* after the replay
                                                        and dedup checks */

    unsigned                           reading:1;
    unsigned                           too_large:1;
    unsigned                           body_done:1;
    unsigned                           body_padded:1;  /* zeros after it */
    unsigned                           waiting:1;
    unsigned                           replay_checked:1;
    unsigned                           dedup_checked:1;
} ngx_http_b24trigger_ctx_t;


extern ngx_module_t  ngx_http_b24trigger_module;


/* secrets: literal, file:PATH, env:NAME (ngx_http_b24trigger_secret.c) */
ngx_int_t ngx_http_b24trigger_secret_load(ngx_conf_t *cf, ngx_str_t *spec,
    ngx_str_t *value, const char *what);

/* a private file written whole or not at all (ngx_http_b24trigger_file.c) */
/*
 * file_write()'s sync: none; the directory, the name gone if that fails;
 * the directory, the name kept (it is newer than anything else there)
 */
#define NGX_HTTP_B24TRIGGER_FILE_NOSYNC   0
#define NGX_HTTP_B24TRIGGER_FILE_DURABLE  1
#define NGX_HTTP_B24TRIGGER_FILE_KEEP     2

ngx_int_t ngx_http_b24trigger_file_write(ngx_log_t *log, u_char *tmp,
    u_char *name, u_char *data, size_t len, ngx_uint_t sync_dir);

/* secrets kept out of the error log (ngx_http_b24trigger_redact.c) */
ngx_int_t ngx_http_b24trigger_redact_secret(ngx_conf_t *cf,
    ngx_str_t *secret);
ngx_int_t ngx_http_b24trigger_redact_arg(ngx_conf_t *cf, ngx_str_t *name);
ngx_int_t ngx_http_b24trigger_redact_base64(ngx_conf_t *cf,
    ngx_str_t *secret);
ngx_int_t ngx_http_b24trigger_redact_log(ngx_conf_t *cf, ngx_log_t *log);
size_t ngx_http_b24trigger_redact_text(u_char *buf, size_t len);
size_t ngx_http_b24trigger_redact_body(u_char *buf, size_t len);
size_t ngx_http_b24trigger_redact_one(u_char *buf, size_t len,
    ngx_str_t *secret);
ngx_int_t ngx_http_b24trigger_redact_init(ngx_cycle_t *cycle,
    ngx_http_b24trigger_main_conf_t *bmcf);
void ngx_http_b24trigger_redact_exit(ngx_cycle_t *cycle);
ngx_str_t *ngx_http_b24trigger_log_value(ngx_pool_t *pool,
    ngx_str_t *value);

/* portal URLs and the call (ngx_http_b24trigger_portal.c) */
ngx_http_b24trigger_portal_t *ngx_http_b24trigger_portal_find(
    ngx_http_b24trigger_main_conf_t *bmcf, ngx_str_t *name);
char *ngx_http_b24trigger_portal_parse_url(ngx_conf_t *cf,
    ngx_http_b24trigger_portal_t *portal, ngx_str_t *url);
ngx_int_t ngx_http_b24trigger_call_start(ngx_http_b24trigger_call_t *call);
void ngx_http_b24trigger_call_cancel(ngx_http_b24trigger_call_t *call);
const char *ngx_http_b24trigger_outcome_name(
    ngx_http_b24trigger_outcome_e outcome);
const char *ngx_http_b24trigger_call_hint(ngx_http_b24trigger_call_t *call);
ngx_int_t ngx_http_b24trigger_url_parse(ngx_pool_t *pool, u_char *url,
    size_t len, ngx_http_b24trigger_url_t *u);
ngx_int_t ngx_http_b24trigger_call_send(ngx_http_b24trigger_call_t *call,
    ngx_str_t *token);
void ngx_http_b24trigger_call_finish(ngx_http_b24trigger_call_t *call);

/* OAuth portals (ngx_http_b24trigger_oauth.c) */
ngx_http_b24trigger_oauth_t *ngx_http_b24trigger_oauth_create(ngx_conf_t *cf);
char *ngx_http_b24trigger_oauth_parse_url(ngx_conf_t *cf,
    ngx_http_b24trigger_portal_t *portal, ngx_str_t *url);
char *ngx_http_b24trigger_oauth_conf(ngx_conf_t *cf,
    ngx_http_b24trigger_portal_t *portal, ngx_str_t *state,
    ngx_str_t *client_id, ngx_str_t *secret, ngx_str_t *server);
ngx_int_t ngx_http_b24trigger_oauth_init_conf(ngx_conf_t *cf,
    ngx_http_b24trigger_main_conf_t *bmcf);

/* the worker user's reach (ngx_http_b24trigger_reach.c) */
ngx_int_t ngx_http_b24trigger_reach_add(ngx_conf_t *cf, ngx_str_t *dir,
    const char *what, ngx_uint_t write, ngx_uint_t level);
ngx_int_t ngx_http_b24trigger_reach_check(
    ngx_http_b24trigger_main_conf_t *bmcf, ngx_log_t *log);

/* the install handler (ngx_http_b24trigger_oauth_install.c) */
ngx_int_t ngx_http_b24trigger_install_handler(ngx_http_request_t *r);

/* only signed data decides (ngx_http_b24trigger_trust.c) */
ngx_int_t ngx_http_b24trigger_trust_init(ngx_conf_t *cf);
void ngx_http_b24trigger_trust_done(ngx_conf_t *cf);
char *ngx_http_b24trigger_trust_check(ngx_conf_t *cf,
    ngx_http_b24trigger_loc_conf_t *blcf);
ngx_int_t ngx_http_b24trigger_trust_request(ngx_http_request_t *r,
    ngx_http_b24trigger_loc_conf_t *blcf);

/* the request flow (ngx_http_b24trigger_handler.c) */
ngx_int_t ngx_http_b24trigger_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_b24trigger_target_valid(ngx_str_t *target);

/* the request body kept in memory (ngx_http_b24trigger_body.c) */
ngx_int_t ngx_http_b24trigger_body_init(ngx_conf_t *cf);
ngx_int_t ngx_http_b24trigger_body_read(ngx_http_request_t *r,
    ngx_http_b24trigger_ctx_t *ctx, ngx_http_client_body_handler_pt handler);

/* replies to the sender (ngx_http_b24trigger_reply.c) */
ngx_int_t ngx_http_b24trigger_reply(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *body, ngx_str_t *type);
ngx_int_t ngx_http_b24trigger_reply_success(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *json);
ngx_int_t ngx_http_b24trigger_reply_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *error, ngx_str_t *extra);
ngx_int_t ngx_http_b24trigger_reply_retry(ngx_http_request_t *r,
    ngx_uint_t status, const char *error, time_t retry_after);
ngx_int_t ngx_http_b24trigger_decide(ngx_http_b24trigger_ctx_t *ctx,
    ngx_uint_t status, const char *error, ngx_str_t *json,
    time_t retry_after);
u_char *ngx_http_b24trigger_json_string(ngx_pool_t *pool, ngx_str_t *src,
    size_t max, size_t *len);
uintptr_t ngx_http_b24trigger_json_escaped(u_char *src, size_t size);
u_char *ngx_http_b24trigger_json_copy(u_char *dst, ngx_str_t *src,
    uintptr_t escaped);

/* the portal's bucket now, in calls (ngx_http_b24trigger_bucket.c) */
ngx_uint_t ngx_http_b24trigger_bucket_level(
    ngx_http_b24trigger_portal_t *portal);

/* counters and the status location (ngx_http_b24trigger_status.c) */
ngx_int_t ngx_http_b24trigger_stats_init_conf(ngx_conf_t *cf);
void ngx_http_b24trigger_stats_init_process(
    ngx_http_b24trigger_main_conf_t *bmcf);
void ngx_http_b24trigger_stats_flush(void);
void ngx_http_b24trigger_stats_add(ngx_uint_t metric, ngx_str_t *l1,
    ngx_str_t *l2, ngx_atomic_int_t delta);
void ngx_http_b24trigger_stats_set(ngx_uint_t metric, ngx_str_t *l1,
    ngx_str_t *l2, ngx_atomic_uint_t value);
void ngx_http_b24trigger_stats_in_flight(
    ngx_http_b24trigger_portal_t *portal, ngx_atomic_int_t delta);
void ngx_http_b24trigger_stats_call(ngx_http_b24trigger_call_t *call);
ngx_int_t ngx_http_b24trigger_status_handler(ngx_http_request_t *r);

/* the status location's API (ngx_http_b24trigger_status_api.c) */
ngx_int_t ngx_http_b24trigger_status_api_init(ngx_conf_t *cf);
ngx_int_t ngx_http_b24trigger_status_api(ngx_http_request_t *r);
char *ngx_http_b24trigger_status_api_names(ngx_conf_t *cf,
    ngx_http_b24trigger_loc_conf_t *blcf);

/*
 * the status page for a browser (ngx_http_b24trigger_status_page.c) and
 * its files (ngx_http_b24trigger_status_assets.c, generated by
 * tools/dashboard-assets.pl from src/dashboard/), the last one all null
 */
typedef struct {
    ngx_str_t                     name;
    ngx_str_t                     type;
    ngx_str_t                     data;
} ngx_http_b24trigger_asset_t;

extern ngx_http_b24trigger_asset_t  ngx_http_b24trigger_status_assets[];

ngx_int_t ngx_http_b24trigger_status_page(ngx_http_request_t *r);

/* $b24trigger_* (ngx_http_b24trigger_variables.c) */
ngx_int_t ngx_http_b24trigger_add_variables(ngx_conf_t *cf);
ngx_str_t *ngx_http_b24trigger_result_name(
    ngx_http_b24trigger_result_e result);
ngx_http_b24trigger_ctx_t *ngx_http_b24trigger_get_ctx(
    ngx_http_request_t *r);


#endif /* _NGX_HTTP_B24TRIGGER_H_INCLUDED_ */
