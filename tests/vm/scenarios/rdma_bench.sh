#!/bin/bash
# Measurements of RDMA payload for docs/benchmarks.md (section 3), in ONE
# guest boot so that every figure can be taken as a ratio to a limit
# measured beside it (absolute speeds under TCG mean little):
#   - limits: perftest ib_write_bw / ib_read_bw over rdma_cm on rxe0 to its
#     own address, 4 KiB and 1 MiB messages; iperf3 (one TCP stream) to
#     the same address, 4 KiB and 1 MiB writes (-l), CPU per GiB too;
#   - spanblk-bench with RDMA payload and with TCP payload ([cluster] rdma
#     on / off, same nodes, same LUN): 1 MiB sequential write and read,
#     4 KiB random read and write; CPU seconds of the three nodes and the
#     benchmark together, per GiB moved; the gateway's copy between its
#     callers' buffers and the RDMA pool (spanblk-bench's "copy:" line);
#   - fio over iSCSI (SBVM_RDMA_BENCH_ISCSI=1): a user:spanblk LUN whose
#     cluster file says rdma = on, one whose file says rdma = off (same
#     nodes), and a LIO fileio LUN on the nodes' RAM disk; the jobs of
#     bench_guest.sh (4 KiB random read and write, 1 MiB read and write,
#     QD 16), rounds interleaved with the first backend rotating, medians
#     by scripts/rdma-bench-table.sh;
#   - the node's rdma_segment: 64K to 1M, 1 MiB writes and reads.
# Writes results/bench.txt ("KEY VALUE" lines), results/iscsi-runs.txt
# (one line per fio run) and the raw outputs; fails only when a run fails
# or a payload is not on the transport it should be. Skips (77) without
# rdma_rxe or perftest; skips only the iperf3 rows without iperf3.
#
# Knobs (SBVM_* reach the guest): SBVM_RDMA_BENCH_SECS (4, spanblk-bench
# and iperf3 seconds), SBVM_RDMA_BENCH_SEGMENTS ("64K 128K 256K 512K 1M",
# empty: none), SBVM_RDMA_BENCH_ISCSI (1), SBVM_RDMA_BENCH_ROUNDS (3),
# SBVM_RDMA_BENCH_FIO_SECS (6), SBVM_RDMA_BENCH_RAMP (2),
# SBVM_RDMA_BENCH_AREA (64M), SBVM_RDMA_BENCH_JOBS (the four).
. "$SBVM_REPO/tests/vm/lib.sh"

build=$SBVM_REPO/build
vmg_need_build spanblkd spanblk-bench spanblkctl
command -v ib_write_bw >/dev/null ||
	{ echo "SKIP perftest (ib_write_bw) not installed"; exit 77; }
res=$SBVM_OUT/results
mkdir -p "$res"
out=$res/bench.txt
: >"$out"
conf=/etc/spanblk/cluster.conf
secs=${SBVM_RDMA_BENCH_SECS:-${RDMA_BENCH_SECS:-4}}
segments=${SBVM_RDMA_BENCH_SEGMENTS-64K 128K 256K 512K 1M}
iscsi=${SBVM_RDMA_BENCH_ISCSI:-1}
rounds=${SBVM_RDMA_BENCH_ROUNDS:-3}
fsecs=${SBVM_RDMA_BENCH_FIO_SECS:-6}
ramp=${SBVM_RDMA_BENCH_RAMP:-2}
area=${SBVM_RDMA_BENCH_AREA:-64M}
jobs=${SBVM_RDMA_BENCH_JOBS:-randread4k randwrite4k read1m write1m}
hz=$(getconf CLK_TCK)

record() { # KEY VALUE
	echo "$1 $2" >>"$out"
	vmg_info "$1 $2"
}

# sys_ticks: busy clock ticks of the whole guest (every CPU), which on
# soft-RoCE includes rxe's kernel work that no process is charged for.
sys_ticks() {
	local busy
	read -r busy _ <<<"$(sbp_cpu_stat)"
	echo "$busy"
}

# perftest TOOL SIZE ITERS DEPTH KEY: server and client on rxe0, to
# 10.77.1.1 (its own address), ITERS messages with DEPTH in flight.
perftest() {
	local tool=$1 size=$2 n=$3 depth=$4 key=$5 spid bw try
	"$tool" -d rxe0 -R -F -s "$size" -n "$n" -t "$depth" \
		>"$res/$key.server.txt" 2>&1 &
	spid=$!
	# The server's rdma_cm listener is up after a start-up that takes a
	# second or more under TCG: a client that came too early is refused
	# ("Unexpected CM event") and tries again.
	for try in 1 2 3 4 5; do
		sleep 1
		"$tool" -d rxe0 -R -F -s "$size" -n "$n" -t "$depth" \
			10.77.1.1 >"$res/$key.txt" 2>&1 && break
		if ! kill -0 "$spid" 2>/dev/null || [ "$try" -ge 5 ]; then
			cat "$res/$key.txt"
			vmg_fail "$tool -s $size"
		fi
		vmg_info "$tool -s $size: client attempt $try refused, again"
	done
	wait "$spid"
	# "#bytes #iterations BW peak[MB/sec] BW average[MB/sec] MsgRate"
	bw=$(awk -v s="$size" '$1 == s && NF >= 4 { print $4 }' "$res/$key.txt" |
		tail -n1)
	record "$key" "${bw:-?}"
}

# iperf3_run LEN KEY: one TCP stream to 10.77.1.1 (rxe0's address, which
# the root namespace reaches over lo, as the gateway reaches the nodes on
# TCP), writes of LEN bytes for $secs s. Records MiB/s received and CPU s
# per GiB: server + client ticks, and the whole guest's busy ticks.
iperf3_run() {
	local len=$1 key=$2 spid c0 c1 s0 s1 cpid bytes
	iperf3 -s -B 10.77.1.1 -p 5201 >"$res/$key.server.txt" 2>&1 &
	spid=$!
	# Listening? (ss, not a connection: iperf3 would take one as a test.)
	for _ in $(seq 1 100); do
		ss -Hltn 'sport = :5201' | grep -q . && break
		sleep 0.1
	done
	c0=$(sbp_cpu_ticks "$spid")
	s0=$(sys_ticks)
	# The client's ticks from a subshell that reaped it.
	(
		iperf3 -c 10.77.1.1 -p 5201 -B 10.77.1.1 -l "$len" -t "$secs" \
			-J >"$res/$key.json"
		rc=$?
		sh_pid=$BASHPID
		sbp_cpu_children_ticks "$sh_pid" >"$res/$key.json.ticks"
		exit $rc
	) ||
		{ kill "$spid"; cat "$res/$key.json"; vmg_fail "iperf3 -l $len"; }
	c1=$(sbp_cpu_ticks "$spid")
	s1=$(sys_ticks)
	kill "$spid"
	wait "$spid" 2>/dev/null
	cpid=$(cat "$res/$key.json.ticks")
	bytes=$(python3 -c 'import json, sys
print(int(json.load(open(sys.argv[1]))["end"]["sum_received"]["bytes"]))' \
		"$res/$key.json") || vmg_fail "iperf3 $key: unreadable JSON"
	record "$key.mib_s" "$(awk -v b="$bytes" -v t="$secs" \
		'BEGIN { printf "%.2f", b / t / 1048576 }')"
	record "$key.cpu_s_per_gib" "$(awk -v n=$((c1 - c0 + cpid)) -v hz="$hz" \
		-v b="$bytes" 'BEGIN { if (b <= 0) { print "?"; exit }
		printf "%.1f", n / hz / (b / 1073741824) }')"
	record "$key.sys_cpu_s_per_gib" "$(awk -v n=$((s1 - s0)) -v hz="$hz" \
		-v b="$bytes" 'BEGIN { if (b <= 0) { print "?"; exit }
		printf "%.1f", n / hz / (b / 1073741824) }')"
}

# sbench KEY ARGS...: spanblk-bench; records MiB/s, IOPS and CPU s per GiB
# (nodes + benchmark).
sbench() {
	local key=$1 c0 c1 s0 s1 tb bytes rc cb cn br fb
	shift
	c0=$(sbp_cpu_ticks "${VMG_NODE_PIDS[@]}")
	s0=$(sys_ticks)
	/usr/bin/time -f "%U %S" -o "$res/$key.time" \
		"$build/spanblk-bench" -c "$conf" "$@" >"$res/$key.txt" 2>&1
	rc=$?
	[ $rc -eq 0 ] || { cat "$res/$key.txt"; vmg_fail "spanblk-bench $key: exit $rc"; }
	c1=$(sbp_cpu_ticks "${VMG_NODE_PIDS[@]}")
	s1=$(sys_ticks)
	tb=$(awk '{ printf "%d", ($1 + $2) * 100 }' "$res/$key.time")
	bytes=$(tr ' ' '\n' <"$res/$key.txt" | awk -F= '
		$1 == "ios" { i = $2 } $1 == "bs" { b = $2 }
		END { printf "%d", i * b }')
	record "$key.mib_s" "$(tr ' ' '\n' <"$res/$key.txt" | sed -n 's/^mib_s=//p' | head -n1)"
	record "$key.iops" "$(tr ' ' '\n' <"$res/$key.txt" | sed -n 's/^iops=//p' | head -n1)"
	record "$key.lat_p50_us" "$(tr ' ' '\n' <"$res/$key.txt" | sed -n 's/^lat_p50_us=//p' | head -n1)"
	record "$key.bytes_rdma" "$(tr ' ' '\n' <"$res/$key.txt" | sed -n 's/^bytes_rdma=//p' | head -n1)"
	# The gateway's copy between its buffers and the RDMA pool: every
	# byte described by RDMA is copied once (a WRITE before it is sent,
	# a READ after its answer), nothing else is.
	cb=$(sed -n 's/^copy: .*bytes=\([0-9]*\) .*/\1/p' "$res/$key.txt")
	cn=$(sed -n 's/^copy: .* ns=\([0-9]*\) .*/\1/p' "$res/$key.txt")
	br=$(tr ' ' '\n' <"$res/$key.txt" | sed -n 's/^bytes_rdma=//p' | head -n1)
	fb=$(tr ' ' '\n' <"$res/$key.txt" | sed -n 's/^rdma_fallbacks=//p' | head -n1)
	if [ -z "$cb" ] || [ -z "$cn" ]; then
		vmg_fail "$key: no copy: line"
	fi
	[ "$fb" != 0 ] || [ "$cb" = "$br" ] ||
		vmg_fail "$key: copied $cb bytes for $br bytes by RDMA"
	record "$key.copy_bytes" "$cb"
	record "$key.copy_ns" "$cn"
	# CPU seconds per GiB: node ticks / hz + benchmark centiseconds / 100
	record "$key.cpu_s_per_gib" "$(awk -v n=$((c1 - c0)) -v hz="$hz" \
		-v t="$tb" -v b="$bytes" 'BEGIN {
		if (b <= 0) { print "?"; exit }
		printf "%.1f", (n / hz + t / 100) / (b / 1073741824) }')"
	record "$key.sys_cpu_s_per_gib" "$(awk -v n=$((s1 - s0)) -v hz="$hz" \
		-v b="$bytes" 'BEGIN { if (b <= 0) { print "?"; exit }
		printf "%.1f", n / hz / (b / 1073741824) }')"
}

# set_rdma on|off: the gateway side of the cluster file.
set_rdma() {
	sed -i "s/^rdma = .*/rdma = $1/" "$conf"
}

vmg_step rxe
vmg_rxe_up 3

vmg_step node-storage
# 768 MiB, filled only as written: 2 replicas of the 48 MiB bench LUN
# and of two iSCSI LUNs' areas, and one fileio area.
vmg_ramdisk /srv/spanblk 786432

vmg_step nodes
vmg_rdma_cluster_up /srv/spanblk 3 2

vmg_step perftest
# The depths spanblk-bench uses below: 16 x 4 KiB, 4 x 1 MiB.
perftest ib_write_bw 4096 2000 16 ib_write_bw.4k
perftest ib_write_bw 1048576 40 4 ib_write_bw.1m
perftest ib_read_bw 4096 2000 16 ib_read_bw.4k
perftest ib_read_bw 1048576 40 4 ib_read_bw.1m

vmg_step iperf3
if command -v iperf3 >/dev/null; then
	iperf3_run 4K iperf3.4k
	iperf3_run 1M iperf3.1m
else
	record iperf3.skipped "iperf3_not_installed"
	vmg_info "SKIP iperf3 rows: iperf3 is not installed (scripts/setup.sh installs it)"
fi

vmg_step prefill
set_rdma on
"$build/spanblk-bench" -c "$conf" --lun bench --size 48M --rw read \
	--prefill --bs 1M --qd 4 --time 1 >"$res/prefill.txt" 2>&1 ||
	{ cat "$res/prefill.txt"; vmg_fail "prefill"; }

for t in rdma tcp; do
	vmg_step "spanblk-$t"
	if [ "$t" = rdma ]; then set_rdma on; else set_rdma off; fi
	sbench "$t.write1m" --lun bench --size 48M --rw write --bs 1M --qd 4 \
		--time "$secs"
	sbench "$t.read1m" --lun bench --size 48M --rw read --bs 1M --qd 4 \
		--time "$secs"
	sbench "$t.randread4k" --lun bench --size 48M --rw randread --bs 4K \
		--qd 16 --time "$secs"
	sbench "$t.randwrite4k" --lun bench --size 48M --rw randwrite --bs 4K \
		--qd 16 --time "$secs"
done
set_rdma on

# ---- fio over iSCSI: spanblk on RDMA, spanblk on TCP, LIO fileio ---------

# node_bytes: "RDMA TCP" payload bytes the nodes have moved so far
# (spanblkctl with the rdma = off file: it moves no payload, and skipping
# the RDMA connection set-up saves seconds per call under TCG).
node_bytes() {
	local i r=0 t=0
	VMG_COUNTERS=$("$build/spanblkctl" -c /etc/spanblk/cluster-tcp.conf \
		counters 2>&1) || vmg_fail "spanblkctl counters: $VMG_COUNTERS"
	for i in 1 2 3; do
		r=$((r + $(vmg_node_counter_of "$i" BYTES_RDMA)))
		t=$((t + $(vmg_node_counter_of "$i" BYTES_TCP)))
	done
	echo "$r $t"
}

# job_spec JOB -> "RW BS QD" (bench_guest.sh's jobs).
job_spec() {
	case $1 in
	randread4k) echo "randread 4k 16" ;;
	randwrite4k) echo "randwrite 4k 16" ;;
	read1m) echo "read 1M 16" ;;
	write1m) echo "write 1M 16" ;;
	*) vmg_fail "unknown job $1 (SBVM_RDMA_BENCH_JOBS)" ;;
	esac
}

# fio_run ROUND BACKEND JOB: one timed fio run; appends its line to
# iscsi-runs.raw with the guest's busy time, tcmu-runner's and the nodes'
# CPU (percent of one vCPU over the run, ramp included) and the payload
# bytes the nodes moved by RDMA and on TCP during it.
fio_run() {
	local r=$1 be=$2 job=$3 rw bs q json cpu b0 b1
	read -r rw bs q <<<"$(job_spec "$job")"
	json=$res/fio/$be-$job-r$r.json
	read -ra b0 <<<"$(node_bytes)"
	vmg_cpu_mark
	fio --name="$be-$job" --filename="${dev[$be]}" --direct=1 \
		--ioengine=libaio --rw="$rw" --bs="$bs" --iodepth="$q" \
		--size="$area" --time_based --runtime="$fsecs" \
		--ramp_time="$ramp" --randrepeat=0 --norandommap \
		--output-format=json --output="$json" ||
		vmg_fail "fio $be $job round $r failed (see $json)"
	cpu=$(vmg_cpu_since)
	read -ra b1 <<<"$(node_bytes)"
	echo "round=$r backend=$be job=$job rw=$rw bs=$bs qd=$q secs=$fsecs" \
		"fio_json=$json $cpu" \
		"node_rdma_bytes=$((b1[0] - b0[0])) node_tcp_bytes=$((b1[1] - b0[1]))" \
		>>"$res/iscsi-runs.raw"
	vmg_info "round $r $be $job: $(vmg_fio_kv "$json" | cut -d' ' -f1-3)" \
		"rdma=$((b1[0] - b0[0])) tcp=$((b1[1] - b0[1]))"
}

if [ "$iscsi" = 1 ]; then
	vmg_step iscsi-setup
	[ -e "$build/handler_spanblk.so" ] || vmg_fail "build/handler_spanblk.so missing"
	for t in fio python3 targetcli tcmu-runner iscsiadm; do
		command -v "$t" >/dev/null || vmg_fail "$t missing"
	done
	mkdir -p "$res/fio" /srv/spanblk/lio
	# One cluster, two gateway views of it: the LUN on RDMA uses the
	# cluster file (rdma = on), the LUN on TCP a copy with rdma = off.
	sed 's/^rdma = .*/rdma = off/' "$conf" >/etc/spanblk/cluster-tcp.conf
	cp /etc/spanblk/cluster-tcp.conf "$SBVM_OUT/logs/"
	vmg_lio_up
	vmg_dbus_up
	vmg_tcmu_up "$build"
	vmg_run truncate -s 1G /srv/spanblk/lio/bf0.img
	iqn=iqn.2003-01.org.example.sbvm:rdma-bench
	init=iqn.2003-01.org.example.sbvm:rdma-bench-init
	tcli=/run/rdma-bench.tcli
	{
		echo "set global auto_add_default_portal=false"
		echo "/backstores/user:spanblk create name=sbrdma size=1G cfgstring=sbrdma hw_max_sectors=2048"
		echo "/backstores/user:spanblk create name=sbtcp size=1G cfgstring=sbtcp;conf=/etc/spanblk/cluster-tcp.conf hw_max_sectors=2048"
		echo "/backstores/fileio create name=bf0 file_or_dev=/srv/spanblk/lio/bf0.img write_back=true"
		for t in "rdma user:spanblk/sbrdma" "tcp user:spanblk/sbtcp" \
			"fileio fileio/bf0"; do
			read -r n so <<<"$t"
			echo "/iscsi create $iqn-$n"
			echo "/iscsi/$iqn-$n/tpg1/portals create 127.0.0.1 3260"
			echo "/iscsi/$iqn-$n/tpg1/luns create /backstores/$so"
			echo "/iscsi/$iqn-$n/tpg1/acls create $init"
			echo "/iscsi/$iqn-$n/tpg1 set attribute authentication=0"
		done
	} >"$tcli"
	vmg_targetcli "$tcli"
	declare -A dev
	backends=(spanblk-rdma spanblk-tcp fileio)
	for be in "${backends[@]}"; do
		vmg_target_check "$iqn-${be#spanblk-}"
		vmg_iscsi_login "$iqn-${be#spanblk-}" "$init"
		dev[$be]=$VMG_DEV
		vmg_info "$be: $VMG_DEV, $(blockdev --getsize64 "$VMG_DEV") bytes"
	done
	{
		for be in "${backends[@]}"; do
			q=/sys/block/${dev[$be]#/dev/}
			echo "$be dev=${dev[$be]}" \
				"max_sectors_kb=$(cat "$q/queue/max_sectors_kb")" \
				"queue_depth=$(cat "$q/device/queue_depth")"
		done
		echo "config: rounds=$rounds secs=$fsecs ramp=$ramp area=$area jobs='$jobs'"
		"$build/spanblkctl" -c "$conf" status
	} >"$res/iscsi-devices.txt" 2>&1

	vmg_step iscsi-prefill
	for be in "${backends[@]}"; do
		fio --name="prefill-$be" --filename="${dev[$be]}" --direct=1 \
			--ioengine=libaio --rw=write --bs=1M --iodepth=16 \
			--size="$area" --output-format=json \
			--output="$res/fio/prefill-$be.json" ||
			vmg_fail "fio prefill on $be failed"
		vmg_info "prefill $be: $(vmg_fio_kv "$res/fio/prefill-$be.json")"
	done

	: >"$res/iscsi-runs.raw"
	for r in $(seq 1 "$rounds"); do
		vmg_step "iscsi round $r of $rounds"
		for job in $jobs; do
			for i in 0 1 2; do
				fio_run "$r" "${backends[$(((i + r - 1) % 3))]}" "$job"
			done
		done
	done

	vmg_step iscsi-results
	# iscsi-runs.txt: every fio_json=PATH replaced by its figures.
	vmg_fio_runs "$res/iscsi-runs.raw" "$res/iscsi-runs.txt"
	# The transport each LUN's payload took, over all its runs.
	for be in spanblk-rdma spanblk-tcp; do
		read -r rb tb <<<"$(awk -v be="$be" '$0 ~ " backend=" be " " {
			for (i = 1; i <= NF; i++) {
				split($i, kv, "=")
				if (kv[1] == "node_rdma_bytes") r += kv[2]
				if (kv[1] == "node_tcp_bytes") t += kv[2]
			}
		} END { printf "%d %d", r, t }' "$res/iscsi-runs.txt")"
		record "iscsi.$be.node_rdma_bytes" "$rb"
		record "iscsi.$be.node_tcp_bytes" "$tb"
	done
	rb=$(sed -n 's/^iscsi.spanblk-rdma.node_rdma_bytes //p' "$out")
	tb=$(sed -n 's/^iscsi.spanblk-rdma.node_tcp_bytes //p' "$out")
	[ "$rb" -gt $((tb * 99)) ] ||
		vmg_fail "spanblk-rdma: only $rb of $((rb + tb)) payload bytes by RDMA"
	rb=$(sed -n 's/^iscsi.spanblk-tcp.node_rdma_bytes //p' "$out")
	[ "$rb" = 0 ] || vmg_fail "spanblk-tcp: $rb payload bytes by RDMA"

	for be in "${backends[@]}"; do
		vmg_iscsi_logout "$iqn-${be#spanblk-}"
	done
	vmg_tcmu_down
fi

for seg in $segments; do
	vmg_step "segment-$seg"
	for i in 1 2 3; do
		vmg_node_stop "$i"
		vmg_rdma_node_conf "$i" "rxe$((i - 1))"
		echo "rdma_segment = $seg" >>"$VMG_NODE_ROOT/node$i.conf"
		vmg_node_start "$i"
	done
	sbench "seg$seg.write1m" --lun bench --size 48M --rw write --bs 1M \
		--qd 4 --time "$secs"
	sbench "seg$seg.read1m" --lun bench --size 48M --rw read --bs 1M \
		--qd 4 --time "$secs"
done

vmg_step shutdown
vmg_nodes_stop
vmg_info "rdma_bench done: results/bench.txt"
