#!/bin/sh
# fuzz/run.sh [TIME]: builds every libFuzzer target of fuzz/ into
# build/fuzz/ (clang, -fsanitize=fuzzer,address,undefined) and runs each
# for TIME seconds (default 30) on a copy of its seed corpus.  Fails, with
# the end of the target's log, on any crash, leak or sanitizer report.
#
# The targets link src/ngx_http_b24trigger_sig.c alone: it uses nginx
# types and inline macros only, so the headers of the configured nginx
# tree in build/nginx are all that is needed ("make" creates it).

set -eu

cd "$(dirname "$0")/.."

TIME=${1:-30}
CC=${FUZZ_CC:-clang}
OUT=build/fuzz
NGX=build/nginx

TARGETS="hex base64 timestamp stripe paddle standard slack github typeform
         shopify cloudpayments hmac"

if [ ! -f $NGX/objs/ngx_auto_config.h ]; then
    echo "fuzz: configuring the nginx tree first (make build)"
    make -s build >/dev/null
fi

mkdir -p $OUT

for t in $TARGETS; do
    $CC -g -O1 -fsanitize=fuzzer,address,undefined \
        -fno-sanitize-recover=all \
        -Wall -Wno-unused-function -Werror \
        -I$NGX/src/core -I$NGX/src/event -I$NGX/src/os/unix -I$NGX/objs \
        -Isrc \
        -o $OUT/$t fuzz/fuzz_$t.c src/ngx_http_b24trigger_sig.c
done

echo "fuzz: built $(echo $TARGETS | wc -w) targets in $OUT, ${TIME}s each"

for t in $TARGETS; do
    rm -rf $OUT/corpus/$t
    mkdir -p $OUT/corpus/$t $OUT/artifacts
    cp fuzz/corpus/$t/* $OUT/corpus/$t/ 2>/dev/null || true

    if ! $OUT/$t -max_total_time=$TIME -max_len=4096 -timeout=10 \
            -artifact_prefix=$OUT/artifacts/$t- \
            $OUT/corpus/$t > $OUT/$t.log 2>&1
    then
        echo "fuzz: $t FAILED, see $OUT/$t.log and $OUT/artifacts/"
        tail -40 $OUT/$t.log
        exit 1
    fi

    echo "fuzz: $t ok ($(grep -o 'Done [0-9]* runs' $OUT/$t.log || echo '?'))"
done
