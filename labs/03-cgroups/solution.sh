#!/usr/bin/env bash
# Reference solution of lab 3.
# ANCHOR: all
set -euo pipefail
version=$(pier system info | awk '/cgroup version/ {print $3}')
pier lab answer 3 cgroup "$version"
# ANCHOR: oom
pier run --name lab3-oom --memory 16m busybox tail /dev/zero || echo "exit code $?"
# ANCHOR_END: oom
# ANCHOR: cpu
pier run -d --name lab3-cpu --cpus 0.5 busybox sh -c 'while :; do :; done & while :; do :; done'
sleep 3
pier stats --no-stream lab3-cpu
# ANCHOR_END: cpu
cpu=$(pier stats --no-stream lab3-cpu | awk 'NR == 2 {print $3}' | tr -d %)
pier lab answer 3 cpu "$cpu"
# ANCHOR: bomb
pier run -d --name lab3-bomb --pids-limit 20 busybox sh -c 'bomb() { bomb | bomb & }; bomb & exec sleep 3600'
sleep 2
pier stats --no-stream lab3-bomb
# ANCHOR_END: bomb
pier lab check 3
# ANCHOR_END: all
