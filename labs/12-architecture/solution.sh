#!/usr/bin/env bash
# Reference solution of lab 12 (run by CI after `pier lab start 12`).
# ANCHOR: all
set -euo pipefail
cd "$(pier lab dir 12)"
# ANCHOR: monitor
pier run -d --name lab12-box busybox sleep 3600
init=$(pier inspect lab12-box | jq '.[0].init.pid')
monitor=$(ps -o ppid= -p "$init" | tr -d ' ')
parent=$(ps -o ppid= -p "$monitor" | tr -d ' ')
ps -o pid,ppid,comm -p "$init,$monitor,$parent"
# ANCHOR_END: monitor
pier lab answer 12 monitor "$monitor"
# The chain from the init up to PID 1 (one more step under a subreaper).
chain="$init"
pid="$init"
while [ "$pid" -gt 1 ]; do
  pid=$(ps -o ppid= -p "$pid" | tr -d ' ')
  chain="$chain $pid"
done
pier lab answer 12 parent "$chain"
# ANCHOR: socket
pier system service --socket "$PWD/pier.sock" 2> service.log &
service=$!
for _ in $(seq 100); do [ -S pier.sock ] && break; sleep 0.1; done
curl -s --unix-socket pier.sock http://pier/v1.41/version | jq '{ApiVersion, Version}'
DOCKER_HOST="unix://$PWD/pier.sock" docker run -d --name lab12-docker busybox sleep 3600
sibling=$(curl -s --unix-socket pier.sock http://pier/v1.41/containers/lab12-docker/json | jq -r .Id)
curl -s --unix-socket pier.sock -H 'Content-Type: application/json' \
  -d "{\"Image\": \"busybox\", \"Cmd\": [\"sleep\", \"3600\"], \"Labels\": {\"lab12.sibling\": \"$sibling\"}}" \
  'http://pier/v1.41/containers/create?name=lab12-curl'
curl -s --unix-socket pier.sock -X POST http://pier/v1.41/containers/lab12-curl/start
pier ps --filter label=io.pier.api
kill "$service"
wait "$service" || true
grep ' -> ' service.log
# ANCHOR_END: socket
# ANCHOR: export
pier run --name lab12-export busybox sh -c 'hostname > /exported-from; cat /proc/sys/kernel/random/uuid >> /exported-from'
pier export -o rootfs.tar lab12-export
mkdir -p bundle/rootfs
tar -xf rootfs.tar -C bundle/rootfs
# ANCHOR_END: export
# ANCHOR: config
cat > bundle/config.json <<'JSON'
{
  "ociVersion": "1.2.0",
  "process": {
    "terminal": false,
    "user": {"uid": 0, "gid": 0},
    "args": ["sleep", "3600"],
    "env": ["PATH=/bin:/usr/bin"],
    "cwd": "/"
  },
  "root": {"path": "rootfs"},
  "hostname": "lab12-oci",
  "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
  "linux": {
    "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}]
  }
}
JSON
# ANCHOR_END: config
# ANCHOR: lifecycle
pier runtime create -b bundle lab12-oci
pier runtime state lab12-oci | tee created.json
pier runtime start lab12-oci
pier runtime state lab12-oci | tee running.json
pier runtime kill lab12-oci KILL
sleep 1
pier runtime state lab12-oci | tee stopped.json
pier runtime delete lab12-oci
pier events --container lab12-oci
# ANCHOR_END: lifecycle
pier lab check 12
# ANCHOR_END: all
