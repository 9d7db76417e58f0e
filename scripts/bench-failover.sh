#!/usr/bin/env bash
# Failure handling with the cluster store (docs/benchmarks.md section 5),
# on three spanblkd on 127.0.0.1 (replicas 2, chunk 1 MiB, a 1 GiB LUN
# written once) registered in an etcd started here:
#
#   cost      what the store costs when nothing fails: spanblk-bench's
#             rows (ROWS) with the cluster file without etcd ("plain")
#             and with it ("etcd"), on the same nodes, back to back in
#             each round, the order rotating; with BASE_BIN, a build of
#             the code before the store on three nodes of its own in the
#             same rounds ("base"). Medians of ROUNDS rounds of SECS
#             seconds; ratios paired within each round.
#   failover  4 KiB random writes at QD FAIL_QD for FAIL_SECS seconds
#             (spanblk-bench --timeline 10 -v); FAIL_AT seconds in, node 2
#             gets SIGKILL ("kill") or SIGSTOP ("stop": a hung node,
#             continued after the run); REPS repetitions of each,
#             alternating, each on a fresh cluster and etcd prefix (no
#             stale records yet). Per run, from the timeline and the
#             gateway's log (its lines carry their time): when the gateway
#             saw the connection drop, the reconnect refused (it revokes
#             the node's lease) and the node down in the store; the
#             first completion once it was down (the first degraded
#             write) and the longest gap without completions until then;
#             the longest write; the write rate before the signal, in the
#             1st, 2nd and 3rd second after the first degraded write and
#             from 5 s after it to the end ("later"), and how long until
#             a 0.5 s window reached 80 % of the later rate; the chunks
#             recorded stale (each cost one etcd transaction).
#             scripts/bench-failover-report.py does the arithmetic.
#
#   scripts/bench-failover.sh                  results on stdout and in
#                                              build/bench-failover/
#   BASE_BIN=/tmp/base/build scripts/bench-failover.sh
#   PARTS=failover REPS=3 scripts/bench-failover.sh
#   scripts/bench-failover-report.py cost|failover|redo RAW   tables again
#
# Knobs: ROUNDS (7), SECS (4), ROWS ("randwrite:4k:32 randread:4k:32
# write:1M:32 read:1M:32"), REPS (5), FAIL_SECS (16), FAIL_AT (3),
# FAIL_QD (16), FAILS ("kill stop"), LUN_SIZE (1G: 1024 chunks, of
# which 680 have a replica on node 2), NODE_TTL (3, the nodes' lease),
# ETCD_MEMBERS (1), ETCD_DIR (the data folder: etcd's data next to the
# nodes'), TMPDIR (/var/tmp), PARTS ("cost failover"), OUT
# (build/bench-failover).
# About 8.5 minutes with the defaults (10.5 with BASE_BIN). Needs etcd
# (Debian: etcd-server), curl and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

NEW_BIN=${BIN:-build}
BASE_BIN=${BASE_BIN:-}
ROUNDS=${ROUNDS:-7}
SECS=${SECS:-4}
ROWS=${ROWS:-randwrite:4k:32 randread:4k:32 write:1M:32 read:1M:32}
REPS=${REPS:-5}
FAIL_SECS=${FAIL_SECS:-16}
FAIL_AT=${FAIL_AT:-3}
FAIL_QD=${FAIL_QD:-16}
FAILS=${FAILS:-kill stop}
LUN_SIZE=${LUN_SIZE:-1G}
NODE_TTL=${NODE_TTL:-3}
ETCD_MEMBERS=${ETCD_MEMBERS:-1}
PARTS=${PARTS:-cost failover}
OUT=${OUT:-build/bench-failover}
NEW_BIN=$(cd "$NEW_BIN" && pwd)
BIN=$NEW_BIN
REPORT=$(pwd)/scripts/bench-failover-report.py
[ -z "$BASE_BIN" ] || BASE_BIN=$(cd "$BASE_BIN" && pwd)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# shellcheck source=scripts/lib/cluster.sh
. scripts/lib/cluster.sh
# shellcheck source=scripts/lib/etcd.sh
. scripts/lib/etcd.sh

DIR=$(mktemp -d "${TMPDIR:-/var/tmp}/spanblk-failover-XXXXXX")
ETCD_DIR=${ETCD_DIR:-$DIR}
EDIR=$(mktemp -d "$ETCD_DIR/spanblk-failover-etcd-XXXXXX")
ALL_PIDS=() # every spanblkd running, for the cleanup
NEW_PIDS=()
BASE_PIDS=()
STOPPED=    # a node left stopped by SIGSTOP
BENCH_PID=
cleanup() {
	[ -z "$STOPPED" ] || kill -CONT "$STOPPED" 2>/dev/null || :
	[ -z "$BENCH_PID" ] || kill -TERM "$BENCH_PID" 2>/dev/null || :
	SBC_PIDS=("${ALL_PIDS[@]}")
	sbc_stop
	sbe_stop || :
	rm -rf "$DIR" "$EDIR"
}
trap cleanup EXIT

RES="$OUT/results.txt"
RAW="$OUT/raw.txt"
: >"$RES"
: >"$RAW"
log() { echo "$*" | tee -a "$RES"; }
load_sample() { echo "$(date -u +%T) $(cut -d' ' -f1 /proc/loadavg)" >>"$OUT/load.txt"; }

# stop_nodes PID...: SIGTERM, reap, and forget them (a killed one too).
stop_nodes() {
	local p q keep=()
	SBC_PIDS=("$@")
	sbc_stop
	for p in "${ALL_PIDS[@]}"; do
		for q in "$@"; do [ "$p" = "$q" ] && continue 2; done
		keep+=("$p")
	done
	ALL_PIDS=("${keep[@]}")
}
field() { sed -nE "s/.*[ ]$1=([^ ]+).*/\1/p"; }

# ---- clusters --------------------------------------------------------------
# start_nodes DIR BIN: three nodes of BIN in DIR (SBC_NODE_KEYS in their
# files), pids in SBC_PIDS and ALL_PIDS. A port taken between its probe
# and the node's bind (other work on this host) costs a retry.
start_nodes() {
	local try
	for try in 1 2 3; do
		SBC_PIDS=()
		if BIN=$2 sbc_start "$1" 3 2 1M 64; then
			ALL_PIDS+=("${SBC_PIDS[@]}")
			return 0
		fi
		sbc_stop
		rm -rf "$1"
		echo "bench-failover: starting the nodes again ($try)" >&2
	done
	return 1
}

# new_cluster DIR PREFIX: three nodes of NEW_BIN registered in the store
# under PREFIX, LUN bench (LUN_SIZE) written once; sets CONF_PLAIN (no
# etcd) and CONF_ETCD (the same nodes, with the store); the nodes' pids
# in SBC_PIDS.
new_cluster() {
	local dir=$1 prefix=$2
	SBC_NODE_KEYS=("etcd=$SBE_ENDPOINTS" "etcd_prefix=$prefix"
		"node_ttl=$NODE_TTL")
	start_nodes "$dir" "$NEW_BIN"
	SBC_NODE_KEYS=()
	CONF_PLAIN=$SBC_CONF
	CONF_ETCD=$dir/cluster-etcd.conf
	awk -v e="$SBE_ENDPOINTS" -v p="$prefix" '{print}
		/^\[cluster\]$/ {print "etcd = " e; print "etcd_prefix = " p}' \
		"$CONF_PLAIN" >"$CONF_ETCD"
	wait_registered "$CONF_ETCD"
	"$NEW_BIN/spanblkctl" -c "$CONF_ETCD" lun create bench "$LUN_SIZE" >/dev/null
	"$NEW_BIN/spanblk-bench" -c "$CONF_ETCD" --lun bench --rw write --bs 1M \
		--qd 8 --time 0.1 --prefill >/dev/null
}

# wait_registered CONF: until spanblkctl status sees every node up in the
# store (it exits 0 then).
wait_registered() {
	for _ in $(seq 1 100); do
		"$NEW_BIN/spanblkctl" -c "$1" status >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "bench-failover: the nodes did not register in etcd" >&2
	"$NEW_BIN/spanblkctl" -c "$1" status >&2 || :
	return 1
}

# ---- cost: plain, etcd (and base) in the same rounds ----------------------
# one_cost VARIANT ROUND RW BS QD: one run, its line in RAW.
one_cost() {
	local v=$1 r=$2 line
	case $v in
	plain) SBC_CONF=$CONF_PLAIN BIN=$NEW_BIN ;;
	etcd) SBC_CONF=$CONF_ETCD BIN=$NEW_BIN ;;
	base) SBC_CONF=$CONF_BASE BIN=$BASE_BIN ;;
	esac
	if [ "$v" = base ]; then
		SBC_PIDS=("${BASE_PIDS[@]}")
	else
		SBC_PIDS=("${NEW_PIDS[@]}")
	fi
	load_sample
	line=$(sbc_bench_one "$3" "$4" "$5" "$SECS")
	echo "cost variant=$v round=$r row=$3:$4:$5 $line" >>"$RAW"
	if [ "$(echo " $line" | field errors)" != 0 ]; then
		echo "bench-failover: errors in $v $3 $4: $line" >&2
		return 1
	fi
}

part_cost() {
	local vs=(plain etcd) r k v spec rw bs qd n
	log ""
	log "## cost without failures: rounds=$ROUNDS seconds=$SECS rows='$ROWS'"
	if [ -n "$BASE_BIN" ]; then
		vs+=(base)
		start_nodes "$DIR/base" "$BASE_BIN"
		BASE_PIDS=("${SBC_PIDS[@]}")
		CONF_BASE=$SBC_CONF
		"$BASE_BIN/spanblkctl" -c "$CONF_BASE" lun create bench 1G >/dev/null
		"$BASE_BIN/spanblk-bench" -c "$CONF_BASE" --lun bench --rw write \
			--bs 1M --qd 8 --time 0.1 --prefill >/dev/null
		log "# base: $BASE_BIN ($(git -C "$BASE_BIN/.." log -1 --format=%h 2>/dev/null || echo '?'))"
	fi
	new_cluster "$DIR/cost" /spanblk-failover/cost/
	NEW_PIDS=("${SBC_PIDS[@]}")
	n=${#vs[@]}
	log "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
	for r in $(seq "$ROUNDS"); do
		for spec in $ROWS; do
			IFS=: read -r rw bs qd <<<"$spec"
			for k in $(seq 0 $((n - 1))); do
				v=${vs[$(((k + r) % n))]}
				one_cost "$v" "$r" "$rw" "$bs" "$qd"
			done
		done
		echo "# cost: round $r of $ROUNDS done" >&2
	done
	log "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
	stop_nodes "${NEW_PIDS[@]}" "${BASE_PIDS[@]}"
	"$REPORT" cost "$RAW" | tee -a "$RES"
}

# ---- failover --------------------------------------------------------------
# one_failure KIND REP: a fresh cluster, the run, the analysis line in RAW.
one_failure() {
	local kind=$1 rep=$2 dir=$DIR/f-$1-$2 sig victim t_fail stale
	local out err
	case $kind in
	kill) sig=KILL ;;
	stop) sig=STOP ;;
	*)
		echo "bench-failover: FAILS takes kill and stop, not $kind" >&2
		return 2
		;;
	esac
	new_cluster "$dir" "/spanblk-failover/$kind-$rep/"
	victim=${SBC_PIDS[1]} # node 2
	out=$dir/bench.out
	err=$dir/bench.err
	load_sample
	# with --timeline the -v log lines carry their Unix time
	"$NEW_BIN/spanblk-bench" -c "$CONF_ETCD" --lun bench --rw randwrite \
		--bs 4k --qd "$FAIL_QD" --time "$FAIL_SECS" --timeline 10 -v \
		>"$out" 2>"$err" &
	BENCH_PID=$!
	until grep -qs '^running' "$out"; do
		kill -0 "$BENCH_PID" 2>/dev/null || break
		sleep 0.02
	done
	sleep "$FAIL_AT"
	t_fail=$EPOCHREALTIME
	kill -"$sig" "$victim"
	[ "$kind" != stop ] || STOPPED=$victim
	wait "$BENCH_PID" || echo "bench-failover: spanblk-bench exit $? ($kind $rep)" >&2
	BENCH_PID=
	stale=$("$NEW_BIN/spanblkctl" -c "$CONF_ETCD" status 2>/dev/null |
		sed -nE 's/^ *([0-9]+) chunks with replicas that missed.*/\1/p' || :)
	if [ -n "$STOPPED" ]; then
		kill -CONT "$STOPPED" 2>/dev/null || :
		STOPPED=
	fi
	stop_nodes "${SBC_PIDS[@]}"
	echo "failover kind=$kind rep=$rep stale=${stale:-0} t_fail=$t_fail $("$REPORT" run "$out" "$err" "$t_fail" "$kind")" >>"$RAW"
	tail -n 1 "$RAW" >&2
	cp "$out" "$OUT/failover-$kind-$rep.out"
	cp "$err" "$OUT/failover-$kind-$rep.log"
	rm -rf "$dir"
}

part_failover() {
	local rep kind
	log ""
	log "## failover: randwrite 4k qd $FAIL_QD over a $LUN_SIZE LUN, ${FAIL_SECS} s runs, node 2 signalled at ${FAIL_AT} s, node_ttl $NODE_TTL, reps=$REPS fails='$FAILS'"
	log "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
	for rep in $(seq "$REPS"); do
		for kind in $FAILS; do
			one_failure "$kind" "$rep"
		done
	done
	log "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
	"$REPORT" failover "$RAW" | tee -a "$RES"
}

# ---- run -------------------------------------------------------------------
log "# spanblk failure handling $(date -u '+%F %H:%M') UTC, $(nproc) cores, kernel $(uname -r), code $(git log -1 --format=%h 2>/dev/null || echo '?')"
log "# data folder $DIR on $(findmnt -nf -o FSTYPE -T "$DIR"), etcd ($ETCD_MEMBERS member(s)) in $EDIR on $(findmnt -nf -o FSTYPE -T "$EDIR")"
: >"$OUT/load.txt"
sbe_start "$EDIR" "$ETCD_MEMBERS"
start=$(date +%s)
for part in $PARTS; do
	case $part in
	cost) part_cost ;;
	failover) part_failover ;;
	*)
		echo "bench-failover: PARTS takes cost and failover, not $part" >&2
		exit 2
		;;
	esac
done
log ""
log "# 1-min load average before each run: $(awk '{print $2}' "$OUT/load.txt" | sort -g |
	awk '{a[NR]=$1} END {if (NR) printf "%d samples, min %s, median %s, max %s", NR, a[1], a[int((NR+1)/2)], a[NR]}')"
log "# took $(($(date +%s) - start)) s; every run in $RAW"
