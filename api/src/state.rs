//! What every handler shares: the engine, the launcher, the activity count for the idle
//! time-out; and [`blocking`], which runs engine calls (blocking file and process work) off
//! the runtime's threads.

use crate::build::forker::BuildForker;
use crate::error::ApiError;
use crate::launcher::Launcher;
use pier_engine::container::Engine;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The service's shared state.
pub struct State {
    /// The engine, on the same state directory as the `pier` command.
    pub engine: Engine,
    /// Starts containers (see [`crate::launcher`]).
    pub launcher: Launcher,
    /// Runs builds (see [`crate::build::forker`]).
    pub builds: BuildForker,
    /// Connections and streams in progress, and when the last one ended.
    pub activity: Activity,
    /// Exec instances (`docker exec`), in memory as Docker keeps them.
    pub execs: crate::containers::exec::ExecTable,
}

/// Counts what is in progress, for `--timeout`.
#[derive(Debug)]
pub struct Activity {
    busy: AtomicUsize,
    since: Mutex<Instant>,
}

/// Held while a connection or stream is in progress.
pub struct Busy(Arc<State>);

impl Activity {
    /// Nothing in progress, from now.
    pub fn new() -> Activity {
        Activity {
            busy: AtomicUsize::new(0),
            since: Mutex::new(Instant::now()),
        }
    }

    /// How long nothing has been in progress (`None` while something is).
    pub fn idle_for(&self) -> Option<std::time::Duration> {
        if self.busy.load(Ordering::SeqCst) > 0 {
            return None;
        }
        self.since.lock().ok().map(|t| t.elapsed())
    }
}

impl Default for Activity {
    fn default() -> Activity {
        Activity::new()
    }
}

impl State {
    /// Marks something in progress until the returned guard is dropped.
    pub fn busy(self: &Arc<State>) -> Busy {
        self.activity.busy.fetch_add(1, Ordering::SeqCst);
        Busy(self.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Ok(mut t) = self.0.activity.since.lock() {
            *t = Instant::now();
        }
        self.0.activity.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs `f` on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError {
        status: hyper::StatusCode::INTERNAL_SERVER_ERROR,
        message: format!("an engine task failed: {e}"),
    })?
}
