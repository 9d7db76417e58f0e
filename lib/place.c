/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Placement (see place.h). Rendezvous hashing: every node gets a weight
 * for a (LUN, chunk) pair and the chunk lives on the nodes with the
 * highest weights. Adding a node moves only the chunks for which the new
 * node wins, about 1/(N+1) of them, and nothing moves between old nodes.
 */
#include "place.h"

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

uint64_t sb_lun_id(const char *name)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	uint64_t id = 0;
	int i;

	if (!EVP_Digest(name, strlen(name), md, &mdlen, EVP_sha256(), NULL) ||
	    mdlen < 8)
		return 1;
	for (i = 0; i < 8; i++)
		id = id << 8 | md[i];
	return id ? id : 1;
}

/* splitmix64's finaliser: a bijective 64-bit mixer with full avalanche. */
static uint64_t mix64(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

uint64_t sb_place_weight(uint64_t lun, uint64_t chunk, uint32_t node_id)
{
	return mix64(lun ^ mix64(chunk ^ mix64(node_id)));
}

unsigned int sb_place(const struct sb_cluster *cl, uint64_t lun, uint64_t chunk,
		      unsigned int *out, unsigned int n)
{
	uint64_t w[SB_MAX_NODES];
	unsigned int idx[SB_MAX_NODES];
	unsigned int i, j, nn = 0, all = cl->nr_nodes;

	if (all > SB_MAX_NODES)
		all = SB_MAX_NODES;
	for (i = 0; i < all; i++) {
		if (cl->nodes[i].out)
			continue;
		w[i] = sb_place_weight(lun, chunk, cl->nodes[i].id);
		idx[nn++] = i;
	}
	if (n > nn)
		n = nn;
	/* Partial selection sort: n is the replica count, tiny. Ties (only
	 * possible for equal ids, which the config refuses) go to the lower
	 * index. */
	for (i = 0; i < n; i++) {
		unsigned int best = i;

		for (j = i + 1; j < nn; j++)
			if (w[idx[j]] > w[idx[best]])
				best = j;
		j = idx[i];
		idx[i] = idx[best];
		idx[best] = j;
		out[i] = idx[i];
	}
	return n;
}

uint64_t sb_place_mask(const struct sb_cluster *cl, uint64_t lun,
		       uint64_t chunk)
{
	unsigned int rep[SB_MAX_NODES], n, i;
	uint64_t mask = 0;

	n = sb_place(cl, lun, chunk, rep, cl->replicas);
	for (i = 0; i < n; i++)
		mask |= 1ull << rep[i];
	return mask;
}

int sb_split(uint64_t offset, uint64_t length, uint64_t chunk_size,
	     uint32_t max_piece, struct sb_extent *out, size_t max)
{
	uint64_t pos = offset, end;
	size_t n = 0;

	if (!length || !chunk_size || (chunk_size & (chunk_size - 1)) ||
	    !max_piece)
		return -EINVAL;
	if (offset + length < offset)
		return -EOVERFLOW;
	end = offset + length;
	while (pos < end) {
		uint64_t chunk_end = (pos | (chunk_size - 1)) + 1;
		uint64_t piece = end - pos;

		/* chunk_end wraps to 0 only at the very top of the space. */
		if (chunk_end && chunk_end - pos < piece)
			piece = chunk_end - pos;
		if (piece > max_piece)
			piece = max_piece;
		if (n < max) {
			out[n].chunk = pos / chunk_size;
			out[n].offset = pos;
			out[n].length = (uint32_t)piece;
			out[n].buf_off = pos - offset;
		}
		n++;
		if (n > (size_t)INT32_MAX)
			return -E2BIG;
		pos += piece;
	}
	return (int)n;
}
