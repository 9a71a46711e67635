#!/usr/bin/env bash
# Reference solution of lab 10. The numbers come from summary.csv, which `pier bench` writes
# next to report.md (one row per suite, metric, environment and variant, with the median).
# ANCHOR: all
set -euo pipefail
# Run in the lab's directory, so that results/ lands there (and `pier lab reset 10` removes it).
cd "$(pier lab dir 10)"
# ANCHOR: time
time pier run --rm busybox true
# ANCHOR_END: time
t0=$(date +%s%N)
pier run --rm busybox true
t1=$(date +%s%N)
pier lab answer 10 startup-ms $(( (t1 - t0) / 1000000 ))
# ANCHOR: bench
pier bench --suite startup,cpu --quick 2>&1 | tee bench.log
# ANCHOR_END: bench
report=$(grep -o '[^ ]*report\.md' bench.log | tail -n 1)
report=$(realpath "$report")
pier lab answer 10 report "$report"
# ANCHOR: summary
summary="$(dirname "$report")/summary.csv"
# The median of the first cpu metric for the native row, then the same metric and variant
# for the first environment that is neither native nor a VM (the pier container).
read -r native container < <(awk -F, '
    NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
    $h["suite"] == "cpu" { rows[++n] = $0 }
    END {
        for (i = 1; i <= n; i++) {
            split(rows[i], f, ",")
            if (f[h["environment"]] == "native") { metric = f[h["metric"]]; variant = f[h["variant"]]; nat = f[h["median"]]; break }
        }
        for (i = 1; i <= n; i++) {
            split(rows[i], f, ",")
            env = f[h["environment"]]
            if (f[h["metric"]] == metric && f[h["variant"]] == variant && env != "native" && env !~ /qemu|kvm|vm/) { print nat, f[h["median"]]; exit }
        }
    }' "$summary")
# ANCHOR_END: summary
pier lab answer 10 native-gflops "$native"
pier lab answer 10 container-gflops "$container"
pier lab check 10
# ANCHOR_END: all
