
/*
 * Copyright (C) b24trigger authors
 *
 * Only signed data decides.  At configuration time every variable that
 * b24trigger_target, the value of b24trigger_lookup, b24trigger_code, the
 * b24trigger_dedup key and b24trigger_ignore depend on is traced, through
 * nginx's scripts and map{} blocks, to where its value comes from; a location
 * whose decision rests on something its verification does not sign (a query
 * argument, a header, the URI, a body field outside the signature, a capture, a
 * variable that "set" assigns or that cannot be traced) is refused, unless the
 * operator lists that variable in "b24trigger_unsigned".  Also the warning for
 * a scheme that signs no timestamp and runs without "b24trigger_replay".
 *
 * nginx keeps its map{} blocks to itself: a variable is known to be a
 * map's by the map module's get handler, learnt by watching the "map"
 * directive while the http block is parsed (ngx_http_b24trigger_trust_
 * init() to _done()).  "set" and "auth_request_set" are watched the same
 * way: a map's variable is changeable, so either of them may fill it and
 * the map is never evaluated; a variable that one of them assigns
 * anywhere in the configuration is not traced.
 *
 * An "hmac" template ("message=") signs a variable only where it fixes
 * where its value begins and ends: text next to it that cannot occur in
 * that value, or the template's own start or end (..._trust_bind()).
 *
 * One check runs per request (ngx_http_b24trigger_trust_request()): a
 * location whose decision rests on the query string as "$request_uri"
 * signs it refuses a request whose arguments nginx rewrote or
 * redirected.  Sees the verification only through
 * ngx_http_b24trigger_verify.h and the body fields only through
 * ngx_http_b24trigger_fields.h.
 */


#include <nginx.h>

#include "ngx_http_b24trigger.h"
#include "ngx_http_b24trigger_verify.h"
#include "ngx_http_b24trigger_fields.h"
#include "ngx_http_b24trigger_lookup.h"


#define NGX_HTTP_B24TRIGGER_TRUST_DEPTH  16

/* what a piece of a complex value is */
#define NGX_HTTP_B24TRIGGER_PIECE_TEXT      0
#define NGX_HTTP_B24TRIGGER_PIECE_VARIABLE  1
#define NGX_HTTP_B24TRIGGER_PIECE_CAPTURE   2
#define NGX_HTTP_B24TRIGGER_PIECE_BODY      3

/* where a variable of nginx's own modules comes from */
#define NGX_HTTP_B24TRIGGER_FROM_SERVER  0    /* no sender chooses it */
#define NGX_HTTP_B24TRIGGER_FROM_SENDER  1    /* signed if a template is */
#define NGX_HTTP_B24TRIGGER_FROM_URI     2    /* $uri: after rewrites */
#define NGX_HTTP_B24TRIGGER_FROM_LINE    3    /* $request_uri */
#define NGX_HTTP_B24TRIGGER_FROM_ARGS    4    /* the query string */

/* the bytes its value may hold */
#define NGX_HTTP_B24TRIGGER_HOLDS_ANY      0
#define NGX_HTTP_B24TRIGGER_HOLDS_URI      1  /* none <= 0x20, nor 0x7f */
#define NGX_HTTP_B24TRIGGER_HOLDS_LINE     2  /* none < 0x20, nor 0x7f */
#define NGX_HTTP_B24TRIGGER_HOLDS_HEADER   3  /* no NUL, CR, LF */
#define NGX_HTTP_B24TRIGGER_HOLDS_IS_ARGS  4  /* "?" */

/* where "message=" puts the body */
#define NGX_HTTP_B24TRIGGER_BODY_NONE   0     /* no template */
#define NGX_HTTP_B24TRIGGER_BODY_FIXED  1     /* where it begins and ends */
#define NGX_HTTP_B24TRIGGER_BODY_START  2     /* where it begins only */
#define NGX_HTTP_B24TRIGGER_BODY_LOOSE  3

/* why a dependency is refused */
#define NGX_HTTP_B24TRIGGER_WHY_UNSIGNED  0   /* t->what */
#define NGX_HTTP_B24TRIGGER_WHY_UNTRACED  1
#define NGX_HTTP_B24TRIGGER_WHY_ASSIGNED  2   /* t->assigned */
#define NGX_HTTP_B24TRIGGER_WHY_CAPTURE   3
#define NGX_HTTP_B24TRIGGER_WHY_LOOSE     4   /* t->part, t->reason */
#define NGX_HTTP_B24TRIGGER_WHY_JOINED    5   /* t->field */


typedef char *(*ngx_http_b24trigger_conf_set_pt)(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);


/* ngx_http_map_module.c's own context of a map, as far as it is read */

typedef struct {
    ngx_http_map_t                   map;
    ngx_http_complex_value_t         value;       /* the source */
    ngx_http_variable_value_t       *default_value;
} ngx_http_b24trigger_map_ctx_t;


/* a directive of another module, watched while the http block is parsed */

typedef struct {
    const char                      *module;
    ngx_str_t                        name;
    ngx_http_b24trigger_conf_set_pt  handler;     /* ours */
    ngx_command_t                   *cmd;
    ngx_http_b24trigger_conf_set_pt  set;         /* its own */
} ngx_http_b24trigger_watch_t;


/* a variable that "set" or "auth_request_set" assigns */

typedef struct {
    ngx_str_t                        name;        /* without "$" */
    ngx_str_t                        directive;
    ngx_str_t                        file;
    ngx_uint_t                       line;
} ngx_http_b24trigger_assigned_t;


typedef struct {
    ngx_uint_t                       kind;
    ngx_uint_t                       n;           /* variable index,
                                                     capture number */
    ngx_str_t                        text;        /* the text */
} ngx_http_b24trigger_piece_t;


/* where the variables of nginx's own modules come from, by name */

typedef struct {
    ngx_str_t                        name;
    ngx_uint_t                       from;        /* FROM_* */
    ngx_uint_t                       holds;       /* HOLDS_* */
    const char                      *what;
} ngx_http_b24trigger_origin_t;


/* one location's check */

typedef struct {
    ngx_conf_t                      *cf;
    ngx_http_core_main_conf_t       *cmcf;
    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_b24trigger_loc_conf_t  *blcf;
    ngx_uint_t                       depth;

    /* what the "message=" template fixes */
    ngx_array_t                      bound;       /* ngx_uint_t indexes */
    ngx_array_t                      loose;       /* held, not fixed */
    ngx_array_t                      digits;      /* of "timestamp=" */
    ngx_uint_t                       body;        /* BODY_* */
    ngx_str_t                        reason;      /* why not all */
    ngx_str_t                        line;        /* "$request_uri" or
                                                     "$request" fixed */
    ngx_str_t                        line_loose;  /* held, not fixed */
    unsigned                         request:1;   /* $request fixed */
    unsigned                         args:1;      /* $args fixed */

    /* "set $args" */
    ngx_http_b24trigger_assigned_t  *args_set;

    /* the first dependency refused */
    ngx_uint_t                       why;         /* WHY_* */
    ngx_str_t                        name;        /* "$arg_deal" */
    ngx_str_t                        field;       /* its body field */
    ngx_str_t                        part;        /* of the template */
    const char                      *what;
    ngx_http_b24trigger_assigned_t  *assigned;
} ngx_http_b24trigger_trust_t;


static char *ngx_http_b24trigger_map_block(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_b24trigger_assign(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_http_b24trigger_watch_t *ngx_http_b24trigger_watch(
    ngx_command_t *cmd);
static void ngx_http_b24trigger_trust_cleanup(void *data);
static ngx_http_variable_t *ngx_http_b24trigger_trust_named(ngx_conf_t *cf,
    ngx_str_t *name);
static ngx_http_b24trigger_assigned_t *ngx_http_b24trigger_trust_assigned(
    ngx_str_t *name);
static ngx_http_b24trigger_origin_t *ngx_http_b24trigger_trust_origin(
    ngx_http_b24trigger_trust_t *t, ngx_str_t *name);
static ngx_int_t ngx_http_b24trigger_trust_pieces(
    ngx_http_complex_value_t *cv, ngx_array_t *pieces);
static ngx_int_t ngx_http_b24trigger_trust_bind(
    ngx_http_b24trigger_trust_t *t);
static ngx_uint_t ngx_http_b24trigger_trust_excludes(
    ngx_http_b24trigger_trust_t *t, ngx_http_b24trigger_piece_t *pc,
    u_char c);
static ngx_int_t ngx_http_b24trigger_trust_reason(
    ngx_http_b24trigger_trust_t *t, ngx_http_b24trigger_piece_t *pc);
static ngx_int_t ngx_http_b24trigger_trust_piece_name(
    ngx_http_b24trigger_trust_t *t, ngx_http_b24trigger_piece_t *pc,
    ngx_str_t *name);
static ngx_uint_t ngx_http_b24trigger_trust_timestamp(
    ngx_http_b24trigger_trust_t *t);
static ngx_int_t ngx_http_b24trigger_trust_directive(
    ngx_http_b24trigger_trust_t *t, const char *directive,
    ngx_http_complex_value_t *cv);
static ngx_int_t ngx_http_b24trigger_trust_value(
    ngx_http_b24trigger_trust_t *t, ngx_http_complex_value_t *cv,
    ngx_http_regex_t *rx, ngx_str_t *first);
static ngx_int_t ngx_http_b24trigger_trust_variable(
    ngx_http_b24trigger_trust_t *t, ngx_uint_t index, ngx_http_regex_t *rx);
static ngx_int_t ngx_http_b24trigger_trust_args(
    ngx_http_b24trigger_trust_t *t, ngx_uint_t index,
    ngx_http_b24trigger_origin_t *o);
static ngx_int_t ngx_http_b24trigger_trust_refuse(
    ngx_http_b24trigger_trust_t *t, ngx_uint_t index, const char *what);
static ngx_int_t ngx_http_b24trigger_trust_map(ngx_http_b24trigger_trust_t *t,
    ngx_http_variable_t *v);
static ngx_int_t ngx_http_b24trigger_trust_map_value(
    ngx_http_b24trigger_trust_t *t, ngx_http_variable_value_t *vv,
    ngx_http_regex_t *rx);
static ngx_uint_t ngx_http_b24trigger_trust_listed(ngx_array_t *a,
    ngx_uint_t index);
static ngx_int_t ngx_http_b24trigger_trust_push(ngx_array_t *a,
    ngx_uint_t index);
static ngx_int_t ngx_http_b24trigger_trust_fresh(
    ngx_http_b24trigger_trust_t *t, ngx_uint_t index);
static ngx_uint_t ngx_http_b24trigger_trust_is(ngx_str_t *name,
    const char *s);


/* the map module's variables' get handler; the assigned variables */

static ngx_http_get_variable_pt  ngx_http_b24trigger_map_get;
static ngx_uint_t                ngx_http_b24trigger_map_unknown;
static ngx_array_t              *ngx_http_b24trigger_assigned_vars;


static ngx_http_b24trigger_watch_t  ngx_http_b24trigger_watched[] = {

    { "ngx_http_map_module", ngx_string("map"),
      ngx_http_b24trigger_map_block, NULL, NULL },

    { "ngx_http_rewrite_module", ngx_string("set"),
      ngx_http_b24trigger_assign, NULL, NULL },

    { "ngx_http_auth_request_module", ngx_string("auth_request_set"),
      ngx_http_b24trigger_assign, NULL, NULL },

    { NULL, ngx_null_string, NULL, NULL, NULL }
};


static ngx_http_b24trigger_origin_t  ngx_http_b24trigger_origins[] = {

    { ngx_string("request_uri"), NGX_HTTP_B24TRIGGER_FROM_LINE,
      NGX_HTTP_B24TRIGGER_HOLDS_URI, "the URI" },
    { ngx_string("request"), NGX_HTTP_B24TRIGGER_FROM_SENDER,
      NGX_HTTP_B24TRIGGER_HOLDS_LINE, "the request line" },
    { ngx_string("uri"), NGX_HTTP_B24TRIGGER_FROM_URI,
      NGX_HTTP_B24TRIGGER_HOLDS_ANY, "the URI" },
    { ngx_string("document_uri"), NGX_HTTP_B24TRIGGER_FROM_URI,
      NGX_HTTP_B24TRIGGER_HOLDS_ANY, "the URI" },
    { ngx_string("args"), NGX_HTTP_B24TRIGGER_FROM_ARGS,
      NGX_HTTP_B24TRIGGER_HOLDS_URI, "the query string" },
    { ngx_string("query_string"), NGX_HTTP_B24TRIGGER_FROM_ARGS,
      NGX_HTTP_B24TRIGGER_HOLDS_URI, "the query string" },
    { ngx_string("is_args"), NGX_HTTP_B24TRIGGER_FROM_ARGS,
      NGX_HTTP_B24TRIGGER_HOLDS_IS_ARGS, "the query string" },

    { ngx_string("host"), NGX_HTTP_B24TRIGGER_FROM_SENDER,
      NGX_HTTP_B24TRIGGER_HOLDS_ANY, "a request header" },
    { ngx_string("content_type"), NGX_HTTP_B24TRIGGER_FROM_SENDER,
      NGX_HTTP_B24TRIGGER_HOLDS_HEADER, "a request header" },
    { ngx_string("content_length"), NGX_HTTP_B24TRIGGER_FROM_SENDER,
      NGX_HTTP_B24TRIGGER_HOLDS_HEADER, "a request header" },
    { ngx_string("remote_user"), NGX_HTTP_B24TRIGGER_FROM_SENDER,
      NGX_HTTP_B24TRIGGER_HOLDS_ANY, "a request header" },
    { ngx_string("request_method"), NGX_HTTP_B24TRIGGER_FROM_SENDER,
      NGX_HTTP_B24TRIGGER_HOLDS_ANY, "the request line" },
    { ngx_string("server_protocol"), NGX_HTTP_B24TRIGGER_FROM_SENDER,
      NGX_HTTP_B24TRIGGER_HOLDS_ANY, "the request line" },
    { ngx_string("remote_addr"), NGX_HTTP_B24TRIGGER_FROM_SENDER,
      NGX_HTTP_B24TRIGGER_HOLDS_ANY, "the connection" },
    { ngx_string("binary_remote_addr"), NGX_HTTP_B24TRIGGER_FROM_SENDER,
      NGX_HTTP_B24TRIGGER_HOLDS_ANY, "the connection" },
    { ngx_string("remote_port"), NGX_HTTP_B24TRIGGER_FROM_SENDER,
      NGX_HTTP_B24TRIGGER_HOLDS_ANY, "the connection" },
    { ngx_string("realip_remote_addr"), NGX_HTTP_B24TRIGGER_FROM_SENDER,
      NGX_HTTP_B24TRIGGER_HOLDS_ANY, "the connection" },
    { ngx_string("scheme"), NGX_HTTP_B24TRIGGER_FROM_SENDER,
      NGX_HTTP_B24TRIGGER_HOLDS_ANY, "the connection" },
    { ngx_string("https"), NGX_HTTP_B24TRIGGER_FROM_SENDER,
      NGX_HTTP_B24TRIGGER_HOLDS_ANY, "the connection" },

    /* a server listening on several addresses or ports: the sender's pick */

    { ngx_string("server_addr"), NGX_HTTP_B24TRIGGER_FROM_SENDER,
      NGX_HTTP_B24TRIGGER_HOLDS_ANY, "the connection" },
    { ngx_string("server_port"), NGX_HTTP_B24TRIGGER_FROM_SENDER,
      NGX_HTTP_B24TRIGGER_HOLDS_ANY, "the connection" },

    { ngx_string("request_body"), NGX_HTTP_B24TRIGGER_FROM_SENDER,
      NGX_HTTP_B24TRIGGER_HOLDS_ANY, "the raw body" },

    /* the server's own: nothing a sender chooses */

    { ngx_string("msec"), NGX_HTTP_B24TRIGGER_FROM_SERVER,
      NGX_HTTP_B24TRIGGER_HOLDS_ANY, NULL },
    { ngx_string("time_iso8601"), NGX_HTTP_B24TRIGGER_FROM_SERVER,
      NGX_HTTP_B24TRIGGER_HOLDS_ANY, NULL },
    { ngx_string("time_local"), NGX_HTTP_B24TRIGGER_FROM_SERVER,
      NGX_HTTP_B24TRIGGER_HOLDS_ANY, NULL },
    { ngx_string("request_id"), NGX_HTTP_B24TRIGGER_FROM_SERVER,
      NGX_HTTP_B24TRIGGER_HOLDS_ANY, NULL },
    { ngx_string("pid"), NGX_HTTP_B24TRIGGER_FROM_SERVER,
      NGX_HTTP_B24TRIGGER_HOLDS_ANY, NULL },
    { ngx_string("hostname"), NGX_HTTP_B24TRIGGER_FROM_SERVER,
      NGX_HTTP_B24TRIGGER_HOLDS_ANY, NULL },
    { ngx_string("nginx_version"), NGX_HTTP_B24TRIGGER_FROM_SERVER,
      NGX_HTTP_B24TRIGGER_HOLDS_ANY, NULL },
    { ngx_string("server_name"), NGX_HTTP_B24TRIGGER_FROM_SERVER,
      NGX_HTTP_B24TRIGGER_HOLDS_ANY, NULL },

    { ngx_null_string, 0, 0, NULL }
};


/* by prefix, for a name no module declared */

static ngx_http_b24trigger_origin_t  ngx_http_b24trigger_prefixes[] = {

    { ngx_string("arg_"), NGX_HTTP_B24TRIGGER_FROM_ARGS,
      NGX_HTTP_B24TRIGGER_HOLDS_URI, "a query argument" },
    { ngx_string("http_"), NGX_HTTP_B24TRIGGER_FROM_SENDER,
      NGX_HTTP_B24TRIGGER_HOLDS_HEADER, "a request header" },
    { ngx_string("cookie_"), NGX_HTTP_B24TRIGGER_FROM_SENDER,
      NGX_HTTP_B24TRIGGER_HOLDS_ANY, "a cookie" },

    { ngx_null_string, 0, 0, NULL }
};


/*
 * preconfiguration: the watched directives of ngx_http_map_module,
 * ngx_http_rewrite_module and ngx_http_auth_request_module, where they
 * are built in, run through this file's handlers until the http block is
 * parsed
 */

ngx_int_t
ngx_http_b24trigger_trust_init(ngx_conf_t *cf)
{
    ngx_uint_t                    m;
    ngx_command_t                *cmd;
    ngx_pool_cleanup_t           *cln;
    ngx_http_b24trigger_watch_t  *w;

    ngx_http_b24trigger_map_get = NULL;
    ngx_http_b24trigger_map_unknown = 0;

    ngx_http_b24trigger_assigned_vars =
        ngx_array_create(cf->pool, 8, sizeof(ngx_http_b24trigger_assigned_t));
    if (ngx_http_b24trigger_assigned_vars == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_b24trigger_trust_cleanup;
    cln->data = NULL;

    for (w = ngx_http_b24trigger_watched; w->module; w++) {

        for (m = 0; cf->cycle->modules[m]; m++) {
            if (cf->cycle->modules[m]->name
                && ngx_strcmp(cf->cycle->modules[m]->name, w->module) == 0)
            {
                break;
            }
        }

        if (cf->cycle->modules[m] == NULL
            || cf->cycle->modules[m]->commands == NULL)
        {
            continue;
        }

        for (cmd = cf->cycle->modules[m]->commands; cmd->name.len; cmd++) {

            if (cmd->name.len != w->name.len
                || ngx_strncmp(cmd->name.data, w->name.data, w->name.len)
                   != 0
                || cmd->set == w->handler)
            {
                continue;
            }

            w->cmd = cmd;
            w->set = cmd->set;
            cmd->set = w->handler;

            break;
        }
    }

    return NGX_OK;
}


/* postconfiguration, or the cycle's end if it never came: as they were */

void
ngx_http_b24trigger_trust_done(ngx_conf_t *cf)
{
    ngx_http_b24trigger_trust_cleanup(NULL);
}


static void
ngx_http_b24trigger_trust_cleanup(void *data)
{
    ngx_http_b24trigger_watch_t  *w;

    for (w = ngx_http_b24trigger_watched; w->module; w++) {

        if (w->cmd && w->cmd->set == w->handler) {
            w->cmd->set = w->set;
        }

        w->cmd = NULL;
    }

    ngx_http_b24trigger_assigned_vars = NULL;
}


static ngx_http_b24trigger_watch_t *
ngx_http_b24trigger_watch(ngx_command_t *cmd)
{
    ngx_http_b24trigger_watch_t  *w;

    for (w = ngx_http_b24trigger_watched; w->module; w++) {
        if (w->cmd == cmd) {
            return w;
        }
    }

    return NULL;
}


/*
 * "map SOURCE $NAME { ... }" as the map module parses it; then the get
 * handler of $NAME is the maps', provided the context it points to holds
 * SOURCE where this file expects it.  Anything else: maps cannot be
 * traced, and every location that depends on one is refused.
 */

static char *
ngx_http_b24trigger_map_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char                           *rv;
    ngx_str_t                      *value, source, name;
    ngx_http_variable_t            *v;
    ngx_http_b24trigger_watch_t    *w;
    ngx_http_b24trigger_map_ctx_t  *map;

    w = ngx_http_b24trigger_watch(cmd);
    if (w == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    source = value[1];
    name = value[2];

    /*
     * a name already declared: a regex's named capture, "set", another
     * map; what it stores is the variable's value, and the map is not
     * evaluated (but in a location with b24trigger_pass, where it is)
     */

    if (name.len > 1 && name.data[0] == '$') {
        name.data++;
        name.len--;

        if (ngx_http_b24trigger_trust_named(cf, &name)) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "the variable \"$%V\" of \"map\" is "
                               "already declared (by a regex's named "
                               "capture, \"set\" or another module): "
                               "where that writes it, the map is not "
                               "evaluated, except for the decisions of "
                               "b24trigger", &name);
        }

        name.data--;
        name.len++;
    }

    rv = w->set(cf, cmd, conf);

    if (rv != NGX_CONF_OK || name.len < 2) {
        return rv;
    }

    name.data++;
    name.len--;

    v = ngx_http_b24trigger_trust_named(cf, &name);

    if (v == NULL || v->get_handler == NULL || v->data == 0) {
        ngx_http_b24trigger_map_unknown = 1;
        return rv;
    }

    map = (ngx_http_b24trigger_map_ctx_t *) v->data;

    if (map->value.value.len != source.len
        || ngx_strncmp(map->value.value.data, source.data, source.len) != 0
        || map->default_value == NULL
        || (ngx_http_b24trigger_map_get
            && ngx_http_b24trigger_map_get != v->get_handler))
    {
        ngx_http_b24trigger_map_unknown = 1;
        return rv;
    }

    ngx_http_b24trigger_map_get = v->get_handler;

    return rv;
}


/*
 * "set $NAME VALUE", "auth_request_set $NAME VALUE": as their modules
 * parse them; then $NAME is remembered with where it is assigned
 */

static char *
ngx_http_b24trigger_assign(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char                            *rv;
    ngx_str_t                       *value, name;
    ngx_http_b24trigger_watch_t     *w;
    ngx_http_b24trigger_assigned_t  *a;

    w = ngx_http_b24trigger_watch(cmd);
    if (w == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;
    name = value[1];

    rv = w->set(cf, cmd, conf);

    if (rv != NGX_CONF_OK
        || ngx_http_b24trigger_assigned_vars == NULL
        || name.len < 2 || name.data[0] != '$')
    {
        return rv;
    }

    a = ngx_array_push(ngx_http_b24trigger_assigned_vars);
    if (a == NULL) {
        return NGX_CONF_ERROR;
    }

    a->name.len = name.len - 1;
    a->name.data = ngx_pnalloc(cf->pool, a->name.len);
    if (a->name.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(a->name.data, name.data + 1, a->name.len);

    a->directive = cmd->name;
    a->file = cf->conf_file->file.name;
    a->line = cf->conf_file->line;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, cf->log, 0,
                   "b24trigger trust: \"%V\" assigns \"$%V\"",
                   &a->directive, &a->name);

    return rv;
}


/* a variable by name, as nginx knows it until the variables are indexed */

static ngx_http_variable_t *
ngx_http_b24trigger_trust_named(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_uint_t                  i;
    ngx_hash_key_t             *key;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    if (cmcf->variables_keys == NULL) {
        return NULL;
    }

    key = cmcf->variables_keys->keys.elts;

    for (i = 0; i < cmcf->variables_keys->keys.nelts; i++) {
        if (key[i].key.len == name->len
            && ngx_strncasecmp(key[i].key.data, name->data, name->len) == 0)
        {
            return key[i].value;
        }
    }

    return NULL;
}


/* where "set" or "auth_request_set" assigns a variable, or NULL */

static ngx_http_b24trigger_assigned_t *
ngx_http_b24trigger_trust_assigned(ngx_str_t *name)
{
    ngx_uint_t                       i;
    ngx_http_b24trigger_assigned_t  *a;

    if (ngx_http_b24trigger_assigned_vars == NULL) {
        return NULL;
    }

    a = ngx_http_b24trigger_assigned_vars->elts;

    for (i = 0; i < ngx_http_b24trigger_assigned_vars->nelts; i++) {
        if (a[i].name.len == name->len
            && ngx_strncasecmp(a[i].name.data, name->data, name->len) == 0)
        {
            return &a[i];
        }
    }

    return NULL;
}


/* where a variable of nginx's own modules comes from, or NULL */

static ngx_http_b24trigger_origin_t *
ngx_http_b24trigger_trust_origin(ngx_http_b24trigger_trust_t *t,
    ngx_str_t *name)
{
    ngx_http_b24trigger_origin_t  *o;

    for (o = ngx_http_b24trigger_origins; o->name.len; o++) {
        if (o->name.len == name->len
            && ngx_strncasecmp(o->name.data, name->data, name->len) == 0)
        {
            return o;
        }
    }

    if (ngx_http_b24trigger_trust_named(t->cf, name)) {
        return NULL;
    }

    for (o = ngx_http_b24trigger_prefixes; o->name.len; o++) {
        if (name->len > o->name.len
            && ngx_strncasecmp(o->name.data, name->data, o->name.len) == 0)
        {
            return o;
        }
    }

    return NULL;
}


/*
 * Merge time, for a location with b24trigger_pass: NGX_CONF_OK, or
 * NGX_CONF_ERROR after an EMERG line naming the directive, the variable
 * and the scheme; warns about replays
 */

char *
ngx_http_b24trigger_trust_check(ngx_conf_t *cf,
    ngx_http_b24trigger_loc_conf_t *blcf)
{
    ngx_str_t                    *scheme;
    ngx_uint_t                    i, signs;
    ngx_http_complex_value_t     *cv;
    ngx_http_b24trigger_trust_t   t;

    static ngx_str_t  args = ngx_string("args");
    static ngx_str_t  query_string = ngx_string("query_string");

    ngx_memzero(&t, sizeof(ngx_http_b24trigger_trust_t));

    t.cf = cf;
    t.cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    t.clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    t.blcf = blcf;

    blcf->trust = 0;
    blcf->fresh = NULL;

    signs = ngx_http_b24trigger_verify_signs(blcf->verify);
    scheme = ngx_http_b24trigger_verify_name(blcf->verify);

    t.args_set = ngx_http_b24trigger_trust_assigned(&args);
    if (t.args_set == NULL) {
        t.args_set = ngx_http_b24trigger_trust_assigned(&query_string);
    }

    if (ngx_array_init(&t.bound, cf->temp_pool, 4, sizeof(ngx_uint_t))
        != NGX_OK
        || ngx_array_init(&t.loose, cf->temp_pool, 4, sizeof(ngx_uint_t))
           != NGX_OK
        || ngx_array_init(&t.digits, cf->temp_pool, 2, sizeof(ngx_uint_t))
           != NGX_OK
        || ngx_http_b24trigger_trust_bind(&t) == NGX_ERROR)
    {
        return NGX_CONF_ERROR;
    }

    /* "none" and "token" vouch for the request as a whole */

    if (!(signs & NGX_HTTP_B24TRIGGER_SIGNS_REQUEST)) {

        if (blcf->target
            && ngx_http_b24trigger_trust_directive(&t, "b24trigger_target",
                                                   blcf->target)
               != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        /* the value looked up chooses the target as much as a target */

        if (blcf->lookup
            && ngx_http_b24trigger_trust_directive(&t, "b24trigger_lookup",
                                                   &blcf->lookup->value)
               != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        if (blcf->code
            && ngx_http_b24trigger_trust_directive(&t, "b24trigger_code",
                                                   blcf->code)
               != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        if (blcf->dedup_zone
            && ngx_http_b24trigger_trust_directive(&t, "b24trigger_dedup",
                                                   blcf->dedup_key)
               != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        if (blcf->ignore) {
            cv = blcf->ignore->elts;

            for (i = 0; i < blcf->ignore->nelts; i++) {
                if (ngx_http_b24trigger_trust_directive(&t,
                                                        "b24trigger_ignore",
                                                        &cv[i])
                    != NGX_OK)
                {
                    return NGX_CONF_ERROR;
                }
            }
        }
    }

    /* replays */

    if (signs & NGX_HTTP_B24TRIGGER_SIGNS_NOTHING) {

        if (blcf->replay_zone) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"b24trigger_replay\" in location \"%V\" "
                               "has no signature to key on: "
                               "\"b24trigger_verify none\" checks none "
                               "(use \"b24trigger_dedup\" with an event id)",
                               &t.clcf->name);
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (blcf->replay_zone == NULL
        && !(signs & NGX_HTTP_B24TRIGGER_SIGNS_TIMESTAMP)
        && !ngx_http_b24trigger_trust_timestamp(&t))
    {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"b24trigger_verify %V\" in location \"%V\" "
                           "signs no timestamp: a captured request can be "
                           "replayed at any time; add \"b24trigger_replay "
                           "ZONE\" to forward each signed request once",
                           scheme, &t.clcf->name);
    }

    return NGX_CONF_OK;
}


/*
 * Per request, before anything is read.  The variables the decision was
 * traced through are marked to be computed again from their sources: a
 * regex's named capture of a map's name (in a server-level "if", a
 * "server_name", another map), or a script, may have stored the sender's
 * bytes as their value, and the map would never be evaluated.  Then a
 * location whose decision rests on the query string as "$request_uri"
 * signs it takes the arguments only as nginx parsed them from the
 * request line.  NGX_OK, or NGX_DECLINED after an error line: "set
 * $args", "rewrite", try_files, error_page, index or "rewrite ... last"
 * changed them, or could have.  A few stores and pointer comparisons.
 */

ngx_int_t
ngx_http_b24trigger_trust_request(ngx_http_request_t *r,
    ngx_http_b24trigger_loc_conf_t *blcf)
{
    ngx_uint_t                 i, *index;
    ngx_http_core_loc_conf_t  *clcf;

    if (blcf->fresh) {
        index = blcf->fresh->elts;

        for (i = 0; i < blcf->fresh->nelts; i++) {
            r->variables[index[i]].valid = 0;
            r->variables[index[i]].not_found = 0;
        }
    }

    if (!(blcf->trust & NGX_HTTP_B24TRIGGER_TRUST_REQUEST_LINE)) {
        return NGX_OK;
    }

    if (!r->internal
        && r->valid_unparsed_uri
        && (r->args.len == 0
            ? (r->args_start == NULL || r->args_start >= r->uri_end)
            : (r->args.data >= r->uri_start
               && r->args.data + r->args.len <= r->uri_end)))
    {
        return NGX_OK;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "b24trigger: location \"%V\" decides by the arguments "
                  "\"$request_uri\" signs, but nginx rewrote or redirected "
                  "the request: refused", &clcf->name);

    return NGX_DECLINED;
}


/*
 * What an "hmac" template fixes.  A piece of the signed message is known
 * only where its start and its end are: the template's start and end
 * are, text has its own length, and a variable ends (or begins) where
 * the text after (or before) it begins (or ends) when that text's first
 * (or last) byte cannot occur in the variable's value.  Then no two ways
 * of filling the template give the same message.  A variable is signed
 * when one of its places is known; $request_uri and $request bind the
 * arguments, $args and $query_string bind them too.  The body: signed
 * when its place is known, or when its start is and it is read as JSON
 * (a JSON text ends where it ends, whatever follows).
 */

static ngx_int_t
ngx_http_b24trigger_trust_bind(ngx_http_b24trigger_trust_t *t)
{
    u_char                       *known, c;
    ngx_int_t                     rc;
    ngx_str_t                    *name;
    ngx_uint_t                    i, n, changed;
    ngx_array_t                  *message, pieces;
    ngx_http_variable_t          *v;
    ngx_http_complex_value_t     *ts;
    ngx_http_b24trigger_part_t   *part;
    ngx_http_b24trigger_piece_t  *pc;

    message = ngx_http_b24trigger_verify_message(t->blcf->verify);

    if (message == NULL) {
        return NGX_OK;
    }

    t->body = NGX_HTTP_B24TRIGGER_BODY_LOOSE;

    if (ngx_array_init(&pieces, t->cf->temp_pool, 8,
                       sizeof(ngx_http_b24trigger_piece_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* a timestamp that is not digits is refused: so are its variables */

    ts = ngx_http_b24trigger_verify_timestamp(t->blcf->verify);

    if (ts) {
        rc = ngx_http_b24trigger_trust_pieces(ts, &pieces);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        pc = pieces.elts;

        for (i = 0; rc == NGX_OK && i < pieces.nelts; i++) {
            if (pc[i].kind == NGX_HTTP_B24TRIGGER_PIECE_VARIABLE
                && ngx_http_b24trigger_trust_push(&t->digits, pc[i].n)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        pieces.nelts = 0;
    }

    part = message->elts;

    for (i = 0; i < message->nelts; i++) {

        if (part[i].value) {
            rc = ngx_http_b24trigger_trust_pieces(part[i].value, &pieces);

            if (rc == NGX_ERROR) {
                return NGX_ERROR;
            }

            if (rc == NGX_DECLINED) {
                /* a script not understood binds nothing */
                ngx_str_set(&t->reason, "b24trigger cannot read it");
                return NGX_OK;
            }
        }

        if (part[i].body) {
            pc = ngx_array_push(&pieces);
            if (pc == NULL) {
                return NGX_ERROR;
            }

            ngx_memzero(pc, sizeof(ngx_http_b24trigger_piece_t));
            pc->kind = NGX_HTTP_B24TRIGGER_PIECE_BODY;
        }
    }

    pc = pieces.elts;
    n = pieces.nelts;

    /* known[i]: where piece i begins; known[n]: the end */

    known = ngx_pcalloc(t->cf->temp_pool, n + 1);
    if (known == NULL) {
        return NGX_ERROR;
    }

    known[0] = 1;
    known[n] = 1;

    do {
        changed = 0;

        for (i = 0; i < n; i++) {

            if (known[i] == known[i + 1]) {
                continue;
            }

            if (pc[i].kind == NGX_HTTP_B24TRIGGER_PIECE_TEXT) {
                known[i] = 1;
                known[i + 1] = 1;
                changed = 1;
                continue;
            }

            if (known[i]) {
                if (pc[i + 1].kind != NGX_HTTP_B24TRIGGER_PIECE_TEXT) {
                    continue;
                }

                c = pc[i + 1].text.data[0];

            } else {
                if (i == 0 || pc[i - 1].kind != NGX_HTTP_B24TRIGGER_PIECE_TEXT)
                {
                    continue;
                }

                c = pc[i - 1].text.data[pc[i - 1].text.len - 1];
            }

            if (ngx_http_b24trigger_trust_excludes(t, &pc[i], c)) {
                known[i] = 1;
                known[i + 1] = 1;
                changed = 1;
            }
        }

    } while (changed);

    v = t->cmcf->variables.elts;

    for (i = 0; i < n; i++) {

        if (pc[i].kind != NGX_HTTP_B24TRIGGER_PIECE_VARIABLE
            || !known[i] || !known[i + 1]
            || ngx_http_b24trigger_trust_listed(&t->bound, pc[i].n))
        {
            continue;
        }

        if (ngx_http_b24trigger_trust_push(&t->bound, pc[i].n) != NGX_OK) {
            return NGX_ERROR;
        }

        name = &v[pc[i].n].name;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, t->cf->log, 0,
                       "b24trigger trust: the template binds \"$%V\"", name);

        if (ngx_http_b24trigger_trust_is(name, "request")
            || ngx_http_b24trigger_trust_is(name, "request_uri"))
        {
            if (ngx_http_b24trigger_trust_piece_name(t, &pc[i], &t->line)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            if (name->len == sizeof("request") - 1) {
                t->request = 1;
            }
        }

        if (ngx_http_b24trigger_trust_is(name, "args")
            || ngx_http_b24trigger_trust_is(name, "query_string"))
        {
            t->args = 1;
        }
    }

    for (i = 0; i < n; i++) {

        switch (pc[i].kind) {

        case NGX_HTTP_B24TRIGGER_PIECE_BODY:

            if (known[i] && known[i + 1]) {
                t->body = NGX_HTTP_B24TRIGGER_BODY_FIXED;

            } else if (known[i] && t->body != NGX_HTTP_B24TRIGGER_BODY_FIXED)
            {
                t->body = NGX_HTTP_B24TRIGGER_BODY_START;
            }

            break;

        case NGX_HTTP_B24TRIGGER_PIECE_VARIABLE:

            if (ngx_http_b24trigger_trust_listed(&t->bound, pc[i].n)
                || ngx_http_b24trigger_trust_listed(&t->loose, pc[i].n))
            {
                break;
            }

            if (ngx_http_b24trigger_trust_push(&t->loose, pc[i].n)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            name = &v[pc[i].n].name;

            if (t->line.len == 0
                && (ngx_http_b24trigger_trust_is(name, "request_uri")
                    || ngx_http_b24trigger_trust_is(name, "request"))
                && ngx_http_b24trigger_trust_piece_name(t, &pc[i],
                                                        &t->line_loose)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }

            break;

        default:
            break;
        }
    }

    /* why not all: where reading the template from its start stops */

    for (i = 0; i < n; i++) {
        if (!known[i + 1]) {
            return ngx_http_b24trigger_trust_reason(t, &pc[i]);
        }
    }

    return NGX_OK;
}


/* can byte c not occur in the value of the piece */

static ngx_uint_t
ngx_http_b24trigger_trust_excludes(ngx_http_b24trigger_trust_t *t,
    ngx_http_b24trigger_piece_t *pc, u_char c)
{
    ngx_str_t                     *name;
    ngx_http_variable_t           *v;
    ngx_http_b24trigger_origin_t  *o;

    if (pc->kind != NGX_HTTP_B24TRIGGER_PIECE_VARIABLE) {
        return 0;
    }

    /* digits and blanks, or the request is refused */

    if (ngx_http_b24trigger_trust_listed(&t->digits, pc->n)) {
        return (c < '0' || c > '9') && c != ' ' && c != '\t';
    }

    v = t->cmcf->variables.elts;
    name = &v[pc->n].name;

    if (ngx_http_b24trigger_trust_assigned(name)) {
        return 0;
    }

    o = ngx_http_b24trigger_trust_origin(t, name);

    if (o == NULL
        || (o->from == NGX_HTTP_B24TRIGGER_FROM_ARGS && t->args_set))
    {
        return 0;
    }

    switch (o->holds) {

#if (nginx_version >= 1021001)

    /* nginx refuses spaces and control characters in the request line */

    case NGX_HTTP_B24TRIGGER_HOLDS_URI:
        return c <= 0x20 || c == 0x7f;

    case NGX_HTTP_B24TRIGGER_HOLDS_LINE:
        return c < 0x20 || c == 0x7f;

#endif

    case NGX_HTTP_B24TRIGGER_HOLDS_HEADER:
        return c == '\0' || c == CR || c == LF;

    case NGX_HTTP_B24TRIGGER_HOLDS_IS_ARGS:
        return c != '?';

    default:
        return 0;
    }
}


/* t->reason: the template cannot be read past the piece pc */

static ngx_int_t
ngx_http_b24trigger_trust_reason(ngx_http_b24trigger_trust_t *t,
    ngx_http_b24trigger_piece_t *pc)
{
    u_char     *p, *last, c;
    ngx_str_t   name, next;
    u_char      buf[NGX_MAX_CONF_ERRSTR];

    if (ngx_http_b24trigger_trust_piece_name(t, &pc[0], &name) != NGX_OK) {
        return NGX_ERROR;
    }

    last = buf + sizeof(buf);

    if (pc[1].kind == NGX_HTTP_B24TRIGGER_PIECE_TEXT) {
        c = pc[1].text.data[0];
        p = ngx_slprintf(buf, last, "\"");

        switch (c) {
        case LF:
            p = ngx_slprintf(p, last, "\\n");
            break;
        case CR:
            p = ngx_slprintf(p, last, "\\r");
            break;
        case '\t':
            p = ngx_slprintf(p, last, "\\t");
            break;
        case '"':
        case '\\':
            p = ngx_slprintf(p, last, "\\%c", c);
            break;
        default:
            if (c < 0x20 || c >= 0x7f) {
                p = ngx_slprintf(p, last, "\\x%02xd", c);

            } else {
                p = ngx_slprintf(p, last, "%c", c);
            }
        }

        p = ngx_slprintf(p, last, "\" after \"%V\" can occur in it", &name);

    } else {
        if (ngx_http_b24trigger_trust_piece_name(t, &pc[1], &next)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        p = ngx_slprintf(buf, last, "nothing separates \"%V\" from \"%V\"",
                         &name, &next);
    }

    t->reason.len = p - buf;
    t->reason.data = ngx_pnalloc(t->cf->temp_pool, t->reason.len);
    if (t->reason.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(t->reason.data, buf, t->reason.len);

    return NGX_OK;
}


/* "$name", "$1", "{body}" */

static ngx_int_t
ngx_http_b24trigger_trust_piece_name(ngx_http_b24trigger_trust_t *t,
    ngx_http_b24trigger_piece_t *pc, ngx_str_t *name)
{
    ngx_http_variable_t  *v;

    switch (pc->kind) {

    case NGX_HTTP_B24TRIGGER_PIECE_VARIABLE:
        v = t->cmcf->variables.elts;

        name->len = v[pc->n].name.len + 1;
        name->data = ngx_pnalloc(t->cf->temp_pool, name->len);
        if (name->data == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(name->data, "$%V", &v[pc->n].name);
        break;

    case NGX_HTTP_B24TRIGGER_PIECE_CAPTURE:
        name->data = ngx_pnalloc(t->cf->temp_pool, NGX_INT_T_LEN + 1);
        if (name->data == NULL) {
            return NGX_ERROR;
        }

        name->len = ngx_sprintf(name->data, "$%ui", pc->n) - name->data;
        break;

    case NGX_HTTP_B24TRIGGER_PIECE_BODY:
        ngx_str_set(name, "{body}");
        break;

    default:
        name->len = pc->text.len;
        name->data = pc->text.data;
    }

    return NGX_OK;
}


/* "hmac ... timestamp=": signed if the template binds all it is made of */

static ngx_uint_t
ngx_http_b24trigger_trust_timestamp(ngx_http_b24trigger_trust_t *t)
{
    ngx_uint_t                    i, vars;
    ngx_array_t                   pieces;
    ngx_http_complex_value_t     *ts;
    ngx_http_b24trigger_piece_t  *pc;

    ts = ngx_http_b24trigger_verify_timestamp(t->blcf->verify);

    if (ts == NULL
        || ngx_array_init(&pieces, t->cf->temp_pool, 4,
                          sizeof(ngx_http_b24trigger_piece_t))
           != NGX_OK
        || ngx_http_b24trigger_trust_pieces(ts, &pieces) != NGX_OK)
    {
        return 0;
    }

    pc = pieces.elts;
    vars = 0;

    for (i = 0; i < pieces.nelts; i++) {

        if (pc[i].kind == NGX_HTTP_B24TRIGGER_PIECE_TEXT) {
            continue;
        }

        if (pc[i].kind != NGX_HTTP_B24TRIGGER_PIECE_VARIABLE
            || !ngx_http_b24trigger_trust_listed(&t->bound, pc[i].n))
        {
            return 0;
        }

        vars++;
    }

    return vars > 0;
}


/*
 * The pieces of a complex value, in order, read from its values script:
 * NGX_OK, NGX_DECLINED for a script of codes this file does not know, or
 * NGX_ERROR
 */

static ngx_int_t
ngx_http_b24trigger_trust_pieces(ngx_http_complex_value_t *cv,
    ngx_array_t *pieces)
{
    u_char                               *p;
    ngx_http_script_code_pt               code;
    ngx_http_script_var_code_t           *var;
    ngx_http_b24trigger_piece_t          *pc;
    ngx_http_script_copy_code_t          *copy;
    ngx_http_script_copy_capture_code_t  *cap;

    if (cv->lengths == NULL) {

        if (cv->value.len == 0) {
            return NGX_OK;
        }

        pc = ngx_array_push(pieces);
        if (pc == NULL) {
            return NGX_ERROR;
        }

        pc->kind = NGX_HTTP_B24TRIGGER_PIECE_TEXT;
        pc->n = 0;
        pc->text = cv->value;

        return NGX_OK;
    }

    p = cv->values;

    if (p == NULL) {
        return NGX_DECLINED;
    }

    for ( ;; ) {

        if (*(uintptr_t *) p == (uintptr_t) NULL) {
            return NGX_OK;
        }

        code = *(ngx_http_script_code_pt *) p;

        if (code == ngx_http_script_copy_code) {
            copy = (ngx_http_script_copy_code_t *) p;
            p += sizeof(ngx_http_script_copy_code_t)
                 + ngx_align(copy->len, sizeof(uintptr_t));

            if (copy->len == 0) {
                continue;
            }

            pc = ngx_array_push(pieces);
            if (pc == NULL) {
                return NGX_ERROR;
            }

            pc->kind = NGX_HTTP_B24TRIGGER_PIECE_TEXT;
            pc->n = 0;
            pc->text.len = copy->len;
            pc->text.data = (u_char *) copy
                            + sizeof(ngx_http_script_copy_code_t);
            continue;
        }

        pc = ngx_array_push(pieces);
        if (pc == NULL) {
            return NGX_ERROR;
        }

        ngx_str_null(&pc->text);

        if (code == ngx_http_script_copy_var_code) {
            var = (ngx_http_script_var_code_t *) p;

            pc->kind = NGX_HTTP_B24TRIGGER_PIECE_VARIABLE;
            pc->n = var->index;
            p += sizeof(ngx_http_script_var_code_t);
            continue;
        }

        if (code == ngx_http_script_copy_capture_code) {
            cap = (ngx_http_script_copy_capture_code_t *) p;

            pc->kind = NGX_HTTP_B24TRIGGER_PIECE_CAPTURE;
            pc->n = cap->n / 2;
            p += sizeof(ngx_http_script_copy_capture_code_t);
            continue;
        }

        return NGX_DECLINED;
    }
}


/* one directive's value: NGX_OK, or NGX_ERROR after the EMERG line */

static ngx_int_t
ngx_http_b24trigger_trust_directive(ngx_http_b24trigger_trust_t *t,
    const char *directive, ngx_http_complex_value_t *cv)
{
    u_char     *p, *last;
    ngx_int_t   rc;
    ngx_str_t   first, *scheme;
    u_char      through[NGX_MAX_CONF_ERRSTR];
    u_char      what[NGX_MAX_CONF_ERRSTR];

    ngx_str_null(&first);
    ngx_str_null(&t->name);
    ngx_str_null(&t->field);
    ngx_str_null(&t->part);
    t->what = NULL;
    t->assigned = NULL;
    t->why = NGX_HTTP_B24TRIGGER_WHY_UNTRACED;
    t->depth = 0;

    rc = ngx_http_b24trigger_trust_value(t, cv, NULL, &first);

    if (rc != NGX_DECLINED) {
        return rc;
    }

    scheme = ngx_http_b24trigger_verify_name(t->blcf->verify);

    last = through + sizeof(through) - 1;
    p = through;

    if (first.len
        && (first.len != t->name.len
            || ngx_strncmp(first.data, t->name.data, first.len) != 0))
    {
        p = ngx_slprintf(p, last, " through \"%V\"", &first);
    }

    *p = '\0';

    switch (t->why) {

    case NGX_HTTP_B24TRIGGER_WHY_UNTRACED:
        ngx_conf_log_error(NGX_LOG_EMERG, t->cf, 0,
                           "\"%s\" in location \"%V\" uses \"%V\"%s, which "
                           "b24trigger cannot trace to what "
                           "\"b24trigger_verify %V\" signs (a \"set\" "
                           "variable, a capture, or another module's); "
                           "take it from a b24trigger_field or a map of "
                           "one, or see \"b24trigger_unsigned\"",
                           directive, &t->clcf->name, &t->name, through,
                           scheme);
        return NGX_ERROR;

    case NGX_HTTP_B24TRIGGER_WHY_ASSIGNED:
        ngx_conf_log_error(NGX_LOG_EMERG, t->cf, 0,
                           "\"%s\" in location \"%V\" uses \"%V\"%s, which "
                           "\"%V\" assigns (%V:%ui): b24trigger cannot "
                           "trace an assigned variable to what "
                           "\"b24trigger_verify %V\" signs; take it from a "
                           "b24trigger_field or a map of one that nothing "
                           "assigns, or see \"b24trigger_unsigned\"",
                           directive, &t->clcf->name, &t->name, through,
                           &t->assigned->directive, &t->assigned->file,
                           t->assigned->line, scheme);
        return NGX_ERROR;

    case NGX_HTTP_B24TRIGGER_WHY_CAPTURE:
        ngx_conf_log_error(NGX_LOG_EMERG, t->cf, 0,
                           "\"%s\" in location \"%V\" uses \"%V\"%s, a "
                           "capture, which a later regex (a map's, \"if\", "
                           "\"rewrite\") may overwrite: only "
                           "\"b24trigger_verify token\" or \"none\" may rest "
                           "on one; take it from a map of a signed "
                           "variable, or name the capture and see "
                           "\"b24trigger_unsigned\"",
                           directive, &t->clcf->name, &t->name, through);
        return NGX_ERROR;

    case NGX_HTTP_B24TRIGGER_WHY_LOOSE:
        ngx_conf_log_error(NGX_LOG_EMERG, t->cf, 0,
                           "\"%s\" in location \"%V\" uses \"%V\"%s, which "
                           "\"b24trigger_verify %V\" signs only as part of "
                           "\"%V\" in \"message=\", and where that begins "
                           "or ends is not fixed: %V; put text that cannot "
                           "occur in a variable next to it (a space or "
                           "\"\\n\" for \"$request_uri\"), or see "
                           "\"b24trigger_unsigned\"",
                           directive, &t->clcf->name, &t->name, through,
                           scheme, &t->part, &t->reason);
        return NGX_ERROR;

    case NGX_HTTP_B24TRIGGER_WHY_JOINED:
        ngx_conf_log_error(NGX_LOG_EMERG, t->cf, 0,
                           "\"%s\" in location \"%V\" uses \"%V\" (the body "
                           "field \"%V\")%s, which \"b24trigger_verify %V\" "
                           "signs joined to the next field's name without a "
                           "separator: a captured request split another "
                           "way is signed alike; add \"b24trigger_replay "
                           "ZONE\", which answers it as a replay, or see "
                           "\"b24trigger_unsigned\"",
                           directive, &t->clcf->name, &t->name, &t->field,
                           through, scheme);
        return NGX_ERROR;

    default: /* NGX_HTTP_B24TRIGGER_WHY_UNSIGNED */
        break;
    }

    last = what + sizeof(what) - 1;

    if (t->field.len) {
        p = ngx_slprintf(what, last, "the body field \"%V\"", &t->field);

    } else {
        p = ngx_slprintf(what, last, "%s", t->what);
    }

    *p = '\0';

    ngx_conf_log_error(NGX_LOG_EMERG, t->cf, 0,
                       "\"%s\" in location \"%V\" uses \"%V\" (%s)%s, "
                       "which \"b24trigger_verify %V\" does not sign; take "
                       "it from a signed b24trigger_field, or see "
                       "\"b24trigger_unsigned\"",
                       directive, &t->clcf->name, &t->name, what, through,
                       scheme);

    return NGX_ERROR;
}


/*
 * A complex value: NGX_OK when all it depends on is signed, NGX_DECLINED
 * with t->name and t->why set when not, NGX_ERROR.  rx: the regex of the
 * map value being checked, whose captures come from the map's source;
 * first: the first variable found unsigned, as this value names it.
 */

static ngx_int_t
ngx_http_b24trigger_trust_value(ngx_http_b24trigger_trust_t *t,
    ngx_http_complex_value_t *cv, ngx_http_regex_t *rx, ngx_str_t *first)
{
    ngx_int_t                     rc;
    ngx_uint_t                    i;
    ngx_array_t                   pieces;
    ngx_http_b24trigger_piece_t  *pc;

    if (ngx_array_init(&pieces, t->cf->temp_pool, 4,
                       sizeof(ngx_http_b24trigger_piece_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_http_b24trigger_trust_pieces(cv, &pieces);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        t->name = cv->value;
        t->why = NGX_HTTP_B24TRIGGER_WHY_UNTRACED;
        return NGX_DECLINED;
    }

    pc = pieces.elts;

    for (i = 0; i < pieces.nelts; i++) {

        switch (pc[i].kind) {

        case NGX_HTTP_B24TRIGGER_PIECE_VARIABLE:

            rc = ngx_http_b24trigger_trust_variable(t, pc[i].n, rx);

            if (rc != NGX_OK) {

                if (rc == NGX_DECLINED && first && first->len == 0
                    && ngx_http_b24trigger_trust_piece_name(t, &pc[i], first)
                       != NGX_OK)
                {
                    return NGX_ERROR;
                }

                return rc;
            }

            break;

        case NGX_HTTP_B24TRIGGER_PIECE_CAPTURE:

            /*
             * a map's own regex, evaluated just before its value; any
             * other is the last regex that ran, whichever it was
             */

            if (rx) {
                break;
            }

            if (ngx_http_b24trigger_trust_piece_name(t, &pc[i], &t->name)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            t->why = NGX_HTTP_B24TRIGGER_WHY_CAPTURE;

            if (first && first->len == 0) {
                *first = t->name;
            }

            return NGX_DECLINED;

        default:
            break;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_b24trigger_trust_variable(ngx_http_b24trigger_trust_t *t,
    ngx_uint_t index, ngx_http_regex_t *rx)
{
    u_char                        *p;
    ngx_int_t                      rc;
    ngx_str_t                     *name, root, path;
    ngx_uint_t                     i, depth;
    const char                    *what;
    ngx_http_variable_t           *v, *var;
    ngx_http_b24trigger_origin_t  *o;

    v = t->cmcf->variables.elts;
    name = &v[index].name;

    /* what the operator accepts, what the template binds */

    if (ngx_http_b24trigger_trust_listed(t->blcf->unsigned_vars, index)
        || ngx_http_b24trigger_trust_listed(&t->bound, index))
    {
        return NGX_OK;
    }

    /* a named capture of the map's own regex */

    if (rx) {
        for (i = 0; i < rx->nvariables; i++) {
            if ((ngx_uint_t) rx->variables[i].index == index) {
                return NGX_OK;
            }
        }
    }

    /* from here on, t->name is this variable if it is not signed */

    t->name.len = name->len + 1;
    t->name.data = ngx_pnalloc(t->cf->temp_pool, t->name.len);
    if (t->name.data == NULL) {
        return NGX_ERROR;
    }

    p = t->name.data;
    *p++ = '$';
    ngx_memcpy(p, name->data, name->len);

    t->what = NULL;
    t->why = NGX_HTTP_B24TRIGGER_WHY_UNTRACED;

    if (t->depth++ > NGX_HTTP_B24TRIGGER_TRUST_DEPTH) {
        return NGX_DECLINED;
    }

    /* "set", "auth_request_set": whatever the map or the module says */

    t->assigned = ngx_http_b24trigger_trust_assigned(name);

    if (t->assigned) {
        t->why = NGX_HTTP_B24TRIGGER_WHY_ASSIGNED;
        return NGX_DECLINED;
    }

#if (NGX_PCRE)

    /* a named capture of the location's regex: any later regex's */

    if (t->clcf->regex) {
        for (i = 0; i < t->clcf->regex->nvariables; i++) {
            if ((ngx_uint_t) t->clcf->regex->variables[i].index == index) {
                t->why = NGX_HTTP_B24TRIGGER_WHY_CAPTURE;
                return NGX_DECLINED;
            }
        }
    }

#endif

    var = ngx_http_b24trigger_trust_named(t->cf, name);

    if (var) {

        /* a body field */

        if (ngx_http_b24trigger_field_path(var, &path, &root, &depth)
            == NGX_OK)
        {
            if (!ngx_http_b24trigger_verify_signs_field(t->blcf->verify,
                                                        &root, depth))
            {
                t->field = path;
                t->what = "a body field";
                t->why = NGX_HTTP_B24TRIGGER_WHY_UNSIGNED;
                return NGX_DECLINED;
            }

            /*
             * names and values joined: a copy split another way is signed
             * alike, and only the replay shield answers it as the same
             */

            if (t->blcf->replay_zone == NULL
                && ngx_http_b24trigger_verify_joins_fields(t->blcf->verify))
            {
                t->field = path;
                t->why = NGX_HTTP_B24TRIGGER_WHY_JOINED;
                return NGX_DECLINED;
            }

            switch (t->body) {

            case NGX_HTTP_B24TRIGGER_BODY_START:
                t->blcf->trust |= NGX_HTTP_B24TRIGGER_TRUST_BODY_JSON;
                break;

            case NGX_HTTP_B24TRIGGER_BODY_LOOSE:
                ngx_str_set(&t->part, "{body}");
                t->why = NGX_HTTP_B24TRIGGER_WHY_LOOSE;
                return NGX_DECLINED;

            default:
                break;
            }

            t->depth--;
            return ngx_http_b24trigger_trust_fresh(t, index);
        }

        /* a map */

        if (ngx_http_b24trigger_map_get
            && var->get_handler == ngx_http_b24trigger_map_get
            && !ngx_http_b24trigger_map_unknown)
        {
            rc = ngx_http_b24trigger_trust_map(t, var);

            if (rc != NGX_OK) {
                return rc;
            }

            t->depth--;
            return ngx_http_b24trigger_trust_fresh(t, index);
        }
    }

    /* nginx's own variables, by name or by prefix */

    o = ngx_http_b24trigger_trust_origin(t, name);

    if (o == NULL) {

        /* geo, split_clients, another module's: not traceable */

        return ngx_http_b24trigger_trust_refuse(t, index, NULL);
    }

    what = o->what;

    switch (o->from) {

    case NGX_HTTP_B24TRIGGER_FROM_SERVER:
        t->depth--;
        return NGX_OK;

    case NGX_HTTP_B24TRIGGER_FROM_LINE:

        /* $request_uri: in $request, as nginx parsed it */

        if (t->request) {
            t->depth--;
            return ngx_http_b24trigger_trust_fresh(t, index);
        }

        break;

    case NGX_HTTP_B24TRIGGER_FROM_ARGS:
        return ngx_http_b24trigger_trust_args(t, index, o);

    case NGX_HTTP_B24TRIGGER_FROM_URI:

        /* rewrites change $uri, not $request_uri */

        if (t->line.len) {
            what = "the URI after rewrites, not $request_uri";
        }

        break;

    default:
        break;
    }

    return ngx_http_b24trigger_trust_refuse(t, index, what);
}


/*
 * The query string: signed where the template fixes $args or
 * $query_string, or $request_uri (or $request) when no "set $args"
 * changes the arguments; then each request is checked for a rewrite
 */

static ngx_int_t
ngx_http_b24trigger_trust_args(ngx_http_b24trigger_trust_t *t,
    ngx_uint_t index, ngx_http_b24trigger_origin_t *o)
{
    u_char  *p;
    size_t   len;

    if (t->args) {
        t->depth--;
        return ngx_http_b24trigger_trust_fresh(t, index);
    }

    if (t->line.len) {

        if (t->args_set == NULL) {
            t->blcf->trust |= NGX_HTTP_B24TRIGGER_TRUST_REQUEST_LINE;
            t->depth--;
            return ngx_http_b24trigger_trust_fresh(t, index);
        }

        len = ngx_strlen(o->what) + sizeof(" after \"$\"")
              + t->args_set->directive.len + 1 + t->args_set->name.len;

        p = ngx_pnalloc(t->cf->temp_pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(p, "%s after \"%V $%V\"%Z", o->what,
                    &t->args_set->directive, &t->args_set->name);

        return ngx_http_b24trigger_trust_refuse(t, index, (char *) p);
    }

    if (t->line_loose.len) {
        t->part = t->line_loose;
        t->why = NGX_HTTP_B24TRIGGER_WHY_LOOSE;
        return NGX_DECLINED;
    }

    return ngx_http_b24trigger_trust_refuse(t, index, o->what);
}


/*
 * NGX_DECLINED: unsigned (what), or not traceable (NULL); a variable that
 * the template holds without fixing it is said to be so
 */

static ngx_int_t
ngx_http_b24trigger_trust_refuse(ngx_http_b24trigger_trust_t *t,
    ngx_uint_t index, const char *what)
{
    if (ngx_http_b24trigger_trust_listed(&t->loose, index)) {
        t->part = t->name;
        t->why = NGX_HTTP_B24TRIGGER_WHY_LOOSE;
        return NGX_DECLINED;
    }

    t->what = what;
    t->why = what ? NGX_HTTP_B24TRIGGER_WHY_UNSIGNED
                  : NGX_HTTP_B24TRIGGER_WHY_UNTRACED;

    return NGX_DECLINED;
}


/*
 * A map is signed if its source is and each of its values is: text, or
 * variables (and, for a regex, its captures) that are signed in turn
 */

static ngx_int_t
ngx_http_b24trigger_trust_map(ngx_http_b24trigger_trust_t *t,
    ngx_http_variable_t *v)
{
    ngx_int_t                       rc;
    ngx_uint_t                      i;
    ngx_hash_t                     *hash;
    ngx_hash_elt_t                 *elt;
    ngx_http_b24trigger_map_ctx_t  *map;

    map = (ngx_http_b24trigger_map_ctx_t *) v->data;

    /* "hostnames" wildcards are not walked */

    if (map->map.hash.wc_head || map->map.hash.wc_tail) {
        return NGX_DECLINED;
    }

    rc = ngx_http_b24trigger_trust_value(t, &map->value, NULL, NULL);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_b24trigger_trust_map_value(t, map->default_value, NULL);
    if (rc != NGX_OK) {
        return rc;
    }

    hash = &map->map.hash.hash;

    for (i = 0; i < hash->size; i++) {

        for (elt = hash->buckets[i]; elt && elt->value; /* void */) {

            rc = ngx_http_b24trigger_trust_map_value(t, elt->value, NULL);
            if (rc != NGX_OK) {
                return rc;
            }

            elt = (ngx_hash_elt_t *) ngx_align_ptr(&elt->name[0] + elt->len,
                                                   sizeof(void *));
        }
    }

#if (NGX_PCRE)

    for (i = 0; i < map->map.nregex; i++) {
        rc = ngx_http_b24trigger_trust_map_value(t, map->map.regex[i].value,
                                                 map->map.regex[i].regex);
        if (rc != NGX_OK) {
            return rc;
        }
    }

#endif

    return NGX_OK;
}


static ngx_int_t
ngx_http_b24trigger_trust_map_value(ngx_http_b24trigger_trust_t *t,
    ngx_http_variable_value_t *vv, ngx_http_regex_t *rx)
{
    if (vv->valid) {
        return NGX_OK;
    }

#if (nginx_version >= 1011000)

    /* a value with variables is a complex value since nginx 1.11.0 */

    return ngx_http_b24trigger_trust_value(t,
                                      (ngx_http_complex_value_t *) vv->data,
                                      rx, NULL);
#else

    return ngx_http_b24trigger_trust_variable(t, (uintptr_t) vv->data, rx);

#endif
}


static ngx_uint_t
ngx_http_b24trigger_trust_listed(ngx_array_t *a, ngx_uint_t index)
{
    ngx_uint_t  i, *n;

    if (a == NULL) {
        return 0;
    }

    n = a->elts;

    for (i = 0; i < a->nelts; i++) {
        if (n[i] == index) {
            return 1;
        }
    }

    return 0;
}


static ngx_int_t
ngx_http_b24trigger_trust_push(ngx_array_t *a, ngx_uint_t index)
{
    ngx_uint_t  *n;

    n = ngx_array_push(a);
    if (n == NULL) {
        return NGX_ERROR;
    }

    *n = index;

    return NGX_OK;
}


/*
 * A variable found signed that gets its value from its handler (a body
 * field, a map, the request line): computed afresh for each request
 * (ngx_http_b24trigger_trust_request()), whatever wrote its cached value
 * before (a named capture of the same name, a script)
 */

static ngx_int_t
ngx_http_b24trigger_trust_fresh(ngx_http_b24trigger_trust_t *t,
    ngx_uint_t index)
{
    if (t->blcf->fresh == NULL) {
        t->blcf->fresh = ngx_array_create(t->cf->pool, 4, sizeof(ngx_uint_t));
        if (t->blcf->fresh == NULL) {
            return NGX_ERROR;
        }
    }

    if (ngx_http_b24trigger_trust_listed(t->blcf->fresh, index)) {
        return NGX_OK;
    }

    return ngx_http_b24trigger_trust_push(t->blcf->fresh, index);
}


static ngx_uint_t
ngx_http_b24trigger_trust_is(ngx_str_t *name, const char *s)
{
    size_t  len;

    len = ngx_strlen(s);

    return name->len == len
           && ngx_strncasecmp(name->data, (u_char *) s, len) == 0;
}
