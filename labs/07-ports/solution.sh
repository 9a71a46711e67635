#!/usr/bin/env bash
# Reference solution of lab 7.
# ANCHOR: all
set -euo pipefail
# ANCHOR: web
pier run -d --name lab7-web -p 8080:80 busybox sh -c 'mkdir -p /www && echo hello from lab7 > /www/index.html && httpd -f -p 80 -h /www'
pier port lab7-web
sleep 1
pier run --rm --network host busybox wget -qO- http://127.0.0.1:8080/
# ANCHOR_END: web
# ANCHOR: any
pier run -d --name lab7-any -p 80 busybox sh -c 'mkdir -p /www && echo hello from lab7 > /www/index.html && httpd -f -p 80 -h /www'
pier port lab7-any
# ANCHOR_END: any
port=$(pier port lab7-any | head -n 1 | awk -F: '{print $NF}')
pier lab answer 7 port "$port"
# ANCHOR: clash
pier run -d --name lab7-clash -p 8080:80 busybox httpd -f -p 80 || echo "refused, exit code $?"
pier ps -a
# ANCHOR_END: clash
# ANCHOR: alt
pier rm lab7-clash || true
pier run -d --name lab7-alt -p 8081:80 busybox sh -c 'mkdir -p /www && echo hello from lab7 > /www/index.html && httpd -f -p 80 -h /www'
# ANCHOR_END: alt
sleep 1
pier lab check 7
# ANCHOR_END: all
