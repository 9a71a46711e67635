//! `pier stop`, `pier kill`, `pier wait`.

use super::events::{Action, Event, InitSeen};
use super::record::{ContainerRecord, ContainerStatus};
use super::Engine;
use anyhow::{bail, Result};
use nix::sys::signal::Signal;
use pier_oci::container::kill::signal;
use std::time::{Duration, Instant};

impl Engine {
    /// Sends `sig` to the container's init.
    pub fn kill(&self, key: &str, sig: Signal) -> Result<()> {
        let (paths, mut rec) = self.find(key)?;
        let running = |r: &ContainerRecord| {
            r.init
                .filter(|p| r.status == ContainerStatus::Running && p.is_alive())
        };
        if running(&rec).is_none() {
            if !self.end_restart_wait(&rec)? {
                bail!("cannot kill container {}: it is not running", rec.name);
            }
            // The monitor gave up, or had begun a run before it saw the mark: that one gets
            // the signal.
            rec = match ContainerRecord::load(&paths) {
                Ok(r) => r,
                Err(_) => return Ok(()),
            };
        }
        let Some(init) = running(&rec) else {
            return Ok(());
        };
        // A user's kill that ends the container (SIGKILL, or its stop signal), as the user's
        // stop, ends the restart policy; a signal it handles (SIGHUP to reload) does not.
        if sig == Signal::SIGKILL || sig == stop_signal(self, &rec) {
            self.update(&paths, |r| r.stopped_by_user = true)?;
        }
        // Read before the signal: after a SIGKILL the process may already be gone.
        let seen = InitSeen::of_process(init);
        signal(init.pid, sig)?;
        self.thaw_after_signal(key);
        self.record_event(Event {
            signal: Some(sig.as_str().to_string()),
            init: seen,
            ..Event::about(&rec, Action::Kill)
        });
        Ok(())
    }

    /// Sends `sig` to a container's init on pier's own behalf (stop, rm -f) and records it;
    /// a process that is already gone is not an error.
    pub(crate) fn signal_init(&self, rec: &ContainerRecord, pid: i32, sig: Signal) {
        let seen = InitSeen::of(pid);
        if signal(pid, sig).is_ok() {
            self.record_event(Event {
                signal: Some(sig.as_str().to_string()),
                init: seen,
                ..Event::about(rec, Action::Kill)
            });
        }
    }

    /// SIGTERM (or the image's stop signal), then SIGKILL after `timeout`, as `docker stop`.
    /// Stopping a stopped container is not an error.
    pub fn stop(&self, key: &str, timeout: Duration) -> Result<()> {
        // A container under a restart policy may be between two runs (its process just exited,
        // the monitor waits out the back-off, or it is starting the next run). The request is
        // recorded under the records' lock, the lock the monitor decides under whether to run
        // again: either the monitor sees it and gives up, or it had decided already and the
        // run it begins is stopped below. Bounded: a monitor ends or starts a run within
        // seconds.
        let deadline = Instant::now() + Duration::from_secs(10);
        let (paths, _) = self.find(key)?;
        loop {
            let Some(rec) = self.update(&paths, |r| {
                if r.status == ContainerStatus::Running || r.monitor.is_some_and(|m| m.is_alive()) {
                    r.stopped_by_user = true;
                }
            })?
            else {
                return Ok(()); // removed meanwhile
            };
            if let Some(init) = rec
                .init
                .filter(|p| rec.status == ContainerStatus::Running && p.is_alive())
            {
                return self.stop_running(&paths, &rec, init.pid, timeout);
            }
            let Some(monitor) = rec.monitor.filter(|m| m.is_alive()) else {
                return Ok(());
            };
            if Instant::now() >= deadline {
                bail!(
                    "container {} did not stop: its monitor (PID {}) neither ended nor started it within 10 s",
                    rec.name,
                    monitor.pid
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `stop` of a running container: the stop signal, then SIGKILL after `timeout`.
    fn stop_running(
        &self,
        paths: &super::record::ContainerPaths,
        rec: &ContainerRecord,
        pid: i32,
        timeout: Duration,
    ) -> Result<()> {
        // Recorded first: the monitor reads it when the process exits and does not restart.
        self.update(paths, |r| r.stopped_by_user = true)?;
        self.signal_init(rec, pid, stop_signal(self, rec));
        self.thaw_after_signal(&rec.id);
        if self.wait_until_stopped(&rec.id, timeout)? {
            return Ok(());
        }
        self.signal_init(rec, pid, Signal::SIGKILL);
        if !self.wait_until_stopped(&rec.id, Duration::from_secs(10))? {
            bail!("container {} did not stop after SIGKILL", rec.name);
        }
        Ok(())
    }

    /// A container whose monitor waits out the restart back-off: marks it stopped by the
    /// user (under the lock the monitor decides under) and waits until the monitor gives up,
    /// or has started the run it had decided on before it could see the mark (the caller
    /// then finds that run running). False if it was not restarting.
    pub(crate) fn end_restart_wait(&self, rec: &ContainerRecord) -> Result<bool> {
        let Some(monitor) = rec.monitor.filter(|m| rec.restarting && m.is_alive()) else {
            return Ok(false);
        };
        let paths = self.paths(&rec.id);
        self.update(&paths, |r| r.stopped_by_user = true)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while monitor.is_alive() && Instant::now() < deadline {
            let Ok(now) = ContainerRecord::load(&paths) else {
                break; // removed
            };
            let started =
                now.status == ContainerStatus::Running && now.init.is_some_and(|p| p.is_alive());
            if started || now.monitor.is_none() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(true)
    }

    /// Polls until the container is no longer running (its watcher has recorded the exit, or
    /// it was removed). Returns false on timeout.
    pub(crate) fn wait_until_stopped(&self, key: &str, timeout: Duration) -> Result<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.find(key) {
                Err(_) => return Ok(true),
                Ok((paths, rec)) => {
                    if rec.status != ContainerStatus::Running {
                        return Ok(true);
                    }
                    // The watcher may have died: then nobody else will record the exit.
                    if !rec.monitor.is_some_and(|m| m.is_alive()) {
                        self.reconcile_one(&paths)?;
                    }
                }
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `pier wait`: blocks until the container stops; returns its exit code.
    pub fn wait(&self, key: &str) -> Result<i32> {
        let (paths, rec) = self.find(key)?;
        let id = rec.id.clone();
        while !self.wait_until_stopped(&id, Duration::from_secs(3600))? {}
        match ContainerRecord::load(&paths) {
            Ok(rec) => Ok(rec.exit_code.unwrap_or(0)),
            // Removed by --rm: the exit code went with it.
            Err(_) => Ok(rec.exit_code.unwrap_or(0)),
        }
    }
}

fn stop_signal(engine: &Engine, rec: &ContainerRecord) -> Signal {
    engine
        .images()
        .and_then(|s| s.resolve(&rec.image_id))
        .ok()
        .and_then(|img| img.config.config().clone())
        .and_then(|c| c.stop_signal().clone())
        .and_then(|s| pier_oci::container::kill::parse_signal(&s).ok())
        .unwrap_or(Signal::SIGTERM)
}
