
/*
 * Copyright (C) b24trigger authors
 *
 * The target found by a business key: "b24trigger_lookup ENTITY FIELD
 * VALUE zone=NAME ..." and one lookup's way.  The answer kept in the zone
 * (ngx_http_b24trigger_lookup_cache.c) is taken while it is fresh;
 * otherwise the portal's bucket gives a place (ngx_http_b24trigger_bucket.c,
 * a wait on a timer of at most the caller's), and the portal client
 * (ngx_http_b24trigger_portal.c) asks crm.item.list with "=FIELD" in the
 * filter, or crm.duplicate.findbycomm for a phone or an e-mail.  One
 * match is the target ("DEAL_57"), none is "not found", two or more are
 * "ambiguous": never a guess.  Knows nothing of requests or the spool:
 * the caller says what the answer leads to.
 */


#include "ngx_http_b24trigger_lookup.h"
#include "ngx_http_b24trigger_body_parse.h"
#include "ngx_http_b24trigger_queue.h"


#define NGX_HTTP_B24TRIGGER_LOOKUP_ITEM   0
#define NGX_HTTP_B24TRIGGER_LOOKUP_COMM   1

/* what crm.item.list is asked after its filter */
#define NGX_HTTP_B24TRIGGER_LOOKUP_TAIL                                       \
    "\"},\"select\":[\"id\"],\"useOriginalUfNames\":\"Y\"}"


/* the entities, their names in upper case being the targets' */

typedef struct {
    ngx_str_t                      name;      /* any case */
    ngx_int_t                      type;      /* entityTypeId */
    ngx_uint_t                     comm;      /* has phones, e-mails */
} ngx_http_b24trigger_entity_t;


static ngx_http_b24trigger_entity_t  ngx_http_b24trigger_entities[] = {
    { ngx_string("lead"), 1, 1 },
    { ngx_string("deal"), 2, 0 },
    { ngx_string("contact"), 3, 1 },
    { ngx_string("company"), 4, 1 },
    { ngx_string("quote"), 7, 0 },
    { ngx_string("smart_invoice"), 31, 0 },
    { ngx_null_string, 0, 0 }
};


static ngx_int_t ngx_http_b24trigger_lookup_entity(ngx_str_t *name,
    ngx_int_t *type, ngx_uint_t *comm);
static ngx_uint_t ngx_http_b24trigger_lookup_how(ngx_str_t *field);
static void ngx_http_b24trigger_find_waited(ngx_event_t *ev);
static ngx_int_t ngx_http_b24trigger_find_call(
    ngx_http_b24trigger_find_t *find);
static ngx_int_t ngx_http_b24trigger_find_params(
    ngx_http_b24trigger_find_t *find);
static void ngx_http_b24trigger_find_called(
    ngx_http_b24trigger_call_t *call);
static ngx_int_t ngx_http_b24trigger_find_answer(
    ngx_http_b24trigger_find_t *find, uint64_t *id);
static uint64_t ngx_http_b24trigger_find_id(ngx_str_t *v);
static ngx_int_t ngx_http_b24trigger_find_target(
    ngx_http_b24trigger_find_t *find, uint64_t id);
static void ngx_http_b24trigger_find_count(ngx_http_b24trigger_find_t *find,
    ngx_uint_t metric, const char *what);


/*
 * b24trigger_lookup ENTITY FIELD VALUE zone=NAME [ttl=10m]
 *                   [not_found_ttl=0] [attempts=5];
 */

char *
ngx_http_b24trigger_lookup_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_b24trigger_loc_conf_t *blcf = conf;

    u_char                             c;
    ngx_int_t                          type, n;
    ngx_str_t                         *value, s;
    ngx_uint_t                         i, comm;
    ngx_http_b24trigger_lookup_t      *lk;
    ngx_http_compile_complex_value_t   ccv;

    if (blcf->lookup != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        blcf->lookup = NULL;
        return NGX_CONF_OK;
    }

    if (cf->args->nelts < 5) {
        return "needs an entity, a field, a value and zone=";
    }

    lk = ngx_pcalloc(cf->pool, sizeof(ngx_http_b24trigger_lookup_t));
    if (lk == NULL) {
        return NGX_CONF_ERROR;
    }

    lk->spec.ttl = 600;
    lk->spec.not_found_ttl = 0;
    lk->spec.attempts = 5;

    /* the entity: its target name and entityTypeId */

    if (ngx_http_b24trigger_lookup_entity(&value[1], &type, &comm)
        != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown entity \"%V\" in \"b24trigger_lookup\": "
                           "deal, lead, contact, company, quote, "
                           "smart_invoice or dynamic_N", &value[1]);
        return NGX_CONF_ERROR;
    }

    lk->spec.entity.len = value[1].len;
    lk->spec.entity.data = ngx_pnalloc(cf->pool, value[1].len);
    if (lk->spec.entity.data == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < value[1].len; i++) {
        lk->spec.entity.data[i] = ngx_toupper(value[1].data[i]);
    }

    /* the field: a name of letters, digits and "_", or phone, email */

    if (value[2].len == 0 || value[2].len > 64) {
        goto field;
    }

    for (i = 0; i < value[2].len; i++) {
        c = value[2].data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_'))
        {
            goto field;
        }
    }

    lk->spec.field = value[2];

    if (ngx_http_b24trigger_lookup_how(&value[2])
        == NGX_HTTP_B24TRIGGER_LOOKUP_COMM)
    {
        if (!comm) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"b24trigger_lookup %V %V\": only a lead, a "
                               "contact or a company is found by its phone "
                               "or e-mail", &value[1], &value[2]);
            return NGX_CONF_ERROR;
        }

        lk->spec.field.data = ngx_pnalloc(cf->pool, value[2].len);
        if (lk->spec.field.data == NULL) {
            return NGX_CONF_ERROR;
        }

        for (i = 0; i < value[2].len; i++) {
            lk->spec.field.data[i] = ngx_toupper(value[2].data[i]);
        }
    }

    /* the value: traced to signed data at merge time (trust.c) */

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[3];
    ccv.complex_value = &lk->value;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    for (i = 4; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            lk->spec.zone.data = value[i].data + 5;
            lk->spec.zone.len = value[i].len - 5;

            if (lk->spec.zone.len == 0) {
                goto invalid;
            }

            /* a zone declared nowhere: "zero size shared memory zone" */

            lk->zone = ngx_shared_memory_add(cf, &lk->spec.zone, 0,
                                             &ngx_http_b24trigger_module);
            if (lk->zone == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "ttl=", 4) == 0) {
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            lk->spec.ttl = ngx_parse_time(&s, 1);
            if (lk->spec.ttl == (time_t) NGX_ERROR || lk->spec.ttl == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "not_found_ttl=", 14) == 0) {
            s.data = value[i].data + 14;
            s.len = value[i].len - 14;

            lk->spec.not_found_ttl = ngx_parse_time(&s, 1);
            if (lk->spec.not_found_ttl == (time_t) NGX_ERROR) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "attempts=", 9) == 0) {
            n = ngx_atoi(value[i].data + 9, value[i].len - 9);
            if (n <= 0 || n > 100) {
                goto invalid;
            }

            lk->spec.attempts = n;
            continue;
        }

        goto invalid;
    }

    if (lk->zone == NULL) {
        return "needs zone=, a \"b24trigger_lookup_zone\" for its answers";
    }

    blcf->lookup = lk;

    return NGX_CONF_OK;

field:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid field \"%V\" in \"b24trigger_lookup\": a "
                       "field name such as UF_CRM_ORDER_ID, or phone, or "
                       "email", &value[2]);
    return NGX_CONF_ERROR;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_http_b24trigger_lookup_entity(ngx_str_t *name, ngx_int_t *type,
    ngx_uint_t *comm)
{
    ngx_int_t                      n;
    ngx_http_b24trigger_entity_t  *e;

    *comm = 0;

    for (e = ngx_http_b24trigger_entities; e->name.len; e++) {
        if (e->name.len == name->len
            && ngx_strncasecmp(e->name.data, name->data, name->len) == 0)
        {
            *type = e->type;
            *comm = e->comm;
            return NGX_OK;
        }
    }

    /* dynamic_128: a smart process, as its target DYNAMIC_128_57 */

    if (name->len > 8
        && ngx_strncasecmp(name->data, (u_char *) "dynamic_", 8) == 0)
    {
        n = ngx_atoi(name->data + 8, name->len - 8);

        if (n >= 128 && name->data[8] != '0') {
            *type = n;
            return NGX_OK;
        }
    }

    return NGX_ERROR;
}


static ngx_uint_t
ngx_http_b24trigger_lookup_how(ngx_str_t *field)
{
    if ((field->len == 5
         && ngx_strncasecmp(field->data, (u_char *) "phone", 5) == 0)
        || (field->len == 5
            && ngx_strncasecmp(field->data, (u_char *) "email", 5) == 0))
    {
        return NGX_HTTP_B24TRIGGER_LOOKUP_COMM;
    }

    return NGX_HTTP_B24TRIGGER_LOOKUP_ITEM;
}


/* the reply's "error" for a lookup that found no single target */

const char *
ngx_http_b24trigger_find_error(ngx_uint_t result)
{
    return (result == NGX_HTTP_B24TRIGGER_AMBIGUOUS) ? "target_ambiguous"
                                                     : "target_not_found";
}


/*
 * NGX_OK: the answer is known now (the cache, or the bucket has no place
 * within find->wait); NGX_AGAIN: find->done() tells it; NGX_ERROR
 */

ngx_int_t
ngx_http_b24trigger_find_start(ngx_http_b24trigger_find_t *find)
{
    uint64_t                            id;
    ngx_int_t                           rc;
    ngx_uint_t                          bucket;
    ngx_msec_t                          delay;
    ngx_http_b24trigger_lookup_spec_t  *spec;

    spec = find->spec;

    if (find->zone == NULL) {
        find->zone = ngx_http_b24trigger_lookup_cache_zone(
                                                 (ngx_cycle_t *) ngx_cycle,
                                                 &spec->zone);
    }

    /* the key: portal, entity, field, value, each ended by a NUL */

    find->key.len = find->portal->name.len + spec->entity.len
                    + spec->field.len + spec->value.len + 4;
    find->key.data = ngx_pnalloc(find->pool, find->key.len);
    if (find->key.data == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_sprintf(find->key.data, "%V%Z%V%Z%V%Z%V%Z",
                       &find->portal->name, &spec->entity, &spec->field,
                       &spec->value);

    if (find->zone
        && ngx_http_b24trigger_lookup_cache_get(find->zone, &find->key, &id)
           == NGX_OK)
    {
        find->cached = 1;

        if (id == 0) {
            find->result = NGX_HTTP_B24TRIGGER_NOT_FOUND;
            ngx_http_b24trigger_find_count(find,
                                           NGX_HTTP_B24TRIGGER_M_LOOKUP_CACHE,
                                           "not_found");
            return NGX_OK;
        }

        if (ngx_http_b24trigger_find_target(find, id) != NGX_OK) {
            return NGX_ERROR;
        }

        find->result = NGX_HTTP_B24TRIGGER_FOUND;
        ngx_http_b24trigger_find_count(find,
                                       NGX_HTTP_B24TRIGGER_M_LOOKUP_CACHE,
                                       "found");

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, find->log, 0,
                       "b24trigger lookup \"%V\" cached: %V",
                       &spec->field, &find->target);

        return NGX_OK;
    }

    /* a call: it spends a place in the portal's bucket like any other */

    bucket = ngx_http_b24trigger_bucket_take(find->portal, find->wait,
                                             &delay);

    if (bucket != NGX_HTTP_B24TRIGGER_BUCKET_OK) {
        find->result = NGX_HTTP_B24TRIGGER_FIND_BUSY;
        find->bucket = bucket;
        find->delay = delay;
        return NGX_OK;
    }

    /* the cluster's bucket counts it too (bucket=cluster) */

    ngx_http_b24trigger_bucket_charge(find->portal);

    if (delay) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, find->log, 0,
                       "b24trigger lookup waits %M ms for the portal's "
                       "bucket", delay);

        find->timer.handler = ngx_http_b24trigger_find_waited;
        find->timer.data = find;
        find->timer.log = find->log;

        ngx_add_timer(&find->timer, delay);

        return NGX_AGAIN;
    }

    rc = ngx_http_b24trigger_find_call(find);

    if (rc != NGX_OK) {
        ngx_http_b24trigger_bucket_give_back(find->portal);
        return NGX_ERROR;
    }

    return NGX_AGAIN;
}


/* the one that started it goes away: nothing is left behind */

void
ngx_http_b24trigger_find_cancel(ngx_http_b24trigger_find_t *find)
{
    if (find->timer.timer_set) {
        ngx_del_timer(&find->timer);
    }

    if (find->calling) {
        find->calling = 0;
        ngx_http_b24trigger_call_cancel(&find->call);
    }
}


static void
ngx_http_b24trigger_find_waited(ngx_event_t *ev)
{
    ngx_http_b24trigger_find_t  *find = ev->data;

    if (ngx_http_b24trigger_find_call(find) == NGX_OK) {
        return;
    }

    ngx_http_b24trigger_bucket_give_back(find->portal);

    find->result = NGX_HTTP_B24TRIGGER_FIND_FAILED;
    find->call.outcome = NGX_HTTP_B24TRIGGER_CALL_INTERNAL;

    find->done(find);
}


static ngx_int_t
ngx_http_b24trigger_find_call(ngx_http_b24trigger_find_t *find)
{
    ngx_http_b24trigger_call_t  *call;

    call = &find->call;

    ngx_memzero(call, sizeof(ngx_http_b24trigger_call_t));

    call->portal = find->portal;
    call->pool = find->pool;
    call->log = find->log;
    call->done = ngx_http_b24trigger_find_called;
    call->data = find;

    /* what the error log calls it, should the portal refuse */

    call->target.data = ngx_pnalloc(find->pool,
                                    sizeof("(lookup  )") - 1
                                    + find->spec->entity.len
                                    + find->spec->field.len);
    if (call->target.data == NULL) {
        return NGX_ERROR;
    }

    call->target.len = ngx_sprintf(call->target.data, "(lookup %V %V)",
                                   &find->spec->entity, &find->spec->field)
                       - call->target.data;

    if (ngx_http_b24trigger_lookup_how(&find->spec->field)
        == NGX_HTTP_B24TRIGGER_LOOKUP_COMM)
    {
        ngx_str_set(&call->rest_method, "crm.duplicate.findbycomm");

    } else {
        ngx_str_set(&call->rest_method, "crm.item.list");
    }

    if (ngx_http_b24trigger_find_params(find) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, find->log, 0,
                   "b24trigger lookup call portal \"%V\" %V %V",
                   &find->portal->name, &call->rest_method, &call->params);

    if (ngx_http_b24trigger_call_start(call) != NGX_OK) {
        return NGX_ERROR;
    }

    find->calling = 1;

    return NGX_OK;
}


/*
 * {"entityTypeId":2,"filter":{"=UF_CRM_ORDER_ID":"1001"},"select":["id"],
 *  "useOriginalUfNames":"Y"}, or
 * {"entity_type":"LEAD","type":"PHONE","values":["+79001234567"]}
 */

static ngx_int_t
ngx_http_b24trigger_find_params(ngx_http_b24trigger_find_t *find)
{
    u_char                             *p;
    size_t                              len, esc;
    ngx_int_t                           type;
    ngx_uint_t                          comm;
    ngx_http_b24trigger_call_t         *call;
    ngx_http_b24trigger_lookup_spec_t  *spec;

    spec = find->spec;
    call = &find->call;

    if (ngx_http_b24trigger_lookup_entity(&spec->entity, &type, &comm)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    esc = ngx_escape_json(NULL, spec->value.data, spec->value.len);

    len = sizeof("{\"entityTypeId\":,\"filter\":{\"=\":\"")
          + sizeof(NGX_HTTP_B24TRIGGER_LOOKUP_TAIL)
          + sizeof("{\"entity_type\":\"\",\"type\":\"\",\"values\":[\"\"]}")
          + NGX_INT_T_LEN + spec->entity.len + spec->field.len
          + spec->value.len + esc;

    call->params.data = ngx_pnalloc(find->pool, len);
    if (call->params.data == NULL) {
        return NGX_ERROR;
    }

    p = call->params.data;

    if (ngx_http_b24trigger_lookup_how(&spec->field)
        == NGX_HTTP_B24TRIGGER_LOOKUP_COMM)
    {
        p = ngx_sprintf(p, "{\"entity_type\":\"%V\",\"type\":\"%V\","
                        "\"values\":[\"", &spec->entity, &spec->field);
        p = (u_char *) ngx_escape_json(p, spec->value.data, spec->value.len);
        p = ngx_cpymem(p, "\"]}", 3);

    } else {
        p = ngx_sprintf(p, "{\"entityTypeId\":%i,\"filter\":{\"=%V\":\"",
                        type, &spec->field);
        p = (u_char *) ngx_escape_json(p, spec->value.data, spec->value.len);
        p = ngx_cpymem(p, NGX_HTTP_B24TRIGGER_LOOKUP_TAIL,
                       sizeof(NGX_HTTP_B24TRIGGER_LOOKUP_TAIL) - 1);
    }

    call->params.len = p - call->params.data;

    return NGX_OK;
}


static void
ngx_http_b24trigger_find_called(ngx_http_b24trigger_call_t *call)
{
    uint64_t                     id;
    ngx_int_t                    rc;
    ngx_http_b24trigger_find_t  *find = call->data;

    find->calling = 0;

    if (call->outcome != NGX_HTTP_B24TRIGGER_CALL_OK) {
        find->result = NGX_HTTP_B24TRIGGER_FIND_FAILED;
        ngx_http_b24trigger_find_count(find,
                                       NGX_HTTP_B24TRIGGER_M_LOOKUP_CALLS,
                                       "failed");
        find->done(find);
        return;
    }

    id = 0;
    rc = ngx_http_b24trigger_find_answer(find, &id);

    switch (rc) {

    case NGX_HTTP_B24TRIGGER_FOUND:

        if (ngx_http_b24trigger_find_target(find, id) != NGX_OK) {
            find->result = NGX_HTTP_B24TRIGGER_FIND_FAILED;
            call->outcome = NGX_HTTP_B24TRIGGER_CALL_INTERNAL;
            break;
        }

        ngx_http_b24trigger_lookup_cache_put(find->zone, &find->key, id,
                                             find->spec->ttl);
        ngx_http_b24trigger_find_count(find,
                                       NGX_HTTP_B24TRIGGER_M_LOOKUP_CALLS,
                                       "found");
        find->result = rc;
        break;

    case NGX_HTTP_B24TRIGGER_NOT_FOUND:

        /* an order often reaches the shop before the CRM: kept briefly */

        ngx_http_b24trigger_lookup_cache_put(find->zone, &find->key, 0,
                                             find->spec->not_found_ttl);
        ngx_http_b24trigger_find_count(find,
                                       NGX_HTTP_B24TRIGGER_M_LOOKUP_CALLS,
                                       "not_found");
        find->result = rc;
        break;

    case NGX_HTTP_B24TRIGGER_AMBIGUOUS:
        ngx_http_b24trigger_find_count(find,
                                       NGX_HTTP_B24TRIGGER_M_LOOKUP_CALLS,
                                       "ambiguous");
        find->result = rc;
        break;

    default:
        ngx_http_b24trigger_find_count(find,
                                       NGX_HTTP_B24TRIGGER_M_LOOKUP_CALLS,
                                       "failed");
        find->result = NGX_HTTP_B24TRIGGER_FIND_FAILED;
        call->outcome = NGX_HTTP_B24TRIGGER_CALL_BAD_RESPONSE;
        ngx_str_set(&call->detail, "the lookup's answer has no list of ids");
        break;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, find->log, 0,
                   "b24trigger lookup answered: %ui %V",
                   find->result, &find->target);

    find->done(find);
}


/*
 * crm.item.list: {"result":{"items":[{"id":57}]},"total":1,...};
 * crm.duplicate.findbycomm: {"result":{"LEAD":[12]}}, or {"result":[]}
 * for none.  FOUND, NOT_FOUND, AMBIGUOUS, or NGX_ERROR: not that shape.
 */

static ngx_int_t
ngx_http_b24trigger_find_answer(ngx_http_b24trigger_find_t *find,
    uint64_t *id)
{
    ngx_int_t                           rc;
    ngx_str_t                           v;
    ngx_uint_t                          n;
    ngx_http_b24trigger_json_t         *json;
    ngx_http_b24trigger_seg_t           segs[4];
    ngx_http_b24trigger_parse_error_t   perr;

    rc = ngx_http_b24trigger_json_parse(find->pool, find->call.answer.data,
                                        find->call.answer.len, &json, &perr);
    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_str_set(&segs[0].name, "result");
    segs[0].index = NGX_HTTP_B24TRIGGER_NO_INDEX;

    ngx_str_set(&segs[2].name, "0");
    segs[2].index = 0;

    ngx_str_set(&segs[3].name, "id");
    segs[3].index = NGX_HTTP_B24TRIGGER_NO_INDEX;

    if (ngx_http_b24trigger_lookup_how(&find->spec->field)
        == NGX_HTTP_B24TRIGGER_LOOKUP_COMM)
    {
        segs[1].name = find->spec->entity;
        segs[1].index = NGX_HTTP_B24TRIGGER_NO_INDEX;
        n = 3;

        rc = ngx_http_b24trigger_json_find(json, segs, 1, &v);

        if (rc == NGX_HTTP_B24TRIGGER_JSON_ARRAY) {
            /* PHP's empty array: nothing found */
            return NGX_HTTP_B24TRIGGER_NOT_FOUND;
        }

        if (rc != NGX_HTTP_B24TRIGGER_JSON_OBJECT) {
            return NGX_ERROR;
        }

        rc = ngx_http_b24trigger_json_find(json, segs, 2, &v);

        if (rc == NGX_DECLINED) {
            return NGX_HTTP_B24TRIGGER_NOT_FOUND;
        }

    } else {
        ngx_str_set(&segs[1].name, "items");
        segs[1].index = NGX_HTTP_B24TRIGGER_NO_INDEX;
        n = 4;

        rc = ngx_http_b24trigger_json_find(json, segs, 2, &v);

        /* more than one: "total" says so even if the page shows one */

        ngx_str_set(&segs[0].name, "total");

        if (ngx_http_b24trigger_json_find(json, segs, 1, &v)
            == NGX_HTTP_B24TRIGGER_JSON_NUMBER
            && ngx_http_b24trigger_find_id(&v) > 1)
        {
            return NGX_HTTP_B24TRIGGER_AMBIGUOUS;
        }

        ngx_str_set(&segs[0].name, "result");
    }

    if (rc != NGX_HTTP_B24TRIGGER_JSON_ARRAY) {
        return NGX_ERROR;
    }

    /* the second match: ambiguous, whatever the first is */

    ngx_str_set(&segs[2].name, "1");
    segs[2].index = 1;

    if (ngx_http_b24trigger_json_find(json, segs, 3, &v) != NGX_DECLINED) {
        return NGX_HTTP_B24TRIGGER_AMBIGUOUS;
    }

    ngx_str_set(&segs[2].name, "0");
    segs[2].index = 0;

    if (ngx_http_b24trigger_json_find(json, segs, 3, &v) == NGX_DECLINED) {
        return NGX_HTTP_B24TRIGGER_NOT_FOUND;
    }

    rc = ngx_http_b24trigger_json_find(json, segs, n, &v);

    if (rc != NGX_HTTP_B24TRIGGER_JSON_NUMBER
        && rc != NGX_HTTP_B24TRIGGER_JSON_STRING)
    {
        return NGX_ERROR;
    }

    *id = ngx_http_b24trigger_find_id(&v);

    if (*id == 0) {
        return NGX_ERROR;
    }

    return NGX_HTTP_B24TRIGGER_FOUND;
}


/* a positive integer of at most 18 digits, as a target's id; else 0 */

static uint64_t
ngx_http_b24trigger_find_id(ngx_str_t *v)
{
    uint64_t    id;
    ngx_uint_t  i;

    if (v->len == 0 || v->len > NGX_HTTP_B24TRIGGER_TARGET_ID_MAX
        || v->data[0] == '0')
    {
        return 0;
    }

    id = 0;

    for (i = 0; i < v->len; i++) {
        if (v->data[i] < '0' || v->data[i] > '9') {
            return 0;
        }

        id = id * 10 + (v->data[i] - '0');
    }

    return id;
}


static ngx_int_t
ngx_http_b24trigger_find_target(ngx_http_b24trigger_find_t *find,
    uint64_t id)
{
    find->target.data = ngx_pnalloc(find->pool, find->spec->entity.len
                                                + 1 + NGX_INT64_LEN);
    if (find->target.data == NULL) {
        return NGX_ERROR;
    }

    find->target.len = ngx_sprintf(find->target.data, "%V_%uL",
                                   &find->spec->entity, id)
                       - find->target.data;

    return NGX_OK;
}


/* b24trigger_lookup_calls_total, b24trigger_lookup_cache_hits_total */

static void
ngx_http_b24trigger_find_count(ngx_http_b24trigger_find_t *find,
    ngx_uint_t metric, const char *what)
{
    ngx_str_t  s;

    s.data = (u_char *) what;
    s.len = ngx_strlen(what);

    ngx_http_b24trigger_stats_add(metric, &find->portal->name, &s, 1);
}
