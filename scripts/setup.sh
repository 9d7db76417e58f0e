#!/usr/bin/env bash
# Installs every Debian package spanblk needs to build, test, benchmark and
# demonstrate (Debian 12; the list is scripts/lib/packages.sh), and fetches
# the guest kernel the QEMU tests boot (Debian's linux-image-*-amd64,
# unpacked into .cache/vm/, never installed). Run as root (or with sudo).
# Safe to re-run.
set -eu
if [ "$(id -u)" -ne 0 ]; then
	exec sudo "$0" "$@"
fi
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/packages.sh
. scripts/lib/packages.sh
sb_pkgs_install setup "${SB_PKGS_BUILD[@]}" "${SB_PKGS_RDMA[@]}" \
	"${SB_PKGS_TCMU[@]}" "${SB_PKGS_TEST[@]}" "${SB_PKGS_VM_HOST[@]}" \
	"${SB_PKGS_VM_GUEST[@]}"
# The guest kernel (about 440 MB unpacked, fetched once).
scripts/vm-setup-deps.sh
