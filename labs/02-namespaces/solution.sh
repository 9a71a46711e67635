#!/usr/bin/env bash
# Reference solution of lab 2.
# ANCHOR: all
set -euo pipefail
# ANCHOR: box
pier run -d --name lab2-box --hostname lab2 --tmpfs /tmp busybox sleep 3600
pier exec lab2-box hostname
pier exec lab2-box ps
# ANCHOR_END: box
# ANCHOR: pid
pid=$(pier inspect lab2-box | grep -A1 '"init"' | grep -o '"pid": [0-9]*' | grep -o '[0-9]*$')
echo "lab2-box's init is PID $pid on the host"
# ANCHOR_END: pid
pier lab answer 2 pid "$pid"
# ANCHOR: netns
readlink /proc/"$pid"/ns/net
lsns -t net -p "$pid"
# ANCHOR_END: netns
pier lab answer 2 netns "$(readlink /proc/"$pid"/ns/net | tr -dc 0-9)"
# ANCHOR: nsenter
nsenter -t "$pid" -a sh -c 'hostname; touch /tmp/nsenter-was-here'
# ANCHOR_END: nsenter
# ANCHOR: sigterm
pier run -d --name lab2-init busybox sleep 3600
pier kill -s TERM lab2-init
sleep 1
pier ps
# ANCHOR_END: sigterm
# ANCHOR: sigkill
pier kill -s KILL lab2-init
pier wait lab2-init
# ANCHOR_END: sigkill
# ANCHOR: trap
pier run -d --name lab2-trap busybox sh -c 'trap "echo caught SIGTERM" TERM; while :; do sleep 1; done'
sleep 1   # let the shell install its handler first: until then, SIGTERM is dropped too
trap_pid=$(pier inspect lab2-trap | grep -A1 '"init"' | grep -o '"pid": [0-9]*' | grep -o '[0-9]*$')
grep SigCgt /proc/"$trap_pid"/status
pier kill -s TERM lab2-trap
sleep 2   # the shell runs its handler once its current sleep 1 ends
pier logs lab2-trap
pier ps
# ANCHOR_END: trap
pier events --container lab2-init
pier lab check 2
# ANCHOR_END: all
