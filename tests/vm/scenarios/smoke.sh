#!/bin/bash
# Smoke test of the real target stack in the guest, with tcmu-runner's own
# user:qcow handler (no spanblk code): LIO + target_core_user + tcmu-runner
# over the system bus, an iSCSI target on 127.0.0.1:3260 configured in ONE
# targetcli start, open-iscsi discovery and login, a verified fio run on
# the resulting /dev/sdX, logout. Proves the pipeline spanblk_smoke.sh
# builds on. The qcow image lives on ext4 on a RAM disk: tmpfs on this
# kernel rejects FALLOC_FL_ZERO_RANGE, which the qcow handler needs.
. "$SBVM_REPO/tests/vm/lib.sh"

iqn=iqn.2003-01.org.example.sbvm:smoke
size_mib=128

vmg_step modules
vmg_lio_up

vmg_step ramdisk
vmg_ramdisk /mnt/rd 262144
vmg_run qemu-img create -q -f qcow2 /mnt/rd/q0.qcow2 "${size_mib}M"

vmg_step tcmu-runner
vmg_dbus_up
# shellcheck disable=SC2119 # tcmu-runner's own handler folder
vmg_tcmu_up

vmg_step targetcli
cat >/tmp/smoke.tcli <<EOF
set global auto_add_default_portal=false
/backstores/user:qcow create name=q0 size=${size_mib}M cfgstring=/mnt/rd/q0.qcow2
/iscsi create $iqn
/iscsi/$iqn/tpg1/luns create /backstores/user:qcow/q0
/iscsi/$iqn/tpg1/portals create 127.0.0.1 3260
/iscsi/$iqn/tpg1 set attribute authentication=0 demo_mode_write_protect=0 generate_node_acls=1 cache_dynamic_acls=1
EOF
vmg_targetcli /tmp/smoke.tcli
tpg=/sys/kernel/config/target/iscsi/$iqn/tpgt_1
[ "$(cat "$tpg/enable")" = 1 ] || vmg_fail "target portal group not enabled"
[ -d "$tpg/np/127.0.0.1:3260" ] || vmg_fail "no portal 127.0.0.1:3260"
[ -d "$tpg/lun/lun_0" ] || vmg_fail "no LUN 0"
ls -d /sys/kernel/config/target/core/user_*/q0 >/dev/null 2>&1 ||
	vmg_fail "no user:qcow backstore q0 in configfs"

vmg_step iscsi-login
vmg_iscsi_login "$iqn"
dev=$VMG_DEV
bytes=$(blockdev --getsize64 "$dev")
[ "$bytes" -eq $((size_mib << 20)) ] ||
	vmg_fail "$dev has $bytes bytes, want $((size_mib << 20))"
id=$(vmg_scsi_id "$dev")
vmg_info "LUN is $dev: $bytes bytes, $id"
[ "$id" = "LIO-ORG / TCMU device" ] ||
	vmg_fail "'$id' is not tcmu-runner's emulated INQUIRY"

vmg_step fio-randwrite-4k
vmg_fio_verify "$dev" randwrite4k --rw=randwrite --bs=4k --iodepth=16 \
	--size=8M

vmg_step fio-seqwrite-1m
vmg_fio_verify "$dev" seqwrite1m --rw=write --bs=1M --iodepth=4 --size=32M

vmg_step iscsi-logout
vmg_iscsi_logout "$iqn"
for i in $(seq 1 50); do
	[ -b "$dev" ] || break
	sleep 0.1
done
[ -b "$dev" ] && vmg_fail "$dev still present after logout"

vmg_step tcmu-runner-stop
vmg_tcmu_down
vmg_info "smoke passed"
