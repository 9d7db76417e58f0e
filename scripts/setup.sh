#!/usr/bin/env bash
# Installs every Debian package spanblk needs to build, test, benchmark and
# demonstrate (Debian 12). Run as root (or with sudo). Safe to re-run.
set -eu
pkgs=(
	# build
	gcc make clang clang-format pkg-config
	libssl-dev liburing-dev libisal-dev libinih-dev
	# RDMA payload (xport/verbs.c, xport/rdma.c) and its tools
	librdmacm-dev libibverbs-dev rdma-core ibverbs-providers
	libnl-3-dev libnl-route-3-dev perftest
	# tcmu-runner 1.5.4 (the handler's host) and its libtcmu.so.2
	tcmu-runner libtcmu2
	# tests and benchmarks
	libcmocka-dev libclang-rt-14-dev fio iperf3 linux-perf procps
	psmisc iproute2
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
