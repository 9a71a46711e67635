//! Packet filtering and NAT for pier networks, in pier's own firewall table only.
//!
//! Rules (all tagged with a comment so they can be found and deleted one by one):
//! - per network (`pier:net:<name>`): masquerade traffic leaving the subnet through another
//!   interface (outbound NAT); masquerade loopback-sourced traffic leaving through the bridge
//!   (the host's own `127.0.0.1:PORT`, see `bridge.rs` for `route_localnet`); masquerade
//!   hairpin traffic (a container reaching a published port of its own network); drop traffic
//!   forwarded from this bridge to another pier bridge (isolation between networks); drop
//!   traffic from the bridge to 127.0.0.0/8 unless it answers a DNATed connection (the
//!   loopback guard, below).
//! - per container and network (`pier:ctr:<id>:<network>`): a DNAT per published port, in a
//!   prerouting hook (traffic from other machines and containers) and in an output hook
//!   (traffic from the host itself, including 127.0.0.1). A port published on a loopback
//!   address gets the output rule only (the loopback guard, below).
//!
//! # Loopback guard
//! Publishing on `127.0.0.1` means "only this host". Two escapes break that promise:
//! - a prerouting DNAT for `ip daddr 127.0.0.1` also rewrites packets that another machine
//!   of the LAN sends to the host with destination 127.0.0.1 (moby#41872); the rewrite
//!   happens before routing, so the kernel's martian check never sees 127.0.0.1. Locally
//!   generated traffic is NATed in the output hook, so a loopback-bound port needs no
//!   prerouting rule at all;
//! - `route_localnet=1` on the bridge (needed for the host's own 127.0.0.1:PORT, see
//!   `bridge.rs`) stops the kernel from dropping packets to 127.0.0.0/8 that arrive on the
//!   bridge, so a container with CAP_NET_ADMIN could route 127.0.0.1 via its gateway and
//!   reach host services bound to loopback only (the CVE-2020-8558 class). An input rule
//!   drops them, except the replies of the host's own DNATed 127.0.0.1:PORT connections
//!   (`ct status dnat`), as kube-proxy does.
//!
//! # Forwarding through a host firewall that drops it
//! A packet is forwarded only if every base chain of the forward hook accepts it, pier's
//! table being just one of them. Docker sets the policy of iptables' `filter FORWARD` chain
//! to DROP (and loads `br_netfilter`, which sends bridged traffic through it), which would
//! silently cut pier's bridges off. So, as Docker does for its own bridges, each network also
//! gets ACCEPT rules in iptables' `filter` table (chain `PIER-FORWARD`, jumped to from
//! `FORWARD`), whatever pier's own backend: traffic from its bridge, replies to it, and
//! connections DNATed to published ports. They are tagged like the others and removed with
//! the network. (With the iptables backend the same chain holds the isolation jump first,
//! so isolation still wins.)
//!
//! The primary backend is nftables: table `ip <table>` (default `pier`), changed through one
//! `nft -f -` invocation per change (plus one `nft -j list` when rules are deleted, to learn
//! their handles). When `nft` is missing, the same rules go into iptables chains `PIER-*`
//! that pier creates and jumps to. Nothing pier did not create is ever flushed or deleted.
//!
//! Bridge names of pier networks all start with `pier`, which the isolation rule matches.

use super::portmap::{PortMapping, Protocol};
use anyhow::{Context, Result};
use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

/// Prefix shared by all pier bridge names (the isolation rule matches `pier*`).
pub const BRIDGE_PREFIX: &str = "pier";

/// Which tool programs the kernel's firewall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `nft`, table `ip <table>`.
    Nftables,
    /// `iptables`, chains `PIER-*` (the fallback when `nft` is absent).
    Iptables,
}

/// The built-in iptables chains pier hooks a `PIER-<HOOK>` chain of its own into.
const IPT_HOOKS: [(&str, &str); 5] = [
    ("nat", "PREROUTING"),
    ("nat", "OUTPUT"),
    ("nat", "POSTROUTING"),
    ("filter", "FORWARD"),
    ("filter", "INPUT"),
];

/// The addresses of the host's loopback interface, which the guard protects.
const LOOPBACK_NET: &str = "127.0.0.0/8";

/// A network's parameters as the firewall needs them.
pub struct NetRules<'a> {
    /// Network name (goes into the tag).
    pub name: &'a str,
    /// Bridge interface.
    pub bridge: &'a str,
    /// Subnet in CIDR form.
    pub subnet: &'a str,
}

/// pier's firewall: one table (nft) or one set of chains (iptables).
#[derive(Debug, Clone)]
pub struct Firewall {
    table: String,
    backend: Backend,
}

/// The tag of a network's rules.
fn net_tag(network: &str) -> String {
    format!("pier:net:{network}")
}

/// The tag of a container's rules on one network.
fn ctr_tag(container_id: &str, network: &str) -> String {
    format!("pier:ctr:{container_id}:{network}")
}

/// Why a firewall tool failed, by kind: a tool that is not installed is not a tool that ran
/// and refused.
#[derive(Debug, thiserror::Error)]
enum ToolError {
    /// It could not be started: not installed (`io::ErrorKind::NotFound`), not executable.
    #[error("running {program}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// Feeding it its script, or reading what it printed, failed.
    #[error("{doing} {program}")]
    Io {
        doing: &'static str,
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// It ran and exited with a failure; its stderr says why.
    #[error("{program} {args} failed ({status}): {stderr}{script}")]
    Failed {
        program: String,
        args: String,
        status: std::process::ExitStatus,
        stderr: String,
        /// The script it was fed, when there was one (`\nscript:\n...`).
        script: String,
    },
}

/// Runs a program, feeding `stdin`, and returns its stdout; stderr goes into the error.
fn run(program: &str, args: &[&str], stdin: Option<&str>) -> Result<String> {
    Ok(run_tool(program, args, stdin)?)
}

/// [`run`], its failure by kind.
fn run_tool(
    program: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> std::result::Result<String, ToolError> {
    let io = |doing: &'static str| {
        move |source| ToolError::Io {
            doing,
            program: program.to_string(),
            source,
        }
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| ToolError::Spawn {
            program: program.to_string(),
            source,
        })?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())
            .map_err(io("writing the script to"))?;
    }
    let out = child.wait_with_output().map_err(io("waiting for"))?;
    if !out.status.success() {
        return Err(ToolError::Failed {
            program: program.to_string(),
            args: args.join(" "),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            script: stdin.map(|s| format!("\nscript:\n{s}")).unwrap_or_default(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// True if `program` can be found on PATH.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

/// A rule found in pier's table: where it is and its tag.
struct TaggedRule {
    chain: String,
    handle: u64,
    tag: String,
}

impl Firewall {
    /// nftables if `nft` is installed, iptables otherwise.
    pub fn detect(table: &str) -> Firewall {
        let backend = if on_path("nft") {
            Backend::Nftables
        } else {
            Backend::Iptables
        };
        Firewall::with_backend(table, backend)
    }

    /// A firewall on an explicit backend (tests use both).
    pub fn with_backend(table: &str, backend: Backend) -> Firewall {
        Firewall {
            table: table.to_string(),
            backend,
        }
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Installs a network's rules (replacing stale ones with the same tag).
    pub fn network_up(&self, net: &NetRules) -> Result<()> {
        let tag = net_tag(net.name);
        self.delete_tagged(|t| t == tag)?;
        let (br, subnet) = (net.bridge, net.subnet);
        match self.backend {
            Backend::Nftables => {
                let t = &self.table;
                let script = format!(
                    "{setup}\
                     add rule ip {t} postrouting ip saddr {subnet} oifname != \"{br}\" masquerade comment \"{tag}\"\n\
                     add rule ip {t} postrouting oifname \"{br}\" ip saddr 127.0.0.0/8 masquerade comment \"{tag}\"\n\
                     add rule ip {t} postrouting oifname \"{br}\" ip saddr {subnet} ct status dnat masquerade comment \"{tag}\"\n\
                     add rule ip {t} forward iifname \"{br}\" oifname \"{BRIDGE_PREFIX}*\" oifname != \"{br}\" drop comment \"{tag}\"\n\
                     add rule ip {t} input iifname \"{br}\" ip daddr {LOOPBACK_NET} ct status dnat accept comment \"{tag}\"\n\
                     add rule ip {t} input iifname \"{br}\" ip daddr {LOOPBACK_NET} drop comment \"{tag}\"\n",
                    setup = self.nft_setup()
                );
                run("nft", &["-f", "-"], Some(&script)).map(|_| ())
            }
            Backend::Iptables => {
                self.ipt_setup()?;
                let c = ["-m", "comment", "--comment", &tag];
                let pre = self.ipt_chain("POSTROUTING");
                let fwd = self.ipt_chain("FORWARD");
                let rules: Vec<(&str, Vec<&str>)> = vec![
                    ("nat", vec![&pre, "-s", subnet, "!", "-o", br, "-j", "MASQUERADE"]),
                    ("nat", vec![&pre, "-o", br, "-s", "127.0.0.0/8", "-j", "MASQUERADE"]),
                    ("nat", vec![&pre, "-o", br, "-s", subnet, "-m", "conntrack", "--ctstate", "DNAT", "-j", "MASQUERADE"]),
                ];
                let prefix = format!("{BRIDGE_PREFIX}+");
                let mut all = rules;
                let iso = self.ipt_chain("ISOLATE");
                all.push(("filter", vec![&fwd, "-i", br, "-o", &prefix, "-j", &iso]));
                // Packets without conntrack entry count as "not DNAT" and are dropped too.
                let input = self.ipt_chain("INPUT");
                all.push((
                    "filter",
                    vec![&input, "-i", br, "-d", LOOPBACK_NET, "-m", "conntrack", "!", "--ctstate", "DNAT", "-j", "DROP"],
                ));
                for (table, mut args) in all {
                    args.extend_from_slice(&c);
                    let mut full = vec!["-w", "-t", table, "-A"];
                    full.extend(args);
                    run("iptables", &full, None)?;
                }
                // Traffic staying on its own bridge is not isolated: the isolation chain
                // returns for it and drops everything else.
                let mut own = vec!["-w", "-t", "filter", "-I", &iso, "-i", br, "-o", br, "-j", "RETURN"];
                own.extend_from_slice(&c);
                run("iptables", &own, None).map(|_| ())
            }
        }
        .and_then(|()| self.forward_accept_up(br, &tag))
        .with_context(|| format!("installing firewall rules for network {}", net.name))
    }

    /// ACCEPT rules for `bridge`'s forwarded traffic in iptables' `filter FORWARD` path (see
    /// the module documentation); nothing when iptables is not installed (then no iptables
    /// policy can drop it either).
    fn forward_accept_up(&self, bridge: &str, tag: &str) -> Result<()> {
        if !on_path("iptables") {
            return Ok(());
        }
        let chain = self.ipt_chain("FORWARD");
        self.ipt_hook("filter", "FORWARD", &chain)?;
        let rules: [Vec<&str>; 3] = [
            vec!["-i", bridge],
            vec![
                "-o",
                bridge,
                "-m",
                "conntrack",
                "--ctstate",
                "RELATED,ESTABLISHED",
            ],
            vec!["-o", bridge, "-m", "conntrack", "--ctstate", "DNAT"],
        ];
        for rule in rules {
            let mut args = vec!["-w", "-t", "filter", "-A", &chain];
            args.extend(rule);
            args.extend(["-j", "ACCEPT", "-m", "comment", "--comment", tag]);
            run("iptables", &args, None)?;
        }
        Ok(())
    }

    /// Creates iptables chain `chain` in `table` and the jump to it from `hook`, if missing.
    fn ipt_hook(&self, table: &str, hook: &str, chain: &str) -> Result<()> {
        let _ = run("iptables", &["-w", "-t", table, "-N", chain], None);
        if run(
            "iptables",
            &["-w", "-t", table, "-C", hook, "-j", chain],
            None,
        )
        .is_err()
        {
            run(
                "iptables",
                &["-w", "-t", table, "-I", hook, "-j", chain],
                None,
            )?;
        }
        Ok(())
    }

    /// Removes a network's rules.
    pub fn network_down(&self, network: &str) -> Result<()> {
        let tag = net_tag(network);
        self.delete_tagged(|t| t == tag)
            .with_context(|| format!("removing firewall rules of network {network}"))
    }

    /// Adds the DNAT rules publishing `ports` of a container reachable at `ip`.
    pub fn add_ports(
        &self,
        container_id: &str,
        network: &str,
        ip: Ipv4Addr,
        ports: &[PortMapping],
    ) -> Result<()> {
        if ports.is_empty() {
            return Ok(());
        }
        let tag = ctr_tag(container_id, network);
        match self.backend {
            Backend::Nftables => {
                let t = &self.table;
                let mut script = self.nft_setup();
                for m in ports {
                    let daddr = match m.host_ip {
                        Some(h) => format!("ip daddr {h}"),
                        None => "fib daddr type local".to_string(),
                    };
                    for chain in dnat_hooks(m, ["prerouting", "output"]) {
                        script.push_str(&format!(
                            "add rule ip {t} {chain} {daddr} {proto} dport {hp} dnat to {ip}:{cp} comment \"{tag}\"\n",
                            proto = m.protocol,
                            hp = m.host_port,
                            cp = m.container_port
                        ));
                    }
                }
                run("nft", &["-f", "-"], Some(&script)).map(|_| ())
            }
            Backend::Iptables => {
                self.ipt_setup()?;
                for m in ports {
                    let hp = m.host_port.to_string();
                    let to = format!("{ip}:{}", m.container_port);
                    let host_ip = m.host_ip.map(|h| h.to_string());
                    let proto = match m.protocol {
                        Protocol::Tcp => "tcp",
                        Protocol::Udp => "udp",
                    };
                    for hook in dnat_hooks(m, ["PREROUTING", "OUTPUT"]) {
                        let chain = self.ipt_chain(hook);
                        let mut args = vec!["-w", "-t", "nat", "-A", &chain];
                        match &host_ip {
                            Some(h) => args.extend(["-d", h.as_str()]),
                            None => args.extend(["-m", "addrtype", "--dst-type", "LOCAL"]),
                        }
                        args.extend(["-p", proto, "--dport", &hp, "-j", "DNAT"]);
                        args.extend(["--to-destination", &to, "-m", "comment", "--comment", &tag]);
                        run("iptables", &args, None)?;
                    }
                }
                Ok(())
            }
        }
        .with_context(|| format!("publishing ports of container {container_id}"))
    }

    /// Removes the rules of `container_id` on `network` (every network if `None`).
    pub fn remove_container(&self, container_id: &str, network: Option<&str>) -> Result<()> {
        let exact = network.map(|n| ctr_tag(container_id, n));
        let prefix = format!("pier:ctr:{container_id}:");
        self.delete_tagged(|t| match &exact {
            Some(e) => t == e,
            None => t.starts_with(&prefix),
        })
        .with_context(|| format!("removing firewall rules of container {container_id}"))
    }

    /// (container id, network) of every container rule present.
    pub fn container_rules(&self) -> Result<Vec<(String, String)>> {
        let mut out: Vec<(String, String)> = self
            .tagged_rules()?
            .into_iter()
            .filter_map(|r| {
                let rest = r.tag.strip_prefix("pier:ctr:")?;
                let (id, net) = rest.split_once(':')?;
                Some((id.to_string(), net.to_string()))
            })
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Every tag present (tests assert on them).
    pub fn tags(&self) -> Result<Vec<String>> {
        Ok(self.tagged_rules()?.into_iter().map(|r| r.tag).collect())
    }

    /// Deletes pier's whole table (nft) or chains (iptables). Only for tests and full
    /// uninstalls: it also removes rules of other pier networks sharing the table.
    pub fn destroy(&self) -> Result<()> {
        match self.backend {
            Backend::Nftables => {
                if on_path("iptables") {
                    let chain = self.ipt_chain("FORWARD");
                    let _ = run(
                        "iptables",
                        &["-w", "-t", "filter", "-D", "FORWARD", "-j", &chain],
                        None,
                    );
                    let _ = run("iptables", &["-w", "-t", "filter", "-F", &chain], None);
                    let _ = run("iptables", &["-w", "-t", "filter", "-X", &chain], None);
                }
                let script = format!("add table ip {t}\ndelete table ip {t}\n", t = self.table);
                run("nft", &["-f", "-"], Some(&script)).map(|_| ())
            }
            Backend::Iptables => {
                for (table, hook) in IPT_HOOKS {
                    let chain = self.ipt_chain(hook);
                    let _ = run(
                        "iptables",
                        &["-w", "-t", table, "-D", hook, "-j", &chain],
                        None,
                    );
                    let _ = run("iptables", &["-w", "-t", table, "-F", &chain], None);
                    let _ = run("iptables", &["-w", "-t", table, "-X", &chain], None);
                }
                let iso = self.ipt_chain("ISOLATE");
                let _ = run("iptables", &["-w", "-t", "filter", "-F", &iso], None);
                let _ = run("iptables", &["-w", "-t", "filter", "-X", &iso], None);
                Ok(())
            }
        }
    }

    /// nft commands creating the table and its base chains; `add` is idempotent.
    fn nft_setup(&self) -> String {
        let t = &self.table;
        format!(
            "add table ip {t}\n\
             add chain ip {t} prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}\n\
             add chain ip {t} output {{ type nat hook output priority -100; policy accept; }}\n\
             add chain ip {t} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}\n\
             add chain ip {t} forward {{ type filter hook forward priority filter; policy accept; }}\n\
             add chain ip {t} input {{ type filter hook input priority filter; policy accept; }}\n"
        )
    }

    /// iptables chain pier uses for a built-in hook, e.g. `PIER-PREROUTING`.
    fn ipt_chain(&self, hook: &str) -> String {
        format!("{}-{hook}", self.table.to_uppercase())
    }

    /// Creates pier's iptables chains and the jumps to them, when missing.
    fn ipt_setup(&self) -> Result<()> {
        for (table, hook) in IPT_HOOKS {
            self.ipt_hook(table, hook, &self.ipt_chain(hook))?;
        }
        let iso = self.ipt_chain("ISOLATE");
        if run("iptables", &["-w", "-t", "filter", "-N", &iso], None).is_ok() {
            run(
                "iptables",
                &["-w", "-t", "filter", "-A", &iso, "-j", "DROP"],
                None,
            )?;
        }
        Ok(())
    }

    /// Every rule carrying a `pier:` tag.
    fn tagged_rules(&self) -> Result<Vec<TaggedRule>> {
        match self.backend {
            Backend::Nftables => nft_tagged_rules("nft", &self.table),
            Backend::Iptables => Ok(ipt_tagged_rules(&self.ipt_all_chains())),
        }
    }

    /// (table, chain) of every iptables chain pier owns.
    fn ipt_all_chains(&self) -> Vec<(&'static str, String)> {
        IPT_HOOKS
            .iter()
            .map(|&(table, hook)| (table, self.ipt_chain(hook)))
            .chain([("filter", self.ipt_chain("ISOLATE"))])
            .collect()
    }

    /// Deletes every rule whose tag satisfies `select`.
    fn delete_tagged(&self, select: impl Fn(&str) -> bool) -> Result<()> {
        if self.backend == Backend::Nftables && on_path("iptables") {
            // The forward ACCEPT rules live in iptables whatever the backend.
            let forward = [("filter", self.ipt_chain("FORWARD"))];
            let doomed = ipt_tagged_rules(&forward)
                .into_iter()
                .filter(|r| select(&r.tag))
                .collect();
            ipt_delete(doomed)?;
        }
        let doomed: Vec<TaggedRule> = self
            .tagged_rules()?
            .into_iter()
            .filter(|r| select(&r.tag))
            .collect();
        if doomed.is_empty() {
            return Ok(());
        }
        match self.backend {
            Backend::Nftables => {
                let script: String = doomed
                    .iter()
                    .map(|r| {
                        format!(
                            "delete rule ip {} {} handle {}\n",
                            self.table, r.chain, r.handle
                        )
                    })
                    .collect();
                run("nft", &["-f", "-"], Some(&script)).map(|_| ())
            }
            Backend::Iptables => ipt_delete(doomed),
        }
    }
}

/// The hooks (`[prerouting, output]` as the backend names them) that DNAT a published
/// port. A port published on a loopback address gets the output hook only: the host's own
/// connections to it are NATed there, and a prerouting rule would also rewrite packets
/// that other machines send to 127.0.0.1 (moby#41872).
fn dnat_hooks<'a>(m: &PortMapping, [prerouting, output]: [&'a str; 2]) -> Vec<&'a str> {
    match m.host_ip {
        Some(ip) if ip.is_loopback() => vec![output],
        _ => vec![prerouting, output],
    }
}

/// The tagged rules in iptables chains `chains` ((table, chain) pairs; missing ones are
/// skipped). `chain` holds the table and the `-S` line, which [`ipt_delete`] turns back
/// into a deletion.
fn ipt_tagged_rules(chains: &[(&str, String)]) -> Vec<TaggedRule> {
    let mut found = Vec::new();
    for (table, chain) in chains {
        let Ok(out) = run("iptables", &["-w", "-t", table, "-S", chain], None) else {
            continue;
        };
        for line in out.lines() {
            if let Some(tag) = ipt_comment(line) {
                found.push(TaggedRule {
                    chain: format!("{table} {line}"),
                    handle: 0,
                    tag,
                });
            }
        }
    }
    found
}

/// The `pier:`-tagged rules of nftables table `ip <table>`, listed by the program `nft`:
/// none while the table does not exist. nft reports a missing table only in its message, so
/// after a failed listing the tables themselves are listed; an `nft` that cannot be run at
/// all is an error, never "no rules".
fn nft_tagged_rules(nft: &str, table: &str) -> Result<Vec<TaggedRule>> {
    let out = match run_tool(nft, &["-j", "-a", "list", "table", "ip", table], None) {
        Ok(out) => out,
        Err(failed @ ToolError::Failed { .. }) => {
            if nft_table_exists(nft, table)? {
                return Err(failed.into());
            }
            return Ok(Vec::new());
        }
        Err(e) => return Err(e.into()),
    };
    let doc: serde_json::Value =
        serde_json::from_str(&out).context("parsing `nft -j list` output")?;
    let items = doc["nftables"].as_array().cloned().unwrap_or_default();
    Ok(items
        .iter()
        .filter_map(|item| {
            let rule = item.get("rule")?;
            let tag = rule.get("comment")?.as_str()?;
            if !tag.starts_with("pier:") {
                return None;
            }
            Some(TaggedRule {
                chain: rule.get("chain")?.as_str()?.to_string(),
                handle: rule.get("handle")?.as_u64()?,
                tag: tag.to_string(),
            })
        })
        .collect())
}

/// Whether nftables holds table `ip <table>` (`nft -j list tables ip`).
fn nft_table_exists(nft: &str, table: &str) -> Result<bool> {
    let out = run(nft, &["-j", "list", "tables", "ip"], None)?;
    let doc: serde_json::Value =
        serde_json::from_str(&out).context("parsing `nft -j list tables` output")?;
    Ok(doc["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|item| item["table"]["name"].as_str() == Some(table)))
}

/// Deletes iptables rules found by [`ipt_tagged_rules`].
fn ipt_delete(rules: Vec<TaggedRule>) -> Result<()> {
    for r in rules {
        // `chain` holds "<table> -A CHAIN ...": the same words with -D delete it.
        let (table, line) = r.chain.split_once(' ').unwrap_or(("filter", &r.chain));
        let words = split_iptables_line(line.replacen("-A ", "-D ", 1).as_str());
        let mut args = vec!["-w".to_string(), "-t".to_string(), table.to_string()];
        args.extend(words);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run("iptables", &refs, None)?;
    }
    Ok(())
}

/// The `--comment` value of an `iptables -S` line, if it is a pier tag.
fn ipt_comment(line: &str) -> Option<String> {
    let words = split_iptables_line(line);
    let pos = words.iter().position(|w| w == "--comment")?;
    let tag = words.get(pos + 1)?;
    tag.starts_with("pier:").then(|| tag.clone())
}

/// Splits an `iptables -S` line into words, honouring double quotes.
fn split_iptables_line(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for ch in line.chars() {
        match ch {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// Turns on IPv4 forwarding (host-wide, as Docker does) so the host routes between its
/// bridges and the outside.
pub fn enable_ip_forward() -> Result<()> {
    let path = "/proc/sys/net/ipv4/ip_forward";
    let current = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    if current.trim() != "1" {
        std::fs::write(path, b"1").with_context(|| format!("writing 1 to {path}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_nft_is_an_error_not_an_empty_table() {
        let missing = "pier-test-no-such-nft";
        match run_tool(missing, &["-j", "list", "tables"], None) {
            Err(ToolError::Spawn { source, .. }) => {
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound)
            }
            other => panic!("expected a spawn error, got {other:?}"),
        }
        let err = nft_tagged_rules(missing, "pier").err();
        let text = err.map(|e| format!("{e:#}")).unwrap_or_default();
        assert!(
            text.starts_with("running pier-test-no-such-nft: "),
            "a missing nft must be an error, not \"no rules\": {text:?}"
        );
    }

    #[test]
    fn a_table_not_made_yet_has_no_rules() {
        if !on_path("nft") || !nix::unistd::geteuid().is_root() {
            return;
        }
        let rules = nft_tagged_rules("nft", "pier-test-never-made").unwrap();
        assert!(rules.is_empty());
    }
}
