//! The guest's `/init` (a busybox shell script, PID 1 of the VM) and the protocol it
//! speaks with the host: the payload command and network address go in on the kernel
//! command line (`pier.cmd=<hex>`, `pier.ip=<cidr>`), and marker lines come back on the
//! serial console:
//!
//! - `PIER-BOOTED <guest uptime s>`: init started (printed before anything else),
//! - `PIER-WARN <text>`: something init could not do (e.g. load a module),
//! - `PIER-NET-UP <cidr>`: eth0 configured (only when `pier.ip` is given),
//! - `PIER-RESULT <line>`: one line of the payload's stdout,
//! - `PIER-EXIT <code>`: the payload's exit status; init then powers the VM off.

/// The init script. `pier.cmd` holds the hex of a shell-quoted argument list so that any
/// argument survives the kernel command line (which splits on spaces and knows no quotes).
pub const INIT_SCRIPT: &str = r#"#!/bin/busybox sh
# pier guest init (PID 1). Mounts, modules, network, then the payload; see guest_init.rs.
export PATH=/bin
/bin/busybox mount -t proc proc /proc
read up _ < /proc/uptime
echo "PIER-BOOTED $up"
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /lib/modules/load-order); do
    insmod "/lib/modules/$m.ko" || echo "PIER-WARN insmod $m failed"
done
cmd=
ip=
for word in $(cat /proc/cmdline); do
    case "$word" in
        pier.cmd=*) cmd="${word#pier.cmd=}" ;;
        pier.ip=*) ip="${word#pier.ip=}" ;;
    esac
done
if [ -n "$ip" ]; then
    ip link set lo up
    i=0
    while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
    if ip addr add "$ip" dev eth0 && ip link set eth0 up; then
        echo "PIER-NET-UP $ip"
    else
        echo "PIER-WARN cannot configure eth0 with $ip"
    fi
fi
args=$(echo "$cmd" | xxd -r -p)
eval "set -- $args"
set -o pipefail
/bin/pier-payload "$@" 2>/dev/console | while IFS= read -r line || [ -n "$line" ]; do
    echo "PIER-RESULT $line"
done
echo "PIER-EXIT $?"
poweroff -f
"#;

/// A marker line from the guest's console.
#[derive(Debug, Clone, PartialEq)]
pub enum Marker {
    /// Init started; the guest's uptime (seconds since its kernel started) at that point.
    Booted { uptime_s: f64 },
    /// Init could not do something (load a module, configure eth0).
    Warn(String),
    /// The guest's eth0 is up with this address.
    NetUp(String),
    /// One line of the payload's stdout.
    Result(String),
    /// The payload exited with this status.
    Exit(i32),
}

/// Parses a console line; `None` for kernel messages and other output. The marker may
/// follow other text on the same line, since kernel messages can interleave.
pub fn parse_marker(line: &str) -> Option<Marker> {
    let at = line.find("PIER-")?;
    let rest = line[at..].trim_end_matches(['\r', '\n']);
    let (tag, value) = rest.split_once(' ').unwrap_or((rest, ""));
    match tag {
        "PIER-BOOTED" => value
            .trim()
            .parse()
            .ok()
            .map(|uptime_s| Marker::Booted { uptime_s }),
        "PIER-WARN" => Some(Marker::Warn(value.trim().to_string())),
        "PIER-NET-UP" => Some(Marker::NetUp(value.trim().to_string())),
        "PIER-RESULT" => Some(Marker::Result(value.to_string())),
        "PIER-EXIT" => value.trim().parse().ok().map(Marker::Exit),
        _ => None,
    }
}

/// Quotes one argument for `sh` (single quotes; a quote becomes `'\''`).
fn shell_quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

/// The kernel command line: serial console, quiet, no reboot on panic, and pier's
/// parameters for init.
pub fn kernel_cmdline(args: &[&str], guest_cidr: Option<&str>) -> String {
    let quoted: Vec<String> = args.iter().map(|a| shell_quote(a)).collect();
    let mut line = format!(
        // panic=-1 with qemu -no-reboot turns a guest panic into a prompt qemu exit.
        // Mitigations stay at the kernel's default, like the host's, for a fair comparison.
        "console=ttyS0 quiet panic=-1 oops=panic pier.cmd={}",
        hex::encode(quoted.join(" "))
    );
    if let Some(cidr) = guest_cidr {
        line.push_str(&format!(" pier.ip={cidr}"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn markers_parse_even_after_other_text() {
        assert_eq!(
            parse_marker("PIER-BOOTED 1.23\r"),
            Some(Marker::Booted { uptime_s: 1.23 })
        );
        assert_eq!(
            parse_marker("[ 1.0] foo PIER-RESULT {\"a\": 1}"),
            Some(Marker::Result("{\"a\": 1}".into()))
        );
        assert_eq!(parse_marker("PIER-EXIT 3"), Some(Marker::Exit(3)));
        assert_eq!(
            parse_marker("PIER-WARN insmod x failed"),
            Some(Marker::Warn("insmod x failed".into()))
        );
        assert_eq!(parse_marker("Linux version 6.1"), None);
    }

    /// The host's busybox decodes and splits the argument list exactly as init does.
    #[test]
    fn awkward_arguments_survive_the_round_trip() {
        let args = ["net", "it's", "a b", "$HOME", "\"q\""];
        let line = kernel_cmdline(&args, None);
        let hexed = line.split("pier.cmd=").nth(1).unwrap();
        let script = format!(
            "args=$(echo {hexed} | xxd -r -p); eval \"set -- $args\"; for a in \"$@\"; do echo \"[$a]\"; done"
        );
        let out = Command::new("/bin/busybox")
            .args(["sh", "-c", &script])
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(text, "[net]\n[it's]\n[a b]\n[$HOME]\n[\"q\"]\n");
    }
}
