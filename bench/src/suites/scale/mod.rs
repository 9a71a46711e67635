//! scale: N detached containers on a bridge, started one after another in each engine (pier,
//! podman, Docker), then removed. Does the cost of one more container stay flat as the
//! engine's state files, network leases and firewall rules grow?
//!
//! Per engine, in turn (never two engines' fleets at once):
//! * `start_ms` (iteration i): the wall time of the i-th `run -d` (its command's return);
//! * `client_peak_rss_kib` (iteration i): that command's peak RSS (`wait4`'s `ru_maxrss`):
//!   `pier run`, `podman run`, the `docker` client;
//! * at each checkpoint c of 1, 10, 50, 100, 250, 500 (and N): `per_container_pss_kib`, the
//!   summed PSS of the processes each container adds (pier's monitor, podman's conmon,
//!   Docker's containerd-shim) over c; `per_container_rss_kib` the same in RSS;
//!   `daemon_growth_pss_kib`, what dockerd + containerd grew by since the first start, over c;
//!   `per_container_processes`, how many of those processes were found (c when all run);
//! * `remove_ms`: `rm -f` of 50 containers at a time, per container;
//! * once, `bench_peak_rss_kib` (environment `pier-bench`): this program's own peak RSS.
//!
//! The containers run busybox `sleep` from the bench image on a /22 bridge (pier: a network
//! of the bench root; podman: a CNI network of the bench's podman state; Docker: the bench
//! dockerd's bridge), so every engine can hold the 1000 that `--scale-n` allows.

pub mod docker_fleet;
pub mod fleet;
pub mod pier_fleet;
pub mod podman_fleet;

use super::{Ctx, SuiteOutput};
use crate::harness::{Failure, SampleMaker};
use crate::record::Sample;
use anyhow::{bail, Context, Result};
use fleet::Fleet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The suite's name in the samples.
pub const SUITE: &str = "scale";

/// The variant of every sample: detached containers on a bridge.
pub const VARIANT: &str = "detached-bridge";

/// The counts at which memory is measured (those up to N, and N itself).
pub const CHECKPOINTS: [u32; 6] = [1, 10, 50, 100, 250, 500];

/// Containers removed by one `rm -f`.
const REMOVE_BATCH: usize = 50;

/// The checkpoints of a run to `n`.
pub fn checkpoints(n: u32) -> Vec<u32> {
    let mut out: Vec<u32> = CHECKPOINTS.into_iter().filter(|c| *c < n).collect();
    out.push(n);
    out
}

/// Runs the scale suite to `ctx.settings.scale_n` containers in each available engine.
pub fn run(ctx: &Ctx) -> SuiteOutput {
    let n = ctx.settings.scale_n;
    let maker = ctx.maker(SUITE);
    let mut out = SuiteOutput::default();
    out.notes.push(format!(
        "scale: {n} detached containers per engine (busybox sleep, bridge), memory at {:?}",
        checkpoints(n)
    ));
    let available = |name: &str| ctx.envs.iter().any(|e| e.borrow().name() == name);
    // Declared before the fleets, which borrow its daemon.
    let docker = ctx.docker.as_ref().map(|d| d.borrow());
    let mut fleets: Vec<Result<Box<dyn Fleet + '_>>> = Vec::new();
    if available("pier") {
        fleets.push(
            crate::envs::subnet::free(252, 22)
                .map(|s| Box::new(pier_fleet::PierFleet::new(ctx.setup, s)) as Box<dyn Fleet>),
        );
    }
    if available("podman") {
        fleets.push(crate::envs::subnet::free(251, 22).and_then(|s| {
            podman_fleet::PodmanFleet::new(ctx.setup, s).map(|f| Box::new(f) as Box<dyn Fleet>)
        }));
    }
    if let Some(daemon) = docker.as_ref().and_then(|d| d.daemon()) {
        fleets.push(Ok(Box::new(docker_fleet::DockerFleet::new(daemon))));
    }
    for fleet in fleets {
        let result = fleet.and_then(|mut f| {
            let name = f.name();
            eprintln!("bench: scale: {name}, {n} containers");
            let ramp = ramp(&mut *f, n, &maker, &mut out.samples);
            let finish = f.finish();
            let left = f.per_container().len();
            ramp.and(finish)
                .with_context(|| format!("{name} scale run"))
                .and_then(|()| {
                    if left > 0 {
                        bail!("{name}: {left} per-container processes left after removal");
                    }
                    Ok(())
                })
        });
        if let Err(e) = result {
            out.failures.push(Failure {
                suite: SUITE.into(),
                case: "scale".into(),
                error: pier_oci::error::one_line(&e),
            });
        }
    }
    if let Ok(me) = crate::procmem::own() {
        out.samples.push(maker.make(
            "bench_peak_rss_kib",
            "KiB",
            "pier-bench",
            "",
            0,
            me.peak_rss_kib as f64,
            None,
        ));
    }
    out
}

/// Starts `n` containers in `fleet`, measuring as it goes, then removes every one started
/// (also after a failed start).
fn ramp(
    fleet: &mut dyn Fleet,
    n: u32,
    maker: &SampleMaker,
    samples: &mut Vec<Sample>,
) -> Result<()> {
    let env = fleet.name();
    let sample = |metric: &str, unit: &str, i: u32, v: f64| {
        maker.make(metric, unit, env, VARIANT, i, v, None)
    };
    fleet.prepare()?;
    let daemons_before = crate::procmem::sum(Path::new("/proc"), &fleet.daemons()).0;
    let marks = checkpoints(n);
    let mut names: Vec<String> = Vec::new();
    let mut started = Ok(());
    for i in 1..=n {
        let name = format!("pbsc-{}-{i}", std::process::id());
        let timed = timed_with_peak_rss(fleet.start(&name));
        names.push(name.clone());
        let (wall, peak_kib) = match timed {
            Ok(t) => t,
            Err(e) => {
                started = Err(e.context(format!("starting container {i} ({name})")));
                break;
            }
        };
        samples.push(sample("start_ms", "ms", i, wall.as_secs_f64() * 1e3));
        samples.push(sample("client_peak_rss_kib", "KiB", i, peak_kib as f64));
        if marks.contains(&i) {
            // Let the processes the start forked finish settling before reading them.
            std::thread::sleep(Duration::from_millis(500));
            let pids = fleet.per_container();
            let (per, found) = crate::procmem::sum(Path::new("/proc"), &pids);
            let daemons = crate::procmem::sum(Path::new("/proc"), &fleet.daemons()).0;
            let c = f64::from(i);
            samples.push(sample(
                "per_container_pss_kib",
                "KiB",
                i,
                per.pss_kib as f64 / c,
            ));
            samples.push(sample(
                "per_container_rss_kib",
                "KiB",
                i,
                per.rss_kib as f64 / c,
            ));
            samples.push(sample("per_container_processes", "count", i, found as f64));
            let growth = daemons.pss_kib.saturating_sub(daemons_before.pss_kib);
            samples.push(sample("daemon_growth_pss_kib", "KiB", i, growth as f64 / c));
            eprintln!(
                "bench: scale: {env} {i}: start {:.1} ms, {:.0} KiB PSS per container, {found} processes",
                wall.as_secs_f64() * 1e3,
                per.pss_kib as f64 / c
            );
        }
    }
    let removed = remove_all(fleet, &names, &sample, samples);
    started.and(removed)
}

/// Removes `names` in batches, recording the time per container.
fn remove_all(
    fleet: &dyn Fleet,
    names: &[String],
    sample: &dyn Fn(&str, &str, u32, f64) -> Sample,
    samples: &mut Vec<Sample>,
) -> Result<()> {
    let mut result = Ok(());
    for (b, batch) in names.chunks(REMOVE_BATCH).enumerate() {
        let started = Instant::now();
        let out = fleet
            .remove(batch)
            .stdout(Stdio::null())
            .output()
            .with_context(|| format!("removing {} containers", fleet.name()));
        match out {
            Ok(o) if o.status.success() => {
                let per = started.elapsed().as_secs_f64() * 1e3 / batch.len() as f64;
                samples.push(sample("remove_ms", "ms", b as u32 + 1, per));
            }
            Ok(o) => {
                result = Err(anyhow::anyhow!(
                    "{} rm -f: {}",
                    fleet.name(),
                    String::from_utf8_lossy(&o.stderr).trim()
                ))
            }
            Err(e) => result = Err(e),
        }
    }
    result
}

/// Runs `c` to its exit; its wall time and peak RSS (KiB, `wait4`'s `ru_maxrss`), or an
/// error with its stderr when it fails.
pub fn timed_with_peak_rss(mut c: Command) -> Result<(Duration, u64)> {
    let program = c.get_program().to_string_lossy().into_owned();
    let started = Instant::now();
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let pid = child.id() as libc::pid_t;
    // Read stderr before waiting, so a chatty child cannot block on a full pipe.
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of the plain C struct wait4 fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = loop {
        // SAFETY: `pid` is our own child, not yet reaped (std's Child never waited on it);
        // `status` and `usage` are valid for writes for the duration of the call.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        break r;
    };
    let wall = started.elapsed();
    if waited != pid {
        bail!("waiting for {program}: {}", std::io::Error::last_os_error());
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        bail!(
            "{program} failed ({status:#x}): {}",
            err.trim().replace('\n', " / ")
        );
    }
    Ok((wall, u64::try_from(usage.ru_maxrss).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_stop_at_n() {
        assert_eq!(checkpoints(100), vec![1, 10, 50, 100]);
        assert_eq!(checkpoints(500), vec![1, 10, 50, 100, 250, 500]);
        assert_eq!(checkpoints(3), vec![1, 3]);
        assert_eq!(checkpoints(1000), vec![1, 10, 50, 100, 250, 500, 1000]);
    }

    #[test]
    fn a_command_is_timed_with_its_peak_rss_and_a_failure_names_it() {
        let mut c = Command::new("sh");
        c.args(["-c", "head -c 20000000 /dev/zero | tr '\\0' x > /dev/null"]);
        let (wall, peak) = timed_with_peak_rss(c).unwrap();
        assert!(wall > Duration::ZERO);
        assert!(peak > 100, "ru_maxrss in KiB: {peak}");
        let mut bad = Command::new("sh");
        bad.args(["-c", "echo nope >&2; exit 3"]);
        let e = timed_with_peak_rss(bad).unwrap_err().to_string();
        assert!(e.contains("sh failed") && e.contains("nope"), "{e}");
    }
}
