#!/usr/bin/env bash
# Reference solution of lab 10. The numbers come from summary.csv, which `pier bench` writes
# next to report.md (one row per suite, metric, environment and variant, with the median),
# and the accelerator from environment.json beside it.
# ANCHOR: all
set -euo pipefail
# Run in the lab's directory, so that results/ lands there (and `pier lab reset 10` removes it).
cd "$(pier lab dir 10)"
# ANCHOR: time
time pier run --rm busybox true
# ANCHOR_END: time
# Five timed starts; the median in milliseconds.
for _ in 1 2 3 4 5; do
    t0=$(date +%s%N)
    pier run --rm busybox true
    t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000000 ))
done | sort -n | sed -n 3p > startup-ms
# ANCHOR: bench
pier bench --suite startup,cpu --quick 2>&1 | tee bench.log
# ANCHOR_END: bench
report=$(grep -o '[^ ]*report\.md' bench.log | tail -n 1)
report=$(realpath "$report")
pier lab answer 10 report "$report"
pier lab answer 10 startup-ms "$(cat startup-ms)"
# ANCHOR: summary
summary="$(dirname "$report")/summary.csv"
# The median of the first cpu metric that both the native row and the pier container have
# (the OpenBLAS reference runs natively only), then the same metric and variant for pier.
read -r native container < <(awk -F, '
    NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
    $h["suite"] == "cpu" { rows[++n] = $0 }
    END {
        for (i = 1; i <= n; i++) {
            split(rows[i], f, ",")
            if (f[h["environment"]] != "native") continue
            for (j = 1; j <= n; j++) {
                split(rows[j], g, ",")
                if (g[h["metric"]] == f[h["metric"]] && g[h["variant"]] == f[h["variant"]] && g[h["environment"]] == "pier") { print f[h["median"]], g[h["median"]]; exit }
            }
        }
    }' "$summary")
# The VM's first cpu median (its environment is qemu-kvm or qemu-tcg), or none.
vm=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
    $h["suite"] == "cpu" && $h["environment"] ~ /^qemu/ { print $h["median"]; exit }' "$summary")
accelerator=$(sed -n 's/.*"qemu_accelerator": *"\([a-z]*\)".*/\1/p' "$(dirname "$report")/environment.json")
[ -n "$vm" ] || accelerator=""
# ANCHOR_END: summary
pier lab answer 10 native-gflops "$native"
pier lab answer 10 container-gflops "$container"
pier lab answer 10 vm-gflops "${vm:-none}"
pier lab answer 10 accelerator "${accelerator:-none}"
pier lab check 10
# ANCHOR_END: all
