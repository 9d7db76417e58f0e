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

/* resync.c: a CLEAR job of a copy is back. */
void eng_resync_cleared(struct sb_engine *e, struct eng_stale *st,
			const struct eng_sjob *j);

#endif
