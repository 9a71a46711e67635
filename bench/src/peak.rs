//! The machine's theoretical double-precision peak: cores × clock × FLOP per cycle, the
//! yardstick Linpack results are quoted against ("N% of peak").
//!
//! FLOP per cycle follows from the widest vector FMA the CPU has, assuming two vector
//! FMA units per core (server cores since Haswell and Zen 2); a core with one unit has half
//! this peak. AMD's Zen 3/4 (family 25) execute AVX-512 on 256-bit units, so they count as
//! AVX2. The clock is the highest one the machine reports; all-core turbo under load is
//! usually lower, so the peak is an upper bound.

use crate::environment::EnvironmentRecord;
use crate::format::num;

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
}
