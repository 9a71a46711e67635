//! How `pier bench` and the `pier-bench` program find each other: `pier` runs `pier-bench`
//! from beside its own executable (else from `PATH`), telling it in [`PIER_ENV`] which pier
//! binary to measure; `pier-bench` run by hand looks for `pier` the same way.

use std::ffi::OsStr;
use std::path::PathBuf;

/// The harness program's file name.
pub const PROGRAM: &str = "pier-bench";

/// Environment variable in which `pier bench` names its own executable for `pier-bench`: the
/// pier binary the bench measures.
pub const PIER_ENV: &str = "PIER_BENCH_PIER";

/// `name` beside the running executable (the same `target/<profile>/` directory, or the same
/// install directory), else the first `name` on `PATH`.
pub fn beside_or_on_path(name: &str) -> Option<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(name)));
    beside
        .filter(|p| p.is_file())
        .or_else(|| on_path(name, std::env::var_os("PATH").as_deref()))
}

/// The first `name` in the directories of `path` (a `PATH` value), like `which`.
pub fn on_path(name: &str, path: Option<&OsStr>) -> Option<PathBuf> {
    std::env::split_paths(path?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_path_in_order() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for d in [&a, &b] {
            std::fs::write(d.path().join("tool"), "").unwrap();
        }
        let path = std::env::join_paths([a.path(), b.path()]).unwrap();
        assert_eq!(on_path("tool", Some(&path)), Some(a.path().join("tool")));
        assert_eq!(on_path("missing", Some(&path)), None);
        assert_eq!(on_path("tool", None), None);
    }
}
