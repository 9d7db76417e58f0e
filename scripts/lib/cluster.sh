# shellcheck shell=bash
# Shared by scripts/demo.sh and scripts/bench.sh: a cluster of spanblkd on
# 127.0.0.1 in a folder of its own. Source it, then:
#   sbc_start DIR N REPLICAS CHUNK [QUEUE_DEPTH]  write configs, start nodes
#   sbc_stop                                       SIGTERM every node, wait
#   SBC_CONF  the cluster file      SBC_PIDS  the nodes' pids
# BIN (default build) says where spanblkd is.

BIN=${BIN:-build}
SBC_PIDS=()
SBC_CONF=

sbc_port_free() { # port -> 0 when nothing listens on 127.0.0.1:port
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

sbc_wait_port() { # port pid -> 0 once the port accepts
	local i
	for i in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
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
	head -c 32 /dev/urandom | base64 >"$dir/secret"
	chmod 600 "$dir/secret"
	{
		echo "[cluster]"
		echo "replicas = $replicas"
		echo "chunk_size = $chunk"
		echo "secret_file = $dir/secret"
		echo "queue_depth = $qd"
		echo "io_timeout_ms = 10000"
	} >"$SBC_CONF"
	port=$base
	for i in $(seq 1 "$n"); do
		while ! sbc_port_free "$port"; do port=$((port + 1)); done
		mkdir -p "$dir/node$i"
		cat >"$dir/node$i.conf" <<CONF
[node]
id = $i
listen = 127.0.0.1
port = $port
data_dir = $dir/node$i
secret_file = $dir/secret
CONF
		printf '[node.%s]\naddress = 127.0.0.1\nport = %s\n' "$i" "$port" >>"$SBC_CONF"
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

sbc_stop() {
	local p
	for p in "${SBC_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${SBC_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	SBC_PIDS=()
}

sbc_cpu_ticks() { # pid... -> utime+stime in clock ticks, summed
	local p t=0 s
	for p in "$@"; do
		s=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) || s=0
		t=$((t + ${s:-0}))
	done
	echo "$t"
}
