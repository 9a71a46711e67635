//! Lab 3: cgroups — an OOM kill at a memory limit, a CPU quota and its throttling, a fork
//! bomb stopped by a PID limit; cgroup v1 and v2 file names.

use super::{ensure_busybox, number};
use crate::context::Ctx;
use crate::lab::{Lab, Outcome, Task};
use crate::text::tr;
use pier_engine::container::inspect::StatsSample;
use pier_engine::container::record::ContainerRecord;
use pier_engine::units::parse_size;
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
                id: "version",
                title: tr(
                    "you found which cgroup version this machine uses",
                    "이 컴퓨터가 쓰는 cgroup 버전을 찾았다",
                ),
                after: &[],
                answer: Some("cgroup"),
                hint: tr(
                    "pier system info prints it; record it: pier lab answer 3 cgroup v1   (or v2)",
                    "pier system info가 출력합니다. 기록하세요: pier lab answer 3 cgroup v1   (또는 v2)",
                ),
                check: version,
            },
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

fn version(ctx: &Ctx) -> Outcome {
    let given = match ctx.answer(N, "cgroup") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let real = match pier_oci::cgroups::detect_version() {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    if given.trim_start_matches(['v', 'V']) == real.to_string() {
        Outcome::pass(format!("cgroup v{real}"))
    } else {
        Outcome::fail(format!(
            "{given} is not what this machine uses: look again at `pier system info`"
        ))
    }
}

fn oom(ctx: &Ctx) -> Outcome {
    let (rec, code) = match ctx.exited("lab3-oom") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    match rec.config.limits.memory {
        Some(m) if m <= 16 << 20 => {}
        Some(m) => {
            return Outcome::fail(format!(
                "lab3-oom ran with --memory {} MiB; use 16m",
                m >> 20
            ))
        }
        None => return Outcome::fail("lab3-oom ran without --memory: nothing limited it"),
    }
    if code == 137 && rec.oom_killed {
        Outcome::pass("exit 137, OOM-killed")
    } else if code == 137 {
        Outcome::fail(
            "exit 137 means SIGKILL, but not from the OOM killer: did you `pier kill` it?",
        )
    } else {
        Outcome::fail(format!("lab3-oom exited with {code}; a command that keeps allocating (tail /dev/zero) gets 137"))
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
        Ok(Some(f)) if (f - 0.5).abs() < 0.01 => {
            Outcome::pass("quota 50000 µs per 100000 µs period")
        }
        Ok(Some(f)) => Outcome::fail(format!(
            "its cgroup allows {f:.2} CPU, not 0.5 (use --cpus 0.5)"
        )),
        Ok(None) => Outcome::fail("its cgroup has no CPU quota: run it with --cpus 0.5"),
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
        Outcome::pass(format!("nr_throttled {n}"))
    } else {
        Outcome::fail(
            "cpu.stat says nr_throttled 0: are both loops spinning? Give it a few seconds",
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
        .ok_or_else(|| Outcome::fail("lab3-cpu stopped while the checker sampled it"))
}

fn stats(ctx: &Ctx) -> Outcome {
    let given = match ctx.answer(N, "cpu") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let v = match number(&given) {
        Some(v) if v > 60.0 => return Outcome::fail(format!("{v}% is more than the quota allows (50% of one CPU): did you read another column or another container?")),
        Some(v) => v,
        None => return Outcome::fail(format!("{given:?} is not a CPU percentage such as 49.8")),
    };
    let now = match sample(ctx, Duration::from_secs(1)) {
        Ok(s) => s.cpu_percent,
        Err(o) => return o,
    };
    if (v - now).abs() <= CPU_TOLERANCE {
        Outcome::pass(format!("{v}%; the checker measures {now:.1}% now"))
    } else {
        Outcome::fail(format!(
            "{v}% is more than {CPU_TOLERANCE} points from what lab3-cpu uses: the checker measures {now:.1}% now. Read it again with pier stats --no-stream lab3-cpu"
        ))
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
        return Outcome::fail(format!(
            "{given:?} is not a size such as 612.00KiB (copy the number and its unit)"
        ));
    };
    let now = match sample(ctx, Duration::ZERO) {
        Ok(s) => s.memory_usage as f64,
        Err(o) => return o,
    };
    let off = (bytes as f64 - now).abs();
    if off <= (now * MEM_TOLERANCE).max(MEM_SLACK) {
        Outcome::pass(format!(
            "{given}; the cgroup charges {:.0} KiB now",
            now / 1024.0
        ))
    } else {
        Outcome::fail(format!(
            "{given} is far from what lab3-cpu's cgroup charges now ({:.0} KiB): read the MEM USAGE column of pier stats --no-stream lab3-cpu",
            now / 1024.0
        ))
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
        return Outcome::fail(format!(
            "its pids.max is {max:?}, not 20: run it with --pids-limit 20"
        ));
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
        Outcome::pass(format!(
            "pids.current {current} of 20, {refused} forks refused"
        ))
    } else {
        Outcome::fail(format!(
            "pids.current is {current} and no fork was refused yet: is the bomb running?"
        ))
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
        return Outcome::fail(format!(
            "lab3-dev ran `{command}`: it must make the node itself (mknod /disk b 8 0) and then read it"
        ));
    }
    if !node_made(ctx, &rec) {
        return Outcome::fail("lab3-dev's writable layer has no block device /disk numbered 8:0: did mknod run (mknod /disk b 8 0)?");
    }
    let log = ctx.log(&rec).ok().flatten().unwrap_or_default();
    if code != 0 && log.contains("Operation not permitted") {
        // cgroup v1 (or hybrid): the devices controller; v2: the cgroup's eBPF device program.
        let by = match pier_oci::cgroups::detect_version() {
            Ok(2) => "the eBPF device program of its cgroup (v2)",
            _ => "the devices controller (cgroup v1)",
        };
        Outcome::pass(format!(
            "mknod worked, opening it did not: exit code {code}, Operation not permitted, refused by {by}"
        ))
    } else if code == 0 {
        Outcome::fail(
            "lab3-dev exited 0: it read the disk?! Was it run with --privileged or a --device?",
        )
    } else {
        Outcome::fail(format!(
            "lab3-dev exited {code} with {:?}; reading the node should fail with Operation not permitted",
            log.trim()
        ))
    }
}
