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
#             with --timeline 10; FAIL_AT seconds in, node 2 gets SIGKILL
#             ("kill") or SIGSTOP ("stop", a hung node, continued after
#             the run); REPS repetitions of each, alternating, each on a
#             fresh cluster and etcd prefix (no stale records yet). Per
#             run: the stall (the first interval without any completion
#             that ends after the failure and begins less than 0.5 s
#             after it), the time from the signal to the first
#             completion after the stall, the longest write latency, when
#             the gateway saw the connection drop and the node down in
#             the store (its -v log, stamped as it arrives), and the
#             write rate around it: before, in the first, second and
#             third second after the stall, and from 5 s after it to the
#             end ("later"), with the number of chunks recorded stale.
#
#   scripts/bench-failover.sh                  results on stdout and in
#                                              build/bench-failover/
#   BASE_BIN=/tmp/base/build scripts/bench-failover.sh
#   PARTS=failover REPS=3 scripts/bench-failover.sh
#
# Knobs: ROUNDS (5), SECS (5), ROWS ("randwrite:4k:32 randread:4k:32
# write:1M:32 read:1M:32"), REPS (5), FAIL_SECS (16), FAIL_AT (3),
# FAIL_QD (16), FAILS ("kill stop"), NODE_TTL (3, the nodes' lease),
# ETCD_MEMBERS (1), ETCD_DIR (the data folder: etcd's data next to the
# nodes'), TMPDIR (/var/tmp), PARTS ("cost failover"), OUT.
# About 8 minutes with the defaults (10 with BASE_BIN). Needs etcd
# (Debian: etcd-server), curl and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

NEW_BIN=${BIN:-build}
BASE_BIN=${BASE_BIN:-}
ROUNDS=${ROUNDS:-5}
SECS=${SECS:-5}
ROWS=${ROWS:-randwrite:4k:32 randread:4k:32 write:1M:32 read:1M:32}
REPS=${REPS:-5}
FAIL_SECS=${FAIL_SECS:-16}
FAIL_AT=${FAIL_AT:-3}
FAIL_QD=${FAIL_QD:-16}
FAILS=${FAILS:-kill stop}
NODE_TTL=${NODE_TTL:-3}
ETCD_MEMBERS=${ETCD_MEMBERS:-1}
PARTS=${PARTS:-cost failover}
OUT=${OUT:-build/bench-failover}
NEW_BIN=$(cd "$NEW_BIN" && pwd)
BIN=$NEW_BIN
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
# new_cluster DIR PREFIX: three nodes of BIN registered in the store under
# PREFIX, LUN bench written once; sets CONF_PLAIN (no etcd) and CONF_ETCD
# (the same nodes, with the store); the nodes' pids in SBC_PIDS.
new_cluster() {
	local dir=$1 prefix=$2
	SBC_PIDS=()
	SBC_NODE_KEYS=("etcd=$SBE_ENDPOINTS" "etcd_prefix=$prefix"
		"node_ttl=$NODE_TTL")
	BIN=$NEW_BIN sbc_start "$dir" 3 2 1M 64
	ALL_PIDS+=("${SBC_PIDS[@]}")
	SBC_NODE_KEYS=()
	CONF_PLAIN=$SBC_CONF
	CONF_ETCD=$dir/cluster-etcd.conf
	awk -v e="$SBE_ENDPOINTS" -v p="$prefix" '{print}
		/^\[cluster\]$/ {print "etcd = " e; print "etcd_prefix = " p}' \
		"$CONF_PLAIN" >"$CONF_ETCD"
	wait_registered "$CONF_ETCD"
	"$NEW_BIN/spanblkctl" -c "$CONF_ETCD" lun create bench 1G >/dev/null
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
		SBC_PIDS=()
		BIN=$BASE_BIN sbc_start "$DIR/base" 3 2 1M 64
		ALL_PIDS+=("${SBC_PIDS[@]}")
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
	python3 - "$RAW" "$(getconf CLK_TCK)" <<'EOF' | tee -a "$RES"
import re, statistics as st, sys
hz = float(sys.argv[2])
rows = {}
for line in open(sys.argv[1]):
    if not line.startswith('cost '):
        continue
    kv = dict(re.findall(r'(\w+)=(\S+)', line))
    row = kv['row']
    metric = 'iops' if ':4k:' in row else 'mib_s'
    d = rows.setdefault(row, {'metric': metric})
    r = int(kv['round'])
    # the gateway's CPU (spanblk-bench's, during the run only) per I/O,
    # microseconds: the nodes are the same processes for plain and etcd
    cpu = float(kv.get('cpu_s', 0)) / int(kv['ios']) * 1e6
    d.setdefault(kv['variant'], {})[r] = (float(kv[metric]), cpu)
def med(xs): return st.median(xs)
def paired(d, a, b, i=0):
    rs = [d[a][r][i] / d[b][r][i] for r in d[a] if r in d[b]]
    return med(rs), min(rs), max(rs)
def spread(d, v):
    xs = [x[0] for x in d[v].values()]
    return max(xs) / min(xs)
base = any('base' in d for d in rows.values())
print('| row | plain | etcd | etcd/plain (paired median, range) | '
      'plain spread | etcd spread | gateway CPU us/IO plain, etcd | '
      'its etcd/plain (paired) |'
      + (' base | plain/base (paired median, range) | base spread |'
         if base else ''))
print('|---|---|---|---|---|---|---|---|' + ('---|---|---|' if base else ''))
for row, d in rows.items():
    m = d['metric']
    fmt = (lambda x: f'{x:,.0f}') if m == 'iops' else (lambda x: f'{x:.0f}')
    mp = med([x[0] for x in d['plain'].values()])
    me = med([x[0] for x in d['etcd'].values()])
    cp = med([x[1] for x in d['plain'].values()])
    ce = med([x[1] for x in d['etcd'].values()])
    pm, plo, phi = paired(d, 'etcd', 'plain')
    qm, qlo, qhi = paired(d, 'etcd', 'plain', 1)
    out = (f'| {row} {m} | {fmt(mp)} | {fmt(me)} | **{pm:.2f}** '
           f'({plo:.2f}-{phi:.2f}) | {spread(d, "plain"):.2f} | '
           f'{spread(d, "etcd"):.2f} | {cp:.1f}, {ce:.1f} | '
           f'{qm:.2f} ({qlo:.2f}-{qhi:.2f}) |')
    if base:
        mb = med([x[0] for x in d['base'].values()])
        bm, blo, bhi = paired(d, 'plain', 'base')
        out += (f' {fmt(mb)} | **{bm:.2f}** ({blo:.2f}-{bhi:.2f}) | '
                f'{spread(d, "base"):.2f} |')
    print(out)
EOF
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
	# stderr (the gateway's -v log) stamped with the time each line came
	load_sample
	"$NEW_BIN/spanblk-bench" -c "$CONF_ETCD" --lun bench --rw randwrite \
		--bs 4k --qd "$FAIL_QD" --time "$FAIL_SECS" --timeline 10 -v \
		>"$out" 2> >(while IFS= read -r l; do
			echo "$EPOCHREALTIME $l"
		done >"$err") &
	BENCH_PID=$!
	until grep -q '^running' "$out"; do
		kill -0 "$BENCH_PID" 2>/dev/null || break
		sleep 0.02
	done
	sleep "$FAIL_AT"
	t_fail=$EPOCHREALTIME
	kill -"$sig" "$victim"
	[ "$kind" = stop ] && STOPPED=$victim
	wait "$BENCH_PID" || echo "bench-failover: spanblk-bench exit $? ($kind $rep)" >&2
	BENCH_PID=
	sleep 0.2 # the stamping loop's last lines
	stale=$("$NEW_BIN/spanblkctl" -c "$CONF_ETCD" status 2>/dev/null |
		sed -nE 's/^ *([0-9]+) chunks with replicas that missed.*/\1/p' || :)
	if [ -n "$STOPPED" ]; then
		kill -CONT "$STOPPED" 2>/dev/null || :
		STOPPED=
	fi
	stop_nodes "${SBC_PIDS[@]}"
	python3 - "$out" "$err" "$t_fail" <<'EOF' | sed "s/^/failover kind=$kind rep=$rep stale=${stale:-0} /" >>"$RAW"
import re, sys
out, err, t_fail = sys.argv[1], sys.argv[2], float(sys.argv[3])
t0 = bucket = None
gaps, ios, res = [], {}, {}
for line in open(out):
    m = re.match(r'timeline: start_unix=(\S+) bucket_ms=(\d+)', line)
    if m:
        t0, bucket = float(m.group(1)), int(m.group(2)) / 1000
    m = re.match(r'gap: from_unix=(\S+) to_unix=(\S+)', line)
    if m:
        gaps.append((float(m.group(1)), float(m.group(2))))
    m = re.match(r'timeline: t_ms=(\d+) ios=(\d+)', line)
    if m:
        ios[int(m.group(1)) / 1000] = int(m.group(2))
    if line.startswith('result:'):
        res = dict(re.findall(r'(\w+)=(\S+)', line))
def rate(a, b):  # writes per second completed in [a, b) (Unix times)
    n = sum(c for t, c in ios.items() if a <= t0 + t and t0 + t + bucket <= b)
    return n / (b - a) if b > a else 0
end = t0 + float(res['seconds'])
# the stall: the longest gap that ends after the signal and begins less
# than 0.5 s after it (a short gap of the noise may hold the signal)
stall = [g for g in gaps if g[1] > t_fail and g[0] < t_fail + 0.5]
g = max(stall, key=lambda g: g[1] - g[0]) if stall else (t_fail, t_fail)
after = g[1]
def logged(text):
    for line in open(err):
        if text in line:
            return (float(line.split()[0]) - t_fail) * 1000
    return -1
later = rate(after + 5, end)
# back to speed: the first 0.5 s window after the stall at 80 % of later
recover = -1
t = after
while later > 0 and t + 0.5 <= end:
    if rate(t, t + 0.5) >= 0.8 * later:
        recover = (t - after) * 1000
        break
    t += bucket
print(f'stall_ms={(g[1] - g[0]) * 1000:.0f} first_ms={(after - t_fail) * 1000:.0f}'
      f' lat_max_ms={int(res["lat_max_us"]) / 1000:.0f}'
      f' lost_ms={logged("connection lost"):.0f}'
      f' refused_ms={logged("refuses connections"):.0f}'
      f' down_ms={logged("down in the cluster store"):.0f}'
      f' iops_before={rate(t_fail - 2, t_fail):.0f}'
      f' iops_0_1={rate(after, after + 1):.0f}'
      f' iops_1_2={rate(after + 1, after + 2):.0f}'
      f' iops_2_3={rate(after + 2, after + 3):.0f}'
      f' iops_later={later:.0f} later_s={max(end - after - 5, 0):.1f}'
      f' recover_ms={recover:.0f}'
      f' iops={res["iops"]} errors={res["errors"]}')
EOF
	tail -n 1 "$RAW" >&2
	cp "$out" "$OUT/failover-$kind-$rep.out"
	cp "$err" "$OUT/failover-$kind-$rep.log"
	rm -rf "$dir"
}

part_failover() {
	local rep kind
	log ""
	log "## failover: randwrite 4k qd $FAIL_QD, ${FAIL_SECS} s runs, node 2 signalled at ${FAIL_AT} s, node_ttl $NODE_TTL, reps=$REPS fails='$FAILS'"
	log "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
	for rep in $(seq "$REPS"); do
		for kind in $FAILS; do
			one_failure "$kind" "$rep"
		done
	done
	log "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
	python3 - "$RAW" <<'EOF' | tee -a "$RES"
import re, statistics as st, sys
runs = {}
for line in open(sys.argv[1]):
    if line.startswith('failover '):
        kv = dict(re.findall(r'(\w+)=(\S+)', line))
        runs.setdefault(kv['kind'], []).append(kv)
keys = [('stall_ms', 'stall, ms'), ('first_ms', 'signal to first completion after it, ms'),
        ('lat_max_ms', 'longest write, ms'), ('lost_ms', 'connection lost, ms'),
        ('refused_ms', 'refused, lease revoked, ms'),
        ('down_ms', 'down in the store, ms'),
        ('iops_before', 'IOPS, 2 s before'), ('iops_0_1', 'IOPS, 1st s after the stall'),
        ('iops_1_2', 'IOPS, 2nd s'), ('iops_2_3', 'IOPS, 3rd s'),
        ('iops_later', 'IOPS, from 5 s after to the end'),
        ('recover_ms', 'stall end to 80 % of later (0.5 s windows), ms'),
        ('stale', 'chunks recorded stale')]
kinds = list(runs)
print('| measurement | ' + ' | '.join(f'{k}: median (range), {len(runs[k])} runs'
                                    for k in kinds) + ' |')
print('|---|' + '---|' * len(kinds))
for key, name in keys:
    cells = []
    for k in kinds:
        xs = [float(r[key]) for r in runs[k] if float(r[key]) >= 0]
        cells.append(f'{st.median(xs):.0f} ({min(xs):.0f}-{max(xs):.0f})'
                     if xs else '-')
    print(f'| {name} | ' + ' | '.join(cells) + ' |')
for k in kinds:
    rs = [float(r['iops_0_1']) / float(r['iops_later']) for r in runs[k]
          if float(r['iops_later']) > 0]
    r2 = [float(r['iops_later']) / float(r['iops_before']) for r in runs[k]
          if float(r['iops_before']) > 0]
    pr = [float(r['recover_ms']) / float(r['stale']) for r in runs[k]
          if float(r['recover_ms']) >= 0 and float(r['stale']) > 0]
    if rs and r2:
        print(f'# {k}: 1st s after the stall / later: median {st.median(rs):.2f} '
              f'({min(rs):.2f}-{max(rs):.2f}); later / before: median '
              f'{st.median(r2):.2f} ({min(r2):.2f}-{max(r2):.2f})')
    if pr:
        print(f'# {k}: time to recover per chunk recorded stale: median '
              f'{st.median(pr):.2f} ms ({min(pr):.2f}-{max(pr):.2f})')
EOF
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
