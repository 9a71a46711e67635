#!/usr/bin/env bash
# The cgroup-v2 lane: runs pier's tests that depend on the cgroup version inside a Debian 12
# guest booted with systemd and the unified hierarchy only (what most users' machines run),
# under QEMU with KVM where KVM works and TCG (software emulation) otherwise.
#   scripts/v2-lane.sh            build the tests, boot the guest, run the plan, exit non-zero on failure
#   PIER_LANE_PLAN=$'pier/limits oom\npier/lifecycle' scripts/v2-lane.sh   only these entries
#   scripts/v2-lane.sh --prepare  only install QEMU and build (or find) the guest image
# The guest image is built from Debian's packages and cached in $PIER_GUEST_CACHE (default
# /var/cache/pier/v2-guest; under CI=true, target/v2-guest inside the checkout, so that every CI
# run builds it from nothing, as a user's first run does, and no cache can hide a first-run bug). The checkout is shared into the guest over 9p at the same
# path, so the test binaries built here run there unchanged.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
if [[ "${CI:-}" =~ ^(true|TRUE|True|1)$ ]]; then
  cache="${PIER_GUEST_CACHE:-$repo/target/v2-guest}"
else
  cache="${PIER_GUEST_CACHE:-/var/cache/pier/v2-guest}"
fi
# A guard against a hung guest, not a deadline for the tests: under TCG on a loaded 2-core host
# (the lane runs beside the rest of the suite at a lower priority) a healthy lane has taken 25 min.
timeout_s="${PIER_LANE_TIMEOUT:-2700}"
lane="$repo/target/v2-lane"
start=$(date +%s)

# The tests whose behaviour depends on the cgroup version, or on kernel paths a systemd v2 machine
# lays out differently: "package/target", then libtest name filters (any one matches; none = all).
# Chosen to keep the lane bounded under software emulation; the host runs every test anyway.
# Taken in this order, the longest first (their times under TCG in the last runs), so that the
# runners end together with PIER_LANE_JOBS=2. One at a time is the default: under TCG on a
# 2-core host two were no faster (1191 s against about 1200) and stretched every binary's timing.
# compose's three_services is not here (the lane's longest test: 183 s under TCG on a loaded
# host): what it checks of cgroups, that `down` leaves none, the cleanup entry checks for every
# way a container ends.
plan=(
  "pier/runtime_config resource_fields kernel_memory disable_oom_killer user_namespace the_containers_own_cgroup shared_rootfs_propagation unbindable_rootfs rro_makes recursive_mount_options readonly_root_in_a_user_namespace"
  "pier/network default_bridge published_port rm_f_and_a_killed cannot_reach_the_hosts_loopback rm_run_on_the_bridge"
  "pier/runtime_cli a_manager_creates exec_pause_update_and_events the_command_starts_in_its_cgroup pier_trace_times"
  "pier/compose service_healthy foreground_up"
  "pier/limits"
  "pier/cri cri_resource_limits_reach"
  "pier/cleanup rm_leaves_nothing failed_start_leaves_nothing pier_killed_mid_run"
  "pier/cri_bad_input cri_with_the_systemd_driver cri_a_container_pier_cannot_honour"
  "pier/labs lab13_cycle lab03_cycle lab03_quota_file_cannot_be_guessed"
  "pier/run_basics command_runs_as_pid_1 pid_1_killed_from_outside user_lookup"
  "pier/crash_safety"
  "pier/lifecycle stop_sends_term exec_joins_namespaces_and_cgroup top_lists"
  "pier-oci/lib cgroups::"
  "pier-engine/network"
  "pier/escapes commit_and_export"
  "pier/cpu_quota"
  "pier/restart on_failure_3 always_restarts killing_the_monitor"
  "pier/mounts read_only"
  "pier/isolation only_the_minimal_devices host_block_devices seccomp_and_caps device"
  "pier/health a_failing_check"
  "pier/image_devices a_container_cannot_open_the_device_nodes"
  "pier/freeze_update"
  "pier/engine_api_ops cgroup_freezer_limits_and_stats_through_the_api"
  "pier/startup"
  "pier/prune_cgroups"
  "pier/monitor_memory after_the_handover the_container_survives"
)

# PIER_LANE_PLAN replaces the plan (entries one per line), to try a few tests in the guest while
# working on them; the suite always runs the whole plan.
if [[ -n "${PIER_LANE_PLAN:-}" ]]; then
  mapfile -t plan <<<"$PIER_LANE_PLAN"
fi

if ! command -v qemu-system-x86_64 >/dev/null || ! command -v qemu-img >/dev/null; then
  # shellcheck source=scripts/qemu-pin.sh
  . "$repo/scripts/qemu-pin.sh"
  qemu_pin qemu-system-x86 qemu-utils
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${qemu_apt_args[@]}" qemu-system-x86 qemu-utils >/dev/null
fi
image=$("$repo/scripts/v2-guest/build-image.sh" "$cache")
if [ "${1:-}" = --prepare ]; then
  echo "v2-lane: the guest is ready in $image"
  exit 0
fi
for f in rootfs.img vmlinuz initrd.img; do
  [ -f "$image/$f" ] || { echo "v2-lane: the guest builder gave '$image', which holds no $f" >&2; exit 1; }
done

rm -rf "$lane"
mkdir -p "$lane"
# Deadlines in the tests stretch by this factor (tests/common: scaled): emulation is slower.
scale="${PIER_TEST_TIME_SCALE:-6}"
printf 'export CI=%q PIER_TEST_TIME_SCALE=%q PIER_LANE_JOBS=%q\n' "${CI:-}" "$scale" "${PIER_LANE_JOBS:-1}" > "$lane/env"

# Each run writes to a throwaway overlay; the cached image stays as built.
disk="$lane/disk.qcow2"
console="$lane/console.log"
qemu_log="$lane/qemu.log"
qemu-img create -q -f qcow2 -b "$image/rootfs.img" -F raw "$disk"
# shellcheck source=scripts/v2-guest/qemu.sh
. "$repo/scripts/v2-guest/qemu.sh"
qemu=
# shellcheck disable=SC2317 # called by the trap
cleanup() { stop_qemu; rm -f "$disk"; }
trap cleanup EXIT
# Stopped by a signal (scripts/test.sh stops the lane when the suite fails): exit through the
# EXIT trap, so that QEMU does not outlive the lane.
trap 'exit 143' TERM INT HUP

choose_accel
[ "$accel" = tcg ] && boot tcg
booted=$(date +%s)
echo "v2-lane: accelerator $accel: $why" | tee "$lane/accel"

# The guest boots while the host builds the tests (its runner waits for the plan). Test
# executables by target name, from cargo's own build report. scripts/test.sh starts the lane
# before its build and passes the path of that build's report, which it renames into place once
# the build has succeeded (it stops the lane if the build fails): a second cargo here would wait
# for the build lock that the host's tests hold while they run beside the lane.
if [[ -n "${PIER_LANE_ARTIFACTS:-}" ]]; then
  until [ -f "$PIER_LANE_ARTIFACTS" ]; do
    if [ "$(date +%s)" -gt $((start + timeout_s)) ]; then
      echo "v2-lane: no build report at $PIER_LANE_ARTIFACTS after ${timeout_s} s" >&2
      exit 1
    fi
    sleep 2
  done
  echo "v2-lane: the tests are built ($(( $(date +%s) - start )) s after the lane started)"
  cp "$PIER_LANE_ARTIFACTS" "$lane/artifacts.json"
else
  cargo test --workspace --no-run --message-format=json 2>/dev/null >"$lane/artifacts.json"
fi
"$repo/scripts/v2-guest/resolve-plan.py" "$lane" "${plan[@]}"
# Whole or not at all: the guest's runner starts as soon as the plan exists.
mv "$lane/plan.partial" "$lane/plan"

# The runner's own lines, without the journal's "[ time] pier-lane[pid]: " prefix.
lane_lines() { sed -n -E 's/^.*pier-lane\[[0-9]+\]: //p' || true; }

# Follow the guest's lane lines until qemu exits (the guest powers off) or the time runs out.
# (The guard counts from the plan: the build before it is not the guest's.)
deadline=$(( $(date +%s) + timeout_s ))
shown=0
while kill -0 "$qemu" 2>/dev/null; do
  # A KVM guest that reached init but never starts the lane (it hung in the kernel or in
  # systemd) is retried under TCG, on a fresh overlay.
  if [ "$accel" = kvm ] && [ "$(date +%s)" -gt $((booted + ${PIER_KVM_START_SECONDS:-120})) ] &&
    ! grep -q 'pier-lane: started' "$console"; then
    stop_qemu
    accel=tcg
    why="the guest reached init under KVM but did not start the lane within ${PIER_KVM_START_SECONDS:-120} s"
    echo "v2-lane: accelerator $accel: $why" | tee "$lane/accel"
    rm -f "$disk"
    qemu-img create -q -f qcow2 -b "$image/rootfs.img" -F raw "$disk"
    boot tcg
    booted=$(date +%s)
    shown=0
  fi
  if [ "$(date +%s)" -gt "$deadline" ]; then
    echo "v2-lane: timed out after ${timeout_s} s; the guest's console is in $console" >&2
    exit 1
  fi
  total=$(grep -c '' "$console" || true)
  if [ "$total" -gt "$shown" ]; then
    sed -n "$((shown + 1)),${total}p" "$console" | lane_lines
    shown=$total
  fi
  sleep 2
done
stop_qemu
sed -n "$((shown + 1)),\$p" "$console" | lane_lines
status=$(cat "$lane/status" 2>/dev/null || echo "no status: the guest did not finish the plan")
echo "v2-lane: $status; accelerator $accel; lane took $(( $(date +%s) - start )) s (logs in $lane/out)"
case "$status" in
  *" 0 failed,"*) exit 0 ;;
  *) for f in "$lane"/out/*.log; do
       grep -q '^test result: ok' "$f" || { echo "--- $f"; grep -a -E 'panicked|FAILED|failures:|assert' "$f" | head -40; }
     done
     exit 1 ;;
esac
