
/*
 * Copyright (C) b24trigger authors
 *
 * The b24trigger_status location: the counters (ngx_http_b24trigger_stats.c)
 * as JSON or in the Prometheus text format, the gauges refreshed as it is
 * asked; the journal's API (ngx_http_b24trigger_status_api.c) and the page
 * (ngx_http_b24trigger_status_page.c) behind the same location.
 */


#include "ngx_http_b24trigger_stats.h"


#define NGX_HTTP_B24TRIGGER_QUEUES_MAX  16


typedef struct {
    u_char                      *pos;
    u_char                      *last;
    u_char                      *start;
    ngx_pool_t                  *pool;
} ngx_http_b24trigger_out_t;


static ngx_int_t ngx_http_b24trigger_out(ngx_http_b24trigger_out_t *o,
    size_t len);
static void ngx_http_b24trigger_out_str(ngx_http_b24trigger_out_t *o,
    u_char *s, size_t len, ngx_uint_t json);
static void ngx_http_b24trigger_stats_refresh(ngx_http_request_t *r);
static ngx_int_t ngx_http_b24trigger_status_json(
    ngx_http_b24trigger_out_t *o);
static ngx_int_t ngx_http_b24trigger_status_prometheus(
    ngx_http_b24trigger_out_t *o);


/* the zone being shown, for the request being answered */

static ngx_http_b24trigger_stats_ctx_t  *ngx_http_b24trigger_stats;


/*
 * "b24trigger_status": JSON, or Prometheus for ?format=prometheus; the
 * journal's API (ngx_http_b24trigger_status_api.c) for ?view= and POST;
 * the page for a browser (ngx_http_b24trigger_status_page.c)
 */

ngx_int_t
ngx_http_b24trigger_status_handler(ngx_http_request_t *r)
{
    ngx_int_t                         rc;
    ngx_str_t                         body, type, format;
    ngx_uint_t                        prometheus;
    ngx_http_b24trigger_out_t         o;
    ngx_http_b24trigger_stats_ctx_t  *ctx;

    /* the journal's API: ?view=..., and the POST actions */

    rc = ngx_http_b24trigger_status_api(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    /* a browser: the page (?format=html, Accept), its script and style */

    rc = ngx_http_b24trigger_status_page(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    prometheus = 0;

    if (ngx_http_arg(r, (u_char *) "format", 6, &format) == NGX_OK) {
        if (format.len == 10
            && ngx_strncmp(format.data, "prometheus", 10) == 0)
        {
            prometheus = 1;

        } else if (format.len != 4
                   || ngx_strncmp(format.data, "json", 4) != 0)
        {
            return NGX_HTTP_BAD_REQUEST;
        }

    } else if (r->headers_in.accept
               && (ngx_strlcasestrn(r->headers_in.accept->value.data,
                                    r->headers_in.accept->value.data
                                    + r->headers_in.accept->value.len,
                                    (u_char *) "text/plain", 10 - 1)
                   || ngx_strlcasestrn(r->headers_in.accept->value.data,
                                       r->headers_in.accept->value.data
                                       + r->headers_in.accept->value.len,
                                       (u_char *) "openmetrics", 11 - 1))
               && !ngx_strlcasestrn(r->headers_in.accept->value.data,
                                    r->headers_in.accept->value.data
                                    + r->headers_in.accept->value.len,
                                    (u_char *) "application/json", 16 - 1))
    {
        prometheus = 1;
    }

    ngx_memzero(&o, sizeof(ngx_http_b24trigger_out_t));
    o.pool = r->pool;

    ctx = ngx_http_b24trigger_stats_zone();
    ngx_http_b24trigger_stats = ctx;

    if (ctx == NULL || ctx->sh == NULL) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    ngx_http_b24trigger_stats_flush();
    ngx_http_b24trigger_stats_refresh(r);

    ngx_shmtx_lock(&ctx->shpool->mutex);

    rc = prometheus ? ngx_http_b24trigger_status_prometheus(&o)
                    : ngx_http_b24trigger_status_json(&o);

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.data = o.start;
    body.len = o.pos - o.start;

    if (prometheus) {
        ngx_str_set(&type, "text/plain; version=0.0.4; charset=utf-8");

    } else {
        ngx_str_set(&type, "application/json");
    }

    return ngx_http_b24trigger_reply(r, NGX_HTTP_OK, &body, &type);
}


static ngx_int_t
ngx_http_b24trigger_status_json(ngx_http_b24trigger_out_t *o)
{
    u_char                        *l1, *l2;
    ngx_uint_t                     m, first, first1, first2;
    ngx_queue_t                   *q, *q2;
    ngx_atomic_uint_t              count, total, sum;
    ngx_http_b24trigger_stat_t    *s, *s2;
    ngx_http_b24trigger_metric_t  *mt;

    if (ngx_http_b24trigger_out(o, sizeof(NGX_HTTP_B24TRIGGER_VERSION) + 16)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    o->pos = ngx_sprintf(o->pos, "{\"version\":\"%s\"",
                         NGX_HTTP_B24TRIGGER_VERSION);
    first = 0;

    for (m = 0; m < NGX_HTTP_B24TRIGGER_M_LATENCY_BUCKET; m++) {
        mt = &ngx_http_b24trigger_metrics[m];

        if (ngx_http_b24trigger_out(o, 64) != NGX_OK) {
            return NGX_ERROR;
        }

        o->pos = ngx_sprintf(o->pos, "%s\"%s\":{", first ? "" : ",",
                             mt->json);
        first = 0;
        first1 = 1;

        /* group by the first label, in the order series appeared */

        for (q = ngx_queue_head(&ngx_http_b24trigger_stats->sh->all);
             q != ngx_queue_sentinel(&ngx_http_b24trigger_stats->sh->all);
             q = ngx_queue_next(q))
        {
            s = ngx_queue_data(q, ngx_http_b24trigger_stat_t, queue);

            if (m == NGX_HTTP_B24TRIGGER_M_LATENCY) {
                if (s->metric != NGX_HTTP_B24TRIGGER_M_LATENCY_SUM) {
                    continue;
                }

            } else if (s->metric != m) {
                continue;
            }

            l1 = s->data;

            /* seen already under an earlier series of the same label */

            for (q2 = ngx_queue_head(&ngx_http_b24trigger_stats->sh->all);
                 q2 != q;
                 q2 = ngx_queue_next(q2))
            {
                s2 = ngx_queue_data(q2, ngx_http_b24trigger_stat_t, queue);

                if (s2->metric == s->metric && s2->len1 == s->len1
                    && ngx_memcmp(s2->data, l1, s->len1) == 0)
                {
                    break;
                }
            }

            if (q2 != q) {
                continue;
            }

            if (ngx_http_b24trigger_out(o, 8) != NGX_OK) {
                return NGX_ERROR;
            }

            if (!first1) {
                *o->pos++ = ',';
            }

            first1 = 0;

            ngx_http_b24trigger_out_str(o, l1, s->len1, 1);

            if (ngx_http_b24trigger_out(o, 64) != NGX_OK) {
                return NGX_ERROR;
            }

            *o->pos++ = ':';

            if (mt->label2 == NULL && m != NGX_HTTP_B24TRIGGER_M_LATENCY) {
                if (m == NGX_HTTP_B24TRIGGER_M_CLUSTER_LATENCY) {
                    /* kept in ms, shown in seconds */
                    o->pos = ngx_sprintf(o->pos, "%A.%03A", s->value / 1000,
                                         s->value % 1000);
                    continue;
                }

                o->pos = ngx_sprintf(o->pos, "%A", s->value);
                continue;
            }

            *o->pos++ = '{';
            first2 = 1;
            count = 0;
            total = 0;
            sum = (m == NGX_HTTP_B24TRIGGER_M_LATENCY) ? s->value : 0;

            if (m == NGX_HTTP_B24TRIGGER_M_LATENCY) {
                o->pos = ngx_sprintf(o->pos, "\"le\":{");
            }

            /* the histogram's buckets came before its sum */

            q2 = (m == NGX_HTTP_B24TRIGGER_M_LATENCY)
                 ? ngx_queue_head(&ngx_http_b24trigger_stats->sh->all) : q;

            for ( /* void */ ;
                 q2 != ngx_queue_sentinel(&ngx_http_b24trigger_stats->sh->all);
                 q2 = ngx_queue_next(q2))
            {
                s2 = ngx_queue_data(q2, ngx_http_b24trigger_stat_t, queue);

                if (s2->len1 != s->len1
                    || ngx_memcmp(s2->data, l1, s->len1) != 0)
                {
                    continue;
                }

                if (m == NGX_HTTP_B24TRIGGER_M_LATENCY) {
                    if (s2->metric != NGX_HTTP_B24TRIGGER_M_LATENCY_BUCKET) {
                        continue;
                    }

                } else if (s2->metric != m) {
                    continue;
                }

                l2 = s2->data + s2->len1;

                if (ngx_http_b24trigger_out(o, 8) != NGX_OK) {
                    return NGX_ERROR;
                }

                if (!first2) {
                    *o->pos++ = ',';
                }

                first2 = 0;

                ngx_http_b24trigger_out_str(o, l2, s2->len2, 1);

                if (ngx_http_b24trigger_out(o, 32) != NGX_OK) {
                    return NGX_ERROR;
                }

                o->pos = ngx_sprintf(o->pos, ":%A", s2->value);
                total += s2->value;
            }

            count = total;

            if (m == NGX_HTTP_B24TRIGGER_M_LATENCY) {
                if (ngx_http_b24trigger_out(o, 96) != NGX_OK) {
                    return NGX_ERROR;
                }

                o->pos = ngx_sprintf(o->pos,
                                     "},\"count\":%A,\"sum\":%A.%03A",
                                     count, sum / 1000, sum % 1000);
            }

            *o->pos++ = '}';
        }

        if (ngx_http_b24trigger_out(o, 2) != NGX_OK) {
            return NGX_ERROR;
        }

        *o->pos++ = '}';
    }

    if (ngx_http_b24trigger_out(o, 2) != NGX_OK) {
        return NGX_ERROR;
    }

    *o->pos++ = '}';
    *o->pos++ = '\n';

    return NGX_OK;
}


static ngx_int_t
ngx_http_b24trigger_status_prometheus(ngx_http_b24trigger_out_t *o)
{
    u_char                        *l1, *l2;
    ngx_uint_t                     m, i, nle;
    ngx_queue_t                   *q, *q2;
    ngx_atomic_uint_t              cum, v, sum;
    ngx_http_b24trigger_stat_t    *s, *s2;
    ngx_http_b24trigger_metric_t  *mt;

    nle = ngx_http_b24trigger_nle;

    if (ngx_http_b24trigger_out(o, sizeof(NGX_HTTP_B24TRIGGER_VERSION) + 128)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    o->pos = ngx_sprintf(o->pos,
                         "# HELP b24trigger_info The module's version.\n"
                         "# TYPE b24trigger_info gauge\n"
                         "b24trigger_info{version=\"%s\"} 1\n",
                         NGX_HTTP_B24TRIGGER_VERSION);

    for (m = 0; m < NGX_HTTP_B24TRIGGER_M_LATENCY_BUCKET; m++) {
        mt = &ngx_http_b24trigger_metrics[m];

        if (ngx_http_b24trigger_out(o, 512) != NGX_OK) {
            return NGX_ERROR;
        }

        o->pos = ngx_sprintf(o->pos, "# HELP %s %s\n# TYPE %s %s\n",
                             mt->name, mt->help, mt->name, mt->type);

        for (q = ngx_queue_head(&ngx_http_b24trigger_stats->sh->all);
             q != ngx_queue_sentinel(&ngx_http_b24trigger_stats->sh->all);
             q = ngx_queue_next(q))
        {
            s = ngx_queue_data(q, ngx_http_b24trigger_stat_t, queue);
            l1 = s->data;

            if (m != NGX_HTTP_B24TRIGGER_M_LATENCY) {

                if (s->metric != m) {
                    continue;
                }

                if (ngx_http_b24trigger_out(o, 128) != NGX_OK) {
                    return NGX_ERROR;
                }

                o->pos = ngx_sprintf(o->pos, "%s{%s=\"", mt->name,
                                     mt->label1);
                ngx_http_b24trigger_out_str(o, l1, s->len1, 0);

                if (ngx_http_b24trigger_out(o, 128) != NGX_OK) {
                    return NGX_ERROR;
                }

                if (mt->label2) {
                    o->pos = ngx_sprintf(o->pos, "\",%s=\"", mt->label2);
                    ngx_http_b24trigger_out_str(o, l1 + s->len1, s->len2, 0);
                }

                if (ngx_http_b24trigger_out(o, 64) != NGX_OK) {
                    return NGX_ERROR;
                }

                if (m == NGX_HTTP_B24TRIGGER_M_CLUSTER_LATENCY) {
                    o->pos = ngx_sprintf(o->pos, "\"} %A.%03A\n",
                                         s->value / 1000, s->value % 1000);
                    continue;
                }

                o->pos = ngx_sprintf(o->pos, "\"} %A\n", s->value);
                continue;
            }

            /* the histogram of one portal: cumulative buckets, sum, count */

            if (s->metric != NGX_HTTP_B24TRIGGER_M_LATENCY_SUM) {
                continue;
            }

            sum = s->value;
            cum = 0;

            for (i = 0; i < nle; i++) {
                v = 0;

                for (q2 = ngx_queue_head(&ngx_http_b24trigger_stats->sh->all);
                     q2 != ngx_queue_sentinel(
                                         &ngx_http_b24trigger_stats->sh->all);
                     q2 = ngx_queue_next(q2))
                {
                    s2 = ngx_queue_data(q2, ngx_http_b24trigger_stat_t,
                                        queue);
                    l2 = s2->data + s2->len1;

                    if (s2->metric == NGX_HTTP_B24TRIGGER_M_LATENCY_BUCKET
                        && s2->len1 == s->len1
                        && ngx_memcmp(s2->data, l1, s->len1) == 0
                        && s2->len2 == ngx_http_b24trigger_le[i].len
                        && ngx_memcmp(l2, ngx_http_b24trigger_le[i].data,
                                      s2->len2) == 0)
                    {
                        v = s2->value;
                        break;
                    }
                }

                cum += v;

                if (ngx_http_b24trigger_out(o, 128) != NGX_OK) {
                    return NGX_ERROR;
                }

                o->pos = ngx_sprintf(o->pos, "%s_bucket{portal=\"",
                                     mt->name);
                ngx_http_b24trigger_out_str(o, l1, s->len1, 0);

                if (ngx_http_b24trigger_out(o, 128) != NGX_OK) {
                    return NGX_ERROR;
                }

                o->pos = ngx_sprintf(o->pos, "\",le=\"%V\"} %A\n",
                                     &ngx_http_b24trigger_le[i], cum);
            }

            if (ngx_http_b24trigger_out(o, 256) != NGX_OK) {
                return NGX_ERROR;
            }

            o->pos = ngx_sprintf(o->pos, "%s_sum{portal=\"", mt->name);
            ngx_http_b24trigger_out_str(o, l1, s->len1, 0);

            if (ngx_http_b24trigger_out(o, 256) != NGX_OK) {
                return NGX_ERROR;
            }

            o->pos = ngx_sprintf(o->pos, "\"} %A.%03A\n%s_count{portal=\"",
                                 sum / 1000, sum % 1000, mt->name);
            ngx_http_b24trigger_out_str(o, l1, s->len1, 0);

            if (ngx_http_b24trigger_out(o, 64) != NGX_OK) {
                return NGX_ERROR;
            }

            o->pos = ngx_sprintf(o->pos, "\"} %A\n", cum);
        }
    }

    return NGX_OK;
}


/*
 * Gauges read when shown: each portal's bucket now, and the age of the
 * oldest queued event from its arrival time, which the delivery scan
 * publishes
 */

static void
ngx_http_b24trigger_stats_refresh(ngx_http_request_t *r)
{
    int64_t                           now, arrival, age;
    ngx_str_t                         name;
    ngx_time_t                       *tp;
    ngx_uint_t                        i, n;
    ngx_queue_t                      *q;
    ngx_http_b24trigger_stat_t       *s;
    ngx_http_b24trigger_stat_t       *arrivals[NGX_HTTP_B24TRIGGER_QUEUES_MAX];
    ngx_http_b24trigger_portal_t     *portal;
    ngx_http_b24trigger_main_conf_t  *bmcf;

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_b24trigger_module);

    portal = bmcf->portals.elts;

    for (i = 0; i < bmcf->portals.nelts; i++) {
        ngx_http_b24trigger_stats_set(NGX_HTTP_B24TRIGGER_M_BUCKET_LEVEL,
                                      &portal[i].name, NULL,
                                      ngx_http_b24trigger_bucket_level(
                                                                &portal[i]));
    }

    tp = ngx_timeofday();
    now = (int64_t) tp->sec * 1000 + tp->msec;
    n = 0;

    ngx_shmtx_lock(&ngx_http_b24trigger_stats->shpool->mutex);

    for (q = ngx_queue_head(&ngx_http_b24trigger_stats->sh->all);
         q != ngx_queue_sentinel(&ngx_http_b24trigger_stats->sh->all)
         && n < NGX_HTTP_B24TRIGGER_QUEUES_MAX;
         q = ngx_queue_next(q))
    {
        s = ngx_queue_data(q, ngx_http_b24trigger_stat_t, queue);

        if (s->metric == NGX_HTTP_B24TRIGGER_M_QUEUE_ARRIVAL) {
            arrivals[n++] = s;
        }
    }

    ngx_shmtx_unlock(&ngx_http_b24trigger_stats->shpool->mutex);

    /* series are never freed: their labels stay where they are */

    for (i = 0; i < n; i++) {
        arrival = (int64_t) arrivals[i]->value;
        age = (arrival && now > arrival) ? (now - arrival) / 1000 : 0;

        name.data = arrivals[i]->data;
        name.len = arrivals[i]->len1;

        ngx_http_b24trigger_stats_set(NGX_HTTP_B24TRIGGER_M_QUEUE_OLDEST,
                                      &name, NULL, (ngx_atomic_uint_t) age);
    }
}


/* room for len more bytes in the output */

static ngx_int_t
ngx_http_b24trigger_out(ngx_http_b24trigger_out_t *o, size_t len)
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


/* a label value: JSON string (quoted) or Prometheus label value (not) */

static void
ngx_http_b24trigger_out_str(ngx_http_b24trigger_out_t *o, u_char *s,
    size_t len, ngx_uint_t json)
{
    u_char  c;
    size_t  i;

    if (ngx_http_b24trigger_out(o, len * 6 + 2) != NGX_OK) {
        return;
    }

    if (json) {
        *o->pos++ = '"';
    }

    for (i = 0; i < len; i++) {
        c = s[i];

        if (c == '"' || c == '\\') {
            *o->pos++ = '\\';
            *o->pos++ = c;

        } else if (c == '\n') {
            *o->pos++ = '\\';
            *o->pos++ = 'n';

        } else if (c < 0x20 && json) {
            o->pos = ngx_sprintf(o->pos, "\\u%04xd", (ngx_uint_t) c);

        } else {
            *o->pos++ = c;
        }
    }

    if (json) {
        *o->pos++ = '"';
    }
}
