#!/bin/bash
# Self-test of the guest harness: the guest runs Debian's kernel, sees the
# build tree, can load modules from the 9p module tree and can write a
# result file the host reads back. Takes a few seconds after boot.
. "$SBVM_REPO/tests/vm/lib.sh"

vmg_step kernel
kver=$(uname -r)
vmg_info "kernel $kver, $(nproc) CPUs, $(awk '/MemTotal/ {print $2}' /proc/meminfo) KiB"
case $kver in *-amd64) ;; *) vmg_fail "not Debian's kernel: $kver" ;; esac

vmg_step network-isolated
ip -o link show | grep -v ' lo:' && vmg_fail "the guest has a network device"

vmg_step modules
vmg_modules configfs target_core_user
grep -q '^target_core_user ' /proc/modules || vmg_fail "target_core_user not loaded"

vmg_step results
mkdir -p "$SBVM_OUT/results"
echo "hello from $kver" >"$SBVM_OUT/results/hello.txt"
vmg_info "boot self-test done"
