#!/bin/bash
# Measurements of RDMA payload for docs/benchmarks.md (issue 4), in ONE
# guest boot so that every figure can be taken as a ratio to a limit
# measured beside it (absolute speeds under TCG mean little):
#   - limits: perftest ib_write_bw / ib_read_bw over rdma_cm on rxe0 to its
#     own address, 4 KiB and 1 MiB messages;
#   - spanblk-bench with RDMA payload and with TCP payload ([cluster] rdma
#     on / off, same nodes, same LUN): 1 MiB sequential write and read,
#     4 KiB random read and write; CPU seconds of the three nodes and the
#     benchmark together, per GiB moved;
#   - the node's rdma_segment: 64K to 1M, 1 MiB writes and reads.
# Writes results/bench.txt ("KEY VALUE" lines) and the raw outputs; fails
# only when a run fails. Skips (77) without rdma_rxe or perftest.
. "$SBVM_REPO/tests/vm/lib.sh"

build=$SBVM_REPO/build
for p in spanblkd spanblk-bench spanblkctl; do
	[ -x "$build/$p" ] || { echo "SKIP build/$p missing (run make)"; exit 77; }
done
command -v ib_write_bw >/dev/null ||
	{ echo "SKIP perftest (ib_write_bw) not installed"; exit 77; }
res=$SBVM_OUT/results
mkdir -p "$res"
out=$res/bench.txt
: >"$out"
conf=/etc/spanblk/cluster.conf
secs=${RDMA_BENCH_SECS:-4}

record() { # KEY VALUE
	echo "$1 $2" >>"$out"
	vmg_info "$1 $2"
}

# cpu_ticks PID...: user + system clock ticks of the processes.
cpu_ticks() {
	local p t=0 f
	for p in "$@"; do
		read -ra f <"/proc/$p/stat" || continue
		t=$((t + f[13] + f[14]))
	done
	echo "$t"
}

# sys_ticks: busy clock ticks of the whole guest (every CPU), which on
# soft-RoCE includes rxe's kernel work that no process is charged for.
sys_ticks() {
	awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat
}

# perftest TOOL SIZE ITERS DEPTH KEY: server and client on rxe0, to
# 10.77.1.1 (its own address), ITERS messages with DEPTH in flight.
perftest() {
	local tool=$1 size=$2 n=$3 depth=$4 key=$5 spid bw
	"$tool" -d rxe0 -R -F -s "$size" -n "$n" -t "$depth" \
		>"$res/$key.server.txt" 2>&1 &
	spid=$!
	sleep 1
	"$tool" -d rxe0 -R -F -s "$size" -n "$n" -t "$depth" 10.77.1.1 \
		>"$res/$key.txt" 2>&1 || { cat "$res/$key.txt"; vmg_fail "$tool -s $size"; }
	wait "$spid"
	# "#bytes #iterations BW peak[MB/sec] BW average[MB/sec] MsgRate"
	bw=$(awk -v s="$size" '$1 == s && NF >= 4 { print $4 }' "$res/$key.txt" |
		tail -n1)
	record "$key" "${bw:-?}"
}

# sbench KEY ARGS...: spanblk-bench; records MiB/s, IOPS and CPU s per GiB
# (nodes + benchmark).
sbench() {
	local key=$1 c0 c1 s0 s1 tb bytes hz rc
	shift
	hz=$(getconf CLK_TCK)
	c0=$(cpu_ticks "${VMG_NODE_PIDS[@]}")
	s0=$(sys_ticks)
	/usr/bin/time -f "%U %S" -o "$res/$key.time" \
		"$build/spanblk-bench" -c "$conf" "$@" >"$res/$key.txt" 2>&1
	rc=$?
	[ $rc -eq 0 ] || { cat "$res/$key.txt"; vmg_fail "spanblk-bench $key: exit $rc"; }
	c1=$(cpu_ticks "${VMG_NODE_PIDS[@]}")
	s1=$(sys_ticks)
	tb=$(awk '{ printf "%d", ($1 + $2) * 100 }' "$res/$key.time")
	bytes=$(tr ' ' '\n' <"$res/$key.txt" | awk -F= '
		$1 == "ios" { i = $2 } $1 == "bs" { b = $2 }
		END { printf "%d", i * b }')
	record "$key.mib_s" "$(tr ' ' '\n' <"$res/$key.txt" | sed -n 's/^mib_s=//p' | head -n1)"
	record "$key.iops" "$(tr ' ' '\n' <"$res/$key.txt" | sed -n 's/^iops=//p' | head -n1)"
	record "$key.lat_p50_us" "$(tr ' ' '\n' <"$res/$key.txt" | sed -n 's/^lat_p50_us=//p' | head -n1)"
	record "$key.bytes_rdma" "$(tr ' ' '\n' <"$res/$key.txt" | sed -n 's/^bytes_rdma=//p' | head -n1)"
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
modprobe brd rd_nr=1 rd_size=393216 || vmg_fail "modprobe brd"
mkdir -p /srv/spanblk
vmg_run mkfs.ext4 -q -F /dev/ram0
mount /dev/ram0 /srv/spanblk || vmg_fail "mount /dev/ram0"

vmg_step nodes
vmg_rdma_cluster_up /srv/spanblk 3 2

vmg_step perftest
# The depths spanblk-bench uses below: 16 x 4 KiB, 4 x 1 MiB.
perftest ib_write_bw 4096 2000 16 ib_write_bw.4k
perftest ib_write_bw 1048576 40 4 ib_write_bw.1m
perftest ib_read_bw 4096 2000 16 ib_read_bw.4k
perftest ib_read_bw 1048576 40 4 ib_read_bw.1m

vmg_step prefill
set_rdma on
"$build/spanblk-bench" -c "$conf" --lun bench --size 48M --rw read \
	--prefill --bs 1M --qd 4 --time 1 >"$res/prefill.txt" 2>&1 ||
	{ cat "$res/prefill.txt"; vmg_fail "prefill"; }

for t in rdma tcp; do
	vmg_step "spanblk-$t"
	[ "$t" = rdma ] && set_rdma on || set_rdma off
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

for seg in 64K 128K 256K 512K 1M; do
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
