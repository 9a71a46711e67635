//! `net`: TCP bulk throughput and request/response latency, like nuttcp / netperf TCP_RR.
//!
//! Protocol: the client opens a connection and sends a 16-byte header
//! (`b"PIER"`, op, request size, response size; little-endian u32s).
//! * op 1 (stream): the client writes for `--seconds`, shuts down its write side, and the
//!   server answers with the byte count it received (u64), so the client's timing includes
//!   draining the pipe.
//! * op 2 (rr): the client sends `request` bytes, the server answers `response` bytes, one
//!   transaction at a time, until the client closes.
//! * op 3 (quit): the server acknowledges and exits.
//!
//! The server serves clients one after another (a benchmark wants one flow at a time), exits
//! after the first with `--once`, on a quit request, or after `--idle-timeout` seconds
//! without a client; sockets have read timeouts so nothing hangs forever.

use anyhow::{bail, Context, Result};
use pier_record::stats::{self, Summary};
use serde::{Deserialize, Serialize};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

const MAGIC: &[u8; 4] = b"PIER";
const OP_STREAM: u32 = 1;
const OP_RR: u32 = 2;
const OP_QUIT: u32 = 3;
/// A stalled peer is given up on after this long.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// `pier-payload net ...`.
#[derive(Debug, clap::Subcommand)]
pub enum NetCommand {
    /// Accept clients one after another.
    Server(ServerArgs),
    /// Run one measurement against a server.
    Client(ClientArgs),
}

/// Arguments of `net server`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// TCP port (0 = pick a free one; the chosen port is printed).
    #[arg(long, default_value_t = 5201)]
    pub port: u16,
    /// Address to bind.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind: String,
    /// Exit after serving one client.
    #[arg(long)]
    pub once: bool,
    /// Exit when no client connected for this many seconds.
    #[arg(long, default_value_t = 300.0)]
    pub idle_timeout: f64,
}

/// Which measurement a client makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Bulk transfer throughput.
    Stream,
    /// Request/response transactions.
    Rr,
    /// Tell the server to exit.
    Quit,
}

/// Arguments of `net client`.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// Server host name or address.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Server port.
    #[arg(long, default_value_t = 5201)]
    pub port: u16,
    /// Measurement.
    #[arg(long, value_enum, default_value_t = Mode::Stream)]
    pub mode: Mode,
    /// Duration of the measurement.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Write size for stream (default 128 KiB); request size for rr (default 1 byte).
    #[arg(long)]
    pub size: Option<usize>,
    /// Response size for rr (default: same as the request; netperf's 100/200 is
    /// `--size 100 --response-size 200`).
    #[arg(long)]
    pub response_size: Option<usize>,
    /// Keep retrying the connection this long (the server may still be starting).
    #[arg(long, default_value_t = 5.0)]
    pub connect_timeout: f64,
}

/// The line `net server` prints once it listens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerReady {
    /// Always `"net-server"`.
    pub suite: String,
    /// The bound address, including the port actually chosen.
    pub listening: String,
}

/// The JSON line printed by `net client --mode stream`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamOutput {
    /// Always `"net"`.
    pub suite: String,
    /// Always `"stream"`.
    pub mode: String,
    /// Bytes the server acknowledged.
    pub bytes: u64,
    /// Seconds from first write to the server's acknowledgement.
    pub seconds: f64,
    /// Throughput, 1e9 bits per second.
    pub gbits: f64,
    /// Write size.
    pub write_size: usize,
}

/// The JSON line printed by `net client --mode rr`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RrOutput {
    /// Always `"net"`.
    pub suite: String,
    /// Always `"rr"`.
    pub mode: String,
    /// Request size, bytes.
    pub request_size: usize,
    /// Response size, bytes.
    pub response_size: usize,
    /// Completed transactions.
    pub transactions: usize,
    /// Transactions per second.
    pub tps: f64,
    /// 1e6 / tps: the IBM study's definition of latency.
    pub latency_from_tps_us: f64,
    /// Per-transaction round trip, microseconds.
    pub lat_min_us: f64,
    /// Median round trip, us.
    pub lat_median_us: f64,
    /// 90th percentile, us.
    pub lat_p90_us: f64,
    /// 99th percentile, us.
    pub lat_p99_us: f64,
    /// 99.9th percentile, us.
    pub lat_p999_us: f64,
    /// Maximum, us.
    pub lat_max_us: f64,
    /// Mean, us.
    pub lat_mean_us: f64,
}

/// Runs a server or a client.
pub fn run(cmd: &NetCommand) -> Result<()> {
    match cmd {
        NetCommand::Server(a) => serve(a),
        NetCommand::Client(a) => match a.mode {
            Mode::Stream => super::emit(&client_stream(a)?),
            Mode::Rr => super::emit(&client_rr(a)?),
            Mode::Quit => {
                let mut s = connect(a)?;
                send_header(&mut s, OP_QUIT, 0, 0)?;
                let mut ack = [0u8; 1];
                s.read_exact(&mut ack)
                    .context("reading quit acknowledgement")?;
                super::emit(&serde_json::json!({"suite": "net", "mode": "quit", "ok": true}))
            }
        },
    }
}

fn header(op: u32, req: u32, resp: u32) -> [u8; 16] {
    let mut h = [0u8; 16];
    h[..4].copy_from_slice(MAGIC);
    h[4..8].copy_from_slice(&op.to_le_bytes());
    h[8..12].copy_from_slice(&req.to_le_bytes());
    h[12..].copy_from_slice(&resp.to_le_bytes());
    h
}

fn send_header(s: &mut TcpStream, op: u32, req: usize, resp: usize) -> Result<()> {
    let (req, resp) = (u32::try_from(req)?, u32::try_from(resp)?);
    s.write_all(&header(op, req, resp))
        .context("sending request header")
}

/// Listens and serves clients sequentially until `--once`, quit or idle timeout.
pub fn serve(a: &ServerArgs) -> Result<()> {
    let listener = TcpListener::bind((a.bind.as_str(), a.port))
        .with_context(|| format!("binding {}:{}", a.bind, a.port))?;
    let local = listener.local_addr().context("getsockname on listener")?;
    super::emit(&ServerReady {
        suite: "net-server".into(),
        listening: local.to_string(),
    })?;
    // Non-blocking accept lets the idle timeout be checked without a second thread.
    listener
        .set_nonblocking(true)
        .context("setting listener non-blocking")?;
    let idle = Duration::from_secs_f64(a.idle_timeout.max(0.0));
    let mut last = Instant::now();
    let mut served = 0usize;
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                served += 1;
                let quit = match serve_one(stream) {
                    Ok(q) => q,
                    Err(e) => {
                        eprintln!("net server: client {peer}: {e:#}");
                        false
                    }
                };
                if quit || a.once {
                    break;
                }
                last = Instant::now();
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if last.elapsed() >= idle {
                    eprintln!("net server: idle for {:.0} s, exiting", idle.as_secs_f64());
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e).context("accept on listener"),
        }
    }
    eprintln!("net server: served {served} client(s)");
    Ok(())
}

/// Serves one connection; returns whether the client asked the server to quit.
fn serve_one(mut s: TcpStream) -> Result<bool> {
    s.set_nonblocking(false)
        .context("setting socket blocking")?;
    s.set_read_timeout(Some(IO_TIMEOUT))
        .context("SO_RCVTIMEO")?;
    s.set_write_timeout(Some(IO_TIMEOUT))
        .context("SO_SNDTIMEO")?;
    s.set_nodelay(true).context("TCP_NODELAY")?;
    let mut h = [0u8; 16];
    s.read_exact(&mut h).context("reading header")?;
    if &h[..4] != MAGIC {
        bail!("bad magic in header");
    }
    let word = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    match word(4) {
        OP_STREAM => {
            let mut buf = vec![0u8; 1 << 17];
            let mut total = 0u64;
            loop {
                match s.read(&mut buf) {
                    Ok(0) => break,
                    Ok(k) => total += k as u64,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e).context("reading stream data"),
                }
            }
            s.write_all(&total.to_le_bytes())
                .context("sending byte count")?;
            Ok(false)
        }
        OP_RR => {
            let (req, resp) = (word(8) as usize, word(12) as usize);
            let mut rbuf = vec![0u8; req.max(1)];
            let wbuf = vec![0x5au8; resp.max(1)];
            loop {
                // A clean close between transactions ends the session.
                match s.read(&mut rbuf[..1]) {
                    Ok(0) => return Ok(false),
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e).context("reading request"),
                }
                if req > 1 {
                    s.read_exact(&mut rbuf[1..req]).context("reading request")?;
                }
                s.write_all(&wbuf[..resp.max(1)])
                    .context("writing response")?;
            }
        }
        OP_QUIT => {
            s.write_all(&[1]).context("acknowledging quit")?;
            Ok(true)
        }
        op => bail!("unknown op {op}"),
    }
}

fn connect(a: &ClientArgs) -> Result<TcpStream> {
    let deadline = Instant::now() + Duration::from_secs_f64(a.connect_timeout.max(0.0));
    let addrs: Vec<_> = (a.host.as_str(), a.port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {}:{}", a.host, a.port))?
        .collect();
    loop {
        let mut last_err = None;
        for addr in &addrs {
            match TcpStream::connect_timeout(addr, Duration::from_secs(2)) {
                Ok(s) => {
                    s.set_read_timeout(Some(IO_TIMEOUT))
                        .context("SO_RCVTIMEO")?;
                    s.set_write_timeout(Some(IO_TIMEOUT))
                        .context("SO_SNDTIMEO")?;
                    return Ok(s);
                }
                Err(e) => last_err = Some(e),
            }
        }
        if Instant::now() >= deadline {
            let e = last_err.map_or_else(|| "no address".to_string(), |e| e.to_string());
            bail!("connecting to {}:{}: {e}", a.host, a.port);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Bulk transfer for `--seconds`, timed until the server acknowledges the last byte.
pub fn client_stream(a: &ClientArgs) -> Result<StreamOutput> {
    let size = a.size.unwrap_or(1 << 17).max(1);
    let mut s = connect(a)?;
    send_header(&mut s, OP_STREAM, size, 0)?;
    let buf = vec![0xa5u8; size];
    let dur = Duration::from_secs_f64(a.seconds.max(0.0));
    let start = Instant::now();
    while start.elapsed() < dur {
        s.write_all(&buf).context("writing stream data")?;
    }
    s.shutdown(Shutdown::Write).context("shutdown(SHUT_WR)")?;
    let mut count = [0u8; 8];
    s.read_exact(&mut count)
        .context("reading server byte count")?;
    let secs = start.elapsed().as_secs_f64();
    let bytes = u64::from_le_bytes(count);
    let gbits = bytes as f64 * 8.0 / secs / 1e9;
    eprintln!("net stream: {bytes} bytes in {secs:.3} s = {gbits:.2} Gbit/s");
    Ok(StreamOutput {
        suite: "net".into(),
        mode: "stream".into(),
        bytes,
        seconds: secs,
        gbits,
        write_size: size,
    })
}

/// Request/response transactions for `--seconds`, one outstanding at a time.
pub fn client_rr(a: &ClientArgs) -> Result<RrOutput> {
    let req = a.size.unwrap_or(1).max(1);
    let resp = a.response_size.unwrap_or(req).max(1);
    let mut s = connect(a)?;
    s.set_nodelay(true).context("TCP_NODELAY")?;
    send_header(&mut s, OP_RR, req, resp)?;
    let wbuf = vec![0x3cu8; req];
    let mut rbuf = vec![0u8; resp];
    let dur = Duration::from_secs_f64(a.seconds.max(0.0));
    let mut lat_us = Vec::with_capacity(1 << 16);
    let start = Instant::now();
    while start.elapsed() < dur {
        let t = Instant::now();
        s.write_all(&wbuf).context("writing request")?;
        s.read_exact(&mut rbuf).context("reading response")?;
        lat_us.push(t.elapsed().as_nanos() as f64 / 1e3);
    }
    let secs = start.elapsed().as_secs_f64();
    let _ = s.shutdown(Shutdown::Both);
    let sum = Summary::of(&lat_us).context("no transaction completed")?;
    let tps = sum.n as f64 / secs;
    eprintln!(
        "net rr {req}/{resp}: {tps:.0} trans/s, median {:.1} us, p99 {:.1} us",
        sum.median, sum.p99
    );
    Ok(RrOutput {
        suite: "net".into(),
        mode: "rr".into(),
        request_size: req,
        response_size: resp,
        transactions: sum.n,
        tps,
        latency_from_tps_us: 1e6 / tps,
        lat_min_us: sum.min,
        lat_median_us: sum.median,
        lat_p90_us: stats::percentile(&lat_us, 90.0).unwrap_or(f64::NAN),
        lat_p99_us: sum.p99,
        lat_p999_us: sum.p999,
        lat_max_us: sum.max,
        lat_mean_us: sum.mean,
    })
}
