# shellcheck shell=bash
# The one file the guest harness (tests/vm/run.sh, native.sh,
# scripts/vm-setup-deps.sh) and every scenario in tests/vm/scenarios/
# source. It defines functions only and sets no shell options; the
# functions live in the parts it sources, by concern:
#
#   lib-host.sh     vmh_*  host side: kernel, initramfs, boot, progress
#   lib-guest.sh    vmg_*  a scenario's basics: steps, failing, RAM disk,
#                          fio runs and their JSON, CPU of a timed run
#   lib-target.sh   vmg_*  LIO, D-Bus, tcmu-runner, targetcli, the snippets'
#                          target, the iSCSI initiator
#   lib-cluster.sh  vmg_*  the storage nodes: config files, start, stop,
#                          counters
#   lib-rdma.sh     vmg_*  soft-RoCE (rxe on veth) and nodes with RDMA
#   scripts/lib/conf.sh  sbconf_*  the config file writer (shared with
#                          scripts/demo.sh and scripts/bench.sh)
#   scripts/lib/proc.sh  sbp_*     CPU ticks, port probes (shared too)
#
# lib-conformance.sh (iscsi-test-cu) is sourced by the two scenarios that
# use it.
#
# How a run fits together (docs/vm.md has the long version):
#
#   host: run.sh                       guest (Debian's kernel, TCG)
#   -------------                      -----------------------------
#   vmh_kernel   apt-get download -> .cache/vm/<pkg>/root, vmlinux
#   vmh_initrd   busybox + 9p/virtio/overlay modules -> initrd.img
#   vmh_boot     qemu -nic none  -->   /init (busybox): insmod, mount host /
#                                      over 9p read-only + tmpfs overlay,
#                                      modules (9p "kmods"), results (9p
#                                      "sbvmout", writable) on /sbvm,
#                                      switch_root -> tests/vm/guest.sh
#                                      guest.sh runs ONE scenario, writes
#                                      status + logs to /sbvm, sysrq o
#   reads status, steps, logs from the results folder; a guest still alive
#   at the deadline is killed and the last STEP line says where it hung.

# Mount point of the writable results share inside the guest.
VM_GUEST_OUT=/sbvm
# This folder (tests/vm), for the parts and tests/vm/init.
VM_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

vm_log() { # message... -> stderr, prefixed
	echo "vm: $*" >&2
}

vm_die() { # message... -> stderr, exit 2 (usage or setup error)
	echo "vm: error: $*" >&2
	exit 2
}

# shellcheck source=scripts/lib/conf.sh
. "$VM_LIB_DIR/../../scripts/lib/conf.sh"
# shellcheck source=scripts/lib/proc.sh
. "$VM_LIB_DIR/../../scripts/lib/proc.sh"
# shellcheck source=tests/vm/lib-host.sh
. "$VM_LIB_DIR/lib-host.sh"
# shellcheck source=tests/vm/lib-guest.sh
. "$VM_LIB_DIR/lib-guest.sh"
# shellcheck source=tests/vm/lib-target.sh
. "$VM_LIB_DIR/lib-target.sh"
# shellcheck source=tests/vm/lib-cluster.sh
. "$VM_LIB_DIR/lib-cluster.sh"
# shellcheck source=tests/vm/lib-rdma.sh
. "$VM_LIB_DIR/lib-rdma.sh"
