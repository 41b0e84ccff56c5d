#!/bin/sh
# make style: the mechanical part of STYLE.md on the C sources: 80
# columns, no tabs, no trailing spaces, no // comments.

cd "$(dirname "$0")/.." || exit 1

files="ngx_http_b24trigger_module.c src/*.c src/*.h fuzz/*.c"
rc=0

report() {
    if [ -n "$2" ]; then
        echo "$1:"
        echo "$2" | sed 's/^/    /'
        rc=1
    fi
}

report "longer than 80 columns" "$(grep -nE '.{81}' $files)"
report "tabs" "$(grep -nP '\t' $files)"
report "trailing spaces" "$(grep -nE ' +$' $files)"
report "// comments" "$(grep -nE '^\s*//|[;{}]\s*//' $files)"

[ $rc = 0 ] && echo "style: ok"
exit $rc
