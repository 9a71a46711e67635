#!/bin/sh
# Build the static pier-payload (glibc, +crt-static; the bench/payload crate alone, not the
# harness) and print its path.
# --target keeps RUSTFLAGS off build scripts; same as pier_bench::payload::build_static().
set -eu
cd "$(dirname "$0")/.."
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --release -p pier-payload --bin pier-payload --target x86_64-unknown-linux-gnu >&2
echo "${CARGO_TARGET_DIR:-$PWD/target}/x86_64-unknown-linux-gnu/release/pier-payload"
