#!/bin/bash
# issue 3 item 3: libiscsi's iscsi-test-cu over the SBC and SPC families
# that apply to a disk, against a spanblk LUN (three spanblkd, replicas 2,
# tcmu-runner --handler-path build/) and against a kernel LIO fileio
# backstore (a file on ext4 on a RAM disk, thin provisioning on), in the
# same boot. One iscsi-test-cu invocation per family and backend
# (`-d -S --test=SCSI.<Family>`); each output is saved in
# results/conformance/<backend>/<Family>.log, with its exit status and time
# in results/conformance/runs.txt. scripts/conformance-table.sh turns them
# into the table of docs/conformance.md and, with --check, fails when a
# test passes on fileio but not on spanblk and is not explained in
# tests/vm/conformance-expected.txt.
#
# SBVM_CONF_FAMILIES (space-separated) overrides the family list.
. "$SBVM_REPO/tests/vm/lib.sh"

build=$SBVM_REPO/build
for f in spanblkd spanblkctl handler_spanblk.so; do
	if [ ! -e "$build/$f" ]; then
		echo "SKIP build/$f missing (run make)"
		exit 77
	fi
done
command -v iscsi-test-cu >/dev/null ||
	vmg_fail "iscsi-test-cu missing (apt-get install libiscsi-bin)"

# The families of issue 3 that apply to a disk, in iscsi-test-cu's names.
families=${SBVM_CONF_FAMILIES:-"Inquiry ReadCapacity10 ReadCapacity16
	Read6 Read10 Read12 Read16 Write10 Write12 Write16
	WriteSame10 WriteSame16 Unmap CompareAndWrite
	Verify10 Verify12 Verify16 WriteVerify10 WriteVerify12 WriteVerify16
	GetLBAStatus Prefetch10 Prefetch16 StartStopUnit TestUnitReady
	ModeSense6 ReportSupportedOpcodes
	PrinReadKeys PrinServiceactionRange PrinReportCapabilities
	ProutRegister ProutReserve ProutClear ProutPreempt"}
# libiscsi's default initiator names (the PR tests log in as both).
init1=iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test
init2=iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test-2
iqn_sb=iqn.2003-01.org.example.sbvm:conf-spanblk
iqn_fi=iqn.2003-01.org.example.sbvm:conf-fileio
size=64M
# 2048 sectors (1 MiB) per command, as LIO's fileio allows: with TCMU's
# default of 128 the handler refuses READ/WRITE over 64 KiB (SBC-4 6.6.4,
# Block Limits), and libiscsi, which does not read that page when the
# standard INQUIRY claims no SBC version, sends up to 256 blocks. See
# docs/conformance.md.
hw_max_sectors=${SBVM_CONF_HW_MAX_SECTORS:-2048}
per_family_limit=${SBVM_CONF_LIMIT:-240}
res=$SBVM_OUT/results/conformance
mkdir -p "$res/spanblk" "$res/fileio"

vmg_step modules
vmg_lio_up
modprobe brd rd_nr=1 rd_size=524288 || vmg_fail "modprobe brd"

vmg_step storage
mkdir -p /srv
vmg_run mkfs.ext4 -q -F /dev/ram0
mount /dev/ram0 /srv || vmg_fail "mount /dev/ram0"
mkdir -p /srv/spanblk /srv/lio

vmg_step nodes
vmg_cluster_up /srv/spanblk 3 2
vmg_info "3 storage nodes up on 127.0.0.2-4:7400, replicas 2"

vmg_step tcmu-runner
vmg_dbus_up
vmg_tcmu_up "$build"

vmg_step targetcli
{
	echo "set global auto_add_default_portal=false"
	echo "/backstores/user:spanblk create name=conf size=$size cfgstring=conf hw_max_sectors=$hw_max_sectors"
	echo "/backstores/fileio create name=ref file_or_dev=/srv/lio/ref.img size=$size write_back=true sparse=true"
	echo "/backstores/fileio/ref set attribute emulate_tpu=1 emulate_tpws=1"
	for t in "$iqn_sb user:spanblk/conf" "$iqn_fi fileio/ref"; do
		set -- $t
		echo "/iscsi create $1"
		echo "/iscsi/$1/tpg1/portals create 127.0.0.1 3260"
		echo "/iscsi/$1/tpg1/luns create /backstores/$2"
		echo "/iscsi/$1/tpg1/acls create $init1"
		echo "/iscsi/$1/tpg1/acls create $init2"
		echo "/iscsi/$1/tpg1 set attribute authentication=0"
	done
} >/run/conformance.tcli
vmg_targetcli /run/conformance.tcli
for t in "$iqn_sb" "$iqn_fi"; do
	[ -d "/sys/kernel/config/target/iscsi/$t/tpgt_1/lun/lun_0" ] ||
		vmg_fail "no LUN 0 on $t"
done
{
	echo "iscsi-test-cu: $(dpkg-query -W -f='${Version}' libiscsi-bin 2>/dev/null)"
	echo "tcmu-runner: $(dpkg-query -W -f='${Version}' tcmu-runner 2>/dev/null)"
	echo "kernel: $(uname -r)"
	echo "lun size: $size"
	echo "spanblk hw_max_sectors: $hw_max_sectors"
	echo "spanblk: 3 nodes, replicas 2, $(git -C "$SBVM_REPO" describe --always --dirty 2>/dev/null)"
} >"$res/versions.txt"

# run_family BACKEND IQN FAMILY: one iscsi-test-cu run, output in
# res/BACKEND/FAMILY.log; appends "BACKEND FAMILY STATUS SECONDS" to
# res/runs.txt.
run_family() {
	local be=$1 iqn=$2 fam=$3 t0 t1 rc
	t0=$(date +%s.%N)
	timeout -k 5 "$per_family_limit" iscsi-test-cu -d -S \
		--test="SCSI.$fam" "iscsi://127.0.0.1/$iqn/0" \
		>"$res/$be/$fam.log" 2>&1 </dev/null
	rc=$?
	t1=$(date +%s.%N)
	echo "$be $fam $rc $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')" \
		>>"$res/runs.txt"
}

# run_backend BACKEND IQN: every family in turn.
run_backend() {
	local fam
	for fam in $families; do
		run_family "$1" "$2" "$fam"
	done
}

vmg_step iscsi-test-cu
# The two backends are separate targets and LUNs: run them side by side.
: >"$res/runs.txt"
t0=$(date +%s)
run_backend spanblk "$iqn_sb" &
sb_pid=$!
run_backend fileio "$iqn_fi" &
fi_pid=$!
wait "$sb_pid" "$fi_pid"
vmg_info "iscsi-test-cu: $(wc -l <"$res/runs.txt") runs in $(($(date +%s) - t0))s"
hung=$(awk '$3 == 124 || $3 == 137 { print $1 "/" $2 }' "$res/runs.txt")
[ -z "$hung" ] || vmg_info "runs stopped after ${per_family_limit}s: $hung"

vmg_step table
"$build/spanblkctl" counters >"$res/counters.txt" 2>&1
if [ -x "$SBVM_REPO/scripts/conformance-table.sh" ]; then
	"$SBVM_REPO/scripts/conformance-table.sh" --check "$res" \
		>"$res/table.md" 2>"$res/check.txt"
	rc=$?
	cat "$res/table.md" "$res/check.txt"
	[ $rc -eq 0 ] || vmg_fail "spanblk fails tests that pass on fileio (results/conformance/check.txt)"
fi
[ -z "$hung" ] || vmg_fail "iscsi-test-cu hung in: $hung"

vmg_step shutdown
vmg_tcmu_down
vmg_nodes_stop
vmg_info "conformance runs done"
