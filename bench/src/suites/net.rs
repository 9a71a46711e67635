//! net: TCP bulk throughput (`tcp_stream`, Gbit/s) and request/response latency
//! (`tcp_rr_latency`, µs = 1e6 / transactions per second, as in the IBM study) between a
//! client and the payload's server, along every path a container's traffic can take:
//!
//! | environment (variant) | client | server |
//! | --- | --- | --- |
//! | native | host | host process on 127.0.0.1 |
//! | pier (host) | host | pier container, `--network host`, 127.0.0.1 |
//! | pier (bridge) | host | pier container on the default bridge, at its IP |
//! | pier (bridge-c2c) | pier container on the bridge | the same bridged container |
//! | pier (published) | host | bridged container through `-p HOST:5201` on 127.0.0.1 (DNAT) |
//! | docker (bridge) | host | container on the bench dockerd's bridge, at its IP |
//! | docker (published) | host | that bridge through `-p 127.0.0.1:HOST:5201` (docker-proxy) |
//! | qemu-tcg/kvm (tap) | host | guest on a tap + bridge link |
//! | native (iperf3) | iperf3 on loopback, once, as a cross-check of `tcp_stream` |
//!
//! Servers start once, before the interleaved rounds, and are removed afterwards.

use super::{field, Ctx, SuiteOutput};
use crate::envs::docker::Docker;
use crate::envs::pier::PierRun;
use crate::envs::{Availability, NetMode};
use crate::harness::{Case, Failure, SampleMaker};
use anyhow::{bail, Context, Result};
use std::cell::RefCell;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The port payload servers listen on inside containers and the VM.
const SERVER_PORT: u16 = 5201;

/// Runs the net suite.
pub fn run(ctx: &Ctx) -> SuiteOutput {
    let mut out = SuiteOutput::default();
    let names: Vec<(String, String)> = ctx
        .envs
        .iter()
        .map(|e| (e.borrow().name(), e.borrow().variant()))
        .collect();
    let want = |n: &str| {
        names
            .iter()
            .any(|(name, v)| name == n && (v.is_empty() || v == "run"))
    };
    let mut servers = Servers::default();
    let mut targets: Vec<Target> = Vec::new();
    let mut fail = |case: &str, e: anyhow::Error| {
        out.failures.push(Failure {
            suite: "net".into(),
            case: case.into(),
            error: format!("{e:#}").replace('\n', " "),
        })
    };
    if want(crate::record::NATIVE) {
        match servers.native(&ctx.setup.payload) {
            Ok(addr) => targets.push(Target::host(crate::record::NATIVE, "", addr)),
            Err(e) => fail("native", e),
        }
    }
    if want("pier") {
        let pier = PierRun::new(ctx.setup, Availability::Available);
        servers.pier = Some(pier.clone());
        match servers.pier_host() {
            Ok(addr) => targets.push(Target::host("pier", "host", addr)),
            Err(e) => fail("pier (host)", e),
        }
        match servers.pier_bridge() {
            Ok(addr) => {
                targets.push(Target::host("pier", "bridge", addr));
                targets.push(Target {
                    env: "pier".into(),
                    variant: "bridge-c2c".into(),
                    addr,
                    client: Client::Container(pier.clone()),
                    accel: None,
                });
            }
            Err(e) => fail("pier (bridge)", e),
        }
        match servers.pier_published() {
            Ok(addr) => targets.push(Target::host("pier", "published", addr)),
            Err(e) => fail("pier (published)", e),
        }
    }
    if let Some(docker) = &ctx.docker {
        servers.docker = Some(docker.clone());
        match servers.docker_bridge() {
            Ok(addr) => targets.push(Target::host("docker", "bridge", addr)),
            Err(e) => fail("docker (bridge)", e),
        }
        match servers.docker_published() {
            Ok(addr) => targets.push(Target::host("docker", "published", addr)),
            Err(e) => fail("docker (published)", e),
        }
    }
    // The guest must stay on this thread (qemu dies with the thread that started it).
    let mut running_vm = None;
    if let Some(vm_env) = &ctx.vm {
        let vm_env = vm_env.borrow();
        if let Some(vm) = vm_env.vm() {
            let accel = crate::envs::vm_env::accel_label(vm).to_string();
            let args = ["net", "server", "--port", "5201", "--idle-timeout", "3600"];
            match vm.start_with_network(&args, None, ctx.settings.timeout * 4) {
                Ok(running) => {
                    let addr = SocketAddr::from((running.guest_ip(), SERVER_PORT));
                    match wait_connectable(addr, Duration::from_secs(60)) {
                        Ok(()) => targets.push(Target {
                            env: format!("qemu-{accel}"),
                            variant: "tap".into(),
                            addr,
                            client: Client::Host(ctx.setup.payload.clone()),
                            accel: Some(accel),
                        }),
                        Err(e) => fail("qemu (tap)", e),
                    }
                    running_vm = Some(running);
                }
                Err(e) => fail("qemu (tap)", e),
            }
        }
    }
    let maker = ctx.maker("net");
    let mut cases: Vec<Case> = targets
        .into_iter()
        .map(|t| client_case(ctx, t, maker.clone()))
        .collect();
    if want(crate::record::NATIVE) {
        match crate::envs::find_tool("iperf3") {
            Some(iperf) => {
                out.notes.push("tcp_stream cross-checked once with iperf3 on loopback (metric tcp_stream_iperf3)".into());
                cases.push(iperf_case(ctx, iperf, maker.clone()));
            }
            None => out
                .notes
                .push("iperf3 cross-check skipped: iperf3 is not installed".into()),
        }
    }
    let run = super::execute(ctx, "net", cases, ctx.settings.plan());
    drop(running_vm);
    drop(servers);
    out.samples = run.samples;
    out.failures.extend(run.failures);
    out
}

/// Who runs the client.
#[derive(Clone)]
enum Client {
    /// The payload on the host.
    Host(PathBuf),
    /// The payload in a pier container on the default bridge.
    Container(PierRun),
}

struct Target {
    env: String,
    variant: String,
    addr: SocketAddr,
    client: Client,
    accel: Option<String>,
}

impl Target {
    fn host(env: &str, variant: &str, addr: SocketAddr) -> Target {
        Target {
            env: env.into(),
            variant: variant.into(),
            addr,
            client: Client::Host(PathBuf::new()),
            accel: None,
        }
    }
}

fn client_case<'a>(ctx: &'a Ctx<'a>, t: Target, maker: SampleMaker) -> Case<'a> {
    let is_vm = t.accel.is_some();
    let label = format!("{} ({})", t.env, t.variant).replace(" ()", "");
    let client = match t.client {
        Client::Host(p) if p.as_os_str().is_empty() => Client::Host(ctx.setup.payload.clone()),
        c => c,
    };
    Case {
        label,
        runs: if is_vm {
            ctx.settings.vm_runs
        } else {
            ctx.settings.runs
        },
        warmup: !is_vm,
        run: Box::new(move |i| {
            let secs = ctx.settings.net_seconds.to_string();
            let mut samples = Vec::new();
            for mode in ["stream", "rr"] {
                let args: Vec<String> = [
                    "net",
                    "client",
                    "--host",
                    &t.addr.ip().to_string(),
                    "--port",
                    &t.addr.port().to_string(),
                    "--mode",
                    mode,
                    "--seconds",
                    &secs,
                ]
                .iter()
                .map(|s| s.to_string())
                .collect();
                let timeout = ctx.settings.timeout;
                let run = match &client {
                    Client::Host(p) => {
                        let mut c = Command::new(p);
                        c.args(&args);
                        crate::envs::run_timed(c, "payload net client", timeout)?
                    }
                    Client::Container(pier) => crate::envs::run_timed(
                        pier.run_command(NetMode::Private, &[], &args),
                        "pier run (net client)",
                        timeout,
                    )?,
                };
                let json = run.json(&t.env)?;
                let (metric, unit, value) = if mode == "stream" {
                    ("tcp_stream", "Gbit/s", field(&json, "gbits")?)
                } else {
                    ("tcp_rr_latency", "us", field(&json, "latency_from_tps_us")?)
                };
                samples.push(maker.make(
                    metric,
                    unit,
                    &t.env,
                    &t.variant,
                    i,
                    value,
                    t.accel.clone(),
                ));
            }
            Ok(samples)
        }),
    }
}

fn iperf_case<'a>(ctx: &'a Ctx<'a>, iperf: PathBuf, maker: SampleMaker) -> Case<'a> {
    Case {
        label: "native (iperf3)".into(),
        runs: 1,
        warmup: false,
        run: Box::new(move |i| {
            let port = free_port()?;
            let mut server = ChildGuard(
                Command::new(&iperf)
                    .args(["-s", "-1", "-B", "127.0.0.1", "-p", &port.to_string()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .context("spawning iperf3 -s")?,
            );
            // iperf3 -1 serves exactly one client, so readiness is polled by waiting, not
            // by connecting (a probe connection would be that one client).
            std::thread::sleep(Duration::from_millis(400));
            let out = Command::new(&iperf)
                .args(["-c", "127.0.0.1", "-p", &port.to_string(), "-J", "-t"])
                .arg(format!("{}", ctx.settings.net_seconds.max(1.0)))
                .output()
                .context("running iperf3 -c")?;
            let _ = server.0.wait();
            if !out.status.success() {
                bail!(
                    "iperf3 client failed: {}",
                    String::from_utf8_lossy(&out.stdout).trim()
                );
            }
            let json: serde_json::Value =
                serde_json::from_slice(&out.stdout).context("parsing iperf3 -J output")?;
            let bps = json["end"]["sum_received"]["bits_per_second"]
                .as_f64()
                .context("iperf3 output lacks end.sum_received.bits_per_second")?;
            Ok(vec![maker.make(
                "tcp_stream_iperf3",
                "Gbit/s",
                crate::record::NATIVE,
                "",
                i,
                bps / 1e9,
                None,
            )])
        }),
    }
}

/// Kills and reaps a child on drop.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The servers started for the suite; dropping removes them all.
#[derive(Default)]
struct Servers {
    native: Option<ChildGuard>,
    pier: Option<PierRun>,
    containers: Vec<String>,
    docker: Option<Rc<RefCell<Docker>>>,
    docker_containers: Vec<String>,
}

/// Container names, prefixed with the bench's PID so parallel runs do not collide.
fn container_name(what: &str) -> String {
    format!("pier-bench-net-{what}-{}", std::process::id())
}

impl Servers {
    fn native(&mut self, payload: &Path) -> Result<SocketAddr> {
        let mut child = Command::new(payload)
            .args([
                "net",
                "server",
                "--port",
                "0",
                "--bind",
                "127.0.0.1",
                "--idle-timeout",
                "3600",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("spawning the native net server")?;
        let stdout = child.stdout.take().context("server stdout")?;
        self.native = Some(ChildGuard(child));
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .context("reading the native server's address")?;
        let json: serde_json::Value =
            serde_json::from_str(line.trim()).with_context(|| format!("parsing {line:?}"))?;
        let addr: SocketAddr = json["listening"]
            .as_str()
            .context("server output lacks listening")?
            .parse()
            .context("parsing the server's address")?;
        Ok(addr)
    }

    fn start_container(
        &mut self,
        what: &str,
        net: NetMode,
        extra: &[String],
        server_args: &[&str],
    ) -> Result<String> {
        let pier = self.pier.clone().context("pier not set up")?;
        let name = container_name(what);
        // A leftover from an interrupted run would hold the name.
        let _ = pier.command().args(["rm", "-f", &name]).output();
        let mut flags = vec!["-d".to_string(), "--name".into(), name.clone()];
        flags.extend_from_slice(extra);
        let mut args = vec!["net".to_string(), "server".into()];
        args.extend(server_args.iter().map(|s| s.to_string()));
        args.extend(["--idle-timeout".into(), "3600".into()]);
        let out = pier
            .run_command(net, &flags, &args)
            .output()
            .with_context(|| format!("pier run -d {name}"))?;
        if !out.status.success() {
            bail!(
                "pier run -d {name} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        self.containers.push(name.clone());
        Ok(name)
    }

    fn pier_host(&mut self) -> Result<SocketAddr> {
        let port = free_port()?;
        self.start_container(
            "host",
            NetMode::Host,
            &[],
            &["--port", &port.to_string(), "--bind", "127.0.0.1"],
        )?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        wait_connectable(addr, Duration::from_secs(20))?;
        Ok(addr)
    }

    fn pier_bridge(&mut self) -> Result<SocketAddr> {
        let name = self.start_container("bridge", NetMode::Private, &[], &["--port", "5201"])?;
        let ip = container_ip(self.pier.as_ref().context("pier not set up")?, &name)?;
        let addr = SocketAddr::from((ip, SERVER_PORT));
        wait_connectable(addr, Duration::from_secs(20))?;
        Ok(addr)
    }

    /// A payload server in the bench's Docker, on its bridge, with `flags` (e.g. `-p`).
    fn start_docker(&mut self, what: &str, flags: &[String]) -> Result<String> {
        let docker = self.docker.clone().context("Docker not set up")?;
        let name = container_name(&format!("docker-{what}"));
        let args: Vec<String> = ["net", "server", "--port", "5201", "--idle-timeout", "3600"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        // Recorded first: a container that started but failed later is still removed.
        self.docker_containers.push(name.clone());
        docker
            .borrow()
            .run_detached(&name, NetMode::Private, flags, &args)?;
        Ok(name)
    }

    fn docker_bridge(&mut self) -> Result<SocketAddr> {
        let name = self.start_docker("bridge", &[])?;
        let docker = self.docker.clone().context("Docker not set up")?;
        let ip = docker.borrow().container_ip(&name)?;
        let addr = SocketAddr::from((ip, SERVER_PORT));
        wait_connectable(addr, Duration::from_secs(20))?;
        Ok(addr)
    }

    fn docker_published(&mut self) -> Result<SocketAddr> {
        let port = free_port()?;
        let publish = vec!["-p".to_string(), format!("127.0.0.1:{port}:{SERVER_PORT}")];
        self.start_docker("published", &publish)?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        wait_connectable(addr, Duration::from_secs(20))?;
        Ok(addr)
    }

    fn pier_published(&mut self) -> Result<SocketAddr> {
        let port = free_port()?;
        let publish = vec!["-p".to_string(), format!("{port}:{SERVER_PORT}")];
        self.start_container("published", NetMode::Private, &publish, &["--port", "5201"])?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        wait_connectable(addr, Duration::from_secs(20))?;
        Ok(addr)
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        if let Some(pier) = &self.pier {
            for name in &self.containers {
                let _ = pier.command().args(["rm", "-f", name]).output();
            }
        }
        if let Some(docker) = &self.docker {
            for name in &self.docker_containers {
                if let Err(e) = docker.borrow().remove(name) {
                    eprintln!("bench: removing {name}: {e:#}");
                }
            }
        }
    }
}

/// The bridged container's address, from pier's container record (the engine as a
/// library, not pier's text output).
fn container_ip(pier: &PierRun, name: &str) -> Result<Ipv4Addr> {
    let engine = pier_engine::container::Engine::open(pier.root())?;
    let (_, record) = engine.find(name)?;
    let net = record
        .network
        .with_context(|| format!("container {name} has no network endpoint"))?;
    find_ip(&net).with_context(|| format!("no IPv4 address in {name}'s endpoint {net}"))
}

/// The first `"ip"` field holding an IPv4 address, anywhere in `v`.
pub fn find_ip(v: &serde_json::Value) -> Option<Ipv4Addr> {
    match v {
        serde_json::Value::Object(m) => m
            .get("ip")
            .and_then(|ip| ip.as_str())
            .and_then(|s| s.parse().ok())
            .or_else(|| m.values().find_map(find_ip)),
        serde_json::Value::Array(a) => a.iter().find_map(find_ip),
        _ => None,
    }
}

/// A loopback port free right now.
fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0 to find a free port")?;
    Ok(l.local_addr().context("getsockname")?.port())
}

/// Waits until a TCP connection to `addr` succeeds (the payload server serves one client
/// at a time and drops a connection that sends nothing, so probing is harmless).
fn wait_connectable(addr: SocketAddr, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() > deadline => {
                return Err(e)
                    .with_context(|| format!("server at {addr} not reachable within {timeout:?}"))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_endpoint_ip() {
        let v = serde_json::json!({"network": "bridge", "ip": "172.18.0.5", "prefix": 16});
        assert_eq!(find_ip(&v), Some(Ipv4Addr::new(172, 18, 0, 5)));
        let v = serde_json::json!([{"x": 1}, {"inner": {"ip": "10.0.0.2"}}]);
        assert_eq!(find_ip(&v), Some(Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!(find_ip(&serde_json::json!({"ip": "nope"})), None);
    }
}
