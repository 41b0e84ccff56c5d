#!/bin/sh
# Installs the Debian packages given as arguments when they are missing:
# with apt-get as root, otherwise prints the exact command and fails.

# Installed is also a package whose triggers are pending: another dpkg
# run (t/package.t beside another make) leaves nginx so for a moment.
missing=
for p in "$@"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null \
        | grep -qE ' ok (installed|triggers-pending|triggers-awaited)$' \
        || missing="$missing $p"
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ]; then
    echo "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q $missing >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null && apt-get install -y -q $missing; } \
        || exit 1
    exit 0
fi

echo "missing Debian packages; run as root:" >&2
echo "    apt-get install -y$missing" >&2
exit 1
