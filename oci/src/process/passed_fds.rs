//! The descriptors a container's process is given on purpose beyond its stdio, numbered from
//! 3: systemd's socket activation (`LISTEN_FDS`, passed on to the container as runc does) and
//! `--preserve-fds`. Every other descriptor is closed at the process's `execve`.

use anyhow::{bail, Result};
use oci_spec::runtime::Spec;

/// How many descriptors (from 3) systemd's socket activation gave this process: `LISTEN_FDS`,
/// when `LISTEN_PID` is this process's PID; else 0.
pub(crate) fn listen_fds() -> i32 {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    if !ours {
        return 0;
    }
    std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Tells the container's process about `count` socket-activation descriptors: its
/// environment gets `LISTEN_FDS=count` and `LISTEN_PID=1` (the process is PID 1 of its
/// namespace), replacing any the config had.
pub(crate) fn announce_listen_fds(spec: &mut Spec, count: i32) {
    if let Some(process) = spec.process_mut() {
        let mut env = process.env().clone().unwrap_or_default();
        env.retain(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="));
        env.push(format!("LISTEN_FDS={count}"));
        env.push("LISTEN_PID=1".to_string());
        process.set_env(Some(env));
    }
}

/// Checks that descriptors `first .. first + count` are open (they are passed on).
pub(crate) fn check_open(first: i32, count: i32) -> Result<()> {
    for fd in first..first + count {
        // SAFETY: F_GETFD only queries the descriptor's flags.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            bail!(
                "descriptor {fd} is not open: --preserve-fds and LISTEN_FDS name {count} descriptors from {first}"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_fds_replace_the_configs_and_name_pid_1() {
        let mut spec = Spec::default();
        if let Some(p) = spec.process_mut() {
            p.set_env(Some(vec!["A=1".into(), "LISTEN_FDS=9".into()]));
        }
        announce_listen_fds(&mut spec, 2);
        let env = spec
            .process()
            .as_ref()
            .and_then(|p| p.env().clone())
            .unwrap_or_default();
        assert_eq!(env, ["A=1", "LISTEN_FDS=2", "LISTEN_PID=1"]);
    }

    #[test]
    fn a_closed_descriptor_is_named() {
        assert!(check_open(0, 1).is_ok());
        let err = check_open(1_000_000, 1).unwrap_err();
        assert!(format!("{err:#}").contains("descriptor 1000000 is not open"));
    }
}
