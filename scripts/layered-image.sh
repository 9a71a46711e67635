#!/usr/bin/env bash
# Makes a realistic multi-layer image: a Debian 12 root filesystem (mmdebstrap, minbase, from
# this machine's configured apt sources, cached) as the base layer, then layers that delete
# files (whiteouts), replace a directory (opaque), and add what unpackers get wrong: hardlinks,
# symlinks (relative, absolute, dangling, long), setuid/setgid/sticky modes, a file
# capability (security.capability), a user xattr, other owners, a FIFO, names over 100 bytes
# (PAX headers) and non-ASCII names.
#   scripts/layered-image.sh OUT_DIR [BULK_MB]
# Writes an OCI image layout in OUT_DIR (tag `layered`, uncompressed layers: skopeo
# compresses them as it pushes), and prints OUT_DIR: the one line on stdout. BULK_MB > 0 adds
# a top layer of that many MiB of random (incompressible) data, for the pull bench.
# The Debian tarball is cached in ${PIER_TEST_CACHE:-/var/tmp/pier-test-cache}/debian12-minbase-<key>/
# (about 60 s to build from the mirror, 170 MB); a finished build is published by rename, so
# an interrupted one is never reused.
set -euo pipefail
exec 3>&1 1>&2
# Directories the layers carry get 0755 like the base's, whatever the caller's umask.
umask 022
out="${1:?usage: layered-image.sh OUT_DIR [BULK_MB]}"
bulk_mb="${2:-0}"
cache="${PIER_TEST_CACHE:-/var/tmp/pier-test-cache}"

for tool in mmdebstrap tar setcap setfattr sha256sum; do
  command -v "$tool" >/dev/null || { echo "layered-image: $tool is missing" >&2; exit 1; }
done

# The base: Debian 12 minbase, the same mirror this machine installs from.
sources=()
for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list; do
  [ -s "$f" ] && grep -qv '^\s*\(#\|$\)' "$f" && sources+=("$f")
done
[ "${#sources[@]}" -gt 0 ] || { echo "layered-image: no apt sources configured" >&2; exit 1; }
key=$(cat "${sources[@]}" | sha256sum | cut -c1-16)
base_dir="$cache/debian12-minbase-$key"
if [ ! -f "$base_dir/rootfs.tar" ]; then
  mkdir -p "$cache"
  work=$(mktemp -d "$cache/.debian12-XXXXXX")
  trap 'rm -rf "$work"' EXIT
  echo "layered-image: building Debian 12 (minbase) with mmdebstrap into $base_dir (about a minute, cached after)"
  mmdebstrap --quiet --variant=minbase bookworm "$work/rootfs.tar" "${sources[@]}"
  rm -rf "$base_dir"
  mv "$work" "$base_dir"
  trap - EXIT
fi

mkdir -p "$out/blobs/sha256"
stage=$(mktemp -d "$out/.stage-XXXXXX")
trap 'rm -rf "$stage"' EXIT
# Paths the upper layers change must exist in the base, or the image would prove nothing.
listing="$stage/base.list"
tar -tf "$base_dir/rootfs.tar" >"$listing"
for p in ./etc/motd ./usr/share/doc/bash/ ./usr/bin/chfn ./etc/apt/apt.conf.d/ ./etc/hostname; do
  grep -qxF "$p" "$listing" || { echo "layered-image: the Debian base has no $p" >&2; exit 1; }
done

layers=()    # "digest size" of each layer blob, bottom first
diff_ids=()
add_blob() { # FILE -> prints its sha256 hex, stored under blobs/
  local hex
  hex=$(sha256sum "$1" | cut -d' ' -f1)
  ln -f "$1" "$out/blobs/sha256/$hex" 2>/dev/null || cp "$1" "$out/blobs/sha256/$hex"
  echo "$hex"
}
add_layer() { # TAR
  local hex
  hex=$(add_blob "$1")
  layers+=("$hex $(stat -c %s "$1")")
  diff_ids+=("$hex")
}
# One layer from a staging directory: PAX format (long names, xattrs as SCHILY.xattr), all
# xattrs (security.capability included), numeric owners, a stable order.
tar_layer() { # DIR TAR
  tar --create --format=pax --xattrs --xattrs-include='*' --numeric-owner --sort=name \
    --file "$2" -C "$1" .
}
layer_dir() { # NAME -> a fresh staging root, mode 0755 like the base's /
  mkdir -m 0755 "$stage/$1"
  echo "$stage/$1"
}

add_layer "$base_dir/rootfs.tar"

# Layer 2: deletions. A file, a directory, and a setuid binary (a whiteout must hide it).
d=$(layer_dir deletions)
mkdir -p "$d/etc" "$d/usr/share/doc" "$d/usr/bin"
: >"$d/etc/.wh.motd"
: >"$d/usr/share/doc/.wh.bash"
: >"$d/usr/bin/.wh.chfn"
tar_layer "$d" "$stage/deletions.tar"
add_layer "$stage/deletions.tar"

# Layer 3: a directory replaced (opaque): the base's apt.conf.d entries must all vanish.
d=$(layer_dir opaque)
mkdir -p "$d/etc/apt/apt.conf.d"
: >"$d/etc/apt/apt.conf.d/.wh..wh..opq"
echo 'APT::Install-Recommends "false";' >"$d/etc/apt/apt.conf.d/99pier"
echo "pier-layered" >"$d/etc/hostname"
tar_layer "$d" "$stage/opaque.tar"
add_layer "$stage/opaque.tar"

# Layer 4: additions.
d=$(layer_dir additions)
p="$d/opt/pier"
mkdir -p "$p/sub"
echo "one inode, three names" >"$p/hard-a"
ln "$p/hard-a" "$p/hard-b"
ln "$p/hard-a" "$p/sub/hard-c"
ln -s hard-a "$p/rel-link"
ln -s /etc/os-release "$p/abs-link"
ln -s /nonexistent/target "$p/dangling-link"
ln -s ../../usr/share "$p/dir-link"
cp /usr/bin/true "$p/setuid-tool"
chmod 4755 "$p/setuid-tool"
cp /usr/bin/true "$p/setgid-tool"
chown 0:50 "$p/setgid-tool"
chmod 2755 "$p/setgid-tool"
cp /usr/bin/true "$p/raw-socket-tool"
setcap cap_net_raw,cap_net_bind_service+ep "$p/raw-socket-tool"
echo "noted" >"$p/tagged"
setfattr -n user.pier.note -v "pulled intact" "$p/tagged"
echo "not root's" >"$p/owned"
chown 1234:5678 "$p/owned"
chmod 0640 "$p/owned"
mkdir -m 1777 "$p/sticky"
mkdir -m 2770 "$p/shared"
chown 0:50 "$p/shared"
mkfifo -m 0620 "$p/fifo"
: >"$p/empty"
echo "한국어 이름" >"$p/데비안 파일.txt"
long_dir=$(printf 'directory-with-a-long-name-%.0s' 1 2 3 4)   # 108 bytes
long_file=$(printf 'file-with-a-long-name-%.0s' 1 2 3 4 5 6)  # 132 bytes
mkdir -m 0755 "$p/$long_dir"
echo "a path far over tar's 100-byte name field" >"$p/$long_dir/$long_file"
ln -s "$long_dir/$long_file" "$p/long-target-link"
ln "$p/$long_dir/$long_file" "$p/long-hardlink"
chmod 0700 "$p/sub"
tar_layer "$d" "$stage/additions.tar"
add_layer "$stage/additions.tar"

if [ "$bulk_mb" -gt 0 ]; then
  d=$(layer_dir bulk)
  mkdir -p "$d/opt/bulk"
  head -c "$((bulk_mb * 1024 * 1024))" /dev/urandom >"$d/opt/bulk/data.bin"
  tar_layer "$d" "$stage/bulk.tar"
  add_layer "$stage/bulk.tar"
fi

# The image configuration, manifest and index (OCI image layout 1.0).
ids=""
descs=""
for i in "${!layers[@]}"; do
  read -r hex size <<<"${layers[$i]}"
  ids+="${ids:+,}\"sha256:${diff_ids[$i]}\""
  descs+="${descs:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:$hex\",\"size\":$size}"
done
printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/bash"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
  "$ids" >"$stage/config.json"
config_hex=$(add_blob "$stage/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
  "$config_hex" "$(stat -c %s "$stage/config.json")" "$descs" >"$stage/manifest.json"
manifest_hex=$(add_blob "$stage/manifest.json")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"layered"}}]}' \
  "$manifest_hex" "$(stat -c %s "$stage/manifest.json")" >"$out/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$out/oci-layout"
echo "$out" >&3
