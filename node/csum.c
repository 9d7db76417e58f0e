/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CHUNK_CSUM (docs/protocol.md, "Chunk operations"): the CRC32C of a
 * range of a LUN as the node reads it, and how much of it the file holds
 * as data, for scrub and reconcile to compare replicas without moving
 * their data.
 *
 *   take LUN, check range ─ shared range lock ─┬─ segment is a hole:
 *                                              │    CRC of zeros, no read
 *                                              └─ else: nd_io_read ─ CRC
 *        (next segment) <──────────────────────────────┘
 *   last segment done ─ answer: crc, data_bytes (16 bytes)
 *
 * The range is read in segments of CSUM_SEG bytes into one buffer
 * (req->buf, which then carries the answer), one disk read at a time,
 * through the disk engine: the loop thread never waits for the disk. The
 * shared lock keeps writes out of the range while it is read, so the CRC
 * is of one snapshot.
 *
 * Threading: only the loop thread (single-threaded node, see
 * server_internal.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/util/list.h"
#include "server_internal.h"

#define CSUM_SEG (1u << 20)

struct nd_csum {
	uint64_t pos; /* first byte not yet in crc */
	uint64_t end; /* one past the range */
	uint32_t crc; /* running CRC32C (not yet inverted) */
	uint32_t seg; /* bytes of the segment being read */
	uint64_t data_bytes; /* of the segments done so far */
	bool buf_zero; /* req->buf holds zeros (a hole was summed) */
};

static void csum_step(struct nd_req *req);

static void csum_finish(struct nd_req *req)
{
	struct xp_csum out = {
		.crc = ~req->csum->crc,
		.data_bytes = req->csum->data_bytes,
	};

	/* req->buf has room for it (nd_csum_start). */
	xp_csum_encode(&out, req->buf);
	req->ans_len = XP_CSUM_LEN;
	nd_req_answer(req, 0);
}

static void csum_read_done(struct nd_io_op *op, int res)
{
	struct nd_req *req = container_of(op, struct nd_req, io);
	struct nd_csum *cs = req->csum;

	if (res) {
		nd_req_log_disk_error(req, res);
		nd_req_answer(req, res);
		return;
	}
	cs->crc = xp_crc32c_update(cs->crc, req->buf, cs->seg);
	cs->pos += cs->seg;
	cs->buf_zero = false;
	csum_step(req);
}

/* Sum holes at once, start the read of the next segment with data. */
static void csum_step(struct nd_req *req)
{
	struct nd_server *s = req->conn->srv;
	struct nd_csum *cs = req->csum;
	struct nd_lun *lun = req->lun;
	int ret;

	while (cs->pos < cs->end) {
		uint64_t left = cs->end - cs->pos;
		uint32_t seg = left < CSUM_SEG ? (uint32_t)left : CSUM_SEG;
		uint64_t data = nd_lun_data_bytes(lun, cs->pos, seg);

		cs->data_bytes += data;
		if (data) {
			cs->seg = seg;
			ret = nd_io_read(
				s->io, &req->io,
				nd_lun_data_fd(lun, req->buf, cs->pos, seg),
				req->buf, seg, cs->pos, csum_read_done);
			if (ret)
				nd_req_answer(req, ret);
			return;
		}
		if (!cs->buf_zero) {
			memset(req->buf, 0, seg);
			cs->buf_zero = true;
		}
		cs->crc = xp_crc32c_update(cs->crc, req->buf, seg);
		cs->pos += seg;
	}
	csum_finish(req);
}

static void csum_locked(struct nd_rlock_req *r)
{
	csum_step(container_of(r, struct nd_req, rl));
}

void nd_csum_start(struct nd_req *req)
{
	const struct xp_hdr *h = &req->hdr;
	uint32_t buflen;
	int ret;

	ret = nd_req_take_lun(req);
	if (!ret)
		ret = nd_lun_check_range(req->lun, h->offset, h->length);
	if (ret)
		goto out_answer;
	req->csum = calloc(1, sizeof(*req->csum));
	if (!req->csum) {
		ret = -ENOMEM;
		goto out_answer;
	}
	/* The answer (XP_CSUM_LEN) goes out of the same buffer. */
	buflen = h->length < CSUM_SEG ? h->length : CSUM_SEG;
	if (buflen < XP_CSUM_LEN)
		buflen = XP_CSUM_LEN;
	ret = nd_io_buf_alloc(&req->buf, buflen);
	if (ret)
		goto out_answer;
	req->csum->pos = h->offset;
	req->csum->end = h->offset + h->length;
	req->csum->crc = 0xFFFFFFFFu;
	if (nd_rlock_acquire_shared(&req->lun->rlock, &req->rl, h->offset,
				    h->length, csum_locked))
		csum_step(req);
	return;

out_answer:
	nd_req_answer(req, ret);
}
