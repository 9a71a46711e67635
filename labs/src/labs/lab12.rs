//! Lab 12: what runs under `docker run` and under `pier run` (the monitor and its parent),
//! the same engine driven through its Docker API socket with curl and the docker CLI, then an
//! OCI bundle made by hand and driven through its lifecycle with `pier runtime`.

use super::{ensure_busybox, number};
use crate::context::Ctx;
use crate::lab::{Lab, Outcome, Task};
use crate::text;
use crate::text::{josa, tr, Josa, Lang, Tr};
use pier_engine::container::config::API_CREATED_LABEL;
use pier_engine::container::events::Action;
use pier_engine::container::record::ContainerRecord;
use pier_oci::container::{OciState, Status};
use pier_oci::security::in_root::open_in_root;
use std::path::{Path, PathBuf};

const N: u32 = 12;

/// The `pier runtime` container's ID.
const OCI_ID: &str = "lab12-oci";

/// The lab.
pub fn lab() -> Lab {
    Lab {
        number: N,
        slug: "12-architecture",
        title: tr(
"Under the hood: monitors, runtimes, bundles",
"내부 구조: 모니터, 런타임, 번들",
),
        minutes: 50,
        host_ports: &[],
        networks: &[],
        needs: None,
        prepare: ensure_busybox,
        tasks: vec![
            Task {
                id: "monitor",
                title: tr(
"you found the PID of the pier process watching lab12-box",
"lab12-box를 지켜보는 pier 프로세스의 PID를 찾았다",
),
                after: &[],
                answer: Some("monitor"),
                hint: tr(
"pier run -d --name lab12-box busybox sleep 3600; the parent of its init (ps -o ppid= -p <PID>, the PID from pier inspect) is its monitor: pier lab answer 12 monitor <PID>",
"pier run -d --name lab12-box busybox sleep 3600; 그 init의 부모(ps -o ppid= -p <PID>, PID는 pier inspect에서)가 모니터입니다: pier lab answer 12 monitor <PID>",
),
                check: monitor,
            },
            Task {
                id: "parent",
                title: tr(
"you traced lab12-box's init up to PID 1: its monitor, and who adopted the monitor",
"lab12-box의 init에서 PID 1까지 부모를 따라 올라갔다: 모니터, 그리고 모니터를 입양한 프로세스",
),
                after: &["monitor"],
                answer: Some("parent"),
                hint: tr(
"ps -o ppid= -p <MONITOR PID>: the pier run -d that made it has exited, so who adopted the monitor? Give the whole chain, from the init up to PID 1: pier lab answer 12 parent \"<INIT> <MONITOR> ... 1\"",
"ps -o ppid= -p <MONITOR PID>: 모니터를 만든 pier run -d는 이미 끝났습니다. 그러면 누가 모니터를 입양했을까요? init에서 PID 1까지 사슬 전체를 적으세요: pier lab answer 12 parent \"<INIT> <MONITOR> ... 1\"",
),
                check: parent,
            },
            Task {
                id: "socket",
                title: tr(
"lab12-curl, made with curl on pier's socket, names lab12-docker, made with the docker CLI on it",
"소켓에서 curl로 만든 lab12-curl이, 같은 소켓에서 docker CLI로 만든 lab12-docker를 가리킨다",
),
                after: &[],
                answer: None,
                hint: tr(
"Step 2: pier system service --socket pier.sock & ; DOCKER_HOST=unix://$PWD/pier.sock docker run -d --name lab12-docker busybox sleep 3600; read its Id with curl --unix-socket pier.sock http://pier/v1.41/containers/lab12-docker/json; create lab12-curl with POST /v1.41/containers/create?name=lab12-curl, label lab12.sibling=<that Id>, and start it",
"2단계: pier system service --socket pier.sock & ; DOCKER_HOST=unix://$PWD/pier.sock docker run -d --name lab12-docker busybox sleep 3600; curl --unix-socket pier.sock http://pier/v1.41/containers/lab12-docker/json으로 Id를 읽고, POST /v1.41/containers/create?name=lab12-curl로 라벨 lab12.sibling=<그 Id>를 붙여 lab12-curl을 만들어 시작하세요",
),
                check: socket,
            },
            Task {
                id: "bundle",
                title: tr(
"the lab's bundle holds a config.json and the rootfs exported from lab12-export",
"실습 번들에 config.json과 lab12-export에서 내보낸 rootfs가 있다",
),
                after: &[],
                answer: None,
                hint: tr(
"Step 3: pier run --name lab12-export busybox sh -c 'hostname > /exported-from; cat /proc/sys/kernel/random/uuid >> /exported-from', pier export -o rootfs.tar lab12-export, untar it into bundle/rootfs, write bundle/config.json from the template",
"3단계: pier run --name lab12-export busybox sh -c 'hostname > /exported-from; cat /proc/sys/kernel/random/uuid >> /exported-from', pier export -o rootfs.tar lab12-export, 이를 bundle/rootfs에 풀고, 템플릿으로 bundle/config.json을 쓰세요",
),
                check: bundle,
            },
            Task {
                id: "lifecycle",
                title: tr(
"lab12-oci went through created, running and stopped, and was deleted",
"lab12-oci가 created, running, stopped를 거쳐 삭제되었다",
),
                after: &["bundle"],
                answer: None,
                hint: tr(
"pier runtime create -b bundle lab12-oci, then state, start, state, kill, state, delete; save each state as created.json, running.json, stopped.json in the lab's directory",
"pier runtime create -b bundle lab12-oci 다음 state, start, state, kill, state, delete; 각 상태를 실습 디렉터리에 created.json, running.json, stopped.json으로 저장하세요",
),
                check: lifecycle,
            },
        ],
    }
}

/// A running container `name` made through the Engine API (the service's label on it).
fn api_container(ctx: &Ctx, name: &str, how: Tr) -> Result<ContainerRecord, Outcome> {
    let (rec, _) = ctx.running(name).map_err(Outcome::from)?;
    if rec.config.labels.get(API_CREATED_LABEL).map(String::as_str) != Some("1") {
        return Err(Outcome::failed(
            format!(
                "{name} was not created through pier's socket (it has no {API_CREATED_LABEL} label, which the service puts on what it creates): remove it and make it {} {}",
                how.en,
                text::before_start(Lang::En, N)
            ),
            format!(
                "{} pier의 소켓을 거쳐 만들어지지 않았습니다 (서비스가 만드는 것에 붙이는 {API_CREATED_LABEL} 라벨이 없습니다): 지우고 {} 다시 만드세요 {}",
                josa(name, Josa::EunNeun),
                how.ko,
                text::before_start(Lang::Ko, N)
            ),
        ));
    }
    // A label can be typed (`pier run --label io.pier.api=1`); the monitor cannot: its command
    // line (`pier __monitor ... -- WORDS`) ends with the words of the command that started it,
    // the service's for the service's launcher, `run -d ...` for a `pier run -d`.
    let monitor = rec.monitor.filter(|p| p.is_alive()).map(|p| p.pid);
    let cmdline = monitor
        .and_then(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok())
        .unwrap_or_default();
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    if !args
        .windows(2)
        .any(|w| w == [&b"system"[..], &b"service"[..]])
    {
        let ran =
            String::from_utf8_lossy(&cmdline.split(|b| *b == 0).collect::<Vec<_>>().join(&b' '))
                .trim()
                .to_string();
        return Err(Outcome::failed(
            format!(
                "{name}'s monitor is not one the service started (its command line is {ran:?}, not pier system service): a label does not make a container come through the socket; remove it and make it {} {}",
                how.en,
                text::before_start(Lang::En, N)
            ),
            format!(
                "{}의 모니터는 서비스가 시작한 것이 아닙니다 (명령줄이 pier system service가 아니라 {ran:?}입니다): 라벨만으로 소켓을 거친 컨테이너가 되지는 않습니다. 지우고 {} 다시 만드세요 {}",
                name,
                how.ko,
                text::before_start(Lang::Ko, N)
            ),
        ));
    }
    Ok(rec)
}

fn socket(ctx: &Ctx) -> Outcome {
    let docker = match api_container(
        ctx,
        "lab12-docker",
        tr(
            "with the docker CLI, DOCKER_HOST at the service's socket",
            "DOCKER_HOST를 서비스의 소켓으로 맞추고 docker CLI로",
        ),
    ) {
        Ok(r) => r,
        Err(o) => return o,
    };
    let curl = match api_container(
        ctx,
        "lab12-curl",
        tr("with curl --unix-socket", "curl --unix-socket으로"),
    ) {
        Ok(r) => r,
        Err(o) => return o,
    };
    match curl.config.labels.get("lab12.sibling") {
        Some(id) if *id == docker.id => Outcome::passed(
            format!("lab12-docker is {}", docker.short_id()),
            format!("lab12-docker: {}", docker.short_id()),
        ),
        Some(other) => Outcome::failed(
            format!(
                "lab12-curl's label lab12.sibling is {other:?}, not lab12-docker's full ID: read .Id from GET /v1.41/containers/lab12-docker/json"
            ),
            format!(
                "lab12-curl의 라벨 lab12.sibling 값이 lab12-docker의 전체 ID가 아니라 {other:?}입니다: GET /v1.41/containers/lab12-docker/json에서 .Id를 읽으세요"
            ),
        ),
        None => Outcome::failed(
            "lab12-curl has no label lab12.sibling: put lab12-docker's ID there (\"Labels\" in the create request's JSON)",
            "lab12-curl에 라벨 lab12.sibling이 없습니다: 거기에 lab12-docker의 ID를 넣으세요 (create 요청 JSON의 \"Labels\")",
        ),
    }
}

/// `<lab dir>/bundle`.
fn bundle_dir(ctx: &Ctx) -> PathBuf {
    ctx.workdir(N).join("bundle")
}

/// The PID the student gave for `key`.
fn pid_answer(ctx: &Ctx, key: &str) -> Result<i32, Outcome> {
    let given = ctx.answer(N, key).map_err(Outcome::from)?;
    number(&given).map(|n| n as i32).ok_or_else(|| {
        Outcome::failed(
            format!("{given:?} is not a PID"),
            format!(
                "{} PID가 아닙니다",
                josa(&format!("{given:?}"), Josa::EunNeun)
            ),
        )
    })
}

/// The parent PID of `pid`, from /proc.
fn ppid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')')
        .next()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// lab12-box's init and monitor PIDs (both alive).
fn box_pids(ctx: &Ctx) -> Result<(i32, i32), Outcome> {
    let (rec, init) = ctx.running("lab12-box").map_err(Outcome::from)?;
    let monitor = rec
        .monitor
        .filter(|p| p.is_alive())
        .map(|p| p.pid)
        .ok_or_else(|| {
            Outcome::failed(
                "lab12-box has no live monitor: was it started with -d? (a foreground pier run watches it itself)",
                "lab12-box에 살아 있는 모니터가 없습니다: -d로 시작했나요? (포그라운드 pier run은 컨테이너를 직접 지켜봅니다)",
            )
        })?;
    Ok((init, monitor))
}

fn monitor(ctx: &Ctx) -> Outcome {
    let (init, monitor) = match box_pids(ctx) {
        Ok(x) => x,
        Err(o) => return o,
    };
    let given = match pid_answer(ctx, "monitor") {
        Ok(p) => p,
        Err(o) => return o,
    };
    if given == monitor {
        Outcome::passed(format!("PID {monitor}"), format!("PID {monitor}"))
    } else if given == init {
        Outcome::failed(
            format!("{given} is lab12-box's init (sleep) itself: the monitor is its parent"),
            format!(
                "{} lab12-box의 init(sleep) 자신입니다: 모니터는 그 부모입니다",
                josa(&given.to_string(), Josa::EunNeun)
            ),
        )
    } else if given == 1 {
        Outcome::failed(
            "1 is the PID of sleep inside the container's PID namespace: ask the host",
            "1은 컨테이너의 PID 네임스페이스 안에서 본 sleep의 PID입니다: 호스트에서 보세요",
        )
    } else {
        Outcome::failed(
            format!("{given} is not lab12-box's monitor: ps -o ppid= -p {init} names it"),
            format!(
                "{} lab12-box의 모니터가 아닙니다: {} 모니터를 알려 줍니다",
                josa(&given.to_string(), Josa::EunNeun),
                josa(&format!("ps -o ppid= -p {init}"), Josa::IGa)
            ),
        )
    }
}

/// The chain of parents from `pid` up to PID 1 (or the first process without a parent), as
/// /proc shows it now.
fn ancestry(pid: i32) -> Vec<i32> {
    let mut chain = vec![pid];
    let mut at = pid;
    while at > 1 && chain.len() < 64 {
        match ppid(at) {
            Some(p) if p > 0 => {
                chain.push(p);
                at = p;
            }
            _ => break,
        }
    }
    chain
}

/// Every number in the answer, in order ("31698 31694 1", "31698 -> 31694 -> 1").
fn pids(answer: &str) -> Vec<i32> {
    answer
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect()
}

/// The chain from lab12-box's init to PID 1: only the live process tree of this machine
/// gives it (the init's and the monitor's PIDs differ at every run), so a guess of who
/// adopted the monitor ("1") is not an answer.
fn parent(ctx: &Ctx) -> Outcome {
    let (init, monitor) = match box_pids(ctx) {
        Ok(x) => x,
        Err(o) => return o,
    };
    let given = match ctx.answer(N, "parent") {
        Ok(a) => pids(&a),
        Err(e) => return e.into(),
    };
    let real = ancestry(init);
    if given == real {
        let top = real.last().copied().unwrap_or(1);
        let comm = std::fs::read_to_string(format!("/proc/{top}/comm")).unwrap_or_default();
        let chain = real
            .iter()
            .map(i32::to_string)
            .collect::<Vec<_>>()
            .join(" → ");
        let note = format!("{chain} ({})", comm.trim());
        return Outcome::passed(note.clone(), note);
    }
    if given.first() != Some(&init) {
        return Outcome::failed(
            "the chain must start at lab12-box's init (its PID is in pier inspect) and go up, parent after parent, to PID 1: pier lab answer 12 parent \"<INIT> <MONITOR> ... 1\"",
            "사슬은 lab12-box의 init(PID는 pier inspect에 있습니다)에서 시작해 부모를 하나씩 따라 PID 1까지 올라가야 합니다: pier lab answer 12 parent \"<INIT> <MONITOR> ... 1\"",
        );
    }
    if given.get(1) != Some(&monitor) {
        return Outcome::failed(
            "the second PID of the chain must be the init's parent, lab12-box's monitor (ps -o ppid= -p <INIT>)",
            "사슬의 두 번째 PID는 init의 부모, 곧 lab12-box의 모니터여야 합니다 (ps -o ppid= -p <INIT>)",
        );
    }
    match given.windows(2).position(|w| ppid(w[0]) != Some(w[1])) {
        Some(i) => {
            let (child, wrong) = (given[i], given[i + 1]);
            Outcome::failed(
                format!(
                    "the parent of PID {child} is not {wrong} (ps -o ppid= -p {child}): who adopted the monitor when the pier run -d that made it exited?"
                ),
                format!(
                    "PID {child}의 부모는 {} 아닙니다 (ps -o ppid= -p {child}). 모니터를 만든 pier run -d가 끝났을 때 누가 모니터를 입양했을까요?",
                    josa(&wrong.to_string(), Josa::IGa)
                ),
            )
        }
        None => Outcome::failed(
            "the chain stops before PID 1: keep asking ps -o ppid= for the parent of the last PID until it is 1",
            "사슬이 PID 1에 닿기 전에 끝납니다: 마지막 PID의 부모를 ps -o ppid=로 계속 물어 1이 나올 때까지 올라가세요",
        ),
    }
}

fn bundle(ctx: &Ctx) -> Outcome {
    let dir = bundle_dir(ctx);
    let config = dir.join("config.json");
    let spec: oci_spec::runtime::Spec = match std::fs::read(&config)
        .map_err(anyhow::Error::from)
        .and_then(|b| Ok(serde_json::from_slice(&b)?))
    {
        Ok(s) => s,
        Err(e) => {
            let config = config.display();
            return Outcome::failed(
                format!("{config} is missing or not an OCI runtime config: {e}"),
                format!("{config} 파일이 없거나 OCI 런타임 설정이 아닙니다: {e}"),
            );
        }
    };
    let Some(root) = spec.root().as_ref() else {
        return Outcome::failed(
            "config.json has no root: \"root\": {\"path\": \"rootfs\"}",
            "config.json에 root가 없습니다: \"root\": {\"path\": \"rootfs\"}",
        );
    };
    let rootfs = dir.join(root.path());
    if !rootfs.join("bin/sh").exists() {
        let rootfs = rootfs.display();
        return Outcome::failed(
            format!("{rootfs} has no bin/sh: untar the export there"),
            format!("{rootfs}에 bin/sh가 없습니다: 내보낸 tar를 거기에 푸세요"),
        );
    }
    let rec = match ctx.container("lab12-export") {
        Ok(r) => r,
        Err(e) => return e.into(),
    };
    // What the container wrote: its hostname (its short ID, which anyone can read in
    // `pier ps`) and a UUID the kernel made inside it, which only its files hold. Read from
    // its writable layer, resolved inside it (a container's files are not trusted).
    let written = read_in(&ctx.upper_dir(&rec), MARKER).unwrap_or_default();
    let mut lines = written.lines();
    let hostname = lines.next().unwrap_or_default().trim();
    let uuid = lines.next().unwrap_or_default().trim();
    if hostname.is_empty() || !rec.id.starts_with(hostname) || uuid.len() < 32 {
        return Outcome::failed(
            "lab12-export's /exported-from does not hold its hostname and then a UUID: run it as step 3 shows (remove it first)",
            "lab12-export의 /exported-from에 호스트 이름과 그다음 UUID가 없습니다: 3단계대로 실행하세요 (먼저 지우고)",
        );
    }
    let marker = read_in(&rootfs, MARKER).unwrap_or_default();
    if marker.trim() != written.trim() {
        let marker = rootfs.join("exported-from");
        let marker = marker.display();
        return Outcome::failed(
            format!("{marker} is not the file lab12-export wrote (its hostname and its UUID): the rootfs must be the export of that container (step 3)"),
            format!(
                "{} lab12-export가 쓴 파일(호스트 이름과 UUID)이 아닙니다: rootfs는 그 컨테이너를 내보낸 것이어야 합니다 (3단계)",
                josa(&marker.to_string(), Josa::EunNeun)
            ),
        );
    }
    Outcome::passed(
        format!("rootfs from {}", &rec.id[..12]),
        format!("rootfs 출처: {}", &rec.id[..12]),
    )
}

/// The file lab12-export writes, as the container names it.
const MARKER: &str = "/exported-from";

/// The text of `path` inside the directory `root`, every link resolved inside it.
fn read_in(root: &Path, path: &str) -> Option<String> {
    use nix::fcntl::OFlag;
    use std::io::Read;
    let fd = open_in_root(
        root,
        Path::new(path),
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY,
    )
    .ok()?;
    let mut text = String::new();
    std::fs::File::from(fd)
        .take(4096)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

/// A state the student saved, checked against the container and the bundle.
fn saved_state(ctx: &Ctx, file: &str, want: Status) -> Result<OciState, Outcome> {
    let path = ctx.workdir(N).join(file);
    let state: OciState = pier_oci::persist::read_json(&path).map_err(|_| {
        let path = path.display();
        Outcome::failed(
            format!("{path} is missing or not the output of pier runtime state {OCI_ID}"),
            format!("{path} 파일이 없거나 pier runtime state {OCI_ID}의 출력이 아닙니다"),
        )
    })?;
    if state.id != OCI_ID {
        let id = &state.id;
        return Err(Outcome::failed(
            format!("{file} is the state of {id}, not {OCI_ID}"),
            format!(
                "{} {OCI_ID}가 아니라 {id}의 상태입니다",
                josa(file, Josa::EunNeun)
            ),
        ));
    }
    if state.status != want {
        let status = state.status;
        return Err(Outcome::failed(
            format!("{file} says {status:?}; save it while the container is {want:?}"),
            format!("{file}의 상태는 {status:?}입니다. 컨테이너가 {want:?} 상태일 때 저장하세요"),
        ));
    }
    let bundle = bundle_dir(ctx).canonicalize().unwrap_or_default();
    if state.bundle != bundle {
        let (named, lab) = (state.bundle.display(), bundle.display());
        return Err(Outcome::failed(
            format!("{file} names bundle {named}, not the lab's {lab}"),
            format!("{file}에 적힌 번들은 {named}입니다. 실습의 번들이어야 합니다: {lab}"),
        ));
    }
    Ok(state)
}

fn lifecycle(ctx: &Ctx) -> Outcome {
    // The transitions themselves: pier runtime logs each one in pier's event log.
    let events = match ctx.events(N, OCI_ID) {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let order = [Action::Create, Action::Start, Action::Kill, Action::Destroy];
    let mut next = order.iter().peekable();
    for e in &events {
        if next.peek() == Some(&&e.action) {
            next.next();
        }
    }
    if let Some(missing) = next.next() {
        let missing = missing.as_str();
        return Outcome::failed(
            format!(
                "pier's event log (pier events --container {OCI_ID}) has no {missing} of {OCI_ID} after the steps before it: create, start, kill, delete it with pier runtime {}",
                text::before_start(Lang::En, N)
            ),
            format!(
                "pier의 이벤트 로그(pier events --container {OCI_ID})에 앞 단계들 다음의 {OCI_ID} {missing} 이벤트가 없습니다: pier runtime으로 create, start, kill, delete 하세요 {}",
                text::before_start(Lang::Ko, N)
            ),
        );
    }
    let mut states = Vec::new();
    for (file, status) in [
        ("created.json", Status::Created),
        ("running.json", Status::Running),
        ("stopped.json", Status::Stopped),
    ] {
        match saved_state(ctx, file, status) {
            Ok(s) => states.push(s),
            Err(o) => return o,
        }
    }
    if states[0].pid.is_none() || states[0].pid != states[1].pid {
        return Outcome::failed(
            "created.json and running.json name different PIDs: create already made the process, start only let it run",
            "created.json과 running.json의 PID가 다릅니다: create가 이미 프로세스를 만들었고, start는 그것을 실행하게 했을 뿐입니다",
        );
    }
    if ctx.root().join("runtime").join(OCI_ID).exists() {
        return Outcome::failed(
            format!("{OCI_ID} still exists: pier runtime delete {OCI_ID}"),
            format!("{OCI_ID}가 아직 있습니다: pier runtime delete {OCI_ID}"),
        );
    }
    let note = format!("PID {}", states[0].pid.unwrap_or_default());
    Outcome::passed(note.clone(), note)
}
