# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash disable=SC2034
# (SC2034: the VMG_* globals are results for the callers)
# The kernel target stack in a guest scenario (sourced through
# tests/vm/lib.sh): LIO and TCMU modules and configfs, a system D-Bus,
# tcmu-runner with the build's handler, targetcli batches (the
# targetcli_snippets/ users paste, and a scenario's own), configfs checks,
# and the iSCSI initiator (iscsid, login to a target on 127.0.0.1:3260,
# logout). One scenario at a time, as root.
#
#   vmg_lio_up; vmg_dbus_up; vmg_tcmu_up "$SBVM_REPO/build"
#   vmg_spanblk_target                  the snippets' LUN and target
#   vmg_iscsi_login "$VMG_IQN" "$VMG_INITIATOR"   -> VMG_DEV=/dev/sdX
#   ... vmg_iscsi_logout "$VMG_IQN"; vmg_tcmu_down

# vmg_lio_up: loads LIO, TCMU and the iSCSI initiator and target; mounts
# configfs. rtslib's PR folder must exist before the target loads.
vmg_lio_up() {
	mkdir -p /etc/rtslib-fb-target/pr /run/lock/iscsi
	vmg_modules configfs target_core_mod target_core_user \
		target_core_file target_core_iblock iscsi_target_mod \
		iscsi_tcp sd_mod crc32c_generic
	mountpoint -q /sys/kernel/config ||
		mount -t configfs none /sys/kernel/config ||
		vmg_fail "mount configfs"
}

# vmg_dbus_up: a system bus for targetcli <-> tcmu-runner.
vmg_dbus_up() {
	local pid
	mkdir -p /run/dbus
	dbus-uuidgen --ensure=/etc/machine-id || vmg_fail "dbus-uuidgen"
	[ -S /run/dbus/system_bus_socket ] && return 0
	pid=$(dbus-daemon --system --fork --print-pid) ||
		vmg_fail "dbus-daemon"
	vmg_made pid "$pid"
}

# vmg_tcmu_up [HANDLER_DIR]: starts tcmu-runner (handlers from HANDLER_DIR,
# default the runner's own folder), logs into SBVM_OUT/logs/, waits until
# it owns its bus name. Sets VMG_TCMU_PID.
vmg_tcmu_up() {
	local hp=${1:-} i args=()
	mkdir -p "$SBVM_OUT/logs"
	[ -n "$hp" ] && args+=(--handler-path "$hp")
	tcmu-runner "${args[@]}" --tcmu-log-dir "$SBVM_OUT/logs" \
		>>"$SBVM_OUT/logs/tcmu-runner.out" 2>&1 &
	VMG_TCMU_PID=$!
	vmg_made pid "$VMG_TCMU_PID"
	for i in $(seq 1 100); do
		kill -0 "$VMG_TCMU_PID" 2>/dev/null ||
			vmg_fail "tcmu-runner exited: $(tail -n 5 "$SBVM_OUT/logs/tcmu-runner.out")"
		dbus-send --system --print-reply --dest=org.freedesktop.DBus \
			/org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner \
			string:org.kernel.TCMUService1 2>/dev/null |
			grep -q 'boolean true' && return 0
		sleep 0.1
	done
	vmg_fail "tcmu-runner did not register on the system bus"
}

vmg_tcmu_down() { # stops the tcmu-runner started by vmg_tcmu_up
	[ -n "${VMG_TCMU_PID:-}" ] || return 0
	kill -TERM "$VMG_TCMU_PID" 2>/dev/null
	wait "$VMG_TCMU_PID" 2>/dev/null
	VMG_TCMU_PID=
}

# vmg_targetcli FILE: runs the targetcli commands in FILE (one per line, as
# typed at its prompt) in ONE targetcli start (~5 s under TCG each). The
# output goes to SBVM_OUT/logs/targetcli.log; any error line fails.
vmg_targetcli() {
	local f=$1 log=$SBVM_OUT/logs/targetcli.log out errs
	mkdir -p "$SBVM_OUT/logs"
	{
		echo "set global auto_save_on_exit=false"
		cat "$f"
		echo "exit"
	} >"$f.batch"
	echo "== targetcli < $f" >>"$log"
	out=$(TERM=dumb targetcli <"$f.batch" 2>&1)
	printf '%s\n' "$out" >>"$log"
	# Batch mode exits 0 even when a command fails; its messages are the
	# only sign. The missing-preferences warning of a first start is not.
	errs=$(printf '%s\n' "$out" | grep -v 'Could not load preferences' |
		grep -iE 'error|no such|not found|not valid|invalid|unknown|could not|cannot|failed|exists')
	if [ -n "$errs" ]; then
		printf '%s\n' "$errs"
		vmg_fail "targetcli reported an error running $f"
	fi
}

# vmg_iscsi_login IQN [INITIATOR]: starts iscsid (once), discovers
# 127.0.0.1:3260 and logs in to IQN, as INITIATOR when given (through an
# open-iscsi interface "sbvm", so /etc/iscsi/initiatorname.iscsi is left
# alone). Sets VMG_DEV to the /dev/sdX of LUN 0 of IQN.
vmg_iscsi_login() {
	local iqn=$1 initiator=${2:-} portal=127.0.0.1 i sess dev iface=()
	VMG_DEV=
	mkdir -p /run/lock/iscsi /etc/iscsi
	if [ ! -s /etc/iscsi/initiatorname.iscsi ]; then
		echo "InitiatorName=iqn.2003-01.org.example.sbvm:initiator" \
			>/etc/iscsi/initiatorname.iscsi
	fi
	if ! pgrep -x iscsid >/dev/null; then
		iscsid || vmg_fail "iscsid"
		for i in $(seq 1 50); do
			[ -s /run/iscsid.pid ] && break
			sleep 0.1
		done
		[ -s /run/iscsid.pid ] && vmg_made pid "$(cat /run/iscsid.pid)"
	fi
	if [ -n "$initiator" ]; then
		if ! iscsiadm -m iface -I sbvm >/dev/null 2>&1; then
			iscsiadm -m iface -I sbvm -o new >/dev/null ||
				vmg_fail "iscsiadm iface sbvm"
			vmg_made iface sbvm
		fi
		iscsiadm -m iface -I sbvm -o update \
			-n iface.initiatorname -v "$initiator" >/dev/null ||
			vmg_fail "iscsiadm iface sbvm initiatorname"
		iface=(-I sbvm)
	fi
	VMG_ISCSI_IFACE=("${iface[@]}")
	iscsiadm -m discovery -t st -p "$portal" "${iface[@]}" ||
		vmg_fail "iSCSI discovery on $portal"
	vmg_made iqn "$iqn"
	iscsiadm -m node -T "$iqn" -p "$portal" "${iface[@]}" --login ||
		vmg_fail "iSCSI login to $iqn"
	for i in $(seq 1 100); do
		for sess in /sys/class/iscsi_session/session*; do
			[ "$(cat "$sess/targetname" 2>/dev/null)" = "$iqn" ] ||
				continue
			# shellcheck disable=SC2012 # kernel names: sdX
			dev=$(ls "$sess"/device/target*/*:*:*:0/block 2>/dev/null |
				head -n1)
			if [ -n "$dev" ] && [ -b "/dev/$dev" ]; then
				VMG_DEV=/dev/$dev
				return 0
			fi
		done
		sleep 0.1
	done
	vmg_fail "no block device appeared for $iqn"
}

vmg_scsi_id() { # /dev/sdX -> "VENDOR / MODEL" from sysfs, trimmed
	local d=/sys/block/${1#/dev/}/device v m
	read -r v <"$d/vendor"
	read -r m <"$d/model"
	echo "$v / $m"
}

vmg_iscsi_logout() { # IQN: logs out of the session vmg_iscsi_login made
	iscsiadm -m node -T "$1" -p 127.0.0.1 "${VMG_ISCSI_IFACE[@]}" \
		--logout || vmg_fail "iSCSI logout from $1"
}

# vmg_spanblk_commands FILE: writes the targetcli commands of
# targetcli_snippets/backstore.txt and iscsi-target.txt to FILE, as users
# paste them (`grep -v '^#' FILE | targetcli`), so a scenario can add its
# own commands and still configure everything in ONE targetcli start. Sets
# VMG_IQN, VMG_INITIATOR (the snippet's ACL) and VMG_SO (the backstore's
# name).
vmg_spanblk_commands() {
	local f=$1
	{
		grep -v '^#' "$SBVM_REPO/targetcli_snippets/backstore.txt"
		grep -v '^#' "$SBVM_REPO/targetcli_snippets/iscsi-target.txt"
	} >"$f" || vmg_fail "cannot read targetcli_snippets/"
	VMG_IQN=$(sed -nE 's|^/iscsi create ([^ ]+)$|\1|p' "$f" | head -n1)
	VMG_INITIATOR=$(sed -nE 's|^.*/acls create ([^ ]+)$|\1|p' "$f" |
		head -n1)
	VMG_SO=$(sed -nE 's|^/backstores/user:spanblk create name=([^ ]+) .*|\1|p' \
		"$f" | head -n1)
	[ -n "$VMG_IQN" ] || vmg_fail "no '/iscsi create IQN' in the snippets"
	[ -n "$VMG_SO" ] || vmg_fail "no user:spanblk backstore in the snippets"
}

# vmg_target_check IQN: fails unless configfs shows IQN's portal group
# enabled, its portal on 127.0.0.1:3260 and a LUN 0.
vmg_target_check() {
	local tpg=/sys/kernel/config/target/iscsi/$1/tpgt_1
	[ "$(cat "$tpg/enable" 2>/dev/null)" = 1 ] ||
		vmg_fail "target portal group of $1 not enabled"
	[ -d "$tpg/np/127.0.0.1:3260" ] || vmg_fail "$1: no portal 127.0.0.1:3260"
	[ -d "$tpg/lun/lun_0" ] || vmg_fail "$1: no LUN 0"
}

# vmg_spanblk_check: after vmg_spanblk_commands' commands ran, checks
# configfs for the snippet's portal, LUN and backstore.
vmg_spanblk_check() {
	vmg_target_check "$VMG_IQN"
	ls -d /sys/kernel/config/target/core/user_*/"$VMG_SO" >/dev/null \
		2>&1 || vmg_fail "no user:spanblk backstore '$VMG_SO' in configfs"
}

# vmg_spanblk_target: applies targetcli_snippets/backstore.txt and
# iscsi-target.txt as users paste them (both files in one targetcli
# start), checks configfs for the portal, LUN and backstore. Sets what
# vmg_spanblk_commands sets.
vmg_spanblk_target() {
	local f=/run/spanblk.tcli
	vmg_spanblk_commands "$f"
	vmg_targetcli "$f"
	vmg_spanblk_check
}

# vmg_handler_dir DIR FILE...: a folder for tcmu-runner --handler-path
# holding links to the handler FILEs (handler_NAME.so), so the build's
# handler and tcmu-runner's own (user:qcow, say) load in one runner.
vmg_handler_dir() {
	local dir=$1 f
	shift
	mkdir -p "$dir"
	for f in "$@"; do
		[ -f "$f" ] || vmg_fail "no handler $f"
		ln -sf "$f" "$dir/$(basename "$f")" || vmg_fail "link $f"
	done
}
