#!/usr/bin/env bash
# Reference solution of lab 1 (run by CI after `pier lab start 1`).
# ANCHOR: all
set -euo pipefail
# ANCHOR: hello
pier run --name lab1-hello busybox echo Hello from a container
# ANCHOR_END: hello
# ANCHOR: fail
pier run --name lab1-fail busybox sh -c 'exit 3' || echo "exit code $?"
# ANCHOR_END: fail
# ANCHOR: sleeper
pier run -d --name lab1-sleeper busybox sleep 3600
pier ps
# ANCHOR_END: sleeper
id=$(pier ps -q --no-trunc | head -n 1)
pier lab answer 1 id "${id:0:12}"
# ANCHOR: old
pier ps -a
pier rm lab1-old
# ANCHOR_END: old
pier lab check 1
# ANCHOR_END: all
