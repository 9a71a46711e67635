//! One `pier bench` run from start to finish: find the payload, set up the environments
//! (saying why any is unavailable), run the suites, write `results/<timestamp>/` with the
//! report, and point `results/latest` at it.

use crate::cli::{Args, EnvName, SuiteName};
use crate::cli::{BenchCommand, PlotLang};
use crate::envs::cgroup_workaround::{self, Outcome};
use crate::envs::docker::Docker;
use crate::envs::native::Native;
use crate::envs::oci_peer::OciPeer;
use crate::envs::pier::{PierRun, PierRuntime};
use crate::envs::podman::Podman;
use crate::envs::vm_env::VmEnv;
use crate::envs::{bundle, Availability, Environment, Setup};
use crate::figures::Lang;
use crate::harness::{self, EnvRef};
use crate::notes::Notes;
use crate::record::Sample;
use crate::suites::{self, Ctx, Settings};
use crate::{environment, report};
use anyhow::{bail, Context, Result};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Runs `pier bench` with `args`, measuring the pier binary `pier`; returns the process exit
/// code.
pub fn run(args: Args, pier: PathBuf) -> Result<i32> {
    if let Some(BenchCommand::Report {
        dir,
        lang: Some(lang),
        plots_to: Some(out),
    }) = &args.command
    {
        let lang = match lang {
            PlotLang::En => Lang::En,
            PlotLang::Ko => Lang::Ko,
        };
        let figures = report::draw_plots(dir, &crate::reference::default_dir(), out, lang)?;
        eprintln!(
            "bench: {} figures in {}",
            figures.all().count(),
            out.display()
        );
        return Ok(0);
    }
    if let Some(BenchCommand::Report { dir, .. }) = &args.command {
        let files = report::rerender(dir, &crate::reference::default_dir())?;
        eprintln!(
            "bench: report {} and {}",
            files.report.display(),
            files.html.display()
        );
        return Ok(0);
    }
    let suites = if args.suite.is_empty() {
        vec![
            SuiteName::Cpu,
            SuiteName::Mem,
            SuiteName::Startup,
            SuiteName::Net,
            SuiteName::Jitter,
        ]
    } else {
        args.suite.clone()
    };
    // The scale suite alone needs only its three engines (no VM, no bundle runtimes).
    let scale_only = suites == [SuiteName::Scale];
    // The pods suite alone runs its own containerd: no environment, no payload.
    let pods_only = suites == [SuiteName::Pods];
    let wanted = |e: EnvName| {
        if pods_only {
            return false;
        }
        if args.env.is_empty() && scale_only {
            return matches!(e, EnvName::Pier | EnvName::Podman | EnvName::Docker);
        }
        args.env.is_empty() || args.env.contains(&e)
    };
    let containers = CONTAINERS.into_iter().any(wanted);
    let mut notes = Notes::default();
    // First, while the process has one thread: the mount namespace is per thread. The pods
    // suite needs it too, with no container environment: its containerd runs crun as one of
    // its handlers. (On a fresh hybrid machine hugetlb is on cgroup2 until something binds it
    // to a v1 hierarchy; a podman run does, which hid this until a first run.)
    if containers || suites.contains(&SuiteName::Pods) {
        let outcome = cgroup_workaround::apply_if_hybrid();
        if let Outcome::Failed(r) = &outcome {
            eprintln!("bench: {r}");
        }
        notes.cgroup = Some(outcome.describe().to_string());
    }
    // After the namespace (one thread then), before anything is started outside the process.
    crate::interrupt::install()?;
    if let Some(cpus) = &args.pin {
        harness::pin_to(&harness::parse_cpu_list(cpus)?)?;
    }
    let mut settings = if args.full {
        Settings::full()
    } else {
        Settings::quick()
    };
    if let Some(r) = args.runs {
        anyhow::ensure!(r >= 1, "--runs must be at least 1");
        settings.runs = r;
        settings.vm_runs = settings.vm_runs.min(r);
        settings.startup_runs = r * 5;
    }
    settings.scale_n = args.scale_n;
    settings.pods_n = args.pods_n;
    if !args.env.is_empty() {
        // --env picks the pods suite's handlers among pier, runc and crun.
        settings
            .pods_handlers
            .retain(|h| args.env.iter().any(|e| env_name(*e) == h.as_str()));
    }
    notes.settings = format!(
        "{} plan{}: {} warm-up + {} runs (VM {}), {} start-up launches, DGEMM sizes {:?} (VM {:?}), STREAM {} doubles, {} s per TCP test, {} jitter items{}",
        if args.full { "full" } else { "quick" },
        if suites.contains(&SuiteName::Scale) {
            format!(", scale to {} containers per engine", args.scale_n)
        } else if suites.contains(&SuiteName::Pods) {
            format!(
                ", {} pods per handler ({})",
                args.pods_n,
                settings.pods_handlers.join(", ")
            )
        } else {
            String::new()
        },
        settings.warmup,
        settings.runs,
        settings.vm_runs,
        settings.startup_runs,
        settings.gflops_sizes,
        settings.vm_gflops_sizes,
        settings.stream_size,
        settings.net_seconds,
        settings.jitter_iters,
        args.pin.as_ref().map_or(String::new(), |p| format!(", pinned to CPUs {p}"))
    );
    if pods_only {
        // The payload's sizes and counts do not apply: say only what the pods suite does.
        notes.settings = format!(
            "pods: {} warm-up round + {} pods per handler ({}){}",
            settings.warmup,
            args.pods_n,
            settings.pods_handlers.join(", "),
            args.pin
                .as_ref()
                .map_or(String::new(), |p| format!(", pinned to CPUs {p}"))
        );
    }
    std::fs::create_dir_all(&args.cache)
        .with_context(|| format!("creating the bench cache {}", args.cache.display()))?;
    let cache = std::fs::canonicalize(&args.cache)
        .with_context(|| format!("resolving {}", args.cache.display()))?;
    let payload = if pods_only {
        // Never run: the pods run busybox from pier's bench root.
        cache.join("pier-payload")
    } else {
        stripped_payload(&find_payload(args.payload.as_deref())?, &cache)
    };
    let setup = Setup {
        payload,
        pier,
        cache,
    };
    eprintln!("bench: payload {}", setup.payload.display());
    let progress = !args.no_progress;
    // pier's bench network (bridge, firewall table) goes on Ctrl-C too.
    let pier_root = setup.pier_root();
    let network_cleanup = crate::interrupt::on_interrupt("pier's bench network", move || {
        if pier_root.join("networks").exists() {
            let _ = crate::envs::pier::teardown_network(&pier_root);
        }
    });
    let built = build_envs(&setup, &wanted, &mut notes);
    for line in &notes.environments {
        eprintln!("bench: {line}");
    }
    let run_id = run_id_now();
    let ctx = Ctx {
        settings: &settings,
        run_id: &run_id,
        setup: &setup,
        envs: built.envs,
        vm: built.vm,
        docker: built.docker,
        progress,
    };
    let mut samples: Vec<Sample> = Vec::new();
    for suite in &suites {
        let out = match suite {
            SuiteName::Cpu => suites::cpu::run(&ctx),
            SuiteName::Mem => suites::mem::run(&ctx),
            SuiteName::Startup => suites::startup::run(&ctx),
            SuiteName::Net => suites::net::run(&ctx),
            SuiteName::Jitter => suites::jitter::run(&ctx),
            SuiteName::Scale => suites::scale::run(&ctx),
            SuiteName::Pods => suites::pods::run(&ctx),
        };
        for f in &out.failures {
            eprintln!("bench: {} / {}: {}", f.suite, f.case, f.error);
        }
        samples.extend(out.samples);
        notes.failures.extend(out.failures);
        notes.suite_notes.extend(out.notes);
        if out.measured_peak.is_some() {
            notes.measured_peak = out.measured_peak;
        }
    }
    let accel = ctx.vm.as_ref().and_then(|v| v.borrow().accelerator());
    let ran_pier = ctx.envs.iter().any(|e| e.borrow().name() == "pier");
    // Every environment is dropped here: the bench's dockerd stops and is removed.
    drop(ctx);
    if ran_pier {
        // The bench root's bridge and firewall table are the bench's own: leave nothing.
        if let Err(e) = crate::envs::pier::teardown_network(&setup.pier_root()) {
            eprintln!("bench: removing the bench network: {e:#}");
        }
    }
    drop(network_cleanup);
    crate::interrupt::hold_if_interrupted();
    if samples.is_empty() {
        bail!("no environment produced a sample; see the reasons above");
    }
    let record = environment::EnvironmentRecord::collect(&environment::Inputs {
        pier_version: env!("CARGO_PKG_VERSION").to_string(),
        qemu_version: accel.as_ref().and_then(|_| crate::envs::vm::qemu_version()),
        qemu_accelerator: accel.clone(),
    })?;
    notes.steps = crate::notes::criterion_steps(&criterion_dir());
    let run_dir = args.out.join(&run_id);
    let files = report::generate(
        &run_dir,
        &report::ReportInput {
            run_id: &run_id,
            samples: &samples,
            environment: &record,
            notes: &notes,
            reference_dir: &crate::reference::default_dir(),
        },
    )?;
    point_latest(&args.out, &run_id)?;
    eprintln!("\n{}", harness::summary_table(&samples));
    eprintln!(
        "bench: report {} and {}",
        files.report.display(),
        files.html.display()
    );
    Ok(if notes.failures.is_empty() { 0 } else { 1 })
}

/// The name `--env` gives an environment (the pods suite's handlers are named so too).
fn env_name(e: EnvName) -> &'static str {
    match e {
        EnvName::Native => "native",
        EnvName::Pier => "pier",
        EnvName::Runc => "runc",
        EnvName::Crun => "crun",
        EnvName::Podman => "podman",
        EnvName::Docker => "docker",
        EnvName::Vm => "vm",
    }
}

/// The environments that can take part (every container one, for the cgroup workaround).
const CONTAINERS: [EnvName; 5] = [
    EnvName::Pier,
    EnvName::Runc,
    EnvName::Crun,
    EnvName::Podman,
    EnvName::Docker,
];

struct Built {
    envs: Vec<EnvRef>,
    vm: Option<Rc<RefCell<VmEnv>>>,
    docker: Option<Rc<RefCell<Docker>>>,
}

fn build_envs(setup: &Setup, wanted: &dyn Fn(EnvName) -> bool, notes: &mut Notes) -> Built {
    let mut all: Vec<(EnvRef, bool)> = Vec::new();
    let mut add = |e: EnvRef, w: bool| all.push((e, w));
    add(
        Rc::new(RefCell::new(Native::new(setup))),
        wanted(EnvName::Native),
    );
    let any_bundle = CONTAINERS.into_iter().any(wanted);
    let (bundle, ready) = if any_bundle {
        match bundle::prepare(setup) {
            Ok(b) => (Some(Rc::new(b)), Availability::Available),
            Err(e) => (
                None,
                Availability::Unavailable(format!(
                    "preparing the bench image/bundle failed: {e:#}"
                )),
            ),
        }
    } else {
        (None, Availability::Unavailable("not selected".into()))
    };
    add(
        Rc::new(RefCell::new(PierRun::new(setup, ready.clone()))),
        wanted(EnvName::Pier),
    );
    add(
        Rc::new(RefCell::new(PierRuntime::new(
            setup,
            bundle.clone(),
            ready.clone(),
        ))),
        wanted(EnvName::Pier),
    );
    for (tool, name) in [("runc", EnvName::Runc), ("crun", EnvName::Crun)] {
        add(
            Rc::new(RefCell::new(OciPeer::new(
                tool,
                setup,
                bundle.clone(),
                ready.clone(),
            ))),
            wanted(name),
        );
    }
    if wanted(EnvName::Podman) {
        let tar = bundle.as_ref().map(|b| b.rootfs_tar.clone());
        add(
            Rc::new(RefCell::new(Podman::new(setup, tar.as_deref()))),
            true,
        );
    }
    let mut docker = None;
    if wanted(EnvName::Docker) {
        eprintln!("bench: starting the bench's own dockerd...");
        let d = Rc::new(RefCell::new(Docker::new(setup, ready.clone())));
        add(d.clone(), true);
        let ok = d.borrow().availability().is_available();
        docker = ok.then_some(d);
    }
    let mut vm = None;
    if wanted(EnvName::Vm) {
        eprintln!("bench: preparing the VM (kernel, initramfs, KVM probe)...");
        let cpus = u32::try_from(crate::environment::cpu_threads()).unwrap_or(1);
        let v = Rc::new(RefCell::new(VmEnv::new(setup, cpus, 1024)));
        {
            let b = v.borrow();
            if let Some(d) = b.describe() {
                notes.vm = Some(format!(
                    "{d}; accelerator chosen because: {}",
                    b.accel_reason()
                ));
            }
        }
        add(v.clone(), true);
        let ok = v.borrow().availability().is_available();
        vm = ok.then_some(v);
    }
    let mut envs = Vec::new();
    for (e, w) in all {
        let (label, avail) = {
            let b = e.borrow();
            (crate::suites::label_of(&*b), b.availability())
        };
        if !w {
            continue;
        }
        match avail {
            Availability::Available => {
                notes.environments.push(format!("{label}: available"));
                envs.push(e);
            }
            Availability::Unavailable(r) => {
                notes
                    .environments
                    .push(format!("{label}: unavailable ({r})"));
                notes
                    .unavailable
                    .push(crate::notes::Unavailable { label, reason: r });
            }
        }
    }
    Built { envs, vm, docker }
}

/// The payload: `--payload`, else next to this executable's build
/// (`target/x86_64-unknown-linux-gnu/release/pier-payload`), else built with cargo from the
/// workspace containing the current directory or this executable.
pub fn find_payload(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = given {
        if !p.is_file() {
            bail!("payload {} not found", p.display());
        }
        return Ok(p.to_path_buf());
    }
    let exe = std::env::current_exe().context("finding the current executable")?;
    // target/<profile>/pier-bench (beside pier) -> target/x86_64-unknown-linux-gnu/release/pier-payload
    if let Some(target) = exe.parent().and_then(Path::parent) {
        let p = target
            .join(crate::payload::TARGET)
            .join("release")
            .join("pier-payload");
        if p.is_file() {
            return Ok(p);
        }
    }
    // The workspace around the current directory, else the one this program was built in
    // (`pier bench` run from elsewhere, e.g. a lab's directory).
    let cwd = std::env::current_dir().context("current directory")?;
    for dir in cwd.ancestors().chain(exe.ancestors().skip(1)) {
        let manifest = dir.join("Cargo.toml");
        if std::fs::read_to_string(&manifest).is_ok_and(|t| t.contains("[workspace]")) {
            eprintln!("bench: building the static payload in {}", dir.display());
            return crate::payload::build_static(dir);
        }
    }
    bail!("no static pier-payload found: run bench/build-payload.sh or pass --payload")
}

/// A stripped copy of the payload in the cache, used by every environment alike: the
/// release build keeps line tables (tens of MB) that would only slow the VM's initramfs
/// and the image imports. Falls back to the original when `strip` is missing or fails.
pub fn stripped_payload(payload: &Path, cache: &Path) -> PathBuf {
    let out = cache.join("pier-payload");
    let ok = std::process::Command::new("strip")
        .arg("-o")
        .arg(&out)
        .arg(payload)
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        out
    } else {
        eprintln!("bench: strip failed; using the unstripped payload");
        payload.to_path_buf()
    }
}

/// `20261123T181500Z`: a run identifier that sorts by time and is a valid directory name.
pub fn run_id_now() -> String {
    crate::clock::now_rfc3339()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect()
}

/// Points `<out>/latest` at `<out>/<run_id>` (relative, so the tree can move).
pub fn point_latest(out: &Path, run_id: &str) -> Result<()> {
    let link = out.join("latest");
    let tmp = out.join(".latest.tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(run_id, &tmp)
        .with_context(|| format!("creating symlink {}", tmp.display()))?;
    std::fs::rename(&tmp, &link).with_context(|| format!("replacing {}", link.display()))
}

/// Where `cargo bench -p pier-bench` leaves criterion's results for this workspace.
fn criterion_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("target"), |p| p.join("target"))
        .join("criterion")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_sort_and_latest_moves() {
        let id = run_id_now();
        assert!(id.len() >= 15 && id.ends_with('Z'), "{id}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        std::fs::create_dir(dir.path().join("b")).unwrap();
        point_latest(dir.path(), "a").unwrap();
        point_latest(dir.path(), "b").unwrap();
        assert_eq!(
            std::fs::read_link(dir.path().join("latest")).unwrap(),
            PathBuf::from("b")
        );
    }
}
