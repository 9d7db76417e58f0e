#!/usr/bin/env bash
# Resync speed against write speed on the same cluster (docs/benchmarks.md,
# "Resync"): one etcd member and three spanblkd on 127.0.0.1 with a store,
# a LUN written whole with spanblk-bench (idle write throughput), node 2
# killed, every chunk written again (degraded, recorded), node 2 restarted
# while a gateway keeps the LUN open, and `spanblkctl wait-healthy` timed.
# Prints one line per round and the medians.
# MODE=out instead: node 2 killed and taken out (`spanblkctl node out 2`)
# with a gateway keeping the LUN open, timed from the command to
# `wait-healthy` (its chunks re-replicated on nodes 1 and 3); then node 2
# is restarted and put back in, untimed, for the next round.
#   ROUNDS=N (default 3), SIZE (default 512M), BIN (default build),
#   KEYS (more KEY=VALUE words for the cluster file: resync_depth=16),
#   MODE (resync or out, default resync)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build}
ROUNDS=${ROUNDS:-3}
SIZE=${SIZE:-512M}
# shellcheck source=scripts/lib/etcd.sh
. scripts/lib/etcd.sh
# shellcheck source=scripts/lib/conf.sh
. scripts/lib/conf.sh

DIR=$(mktemp -d "${TMPDIR:-/tmp}/spanblk-resync-XXXXXX")
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	sbe_stop || :
	rm -rf "$DIR"
}
trap cleanup EXIT

node() { # i: start node i
	"$BIN/spanblkd" -c "$DIR/n$1.conf" >/dev/null 2>>"$DIR/n$1.log" &
	PIDS[$1]=$!
}

round() { # r -> "idle_mib_s resync_s resync_mib_s ratio chunks"
	local r=$1 conf=$DIR/cluster.conf lun=r$1 idle chunks t0 t1 bp secs
	idle=$("$BIN/spanblk-bench" -c "$conf" --lun "$lun" --size "$SIZE" \
		--rw write --bs 1M --qd 8 --time 6 | sed -nE 's/.* mib_s=([0-9.]+).*/\1/p')
	kill -KILL "${PIDS[2]}"
	wait "${PIDS[2]}" 2>/dev/null || true
	"$BIN/spanblk-bench" -c "$conf" --lun "$lun" --size "$SIZE" --rw write \
		--bs 1M --qd 8 --time 4 >/dev/null
	chunks=$({ "$BIN/spanblkctl" -c "$conf" status || true; } |
		sed -nE 's/^ *([0-9]+) chunks with replicas that missed.*/\1/p')
	node 2
	sleep 1
	"$BIN/spanblk-bench" -c "$conf" --lun "$lun" --size "$SIZE" \
		--rw randread --bs 4k --qd 2 --time 120 >/dev/null 2>&1 &
	bp=$!
	t0=$(date +%s.%N)
	"$BIN/spanblkctl" -c "$conf" wait-healthy 120 >/dev/null
	t1=$(date +%s.%N)
	kill "$bp" 2>/dev/null || true
	wait "$bp" 2>/dev/null || true
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
	echo "$r $idle $secs $chunks" |
		awk '{ m = $4 / $3; printf "round %d: idle write %.0f MiB/s, resync %d chunks (1 MiB) in %.2f s = %.0f MiB/s, ratio %.2f\n", $1, $2, $4, $3, m, m / $2 }'
}

# gateway LUN: a spanblk-bench reading it in the background (its pid)
gateway() {
	"$BIN/spanblk-bench" -c "$DIR/cluster.conf" --lun "$1" --size "$SIZE" \
		--rw randread --bs 4k --qd 2 --time 300 >/dev/null 2>&1 &
	echo $!
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

round_out() { # r -> the same line as round, for node out
	local r=$1 conf=$DIR/cluster.conf lun=o$1 idle chunks t0 t1 bp secs out
	idle=$("$BIN/spanblk-bench" -c "$conf" --lun "$lun" --size "$SIZE" \
		--rw write --bs 1M --qd 8 --time 6 | sed -nE 's/.* mib_s=([0-9.]+).*/\1/p')
	kill -KILL "${PIDS[2]}"
	wait "${PIDS[2]}" 2>/dev/null || true
	bp=$(gateway "$lun")
	sleep 1
	t0=$(date +%s.%N)
	out=$("$BIN/spanblkctl" -c "$conf" node out 2)
	"$BIN/spanblkctl" -c "$conf" wait-healthy 120 >/dev/null
	t1=$(date +%s.%N)
	stop "$bp"
	chunks=$(echo "$out" | sed -nE 's/.*: ([0-9]+) chunks of.*/\1/p')
	node 2
	sleep 1
	bp=$(gateway "$lun")
	"$BIN/spanblkctl" -c "$conf" node in 2 >>"$DIR/restore.log"
	"$BIN/spanblkctl" -c "$conf" wait-healthy 120 >>"$DIR/restore.log" ||
		{ tail -n 20 "$DIR/restore.log" >&2; exit 1; }
	stop "$bp"
	# only a gateway that has a LUN open copies its chunks: the next
	# round's node out must not wait for this one's
	"$BIN/spanblkctl" -c "$conf" lun delete "$lun" >/dev/null
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
	echo "$r $idle $secs $chunks" |
		awk '{ m = $4 / $3; printf "round %d: idle write %.0f MiB/s, node out: %d chunks (1 MiB) re-replicated in %.2f s = %.0f MiB/s, ratio %.2f\n", $1, $2, $4, $3, m, m / $2 }'
}

sbe_start "$DIR/etcd" 1 >/dev/null
sbconf_secret "$DIR/secret"
# shellcheck disable=SC2086 # KEYS: KEY=VALUE words
sbconf_cluster "$DIR/cluster.conf" replicas=2 secret_file="$DIR/secret" \
	etcd="$SBE_ENDPOINTS" ${KEYS:-}
for i in 1 2 3; do
	port=$((30000 + RANDOM % 20000))
	while sbp_port_open 127.0.0.1 "$port"; do port=$((port + 1)); done
	mkdir -p "$DIR/n$i"
	sbconf_node "$DIR/n$i.conf" "$i" 127.0.0.1 "$port" "$DIR/n$i" \
		"$DIR/secret" etcd="$SBE_ENDPOINTS"
	sbconf_cluster_node "$DIR/cluster.conf" "$i" 127.0.0.1 "$port"
	node "$i"
done
sleep 1.5
for r in $(seq 1 "$ROUNDS"); do
	# not in a pipeline: it restarts node 2
	if [ "${MODE:-resync}" = out ]; then
		round_out "$r" >>"$DIR/rounds"
	else
		round "$r" >>"$DIR/rounds"
	fi
	tail -n 1 "$DIR/rounds"
done
sed -nE 's/.* ratio ([0-9.]+)$/\1/p' "$DIR/rounds" | sort -n | awk '
	{ r[NR] = $1 }
	END { printf "median ratio %.2f (%d rounds)\n", r[int((NR + 1) / 2)], NR }'
