//! Which commands run from a sealed copy of pier (`pier_oci::security::sealed_exe`): those
//! that put a pier process into a container's namespaces (a container's init, `pier exec`'s
//! process, a build's RUN step).
//!
//! Twice: [`before_parsing`] guesses from the raw arguments and re-executes before clap has
//! done anything (the first process's clap start-up is then not paid twice; about a third of
//! what sealing costs), [`after_parsing`] decides for sure from the parsed command. A wrong
//! guess only costs time: the second check still seals what must be.

use super::{compose, container, system, Cli, Command};
use pier_oci::security::sealed_exe;
use std::ffi::OsString;
use std::path::PathBuf;

/// The commands that enter containers, as their words on the command line (for the guess).
const SEALED: &[&[&str]] = &[
    &["run"],
    &["start"],
    &["restart"],
    &["exec"],
    &["build"],
    &["container", "restart"],
    &["compose"],
    &["system", "service"],
];

/// Re-executes from a sealed copy when the raw arguments name a command of [`SEALED`].
/// Errors are left to [`after_parsing`], which tries again and reports them.
pub fn before_parsing() {
    if let Some(root) = guess(std::env::args_os().skip(1)) {
        let _ = sealed_exe::reexec_sealed(&root);
    }
}

/// Makes sure a command that enters containers runs from a sealed copy (re-executing if the
/// guess missed it).
pub fn after_parsing(cli: &Cli) -> anyhow::Result<()> {
    if enters_containers(&cli.command) {
        sealed_exe::reexec_sealed(&cli.root)?;
    }
    Ok(())
}

/// The state root if `args` (without the program name) start with a command of [`SEALED`]:
/// `--root DIR` or `--root=DIR` may come first, any other option ends the guess.
fn guess(args: impl IntoIterator<Item = OsString>) -> Option<PathBuf> {
    let mut root = None;
    let mut words = Vec::new();
    let mut args = args.into_iter();
    while words.len() < 2 {
        let Some(arg) = args.next() else { break };
        let arg = arg.to_str()?.to_string();
        if arg == "--root" {
            root = Some(PathBuf::from(args.next()?));
        } else if let Some(dir) = arg.strip_prefix("--root=") {
            root = Some(PathBuf::from(dir));
        } else if arg.starts_with('-') {
            break;
        } else {
            words.push(arg);
        }
    }
    let sealed = SEALED
        .iter()
        .any(|cmd| cmd.len() <= words.len() && cmd.iter().zip(&words).all(|(a, b)| a == b));
    sealed.then(|| {
        root.or_else(|| std::env::var_os("PIER_ROOT").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(pier_engine::container::DEFAULT_ROOT))
    })
}

/// Whether the command puts a pier process into a container's namespaces. No wildcard: a new
/// command must choose (and, if it enters containers, join [`SEALED`]).
fn enters_containers(command: &Command) -> bool {
    match command {
        Command::Run(_)
        | Command::Start(_)
        | Command::Restart(_)
        | Command::Exec(_)
        | Command::Build(_) => true,
        Command::Container(cmd) => container::enters_containers(cmd),
        Command::Compose(a) => compose::enters_containers(a),
        // The API service starts containers (through its launcher, a fork of itself).
        Command::System(system::SystemCommand::Service(_)) => true,
        // runc's command line is dispatched before clap and seals itself (runtime::main).
        Command::Runtime(_) => false,
        // A client of containerd's socket: the runtime under containerd (pier-runc, sealed
        // as above) is what enters the pods' containers.
        Command::Cri(_) => false,
        // `create` only records the container; `start` makes its process.
        Command::Create(_)
        | Command::Stop(_)
        | Command::Kill(_)
        | Command::Pause(_)
        | Command::Unpause(_)
        | Command::Update(_)
        | Command::Rm(_)
        | Command::Ps(_)
        | Command::Logs(_)
        | Command::Inspect(_)
        | Command::Wait(_)
        | Command::Top(_)
        | Command::Stats(_)
        | Command::Port(_)
        | Command::Network(_)
        | Command::Images(_)
        | Command::History(_)
        | Command::Builder(_)
        | Command::Import(_)
        | Command::Rmi(_)
        | Command::Tag(_)
        | Command::Save(_)
        | Command::Load(_)
        | Command::Export(_)
        | Command::Push(_)
        | Command::Pull(_)
        | Command::Login(_)
        | Command::Logout(_)
        | Command::Image(_)
        | Command::System(_)
        | Command::Events(_)
        | Command::Rename(_)
        | Command::Attach(_)
        | Command::Commit(_)
        | Command::Cp(_)
        | Command::Diff(_)
        | Command::Volume(_)
        | Command::Docs(_) => false,
        // These start containers only through `pier` subprocesses, which seal themselves.
        Command::Bench(_) | Command::Lab(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn words(line: &str) -> Vec<OsString> {
        line.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn the_guess_and_the_parsed_command_agree() {
        // Each line: a command line, and whether it enters containers.
        let lines = [
            ("run busybox true", true),
            ("--root /r run -d busybox true", true),
            ("--root=/r start c", true),
            ("exec c true", true),
            ("build .", true),
            ("restart c", true),
            ("container restart c", true),
            ("container ls", false),
            ("events", false),
            ("volume ls", false),
            ("rename a b", false),
            ("attach c", false),
            ("commit c img", false),
            ("container attach c", false),
            ("container commit c", false),
            ("create busybox", false),
            ("ps -a", false),
            ("rm -f c", false),
            ("system prune", false),
            ("system service", true),
            ("--root /r system service --socket /s", true),
            ("image ls", false),
        ];
        for (line, enters) in lines {
            let cli = Cli::try_parse_from(std::iter::once("pier".into()).chain(words(line)))
                .unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(enters_containers(&cli.command), enters, "{line}");
            assert_eq!(guess(words(line)).is_some(), enters, "guess for {line}");
        }
    }

    #[test]
    fn the_guess_finds_the_root() {
        assert_eq!(guess(words("--root /r run x")), Some(PathBuf::from("/r")));
        assert_eq!(
            guess(words("--root=/s exec c true")),
            Some(PathBuf::from("/s"))
        );
        // An option it does not know: no guess (the parsed command decides).
        assert_eq!(guess(words("--verbose run x")), None);
    }
}
