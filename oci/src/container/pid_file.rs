//! The `--pid-file` runc writes for the manager that started it: the host PID of a
//! container's init (`create`, `run`) or of a process `exec` started.

use crate::persist::write_replace;
use anyhow::Context;
use std::path::Path;

/// Writes `pid` to `path` atomically, as runc does (managers read it as soon as it appears).
pub fn write_pid_file(path: &Path, pid: i32) -> crate::Result<()> {
    write_replace(path, pid.to_string().as_bytes())
        .with_context(|| format!("writing the pid file {}", path.display()))?;
    Ok(())
}
