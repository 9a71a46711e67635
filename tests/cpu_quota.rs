//! `--cpus`: a CFS quota holds a busy loop near its share of one CPU. Alone in its test binary
//! (test binaries run one after another) so that no other test competes for the CPU.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{cgroup_dir, cpu_usage_ns, read_cgroup_number, Pier};
use std::time::{Duration, Instant};

/// Share of one CPU (percent) each cgroup used over the same `window`.
fn shares(infos: &[&serde_json::Value], window: Duration) -> Vec<f64> {
    let before: Vec<u64> = infos.iter().map(|i| cpu_usage_ns(i)).collect();
    let t = Instant::now();
    std::thread::sleep(window);
    let elapsed = t.elapsed().as_nanos() as f64;
    infos
        .iter()
        .zip(before)
        .map(|(i, b)| (cpu_usage_ns(i) - b) as f64 / elapsed * 100.0)
        .collect()
}

#[test]
fn cpus_half_holds_a_busy_loop_near_50_percent() {
    let p = Pier::new();
    let busy = ["busybox", "sh", "-c", "while :; do :; done"];
    let mut args = vec!["--cpus", "0.5"];
    args.extend(busy);
    let capped = p.run_detached(&args);
    // An unlimited busy loop alongside shows how much a loop can get right now: the machine
    // may be busy with other work, which lowers both.
    let free = p.run_detached(&busy);
    let info = p.inspect(&capped);
    let free_info = p.inspect(&free);
    let cpu = cgroup_dir(&info, "cpu");
    if common::is_v2(&info) {
        assert_eq!(
            std::fs::read_to_string(cpu.join("cpu.max"))
                .expect("cpu.max")
                .trim(),
            "50000 100000"
        );
    } else {
        assert_eq!(
            read_cgroup_number(&cpu.join("cpu.cfs_quota_us")),
            Some(50_000)
        );
        assert_eq!(
            read_cgroup_number(&cpu.join("cpu.cfs_period_us")),
            Some(100_000)
        );
    }
    std::thread::sleep(Duration::from_millis(200));
    let mut seen = Vec::new();
    for _ in 0..4 {
        let s = shares(&[&info, &free_info], Duration::from_secs(1));
        let (capped_share, free_share) = (s[0], s[1]);
        seen.push((capped_share, free_share));
        assert!(
            capped_share <= 65.0,
            "busy loop under --cpus 0.5 used {capped_share:.1}% of one CPU"
        );
        // Near 50% when a CPU is free; under load, no less than most of what a free loop gets.
        if capped_share >= 35.0f64.min(free_share * 0.7) {
            break;
        }
    }
    eprintln!("cpu shares (capped %, free %): {seen:.1?}");
    let (capped_share, free_share) = *seen.last().expect("a sample");
    assert!(
        capped_share >= 35.0f64.min(free_share * 0.7),
        "busy loop under --cpus 0.5 got too little: (capped %, free %) = {seen:.1?}"
    );
    p.ok(&["rm", "-f", &free]);

    // pier stats agrees with the cgroup over the same time.
    let (u0, t0) = (cpu_usage_ns(&info), Instant::now());
    let stats = p.ok(&["stats", "--no-stream", "--format", "json", &capped]);
    let raw = (cpu_usage_ns(&info) - u0) as f64 / t0.elapsed().as_nanos() as f64 * 100.0;
    let s: serde_json::Value =
        serde_json::from_str(&stats).unwrap_or_else(|e| panic!("stats JSON ({e}): {stats}"));
    let cpu_percent = s["cpu_percent"].as_f64().expect("cpu_percent");
    assert!(
        cpu_percent <= 65.0 && (cpu_percent - raw).abs() <= 15.0,
        "pier stats says {cpu_percent:.1}%, the cgroup says {raw:.1}% over the same time"
    );
    assert_eq!(s["id"], &capped[..12]);
    if cpu_percent >= 45.0 {
        assert!(
            s["throttled_periods"].as_u64().expect("throttled_periods") > 0,
            "at its quota the loop should be throttled: {s}"
        );
    }
}
