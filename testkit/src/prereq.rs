//! What a test needs before it can test anything, stated by the test itself.
//!
//! A test that returns early has tested nothing, so it must not pass in silence. Two kinds of
//! early return, kept apart:
//!
//! * [`require`]: something the test setup provides (`scripts/setup.sh test` installs the
//!   tools, `scripts/test.sh` builds the artefacts). Missing under CI (`CI=true`): the test
//!   FAILS, since a skipped test is a failed test there. Missing elsewhere: the test is
//!   *skipped*, saying what is missing and why.
//! * [`applies_only_on`]: a property of the machine the test is about (the cgroup version, a
//!   block device to attack). On another machine the test is *not applicable*: never a
//!   failure, under CI or not, because no setup can change it.
//!
//! Both print one line on stderr (past `cargo test`'s output capture, so it shows), and
//! append it to the summary file ([`SUMMARY_ENV`], else `test-skips.txt` in cargo's target
//! directory) that `scripts/test.sh` empties at its start and prints at its end.
//!
//! ```no_run
//! use pier_testkit::prereq::{applies_only_on, require, tool, when};
//! # let version = 1;
//! let Some(_) = require("iptables", tool("iptables")) else { return };
//! let Some(_) = applies_only_on("cgroup v1", when(version == 1, "the cgroup is v2")) else {
//!     return;
//! };
//! ```

use std::fmt::Display;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Environment variable naming the summary file (scripts/test.sh sets it).
pub const SUMMARY_ENV: &str = "PIER_TEST_SKIPS";

/// Name of the summary file in cargo's target directory when [`SUMMARY_ENV`] is not set.
pub const SUMMARY_FILE: &str = "test-skips.txt";

/// Whether this run is CI's: `CI=true` (or `CI=1`), as CI services set it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// The value `found` holds when the prerequisite `what` (something the test setup provides)
/// is there. When it is missing (`found` is the reason): panics under CI; elsewhere records
/// the test as skipped and returns `None`, and the caller returns.
#[track_caller]
pub fn require<T, E: Display>(what: &str, found: Result<T, E>) -> Option<T> {
    let why = match found {
        Ok(value) => return Some(value),
        Err(why) => one_line(&why),
    };
    let test = current_test();
    if in_ci() {
        panic!(
            "{test} needs {what}, which the test setup provides (scripts/setup.sh test, \
             scripts/test.sh): {why}. Under CI a skipped test is a failed test."
        );
    }
    record(Kind::Skipped, &test, &format!("needs {what}: {why}"));
    None
}

/// The value `found` holds when this machine is one the test is about (`what`, e.g. "cgroup
/// v1"). Otherwise (`found` is why not) records the test as not applicable here and returns
/// `None`, and the caller returns; never a failure, under CI or not.
pub fn applies_only_on<T, E: Display>(what: &str, found: Result<T, E>) -> Option<T> {
    let why = match found {
        Ok(value) => return Some(value),
        Err(why) => one_line(&why),
    };
    record(
        Kind::NotApplicable,
        &current_test(),
        &format!("only on {what}: {why}"),
    );
    None
}

/// `Ok` when `condition` holds, else `Err(otherwise)`: a yes/no fact as a prerequisite.
pub fn when(condition: bool, otherwise: impl Into<String>) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(otherwise.into())
    }
}

/// The executable `name` on `PATH`, or why not.
pub fn tool(name: &str) -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .ok_or_else(|| format!("{name} is not on PATH"))
}

/// The regular file at `path`, or why not.
pub fn file(path: impl AsRef<Path>) -> Result<PathBuf, String> {
    let path = path.as_ref();
    if path.is_file() {
        Ok(path.to_path_buf())
    } else {
        Err(format!("{} does not exist", path.display()))
    }
}

/// The two ways a test can end without testing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Skipped,
    NotApplicable,
}

impl Kind {
    /// The first field of the summary file's line (scripts/test.sh counts by it).
    fn tag(self) -> &'static str {
        match self {
            Kind::Skipped => "skipped",
            Kind::NotApplicable => "not-applicable",
        }
    }
}

/// Prints `test: detail` on stderr and appends it to the summary file.
fn record(kind: Kind, test: &str, detail: &str) {
    let shown = match kind {
        Kind::Skipped => "SKIPPED",
        Kind::NotApplicable => "NOT APPLICABLE",
    };
    // std::io::stderr() directly, not eprintln!: the test harness captures only the macros,
    // and a skip must show in the output of a passing test. (Not for this crate's own test,
    // whose made-up skips would read as real ones.)
    if !cfg!(test) {
        let _ = writeln!(std::io::stderr(), "{shown} {test}: {detail}");
    }
    let Some(path) = summary_file() else { return };
    let line = format!("{}\t{test}\t{detail}\n", kind.tag());
    // One write of one short line with O_APPEND: concurrent tests do not interleave.
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        let _ = writeln!(std::io::stderr(), "writing {}: {e}", path.display());
    }
}

/// [`SUMMARY_ENV`], else [`SUMMARY_FILE`] in the target directory holding this test binary
/// (the nearest ancestor with cargo's `CACHEDIR.TAG`).
fn summary_file() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(SUMMARY_ENV).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .find(|d| d.join("CACHEDIR.TAG").is_file())
        .map(|d| d.join(SUMMARY_FILE))
}

/// `binary::test`: the test binary's name without cargo's hash, and the test's name, which
/// the test harness gives the thread a test runs on.
fn current_test() -> String {
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.file_stem()?.to_string_lossy().into_owned()))
        .map(|stem| match stem.rsplit_once('-') {
            Some((name, hash))
                if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                name.to_string()
            }
            _ => stem,
        })
        .unwrap_or_else(|| "?".to_string());
    let thread = std::thread::current();
    format!("{binary}::{}", thread.name().unwrap_or("(unnamed thread)"))
}

/// `why` on one line, so that the summary file holds one line per test.
fn one_line(why: &impl Display) -> String {
    why.to_string().replace('\n', " | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test, because it sets process-wide environment variables.
    #[test]
    fn skips_are_recorded_and_fail_only_under_ci() {
        let summary = std::env::temp_dir().join(format!("pier-testkit-{}.txt", std::process::id()));
        let _ = std::fs::remove_file(&summary);
        let (ci, earlier_summary) = (std::env::var_os("CI"), std::env::var_os(SUMMARY_ENV));
        std::env::set_var(SUMMARY_ENV, &summary);
        std::env::remove_var("CI");

        assert_eq!(require("x", Ok::<_, String>(7)), Some(7));
        assert_eq!(require::<(), _>("a frobnicator", Err("not\nthere")), None);
        assert_eq!(
            applies_only_on("cgroup v9", when(false, "this is v1")),
            None
        );
        let lines = std::fs::read_to_string(&summary).unwrap();
        let test = "skips_are_recorded_and_fail_only_under_ci";
        assert!(
            lines.contains(&format!(
                "skipped\tpier_testkit::prereq::tests::{test}\tneeds a frobnicator: not | there\n"
            )),
            "{lines}"
        );
        assert!(
            lines.contains("not-applicable\t") && lines.contains("only on cgroup v9: this is v1"),
            "{lines}"
        );

        std::env::set_var("CI", "true");
        let failed = std::panic::catch_unwind(|| require::<(), _>("sh", Err("gone")));
        assert!(failed.is_err(), "under CI a missing prerequisite fails");
        assert_eq!(applies_only_on("v9", when(false, "v1")), None);
        assert_eq!(
            std::fs::read_to_string(&summary).unwrap().lines().count(),
            3
        );

        for (name, value) in [("CI", ci), (SUMMARY_ENV, earlier_summary)] {
            match value {
                Some(v) => std::env::set_var(name, v),
                None => std::env::remove_var(name),
            }
        }
        std::fs::remove_file(&summary).unwrap();
        assert!(tool("sh").is_ok());
        assert!(tool("no-such-tool-xyz")
            .unwrap_err()
            .contains("not on PATH"));
        assert!(file("/proc/self/status").is_ok());
        assert!(file("/nonexistent").unwrap_err().contains("does not exist"));
    }
}
