#!/bin/sh
# mkcerts.sh OUTDIR: test certificates for the Bitrix24 emulator (b24emu.py)
#
#   ca.crt, ca.key          a test CA
#   server.crt, server.key  signed by it, subjectAltName IP:127.0.0.1,
#                           DNS:localhost (serverAuth)
#   other-ca.crt, other-ca.key
#                           an unrelated CA, for "wrong CA" negative tests
#
# Idempotent: a set whose files all exist is left alone.  Quiet unless
# openssl fails.  Needs only the openssl CLI (OpenSSL 1.1.1 or 3.x).

set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi

out=$1
mkdir -p "$out"
umask 077

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# a self-contained config, independent of the system openssl.cnf
cat > "$tmp/openssl.cnf" <<'CNF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[v3_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
CNF

run() {
    if ! "$@" > "$tmp/log" 2>&1; then
        cat "$tmp/log" >&2
        echo "$0: openssl failed" >&2
        exit 1
    fi
}

newkey() {
    run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -out "$1"
}

mkca() {    # mkca NAME "CN"
    [ -s "$out/$1.crt" ] && [ -s "$out/$1.key" ] && return 0
    newkey "$tmp/$1.key"
    run openssl req -new -x509 -config "$tmp/openssl.cnf" \
        -extensions v3_ca -key "$tmp/$1.key" -subj "/CN=$2" \
        -days 3650 -sha256 -out "$tmp/$1.crt"
    mv "$tmp/$1.key" "$out/$1.key"
    mv "$tmp/$1.crt" "$out/$1.crt"
    # a new test CA invalidates the old server certificate
    [ "$1" = ca ] && rm -f "$out/server.crt"
    return 0
}

mkca ca "b24trigger test CA"
mkca other-ca "b24trigger unrelated CA"

if ! [ -s "$out/server.crt" ] || ! [ -s "$out/server.key" ]; then
    newkey "$tmp/server.key"
    run openssl req -new -config "$tmp/openssl.cnf" -key "$tmp/server.key" \
        -subj "/CN=localhost" -out "$tmp/server.csr"
    run openssl x509 -req -in "$tmp/server.csr" -CA "$out/ca.crt" \
        -CAkey "$out/ca.key" -set_serial "0x$(openssl rand -hex 8)" \
        -days 3650 -sha256 -extfile "$tmp/openssl.cnf" \
        -extensions v3_server -out "$tmp/server.crt"
    mv "$tmp/server.key" "$out/server.key"
    mv "$tmp/server.crt" "$out/server.crt"
fi

chmod 644 "$out/ca.crt" "$out/other-ca.crt" "$out/server.crt"
