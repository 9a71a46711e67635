//! `pier runtime`: the low level alone, with runc's command line, so that Docker (through
//! containerd), Podman (through conmon) and containerd itself can use pier as their OCI
//! runtime. The same command line answers when the pier binary is called under a name
//! containing `runc` (a `pier-runc` symlink or copy), since those clients take one binary path.
//!
//! Each file holds a group of commands; the work is done by the runtime library's
//! [`pier_oci::container`] module.

pub mod args;
mod exec;
mod lifecycle;
mod log;
mod manage;
mod spec;
mod terminal;

use anyhow::Result;
pub use args::RuntimeArgs;
use args::RuntimeCommand;
use clap::{CommandFactory, FromArgMatches};
use log::Log;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The runtime's state directory when no `--root` is given and no pier root was named (runc's
/// is `/run/runc`): on a tmpfs, like runc's, since a container does not outlive a reboot.
pub const DEFAULT_STATE_ROOT: &str = "/run/pier-runtime";

/// What every command needs.
pub struct Ctx {
    /// The state directory (`--root`). The runtime writes nothing else, outside the cgroups,
    /// the files its client names (`--log`, `--pid-file`) and a pier root named below.
    pub root: PathBuf,
    /// pier's own state root, when one was named (`pier --root P runtime ...`, or
    /// $PIER_ROOT): its event log (`pier events`) then records the low-level lifecycle too.
    /// Under a runc name (`pier-runc`), never: a client such as Docker gives only `--root`.
    pub pier_root: Option<PathBuf>,
    /// The `--log` destination.
    pub log: Log,
    /// `--systemd-cgroup`.
    pub systemd_cgroup: bool,
}

/// pier's root when one is named in the environment ($PIER_ROOT).
fn pier_root_from_env() -> Option<PathBuf> {
    std::env::var_os("PIER_ROOT")
        .filter(|r| !r.is_empty())
        .map(PathBuf::from)
}

/// The runtime's state directory: `--root`, else the named pier root's `runtime/`, else
/// [`DEFAULT_STATE_ROOT`].
fn state_root(given: Option<PathBuf>, pier_root: Option<&Path>) -> PathBuf {
    given.unwrap_or_else(|| match pier_root {
        Some(p) => p.join("runtime"),
        None => PathBuf::from(DEFAULT_STATE_ROOT),
    })
}

/// Whether the binary was called under a runc name (`pier-runc`, `runc`): then its whole
/// command line is runc's.
pub fn invoked_as_runc(arg0: &std::ffi::OsStr) -> bool {
    Path::new(arg0)
        .file_name()
        .is_some_and(|n| n.to_string_lossy().contains("runc"))
}

/// Parses runc's command line (`args[0]` is the program name) and runs it; returns the exit
/// code. `pier_root` is pier's state directory when one was named (`None` under a runc name).
pub fn main(args: Vec<OsString>, pier_root: Option<&Path>) -> i32 {
    // Re-execute from the sealed copy before clap runs, so its start-up is not paid twice
    // (`run` checks again after parsing).
    let (word, given_root) = global_flags(&args);
    if word.is_some_and(|w| matches!(w, "create" | "run" | "exec")) {
        let root = state_root(given_root, pier_root);
        let _ = pier_oci::security::sealed_exe::reexec_sealed_under(&root);
    }
    let name = args
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_else(|| "pier runtime".into());
    let args0 = name.clone();
    let command = RuntimeArgs::command()
        .name("pier runtime")
        .bin_name(name)
        .version(env!("CARGO_PKG_VERSION"))
        .long_version(concat!(
            env!("CARGO_PKG_VERSION"),
            "\nspec: 1.2.0\npier's low-level OCI runtime, runc's command line"
        ));
    let parsed = command
        .try_get_matches_from(args)
        .and_then(|m| RuntimeArgs::from_arg_matches(&m));
    match parsed {
        Ok(a) => run_as(&program_name(&args0), a, pier_root),
        Err(e) => {
            let _ = e.print();
            if e.use_stderr() {
                1
            } else {
                0
            }
        }
    }
}

/// The command word of a runc command line (`args[0]` is the program), the first argument
/// that is not a global flag or a global flag's value, and the global `--root` if given.
fn global_flags(args: &[OsString]) -> (Option<&str>, Option<PathBuf>) {
    let mut root = None;
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        let Some(arg) = arg.to_str() else {
            return (None, root);
        };
        match arg {
            "--root" => root = rest.next().map(PathBuf::from),
            "--log" | "--log-format" | "--rootless" => {
                rest.next();
            }
            _ if arg.starts_with("--root=") => root = Some(PathBuf::from(&arg[7..])),
            _ if arg.starts_with('-') => {}
            word => return (Some(word), root),
        }
    }
    (None, root)
}

/// The arguments after `runtime` when the command line is `pier [--root DIR] runtime ...`,
/// with pier's root when one is named (`--root` before `runtime`, else $PIER_ROOT). The
/// runtime's own `--root` (after `runtime`) is runc's state directory, not pier's root, so
/// these are split off before clap sees them.
pub fn split_command_line(args: &[OsString]) -> Option<(Option<PathBuf>, Vec<OsString>)> {
    let mut root = None;
    let mut i = 1;
    while i < args.len() {
        let a = args[i].to_string_lossy();
        if a == "--root" {
            root = Some(PathBuf::from(args.get(i + 1)?));
            i += 2;
        } else if let Some(r) = a.strip_prefix("--root=") {
            root = Some(PathBuf::from(r));
            i += 1;
        } else if a == "runtime" {
            let root = root.or_else(pier_root_from_env);
            let mut rest = vec![OsString::from("pier runtime")];
            rest.extend(args[i + 1..].iter().cloned());
            return Some((root, rest));
        } else {
            return None;
        }
    }
    None
}

/// The name errors are given under: the file name pier was called by (`pier-runc`), or
/// `pier runtime`.
fn program_name(arg0: &str) -> String {
    if invoked_as_runc(arg0.as_ref()) {
        Path::new(arg0)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| arg0.to_string())
    } else {
        "pier runtime".to_string()
    }
}

/// runc's words before a failed `create`, `run` or `exec` (`runc create failed: ...`,
/// `exec failed: ...`), with `program` for runc's name.
fn failure_prefix(program: &str, cmd: &RuntimeCommand) -> Option<String> {
    match cmd {
        RuntimeCommand::Create(_) => Some(format!("{program} create failed")),
        RuntimeCommand::Run(_) => Some(format!("{program} run failed")),
        RuntimeCommand::Exec(_) => Some("exec failed".to_string()),
        _ => None,
    }
}

/// An error as runc words it: the command's prefix, then, when the container's process could
/// not be started, "unable to start container process". Clients and the people reading their
/// logs look for these phrases (and for the cause's own: "executable file not found in
/// $PATH", "no such file or directory", "permission denied").
fn runc_message(prefix: Option<&str>, e: &anyhow::Error) -> String {
    let mut msg = super::output::one_line(e);
    if matches!(
        e.downcast_ref::<pier_oci::Error>(),
        Some(pier_oci::Error::Start { .. })
    ) {
        msg = format!("unable to start container process: {msg}");
    }
    match prefix {
        Some(p) => format!("{p}: {msg}"),
        None => msg,
    }
}

/// Runs parsed runtime arguments; returns the exit code. Errors go to the log (and to stderr
/// as well when the log is a file), as runc does.
pub fn run(a: RuntimeArgs, pier_root: Option<&Path>) -> i32 {
    run_as("pier runtime", a, pier_root)
}

/// [`run`] under the program name `program` (for runc's error prefixes).
fn run_as(program: &str, a: RuntimeArgs, pier_root: Option<&Path>) -> i32 {
    let root = state_root(a.root.clone(), pier_root);
    if enters_containers(&a.command) {
        if let Err(e) = pier_oci::security::sealed_exe::reexec_sealed_under(&root) {
            eprintln!("pier: {}", super::output::one_line(&e));
            return 1;
        }
    }
    let log = match Log::open(a.log.as_deref(), a.log_format, a.debug) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("pier: {e:#}");
            return 1;
        }
    };
    let ctx = Ctx {
        root,
        pier_root: pier_root.map(Path::to_path_buf),
        log,
        systemd_cgroup: a.systemd_cgroup,
    };
    let prefix = failure_prefix(program, &a.command);
    match dispatch(&ctx, a.command) {
        Ok(code) => code,
        Err(e) => {
            // runc's code for its own errors is 1.
            let code = super::output::exit_code(&e, 1);
            let msg = runc_message(prefix.as_deref(), &e);
            ctx.log.error(&msg);
            if ctx.log.to_file() {
                eprintln!("pier: {msg}");
            }
            code
        }
    }
}

/// Whether the command puts a pier process into a container (a container's init, an exec'd
/// process): those run from a sealed copy of pier (see
/// `pier_oci::security::sealed_exe`). No wildcard: a new command must choose.
pub fn enters_containers(cmd: &RuntimeCommand) -> bool {
    use RuntimeCommand as C;
    match cmd {
        C::Create(_) | C::Run(_) | C::Exec(_) => true,
        // `start` only lets the waiting init go on.
        C::Start(_)
        | C::State(_)
        | C::Kill(_)
        | C::Delete(_)
        | C::Ps(_)
        | C::List(_)
        | C::Pause(_)
        | C::Resume(_)
        | C::Update(_)
        | C::Events(_)
        | C::Features
        | C::Spec(_)
        | C::InstallLink(_) => false,
    }
}

fn dispatch(ctx: &Ctx, cmd: RuntimeCommand) -> Result<i32> {
    use RuntimeCommand as C;
    let needs_root = !matches!(cmd, C::Features | C::Spec(_) | C::InstallLink(_));
    if needs_root && !nix::unistd::geteuid().is_root() {
        anyhow::bail!("pier runtime needs root privileges");
    }
    match cmd {
        C::Create(a) => lifecycle::create(ctx, &a.bundle),
        C::Start(a) => lifecycle::start(ctx, &a.id),
        C::Run(a) => lifecycle::run(ctx, &a),
        C::State(a) => lifecycle::state(ctx, &a.id),
        C::Kill(a) => lifecycle::kill(ctx, &a),
        C::Delete(a) => lifecycle::delete(ctx, &a),
        C::List(a) => lifecycle::list(ctx, &a),
        C::Exec(a) => exec::exec(ctx, &a),
        C::Ps(a) => manage::ps(ctx, &a),
        C::Pause(a) => manage::pause(ctx, &a.id),
        C::Resume(a) => manage::resume(ctx, &a.id),
        C::Update(a) => manage::update(ctx, &a),
        C::Events(a) => manage::events(ctx, &a),
        C::Features => spec::features(),
        C::Spec(a) => spec::spec(&a),
        C::InstallLink(a) => spec::install_link(&a.path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn pier_root_and_runtime_flags_are_told_apart() {
        let (root, rest) = split_command_line(&os(&[
            "pier", "--root", "/p", "runtime", "--root", "/r", "list",
        ]))
        .unwrap();
        assert_eq!(root, Some(PathBuf::from("/p")));
        assert_eq!(rest, os(&["pier runtime", "--root", "/r", "list"]));
        let (root, _) = split_command_line(&os(&["pier", "--root=/q", "runtime"])).unwrap();
        assert_eq!(root, Some(PathBuf::from("/q")));
        assert!(split_command_line(&os(&["pier", "run", "runtime"])).is_none());
        assert!(split_command_line(&os(&["pier", "--root", "/p", "ps"])).is_none());
    }

    fn command_word(args: &[OsString]) -> Option<&str> {
        global_flags(args).0
    }

    #[test]
    fn the_command_word_skips_the_global_flags() {
        assert_eq!(
            command_word(&os(&[
                "runc", "--root", "/r", "--log=/l", "--debug", "create", "x"
            ])),
            Some("create")
        );
        assert_eq!(
            command_word(&os(&["runc", "--log-format", "json", "exec", "x"])),
            Some("exec")
        );
        assert_eq!(command_word(&os(&["runc", "--root", "/r"])), None);
        assert_eq!(
            global_flags(&os(&["runc", "--root=/r", "state", "x"])),
            (Some("state"), Some(PathBuf::from("/r")))
        );
        // No root named anywhere: runc's rule, a directory of the runtime's own under /run.
        assert_eq!(state_root(None, None), PathBuf::from(DEFAULT_STATE_ROOT));
        assert_eq!(
            state_root(None, Some(Path::new("/p"))),
            PathBuf::from("/p/runtime")
        );
    }

    #[test]
    fn errors_carry_runcs_phrases() {
        let start: anyhow::Error = pier_oci::Error::Start {
            code: 127,
            message: "exec: \"nope\": executable file not found in $PATH".into(),
        }
        .into();
        assert_eq!(
            runc_message(Some("pier-runc create failed"), &start),
            "pier-runc create failed: unable to start container process: exec: \"nope\": executable file not found in $PATH"
        );
        let other = anyhow::anyhow!("no such bundle");
        assert_eq!(
            runc_message(Some("exec failed"), &other),
            "exec failed: no such bundle"
        );
        assert_eq!(program_name("/usr/local/bin/pier-runc"), "pier-runc");
        assert_eq!(program_name("pier runtime"), "pier runtime");
    }

    #[test]
    fn runc_names_select_the_runtime_command_line() {
        assert!(invoked_as_runc("/usr/local/bin/pier-runc".as_ref()));
        assert!(invoked_as_runc("runc".as_ref()));
        assert!(!invoked_as_runc("/usr/bin/pier".as_ref()));
    }

    #[test]
    fn runc_command_lines_parse() {
        let parse = |v: &[&str]| {
            RuntimeArgs::command()
                .try_get_matches_from(os(v))
                .and_then(|m| RuntimeArgs::from_arg_matches(&m))
        };
        // containerd's shim (go-runc).
        let a = parse(&[
            "runc",
            "--root",
            "/run/containerd/runc/default",
            "--log",
            "/x/log.json",
            "--log-format",
            "json",
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/b/init.pid",
            "c1",
        ])
        .unwrap();
        assert!(matches!(a.command, RuntimeCommand::Create(ref c) if c.bundle.id == "c1"));
        // Flags after the ID, kill with a signal number, exec's command with its own flags.
        assert!(parse(&["runc", "create", "c1", "--bundle", "/b"]).is_ok());
        let k = parse(&["runc", "kill", "--all", "c1", "9"]).unwrap();
        assert!(matches!(k.command, RuntimeCommand::Kill(ref k) if k.all && k.signal == "9"));
        let e = parse(&["runc", "exec", "-t", "c1", "ls", "-l", "/"]).unwrap();
        assert!(
            matches!(e.command, RuntimeCommand::Exec(ref e) if e.tty && e.args == ["ls", "-l", "/"])
        );
        let u = parse(&["runc", "update", "--resources=-", "c1"]).unwrap();
        assert!(matches!(u.command, RuntimeCommand::Update(ref u) if u.resources.is_some()));
        assert!(parse(&["runc", "--systemd-cgroup", "delete", "--force", "c1"]).is_ok());
        assert!(parse(&["runc", "ps", "--format", "json", "c1"]).is_ok());
        assert!(parse(&["runc", "events", "--stats", "c1"]).is_ok());
    }
}
