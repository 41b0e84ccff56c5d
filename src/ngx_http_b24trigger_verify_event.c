
/*
 * Copyright (C) b24trigger authors
 *
 * What a verified body says besides its event, for the HMAC presets
 * that need it, read from the same parse as every b24trigger_field
 * (src/ngx_http_b24trigger_fields.c): Zoom's endpoint.url_validation,
 * answered here with the plainToken and its HMAC under the key that
 * verified the request, never forwarded; and the event id that keys the
 * replay shield of a preset that signs no timestamp (Intercom's
 * notification "id", Square's "event_id"), so that a redelivery whose
 * bytes changed (Intercom counts its attempts in the body) is the same
 * request.  Called by ngx_http_b24trigger_verify_hmac.c once a signature
 * matched; knows nothing about Bitrix24.  Never logs a key or a MAC.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/hmac.h>

#include "ngx_http_b24trigger_verify_schemes.h"
#include "ngx_http_b24trigger_verify_message.h"
#include "ngx_http_b24trigger_fields.h"


/* the body field whose value keys the replay shield of a preset */

typedef struct {
    ngx_http_b24trigger_hmac_t  *hmac;
    ngx_str_t                    field;
} ngx_http_b24trigger_event_id_t;


static ngx_http_b24trigger_event_id_t  ngx_http_b24trigger_event_ids[] = {
    { &ngx_http_b24trigger_intercom, ngx_string("id") },
    { &ngx_http_b24trigger_square, ngx_string("event_id") },
    { NULL, ngx_null_string }
};


/*
 * NGX_OK: not a url_validation, an event like any other; NGX_DONE:
 * answered (vd->reply); NGX_ERROR
 */

ngx_int_t
ngx_http_b24trigger_zoom_handshake(ngx_http_request_t *r, const EVP_MD *md,
    ngx_http_b24trigger_key_t *key, ngx_http_b24trigger_verdict_t *vd)
{
    ngx_int_t     rc;
    ngx_str_t     event, token;
    unsigned int  maclen;
    u_char        mac[EVP_MAX_MD_SIZE];

    static ngx_str_t  event_path = ngx_string("event");
    static ngx_str_t  token_path = ngx_string("payload.plainToken");

    rc = ngx_http_b24trigger_field_value(r, &event_path, &event);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc != NGX_OK
        || event.len != sizeof("endpoint.url_validation") - 1
        || ngx_strncmp(event.data, "endpoint.url_validation", event.len)
           != 0)
    {
        return NGX_OK;
    }

    ngx_str_set(&vd->reply_type, "application/json");

    rc = ngx_http_b24trigger_field_value(r, &token_path, &token);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_OK && token.len
        && token.len <= NGX_HTTP_B24TRIGGER_ZOOM_TOKEN_MAX)
    {
        if (HMAC(md, key->value.data, (int) key->value.len, token.data,
                 token.len, mac, &maclen)
            == NULL)
        {
            return NGX_ERROR;
        }

        rc = ngx_http_b24trigger_message_zoom(r->pool, &token, mac, maclen,
                                              &vd->reply);

        ngx_explicit_memzero(mac, sizeof(mac));

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_OK) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "b24trigger: zoom endpoint.url_validation "
                          "answered");
            return NGX_DONE;
        }
    }

    /* signed, but nothing to answer with: acknowledged, not forwarded */

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "b24trigger: zoom endpoint.url_validation without a "
                  "usable plainToken ignored");

    ngx_str_set(&vd->reply, "{\"result\":\"ignored\"}");

    return NGX_DONE;
}


/*
 * The replay key of a verified request: "FIELD=VALUE" where the preset
 * names an event id and the body has one; otherwise vd->signature (the
 * signed bytes) stays as it is.  NGX_OK or NGX_ERROR.
 */

ngx_int_t
ngx_http_b24trigger_event_key(ngx_http_request_t *r,
    ngx_http_b24trigger_hmac_t *h, ngx_http_b24trigger_verdict_t *vd)
{
    u_char                          *p;
    ngx_int_t                        rc;
    ngx_str_t                        value;
    ngx_http_b24trigger_event_id_t  *e;

    for (e = ngx_http_b24trigger_event_ids; e->hmac; e++) {
        if (e->hmac == h) {
            break;
        }
    }

    if (e->hmac == NULL) {
        return NGX_OK;
    }

    rc = ngx_http_b24trigger_field_value(r, &e->field, &value);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc != NGX_OK || value.len == 0) {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, e->field.len + 1 + value.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    vd->signature.data = p;

    p = ngx_cpymem(p, e->field.data, e->field.len);
    *p++ = '=';
    p = ngx_cpymem(p, value.data, value.len);

    vd->signature.len = p - vd->signature.data;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "b24trigger verify: replay key is the event id \"%V\"",
                   &e->field);

    return NGX_OK;
}
