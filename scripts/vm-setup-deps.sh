#!/usr/bin/env bash
# Installs the Debian 12 packages the guest harness (tests/vm/) needs and
# fetches the guest kernel into .cache/vm/ (Debian's linux-image-*-amd64,
# downloaded, never installed). Run as root; safe to re-run. Meant to be
# folded into scripts/setup.sh once the guest tests are part of make check.
#
#   scripts/vm-setup-deps.sh            packages + kernel
#   scripts/vm-setup-deps.sh --no-kernel
set -eu
cd "$(dirname "$0")/.."
pkgs=(
	# host side: emulator, initramfs, module tree, uncompressed kernel
	qemu-system-x86 busybox-static cpio kmod xz-utils binutils
	# guest side (the guest runs the host's userspace over 9p)
	tcmu-runner libtcmu2 targetcli-fb open-iscsi dbus fio qemu-utils
	e2fsprogs util-linux iproute2 procps sg3-utils python3
	# conformance (issue 3): iscsi-test-cu
	libiscsi-bin
)
if [ "$(id -u)" -ne 0 ]; then
	exec sudo "$0" "$@"
fi
export DEBIAN_FRONTEND=noninteractive
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "vm-setup: installing ${missing[*]}"
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "vm-setup: all packages present"
[ "${1:-}" = --no-kernel ] && exit 0
# shellcheck source=tests/vm/lib.sh
. tests/vm/lib.sh
if ! vmh_kernel "${SBVM_CACHE:-$PWD/.cache/vm}"; then
	apt-get update -qq
	vmh_kernel "${SBVM_CACHE:-$PWD/.cache/vm}"
fi
echo "vm-setup: guest kernel $VMH_KVER in ${SBVM_CACHE:-.cache/vm}"
