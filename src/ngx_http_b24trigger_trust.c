
/*
 * Copyright (C) b24trigger authors
 *
 * Only signed data decides.  At configuration time every variable that
 * b24trigger_target, b24trigger_code, the b24trigger_dedup key and
 * b24trigger_ignore depend on is traced, through nginx's scripts and
 * map{} blocks, to where its value comes from; a location whose decision
 * rests on something its verification does not sign (a query argument, a
 * header, the URI, a body field outside the signature, a variable that
 * cannot be traced) is refused, unless the operator lists that variable
 * in "b24trigger_unsigned".  Also the warning for a scheme that signs no
 * timestamp and runs without "b24trigger_replay".
 *
 * nginx keeps its map{} blocks to itself: a variable is known to be a
 * map's by the map module's get handler, learnt by watching the "map"
 * directive while the http block is parsed (ngx_http_b24trigger_trust_
 * init() to _done()).  Sees the verification only through
 * ngx_http_b24trigger_verify.h and the body fields only through
 * ngx_http_b24trigger_fields.h.  Nothing here runs per request.
 */


#include <nginx.h>

#include "ngx_http_b24trigger.h"
#include "ngx_http_b24trigger_verify.h"
#include "ngx_http_b24trigger_fields.h"


#define NGX_HTTP_B24TRIGGER_TRUST_DEPTH  16

/* the parts of the request a "message=" template binds */
#define NGX_HTTP_B24TRIGGER_TRUST_PATH   0x01
#define NGX_HTTP_B24TRIGGER_TRUST_ARGS   0x02

/* what a piece of a complex value is */
#define NGX_HTTP_B24TRIGGER_PIECE_TEXT      0
#define NGX_HTTP_B24TRIGGER_PIECE_VARIABLE  1
#define NGX_HTTP_B24TRIGGER_PIECE_CAPTURE   2
#define NGX_HTTP_B24TRIGGER_PIECE_BODY      3


/* ngx_http_map_module.c's own context of a map, as far as it is read */

typedef struct {
    ngx_http_map_t                   map;
    ngx_http_complex_value_t         value;       /* the source */
    ngx_http_variable_value_t       *default_value;
} ngx_http_b24trigger_map_ctx_t;


typedef struct {
    ngx_uint_t                       kind;
    ngx_uint_t                       n;           /* variable index,
                                                     capture number */
} ngx_http_b24trigger_piece_t;


/* where the variables of nginx's own modules come from, by name */

typedef struct {
    ngx_str_t                        name;
    ngx_uint_t                       parts;       /* PATH, ARGS */
    const char                      *what;        /* NULL: the server's */
} ngx_http_b24trigger_origin_t;


/* one location's check */

typedef struct {
    ngx_conf_t                      *cf;
    ngx_http_core_main_conf_t       *cmcf;
    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_b24trigger_loc_conf_t  *blcf;
    ngx_uint_t                       parts;       /* bound by the template */
    ngx_array_t                      bound;       /* ngx_uint_t indexes */
    ngx_uint_t                       depth;

    /* the first dependency found unsigned */
    ngx_str_t                        name;        /* "$arg_deal" */
    ngx_str_t                        field;       /* its body field */
    const char                      *what;        /* NULL: not traceable */
} ngx_http_b24trigger_trust_t;


static char *ngx_http_b24trigger_map_block(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static void ngx_http_b24trigger_trust_cleanup(void *data);
static ngx_http_variable_t *ngx_http_b24trigger_trust_named(ngx_conf_t *cf,
    ngx_str_t *name);
static ngx_int_t ngx_http_b24trigger_trust_pieces(
    ngx_http_complex_value_t *cv, ngx_array_t *pieces);
static ngx_int_t ngx_http_b24trigger_trust_bind(
    ngx_http_b24trigger_trust_t *t);
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
static ngx_int_t ngx_http_b24trigger_trust_map(ngx_http_b24trigger_trust_t *t,
    ngx_http_variable_t *v);
static ngx_int_t ngx_http_b24trigger_trust_map_value(
    ngx_http_b24trigger_trust_t *t, ngx_http_variable_value_t *vv,
    ngx_http_regex_t *rx);
static ngx_uint_t ngx_http_b24trigger_trust_listed(ngx_array_t *a,
    ngx_uint_t index);


/* the map module's "map" directive, its own handler, its variables' */

static ngx_command_t            *ngx_http_b24trigger_map_cmd;
static char                   *(*ngx_http_b24trigger_map_set)(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_http_get_variable_pt  ngx_http_b24trigger_map_get;
static ngx_uint_t                ngx_http_b24trigger_map_unknown;


static ngx_http_b24trigger_origin_t  ngx_http_b24trigger_origins[] = {

    { ngx_string("uri"), NGX_HTTP_B24TRIGGER_TRUST_PATH, "the URI" },
    { ngx_string("document_uri"), NGX_HTTP_B24TRIGGER_TRUST_PATH,
      "the URI" },
    { ngx_string("request_uri"),
      NGX_HTTP_B24TRIGGER_TRUST_PATH|NGX_HTTP_B24TRIGGER_TRUST_ARGS,
      "the URI" },
    { ngx_string("request"),
      NGX_HTTP_B24TRIGGER_TRUST_PATH|NGX_HTTP_B24TRIGGER_TRUST_ARGS,
      "the request line" },
    { ngx_string("args"), NGX_HTTP_B24TRIGGER_TRUST_ARGS,
      "the query string" },
    { ngx_string("query_string"), NGX_HTTP_B24TRIGGER_TRUST_ARGS,
      "the query string" },
    { ngx_string("is_args"), NGX_HTTP_B24TRIGGER_TRUST_ARGS,
      "the query string" },

    { ngx_string("host"), 0, "a request header" },
    { ngx_string("content_type"), 0, "a request header" },
    { ngx_string("content_length"), 0, "a request header" },
    { ngx_string("remote_user"), 0, "a request header" },
    { ngx_string("request_method"), 0, "the request line" },
    { ngx_string("server_protocol"), 0, "the request line" },
    { ngx_string("remote_addr"), 0, "the connection" },
    { ngx_string("binary_remote_addr"), 0, "the connection" },
    { ngx_string("remote_port"), 0, "the connection" },
    { ngx_string("realip_remote_addr"), 0, "the connection" },
    { ngx_string("scheme"), 0, "the connection" },
    { ngx_string("https"), 0, "the connection" },
    { ngx_string("request_body"), 0, "the raw body" },

    /* the server's own: nothing a sender chooses */

    { ngx_string("msec"), 0, NULL },
    { ngx_string("time_iso8601"), 0, NULL },
    { ngx_string("time_local"), 0, NULL },
    { ngx_string("request_id"), 0, NULL },
    { ngx_string("pid"), 0, NULL },
    { ngx_string("hostname"), 0, NULL },
    { ngx_string("nginx_version"), 0, NULL },
    { ngx_string("server_name"), 0, NULL },
    { ngx_string("server_addr"), 0, NULL },
    { ngx_string("server_port"), 0, NULL },

    { ngx_null_string, 0, NULL }
};


/*
 * preconfiguration: the "map" directive of ngx_http_map_module, if it is
 * built in, runs through ngx_http_b24trigger_map_block() until the http
 * block is parsed, so that its variables' get handler is learnt
 */

ngx_int_t
ngx_http_b24trigger_trust_init(ngx_conf_t *cf)
{
    ngx_uint_t           m;
    ngx_command_t       *cmd;
    ngx_pool_cleanup_t  *cln;

    ngx_http_b24trigger_map_get = NULL;
    ngx_http_b24trigger_map_unknown = 0;

    for (m = 0; cf->cycle->modules[m]; m++) {
        if (cf->cycle->modules[m]->name
            && ngx_strcmp(cf->cycle->modules[m]->name, "ngx_http_map_module")
               == 0)
        {
            break;
        }
    }

    if (cf->cycle->modules[m] == NULL) {
        return NGX_OK;
    }

    for (cmd = cf->cycle->modules[m]->commands; cmd->name.len; cmd++) {

        if (cmd->name.len != 3 || ngx_strncmp(cmd->name.data, "map", 3) != 0
            || cmd->set == ngx_http_b24trigger_map_block)
        {
            continue;
        }

        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        ngx_http_b24trigger_map_cmd = cmd;
        ngx_http_b24trigger_map_set = cmd->set;
        cmd->set = ngx_http_b24trigger_map_block;

        cln->handler = ngx_http_b24trigger_trust_cleanup;
        cln->data = NULL;

        break;
    }

    return NGX_OK;
}


/* postconfiguration, or the cycle's end if it never came: map as it was */

void
ngx_http_b24trigger_trust_done(ngx_conf_t *cf)
{
    ngx_http_b24trigger_trust_cleanup(NULL);
}


static void
ngx_http_b24trigger_trust_cleanup(void *data)
{
    if (ngx_http_b24trigger_map_cmd
        && ngx_http_b24trigger_map_cmd->set == ngx_http_b24trigger_map_block)
    {
        ngx_http_b24trigger_map_cmd->set = ngx_http_b24trigger_map_set;
    }

    ngx_http_b24trigger_map_cmd = NULL;
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
    ngx_http_b24trigger_map_ctx_t  *map;

    value = cf->args->elts;

    source = value[1];
    name = value[2];

    rv = ngx_http_b24trigger_map_set(cf, cmd, conf);

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

    ngx_memzero(&t, sizeof(ngx_http_b24trigger_trust_t));

    t.cf = cf;
    t.cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    t.clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    t.blcf = blcf;

    signs = ngx_http_b24trigger_verify_signs(blcf->verify);
    scheme = ngx_http_b24trigger_verify_name(blcf->verify);

    if (ngx_array_init(&t.bound, cf->temp_pool, 4, sizeof(ngx_uint_t))
        != NGX_OK
        || ngx_http_b24trigger_trust_bind(&t) == NGX_ERROR)
    {
        return NGX_CONF_ERROR;
    }

    /* "none" and "token" vouch for the request as a whole */

    if (!(signs & NGX_HTTP_B24TRIGGER_SIGNS_REQUEST)) {

        if (ngx_http_b24trigger_trust_directive(&t, "b24trigger_target",
                                                blcf->target)
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
 * The variables of an "hmac" template that it binds: a variable is signed
 * when text of the template, or its start or end, stands on both sides
 * of it (two variables, or a variable and the body, side by side could
 * trade bytes and still sign the same).  $request_uri binds the path and
 * the arguments, $uri the path, $args the arguments.
 */

static ngx_int_t
ngx_http_b24trigger_trust_bind(ngx_http_b24trigger_trust_t *t)
{
    ngx_int_t                      rc;
    ngx_str_t                     *name;
    ngx_uint_t                     i, *index;
    ngx_array_t                   *message, pieces;
    ngx_http_variable_t           *v;
    ngx_http_b24trigger_part_t    *part;
    ngx_http_b24trigger_piece_t   *pc;
    ngx_http_b24trigger_origin_t  *o;

    message = ngx_http_b24trigger_verify_message(t->blcf->verify);

    if (message == NULL) {
        return NGX_OK;
    }

    if (ngx_array_init(&pieces, t->cf->temp_pool, 8,
                       sizeof(ngx_http_b24trigger_piece_t))
        != NGX_OK)
    {
        return NGX_ERROR;
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
                return NGX_OK;
            }
        }

        if (part[i].body) {
            pc = ngx_array_push(&pieces);
            if (pc == NULL) {
                return NGX_ERROR;
            }

            pc->kind = NGX_HTTP_B24TRIGGER_PIECE_BODY;
        }
    }

    pc = pieces.elts;
    v = t->cmcf->variables.elts;

    for (i = 0; i < pieces.nelts; i++) {

        if (pc[i].kind != NGX_HTTP_B24TRIGGER_PIECE_VARIABLE
            || (i > 0 && pc[i - 1].kind != NGX_HTTP_B24TRIGGER_PIECE_TEXT)
            || (i + 1 < pieces.nelts
                && pc[i + 1].kind != NGX_HTTP_B24TRIGGER_PIECE_TEXT))
        {
            continue;
        }

        index = ngx_array_push(&t->bound);
        if (index == NULL) {
            return NGX_ERROR;
        }

        *index = pc[i].n;

        name = &v[pc[i].n].name;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, t->cf->log, 0,
                       "b24trigger trust: the template binds \"$%V\"", name);

        for (o = ngx_http_b24trigger_origins; o->name.len; o++) {
            if (o->parts && o->name.len == name->len
                && ngx_strncasecmp(o->name.data, name->data, name->len) == 0)
            {
                t->parts |= o->parts;
            }
        }
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
 * The pieces of a complex value, in order, read from its lengths script:
 * NGX_OK, NGX_DECLINED for a script of codes this file does not know, or
 * NGX_ERROR
 */

static ngx_int_t
ngx_http_b24trigger_trust_pieces(ngx_http_complex_value_t *cv,
    ngx_array_t *pieces)
{
    u_char                               *p;
    ngx_http_script_code_pt               code;
    ngx_http_b24trigger_piece_t          *pc;
    ngx_http_script_var_code_t           *var;
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

        return NGX_OK;
    }

    p = cv->lengths;

    for ( ;; ) {

        if (*(uintptr_t *) p == (uintptr_t) NULL) {
            return NGX_OK;
        }

        code = *(ngx_http_script_code_pt *) p;

        pc = ngx_array_push(pieces);
        if (pc == NULL) {
            return NGX_ERROR;
        }

        if (code == (ngx_http_script_code_pt) (void *)
                        ngx_http_script_copy_len_code)
        {
            pc->kind = NGX_HTTP_B24TRIGGER_PIECE_TEXT;
            p += sizeof(ngx_http_script_copy_code_t);
            continue;
        }

        if (code == (ngx_http_script_code_pt) (void *)
                        ngx_http_script_copy_var_len_code)
        {
            var = (ngx_http_script_var_code_t *) p;

            pc->kind = NGX_HTTP_B24TRIGGER_PIECE_VARIABLE;
            pc->n = var->index;
            p += sizeof(ngx_http_script_var_code_t);
            continue;
        }

        if (code == (ngx_http_script_code_pt) (void *)
                        ngx_http_script_copy_capture_len_code)
        {
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
    t->what = NULL;
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

    if (t->what == NULL) {
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
 * with t->name and t->what set when not, NGX_ERROR.  rx: the regex of the
 * map value being checked, whose captures come from the map's source;
 * first: the first variable found unsigned, as this value names it.
 */

static ngx_int_t
ngx_http_b24trigger_trust_value(ngx_http_b24trigger_trust_t *t,
    ngx_http_complex_value_t *cv, ngx_http_regex_t *rx, ngx_str_t *first)
{
    u_char                       *p;
    ngx_int_t                     rc;
    ngx_uint_t                    i;
    ngx_array_t                   pieces;
    ngx_http_variable_t          *v;
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
        t->what = NULL;
        return NGX_DECLINED;
    }

    pc = pieces.elts;
    v = t->cmcf->variables.elts;

    for (i = 0; i < pieces.nelts; i++) {

        switch (pc[i].kind) {

        case NGX_HTTP_B24TRIGGER_PIECE_VARIABLE:

            rc = ngx_http_b24trigger_trust_variable(t, pc[i].n, rx);

            if (rc != NGX_OK) {

                if (rc == NGX_DECLINED && first && first->len == 0) {
                    first->len = v[pc[i].n].name.len + 1;
                    first->data = ngx_pnalloc(t->cf->temp_pool, first->len);
                    if (first->data == NULL) {
                        return NGX_ERROR;
                    }

                    p = first->data;
                    *p++ = '$';
                    ngx_memcpy(p, v[pc[i].n].name.data, first->len - 1);
                }

                return rc;
            }

            break;

        case NGX_HTTP_B24TRIGGER_PIECE_CAPTURE:

            /* a map's own regex, or the location's: the URI */

            if (rx || (t->parts & NGX_HTTP_B24TRIGGER_TRUST_PATH)) {
                break;
            }

            t->name.data = ngx_pnalloc(t->cf->temp_pool, NGX_INT_T_LEN + 1);
            if (t->name.data == NULL) {
                return NGX_ERROR;
            }

            t->name.len = ngx_sprintf(t->name.data, "$%ui", pc[i].n)
                          - t->name.data;
            t->what = "a capture of the URI";

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

    if (t->depth++ > NGX_HTTP_B24TRIGGER_TRUST_DEPTH) {
        return NGX_DECLINED;
    }

#if (NGX_PCRE)

    /* a named capture of the location's regex: the URI */

    if (t->clcf->regex) {
        for (i = 0; i < t->clcf->regex->nvariables; i++) {

            if ((ngx_uint_t) t->clcf->regex->variables[i].index != index) {
                continue;
            }

            if (t->parts & NGX_HTTP_B24TRIGGER_TRUST_PATH) {
                t->depth--;
                return NGX_OK;
            }

            t->what = "a capture of the URI";
            return NGX_DECLINED;
        }
    }

#endif

    var = ngx_http_b24trigger_trust_named(t->cf, name);

    if (var) {

        /* a body field */

        if (ngx_http_b24trigger_field_path(var, &path, &root, &depth)
            == NGX_OK)
        {
            if (ngx_http_b24trigger_verify_signs_field(t->blcf->verify,
                                                       &root, depth))
            {
                t->depth--;
                return NGX_OK;
            }

            t->field = path;
            t->what = "a body field";
            return NGX_DECLINED;
        }

        /* a map */

        if (ngx_http_b24trigger_map_get
            && var->get_handler == ngx_http_b24trigger_map_get
            && !ngx_http_b24trigger_map_unknown)
        {
            rc = ngx_http_b24trigger_trust_map(t, var);

            if (rc == NGX_OK) {
                t->depth--;
            }

            return rc;
        }

    }

    /* nginx's own variables, by name or by prefix */

    for (o = ngx_http_b24trigger_origins; o->name.len; o++) {

        if (o->name.len != name->len
            || ngx_strncasecmp(o->name.data, name->data, name->len) != 0)
        {
            continue;
        }

        if (o->what == NULL
            || (o->parts && (t->parts & o->parts) == o->parts))
        {
            t->depth--;
            return NGX_OK;
        }

        t->what = o->what;
        return NGX_DECLINED;
    }

    if (var == NULL) {

        if (name->len > 4 && ngx_strncasecmp(name->data, (u_char *) "arg_", 4)
                             == 0)
        {
            if (t->parts & NGX_HTTP_B24TRIGGER_TRUST_ARGS) {
                t->depth--;
                return NGX_OK;
            }

            t->what = "a query argument";
            return NGX_DECLINED;
        }

        if (name->len > 5
            && ngx_strncasecmp(name->data, (u_char *) "http_", 5) == 0)
        {
            t->what = "a request header";
            return NGX_DECLINED;
        }

        if (name->len > 7
            && ngx_strncasecmp(name->data, (u_char *) "cookie_", 7) == 0)
        {
            t->what = "a cookie";
            return NGX_DECLINED;
        }
    }

    /* "set", geo, split_clients, another module's: not traceable */

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
