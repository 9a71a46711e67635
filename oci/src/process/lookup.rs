//! Finding the command to execute, the way Docker does: a name without `/` is searched in the
//! `PATH` of the *container's* environment (not pier's), inside the container's root.

use nix::unistd::{access, AccessFlags};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Why a command cannot be executed, with Docker's exit code for it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct LookupError {
    /// 127 when not found, 126 when found but not executable.
    pub code: i32,
    /// A one-line message naming the command.
    pub message: String,
}

/// The default `PATH` when the environment has none.
pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Resolves `command` against `PATH` from `env` (`KEY=VALUE` strings). Call after `pivot_root`.
pub(crate) fn resolve(command: &str, env: &[String]) -> Result<PathBuf, LookupError> {
    if command.is_empty() {
        return Err(LookupError {
            code: 127,
            message: "no command given: the image has no Cmd or Entrypoint and none was specified"
                .into(),
        });
    }
    if command.contains('/') {
        return check(Path::new(command)).map(|_| PathBuf::from(command));
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let mut denied = None;
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(command);
        match check(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.code == 126 => denied = Some(e),
            Err(_) => {}
        }
    }
    Err(denied.unwrap_or(LookupError {
        code: 127,
        message: format!("exec: \"{command}\": executable file not found in $PATH"),
    }))
}

fn check(path: &Path) -> Result<(), LookupError> {
    let meta = std::fs::metadata(path).map_err(|_| LookupError {
        code: 127,
        message: format!("exec: \"{}\": no such file or directory", path.display()),
    })?;
    if meta.is_dir()
        || meta.permissions().mode() & 0o111 == 0
        || access(path, AccessFlags::X_OK).is_err()
    {
        return Err(LookupError {
            code: 126,
            message: format!("exec: \"{}\": permission denied", path.display()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_in_path_and_reports_missing() {
        let env = vec!["PATH=/nonexistent:/bin:/usr/bin".to_string()];
        assert!(resolve("sh", &env).unwrap().ends_with("sh"));
        let e = resolve("no-such-command-pier", &env).unwrap_err();
        assert_eq!(e.code, 127);
        assert!(e.message.contains("no-such-command-pier"));
        assert_eq!(resolve("/etc/passwd", &env).unwrap_err().code, 126);
        assert_eq!(resolve("/nope/x", &env).unwrap_err().code, 127);
    }
}
