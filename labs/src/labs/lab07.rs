//! Lab 7: publishing ports — `-p HOST:CONTAINER`, a port pier picks, and the conflict when two
//! containers want the same host port.

use super::{ensure_busybox, number};
use crate::context::Ctx;
use crate::lab::{Lab, Outcome, Task};
use crate::probe;
use crate::text::{self, josa, tr, Josa, Msg};
use anyhow::{bail, Context, Result};
use pier_engine::container::events::Action;
use pier_engine::container::record::ContainerStatus;
use std::net::TcpStream;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

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

/// Sends `GET path` to `addr` (HTTP/1.0) and returns the body of a 200 answer.
fn http_body(addr: SocketAddr, path: &str) -> Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .with_context(|| format!("connecting to {addr}"))?;
    let out = probe::http_request(&mut s, addr, path)?;
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    if !head.lines().next().unwrap_or_default().contains(" 200") {
        bail!("{addr} answered {path} with {:?}", head.lines().next());
    }
    Ok(body.to_string())
}

/// Whether the server on host port `port` serves the files of `name`'s own /www: the checker
/// puts a file with a random name and content there from inside the container (`pier exec`)
/// and fetches it through the host port. A server on the host serving a copy of the lab page
/// does not have it.
fn serves_own_files(ctx: &Ctx, name: &str, port: u16) -> Result<bool, Msg> {
    let token = std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .map(|t| t.trim().to_string())
        .map_err(|e| text::machine_error(&format!("reading /proc/sys/kernel/random/uuid: {e}")))?;
    let file = format!("lab7-check-{token}.html");
    let write = format!("echo {token} > /www/{file}");
    if let Err(e) = ctx.pier_output(&["exec", name, "sh", "-c", &write]) {
        return Err(Msg::new(
            format!("the checker could not put a file into {name}'s /www ({e:#}): serve /www with httpd -h /www"),
            format!(
                "채점기가 {name}의 /www에 파일을 넣지 못했습니다 ({e:#}): httpd -h /www로 /www를 제공하세요"
            ),
        ));
    }
    let got = http_body(local(port), &format!("/{file}"));
    let _ = ctx.pier_output(&["exec", name, "rm", "-f", &format!("/www/{file}")]);
    Ok(got.is_ok_and(|body| body.trim() == token))
}

/// Whether the container `name` serves the page on host port `port`; the failure says whether
/// the server or the publishing is missing.
fn serves(ctx: &Ctx, name: &str, port: u16) -> Outcome {
    let (_, pid) = match ctx.running(name) {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    match probe::http_get(local(port)) {
        Ok(r) if r.contains(PAGE) => {
            return match serves_own_files(ctx, name, port) {
                Ok(true) => Outcome::passed(
                    format!("127.0.0.1:{port} answers with {name}'s own files"),
                    format!(
                        "{} {name} 자신의 파일로 응답합니다",
                        josa(&format!("127.0.0.1:{port}"), Josa::IGa)
                    ),
                ),
                Ok(false) => Outcome::failed(
                    format!(
                        "127.0.0.1:{port} answers with the lab page, but not from {name}: the checker put a file into {name}'s /www and host port {port} did not serve it (is it another server, on the host?)"
                    ),
                    format!(
                        "{} 실습 페이지로 응답하지만 {name}의 것이 아닙니다: 채점기가 {name}의 /www에 넣은 파일을 {} 제공하지 않았습니다 (호스트에 있는 다른 서버인가요?)",
                        josa(&format!("127.0.0.1:{port}"), Josa::IGa),
                        josa(&format!("호스트 포트 {port}"), Josa::IGa)
                    ),
                ),
                Err(m) => Outcome::Fail(m),
            };
        }
        Ok(r) => {
            let first = r.lines().next().unwrap_or("");
            return Outcome::failed(
                format!("127.0.0.1:{port} answers, but not with the lab page: {first:?}"),
                format!(
                    "{} 응답하지만 실습 페이지가 아닙니다: {first:?}",
                    josa(&format!("127.0.0.1:{port}"), Josa::IGa)
                ),
            );
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
        Some(Ok(_)) => Outcome::failed(
            format!(
                "the server answers inside {name} on port 80, but nothing answers on host port {port}: publish it with -p {port}:80"
            ),
            format!(
                "{name} 안의 포트 80에서는 서버가 응답하지만, 호스트 포트 {port}에서는 아무것도 응답하지 않습니다: {} 공개하세요",
                josa(&format!("-p {port}:80"), Josa::EuroRo)
            ),
        ),
        _ => Outcome::failed(
            format!(
                "nothing answers on host port {port}, and nothing on port 80 inside {name}: is httpd running (pier logs {name})?"
            ),
            format!(
                "호스트 포트 {port}에서도, {name} 안의 포트 80에서도 아무것도 응답하지 않습니다: httpd가 실행 중인가요 (pier logs {name})?"
            ),
        ),
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
        Some(80) => Outcome::failed(
            "80 is the container's port; the host port is the one after ->",
            "80은 컨테이너의 포트입니다. 호스트 포트는 -> 뒤에 있는 것입니다",
        ),
        Some(p) => serves(ctx, "lab7-any", p),
        None => Outcome::failed(
            format!("{given:?} is not a port number"),
            format!(
                "{} 포트 번호가 아닙니다",
                josa(&format!("{given:?}"), Josa::EunNeun)
            ),
        ),
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
            return Outcome::failed(
                "lab7-clash is running: it should not have been able to take port 8080 as well. Which ports did you publish?",
                "lab7-clash가 실행 중입니다: 포트 8080까지 차지할 수는 없었어야 합니다. 어떤 포트를 공개했나요?",
            )
        }
        Ok(rec) if !rec.config.publish.iter().any(|p| p.starts_with("8080:")) => {
            return Outcome::failed(
                "lab7-clash did not ask for host port 8080 (-p 8080:80)",
                "lab7-clash가 호스트 포트 8080을 요청하지 않았습니다 (-p 8080:80)",
            )
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
        return Outcome::failed(
            format!(
                "pier's event log (`pier events --container lab7-clash`) shows no refused start of lab7-clash on port 8080: run the command of step 3, with lab7-web running {}",
                text::before_start(text::Lang::En, N)
            ),
            format!(
                "pier의 이벤트 로그(`pier events --container lab7-clash`)에 포트 8080에서 거부된 lab7-clash의 시작이 없습니다: lab7-web이 실행 중인 상태에서 3단계의 명령을 실행하세요 {}",
                text::before_start(text::Lang::Ko, N)
            ),
        );
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
            return Outcome::failed(
                format!(
                    "{error:?} is not the error pier printed for lab7-clash: that one names the container holding the port; `pier events --container lab7-clash` shows it again"
                ),
                format!(
                    "{} pier가 lab7-clash에 대해 출력한 오류가 아닙니다: 그 오류는 포트를 차지한 컨테이너를 ID로 가리킵니다. `pier events --container lab7-clash`가 다시 보여 줍니다",
                    josa(&format!("{error:?}"), Josa::EunNeun)
                ),
            )
        }
        _ => {}
    }
    match serves(ctx, "lab7-web", 8080) {
        Outcome::Pass(_) => Outcome::passed(
            "refused; lab7-web still owns port 8080",
            "거부됨. 포트 8080은 여전히 lab7-web의 것입니다",
        ),
        Outcome::Fail(why) => Outcome::failed(
            format!("after the clash, lab7-web no longer serves: {}", why.en),
            format!("충돌 뒤에 lab7-web이 더는 응답하지 않습니다: {}", why.ko),
        ),
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
