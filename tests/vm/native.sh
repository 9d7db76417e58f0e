#!/usr/bin/env bash
# Runs a guest scenario directly on THIS machine, without QEMU, for hosts
# whose kernel has LIO, TCMU and iSCSI (configfs, target_core_user,
# iscsi_target_mod, iscsi_tcp, brd as modules or built in).
#
#   SBVM_NATIVE=yes tests/vm/native.sh SCENARIO [TIMEOUT]
#
# A scenario changes the machine's state the way an administrator would:
# it loads modules, mounts configfs, starts tcmu-runner, iscsid and (if
# none runs) a system D-Bus, creates a RAM disk, an iSCSI target and LUN,
# writes /etc/spanblk/, and adds an open-iscsi interface "sbvm". So this
# refuses to start unless SBVM_NATIVE=yes says you accept that, and when
# the machine already has any of: a running tcmu-runner, LIO targets or
# backstores, /etc/spanblk/, the brd module, or a storage node port in use.
# Afterwards it removes what it made (best effort; see docs/vm.md).
# Results go to build/vm-native/<name>/ as with run.sh; exit status is the
# scenario's.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=tests/vm/lib.sh
. "$here/lib.sh"

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: SBVM_NATIVE=yes $0 SCENARIO [TIMEOUT_SECONDS]" >&2
	exit 2
fi
scenario=$1
timeout=${2:-300}
if [ -f "$here/scenarios/$scenario.sh" ]; then
	scenario=$here/scenarios/$scenario.sh
elif [ ! -f "$scenario" ]; then
	vm_die "no scenario $scenario"
fi
name=$(basename "$scenario" .sh)

[ "$(id -u)" -eq 0 ] || vm_die "run as root"
[ "${SBVM_NATIVE:-}" = yes ] ||
	vm_die "this changes the machine's state (modules, LIO, /etc/spanblk); read $0 and set SBVM_NATIVE=yes"

refuse=()
for m in configfs target_core_user iscsi_target_mod iscsi_tcp brd sd_mod; do
	[ -d "/sys/module/$m" ] || modprobe -n -q "$m" 2>/dev/null ||
		refuse+=("the kernel has no $m")
done
pgrep -x tcmu-runner >/dev/null && refuse+=("tcmu-runner is running")
[ -d /sys/module/brd ] && refuse+=("brd is loaded (the scenario uses /dev/ram0)")
[ -e /etc/spanblk ] && refuse+=("/etc/spanblk exists")
ls /sys/kernel/config/target/iscsi/iqn.* >/dev/null 2>&1 &&
	refuse+=("LIO already has iSCSI targets")
ls -d /sys/kernel/config/target/core/*_*/* >/dev/null 2>&1 &&
	refuse+=("LIO already has backstores")
for i in 2 3 4; do
	sbp_port_open "127.0.0.$i" 7400 && refuse+=("127.0.0.$i:7400 in use")
done
sbp_port_open 127.0.0.1 3260 && refuse+=("127.0.0.1:3260 in use")
if [ ${#refuse[@]} -gt 0 ]; then
	for r in "${refuse[@]}"; do vm_log "refusing: $r"; done
	exit 2
fi

out=${SBVM_OUT_DIR:-$root/build/vm-native/$name}
mkdir -p "$out" || exit 2
find "$out" -mindepth 1 -delete 2>/dev/null
: >"$out/steps"
: >"$out/made"

# Undoes what the scenario noted with vmg_made (processes it started by
# pid, iSCSI node records and the interface it made), then the target
# configuration, RAM disk and /etc/spanblk it created.
cleanup() {
	local kind val d
	vm_log "cleaning up"
	while read -r kind val; do
		case $kind in
		iqn)
			iscsiadm -m node -T "$val" --logout >/dev/null 2>&1
			iscsiadm -m node -T "$val" -o delete >/dev/null 2>&1 ;;
		esac
	done <"$out/made"
	TERM=dumb targetcli clearconfig confirm=True >/dev/null 2>&1
	while read -r kind val; do
		case $kind in
		iface) iscsiadm -m iface -I "$val" -o delete >/dev/null 2>&1 ;;
		pid) kill -TERM "$val" 2>/dev/null ;;
		rxe) rdma link delete "$val" >/dev/null 2>&1 ;;
		netdev) ip link del "$val" >/dev/null 2>&1 ;;
		esac
	done <"$out/made"
	sleep 1
	for d in /srv/spanblk /mnt/rd; do
		mountpoint -q "$d" && umount "$d"
	done
	rmmod brd 2>/dev/null
	rm -rf /etc/spanblk
}

echo "vm: running $name natively on $(uname -r), limit ${timeout}s"
start=$(date +%s)
SBVM_OUT=$out SBVM_REPO=$root SBVM_SCENARIO=$scenario \
	timeout -k 5 "$timeout" bash "$scenario" </dev/null \
	> >(tee "$out/scenario.log") 2>&1
rc=$?
echo "$rc" >"$out/status"
cleanup
laststep=$(tail -n 1 "$out/steps" | cut -d' ' -f2-)
case $rc in
0) echo "vm: $name PASSED natively in $(($(date +%s) - start))s (results in $out)" ;;
77) echo "vm: $name SKIPPED" ;;
124 | 137) vm_log "$name HUNG in step \"$laststep\"" ;;
*) vm_log "$name FAILED with status $rc in step \"$laststep\"" ;;
esac
exit "$rc"
