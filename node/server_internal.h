/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Types and functions shared by the files of nd_server (server.h):
 *
 *   server.c     setup and teardown (nd_server_new_verbs, nd_server_free)
 *   loop.c       the epoll loop, timers, signals, graceful stop
 *   conn.c       connections: accept, references, pause/resume, close, reap
 *   handshake.c  HELLO and AUTH before a connection may send requests
 *   dispatch.c   requests: receipt, disk I/O, answers
 *   ctl.c        control requests: PING, STAT, LUN_*, LEASE_*
 *   rdma_seg.c   RDMA payload: offer and token, listener, segments
 *   csum.c       CHUNK_CSUM: a range's CRC32C through the disk engine
 *   push.c       CHUNK_PUSH: a range copied to another node
 *   peer.c       node-to-node sessions (the node as a gateway) for push.c
 *
 * Threading: the node is single-threaded around its epoll loop. Every
 * function here runs on the thread of nd_server_run() (setup and
 * teardown on the thread that calls nd_server_new and nd_server_free,
 * while no loop runs), so nothing is locked. The only exception is
 * nd_server_stop(), which just writes an eventfd.
 */
#ifndef SPANBLK_NODE_SERVER_INTERNAL_H
#define SPANBLK_NODE_SERVER_INTERNAL_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "../lib/config.h"
#include "../lib/util/evtag.h"
#include "../lib/util/list.h"
#include "../xport/auth.h"
#include "../xport/conn.h"
#include "../xport/proto.h"
#include "../xport/rdma.h"
#include "ident.h"
#include "member.h"
#include "pushfence.h"
#include "io.h"
#include "lease.h"
#include "rlock.h"
#include "server.h"
#include "store.h"

/* What a ready fd of the loop belongs to (struct sb_evtag kinds). */
enum nd_ev_kind {
	ND_EV_LISTEN = 1, /* the TCP listener */
	ND_EV_IO, /* the disk engine's completion eventfd */
	ND_EV_SIGNAL, /* signalfd: SIGTERM, SIGINT */
	ND_EV_TIMER, /* the tick timerfd */
	ND_EV_STOP, /* eventfd of nd_server_stop() */
	ND_EV_CONN, /* one connection's socket (struct nd_conn, tag) */
	ND_EV_RDMA_LISTEN, /* rdma_cm events of the RDMA listener */
	ND_EV_RDMA_CQ, /* completions of one session's RDMA connection */
	ND_EV_MEMBER, /* eventfd: the membership thread fenced the node */
	ND_EV_PEER, /* a node-to-node session's socket (struct nd_peer) */
};

struct nd_counters {
	uint64_t ops_read;
	uint64_t ops_write;
	uint64_t ops_flush;
	uint64_t ops_unmap; /* UNMAP and WRITE_ZEROES */
	uint64_t ops_caw; /* compared, whether they matched or not */
	uint64_t bytes_read;
	uint64_t bytes_written;
	uint64_t bytes_tcp_payload; /* inline payload, both directions */
	uint64_t bytes_rdma; /* payload moved by RDMA READ and WRITE */
	uint64_t bytes_tcp_control; /* frame headers, both directions */
	uint64_t ops_write_fua; /* WRITE and CAW with FUA that wrote */
};

/*
 * Session state of a TCP connection (handshake.c, conn.c):
 *
 *   accept ─> HELLO_WAIT ─ HELLO ─> AUTH_WAIT ─ AUTH ─> AUTHED
 *                  │                    │                  │
 *                  │  bad or unexpected frame, 5 s auth    │ socket error,
 *                  │  clock (tick), stop begins            │ hang-up, stop
 *                  v                    v                  v deadline
 *                CLOSED <───────────────┴──────────────────┘
 *
 * Only AUTHED connections carry requests. CLOSED is final: the socket is
 * gone, answers of requests still in flight are dropped, and the
 * nd_conn lives on until its last reference goes (conn.c).
 */
enum nd_conn_state {
	ND_CONN_HELLO_WAIT = 0, /* accepted: only HELLO is accepted */
	ND_CONN_AUTH_WAIT, /* HELLO answered: only AUTH is accepted */
	ND_CONN_AUTHED, /* requests are served */
	ND_CONN_CLOSED, /* socket closed (nd_conn_close) */
};

/*
 * The session's RDMA connection (rdma_seg.c):
 *
 *   NONE ─ listener hands it over, up ──────> UP
 *     │                                        │ down (QP error, link
 *     │ handed over down, or its completion    │ down, RDMA_OFFER again)
 *     │ fd not in epoll                        v
 *     └─────────────────────────────────────> DOWN
 *
 *   UP or DOWN ─ (DOWN, or the session CLOSED) and no segment left:
 *                nd_rdma_reap frees it ─> NONE
 *
 * NONE: no connection (rdma == NULL). UP: descriptors are honoured.
 * DOWN: payload inline; the connection waits for nd_rdma_reap (an up
 * report before that makes it UP again).
 */
enum nd_rdma_state {
	ND_RDMA_NONE = 0,
	ND_RDMA_UP,
	ND_RDMA_DOWN,
};

/* One TCP connection (session) of a gateway. */
struct nd_conn {
	struct sb_evtag tag; /* ND_EV_CONN */
	struct nd_server *srv;
	struct xp_conn *xc; /* NULL once CLOSED */
	struct sb_list link; /* on srv->conns, then srv->dead */
	enum nd_conn_state state;
	unsigned int refs; /* 1 while open + 1 per request (+ RDMA conn) */
	unsigned int inflight; /* requests received and not yet answered */
	uint32_t events; /* epoll mask registered now */
	bool paused; /* reading stopped: too much in flight, or stopping */
	bool rx_check; /* buffered frames may wait for a service call */
	uint64_t auth_deadline_ms; /* CLOSED by tick if not AUTHED by then */
	uint8_t nc[XP_NONCE_LEN]; /* gateway's nonce */
	uint8_t ns[XP_NONCE_LEN]; /* ours */
	uint8_t hello_ans[XP_HELLO_ANSWER_LEN]; /* payload of our HELLO */
	/* RDMA payload */
	bool feat_rdma; /* both HELLOs carried XP_FEAT_RDMA */
	uint64_t gw_id; /* the gateway's HELLO sender id */
	struct sb_evtag rdma_tag; /* ND_EV_RDMA_CQ */
	enum nd_rdma_state rdma_state;
	struct xp_rdma_conn *rdma; /* handed over by the listener; holds a ref */
	bool rdma_cq_reg; /* its completion fd is in epoll */
	unsigned int rdma_segs; /* segments started and not finished */
};

/* One rdma_segment-sized part of an RDMA READ or WRITE request. */
struct nd_seg {
	struct nd_req *req;
	struct nd_io_op io; /* its disk I/O */
	struct xp_rdma_op op; /* its RDMA operation */
	struct xp_rdma_wait wait; /* its place in the pool's queue */
	struct xp_rdma_buf *buf; /* the pool buffer it holds, or NULL */
	uint32_t off; /* offset in the request's payload */
	uint32_t len; /* bytes */
};

/* The fdatasync of one LUN for a FLUSH of every LUN. */
struct nd_flush_one {
	struct nd_io_op op;
	struct nd_req *req;
	struct nd_lun *lun; /* reference held until the fsync completes */
};

struct nd_csum;
struct nd_push;
struct nd_peer;

/* One request, from receipt until its answer left (or was dropped). */
struct nd_req {
	struct nd_conn *conn; /* reference held */
	struct xp_hdr hdr; /* the request */
	uint8_t *payload; /* its payload (owned), NULL when none */
	struct nd_lun *lun; /* reference held, NULL when none */
	struct nd_io_op io;
	struct nd_rlock_req rl;
	uint8_t *buf; /* answer payload or read buffer (owned) */
	uint32_t ans_len; /* answer payload bytes in buf */
	uint64_t ans_offset; /* answer's offset field */
	uint64_t ans_epoch; /* answer's epoch field */
	struct nd_flush_one *flush; /* FLUSH of every LUN */
	unsigned int flush_pending;
	int flush_err;
	/* payload by RDMA */
	struct xp_rdma_conn *rc; /* the connection the segments use */
	struct xp_rdma_desc desc; /* checked descriptor */
	struct nd_seg *segs; /* nsegs entries (owned) */
	unsigned int nsegs;
	unsigned int segs_left; /* not finished yet */
	int seg_err; /* first failure: -EPROTO for RDMA, else disk */
	struct nd_csum *csum; /* CHUNK_CSUM's progress (owned), or NULL */
};

struct nd_server {
	struct sb_nodecfg cfg;
	struct xp_secret secret;
	struct nd_store *store;
	struct nd_ident ident; /* data_dir/node.meta as of this start */
	struct nd_leases *leases;
	struct nd_io *io;
	int epfd;
	int lfd; /* listener, -1 once closed */
	int sigfd;
	int timerfd;
	int stopfd; /* eventfd for nd_server_stop */
	sigset_t oldmask; /* signal mask before nd_server_new */
	struct sb_evtag t_listen, t_io, t_signal, t_timer, t_stop;
	bool listen_paused; /* out of fds: retry on the next tick */
	bool stopping;
	bool rx_scan; /* some connection has rx_check set */
	uint64_t stop_deadline_ms;
	bool sigmask_set; /* oldmask must be restored */
	uint64_t start_ms;
	unsigned int nconns; /* open connections */
	unsigned long nreqs; /* requests allocated */
	struct sb_list conns; /* open, or CLOSED with references left */
	struct sb_list dead; /* unreferenced, freed after this epoll batch */
	struct nd_counters ctr;
	/* RDMA payload: NULL listener when not configured or not usable */
	const struct xp_verbs_ops *vops;
	struct xp_rdma_listener *rl;
	struct sb_evtag t_rdma; /* ND_EV_RDMA_LISTEN */
	bool rdma_dead; /* the device went away: offer no more */
	bool rdma_reap; /* some session's RDMA connection may be freed */
	uint8_t rdma_addr[16]; /* offer address (IPv6 form), or zero */
	bool rdma_addr_set; /* else: the session's own local address */
	/* cluster store membership (node/member.h); NULL member: none */
	struct nd_member *member;
	int memberfd; /* eventfd written by the membership thread */
	struct sb_evtag t_member; /* ND_EV_MEMBER */
	bool fenced; /* lease lost: no sessions until requests and disk drain */
	/* CHUNK_PUSH (push.c) and its sessions to other nodes (peer.c) */
	struct sb_list pushes; /* every push until it is freed */
	struct sb_list push_wait; /* pushes waiting for a slot, in order */
	unsigned int push_active; /* pushes holding a slot */
	bool push_hold; /* no push may start now (push_next) */
	struct nd_pfence *pfence; /* push epochs admitted (pushfence.h) */
	struct sb_list peers; /* open, or failed with users left */
	struct sb_list peers_dead; /* unreferenced, freed after the batch */
	unsigned int npeers; /* on peers */
	bool peer_reap; /* some peer failed: fail its requests after the batch */
};

/* RDMA payload is offered: a listener is up and its device still there. */
static inline bool nd_rdma_usable(const struct nd_server *s)
{
	return s->rl && !s->rdma_dead;
}

/* ---- conn.c ------------------------------------------------------------ */

/* Take a reference on @nc (dropped with nd_conn_put). */
static inline void nd_conn_get(struct nd_conn *nc)
{
	nc->refs++;
}

/*
 * Drop a reference on @nc. The last one takes it off srv->conns onto
 * srv->dead; nd_conn_free_dead() frees it after the current epoll batch.
 */
void nd_conn_put(struct nd_conn *nc);

/* Free every connection on srv->dead. */
void nd_conn_free_dead(struct nd_server *s);

/*
 * Close @nc's socket (state CLOSED) and drop its queued answers; no-op
 * when CLOSED already. Never call it from inside xp_conn_service (the
 * frame callback returns an error instead).
 */
void nd_conn_close(struct nd_conn *nc);

/* Register the epoll mask @nc's state calls for (no-op when CLOSED). */
void nd_conn_update_events(struct nd_conn *nc);

/* Stop (@paused) or resume reading requests of @nc. */
void nd_conn_set_paused(struct nd_conn *nc, bool paused);

/*
 * Send a frame on @nc's TCP session: xp_conn_send, with its header counted
 * as control bytes (bytes_tcp_control; the payload is counted apart).
 */
int nd_conn_send(struct nd_conn *nc, const struct xp_hdr *h,
		 const struct iovec *iov, int iovcnt, xp_sent_cb sent,
		 void *sent_arg);

/* Accept every pending connection of the listener and register it. */
void nd_conn_accept_all(struct nd_server *s);

/* Events of one connection; it may be CLOSED (not freed) already. */
void nd_conn_event(struct nd_conn *nc, uint32_t events);

/* Service connections that hold complete frames the socket won't signal. */
void nd_conn_rx_scan(struct nd_server *s);

/*
 * Call @fn on every connection of srv->conns, newest first, each held by
 * a reference across the call so that @fn may close it.
 */
void nd_conns_each(struct nd_server *s,
		   void (*fn)(struct nd_conn *nc, void *arg), void *arg);

/* Close every connection. */
void nd_conn_close_all(struct nd_server *s);

/* ---- handshake.c ------------------------------------------------------- */

/*
 * A frame of @nc before it is AUTHED: HELLO, then AUTH, nothing else.
 * Takes @payload. 0, or <0: close the connection with no answer.
 */
int nd_handshake(struct nd_conn *nc, const struct xp_hdr *h, uint8_t *payload,
		 bool crc_ok);

/* ---- dispatch.c -------------------------------------------------------- */

/* xp_frame_cb of every connection (@arg: the nd_conn). */
int nd_on_frame(void *arg, const struct xp_hdr *h, void *payload, bool crc_ok);

/*
 * Finish @req with @err (0 or -errno): release its range, count it and
 * queue the answer. @req is gone when this returns.
 */
void nd_req_answer(struct nd_req *req, int err);

/* A disk operation of @req failed: say so, without flooding the log. */
void nd_req_log_disk_error(const struct nd_req *req, int res);

/* Look up @req's LUN and take a reference (req->lun). 0 or -ENOENT. */
int nd_req_take_lun(struct nd_req *req);

/*
 * A buffer of @len bytes aligned for direct I/O (received payloads have
 * the same alignment), into *@out. Freed with free(). 0 or -ENOMEM.
 */
int nd_io_buf_alloc(uint8_t **out, uint32_t len);

/* ---- ctl.c ------------------------------------------------------------- */

/*
 * Serve control request @req (PING, STAT, RDMA_OFFER, LUN_CREATE,
 * LUN_OPEN, LUN_DELETE, LEASE_*) and answer it; any other opcode is
 * answered -EINVAL.
 */
void nd_ctl_dispatch(struct nd_req *req);

/* LUN_RESIZE @req, which holds its LUN's whole range; answers it. */
void nd_ctl_lun_resize(struct nd_req *req);

/* ---- rdma_seg.c -------------------------------------------------------- */

/*
 * With rdma_device set, listen with rdma_cm. Any failure leaves the node
 * serving payload inline only, and logs why.
 */
void nd_rdma_setup(struct nd_server *s);

/* A request of @nc carries an RDMA descriptor: is its RDMA connection up? */
bool nd_rdma_ready(struct nd_conn *nc);

/* RDMA_OFFER @req: fill its answer with a one-time token. 0 or -errno. */
int nd_rdma_offer(struct nd_req *req);

/*
 * Move the payload of READ or WRITE @req (LUN held, range checked; a
 * WRITE also holds its range lock) by RDMA; @req is answered when done.
 */
void nd_rdma_start(struct nd_req *req);

/*
 * Free the RDMA connection of every session whose connection is DOWN or
 * whose TCP session is CLOSED, once no segment uses it; @force (exit
 * only): whatever segments still do.
 */
void nd_rdma_reap(struct nd_server *s, bool force);

/* rdma_cm events of the listener are ready. */
void nd_rdma_listener_event(struct nd_server *s);

/* Completions of @nc's RDMA connection are ready. */
void nd_rdma_cq_event(struct nd_conn *nc);

/* ---- csum.c ------------------------------------------------------------ */

/* CHUNK_CSUM @req (edge-checked): checksum its range and answer it. */
void nd_csum_start(struct nd_req *req);

/* ---- push.c ------------------------------------------------------------ */

/* CHUNK_PUSH @req (edge-checked): copy its range and answer it. */
void nd_push_start(struct nd_req *req);

/*
 * Time out pushes past push_timeout_ms and stop those whose requester's
 * session closed (their answers would be dropped). From the tick.
 */
void nd_push_tick(struct nd_server *s, uint64_t now);

/*
 * Answer every push -ECONNABORTED now (the stop's deadline), closing the
 * sessions that may still carry their frames; their busy pieces drain.
 */
void nd_push_stop_all(struct nd_server *s);

/* At exit: nd_push_stop_all, then free every push and session whatever
 * they still wait for. */
void nd_push_shutdown(struct nd_server *s);

/* ---- peer.c ------------------------------------------------------------ */

/*
 * One request on a node-to-node session, embedded in its caller's object,
 * which fills the fields above `done` and keeps the payload unchanged
 * until `done` runs.
 */
struct nd_peer_req {
	uint8_t opcode; /* WRITE, WRITE_ZEROES or FLUSH */
	uint16_t flags; /* XP_F_UNMAP for WRITE_ZEROES */
	uint64_t lun_id;
	uint64_t offset;
	uint32_t length;
	uint64_t epoch; /* sent as the request's epoch */
	const void *payload; /* WRITE: length bytes, sent with DCRC */
	/* Runs once: 0, the target's status as -errno, or the session's. */
	void (*done)(struct nd_peer_req *r, int err);
	/* the session's */
	struct sb_list link; /* on the peer's waitq or inflight */
	uint64_t req_id;
	bool in_tx; /* the frame is queued: the conn references payload */
};

/*
 * A reference on the session to target @t: the cached one, or a new one
 * whose non-blocking connect starts now. 0, or -ENOMEM, -EIO (no random
 * sender id) or -EHOSTUNREACH (the connect failed at once).
 */
int nd_peer_get(struct nd_server *s, const struct xp_push_target *t,
		struct nd_peer **out);

/* Drop a reference from nd_peer_get. */
void nd_peer_put(struct nd_peer *p);

/*
 * Send @r on @p (queued until the handshake is done). r->done runs exactly
 * once, never from inside this call; by then the session no longer
 * references the payload.
 */
void nd_peer_submit(struct nd_peer *p, struct nd_peer_req *r);

/*
 * Close @p: nothing more is sent on it, and its requests fail with
 * -EHOSTUNREACH after the current epoll batch (nd_peer_reap).
 */
void nd_peer_abort(struct nd_peer *p);

/* Events of the socket of the session whose epoll tag is @tag. */
void nd_peer_event(struct sb_evtag *tag, uint32_t events);

/* Handshake deadlines and idle sessions. From the tick. */
void nd_peer_tick(struct nd_server *s, uint64_t now);

/* After the batch: fail the requests of every session that failed. */
void nd_peer_reap(struct nd_server *s);

/* After the batch: free unreferenced failed sessions. */
void nd_peer_free_dead(struct nd_server *s);

/* At exit: fail every session (nd_peer_reap runs their callbacks). */
void nd_peer_abort_all(struct nd_server *s);

#endif
