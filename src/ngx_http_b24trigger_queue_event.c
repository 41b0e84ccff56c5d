
/*
 * Copyright (C) b24trigger authors
 *
 * A queued event as the spool holds it, one JSON object per file:
 *
 *     {"id":"<arrival ms>-<pid>-<rand>","portal":NAME,"target":TARGET,
 *      "code":CODE,"received":MS,"attempts":N,"location":LOCATION
 *      [,"method":"execute"][,"next_attempt":MS][,"replayed":MS]
 *      [,"lookup":{"entity","field","value","zone","ttl","not_found_ttl",
 *                  "attempts"}]
 *      [,"last_error":{"outcome","status","error","error_description",
 *                      "detail","at"}][,"dead":{"reason","at"}]}
 *
 * written by the request path (ngx_http_b24trigger_queue_enqueue.c), read and
 * updated by delivery (ngx_http_b24trigger_queue_delivery.c): the one place
 * where the format is said.  Members it does not know are kept as they
 * are.  Knows JSON, nothing of files, requests or the portal's answers
 * beyond what a finished call reports.
 */


#include "ngx_http_b24trigger_queue.h"

#include <jansson.h>


static ngx_uint_t ngx_http_b24trigger_event_id_valid(ngx_str_t *id);
static ngx_int_t ngx_http_b24trigger_event_str(json_t *root,
    const char *key, ngx_str_t *s);
static ngx_int_t ngx_http_b24trigger_event_lookup(json_t *root,
    ngx_http_b24trigger_lookup_spec_t *spec);


/* a new event, as one line */

ngx_int_t
ngx_http_b24trigger_event_write(ngx_pool_t *pool,
    ngx_http_b24trigger_record_t *rec, ngx_str_t *out)
{
    size_t   len;
    json_t  *root;

    root = json_pack("{s:s%,s:s%,s:s%,s:s%,s:I,s:I,s:s%}",
                     "id", rec->id.data, rec->id.len,
                     "portal", rec->portal.data, rec->portal.len,
                     "target",
                     rec->target.data ? (char *) rec->target.data : "",
                     rec->target.len,
                     "code", rec->code.data ? (char *) rec->code.data : "",
                     rec->code.len,
                     "received", (json_int_t) rec->received,
                     "attempts", (json_int_t) rec->attempts,
                     "location", rec->location.data, rec->location.len);
    if (root == NULL) {
        return NGX_ERROR;
    }

    if (rec->method == NGX_HTTP_B24TRIGGER_METHOD_EXECUTE
        && json_object_set_new(root, "method", json_string("execute")) != 0)
    {
        json_decref(root);
        return NGX_ERROR;
    }

    /* the target is found when the event is delivered */

    if (rec->lookup.value.len
        && json_object_set_new(root, "lookup",
               json_pack("{s:s%,s:s%,s:s%,s:s%,s:I,s:I,s:I}",
                         "entity", rec->lookup.entity.data,
                         rec->lookup.entity.len,
                         "field", rec->lookup.field.data,
                         rec->lookup.field.len,
                         "value", rec->lookup.value.data,
                         rec->lookup.value.len,
                         "zone", rec->lookup.zone.data,
                         rec->lookup.zone.len,
                         "ttl", (json_int_t) rec->lookup.ttl,
                         "not_found_ttl",
                         (json_int_t) rec->lookup.not_found_ttl,
                         "attempts", (json_int_t) rec->lookup.attempts))
           != 0)
    {
        json_decref(root);
        return NGX_ERROR;
    }

    len = json_dumpb(root, NULL, 0, JSON_COMPACT);

    out->data = ngx_pnalloc(pool, len + 1);
    if (out->data == NULL) {
        json_decref(root);
        return NGX_ERROR;
    }

    out->len = json_dumpb(root, (char *) out->data, len, JSON_COMPACT);
    json_decref(root);

    out->data[out->len++] = '\n';

    return NGX_OK;
}


/*
 * The event of a file's bytes: NGX_DECLINED when they are not one (*why
 * says so when words help, else NULL).  The strings point into the
 * event's JSON and live as long as it: the caller frees it with
 * ngx_http_b24trigger_event_free(), in every case.
 */

ngx_int_t
ngx_http_b24trigger_event_read(ngx_http_b24trigger_record_t *rec,
    u_char *buf, size_t len, const char **why)
{
    json_t        *root, *v;
    ngx_str_t      s;
    json_error_t   err;

    *why = NULL;

    root = json_loadb((char *) buf, len, 0, &err);

    rec->root = root;

    if (root == NULL || !json_is_object(root)) {
        return NGX_DECLINED;
    }

    if (ngx_http_b24trigger_event_str(root, "id", &rec->id) != NGX_OK) {
        return NGX_DECLINED;
    }

    /* it names the dead letter and the retries: never a path */

    if (!ngx_http_b24trigger_event_id_valid(&rec->id)) {
        *why = "has an invalid id";
        return NGX_DECLINED;
    }

    if (ngx_http_b24trigger_event_str(root, "target", &rec->target)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    (void) ngx_http_b24trigger_event_str(root, "code", &rec->code);
    (void) ngx_http_b24trigger_event_str(root, "location", &rec->location);

    rec->method = NGX_HTTP_B24TRIGGER_METHOD_TRIGGER;

    if (ngx_http_b24trigger_event_str(root, "method", &s) == NGX_OK
        && s.len == sizeof("execute") - 1
        && ngx_strncmp(s.data, "execute", s.len) == 0)
    {
        rec->method = NGX_HTTP_B24TRIGGER_METHOD_EXECUTE;
    }

    v = json_object_get(root, "received");
    rec->received = json_is_integer(v) ? json_integer_value(v) : 0;

    v = json_object_get(root, "attempts");
    rec->attempts = json_is_integer(v) ? (ngx_uint_t) json_integer_value(v)
                                       : 0;

    rec->dead = (json_object_get(root, "dead") != NULL);

    if (ngx_http_b24trigger_event_lookup(root, &rec->lookup) != NGX_OK) {
        *why = "has an invalid lookup";
        return NGX_DECLINED;
    }

    /* checked by the caller after a replay: an event may have lost it */

    (void) ngx_http_b24trigger_event_str(root, "portal", &rec->portal);

    return NGX_OK;
}


/* a dead letter moved back by hand: a fresh start */

ngx_int_t
ngx_http_b24trigger_event_replay(ngx_http_b24trigger_record_t *rec,
    int64_t now)
{
    (void) json_object_del(rec->root, "dead");

    rec->dead = 0;
    rec->attempts = 0;
    rec->received = now;

    if (json_object_set_new(rec->root, "replayed", json_integer(now)) != 0) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* what the last call got, kept in the event for whoever reads it */

ngx_int_t
ngx_http_b24trigger_event_failed(ngx_http_b24trigger_record_t *rec,
    ngx_http_b24trigger_call_t *call, const char *outcome, int64_t now)
{
    json_t  *e;

    e = json_pack("{s:s,s:I,s:s%,s:s%,s:s%,s:I}",
                  "outcome", outcome,
                  "status", (json_int_t) call->status,
                  "error", call->error.data ? (char *) call->error.data : "",
                  call->error.len,
                  "error_description",
                  call->error_description.data
                  ? (char *) call->error_description.data : "",
                  call->error_description.len,
                  "detail",
                  call->detail.data ? (char *) call->detail.data : "",
                  call->detail.len,
                  "at", (json_int_t) now);

    if (e == NULL || json_object_set_new(rec->root, "last_error", e) != 0) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* back to the queue: the calls made so far and when the next one is due */

ngx_int_t
ngx_http_b24trigger_event_retry(ngx_http_b24trigger_record_t *rec,
    int64_t next)
{
    if (json_object_set_new(rec->root, "attempts",
                            json_integer(rec->attempts)) != 0
        || json_object_set_new(rec->root, "next_attempt", json_integer(next))
           != 0)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * How long a failed event waits: backoff= doubled per call made, capped
 * at backoff_max=, less up to a quarter at random (so that events that
 * failed together do not come back together), and never before the
 * portal's own Retry-After.  The same for the spool and the Redis queue.
 */

ngx_msec_t
ngx_http_b24trigger_event_backoff(ngx_http_b24trigger_spool_t *spool,
    ngx_http_b24trigger_record_t *rec, ngx_http_b24trigger_call_t *call)
{
    ngx_uint_t  i;
    ngx_msec_t  delay;

    delay = spool->backoff;

    for (i = 1; i < rec->attempts && delay < spool->backoff_max; i++) {
        delay *= 2;
    }

    delay = ngx_min(delay, spool->backoff_max);
    delay -= (ngx_msec_t) ngx_random() % (delay / 4 + 1);

    if (call->outcome == NGX_HTTP_B24TRIGGER_CALL_RATE_LIMITED
        && (ngx_msec_t) call->retry_after * 1000 > delay)
    {
        delay = (ngx_msec_t) call->retry_after * 1000;
    }

    return delay;
}


/*
 * What a call's outcome makes of a queued event, for the spool and the
 * Redis queue alike: delivered, tried again, or a dead letter (*reason)
 */

ngx_uint_t
ngx_http_b24trigger_event_verdict(ngx_http_b24trigger_record_t *rec,
    ngx_http_b24trigger_call_t *call, const char **reason)
{
    switch (call->outcome) {

    case NGX_HTTP_B24TRIGGER_CALL_OK:
        return NGX_HTTP_B24TRIGGER_EVENT_DELIVERED;

    case NGX_HTTP_B24TRIGGER_CALL_PORTAL_ERROR:

        /*
         * the portal judged the call: a target or credentials error (400,
         * 401, 403, 404) will not change by repeating it; a 5xx may
         */

        if (call->status < 500) {
            *reason = "portal_error";
            return NGX_HTTP_B24TRIGGER_EVENT_DEAD;
        }

        return NGX_HTTP_B24TRIGGER_EVENT_RETRY;

    case NGX_HTTP_B24TRIGGER_CALL_AMBIGUOUS:

        /* never a guess: a human decides, and may replay the letter */

        *reason = "target_ambiguous";
        return NGX_HTTP_B24TRIGGER_EVENT_DEAD;

    case NGX_HTTP_B24TRIGGER_CALL_NOT_FOUND:

        /* the CRM may not have it yet: tried again, "attempts=" times */

        if (rec->attempts >= rec->lookup.attempts) {
            *reason = "target_not_found";
            return NGX_HTTP_B24TRIGGER_EVENT_DEAD;
        }

        return NGX_HTTP_B24TRIGGER_EVENT_RETRY;

    default:
        return NGX_HTTP_B24TRIGGER_EVENT_RETRY;
    }
}


/* to the dead letters: why, and when */

ngx_int_t
ngx_http_b24trigger_event_dead(ngx_http_b24trigger_record_t *rec,
    const char *reason, int64_t now)
{
    json_t  *dead;

    dead = json_pack("{s:s,s:I}", "reason", reason, "at", (json_int_t) now);

    if (dead == NULL
        || json_object_set_new(rec->root, "dead", dead) != 0
        || json_object_set_new(rec->root, "attempts",
                               json_integer(rec->attempts)) != 0)
    {
        return NGX_ERROR;
    }

    (void) json_object_del(rec->root, "next_attempt");

    return NGX_OK;
}


/* the event as a file's bytes: one line, or indented for a human */

u_char *
ngx_http_b24trigger_event_dump(ngx_pool_t *pool,
    ngx_http_b24trigger_record_t *rec, ngx_uint_t indent, size_t *len)
{
    u_char  *data;
    size_t   n, flags;

    flags = indent ? JSON_INDENT(2) : JSON_COMPACT;

    n = json_dumpb(rec->root, NULL, 0, flags);
    if (n == 0) {
        return NULL;
    }

    data = ngx_pnalloc(pool, n + 1);
    if (data == NULL) {
        return NULL;
    }

    *len = json_dumpb(rec->root, (char *) data, n, flags);
    data[(*len)++] = '\n';

    return data;
}


void
ngx_http_b24trigger_event_free(ngx_http_b24trigger_record_t *rec)
{
    if (rec->root) {
        json_decref(rec->root);
        rec->root = NULL;
    }
}


static ngx_uint_t
ngx_http_b24trigger_event_id_valid(ngx_str_t *id)
{
    u_char      c;
    ngx_uint_t  i;

    if (id->len == 0 || id->len > NGX_HTTP_B24TRIGGER_EVENT_ID_MAX
        || id->data[0] == '.')
    {
        return 0;
    }

    for (i = 0; i < id->len; i++) {
        c = id->data[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
              || (c >= 'A' && c <= 'Z') || c == '-' || c == '_'
              || c == '.'))
        {
            return 0;
        }

        if (c == '.' && i + 1 < id->len && id->data[i + 1] == '.') {
            return 0;
        }
    }

    return 1;
}


/* "lookup", if any: every member, or the event is not one of ours */

static ngx_int_t
ngx_http_b24trigger_event_lookup(json_t *root,
    ngx_http_b24trigger_lookup_spec_t *spec)
{
    json_t  *lk, *v;

    ngx_memzero(spec, sizeof(ngx_http_b24trigger_lookup_spec_t));

    lk = json_object_get(root, "lookup");

    if (lk == NULL) {
        return NGX_OK;
    }

    if (!json_is_object(lk)
        || ngx_http_b24trigger_event_str(lk, "entity", &spec->entity)
           != NGX_OK
        || ngx_http_b24trigger_event_str(lk, "field", &spec->field) != NGX_OK
        || ngx_http_b24trigger_event_str(lk, "value", &spec->value) != NGX_OK
        || ngx_http_b24trigger_event_str(lk, "zone", &spec->zone) != NGX_OK
        || spec->value.len == 0)
    {
        return NGX_DECLINED;
    }

    v = json_object_get(lk, "ttl");
    spec->ttl = json_is_integer(v) ? (time_t) json_integer_value(v) : 0;

    v = json_object_get(lk, "not_found_ttl");
    spec->not_found_ttl = json_is_integer(v)
                          ? (time_t) json_integer_value(v) : 0;

    v = json_object_get(lk, "attempts");
    spec->attempts = (json_is_integer(v) && json_integer_value(v) > 0)
                     ? (ngx_uint_t) json_integer_value(v) : 1;

    return NGX_OK;
}


static ngx_int_t
ngx_http_b24trigger_event_str(json_t *root, const char *key, ngx_str_t *s)
{
    json_t  *v;

    v = json_object_get(root, key);

    if (v == NULL || !json_is_string(v)) {
        return NGX_DECLINED;
    }

    /* valid while root lives, i.e. as long as the event */

    s->data = (u_char *) json_string_value(v);
    s->len = json_string_length(v);

    return NGX_OK;
}
