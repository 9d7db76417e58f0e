# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash disable=SC2034
# (SC2034: the VMG_* globals are results for the callers)
# The storage nodes of a guest scenario (sourced through tests/vm/lib.sh):
# the cluster file, secret and node files (written by scripts/lib/conf.sh,
# the writer the host scripts use too), starting, restarting and stopping
# spanblkd from SBVM_REPO/build, and what the nodes report (spanblkctl
# counters, bytes on disk). One scenario at a time, as root.
#
# State: VMG_NODES (how many), VMG_NODE_ROOT (their data and config
# files), VMG_NODE_ADDRS (node I's address at I-1; empty: 127.0.0.I+1),
# VMG_NODE_PIDS (node I's pid at I-1), VMG_ETCD (the cluster store's
# endpoints after vmg_etcd_up: the cluster file and every node file
# written after it name them; empty: no store).

VMG_ETCD=

# shellcheck source=scripts/lib/etcd.sh
. "$VM_LIB_DIR/../../scripts/lib/etcd.sh"

# vmg_etcd_up DIR N: N etcd members on 127.0.0.1 with their data in DIR
# (docs/recovery.md); sets VMG_ETCD for the configs written afterwards.
vmg_etcd_up() {
	command -v etcd >/dev/null ||
		vmg_fail "etcd missing (apt-get install etcd-server)"
	SBE_HEARTBEAT_MS=250 SBE_ELECTION_MS=2500 sbe_start "$1" "$2" ||
		vmg_fail "etcd did not start (logs in $1)"
	local p
	for p in "${SBE_PIDS[@]}"; do vmg_made pid "$p"; done
	VMG_ETCD=$SBE_ENDPOINTS
	vmg_info "etcd: $2 member(s) at $VMG_ETCD"
}

# vmg_store_keys [node]: the etcd key of a config when a store is up;
# for a node file also node_ttl=VMG_NODE_TTL (default 10: an emulated
# guest under fio answers etcd slowly, and a lease that expires only
# because the machine is slow takes a live node out).
vmg_store_keys() {
	[ -n "$VMG_ETCD" ] || return 0
	echo "etcd=$VMG_ETCD"
	[ "${1:-}" = node ] && echo "node_ttl=${VMG_NODE_TTL:-10}"
	return 0
}

# vmg_cluster_up DATA_ROOT N [REPLICAS]: N spanblkd (from SBVM_REPO/build)
# on 127.0.0.2, 127.0.0.3, ... port 7400 (every 127/8 address is on lo),
# data in DATA_ROOT/nodeI. Writes the cluster file and secret where the
# handler looks by default (/etc/spanblk/, in the guest's tmpfs overlay),
# so targetcli_snippets/ apply unchanged. Sets VMG_NODE_PIDS, VMG_NODES.
vmg_cluster_up() {
	local root=$1 n=$2 replicas=${3:-2} i
	VMG_NODE_ADDRS=()
	vmg_cluster_conf "$root" "$n" "$replicas"
	for i in $(seq 1 "$n"); do
		vmg_node_conf "$i"
	done
	vmg_nodes_start
}

# vmg_cluster_conf DATA_ROOT N REPLICAS [KEY=VALUE...]: a new secret and
# cluster file in /etc/spanblk/ ([cluster] replicas, secret_file, then the
# KEY=VALUEs; node I at vmg_node_addr I, port 7400), a copy of the file in
# SBVM_OUT/logs/, and the nodes' data folders DATA_ROOT/nodeI. Sets
# VMG_NODES, VMG_NODE_ROOT.
vmg_cluster_conf() {
	local root=$1 n=$2 replicas=$3 conf=/etc/spanblk/cluster.conf i
	shift 3
	mkdir -p /etc/spanblk "$root" "$SBVM_OUT/logs"
	sbconf_secret /etc/spanblk/secret
	# shellcheck disable=SC2046 # one KEY=VALUE word, or none
	sbconf_cluster "$conf" replicas="$replicas" \
		secret_file=/etc/spanblk/secret $(vmg_store_keys) "$@"
	for i in $(seq 1 "$n"); do
		sbconf_cluster_node "$conf" "$i" "$(vmg_node_addr "$i")" 7400
		mkdir -p "$root/node$i"
	done
	cp "$conf" "$SBVM_OUT/logs/cluster.conf"
	VMG_NODES=$n
	VMG_NODE_ROOT=$root
}

# vmg_node_conf I [KEY=VALUE...]: writes node I's config (listening on
# vmg_node_addr I, port 7400, data in VMG_NODE_ROOT/nodeI, the cluster's
# secret; then the KEY=VALUEs) to VMG_NODE_ROOT/nodeI.conf, with a copy in
# SBVM_OUT/logs/.
vmg_node_conf() {
	local i=$1 f=$VMG_NODE_ROOT/node$1.conf
	shift
	# shellcheck disable=SC2046 # one KEY=VALUE word, or none
	sbconf_node "$f" "$i" "$(vmg_node_addr "$i")" 7400 \
		"$VMG_NODE_ROOT/node$i" /etc/spanblk/secret $(vmg_store_keys node) "$@"
	cp "$f" "$SBVM_OUT/logs/node$i.conf"
}

vmg_nodes_start() { # (re)starts every node of vmg_cluster_up, waits for ports
	local i
	VMG_NODE_PIDS=()
	for i in $(seq 1 "$VMG_NODES"); do
		vmg_node_start "$i"
	done
}

# vmg_node_addr I: the address node I listens on (VMG_NODE_ADDRS, else
# 127.0.0.I+1 as vmg_cluster_up sets them).
vmg_node_addr() {
	local a=${VMG_NODE_ADDRS[$(($1 - 1))]:-}
	echo "${a:-127.0.0.$(($1 + 1))}"
}

# vmg_node_start I: (re)starts node I with its config, waits for its port;
# its pid goes to VMG_NODE_PIDS[I-1].
vmg_node_start() {
	local i=$1 pid addr
	addr=$(vmg_node_addr "$i")
	"$SBVM_REPO/build/spanblkd" -c "$VMG_NODE_ROOT/node$i.conf" \
		>>"$SBVM_OUT/logs/node$i.log" 2>&1 </dev/null &
	pid=$!
	VMG_NODE_PIDS[i - 1]=$pid
	vmg_made pid "$pid"
	for _ in $(seq 1 200); do
		sbp_port_open "$addr" 7400 && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	tail -n 5 "$SBVM_OUT/logs/node$i.log"
	vmg_fail "spanblkd $i did not start listening on $addr:7400"
}

# vmg_node_stop I: SIGTERM node I and wait; fails unless it exits 0.
vmg_node_stop() {
	local pid=${VMG_NODE_PIDS[$(($1 - 1))]} rc
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	rc=$?
	[ $rc -eq 0 ] || vmg_fail "spanblkd $1 (pid $pid) exited $rc"
}

vmg_nodes_stop() { # SIGTERM every node; fails if one does not exit 0
	local p rc bad=0
	for p in "${VMG_NODE_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${VMG_NODE_PIDS[@]}"; do
		wait "$p"
		rc=$?
		[ $rc -eq 0 ] || { echo "spanblkd pid $p exited $rc"; bad=1; }
	done
	VMG_NODE_PIDS=()
	[ $bad -eq 0 ] || vmg_fail "a storage node did not stop cleanly"
}

# vmg_counters: takes one `spanblkctl counters` snapshot for
# vmg_node_counter_of; fails when a node does not answer.
vmg_counters() {
	VMG_COUNTERS=$("$SBVM_REPO/build/spanblkctl" counters 2>&1) ||
		vmg_fail "spanblkctl counters: $VMG_COUNTERS"
}

# vmg_node_counter_of I COLUMN: one column of the last vmg_counters
# snapshot for node I (id I).
vmg_node_counter_of() {
	local out=$VMG_COUNTERS
	printf '%s\n' "$out" | awk -v col="$2" -v id="$1" '
	NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
	$1 == id && $2 == "up" && c { print $c; found = 1 }
	END { exit !found }' ||
		vmg_fail "no column $2 for node $1 in spanblkctl counters: $out"
}

# vmg_node_counter COLUMN: the sum over every node of one column of
# `spanblkctl counters` (READS, WRITES, FLUSHES, UNMAPS, CAWS, BYTES_READ,
# BYTES_WRITTEN, ...); fails when a node does not answer.
vmg_node_counter() {
	local col=$1
	vmg_counters
	printf '%s\n' "$VMG_COUNTERS" | awk -v col="$col" '
	NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
	$2 == "up" && c { sum += $c; n++ }
	END { if (!c || !n) exit 1; printf "%d\n", sum }' ||
		vmg_fail "no column $col in spanblkctl counters: $VMG_COUNTERS"
}

# vmg_node_bytes: bytes the storage nodes' data folders occupy on disk
# (allocated blocks, so holes punched by UNMAP do not count).
vmg_node_bytes() {
	local i total=0 b
	for i in $(seq 1 "$VMG_NODES"); do
		b=$(du -s -B1 "$VMG_NODE_ROOT/node$i" | cut -f1)
		total=$((total + b))
	done
	echo "$total"
}
