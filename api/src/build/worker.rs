//! One build, in its own process (a child of [`super::forker`]): runs the engine's builder
//! and writes Docker's JSON progress stream to the descriptor it was given.
//!
//! The stream is what dockerd's classic builder sends: `{"stream": "Step 1/3 : FROM
//! busybox\n"}` for each piece of output, `{"aux": {"ID": "sha256:..."}}` for the image made,
//! and on failure `{"errorDetail": {"message": ...}, "error": ...}`, which makes the docker
//! CLI print the message and exit non-zero. The output of `RUN` commands comes from the
//! containers' stdout and stderr (the build process's descriptors 1 and 2, as for `pier
//! build`), which are pointed at a pipe whose content a forwarder process sends as `stream`
//! messages too.

use anyhow::{Context, Result};
use nix::fcntl::OFlag;
use nix::sys::signal::{kill, signal, SigHandler, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, getppid, ForkResult};
use pier_engine::builder::run::CONTAINER_PREFIX;
use pier_engine::builder::{self, BuildOptions};
use pier_engine::container::config::NetworkMode;
use pier_engine::container::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// A build as the service hands it over: the extracted context and the request's parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuildJob {
    /// The extracted build context (a directory the service made and removes).
    pub context: PathBuf,
    /// The Dockerfile, already read out of the context into a file of the service's.
    pub dockerfile: PathBuf,
    /// `t` values.
    pub tags: Vec<String>,
    /// `buildargs`.
    pub build_args: Vec<(String, String)>,
    /// `labels`.
    pub labels: Vec<(String, String)>,
    /// `target`.
    pub target: Option<String>,
    /// `nocache`.
    pub no_cache: bool,
    /// `q`: only the image ID in the stream.
    pub quiet: bool,
    /// `networkmode=host` (RUN steps otherwise have no network, as with `pier build`).
    pub host_network: bool,
}

/// One JSON message on `out` (errors ignored: the client may have gone).
fn send(out: &mut dyn Write, message: &serde_json::Value) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(message).unwrap_or_default();
    line.extend_from_slice(b"\r\n");
    out.write_all(&line)
}

/// Writes the error message of a build that could not run to `out`.
pub fn fail(out: &OwnedFd, message: &str) {
    if let Ok(fd) = out.try_clone() {
        let _ = send(&mut File::from(fd), &error_message(message));
    }
}

fn error_message(message: &str) -> serde_json::Value {
    json!({"errorDetail": {"message": message}, "error": message})
}

/// The builder's `out`: complete lines as `stream` messages.
struct StreamWriter {
    out: File,
    /// The RUN output pipe's read end (only to see that the forwarder has emptied it).
    run_output: OwnedFd,
    quiet: bool,
    line: Vec<u8>,
}

/// Bytes waiting in a pipe (`FIONREAD`).
fn pending(fd: &OwnedFd) -> i32 {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int to the pointer, which points at `n`.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
    if rc < 0 {
        0
    } else {
        n
    }
}

impl StreamWriter {
    fn emit(&mut self) -> std::io::Result<()> {
        // What a RUN command wrote comes before what the builder says next: give the
        // forwarder a moment to empty the pipe.
        for _ in 0..100 {
            if pending(&self.run_output) == 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        if !self.line.is_empty() && !self.quiet {
            let text = String::from_utf8_lossy(&self.line).into_owned();
            send(&mut self.out, &json!({ "stream": text }))?;
        }
        self.line.clear();
        Ok(())
    }
}

impl Write for StreamWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        if buf.contains(&b'\n') {
            self.emit()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.emit()
    }
}

/// The largest piece of RUN output a message carries: escaped as JSON (at most six bytes a
/// byte) it stays under PIPE_BUF, so the forwarder's messages and the builder's never
/// interleave inside one another.
const RUN_CHUNK: usize = 600;

/// The forwarder (a process of its own, forked while the build process still has one
/// thread: the builder clones RUN containers with a raw clone(2), and a thread of ours
/// allocating at that moment could leave the child a locked allocator). It sends RUN output
/// as `stream` messages until the pipe's end; if the client has gone (the stream's pipe is
/// closed), it interrupts the build, which kills the RUN container and stops.
fn forward(root: &Path, run_output: OwnedFd, out: &mut File, quiet: bool) -> i32 {
    // A closed stream must be an error to act on, not a silent death (pier's main keeps
    // SIGPIPE's default action for its command line).
    // SAFETY: setting a signal's disposition to "ignore" has no handler to be unsafe in.
    if unsafe { signal(Signal::SIGPIPE, SigHandler::SigIgn) }.is_err() {
        return 1;
    }
    let mut input = File::from(run_output);
    let mut buf = [0u8; RUN_CHUNK];
    loop {
        match input.read(&mut buf) {
            Ok(0) => return 0,
            Ok(_) if quiet => {}
            Ok(n) => {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                if send(out, &json!({ "stream": text })).is_err() {
                    stop_build(root);
                    return 1;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return 1,
        }
    }
}

/// Runs `job` (in the build process), writing the stream to `out`; the process's exit code.
pub fn run(root: &Path, job: BuildJob, out: OwnedFd) -> i32 {
    match run_build(root, &job, out.try_clone()) {
        Ok(()) => 0,
        Err(e) => {
            fail(&out, &format!("{e:#}"));
            1
        }
    }
}

/// Stops the build this forwarder serves: SIGINT makes the builder stop before its next
/// step, and the RUN container running now (the one the build process watches) is killed.
fn stop_build(root: &Path) {
    let build = getppid();
    let _ = kill(build, Signal::SIGINT);
    let Ok(engine) = Engine::open(root) else {
        return;
    };
    for rec in engine.containers().unwrap_or_default() {
        let ours = rec.name.starts_with(CONTAINER_PREFIX)
            && rec.monitor.is_some_and(|m| m.pid == build.as_raw());
        if ours {
            let _ = engine.kill(&rec.id, Signal::SIGKILL);
        }
    }
}

/// Points descriptors 1 and 2 at a new pipe; returns its read end.
fn capture_stdio() -> Result<OwnedFd> {
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).context("pipe for RUN output")?;
    nix::unistd::dup2_stdout(&w).context("RUN output to the pipe")?;
    nix::unistd::dup2_stderr(&w).context("RUN output to the pipe")?;
    drop(w);
    Ok(r)
}

/// Points descriptors 1 and 2 at /dev/null, which closes the RUN output pipe's write end.
fn release_stdio() -> Result<()> {
    let null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .context("opening /dev/null")?;
    nix::unistd::dup2_stdout(&null).context("stdout to /dev/null")?;
    nix::unistd::dup2_stderr(&null).context("stderr to /dev/null")?;
    Ok(())
}

fn run_build(root: &Path, job: &BuildJob, out: std::io::Result<OwnedFd>) -> Result<()> {
    let mut out = File::from(out.context("the build's stream")?);
    let run_output = capture_stdio()?;
    // SAFETY: the build process has one thread here (the builder starts its signal thread
    // later), so the child is a complete copy.
    let forwarder = match unsafe { fork() }.context("fork of the RUN output forwarder")? {
        ForkResult::Child => {
            let code = match release_stdio() {
                Ok(()) => forward(root, run_output, &mut out, job.quiet),
                Err(_) => 1,
            };
            std::process::exit(code)
        }
        ForkResult::Parent { child } => child,
    };
    let engine = Engine::open(root)?;
    let opts = BuildOptions {
        context: job.context.clone(),
        dockerfile: Some(job.dockerfile.clone()),
        tags: job.tags.clone(),
        build_args: job.build_args.clone(),
        no_cache: job.no_cache,
        target: job.target.clone(),
        network: if job.host_network {
            NetworkMode::Host
        } else {
            NetworkMode::None
        },
        labels: job.labels.clone(),
    };
    let mut writer = StreamWriter {
        out: out.try_clone().context("the build's stream")?,
        run_output,
        quiet: job.quiet,
        line: Vec::new(),
    };
    let built = builder::build(&engine, &opts, &mut writer);
    let _ = writer.flush();
    drop(writer);
    // Every RUN output sent before the last message: the pipe ends with descriptors 1 and 2
    // pointed away, and the forwarder exits once it has sent the rest.
    release_stdio()?;
    let _ = waitpid(forwarder, None);
    let image = built?;
    send(&mut out, &json!({"aux": {"ID": image.id}})).context("sending the image ID")?;
    if job.quiet {
        send(&mut out, &json!({"stream": format!("{}\n", image.id)}))
            .context("sending the image ID")?;
    }
    Ok(())
}
