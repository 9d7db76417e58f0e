# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Writes spanblk's configuration files: the cluster file the gateways and
# spanblkctl read, each node's file spanblkd reads, and the shared secret.
# One writer for the host scripts (scripts/lib/cluster.sh: demo, bench)
# and the guest scenarios (tests/vm/lib-cluster.sh, lib-rdma.sh). Source
# it; it defines functions only. docs/operations.md has every key.
#
#   sbconf_secret FILE                     new random secret, mode 600
#   sbconf_cluster FILE KEY=VALUE...       [cluster] section (replaces FILE)
#   sbconf_cluster_node FILE ID ADDR PORT  appends a [node.ID] section
#   sbconf_node FILE ID LISTEN PORT DATA_DIR SECRET [KEY=VALUE...]
#                                          a node's file (replaces FILE)
#
# Every line is "key = value", as the scenarios' sed edits expect.

# sbconf_secret FILE: 32 random bytes, base64, in FILE readable by its
# owner only.
sbconf_secret() {
	head -c 32 /dev/urandom | base64 >"$1" && chmod 600 "$1"
}

# sbconf_lines KEY=VALUE...: one "KEY = VALUE" line each, in order.
sbconf_lines() {
	local kv
	for kv in "$@"; do
		echo "${kv%%=*} = ${kv#*=}"
	done
}

# sbconf_cluster FILE KEY=VALUE...: FILE becomes a [cluster] section with
# the given keys in their order (replicas, secret_file, ...); the nodes
# follow with sbconf_cluster_node.
sbconf_cluster() {
	local f=$1
	shift
	{
		echo "[cluster]"
		sbconf_lines "$@"
	} >"$f"
}

# sbconf_cluster_node FILE ID ADDRESS PORT: appends node ID's section to
# the cluster file FILE.
sbconf_cluster_node() {
	printf '[node.%s]\naddress = %s\nport = %s\n' "$2" "$3" "$4" >>"$1"
}

# sbconf_node FILE ID LISTEN PORT DATA_DIR SECRET_FILE [KEY=VALUE...]:
# FILE becomes node ID's configuration, the extra keys (rdma_device, ...)
# after the five every node has.
sbconf_node() {
	local f=$1
	{
		printf '[node]\nid = %s\nlisten = %s\nport = %s\ndata_dir = %s\nsecret_file = %s\n' \
			"$2" "$3" "$4" "$5" "$6"
		shift 6
		sbconf_lines "$@"
	} >"$f"
}
