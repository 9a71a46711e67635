//! One measured pod: RunPodSandbox, CreateContainer (busybox `echo ready`), StartContainer,
//! then the container's first output, read from the log file CRI's `log_path` names; then
//! the container's exit is checked and everything is stopped and removed.
//!
//! Why the log file and not the container's status: the line in the log is the container's
//! first output where kubelet (and `kubectl logs`) read it, which is what "started" means to
//! whoever waits for a pod. Waiting for the status `Exited` would add the container's exit,
//! the shim's exit event and containerd's status update: the end of the container, not its
//! start. The exit code is checked afterwards (untimed), so that a container that printed
//! and then failed is not counted.

use anyhow::{bail, Context, Result};
use pier_cri::{api, Client};
use std::path::Path;
use std::time::{Duration, Instant};

/// The line the container prints.
pub const READY: &str = "ready";

/// How long the first output (and then the exit) may take.
const OUTPUT_TIMEOUT: Duration = Duration::from_secs(60);

/// The times of one pod, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timings {
    /// RunPodSandbox's call.
    pub runp: f64,
    /// CreateContainer's call.
    pub create: f64,
    /// StartContainer's call.
    pub start: f64,
    /// From StartContainer's return to the line in the log.
    pub output: f64,
    /// From RunPodSandbox's call to the line in the log: the pod's start-up.
    pub total: f64,
    /// StopContainer, RemoveContainer, StopPodSandbox, RemovePodSandbox (after the exit).
    pub teardown: f64,
}

/// Whether a CRI log file's `text` has a complete line `want` on stdout. The format is
/// kubelet's: `<RFC 3339 time> <stream> <F|P> <content>` per line (`P`: a partial line).
pub fn log_has_line(text: &str, want: &str) -> bool {
    text.lines().any(|l| {
        let mut f = l.splitn(4, ' ');
        let (_, stream, tag, content) = (f.next(), f.next(), f.next(), f.next());
        stream == Some("stdout") && tag == Some("F") && content == Some(want)
    })
}

/// Runs pod `name` with `handler` and measures it; the pod's logs go under `logs`, its
/// cgroup under `cgroup_parent`. The pod is removed again, also when a step fails.
pub fn measure(
    c: &mut Client,
    handler: &str,
    name: &str,
    logs: &Path,
    cgroup_parent: &str,
) -> Result<Timings> {
    let log_dir = logs.join(name);
    std::fs::create_dir_all(&log_dir).with_context(|| format!("creating {}", log_dir.display()))?;
    let pod_cfg = pod_config(name, &log_dir, cgroup_parent);
    let t0 = Instant::now();
    let pod = c
        .run_pod(pod_cfg.clone(), handler)
        .with_context(|| format!("{handler}: pod {name}"))?;
    let runp = t0.elapsed();
    let result = container(c, &pod, pod_cfg, &log_dir, t0, runp);
    let t = Instant::now();
    let removed = c
        .stop_pod(&pod)
        .and_then(|()| c.remove_pod(&pod))
        .with_context(|| format!("{handler}: removing pod {name}"));
    let teardown = t.elapsed();
    let _ = std::fs::remove_dir_all(&log_dir);
    let mut timings = result.with_context(|| format!("{handler}: pod {name}"))?;
    removed?;
    timings.teardown += ms(teardown);
    Ok(timings)
}

/// Creates and starts the container in `pod`, waits for its line and its exit, removes it.
fn container(
    c: &mut Client,
    pod: &str,
    pod_cfg: api::PodSandboxConfig,
    log_dir: &Path,
    t0: Instant,
    runp: Duration,
) -> Result<Timings> {
    let t = Instant::now();
    let id = c.create_container(pod, container_config(), pod_cfg)?;
    let create = t.elapsed();
    let t = Instant::now();
    let started = c.start_container(&id);
    let start = t.elapsed();
    let waited = started
        .map_err(anyhow::Error::from)
        .and_then(|()| wait_for_line(&log_dir.join(LOG_FILE)));
    let total = t0.elapsed();
    let output = t.elapsed().saturating_sub(start);
    let exited = waited.and_then(|()| wait_for_exit(c, &id));
    let t = Instant::now();
    let removed = c
        .stop_container(&id, Duration::from_secs(5))
        .and_then(|()| c.remove_container(&id));
    let teardown = t.elapsed();
    exited?;
    removed?;
    Ok(Timings {
        runp: ms(runp),
        create: ms(create),
        start: ms(start),
        output: ms(output),
        total: ms(total),
        teardown: ms(teardown),
    })
}

/// The container's log file, relative to the pod's log directory.
const LOG_FILE: &str = "echo_0.log";

/// Polls the log file every millisecond for the line; times out after [`OUTPUT_TIMEOUT`].
fn wait_for_line(log: &Path) -> Result<()> {
    let deadline = Instant::now() + OUTPUT_TIMEOUT;
    loop {
        // The file appears when containerd opens it (at StartContainer); reading a small
        // file every millisecond costs little beside the ~100 ms measured.
        if std::fs::read_to_string(log).is_ok_and(|t| log_has_line(&t, READY)) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "no line {READY:?} in {} after {OUTPUT_TIMEOUT:?}",
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits for the container to be `Exited` and checks its exit code is 0.
fn wait_for_exit(c: &mut Client, id: &str) -> Result<()> {
    let deadline = Instant::now() + OUTPUT_TIMEOUT;
    loop {
        let status = c
            .container_status(id, false)?
            .status
            .context("ContainerStatus: no status")?;
        if status.state == api::ContainerState::ContainerExited as i32 {
            if status.exit_code != 0 {
                bail!(
                    "the container exited with {}: {}",
                    status.exit_code,
                    status.message
                );
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the container has not exited after {OUTPUT_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The pod as kubelet would send it: its own log directory, under the suite's cgroup parent.
fn pod_config(name: &str, log_dir: &Path, cgroup_parent: &str) -> api::PodSandboxConfig {
    api::PodSandboxConfig {
        metadata: Some(api::PodSandboxMetadata {
            name: name.into(),
            uid: format!("uid-{name}"),
            namespace: "pier-bench".into(),
            attempt: 0,
        }),
        hostname: name.into(),
        log_directory: log_dir.to_string_lossy().into_owned(),
        linux: Some(api::LinuxPodSandboxConfig {
            cgroup_parent: format!("{cgroup_parent}/{name}"),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// busybox `echo ready`, logging to [`LOG_FILE`].
fn container_config() -> api::ContainerConfig {
    api::ContainerConfig {
        metadata: Some(api::ContainerMetadata {
            name: "echo".into(),
            attempt: 0,
        }),
        image: Some(api::ImageSpec {
            image: pier_cri::private_containerd::BUSYBOX.into(),
            ..Default::default()
        }),
        command: vec!["echo".into(), READY.into()],
        log_path: LOG_FILE.into(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_complete_stdout_line_counts() {
        let t = "2026-12-07T20:00:00.1Z stderr F ready\n\
                 2026-12-07T20:00:00.2Z stdout P rea\n";
        assert!(!log_has_line(t, "ready"));
        assert!(!log_has_line("", "ready"));
        assert!(!log_has_line(
            "2026-12-07T20:00:00.3Z stdout F ready now\n",
            "ready"
        ));
        assert!(log_has_line(
            &format!("{t}2026-12-07T20:00:00.3Z stdout F ready\n"),
            "ready"
        ));
    }
}
