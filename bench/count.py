#!/usr/bin/env python3
"""Counts per webhook that a busy shared machine does not move.

    bench/count.py MODULE NGINX [callgrind|kernel|strace|perf] [SIDE ...]

The sync sides of bench.py (limit = proxy_pass keep-alive, stripe, hmac),
configured the same way (a separate portal nginx, the same 1 024-byte
event), one front worker, and instead of wall-clock rates:

  callgrind  the worker's instructions per request under valgrind's
             callgrind: COUNT_N1 and COUNT_N2 requests (200, 1 200) in two
             runs, the difference divided by COUNT_N2 - COUNT_N1, so that
             start and stop cancel out; the files are kept in COUNT_DIR
             for callgrind_annotate; COUNT_CACHE=1 adds the simulated
             cache misses per request
  kernel     COUNT_REQ requests (20 000), or wrk for COUNT_WRK seconds:
             the worker's minor and major page faults, voluntary and
             involuntary context switches, user and system time, time on
             CPU, each per request (/proc/PID/stat, /proc/PID/status,
             /proc/PID/schedstat)
  strace     COUNT_REQ / 10 requests under strace -c -f: system calls
             per request
  perf       COUNT_REQ requests (or wrk for COUNT_WRK seconds) under
             perf record -e cpu-clock, call graphs with COUNT_G=1: the
             worker's time by library and function

The client keeps COUNT_CONN (16) keep-alive connections, each with one
request in flight at a time (wrk: COUNT_CONN connections, 2 threads).
Everything is written to COUNT_DIR (build/count/), emptied first.
"""

import asyncio
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

module, nginx = sys.argv[1], sys.argv[2]
mode = sys.argv[3] if len(sys.argv) > 3 else "kernel"
sides = sys.argv[4:] or ["limit", "stripe", "hmac"]
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
d = os.environ.get("COUNT_DIR", os.path.join(root, "build", "count"))
nconn = int(os.environ.get("COUNT_CONN", "16"))
nreq = int(os.environ.get("COUNT_REQ", "20000"))
n1 = int(os.environ.get("COUNT_N1", "200"))
n2 = int(os.environ.get("COUNT_N2", "1200"))
wrk_secs = int(os.environ.get("COUNT_WRK", "0"))
cache_sim = os.environ.get("COUNT_CACHE", "") == "1"

shutil.rmtree(d, ignore_errors=True)
os.makedirs(d)
os.chmod(d, 0o777)      # a worker started by root writes callgrind's file


def port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


front, portal = port(), port()
secret = os.urandom(8).hex()
whsec = "whsec_" + os.urandom(16).hex()
hkey = os.urandom(16).hex()

# the event of bench.py

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

# what wrk sends in bench.py: Host, the signature, Content-Type

extra = {"limit": "Stripe-Signature: %s\r\n" % stripe_sig,
         "stripe": "Stripe-Signature: %s\r\n" % stripe_sig,
         "hmac": "X-Signature: %s\r\n" % hmac_sig}
paths = {"limit": "/proxy", "stripe": "/stripe", "hmac": "/hmac"}


def request(side):
    return ("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s"
            "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (paths[side], front, extra[side], len(body), body)).encode()


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

with open(d + "/nginx.conf", "w") as f:
    f.write("""
load_module %(module)s;
worker_processes 1;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path %(d)s/body;
    proxy_temp_path %(d)s/proxy;

    upstream portal { server 127.0.0.1:%(portal)d; keepalive 64; }

    b24trigger_portal main http://127.0.0.1:%(portal)d/rest/1/%(secret)s/
                      rate=1000000r/s burst=1000000;

    b24trigger_field $bench_deal data.object.metadata.deal_id;

    server {
        listen 127.0.0.1:%(front)d backlog=4096;
        keepalive_requests 1000000;

        location = /stripe {
            b24trigger_pass main;
            b24trigger_verify stripe tolerance=1d;
            b24trigger_secret %(whsec)s;
            b24trigger_target DEAL_$bench_deal;
            b24trigger_code bench;
        }

        location = /hmac {
            b24trigger_pass main;
            b24trigger_verify hmac header=X-Signature;
            b24trigger_secret %(hkey)s;
            b24trigger_target DEAL_$bench_deal;
            b24trigger_code bench;
        }

        location = /proxy {
            proxy_pass http://portal/rest/1/%(secret)s/crm.automation.trigger;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
""" % {"module": module, "d": d, "portal": portal, "secret": secret,
       "front": front, "whsec": whsec, "hkey": hkey})


def wait_port(p):
    for _ in range(1200):
        try:
            socket.create_connection(("127.0.0.1", p), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit("count: nothing listens on port %d" % p)


def pid_of(name):
    for _ in range(600):
        try:
            with open("%s/%s.pid" % (d, name)) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            time.sleep(0.05)
    sys.exit("count: no %s.pid" % name)


def worker_of(master):
    for _ in range(600):
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)],
                             capture_output=True, text=True).stdout.split()
        if out:
            return int(out[0])
        time.sleep(0.05)
    sys.exit("count: no worker")


async def one_conn(req, n, bad):
    r, w = await asyncio.open_connection("127.0.0.1", front)
    for _ in range(n):
        w.write(req)
        head = await r.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            bad.append(head.split(b"\r\n")[0])
        m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
        if m:
            await r.readexactly(int(m.group(1)))
        else:
            # chunked (proxy_pass may answer so)
            while True:
                size = int((await r.readline()).strip(), 16)
                await r.readexactly(size + 2)
                if size == 0:
                    break
    w.close()


def send(side, n):
    bad = []
    req = request(side)
    c = min(nconn, n)
    each = [n // c + (1 if i < n % c else 0) for i in range(c)]

    async def all_conns():
        await asyncio.gather(*(one_conn(req, k, bad) for k in each))

    asyncio.run(all_conns())
    if bad:
        sys.exit("count: %s: %d answers not 200, the first %r"
                 % (side, len(bad), bad[0]))


def start_front(prefix=()):
    return subprocess.Popen(list(prefix) + [
        nginx, "-p", d, "-c", d + "/nginx.conf", "-e", d + "/error.log",
        "-g", "daemon off;"])


def stop(p):
    p.send_signal(signal.SIGQUIT)
    p.wait(timeout=120)


def proc_counts(pid):
    with open("/proc/%d/stat" % pid) as f:
        st = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    c = {"minflt": int(st[7]), "majflt": int(st[9]),
         "utime_us": int(st[11]) * 1e6 / tick,
         "stime_us": int(st[12]) * 1e6 / tick}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches"):
                c["vcsw"] = int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches"):
                c["ivcsw"] = int(line.split()[1])
    with open("/proc/%d/schedstat" % pid) as f:
        c["cpu_us"] = int(f.read().split()[0]) / 1000.0
    return c


def wrk(side, secs):
    lua = "%s/%s.lua" % (d, side)
    with open(lua, "w") as f:
        f.write('wrk.method = "POST"\nwrk.body = [[%s]]\n' % body)
        for line in (request(side).decode().split("\r\n\r\n")[0]
                     .split("\r\n")[2:]):
            k, v = line.split(": ", 1)
            if k != "Content-Length":
                f.write('wrk.headers["%s"] = "%s"\n' % (k, v))
    out = subprocess.run(["wrk", "-t2", "-c%d" % nconn, "-d%ds" % secs,
                          "-s", lua, "http://127.0.0.1:%d%s"
                          % (front, paths[side])],
                         capture_output=True, text=True).stdout
    if "Non-2xx" in out:
        sys.exit("count: wrk %s: %s" % (side, out))
    return int(re.search(r"(\d+) requests in", out).group(1))


def kernel():
    p = start_front()
    wait_port(front)
    w = worker_of(pid_of("nginx"))
    keys = ("minflt", "majflt", "vcsw", "ivcsw", "utime_us", "stime_us",
            "cpu_us")
    print("%-7s %9s" % ("side", "requests")
          + "".join(" %9s" % k for k in keys) + "   (per request)")
    try:
        for side in sides:
            send(side, 2000)
            a = proc_counts(w)
            if wrk_secs:
                n = wrk(side, wrk_secs)
            else:
                n = nreq
                send(side, n)
            b = proc_counts(w)
            print("%-7s %9d" % (side, n) + "".join(
                " %9.3f" % ((b[k] - a[k]) / float(n)) for k in keys))
    finally:
        stop(p)


def strace():
    p = start_front()
    wait_port(front)
    w = worker_of(pid_of("nginx"))
    n = max(1000, nreq // 10)
    try:
        for side in sides:
            send(side, 500)
            out = "%s/strace-%s.txt" % (d, side)
            s = subprocess.Popen(["strace", "-c", "-f", "-o", out,
                                  "-p", str(w)], stderr=subprocess.DEVNULL)
            time.sleep(1)
            send(side, n)
            s.send_signal(signal.SIGINT)
            s.wait()
            print("%s: system calls per request (%d requests)" % (side, n))
            with open(out) as f:
                for line in f:
                    m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)"
                                 r"(?:\s+\d+)?\s+(\w+)\s*$", line)
                    if m:
                        print("  %-16s %7.3f" % (m.group(2),
                                                 int(m.group(1)) / float(n)))
                    elif "total" in line:
                        t = line.split()
                        print("  %-16s %7.3f" % ("total",
                                                 int(t[3]) / float(n)))
    finally:
        stop(p)


def perf():
    p = start_front()
    wait_port(front)
    w = worker_of(pid_of("nginx"))
    try:
        for side in sides:
            send(side, 2000)
            out = "%s/perf-%s.data" % (d, side)
            s = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock",
                                  "-F", "20000", "-o", out, "-p", str(w)]
                                 + (["-g"] if os.environ.get("COUNT_G")
                                    else []),
                                 stderr=subprocess.DEVNULL)
            time.sleep(1)
            if wrk_secs:
                wrk(side, wrk_secs)
            else:
                send(side, nreq)
            s.send_signal(signal.SIGINT)
            s.wait()
            rep = subprocess.run(["perf", "report", "-i", out, "--stdio",
                                  "--sort", "dso,sym", "--percent-limit",
                                  "0.7"], capture_output=True,
                                 text=True).stdout
            print("%s: where the worker's time goes (perf, cpu-clock)"
                  % side)
            for line in rep.splitlines():
                if line.strip() and not line.startswith("#"):
                    print("  " + line.strip())
    finally:
        stop(p)


def callgrind_total(n, side):
    out = "%s/callgrind.%s.%d.%%p" % (d, side, n)
    p = start_front(["valgrind", "--tool=callgrind",
                     "--callgrind-out-file=" + out]
                    + (["--cache-sim=yes"] if cache_sim else []))
    wait_port(front)
    w = worker_of(pid_of("nginx"))
    send(side, n)
    stop(p)
    path = "%s/callgrind.%s.%d.%d" % (d, side, n, w)
    events = []
    with open(path) as f:
        for line in f:
            if line.startswith("events:"):
                events = line.split()[1:]
            if line.startswith(("summary:", "totals:")):
                return dict(zip(events, map(int, line.split()[1:]))), path
    sys.exit("count: no totals in " + path)


def callgrind():
    for side in sides:
        a, _ = callgrind_total(n1, side)
        b, path = callgrind_total(n2, side)
        per = dict((k, (b[k] - a[k]) / float(n2 - n1)) for k in b)
        print("%-7s %9.0f instructions per request (%s)"
              % (side, per["Ir"], path))
        if cache_sim:
            print("%-7s %9.1f D1 misses (read %.1f, write %.1f), %.1f LL "
                  "data misses, %.1f I1 misses per request"
                  % ("", per["D1mr"] + per["D1mw"], per["D1mr"],
                     per["D1mw"], per["DLmr"] + per["DLmw"], per["I1mr"]))


pp = subprocess.run([nginx, "-p", d, "-c", d + "/portal.conf",
                     "-e", d + "/portal-error.log"], check=True)
try:
    wait_port(portal)
    {"callgrind": callgrind, "kernel": kernel, "strace": strace,
     "perf": perf}[mode]()
finally:
    os.kill(pid_of("portal"), signal.SIGQUIT)
