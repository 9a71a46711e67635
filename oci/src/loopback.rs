//! Bringing up `lo` in a new network namespace. A fresh namespace has only a loopback
//! interface, and it is down: without this, even `127.0.0.1` is unreachable inside a
//! `--network none` container. One `ioctl(SIOCSIFFLAGS)` is all it takes (no netlink needed).

use anyhow::{Context, Result};
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
use std::os::fd::AsRawFd;

/// Sets `IFF_UP` on `lo` in the calling process's network namespace.
pub(crate) fn loopback_up() -> Result<()> {
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .context("socket(AF_INET) for SIOCSIFFLAGS")?;
    // SAFETY: ifreq is plain old data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS fills ifr_flags of a valid ifreq for the named interface.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } != 0 {
        return Err(std::io::Error::last_os_error()).context("ioctl(SIOCGIFFLAGS, lo)");
    }
    // SAFETY: ifr_ifru is a union; after SIOCGIFFLAGS its ifru_flags member is the valid one.
    unsafe { req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads the ifreq we filled above.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } != 0 {
        return Err(std::io::Error::last_os_error()).context("ioctl(SIOCSIFFLAGS, lo up)");
    }
    Ok(())
}
