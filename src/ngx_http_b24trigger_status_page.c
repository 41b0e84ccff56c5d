
/*
 * Copyright (C) b24trigger authors
 *
 * The status location's page for a browser: for ?format=html, or an
 * Accept header that asks for text/html and not for JSON (what a browser
 * sends when it opens a page), the HTML of src/dashboard/; for
 * ?asset=NAME, its script or its style sheet.  The files are compiled in
 * (ngx_http_b24trigger_status_assets.c): the page needs nothing from
 * outside and has no inline script or style, so it goes with a strict
 * Content-Security-Policy, and with headers that keep it out of frames
 * (the Replay button) and out of caches.  Knows nothing of the counters
 * or the journal: the page's script reads them through the JSON API.
 */


#include "ngx_http_b24trigger.h"


#define NGX_HTTP_B24TRIGGER_PAGE_CSP                                          \
    "default-src 'self'; script-src 'self'; style-src 'self'; "               \
    "img-src 'self'; connect-src 'self'; object-src 'none'; "                 \
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


typedef struct {
    char                         *key;
    char                         *value;
} ngx_http_b24trigger_page_hdr_t;


static ngx_uint_t ngx_http_b24trigger_page_wanted(ngx_http_request_t *r);


static ngx_http_b24trigger_page_hdr_t  ngx_http_b24trigger_page_headers[] = {
    { "Content-Security-Policy", NGX_HTTP_B24TRIGGER_PAGE_CSP },
    { "X-Content-Type-Options", "nosniff" },
    { "X-Frame-Options", "DENY" },
    { "Cache-Control", "no-store" },
    { "Referrer-Policy", "no-referrer" },
    { "Vary", "Accept" },
    { NULL, NULL }
};


/* NGX_DECLINED: not for the page, the counters are shown */

ngx_int_t
ngx_http_b24trigger_status_page(ngx_http_request_t *r)
{
    ngx_str_t                           name, arg;
    ngx_table_elt_t                    *h;
    ngx_http_b24trigger_asset_t        *a;
    ngx_http_b24trigger_page_hdr_t  *ph;

    if (ngx_http_arg(r, (u_char *) "asset", 5, &arg) == NGX_OK) {
        name = arg;

    } else if (ngx_http_arg(r, (u_char *) "format", 6, &arg) == NGX_OK) {

        if (arg.len != 4 || ngx_strncmp(arg.data, "html", 4) != 0) {
            return NGX_DECLINED;
        }

        ngx_str_set(&name, "index.html");

    } else if (ngx_http_b24trigger_page_wanted(r)) {
        ngx_str_set(&name, "index.html");

    } else {
        return NGX_DECLINED;
    }

    for (a = ngx_http_b24trigger_status_assets; a->name.len; a++) {
        if (a->name.len == name.len
            && ngx_strncmp(a->name.data, name.data, name.len) == 0)
        {
            break;
        }
    }

    if (a->name.len == 0) {
        return ngx_http_b24trigger_reply_error(r, NGX_HTTP_NOT_FOUND,
                                               "not_found", NULL);
    }

    for (ph = ngx_http_b24trigger_page_headers; ph->key; ph++) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        h->key.len = ngx_strlen(ph->key);
        h->key.data = (u_char *) ph->key;
        h->value.len = ngx_strlen(ph->value);
        h->value.data = (u_char *) ph->value;
    }

    return ngx_http_b24trigger_reply(r, NGX_HTTP_OK, &a->data, &a->type);
}


/*
 * A browser opening the page asks for text/html first; Prometheus,
 * curl and the page's own fetch() calls do not, or ask for JSON
 */

static ngx_uint_t
ngx_http_b24trigger_page_wanted(ngx_http_request_t *r)
{
    u_char  *p, *last;

    if (r->headers_in.accept == NULL) {
        return 0;
    }

    p = r->headers_in.accept->value.data;
    last = p + r->headers_in.accept->value.len;

    return ngx_strlcasestrn(p, last, (u_char *) "text/html", 9 - 1) != NULL
           && ngx_strlcasestrn(p, last, (u_char *) "application/json",
                               16 - 1) == NULL;
}
