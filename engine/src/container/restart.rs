//! The monitor's restart loop: after the container's command exits, the detached monitor
//! (see [`super::start`]) consults the record's `--restart` policy and, with Docker's
//! back-off, starts the container again in the same process (where the small monitor watches
//! the runs, it executes pier again at each exit, which comes here: [`super::monitor`]). `pier stop`/`kill`/`rm -f`
//! mark the record stopped by the user, which ends the loop (also during the back-off).
//!
//! The race with `pier stop` is closed by one lock (the records' lock): the monitor decides to
//! run again, and checks for a stop once more just before it starts the run, each time under
//! that lock; `pier stop` records its request under it, and until the monitor has given up it
//! stays named in the record (from the run's exit to its decision too), so a stop either is
//! seen by the monitor or finds the monitor alive and waits for the run it had begun.

use super::events::{Action, Event};
use super::record::ContainerRecord;
use super::restart_policy::next_delay;
use super::start::{Attach, RunOutcome};
use super::Engine;
use anyhow::Result;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The back-off of this monitor's restart policy, in milliseconds (0: none yet). A process
/// global, not a local of the loop, because the loop spans processes: the small monitor
/// executes pier again after each run, and the back-off travels in its arguments
/// ([`backoff`] when handing over, [`set_backoff`] when resuming).
static BACKOFF_MS: AtomicU64 = AtomicU64::new(0);

/// The current back-off between restarts, if a restart has happened in this monitor.
pub(crate) fn backoff() -> Option<Duration> {
    match BACKOFF_MS.load(Ordering::Relaxed) {
        0 => None,
        ms => Some(Duration::from_millis(ms)),
    }
}

/// Sets the back-off (a resumed monitor's, from its arguments).
pub(crate) fn set_backoff(delay: Option<Duration>) {
    let ms = delay.map_or(0, |d| {
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
    });
    BACKOFF_MS.store(ms, Ordering::Relaxed);
}

/// How often the back-off wait looks at the record for a user's stop.
const POLL: Duration = Duration::from_millis(50);

impl Engine {
    /// Runs the restart policy of container `id` after its run ended with `outcome`,
    /// until the policy says no, the user stops it, or it is removed. `before_restart` runs
    /// once the policy has said yes, before anything else (the exit path that skipped the
    /// sealed copy re-executes sealed there; it returns only if this process already is).
    pub(crate) fn apply_restart_policy(
        &self,
        id: &str,
        mut outcome: RunOutcome,
        before_restart: &dyn Fn() -> Result<()>,
    ) -> Result<()> {
        let paths = self.paths(id);
        let me = super::record::ProcessId::of(std::process::id() as i32);
        let mut delay = backoff();
        loop {
            // The run's exit was recorded with this monitor still named in the record, so a
            // `pier stop` landing now finds it alive and records its request, under the lock
            // this decision is taken under too: either the decision sees the request, or the
            // request sees the container restarting with its monitor alive, and waits.
            let mut again = false;
            let Some(rec) = self.update(&paths, |r| {
                again = r.config.restart.should_restart(
                    outcome.exit.code,
                    r.restart_count,
                    r.stopped_by_user,
                );
                // Still watched while waiting: `pier stop` finds the monitor, reconcile leaves it.
                r.restarting = again;
                r.monitor = if again { me } else { None };
            })?
            else {
                return Ok(()); // removed
            };
            if !again {
                return Ok(());
            }
            before_restart()?;
            let d = next_delay(delay, ran_for(&rec));
            delay = Some(d);
            set_backoff(delay);
            self.wait_out(&paths, d);
            // The last word before the next run, under the same lock `pier stop` records its
            // request under: a stop recorded before it is obeyed here; a stop recorded after it
            // finds the run being started (restarting, monitor alive), waits for it, stops it.
            let mut go = false;
            let Some(rec) = self.update(&paths, |r| {
                go = !r.stopped_by_user;
                if go {
                    r.restart_count += 1;
                } else {
                    r.restarting = false;
                    r.monitor = None;
                }
            })?
            else {
                return Ok(());
            };
            if !go {
                return Ok(());
            }
            self.record_event(Event::about(&rec, Action::Restart));
            outcome = match self.run_once(id, Attach::Detached, &mut |_| {}, true) {
                Ok(o) => o,
                // run_once has recorded why (start-failed) and released what it made.
                Err(_) => return Ok(()),
            };
        }
    }

    /// Sleeps `delay`, less if the user stops or removes the container meanwhile (the caller
    /// decides, under the lock, what to make of it).
    fn wait_out(&self, paths: &super::record::ContainerPaths, delay: Duration) {
        let end = Instant::now() + delay;
        loop {
            match ContainerRecord::load(paths) {
                Ok(r) if !r.stopped_by_user => {}
                _ => return,
            }
            let now = Instant::now();
            if now >= end {
                return;
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
