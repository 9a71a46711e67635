#!/usr/bin/env bash
# Reference solution of lab 3.
# ANCHOR: all
set -euo pipefail
version=$(pier system info | awk '/cgroup version/ {print $3}')
# ANCHOR: oom
pier run --name lab3-oom --memory 16m busybox tail /dev/zero || echo "exit code $?"
# ANCHOR_END: oom
# ANCHOR: cpu
pier run -d --name lab3-cpu --cpus 0.5 busybox sh -c 'while :; do :; done & while :; do :; done'
sleep 3
pier stats --no-stream lab3-cpu
# ANCHOR_END: cpu
read -r cpu mem < <(pier stats --no-stream lab3-cpu | awk 'NR == 2 {print $3, $4}')
pier lab answer 3 cpu "${cpu%\%}"
pier lab answer 3 mem "$mem"
# ANCHOR: file
if [ "$version" = v2 ]; then
    dir=$(pier inspect lab3-cpu | grep '"dir": "/sys' | head -n 1 | cut -d'"' -f4)
    file=cpu.max
else
    dir=$(pier inspect lab3-cpu | grep -E '"(cpu|cpu,cpuacct|cpuacct,cpu)": "/sys' | head -n 1 | cut -d'"' -f4)
    file=cpu.cfs_quota_us
fi
cat "$dir/$file"
pier lab answer 3 quota-file "$dir/$file"
# ANCHOR_END: file
# ANCHOR: bomb
pier run -d --name lab3-bomb --pids-limit 20 busybox sh -c 'bomb() { bomb | bomb & }; bomb & exec sleep 3600'
sleep 2
pier stats --no-stream lab3-bomb
# ANCHOR_END: bomb
# ANCHOR: device
pier run --name lab3-dev busybox sh -c 'mknod /disk b 8 0 && head -c 512 /disk' || echo "exit code $?"
ls -l "$(pier inspect lab3-dev | grep '"upper_dir"' | cut -d'"' -f4)/disk"
# ANCHOR_END: device
pier lab check 3
# ANCHOR_END: all
