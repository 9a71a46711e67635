#!/usr/bin/env bash
# The main job: install the peers (runc, crun, podman, docker.io, QEMU, iperf3, numpy), build
# pier, the harness program `pier bench` runs (pier-bench) and the static payload in release
# mode, then benchmark native vs pier vs runc/crun/podman/Docker vs a VM. Arguments go to
# `pier bench` (e.g. --quick, --full, --suite cpu,net, --env native,pier).
# Results: results/<timestamp>/ (report.md, CSVs, plots), results/latest -> the newest.
# Works from a fresh clone on a fresh machine: each step says what it installs or builds, with
# cargo's progress; a first run builds everything (about 10 minutes on 2 cores), later ones
# reuse target/. The bench keeps its own state in $PIER_BENCH_CACHE (default /var/tmp/pier-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
say() { echo "bench.sh: $* ($(($(date +%s) - start)) s)" >&2; }

say "installing what the bench needs (scripts/setup.sh bench: Debian packages, only those missing)"
scripts/setup.sh bench
export PATH="$HOME/.cargo/bin:$PATH"
# numpy for the OpenBLAS reference row (optional: the suite says so when it is missing).
if ! python3 -c 'import numpy' 2>/dev/null; then
  say "installing numpy (for the OpenBLAS reference row)"
  pip3 install --quiet --break-system-packages numpy || say "numpy could not be installed: the OpenBLAS row will say so"
fi
say "building pier and pier-bench (release)"
cargo build --release -p pier -p pier-bench
say "building the static payload (release, bench/payload alone)"
payload="$(bench/build-payload.sh)"
say "running pier bench $*"
exec target/release/pier bench --payload "$payload" "$@"
