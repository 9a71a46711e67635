//! A containerd with its CRI plugin, for the tests that speak CRI as kubelet does
//! (tests/cri.rs): pier-cri's [`PrivateContainerd`] (Debian's containerd with a private
//! configuration, root, state and socket; CNI from containernetworking-plugins; the pause
//! image built here; pier's busybox imported) under a test-made directory, with runtime
//! handlers `pier` (the runc shim with pier as its runc binary) and `runc`, its own bridge,
//! subnet and cgroup parent. Everything it made goes on drop.

use super::clients::pier_runc_link;
use super::Pier;
use pier_cri::private_containerd::{self, ConfigOptions, Handler, PrivateContainerd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The busybox image as CRI names it.
pub const BUSYBOX: &str = pier_cri::private_containerd::BUSYBOX;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A running containerd with the CRI plugin; see the module's documentation.
pub struct CriContainerd {
    /// The test-made directory everything lives under.
    pub dir: PathBuf,
    /// `unix://` + its socket.
    pub endpoint: String,
    /// pier's state root for the `pier` handler, as the shim passes it (`--root`), with
    /// containerd's namespace added.
    pub pier_state: PathBuf,
    /// This fixture's CNI bridge.
    pub bridge: String,
    /// Its subnet's first three octets (`10.217.N`).
    pub subnet: String,
    /// The cgroup parent its pods are put under (a path under every hierarchy's root).
    pub cgroup_parent: String,
    // Dropped before the directory it lives in.
    containerd: PrivateContainerd,
    _work: tempfile::TempDir,
}

impl CriContainerd {
    /// Starts one; `p` provides the busybox image and builds the pause image.
    pub fn start(p: &Pier) -> CriContainerd {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}{n}", std::process::id() % 100_000);
        let work = tempfile::Builder::new()
            .prefix("pier-cri-")
            .tempdir()
            .expect("temp dir");
        let dir = work.path().canonicalize().expect("canonical temp dir");
        // pier-runc in a directory of its own: pier seals its binary with a read-only overlay
        // of the binary's directory, which must not hold the state root (else each command
        // copies the binary into a memfd instead).
        let bin = dir.join("bin");
        std::fs::create_dir(&bin).expect("creating the bin directory");
        let runc = pier_runc_link(&bin);
        let images = private_containerd::pause::image_archives(&dir, &mut |args| {
            p.ok(args);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let mut config = ConfigOptions::new(vec![
            Handler::new("pier", runc),
            Handler::new("runc", "/usr/sbin/runc"),
        ]);
        config.default_handler = "runc".into();
        let opts = private_containerd::Options {
            config,
            bridge: format!("piercri{n}"),
            subnet: format!("10.217.{}", 20 + n),
            cgroup_parent: format!("/pier-cri-{tag}"),
            ready_timeout: super::scaled(Duration::from_secs(60)),
        };
        let containerd = PrivateContainerd::start(&dir, &opts, &images)
            .unwrap_or_else(|e| panic!("starting the private containerd: {e}"));
        CriContainerd {
            endpoint: containerd.endpoint().to_string(),
            pier_state: dir.join("pier-state").join("k8s.io"),
            bridge: opts.bridge,
            subnet: opts.subnet,
            cgroup_parent: opts.cgroup_parent,
            dir,
            containerd,
            _work: work,
        }
    }

    /// A CRI client connected to it.
    pub fn client(&self) -> pier_cri::Client {
        self.containerd
            .client()
            .expect("connecting to containerd's CRI")
    }

    /// containerd's log so far (for failure messages).
    pub fn log(&self) -> String {
        self.containerd.log()
    }

    /// The interfaces enslaved to this fixture's bridge (the pods' veths).
    pub fn bridge_ports(&self) -> Vec<String> {
        let brif = Path::new("/sys/class/net").join(&self.bridge).join("brif");
        std::fs::read_dir(brif)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }
}
