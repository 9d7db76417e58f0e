#!/bin/bash
# The cost of a type 2 memory window per request (docs/rdma.md,
# docs/benchmarks.md section 3), in ONE guest boot: spanblk-bench with RDMA
# payload and [cluster] rdma_windows = auto (a bind before each request, a
# local invalidate after its answer) against rdma_windows = off (the whole
# pool registered for remote access), same nodes, same LUN: 1 MiB
# sequential write and read, 4 KiB random read and write, ROUNDS rounds
# with the two modes interleaved (the order alternating per round). Each run with -v, so that its log shows
# which mode its node connections used. Writes results/windows.txt (one
# "MODE TEST ROUND MIB_S IOPS" line per run) and results/summary.txt
# (medians and the auto/off ratio per test). Fails only when a run fails
# or runs in the wrong mode. Not part of make check.
. "$SBVM_REPO/tests/vm/lib.sh"

build=$SBVM_REPO/build
vmg_need_build spanblkd spanblk-bench
res=$SBVM_OUT/results
mkdir -p "$res"
conf=/etc/spanblk/cluster.conf
secs=${WINDOWS_BENCH_SECS:-3}
rounds=${WINDOWS_BENCH_ROUNDS:-3}
: >"$res/windows.txt"

# set_windows auto|off: the gateway side of the cluster file.
set_windows() {
	sed -i '/^rdma_windows = /d' "$conf"
	sed -i "/^rdma = /a rdma_windows = $1" "$conf"
}

# run MODE TEST ROUND ARGS...: one spanblk-bench run, checked and recorded.
run() {
	local mode=$1 t=$2 r=$3 f want mib iops
	shift 3
	f=$res/$mode.$t.$r.txt
	"$build/spanblk-bench" -c "$conf" -v "$@" >"$f" 2>&1 ||
		{ tail -n 20 "$f"; vmg_fail "spanblk-bench $mode $t: failed"; }
	if [ "$mode" = auto ]; then
		want='payload by RDMA, a memory window per request'
	else
		want='payload by RDMA, the whole pool exposed'
	fi
	[ "$(grep -c "$want" "$f")" -ge 3 ] ||
		vmg_fail "$mode $t: not every node connection in mode $mode"
	grep -q ' bytes_inline=0 ' "$f" || vmg_fail "$mode $t: payload inline"
	mib=$(tr ' ' '\n' <"$f" | sed -n 's/^mib_s=//p' | head -n1)
	iops=$(tr ' ' '\n' <"$f" | sed -n 's/^iops=//p' | head -n1)
	echo "$mode $t $r $mib $iops" >>"$res/windows.txt"
	vmg_info "$mode $t round $r: $mib MiB/s, $iops IOPS"
}

vmg_step rxe
vmg_rxe_up 3

vmg_step node-storage
vmg_ramdisk /srv/spanblk 393216

vmg_step nodes
vmg_rdma_cluster_up /srv/spanblk 3 2

vmg_step prefill
"$build/spanblk-bench" -c "$conf" --lun win --size 48M --rw read \
	--prefill --bs 1M --qd 4 --time 1 >"$res/prefill.txt" 2>&1 ||
	{ cat "$res/prefill.txt"; vmg_fail "prefill"; }

for r in $(seq 1 "$rounds"); do
	vmg_step "round-$r"
	# the order alternates, so neither mode always runs first
	order="auto off"
	[ $((r % 2)) = 0 ] && order="off auto"
	for mode in $order; do
		set_windows "$mode"
		run "$mode" write1m "$r" --lun win --size 48M --rw write \
			--bs 1M --qd 4 --time "$secs"
		run "$mode" read1m "$r" --lun win --size 48M --rw read \
			--bs 1M --qd 4 --time "$secs"
		run "$mode" randread4k "$r" --lun win --size 48M \
			--rw randread --bs 4K --qd 16 --time "$secs"
		run "$mode" randwrite4k "$r" --lun win --size 48M \
			--rw randwrite --bs 4K --qd 16 --time "$secs"
	done
done

vmg_step summary
# median of the rounds per mode and test, then auto / off
awk '
	{ v[$1 " " $2] = v[$1 " " $2] " " $4 }
	function median(s,   a, n, i, j, t) {
		n = split(s, a, " ")
		for (i = 1; i <= n; i++)
			for (j = i + 1; j <= n; j++)
				if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	END {
		split("write1m read1m randread4k randwrite4k", tests, " ")
		for (k = 1; k <= 4; k++) {
			t = tests[k]
			on = median(v["auto " t]); off = median(v["off " t])
			printf "%s auto_mib_s=%.2f off_mib_s=%.2f ratio=%.2f\n",
				t, on, off, (off > 0 ? on / off : 0)
		}
	}' "$res/windows.txt" >"$res/summary.txt"
while read -r l; do vmg_info "$l"; done <"$res/summary.txt"
vmg_info "load: $(cut -d' ' -f1-3 /proc/loadavg) (guest)"

vmg_step shutdown
vmg_nodes_stop
vmg_info "rdma_windows passed"
