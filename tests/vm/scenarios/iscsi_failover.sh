#!/bin/bash
# "A node fails under iSCSI I/O" (docs/recovery.md), in one guest boot:
#   three etcd members and three spanblkd registered in them (127.0.0.2-4,
#   data on ext4 on a RAM disk), tcmu-runner with the handler, the target
#   from targetcli_snippets/, iSCSI login over 127.0.0.1, then
#   - fio 4 KiB random writes (32 MiB) with crc32c verify while node 2 is killed
#     with kill -9 and kept down: fio exits 0 with no I/O and no verify
#     error; the longest write latency fio saw is reported;
#   - `spanblkctl status`: node 2 down in the store, its missed chunks
#     recorded; node 2 restarted: the gateway copies them to it node to
#     node (resync) until status is healthy (the time is reported), and a
#     verify-only pass over the same range (every read through the
#     gateway, node 2 serving its chunks again) finds no stale block;
#   - the same with node 3 hung by SIGSTOP for 12 s under fio;
#   - node 2 killed under fio and taken out (`spanblkctl node out 2`):
#     its chunks get new replicas until status is healthy with node 2
#     still down, and the verify-only pass reads every block; then a
#     replacement node 2 with an empty folder is put in (`node in 2`),
#     resync copies its chunks to it, and with node 1 killed the
#     verify-only pass still reads every block (node 2 serves the chunks
#     it shares with node 1).
# Skips (exit 77) when the build or etcd is missing.
. "$SBVM_REPO/tests/vm/lib.sh"

build=$SBVM_REPO/build
vmg_need_build spanblkd spanblkctl handler_spanblk.so
res=$SBVM_OUT/results
mkdir -p "$res"

# max_write_ms JSON: the longest write completion latency fio saw, in ms.
max_write_ms() {
	python3 - "$1" <<'PY'
import json, sys
t = open(sys.argv[1]).read()
j = json.loads(t[t.index("{"):])["jobs"][0]
print("%.0f" % (j["write"]["clat_ns"]["max"] / 1e6))
PY
}

# status_expect RC PATTERN...: `spanblkctl status` exits RC and its
# output holds every PATTERN (extended regular expressions).
status_expect() {
	local want=$1 out rc p
	shift
	out=$("$build/spanblkctl" status 2>&1)
	rc=$?
	echo "$out" >>"$SBVM_OUT/logs/status.txt"
	for p in "$@"; do
		echo "$out" | grep -Eq "$p" ||
			vmg_fail "status lacks /$p/: $out"
	done
	[ "$rc" -eq "$want" ] || vmg_fail "status exited $rc, not $want: $out"
}

# fio_under FAULT NAME OFFSET: fio random writes with verify on 32 MiB
# at OFFSET; 2 s in, with fio still writing, FAULT (a function) runs.
fio_under() {
	local fault=$1 name=$2 off=$3 fpid
	vmg_fio_verify "$dev" "$name" --rw=randwrite --bs=4k --iodepth=16 \
		--offset="$off" --size=32M &
	fpid=$!
	sleep 2
	kill -0 "$fpid" 2>/dev/null || vmg_fail "fio $name ended before the fault"
	"$fault"
	wait "$fpid" || vmg_fail "fio $name failed"
	vmg_info "fio $name: longest write $(max_write_ms \
		"$res/fio-$name.json") ms"
}

# reread NAME OFFSET: fio's verify-only pass over what job NAME's twin
# wrote at OFFSET: every block read through the gateway must verify.
reread() {
	local json=$res/fio-$1-reread.json
	fio --name="$1" --filename="$dev" --direct=1 --ioengine=libaio \
		--rw=randwrite --bs=4k --iodepth=16 --offset="$2" --size=32M \
		--verify=crc32c --verify_fatal=1 --verify_only \
		--output-format=json --output="$json" ||
		vmg_fail "fio verify-only $1 failed (see $json)"
	python3 - "$json" <<'PY' || vmg_fail "fio verify-only $1: errors"
import json, sys
t = open(sys.argv[1]).read()
j = json.loads(t[t.index("{"):])["jobs"][0]
bad = j.get("error", 0) or j.get("total_err", 0) or \
    j["read"]["io_bytes"] < (32 << 20)
sys.exit(1 if bad else 0)
PY
	vmg_info "fio $1: verify-only pass read 32 MiB, no error"
}

# wait_healthy WHAT: `spanblkctl status` healthy (exit 0: every node up,
# no stale chunk) within 300 s; reports how long resync took.
wait_healthy() {
	local t0=$SECONDS
	for _ in $(seq 1 600); do
		"$build/spanblkctl" status >/dev/null 2>&1 && break
		sleep 0.5
	done
	status_expect 0 "every replica of every chunk is valid"
	vmg_info "$1: resync done, cluster healthy after $((SECONDS - t0)) s"
}

kill_node2() {
	kill -KILL "${VMG_NODE_PIDS[1]}" && vmg_info "node 2 killed (kill -9)"
}

hang_node3() {
	kill -STOP "${VMG_NODE_PIDS[2]}" && vmg_info "node 3 stopped (SIGSTOP)"
	sleep 12
	kill -CONT "${VMG_NODE_PIDS[2]}" && vmg_info "node 3 continued"
}

out_node2() {
	kill -KILL "${VMG_NODE_PIDS[1]}" && vmg_info "node 2 killed (kill -9)"
	sleep 1
	"$build/spanblkctl" node out 2 >>"$SBVM_OUT/logs/status.txt" 2>&1 ||
		vmg_fail "spanblkctl node out 2 failed"
	vmg_info "node 2 out of placement"
}

# wait_up I: node I up in the store within 10 s.
wait_up() {
	for _ in $(seq 1 100); do
		"$build/spanblkctl" status 2>&1 | grep -Eq "^  $1 +up" && return
		sleep 0.1
	done
	vmg_fail "node $1 not up in the store"
}

vmg_step "kernel target modules"
vmg_lio_up

vmg_step "three etcd members, three storage nodes"
vmg_ramdisk /srv/spanblk 786432
vmg_etcd_up /run/spanblk-etcd 3
vmg_cluster_up /srv/spanblk 3 2
for _ in $(seq 1 100); do
	"$build/spanblkctl" status >/dev/null 2>&1 && break
	sleep 0.1
done
status_expect 0 "cluster store: etcd" "every replica of every chunk is valid"

vmg_step "tcmu-runner, target, iSCSI login"
vmg_dbus_up
vmg_tcmu_up "$build"
vmg_spanblk_target
vmg_iscsi_login "$VMG_IQN" "$VMG_INITIATOR"
dev=$VMG_DEV

vmg_step "kill -9 of node 2 under fio"
fio_under kill_node2 kill9 256M
status_expect 3 "^  2 +down" "chunks with replicas that missed writes" \
	"node 2: [0-9]+"
vmg_node_start 2
for _ in $(seq 1 100); do
	"$build/spanblkctl" status 2>&1 | grep -Eq "^  2 +up" && break
	sleep 0.1
done
wait_healthy "node 2 back"
reread kill9 256M
vmg_info "node 2 resynced: every block read back verified"

vmg_step "SIGSTOP of node 3 under fio"
fio_under hang_node3 sigstop 384M
wait_healthy "node 3 back"
reread sigstop 384M

vmg_step "node 2 dead for good: out under fio, then replaced"
fio_under out_node2 nodeout 512M
# wait-healthy reads the store (status would wait for node 2 each time)
t0=$SECONDS
"$build/spanblkctl" wait-healthy 300 >>"$SBVM_OUT/logs/wait-healthy.txt" 2>&1 ||
	vmg_fail "node 2 out: not healthy in 300 s (logs/wait-healthy.txt)"
vmg_info "node 2 out: re-replicated, healthy after $((SECONDS - t0)) s"
status_expect 0 "^  2 +down .*out of placement"
reread nodeout 512M
vmg_info "node 2 out: every block read back verified without it"
rm -rf "$VMG_NODE_ROOT/node2"
mkdir -p "$VMG_NODE_ROOT/node2"
vmg_node_start 2
wait_up 2
t0=$SECONDS
"$build/spanblkctl" node in 2 >>"$SBVM_OUT/logs/status.txt" 2>&1 ||
	vmg_fail "spanblkctl node in 2 failed"
wait_healthy "node 2 replaced"
vmg_info "node in: replacement filled in $((SECONDS - t0)) s"
kill -KILL "${VMG_NODE_PIDS[0]}" && vmg_info "node 1 killed (kill -9)"
reread nodeout 512M
vmg_info "node 2 replaced: every block read back verified with node 1 down"
vmg_node_start 1
wait_up 1

vmg_step "shutdown"
vmg_iscsi_logout "$VMG_IQN"
vmg_tcmu_down
vmg_nodes_stop
sbe_stop
