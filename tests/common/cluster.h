/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An in-process test cluster: storage nodes (nd_server) each running in a
 * thread of the test, on 127.0.0.1 with ports the kernel picks, a data
 * folder each and one secret in a temporary folder, and the struct
 * sb_cluster an engine needs to reach them. The nodes take a verbs table
 * (the fake device of fake_verbs.h), so the engine and the node RDMA
 * paths run against each other in one process.
 *
 * Not thread-safe: the test thread drives it.
 */
#ifndef SPANBLK_TESTS_CLUSTER_H
#define SPANBLK_TESTS_CLUSTER_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/config.h"
#include "xport/auth.h"
#include "xport/verbs.h"

#define TCL_MAX_NODES 4

struct nd_server;

struct tcl_node {
	struct sb_nodecfg cfg; /* adjust before tcl_node_start */
	struct nd_server *srv; /* while running */
	pthread_t thr;
	bool running;
	int run_ret; /* what nd_server_run returned, once stopped */
	/* start handshake with the node's thread */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool started;
	int start_ret;
	char err[256];
	const struct xp_verbs_ops *vops;
};

struct tcl_cluster {
	char dir[64]; /* /tmp/spanblk-tcl-XXXXXX, removed by tcl_destroy */
	char secret_file[PATH_MAX];
	struct xp_secret secret;
	unsigned int n;
	struct tcl_node nodes[TCL_MAX_NODES];
	struct sb_cluster cl; /* by tcl_cluster_conf, once nodes have ports */
};

/*
 * Make the folder, the secret and @n node configs (ids 1..n, listen
 * 127.0.0.1, port 0, node N's data in DIR/nodeN; with @rdma_device, that
 * device, rdma_port 4791 + N, defaults otherwise). 0 or -errno.
 */
int tcl_init(struct tcl_cluster *c, unsigned int n, const char *rdma_device);

/*
 * Start node @i with @vops (NULL: the real verbs) in a thread of its own,
 * which creates, runs and frees the server (so the signal mask it sets
 * stays in that thread). Once started, its cfg.port is the bound port, so
 * a restart listens there again. 0, or -errno with the reason in @err.
 */
int tcl_node_start(struct tcl_cluster *c, unsigned int i,
		   const struct xp_verbs_ops *vops, char *err, size_t errlen);

/* Stop node @i gracefully and wait until it is freed. No-op if stopped. */
void tcl_node_stop(struct tcl_cluster *c, unsigned int i);

/*
 * Fill c->cl for the nodes as started: @replicas, @chunk_size,
 * @io_timeout_ms, the secret file, [cluster] rdma = on and the other
 * keys at their defaults (tests adjust c->cl afterwards). 0 or -EINVAL.
 */
int tcl_cluster_conf(struct tcl_cluster *c, unsigned int replicas,
		     uint64_t chunk_size, unsigned int io_timeout_ms);

/* Stop every node and remove the folder. Accepts a zeroed @c. */
void tcl_destroy(struct tcl_cluster *c);

#endif
