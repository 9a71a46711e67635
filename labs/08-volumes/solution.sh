#!/usr/bin/env bash
# Reference solution of lab 8.
# ANCHOR: all
set -euo pipefail
# ANCHOR: scratch
pier run --name lab8-scratch busybox sh -c 'echo draft > /notes.txt'
ls "$(pier inspect lab8-scratch | grep '"upper_dir"' | cut -d'"' -f4)"
# ANCHOR_END: scratch
# ANCHOR: writer
D=$(pier lab dir 8)
pier run --name lab8-writer -v "$D":/data busybox sh -c 'echo written by $(hostname) >> /data/log.txt'
pier rm lab8-writer
cat "$D"/log.txt
pier events --container lab8-writer
# ANCHOR_END: writer
# ANCHOR: reader
pier run --name lab8-reader -v "$D":/data:ro busybox cat /data/log.txt
pier run --name lab8-ro -v "$D":/data:ro busybox sh -c 'echo x > /data/x' || echo "exit code $?"
# ANCHOR_END: reader
pier lab check 8
# ANCHOR_END: all
