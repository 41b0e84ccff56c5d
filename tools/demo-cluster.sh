#!/bin/bash
# make demo-cluster: two nginx nodes with the module share one Redis
# (the queue as a Redis Stream, de-duplication, the portal's bucket) in
# front of the bundled portal emulator.  One signed event is accepted by
# node A while the portal hangs; node A is then killed (kill -9 of its
# master and workers) with the event not delivered; node B takes the
# event over after the visibility timeout and delivers it.  Prints what
# the sender got, what the portal received and what each node logged,
# then stops what it started.
#
# Every wait is bounded; a failed start prints the error-log lines.

set -eu

module=$1
nginx=$2
root=$(cd "$(dirname "$0")/.." && pwd)
visibility=5

old=$(readlink "$root/build/demo-cluster" 2>/dev/null || true)
case "$old" in /tmp/b24trigger-demo-cluster.*) rm -rf "$old" ;; esac
rm -rf "$root/build/demo-cluster"
mkdir -p "$root/build"

dir=$(mktemp -d /tmp/b24trigger-demo-cluster.XXXXXX)
chmod 711 "$dir"
ln -s "$dir" "$root/build/demo-cluster"

CURL=(curl -s --connect-timeout 3 --max-time 15)

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

fail() {
    echo "!! $*" >&2
    for n in a b; do
        if [ -s "$dir/$n/error.log" ]; then
            echo "!! node $n's error log says:" >&2
            grep -E '\[(emerg|alert|crit|error)\]' "$dir/$n/error.log" \
                | tail -5 | sed 's/^/   /' >&2 || true
        fi
    done
    exit 1
}

rand() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

secret=$(rand 8)
stripe_secret="whsec_$(rand 18)"
redis_password=$(rand 16)
rport=$(free_port)

stop_node() {
    local pidf=$1/nginx.pid
    [ -f "$pidf" ] || return 0
    kill -QUIT "$(cat "$pidf")" 2>/dev/null || true
    for i in $(seq 1 50); do
        [ -f "$pidf" ] || return 0
        sleep 0.1
    done
    kill -KILL "$(cat "$pidf")" 2>/dev/null || true
}

cleanup() {
    stop_node "$dir/a"
    stop_node "$dir/b"
    [ -n "${redis_pid:-}" ] && kill "$redis_pid" 2>/dev/null || true
    [ -n "${emu_pid:-}" ] && kill "$emu_pid" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT

umask 077
echo "$redis_password" > "$dir/redis-password"
printf 'requirepass %s\n' "$redis_password" > "$dir/redis.conf"
umask 022

echo "== starting Redis on 127.0.0.1:$rport (appendonly yes, appendfsync always)"
mkdir -p "$dir/redis"
redis-server "$dir/redis.conf" --port "$rport" --bind 127.0.0.1 --save '' \
    --appendonly yes --appendfsync always --dir "$dir/redis" \
    --daemonize no --logfile "$dir/redis/redis.log" &
redis_pid=$!
for i in $(seq 1 50); do
    REDISCLI_AUTH=$redis_password redis-cli -p "$rport" ping 2>/dev/null \
        | grep -q PONG && break
    kill -0 "$redis_pid" 2>/dev/null || fail "redis-server did not start"
    sleep 0.1
done

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
[ -n "$emu" ] || fail "the portal emulator did not start"
echo "   portal at http://$emu/rest/1/***/"

emu_config() {
    "${CURL[@]}" -o /dev/null -X POST -d "$1" "http://$emu/_emu/config"
}

umask 077
echo "http://$emu/rest/1/$secret/" > "$dir/portal.url"
echo "$stripe_secret" > "$dir/stripe"
umask 022

node_conf() {
    local n=$1 port=$2
    mkdir -p "$dir/$n"
    cat <<EOF
load_module "$module";
pid "$dir/$n/nginx.pid";
error_log "$dir/$n/error.log" info;
worker_processes 2;
events { worker_connections 1024; }
http {
    client_body_temp_path $dir/$n/body;
    proxy_temp_path $dir/$n/proxy;
    fastcgi_temp_path $dir/$n/fastcgi;
    uwsgi_temp_path $dir/$n/uwsgi;
    scgi_temp_path $dir/$n/scgi;
    access_log off;

    # both nodes: the same Redis, database and prefix
    b24trigger_cluster redis://127.0.0.1:$rport/0
                       password=file:$dir/redis-password
                       prefix=demo: timeout=1s;
    b24trigger_portal crm file:$dir/portal.url rate=2r/s burst=50;
    b24trigger_dedup_zone events:1m ttl=24h;
    b24trigger_field \$stripe_event id;
    b24trigger_field \$stripe_deal  data.object.metadata.deal_id;

    b24trigger_queue redis visibility=${visibility}s backoff=1s;

    log_format b24 '\$time_local node $n \$status result=\$b24trigger_result target=\$b24trigger_target code=\$b24trigger_code';

    server {
        listen 127.0.0.1:$port;
        access_log $dir/$n/b24trigger.log b24;

        location = /hooks/stripe {
            b24trigger_pass crm;
            b24trigger_verify stripe;
            b24trigger_secret file:$dir/stripe;
            b24trigger_target DEAL_\$stripe_deal;
            b24trigger_code stripe_paid;
            b24trigger_delivery queue;
            b24trigger_dedup events \$stripe_event;
        }

        location = /b24trigger/status { b24trigger_status; }
    }
}
EOF
}

start_node() {
    local n=$1 port=$2
    node_conf "$n" "$port" > "$dir/$n/nginx.conf"
    "$nginx" -t -q -p "$dir/$n/" -c "$dir/$n/nginx.conf" \
        -e "$dir/$n/error.log" || fail "nginx -t refused node $n's configuration"
    "$nginx" -p "$dir/$n/" -c "$dir/$n/nginx.conf" -e "$dir/$n/error.log" \
        || fail "node $n did not start"
    for i in $(seq 1 50); do
        if [ -f "$dir/$n/nginx.pid" ] \
            && "${CURL[@]}" "http://127.0.0.1:$port/b24trigger/status" \
               | grep -q '"cluster_up":{"[^"]*":1'
        then
            return 0
        fi
        sleep 0.1
    done
    fail "node $n does not serve on 127.0.0.1:$port with the Redis link up"
}

porta=$(free_port)
portb=$(free_port)
mkdir -p "$dir/a" "$dir/b"
echo "== starting node A on 127.0.0.1:$porta (2 workers)"
start_node a "$porta"

echo "== the portal hangs: every call waits and gets no answer"
emu_config '{"mode":"hang"}'

echo "== Stripe sends a paid Checkout Session for deal 58, signed, to node A"
event='{"id":"evt_demo_cluster_1","type":"checkout.session.completed","data":{"object":{"payment_status":"paid","metadata":{"deal_id":"58"}}}}'
ts=$(date +%s)
sig=$(printf '%s.%s' "$ts" "$event" | openssl dgst -sha256 -hmac "$stripe_secret" -r | cut -d' ' -f1)
send() {
    "${CURL[@]}" -w ' (HTTP %{http_code})\n' -X POST \
        -H "Stripe-Signature: t=$ts,v1=$sig" -H 'Content-Type: application/json' \
        -d "$event" "http://127.0.0.1:$1/hooks/stripe"
}
echo -n "   reply from node A: "
send "$porta"

# node A's worker takes the entry from the stream and calls the portal,
# which hangs
for i in $(seq 1 50); do
    [ "$(grep -c DEAL_58 "$dir/portal-calls.log" 2>/dev/null || true)" != 0 ] && break
    sleep 0.1
done
[ "$(grep -c DEAL_58 "$dir/portal-calls.log" 2>/dev/null || true)" != 0 ] \
    || fail "node A did not take the event from the stream"
echo "   node A took the event and is calling the portal"

echo "== starting node B on 127.0.0.1:$portb (2 workers)"
start_node b "$portb"

echo "== the provider retries the same event on node B"
echo -n "   reply from node B: "
send "$portb"

echo "== kill -9 of node A (master and workers) with the event undelivered"
pa=$(cat "$dir/a/nginx.pid")
kill -KILL $(pgrep -P "$pa") "$pa" 2>/dev/null || true
rm -f "$dir/a/nginx.pid"
emu_config '{"mode":"none"}'
killed=$(date +%s)

echo "== node B takes the entry over after the visibility timeout (${visibility}s)"
delivered=
for i in $(seq 1 $(( (visibility + 10) * 10 ))); do
    if "${CURL[@]}" "http://$emu/_emu/calls" | python3 -c '
import json, sys
calls = [c for c in json.load(sys.stdin)
         if c["target"] == "DEAL_58" and c["status"] == 200]
sys.exit(0 if calls else 1)'; then
        delivered=1
        break
    fi
    sleep 0.1
done
[ -n "$delivered" ] || fail "node B did not deliver the event within $((visibility + 10)) s"
echo "   delivered $(( $(date +%s) - killed )) s after node A was killed"

echo "== what the portal received"
"${CURL[@]}" "http://$emu/_emu/calls" | python3 -c '
import json, sys
calls = [c for c in json.load(sys.stdin) if c["status"] is not None]
for c in calls:
    print("   %s %s -> target=%s code=%s (HTTP %s)" % (c["http_method"],
          c["path"], c["target"], c["code"], c["status"]))
ok = [c for c in calls if c["status"] == 200]
print("   %d answered call(s), %d delivered: the event once, the repeat never"
      % (len(calls), len(ok)))
'

echo "== node B's error log: the takeover and the delivery"
grep -E 'taken over|delivered to portal' "$dir/b/error.log" \
    | sed -e 's/^[0-9/]* //' -e 's/^/   /'
grep -q 'delivered to portal' "$dir/b/error.log" \
    || fail "node B's log does not say it delivered the event"

# the stream's depth in the status is read from Redis once a second
for i in $(seq 1 30); do
    "${CURL[@]}" "http://127.0.0.1:$portb/b24trigger/status" \
        | grep -q '"queue_waiting":{"redis":0}' && break
    sleep 0.1
done

echo "== node B's status: the Redis link and the stream"
echo -n "   "; "${CURL[@]}" "http://127.0.0.1:$portb/b24trigger/status" \
    | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(json.dumps({k: v for k, v in s.items()
                  if k.startswith("cluster") or k.startswith("queue")}))'

echo "== the access logs"
grep -h 'result=[a-z]' "$dir/a/b24trigger.log" "$dir/b/b24trigger.log" \
    | sed 's/^/   /' || true

for f in "$dir"/*/*.log "$dir"/redis/redis.log; do
    if grep -q -e "$secret" -e "$redis_password" -e "$stripe_secret" "$f"; then
        echo "!! a secret leaked into $f" >&2
        exit 1
    fi
done
echo "== done; files in build/demo-cluster/ ($dir), stopping the nodes, Redis and the emulator"
