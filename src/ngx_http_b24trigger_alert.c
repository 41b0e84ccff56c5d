
/*
 * Copyright (C) b24trigger authors
 *
 * "b24trigger_alert PORTAL to=USER_ID [on=dead|rejections|all]
 * [every=60s] [threshold=10]": tells a user of the portal, inside
 * Bitrix24 (im.notify.system.add), that queued events went to the dead
 * letters or that webhooks are being refused.  At most one message per
 * every= and portal, across all workers (the zone "b24trigger_alert"):
 * what happens meanwhile is counted and summed up in the next message.
 * The message goes through the portal's bucket and the same non-blocking
 * client as the triggers, with a pool of its own, outside any request.
 * Hears of events from the journal; a message holds no secret: counts,
 * a queue id, a target, a location, error codes.
 */


#include "ngx_http_b24trigger.h"
#include "ngx_http_b24trigger_queue.h"
#include "ngx_http_b24trigger_journal.h"


#define NGX_HTTP_B24TRIGGER_ALERT_ZONE     "b24trigger_alert"
#define NGX_HTTP_B24TRIGGER_ALERT_DEAD     0x01
#define NGX_HTTP_B24TRIGGER_ALERT_REJECTED 0x02

/* a message in flight longer than this is taken for lost (a worker died) */
#define NGX_HTTP_B24TRIGGER_ALERT_LOST     120

#define NGX_HTTP_B24TRIGGER_ALERT_STR      128


/* a rule's state, shared by the workers */

typedef struct {
    int64_t                        last;       /* the last message, ms */
    time_t                         sending;    /* one in flight since */
    ngx_uint_t                     dead;       /* not told yet */
    ngx_uint_t                     rejected;   /* in the window */
    time_t                         window;     /* its start */
    u_short                        len[4];
    u_char                         dead_id[NGX_HTTP_B24TRIGGER_ALERT_STR];
    u_char                         dead_why[NGX_HTTP_B24TRIGGER_ALERT_STR];
    u_char                         rej_where[NGX_HTTP_B24TRIGGER_ALERT_STR];
    u_char                         rej_why[NGX_HTTP_B24TRIGGER_ALERT_STR];
} ngx_http_b24trigger_alert_sh_t;


typedef struct {
    ngx_str_t                      portal_name;
    ngx_http_b24trigger_portal_t  *portal;
    ngx_str_t                      to;         /* USER_ID, digits */
    ngx_uint_t                     on;
    time_t                         every;
    ngx_uint_t                     threshold;
    ngx_uint_t                     index;      /* its state's */

    /* this worker's */
    ngx_event_t                    timer;
    ngx_pool_t                    *pool;       /* of the message in flight */
    ngx_http_b24trigger_call_t    *call;
    ngx_uint_t                     told_dead;
    ngx_uint_t                     told_rejected;
} ngx_http_b24trigger_alert_t;


typedef struct {
    ngx_http_b24trigger_alert_sh_t  *sh;
    ngx_slab_pool_t                 *shpool;
    ngx_uint_t                       n;
} ngx_http_b24trigger_alert_zone_t;


static ngx_int_t ngx_http_b24trigger_alert_init_zone(
    ngx_shm_zone_t *shm_zone, void *data);
static void ngx_http_b24trigger_alert_copy(u_char *dst, u_short *len,
    ngx_str_t *a, ngx_str_t *b);
static void ngx_http_b24trigger_alert_try(ngx_http_b24trigger_alert_t *a,
    ngx_log_t *log);
static void ngx_http_b24trigger_alert_timer(ngx_event_t *ev);
static void ngx_http_b24trigger_alert_done(ngx_http_b24trigger_call_t *call);
static void ngx_http_b24trigger_alert_free(ngx_http_b24trigger_alert_t *a);


static ngx_array_t                       *ngx_http_b24trigger_alerts;
static ngx_http_b24trigger_alert_zone_t  *ngx_http_b24trigger_alert_zone;


char *
ngx_http_b24trigger_alert_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_b24trigger_main_conf_t *bmcf = conf;

    ngx_int_t                     n;
    ngx_str_t                    *value, s;
    ngx_uint_t                    i;
    ngx_array_t                  *alerts;
    ngx_http_b24trigger_alert_t  *a;

    value = cf->args->elts;

    alerts = bmcf->alerts;

    if (alerts == NULL) {
        alerts = ngx_array_create(cf->pool, 2,
                                  sizeof(ngx_http_b24trigger_alert_t));
        if (alerts == NULL) {
            return NGX_CONF_ERROR;
        }

        bmcf->alerts = alerts;
    }

    a = alerts->elts;

    for (i = 0; i < alerts->nelts; i++) {
        if (a[i].portal_name.len == value[1].len
            && ngx_strncmp(a[i].portal_name.data, value[1].data,
                           value[1].len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "b24trigger_alert for portal \"%V\" is "
                               "duplicate", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    a = ngx_array_push(alerts);
    if (a == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(a, sizeof(ngx_http_b24trigger_alert_t));

    a->portal_name = value[1];
    a->on = NGX_HTTP_B24TRIGGER_ALERT_DEAD;
    a->every = 60;
    a->threshold = 10;
    a->index = alerts->nelts - 1;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "to=", 3) == 0) {
            a->to.data = value[i].data + 3;
            a->to.len = value[i].len - 3;

            n = ngx_atoi(a->to.data, a->to.len);
            if (n <= 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "on=", 3) == 0) {
            s.data = value[i].data + 3;
            s.len = value[i].len - 3;

            if (s.len == 4 && ngx_strncmp(s.data, "dead", 4) == 0) {
                a->on = NGX_HTTP_B24TRIGGER_ALERT_DEAD;

            } else if (s.len == 10
                       && ngx_strncmp(s.data, "rejections", 10) == 0)
            {
                a->on = NGX_HTTP_B24TRIGGER_ALERT_REJECTED;

            } else if (s.len == 3 && ngx_strncmp(s.data, "all", 3) == 0) {
                a->on = NGX_HTTP_B24TRIGGER_ALERT_DEAD
                        |NGX_HTTP_B24TRIGGER_ALERT_REJECTED;

            } else {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "every=", 6) == 0) {
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

            a->every = ngx_parse_time(&s, 1);
            if (a->every == (time_t) NGX_ERROR || a->every == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "threshold=", 10) == 0) {
            n = ngx_atoi(value[i].data + 10, value[i].len - 10);
            if (n <= 0) {
                goto invalid;
            }

            a->threshold = n;
            continue;
        }

        goto invalid;
    }

    if (a->to.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "b24trigger_alert for portal \"%V\" needs "
                           "to=USER_ID", &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


/* once every portal is known: the rules' portals, and the zone */

ngx_int_t
ngx_http_b24trigger_alert_init_conf(ngx_conf_t *cf,
    ngx_http_b24trigger_main_conf_t *bmcf)
{
    size_t                             size;
    ngx_str_t                          name;
    ngx_uint_t                         i;
    ngx_array_t                       *alerts;
    ngx_shm_zone_t                    *shm_zone;
    ngx_http_b24trigger_alert_t       *a;
    ngx_http_b24trigger_alert_zone_t  *z;

    alerts = bmcf->alerts;

    if (alerts == NULL) {
        return NGX_OK;
    }

    a = alerts->elts;

    for (i = 0; i < alerts->nelts; i++) {
        a[i].portal = ngx_http_b24trigger_portal_find(bmcf,
                                                      &a[i].portal_name);
        if (a[i].portal == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "b24trigger_alert: unknown portal \"%V\"",
                               &a[i].portal_name);
            return NGX_ERROR;
        }
    }

    z = ngx_pcalloc(cf->pool, sizeof(ngx_http_b24trigger_alert_zone_t));
    if (z == NULL) {
        return NGX_ERROR;
    }

    z->n = alerts->nelts;

    size = 8 * ngx_pagesize
           + z->n * sizeof(ngx_http_b24trigger_alert_sh_t);

    ngx_str_set(&name, NGX_HTTP_B24TRIGGER_ALERT_ZONE);

    shm_zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_http_b24trigger_module);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    shm_zone->init = ngx_http_b24trigger_alert_init_zone;
    shm_zone->data = z;

    bmcf->alert_zone = z;

    return NGX_OK;
}


static ngx_int_t
ngx_http_b24trigger_alert_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_b24trigger_alert_zone_t  *oz = data;

    ngx_http_b24trigger_alert_zone_t  *z;

    z = shm_zone->data;

    if (oz && oz->n == z->n) {
        /* a reload: the rate limits go on */
        z->sh = oz->sh;
        z->shpool = oz->shpool;
        return NGX_OK;
    }

    z->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        z->sh = z->shpool->data;
        return NGX_OK;
    }

    z->sh = ngx_slab_calloc(z->shpool,
                            z->n * sizeof(ngx_http_b24trigger_alert_sh_t));
    if (z->sh == NULL) {
        return NGX_ERROR;
    }

    z->shpool->data = z->sh;

    return NGX_OK;
}


void
ngx_http_b24trigger_alert_init_process(ngx_cycle_t *cycle,
    ngx_http_b24trigger_main_conf_t *bmcf)
{
    ngx_uint_t                    i;
    ngx_http_b24trigger_alert_t  *a;

    ngx_http_b24trigger_alerts = bmcf->alerts;
    ngx_http_b24trigger_alert_zone = bmcf->alert_zone;

    if (bmcf->alerts == NULL) {
        return;
    }

    a = bmcf->alerts->elts;

    for (i = 0; i < bmcf->alerts->nelts; i++) {
        a[i].timer.handler = ngx_http_b24trigger_alert_timer;
        a[i].timer.data = &a[i];
        a[i].timer.log = cycle->log;
        a[i].timer.cancelable = 1;
    }
}


void
ngx_http_b24trigger_alert_exit(ngx_cycle_t *cycle)
{
    ngx_uint_t                        i;
    ngx_http_b24trigger_alert_t      *a;
    ngx_http_b24trigger_alert_zone_t *z;

    if (ngx_http_b24trigger_alerts == NULL) {
        return;
    }

    a = ngx_http_b24trigger_alerts->elts;
    z = ngx_http_b24trigger_alert_zone;

    for (i = 0; i < ngx_http_b24trigger_alerts->nelts; i++) {

        if (a[i].timer.timer_set) {
            ngx_del_timer(&a[i].timer);
        }

        if (a[i].call) {
            ngx_http_b24trigger_call_cancel(a[i].call);

            ngx_shmtx_lock(&z->shpool->mutex);
            z->sh[a[i].index].sending = 0;
            ngx_shmtx_unlock(&z->shpool->mutex);

            ngx_http_b24trigger_alert_free(&a[i]);
        }
    }

    ngx_http_b24trigger_alerts = NULL;
}


/* the journal's entry: a dead letter, or a webhook refused */

void
ngx_http_b24trigger_alert_event(ngx_http_b24trigger_jentry_t *e,
    ngx_log_t *log)
{
    time_t                             now;
    ngx_str_t                         *portal;
    ngx_uint_t                         i, on;
    ngx_http_b24trigger_alert_t       *a;
    ngx_http_b24trigger_alert_sh_t    *sh;
    ngx_http_b24trigger_alert_zone_t  *z;

    z = ngx_http_b24trigger_alert_zone;

    if (ngx_http_b24trigger_alerts == NULL || z == NULL || z->sh == NULL) {
        return;
    }

    if (e->result == NGX_HTTP_B24TRIGGER_J_DEAD) {
        on = NGX_HTTP_B24TRIGGER_ALERT_DEAD;

    } else if (e->result == NGX_HTTP_B24TRIGGER_J_REJECTED) {
        on = NGX_HTTP_B24TRIGGER_ALERT_REJECTED;

    } else {
        return;
    }

    portal = &e->str[NGX_HTTP_B24TRIGGER_JF_PORTAL];
    a = ngx_http_b24trigger_alerts->elts;

    for (i = 0; i < ngx_http_b24trigger_alerts->nelts; i++) {
        if ((a[i].on & on)
            && a[i].portal_name.len == portal->len
            && ngx_strncmp(a[i].portal_name.data, portal->data,
                           portal->len) == 0)
        {
            break;
        }
    }

    if (i == ngx_http_b24trigger_alerts->nelts) {
        return;
    }

    a = &a[i];
    now = ngx_time();

    ngx_shmtx_lock(&z->shpool->mutex);

    sh = &z->sh[a->index];

    if (on == NGX_HTTP_B24TRIGGER_ALERT_DEAD) {
        sh->dead++;

        ngx_http_b24trigger_alert_copy(sh->dead_id, &sh->len[0],
                                       &e->str[NGX_HTTP_B24TRIGGER_JF_ID],
                                       &e->str[NGX_HTTP_B24TRIGGER_JF_TARGET]);
        ngx_http_b24trigger_alert_copy(sh->dead_why, &sh->len[1],
                               &e->str[NGX_HTTP_B24TRIGGER_JF_ERROR],
                               &e->str[NGX_HTTP_B24TRIGGER_JF_PORTAL_ERROR]);

    } else {
        if (sh->rejected < a->threshold && now - sh->window >= a->every) {
            sh->window = now;
            sh->rejected = 0;
        }

        sh->rejected++;

        ngx_http_b24trigger_alert_copy(sh->rej_where, &sh->len[2],
                                   &e->str[NGX_HTTP_B24TRIGGER_JF_LOCATION],
                                   NULL);
        ngx_http_b24trigger_alert_copy(sh->rej_why, &sh->len[3],
                                   &e->str[NGX_HTTP_B24TRIGGER_JF_ERROR],
                                   NULL);
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    ngx_http_b24trigger_alert_try(a, log);
}


/* "A, B" (or "A"), cut to what the slot holds */

static void
ngx_http_b24trigger_alert_copy(u_char *dst, u_short *len, ngx_str_t *a,
    ngx_str_t *b)
{
    u_char  *p, *last;
    size_t   n;

    p = dst;
    last = dst + NGX_HTTP_B24TRIGGER_ALERT_STR;

    n = ngx_min(a->len, (size_t) (last - p));
    p = ngx_cpymem(p, a->data, n);

    if (b && b->len && last - p > 2) {
        *p++ = ',';
        *p++ = ' ';
        n = ngx_min(b->len, (size_t) (last - p));
        p = ngx_cpymem(p, b->data, n);
    }

    *len = (u_short) (p - dst);
}


/*
 * A message if there is something to say and the last one is old
 * enough; else a timer for when it is
 */

static void
ngx_http_b24trigger_alert_try(ngx_http_b24trigger_alert_t *a, ngx_log_t *log)
{
    u_char                            *p;
    time_t                             now;
    int64_t                            now_ms, last;
    ngx_time_t                        *tp;
    size_t                             len;
    ngx_str_t                          host, s1, s2;
    ngx_uint_t                         dead, rejected, rc;
    ngx_msec_t                         delay;
    ngx_pool_t                        *pool;
    ngx_http_b24trigger_call_t        *call;
    ngx_http_b24trigger_alert_sh_t    *sh, snap;
    ngx_http_b24trigger_alert_zone_t  *z;

    z = ngx_http_b24trigger_alert_zone;

    if (a->call || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    tp = ngx_timeofday();
    now = tp->sec;
    now_ms = (int64_t) tp->sec * 1000 + tp->msec;

    ngx_shmtx_lock(&z->shpool->mutex);

    sh = &z->sh[a->index];

    dead = (a->on & NGX_HTTP_B24TRIGGER_ALERT_DEAD) ? sh->dead : 0;
    rejected = ((a->on & NGX_HTTP_B24TRIGGER_ALERT_REJECTED)
                && sh->rejected >= a->threshold) ? sh->rejected : 0;

    if ((dead == 0 && rejected == 0)
        || (sh->sending && now - sh->sending < NGX_HTTP_B24TRIGGER_ALERT_LOST))
    {
        ngx_shmtx_unlock(&z->shpool->mutex);
        return;
    }

    /* to the millisecond: not a message before every= is over */

    if (now_ms - sh->last < (int64_t) a->every * 1000) {

        /* bursts are summed up in the next message */

        ngx_shmtx_unlock(&z->shpool->mutex);

        if (!a->timer.timer_set) {
            ngx_add_timer(&a->timer,
                          (ngx_msec_t) (sh->last + (int64_t) a->every * 1000
                                        - now_ms) + 10);
        }

        return;
    }

    snap = *sh;
    last = sh->last;

    sh->dead -= dead;

    if (rejected) {
        sh->rejected = 0;
        sh->window = now;
    }

    sh->last = now_ms;
    sh->sending = now;

    ngx_shmtx_unlock(&z->shpool->mutex);

    /* the portal's bucket, as for a trigger */

    rc = ngx_http_b24trigger_bucket_take(a->portal, 0, &delay);

    if (rc != NGX_HTTP_B24TRIGGER_BUCKET_OK) {
        goto later;
    }

    /* the cluster's bucket counts it too (bucket=cluster) */

    ngx_http_b24trigger_bucket_charge(a->portal);

    /* outside any request: the request that told us may be gone soon */

    pool = ngx_create_pool(2048, ngx_cycle->log);
    if (pool == NULL) {
        ngx_http_b24trigger_bucket_give_back(a->portal);
        goto later;
    }

    host = ngx_cycle->hostname;

    len = sizeof("b24trigger on : ") - 1 + host.len
          + 2 * (NGX_INT_T_LEN + a->portal->name.len)
          + 4 * NGX_HTTP_B24TRIGGER_ALERT_STR + NGX_TIME_T_LEN + 512;

    p = ngx_pnalloc(pool, len);
    call = ngx_pcalloc(pool, sizeof(ngx_http_b24trigger_call_t));

    if (p == NULL || call == NULL) {
        ngx_destroy_pool(pool);
        ngx_http_b24trigger_bucket_give_back(a->portal);
        goto later;
    }

    call->code.data = p;

    p = ngx_sprintf(p, "b24trigger on %V:", &host);

    if (dead) {
        s1.data = snap.dead_id;
        s1.len = snap.len[0];
        s2.data = snap.dead_why;
        s2.len = snap.len[1];

        p = ngx_sprintf(p, " %ui queued event%s of portal \"%V\" went to "
                        "the dead letters (the last: %V; %V). Replay or "
                        "drop them on the status page.",
                        dead, dead == 1 ? "" : "s", &a->portal->name,
                        &s1, &s2);
    }

    if (rejected) {
        s1.data = snap.rej_where;
        s1.len = snap.len[2];
        s2.data = snap.rej_why;
        s2.len = snap.len[3];

        p = ngx_sprintf(p, " %ui webhooks for portal \"%V\" were refused "
                        "within %T s (the last: location %V, %V).",
                        rejected, &a->portal->name,
                        now - snap.window, &s1, &s2);
    }

    call->code.len = p - call->code.data;

    call->portal = a->portal;
    call->target = a->to;
    call->method = NGX_HTTP_B24TRIGGER_METHOD_NOTIFY;
    call->pool = pool;
    call->log = ngx_cycle->log;
    call->done = ngx_http_b24trigger_alert_done;
    call->data = a;

    a->pool = pool;
    a->call = call;
    a->told_dead = dead;
    a->told_rejected = rejected;

    if (ngx_http_b24trigger_call_start(call) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "b24trigger: alert to user %V of portal \"%V\" "
                      "could not be sent", &a->to, &a->portal->name);

        ngx_shmtx_lock(&z->shpool->mutex);
        sh->sending = 0;
        ngx_shmtx_unlock(&z->shpool->mutex);

        ngx_http_b24trigger_alert_free(a);
    }

    return;

later:

    /* not now: what there was to say is said later */

    ngx_shmtx_lock(&z->shpool->mutex);

    sh->dead += dead;

    if (rejected) {
        sh->rejected += rejected;
        sh->window = snap.window;
    }

    sh->last = last;
    sh->sending = 0;

    ngx_shmtx_unlock(&z->shpool->mutex);

    if (!a->timer.timer_set) {
        ngx_add_timer(&a->timer, ngx_max(delay, 1000));
    }
}


static void
ngx_http_b24trigger_alert_timer(ngx_event_t *ev)
{
    ngx_http_b24trigger_alert_t  *a = ev->data;

    ngx_http_b24trigger_alert_try(a, ev->log);
}


static void
ngx_http_b24trigger_alert_done(ngx_http_b24trigger_call_t *call)
{
    ngx_http_b24trigger_alert_t  *a = call->data;

    ngx_http_b24trigger_alert_zone_t  *z;

    z = ngx_http_b24trigger_alert_zone;

    ngx_shmtx_lock(&z->shpool->mutex);
    z->sh[a->index].sending = 0;
    ngx_shmtx_unlock(&z->shpool->mutex);

    if (call->outcome == NGX_HTTP_B24TRIGGER_CALL_OK) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "b24trigger: alert sent to user %V of portal \"%V\": "
                      "%ui dead letter%s, %ui refused webhook%s",
                      &a->to, &a->portal->name,
                      a->told_dead, a->told_dead == 1 ? "" : "s",
                      a->told_rejected, a->told_rejected == 1 ? "" : "s");

    } else {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "b24trigger: alert to user %V of portal \"%V\" "
                      "failed: %s %ui \"%V\" \"%V\"; it is not repeated",
                      &a->to, &a->portal->name,
                      ngx_http_b24trigger_outcome_name(call->outcome),
                      call->status,
                      ngx_http_b24trigger_log_value(call->pool, &call->error),
                      ngx_http_b24trigger_log_value(call->pool,
                                                  &call->error_description));
    }

    ngx_http_b24trigger_alert_free(a);

    /* what came meanwhile: a timer for when the next one may go */

    ngx_http_b24trigger_alert_try(a, ngx_cycle->log);
}


static void
ngx_http_b24trigger_alert_free(ngx_http_b24trigger_alert_t *a)
{
    a->call = NULL;

    if (a->pool) {
        ngx_destroy_pool(a->pool);
        a->pool = NULL;
    }
}
