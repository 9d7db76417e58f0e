# shellcheck shell=bash disable=SC2034
# etcd members for demos and tests (docs/recovery.md): a cluster store of
# N members on one address, each in a folder of its own. Source it, then:
#   sbe_start DIR N [ADDR]   start N members (default 127.0.0.1), wait until
#                            the cluster answers; sets SBE_ENDPOINTS
#   sbe_stop                 stop every member, wait
#   sbe_kill I / sbe_restart I   member I (1..N) down with SIGKILL / back
#   SBE_ENDPOINTS  "http://ADDR:PORT,..." for the configs' etcd key
#   SBE_PIDS       the members' pids (empty entry: member down)
# Needs etcd (Debian: etcd-server) and curl. Ports are picked free from a
# random base; peer traffic stays on ADDR. SBE_HEARTBEAT_MS and
# SBE_ELECTION_MS (default 100 and 1000) set etcd's raft timing; a slow
# machine (an emulated guest) wants them larger.

SBE_PIDS=()
SBE_ENDPOINTS=
SBE_DIR=
SBE_ADDR=
SBE_CLIENT=()
SBE_PEER=()
SBE_INITIAL=

# shellcheck source=scripts/lib/proc.sh
. "$(dirname "${BASH_SOURCE[0]}")/proc.sh"

sbe_free_port() { # addr start -> first port from start with nothing on it
	local p=$2
	while sbp_port_open "$1" "$p"; do p=$((p + 1)); done
	echo "$p"
}

sbe_run_member() { # i state(new|existing)
	local i=$1
	etcd --name "m$i" --data-dir "$SBE_DIR/etcd$i" \
		--listen-client-urls "http://$SBE_ADDR:${SBE_CLIENT[$i]}" \
		--advertise-client-urls "http://$SBE_ADDR:${SBE_CLIENT[$i]}" \
		--listen-peer-urls "http://$SBE_ADDR:${SBE_PEER[$i]}" \
		--initial-advertise-peer-urls "http://$SBE_ADDR:${SBE_PEER[$i]}" \
		--initial-cluster "$SBE_INITIAL" --initial-cluster-state "$2" \
		--initial-cluster-token spanblk-test \
		--heartbeat-interval "${SBE_HEARTBEAT_MS:-100}" \
		--election-timeout "${SBE_ELECTION_MS:-1000}" \
		>"$SBE_DIR/etcd$i.log" 2>&1 &
	SBE_PIDS[i]=$!
}

sbe_healthy() { # -> 0 when a put through the first live member commits
	local i
	for i in "${!SBE_PIDS[@]}"; do
		[ -n "${SBE_PIDS[i]}" ] || continue
		curl -sf -m 2 "http://$SBE_ADDR:${SBE_CLIENT[$i]}/v3/kv/put" \
			-d '{"key":"c3BhbmJsay1oZWFsdGg=","value":"MQ=="}' \
			>/dev/null && return 0
	done
	return 1
}

sbe_start() { # dir n [addr]
	local n=$2 i port=$((30000 + RANDOM % 20000)) eps=()
	SBE_DIR=$1
	SBE_ADDR=${3:-127.0.0.1}
	SBE_INITIAL=
	mkdir -p "$SBE_DIR"
	for i in $(seq 1 "$n"); do
		port=$(sbe_free_port "$SBE_ADDR" "$port")
		SBE_CLIENT[i]=$port
		port=$(sbe_free_port "$SBE_ADDR" $((port + 1)))
		SBE_PEER[i]=$port
		port=$((port + 1))
		SBE_INITIAL+="${SBE_INITIAL:+,}m$i=http://$SBE_ADDR:${SBE_PEER[$i]}"
		eps+=("http://$SBE_ADDR:${SBE_CLIENT[$i]}")
	done
	SBE_ENDPOINTS=$(
		IFS=,
		echo "${eps[*]}"
	)
	for i in $(seq 1 "$n"); do sbe_run_member "$i" new; done
	for i in $(seq 1 100); do
		sbe_healthy && return 0
		sleep 0.1
	done
	echo "etcd did not come up; see $SBE_DIR/etcd*.log" >&2
	return 1
}

sbe_kill() { # i
	[ -n "${SBE_PIDS[$1]:-}" ] || return 0
	kill -KILL "${SBE_PIDS[$1]}" 2>/dev/null
	wait "${SBE_PIDS[$1]}" 2>/dev/null
	SBE_PIDS[$1]=
}

sbe_restart() { # i
	sbe_kill "$1"
	sbe_run_member "$1" existing
}

sbe_stop() {
	local p
	for p in "${SBE_PIDS[@]}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null; done
	for p in "${SBE_PIDS[@]}"; do
		[ -n "$p" ] && { wait "$p" 2>/dev/null || :; }
	done
	SBE_PIDS=()
	return 0
}
