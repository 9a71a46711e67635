//! Lab 6: bridge vs host networking — addresses, routes, a user-defined network, and the
//! measured throughput of each path.

use super::{ensure_busybox, number};
use crate::context::Ctx;
use crate::lab::{Lab, Outcome, Task};
use crate::probe;

const N: u32 = 6;

/// The lab.
pub fn lab() -> Lab {
    Lab {
        number: N,
        slug: "06-networking",
        title: "Bridge and host networking",
        minutes: 40,
        host_ports: &[8086],
        networks: &["lab6-net"],
        prepare: ensure_busybox,
        tasks: vec![
            Task {
                id: "bridge",
                title: "lab6-bridge runs on the default bridge network with its own address",
                after: &[],
                answer: None,
                hint: "pier run -d --name lab6-bridge busybox sleep 3600   (bridge is the default network)",
                check: bridge,
            },
            Task {
                id: "host",
                title: "lab6-host shares the host's network namespace",
                after: &[],
                answer: None,
                hint: "pier run -d --name lab6-host --network host busybox sleep 3600",
                check: host,
            },
            Task {
                id: "ip",
                title: "you found lab6-bridge's IP address",
                after: &["bridge"],
                answer: Some("ip"),
                hint: "pier exec lab6-bridge ip -4 addr show eth0; record the address without /16: pier lab answer 6 ip 172.x.y.z",
                check: ip,
            },
            Task {
                id: "gateway",
                title: "you found lab6-bridge's default gateway",
                after: &["bridge"],
                answer: Some("gateway"),
                hint: "pier exec lab6-bridge ip route; the address after `default via`: pier lab answer 6 gateway <ADDR>",
                check: gateway,
            },
            Task {
                id: "usernet",
                title: "lab6-peer runs on the network lab6-net, in another subnet",
                after: &["bridge"],
                answer: None,
                hint: "pier network create lab6-net, then pier run -d --name lab6-peer --network lab6-net busybox sleep 3600",
                check: usernet,
            },
            Task {
                id: "measure",
                title: "you measured throughput over the bridge and over the host's loopback",
                after: &["bridge", "host"],
                answer: Some("bridge-mbps"),
                hint: "Follow step 6 and record both numbers: pier lab answer 6 bridge-mbps <N> and pier lab answer 6 host-mbps <N>",
                check: measure,
            },
            Task {
                id: "measure-host",
                title: "(the host-mode number of the measurement)",
                after: &["measure"],
                answer: Some("host-mbps"),
                hint: "pier lab answer 6 host-mbps <N>",
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

fn mbps(ctx: &Ctx, key: &str) -> Outcome {
    let given = match ctx.answer(N, key) {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    match number(&given) {
        Some(v) if v > 0.0 => Outcome::pass(format!("{v} MB/s")),
        _ => Outcome::fail(format!(
            "{given:?} is not a positive number (MB/s, as dd prints it)"
        )),
    }
}

fn measure(ctx: &Ctx) -> Outcome {
    mbps(ctx, "bridge-mbps")
}

fn measure_host(ctx: &Ctx) -> Outcome {
    mbps(ctx, "host-mbps")
}
