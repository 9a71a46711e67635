//! Lab 2: namespaces — PID 1, the hostname, mounts, `lsns`, and `nsenter` into a container.

use super::{ensure_busybox, sent};
use crate::context::Ctx;
use crate::lab::{Lab, Outcome, Task};
use crate::probe;
use crate::text::{self, josa, tr, Josa, Lang};
use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::statfs::{fstatfs, TMPFS_MAGIC};
use pier_engine::container::events::{Action, Event};
use pier_engine::container::logs::LogReader;
use pier_engine::container::record::{ContainerRecord, ContainerStatus};
use pier_oci::security::in_root;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// A shell script that prints what a container sees (PID, hostname, namespaces, cgroup,
/// limits, capabilities, mounts, devices, network); `pier lab start 2` writes it into the
/// lab's directory, to be bind-mounted into any container.
pub const PIER_PROBE: &str = include_str!("../../02-namespaces/pier-probe");

const N: u32 = 2;

/// The lab.
pub fn lab() -> Lab {
    Lab {
        number: N,
        slug: "02-namespaces",
        title: tr(
            "Namespaces: what a container sees",
            "네임스페이스: 컨테이너가 보는 것",
        ),
        minutes: 30,
        host_ports: &[],
        networks: &[],
        needs: None,
        prepare,
        tasks: vec![
            Task {
                id: "box",
                title: tr(
                    "lab2-box runs with the hostname lab2",
                    "lab2-box가 호스트 이름 lab2로 실행 중이다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "pier run -d --name lab2-box --hostname lab2 --tmpfs /tmp busybox sleep 3600",
                    "pier run -d --name lab2-box --hostname lab2 --tmpfs /tmp busybox sleep 3600",
                ),
                check: box_running,
            },
            Task {
                id: "hostpid",
                title: tr(
                    "you found lab2-box's PID on the host",
                    "호스트에서 본 lab2-box의 PID를 찾았다",
                ),
                after: &[],
                answer: Some("pid"),
                hint: tr(
                    "pier inspect lab2-box shows \"init\": {\"pid\": ...}; record it: pier lab answer 2 pid <PID>",
                    "pier inspect lab2-box에 \"init\": {\"pid\": ...}가 보입니다. 기록하세요: pier lab answer 2 pid <PID>",
                ),
                check: host_pid,
            },
            Task {
                id: "netns",
                title: tr(
                    "you found lab2-box's network namespace number",
                    "lab2-box의 네트워크 네임스페이스 번호를 찾았다",
                ),
                after: &["hostpid"],
                answer: Some("netns"),
                hint: tr(
                    "readlink /proc/<PID>/ns/net prints net:[NUMBER], and `lsns -t net` lists the same number; record it: pier lab answer 2 netns <NUMBER>",
                    "readlink /proc/<PID>/ns/net은 net:[NUMBER]를 출력하고, `lsns -t net`도 같은 번호를 보여 줍니다. 기록하세요: pier lab answer 2 netns <NUMBER>",
                ),
                check: netns,
            },
            Task {
                id: "nsenter",
                title: tr(
                    "you entered lab2-box with nsenter and created /tmp/nsenter-was-here in its tmpfs",
                    "nsenter로 lab2-box에 들어가 그 tmpfs에 /tmp/nsenter-was-here를 만들었다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "nsenter -t <PID> -a touch /tmp/nsenter-was-here  (-a enters all of the process's namespaces, the mount namespace included: lab2-box's /tmp is a tmpfs that only its mount namespace holds)",
                    "nsenter -t <PID> -a touch /tmp/nsenter-was-here  (-a는 마운트 네임스페이스를 포함해 그 프로세스의 모든 네임스페이스에 들어갑니다. lab2-box의 /tmp는 그 마운트 네임스페이스에만 있는 tmpfs입니다)",
                ),
                check: entered,
            },
            Task {
                id: "sigterm",
                title: tr(
                    "lab2-init (sleep as PID 1, no handler) survived a SIGTERM from the host",
                    "lab2-init(핸들러 없이 PID 1로 도는 sleep)이 호스트가 보낸 SIGTERM에도 살아남았다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "pier run -d --name lab2-init busybox sleep 3600; pier kill -s TERM lab2-init; pier ps shows it still up",
                    "pier run -d --name lab2-init busybox sleep 3600; pier kill -s TERM lab2-init; pier ps에 여전히 실행 중으로 보입니다",
                ),
                check: sigterm,
            },
            Task {
                id: "sigkill",
                title: tr(
                    "SIGKILL from the host ended lab2-init (exit 137)",
                    "호스트가 보낸 SIGKILL이 lab2-init을 끝냈다(종료 코드 137)",
                ),
                after: &["sigterm"],
                answer: None,
                hint: tr(
                    "pier kill -s KILL lab2-init: SIGKILL from an ancestor PID namespace is always delivered",
                    "pier kill -s KILL lab2-init: 상위 PID 네임스페이스에서 보낸 SIGKILL은 항상 전달됩니다",
                ),
                check: sigkill,
            },
            Task {
                id: "trap",
                title: tr(
                    "lab2-trap, a PID 1 with a SIGTERM handler, caught SIGTERM from the host and runs on",
                    "SIGTERM 핸들러가 있는 PID 1인 lab2-trap이 호스트가 보낸 SIGTERM을 잡고 계속 실행 중이다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "pier run -d --name lab2-trap busybox sh -c 'trap \"echo caught SIGTERM\" TERM; while :; do sleep 1; done'; then pier kill -s TERM lab2-trap; the checker reads SigCgt in /proc/<PID>/status and the time of each line in its log",
                    "pier run -d --name lab2-trap busybox sh -c 'trap \"echo caught SIGTERM\" TERM; while :; do sleep 1; done'; 그다음 pier kill -s TERM lab2-trap; 채점기는 /proc/<PID>/status의 SigCgt와 로그 각 줄의 시각을 읽습니다",
                ),
                check: trap,
            },
        ],
    }
}

fn prepare(ctx: &Ctx) -> Result<()> {
    ensure_busybox(ctx)?;
    let dir = ctx.workdir(N);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let probe = dir.join("pier-probe");
    std::fs::write(&probe, PIER_PROBE).with_context(|| format!("writing {}", probe.display()))?;
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", probe.display()))?;
    Ok(())
}

fn box_running(ctx: &Ctx) -> Outcome {
    let (_, pid) = match ctx.running("lab2-box") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    match probe::nsenter(pid, &["-u"], &["hostname"]) {
        Ok(h) if h.trim() == "lab2" => Outcome::passed(
            "its UTS namespace says lab2",
            "UTS 네임스페이스의 호스트 이름이 lab2입니다",
        ),
        Ok(h) => Outcome::failed(
            format!(
                "lab2-box's hostname is {:?}, not lab2 (remove it and run it again with --hostname lab2)",
                h.trim()
            ),
            format!(
                "lab2-box의 호스트 이름이 lab2가 아니라 {:?}입니다 (삭제하고 --hostname lab2를 붙여 다시 실행하세요)",
                h.trim()
            ),
        ),
        Err(e) => e.into(),
    }
}

fn host_pid(ctx: &Ctx) -> Outcome {
    let (_, pid) = match ctx.running("lab2-box") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    let given = match ctx.answer(N, "pid") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    if given == pid.to_string() {
        Outcome::passed(format!("PID {pid}"), format!("PID {pid}"))
    } else if given == "1" {
        Outcome::failed(
            "1 is the PID inside the container; the host numbers the same process differently",
            "1은 컨테이너 안의 PID입니다. 호스트는 같은 프로세스에 다른 번호를 붙입니다",
        )
    } else {
        Outcome::failed(
            format!("{given} is not the host PID of lab2-box's init (if you re-created the container, its PID changed)"),
            format!(
                "{} lab2-box의 init이 호스트에서 갖는 PID가 아닙니다 (컨테이너를 다시 만들었다면 PID도 바뀌었습니다)",
                josa(&given, Josa::EunNeun)
            ),
        )
    }
}

fn netns(ctx: &Ctx) -> Outcome {
    let (_, pid) = match ctx.running("lab2-box") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    let given = match ctx.answer(N, "netns") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let real = match probe::namespace(pid, "net") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let host = probe::namespace(1, "net").unwrap_or_default();
    match (
        probe::namespace_inode(&given),
        probe::namespace_inode(&real),
    ) {
        (Some(g), Some(r)) if g == r => Outcome::passed(real.clone(), real),
        (Some(g), _) if Some(g) == probe::namespace_inode(&host) => Outcome::failed(
            "that is the host's network namespace (of PID 1 on the host), not the container's",
            "그것은 컨테이너가 아니라 호스트(호스트의 PID 1)의 네트워크 네임스페이스입니다",
        ),
        (None, _) => Outcome::failed(
            format!("{given:?} is not a number like 4026532201"),
            format!("{given:?}: 4026532201 같은 숫자가 아닙니다"),
        ),
        _ => Outcome::failed(
            format!("{given} is not the network namespace of lab2-box"),
            format!(
                "{} lab2-box의 네트워크 네임스페이스가 아닙니다",
                josa(&given, Josa::EunNeun)
            ),
        ),
    }
}

/// The file the nsenter task asks for, as the container names it.
const NSENTER_FILE: &str = "/tmp/nsenter-was-here";

/// The file must live in the tmpfs on lab2-box's `/tmp`. That tmpfs is mounted in the
/// container's mount namespace only: the host's tree has no path to it (the container's
/// upper directory lies UNDER it, hidden), so a file in it was made by a process that went
/// through the container's mount namespace (nsenter -m, or pier exec). It is looked up from
/// `/proc/PID/root` with every link resolved inside the container (the container owns that
/// tree), and the filesystem it is on is asked of the kernel (`fstatfs`), not guessed from
/// a path.
fn entered(ctx: &Ctx) -> Outcome {
    let (rec, pid) = match ctx.running("lab2-box") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    let root = std::path::PathBuf::from(format!("/proc/{pid}/root"));
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW;
    match in_root::open_in_root(&root, Path::new(NSENTER_FILE), flags) {
        Ok(fd) => match fstatfs(&fd) {
            Ok(fs) if fs.filesystem_type() == TMPFS_MAGIC => Outcome::passed(
                "found in the tmpfs on lab2-box's /tmp, which only its mount namespace holds",
                "lab2-box의 마운트 네임스페이스에만 있는 /tmp tmpfs에서 찾았습니다",
            ),
            Ok(_) => Outcome::failed(
                "lab2-box's /tmp is not a tmpfs, so the file may have been written from the host into its writable layer: run lab2-box again with --tmpfs /tmp and enter it with nsenter -a",
                "lab2-box의 /tmp가 tmpfs가 아니어서 호스트가 쓰기 가능한 레이어에 직접 썼을 수도 있습니다: lab2-box를 --tmpfs /tmp로 다시 실행하고 nsenter -a로 들어가세요",
            ),
            Err(e) => Outcome::Fail(text::machine_error(&format!("fstatfs on {NSENTER_FILE} in lab2-box: {e}"))),
        },
        Err(Errno::ENOENT) => not_entered(ctx, &rec),
        Err(e) => Outcome::Fail(text::machine_error(&format!(
            "opening {NSENTER_FILE} in lab2-box ({}): {e}",
            root.display()
        ))),
    }
}

/// Why the file is not in the container: written on the host, in the upper directory, or
/// not at all.
fn not_entered(ctx: &Ctx, rec: &ContainerRecord) -> Outcome {
    if Path::new(NSENTER_FILE).exists() {
        return Outcome::failed(
            "/tmp/nsenter-was-here exists on the HOST: nsenter without -m (or -a) stays in the host's mount namespace. Delete it and try with -a",
            "/tmp/nsenter-was-here가 호스트에 있습니다: -m(또는 -a) 없이 nsenter를 쓰면 호스트의 마운트 네임스페이스에 머뭅니다. 그 파일을 지우고 -a로 다시 해 보세요",
        );
    }
    let upper = ctx.upper_dir(rec).join("tmp/nsenter-was-here");
    if std::fs::symlink_metadata(&upper).is_ok() {
        return Outcome::failed(
            format!(
                "{} was written from the host into the writable layer, under the tmpfs the container sees on /tmp: enter the container with nsenter -a",
                upper.display()
            ),
            format!(
                "{} 호스트가 쓰기 가능한 레이어에 직접 쓴 파일이며, 컨테이너가 /tmp에서 보는 tmpfs 아래에 가려져 있습니다: nsenter -a로 컨테이너에 들어가세요",
                josa(&upper.display().to_string(), Josa::EunNeun)
            ),
        );
    }
    Outcome::failed(
        "the container's /tmp has no file nsenter-was-here",
        "컨테이너의 /tmp에 nsenter-was-here 파일이 없습니다",
    )
}

/// The events of `name` since the lab started, and its record, which must still exist (the
/// check reads its command).
fn history(ctx: &Ctx, name: &str) -> Result<(ContainerRecord, Vec<Event>), Outcome> {
    let rec = ctx.container(name).map_err(Outcome::from)?;
    let events = ctx.events(N, name).map_err(Outcome::from)?;
    Ok((rec, events))
}

fn sigterm(ctx: &Ctx) -> Outcome {
    let (rec, events) = match history(ctx, "lab2-init") {
        Ok(x) => x,
        Err(o) => return o,
    };
    if rec.args.first().map(String::as_str) != Some("sleep") || rec.config.init {
        let command = rec.args.join(" ");
        return Outcome::failed(
            format!(
                "lab2-init runs `{command}`{}: the experiment needs `sleep 3600` itself as PID 1",
                if rec.config.init { " under --init" } else { "" }
            ),
            format!(
                "lab2-init은 {}{} 실행합니다: 이 실험에는 `sleep 3600` 자체가 PID 1이어야 합니다",
                if rec.config.init {
                    "--init 아래에서 "
                } else {
                    ""
                },
                josa(&format!("`{command}`"), Josa::EulReul)
            ),
        );
    }
    let Some(term) = events.iter().position(|e| sent(e, "SIGTERM")) else {
        return Outcome::failed(
            format!(
                "pier's event log shows no SIGTERM sent to lab2-init: pier kill -s TERM lab2-init {}",
                text::before_start(Lang::En, N)
            ),
            format!(
                "pier의 이벤트 로그에 lab2-init에 보낸 SIGTERM이 없습니다: pier kill -s TERM lab2-init {}",
                text::before_start(Lang::Ko, N)
            ),
        );
    };
    // It must not have died of it: the next die (if any) comes after a SIGKILL.
    let after = &events[term + 1..];
    let died = after.iter().position(|e| e.action == Action::Die);
    let killed = after.iter().position(|e| sent(e, "SIGKILL"));
    match (died, killed) {
        (Some(d), k) if k.is_none_or(|k| d < k) => {
            let code = after[d].exit_code.unwrap_or(-1);
            Outcome::failed(
                format!("lab2-init exited (code {code}) after the SIGTERM: it was not a PID 1 without a handler; remove it and start again"),
                format!("lab2-init이 SIGTERM을 받은 뒤 종료했습니다(종료 코드 {code}): 핸들러 없는 PID 1이 아니었습니다. 삭제하고 처음부터 다시 하세요"),
            )
        }
        _ => Outcome::passed(
            "the kernel dropped it: sleep has no SIGTERM handler",
            "커널이 신호를 버렸습니다: sleep에는 SIGTERM 핸들러가 없습니다",
        ),
    }
}

fn sigkill(ctx: &Ctx) -> Outcome {
    let (rec, events) = match history(ctx, "lab2-init") {
        Ok(x) => x,
        Err(o) => return o,
    };
    let term = events.iter().position(|e| sent(e, "SIGTERM")).unwrap_or(0);
    let killed = events[term..].iter().any(|e| sent(e, "SIGKILL"));
    match (rec.status, rec.exit_code) {
        (ContainerStatus::Running, _) => Outcome::failed(
            "lab2-init is still running: now send SIGKILL (pier kill -s KILL lab2-init)",
            "lab2-init이 아직 실행 중입니다: 이제 SIGKILL을 보내세요 (pier kill -s KILL lab2-init)",
        ),
        (_, Some(137)) if killed && !rec.oom_killed => {
            Outcome::passed("exit code 137 = 128 + 9", "종료 코드 137 = 128 + 9")
        }
        (_, code) => {
            let code = code.unwrap_or(-1);
            Outcome::failed(
                format!("lab2-init ended with code {code} without a SIGKILL from pier after the SIGTERM: pier kill -s KILL lab2-init"),
                format!(
                    "lab2-init이 SIGTERM 뒤에 pier가 보낸 SIGKILL 없이 종료 코드 {} 끝났습니다: pier kill -s KILL lab2-init",
                    josa(&code.to_string(), Josa::EuroRo)
                ),
            )
        }
    }
}

/// How long after a SIGTERM its handler may print: the shell runs it once its current
/// `sleep 1` ends, and pier writes the line to the log at once.
const HANDLER_DELAY: Duration = Duration::from_secs(3);

/// SIGTERM's bit in the masks of `/proc/PID/status` (signal N is bit N-1).
const SIGTERM_BIT: u64 = 1 << (libc::SIGTERM - 1);

/// The trap task reads live kernel state and pier's own records, never the command line:
/// lab2-trap's PID 1 is running and has a SIGTERM handler now (SigCgt in its
/// `/proc/PID/status`, which `trap "" TERM` (ignore) or no trap leaves unset); pier sent it
/// SIGTERM since it started (the event log); and every "caught SIGTERM" in its log was written
/// (the log's own timestamp) within a few seconds AFTER such a signal: a script that prints
/// the line itself prints it before any signal, or without one.
fn trap(ctx: &Ctx) -> Outcome {
    let (rec, pid) = match ctx.running("lab2-trap") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    let caught = match procfs::process::Process::new(pid).and_then(|p| p.status()) {
        Ok(s) => s.sigcgt,
        Err(e) => {
            return Outcome::Fail(text::machine_error(&format!(
                "reading /proc/{pid}/status: {e}"
            )))
        }
    };
    if caught & SIGTERM_BIT == 0 {
        return Outcome::failed(
            format!("lab2-trap's PID 1 (host PID {pid}) has no SIGTERM handler: SigCgt in /proc/{pid}/status is {caught:016x}: the bit of signal 15 (0x4000) is unset. Run the sh -c 'trap ...' command of step 7"),
            format!("lab2-trap의 PID 1(호스트 PID {pid})에 SIGTERM 핸들러가 없습니다: /proc/{pid}/status의 SigCgt가 {caught:016x}이고 시그널 15의 비트(0x4000)가 꺼져 있습니다. 7단계의 sh -c 'trap ...' 명령을 실행하세요"),
        );
    }
    let events = match ctx.events(N, "lab2-trap") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    // Only this run of the container: from its last start on.
    let since = events
        .iter()
        .rposition(|e| e.action == Action::Start && e.id == rec.id)
        .map_or(0, |i| i + 1);
    let terms: Vec<SystemTime> = events[since..]
        .iter()
        .filter(|e| sent(e, "SIGTERM"))
        .filter_map(Event::when)
        .collect();
    if terms.is_empty() {
        return Outcome::failed(
            format!(
                "pier's event log shows no SIGTERM sent to lab2-trap since it started: pier kill -s TERM lab2-trap {}",
                text::before_start(Lang::En, N)
            ),
            format!(
                "pier의 이벤트 로그에 lab2-trap이 시작된 뒤 보낸 SIGTERM이 없습니다: pier kill -s TERM lab2-trap {}",
                text::before_start(Lang::Ko, N)
            ),
        );
    }
    let lines = match caught_lines(ctx, &rec) {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let answered = |at: &SystemTime| {
        terms
            .iter()
            .any(|t| at >= t && at.duration_since(*t).is_ok_and(|d| d <= HANDLER_DELAY))
    };
    if let Some(early) = lines.iter().find(|at| !answered(at)) {
        let when = pier_oci::time::rfc3339_seconds(*early);
        return Outcome::failed(
            format!("lab2-trap printed \"caught SIGTERM\" at {when}, when no SIGTERM had just been sent: only the handler may print it. Remove it and run the command of step 7"),
            format!("lab2-trap이 {when}에 \"caught SIGTERM\"을 출력했는데, 그 직전에 보낸 SIGTERM이 없습니다: 그 줄은 핸들러만 출력해야 합니다. 삭제하고 7단계의 명령을 실행하세요"),
        );
    }
    if lines.is_empty() {
        return Outcome::failed(
            "lab2-trap got SIGTERM but its log has no \"caught SIGTERM\" after it: give it a second (sleep 1 must finish before the shell runs its handler), then check again",
            "lab2-trap이 SIGTERM을 받았지만 로그에 그 뒤의 \"caught SIGTERM\"이 없습니다: 1초 기다린 뒤(셸은 sleep 1이 끝나야 핸들러를 실행합니다) 다시 확인하세요",
        );
    }
    let n = lines.len();
    Outcome::passed(
        format!("SigCgt has SIGTERM; its handler answered {n} SIGTERM(s) and it runs on"),
        format!("SigCgt에 SIGTERM이 있고, 핸들러가 SIGTERM에 {n}번 응답했으며 계속 실행 중입니다"),
    )
}

/// When each "caught SIGTERM" line of the container's log was written (pier's timestamp).
fn caught_lines(ctx: &Ctx, rec: &ContainerRecord) -> Result<Vec<SystemTime>> {
    let path = ctx.engine().paths(&rec.id).log();
    if !path.exists() {
        return Ok(Vec::new());
    }
    let mut reader = LogReader::from_start(&path)?;
    let mut out = Vec::new();
    while let Some(line) = reader.next_line()? {
        if line.text.contains("caught SIGTERM") {
            let at = pier_oci::time::parse_rfc3339(&line.time)
                .with_context(|| format!("the time of a line of {}", path.display()))?;
            out.push(at);
        }
    }
    Ok(out)
}
