/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SCSI dispatch onto the engine (see dispatch.h).
 *
 * Every submission becomes one request (struct sbh_req) that issues engine
 * operations from a generator:
 *
 *   REQ_SINGLE   one op: READ, WRITE, FLUSH, UNMAP, WRITE_ZEROES, CAW
 *   REQ_PATTERN  WRITE SAME with a non-zero block: WRITE pieces of at most
 *                SBH_PIECE_BUF bytes from one replicated buffer, up to
 *                SBH_MAX_INFLIGHT at a time
 *   REQ_VERIFY   READ pieces into a buffer, one at a time, each compared
 *                (BYTCHK) as it arrives
 *
 * then, when the write cache is disabled and the ops cannot carry FUA
 * (WRITE_ZEROES, UNMAP), one FLUSH.
 *
 * Ops are reserved under the request lock (inflight counts them from
 * reservation, so nobody can see the request idle while a reserved op is
 * not yet submitted) and submitted without it. The request finishes when
 * nothing is in flight and nothing more can be issued; that happens on
 * the engine thread, except when the submitter's own sb_engine_submit()
 * fails with nothing else in flight: then the submitter returns the
 * status itself and done never runs.
 */
#include "dispatch.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/iovcopy.h"
#include "../lib/util/iovwalk.h"
#include "../lib/util/log.h"
#include "../xport/proto.h"
#include "sense.h"
#include "tcmu_abi.h"

enum req_kind {
	REQ_SINGLE,
	REQ_PATTERN,
	REQ_VERIFY,
};

struct sbh_req {
	struct sbh_lun *lun;
	struct sbh_cmd cmd; /* the caller's buffers and completion */
	enum sbh_dir dir; /* for the errno mapping */
	enum req_kind kind;
	pthread_mutex_t lock; /* guards every field below */
	unsigned int inflight; /* ops reserved or in flight */
	bool slot_busy[SBH_MAX_INFLIGHT];
	int err; /* first error, 0 if none */
	uint64_t miscompare_off; /* with err == -XP_EMISCOMPARE */
	struct sb_io single; /* REQ_SINGLE: the op (cb unset) */
	bool single_sent;
	uint64_t start; /* REQ_PATTERN/VERIFY: first byte of the range */
	uint64_t next; /* first byte not yet issued */
	uint64_t end; /* first byte after the range */
	uint32_t piece_flags; /* SB_IO_F_* of each piece */
	uint8_t *buf; /* pattern or read buffer, SBH_PIECE_BUF at most */
	size_t buflen;
	uint8_t bytchk; /* REQ_VERIFY: SBH_BYTCHK_* */
	bool post_flush; /* FLUSH after the data ops (write cache off) */
	bool flush_sent;
	struct iovec piov[SBH_MAX_INFLIGHT]; /* per-slot piece buffers */
	struct sb_io io[SBH_MAX_INFLIGHT];
};

/* ---- iovec helpers that never modify the iovec ------------------------ */

static size_t iov_total(const struct iovec *iov, size_t cnt)
{
	size_t i, n = 0;

	for (i = 0; i < cnt; i++)
		n += iov[i].iov_len;
	return n;
}

/*
 * Compare @len bytes of @buf with the iovec from offset @off. Returns
 * true and the first differing offset within @buf in *@diff when they
 * differ (bytes missing from the iovec count as differing).
 */
static bool iov_differs(const struct iovec *iov, size_t cnt, uint64_t off,
			const uint8_t *buf, size_t len, size_t *diff)
{
	struct sb_iov_walk w;
	size_t part, k, done = 0;
	void *v;

	sb_iov_walk_init(&w, iov, (int)cnt, off, len);
	while ((part = sb_iov_walk_next(&w, &v))) {
		const uint8_t *p = v;

		if (memcmp(p, buf + done, part)) {
			for (k = 0; p[k] == buf[done + k]; k++)
				;
			*diff = done + k;
			return true;
		}
		done += part;
	}
	if (done < len) {
		*diff = done;
		return true;
	}
	return false;
}

static bool buf_is_zero(const uint8_t *buf, size_t len)
{
	return !len || (!buf[0] && !memcmp(buf, buf + 1, len - 1));
}

/* ---- checks ------------------------------------------------------------ */

/* [lba, lba + n) within @cap blocks, without wrapping. */
static bool range_ok(uint64_t lba, uint64_t n, uint64_t cap)
{
	return lba <= cap && n <= cap - lba;
}

static int check_unmap(const struct sbh_lun *lun, const struct sbh_cdb *c,
		       const struct iovec *iov, size_t iovcnt, uint64_t cap)
{
	uint8_t buf[SBH_UNMAP_HDR_LEN + SBH_UNMAP_DESC_LEN * SBH_MAX_UNMAP_DESC];
	struct sbh_unmap_desc d[SBH_MAX_UNMAP_DESC];
	size_t max = lun->max_unmap_desc, n, i, avail;
	bool work = false;
	int ret;

	if (!c->param_len)
		return TCMU_STS_OK;
	if (iov_total(iov, iovcnt) < c->param_len)
		return TCMU_STS_INVALID_PARAM_LIST_LEN;
	if (max > SBH_MAX_UNMAP_DESC)
		max = SBH_MAX_UNMAP_DESC;
	avail = sb_iov_copy(
		iov, (int)iovcnt, 0, buf,
		c->param_len < sizeof(buf) ? c->param_len : sizeof(buf), false);
	ret = sbh_unmap_parse(buf, c->param_len, avail, d, max, &n);
	if (ret == -EMSGSIZE)
		return TCMU_STS_INVALID_PARAM_LIST_LEN;
	if (ret)
		return TCMU_STS_INVALID_PARAM_LIST;
	for (i = 0; i < n; i++) {
		if (d[i].nblocks > lun->max_unmap_blocks)
			return TCMU_STS_INVALID_PARAM_LIST;
		if (!range_ok(d[i].lba, d[i].nblocks, cap))
			return TCMU_STS_RANGE;
		work |= d[i].nblocks != 0;
	}
	return work ? TCMU_STS_NOT_HANDLED : TCMU_STS_OK;
}

int sbh_check(const struct sbh_lun *lun, const struct sbh_cdb *c,
	      const struct iovec *iov, size_t iovcnt)
{
	uint64_t cap = atomic_load(&lun->nr_blocks);
	uint64_t bs = lun->block_size;
	uint64_t first, last;

	switch (c->op) {
	case SBH_OP_READ:
	case SBH_OP_WRITE:
		if (c->nblocks > lun->max_xfer_blocks)
			return TCMU_STS_INVALID_CDB;
		if (!range_ok(c->lba, c->nblocks, cap))
			return TCMU_STS_RANGE;
		if (iov_total(iov, iovcnt) != c->nblocks * bs)
			return TCMU_STS_HW_ERR;
		return c->nblocks ? TCMU_STS_NOT_HANDLED : TCMU_STS_OK;
	case SBH_OP_SYNC:
		/* NUMBER OF LOGICAL BLOCKS 0: from lba to the end. */
		if (!range_ok(c->lba, c->nblocks, cap))
			return TCMU_STS_RANGE;
		return TCMU_STS_NOT_HANDLED;
	case SBH_OP_WRITE_SAME:
		/* The runner's Block Limits page says WSNZ = 1. */
		if (!c->nblocks)
			return TCMU_STS_INVALID_CDB;
		if (!range_ok(c->lba, c->nblocks, cap))
			return TCMU_STS_RANGE;
		if (iov_total(iov, iovcnt) != bs)
			return TCMU_STS_INVALID_CDB;
		return TCMU_STS_NOT_HANDLED;
	case SBH_OP_UNMAP:
		return check_unmap(lun, c, iov, iovcnt, cap);
	case SBH_OP_CAW:
		if (!c->nblocks)
			return TCMU_STS_OK;
		if (c->nblocks > lun->max_caw_blocks)
			return TCMU_STS_INVALID_CDB;
		if (!range_ok(c->lba, c->nblocks, cap))
			return TCMU_STS_RANGE;
		if (iov_total(iov, iovcnt) != 2 * c->nblocks * bs)
			return TCMU_STS_HW_ERR;
		/* Atomic only inside one chunk: its first replica decides. */
		first = c->lba * bs / lun->chunk_size;
		last = ((c->lba + c->nblocks) * bs - 1) / lun->chunk_size;
		return first == last ? TCMU_STS_NOT_HANDLED
				     : TCMU_STS_INVALID_CDB;
	case SBH_OP_VERIFY:
		if (c->nblocks > lun->max_xfer_blocks)
			return TCMU_STS_INVALID_CDB;
		if (!range_ok(c->lba, c->nblocks, cap))
			return TCMU_STS_RANGE;
		if (!c->nblocks)
			return TCMU_STS_OK;
		if (c->bytchk == SBH_BYTCHK_ALL &&
		    iov_total(iov, iovcnt) != c->nblocks * bs)
			return TCMU_STS_HW_ERR;
		if (c->bytchk == SBH_BYTCHK_ONE && iov_total(iov, iovcnt) != bs)
			return TCMU_STS_HW_ERR;
		return TCMU_STS_NOT_HANDLED;
	}
	return TCMU_STS_INVALID_CMD;
}

/* ---- requests ---------------------------------------------------------- */

static void req_io_done(struct sb_io *io, int err);

static struct sbh_req *req_new(struct sbh_lun *lun, const struct sbh_cmd *cmd,
			       enum sbh_dir dir, enum req_kind kind)
{
	struct sbh_req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	if (pthread_mutex_init(&r->lock, NULL)) {
		free(r);
		return NULL;
	}
	r->lun = lun;
	r->cmd = *cmd;
	r->dir = dir;
	r->kind = kind;
	return r;
}

static void req_free(struct sbh_req *r)
{
	pthread_mutex_destroy(&r->lock);
	free(r->buf);
	free(r);
}

static unsigned int req_max_inflight(const struct sbh_req *r)
{
	return r->kind == REQ_VERIFY ? 1 : SBH_MAX_INFLIGHT;
}

/* Fill @io (slot @s) with the next op, if there is one. Lock held. */
static bool req_prepare(struct sbh_req *r, struct sb_io *io, unsigned int s)
{
	uint64_t piece;
	bool data_done = r->kind == REQ_SINGLE ? r->single_sent
					       : r->next >= r->end;

	if (!data_done && r->kind == REQ_SINGLE) {
		*io = r->single;
		r->single_sent = true;
	} else if (!data_done) {
		piece = r->end - r->next;
		if (piece > r->buflen)
			piece = r->buflen;
		memset(io, 0, sizeof(*io));
		io->op = r->kind == REQ_VERIFY ? SB_IO_READ : SB_IO_WRITE;
		io->lun_id = r->lun->lun_id;
		io->offset = r->next;
		io->length = piece;
		io->flags = r->piece_flags;
		r->piov[s].iov_base = r->buf;
		r->piov[s].iov_len = (size_t)piece;
		io->iov = &r->piov[s];
		io->iovcnt = 1;
		r->next += piece;
	} else if (r->post_flush && !r->flush_sent && !r->inflight) {
		memset(io, 0, sizeof(*io));
		io->op = SB_IO_FLUSH;
		io->lun_id = r->lun->lun_id;
		r->flush_sent = true;
	} else {
		return false;
	}
	io->cb = req_io_done;
	io->cb_arg = r;
	return true;
}

/* Reserve every op that may start now; their slots go to @slots. Lock held. */
static unsigned int req_reserve(struct sbh_req *r, unsigned int *slots)
{
	unsigned int n = 0, s;

	while (!r->err && r->inflight < req_max_inflight(r)) {
		for (s = 0; r->slot_busy[s]; s++)
			;
		if (!req_prepare(r, &r->io[s], s))
			break;
		r->slot_busy[s] = true;
		r->inflight++;
		slots[n++] = s;
	}
	return n;
}

/*
 * Submit the @n reserved ops. On a failure the op and the ones after it
 * are released. Returns true when that left nothing in flight: the
 * caller must then finish the request itself.
 */
static bool req_submit(struct sbh_req *r, const unsigned int *slots,
		       unsigned int n)
{
	unsigned int i, j;
	bool idle;
	int ret;

	for (i = 0; i < n; i++) {
		ret = sb_engine_submit(r->lun->engine, &r->io[slots[i]]);
		if (!ret)
			continue;
		pthread_mutex_lock(&r->lock);
		if (!r->err)
			r->err = ret;
		for (j = i; j < n; j++) {
			r->slot_busy[slots[j]] = false;
			r->inflight--;
		}
		idle = !r->inflight;
		pthread_mutex_unlock(&r->lock);
		return idle;
	}
	return false;
}

static int req_status(struct sbh_req *r)
{
	if (r->err && r->err != -XP_EMISCOMPARE)
		sb_err_rl("LUN %016" PRIx64 ": I/O failed: %s", r->lun->lun_id,
			  strerror(-r->err));
	return sbh_status_from_errno(r->err, r->dir, r->miscompare_off,
				     r->cmd.sense);
}

static void req_finish(struct sbh_req *r)
{
	sbh_done_fn done = r->cmd.done;
	void *ctx = r->cmd.ctx, *arg = r->cmd.arg;
	int status = req_status(r);

	req_free(r);
	done(ctx, arg, status);
}

/* REQ_VERIFY: compare the piece @io just read. Lock held. */
static void req_verify_piece(struct sbh_req *r, const struct sb_io *io)
{
	uint64_t rel = io->offset - r->start;
	uint32_t bs = r->lun->block_size;
	size_t diff, k;

	if (r->bytchk == SBH_BYTCHK_ALL) {
		if (iov_differs(r->cmd.iov, r->cmd.iovcnt, rel, r->buf,
				(size_t)io->length, &diff)) {
			r->err = -XP_EMISCOMPARE;
			r->miscompare_off = rel + diff;
		}
		return;
	}
	if (r->bytchk != SBH_BYTCHK_ONE)
		return;
	for (k = 0; k < io->length; k += bs) {
		if (iov_differs(r->cmd.iov, r->cmd.iovcnt, 0, r->buf + k, bs,
				&diff)) {
			r->err = -XP_EMISCOMPARE;
			r->miscompare_off = rel + k + diff;
			return;
		}
	}
}

/* Engine completion of one op (engine thread). */
static void req_io_done(struct sb_io *io, int err)
{
	struct sbh_req *r = io->cb_arg;
	unsigned int slots[SBH_MAX_INFLIGHT], n;
	bool idle;

	pthread_mutex_lock(&r->lock);
	if (err && !r->err) {
		r->err = err;
		if (err == -XP_EMISCOMPARE)
			r->miscompare_off = io->miscompare_off;
	} else if (!err && !r->err && r->kind == REQ_VERIFY &&
		   io->op == SB_IO_READ) {
		req_verify_piece(r, io);
	}
	r->slot_busy[io - r->io] = false;
	r->inflight--;
	n = req_reserve(r, slots);
	idle = !n && !r->inflight;
	pthread_mutex_unlock(&r->lock);

	if (idle || req_submit(r, slots, n))
		req_finish(r);
}

/* Start @r: the submit contract of dispatch.h. */
static int req_start(struct sbh_req *r)
{
	unsigned int slots[SBH_MAX_INFLIGHT], n;
	int status;

	pthread_mutex_lock(&r->lock);
	n = req_reserve(r, slots);
	pthread_mutex_unlock(&r->lock);

	if (!req_submit(r, slots, n))
		return TCMU_STS_OK;
	status = req_status(r);
	req_free(r);
	return status;
}

/* ---- submissions ------------------------------------------------------- */

/* Common argument checks; TCMU_STS_NOT_HANDLED when all is well. */
static int sub_check(const struct sbh_lun *lun, uint64_t off, uint64_t len,
		     const struct sbh_cmd *cmd, uint64_t need)
{
	uint64_t bs = lun->block_size;

	if (!len || off % bs || len % bs || cmd->iovcnt > INT_MAX)
		return TCMU_STS_HW_ERR;
	if (!range_ok(off / bs, len / bs, atomic_load(&lun->nr_blocks)))
		return TCMU_STS_RANGE;
	if (need && iov_total(cmd->iov, cmd->iovcnt) < need)
		return TCMU_STS_HW_ERR;
	return TCMU_STS_NOT_HANDLED;
}

static int sub_single(struct sbh_lun *lun, const struct sbh_cmd *cmd,
		      enum sbh_dir dir, const struct sb_io *proto,
		      bool post_flush)
{
	struct sbh_req *r = req_new(lun, cmd, dir, REQ_SINGLE);

	if (!r)
		return TCMU_STS_NO_RESOURCE;
	r->single = *proto;
	r->single.lun_id = lun->lun_id;
	r->post_flush = post_flush;
	return req_start(r);
}

/* READ or WRITE of @len bytes at @off with the command's own iovec. */
static int sub_rw(struct sbh_lun *lun, enum sb_io_op op, uint64_t off,
		  uint64_t len, uint32_t flags, const struct sbh_cmd *cmd)
{
	struct sb_io io = {.op = op, .flags = flags};
	int ret = sub_check(lun, off, len, cmd, len);

	if (ret != TCMU_STS_NOT_HANDLED)
		return ret;
	io.offset = off;
	io.length = len;
	io.iov = cmd->iov;
	io.iovcnt = (int)cmd->iovcnt;
	return sub_single(lun, cmd,
			  op == SB_IO_READ ? SBH_DIR_READ : SBH_DIR_WRITE, &io,
			  false);
}

int sbh_submit_read(struct sbh_lun *lun, uint64_t off, uint64_t len,
		    const struct sbh_cmd *cmd)
{
	return sub_rw(lun, SB_IO_READ, off, len, 0, cmd);
}

int sbh_submit_write(struct sbh_lun *lun, uint64_t off, uint64_t len, bool fua,
		     const struct sbh_cmd *cmd)
{
	return sub_rw(lun, SB_IO_WRITE, off, len,
		      fua || !atomic_load(&lun->wce) ? SB_IO_F_FUA : 0, cmd);
}

int sbh_submit_flush(struct sbh_lun *lun, const struct sbh_cmd *cmd)
{
	struct sb_io io = {.op = SB_IO_FLUSH};

	return sub_single(lun, cmd, SBH_DIR_NONE, &io, false);
}

int sbh_submit_unmap(struct sbh_lun *lun, uint64_t off, uint64_t len,
		     const struct sbh_cmd *cmd)
{
	struct sb_io io = {.op = SB_IO_UNMAP};
	int ret = sub_check(lun, off, len, cmd, 0);

	if (ret != TCMU_STS_NOT_HANDLED)
		return ret;
	io.offset = off;
	io.length = len;
	return sub_single(lun, cmd, SBH_DIR_WRITE, &io,
			  !atomic_load(&lun->wce));
}

int sbh_submit_write_same(struct sbh_lun *lun, uint64_t off, uint64_t len,
			  bool unmap, const struct sbh_cmd *cmd)
{
	uint32_t bs = lun->block_size;
	struct sb_io io = {.op = SB_IO_WRITE_ZEROES};
	struct sbh_req *r;
	size_t k;
	int ret = sub_check(lun, off, len, cmd, bs);

	if (ret != TCMU_STS_NOT_HANDLED)
		return ret;

	r = req_new(lun, cmd, SBH_DIR_WRITE, REQ_PATTERN);
	if (!r)
		return TCMU_STS_NO_RESOURCE;
	r->buflen = len < SBH_PIECE_BUF ? (size_t)len : SBH_PIECE_BUF / bs * bs;
	if (!r->buflen)
		r->buflen = bs;
	r->buf = malloc(r->buflen);
	if (!r->buf) {
		req_free(r);
		return TCMU_STS_NO_RESOURCE;
	}
	sb_iov_copy(cmd->iov, (int)cmd->iovcnt, 0, r->buf, bs, false);

	if (buf_is_zero(r->buf, bs)) {
		/* Zeroes need no buffer: one WRITE_ZEROES, split by the engine. */
		free(r->buf);
		r->buf = NULL;
		r->kind = REQ_SINGLE;
		io.lun_id = lun->lun_id;
		io.offset = off;
		io.length = len;
		io.flags = unmap ? SB_IO_F_UNMAP : 0;
		r->single = io;
		r->post_flush = !atomic_load(&lun->wce);
		return req_start(r);
	}

	/* A pattern is never unmapped: reads would return zeroes instead. */
	for (k = bs; k < r->buflen; k += bs)
		memcpy(r->buf + k, r->buf, bs);
	r->start = off;
	r->next = off;
	r->end = off + len;
	r->piece_flags = atomic_load(&lun->wce) ? 0 : SB_IO_F_FUA;
	return req_start(r);
}

int sbh_submit_caw(struct sbh_lun *lun, uint64_t off, uint64_t len, bool fua,
		   const struct sbh_cmd *cmd)
{
	struct sb_io io = {.op = SB_IO_CAW};
	int ret = sub_check(lun, off, len, cmd, 2 * len);

	if (ret != TCMU_STS_NOT_HANDLED)
		return ret;
	if (len > XP_MAX_CAW ||
	    off / lun->chunk_size != (off + len - 1) / lun->chunk_size)
		return TCMU_STS_INVALID_CDB;
	io.offset = off;
	io.length = len;
	io.iov = cmd->iov;
	io.iovcnt = (int)cmd->iovcnt;
	if (fua || !atomic_load(&lun->wce))
		io.flags = SB_IO_F_FUA;
	return sub_single(lun, cmd, SBH_DIR_WRITE, &io, false);
}

int sbh_submit_verify(struct sbh_lun *lun, uint64_t off, uint64_t len,
		      uint8_t bytchk, const struct sbh_cmd *cmd)
{
	uint32_t bs = lun->block_size;
	uint64_t need = bytchk == SBH_BYTCHK_ALL   ? len
			: bytchk == SBH_BYTCHK_ONE ? bs
						   : 0;
	struct sbh_req *r;
	int ret = sub_check(lun, off, len, cmd, need);

	if (ret != TCMU_STS_NOT_HANDLED)
		return ret;
	if (bytchk != SBH_BYTCHK_NONE && bytchk != SBH_BYTCHK_ALL &&
	    bytchk != SBH_BYTCHK_ONE)
		return TCMU_STS_INVALID_CDB;

	r = req_new(lun, cmd, SBH_DIR_READ, REQ_VERIFY);
	if (!r)
		return TCMU_STS_NO_RESOURCE;
	r->buflen = len < SBH_PIECE_BUF ? (size_t)len : SBH_PIECE_BUF / bs * bs;
	r->buf = malloc(r->buflen);
	if (!r->buf) {
		req_free(r);
		return TCMU_STS_NO_RESOURCE;
	}
	r->bytchk = bytchk;
	r->start = off;
	r->next = off;
	r->end = off + len;
	return req_start(r);
}

int sbh_exec(struct sbh_lun *lun, const struct sbh_cdb *c,
	     const struct sbh_cmd *cmd)
{
	uint64_t bs = lun->block_size;
	uint64_t off = c->lba * bs, len = (uint64_t)c->nblocks * bs;

	switch (c->op) {
	case SBH_OP_READ:
		return sbh_submit_read(lun, off, len, cmd);
	case SBH_OP_WRITE:
		return sbh_submit_write(lun, off, len, c->fua, cmd);
	case SBH_OP_SYNC:
		return sbh_submit_flush(lun, cmd);
	case SBH_OP_WRITE_SAME:
		return sbh_submit_write_same(lun, off, len, c->unmap, cmd);
	case SBH_OP_CAW:
		return sbh_submit_caw(lun, off, len, c->fua, cmd);
	case SBH_OP_VERIFY:
		return sbh_submit_verify(lun, off, len, c->bytchk, cmd);
	case SBH_OP_UNMAP:
		break;
	}
	return TCMU_STS_INVALID_CMD;
}
