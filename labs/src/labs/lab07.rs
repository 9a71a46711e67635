//! Lab 7: publishing ports — `-p HOST:CONTAINER`, a port pier picks, and the conflict when two
//! containers want the same host port.

use super::{ensure_busybox, number};
use crate::context::Ctx;
use crate::lab::{Lab, Outcome, Task};
use crate::probe;
use crate::text;
use crate::text::tr;
use pier_engine::container::events::Action;
use pier_engine::container::record::ContainerStatus;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

const N: u32 = 7;

/// What the lab's web servers serve.
const PAGE: &str = "hello from lab7";

/// The lab.
pub fn lab() -> Lab {
    Lab {
        number: N,
        slug: "07-ports",
        title: tr(
            "Publishing ports",
            "포트 공개하기",
        ),
        minutes: 30,
        host_ports: &[8080, 8081],
        networks: &[],
        needs: None,
        prepare: ensure_busybox,
        tasks: vec![
            Task {
                id: "web",
                title: tr(
                    "lab7-web answers on host port 8080",
                    "lab7-web이 호스트 포트 8080에서 응답한다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "pier run -d --name lab7-web -p 8080:80 busybox sh -c 'mkdir -p /www && echo hello from lab7 > /www/index.html && httpd -f -p 80 -h /www'",
                    "pier run -d --name lab7-web -p 8080:80 busybox sh -c 'mkdir -p /www && echo hello from lab7 > /www/index.html && httpd -f -p 80 -h /www'",
                ),
                check: web,
            },
            Task {
                id: "any",
                title: tr(
                    "you found the host port pier chose for lab7-any",
                    "pier가 lab7-any에 고른 호스트 포트를 찾았다",
                ),
                after: &[],
                answer: Some("port"),
                hint: tr(
                    "Run lab7-any like lab7-web but with -p 80 (no host port); `pier port lab7-any` shows the port pier picked: pier lab answer 7 port <PORT>",
                    "lab7-any를 lab7-web처럼 실행하되 -p 80(호스트 포트 없이)으로; `pier port lab7-any`가 pier가 고른 포트를 보여 줍니다: pier lab answer 7 port <PORT>",
                ),
                check: any,
            },
            Task {
                id: "clash",
                title: tr(
                    "lab7-clash could not take host port 8080 too, and you read why",
                    "lab7-clash는 호스트 포트 8080을 차지하지 못했고, 그 이유를 읽었다",
                ),
                after: &["web"],
                answer: Some("error"),
                hint: tr(
                    "pier run -d --name lab7-clash -p 8080:80 busybox httpd -f -p 80 must fail; record pier's error message: pier lab answer 7 error '<MESSAGE>'",
                    "pier run -d --name lab7-clash -p 8080:80 busybox httpd -f -p 80은 실패해야 합니다. pier의 오류 메시지를 기록하세요: pier lab answer 7 error '<MESSAGE>'",
                ),
                check: clash,
            },
            Task {
                id: "alt",
                title: tr(
                    "lab7-alt serves the same page on host port 8081",
                    "lab7-alt가 같은 페이지를 호스트 포트 8081에서 제공한다",
                ),
                after: &["clash"],
                answer: None,
                hint: tr(
                    "pier rm lab7-clash, then run the lab7-web command again with --name lab7-alt -p 8081:80",
                    "pier rm lab7-clash, 그다음 lab7-web 명령을 --name lab7-alt -p 8081:80으로 다시 실행하세요",
                ),
                check: alt,
            },
        ],
    }
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}

/// Whether the container `name` serves the page on host port `port`; the failure says whether
/// the server or the publishing is missing.
fn serves(ctx: &Ctx, name: &str, port: u16) -> Outcome {
    let (_, pid) = match ctx.running(name) {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    match probe::http_get(local(port)) {
        Ok(r) if r.contains(PAGE) => return Outcome::pass(format!("127.0.0.1:{port} answers")),
        Ok(r) => {
            return Outcome::fail(format!(
                "127.0.0.1:{port} answers, but not with the lab page: {:?}",
                r.lines().next().unwrap_or("")
            ))
        }
        Err(_) => {}
    }
    // Tell apart "no server in the container" from "server, but the port is not published".
    let inside = probe::ipv4_addresses(pid)
        .ok()
        .and_then(|a| {
            a.first()
                .map(|(_, c)| probe::strip_prefix_len(c).to_string())
        })
        .and_then(|ip| ip.parse::<Ipv4Addr>().ok())
        .map(|ip| probe::http_get(SocketAddr::V4(SocketAddrV4::new(ip, 80))));
    match inside {
        Some(Ok(_)) => Outcome::fail(format!(
            "the server answers inside {name} on port 80, but nothing answers on host port {port}: publish it with -p {port}:80"
        )),
        _ => Outcome::fail(format!(
            "nothing answers on host port {port}, and nothing on port 80 inside {name}: is httpd running (pier logs {name})?"
        )),
    }
}

fn web(ctx: &Ctx) -> Outcome {
    serves(ctx, "lab7-web", 8080)
}

fn any(ctx: &Ctx) -> Outcome {
    let given = match ctx.answer(N, "port") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    // `pier port` prints `80/tcp -> 0.0.0.0:32768`; accept the port or that whole line.
    let port = given.rsplit(':').next().and_then(number).map(|p| p as u16);
    match port {
        Some(80) => Outcome::fail("80 is the container's port; the host port is the one after ->"),
        Some(p) => serves(ctx, "lab7-any", p),
        None => Outcome::fail(format!("{given:?} is not a port number")),
    }
}

/// The container a refused start names as holding the port: the word after
/// `published by pier container` in the error.
fn port_owner(error: &str) -> Option<&str> {
    let rest = &error[error.find("published by pier container ")? + 28..];
    rest.split(|c: char| !c.is_ascii_hexdigit()).next()
}

fn clash(ctx: &Ctx) -> Outcome {
    // pier refuses the second container when it starts; depending on the command it is
    // then left created (as Docker does) or removed. Either way it must not run, the refusal
    // must be in pier's event log (typing a message is not provoking it), the first server
    // must keep the port, and the student must have read the error.
    match ctx.container("lab7-clash") {
        Ok(rec) if rec.status == ContainerStatus::Running => {
            return Outcome::fail(
                "lab7-clash is running: it should not have been able to take port 8080 as well. Which ports did you publish?",
            )
        }
        Ok(rec) if !rec.config.publish.iter().any(|p| p.starts_with("8080:")) => {
            return Outcome::fail("lab7-clash did not ask for host port 8080 (-p 8080:80)")
        }
        _ => {}
    }
    let events = match ctx.events(N, "lab7-clash") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let Some(refusal) = events.iter().rev().find(|e| {
        e.action == Action::StartFailed && e.error.as_deref().is_some_and(|m| m.contains(":8080/"))
    }) else {
        return Outcome::fail(format!(
            "pier's event log (`pier events --container lab7-clash`) shows no refused start of lab7-clash on port 8080: run the command of step 3, with lab7-web running {}",
            text::before_start(ctx.lang(), N)
        ));
    };
    let printed = refusal.error.clone().unwrap_or_default();
    let error = match ctx.answer(N, "error") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    // The message names the container holding the port by its ID; its first 12 digits (as
    // `pier ps` shows them) are enough.
    match port_owner(&printed).map(|o| &o[..o.len().min(12)]) {
        Some(owner) if !owner.is_empty() && !error.contains(owner) => {
            return Outcome::fail(format!(
                "{error:?} is not the error pier printed for lab7-clash: that one names the container holding the port; `pier events --container lab7-clash` shows it again"
            ))
        }
        _ => {}
    }
    match serves(ctx, "lab7-web", 8080) {
        Outcome::Pass(_) => Outcome::pass("refused; lab7-web still owns port 8080"),
        Outcome::Fail(why) => {
            Outcome::fail(format!("after the clash, lab7-web no longer serves: {why}"))
        }
    }
}

fn alt(ctx: &Ctx) -> Outcome {
    serves(ctx, "lab7-alt", 8081)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_of_a_port_is_read_from_the_refusal() {
        let e = "connecting container lab7-clash to network bridge: publishing ports of container ae110f60bfb6: host port 0.0.0.0:8080/tcp is already published by pier container 80ee64297ff8";
        assert_eq!(port_owner(e), Some("80ee64297ff8"));
        assert_eq!(
            port_owner("host port 0.0.0.0:8080/tcp is in use by another process"),
            None
        );
    }
}
