#!/bin/bash
# The lane's runner, inside the cgroup-v2 guest (started by pier-lane at boot). Waits for the plan
# the host writes once the tests are built, then runs it (run-plan.sh: PIER_LANE_JOBS test binaries
# at a time), each test binary's output in its own file on the share, one summary line on the console.
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

# The host boots the guest while it builds the tests, and writes the plan (whole, by a rename)
# once they are built: wait for it, or for the host to give up (it then stops the guest).
waited=0
until [ -f "$lane/plan" ]; do
  if [ "$waited" -ge "${PIER_LANE_PLAN_WAIT:-3600}" ]; then
    echo "pier-lane: no plan from the host after $waited s" | tee "$lane/status"
    exit 1
  fi
  sleep 2
  waited=$((waited + 2))
done
[ "$waited" -eq 0 ] || echo "pier-lane: the plan came after $waited s"

# The tests execute `pier` thousands of times, and each container's start executes it again
# (sealed, then pier-monitor at the handover, pier again at the exit). Executing the 110 MB
# debug pier from the 9p share took 1.5 s under TCG, against 0.3 s from memory (measured in this
# guest): 9p reads the pages anew at every exec. So target/debug is replaced, for the lane, by a
# tmpfs that holds copies of pier and pier-monitor and, bound in place, everything else of the
# share's target/debug (the test binaries in deps/ among them). The binaries keep their paths,
# and their directory is the tmpfs itself, as pier's sealed re-execution needs: it stacks a
# read-only overlayfs on the binary's directory and checks that the file there is the one
# running.
bins="$repo/target/debug"
held=/run/pier-lane-share-bins
local_bins=/run/pier-lane-bins
mkdir -p "$held" "$local_bins"
mount --bind "$bins" "$held"
mount -t tmpfs -o size=1g,mode=0755 pier-lane-bins "$local_bins"
for entry in "$held"/* "$held"/.[!.]*; do
  [ -e "$entry" ] || continue
  name=${entry##*/}
  case "$name" in
    pier | pier-monitor) cp -p "$entry" "$local_bins/$name" ;;
    *)
      if [ -d "$entry" ]; then mkdir "$local_bins/$name"; else : >"$local_bins/$name"; fi
      mount --bind "$entry" "$local_bins/$name"
      ;;
  esac
done
mount --rbind "$local_bins" "$bins"

"$repo/scripts/v2-guest/run-plan.sh" "$lane" "${PIER_LANE_JOBS:-1}"
rc=$?
umount -R "$bins" 2>/dev/null
umount -R "$local_bins" 2>/dev/null
umount "$held" 2>/dev/null
exit "$rc"
