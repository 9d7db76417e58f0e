/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nd_leases: the node's in-memory lease table, one entry per LUN id
 * (docs/protocol.md, "lease payload"). Version 1 keeps it in memory only:
 * a restarted node starts with no leases and epoch 0 for every LUN.
 *
 *   ACQUIRE  granted when no unexpired lease is held by another holder;
 *            the LUN's epoch is incremented and returned.
 *   RENEW    needs the holder and the current epoch (else -ESTALE);
 *            extends the lease from now.
 *   RELEASE  same check; the LUN is free afterwards, the epoch stays.
 *
 * Times are milliseconds of a monotonic clock, passed in by the caller.
 * Not thread-safe.
 */
#ifndef SPANBLK_NODE_LEASE_H
#define SPANBLK_NODE_LEASE_H

#include <stdint.h>

struct nd_leases;

/* An empty table, or NULL when out of memory. */
struct nd_leases *nd_leases_new(void);

/* Accepts NULL. */
void nd_leases_free(struct nd_leases *t);

/*
 * Acquire @lun for @holder for @duration_ms from @now_ms. 0 with *@epoch
 * the new epoch; -EBUSY (another holder's lease is unexpired; *@epoch the
 * current one); -EINVAL (holder 0 or duration 0); -ENOMEM.
 */
int nd_lease_acquire(struct nd_leases *t, uint64_t lun, uint64_t holder,
		     uint32_t duration_ms, uint64_t now_ms, uint64_t *epoch);

/*
 * Renew @holder's lease at @epoch for @duration_ms from @now_ms. 0,
 * -ESTALE (not the holder or not the current epoch, or released),
 * -EINVAL (duration 0). *@epoch receives the current epoch either way.
 */
int nd_lease_renew(struct nd_leases *t, uint64_t lun, uint64_t holder,
		   uint64_t epoch, uint32_t duration_ms, uint64_t now_ms,
		   uint64_t *cur_epoch);

/* Release @holder's lease at @epoch. 0 or -ESTALE; *@cur_epoch as above. */
int nd_lease_release(struct nd_leases *t, uint64_t lun, uint64_t holder,
		     uint64_t epoch, uint64_t *cur_epoch);

#endif
