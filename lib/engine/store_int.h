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
	uint64_t merged; /* bits a merge added while the job was in flight */
	unsigned int writers; /* write pieces counted on it (piece->st) */
	bool held; /* a copy (resync or reconcile) owns the chunk: new
		      writes wait */
	struct sb_list parked; /* eng_piece.plink */
	struct sb_list dlink; /* eng_store.dirty while mask is not 0 */
	bool al_wait; /* pieces parked for its extent's AL record */
	bool recon_wait; /* pieces parked until it is reconciled */
	/* resync (resync.c) */
	bool copying; /* the hold is resync's: cp_src and cp_dst are set */
	bool pushed; /* held, writers drained, CHUNK_PUSH sent */
	unsigned int cp_src, cp_dst; /* node indices of the copy */
	uint64_t retry_at; /* no copy before (monotonic ms) */
};

/* From the loop to the job thread, and back as an SEV_JOB. */
enum eng_sjob_kind {
	SJ_ADD, /* add mask to the chunk's stale record */
	SJ_CLEAR, /* remove mask from it (after a resync) */
	SJ_REVOKE, /* revoke lease */
	SJ_AL_ADD, /* put the AL record of extent "chunk" */
	SJ_AL_DEL, /* delete it */
	SJ_EPOCH, /* put P/epoch: result = its revision (push.c) */
	SJ_DROP, /* remove an out node's bit, while its state is unchanged */
};

/* The jobs that write a stale record (batched by the job thread). */
static inline bool eng_sjob_is_record(enum eng_sjob_kind k)
{
	return k == SJ_ADD || k == SJ_CLEAR;
}

/*
 * One extent of the activity log (al.c): whether its record is in the
 * store, the writes counted on it, and the chunks of it to reconcile
 * (reconcile.c) before they are read or written.
 */
enum eng_al_state {
	AL_NONE, /* no record */
	AL_ADDING, /* a job puts it */
	AL_IN, /* recorded: writes may go */
	AL_REMOVING, /* a job deletes it */
};

struct eng_al_ext {
	struct eng_al_ext *hnext;
	uint64_t lun, ext;
	enum eng_al_state state;
	unsigned int writers; /* write pieces counted on it */
	uint64_t used; /* monotonic ms of its last write's end */
	uint8_t *todo; /* chunks to reconcile (bit per chunk), NULL: none */
	unsigned int ntodo;
	unsigned int cursor; /* the sweep's next chunk in it */
	bool trimmed; /* its chunks past the LUN's end are done */
	bool asking; /* reconcile.c: a LUN_OPEN learns the LUN's size */
	bool mine; /* this engine wrote into it (its LUN is in wrote[]) */
	struct sb_list rlink; /* eng_store.recon while ntodo */
};

#define ENG_AL_BUCKETS 256

struct eng_sjob {
	struct sb_list link;
	enum eng_sjob_kind kind;
	uint64_t lun, chunk;
	uint64_t mask; /* node indices */
	uint64_t expect; /* the record as the loop knows it (indices) */
	int64_t lease;
	uint64_t deadline; /* monotonic ms: give up retrying an unreachable store */
	int64_t state_rev; /* SJ_DROP: the out state's mod revision */
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
	SEV_AL, /* first read: (lun, chunk = extent) is in the AL */
	SEV_MERGE, /* before a SEV_STATE: (lun, chunk) record has mask */
	SEV_STATE, /* idx's placement state is state (its key at rev) */
};

struct eng_sev {
	struct sb_list link;
	enum eng_sev_kind kind;
	unsigned int idx;
	bool up;
	int64_t inc;
	uint64_t lun, chunk, mask;
	enum xp_node_state state;
	int64_t rev;
	struct eng_sjob *job;
};

/* Free the events of @l (not posted). */
void eng_sev_free_list(struct sb_list *l);

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
	/* al.c, reconcile.c */
	struct eng_al_ext *al_hash[ENG_AL_BUCKETS];
	struct sb_list recon; /* eng_al_ext.rlink: extents with chunks to do */
	unsigned int recons; /* chunks being reconciled */
	unsigned int nrecon_wait; /* entries with recon_wait */
	/* LUNs this engine wrote: only theirs are swept (a tool that opens
	 * a LUN to read it does not reconcile behind its gateway's back) */
	uint64_t wrote[ENG_MAX_LUNS];
	unsigned int nwrote;
	uint64_t al_at; /* next AL pass (monotonic ms) */
	struct eng_fill_lun *fills; /* backfill.c: one per LUN known */
	unsigned int nfills;
	uint64_t fill_at; /* next backfill pass (monotonic ms) */
	/* push.c: the base of push epochs (0: none yet) */
	uint64_t push_rev;
	uint32_t push_seq; /* pushes under push_rev */
	bool push_asking; /* an SJ_EPOCH job is out */
	/* watch thread: the placement states posted to the loop */
	enum xp_node_state state_posted[SB_MAX_NODES];
	int64_t rev_posted[SB_MAX_NODES];
	/* loop: the mod revision of each node's state while it is out (0:
	 * not out), which a job dropping its bits compares */
	int64_t out_rev[SB_MAX_NODES];
};

/* Node @idx can take part in a copy or a check: up in the store and
 * connected. */
static inline bool eng_node_usable(const struct sb_engine *e, unsigned int idx)
{
	return e->nodes[idx].st_up && e->nodes[idx].sess.state == NODE_UP;
}

/* Queue job @j (owned by the store until it comes back). Loop thread. */
void eng_store_submit(struct eng_store *s, struct eng_sjob *j);

/* store.c, for the watch and job threads */
#define ENG_STORE_RETRY_MS 250 /* a job or a watch after the store failed */
/* Hand event @ev to the loop. */
void eng_store_post(struct eng_store *s, struct eng_sev *ev);
/* A new event (NULL, logged: no memory). */
struct eng_sev *eng_sev_new(enum eng_sev_kind kind);
/* Sleep @ms or until the store stops. */
void eng_store_nap(struct eng_store *s, unsigned int ms);
bool eng_store_stopping(struct eng_store *s);
/* store_job.c: the job thread's body (@arg: the store). */
void *eng_store_job_main(void *arg);

/* store_io.c */
/*
 * The entry's mask once record job @j committed: what the record held
 * then (j->result), plus what the entry learnt meanwhile (a merge posted
 * after the job's read may come first), less the bits the job took out
 * (@removed: j->mask) unless a merge added them again meanwhile. Never
 * the job's snapshot alone: a bit merged after it would be lost, and its
 * node read as valid. Clears st->merged.
 */
uint64_t eng_stale_after(struct eng_stale *st, const struct eng_sjob *j,
			 bool removed);
/* A record read again before a node's placement state changes: the bits
 * of @mask for nodes outside the chunk's present replica set (the ones
 * spanblkctl recorded for the chunk's new replicas) join the entry. */
void eng_stale_merge(struct sb_engine *e, uint64_t lun, uint64_t chunk,
		     uint64_t mask);
void eng_stale_loaded(struct sb_engine *e, uint64_t lun, uint64_t chunk,
		      uint64_t mask);
void eng_stale_job_done(struct sb_engine *e, struct eng_sjob *j);
void eng_stale_free_all(struct eng_store *s);

/* The entry of (@lun, @chunk), made when missing; NULL: no memory. */
struct eng_stale *eng_stale_get(struct sb_engine *e, uint64_t lun,
				uint64_t chunk);

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

/* Park write or read piece @p on its chunk's entry (a hold, a record,
 * an AL record or a reconcile to wait for). */
void eng_store_park(struct eng_piece *p);

/* ---- al.c ---- */
#define ENG_AL_EXTENT (64ull << 20) /* bytes of LUN per AL extent */

/* The extent of (@lun, @chunk), made when missing (NULL: no memory). */
struct eng_al_ext *eng_al_get(struct sb_engine *e, uint64_t lun,
			      uint64_t chunk);
/* True when (@lun, @chunk) must be reconciled before it is read or
 * written. */
bool eng_al_pending(struct sb_engine *e, uint64_t lun, uint64_t chunk);
/* The same for @chunk of extent @x. */
bool eng_al_ext_pending(const struct sb_engine *e, const struct eng_al_ext *x,
			uint64_t chunk);
/* True when @x is recorded; else makes sure a job records it. */
bool eng_al_ready(struct sb_engine *e, struct eng_al_ext *x);
/* A write counted on @x ended (@suspect: it may have reached some
 * replicas and not others, unrecorded: reconcile its chunk). */
void eng_al_write_end(struct sb_engine *e, struct eng_al_ext *x, uint64_t chunk,
		      bool suspect);
/* An AL job is back; the first read found extent @ext of @lun. */
void eng_al_job_done(struct sb_engine *e, struct eng_sjob *j);
void eng_al_loaded(struct sb_engine *e, uint64_t lun, uint64_t ext);
/* Timers: idle extents leave the AL; the reconcile sweep. */
void eng_al_timers(struct sb_engine *e, uint64_t now, uint64_t *next);
/* Chunk @chunk of @x is reconciled (the caller wakes its waiters). */
void eng_al_chunk_done(struct sb_engine *e, struct eng_al_ext *x,
		       uint64_t chunk);
/* True when this engine wrote @lun (reconcile sweeps only those). */
bool eng_al_wrote(const struct eng_store *s, uint64_t lun);

/* Chunks per extent. */
uint64_t eng_al_per_ext(const struct sb_engine *e);
/* Stop: delete the records of extents with nothing to reconcile (the
 * loop has stopped). */
void eng_al_close(struct eng_store *s);
void eng_al_free(struct eng_store *s);

/*
 * push.c: CHUNK_PUSH of (@lun, @chunk) from node @src to node @dst, a
 * loop op that calls @cb(op) with @arg in op->ctl_arg when it is back;
 * @cb calls eng_push_end, which frees the op and returns its status.
 * -EAGAIN when no push epoch is known yet (see eng_push_ready).
 */
int eng_push_start(struct sb_engine *e, unsigned int src, unsigned int dst,
		   uint64_t lun, uint64_t chunk, void (*cb)(struct eng_op *),
		   void *arg);
int eng_push_end(struct eng_op *op, unsigned int src);

/*
 * PUSH_FENCE chunk @chunk of @lun on node index @idx with a new push
 * epoch: no piece of an older copy lands in it after the answer. 0 (@cb
 * runs later and calls eng_push_end(op, @idx)), -EAGAIN (no push epoch
 * yet), or -errno.
 */
int eng_push_fence(struct sb_engine *e, unsigned int idx, uint64_t lun,
		   uint64_t chunk, void (*cb)(struct eng_op *), void *arg);

/* True when a push may start now; else makes sure a job learns a push
 * epoch base (the next resync and reconcile passes then come at once). */
bool eng_push_ready(struct sb_engine *e);
/* The SJ_EPOCH job @j (freed here) is back. */
void eng_push_epoch_done(struct sb_engine *e, struct eng_sjob *j);

/* reconcile.c: make the valid replicas of pending chunks identical. */
void eng_recon_timers(struct sb_engine *e, uint64_t now, uint64_t *next);

/* backfill.c: find nodes that lost a LUN, record their chunks, create it. */
void eng_backfill_timers(struct sb_engine *e, uint64_t now, uint64_t *next);

/* True when node @idx has @lun in its current session (resync may copy
 * to it). */
bool eng_backfill_ready(struct sb_engine *e, uint64_t lun, unsigned int idx);
/* Node @idx may be the source of a copy or a reconcile of @lun: the LUN
 * is one backfill follows and the node has it in its current session, or
 * backfill does not follow the LUN (this engine never opened it). */
bool eng_backfill_source_ok(struct sb_engine *e, uint64_t lun,
			    unsigned int idx);

/* Free the backfill state (the store is going). */
void eng_backfill_free(struct eng_store *s);

/* resync.c: a CLEAR job of a copy is back. */
void eng_resync_cleared(struct sb_engine *e, struct eng_stale *st,
			const struct eng_sjob *j);

#endif
