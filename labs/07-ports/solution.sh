#!/usr/bin/env bash
# Reference solution of lab 7.
# ANCHOR: all
set -euo pipefail
# Waits until the page answers on a host port (httpd needs a moment on a busy machine).
wait_http() {
    for _ in $(seq 40); do
        pier run --rm --network host busybox wget -qO- "http://127.0.0.1:$1/" 2>/dev/null && return 0
        sleep 0.5
    done
    echo "nothing answers on port $1"; return 1
}
# ANCHOR: web
pier run -d --name lab7-web -p 8080:80 busybox sh -c 'mkdir -p /www && echo hello from lab7 > /www/index.html && httpd -f -p 80 -h /www'
pier port lab7-web
wait_http 8080
# ANCHOR_END: web
# ANCHOR: any
pier run -d --name lab7-any -p 80 busybox sh -c 'mkdir -p /www && echo hello from lab7 > /www/index.html && httpd -f -p 80 -h /www'
pier port lab7-any
# ANCHOR_END: any
port=$(pier port lab7-any | head -n 1 | awk -F: '{print $NF}')
wait_http "$port"
pier lab answer 7 port "$port"
# ANCHOR: clash
if error=$(pier run -d --name lab7-clash -p 8080:80 busybox httpd -f -p 80 2>&1); then
    echo "lab7-clash should have been refused"; exit 1
fi
echo "$error"
pier ps -a
# ANCHOR_END: clash
pier lab answer 7 error "$error"
# ANCHOR: alt
pier rm lab7-clash 2>/dev/null || true
pier run -d --name lab7-alt -p 8081:80 busybox sh -c 'mkdir -p /www && echo hello from lab7 > /www/index.html && httpd -f -p 80 -h /www'
# ANCHOR_END: alt
wait_http 8081
pier lab check 7
# ANCHOR_END: all
