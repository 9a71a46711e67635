#!/usr/bin/env bash
# Reference solution of lab 14 (run by CI after `pier lab start 14`).
# ANCHOR: all
set -euo pipefail
# Polls `pier ps -a` until the line of container $1 contains $2 (at most 30 s).
wait_for() {
    for _ in $(seq 60); do
        pier ps -a | grep -w "$1" | grep -qF -- "$2" && return 0
        sleep 0.5
    done
    echo "timed out waiting for $1 to show $2" >&2
    pier ps -a >&2
    return 1
}
# ANCHOR: inside
pier run --name lab14-inside busybox sh -c 'kill -TERM 1; kill -KILL 1; echo PID 1 is still here'
# ANCHOR_END: inside
# ANCHOR: grace
pier run -d --name lab14-pid1 busybox sleep 3600
TIMEFORMAT=%R
grace=$(cat "$(pier lab dir 14)/grace")
seconds=$( { time pier stop -t "$grace" lab14-pid1 >/dev/null; } 2>&1 )
echo "pier stop -t $grace took $seconds s"
pier events --container lab14-pid1
pier lab answer 14 stop-seconds "$seconds"
# ANCHOR_END: grace
# ANCHOR: init
pier run -d --init --name lab14-tini busybox sleep 3600
pier exec lab14-tini ps -o pid,ppid,stat,comm
time pier stop lab14-tini
# ANCHOR_END: init
# ANCHOR: zombies
pier run -d --name lab14-zombies busybox sh -c 'for i in 1 2 3; do (sleep 1 &); done; exec sleep 3600'
pier run -d --init --name lab14-reaped busybox sh -c 'for i in 1 2 3; do (sleep 1 &); done; exec sleep 3600'
sleep 3
pier exec lab14-zombies ps -o pid,ppid,stat,comm
pier exec lab14-reaped ps -o pid,ppid,stat,comm
# ANCHOR_END: zombies
# ANCHOR: restart
pier run -d --name lab14-flaky --restart on-failure:3 busybox sh -c 'echo try; exit 3'
pier run -d --name lab14-always --restart always busybox sh -c 'sleep 1; echo bye'
sleep 4
pier ps -a
pier logs lab14-flaky
wait_for lab14-always 'Up'
pier stop lab14-always
pier ps -a
# ANCHOR_END: restart
# ANCHOR: health
pier run -d --name lab14-web --health-cmd 'wget -q -O /dev/null http://127.0.0.1/ || exit 1' --health-interval 1s --health-retries 2 busybox sh -c 'mkdir -p /www && echo hello from lab14 > /www/index.html && httpd -f -p 80 -h /www'
wait_for lab14-web '(healthy)'
pier exec lab14-web rm /www/index.html
wait_for lab14-web '(unhealthy)'
pier inspect lab14-web
pier events --container lab14-web
# ANCHOR_END: health
pier lab check 14
# ANCHOR_END: all
