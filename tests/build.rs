//! End-to-end tests of `pier build` and `pier history`, driving the real binary as root
//! against a private state directory per test (real overlay mounts, containers, cgroups).

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::{RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

const PIER: &str = env!("CARGO_BIN_EXE_pier");

/// Held for reading by every pier command, for writing by `pier system prune`.
static PRUNE: RwLock<()> = RwLock::new(());

/// A private pier root with busybox bootstrapped; everything pier made under it is removed
/// (containers pruned, mounts undone) when dropped, even if the test failed.
struct Env {
    root: tempfile::TempDir,
    ctx: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let env = Env {
            root: tempfile::tempdir().unwrap(),
            ctx: tempfile::tempdir().unwrap(),
        };
        env.ok(&["image", "bootstrap", "busybox"]);
        env
    }

    fn pier(&self, args: &[&str]) -> Output {
        // `pier system prune` removes every `pier/<id>` cgroup it does not know, including
        // those of containers of other state directories: keep it apart from the other
        // tests' commands.
        let _guard = if args.starts_with(&["system", "prune"]) {
            (None, Some(PRUNE.write().unwrap_or_else(|e| e.into_inner())))
        } else {
            (Some(PRUNE.read().unwrap_or_else(|e| e.into_inner())), None)
        };
        Command::new(PIER)
            .args(args)
            .env("PIER_ROOT", self.root.path())
            .current_dir(self.ctx.path())
            .output()
            .unwrap()
    }

    /// Runs pier, asserts success, returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.pier(args);
        assert!(
            out.status.success(),
            "pier {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs pier, asserts failure, returns stdout + stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.pier(args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "pier {args:?} succeeded:\n{text}");
        text
    }

    fn file(&self, rel: &str, content: &str) {
        let p = self.ctx.path().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }

    fn dockerfile(&self, text: &str) {
        self.file("Dockerfile", text);
    }

    /// `pier build -t TAG [extra...] .`; returns the output.
    fn build(&self, tag: &str, extra: &[&str]) -> String {
        let mut args = vec!["build", "-t", tag];
        args.extend_from_slice(extra);
        args.push(".");
        self.ok(&args)
    }

    fn image_id(&self, tag: &str) -> String {
        let out = self.ok(&["image", "inspect", tag]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v[0]["Id"].as_str().unwrap().to_string()
    }

    fn config(&self, tag: &str) -> serde_json::Value {
        let out = self.ok(&["image", "inspect", tag]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v[0]["Config"].clone()
    }

    fn run(&self, image: &str, cmd: &[&str]) -> String {
        let mut args = vec!["run", "--rm", image];
        args.extend_from_slice(cmd);
        self.ok(&args)
    }

    fn mounts_under_root(&self) -> Vec<String> {
        let root = self.root.path().to_string_lossy().into_owned();
        fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter(|l| l.contains(&root))
            .map(str::to_string)
            .collect()
    }

    /// Asserts no container, mount or build leftovers exist and only `images` are listed.
    fn assert_clean(&self, images: usize) {
        assert_eq!(
            self.ok(&["ps", "-a", "-q"]).trim(),
            "",
            "no container is left"
        );
        assert!(self.mounts_under_root().is_empty(), "no mount is left");
        let tmp = self.root.path().join("build-tmp");
        if tmp.exists() {
            assert_eq!(fs::read_dir(&tmp).unwrap().count(), 0, "no scratch is left");
        }
        let list = self.ok(&["images", "-q"]);
        assert_eq!(list.lines().count(), images, "images: {list}");
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // `pier rm -f` rather than `pier system prune`, which also removes cgroups of other
        // state directories' containers (other tests' ones).
        let ids = self.pier(&["ps", "-a", "-q"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.pier(&["rm", "-f", id]);
        }
        let mut mounts: Vec<String> = self
            .mounts_under_root()
            .iter()
            .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = Command::new("umount").arg("-l").arg(&m).status();
        }
    }
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// Container short IDs from ` ---> Running in <id>` lines.
fn run_containers(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|l| l.strip_prefix(" ---> Running in "))
        .map(|s| s.trim().to_string())
        .collect()
}

fn assert_no_cgroup(short_id: &str) {
    for controller in ["pids", "memory", "cpu", "freezer"] {
        let dir = PathBuf::from(format!("/sys/fs/cgroup/{controller}/pier"));
        let Ok(rd) = fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            assert!(
                !name.starts_with(short_id),
                "cgroup {controller}/pier/{name} of build container is left"
            );
        }
    }
}

#[test]
fn multi_stage_build_with_copy_from_runs_and_has_the_files() {
    let env = Env::new();
    env.file("src/hello.txt", "hello from the context\n");
    env.dockerfile(
        "# syntax=docker/dockerfile:1\n\
         FROM busybox AS builder\n\
         RUN mkdir -p /out && echo built-in-stage > /out/result.txt\n\
         COPY src/ /src/\n\
         \n\
         FROM busybox\n\
         COPY --from=builder /out/result.txt /app/result.txt\n\
         COPY --from=0 /src/hello.txt /app/\n\
         WORKDIR /app\n\
         CMD [\"cat\", \"result.txt\", \"hello.txt\"]\n",
    );
    let out = env.build("multi:1", &[]);
    assert!(out.contains("Step 1/8 : FROM busybox AS builder"), "{out}");
    assert!(out.contains("Step 8/8 : CMD"), "{out}");
    assert!(out.contains("Successfully built"), "{out}");
    assert!(out.contains("Successfully tagged multi:1"), "{out}");
    assert_eq!(
        env.run("multi:1", &[]),
        "built-in-stage\nhello from the context\n"
    );
    // WORKDIR applies to the container; the builder stage's files are not in the image.
    assert_eq!(env.run("multi:1", &["pwd"]), "/app\n");
    assert_eq!(
        env.run("multi:1", &["sh", "-c", "test -e /out || echo absent"]),
        "absent\n"
    );
    // Only the final image is listed; build containers are gone.
    env.assert_clean(2);
}

#[test]
fn rebuild_uses_the_cache_and_a_changed_file_invalidates_only_later_steps() {
    let env = Env::new();
    env.file("a.txt", "A1\n");
    env.file("b.txt", "B1\n");
    env.dockerfile(
        "FROM busybox\n\
         RUN echo one > /one\n\
         COPY a.txt /a.txt\n\
         COPY b.txt /b.txt\n\
         RUN cat /a.txt /b.txt > /both\n\
         CMD [\"cat\", \"/both\"]\n",
    );
    let first = env.build("cached", &[]);
    assert_eq!(count(&first, "Using cache"), 0, "{first}");
    let id1 = env.image_id("cached");

    let second = env.build("cached", &[]);
    assert_eq!(count(&second, "Using cache"), 5, "{second}");
    assert_eq!(env.image_id("cached"), id1, "same image ID from the cache");
    assert!(
        run_containers(&second).is_empty(),
        "no RUN executed: {second}"
    );

    // Touching a file (same content) keeps the cache, as in Docker.
    env.file("b.txt", "B1\n");
    let again = env.build("cached", &[]);
    assert_eq!(count(&again, "Using cache"), 5, "{again}");

    env.file("b.txt", "B2\n");
    let third = env.build("cached", &[]);
    let steps: Vec<&str> = third.split("Step ").skip(1).collect();
    assert_eq!(steps.len(), 6);
    for (i, s) in steps.iter().enumerate() {
        let cached = s.contains("Using cache");
        // Steps 2 and 3 (RUN, COPY a.txt) are reused; 4 (COPY b.txt) and later rerun.
        assert_eq!(cached, i == 1 || i == 2, "step {}: {s}", i + 1);
    }
    assert_ne!(env.image_id("cached"), id1);
    assert_eq!(env.run("cached", &[]), "A1\nB2\n");

    let fresh = env.build("cached", &["--no-cache"]);
    assert_eq!(count(&fresh, "Using cache"), 0, "{fresh}");
    assert_eq!(run_containers(&fresh).len(), 2);
    assert_eq!(env.run("cached", &[]), "A1\nB2\n");
    env.assert_clean(env.ok(&["images", "-q"]).lines().count());
}

#[test]
fn build_args_target_and_substitution() {
    let env = Env::new();
    env.file("conf/app.conf", "conf\n");
    env.dockerfile(
        "ARG BASE=busybox\n\
         ARG V=global-default\n\
         FROM ${BASE} AS first\n\
         ARG V\n\
         ARG DIR=/etc/app\n\
         ENV MODE=prod GREETING=\"hello world\"\n\
         RUN echo \"$V\" > /v && echo \"$GREETING $MODE\" > /g\n\
         COPY conf/app.conf ${DIR:-/wrong}/\n\
         WORKDIR $DIR/sub\n\
         RUN pwd > /pwd\n\
         FROM first AS second\n\
         RUN echo second > /s\n\
         FROM busybox AS broken\n\
         RUN exit 7\n",
    );
    let out = env.build("args:1", &["--target", "second", "--build-arg", "V=given"]);
    assert!(
        !out.contains("exit 7"),
        "stages after the target are skipped: {out}"
    );
    assert_eq!(
        env.run(
            "args:1",
            &["cat", "/v", "/g", "/etc/app/app.conf", "/pwd", "/s"]
        ),
        "given\nhello world prod\nconf\n/etc/app/sub\nsecond\n"
    );
    let cfg = env.config("args:1");
    let envs: Vec<&str> = cfg["config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(envs.contains(&"GREETING=hello world"), "{envs:?}");
    assert!(
        !envs.iter().any(|e| e.starts_with("V=")),
        "ARGs are not kept"
    );
    assert_eq!(cfg["config"]["WorkingDir"], "/etc/app/sub");

    // Without --build-arg the global default applies; a different value reruns the RUN.
    let out = env.build("args:2", &["--target", "second"]);
    assert_eq!(env.run("args:2", &["cat", "/v"]), "global-default\n");
    assert_eq!(run_containers(&out).len(), 3, "every RUN reran: {out}");
    let h = env.ok(&["history", "--no-trunc", "args:2"]);
    assert!(
        h.contains("|2 V=global-default DIR=/etc/app /bin/sh -c echo \"$V\" > /v"),
        "{h}"
    );

    let err = env.fails(&["build", "--target", "nope", "."]);
    assert!(
        err.contains("target stage \"nope\" could not be found"),
        "{err}"
    );
    let err = env.fails(&["build", "-t", "full", "."]);
    assert!(err.contains("returned a non-zero code: 7"), "{err}");
}

#[test]
fn dockerignore_excludes_files() {
    let env = Env::new();
    env.file("keep.txt", "keep\n");
    env.file("x.secret", "no\n");
    env.file("important.secret", "yes\n");
    env.file("logs/today.log", "log\n");
    env.file("deep/a/b/c.tmp", "tmp\n");
    env.file("deep/a/b/c.txt", "txt\n");
    env.file(
        ".dockerignore",
        "# comment\n*.secret\n!important.secret\nlogs\n**/*.tmp\n",
    );
    env.dockerfile("FROM busybox\nCOPY . /ctx/\n");
    env.build("ignore", &[]);
    let listing = env.run("ignore", &["find", "/ctx", "-type", "f"]);
    let mut files: Vec<&str> = listing.lines().collect();
    files.sort();
    assert_eq!(
        files,
        vec![
            "/ctx/.dockerignore",
            "/ctx/Dockerfile",
            "/ctx/deep/a/b/c.txt",
            "/ctx/important.secret",
            "/ctx/keep.txt"
        ]
    );
    // An excluded file named explicitly is not found.
    env.dockerfile("FROM busybox\nCOPY x.secret /x\n");
    let err = env.fails(&["build", "."]);
    assert!(err.contains("excluded by .dockerignore"), "{err}");
}

#[test]
fn images_from_the_same_base_share_layers() {
    let env = Env::new();
    env.file("one.txt", "1\n");
    env.file("two.txt", "2\n");
    env.dockerfile("FROM busybox\nCOPY one.txt /\n");
    env.build("share:1", &[]);
    env.file("Dockerfile", "FROM busybox\nCOPY two.txt /\n");
    env.build("share:2", &[]);
    let df = env.ok(&["system", "df"]);
    let layers = df.lines().find(|l| l.starts_with("Layers")).unwrap();
    // busybox's layer is used by all three images; each COPY layer by one.
    assert!(layers.contains("1 layers"), "{df}");
    let a = env.config("share:1");
    let b = env.config("share:2");
    let (da, db) = (&a["rootfs"]["diff_ids"], &b["rootfs"]["diff_ids"]);
    assert_eq!(da[0], db[0]);
    assert_ne!(da[1], db[1]);

    // Identical content gives identical layers, even with the cache off.
    env.build("share:3", &["--no-cache"]);
    assert_eq!(env.config("share:3")["rootfs"]["diff_ids"], *db);

    // -q prints only the ID.
    let out = env.ok(&["build", "-q", "-t", "share:4", "."]);
    assert_eq!(out, format!("{}\n", env.image_id("share:4")));
}

#[test]
fn history_lists_the_steps_and_rmi_still_works() {
    let env = Env::new();
    env.file("f.txt", "f\n");
    env.dockerfile(
        "FROM busybox\n\
         LABEL org.example=yes\n\
         RUN echo layer > /layer\n\
         COPY f.txt /f.txt\n\
         ENV A=1\n\
         EXPOSE 8080\n\
         USER 1000:1000\n\
         STOPSIGNAL SIGTERM\n\
         HEALTHCHECK --interval=5s --retries=2 CMD true\n\
         SHELL [\"/bin/sh\", \"-ec\"]\n\
         VOLUME /data\n\
         ENTRYPOINT [\"/bin/echo\"]\n\
         CMD [\"hi\"]\n",
    );
    env.build("hist", &[]);
    let h = env.ok(&["history", "--no-trunc", "hist"]);
    let lines: Vec<&str> = h.lines().collect();
    // Header + 12 steps + busybox's own layer.
    assert_eq!(lines.len(), 14, "{h}");
    assert!(lines[1].contains("/bin/sh -c #(nop)  CMD [\"hi\"]"), "{h}");
    assert!(h.contains("/bin/sh -c echo layer > /layer"), "{h}");
    assert!(h.contains("COPY file:"), "{h}");
    assert!(h.contains("#(nop)  ENV A=1"), "{h}");
    assert!(lines[1].starts_with(&env.image_id("hist")), "{h}");
    assert_eq!(count(&h, "<missing>"), 12, "{h}");

    let cfg = env.config("hist");
    let history = cfg["history"].as_array().unwrap();
    let layered = history
        .iter()
        .filter(|e| e["empty_layer"] != serde_json::json!(true))
        .count();
    assert_eq!(layered, cfg["rootfs"]["diff_ids"].as_array().unwrap().len());
    let c = &cfg["config"];
    assert_eq!(c["User"], "1000:1000");
    assert_eq!(c["StopSignal"], "SIGTERM");
    assert!(c["ExposedPorts"]["8080/tcp"].is_object());
    assert!(c["Volumes"]["/data"].is_object());
    assert_eq!(c["Labels"]["org.example"], "yes");
    let hc: serde_json::Value =
        serde_json::from_str(c["Labels"]["io.pier.image.healthcheck"].as_str().unwrap()).unwrap();
    assert_eq!(hc["Test"], serde_json::json!(["CMD-SHELL", "true"]));
    assert_eq!(hc["Interval"], 5_000_000_000u64);
    assert_eq!(hc["Retries"], 2);
    assert_eq!(env.run("hist", &[]), "hi\n");

    let out = env.ok(&["rmi", "hist"]);
    assert!(out.contains("Untagged: hist:latest"), "{out}");
    assert!(env.pier(&["history", "hist"]).status.code() != Some(0));
    assert_eq!(env.run("busybox", &["echo", "ok"]), "ok\n");
    // A rebuild after rmi works (missing cached layers are rebuilt).
    env.build("hist", &[]);
    assert_eq!(env.run("hist", &[]), "hi\n");
}

#[test]
fn add_unpacks_tars_and_copy_options_apply() {
    let env = Env::new();
    let src = tempfile::tempdir().unwrap();
    fs::create_dir_all(src.path().join("pkg/bin")).unwrap();
    fs::write(src.path().join("pkg/bin/tool"), "tool\n").unwrap();
    let status = Command::new("tar")
        .arg("-C")
        .arg(src.path())
        .arg("-czf")
        .arg(env.ctx.path().join("pkg.tar.gz"))
        .arg("pkg")
        .status()
        .unwrap();
    assert!(status.success());
    env.file("plain.txt", "plain\n");
    env.file("dir/one", "1\n");
    env.file("dir/two", "2\n");
    env.dockerfile(
        "FROM scratch AS files\n\
         COPY plain.txt /p\n\
         FROM busybox\n\
         ADD pkg.tar.gz /opt/\n\
         ADD plain.txt /added.txt\n\
         COPY --chown=1000:1234 --chmod=600 dir /owned/\n\
         COPY --from=files /p /from-scratch\n\
         COPY [\"plain.txt\", \"/json form.txt\"]\n\
         RUN [\"/bin/sh\", \"-c\", \"echo exec-form > /exec\"]\n\
         USER 1234:5678\n\
         RUN echo \"uid=$(id -u) gid=$(id -g)\"\n\
         USER root\n",
    );
    let out = env.build("add", &[]);
    assert!(out.contains("uid=1234 gid=5678"), "RUN runs as USER: {out}");
    assert_eq!(env.run("add", &["cat", "/exec"]), "exec-form\n");
    assert_eq!(
        env.run(
            "add",
            &[
                "cat",
                "/opt/pkg/bin/tool",
                "/added.txt",
                "/from-scratch",
                "/json form.txt"
            ]
        ),
        "tool\nplain\nplain\nplain\n"
    );
    assert_eq!(
        env.run(
            "add",
            &["stat", "-c", "%u:%g %a", "/owned/one", "/owned/two"]
        ),
        "1000:1234 600\n1000:1234 600\n"
    );
    // ADD from a URL is refused: there is no internet.
    env.dockerfile("FROM busybox\nADD https://example.com/x.tar /x\n");
    let err = env.fails(&["build", "."]);
    assert!(
        err.contains(
            "Dockerfile:2: ADD https://example.com/x.tar: downloading from a URL is not supported"
        ),
        "{err}"
    );
}

#[test]
fn bad_input_is_rejected_with_a_clear_message_and_leaves_nothing() {
    let env = Env::new();
    env.file("ok.txt", "ok\n");
    let cases: &[(&str, &str)] = &[
        (
            "FROM busybox\nRUN true\nFORM x\n",
            "Dockerfile:3: unknown instruction: FORM",
        ),
        (
            "FROM busybox\nCOPY ../outside /x\n",
            "Dockerfile:2: COPY failed: forbidden path outside the build context: ../outside",
        ),
        (
            "FROM busybox\nCOPY missing.txt /x\n",
            "Dockerfile:2: COPY failed: file not found in build context",
        ),
        (
            "FROM busybox\nCOPY ok.txt /ok\nRUN echo failing; exit 3\n",
            "Dockerfile:3: The command '/bin/sh -c echo failing; exit 3' returned a non-zero code: 3",
        ),
        ("FROM busybox\nENV\n", "Dockerfile:2: ENV requires at least one argument"),
        (
            "FROM nosuchimage\n",
            "Dockerfile:1: FROM nosuchimage: no such image",
        ),
        (
            "RUN true\n",
            "Dockerfile:1: no FROM before RUN",
        ),
        (
            "FROM busybox\nCOPY ok.txt ok.txt /notadir\n",
            "must be a directory and end with a /",
        ),
    ];
    for (dockerfile, message) in cases {
        env.dockerfile(dockerfile);
        let out = env.fails(&["build", "-t", "bad:1", "."]);
        assert!(
            out.contains(message),
            "{dockerfile:?}: expected {message:?} in:\n{out}"
        );
        for c in run_containers(&out) {
            assert_no_cgroup(&c);
        }
        assert!(
            env.pier(&["image", "inspect", "bad:1"]).status.code() != Some(0),
            "no tag is produced"
        );
        env.assert_clean(1);
    }
    // A symlink in the context cannot reach the host's files.
    std::os::unix::fs::symlink("/etc/hostname", env.ctx.path().join("escape")).unwrap();
    env.dockerfile("FROM busybox\nCOPY escape /escape\n");
    let out = env.fails(&["build", "-t", "bad:1", "."]);
    assert!(out.contains("COPY failed: escape"), "{out}");
    env.assert_clean(1);
    // An absolute source is relative to the context.
    env.dockerfile("FROM busybox\nCOPY /ok.txt /abs.txt\n");
    env.build("abs", &[]);
    assert_eq!(env.run("abs", &["cat", "/abs.txt"]), "ok\n");
    // A -f Dockerfile's name is used in messages.
    env.file("other.Dockerfile", "FROM busybox\nBOGUS x\n");
    let out = env.fails(&["build", "-f", "other.Dockerfile", "."]);
    assert!(
        out.contains("other.Dockerfile:2: unknown instruction: BOGUS"),
        "{out}"
    );
}

/// Starts `pier build` and returns once its RUN container is running (with the guard that
/// keeps other tests' prunes away while it runs).
fn start_slow_build(env: &Env) -> (std::process::Child, String, RwLockReadGuard<'static, ()>) {
    env.dockerfile("FROM busybox\nRUN echo started; sleep 60; touch /done\n");
    let guard = PRUNE.read().unwrap_or_else(|e| e.into_inner());
    let mut child = Command::new(PIER)
        .args(["build", "-t", "slow", "."])
        .env("PIER_ROOT", env.root.path())
        .current_dir(env.ctx.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut container = String::new();
    let mut line = String::new();
    while Instant::now() < deadline {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(id) = line.strip_prefix(" ---> Running in ") {
            container = id.trim().to_string();
        }
        if line.starts_with("started") {
            break;
        }
    }
    assert!(!container.is_empty(), "the RUN step did not start");
    // Keep draining stdout in the background so the build never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while reader.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {}
    });
    (child, container, guard)
}

#[test]
fn interrupted_builds_leave_no_layer_and_prune_cleans_the_container() {
    let env = Env::new();
    let layers_before = fs::read_dir(env.root.path().join("images/layers"))
        .unwrap()
        .count();

    // SIGINT: the build stops its RUN container and cleans up itself.
    let (mut child, container, guard) = start_slow_build(&env);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    drop(guard);
    assert!(!status.success());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("interrupted"), "{err}");
    assert_no_cgroup(&container);
    env.assert_clean(1);

    // SIGKILL: nothing can run in pier; the container dies with it and is left stopped,
    // marked as a build container, for `pier system prune`.
    let (mut child, container, guard) = start_slow_build(&env);
    child.kill().unwrap();
    child.wait().unwrap();
    drop(guard);
    let ps = env.ok(&["ps", "-a"]);
    assert!(ps.contains("pier-build-"), "{ps}");
    // Prune reads every `pier/<id>` cgroup, and containers of other tests on the machine
    // come and go meanwhile: retry on such a race.
    // (A failed attempt may already have deleted the container without saying so.)
    let mut pruned = false;
    for _ in 0..5 {
        let out = env.pier(&["system", "prune"]);
        if out.status.success() {
            pruned = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(pruned, "pier system prune kept failing");
    let ps = env.ok(&["ps", "-a"]);
    assert!(!ps.contains("pier-build-"), "{ps}");
    assert_no_cgroup(&container);
    assert_eq!(
        fs::read_dir(env.root.path().join("images/layers"))
            .unwrap()
            .count(),
        layers_before,
        "no layer was published"
    );
    assert!(
        fs::read_dir(env.root.path().join("images/tmp"))
            .unwrap()
            .count()
            == 0
    );
    // The next build cleans the killed build's scratch space and works.
    env.dockerfile("FROM busybox\nRUN echo fine > /fine\n");
    env.build("after", &[]);
    env.assert_clean(2);
    assert_eq!(env.run("after", &["cat", "/fine"]), "fine\n");
}

#[test]
fn builder_prune_frees_intermediate_layers() {
    let env = Env::new();
    let layers = || {
        fs::read_dir(env.root.path().join("images/layers"))
            .unwrap()
            .count()
    };
    env.file("a.txt", "a\n");
    // Two layers are made, then the build fails: they belong to no image.
    env.dockerfile("FROM busybox\nCOPY a.txt /a\nRUN echo x > /x\nRUN exit 1\n");
    env.fails(&["build", "."]);
    assert_eq!(layers(), 3);
    env.dockerfile("FROM busybox\nCOPY a.txt /a\nCMD [\"cat\", \"/a\"]\n");
    let out = env.build("kept", &[]);
    assert_eq!(count(&out, "Using cache"), 1, "{out}");

    let out = env.ok(&["builder", "prune"]);
    assert!(out.contains("Deleted build cache: 1 layers"), "{out}");
    assert_eq!(layers(), 2, "busybox's and kept's layers stay");
    assert_eq!(env.run("kept", &[]), "a\n");
    assert_eq!(env.run("busybox", &["echo", "ok"]), "ok\n");
    let out = env.build("kept", &[]);
    assert_eq!(count(&out, "Using cache"), 0, "the cache is empty: {out}");
    assert_eq!(env.run("kept", &[]), "a\n");
}
