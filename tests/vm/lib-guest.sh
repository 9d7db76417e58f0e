# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash disable=SC2034
# (SC2034: the VMG_* globals are results for the callers)
# A guest scenario's basics (sourced through tests/vm/lib.sh): progress
# steps the host prints, failing with the step's name, what the scenario
# made (for tests/vm/native.sh's cleanup), the build it needs, a RAM disk
# for data, verified fio runs and their JSON, the CPU a timed run used.
# Scenarios run as root inside the guest, one at a time; SBVM_OUT is the
# writable results folder, SBVM_REPO the build tree.

SBVM_OUT=${SBVM_OUT:-$VM_GUEST_OUT}

vmg_uptime() { # -> seconds since guest boot, one decimal
	local u
	read -r u _ </proc/uptime
	echo "${u%?}"
}

# vmg_step NAME: records progress. The host prints it while the guest runs
# and names the last one when the guest hangs or fails.
vmg_step() {
	VMG_STEP=$*
	echo "STEP $* (t=$(vmg_uptime)s)"
	echo "$(vmg_uptime) $*" >>"$SBVM_OUT/steps"
}

vmg_info() { # message: a line the host shows as progress
	echo "INFO $*"
}

vmg_fail() { # message: the scenario fails here
	echo "FAIL ${VMG_STEP:+[$VMG_STEP] }$*"
	exit 1
}

vmg_run() { # cmd...: runs cmd, fails the scenario (with its output) if it fails
	local out rc
	out=$("$@" 2>&1)
	rc=$?
	[ -n "$out" ] && printf '%s\n' "$out"
	[ $rc -eq 0 ] || vmg_fail "exit status $rc: $*"
}

# vmg_made KIND VALUE: notes something the scenario started or created
# (pid, iqn, iface) in SBVM_OUT/made, so tests/vm/native.sh can undo it
# on a real machine. In the guest, poweroff undoes everything anyway.
vmg_made() {
	echo "$1 $2" >>"$SBVM_OUT/made"
}

vmg_modules() { # module...: loads them all in one modprobe (one index read)
	modprobe -a "$@" || vmg_fail "modprobe -a $*"
}

# vmg_need_build [-s] FILE...: skips the scenario (exit 77, with a SKIP
# line) unless every FILE is in SBVM_REPO/build (build-san with -s, the
# sanitizer build of `make san`); a FILE not ending in .so must be
# executable.
vmg_need_build() {
	local dir=build make=make f p
	if [ "${1:-}" = -s ]; then
		dir=build-san
		make="make san"
		shift
	fi
	for f in "$@"; do
		p=$SBVM_REPO/$dir/$f
		case $f in
		*.so) [ -f "$p" ] ;;
		*) [ -x "$p" ] ;;
		esac || {
			echo "SKIP $dir/$f missing (run $make)"
			exit 77
		}
	done
}

# vmg_ramdisk DIR KIB: ext4 on a RAM disk of KIB KiB (brd's /dev/ram0)
# mounted on DIR, for the nodes' data and file-backed LUNs. brd takes
# memory only for what is written. Not tmpfs: it takes no O_DIRECT, and
# on this kernel rejects the FALLOC_FL_ZERO_RANGE the qcow handler needs.
vmg_ramdisk() {
	modprobe brd rd_nr=1 rd_size="$2" || vmg_fail "modprobe brd"
	mkdir -p "$1"
	vmg_run mkfs.ext4 -q -F /dev/ram0
	mount /dev/ram0 "$1" || vmg_fail "mount /dev/ram0"
}

# vmg_fio_verify DEV NAME [fio options...]: a verified fio job on DEV with
# its JSON output in SBVM_OUT/results/fio-NAME.json; fails on a non-zero
# exit status or error counter, or a job that did not write and read back.
vmg_fio_verify() {
	local dev=$1 name=$2 json rc
	shift 2
	mkdir -p "$SBVM_OUT/results"
	json=$SBVM_OUT/results/fio-$name.json
	fio --name="$name" --filename="$dev" --direct=1 --ioengine=libaio \
		--verify=crc32c --verify_fatal=1 --do_verify=1 \
		--output-format=json --output="$json" "$@"
	rc=$?
	[ $rc -eq 0 ] || vmg_fail "fio $name exited $rc (see $json)"
	vmg_fio_check "$json"
	vmg_info "fio $name: $(vmg_fio_summary "$json")"
}

vmg_fio_summary() { # json: one line of bandwidth and IOPS
	awk '
	/"read" *: *\{/  { sect = "read" }
	/"write" *: *\{/ { sect = "write" }
	/"bw" *:/ && sect != "" && !(sect in bw) {
		v = $0; gsub(/[^0-9]/, "", v); bw[sect] = v }
	/"iops" *:/ && sect != "" && !(sect in iops) {
		v = $0; sub(/.*: */, "", v); sub(/,.*/, "", v); iops[sect] = v }
	END {
		printf "read %d KiB/s %.0f IOPS, write %d KiB/s %.0f IOPS",
		    bw["read"], iops["read"], bw["write"], iops["write"]
	}' "$1"
}

# vmg_fio_check JSON: asserts on fio's JSON: every job reports error 0,
# moved bytes both ways (a verified job reads back what it wrote) and no
# verify error; prints nothing when all is well, fails the scenario
# otherwise.
vmg_fio_check() {
	local why
	why=$(python3 - "$1" <<'PY'
import json, sys
try:
    with open(sys.argv[1]) as f:
        text = f.read()
    # fio may print warnings before the JSON document
    d = json.loads(text[text.index("{"):])
except Exception as e:
    print("unreadable fio JSON: %s" % e)
    sys.exit(0)
jobs = d.get("jobs", [])
if not jobs:
    print("no jobs in fio JSON")
for j in jobs:
    n = j.get("jobname", "?")
    if j.get("error", 1) != 0:
        print("job %s: error %s" % (n, j.get("error")))
    if j.get("total_err", 0) != 0:
        print("job %s: total_err %s" % (n, j.get("total_err")))
    w = j.get("write", {}).get("io_bytes", 0)
    r = j.get("read", {}).get("io_bytes", 0)
    if w <= 0:
        print("job %s: wrote nothing" % n)
    if r <= 0:
        print("job %s: read nothing (no verify pass)" % n)
PY
)
	[ -z "$why" ] || vmg_fail "fio $(basename "$1"): $why"
}

# vmg_fio_kv JSON...: for each of fio's JSON outputs, one line of
# key=value of its first job (iops, mb_s, mib_s, lat_p50_us, lat_p99_us,
# errors, client_cpu_pct) for the direction the job moved data in;
# "errors" adds fio's error and total_err. One python start for all (it
# takes seconds under TCG). Fails on unreadable JSON.
vmg_fio_kv() {
	python3 - "$@" <<'PY' || vmg_fail "unreadable fio JSON in: $*"
import json, sys
for path in sys.argv[1:]:
    text = open(path).read()
    j = json.loads(text[text.index("{"):])["jobs"][0]
    k = "write" if j["write"]["io_bytes"] > j["read"]["io_bytes"] else "read"
    d = j[k]
    pct = d.get("clat_ns", {}).get("percentile", {})
    p50 = pct.get("50.000000", 0) / 1000.0
    p99 = pct.get("99.000000", 0) / 1000.0
    print("iops=%.0f mb_s=%.2f mib_s=%.2f lat_p50_us=%.0f lat_p99_us=%.0f "
          "errors=%d client_cpu_pct=%.1f" % (
              d["iops"], d["bw_bytes"] / 1e6, d["bw_bytes"] / 2**20, p50,
              p99, j.get("error", 0) + j.get("total_err", 0),
              j.get("usr_cpu", 0) + j.get("sys_cpu", 0)))
PY
}

# vmg_fio_runs RAW OUT: OUT is RAW (one line of key=value per timed run)
# with every "fio_json=PATH" replaced by vmg_fio_kv's figures of PATH (one
# python start for every run); fails when a JSON is unreadable or a run
# reports I/O errors.
vmg_fio_runs() {
	local raw=$1 out=$2 paths kvs=() i=0 line bad
	mapfile -t paths < <(sed -nE 's/.* fio_json=([^ ]+) .*/\1/p' "$raw")
	[ ${#paths[@]} -eq 0 ] || mapfile -t kvs < <(vmg_fio_kv "${paths[@]}")
	[ ${#kvs[@]} -eq ${#paths[@]} ] ||
		vmg_fail "fio JSON: ${#kvs[@]} of ${#paths[@]} read"
	while IFS= read -r line; do
		case $line in
		*" fio_json="*)
			line="${line%% fio_json=*} ${kvs[$i]} ${line#* fio_json=* }"
			i=$((i + 1))
			;;
		esac
		echo "$line"
	done <"$raw" >"$out"
	bad=$(grep -v ' errors=0 ' "$out")
	[ -z "$bad" ] || vmg_fail "runs with I/O errors: $bad"
}

# vmg_cpu_mark: notes the clock, the guest's busy ticks and the ticks of
# tcmu-runner (VMG_TCMU_PID) and of the nodes (VMG_NODE_PIDS) before a
# timed run, for vmg_cpu_since.
vmg_cpu_mark() {
	VMG_HZ=${VMG_HZ:-$(getconf CLK_TCK)}
	read -r VMG_MARK_GUEST _ <<<"$(sbp_cpu_stat)"
	VMG_MARK_TCMU=$(sbp_cpu_ticks "$VMG_TCMU_PID")
	VMG_MARK_NODES=$(sbp_cpu_ticks "${VMG_NODE_PIDS[@]}")
	VMG_MARK_WALL=$(date +%s.%N)
}

# vmg_cpu_since: "wall_s=S guest_busy_pct=P tcmu_cpu_pct=P nodes_cpu_pct=P"
# since vmg_cpu_mark: seconds, and CPU in percent of one vCPU over them
# (the guest's busy time counts both vCPUs, so up to 200).
vmg_cpu_since() {
	local w1 c1 t1 n1
	w1=$(date +%s.%N)
	read -r c1 _ <<<"$(sbp_cpu_stat)"
	t1=$(sbp_cpu_ticks "$VMG_TCMU_PID")
	n1=$(sbp_cpu_ticks "${VMG_NODE_PIDS[@]}")
	awk -v w0="$VMG_MARK_WALL" -v w1="$w1" -v hz="$VMG_HZ" \
		-v c="$((c1 - VMG_MARK_GUEST))" -v t="$((t1 - VMG_MARK_TCMU))" \
		-v n="$((n1 - VMG_MARK_NODES))" 'BEGIN {
		s = (w1 - w0) * hz
		printf "wall_s=%.1f guest_busy_pct=%.0f tcmu_cpu_pct=%.0f nodes_cpu_pct=%.0f",
		    w1 - w0, c / s * 100, t / s * 100, n / s * 100 }'
}
