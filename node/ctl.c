/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Control requests of the storage node (docs/protocol.md): PING, STAT,
 * LUN_CREATE, LUN_OPEN, LUN_RESIZE, LUN_DELETE and LEASE_ACQUIRE, _RENEW,
 * _RELEASE. RDMA_OFFER is routed here and served by rdma_seg.c.
 *
 * All of them run to completion on the spot (no disk engine), except
 * LUN_RESIZE, which dispatch.c runs under the LUN's whole range lock so
 * that every write before it has finished; each is answered here.
 *
 * Threading: only the loop thread (single-threaded node, see
 * server_internal.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/util/clock.h"
#include "../lib/util/log.h"
#include "server_internal.h"

static void do_stat(struct nd_req *req)
{
	struct nd_server *s = req->conn->srv;
	struct xp_stat st = {0};
	struct nd_lun **luns = NULL;
	size_t n, i, room;
	uint8_t *buf;

	n = nd_store_count(s->store);
	if (n > XP_STAT_MAX_LUNS)
		n = XP_STAT_MAX_LUNS;
	if (n) {
		luns = calloc(n, sizeof(*luns));
		if (!luns) {
			nd_req_answer(req, -ENOMEM);
			return;
		}
		nd_store_list(s->store, luns, n);
	}
	room = XP_STAT_FIXED_LEN + n * XP_STAT_LUN_LEN;
	buf = calloc(1, room);
	if (!buf) {
		free(luns);
		nd_req_answer(req, -ENOMEM);
		return;
	}
	st.node_id = s->cfg.id;
	st.uptime_s = (sb_now_ms() - s->start_ms) / 1000;
	st.nluns = (uint32_t)n;
	st.flags = 0;
	if (nd_rdma_usable(s))
		st.flags |= XP_STAT_F_RDMA;
	if (req->conn->rdma_state == ND_RDMA_UP)
		st.flags |= XP_STAT_F_RDMA_SESSION;
	st.ops_read = s->ctr.ops_read;
	st.ops_write = s->ctr.ops_write;
	st.ops_flush = s->ctr.ops_flush;
	st.ops_unmap = s->ctr.ops_unmap;
	st.ops_caw = s->ctr.ops_caw;
	st.bytes_read = s->ctr.bytes_read;
	st.bytes_written = s->ctr.bytes_written;
	st.bytes_rdma = s->ctr.bytes_rdma;
	st.bytes_tcp_payload = s->ctr.bytes_tcp_payload;
	st.bytes_tcp_control = s->ctr.bytes_tcp_control;
	st.ops_write_fua = s->ctr.ops_write_fua;
	st.conns = s->nconns;
	xp_stat_encode(&st, buf);
	for (i = 0; i < n; i++) {
		struct xp_stat_lun e = {0};

		e.lun_id = luns[i]->id;
		e.size = luns[i]->size;
		if (nd_lun_allocated(luns[i], &e.allocated))
			e.allocated = 0;
		memcpy(e.name, luns[i]->name, sizeof(e.name));
		e.layout = luns[i]->layout;
		xp_stat_lun_encode(&e, buf + XP_STAT_FIXED_LEN +
					       i * XP_STAT_LUN_LEN);
	}
	free(luns);
	req->buf = buf;
	req->ans_len = (uint32_t)room;
	nd_req_answer(req, 0);
}

static int do_lun_admin(struct nd_req *req)
{
	struct nd_server *s = req->conn->srv;
	const struct xp_hdr *h = &req->hdr;
	struct nd_lun *lun;
	char name[XP_LUN_NAME_MAX + 1];
	struct xp_layout lay;
	bool existed;
	int ret;

	switch (h->opcode) {
	case XP_OP_LUN_CREATE:
		/* Payload: layout, then name (lengths checked at the edge). */
		if (xp_layout_decode(req->payload, XP_LAYOUT_LEN, &lay) < 0)
			return -EINVAL;
		existed = nd_store_find(s->store, h->lun_id) != NULL;
		ret = nd_store_create(
			s->store, h->lun_id,
			(const char *)req->payload + XP_LAYOUT_LEN,
			h->payload_len - XP_LAYOUT_LEN, h->offset, &lay, &lun);
		if (!ret && !existed)
			sb_info("LUN %s (%016" PRIx64 ") created: chunk "
				"%" PRIu32 ", %u "
				"replicas",
				lun->name, lun->id, lun->layout.chunk_size,
				(unsigned int)lun->layout.replicas);
		return ret;
	case XP_OP_LUN_OPEN:
		lun = nd_store_find(s->store, h->lun_id);
		if (!lun)
			return -ENOENT;
		req->buf = malloc(XP_LAYOUT_LEN + XP_LUN_NAME_MAX);
		if (!req->buf)
			return -ENOMEM;
		req->ans_len = (uint32_t)xp_lun_open_encode(
			&lun->layout, lun->name, req->buf);
		req->ans_offset = lun->size;
		return 0;
	case XP_OP_LUN_DELETE:
		lun = nd_store_find(s->store, h->lun_id);
		if (!lun)
			return -ENOENT;
		memcpy(name, lun->name, sizeof(name));
		ret = nd_store_delete(s->store, lun);
		sb_info("LUN %s deleted%s", name, ret ? " (with errors)" : "");
		return ret;
	default:
		return -EINVAL;
	}
}

void nd_ctl_lun_resize(struct nd_req *req)
{
	struct nd_lun *lun = req->lun;
	int ret;

	ret = nd_store_resize(req->conn->srv->store, lun, req->hdr.offset);
	if (!ret)
		sb_info("LUN %s resized to %" PRIu64 " bytes", lun->name,
			lun->size);
	nd_req_answer(req, ret);
}

static int do_lease(struct nd_req *req)
{
	struct nd_server *s = req->conn->srv;
	const struct xp_hdr *h = &req->hdr;
	struct xp_lease l;
	uint64_t epoch = 0;
	int ret;

	if (xp_lease_decode(req->payload, h->payload_len, &l))
		return -EINVAL;
	switch (h->opcode) {
	case XP_OP_LEASE_ACQUIRE:
		ret = nd_lease_acquire(s->leases, h->lun_id, l.holder,
				       l.duration_ms, sb_now_ms(), &epoch);
		break;
	case XP_OP_LEASE_RENEW:
		ret = nd_lease_renew(s->leases, h->lun_id, l.holder, h->epoch,
				     l.duration_ms, sb_now_ms(), &epoch);
		break;
	default:
		ret = nd_lease_release(s->leases, h->lun_id, l.holder, h->epoch,
				       &epoch);
		break;
	}
	req->ans_epoch = epoch;
	return ret;
}

void nd_ctl_dispatch(struct nd_req *req)
{
	const struct xp_hdr *h = &req->hdr;

	switch (h->opcode) {
	case XP_OP_PING:
		/* Echo: the request's payload becomes the answer's. */
		req->buf = req->payload;
		req->payload = NULL;
		req->ans_len = h->payload_len;
		nd_req_answer(req, 0);
		return;
	case XP_OP_STAT:
		do_stat(req);
		return;
	case XP_OP_RDMA_OFFER:
		nd_req_answer(req, nd_rdma_offer(req));
		return;
	case XP_OP_LUN_CREATE:
	case XP_OP_LUN_OPEN:
	case XP_OP_LUN_DELETE:
		nd_req_answer(req, do_lun_admin(req));
		return;
	case XP_OP_LEASE_ACQUIRE:
	case XP_OP_LEASE_RENEW:
	case XP_OP_LEASE_RELEASE:
		nd_req_answer(req, do_lease(req));
		return;
	default:
		/* HELLO or AUTH again after the handshake. */
		nd_req_answer(req, -EINVAL);
		return;
	}
}
