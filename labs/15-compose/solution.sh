#!/usr/bin/env bash
# Reference solution of lab 15 (run by CI after `pier lab start 15`).
# ANCHOR: all
set -euo pipefail
cd "$(pier lab dir 15)"
# Fetches the page web serves on the host's port 8015 (waits for it, at most 20 s).
page() {
    for _ in $(seq 40); do
        pier run --rm --network host busybox wget -qO- http://127.0.0.1:8015/ 2>/dev/null && return 0
        sleep 0.5
    done
    return 1
}
# ANCHOR: up
cat compose.yaml
pier compose up -d
pier compose ps
pier ps
pier network ls
pier volume ls
pier inspect lab15-web-1
page
pier compose logs web
# ANCHOR_END: up
# ANCHOR: down-v
pier compose down -v
pier ps -a
pier volume ls
# ANCHOR_END: down-v
# ANCHOR: healthy
cat > compose.yaml <<'YAML'
name: lab15
services:
  store:
    image: busybox
    command: ["sh", "-c", "sleep 2; [ -f /data/token ] || head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \\n' > /data/token; hostname >> /data/visits; exec httpd -f -p 80 -h /data"]
    volumes:
      - data:/data
    healthcheck:
      test: ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1/token || exit 1"]
      interval: 1s
      retries: 30
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www; if wget -q -O /www/index.html http://store/token; then echo web got the token from store:; cat /www/index.html; echo; else echo web could not reach store > /www/index.html; cat /www/index.html; fi; exec httpd -f -p 80 -h /www"]
    ports:
      - "8015:80"
    depends_on:
      store:
        condition: service_healthy
volumes:
  data:
YAML
pier compose up -d
pier compose ps
pier compose logs web
page
# ANCHOR_END: healthy
# ANCHOR: discovery
token=$(pier compose exec web wget -qO- http://store/token)
echo "token: $token"
pier compose exec web cat /etc/hosts
pier lab answer 15 token "$token"
# ANCHOR_END: discovery
# ANCHOR: survived
pier compose down
pier volume ls
pier compose up -d
page
pier compose exec store cat /data/visits
# ANCHOR_END: survived
pier lab check 15
# ANCHOR_END: all
