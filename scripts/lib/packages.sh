# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash disable=SC2034
# (SC2034: the arrays are for the scripts that source this file)
# The Debian 12 packages spanblk needs, by what needs them, and their
# installer. scripts/setup.sh installs them all, scripts/vm-setup-deps.sh
# the guest harness's (SB_PKGS_VM_HOST and SB_PKGS_VM_GUEST), and
# tests/vm/lib-host.sh names SB_PKGS_VM_HOST when a host tool is missing.
# Source it; it sets the arrays and defines sb_pkgs_install.

# build
SB_PKGS_BUILD=(gcc make clang clang-format pkg-config
	libssl-dev liburing-dev libisal-dev libinih-dev
	libcurl4-openssl-dev libjson-c-dev)
# RDMA payload (xport/verbs.c, xport/rdma/) and its tools
SB_PKGS_RDMA=(librdmacm-dev libibverbs-dev rdma-core ibverbs-providers
	libnl-3-dev libnl-route-3-dev perftest)
# tcmu-runner 1.5.4 (the handler's host) and its libtcmu.so.2
SB_PKGS_TCMU=(tcmu-runner libtcmu2)
# tests and benchmarks
SB_PKGS_TEST=(libcmocka-dev libclang-rt-14-dev fio iperf3 linux-perf
	procps psmisc iproute2 python3 etcd-server etcd-client)
# the guest (tests/vm/, docs/vm.md), host side: emulator, initramfs,
# module tree, uncompressed kernel
SB_PKGS_VM_HOST=(qemu-system-x86 busybox-static cpio kmod xz-utils
	binutils)
# the guest side: the kernel target stack's userspace, which the
# guest runs from the host over 9p (so installed on the host), and
# iscsi-test-cu (libiscsi-bin) for the conformance runs
SB_PKGS_VM_GUEST=(tcmu-runner libtcmu2 targetcli-fb open-iscsi dbus
	fio qemu-utils e2fsprogs util-linux iproute2 procps sg3-utils
	python3 libiscsi-bin)

# sb_pkgs_install NAME PACKAGE...: installs the PACKAGEs that are not
# installed yet (each once, in the order given), saying so as "NAME: ...".
# Run as root. Returns apt-get's status.
sb_pkgs_install() {
	local name=$1 p missing=() seen=" "
	shift
	for p in "$@"; do
		case $seen in *" $p "*) continue ;; esac
		seen="$seen$p "
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "$name: installing ${missing[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				--no-install-recommends "${missing[@]}" >/dev/null ||
			return
	fi
	echo "$name: all packages present"
}
