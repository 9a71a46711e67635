#!/usr/bin/env bash
# The main job: install the peers (runc, crun, podman, docker.io, QEMU, iperf3, numpy), build
# pier, the harness program `pier bench` runs (pier-bench) and the static payload in release
# mode, then benchmark native vs pier vs runc/crun/podman/Docker vs a VM. Arguments go to `pier bench` (e.g. --quick, --full, --suite cpu,net, --env native,pier).
# Results: results/<timestamp>/ (report.md, CSVs, plots), results/latest -> the newest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh bench
export PATH="$HOME/.cargo/bin:$PATH"
# numpy for the OpenBLAS reference row (optional: the suite says so when it is missing).
python3 -c 'import numpy' 2>/dev/null || pip3 install --quiet --break-system-packages numpy || true
cargo build --release --quiet -p pier -p pier-bench
payload="$(bench/build-payload.sh)"
exec target/release/pier bench --payload "$payload" "$@"
