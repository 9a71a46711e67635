//! Pod specs pier cannot honour, sent the way kubelet sends them (CRI over containerd's
//! socket, tests/common/cri_containerd.rs): the CRI call fails with pier's one-line error
//! naming the field (the text kubelet puts in the pod's events), containerd's event stream
//! shows the half-made container or task taken down again, and nothing of it is left: no
//! pier state, mount, cgroup, veth or process. Removing the pod afterwards leaves nothing
//! either.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::clients::{cgroups_named, client, state_entries};
use common::cri_containerd::{
    container_config, prerequisites, CgroupDriver, CriContainerd, Events,
};
use common::Pier;
use pier_cri::api;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// The IDs of the containers containerd made (`/containers/create`) while `events` recorded.
fn containers_created(events: &Events) -> Vec<String> {
    events
        .list()
        .into_iter()
        .filter(|e| e.topic == "/containers/create")
        .filter_map(|e| e.body["id"].as_str().map(String::from))
        .collect()
}

/// Waits until containerd's events about container `id` include `until` (a topic), and
/// returns them; fails if a task of it was ever started, or created and not deleted.
fn taken_down(events: &Events, id: &str, what: &str, until: &str) -> Vec<String> {
    common::wait_for(
        T,
        || events.topics_of(id).iter().any(|t| t == until),
        &format!("{until} of {what} {id} in containerd's events"),
    );
    let topics = events.topics_of(id);
    assert!(
        !topics.iter().any(|t| t == "/tasks/start"),
        "a task of {what} {id} started: {topics:?}"
    );
    if topics.iter().any(|t| t == "/tasks/create") {
        assert!(
            topics.iter().any(|t| t == "/tasks/delete"),
            "the task of {what} {id} was created and not deleted: {topics:?}"
        );
    }
    topics
}

/// containerd's tasks (`ctr tasks ls`): what runs or is created under a shim.
fn tasks(f: &CriContainerd) -> String {
    let (out, err, code) = client(f.ctr().args(["tasks", "ls"]), T);
    assert_eq!(code, Some(0), "ctr tasks ls: {err}");
    out
}

/// RunPodSandbox with `pod`: must fail naming `field` (and `detail`); the sandbox container
/// containerd made for it must be deleted again, and nothing of it left.
fn refused_pod(f: &CriContainerd, pod: api::PodSandboxConfig, field: &str, detail: &str) {
    let mut c = f.client();
    let events = f.events();
    let err = c
        .run_pod(pod, "pier")
        .expect_err("RunPodSandbox succeeded")
        .to_string();
    assert!(
        err.contains(field) && err.contains(detail),
        "RunPodSandbox's error names {field} ({detail}): {err}"
    );
    // The sandbox's container was made in containerd, its task refused by pier, and the
    // container deleted again: nothing for kubelet to find half-made.
    let made = containers_created(&events);
    assert_eq!(
        made.len(),
        1,
        "one sandbox container made: {}",
        events.text()
    );
    let sandbox = made[0].as_str();
    taken_down(&events, sandbox, "the sandbox", "/containers/delete");
    assert!(
        c.pods().unwrap().is_empty(),
        "no half-made pod: {:?}",
        c.pods().unwrap()
    );
    assert!(!tasks(f).contains(sandbox), "a task is left: {}", tasks(f));
    f.assert_pod_gone(&[sandbox]);
}

#[test]
fn cri_pods_pier_cannot_honour_fail_naming_the_field_and_leave_nothing() {
    let Some(()) = prerequisites() else { return };
    let p = Pier::new();
    let f = CriContainerd::start(&p);

    // A sysctl in no namespace of the pod: writing it would change the host's kernel.
    let mut pod = f.pod_config("swappiness");
    if let Some(l) = pod.linux.as_mut() {
        l.sysctls.insert("vm.swappiness".into(), "10".into());
    }
    refused_pod(&f, pod, "linux.sysctl", "vm.swappiness");

    // A network sysctl in a pod on the host's network: the host's network namespace is not
    // the pod's to tune.
    let mut pod = f.pod_config("hostnet");
    if let Some(l) = pod.linux.as_mut() {
        l.sysctls
            .insert("net.ipv4.ip_unprivileged_port_start".into(), "0".into());
        l.security_context = Some(api::LinuxSandboxSecurityContext {
            namespace_options: Some(api::NamespaceOption {
                network: api::NamespaceMode::Node as i32,
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    let before = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap();
    refused_pod(
        &f,
        pod,
        "linux.sysctl",
        "net.ipv4.ip_unprivileged_port_start",
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap(),
        before,
        "the host's sysctl is unchanged"
    );
    assert!(
        state_entries(&f.pier_state).is_empty(),
        "pier state left: {:?}",
        state_entries(&f.pier_state)
    );
}

#[test]
fn cri_a_container_pier_cannot_honour_fails_to_start_and_its_pod_leaves_nothing() {
    let Some(()) = prerequisites() else { return };
    let p = Pier::new();
    let f = CriContainerd::start(&p);
    let mut c = f.client();
    let pod_cfg = f.pod_config("devices");
    let pod = c.run_pod(pod_cfg.clone(), "pier").unwrap();
    // A device node to be made at /etc/evil in the container: pier makes device nodes under
    // /dev only (a path outside it could shadow the image's files, or worse).
    let mut cfg = container_config("bad", 0, "sleep 1000");
    cfg.devices = vec![api::Device {
        container_path: "/etc/evil".into(),
        host_path: "/dev/null".into(),
        permissions: "rwm".into(),
    }];
    let ctr = c.create_container(&pod, cfg, pod_cfg.clone()).unwrap();
    let events = f.events();
    let err = c
        .start_container(&ctr)
        .expect_err("StartContainer succeeded")
        .to_string();
    assert!(
        err.contains("linux.devices[") && err.contains("/etc/evil"),
        "StartContainer's error names the field: {err}"
    );
    // The shim refused to create the task (pier failed before anything was made), so
    // containerd has nothing to announce: no task of it ever created, started or exited.
    events.sync();
    let topics = events.topics_of(&ctr);
    assert!(
        !topics.iter().any(|t| t.starts_with("/tasks/")),
        "a task of the refused container: {topics:?}"
    );
    // What kubelet sees of it: exited, with the reason and pier's message (the pod's event).
    let status = c.container_status(&ctr, false).unwrap().status.unwrap();
    assert_eq!(
        status.state,
        api::ContainerState::ContainerExited as i32,
        "{status:?}"
    );
    assert_eq!(status.reason, "StartError", "{status:?}");
    assert!(status.message.contains("linux.devices["), "{status:?}");
    // As `pier cri ps -a` (crictl's table) lists it: exited, not created with a task.
    let ps = std::process::Command::new(common::PIER)
        .args(["cri", "--endpoint", &f.endpoint, "ps", "-a"])
        .output()
        .unwrap();
    let ps = common::text(&ps.stdout);
    let row = ps
        .lines()
        .find(|l| l.starts_with(&ctr[..13]))
        .unwrap_or_default();
    assert!(
        row.contains("Exited") && !row.contains("Created"),
        "pier cri ps -a: {ps}"
    );
    assert!(!tasks(&f).contains(&ctr), "a task is left: {}", tasks(&f));
    assert!(
        !state_entries(&f.pier_state).contains(&ctr),
        "pier state of the refused container"
    );
    assert!(
        cgroups_named(&ctr).is_empty(),
        "a cgroup of the refused container"
    );
    assert!(
        !common::mounts_under(&f.dir)
            .iter()
            .any(|m| m.contains(&ctr)),
        "a mount of the refused container"
    );
    // The pod is untouched: a good container starts in it.
    let good = c
        .create_container(&pod, container_config("good", 0, "sleep 1000"), pod_cfg)
        .unwrap();
    c.start_container(&good).unwrap();
    let status = c.pod_status(&pod, false).unwrap().status.unwrap();
    assert_eq!(status.state, api::PodSandboxState::SandboxReady as i32);
    // Removing the pod (kubelet stops it first) removes everything of it.
    let events = f.events();
    c.stop_pod(&pod).unwrap();
    c.remove_pod(&pod).unwrap();
    common::wait_for(
        T,
        || events.topics_of(&pod).iter().any(|t| t == "/tasks/delete"),
        "the sandbox's task deleted",
    );
    assert!(c.pods().unwrap().is_empty());
    assert!(c.containers(None).unwrap().is_empty());
    assert!(tasks(&f).lines().count() <= 1, "tasks left: {}", tasks(&f));
    f.assert_pod_gone(&[&pod, &ctr, &good]);
    let pod_dir = f.pod_cgroup_dir("devices");
    let left: Vec<_> = cgroups_named(pod_dir.rsplit('/').next().unwrap())
        .into_iter()
        .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
        .filter(|e| e.path().is_dir())
        .map(|e| e.path())
        .collect();
    assert!(
        left.is_empty(),
        "cgroups left in the pod's parent: {left:?}"
    );
}

#[test]
fn cri_with_the_systemd_driver_a_cgroup_path_that_is_no_slice_is_refused() {
    let Some(()) = prerequisites() else { return };
    let driver = CgroupDriver::for_this_host();
    let Some(()) = pier_testkit::prereq::applies_only_on(
        "the systemd cgroup driver (a cgroup-v2 host booted by systemd, or PIER_CRI_CGROUP_DRIVER=systemd)",
        pier_testkit::prereq::when(
            driver == CgroupDriver::Systemd,
            format!("this host's driver is {driver:?}"),
        ),
    ) else {
        return;
    };
    let p = Pier::new();
    let f = CriContainerd::start(&p);
    // A cgroupfs parent where the handler has the systemd driver: containerd writes a plain
    // path, and the shim (told `SystemdCgroup = true`) runs `pier-runc --systemd-cgroup`,
    // which takes only systemd's slice:prefix:name. The refusal shows the flag arrived.
    let mut pod = f.pod_config("plain");
    if let Some(l) = pod.linux.as_mut() {
        l.cgroup_parent = format!("{}/plain", f.cgroup_parent);
    }
    refused_pod(&f, pod, "linux.cgroupsPath", "slice:prefix:name");
    // The same pod under a slice runs.
    let mut c = f.client();
    let pod = c.run_pod(f.pod_config("slice"), "pier").unwrap();
    c.stop_pod(&pod).unwrap();
    c.remove_pod(&pod).unwrap();
    f.assert_pod_gone(&[&pod]);
}
