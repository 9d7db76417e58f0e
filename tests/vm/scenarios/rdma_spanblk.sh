#!/bin/bash
# RDMA payload end to end on soft-RoCE in the guest (docs/protocol.md, "RDMA
# payload"): three rxe devices on veth links in the root namespace, three
# spanblkd with rdma_device set (data on ext4 on a RAM disk), spanblk-bench
# writing and reading back an offset-dependent pattern (--verify) over RDMA.
# Asserts:
#   - every node connection reports payload "rdma" (spanblkctl status,
#     spanblk-bench), and the nodes' counters show more than 99 % of the
#     payload bytes moved by RDMA;
#   - the gateway binds a type 2 memory window per request (docs/rdma.md)
#     and logs so per node connection; with rdma_windows = off it logs
#     the whole-pool exposure instead; data verifies in both modes;
#   - a forged token (another session's) is refused by the node and that
#     session's payload stays inline and correct (build/rdma-forge);
#   - with windows, the gateway's HCA refuses a descriptor carrying the
#     key of a window already invalidated (a completed request's) and
#     one carrying the pool registration's rkey or lkey; the node answers
#     EPROTO and the same I/O inline succeeds (build/rdma-forge);
#   - the iSCSI path: tcmu-runner with the handler, the LUN and target from
#     targetcli_snippets/, fio with crc32c verify on the /dev/sdX; more
#     than 99 % of the payload bytes it makes the nodes move go by RDMA;
#   - durable writes by RDMA: spanblk-bench --fua makes every WRITE request
#     of the run FUA (the nodes' FUA_WRITES grow by replicas x writes, and
#     the pattern still verifies), --flush-every 8 makes every node serve
#     exactly the FLUSHes the benchmark counts, one per 8 writes;
#   - with rdma_device removed from one node, that connection falls back to
#     TCP (reported as such), its counters grow on TCP only, and the data
#     still verifies.
# Skips (exit 77) with the reason when rdma_rxe is not available or the
# build is missing.
. "$SBVM_REPO/tests/vm/lib.sh"

build=$SBVM_REPO/build
vmg_need_build spanblkd spanblk-bench spanblkctl rdma-forge handler_spanblk.so
res=$SBVM_OUT/results
mkdir -p "$res"
conf=/etc/spanblk/cluster.conf

# bench NAME ARGS...: spanblk-bench on the cluster, output kept in results/;
# fails the scenario unless it exits 0 with no verify mismatch.
bench() {
	local name=$1 out rc
	shift
	"$build/spanblk-bench" -c "${bench_conf:-$conf}" "$@" \
		>"$res/$name.txt" 2>&1
	rc=$?
	[ $rc -eq 0 ] ||
		{ cat "$res/$name.txt"; vmg_fail "spanblk-bench $name: exit $rc"; }
	grep -q '^transport: mismatches=0 ' "$res/$name.txt" ||
		{ cat "$res/$name.txt"; vmg_fail "spanblk-bench $name: data mismatch"; }
	out=$(grep -E '^(result|transport):' "$res/$name.txt" | tr '\n' ' ')
	vmg_info "$name: $out"
}

# field NAME KEY: a key=value of bench NAME's result or transport line.
field() {
	grep -E '^(result|transport):' "$res/$1.txt" |
		tr ' ' '\n' | sed -n "s/^$2=//p" | head -n1
}

vmg_step rxe
vmg_rxe_up 3
vmg_info "$(rdma link show | tr '\n' ' ')"

vmg_step node-storage
vmg_ramdisk /srv/spanblk 393216

vmg_step nodes
vmg_rdma_cluster_up /srv/spanblk 3 2
vmg_info "3 nodes on 10.77.{1,2,3}.1:7400 with rxe0-2, replicas 2"

vmg_step status
"$build/spanblkctl" -c "$conf" status >"$res/status.txt" 2>&1 ||
	{ cat "$res/status.txt"; vmg_fail "spanblkctl status"; }
cat "$res/status.txt"
n=$(grep -cE '^  [0-9]+ +10\.77\.[0-9]+\.1:7400 +up .* rdma$' "$res/status.txt")
[ "$n" = 3 ] || vmg_fail "spanblkctl status: $n of 3 nodes with payload rdma"

vmg_step bench-rdma
# 32 MiB written with the pattern of seed 11 (prefill, 1 MiB writes), then
# random 64 KiB and 4 KiB reads that check it; then a second pattern over
# the same range read back sequentially in 1 MiB reads (stale data fails).
bench rdma-64k --lun rdma --size 32M --rw randread --prefill --verify 11 \
	--bs 64K --qd 8 --time 3
bench rdma-4k --lun rdma --size 32M --rw randread --verify 11 --bs 4K \
	--qd 16 --time 2
bench rdma-1m --lun rdma --size 32M --rw read --prefill --verify 12 \
	--bs 1M --qd 4 --time 2
bench rdma-randwrite --lun rdma --size 32M --rw randwrite --verify 12 \
	--bs 128K --qd 8 --time 2
bench rdma-verify --lun rdma --size 32M --rw read --verify 12 --bs 1M \
	--qd 4 --time 2
for b in rdma-64k rdma-4k rdma-1m rdma-randwrite rdma-verify; do
	grep -q '^node [123]: payload tcp' "$res/$b.txt" &&
		vmg_fail "$b: a node connection stayed on TCP: $(grep '^node' "$res/$b.txt" | tr '\n' ' ')"
	[ "$(field "$b" bytes_inline)" = 0 ] ||
		vmg_fail "$b: $(field "$b" bytes_inline) payload bytes went inline"
	[ "$(field "$b" rdma_fallbacks)" = 0 ] ||
		vmg_fail "$b: $(field "$b" rdma_fallbacks) requests resent inline"
done

vmg_step windows
# One request, one window: every node connection of the gateway says so.
bench windows-auto -v --lun rdma --size 32M --rw randread --verify 12 \
	--bs 64K --qd 8 --time 2
n=$(grep -c 'payload by RDMA, a memory window per request' \
	"$res/windows-auto.txt")
[ "$n" -ge 3 ] ||
	vmg_fail "windows: $n of 3 node connections with memory windows"
grep -q 'type 2 memory windows in use' "$res/windows-auto.txt" ||
	vmg_fail "windows: the gateway did not log its windows"
[ "$(field windows-auto bytes_inline)" = 0 ] ||
	vmg_fail "windows: payload went inline"
# The writes keep pattern 12 (written by rdma-1m), so the reads verify it.
# rdma_windows = off: the whole pool, and the log says exactly that.
sed '/^rdma = /a rdma_windows = off' "$conf" >/etc/spanblk/cluster-nowin.conf
bench_conf=/etc/spanblk/cluster-nowin.conf
bench windows-off -v --lun rdma --size 32M --rw randwrite --verify 12 \
	--bs 64K --qd 8 --time 2
bench windows-off-read -v --lun rdma --size 32M --rw read --verify 12 \
	--bs 1M --qd 4 --time 2
bench_conf=
n=$(grep -c 'payload by RDMA, the whole pool exposed' "$res/windows-off.txt")
[ "$n" -ge 3 ] ||
	vmg_fail "windows off: $n of 3 node connections in whole-pool mode"
grep -q 'no memory windows in use (rdma_windows = off): the connection.s pool' \
	"$res/windows-off.txt" ||
	vmg_fail "windows off: the exposure is not logged"
vmg_info "windows: auto and off both verify; $(grep -c 'memory windows in use' "$res/windows-auto.txt") connections logged windows"

vmg_step durable
# spanblk-bench's durable writes with RDMA payload: FUA on every write
# (pattern 12 again, so what follows still verifies), then a FLUSH of the
# LUN after every 8 completed writes. 128 KiB aligned writes stay inside
# one chunk: one request per replica.
vmg_counters
fua0=0
w0=0
for i in 1 2 3; do
	fua0=$((fua0 + $(vmg_node_counter_of "$i" FUA_WRITES)))
	w0=$((w0 + $(vmg_node_counter_of "$i" WRITES)))
done
bench durable-fua --lun rdma --size 32M --rw randwrite --verify 12 \
	--bs 128K --qd 8 --time 2 --fua
[ "$(field durable-fua durable)" = fua ] || vmg_fail "durable-fua: not durable=fua"
[ "$(field durable-fua bytes_inline)" = 0 ] || vmg_fail "durable-fua: payload went inline"
vmg_counters
fua1=0
w1=0
fl0=()
for i in 1 2 3; do
	fua1=$((fua1 + $(vmg_node_counter_of "$i" FUA_WRITES)))
	w1=$((w1 + $(vmg_node_counter_of "$i" WRITES)))
	fl0[i]=$(vmg_node_counter_of "$i" FLUSHES)
done
ios=$(field durable-fua ios)
vmg_info "durable-fua: $ios writes, nodes counted $((w1 - w0)) writes, $((fua1 - fua0)) with FUA"
[ "$ios" -gt 0 ] || vmg_fail "durable-fua: no writes"
[ $((fua1 - fua0)) = $((2 * ios)) ] ||
	vmg_fail "durable-fua: $((fua1 - fua0)) FUA writes on the nodes for $ios writes x 2 replicas"
[ $((w1 - w0)) = $((2 * ios)) ] ||
	vmg_fail "durable-fua: $((w1 - w0)) writes on the nodes for $ios writes x 2 replicas"
bench durable-verify --lun rdma --size 32M --rw read --verify 12 --bs 1M \
	--qd 4 --time 2
bench durable-flush --lun rdma --size 32M --rw randwrite --verify 12 \
	--bs 128K --qd 8 --time 2 --flush-every 8
[ "$(field durable-flush durable)" = flush8 ] || vmg_fail "durable-flush: not durable=flush8"
[ "$(field durable-flush bytes_inline)" = 0 ] || vmg_fail "durable-flush: payload went inline"
fl=$(field durable-flush flushes)
ios=$(field durable-flush ios)
[ "$fl" -gt 0 ] || vmg_fail "durable-flush: no FLUSH ran"
# One per 8 completed writes; writes in flight at the end (at most 8) and
# fewer than 8 since the last FLUSH go without one.
[ $((fl * 8)) -le "$ios" ] && [ "$ios" -lt $(((fl + 1) * 8 + 8)) ] ||
	vmg_fail "durable-flush: $fl FLUSHes for $ios writes"
vmg_counters
for i in 1 2 3; do
	d=$(($(vmg_node_counter_of "$i" FLUSHES) - fl0[i]))
	[ "$d" = "$fl" ] ||
		vmg_fail "durable-flush: node $i served $d FLUSHes, the benchmark $fl"
done
vmg_info "durable-flush: $fl FLUSHes for $ios writes, p50 $(field durable-flush flush_p50_us) us, every node served them all"

vmg_step counters
rdma=0
tcp=0
vmg_counters
for i in 1 2 3; do
	r=$(vmg_node_counter_of "$i" BYTES_RDMA)
	t=$(vmg_node_counter_of "$i" BYTES_TCP)
	vmg_info "node $i: $r payload bytes by RDMA, $t inline on TCP"
	[ "$r" -gt 0 ] || vmg_fail "node $i moved nothing by RDMA"
	rdma=$((rdma + r))
	tcp=$((tcp + t))
done
pct=$((rdma * 10000 / (rdma + tcp)))
vmg_info "payload by RDMA: $((pct / 100)).$((pct % 100 / 10))% of $((rdma + tcp)) bytes"
[ "$pct" -gt 9900 ] || vmg_fail "only $((pct / 100)).$((pct % 100))% of payload bytes by RDMA"
echo "rdma_bytes=$rdma tcp_bytes=$tcp rdma_permyriad=$pct" >"$res/counters.txt"

vmg_step forged-token
if [ -x "$build/rdma-forge" ]; then
	"$build/rdma-forge" -c "$conf" --node 1 >"$res/forge.txt" 2>&1 ||
		{ cat "$res/forge.txt"; vmg_fail "rdma-forge failed"; }
	cat "$res/forge.txt"
	grep -q '^forged token refused: yes' "$res/forge.txt" ||
		vmg_fail "the node accepted a token of another session"
	grep -q '^own token accepted: yes' "$res/forge.txt" ||
		vmg_fail "the node refused a session's own token"
	grep -q ': no$' "$res/forge.txt" &&
		vmg_fail "rdma-forge: $(grep ': no$' "$res/forge.txt" | tr '\n' ' ')"
	for c in 'type 2 memory windows in use' \
		'the key of an invalidated window answered EPROTO' \
		"a WRITE described by the pool's rkey answered EPROTO" \
		"a WRITE described by the pool's lkey answered EPROTO" \
		'the same READ inline brought back the data'; do
		grep -qF "$c: yes" "$res/forge.txt" ||
			vmg_fail "rdma-forge: no '$c: yes'"
	done
	grep -qE 'refused a connect request: token of another session' \
		"$SBVM_OUT/logs/node1.log" ||
		vmg_fail "node 1 did not log the refusal"
else
	vmg_fail "build/rdma-forge missing"
fi

vmg_step iscsi
# The handler in tcmu-runner is a gateway like spanblk-bench: same cluster
# file (rdma = on), so its payload to every node goes by RDMA.
vmg_counters
r0=0
t0=0
for i in 1 2 3; do
	r0=$((r0 + $(vmg_node_counter_of "$i" BYTES_RDMA)))
	t0=$((t0 + $(vmg_node_counter_of "$i" BYTES_TCP)))
done
vmg_lio_up
vmg_dbus_up
vmg_tcmu_up "$build"
vmg_spanblk_target
vmg_iscsi_login "$VMG_IQN" "$VMG_INITIATOR"
dev=$VMG_DEV
vmg_info "LUN is $dev: $(blockdev --getsize64 "$dev") bytes, $(vmg_scsi_id "$dev")"
vmg_fio_verify "$dev" iscsi-randwrite4k --rw=randwrite --bs=4k \
	--iodepth=16 --size=4M
vmg_fio_verify "$dev" iscsi-seqwrite1m --rw=write --bs=1M --iodepth=4 \
	--offset=64M --size=16M
vmg_counters
r1=0
t1=0
for i in 1 2 3; do
	r1=$((r1 + $(vmg_node_counter_of "$i" BYTES_RDMA)))
	t1=$((t1 + $(vmg_node_counter_of "$i" BYTES_TCP)))
done
dr=$((r1 - r0))
dt=$((t1 - t0))
[ $((dr + dt)) -gt $((40 << 20)) ] ||
	vmg_fail "the iSCSI runs moved only $((dr + dt)) payload bytes"
pct=$((dr * 10000 / (dr + dt)))
vmg_info "iSCSI: $dr payload bytes by RDMA, $dt inline: $((pct / 100)).$((pct % 100 / 10))% by RDMA"
[ "$pct" -gt 9900 ] || vmg_fail "iSCSI: only $((pct / 100)).$((pct % 100))% by RDMA"
vmg_iscsi_logout "$VMG_IQN"
vmg_tcmu_down
n=$(grep -c 'type 2 memory windows in use' "$SBVM_OUT/logs/tcmu-runner.log")
[ "$n" -ge 3 ] ||
	vmg_fail "iSCSI: the handler logged windows on $n connections, not 3"

vmg_step fallback
# Node 3 without rdma_device: its connection must go inline, and say so.
vmg_counters
r3=$(vmg_node_counter_of 3 BYTES_RDMA)
t3=$(vmg_node_counter_of 3 BYTES_TCP)
r1=$(vmg_node_counter_of 1 BYTES_RDMA)
vmg_node_stop 3
vmg_rdma_node_conf 3 ""
vmg_node_start 3
bench fallback --lun fb --size 32M --rw randread --prefill --verify 21 \
	--bs 64K --qd 8 --time 2
grep -q '^node 3: payload tcp: the node offers no RDMA' "$res/fallback.txt" ||
	vmg_fail "node 3 not reported on TCP: $(grep '^node' "$res/fallback.txt" | tr '\n' ' ')"
grep -q '^node 1: payload rdma' "$res/fallback.txt" ||
	vmg_fail "node 1 not on RDMA: $(grep '^node' "$res/fallback.txt" | tr '\n' ' ')"
[ "$(field fallback bytes_rdma)" -gt 0 ] || vmg_fail "fallback: nothing by RDMA"
[ "$(field fallback bytes_inline)" -gt 0 ] || vmg_fail "fallback: nothing inline"
vmg_counters
r3b=$(vmg_node_counter_of 3 BYTES_RDMA)
t3b=$(vmg_node_counter_of 3 BYTES_TCP)
r1b=$(vmg_node_counter_of 1 BYTES_RDMA)
vmg_info "node 3 after restart without RDMA: $r3b by RDMA, $t3b on TCP (before: $r3, $t3)"
# A restarted node's counters start at 0.
[ "$r3b" = 0 ] || vmg_fail "node 3 moved $r3b bytes by RDMA without rdma_device"
[ "$t3b" -gt $((4 << 20)) ] || vmg_fail "node 3 moved only $t3b bytes on TCP"
[ "$r1b" -gt "$r1" ] || vmg_fail "node 1's RDMA counter did not grow"
"$build/spanblkctl" -c "$conf" status >"$res/status-fallback.txt" 2>&1
grep -qE '^  3 .*tcp \(the node offers no RDMA\)' "$res/status-fallback.txt" ||
	{ cat "$res/status-fallback.txt"; vmg_fail "status does not show node 3 on tcp"; }

vmg_step shutdown
vmg_nodes_stop
vmg_info "rdma_spanblk passed"
