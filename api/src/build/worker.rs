//! One build, in its own process (a child of [`super::forker`]): runs the engine's builder
//! and writes Docker's JSON progress stream to the descriptor it was given.
//!
//! The stream is what dockerd's classic builder sends: `{"stream": "Step 1/3 : FROM
//! busybox\n"}` for each piece of output, `{"aux": {"ID": "sha256:..."}}` for the image made,
//! and on failure `{"errorDetail": {"message": ...}, "error": ...}`, which makes the docker
//! CLI print the message and exit non-zero. The output of `RUN` commands comes from the
//! containers' stdout and stderr (the build process's descriptors 1 and 2, as for `pier
//! build`), which are pointed at a pipe whose content is sent as `stream` messages too.

use anyhow::{Context, Result};
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use pier_engine::builder::{self, BuildOptions};
use pier_engine::container::config::NetworkMode;
use pier_engine::container::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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

/// The stream's writer, shared by the builder and the thread that forwards RUN output.
struct Shared {
    out: File,
    /// The read end of the pipe the RUN containers write to (non-blocking).
    run_output: File,
    /// Output of RUN commands is dropped (`q`).
    quiet: bool,
    /// The pipe reached its end.
    ended: bool,
}

impl Shared {
    /// Sends what RUN commands wrote so far, so that it comes before what the builder says
    /// next.
    fn drain(&mut self) -> std::io::Result<()> {
        let mut buf = [0u8; 16 << 10];
        while !self.ended {
            match self.run_output.read(&mut buf) {
                Ok(0) => self.ended = true,
                Ok(n) if self.quiet => {
                    let _ = n;
                }
                Ok(n) => {
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    send(&mut self.out, &json!({ "stream": text }))?;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// The builder's `out`: complete lines as `stream` messages.
struct StreamWriter {
    shared: Arc<Mutex<Shared>>,
    line: Vec<u8>,
}

impl StreamWriter {
    fn emit(&mut self) -> std::io::Result<()> {
        let mut s = self
            .shared
            .lock()
            .map_err(|_| std::io::Error::other("the stream's lock is poisoned"))?;
        s.drain()?;
        if !self.line.is_empty() && !s.quiet {
            let text = String::from_utf8_lossy(&self.line).into_owned();
            send(&mut s.out, &json!({ "stream": text }))?;
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

/// Points descriptors 1 and 2 at a new pipe; returns its read end, non-blocking.
fn capture_stdio() -> Result<File> {
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).context("pipe for RUN output")?;
    nix::unistd::dup2_stdout(&w).context("RUN output to the pipe")?;
    nix::unistd::dup2_stderr(&w).context("RUN output to the pipe")?;
    drop(w);
    fcntl(&r, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).context("RUN output pipe")?;
    Ok(File::from(r))
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
    let out = File::from(out.context("the build's stream")?);
    let run_output = capture_stdio()?;
    let shared = Arc::new(Mutex::new(Shared {
        out,
        run_output,
        quiet: job.quiet,
        ended: false,
    }));
    // Forwards RUN output while a step runs (the builder drains the rest before it writes).
    let forwarder = {
        let shared = shared.clone();
        std::thread::spawn(move || loop {
            let ended = {
                let Ok(s) = shared.lock() else { return };
                let fd = match s.run_output.as_fd().try_clone_to_owned() {
                    Ok(fd) => fd,
                    Err(_) => return,
                };
                drop(s);
                let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
                let _ = poll(&mut fds, PollTimeout::from(200u16));
                let Ok(mut s) = shared.lock() else { return };
                if s.drain().is_err() {
                    return;
                }
                s.ended
            };
            if ended {
                return;
            }
        })
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
        shared: shared.clone(),
        line: Vec::new(),
    };
    let built = builder::build(&engine, &opts, &mut writer);
    let _ = writer.flush();
    release_stdio()?;
    let _ = forwarder.join();
    let image = built?;
    let mut s = shared
        .lock()
        .map_err(|_| anyhow::anyhow!("the stream's lock is poisoned"))?;
    s.drain().context("sending RUN output")?;
    send(&mut s.out, &json!({"aux": {"ID": image.id}})).context("sending the image ID")?;
    if job.quiet {
        send(&mut s.out, &json!({"stream": format!("{}\n", image.id)}))
            .context("sending the image ID")?;
    }
    Ok(())
}
