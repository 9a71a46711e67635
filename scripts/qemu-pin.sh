# shellcheck shell=bash
# The output is read by the caller:
# shellcheck disable=SC2034
# Sourced by scripts/setup.sh and scripts/v2-lane.sh before they install QEMU.
# A machine can come with a newer qemu-utils than Debian 12's QEMU (this project's machines have
# qemu-utils 10.0 from bookworm-backports, with no backports source configured). That qemu-utils
# "Breaks: qemu-system-common (<< 8.0)", so apt refuses Debian 12's qemu-system-x86 7.2 beside it
# ("held broken packages") and the whole install fails. The two must come from one QEMU release:
# when qemu-system-x86 is to be installed and the installed qemu-utils is not the version apt would
# install with it, qemu-utils is reinstalled at that version (a downgrade, said on stderr).
#   qemu_pin PACKAGE...   sets the array qemu_apt_args (empty, or a pin and --allow-downgrades)
qemu_pin() {
  qemu_apt_args=()
  local p wanted installed
  for p in "$@"; do
    [ "$p" = qemu-system-x86 ] || continue
    wanted=$(apt-cache policy qemu-system-x86 | sed -n 's/^ *Candidate: //p')
    installed=$(dpkg-query -W -f='${Status} ${Version}' qemu-utils 2>/dev/null |
      sed -n 's/^install ok installed //p')
    if [ -n "$wanted" ] && [ "$wanted" != "(none)" ] && [ -n "$installed" ] && [ "$installed" != "$wanted" ]; then
      echo "setup: qemu-utils $installed is not from the release of qemu-system-x86 $wanted; installing qemu-utils $wanted beside it" >&2
      qemu_apt_args=(--allow-downgrades "qemu-utils=$wanted")
    fi
  done
}
