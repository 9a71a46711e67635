//! The suites: what is measured in each environment, turned into [`Sample`]s.
//!
//! Each suite builds one [`Case`] per environment (and variant) and hands them to
//! [`harness::execute`], which interleaves them.

pub mod cpu;
pub mod jitter;
pub mod mem;
pub mod net;
pub mod pods;
pub mod scale;
pub mod startup;

use crate::envs::docker::Docker;
use crate::envs::vm_env::VmEnv;
use crate::envs::{Environment, NetMode, PayloadRun, Setup};
use crate::harness::{self, Case, EnvRef, Failure, Plan, SampleMaker};
use crate::record::Sample;
use anyhow::Result;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// Sizes and repetition counts, quick or full.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Measured runs per environment.
    pub runs: u32,
    /// Warm-up rounds.
    pub warmup: u32,
    /// Measured runs of the (emulated, slow) VM.
    pub vm_runs: u32,
    /// DGEMM sizes.
    pub gflops_sizes: Vec<usize>,
    /// DGEMM sizes in the VM (TCG is ~100x slower).
    pub vm_gflops_sizes: Vec<usize>,
    /// DGEMM repetitions inside one payload run.
    pub gflops_reps: usize,
    /// STREAM array length (doubles).
    pub stream_size: usize,
    /// STREAM repetitions inside one run.
    pub stream_reps: usize,
    /// Start-up launches per environment.
    pub startup_runs: u32,
    /// Seconds per TCP test.
    pub net_seconds: f64,
    /// Jitter work items per run.
    pub jitter_iters: usize,
    /// Timeout of one payload run (a VM under TCG gets 10x).
    pub timeout: Duration,
    /// Containers the scale suite starts in each engine.
    pub scale_n: u32,
    /// Pods the pods suite starts with each runtime handler.
    pub pods_n: u32,
    /// The pods suite's handlers (`pier`, `runc`, `crun`).
    pub pods_handlers: Vec<String>,
}

impl Settings {
    /// `--quick`: a few minutes on a 2-core machine.
    pub fn quick() -> Settings {
        Settings {
            runs: 5,
            warmup: 1,
            vm_runs: 2,
            gflops_sizes: vec![256, 512, 1024],
            vm_gflops_sizes: vec![256],
            gflops_reps: 5,
            stream_size: 5_000_000,
            stream_reps: 5,
            startup_runs: 20,
            net_seconds: 1.0,
            jitter_iters: 20_000,
            timeout: Duration::from_secs(60),
            scale_n: 500,
            pods_n: 20,
            pods_handlers: pods::HANDLERS.map(String::from).to_vec(),
        }
    }

    /// The full suite: more runs, larger sizes (under 30 minutes on 2 cores).
    pub fn full() -> Settings {
        Settings {
            runs: 7,
            warmup: 1,
            vm_runs: 3,
            // 2048 and 4096 approach the peak, like the study's large Linpack.
            gflops_sizes: vec![256, 512, 1024, 2048, 4096],
            vm_gflops_sizes: vec![256, 512],
            gflops_reps: 3,
            stream_size: 20_000_000,
            stream_reps: 10,
            startup_runs: 40,
            net_seconds: 3.0,
            jitter_iters: 100_000,
            timeout: Duration::from_secs(180),
            scale_n: 500,
            pods_n: 20,
            pods_handlers: pods::HANDLERS.map(String::from).to_vec(),
        }
    }

    /// The same settings scaled for tests: one run, tiny sizes.
    pub fn tiny() -> Settings {
        Settings {
            runs: 1,
            warmup: 0,
            vm_runs: 1,
            gflops_sizes: vec![64],
            vm_gflops_sizes: vec![64],
            gflops_reps: 1,
            stream_size: 100_000,
            stream_reps: 1,
            startup_runs: 1,
            net_seconds: 0.2,
            jitter_iters: 200,
            timeout: Duration::from_secs(60),
            scale_n: 3,
            pods_n: 1,
            pods_handlers: pods::HANDLERS.map(String::from).to_vec(),
        }
    }

    /// The plan for runs of the normal suites.
    pub fn plan(&self) -> Plan {
        Plan {
            warmup: self.warmup,
            runs: self.runs,
        }
    }
}

/// What every suite needs.
pub struct Ctx<'a> {
    /// Sizes and counts.
    pub settings: &'a Settings,
    /// Run identifier for samples.
    pub run_id: &'a str,
    /// Payload, pier binary, cache.
    pub setup: &'a Setup,
    /// Available environments, in the order they interleave.
    pub envs: Vec<EnvRef>,
    /// The VM, if available (the network suite needs it as a VM, not only as an environment).
    pub vm: Option<Rc<RefCell<VmEnv>>>,
    /// The bench's Docker, if available (the network suite starts servers in it).
    pub docker: Option<Rc<RefCell<Docker>>>,
    /// Draw progress bars.
    pub progress: bool,
}

/// Samples and failures of one suite, plus notes for the report.
#[derive(Debug, Default)]
pub struct SuiteOutput {
    /// Measured values.
    pub samples: Vec<Sample>,
    /// Cases that failed.
    pub failures: Vec<Failure>,
    /// Facts worth a line in the report (e.g. a reference measurement's source).
    pub notes: Vec<String>,
    /// The achievable peak (the cpu suite measures it first).
    pub measured_peak: Option<crate::peak::Measured>,
}

impl Ctx<'_> {
    /// A sample maker for `suite`.
    pub fn maker(&self, suite: &str) -> SampleMaker {
        SampleMaker {
            run_id: self.run_id.to_string(),
            suite: suite.to_string(),
        }
    }

    /// The environments that run compute workloads: every one except the whole-path peers
    /// measured for start-up and networking (podman, Docker), and `pier runtime`, which runs
    /// the same kernel mechanisms as `pier run`.
    pub fn workload_envs(&self) -> Vec<EnvRef> {
        self.envs
            .iter()
            .filter(|e| {
                let e = e.borrow();
                let whole_path_peer = matches!(e.name().as_str(), "podman" | "docker");
                let pier_runtime = e.name() == "pier" && e.variant() == "runtime";
                !whole_path_peer && !pier_runtime
            })
            .cloned()
            .collect()
    }

    /// Timeout for `env` (10x for a VM under emulation).
    pub fn timeout_for(&self, env: &dyn Environment) -> Duration {
        match env.accelerator().as_deref() {
            Some("tcg") => self.settings.timeout * 10,
            _ => self.settings.timeout,
        }
    }
}

/// Builds one case per environment of `envs` that runs the payload with `args` (host
/// network) and turns its JSON into samples with `parse(json, sample_fn)`.
pub fn payload_cases<'a, F>(
    ctx: &'a Ctx<'a>,
    suite: &str,
    envs: Vec<EnvRef>,
    args_of: F,
) -> Vec<Case<'a>>
where
    F: Fn(&dyn Environment) -> (Vec<String>, Parser) + 'a,
{
    let args_of = Rc::new(args_of);
    envs.into_iter()
        .map(|env| {
            let (label, is_vm) = {
                let e = env.borrow();
                (label_of(&*e), e.accelerator().is_some())
            };
            let maker = ctx.maker(suite);
            let args_of = args_of.clone();
            Case {
                label,
                runs: if is_vm {
                    ctx.settings.vm_runs
                } else {
                    ctx.settings.runs
                },
                warmup: !is_vm,
                run: Box::new(move |i| {
                    let mut e = env.borrow_mut();
                    let (args, parse) = args_of(&*e);
                    let timeout = ctx.timeout_for(&*e);
                    let run = e.run_payload(&args, NetMode::Host, timeout)?;
                    let json = run.json(&e.name())?;
                    // No variant in compute suites: each environment has one path here, so
                    // the tables read `pier`, `runc`, `crun` (start-up records variants).
                    let (name, variant, accel) = (e.name(), String::new(), e.accelerator());
                    Ok(parse(&json)?
                        .into_iter()
                        .map(|(metric, unit, value)| {
                            maker.make(&metric, unit, &name, &variant, i, value, accel.clone())
                        })
                        .collect())
                }),
            }
        })
        .collect()
}

/// Turns a payload's JSON into (metric, unit, value) triples.
pub type Parser = fn(&serde_json::Value) -> Result<Vec<(String, &'static str, f64)>>;

/// `name (variant)` or `name`.
pub fn label_of(env: &dyn Environment) -> String {
    let v = env.variant();
    if v.is_empty() {
        env.name()
    } else {
        format!("{} ({v})", env.name())
    }
}

/// Runs the cases of a suite.
pub fn execute(ctx: &Ctx, suite: &str, mut cases: Vec<Case>, plan: Plan) -> SuiteOutput {
    let (samples, failures) = harness::execute(suite, &mut cases, plan, ctx.progress);
    SuiteOutput {
        samples,
        failures,
        notes: Vec::new(),
        measured_peak: None,
    }
}

/// A number field of a payload's JSON.
pub fn field(json: &serde_json::Value, key: &str) -> Result<f64> {
    json[key]
        .as_f64()
        .ok_or_else(|| anyhow::anyhow!("payload output lacks a number {key:?}: {json}"))
}

/// The wall time of a run in milliseconds.
pub fn wall_ms(run: &PayloadRun) -> f64 {
    run.wall.as_secs_f64() * 1000.0
}
