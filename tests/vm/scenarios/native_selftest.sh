#!/bin/bash
# Checks tests/vm/native.sh, the way to run scenarios on a machine whose
# own kernel has LIO and TCMU, on the guest's kernel (which has them): runs
# the smoke scenario through native.sh, then checks that its cleanup left
# no target, backstore, tcmu-runner, RAM disk, iSCSI session or interface.
. "$SBVM_REPO/tests/vm/lib.sh"

vmg_step native-smoke
SBVM_NATIVE=yes SBVM_OUT_DIR=$SBVM_OUT/native \
	"$SBVM_REPO/tests/vm/native.sh" smoke 240 ||
	vmg_fail "native.sh smoke exited $?"
grep -q '^STEP tcmu-runner-stop' "$SBVM_OUT/native/scenario.log" ||
	vmg_fail "the smoke scenario did not run to its end"

vmg_step native-cleanup
ls /sys/kernel/config/target/iscsi/iqn.* >/dev/null 2>&1 &&
	vmg_fail "an iSCSI target is left"
ls -d /sys/kernel/config/target/core/*_*/* >/dev/null 2>&1 &&
	vmg_fail "a backstore is left"
pgrep -x tcmu-runner >/dev/null && vmg_fail "tcmu-runner is left running"
[ -d /sys/module/brd ] && vmg_fail "brd is left loaded"
compgen -G "/sys/class/iscsi_session/session*" >/dev/null &&
	vmg_fail "an iSCSI session is left"
iscsiadm -m iface -I sbvm >/dev/null 2>&1 && vmg_fail "iface sbvm is left"

vmg_step native-refuses
modprobe brd rd_nr=1 rd_size=1024 || vmg_fail "modprobe brd"
out=$(SBVM_NATIVE=yes "$SBVM_REPO/tests/vm/native.sh" smoke 2>&1)
rc=$?
[ $rc -eq 2 ] || vmg_fail "native.sh ran with brd loaded (exit $rc)"
printf '%s\n' "$out" | grep -q 'refusing: brd is loaded' ||
	vmg_fail "native.sh did not say why it refused: $out"
rmmod brd
vmg_info "native.sh self-test passed"
