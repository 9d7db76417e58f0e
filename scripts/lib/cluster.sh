# shellcheck shell=bash
# Shared by scripts/demo.sh and scripts/bench.sh: a cluster of spanblkd on
# 127.0.0.1 in a folder of its own. Source it, then:
#   sbc_start DIR N REPLICAS CHUNK [QUEUE_DEPTH]  write configs, start nodes
#   sbc_stop                                       SIGTERM every node, wait
#   SBC_CONF  the cluster file      SBC_PIDS  the nodes' pids
#   SBC_NODE_KEYS  extra KEY=VALUE lines for every node's file (set it
#                  before sbc_start, e.g. etcd=... node_ttl=3)
#   SBC_CLUSTER_KEYS  the same for the cluster file (e.g. etcd=...)
# BIN (default build) says where spanblkd is. The config files come from
# scripts/lib/conf.sh, CPU ticks (sbp_cpu_ticks) from scripts/lib/proc.sh.

BIN=${BIN:-build}
SBC_PIDS=()
SBC_CONF=
SBC_NODE_KEYS=()
SBC_CLUSTER_KEYS=()

# shellcheck source=scripts/lib/conf.sh
. "$(dirname "${BASH_SOURCE[0]}")/conf.sh"
# shellcheck source=scripts/lib/proc.sh
. "$(dirname "${BASH_SOURCE[0]}")/proc.sh"

sbc_wait_port() { # port pid -> 0 once the port accepts
	local i
	for i in $(seq 1 100); do
		sbp_port_open 127.0.0.1 "$1" && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

sbc_start() { # dir n replicas chunk [qd]
	local dir=$1 n=$2 replicas=$3 chunk=$4 qd=${5:-64} i port
	local base=$((20000 + RANDOM % 20000))
	mkdir -p "$dir"
	SBC_CONF=$dir/cluster.conf
	sbconf_secret "$dir/secret"
	sbconf_cluster "$SBC_CONF" replicas="$replicas" chunk_size="$chunk" \
		secret_file="$dir/secret" queue_depth="$qd" io_timeout_ms=10000 \
		"${SBC_CLUSTER_KEYS[@]}"
	port=$base
	for i in $(seq 1 "$n"); do
		while sbp_port_open 127.0.0.1 "$port"; do port=$((port + 1)); done
		mkdir -p "$dir/node$i"
		sbconf_node "$dir/node$i.conf" "$i" 127.0.0.1 "$port" \
			"$dir/node$i" "$dir/secret" "${SBC_NODE_KEYS[@]}"
		sbconf_cluster_node "$SBC_CONF" "$i" 127.0.0.1 "$port"
		"$BIN/spanblkd" -c "$dir/node$i.conf" 2>"$dir/node$i.log" &
		SBC_PIDS+=($!)
		if ! sbc_wait_port "$port" "${SBC_PIDS[-1]}"; then
			echo "spanblkd $i did not start:" >&2
			cat "$dir/node$i.log" >&2
			return 1
		fi
		port=$((port + 1))
	done
}

sbc_stop() { # (a node already gone, e.g. killed by a test, is fine)
	local p
	for p in "${SBC_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || :; done
	for p in "${SBC_PIDS[@]}"; do wait "$p" 2>/dev/null || :; done
	SBC_PIDS=()
}

# One spanblk-bench run against the cluster started by sbc_start (extra
# arguments go to spanblk-bench, e.g. --fua): its "result:" line with
# bench_ticks= (the benchmark's own CPU: the children a subshell reaped,
# the benchmark and its grep) and node_ticks= (the nodes' CPU meanwhile)
# appended.
sbc_bench_one() { # rw bs qd seconds [spanblk-bench args...]
	local before after line
	before=$(sbp_cpu_ticks "${SBC_PIDS[@]}")
	line=$({
		"$BIN/spanblk-bench" -c "$SBC_CONF" --lun bench --rw "$1" \
			--bs "$2" --qd "$3" --time "$4" "${@:5}" |
			grep "^result:"
		sh_pid=$BASHPID
		echo "bench_ticks=$(sbp_cpu_children_ticks "$sh_pid")"
	} | tr '\n' ' ')
	after=$(sbp_cpu_ticks "${SBC_PIDS[@]}")
	echo "$line node_ticks=$((after - before))"
}
