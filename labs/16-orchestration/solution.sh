#!/usr/bin/env bash
# Reference solution of lab 16 (run by CI after `pier lab start 16`).
# ANCHOR: all
set -euo pipefail
cd "$(pier lab dir 16)"
# ANCHOR: config
pier cri containerd-config --dir "$PWD" --sandbox-image localhost/lab16-pause:1 > config.toml
# ANCHOR_END: config
# ANCHOR: containerd
containerd --config config.toml > containerd.log 2>&1 &
export CONTAINER_RUNTIME_ENDPOINT="unix://$PWD/containerd.sock"
until pier cri version > /dev/null 2>&1; do sleep 0.2; done
# ANCHOR_END: containerd
# ANCHOR: images
ctr --address "$PWD/containerd.sock" -n k8s.io images import images.tar
pier cri images
# ANCHOR_END: images
# ANCHOR: files
cat > pod.json <<JSON
{"metadata": {"name": "lab16-web", "namespace": "default", "uid": "lab16-web-1"},
 "log_directory": "$PWD/logs",
 "linux": {"cgroup_parent": "/lab16-pods"}}
JSON
cat > web.json <<'JSON'
{"metadata": {"name": "web"},
 "image": {"image": "localhost/lab16-busybox:1"},
 "command": ["httpd", "-f", "-p", "8080", "-h", "/etc"],
 "linux": {"security_context": {"namespace_options": {"pid": 1}}},
 "log_path": "web.log"}
JSON
# ANCHOR_END: files
# ANCHOR: run
POD=$(pier cri runp --runtime pier pod.json)
CTR=$(pier cri create "$POD" web.json pod.json)
pier cri start "$CTR"
pier cri pods
pier cri ps
# ANCHOR_END: run
# ANCHOR: pause
pier runtime --root "$PWD/pier-state/k8s.io" list
PAUSE=$(pier runtime --root "$PWD/pier-state/k8s.io" state "$POD" | sed -n 's/^  "pid": \([0-9]*\),$/\1/p')
WEB=$(pier runtime --root "$PWD/pier-state/k8s.io" state "$CTR" | sed -n 's/^  "pid": \([0-9]*\),$/\1/p')
pier lab answer 16 pause "$PAUSE"
# ANCHOR_END: pause
# ANCHOR: shared
shared=""
for t in cgroup ipc mnt net pid time user uts; do
  p=$(readlink "/proc/$PAUSE/ns/$t"); w=$(readlink "/proc/$WEB/ns/$t"); s=$(readlink "/proc/self/ns/$t")
  if [ "$p" = "$w" ] && [ "$p" != "$s" ]; then shared="$shared $p"; fi
done
pier lab answer 16 shared "$shared"
# ANCHOR_END: shared
# ANCHOR: kill
kill -9 "$WEB"
sleep 3
pier cri ps -a
# ANCHOR_END: kill
# ANCHOR: again
sed 's/"name": "web"}/"name": "web", "attempt": 1}/' web.json > web-1.json
CTR1=$(pier cri create "$POD" web-1.json pod.json)
pier cri start "$CTR1"
# ANCHOR_END: again
pier lab check 16
# ANCHOR_END: all
