//! The monitor's restart loop: after the container's command exits, the detached monitor
//! (see [`super::start`]) consults the record's `--restart` policy and, with Docker's
//! back-off, starts the container again in the same process. `pier stop`/`kill`/`rm -f`
//! mark the record stopped by the user, which ends the loop (also during the back-off).

use super::events::{Action, Event};
use super::record::ContainerRecord;
use super::restart_policy::next_delay;
use super::start::{Attach, RunOutcome};
use super::Engine;
use anyhow::Result;
use std::time::{Duration, Instant};

/// How often the back-off wait looks at the record for a user's stop.
const POLL: Duration = Duration::from_millis(50);

impl Engine {
    /// Runs the restart policy of container `id` after its run ended with `outcome`,
    /// until the policy says no, the user stops it, or it is removed.
    pub(crate) fn apply_restart_policy(&self, id: &str, mut outcome: RunOutcome) -> Result<()> {
        let paths = self.paths(id);
        let mut delay = None;
        loop {
            let Ok(rec) = ContainerRecord::load(&paths) else {
                return Ok(()); // removed
            };
            let policy = rec.config.restart;
            if !policy.should_restart(outcome.exit.code, rec.restart_count, rec.stopped_by_user) {
                return Ok(());
            }
            let d = next_delay(delay, ran_for(&rec));
            delay = Some(d);
            let me = super::record::ProcessId::of(std::process::id() as i32);
            // Still watched while waiting: `pier stop` finds the monitor, reconcile leaves it.
            if self
                .update(&paths, |r| {
                    r.restarting = true;
                    r.monitor = me;
                })?
                .is_none()
            {
                return Ok(());
            }
            if !self.wait_out(&paths, d) {
                self.update(&paths, |r| {
                    r.restarting = false;
                    r.monitor = None;
                })?;
                return Ok(());
            }
            let Some(rec) = self.update(&paths, |r| r.restart_count += 1)? else {
                return Ok(());
            };
            self.record_event(Event::about(&rec, Action::Restart));
            outcome = match self.run_once(id, Attach::Detached, &mut |_| {}, true) {
                Ok(o) => o,
                // run_once has recorded why (start-failed) and released what it made.
                Err(_) => return Ok(()),
            };
        }
    }

    /// Sleeps `delay` unless the user stops or removes the container meanwhile (false then).
    fn wait_out(&self, paths: &super::record::ContainerPaths, delay: Duration) -> bool {
        let end = Instant::now() + delay;
        loop {
            match ContainerRecord::load(paths) {
                Ok(r) if !r.stopped_by_user => {}
                _ => return false,
            }
            let now = Instant::now();
            if now >= end {
                return true;
            }
            std::thread::sleep(POLL.min(end - now));
        }
    }
}

/// How long the last run lasted, from the record's times (zero if unknown).
fn ran_for(rec: &ContainerRecord) -> Duration {
    let parse = |t: &Option<String>| {
        t.as_deref()
            .and_then(|t| pier_oci::time::parse_rfc3339(t).ok())
    };
    match (parse(&rec.started_at), parse(&rec.finished_at)) {
        (Some(a), Some(b)) => b.duration_since(a).unwrap_or_default(),
        _ => Duration::ZERO,
    }
}
