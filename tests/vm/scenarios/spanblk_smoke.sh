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
if [ ! -x "$build/spanblkd" ] || [ ! -f "$build/handler_spanblk.so" ]; then
	echo "SKIP build/spanblkd or build/handler_spanblk.so missing (run make)"
	exit 77
fi

vmg_step modules
vmg_lio_up
modprobe brd rd_nr=1 rd_size=524288 || vmg_fail "modprobe brd"

vmg_step node-storage
mkdir -p /srv/spanblk
vmg_run mkfs.ext4 -q -F /dev/ram0
mount /dev/ram0 /srv/spanblk || vmg_fail "mount /dev/ram0"

vmg_step nodes
vmg_cluster_up /srv/spanblk 3 2
vmg_info "3 storage nodes up on 127.0.0.2-4:7400, replicas 2"

vmg_step tcmu-runner
vmg_dbus_up
vmg_tcmu_up "$build"

vmg_step targetcli
{
	vmg_snippet backstore.txt
	vmg_snippet iscsi-target.txt
} >/tmp/spanblk.tcli
iqn=$(sed -nE 's|^/iscsi create ([^ ]+)$|\1|p' /tmp/spanblk.tcli | head -n1)
initiator=$(sed -nE 's|^.*/acls create ([^ ]+)$|\1|p' /tmp/spanblk.tcli |
	head -n1)
[ -n "$iqn" ] || vmg_fail "no '/iscsi create IQN' in the snippets"
vmg_targetcli /tmp/spanblk.tcli
tpg=/sys/kernel/config/target/iscsi/$iqn/tpgt_1
[ "$(cat "$tpg/enable")" = 1 ] || vmg_fail "target portal group not enabled"
[ -d "$tpg/np/127.0.0.1:3260" ] || vmg_fail "no portal 127.0.0.1:3260"
[ -d "$tpg/lun/lun_0" ] || vmg_fail "no LUN 0"
so=$(sed -nE 's|^/backstores/user:spanblk create name=([^ ]+) .*|\1|p' \
	/tmp/spanblk.tcli | head -n1)
ls -d /sys/kernel/config/target/core/user_*/"$so" >/dev/null 2>&1 ||
	vmg_fail "no user:spanblk backstore '$so' in configfs"

vmg_step iscsi-login
vmg_iscsi_login "$iqn" "$initiator"
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
