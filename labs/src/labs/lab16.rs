//! Lab 16: many containers, many machines — pier under containerd's CRI plugin, as a node of
//! a Kubernetes cluster runs it. The student starts a containerd of their own with a runtime
//! handler `pier`, runs a pod and a container through CRI (`pier cri`, what kubelet says),
//! finds the pod's pause container from the host and the namespaces the app container shares
//! with it, kills the app and sees that nobody restarts it.
//!
//! The checks speak CRI to the student's containerd (the pod's `runtime_handler`, the
//! containers' states and attempts), read pier's own state of the pod (`pier runtime state`
//! under the root the shim passes) and the kernel's `/proc/<pid>/ns/*`: every answer is
//! recomputed from those.

mod setup;

use super::ensure_busybox;
use crate::context::Ctx;
use crate::lab::{Feature, Lab, Outcome, Task};
use crate::text::{josa, tr, Josa, Msg};
use anyhow::{Context, Result};
use pier_cri::api;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub use setup::teardown as teardown_in;

const N: u32 = 16;

/// The sandbox (pause) image, and the image the app runs, as CRI names them.
pub const PAUSE: &str = "localhost/lab16-pause:1";
pub const BUSYBOX: &str = "localhost/lab16-busybox:1";

/// The pod's name, and its app container's.
const POD: &str = "lab16-web";
const APP: &str = "web";

/// The cgroup parent the lab's pod file names.
pub const POD_CGROUP: &str = "/lab16-pods";

/// The namespace types a process has (`/proc/PID/ns/*`, without the `*_for_children`).
const NS_TYPES: [&str; 8] = ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"];

/// `pier cri`.
pub const CRI: Feature = Feature {
    name: "`pier cri`",
    present: has_cri,
};

fn has_cri(ctx: &Ctx) -> bool {
    std::process::Command::new(ctx.pier())
        .args(["cri", "containerd-config", "--help"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The lab.
pub fn lab() -> Lab {
    Lab {
        number: N,
        slug: "16-orchestration",
        title: tr(
"Many containers, many machines: pier under CRI",
"많은 컨테이너, 많은 머신: CRI 아래의 pier",
),
        minutes: 45,
        host_ports: &[],
        networks: &[],
        needs: Some(CRI),
        prepare,
        tasks: vec![
            Task {
                id: "containerd",
                title: tr(
"a containerd of your own answers CRI on the lab's socket",
"직접 띄운 containerd가 실습 소켓에서 CRI에 응답한다",
),
                after: &[],
                answer: None,
                hint: tr(
"In the lab's directory: pier cri containerd-config --dir \"$PWD\" --sandbox-image localhost/lab16-pause:1 > config.toml, then containerd --config config.toml > containerd.log 2>&1 &",
"실습 디렉터리에서 pier cri containerd-config --dir \"$PWD\" --sandbox-image localhost/lab16-pause:1 > config.toml 한 다음 containerd --config config.toml > containerd.log 2>&1 & 를 실행하세요",
),
                check: containerd,
            },
            Task {
                id: "images",
                title: tr(
"containerd's CRI sees the pause image and busybox",
"containerd의 CRI에 pause 이미지와 busybox가 보인다",
),
                after: &["containerd"],
                answer: None,
                hint: tr(
"ctr --address \"$PWD/containerd.sock\" -n k8s.io images import images.tar (CRI's images live in containerd's namespace k8s.io)",
"ctr --address \"$PWD/containerd.sock\" -n k8s.io images import images.tar 를 실행하세요 (CRI의 이미지는 containerd의 k8s.io 네임스페이스에 있습니다)",
),
                check: images,
            },
            Task {
                id: "pod",
                title: tr(
"the pod lab16-web is ready, run by the handler pier",
"파드 lab16-web이 준비되었고 pier 핸들러가 실행한다",
),
                after: &["images"],
                answer: None,
                hint: tr(
"Write pod.json as in step 4, then pier cri runp --runtime pier pod.json (without --runtime, containerd uses its default handler, runc)",
"4단계대로 pod.json을 쓰고 pier cri runp --runtime pier pod.json 을 실행하세요 (--runtime이 없으면 containerd는 기본 핸들러인 runc를 씁니다)",
),
                check: pod,
            },
            Task {
                id: "app",
                title: tr(
"the container web runs in the pod, in a PID namespace of its own",
"컨테이너 web이 파드 안에서 자신만의 PID 네임스페이스로 실행 중이다",
),
                after: &["pod"],
                answer: None,
                hint: tr(
"Write web.json as in step 4 (with namespace_options pid 1, as kubelet sends it), then pier cri create POD web.json pod.json and pier cri start CONTAINER",
"4단계대로 web.json을 쓰고 (kubelet이 보내는 대로 namespace_options의 pid를 1로) pier cri create POD web.json pod.json, pier cri start CONTAINER 를 실행하세요",
),
                check: app,
            },
            Task {
                id: "pause",
                title: tr(
"you found the host PID of the pod's pause container",
"파드의 pause 컨테이너의 호스트 PID를 찾았다",
),
                after: &["pod"],
                answer: Some("pause"),
                hint: tr(
"pier runtime --root \"$PWD/pier-state/k8s.io\" list shows what the shim had pier run; the container whose ID is the pod's is the pause: pier lab answer 16 pause PID",
"pier runtime --root \"$PWD/pier-state/k8s.io\" list 가 shim이 pier에게 실행시킨 컨테이너를 보여 줍니다. ID가 파드의 ID와 같은 컨테이너가 pause입니다: pier lab answer 16 pause PID",
),
                check: pause,
            },
            Task {
                id: "shared",
                title: tr(
"you named the pod's namespaces web joins, as /proc shows them",
"web이 들어간 파드의 네임스페이스를 /proc에 보이는 그대로 적었다",
),
                after: &["app", "pause"],
                answer: Some("shared"),
                hint: tr(
"Compare ls -l /proc/PAUSE/ns with ls -l /proc/WEB/ns; write the links that are the same in both and differ from your shell's (ls -l /proc/self/ns): pier lab answer 16 shared 'net:[…] ipc:[…] …'",
"ls -l /proc/PAUSE/ns 와 ls -l /proc/WEB/ns 를 비교하세요. 둘이 같고 셸의 것(ls -l /proc/self/ns)과는 다른 링크를 적습니다: pier lab answer 16 shared 'net:[…] ipc:[…] …'",
),
                check: shared,
            },
            Task {
                id: "restart",
                title: tr(
"you killed web from the host, nobody restarted it, and you made attempt 1 yourself",
"호스트에서 web을 죽였고, 아무도 다시 시작하지 않았으며, attempt 1을 직접 만들었다",
),
                after: &["app"],
                answer: None,
                hint: tr(
"kill -9 the PID of web's process; pier cri ps -a shows it Exited and stays so; then set \"attempt\": 1 in web.json's metadata, pier cri create and pier cri start it in the same pod",
"web 프로세스의 PID에 kill -9를 보내세요. pier cri ps -a에 Exited로 보이고 그대로 남습니다. 그다음 web.json의 metadata에 \"attempt\": 1을 넣고 같은 파드에서 pier cri create, pier cri start 하세요",
),
                check: restart,
            },
        ],
    }
}

fn prepare(ctx: &Ctx) -> Result<()> {
    ensure_busybox(ctx)?;
    setup::prepare(ctx, &ctx.workdir(N))
}

/// What `pier lab reset 16` removes before the common reset: the student's containerd, its
/// pods, their mounts, bridge and cgroups.
pub fn teardown(ctx: &Ctx) -> Result<Vec<String>> {
    teardown_in(ctx, &ctx.workdir(N))
}

/// The lab's containerd socket, as an endpoint.
pub fn endpoint(ctx: &Ctx) -> String {
    format!(
        "unix://{}",
        ctx.workdir(N).join("containerd.sock").display()
    )
}

/// pier's state root for the pods, as the shim passes it (`Root` + containerd's namespace).
fn pier_state(ctx: &Ctx) -> PathBuf {
    ctx.workdir(N).join("pier-state/k8s.io")
}

/// A CRI client on the lab's containerd, or why there is none.
fn client(ctx: &Ctx) -> Result<pier_cri::Client> {
    let socket = ctx.workdir(N).join("containerd.sock");
    pier_cri::Client::connect(&endpoint(ctx)).map_err(|e| {
        Msg::new(
            format!(
                "nothing answers CRI on {} ({e}): start containerd with the lab's config.toml (step 2)",
                socket.display()
            ),
            format!(
                "{}에서 CRI에 응답하는 것이 없습니다 ({e}). 실습의 config.toml로 containerd를 시작하세요 (2단계)",
                socket.display()
            ),
        )
        .into()
    })
}

/// A CRI call's error as a failed check.
fn call<T>(what: &str, r: Result<T, pier_cri::Error>) -> Result<T> {
    r.with_context(|| format!("CRI {what} on the lab's containerd"))
}

fn containerd(ctx: &Ctx) -> Outcome {
    let mut c = match client(ctx) {
        Ok(c) => c,
        Err(e) => return e.into(),
    };
    match call("Version", c.version()) {
        Ok(v) => Outcome::passed(
            format!(
                "{} {}, CRI {}",
                v.runtime_name, v.runtime_version, v.runtime_api_version
            ),
            format!(
                "{} {}, CRI {}",
                v.runtime_name, v.runtime_version, v.runtime_api_version
            ),
        ),
        Err(e) => e.into(),
    }
}

fn images(ctx: &Ctx) -> Outcome {
    let r = (|| -> Result<Outcome> {
        let mut c = client(ctx)?;
        let have: Vec<String> = call("ListImages", c.images())?
            .into_iter()
            .flat_map(|i| i.repo_tags)
            .collect();
        for want in [PAUSE, BUSYBOX] {
            if !have.iter().any(|t| t == want) {
                return Ok(Outcome::failed(
                    format!("containerd's CRI has no image {want}: import the lab's images.tar into the namespace k8s.io (ctr -n k8s.io images import)"),
                    format!("containerd의 CRI에 이미지 {} 없습니다. 실습의 images.tar를 k8s.io 네임스페이스로 가져오세요 (ctr -n k8s.io images import)", josa(want, Josa::IGa)),
                ));
            }
        }
        Ok(Outcome::passed(
            format!("{PAUSE}, {BUSYBOX}"),
            format!("{PAUSE}, {BUSYBOX}"),
        ))
    })();
    r.unwrap_or_else(Outcome::from)
}

/// The ready pod `lab16-web`, or why there is none.
fn the_pod(c: &mut pier_cri::Client) -> Result<api::PodSandbox> {
    let pods = call("ListPodSandbox", c.pods())?;
    let named: Vec<api::PodSandbox> = pods
        .into_iter()
        .filter(|p| p.metadata.as_ref().is_some_and(|m| m.name == POD))
        .collect();
    if let Some(p) = named
        .iter()
        .find(|p| p.state == api::PodSandboxState::SandboxReady as i32)
    {
        return Ok(p.clone());
    }
    let why = if named.is_empty() {
        Msg::new(
            format!("there is no pod named {POD} (pier cri pods lists them)"),
            format!("{POD}이라는 파드가 없습니다 (pier cri pods가 파드를 보여 줍니다)"),
        )
    } else {
        Msg::new(
            format!("the pod {POD} is not ready (pier cri pods shows NotReady): remove it (pier cri rmp) and run it again"),
            format!("파드 {POD}이 준비 상태가 아닙니다 (pier cri pods에 NotReady로 보입니다). 지우고 (pier cri rmp) 다시 실행하세요"),
        )
    };
    Err(why.into())
}

/// What pier's state says of the container `id` the shim had it run: its status and PID.
fn pier_container(ctx: &Ctx, id: &str) -> Result<(String, i32)> {
    let root = pier_state(ctx).to_string_lossy().into_owned();
    let text = ctx
        .pier_output(&["runtime", "--root", &root, "state", id])
        .map_err(|_| {
            Msg::new(
                format!("pier has no container {} under {root}: containerd did not run it with pier (its handler's BinaryName must be the lab's pier-runc)", short(id)),
                format!("{root} 아래에 pier 컨테이너 {} 없습니다. containerd가 pier로 실행하지 않았습니다 (핸들러의 BinaryName이 실습의 pier-runc여야 합니다)", josa(short(id), Josa::IGa)),
            )
        })?;
    let v: serde_json::Value = serde_json::from_str(&text).context("reading pier runtime state")?;
    let status = v["status"].as_str().unwrap_or_default().to_string();
    let pid = v["pid"].as_i64().unwrap_or(0) as i32;
    Ok((status, pid))
}

fn short(id: &str) -> &str {
    &id[..id.len().min(13)]
}

fn pod(ctx: &Ctx) -> Outcome {
    let r = (|| -> Result<Outcome> {
        let mut c = client(ctx)?;
        let p = the_pod(&mut c)?;
        if p.runtime_handler != "pier" {
            let h = if p.runtime_handler.is_empty() {
                "(default: runc)".to_string()
            } else {
                p.runtime_handler.clone()
            };
            return Ok(Outcome::failed(
                format!("the pod {POD} runs with the handler {h}, not pier: remove it (pier cri stopp, pier cri rmp) and run it again with pier cri runp --runtime pier pod.json"),
                format!("파드 {POD}은 pier가 아니라 {h} 핸들러로 실행 중입니다. 지우고 (pier cri stopp, pier cri rmp) pier cri runp --runtime pier pod.json 으로 다시 실행하세요"),
            ));
        }
        let (status, _) = pier_container(ctx, &p.id)?;
        if status != "running" {
            return Ok(Outcome::failed(
                format!(
                    "pier holds the pod's sandbox {} but it is {status}",
                    short(&p.id)
                ),
                format!(
                    "pier가 파드의 샌드박스 {} 가지고 있지만 상태가 {status}입니다",
                    josa(short(&p.id), Josa::EulReul)
                ),
            ));
        }
        Ok(Outcome::passed(
            format!("pod {}, handler pier", short(&p.id)),
            format!("파드 {}, 핸들러 pier", short(&p.id)),
        ))
    })();
    r.unwrap_or_else(Outcome::from)
}

/// The pod, the PID of its pause (from pier's state) and the running `web` container with the
/// highest attempt and its PID.
fn pod_pause_app(ctx: &Ctx) -> Result<(api::PodSandbox, i32, api::Container, i32)> {
    let mut c = client(ctx)?;
    let p = the_pod(&mut c)?;
    let (_, pause) = pier_container(ctx, &p.id)?;
    let app = call("ListContainers", c.containers(Some(&p.id)))?
        .into_iter()
        .filter(|x| x.metadata.as_ref().is_some_and(|m| m.name == APP))
        .filter(|x| x.state == api::ContainerState::ContainerRunning as i32)
        .max_by_key(|x| x.metadata.as_ref().map_or(0, |m| m.attempt))
        .ok_or_else(|| {
            Msg::new(
                format!("no container named {APP} runs in the pod {POD} (pier cri ps -a lists them)"),
                format!("파드 {POD} 안에서 실행 중인 {APP} 컨테이너가 없습니다 (pier cri ps -a가 컨테이너를 보여 줍니다)"),
            )
        })?;
    let (status, pid) = pier_container(ctx, &app.id)?;
    if status != "running" || pid <= 0 {
        return Err(Msg::new(
            format!("CRI shows {APP} running, but pier's state says {status}"),
            format!("CRI에는 {APP}이 실행 중으로 보이지만 pier의 상태는 {status}입니다"),
        )
        .into());
    }
    Ok((p, pause, app, pid))
}

/// `net:[4026532174]`, as `/proc/PID/ns/net` reads.
fn ns_link(pid: i32, t: &str) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/ns/{t}"))
        .ok()
        .map(|l| l.to_string_lossy().into_owned())
}

fn own_ns_link(t: &str) -> Option<String> {
    std::fs::read_link(format!("/proc/self/ns/{t}"))
        .ok()
        .map(|l| l.to_string_lossy().into_owned())
}

fn app(ctx: &Ctx) -> Outcome {
    let r = (|| -> Result<Outcome> {
        let (_, pause, app, pid) = pod_pause_app(ctx)?;
        if ns_link(pause, "pid").is_some() && ns_link(pause, "pid") == ns_link(pid, "pid") {
            return Ok(Outcome::failed(
                format!("{APP} shares the pause's PID namespace: its web.json lacks \"linux\": {{\"security_context\": {{\"namespace_options\": {{\"pid\": 1}}}}}} (CONTAINER; CRI's 0 means POD, as shareProcessNamespace: true)"),
                format!("{APP}이 pause의 PID 네임스페이스를 함께 씁니다. web.json에 \"linux\": {{\"security_context\": {{\"namespace_options\": {{\"pid\": 1}}}}}} 이 빠졌습니다 (CONTAINER; CRI의 0은 shareProcessNamespace: true와 같은 POD입니다)"),
            ));
        }
        let attempt = app.metadata.map_or(0, |m| m.attempt);
        Ok(Outcome::passed(
            format!(
                "{} (attempt {attempt}), PID {pid} on the host",
                short(&app.id)
            ),
            format!("{} (attempt {attempt}), 호스트 PID {pid}", short(&app.id)),
        ))
    })();
    r.unwrap_or_else(Outcome::from)
}

/// The parent of `pid`, and its command name.
fn parent(pid: i32) -> Option<(i32, String)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (head, rest) = stat.rsplit_once(')')?;
    let comm = head.split_once('(')?.1.to_string();
    let ppid = rest.split_whitespace().nth(1)?.parse().ok()?;
    Some((ppid, comm))
}

fn comm(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn pause(ctx: &Ctx) -> Outcome {
    let r = (|| -> Result<Outcome> {
        let answer = ctx.answer(N, "pause")?;
        let mut c = client(ctx)?;
        let p = the_pod(&mut c)?;
        let (_, pause) = pier_container(ctx, &p.id)?;
        let Ok(given) = answer.trim().parse::<i32>() else {
            return Ok(Outcome::failed(
                format!("{answer:?} is not a PID (a number)"),
                format!(
                    "{} PID(숫자)가 아닙니다",
                    josa(&format!("{answer:?}"), Josa::EunNeun)
                ),
            ));
        };
        if given == pause {
            return Ok(Outcome::passed(
                format!("PID {pause} ({})", comm(pause)),
                format!("PID {pause} ({})", comm(pause)),
            ));
        }
        let apps: Vec<i32> = call("ListContainers", c.containers(Some(&p.id)))?
            .iter()
            .filter_map(|x| pier_container(ctx, &x.id).ok())
            .map(|(_, pid)| pid)
            .collect();
        let shim = parent(pause).map(|(ppid, _)| ppid);
        let (en, ko) = if apps.contains(&given) {
            (
                format!("PID {given} is a container of the pod ({}), not its pause: the pause is the container whose ID is the pod's ID", comm(given)),
                format!("{} 파드의 컨테이너({})이지 pause가 아닙니다. pause는 ID가 파드의 ID와 같은 컨테이너입니다", josa(&format!("PID {given}"), Josa::EunNeun), comm(given)),
            )
        } else if shim == Some(given) {
            (
                format!(
                    "PID {given} is the pod's shim ({}), the pause's parent: give the child",
                    comm(given)
                ),
                format!(
                    "{} pause의 부모인 파드의 shim({})입니다. 그 자식을 적으세요",
                    josa(&format!("PID {given}"), Josa::EunNeun),
                    comm(given)
                ),
            )
        } else {
            (
                format!("PID {given} is not the pause of {POD} (read its PID in pier runtime --root … list)"),
                format!("{} {POD}의 pause가 아닙니다 (pier runtime --root … list에서 PID를 읽으세요)", josa(&format!("PID {given}"), Josa::EunNeun)),
            )
        };
        Ok(Outcome::failed(en, ko))
    })();
    r.unwrap_or_else(Outcome::from)
}

/// The namespaces of the pod that `app` joins: the same link in the pause and the app, and
/// not the checker's own (the host's).
fn pod_namespaces(pause: i32, app: i32) -> BTreeMap<&'static str, String> {
    NS_TYPES
        .iter()
        .filter_map(|t| {
            let p = ns_link(pause, t)?;
            (Some(&p) == ns_link(app, t).as_ref() && Some(&p) != own_ns_link(t).as_ref())
                .then_some((*t, p))
        })
        .collect()
}

fn shared(ctx: &Ctx) -> Outcome {
    let r = (|| -> Result<Outcome> {
        let answer = ctx.answer(N, "shared")?;
        let (_, pause, _, app) = pod_pause_app(ctx)?;
        let truth = pod_namespaces(pause, app);
        let mut given = BTreeMap::new();
        for word in answer.split([' ', ',', '\t']).filter(|w| !w.is_empty()) {
            let parsed = word
                .split_once(":[")
                .filter(|(_, rest)| rest.ends_with(']'))
                .filter(|(t, _)| NS_TYPES.contains(t));
            let Some((t, _)) = parsed else {
                return Ok(Outcome::failed(
                    format!("{word:?} is not a namespace link: write each as ls -l /proc/PID/ns shows it, e.g. net:[4026532174]"),
                    format!("{} 네임스페이스 링크가 아닙니다. ls -l /proc/PID/ns가 보여 주는 그대로 적으세요. 예: net:[4026532174]", josa(&format!("{word:?}"), Josa::EunNeun)),
                ));
            };
            given.insert(t.to_string(), word.to_string());
        }
        for (t, link) in &given {
            let in_pause = ns_link(pause, t);
            let in_app = ns_link(app, t);
            if in_pause.as_deref() != Some(link) {
                let (en, ko) = if own_ns_link(t).as_deref() == Some(link.as_str()) {
                    (
                        format!("{link} is your own shell's {t} namespace (the host's), not one of the pod's"),
                        format!("{} 셸 자신의(호스트의) {t} 네임스페이스이지 파드의 것이 아닙니다", josa(link, Josa::EunNeun)),
                    )
                } else if in_app.as_deref() == Some(link.as_str()) {
                    (
                        format!("{link} is {APP}'s own {t} namespace: the pause's is another one, so it is not shared"),
                        format!("{} {APP} 자신의 {t} 네임스페이스입니다. pause의 것은 다른 것이므로 함께 쓰는 것이 아닙니다", josa(link, Josa::EunNeun)),
                    )
                } else {
                    (
                        format!("{link} is not the pause's {t} namespace (read ls -l /proc/PAUSE/ns/{t})"),
                        format!("{} pause의 {t} 네임스페이스가 아닙니다 (ls -l /proc/PAUSE/ns/{t}를 읽으세요)", josa(link, Josa::EunNeun)),
                    )
                };
                return Ok(Outcome::failed(en, ko));
            }
            if !truth.contains_key(t.as_str()) {
                return Ok(Outcome::failed(
                    format!("{link} is the pause's, but {APP} does not share it (or the host has it too): compare /proc/PAUSE/ns/{t} with /proc/WEB/ns/{t} and /proc/self/ns/{t}"),
                    format!("{} pause의 것이지만 {APP}이 함께 쓰지 않습니다 (또는 호스트도 같은 것을 씁니다). /proc/PAUSE/ns/{t}를 /proc/WEB/ns/{t}, /proc/self/ns/{t}와 비교하세요", josa(link, Josa::EunNeun)),
                ));
            }
        }
        let missing: Vec<&str> = truth
            .keys()
            .filter(|t| !given.contains_key(**t))
            .copied()
            .collect();
        if !missing.is_empty() {
            let n = missing.len();
            return Ok(Outcome::failed(
                format!("{APP} shares {n} more of the pause's namespaces than you wrote: compare every link in /proc/PAUSE/ns with /proc/WEB/ns"),
                format!("{APP}은 적은 것보다 {n}개 더 많은 pause의 네임스페이스를 함께 씁니다. /proc/PAUSE/ns의 모든 링크를 /proc/WEB/ns와 비교하세요"),
            ));
        }
        let names: Vec<&str> = truth.keys().copied().collect();
        Ok(Outcome::passed(names.join(" "), names.join(" ")))
    })();
    r.unwrap_or_else(Outcome::from)
}

fn restart(ctx: &Ctx) -> Outcome {
    let r = (|| -> Result<Outcome> {
        let mut c = client(ctx)?;
        let p = the_pod(&mut c)?;
        let webs: Vec<api::Container> = call("ListContainers", c.containers(Some(&p.id)))?
            .into_iter()
            .filter(|x| x.metadata.as_ref().is_some_and(|m| m.name == APP))
            .collect();
        let attempt = |x: &api::Container| x.metadata.as_ref().map_or(0, |m| m.attempt);
        let Some(first) = webs.iter().find(|x| attempt(x) == 0) else {
            return Ok(Outcome::failed(
                format!("the pod has no {APP} of attempt 0 any more: it must stay, exited, beside attempt 1 (do not pier cri rm it)"),
                format!("파드에 attempt 0인 {APP}이 더 이상 없습니다. 종료된 채로 attempt 1 곁에 남아 있어야 합니다 (pier cri rm 하지 마세요)"),
            ));
        };
        let s = call("ContainerStatus", c.container_status(&first.id, false))?
            .status
            .unwrap_or_default();
        if s.state != api::ContainerState::ContainerExited as i32 {
            return Ok(Outcome::failed(
                format!("{APP} (attempt 0) still runs: kill its process from the host with kill -9 PID"),
                format!("{APP}(attempt 0)이 아직 실행 중입니다. 호스트에서 kill -9 PID로 그 프로세스를 죽이세요"),
            ));
        }
        if s.exit_code != 137 {
            return Ok(Outcome::failed(
                format!("{APP} (attempt 0) exited with code {}, not 137: it was not killed by SIGKILL (kill -9 its process)", s.exit_code),
                format!("{APP}(attempt 0)의 종료 코드가 137이 아니라 {}입니다. SIGKILL로 죽지 않았습니다 (그 프로세스에 kill -9)", s.exit_code),
            ));
        }
        let again = webs
            .iter()
            .filter(|x| attempt(x) >= 1)
            .find(|x| x.state == api::ContainerState::ContainerRunning as i32);
        let Some(again) = again else {
            return Ok(Outcome::failed(
                format!("attempt 0 of {APP} exited and nobody made it again: that is kubelet's job; do it yourself with \"attempt\": 1 in web.json (pier cri create, pier cri start)"),
                format!("{APP}의 attempt 0은 종료되었고 아무도 다시 만들지 않았습니다. 그것은 kubelet의 일입니다. web.json에 \"attempt\": 1을 넣고 직접 하세요 (pier cri create, pier cri start)"),
            ));
        };
        if again.created_at < s.finished_at {
            return Ok(Outcome::failed(
                format!("{APP} attempt {} was created before attempt 0 ended: kill attempt 0 first, then create the next", attempt(again)),
                format!("{APP} attempt {}가 attempt 0이 끝나기 전에 만들어졌습니다. 먼저 attempt 0을 죽이고 다음 것을 만드세요", attempt(again)),
            ));
        }
        Ok(Outcome::passed(
            format!("attempt 0 exited 137, attempt {} runs", attempt(again)),
            format!("attempt 0은 137로 종료, attempt {} 실행 중", attempt(again)),
        ))
    })();
    r.unwrap_or_else(Outcome::from)
}
