//! A small CRI client: what kubelet says to containerd (or CRI-O) over its gRPC socket, for
//! `pier cri` and the tests that run pods with pier as the runtime.
//!
//! The wire types are the CRI API's own (`runtime.v1`, from the `k8s-cri` bindings); this
//! crate adds the connection over a Unix socket, a blocking face on tonic's async client
//! (pier's command line is synchronous), named errors, and the crictl-style JSON files
//! ([`config`]) that describe a pod and its containers. [`private_containerd`] starts a
//! containerd of one's own with the CRI plugin (the tests' and the bench's).

pub mod config;
pub mod containerd_config;
mod endpoint;
mod error;
pub mod private_containerd;

pub use endpoint::{socket_path, DEFAULT_ENDPOINT};
pub use error::Error;
pub use k8s_cri::v1 as api;

use api::image_service_client::ImageServiceClient;
use api::runtime_service_client::RuntimeServiceClient;
use std::time::Duration;
use tonic::transport::Channel;

/// A connection to a CRI runtime service (containerd's CRI plugin).
pub struct Client {
    rt: tokio::runtime::Runtime,
    runtime: RuntimeServiceClient<Channel>,
    images: ImageServiceClient<Channel>,
}

/// A command's output through ExecSync.
#[derive(Debug, Clone)]
pub struct ExecOutput {
    /// What the command wrote on its standard output.
    pub stdout: Vec<u8>,
    /// What it wrote on its standard error.
    pub stderr: Vec<u8>,
    /// Its exit code.
    pub exit_code: i32,
}

impl Client {
    /// Connects to `endpoint` (`unix:///run/containerd/containerd.sock` or a bare path).
    pub fn connect(endpoint: &str) -> Result<Client, Error> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Runtime(e.to_string()))?;
        let channel = rt.block_on(endpoint::channel(endpoint))?;
        Ok(Client {
            rt,
            runtime: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
        })
    }

    /// The runtime's name and versions (`crictl version`).
    pub fn version(&mut self) -> Result<api::VersionResponse, Error> {
        let req = api::VersionRequest {
            version: "v1".into(),
        };
        let out = self.rt.block_on(self.runtime.version(req));
        Ok(out.map_err(Error::call("Version"))?.into_inner())
    }

    /// RunPodSandbox: makes the pod (its sandbox, network namespace, pause container) with
    /// the runtime handler `handler` (the RuntimeClass's), and returns its ID.
    pub fn run_pod(
        &mut self,
        config: api::PodSandboxConfig,
        handler: &str,
    ) -> Result<String, Error> {
        let req = api::RunPodSandboxRequest {
            config: Some(config),
            runtime_handler: handler.into(),
        };
        let out = self.rt.block_on(self.runtime.run_pod_sandbox(req));
        Ok(out
            .map_err(Error::call("RunPodSandbox"))?
            .into_inner()
            .pod_sandbox_id)
    }

    /// StopPodSandbox: stops the pod's containers and its sandbox, tears its network down.
    pub fn stop_pod(&mut self, id: &str) -> Result<(), Error> {
        let req = api::StopPodSandboxRequest {
            pod_sandbox_id: id.into(),
        };
        let out = self.rt.block_on(self.runtime.stop_pod_sandbox(req));
        out.map_err(Error::call("StopPodSandbox"))?;
        Ok(())
    }

    /// RemovePodSandbox: removes a stopped pod and its containers.
    pub fn remove_pod(&mut self, id: &str) -> Result<(), Error> {
        let req = api::RemovePodSandboxRequest {
            pod_sandbox_id: id.into(),
        };
        let out = self.rt.block_on(self.runtime.remove_pod_sandbox(req));
        out.map_err(Error::call("RemovePodSandbox"))?;
        Ok(())
    }

    /// PodSandboxStatus (`crictl inspectp`); `verbose` adds the runtime's `info` map.
    pub fn pod_status(
        &mut self,
        id: &str,
        verbose: bool,
    ) -> Result<api::PodSandboxStatusResponse, Error> {
        let req = api::PodSandboxStatusRequest {
            pod_sandbox_id: id.into(),
            verbose,
        };
        let out = self.rt.block_on(self.runtime.pod_sandbox_status(req));
        Ok(out.map_err(Error::call("PodSandboxStatus"))?.into_inner())
    }

    /// ListPodSandbox: every pod the runtime holds.
    pub fn pods(&mut self) -> Result<Vec<api::PodSandbox>, Error> {
        let req = api::ListPodSandboxRequest { filter: None };
        let out = self.rt.block_on(self.runtime.list_pod_sandbox(req));
        Ok(out
            .map_err(Error::call("ListPodSandbox"))?
            .into_inner()
            .items)
    }

    /// CreateContainer in pod `pod_id` (whose configuration kubelet sends again, as
    /// `pod_config`); returns the container's ID.
    pub fn create_container(
        &mut self,
        pod_id: &str,
        config: api::ContainerConfig,
        pod_config: api::PodSandboxConfig,
    ) -> Result<String, Error> {
        let req = api::CreateContainerRequest {
            pod_sandbox_id: pod_id.into(),
            config: Some(config),
            sandbox_config: Some(pod_config),
        };
        let out = self.rt.block_on(self.runtime.create_container(req));
        Ok(out
            .map_err(Error::call("CreateContainer"))?
            .into_inner()
            .container_id)
    }

    /// StartContainer.
    pub fn start_container(&mut self, id: &str) -> Result<(), Error> {
        let req = api::StartContainerRequest {
            container_id: id.into(),
        };
        let out = self.rt.block_on(self.runtime.start_container(req));
        out.map_err(Error::call("StartContainer"))?;
        Ok(())
    }

    /// StopContainer: SIGTERM (or the image's stop signal), SIGKILL after `timeout`.
    pub fn stop_container(&mut self, id: &str, timeout: Duration) -> Result<(), Error> {
        let req = api::StopContainerRequest {
            container_id: id.into(),
            timeout: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
        };
        let out = self.rt.block_on(self.runtime.stop_container(req));
        out.map_err(Error::call("StopContainer"))?;
        Ok(())
    }

    /// RemoveContainer.
    pub fn remove_container(&mut self, id: &str) -> Result<(), Error> {
        let req = api::RemoveContainerRequest {
            container_id: id.into(),
        };
        let out = self.rt.block_on(self.runtime.remove_container(req));
        out.map_err(Error::call("RemoveContainer"))?;
        Ok(())
    }

    /// ListContainers, of every pod or of pod `pod_id` only.
    pub fn containers(&mut self, pod_id: Option<&str>) -> Result<Vec<api::Container>, Error> {
        let filter = pod_id.map(|id| api::ContainerFilter {
            pod_sandbox_id: id.into(),
            ..Default::default()
        });
        let req = api::ListContainersRequest { filter };
        let out = self.rt.block_on(self.runtime.list_containers(req));
        Ok(out
            .map_err(Error::call("ListContainers"))?
            .into_inner()
            .containers)
    }

    /// ContainerStatus (`crictl inspect`).
    pub fn container_status(
        &mut self,
        id: &str,
        verbose: bool,
    ) -> Result<api::ContainerStatusResponse, Error> {
        let req = api::ContainerStatusRequest {
            container_id: id.into(),
            verbose,
        };
        let out = self.rt.block_on(self.runtime.container_status(req));
        Ok(out.map_err(Error::call("ContainerStatus"))?.into_inner())
    }

    /// ExecSync: runs `cmd` in container `id` and returns its output once it exits (or is
    /// killed after `timeout`).
    pub fn exec_sync(
        &mut self,
        id: &str,
        cmd: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput, Error> {
        let req = api::ExecSyncRequest {
            container_id: id.into(),
            cmd: cmd.to_vec(),
            timeout: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
        };
        let out = self.rt.block_on(self.runtime.exec_sync(req));
        let out = out.map_err(Error::call("ExecSync"))?.into_inner();
        Ok(ExecOutput {
            stdout: out.stdout,
            stderr: out.stderr,
            exit_code: out.exit_code,
        })
    }

    /// Exec: asks the runtime for a streaming URL (kubelet hands it to `kubectl exec`, which
    /// speaks SPDY or WebSocket to it); returns the URL.
    pub fn exec_url(&mut self, id: &str, cmd: &[String], tty: bool) -> Result<String, Error> {
        let req = api::ExecRequest {
            container_id: id.into(),
            cmd: cmd.to_vec(),
            tty,
            stdin: false,
            stdout: true,
            stderr: !tty,
        };
        let out = self.rt.block_on(self.runtime.exec(req));
        Ok(out.map_err(Error::call("Exec"))?.into_inner().url)
    }

    /// ContainerStats: the container's CPU, memory and writable-layer use.
    pub fn container_stats(&mut self, id: &str) -> Result<api::ContainerStats, Error> {
        let req = api::ContainerStatsRequest {
            container_id: id.into(),
        };
        let out = self.rt.block_on(self.runtime.container_stats(req));
        out.map_err(Error::call("ContainerStats"))?
            .into_inner()
            .stats
            .ok_or(Error::Missing("ContainerStats", "stats"))
    }

    /// ListImages: the images the runtime's image service holds.
    pub fn images(&mut self) -> Result<Vec<api::Image>, Error> {
        let req = api::ListImagesRequest { filter: None };
        let out = self.rt.block_on(self.images.list_images(req));
        Ok(out.map_err(Error::call("ListImages"))?.into_inner().images)
    }

    /// The runtime's status and configuration (`crictl info`): its conditions and, with
    /// `verbose`, containerd's configuration as JSON strings.
    pub fn status(&mut self, verbose: bool) -> Result<api::StatusResponse, Error> {
        let req = api::StatusRequest { verbose };
        let out = self.rt.block_on(self.runtime.status(req));
        Ok(out.map_err(Error::call("Status"))?.into_inner())
    }
}
