
/*
 * Copyright (C) b24trigger authors
 *
 * The HMAC presets: Stripe, Standard Webhooks, GitHub, Shopify, Slack,
 * Paddle, Typeform, WooCommerce, CloudPayments, Calendly, Zoom, HubSpot
 * v3, Intercom and Square, each described as its
 * provider's webhook documentation says it signs: which header, its
 * grammar, what is signed, how the signature is encoded.  Data only: the
 * scheme table (ngx_http_b24trigger_verify.c) names them, the HMAC code
 * (ngx_http_b24trigger_verify_hmac.c) follows them.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_b24trigger_verify_schemes.h"


ngx_http_b24trigger_hmac_t  ngx_http_b24trigger_stripe = {
    { ngx_string("Stripe-Signature"), ngx_null_string },
    { ngx_null_string, ngx_null_string },
    { ngx_null_string, ngx_null_string },
    NGX_HTTP_B24TRIGGER_GRAMMAR_KV, ngx_null_string, ',',
    ngx_string("t"), ngx_string("v1"),
    NGX_HTTP_B24TRIGGER_MSG_TS_DOT, NGX_HTTP_B24TRIGGER_HEX,
    NGX_HTTP_B24TRIGGER_HANDSHAKE_NONE
};


ngx_http_b24trigger_hmac_t  ngx_http_b24trigger_standard = {
    { ngx_string("webhook-signature"), ngx_string("svix-signature") },
    { ngx_string("webhook-timestamp"), ngx_string("svix-timestamp") },
    { ngx_string("webhook-id"), ngx_string("svix-id") },
    NGX_HTTP_B24TRIGGER_GRAMMAR_VERSIONED, ngx_string("v1"), ' ',
    ngx_null_string, ngx_null_string,
    NGX_HTTP_B24TRIGGER_MSG_ID_TS, NGX_HTTP_B24TRIGGER_BASE64,
    NGX_HTTP_B24TRIGGER_HANDSHAKE_NONE
};


ngx_http_b24trigger_hmac_t  ngx_http_b24trigger_github = {
    { ngx_string("X-Hub-Signature-256"), ngx_null_string },
    { ngx_null_string, ngx_null_string },
    { ngx_null_string, ngx_null_string },
    NGX_HTTP_B24TRIGGER_GRAMMAR_PREFIX, ngx_string("sha256="), 0,
    ngx_null_string, ngx_null_string,
    NGX_HTTP_B24TRIGGER_MSG_BODY, NGX_HTTP_B24TRIGGER_HEX,
    NGX_HTTP_B24TRIGGER_HANDSHAKE_NONE
};


ngx_http_b24trigger_hmac_t  ngx_http_b24trigger_shopify = {
    { ngx_string("X-Shopify-Hmac-Sha256"), ngx_string("shopify-hmac-sha256") },
    { ngx_null_string, ngx_null_string },
    { ngx_null_string, ngx_null_string },
    NGX_HTTP_B24TRIGGER_GRAMMAR_PLAIN, ngx_null_string, 0,
    ngx_null_string, ngx_null_string,
    NGX_HTTP_B24TRIGGER_MSG_BODY, NGX_HTTP_B24TRIGGER_BASE64,
    NGX_HTTP_B24TRIGGER_HANDSHAKE_NONE
};


ngx_http_b24trigger_hmac_t  ngx_http_b24trigger_slack = {
    { ngx_string("X-Slack-Signature"), ngx_null_string },
    { ngx_string("X-Slack-Request-Timestamp"), ngx_null_string },
    { ngx_null_string, ngx_null_string },
    NGX_HTTP_B24TRIGGER_GRAMMAR_PREFIX, ngx_string("v0="), 0,
    ngx_null_string, ngx_null_string,
    NGX_HTTP_B24TRIGGER_MSG_V0, NGX_HTTP_B24TRIGGER_HEX,
    NGX_HTTP_B24TRIGGER_HANDSHAKE_SLACK
};


ngx_http_b24trigger_hmac_t  ngx_http_b24trigger_paddle = {
    { ngx_string("Paddle-Signature"), ngx_null_string },
    { ngx_null_string, ngx_null_string },
    { ngx_null_string, ngx_null_string },
    NGX_HTTP_B24TRIGGER_GRAMMAR_KV, ngx_null_string, ';',
    ngx_string("ts"), ngx_string("h1"),
    NGX_HTTP_B24TRIGGER_MSG_TS_COLON, NGX_HTTP_B24TRIGGER_HEX,
    NGX_HTTP_B24TRIGGER_HANDSHAKE_NONE
};


ngx_http_b24trigger_hmac_t  ngx_http_b24trigger_typeform = {
    { ngx_string("Typeform-Signature"), ngx_null_string },
    { ngx_null_string, ngx_null_string },
    { ngx_null_string, ngx_null_string },
    NGX_HTTP_B24TRIGGER_GRAMMAR_PREFIX, ngx_string("sha256="), 0,
    ngx_null_string, ngx_null_string,
    NGX_HTTP_B24TRIGGER_MSG_BODY, NGX_HTTP_B24TRIGGER_BASE64,
    NGX_HTTP_B24TRIGGER_HANDSHAKE_NONE
};


ngx_http_b24trigger_hmac_t  ngx_http_b24trigger_woocommerce = {
    { ngx_string("X-WC-Webhook-Signature"), ngx_null_string },
    { ngx_null_string, ngx_null_string },
    { ngx_null_string, ngx_null_string },
    NGX_HTTP_B24TRIGGER_GRAMMAR_PLAIN, ngx_null_string, 0,
    ngx_null_string, ngx_null_string,
    NGX_HTTP_B24TRIGGER_MSG_BODY, NGX_HTTP_B24TRIGGER_BASE64,
    NGX_HTTP_B24TRIGGER_HANDSHAKE_WOO_PING
};


ngx_http_b24trigger_hmac_t  ngx_http_b24trigger_cloudpayments = {
    { ngx_string("Content-HMAC"), ngx_string("X-Content-HMAC") },
    { ngx_null_string, ngx_null_string },
    { ngx_null_string, ngx_null_string },
    NGX_HTTP_B24TRIGGER_GRAMMAR_PLAIN, ngx_null_string, 0,
    ngx_null_string, ngx_null_string,
    NGX_HTTP_B24TRIGGER_MSG_BODY, NGX_HTTP_B24TRIGGER_BASE64,
    NGX_HTTP_B24TRIGGER_HANDSHAKE_NONE
};


ngx_http_b24trigger_hmac_t  ngx_http_b24trigger_calendly = {
    { ngx_string("Calendly-Webhook-Signature"), ngx_null_string },
    { ngx_null_string, ngx_null_string },
    { ngx_null_string, ngx_null_string },
    NGX_HTTP_B24TRIGGER_GRAMMAR_KV, ngx_null_string, ',',
    ngx_string("t"), ngx_string("v1"),
    NGX_HTTP_B24TRIGGER_MSG_TS_DOT, NGX_HTTP_B24TRIGGER_HEX,
    NGX_HTTP_B24TRIGGER_HANDSHAKE_NONE
};


ngx_http_b24trigger_hmac_t  ngx_http_b24trigger_zoom = {
    { ngx_string("x-zm-signature"), ngx_null_string },
    { ngx_string("x-zm-request-timestamp"), ngx_null_string },
    { ngx_null_string, ngx_null_string },
    NGX_HTTP_B24TRIGGER_GRAMMAR_PREFIX, ngx_string("v0="), 0,
    ngx_null_string, ngx_null_string,
    NGX_HTTP_B24TRIGGER_MSG_V0, NGX_HTTP_B24TRIGGER_HEX,
    NGX_HTTP_B24TRIGGER_HANDSHAKE_ZOOM
};


ngx_http_b24trigger_hmac_t  ngx_http_b24trigger_hubspot = {
    { ngx_string("X-HubSpot-Signature-v3"), ngx_null_string },
    { ngx_string("X-HubSpot-Request-Timestamp"), ngx_null_string },
    { ngx_null_string, ngx_null_string },
    NGX_HTTP_B24TRIGGER_GRAMMAR_PLAIN, ngx_null_string, 0,
    ngx_null_string, ngx_null_string,
    NGX_HTTP_B24TRIGGER_MSG_METHOD_URL, NGX_HTTP_B24TRIGGER_BASE64,
    NGX_HTTP_B24TRIGGER_HANDSHAKE_NONE
};


ngx_http_b24trigger_hmac_t  ngx_http_b24trigger_intercom = {
    { ngx_string("X-Hub-Signature"), ngx_null_string },
    { ngx_null_string, ngx_null_string },
    { ngx_null_string, ngx_null_string },
    NGX_HTTP_B24TRIGGER_GRAMMAR_PREFIX, ngx_string("sha1="), 0,
    ngx_null_string, ngx_null_string,
    NGX_HTTP_B24TRIGGER_MSG_BODY, NGX_HTTP_B24TRIGGER_HEX,
    NGX_HTTP_B24TRIGGER_HANDSHAKE_NONE
};


ngx_http_b24trigger_hmac_t  ngx_http_b24trigger_square = {
    { ngx_string("x-square-hmacsha256-signature"), ngx_null_string },
    { ngx_null_string, ngx_null_string },
    { ngx_null_string, ngx_null_string },
    NGX_HTTP_B24TRIGGER_GRAMMAR_PLAIN, ngx_null_string, 0,
    ngx_null_string, ngx_null_string,
    NGX_HTTP_B24TRIGGER_MSG_URL, NGX_HTTP_B24TRIGGER_BASE64,
    NGX_HTTP_B24TRIGGER_HANDSHAKE_NONE
};
