/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nd_pfence: the push epochs a node has admitted (docs/protocol.md, "Push
 * epochs"). A WRITE or WRITE_ZEROES that carries an epoch is a piece of a
 * CHUNK_PUSH; it is admitted only when its epoch is at least the highest
 * epoch already admitted at the same (LUN, offset) and at least the
 * node's floor. A copy the requester gave up on (its source hung, then
 * resumed) can then never land over a later copy of the same range.
 *
 * The table holds one entry per (LUN, piece offset) ever pushed to, up to
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
 * Admit a push piece of LUN @lun at byte @off with @epoch (not 0), the
 * node's own floor being @floor: 0 (recorded as the piece's epoch), or
 * -ESTALE when @epoch is below @floor, the table's floor, or the epoch
 * already admitted there.
 */
int nd_pfence_admit(struct nd_pfence *f, uint64_t lun, uint64_t off,
		    uint64_t epoch, uint64_t floor);

/* Entries held (tests). */
size_t nd_pfence_count(const struct nd_pfence *f);

#endif
