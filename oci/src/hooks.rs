//! OCI hooks: programs the config asks to run at points of the container's life, each given
//! the container's state (JSON) on its stdin.
//!
//! | hook              | run by                    | namespaces | when                                  |
//! |-------------------|---------------------------|------------|---------------------------------------|
//! | `prestart`        | `create` (the parent)     | runtime    | namespaces made, before `pivot_root`  |
//! | `createRuntime`   | `create` (the parent)     | runtime    | right after `prestart`                |
//! | `createContainer` | the container's init      | container  | mounts made, before `pivot_root`      |
//! | `startContainer`  | the container's init      | container  | after `start`, before the command     |
//! | `poststart`       | `start`                   | runtime    | the command has been started          |
//! | `poststop`        | `delete`                  | runtime    | the container has been removed        |
//!
//! A failing hook of the first four fails the operation (and the container is removed); a
//! failing `poststart` or `poststop` hook is reported but does not undo what happened, as the
//! specification asks. Docker's network setup (`libnetwork-setkey`) is a `prestart` hook.

use crate::state::OciState;
use anyhow::{bail, Context, Result};
use nix::sys::signal::{signal, SigHandler, Signal};
use oci_spec::runtime::{Hook, Hooks, Spec};
use std::io::{Read, Seek, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The six points of the container's life where hooks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HookPoint {
    /// Deprecated predecessor of `createRuntime`.
    Prestart,
    /// Runtime namespace, before `pivot_root`.
    CreateRuntime,
    /// Container namespace, before `pivot_root`.
    CreateContainer,
    /// Container namespace, just before the command.
    StartContainer,
    /// Runtime namespace, after the command started.
    Poststart,
    /// Runtime namespace, after the container was deleted.
    Poststop,
}

impl HookPoint {
    /// The field name in config.json.
    pub(crate) fn name(self) -> &'static str {
        match self {
            HookPoint::Prestart => "prestart",
            HookPoint::CreateRuntime => "createRuntime",
            HookPoint::CreateContainer => "createContainer",
            HookPoint::StartContainer => "startContainer",
            HookPoint::Poststart => "poststart",
            HookPoint::Poststop => "poststop",
        }
    }

    /// Every hook name, in lifecycle order (`features` lists them).
    pub(crate) const ALL: [HookPoint; 6] = [
        HookPoint::Prestart,
        HookPoint::CreateRuntime,
        HookPoint::CreateContainer,
        HookPoint::StartContainer,
        HookPoint::Poststart,
        HookPoint::Poststop,
    ];

    /// This point's hooks in `hooks`.
    #[allow(deprecated)] // prestart is deprecated in the specification, still honoured
    pub(crate) fn of(self, hooks: &Hooks) -> &[Hook] {
        let list = match self {
            HookPoint::Prestart => hooks.prestart(),
            HookPoint::CreateRuntime => hooks.create_runtime(),
            HookPoint::CreateContainer => hooks.create_container(),
            HookPoint::StartContainer => hooks.start_container(),
            HookPoint::Poststart => hooks.poststart(),
            HookPoint::Poststop => hooks.poststop(),
        };
        list.as_deref().unwrap_or_default()
    }
}

/// The hooks of `point` in `hooks` (none when the config has no hooks).
pub(crate) fn at(hooks: Option<&Hooks>, point: HookPoint) -> &[Hook] {
    hooks.map(|h| point.of(h)).unwrap_or_default()
}

/// Whether the child runs hooks itself (createContainer, startContainer) and so needs the
/// state document, which holds its host PID it cannot see from inside its PID namespace.
pub(crate) fn needs_state(spec: &Spec) -> bool {
    let hooks = spec.hooks().as_ref();
    !at(hooks, HookPoint::CreateContainer).is_empty()
        || !at(hooks, HookPoint::StartContainer).is_empty()
}

/// Whether the child must stop before `pivot_root` for the runtime-namespace hooks.
pub(crate) fn needs_runtime_hooks(spec: &Spec) -> bool {
    let hooks = spec.hooks().as_ref();
    !at(hooks, HookPoint::Prestart).is_empty() || !at(hooks, HookPoint::CreateRuntime).is_empty()
}

/// Runs `point`'s hooks one after the other with `state` on stdin; stops at the first that
/// fails, exits non-zero or outlives its timeout (then it is killed). A hook without `env`
/// inherits the runtime's environment, as runc's hooks do (an empty `env` is an empty one).
pub(crate) fn run(hooks: Option<&Hooks>, point: HookPoint, state: &OciState) -> Result<()> {
    run_with(hooks, point, state, None)
}

/// [`run`] for the `startContainer` hooks, which run in the container just before its
/// command: a hook without `env` gets the command's environment (`process.env`), as under
/// runc, whose init has taken that environment by then.
pub(crate) fn run_in_process_env(
    hooks: Option<&Hooks>,
    point: HookPoint,
    state: &OciState,
    process_env: &[String],
) -> Result<()> {
    run_with(hooks, point, state, Some(process_env))
}

fn run_with(
    hooks: Option<&Hooks>,
    point: HookPoint,
    state: &OciState,
    default_env: Option<&[String]>,
) -> Result<()> {
    let list = at(hooks, point);
    if list.is_empty() {
        return Ok(());
    }
    let input = serde_json::to_vec(state).context("serializing the state for hooks")?;
    for (n, hook) in list.iter().enumerate() {
        run_one(hook, &input, default_env)
            .with_context(|| format!("{} hook #{n} ({})", point.name(), hook.path().display()))?;
    }
    Ok(())
}

/// Runs one hook. Its stdout and stderr are kept (in a memory file, so a chatty hook cannot
/// block on a full pipe) and quoted when it fails.
fn run_one(hook: &Hook, input: &[u8], default_env: Option<&[String]>) -> Result<()> {
    if !hook.path().is_absolute() {
        bail!("path {} is not absolute", hook.path().display());
    }
    if let Some(t) = hook.timeout().filter(|&t| t <= 0) {
        bail!("timeout {t} must be greater than zero");
    }
    let output = output_file()?;
    let mut cmd = Command::new(hook.path());
    let args = hook.args().as_deref().unwrap_or_default();
    if let Some((arg0, rest)) = args.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    if let Some(env) = hook.env().as_deref().or(default_env) {
        cmd.env_clear();
        for pair in env {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(
            output
                .try_clone()
                .context("dup of the hook's output file")?,
        )
        .stderr(
            output
                .try_clone()
                .context("dup of the hook's output file")?,
        );
    let mut child = cmd.spawn().context("starting it")?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin may exit first: EPIPE is not its failure, and
        // SIGPIPE (pier restores its default disposition) must not kill pier meanwhile.
        // SAFETY: SIG_IGN installs no handler; the previous disposition is restored below.
        let old = unsafe { signal(Signal::SIGPIPE, SigHandler::SigIgn) };
        let written = stdin.write_all(input);
        if let Ok(old) = old {
            // SAFETY: restores the disposition in place before the write.
            let _ = unsafe { signal(Signal::SIGPIPE, old) };
        }
        match written {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(e) => return Err(e).context("writing the state to its stdin"),
        }
    }
    let deadline = hook
        .timeout()
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    let status = loop {
        if let Some(status) = child.try_wait().context("waiting for it")? {
            break status;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "timed out after {} s{}",
                hook.timeout().unwrap_or_default(),
                quoted(output)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    if !status.success() {
        bail!("failed ({status}){}", quoted(output));
    }
    Ok(())
}

/// An anonymous file in memory for the hook's output (works after `pivot_root` too, where
/// the container's /tmp may be missing or read-only).
fn output_file() -> Result<std::fs::File> {
    let fd =
        nix::sys::memfd::memfd_create("pier-hook-output", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
            .context("memfd_create for the hook's output")?;
    Ok(std::fs::File::from(fd))
}

/// ": <output>" with the hook's output (bounded), or nothing when it printed nothing.
fn quoted(mut file: std::fs::File) -> String {
    let mut text = String::new();
    let _ = file.rewind();
    let _ = file.take(4096).read_to_string(&mut text);
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {}", text.replace('\n', " "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{HookBuilder, HooksBuilder};
    use std::collections::HashMap;

    fn state() -> OciState {
        OciState {
            oci_version: "1.2.0".into(),
            id: "hooktest".into(),
            status: crate::state::Status::Creating,
            pid: Some(1234),
            bundle: "/tmp/bundle".into(),
            annotations: HashMap::new(),
        }
    }

    fn sh(script: &str, timeout: Option<i64>) -> Hook {
        let mut b = HookBuilder::default()
            .path("/bin/sh")
            .args(vec!["sh".to_string(), "-c".into(), script.into()])
            .env(vec!["GREETING=hi".to_string()]);
        if let Some(t) = timeout {
            b = b.timeout(t);
        }
        b.build().unwrap()
    }

    #[test]
    fn a_hook_reads_the_state_and_its_environment() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("seen");
        let hook = sh(
            &format!("cat > {} && echo $GREETING >> {0}", out.display()),
            None,
        );
        let hooks = HooksBuilder::default()
            .create_runtime(vec![hook])
            .build()
            .unwrap();
        run(Some(&hooks), HookPoint::CreateRuntime, &state()).unwrap();
        let seen = std::fs::read_to_string(&out).unwrap();
        let (json, env) = seen.rsplit_once('}').unwrap();
        let v: serde_json::Value = serde_json::from_str(&format!("{json}}}")).unwrap();
        assert_eq!(v["id"], "hooktest");
        assert_eq!(v["pid"], 1234);
        assert_eq!(v["status"], "creating");
        assert_eq!(env.trim(), "hi");
        // Other points' hooks did not run.
        run(Some(&hooks), HookPoint::Poststop, &state()).unwrap();
    }

    #[test]
    fn a_hook_without_env_inherits_and_in_the_container_gets_the_process_env() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("env");
        let bare = HookBuilder::default()
            .path("/bin/sh")
            .args(vec![
                "sh".to_string(),
                "-c".into(),
                format!(
                    "cat >/dev/null; echo \"$PATH|$ONLY_IN_PROCESS\" > {}",
                    out.display()
                ),
            ])
            .build()
            .unwrap();
        let hooks = HooksBuilder::default()
            .poststart(vec![bare.clone()])
            .start_container(vec![bare])
            .build()
            .unwrap();
        // The runtime's own environment (this test's PATH).
        run(Some(&hooks), HookPoint::Poststart, &state()).unwrap();
        let path = std::env::var("PATH").unwrap_or_default();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap().trim(),
            format!("{path}|")
        );
        let env = [
            "PATH=/in/container".to_string(),
            "ONLY_IN_PROCESS=yes".into(),
        ];
        run_in_process_env(Some(&hooks), HookPoint::StartContainer, &state(), &env).unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap().trim(),
            "/in/container|yes"
        );
    }

    #[test]
    fn a_failing_hook_is_an_error_quoting_its_output() {
        let hooks = HooksBuilder::default()
            .poststart(vec![sh("echo broken >&2; exit 3", None)])
            .build()
            .unwrap();
        let err = run(Some(&hooks), HookPoint::Poststart, &state()).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("poststart hook #0"), "{msg}");
        assert!(msg.contains("broken"), "{msg}");
    }

    #[test]
    fn a_hook_that_does_not_read_its_stdin_is_no_failure() {
        // Under SIGPIPE's default disposition (pier's), as in the pier binary.
        // SAFETY: SIG_DFL installs no handler.
        let old = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) }.unwrap();
        let mut big = state();
        big.annotations
            .insert("padding".into(), "x".repeat(1 << 20));
        let hooks = HooksBuilder::default()
            .prestart(vec![sh("exit 0", None)])
            .build()
            .unwrap();
        let result = run(Some(&hooks), HookPoint::Prestart, &big);
        // SAFETY: restores the test harness's disposition.
        let _ = unsafe { signal(Signal::SIGPIPE, old) };
        result.unwrap();
    }

    #[test]
    fn a_hook_past_its_timeout_is_killed() {
        let hooks = HooksBuilder::default()
            .poststop(vec![sh("exec sleep 30", Some(1))])
            .build()
            .unwrap();
        let t = Instant::now();
        let err = run(Some(&hooks), HookPoint::Poststop, &state()).unwrap_err();
        assert!(format!("{err:#}").contains("timed out"), "{err:#}");
        assert!(t.elapsed() < Duration::from_secs(10));
    }
}
