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
# Count diff IDs precisely: the entries of rootfs.diff_ids.
layers=$(pier image inspect lab5-app:v1 | awk '/"diff_ids"/ {on=1; next} on && /\]/ {on=0} on {n++} END {print n}')
pier lab answer 5 layers "$layers"
# ANCHOR: cache
echo 'RUN echo v2 > /app/version' >> Dockerfile
pier build -t lab5-app:v2 .
pier system df
# ANCHOR_END: cache
pier lab check 5
# ANCHOR_END: all
