#!/usr/bin/env bash
# Two builds of spanblk side by side in one run (docs/benchmarks.md,
# "Two builds compared"): the same three-node cluster on 127.0.0.1 and the
# same spanblk-bench rows as scripts/bench.sh, each round running build A
# then build B (the order alternates every round), so both see the same
# machine noise. Reports, per row, the median of each build, B/A, and the
# spread of each build's own rounds (max/min): a B/A inside that spread is
# within the noise.
#
#   scripts/bench-ab.sh A_BIN B_BIN     e.g. ../base/build build
#   ROUNDS=5 SECS=8 scripts/bench-ab.sh ...
#   ROWS="read:1M:32" scripts/bench-ab.sh ...   one row only
#   ETCD=1 scripts/bench-ab.sh ...   both sides with a cluster store (one
#                                    etcd member on tmpfs, fresh each run)
#
# Each BIN folder needs spanblkd, spanblkctl and spanblk-bench (make all).
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -eq 2 ] || {
	echo "usage: $0 A_BIN B_BIN" >&2
	exit 2
}
A_BIN=$(cd "$1" && pwd)
B_BIN=$(cd "$2" && pwd)
for b in "$A_BIN" "$B_BIN"; do
	for p in spanblkd spanblkctl spanblk-bench; do
		[ -x "$b/$p" ] || {
			echo "bench-ab: $b/$p missing (make all)" >&2
			exit 2
		}
	done
done
ROUNDS=${ROUNDS:-5}
SECS=${SECS:-8}
OUT=${OUT:-build/bench-ab}
mkdir -p "$OUT"
# shellcheck source=scripts/lib/cluster.sh
. scripts/lib/cluster.sh
# shellcheck source=scripts/lib/etcd.sh
. scripts/lib/etcd.sh
ETCD=${ETCD:-0}

DIR=$(mktemp -d "${TMPDIR:-/var/tmp}/spanblk-ab-XXXXXX")
cleanup() {
	sbc_stop
	sbe_stop || :
	rm -rf "$DIR"
}
trap cleanup EXIT

HZ=$(getconf CLK_TCK)
field() { sed -nE "s/.*[ ]$1=([^ ]+).*/\1/p"; }
# ROWS="read:1M:32 ..." measures only those rows (rw:bs:qd).
read -r -a SPECS <<<"${ROWS:-randwrite:4k:32 randread:4k:32 write:1M:32 read:1M:32}"
RAW="$OUT/raw.txt"
: >"$RAW"

one_side() { # side-name bin-dir round
	local side=$1 r=$3 spec rw bs qd line bt nt ios
	BIN=$2
	rm -rf "$DIR/cluster"
	if [ "$ETCD" = 1 ]; then
		rm -rf /dev/shm/spanblk-ab-etcd
		sbe_start /dev/shm/spanblk-ab-etcd 1 >/dev/null
		SBC_NODE_KEYS=(etcd="$SBE_ENDPOINTS")
		SBC_CLUSTER_KEYS=(etcd="$SBE_ENDPOINTS")
	fi
	sbc_start "$DIR/cluster" 3 2 1M 64
	"$BIN/spanblkctl" -c "$SBC_CONF" lun create bench 1G >/dev/null
	"$BIN/spanblk-bench" -c "$SBC_CONF" --lun bench --rw write --bs 1M \
		--qd 8 --time 0.1 --prefill >/dev/null
	for spec in "${SPECS[@]}"; do
		IFS=: read -r rw bs qd <<<"$spec"
		line=$(sbc_bench_one "$rw" "$bs" "$qd" "$SECS")
		bt=$(echo " $line" | field bench_ticks)
		nt=$(echo " $line" | field node_ticks)
		ios=$(echo " $line" | field ios)
		echo "side=$side round=$r row=$rw:$bs $line cpu100k=$(awk \
			-v b="$bt" -v n="$nt" -v hz="$HZ" -v io="$ios" \
			'BEGIN {print (b + n) / hz / io * 100000}')" >>"$RAW"
	done
	sbc_stop
	if [ "$ETCD" = 1 ]; then
		sbe_stop || :
		rm -rf /dev/shm/spanblk-ab-etcd
	fi
}

echo "# bench-ab $(date -u '+%F %H:%M') UTC, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
echo "# A=$A_BIN B=$B_BIN rounds=$ROUNDS seconds=$SECS etcd=$ETCD"
for r in $(seq "$ROUNDS"); do
	if [ $((r % 2)) -eq 1 ]; then
		one_side A "$A_BIN" "$r"
		one_side B "$B_BIN" "$r"
	else
		one_side B "$B_BIN" "$r"
		one_side A "$A_BIN" "$r"
	fi
	echo "# round $r of $ROUNDS done" >&2
done

python3 - "$RAW" <<'EOF'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    kv = dict(re.findall(r'(\w+)=(\S+)', line))
    key = kv['row']
    metric = 'iops' if key.endswith(':4k') else 'mib_s'
    d = rows.setdefault(key, {'A': [], 'B': [], 'cA': [], 'cB': [],
                              'metric': metric})
    d[kv['side']].append(float(kv[metric]))
    d['c' + kv['side']].append(float(kv['cpu100k']))
print('| row | A median | B median | B/A | A spread | B spread | '
      'CPU s/100k A | CPU s/100k B | B/A CPU |')
print('|---|---|---|---|---|---|---|---|---|')
for key, d in rows.items():
    ma, mb = statistics.median(d['A']), statistics.median(d['B'])
    ca, cb = statistics.median(d['cA']), statistics.median(d['cB'])
    sa = max(d['A']) / min(d['A'])
    sb = max(d['B']) / min(d['B'])
    print(f"| {key} {d['metric']} | {ma:.0f} | {mb:.0f} | {mb / ma:.2f} | "
          f"{sa:.2f} | {sb:.2f} | {ca:.1f} | {cb:.1f} | {cb / ca:.2f} |")
EOF
