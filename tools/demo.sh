#!/bin/bash
# make demo: the bundled Bitrix24 portal emulator, nginx with the module
# and nginx.conf.example, one signed webhook; prints what the sender got
# and what the portal received, then stops what it started.
#
# Works from any clone: the running files (spool, logs, secrets) go to a
# fresh folder under /tmp that nginx's worker user can enter (a clone
# under /root or in a mktemp -d folder is not), linked as build/demo.
# Every wait is bounded; a failed start prints the error-log lines.

set -eu

module=$1
nginx=$2
root=$(cd "$(dirname "$0")/.." && pwd)

old=$(readlink "$root/build/demo" 2>/dev/null || true)
case "$old" in /tmp/b24trigger-demo.*) rm -rf "$old" ;; esac
rm -rf "$root/build/demo"
mkdir -p "$root/build"

dir=$(mktemp -d /tmp/b24trigger-demo.XXXXXX)
chmod 711 "$dir"
ln -s "$dir" "$root/build/demo"

# every curl of the demo: bounded
CURL=(curl -s --connect-timeout 3 --max-time 15)

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

fail() {
    echo "!! $*" >&2
    if [ -s "$dir/error.log" ]; then
        echo "!! the error log says:" >&2
        grep -E '\[(emerg|alert|crit|error)\]' "$dir/error.log" | tail -5 \
            | sed 's/^/   /' >&2 || true
    fi
    exit 1
}

secret=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' | cut -c1-16)
token=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
port=$(free_port)

cleanup() {
    if [ -f "$dir/nginx.pid" ]; then
        kill -QUIT "$(cat "$dir/nginx.pid")" 2>/dev/null || true
        for i in $(seq 1 50); do
            [ -f "$dir/nginx.pid" ] || break
            sleep 0.1
        done
        [ -f "$dir/nginx.pid" ] \
            && kill -KILL "$(cat "$dir/nginx.pid")" 2>/dev/null || true
    fi
    [ -n "${emu_pid:-}" ] && kill "$emu_pid" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT

echo "== starting the Bitrix24 portal emulator (tools/b24emu.py)"
python3 "$root/tools/b24emu.py" --listen 127.0.0.1:0 --webhook "1:$secret" \
    --log "$dir/portal-calls.log" > "$dir/emu.out" 2> "$dir/emu.err" &
emu_pid=$!

for i in $(seq 1 100); do
    grep -q 'b24emu ready' "$dir/emu.out" 2>/dev/null && break
    kill -0 "$emu_pid" 2>/dev/null || break
    sleep 0.1
done
emu=$(sed -n 's/.*http=\([^ ]*\).*/\1/p' "$dir/emu.out")
if [ -z "$emu" ]; then
    sed 's/^/   /' "$dir/emu.err" >&2
    fail "the portal emulator did not start (above: what it printed)"
fi
echo "   portal at http://$emu/rest/1/***/"

# the secrets nginx.conf.example reads, as an operator would create them
umask 077
echo "http://$emu/rest/1/$secret/" > "$dir/portal.url"
echo "$token" > "$dir/deal-token"
stripe_secret="whsec_$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
echo "$stripe_secret" > "$dir/stripe"
echo "$token" > "$dir/lead-token"
echo "old-$token" > "$dir/lead-token.old"
umask 022

"$root/tools/example-conf.sh" "$module" "$dir" "$port" > "$dir/nginx.conf"

echo "== nginx -t with nginx.conf.example"
"$nginx" -t -q -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" \
    || fail "nginx -t refused the configuration"

echo "== starting nginx on 127.0.0.1:$port"
"$nginx" -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" \
    || fail "nginx did not start"

# serving means: the master is up, its workers stay up, the port answers
up=
for i in $(seq 1 50); do
    if [ -f "$dir/nginx.pid" ] \
        && [ "$(pgrep -c -P "$(cat "$dir/nginx.pid")" 2>/dev/null)" -ge 2 ] \
        && "${CURL[@]}" -o /dev/null "http://127.0.0.1:$port/b24trigger/status"
    then
        up=1
        break
    fi
    sleep 0.1
done
[ -n "$up" ] || fail "nginx does not serve on 127.0.0.1:$port"
if grep -qE '\[(emerg|alert)\]' "$dir/error.log"; then
    fail "nginx's workers fail"
fi

echo "== a payment provider sends: POST /hooks/deal/57 with its token"
echo -n "   reply: "
"${CURL[@]}" -w ' (HTTP %{http_code})\n' -X POST \
    -H "X-Webhook-Token: $token" -H 'Content-Type: application/json' \
    -d '{"event":"payment.succeeded","amount":4200}' \
    "http://127.0.0.1:$port/hooks/deal/57"

echo "== Stripe sends a paid Checkout Session for deal 58, signed"
event='{"id":"evt_demo_1","type":"checkout.session.completed","data":{"object":{"payment_status":"paid","metadata":{"deal_id":"58"}}}}'
ts=$(date +%s)
sig=$(printf '%s.%s' "$ts" "$event" | openssl dgst -sha256 -hmac "$stripe_secret" -r | cut -d' ' -f1)
for attempt in first again; do
    echo -n "   reply ($attempt): "
    "${CURL[@]}" -w ' (HTTP %{http_code})\n' -X POST \
        -H "Stripe-Signature: t=$ts,v1=$sig" -H 'Content-Type: application/json' \
        -d "$event" "http://127.0.0.1:$port/hooks/stripe"
done
for i in $(seq 1 50); do
    [ "$("${CURL[@]}" "http://$emu/_emu/calls" | grep -c DEAL_58)" != 0 ] && break
    sleep 0.1
done

echo "== the same with a wrong token"
echo -n "   reply: "
"${CURL[@]}" -w ' (HTTP %{http_code})\n' -X POST \
    -H "X-Webhook-Token: wrong" -d '{}' \
    "http://127.0.0.1:$port/hooks/deal/58"

echo "== what the portal received"
"${CURL[@]}" "http://$emu/_emu/calls" | python3 -c '
import json, sys
calls = json.load(sys.stdin)
for c in calls:
    print("   %s %s -> target=%s code=%s (HTTP %s)" % (c["http_method"],
          c["path"], c["target"], c["code"], c["status"]))
print("   %d call(s); the repeat and the wrong token reached nothing" % len(calls))
'

echo "== the status location"
echo -n "   "; "${CURL[@]}" "http://127.0.0.1:$port/b24trigger/status" | head -c 300; echo " ..."

echo "== the access log"
sed 's/^/   /' "$dir/b24trigger.log"

if grep -q "$secret" "$dir"/*.log; then
    echo "!! the portal secret leaked into a log" >&2
    exit 1
fi
echo "== done; files in build/demo/ ($dir), stopping nginx and the emulator"
