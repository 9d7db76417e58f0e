#!/bin/bash
# The conformance runs, shared by scenarios/iscsi_spanblk.sh (which runs it in
# the same boot as the iSCSI scenario, so make check covers it) and
# scenarios/conformance.sh (standalone): libiscsi's iscsi-test-cu over the
# SBC and SPC families that apply to a disk, against a spanblk LUN and a
# kernel LIO fileio backstore side by side. One iscsi-test-cu invocation
# per family and backend (`-d -S --test=SCSI.<Family>`); each output is
# saved in results/conformance/<backend>/<Family>.log, with its exit status
# and time in results/conformance/runs.txt. scripts/conformance-table.sh
# turns them into the table of docs/conformance.md and, with --check,
# fails when a test passes on fileio but not on spanblk and is not
# explained in tests/vm/conformance-expected.txt.
#
# Settings: SBVM_CONF_FAMILIES (space-separated) overrides the family
# list; SBVM_CONF_HW_MAX_SECTORS the spanblk LUN's hw_max_sectors;
# SBVM_CONF_LIMIT the seconds one family may take (240).

# The SBC and SPC families that apply to a disk, in iscsi-test-cu's names.
vmg_conf_families=${SBVM_CONF_FAMILIES:-"Inquiry ReadCapacity10 ReadCapacity16
	Read6 Read10 Read12 Read16 Write10 Write12 Write16
	WriteSame10 WriteSame16 Unmap CompareAndWrite
	Verify10 Verify12 Verify16 WriteVerify10 WriteVerify12 WriteVerify16
	GetLBAStatus Prefetch10 Prefetch16 StartStopUnit TestUnitReady
	ModeSense6 ReportSupportedOpcodes
	PrinReadKeys PrinServiceactionRange PrinReportCapabilities
	ProutRegister ProutReserve ProutClear ProutPreempt"}

# vmg_conformance LIO_DIR: needs the spanblk nodes of vmg_cluster_up and
# the tcmu-runner of vmg_tcmu_up running; LIO_DIR (on a real file system:
# ext4 on a RAM disk) holds the fileio backstore's file. Adds two targets
# with 64 MiB LUNs, runs every family on both, checks the table; fails the
# scenario on a difference that is not explained, or on a hung family.
# Removes its targets and backstores afterwards.
vmg_conformance() {
	local lio=$1 build=$SBVM_REPO/build
	# libiscsi's default initiator names (the PR tests log in as both).
	local init1=iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test
	local init2=iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test-2
	local iqn_sb=iqn.2003-01.org.example.sbvm:conf-spanblk
	local iqn_fi=iqn.2003-01.org.example.sbvm:conf-fileio
	local size=64M
	# 2048 sectors (1 MiB) per command, as LIO's fileio allows: with
	# TCMU's default of 128 the handler refuses READ/WRITE over 64 KiB
	# (SBC-4 6.6.4, Block Limits), and libiscsi, which does not read that
	# page when the standard INQUIRY claims no SBC version, sends up to
	# 256 blocks. See docs/conformance.md.
	local hw_max_sectors=${SBVM_CONF_HW_MAX_SECTORS:-2048}
	local res=$SBVM_OUT/results/conformance t sb_pid fi_pid t0 hung rc

	command -v iscsi-test-cu >/dev/null ||
		vmg_fail "iscsi-test-cu missing (apt-get install libiscsi-bin)"
	VMG_CONF_LIMIT=${SBVM_CONF_LIMIT:-240}
	VMG_CONF_RES=$res
	mkdir -p "$res/spanblk" "$res/fileio" "$lio"

	vmg_step conformance-targets
	{
		echo "set global auto_add_default_portal=false"
		echo "/backstores/user:spanblk create name=conf size=$size cfgstring=conf hw_max_sectors=$hw_max_sectors"
		echo "/backstores/fileio create name=ref file_or_dev=$lio/ref.img size=$size write_back=true sparse=true"
		echo "/backstores/fileio/ref set attribute emulate_tpu=1 emulate_tpws=1"
		for t in "$iqn_sb user:spanblk/conf" "$iqn_fi fileio/ref"; do
			# shellcheck disable=SC2086 # "IQN BACKSTORE", split on purpose
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
		echo "spanblk: $VMG_NODES nodes, replicas 2, $(git -C "$SBVM_REPO" describe --always --dirty 2>/dev/null)"
	} >"$res/versions.txt"

	vmg_step iscsi-test-cu
	# The two backends are separate targets and LUNs: side by side.
	: >"$res/runs.txt"
	t0=$(date +%s)
	vmg_conf_backend spanblk "$iqn_sb" &
	sb_pid=$!
	vmg_conf_backend fileio "$iqn_fi" &
	fi_pid=$!
	wait "$sb_pid" "$fi_pid"
	vmg_info "iscsi-test-cu: $(wc -l <"$res/runs.txt") runs in $(($(date +%s) - t0))s"
	hung=$(awk '$3 == 124 || $3 == 137 { print $1 "/" $2 }' "$res/runs.txt")
	[ -z "$hung" ] ||
		vmg_info "runs stopped after ${VMG_CONF_LIMIT}s: $hung"

	vmg_step conformance-table
	"$build/spanblkctl" counters >"$res/counters.txt" 2>&1
	"$SBVM_REPO/scripts/conformance-table.sh" --check "$res" \
		>"$res/table.md" 2>"$res/check.txt"
	rc=$?
	cat "$res/check.txt"
	vmg_info "conformance: $(grep -m1 '^| \*\*all' "$res/table.md")"
	[ $rc -eq 0 ] ||
		vmg_fail "spanblk fails tests that pass on fileio (results/conformance/check.txt)"
	[ -z "$hung" ] || vmg_fail "iscsi-test-cu hung in: $hung"

	{
		echo "/iscsi delete $iqn_sb"
		echo "/iscsi delete $iqn_fi"
		echo "/backstores/user:spanblk delete conf"
		echo "/backstores/fileio delete ref"
	} >/run/conformance-down.tcli
	vmg_targetcli /run/conformance-down.tcli
}

# vmg_conf_family BACKEND IQN FAMILY: one iscsi-test-cu run, output in
# results/conformance/BACKEND/FAMILY.log; appends "BACKEND FAMILY STATUS
# SECONDS" to results/conformance/runs.txt.
vmg_conf_family() {
	local be=$1 iqn=$2 fam=$3 t0 t1 rc
	t0=$(date +%s.%N)
	timeout -k 5 "$VMG_CONF_LIMIT" iscsi-test-cu -d -S \
		--test="SCSI.$fam" "iscsi://127.0.0.1/$iqn/0" \
		>"$VMG_CONF_RES/$be/$fam.log" 2>&1 </dev/null
	rc=$?
	t1=$(date +%s.%N)
	echo "$be $fam $rc $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')" \
		>>"$VMG_CONF_RES/runs.txt"
}

# vmg_conf_backend BACKEND IQN: every family in turn.
vmg_conf_backend() {
	local fam
	for fam in $vmg_conf_families; do
		vmg_conf_family "$1" "$2" "$fam"
	done
}
