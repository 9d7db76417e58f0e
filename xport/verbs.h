/* SPDX-License-Identifier: Apache-2.0 */
/*
 * xp_verbs: the ibv_* and rdma_* calls xport/rdma/ makes, as an ops table,
 * so that unit tests can put fakes in their place. xport/verbs.c holds the
 * real table; it and nothing else includes <infiniband/verbs.h> and
 * <rdma/rdma_cma.h>, so this header names their objects only as opaque
 * pointers and carries its own small work-request, completion and event
 * structures.
 *
 * Every call returns 0 or a negative errno (verbs' positive errno and
 * librdmacm's -1 with errno are converted in verbs.c, once); constructors
 * return the object, or NULL with errno set. Destructors accept NULL.
 */
#ifndef SPANBLK_XPORT_VERBS_H
#define SPANBLK_XPORT_VERBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct ibv_context;
struct ibv_pd;
struct ibv_mr;
struct ibv_mw;
struct ibv_cq;
struct ibv_comp_channel;
struct rdma_cm_id;
struct rdma_event_channel;

/* What xport/rdma/ needs to know about a device (from ibv_query_device_ex). */
struct xp_verbs_caps {
	uint32_t max_qp_wr; /* work requests per queue */
	uint32_t max_cqe; /* entries per completion queue */
	uint32_t max_qp_rd_atom; /* RDMA READs a QP serves as responder */
	uint32_t max_qp_init_rd_atom; /* RDMA READs a QP may have in flight */
	uint64_t max_mr_size; /* largest registration */
	bool mw_type2; /* type 2 memory windows (IBV_DEVICE_MEM_WINDOW_TYPE_2B) */
};

/* Access flags of a registration (mapped to IBV_ACCESS_* in verbs.c). */
#define XP_VERBS_ACC_LOCAL_WRITE 0x1u
#define XP_VERBS_ACC_REMOTE_READ 0x2u
#define XP_VERBS_ACC_REMOTE_WRITE 0x4u
#define XP_VERBS_ACC_MW_BIND 0x8u /* memory windows may be bound to it */

enum xp_verbs_opcode {
	XP_VERBS_RDMA_READ = 1, /* remote -> local */
	XP_VERBS_RDMA_WRITE = 2, /* local -> remote */
	XP_VERBS_BIND_MW = 3, /* bind a type 2 window to part of a local MR */
	XP_VERBS_LOCAL_INV = 4, /* invalidate a window by its rkey */
};

/*
 * One signalled work request.
 *   RDMA_READ/WRITE: one scatter/gather entry (local_addr, length, lkey)
 *     and the peer's remote_addr, rkey.
 *   BIND_MW: window @mw, once bound, grants @mw_access to @length bytes at
 *     @local_addr (in @mr's IOVA space) of @mr under the new key @rkey;
 *     after a successful post, mw_rkey(@mw) is @rkey.
 *   LOCAL_INV: the window whose current key is @rkey stops granting.
 */
struct xp_verbs_wr {
	uint64_t wr_id; /* returned in the completion */
	enum xp_verbs_opcode opcode;
	uint64_t local_addr; /* address in the local MR's IOVA space */
	uint32_t length; /* bytes */
	uint32_t lkey; /* local MR's key */
	uint64_t remote_addr; /* address in the peer's IOVA window */
	uint32_t rkey; /* the peer's key; BIND_MW: new; LOCAL_INV: to kill */
	struct ibv_mw *mw; /* BIND_MW: the window */
	struct ibv_mr *mr; /* BIND_MW: the region it opens onto */
	unsigned int mw_access; /* BIND_MW: XP_VERBS_ACC_REMOTE_* */
};

/*
 * One completion. @status is 0 or a negative errno converted from
 * ibv_wc_status: -ECANCELED (flushed: the QP was in error), -EACCES
 * (remote access or protection error), -ETIMEDOUT (transport retries
 * exceeded, peer gone), -EIO (anything else).
 */
struct xp_verbs_wc {
	uint64_t wr_id;
	int status;
	uint32_t byte_len; /* valid for successful RDMA READ */
};

enum xp_verbs_cm_type {
	XP_CM_ADDR_RESOLVED = 1,
	XP_CM_ROUTE_RESOLVED,
	XP_CM_CONNECT_REQUEST,
	XP_CM_ESTABLISHED,
	XP_CM_REJECTED,
	XP_CM_DISCONNECTED,
	XP_CM_ERROR, /* address, route, connect error or unreachable */
	XP_CM_DEVICE_REMOVAL,
	XP_CM_OTHER, /* anything xport/rdma/ has no use for */
};

/* Largest private data a connect request carries (RC over IB/RoCE). */
#define XP_VERBS_PRIV_MAX 56

/* One rdma_cm event, valid until ack_cm_event(). */
struct xp_verbs_cm_event {
	enum xp_verbs_cm_type type;
	struct rdma_cm_id *id; /* the id concerned (new id on a request) */
	struct rdma_cm_id *listen_id; /* CONNECT_REQUEST: the listener */
	int status; /* the event's status, as a negative errno or 0 */
	const void *priv; /* CONNECT_REQUEST: the private data */
	uint8_t priv_len;
	/* CONNECT_REQUEST: the values the peer passed to rdma_connect */
	uint8_t responder_resources; /* RDMA READs it serves for us */
	uint8_t initiator_depth; /* RDMA READs it may issue itself */
	void *raw; /* the library's event, for ack_cm_event() */
};

/* Queue pair limits asked for; create_qp writes back what was granted. */
struct xp_verbs_qp_cap {
	uint32_t max_send_wr;
	uint32_t max_send_sge;
};

struct xp_verbs_ops {
	/* devices present now (what decides whether RDMA is offered) */
	int (*device_count)(void); /* 0 when none or no kernel support */
	bool (*device_exists)(const char *name); /* e.g. "rxe0" */

	/* rdma_cm: event channel, ids, address and route, connections */
	struct rdma_event_channel *(*create_event_channel)(void);
	void (*destroy_event_channel)(struct rdma_event_channel *ch);
	int (*event_channel_fd)(struct rdma_event_channel *ch);
	/* 0 and @ev filled, -EAGAIN when none is pending, or -errno. */
	int (*get_cm_event)(struct rdma_event_channel *ch,
			    struct xp_verbs_cm_event *ev);
	void (*ack_cm_event)(struct xp_verbs_cm_event *ev);
	int (*create_id)(struct rdma_event_channel *ch, struct rdma_cm_id **id,
			 void *context);
	int (*destroy_id)(struct rdma_cm_id *id);
	void (*set_id_context)(struct rdma_cm_id *id, void *context);
	void *(*id_context)(struct rdma_cm_id *id);
	/* The device an id is bound to; NULL before address resolution. */
	struct ibv_context *(*id_device)(struct rdma_cm_id *id);
	/*
	 * The ifindex (> 0) of the net device under an id whose route is
	 * resolved (RoCE: the GID table entry of its source GID on its
	 * port), -ENOTCONN before that, -ENODEV when the device has none
	 * (InfiniBand). May be NULL in a table: no link to watch.
	 */
	int (*id_netdev)(struct rdma_cm_id *id);
	int (*bind_addr)(struct rdma_cm_id *id, const struct sockaddr *addr);
	int (*listen)(struct rdma_cm_id *id, int backlog);
	int (*resolve_addr)(struct rdma_cm_id *id, const struct sockaddr *dst,
			    int timeout_ms);
	int (*resolve_route)(struct rdma_cm_id *id, int timeout_ms);
	int (*connect)(struct rdma_cm_id *id, const void *priv, uint8_t len,
		       uint8_t responder_resources, uint8_t initiator_depth);
	int (*accept)(struct rdma_cm_id *id, uint8_t responder_resources,
		      uint8_t initiator_depth);
	int (*reject)(struct rdma_cm_id *id);
	int (*disconnect)(struct rdma_cm_id *id);

	/* device, protection domain, registrations */
	int (*query_caps)(struct ibv_context *dev, struct xp_verbs_caps *caps);
	struct ibv_pd *(*alloc_pd)(struct ibv_context *dev);
	int (*dealloc_pd)(struct ibv_pd *pd);
	/* Register @len bytes at @addr, seen remotely at @iova. */
	struct ibv_mr *(*reg_mr_iova)(struct ibv_pd *pd, void *addr, size_t len,
				      uint64_t iova, unsigned int access);
	int (*dereg_mr)(struct ibv_mr *mr);
	uint32_t (*mr_lkey)(const struct ibv_mr *mr);
	uint32_t (*mr_rkey)(const struct ibv_mr *mr);
	/* A type 2 memory window of @pd, unbound; NULL with errno. */
	struct ibv_mw *(*alloc_mw)(struct ibv_pd *pd);
	int (*dealloc_mw)(struct ibv_mw *mw);
	/* The window's current key (the last one posted in a bind). */
	uint32_t (*mw_rkey)(const struct ibv_mw *mw);

	/* completions */
	struct ibv_comp_channel *(*create_comp_channel)(struct ibv_context *dev);
	int (*destroy_comp_channel)(struct ibv_comp_channel *ch);
	int (*comp_channel_fd)(struct ibv_comp_channel *ch);
	struct ibv_cq *(*create_cq)(struct ibv_context *dev, int cqe,
				    struct ibv_comp_channel *ch);
	int (*destroy_cq)(struct ibv_cq *cq);
	int (*req_notify_cq)(struct ibv_cq *cq);
	/* 0 after consuming one notification of @ch, -EAGAIN if none. */
	int (*get_cq_event)(struct ibv_comp_channel *ch);
	void (*ack_cq_events)(struct ibv_cq *cq, unsigned int n);
	/* Up to @n completions into @wc: how many (0..n), or -errno. */
	int (*poll_cq)(struct ibv_cq *cq, int n, struct xp_verbs_wc *wc);

	/* the RC queue pair of an id: send side only, one CQ for both */
	int (*create_qp)(struct rdma_cm_id *id, struct ibv_pd *pd,
			 struct ibv_cq *cq, struct xp_verbs_qp_cap *cap);
	void (*destroy_qp)(struct rdma_cm_id *id);
	int (*post_send)(struct rdma_cm_id *id, const struct xp_verbs_wr *wr);
};

/*
 * The table of the real libibverbs/librdmacm calls. Static storage, never
 * NULL (the calls fail at run time when no device exists).
 */
const struct xp_verbs_ops *xp_verbs_real(void);

/*
 * Number of RDMA devices present now (ibv_get_device_list), 0 when none
 * or no RDMA kernel support: what tests use to skip with a reason.
 */
int xp_verbs_device_count(void);

/* An RDMA device named @name (e.g. "rxe0") is present now. */
bool xp_verbs_device_exists(const char *name);

#endif
