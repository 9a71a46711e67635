#!/usr/bin/env bash
# Reference solution of lab 11 (run by CI after `pier lab start 11`).
# ANCHOR: all
set -euo pipefail
cd "$(pier lab dir 11)"
# ANCHOR: trust
certs="${PIER_CERTS_D:-/etc/pier/certs.d}"
mkdir -p "$certs/localhost:5000"
cp ca.crt "$certs/localhost:5000/ca.crt"
# ANCHOR_END: trust
# ANCHOR: login
pier login -u student --password-stdin localhost:5000 < password
# ANCHOR_END: login
# ANCHOR: push
printf 'FROM lab11-base\nRUN echo v1 > /version\nCMD ["cat", "/version"]\n' > Dockerfile
pier build -t lab11-app:v1 .
pier tag lab11-app:v1 localhost:5000/lab11-app:v1
pier push localhost:5000/lab11-app:v1
# ANCHOR_END: push
# ANCHOR: pull
pier rmi localhost:5000/lab11-app:v1 lab11-app:v1
pier pull localhost:5000/lab11-app:v1 | tee pull.txt
# ANCHOR_END: pull
layer=$(grep 'Already exists' pull.txt | head -n 1 | cut -d: -f1)
pier lab answer 11 layer "$layer"
# ANCHOR: v2
printf 'FROM lab11-base\nRUN echo v2 > /version\nCMD ["cat", "/version"]\n' > Dockerfile
pier build -t localhost:5000/lab11-app:v2 .
pier push localhost:5000/lab11-app:v2
# ANCHOR_END: v2
# ANCHOR: rollback
pier rmi localhost:5000/lab11-app:v1
pier pull localhost:5000/lab11-app:v1
pier run --name lab11-rollback localhost:5000/lab11-app:v1
# ANCHOR_END: rollback
pier lab check 11
# ANCHOR_END: all
