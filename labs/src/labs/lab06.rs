//! Lab 6: bridge vs host networking — addresses, routes, a user-defined network, and the
//! measured throughput of each path.

use super::{ensure_busybox, number};
use crate::context::Ctx;
use crate::lab::{Lab, Outcome, Task};
use crate::probe;
use crate::text::{josa, tr, Josa};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

const N: u32 = 6;

/// The lab.
pub fn lab() -> Lab {
    Lab {
        number: N,
        slug: "06-networking",
        title: tr(
            "Bridge and host networking",
            "브리지 네트워크와 호스트 네트워크",
        ),
        minutes: 40,
        host_ports: &[8086],
        networks: &["lab6-net"],
        needs: None,
        prepare: ensure_busybox,
        tasks: vec![
            Task {
                id: "bridge",
                title: tr(
                    "lab6-bridge runs on the default bridge network with its own address",
                    "lab6-bridge가 기본 브리지 네트워크에서 자기 주소로 실행 중이다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "pier run -d --name lab6-bridge busybox sleep 3600   (bridge is the default network)",
                    "pier run -d --name lab6-bridge busybox sleep 3600   (bridge가 기본 네트워크입니다)",
                ),
                check: bridge,
            },
            Task {
                id: "host",
                title: tr(
                    "lab6-host shares the host's network namespace",
                    "lab6-host가 호스트의 네트워크 네임스페이스를 함께 쓴다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "pier run -d --name lab6-host --network host busybox sleep 3600",
                    "pier run -d --name lab6-host --network host busybox sleep 3600",
                ),
                check: host,
            },
            Task {
                id: "ip",
                title: tr(
                    "you found lab6-bridge's IP address",
                    "lab6-bridge의 IP 주소를 찾았다",
                ),
                after: &["bridge"],
                answer: Some("ip"),
                hint: tr(
                    "pier exec lab6-bridge ip -4 addr show eth0; record the address without its prefix length (/16, /24): pier lab answer 6 ip 10.88.0.2",
                    "pier exec lab6-bridge ip -4 addr show eth0; 접두사 길이(/16, /24) 없이 주소를 기록하세요: pier lab answer 6 ip 10.88.0.2",
                ),
                check: ip,
            },
            Task {
                id: "veth",
                title: tr(
                    "you found the host's end of lab6-bridge's veth pair",
                    "lab6-bridge의 veth 쌍에서 호스트 쪽 끝을 찾았다",
                ),
                after: &["bridge"],
                answer: Some("veth"),
                hint: tr(
                    "pier exec lab6-bridge ip link show eth0 prints `eth0@ifN`: N is the index of the other end, on the host; `ip -o link` on the host names it (pierXXXXXXXXXXX): pier lab answer 6 veth <NAME>",
                    "pier exec lab6-bridge ip link show eth0은 `eth0@ifN`을 출력합니다. N은 호스트에 있는 다른 쪽 끝의 번호이고, 호스트에서 `ip -o link`가 그 이름(pierXXXXXXXXXXX)을 보여 줍니다: pier lab answer 6 veth <NAME>",
                ),
                check: veth,
            },
            Task {
                id: "usernet",
                title: tr(
                    "lab6-peer runs on the network lab6-net, in another subnet",
                    "lab6-peer가 다른 서브넷인 네트워크 lab6-net에서 실행 중이다",
                ),
                after: &["bridge"],
                answer: None,
                hint: tr(
                    "pier network create lab6-net, then pier run -d --name lab6-peer --network lab6-net busybox sleep 3600",
                    "pier network create lab6-net, 그다음 pier run -d --name lab6-peer --network lab6-net busybox sleep 3600",
                ),
                check: usernet,
            },
            Task {
                id: "measure",
                title: tr(
                    "you measured the download of lab6-bridge's 100 MB file over the bridge",
                    "브리지를 거쳐 lab6-bridge의 100 MB 파일을 내려받는 속도를 쟀다",
                ),
                after: &["bridge", "host"],
                answer: Some("bridge-mbps"),
                hint: tr(
                    "Follow step 4: httpd in lab6-bridge serves /www/big (100 MB) on port 80; time the download and record 100 / seconds: pier lab answer 6 bridge-mbps <N>",
                    "4단계를 따라 하세요: lab6-bridge의 httpd가 포트 80으로 /www/big(100 MB)을 제공합니다. 내려받는 시간을 재고 100 / 초를 기록하세요: pier lab answer 6 bridge-mbps <N>",
                ),
                check: measure,
            },
            Task {
                id: "measure-host",
                title: tr(
                    "you measured the download of lab6-host's 100 MB file over the host's loopback",
                    "호스트의 루프백으로 lab6-host의 100 MB 파일을 내려받는 속도를 쟀다",
                ),
                after: &["host"],
                answer: Some("host-mbps"),
                hint: tr(
                    "Follow step 4: httpd in lab6-host serves /www/big on port 8086; time the download from 127.0.0.1:8086 and record 100 / seconds: pier lab answer 6 host-mbps <N>",
                    "4단계를 따라 하세요: lab6-host의 httpd가 포트 8086으로 /www/big을 제공합니다. 127.0.0.1:8086에서 내려받는 시간을 재고 100 / 초를 기록하세요: pier lab answer 6 host-mbps <N>",
                ),
                check: measure_host,
            },
        ],
    }
}

fn bridge_ip(ctx: &Ctx, name: &str) -> Result<(i32, String), Outcome> {
    let (_, pid) = ctx.running(name).map_err(Outcome::from)?;
    if !probe::own_namespace(pid, "net").unwrap_or(false) {
        return Err(Outcome::failed(
            format!("{name} uses the host's network namespace: run it without --network host"),
            format!(
                "{} 호스트의 네트워크 네임스페이스를 씁니다: --network host 없이 실행하세요",
                josa(name, Josa::EunNeun)
            ),
        ));
    }
    let addrs = probe::ipv4_addresses(pid).map_err(Outcome::from)?;
    match addrs.first() {
        Some((_, cidr)) => Ok((pid, cidr.clone())),
        None => Err(Outcome::failed(
            format!("{name} has only loopback: was it started with --network none?"),
            format!("{name}에는 루프백만 있습니다: --network none으로 시작했나요?"),
        )),
    }
}

fn bridge(ctx: &Ctx) -> Outcome {
    match bridge_ip(ctx, "lab6-bridge") {
        Ok((_, cidr)) => Outcome::passed(cidr.clone(), cidr),
        Err(o) => o,
    }
}

fn host(ctx: &Ctx) -> Outcome {
    let (_, pid) = match ctx.running("lab6-host") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    match probe::own_namespace(pid, "net") {
        Ok(false) => Outcome::passed(
            "same network namespace as the host",
            "호스트와 같은 네트워크 네임스페이스",
        ),
        Ok(true) => Outcome::failed(
            "lab6-host has a network namespace of its own: run it with --network host",
            "lab6-host에 자기 네트워크 네임스페이스가 있습니다: --network host로 실행하세요",
        ),
        Err(e) => e.into(),
    }
}

fn ip(ctx: &Ctx) -> Outcome {
    let (_, cidr) = match bridge_ip(ctx, "lab6-bridge") {
        Ok(x) => x,
        Err(o) => return o,
    };
    let given = match ctx.answer(N, "ip") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let real = probe::strip_prefix_len(&cidr);
    if probe::strip_prefix_len(&given) == real {
        Outcome::passed(real.to_string(), real.to_string())
    } else if given.starts_with("127.") {
        Outcome::failed(
            "127.x.x.x is loopback, which every network namespace has; look at eth0",
            "127.x.x.x는 모든 네트워크 네임스페이스에 있는 루프백입니다. eth0을 보세요",
        )
    } else {
        Outcome::failed(
            format!("{given} is not lab6-bridge's address"),
            format!(
                "{} lab6-bridge의 주소가 아닙니다",
                josa(&given, Josa::EunNeun)
            ),
        )
    }
}

/// The index of the other end of `eth0` in the network namespace of `pid`: `ip link` prints
/// it as `eth0@ifN` (the kernel's iflink of the veth).
fn peer_index(pid: i32) -> anyhow::Result<u32> {
    let text = probe::nsenter(pid, &["-n"], &["ip", "-o", "link", "show", "eth0"])?;
    text.split_whitespace()
        .nth(1)
        .and_then(|w| w.trim_end_matches(':').split_once("@if"))
        .and_then(|(_, n)| n.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no eth0@ifN in {:?}", text.trim()))
}

/// The name of the host's interface with index `index`, from the host's /sys/class/net.
fn host_interface(index: u32) -> Option<String> {
    std::fs::read_dir("/sys/class/net")
        .ok()?
        .flatten()
        .find(|e| {
            std::fs::read_to_string(e.path().join("ifindex"))
                .is_ok_and(|t| t.trim() == index.to_string())
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
}

/// The host end of lab6-bridge's veth pair, read from the kernel: the interface of the
/// host whose index is the container's `eth0@ifN`. Its name holds the container's ID, so no
/// two machines (and no two runs) have the same.
fn veth(ctx: &Ctx) -> Outcome {
    let (pid, _) = match bridge_ip(ctx, "lab6-bridge") {
        Ok(x) => x,
        Err(o) => return o,
    };
    let real = match peer_index(pid).map(host_interface) {
        Ok(Some(name)) => name,
        Ok(None) => {
            return Outcome::failed(
                "the host has no interface at the other end of lab6-bridge's eth0",
                "lab6-bridge의 eth0 반대쪽 끝에 해당하는 호스트 인터페이스가 없습니다",
            )
        }
        Err(e) => return e.into(),
    };
    let given = match ctx.answer(N, "veth") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    // `ip link` prints the host end as `pierXXXXXXXXXXX@if2`: the name is before the @.
    let name = given.trim().split('@').next().unwrap_or_default();
    if name == real {
        Outcome::passed(
            format!("{real}, plugged into the bridge"),
            format!("{real}, 브리지에 연결됨"),
        )
    } else if name == "eth0" {
        Outcome::failed(
            "eth0 is the container's end; the other end is an interface of the host (ip -o link on the host)",
            "eth0은 컨테이너 쪽 끝입니다. 다른 쪽 끝은 호스트의 인터페이스입니다 (호스트에서 ip -o link)",
        )
    } else {
        Outcome::failed(
            format!(
                "{given} is not the host's end of lab6-bridge's eth0: find the interface whose index is the N of eth0@ifN"
            ),
            format!(
                "{} lab6-bridge eth0의 호스트 쪽 끝이 아닙니다: 번호가 eth0@ifN의 N인 인터페이스를 찾으세요",
                josa(&given, Josa::EunNeun)
            ),
        )
    }
}

fn usernet(ctx: &Ctx) -> Outcome {
    let (_, a) = match bridge_ip(ctx, "lab6-bridge") {
        Ok(x) => x,
        Err(o) => return o,
    };
    let (rec, b) = match bridge_ip(ctx, "lab6-peer") {
        Ok((_, b)) => match ctx.container("lab6-peer") {
            Ok(r) => (r, b),
            Err(e) => return e.into(),
        },
        Err(o) => return o,
    };
    let net = rec
        .config
        .network
        .as_ref()
        .map(|n| n.display())
        .unwrap_or_default();
    if net != "lab6-net" {
        return Outcome::failed(
            format!("lab6-peer is on network {net:?}, not lab6-net"),
            format!("lab6-peer가 lab6-net이 아니라 네트워크 {net:?}에 있습니다"),
        );
    }
    let subnet = |c: &str| {
        c.rsplit_once('.')
            .map(|(s, _)| s.to_string())
            .unwrap_or_default()
    };
    if subnet(&a) != subnet(&b) {
        Outcome::passed(format!("{b} vs {a}"), format!("{b}, lab6-bridge는 {a}"))
    } else {
        Outcome::failed(
            format!("{b} looks like the same subnet as lab6-bridge ({a})"),
            format!(
                "{} lab6-bridge({a})와 같은 서브넷으로 보입니다",
                josa(&b, Josa::EunNeun)
            ),
        )
    }
}

/// The file each server must serve: `dd bs=1M count=100`.
const BIG: u64 = 100 << 20;

/// How far the student's download time may be from the checker's own downloads of the same
/// file: a factor either way, plus [`SLACK`] on the slow side. Each figure is one download of
/// a few hundredths of a second on a machine whose load changes (seen in CI: the lab's
/// checker and the student's `time wget` ran beside an emulated VM), and busybox `time`
/// prints hundredths.
const RATE_FACTOR: f64 = 3.0;

/// Seconds a student's download may have lost to the scheduler beyond [`RATE_FACTOR`].
const SLACK: f64 = 0.25;

/// How many times the checker downloads the file: the fastest and the slowest bound what a
/// student's one download could have taken.
const DOWNLOADS: usize = 3;

/// Checks that `name` itself serves the 100 MB file on `addr` (a process in its cgroup holds
/// the listening socket), downloads it, and compares the student's MB/s (`key`) with the
/// checker's own rate.
fn served_rate(ctx: &Ctx, name: &str, addr: SocketAddr, key: &str) -> Outcome {
    let given = match ctx.answer(N, key) {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let Some(rate) = number(&given).filter(|v| *v > 0.0) else {
        return Outcome::failed(
            format!(
                "{given:?} is not a positive number of MB/s (100 divided by the seconds of `real`)"
            ),
            format!(
                "{} 양수인 MB/s 값이 아닙니다 (100을 `real`의 초로 나눈 값)",
                josa(&format!("{given:?}"), Josa::EunNeun)
            ),
        );
    };
    let rec = match ctx.running(name) {
        Ok((rec, _)) => rec,
        Err(e) => return e.into(),
    };
    let pids = rec
        .cgroup
        .as_ref()
        .and_then(|cg| cg.pids().ok())
        .unwrap_or_default();
    match probe::listening(&pids, addr.port()) {
        Ok(l) if l.is_empty() => {
            let port = addr.port();
            return Outcome::failed(
                format!(
                    "no process of {name} listens on port {port}: start httpd inside it with pier exec (step 4); a server elsewhere does not count"
                ),
                format!(
                    "포트 {port}에서 듣는 {name}의 프로세스가 없습니다: pier exec로 그 안에서 httpd를 시작하세요 (4단계). 다른 곳의 서버는 인정되지 않습니다"
                ),
            );
        }
        Ok(_) => {}
        Err(e) => return e.into(),
    }
    let mut times = Vec::with_capacity(DOWNLOADS);
    for _ in 0..DOWNLOADS {
        let (bytes, took) = match probe::http_download(addr, "/big") {
            Ok(x) => x,
            Err(e) => {
                return Outcome::failed(
                    format!("downloading http://{addr}/big: {e:#} (is /www/big there?)"),
                    format!("http://{addr}/big 내려받기: {e:#} (/www/big이 있나요?)"),
                )
            }
        };
        if bytes != BIG {
            return Outcome::failed(
                format!(
                    "http://{addr}/big has {bytes} bytes, not 100 MB: make it with dd if=/dev/zero of=/www/big bs=1M count=100"
                ),
                format!(
                    "http://{addr}/big은 100 MB가 아니라 {bytes}바이트입니다: dd if=/dev/zero of=/www/big bs=1M count=100으로 만드세요"
                ),
            );
        }
        times.push(took.as_secs_f64().max(1e-6));
    }
    let fastest = times.iter().copied().fold(f64::INFINITY, f64::min);
    let slowest = times.iter().copied().fold(0.0, f64::max);
    let mb = BIG as f64 / (1 << 20) as f64;
    let theirs = mb / rate;
    if plausible(theirs, fastest, slowest) {
        let (low, high) = (mb / slowest, mb / fastest);
        Outcome::passed(
            format!(
                "{rate} MB/s; the checker's own downloads took {fastest:.2}-{slowest:.2} s, {low:.0}-{high:.0} MB/s"
            ),
            format!(
                "{rate} MB/s. 채점기가 직접 내려받은 시간은 {fastest:.2}-{slowest:.2}초, {low:.0}-{high:.0} MB/s"
            ),
        )
    } else {
        let (low, high) = (mb / slowest, mb / fastest);
        Outcome::failed(
            format!(
                "{rate} MB/s ({theirs:.2} s) is too far from the checker's own downloads of the same file ({fastest:.2}-{slowest:.2} s, {low:.0}-{high:.0} MB/s): time it again (100 / seconds)"
            ),
            format!(
                "{rate} MB/s({theirs:.2}초)는 채점기가 같은 파일을 직접 내려받은 결과({fastest:.2}-{slowest:.2}초, {low:.0}-{high:.0} MB/s)와 너무 다릅니다: 다시 재세요 (100 / 초)"
            ),
        )
    }
}

/// Whether a download of `theirs` seconds fits the checker's, which took `fastest` to
/// `slowest` seconds.
fn plausible(theirs: f64, fastest: f64, slowest: f64) -> bool {
    theirs >= fastest / RATE_FACTOR && theirs <= slowest * RATE_FACTOR + SLACK
}

fn measure(ctx: &Ctx) -> Outcome {
    let ip = match bridge_ip(ctx, "lab6-bridge") {
        Ok((_, cidr)) => probe::strip_prefix_len(&cidr).to_string(),
        Err(o) => return o,
    };
    let Ok(ip) = ip.parse::<Ipv4Addr>() else {
        return Outcome::failed(
            format!("lab6-bridge's address {ip} is not IPv4"),
            format!(
                "lab6-bridge의 주소 {} IPv4가 아닙니다",
                josa(&ip, Josa::EunNeun)
            ),
        );
    };
    served_rate(
        ctx,
        "lab6-bridge",
        SocketAddr::V4(SocketAddrV4::new(ip, 80)),
        "bridge-mbps",
    )
}

fn measure_host(ctx: &Ctx) -> Outcome {
    served_rate(
        ctx,
        "lab6-host",
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8086)),
        "host-mbps",
    )
}

#[cfg(test)]
mod tests {
    use super::plausible;

    #[test]
    fn a_download_slowed_by_load_is_plausible_a_guess_far_off_is_not() {
        // The checker saw 0.04-0.05 s.
        assert!(plausible(0.05, 0.04, 0.05));
        // A student's download that lost a quarter second to a loaded machine.
        assert!(plausible(0.35, 0.04, 0.05));
        // 10 MB/s (10 s) or 100 GB/s (0.001 s) are not what this machine does.
        assert!(!plausible(10.0, 0.04, 0.05));
        assert!(!plausible(0.001, 0.04, 0.05));
    }
}
