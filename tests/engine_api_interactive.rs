//! Interactive containers through `pier system service`, with the real Debian `docker`
//! client: `docker exec` (output, exit code, `-i` with piped stdin, `-it` in a terminal),
//! `docker run -i` / `-it`, `docker attach` (output and stdin), resizes, exec inspect and
//! the errors of a bad exec, each checked for its effect and for nothing left behind.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::api_service::Service;
use common::{scaled, wait_for, Pier};
use pier_testkit::prereq::{require, tool};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

fn prerequisites() -> bool {
    matches!(
        (
            require("the docker client (docker.io)", tool("docker")),
            require("curl", tool("curl")),
        ),
        (Some(_), Some(_))
    )
}

/// `docker ARGS` against the service, not started yet.
fn docker(svc: &Service, args: &[&str]) -> Command {
    let mut c = Command::new("docker");
    c.args(args)
        .env("DOCKER_HOST", format!("unix://{}", svc.socket.display()));
    c
}

/// Whether a process whose command line is exactly `argv` exists on the host.
fn process_exists(argv: &[&str]) -> bool {
    let want = argv.join("\0") + "\0";
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .any(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == want.as_bytes()))
}

/// A command on a new terminal (24 rows, 80 columns) as its stdio and controlling terminal,
/// typed into and read from through the master.
struct Terminal {
    master: std::fs::File,
    child: Child,
    out: Vec<u8>,
    _slave: OwnedFd,
}

impl Terminal {
    fn spawn(mut cmd: Command) -> Terminal {
        let size = nix::pty::Winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(Some(&size), None).expect("openpty");
        let dup = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup of the terminal"));
        cmd.stdin(dup(&pty.slave))
            .stdout(dup(&pty.slave))
            .stderr(dup(&pty.slave));
        // SAFETY: between fork and exec only setsid and ioctl, both async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                nix::unistd::setsid().map_err(std::io::Error::from)?;
                if libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawning in a terminal");
        let master = std::fs::File::from(pty.master);
        nix::fcntl::fcntl(
            &master,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        )
        .unwrap();
        Terminal {
            master,
            child,
            out: Vec::new(),
            _slave: pty.slave,
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.out).into_owned()
    }

    fn read(&mut self) {
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.master.read(&mut buf) {
            if n == 0 {
                break;
            }
            self.out.extend_from_slice(&buf[..n]);
        }
    }

    /// Waits until the output (from its start) contains `what`.
    fn expect(&mut self, what: &str) {
        let deadline = Instant::now() + scaled(T);
        loop {
            self.read();
            if self.text().contains(what) {
                return;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("{what:?} never appeared on the terminal: {:?}", self.text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn send(&mut self, keys: &str) {
        self.master.write_all(keys.as_bytes()).unwrap();
    }

    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + scaled(T);
        loop {
            self.read();
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the terminal's command did not end: {:?}", self.text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Runs `cmd` with `input` on its stdin; (stdout, exit code).
fn with_input(mut cmd: Command, input: &str) -> (String, Option<i32>) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = common::wait_with_timeout(child, T).unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code(),
    )
}

#[test]
fn docker_exec_runs_in_the_container_with_its_streams_and_exit_code() {
    if !prerequisites() {
        return;
    }
    let p = Pier::new();
    let svc = Service::start(&p);
    svc.docker_ok(&["run", "-d", "--name", "c", "busybox", "sleep", "1000"]);

    // Output on its own streams, and the exit code propagated.
    let out = svc.docker(&["exec", "c", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    // It runs inside the container, with -e, -w, -u.
    assert_eq!(
        svc.docker_ok(&[
            "exec",
            "-e",
            "X=fromexec",
            "-w",
            "/tmp",
            "-u",
            "1000",
            "c",
            "sh",
            "-c",
            "echo $X $(pwd) $(id -u) $(cat /proc/1/cmdline | tr '\\0' ' ')"
        ]),
        "fromexec /tmp 1000 sleep 1000\n"
    );
    // A command that cannot run: the reason on the client's stream, 127 / 126 as Docker.
    let out = svc.docker(&["exec", "c", "/no/such/cmd"]);
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("no such file or directory"),
        "{out:?}"
    );
    let out = svc.docker(&["exec", "-u", "nobodyhere", "c", "true"]);
    assert_eq!(out.status.code(), Some(126), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("unable to find user nobodyhere"),
        "{out:?}"
    );
    // -i: piped stdin reaches the command, and its end ends `cat`.
    let (out, code) = with_input(docker(&svc, &["exec", "-i", "c", "cat"]), "piped\nlines\n");
    assert_eq!((out.as_str(), code), ("piped\nlines\n", Some(0)));

    // The exec endpoints with curl: create, start detached, inspect until it ended.
    let (code, body) = svc.curl(
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"Cmd":["sh","-c","sleep 0.3; exit 7"]}"#,
        ],
        "/containers/c/exec",
    );
    assert_eq!(code, 201, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, body) = svc.curl(
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"Detach":true}"#,
        ],
        &format!("/exec/{id}/start"),
    );
    assert_eq!(code, 200, "{body}");
    let inspect = || {
        let (code, body) = svc.curl(&[], &format!("/exec/{id}/json"));
        assert_eq!(code, 200, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    };
    let running = inspect();
    assert!(running["Pid"].as_i64().unwrap() > 0, "{running}");
    assert_eq!(running["ProcessConfig"]["entrypoint"], "sh");
    wait_for(T, || inspect()["Running"] == false, "the exec to end");
    assert_eq!(inspect()["ExitCode"], 7);
    // Started twice: 409.
    let (code, body) = svc.curl(
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            "{}",
        ],
        &format!("/exec/{id}/start"),
    );
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("already been started"), "{body}");

    // Bad input: an unknown exec, a refused field, a stopped container.
    let (code, body) = svc.curl(&[], "/exec/0123456789abcdef/json");
    assert_eq!(code, 404, "{body}");
    assert!(
        body.contains("No such exec instance: 0123456789abcdef"),
        "{body}"
    );
    let (code, body) = svc.curl(
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"Cmd":["true"],"Privileged":true}"#,
        ],
        "/containers/c/exec",
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("Privileged"), "{body}");

    // A detached exec's process goes with the container.
    svc.docker_ok(&["exec", "-d", "c", "sleep", "4242"]);
    wait_for(
        T,
        || process_exists(&["sleep", "4242"]),
        "the detached exec",
    );
    svc.docker_ok(&["stop", "-t", "1", "c"]);
    assert!(!process_exists(&["sleep", "4242"]), "exec process left");
    let (code, body) = svc.curl(
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"Cmd":["true"]}"#,
        ],
        "/containers/c/exec",
    );
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("is not running"), "{body}");
    let out = svc.docker(&["exec", "c", "true"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not running"),
        "{out:?}"
    );
    svc.docker_ok(&["rm", "c"]);
    assert_eq!(p.ok(&["ps", "-a", "-q"]).trim(), "");
}

#[test]
fn docker_exec_it_is_a_terminal_session() {
    if !prerequisites() {
        return;
    }
    let p = Pier::new();
    let svc = Service::start(&p);
    svc.docker_ok(&["run", "-d", "--name", "c", "busybox", "sleep", "1000"]);
    let mut term = Terminal::spawn(docker(&svc, &["exec", "-it", "c", "sh"]));
    term.expect("# ");
    term.send("echo marker-$((6*7)); [ -t 0 ] && echo is-a-tty\n");
    term.expect("marker-42");
    term.expect("is-a-tty");
    // The client's size (24x80) reached the exec's terminal through exec resize.
    term.send("stty size\n");
    term.expect("24 80");
    term.send("exit 5\n");
    assert_eq!(term.wait().code(), Some(5), "{}", term.text());
    svc.docker_ok(&["rm", "-f", "c"]);
    assert_eq!(p.ok(&["ps", "-a", "-q"]).trim(), "");
}

#[test]
fn docker_run_i_and_it_take_stdin() {
    if !prerequisites() {
        return;
    }
    let p = Pier::new();
    let svc = Service::start(&p);
    // Piped stdin: its end closes the container's stdin (StdinOnce), so cat ends.
    let (out, code) = with_input(
        docker(
            &svc,
            &["run", "-i", "--rm", "busybox", "sh", "-c", "cat; echo done"],
        ),
        "hi\nthere\n",
    );
    assert_eq!((out.as_str(), code), ("hi\nthere\ndone\n", Some(0)));

    let mut term = Terminal::spawn(docker(&svc, &["run", "-it", "--rm", "busybox", "sh"]));
    term.expect("# ");
    term.send("echo marker-$((6*7)); [ -t 0 ] && echo is-a-tty\n");
    term.expect("marker-42");
    term.expect("is-a-tty");
    term.send("exit 4\n");
    assert_eq!(term.wait().code(), Some(4), "{}", term.text());
    wait_for(
        T,
        || p.ok(&["ps", "-a", "-q"]).trim().is_empty(),
        "--rm to remove the container",
    );
}

#[test]
fn docker_attach_reads_new_output_and_writes_stdin() {
    if !prerequisites() {
        return;
    }
    let p = Pier::new();
    let svc = Service::start(&p);
    svc.docker_ok(&[
        "run",
        "-di",
        "--name",
        "a",
        "busybox",
        "sh",
        "-c",
        "echo started; while read l; do echo got:$l; done",
    ]);
    wait_for(
        T,
        || svc.docker_ok(&["logs", "a"]).contains("started"),
        "the container's first line",
    );
    let mut attach = docker(&svc, &["attach", "a"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = attach.stdin.take().unwrap();
    // The attach is in place once what we type comes back (a line written before the
    // client attached is not lost either: the container's stdin pipe keeps it).
    stdin.write_all(b"hello\n").unwrap();
    wait_for(
        T,
        || svc.docker_ok(&["logs", "a"]).contains("got:hello"),
        "stdin through docker attach",
    );
    stdin.write_all(b"again\n").unwrap();
    wait_for(
        T,
        || svc.docker_ok(&["logs", "a"]).contains("got:again"),
        "the second line",
    );
    // Resizing a container without a terminal is accepted and does nothing.
    let (code, body) = svc.curl(&["-X", "POST"], "/containers/a/resize?h=30&w=100");
    assert_eq!(code, 200, "{body}");
    let (code, body) = svc.curl(&["-X", "POST"], "/containers/a/resize?h=x&w=100");
    assert_eq!(code, 400, "{body}");
    svc.docker_ok(&["rm", "-f", "a"]);
    // The container's end ends the attach, which printed what the container wrote.
    let out = common::wait_with_timeout(attach, T).unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("got:hello") && text.contains("got:again"),
        "{text}"
    );
    assert!(
        !text.contains("started"),
        "attach shows new output only: {text}"
    );

    // A terminal's size, set with the container resize endpoint.
    svc.docker_ok(&["run", "-dit", "--name", "t", "busybox", "sh"]);
    let (code, body) = svc.curl(&["-X", "POST"], "/containers/t/resize?h=33&w=111");
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        svc.docker_ok(&["exec", "t", "sh", "-c", "stty size < /proc/1/fd/0"]),
        "33 111\n"
    );
    // docker attach on a terminal: what is typed reaches the container's shell and its
    // echo comes back; the container's end ends the attach.
    let mut term = Terminal::spawn(docker(&svc, &["attach", "t"]));
    std::thread::sleep(Duration::from_millis(500));
    term.send("echo marker-$((6*7))\n");
    term.expect("marker-42");
    svc.docker_ok(&["rm", "-f", "t"]);
    term.wait();
    assert_eq!(p.ok(&["ps", "-a", "-q"]).trim(), "");
}
