#!/usr/bin/env bash
# Builds (or reuses) the cgroup-v2 test guest: a Debian 12 system with systemd and the unified
# cgroup hierarchy only, as most users' machines boot, made from Debian's own packages with
# mmdebstrap from this machine's configured apt sources, with Debian's kernel and initramfs.
#   scripts/v2-guest/build-image.sh CACHE_DIR
# Leaves in CACHE_DIR/<key>/: rootfs.img (ext4), vmlinuz, initrd.img, and prints that directory:
# the one line on stdout (callers capture it); everything the tools say goes to stderr.
# The key hashes this script and the guest's files, so a change rebuilds; a finished build is
# published by rename, so an interrupted one is never reused.
set -euo pipefail
# Keep stdout for the result alone: mkfs.ext4 and mmdebstrap print progress on stdout even when
# told to be quiet (mkfs's "Creating regular file ..." broke the caller's capture once).
exec 3>&1 1>&2
here="$(cd "$(dirname "$0")" && pwd)"
cache="${1:?usage: build-image.sh CACHE_DIR}"

# What the guest has: systemd (cgroup v2 as users have it), Debian's kernel and initramfs,
# and the tools pier's kernel-facing tests call (busybox for the test image, iproute2,
# nftables/iptables, util-linux, procps); for the pods of tests/cri.rs, containerd (its CRI
# plugin and runc shim), runc, the CNI plugins, and gcc + libc6-dev for the pause program the
# fixture compiles (these five take the image from 787 to 1133 MiB; its cold build, 270-330 s on a
# loaded 2-core host, did not change beyond that spread: 282 s before, 329 s and 271 s after).
packages=(systemd systemd-sysv udev dbus linux-image-amd64 initramfs-tools zstd kmod mount
  busybox-static iproute2 nftables iptables util-linux procps
  containerd runc containernetworking-plugins gcc libc6-dev)

key=$(cat "$0" "$here/pier-lane.service" "$here/pier-lane" | sha256sum | cut -c1-16)
out="$cache/$key"
if [ -f "$out/ready" ]; then
  echo "$out" >&3
  exit 0
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/.build-XXXXXX")
trap 'rm -rf "$work"' EXIT

# The configured apt sources (deb822 or one-line), so the guest comes from the same mirror
# this machine installs from.
sources=()
for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list; do
  [ -s "$f" ] && grep -qv '^\s*\(#\|$\)' "$f" && sources+=("$f")
done
[ "${#sources[@]}" -gt 0 ] || { echo "v2-guest: no apt sources configured" >&2; exit 1; }

if ! command -v mmdebstrap >/dev/null || ! command -v mkfs.ext4 >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mmdebstrap e2fsprogs >/dev/null
fi

built_from=$(date +%s)
echo "v2-guest: building the guest image in $cache (Debian bookworm, ${#packages[@]} packages and their dependencies, from the apt mirror; 2-5 minutes, cached after)"
include=$(IFS=,; echo "${packages[*]}")
# The hooks' "$1" is mmdebstrap's (the rootfs being built), not this script's: single quotes.
# shellcheck disable=SC2016
mmdebstrap --quiet --variant=minbase --include="$include" \
  --customize-hook="cp '$here/pier-lane.service' \"\$1/etc/systemd/system/pier-lane.service\"" \
  --customize-hook="install -m 0755 '$here/pier-lane' \"\$1/usr/local/sbin/pier-lane\"" \
  --customize-hook='chroot "$1" systemctl enable pier-lane.service >/dev/null 2>&1' \
  --customize-hook='chroot "$1" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer getty@tty1.service serial-getty@ttyS0.service systemd-timesyncd.service >/dev/null 2>&1 || true' \
  --customize-hook='echo pier-v2-guest > "$1/etc/hostname"' \
  --customize-hook='printf "/dev/vda / ext4 rw,noatime 0 1\n" > "$1/etc/fstab"' \
  --customize-hook='chroot "$1" passwd -d root >/dev/null' \
  --customize-hook='cp "$1"/boot/vmlinuz-* "$1/../vmlinuz"; cp "$1"/boot/initrd.img-* "$1/../initrd.img"' \
  bookworm "$work/rootfs" "${sources[@]}"

# An ext4 image made from the directory (no loop mount needed); runs write to a qcow2 overlay.
size_mb=$(( $(du -sm "$work/rootfs" | cut -f1) + 1536 ))
mkfs.ext4 -q -L pier-v2 -d "$work/rootfs" "$work/rootfs.img" "${size_mb}M"
rm -rf "$work/rootfs"
touch "$work/ready"
echo "v2-guest: built in $(( $(date +%s) - built_from )) s ($(du -sm "$work" | cut -f1) MiB)"
rm -rf "$out"
mv "$work" "$out"
trap - EXIT
echo "$out" >&3
