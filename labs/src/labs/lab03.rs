//! Lab 3: cgroups — an OOM kill at a memory limit, a CPU quota and its throttling, a fork
//! bomb stopped by a PID limit; cgroup v1 and v2 file names.

use super::{ensure_busybox, number};
use crate::context::Ctx;
use crate::lab::{Lab, Outcome, Task};
use crate::text::{self, josa, tr, Josa};
use pier_engine::container::inspect::StatsSample;
use pier_engine::container::record::ContainerRecord;
use pier_engine::units::parse_size;
use std::path::Path;
use std::time::Duration;

const N: u32 = 3;

/// The lab.
pub fn lab() -> Lab {
    Lab {
        number: N,
        slug: "03-cgroups",
        title: tr(
            "cgroups: limits you can watch",
            "컨트롤 그룹(cgroup): 눈으로 보는 제한",
        ),
        minutes: 40,
        host_ports: &[],
        networks: &[],
        needs: None,
        prepare: ensure_busybox,
        tasks: vec![
            Task {
                id: "oom",
                title: tr(
                    "lab3-oom was killed by the kernel at a 16 MiB limit (exit 137)",
                    "lab3-oom이 16 MiB 제한에서 커널에 의해 종료되었다(종료 코드 137)",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "pier run --name lab3-oom --memory 16m busybox tail /dev/zero  (tail keeps the never-ending line in memory)",
                    "pier run --name lab3-oom --memory 16m busybox tail /dev/zero  (tail은 끝나지 않는 한 줄을 메모리에 쌓습니다)",
                ),
                check: oom,
            },
            Task {
                id: "quota",
                title: tr(
                    "lab3-cpu spins two loops under a quota of half a CPU",
                    "lab3-cpu가 CPU 0.5개 할당량 아래에서 루프 두 개를 돌린다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "pier run -d --name lab3-cpu --cpus 0.5 busybox sh -c 'while :; do :; done & while :; do :; done'",
                    "pier run -d --name lab3-cpu --cpus 0.5 busybox sh -c 'while :; do :; done & while :; do :; done'",
                ),
                check: quota,
            },
            Task {
                id: "file",
                title: tr(
                    "you found the file of lab3-cpu's cgroup that holds its CPU quota",
                    "lab3-cpu의 cgroup에서 CPU 할당량이 담긴 파일을 찾았다",
                ),
                after: &["quota"],
                answer: Some("quota-file"),
                hint: tr(
                    "pier system info names the cgroup version, pier inspect lab3-cpu the cgroup's directories; the quota is in cpu.max (v2) or cpu.cfs_quota_us (v1): pier lab answer 3 quota-file <PATH>",
                    "pier system info가 cgroup 버전을, pier inspect lab3-cpu가 cgroup 디렉터리를 알려 줍니다. 할당량은 cpu.max(v2) 또는 cpu.cfs_quota_us(v1)에 있습니다: pier lab answer 3 quota-file <PATH>",
                ),
                check: quota_file,
            },
            Task {
                id: "throttled",
                title: tr(
                    "the kernel throttled lab3-cpu",
                    "커널이 lab3-cpu를 스로틀링했다",
                ),
                after: &["quota"],
                answer: None,
                hint: tr(
                    "Let it run a few seconds; the cpu.stat file of its cgroup counts nr_throttled",
                    "몇 초 동안 실행되게 두세요. 그 cgroup의 cpu.stat 파일이 nr_throttled를 셉니다",
                ),
                check: throttled,
            },
            Task {
                id: "stats",
                title: tr(
                    "you read lab3-cpu's CPU use in pier stats",
                    "pier stats에서 lab3-cpu의 CPU 사용량을 읽었다",
                ),
                after: &["quota"],
                answer: Some("cpu"),
                hint: tr(
                    "pier stats --no-stream lab3-cpu; record the CPU % column: pier lab answer 3 cpu 49.8",
                    "pier stats --no-stream lab3-cpu; CPU % 열을 기록하세요: pier lab answer 3 cpu 49.8",
                ),
                check: stats,
            },
            Task {
                id: "mem",
                title: tr(
                    "you read lab3-cpu's memory use in pier stats",
                    "pier stats에서 lab3-cpu의 메모리 사용량을 읽었다",
                ),
                after: &["quota"],
                answer: Some("mem"),
                hint: tr(
                    "The MEM USAGE column of the same line, with its unit: pier lab answer 3 mem 612KiB",
                    "같은 줄의 MEM USAGE 열을 단위와 함께: pier lab answer 3 mem 612KiB",
                ),
                check: mem,
            },
            Task {
                id: "bomb",
                title: tr(
                    "a fork bomb in lab3-bomb hit its PID limit of 20",
                    "lab3-bomb 안의 포크 폭탄이 PID 제한 20에 걸렸다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "pier run -d --name lab3-bomb --pids-limit 20 busybox sh -c 'bomb() { bomb | bomb & }; bomb & exec sleep 3600'",
                    "pier run -d --name lab3-bomb --pids-limit 20 busybox sh -c 'bomb() { bomb | bomb & }; bomb & exec sleep 3600'",
                ),
                check: bomb,
            },
            Task {
                id: "device",
                title: tr(
                    "lab3-dev made a device node for the host's first disk but could not open it",
                    "lab3-dev가 호스트의 첫 번째 디스크 장치 노드를 만들었지만 열지 못했다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "pier run --name lab3-dev busybox sh -c 'mknod /disk b 8 0 && head -c 512 /disk'   (it must fail: Operation not permitted)",
                    "pier run --name lab3-dev busybox sh -c 'mknod /disk b 8 0 && head -c 512 /disk'   (실패해야 합니다: Operation not permitted)",
                ),
                check: device,
            },
        ],
    }
}

/// The file holding a cgroup's CPU quota, by version.
fn quota_file_name(version: u8) -> &'static str {
    if version == 2 {
        "cpu.max"
    } else {
        "cpu.cfs_quota_us"
    }
}

/// The answer is a path only this container has (its cgroup is named by its ID) and whose
/// file name depends on the version this machine uses: neither guessed nor copied from a
/// neighbour. Both paths are the host's own (`/sys/fs/cgroup`), compared once resolved (v1's
/// `cpu` is a link to `cpu,cpuacct`).
fn quota_file(ctx: &Ctx) -> Outcome {
    let given = match ctx.answer(N, "quota-file") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let (rec, _) = match ctx.running("lab3-cpu") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    let Some(cg) = rec.cgroup.as_ref() else {
        return Outcome::failed(
            "lab3-cpu has no cgroup (is it running?)",
            "lab3-cpu에 cgroup이 없습니다 (실행 중인가요?)",
        );
    };
    let version = cg.version();
    let name = quota_file_name(version);
    let Some(dir) = cg.cgroup_dir("cpu") else {
        return Outcome::Fail(text::machine_error("the cpu controller is not mounted"));
    };
    let real = dir.join(name);
    let resolve = |p: &Path| std::fs::canonicalize(p).ok();
    let given_path = Path::new(given.trim_end_matches('/'));
    if resolve(given_path).is_some_and(|g| Some(g) == resolve(&real)) {
        return Outcome::passed(
            format!("cgroup v{version}: {}", real.display()),
            format!("cgroup v{version}: {}", real.display()),
        );
    }
    let other = quota_file_name(if version == 2 { 1 } else { 2 });
    if given_path.file_name().and_then(|n| n.to_str()) == Some(other) {
        return Outcome::failed(
            format!("{other} is the file of the other cgroup version; this machine uses v{version} (pier system info), whose file is {name}"),
            format!(
                "{} 다른 cgroup 버전의 파일입니다. 이 컴퓨터는 {} 쓰고(pier system info), 그 파일은 {name}입니다",
                josa(other, Josa::EunNeun),
                josa(&format!("v{version}"), Josa::EulReul)
            ),
        );
    }
    if resolve(given_path).is_some_and(|g| Some(g) == resolve(&dir)) {
        return Outcome::failed(
            format!("that is lab3-cpu's cgroup directory; give the file in it that holds the quota ({name})"),
            format!("그것은 lab3-cpu의 cgroup 디렉터리입니다. 그 안에서 할당량이 담긴 파일({name})을 적으세요"),
        );
    }
    Outcome::failed(
        format!("{given} is not the quota file of lab3-cpu's cgroup (pier inspect lab3-cpu shows its directory)"),
        format!(
            "{} lab3-cpu의 cgroup에 있는 할당량 파일이 아닙니다 (pier inspect lab3-cpu가 그 디렉터리를 보여 줍니다)",
            josa(&given, Josa::EunNeun)
        ),
    )
}

fn oom(ctx: &Ctx) -> Outcome {
    let (rec, code) = match ctx.exited("lab3-oom") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    match rec.config.limits.memory {
        Some(m) if m <= 16 << 20 => {}
        Some(m) => {
            let mib = m >> 20;
            return Outcome::failed(
                format!("lab3-oom ran with --memory {mib} MiB; use 16m"),
                format!("lab3-oom이 --memory {mib} MiB로 실행되었습니다. 16m을 쓰세요"),
            );
        }
        None => {
            return Outcome::failed(
                "lab3-oom ran without --memory: nothing limited it",
                "lab3-oom이 --memory 없이 실행되어 아무것도 제한하지 않았습니다",
            )
        }
    }
    if code == 137 && rec.oom_killed {
        Outcome::passed("exit 137, OOM-killed", "종료 코드 137, OOM으로 종료됨")
    } else if code == 137 {
        Outcome::failed(
            "exit 137 means SIGKILL, but not from the OOM killer: did you `pier kill` it?",
            "종료 코드 137은 SIGKILL을 뜻하지만 OOM 킬러가 보낸 것이 아닙니다: `pier kill`로 죽이지 않았나요?",
        )
    } else {
        Outcome::failed(
            format!("lab3-oom exited with {code}; a command that keeps allocating (tail /dev/zero) gets 137"),
            format!("lab3-oom의 종료 코드가 {code}입니다. 메모리를 계속 할당하는 명령(tail /dev/zero)은 137을 받습니다"),
        )
    }
}

/// The CPU quota of a running container as a fraction of one CPU, read from its cgroup.
fn cpu_fraction(ctx: &Ctx, rec: &ContainerRecord) -> anyhow::Result<Option<f64>> {
    let v2 = rec.cgroup.as_ref().map(|c| c.version()) == Some(2);
    let (quota, period) = if v2 {
        // cpu.max: "QUOTA PERIOD" or "max PERIOD".
        let text = ctx.cgroup_file(rec, "cpu", "cpu.max")?;
        let mut f = text.split_whitespace();
        (
            f.next().unwrap_or("max").to_string(),
            f.next().unwrap_or("100000").to_string(),
        )
    } else {
        (
            ctx.cgroup_file(rec, "cpu", "cpu.cfs_quota_us")?,
            ctx.cgroup_file(rec, "cpu", "cpu.cfs_period_us")?,
        )
    };
    match (quota.parse::<f64>(), period.parse::<f64>()) {
        (Ok(q), Ok(p)) if q > 0.0 && p > 0.0 => Ok(Some(q / p)),
        _ => Ok(None),
    }
}

fn quota(ctx: &Ctx) -> Outcome {
    let (rec, _) = match ctx.running("lab3-cpu") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    match cpu_fraction(ctx, &rec) {
        Ok(Some(f)) if (f - 0.5).abs() < 0.01 => Outcome::passed(
            "quota 50000 µs per 100000 µs period",
            "주기 100000 µs마다 할당량 50000 µs",
        ),
        Ok(Some(f)) => Outcome::failed(
            format!("its cgroup allows {f:.2} CPU, not 0.5 (use --cpus 0.5)"),
            format!("그 cgroup은 CPU 0.5개가 아니라 {f:.2}개를 허용합니다 (--cpus 0.5를 쓰세요)"),
        ),
        Ok(None) => Outcome::failed(
            "its cgroup has no CPU quota: run it with --cpus 0.5",
            "그 cgroup에 CPU 할당량이 없습니다: --cpus 0.5로 실행하세요",
        ),
        Err(e) => e.into(),
    }
}

fn throttled(ctx: &Ctx) -> Outcome {
    let (rec, _) = match ctx.running("lab3-cpu") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    let stat = match ctx.cgroup_file(&rec, "cpu", "cpu.stat") {
        Ok(s) => s,
        Err(e) => return e.into(),
    };
    let n: u64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("nr_throttled "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    if n > 0 {
        Outcome::passed(format!("nr_throttled {n}"), format!("nr_throttled {n}"))
    } else {
        Outcome::failed(
            "cpu.stat says nr_throttled 0: are both loops spinning? Give it a few seconds",
            "cpu.stat의 nr_throttled가 0입니다: 두 루프가 모두 돌고 있나요? 몇 초 기다려 보세요",
        )
    }
}

/// How far (in percentage points) a CPU % the student read may be from the checker's own
/// sample: the load of the machine changes between the two.
const CPU_TOLERANCE: f64 = 20.0;

/// How far a memory figure may be from the checker's sample: a fraction, or a fixed slack for
/// small figures (the shell's pages come and go).
const MEM_TOLERANCE: f64 = 0.25;
const MEM_SLACK: f64 = 128.0 * 1024.0;

/// lab3-cpu's usage as `pier stats` samples it, CPU use over `interval` (memory is read at
/// the end of it).
fn sample(ctx: &Ctx, interval: Duration) -> Result<StatsSample, Outcome> {
    ctx.running("lab3-cpu").map_err(Outcome::from)?;
    ctx.engine()
        .stats(&["lab3-cpu".to_string()], interval)
        .map_err(Outcome::from)?
        .into_iter()
        .next()
        .ok_or_else(|| {
            Outcome::failed(
                "lab3-cpu stopped while the checker sampled it",
                "채점기가 측정하는 동안 lab3-cpu가 멈췄습니다",
            )
        })
}

fn stats(ctx: &Ctx) -> Outcome {
    let given = match ctx.answer(N, "cpu") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let v = match number(&given) {
        Some(v) if v > 60.0 => {
            return Outcome::failed(
                format!("{v}% is more than the quota allows (50% of one CPU): did you read another column or another container?"),
                format!("{v}%는 할당량(CPU 한 개의 50%)보다 많습니다: 다른 열이나 다른 컨테이너를 읽지 않았나요?"),
            )
        }
        Some(v) => v,
        None => {
            return Outcome::failed(
                format!("{given:?} is not a CPU percentage such as 49.8"),
                format!("{given:?}: 49.8 같은 CPU 백분율이 아닙니다"),
            )
        }
    };
    let now = match sample(ctx, Duration::from_secs(1)) {
        Ok(s) => s.cpu_percent,
        Err(o) => return o,
    };
    if (v - now).abs() <= CPU_TOLERANCE {
        Outcome::passed(
            format!("{v}%; the checker measures {now:.1}% now"),
            format!("{v}%; 채점기가 지금 잰 값은 {now:.1}%입니다"),
        )
    } else {
        Outcome::failed(
            format!("{v}% is more than {CPU_TOLERANCE} points from what lab3-cpu uses: the checker measures {now:.1}% now. Read it again with pier stats --no-stream lab3-cpu"),
            format!("{v}%는 lab3-cpu가 쓰는 값과 {CPU_TOLERANCE}포인트 넘게 차이 납니다: 채점기가 지금 잰 값은 {now:.1}%입니다. pier stats --no-stream lab3-cpu로 다시 읽으세요"),
        )
    }
}

fn mem(ctx: &Ctx) -> Outcome {
    let given = match ctx.answer(N, "mem") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    // pier stats prints 612.00KiB; parse_size wants 612.00k.
    let normalized = given
        .replace(' ', "")
        .to_ascii_lowercase()
        .replace("ib", "");
    let Ok(bytes) = parse_size(&normalized) else {
        return Outcome::failed(
            format!("{given:?} is not a size such as 612.00KiB (copy the number and its unit)"),
            format!("{given:?}: 612.00KiB 같은 크기가 아닙니다 (숫자와 단위를 함께 옮기세요)"),
        );
    };
    let now = match sample(ctx, Duration::ZERO) {
        Ok(s) => s.memory_usage as f64,
        Err(o) => return o,
    };
    let off = (bytes as f64 - now).abs();
    let kib = now / 1024.0;
    if off <= (now * MEM_TOLERANCE).max(MEM_SLACK) {
        Outcome::passed(
            format!("{given}; the cgroup charges {kib:.0} KiB now"),
            format!("{given}; cgroup이 지금 {kib:.0} KiB를 사용 중으로 셉니다"),
        )
    } else {
        Outcome::failed(
            format!("{given} is far from what lab3-cpu's cgroup charges now ({kib:.0} KiB): read the MEM USAGE column of pier stats --no-stream lab3-cpu"),
            format!(
                "{} lab3-cpu의 cgroup이 지금 세는 값({kib:.0} KiB)과 크게 다릅니다: pier stats --no-stream lab3-cpu의 MEM USAGE 열을 읽으세요",
                josa(&given, Josa::EunNeun)
            ),
        )
    }
}

fn bomb(ctx: &Ctx) -> Outcome {
    let (rec, _) = match ctx.running("lab3-bomb") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    let max = ctx
        .cgroup_file(&rec, "pids", "pids.max")
        .unwrap_or_default();
    if max != "20" {
        return Outcome::failed(
            format!("its pids.max is {max:?}, not 20: run it with --pids-limit 20"),
            format!("pids.max가 20이 아니라 {max:?}입니다: --pids-limit 20으로 실행하세요"),
        );
    }
    let current = ctx
        .cgroup_file(&rec, "pids", "pids.current")
        .unwrap_or_default();
    let events = ctx
        .cgroup_file(&rec, "pids", "pids.events")
        .unwrap_or_default();
    let refused: u64 = events
        .lines()
        .find_map(|l| l.strip_prefix("max "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    if refused > 0 {
        Outcome::passed(
            format!("pids.current {current} of 20, {refused} forks refused"),
            format!("pids.current {current}/20, fork {refused}번 거부됨"),
        )
    } else {
        Outcome::failed(
            format!("pids.current is {current} and no fork was refused yet: is the bomb running?"),
            format!(
                "pids.current가 {current}이고 아직 거부된 fork가 없습니다: 폭탄이 돌고 있나요?"
            ),
        )
    }
}

/// The upper layer holds the node mknod made: a block device, 8:0 (the first SCSI/SATA disk).
fn node_made(ctx: &Ctx, rec: &ContainerRecord) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    std::fs::symlink_metadata(ctx.upper_dir(rec).join("disk"))
        .is_ok_and(|m| m.file_type().is_block_device() && m.rdev() == libc::makedev(8, 0))
}

fn device(ctx: &Ctx) -> Outcome {
    let (rec, code) = match ctx.exited("lab3-dev") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    let command = rec.args.join(" ");
    if !command.contains("mknod") {
        return Outcome::failed(
            format!("lab3-dev ran `{command}`: it must make the node itself (mknod /disk b 8 0) and then read it"),
            format!(
                "lab3-dev는 {} 실행했습니다: 노드를 직접 만들고(mknod /disk b 8 0) 읽어야 합니다",
                josa(&format!("`{command}`"), Josa::EulReul)
            ),
        );
    }
    if !node_made(ctx, &rec) {
        return Outcome::failed(
            "lab3-dev's writable layer has no block device /disk numbered 8:0: did mknod run (mknod /disk b 8 0)?",
            "lab3-dev의 쓰기 가능한 레이어에 번호가 8:0인 블록 장치 /disk가 없습니다: mknod가 실행되었나요(mknod /disk b 8 0)?",
        );
    }
    let log = ctx.log(&rec).ok().flatten().unwrap_or_default();
    if code != 0 && log.contains("Operation not permitted") {
        // cgroup v1 (or hybrid): the devices controller; v2: the cgroup's eBPF device program.
        let (by, by_ko) = match pier_oci::cgroups::detect_version() {
            Ok(2) => (
                "the eBPF device program of its cgroup (v2)",
                "cgroup의 eBPF 장치 프로그램(v2)",
            ),
            _ => (
                "the devices controller (cgroup v1)",
                "devices 컨트롤러(cgroup v1)",
            ),
        };
        Outcome::passed(
            format!("mknod worked, opening it did not: exit code {code}, Operation not permitted, refused by {by}"),
            format!(
                "mknod는 되었지만 열기는 안 되었습니다: 종료 코드 {code}, Operation not permitted, {} 거부함",
                josa(by_ko, Josa::IGa)
            ),
        )
    } else if code == 0 {
        Outcome::failed(
            "lab3-dev exited 0: it read the disk?! Was it run with --privileged or a --device?",
            "lab3-dev의 종료 코드가 0입니다: 디스크를 읽었다고요?! --privileged나 --device로 실행하지 않았나요?",
        )
    } else {
        Outcome::failed(
            format!(
                "lab3-dev exited {code} with {:?}; reading the node should fail with Operation not permitted",
                log.trim()
            ),
            format!(
                "lab3-dev가 {} 남기고 종료 코드 {} 끝났습니다. 노드를 읽으면 Operation not permitted로 실패해야 합니다",
                josa(&format!("{:?}", log.trim()), Josa::EulReul),
                josa(&code.to_string(), Josa::EuroRo)
            ),
        )
    }
}
