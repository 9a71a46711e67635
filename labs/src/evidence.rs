//! What the checker takes from pier's event log as proof that a process ran. Only sealed
//! lines count ([`Ctx::events`](crate::Ctx::events) reads nothing else): a line written by
//! hand is refused. Each event names the container's init as the kernel showed it to pier at
//! the time (PID, that PID's start time, cgroup); the checks below compare that with the
//! kernel: with the live process while it runs, with the kernel's clock once it is gone.
//!
//! What cannot be verified once a process is gone: that it existed. The kernel forgets it;
//! what remains is the seal (root can read pier's key and seal lines itself: the seal makes
//! forging deliberate, it cannot make it impossible) and the consistency of the record (its
//! start time agrees with when pier said it started, and every event of one run names the
//! same process).

use pier_engine::container::events::{Action, Event, InitSeen};
use std::time::{Duration, SystemTime};

/// How much later than the kernel's start of the init pier may write its `start` line: the
/// init is forked at `create`, before the network, the mounts and the hooks are set up, which
/// takes seconds on a loaded machine.
const SETUP: Duration = Duration::from_secs(60);

/// How much earlier than the kernel's start the line may seem: the boot time is known to the
/// whole second only.
const ROUNDING: Duration = Duration::from_secs(2);

/// When the process `seen` started, by the kernel's clock (boot time + its start ticks).
fn started(seen: &InitSeen) -> Option<SystemTime> {
    let boot = procfs::boot_time_secs().ok()?;
    let ticks = procfs::ticks_per_second();
    if ticks == 0 {
        return None;
    }
    let since_boot = Duration::from_secs_f64(seen.start_time as f64 / ticks as f64);
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(boot) + since_boot)
}

/// Whether `start` (a `start` line) names the process pier started then: the kernel's start
/// time of that process agrees with the line's time.
pub fn started_as_logged(start: &Event) -> bool {
    let (Some(seen), Some(at)) = (&start.init, start.when()) else {
        return false;
    };
    let Some(kernel) = started(seen) else {
        return false;
    };
    match at.duration_since(kernel) {
        Ok(after) => after <= SETUP,
        Err(e) => e.duration() <= ROUNDING,
    }
}

/// Whether `later` is about the process `start` started (the same PID, start time, cgroup).
pub fn same_process(start: &Event, later: &Event) -> bool {
    start.init.is_some() && start.init == later.init
}

/// The `start` line of the run `later` belongs to, if pier recorded it whole: the last start
/// before it that names the same process and agrees with the kernel's clock.
pub fn run_of<'a>(events: &'a [Event], later: &Event) -> Option<&'a Event> {
    let before = events
        .iter()
        .position(|e| std::ptr::eq(e, later))
        .unwrap_or(events.len());
    events[..before]
        .iter()
        .rfind(|s| s.action == Action::Start && same_process(s, later))
        .filter(|s| started_as_logged(s))
}

/// Whether `event` names the process that runs now: the same PID, start time and cgroup.
pub fn is_live(event: &Event) -> bool {
    event
        .init
        .as_ref()
        .is_some_and(|seen| InitSeen::of(seen.pid).as_ref() == Some(seen))
}
