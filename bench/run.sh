#!/bin/bash
# make bench: b24trigger beside nginx's own proxy_pass, in the same run,
# against the same fake portal (an nginx server answering like Bitrix24),
# with wrk.  Reports requests/s, latency percentiles and the ratios.
# The queue scenario: durable enqueues per second (202 after fsync) and
# the rate at which the workers then deliver them to the same portal.
#
#   BENCH_TIME=10s BENCH_CONN=64 BENCH_THREADS=2 make bench

set -eu

module=$1
nginx=$2
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/build/bench
time=${BENCH_TIME:-10s}
conn=${BENCH_CONN:-64}
threads=${BENCH_THREADS:-2}
workers=${BENCH_WORKERS:-1}

rm -rf "$dir"
mkdir -p "$dir"

port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

front=$(port)
portal=$(port)
secret=$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
token=$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')

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

    # the bucket out of the way: the fake portal has none
    b24trigger_portal main http://127.0.0.1:$portal/rest/1/$secret/
                      rate=1000000r/s burst=1000000;
    b24trigger_queue $dir/spool concurrency=64;

    # the fake portal: what Bitrix24 answers to crm.automation.trigger
    server {
        listen 127.0.0.1:$portal;
        location /rest/ {
            default_type application/json;
            return 200 '{"result":true,"time":{"start":1,"finish":1}}';
        }
    }

    server {
        listen 127.0.0.1:$front;

        # b24trigger: verify a token, map, call the portal
        location ~ ^/b24/(?<deal>[0-9]+)\$ {
            b24trigger_pass main;
            b24trigger_verify token header=X-Token;
            b24trigger_secret $token;
            b24trigger_target DEAL_\$deal;
            b24trigger_code bench;
        }

        # the same, queued: 202 once on disk, delivered by the workers
        location ~ ^/queue/(?<qdeal>[0-9]+)\$ {
            b24trigger_pass main;
            b24trigger_verify token header=X-Token;
            b24trigger_secret $token;
            b24trigger_target DEAL_\$qdeal;
            b24trigger_code bench;
            b24trigger_delivery queue;
        }

        # the baseline: nginx's own proxy to the same portal
        location /proxy/ {
            proxy_pass http://portal/rest/1/$secret/crm.automation.trigger/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
CONF

cat > "$dir/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"type":"payment.succeeded","data":{"id":"pi_123","amount":4200}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Token"] = "$token"
LUA

"$nginx" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
trap 'kill -QUIT $(cat "$dir/nginx.pid") 2>/dev/null || true' EXIT
sleep 0.5

check=$(curl -s -X POST -H "X-Token: $token" -d '{}' "http://127.0.0.1:$front/b24/57")
echo "check: $check"

run() {
    local name=$1 path=$2
    wrk -t"$threads" -c"$conn" -d"$time" --latency -s "$dir/post.lua" \
        "http://127.0.0.1:$front$path" > "$dir/$name.txt"
    rss=$(ps -o rss= --ppid "$(cat "$dir/nginx.pid")" | awk '{s+=$1} END {print s}')
    echo "$rss" > "$dir/$name.rss"
}

# warm-up, then each side twice, interleaved
wrk -t1 -c8 -d2s -s "$dir/post.lua" "http://127.0.0.1:$front/b24/1" > /dev/null
wrk -t1 -c8 -d2s -s "$dir/post.lua" "http://127.0.0.1:$front/proxy/1" > /dev/null

run b24-1 /b24/57
run proxy-1 /proxy/57
run b24-2 /b24/57
run proxy-2 /proxy/57

# queue: enqueue under load, then wait until the workers drained it
pending() {
    find "$dir/spool/queue" "$dir/spool/claim" -type f -name '*.json' \
        | wc -l
}

start=$(date +%s.%N)
run queue /queue/57
enq_end=$(date +%s.%N)
while [ "$(pending)" -gt 0 ]; do sleep 0.05; done
end=$(date +%s.%N)
echo "$start $enq_end $end" > "$dir/queue.time"

python3 - "$dir" <<'PY'
import re, sys
d = sys.argv[1]

def parse(name):
    t = open("%s/%s.txt" % (d, name)).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    lat = {}
    for p in ("50%", "99%"):
        m = re.search(r"\s%s\s+([\d.]+)(us|ms|s)" % p, t)
        v = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
        lat[p] = v
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    rss = int(open("%s/%s.rss" % (d, name)).read().strip() or 0)
    return rps, lat["50%"], lat["99%"], int(non2xx.group(1)) if non2xx else 0, rss

rows = {}
for side in ("b24", "proxy"):
    r = [parse("%s-%d" % (side, i)) for i in (1, 2)]
    rows[side] = tuple(max(x[k] for x in r) if k == 0 else
                       (sum(x[k] for x in r) / 2) for k in range(5))

print("%-12s %12s %10s %10s %8s %10s" % ("", "req/s", "p50 ms", "p99 ms",
                                         "non-2xx", "RSS kB"))
for side, label in (("b24", "b24trigger"), ("proxy", "proxy_pass")):
    r = rows[side]
    print("%-12s %12.0f %10.3f %10.3f %8d %10d" % (label, r[0], r[1], r[2],
                                                   r[3], r[4]))
b, p = rows["b24"], rows["proxy"]
print("ratio b24trigger/proxy_pass: throughput %.2f, p50 %.2f, p99 %.2f"
      % (b[0] / p[0], b[1] / p[1], b[2] / p[2]))

q = parse("queue")
t = open("%s/queue.txt" % d).read()
total = int(re.search(r"(\d+) requests in", t).group(1))
start, enq_end, end = map(float, open("%s/queue.time" % d).read().split())
queued = total - q[3]
print()
print("%-12s %12s %10s %10s %8s %10s" % ("", "req/s", "p50 ms", "p99 ms",
                                         "non-2xx", "RSS kB"))
print("%-12s %12.0f %10.3f %10.3f %8d %10d" % ("sync", b[0], b[1], b[2],
                                               b[3], b[4]))
print("%-12s %12.0f %10.3f %10.3f %8d %10d" % ("queue", q[0], q[1], q[2],
                                               q[3], q[4]))
print("queue: %d durable enqueues (write+fsync+rename+fsync dir), "
      "%.0f/s; all delivered %.1f s after the load, delivery rate %.0f/s"
      % (queued, q[0], end - enq_end, queued / (end - start)))
PY
