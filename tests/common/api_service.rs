//! `pier system service` for a test: started on a private socket for a test's [`Pier`] root,
//! driven with the real `docker` CLI (DOCKER_HOST at that socket, never the host's dockerd)
//! and `curl --unix-socket`, stopped on drop.

use super::{wait_for, Pier};
use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::time::Duration;

/// The service on a private root and socket; stopped (SIGTERM) and checked gone on drop.
pub struct Service {
    /// The `pier system service` process.
    pub child: Child,
    /// Its socket.
    pub socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Service {
    /// Starts `pier system service` for `p`'s root on a socket in a new temporary directory.
    pub fn start(p: &Pier) -> Service {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("docker.sock");
        let child = p
            .command(&["system", "service", "--socket", socket.to_str().unwrap()])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        wait_for(
            Duration::from_secs(20),
            || socket.exists(),
            "the service's socket",
        );
        Service {
            child,
            socket,
            _dir: dir,
        }
    }

    /// `docker ARGS` against the service (DOCKER_HOST), stdin closed.
    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }

    /// [`Self::docker`], asserted successful: its stdout.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `curl --unix-socket`: (status code, body).
    pub fn curl(&self, args: &[&str], path: &str) -> (u16, String) {
        let out = Command::new("curl")
            .args(["-s", "-w", "\n%{http_code}", "--unix-socket"])
            .arg(&self.socket)
            .args(args)
            .arg(format!("http://pier{path}"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (code.trim().parse().unwrap_or(0), body.to_string())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        // SAFETY: a plain kill(2) of the child this test started.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}
