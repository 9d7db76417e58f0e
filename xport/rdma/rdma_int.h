/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private types of the RDMA transport, shared by the files of xport/rdma/
 * and by no one else (the public API is xport/rdma.h):
 *
 *   wire.c      codecs of the rdma_cm private data, the descriptor check
 *   pool.c      struct xp_rdma_pool: registered buffers and their waiters
 *   conn.c      struct xp_rdma_conn: both sides' connections, credits
 *   window.c    struct xpr_win: the gateway's type 2 memory windows
 *   listener.c  struct xp_rdma_listener, struct xpr_token: the node's side
 *
 * Nothing here locks: a listener, its connections, their pools and windows
 * belong to one thread, the owner's event loop (the gateway engine's loop
 * thread, the node server's loop), which makes every call.
 *
 * Functions named xpr_ cross files of the transport; everything else of a
 * file is static. Every verbs and rdma_cm call goes through the connection's
 * or listener's struct xp_verbs_ops.
 */
#ifndef SPANBLK_XPORT_RDMA_RDMA_INT_H
#define SPANBLK_XPORT_RDMA_RDMA_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "../../lib/util/list.h"
#include "../rdma.h"

#define XPR_PAGE 4096u
#define XPR_POOL_MAX_BYTES (64ull << 30) /* largest pool region */

/* ---- pool (pool.c) ------------------------------------------------------ */

struct xp_rdma_pool {
	const struct xp_verbs_ops *ops;
	struct ibv_mr *mr; /* one registration over mem */
	void *mem; /* count * size bytes, page aligned */
	uint32_t count; /* buffers */
	uint32_t size; /* bytes per buffer */
	uint32_t nfree; /* buffers on the free list */
	uint64_t base; /* IOVA of mem[0] */
	uint32_t lkey, rkey;
	struct xp_rdma_buf *bufs; /* count descriptors */
	struct sb_list free; /* free buffers, the last one put back first */
	struct sb_list waiters; /* FIFO of struct xp_rdma_wait */
};

/* @b is one of @p's buffers (NULLs are not). */
static inline bool xpr_pool_has(const struct xp_rdma_pool *p,
				const struct xp_rdma_buf *b)
{
	return p && b && b->index < p->count && &p->bufs[b->index] == b;
}

/* ---- connections (conn.c) ---------------------------------------------- */

/*
 * Connection states:   RESOLVING -> CONNECTING -> UP -> DOWN
 * (node side starts at CONNECTING, after its accept). DOWN is final: the
 * owner frees the connection and, if it wants, asks for a new offer.
 */
enum xpr_conn_state {
	ST_RESOLVING, /* gateway: address and route */
	ST_CONNECTING, /* connect request sent, or accepted (node) */
	ST_UP,
	ST_DOWN, /* final */
};

/*
 * Window states (window.c), one window per pool buffer:
 *
 *   FREE --grant--> BINDING --bound--> BOUND --release--> INVALIDATING
 *
 * and back to FREE: from BINDING when the bind fails or the buffer is
 * released while the connection is down, from BOUND when it is released
 * while down, from INVALIDATING when the invalidate completes or flushes.
 */
enum xpr_win_state {
	WIN_FREE, /* unbound: grants nothing */
	WIN_BINDING, /* bind posted or queued */
	WIN_BOUND, /* grants its range under rkey */
	WIN_INVALIDATING, /* local invalidate posted or queued */
};

/* The memory window of one pool buffer (gateway, windows in use). */
struct xpr_win {
	struct xp_rdma_conn *c;
	struct ibv_mw *mw;
	struct xp_rdma_buf *buf; /* the buffer it opens onto while not FREE */
	enum xpr_win_state st;
	uint32_t off, len; /* bound range within buf */
	uint32_t rkey; /* key of the current (or last) binding */
	struct xp_rdma_op op; /* the bind or invalidate in flight */
	xp_rdma_grant_cb cb; /* the grant's owner */
	void *arg;
};

struct xp_rdma_conn {
	const struct xp_verbs_ops *ops;
	struct xp_rdma_params params;
	struct xp_rdma_listener *lst; /* node side: the listener, else NULL */
	struct sb_list lnode; /* on the listener's pending list until handed */
	const void *session; /* node side: the TCP session it belongs to */
	struct rdma_event_channel *ch; /* gateway only: its own channel */
	struct rdma_cm_id *id;
	struct xp_verbs_caps caps;
	struct ibv_pd *pd;
	struct ibv_comp_channel *cch;
	struct ibv_cq *cq;
	bool has_qp;
	struct xp_rdma_pool *pool;
	uint8_t priv[XP_RDMA_PRIV_LEN]; /* gateway: the connect request's */
	int ifindex; /* net device under it (gateway, route resolved), or 0 */
	enum xpr_conn_state state;
	int err; /* why it went down */
	bool reported_up, reported_down;
	bool shut; /* taken down by its owner (xp_rdma_conn_shutdown) */
	bool handed; /* node side: the owner has it */
	xp_rdma_state_cb cb;
	void *arg;
	/* credits */
	uint32_t max_posted; /* send queue depth we use */
	uint32_t max_reads; /* RDMA READs in flight (initiator depth) */
	uint32_t posted, reads_posted, nqueued;
	struct sb_list queue; /* ops waiting for a credit, FIFO */
	struct sb_list posted_ops; /* ops on the QP, the last posted first */
	/* gateway, type 2 memory windows (docs/rdma.md) */
	bool windows; /* in use: the pool MR grants no remote access */
	struct xpr_win *wins; /* pool_count, window i opens onto buffer i */
	uint64_t binds, invalidates; /* completed successfully */
};

/* ---- listener and tokens (listener.c) ----------------------------------- */

/* One issued token; its owner's callback goes to the connection it admits. */
struct xpr_token {
	uint8_t token[XP_RDMA_TOKEN_LEN];
	const void *session; /* NULL: slot free */
	uint64_t gateway_id;
	uint64_t expires_ms;
	xp_rdma_state_cb cb;
	void *arg;
};

struct xp_rdma_listener {
	const struct xp_verbs_ops *ops;
	struct xp_rdma_params params;
	struct rdma_event_channel *ch;
	struct rdma_cm_id *id;
	uint64_t (*now_ms)(void);
	struct sb_list pending; /* accepted conns not handed to an owner */
	uint64_t refused;
	int dead; /* set when the device went away */
	struct xpr_token toks[XP_RDMA_TOKENS_MAX];
};

/* ---- conn.c, for the other files --------------------------------------- */

/* @p is usable for a connection: sizes in range, buffers page multiples. */
bool xpr_params_ok(const struct xp_rdma_params *p);

/*
 * An rdma_cm id with context @ctx on an event channel of its own: both
 * in *@ch and *@id. 0, or -errno with neither left behind.
 */
int xpr_cm_open(const struct xp_verbs_ops *ops, struct rdma_event_channel **ch,
		struct rdma_cm_id **id, void *ctx);

/* Destroy @id, then its channel @ch (NULL: the id has none of its own). */
void xpr_cm_close(const struct xp_verbs_ops *ops, struct rdma_event_channel *ch,
		  struct rdma_cm_id *id);

/*
 * Take @c down with @err (a negative errno, 0 counts as -EIO): stop
 * posting, move the QP to the error state so posted operations flush,
 * abort the queued ones, tell the owner. No-op when already down.
 */
void xpr_conn_fail(struct xp_rdma_conn *c, int err);

/*
 * Tell @c's owner that it is up (@err 0) or down, at most once per kind;
 * the first call hands a node-side connection over (off the pending list).
 */
void xpr_report(struct xp_rdma_conn *c, int err);

/*
 * Post @op now if a credit is free and nobody is queued, else queue it
 * (FIFO). 0: @op's callback runs exactly once. A failed post's error:
 * @c is then down and the callback never runs.
 */
int xpr_submit_op(struct xp_rdma_conn *c, struct xp_rdma_op *op);

/*
 * An rdma_cm event of @c, on either side. Address and route resolution
 * only concern a gateway connection (the node's start at CONNECTING). A
 * rejection takes @c down with @rejected, or with the event's status when
 * @rejected is 0; an error event with its status, else with @error.
 */
void xpr_conn_cm_event(struct xp_rdma_conn *c,
		       const struct xp_verbs_cm_event *ev, int rejected,
		       int error);

/*
 * Node: the connection of connect request @ev, which listener @l admitted
 * with token @tk: resources sized by @l's parameters (pool with local
 * write access only), the RDMA READ depth negotiated, the request
 * accepted. Returns it, CONNECTING and not yet on @l's pending list; or
 * NULL with *@why set, nothing left behind (the caller rejects @ev).
 */
struct xp_rdma_conn *xpr_conn_accept(struct xp_rdma_listener *l,
				     const struct xp_verbs_cm_event *ev,
				     const struct xpr_token *tk,
				     const char **why);

/* ---- window.c, for conn.c ---------------------------------------------- */

/* Allocate one type 2 window per pool buffer of @c. 0 or -errno. */
int xpr_windows_alloc(struct xp_rdma_conn *c);

/*
 * Deallocate @c's windows, before its QP is destroyed (see window.c);
 * the array stays for operations still posted.
 */
void xpr_windows_dealloc(struct xp_rdma_conn *c);

/* Deallocate what is left and free the array. Accepts no windows. */
void xpr_windows_free(struct xp_rdma_conn *c);

#endif
