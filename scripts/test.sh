#!/usr/bin/env bash
# The whole test suite, as root on the real kernel: formatting, lints, unit tests, end-to-end
# tests of the `pier` binary, the labs' checker cycle, and the cgroup-v2 guest lane
# (scripts/v2-lane.sh). Installs what it needs first, and prints each step's time at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
target="${CARGO_TARGET_DIR:-$PWD/target}"
mkdir -p "$target"

# Each step's time, printed at the end (with the skips), even when a step fails.
timings=""
step() { # step NAME COMMAND...: runs COMMAND, records how long NAME took, returns its status
  local name=$1 t0 rc=0
  shift
  t0=$(date +%s)
  echo "== $name" >&2
  # Not left to set -e: a step called as `step ... || failed+=(...)` runs with set -e off.
  "$@" || rc=$?
  timings+=$(printf '\n  %-46s %5d s' "$name" $(($(date +%s) - t0)))
  [ "$rc" -eq 0 ] || timings+=" (failed, exit $rc)"
  return "$rc"
}

# Tests that cannot run here say so through pier_testkit::prereq, one line each in this file:
# "skipped" (a prerequisite setup provides is missing; under CI=true that fails the test
# instead) or "not-applicable" (the machine is not one the test is about). Emptied now,
# printed at the end, even when a step fails.
skips="$target/test-skips.txt"
: >"$skips"
export PIER_TEST_SKIPS="$skips"
report_skips() {
  awk -F'\t' '
    !seen[$1 FS $2]++ { tests[$1]++ }
    { lines[$1] = lines[$1] "\n  " $2 ": " $3 }
    function show(title, kind) {
      printf "%s: %d tests%s%s\n", title, tests[kind], (tests[kind] ? ":" : ""), lines[kind]
    }
    END { show("skipped", "skipped"); show("not applicable here", "not-applicable") }
  ' "$skips"
}
lane=''
report() {
  local rc=$?
  [ -z "$lane" ] || { kill "$lane" 2>/dev/null; wait "$lane" 2>/dev/null; } || true
  report_skips
  echo "steps:${timings}"
  echo "test suite finished in $(($(date +%s) - start)) s (exit $rc)"
}
trap report EXIT

# Caches outside the checkout hide first-run bugs. Under CI every one of them is taken inside
# the checkout (a fresh clone: built from nothing): the v2 guest (scripts/v2-lane.sh) and the
# guest kernel of the bench's VM tests ($PIER_TEST_CACHE, else /var/tmp/pier-test-cache).
if [[ "${CI:-}" =~ ^(true|TRUE|True|1)$ ]]; then
  export PIER_TEST_CACHE="${PIER_TEST_CACHE:-$target/test-cache}"
fi

step "set-up (scripts/setup.sh test)" scripts/setup.sh test
export PATH="$HOME/.cargo/bin:$PATH"

# The cgroup-v2 lane: the tests that depend on the cgroup version, again inside a Debian 12 guest
# booted with systemd and the unified hierarchy only (QEMU; KVM where it works, else TCG). Under
# software emulation it is the longest step, so it starts first: the guest is built (or found in
# its cache) and booted while the host compiles (mostly downloads and unpacking, then a boot:
# they overlap the CPU-bound build), and it runs its tests as soon as they are built, beside
# the rest, at a lower priority so that the host's tests keep their timing (they mostly wait on
# the kernel and on processes, about a third of a core).
# The build's report names each test executable; it is renamed into place when the build has
# succeeded, which is the lane's signal to start its tests.
artifacts="$target/test-artifacts.json"
rm -f "$artifacts"
lane_log="$target/v2-lane.log"
PIER_LANE_ARTIFACTS="$artifacts" nice -n 10 scripts/v2-lane.sh >"$lane_log" 2>&1 &
lane=$!

step "formatting (cargo fmt --check)" cargo fmt --all -- --check
step "building the tests" bash -c "cargo test --workspace --no-run --message-format=json >'$artifacts.partial' && mv '$artifacts.partial' '$artifacts'"

failed=()
step "lints (cargo clippy -D warnings)" cargo clippy --workspace --all-targets --quiet -- -D warnings
# Lab 10 runs `pier bench`, which needs the static payload; cargo holds the build lock while
# tests run, so it cannot be built from inside a test.
step "the static bench payload (release build)" bench/build-payload.sh >/dev/null
step "tests on the host (the v2 lane runs beside them)" cargo test --workspace --no-fail-fast 2>&1 ||
  failed+=("tests on the host")
step "the book (English)" mdbook build book
# The Korean edition after the English one (the English build empties book/build, which holds
# book/build/ko).
step "the book (Korean)" mdbook build book/ko

wait_lane() {
  local rc=0
  wait "$lane" || rc=$?
  lane=
  cat "$lane_log"
  return "$rc"
}
step "the cgroup-v2 lane (waiting for it to finish)" wait_lane || failed+=("the cgroup-v2 lane")
if [ "${#failed[@]}" -gt 0 ]; then
  printf 'failed: %s\n' "${failed[@]}" >&2
  exit 1
fi
