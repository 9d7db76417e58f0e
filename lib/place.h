/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Placement: LUN ids, chunk ranges and rendezvous (highest-random-weight)
 * hashing of (LUN, chunk) over the cluster's nodes.
 */
#ifndef SPANBLK_LIB_PLACE_H
#define SPANBLK_LIB_PLACE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* LUN id of a LUN name: SHA-256 prefix, never 0 (docs/protocol.md). */
uint64_t sb_lun_id(const char *name);

/* Rendezvous weight of node @node_id for chunk @chunk of LUN @lun. */
uint64_t sb_place_weight(uint64_t lun, uint64_t chunk, uint32_t node_id);

/*
 * Fill @out with the indices (into cl->nodes) of the @n highest-weight
 * nodes for (@lun, @chunk) among those not out, best first: distinct, and
 * stable when nodes are added or taken out elsewhere. Returns the number
 * written, min(@n, nodes not out).
 */
unsigned int sb_place(const struct sb_cluster *cl, uint64_t lun, uint64_t chunk,
		      unsigned int *out, unsigned int n);

/*
 * The replica set of (@lun, @chunk) as a mask of node indices: bit i for
 * cl->nodes[i] among the cl->replicas placed ones.
 */
uint64_t sb_place_mask(const struct sb_cluster *cl, uint64_t lun,
		       uint64_t chunk);

/* One piece of a byte range that stays inside one chunk. */
struct sb_extent {
	uint64_t chunk; /* chunk index */
	uint64_t offset; /* byte offset in the LUN */
	uint32_t length; /* bytes, > 0 */
	uint64_t buf_off; /* offset of this piece in the caller's buffer */
};

/*
 * Split [@offset, @offset + @length) at chunk boundaries and into pieces
 * of at most @max_piece bytes. Writes at most @max extents. Returns the
 * number of extents the range needs (which may exceed @max: call again
 * with more room), or -EINVAL (zero length, chunk not a power of two,
 * max_piece 0) or -EOVERFLOW (range wraps 64 bits).
 */
int sb_split(uint64_t offset, uint64_t length, uint64_t chunk_size,
	     uint32_t max_piece, struct sb_extent *out, size_t max);

#endif
