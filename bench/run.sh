#!/bin/bash
# make bench: b24trigger beside nginx's own proxy_pass (LIMIT), in the
# same run, against the same fake portal (an nginx server answering like
# Bitrix24), with wrk, all on loopback.  Every request carries the same
# ~1 KB Stripe-style event with a valid Stripe-Signature.  Scenarios:
#
#   LIMIT  proxy_pass of the event to the fast portal, keep-alive upstream
#   sync   b24trigger_verify stripe, target from a b24trigger_field
#   queue  durable enqueues per second (202 after fsync), then the rate
#          at which the workers deliver them to the same portal
#   slow   a portal answering after 500 ms (tools/b24emu.py --latency),
#          BENCH_SLOW_CONN connections: requests/s against the ideal
#          connections / 0.5 s
#
# For each: requests/s, p50 and p99 latency, the workers' RSS before and
# at the peak of the load, and the ratio to LIMIT.
#
#   BENCH_TIME=10s BENCH_CONN=64 BENCH_THREADS=2 BENCH_WORKERS=1 make bench

set -eu

module=$1
nginx=$2
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/build/bench
time=${BENCH_TIME:-10s}
conn=${BENCH_CONN:-64}
threads=${BENCH_THREADS:-2}
workers=${BENCH_WORKERS:-1}
slow_conn=${BENCH_SLOW_CONN:-64}
slow_ms=500

rm -rf "$dir"
mkdir -p "$dir"

port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

front=$(port)
portal=$(port)
slow=$(port)
secret=$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
whsec=whsec_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')

# the event and its signature: t=NOW,v1=HMAC-SHA256(whsec, "NOW.BODY")

python3 - "$dir" "$whsec" <<'PY'
import hashlib, hmac, json, sys, time
d, key = sys.argv[1], sys.argv[2]
event = {
    "id": "evt_3OqZbE2eZvKYlo2C1Xb9Qm7a", "object": "event",
    "api_version": "2023-10-16", "created": 1700000000,
    "type": "payment_intent.succeeded", "livemode": False,
    "pending_webhooks": 1,
    "request": {"id": "req_Zt1yJrG1kS8b2x",
                "idempotency_key": "8c3f0f6e-5b7d-4b8e-9d2a-1f6c7e0a9b3d"},
    "data": {"object": {
        "id": "pi_3OqZbE2eZvKYlo2C1kD7sA8x", "object": "payment_intent",
        "amount": 420000, "amount_received": 420000, "currency": "eur",
        "capture_method": "automatic", "confirmation_method": "automatic",
        "customer": "cus_PfG8rVj2Wq1xYz",
        "description": "Order 57: annual plan",
        "latest_charge": "ch_3OqZbE2eZvKYlo2C1gH5tN2p",
        "payment_method": "pm_1OqZb92eZvKYlo2CkW8cJ4rL",
        "payment_method_types": ["card"],
        "receipt_email": "buyer@example.com",
        "metadata": {"deal_id": "57", "order": "A-2024-0057",
                     "source": "checkout"},
        "shipping": None, "status": "succeeded",
        "created": 1700000000}}}
body = json.dumps(event, separators=(",", ":"))
body += " " * max(0, 1024 - len(body))
ts = str(int(time.time()))
sig = hmac.new(key.encode(), (ts + "." + body).encode(),
               hashlib.sha256).hexdigest()
open(d + "/event.json", "w").write(body)
open(d + "/event.sig", "w").write("t=%s,v1=%s" % (ts, sig))
PY

cat > "$dir/nginx.conf" <<CONF
load_module $module;
worker_processes $workers;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;

    upstream portal { server 127.0.0.1:$portal; keepalive 64; }

    # the bucket out of the way: the fake portals have none
    b24trigger_portal main http://127.0.0.1:$portal/rest/1/$secret/
                      rate=1000000r/s burst=1000000;
    b24trigger_portal slow http://127.0.0.1:$slow/rest/1/$secret/
                      rate=1000000r/s burst=1000000 timeout=10s;
    b24trigger_queue $dir/spool concurrency=64;

    b24trigger_field \$bench_deal data.object.metadata.deal_id;

    # the fake portal: what Bitrix24 answers to crm.automation.trigger
    server {
        listen 127.0.0.1:$portal;
        keepalive_requests 1000000;
        location /rest/ {
            default_type application/json;
            return 200 '{"result":true,"time":{"start":1,"finish":1}}';
        }
    }

    server {
        listen 127.0.0.1:$front;
        keepalive_requests 1000000;

        # b24trigger: verify the Stripe signature, map a body field, call
        # (the signature is made once: tolerance= lets it stay valid)
        location = /b24 {
            b24trigger_pass main;
            b24trigger_verify stripe tolerance=1d;
            b24trigger_secret $whsec;
            b24trigger_target DEAL_\$bench_deal;
            b24trigger_code bench;
        }

        # the same, queued: 202 once on disk, delivered by the workers
        location = /queue {
            b24trigger_pass main;
            b24trigger_verify stripe tolerance=1d;
            b24trigger_secret $whsec;
            b24trigger_target DEAL_\$bench_deal;
            b24trigger_code bench;
            b24trigger_delivery queue;
        }

        # the same, to a portal that takes 500 ms to answer
        location = /slow {
            b24trigger_pass slow;
            b24trigger_verify stripe tolerance=1d;
            b24trigger_secret $whsec;
            b24trigger_target DEAL_\$bench_deal;
            b24trigger_code bench;
        }

        # LIMIT: nginx's own proxy to the same portal
        location = /proxy {
            proxy_pass http://portal/rest/1/$secret/crm.automation.trigger;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
CONF

cat > "$dir/post.lua" <<LUA
local f = io.open("$dir/event.json", "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
f = io.open("$dir/event.sig", "rb")
wrk.headers["Stripe-Signature"] = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
LUA

python3 "$root/tools/b24emu.py" --listen 127.0.0.1:$slow --bucket 0 \
    --latency $slow_ms --max-calls 1000 --pid-file "$dir/emu.pid" \
    > "$dir/emu.out" 2> "$dir/emu.err" &

"$nginx" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
trap 'kill -QUIT $(cat "$dir/nginx.pid") 2>/dev/null || true;
      kill $(cat "$dir/emu.pid" 2>/dev/null) 2>/dev/null || true' EXIT

for i in $(seq 50); do
    grep -q ready "$dir/emu.out" 2>/dev/null && [ -s "$dir/nginx.pid" ] \
        && break
    sleep 0.1
done

for path in /b24 /slow /proxy; do
    check=$(curl -s -H "Stripe-Signature: $(cat "$dir/event.sig")" \
                 -H "Content-Type: application/json" \
                 --data-binary @"$dir/event.json" \
                 "http://127.0.0.1:$front$path")
    echo "check $path: $check"
done

rss() {
    ps -o rss= --ppid "$(cat "$dir/nginx.pid")" | awk '{s+=$1} END {print s}'
}

# wrk, with the workers' RSS before and, sampled, at the peak

run() {
    local name=$1 path=$2 c=${3:-$conn} peak=0 r pid
    rss > "$dir/$name.rss0"
    wrk -t"$threads" -c"$c" -d"$time" --latency -s "$dir/post.lua" \
        "http://127.0.0.1:$front$path" > "$dir/$name.txt" &
    pid=$!
    while [ -d /proc/$pid ] \
          && ! grep -qs Requests/sec "$dir/$name.txt"; do
        r=$(rss)
        if [ "$r" -gt "$peak" ]; then peak=$r; fi
        sleep 0.5
    done
    wait $pid
    echo "$peak" > "$dir/$name.rss"
}

# warm-up, then each side twice, interleaved
wrk -t1 -c8 -d2s -s "$dir/post.lua" "http://127.0.0.1:$front/b24" > /dev/null
wrk -t1 -c8 -d2s -s "$dir/post.lua" "http://127.0.0.1:$front/proxy" \
    > /dev/null

run sync-1 /b24
run limit-1 /proxy
run sync-2 /b24
run limit-2 /proxy

# queue: enqueue under load, then wait until the workers drained it
pending() {
    find "$dir/spool/queue" "$dir/spool/claim" -type f -name '*.json' \
        | wc -l
}

start=$(date +%s.%N)
run queue /queue
enq_end=$(date +%s.%N)
while [ "$(pending)" -gt 0 ]; do sleep 0.05; done
end=$(date +%s.%N)
echo "$start $enq_end $end" > "$dir/queue.time"

run slow /slow "$slow_conn"

alerts=$(grep -c '\[alert\]\|\[crit\]\|\[emerg\]' "$dir/error.log" || true)

python3 - "$dir" "$slow_conn" "$slow_ms" "$conn" "$alerts" <<'PY'
import re, sys
d = sys.argv[1]
slow_conn, slow_ms, conn = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
alerts = int(sys.argv[5])

def parse(name):
    t = open("%s/%s.txt" % (d, name)).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    lat = {}
    for p in ("50%", "99%"):
        m = re.search(r"\s%s\s+([\d.]+)(us|ms|s)" % p, t)
        lat[p] = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    err = re.search(r"Socket errors: .*", t)
    total = int(re.search(r"(\d+) requests in", t).group(1))
    rss0 = int(open("%s/%s.rss0" % (d, name)).read().strip() or 0)
    rss = int(open("%s/%s.rss" % (d, name)).read().strip() or 0)
    return {"rps": rps, "p50": lat["50%"], "p99": lat["99%"],
            "bad": int(bad.group(1)) if bad else 0, "total": total,
            "err": err.group(0) if err else "", "rss0": rss0, "rss": rss}

def best(side):
    r = [parse("%s-%d" % (side, i)) for i in (1, 2)]
    b = max(r, key=lambda x: x["rps"])
    out = dict(b)
    out["p50"] = sum(x["p50"] for x in r) / 2
    out["p99"] = sum(x["p99"] for x in r) / 2
    out["bad"] = sum(x["bad"] for x in r)
    out["rss0"] = min(x["rss0"] for x in r)
    out["rss"] = max(x["rss"] for x in r)
    return out

lim, syn = best("limit"), best("sync")
q, s = parse("queue"), parse("slow")
start, enq_end, end = map(float, open("%s/queue.time" % d).read().split())
queued = q["total"] - q["bad"]
drain = queued / (end - start) if end > start else 0
ideal = slow_conn * 1000.0 / slow_ms

print("%-22s %9s %9s %9s %8s %9s %9s %7s" % ("", "req/s", "p50 ms",
      "p99 ms", "non-2xx", "RSS0 kB", "RSS kB", "x LIMIT"))

def row(label, r, ratio):
    print("%-22s %9.0f %9.3f %9.3f %8d %9d %9d %7s" % (label, r["rps"],
          r["p50"], r["p99"], r["bad"], r["rss0"], r["rss"], ratio))

row("LIMIT proxy_pass", lim, "1.00")
row("sync stripe+field", syn, "%.2f" % (syn["rps"] / lim["rps"]))
row("queue enqueue", q, "%.2f" % (q["rps"] / lim["rps"]))
print("%-22s %9.0f %9s %9s %8s %9s %9s %7s" % ("queue drain", drain, "",
      "", "", "", "", "%.2f" % (drain / lim["rps"])))
row("slow portal %dc" % slow_conn, s, "%.2f" % (s["rps"] / lim["rps"]))
print()
print("sync/LIMIT: requests/s %.2f (target >= 0.80), p99 %.2f (target "
      "<= 1.50)" % (syn["rps"] / lim["rps"], syn["p99"] / lim["p99"]))
print("slow portal: %.1f req/s of the ideal %.0f/s (%d connections / "
      "%d ms): %.2f (target >= 0.90)"
      % (s["rps"], ideal, slow_conn, slow_ms, s["rps"] / ideal))
grow = max(0, s["rss"] - s["rss0"])
print("memory: RSS %d kB before the slow run, %d kB at its peak with %d "
      "webhooks in flight: %.1f kB each (target <= 64)"
      % (s["rss0"], s["rss"], slow_conn, grow / float(slow_conn)))
grow = max(0, syn["rss"] - syn["rss0"])
print("memory: sync, %d kB before, %d kB at the peak with %d in flight: "
      "%.1f kB each" % (syn["rss0"], syn["rss"], conn, grow / float(conn)))
print("queue: %d durable enqueues (write+fsync+rename+fsync dir), "
      "%.0f/s; all delivered %.1f s after the load, overall %.0f/s"
      % (queued, q["rps"], end - enq_end, drain))
print("error log: %d [alert]/[crit]/[emerg] lines" % alerts)
for name, r in (("LIMIT", lim), ("sync", syn), ("queue", q), ("slow", s)):
    if r["err"]:
        print("%s: %s" % (name, r["err"]))
PY
