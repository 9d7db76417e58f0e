/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An in-memory cluster store behind the xp_kv interface (xport/kv.h) with
 * etcd's semantics, for tests of the code that uses the store:
 *
 * - one store revision, +1 per transaction that changes something (a
 *   delete of nothing changes nothing); per key its create and mod
 *   revisions and version;
 * - transactions: compares as etcd's (on a missing key VERSION, CREATE,
 *   MOD and LEASE read 0, VALUE always fails), ops applied in order (a
 *   GET sees an earlier PUT of its txn), a branch that puts one key twice
 *   or puts into a range it deletes is -EINVAL, a PUT to a lease that
 *   does not exist -ENOENT, nothing applied in either case;
 * - leases on a clock the test moves (fake_kv_advance): an expired lease
 *   is revoked, its keys deleted in one revision (DELETE events);
 * - watches that replay history from a start revision and block in
 *   xp_kv_watch_next until an event, the timeout or the store going down;
 *   a start revision below the compacted one (fake_kv_compact) gives
 *   -ERANGE. As with etcd, a watch that is in place keeps its events
 *   through later compactions.
 * - fault injection: fake_kv_set_down(true) makes every call
 *   -EHOSTUNREACH and ends every open watch (-EHOSTUNREACH from then on).
 *
 * Several handles (fake_kv_open) share one store; every call takes the
 * store's one mutex, so handles and watches may be used from any
 * threads. The store counts its live handles and watches.
 */
#ifndef SPANBLK_TESTS_FAKE_KV_H
#define SPANBLK_TESTS_FAKE_KV_H

#include <stdbool.h>
#include <stdint.h>

#include "xport/kv.h"

struct fake_kv_store;

/* An empty store at revision 1 (as a new etcd), clock at 0. NULL: ENOMEM. */
struct fake_kv_store *fake_kv_store_new(void);

/* Free the store: every handle and watch must be closed (else it stays
 * allocated and this returns -EBUSY). 0 otherwise; NULL ok. */
int fake_kv_store_free(struct fake_kv_store *s);

/* A new handle on @s, closed with xp_kv_close. 0 or -ENOMEM. */
int fake_kv_open(struct fake_kv_store *s, struct xp_kv **out);

/* Move the lease clock by @ms: leases past their TTL are revoked. */
void fake_kv_advance(struct fake_kv_store *s, int64_t ms);

/* Forget history before @rev (1 < @rev <= the current revision): new
 * watches from earlier revisions get -ERANGE. 0 or -EINVAL. */
int fake_kv_compact(struct fake_kv_store *s, int64_t rev);

/* Down: every call -EHOSTUNREACH, open watches end. Up again: calls
 * work, watches ended stay ended. */
void fake_kv_set_down(struct fake_kv_store *s, bool down);

/* The store's revision now. */
int64_t fake_kv_rev(struct fake_kv_store *s);

/* Handles and watches not yet closed. */
unsigned int fake_kv_live(struct fake_kv_store *s);

#endif
