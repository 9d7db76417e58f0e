#!/bin/bash
# The benchmark in the guest (docs/benchmarks.md, section 2). Not a test: `make bench-vm` (scripts/bench-vm.sh) runs it, it is not
# part of make check. In ONE boot:
#   - three spanblkd (127.0.0.2-4, replicas 2), data on ext4 on a RAM disk;
#     a user:spanblk LUN from targetcli_snippets/ as users paste them;
#   - a kernel LIO fileio LUN on a sparse file on the same ext4;
#   - a tcmu-runner user:qcow LUN on a qcow2 image on the same ext4;
#   all the snippet's size, each on its own iSCSI target on 127.0.0.1:3260,
#   all logged in as the snippet's ACL initiator;
#   - fio (libaio, direct=1) on each disk: 4 KiB random read and write at
#     QD 16, 1 MiB sequential read and write at QD 16, time based, over
#     the first AREA bytes, written in full first so reads read data;
#   - spanblk-bench on the same cluster (a LUN of its own, same area, same
#     sizes and depth) for the gateway's efficiency;
#   - rounds interleaved: each round runs every job on every backend in
#     turn (the backends' order rotates from round to round).
# Results in results/bench/: runs.txt (one line per round, backend and
# job: key=value), versions.txt, devices.txt (queue limits, TCMU and iSCSI
# parameters), fio/*.json, spanblk-bench outputs, counters.txt.
# scripts/bench-vm-table.sh turns them into the table of
# docs/benchmarks.md.
#
# Knobs (the host passes SBVM_BENCH_* to the guest): SBVM_BENCH_ROUNDS (3),
# SBVM_BENCH_SECS (10, measured seconds per run), SBVM_BENCH_RAMP (2,
# seconds fio runs before measuring), SBVM_BENCH_AREA (128M, bytes of each
# LUN exercised), SBVM_BENCH_QD (16, 4 KiB jobs), SBVM_BENCH_QD_1M (16,
# 1 MiB jobs), SBVM_BENCH_JOBS and SBVM_BENCH_BACKENDS (subsets, for trying
# the scenario quickly), SBVM_BENCH_PERF (1: profile after the rounds;
# skipped when less than SBVM_BENCH_PERF_NEED, 330 s, is left).
. "$SBVM_REPO/tests/vm/lib.sh"

build=$SBVM_REPO/build
vmg_need_build spanblkd spanblkctl spanblk-bench handler_spanblk.so
# shellcheck disable=SC2012 # the first of a path glob
qcow_so=$(ls /usr/lib/*/tcmu-runner/handler_qcow.so 2>/dev/null | head -n1)
[ -n "$qcow_so" ] || vmg_fail "tcmu-runner's handler_qcow.so not found"
for t in fio qemu-img python3; do
	command -v "$t" >/dev/null || vmg_fail "$t missing"
done

rounds=${SBVM_BENCH_ROUNDS:-3}
secs=${SBVM_BENCH_SECS:-10}
ramp=${SBVM_BENCH_RAMP:-2}
area=${SBVM_BENCH_AREA:-128M}
qd=${SBVM_BENCH_QD:-16}
qd_1m=${SBVM_BENCH_QD_1M:-16}
jobs=${SBVM_BENCH_JOBS:-"randread4k randwrite4k read1m write1m"}
read -ra backends <<<"${SBVM_BENCH_BACKENDS:-spanblk fileio qcow spanblk-bench}"
for job in $jobs; do
	case $job in randread4k | randwrite4k | read1m | write1m) ;;
	*) vmg_fail "unknown job $job (SBVM_BENCH_JOBS)" ;; esac
done
for be in "${backends[@]}"; do
	case $be in spanblk | fileio | qcow | spanblk-bench) ;;
	*) vmg_fail "unknown backend $be (SBVM_BENCH_BACKENDS)" ;; esac
done
res=$SBVM_OUT/results/bench
mkdir -p "$res/fio" "$res/spanblk-bench"
hz=$(getconf CLK_TCK)
iqn_fi=iqn.2003-01.org.example.sbvm:bench-fileio
iqn_qc=iqn.2003-01.org.example.sbvm:bench-qcow

vmg_step modules
vmg_lio_up

vmg_step storage
# 1 GiB RAM disk, filled only as far as written: 2 replicas x AREA for the
# LUN and as much for spanblk-bench's, AREA for fileio and for qcow.
vmg_ramdisk /srv 1048576
mkdir -p /srv/spanblk /srv/lio /srv/qcow

vmg_step nodes
vmg_cluster_up /srv/spanblk 3 2
vmg_info "3 storage nodes up on 127.0.0.2-4:7400, replicas 2"

vmg_step tcmu-runner
vmg_dbus_up
# One runner with spanblk's handler from the build and tcmu-runner's own
# qcow handler.
vmg_handler_dir /run/tcmu-handlers "$build/handler_spanblk.so" "$qcow_so"
vmg_tcmu_up /run/tcmu-handlers

vmg_step targetcli
tcli=/run/bench.tcli
vmg_spanblk_commands "$tcli"
iqn_sb=$VMG_IQN
init=$VMG_INITIATOR
size=$(sed -nE 's|^/backstores/user:spanblk create .*size=([^ ]+).*|\1|p' \
	"$tcli" | head -n1)
hw=$(sed -nE 's|^/backstores/user:spanblk create .*hw_max_sectors=([0-9]+).*|\1|p' \
	"$tcli" | head -n1)
[ -n "$size" ] || vmg_fail "no size in the user:spanblk snippet"
vmg_run qemu-img create -q -f qcow2 /srv/qcow/q0.qcow2 "$size"
# A sparse file made here: targetcli's "sparse=true" allocates the whole
# file with posix_fallocate, more than the RAM disk holds. targetcli
# takes an existing file's size (and is not given one).
vmg_run truncate -s "$size" /srv/lio/bf0.img
# Same size; user:qcow gets the snippet's hw_max_sectors too, so both
# TCMU backstores take 1 MiB commands (TCMU's default is 64 KiB).
{
	echo "set global auto_add_default_portal=false"
	echo "/backstores/fileio create name=bf0 file_or_dev=/srv/lio/bf0.img write_back=true"
	echo "/backstores/user:qcow create name=bq0 size=$size cfgstring=/srv/qcow/q0.qcow2${hw:+ hw_max_sectors=$hw}"
	for t in "$iqn_fi fileio/bf0" "$iqn_qc user:qcow/bq0"; do
		read -r i so <<<"$t"
		echo "/iscsi create $i"
		echo "/iscsi/$i/tpg1/portals create 127.0.0.1 3260"
		echo "/iscsi/$i/tpg1/luns create /backstores/$so"
		echo "/iscsi/$i/tpg1/acls create $init"
		echo "/iscsi/$i/tpg1 set attribute authentication=0"
	done
} >>"$tcli"
vmg_targetcli "$tcli"
vmg_spanblk_check
vmg_target_check "$iqn_fi"
vmg_target_check "$iqn_qc"

vmg_step iscsi-login
declare -A dev
vmg_iscsi_login "$iqn_sb" "$init"
dev[spanblk]=$VMG_DEV
vmg_iscsi_login "$iqn_fi" "$init"
dev[fileio]=$VMG_DEV
vmg_iscsi_login "$iqn_qc" "$init"
dev[qcow]=$VMG_DEV
want=$(blockdev --getsize64 "${dev[spanblk]}")
for be in spanblk fileio qcow; do
	b=$(blockdev --getsize64 "${dev[$be]}")
	[ "$b" = "$want" ] || vmg_fail "$be: ${dev[$be]} has $b bytes, spanblk $want"
	vmg_info "$be: ${dev[$be]}, $b bytes, $(vmg_scsi_id "${dev[$be]}")"
done

# What the numbers depend on, per disk: the initiator's queue limits,
# TCMU's attributes and the negotiated iSCSI parameters.
{
	for be in spanblk fileio qcow; do
		q=/sys/block/${dev[$be]#/dev/}
		echo "$be dev=${dev[$be]}" \
			"max_sectors_kb=$(cat "$q/queue/max_sectors_kb")" \
			"max_hw_sectors_kb=$(cat "$q/queue/max_hw_sectors_kb")" \
			"nr_requests=$(cat "$q/queue/nr_requests")" \
			"queue_depth=$(cat "$q/device/queue_depth")" \
			"scheduler=$(sed -E 's/.*\[([^]]+)\].*/\1/' "$q/queue/scheduler")"
	done
	for a in /sys/kernel/config/target/core/*/*/attrib; do
		so=$(basename "$(dirname "$a")")
		case $so in "$VMG_SO" | bf0 | bq0) ;; *) continue ;; esac
		line="backstore $(basename "$(dirname "$(dirname "$a")")")/$so"
		for k in hw_max_sectors max_data_area_mb hw_queue_depth \
			queue_depth block_size; do
			[ -r "$a/$k" ] && line="$line $k=$(cat "$a/$k")"
		done
		echo "$line"
	done
	iscsiadm -m session -P 2 2>/dev/null | grep -E \
		'Target:|MaxRecvDataSegmentLength|MaxXmitDataSegmentLength|FirstBurstLength|MaxBurstLength|ImmediateData|InitialR2T'
} >"$res/devices.txt" 2>&1

{
	echo "date: $(date -u '+%F %T') UTC (guest clock)"
	echo "kernel: $(uname -r)"
	echo "guest: $(nproc) vCPU, $(awk '/MemTotal/ { printf "%d MiB", $2 / 1024 }' /proc/meminfo), TCG"
	echo "spanblk: $(git -C "$SBVM_REPO" describe --always --dirty 2>/dev/null), 3 nodes, replicas 2, chunk 1 MiB (default), TCP"
	echo "snippet lun: size=$size hw_max_sectors=${hw:-default}"
	for p in fio tcmu-runner targetcli-fb open-iscsi qemu-utils; do
		echo "$p: $(dpkg-query -W -f='${Version}' "$p" 2>/dev/null)"
	done
	echo "fio --version: $(fio --version)"
	echo "config: rounds=$rounds secs=$secs ramp=$ramp area=$area qd_4k=$qd qd_1m=$qd_1m jobs='$jobs' backends='${backends[*]}'"
	echo "storage: ext4 on /dev/ram0 (brd) for the nodes' data, the fileio file and the qcow2 image"
	echo "fileio: write_back=true, sparse file; qcow: tcmu-runner 1.5.4 handler_qcow.so"
} >"$res/versions.txt"

vmg_step prefill
# Every disk's area written in full once, so reads read written data (a
# qcow2 cluster or a node chunk never written reads as zeros without I/O).
for be in spanblk fileio qcow; do
	json=$res/fio/prefill-$be.json
	fio --name="prefill-$be" --filename="${dev[$be]}" --direct=1 \
		--ioengine=libaio --rw=write --bs=1M --iodepth="$qd_1m" \
		--size="$area" --output-format=json --output="$json" ||
		vmg_fail "fio prefill on $be failed"
	vmg_info "prefill $be: $(vmg_fio_kv "$json")"
done
"$build/spanblkctl" lun create bench "$size" >"$res/spanblk-bench/create.txt" 2>&1 ||
	vmg_fail "spanblkctl lun create bench: $(cat "$res/spanblk-bench/create.txt")"
"$build/spanblk-bench" --lun bench --size "$area" --rw write --bs 1M \
	--qd "$qd_1m" --time 0.1 --prefill >"$res/spanblk-bench/prefill.txt" 2>&1 ||
	vmg_fail "spanblk-bench prefill: $(tail -n 3 "$res/spanblk-bench/prefill.txt")"
vmg_info "prefill spanblk-bench LUN: done"

# job NAME -> "RW BS QD" for fio and spanblk-bench (empty: unknown).
job_spec() {
	case $1 in
	randread4k) echo "randread 4k $qd" ;;
	randwrite4k) echo "randwrite 4k $qd" ;;
	read1m) echo "read 1M $qd_1m" ;;
	write1m) echo "write 1M $qd_1m" ;;
	esac
}

# run_one ROUND BACKEND JOB: one measured run; appends its line to
# runs.txt. CPU figures are percent of one vCPU over the whole run (start
# and ramp included): the guest's busy time (both vCPUs, so up to 200),
# tcmu-runner, the three nodes, and the client (fio's own figure, or
# spanblk-bench's ticks).
run_one() {
	local r=$1 be=$2 job=$3 rw bs q kv out bt ticks
	read -r rw bs q <<<"$(job_spec "$job")"
	vmg_cpu_mark
	if [ "$be" = spanblk-bench ]; then
		out=$res/spanblk-bench/$job-r$r.txt
		# Its own ticks from a subshell that reaped it.
		(
			"$build/spanblk-bench" --lun bench --size "$area" \
				--rw "$rw" --bs "$bs" --qd "$q" --time "$secs"
			rc=$?
			sh_pid=$BASHPID
			echo "bench_ticks=$(sbp_cpu_children_ticks "$sh_pid")"
			exit $rc
		) >"$out" 2>&1 ||
			vmg_fail "spanblk-bench $job round $r: $(tail -n 3 "$out")"
		kv=$(sed -n 's/^result: //p' "$out")
		[ -n "$kv" ] || vmg_fail "no result line in $out"
		bt=$(sed -n 's/^bench_ticks=//p' "$out")
		kv=$(awk -v s=" $kv" -v bt="$bt" -v hz="$hz" 'BEGIN {
			n = split(s, a, " ")
			for (i = 1; i <= n; i++) {
				split(a[i], kvp, "=")
				v[kvp[1]] = kvp[2]
			}
			printf "iops=%s mb_s=%s mib_s=%s lat_p50_us=%s lat_p99_us=%s errors=%d client_cpu_pct=%.1f",
			    v["iops"], v["mb_s"], v["mib_s"], v["lat_p50_us"],
			    v["lat_p99_us"], v["errors"], bt / hz / v["seconds"] * 100
		}')
	else
		out=$res/fio/$be-$job-r$r.json
		fio_job "$be" "$job" "$out" ||
			vmg_fail "fio $be $job round $r failed (see $out)"
		# Read after the rounds, all at once (vmg_fio_kv).
		kv="fio_json=$out"
	fi
	ticks=$(vmg_cpu_since)
	case " $kv " in *" errors=0 "* | *" fio_json="*) ;;
	*) vmg_fail "$be $job round $r: I/O errors: $kv" ;;
	esac
	echo "round=$r backend=$be job=$job rw=$rw bs=$bs qd=$q secs=$secs $kv $ticks" \
		>>"$res/runs.raw"
	vmg_info "round $r $be $job: ${kv%% mib_s=*} $ticks"
}

# fio_job BACKEND JOB JSON [fio options...]: the timed fio run of JOB on
# BACKEND's disk, JSON output to JSON.
fio_job() {
	local be=$1 job=$2 json=$3 rw bs q
	shift 3
	read -r rw bs q <<<"$(job_spec "$job")"
	fio --name="$be-$job" --filename="${dev[$be]}" --direct=1 \
		--ioengine=libaio --rw="$rw" --bs="$bs" --iodepth="$q" \
		--size="$area" --time_based --runtime="$secs" \
		--ramp_time="$ramp" --randrepeat=0 --norandommap \
		--output-format=json --output="$json" "$@"
}

vmg_step rounds
: >"$res/runs.raw"
nb=${#backends[@]}
for r in $(seq 1 "$rounds"); do
	vmg_step "round $r of $rounds"
	for job in $jobs; do
		# The first backend moves by one each round, so none always
		# runs first (or right after the same neighbour's writes).
		for i in $(seq 0 $((nb - 1))); do
			be=${backends[$(((i + r - 1) % nb))]}
			run_one "$r" "$be" "$job"
		done
	done
done

vmg_step results
# runs.txt: runs.raw with every fio_json=PATH replaced by its figures.
vmg_fio_runs "$res/runs.raw" "$res/runs.txt"

# The perf step takes about 300 s on a loaded machine: it is skipped when
# less than that (SBVM_BENCH_PERF_NEED) is left of the guest's limit, so
# the rounds' results still come back.
perf=${SBVM_BENCH_PERF:-1}
if [ "$perf" = 1 ] && [ -n "${SBVM_TIMEOUT:-}" ]; then
	up=$(vmg_uptime)
	left=$((SBVM_TIMEOUT - 30 - ${up%.*}))
	if [ "$left" -lt "${SBVM_BENCH_PERF_NEED:-330}" ]; then
		vmg_info "perf skipped: ${left}s left of the guest's limit"
		perf=0
	fi
fi
if [ "$perf" = 1 ] && command -v perf >/dev/null; then
	# Where the guest's time goes in two spanblk jobs, the 1 MiB read on
	# user:qcow and the engine's own 1 MiB read: whole guest, cpu-clock (no PMU under TCG),
	# reported on the host (scripts/bench-vm.sh) with kallsyms.
	vmg_step perf
	mkdir -p "$res/perf"
	cp /proc/kallsyms "$res/perf/kallsyms"
	cp /proc/modules "$res/perf/modules"
	# perf_during NAME CMD...: perf samples the guest exactly while CMD
	# runs. perf starts with its events off and is switched on through
	# its control FIFO once it is ready (its start-up takes seconds
	# under TCG); -B -N: no build-id pass over every binary at the end.
	perf_during() {
		local name=$1 ppid ctl=/tmp/perf.ctl ack=/tmp/perf.ack a
		shift
		rm -f "$ctl" "$ack"
		mkfifo "$ctl" "$ack" || vmg_fail "mkfifo"
		perf record -q -B -N -a -e cpu-clock -F 499 -D -1 \
			--control "fifo:$ctl,$ack" -o "$res/perf/$name.data" \
			>"$res/perf/$name.log" 2>&1 &
		ppid=$!
		exec 7<>"$ctl" 6<>"$ack"
		echo enable >&7
		read -r -t 120 a <&6 || vmg_info "perf: $name: not enabled"
		"$@" >>"$res/perf/$name.log" 2>&1 ||
			vmg_info "perf: $name: $* failed"
		echo disable >&7
		read -r -t 60 a <&6
		kill -INT "$ppid"
		wait "$ppid" || vmg_info "perf record for $name failed"
		exec 7>&- 6>&-
	}
	for job in randwrite4k read1m; do
		perf_during "spanblk-$job" fio_job spanblk "$job" \
			"$res/perf/spanblk-$job.json"
	done
	# The same 1 MiB read on user:qcow, for comparison.
	perf_during qcow-read1m fio_job qcow read1m "$res/perf/qcow-read1m.json"
	read -r rw bs q <<<"$(job_spec read1m)"
	perf_during spanblk-bench-read1m "$build/spanblk-bench" --lun bench \
		--size "$area" --rw "$rw" --bs "$bs" --qd "$q" \
		--time "$((secs + ramp))"
fi

vmg_step table
"$build/spanblkctl" counters >"$res/counters.txt" 2>&1
"$build/spanblkctl" status >>"$res/counters.txt" 2>&1
if [ -x "$SBVM_REPO/scripts/bench-vm-table.sh" ]; then
	"$SBVM_REPO/scripts/bench-vm-table.sh" "$res" >"$res/table.md" 2>&1 ||
		vmg_fail "bench-vm-table.sh failed: $(tail -n 3 "$res/table.md")"
	while IFS= read -r l; do vmg_info "$l"; done <"$res/table.md"
fi

vmg_step shutdown
for t in "$iqn_sb" "$iqn_fi" "$iqn_qc"; do
	vmg_iscsi_logout "$t"
done
vmg_tcmu_down
vmg_nodes_stop
vmg_info "bench_guest: $(wc -l <"$res/runs.txt") runs recorded in results/bench/runs.txt"
