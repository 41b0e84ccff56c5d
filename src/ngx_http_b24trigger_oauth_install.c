
/*
 * Copyright (C) b24trigger authors
 *
 * b24trigger_oauth_install: the OAuth application's install handler.
 * Bitrix24 posts AUTH_ID, REFRESH_ID, AUTH_EXPIRES, member_id,
 * application_token and DOMAIN when the application is installed (or
 * reinstalled); the pair is taken only if DOMAIN is the configured
 * portal's, member_id is the one already known (if any), AUTH_ID works at
 * the configured portal (so that a POST by anybody else makes no refresh
 * carrying client_secret), and the token server accepts REFRESH_ID from
 * this portal's client_id and client_secret and names this portal in
 * client_endpoint (ngx_http_b24trigger_oauth_install_done()).  Nothing is
 * written otherwise.  No field's value is ever logged.
 */


#include "ngx_http_b24trigger_oauth.h"


#define NGX_HTTP_B24TRIGGER_INSTALL_MAX  16384


typedef struct {
    ngx_str_t                      auth;
    ngx_str_t                      refresh;
    ngx_str_t                      member;
    ngx_str_t                      domain;
    ngx_http_request_t            *request;   /* of the checks under way */
} ngx_http_b24trigger_install_t;


static void ngx_http_b24trigger_install_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_b24trigger_install_fields(ngx_http_request_t *r,
    ngx_str_t *body, ngx_http_b24trigger_install_t *in);
static void ngx_http_b24trigger_install_field(ngx_pool_t *pool,
    ngx_str_t *text, const char *name, ngx_str_t *value);
static void ngx_http_b24trigger_install_probed(
    ngx_http_b24trigger_transfer_t *t);
static void ngx_http_b24trigger_install_done(
    ngx_http_b24trigger_transfer_t *t);
static ngx_int_t ngx_http_b24trigger_install_refuse(ngx_http_request_t *r,
    const char *why);


/*
 * The page shown in the install frame: BX24.installFinish() ends the
 * installation in Bitrix24
 */

static ngx_str_t  ngx_http_b24trigger_install_page = ngx_string(
    "<!DOCTYPE html>\n"
    "<html><head><meta charset=\"utf-8\">"
    "<script src=\"//api.bitrix24.com/api/v1/\"></script></head>"
    "<body><p>b24trigger: installed.</p>"
    "<script>if (window.BX24) { BX24.init(function () "
    "{ BX24.installFinish(); }); }</script></body></html>\n");


static ngx_str_t  ngx_http_b24trigger_install_type =
    ngx_string("text/html; charset=utf-8");


ngx_int_t
ngx_http_b24trigger_install_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (r->method != NGX_HTTP_POST) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r,
                                        ngx_http_b24trigger_install_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_b24trigger_install_body(ngx_http_request_t *r)
{
    size_t                           len;
    u_char                          *p;
    ngx_buf_t                       *b;
    ngx_str_t                        body;
    ngx_chain_t                     *cl;
    const char                      *why;
    ngx_http_b24trigger_portal_t    *portal;
    ngx_http_b24trigger_install_t    in, *call;
    ngx_http_b24trigger_loc_conf_t  *blcf;
    ngx_http_b24trigger_transfer_t  *t;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_b24trigger_module);
    portal = blcf->install;

    /* the form, in memory: a few hundred bytes */

    len = 0;

    for (cl = r->request_body ? r->request_body->bufs : NULL; cl;
         cl = cl->next)
    {
        b = cl->buf;

        if (b->in_file || len + (b->last - b->pos)
                          > NGX_HTTP_B24TRIGGER_INSTALL_MAX)
        {
            ngx_http_finalize_request(r,
                ngx_http_b24trigger_reply_error(r,
                                        NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                        "body_too_large", NULL));
            return;
        }

        len += b->last - b->pos;
    }

    body.len = len;
    body.data = ngx_pnalloc(r->pool, len + 1);
    if (body.data == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = body.data;

    for (cl = r->request_body ? r->request_body->bufs : NULL; cl;
         cl = cl->next)
    {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    if (ngx_http_b24trigger_install_fields(r, &body, &in) != NGX_OK) {
        ngx_http_finalize_request(r,
            ngx_http_b24trigger_install_refuse(r, "fields missing"));
        return;
    }

    why = ngx_http_b24trigger_oauth_install_check(portal, &in.domain,
                                                  &in.member);
    if (why) {
        ngx_http_finalize_request(r,
                                ngx_http_b24trigger_install_refuse(r, why));
        return;
    }

    /* the fields, for the second step */

    call = ngx_palloc(r->pool, sizeof(ngx_http_b24trigger_install_t));
    if (call == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    *call = in;
    call->request = r;

    t = ngx_http_b24trigger_oauth_probe(r->pool, r->connection->log, portal,
                                        &in.auth);
    if (t == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    t->done = ngx_http_b24trigger_install_probed;
    t->data = call;

    if (ngx_http_b24trigger_transfer_start(t) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* a client that goes away: the transfer goes with r->pool */

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;
}


/* AUTH_ID worked at the portal: now REFRESH_ID, with client_secret */

static void
ngx_http_b24trigger_install_probed(ngx_http_b24trigger_transfer_t *t)
{
    ngx_http_request_t              *r;
    ngx_http_b24trigger_install_t   *call;
    ngx_http_b24trigger_loc_conf_t  *blcf;
    ngx_http_b24trigger_transfer_t  *g;

    call = t->data;
    r = call->request;
    blcf = ngx_http_get_module_loc_conf(r, ngx_http_b24trigger_module);

    switch (ngx_http_b24trigger_oauth_probe_done(t)) {

    case NGX_OK:
        break;

    case NGX_DECLINED:
        ngx_http_finalize_request(r,
            ngx_http_b24trigger_install_refuse(r, "AUTH_ID does not work "
                                               "at the portal"));
        return;

    default:
        ngx_http_finalize_request(r,
            ngx_http_b24trigger_install_refuse(r, "the portal could not be "
                                               "asked about AUTH_ID"));
        return;
    }

    g = ngx_http_b24trigger_oauth_grant(r->pool, r->connection->log,
                                        blcf->install, call->refresh.data,
                                        call->refresh.len);
    if (g == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    g->done = ngx_http_b24trigger_install_done;
    g->data = call;

    if (ngx_http_b24trigger_transfer_start(g) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }
}


static void
ngx_http_b24trigger_install_done(ngx_http_b24trigger_transfer_t *t)
{
    const char                      *why;
    ngx_http_request_t              *r;
    ngx_http_b24trigger_install_t   *call;
    ngx_http_b24trigger_loc_conf_t  *blcf;

    call = t->data;
    r = call->request;
    blcf = ngx_http_get_module_loc_conf(r, ngx_http_b24trigger_module);

    why = ngx_http_b24trigger_oauth_install_done(t, blcf->install,
                                                 r->connection->log);

    if (why) {
        ngx_http_finalize_request(r,
            ngx_http_b24trigger_install_refuse(r, why));
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "b24trigger: application installed on portal \"%V\", "
                  "token pair stored", &blcf->install->name);

    ngx_http_finalize_request(r,
        ngx_http_b24trigger_reply(r, NGX_HTTP_OK,
                                  &ngx_http_b24trigger_install_page,
                                  &ngx_http_b24trigger_install_type));
}


static ngx_int_t
ngx_http_b24trigger_install_refuse(ngx_http_request_t *r, const char *why)
{
    ngx_http_b24trigger_loc_conf_t  *blcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_b24trigger_module);

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "b24trigger: install call for portal \"%V\" refused: %s; "
                  "nothing stored", &blcf->install->name, why);

    return ngx_http_b24trigger_reply_error(r, NGX_HTTP_FORBIDDEN,
                                           "install_refused", NULL);
}


/* the form fields, and DOMAIN also from the query string (iframe calls) */

static ngx_int_t
ngx_http_b24trigger_install_fields(ngx_http_request_t *r, ngx_str_t *body,
    ngx_http_b24trigger_install_t *in)
{
    ngx_memzero(in, sizeof(ngx_http_b24trigger_install_t));

    ngx_http_b24trigger_install_field(r->pool, body, "AUTH_ID", &in->auth);
    ngx_http_b24trigger_install_field(r->pool, body, "REFRESH_ID",
                                      &in->refresh);
    ngx_http_b24trigger_install_field(r->pool, body, "member_id",
                                      &in->member);
    ngx_http_b24trigger_install_field(r->pool, body, "DOMAIN", &in->domain);

    if (in->domain.len == 0) {
        ngx_http_b24trigger_install_field(r->pool, &r->args, "DOMAIN",
                                          &in->domain);
    }

    if (in->auth.len == 0 || in->refresh.len == 0 || in->member.len == 0
        || in->domain.len == 0)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static void
ngx_http_b24trigger_install_field(ngx_pool_t *pool, ngx_str_t *text,
    const char *name, ngx_str_t *value)
{
    u_char  *p, *last, *end, *dst, *src;
    size_t   len;

    len = ngx_strlen(name);
    p = text->data;
    last = text->data + text->len;

    while (p < last) {
        end = ngx_strlchr(p, last, '&');
        if (end == NULL) {
            end = last;
        }

        if ((size_t) (end - p) > len && p[len] == '='
            && ngx_strncmp(p, name, len) == 0)
        {
            p += len + 1;

            dst = ngx_pnalloc(pool, end - p + 1);
            if (dst == NULL) {
                return;
            }

            value->data = dst;
            src = p;

            ngx_unescape_uri(&dst, &src, end - p, 0);

            value->len = dst - value->data;
            return;
        }

        p = end + 1;
    }
}
