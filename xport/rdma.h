/* SPDX-License-Identifier: Apache-2.0 */
/*
 * xp_rdma: the RDMA payload transport of docs/protocol.md ("RDMA payload").
 * Control stays on the TCP session (xp_conn); this layer gives:
 *
 *   - the wire codecs of the RDMA_OFFER payload and of the rdma_cm private
 *     data, and the node's check of a request's data descriptor;
 *   - registered buffer pools (fixed count, fixed size, one registration at
 *     a random IOVA base, so no process address ever crosses the wire);
 *   - connections: the gateway connects presenting a one-time token; the
 *     node's listener accepts only a token it issued, unspent, unexpired,
 *     for the session and gateway it was issued to;
 *   - the node's data primitive, xp_rdma_move(): RDMA READ or WRITE between
 *     a descriptor and a local pool buffer, with credits so that a post
 *     never exceeds what the queue pair was created with;
 *   - the gateway's type 2 memory windows, where the device has them: a
 *     window bound over a request's buffer before the request is sent
 *     (xp_rdma_grant) and invalidated before the buffer is reused
 *     (xp_rdma_release), the pool itself registered without remote access.
 *
 *   gateway                                       node
 *   xp_rdma_connect(token) ~~~ rdma_cm REQ ~~~>   xp_rdma_listener_service()
 *                                                  token ok: accept, else reject
 *   state cb (0: up)       <~~~ ESTABLISHED ~~~>   state cb (0: up)
 *   xp_rdma_pool_get, xp_rdma_grant (bind; windows only)
 *   xp_rdma_conn_describe  -> descriptor in a TCP request
 *                                                  xp_rdma_move(desc, buf)
 *                          <~~~ RDMA READ/WRITE    completion cb, answer on TCP
 *   xp_rdma_release (invalidate; windows only), buffer back to the pool
 *
 * Event-loop agnostic, like xp_conn: the owner polls the fds below for
 * POLLIN and calls the service functions. Not thread-safe: one thread owns
 * a listener and its connections. Calls into the verbs go through a
 * struct xp_verbs_ops (xport/verbs.h) so that tests can use fakes.
 */
#ifndef SPANBLK_XPORT_RDMA_H
#define SPANBLK_XPORT_RDMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../lib/util/list.h"
#include "proto.h"
#include "verbs.h"

/* RDMA_OFFER (XP_OP_RDMA_OFFER) and its payload codec are in proto.h. */
#define XP_RDMA_PRIV_LEN 48
#define XP_RDMA_PRIV_MAGIC 0x53425244u /* "SBRD" */
#define XP_RDMA_PRIV_VERSION 1
#define XP_RDMA_TOKENS_MAX 256 /* unspent tokens a listener holds */
#define XP_RDMA_SEGMENT_DEFAULT (256u << 10)

/* ---- wire codecs ------------------------------------------------------ */

/* The private data of the gateway's rdma_cm connect request. */
struct xp_rdma_priv {
	uint64_t gateway_id; /* sender id of the gateway's HELLO */
	uint8_t token[XP_RDMA_TOKEN_LEN];
};

void xp_rdma_priv_encode(const struct xp_rdma_priv *p, uint8_t *buf);
/*
 * Decode private data of @len bytes: XP_RDMA_PRIV_LEN, followed by zeros
 * up to XP_VERBS_PRIV_MAX (IB and RoCE deliver the REQ's whole private
 * data area, padded). 0 or -EBADMSG.
 */
int xp_rdma_priv_decode(const void *buf, size_t len, struct xp_rdma_priv *p);

/* A data descriptor of a READ or WRITE request, host order. */
struct xp_rdma_desc {
	uint32_t key; /* the gateway's rkey */
	uint64_t addr; /* start in the gateway's IOVA window */
	uint32_t len; /* bytes, == the request's length */
};

/*
 * The node's check of the descriptor of request @h (docs/protocol.md):
 * READ or WRITE, desc_xport RDMA, desc_len == length != 0, no inline
 * payload, addr + len does not overflow. 0 and @d filled, or -EPROTO
 * (answer EPROTO: the gateway resends inline).
 */
int xp_rdma_desc_from_hdr(const struct xp_hdr *h, struct xp_rdma_desc *d);

/* ---- registered buffer pool ------------------------------------------ */

struct xp_rdma_pool;

/*
 * One pool buffer. Users read @data, @size and @iova; the rest is the
 * pool's. A buffer belongs to whoever got it until xp_rdma_pool_put().
 */
struct xp_rdma_buf {
	void *data; /* local memory, page aligned */
	uint32_t size; /* bytes, the pool's buffer size */
	uint32_t index; /* position in the pool */
	uint64_t iova; /* address of data[0] in the pool's IOVA window */
	struct sb_list link; /* the pool's free list, while free */
};

/*
 * Called exactly once for a queued xp_rdma_wait: with a buffer now owned
 * by the callee, or with NULL when the pool is being freed.
 */
typedef void (*xp_rdma_buf_cb)(void *arg, struct xp_rdma_buf *buf);

/* A caller-owned place in a pool's wait queue (no allocation when dry). */
struct xp_rdma_wait {
	xp_rdma_buf_cb cb;
	void *arg;
	struct sb_list link; /* the pool's wait queue, while queued */
	bool queued; /* in the queue now */
};

/*
 * Allocate @count buffers of @size bytes (a multiple of 4096) as one
 * page-aligned region and register it once with @access
 * (XP_VERBS_ACC_*) at a random, 2 MiB aligned IOVA base drawn for this
 * pool. Returns NULL with errno set: EINVAL (count or size 0 or not a
 * page multiple, region over 64 GiB), ENOMEM, or the registration's
 * error. @ops and @pd must outlive the pool.
 */
struct xp_rdma_pool *xp_rdma_pool_new(const struct xp_verbs_ops *ops,
				      struct ibv_pd *pd, uint32_t count,
				      uint32_t size, unsigned int access);

/*
 * Deregister and free. Every buffer must have been put back; queued
 * waiters are called with NULL. Accepts NULL.
 */
void xp_rdma_pool_free(struct xp_rdma_pool *p);

/*
 * Dry-pool policy: back-pressure, never failure. Returns a free buffer
 * at once, or NULL after queueing @w (FIFO): @cb then runs exactly once,
 * from the xp_rdma_pool_put() that frees a buffer (or with NULL from
 * xp_rdma_pool_free), unless xp_rdma_pool_cancel(@w) runs first. @w must
 * stay valid while queued and not be queued twice.
 */
struct xp_rdma_buf *xp_rdma_pool_get(struct xp_rdma_pool *p,
				     struct xp_rdma_wait *w, xp_rdma_buf_cb cb,
				     void *arg);

/* Take @w out of the wait queue; its callback will not run. No-op if not
 * queued. */
void xp_rdma_pool_cancel(struct xp_rdma_pool *p, struct xp_rdma_wait *w);

/* Give @b back: to the first waiter if any (its callback runs now). */
void xp_rdma_pool_put(struct xp_rdma_pool *p, struct xp_rdma_buf *b);

/*
 * Fill @h's data descriptor (desc_xport RDMA, desc_key, desc_addr,
 * desc_len) for @len bytes at @off in @b. 0, or -EINVAL when the range
 * leaves the buffer or is empty.
 */
int xp_rdma_pool_describe(const struct xp_rdma_pool *p,
			  const struct xp_rdma_buf *b, uint32_t off,
			  uint32_t len, struct xp_hdr *h);

uint32_t xp_rdma_pool_count(const struct xp_rdma_pool *p);
uint32_t xp_rdma_pool_nfree(const struct xp_rdma_pool *p);
uint64_t xp_rdma_pool_base(const struct xp_rdma_pool *p);
uint32_t xp_rdma_pool_lkey(const struct xp_rdma_pool *p);
uint32_t xp_rdma_pool_rkey(const struct xp_rdma_pool *p);

/* ---- connections ------------------------------------------------------ */

struct xp_rdma_conn;
struct xp_rdma_listener;

/* Sizes of one connection. */
struct xp_rdma_params {
	uint32_t max_ops; /* send work requests asked of the QP, >= 1 */
	uint32_t pool_count; /* buffers of the connection's pool */
	uint32_t pool_size; /* bytes each, a multiple of 4096 */
	/*
	 * Gateway: bind a type 2 memory window per grant (xp_rdma_grant)
	 * when the device has them, and register the pool without remote
	 * access; else the pool itself is remotely accessible. Node: unused.
	 */
	bool windows;
};

/*
 * State changes of @c: @err 0 once when it is established, then (or
 * instead) a negative errno once when it is down. The first call hands a
 * node-side connection to the owner, who frees it with xp_rdma_conn_free()
 * (never from inside a callback of the connection).
 */
typedef void (*xp_rdma_state_cb)(void *arg, struct xp_rdma_conn *c, int err);

/*
 * Gateway: start connecting to @dst presenting @token and @gateway_id
 * (struct xp_rdma_priv). The address and route are resolved, then the
 * device's PD, CQ, QP and a pool of @p's size are created: with
 * @p->windows and a device with type 2 memory windows, the pool is
 * registered for local write and window binding only, with one window
 * per buffer, and the QP and CQ are sized for a bind and an invalidate
 * per buffer on top of @p->max_ops; otherwise the pool is registered
 * with remote read and write access. Then the connect request goes out;
 * @cb reports the outcome. Returns NULL with errno (EINVAL for bad @p,
 * or the first failing call's errno).
 */
struct xp_rdma_conn *xp_rdma_connect(const struct xp_verbs_ops *ops,
				     const struct xp_rdma_params *p,
				     const struct sockaddr *dst,
				     uint64_t gateway_id,
				     const uint8_t token[XP_RDMA_TOKEN_LEN],
				     xp_rdma_state_cb cb, void *arg);

/*
 * Disconnect, destroy the QP (operations still posted complete with
 * -ECONNABORTED, queued ones too), the pool, CQ, PD and id. Pool buffers
 * must have been put back. Accepts NULL.
 */
void xp_rdma_conn_free(struct xp_rdma_conn *c);

/*
 * Handle what is pending: rdma_cm events of a gateway connection, and
 * completions. Returns 0, or the negative errno the connection went down
 * with (the owner then frees it).
 */
int xp_rdma_conn_service(struct xp_rdma_conn *c);

/*
 * Take @c down now, as if it had failed with @err (a negative errno; e.g.
 * -ENETDOWN when the link under it went down): the QP goes into the error
 * state first (rdma_disconnect), so the peer can no longer read or write
 * the pool; queued operations are aborted, posted ones flush; the state
 * callback reports @err, unless it already reported down. The owner frees
 * @c afterwards, as after any failure. No-op when already down.
 */
void xp_rdma_conn_shutdown(struct xp_rdma_conn *c, int err);

/*
 * The ifindex of the net device under a gateway connection, known once
 * its route is resolved (RoCE; the ops' id_netdev), else 0: the link the
 * owner watches (xport/link.h).
 */
int xp_rdma_conn_ifindex(const struct xp_rdma_conn *c);

/* The rdma_cm event fd (gateway only; -1 on the node side). */
int xp_rdma_conn_cm_fd(const struct xp_rdma_conn *c);
/* The completion fd, -1 until the connection's resources exist. */
int xp_rdma_conn_cq_fd(const struct xp_rdma_conn *c);
/* The connection's pool, NULL until its resources exist. */
struct xp_rdma_pool *xp_rdma_conn_pool(struct xp_rdma_conn *c);
bool xp_rdma_conn_is_up(const struct xp_rdma_conn *c);

/*
 * Gateway: type 2 memory windows are in use on @c (known once its pool
 * exists): a node reaches a pool buffer only through the window of a
 * grant, from its bind until its invalidation.
 */
bool xp_rdma_conn_windows(const struct xp_rdma_conn *c);

/*
 * Called exactly once per accepted xp_rdma_grant(): @err 0 when the
 * window over @b is bound (describe it with xp_rdma_conn_describe), or a
 * negative errno (the bind failed or was flushed; the connection is down,
 * -ECONNABORTED when it was freed first). It may run from
 * xp_rdma_conn_service() and xp_rdma_conn_free(); it must not free @c.
 */
typedef void (*xp_rdma_grant_cb)(void *arg, struct xp_rdma_buf *b, int err);

/*
 * Gateway, windows in use: bind @b's window to @len bytes at @off of @b
 * with @access (XP_VERBS_ACC_REMOTE_READ for a WRITE request, whose data
 * the node reads; XP_VERBS_ACC_REMOTE_WRITE for a READ) under a new key.
 * The bind uses a send credit like any operation. Returns 0: @cb runs
 * exactly once. Returns -EINVAL (range outside @b, @len 0, bad @access,
 * @b not of @c's pool or its window not free), -EOPNOTSUPP (no windows
 * on @c), -ENOTCONN (not up), or a failed post's error (the connection
 * is then down); @cb never runs then.
 */
int xp_rdma_grant(struct xp_rdma_conn *c, struct xp_rdma_buf *b, uint32_t off,
		  uint32_t len, unsigned int access, xp_rdma_grant_cb cb,
		  void *arg);

/*
 * Fill @h's data descriptor for @len bytes at @off in @b: with windows,
 * the key of @b's bound window, which must cover the range; else the
 * pool's key (xp_rdma_pool_describe). 0 or -EINVAL.
 */
int xp_rdma_conn_describe(const struct xp_rdma_conn *c,
			  const struct xp_rdma_buf *b, uint32_t off,
			  uint32_t len, struct xp_hdr *h);

/*
 * Gateway: give @b back to @c's pool. With no window bound to it, at
 * once; else a local invalidate of its window is posted and @b goes back
 * only when it has completed, so a buffer whose window might still be
 * valid is never handed out again. If the invalidate cannot be posted or
 * completes with an error, the connection goes down (it is never used
 * again, so its buffers can go back). On a connection that is down, a
 * buffer whose bind is still posted may be released too: it goes back at
 * once and the grant's callback never runs. Ownership of @b passes to @c.
 */
void xp_rdma_release(struct xp_rdma_conn *c, struct xp_rdma_buf *b);

/* Windows bound and invalidated on @c since it was made (tests, logs). */
void xp_rdma_conn_window_stats(const struct xp_rdma_conn *c, uint64_t *binds,
			       uint64_t *invalidates);

/* Credits of @c: operations posted now, and the bounds they never pass. */
struct xp_rdma_credits {
	uint32_t posted; /* operations on the QP now */
	uint32_t reads_posted; /* of which RDMA READs */
	uint32_t max_posted; /* the QP's max_send_wr */
	uint32_t max_reads; /* the negotiated initiator depth */
	uint32_t queued; /* waiting for a credit */
};
void xp_rdma_conn_credits(const struct xp_rdma_conn *c,
			  struct xp_rdma_credits *cr);

/*
 * Node: listen for RDMA connections on @addr with connections sized by
 * @p (their pool: local write access only). NULL with errno.
 */
struct xp_rdma_listener *xp_rdma_listen(const struct xp_verbs_ops *ops,
					const struct sockaddr *addr,
					const struct xp_rdma_params *p);

/*
 * Free the listener and the connections it still owns (not yet handed to
 * an owner). Connections already handed over must be freed first.
 * Accepts NULL.
 */
void xp_rdma_listener_free(struct xp_rdma_listener *l);

int xp_rdma_listener_fd(const struct xp_rdma_listener *l);

/*
 * Handle pending rdma_cm events: connect requests (accepted or rejected
 * by token), establishment and disconnection of the listener's
 * connections. 0, or a negative errno when the listener is unusable
 * (device removed).
 */
int xp_rdma_listener_service(struct xp_rdma_listener *l);

/* Clock for token expiry in ms (tests); NULL restores CLOCK_MONOTONIC. */
void xp_rdma_listener_set_clock(struct xp_rdma_listener *l,
				uint64_t (*now_ms)(void));

/*
 * Issue a one-time token for TCP session @session (an opaque key, never
 * dereferenced) whose HELLO gave @gateway_id; it revokes the session's
 * unspent token. A connection accepted with it reports to @cb/@arg.
 * 0 and @token filled, -EINVAL (@session NULL), -EAGAIN (table full of
 * live tokens), or getrandom's error.
 */
int xp_rdma_token_issue(struct xp_rdma_listener *l, const void *session,
			uint64_t gateway_id, xp_rdma_state_cb cb, void *arg,
			uint8_t token[XP_RDMA_TOKEN_LEN]);

/*
 * The TCP session @session ended: its unspent token is revoked, and a
 * connection accepted for it that the owner has not been handed yet is
 * freed. Returns how many tokens were revoked.
 */
int xp_rdma_token_revoke(struct xp_rdma_listener *l, const void *session);

/*
 * The gateway of TCP session @session described a buffer, which it does
 * only once its side of the RDMA connection is established: take the
 * session's accepted connection as established now, even if rdma_cm's
 * ESTABLISHED (the gateway's RTU) has not been read yet (its state
 * callback reports up). Returns 1 when a connection was confirmed, else 0.
 */
int xp_rdma_token_confirm(struct xp_rdma_listener *l, const void *session);

/* Connect requests refused since the listener started (tests, counters). */
uint64_t xp_rdma_listener_refused(const struct xp_rdma_listener *l);

/* ---- data movement (node side) --------------------------------------- */

enum xp_rdma_dir {
	XP_RDMA_PULL = 1, /* RDMA READ: descriptor -> local (a WRITE request) */
	XP_RDMA_PUSH = 2, /* RDMA WRITE: local -> descriptor (a READ request) */
};

/* Called exactly once per accepted xp_rdma_move(): 0 or a negative errno. */
typedef void (*xp_rdma_done_cb)(void *arg, int err);

/* A caller-owned operation: lives from xp_rdma_move() until its callback. */
struct xp_rdma_op {
	struct sb_list link; /* the connection's credit queue or posted list */
	struct xp_verbs_wr wr; /* what is or will be posted */
	xp_rdma_done_cb cb;
	void *arg;
	bool posted; /* on the QP (else queued for a credit) */
};

/*
 * Move @len bytes between @desc_off in descriptor @d and @local_off in
 * local buffer @local of @c's pool: RDMA READ (PULL) or RDMA WRITE (PUSH).
 * Posted now if a credit is free, else queued FIFO and posted when a
 * completion returns one. Returns 0: @cb runs exactly once (0 when the
 * bytes moved; -EACCES, -ETIMEDOUT, -ECANCELED, -EIO from the completion;
 * -ECONNABORTED when the connection went down first). Returns -EINVAL
 * (a range leaves the descriptor or the buffer, @len 0), -ENOTCONN (not
 * up), or a failed post's error, and then @cb never runs. Any failure
 * of an operation takes the connection down (docs/protocol.md).
 */
int xp_rdma_move(struct xp_rdma_conn *c, struct xp_rdma_op *op,
		 enum xp_rdma_dir dir, const struct xp_rdma_desc *d,
		 uint32_t desc_off, const struct xp_rdma_buf *local,
		 uint32_t local_off, uint32_t len, xp_rdma_done_cb cb,
		 void *arg);

#endif
