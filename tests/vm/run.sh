#!/usr/bin/env bash
# Runs ONE scenario inside a QEMU guest with the real kernel target stack
# (Debian's linux-image-*-amd64: LIO, TCMU, iSCSI), the host's userspace
# shared over 9p and no network leaving the guest. See docs/vm.md.
#
#   tests/vm/run.sh SCENARIO [TIMEOUT]
#
# SCENARIO is a name in tests/vm/scenarios/ (smoke, spanblk_smoke) or a
# path to a bash script; TIMEOUT is the host-side limit in seconds (default
# 300) after which a hung guest is killed. Progress lines are printed while
# the guest boots and works. Results (status, steps, console.log,
# scenario.log, dmesg.log, logs/, results/) land in build/vm/<name>/ or in
# SBVM_OUT_DIR.
#
# Exit status: the scenario's own (0 passed, 77 skipped); 124 when the
# guest hung and was killed; 125 when the guest ended without reporting;
# 2 for usage or setup errors.
#
# Environment: SBVM_VERBOSE=1 prints every console line; SBVM_KERNEL_PKG
# picks the kernel package; SBVM_KERNEL_DEB uses a local .deb instead of
# downloading; SBVM_MEM, SBVM_SMP, SBVM_NICE tune the guest; SBVM_CACHE
# (default .cache/vm) holds the kernel. Every other exported SBVM_* variable
# (a scenario's settings, e.g. SBVM_CONF_FAMILIES) is passed to the guest.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=tests/vm/lib.sh
. "$here/lib.sh"

usage() {
	echo "usage: $0 SCENARIO [TIMEOUT_SECONDS]" >&2
	# shellcheck disable=SC2012 # our own file names
	echo "scenarios: $(cd "$here/scenarios" && ls -- *.sh | sed 's/\.sh$//' | tr '\n' ' ')" >&2
	exit 2
}

if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
scenario=$1
timeout=${2:-300}
case $timeout in '' | *[!0-9]*) usage ;; esac
if [ -f "$here/scenarios/$scenario.sh" ]; then
	scenario=$here/scenarios/$scenario.sh
elif [ -f "$scenario" ]; then
	scenario=$(cd "$(dirname "$scenario")" && pwd)/$(basename "$scenario")
else
	echo "vm: no scenario $scenario" >&2
	usage
fi
name=$(basename "$scenario" .sh)
case "$root$scenario" in
*[[:space:]]*) vm_log "paths with spaces are not supported: $root"; exit 2 ;;
esac
if [ "$(id -u)" -ne 0 ]; then
	vm_log "run as root (the 9p shares need it)"
	exit 2
fi
vmh_check_tools || exit 2

cache=${SBVM_CACHE:-$root/.cache/vm}
out=${SBVM_OUT_DIR:-$root/build/vm/$name}
mkdir -p "$cache" "$out" || exit 2
case $out in
/ | "$root" | "$root/") vm_log "refusing results folder $out"; exit 2 ;;
esac
exec 9>"$out.lock"
if ! flock -n 9; then
	vm_log "another run is using $out"
	exit 2
fi
find "$out" -mindepth 1 -delete 2>/dev/null

t0=$(date +%s)
# Runs of different scenarios may start together: one fetches, the
# others wait.
exec 8>"$cache/.lock"
flock 8
vmh_kernel "$cache" || exit 2
VMH_INITRD=$cache/initrd-$VMH_KVER.img
vmh_initrd "$VMH_INITRD" || { vm_log "initramfs build failed"; exit 2; }
exec 8>&-
VMH_STAGE2=$here/guest.sh
t1=$(date +%s)
[ $((t1 - t0)) -gt 2 ] && vm_log "kernel and initramfs ready in $((t1 - t0))s"

cat >"$out/job.env" <<JOB
SBVM_SCENARIO=$scenario
SBVM_REPO=$root
SBVM_TIMEOUT=$timeout
JOB
# Scenario settings (SBVM_CONF_*, SBVM_BENCH_*, ...) travel with the job;
# the host-side ones above and below stay here.
while IFS= read -r var; do
	case $var in
	SBVM_SCENARIO | SBVM_REPO | SBVM_TIMEOUT | SBVM_OUT_DIR | SBVM_CACHE | \
		SBVM_KERNEL_* | SBVM_MEM | SBVM_SMP | SBVM_NICE | SBVM_VERBOSE) ;;
	*) printf '%s=%q\n' "$var" "${!var}" >>"$out/job.env" ;;
	esac
done < <(compgen -e SBVM_)

echo "vm: booting $VMH_KVER (TCG, -nic none) for scenario $name, limit ${timeout}s"
vmh_boot "$out" "$timeout"

laststep=$(tail -n 1 "$out/steps" 2>/dev/null | cut -d' ' -f2-)
lastvm=$(grep -a '^VM:' "$out/console.log" 2>/dev/null | tail -n 1 | tr -d '\r')
if [ -n "$laststep" ]; then
	where="step \"$laststep\""
elif [ -n "$lastvm" ]; then
	where="before the scenario, after \"$lastvm\""
else
	where="kernel boot (no guest output yet)"
fi
if [ "$VMH_TIMED_OUT" = 1 ]; then
	vm_log "HUNG: guest killed after ${timeout}s; last progress: $where"
	echo "--- last console lines ($out/console.log):" >&2
	tail -n 25 "$out/console.log" >&2
	exit 124
fi
if [ ! -s "$out/status" ]; then
	vm_log "guest ended (qemu status $VMH_QEMU_RC) without reporting; last progress: $where"
	echo "--- last console lines ($out/console.log):" >&2
	tail -n 25 "$out/console.log" >&2
	exit 125
fi
rc=$(cat "$out/status")
case $rc in '' | *[!0-9]*) rc=125 ;; esac
if [ "$rc" -eq 0 ]; then
	vmh_timing "$out" >"$out/timing.txt"
	echo "vm: timing: $(cat "$out/timing.txt")"
	echo "vm: $name PASSED in ${VMH_ELAPSED}s (results in $out)"
elif [ "$rc" -eq 77 ]; then
	echo "vm: $name SKIPPED: $(grep -a -m1 '^SKIP' "$out/scenario.log" || true)"
else
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		vm_log "$name HUNG: stopped at the guest's deadline in $where (processes: $out/ps.log)"
	else
		vm_log "$name FAILED with status $rc in $where"
	fi
	echo "--- last scenario lines ($out/scenario.log):" >&2
	tail -n 30 "$out/scenario.log" >&2
	echo "--- logs: $out" >&2
fi
exit "$rc"
