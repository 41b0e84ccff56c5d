
/*
 * Copyright (C) b24trigger authors
 *
 * The $b24trigger_* variables, read from the request's context, for
 * log_format, map and add_header.
 */


#include "ngx_http_b24trigger.h"


typedef enum {
    NGX_HTTP_B24TRIGGER_VAR_RESULT = 0,
    NGX_HTTP_B24TRIGGER_VAR_ERROR,
    NGX_HTTP_B24TRIGGER_VAR_TARGET,
    NGX_HTTP_B24TRIGGER_VAR_CODE,
    NGX_HTTP_B24TRIGGER_VAR_PORTAL,
    NGX_HTTP_B24TRIGGER_VAR_PORTAL_STATUS,
    NGX_HTTP_B24TRIGGER_VAR_PORTAL_ERROR,
    NGX_HTTP_B24TRIGGER_VAR_PORTAL_TIME,
    NGX_HTTP_B24TRIGGER_VAR_ATTEMPTS
} ngx_http_b24trigger_var_e;


static ngx_int_t ngx_http_b24trigger_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_str_t  ngx_http_b24trigger_results[] = {
    ngx_null_string,
    ngx_string("forwarded"),
    ngx_string("queued"),
    ngx_string("ignored"),
    ngx_string("duplicate"),
    ngx_string("rejected"),
    ngx_string("failed"),
    ngx_string("dry_run")
};


static ngx_http_variable_t  ngx_http_b24trigger_vars[] = {

    { ngx_string("b24trigger_result"), NULL, ngx_http_b24trigger_variable,
      NGX_HTTP_B24TRIGGER_VAR_RESULT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("b24trigger_error"), NULL, ngx_http_b24trigger_variable,
      NGX_HTTP_B24TRIGGER_VAR_ERROR, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("b24trigger_target"), NULL, ngx_http_b24trigger_variable,
      NGX_HTTP_B24TRIGGER_VAR_TARGET, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("b24trigger_code"), NULL, ngx_http_b24trigger_variable,
      NGX_HTTP_B24TRIGGER_VAR_CODE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("b24trigger_portal"), NULL, ngx_http_b24trigger_variable,
      NGX_HTTP_B24TRIGGER_VAR_PORTAL, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("b24trigger_portal_status"), NULL,
      ngx_http_b24trigger_variable,
      NGX_HTTP_B24TRIGGER_VAR_PORTAL_STATUS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("b24trigger_portal_error"), NULL,
      ngx_http_b24trigger_variable,
      NGX_HTTP_B24TRIGGER_VAR_PORTAL_ERROR, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("b24trigger_portal_time"), NULL,
      ngx_http_b24trigger_variable,
      NGX_HTTP_B24TRIGGER_VAR_PORTAL_TIME, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("b24trigger_attempts"), NULL, ngx_http_b24trigger_variable,
      NGX_HTTP_B24TRIGGER_VAR_ATTEMPTS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_b24trigger_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_b24trigger_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


ngx_str_t *
ngx_http_b24trigger_result_name(ngx_http_b24trigger_result_e result)
{
    return &ngx_http_b24trigger_results[result];
}


ngx_http_b24trigger_ctx_t *
ngx_http_b24trigger_get_ctx(ngx_http_request_t *r)
{
    return ngx_http_get_module_ctx(r->main, ngx_http_b24trigger_module);
}


static ngx_int_t
ngx_http_b24trigger_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                          *p;
    ngx_str_t                        s;
    ngx_http_b24trigger_ctx_t       *ctx;
    ngx_http_b24trigger_call_t      *call;
    ngx_http_b24trigger_loc_conf_t  *blcf;

    ctx = ngx_http_b24trigger_get_ctx(r);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    call = ctx->call;
    ngx_str_null(&s);

    switch (data) {

    case NGX_HTTP_B24TRIGGER_VAR_RESULT:
        s = ngx_http_b24trigger_results[ctx->result];
        break;

    case NGX_HTTP_B24TRIGGER_VAR_ERROR:
        s = ctx->error;
        break;

    case NGX_HTTP_B24TRIGGER_VAR_TARGET:
        s = ctx->target;
        break;

    case NGX_HTTP_B24TRIGGER_VAR_CODE:
        s = ctx->code;
        break;

    case NGX_HTTP_B24TRIGGER_VAR_PORTAL:
        blcf = ngx_http_get_module_loc_conf(r->main,
                                            ngx_http_b24trigger_module);
        if (blcf->portal) {
            s = blcf->portal->name;
        }
        break;

    case NGX_HTTP_B24TRIGGER_VAR_PORTAL_STATUS:
        if (call == NULL || call->status == 0) {
            break;
        }

        p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        s.data = p;
        s.len = ngx_sprintf(p, "%ui", call->status) - p;
        break;

    case NGX_HTTP_B24TRIGGER_VAR_PORTAL_ERROR:
        if (call != NULL) {
            s = call->error;
        }
        break;

    case NGX_HTTP_B24TRIGGER_VAR_PORTAL_TIME:
        if (call == NULL || call->started == 0) {
            break;
        }

        p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN + 4);
        if (p == NULL) {
            return NGX_ERROR;
        }

        s.data = p;
        s.len = ngx_sprintf(p, "%T.%03M", (time_t) call->time / 1000,
                            call->time % 1000)
                - p;
        break;

    case NGX_HTTP_B24TRIGGER_VAR_ATTEMPTS:
        if (ctx->attempts == 0) {
            break;
        }

        p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        s.data = p;
        s.len = ngx_sprintf(p, "%ui", ctx->attempts) - p;
        break;
    }

    if (s.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = s.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = s.data;

    return NGX_OK;
}
