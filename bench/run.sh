#!/bin/sh
# make bench: b24trigger beside nginx's own proxy_pass, in the same run
# (bench/bench.py says what runs and how it is measured).
#
#   BENCH_TIME=5 BENCH_ROUNDS=3 BENCH_CONN=64 BENCH_THREADS=2 \
#   BENCH_WORKERS="1 2" BENCH_PIN="0 1" BENCH_SLOW_CONN=256 \
#   BENCH_ONLY="sync queue cluster slow" \
#   make bench
exec python3 "$(dirname "$0")/bench.py" "$@"
