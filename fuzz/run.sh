#!/bin/bash
# fuzz/run.sh TIME: build every fuzz/*_fuzz.c into build/fuzz/ with
# clang -fsanitize=fuzzer,address,undefined and run each for TIME seconds.
#
# A target names what it links in its header comment (FUZZ_SOURCES may
# be given on several lines, to stay within 80 columns):
#     FUZZ_SOURCES: src/file.c fuzz/ngx_shim.c
#     FUZZ_LIBS: -ljansson
# (FUZZ_SOURCES may be written on several lines, each with the word.)
# Seeds come from fuzz/corpus/NAME/ (NAME = file name without _fuzz.c,
# or the target's "FUZZ_SEEDS: OTHER"), a dictionary from fuzz/NAME.dict;
# the growing corpus and any crash are kept in build/fuzz/.  Needs "make"
# first, for nginx's generated headers.

set -euo pipefail

TIME=${1:-30}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/build/fuzz
NGX=$ROOT/build/nginx
CC=${CC:-clang}

if [ ! -f "$NGX/objs/ngx_auto_config.h" ]; then
    make -C "$ROOT" -s build
fi

INCS="-I$NGX/src/core -I$NGX/src/event -I$NGX/src/event/modules
      -I$NGX/src/os/unix -I$NGX/src/http -I$NGX/src/http/modules
      -I$NGX/objs -I$ROOT/src"

mkdir -p "$OUT"
status=0

for src in "$ROOT"/fuzz/*_fuzz.c; do
    name=$(basename "$src" _fuzz.c)
    srcs=$(sed -n 's/^.*FUZZ_SOURCES:\(.*\)$/\1/p' "$src" | tr '\n' ' ')
    libs=$(sed -n 's/^.*FUZZ_LIBS:\(.*\)$/\1/p' "$src" | head -1)
    seed=$(sed -n 's/^.*FUZZ_SEEDS: *\([a-z0-9_]*\).*$/\1/p' "$src" | head -1)
    seed=${seed:-$name}

    echo "fuzz: building $name"

    # shellcheck disable=SC2086
    $CC -g -O1 -fno-omit-frame-pointer \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        $INCS "$src" $(for s in $srcs; do echo "$ROOT/$s"; done) $libs \
        -o "$OUT/${name}_fuzz"

    mkdir -p "$OUT/corpus/$name"
    seeds=()
    [ -d "$ROOT/fuzz/corpus/$seed" ] && seeds=("$ROOT/fuzz/corpus/$seed")
    dict=()
    [ -f "$ROOT/fuzz/$seed.dict" ] && dict=("-dict=$ROOT/fuzz/$seed.dict")

    echo "fuzz: running $name for ${TIME}s"

    if ! (cd "$OUT" && "./${name}_fuzz" -max_total_time="$TIME" \
              -print_final_stats=1 -artifact_prefix="$OUT/${name}-" \
              "${dict[@]}" "$OUT/corpus/$name" "${seeds[@]}" \
              > "$OUT/$name.log" 2>&1)
    then
        echo "fuzz: $name FAILED, see $OUT/$name.log"
        tail -30 "$OUT/$name.log"
        status=1
    else
        grep -E 'stat::number_of_executed_runs|cov:' "$OUT/$name.log" \
            | tail -2 || true
        echo "fuzz: $name ok"
    fi
done

exit $status
