//! `docker exec` through the API: `POST /containers/{id}/exec` (an exec instance, kept in
//! the service's memory), `POST /exec/{id}/start` (runs it; the hijacked connection carries
//! its stdin and output), `GET /exec/{id}/json`, `POST /exec/{id}/resize`.
//!
//! The service makes the exec's streams (pipes, or a terminal whose master it keeps, so
//! resizes are an ioctl here) and the launcher's exec watcher starts the command in the
//! container through the engine (see [`crate::exec_watcher`]). The exit code is recorded
//! before the stream ends: the docker CLI inspects the instance as soon as it does.

use super::create::{bool_field, refuse_unknown, string, strings};
use crate::error::ApiError;
use crate::exec_watcher::{ExecJob, Status};
use crate::frames::{frame, Stream};
use crate::http::{self, Query, Reply};
use crate::state::{blocking, State};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE, UPGRADE};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use pier_engine::container::attach_point::set_window_size;
use pier_engine::container::record::ContainerStatus;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// Fields of an exec create request pier carries out.
const EXEC_FIELDS: &[&str] = &[
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "Tty",
    "Env",
    "Cmd",
    "User",
    "WorkingDir",
    "Privileged",
    // The CLI's `exec -d` says it here too; what counts is the start request's.
    "Detach",
    // docker-py repeats the container's ID in the body; the path names it.
    "Container",
];

/// How long output may still come after the command exited (a background child holding
/// the stream open does not keep the client waiting for ever).
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

/// A finished instance is forgotten this long after it ended (Docker keeps them until the
/// container goes; the service keeps memory bounded instead).
const KEEP_FINISHED: Duration = Duration::from_secs(600);

/// One exec instance.
struct Instance {
    container_id: String,
    job: ExecJob,
    attach_stdin: bool,
    attach_stdout: bool,
    attach_stderr: bool,
    started: bool,
    running: bool,
    pid: i32,
    exit_code: Option<i32>,
    ended: Option<Instant>,
    /// The terminal's master (with `Tty`), for resizes.
    master: Option<Arc<AsyncFd<OwnedFd>>>,
}

/// The service's exec instances, by ID.
#[derive(Default)]
pub struct ExecTable(Mutex<HashMap<String, Instance>>);

impl ExecTable {
    fn with<T>(&self, id: &str, f: impl FnOnce(&mut Instance) -> T) -> Result<T, ApiError> {
        let mut map = self
            .0
            .lock()
            .map_err(|_| ApiError::from_engine(&anyhow::anyhow!("the exec table is poisoned")))?;
        match map.get_mut(id) {
            Some(i) => Ok(f(i)),
            None => Err(ApiError {
                status: StatusCode::NOT_FOUND,
                message: format!("No such exec instance: {id}"),
            }),
        }
    }
}

fn conflict(message: String) -> ApiError {
    ApiError {
        status: StatusCode::CONFLICT,
        message,
    }
}

/// `POST /containers/{id}/exec`: 201 `{"Id": ...}`.
pub async fn create(
    state: Arc<State>,
    key: String,
    req: Request<Incoming>,
) -> Result<Reply, ApiError> {
    let body = http::read_json(req).await?;
    let Value::Object(obj) = &body else {
        return Err(ApiError::bad_request(
            "the exec request must be a JSON object",
        ));
    };
    refuse_unknown(obj, &[EXEC_FIELDS], "")?;
    if bool_field(obj, "Privileged")? {
        return Err(ApiError::bad_request(
            "Privileged is not supported by pier's exec: the command gets the container's own privileges; leave it out",
        ));
    }
    let command = strings(obj.get("Cmd"), "Cmd")?;
    if command.is_empty() {
        return Err(ApiError::bad_request("exec needs a command (Cmd)"));
    }
    let env = strings(obj.get("Env"), "Env")?;
    if let Some(bad) = env.iter().find(|e| !e.contains('=') || e.starts_with('=')) {
        return Err(ApiError::bad_request(format!(
            "invalid Env entry {bad:?}: KEY=VALUE"
        )));
    }
    let (workdir, user, tty) = (
        string(obj, "WorkingDir")?,
        string(obj, "User")?,
        bool_field(obj, "Tty")?,
    );
    let (attach_stdin, attach_stdout, attach_stderr) = (
        bool_field(obj, "AttachStdin")?,
        bool_field(obj, "AttachStdout")?,
        bool_field(obj, "AttachStderr")?,
    );
    let s = state.clone();
    let rec = blocking(move || {
        let (_, rec) = s.engine.find(&key)?;
        if rec.status != ContainerStatus::Running {
            return Err(conflict(format!(
                "Container {} is not running: it is {}; start it before exec",
                rec.name,
                rec.status.as_str()
            )));
        }
        if rec.paused {
            return Err(conflict(format!(
                "Container {} is paused, unpause the container before exec",
                rec.name
            )));
        }
        Ok(rec)
    })
    .await?;
    let id = pier_engine::naming::new_id()?;
    let instance = Instance {
        container_id: rec.id.clone(),
        job: ExecJob {
            container: rec.id.clone(),
            command,
            env,
            workdir,
            user,
            tty,
        },
        attach_stdin,
        attach_stdout,
        attach_stderr,
        started: false,
        running: false,
        pid: 0,
        exit_code: None,
        ended: None,
        master: None,
    };
    if let Ok(mut map) = state.execs.0.lock() {
        map.retain(|_, i| i.ended.is_none_or(|t| t.elapsed() < KEEP_FINISHED));
        map.insert(id.clone(), instance);
    }
    Ok(http::json(StatusCode::CREATED, &json!({ "Id": id })))
}

/// `GET /exec/{id}/json`.
pub async fn inspect(state: Arc<State>, id: String) -> Result<Reply, ApiError> {
    let v = state.execs.with(&id, |i| {
        json!({
            "ID": id,
            "Running": i.running,
            "ExitCode": i.exit_code,
            "Pid": i.pid,
            "ContainerID": i.container_id,
            "OpenStdin": i.attach_stdin,
            "OpenStdout": i.attach_stdout,
            "OpenStderr": i.attach_stderr,
            "CanRemove": false,
            "DetachKeys": "",
            "ProcessConfig": {
                "tty": i.job.tty,
                "entrypoint": i.job.command[0],
                "arguments": i.job.command[1..],
                "privileged": false,
                "user": i.job.user.clone().unwrap_or_default(),
            },
        })
    })?;
    Ok(http::json(StatusCode::OK, &v))
}

/// `POST /exec/{id}/resize?h=&w=`.
pub async fn resize(state: Arc<State>, id: String, q: Query) -> Result<Reply, ApiError> {
    let (rows, cols) = super::attach_stdin::size(&q)?;
    let master = state.execs.with(&id, |i| i.master.clone())?;
    if let Some(m) = master {
        set_window_size(m.get_ref().as_fd(), rows, cols)
            .map_err(|e| ApiError::from_engine(&e.context(format!("resizing exec {id}"))))?;
    }
    Ok(http::empty(StatusCode::OK))
}

/// The service's ends of a started exec's streams.
struct Ends {
    stdin: Option<Arc<AsyncFd<OwnedFd>>>,
    stdout: Option<AsyncFd<OwnedFd>>,
    stderr: Option<AsyncFd<OwnedFd>>,
    master: Option<Arc<AsyncFd<OwnedFd>>>,
}

fn async_fd(fd: OwnedFd) -> Result<AsyncFd<OwnedFd>, ApiError> {
    let flags = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GETFL)
        .map_err(|e| anyhow::anyhow!("F_GETFL: {e}"))?;
    let flags = nix::fcntl::OFlag::from_bits_retain(flags) | nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_SETFL(flags))
        .map_err(|e| anyhow::anyhow!("F_SETFL: {e}"))?;
    // SAFETY: an OwnedFd's descriptor is open, and the same one, until the OwnedFd (owned
    // by the AsyncFd from here on) is dropped.
    unsafe { AsyncFd::register(fd) }
        .map_err(|e| anyhow::anyhow!("registering an exec stream: {e}").into())
}

/// Makes the streams: the service's ends, and the child ends [stdin, stdout, stderr].
fn make_streams(
    tty: bool,
    stdin: bool,
    stdout: bool,
    stderr: bool,
) -> Result<(Ends, [OwnedFd; 3]), ApiError> {
    let devnull = || -> Result<OwnedFd, ApiError> {
        Ok(std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .map_err(|e| anyhow::anyhow!("opening /dev/null: {e}"))?
            .into())
    };
    let dup = |fd: &OwnedFd| -> Result<OwnedFd, ApiError> {
        Ok(fd
            .try_clone()
            .map_err(|e| anyhow::anyhow!("dup of an exec stream: {e}"))?)
    };
    if tty {
        let pty = nix::pty::openpty(None, None).map_err(|e| anyhow::anyhow!("openpty: {e}"))?;
        let master = Arc::new(async_fd(pty.master)?);
        let child = [dup(&pty.slave)?, dup(&pty.slave)?, pty.slave];
        let ends = Ends {
            stdin: stdin.then(|| master.clone()),
            stdout: None,
            stderr: None,
            master: Some(master),
        };
        return Ok((ends, child));
    }
    let pipe = || -> Result<(OwnedFd, OwnedFd), ApiError> {
        Ok(nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| anyhow::anyhow!("pipe for an exec stream: {e}"))?)
    };
    let (in_child, in_ours) = if stdin {
        let (r, w) = pipe()?;
        (r, Some(Arc::new(async_fd(w)?)))
    } else {
        (devnull()?, None)
    };
    let out = |wanted: bool| -> Result<(OwnedFd, Option<AsyncFd<OwnedFd>>), ApiError> {
        if wanted {
            let (r, w) = pipe()?;
            Ok((w, Some(async_fd(r)?)))
        } else {
            Ok((devnull()?, None))
        }
    };
    let (out_child, out_ours) = out(stdout)?;
    let (err_child, err_ours) = out(stderr)?;
    Ok((
        Ends {
            stdin: in_ours,
            stdout: out_ours,
            stderr: err_ours,
            master: None,
        },
        [in_child, out_child, err_child],
    ))
}

/// One read; 0 at end-of-file (EIO: the terminal's last slave closed).
async fn read_some(fd: &AsyncFd<OwnedFd>, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        let mut guard = fd.readable().await?;
        match guard.try_io(|f| nix::unistd::read(f.get_ref(), buf).map_err(std::io::Error::from)) {
            Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => return Ok(0),
            Ok(r) => return r,
            Err(_would_block) => continue,
        }
    }
}

async fn write_all(fd: &AsyncFd<OwnedFd>, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        let mut guard = fd.writable().await?;
        match guard.try_io(|f| nix::unistd::write(f.get_ref(), data).map_err(std::io::Error::from))
        {
            Ok(Ok(n)) => data = &data[n..],
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => continue,
        }
    }
    Ok(())
}

/// `POST /exec/{id}/start` with `{"Detach": bool, "Tty": bool}`: 101 and the hijacked
/// stream (200 and a streamed body without `Upgrade`; 200 at once with `Detach`).
pub async fn start(
    state: Arc<State>,
    id: String,
    mut req: Request<Incoming>,
) -> Result<Reply, ApiError> {
    let hijack = req.headers().contains_key(UPGRADE);
    let upgrade = hyper::upgrade::on(&mut req);
    let body = http::read_json(req).await?;
    let detach = match &body {
        Value::Object(o) => bool_field(o, "Detach")?,
        _ => false,
    };
    let (job, stdin, stdout, stderr) = state.execs.with(&id, |i| {
        if i.started {
            return Err(conflict(format!(
                "exec instance {id} has already been started"
            )));
        }
        i.started = true;
        Ok((
            i.job.clone(),
            i.attach_stdin,
            i.attach_stdout,
            i.attach_stderr,
        ))
    })??;
    let tty = job.tty;
    let attached = !detach;
    let (ends, child) = make_streams(
        tty,
        stdin && attached,
        stdout && attached,
        stderr && attached,
    )?;
    // The terminal is there before the command: a resize the client sends right after the
    // 101 reaches it.
    state.execs.with(&id, |i| i.master = ends.master.clone())?;
    if hijack && !detach {
        // As dockerd: the 101 goes out before the command starts. A client such as
        // docker-py reads the response's head through a buffered reader and then the raw
        // socket, so output that arrived together with the head would be lost.
        let (tx, rx) = mpsc::channel::<Bytes>(64);
        let stdin_end = ends.stdin.clone();
        let reply = hijacked(upgrade, rx, stdin_end, tty);
        tokio::spawn(async move {
            let mut upgraded = match launch(&state, &id, &job, child).await {
                Ok(status) => pump(
                    state.clone(),
                    id,
                    ends.stdout,
                    ends.stderr,
                    ends.master.clone(),
                    status,
                    tty,
                ),
                Err(message) => {
                    // The reason goes to the stream, the exit code to the record, so
                    // `docker exec c nosuch` prints why and exits 127.
                    let line = format!("{message}\r\n");
                    let data = if tty {
                        line.into_bytes()
                    } else {
                        frame(Stream::Stdout, line.as_bytes())
                    };
                    let _ = tx.send(Bytes::from(data)).await;
                    return;
                }
            };
            while let Some(b) = upgraded.recv().await {
                if tx.send(b).await.is_err() {
                    break;
                }
            }
        });
        return Ok(reply);
    }
    let status = match launch(&state, &id, &job, child).await {
        Ok(status) => status,
        Err(message) => return Err(ApiError::from_engine(&anyhow::anyhow!(message))),
    };
    let rx = pump(
        state.clone(),
        id,
        ends.stdout,
        ends.stderr,
        ends.master.clone(),
        status,
        tty,
    );
    if detach {
        tokio::spawn(drain(rx));
        return Ok(http::empty(StatusCode::OK));
    }
    let (reply, body_tx) = http::streamed(content_type(tty));
    tokio::spawn(forward_body(rx, body_tx));
    Ok(reply)
}

/// Starts the exec's command through the launcher with the child ends of its streams, and
/// waits for its PID (recorded). The status stream comes back, to learn
/// the exit code from; or the reason it could not start (its exit code, 126 or 127 as
/// dockerd gives, is in the record then).
async fn launch(
    state: &Arc<State>,
    id: &str,
    job: &ExecJob,
    child: [OwnedFd; 3],
) -> Result<BufReader<tokio::net::UnixStream>, String> {
    let failed = |message: String, code: i32| {
        let _ = state.execs.with(id, |i| {
            i.exit_code = Some(code);
            i.ended = Some(Instant::now());
        });
        message
    };
    let (status_ours, status_child) = std::os::unix::net::UnixStream::pair()
        .map_err(|e| failed(format!("socket pair for an exec's status: {e}"), 126))?;
    let s = state.clone();
    let job_for_launcher = job.clone();
    let launched = blocking(move || {
        let status_child = OwnedFd::from(status_child);
        let [a, b, c] = &child;
        s.launcher.exec(
            &job_for_launcher,
            [status_child.as_fd(), a.as_fd(), b.as_fd(), c.as_fd()],
        )?;
        // Our copies of the child ends close here: only the command holds them now.
        Ok(())
    })
    .await;
    if let Err(e) = launched {
        let _ = state.execs.with(id, |i| i.started = false);
        return Err(e.message);
    }
    let status_stream = status_ours
        .set_nonblocking(true)
        .and_then(|()| tokio::net::UnixStream::from_std(status_ours))
        .map_err(|e| failed(format!("exec status socket: {e}"), 126))?;
    let mut status = BufReader::new(status_stream);
    match next_status(&mut status).await {
        Status { pid: Some(pid), .. } => {
            state
                .execs
                .with(id, |i| {
                    i.running = true;
                    i.pid = pid;
                })
                .map_err(|e| e.message)?;
            Ok(status)
        }
        Status { error, code, .. } => Err(failed(
            error.unwrap_or_else(|| "the exec watcher ended without a word".into()),
            code.unwrap_or(126),
        )),
    }
}

/// The 101 reply; once upgraded, the client's input goes to `stdin_end` and `rx` to the
/// client, which is closed after it.
fn hijacked(
    upgrade: hyper::upgrade::OnUpgrade,
    mut rx: mpsc::Receiver<Bytes>,
    stdin_end: Option<Arc<AsyncFd<OwnedFd>>>,
    tty: bool,
) -> Reply {
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else {
            return;
        };
        let (from_client, mut to_client) = tokio::io::split(TokioIo::new(upgraded));
        if let Some(to) = stdin_end {
            tokio::spawn(copy_stdin(from_client, to));
        }
        while let Some(b) = rx.recv().await {
            if to_client.write_all(&b).await.is_err() {
                return;
            }
        }
        let _ = to_client.shutdown().await;
    });
    let mut reply = http::empty(StatusCode::SWITCHING_PROTOCOLS);
    let h = reply.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type(tty)));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(UPGRADE, HeaderValue::from_static("tcp"));
    reply
}

fn content_type(tty: bool) -> &'static str {
    if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    }
}

async fn drain(mut rx: mpsc::Receiver<Bytes>) {
    while rx.recv().await.is_some() {}
}

async fn forward_body(mut rx: mpsc::Receiver<Bytes>, tx: mpsc::Sender<Bytes>) {
    while let Some(b) = rx.recv().await {
        if tx.send(b).await.is_err() {
            break;
        }
    }
}

/// The client's input to the command until the client ends it; then (without a terminal)
/// the command's stdin is closed, so `echo hi | docker exec -i c cat` ends.
async fn copy_stdin(mut from_client: impl AsyncRead + Unpin, to: Arc<AsyncFd<OwnedFd>>) {
    let mut buf = vec![0u8; 16384];
    loop {
        match from_client.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if write_all(&to, &buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn next_status(status: &mut BufReader<tokio::net::UnixStream>) -> Status {
    let mut line = String::new();
    match status.read_line(&mut line).await {
        Ok(n) if n > 0 => serde_json::from_str(&line).unwrap_or(Status {
            pid: None,
            exit: None,
            error: Some(format!(
                "a malformed status from the exec watcher: {line:?}"
            )),
            code: None,
        }),
        _ => Status {
            pid: None,
            exit: None,
            error: Some("the exec watcher ended without a word".into()),
            code: None,
        },
    }
}

/// The command's output as the client reads it (frames, or raw with a terminal); the
/// channel ends after the exit code is in the table.
fn pump(
    state: Arc<State>,
    id: String,
    stdout: Option<AsyncFd<OwnedFd>>,
    stderr: Option<AsyncFd<OwnedFd>>,
    master: Option<Arc<AsyncFd<OwnedFd>>>,
    mut status: BufReader<tokio::net::UnixStream>,
    tty: bool,
) -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let mut readers = Vec::new();
    let mut read_into = |fd: Arc<AsyncFd<OwnedFd>>, stream: Option<Stream>| {
        let tx = tx.clone();
        readers.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 32768];
            while let Ok(n) = read_some(&fd, &mut buf).await {
                if n == 0 {
                    break;
                }
                let data = match stream {
                    Some(s) => frame(s, &buf[..n]),
                    None => buf[..n].to_vec(),
                };
                if tx.send(Bytes::from(data)).await.is_err() {
                    break;
                }
            }
        }));
    };
    if let (Some(m), true) = (master, tty) {
        read_into(m, None);
    }
    if let Some(o) = stdout {
        read_into(Arc::new(o), Some(Stream::Stdout));
    }
    if let Some(e) = stderr {
        read_into(Arc::new(e), Some(Stream::Stderr));
    }
    let busy = state.busy();
    tokio::spawn(async move {
        let _busy = busy;
        let end = next_status(&mut status).await;
        // 126 as Docker's "cannot invoke" when the watcher could not wait.
        let code = end.exit.unwrap_or(126);
        let deadline = tokio::time::Instant::now() + DRAIN_AFTER_EXIT;
        for r in readers {
            let abort = r.abort_handle();
            if tokio::time::timeout_at(deadline, r).await.is_err() {
                abort.abort();
            }
        }
        let _ = state.execs.with(&id, |i| {
            i.running = false;
            i.exit_code = Some(code);
            i.ended = Some(Instant::now());
            // The terminal goes with the last reference.
            i.master = None;
        });
        drop(tx);
    });
    rx
}
