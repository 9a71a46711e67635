//! Runs every `pier-payload` subcommand for real (short settings) and parses its JSON line.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PAYLOAD: &str = env!("CARGO_BIN_EXE_pier-payload");

/// Runs the payload, asserts success and exactly one JSON line on stdout.
fn run_json(args: &[&str]) -> Value {
    let out = Command::new(PAYLOAD).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "pier-payload {args:?} failed: {stderr}"
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.lines().count(),
        1,
        "expected one line, got {stdout:?}"
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

#[test]
fn start_prints_entry_timestamp() {
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    };
    let before = now();
    let v = run_json(&["start"]);
    let after = now();
    let entry = v["entry_ns"].as_u64().unwrap();
    assert!(
        before <= entry && entry <= after,
        "{before} <= {entry} <= {after}"
    );
}

#[test]
fn gflops_runs_verified_products() {
    let v = run_json(&["gflops", "--size", "64", "--size", "96", "--reps", "2"]);
    assert_eq!(v["suite"], "gflops");
    assert_eq!(v["kernel"], "gemm");
    assert_eq!(v["verified"], true);
    let results = v["results"].as_array().unwrap();
    let cpus = v["cpu_threads"].as_u64().unwrap();
    assert_eq!(results.len(), if cpus > 1 { 4 } else { 2 });
    for r in results {
        assert!(r["best_gflops"].as_f64().unwrap() > 0.0);
        assert_eq!(r["gflops"].as_array().unwrap().len(), 2);
    }
    let v = run_json(&[
        "gflops",
        "--kernel",
        "matrixmultiply",
        "--size",
        "64",
        "--reps",
        "1",
    ]);
    assert_eq!(v["kernel"], "matrixmultiply");
    assert!(v["results"][0]["median_gflops"].as_f64().unwrap() > 0.0);
}

#[test]
fn stream_reports_bandwidth() {
    let v = run_json(&["stream", "--size", "200000", "--reps", "2"]);
    for k in ["copy_gbs", "scale_gbs", "add_gbs", "triad_gbs"] {
        assert!(v[k].as_f64().unwrap() > 0.0, "{k} in {v}");
    }
    assert_eq!(v["triad_samples_gbs"].as_array().unwrap().len(), 2);
}

#[test]
fn jitter_summarises_and_writes_raw_samples() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw.txt");
    let v = run_json(&["jitter", "--iters", "300", "--raw", raw.to_str().unwrap()]);
    assert_eq!(v["iters"], 300);
    let (min, med, p99, max) = (
        v["min_ns"].as_f64().unwrap(),
        v["median_ns"].as_f64().unwrap(),
        v["p99_ns"].as_f64().unwrap(),
        v["max_ns"].as_f64().unwrap(),
    );
    assert!(0.0 < min && min <= med && med <= p99 && p99 <= max);
    let text = std::fs::read_to_string(&raw).unwrap();
    assert_eq!(text.lines().count(), 300);
    assert!(text.lines().all(|l| l.parse::<f64>().unwrap() > 0.0));
}

/// A running `net server`; killed on drop if the test fails before it exits.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let mut child = Command::new(PAYLOAD)
            .args([
                "net",
                "server",
                "--port",
                "0",
                "--bind",
                "127.0.0.1",
                "--idle-timeout",
                "20",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        let addr = v["listening"].as_str().unwrap();
        let port = addr.rsplit(':').next().unwrap().parse().unwrap();
        Server { child, port }
    }

    /// Waits (bounded) for the server to exit and returns whether it succeeded.
    fn wait_exit(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("net server did not exit within {within:?}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client(port: u16, args: &[&str]) -> Value {
    let port = port.to_string();
    let mut all = vec!["net", "client", "--host", "127.0.0.1", "--port", &port];
    all.extend_from_slice(args);
    run_json(&all)
}

#[test]
fn net_serves_sequential_clients_then_quits() {
    let mut server = Server::start(&[]);
    let s = client(server.port, &["--mode", "stream", "--seconds", "0.3"]);
    assert_eq!(s["mode"], "stream");
    assert!(s["bytes"].as_u64().unwrap() > 0);
    assert!(s["gbits"].as_f64().unwrap() > 0.0);
    let r = client(
        server.port,
        &[
            "--mode",
            "rr",
            "--seconds",
            "0.3",
            "--size",
            "100",
            "--response-size",
            "200",
        ],
    );
    assert_eq!(
        (r["request_size"].as_u64(), r["response_size"].as_u64()),
        (Some(100), Some(200))
    );
    assert!(r["transactions"].as_u64().unwrap() > 10);
    let (min, med, p99) = (
        r["lat_min_us"].as_f64().unwrap(),
        r["lat_median_us"].as_f64().unwrap(),
        r["lat_p99_us"].as_f64().unwrap(),
    );
    assert!(0.0 < min && min <= med && med <= p99);
    let q = client(server.port, &["--mode", "quit"]);
    assert_eq!(q["ok"], true);
    assert!(server.wait_exit(Duration::from_secs(5)));
}

#[test]
fn net_server_once_exits_after_one_client() {
    let mut server = Server::start(&["--once"]);
    let r = client(server.port, &["--mode", "rr", "--seconds", "0.2"]);
    assert_eq!(r["request_size"], 1);
    assert!(server.wait_exit(Duration::from_secs(5)));
}

#[test]
fn peak_reports_the_fma_kernel_and_its_gflops() {
    let v = run_json(&[
        "peak",
        "--threads",
        "1",
        "--warmup",
        "0.02",
        "--windows",
        "2",
        "--window",
        "0.02",
    ]);
    assert_eq!(v["suite"], "peak");
    assert!(
        ["avx512", "avx2", "sse2"].contains(&v["isa"].as_str().unwrap()),
        "{v}"
    );
    assert!(v["kernel"].as_str().unwrap().contains("12 chains"), "{v}");
    let p = &v["results"][0];
    assert_eq!(p["threads"], 1);
    assert_eq!(p["gflops"].as_array().unwrap().len(), 2);
    assert!(p["best_gflops"].as_f64().unwrap() > 0.0, "{v}");
}
