/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nd_pfence: the push epochs a node has admitted (docs/protocol.md, "Push
 * epochs"). A WRITE or WRITE_ZEROES that carries an epoch is a piece of a
 * CHUNK_PUSH; it is admitted only when its epoch is at least the highest
 * epoch already admitted for every chunk it touches and at least the
 * node's floor. A PUSH_FENCE is admitted the same way and writes nothing.
 * A copy the requester gave up on (its source hung, then resumed) can
 * then never land after a later copy or fence of the same chunk.
 *
 * The table holds one entry per (LUN, chunk) ever pushed to, up to
 * ND_PFENCE_MAX; past that it forgets every entry and keeps the highest
 * epoch it saw as its own floor (older pushes are then refused and the
 * requester retries with a new epoch: safe, never wrong).
 *
 * Threading: the node's loop thread only.
 */
#ifndef SPANBLK_NODE_PUSHFENCE_H
#define SPANBLK_NODE_PUSHFENCE_H

#include <stddef.h>
#include <stdint.h>

#define ND_PFENCE_MAX (1u << 20)

struct nd_pfence;

/* 0 with *@out set, or -ENOMEM. */
int nd_pfence_new(struct nd_pfence **out);
void nd_pfence_free(struct nd_pfence *f);

/*
 * Admit a push piece or fence of LUN @lun over chunks @first..@last with
 * @epoch (not 0), the node's own floor being @floor: 0 (@epoch recorded
 * for each of them), or -ESTALE when @epoch is below @floor, the table's
 * floor, or the epoch already admitted for one of them (then none is
 * changed, unless the table had to forget: see above).
 */
int nd_pfence_admit(struct nd_pfence *f, uint64_t lun, uint64_t first,
		    uint64_t last, uint64_t epoch, uint64_t floor);

/* Entries held (tests). */
size_t nd_pfence_count(const struct nd_pfence *f);

#endif
