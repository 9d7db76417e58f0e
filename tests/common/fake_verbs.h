/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A fake RDMA device for tests: a struct xp_verbs_ops whose objects are
 * plain memory, counted from creation to destruction so that every test
 * can prove its teardown released all of them, with failures injected on
 * request. Two modes, chosen by the reset call:
 *
 *   manual (fake_reset, table fake_ops): one test thread drives the
 *     RDMA transport (xport/rdma/) step by step. cm events are
 *     scripted into F.evq (fake_push_ev), posted work requests wait
 *     in F.wr until the test completes them (fake_hca_complete), and
 *     the checks are cmocka assertions. Channel fds are numbers that are never polled.
 *
 *   fabric (fake_fabric_reset, table fake_fabric_ops): both ends of a
 *     connection live in this process, in any threads. A gateway id's
 *     connect reaches the listener bound to its destination (a
 *     CONNECT_REQUEST with the private data); accept establishes both
 *     ends; disconnect or destroy puts both QPs into error and tells the
 *     peer. An RDMA READ or WRITE is executed against the peer's memory
 *     found by rkey (an MR with remote access, or a bound type 2 window,
 *     checked for bounds, access and QP as an HCA does: -EACCES and the
 *     poster's QP in error otherwise) and completes on the poster's CQ;
 *     BIND_MW and LOCAL_INV complete on the poster's CQ. Event channels and
 *     completion channels are eventfds, readable exactly while something
 *     is pending, for the real epoll loops of the engine and the node.
 *     One mutex guards all of F; tests read F under fake_lock(). What
 *     would be a provider error or a hang with real verbs (a CQ overflow,
 *     a window still bound at destroy_qp, an id destroyed with its event
 *     unacknowledged, ...) is counted in F.violations with the first
 *     message kept, since an assertion cannot fail from a foreign thread.
 *
 * The types below are the fake's own definitions of the library's opaque
 * types: a test binary never includes <infiniband/verbs.h>.
 */
#ifndef SPANBLK_TESTS_FAKE_VERBS_H
#define SPANBLK_TESTS_FAKE_VERBS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "xport/verbs.h"

#define FAKE_DEVICE "fake0" /* the one device name the fake knows */

#define MAX_IDS 64
#define MAX_EVENTS 16 /* manual mode's scripted event queue */
#define MAX_WRS 256
#define MAX_MRS 64
#define MAX_MWS 256
#define FAKE_MAX_OBJS 32 /* fabric: PDs, CQs, channels of each kind */
#define FAKE_CH_EVENTS 64 /* fabric: events pending on one channel */
#define FAKE_MAX_HELD 1024 /* fabric: work requests held at once */

/* An rdma_cm event as queued (manual: F.evq; fabric: its channel). */
struct fake_ev {
	enum xp_verbs_cm_type type;
	struct rdma_cm_id *id;
	struct rdma_cm_id *listen_id;
	int status;
	uint8_t priv[XP_VERBS_PRIV_MAX];
	uint8_t priv_len;
	uint8_t resp; /* CONNECT_REQUEST: the peer's responder resources */
	uint8_t init; /* CONNECT_REQUEST: the peer's initiator depth */
};

struct ibv_context {
	int unused;
};
struct ibv_pd {
	bool live;
};
struct ibv_comp_channel {
	int fd;
	bool live;
	bool signalled; /* fabric: the eventfd holds a count */
	unsigned int events; /* fabric: notifications not yet taken */
};
/* A completion as the fabric queues it, with the QP it belongs to. */
struct fake_cqe {
	struct xp_verbs_wc wc;
	struct rdma_cm_id *qp_id;
	enum xp_verbs_opcode opcode;
};
struct ibv_cq {
	bool live;
	struct ibv_comp_channel *ch;
	bool armed; /* req_notify_cq since the last notification */
	unsigned int unacked; /* notifications taken, not acknowledged */
	int cqe; /* capacity */
	int n, head; /* ring of @cqe entries in @q */
	struct fake_cqe *q;
};
struct rdma_event_channel {
	int fd;
	bool live;
	bool signalled; /* fabric: the eventfd holds a count */
	struct fake_ev q[FAKE_CH_EVENTS];
	int head, n;
	struct fake_ev cur; /* handed out by get_cm_event, not yet acked */
	bool has_cur;
};
struct ibv_mr {
	void *addr;
	size_t len;
	uint64_t iova;
	unsigned int access;
	uint32_t lkey, rkey;
	struct ibv_pd *pd;
};
struct ibv_mw {
	uint32_t rkey; /* as the library keeps it: the last posted bind's */
	uint32_t hw_rkey; /* the key the HCA honours while bound */
	bool bound;
	uint64_t addr;
	uint32_t len;
	unsigned int access;
	struct ibv_pd *pd;
	struct ibv_mr *mr; /* bound onto */
	struct rdma_cm_id *qp_id; /* type 2B: the QP that bound it */
};

/* Connection state of a fabric id. */
enum fake_cm_state {
	FAKE_CM_IDLE,
	FAKE_CM_CONNECTING, /* active side: connect sent, no answer yet */
	FAKE_CM_REQUESTED, /* passive side: request queued or being decided */
	FAKE_CM_CONNECTED,
	FAKE_CM_CLOSED, /* disconnected, rejected or peer gone */
};

/* The send side of an id's queue pair (fabric). */
struct fake_qp {
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	uint32_t max_send_wr; /* what create_qp granted */
	bool error; /* posts and held requests flush */
	int unpolled; /* posted, completion not yet polled */
	int unpolled_reads; /* of which RDMA READs */
	int peak, peak_reads; /* highest values of the two */
	uint8_t max_reads; /* initiator depth given at accept/connect */
};

struct rdma_cm_id {
	void *context;
	bool live;
	bool has_qp;
	bool bound; /* has a device */
	/* fabric only */
	struct rdma_event_channel *ch;
	struct sockaddr_storage addr; /* bound (listener) or resolved dst */
	bool listening;
	bool passive; /* made by a connect request on a listener */
	enum fake_cm_state state;
	struct rdma_cm_id *peer; /* the other end, while linked */
	struct rdma_cm_id *listen_id; /* passive: its listener */
	uint8_t resp; /* active: responder resources given to connect */
	bool est_deferred; /* passive ESTABLISHED held (fake_defer_est) */
	struct fake_qp qp;
};

/* A work request the fabric holds (fake_hold) until fake_run_held. */
struct fake_held {
	struct rdma_cm_id *id;
	struct xp_verbs_wr wr;
};

/* Injected failures of the fabric: the next @times matching events. */
struct fake_inject {
	int err; /* 0: none; else the negative errno to give */
	unsigned int opmask; /* 1u << opcode of the requests it hits */
	int times; /* how many more; < 0: every one */
};

struct fake {
	struct ibv_context dev;
	/* manual mode's single objects */
	struct ibv_pd pd;
	struct ibv_cq cq;
	struct ibv_comp_channel cch;
	struct rdma_event_channel ch;
	struct rdma_cm_id ids[MAX_IDS];
	struct ibv_mr mrs[MAX_MRS];
	bool mr_live[MAX_MRS];
	struct ibv_mw mws[MAX_MWS];
	bool mw_live[MAX_MWS];
	struct xp_verbs_caps caps;
	uint32_t qp_extra; /* granted beyond what was asked */
	/* live object counts: every test ends with all of them 0 */
	int n_ch, n_id, n_pd, n_cch, n_cq, n_qp, n_mr, n_mw;
	int regs; /* registrations made */
	/* injected failures: 0 or a negative errno */
	int fail_reg, fail_pd, fail_qp, fail_post, fail_resolve_addr;
	int fail_accept, fail_alloc_mw;
	int binds, invs; /* BIND_MW and LOCAL_INV posted */
	int post_ok_before_fail; /* posts that succeed before fail_post */
	/* rdma_cm */
	struct fake_ev evq[MAX_EVENTS];
	int ev_head, ev_tail;
	struct rdma_cm_id *unacked; /* id of the event handed out, not acked */
	int resolve_addr_calls, resolve_route_calls;
	int connects, accepts, rejects, disconnects;
	uint8_t conn_priv[XP_VERBS_PRIV_MAX]; /* last connect's private data */
	uint8_t conn_priv_len, conn_resp, conn_init, acc_init;
	/* the send queue and the CQ (manual mode) */
	struct xp_verbs_wr wr[MAX_WRS]; /* posted, oldest first */
	int nwr; /* outstanding */
	int reads, max_out, max_reads_out, posts;
	uint64_t post_order[MAX_WRS]; /* wr_id of every post, in order */
	struct xp_verbs_wc cqe[MAX_WRS];
	int ncqe;
	uint32_t qp_max_send_wr; /* what create_qp granted */
	int netdev; /* what id_netdev answers */

	/* ---- fabric mode ---- */
	bool fabric;
	int ndevices; /* what device_count answers */
	struct ibv_pd pds[FAKE_MAX_OBJS];
	struct ibv_cq cqs[FAKE_MAX_OBJS];
	struct ibv_comp_channel cchs[FAKE_MAX_OBJS];
	struct rdma_event_channel chs[FAKE_MAX_OBJS];
	unsigned int hold_mask; /* 1u << opcode: posts held, not executed */
	struct fake_held held[FAKE_MAX_HELD];
	int nheld;
	struct fake_inject post_err; /* post_send returns err */
	struct fake_inject wc_err; /* the request completes with err */
	int bad_token; /* connects whose token is altered (< 0: all) */
	bool defer_est; /* passive ESTABLISHED held until released */
	bool partition; /* nothing reaches the other end of a connection */
	/* what the fabric executed */
	uint64_t rdma_reads, rdma_writes; /* successful RDMA READ / WRITE */
	uint64_t rdma_bytes; /* bytes they moved */
	uint64_t rdma_errors; /* RDMA READ/WRITE completed in error */
	int bound_now, peak_bound; /* windows bound at once */
	int peak_passive, peak_passive_reads; /* max over passive QPs */
	int peak_active; /* max over active QPs */
	/* what would go wrong with real verbs, and the first such thing */
	int violations;
	char violation[256];
};

extern struct fake F;
/* Manual mode: scripted events and completions. */
extern const struct xp_verbs_ops fake_ops;
/* Fabric mode: two ends in one process. */
extern const struct xp_verbs_ops fake_fabric_ops;

/* ---- manual mode -------------------------------------------------------- */

/* Start a test in manual mode: every count zero, default caps. */
void fake_reset(void);

/* A new live id, as create_id would give (fails the test when full). */
struct rdma_cm_id *fake_new_id(void);

/* Queue a scripted cm event for @id. */
void fake_push_ev(enum xp_verbs_cm_type type, struct rdma_cm_id *id,
		  int status);

/* The HCA finishes the oldest outstanding work request with @status. */
void fake_hca_complete(int status);

/* The QP went to error: every outstanding request flushes. */
void fake_hca_flush_all(void);

/* The live window bound under @rkey, or NULL. */
struct ibv_mw *fake_mw_by_key(uint32_t rkey);

/* ---- fabric mode -------------------------------------------------------- */

/*
 * Start a fabric: everything released from any previous use (it must
 * have been), caps of a device with type 2 windows, one device named
 * FAKE_DEVICE, nothing held or injected.
 */
void fake_fabric_reset(void);

/* Take and release F's mutex, to read F from a test thread. */
void fake_lock(void);
void fake_unlock(void);

/*
 * Every object made was released and nothing went against the verbs'
 * rules: true, or false with the reason in @why.
 */
bool fake_all_released(char *why, size_t len);

/*
 * Hold work requests of the opcodes in @mask (1u << XP_VERBS_*) instead
 * of executing them at post (0: none). Requests posted after a held one
 * on the same QP are held too, so completions keep their order.
 */
void fake_hold(unsigned int mask);

/* Work requests held now. */
int fake_held(void);

/*
 * Complete every held request: executed in posting order (those behind
 * one that failed on its QP flush). Returns how many.
 */
int fake_run_held(void);

/*
 * The next @times posts of an opcode in @opmask (0: any) fail: post_send
 * returns @err. @times < 0: every one; 0 clears.
 */
void fake_inject_post_error(unsigned int opmask, int err, int times);

/*
 * The next @times requests of an opcode in @opmask (0: any) complete with
 * @status (and put their QP into error) instead of executing. @times < 0:
 * every one; 0 clears.
 */
void fake_inject_wc_error(unsigned int opmask, int status, int times);

/* The next @times connects (< 0: every one) carry a token altered. */
void fake_inject_bad_token(int times);

/*
 * @on: the passive side's ESTABLISHED is not delivered at accept (its
 * RTU is late); off: every held one is delivered now.
 */
void fake_defer_est(bool on);

/*
 * @on: the wire between the two ends is cut: a disconnect or destroy
 * leaves the other end unaware (its QP up, no event); its RDMA requests
 * then fail with -ETIMEDOUT, retries exceeded. Off: as before.
 */
void fake_partition(bool on);

#endif
