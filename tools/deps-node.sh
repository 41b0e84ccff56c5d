#!/bin/sh
# The npm packages the tests use (providers' SDKs as reference signers,
# the browser driver), listed in t/node/package.json and pinned by its
# package-lock.json, installed into t/node/node_modules with "npm ci"
# when the lock changed.  Node.js and npm themselves come from Debian
# (nodejs, npm) unless the machine already has them.

set -e
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/t/node"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1
then
    "$root/tools/deps.sh" nodejs npm
fi

stamp=node_modules/.b24trigger-lock
if [ -f "$stamp" ] && cmp -s package-lock.json "$stamp"; then
    exit 0
fi

echo "installing the tests' npm packages (t/node/package.json)"
npm ci --no-audit --no-fund --loglevel=error >/dev/null \
    || npm ci --no-audit --no-fund
mkdir -p node_modules
cp package-lock.json "$stamp"
