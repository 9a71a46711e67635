# shellcheck shell=bash
# The inputs are the caller's globals and the outputs are read by the caller:
# shellcheck disable=SC2154,SC2034
# Starting and stopping the cgroup-v2 guest under QEMU, and choosing its accelerator.
# Sourced by scripts/v2-lane.sh (and by tests/lane_scripts.rs with a stand-in qemu). The caller
# sets: image (the guest directory: vmlinuz, initrd.img), disk (the qcow2 overlay), repo (the
# checkout shared over 9p), console (the guest's serial log), qemu_log (QEMU's own output).
# These functions set: qemu (the running QEMU's PID, empty when none), accel and why.

# boot ACCEL: starts the guest under kvm or tcg in the background.
boot() {
  local cpu=max
  [ "$1" = kvm ] && cpu=host
  : >"$console"
  qemu-system-x86_64 -accel "$1" -cpu "$cpu" -smp 2 -m 4096 -nographic -no-reboot \
    -nic none -monitor none -serial "file:$console" \
    -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 systemd.unified_cgroup_hierarchy=1 pier.repo=$repo panic=-1" \
    -drive "file=$disk,if=virtio,format=qcow2,cache=unsafe" \
    -virtfs "local,path=$repo,mount_tag=repo,security_model=passthrough,id=repo" \
    >"$qemu_log" 2>&1 &
  qemu=$!
}

# stop_qemu: ends the guest's QEMU if one runs (TERM, then KILL after 5 s), whatever state it
# is in: already exited and reaped, aborted, or hung in the kernel. Never fails.
stop_qemu() {
  [ -n "${qemu:-}" ] || return 0
  kill "$qemu" 2>/dev/null || true
  local i
  for ((i = 0; i < 50; i++)); do
    kill -0 "$qemu" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$qemu" 2>/dev/null || true
  wait "$qemu" 2>/dev/null || true
  qemu=
}

# choose_accel: KVM only if a guest really runs under it (/dev/kvm can exist on hosts where a
# guest aborts on an MSR or hangs), else TCG. A KVM guest that cannot start, aborts or hangs
# is a fallback to TCG with the reason in $why, never a failure. On KVM the probed guest goes
# on running (it is the lane's guest); on TCG nothing is left running.
choose_accel() {
  local device="${PIER_KVM_DEVICE:-/dev/kvm}" probe_s="${PIER_KVM_PROBE_SECONDS:-20}" i
  accel=tcg
  if ! { [ -r "$device" ] && [ -w "$device" ]; }; then
    why="$device cannot be opened"
    return 0
  fi
  boot kvm
  for ((i = 0; i < probe_s * 2; i++)); do
    if grep -q 'Run /init as init process' "$console" 2>/dev/null; then
      accel=kvm
      why="the guest kernel booted under KVM"
      return 0
    fi
    kill -0 "$qemu" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$qemu" 2>/dev/null; then
    why="a guest kernel did not reach init under KVM within $probe_s s"
  else
    why="QEMU exited under KVM before the guest reached init"
  fi
  stop_qemu
  # QEMU's own last words (an abort names the MSR or the ioctl), on one line.
  local said
  said=$(tr '\n' ' ' <"$qemu_log" 2>/dev/null | cut -c1-200 || true)
  [ -z "$said" ] || why="$why: $said"
}
