//! Lab 6: bridge vs host networking — addresses, routes, a user-defined network, and the
//! measured throughput of each path.

use super::{ensure_busybox, number};
use crate::context::Ctx;
use crate::lab::{Lab, Outcome, Task};
use crate::probe;
use crate::text::tr;
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
                id: "gateway",
                title: tr(
                    "you found lab6-bridge's default gateway",
                    "lab6-bridge의 기본 게이트웨이를 찾았다",
                ),
                after: &["bridge"],
                answer: Some("gateway"),
                hint: tr(
                    "pier exec lab6-bridge ip route; the address after `default via`: pier lab answer 6 gateway <ADDR>",
                    "pier exec lab6-bridge ip route; `default via` 뒤의 주소: pier lab answer 6 gateway <ADDR>",
                ),
                check: gateway,
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
        return Err(Outcome::fail(format!(
            "{name} uses the host's network namespace: run it without --network host"
        )));
    }
    let addrs = probe::ipv4_addresses(pid).map_err(Outcome::from)?;
    match addrs.first() {
        Some((_, cidr)) => Ok((pid, cidr.clone())),
        None => Err(Outcome::fail(format!(
            "{name} has only loopback: was it started with --network none?"
        ))),
    }
}

fn bridge(ctx: &Ctx) -> Outcome {
    match bridge_ip(ctx, "lab6-bridge") {
        Ok((_, cidr)) => Outcome::pass(cidr),
        Err(o) => o,
    }
}

fn host(ctx: &Ctx) -> Outcome {
    let (_, pid) = match ctx.running("lab6-host") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    match probe::own_namespace(pid, "net") {
        Ok(false) => Outcome::pass("same network namespace as the host"),
        Ok(true) => Outcome::fail(
            "lab6-host has a network namespace of its own: run it with --network host",
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
        Outcome::pass(real.to_string())
    } else if given.starts_with("127.") {
        Outcome::fail("127.x.x.x is loopback, which every network namespace has; look at eth0")
    } else {
        Outcome::fail(format!("{given} is not lab6-bridge's address"))
    }
}

fn gateway(ctx: &Ctx) -> Outcome {
    let (pid, _) = match bridge_ip(ctx, "lab6-bridge") {
        Ok(x) => x,
        Err(o) => return o,
    };
    let real = match probe::default_gateway(pid) {
        Ok(g) => g,
        Err(e) => return e.into(),
    };
    let given = match ctx.answer(N, "gateway") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    if given == real {
        Outcome::pass(format!("{real}, the bridge's address on the host"))
    } else {
        Outcome::fail(format!(
            "{given} is not the address after `default via` in lab6-bridge's routes"
        ))
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
        return Outcome::fail(format!("lab6-peer is on network {net:?}, not lab6-net"));
    }
    let subnet = |c: &str| {
        c.rsplit_once('.')
            .map(|(s, _)| s.to_string())
            .unwrap_or_default()
    };
    if subnet(&a) != subnet(&b) {
        Outcome::pass(format!("{b} vs {a}"))
    } else {
        Outcome::fail(format!(
            "{b} looks like the same subnet as lab6-bridge ({a})"
        ))
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
        return Outcome::fail(format!(
            "{given:?} is not a positive number of MB/s (100 divided by the seconds of `real`)"
        ));
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
            return Outcome::fail(format!(
                "no process of {name} listens on port {}: start httpd inside it with pier exec (step 4); a server elsewhere does not count",
                addr.port()
            ))
        }
        Ok(_) => {}
        Err(e) => return e.into(),
    }
    let mut times = Vec::with_capacity(DOWNLOADS);
    for _ in 0..DOWNLOADS {
        let (bytes, took) = match probe::http_download(addr, "/big") {
            Ok(x) => x,
            Err(e) => {
                return Outcome::fail(format!(
                    "downloading http://{addr}/big: {e:#} (is /www/big there?)"
                ))
            }
        };
        if bytes != BIG {
            return Outcome::fail(format!(
                "http://{addr}/big has {bytes} bytes, not 100 MB: make it with dd if=/dev/zero of=/www/big bs=1M count=100"
            ));
        }
        times.push(took.as_secs_f64().max(1e-6));
    }
    let fastest = times.iter().copied().fold(f64::INFINITY, f64::min);
    let slowest = times.iter().copied().fold(0.0, f64::max);
    let mb = BIG as f64 / (1 << 20) as f64;
    let theirs = mb / rate;
    if plausible(theirs, fastest, slowest) {
        Outcome::pass(format!(
            "{rate} MB/s; the checker's own downloads took {fastest:.2}-{slowest:.2} s, {:.0}-{:.0} MB/s",
            mb / slowest,
            mb / fastest
        ))
    } else {
        Outcome::fail(format!(
            "{rate} MB/s ({theirs:.2} s) is too far from the checker's own downloads of the same file ({fastest:.2}-{slowest:.2} s, {:.0}-{:.0} MB/s): time it again (100 / seconds)",
            mb / slowest,
            mb / fastest
        ))
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
        return Outcome::fail(format!("lab6-bridge's address {ip} is not IPv4"));
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
