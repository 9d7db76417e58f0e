/* SPDX-License-Identifier: Apache-2.0 */
/*
 * spanblkctl's view of the cluster store (docs/recovery.md): the nodes'
 * membership as etcd records it, for `status`.
 */
#ifndef SPANBLK_TOOLS_CTL_STORE_H
#define SPANBLK_TOOLS_CTL_STORE_H

#include <stdint.h>

#include "lib/config.h"

/*
 * Print the "cluster store" section of `status` for @cl: the chunks whose
 * replicas missed writes, per node, and every node of the cluster file
 * (and any the store knows besides) with its state there. Returns the
 * number of the cluster file's nodes that are not up in the store (nodes
 * out of placement not counted) plus the number of stale chunks (0:
 * healthy), or -errno when the store cannot be read (the section then
 * says why). *@out: the node-index bits of the nodes out of placement
 * (out or joining). A cluster without a store prints one line, returns
 * 0.
 */
int sbt_store_status(const struct sb_cluster *cl, uint64_t *out);

/*
 * `spanblkctl wait-healthy [SECONDS]`: until every node of @cl is up in
 * the store and no chunk has a stale replica, show resync's progress (a
 * bar on a terminal, a line per change otherwise; chunks copied, rate,
 * time left). Returns the exit code: 0 healthy, EXIT_UNREACHABLE after
 * @timeout_s (0: none), EXIT_USAGE without a store.
 */
int sbt_wait_healthy(const struct sb_cluster *cl, unsigned int timeout_s);

#endif
