#!/usr/bin/env python3
"""make bench: b24trigger beside nginx's own proxy_pass, in the same run.

Everything on loopback, started and stopped here:

  portal  a separate nginx (one worker, no module) answering what Bitrix24
          answers to crm.automation.trigger: the same fast fake portal for
          every side, so that the front nginx's CPU is the relay's alone
  front   nginx with the module, BENCH_WORKERS workers (each count in turn)
  slow    tools/b24emu.py answering after 500 ms

Sides, each wrk -c BENCH_CONN for BENCH_TIME seconds, BENCH_ROUNDS rounds,
interleaved (the order rotates from round to round):

  LIMIT   proxy_pass of the event to the portal, keep-alive upstream
  stripe  b24trigger_verify stripe + one b24trigger_field, a portal call
  hmac    the generic hmac scheme + one b24trigger_field, a portal call
  again   LIMIT once more in the same round: its ratios to LIMIT are the
          bench's own noise, the resolution of every other ratio

Every round is printed, then the median of the rounds: requests/s, p50,
p99, CPU per request (the front workers' time on CPU, from
/proc/PID/schedstat, divided by the requests wrk counted) and each ratio
to LIMIT of the same round.  Then the queue (durable enqueues/s with
their p99, the drain rate), the same for the queue as a Redis Stream
(b24trigger_queue redis, a redis-server with appendfsync always started
here), and the slow portal: memory per webhook in flight, the module's
and proxy_pass's side by side (the workers' private memory, RssAnon;
the shared zones' pages they touch are counted apart: fixed in size,
filled once).  Nothing here is a pass/fail test: the targets are printed
beside the numbers.
"""

import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

module, nginx = sys.argv[1], sys.argv[2]
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
d = os.path.join(root, "build", "bench")
secs = int(os.environ.get("BENCH_TIME", "5").rstrip("s"))
rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
conn = int(os.environ.get("BENCH_CONN", "64"))
threads = int(os.environ.get("BENCH_THREADS", "2"))
worker_counts = [int(w) for w in
                 os.environ.get("BENCH_WORKERS", "1 2").split()]
slow_conn = int(os.environ.get("BENCH_SLOW_CONN", "256"))
# the sync sides unpinned (0), then pinned (1); pinning needs 2 cores
pin_modes = [m == "1" for m in os.environ.get("BENCH_PIN", "0 1").split()
             if m == "0" or os.cpu_count() == 2]
pin = False
only = os.environ.get("BENCH_ONLY", "sync queue cluster slow").split()
slow_ms = 500

shutil.rmtree(d, ignore_errors=True)
os.makedirs(d)


def port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


front, portal, slow, rport = port(), port(), port(), port()
secret = os.urandom(8).hex()
whsec = "whsec_" + os.urandom(16).hex()
hkey = os.urandom(16).hex()

# the event: a 1 024-byte Stripe-style payment_intent.succeeded

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
stripe_sig = "t=%s,v1=%s" % (ts, hmac.new(
    whsec.encode(), (ts + "." + body).encode(), hashlib.sha256).hexdigest())
hmac_sig = hmac.new(hkey.encode(), body.encode(), hashlib.sha256).hexdigest()

with open(d + "/event.json", "w") as f:
    f.write(body)

headers = {
    "stripe": {"Stripe-Signature": stripe_sig},
    "hmac": {"X-Signature": hmac_sig},
    "limit": {},
}
paths = {"limit": "/proxy", "again": "/proxy", "stripe": "/stripe",
         "hmac": "/hmac",
         "queue": "/queue", "slow": "/slow", "slowlimit": "/slowproxy"}
sig_of = {"limit": "stripe", "again": "stripe", "stripe": "stripe",
          "hmac": "hmac",
          "queue": "stripe", "slow": "stripe", "slowlimit": "stripe"}

for name in ("stripe", "hmac"):
    lines = ['local f = io.open("%s/event.json", "rb")' % d,
             'wrk.method = "POST"', "wrk.body = f:read(\"*a\")", "f:close()",
             'wrk.headers["Content-Type"] = "application/json"']
    for k, v in headers[name].items():
        lines.append('wrk.headers["%s"] = "%s"' % (k, v))
    with open("%s/%s.lua" % (d, name), "w") as f:
        f.write("\n".join(lines) + "\n")

# the fast portal: its own nginx, so that its CPU is not the front's

with open(d + "/portal.conf", "w") as f:
    f.write("""
worker_processes 1;
pid %(d)s/portal.pid;
error_log %(d)s/portal-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %(d)s/portal-body;
    server {
        listen 127.0.0.1:%(portal)d backlog=4096;
        keepalive_requests 1000000;
        location /rest/ {
            default_type application/json;
            return 200 '{"result":true,"time":{"start":1,"finish":1}}';
        }
    }
}
""" % {"d": d, "portal": portal})


def front_conf(workers, cluster=False):
    queue = ("b24trigger_cluster redis://127.0.0.1:%d/0 prefix=bench: "
             "timeout=2s;\n    b24trigger_queue redis concurrency=64;"
             % rport if cluster
             else "b24trigger_queue %s/spool concurrency=64;" % d)
    bucket = " bucket=node" if cluster else ""
    return """
load_module %(module)s;
worker_processes %(workers)d;
%(affinity)s
pid %(d)s/nginx.pid;
error_log %(d)s/error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path %(d)s/body;
    proxy_temp_path %(d)s/proxy;

    upstream portal { server 127.0.0.1:%(portal)d; keepalive 64; }
    upstream slowportal { server 127.0.0.1:%(slow)d; keepalive 300; }

    # the bucket out of the way: the fake portals have none
    b24trigger_portal main http://127.0.0.1:%(portal)d/rest/1/%(secret)s/
                      rate=1000000r/s burst=1000000%(bucket)s;
    b24trigger_portal slow http://127.0.0.1:%(slow)d/rest/1/%(secret)s/
                      rate=1000000r/s burst=1000000 timeout=10s%(bucket)s;
    %(queue)s

    b24trigger_field $bench_deal data.object.metadata.deal_id;

    server {
        listen 127.0.0.1:%(front)d backlog=4096;
        keepalive_requests 1000000;

        # the Stripe preset, a body field, a portal call per webhook
        # (the signature is made once: tolerance= keeps it valid)
        location = /stripe {
            b24trigger_pass main;
            b24trigger_verify stripe tolerance=1d;
            b24trigger_secret %(whsec)s;
            b24trigger_target DEAL_$bench_deal;
            b24trigger_code bench;
        }

        # the generic hmac scheme (hex HMAC-SHA256 of the body)
        location = /hmac {
            b24trigger_pass main;
            b24trigger_verify hmac header=X-Signature;
            b24trigger_secret %(hkey)s;
            b24trigger_target DEAL_$bench_deal;
            b24trigger_code bench;
        }

        # queued: 202 once on disk, delivered by the workers
        location = /queue {
            b24trigger_pass main;
            b24trigger_verify stripe tolerance=1d;
            b24trigger_secret %(whsec)s;
            b24trigger_target DEAL_$bench_deal;
            b24trigger_code bench;
            b24trigger_delivery queue;
        }

        # a portal that takes 500 ms to answer
        location = /slow {
            b24trigger_pass slow;
            b24trigger_verify stripe tolerance=1d;
            b24trigger_secret %(whsec)s;
            b24trigger_target DEAL_$bench_deal;
            b24trigger_code bench;
        }

        location = /status { b24trigger_status; }

        # nginx's own proxy to the slow portal: memory side by side
        location = /slowproxy {
            proxy_pass http://slowportal/rest/1/%(secret)s/crm.automation.trigger;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }

        # LIMIT: nginx's own proxy to the same portal
        location = /proxy {
            proxy_pass http://portal/rest/1/%(secret)s/crm.automation.trigger;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
""" % {"module": module, "workers": workers, "d": d, "portal": portal,
       "slow": slow, "secret": secret, "front": front, "whsec": whsec,
       "hkey": hkey, "queue": queue, "bucket": bucket,
       "affinity": ("worker_cpu_affinity %s;"
                    % ("01" if workers == 1 else "01 10")) if pin else ""}


def wait_port(p, what):
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", p), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit("bench: %s did not start on port %d" % (what, p))


def pid_of(name):
    with open("%s/%s.pid" % (d, name)) as f:
        return int(f.read().strip())


def pin_portal(on):
    """the fast portal's worker on the second core, or on both again"""
    for w in workers_of(pid_of("portal")):
        subprocess.run(["taskset", "-a", "-p", "-c", "1" if on else "0,1",
                        str(w)], capture_output=True)


def workers_of(master):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)],
                         capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def cpu_ns(pids):
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/schedstat" % p) as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total


def rss_kb(pids, field="RssAnon"):
    """resident kB of the workers: RssAnon, their private memory (what a
    webhook in flight costs), or RssShmem, the shared zones' pages they
    touched (fixed in size, filled once: the journal's ring, counters)"""
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith(field + ":"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def check(side):
    import urllib.request
    req = urllib.request.Request(
        "http://127.0.0.1:%d%s" % (front, paths[side]), data=body.encode(),
        headers=dict(headers[sig_of[side]], **{
            "Content-Type": "application/json"}))
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return "%d %s" % (r.status, r.read().decode()[:80])
    except Exception as e:
        return "error: %s" % e


def wrk(side, c=None, t=None, sample_rss=False):
    c = c or conn
    t = t or secs
    master = pid_of("nginx")
    pids = workers_of(master)
    rss0 = rss_kb(pids)
    shm0 = rss_kb(pids, "RssShmem")
    cpu0 = cpu_ns(pids)
    p = subprocess.Popen(
        (["taskset", "-c", "1"] if pin and len(pids) == 1 else [])
        + ["wrk", "-t%d" % min(threads, c), "-c%d" % c, "-d%ds" % t,
         "--latency", "-s", "%s/%s.lua" % (d, sig_of[side]),
         "http://127.0.0.1:%d%s" % (front, paths[side])],
        stdout=subprocess.PIPE, text=True)
    peak, shm = rss0, shm0
    while sample_rss and p.poll() is None:
        peak = max(peak, rss_kb(pids))
        shm = max(shm, rss_kb(pids, "RssShmem"))
        time.sleep(0.25)
    out = p.communicate()[0]
    cpu = cpu_ns(pids) - cpu0
    r = parse(out, cpu, rss0, peak)
    r["shm"] = shm - shm0
    return r


def parse(t, cpu, rss0, peak):
    def lat(pct):
        m = re.search(r"\s%s\s+([\d.]+)(us|ms|s)\b" % pct, t)
        return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[
            m.group(2)] if m else float("nan")
    total = int(re.search(r"(\d+) requests in", t).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    err = re.search(r"Socket errors: .*", t)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1)),
            "p50": lat("50%"), "p99": lat("99%"), "total": total,
            "bad": int(bad.group(1)) if bad else 0,
            "err": err.group(0) if err else "",
            "cpu_us": cpu / 1000.0 / total if total else float("nan"),
            "rss0": rss0, "rss": peak}


def redis_depth():
    """events not yet delivered: the stream's entries (new or being
    delivered) and waiting retries, as the module reads them from Redis
    every second (so the drain time is known to a second)"""
    import urllib.request
    with urllib.request.urlopen("http://127.0.0.1:%d/status" % front,
                                timeout=5) as r:
        st = json.load(r)
    return (st.get("queue_waiting") or {}).get("redis", 0)


procs = []


def stop_all():
    for name in ("nginx", "portal"):
        try:
            os.kill(pid_of(name), signal.SIGQUIT)
        except (OSError, ValueError):
            pass
    for p in procs:
        p.terminate()


def start_front(workers, cluster=False):
    with open(d + "/nginx.conf", "w") as f:
        f.write(front_conf(workers, cluster))
    subprocess.run([nginx, "-p", d, "-c", d + "/nginx.conf",
                    "-e", d + "/error.log"], check=True)
    wait_port(front, "nginx")
    for _ in range(100):
        if len(workers_of(pid_of("nginx"))) >= workers:
            break
        time.sleep(0.05)


def stop_front():
    master = pid_of("nginx")
    os.kill(master, signal.SIGQUIT)
    for _ in range(200):
        if not os.path.exists("/proc/%d" % master):
            break
        time.sleep(0.05)
    os.unlink(d + "/nginx.pid") if os.path.exists(d + "/nginx.pid") else None


def alerts():
    try:
        with open(d + "/error.log") as f:
            return sum(1 for l in f if re.search(r"\[(alert|crit|emerg)\]", l))
    except OSError:
        return 0


def fmt_row(label, r, lim):
    return "%-8s %9.0f %6.2f %8.3f %8.3f %6.2f %7.1f %6.2f %7d" % (
        label, r["rps"], r["rps"] / lim["rps"], r["p50"], r["p99"],
        r["p99"] / lim["p99"], r["cpu_us"], r["cpu_us"] / lim["cpu_us"],
        r["bad"])


try:
    subprocess.run([nginx, "-p", d, "-c", d + "/portal.conf",
                    "-e", d + "/portal-error.log"], check=True)
    procs.append(subprocess.Popen(
        [sys.executable, root + "/tools/b24emu.py", "--listen",
         "127.0.0.1:%d" % slow, "--bucket", "0", "--latency", str(slow_ms),
         "--max-calls", "1000000", "--log", os.devnull],
        stdout=open(d + "/emu.out", "w"), stderr=open(d + "/emu.err", "w")))
    wait_port(portal, "the portal")
    wait_port(slow, "the emulator")

    print("b24trigger beside proxy_pass: %d connections, wrk %d threads, "
          "%d s a side, %d rounds, the sides interleaved"
          % (conn, threads, secs, rounds))
    model = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read())
    print("machine: %s, %d CPUs, %s; %s" % (
        model.group(1) if model else "?", os.cpu_count(),
        os.uname().release, time.strftime("%Y-%m-%d %H:%M UTC",
                                          time.gmtime())))
    print("nginx: %s" % subprocess.run([nginx, "-v"], capture_output=True,
                                       text=True).stderr.strip())

    summary = {}
    for pin in pin_modes if "sync" in only else []:
        pin_portal(pin)
        sides = ["limit", "stripe", "hmac", "again"]
        for workers in worker_counts:
            start_front(workers)
            for side in sides:
                print("check %s: %s" % (side, check(side)))
            for side in sides:
                wrk(side, 8, 2)
            print()
            print("%d worker(s), %s" % (workers, (
                "pinned: the front's worker on core 0, the portal's and wrk "
                "on core 1" if workers == 1 else "pinned: the front's "
                "workers on cores 0 and 1, the portal's on core 1, wrk "
                "free") if pin else "unpinned"))
            print("%-8s %9s %6s %8s %8s %6s %7s %6s %7s" % (
                "side", "req/s", "×", "p50 ms", "p99 ms", "×", "CPU µs",
                "×", "non-2xx"))
            res = {s: [] for s in sides}
            for rnd in range(rounds):
                order = sides[rnd % 4:] + sides[:rnd % 4]
                for side in order:
                    res[side].append(wrk(side))
                lim = res["limit"][-1]
                print("round %d (order %s)" % (rnd + 1, ", ".join(order)))
                for side in sides:
                    print(fmt_row(side, res[side][-1], lim))
            med = {}
            for side in sides:
                med[side] = {k: statistics.median(r[k] for r in res[side])
                             for k in ("rps", "p50", "p99", "cpu_us")}
                med[side]["bad"] = sum(r["bad"] for r in res[side])
            print("median of %d rounds" % rounds)
            for side in sides:
                print(fmt_row(side, med[side], med["limit"]))
            for side in ("stripe", "hmac", "again"):
                ratios = [(r["rps"] / l["rps"], r["p99"] / l["p99"],
                           r["cpu_us"] / l["cpu_us"])
                          for r, l in zip(res[side], res["limit"])]
                ok = all(a >= 0.95 and b <= 1.1 and c <= 1.1
                         for a, b, c in ratios)
                print("%s: req/s × %s, p99 × %s, CPU × %s: every round "
                      "within the targets (≥ 0.95, ≤ 1.1, ≤ 1.1): %s%s"
                      % (side, " / ".join("%.2f" % x[0] for x in ratios),
                         " / ".join("%.2f" % x[1] for x in ratios),
                         " / ".join("%.2f" % x[2] for x in ratios),
                         "yes" if ok else "no",
                         " (proxy_pass against itself: the noise)"
                         if side == "again" else ""))
                summary[(pin, workers, side)] = ratios
            stop_front()
        pin_portal(False)
    pin = False

    if "queue" in only or "cluster" in only or "slow" in only:
        start_front(1)

    def queue_run(label, pending, durable="the fsync that covers each"):
        print()
        t0 = time.time()
        q = wrk("queue")
        t1 = time.time()
        while pending() > 0 and time.time() - t1 < 600:
            time.sleep(0.05)
        t2 = time.time()
        queued = q["total"] - q["bad"]
        print("%s: %d durable enqueues (202 after %s), %.0f/s (target "
              "≥ 10 000), p50 %.3f ms, p99 %.3f ms, %d non-2xx"
              % (label, queued, durable, q["rps"], q["p50"], q["p99"],
                 q["bad"]))
        print("%s: all delivered %.1f s after the load; drain overall "
              "%.0f/s" % (label, t2 - t1, queued / (t2 - t0)))

    if "queue" in only:
        spool = d + "/spool"

        def pending():
            n = 0
            for sub in ("queue", "claim"):
                try:
                    n += sum(1 for x in os.listdir(spool + "/" + sub)
                             if x.endswith((".json", ".batch")))
                except OSError:
                    pass
            return n

        queue_run("queue", pending)

    if "cluster" in only:
        stop_front()
        os.makedirs(d + "/redis")
        procs.append(subprocess.Popen(
            ["redis-server", "--port", str(rport), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "yes", "--appendfsync", "always",
             "--dir", d + "/redis", "--daemonize", "no",
             "--logfile", d + "/redis/redis.log"]))
        wait_port(rport, "redis-server")
        start_front(1, cluster=True)
        print("check queue (Redis): %s" % check("queue"))

        def pending_redis():
            return redis_depth()

        queue_run("queue in Redis", pending_redis,
                  "Redis's XADD answer, its AOF fsynced: appendfsync always")
        stop_front()
        start_front(1)

    if "slow" in only:
        ideal = slow_conn * 1000.0 / slow_ms
        print()
        for side, label in (("slowlimit", "proxy_pass"),
                            ("slow", "b24trigger")):
            stop_front()
            start_front(1)
            s = wrk(side, c=slow_conn, t=max(secs, 5), sample_rss=True)
            grow = max(0, s["rss"] - s["rss0"])
            print("slow portal (%d ms), %d connections, %s: %.1f req/s of "
                  "the ideal %.0f/s: %.2f; p99 %.0f ms"
                  % (slow_ms, slow_conn, label, s["rps"], ideal,
                     s["rps"] / ideal, s["p99"]))
            print("memory, %s: workers' private memory (RssAnon) %d kB "
                  "before, %d kB at the peak with %d webhooks in flight: "
                  "%.1f kB each (target ≤ 16); shared zones' pages touched "
                  "meanwhile %d kB (fixed-size zones, filled once)"
                  % (label, s["rss0"], s["rss"], slow_conn,
                     grow / float(slow_conn), s["shm"]))

    print()
    print("error log: %d [alert]/[crit]/[emerg] lines" % alerts())
finally:
    stop_all()
