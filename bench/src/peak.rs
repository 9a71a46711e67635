//! The machine's theoretical double-precision peak: cores × clock × FLOP per cycle, the
//! yardstick Linpack results are quoted against ("N% of peak").
//!
//! FLOP per cycle follows from the widest vector FMA the CPU has, assuming two vector
//! FMA units per core (server cores since Haswell and Zen 2); a core with one unit has half
//! this peak. AMD's Zen 3/4 (family 25) execute AVX-512 on 256-bit units, so they count as
//! AVX2. The clock is the highest one the machine reports; without cpufreq (a VM, many
//! clouds) that is `/proc/cpuinfo`'s "cpu MHz", the nominal clock, which a core under turbo
//! exceeds (and one under AVX-512 load may not reach), so the computed peak is a yardstick,
//! not a bound.
//!
//! [`Measured`] is the bound: what an FMA throughput kernel (`pier-payload peak`) achieved at
//! the start of the cpu suite, at the clock the cores really ran at. When a run has it, "of
//! peak" and the plausibility check use it.

use crate::environment::EnvironmentRecord;
use crate::format::num;
use serde::{Deserialize, Serialize};

/// A DGEMM figure may exceed the measured peak by this fraction before it is flagged: the
/// peak is measured once, on a shared machine, in short windows.
pub const MEASURED_TOLERANCE: f64 = 0.05;

/// The achievable peak measured by `pier-payload peak` (saved in the run's `notes.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// The instruction set of the kernel (`avx512`, `avx2`, `sse2`).
    pub isa: String,
    /// The kernel (`AVX-512F FMA, 12 chains of 8 doubles`).
    pub kernel: String,
    /// GFLOP/s per thread count, the best window of each.
    pub points: Vec<MeasuredPoint>,
}

/// The measured peak of one thread count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasuredPoint {
    /// Threads run together.
    pub threads: usize,
    /// GFLOP/s of all of them.
    pub gflops: f64,
}

impl Measured {
    /// Reads the JSON line of `pier-payload peak`.
    pub fn from_payload(json: &serde_json::Value) -> Result<Measured, String> {
        let text = |k: &str| {
            json[k]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("the peak output lacks {k:?}: {json}"))
        };
        let points = json["results"]
            .as_array()
            .ok_or_else(|| format!("the peak output lacks results: {json}"))?
            .iter()
            .map(
                |p| match (p["threads"].as_u64(), p["best_gflops"].as_f64()) {
                    (Some(t), Some(g)) if g > 0.0 => Ok(MeasuredPoint {
                        threads: t as usize,
                        gflops: g,
                    }),
                    _ => Err(format!(
                        "a peak point lacks threads or a positive best_gflops: {p}"
                    )),
                },
            )
            .collect::<Result<Vec<_>, _>>()?;
        if points.is_empty() {
            return Err("the peak output has no point".into());
        }
        Ok(Measured {
            isa: text("isa")?,
            kernel: text("kernel")?,
            points,
        })
    }

    /// GFLOP/s of `threads` threads: the point measured with that many, else the straight
    /// line between the nearest measured ones (the last one beyond them).
    pub fn gflops(&self, threads: usize) -> f64 {
        let mut pts = self.points.clone();
        pts.sort_by_key(|p| p.threads);
        if let Some(p) = pts.iter().find(|p| p.threads == threads) {
            return p.gflops;
        }
        let below = pts.iter().rev().find(|p| p.threads < threads);
        let above = pts.iter().find(|p| p.threads > threads);
        match (below, above) {
            (Some(a), Some(b)) => {
                let f = (threads - a.threads) as f64 / (b.threads - a.threads) as f64;
                a.gflops + f * (b.gflops - a.gflops)
            }
            (Some(p), None) | (None, Some(p)) => p.gflops,
            (None, None) => 0.0,
        }
    }

    /// One sentence for the report.
    pub fn describe(&self) -> String {
        let mut pts = self.points.clone();
        pts.sort_by_key(|p| p.threads);
        let figures: Vec<String> = pts
            .iter()
            .map(|p| format!("{} GFLOPS with {} thread(s)", num(p.gflops), p.threads))
            .collect();
        format!("{} ({})", figures.join(", "), self.kernel)
    }
}

/// The theoretical peak of this machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Peak {
    /// The vector extension the FLOP count assumes.
    pub isa: &'static str,
    /// Double-precision FLOP per cycle per core.
    pub flop_per_cycle: f64,
    /// Clock in MHz.
    pub mhz: f64,
    /// Where the clock came from.
    pub mhz_source: String,
    /// Physical cores the benchmark could use (available CPUs / SMT threads per core).
    pub cores: usize,
}

/// The widest vector extension and its FLOP per cycle per core (FP64, two units).
pub fn flop_per_cycle(
    flags: &[String],
    vendor: Option<&str>,
    family: Option<u32>,
) -> (&'static str, f64) {
    let has = |f: &str| flags.iter().any(|x| x == f);
    let zen_256 = vendor == Some("AuthenticAMD") && family.is_some_and(|f| f <= 25);
    if has("avx512f") && !zen_256 {
        // 8 doubles × 2 (multiply + add) × 2 units.
        ("AVX-512 FMA: 8 doubles × 2 FLOP × 2 units", 32.0)
    } else if has("avx2") && has("fma") || has("avx512f") {
        ("AVX2 FMA: 4 doubles × 2 FLOP × 2 units", 16.0)
    } else if has("avx") {
        ("AVX: 4 doubles × (1 add + 1 multiply)", 8.0)
    } else {
        ("SSE2: 2 doubles × (1 add + 1 multiply)", 4.0)
    }
}

impl Peak {
    /// The peak of `env`, or why it is unknown.
    pub fn of(env: &EnvironmentRecord) -> Result<Peak, String> {
        let Some(mhz) = env.cpu_mhz_max.filter(|m| *m > 0.0) else {
            return Err(if env.cpu_vendor.is_none() {
                "this run's environment.json predates the CPU clock record (rerun pier bench to get it)".into()
            } else {
                "the machine reports no CPU clock".into()
            });
        };
        let (isa, fpc) = flop_per_cycle(&env.cpu_flags, env.cpu_vendor.as_deref(), env.cpu_family);
        let tpc = env.threads_per_core.unwrap_or(1).max(1);
        Ok(Peak {
            isa,
            flop_per_cycle: fpc,
            mhz,
            mhz_source: env.cpu_mhz_source.clone().unwrap_or_default(),
            cores: (env.available_cpus / tpc).max(1),
        })
    }

    /// GFLOPS of `threads` threads: one core's peak each, up to the physical cores.
    pub fn gflops(&self, threads: usize) -> f64 {
        threads.clamp(1, self.cores) as f64 * self.mhz / 1000.0 * self.flop_per_cycle
    }

    /// One sentence for the report.
    pub fn describe(&self) -> String {
        format!(
            "{} cores × {} GHz × {} FLOP/cycle ({}) = {} GFLOPS ({} per core); clock from {}",
            self.cores,
            num(self.mhz / 1000.0),
            self.flop_per_cycle,
            self.isa,
            num(self.gflops(self.cores)),
            num(self.gflops(1)),
            self.mhz_source
        )
    }
}

/// Threads of a DGEMM metric (`dgemm_gflops_n1024_t2` → 2).
pub fn dgemm_threads(metric: &str) -> Option<usize> {
    metric.rsplit_once("_t")?.1.parse().ok()
}

/// Matrix size of a DGEMM metric (`dgemm_gflops_n1024_t2` → 1024).
pub fn dgemm_size(metric: &str) -> Option<usize> {
    let rest = metric.split("_n").nth(1)?;
    rest.split('_').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(f: &[&str]) -> Vec<String> {
        f.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flop_per_cycle_follows_the_vector_width() {
        let intel = Some("GenuineIntel");
        assert_eq!(
            flop_per_cycle(
                &flags(&["sse2", "avx", "avx2", "fma", "avx512f"]),
                intel,
                Some(6)
            )
            .1,
            32.0
        );
        assert_eq!(
            flop_per_cycle(&flags(&["sse2", "avx", "avx2", "fma"]), intel, Some(6)).1,
            16.0
        );
        assert_eq!(
            flop_per_cycle(&flags(&["sse2", "avx"]), intel, Some(6)).1,
            8.0
        );
        assert_eq!(flop_per_cycle(&flags(&["sse2"]), intel, Some(6)).1, 4.0);
        // Zen 4 has AVX-512 on 256-bit units; Zen 5 (family 26) has full-width units.
        let amd = Some("AuthenticAMD");
        assert_eq!(
            flop_per_cycle(&flags(&["avx2", "fma", "avx512f"]), amd, Some(25)).1,
            16.0
        );
        assert_eq!(
            flop_per_cycle(&flags(&["avx2", "fma", "avx512f"]), amd, Some(26)).1,
            32.0
        );
    }

    #[test]
    fn peak_of_a_machine_and_of_an_old_record() {
        let mut env = crate::environment::EnvironmentRecord::collect(&Default::default()).unwrap();
        env.cpu_flags = flags(&["sse2", "avx", "avx2", "fma"]);
        env.cpu_vendor = Some("GenuineIntel".into());
        env.cpu_family = Some(6);
        env.available_cpus = 4;
        env.threads_per_core = Some(2);
        env.cpu_mhz_max = Some(3000.0);
        env.cpu_mhz_source = Some("test".into());
        let p = Peak::of(&env).unwrap();
        assert_eq!(p.cores, 2);
        assert_eq!(p.gflops(1), 48.0);
        // Four threads on two cores: SMT siblings share the FMA units.
        assert_eq!(p.gflops(4), 96.0);
        assert!(p.describe().contains("= 96.00 GFLOPS"), "{}", p.describe());
        env.cpu_mhz_max = None;
        env.cpu_vendor = None;
        assert!(Peak::of(&env).unwrap_err().contains("predates"));
    }

    #[test]
    fn dgemm_metric_names() {
        assert_eq!(dgemm_threads("dgemm_gflops_n1024_t2"), Some(2));
        assert_eq!(dgemm_size("dgemm_gflops_n1024_t2"), Some(1024));
        assert_eq!(dgemm_size("openblas_dgemm_gflops_n256_t1"), Some(256));
        assert_eq!(dgemm_threads("stream_triad"), None);
    }

    #[test]
    fn measured_peak_from_the_payload_line() {
        let json = serde_json::json!({
            "suite": "peak", "isa": "avx2", "kernel": "AVX2 FMA, 12 chains of 4 doubles",
            "cpu_threads": 4, "window_seconds": 0.08,
            "results": [
                {"threads": 1, "best_gflops": 60.0, "gflops": [59.0, 60.0]},
                {"threads": 4, "best_gflops": 150.0, "gflops": [150.0, 140.0]}
            ]
        });
        let m = Measured::from_payload(&json).unwrap();
        assert_eq!(m.isa, "avx2");
        assert_eq!(m.gflops(1), 60.0);
        assert_eq!(m.gflops(4), 150.0);
        // Between the measured thread counts, the straight line; beyond, the last one.
        assert_eq!(m.gflops(2), 90.0);
        assert_eq!(m.gflops(8), 150.0);
        assert!(
            m.describe()
                .starts_with("60.00 GFLOPS with 1 thread(s), 150.0 GFLOPS with 4"),
            "{}",
            m.describe()
        );
        // Kept in notes.json and read back.
        let notes = crate::notes::Notes {
            measured_peak: Some(m.clone()),
            ..Default::default()
        };
        let back: crate::notes::Notes =
            serde_json::from_str(&serde_json::to_string(&notes).unwrap()).unwrap();
        assert_eq!(back.measured_peak, Some(m));
        let mut bad = json.clone();
        bad["results"][0]["best_gflops"] = serde_json::json!(0.0);
        assert!(Measured::from_payload(&bad)
            .unwrap_err()
            .contains("positive"));
        assert!(Measured::from_payload(&serde_json::json!({"isa": "avx2"})).is_err());
    }
}
