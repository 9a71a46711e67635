#!/bin/bash
# The lane's runner, inside the cgroup-v2 guest (started by pier-lane at boot). Runs each line of
# the plan the host wrote (a test executable, the directory cargo runs it in, its filters), with
# each test binary's output in its own file on the share and one summary line on the console.
set -uo pipefail
repo="$1"
lane="$repo/target/v2-lane"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
# shellcheck disable=SC1091
[ -f "$lane/env" ] && . "$lane/env"
mkdir -p "$lane/out"

{
  echo "kernel: $(uname -r)"
  echo "cgroup fs at /sys/fs/cgroup: $(stat -fc %T /sys/fs/cgroup)"
  echo "v1 hierarchies mounted: $(grep -c ' cgroup ' /proc/mounts)"
  echo "root controllers: $(cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null)"
  echo "systemd: $(systemctl --version | head -1)"
  echo "cpus: $(nproc), memory: $(free -m | awk '/Mem:/ {print $2}') MiB"
} > "$lane/facts"
cat "$lane/facts"

# The lane is meaningless unless the guest is what users have: the unified hierarchy only.
if [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ] || grep -q ' cgroup ' /proc/mounts; then
  echo "pier-lane: the guest is not cgroup-v2-only" | tee "$lane/status"
  exit 1
fi

failed=0
n=0
start=$(date +%s)
while IFS=$'\t' read -r name dir exe filters; do
  [ -n "$name" ] || continue
  n=$((n + 1))
  t0=$(date +%s)
  # shellcheck disable=SC2086 # filters are words
  (cd "$dir" && "$exe" --test-threads=2 $filters) < /dev/null > "$lane/out/$name.log" 2>&1
  rc=$?
  summary=$(grep -E '^test result:' "$lane/out/$name.log" | tail -1)
  if [ $rc -ne 0 ]; then
    failed=$((failed + 1))
    echo "pier-lane: FAIL $name ($(( $(date +%s) - t0 )) s) $summary"
    grep -E '^test .* FAILED$|^    [a-z_:]+$' "$lane/out/$name.log" | head -20
  else
    echo "pier-lane: ok   $name ($(( $(date +%s) - t0 )) s) $summary"
  fi
done < "$lane/plan"
echo "pier-lane: $n test binaries, $failed failed, $(( $(date +%s) - start )) s" | tee "$lane/status"
exit $failed
