//! Servers a lab starts for the student (lab 11's registry): each runs in its own session,
//! records its PID in `<lab dir>/NAME.pid`, and is stopped by `pier lab reset`.

use anyhow::{bail, Context, Result};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `program ARGS` in the background, detached from the terminal, with its output in
/// `<dir>/NAME.log` and its PID in `<dir>/NAME.pid`; waits until `ready` is true (at most
/// 20 s), else stops it and fails with the end of its log.
pub fn spawn(
    dir: &Path,
    name: &str,
    program: &Path,
    args: &[&str],
    ready: impl Fn() -> bool,
) -> Result<u32> {
    let log_path = dir.join(format!("{name}.log"));
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    let err = log
        .try_clone()
        .with_context(|| format!("duplicating {}", log_path.display()))?;
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    let pid = child.id();
    let pid_file = pid_file(dir, name);
    std::fs::write(&pid_file, pid.to_string())
        .with_context(|| format!("writing {}", pid_file.display()))?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready() {
        if Instant::now() > deadline || !alive(pid) {
            stop(dir, name)?;
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            bail!(
                "{} did not become ready; the end of its log ({}):\n{}",
                program.display(),
                log_path.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(pid)
}

fn pid_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.pid"))
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next())
            != Some("Z")
    })
}

/// Stops the server `name` of `dir` (SIGTERM, then SIGKILL after 5 s), if its PID file still
/// names a live process started with an argument under `dir` (PIDs are reused).
pub fn stop(dir: &Path, name: &str) -> Result<()> {
    let file = pid_file(dir, name);
    let Ok(text) = std::fs::read_to_string(&file) else {
        return Ok(());
    };
    let pid: i32 = text
        .trim()
        .parse()
        .with_context(|| format!("{} holds no PID", file.display()))?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let ours = String::from_utf8_lossy(&cmdline).contains(&*dir.to_string_lossy());
    if ours && alive(pid as u32) {
        // SAFETY: kill(2) on a PID read from our own PID file, checked above to be the
        // process we started (its command line names the lab directory).
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(pid as u32) && Instant::now() < deadline {
            // Reap it if it is our child (it is not when another `pier` started it).
            // SAFETY: waitpid with WNOHANG on one PID; no memory is shared.
            unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
            std::thread::sleep(Duration::from_millis(50));
        }
        if alive(pid as u32) {
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    std::fs::remove_file(&file).with_context(|| format!("removing {}", file.display()))?;
    Ok(())
}

/// Stops every server whose PID file is in `dir`; returns their names.
pub fn stop_all(dir: &Path) -> Result<Vec<String>> {
    let mut stopped = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(stopped);
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        if let Some(name) = file.strip_suffix(".pid") {
            stop(dir, name)?;
            stopped.push(name.to_string());
        }
    }
    Ok(stopped)
}
