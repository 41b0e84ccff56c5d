
/*
 * Copyright (C) b24trigger authors
 *
 * ngx_http_b24trigger_module: relays verified webhooks to Bitrix24's
 * crm.automation.trigger.  This file holds the tables only: directives,
 * configuration create/merge, directive handlers and the process hooks.
 * What runs per request or per worker lives in src/.
 */


#include "ngx_http_b24trigger.h"
#include "ngx_http_b24trigger_portal_curl.h"
#include "ngx_http_b24trigger_portal_http.h"
#include "ngx_http_b24trigger_verify.h"
#include "ngx_http_b24trigger_fields.h"
#include "ngx_http_b24trigger_queue.h"
#include "ngx_http_b24trigger_journal.h"
#include "ngx_http_b24trigger_lookup.h"
#include "ngx_http_b24trigger_redis.h"


static ngx_int_t ngx_http_b24trigger_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_b24trigger_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_b24trigger_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_b24trigger_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_b24trigger_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_b24trigger_portal(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_b24trigger_merge_install(ngx_conf_t *cf,
    ngx_http_b24trigger_loc_conf_t *conf);
static char *ngx_http_b24trigger_pass(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_b24trigger_oauth_install(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_b24trigger_verify_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_b24trigger_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_b24trigger_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_b24trigger_field(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_b24trigger_reply_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_b24trigger_unsigned(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_b24trigger_parse_rate(ngx_str_t *value,
    ngx_uint_t *rate);
static char *ngx_http_b24trigger_cluster(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_b24trigger_init_process(ngx_cycle_t *cycle);
static void ngx_http_b24trigger_exit_process(ngx_cycle_t *cycle);


static ngx_conf_bitmask_t  ngx_http_b24trigger_methods_mask[] = {
    { ngx_string("GET"), NGX_HTTP_GET },
    { ngx_string("HEAD"), NGX_HTTP_HEAD },
    { ngx_string("POST"), NGX_HTTP_POST },
    { ngx_string("PUT"), NGX_HTTP_PUT },
    { ngx_string("PATCH"), NGX_HTTP_PATCH },
    { ngx_string("DELETE"), NGX_HTTP_DELETE },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_b24trigger_methods_enum[] = {
    { ngx_string("trigger"), NGX_HTTP_B24TRIGGER_METHOD_TRIGGER },
    { ngx_string("execute"), NGX_HTTP_B24TRIGGER_METHOD_EXECUTE },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_b24trigger_delivery_modes[] = {
    { ngx_string("sync"), NGX_HTTP_B24TRIGGER_DELIVERY_SYNC },
    { ngx_string("queue"), NGX_HTTP_B24TRIGGER_DELIVERY_QUEUE },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_b24trigger_commands[] = {

    { ngx_string("b24trigger_portal"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_b24trigger_portal,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("b24trigger_ssl_trusted_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_b24trigger_main_conf_t, ssl_trusted_certificate),
      NULL },

    { ngx_string("b24trigger_pass"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_b24trigger_pass,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("b24trigger_target"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_b24trigger_loc_conf_t, target),
      NULL },

    { ngx_string("b24trigger_code"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_b24trigger_loc_conf_t, code),
      NULL },

    { ngx_string("b24trigger_verify"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_b24trigger_verify_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("b24trigger_secret"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_b24trigger_secret,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("b24trigger_body_max"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_b24trigger_loc_conf_t, body_max),
      NULL },

    { ngx_string("b24trigger_methods"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_conf_set_bitmask_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_b24trigger_loc_conf_t, methods),
      &ngx_http_b24trigger_methods_mask },

    { ngx_string("b24trigger_field"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_b24trigger_field,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("b24trigger_queue"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_b24trigger_queue_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("b24trigger_journal"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_b24trigger_journal_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("b24trigger_alert"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_b24trigger_alert_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("b24trigger_journal_ring"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_b24trigger_journal_ring,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("b24trigger_ignore"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_set_predicate_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_b24trigger_loc_conf_t, ignore),
      NULL },

    { ngx_string("b24trigger_reply"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_b24trigger_reply_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("b24trigger_dry_run"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_b24trigger_loc_conf_t, dry_run),
      NULL },

    { ngx_string("b24trigger_oauth_install"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_b24trigger_oauth_install,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("b24trigger_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_b24trigger_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("b24trigger_delivery"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_b24trigger_loc_conf_t, delivery),
      &ngx_http_b24trigger_delivery_modes },

    { ngx_string("b24trigger_method"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_b24trigger_loc_conf_t, method),
      &ngx_http_b24trigger_methods_enum },

    { ngx_string("b24trigger_cluster"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_b24trigger_cluster,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("b24trigger_dedup_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_b24trigger_dedup_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("b24trigger_dedup"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_b24trigger_dedup,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("b24trigger_replay"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_b24trigger_replay,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("b24trigger_lookup_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_b24trigger_lookup_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("b24trigger_lookup"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_b24trigger_lookup_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("b24trigger_unsigned"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_b24trigger_unsigned,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_b24trigger_module_ctx = {
    ngx_http_b24trigger_preconfiguration,   /* preconfiguration */
    ngx_http_b24trigger_postconfiguration,  /* postconfiguration */

    ngx_http_b24trigger_create_main_conf,   /* create main configuration */
    NULL,                                   /* init main configuration */

    NULL,                                   /* create server configuration */
    NULL,                                   /* merge server configuration */

    ngx_http_b24trigger_create_loc_conf,    /* create location configuration */
    ngx_http_b24trigger_merge_loc_conf      /* merge location configuration */
};


ngx_module_t  ngx_http_b24trigger_module = {
    NGX_MODULE_V1,
    &ngx_http_b24trigger_module_ctx,        /* module context */
    ngx_http_b24trigger_commands,           /* module directives */
    NGX_HTTP_MODULE,                        /* module type */
    NULL,                                   /* init master */
    NULL,                                   /* init module */
    ngx_http_b24trigger_init_process,       /* init process */
    NULL,                                   /* init thread */
    NULL,                                   /* exit thread */
    ngx_http_b24trigger_exit_process,       /* exit process */
    NULL,                                   /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_b24trigger_preconfiguration(ngx_conf_t *cf)
{
    if (ngx_http_b24trigger_trust_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_b24trigger_add_variables(cf);
}


static ngx_int_t
ngx_http_b24trigger_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_b24trigger_main_conf_t  *bmcf;

    bmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_b24trigger_module);

    /* the JSON parse for this processor, in the master: workers inherit it */

    ngx_http_b24trigger_json_init();

    ngx_http_b24trigger_trust_done(cf);

    /*
     * one CA file for nginx's own client and libcurl's: a relative name is
     * taken from the configuration prefix, as ngx_ssl_trusted_certificate()
     * takes it, not from the working directory
     */

    if (bmcf->ssl_trusted_certificate.len
        && ngx_conf_full_name(cf->cycle, &bmcf->ssl_trusted_certificate, 1)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the buckets' zone first: its init checks the folders (reach.c) */

    if (ngx_http_b24trigger_bucket_init_conf(cf, bmcf) != NGX_OK
        || ngx_http_b24trigger_oauth_init_conf(cf, bmcf) != NGX_OK
        || ngx_http_b24trigger_spool_init_conf(cf, bmcf) != NGX_OK
        || ngx_http_b24trigger_body_init(cf) != NGX_OK
        || ngx_http_b24trigger_http_init_conf(cf, bmcf) != NGX_OK
        || ngx_http_b24trigger_journal_init_conf(cf, bmcf) != NGX_OK
        || ngx_http_b24trigger_alert_init_conf(cf, bmcf) != NGX_OK
        || (bmcf->status && ngx_http_b24trigger_status_api_init(cf) != NGX_OK))
    {
        return NGX_ERROR;
    }

    return ngx_http_b24trigger_stats_init_conf(cf);
}


static void *
ngx_http_b24trigger_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_b24trigger_main_conf_t  *bmcf;

    bmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_b24trigger_main_conf_t));
    if (bmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     bmcf->ssl_trusted_certificate = { 0, NULL };
     *     bmcf->used = 0;
     *     bmcf->spool = NULL;
     *     bmcf->bucket_zone = NULL;
     *     bmcf->journal_file = NULL;
     *     bmcf->journal = NULL;
     *     bmcf->cluster = NULL;
     */

    bmcf->journal_ring = NGX_CONF_UNSET_UINT;

    if (ngx_array_init(&bmcf->portals, cf->pool, 2,
                       sizeof(ngx_http_b24trigger_portal_t))
        != NGX_OK
        || ngx_array_init(&bmcf->redact, cf->pool, 4, sizeof(ngx_str_t))
           != NGX_OK
        || ngx_array_init(&bmcf->logs, cf->pool, 4, sizeof(ngx_log_t *))
           != NGX_OK
        || ngx_array_init(&bmcf->redact_args, cf->pool, 1, sizeof(ngx_str_t))
           != NGX_OK)
    {
        return NULL;
    }

    return bmcf;
}


static void *
ngx_http_b24trigger_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_b24trigger_loc_conf_t  *blcf;

    blcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_b24trigger_loc_conf_t));
    if (blcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     blcf->portal_name = { 0, NULL };
     *     blcf->portal = NULL;
     *     blcf->keys = NULL;
     *     blcf->methods = 0;
     *     blcf->dedup_key = NULL;
     *     blcf->replay_window = 0;
     *     blcf->trust = 0;
     *     blcf->fresh = NULL;
     */

    blcf->target = NGX_CONF_UNSET_PTR;
    blcf->lookup = NGX_CONF_UNSET_PTR;
    blcf->code = NGX_CONF_UNSET_PTR;
    blcf->verify = NGX_CONF_UNSET_PTR;
    blcf->secrets = NGX_CONF_UNSET_PTR;
    blcf->body_max = NGX_CONF_UNSET_SIZE;
    blcf->ignore = NGX_CONF_UNSET_PTR;
    blcf->reply = NGX_CONF_UNSET_PTR;
    blcf->dry_run = NGX_CONF_UNSET;
    blcf->delivery = NGX_CONF_UNSET_UINT;
    blcf->method = NGX_CONF_UNSET_UINT;
    blcf->dedup_zone = NGX_CONF_UNSET_PTR;
    blcf->replay_zone = NGX_CONF_UNSET_PTR;
    blcf->unsigned_vars = NGX_CONF_UNSET_PTR;

    return blcf;
}


static char *
ngx_http_b24trigger_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_b24trigger_loc_conf_t *prev = parent;
    ngx_http_b24trigger_loc_conf_t *conf = child;

    ngx_str_t                        *s, name;
    ngx_uint_t                        i;
    ngx_http_core_loc_conf_t         *clcf;
    ngx_http_b24trigger_main_conf_t  *bmcf;

    ngx_conf_merge_ptr_value(conf->target, prev->target, NULL);
    ngx_conf_merge_ptr_value(conf->lookup, prev->lookup, NULL);
    ngx_conf_merge_ptr_value(conf->code, prev->code, NULL);
    ngx_conf_merge_ptr_value(conf->verify, prev->verify, NULL);
    ngx_conf_merge_ptr_value(conf->secrets, prev->secrets, NULL);
    ngx_conf_merge_size_value(conf->body_max, prev->body_max, 1024 * 1024);
    ngx_conf_merge_bitmask_value(conf->methods, prev->methods,
                                 (NGX_CONF_BITMASK_SET|NGX_HTTP_POST));
    ngx_conf_merge_ptr_value(conf->ignore, prev->ignore, NULL);
    ngx_conf_merge_ptr_value(conf->reply, prev->reply, NULL);
    ngx_conf_merge_value(conf->dry_run, prev->dry_run, 0);
    ngx_conf_merge_uint_value(conf->delivery, prev->delivery,
                              NGX_HTTP_B24TRIGGER_DELIVERY_SYNC);
    ngx_conf_merge_uint_value(conf->method, prev->method,
                              NGX_HTTP_B24TRIGGER_METHOD_TRIGGER);

    /* the status location's management: the Hosts it answers */

    if (conf->manage
        && ngx_http_b24trigger_status_api_names(cf, conf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->dedup_zone == NGX_CONF_UNSET_PTR) {
        conf->dedup_zone = prev->dedup_zone;
        conf->dedup_key = prev->dedup_key;
    }

    ngx_conf_merge_ptr_value(conf->dedup_zone, prev->dedup_zone, NULL);

    if (conf->replay_zone == NGX_CONF_UNSET_PTR) {
        conf->replay_zone = prev->replay_zone;
        conf->replay_window = prev->replay_window;
    }

    ngx_conf_merge_ptr_value(conf->replay_zone, prev->replay_zone, NULL);
    ngx_conf_merge_ptr_value(conf->unsigned_vars, prev->unsigned_vars, NULL);

    /*
     * an "if" block inside a relaying location runs the location's
     * handler with its own configuration: it relays to the same portal,
     * and is checked like any relaying location
     */

    ngx_conf_merge_str_value(conf->portal_name, prev->portal_name, "");
    ngx_conf_merge_str_value(conf->install_name, prev->install_name, "");

    /* every error log a request may write to is redacted */

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->error_log
        && ngx_http_b24trigger_redact_log(cf, clcf->error_log) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->install_name.len) {
        return ngx_http_b24trigger_merge_install(cf, conf);
    }

    if (conf->portal_name.len == 0) {
        return NGX_CONF_OK;
    }

    /* a relaying location: resolve the portal, refuse what is unsafe */
    bmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_b24trigger_module);

    conf->portal = ngx_http_b24trigger_portal_find(bmcf, &conf->portal_name);

    if (conf->portal == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"b24trigger_pass\" in location \"%V\" names "
                           "unknown portal \"%V\" (declare it with "
                           "\"b24trigger_portal\")",
                           &clcf->name, &conf->portal_name);
        return NGX_CONF_ERROR;
    }

    if (conf->verify == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"b24trigger_pass\" in location \"%V\" needs "
                           "\"b24trigger_verify\" (write "
                           "\"b24trigger_verify none\" to accept unsigned "
                           "webhooks)", &clcf->name);
        return NGX_CONF_ERROR;
    }

    if (conf->target == NULL && conf->lookup == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"b24trigger_pass\" in location \"%V\" needs "
                           "\"b24trigger_target\" or \"b24trigger_lookup\"",
                           &clcf->name);
        return NGX_CONF_ERROR;
    }

    if (conf->target && conf->lookup) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "location \"%V\" has both \"b24trigger_target\" "
                           "and \"b24trigger_lookup\": the lookup finds the "
                           "target (write \"b24trigger_lookup off\" or "
                           "leave one out)", &clcf->name);
        return NGX_CONF_ERROR;
    }

    if (conf->method == NGX_HTTP_B24TRIGGER_METHOD_EXECUTE) {

        if (conf->portal->oauth == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"b24trigger_method execute\" in location "
                               "\"%V\" needs an OAuth portal: a webhook has "
                               "no application context", &clcf->name);
            return NGX_CONF_ERROR;
        }

        if (conf->code == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"b24trigger_method execute\" in location "
                               "\"%V\" needs \"b24trigger_code\", the "
                               "CODE the application registered",
                               &clcf->name);
            return NGX_CONF_ERROR;
        }
    }

    if (conf->delivery == NGX_HTTP_B24TRIGGER_DELIVERY_QUEUE
        && bmcf->spool == NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"b24trigger_delivery queue\" in location \"%V\" "
                           "needs \"b24trigger_queue\"", &clcf->name);
        return NGX_CONF_ERROR;
    }

    conf->keys = ngx_http_b24trigger_verify_keys(cf, conf->verify,
                                                 conf->secrets, &clcf->name);
    if (conf->keys == NULL) {
        return NGX_CONF_ERROR;
    }

    /* the secrets as a sender may write them: kept out of the error log */

    switch (ngx_http_b24trigger_verify_logged(conf->verify, &name)) {

    case NGX_HTTP_B24TRIGGER_LOGGED_ARG:
        if (ngx_http_b24trigger_redact_arg(cf, &name) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        break;

    case NGX_HTTP_B24TRIGGER_LOGGED_BASE64:
        s = conf->secrets ? conf->secrets->elts : NULL;

        for (i = 0; s && i < conf->secrets->nelts; i++) {
            if (ngx_http_b24trigger_redact_base64(cf, &s[i]) != NGX_OK) {
                return NGX_CONF_ERROR;
            }
        }

        break;

    default:
        break;
    }

    /* only what the scheme signs decides; replays */

    if (ngx_http_b24trigger_trust_check(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    /*
     * b24trigger_body_max is the one limit of a relaying location: the body
     * is always kept in memory (src/ngx_http_b24trigger_body.c) and an
     * oversized one is answered with JSON, not with nginx's HTML page
     */

    clcf->client_max_body_size = 0;

    bmcf->used = 1;

    return NGX_CONF_OK;
}


/* a location with b24trigger_oauth_install: an OAuth portal's */

static char *
ngx_http_b24trigger_merge_install(ngx_conf_t *cf,
    ngx_http_b24trigger_loc_conf_t *conf)
{
    ngx_http_core_loc_conf_t         *clcf;
    ngx_http_b24trigger_main_conf_t  *bmcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    bmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_b24trigger_module);

    conf->install = ngx_http_b24trigger_portal_find(bmcf, &conf->install_name);

    if (conf->install == NULL || conf->install->oauth == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"b24trigger_oauth_install\" in location \"%V\" "
                           "names \"%V\", which is no OAuth portal (declare "
                           "it with \"b24trigger_portal ... oauth=\")",
                           &clcf->name, &conf->install_name);
        return NGX_CONF_ERROR;
    }

    if (conf->portal_name.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "location \"%V\" has both "
                           "\"b24trigger_oauth_install\" and "
                           "\"b24trigger_pass\"", &clcf->name);
        return NGX_CONF_ERROR;
    }

    bmcf->used = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_b24trigger_portal(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_b24trigger_main_conf_t *bmcf = conf;

    char                          *rv;
    ngx_int_t                      n;
    ngx_str_t                     *value, s, url, state, client_id,
                                   client_secret, server;
    ngx_uint_t                     i;
    ngx_http_b24trigger_portal_t  *portal;

    value = cf->args->elts;

    ngx_str_null(&state);
    ngx_str_null(&client_id);
    ngx_str_null(&client_secret);
    ngx_str_null(&server);

    if (ngx_http_b24trigger_portal_find(bmcf, &value[1])) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate portal \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    portal = ngx_array_push(&bmcf->portals);
    if (portal == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(portal, sizeof(ngx_http_b24trigger_portal_t));

    portal->name = value[1];
    portal->timeout = 10000;
    portal->connect_timeout = 3000;
    portal->rate = 2000;
    portal->burst = 50;
    portal->wait = 1000;
    portal->bucket_mode = NGX_CONF_UNSET;

    if (value[2].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty URL of portal \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_b24trigger_secret_load(cf, &value[2], &url,
                                        "b24trigger_portal URL")
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* "oauth=" makes it an application's portal, whatever its place */

    for (i = 3; i < cf->args->nelts; i++) {
        if (ngx_strncmp(value[i].data, "oauth=", 6) == 0) {
            portal->oauth = ngx_http_b24trigger_oauth_create(cf);
            if (portal->oauth == NULL) {
                return NGX_CONF_ERROR;
            }
        }
    }

    if (portal->oauth) {
        rv = ngx_http_b24trigger_oauth_parse_url(cf, portal, &url);

    } else {
        rv = ngx_http_b24trigger_portal_parse_url(cf, portal, &url);
    }

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (ngx_http_b24trigger_http_peer(cf, portal) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    for (i = 3; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "oauth=", 6) == 0) {
            state.data = value[i].data + 6;
            state.len = value[i].len - 6;
            continue;
        }

        if (ngx_strncmp(value[i].data, "client_id=", 10) == 0) {
            client_id.data = value[i].data + 10;
            client_id.len = value[i].len - 10;
            continue;
        }

        if (ngx_strncmp(value[i].data, "client_secret=", 14) == 0) {
            client_secret.data = value[i].data + 14;
            client_secret.len = value[i].len - 14;
            continue;
        }

        if (ngx_strncmp(value[i].data, "oauth_server=", 13) == 0) {
            server.data = value[i].data + 13;
            server.len = value[i].len - 13;
            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            portal->timeout = ngx_parse_time(&s, 0);
            if (portal->timeout == (ngx_msec_t) NGX_ERROR
                || portal->timeout == 0)
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "connect_timeout=", 16) == 0) {
            s.data = value[i].data + 16;
            s.len = value[i].len - 16;

            portal->connect_timeout = ngx_parse_time(&s, 0);
            if (portal->connect_timeout == (ngx_msec_t) NGX_ERROR
                || portal->connect_timeout == 0)
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "wait=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            portal->wait = ngx_parse_time(&s, 0);
            if (portal->wait == (ngx_msec_t) NGX_ERROR) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "rate=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            if (ngx_http_b24trigger_parse_rate(&s, &portal->rate) != NGX_OK) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "burst=", 6) == 0) {
            n = ngx_atoi(value[i].data + 6, value[i].len - 6);
            if (n <= 0) {
                goto invalid;
            }

            portal->burst = n;
            continue;
        }

        if (ngx_strcmp(value[i].data, "bucket=cluster") == 0) {
            portal->bucket_mode = 1;
            continue;
        }

        if (ngx_strcmp(value[i].data, "bucket=node") == 0) {
            portal->bucket_mode = 0;
            continue;
        }

        goto invalid;
    }

    if (portal->oauth) {
        return ngx_http_b24trigger_oauth_conf(cf, portal, &state, &client_id,
                                              &client_secret, &server);
    }

    if (client_id.len || client_secret.len || server.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"client_id=\", \"client_secret=\" and "
                           "\"oauth_server=\" of portal \"%V\" need "
                           "\"oauth=\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" of portal \"%V\"",
                       &value[i], &value[1]);
    return NGX_CONF_ERROR;
}


/* "Nr/s" or "Nr/m", as limit_req_zone's rate=; nothing after the unit */

static ngx_int_t
ngx_http_b24trigger_parse_rate(ngx_str_t *value, ngx_uint_t *rate)
{
    size_t     len;
    ngx_int_t  n, scale;

    len = value->len;
    scale = 1;

    if (len > 3 && ngx_strncmp(value->data + len - 3, "r/s", 3) == 0) {
        len -= 3;

    } else if (len > 3
               && ngx_strncmp(value->data + len - 3, "r/m", 3) == 0)
    {
        scale = 60;
        len -= 3;

    } else {
        return NGX_ERROR;
    }

    /* in thousandths of a call: N x 1000 must fit, or it wraps (to 0) */

    n = ngx_atoi(value->data, len);
    if (n <= 0 || n > NGX_MAX_INT_T_VALUE / 1000) {
        return NGX_ERROR;
    }

    *rate = n * 1000 / scale;

    return NGX_OK;
}


static char *
ngx_http_b24trigger_pass(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_b24trigger_loc_conf_t *blcf = conf;

    ngx_str_t                 *value;
    ngx_http_core_loc_conf_t  *clcf;

    if (blcf->portal_name.len) {
        return "is duplicate";
    }

    value = cf->args->elts;
    blcf->portal_name = value[1];

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_b24trigger_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_b24trigger_verify_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_b24trigger_loc_conf_t *blcf = conf;

    ngx_str_t  *value;

    if (blcf->verify != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    return ngx_http_b24trigger_verify_parse(cf, &value[1],
                                            cf->args->nelts - 1,
                                            &blcf->verify);
}


static char *
ngx_http_b24trigger_secret(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_b24trigger_loc_conf_t *blcf = conf;

    ngx_str_t   *value, *s;
    ngx_uint_t   i;

    if (blcf->secrets != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    blcf->secrets = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                     sizeof(ngx_str_t));
    if (blcf->secrets == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        s = ngx_array_push(blcf->secrets);
        if (s == NULL) {
            return NGX_CONF_ERROR;
        }

        if (ngx_http_b24trigger_secret_load(cf, &value[i], s,
                                            "b24trigger_secret")
            != NGX_OK
            || ngx_http_b24trigger_redact_secret(cf, s) != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_b24trigger_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_b24trigger_loc_conf_t *blcf = conf;

    ngx_str_t                        *value;
    ngx_http_core_loc_conf_t         *clcf;
    ngx_http_b24trigger_main_conf_t  *bmcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    bmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_b24trigger_module);

    if (clcf->handler == ngx_http_b24trigger_status_handler) {
        return "is duplicate";
    }

    if (cf->args->nelts == 2) {
        value = cf->args->elts;

        if (value[1].len == 9
            && ngx_strncmp(value[1].data, "manage=on", 9) == 0)
        {
            blcf->manage = 1;

        } else if (value[1].len != 10
                   || ngx_strncmp(value[1].data, "manage=off", 10) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    clcf->handler = ngx_http_b24trigger_status_handler;
    bmcf->status = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_b24trigger_field(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t  *value;

    value = cf->args->elts;

    return ngx_http_b24trigger_field_add(cf, &value[1], &value[2]);
}


static char *
ngx_http_b24trigger_reply_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_b24trigger_loc_conf_t *blcf = conf;

    ngx_str_t                         *value;
    ngx_http_b24trigger_reply_t       *reply;
    ngx_http_compile_complex_value_t   ccv;

    if (blcf->reply != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    reply = ngx_pcalloc(cf->pool, sizeof(ngx_http_b24trigger_reply_t));
    if (reply == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = &reply->value;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts == 3) {
        if (value[2].len <= sizeof("content_type=") - 1
            || ngx_strncmp(value[2].data, "content_type=",
                           sizeof("content_type=") - 1)
               != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        reply->type.data = value[2].data + sizeof("content_type=") - 1;
        reply->type.len = value[2].len - (sizeof("content_type=") - 1);
    }

    blcf->reply = reply;

    return NGX_CONF_OK;
}


/*
 * "b24trigger_unsigned $VARIABLE ...": the operator's word that these may
 * choose the target, code, dedup key or ignore though the scheme does not
 * sign them
 */

static char *
ngx_http_b24trigger_unsigned(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_b24trigger_loc_conf_t *blcf = conf;

    ngx_int_t    index;
    ngx_str_t   *value, name;
    ngx_uint_t   i, *n;

    if (blcf->unsigned_vars != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    blcf->unsigned_vars = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                           sizeof(ngx_uint_t));
    if (blcf->unsigned_vars == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (value[i].len < 2 || value[i].data[0] != '$') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid variable name \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        name.data = value[i].data + 1;
        name.len = value[i].len - 1;

        index = ngx_http_get_variable_index(cf, &name);
        if (index == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }

        n = ngx_array_push(blcf->unsigned_vars);
        if (n == NULL) {
            return NGX_CONF_ERROR;
        }

        *n = index;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_b24trigger_oauth_install(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_b24trigger_loc_conf_t *blcf = conf;

    ngx_str_t                 *value;
    ngx_http_core_loc_conf_t  *clcf;

    if (blcf->install_name.len) {
        return "is duplicate";
    }

    value = cf->args->elts;
    blcf->install_name = value[1];

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_b24trigger_install_handler;

    return NGX_CONF_OK;
}


/* "b24trigger_cluster URL [password=] [prefix=] [timeout=] [replicas=]" */

static char *
ngx_http_b24trigger_cluster(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_b24trigger_main_conf_t *bmcf = conf;

    ngx_str_t  *value;

    if (bmcf->cluster) {
        return "is duplicate";
    }

    value = cf->args->elts;

    bmcf->cluster = ngx_http_b24trigger_redis_create(cf, &value[1],
                                                     cf->args->nelts - 1);
    if (bmcf->cluster == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_b24trigger_init_process(ngx_cycle_t *cycle)
{
    ngx_http_b24trigger_main_conf_t  *bmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    bmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_b24trigger_module);
    if (bmcf == NULL) {
        return NGX_OK;
    }

    ngx_http_b24trigger_stats_init_process(bmcf);

    if (ngx_http_b24trigger_journal_init_process(cycle, bmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_b24trigger_redact_init(cycle, bmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (!bmcf->used) {
        return NGX_OK;
    }

    if (ngx_http_b24trigger_curl_init(cycle, &bmcf->ssl_trusted_certificate)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_b24trigger_delivery_init(cycle, bmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_b24trigger_alert_init_process(cycle, bmcf);

    if (bmcf->cluster
        && ngx_http_b24trigger_redis_init_process(cycle, bmcf->cluster)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_b24trigger_queue_redis_init_process(cycle, bmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_log_error(NGX_LOG_INFO, cycle->log, 0,
                  "b24trigger " NGX_HTTP_B24TRIGGER_VERSION " started");

    return NGX_OK;
}


static void
ngx_http_b24trigger_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_b24trigger_main_conf_t  *bmcf;

    bmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_b24trigger_module);

    ngx_http_b24trigger_enqueue_exit();
    ngx_http_b24trigger_delivery_exit(cycle);
    ngx_http_b24trigger_journal_exit(cycle);
    ngx_http_b24trigger_alert_exit(cycle);

    if (bmcf != NULL) {
        ngx_http_b24trigger_queue_redis_exit_process(cycle, bmcf);
    }

    if (bmcf != NULL && bmcf->cluster) {
        ngx_http_b24trigger_redis_exit_process(bmcf->cluster);
    }

    if (bmcf != NULL) {
        ngx_http_b24trigger_http_exit(cycle, bmcf);
    }

    ngx_http_b24trigger_curl_exit(cycle);
    ngx_http_b24trigger_redact_exit(cycle);

    /* what the exit added to the counters: no turn of the loop is left */

    ngx_http_b24trigger_stats_flush();
}
