//! `pier run` basics: PID 1, hostname, /etc files, environment, user, working directory,
//! entrypoint, stdin, `--init`, exit codes.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{text, Pier};
use std::time::{Duration, Instant};

#[test]
fn command_runs_as_pid_1_and_output_passes_through() {
    let p = Pier::new();
    let out = p.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo $$; echo to-stderr >&2",
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "1\n");
    assert!(
        text(&out.stderr).contains("to-stderr"),
        "stderr: {}",
        text(&out.stderr)
    );
}

#[test]
fn host_processes_are_not_visible() {
    let p = Pier::new();
    let out = p.ok(&["run", "--rm", "busybox", "ps", "-o", "pid,comm"]);
    let pids: Vec<&str> = out
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    // Only the container's own processes: ps itself (PID 1), nothing of the host (no PID 1 of
    // the host's init beside it, no test runner).
    assert_eq!(pids, ["1"], "ps in the container shows: {out}");
    let count = p.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "ls -d /proc/[0-9]* | wc -l",
    ]);
    let n: usize = count.trim().parse().expect("a number");
    assert!(n <= 3, "the container sees {n} processes in /proc");
}

#[test]
fn default_hostname_is_the_short_id() {
    let p = Pier::new();
    let id = p.run_detached(&["busybox", "sleep", "1000"]);
    let short = &id[..12];
    assert_eq!(p.ok(&["exec", &id, "hostname"]), short);
    assert_eq!(p.ok(&["exec", &id, "cat", "/etc/hostname"]), short);
    let hosts = p.ok(&["exec", &id, "cat", "/etc/hosts"]);
    assert!(hosts.contains("localhost"), "/etc/hosts: {hosts}");
    assert!(
        hosts.contains(short),
        "/etc/hosts should name the container: {hosts}"
    );
    // The host's hostname is not changed.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("host hostname");
    assert_ne!(host.trim(), short);
}

#[test]
fn hostname_flag_sets_the_hostname_and_etc_files() {
    let p = Pier::new();
    let before = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("host hostname");
    let out = p.ok(&[
        "run",
        "--rm",
        "--hostname",
        "boxy",
        "busybox",
        "sh",
        "-c",
        "hostname; cat /etc/hostname; grep -c boxy /etc/hosts; echo $HOSTNAME",
    ]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["boxy", "boxy", "1", "boxy"]
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").expect("host hostname"),
        before,
        "host hostname changed"
    );
}

#[test]
fn image_env_plus_flags_and_env_file() {
    let p = Pier::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let env_file = dir.path().join("env");
    std::fs::write(
        &env_file,
        "# a comment\nFROM_FILE=yes\nOVERRIDE=file\n\nSPACED=two words\n",
    )
    .expect("write env file");
    let out = p.ok(&[
        "run",
        "--rm",
        "--env-file",
        env_file.to_str().unwrap(),
        "-e",
        "OVERRIDE=flag",
        "-e",
        "X=1",
        "busybox",
        "env",
    ]);
    let env: Vec<&str> = out.lines().collect();
    for want in [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "FROM_FILE=yes",
        "OVERRIDE=flag",
        "SPACED=two words",
        "X=1",
        "HOME=/root",
    ] {
        assert!(
            env.contains(&want),
            "{want} missing from the container's env: {env:?}"
        );
    }
    assert!(
        !env.contains(&"OVERRIDE=file"),
        "-e must override --env-file: {env:?}"
    );
}

#[test]
fn env_passthrough_from_pier_environment() {
    let p = Pier::new();
    let mut cmd = p.command(&[
        "run",
        "--rm",
        "-e",
        "PASSED",
        "busybox",
        "sh",
        "-c",
        "echo $PASSED",
    ]);
    let out = common::run_with_timeout(
        cmd.env("PASSED", "from-host"),
        None,
        common::COMMAND_TIMEOUT,
    )
    .expect("pier run");
    assert_eq!(
        text(&out.stdout).trim(),
        "from-host",
        "stderr: {}",
        text(&out.stderr)
    );
}

#[test]
fn workdir_is_created_and_used() {
    let p = Pier::new();
    assert_eq!(
        p.ok(&["run", "--rm", "-w", "/srv/app", "busybox", "pwd"]),
        "/srv/app"
    );
}

#[test]
fn user_uid_gid() {
    let p = Pier::new();
    let out = p.ok(&[
        "run",
        "--rm",
        "-u",
        "1000:1000",
        "busybox",
        "sh",
        "-c",
        "id -u; id -g; touch /root/x 2>/dev/null && echo wrote || echo denied",
    ]);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["1000", "1000", "denied"]);
    assert_eq!(
        p.ok(&["run", "--rm", "-u", "65534", "busybox", "id", "-u"]),
        "65534"
    );
}

/// Imports busybox's files as image `name`, with `/etc/passwd` replaced by a symlink to
/// `target` (an absolute or relative link, as the image's author wrote it).
fn import_with_passwd_link(p: &Pier, work: &std::path::Path, name: &str, target: &str) {
    let root = work.join(name);
    common::copy_busybox_rootfs(p, &root);
    std::fs::write(
        root.join("etc/passwd.real"),
        "root:x:0:0:root:/root:/bin/sh\nimgusr:x:4343:4343::/:/bin/sh\n",
    )
    .expect("write passwd.real");
    std::fs::remove_file(root.join("etc/passwd")).expect("rm passwd");
    std::os::unix::fs::symlink(target, root.join("etc/passwd")).expect("symlink");
    let tar = work.join(format!("{name}.tar"));
    let st = std::process::Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .expect("tar");
    assert!(st.success());
    p.ok(&["import", tar.to_str().expect("utf-8 path"), name]);
}

#[test]
fn user_lookup_does_not_follow_image_symlinks_to_the_host() {
    let p = Pier::new();
    let work = tempfile::tempdir().expect("temp dir");
    // A passwd-like file of the host's, outside any rootfs, naming a user the image lacks.
    let host_file = work.path().join("host-shadow");
    std::fs::write(&host_file, "hostonly:x:4242:4242::/:/bin/sh\n").expect("write");
    let host_target = host_file.to_str().expect("utf-8 path");
    import_with_passwd_link(&p, work.path(), "evil", host_target);
    let out = p.run(&["run", "--rm", "-u", "hostonly", "evil", "id", "-u"]);
    assert_ne!(
        out.status.code(),
        Some(0),
        "pier read the host's file through the image's /etc/passwd link: {}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("unable to find user hostonly"),
        "stderr: {}",
        text(&out.stderr)
    );
    // The same through `pier exec` in a running container (/proc/<pid>/root).
    let id = p.run_detached(&["evil", "sleep", "3600"]);
    let out = p.run(&["exec", "-u", "hostonly", &id, "id", "-u"]);
    assert_ne!(
        out.status.code(),
        Some(0),
        "exec read the host's file: {}",
        text(&out.stdout)
    );
    p.ok(&["rm", "-f", &id]);
    // Links that stay inside the image still work, absolute or relative.
    import_with_passwd_link(&p, work.path(), "abs", "/etc/passwd.real");
    import_with_passwd_link(&p, work.path(), "rel", "../etc/./passwd.real");
    for image in ["abs", "rel"] {
        assert_eq!(
            p.ok(&["run", "--rm", "-u", "imgusr", image, "id", "-u"]),
            "4343",
            "{image}"
        );
    }
}

#[test]
fn entrypoint_replaces_the_command() {
    let p = Pier::new();
    assert_eq!(
        p.ok(&["run", "--rm", "--entrypoint", "echo", "busybox", "a", "b"]),
        "a b"
    );
    // The image's default command (sh) reads stdin: with -i it runs a script.
    let out = p.run_with_input(
        &["run", "--rm", "-i", "busybox"],
        Some(b"echo from-default-cmd\n"),
    );
    assert_eq!(
        text(&out.stdout).trim(),
        "from-default-cmd",
        "stderr: {}",
        text(&out.stderr)
    );
}

#[test]
fn stdin_is_piped_with_i() {
    let p = Pier::new();
    let input: Vec<u8> = (0..2000)
        .map(|i| format!("line {i}\n"))
        .collect::<String>()
        .into_bytes();
    let out = p.run_with_input(&["run", "-i", "--rm", "busybox", "cat"], Some(&input));
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(out.stdout, input, "cat should echo stdin exactly");
    // Without -i the container's stdin is empty.
    let out = p.run_with_input(&["run", "--rm", "busybox", "cat"], Some(b"not read\n"));
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stdout.is_empty(),
        "without -i stdin must not reach the container: {}",
        text(&out.stdout)
    );
}

#[test]
fn exit_codes_pass_through() {
    let p = Pier::new();
    let code = |args: &[&str]| p.run(args).status.code();
    assert_eq!(
        code(&["run", "--rm", "busybox", "sh", "-c", "exit 3"]),
        Some(3)
    );
    assert_eq!(code(&["run", "--rm", "busybox", "true"]), Some(0));
    assert_eq!(code(&["run", "--rm", "busybox", "false"]), Some(1));
    // A process killed by a signal: 128 + N. (With --init the shell is not PID 1, which the
    // kernel shields from signals it has no handler for.)
    assert_eq!(
        code(&["run", "--rm", "--init", "busybox", "sh", "-c", "kill -9 $$"]),
        Some(137)
    );
    assert_eq!(
        code(&[
            "run",
            "--rm",
            "--init",
            "busybox",
            "sh",
            "-c",
            "kill -TERM $$"
        ]),
        Some(143)
    );
}

#[test]
fn pid_1_killed_from_outside_reports_137() {
    let p = Pier::new();
    let id = p.run_detached(&["busybox", "sleep", "1000"]);
    p.ok(&["kill", &id]);
    assert_eq!(p.ok(&["wait", &id]), "137");
    assert_eq!(p.inspect(&id)["exit_code"], 137);
}

#[test]
fn init_reaps_zombies() {
    let p = Pier::new();
    // The subshell's `sleep 0.1` is orphaned and reparented to PID 1. As PID 1, `sleep 1000`
    // never waits, so the orphan stays a zombie; with --init, pier's init (PID 1) reaps it.
    let script = "(sleep 0.1 &); exec sleep 1000";
    let zombies = |id: &str| {
        p.ok(&["exec", id, "ps", "-o", "stat,comm"])
            .lines()
            .filter(|l| l.trim_start().starts_with('Z'))
            .count()
    };
    let without = p.run_detached(&["busybox", "sh", "-c", script]);
    let with = p.run_detached(&["--init", "busybox", "sh", "-c", script]);
    common::wait_for(
        Duration::from_secs(5),
        || zombies(&without) > 0,
        "the orphan to become a zombie without --init",
    );
    // By now the orphan under --init has exited too; the reaper gets a moment (stretched
    // under emulation) to reap it.
    common::wait_for(
        Duration::from_millis(300),
        || zombies(&with) == 0,
        "--init to reap the orphaned sleep",
    );
    assert_ne!(
        p.ok(&["run", "--rm", "--init", "busybox", "sh", "-c", "echo $$"]),
        "1",
        "with --init the command is not PID 1"
    );
}

#[test]
fn init_returns_when_the_command_exits_at_once() {
    let p = Pier::new();
    // A command that exits before the reaper is ready must not be missed: its SIGCHLD once
    // arrived before the reaper blocked signals, was discarded, and `pier run` hung beside a
    // zombie. The race needs many tries to show; each run must still end with the status.
    for i in 0..20 {
        let out = p.run(&["run", "--rm", "--init", "busybox", "sh", "-c", "exit 3"]);
        assert_eq!(
            out.status.code(),
            Some(3),
            "run {i}: {}",
            common::text(&out.stderr)
        );
    }
}

/// Runs `pier ARGS` the way a shell runs a background job, with SIGINT and SIGHUP ignored
/// and SIGUSR1 blocked (both survive `execve`), and returns its trimmed stdout.
fn run_from_a_background_job(p: &Pier, args: &[&str]) -> String {
    use std::os::unix::process::CommandExt;
    let mut cmd = p.command(args);
    // SAFETY: between fork and exec only sigaction and sigprocmask, both async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGUSR1);
            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
    let out = common::run_with_timeout(&mut cmd, None, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("pier {args:?}: {e}"));
    assert!(
        out.status.success(),
        "pier {args:?}: {}",
        common::text(&out.stderr)
    );
    common::text(&out.stdout).trim().to_string()
}

#[test]
fn the_command_starts_with_default_signals_whatever_pier_inherited() {
    let p = Pier::new();
    // A shell cannot trap a signal ignored on entry: before the fix, the traps below were
    // silently dropped and the container never saw SIGINT (as `pier attach`'s Ctrl-C).
    let script = "trap 'echo got INT' INT; trap 'echo got HUP' HUP; kill -INT $$; kill -HUP $$; \
                  grep -E '^Sig(Blk|Ign)' /proc/self/status | tr -d '\t'";
    let expected = "got INT\ngot HUP\nSigBlk:0000000000000000\nSigIgn:0000000000000000";
    for init in [&[][..], &["--init"][..]] {
        let mut args = vec!["run", "--rm"];
        args.extend(init);
        args.extend(["busybox", "sh", "-c", script]);
        assert_eq!(run_from_a_background_job(&p, &args), expected, "{init:?}");
    }
    let id = p.run_detached(&["busybox", "sleep", "1000"]);
    assert_eq!(
        run_from_a_background_job(&p, &["exec", &id, "sh", "-c", script]),
        expected,
        "pier exec"
    );
    p.ok(&["rm", "-f", &id]);
}

#[test]
fn stop_with_init_forwards_sigterm() {
    let p = Pier::new();
    let id = p.run_detached(&["--init", "busybox", "sleep", "3600"]);
    let t = Instant::now();
    p.ok(&["stop", "-t", "10", &id]);
    let took = t.elapsed();
    assert!(
        took < common::scaled(Duration::from_secs(3)),
        "stop took {took:?}: SIGTERM should end sleep under --init at once"
    );
    assert_eq!(p.inspect(&id)["exit_code"], 143);
}

#[test]
fn tty_gives_the_command_a_terminal() {
    let p = Pier::new();
    let out = p.run(&[
        "run",
        "--rm",
        "-t",
        "busybox",
        "sh",
        "-c",
        "test -t 0 && test -t 1 && echo is-a-tty; tty",
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    // The terminal translates \n into \r\n.
    assert_eq!(text(&out.stdout), "is-a-tty\r\n/dev/console\r\n");
    let out = p.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "test -t 1 || echo no-tty",
    ]);
    assert_eq!(out, "no-tty");
    // Detached with -t: the terminal's output goes to the log.
    let id = p.run_detached(&[
        "-t",
        "busybox",
        "sh",
        "-c",
        "test -t 1 && echo detached-tty",
    ]);
    assert_eq!(p.ok(&["wait", &id]), "0");
    assert_eq!(p.ok(&["logs", &id]), "detached-tty");
}
