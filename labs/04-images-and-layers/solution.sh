#!/usr/bin/env bash
# Reference solution of lab 4.
# ANCHOR: all
set -euo pipefail
# ANCHOR: writer
pier run --name lab4-writer busybox sh -c 'echo hi > /hello.txt; echo "lab4user:x:4004:4004::/home:/bin/sh" >> /etc/passwd; rm /bin/vi'
# ANCHOR_END: writer
# ANCHOR: upper
upper=$(pier inspect lab4-writer | grep '"upper_dir"' | cut -d'"' -f4)
ls -la "$upper" "$upper/bin" "$upper/etc"
# ANCHOR_END: upper
pier lab answer 4 upper "$upper"
# ANCHOR: layer
layer=$(pier image inspect busybox | awk '/"LayerDirs"/ {on = 1; next} on {gsub(/[",]/, ""); print $1; exit}')
tail -n 1 "$upper/etc/passwd" "$layer/etc/passwd"
ls -i "$layer/etc/passwd" "$upper/etc/passwd"
# ANCHOR_END: layer
pier lab answer 4 passwd-inode "$(stat -c %i "$layer/etc/passwd")"
# ANCHOR: tag
pier tag busybox lab4-copy
pier images
pier system df
# ANCHOR_END: tag
pier lab check 4
# ANCHOR_END: all
