#!/bin/bash
# selftest.sh: start the Bitrix24 emulator (b24emu.py) on free ports and
# check it with curl: REST semantics, errors, the leaky bucket, every fault
# mode, the moved-portal redirect, HTTPS, the call log and clean shutdown.
# Exits non-zero on any failure.  Needs python3, curl and openssl.
#
#   tools/selftest.sh                     uses /usr/bin/python3 if present
#   PYTHON=python3.12 tools/selftest.sh   any other interpreter

set -u

here=$(cd "$(dirname "$0")" && pwd)
emu="$here/b24emu.py"
if [ -z "${PYTHON:-}" ]; then
    PYTHON=python3
    [ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3
fi
tmp=$(mktemp -d)
SECRET=k3y5ecr3tt0ken42         # 16 chars, like a real webhook secret
SECRET2=s3c0ndwebh00k777
pass=0
fail=0
pids=()

cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null
    done
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

ok()  { pass=$((pass + 1)); echo "ok   - $1"; }
nok() {
    fail=$((fail + 1)); echo "FAIL - $1"
    if [ $# -gt 1 ]; then echo "       $2"; fi
}
is() {      # is NAME GOT WANT
    if [ "$2" == "$3" ]; then ok "$1"; else nok "$1" "got [$2] want [$3]"; fi
}
like() {    # like NAME GOT REGEX
    if [[ $2 =~ $3 ]]; then ok "$1"; else nok "$1" "got [$2] !~ /$3/"; fi
}
unlike() {  # unlike NAME GOT REGEX
    if [[ $2 =~ $3 ]]; then nok "$1" "got [$2] =~ /$3/"; else ok "$1"; fi
}
ge() {      # ge NAME GOT MIN  (decimals)
    if python3 -c "import sys; sys.exit(0 if float('$2') >= float('$3') \
else 1)"; then ok "$1"; else nok "$1" "got [$2] want >= $3"; fi
}
le() {      # le NAME GOT MAX
    if python3 -c "import sys; sys.exit(0 if float('$2') <= float('$3') \
else 1)"; then ok "$1"; else nok "$1" "got [$2] want <= $3"; fi
}

# start_emu NAME ARGS...: sets HTTP, HTTPS, MOVED (host:port) and PID
start_emu() {
    local name=$1 line i
    shift
    "$PYTHON" "$emu" "$@" > "$tmp/$name.out" 2> "$tmp/$name.err" &
    PID=$!
    pids+=("$PID")
    for i in $(seq 100); do
        line=$(grep '^b24emu ready' "$tmp/$name.out" 2>/dev/null)
        [ -n "$line" ] && break
        sleep 0.1
    done
    if [ -z "$line" ]; then
        echo "emulator $name did not start:"; cat "$tmp/$name.err"
        exit 1
    fi
    HTTP=$(sed -n 's/.* http=\([^ ]*\).*/\1/p' <<< "$line")
    HTTPS=$(sed -n 's/.* https=\([^ ]*\).*/\1/p' <<< "$line")
    MOVED=$(sed -n 's/.* moved=\([^ ]*\).*/\1/p' <<< "$line")
}

# call CURL-ARGS...: sets ST (status), BODY, RC (curl exit), HDR (headers)
call() {
    : > "$tmp/body"
    : > "$tmp/hdr"
    ST=$(curl -s -o "$tmp/body" -D "$tmp/hdr" -w '%{http_code}' "$@")
    RC=$?
    BODY=$(cat "$tmp/body")
    HDR=$(tr -d '\r' < "$tmp/hdr")
}

header() {  # header NAME: value of a response header of the last call
    grep -i "^$1:" <<< "$HDR" | head -1 | sed 's/^[^:]*: *//'
}

emu_config() {  # emu_config BASE JSON
    curl -s -o /dev/null -w '%{http_code}' -X POST \
        -H 'Content-Type: application/json' -d "$2" "$1/_emu/config"
}

calls_py() {    # calls_py BASE PYTHON-EXPR-ON-c (c = list of calls)
    curl -s "$1/_emu/calls" | python3 -c "
import json, sys
c = json.load(sys.stdin)
print($2)"
}

err_body() { printf '{"error":"%s","error_description":"%s"}' "$1" "$2"; }

"$here/mkcerts.sh" "$tmp/certs" || { echo "mkcerts.sh failed"; exit 1; }
C=$tmp/certs

echo "# $("$PYTHON" --version 2>&1), $(curl --version | head -1 | cut -d' ' -f1-2), $(openssl version | cut -d' ' -f1-2)"
echo "# instance A: full-featured"
start_emu a --listen 127.0.0.1:0 --https-listen 127.0.0.1:0 \
    --cert "$C/server.crt" --key "$C/server.key" \
    --moved-listen 127.0.0.1:0 --webhook "1:$SECRET" \
    --webhook "7:$SECRET2:user" --deny DEAL_13 --bucket 0 \
    --log "$tmp/a.log" --pid-file "$tmp/a.pid"
A_PID=$PID
E=http://$HTTP
S=https://$HTTPS
M=http://$MOVED
B=$E/rest/1/$SECRET
T=crm.automation.trigger
JSON=(-H 'Content-Type: application/json')
like "ready line names all three listeners" \
    "$(cat "$tmp/a.out")" \
    '^b24emu ready http=127\.0\.0\.1:[1-9][0-9]* https=127\.0\.0\.1:[1-9][0-9]* moved=127\.0\.0\.1:[1-9][0-9]*$'
is "pid file" "$(cat "$tmp/a.pid")" "$A_PID"

call "$E/_emu/health"
is "health" "$ST $BODY" '200 {"ok":true}'

# --- success ---------------------------------------------------------------
TIME_RE='"time":\{"start":[0-9]+\.[0-9]+,"finish":[0-9]+\.[0-9]+,"duration":[0-9.e-]+,"processing":[0-9.e-]+,"date_start":"[0-9T:+-]+","date_finish":"[0-9T:+-]+","operating_reset_at":[0-9]+,"operating":[0-9.e-]+\}'
call "${JSON[@]}" -d '{"target":"DEAL_57","code":"c5u4m"}' "$B/$T"
is "JSON POST: status" "$ST" 200
like "JSON POST: result true + time" "$BODY" "^\{\"result\":true,$TIME_RE\}$"
is "header Content-Type" "$(header Content-Type)" \
    "application/json; charset=utf-8"
is "header Access-Control-Allow-Origin" \
    "$(header Access-Control-Allow-Origin)" "*"
is "header Access-Control-Allow-Headers" \
    "$(header Access-Control-Allow-Headers)" "origin, content-type, accept"
is "header X-Content-Type-Options" "$(header X-Content-Type-Options)" \
    nosniff
is "header Content-Length" "$(header Content-Length)" "${#BODY}"

call "$B/$T.json?target=DEAL_57&code=c5u4m"
like "GET, query string, .json suffix" "$ST $BODY" '^200 \{"result":true,'
call "$B/$T/?target=DEAL_57&code=c5u4m"
like "trailing slash" "$ST $BODY" '^200 \{"result":true,'
call "$B/$T.json/?target=lead_1"
like ".json and trailing slash" "$ST $BODY" '^200 \{"result":true,'
call "$B/CRM.Automation.Trigger.JSON?target=DEAL_1"
like "method name is case-insensitive" "$ST" '^200$'
call -d 'target=LEAD_1&code=x' "$B/$T"
like "form POST" "$ST $BODY" '^200 \{"result":true,'
call -H 'Content-Type: text/plain' -d 'target=CO_4' "$B/$T"
like "raw body parsed as a query string" "$ST" '^200$'
call -F target=SI_3 -F code=abc "$B/$T"
like "multipart POST" "$ST" '^200$'
call "${JSON[@]}" -d '{"target":"DEAL_1"}' "$B/$T?target=DEAL_13"
is "JSON body overrides the query" "$ST" 200
call -H 'Content-Type: application/vnd.api+json' -d '{"target":"DEAL_1"}' \
    "$B/$T"
is "*+json body is JSON" "$ST" 200
call "${JSON[@]}" -d '{bad json' "$B/$T?target=DEAL_1"
is "invalid JSON body silently ignored" "$ST" 200
call "${JSON[@]}" -d '{bad json' "$B/$T"
is "invalid JSON body, no query target" "$ST $BODY" \
    "400 $(err_body '' 'Target is not set.')"
call "$E/rest/$T?aplogin=1&ap=$SECRET&target=DEAL_1"
is "webhook credentials in the query string" "$ST" 200
for t in DYNAMIC_128_5 dynamic_1032_1 T80_2 q_1 O_9 smart_invoice_1 \
         Contact_3 company_4 quote_5 invoice_6 SI_7 L_8 D_9 C_10 CO_11 I_12 \
         '%20deal_5' 'DEAL_5%0A' 'DEAL_-5' 'DEAL_12abc'; do
    call "$B/$T?target=$t"
    is "target $t accepted" "$ST" 200
done
call "$B/server.time"
like "server.time" "$ST $BODY" '^200 \{"result":"[0-9T:+-]+","time":'
call "$B/profile"
like "profile" "$ST $BODY" '^200 \{"result":\{"ID":"1",'
call "$B/$T.xml?target=DEAL_1"
is "XML transport content type" "$(header Content-Type)" \
    "text/xml; charset=utf-8"
like "XML transport body" "$BODY" '^<response><result>1</result><time><start>'

n=$(curl -sv -o /dev/null -o /dev/null "$B/$T?target=DEAL_1" \
    "$B/$T?target=DEAL_2" 2>&1 | grep -c 'Re-using existing connection')
is "HTTP/1.1 keep-alive reuses the connection" "$n" 1
n=$(curl -s -o /dev/null -w '%{http_version}' "$B/$T?target=DEAL_1")
is "HTTP version" "$n" 1.1

# --- errors ----------------------------------------------------------------
call "$E/rest/1/wrong/crm.nope?target=DEAL_1"
is "unknown method: 404 before auth" "$ST $BODY" \
    "404 $(err_body ERROR_METHOD_NOT_FOUND 'Method not found!')"
call "$E/rest/1/wrongsecret/$T?target=DEAL_1"
is "wrong secret" "$ST $BODY" \
    "401 $(err_body INVALID_CREDENTIALS 'Invalid request credentials')"
call "$E/rest/2/$SECRET/$T?target=DEAL_1"
is "wrong user" "$ST" 401
call "$E/rest/$T?target=DEAL_1"
is "no credentials" "$ST $BODY" \
    "401 $(err_body NO_AUTH_FOUND 'Wrong authorization data')"
call "$E/rest/7/$SECRET2/$T?target=DEAL_1"
is "webhook without the crm scope" "$ST $BODY" \
    "401 $(err_body insufficient_scope 'The request requires higher privileges than provided by the webhook token')"
call "$E/rest/7/$SECRET2/profile"
is "webhook without crm: profile still works" "$ST" 200
call "$B/$T"
is "target missing" "$ST $BODY" "400 $(err_body '' 'Target is not set.')"
call "$B/$T?target=DEAL"
is "target without _" "$ST $BODY" \
    "400 $(err_body '' 'Incorrect target format.')"
call "$B/$T?target="
is "empty target" "$ST $BODY" "400 $(err_body '' 'Incorrect target format.')"
for t in FOO_5 DEAL_0 DEAL_abc DEAL_ _5 DYNAMIC_0_1; do
    call "$B/$T?target=$t"
    is "target $t not found" "$ST $BODY" \
        "400 $(err_body '' 'Target is not found.')"
done
call "$B/$T?target=DEAL_13"
is "denied target" "$ST $BODY" \
    "403 $(err_body ACCESS_DENIED 'Access denied! There is no permissions to update the entity.')"
call "$B/$T?target=d_13"
is "denied target, other spelling" "$ST" 403
call "$B/$T.execute?CODE=x&OWNER_TYPE_ID=2&OWNER_ID=1"
is "trigger.execute needs an application" "$ST $BODY" \
    "403 $(err_body ACCESS_DENIED 'Access denied! Application context required')"
call "$B/$T.xml"
is "XML error" "$ST $BODY" \
    '400 <response><error></error><error_description>Target is not set.</error_description></response>'
call "$E/other/path"
is "non-REST path" "$ST" 404

# --- control API: deny, require_https, latency, operating limit --------------
is "config deny" "$(emu_config "$E" '{"deny":["LEAD_2"]}')" 200
call "$B/$T?target=LEAD_2"
is "deny list replaced: LEAD_2 denied" "$ST" 403
call "$B/$T?target=DEAL_13"
is "deny list replaced: DEAL_13 allowed" "$ST" 200
emu_config "$E" '{"deny":["DEAL_13"]}' > /dev/null

is "config require_https" "$(emu_config "$E" '{"require_https":true}')" 200
call "$B/$T?target=DEAL_1"
is "require_https: plain HTTP refused" "$ST $BODY" \
    "401 $(err_body INVALID_REQUEST 'Https required.')"
call --cacert "$C/ca.crt" "$S/rest/1/$SECRET/$T?target=DEAL_1"
is "require_https: HTTPS accepted" "$ST" 200
emu_config "$E" '{"require_https":false}' > /dev/null

is "config latency" "$(emu_config "$E" '{"latency_ms":600}')" 200
curl -s -o /dev/null -w '%{time_total}' "$B/$T?target=DEAL_1" \
    > "$tmp/lat" &
lat_pid=$!
sleep 0.15
t=$(curl -s -o /dev/null -w '%{time_total}' "$E/_emu/health")
le "latency does not block other connections" "$t" 0.3
wait "$lat_pid"
ge "latency delays the answer" "$(cat "$tmp/lat")" 0.6
emu_config "$E" '{"latency_ms":0,"faults":[{"mode":"none","latency_ms":400}]}' \
    > /dev/null
t=$(curl -s -o /dev/null -w '%{time_total}' "$B/$T?target=DEAL_1")
ge "per-fault latency" "$t" 0.4
t=$(curl -s -o /dev/null -w '%{time_total}' "$B/$T?target=DEAL_1")
le "per-fault latency used once" "$t" 0.3

# counted per webhook and method: server.time has no slow calls so far
emu_config "$E" '{"operating_limit":0.3,"latency_ms":250}' > /dev/null
codes=""
for i in 1 2 3; do
    call "$B/server.time"
    codes="$codes $ST"
done
is "operating limit: third call blocked" "$codes" " 200 200 429"
is "operating limit: body" "$BODY" \
    "$(err_body OPERATION_TIME_LIMIT 'Method is blocked due to operation time limit.')"
emu_config "$E" '{"latency_ms":0}' > /dev/null
call "$B/profile"
is "operating limit: other methods unaffected" "$ST" 200
call "$B/$T?target=DEAL_1"
is "operating limit: trigger over the limit (1 s of slow calls)" "$ST" 429
emu_config "$E" '{"operating_limit":0}' > /dev/null

call -X POST -d '{"mode":"nonsense"}' "$E/_emu/config"
is "config: unknown mode refused" "$ST" 400
call -X POST -d '{"latency":5}' "$E/_emu/config"
is "config: unknown key refused" "$ST" 400
call "$E/_emu/config"
like "config: GET shows settings" "$BODY" '"mode":"none"'

# --- faults ------------------------------------------------------------------
while read -r mode status error; do
    [ "$error" = '""' ] && error=
    emu_config "$E" "{\"mode\":\"$mode\"}" > /dev/null
    call "${JSON[@]}" -d '{"target":"DEAL_1"}' "$B/$T"
    got_err=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["error"])' "$BODY" 2>/dev/null)
    is "fault $mode" "$ST $got_err" "$status $error"
    unlike "fault $mode: no time in error" "$BODY" '"time"'
done <<'EOF'
http500 500 INTERNAL_SERVER_ERROR
unexpected_answer 500 ERROR_UNEXPECTED_ANSWER
query_limit 503 QUERY_LIMIT_EXCEEDED
operation_time_limit 429 OPERATION_TIME_LIMIT
method_not_found 404 ERROR_METHOD_NOT_FOUND
invalid_credentials 401 INVALID_CREDENTIALS
no_auth_found 401 NO_AUTH_FOUND
https_required 401 INVALID_REQUEST
insufficient_scope 401 insufficient_scope
overload_limit 401 OVERLOAD_LIMIT
expired_token 401 expired_token
access_denied 403 ACCESS_DENIED
portal_deleted 403 PORTAL_DELETED
crm_access_denied 400 ""
target_not_found 400 ""
EOF
emu_config "$E" '{"mode":"http500"}' > /dev/null
call "$B/$T?target=DEAL_1"
is "http500 body" "$BODY" \
    "$(err_body INTERNAL_SERVER_ERROR 'Internal server error')"
emu_config "$E" '{"mode":"query_limit"}' > /dev/null
call "$B/$T?target=DEAL_1"
is "query_limit body" "$ST $BODY" \
    "503 $(err_body QUERY_LIMIT_EXCEEDED 'Too many requests')"
emu_config "$E" '{"mode":"operation_time_limit"}' > /dev/null
call "$B/$T?target=DEAL_1"
is "operation_time_limit body (no operating_reset_at)" "$ST $BODY" \
    "429 $(err_body OPERATION_TIME_LIMIT 'Method is blocked due to operation time limit.')"
emu_config "$E" '{"mode":"portal_deleted"}' > /dev/null
call "$B/$T?target=DEAL_1"
is "portal_deleted body" "$ST $BODY" \
    "403 $(err_body PORTAL_DELETED 'Portal was deleted')"
emu_config "$E" '{"mode":"operation_time_limit"}' > /dev/null
call "$E/rest/1/wrongsecret/$T?target=DEAL_1"
is "positional fault: bad credentials still win" "$ST" 401
emu_config "$E" '{"mode":"access_denied"}' > /dev/null
call "$B/$T"
is "positional fault: access_denied on a good call" "$ST" 403

emu_config "$E" '{"mode":"html502"}' > /dev/null
call "$B/$T?target=DEAL_1"
is "html502 status" "$ST" 502
like "html502 content type" "$(header Content-Type)" '^text/html'
like "html502 body" "$BODY" '<title>502 Bad Gateway</title>'
emu_config "$E" '{"mode":"html504"}' > /dev/null
call "$B/$T?target=DEAL_1"
is "html504 status" "$ST" 504
emu_config "$E" '{"mode":"empty_200"}' > /dev/null
call "$B/$T?target=DEAL_1"
is "empty_200" "$ST [$BODY] $(header Content-Length)" "200 [] 0"
emu_config "$E" '{"mode":"garbage_200"}' > /dev/null
call "$B/$T?target=DEAL_1"
is "garbage_200" "$ST $BODY" "200 not json"

emu_config "$E" '{"mode":"reset"}' > /dev/null
call --max-time 5 "$B/$T?target=DEAL_1"
is "reset: connection reset by peer (curl 56)" "$RC" 56
emu_config "$E" '{"mode":"close"}' > /dev/null
call --max-time 5 "$B/$T?target=DEAL_1"
is "close: empty reply (curl 52)" "$RC" 52
emu_config "$E" '{"mode":"hang"}' > /dev/null
t0=$(date +%s.%N)
call --max-time 1 "$B/$T?target=DEAL_1"
is "hang: client times out (curl 28)" "$RC" 28
emu_config "$E" '{"mode":"truncated"}' > /dev/null
call --max-time 5 "$B/$T?target=DEAL_1"
is "truncated: partial body (curl 18)" "$RC" 18
emu_config "$E" '{"mode":"slow_body","slow_body_interval_ms":100}' \
    > /dev/null
call --max-time 0.5 "$B/$T?target=DEAL_1"
is "slow_body: client times out mid-body (curl 28)" "$RC $ST" "28 200"
emu_config "$E" '{"mode":"slow_body","slow_body_interval_ms":1}' > /dev/null
call --max-time 10 "$B/$T?target=DEAL_1"
like "slow_body: complete body arrives" "$RC $ST $BODY" '^0 200 \{"result":true'
for m in chunked chunked_bytes close_delimited continue_100 slow_head; do
    emu_config "$E" "{\"mode\":\"$m\"}" > /dev/null
    call --max-time 5 "$B/$T?target=DEAL_1"
    like "$m: the whole answer" "$RC $ST $BODY" '^0 200 \{"result":true'
done
emu_config "$E" '{"mode":"huge"}' > /dev/null
call --max-time 5 "$B/$T?target=DEAL_1"
is "huge: more than 64 KiB" "$RC $ST $((${#BODY} > 65536))" "0 200 1"
emu_config "$E" '{"mode":"redirect"}' > /dev/null
call "$B/$T?target=DEAL_1"
is "redirect fault: 302" "$ST" 302
is "redirect fault: Location" "$(header Location)" "$B/$T?target=DEAL_1"

emu_config "$E" '{"mode":"none","faults":["http500","http500"]}' > /dev/null
codes=""
for i in 1 2 3; do
    call "$B/$T?target=DEAL_1"
    codes="$codes $ST"
done
is "faults list consumed one per call" "$codes" " 500 500 200"
emu_config "$E" '{"mode":"query_limit"}' > /dev/null
codes=""
for i in 1 2; do
    call "$B/$T?target=DEAL_1"
    codes="$codes $ST"
done
emu_config "$E" '{"mode":"none"}' > /dev/null
call "$B/$T?target=DEAL_1"
is "mode is persistent until set to none" "$codes $ST" " 503 503 200"

# --- moved portal ------------------------------------------------------------
call -X POST "${JSON[@]}" -d '{"target":"DEAL_1"}' \
    "$M/rest/1/$SECRET/$T?x=1"
is "moved: 302" "$ST" 302
is "moved: Location on the new address" "$(header Location)" \
    "$E/rest/1/$SECRET/$T?x=1"
call -L --post302 "${JSON[@]}" -d '{"target":"DEAL_1"}' \
    "$M/rest/1/$SECRET/$T"
like "moved: POST repeated at the new address succeeds" "$ST $BODY" \
    '^200 \{"result":true'
call "$M/_emu/health"
is "moved listener serves the control API" "$ST" 200

# --- HTTPS -------------------------------------------------------------------
call --cacert "$C/ca.crt" "$S/rest/1/$SECRET/$T?target=DEAL_1"
like "https with the test CA" "$ST $BODY" '^200 \{"result":true'
call --cacert "$C/ca.crt" \
    "https://localhost:${HTTPS##*:}/rest/1/$SECRET/$T?target=DEAL_1"
is "https by name localhost" "$ST" 200
call --cacert "$C/other-ca.crt" "$S/rest/1/$SECRET/$T?target=DEAL_1"
is "https with an unrelated CA fails (curl 60)" "$RC" 60
n=$(calls_py "$E" "c[-1]['listener']")
is "https call logged with listener https" "$n" https

# --- call log ----------------------------------------------------------------
n=$(calls_py "$E" "sum(1 for x in c if x['path'].startswith('/_emu'))")
is "control API never logged" "$n" 0
n=$(calls_py "$E" "[(x['fault'], x['status']) for x in c if x['fault'] in ('reset','hang','close')]")
is "reset/hang/close logged with status null" "$n" \
    "[('reset', None), ('close', None), ('hang', None)]"
n=$(calls_py "$E" "sorted(c[0])")
is "log record fields" "$n" \
    "['client', 'client_port', 'code', 'content_type', 'error', 'fault', 'headers', 'http_method', 'listener', 'method', 'params', 'path', 'query', 'seq', 'status', 'target', 'tls_resumed', 'ts', 'user']"
n=$(calls_py "$E" "(c[0]['method'], c[0]['params'], c[0]['target'], c[0]['code'], c[0]['user'], c[0]['status'], c[0]['error'], c[0]['path'], sorted(c[0]['headers']))")
is "first call as logged" "$n" \
    "('crm.automation.trigger', {'target': 'DEAL_57', 'code': 'c5u4m'}, 'DEAL_57', 'c5u4m', '1', 200, None, '/rest/1/***/crm.automation.trigger', ['accept', 'content-type', 'host', 'user-agent'])"
n=$(calls_py "$E" "[x['error'] for x in c if x['params'].get('target') == 'FOO_5']")
is "empty error code logged as \"\"" "$n" "['']"
n=$(calls_py "$E" "[(x['status'], x['listener']) for x in c if x['listener'] == 'moved'][:1]")
is "moved call logged" "$n" "[(302, 'moved')]"
n=$(calls_py "$E" "[x['params'] for x in c if x['path'] == '/rest/crm.automation.trigger' and 'ap' in x['params']][:1]")
is "ap parameter redacted" "$n" "[{'aplogin': '1', 'ap': '***', 'target': 'DEAL_1'}]"
n=$(wc -l < "$tmp/a.log")
m=$(calls_py "$E" "len(c)")
is "log file has one line per call" "$n" "$m"
n=$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    json.loads(line)
print("ok")' "$tmp/a.log")
is "log file lines are JSON" "$n" ok

call -X POST "$E/_emu/reset"
is "reset" "$ST $BODY" '200 {"ok":true}'
is "reset clears calls" "$(curl -s "$E/_emu/calls")" "[]"
like "reset restores mode and latency" "$(curl -s "$E/_emu/config")" \
    '"latency_ms":0,.*"mode":"none","faults":\[\]'

# --- CRM lookups: crm.item.list, crm.duplicate.findbycomm --------------------
J='Content-Type: application/json'
call -X POST -H "$J" -d '{"items":[{"entityTypeId":2,"id":57,"UF_CRM_ORDER_ID":"1001"},{"entityTypeId":2,"id":58,"UF_CRM_ORDER_ID":"2002"},{"entityTypeId":2,"id":59,"UF_CRM_ORDER_ID":"2002"}],"comms":[{"entity_type":"LEAD","id":12,"type":"PHONE","value":"+7 (900) 123-45-67"}]}' "$E/_emu/crm"
is "crm seeded" "$ST" 200
call -X POST -H "$J" -d '{"items":[{"id":1}]}' "$E/_emu/crm"
is "crm: an item without entityTypeId refused" "$ST" 400
call -X POST -H "$J" -d '{"entityTypeId":2,"filter":{"=UF_CRM_ORDER_ID":"1001"},"select":["id"]}' "$B/crm.item.list"
like "crm.item.list: one item, total beside result" "$ST $BODY" \
    '^200 \{"result":\{"items":\[\{"id":57\}\]\},"total":1,"time":'
call -X POST -H "$J" -d '{"entityTypeId":2,"filter":{"=UF_CRM_ORDER_ID":"2002"},"select":["id"]}' "$B/crm.item.list"
like "crm.item.list: two items" "$BODY" '"items":\[\{"id":58\},\{"id":59\}\]\},"total":2'
call -X POST -H "$J" -d '{"entityTypeId":2,"filter":{"=UF_CRM_ORDER_ID":"3"}}' "$B/crm.item.list"
like "crm.item.list: none" "$BODY" '^\{"result":\{"items":\[\]\},"total":0'
call -X POST -H "$J" -d '{"entityTypeId":2,"filter":{">UF_CRM_ORDER_ID":"3"}}' "$B/crm.item.list"
is "crm.item.list: another operator" "$ST" 400
call -X POST -H "$J" -d '{"entity_type":"LEAD","type":"PHONE","values":["79001234567"]}' "$B/crm.duplicate.findbycomm"
like "findbycomm: by the phone's digits" "$ST $BODY" '^200 \{"result":\{"LEAD":\[12\]\},"time":'
call -X POST -H "$J" -d '{"entity_type":"LEAD","type":"EMAIL","values":["a@b.c"]}' "$B/crm.duplicate.findbycomm"
like "findbycomm: none is []" "$BODY" '^\{"result":\[\],"time":'
call -X POST -H "$J" -d '{"type":"FAX","values":["1"]}' "$B/crm.duplicate.findbycomm"
is "findbycomm: an unknown type" "$ST" 400
call -X POST "$E/_emu/reset"
is "reset clears the crm" "$(curl -s "$E/_emu/crm")" '{"items":[],"comms":[]}'

# --- shutdown while a call hangs and another waits for latency ---------------
emu_config "$E" '{"faults":["hang",{"mode":"none","latency_ms":60000}]}' \
    > /dev/null
curl -s -o /dev/null --max-time 30 "$B/$T?target=DEAL_1" &
c1=$!
sleep 0.2
curl -s -o /dev/null --max-time 30 "$B/$T?target=DEAL_1" &
c2=$!
sleep 0.3
t0=$(date +%s.%N)
kill -TERM "$A_PID"
wait "$A_PID"
rc=$?
t1=$(date +%s.%N)
is "SIGTERM: exit status 0" "$rc" 0
le "SIGTERM: prompt exit with hung connections" \
    "$(python3 -c "print($t1 - $t0)")" 3
wait "$c1" "$c2" 2>/dev/null
if [ -e "$tmp/a.pid" ]; then nok "pid file removed"; else ok "pid file removed"; fi
if grep -rqF -e "$SECRET" -e "$SECRET2" "$tmp/a.log" "$tmp/a.out" \
    "$tmp/a.err"; then
    nok "secrets never in log, stdout or stderr"
else
    ok "secrets never in log, stdout or stderr"
fi
is "stderr empty" "$(cat "$tmp/a.err")" ""

echo "# instance B: --bucket 3 --drain 1"
start_emu b --listen 127.0.0.1:0 --bucket 3 --drain 1 --webhook "1:$SECRET"
E=http://$HTTP
B=$E/rest/1/$SECRET
codes=$(curl -s -w '%{http_code} ' -o "$tmp/b1" -o "$tmp/b2" -o "$tmp/b3" \
    -o "$tmp/b4" -o "$tmp/b5" "$B/$T?target=DEAL_1" "$B/$T?target=DEAL_1" \
    "$B/$T?target=DEAL_1" "$B/$T?target=DEAL_1" "$B/$T?target=DEAL_1")
is "bucket: 5 quick calls, 2 refused" "$codes" "200 200 200 503 503 "
is "bucket: 503 body" "$(cat "$tmp/b5")" \
    "$(err_body QUERY_LIMIT_EXCEEDED 'Too many requests')"
call "$E/_emu/health"
is "control API not counted in the bucket" "$ST" 200
sleep 1.1
call "$B/$T?target=DEAL_1"
is "bucket drains: one call later" "$ST" 200
call "$B/$T?target=DEAL_1"
is "bucket: full again" "$ST" 503
call "$E/rest/1/wrong/$T?target=DEAL_1"
is "bucket: auth checked before the bucket" "$ST" 401
call -X POST "$E/_emu/reset"
call "$B/$T?target=DEAL_1"
is "reset empties the bucket" "$ST" 200
emu_config "$E" '{"bucket":0}' > /dev/null
codes=$(for i in 1 2 3 4 5 6; do
    curl -s -o /dev/null -w '%{http_code} ' "$B/$T?target=DEAL_1"; done)
is "bucket 0 disables the limit" "$codes" "200 200 200 200 200 200 "
kill -INT "$PID"
wait "$PID"
is "SIGINT: exit status 0" "$?" 0

echo "# instance C: any credentials, --require-https, --latency, --self-hosted, --moved-to-https"
start_emu c --listen 127.0.0.1:0 --https-listen 127.0.0.1:0 \
    --cert "$C/server.crt" --key "$C/server.key" --moved-listen 127.0.0.1:0 \
    --moved-to-https --require-https --latency 300 --self-hosted
E=http://$HTTP
S=https://$HTTPS
M=http://$MOVED
call "$E/rest/5/anything/$T?target=DEAL_1"
is "--require-https: plain HTTP refused" "$ST $BODY" \
    "401 $(err_body INVALID_REQUEST 'Https required.')"
t=$(curl -s -o "$tmp/body" -w '%{time_total}' --cacert "$C/ca.crt" \
    "$S/rest/5/anything/$T?target=DEAL_1")
like "no --webhook: any credentials accepted" "$(cat "$tmp/body")" \
    '^\{"result":true,"time":\{.*"date_finish":"[^"]*"\}\}$'
ge "--latency 300" "$t" 0.3
call --cacert "$C/ca.crt" "$S/rest/5//$T?target=DEAL_1"
is "empty secret refused" "$ST" 401
call "$M/rest/5/anything/$T?target=DEAL_1"
is "--moved-to-https: Location" "$(header Location)" \
    "$S/rest/5/anything/$T?target=DEAL_1"
kill "$PID"
wait "$PID"

echo "# instance O: an OAuth application (ref 1.2, 1.3, 2.6)"
start_emu o --listen 127.0.0.1:0 --oauth-app "app.1:$SECRET2" \
    --token-ttl 100 --member-id m1
E=http://$HTTP
pair() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
call -X POST -d '{}' "$E/_emu/oauth/issue"
AT=$(pair access_token <<< "$BODY")
RT=$(pair refresh_token <<< "$BODY")
like "issue: a pair for member m1" "$BODY" '"member_id":"m1"'
call -d "auth=$AT&target=DEAL_1" "$E/rest/$T"
like "auth= accepted" "$ST $BODY" '^200 \{"result":true'
call -d "access_token=$AT&target=DEAL_1" "$E/rest/$T"
is "access_token= accepted" "$ST" 200
call -H "Authorization: Bearer $AT" "$E/rest/$T?target=DEAL_1"
is "Bearer accepted" "$ST" 200
call -d "auth=nope&target=DEAL_1" "$E/rest/$T"
is "unknown token" "$ST $BODY" "401 $(err_body invalid_token \
'The access token provided is invalid')"
call -d "auth=$AT&CODE=paid&OWNER_TYPE_ID=2&OWNER_ID=5" "$E/rest/$T.execute"
is "execute: unregistered" "$ST $BODY" \
    "400 $(err_body '' 'Trigger with code paid is not registered.')"
call -d "auth=$AT&CODE=paid&NAME=Paid" "$E/rest/$T.add"
is "add in application context" "$ST" 200
call -d "auth=$AT&code=paid&owner_type_id=2&owner_id=5" "$E/rest/$T.execute"
is "execute (key case ignored)" "$ST" 200
call -d "auth=$AT&CODE=paid&OWNER_TYPE_ID=999&OWNER_ID=5" "$E/rest/$T.execute"
is "execute: bad OWNER_TYPE_ID" "$ST $BODY" \
    "400 $(err_body '' 'Incorrect parameter OWNER_TYPE_ID.')"
call -d "auth=$AT&CODE=paid&OWNER_TYPE_ID=2&OWNER_ID=0" "$E/rest/$T.execute"
is "execute: bad OWNER_ID" "$ST $BODY" \
    "400 $(err_body '' 'Incorrect parameter OWNER_ID.')"
call -X POST "$E/_emu/oauth/expire"
call -d "auth=$AT&target=DEAL_1" "$E/rest/$T"
is "expired token" "$ST $BODY" "401 $(err_body expired_token \
'The access token provided has expired')"
Q="grant_type=refresh_token&client_id=app.1&refresh_token=$RT"
call "$E/oauth/token/?$Q&client_secret=wrong"
is "token: wrong client secret" "$ST" 401
call -d "$Q&client_secret=$SECRET2" "$E/oauth/token/"
like "token: refreshed by POST" "$ST $BODY" '^200 .*"refresh_token"'
AT2=$(pair access_token <<< "$BODY")
call "$E/oauth/token/?$Q&client_secret=$SECRET2"
is "token: a used refresh token is refused" "$ST $BODY" \
    "400 $(err_body invalid_grant 'Invalid grant')"
call -d "auth=$AT2&target=DEAL_1" "$E/rest/$T"
is "the new access token works" "$ST" 200
call "$E/_emu/oauth"
like "oauth view counts one refresh" "$BODY" '"refreshes":1,'
unlike "no token or secret in the call log" "$(curl -s "$E/_emu/calls")" \
    "$AT|$RT|$AT2|$SECRET2"
kill "$PID"
wait "$PID"

echo "# bad usage"
"$PYTHON" "$emu" --https-listen 127.0.0.1:0 > /dev/null 2>&1
is "--https-listen without --cert refused" "$?" 1
"$PYTHON" "$emu" --webhook nocolon > /dev/null 2>&1
is "malformed --webhook refused" "$?" 1

echo
echo "selftest: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
