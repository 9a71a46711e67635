#!/usr/bin/env bash
# A single-node Kubernetes on this machine with pier as the runtime of its pods: etcd
# (Debian's etcd-server), kube-apiserver, kube-scheduler, kube-controller-manager and kubelet
# (built from the kubernetes repository's vendored sources elsewhere; nothing here builds or
# downloads them), a private containerd (Debian's, CRI plugin on) with the runtime handlers
# `pier` (pier's runc entry point under containerd's runc shim) and `runc`, a RuntimeClass
# `pier`, and a Deployment of busybox with `runtimeClassName: pier` scaled from 1 to 5 replicas
# and back to 0. It prints what runs where, the times, and at the end what is left on the host
# (nothing, or the list of what is).
#
#   scripts/k8s-demo.sh KIT_DIR [PIER_BINARY]
#
# KIT_DIR/bin holds kube-apiserver, kube-scheduler, kube-controller-manager, kubelet and
# kubectl (see "A Deployment on pier" in book/src/concepts/orchestration.md for the version
# used and how it was built). PIER_BINARY defaults to target/debug/pier of this checkout.
# Needs root, containerd (with containerd-shim-runc-v2), runc, etcd, openssl, gcc (static
# glibc, for the pause program), iptables and Debian's containernetworking-plugins.
#
# Everything lives in a new work directory (K8S_DEMO_OUT, default /tmp/pier-k8s.XXXXXX):
# certificates, etcd's data, containerd's config, root, state and socket, the runtimes' state,
# CNI config and IPAM, kubelet's root directory, the logs. Everything listens on loopback.
# The cgroups of the pods are under their own root (/pier-k8s-NNN in every hierarchy).
# kubelet sets four sysctls at start where they differ from its wishes (vm.overcommit_memory,
# vm.panic_on_oom, kernel.panic, kernel.panic_on_oops): they are put back. It writes the pods'
# logs under /var/log/pods (links in /var/log/containers) and its device-plugin socket under
# /var/lib/kubelet/device-plugins whatever its --root-dir: what this run made there is
# removed. On exit everything is taken down and checked; the logs stay in the work directory.
set -uo pipefail

[ $# -ge 1 ] || { echo "usage: $0 KIT_DIR [PIER_BINARY]" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "$0: kubelet and containerd need root" >&2; exit 2; }
repo=$(cd "$(dirname "$0")/.." && pwd)
kit=$(realpath "$1") || exit 2
pier=$(realpath "${2:-$repo/target/debug/pier}") || { echo "$0: no pier binary (cargo build -p pier)" >&2; exit 2; }
for b in kube-apiserver kube-scheduler kube-controller-manager kubelet kubectl; do
    [ -x "$kit/bin/$b" ] || { echo "$0: $kit/bin/$b is missing" >&2; exit 2; }
done
need() {
    command -v "$1" >/dev/null || { echo "$0: $1 is not on PATH ($2)" >&2; exit 2; }
}
need containerd "apt-get install containerd"
need containerd-shim-runc-v2 "apt-get install containerd"
need ctr "apt-get install containerd"
need runc "apt-get install runc"
need etcd "apt-get install etcd-server"
need openssl "apt-get install openssl"
need gcc "apt-get install gcc libc6-dev"
need iptables "apt-get install iptables"
need curl "apt-get install curl"
cni_bin=/usr/lib/cni
for p in bridge host-local loopback; do
    [ -x "$cni_bin/$p" ] || { echo "$0: $cni_bin/$p is missing (apt-get install containernetworking-plugins)" >&2; exit 2; }
done

work=${K8S_DEMO_OUT:-$(mktemp -d /tmp/pier-k8s.XXXXXX)}
mkdir -p "$work" && work=$(realpath "$work")
sock=$work/containerd/containerd.sock
export PIER_ROOT=$work/pier-root
tag=$((RANDOM % 1000))
bridge=pierk8s$tag
subnet=10.$((200 + RANDOM % 50)).$((RANDOM % 250))
cgroot=pier-k8s-$tag
node="pier-node"
replicas=${K8S_DEMO_REPLICAS:-5}
pids=()

log() { echo "== $(date -u +%T) $*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
kubectl() { "$kit/bin/kubectl" --kubeconfig "$work/pki/admin.kubeconfig" "$@"; }
ctr_() { ctr --address "$sock" -n k8s.io "$@"; }
cri() { "$pier" cri --endpoint "unix://$sock" "$@"; }

# A TCP port on loopback nobody listens on.
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 20000))
        ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }
    done
}

# What kubelet and CNI may leave on the host, as it is before the run.
sysctls=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops)
declare -A sysctl_before
for s in "${sysctls[@]}"; do sysctl_before[$s]=$(sysctl -n "$s"); done
chains() { iptables-save 2>/dev/null | awk '/^\*/ { t = $1 } /^:/ { print t, $1 }' | sort; }
chains_before=$(chains)
veths() { ip -o link show type veth 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | sort; }
veths_before=$(veths)
# Directories kubelet makes at fixed places (the pods' logs; the device plugins' socket in
# 1.19's kubelet, whatever its --root-dir): removed at the end if this run made them.
host_dirs=(/var/log/pods /var/log/containers /var/lib/kubelet/device-plugins /var/lib/kubelet)
host_dirs_existed=()
for d in "${host_dirs[@]}"; do [ -e "$d" ] && host_dirs_existed+=("$d"); done

# stop PID...: SIGTERM, then SIGKILL after 10 s.
stop() {
    local p alive
    for p in "$@"; do kill "$p" 2>/dev/null; done
    for _ in $(seq 100); do
        alive=0
        for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && return
        sleep 0.1
    done
    for p in "$@"; do kill -9 "$p" 2>/dev/null; done
}

# clean_up: takes down everything this run made and says what, if anything, is left.
clean_up() {
    local p root n c s left=0 i
    trap - EXIT INT TERM
    log "taking everything down"
    # kubelet first (it would restart what is removed below), then the pods through CRI.
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        case $(cat "/proc/${pids[i]}/comm" 2>/dev/null) in kubelet) stop "${pids[i]}" ;; esac
    done
    if [ -S "$sock" ]; then
        for p in $(cri pods 2>/dev/null | awk 'NR > 1 { print $1 }'); do
            cri stopp "$p" >/dev/null 2>&1
            cri rmp "$p" >/dev/null 2>&1
        done
    fi
    # The daemons in the reverse order of their start (containerd first started, last stopped).
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop "${pids[i]}"; done
    for p in $(pgrep -f -- "-address $sock"); do kill -9 "$p" 2>/dev/null; done
    for p in /proc/[0-9]*; do
        root=$(readlink "$p/root" 2>/dev/null) || continue
        case $root in "$work"/*) kill -9 "${p#/proc/}" 2>/dev/null ;; esac
    done
    sleep 0.5
    for _ in 1 2 3 4; do # stacked mounts on one path come off one per pass
        awk '{ print $5 }' /proc/self/mountinfo | grep "^$work/" | sort -ru | while read -r m; do
            umount -l "$m" 2>/dev/null
        done
    done
    ip link del "$bridge" 2>/dev/null
    # The pods' cgroups: under this run's root, in every hierarchy, deepest first.
    for c in /sys/fs/cgroup/*/"$cgroot" /sys/fs/cgroup/"$cgroot"; do
        [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    for s in "${sysctls[@]}"; do
        [ "$(sysctl -n "$s")" = "${sysctl_before[$s]}" ] && continue
        log "$s: $(sysctl -n "$s") (kubelet's) back to ${sysctl_before[$s]}"
        sysctl -qw "$s=${sysctl_before[$s]}"
    done
    # The pods' logs kubelet keeps outside its root directory.
    rm -rf /var/log/pods/default_sleepers-* /var/log/containers/sleepers-*
    for d in "${host_dirs[@]}"; do
        printf '%s\n' "${host_dirs_existed[@]}" | grep -qx "$d" && continue
        case $d in
        */device-plugins) rm -rf "$d" ;; # kubelet's socket and checkpoint, nobody else's
        *) rmdir "$d" 2>/dev/null ;;
        esac
    done
    # pier-runc is a hard link to the pier binary: it would keep a rebuilt one's old copy alive.
    rm -rf "$work/containerd" "$work/runtime-root" "$work/pier-root" "$work/etcd" "$work/kubelet" "$work/images" \
        "$work/pier-runc"

    # What is left: each line is a failure of the clean-up.
    n=$(awk '{ print $5 }' /proc/self/mountinfo | grep -c "^$work")
    [ "$n" = 0 ] || { echo "left: $n mounts under $work" >&2; left=1; }
    n=$(find /sys/fs/cgroup -maxdepth 2 -name "$cgroot" 2>/dev/null | wc -l)
    [ "$n" = 0 ] || { echo "left: $n cgroups named $cgroot" >&2; left=1; }
    n=$(comm -13 <(echo "$veths_before") <(veths) | wc -l)
    [ "$n" = 0 ] || { echo "left: $n veths that were not there before" >&2; left=1; }
    ip link show "$bridge" >/dev/null 2>&1 && { echo "left: the bridge $bridge" >&2; left=1; }
    for b in "$kit/bin/" etcd containerd-shim; do
        n=$(pgrep -f -- "$b" | while read -r p; do
            tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "$work" && echo "$p"
        done | wc -l)
        [ "$n" = 0 ] || { echo "left: $n processes of $b naming $work" >&2; left=1; }
    done
    n=$(comm -13 <(echo "$chains_before") <(chains) | tee "$work/new-chains" | wc -l)
    [ "$n" = 0 ] || { echo "left: $n iptables chains (in $work/new-chains)" >&2; left=1; }
    n=$(iptables-save 2>/dev/null | grep -c -- "$subnet\.")
    [ "$n" = 0 ] || { echo "left: $n iptables rules naming $subnet.0/24" >&2; left=1; }
    for s in "${sysctls[@]}"; do
        [ "$(sysctl -n "$s")" = "${sysctl_before[$s]}" ] || { echo "left: $s changed" >&2; left=1; }
    done
    for d in "${host_dirs[@]}"; do
        [ -e "$d" ] && ! printf '%s\n' "${host_dirs_existed[@]}" | grep -qx "$d" && { echo "left: $d" >&2; left=1; }
    done
    n=$(find "$PIER_ROOT" "$work/runtime-root" -mindepth 1 2>/dev/null | wc -l)
    [ "$n" = 0 ] || { echo "left: $n files of pier's state" >&2; left=1; }
    [ $left = 0 ] && log "nothing is left: no mount, cgroup, veth, bridge, process, iptables chain, pier state, kubelet directory; sysctls as they were"
    log "logs in $work"
}
trap clean_up EXIT
trap 'exit 130' INT TERM

# start NAME ARG...: runs a daemon in the background, its output in NAME.log.
start() {
    local name=$1
    shift
    "$@" >"$work/$name.log" 2>&1 &
    pids+=($!)
}
# wait_for SECONDS WHAT COMMAND...: polls COMMAND until it succeeds.
wait_for() {
    local secs=$1 what=$2 t
    shift 2
    t=$(now)
    while ! "$@" >/dev/null 2>&1; do
        if [ "$(since "$t" | cut -d. -f1)" -ge "$secs" ]; then
            echo "$0: $what: not within $secs s (logs in $work)" >&2
            exit 1
        fi
        sleep 0.5
    done
}

# --- images: the pause program and busybox, from pier --------------------------------------
log "images"
img=$work/images
mkdir -p "$img/pause"
cat >"$img/pause/pause.c" <<'EOF'
/* The sandbox's process: holds the pod's namespaces, reaps orphans, exits on SIGINT/SIGTERM. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void quit(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
    signal(SIGINT, quit);
    signal(SIGTERM, quit);
    signal(SIGCHLD, reap);
    for (;;) pause();
}
EOF
gcc -static -Os -o "$img/pause/pause" "$img/pause/pause.c" || { echo "$0: gcc -static failed (libc6-dev)" >&2; exit 1; }
rm "$img/pause/pause.c"
printf 'FROM scratch\nCOPY pause /pause\nENTRYPOINT ["/pause"]\n' >"$img/pause/Dockerfile"
"$pier" build -q -t localhost/pier-pause:1 "$img/pause" >/dev/null || { echo "$0: pier build of the pause image failed" >&2; exit 1; }
"$pier" image bootstrap busybox >/dev/null || { echo "$0: pier image bootstrap busybox failed" >&2; exit 1; }
if ! { "$pier" save -o "$img/pause.tar" localhost/pier-pause:1 && "$pier" save -o "$img/busybox.tar" busybox; }; then
    echo "$0: pier save failed" >&2
    exit 1
fi

# --- containerd ----------------------------------------------------------------------------
"$pier" runtime install-link "$work/pier-runc" >/dev/null || { echo "$0: pier runtime install-link failed" >&2; exit 1; }
mkdir -p "$work/containerd" "$work/cni/net.d" "$work/cni/ipam" "$work/runtime-root"
cat >"$work/cni/net.d/10-pier.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$bridge",
  "plugins": [
    {
      "type": "bridge", "bridge": "$bridge", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "$subnet.0/24" }]],
                "routes": [{ "dst": "0.0.0.0/0" }], "dataDir": "$work/cni/ipam" }
    },
    { "type": "loopback" }
  ]
}
EOF
runtime_toml() { # NAME BINARY
    cat <<EOF
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.$1]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.$1.options]
        BinaryName = "$2"
        Root = "$work/runtime-root/$1"
EOF
}
restrict_oom=false
[ $((0x$(awk '/^CapEff/ { print $2 }' /proc/self/status) >> 24 & 1)) = 1 ] || restrict_oom=true
{
    cat <<EOF
version = 2
root = "$work/containerd/root"
state = "$work/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$work/containerd/ttrpc.sock"
[debug]
  address = "$work/containerd/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$work/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/pier-pause:1"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_apparmor = true
  netns_mounts_under_state_dir = true
  restrict_oom_score_adj = $restrict_oom
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    snapshotter = "overlayfs"
EOF
    runtime_toml runc "$(command -v runc)"
    runtime_toml pier "$work/pier-runc"
    cat <<EOF
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$cni_bin"
    conf_dir = "$work/cni/net.d"
EOF
} >"$work/containerd.toml"
log "containerd"
start containerd containerd --config "$work/containerd.toml"
wait_for 60 "containerd's socket" ctr_ version
# ctr names an import by its archive's short name; CRI looks images up by full reference.
if ! { ctr_ images import "$img/pause.tar" >/dev/null && ctr_ images import "$img/busybox.tar" >/dev/null &&
    ctr_ images tag busybox:latest docker.io/library/busybox:latest >/dev/null; }; then
    echo "$0: ctr images import failed" >&2
    exit 1
fi

# --- certificates ---------------------------------------------------------------------------
log "certificates"
pki=$work/pki
mkdir -p "$pki"
ossl() { openssl "$@" 2>>"$pki/openssl.log" >/dev/null || { echo "$0: openssl $1 failed: $pki/openssl.log" >&2; exit 1; }; }
ossl req -x509 -newkey rsa:2048 -nodes -keyout "$pki/ca.key" -out "$pki/ca.crt" -days 1 -subj /CN=pier-k8s-demo-ca
# cert NAME SUBJECT EXTENSIONS: a key and a certificate signed by the CA.
cert() {
    ossl req -newkey rsa:2048 -nodes -keyout "$pki/$1.key" -out "$pki/$1.csr" -subj "$2"
    printf '%s\n' "$3" >"$pki/$1.ext"
    ossl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
        -out "$pki/$1.crt" -days 1 -extfile "$pki/$1.ext"
}
service_range=10.97.$((RANDOM % 250)).0/24
cert apiserver /CN=kube-apiserver "subjectAltName=IP:127.0.0.1,IP:${service_range%.0/24}.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default
extendedKeyUsage=serverAuth"
# One client identity for the components and the person (system:masters): a demonstration
# on loopback, not a hardened cluster (which gives each its own, and the Node authorizer).
cert admin "/O=system:masters/CN=admin" "extendedKeyUsage=clientAuth"
ossl genrsa -out "$pki/sa.key" 2048
ossl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub"

# --- etcd, the control plane ---------------------------------------------------------------
etcd_port=$(free_port)
api_port=$(free_port)
cat >"$pki/admin.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: pier
  cluster: {server: "https://127.0.0.1:$api_port", certificate-authority: "$pki/ca.crt"}
users:
- name: admin
  user: {client-certificate: "$pki/admin.crt", client-key: "$pki/admin.key"}
contexts:
- name: pier
  context: {cluster: pier, user: admin}
current-context: pier
EOF
log "etcd on 127.0.0.1:$etcd_port"
peer=http://127.0.0.1:$(free_port)
start etcd etcd --name pier-k8s --data-dir "$work/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" --initial-cluster "pier-k8s=$peer"
wait_for 60 "etcd" curl -fs "http://127.0.0.1:$etcd_port/health"
log "kube-apiserver on 127.0.0.1:$api_port"
start kube-apiserver "$kit/bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --secure-port "$api_port" --advertise-address 127.0.0.1 \
    --insecure-port 0 --endpoint-reconciler-type none --cert-dir "$pki/apiserver" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" --service-account-key-file "$pki/sa.pub" \
    --service-cluster-ip-range "$service_range" --authorization-mode RBAC \
    --kubelet-client-certificate "$pki/admin.crt" --kubelet-client-key "$pki/admin.key"
wait_for 120 "kube-apiserver" kubectl get --raw /readyz
common=(--kubeconfig "$pki/admin.kubeconfig" --authentication-kubeconfig "$pki/admin.kubeconfig"
    --authorization-kubeconfig "$pki/admin.kubeconfig" --leader-elect=false --port 0
    --bind-address 127.0.0.1)
log "kube-scheduler, kube-controller-manager"
start kube-scheduler "$kit/bin/kube-scheduler" "${common[@]}" --secure-port "$(free_port)" --cert-dir "$pki/scheduler"
start kube-controller-manager "$kit/bin/kube-controller-manager" "${common[@]}" --secure-port "$(free_port)" \
    --cert-dir "$pki/controller-manager" --service-account-private-key-file "$pki/sa.key" \
    --root-ca-file "$pki/ca.crt" --flex-volume-plugin-dir "$work/flexvolume"

# --- kubelet --------------------------------------------------------------------------------
# Its cgroup root, in every hierarchy (kubelet wants it to exist); cpuset's values from the root.
for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
    [ -f "$h/cgroup.procs" ] || continue
    mkdir -p "$h$cgroot"
    for f in cpuset.cpus cpuset.mems; do
        [ -f "$h$f" ] && cat "$h$f" >"$h$cgroot/$f"
    done
done
cat >"$work/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: $(free_port)
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: "$pki/ca.crt"}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
cgroupRoot: /$cgroot
failSwapOn: false
makeIPTablesUtilChains: false
resolvConf: /etc/resolv.conf
serializeImagePulls: false
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
EOF
# A kubelet of 1.35 or later refuses cgroup v1 unless told.
if ! [ -f /sys/fs/cgroup/cgroup.controllers ] && "$kit/bin/kubelet" --version | awk '{ split($2, v, "."); exit !(v[2] >= 35) }'; then
    echo "failCgroupV1: false" >>"$work/kubelet.yaml"
fi
log "kubelet (node $node, cgroup root /$cgroot)"
mkdir -p "$work/kubelet"
start kubelet "$kit/bin/kubelet" --config "$work/kubelet.yaml" --kubeconfig "$pki/admin.kubeconfig" \
    --container-runtime remote --container-runtime-endpoint "unix://$sock" \
    --root-dir "$work/kubelet" --cert-dir "$work/kubelet/pki" --hostname-override "$node" \
    --volume-plugin-dir "$work/kubelet/volume-plugins"
node_ready() { [ "$(kubectl get node "$node" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
wait_for 180 "node $node Ready" node_ready
sa_ready() { kubectl get serviceaccount default; }
wait_for 60 "the default service account" sa_ready

# --- the demonstration ---------------------------------------------------------------------
rc_api=node.k8s.io/v1 # GA in 1.20; beta before
kubectl api-versions | grep -qx "$rc_api" || rc_api=node.k8s.io/v1beta1
cat >"$work/demo.yaml" <<EOF
apiVersion: $rc_api
kind: RuntimeClass
metadata:
  name: pier
handler: pier
---
apiVersion: $rc_api
kind: RuntimeClass
metadata:
  name: runc
handler: runc
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: sleepers
spec:
  replicas: 1
  selector: {matchLabels: {app: sleepers}}
  template:
    metadata: {labels: {app: sleepers}}
    spec:
      runtimeClassName: pier
      terminationGracePeriodSeconds: 2
      containers:
      - name: sleep
        image: docker.io/library/busybox:latest
        imagePullPolicy: Never
        command: ["sleep", "3600"]
EOF
echo
echo "\$ kubectl version --short"
kubectl version --short 2>/dev/null
echo "\$ kubectl get nodes -o wide"
kubectl get nodes -o wide
echo "\$ kubectl apply -f demo.yaml"
t=$(now)
kubectl apply -f "$work/demo.yaml" || exit 1
ready() { [ "$(kubectl get deployment sleepers -o 'jsonpath={.status.readyReplicas}')" = "$1" ]; }
wait_for 180 "1 replica Ready" ready 1
echo "1 replica Ready $(since "$t") s after apply"
echo "\$ kubectl scale deployment sleepers --replicas=$replicas"
t=$(now)
kubectl scale deployment sleepers --replicas="$replicas" || exit 1
wait_for 300 "$replicas replicas Ready" ready "$replicas"
scale_up=$(since "$t")
echo "$replicas replicas Ready $scale_up s after kubectl scale"
echo "\$ kubectl get pods -o wide"
kubectl get pods -o wide
echo "\$ kubectl get pods -o custom-columns=NAME:.metadata.name,RUNTIMECLASS:.spec.runtimeClassName,STATUS:.status.phase"
kubectl get pods -o custom-columns=NAME:.metadata.name,RUNTIMECLASS:.spec.runtimeClassName,STATUS:.status.phase
echo "\$ pier cri pods    # containerd's view, through CRI"
cri pods
echo "\$ pier runtime --root $work/runtime-root/pier/k8s.io list    # pier's own state"
"$pier" runtime --root "$work/runtime-root/pier/k8s.io" list
n=$("$pier" runtime --root "$work/runtime-root/pier/k8s.io" list | awk 'NR > 1 && /running/' | wc -l)
echo "pier runs $n containers (each pod's pause and its container: $((2 * replicas)) expected)"
echo "\$ ps -o pid,ppid,args --ppid SHIMS    # the shims' children: the pods' processes"
ps -o pid,ppid,args --ppid "$(pgrep -d, -f -- "-address $sock")"
p=$(pgrep -f -P "$(pgrep -d, -f -- "-address $sock")" -x 'sleep 3600' | head -1)
echo "\$ grep memory /proc/$p/cgroup    # a container's cgroup: kubelet's pod cgroup, pier's leaf"
grep memory "/proc/$p/cgroup"
[ "$n" = $((2 * replicas)) ] || { echo "$0: pier runs $n containers, not $((2 * replicas))" >&2; exit 1; }

echo "\$ kubectl scale deployment sleepers --replicas=0"
t=$(now)
kubectl scale deployment sleepers --replicas=0 || exit 1
no_pods() { [ -z "$(kubectl get pods -o name)" ]; }
wait_for 300 "every pod gone" no_pods
echo "0 pods $(since "$t") s after kubectl scale"
gone() { [ "$("$pier" runtime --root "$work/runtime-root/pier/k8s.io" list | awk 'NR > 1' | wc -l)" = 0 ]; }
wait_for 60 "pier's containers gone" gone
echo "\$ pier runtime --root $work/runtime-root/pier/k8s.io list"
"$pier" runtime --root "$work/runtime-root/pier/k8s.io" list

# --- the same scaling with runc, in turns -------------------------------------------------
# ROUNDS turns of pier then runc (runtimeClassName changed while at 0 replicas): the time
# from `kubectl scale` to every replica Ready, and from scaling to 0 to no pod left.
rounds=${K8S_DEMO_ROUNDS:-3}
declare -A up down
for ((r = 1; r <= rounds; r++)); do
    for h in pier runc; do
        kubectl patch deployment sleepers --type merge \
            -p "{\"spec\":{\"template\":{\"spec\":{\"runtimeClassName\":\"$h\"}}}}" >/dev/null || exit 1
        t=$(now)
        kubectl scale deployment sleepers --replicas="$replicas" >/dev/null || exit 1
        wait_for 300 "$replicas replicas Ready ($h)" ready "$replicas"
        up[$h]+="$(since "$t") "
        t=$(now)
        kubectl scale deployment sleepers --replicas=0 >/dev/null || exit 1
        wait_for 300 "every pod gone ($h)" no_pods
        down[$h]+="$(since "$t") "
    done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo "scale 0 -> $replicas -> 0, $rounds rounds (seconds; median last):"
for h in pier runc; do
    printf '  %-4s  to %s Ready: %s(median %s)   to 0 pods: %s(median %s)\n' "$h" "$replicas" \
        "${up[$h]}" "$(echo "${up[$h]}" | median)" "${down[$h]}" "$(echo "${down[$h]}" | median)"
done
kubectl delete -f "$work/demo.yaml" >/dev/null
echo "versions: kubelet $("$kit/bin/kubelet" --version | awk '{ print $2 }'), containerd $(containerd --version | awk '{ print $3 }')," \
    "etcd $(etcd --version | awk '/^etcd Version/ { print $3 }'), $(uname -srm), $(nproc) CPUs," \
    "cgroup $([ -f /sys/fs/cgroup/cgroup.controllers ] && echo v2 || echo v1), restrict_oom_score_adj $restrict_oom"
echo "pier: $pier ($("$pier" --version 2>/dev/null | head -1))"
