#!/usr/bin/env bash
# Installs every Debian package spanblk needs to build, test, benchmark and
# demonstrate (Debian 12), and fetches the guest kernel the QEMU tests boot
# (Debian's linux-image-*-amd64, unpacked into .cache/vm/, never
# installed). Run as root (or with sudo). Safe to re-run.
set -eu
pkgs=(
	# build
	gcc make clang clang-format pkg-config
	libssl-dev liburing-dev libisal-dev libinih-dev
	# RDMA payload (xport/verbs.c, xport/rdma/) and its tools
	librdmacm-dev libibverbs-dev rdma-core ibverbs-providers
	libnl-3-dev libnl-route-3-dev perftest
	# tcmu-runner 1.5.4 (the handler's host) and its libtcmu.so.2
	tcmu-runner libtcmu2
	# tests and benchmarks
	libcmocka-dev libclang-rt-14-dev fio iperf3 linux-perf procps
	psmisc iproute2 python3
	# the guest (tests/vm/, docs/vm.md): emulator and initramfs on the
	# host; the kernel target stack's userspace, which the guest runs
	# from the host over 9p
	qemu-system-x86 qemu-utils busybox-static cpio kmod xz-utils binutils
	targetcli-fb open-iscsi dbus e2fsprogs util-linux sg3-utils
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
	echo "setup: installing ${missing[*]}"
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "setup: all packages present"
# The guest kernel (about 440 MB unpacked, fetched once).
cd "$(dirname "$0")/.."
scripts/vm-setup-deps.sh
