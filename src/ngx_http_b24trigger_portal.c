
/*
 * Copyright (C) b24trigger authors
 *
 * The Bitrix24 portal client: what an incoming-webhook URL may look like,
 * the portal of a name, and one call of crm.automation.trigger (or, for
 * an OAuth application, crm.automation.trigger.execute with the token the
 * portal's auth handlers hand it, ngx_http_b24trigger_oauth.c) over
 * nginx's own connections (ngx_http_b24trigger_portal_http.c) or libcurl
 * (ngx_http_b24trigger_portal_curl.c), classified by the "error" field of
 * the answer as Bitrix24's REST API documents its errors (doc/design.md
 * says why two ways).  Used by sync requests and by queued deliveries
 * alike: it knows nothing about the request that caused the call.
 */


#include "ngx_http_b24trigger.h"
#include "ngx_http_b24trigger_portal_curl.h"
#include "ngx_http_b24trigger_portal_http.h"
#include "ngx_http_b24trigger_body_parse.h"
#include "ngx_http_b24trigger_queue.h"

#include <jansson.h>


#define NGX_HTTP_B24TRIGGER_METHOD  "crm.automation.trigger"

/* what of the portal's "error" and words is kept, logged and echoed */
#define NGX_HTTP_B24TRIGGER_ANSWER_STRING_MAX  512


static ngx_int_t ngx_http_b24trigger_call_transfer(
    ngx_http_b24trigger_call_t *call, u_char *url);
static void ngx_http_b24trigger_call_stop(ngx_http_b24trigger_transfer_t *t);
static void ngx_http_b24trigger_call_done(ngx_http_b24trigger_transfer_t *t);
static ngx_int_t ngx_http_b24trigger_call_over(
    ngx_http_b24trigger_call_t *call, ngx_http_b24trigger_transfer_t *t);
static ngx_int_t ngx_http_b24trigger_call_redirect(
    ngx_http_b24trigger_call_t *call, ngx_http_b24trigger_transfer_t *t);
static void ngx_http_b24trigger_call_classify(
    ngx_http_b24trigger_call_t *call, ngx_http_b24trigger_transfer_t *t);
static ngx_int_t ngx_http_b24trigger_copy_json_string(
    ngx_http_b24trigger_call_t *call, ngx_str_t *value, ngx_str_t *dst);
static time_t ngx_http_b24trigger_json_time(ngx_str_t *v);
static ngx_int_t ngx_http_b24trigger_payload(ngx_http_b24trigger_call_t *call,
    ngx_str_t *token);
static u_char *ngx_http_b24trigger_call_url(
    ngx_http_b24trigger_call_t *call);
static ngx_int_t ngx_http_b24trigger_payload_params(
    ngx_http_b24trigger_call_t *call, ngx_str_t *token);
static ngx_int_t ngx_http_b24trigger_payload_json(
    ngx_http_b24trigger_call_t *call, ngx_str_t *token);
static ngx_int_t ngx_http_b24trigger_payload_notify(
    ngx_http_b24trigger_call_t *call, json_t *root);
static u_char *ngx_http_b24trigger_call_url(ngx_http_b24trigger_call_t *call);
static ngx_int_t ngx_http_b24trigger_payload_execute(
    ngx_http_b24trigger_call_t *call, json_t *root);
static ngx_int_t ngx_http_b24trigger_owner_type(u_char *name, size_t len);
static ngx_int_t ngx_http_b24trigger_url_plain(u_char *url, size_t len,
    ngx_http_b24trigger_url_t *u);
static ngx_uint_t ngx_http_b24trigger_loopback(ngx_str_t *host);


/*
 * the same headers on every call: a list of static nodes, so a call makes
 * no allocation for them and nothing needs to be freed
 */

static struct curl_slist  ngx_http_b24trigger_headers[] = {
    { (char *) "Content-Type: application/json",
      &ngx_http_b24trigger_headers[1] },
    { (char *) "Accept: application/json", &ngx_http_b24trigger_headers[2] },
    { (char *) "Expect:", NULL }
};


/* where Bitrix24 puts what it says */

static ngx_http_b24trigger_seg_t  ngx_http_b24trigger_a_error =
    { ngx_string("error"), NGX_HTTP_B24TRIGGER_NO_INDEX };
static ngx_http_b24trigger_seg_t  ngx_http_b24trigger_a_description =
    { ngx_string("error_description"), NGX_HTTP_B24TRIGGER_NO_INDEX };
static ngx_http_b24trigger_seg_t  ngx_http_b24trigger_a_result =
    { ngx_string("result"), NGX_HTTP_B24TRIGGER_NO_INDEX };
static ngx_http_b24trigger_seg_t  ngx_http_b24trigger_a_reset[] = {
    { ngx_string("time"), NGX_HTTP_B24TRIGGER_NO_INDEX },
    { ngx_string("operating_reset_at"), NGX_HTTP_B24TRIGGER_NO_INDEX }
};


static const char  *ngx_http_b24trigger_outcomes[] = {
    "ok",
    "portal_error",
    "portal_rate_limited",
    "portal_unreachable",
    "portal_timeout",
    "portal_invalid_response",
    "internal_error",
    "target_not_found",
    "target_ambiguous"
};


const char *
ngx_http_b24trigger_outcome_name(ngx_http_b24trigger_outcome_e outcome)
{
    return ngx_http_b24trigger_outcomes[outcome];
}


typedef struct {
    ngx_str_t    error;
    ngx_str_t    description;    /* empty: any */
    const char  *hint;
} ngx_http_b24trigger_hint_t;


static ngx_http_b24trigger_hint_t  ngx_http_b24trigger_hints[] = {

    { ngx_string("ACCESS_DENIED"), ngx_null_string,
      "the webhook's user may not change this CRM object: give it the "
      "right, or use a webhook of a user who has it" },

    { ngx_string("INVALID_CREDENTIALS"), ngx_null_string,
      "the webhook of b24trigger_portal is wrong, expired or deleted: "
      "create a new incoming webhook and update the URL" },

    { ngx_string("NO_AUTH_FOUND"), ngx_null_string,
      "the webhook of b24trigger_portal is wrong, expired or deleted: "
      "create a new incoming webhook and update the URL" },

    { ngx_string("insufficient_scope"), ngx_null_string,
      "give the incoming webhook the \"crm\" scope" },

    { ngx_string("ERROR_METHOD_NOT_FOUND"), ngx_null_string,
      "the URL of b24trigger_portal does not lead to Bitrix24's REST API" },

    { ngx_string("INVALID_REQUEST"), ngx_null_string,
      "use https:// in b24trigger_portal" },

    { ngx_string("PORTAL_DELETED"), ngx_null_string,
      "the portal no longer exists" },

    { ngx_string("OVERLOAD_LIMIT"), ngx_null_string,
      "the portal blocked REST calls for overload: ask its administrator" },

    { ngx_string("QUERY_LIMIT_EXCEEDED"), ngx_null_string,
      "too many calls: lower rate= of b24trigger_portal, or use "
      "\"b24trigger_delivery queue\"" },

    { ngx_string("OPERATION_TIME_LIMIT"), ngx_null_string,
      "the method's time budget on the portal is used up for a while" },

    { ngx_string(""), ngx_string("Access denied."),
      "the webhook's user has no access to the CRM" },

    { ngx_string(""), ngx_null_string,
      "check b24trigger_target: the portal has no such CRM object" },

    { ngx_null_string, ngx_null_string, NULL }
};


/* the same for a portal reached through an OAuth application */

static ngx_http_b24trigger_hint_t  ngx_http_b24trigger_oauth_hints[] = {

    { ngx_string("expired_token"), ngx_null_string,
      "the portal refused even the refreshed token: open the application "
      "in Bitrix24 again, its install handler stores a new pair" },

    { ngx_string("invalid_token"), ngx_null_string,
      "the portal refused even the refreshed token: open the application "
      "in Bitrix24 again, its install handler stores a new pair" },

    { ngx_string("insufficient_scope"), ngx_null_string,
      "give the application the \"crm\" scope, then reinstall it" },

    { ngx_string("ACCESS_DENIED"), ngx_null_string,
      "the user who installed the application may not do this: have an "
      "administrator with access to the CRM install it" },

    { ngx_null_string, ngx_null_string, NULL }
};


/* what an operator can do about a failed call, for the error log */

const char *
ngx_http_b24trigger_call_hint(ngx_http_b24trigger_call_t *call)
{
    ngx_http_b24trigger_hint_t  *h;

    switch (call->outcome) {

    case NGX_HTTP_B24TRIGGER_CALL_PORTAL_ERROR:
    case NGX_HTTP_B24TRIGGER_CALL_RATE_LIMITED:

        if (call->portal->oauth) {

            for (h = ngx_http_b24trigger_oauth_hints; h->hint; h++) {
                if (h->error.len == call->error.len
                    && ngx_strncmp(h->error.data, call->error.data,
                                   call->error.len) == 0)
                {
                    return h->hint;
                }
            }

            if (call->error_description.len > sizeof("Trigger with code")
                && ngx_strncmp(call->error_description.data,
                               "Trigger with code",
                               sizeof("Trigger with code") - 1) == 0)
            {
                return "register the code with crm.automation.trigger.add "
                       "(doc/oauth.md: \"The application's own triggers\")";
            }
        }

        for (h = ngx_http_b24trigger_hints; h->hint; h++) {
            if (h->error.len == call->error.len
                && ngx_strncmp(h->error.data, call->error.data,
                               call->error.len) == 0
                && (h->description.len == 0
                    || (h->description.len == call->error_description.len
                        && ngx_strncmp(h->description.data,
                                       call->error_description.data,
                                       h->description.len) == 0)))
            {
                return h->hint;
            }
        }

        return "see the portal's description of the error";

    case NGX_HTTP_B24TRIGGER_CALL_UNREACHABLE:

        if (call->portal->oauth) {
            return "check DNS, the network and the certificates of the "
                   "portal and of oauth_server; see the lines before this "
                   "one";
        }

        return "check DNS, the network and the portal's certificate "
               "(b24trigger_ssl_trusted_certificate)";

    case NGX_HTTP_B24TRIGGER_CALL_TIMEOUT:
        return "the portal did not answer within timeout= of "
               "b24trigger_portal";

    case NGX_HTTP_B24TRIGGER_CALL_BAD_RESPONSE:
        return "something other than Bitrix24 answered: check the portal "
               "URL and any proxy in between";

    case NGX_HTTP_B24TRIGGER_CALL_NOT_FOUND:
        return "no CRM object has that value in the field of "
               "b24trigger_lookup: check the field's name, or the shop's "
               "way of writing it to the CRM, then replay the letter";

    case NGX_HTTP_B24TRIGGER_CALL_AMBIGUOUS:
        return "several CRM objects have that value in the field of "
               "b24trigger_lookup: merge them or make the field unique, "
               "then replay the letter";

    default:
        return "see the lines before this one";
    }
}


/* the portal of that name, as b24trigger_portal declared it, or NULL */

ngx_http_b24trigger_portal_t *
ngx_http_b24trigger_portal_find(ngx_http_b24trigger_main_conf_t *bmcf,
    ngx_str_t *name)
{
    ngx_uint_t                     i;
    ngx_http_b24trigger_portal_t  *portal;

    portal = bmcf->portals.elts;

    for (i = 0; i < bmcf->portals.nelts; i++) {
        if (portal[i].name.len == name->len
            && ngx_strncmp(portal[i].name.data, name->data, name->len) == 0)
        {
            return &portal[i];
        }
    }

    return NULL;
}


/*
 * An incoming webhook is "https://HOST[:PORT][/PREFIX]/rest/USER/SECRET/";
 * the method is appended per call.  Plain http only for loopback hosts.
 * No message here prints the URL: it holds the secret.
 */

char *
ngx_http_b24trigger_portal_parse_url(ngx_conf_t *cf,
    ngx_http_b24trigger_portal_t *portal, ngx_str_t *url)
{
    u_char                     *p, *last, *host, *path, *seg[4];
    size_t                      len, n;
    ngx_str_t                   h, scheme, secret;
    ngx_uint_t                  nseg, i;
    ngx_http_b24trigger_url_t   u;

    p = url->data;
    last = url->data + url->len;

    /* a newline pasted with the URL */

    while (last > p && (last[-1] == '\n' || last[-1] == '\r'
                        || last[-1] == ' '))
    {
        last--;
    }

    if (last - p > 8 && ngx_strncasecmp(p, (u_char *) "https://", 8) == 0) {
        ngx_str_set(&scheme, "https://");
        host = p + 8;

    } else if (last - p > 7
               && ngx_strncasecmp(p, (u_char *) "http://", 7) == 0)
    {
        ngx_str_set(&scheme, "http://");
        host = p + 7;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "URL of portal \"%V\" must start with "
                           "\"https://\"", &portal->name);
        return NGX_CONF_ERROR;
    }

    path = ngx_strlchr(host, last, '/');

    if (path == NULL || path == host) {
        goto format;
    }

    h.data = host;
    h.len = path - host;

    if (ngx_strlchr(h.data, h.data + h.len, '@')) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "URL of portal \"%V\" must not have a user name "
                           "or password", &portal->name);
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < h.len; i++) {
        if (h.data[i] == '?' || h.data[i] == '#') {
            goto format;
        }
    }

    if (ngx_strlchr(path, last, '?') || ngx_strlchr(path, last, '#')) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "URL of portal \"%V\" must not have a query "
                           "string: use the incoming webhook address "
                           "itself, \"%V%V/rest/USER_ID/SECRET/\"",
                           &portal->name, &scheme, &h);
        return NGX_CONF_ERROR;
    }

    /* the last segments: ".../rest/USER/SECRET[/]" */

    if (last[-1] == '/') {
        last--;
    }

    nseg = 0;
    p = last;

    while (p > path && nseg < 4) {
        p--;

        if (*p == '/') {
            seg[nseg++] = p + 1;
            last = p;

            if (nseg == 3) {
                break;
            }
        }
    }

    /* seg[0] is SECRET, seg[1] is USER, seg[2] is "rest" */

    if (nseg < 3 || ngx_strncmp(seg[2], "rest/", 5) != 0) {
        goto format;
    }

    len = seg[0] - seg[1] - 1;

    if (len == 0) {
        goto format;
    }

    for (i = 0; i < len; i++) {
        if (!(seg[1][i] >= '0' && seg[1][i] <= '9')
            && !(seg[1][i] >= 'a' && seg[1][i] <= 'z')
            && !(seg[1][i] >= 'A' && seg[1][i] <= 'Z')
            && seg[1][i] != '_' && seg[1][i] != '.' && seg[1][i] != '-')
        {
            goto format;
        }
    }

    n = 0;

    for (p = seg[0]; p < url->data + url->len && *p != '/'; p++) {
        if (!(*p >= '0' && *p <= '9') && !(*p >= 'a' && *p <= 'z')
            && !(*p >= 'A' && *p <= 'Z'))
        {
            goto format;
        }

        n++;
    }

    if (n == 0
        || (p < url->data + url->len && p + 1 < url->data + url->len
            && p[1] != '\n' && p[1] != '\r' && p[1] != ' '))
    {
        goto format;
    }

    secret.data = seg[0];
    secret.len = n;

    if (ngx_http_b24trigger_redact_secret(cf, &secret) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* what libcurl will make of it: the same host, or it is refused */

    switch (ngx_http_b24trigger_url_parse(cf->pool, url->data,
                                          (seg[0] + n) - url->data, &u))
    {
    case NGX_OK:
        break;

    case NGX_DECLINED:
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "URL of portal \"%V\" %s",
                           &portal->name, u.error);
        return NGX_CONF_ERROR;

    default:
        return NGX_CONF_ERROR;
    }

    portal->host = u.host;
    portal->port = u.port;
    portal->loopback = u.loopback;

    if (scheme.len == 7 && !portal->loopback) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "portal \"%V\" at \"http://%V\": plain http is "
                           "only allowed for loopback hosts, use "
                           "\"https://\"", &portal->name, &h);
        return NGX_CONF_ERROR;
    }

    /* url: everything up to and including "SECRET/" */

    len = (seg[0] + n) - url->data;

    portal->url.len = len + 1;
    portal->url.data = ngx_pnalloc(cf->pool, len + 2);
    if (portal->url.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(portal->url.data, url->data, len);
    *p++ = '/';
    *p = '\0';

    portal->method_url.len = portal->url.len
                             + sizeof(NGX_HTTP_B24TRIGGER_METHOD) - 1;
    portal->method_url.data = ngx_pnalloc(cf->pool,
                                          portal->method_url.len + 1);
    if (portal->method_url.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(portal->method_url.data, portal->url.data,
                   portal->url.len);
    p = ngx_cpymem(p, NGX_HTTP_B24TRIGGER_METHOD,
                   sizeof(NGX_HTTP_B24TRIGGER_METHOD) - 1);
    *p = '\0';

    portal->safe_url.len = seg[0] - url->data + sizeof("***/") - 1;
    portal->safe_url.data = ngx_pnalloc(cf->pool, portal->safe_url.len);
    if (portal->safe_url.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(portal->safe_url.data, url->data, seg[0] - url->data);
    ngx_memcpy(p, "***/", 4);

    return NGX_CONF_OK;

format:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "URL of portal \"%V\" must look like "
                       "\"https://HOST/rest/USER_ID/SECRET/\", the incoming "
                       "webhook address from Bitrix24 without a method",
                       &portal->name);
    return NGX_CONF_ERROR;
}


/*
 * A URL as libcurl's URL parser (CURLU) reads it, so that every check is
 * made on what libcurl will connect to: http or https only, a host, a
 * port 1-65535, no user name or password (where a parser that cuts at the
 * first ":" sees "localhost" in "http://localhost:1@192.0.2.2/"), and the
 * host written plainly, as "HOST[:PORT]" (not "0x7f.1", "%6cocalhost" or
 * "127.1", which other readers, nginx's own client among them, take for
 * something else).  NGX_DECLINED with u->error saying why; never the URL
 * itself, which may hold a secret.
 */

ngx_int_t
ngx_http_b24trigger_url_parse(ngx_pool_t *pool, u_char *url, size_t len,
    ngx_http_b24trigger_url_t *u)
{
    u_char     *buf, *p;
    char       *scheme, *host, *port, *user, *password, *path, *query,
               *fragment;
    CURLU      *h;
    ngx_int_t   rc, n;
    CURLUcode   uc;
    ngx_uint_t  dot;

    ngx_memzero(u, sizeof(ngx_http_b24trigger_url_t));

    scheme = NULL;
    host = NULL;
    port = NULL;
    user = NULL;
    password = NULL;
    path = NULL;
    query = NULL;
    fragment = NULL;

    buf = ngx_pnalloc(pool, len + 1);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(buf, url, len);
    buf[len] = '\0';

    h = curl_url();
    if (h == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_DECLINED;

    uc = curl_url_set(h, CURLUPART_URL, (char *) buf, 0);

    if (uc != CURLUE_OK) {
        u->error = (uc == CURLUE_BAD_PORT_NUMBER)
                   ? "has an invalid port, 1-65535 expected"
                   : "is not a valid URL";
        goto done;
    }

    if (curl_url_get(h, CURLUPART_USER, &user, 0) != CURLUE_NO_USER
        || curl_url_get(h, CURLUPART_PASSWORD, &password, 0)
           != CURLUE_NO_PASSWORD)
    {
        u->error = "must not have a user name or password";
        goto done;
    }

    if (curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK
        || curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK
        || curl_url_get(h, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT)
           != CURLUE_OK
        || curl_url_get(h, CURLUPART_PATH, &path, 0) != CURLUE_OK)
    {
        u->error = "is not a valid URL";
        goto done;
    }

    if (ngx_strcmp(scheme, "https") == 0) {
        u->https = 1;

    } else if (ngx_strcmp(scheme, "http") != 0) {
        u->error = "must start with \"https://\"";
        goto done;
    }

    n = ngx_atoi((u_char *) port, ngx_strlen(port));

    if (n < 1 || n > 65535) {
        u->error = "has an invalid port, 1-65535 expected";
        goto done;
    }

    u->port = n;

    /*
     * the host in lower case, without a final "." to compare it; but
     * "127.0.0.1." and "localhost." are names libcurl asks DNS for, so
     * such a host is no loopback, and messages show it as written
     */

    u->host.len = ngx_strlen(host);
    dot = 0;

    if (u->host.len > 1 && host[u->host.len - 1] == '.') {
        u->host.len--;
        dot = 1;
    }

    if (u->host.len == 0) {
        u->error = "is not a valid URL";
        goto done;
    }

    u->host.data = ngx_pnalloc(pool, u->host.len + 1);
    if (u->host.data == NULL) {
        rc = NGX_ERROR;
        goto done;
    }

    ngx_strlow(u->host.data, (u_char *) host, u->host.len);
    u->host.data[u->host.len] = '\0';

    u->where.data = ngx_pnalloc(pool, u->host.len + 2 + NGX_INT_T_LEN);
    if (u->where.data == NULL) {
        rc = NGX_ERROR;
        goto done;
    }

    p = ngx_sprintf(u->where.data, "%V%s", &u->host, dot ? "." : "");

    if (u->port != (u->https ? 443 : 80)) {
        p = ngx_sprintf(p, ":%ui", u->port);
    }

    u->where.len = p - u->where.data;

    if (curl_url_get(h, CURLUPART_QUERY, &query, 0) == CURLUE_OK) {
        u->query = 1;
    }

    if (curl_url_get(h, CURLUPART_FRAGMENT, &fragment, 0) == CURLUE_OK) {
        u->query = 1;
    }

    u->path.len = ngx_strlen(path) + (query ? 1 + ngx_strlen(query) : 0);
    u->path.data = ngx_pnalloc(pool, u->path.len);
    if (u->path.data == NULL) {
        rc = NGX_ERROR;
        goto done;
    }

    p = ngx_cpymem(u->path.data, path, ngx_strlen(path));

    if (query) {
        *p++ = '?';
        ngx_memcpy(p, query, ngx_strlen(query));
    }

    if (ngx_http_b24trigger_url_plain(buf, len, u) != NGX_OK) {
        u->error = "must name its host plainly, as \"HOST\" or "
                   "\"HOST:PORT\"";
        goto done;
    }

    u->loopback = dot ? 0 : ngx_http_b24trigger_loopback(&u->host);

    rc = NGX_OK;

done:

    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(user);
    curl_free(password);
    curl_free(path);
    curl_free(query);
    curl_free(fragment);
    curl_url_cleanup(h);

    return rc;
}


/* the host as written is the host libcurl read, and so is the port */

static ngx_int_t
ngx_http_b24trigger_url_plain(u_char *url, size_t len,
    ngx_http_b24trigger_url_t *u)
{
    u_char     *p, *last, *end;
    size_t      n;
    ngx_int_t   port;

    p = url;
    last = url + len;

    end = ngx_strlchr(p, last, ':');

    if (end == NULL || last - end < 3 || end[1] != '/' || end[2] != '/') {
        return NGX_DECLINED;
    }

    p = end + 3;

    for (end = p; end < last; end++) {
        if (*end == '/' || *end == '?' || *end == '#') {
            break;
        }
    }

    last = end;

    /* the host: "[...]", or up to the port */

    if (p < last && *p == '[') {
        end = ngx_strlchr(p, last, ']');
        end = end ? end + 1 : last;

    } else {
        end = ngx_strlchr(p, last, ':');
        end = end ? end : last;
    }

    n = end - p;

    if (n > 1 && p[n - 1] == '.') {
        n--;
    }

    if (n != u->host.len || ngx_strncasecmp(p, u->host.data, n) != 0) {
        return NGX_DECLINED;
    }

    if (end == last) {
        return NGX_OK;
    }

    port = ngx_atoi(end + 1, last - end - 1);

    return (port == (ngx_int_t) u->port) ? NGX_OK : NGX_DECLINED;
}


/* "localhost", 127.0.0.0/8, "[::1]": a host as url_parse() gives it */

static ngx_uint_t
ngx_http_b24trigger_loopback(ngx_str_t *host)
{
    in_addr_t  addr;

    if (host->len == sizeof("localhost") - 1
        && ngx_strncmp(host->data, "localhost", host->len) == 0)
    {
        return 1;
    }

    if (host->len == sizeof("[::1]") - 1
        && ngx_strncmp(host->data, "[::1]", host->len) == 0)
    {
        return 1;
    }

    addr = ngx_inet_addr(host->data, host->len);

    return (addr != INADDR_NONE && (ntohl(addr) >> 24) == 127);
}


ngx_int_t
ngx_http_b24trigger_call_start(ngx_http_b24trigger_call_t *call)
{
    call->started = ngx_current_msec;

    /* another method than the trigger's: its URL, once per call */

    if (call->rest_method.len && call->rest_url == NULL) {
        call->rest_url = ngx_pnalloc(call->pool, call->portal->url.len
                                                 + call->rest_method.len + 1);
        if (call->rest_url == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(call->rest_url, "%V%V%Z", &call->portal->url,
                    &call->rest_method);
    }

    /* an attempt of its own, whatever the last one of a queued event did */

    call->redirects = 0;
    call->fallback = 0;
    call->spent = 0;

    if (call->portal->auth) {

        /* with a token, now or once it is refreshed (oauth.c) */

        if (call->portal->auth->start(call) != NGX_OK) {
            return NGX_ERROR;
        }

    } else {

        if (ngx_http_b24trigger_payload(call, NULL) != NGX_OK) {
            return NGX_ERROR;
        }

        if (ngx_http_b24trigger_call_transfer(call,
                                          ngx_http_b24trigger_call_url(call))
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    ngx_http_b24trigger_stats_in_flight(call->portal, 1);

    return NGX_OK;
}


/* an OAuth portal's call with the access token of the moment */

ngx_int_t
ngx_http_b24trigger_call_send(ngx_http_b24trigger_call_t *call,
    ngx_str_t *token)
{
    if (ngx_http_b24trigger_payload(call, token) != NGX_OK) {
        return NGX_ERROR;
    }

    /* masked in what the portal says (in call->pool, as the payload) */

    call->token = *token;

    /* what an earlier attempt with an expired token learned */

    call->status = 0;
    call->error.len = 0;
    call->error_description.len = 0;
    call->detail.len = 0;

    return ngx_http_b24trigger_call_transfer(call,
                                        ngx_http_b24trigger_call_url(call));
}


/*
 * where the call goes: the method a call names (a lookup's), the trigger's
 * method, or the URL made for im.notify.system.add
 */

static u_char *
ngx_http_b24trigger_call_url(ngx_http_b24trigger_call_t *call)
{
    u_char  *url;

    if (call->rest_url) {
        return call->rest_url;
    }

    switch (call->method) {

    case NGX_HTTP_B24TRIGGER_METHOD_EXECUTE:
        return call->portal->execute_url.data;

    case NGX_HTTP_B24TRIGGER_METHOD_NOTIFY:
        url = ngx_pnalloc(call->pool, call->portal->url.len
                                      + sizeof("im.notify.system.add"));
        if (url != NULL) {
            ngx_sprintf(url, "%Vim.notify.system.add%Z", &call->portal->url);
        }

        return url;

    default:
        return call->portal->method_url.data;
    }
}


void
ngx_http_b24trigger_call_cancel(ngx_http_b24trigger_call_t *call)
{
    if (call->transfer != NULL
        || (call->wait != NULL && call->wait->timer_set))
    {
        if (call->transfer != NULL) {
            ngx_http_b24trigger_call_stop(call->transfer);
            call->transfer = NULL;
        }

        if (call->wait != NULL && call->wait->timer_set) {
            ngx_del_timer(call->wait);
        }

        ngx_http_b24trigger_stats_in_flight(call->portal, -1);
    }
}


/*
 * {"target":"DEAL_57","code":"c5u4m"}, with "auth" for OAuth portals, made
 * in one piece: the target is TYPENAME_ID (checked before any call), the
 * code and the token are escaped, and the code must be UTF-8, as jansson
 * wanted it before; crm.automation.trigger.execute's form goes through
 * jansson (ngx_http_b24trigger_payload_json)
 */

static ngx_int_t
ngx_http_b24trigger_payload(ngx_http_b24trigger_call_t *call,
    ngx_str_t *token)
{
    u_char     *p;
    size_t      len;
    uintptr_t   te, ce, ke;
    ngx_str_t  *target, *code;

    if (call->rest_method.len) {
        return ngx_http_b24trigger_payload_params(call, token);
    }

    if (call->method != NGX_HTTP_B24TRIGGER_METHOD_TRIGGER) {
        return ngx_http_b24trigger_payload_json(call, token);
    }

    if (!ngx_http_b24trigger_utf8_string(&call->code)) {
        ngx_log_error(NGX_LOG_ERR, call->log, 0,
                      "b24trigger: code for target \"%V\" is not UTF-8, "
                      "not sent to portal \"%V\"",
                      &call->target, &call->portal->name);
        return NGX_ERROR;
    }

    /*
     * each string escaped only where it has to be (a target never, a
     * code seldom): a look first, then a copy
     */

    target = &call->target;
    code = &call->code;

    te = ngx_http_b24trigger_json_escaped(target->data, target->len);
    ce = ngx_http_b24trigger_json_escaped(code->data, code->len);
    ke = token ? ngx_http_b24trigger_json_escaped(token->data, token->len)
               : 0;

    len = sizeof("{\"target\":\"\",\"code\":\"\",\"auth\":\"\"}") - 1
          + target->len + te + code->len + ce
          + (token ? token->len + ke : 0);

    call->payload = ngx_pnalloc(call->pool, len);
    if (call->payload == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(call->payload, "{\"target\":\"", 11);
    p = ngx_http_b24trigger_json_copy(p, target, te);

    if (code->len) {
        p = ngx_cpymem(p, "\",\"code\":\"", 10);
        p = ngx_http_b24trigger_json_copy(p, code, ce);
    }

    if (token) {
        p = ngx_cpymem(p, "\",\"auth\":\"", 10);
        p = ngx_http_b24trigger_json_copy(p, token, ke);
    }

    *p++ = '"';
    *p++ = '}';

    call->payload_len = p - call->payload;

    return NGX_OK;
}


/*
 * The caller's JSON object as it is, or with "auth" added at its end for
 * an OAuth portal: {"entityTypeId":2,...,"auth":"..."}
 */

static ngx_int_t
ngx_http_b24trigger_payload_params(ngx_http_b24trigger_call_t *call,
    ngx_str_t *token)
{
    u_char  *p;
    size_t   len;

    if (token == NULL) {
        call->payload = call->params.data;
        call->payload_len = call->params.len;
        return NGX_OK;
    }

    /* params is "{...}" with at least one member (the caller's) */

    len = call->params.len + sizeof(",\"auth\":\"\"") - 1
          + token->len + ngx_escape_json(NULL, token->data, token->len);

    call->payload = ngx_pnalloc(call->pool, len);
    if (call->payload == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(call->payload, call->params.data, call->params.len - 1);
    p = ngx_cpymem(p, ",\"auth\":\"", 9);
    p = (u_char *) ngx_escape_json(p, token->data, token->len);
    *p++ = '"';
    *p++ = '}';

    call->payload_len = p - call->payload;

    return NGX_OK;
}


/*
 * {"CODE":"c5u4m","OWNER_TYPE_ID":2,"OWNER_ID":57,"auth":...} for
 * crm.automation.trigger.execute, the method of an OAuth application
 */

static ngx_int_t
ngx_http_b24trigger_payload_json(ngx_http_b24trigger_call_t *call,
    ngx_str_t *token)
{
    size_t   len;
    json_t  *root, *v;

    root = json_object();
    if (root == NULL) {
        return NGX_ERROR;
    }

    if ((call->method == NGX_HTTP_B24TRIGGER_METHOD_NOTIFY
         ? ngx_http_b24trigger_payload_notify(call, root)
         : ngx_http_b24trigger_payload_execute(call, root))
        != NGX_OK)
    {
        goto failed;
    }

    if (token) {
        v = json_stringn((char *) token->data, token->len);
        if (v == NULL || json_object_set_new(root, "auth", v) != 0) {
            goto failed;
        }
    }

    len = json_dumpb(root, NULL, 0, JSON_COMPACT);
    if (len == 0) {
        goto failed;
    }

    call->payload = ngx_pnalloc(call->pool, len);
    if (call->payload == NULL) {
        goto failed;
    }

    call->payload_len = json_dumpb(root, (char *) call->payload, len,
                                   JSON_COMPACT);
    json_decref(root);

    return NGX_OK;

failed:

    json_decref(root);
    return NGX_ERROR;
}


/* {"USER_ID":1,"MESSAGE":"..."} for im.notify.system.add */

static ngx_int_t
ngx_http_b24trigger_payload_notify(ngx_http_b24trigger_call_t *call,
    json_t *root)
{
    off_t    id;
    json_t  *v;

    id = ngx_atoof(call->target.data, call->target.len);

    v = json_integer(id > 0 ? id : 0);
    if (v == NULL || json_object_set_new(root, "USER_ID", v) != 0) {
        return NGX_ERROR;
    }

    v = json_stringn((char *) call->code.data, call->code.len);
    if (v == NULL || json_object_set_new(root, "MESSAGE", v) != 0) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the target, "DEAL_57", as OWNER_TYPE_ID and OWNER_ID */

static ngx_int_t
ngx_http_b24trigger_payload_execute(ngx_http_b24trigger_call_t *call,
    json_t *root)
{
    u_char  *us, *last;
    off_t    id;
    json_t  *v;

    last = call->target.data + call->target.len;

    for (us = last; us > call->target.data; us--) {
        if (us[-1] == '_') {
            break;
        }
    }

    /* the target was checked: "NAME_ID" with ID of at most 18 digits */

    id = (us > call->target.data) ? ngx_atoof(us, last - us) : 0;

    v = json_stringn((char *) call->code.data, call->code.len);
    if (v == NULL || json_object_set_new(root, "CODE", v) != 0) {
        return NGX_ERROR;
    }

    v = json_integer(us > call->target.data
                     ? ngx_http_b24trigger_owner_type(call->target.data,
                                                 us - 1 - call->target.data)
                     : 0);
    if (v == NULL || json_object_set_new(root, "OWNER_TYPE_ID", v) != 0) {
        return NGX_ERROR;
    }

    v = json_integer(id > 0 ? (json_int_t) id : 0);
    if (v == NULL || json_object_set_new(root, "OWNER_ID", v) != 0) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


typedef struct {
    ngx_str_t    name;
    ngx_int_t    type;
} ngx_http_b24trigger_owner_t;


/* CCrmOwnerType: the names b24trigger_target takes, their ids */

static ngx_http_b24trigger_owner_t  ngx_http_b24trigger_owners[] = {
    { ngx_string("LEAD"), 1 },           { ngx_string("L"), 1 },
    { ngx_string("DEAL"), 2 },           { ngx_string("D"), 2 },
    { ngx_string("CONTACT"), 3 },        { ngx_string("C"), 3 },
    { ngx_string("COMPANY"), 4 },        { ngx_string("CO"), 4 },
    { ngx_string("INVOICE"), 5 },        { ngx_string("I"), 5 },
    { ngx_string("QUOTE"), 7 },          { ngx_string("Q"), 7 },
    { ngx_string("ORDER"), 14 },         { ngx_string("O"), 14 },
    { ngx_string("SMART_INVOICE"), 31 }, { ngx_string("SI"), 31 },
    { ngx_string("SMART_DOCUMENT"), 36 }, { ngx_string("DO"), 36 },
    { ngx_null_string, 0 }
};


/* 0: unknown, the portal answers "Incorrect parameter OWNER_TYPE_ID." */

static ngx_int_t
ngx_http_b24trigger_owner_type(u_char *name, size_t len)
{
    ngx_int_t                     n;
    ngx_http_b24trigger_owner_t  *o;

    for (o = ngx_http_b24trigger_owners; o->name.len; o++) {
        if (o->name.len == len
            && ngx_strncasecmp(o->name.data, name, len) == 0)
        {
            return o->type;
        }
    }

    /* DYNAMIC_128: a smart process */

    if (len > 8 && ngx_strncasecmp(name, (u_char *) "DYNAMIC_", 8) == 0) {
        n = ngx_atoi(name + 8, len - 8);
        return (n == NGX_ERROR) ? 0 : n;
    }

    /* T80: the same smart process, its id in hex */

    if (len > 1 && (name[0] == 'T' || name[0] == 't')) {
        n = ngx_hextoi(name + 1, len - 1);
        return (n >= 128 && n < 192) ? n : 0;
    }

    return 0;
}


static ngx_int_t
ngx_http_b24trigger_call_transfer(ngx_http_b24trigger_call_t *call,
    u_char *url)
{
    CURL                            *easy;
    ngx_http_b24trigger_transfer_t  *t;

    if (url == NULL) {
        return NGX_ERROR;
    }

    call->url = url;

    /* the portal's own address over nginx's connections, as configured */

    if (call->portal->peer != NULL && call->redirects == 0
        && !call->fallback)
    {
        t = ngx_http_b24trigger_http_start(call->pool, call->log,
                                           call->portal->peer, url,
                                           call->payload, call->payload_len,
                                           call->portal->timeout,
                                           call->portal->connect_timeout);
        if (t == NULL) {
            return NGX_ERROR;
        }

        t->done = ngx_http_b24trigger_call_done;
        t->data = call;
        call->transfer = t;

        return NGX_OK;
    }

    t = ngx_http_b24trigger_transfer_create(call->pool, call->log);
    if (t == NULL) {
        return NGX_ERROR;
    }

    easy = t->easy;

    if (curl_easy_setopt(easy, CURLOPT_URL, (char *) url) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_POST, 1L) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_POSTFIELDS, call->payload)
           != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE,
                            (long) call->payload_len)
           != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_HTTPHEADER,
                            &ngx_http_b24trigger_headers[0])
           != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_USERAGENT, "b24trigger/1.0")
           != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                            (long) (call->portal->timeout - call->spent))
           != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                            (long) call->portal->connect_timeout)
           != CURLE_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, call->log, 0,
                      "curl_easy_setopt() failed");
        goto failed;
    }

    t->done = ngx_http_b24trigger_call_done;
    t->data = call;

    if (ngx_http_b24trigger_transfer_start(t) != NGX_OK) {
        goto failed;
    }

    call->transfer = t;

    return NGX_OK;

failed:

    ngx_http_b24trigger_transfer_cancel(t);
    return NGX_ERROR;
}


static void
ngx_http_b24trigger_call_stop(ngx_http_b24trigger_transfer_t *t)
{
    if (t->native) {
        ngx_http_b24trigger_http_cancel(t);

    } else {
        ngx_http_b24trigger_transfer_cancel(t);
    }
}


static void
ngx_http_b24trigger_call_done(ngx_http_b24trigger_transfer_t *t)
{
    ngx_http_b24trigger_call_t  *call = t->data;

    call->transfer = NULL;
    call->time = ngx_current_msec - call->started;

    if (ngx_http_b24trigger_call_over(call, t) != NGX_OK) {
        /* repeated at a moved portal's new address */
        return;
    }

    if (call->portal->auth
        && call->portal->auth->done(call) == NGX_AGAIN)
    {
        /* repeated with a refreshed token */
        return;
    }

    ngx_http_b24trigger_call_finish(call);
}


void
ngx_http_b24trigger_call_finish(ngx_http_b24trigger_call_t *call)
{
    call->time = ngx_current_msec - call->started;

    /* the portal's bucket and blocks, for every worker */
    ngx_http_b24trigger_bucket_learn(call);

    ngx_http_b24trigger_stats_in_flight(call->portal, -1);
    ngx_http_b24trigger_stats_call(call);

    call->done(call);
}


/* NGX_OK: the call is over, its outcome set; NGX_AGAIN: it goes on */

static ngx_int_t
ngx_http_b24trigger_call_over(ngx_http_b24trigger_call_t *call,
    ngx_http_b24trigger_transfer_t *t)
{
    ngx_http_b24trigger_peer_t  *peer;

    /*
     * The address resolved at load took nothing: perhaps the portal's
     * name points elsewhere now.  Once more through libcurl, which
     * resolves it afresh, within what is left of timeout=.
     */

    peer = call->portal->peer;

    if (t->native && t->unsent && !peer->literal && !call->fallback
        && (t->result == CURLE_COULDNT_CONNECT
            || t->result == CURLE_OPERATION_TIMEDOUT
            || t->result == CURLE_SSL_CONNECT_ERROR
            || t->result == CURLE_PEER_FAILED_VERIFICATION)
        && t->time + 1 < call->portal->timeout
        && !ngx_exiting && !ngx_terminate)
    {
        ngx_log_debug2(NGX_LOG_DEBUG_EVENT, call->log, 0,
                       "b24trigger: portal \"%V\" failed at its address "
                       "of the configuration load (%s), libcurl resolves "
                       "it anew", &call->portal->name, t->errbuf);

        call->fallback = 1;
        call->spent = t->time;

        if (ngx_http_b24trigger_call_transfer(call, call->url) == NGX_OK) {
            return NGX_AGAIN;
        }

        call->outcome = NGX_HTTP_B24TRIGGER_CALL_INTERNAL;
        return NGX_OK;
    }

    if (call->fallback && t->result == CURLE_OK && !peer->moved) {
        peer->moved = 1;

        ngx_log_error(NGX_LOG_WARN, call->log, 0,
                      "b24trigger: portal \"%V\" answered at the address "
                      "its host has now, not at the one it had when the "
                      "configuration was loaded; reload nginx",
                      &call->portal->name);
    }

    if (t->result == CURLE_OK
        && (t->status == 301 || t->status == 302 || t->status == 303
            || t->status == 307 || t->status == 308)
        && t->redirect.len
        && call->redirects == 0)
    {
        switch (ngx_http_b24trigger_call_redirect(call, t)) {

        case NGX_OK:
            return NGX_AGAIN;

        case NGX_DECLINED:
            call->outcome = NGX_HTTP_B24TRIGGER_CALL_BAD_RESPONSE;
            call->status = t->status;
            return NGX_OK;

        default:
            call->outcome = NGX_HTTP_B24TRIGGER_CALL_INTERNAL;
            return NGX_OK;
        }
    }

    ngx_http_b24trigger_call_classify(call, t);

    return NGX_OK;
}


/*
 * A moved portal answers 302 with its new address; Bitrix24's REST
 * documentation asks clients to repeat the POST there, once.  The secret
 * goes along (in the path of a webhook, as "auth" of an OAuth call), so
 * the redirect is read by libcurl's URL parser and followed only to
 * https or to a loopback host over http, never with a user name or
 * password in it, and never to another host than the portal's (its port
 * may change): a portal that moved to another domain is answered with an
 * error-log line asking for the new URL, as neither the webhook's secret
 * nor an access token may go to a host the operator did not name.
 */

static ngx_int_t
ngx_http_b24trigger_call_redirect(ngx_http_b24trigger_call_t *call,
    ngx_http_b24trigger_transfer_t *t)
{
    ngx_int_t                   rc;
    ngx_http_b24trigger_url_t   u;

    rc = ngx_http_b24trigger_url_parse(call->pool, t->redirect.data,
                                       t->redirect.len, &u);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_ERR, call->log, 0,
                      "b24trigger: redirect of portal \"%V\" not "
                      "followed: the URL %s", &call->portal->name, u.error);
        ngx_str_set(&call->detail, "redirect to an invalid URL");
        return NGX_DECLINED;
    }

    if (!u.https && !u.loopback) {
        ngx_log_error(NGX_LOG_ERR, call->log, 0,
                      "b24trigger: portal \"%V\" redirected to plain http "
                      "at \"%V\", not followed", &call->portal->name,
                      ngx_http_b24trigger_log_value(call->pool, &u.where));
        ngx_str_set(&call->detail, "redirect to plain http");
        return NGX_DECLINED;
    }

    if (u.host.len != call->portal->host.len
        || ngx_strncmp(u.host.data, call->portal->host.data, u.host.len)
           != 0)
    {
        ngx_log_error(NGX_LOG_ERR, call->log, 0,
                      "b24trigger: portal \"%V\" redirected to another "
                      "host, \"%V\", not followed: the webhook's secret "
                      "and the access token go only to the portal's host; "
                      "if the portal has moved, update \"b24trigger_portal\"",
                      &call->portal->name,
                      ngx_http_b24trigger_log_value(call->pool, &u.where));
        ngx_str_set(&call->detail, "redirect to another host");
        return NGX_DECLINED;
    }

    ngx_log_error(NGX_LOG_WARN, call->log, 0,
                  "b24trigger: portal \"%V\" has moved to \"%V\", the call "
                  "is repeated there; update \"b24trigger_portal\"",
                  &call->portal->name,
                  ngx_http_b24trigger_log_value(call->pool, &u.where));

    call->redirects++;

    /* t->redirect is NUL-terminated, in call->pool */

    if (ngx_http_b24trigger_call_transfer(call, t->redirect.data) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_b24trigger_call_classify(ngx_http_b24trigger_call_t *call,
    ngx_http_b24trigger_transfer_t *t)
{
    ngx_int_t                           rc;
    ngx_str_t                           v;
    ngx_http_b24trigger_json_t         *json;
    ngx_http_b24trigger_parse_error_t   perr;

    call->status = t->status;

    if (t->result != CURLE_OK && !t->too_large) {

        call->outcome = (t->result == CURLE_OPERATION_TIMEDOUT)
                        ? NGX_HTTP_B24TRIGGER_CALL_TIMEOUT
                        : NGX_HTTP_B24TRIGGER_CALL_UNREACHABLE;

        call->detail.data = (u_char *) (t->errbuf[0]
                                        ? t->errbuf
                                        : curl_easy_strerror(t->result));
        call->detail.len = ngx_strlen(call->detail.data);

        /* errbuf lives in the transfer, which lives in call->pool */

        return;
    }

    if (t->too_large) {
        call->outcome = NGX_HTTP_B24TRIGGER_CALL_BAD_RESPONSE;
        ngx_str_set(&call->detail, "answer too large");
        return;
    }

    rc = ngx_http_b24trigger_json_parse(call->pool, t->response.data,
                                        t->response.len, &json, &perr);

    if (rc == NGX_ERROR) {
        call->outcome = NGX_HTTP_B24TRIGGER_CALL_INTERNAL;
        return;
    }

    if (rc != NGX_OK
        || ngx_http_b24trigger_json_find(json, NULL, 0, &v)
           != NGX_HTTP_B24TRIGGER_JSON_OBJECT)
    {
        call->outcome = NGX_HTTP_B24TRIGGER_CALL_BAD_RESPONSE;
        ngx_str_set(&call->detail, "answer is not a JSON object");
        return;
    }

    if (ngx_http_b24trigger_json_find(json, &ngx_http_b24trigger_a_error, 1,
                                      &v)
        == NGX_HTTP_B24TRIGGER_JSON_STRING)
    {
        if (ngx_http_b24trigger_copy_json_string(call, &v, &call->error)
            != NGX_OK)
        {
            call->outcome = NGX_HTTP_B24TRIGGER_CALL_INTERNAL;
            return;
        }

        if (ngx_http_b24trigger_json_find(json,
                                          &ngx_http_b24trigger_a_description,
                                          1, &v)
            == NGX_HTTP_B24TRIGGER_JSON_STRING
            && ngx_http_b24trigger_copy_json_string(call, &v,
                                                   &call->error_description)
               != NGX_OK)
        {
            call->outcome = NGX_HTTP_B24TRIGGER_CALL_INTERNAL;
            return;
        }

        if (call->error.len == sizeof("QUERY_LIMIT_EXCEEDED") - 1
            && ngx_strncmp(call->error.data, "QUERY_LIMIT_EXCEEDED",
                           call->error.len) == 0)
        {
            call->outcome = NGX_HTTP_B24TRIGGER_CALL_RATE_LIMITED;
            call->retry_after = 1;
            return;
        }

        if (call->error.len == sizeof("OPERATION_TIME_LIMIT") - 1
            && ngx_strncmp(call->error.data, "OPERATION_TIME_LIMIT",
                           call->error.len) == 0)
        {
            /* the block lifts when the oldest minute basket expires */
            call->outcome = NGX_HTTP_B24TRIGGER_CALL_RATE_LIMITED;
            call->retry_after = 60;
            return;
        }

        call->outcome = NGX_HTTP_B24TRIGGER_CALL_PORTAL_ERROR;
        return;
    }

    if (ngx_http_b24trigger_json_find(json, &ngx_http_b24trigger_a_result, 1,
                                      &v)
        != NGX_DECLINED
        && t->status >= 200 && t->status < 300)
    {
        /* when OPERATION_TIME_LIMIT would lift (cloud portals only) */

        if (ngx_http_b24trigger_json_find(json, ngx_http_b24trigger_a_reset,
                                          2, &v)
            == NGX_HTTP_B24TRIGGER_JSON_NUMBER)
        {
            call->operating_reset_at = ngx_http_b24trigger_json_time(&v);
        }

        /* the answer lives in call->pool, as the transfer does */

        call->answer = t->response;
        call->outcome = NGX_HTTP_B24TRIGGER_CALL_OK;
        return;
    }

    call->outcome = NGX_HTTP_B24TRIGGER_CALL_BAD_RESPONSE;
    ngx_str_set(&call->detail, "answer has neither \"result\" nor \"error\"");
}


/*
 * What the portal says is logged, echoed to the sender, journaled and kept
 * in dead letters: bounded, NUL-ended, and never a secret, also where the
 * portal (or a proxy before it) quotes the request: the webhook's token
 * in its path, an OAuth call's access token.  Masked whole, then cut.
 */

static ngx_int_t
ngx_http_b24trigger_copy_json_string(ngx_http_b24trigger_call_t *call,
    ngx_str_t *value, ngx_str_t *dst)
{
    size_t  len;

    dst->data = ngx_pnalloc(call->pool, value->len + 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, value->data, value->len);

    len = ngx_http_b24trigger_redact_text(dst->data, value->len);
    len = ngx_http_b24trigger_redact_one(dst->data, len, &call->token);

    len = ngx_min(len, NGX_HTTP_B24TRIGGER_ANSWER_STRING_MAX);

    dst->data[len] = '\0';
    dst->len = len;

    return NGX_OK;
}


/* a JSON number of seconds, "1700000000" or "1700000000.25", as time_t */

static time_t
ngx_http_b24trigger_json_time(ngx_str_t *v)
{
    u_char  *p, *last;
    time_t   t;

    p = v->data;
    last = v->data + v->len;
    t = 0;

    if (p == last || *p == '-') {
        return 0;
    }

    for ( /* void */ ; p < last && *p >= '0' && *p <= '9'; p++) {
        if (t > (NGX_MAX_TIME_T_VALUE - 9) / 10) {
            return 0;
        }

        t = t * 10 + (*p - '0');
    }

    if (p < last && *p != '.') {
        /* an exponent: not a time Bitrix24 would send */
        return 0;
    }

    return t;
}
