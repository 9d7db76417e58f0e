/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gateway I/O engine's private types and the functions its files
 * share (see ../engine.h for the behaviour it promises).
 *
 * Objects, all owned by the loop thread once submitted:
 *
 *   sb_engine -- nodes[]  one per cluster node (eng_node): the TCP session
 *                |        (sess), the wait queue (back-pressure / node
 *                |        down) and the requests in flight (list in send
 *                |        order + hash by req_id) (q), the RDMA payload
 *                |        path (rd), what other threads may read (pub)
 *                `- subq  operations submitted but not yet started
 *
 *   eng_op     one per sb_io (or per synchronous control operation); a
 *              window of eng_piece slots, each with its eng_req array
 *   eng_piece  one chunk-bounded extent of the operation
 *   eng_req    one request to one node for one piece
 *
 * Files, by concern:
 *   engine.c     the public API: start, stop, submit, status, counters
 *   io.c         operations, pieces, placement, replication, failover;
 *                request tracking (in-flight list, hash by req_id)
 *   session.c    the TCP session to a node: connect, HELLO/AUTH,
 *                reconnect, frames out (requests) and in (answers)
 *   rdma_path.c  the RDMA payload path of a node's session
 *   linkwatch.c  the links under the RDMA connections (xport/link.h)
 *   loop.c       the event-loop thread and its timers
 *   ctl.c        the blocking control calls (LUN create/open/resize/
 *                delete, STAT)
 *
 * Threads and locks: the loop thread owns every field except those
 * marked "e->lock" (the submission queue, stop flag, first-attempt count,
 * struct eng_pub of each node, eng_op.ctl_done), which other threads read
 * or write only under e->lock. e->lock is a leaf; the loop thread never
 * calls out (user callbacks) while holding it. The counters (e->stats)
 * are updated with relaxed __atomic builtins and read from any thread.
 * Every eng_ function below runs on the loop thread, except where its
 * comment says otherwise.
 */
#ifndef SPANBLK_LIB_ENGINE_ENGINE_INT_H
#define SPANBLK_LIB_ENGINE_ENGINE_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "../engine.h"
#include "../place.h"
#include "../util/evtag.h"
#include "../util/list.h"
#include "../../xport/proto.h"

struct sockaddr;
struct xp_conn;
struct xp_kv;
struct xp_link;
struct xp_rdma_buf;
struct xp_rdma_conn;
struct xp_verbs_ops;

#define ENG_MAX_PIECE SB_ENGINE_MAX_PIECE
#define ENG_WINDOW 32 /* pieces of one operation in flight at once */
/* payload entries one frame may carry (xp_conn_send: IOV_MAX) */
#define ENG_MAX_SLICES (IOV_MAX - 1)
#define ENG_HASH_BUCKETS 256 /* per node, power of two */
#define ENG_BACKOFF_MIN_MS 50
#define ENG_BACKOFF_MAX_MS 2000
#define ENG_HANDSHAKE_MS 5000 /* connect + HELLO + AUTH, at most */
#define ENG_MAX_EVENTS 64
#define ENG_MAX_WAIT_MS 1000 /* longest epoll sleep */
#define ENG_RDMA_RETRY_MIN_MS 1000 /* asking a node for a new offer */
#define ENG_RDMA_RETRY_MAX_MS 60000
#define ENG_MAX_LUNS 64 /* LUN sizes an engine remembers */
#define ENG_STORE_TIMEOUT_MS 2000 /* per HTTP exchange with etcd */
#define ENG_WHY_LEN 96 /* why a node's payload is inline, with its NUL */

/* A node's TCP session (the state machine is in session.c). */
enum eng_node_state {
	NODE_DOWN,
	NODE_CONNECTING,
	NODE_HELLO_SENT,
	NODE_AUTH_READY, /* server proof checked; AUTH not yet queued */
	NODE_AUTH_SENT,
	NODE_UP,
};

/* Where a request is (io.c). */
enum eng_req_state {
	REQ_IDLE, /* before its first dispatch */
	REQ_WAITING, /* on its node's wait queue */
	REQ_INFLIGHT, /* sent: on its node's in-flight list and hash */
	REQ_DONE, /* its result is in */
};

/* A node's RDMA payload path (the state machine is in rdma_path.c). */
enum eng_rdma_state {
	RD_NONE, /* payload inline; an offer may be asked for */
	RD_OFFERED, /* RDMA_OFFER sent */
	RD_CONNECTING, /* xp_rdma_connect() under way */
	RD_UP, /* READ and WRITE payload by RDMA */
	RD_DOWN, /* to be freed once no request holds a buffer */
};

/* A request's memory window (docs/rdma.md), when the connection has them. */
enum eng_win {
	RW_NONE, /* none, or bound and the request sent */
	RW_BINDING, /* bind posted: the request waits to be sent */
	RW_READY, /* bound: send the request */
	RW_FAILED, /* the bind failed: the request goes back, inline */
};

/* What a ready fd of the engine's epoll set belongs to (struct sb_evtag). */
enum eng_ev_kind {
	ENG_EV_KICK = 1, /* the eventfd: submissions, stop (sb_engine) */
	ENG_EV_NODE, /* a node's TCP socket (eng_session.tag) */
	ENG_EV_RDMA_CM, /* a node's RDMA connection events (eng_rdma.cm_tag) */
	ENG_EV_RDMA_CQ, /* a node's RDMA completions (eng_rdma.cq_tag) */
	ENG_EV_LINKS, /* the link watcher's socket (sb_engine) */
	ENG_EV_STORE, /* the cluster store's eventfd (store.c) */
};

enum eng_op_kind {
	OP_IO, /* an sb_io */
	OP_CTL, /* a synchronous control operation, one request per node */
};

struct eng_piece;
struct eng_store;
struct eng_node;

struct eng_req {
	struct sb_list link; /* node's waitq or inflight list */
	struct eng_req *hnext; /* node's req_id hash chain */
	struct eng_piece *piece;
	struct eng_node *node; /* where it is queued or was last sent */
	enum eng_req_state state;
	int in_conn; /* frames of ours whose payload a conn still holds */
	uint64_t deadline; /* monotonic ms; 0: none */
	uint64_t req_id; /* of the latest send */
	/* request */
	uint8_t opcode;
	uint16_t flags; /* XP_F_* */
	uint64_t lun_id;
	uint64_t offset;
	uint32_t length;
	uint64_t epoch; /* CHUNK_PUSH: its push epoch; else 0 */
	const struct iovec *iov; /* payload, NULL when none */
	int iovcnt;
	uint32_t paylen;
	struct xp_rdma_buf *rbuf; /* pool buffer described in flight, or NULL */
	enum eng_win rd_win; /* rbuf's window, RW_NONE when no windows */
	bool inline_only; /* the node refused its descriptor: no RDMA */
	bool crc_given; /* data_crc holds the payload's CRC32C */
	uint32_t data_crc; /* shared by every replica of a piece */
	/* result */
	int err;
	uint64_t ans_offset; /* answer's offset field (LUN_OPEN: size) */
	void *ans_payload; /* CTL only: answer payload (STAT), malloc'd */
	uint32_t ans_len;
};

struct eng_stale;
struct eng_al_ext;

struct eng_piece {
	struct eng_op *op;
	bool busy;
	/* with a cluster store (store.c), writes only */
	uint64_t missed; /* node indices that did not take this write */
	struct eng_stale *st; /* the chunk's entry, from the write's start */
	struct eng_al_ext *al; /* its AL extent, while counted there */
	bool writer; /* counted in st->writers: its requests may be out */
	bool parked; /* on st->parked: waiting for a record or a hold */
	bool waiting_start; /* parked before its requests were queued */
	struct sb_list plink; /* st->parked */
	uint64_t park_deadline;
	struct sb_extent ext;
	unsigned int rep[SB_MAX_NODES]; /* replica node indices, best first */
	unsigned int nrep;
	uint64_t tried; /* READ: bit i set when rep[i] has been tried */
	struct iovec *iov; /* payload slices, grown on demand */
	int iovcap;
	void *bounce; /* payload copy when the slices would be too many */
	size_t bounce_len;
	struct eng_req *reqs; /* op->rpp entries */
};

struct eng_op {
	struct sb_list link; /* engine's subq (e->lock) */
	struct sb_engine *e;
	enum eng_op_kind kind;
	enum sb_io_op op; /* OP_IO */
	struct sb_io *io; /* OP_IO */
	int err; /* first error */
	uint64_t next_off; /* next byte to split off */
	uint64_t end; /* end of the range */
	unsigned int active; /* busy pieces */
	unsigned int nslots;
	unsigned int rpp; /* requests per piece */
	bool finished;
	struct eng_piece *pieces;
	/* OP_CTL */
	/* the loop's own control op (resync): called on the loop thread
	 * when it finishes, instead of ctl_done; it frees the op */
	void (*ctl_cb)(struct eng_op *op);
	void *ctl_arg;
	bool ctl_done; /* e->lock */
	const void *ctl_payload;
	uint32_t ctl_paylen;
};

/* The TCP session to one node: connection, handshake, reconnect timing. */
struct eng_session {
	struct sb_evtag tag; /* ENG_EV_NODE: fd's epoll data */
	enum eng_node_state state;
	int fd; /* connecting socket, or the conn's; -1: none */
	struct xp_conn *conn; /* from HELLO_SENT on */
	uint32_t ev_mask; /* registered epoll events, 0: not registered */
	uint64_t hs_deadline; /* handshake must finish by then */
	uint64_t retry_at; /* DOWN: next connect attempt */
	unsigned int backoff_ms;
	bool ever_up;
	uint64_t ups; /* times it became up: a new session each */
	bool logged_down; /* the current outage has been logged */
	uint8_t nonce_c[XP_NONCE_LEN]; /* our HELLO nonce */
	uint8_t hello_buf[XP_HELLO_LEN]; /* HELLO payload while it is sent */
	uint8_t auth_buf[XP_PROOF_LEN]; /* AUTH payload while it is sent */
};

/* The requests of one node: waiting, in flight, and their tracking. */
struct eng_queue {
	struct sb_list waitq; /* eng_req.link, WAITING, in send order */
	struct sb_list inflight; /* in send order, so in deadline order */
	unsigned int ninflight;
	uint64_t next_id; /* req_id of the next frame we send */
	struct eng_req *hash[ENG_HASH_BUCKETS]; /* in flight, by req_id */
	struct eng_req *placed; /* its answer is arriving in its iovec */
};

/* The RDMA payload path of one node's session. */
struct eng_rdma {
	bool node_rdma; /* the node's HELLO carried XP_FEAT_RDMA */
	enum eng_rdma_state state;
	struct xp_rdma_conn *conn; /* RD_CONNECTING..RD_DOWN */
	uint64_t offer_id; /* req_id of the RDMA_OFFER in flight */
	struct sb_evtag cm_tag; /* ENG_EV_RDMA_CM: cm_fd's epoll data */
	struct sb_evtag cq_tag; /* ENG_EV_RDMA_CQ: cq_fd's epoll data */
	int cm_fd, cq_fd; /* registered in epoll, -1: not */
	unsigned int held; /* pool buffers held by requests in flight */
	bool granted; /* a window bind finished: see eng_rdma_send_granted */
	uint64_t retry_at; /* RD_NONE: ask for an offer then (0: never) */
	unsigned int backoff_ms;
	int ifindex; /* the link under its last RDMA connection, or 0 */
	bool link_down; /* that link is down: no offers until it is up */
	bool offer_now; /* it came back: offer once the old one is freed */
	bool eproto_logged; /* an EPROTO answer was logged this connection */
	char why[ENG_WHY_LEN]; /* why payload is inline, for status */
};

/* What other threads may read of one node (e->lock). */
struct eng_pub {
	bool up; /* connected and authenticated */
	bool tried; /* the first connection attempt has ended */
	enum sb_payload payload;
	char why[ENG_WHY_LEN]; /* copy of eng_rdma.why */
};

/* A LUN the engine knows (e->lock). */
struct eng_lun {
	uint64_t lun, size;
	char name[XP_LUN_NAME_MAX + 1]; /* "" until a node told it */
};

struct eng_node {
	struct sb_engine *e;
	unsigned int idx; /* in e->nodes[] and the cluster's nodes[] */
	/* the cluster store's view (store.c), loop thread; without a
	 * store every node counts as up there */
	bool st_up; /* its alive key exists */
	int64_t st_inc; /* its incarnation (lease id) when st_up */
	int64_t st_revoked; /* the incarnation we revoked, 0: none */
	const struct sb_node_addr *addr; /* in e->cl */
	struct eng_session sess; /* loop thread */
	struct eng_queue q; /* loop thread */
	struct eng_rdma rd; /* loop thread */
	struct eng_pub pub; /* e->lock */
};

struct sb_engine {
	struct sb_cluster cl;
	struct xp_secret secret;
	uint64_t gw_id; /* our HELLO sender id */
	bool rdma_ok; /* RDMA allowed here and a device present */
	const struct xp_verbs_ops *vops;
	struct xp_link *links; /* link watcher, from the first offer on */
	bool links_failed; /* it could not be started (logged once) */
	struct sb_evtag links_tag; /* ENG_EV_LINKS: its fd's epoll data */
	struct eng_store *store; /* the cluster store, NULL: none (store.c) */
	unsigned int min_replicas; /* copies a write needs with a store */
	uint32_t max_piece;
	int epfd;
	int evfd;
	struct sb_evtag kick_tag; /* ENG_EV_KICK: evfd's epoll data */
	pthread_t thread;
	bool thread_started;

	/*
	 * Lock order: a leaf. Protects the fields below, each node's pub
	 * and eng_op.ctl_done.
	 */
	pthread_mutex_t lock;
	pthread_cond_t cond; /* node state changes, CTL completions */
	struct sb_list subq; /* eng_op.link, submitted, not started */
	bool kick_pending; /* the eventfd was written since the last drain */
	bool stopping;
	unsigned int ntried; /* nodes whose first attempt has ended */
	bool store_loaded; /* the store's first read is in (or no store) */
	/* the LUNs opened, created or resized through this engine (resync
	 * copies whole chunks but the last; backfill creates the LUN) */
	struct eng_lun lun_sizes[ENG_MAX_LUNS];
	unsigned int n_lun_sizes;

	bool stop_seen; /* loop thread's copy of stopping */
	struct eng_node nodes[SB_MAX_NODES];

	/* updated with __atomic builtins */
	struct sb_engine_stats stats;
};

/* Count one event in counter @ctr of e->stats. */
static inline void eng_stat_inc(uint64_t *ctr)
{
	__atomic_fetch_add(ctr, 1, __ATOMIC_RELAXED);
}

/* ---- engine.c ------------------------------------------------------------ */

/*
 * Queue @op for the loop thread and wake it. 0 or -ESHUTDOWN (the engine
 * is stopping: @op is not queued). Any thread; takes e->lock.
 */
int eng_op_queue(struct sb_engine *e, struct eng_op *op);

/* ---- io.c ---------------------------------------------------------------- */

/*
 * One allocation (calloc): the op, @nslots pieces and @nslots * @rpp
 * requests, linked together. NULL when out of memory. The caller owns it
 * until eng_op_queue() succeeds. Any thread.
 */
struct eng_op *eng_op_alloc(struct sb_engine *e, unsigned int nslots,
			    unsigned int rpp);

/*
 * Start a newly submitted operation. It completes (the user callback
 * runs, or ctl_done is set) from here or from a later event, exactly once.
 */
void eng_op_start(struct eng_op *op);

/* Fill @r's request fields; no payload (eng_req.iov NULL). */
void eng_req_fill(struct eng_req *r, uint8_t opcode, uint16_t flags,
		  uint64_t lun_id, uint64_t offset, uint32_t length);

/*
 * @r (on no list) finished with @err: record it, fail over a read, start
 * a CAW's second phase, finish its piece and maybe its operation (which
 * calls the user callback).
 */
void eng_req_done(struct eng_req *r, int err);

/* xp_sent_cb of a request's payload: the conn no longer references it. */
void eng_req_sent(void *arg, int err);

/* The request in flight to @n with @id, or NULL. */
struct eng_req *eng_req_find(struct eng_node *n, uint64_t id);

/*
 * Track @r (off every list, req_id assigned) as in flight to @n: state
 * INFLIGHT, deadline io_timeout_ms from now, hashed, last on the list.
 */
void eng_inflight_add(struct eng_node *n, struct eng_req *r);

/*
 * Take @r off its node's in-flight tracking (it stays in state INFLIGHT);
 * if its answer is half received into the caller's memory, the conn gives
 * that memory back first.
 */
void eng_inflight_del(struct eng_req *r);

/* Take @r, in flight but not sent, back to the front of @n's queue. */
void eng_req_unsend(struct eng_node *n, struct eng_req *r);

/* ---- session.c ----------------------------------------------------------- */

/* "node 2 (10.0.0.2:7000)" into @buf; returns @buf. Any thread. */
const char *eng_node_name(const struct eng_node *n, char *buf, size_t len);

/* Start a non-blocking connect to @n (DOWN, its retry time come). */
void eng_node_connect(struct eng_node *n);

/* @n is listening again (the store says so): when DOWN, connect at the
 * next timer pass instead of at the end of its back-off. */
void eng_node_retry_now(struct eng_node *n);

/*
 * @n's connection is lost or refused (@err): drop it, fail or requeue
 * what it carried, schedule the next attempt. Nothing when already down.
 */
void eng_node_fail(struct eng_node *n, int err);

/* Service @n's socket, ready for @events. */
void eng_node_event(struct eng_node *n, uint32_t events);

/*
 * Send what @n's queue depth allows (up), or fail the control requests
 * waiting for it (not up).
 */
void eng_node_pump(struct eng_node *n);

/* Register, change or drop @n's socket in epoll to match what it needs. */
void eng_node_update_events(struct eng_node *n);

/*
 * Engine stopping: close @n's session and RDMA connection at once (its
 * requests must all be done already).
 */
void eng_node_close(struct eng_node *n);

/* The header of @r as it is sent (req_id assigned). */
void eng_req_hdr(const struct eng_req *r, struct xp_hdr *h);

/* ---- rdma_path.c --------------------------------------------------------- */

/* @n authenticated: RDMA if both sides can, else say why not. */
void eng_rdma_begin(struct eng_node *n);

/* The node answered an RDMA_OFFER (@payload NULL when its CRC failed). */
void eng_rdma_on_offer(struct eng_node *n, const struct xp_hdr *h,
		       const void *payload);

/* @n's RDMA fds are readable: cm events and completions. */
void eng_rdma_event(struct eng_node *n);

/*
 * Timers of @n's RDMA path at @now: free a dead connection, ask for an
 * offer again; lowers *@next to its next deadline.
 */
void eng_rdma_timers(struct eng_node *n, uint64_t now, uint64_t *next);

/*
 * The pool buffer @r goes with to @n: *@bp a buffer (RDMA) or NULL
 * (inline). false: @r should go by RDMA but the pool is dry, so @n's
 * queue waits for an answer to free one (back-pressure).
 */
bool eng_rdma_pick(struct eng_node *n, const struct eng_req *r,
		   struct xp_rdma_buf **bp);

/* @r holds pool buffer @b now; a WRITE's payload is copied into it. */
void eng_rdma_take(struct eng_node *n, struct eng_req *r,
		   struct xp_rdma_buf *b);

/*
 * Describe @r's buffer in @h (the window's key when windows are in use):
 * the request goes without inline payload and without DCRC.
 */
void eng_rdma_describe(struct eng_node *n, struct eng_req *r, struct xp_hdr *h);

/*
 * Windows in use: bind @r's window (in flight, unsent); it is sent from
 * eng_rdma_send_granted(), or goes back to the queue, inline.
 */
void eng_rdma_grant(struct eng_node *n, struct eng_req *r);

/*
 * Send the requests whose window is bound now; those whose bind failed
 * (the RDMA connection is down) go back to be sent inline.
 */
void eng_rdma_send_granted(struct eng_node *n);

/* @r gives its buffer back (its window, if any, is invalidated first). */
void eng_rdma_give_back(struct eng_node *n, struct eng_req *r);

/*
 * The answer @h to @r (off the in-flight list), whose payload a pool
 * buffer held, with result @err: copy a READ's data out, give the buffer
 * back; on EPROTO resend @r inline, first in line. Takes @payload.
 * Returns 0.
 */
int eng_rdma_answer(struct eng_req *r, const struct xp_hdr *h, void *payload,
		    int err);

/*
 * Take @r's buffer back at once, without invalidating: only when @n's QP
 * is freed before the buffer can be handed out again.
 */
void eng_rdma_reclaim(struct eng_node *n, struct eng_req *r);

/* eng_rdma_reclaim() the buffer of every request in flight to @n. */
void eng_rdma_release_inflight(struct eng_node *n);

/*
 * Disconnect and free @n's RDMA connection (RD_NONE after). Every buffer
 * must be back (or about to be unreachable: the QP goes first). Never
 * from its callbacks.
 */
void eng_rdma_free(struct eng_node *n);

/* @n's TCP session ended: its RDMA connection goes too; reset, publish. */
void eng_rdma_session_end(struct eng_node *n);

/*
 * Take @n's RDMA connection down with @err (QP into error: the node can
 * no longer touch the pool) and tell the node; reports through the
 * connection's state callback. false: no connection up or being set up.
 */
bool eng_rdma_shutdown(struct eng_node *n, int err);

/* Payload to @n stays inline because of @why: logged when it changes. */
void eng_rdma_inline(struct eng_node *n, const char *why, bool warn);

/* Ask @n for an offer again later (doubling back-off). */
void eng_rdma_retry_later(struct eng_node *n);

/* ---- linkwatch.c --------------------------------------------------------- */

/*
 * Before connecting @n's RDMA to @dst: when the link the connection would
 * use is down, say so, wait for it and return true.
 */
bool eng_link_guess(struct eng_node *n, const struct sockaddr *dst);

/*
 * @n's RDMA connection is up on link @ifindex (0: unknown): watch it.
 * true when that link is down already (the connection is taken down).
 */
bool eng_link_track(struct eng_node *n, int ifindex);

/* "link sbr1 down": why payload to @n is inline while its link is down. */
void eng_link_why(const struct eng_node *n, char *buf, size_t len);

/* Payload to @n is inline because its link is down: say so. */
void eng_link_down_why(struct eng_node *n);

/* The link watcher's fd is readable. */
void eng_links_event(struct sb_engine *e);

/* Stop the link watcher, if it runs (loop thread ending). */
void eng_links_stop(struct sb_engine *e);

/* ---- loop.c -------------------------------------------------------------- */

/* The loop thread (pthread start routine, @arg the engine). */
/* ---- store.c: the cluster store (docs/recovery.md) --------------------- */

/*
 * Start the store's threads on @kv (owned from here on, also on failure).
 * Before the loop thread runs. 0 or -errno with @err filled.
 */
int eng_store_start(struct sb_engine *e, struct xp_kv *kv, char *err,
		    size_t errlen);

/* Stop the threads and free everything; after the loop thread ended. */
void eng_store_stop(struct sb_engine *e);

/* ENG_EV_STORE: apply what the store's threads found. */
void eng_store_event(struct sb_engine *e);

/* Expire parked pieces past their deadline; lower *@next. */
void eng_store_timers(struct sb_engine *e, uint64_t now, uint64_t *next);

/* Engine shutdown: every parked piece and op ends -ESHUTDOWN. */
void eng_store_shutdown(struct sb_engine *e);

/* @op arrived before the store's first read: it starts after it. */
void eng_store_defer_op(struct sb_engine *e, struct eng_op *op);

/* The stale entry of (@lun, @chunk), or NULL. */
struct eng_stale *eng_stale_find(struct sb_engine *e, uint64_t lun,
				 uint64_t chunk);

/* The node indices stale (or being recorded so) in @st; 0 for NULL. */
uint64_t eng_stale_nodes(const struct eng_stale *st);

/* Node @idx holds a valid copy of the chunk of entry @st (NULL: none). */
bool eng_store_valid(struct sb_engine *e, unsigned int idx,
		     const struct eng_stale *st);

/*
 * Write piece @p is about to queue its requests: false when it must wait
 * (parked: a resync holds its chunk); it is restarted later.
 */
bool eng_store_write_begin(struct eng_piece *p);

/*
 * Before read piece @p is dispatched: false when it parked until its
 * chunk is reconciled (eng_piece_resume dispatches it then, after
 * eng_store_read_resume).
 */
bool eng_store_read_begin(struct eng_piece *p);
void eng_store_read_resume(struct eng_piece *p);

/*
 * Write piece @p's requests are all done: record what it missed. True
 * when @p is settled (its op's error set if it failed); false when it
 * waits for a record (it is settled later through eng_piece_settled).
 */
bool eng_store_write_end(struct eng_piece *p);

/*
 * Take node @n out of the cluster now (@why is logged): revoke its lease,
 * so it is down for every gateway and fences itself if it still runs.
 * Used when its port refuses connections (the process is gone) and when a
 * request to it timed out (it may still apply that request: only a new
 * incarnation, after its fence drained, may be resynced).
 */
void eng_store_evict(struct eng_node *n, const char *why);

/* Remember (@size) or forget (0) the size of @lun. Any thread (e->lock). */
void eng_lun_size_set(struct sb_engine *e, uint64_t lun, uint64_t size);

/* The remembered size of @lun, 0 when unknown. Any thread (e->lock). */
uint64_t eng_lun_size(struct sb_engine *e, uint64_t lun);

/* Remember the name of @lun (known by size already). Any thread. */
void eng_lun_name_set(struct sb_engine *e, uint64_t lun, const char *name);

/* Copy the LUNs the engine knows to @out; their number. Any thread. */
unsigned int eng_lun_list(struct sb_engine *e, struct eng_lun *out);

/* resync.c: copy stale chunks to their returning replicas. */
void eng_resync_timers(struct sb_engine *e, uint64_t now, uint64_t *next);

/* ---- io.c, for store.c ---------------------------------------------- */

/* A parked piece may go on: queue its requests (waiting_start) or, when
 * its record is in, settle it. */
void eng_piece_resume(struct eng_piece *p);

/* Set @op's error unless it has one. */
void eng_op_set_err(struct eng_op *op, int err);

/* A parked piece gave up (its op's error is set): finish it. */
void eng_piece_abandon(struct eng_piece *p);

/* Complete node @n's waiting requests with @err (store: node down). */
void eng_node_fail_waiting(struct eng_node *n, int err);

/* Begin the ops deferred until the store's first read. */
void eng_op_start_deferred(struct eng_op *op);

void *eng_loop(void *arg);

#endif
