#!/usr/bin/env bash
# The whole test suite, as root on the real kernel: formatting, lints, unit tests, end-to-end
# tests of the `pier` binary, the labs' checker cycle, and the cgroup-v2 guest lane
# (scripts/v2-lane.sh). Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
export PATH="$HOME/.cargo/bin:$PATH"
start=$(date +%s)

# Tests that cannot run here say so through pier_testkit::prereq, one line each in this file:
# "skipped" (a prerequisite setup provides is missing; under CI=true that fails the test
# instead) or "not-applicable" (the machine is not one the test is about). Emptied now,
# printed at the end, even when a step fails.
skips="${CARGO_TARGET_DIR:-$PWD/target}/test-skips.txt"
mkdir -p "$(dirname "$skips")"
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
trap report_skips EXIT
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# Lab 10 runs `pier bench`, which needs the static payload; cargo holds the build lock while
# tests run, so it cannot be built from inside a test.
bench/build-payload.sh >/dev/null
cargo test --workspace --no-fail-fast 2>&1
mdbook build book
# The Korean edition after the English one (the English build empties book/build, which holds
# book/build/ko).
mdbook build book/ko
# The cgroup-v2 lane: the tests that depend on the cgroup version, again inside a Debian 12 guest
# booted with systemd and the unified hierarchy only (QEMU; KVM where it works, else TCG).
scripts/v2-lane.sh
echo "test suite finished in $(( $(date +%s) - start )) s"
