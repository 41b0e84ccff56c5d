#!/bin/sh
# example-conf.sh MODULE DIR PORT: prints nginx.conf.example made runnable
# in DIR (secrets, logs, pid) on 127.0.0.1:PORT, for the demo and tests.
# The secret files it names must be created in DIR by the caller.

set -eu

module=$1
dir=$2
port=$3
root=$(cd "$(dirname "$0")/.." && pwd)

# for sed's replacement side: \, | and & stand for themselves; for nginx,
# the module's path is quoted (a clone may sit in a folder with spaces)
quote() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }
module_q=$(quote "$module")
dir=$(quote "$dir")

printf 'pid "%s/nginx.pid";\nerror_log "%s/error.log" info;\n' "$2" "$2"

sed -e "s|^load_module modules/ngx_http_b24trigger_module.so;|load_module \"$module_q\";|" \
    -e "s|^worker_processes auto;|worker_processes 2;|" \
    -e "s|/etc/nginx/b24trigger/|$dir/|g" \
    -e "s|/var/log/nginx/|$dir/|g" \
    -e "s|/var/spool/nginx/b24trigger|$dir/spool|g" \
    -e "s|listen 80;|listen 127.0.0.1:$port;|" \
    -e "s|^http {|http {\n    client_body_temp_path $dir/body;\n    proxy_temp_path $dir/proxy;\n    fastcgi_temp_path $dir/fastcgi;\n    uwsgi_temp_path $dir/uwsgi;\n    scgi_temp_path $dir/scgi;|" \
    "$root/nginx.conf.example"
