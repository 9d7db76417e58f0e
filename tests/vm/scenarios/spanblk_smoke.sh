#!/bin/bash
# Smoke test of spanblk on the real target stack in the guest: three
# spanblkd on 127.0.0.2-4 (data on ext4 on a RAM disk), tcmu-runner loading
# handler_spanblk.so from the build tree, the LUN and iSCSI target created
# with the files users paste (targetcli_snippets/backstore.txt and
# iscsi-target.txt, unchanged, in ONE targetcli start), discovery and login
# over 127.0.0.1 as the snippet's ACL initiator, verified fio runs on the
# /dev/sdX, the bytes each node stores, logout, clean shutdown.
# Skips (exit 77) when build/spanblkd or build/handler_spanblk.so is missing.
. "$SBVM_REPO/tests/vm/lib.sh"

build=$SBVM_REPO/build
vmg_need_build spanblkd handler_spanblk.so

vmg_step modules
vmg_lio_up

vmg_step node-storage
vmg_ramdisk /srv/spanblk 524288

vmg_step nodes
vmg_cluster_up /srv/spanblk 3 2
vmg_info "3 storage nodes up on 127.0.0.2-4:7400, replicas 2"

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
[ "$bytes" -gt 0 ] || vmg_fail "$dev is empty"

vmg_step fio-randwrite-4k
vmg_fio_verify "$dev" randwrite4k --rw=randwrite --bs=4k --iodepth=16 \
	--size=8M
vmg_step fio-seqwrite-1m
vmg_fio_verify "$dev" seqwrite1m --rw=write --bs=1M --iodepth=4 --size=32M

vmg_step node-bytes
total=0
for i in 1 2 3; do
	kib=$(du -sk "/srv/spanblk/node$i" | cut -f1)
	vmg_info "node $i stores $kib KiB"
	total=$((total + kib))
done
# 32 MiB written (the 4 KiB run falls inside it), two copies of each chunk.
[ "$total" -ge $((2 * 32 * 1024)) ] ||
	vmg_fail "nodes store $total KiB, want at least $((2 * 32 * 1024)) (2 replicas x 32 MiB)"

vmg_step iscsi-logout
vmg_iscsi_logout "$iqn"

vmg_step shutdown
vmg_tcmu_down
vmg_nodes_stop
vmg_info "spanblk smoke passed"
