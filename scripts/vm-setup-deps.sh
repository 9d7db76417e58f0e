#!/usr/bin/env bash
# Installs the Debian 12 packages the guest harness (tests/vm/) needs (the
# host and guest sides of scripts/lib/packages.sh) and fetches the guest
# kernel into .cache/vm/ (Debian's linux-image-*-amd64, downloaded, never
# installed). Run as root; safe to re-run. scripts/setup.sh runs it after
# installing everything else.
#
#   scripts/vm-setup-deps.sh            packages + kernel
#   scripts/vm-setup-deps.sh --no-kernel
set -eu
if [ "$(id -u)" -ne 0 ]; then
	exec sudo "$0" "$@"
fi
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/packages.sh
. scripts/lib/packages.sh
sb_pkgs_install vm-setup "${SB_PKGS_VM_HOST[@]}" "${SB_PKGS_VM_GUEST[@]}"
[ "${1:-}" = --no-kernel ] && exit 0
# shellcheck source=tests/vm/lib.sh
. tests/vm/lib.sh
if ! vmh_kernel "${SBVM_CACHE:-$PWD/.cache/vm}"; then
	apt-get update -qq
	vmh_kernel "${SBVM_CACHE:-$PWD/.cache/vm}"
fi
echo "vm-setup: guest kernel $VMH_KVER in ${SBVM_CACHE:-.cache/vm}"
