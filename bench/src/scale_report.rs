//! The report's section on the scale suite: the time of one more `run -d` as the number of
//! running containers grows, and what each container costs in memory, for pier, podman and
//! Docker side by side, with the peak RSS of the commands and of the bench itself.

use crate::record::Sample;
use crate::stats::median;
use std::fmt::Write;

/// The engines, in the order of the columns.
const ENGINES: [&str; 3] = ["pier", "podman", "docker"];

/// The windows of start numbers whose medians the time table shows: (after, up to].
const WINDOWS: [(u32, u32); 6] = [(0, 1), (1, 10), (10, 50), (50, 100), (100, 250), (250, 500)];

/// Appends the section to `md` when the run has scale samples.
pub fn render(md: &mut String, samples: &[Sample]) {
    let scale: Vec<&Sample> = samples.iter().filter(|s| s.suite == "scale").collect();
    let n = scale
        .iter()
        .filter(|s| s.metric == "start_ms")
        .map(|s| s.iteration)
        .max();
    let Some(n) = n else {
        return;
    };
    let ran: Vec<&str> = ENGINES
        .into_iter()
        .filter(|e| scale.iter().any(|s| s.environment == *e))
        .collect();
    let _ = writeln!(
        md,
        "\n## Scale: up to {n} detached containers\n\n\
         Each engine started {n} containers one after another (`run -d`, a bridge network, busybox \
         `sleep`), alone on the machine, then removed them. Time: the median of the starts in each \
         range; memory: the summed PSS of the processes each container adds (pier's monitor, \
         podman's conmon, Docker's containerd-shim) divided by the number running, and what \
         Docker's daemons (dockerd + containerd) grew by since the first start, per container. \
         Engines run: {}.\n",
        ran.join(", ")
    );
    let values = |env: &str, metric: &str, keep: &dyn Fn(u32) -> bool| -> Vec<f64> {
        scale
            .iter()
            .filter(|s| s.environment == env && s.metric == metric && keep(s.iteration))
            .map(|s| s.value)
            .collect()
    };
    // Time per start.
    let mut head = String::from("| starts | ");
    head.push_str(
        &ran.iter()
            .map(|e| format!("{e} (ms)"))
            .collect::<Vec<_>>()
            .join(" | "),
    );
    for e in ran.iter().filter(|e| **e != "pier") {
        let _ = write!(head, " | {e} / pier");
    }
    let _ = writeln!(md, "{head} |");
    let peers = ran.iter().filter(|e| **e != "pier").count();
    let _ = writeln!(md, "|{}", " --- |".repeat(1 + ran.len() + peers));
    for (after, upto) in WINDOWS.into_iter().filter(|(a, _)| *a < n) {
        let upto = upto.min(n);
        let med = |e: &str| median(&values(e, "start_ms", &|i| i > after && i <= upto));
        let mut row = format!("| {}–{upto} |", after + 1);
        for e in &ran {
            let _ = write!(row, " {} |", fmt(med(e), 1));
        }
        for e in ran.iter().filter(|e| **e != "pier") {
            let ratio = med(e).zip(med("pier")).map(|(x, p)| x / p);
            let _ = write!(row, " {} |", fmt(ratio, 2) + "×");
        }
        let _ = writeln!(md, "{row}");
    }
    // Growth: the last range against the first ten.
    let _ = writeln!(md);
    for e in &ran {
        let first = median(&values(e, "start_ms", &|i| i <= 10.min(n)));
        let last_from = WINDOWS
            .iter()
            .rev()
            .find(|(a, _)| *a < n)
            .map_or(0, |(a, _)| *a);
        let last = median(&values(e, "start_ms", &|i| i > last_from));
        if let (Some(f), Some(l)) = (first, last) {
            let _ = writeln!(
                md,
                "* {e}: the starts {}–{n} take {:.2}× the first ten's median ({l:.1} vs {f:.1} ms).",
                last_from + 1,
                l / f
            );
        }
    }
    // Memory per container at each checkpoint.
    let marks: Vec<u32> = {
        let mut m: Vec<u32> = scale
            .iter()
            .filter(|s| s.metric == "per_container_pss_kib")
            .map(|s| s.iteration)
            .collect();
        m.sort_unstable();
        m.dedup();
        m
    };
    if !marks.is_empty() {
        let _ = writeln!(
            md,
            "\n| running | pier monitor PSS | podman conmon PSS | docker shim PSS | dockerd + containerd growth | docker total |\n| ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        for c in &marks {
            let at = |e: &str, m: &str| median(&values(e, m, &|i| i == *c));
            let docker_total = at("docker", "per_container_pss_kib")
                .zip(at("docker", "daemon_growth_pss_kib"))
                .map(|(a, b)| a + b);
            let _ = writeln!(
                md,
                "| {c} | {} | {} | {} | {} | {} |",
                kib(at("pier", "per_container_pss_kib")),
                kib(at("podman", "per_container_pss_kib")),
                kib(at("docker", "per_container_pss_kib")),
                kib(at("docker", "daemon_growth_pss_kib")),
                kib(docker_total),
            );
        }
    }
    // Peak RSS of the commands, RSS per container process, the bench itself.
    let _ = writeln!(
        md,
        "\n| memory | pier | podman | docker |\n| --- | ---: | ---: | ---: |"
    );
    let all = |e: &str, m: &str| median(&values(e, m, &|_| true));
    let last = |e: &str, m: &str| {
        let at = marks.last().copied().unwrap_or(n);
        median(&values(e, m, &|i| i == at))
    };
    let _ = writeln!(
        md,
        "| peak RSS of `run -d` (median; Docker: the client) | {} | {} | {} |",
        kib(all("pier", "client_peak_rss_kib")),
        kib(all("podman", "client_peak_rss_kib")),
        kib(all("docker", "client_peak_rss_kib")),
    );
    let _ = writeln!(
        md,
        "| RSS per container process at {} (monitor / conmon / shim) | {} | {} | {} |",
        marks.last().copied().unwrap_or(n),
        kib(last("pier", "per_container_rss_kib")),
        kib(last("podman", "per_container_rss_kib")),
        kib(last("docker", "per_container_rss_kib")),
    );
    let _ = writeln!(
        md,
        "| `rm -f` per container (median, 50 at a time) | {} | {} | {} |",
        ms(all("pier", "remove_ms")),
        ms(all("podman", "remove_ms")),
        ms(all("docker", "remove_ms")),
    );
    if let Some(b) = median(&values("pier-bench", "bench_peak_rss_kib", &|_| true)) {
        let _ = writeln!(md, "\n`pier bench`'s own peak RSS: {}.", kib(Some(b)));
    }
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{v:.digits$}"))
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{v:.1} ms"))
}

fn kib(v: Option<f64>) -> String {
    match v {
        Some(v) if v >= 1024.0 => format!("{:.2} MiB", v / 1024.0),
        Some(v) => format!("{v:.0} KiB"),
        None => "–".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(env: &str, metric: &str, i: u32, v: f64) -> Sample {
        Sample {
            run_id: "r".into(),
            suite: "scale".into(),
            metric: metric.into(),
            unit: "ms".into(),
            environment: env.into(),
            variant: "detached-bridge".into(),
            iteration: i,
            value: v,
            accelerator: None,
            timestamp: String::new(),
        }
    }

    #[test]
    fn renders_time_windows_ratios_and_memory() {
        let mut samples = Vec::new();
        for i in 1..=12 {
            samples.push(s("pier", "start_ms", i, 10.0));
            samples.push(s("docker", "start_ms", i, 100.0));
        }
        samples.push(s("pier", "per_container_pss_kib", 12, 512.0));
        samples.push(s("docker", "per_container_pss_kib", 12, 2048.0));
        samples.push(s("docker", "daemon_growth_pss_kib", 12, 1024.0));
        samples.push(s("pier-bench", "bench_peak_rss_kib", 0, 9000.0));
        let mut md = String::new();
        render(&mut md, &samples);
        assert!(md.contains("up to 12 detached containers"), "{md}");
        assert!(md.contains("| 11–12 | 10.0 | 100.0 | 10.00× |"), "{md}");
        assert!(
            md.contains("| 12 | 512 KiB | – | 2.00 MiB | 1.00 MiB | 3.00 MiB |"),
            "{md}"
        );
        assert!(md.contains("Engines run: pier, docker."), "{md}");
        assert!(md.contains("1.00× the first ten's"), "{md}");
        assert!(md.contains("own peak RSS: 8.79 MiB"), "{md}");
        let mut none = String::new();
        render(&mut none, &[]);
        assert!(none.is_empty());
    }
}
