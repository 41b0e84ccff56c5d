
/*
 * Copyright (C) b24trigger authors
 *
 * What became of every webhook: the journal's entries
 * (ngx_http_b24trigger_journal.c keeps them in a ring in shared memory
 * and, with "b24trigger_journal", in a JSON-lines file), the status
 * location's API that reads them (ngx_http_b24trigger_status_api.c), the
 * dead letters it shows and replays (ngx_http_b24trigger_queue_dead.c) and
 * the alerts sent to a portal user (ngx_http_b24trigger_alert.c).
 */


#ifndef _NGX_HTTP_B24TRIGGER_JOURNAL_H_INCLUDED_
#define _NGX_HTTP_B24TRIGGER_JOURNAL_H_INCLUDED_


#include "ngx_http_b24trigger.h"


/* an entry's "result" */

#define NGX_HTTP_B24TRIGGER_JOURNAL_RESULTS(R)                                \
    R(FORWARDED, "forwarded")                                                 \
    R(QUEUED, "queued")                                                       \
    R(DELIVERED, "delivered")                                                 \
    R(RETRY, "retry")                                                         \
    R(DEAD, "dead")                                                           \
    R(REJECTED, "rejected")                                                   \
    R(IGNORED, "ignored")                                                     \
    R(DUPLICATE, "duplicate")                                                 \
    R(FAILED, "failed")                                                       \
    R(DRY_RUN, "dry_run")                                                     \
    R(REPLAYED, "replayed")                                                   \
    R(DROPPED, "dropped")

#define NGX_HTTP_B24TRIGGER_JOURNAL_RESULT_INDEX(id, name)                    \
    NGX_HTTP_B24TRIGGER_J_ ## id,

typedef enum {
    NGX_HTTP_B24TRIGGER_JOURNAL_RESULTS(
        NGX_HTTP_B24TRIGGER_JOURNAL_RESULT_INDEX)
    NGX_HTTP_B24TRIGGER_J_NUMBER
} ngx_http_b24trigger_jresult_e;


/* an entry's strings: F(INDEX, JSON name, most bytes kept in the ring) */

#define NGX_HTTP_B24TRIGGER_JOURNAL_FIELDS(F)                                 \
    F(ID, "id", 128)                                                          \
    F(LOCATION, "location", 128)                                              \
    F(ADDR, "addr", 64)                                                       \
    F(ERROR, "error", 64)                                                     \
    F(TARGET, "target", 96)                                                   \
    F(CODE, "code", 128)                                                      \
    F(PORTAL, "portal", 64)                                                   \
    F(PORTAL_ERROR, "portal_error", 64)                                       \
    F(PORTAL_DESC, "portal_error_description", 256)                           \
    F(DETAIL, "detail", 160)

#define NGX_HTTP_B24TRIGGER_JOURNAL_FIELD_INDEX(id, name, max)                \
    NGX_HTTP_B24TRIGGER_JF_ ## id,

typedef enum {
    NGX_HTTP_B24TRIGGER_JOURNAL_FIELDS(NGX_HTTP_B24TRIGGER_JOURNAL_FIELD_INDEX)
    NGX_HTTP_B24TRIGGER_JF_NUMBER
} ngx_http_b24trigger_jfield_e;


typedef struct {
    uint64_t                       seq;        /* 1, 2, ...: set by add */
    int64_t                        time;       /* Unix ms */
    ngx_uint_t                     result;     /* _J_* */
    ngx_uint_t                     status;     /* the sender's, or 0 */
    ngx_uint_t                     portal_status;
    ngx_uint_t                     attempts;
    ngx_msec_t                     latency;    /* since it came, ms */
    ngx_msec_t                     portal_time;
    ngx_str_t                      str[NGX_HTTP_B24TRIGGER_JF_NUMBER];
    ngx_str_t                      body;       /* the file's, if asked */
    unsigned                       failed:1;   /* a body for "failed" */
} ngx_http_b24trigger_jentry_t;


/* what a list asks for: empty strings and zeros match anything */

typedef struct {
    ngx_str_t                      str[NGX_HTTP_B24TRIGGER_JF_NUMBER];
    ngx_int_t                      result;     /* -1: any */
    int64_t                        since;      /* time >= since, ms */
    uint64_t                       after;      /* seq > after */
    uint64_t                       before;     /* seq < before, 0: any */
    ngx_uint_t                     limit;
    uint64_t                       last;       /* out: the newest seq */
    ngx_uint_t                     size;       /* out: the ring's */
} ngx_http_b24trigger_jfilter_t;


/* ngx_http_b24trigger_journal.c */
char *ngx_http_b24trigger_journal_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_b24trigger_journal_ring(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_b24trigger_journal_init_conf(ngx_conf_t *cf,
    ngx_http_b24trigger_main_conf_t *bmcf);
ngx_int_t ngx_http_b24trigger_journal_init_process(ngx_cycle_t *cycle,
    ngx_http_b24trigger_main_conf_t *bmcf);
void ngx_http_b24trigger_journal_exit(ngx_cycle_t *cycle);
void ngx_http_b24trigger_journal_add(ngx_http_b24trigger_jentry_t *e,
    ngx_log_t *log);
ngx_int_t ngx_http_b24trigger_journal_find(ngx_pool_t *pool,
    ngx_http_b24trigger_jfilter_t *f, ngx_array_t *out);
ngx_int_t ngx_http_b24trigger_journal_result(ngx_str_t *name);
ngx_str_t *ngx_http_b24trigger_journal_field_name(ngx_uint_t field);
size_t ngx_http_b24trigger_journal_json_len(ngx_http_b24trigger_jentry_t *e);
u_char *ngx_http_b24trigger_journal_json(u_char *p,
    ngx_http_b24trigger_jentry_t *e);
size_t ngx_http_b24trigger_json_escape_len(u_char *s, size_t len);
u_char *ngx_http_b24trigger_json_escape(u_char *p, u_char *s, size_t len);

/* ngx_http_b24trigger_alert.c */
char *ngx_http_b24trigger_alert_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_b24trigger_alert_init_conf(ngx_conf_t *cf,
    ngx_http_b24trigger_main_conf_t *bmcf);
void ngx_http_b24trigger_alert_init_process(ngx_cycle_t *cycle,
    ngx_http_b24trigger_main_conf_t *bmcf);
void ngx_http_b24trigger_alert_exit(ngx_cycle_t *cycle);
void ngx_http_b24trigger_alert_event(ngx_http_b24trigger_jentry_t *e,
    ngx_log_t *log);


#endif /* _NGX_HTTP_B24TRIGGER_JOURNAL_H_INCLUDED_ */
