#!/bin/bash
# "iSCSI LUN on spanblk", in one guest boot:
#   three spanblkd on 127.0.0.2-4:7400 (data on ext4 on a RAM disk),
#   tcmu-runner --handler-path build/, the LUN and target from
#   targetcli_snippets/ exactly as users paste them, iscsid, discovery and
#   login over 127.0.0.1, then
#   - fio with crc32c verify: 4 KiB random writes, 1 MiB sequential writes,
#     mixed 4 KiB random read/write; exit status 0 and no error counter;
#   - mkfs.ext4, a tree of files with known sha256 sums, unmount, logout,
#     restart of tcmu-runner and of every spanblkd, login, mount, same sums;
#   - blkdiscard of a written range reads back zeros and the nodes' files
#     shrink (allocated bytes) while their UNMAP counters grow;
#   - SYNCHRONIZE CACHE (sg_sync, and fsync through the kernel's write-cache
#     flush) makes every node's FLUSHES counter grow;
# and then, in the same boot, libiscsi's conformance suite
# on a second spanblk LUN and on a LIO fileio LUN
# (tests/vm/lib-conformance.sh, docs/conformance.md).
# With ISCSI_RDMA=1 (scenarios/iscsi_spanblk_rdma.sh sets it) the same
# checks run with payload by RDMA: rxe0-2 on veth links and the nodes on
# 10.77.{1,2,3}.1 with rdma_device (vmg_rxe_up, vmg_rdma_cluster_up), and
# the nodes' counters must show, before the restart and after it, more
# than 99 % of payload bytes by RDMA while every node's control bytes
# (frame headers, BYTES_CTL) grow on TCP; conformance is left to the TCP
# boot. Skips (exit 77) when build/spanblkd, build/spanblkctl or
# build/handler_spanblk.so is missing, and in RDMA mode without rdma_rxe.
. "$SBVM_REPO/tests/vm/lib.sh"
. "$SBVM_REPO/tests/vm/lib-conformance.sh"

build=$SBVM_REPO/build
vmg_need_build spanblkd spanblkctl handler_spanblk.so
command -v sg_sync >/dev/null ||
	vmg_fail "sg_sync missing (apt-get install sg3-utils)"

mib=$((1024 * 1024))
res=$SBVM_OUT/results
mkdir -p "$res"
rdma=${ISCSI_RDMA:-0}

# payload_snapshot: sums of BYTES_RDMA, BYTES_TCP and, per node, BYTES_CTL
# in PAY_RDMA, PAY_TCP and PAY_CTL[1..3].
payload_snapshot() {
	local i
	vmg_counters
	PAY_RDMA=0
	PAY_TCP=0
	PAY_CTL=()
	for i in $(seq 1 "$VMG_NODES"); do
		PAY_RDMA=$((PAY_RDMA + $(vmg_node_counter_of "$i" BYTES_RDMA)))
		PAY_TCP=$((PAY_TCP + $(vmg_node_counter_of "$i" BYTES_TCP)))
		PAY_CTL[i]=$(vmg_node_counter_of "$i" BYTES_CTL)
	done
}

# payload_check WHAT: RDMA mode only, since the nodes started: more than
# 99 % of the payload by RDMA, and control bytes on TCP at every node.
payload_check() {
	local what=$1 pct i
	[ "$rdma" = 1 ] || return 0
	payload_snapshot
	[ $((PAY_RDMA + PAY_TCP)) -gt $((16 * mib)) ] ||
		vmg_fail "$what: only $((PAY_RDMA + PAY_TCP)) payload bytes"
	pct=$((PAY_RDMA * 10000 / (PAY_RDMA + PAY_TCP)))
	vmg_info "$what: $PAY_RDMA payload bytes by RDMA, $PAY_TCP inline on TCP ($((pct / 100)).$((pct % 100 / 10))% by RDMA); control bytes on TCP per node: ${PAY_CTL[*]}"
	echo "$what rdma=$PAY_RDMA tcp=$PAY_TCP rdma_permyriad=$pct ctl=${PAY_CTL[*]}" \
		>>"$res/payload.txt"
	[ "$pct" -gt 9900 ] ||
		vmg_fail "$what: only $((pct / 100)).$((pct % 100))% of payload bytes by RDMA"
	for i in $(seq 1 "$VMG_NODES"); do
		[ "${PAY_CTL[$i]}" -gt 0 ] ||
			vmg_fail "$what: no control bytes on TCP at node $i"
	done
}

vmg_step modules
[ "$rdma" = 1 ] && vmg_rxe_up 3
vmg_lio_up

vmg_step nodes
# ram0: the nodes' data (768 MiB: the LUN is 1 GiB, 2 replicas over 3
# nodes, and the scenario writes about 120 MiB of it).
vmg_ramdisk /srv/spanblk 786432
if [ "$rdma" = 1 ]; then
	vmg_rdma_cluster_up /srv/spanblk 3 2
	vmg_info "3 storage nodes up on 10.77.{1,2,3}.1:7400 with rxe0-2, replicas 2, rdma = on"
else
	vmg_cluster_up /srv/spanblk 3 2
	vmg_info "3 storage nodes up on 127.0.0.2-4:7400, replicas 2"
fi

vmg_step tcmu-runner
vmg_dbus_up
vmg_tcmu_up "$build"

vmg_step targetcli
vmg_spanblk_target
iqn=$VMG_IQN

vmg_step iscsi-login
vmg_iscsi_login "$iqn" "$VMG_INITIATOR"
dev=$VMG_DEV
bytes=$(blockdev --getsize64 "$dev")
id=$(vmg_scsi_id "$dev")
vmg_info "LUN is $dev: $bytes bytes, $id"
[ "${id%% *}" = LIO-ORG ] || vmg_fail "vendor of '$id' is not LIO-ORG"
[ "$bytes" -eq $((1024 * mib)) ] ||
	vmg_fail "$dev has $bytes bytes, backstore.txt says 1G"

vmg_step fio-randwrite-4k
vmg_fio_verify "$dev" randwrite4k --rw=randwrite --bs=4k --iodepth=16 \
	--size=8M
vmg_step fio-seqwrite-1m
vmg_fio_verify "$dev" seqwrite1m --rw=write --bs=1M --iodepth=4 \
	--offset=64M --size=32M
vmg_step fio-randrw-4k
vmg_fio_verify "$dev" randrw4k --rw=randrw --rwmixread=50 --bs=4k \
	--iodepth=16 --offset=128M --size=8M

vmg_step fs-write
# mkfs discards the whole LUN first (UNMAP), then writes its metadata.
vmg_run mkfs.ext4 -q -F "$dev"
mkdir -p /mnt/lun /run/tree
mount "$dev" /mnt/lun || vmg_fail "mount $dev"
# A tree of 3 levels, 60 files from empty to 1 MiB of random bytes; the
# sums are taken from the copy in RAM, before it goes to the LUN.
n=0
for a in 0 1 2; do
	for b in 0 1 2 3; do
		d=/run/tree/d$a/e$b
		mkdir -p "$d"
		for c in 0 1 2 3 4; do
			size=$(((n * n * 7919 + n * 104729) % mib))
			[ $((n % 9)) -eq 0 ] && size=$((n % 4))
			head -c "$size" /dev/urandom >"$d/f$c"
			n=$((n + 1))
		done
	done
done
(cd /run/tree && find . -type f | sort | xargs sha256sum) >"$res/tree.sha256"
cp -a /run/tree/. /mnt/lun/ || vmg_fail "copy the tree to $dev"
sync
files=$(wc -l <"$res/tree.sha256")
kib=$(du -sk /run/tree | cut -f1)
rm -rf /run/tree
vmg_info "wrote $files files, $kib KiB, to ext4 on $dev"
[ "$files" -eq 60 ] || vmg_fail "expected 60 files in the tree, got $files"
vmg_run umount /mnt/lun

vmg_step restart
payload_check "before the restart"
vmg_iscsi_logout "$iqn"
vmg_tcmu_down
vmg_nodes_stop
vmg_info "tcmu-runner and the 3 storage nodes stopped"
vmg_nodes_start
vmg_tcmu_up "$build"
vmg_info "storage nodes and tcmu-runner started again"

vmg_step fs-verify
vmg_iscsi_login "$iqn" "$VMG_INITIATOR"
dev=$VMG_DEV
vmg_run fsck.ext4 -n -f "$dev"
mount "$dev" /mnt/lun || vmg_fail "mount $dev after the restart"
got=$(cd /mnt/lun && find . -type f | sort | xargs sha256sum)
if ! diff <(printf '%s\n' "$got") "$res/tree.sha256" >"$res/tree.diff"; then
	cat "$res/tree.diff"
	vmg_fail "checksums differ after the restart (results/tree.diff)"
fi
vmg_info "all $files checksums identical after restarting every process"
vmg_run umount /mnt/lun

vmg_step unmap
# 32 MiB at 960 MiB (chunk-aligned: the handler's unmap granularity is the
# 1 MiB chunk), past what ext4 has written on this fresh 1 GiB file system.
off=$((960 * mib))
len=$((32 * mib))
vmg_run dd if=/dev/urandom of="$dev" bs=1M seek=960 count=32 \
	oflag=direct conv=fsync status=none
before=$(vmg_node_bytes)
unmaps0=$(vmg_node_counter UNMAPS)
mode=$(cat /sys/block/"${dev#/dev/}"/device/scsi_disk/*/provisioning_mode)
vmg_info "kernel discard mode for $dev: $mode"
vmg_run blkdiscard -o "$off" -l "$len" "$dev"
after=$(vmg_node_bytes)
unmaps1=$(vmg_node_counter UNMAPS)
vmg_info "nodes hold $((before / mib)) MiB before, $((after / mib)) MiB after the discard; UNMAP ops $unmaps0 -> $unmaps1"
# Two replicas of 32 MiB leave the nodes (allow 1 MiB of slack).
[ $((before - after)) -ge $((2 * len - mib)) ] ||
	vmg_fail "the nodes' files shrank by $(((before - after) / 1024)) KiB, want about $((2 * len / 1024)) KiB"
[ "$unmaps1" -gt "$unmaps0" ] || vmg_fail "no UNMAP reached the nodes"
echo 3 >/proc/sys/vm/drop_caches
cmp -n "$len" <(dd if="$dev" bs=1M skip=960 count=32 iflag=direct \
	status=none) /dev/zero ||
	vmg_fail "the discarded range does not read back as zeros"
vmg_info "discarded range reads back as zeros"

vmg_step sync-cache
f0=$(vmg_node_counter FLUSHES)
vmg_run sg_sync "$dev"
f1=$(vmg_node_counter FLUSHES)
vmg_info "sg_sync: FLUSH ops on the nodes $f0 -> $f1"
[ "$f1" -ge $((f0 + VMG_NODES)) ] ||
	vmg_fail "SYNCHRONIZE CACHE did not reach every node ($f0 -> $f1)"
wce=$(cat /sys/block/"${dev#/dev/}"/device/scsi_disk/*/cache_type)
vmg_info "kernel sees cache type '$wce'"
vmg_run dd if=/dev/urandom of="$dev" bs=4k count=1 seek=1000 \
	oflag=direct conv=fsync status=none
f2=$(vmg_node_counter FLUSHES)
vmg_info "fsync: FLUSH ops on the nodes $f1 -> $f2"
[ "$f2" -ge $((f1 + VMG_NODES)) ] ||
	vmg_fail "fsync on $dev sent no SYNCHRONIZE CACHE to every node ($f1 -> $f2)"

vmg_iscsi_logout "$iqn"
"$build/spanblkctl" counters >"$res/counters.txt" 2>&1 || true
payload_check "after the restart"
if [ "$rdma" = 1 ]; then
	n=$(grep -o 'payload by RDMA' "$SBVM_OUT/logs/tcmu-runner.log" | wc -l)
	[ "$n" -ge 3 ] ||
		vmg_fail "the handler logged payload by RDMA $n times, want one per node"
	vmg_info "iSCSI LUN on spanblk passed with payload by RDMA"
	vmg_step shutdown
	vmg_tcmu_down
	vmg_nodes_stop
	exit 0
fi
vmg_info "iSCSI LUN on spanblk passed"

# The fileio reference lives on the same ext4 RAM disk as the nodes' data.
vmg_conformance /srv/spanblk/lio

vmg_step shutdown
vmg_tcmu_down
vmg_nodes_stop
vmg_info "iSCSI scenario and conformance passed"
