
/*
 * Copyright (C) b24trigger authors
 *
 * The JSON API of the b24trigger_status location (doc/journal.md):
 * GET ?view=events (the journal, filtered), ?view=event&id= (one event's
 * entries and its dead letter), ?view=dead (the dead letters) and
 * ?view=token (the CSRF token, with manage=on); POST ?action=replay|drop
 * on one dead letter or all that match, only with "b24trigger_status
 * manage=on", from the same origin, with the token of this start in the
 * X-B24trigger-Token header; the token and the actions only to a Host of
 * this server (an address, localhost, a server_name: DNS rebinding).
 * nginx's allow, deny and auth_basic run before this content handler.
 * Every action is logged with the client's address.  Reads the journal
 * and the dead letters through their owners; knows nothing of how a
 * webhook is handled.
 */


#include "ngx_http_b24trigger.h"
#include "ngx_http_b24trigger_queue.h"
#include "ngx_http_b24trigger_journal.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>


#define NGX_HTTP_B24TRIGGER_API_LIMIT       100
#define NGX_HTTP_B24TRIGGER_API_LIMIT_MAX   10000
#define NGX_HTTP_B24TRIGGER_TOKEN_BYTES     16
#define NGX_HTTP_B24TRIGGER_TOKEN_HEADER    "X-B24trigger-Token"


typedef struct {
    u_char                        *pos;
    u_char                        *last;
    u_char                        *start;
    ngx_pool_t                    *pool;
} ngx_http_b24trigger_api_out_t;


static ngx_int_t ngx_http_b24trigger_api_redis(ngx_http_request_t *r,
    ngx_uint_t needed);
static void ngx_http_b24trigger_api_fetched(ngx_http_request_t *r,
    ngx_uint_t ok);
static ngx_int_t ngx_http_b24trigger_api_events(ngx_http_request_t *r);
static ngx_int_t ngx_http_b24trigger_api_event(ngx_http_request_t *r);
static ngx_int_t ngx_http_b24trigger_api_dead(ngx_http_request_t *r);
static ngx_int_t ngx_http_b24trigger_api_token(ngx_http_request_t *r);
static ngx_int_t ngx_http_b24trigger_api_allowed(ngx_http_request_t *r);
static ngx_int_t ngx_http_b24trigger_api_action(ngx_http_request_t *r);
static ngx_int_t ngx_http_b24trigger_api_same_origin(ngx_http_request_t *r,
    const char **why);
static ngx_int_t ngx_http_b24trigger_api_host_known(ngx_http_request_t *r);
static ngx_int_t ngx_http_b24trigger_api_refuse(ngx_http_request_t *r,
    ngx_uint_t status, const char *error, const char *why);
static ngx_int_t ngx_http_b24trigger_api_arg(ngx_http_request_t *r,
    const char *name, ngx_str_t *value);
static ngx_int_t ngx_http_b24trigger_api_number(ngx_http_request_t *r,
    const char *name, uint64_t *n);
static ngx_int_t ngx_http_b24trigger_api_dfilter(ngx_http_request_t *r,
    ngx_http_b24trigger_dfilter_t *f);
static void ngx_http_b24trigger_api_journal(ngx_http_request_t *r,
    ngx_uint_t result, ngx_http_b24trigger_dead_t *dl);
static ngx_int_t ngx_http_b24trigger_api_need(
    ngx_http_b24trigger_api_out_t *o, size_t len);
static ngx_int_t ngx_http_b24trigger_api_send(ngx_http_request_t *r,
    ngx_uint_t status, ngx_http_b24trigger_api_out_t *o);


/* the CSRF token of this start (and of this configuration) */

static u_char  ngx_http_b24trigger_token[2 * NGX_HTTP_B24TRIGGER_TOKEN_BYTES];


ngx_int_t
ngx_http_b24trigger_status_api_init(ngx_conf_t *cf)
{
    ngx_str_t  *token;
    u_char      raw[NGX_HTTP_B24TRIGGER_TOKEN_BYTES];

    if (RAND_bytes(raw, NGX_HTTP_B24TRIGGER_TOKEN_BYTES) != 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "RAND_bytes() failed");
        return NGX_ERROR;
    }

    ngx_hex_dump(ngx_http_b24trigger_token, raw,
                 NGX_HTTP_B24TRIGGER_TOKEN_BYTES);

    /* nginx's debug lines show request headers: it is masked as secrets */

    token = ngx_palloc(cf->pool, sizeof(ngx_str_t));
    if (token == NULL) {
        return NGX_ERROR;
    }

    token->len = sizeof(ngx_http_b24trigger_token);
    token->data = ngx_pnalloc(cf->pool, token->len);
    if (token->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(token->data, ngx_http_b24trigger_token, token->len);

    return ngx_http_b24trigger_redact_secret(cf, token);
}


/* NGX_DECLINED: not the API's, the counters are shown */

ngx_int_t
ngx_http_b24trigger_status_api(ngx_http_request_t *r)
{
    ngx_int_t  rc;
    ngx_str_t  view;

    if (r->method == NGX_HTTP_POST) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        /* who may act is known before any work for the action: Redis */

        rc = ngx_http_b24trigger_api_allowed(r);
        if (rc != NGX_DECLINED) {
            return rc;
        }

        rc = ngx_http_b24trigger_api_redis(r, 1);
        if (rc != NGX_DECLINED) {
            return rc;
        }

        return ngx_http_b24trigger_api_action(r);
    }

    if (ngx_http_arg(r, (u_char *) "view", 4, &view) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (view.len == 6 && ngx_strncmp(view.data, "events", 6) == 0) {
        return ngx_http_b24trigger_api_events(r);
    }

    if (view.len == 5 && ngx_strncmp(view.data, "event", 5) == 0) {
        rc = ngx_http_b24trigger_api_redis(r, 0);
        if (rc != NGX_DECLINED) {
            return rc;
        }

        return ngx_http_b24trigger_api_event(r);
    }

    if (view.len == 4 && ngx_strncmp(view.data, "dead", 4) == 0) {
        rc = ngx_http_b24trigger_api_redis(r, 1);
        if (rc != NGX_DECLINED) {
            return rc;
        }

        return ngx_http_b24trigger_api_dead(r);
    }

    if (view.len == 5 && ngx_strncmp(view.data, "token", 5) == 0) {
        return ngx_http_b24trigger_api_token(r);
    }

    return ngx_http_b24trigger_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                           "view_unknown", NULL);
}


/*
 * With "b24trigger_queue redis" the dead letters are in Redis: the request
 * reads them first (ngx_http_b24trigger_queue_redis_dead_fetch()) and
 * the API then runs as for the spool, on what Redis gave.  "needed": a
 * view that is about them, answered 503 when Redis cannot give them
 */

static ngx_uint_t  ngx_http_b24trigger_api_fetching;


static ngx_int_t
ngx_http_b24trigger_api_redis(ngx_http_request_t *r, ngx_uint_t needed)
{
    ngx_int_t                         rc;
    ngx_http_b24trigger_main_conf_t  *bmcf;

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_b24trigger_module);

    if (bmcf->spool == NULL || !bmcf->spool->redis
        || ngx_http_b24trigger_api_fetching)
    {
        return NGX_DECLINED;
    }

    rc = ngx_http_b24trigger_queue_redis_dead_fetch(r,
                                            ngx_http_b24trigger_api_fetched);

    if (rc != NGX_AGAIN) {
        if (!needed) {
            return NGX_DECLINED;
        }

        return ngx_http_b24trigger_reply_retry(r,
                                              NGX_HTTP_SERVICE_UNAVAILABLE,
                                              "queue_unavailable", 10);
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_b24trigger_api_fetched(ngx_http_request_t *r, ngx_uint_t ok)
{
    ngx_int_t  rc;
    ngx_str_t  view;

    if (!ok
        && (r->method == NGX_HTTP_POST
            || (ngx_http_arg(r, (u_char *) "view", 4, &view) == NGX_OK
                && view.len == 4
                && ngx_strncmp(view.data, "dead", 4) == 0)))
    {
        rc = ngx_http_b24trigger_reply_retry(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                             "queue_unavailable", 10);

    } else {
        ngx_http_b24trigger_api_fetching = 1;
        rc = ngx_http_b24trigger_status_api(r);
        ngx_http_b24trigger_api_fetching = 0;
    }

    ngx_http_finalize_request(r, rc);
}


/*
 * ?view=events[&location=][&result=][&target=][&portal=][&id=][&addr=]
 * [&error=][&since=MS][&after=SEQ][&before=SEQ][&limit=N]
 * {"events":[...newest first...],"last":SEQ,"ring":SIZE}
 */

static ngx_int_t
ngx_http_b24trigger_api_events(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    ngx_str_t                       s;
    uint64_t                        n;
    ngx_uint_t                      i;
    ngx_array_t                     entries;
    ngx_http_b24trigger_jentry_t   *e;
    ngx_http_b24trigger_jfilter_t   f;
    ngx_http_b24trigger_api_out_t   o;

    ngx_memzero(&f, sizeof(ngx_http_b24trigger_jfilter_t));

    f.result = -1;
    f.limit = NGX_HTTP_B24TRIGGER_API_LIMIT;

    for (i = 0; i < NGX_HTTP_B24TRIGGER_JF_NUMBER; i++) {
        rc = ngx_http_b24trigger_api_arg(r,
                    (char *) ngx_http_b24trigger_journal_field_name(i)->data,
                    &f.str[i]);
        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    rc = ngx_http_b24trigger_api_arg(r, "result", &s);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_OK && s.len) {
        f.result = ngx_http_b24trigger_journal_result(&s);

        if (f.result == NGX_ERROR) {
            return ngx_http_b24trigger_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                                   "result_unknown", NULL);
        }
    }

    if (ngx_http_b24trigger_api_number(r, "since", &n) != NGX_OK) {
        goto invalid;
    }

    f.since = (int64_t) n;

    if (ngx_http_b24trigger_api_number(r, "after", &f.after) != NGX_OK
        || ngx_http_b24trigger_api_number(r, "before", &f.before) != NGX_OK)
    {
        goto invalid;
    }

    n = 0;

    if (ngx_http_b24trigger_api_number(r, "limit", &n) != NGX_OK) {
        goto invalid;
    }

    if (n) {
        f.limit = ngx_min(n, NGX_HTTP_B24TRIGGER_API_LIMIT_MAX);
    }

    if (ngx_array_init(&entries, r->pool, 16,
                       sizeof(ngx_http_b24trigger_jentry_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_b24trigger_journal_find(r->pool, &f, &entries);

    if (rc == NGX_DECLINED) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&o, sizeof(ngx_http_b24trigger_api_out_t));
    o.pool = r->pool;

    if (ngx_http_b24trigger_api_need(&o, sizeof("{\"events\":[")) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    o.pos = ngx_cpymem(o.pos, "{\"events\":[", sizeof("{\"events\":[") - 1);

    e = entries.elts;

    for (i = 0; i < entries.nelts; i++) {
        if (ngx_http_b24trigger_api_need(&o,
                               ngx_http_b24trigger_journal_json_len(&e[i]) + 1)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (i) {
            *o.pos++ = ',';
        }

        o.pos = ngx_http_b24trigger_journal_json(o.pos, &e[i]);
    }

    if (ngx_http_b24trigger_api_need(&o, 2 * NGX_INT64_LEN + 32) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    o.pos = ngx_sprintf(o.pos, "],\"last\":%uL,\"ring\":%ui}", f.last,
                        f.size);

    return ngx_http_b24trigger_api_send(r, NGX_HTTP_OK, &o);

invalid:

    return ngx_http_b24trigger_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                           "argument_invalid", NULL);
}


/*
 * ?view=event&id=ID
 * {"id":ID,"entries":[...oldest first...],"dead_letter":{...}|null}
 */

static ngx_int_t
ngx_http_b24trigger_api_event(ngx_http_request_t *r)
{
    ngx_int_t                         rc;
    ngx_str_t                         id;
    ngx_uint_t                        i;
    ngx_array_t                       entries, dead;
    ngx_http_b24trigger_dead_t       *dl;
    ngx_http_b24trigger_jentry_t     *e;
    ngx_http_b24trigger_jfilter_t     f;
    ngx_http_b24trigger_dfilter_t     df;
    ngx_http_b24trigger_api_out_t     o;
    ngx_http_b24trigger_main_conf_t  *bmcf;

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_b24trigger_module);

    rc = ngx_http_b24trigger_api_arg(r, "id", &id);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK || id.len == 0) {
        return ngx_http_b24trigger_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                               "id_missing", NULL);
    }

    ngx_memzero(&f, sizeof(ngx_http_b24trigger_jfilter_t));

    f.result = -1;
    f.limit = NGX_HTTP_B24TRIGGER_API_LIMIT_MAX;
    f.str[NGX_HTTP_B24TRIGGER_JF_ID] = id;

    if (ngx_array_init(&entries, r->pool, 4,
                       sizeof(ngx_http_b24trigger_jentry_t))
        != NGX_OK
        || ngx_array_init(&dead, r->pool, 1,
                          sizeof(ngx_http_b24trigger_dead_t))
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_b24trigger_journal_find(r->pool, &f, &entries);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (bmcf->spool) {
        ngx_memzero(&df, sizeof(ngx_http_b24trigger_dfilter_t));
        df.id = id;
        df.limit = 1;

        if (ngx_http_b24trigger_dead_list(r->pool, r->connection->log,
                                          bmcf->spool, &df, &dead)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (entries.nelts == 0 && dead.nelts == 0) {
        return ngx_http_b24trigger_reply_error(r, NGX_HTTP_NOT_FOUND,
                                               "not_found", NULL);
    }

    ngx_memzero(&o, sizeof(ngx_http_b24trigger_api_out_t));
    o.pool = r->pool;

    if (ngx_http_b24trigger_api_need(&o,
                     sizeof("{\"id\":\"\",\"entries\":[")
                     + ngx_http_b24trigger_json_escape_len(id.data, id.len))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    o.pos = ngx_cpymem(o.pos, "{\"id\":\"", sizeof("{\"id\":\"") - 1);
    o.pos = ngx_http_b24trigger_json_escape(o.pos, id.data, id.len);
    o.pos = ngx_cpymem(o.pos, "\",\"entries\":[",
                       sizeof("\",\"entries\":[") - 1);

    e = entries.elts;

    /* the journal gives the newest first: a story reads from its start */

    for (i = entries.nelts; i > 0; i--) {
        if (ngx_http_b24trigger_api_need(&o,
                           ngx_http_b24trigger_journal_json_len(&e[i - 1]) + 1)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (i != entries.nelts) {
            *o.pos++ = ',';
        }

        o.pos = ngx_http_b24trigger_journal_json(o.pos, &e[i - 1]);
    }

    dl = dead.elts;

    if (ngx_http_b24trigger_api_need(&o, sizeof("],\"dead_letter\":null}")
                                     + (dead.nelts ? dl[0].json.len : 0))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    o.pos = ngx_cpymem(o.pos, "],\"dead_letter\":",
                       sizeof("],\"dead_letter\":") - 1);

    if (dead.nelts) {
        o.pos = ngx_cpymem(o.pos, dl[0].json.data, dl[0].json.len);

    } else {
        o.pos = ngx_cpymem(o.pos, "null", 4);
    }

    *o.pos++ = '}';

    return ngx_http_b24trigger_api_send(r, NGX_HTTP_OK, &o);
}


/*
 * ?view=dead[&location=][&portal=][&target=][&reason=][&id=][&limit=N]
 * {"dead":[...the files, newest first...],"total":N}
 */

static ngx_int_t
ngx_http_b24trigger_api_dead(ngx_http_request_t *r)
{
    ngx_int_t                         rc;
    ngx_uint_t                        i;
    ngx_array_t                       dead;
    ngx_http_b24trigger_dead_t       *dl;
    ngx_http_b24trigger_dfilter_t     df;
    ngx_http_b24trigger_api_out_t     o;
    ngx_http_b24trigger_main_conf_t  *bmcf;

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_b24trigger_module);

    rc = ngx_http_b24trigger_api_dfilter(r, &df);

    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_array_init(&dead, r->pool, 16,
                       sizeof(ngx_http_b24trigger_dead_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (bmcf->spool
        && ngx_http_b24trigger_dead_list(r->pool, r->connection->log,
                                         bmcf->spool, &df, &dead)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&o, sizeof(ngx_http_b24trigger_api_out_t));
    o.pool = r->pool;

    if (ngx_http_b24trigger_api_need(&o, sizeof("{\"dead\":[")) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    o.pos = ngx_cpymem(o.pos, "{\"dead\":[", sizeof("{\"dead\":[") - 1);

    dl = dead.elts;

    for (i = 0; i < dead.nelts; i++) {
        if (ngx_http_b24trigger_api_need(&o, dl[i].json.len + 1) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (i) {
            *o.pos++ = ',';
        }

        o.pos = ngx_cpymem(o.pos, dl[i].json.data, dl[i].json.len);
    }

    if (ngx_http_b24trigger_api_need(&o, NGX_INT_T_LEN + 16) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    o.pos = ngx_sprintf(o.pos, "],\"total\":%ui}", df.total);

    return ngx_http_b24trigger_api_send(r, NGX_HTTP_OK, &o);
}


/* ?view=token: {"token":"..."}, for a page of the same origin */

static ngx_int_t
ngx_http_b24trigger_api_token(ngx_http_request_t *r)
{
    ngx_http_b24trigger_api_out_t    o;
    ngx_http_b24trigger_loc_conf_t  *blcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_b24trigger_module);

    if (!blcf->manage) {
        return ngx_http_b24trigger_reply_error(r, NGX_HTTP_FORBIDDEN,
                                               "manage_off", NULL);
    }

    if (ngx_http_b24trigger_api_host_known(r) != NGX_OK) {
        return ngx_http_b24trigger_api_refuse(r, NGX_HTTP_FORBIDDEN,
                                              "host_unknown",
                                              "the token asked for by a "
                                              "Host not of this server");
    }

    ngx_memzero(&o, sizeof(ngx_http_b24trigger_api_out_t));
    o.pool = r->pool;

    if (ngx_http_b24trigger_api_need(&o, sizeof(ngx_http_b24trigger_token)
                                         + sizeof("{\"token\":\"\"}"))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    o.pos = ngx_sprintf(o.pos, "{\"token\":\"%*s\"}",
                        sizeof(ngx_http_b24trigger_token),
                        ngx_http_b24trigger_token);

    return ngx_http_b24trigger_api_send(r, NGX_HTTP_OK, &o);
}


/*
 * POST ?action=replay|drop&id=ID, or &all=1 with the filters of
 * ?view=dead: {"action":"replay","ids":[...],"count":N}
 */

/*
 * An action's caller: "manage=on", a Host of this server, the same
 * origin and the token.  NGX_DECLINED: allowed; else the refusal sent
 */

static ngx_int_t
ngx_http_b24trigger_api_allowed(ngx_http_request_t *r)
{
    ngx_str_t                        *h;
    ngx_uint_t                        i;
    const char                       *why;
    ngx_list_part_t                  *part;
    ngx_table_elt_t                  *header;
    ngx_http_b24trigger_loc_conf_t   *blcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_b24trigger_module);

    if (!blcf->manage) {
        return ngx_http_b24trigger_api_refuse(r, NGX_HTTP_FORBIDDEN,
                                              "manage_off",
                                              "b24trigger_status has no "
                                              "manage=on here");
    }

    if (ngx_http_b24trigger_api_host_known(r) != NGX_OK) {
        return ngx_http_b24trigger_api_refuse(r, NGX_HTTP_FORBIDDEN,
                                              "host_unknown",
                                              "the Host is not of this "
                                              "server");
    }

    if (ngx_http_b24trigger_api_same_origin(r, &why) != NGX_OK) {
        return ngx_http_b24trigger_api_refuse(r, NGX_HTTP_FORBIDDEN,
                                              "cross_site", why);
    }

    /* the token: the header, once, and equal (in constant time) */

    h = NULL;
    part = &r->headers_in.headers.part;
    header = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            header = part->elts;
            i = 0;
        }

        if (header[i].key.len == sizeof(NGX_HTTP_B24TRIGGER_TOKEN_HEADER) - 1
            && ngx_strncasecmp(header[i].key.data,
                               (u_char *) NGX_HTTP_B24TRIGGER_TOKEN_HEADER,
                               header[i].key.len) == 0)
        {
            if (h != NULL) {
                h = NULL;
                break;
            }

            h = &header[i].value;
        }
    }

    if (h == NULL || h->len != sizeof(ngx_http_b24trigger_token)
        || CRYPTO_memcmp(h->data, ngx_http_b24trigger_token,
                         sizeof(ngx_http_b24trigger_token)) != 0)
    {
        return ngx_http_b24trigger_api_refuse(r, NGX_HTTP_FORBIDDEN,
                                              "token_invalid",
                                              "no valid "
                                              NGX_HTTP_B24TRIGGER_TOKEN_HEADER
                                              " header");
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_b24trigger_api_action(ngx_http_request_t *r)
{
    size_t                            len;
    ngx_int_t                         rc, replay;
    ngx_str_t                         action, all;
    ngx_uint_t                        i, done, level;
    ngx_array_t                       dead;
    ngx_http_core_loc_conf_t         *clcf;
    ngx_http_b24trigger_dead_t       *dl;
    ngx_http_b24trigger_dfilter_t     df;
    ngx_http_b24trigger_api_out_t     o;
    ngx_http_b24trigger_main_conf_t  *bmcf;

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_b24trigger_module);
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    /* ngx_http_b24trigger_api_allowed() said yes */

    if (ngx_http_arg(r, (u_char *) "action", 6, &action) != NGX_OK) {
        return ngx_http_b24trigger_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                               "action_unknown", NULL);
    }

    if (action.len == 6 && ngx_strncmp(action.data, "replay", 6) == 0) {
        replay = 1;

    } else if (action.len == 4 && ngx_strncmp(action.data, "drop", 4) == 0) {
        replay = 0;

    } else {
        return ngx_http_b24trigger_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                               "action_unknown", NULL);
    }

    if (bmcf->spool == NULL) {
        return ngx_http_b24trigger_reply_error(r, NGX_HTTP_NOT_FOUND,
                                               "not_found", NULL);
    }

    rc = ngx_http_b24trigger_api_dfilter(r, &df);

    if (rc != NGX_OK) {
        return rc;
    }

    /* one id, or all that match, but only when "all=1" says so */

    if (df.id.len == 0) {
        if (ngx_http_arg(r, (u_char *) "all", 3, &all) != NGX_OK
            || all.len != 1 || all.data[0] != '1')
        {
            return ngx_http_b24trigger_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                                   "id_missing", NULL);
        }

        df.limit = NGX_HTTP_B24TRIGGER_API_LIMIT_MAX;
    }

    if (ngx_array_init(&dead, r->pool, 16,
                       sizeof(ngx_http_b24trigger_dead_t))
        != NGX_OK
        || ngx_http_b24trigger_dead_list(r->pool, r->connection->log,
                                         bmcf->spool, &df, &dead)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (df.id.len && dead.nelts == 0) {
        return ngx_http_b24trigger_reply_error(r, NGX_HTTP_NOT_FOUND,
                                               "not_found", NULL);
    }

    dl = dead.elts;
    len = 0;

    for (i = 0; i < dead.nelts; i++) {
        len += dl[i].id.len + 3;
    }

    ngx_memzero(&o, sizeof(ngx_http_b24trigger_api_out_t));
    o.pool = r->pool;

    if (ngx_http_b24trigger_api_need(&o, len + NGX_INT_T_LEN + 64)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    o.pos = ngx_sprintf(o.pos, "{\"action\":\"%s\",\"ids\":[",
                        replay ? "replay" : "drop");
    done = 0;

    for (i = 0; i < dead.nelts; i++) {

        rc = replay
             ? ngx_http_b24trigger_dead_replay(r->pool, r->connection->log,
                                               bmcf->spool, &dl[i].id)
             : ngx_http_b24trigger_dead_drop(r->pool, r->connection->log,
                                             bmcf->spool, &dl[i].id);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc != NGX_OK) {
            /* another request took it meanwhile */
            continue;
        }

        level = replay ? NGX_LOG_NOTICE : NGX_LOG_WARN;

        ngx_log_error(level, r->connection->log, 0,
                      "b24trigger: dead letter \"%V\" for target \"%V\" %s "
                      "through status location \"%V\" by client %V",
                      &dl[i].id,
                      ngx_http_b24trigger_log_value(r->pool, &dl[i].target),
                      replay ? "replayed" : "dropped", &clcf->name,
                      &r->connection->addr_text);

        ngx_http_b24trigger_api_journal(r, replay
                                           ? NGX_HTTP_B24TRIGGER_J_REPLAYED
                                           : NGX_HTTP_B24TRIGGER_J_DROPPED,
                                        &dl[i]);

        if (done++) {
            *o.pos++ = ',';
        }

        o.pos = ngx_sprintf(o.pos, "\"%V\"", &dl[i].id);
    }

    if (replay && done) {
        /* this worker's delivery looks at once, not at its next turn */
        ngx_http_b24trigger_delivery_kick();
    }

    o.pos = ngx_sprintf(o.pos, "],\"count\":%ui}", done);

    if (df.id.len && done == 0) {
        return ngx_http_b24trigger_reply_error(r, NGX_HTTP_NOT_FOUND,
                                               "not_found", NULL);
    }

    return ngx_http_b24trigger_api_send(r, NGX_HTTP_OK, &o);
}


/*
 * A browser says where a request comes from: Sec-Fetch-Site, if sent,
 * must be "same-origin"; Origin, if sent, must be http(s):// and Host.
 * A client that is no browser sends neither and still needs the token.
 */

static ngx_int_t
ngx_http_b24trigger_api_same_origin(ngx_http_request_t *r, const char **why)
{
    size_t            len;
    ngx_str_t        *origin, *site, *host;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *header;

    origin = NULL;
    site = NULL;

    part = &r->headers_in.headers.part;
    header = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            header = part->elts;
            i = 0;
        }

        if (header[i].key.len == 6
            && ngx_strncasecmp(header[i].key.data, (u_char *) "Origin", 6)
               == 0)
        {
            if (origin) {
                *why = "more than one Origin header";
                return NGX_DECLINED;
            }

            origin = &header[i].value;
        }

        if (header[i].key.len == 14
            && ngx_strncasecmp(header[i].key.data,
                               (u_char *) "Sec-Fetch-Site", 14) == 0)
        {
            site = &header[i].value;
        }
    }

    if (site
        && (site->len != 11
            || ngx_strncasecmp(site->data, (u_char *) "same-origin", 11)
               != 0))
    {
        *why = "Sec-Fetch-Site is not same-origin";
        return NGX_DECLINED;
    }

    if (origin == NULL) {
        return NGX_OK;
    }

    *why = "Origin is not this site";

    if (r->headers_in.host == NULL) {
        return NGX_DECLINED;
    }

    host = &r->headers_in.host->value;

    /*
     * the host and port as the browser wrote them; the scheme is not
     * compared, so that a proxy in front that ends TLS changes nothing
     */

    if (origin->len > 8
        && ngx_strncasecmp(origin->data, (u_char *) "https://", 8) == 0)
    {
        len = 8;

    } else if (origin->len > 7
               && ngx_strncasecmp(origin->data, (u_char *) "http://", 7)
                  == 0)
    {
        len = 7;

    } else {
        return NGX_DECLINED;
    }

    if (origin->len - len != host->len
        || ngx_strncasecmp(origin->data + len, host->data, host->len) != 0)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * DNS rebinding: a page of http://evil.example whose name then points at
 * nginx is of the same origin for the browser, Origin and Host agreeing.
 * The token and the actions go only to a Host that is an address,
 * "localhost", or a name of this server {} (server_name: exact, "*." or
 * "." in front, ".*" at the end, or a regex).  NGX_DECLINED if not.
 */

static ngx_int_t
ngx_http_b24trigger_api_host_known(ngx_http_request_t *r)
{
    u_char                          *p, *last, *colon;
    ngx_str_t                        name, sn;
    ngx_uint_t                       i;
    ngx_http_server_name_t          *names;
    ngx_http_b24trigger_loc_conf_t  *blcf;

    if (r->headers_in.host == NULL || r->headers_in.host->value.len == 0) {
        return NGX_DECLINED;
    }

    p = r->headers_in.host->value.data;
    last = p + r->headers_in.host->value.len;

    if (*p == '[') {
        /* an IPv6 address: no name to rebind */
        return NGX_OK;
    }

    colon = ngx_strlchr(p, last, ':');

    name.data = p;
    name.len = (colon ? colon : last) - p;

    while (name.len && p[name.len - 1] == '.') {
        name.len--;
    }

    if (name.len == 0) {
        return NGX_DECLINED;
    }

    if (ngx_inet_addr(p, name.len) != INADDR_NONE
        || (name.len == 9
            && ngx_strncasecmp(p, (u_char *) "localhost", 9) == 0))
    {
        return NGX_OK;
    }

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_b24trigger_module);

    if (blcf->names == NULL) {
        return NGX_DECLINED;
    }

    names = blcf->names->elts;

    for (i = 0; i < blcf->names->nelts; i++) {

#if (NGX_PCRE)
        if (names[i].regex) {
            if (ngx_regex_exec(names[i].regex->regex, &name, NULL, 0) >= 0) {
                return NGX_OK;
            }

            continue;
        }
#endif

        sn = names[i].name;

        if (sn.len == 0) {
            continue;
        }

        if (sn.len > 2 && sn.data[0] == '*' && sn.data[1] == '.') {

            /* "*.example.com": a name under it */

            if (name.len > sn.len - 1
                && ngx_strncasecmp(p + name.len - (sn.len - 1), sn.data + 1,
                                   sn.len - 1)
                   == 0)
            {
                return NGX_OK;
            }

            continue;
        }

        if (sn.len > 1 && sn.data[0] == '.') {

            /* ".example.com": it and the names under it */

            if ((name.len == sn.len - 1
                 && ngx_strncasecmp(p, sn.data + 1, name.len) == 0)
                || (name.len > sn.len
                    && ngx_strncasecmp(p + name.len - sn.len, sn.data,
                                       sn.len)
                       == 0))
            {
                return NGX_OK;
            }

            continue;
        }

        if (sn.len > 2 && sn.data[sn.len - 1] == '*'
            && sn.data[sn.len - 2] == '.')
        {
            /* "www.example.*" */

            if (name.len > sn.len - 1
                && ngx_strncasecmp(p, sn.data, sn.len - 1) == 0)
            {
                return NGX_OK;
            }

            continue;
        }

        if (name.len == sn.len && ngx_strncasecmp(p, sn.data, sn.len) == 0) {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/*
 * The server {}'s names for the check above, copied at configuration
 * time: nginx keeps its own list in the temporary pool only (the names
 * and the regexes themselves are in the configuration's pool)
 */

char *
ngx_http_b24trigger_status_api_names(ngx_conf_t *cf,
    ngx_http_b24trigger_loc_conf_t *blcf)
{
    ngx_http_server_name_t    *sn;
    ngx_http_core_srv_conf_t  *cscf;

    cscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module);

    if (cscf->server_names.nelts == 0) {
        return NGX_CONF_OK;
    }

    blcf->names = ngx_array_create(cf->pool, cscf->server_names.nelts,
                                   sizeof(ngx_http_server_name_t));
    if (blcf->names == NULL) {
        return NGX_CONF_ERROR;
    }

    sn = ngx_array_push_n(blcf->names, cscf->server_names.nelts);
    if (sn == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(sn, cscf->server_names.elts,
               cscf->server_names.nelts * sizeof(ngx_http_server_name_t));

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_b24trigger_api_refuse(ngx_http_request_t *r, ngx_uint_t status,
    const char *error, const char *why)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "b24trigger: status action refused in location \"%V\" "
                  "for client %V: %s (%s)", &clcf->name,
                  &r->connection->addr_text, error, why);

    return ngx_http_b24trigger_reply_error(r, status, error, NULL);
}


/* an argument, URL-decoded; NGX_DECLINED: not given */

static ngx_int_t
ngx_http_b24trigger_api_arg(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    u_char     *dst, *src;
    ngx_str_t   raw;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &raw) != NGX_OK) {
        ngx_str_null(value);
        return NGX_DECLINED;
    }

    dst = ngx_pnalloc(r->pool, raw.len + 1);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    value->data = dst;
    src = raw.data;

    ngx_unescape_uri(&dst, &src, raw.len, 0);

    value->len = dst - value->data;

    return NGX_OK;
}


/* a number argument, 0 if not given; NGX_ERROR: not a number */

static ngx_int_t
ngx_http_b24trigger_api_number(ngx_http_request_t *r, const char *name,
    uint64_t *n)
{
    off_t      v;
    ngx_str_t  raw;

    *n = 0;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &raw) != NGX_OK) {
        return NGX_OK;
    }

    v = ngx_atoof(raw.data, raw.len);

    if (v == NGX_ERROR) {
        return NGX_ERROR;
    }

    *n = (uint64_t) v;

    return NGX_OK;
}


/* the dead letters asked for: NGX_OK, or a status to answer */

static ngx_int_t
ngx_http_b24trigger_api_dfilter(ngx_http_request_t *r,
    ngx_http_b24trigger_dfilter_t *f)
{
    uint64_t  n;

    ngx_memzero(f, sizeof(ngx_http_b24trigger_dfilter_t));

    if (ngx_http_b24trigger_api_arg(r, "id", &f->id) == NGX_ERROR
        || ngx_http_b24trigger_api_arg(r, "portal", &f->portal) == NGX_ERROR
        || ngx_http_b24trigger_api_arg(r, "target", &f->target) == NGX_ERROR
        || ngx_http_b24trigger_api_arg(r, "location", &f->location)
           == NGX_ERROR
        || ngx_http_b24trigger_api_arg(r, "reason", &f->reason) == NGX_ERROR)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_b24trigger_api_number(r, "limit", &n) != NGX_OK) {
        return ngx_http_b24trigger_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                               "argument_invalid", NULL);
    }

    f->limit = n ? ngx_min(n, NGX_HTTP_B24TRIGGER_API_LIMIT_MAX)
                 : NGX_HTTP_B24TRIGGER_API_LIMIT;

    return NGX_OK;
}


/* the journal's entry for an action on a dead letter */

static void
ngx_http_b24trigger_api_journal(ngx_http_request_t *r, ngx_uint_t result,
    ngx_http_b24trigger_dead_t *dl)
{
    ngx_time_t                    *tp;
    ngx_http_b24trigger_jentry_t   e;

    ngx_memzero(&e, sizeof(ngx_http_b24trigger_jentry_t));

    tp = ngx_timeofday();

    e.time = (int64_t) tp->sec * 1000 + tp->msec;
    e.result = result;
    e.status = NGX_HTTP_OK;
    e.attempts = dl->attempts;

    e.str[NGX_HTTP_B24TRIGGER_JF_ID] = dl->id;
    e.str[NGX_HTTP_B24TRIGGER_JF_LOCATION] = dl->location;
    e.str[NGX_HTTP_B24TRIGGER_JF_ADDR] = r->connection->addr_text;
    e.str[NGX_HTTP_B24TRIGGER_JF_TARGET] = dl->target;
    e.str[NGX_HTTP_B24TRIGGER_JF_CODE] = dl->code;
    e.str[NGX_HTTP_B24TRIGGER_JF_PORTAL] = dl->portal;
    e.str[NGX_HTTP_B24TRIGGER_JF_ERROR] = dl->reason;

    ngx_http_b24trigger_journal_add(&e, r->connection->log);
}


static ngx_int_t
ngx_http_b24trigger_api_need(ngx_http_b24trigger_api_out_t *o, size_t len)
{
    u_char  *p;
    size_t   size, used;

    if (o->start && (size_t) (o->last - o->pos) >= len) {
        return NGX_OK;
    }

    used = o->pos - o->start;
    size = ngx_max((size_t) (o->last - o->start) * 2, 4096);

    while (size - used < len) {
        size *= 2;
    }

    p = ngx_pnalloc(o->pool, size);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (used) {
        ngx_memcpy(p, o->start, used);
    }

    o->start = p;
    o->pos = p + used;
    o->last = p + size;

    return NGX_OK;
}


static ngx_int_t
ngx_http_b24trigger_api_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_http_b24trigger_api_out_t *o)
{
    ngx_str_t         body, type;
    ngx_table_elt_t  *h;

    body.data = o->start;
    body.len = o->pos - o->start;

    ngx_str_set(&type, "application/json");

    /* the token and the events are nobody's to keep */

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-store");

    return ngx_http_b24trigger_reply(r, status, &body, &type);
}
