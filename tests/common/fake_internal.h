/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the fake device's files share: fake_verbs.c (objects, the calls
 * both modes use, manual mode), fake_cm.c (fabric mode: channels, ids,
 * connections) and fake_fabric.c (fabric mode: CQs, QPs, execution, the
 * ops table, controls). Tests include fake_verbs.h only.
 */
#ifndef SPANBLK_TESTS_FAKE_INTERNAL_H
#define SPANBLK_TESTS_FAKE_INTERNAL_H

#include "fake_verbs.h"

/* F's mutex, taken only in fabric mode (manual mode has one thread). */
void fake_mu_lock(void);
void fake_mu_unlock(void);

/*
 * Something a real device or library would refuse or hang on: a cmocka
 * failure in manual mode, counted in F.violations in fabric mode (called
 * with the lock held there).
 */
void fake_violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A live id from F.ids, or NULL (a violation) when none is free. */
struct rdma_cm_id *fake_id_alloc(void);

/* The calls both tables share. */
int fake_op_device_count(void);
bool fake_op_device_exists(const char *name);
int fake_op_event_channel_fd(struct rdma_event_channel *ch);
void fake_op_set_id_context(struct rdma_cm_id *id, void *context);
void *fake_op_id_context(struct rdma_cm_id *id);
struct ibv_context *fake_op_id_device(struct rdma_cm_id *id);
int fake_op_id_netdev(struct rdma_cm_id *id);
int fake_op_query_caps(struct ibv_context *dev, struct xp_verbs_caps *caps);
struct ibv_mr *fake_op_reg_mr_iova(struct ibv_pd *pd, void *addr, size_t len,
				   uint64_t iova, unsigned int access);
int fake_op_dereg_mr(struct ibv_mr *mr);
uint32_t fake_op_mr_lkey(const struct ibv_mr *mr);
uint32_t fake_op_mr_rkey(const struct ibv_mr *mr);
struct ibv_mw *fake_op_alloc_mw(struct ibv_pd *pd);
int fake_op_dealloc_mw(struct ibv_mw *mw);
uint32_t fake_op_mw_rkey(const struct ibv_mw *mw);
int fake_op_comp_channel_fd(struct ibv_comp_channel *ch);

/*
 * What rxe checks of a type 2 bind at post (kernel rxe_mw.c), and the
 * library's key update: 0, or a violation and -EINVAL.
 */
int fake_check_bind(const struct xp_verbs_wr *wr);

/* ---- fabric mode, called with fake_mu held -------------------------------- */

/* Keep eventfd @fd readable exactly while @pending (*@signalled: it is). */
void fake_efd_level(int fd, bool *signalled, bool pending);
/* A non-blocking eventfd, or -1 with errno. */
int fake_efd_new(void);
/* @id's QP goes into the error state: what it holds flushes. */
void fake_qp_error(struct rdma_cm_id *id);

/* ---- fabric mode's rdma_cm calls (fake_cm.c), for the ops table ---------- */

struct rdma_event_channel *fake_cm_create_event_channel(void);
void fake_cm_destroy_event_channel(struct rdma_event_channel *ch);
int fake_cm_get_cm_event(struct rdma_event_channel *ch,
			 struct xp_verbs_cm_event *ev);
void fake_cm_ack_cm_event(struct xp_verbs_cm_event *ev);
int fake_cm_create_id(struct rdma_event_channel *ch, struct rdma_cm_id **id,
		      void *context);
int fake_cm_destroy_id(struct rdma_cm_id *id);
int fake_cm_bind_addr(struct rdma_cm_id *id, const struct sockaddr *addr);
int fake_cm_listen(struct rdma_cm_id *id, int backlog);
int fake_cm_resolve_addr(struct rdma_cm_id *id, const struct sockaddr *dst,
			 int timeout_ms);
int fake_cm_resolve_route(struct rdma_cm_id *id, int timeout_ms);
int fake_cm_connect(struct rdma_cm_id *id, const void *priv, uint8_t len,
		    uint8_t resp, uint8_t init);
int fake_cm_accept(struct rdma_cm_id *id, uint8_t resp, uint8_t init);
int fake_cm_reject(struct rdma_cm_id *id);
int fake_cm_disconnect(struct rdma_cm_id *id);

#endif
