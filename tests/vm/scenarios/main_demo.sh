#!/bin/bash
# The README's main job, in the guest (`make demo`): a newcomer watches
#   etcd (the cluster store) and the cluster's three storage nodes come
#   up, registered in it,
#   tcmu-runner load spanblk's handler and targetcli build the target from
#   targetcli_snippets/ (the files users paste),
#   the LUN appear on the iSCSI initiator as a disk,
#   a file system made and used on it,
#   a short fio run,
#   a node killed under fio (no error: writes go on, recorded in etcd),
#   restarted and resynced (spanblkctl wait-healthy),
#   and the bytes each storage node holds.
# Every line it wants shown goes out as INFO (the host prints those).
. "$SBVM_REPO/tests/vm/lib.sh"

build=$SBVM_REPO/build
vmg_need_build spanblkd spanblkctl handler_spanblk.so

# show TITLE CMD...: runs CMD, shows its output line by line.
show() {
	local title=$1 out rc
	shift
	vmg_info ""
	vmg_info "\$ $title"
	out=$("$@" 2>&1)
	rc=$?
	while IFS= read -r l; do
		vmg_info "  $l"
	done <<<"$out"
	[ $rc -eq 0 ] || vmg_fail "exit status $rc: $*"
}

vmg_step "kernel target modules"
vmg_lio_up

vmg_step "etcd and three storage nodes"
vmg_ramdisk /srv/spanblk 786432
vmg_etcd_up /run/spanblk-etcd 1
vmg_cluster_up /srv/spanblk 3 2
for _ in $(seq 1 100); do
	"$build/spanblkctl" status >/dev/null 2>&1 && break
	sleep 0.1
done
show "cat /etc/spanblk/cluster.conf" cat /etc/spanblk/cluster.conf
show "spanblkctl status" "$build/spanblkctl" status

vmg_step "tcmu-runner with handler_spanblk.so, targetcli"
vmg_dbus_up
vmg_tcmu_up "$build"
vmg_spanblk_target
iqn=$VMG_IQN
show "targetcli ls" targetcli ls

vmg_step "iSCSI login"
vmg_iscsi_login "$iqn" "$VMG_INITIATOR"
dev=$VMG_DEV
show "iscsiadm -m session" iscsiadm -m session
show "lsblk $dev" lsblk -o NAME,SIZE,TYPE,VENDOR,MODEL,TRAN "$dev"

vmg_step "a file system on the LUN"
vmg_run mkfs.ext4 -q -F "$dev"
mkdir -p /mnt/lun
mount "$dev" /mnt/lun || vmg_fail "mount $dev"
cp -a /usr/share/doc/tcmu-runner /usr/share/doc/fio /mnt/lun/ ||
	vmg_fail "copy files to /mnt/lun"
head -c $((64 << 20)) /dev/urandom >/mnt/lun/random.bin
sum=$(sha256sum /mnt/lun/random.bin | cut -d' ' -f1)
sync
echo 3 >/proc/sys/vm/drop_caches
[ "$(sha256sum /mnt/lun/random.bin | cut -d' ' -f1)" = "$sum" ] ||
	vmg_fail "random.bin reads back different"
show "df -h /mnt/lun" df -h /mnt/lun
show "ls /mnt/lun" ls -l /mnt/lun
vmg_info "random.bin (64 MiB) read back from the LUN with the same sha256"
vmg_run umount /mnt/lun

vmg_step "fio"
vmg_fio_verify "$dev" randrw-4k --rw=randrw --bs=4k --iodepth=16 \
	--offset=512M --size=16M
vmg_fio_verify "$dev" write-1m --rw=write --bs=1M --iodepth=4 \
	--offset=600M --size=64M

vmg_step "a node fails under fio"
vmg_fio_verify "$dev" randwrite-4k --rw=randwrite --bs=4k --iodepth=16 \
	--offset=700M --size=64M &
fio_pid=$!
sleep 2
kill -KILL "${VMG_NODE_PIDS[2]}"
vmg_info "node 3 killed with kill -9 while fio writes"
wait "$fio_pid" || vmg_fail "fio under a node failure"
vmg_info "fio: no I/O error, every block verified"
show "spanblkctl status (node 3 down, its missed chunks recorded)" \
	sh -c "'$build/spanblkctl' status; true"
vmg_node_start 3
show "spanblkctl wait-healthy 300 (node 3 back: its chunks copied to it)" \
	"$build/spanblkctl" wait-healthy 300

vmg_step "bytes stored per node"
show "spanblkctl status" "$build/spanblkctl" status
show "spanblkctl counters" "$build/spanblkctl" counters

vmg_step "shutdown"
vmg_iscsi_logout "$iqn"
vmg_tcmu_down
vmg_nodes_stop
sbe_stop
vmg_info ""
vmg_info "demo finished: an iSCSI LUN whose blocks live on three spanblkd"
