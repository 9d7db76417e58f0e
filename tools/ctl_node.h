/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `spanblkctl node out|in ID`: take a node out of placement (a dead node
 * that is not coming back: its chunks get new replicas) or put it back
 * in (a replacement under the same id), docs/recovery.md "Node out and
 * in".
 */
#ifndef SPANBLK_TOOLS_CTL_NODE_H
#define SPANBLK_TOOLS_CTL_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/config.h"

/* A LUN as the nodes report it. */
struct sbt_lun_ref {
	uint64_t id;
	uint64_t size;
};

/*
 * Set node @id of @cl out of placement (@out) or back in, for LUNs @luns
 * (@n of them: every LUN of the cluster). First every chunk that gains a
 * replica is recorded stale for it, then the node's state is written;
 * the gateways then place by the new state and resync copies the chunks.
 * Refused when fewer nodes than replicas would stay in, or (without
 * @force) when a chunk's only valid copy is on the node going out.
 * Returns the exit code (0, EXIT_FAIL, EXIT_USAGE, EXIT_UNREACHABLE).
 */
int sbt_node_set(const struct sb_cluster *cl, const struct sbt_lun_ref *luns,
		 size_t n, uint32_t id, bool out, bool force);

#endif
