/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The engine's cluster store, private to store.c (threads, queues) and
 * store_io.c (the stale cache and the pieces that wait on it).
 */
#ifndef SPANBLK_LIB_ENGINE_STORE_INT_H
#define SPANBLK_LIB_ENGINE_STORE_INT_H

#include "engine_int.h"

#include "../../xport/kv.h"
#include "../../xport/records.h"

#define ENG_STALE_BUCKETS 1024 /* power of two */

/*
 * A chunk whose replicas are not all valid, or that writes or a hold are
 * using (loop thread). Freed when nothing is stale, pending, written or
 * parked on it.
 */
struct eng_stale {
	struct eng_stale *hnext;
	uint64_t lun, chunk;
	uint64_t mask; /* node indices recorded stale in the store */
	uint64_t pending; /* indices a job in flight is adding */
	bool job; /* a job on this record is in flight */
	unsigned int writers; /* write pieces counted on it (piece->st) */
	bool held; /* a resync copy owns the chunk: new writes wait */
	struct sb_list parked; /* eng_piece.plink */
	struct sb_list dlink; /* eng_store.dirty while mask is not 0 */
	/* resync (resync.c) */
	bool pushed; /* held, writers drained, CHUNK_PUSH sent */
	unsigned int cp_src, cp_dst; /* node indices of the copy */
	uint64_t retry_at; /* no copy before (monotonic ms) */
};

/* From the loop to the job thread, and back as an SEV_JOB. */
enum eng_sjob_kind {
	SJ_ADD, /* add mask to the chunk's stale record */
	SJ_CLEAR, /* remove mask from it (after a resync) */
	SJ_REVOKE, /* revoke lease */
};

struct eng_sjob {
	struct sb_list link;
	enum eng_sjob_kind kind;
	uint64_t lun, chunk;
	uint64_t mask; /* node indices */
	uint64_t expect; /* the record as the loop knows it (indices) */
	int64_t lease;
	uint64_t deadline; /* monotonic ms: give up retrying an unreachable store */
	int err; /* result */
	uint64_t result; /* the record's mask after the job (indices) */
};

/*
 * Backfill of one LUN on one node (backfill.c): whether the node has the
 * LUN in its current session, and while it has not, how far the marking
 * of its chunks as stale went.
 */
enum eng_fill_state {
	BF_UNKNOWN, /* not asked in this session */
	BF_ASKING, /* LUN_OPEN in flight */
	BF_HAS, /* it has the LUN (in session ups) */
	BF_MARKING, /* it lost the LUN: its chunks are being recorded */
	BF_CREATING, /* every chunk recorded: LUN_CREATE in flight */
};

struct eng_fill {
	enum eng_fill_state state;
	uint64_t ups; /* the node's session the state is about */
	uint64_t done; /* BF_MARKING: chunks below are recorded stale */
	uint64_t retry_at; /* BF_UNKNOWN: not asked before (monotonic ms) */
};

struct eng_fill_lun {
	uint64_t lun;
	bool seen; /* still known to the engine (one pass) */
	struct eng_fill n[SB_MAX_NODES];
};

enum eng_sev_kind {
	SEV_NODE, /* idx is up (inc) or down */
	SEV_STALE, /* first read: (lun, chunk) has stale mask */
	SEV_LOADED, /* first read done */
	SEV_JOB, /* job finished */
};

struct eng_sev {
	struct sb_list link;
	enum eng_sev_kind kind;
	unsigned int idx;
	bool up;
	int64_t inc;
	uint64_t lun, chunk, mask;
	struct eng_sjob *job;
};

struct eng_store {
	struct sb_engine *e;
	char prefix[SB_ETCD_PREFIX_MAX + 1];
	pthread_mutex_t kv_mu; /* the handle, for both threads */
	struct xp_kv *kv; /* owned */
	pthread_t wthread, jthread;
	bool wstarted, jstarted;
	int evfd;
	struct sb_evtag tag; /* ENG_EV_STORE */

	pthread_mutex_t mu; /* leaf: the queues and stop */
	pthread_cond_t cv; /* CLOCK_MONOTONIC: jobs, stop */
	struct sb_list jobs; /* eng_sjob.link, for the job thread */
	struct sb_list events; /* eng_sev.link, for the loop */
	bool stop;

	/* loop thread */
	bool loaded;
	struct sb_list deferred; /* eng_op.link: submitted before loaded */
	struct eng_stale *hash[ENG_STALE_BUCKETS];
	size_t nstale; /* entries with a nonzero mask */
	size_t nparked; /* pieces parked on entries */
	struct sb_list dirty; /* eng_stale.dlink: entries with a mask */
	unsigned int copies; /* entries held for a copy */
	uint64_t resync_at; /* next resync pass (monotonic ms) */
	uint64_t rate_at_us; /* resync_rate: the next copy's time (us) */
	uint64_t copied; /* chunks copied since start */
	struct eng_fill_lun *fills; /* backfill.c: one per LUN known */
	unsigned int nfills;
	uint64_t fill_at; /* next backfill pass (monotonic ms) */
};

/* Queue job @j (owned by the store until it comes back). Loop thread. */
void eng_store_submit(struct eng_store *s, struct eng_sjob *j);

/* store_io.c */
void eng_stale_loaded(struct sb_engine *e, uint64_t lun, uint64_t chunk,
		      uint64_t mask);
void eng_stale_job_done(struct sb_engine *e, struct eng_sjob *j);
void eng_stale_free_all(struct eng_store *s);

/* Set @st's recorded mask (the dirty list and the count follow). */
void eng_stale_set_mask(struct eng_store *s, struct eng_stale *st,
			uint64_t mask);

/* Wake the pieces parked on @st (they re-decide). */
void eng_stale_wake(struct sb_engine *e, struct eng_stale *st);

/* Free @st if nothing refers to it any more. */
void eng_stale_put(struct sb_engine *e, struct eng_stale *st);

/*
 * Record node bit @bit stale for (@lun, @chunk): 1 when it is recorded, 0
 * while a job adds it (or another job on the record is in flight: call
 * again), -ENOMEM.
 */
int eng_stale_mark(struct sb_engine *e, uint64_t lun, uint64_t chunk,
		   uint64_t bit);

/*
 * resync.c: CHUNK_PUSH of (@lun, @chunk) from node @src to node @dst, a
 * loop op that calls @cb(op) with @arg in op->ctl_arg when it is back;
 * @cb calls eng_push_end, which frees the op and returns its status.
 */
int eng_push_start(struct sb_engine *e, unsigned int src, unsigned int dst,
		   uint64_t lun, uint64_t chunk, void (*cb)(struct eng_op *),
		   void *arg);
int eng_push_end(struct eng_op *op, unsigned int src);

/* backfill.c: find nodes that lost a LUN, record their chunks, create it. */
void eng_backfill_timers(struct sb_engine *e, uint64_t now, uint64_t *next);

/* True when node @idx has @lun in its current session (resync may copy
 * to it). */
bool eng_backfill_ready(struct sb_engine *e, uint64_t lun, unsigned int idx);

/* Free the backfill state (the store is going). */
void eng_backfill_free(struct eng_store *s);

/* resync.c: a CLEAR job of a copy is back. */
void eng_resync_cleared(struct sb_engine *e, struct eng_stale *st,
			const struct eng_sjob *j);

#endif
