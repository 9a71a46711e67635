#!/usr/bin/env bash
# Reference solution of lab 5.
# ANCHOR: all
set -euo pipefail
cd "$(pier lab dir 5)"
# ANCHOR: dockerfile
cat > Dockerfile <<'DOCKERFILE'
FROM busybox
COPY hello.sh /app/hello.sh
RUN chmod +x /app/hello.sh
ENV GREETING=Hello
CMD ["/app/hello.sh"]
DOCKERFILE
# ANCHOR_END: dockerfile
# ANCHOR: build
pier build -t lab5-app:v1 .
pier run --name lab5-run lab5-app:v1
# ANCHOR_END: build
# ANCHOR: copy-layer
# The entries of rootfs.diff_ids: busybox's one layer, then COPY's, then RUN's.
copy=$(pier image inspect lab5-app:v1 | awk '/"diff_ids"/ {on=1; next} on && /\]/ {on=0} on {n++; if (n == 2) {gsub(/[",[:space:]]/, ""); print}}')
pier lab answer 5 copy-layer "$copy"
# ANCHOR_END: copy-layer
# ANCHOR: cache
echo 'RUN echo v2 > /app/version' >> Dockerfile
pier build -t lab5-app:v2 .
pier system df
# ANCHOR_END: cache
pier lab check 5
# ANCHOR_END: all
