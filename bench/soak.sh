#!/bin/bash
# make soak: a bounded soak on loopback.  For SOAK_TIME (default 60s) a
# steady SOAK_RATE (default 100/s) of mixed webhooks, sync and queued:
# valid ones (each with a target of its own), ones with a wrong token and
# malformed ones, while the portal (tools/b24emu.py) flaps between
# answering, HTTP 500 and reset connections through its control API.
# At the end: the workers' RSS at the start and the end of the load, no
# [alert]/[crit]/[emerg] in the error log, no unexpected status, and every
# webhook answered 200 (sync) or 202 (queued) found delivered in the
# emulator's log.  Exits non-zero otherwise.
#
#   SOAK_TIME=60s SOAK_RATE=100 SOAK_RSS_SLACK=2048 make soak

set -eu

module=$1
nginx=$2
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/build/soak
time=${SOAK_TIME:-60s}
rate=${SOAK_RATE:-100}
slack=${SOAK_RSS_SLACK:-2048}
workers=${SOAK_WORKERS:-2}

case $time in
    *m) secs=$(( ${time%m} * 60 )) ;;
    *s) secs=${time%s} ;;
    *)  secs=$time ;;
esac

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
error_log $dir/error.log info;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/body;

    b24trigger_portal main http://127.0.0.1:$portal/rest/1/$secret/
                      rate=1000000r/s burst=1000000 timeout=2s;
    b24trigger_queue $dir/spool backoff=200ms backoff_max=1s;
    b24trigger_field \$soak_deal deal;

    server {
        listen 127.0.0.1:$front;

        location = /sync {
            b24trigger_pass main;
            b24trigger_verify token header=X-Token;
            b24trigger_secret $token;
            b24trigger_target DEAL_\$soak_deal;
            b24trigger_code soak;
        }

        location = /queue {
            b24trigger_pass main;
            b24trigger_verify token header=X-Token;
            b24trigger_secret $token;
            b24trigger_target DEAL_\$soak_deal;
            b24trigger_code soak;
            b24trigger_delivery queue;
        }
    }
}
CONF

python3 "$root/tools/b24emu.py" --listen 127.0.0.1:$portal \
    --webhook "1:$secret" --bucket 0 --max-calls 1000 \
    --log "$dir/emu.log" --pid-file "$dir/emu.pid" \
    > "$dir/emu.out" 2> "$dir/emu.err" &

for i in $(seq 50); do
    grep -q ready "$dir/emu.out" 2>/dev/null && break
    sleep 0.1
done

"$nginx" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
trap 'kill -QUIT $(cat "$dir/nginx.pid") 2>/dev/null || true;
      kill $(cat "$dir/emu.pid" 2>/dev/null) 2>/dev/null || true' EXIT
sleep 0.5

python3 - "$dir" "$front" "$portal" "$token" "$secs" "$rate" "$slack" <<'PY'
import http.client, json, os, re, subprocess, sys, threading, time

d, front, portal, token = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    sys.argv[4]
secs, rate, slack = float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])

def rss():
    pid = open(d + "/nginx.pid").read().strip()
    out = subprocess.run(["ps", "-o", "rss=", "--ppid", pid],
                         capture_output=True, text=True).stdout
    return sum(int(x) for x in out.split())

def emu(mode):
    c = http.client.HTTPConnection("127.0.0.1", portal, timeout=5)
    c.request("POST", "/_emu/config", json.dumps({"mode": mode}),
              {"Content-Type": "application/json"})
    c.getresponse().read()
    c.close()

# one in ten: 3 sync, 3 queued, 2 with a wrong token, 2 malformed
KINDS = ["sync", "queue", "sync", "bad_token", "queue", "sync",
         "malformed", "queue", "bad_token", "no_field"]
EXPECT = {"sync": (200, 502, 504), "queue": (202,), "bad_token": (401,),
          "malformed": (400,), "no_field": (400, 422)}

lock = threading.Lock()
results = []          # (kind, deal, status)
stop = time.time() + secs
nthreads = 8
period = nthreads / rate

def sender(k):
    conn = None
    i = k
    next_t = time.time()
    while time.time() < stop:
        kind = KINDS[i % len(KINDS)]
        deal = i + 1
        path = "/queue" if kind == "queue" else "/sync"
        hdr = {"Content-Type": "application/json", "X-Token": token}
        body = '{"type":"payment","deal":"%d","pad":"%s"}' % (deal, "x" * 200)
        if kind == "bad_token":
            hdr["X-Token"] = "wrong" + token
        elif kind == "malformed":
            body = '{"type":"payment","deal":"%d",' % deal
        elif kind == "no_field":
            body = '{"type":"payment"}'
        status = 0
        for attempt in (1, 2):
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", front,
                                                      timeout=10)
                conn.request("POST", path, body, hdr)
                r = conn.getresponse()
                r.read()
                status = r.status
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
                break
            except (OSError, http.client.HTTPException):
                if conn:
                    conn.close()
                conn = None
        with lock:
            results.append((kind, deal, status))
        i += nthreads
        next_t += period
        delay = next_t - time.time()
        if delay > 0:
            time.sleep(delay)

def flapper():
    cycle = [("none", 4), ("http500", 2), ("none", 4), ("reset", 2)]
    n = 0
    while time.time() < stop:
        mode, dur = cycle[n % len(cycle)]
        emu(mode)
        n += 1
        end = min(stop, time.time() + dur)
        while time.time() < end:
            time.sleep(0.1)
    emu("none")

threads = [threading.Thread(target=sender, args=(k,)) for k in range(nthreads)]
threads.append(threading.Thread(target=flapper))
for t in threads:
    t.start()

# the start of the load: after the first pools and buffers were made
time.sleep(min(5, secs / 4))
rss_start = rss()

for t in threads:
    t.join()

rss_end = rss()
emu("none")

# queued events still retrying: wait for the spool to empty
def pending():
    n = 0
    for sub in ("queue", "claim"):
        for _, _, files in os.walk(os.path.join(d, "spool", sub)):
            n += sum(1 for f in files if f.endswith(".json"))
    return n

deadline = time.time() + 60
while pending() and time.time() < deadline:
    time.sleep(0.2)
left = pending()
time.sleep(0.5)

delivered = set()
for line in open(d + "/emu.log"):
    try:
        c = json.loads(line)
    except ValueError:
        continue
    if c.get("status") == 200 and c.get("target"):
        delivered.add(c["target"])

fail = []
count = {}
unexpected = []
missing = []
for kind, deal, status in results:
    count[(kind, status)] = count.get((kind, status), 0) + 1
    if status not in EXPECT[kind]:
        unexpected.append((kind, deal, status))
    if (kind, status) in (("sync", 200), ("queue", 202)) \
            and "DEAL_%d" % deal not in delivered:
        missing.append((kind, deal))

print("webhooks sent: %d in %.0f s" % (len(results), secs))
for (kind, status), n in sorted(count.items()):
    print("  %-10s %3d  %6d" % (kind, status, n))

alerts = [l.rstrip() for l in open(d + "/error.log")
          if re.search(r"\[(alert|crit|emerg)\]", l)]
dead = sum(len(f) for _, _, f in os.walk(os.path.join(d, "spool", "dead")))

print("worker RSS: %d kB at the start, %d kB at the end (%+d kB, "
      "allowed %d)" % (rss_start, rss_end, rss_end - rss_start, slack))
print("emulator: %d targets delivered; queue: %d left, %d dead letters"
      % (len(delivered), left, dead))
print("error log: %d [alert]/[crit]/[emerg] lines" % len(alerts))

if rss_end - rss_start > slack:
    fail.append("worker RSS grew by %d kB" % (rss_end - rss_start))
if alerts:
    fail.append("error log: " + "; ".join(alerts[:5]))
if unexpected:
    fail.append("%d unexpected statuses, e.g. %s" % (len(unexpected),
                                                     unexpected[:5]))
if missing:
    fail.append("%d accepted webhooks not delivered, e.g. %s"
                % (len(missing), missing[:5]))
if left or dead:
    fail.append("queue not drained: %d waiting, %d dead" % (left, dead))
if not any(k == "sync" and s == 200 for k, _, s in results) \
        or not any(k == "queue" and s == 202 for k, _, s in results):
    fail.append("no webhook went through")

for f in fail:
    print("FAIL: " + f)
print("soak: " + ("FAIL" if fail else "ok"))
sys.exit(1 if fail else 0)
PY
