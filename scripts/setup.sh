#!/usr/bin/env bash
# Installs what pier needs on a Debian 12 machine (as root), then builds pier.
#   scripts/setup.sh test    packages for the test suite (podman, docker.io, containerd, a Korean
#                            font and Chromium for the Korean book included)
#   scripts/setup.sh bench   packages for `pier bench` (runc, crun, podman, docker.io, QEMU, iperf3, numpy)
# Only missing packages are installed, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-test}"

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: run as root (pier uses namespaces, mounts and cgroups; apt-get needs root too)" >&2
  exit 1
fi

# Packages for both jobs: a static busybox for base images, the kernel's network tools,
# util-linux (setpriv, nsenter, lsns) for tests and labs.
packages=(busybox-static iproute2 nftables iptables util-linux procps ca-certificates)
# protoc, which compiles the Kubernetes CRI API's .proto files when pier is built (the k8s-cri
# crate's build script; `pier cri` and tests/cri.rs use it).
packages+=(protobuf-compiler)
# The C toolchain rustc links with, and glibc's static library (libc.a): the small monitor,
# pier-monitor, is linked statically (build.rs).
packages+=(gcc libc6-dev)
if [ "$what" = bench ]; then
  # Peers and environments: runc/crun (OCI peers), podman and Docker (whole-path peers; the
  # bench starts a dockerd of its own), QEMU (VMs), iperf3 (throughput cross-check), a
  # kernel image for the VM guest.
  packages+=(runc crun podman docker.io qemu-system-x86 xz-utils iperf3 python3-pip)
  # The pull bench (examples/pull_bench/): a local TLS registry with a login, skopeo, and
  # the Debian image scripts/layered-image.sh makes.
  packages+=(skopeo docker-registry apache2-utils mmdebstrap libcap2-bin attr)
fi
if [ "$what" = test ]; then
  # The bench's peers (runc, crun, podman: the harness test runs each; docker.io below for
  # bench/tests/docker.rs too), image interop
  # (skopeo), a local registry (docker-registry) with htpasswd files (apache2-utils), QEMU
  # for the VM environment's tests. A test whose tool is missing fails under CI (CI=true).
  packages+=(runc crun podman skopeo docker-registry apache2-utils qemu-system-x86 xz-utils gcc libc6-dev)
  # The OCI clients that drive pier as their runtime in tests/{podman,docker,containerd}_client.rs:
  # Docker (dockerd with its own containerd) and containerd with ctr and its runc shim. The
  # tests start their own daemons with private directories and sockets.
  packages+=(docker.io containerd)
  # tests/cri.rs: containerd's CRI plugin networks its pods with the CNI plugins (bridge,
  # host-local, loopback, portmap in /usr/lib/cni).
  packages+=(containernetworking-plugins)
  # The cgroup-v2 lane: mmdebstrap builds its Debian guest, qemu-img its throwaway disk,
  # mkfs.ext4 (e2fsprogs) its root filesystem image.
  packages+=(mmdebstrap qemu-utils e2fsprogs)
  # The suite's own scripts are checked with shellcheck (tests/lane_scripts.rs).
  packages+=(shellcheck)
  # Peak memory of `pier logs --tail` (tests/host_dos.rs, GNU time's -v) and the Engine API's
  # socket driven by curl (tests/engine_api.rs); neither is in every minimal Debian image.
  packages+=(time curl)
  # tests/registry_realistic.rs: umoci unpacks the reference tree; setcap (libcap2-bin) and
  # setfattr (attr) give scripts/layered-image.sh's files a capability and an xattr.
  packages+=(umoci libcap2-bin attr)
  # tests/engine_api_clients.rs: docker-compose 1.29 (docker-py underneath) and a venv for the
  # Python Docker SDK from PyPI, both driving pier's Engine API socket.
  packages+=(docker-compose python3-venv)
  # The Korean book (book/ko): a Korean font, without which a bare Debian draws its Hangul as
  # empty boxes (in a browser and in the Korean-labelled bench plots), and headless Chromium,
  # which tests/book_render.rs uses to check that the Hangul is drawn.
  packages+=(fonts-nanum chromium)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  # shellcheck source=scripts/qemu-pin.sh
  . scripts/qemu-pin.sh
  qemu_pin "${missing[@]}"
  apt-get install -y -q --no-install-recommends "${qemu_apt_args[@]}" "${missing[@]}" >/dev/null
  # Debian starts (and enables) the daemons it just installed on a systemd host: the tests do
  # not use them, and a running dockerd sets the host firewall's FORWARD policy to DROP. Stop
  # only what this run installed.
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    for p in "${missing[@]}"; do
      case "$p" in
        docker.io) systemctl disable --now docker.socket docker.service >/dev/null 2>&1 || true ;;
        containerd) systemctl disable --now containerd.service >/dev/null 2>&1 || true ;;
      esac
    done
  fi
fi

if ! command -v cargo >/dev/null; then
  for c in "$HOME/.cargo/bin/cargo" /usr/local/cargo/bin/cargo; do
    if [ -x "$c" ]; then
      PATH="$(dirname "$c"):$PATH"
      export PATH
    fi
  done
fi
if ! command -v cargo >/dev/null; then
  echo "setup: no Rust toolchain found: install Rust 1.80 or newer (https://rustup.rs) and run again" >&2
  exit 1
fi

# The book: mdbook, pinned (the labs and the book are tested against this version).
if [ "$what" = test ] && ! mdbook --version 2>/dev/null | grep -qx 'mdbook v0.5.4'; then
  cargo install mdbook --locked --version 0.5.4 --no-default-features --features search --quiet
fi
