#!/bin/bash
# Stage 2 of the spanblk guest, PID 1 after switch_root into the host's
# userspace (read-only 9p + tmpfs overlay). Reads the job the host wrote to
# /sbvm/job.env (SBVM_SCENARIO, SBVM_REPO, SBVM_TIMEOUT, SBVM_BOOT_START),
# prepares what the host's services would (tmpfs /run and /tmp, loopback,
# devpts), runs the ONE scenario with a deadline a little before the host's,
# then writes /sbvm/status (its exit status), /sbvm/dmesg.log and powers the
# guest off with sysrq o. PID 1 must never exit: every path ends in poweroff.

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb
out=/sbvm

# shellcheck disable=SC2317 # called through the EXIT trap
poweroff_now() {
	sync
	echo o >/proc/sysrq-trigger
	sleep 60
}
trap poweroff_now EXIT

say() { echo "VM: $*"; }

if [ ! -f "$out/job.env" ]; then
	say "FATAL (stage 2): no $out/job.env"
	exit 1
fi
set -a # every setting reaches the scenario
# shellcheck source=/dev/null
. "$out/job.env"
set +a
export SBVM_OUT=$out SBVM_REPO SBVM_SCENARIO SBVM_TIMEOUT
# A repository under /tmp, /run or /dev/shm (a CI clone, say) would be
# hidden by the tmpfs mounts below: bind it to /sbvm-repo first.
case $SBVM_REPO/ in
/tmp/* | /run/* | /dev/shm/*)
	if mkdir -p /sbvm-repo && mount --bind "$SBVM_REPO" /sbvm-repo; then
		case $SBVM_SCENARIO in
		"$SBVM_REPO"/*) SBVM_SCENARIO=/sbvm-repo/${SBVM_SCENARIO#"$SBVM_REPO"/} ;;
		esac
		SBVM_REPO=/sbvm-repo
	else
		say "cannot bind $SBVM_REPO to /sbvm-repo"
	fi
	;;
esac

mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /dev/pts /dev/shm /run/lock
mount -t devpts -o gid=5,mode=620 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
ln -sf /proc/self/fd /dev/fd 2>/dev/null
mountpoint -q /sys/kernel/debug || true
hostname sbvm
ip link set lo up


read -r up _ </proc/uptime
echo "stage2 $up" >"$out/uptimes"
up=${up%.*}
say "stage 2 up at ${up}s, kernel $(uname -r), running $SBVM_SCENARIO"

# Leave 20 s of the host's budget for logs and poweroff; the host counts
# from before qemu starts, the guest from its own boot.
budget=$((SBVM_TIMEOUT - up - ${SBVM_BOOT_MARGIN:-5} - 20))
[ "$budget" -gt 10 ] || budget=10

cd "$SBVM_REPO" || say "cannot cd to $SBVM_REPO"
: >"$out/steps"
# tee through a process substitution: daemons the scenario leaves running
# may hold its stdout, and PID 1 must not wait for them.
timeout -k 5 "$budget" bash "$SBVM_SCENARIO" </dev/null \
	> >(tee "$out/scenario.log") 2>&1
rc=$?
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
	say "TIMEOUT: scenario killed after ${budget}s in step: $(tail -n 1 "$out/steps" | cut -d' ' -f2-)"
	ps -eo pid,stat,etime,wchan:24,args >"$out/ps.log" 2>&1
fi

read -r up _ </proc/uptime
echo "end $up" >>"$out/uptimes"
dmesg >"$out/dmesg.log" 2>&1
echo "$rc" >"$out/status"
say "scenario exit status $rc at ${up%.*}s; powering off"
exit "$rc"
