#!/usr/bin/env bash
# Reference solution of lab 13 (run by CI after `pier lab start 13`).
# ANCHOR: all
set -euo pipefail
cd "$(pier lab dir 13)"
# ANCHOR: caps
pier run --rm busybox grep CapEff /proc/self/status
cat capability
pier run -d --name lab13-nocap --cap-drop ALL --cap-add "$(cat capability)" busybox sleep 3600
pier exec lab13-nocap grep CapEff /proc/self/status
# ANCHOR_END: caps
capeff=$(pier exec lab13-nocap grep CapEff /proc/self/status | awk '{print $2}')
pier lab answer 13 capeff "$capeff"
# ANCHOR: unshare
pier run --name lab13-unshare busybox unshare -n true || echo "exit code $?"
# ANCHOR_END: unshare
# ANCHOR: readonly
pier run --name lab13-ro --read-only busybox touch /etc/hacked || echo "exit code $?"
# ANCHOR_END: readonly
# ANCHOR: exec
pier build -t lab13-app:broken .
pier run --rm lab13-app:broken || echo "exit code $?"
printf 'FROM busybox\nCOPY start.sh /start.sh\nRUN chmod +x /start.sh\nCMD ["/start.sh"]\n' > Dockerfile
pier build -t lab13-app:fixed .
pier run --rm lab13-app:fixed
# ANCHOR_END: exec
# ANCHOR: port
pier run -d --name lab13-web busybox sh -c 'mkdir -p /www && echo hello from lab13 > /www/index.html && httpd -f -p 80 -h /www'
pier port lab13-web || true
pier rm -f lab13-web
pier run -d --name lab13-web -p 8013:80 busybox sh -c 'mkdir -p /www && echo hello from lab13 > /www/index.html && httpd -f -p 80 -h /www'
# ANCHOR_END: port
for _ in $(seq 40); do
    pier run --rm --network host busybox wget -qO- http://127.0.0.1:8013/ 2>/dev/null && break
    sleep 0.5
done
# ANCHOR: oom
pier run --name lab13-oom --memory 16m busybox sh -c 'head -c 48m /dev/zero > /dev/shm/data && echo done' || echo "exit code $?"
pier events --container lab13-oom
pier rm lab13-oom
pier run --name lab13-oom --memory 128m busybox sh -c 'head -c 48m /dev/zero > /dev/shm/data && echo done'
# ANCHOR_END: oom
pier lab check 13
# ANCHOR_END: all
