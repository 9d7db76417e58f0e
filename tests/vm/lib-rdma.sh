# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# RDMA in a guest scenario (sourced through tests/vm/lib.sh): soft-RoCE
# devices (rxe) on veth links in the guest's root network namespace, and
# storage nodes with RDMA payload on them (node files with rdma_device and
# rdma_addr, the cluster file with rdma = on; tests/vm/lib-cluster.sh
# starts and stops them). One scenario at a time, as root.
#
#   sbrI (10.77.I.1/24) <-veth-> sbpI      rxe(I-1) on sbrI, node I on it

# vmg_rxe_up N: soft-RoCE for N storage nodes in the guest's root network
# namespace (rxe on lo does not route; namespaces were refused): veth pair
# sbrI/sbpI with 10.77.I.1/24 on sbrI and rxe device rxe(I-1) on sbrI, for
# I = 1..N. Exits 77 (skip) with the reason when this kernel has no
# rdma_rxe or the rdma tool is missing.
vmg_rxe_up() {
	local n=$1 i err
	command -v rdma >/dev/null ||
		{ echo "SKIP no 'rdma' tool (iproute2) on this host"; exit 77; }
	if ! err=$(modprobe -a rdma_rxe ib_uverbs rdma_ucm veth 2>&1); then
		echo "SKIP rdma_rxe not available in this kernel: $err"
		exit 77
	fi
	for i in $(seq 1 "$n"); do
		vmg_run ip link add "sbr$i" type veth peer name "sbp$i"
		vmg_run ip addr add "10.77.$i.1/24" dev "sbr$i"
		vmg_run ip link set "sbr$i" up
		vmg_run ip link set "sbp$i" up
		vmg_run rdma link add "rxe$((i - 1))" type rxe netdev "sbr$i"
		vmg_made rxe "rxe$((i - 1))"
		vmg_made netdev "sbr$i"
	done
	for i in $(seq 1 "$n"); do
		[ -d "/sys/class/infiniband/rxe$((i - 1))" ] ||
			vmg_fail "rxe$((i - 1)) not in /sys/class/infiniband"
	done
	[ -c /dev/infiniband/rdma_cm ] || vmg_fail "no /dev/infiniband/rdma_cm"
}

# vmg_rdma_cluster_up DATA_ROOT N REPLICAS [NO_RDMA_NODE]: N spanblkd on
# the rxe addresses of vmg_rxe_up (10.77.I.1, port 7400), each with
# rdma_device rxe(I-1) except node NO_RDMA_NODE; cluster file (rdma = on)
# and secret in /etc/spanblk/ as vmg_cluster_up. With
# VMG_RDMA_CTL_LOOPBACK=1 the TCP control path goes on loopback instead
# (127.0.0.I+1) and only the RDMA listener is on 10.77.I.1 (rdma_addr), so
# control survives sbrI going down (rdma_link). Returns once every node
# with a device logs its RDMA listener (the TCP port opens first; the
# listener's line follows at once).
vmg_rdma_cluster_up() {
	local root=$1 n=$2 replicas=$3 skip=${4:-0} i
	VMG_NODE_ADDRS=()
	for i in $(seq 1 "$n"); do
		VMG_NODE_ADDRS+=("$(vmg_rdma_ctl_addr "$i")")
	done
	vmg_cluster_conf "$root" "$n" "$replicas" rdma=on
	for i in $(seq 1 "$n"); do
		vmg_rdma_node_conf "$i" "$([ "$i" = "$skip" ] || echo "rxe$((i - 1))")"
	done
	vmg_nodes_start
	for i in $(seq 1 "$n"); do
		[ "$i" = "$skip" ] && continue
		vmg_rdma_listening "$i"
	done
}

# vmg_rdma_listening I: waits (5 s) for node I's log to show its RDMA
# listener on rxe(I-1); fails the scenario if it does not.
vmg_rdma_listening() {
	local i=$1
	for _ in $(seq 1 50); do
		grep -q "rdma: device rxe$((i - 1)), listening" \
			"$SBVM_OUT/logs/node$i.log" && return 0
		sleep 0.1
	done
	tail -n 5 "$SBVM_OUT/logs/node$i.log"
	vmg_fail "node $i has no RDMA listener"
}

# vmg_rdma_ctl_addr I: node I's TCP control address: 10.77.I.1, or
# 127.0.0.I+1 with VMG_RDMA_CTL_LOOPBACK=1.
vmg_rdma_ctl_addr() {
	if [ "${VMG_RDMA_CTL_LOOPBACK:-0}" = 1 ]; then
		echo "127.0.0.$(($1 + 1))"
	else
		echo "10.77.$1.1"
	fi
}

# vmg_rdma_node_conf I [DEVICE]: writes node I's config (vmg_node_conf);
# RDMA only with DEVICE (listening on 10.77.I.1 whatever the control
# address).
vmg_rdma_node_conf() {
	local i=$1 dev=${2:-}
	if [ -n "$dev" ]; then
		vmg_node_conf "$i" rdma_device="$dev" rdma_addr="10.77.$i.1"
	else
		vmg_node_conf "$i"
	fi
}
