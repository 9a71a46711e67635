//! Reading kernel state the engine does not keep: namespaces of a process, addresses and
//! routes inside a network namespace, whether a TCP port answers.

use anyhow::{anyhow, bail, Context, Result};
use procfs::net::TcpState;
use procfs::process::FDTarget;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

/// The namespace a process is in, as `readlink /proc/PID/ns/KIND` shows it: `net:[4026532201]`.
pub fn namespace(pid: i32, kind: &str) -> Result<String> {
    let link = format!("/proc/{pid}/ns/{kind}");
    Ok(std::fs::read_link(&link)
        .with_context(|| format!("reading {link}"))?
        .to_string_lossy()
        .into_owned())
}

/// The inode number inside `net:[4026532201]`.
pub fn namespace_inode(text: &str) -> Option<u64> {
    let start = text.find('[').map(|i| i + 1).unwrap_or(0);
    let end = text[start..]
        .find(']')
        .map(|i| i + start)
        .unwrap_or(text.len());
    text[start..end].trim().parse().ok()
}

/// Runs `cmd` inside the given namespaces of process `pid` (`nsenter -t PID FLAGS -- CMD`)
/// and returns its standard output.
pub fn nsenter(pid: i32, flags: &[&str], cmd: &[&str]) -> Result<String> {
    let out = Command::new("nsenter")
        .arg("-t")
        .arg(pid.to_string())
        .args(flags)
        .arg("--")
        .args(cmd)
        .output()
        .with_context(|| format!("running nsenter -t {pid} {}", cmd.join(" ")))?;
    if !out.status.success() {
        bail!(
            "nsenter -t {pid} {} failed: {}",
            cmd.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// IPv4 addresses (`ADDR/PREFIX`, with their interface) in the network namespace of `pid`,
/// loopback excluded.
pub fn ipv4_addresses(pid: i32) -> Result<Vec<(String, String)>> {
    let text = nsenter(pid, &["-n"], &["ip", "-o", "-4", "addr", "show"])?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let ifname = f.get(1)?.to_string();
            let addr = f.get(3)?.to_string();
            (ifname != "lo").then_some((ifname, addr))
        })
        .collect())
}

/// The default route's gateway in the network namespace of `pid`.
pub fn default_gateway(pid: i32) -> Result<String> {
    let text = nsenter(pid, &["-n"], &["ip", "-4", "route", "show", "default"])?;
    let f: Vec<&str> = text.split_whitespace().collect();
    f.iter()
        .position(|w| *w == "via")
        .and_then(|i| f.get(i + 1))
        .map(|s| s.to_string())
        .ok_or_else(|| anyhow!("no default route in the container's network namespace"))
}

/// Sends `GET /` to `addr` and returns the whole response (status line, headers, body).
pub fn http_get(addr: SocketAddr) -> Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .with_context(|| format!("connecting to {addr}"))?;
    http_request(&mut s, addr, "/")
}

/// Sends `GET path` on the open connection `s` to `addr` and returns the whole response.
pub fn http_request(s: &mut TcpStream, addr: SocketAddr, path: &str) -> Result<String> {
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .with_context(|| format!("sending a request to {addr}"))?;
    let mut out = String::new();
    s.read_to_string(&mut out)
        .with_context(|| format!("reading the answer of {addr}"))?;
    Ok(out)
}

/// Downloads `path` from the web server at `addr` (HTTP/1.0) and returns the size of the body
/// and the time from connecting to the last byte: the checker's own transfer, to compare a
/// rate the student measured with.
pub fn http_download(addr: SocketAddr, path: &str) -> Result<(u64, Duration)> {
    let started = Instant::now();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .with_context(|| format!("connecting to {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .with_context(|| format!("sending a request to {addr}"))?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut head = Vec::new();
    let mut body = 0u64;
    loop {
        let n = s
            .read(&mut buf)
            .with_context(|| format!("reading {path} from {addr}"))?;
        if n == 0 {
            break;
        }
        if body == 0 && !head.ends_with(b"\r\n\r\n") {
            head.extend_from_slice(&buf[..n]);
            if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                body = (head.len() - end - 4) as u64;
                head.truncate(end + 4);
            }
        } else {
            body += n as u64;
        }
    }
    let status = String::from_utf8_lossy(head.split(|b| *b == b'\n').next().unwrap_or(&[]))
        .trim()
        .to_string();
    if !status.contains(" 200") {
        bail!("{addr} answered {path} with {status:?}");
    }
    Ok((body, started.elapsed()))
}

/// Which of `pids` hold a TCP socket listening on `port` (IPv4 or IPv6), as their own network
/// namespace lists it: proof that the server answering on a port is the container's.
pub fn listening(pids: &[i32], port: u16) -> Result<Vec<i32>> {
    let mut out = Vec::new();
    for &pid in pids {
        let Ok(p) = procfs::process::Process::new(pid) else {
            continue;
        };
        let mut inodes = Vec::new();
        for table in [p.tcp(), p.tcp6()] {
            let table = table.with_context(|| format!("reading /proc/{pid}/net/tcp"))?;
            inodes.extend(
                table
                    .into_iter()
                    .filter(|e| e.state == TcpState::Listen && e.local_address.port() == port)
                    .map(|e| e.inode),
            );
        }
        if inodes.is_empty() {
            continue;
        }
        let Ok(fds) = p.fd() else { continue };
        let holds = fds
            .flatten()
            .any(|fd| matches!(fd.target, FDTarget::Socket(i) if inodes.contains(&i)));
        if holds {
            out.push(pid);
        }
    }
    Ok(out)
}

/// Whether the network namespace of process `pid` holds the server end of a TCP connection
/// on its `port` from a client whose port is `peer_port` (IPv4 or IPv6, accepted or still in
/// the handshake): proof that a connection the caller opened reached that namespace, whatever
/// address rewriting (DNAT, masquerade) lay between. Waits up to a second for the handshake's
/// last packet.
pub fn accepted(pid: i32, port: u16, peer_port: u16) -> Result<bool> {
    let p = procfs::process::Process::new(pid).with_context(|| format!("reading /proc/{pid}"))?;
    for _ in 0..20 {
        let v4 = p
            .tcp()
            .with_context(|| format!("reading /proc/{pid}/net/tcp"))?;
        // tcp6 is absent on a kernel booted without IPv6.
        let v6 = p.tcp6().unwrap_or_default();
        for table in [v4, v6] {
            if table.iter().any(|e| {
                matches!(e.state, TcpState::Established | TcpState::SynRecv)
                    && e.local_address.port() == port
                    && e.remote_address.port() == peer_port
            }) {
                return Ok(true);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(false)
}

/// The records of the kernel's log (`dmesg`) still in its ring buffer, oldest first, each
/// without its `LEVEL,SEQ,TIME,FLAGS;` prefix: what the kernel itself reported (an OOM kill
/// names the memory cgroup it happened in), which no file a user can write holds.
pub fn kernel_log() -> Result<Vec<String>> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut kmsg = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/kmsg")
        .context("opening /dev/kmsg (the kernel's log)")?;
    let mut out = Vec::new();
    // One read, one record; the kernel's records are at most 8 KiB.
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match kmsg.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let text = String::from_utf8_lossy(&buf[..n]);
                let message = text.split_once(';').map_or(&*text, |(_, m)| m);
                out.push(message.trim_end().to_string());
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            // Records overwritten while reading: go on from the oldest one left.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
            Err(e) => return Err(e).context("reading /dev/kmsg (the kernel's log)"),
        }
    }
    Ok(out)
}

/// The zombies (exited, not yet reaped processes) whose parent lives in the PID namespace of
/// process `pid`: what a PID 1 that never calls `wait` collects. A zombie has no namespace of
/// its own any more, so it is found by its parent.
pub fn zombies_in_pid_namespace_of(pid: i32) -> Result<Vec<i32>> {
    let ns = namespace(pid, "pid")?;
    let mut members = Vec::new();
    let mut zombies = Vec::new();
    for p in procfs::process::all_processes()
        .context("listing /proc")?
        .flatten()
    {
        let Ok(stat) = p.stat() else { continue };
        if stat.state == 'Z' {
            zombies.push((stat.pid, stat.ppid));
        } else if namespace(stat.pid, "pid").is_ok_and(|n| n == ns) {
            members.push(stat.pid);
        }
    }
    Ok(zombies
        .into_iter()
        .filter(|(_, parent)| members.contains(parent))
        .map(|(z, _)| z)
        .collect())
}

/// The address part of `ADDR/PREFIX`.
pub fn strip_prefix_len(cidr: &str) -> &str {
    cidr.split('/').next().unwrap_or(cidr)
}

/// Whether a process's PID namespace differs from ours.
pub fn own_namespace(pid: i32, kind: &str) -> Result<bool> {
    Ok(namespace(pid, kind)? != namespace(std::process::id() as i32, kind)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inode_of_namespace_link() {
        assert_eq!(namespace_inode("net:[4026531840]"), Some(4026531840));
        assert_eq!(namespace_inode("4026531840"), Some(4026531840));
        assert_eq!(namespace_inode("net"), None);
    }

    #[test]
    fn our_namespace_is_readable() {
        let me = std::process::id() as i32;
        assert!(namespace(me, "pid").unwrap().starts_with("pid:["));
        assert!(!own_namespace(me, "net").unwrap());
    }
}
