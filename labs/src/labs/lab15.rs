//! Lab 15: several containers as one application — `pier compose` starts a two-service
//! project (a `store` that keeps a token in a named volume, a `web` that fetches it by the
//! service's name), a healthcheck gates `depends_on`, the volume outlives `down` and goes with
//! `down -v`. Checked from the containers' compose labels, pier's event log (creations,
//! removals, starts and how far apart), the volume's content and the server's answer.

use super::{ensure_busybox, COMPOSE};
use crate::context::Ctx;
use crate::evidence::is_live;
use crate::lab::{Lab, Outcome, Task};
use crate::probe;
use crate::text::{self, josa, tr, Josa, Lang, Msg};
use anyhow::{Context, Result};
use pier_engine::compose::containers::config_hash;
use pier_engine::compose::labels as compose_labels;
use pier_engine::compose::project::{Project, ProjectOptions};
use pier_engine::container::events::{Action, Event};
use pier_engine::container::record::ContainerRecord;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

const N: u32 = 15;

/// The compose project (its `name:`): containers `lab15-store-1`, `lab15-web-1`.
pub const PROJECT: &str = "lab15";

/// The named volume the project makes (`<project>_data`).
pub const VOLUME: &str = "lab15_data";

/// The project's default network.
pub const NETWORK: &str = "lab15_default";

/// The host port the web service is published on.
pub const PORT: u16 = 8015;

/// Seconds the store waits before it serves (a slow database starting up).
const STORE_DELAY: f64 = 2.0;

/// The compose file `pier lab start 15` writes: the web service depends on the store, but
/// only on its start, not on its being ready.
pub const COMPOSE_FILE: &str = r#"name: lab15
services:
  store:
    image: busybox
    command: ["sh", "-c", "sleep 2; [ -f /data/token ] || head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \\n' > /data/token; hostname >> /data/visits; exec httpd -f -p 80 -h /data"]
    volumes:
      - data:/data
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www; if wget -q -O /www/index.html http://store/token; then echo web got the token from store:; cat /www/index.html; echo; else echo web could not reach store > /www/index.html; cat /www/index.html; fi; exec httpd -f -p 80 -h /www"]
    ports:
      - "8015:80"
    depends_on:
      - store
volumes:
  data:
"#;

/// What the web service logs when it fetched the token by the store's name.
const GOT: &str = "web got the token from store:";

/// The lab.
pub fn lab() -> Lab {
    Lab {
        number: N,
        slug: "15-compose",
        title: tr(
            "Several containers as one application",
            "여러 컨테이너를 하나의 애플리케이션으로",
        ),
        minutes: 40,
        host_ports: &[PORT],
        networks: &[NETWORK],
        needs: Some(COMPOSE),
        prepare,
        tasks: vec![
            Task {
                id: "up",
                title: tr(
                    "the lab15 project runs: its store and web services are up",
                    "lab15 프로젝트가 실행 중이다: store와 web 서비스가 떠 있다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "cd \"$(pier lab dir 15)\" && pier compose up -d, then pier compose ps",
                    "cd \"$(pier lab dir 15)\" && pier compose up -d 한 다음 pier compose ps",
                ),
                check: up,
            },
            Task {
                id: "down-v",
                title: tr(
                    "a first store's volume was removed with pier compose down -v",
                    "첫 store의 볼륨이 pier compose down -v 로 삭제되었다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "After the first pier compose up -d (step 2), pier compose down -v removes the containers, the network and the volume lab15_data",
                    "첫 pier compose up -d (2단계) 다음에 pier compose down -v 는 컨테이너, 네트워크, 볼륨 lab15_data 를 모두 지웁니다",
                ),
                check: down_v,
            },
            Task {
                id: "gated",
                title: tr(
                    "web started only once store was healthy, and got its token",
                    "web이 store가 healthy가 된 뒤에야 시작되어 토큰을 받았다",
                ),
                after: &["up"],
                answer: None,
                hint: tr(
                    "Add the healthcheck to store and `condition: service_healthy` to web's depends_on (step 4), then pier compose up -d",
                    "store에 healthcheck를, web의 depends_on에 `condition: service_healthy` 를 추가하고(4단계) pier compose up -d",
                ),
                check: gated,
            },
            Task {
                id: "discovery",
                title: tr(
                    "you read the store's token through web, by the name store",
                    "web 안에서 이름 store로 store의 토큰을 읽었다",
                ),
                after: &["up"],
                answer: Some("token"),
                hint: tr(
                    "pier compose exec web wget -qO- http://store/token, then pier lab answer 15 token <TOKEN>",
                    "pier compose exec web wget -qO- http://store/token 한 다음 pier lab answer 15 token <토큰>",
                ),
                check: discovery,
            },
            Task {
                id: "survived",
                title: tr(
                    "the volume outlived pier compose down: two stores wrote to it",
                    "볼륨이 pier compose down 뒤에도 남았다: 두 store가 같은 볼륨에 썼다",
                ),
                after: &["up"],
                answer: None,
                hint: tr(
                    "pier compose down (without -v), then pier compose up -d: the new store finds the old token and adds its line to /data/visits",
                    "pier compose down (-v 없이) 한 다음 pier compose up -d: 새 store가 이전 토큰을 찾고 /data/visits 에 한 줄을 더합니다",
                ),
                check: survived,
            },
        ],
    }
}

fn prepare(ctx: &Ctx) -> Result<()> {
    ensure_busybox(ctx)?;
    let path = ctx.workdir(N).join("compose.yaml");
    std::fs::write(&path, COMPOSE_FILE).with_context(|| format!("writing {}", path.display()))
}

/// The compose labels of a container (`com.docker.compose.project` ...), read from its record.
fn labels(rec: &ContainerRecord) -> BTreeMap<String, String> {
    serde_json::to_value(rec)
        .ok()
        .and_then(|v| {
            let l = v["config"].get("labels").cloned()?;
            serde_json::from_value(l).ok()
        })
        .unwrap_or_default()
}

/// The project's container of `service`, found by its compose labels (not its name).
fn service(ctx: &Ctx, name: &str) -> Result<ContainerRecord> {
    let all = ctx.engine().containers()?;
    all.into_iter()
        .find(|r| {
            let l = labels(r);
            l.get("com.docker.compose.project").map(String::as_str) == Some(PROJECT)
                && l.get("com.docker.compose.service").map(String::as_str) == Some(name)
        })
        .ok_or_else(|| {
            Msg::new(
                format!("no container of the lab15 project runs the service {name}: pier compose up -d in the lab's directory"),
                format!(
                    "lab15 프로젝트에 {} 서비스를 실행하는 컨테이너가 없습니다: 실습 디렉터리에서 pier compose up -d",
                    name
                ),
            )
            .into()
        })
}

/// The running container of `service` and its init's host PID: one that `pier compose`
/// made from the lab's compose file, whose start pier logged for the process that runs now.
fn running_service(ctx: &Ctx, name: &str) -> Result<(ContainerRecord, i32)> {
    let rec = service(ctx, name)?;
    from_the_lab_file(ctx, &rec, name)?;
    let running = ctx.running(&rec.name)?;
    let started = events(ctx, &rec.name)?
        .into_iter()
        .rfind(|e| e.action == Action::Start && e.id == rec.id);
    if !started.as_ref().is_some_and(is_live) {
        return Err(Msg::new(
            format!(
                "pier's event log shows no start of the process {} runs now: pier compose up -d in the lab's directory",
                rec.name
            ),
            format!(
                "pier의 이벤트 로그에 {}에서 지금 실행 중인 프로세스의 시작 기록이 없습니다: 실습 디렉터리에서 pier compose up -d",
                rec.name
            ),
        )
        .into());
    }
    Ok(running)
}

/// Succeeds when `pier compose` made `rec` for `service` from the lab's compose file as it
/// is now: the `com.docker.compose.config-hash` label compose computes from the service's
/// configuration is the one the file gives, and the one of the container's own
/// configuration. A container run by hand with compose's labels has no such hash.
fn from_the_lab_file(ctx: &Ctx, rec: &ContainerRecord, service: &str) -> Result<()> {
    let not_compose = || -> anyhow::Error {
        Msg::new(
            format!(
                "{} was not made by pier compose from the lab's compose file as it is now (its com.docker.compose.config-hash label does not match): pier compose up -d in the lab's directory",
                rec.name
            ),
            format!(
                "{} 지금의 실습 compose 파일로 pier compose가 만든 컨테이너가 아닙니다 (com.docker.compose.config-hash 레이블이 맞지 않습니다): 실습 디렉터리에서 pier compose up -d",
                josa(&rec.name, Josa::EunNeun)
            ),
        )
        .into()
    };
    let claimed = labels(rec)
        .get(compose_labels::CONFIG_HASH)
        .cloned()
        .ok_or_else(not_compose)?;
    let project = lab_project(ctx, None)?;
    let expected = service_hash(&project, &project, service, &rec.name, &rec.image_id)?;
    let own = config_hash(&rec.config, &rec.image_id)?;
    if expected.as_deref() != Some(claimed.as_str()) || claimed != own {
        return Err(not_compose());
    }
    Ok(())
}

/// A file of the volume, read from its data directory on the host.
fn volume_file(ctx: &Ctx, file: &str) -> Result<String> {
    let volumes = ctx.engine().volumes()?;
    if !volumes.exists(VOLUME) {
        return Err(Msg::new(
            format!("there is no volume {VOLUME}: the project's store keeps its data there (pier compose up -d)"),
            format!(
                "볼륨 {} 없습니다: 프로젝트의 store가 데이터를 그 볼륨에 둡니다 (pier compose up -d)",
                josa(VOLUME, Josa::IGa)
            ),
        )
        .into());
    }
    let path: PathBuf = volumes.data_dir(VOLUME).join(file);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text.trim().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Msg::new(
            format!("the volume {VOLUME} has no /data/{file}: the store writes it when it starts"),
            format!(
                "볼륨 {VOLUME}에 /data/{file} 파일이 없습니다: store가 시작할 때 이 파일을 씁니다"
            ),
        )
        .into()),
        Err(e) => Err(e).with_context(|| format!("reading /data/{file} of the volume {VOLUME}")),
    }
}

/// Every event since the lab started of containers named `name` (all its incarnations).
fn events(ctx: &Ctx, name: &str) -> Result<Vec<Event>> {
    ctx.events(N, name)
}

/// The lab's compose project as the file in the lab's directory makes it now, or (`text`)
/// as that file would with another content: read from a private copy.
fn lab_project(ctx: &Ctx, text: Option<&str>) -> Result<Project> {
    let copy;
    let dir = match text {
        None => ctx.workdir(N),
        Some(text) => {
            copy = tempfile::tempdir().context("making a directory for the lab's first file")?;
            let path = copy.path().join("compose.yaml");
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            copy.path().to_path_buf()
        }
    };
    Project::load(&ProjectOptions {
        dir,
        ..Default::default()
    })
    .map_err(|e| {
        let e = format!("{e:#}");
        Msg::new(
            format!("the lab's compose file does not load: {e}"),
            format!("실습 compose 파일을 읽을 수 없습니다: {e}"),
        )
        .into()
    })
}

/// The config-hash compose gives container `name` of `service` in `project`, as if the file
/// were where `home`'s is (the file's path and directory are labels the hash covers).
fn service_hash(
    project: &Project,
    home: &Project,
    service: &str,
    name: &str,
    image_id: &str,
) -> Result<Option<String>> {
    let plan = |p: &Project| p.services.iter().find(|s| s.name == service).cloned();
    let (Some(plan), Some(at_home)) = (plan(project), plan(home)) else {
        return Ok(None);
    };
    let mut config = plan.config;
    for key in [compose_labels::WORKING_DIR, compose_labels::CONFIG_FILES] {
        match at_home.config.labels.get(key) {
            Some(v) => config.labels.insert(key.to_string(), v.clone()),
            None => config.labels.remove(key),
        };
    }
    config.name = Some(name.to_string());
    Ok(Some(config_hash(&config, image_id)?))
}

/// The config-hash labels of stores compose made from the lab's file: as `pier lab start`
/// wrote it (the first `up`, step 2) and as it is now.
fn store_hashes(ctx: &Ctx) -> Result<Vec<String>> {
    let image = ctx.image("busybox")?;
    let now = lab_project(ctx, None)?;
    let first = lab_project(ctx, Some(COMPOSE_FILE))?;
    let name = format!("{PROJECT}-store-1");
    let mut out = Vec::new();
    for project in [&first, &now] {
        out.extend(service_hash(project, &now, "store", &name, &image.id)?);
    }
    Ok(out)
}

/// The short IDs (= default hostnames) of every store container created since the start,
/// oldest first, with whether it was removed since.
fn stores(ctx: &Ctx) -> Result<Vec<(String, Option<Event>)>> {
    let events = events(ctx, &format!("{PROJECT}-store-1"))?;
    // Made by compose from the lab's file: a container run by hand with compose's labels has
    // no hash compose computed.
    let hashes = store_hashes(ctx)?;
    let by_compose = |e: &Event| {
        e.labels
            .get(compose_labels::CONFIG_HASH)
            .is_some_and(|h| hashes.contains(h))
    };
    // A store that never started wrote nothing.
    let ran = |id: &str| {
        events
            .iter()
            .any(|e| e.action == Action::Start && e.id == id && e.init.is_some())
    };
    Ok(events
        .iter()
        .filter(|e| e.action == Action::Create && by_compose(e) && ran(&e.id))
        .map(|c| {
            let destroyed = events
                .iter()
                .find(|e| e.action == Action::Destroy && e.id == c.id)
                .cloned();
            (c.id.chars().take(12).collect(), destroyed)
        })
        .collect())
}

fn up(ctx: &Ctx) -> Outcome {
    let mut seen = Vec::new();
    for name in ["store", "web"] {
        match running_service(ctx, name) {
            Ok((rec, _)) => seen.push(rec.name),
            Err(e) => return e.into(),
        }
    }
    let names = seen.join(", ");
    Outcome::passed(names.clone(), names)
}

fn down_v(ctx: &Ctx) -> Outcome {
    let all = match stores(ctx) {
        Ok(s) => s,
        Err(e) => return e.into(),
    };
    let Some((first, Some(destroyed))) = all.first().cloned() else {
        return Outcome::failed(
            format!(
                "pier's event log shows no store container created and removed: pier compose up -d, then pier compose down -v {}",
                text::before_start(Lang::En, N)
            ),
            format!(
                "pier의 이벤트 로그에 만들어졌다가 삭제된 store 컨테이너가 없습니다: pier compose up -d 한 다음 pier compose down -v {}",
                text::before_start(Lang::Ko, N)
            ),
        );
    };
    let visits = match volume_file(ctx, "visits") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    if visits.lines().any(|l| l.trim() == first) {
        return Outcome::failed(
            format!(
                "the volume {VOLUME} still holds the visit of the first store ({first}): pier compose down kept it; pier compose down -v removes it"
            ),
            format!(
                "볼륨 {VOLUME}에 첫 store({first})의 방문 기록이 아직 있습니다: pier compose down은 볼륨을 남깁니다. pier compose down -v가 볼륨을 지웁니다"
            ),
        );
    }
    let created = ctx
        .engine()
        .volumes()
        .and_then(|v| v.get(VOLUME))
        .ok()
        .and_then(|v| pier_oci::time::parse_rfc3339(&v.created_at).ok());
    match (created, destroyed.when()) {
        // The volume's time has whole seconds only.
        (Some(c), Some(d)) if c + Duration::from_secs(1) >= d => Outcome::passed(
            format!("store {first} removed with its volume"),
            format!("store {first}, 볼륨과 함께 삭제됨"),
        ),
        _ => Outcome::failed(
            format!(
                "the volume {VOLUME} is older than the removal of the first store ({first}): pier compose down -v"
            ),
            format!(
                "볼륨 {} 첫 store({first})가 삭제되기 전에 만들어졌습니다: pier compose down -v",
                josa(VOLUME, Josa::IGa)
            ),
        ),
    }
}

fn gated(ctx: &Ctx) -> Outcome {
    let (store, web) = match (service(ctx, "store"), service(ctx, "web")) {
        (Ok(s), Ok(w)) => (s, w),
        (Err(e), _) | (_, Err(e)) => return e.into(),
    };
    let line = match ctx.ps_line(&store.name) {
        Ok(l) => l,
        Err(e) => return e.into(),
    };
    if !line.contains("(healthy)") {
        return Outcome::failed(
            format!(
                "pier ps shows no (healthy) for {}: give the store the healthcheck of step 4",
                store.name
            ),
            format!(
                "pier ps에 {}의 (healthy)가 보이지 않습니다: store에 4단계의 healthcheck를 넣으세요",
                store.name
            ),
        );
    }
    let start = |rec: &ContainerRecord| -> Option<Event> {
        events(ctx, &rec.name)
            .ok()?
            .into_iter()
            .rfind(|e| e.action == Action::Start && e.id == rec.id)
    };
    let (Some(s), Some(w)) = (start(&store), start(&web)) else {
        return Outcome::failed(
            format!(
                "pier's event log shows no start of the current store and web {}",
                text::before_start(Lang::En, N)
            ),
            format!(
                "pier의 이벤트 로그에 지금의 store와 web이 시작된 기록이 없습니다 {}",
                text::before_start(Lang::Ko, N)
            ),
        );
    };
    let waited = w
        .when()
        .zip(s.when())
        .and_then(|(w, s)| w.duration_since(s).ok())
        .unwrap_or_default()
        .as_secs_f64();
    if waited < STORE_DELAY {
        return Outcome::failed(
            format!(
                "web started {waited:.1} s after store, before store could serve: add `condition: service_healthy` to web's depends_on"
            ),
            format!(
                "web이 store보다 {waited:.1}초 뒤에, store가 응답할 수 있기 전에 시작되었습니다: web의 depends_on에 `condition: service_healthy`를 넣으세요"
            ),
        );
    }
    let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, PORT));
    let token = volume_file(ctx, "token").unwrap_or_default();
    match probe::http_get(addr) {
        Ok(r) if !token.is_empty() && r.contains(&token) => Outcome::passed(
            format!("web started {waited:.1} s after store and serves its token"),
            format!("web이 store보다 {waited:.1}초 뒤에 시작되어 그 토큰을 보여 줍니다"),
        ),
        Ok(_) => Outcome::failed(
            format!("127.0.0.1:{PORT} answers without the store's token: did web reach store?"),
            format!("127.0.0.1:{PORT}의 응답에 store의 토큰이 없습니다: web이 store에 닿았나요?"),
        ),
        Err(_) => Outcome::failed(
            format!("nothing answers on 127.0.0.1:{PORT}"),
            format!("127.0.0.1:{PORT}에서 아무것도 응답하지 않습니다"),
        ),
    }
}

fn discovery(ctx: &Ctx) -> Outcome {
    let token = match volume_file(ctx, "token") {
        Ok(t) => t,
        Err(e) => return e.into(),
    };
    let web = match service(ctx, "web") {
        Ok(w) => w,
        Err(e) => return e.into(),
    };
    let log = match ctx.log(&web) {
        Ok(l) => l.unwrap_or_default(),
        Err(e) => return e.into(),
    };
    // The last fetch counts (the log keeps earlier runs of the container).
    let reached = log.contains(GOT)
        && log
            .rsplit(GOT)
            .next()
            .is_some_and(|rest| rest.split_whitespace().next() == Some(token.as_str()));
    if !reached {
        return Outcome::failed(
            format!(
                "{}'s log shows no token fetched from http://store/: it did not find the store by its name (pier compose logs web)",
                web.name
            ),
            format!(
                "{}의 로그에 http://store/에서 받아 온 토큰이 없습니다: 이름으로 store를 찾지 못했습니다 (pier compose logs web)",
                web.name
            ),
        );
    }
    let given = match ctx.answer(N, "token") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    if given.trim() == token {
        Outcome::passed(format!("token {token}"), format!("토큰 {token}"))
    } else {
        Outcome::failed(
            format!(
                "{given} is not the token the store serves now (was the volume removed since you read it?): pier compose exec web wget -qO- http://store/token"
            ),
            format!(
                "{} store가 지금 내주는 토큰이 아닙니다 (읽은 뒤에 볼륨이 지워졌나요?): pier compose exec web wget -qO- http://store/token",
                josa(&given, Josa::EunNeun)
            ),
        )
    }
}

fn survived(ctx: &Ctx) -> Outcome {
    let all = match stores(ctx) {
        Ok(s) => s,
        Err(e) => return e.into(),
    };
    let visits = match volume_file(ctx, "visits") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let lines: Vec<&str> = visits.lines().map(str::trim).collect();
    let known: Vec<&(String, Option<Event>)> = all
        .iter()
        .filter(|(id, _)| lines.contains(&id.as_str()))
        .collect();
    if lines.iter().any(|l| !all.iter().any(|(id, _)| id == l)) {
        let listed = lines.join(", ");
        return Outcome::failed(
            format!(
                "the volume's /data/visits names stores that pier's event log does not know ({listed}): only the stores write it"
            ),
            format!(
                "볼륨의 /data/visits에 pier의 이벤트 로그가 모르는 store가 있습니다 ({listed}): 이 파일은 store만 씁니다"
            ),
        );
    }
    if known.len() < 2 {
        return Outcome::failed(
            "only one store wrote to the volume: pier compose down (without -v), then pier compose up -d",
            "볼륨에 쓴 store가 하나뿐입니다: pier compose down (-v 없이) 한 다음 pier compose up -d",
        );
    }
    if known[0].1.is_none() {
        return Outcome::failed(
            "the first store of this volume was not removed: pier compose down removes the containers (restart and stop do not)",
            "이 볼륨의 첫 store가 삭제되지 않았습니다: pier compose down이 컨테이너를 지웁니다 (restart와 stop은 지우지 않습니다)",
        );
    }
    Outcome::passed(
        format!("{} stores wrote to {VOLUME}", known.len()),
        format!("store {}개가 {VOLUME}에 썼습니다", known.len()),
    )
}

#[cfg(test)]
mod tests {
    /// The lab text shows the compose file `pier lab start 15` writes, as it is.
    #[test]
    fn the_text_shows_the_file_the_lab_writes() {
        for text in [
            include_str!("../../15-compose/lab.md"),
            include_str!("../../15-compose/lab.ko.md"),
        ] {
            assert!(text.contains(super::COMPOSE_FILE));
        }
    }
}
