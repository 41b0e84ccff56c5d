#!/usr/bin/env python3
"""b24emu: a Bitrix24 portal emulator for trying and testing b24trigger.

It answers incoming-webhook REST calls the way a Bitrix24 portal does,
above all crm.automation.trigger, and lets a test inject the portal's
failures (rate limits, 5xx, broken connections, hangs) through a small
control API under /_emu/.  Python 3 standard library only.

Section numbers such as "ref 2.1" point into
shared/reference/bitrix24-api.md, which cites the Bitrix24 product source
each behaviour comes from.  Run with --help for the options; tools/README.md
is the user guide.

The webhook secret is never written to stdout, stderr or the call log.
"""

import argparse
import datetime
import json
import os
import re
import select
import signal
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "1.0"
REDACTED = "***"
MAX_BODY = 16 * 1024 * 1024
SCRUB_MIN_LEN = 6           # shorter secrets are redacted only where expected

# ---------------------------------------------------------------------------
# Bitrix24 error catalogue (ref 2.4, ref 3).  (HTTP status, error, description)

E_METHOD_NOT_FOUND = (404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
E_NO_AUTH_FOUND = (401, "NO_AUTH_FOUND", "Wrong authorization data")
E_INVALID_CREDENTIALS = (401, "INVALID_CREDENTIALS",
                         "Invalid request credentials")
E_HTTPS_REQUIRED = (401, "INVALID_REQUEST", "Https required.")
E_INSUFFICIENT_SCOPE = (401, "insufficient_scope",
                        "The request requires higher privileges than "
                        "provided by the webhook token")
E_OVERLOAD_LIMIT = (401, "OVERLOAD_LIMIT",
                    "REST API is blocked due to overload.")
E_EXPIRED_TOKEN = (401, "expired_token",
                   "The access token provided has expired")
# The text of invalid_token is UNCONFIRMED (ref 3, ref 7 item 3).
E_INVALID_TOKEN = (401, "invalid_token",
                   "The access token provided is invalid")
E_OPERATION_TIME_LIMIT = (429, "OPERATION_TIME_LIMIT",
                          "Method is blocked due to operation time limit.")
E_QUERY_LIMIT = (503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
E_PORTAL_DELETED = (403, "PORTAL_DELETED", "Portal was deleted")
E_INTERNAL = (500, "INTERNAL_SERVER_ERROR", "Internal server error")
E_UNEXPECTED = (500, "ERROR_UNEXPECTED_ANSWER",
                "Server returned an unexpected response")
# crm.automation.trigger (ref 2.1, 2.4): RestException without a code gives
# "error":"" and status 400; AccessException gives ACCESS_DENIED and 403.
E_TARGET_NOT_SET = (400, "", "Target is not set.")
E_TARGET_FORMAT = (400, "", "Incorrect target format.")
E_TARGET_NOT_FOUND = (400, "", "Target is not found.")
E_CRM_ACCESS = (400, "", "Access denied.")
E_NO_UPDATE_PERMISSION = (403, "ACCESS_DENIED",
                          "Access denied! There is no permissions to "
                          "update the entity.")
E_APP_CONTEXT = (403, "ACCESS_DENIED",
                 "Access denied! Application context required")
# crm.automation.trigger.add/delete/execute (ref 2.6)
E_EMPTY_CODE = (400, "", "Empty trigger code!")
E_WRONG_CODE = (400, "", "Wrong trigger code!")
E_EMPTY_NAME = (400, "", "Empty trigger name!")
E_TRIGGER_NOT_FOUND = (400, "", "Trigger not found")
E_OWNER_TYPE = (400, "", "Incorrect parameter OWNER_TYPE_ID.")
E_OWNER_ID = (400, "", "Incorrect parameter OWNER_ID.")
# the token server (ref 1.3); statuses as PHPSDK assumes them
E_OAUTH_INVALID_REQUEST = (400, "invalid_request", "Invalid request")
E_OAUTH_INVALID_CLIENT = (401, "invalid_client", "Invalid client")
E_OAUTH_INVALID_GRANT = (400, "invalid_grant", "Invalid grant")

# ---------------------------------------------------------------------------
# Fault modes (control API).  "immediate" faults replace the answer as soon
# as the request is read; "positional" ones act at the point of the check
# order where the real portal would raise them (ref 2.5), so a call that
# fails earlier (bad credentials, ...) still gets that earlier error.

JSON_FAULTS_IMMEDIATE = {
    "http500": E_INTERNAL,
    "unexpected_answer": E_UNEXPECTED,
    "portal_deleted": E_PORTAL_DELETED,
    "method_not_found": E_METHOD_NOT_FOUND,
    "invalid_credentials": E_INVALID_CREDENTIALS,
    "no_auth_found": E_NO_AUTH_FOUND,
    "https_required": E_HTTPS_REQUIRED,
    "insufficient_scope": E_INSUFFICIENT_SCOPE,
    "overload_limit": E_OVERLOAD_LIMIT,
    "expired_token": E_EXPIRED_TOKEN,
}
JSON_FAULTS_POSITIONAL = {
    "operation_time_limit": E_OPERATION_TIME_LIMIT,  # after auth
    "query_limit": E_QUERY_LIMIT,                    # at the bucket
    "crm_access_denied": E_CRM_ACCESS,               # method logic
    "access_denied": E_NO_UPDATE_PERMISSION,         # method logic
    "target_not_found": E_TARGET_NOT_FOUND,          # method logic
}
RAW_FAULTS = ("html502", "html504", "empty_200", "garbage_200", "reset",
              "hang", "close", "redirect")
# applied to the answer the call would normally get
DELIVERY_FAULTS = ("slow_body", "truncated", "chunked", "close_delimited",
                   "continue_100", "slow_head", "huge", "trailing_garbage",
                   "close_notify", "chunked_bytes")
FAULT_MODES = (("none",) + tuple(JSON_FAULTS_IMMEDIATE)
               + tuple(JSON_FAULTS_POSITIONAL) + RAW_FAULTS + DELIVERY_FAULTS)

HTML_PAGES = {
    502: "Bad Gateway",
    504: "Gateway Time-out",
    404: "Not Found",
    302: "Found",
    400: "Bad Request",
    413: "Request Entity Too Large",
}


def html_page(status):
    """An nginx-style error page, as a proxy in front of a portal sends."""
    title = "%d %s" % (status, HTML_PAGES.get(status, ""))
    return ("<html>\r\n<head><title>%s</title></head>\r\n<body>\r\n"
            "<center><h1>%s</h1></center>\r\n<hr><center>nginx</center>\r\n"
            "</body>\r\n</html>\r\n" % (title, title)).encode()


# ---------------------------------------------------------------------------
# PHP compatibility helpers

_PHP_HEX = {"<": "\\u003C", ">": "\\u003E", "&": "\\u0026", "'": "\\u0027",
            '"': "\\u0022", "\\": "\\\\", "/": "\\/", "\b": "\\b",
            "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
            "\u2028": "\\u2028", "\u2029": "\\u2029"}
_PHP_ESC_RE = re.compile('[<>&\'"\\\\/\x00-\x1f\u2028\u2029]')


def _php_esc(m):
    c = m.group(0)
    return _PHP_HEX.get(c) or "\\u%04x" % ord(c)


def php_float_json(f):
    """PHP json_encode of a float (serialize_precision -1): shortest repr,
    exponent as 1.0e-5 rather than Python's 1e-05."""
    if f != f or f in (float("inf"), float("-inf")):
        return "0"
    s = repr(float(f))
    if "e" in s:
        mant, exp = s.split("e")
        if "." not in mant:
            mant += ".0"
        sign = "-" if exp.startswith("-") else "+"
        s = "%se%s%d" % (mant, sign, abs(int(exp)))
    return s


def php_json(v):
    """Main\\Web\\Json::encode (ref 1.1): compact, '/' as '\\/', unicode
    unescaped, JSON_HEX_TAG|AMP|APOS|QUOT."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return php_float_json(v)
    if isinstance(v, str):
        return '"' + _PHP_ESC_RE.sub(_php_esc, v) + '"'
    if isinstance(v, dict):
        return "{" + ",".join(php_json(str(k)) + ":" + php_json(x)
                              for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(php_json(x) for x in v) + "]"
    return php_json(str(v))


def php_str(v):
    """PHP's (string) cast of a scalar (precision=14 for floats)."""
    if v is True:
        return "1"
    if v is False or v is None:
        return ""
    if isinstance(v, float):
        s = "%.14G" % v
        if "E" in s:
            mant, exp = s.split("E")
            if "." not in mant:
                mant += ".0"
            s = "%sE%s%d" % (mant, "-" if exp.startswith("-") else "+",
                             abs(int(exp)))
        return s
    return str(v)


def php_xml(data):
    """CRestServer::outputXml (ref 1.1): <response>...</response>, numeric
    keys as <item>, no XML declaration."""
    out = []
    items = data.items() if isinstance(data, dict) else enumerate(data)
    for k, v in items:
        tag = "item" if isinstance(k, int) or re.fullmatch(r"-?\d+", str(k)) \
            else str(k)
        out.append("<%s>" % tag)
        if isinstance(v, (dict, list)):
            out.append(php_xml(v))
        else:
            s = php_str(v)
            out.append(s.replace("&", "&amp;").replace("<", "&lt;")
                       .replace(">", "&gt;").replace('"', "&quot;")
                       .replace("'", "&#039;"))
        out.append("</%s>" % tag)
    return "".join(out)


_PHP_INT_RE = re.compile(
    r"[ \t\n\r\v\f]*([+-]?)(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def php_intval(v):
    """PHP (int) cast, as used on the ID part of the target (ref 2.1 step 6):
    leading whitespace skipped, leading number taken, rest ignored."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v) if abs(v) < 9.2e18 else 0
    if not isinstance(v, str):
        return 0
    m = _PHP_INT_RE.match(v)
    if not m:
        return 0
    if m.group(3) is None and m.group(4) is None:
        n = int(m.group(1) + m.group(2))
        return max(-(2 ** 63), min(2 ** 63 - 1, n))
    try:
        f = float(m.group(0).strip())
    except ValueError:
        return 0
    return int(f) if abs(f) < 9.2e18 else 0


def php_trim(s):
    return s.strip(" \t\n\r\0\x0b")


def _php_next_index(d):
    ints = [int(k) for k in d if re.fullmatch(r"-?(0|[1-9]\d*)", k)]
    return str(max(ints) + 1) if ints and max(ints) >= 0 else "0"


def php_assign(result, key, value):
    """Store one key=value the way PHP builds $_GET/$_POST/parse_str:
    a[b][]=v nesting, ' ' and '.' in the base name turned into '_'."""
    key = key.lstrip(" ")
    if not key:
        return
    segs = []
    i = key.find("[")
    if i == -1:
        base = key.replace(" ", "_").replace(".", "_")
    else:
        base = key[:i].replace(" ", "_").replace(".", "_")
        rest = key[i:]
        first = True
        while rest.startswith("["):
            j = rest.find("]")
            if j == -1:
                if first:               # unmatched '[' becomes '_'
                    base = base + "_" + rest[1:]
                break
            segs.append(rest[1:j])
            rest = rest[j + 1:]
            first = False
    if base == "":
        return
    cur, k = result, base
    for seg in segs:
        nxt = cur.get(k)
        if not isinstance(nxt, dict):
            nxt = {}
            cur[k] = nxt
        cur = nxt
        k = seg if seg != "" else _php_next_index(cur)
    cur[k] = value


def php_parse_str(text):
    """PHP parse_str() / query-string parsing."""
    result = {}
    for piece in text.split("&"):
        if not piece:
            continue
        k, _, v = piece.partition("=")
        k = urllib.parse.unquote_plus(k, errors="replace")
        v = urllib.parse.unquote_plus(v, errors="replace")
        php_assign(result, k, v)
    return result


def parse_multipart(body, boundary):
    """Non-file fields of a multipart/form-data body (PHP's $_POST)."""
    fields = {}
    delim = b"--" + boundary.encode("latin-1", "replace")
    for part in body.split(delim)[1:]:
        if part.startswith(b"--"):
            break
        if part.startswith(b"\r\n"):
            part = part[2:]
        elif part.startswith(b"\n"):
            part = part[1:]
        head, sep, data = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        if data.endswith(b"\r\n"):
            data = data[:-2]
        head = head.decode("utf-8", "replace")
        disp = ""
        for line in head.split("\r\n"):
            if line.lower().startswith("content-disposition:"):
                disp = line.split(":", 1)[1]
        m = re.search(r'(?:^|;)\s*name="([^"]*)"', disp)
        if not m or re.search(r"(?:^|;)\s*filename=", disp):
            continue
        php_assign(fields, m.group(1), data.decode("utf-8", "replace"))
    return fields


def _reject_constant(name):
    raise ValueError(name)


def request_params(http_method, query, body, content_type):
    """CRestUtil::getRequestData() (ref 1.1): the query string, then on POST
    the form fields, or else the raw body (JSON for application/json and
    *+json, parse_str otherwise), with body keys replacing query keys.  A
    body that is not valid JSON is silently ignored."""
    params = php_parse_str(query)
    if http_method != "POST":
        return params
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    post = {}
    if ctype == "application/x-www-form-urlencoded":
        post = php_parse_str(body.decode("utf-8", "replace"))
    elif ctype == "multipart/form-data":
        m = re.search(r'boundary="?([^";]+)"?', content_type or "", re.I)
        post = parse_multipart(body, m.group(1)) if m else {}
        params.update(post)
        return params               # php://input is empty for multipart
    if not post:
        raw = php_trim(body.decode("utf-8", "replace"))
        if ctype == "application/json" or ctype.endswith("+json"):
            try:
                # strict UTF-8: PHP's json_decode fails on invalid bytes
                data = json.loads(php_trim(body.decode("utf-8")),
                                  parse_constant=_reject_constant)
            except (ValueError, UnicodeDecodeError):
                data = None
            if isinstance(data, dict):
                post = {str(k): v for k, v in data.items()}
            elif isinstance(data, list):
                post = {str(i): v for i, v in enumerate(data)}
        elif raw:
            post = php_parse_str(raw)
    params.update(post)
    return params


# ---------------------------------------------------------------------------
# CRM types (ref 2.2): CCrmOwnerType::ResolveID, case-insensitive, names and
# abbreviations, DYNAMIC_<n> without checking that the type exists.

CRM_TYPES = {
    "LEAD": 1, "L": 1, "DEAL": 2, "D": 2, "CONTACT": 3, "C": 3,
    "COMPANY": 4, "CO": 4, "INVOICE": 5, "I": 5, "ACTIVITY": 6,
    "QUOTE": 7, "Q": 7, "REQUISITE": 8, "RQ": 8,
    "DEAL_CATEGORY": 9, "DC": 9, "CUSTOM_ACTIVITY_TYPE": 10, "CAT": 10,
    "CALL_LIST": 12, "DEAL_RECURRING": 13, "ORDER": 14, "O": 14,
    "ORDER_SHIPMENT": 16, "OS": 16, "ORDER_PAYMENT": 17, "OP": 17,
    "SUS_LEAD": 18, "SL": 18, "SUS_DEAL": 19, "SD": 19, "SUS_CONTACT": 20,
    "SUS_COMPANY": 21, "SUS_QUOTE": 22, "SUS_INVOICE": 23, "SUS_ORDER": 24,
    "SUS_ACTIVITY": 25, "INVOICE_RECURRING": 27, "SCORING": 28,
    "SMART_INVOICE": 31, "SI": 31, "SUS_SMART_INVOICE": 32, "SSI": 32,
    "STORE_DOCUMENT": 33, "SHIPMENT_DOCUMENT": 34, "SMART_DOCUMENT": 36,
    "DO": 36, "SUS_SMART_DOCUMENT": 37, "SSD": 37, "SYSTEM": 1024,
    "SYS": 1024,
}


def _hexdec(s):
    """PHP hexdec(): non-hex characters are ignored."""
    digits = "".join(c for c in s if c in "0123456789abcdefABCDEF")
    return int(digits, 16) if digits else 0


def resolve_crm_type(name):
    name = php_trim(name).upper()
    if name == "":
        return 0
    if name in CRM_TYPES:
        return CRM_TYPES[name]
    # T<hex> = DYNAMIC_<id> for 128..191, S<hex> = suspended 192..255
    if "T" in name and 128 <= _hexdec(name[1:]) < 192:
        return _hexdec(name[1:])
    if "S" in name and 192 <= _hexdec(name[1:]) < 256:
        return _hexdec(name[1:])
    m = re.fullmatch(r"(?:SUS_)?DYNAMIC_(\d+)", name)
    if m:
        return int(m.group(1))
    return 0


# mb_split('_(?=[^_]*$)', ...): Oniguruma's Ruby syntax, '$' = end of line
_TARGET_SPLIT_RE = re.compile(r"_(?=[^_]*$)", re.M)


def parse_target(target):
    """Steps 4-6 of ref 2.1 (Proxy::executeWebHookTrigger): isset(target),
    split at the last '_', CCrmOwnerType::ResolveID(part 0), (int)part 1.
    Returns (type_id, entity_id); raises RestError."""
    if target is None:
        raise RestError(E_TARGET_NOT_SET)
    if isinstance(target, (dict, list)):
        # PHP would raise a TypeError in mb_split(); answer as malformed
        raise RestError(E_TARGET_FORMAT)
    pairs = _TARGET_SPLIT_RE.split(php_str(target))
    if len(pairs) < 2:
        raise RestError(E_TARGET_FORMAT)
    type_id = resolve_crm_type(pairs[0])
    entity_id = php_intval(pairs[1])
    if not type_id or not entity_id:
        raise RestError(E_TARGET_NOT_FOUND)
    return type_id, entity_id


# ---------------------------------------------------------------------------
# Shared state

class RestError(Exception):
    def __init__(self, err):
        super().__init__(err[2])
        self.err = err


class Webhook:
    def __init__(self, spec):
        user, sep, rest = spec.partition(":")
        if not sep:
            raise ValueError("webhook must be USER:SECRET[:SCOPE,...]")
        secret, sep, scopes = rest.partition(":")
        self.user = user
        self.secret = secret
        self.scopes = ([s.strip() for s in scopes.split(",") if s.strip()]
                       if sep else None)


class State:
    """Everything the listeners share; every field is guarded by lock."""

    def __init__(self, args):
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.webhooks = [Webhook(w) for w in args.webhook]
        self.cli = {
            "bucket": args.bucket, "drain": args.drain,
            "require_https": args.require_https,
            "deny": list(args.deny),
            "operating_limit": args.operating_limit,
            "slow_body_interval_ms": 100,
        }
        self.self_hosted = args.self_hosted
        self.max_calls = args.max_calls
        self.log_file = open(args.log, "a", encoding="utf-8") \
            if args.log else None
        self.calls = []
        self.seq = 0
        self.listen_addr = {}           # "http" / "https" -> (host, port)
        self.moved_to_https = args.moved_to_https
        # OAuth (ref 1.2, 1.3): one application installed on this portal
        self.app = None
        if args.oauth_app:
            cid, sep, csecret = args.oauth_app.partition(":")
            self.app = {"client_id": cid, "client_secret": csecret}
        self.member_id = args.member_id
        self.token_ttl = args.token_ttl
        self.access = {}                # access token -> expires (epoch)
        self.refresh = {}               # refresh token -> "live" / "used"
        self.triggers = {}              # CODE -> NAME, the app's triggers
        self.refreshes = 0              # token server grants, for tests
        self.crm_seed = {"items": [], "comms": []}
        if getattr(args, "crm", None):
            with open(args.crm, encoding="utf-8") as f:
                self.crm_seed = self.check_crm(json.load(f))
        self._apply_cli()
        self.latency_ms = args.latency  # only at start: reset() sets 0

    def _apply_cli(self):
        self.bucket = self.cli["bucket"]
        self.drain = self.cli["drain"]
        self.require_https = self.cli["require_https"]
        self.deny = list(self.cli["deny"])
        self.operating_limit = self.cli["operating_limit"]
        self.slow_body_interval_ms = self.cli["slow_body_interval_ms"]
        self.mode = "none"
        self.faults = []
        self.latency_ms = 0
        self.levels = {}                # client ip -> (level, last time)
        self.oauth_latency_ms = 0
        self.client_endpoint = None     # None: ours; "": left out
        self.operating = {}             # (user, secret, method) -> baskets
        self.crm = json.loads(json.dumps(self.crm_seed))

    @staticmethod
    def check_crm(data):
        """The CRM records lookups find: {"items":[{"entityTypeId":2,
        "id":57,"UF_CRM_ORDER_ID":"1001",...}], "comms":[{"entity_type":
        "LEAD","id":12,"type":"PHONE","value":"+79001234567"}]}."""
        if not isinstance(data, dict):
            raise ValueError("crm must be a JSON object")
        for k in data:
            if k not in ("items", "comms"):
                raise ValueError("unknown crm key %r" % k)
        items = data.get("items", [])
        comms = data.get("comms", [])
        if not isinstance(items, list) or not isinstance(comms, list):
            raise ValueError("crm items and comms must be lists")
        for i in items:
            if not isinstance(i, dict) \
                    or not isinstance(i.get("entityTypeId"), int) \
                    or not isinstance(i.get("id"), int) or i["id"] <= 0:
                raise ValueError("each item needs an integer entityTypeId "
                                 "and a positive integer id")
        for c in comms:
            if not isinstance(c, dict) \
                    or str(c.get("entity_type", "")).upper() \
                    not in COMM_ENTITIES \
                    or str(c.get("type", "")).upper() not in COMM_TYPES \
                    or not isinstance(c.get("id"), int) or c["id"] <= 0 \
                    or not isinstance(c.get("value"), str):
                raise ValueError("each comm needs entity_type (LEAD, "
                                 "CONTACT, COMPANY), type (PHONE, EMAIL), "
                                 "a positive integer id and a string value")
        return {"items": items, "comms": comms}

    def set_crm(self, data):
        data = self.check_crm(data)
        with self.lock:
            self.crm = json.loads(json.dumps(data))

    def crm_view(self):
        with self.lock:
            return json.loads(json.dumps(self.crm))

    def secrets(self):
        with_app = [self.app["client_secret"]] if self.app else []
        with self.lock:
            return ([w.secret for w in self.webhooks] + with_app
                    + list(self.access) + list(self.refresh))

    # -- OAuth ---------------------------------------------------------------

    def issue(self, ttl=None):
        """A new token pair, as the token server or an install gives it."""
        ttl = self.token_ttl if ttl is None else ttl
        with self.lock:
            access = os.urandom(16).hex()
            refresh = os.urandom(16).hex()
            expires = int(time.time()) + int(ttl)
            self.access[access] = expires
            self.refresh[refresh] = "live"
        return {"access_token": access, "refresh_token": refresh,
                "expires": expires, "expires_in": int(ttl),
                "member_id": self.member_id, "scope": "crm",
                "status": "L", "user_id": 1}

    def expire_all(self):
        with self.lock:
            now = int(time.time())
            for k in self.access:
                self.access[k] = min(self.access[k], now - 1)

    def token_check(self, token):
        with self.lock:
            exp = self.access.get(token)
        if exp is None:
            return E_INVALID_TOKEN
        if exp <= time.time():
            return E_EXPIRED_TOKEN
        return None

    def grant(self, params):
        """/oauth/token/ grant_type=refresh_token; the old refresh token
        is refused once used (rotation, ref 1.3)."""
        if not self.app:
            return E_OAUTH_INVALID_CLIENT, None
        if params.get("grant_type") != "refresh_token":
            return E_OAUTH_INVALID_REQUEST, None
        if params.get("client_id") != self.app["client_id"] \
                or params.get("client_secret") != self.app["client_secret"]:
            return E_OAUTH_INVALID_CLIENT, None
        rt = params.get("refresh_token")
        with self.lock:
            if not isinstance(rt, str) or self.refresh.get(rt) != "live":
                return E_OAUTH_INVALID_GRANT, None
            self.refresh[rt] = "used"
            self.refreshes += 1
        return None, self.issue()

    def oauth_view(self):
        with self.lock:
            return {"client_id": self.app["client_id"] if self.app else None,
                    "member_id": self.member_id,
                    "refreshes": self.refreshes,
                    "live_refresh_tokens": sum(
                        1 for v in self.refresh.values() if v == "live"),
                    "used_refresh_tokens": sum(
                        1 for v in self.refresh.values() if v == "used"),
                    "triggers": dict(self.triggers)}

    # -- control API -------------------------------------------------------

    def config_view(self):
        with self.lock:
            return {
                "latency_ms": self.latency_ms, "bucket": self.bucket,
                "drain": self.drain, "mode": self.mode,
                "faults": list(self.faults), "deny": list(self.deny),
                "require_https": self.require_https,
                "operating_limit": self.operating_limit,
                "slow_body_interval_ms": self.slow_body_interval_ms,
                "oauth_latency_ms": self.oauth_latency_ms,
                "client_endpoint": self.client_endpoint,
            }

    @staticmethod
    def _check_fault(f):
        if isinstance(f, str):
            f = {"mode": f}
        if not isinstance(f, dict) or f.get("mode") not in FAULT_MODES:
            raise ValueError("unknown fault mode %r (known: %s)"
                             % (f.get("mode") if isinstance(f, dict) else f,
                                ", ".join(FAULT_MODES)))
        if "latency_ms" in f and not _is_num(f["latency_ms"]):
            raise ValueError("fault latency_ms must be a number")
        if "location" in f and not isinstance(f["location"], str):
            raise ValueError("fault location must be a string")
        for k in ("error", "error_description"):
            if k in f and not isinstance(f[k], str):
                raise ValueError("fault %s must be a string" % k)
        return f

    def configure(self, cfg):
        if not isinstance(cfg, dict):
            raise ValueError("config must be a JSON object")
        known = ("latency_ms", "bucket", "drain", "mode", "faults", "deny",
                 "require_https", "operating_limit", "slow_body_interval_ms",
                 "oauth_latency_ms", "client_endpoint")
        for k in cfg:
            if k not in known:
                raise ValueError("unknown config key %r" % k)
        for k in ("latency_ms", "bucket", "drain", "operating_limit",
                  "slow_body_interval_ms", "oauth_latency_ms"):
            if k in cfg and (not _is_num(cfg[k]) or cfg[k] < 0):
                raise ValueError("%s must be a number >= 0" % k)
        if "mode" in cfg and cfg["mode"] not in FAULT_MODES:
            raise ValueError("unknown mode %r (known: %s)"
                             % (cfg["mode"], ", ".join(FAULT_MODES)))
        faults = None
        if "faults" in cfg:
            if not isinstance(cfg["faults"], list):
                raise ValueError("faults must be a list")
            faults = [self._check_fault(f) for f in cfg["faults"]]
        if "deny" in cfg and (not isinstance(cfg["deny"], list) or not all(
                isinstance(t, str) for t in cfg["deny"])):
            raise ValueError("deny must be a list of strings")
        if "require_https" in cfg and not isinstance(cfg["require_https"],
                                                     bool):
            raise ValueError("require_https must be true or false")
        if "client_endpoint" in cfg and cfg["client_endpoint"] is not None \
                and not isinstance(cfg["client_endpoint"], str):
            raise ValueError("client_endpoint must be a string or null")
        with self.lock:
            for k in ("latency_ms", "bucket", "drain", "mode", "deny",
                      "require_https", "operating_limit",
                      "slow_body_interval_ms", "oauth_latency_ms",
                      "client_endpoint"):
                if k in cfg:
                    setattr(self, k, cfg[k])
            if faults is not None:
                self.faults = faults

    def reset(self):
        with self.lock:
            self._apply_cli()
            self.calls = []

    def take_fault(self):
        """The fault for this REST call: the next queued one, else mode."""
        with self.lock:
            if self.faults:
                f = self.faults.pop(0)
            elif self.mode != "none":
                f = {"mode": self.mode}
            else:
                return None
        return None if f["mode"] == "none" and "latency_ms" not in f else f

    # -- limits --------------------------------------------------------------

    def bucket_admit(self, ip):
        """Leaky bucket per client IP (ref 4.1): each accepted call adds 1,
        the counter drains `drain` per second continuously; a call that
        would take it above `bucket` is refused and adds nothing."""
        with self.lock:
            if not self.bucket:
                return True
            now = time.monotonic()
            level, last = self.levels.get(ip, (0.0, now))
            level = max(0.0, level - (now - last) * self.drain)
            if level + 1 > self.bucket + 1e-9:
                self.levels[ip] = (level, now)
                return False
            self.levels[ip] = (level + 1, now)
            return True

    def operating_info(self, key, now):
        """LoadLimiter (ref 4.2): 10 one-minute baskets; returns
        (operating seconds, operating_reset_at or None)."""
        with self.lock:
            baskets = self.operating.get(key, {})
            cur = int(now) // 60
            for b in [b for b in baskets if b <= cur - 10]:
                del baskets[b]
            total = sum(v[1] for v in baskets.values())
            first = min((v[0] for v in baskets.values()), default=None)
            return total, (int(first) + 600 if first is not None else None)

    def operating_add(self, key, start, seconds):
        if seconds <= 0.1:              # minimalFixTime: not recorded
            return
        with self.lock:
            baskets = self.operating.setdefault(key, {})
            b = baskets.setdefault(int(start) // 60, [start, 0.0])
            b[1] += seconds

    def is_denied(self, type_id, entity_id):
        with self.lock:
            deny = list(self.deny)
        for t in deny:
            try:
                if parse_target(t) == (type_id, entity_id):
                    return True
            except RestError:
                if t.upper() == "%d_%d" % (type_id, entity_id):
                    return True
        return False

    # -- call log ----------------------------------------------------------

    def record(self, rec, extra_secrets=()):
        secrets = [s for s in list(self.secrets()) + list(extra_secrets)
                   if isinstance(s, str) and len(s) >= SCRUB_MIN_LEN]
        with self.lock:
            self.seq += 1
            rec["seq"] = self.seq
            line = json.dumps(rec, ensure_ascii=False, separators=(",", ":"),
                              default=str)
            for s in secrets:
                line = line.replace(json.dumps(s, ensure_ascii=False)[1:-1],
                                    REDACTED)
            self.calls.append(json.loads(line))
            if len(self.calls) > self.max_calls:
                del self.calls[:len(self.calls) - self.max_calls]
            if self.log_file:
                try:
                    self.log_file.write(line + "\n")
                    self.log_file.flush()
                except (OSError, ValueError):
                    pass

    def calls_view(self):
        with self.lock:
            return list(self.calls)


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def scrub(text, secrets):
    for s in secrets:
        if s and len(s) >= 3:
            text = text.replace(s, REDACTED)
    return text


def listify(v):
    """PHP-style arrays with keys 0..n-1 shown as JSON lists in the log."""
    if isinstance(v, dict):
        v = {k: listify(x) for k, x in v.items()}
        if v and list(v) == [str(i) for i in range(len(v))]:
            return list(v.values())
        return v
    if isinstance(v, list):
        return [listify(x) for x in v]
    return v


# ---------------------------------------------------------------------------
# REST methods

GLOBAL = "_global"
APP_ONLY = ("crm.automation.trigger.add", "crm.automation.trigger.list",
            "crm.automation.trigger.delete", "crm.automation.trigger.execute")


def date_c(t):
    """PHP date('c') in the emulator's local time zone."""
    return datetime.datetime.fromtimestamp(t).astimezone().isoformat(
        timespec="seconds")


class Call:
    """One REST call being answered."""

    def __init__(self, state, user, method, params, tls, start):
        self.state = state
        self.user = user
        self.method = method
        self.params = params
        self.tls = tls
        self.start = start
        self.app = False                # called with an OAuth token


def m_trigger(call):
    """crm.automation.trigger, ref 2.1 steps 4-8: always true on success,
    whether or not a trigger matched."""
    type_id, entity_id = parse_target(call.params.get("target"))
    # step 7: WebHookTrigger::canExecute = update permission on the target
    if call.state.is_denied(type_id, entity_id):
        raise RestError(E_NO_UPDATE_PERMISSION)
    # step 8: the trigger runs (or matches nothing): the answer is true
    return True


def m_app_only(call):
    """trigger.add/list/delete/execute need an application context, which a
    webhook never has (ref 2.6); with an OAuth token they work on the
    application's own triggers."""
    if not call.app:
        raise RestError(E_APP_CONTEXT)
    state = call.state
    p = {str(k).upper(): v for k, v in call.params.items()}
    if call.method == "crm.automation.trigger.list":
        with state.lock:
            return [{"NAME": n, "CODE": c} for c, n in state.triggers.items()]
    code = p.get("CODE")
    if not isinstance(code, str) or code == "":
        raise RestError(E_EMPTY_CODE)
    if not re.fullmatch(r"[a-z0-9.\-_]+", code, re.I):
        raise RestError(E_WRONG_CODE)
    if call.method == "crm.automation.trigger.add":
        name = p.get("NAME")
        if not isinstance(name, str) or name == "":
            raise RestError(E_EMPTY_NAME)
        with state.lock:
            state.triggers[code] = name
        return True
    with state.lock:
        known = code in state.triggers
    if call.method == "crm.automation.trigger.delete":
        if not known:
            raise RestError(E_TRIGGER_NOT_FOUND)
        with state.lock:
            del state.triggers[code]
        return True
    # execute
    if not known:
        raise RestError((400, "", "Trigger with code %s is not registered."
                         % code))
    type_id = php_intval(p.get("OWNER_TYPE_ID"))
    if type_id not in CRM_TYPES.values() and not 128 <= type_id < 256:
        raise RestError(E_OWNER_TYPE)
    owner_id = php_intval(p.get("OWNER_ID"))
    if owner_id <= 0:
        raise RestError(E_OWNER_ID)
    if state.is_denied(type_id, owner_id):
        raise RestError(E_NO_UPDATE_PERMISSION)
    return True


E_USER_ID_EMPTY = (400, "USER_ID_EMPTY", "User ID can't be empty")
E_MESSAGE_EMPTY = (400, "MESSAGE_EMPTY", "Message can't be empty")


def m_notify_system(call):
    """im.notify.system.add: a system notification to USER_ID; the answer
    is the new notification's id.  Kept in the call log (params), so a
    test sees who was told what."""
    p = {str(k).upper(): v for k, v in call.params.items()}
    if php_intval(p.get("USER_ID")) <= 0:
        raise RestError(E_USER_ID_EMPTY)
    message = p.get("MESSAGE")
    if not isinstance(message, str) or message.strip() == "":
        raise RestError(E_MESSAGE_EMPTY)
    state = call.state
    with state.lock:
        state.notify_seq = getattr(state, "notify_seq", 0) + 1
        return state.notify_seq


def m_server_time(call):
    return date_c(time.time())


def m_profile(call):
    uid = call.user if re.fullmatch(r"\d+", call.user or "") else "1"
    return {"ID": uid, "ADMIN": True, "NAME": "Portal", "LAST_NAME":
            "Emulator", "PERSONAL_GENDER": "", "PERSONAL_PHOTO": "",
            "TIME_ZONE": "", "TIME_ZONE_OFFSET": 0}


class Listed:
    """A list method's answer: "result" and, beside it at the top level,
    "total" and "next" (ref 5: processResponse keeps them there)."""

    def __init__(self, result, **extra):
        self.result = result
        self.extra = extra


LIST_PAGE = 50          # crm.item.list: items per page, as Bitrix24's


def _filter_match(item, key, want, original_uf):
    """One member of crm.item.list's filter: "=FIELD" or "FIELD", an exact
    match of the item's value as a string (strings compare as PHP's ==).
    Names are as the item was seeded (UF_CRM_* with useOriginalUfNames=Y,
    the same names otherwise: the emulator does not camel-case them)."""
    op = ""
    m = re.match(r"^(=|!=|!|>=|<=|>|<|%|@)?(.*)$", key)
    if m:
        op, key = m.group(1) or "", m.group(2)
    if op not in ("", "="):
        raise RestError((400, "", "Filter operator %r is not supported by "
                         "the emulator." % op))
    if key not in item:
        return False
    have = item[key]
    if isinstance(want, list):
        return any(php_str(have) == php_str(w) for w in want)
    return php_str(have) == php_str(want)


def m_item_list(call):
    """crm.item.list: entityTypeId, filter, select, start; answers
    {"result":{"items":[...]},"total":N[,"next":M]} (ref 5)."""
    p = call.params
    type_id = php_intval(p.get("entityTypeId"))
    if type_id not in CRM_TYPES.values() and not 128 <= type_id < 256:
        raise RestError((400, "NOT_FOUND", "Smart process not found"))
    flt = p.get("filter") or {}
    if not isinstance(flt, dict):
        raise RestError((400, "", "Parameter 'filter' must be array."))
    original_uf = php_str(p.get("useOriginalUfNames", "N")).upper() == "Y"
    select = p.get("select")
    if isinstance(select, dict):
        select = list(select.values())
    start = max(0, php_intval(p.get("start", 0)))
    with call.state.lock:
        items = [dict(i) for i in call.state.crm["items"]
                 if i.get("entityTypeId") == type_id]
    found = [i for i in items
             if all(_filter_match(i, k, v, original_uf)
                    for k, v in flt.items())]
    found.sort(key=lambda i: i.get("id", 0))
    page = found[start:start + LIST_PAGE]
    out = []
    for i in page:
        i = {k: v for k, v in i.items() if k != "entityTypeId"}
        if isinstance(select, list) and "*" not in select and select:
            i = {k: v for k, v in i.items() if k in select or k == "id"}
        out.append(i)
    extra = {"total": len(found)}
    if start + LIST_PAGE < len(found):
        extra["next"] = start + LIST_PAGE
    return Listed({"items": out}, **extra)


COMM_TYPES = ("PHONE", "EMAIL")
COMM_ENTITIES = ("LEAD", "CONTACT", "COMPANY")


def comm_norm(kind, value):
    """How crm.duplicate.findbycomm compares: phones by their digits,
    e-mails case-insensitively."""
    value = php_str(value).strip()
    if kind == "PHONE":
        return re.sub(r"\D", "", value)
    return value.lower()


def m_findbycomm(call):
    """crm.duplicate.findbycomm: type PHONE or EMAIL, values (at most 20),
    entity_type (LEAD, CONTACT, COMPANY, or all); answers
    {"result":{"LEAD":[ids]}} or, when nothing matches, {"result":[]}."""
    p = {str(k).lower(): v for k, v in call.params.items()}
    kind = php_str(p.get("type", "")).upper()
    if kind not in COMM_TYPES:
        raise RestError((400, "", "Communication type '%s' is not "
                         "supported in current context." % kind))
    values = listify(p.get("values"))
    if not values:
        raise RestError((400, "", "Communication values is not defined."))
    if len(values) > 20:
        raise RestError((400, "", "Too many communications. The maximum "
                         "number is 20."))
    etype = php_str(p.get("entity_type", "")).upper()
    if etype and etype not in COMM_ENTITIES:
        raise RestError((400, "", "Entity type '%s' is not supported in "
                         "current context." % etype))
    wanted = {comm_norm(kind, v) for v in values} - {""}
    with call.state.lock:
        comms = list(call.state.crm["comms"])
    result = {}
    for c in comms:
        if c.get("type", "").upper() != kind:
            continue
        if etype and c.get("entity_type", "").upper() != etype:
            continue
        if comm_norm(kind, c.get("value")) in wanted:
            ids = result.setdefault(c["entity_type"].upper(), [])
            if c["id"] not in ids:
                ids.append(c["id"])
    return result if result else []


METHODS = {
    "crm.automation.trigger": ("crm", m_trigger),
    "im.notify.system.add": ("im", m_notify_system),
    "crm.item.list": ("crm", m_item_list),
    "crm.duplicate.findbycomm": ("crm", m_findbycomm),
    "server.time": (GLOBAL, m_server_time),
    "profile": (GLOBAL, m_profile),
}
for _m in APP_ONLY:
    METHODS[_m] = ("crm", m_app_only)


def parse_rest_path(path):
    """rest.server SEF templates (ref 1.1): #method#, #method#/,
    #aplogin#/#ap#/#method#, #aplogin#/#ap#/#method#/.  Returns
    (user, secret, method, transport); method None when no template fits."""
    rest = path[len("/rest/"):]
    if rest.endswith("/"):
        rest = rest[:-1]
    parts = [urllib.parse.unquote(p, errors="replace")
             for p in rest.split("/")]
    user = secret = None
    if len(parts) == 1:
        method = parts[0]
    elif len(parts) == 3:
        user, secret, method = parts
    else:
        return None, None, None, "json"
    # lower-cased first, then a .json/.xml suffix is the transport
    method = method.lower()
    transport = "json"
    point = method.rfind(".")
    if point > 0 and method[point + 1:] in ("json", "xml"):
        transport = method[point + 1:]
        method = method[:point]
    return user, secret, method, transport


def redact_path(path, has_secret):
    if not has_secret:
        return path
    parts = path.split("/")
    # ["", "rest", user, secret, method...]
    if len(parts) >= 5:
        parts[3] = REDACTED
    return "/".join(parts)


_SENSITIVE_PARAMS = ("ap", "auth", "access_token", "refresh_token",
                     "client_secret")


def redact_query(query):
    if not query:
        return query
    out = []
    for piece in query.split("&"):
        k, sep, _ = piece.partition("=")
        base = urllib.parse.unquote_plus(k).split("[", 1)[0]
        out.append(k + sep + REDACTED if sep and base in _SENSITIVE_PARAMS
                   else piece)
    return "&".join(out)


def redact_params(params):
    return {k: (REDACTED if k in _SENSITIVE_PARAMS else listify(v))
            for k, v in params.items()}


# ---------------------------------------------------------------------------
# HTTP

class Answer:
    def __init__(self, status=None, body=b"", headers=(), error=None,
                 kind="normal"):
        self.status = status
        self.body = body
        self.headers = list(headers)
        self.error = error
        self.kind = kind                # normal reset hang close
        self.delivery = None            # None, slow_body, truncated
        self.success = None             # result awaiting its "time"


def rest_headers(transport):
    """Headers of every REST answer (ref 1.1: CRestUtil::sendHeaders and
    CRestServer::sendHeaders)."""
    ctype = ("text/xml; charset=utf-8" if transport == "xml"
             else "application/json; charset=utf-8")
    return [("Content-Type", ctype),
            ("Access-Control-Allow-Origin", "*"),
            ("Access-Control-Allow-Headers", "origin, content-type, accept"),
            ("X-Content-Type-Options", "nosniff")]


def encode(data, transport):
    if transport == "xml":
        return php_xml({"response": data}).encode("utf-8")
    return php_json(data).encode("utf-8")


def fault_error(err, fault):
    """A fault's error, with "error" and "error_description" of the fault
    entry, if any, in place of the usual ones."""
    status, code, desc = err
    fault = fault or {}
    return (status, fault.get("error", code),
            fault.get("error_description", desc))


def error_answer(err, transport="json"):
    status, code, desc = err
    # Errors carry no "time" (ref 2.5).
    body = encode({"error": code, "error_description": desc}, transport)
    return Answer(status, body, rest_headers(transport), error=code)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "b24emu/" + VERSION
    sys_version = ""

    def version_string(self):
        return self.server_version

    def setup(self):
        self.timeout = self.server.idle_timeout
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP,
                                       socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, fmt, *args):
        pass                            # request lines carry the secret

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    # -- plumbing ----------------------------------------------------------

    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if te and te.lower() != "identity":
            if "chunked" not in te.lower():
                raise ValueError("unsupported transfer-encoding")
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ValueError("eof in chunked body")
                size = int(line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    break
                total += size
                if total > MAX_BODY:
                    raise OverflowError()
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
            while True:                 # trailers
                line = self.rfile.readline(65537)
                if line in (b"\r\n", b"\n", b""):
                    break
            return b"".join(chunks)
        cl = self.headers.get("Content-Length")
        if cl is None:
            return b""
        n = int(cl)
        if n < 0:
            raise ValueError("bad content-length")
        if n > MAX_BODY:
            raise OverflowError()
        body = self.rfile.read(n)
        if len(body) != n:
            raise ValueError("short body")
        return body

    def write_answer(self, ans, head_only=False):
        """Status line, headers and body in a single write, unless a
        delivery fault frames or paces them otherwise."""
        body = ans.body
        how = ans.delivery if body else None
        if how == "huge":
            # valid JSON, larger than any client should take (64 KiB)
            body = body + b" " * (70 * 1024)
        if how == "trailing_garbage":
            # the answer padded to exactly 4096 bytes, a client's usual
            # first read: what follows stays in the socket, or in TLS
            body = body + b" " * max(0, 3000 - len(body))
        if how == "continue_100":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if how == "close_notify":
            try:
                self.connection.setsockopt(socket.IPPROTO_TCP,
                                           socket.TCP_CORK, 1)
            except OSError:
                pass
        self.send_response(ans.status)
        for k, v in ans.headers:
            self.send_header(k, v)
        if how == "chunked_bytes":
            # 30 000 bytes of answer (JSON and spaces), a byte per chunk:
            # six times as much framing as answer
            body = body + b" " * max(0, 30000 - len(body))
        if how in ("chunked", "chunked_bytes"):
            self.send_header("Transfer-Encoding", "chunked")
        elif how == "close_delimited":
            # no length: the answer ends when the connection does
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        elif self.request_version == "HTTP/1.0":
            self.send_header("Connection", "keep-alive")
        self._headers_buffer.append(b"\r\n")
        head = b"".join(self._headers_buffer)
        self._headers_buffer = []
        if how == "trailing_garbage" and len(head) + len(body) < 4096:
            # to exactly 4096; the length keeps its 4 digits
            cl = b"Content-Length: %d\r\n" % len(body)
            body += b" " * (4096 - len(head) - len(body))
            head = head.replace(cl, b"Content-Length: %d\r\n" % len(body))
        if head_only:
            body = b""
        if how == "truncated":
            self.wfile.write(head + body[:len(body) // 2])
            self.close_connection = True
            self.shutdown_write()
            return
        if how == "slow_body":
            self.wfile.write(head)
            gap = self.server.state.slow_body_interval_ms / 1000.0
            for i in range(len(body)):
                if self.server.state.stopping.wait(gap):
                    self.close_connection = True
                    return
                self.wfile.write(body[i:i + 1])
            return
        if how in ("chunked", "chunked_bytes"):
            # small chunks, an extension, a trailer; head and chunks apart
            step = 7 if how == "chunked" else 1
            out = [b"%x;n=%d\r\n%s\r\n" % (len(body[i:i + step]), i,
                                            body[i:i + step])
                   for i in range(0, len(body), step)]
            out.append(b"0\r\nX-Checksum: none\r\n\r\n")
            self.wfile.write(head)
            self.wfile.flush()
            time.sleep(0.01)
            self.wfile.write(b"".join(out))
            return
        if how == "slow_head":
            # the status line and headers in pieces of 5 bytes
            for i in range(0, len(head), 5):
                if self.server.state.stopping.wait(0.002):
                    self.close_connection = True
                    return
                self.wfile.write(head[i:i + 5])
            self.wfile.write(body)
            return
        if how == "trailing_garbage":
            # an answer nobody asked for, in the same write: a client that
            # keeps the connection would take it for its next answer
            stale = json.dumps({"error": "STALE", "error_description":
                                "an answer to no request"}).encode()
            body += (b"HTTP/1.1 200 OK\r\nContent-Type: application/json"
                     b"\r\nContent-Length: %d\r\n\r\n" % len(stale)
                     + stale)
        self.wfile.write(head + body)
        if how == "close_delimited":
            self.shutdown_write()
        if how == "close_notify" and isinstance(self.connection,
                                                ssl.SSLSocket):
            # TLS closed, TCP left open: the client must not reuse it.  The
            # answer and the close_notify leave in one segment (corked; the
            # kernel sends after 200 ms at most), so that the client reads
            # both at once
            self.close_connection = True
            try:
                self.connection.unwrap()
            except (OSError, ValueError):
                pass

    def shutdown_write(self):
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def abort_reset(self):
        """Close with RST (SO_LINGER 0) and nothing sent."""
        self.close_connection = True
        sock = self.connection
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            struct.pack("ii", 1, 0))
        except OSError:
            pass
        # rfile holds a reference to the socket: drop it first so that
        # close() really closes now (wfile stays open for the base class)
        for f in (self.rfile, sock):
            try:
                f.close()
            except OSError:
                pass

    def hang(self):
        """Never answer; hold the socket until the peer goes or we stop."""
        self.close_connection = True
        sock = self.connection
        stopping = self.server.state.stopping
        while not stopping.is_set():
            try:
                r, _, _ = select.select([sock], [], [], 0.25)
                if r:
                    data = sock.recv(65536)
                    if not data:
                        return
            except (ssl.SSLWantReadError, socket.timeout):
                continue
            except (OSError, ValueError):
                return

    def simple(self, status, body, ctype, extra=()):
        ans = Answer(status, body, [("Content-Type", ctype)] + list(extra))
        self.write_answer(ans, self.command == "HEAD")

    def send_json(self, status, obj):
        self.simple(status, json.dumps(obj, ensure_ascii=False,
                                       separators=(",", ":")).encode(),
                    "application/json")

    # -- dispatch ----------------------------------------------------------

    def dispatch(self):
        state = self.server.state
        t_arrival = time.time()
        try:
            body = self.read_body()
        except OverflowError:
            self.close_connection = True
            self.simple(413, html_page(413), "text/html")
            return
        except (ValueError, OSError):
            self.close_connection = True
            self.simple(400, html_page(400), "text/html")
            return
        target = self.path
        if not target.startswith("/"):
            # absolute-form request target
            sp = urllib.parse.urlsplit(target)
            target = (sp.path or "/") + ("?" + sp.query if sp.query else "")
        path, _, query = target.partition("?")
        if path == "/_emu" or path.startswith("/_emu/"):
            self.control(path, body)
            return
        if self.server.listener == "moved":
            self.moved(t_arrival, path, query, target, body)
            return
        if path.startswith("/rest/"):
            self.rest(t_arrival, path, query, body)
            return
        if path in ("/oauth/token", "/oauth/token/"):
            self.token(t_arrival, path, query, body)
            return
        rec = self.base_record(t_arrival, path, query, None, None, {})
        rec.update(status=404)
        state.record(rec)
        self.simple(404, html_page(404), "text/html")

    def base_record(self, ts, path, query, user, method, params,
                    has_secret=False):
        h = self.headers
        return {
            "ts": round(ts, 6),
            "listener": self.server.listener,
            "client": self.client_address[0],
            "client_port": self.client_address[1],
            "tls_resumed": (self.connection.session_reused
                            if isinstance(self.connection, ssl.SSLSocket)
                            else None),
            "http_method": self.command,
            "path": redact_path(path, has_secret),
            "query": redact_query(query),
            "user": user,
            "method": method,
            "params": redact_params(params),
            "target": listify(params.get("target")),
            "code": listify(params.get("code")),
            "content_type": h.get("Content-Type"),
            "status": None,
            "error": None,
            "fault": None,
            "headers": {k: h.get(k) for k in ("user-agent", "content-type",
                                               "accept", "host")
                        if h.get(k) is not None},
        }

    # -- control API -------------------------------------------------------

    def control(self, path, body):
        state = self.server.state
        name = path[len("/_emu/"):].strip("/") if path != "/_emu" else ""
        cmd = self.command
        if name == "health" and cmd in ("GET", "HEAD"):
            self.send_json(200, {"ok": True})
        elif name == "calls" and cmd in ("GET", "HEAD"):
            self.send_json(200, state.calls_view())
        elif name == "config" and cmd in ("GET", "HEAD"):
            self.send_json(200, state.config_view())
        elif name == "config" and cmd == "POST":
            try:
                cfg = json.loads(body.decode("utf-8") or "{}")
                state.configure(cfg)
            except (ValueError, UnicodeDecodeError) as e:
                self.send_json(400, {"error": str(e)})
                return
            self.send_json(200, state.config_view())
        elif name == "crm" and cmd in ("GET", "HEAD"):
            self.send_json(200, state.crm_view())
        elif name == "crm" and cmd == "POST":
            try:
                state.set_crm(json.loads(body.decode("utf-8") or "{}"))
            except (ValueError, UnicodeDecodeError) as e:
                self.send_json(400, {"error": str(e)})
                return
            self.send_json(200, state.crm_view())
        elif name == "reset" and cmd == "POST":
            state.reset()
            self.send_json(200, {"ok": True})
        elif name == "oauth" and cmd in ("GET", "HEAD"):
            self.send_json(200, state.oauth_view())
        elif name == "oauth/issue" and cmd == "POST":
            try:
                cfg = json.loads(body.decode("utf-8") or "{}")
                ttl = cfg.get("expires_in")
                if ttl is not None and not _is_num(ttl):
                    raise ValueError("expires_in must be a number")
            except (ValueError, UnicodeDecodeError, AttributeError) as e:
                self.send_json(400, {"error": str(e)})
                return
            self.send_json(200, state.issue(ttl))
        elif name == "oauth/expire" and cmd == "POST":
            state.expire_all()
            self.send_json(200, {"ok": True})
        elif name == "oauth/install" and cmd == "POST":
            self.install(body)
        else:
            self.send_json(404, {"error": "unknown control endpoint",
                                 "endpoints": ["GET /_emu/health",
                                               "GET /_emu/calls",
                                               "GET /_emu/config",
                                               "POST /_emu/config",
                                               "POST /_emu/reset",
                                               "GET /_emu/crm",
                                               "POST /_emu/crm",
                                               "GET /_emu/oauth",
                                               "POST /_emu/oauth/issue",
                                               "POST /_emu/oauth/expire",
                                               "POST /_emu/oauth/install"]})

    # -- OAuth token server (ref 1.3) ---------------------------------------

    def token(self, ts, path, query, body):
        state = self.server.state
        params = request_params(self.command, query, body,
                                self.headers.get("Content-Type"))
        rec = self.base_record(ts, path, query, None, "oauth.token", params)
        rec["grant_type"] = params.get("grant_type")
        with state.lock:
            latency = state.oauth_latency_ms
        if latency > 0 and state.stopping.wait(latency / 1000.0):
            self.close_connection = True
            return
        if latency > 0 and self.client_gone():
            # the client left while the answer was delayed: the grant is
            # not made, so its refresh token stays live (as a token
            # server whose front end drops a request without a client)
            rec.update(status=0, error="client_gone")
            state.record(rec, [params.get("client_secret") or "",
                               params.get("refresh_token") or ""])
            self.close_connection = True
            return
        err, pair = state.grant(params)
        if err:
            rec.update(status=err[0], error=err[1])
            state.record(rec, [params.get("client_secret") or "",
                               params.get("refresh_token") or ""])
            self.send_json(err[0], {"error": err[1],
                                    "error_description": err[2]})
            return
        scheme = "https" if self.server.listener == "https" else "http"
        host = self.headers.get("Host") or "%s:%d" % \
            self.server.server_address[:2]
        pair.update(client_endpoint="%s://%s/rest/" % (scheme, host),
                    server_endpoint="%s://%s/rest/" % (scheme, host),
                    domain="oauth.bitrix.info")
        with state.lock:
            endpoint = state.client_endpoint
        if endpoint == "":
            del pair["client_endpoint"]
        elif endpoint is not None:
            pair["client_endpoint"] = endpoint
        rec.update(status=200)
        state.record(rec)
        self.send_json(200, pair)

    def client_gone(self):
        """The client closed its end (EOF, or an error on the socket)."""
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            if not r:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def install(self, body):
        """Bitrix24's install call: a form POST of a new token pair to the
        application's handler URL; answers with what the handler said."""
        state = self.server.state
        try:
            cfg = json.loads(body.decode("utf-8") or "{}")
            url = cfg["url"]
        except (ValueError, UnicodeDecodeError, KeyError, TypeError):
            self.send_json(400, {"error": "need {\"url\": ...}"})
            return
        pair = state.issue(cfg.get("expires_in"))
        host, port = state.listen_addr["http"]
        fields = {
            "AUTH_ID": pair["access_token"],
            "AUTH_EXPIRES": str(pair["expires_in"]),
            "REFRESH_ID": pair["refresh_token"],
            "SERVER_ENDPOINT": "https://oauth.bitrix.info/rest/",
            "status": "L", "PLACEMENT": "DEFAULT", "PLACEMENT_OPTIONS": "{}",
            "member_id": cfg.get("member_id", state.member_id),
            "application_token": os.urandom(16).hex(),
            "DOMAIN": cfg.get("domain", "%s:%d" % (host, port)),
            "PROTOCOL": "0", "LANG": "en", "APP_SID": os.urandom(8).hex(),
        }
        fields.update(cfg.get("fields") or {})
        req = urllib.request.Request(
            url, data=urllib.parse.urlencode(fields).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status, answer = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, answer = e.code, e.read()
        except (OSError, ValueError) as e:
            self.send_json(502, {"error": "install call failed: %s" % e})
            return
        self.send_json(200, {"status": status,
                             "body": answer.decode("utf-8", "replace"),
                             "access_token": pair["access_token"],
                             "refresh_token": pair["refresh_token"]})

    # -- moved portal (ref 1.1 "Portal address change") --------------------

    def moved(self, ts, path, query, target, body):
        state = self.server.state
        scheme = "https" if state.moved_to_https else "http"
        host, port = state.listen_addr[scheme]
        if ":" in host:
            host = "[%s]" % host
        location = "%s://%s:%d%s" % (scheme, host, port, target)
        user, secret, method = None, None, None
        params = request_params(self.command, query, body,
                                self.headers.get("Content-Type"))
        if path.startswith("/rest/"):
            user, secret, method, _ = parse_rest_path(path)
        rec = self.base_record(ts, path, query, user, method, params,
                               secret is not None)
        rec.update(status=302)
        state.record(rec, [secret or "", params.get("ap") or ""])
        self.simple(302, html_page(302), "text/html",
                    [("Location", location)])

    # -- REST --------------------------------------------------------------

    def rest(self, ts, path, query, body):
        state = self.server.state
        tls = self.server.listener == "https"
        user, secret, method, transport = parse_rest_path(path)
        sent = request_params(self.command, query, body,
                              self.headers.get("Content-Type"))
        params = dict(sent)
        if user is not None:
            # path variables win over query/body (array_merge, ref 1.1)
            params["aplogin"] = user
            params["ap"] = secret
        ap_user = params.get("aplogin")
        ap_secret = params.get("ap")
        rec = self.base_record(ts, path, query,
                               ap_user if isinstance(ap_user, str) else None,
                               method, sent, secret is not None)
        extra_secrets = [s for s in (secret, ap_secret)
                         if isinstance(s, str)]

        fault = state.take_fault()
        fname = fault["mode"] if fault else None
        if fname == "none":
            fname = None
        with state.lock:
            latency = state.latency_ms
        if fault and "latency_ms" in fault:
            latency = fault["latency_ms"]
        rec["fault"] = fname

        call = Call(state, ap_user if isinstance(ap_user, str) else None,
                    method, params, tls, ts)
        ans = self.rest_answer(call, fname, transport, fault)
        if fname in DELIVERY_FAULTS and ans.kind == "normal":
            ans.delivery = fname

        if ans.kind != "hang" and latency > 0:
            if state.stopping.wait(latency / 1000.0):
                self.close_connection = True
                return
        if ans.success is not None:
            self.finish_success(call, ans, transport)

        rec["status"] = ans.status if ans.kind == "normal" else None
        rec["error"] = ans.error
        state.record(rec, extra_secrets)

        if ans.kind == "reset":
            self.abort_reset()
        elif ans.kind == "close":
            self.close_connection = True
            self.shutdown_write()
        elif ans.kind == "hang":
            self.hang()
        else:
            self.write_answer(ans, self.command == "HEAD")

    def rest_answer(self, call, fname, transport, fault=None):
        """The check order of CRestServer (ref 2.5) with faults woven in."""
        state = call.state
        # infrastructure faults: the request never reaches the portal code
        if fname in ("reset", "hang", "close"):
            return Answer(kind=fname)
        if fname in ("html502", "html504"):
            st = 502 if fname == "html502" else 504
            return Answer(st, html_page(st),
                          [("Content-Type", "text/html")])
        if fname == "empty_200":
            return Answer(200, b"", rest_headers("json"))
        if fname == "garbage_200":
            return Answer(200, b"not json", rest_headers("json"))
        if fname == "redirect":
            scheme = "https" if self.server.listener == "https" else "http"
            host, port = self.server.server_address[:2]
            if ":" in host:
                host = "[%s]" % host
            location = (fault or {}).get("location") or \
                "%s://%s:%d%s" % (scheme, host, port, self.path)
            return Answer(302, html_page(302), [
                ("Content-Type", "text/html"),
                ("Location", location)])
        if fname == "http500":
            return error_answer(E_INTERNAL)
        if fname in JSON_FAULTS_IMMEDIATE:
            return error_answer(fault_error(JSON_FAULTS_IMMEDIATE[fname],
                                            fault), transport)

        # 1. method lookup, before any auth check
        if not call.method or call.method not in METHODS:
            return error_answer(E_METHOD_NOT_FOUND, transport)
        scope, fn = METHODS[call.method]

        # 2. auth (ref 1.1 webhook auth, SRC rest/lib/apauth/auth.php)
        err = self.check_auth(call, scope)
        if err:
            return error_answer(err, transport)
        secret = call.params.pop("ap", None)     # parameters_clear
        call.params.pop("aplogin", None)

        # 3. LoadLimiter (ref 4.2), keyed by webhook and method
        op_key = (call.user, secret, call.method)
        operating, reset_at = state.operating_info(op_key, time.time())
        if fname == "operation_time_limit" or (
                state.operating_limit and operating > state.operating_limit):
            return error_answer(E_OPERATION_TIME_LIMIT, transport)

        # 4. request rate (ref 4.1)
        if fname == "query_limit" or not state.bucket_admit(
                self.client_address[0]):
            return error_answer(E_QUERY_LIMIT, transport)

        # 5. the method itself
        if fname in ("crm_access_denied", "access_denied",
                     "target_not_found"):
            return error_answer(fault_error(JSON_FAULTS_POSITIONAL[fname],
                                            fault), transport)
        try:
            result = fn(call)
        except RestError as e:
            return error_answer(e.err, transport)
        ans = Answer(200, b"", rest_headers(transport))
        ans.success = (result, op_key)
        return ans

    def check_auth(self, call, scope):
        state = call.state
        p = call.params
        if "aplogin" in p and "ap" in p:
            # the https check comes first inside the webhook handler
            if state.require_https and not call.tls:
                return E_HTTPS_REQUIRED
            u, s = p["aplogin"], p["ap"]
            if not isinstance(u, str) or not isinstance(s, str):
                return E_INVALID_CREDENTIALS
            if state.webhooks:
                hook = next((w for w in state.webhooks
                             if w.user == u and w.secret == s), None)
                if hook is None:
                    return E_INVALID_CREDENTIALS
                if scope != GLOBAL and hook.scopes is not None \
                        and scope not in hook.scopes:
                    return E_INSUFFICIENT_SCOPE
                return None
            if u == "" or s == "":
                return E_INVALID_CREDENTIALS
            return None
        # OAuth (ref 1.2): Bearer first, then auth, then access_token
        auth_hdr = self.headers.get("Authorization", "")
        token = None
        if auth_hdr.lower().startswith("bearer "):
            token = auth_hdr[7:].strip()
        elif isinstance(p.get("auth"), str):
            token = p["auth"]
        elif isinstance(p.get("access_token"), str):
            token = p["access_token"]
        elif "auth" in p or "access_token" in p:
            return E_INVALID_TOKEN      # array values are ignored
        if token is None:
            return E_NO_AUTH_FOUND
        err = state.token_check(token)
        if err:
            return err
        p.pop("auth", None)
        p.pop("access_token", None)
        call.app = True
        return None

    def finish_success(self, call, ans, transport):
        """processResponse (ref 2.5, ref 5): {"result":..., "time":{...}}."""
        state = call.state
        result, op_key = ans.success
        start = round(call.start, 6)
        finish = round(time.time(), 6)
        processing = finish - start
        state.operating_add(op_key, start, processing)
        t = {"start": start, "finish": finish, "duration": finish - start,
             "processing": processing, "date_start": date_c(start),
             "date_finish": date_c(finish)}
        if not state.self_hosted:
            operating, reset_at = state.operating_info(op_key, finish)
            t["operating_reset_at"] = reset_at if reset_at is not None \
                else int(start) + 600
            t["operating"] = operating
        if isinstance(result, Listed):
            body = {"result": result.result}
            body.update(result.extra)
            body["time"] = t
        else:
            body = {"result": result, "time": t}
        ans.body = encode(body, transport)


class EmuServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, addr, state, listener, ssl_ctx=None, idle_timeout=75):
        self.state = state
        self.listener = listener
        self.ssl_ctx = ssl_ctx
        self.idle_timeout = idle_timeout
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        super().__init__(addr, Handler)

    def server_bind(self):
        # no getfqdn() here: it may block on DNS
        socketserver.TCPServer.server_bind(self)
        self.server_name = self.server_address[0]
        self.server_port = self.server_address[1]

    def finish_request(self, request, client_address):
        if self.ssl_ctx is None:
            return super().finish_request(request, client_address)
        # TLS handshake in the connection's own thread
        request.settimeout(10)
        try:
            conn = self.ssl_ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            try:
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            try:
                conn.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout, ssl.SSLError)):
            return
        if self.state.stopping.is_set():
            return
        text = scrub("".join(traceback.format_exc()), self.state.secrets())
        sys.stderr.write("b24emu: internal error\n" + text)
        sys.stderr.flush()


# ---------------------------------------------------------------------------
# main

def parse_hostport(s, opt):
    m = re.fullmatch(r"\[([^\]]+)\]:(\d+)|([^:\[\]]*):(\d+)", s)
    if not m:
        raise SystemExit("b24emu: %s expects HOST:PORT, got %r" % (opt, s))
    host = m.group(1) or m.group(3) or "127.0.0.1"
    port = int(m.group(2) or m.group(4))
    return host, port


def fmt_addr(host, port):
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


def connect_host(host):
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(
        host, host)


def build_parser():
    # the name it was run by: tools/b24emu.py, or the packaged
    # b24trigger-emulator
    ap = argparse.ArgumentParser(
        description="Bitrix24 portal emulator: incoming-webhook REST calls "
                    "(crm.automation.trigger) with fault injection.",
        epilog="example: --listen 127.0.0.1:8081 --webhook 1:0123456789abcdef"
               " --log calls.log, then in nginx: b24trigger_portal main "
               "http://127.0.0.1:8081/rest/1/0123456789abcdef/; the control "
               "API (/_emu/calls, /_emu/config) is described in "
               "tools/README.md.")
    ap.add_argument("--listen", default="127.0.0.1:0", metavar="HOST:PORT",
                    help="plain HTTP listener (default 127.0.0.1:0 = a free "
                         "port, shown in the ready line)")
    ap.add_argument("--https-listen", metavar="HOST:PORT",
                    help="TLS listener, same state (needs --cert/--key)")
    ap.add_argument("--cert", metavar="FILE", help="server certificate (PEM)")
    ap.add_argument("--key", metavar="FILE", help="server private key (PEM)")
    ap.add_argument("--moved-listen", metavar="HOST:PORT",
                    help="the old address of a moved portal: every request "
                         "there gets 302 to the same path on --listen")
    ap.add_argument("--moved-to-https", action="store_true",
                    help="the moved listener redirects to the https one")
    ap.add_argument("--webhook", action="append", default=[],
                    metavar="USER:SECRET[:SCOPES]",
                    help="an accepted incoming webhook (repeatable); SCOPES "
                         "is an optional comma list such as crm; with no "
                         "--webhook any non-empty user and secret pass")
    ap.add_argument("--webhook-file", metavar="FILE",
                    help="read USER:SECRET[:SCOPES] lines from FILE (keeps "
                         "secrets out of the process list)")
    ap.add_argument("--log", metavar="FILE",
                    help="append one JSON object per call to FILE")
    ap.add_argument("--bucket", type=float, default=50, metavar="N",
                    help="leaky bucket size per client IP (default 50, "
                         "0 = off)")
    ap.add_argument("--drain", type=float, default=2, metavar="R",
                    help="bucket drain per second (default 2)")
    ap.add_argument("--latency", type=float, default=0, metavar="MS",
                    help="delay before every REST answer (default 0)")
    ap.add_argument("--require-https", action="store_true",
                    help="webhook calls over plain HTTP get 401 "
                         "INVALID_REQUEST \"Https required.\"")
    ap.add_argument("--deny", action="append", default=[], metavar="TARGET",
                    help="crm.automation.trigger on TARGET answers 403 "
                         "ACCESS_DENIED (repeatable)")
    ap.add_argument("--operating-limit", type=float, default=0,
                    metavar="SEC",
                    help="block a method with 429 OPERATION_TIME_LIMIT once "
                         "its calls took more than SEC seconds in 10 min "
                         "(default 0 = off; the cloud uses 480)")
    ap.add_argument("--self-hosted", action="store_true",
                    help="omit operating/operating_reset_at from \"time\"")
    ap.add_argument("--idle-timeout", type=float, default=75, metavar="SEC",
                    help="close idle keep-alive connections after SEC "
                         "(default 75, like nginx)")
    ap.add_argument("--max-calls", type=int, default=100000, metavar="N",
                    help="calls kept in memory for /_emu/calls "
                         "(default 100000)")
    ap.add_argument("--oauth-app", metavar="CLIENT_ID:CLIENT_SECRET",
                    help="an OAuth application installed on the portal: "
                         "enables /oauth/token/ and calls with auth=, "
                         "access_token= or Authorization: Bearer")
    ap.add_argument("--member-id", default="a223c6b3710f85df22e9377d6c4f7553",
                    metavar="ID", help="the portal's member_id")
    ap.add_argument("--token-ttl", type=float, default=3600, metavar="SEC",
                    help="lifetime of access tokens (default 3600)")
    ap.add_argument("--crm", metavar="FILE",
                    help="JSON of the CRM records crm.item.list and "
                    "crm.duplicate.findbycomm find (as POST /_emu/crm)")
    ap.add_argument("--pid-file", metavar="FILE", help="write the pid here")
    return ap


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.webhook_file:
        try:
            with open(args.webhook_file, encoding="utf-8") as f:
                args.webhook += [ln.strip() for ln in f
                                 if ln.strip() and not ln.startswith("#")]
        except OSError as e:
            raise SystemExit("b24emu: cannot read --webhook-file: %s"
                             % e.strerror)
    try:
        for w in args.webhook:
            Webhook(w)
    except ValueError as e:
        raise SystemExit("b24emu: --webhook: %s" % e)
    if args.https_listen and not (args.cert and args.key):
        raise SystemExit("b24emu: --https-listen needs --cert and --key")

    try:
        state = State(args)
    except OSError as e:
        raise SystemExit("b24emu: cannot open --log file or --crm: %s"
                         % e.strerror)
    except ValueError as e:
        raise SystemExit("b24emu: --crm: %s" % e)
    servers = []
    try:
        host, port = parse_hostport(args.listen, "--listen")
        srv = EmuServer((host, port), state, "http",
                        idle_timeout=args.idle_timeout)
        servers.append(srv)
        state.listen_addr["http"] = (connect_host(host),
                                     srv.server_address[1])
        ready = ["http=" + fmt_addr(host, srv.server_address[1])]
        if args.https_listen:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(args.cert, args.key)
            ctx.set_alpn_protocols(["http/1.1"])
            host, port = parse_hostport(args.https_listen, "--https-listen")
            srv = EmuServer((host, port), state, "https", ssl_ctx=ctx,
                            idle_timeout=args.idle_timeout)
            servers.append(srv)
            state.listen_addr["https"] = (connect_host(host),
                                          srv.server_address[1])
            ready.append("https=" + fmt_addr(host, srv.server_address[1]))
        if args.moved_listen:
            if args.moved_to_https and "https" not in state.listen_addr:
                raise SystemExit("b24emu: --moved-to-https needs "
                                 "--https-listen")
            host, port = parse_hostport(args.moved_listen, "--moved-listen")
            srv = EmuServer((host, port), state, "moved",
                            idle_timeout=args.idle_timeout)
            servers.append(srv)
            ready.append("moved=" + fmt_addr(host, srv.server_address[1]))
    except (OSError, ssl.SSLError) as e:
        for s in servers:
            s.server_close()
        raise SystemExit("b24emu: cannot listen: %s"
                         % (e.strerror or e))

    if args.pid_file:
        try:
            with open(args.pid_file, "w") as f:
                f.write("%d\n" % os.getpid())
        except OSError as e:
            raise SystemExit("b24emu: cannot write --pid-file: %s"
                             % e.strerror)

    # the handler only notes the signal: Event.set() there could wait for
    # the lock the interrupted Event.wait() below holds, forever
    signalled = []

    def on_signal(signum, frame):
        signalled.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    threads = []
    for s in servers:
        t = threading.Thread(target=s.serve_forever,
                             kwargs={"poll_interval": 0.1}, daemon=True)
        t.start()
        threads.append(t)

    sys.stdout.write("b24emu ready %s\n" % " ".join(ready))
    sys.stdout.flush()

    while not signalled and not state.stopping.wait(0.2):
        pass

    state.stopping.set()

    for s in servers:
        s.shutdown()
        s.server_close()
    if state.log_file:
        with state.lock:
            state.log_file.close()
            state.log_file = None
    if args.pid_file:
        try:
            os.unlink(args.pid_file)
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
