//! Lab 13: the protections a container gets (capabilities, seccomp, a read-only root), then
//! three broken containers to fix, checked by their end state: a script without its exec
//! bit, a port not published, a job killed by the OOM killer.

use super::ensure_busybox;
use crate::context::Ctx;
use crate::lab::{Lab, Outcome, Task};
use crate::probe;
use crate::text::{self, josa, tr, Josa, Msg};
use anyhow::{Context, Result};
use pier_engine::container::events::Action;
use pier_engine::container::record::ContainerRecord;
use pier_engine::network::portmap::{parse_publish, Protocol};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const N: u32 = 13;

/// The host port lab13-web must be reachable on.
pub const PORT: u16 = 8013;

/// The broken Dockerfile `pier lab start 13` writes: the script is copied without its exec bit.
pub const DOCKERFILE: &str = "FROM busybox\nCOPY start.sh /start.sh\nCMD [\"/start.sh\"]\n";

/// The script the image runs, with the code `pier lab start 13` plants in it: only an image
/// built from this start's script prints it.
fn start_sh(code: &str) -> String {
    format!("#!/bin/sh\necho lab13 app started: {code}\n")
}

/// The file of the lab's directory that names the capability lab13-nocap keeps.
const CAPABILITY_FILE: &str = "capability";

/// Where `pier lab start 13` keeps what it planted (the capability, the script's code), for
/// the checks.
const PLANTED_FILE: &str = ".planted";

/// The capabilities `pier lab start 13` picks from (name as `--cap-add` takes it, kernel bit):
/// Docker's default set less `CHOWN`, which step 1's `chown` shows missing.
const CAPABILITIES: &[(&str, u32)] = &[
    ("DAC_OVERRIDE", 1),
    ("FOWNER", 3),
    ("FSETID", 4),
    ("KILL", 5),
    ("SETGID", 6),
    ("SETUID", 7),
    ("SETPCAP", 8),
    ("NET_BIND_SERVICE", 10),
    ("NET_RAW", 13),
    ("SYS_CHROOT", 18),
    ("MKNOD", 27),
    ("AUDIT_WRITE", 29),
    ("SETFCAP", 31),
];

/// The job that needs more than 16 MiB: it keeps 48 MiB in /dev/shm (tmpfs, charged to its cgroup).
pub const JOB: &str = "head -c 48m /dev/zero > /dev/shm/data && echo done";

/// The lab.
pub fn lab() -> Lab {
    Lab {
        number: N,
        slug: "13-security",
        title: tr(
"Security and troubleshooting",
"보안과 문제 해결",
),
        minutes: 45,
        host_ports: &[PORT],
        networks: &[],
        needs: None,
        prepare,
        tasks: vec![
            Task {
                id: "caps",
                title: tr(
"lab13-nocap keeps only the capability in the lab's capability file, and you read its CapEff",
"lab13-nocap이 실습 디렉터리의 capability 파일에 적힌 케이퍼빌리티(capability) 하나만 갖고, 그 CapEff를 읽었다",
),
                after: &[],
                answer: Some("capeff"),
                hint: tr(
"In pier lab dir 13: pier run -d --name lab13-nocap --cap-drop ALL --cap-add \"$(cat capability)\" busybox sleep 3600, then pier exec lab13-nocap grep CapEff /proc/self/status: pier lab answer 13 capeff <HEX>",
"pier lab dir 13 안에서 pier run -d --name lab13-nocap --cap-drop ALL --cap-add \"$(cat capability)\" busybox sleep 3600 한 다음 pier exec lab13-nocap grep CapEff /proc/self/status: pier lab answer 13 capeff <HEX>",
),
                check: caps,
            },
            Task {
                id: "unshare",
                title: tr(
"lab13-unshare tried to make a namespace and was refused",
"lab13-unshare가 네임스페이스를 만들려다 거부되었다",
),
                after: &[],
                answer: None,
                hint: tr(
"pier run --name lab13-unshare busybox unshare -n true: the kernel must refuse it (Operation not permitted)",
"pier run --name lab13-unshare busybox unshare -n true: 커널이 거부해야 합니다 (Operation not permitted)",
),
                check: unshare,
            },
            Task {
                id: "readonly",
                title: tr(
"lab13-ro could not write to its read-only root",
"lab13-ro가 읽기 전용 루트에 쓰지 못했다",
),
                after: &[],
                answer: None,
                hint: tr(
"pier run --name lab13-ro --read-only busybox touch /etc/hacked: the kernel must refuse it (Read-only file system)",
"pier run --name lab13-ro --read-only busybox touch /etc/hacked: 커널이 거부해야 합니다 (Read-only file system)",
),
                check: readonly,
            },
            Task {
                id: "exec",
                title: tr(
"lab13-app:fixed runs the lab's start.sh",
"lab13-app:fixed가 실습의 start.sh를 실행한다",
),
                after: &[],
                answer: None,
                hint: tr(
"The Dockerfile in pier lab dir 13 copies start.sh without the exec bit: add RUN chmod +x /start.sh, then pier build -t lab13-app:fixed . in that directory",
"pier lab dir 13의 Dockerfile은 start.sh를 실행 비트 없이 복사합니다: RUN chmod +x /start.sh 를 추가한 다음 그 디렉터리에서 pier build -t lab13-app:fixed . 하세요",
),
                check: exec,
            },
            Task {
                id: "port",
                title: tr(
"lab13-web answers on host port 8013",
"lab13-web이 호스트 포트 8013에서 응답한다",
),
                after: &[],
                answer: None,
                hint: tr(
"The server listens on port 80 inside, but nothing was published: run it again with -p 8013:80",
"서버는 안에서 80번 포트로 듣지만 아무것도 공개되지 않았습니다: -p 8013:80 으로 다시 실행하세요",
),
                check: port,
            },
            Task {
                id: "oom",
                title: tr(
"lab13-oom was killed at 16 MiB, then ran to the end with more memory",
"lab13-oom이 16 MiB에서 종료된 뒤, 메모리를 늘려 끝까지 실행되었다",
),
                after: &[],
                answer: None,
                hint: tr(
"Run the job of step 6 with --memory 16m (killed: exit 137), then pier rm lab13-oom and run it again with --memory 128m",
"6단계의 작업을 --memory 16m 으로 실행하고(종료: exit 137), pier rm lab13-oom 한 다음 --memory 128m 으로 다시 실행하세요",
),
                check: oom,
            },
        ],
    }
}

fn prepare(ctx: &Ctx) -> Result<()> {
    ensure_busybox(ctx)?;
    let dir = ctx.workdir(N);
    // A new capability and a new code at every start: an answer copied from another machine
    // or an earlier start does not fit this one.
    let seed = pier_engine::naming::new_id()?;
    let pick = usize::from_str_radix(&seed[..4], 16).unwrap_or(0) % CAPABILITIES.len();
    let (capability, _) = CAPABILITIES[pick];
    let code = &seed[4..12];
    let planted = format!("capability {capability}\ncode {code}\n");
    for (name, content) in [
        ("Dockerfile", DOCKERFILE.to_string()),
        ("start.sh", start_sh(code)),
        (CAPABILITY_FILE, format!("{capability}\n")),
        (PLANTED_FILE, planted),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, content).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// What `pier lab start 13` planted under `key`, or a reason to start the lab again.
fn planted(ctx: &Ctx, key: &str) -> Result<String> {
    let path = ctx.workdir(N).join(PLANTED_FILE);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            Msg::new(
                format!(
                    "{} is missing or damaged: run `pier lab start 13` again",
                    path.display()
                ),
                format!(
                    "{} 파일이 없거나 손상되었습니다: `pier lab start 13`을 다시 실행하세요",
                    path.display()
                ),
            )
            .into()
        })
}

/// "종료 코드 N으로/로": the exit code with the particle that fits its last digit.
fn exit_code_ko(code: i32) -> String {
    josa(&format!("종료 코드 {code}"), Josa::EuroRo)
}

/// A check written with `?`: its lookups' reasons become the failure.
fn checked(check: impl FnOnce() -> Result<Outcome>) -> Outcome {
    check().unwrap_or_else(Outcome::from)
}

/// One capability set of process `pid` (`CapEff`, `CapBnd`: a line of its status).
fn cap_set(pid: i32, field: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .with_context(|| format!("{path} has no {field} line"))
}

fn caps(ctx: &Ctx) -> Outcome {
    checked(|| {
        let name = planted(ctx, "capability")?;
        let Some(&(_, bit)) = CAPABILITIES.iter().find(|(c, _)| *c == name) else {
            return Ok(Outcome::failed(
                format!("the lab planted an unknown capability {name:?}: run `pier lab start 13` again"),
                format!(
                    "실습이 알 수 없는 케이퍼빌리티 {} 심어 두었습니다: `pier lab start 13`을 다시 실행하세요",
                    josa(&format!("{name:?}"), Josa::EulReul)
                ),
            ));
        };
        let (_, pid) = ctx.running("lab13-nocap")?;
        // The live process, not the record: what the kernel lets it do.
        let (eff, bnd) = (cap_set(pid, "CapEff")?, cap_set(pid, "CapBnd")?);
        let want = 1u64 << bit;
        if eff != want || bnd != want {
            return Ok(Outcome::failed(
                format!(
                    "lab13-nocap holds CapEff {eff:016x} (bounding set {bnd:016x}), not {name} alone: run it with --cap-drop ALL --cap-add {name}"
                ),
                format!(
                    "lab13-nocap의 CapEff는 {eff:016x}, 바운딩 집합은 {bnd:016x}입니다. {name} 하나만 가진 것이 아닙니다: --cap-drop ALL --cap-add {name} 옵션으로 실행하세요"
                ),
            ));
        }
        let given = ctx.answer(N, "capeff")?;
        let hex = given.trim().trim_start_matches("CapEff:").trim();
        Ok(
            match u64::from_str_radix(hex.trim_start_matches("0x"), 16) {
                Ok(v) if v == eff => Outcome::passed(
                    format!("CapEff {eff:016x}: {name}"),
                    format!("CapEff {eff:016x}: {name}"),
                ),
                Ok(_) => Outcome::failed(
                    format!(
                        "{given} is not lab13-nocap's CapEff: read /proc/self/status inside it"
                    ),
                    format!(
                    "{} lab13-nocap의 CapEff가 아닙니다: 그 안에서 /proc/self/status를 읽으세요",
                    josa(&given, Josa::EunNeun)
                ),
                ),
                Err(_) => Outcome::failed(
                    format!("{given:?} is not a hexadecimal capability set"),
                    format!(
                        "{} 16진수 케이퍼빌리티 집합이 아닙니다",
                        josa(&format!("{given:?}"), Josa::EunNeun)
                    ),
                ),
            },
        )
    })
}

/// The program a container ran, by its name (`unshare` for `/bin/unshare`).
fn program(rec: &ContainerRecord) -> &str {
    let first = rec.args.first().map(String::as_str).unwrap_or_default();
    first.rsplit('/').next().unwrap_or(first)
}

/// Whether the container ran from the lab's busybox image: its applets print the kernel's
/// refusals as they are, and nothing else of their own.
fn from_busybox(ctx: &Ctx, rec: &ContainerRecord) -> Result<bool> {
    Ok(ctx.image("busybox")?.id == rec.image_id)
}

/// The container's output (pier logs a foreground run not started with --rm).
fn output(ctx: &Ctx, rec: &ContainerRecord) -> Result<String> {
    ctx.log(rec)?.ok_or_else(|| {
        Msg::new(
            format!(
                "pier kept no output of {}: run it again in the foreground, without --rm",
                rec.name
            ),
            format!(
                "pier가 {}의 출력을 남기지 않았습니다: --rm 없이 포그라운드로 다시 실행하세요",
                rec.name
            ),
        )
        .into()
    })
}

/// The pass of a refusal: the line of `out` where a busybox applet reports the kernel refusing
/// `call` with `error` (`unshare(` … `Operation not permitted`), in a run that failed.
fn refused(out: &str, code: i32, call: &str, error: &str) -> Option<Outcome> {
    let line = out
        .lines()
        .find(|l| l.contains(call) && l.contains(error))?
        .trim();
    (code != 0).then(|| {
        Outcome::passed(
            format!("{line}, exit code {code}"),
            format!("{line}, 종료 코드 {code}"),
        )
    })
}

fn unshare(ctx: &Ctx) -> Outcome {
    checked(|| {
        let (rec, code) = ctx.exited("lab13-unshare")?;
        if program(&rec) != "unshare" || !from_busybox(ctx, &rec)? {
            return Ok(Outcome::failed(
                format!(
                    "lab13-unshare ran {:?} from {}: it should run busybox's unshare itself (pier run --name lab13-unshare busybox unshare -n true)",
                    rec.args, rec.image
                ),
                format!(
                    "lab13-unshare는 {}에서 {} 실행했습니다: busybox의 unshare 자체를 실행해야 합니다 (pier run --name lab13-unshare busybox unshare -n true)",
                    rec.image,
                    josa(&format!("{:?}", rec.args), Josa::EulReul)
                ),
            ));
        }
        if rec
            .config
            .cap_add
            .iter()
            .any(|c| c.eq_ignore_ascii_case("ALL") || c.to_ascii_uppercase().ends_with("SYS_ADMIN"))
        {
            return Ok(Outcome::failed(
                "lab13-unshare was given CAP_SYS_ADMIN: the point is to see the default refuse it",
                "lab13-unshare에 CAP_SYS_ADMIN을 주었습니다: 기본 설정이 거부하는 것을 보는 것이 요점입니다",
            ));
        }
        // The kernel's EPERM, as the applet printed it: exit codes and a `false` cannot show it.
        let out = output(ctx, &rec)?;
        if let Some(pass) = refused(&out, code, "unshare(", "Operation not permitted") {
            return Ok(pass);
        }
        Ok(Outcome::failed(
            format!(
                "lab13-unshare exited with code {code} and its output shows no refused unshare(…): Operation not permitted: give unshare a namespace to make (-n)"
            ),
            format!(
                "lab13-unshare는 {} 끝났고, 출력에 거부된 unshare(…): Operation not permitted가 없습니다: unshare에 만들 네임스페이스를 주세요 (-n)",
                exit_code_ko(code)
            ),
        ))
    })
}

/// Whether `path` lies under a bind mount, volume or tmpfs of the container: a refusal there
/// says nothing of its root.
fn under_mount(rec: &ContainerRecord, path: &str) -> bool {
    let path = Path::new(path);
    rec.config
        .volumes
        .iter()
        .map(|m| m.destination.as_path())
        .chain(
            rec.config
                .volume_mounts
                .iter()
                .map(|m| m.destination.as_path()),
        )
        .chain(rec.config.tmpfs.iter().map(|m| m.destination.as_path()))
        .any(|d| path.starts_with(d))
}

fn readonly(ctx: &Ctx) -> Outcome {
    checked(|| {
        let (rec, code) = ctx.exited("lab13-ro")?;
        if !rec.config.read_only {
            return Ok(Outcome::failed(
                "lab13-ro ran without --read-only",
                "lab13-ro가 --read-only 없이 실행되었습니다",
            ));
        }
        let target = "/etc/hacked";
        let writes = matches!(program(&rec), "touch" | "mkdir")
            && rec.args.iter().skip(1).any(|a| a == target);
        if !writes || !from_busybox(ctx, &rec)? {
            return Ok(Outcome::failed(
                format!(
                    "lab13-ro ran {:?} from {}: it should try busybox's touch {target}",
                    rec.args, rec.image
                ),
                format!(
                    "lab13-ro는 {}에서 {} 실행했습니다: busybox의 touch {target} 명령을 시도해야 합니다",
                    rec.image,
                    josa(&format!("{:?}", rec.args), Josa::EulReul),
                ),
            ));
        }
        if under_mount(&rec, target) {
            return Ok(Outcome::failed(
                format!("{target} is on a mount of lab13-ro, not on its root: run it without -v or --tmpfs"),
                format!(
                    "{target} 경로는 lab13-ro의 루트가 아니라 별도 마운트에 있습니다: -v나 --tmpfs 없이 실행하세요"
                ),
            ));
        }
        // EROFS, as touch printed it: only a read-only filesystem gives that error.
        let out = output(ctx, &rec)?;
        if let Some(pass) = refused(&out, code, target, "Read-only file system") {
            return Ok(pass);
        }
        Ok(Outcome::failed(
            format!(
                "lab13-ro exited with code {code} and its output shows no {target}: Read-only file system: its root was not read-only"
            ),
            format!(
                "lab13-ro는 {} 끝났고, 출력에 {target}: Read-only file system이 없습니다: 루트가 읽기 전용이 아니었습니다",
                exit_code_ko(code)
            ),
        ))
    })
}

/// Whether an image's command (entrypoint then cmd) runs /start.sh: as the program, or as
/// the script a shell reads (`sh /start.sh`, which needs no exec bit).
fn runs_start_sh(command: &[String]) -> bool {
    match command {
        [program, ..] if program == "/start.sh" => true,
        [shell, script, ..] => {
            matches!(shell.as_str(), "sh" | "/bin/sh" | "bash" | "/bin/bash")
                && script == "/start.sh"
        }
        _ => false,
    }
}

fn exec(ctx: &Ctx) -> Outcome {
    checked(|| {
        let code = planted(ctx, "code")?;
        let image = ctx.image("lab13-app:fixed")?;
        let command: Vec<String> = image
            .config
            .config()
            .as_ref()
            .map(|c| {
                let entrypoint = c.entrypoint().clone().unwrap_or_default();
                entrypoint
                    .into_iter()
                    .chain(c.cmd().clone().unwrap_or_default())
                    .collect()
            })
            .unwrap_or_default();
        if !runs_start_sh(&command) {
            return Ok(Outcome::failed(
                format!("lab13-app:fixed runs {command:?}, not /start.sh: keep the lab's CMD [\"/start.sh\"]"),
                format!(
                    "lab13-app:fixed는 /start.sh가 아니라 {} 실행합니다: 실습의 CMD [\"/start.sh\"]를 그대로 두세요",
                    josa(&format!("{command:?}"), Josa::EulReul)
                ),
            ));
        }
        // The checker runs the image itself: only a working image passes, and only one built
        // from this start's start.sh prints its code.
        let out = Command::new(ctx.pier())
            .arg("--root")
            .arg(ctx.root())
            .args(["run", "--rm", "--name", "lab13-checker", "lab13-app:fixed"])
            .stdin(std::process::Stdio::null())
            .output()
            .context("running pier run lab13-app:fixed")?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let started = format!("lab13 app started: {code}");
        Ok(if out.status.success() && stdout.contains(&started) {
            Outcome::passed(started.clone(), started)
        } else if stderr.contains("ermission denied") || out.status.code() == Some(126) {
            Outcome::failed(
                "/start.sh is still not executable in lab13-app:fixed: RUN chmod +x /start.sh after the COPY",
                "lab13-app:fixed의 /start.sh는 여전히 실행할 수 없습니다: COPY 뒤에 RUN chmod +x /start.sh를 넣으세요",
            )
        } else if out.status.success() {
            Outcome::failed(
                format!(
                    "lab13-app:fixed printed {:?}, not the line of this start's start.sh: build it from pier lab dir 13",
                    stdout.trim()
                ),
                format!(
                    "lab13-app:fixed는 이번 시작의 start.sh가 출력하는 줄이 아니라 {} 출력했습니다: pier lab dir 13에서 빌드하세요",
                    josa(&format!("{:?}", stdout.trim()), Josa::EulReul)
                ),
            )
        } else {
            let code = out.status.code().map_or("-".to_string(), |c| c.to_string());
            Outcome::failed(
                format!("pier run lab13-app:fixed exited {code}: {}", stderr.trim()),
                format!(
                    "pier run lab13-app:fixed가 {} 끝났습니다: {}",
                    josa(&format!("종료 코드 {code}"), Josa::EuroRo),
                    stderr.trim()
                ),
            )
        })
    })
}

/// The container port lab13-web publishes on host port [`PORT`] (TCP), if it does.
fn published(rec: &ContainerRecord) -> Option<u16> {
    rec.config
        .publish
        .iter()
        .filter_map(|spec| parse_publish(spec).ok())
        .flatten()
        .find(|m| m.protocol == Protocol::Tcp && m.host_port == PORT)
        .map(|m| m.container_port)
}

fn port(ctx: &Ctx) -> Outcome {
    checked(|| {
        let (rec, pid) = ctx.running("lab13-web")?;
        let Some(inside) = published(&rec) else {
            return Ok(Outcome::failed(
                format!(
                    "lab13-web publishes nothing on host port {PORT} (pier port lab13-web): run it again with -p {PORT}:80"
                ),
                format!(
                    "lab13-web은 호스트 포트 {PORT}에 아무것도 공개하지 않습니다 (pier port lab13-web): -p {PORT}:80 옵션으로 다시 실행하세요"
                ),
            ));
        };
        let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, PORT));
        let Ok(mut conn) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
            return Ok(Outcome::failed(
                format!("nothing answers on 127.0.0.1:{PORT}: is lab13-web's server listening on port {inside} inside?"),
                format!(
                    "127.0.0.1:{PORT}에서 아무것도 응답하지 않습니다: lab13-web의 서버가 안에서 {inside}번 포트로 듣고 있나요?"
                ),
            ));
        };
        // What answered must be lab13-web: the kernel's table of its network namespace holds
        // the server's end of this very connection (a server on the host would not).
        let from = conn
            .local_addr()
            .context("reading the checker's own address")?
            .port();
        if !probe::accepted(pid, inside, from)? {
            return Ok(Outcome::failed(
                format!(
                    "what answers on 127.0.0.1:{PORT} is not lab13-web: its network namespace holds no connection on port {inside} from the checker"
                ),
                format!(
                    "127.0.0.1:{PORT}에서 응답하는 것은 lab13-web이 아닙니다: 그 네트워크 네임스페이스에 채점기가 연 {inside}번 포트 연결이 없습니다"
                ),
            ));
        }
        let page = probe::http_request(&mut conn, addr, "/").unwrap_or_default();
        Ok(if page.contains("lab13") {
            Outcome::passed(
                format!("127.0.0.1:{PORT} is lab13-web's port {inside}"),
                format!(
                    "{} lab13-web의 {inside}번 포트입니다",
                    josa(&format!("127.0.0.1:{PORT}"), Josa::EunNeun)
                ),
            )
        } else {
            Outcome::failed(
                format!("lab13-web answers on 127.0.0.1:{PORT}, but not with the lab's page (hello from lab13)"),
                format!(
                    "lab13-web이 127.0.0.1:{PORT}에서 응답하지만, 실습의 페이지(hello from lab13)가 아닙니다"
                ),
            )
        })
    })
}

/// Whether the kernel's log reports an OOM kill in the memory cgroup of container `id`:
/// `oom-kill:…,oom_memcg=/…/<id>,…` (Linux 4.19 and later) or `Task in /…/<id> killed as a
/// result of limit of …` (older kernels).
fn oom_reported(kernel: &[String], id: &str) -> bool {
    !id.is_empty()
        && kernel.iter().any(|l| {
            l.contains(id)
                && (l.starts_with("oom-kill:") || l.contains("killed as a result of limit"))
        })
}

fn oom(ctx: &Ctx) -> Outcome {
    checked(|| {
        let events = ctx.events(N, "lab13-oom")?;
        let killed: Vec<&str> = events
            .iter()
            .filter(|e| e.action == Action::Die && e.oom_killed)
            .map(|e| e.id.as_str())
            .collect();
        if killed.is_empty() {
            return Ok(Outcome::failed(
                format!(
                    "pier's event log shows no OOM kill of lab13-oom: run the job with --memory 16m first and watch it die {}",
                    text::before_start(text::Lang::En, N)
                ),
                format!(
                    "pier의 이벤트 기록에 lab13-oom의 OOM 종료가 없습니다: 먼저 --memory 16m으로 작업을 실행해 종료되는 것을 보세요 {}",
                    text::before_start(text::Lang::Ko, N)
                ),
            ));
        }
        // pier's log is a file anyone root can append to; the kernel's own report of the kill
        // names the memory cgroup, and so the container, it happened in.
        let kernel = probe::kernel_log()?;
        if !killed.iter().any(|id| oom_reported(&kernel, id)) {
            return Ok(Outcome::failed(
                "pier's event log shows an OOM kill of lab13-oom, but the kernel's log (dmesg) reports none in its memory cgroup: run the job with --memory 16m again",
                "pier의 이벤트 기록에는 lab13-oom의 OOM 종료가 있지만, 커널 로그(dmesg)에는 그 메모리 cgroup에서 일어난 OOM 종료가 없습니다: --memory 16m으로 작업을 다시 실행하세요",
            ));
        }
        let (rec, code) = ctx.exited("lab13-oom")?;
        if !rec.args.iter().any(|a| a == JOB) {
            return Ok(Outcome::failed(
                format!("lab13-oom ran {:?}, not the job of step 6", rec.args),
                format!(
                    "lab13-oom은 6단계의 작업이 아니라 {} 실행했습니다",
                    josa(&format!("{:?}", rec.args), Josa::EulReul)
                ),
            ));
        }
        if rec.oom_killed || code != 0 {
            let (en, ko) = if rec.oom_killed {
                (" (OOM-killed)", " (OOM으로 종료)")
            } else {
                ("", "")
            };
            return Ok(Outcome::failed(
                format!("lab13-oom exited with code {code}{en}: give it more memory"),
                format!(
                    "lab13-oom이 {} 끝났습니다{ko}: 메모리를 더 주세요",
                    exit_code_ko(code)
                ),
            ));
        }
        Ok(match rec.config.limits.memory {
            Some(m) => Outcome::passed(
                format!("finished under {} MiB", m >> 20),
                format!("{} MiB 제한 안에서 끝남", m >> 20),
            ),
            None => Outcome::failed(
                "lab13-oom finished without --memory: fix the limit, do not remove it",
                "lab13-oom이 --memory 없이 끝났습니다: 제한을 없애지 말고 고치세요",
            ),
        })
    })
}
