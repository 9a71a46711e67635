//! `--format` (Docker's Go templates, `table`, `json`) and `--filter` on `ps`, `inspect`,
//! `images`, `volume ls/inspect` and `network ls/inspect`, and `--label` on the commands that
//! make those objects. Outputs are compared exactly.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{assert_one_line_error, Pier};

/// The lines of `out`, sorted (listing order is not part of these checks).
fn sorted(out: &str) -> Vec<String> {
    let mut v: Vec<String> = out.lines().map(str::to_string).collect();
    v.sort();
    v
}

/// Three containers: `web` running (tier=front), `done` exited 0 (tier=back), `fresh`
/// created. Returns web's full ID.
fn three_containers(p: &Pier) -> String {
    let web = p.run_detached(&[
        "--name",
        "web",
        "-l",
        "tier=front",
        "--network",
        "none",
        "busybox",
        "sleep",
        "60",
    ]);
    p.ok(&[
        "run",
        "--name",
        "done",
        "--label",
        "tier=back",
        "--network",
        "none",
        "busybox",
        "true",
    ]);
    p.ok(&[
        "create",
        "--name",
        "fresh",
        "--network",
        "none",
        "busybox",
        "true",
    ]);
    web
}

#[test]
fn ps_format_and_filters_answer_as_docker() {
    let p = Pier::new();
    let web = three_containers(&p);
    assert_eq!(p.ok(&["ps", "--format", "{{.Names}}"]), "web");
    assert_eq!(
        sorted(&p.ok(&["ps", "-a", "--format", "{{.Names}}"])),
        ["done", "fresh", "web"]
    );
    assert_eq!(
        p.ok(&[
            "ps",
            "--format",
            "{{.ID}} {{.Image}} {{.State}} {{.Label \"tier\"}}"
        ]),
        format!("{} busybox running front", &web[..12])
    );
    // A table: the header from Docker's column names, cells padded to the widest + 3
    // (at least 10), the last column as is.
    assert_eq!(
        p.ok(&[
            "ps",
            "-a",
            "--filter",
            "name=^web$",
            "--format",
            r"table {{.Names}}\t{{.State}}\t{{.Labels}}",
        ]),
        "NAMES     STATE     LABELS\nweb       running   tier=front"
    );
    // Filters: the same key ORed, different keys ANDed; status/exited imply -a.
    let names = |args: &[&str]| {
        let mut all = vec!["ps", "--format", "{{.Names}}"];
        all.extend_from_slice(args);
        sorted(&p.ok(&all))
    };
    assert_eq!(names(&["-a", "--filter", "label=tier"]), ["done", "web"]);
    assert_eq!(names(&["-a", "--filter", "label=tier=back"]), ["done"]);
    assert_eq!(names(&["--filter", "status=exited"]), ["done"]);
    assert_eq!(
        names(&["--filter", "status=exited", "--filter", "status=created"]),
        ["done", "fresh"]
    );
    assert_eq!(
        names(&["--filter", "status=exited", "--filter", "name=web"]),
        Vec::<String>::new()
    );
    assert_eq!(names(&["--filter", "exited=0"]), ["done"]);
    assert_eq!(names(&["--filter", "exited=1"]), Vec::<String>::new());
    assert_eq!(
        names(&["-a", "--filter", "ancestor=busybox"]),
        ["done", "fresh", "web"]
    );
    assert_eq!(
        names(&[
            "-a",
            "--filter",
            "ancestor=busybox:latest",
            "--filter",
            "label=tier=front"
        ]),
        ["web"]
    );
    assert_eq!(
        names(&["-a", "--filter", &format!("id={}", &web[..8])]),
        ["web"]
    );
    assert_eq!(names(&["-a", "--filter", "since=web"]), ["done", "fresh"]);
    assert_eq!(names(&["-a", "--filter", "before=done"]), ["web"]);
    assert_eq!(p.ok(&["ps", "-q", "--filter", "name=web"]), &web[..12]);
    // Newest first; -n N and -l (the latest) look at every state.
    assert_eq!(
        p.ok(&["ps", "-a", "--format", "{{.Names}}"]),
        "fresh\ndone\nweb"
    );
    assert_eq!(
        p.ok(&["ps", "-n", "2", "--format", "{{.Names}}"]),
        "fresh\ndone"
    );
    assert_eq!(p.ok(&["ps", "-l", "--format", "{{.Names}}"]), "fresh");

    // --format json: one object a line, Docker's keys.
    let line = p.ok(&["ps", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&line).expect("one JSON object");
    assert_eq!(v["Names"], "web");
    assert_eq!(v["Labels"], "tier=front");
    assert_eq!(v["State"], "running");

    // Bad input: one line naming what is wrong.
    assert_one_line_error(
        &p.run(&["ps", "--format", "{{.Foo}}"]),
        125,
        &["can't evaluate field Foo", "<.Foo>"],
    );
    assert_one_line_error(
        &p.run(&["ps", "--format", "{{.Names"]),
        125,
        &["unclosed action"],
    );
    assert_one_line_error(
        &p.run(&["ps", "--filter", "colour=red"]),
        125,
        &["\"colour=red\""],
    );
    assert_one_line_error(
        &p.run(&["ps", "--filter", "status=sleeping"]),
        125,
        &["status=sleeping"],
    );
    assert_one_line_error(
        &p.run(&["run", "-l", "=x", "busybox", "true"]),
        125,
        &["=x"],
    );
    p.ok(&["rm", "-f", "web", "done", "fresh"]);
}

#[test]
fn inspect_format_reads_dockers_shape() {
    let p = Pier::new();
    three_containers(&p);
    let pid: i32 = p
        .ok(&["inspect", "--format", "{{.State.Pid}}", "web"])
        .parse()
        .expect("a PID");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("the PID is live");
    assert!(cmdline.starts_with(b"sleep\0"), "{cmdline:?}");
    assert_eq!(
        p.ok(&[
            "inspect",
            "-f",
            "{{.Name}} {{.State.Status}} {{.State.Running}}",
            "web",
            "done"
        ]),
        "/web running true\n/done exited false"
    );
    assert_eq!(p.ok(&["inspect", "-f", "{{.State.Pid}}", "done"]), "0");
    // `stats` takes templates too, with Docker's field names.
    assert_eq!(
        p.ok(&[
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}} {{.PIDs}}",
            "web"
        ]),
        "web 1"
    );
    assert_eq!(
        p.ok(&["inspect", "-f", "{{json .Config.Labels}}", "web"]),
        r#"{"tier":"front"}"#
    );
    assert_eq!(
        p.ok(&[
            "inspect",
            "-f",
            "{{json .Config.Cmd}} {{.Path}} {{.Args}}",
            "web"
        ]),
        r#"["sleep","60"] sleep [60]"#
    );
    assert_eq!(
        p.ok(&[
            "inspect",
            "-f",
            "{{range .Config.Env}}{{if eq (index (split . \"=\") 0) \"PATH\"}}{{.}}{{end}}{{end}}",
            "web"
        ]),
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    );
    assert_eq!(
        p.ok(&[
            "inspect",
            "-f",
            "{{if .State.Running}}up{{else}}down{{end}}",
            "fresh"
        ]),
        "down"
    );
    // `json` prints the same array as no --format.
    let plain: serde_json::Value = serde_json::from_str(&p.ok(&["inspect", "web"])).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&p.ok(&["inspect", "--format", "json", "web"])).unwrap();
    assert_eq!(plain[0]["Id"], json[0]["Id"]);
    assert_eq!(plain[0]["HostConfig"]["NetworkMode"], "none");
    assert_one_line_error(
        &p.run(&["inspect", "-f", "{{.State.Nope}}", "web"]),
        125,
        &["template: :1:2: executing \"\" at <.State.Nope>: can't evaluate field Nope"],
    );
    p.ok(&["rm", "-f", "web", "done", "fresh"]);
}

#[test]
fn images_format_and_filters() {
    let p = Pier::new();
    p.ok(&["tag", "busybox", "extra:1"]);
    let ctx = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nLABEL stage=test\n",
    )
    .unwrap();
    p.ok(&[
        "build",
        "-q",
        "--label",
        "owner=a $b",
        "-t",
        "labelled:2",
        &ctx.path().to_string_lossy(),
    ]);
    let list = |args: &[&str]| {
        let mut all = vec!["images", "--format", "{{.Repository}}:{{.Tag}}"];
        all.extend_from_slice(args);
        sorted(&p.ok(&all))
    };
    assert_eq!(list(&[]), ["busybox:latest", "extra:1", "labelled:2"]);
    assert_eq!(list(&["--filter", "reference=extra"]), ["extra:1"]);
    assert_eq!(
        list(&["--filter", "reference=busy*", "--filter", "reference=lab*"]),
        ["busybox:latest", "labelled:2"]
    );
    assert_eq!(list(&["--filter", "label=stage=test"]), ["labelled:2"]);
    assert_eq!(list(&["--filter", "label=owner=a $b"]), ["labelled:2"]);
    assert_eq!(list(&["--filter", "dangling=true"]), Vec::<String>::new());
    assert_eq!(list(&["--filter", "since=busybox"]), ["labelled:2"]);
    assert_eq!(
        list(&["--filter", "before=labelled:2"]),
        ["busybox:latest", "extra:1"]
    );
    let id = p.ok(&["images", "-q", "--filter", "reference=labelled"]);
    assert_eq!(
        p.ok(&[
            "images",
            "--filter",
            "reference=labelled",
            "--format",
            r"table {{.Repository}}\t{{.ID}}"
        ]),
        format!("REPOSITORY   IMAGE ID\nlabelled     {id}")
    );
    assert_eq!(
        p.ok(&[
            "image",
            "inspect",
            "-f",
            "{{index .Config.config.Labels \"stage\"}}",
            "labelled:2"
        ]),
        "test"
    );
    assert_one_line_error(
        &p.run(&["images", "--filter", "size=1"]),
        125,
        &["\"size=1\""],
    );
    // A container carries its image's labels (and its own), as in Docker.
    p.ok(&[
        "create",
        "--name",
        "from-labelled",
        "-l",
        "own=1",
        "labelled:2",
        "true",
    ]);
    assert_eq!(
        p.ok(&[
            "ps",
            "-a",
            "--filter",
            "label=stage=test",
            "--format",
            "{{.Names}} {{.Labels}}",
        ]),
        "from-labelled own=1,owner=a $b,stage=test"
    );
    // `inspect` falls back to images, as `docker inspect` does.
    assert_eq!(
        p.ok(&["inspect", "-f", "{{.Id}}", "labelled:2"]),
        p.ok(&["image", "inspect", "-f", "{{.Id}}", "labelled:2"])
    );
    p.ok(&["rm", "from-labelled"]);
}

#[test]
fn volume_and_network_ls_share_format_and_filters() {
    let p = Pier::new();
    p.ok(&["volume", "create", "--label", "team=a", "vol-a"]);
    p.ok(&["volume", "create", "vol-b"]);
    p.ok(&[
        "create",
        "--name",
        "user",
        "-v",
        "vol-b:/data",
        "busybox",
        "true",
    ]);
    let vols = |args: &[&str]| {
        let mut all = vec!["volume", "ls", "--format", "{{.Name}}"];
        all.extend_from_slice(args);
        sorted(&p.ok(&all))
    };
    assert_eq!(vols(&[]), ["vol-a", "vol-b"]);
    assert_eq!(vols(&["--filter", "label=team=a"]), ["vol-a"]);
    assert_eq!(vols(&["--filter", "dangling=true"]), ["vol-a"]);
    assert_eq!(vols(&["--filter", "name=b$"]), ["vol-b"]);
    assert_eq!(
        p.ok(&[
            "volume",
            "ls",
            "--filter",
            "name=vol-a",
            "--format",
            r"table {{.Driver}}\t{{.Name}}"
        ]),
        "DRIVER    VOLUME NAME\nlocal     vol-a"
    );
    assert_eq!(
        p.ok(&[
            "volume",
            "inspect",
            "-f",
            "{{.Labels.team}} {{.Driver}}",
            "vol-a"
        ]),
        "a local"
    );

    let tag = std::process::id();
    let (n1, n2) = (format!("fmt-a-{tag}"), format!("fmt-b-{tag}"));
    p.ok(&["network", "create", "--label", "team=a", &n1]);
    p.ok(&["network", "create", &n2]);
    let nets = |args: &[&str]| {
        let mut all = vec!["network", "ls", "--format", "{{.Name}}"];
        all.extend_from_slice(args);
        sorted(&p.ok(&all))
    };
    assert_eq!(
        nets(&["--filter", "label=team=a"]),
        std::slice::from_ref(&n1)
    );
    assert_eq!(nets(&["--filter", "type=custom"]), [n1.clone(), n2.clone()]);
    assert_eq!(nets(&["--filter", "type=builtin"]), ["bridge"]);
    assert_eq!(
        nets(&["--filter", &format!("name={n2}")]),
        std::slice::from_ref(&n2)
    );
    assert_eq!(
        p.ok(&[
            "network",
            "inspect",
            "-f",
            "{{.Name}} {{.Labels.team}} {{.Driver}}",
            &n1
        ]),
        format!("{n1} a bridge")
    );
    assert_one_line_error(
        &p.run(&["network", "ls", "--filter", "colour=red"]),
        125,
        &["\"colour=red\""],
    );
    assert_one_line_error(
        &p.run(&["volume", "ls", "--format", "{{.Nope}}"]),
        125,
        &["can't evaluate field Nope"],
    );
    p.ok(&["rm", "user"]);
    p.ok(&["network", "rm", &n1, &n2]);
    p.ok(&["volume", "rm", "vol-a", "vol-b"]);
}
