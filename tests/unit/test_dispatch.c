/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of handler/dispatch.c. sb_engine_submit is wrapped
 * (test_dispatch.ldflags): submitted ops queue up here and each test
 * completes them by hand, with any error; calloc is wrapped to inject
 * allocation failures.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "handler/dispatch.h"
#include "handler/sense.h"
#include "handler/tcmu_abi.h"
#include "xport/proto.h"

#define BS 512u
#define CHUNK (1u << 20)
#define CAP 65536u /* blocks: 32 MiB */
#define MAXQ 64

int __wrap_sb_engine_submit(struct sb_engine *e, struct sb_io *io);
void *__wrap_calloc(size_t n, size_t size);
void *__real_calloc(size_t n, size_t size);

static struct sb_io *queue[MAXQ];
static unsigned int nq;
static int submit_fail; /* next submit returns this, then 0 */
static int calloc_fail; /* next calloc returns NULL */

int __wrap_sb_engine_submit(struct sb_engine *e, struct sb_io *io)
{
	int ret = submit_fail;

	assert_ptr_equal(e, (struct sb_engine *)0x5b);
	if (ret) {
		submit_fail = 0;
		return ret;
	}
	assert_true(nq < MAXQ);
	queue[nq++] = io;
	return 0;
}

void *__wrap_calloc(size_t n, size_t size)
{
	if (calloc_fail) {
		calloc_fail = 0;
		return NULL;
	}
	return __real_calloc(n, size);
}

/* Take the oldest queued op. */
static struct sb_io *pop(void)
{
	struct sb_io *io;

	assert_true(nq > 0);
	io = queue[0];
	memmove(queue, queue + 1, --nq * sizeof(queue[0]));
	return io;
}

static struct sbh_lun lun;
static uint8_t sense[TCMU_SENSE_BUFFERSIZE];
static int done_calls, done_status;

static void on_done(void *ctx, void *arg, int status)
{
	assert_ptr_equal(ctx, &lun);
	assert_ptr_equal(arg, sense);
	done_calls++;
	done_status = status;
}

static int setup(void **state)
{
	(void)state;
	memset(&lun, 0, sizeof(lun));
	lun.engine = (struct sb_engine *)0x5b;
	lun.lun_id = 0x1234;
	lun.block_size = BS;
	lun.chunk_size = CHUNK;
	atomic_init(&lun.nr_blocks, CAP);
	atomic_init(&lun.wce, true);
	lun.max_xfer_blocks = XP_MAX_IO / BS;
	lun.max_caw_blocks = XP_MAX_CAW / BS;
	lun.max_unmap_blocks = 4096;
	lun.max_unmap_desc = 4;
	nq = 0;
	submit_fail = 0;
	calloc_fail = 0;
	done_calls = 0;
	done_status = -100;
	memset(sense, 0, sizeof(sense));
	return 0;
}

static struct sbh_cmd mkcmd(const struct iovec *iov, size_t cnt)
{
	struct sbh_cmd c = {
		.iov = iov,
		.iovcnt = cnt,
		.sense = sense,
		.done = on_done,
		.ctx = &lun,
		.arg = sense,
	};

	return c;
}

static struct sbh_cdb cdb_of(enum sbh_op op, uint64_t lba, uint32_t n)
{
	struct sbh_cdb c;

	memset(&c, 0, sizeof(c));
	c.op = op;
	c.lba = lba;
	c.nblocks = n;
	c.len = 16;
	return c;
}

/* ---- sbh_check ----------------------------------------------------------- */

static void test_check_rw(void **state)
{
	static uint8_t buf[2 * BS];
	struct iovec iov = {buf, BS};
	struct sbh_cdb c = cdb_of(SBH_OP_READ, CAP - 1, 1);

	(void)state;
	/* Last block: fine. One past: out of range. */
	assert_int_equal(sbh_check(&lun, &c, &iov, 1), TCMU_STS_NOT_HANDLED);
	c.lba = CAP;
	assert_int_equal(sbh_check(&lun, &c, &iov, 1), TCMU_STS_RANGE);
	/* lba + n wraps 64 bits. */
	c.op = SBH_OP_WRITE;
	c.lba = UINT64_MAX;
	assert_int_equal(sbh_check(&lun, &c, &iov, 1), TCMU_STS_RANGE);
	c.lba = UINT64_MAX - 1;
	c.nblocks = 2;
	iov.iov_len = 2 * BS;
	assert_int_equal(sbh_check(&lun, &c, &iov, 1), TCMU_STS_RANGE);
	/* Zero length: GOOD, nothing to do, even at the end of the LUN. */
	c.lba = CAP;
	c.nblocks = 0;
	iov.iov_len = 0;
	assert_int_equal(sbh_check(&lun, &c, &iov, 1), TCMU_STS_OK);
	c.lba = CAP + 1;
	assert_int_equal(sbh_check(&lun, &c, &iov, 1), TCMU_STS_RANGE);
	/* Over the maximum transfer length. */
	c.lba = 0;
	c.nblocks = lun.max_xfer_blocks + 1;
	assert_int_equal(sbh_check(&lun, &c, &iov, 1), TCMU_STS_INVALID_CDB);
	/* Buffer that does not match the CDB. */
	c.nblocks = 1;
	iov.iov_len = 2 * BS;
	assert_int_equal(sbh_check(&lun, &c, &iov, 1), TCMU_STS_HW_ERR);
	/* Capacity follows a resize. */
	c.lba = CAP;
	iov.iov_len = BS;
	atomic_store(&lun.nr_blocks, CAP + 1);
	assert_int_equal(sbh_check(&lun, &c, &iov, 1), TCMU_STS_NOT_HANDLED);
	assert_int_equal(nq, 0);
}

static void test_check_sync_ws_caw_verify(void **state)
{
	static uint8_t buf[4 * BS];
	struct iovec iov = {buf, BS};
	struct sbh_cdb c = cdb_of(SBH_OP_SYNC, 0, 0);

	(void)state;
	assert_int_equal(sbh_check(&lun, &c, NULL, 0), TCMU_STS_NOT_HANDLED);
	c.lba = CAP - 4;
	c.nblocks = 5;
	assert_int_equal(sbh_check(&lun, &c, NULL, 0), TCMU_STS_RANGE);

	c = cdb_of(SBH_OP_WRITE_SAME, 0, 0);
	assert_int_equal(sbh_check(&lun, &c, &iov, 1), TCMU_STS_INVALID_CDB);
	c.nblocks = CAP;
	assert_int_equal(sbh_check(&lun, &c, &iov, 1), TCMU_STS_NOT_HANDLED);
	c.lba = 1;
	assert_int_equal(sbh_check(&lun, &c, &iov, 1), TCMU_STS_RANGE);
	c.lba = 0;
	iov.iov_len = 2 * BS;
	assert_int_equal(sbh_check(&lun, &c, &iov, 1), TCMU_STS_INVALID_CDB);

	c = cdb_of(SBH_OP_CAW, 0, 0);
	assert_int_equal(sbh_check(&lun, &c, &iov, 1), TCMU_STS_OK);
	c.nblocks = 2;
	iov.iov_len = 4 * BS;
	assert_int_equal(sbh_check(&lun, &c, &iov, 1), TCMU_STS_NOT_HANDLED);
	/* Last block of chunk 0 and first of chunk 1: not atomic. */
	c.lba = CHUNK / BS - 1;
	assert_int_equal(sbh_check(&lun, &c, &iov, 1), TCMU_STS_INVALID_CDB);
	c.lba = 0;
	c.nblocks = lun.max_caw_blocks + 1;
	assert_int_equal(sbh_check(&lun, &c, &iov, 1), TCMU_STS_INVALID_CDB);

	c = cdb_of(SBH_OP_VERIFY, 0, 0);
	assert_int_equal(sbh_check(&lun, &c, NULL, 0), TCMU_STS_OK);
	c.nblocks = 4;
	assert_int_equal(sbh_check(&lun, &c, NULL, 0), TCMU_STS_NOT_HANDLED);
	c.bytchk = SBH_BYTCHK_ALL;
	iov.iov_len = 4 * BS;
	assert_int_equal(sbh_check(&lun, &c, &iov, 1), TCMU_STS_NOT_HANDLED);
	iov.iov_len = BS;
	assert_int_equal(sbh_check(&lun, &c, &iov, 1), TCMU_STS_HW_ERR);
	c.bytchk = SBH_BYTCHK_ONE;
	assert_int_equal(sbh_check(&lun, &c, &iov, 1), TCMU_STS_NOT_HANDLED);
	c.lba = CAP - 3;
	assert_int_equal(sbh_check(&lun, &c, &iov, 1), TCMU_STS_RANGE);
}

/* An UNMAP parameter list with @n descriptors from @d. */
static size_t put_unmap(uint8_t *buf, const uint64_t (*d)[2], unsigned int n)
{
	unsigned int i;

	xp_put_be16(buf, (uint16_t)(6 + 16 * n));
	xp_put_be16(buf + 2, (uint16_t)(16 * n));
	xp_put_be32(buf + 4, 0);
	for (i = 0; i < n; i++) {
		xp_put_be64(buf + 8 + 16 * i, d[i][0]);
		xp_put_be32(buf + 16 + 16 * i, (uint32_t)d[i][1]);
		xp_put_be32(buf + 20 + 16 * i, 0);
	}
	return 8 + 16 * n;
}

static void test_check_unmap(void **state)
{
	static const uint64_t ok[][2] = {{0, 8}, {CAP - 4096, 4096}};
	static const uint64_t far[][2] = {{0, 8}, {CAP - 1, 2}};
	static const uint64_t wrap[][2] = {{UINT64_MAX - 1, 4}};
	static const uint64_t big[][2] = {{0, 4097}};
	static const uint64_t none[][2] = {{5, 0}, {6, 0}};
	static const uint64_t five[][2] = {
		{0, 1}, {1, 1}, {2, 1}, {3, 1}, {4, 1}};
	uint8_t buf[8 + 16 * 8];
	struct iovec iov[2];
	struct sbh_cdb c = cdb_of(SBH_OP_UNMAP, 0, 0);
	size_t len;

	(void)state;
	assert_int_equal(sbh_check(&lun, &c, NULL, 0), TCMU_STS_OK);

	len = put_unmap(buf, ok, 2);
	/* The list split over two iovecs, at an odd place. */
	iov[0].iov_base = buf;
	iov[0].iov_len = 13;
	iov[1].iov_base = buf + 13;
	iov[1].iov_len = len - 13;
	c.param_len = (uint32_t)len;
	assert_int_equal(sbh_check(&lun, &c, iov, 2), TCMU_STS_NOT_HANDLED);

	len = put_unmap(buf, far, 2);
	iov[0].iov_len = len;
	assert_int_equal(sbh_check(&lun, &c, iov, 1), TCMU_STS_RANGE);
	len = put_unmap(buf, wrap, 1);
	c.param_len = (uint32_t)len;
	iov[0].iov_len = len;
	assert_int_equal(sbh_check(&lun, &c, iov, 1), TCMU_STS_RANGE);
	len = put_unmap(buf, big, 1);
	assert_int_equal(sbh_check(&lun, &c, iov, 1),
			 TCMU_STS_INVALID_PARAM_LIST);
	len = put_unmap(buf, none, 2);
	c.param_len = (uint32_t)len;
	iov[0].iov_len = len;
	assert_int_equal(sbh_check(&lun, &c, iov, 1), TCMU_STS_OK);
	len = put_unmap(buf, five, 5);
	c.param_len = (uint32_t)len;
	iov[0].iov_len = len;
	assert_int_equal(sbh_check(&lun, &c, iov, 1),
			 TCMU_STS_INVALID_PARAM_LIST);
	/* PARAMETER LIST LENGTH 1..7, and a buffer shorter than it. */
	c.param_len = 7;
	assert_int_equal(sbh_check(&lun, &c, iov, 1),
			 TCMU_STS_INVALID_PARAM_LIST_LEN);
	c.param_len = (uint32_t)len + 1;
	assert_int_equal(sbh_check(&lun, &c, iov, 1),
			 TCMU_STS_INVALID_PARAM_LIST_LEN);
	/* BLOCK DESCRIPTOR DATA LENGTH beyond the list. */
	len = put_unmap(buf, ok, 2);
	xp_put_be16(buf + 2, 48);
	c.param_len = (uint32_t)len;
	iov[0].iov_len = len;
	assert_int_equal(sbh_check(&lun, &c, iov, 1),
			 TCMU_STS_INVALID_PARAM_LIST);
	assert_int_equal(nq, 0);
}

/* ---- submissions --------------------------------------------------------- */

static void test_read_good(void **state)
{
	static uint8_t buf[8 * BS];
	struct iovec iov = {buf, sizeof(buf)};
	struct sbh_cmd cmd = mkcmd(&iov, 1);
	struct sb_io *io;

	(void)state;
	assert_int_equal(sbh_submit_read(&lun, 16 * BS, 8 * BS, &cmd),
			 TCMU_STS_OK);
	assert_int_equal(nq, 1);
	assert_int_equal(done_calls, 0);
	io = pop();
	assert_int_equal(io->op, SB_IO_READ);
	assert_int_equal(io->lun_id, 0x1234);
	assert_int_equal(io->offset, 16 * BS);
	assert_int_equal(io->length, 8 * BS);
	assert_ptr_equal(io->iov, &iov);
	assert_int_equal(io->iovcnt, 1);
	io->cb(io, 0);
	assert_int_equal(done_calls, 1);
	assert_int_equal(done_status, TCMU_STS_OK);
	assert_int_equal(nq, 0);
}

static void test_write_fua_and_wce(void **state)
{
	static uint8_t buf[BS];
	struct iovec iov = {buf, sizeof(buf)};
	struct sbh_cmd cmd = mkcmd(&iov, 1);
	struct sb_io *io;

	(void)state;
	assert_int_equal(sbh_submit_write(&lun, 0, BS, false, &cmd),
			 TCMU_STS_OK);
	io = pop();
	assert_int_equal(io->op, SB_IO_WRITE);
	assert_int_equal(io->flags, 0);
	io->cb(io, 0);
	assert_int_equal(sbh_submit_write(&lun, 0, BS, true, &cmd),
			 TCMU_STS_OK);
	io = pop();
	assert_int_equal(io->flags, SB_IO_F_FUA);
	io->cb(io, 0);
	/* Write cache disabled: every write is FUA. */
	atomic_store(&lun.wce, false);
	assert_int_equal(sbh_submit_write(&lun, 0, BS, false, &cmd),
			 TCMU_STS_OK);
	io = pop();
	assert_int_equal(io->flags, SB_IO_F_FUA);
	io->cb(io, 0);
	assert_int_equal(done_calls, 3);
	assert_int_equal(done_status, TCMU_STS_OK);
}

static void test_errors_map(void **state)
{
	static uint8_t buf[BS];
	struct iovec iov = {buf, sizeof(buf)};
	struct sbh_cmd cmd = mkcmd(&iov, 1);
	struct sb_io *io;

	(void)state;
	assert_int_equal(sbh_submit_write(&lun, 0, BS, false, &cmd),
			 TCMU_STS_OK);
	io = pop();
	io->cb(io, -ETIMEDOUT);
	assert_int_equal(done_status, TCMU_STS_PASSTHROUGH_ERR);
	assert_int_equal(sense[2], SCSI_SK_HARDWARE_ERROR);
	assert_int_equal(sense[12], 0x08);
	assert_int_equal(sense[13], 0x00);

	assert_int_equal(sbh_submit_read(&lun, 0, BS, &cmd), TCMU_STS_OK);
	io = pop();
	io->cb(io, -EIO);
	assert_int_equal(done_status, TCMU_STS_RD_ERR);
	assert_int_equal(sbh_submit_read(&lun, 0, BS, &cmd), TCMU_STS_OK);
	io = pop();
	io->cb(io, -ENOMEM);
	assert_int_equal(done_status, TCMU_STS_NO_RESOURCE);
	assert_int_equal(done_calls, 3);
}

static void test_submit_failures(void **state)
{
	static uint8_t buf[BS];
	struct iovec iov = {buf, sizeof(buf)};
	struct sbh_cmd cmd = mkcmd(&iov, 1);

	(void)state;
	/* The engine refuses at once: final status now, done never runs. */
	submit_fail = -ESHUTDOWN;
	assert_int_equal(sbh_submit_read(&lun, 0, BS, &cmd), TCMU_STS_BUSY);
	submit_fail = -EHOSTUNREACH;
	assert_int_equal(sbh_submit_flush(&lun, &cmd),
			 TCMU_STS_PASSTHROUGH_ERR);
	assert_int_equal(sense[12], 0x08);
	/* Out of memory for the request. */
	calloc_fail = 1;
	assert_int_equal(sbh_submit_write(&lun, 0, BS, false, &cmd),
			 TCMU_STS_NO_RESOURCE);
	assert_int_equal(nq, 0);
	assert_int_equal(done_calls, 0);
	/* Bad arguments never reach the engine. */
	assert_int_equal(sbh_submit_read(&lun, 0, 0, &cmd), TCMU_STS_HW_ERR);
	assert_int_equal(sbh_submit_read(&lun, 1, BS, &cmd), TCMU_STS_HW_ERR);
	assert_int_equal(sbh_submit_read(&lun, 0, 2 * BS, &cmd),
			 TCMU_STS_HW_ERR);
	assert_int_equal(sbh_submit_read(&lun, (uint64_t)CAP * BS, BS, &cmd),
			 TCMU_STS_RANGE);
	assert_int_equal(sbh_submit_unmap(&lun, UINT64_MAX - BS + 1, BS, &cmd),
			 TCMU_STS_RANGE);
	assert_int_equal(nq, 0);
	assert_int_equal(done_calls, 0);
}

static void test_flush_unmap(void **state)
{
	struct sbh_cmd cmd = mkcmd(NULL, 0);
	struct sb_io *io;

	(void)state;
	assert_int_equal(sbh_submit_flush(&lun, &cmd), TCMU_STS_OK);
	io = pop();
	assert_int_equal(io->op, SB_IO_FLUSH);
	assert_int_equal(io->lun_id, 0x1234);
	io->cb(io, 0);
	assert_int_equal(done_status, TCMU_STS_OK);

	assert_int_equal(sbh_submit_unmap(&lun, CHUNK, 3 * CHUNK, &cmd),
			 TCMU_STS_OK);
	io = pop();
	assert_int_equal(io->op, SB_IO_UNMAP);
	assert_int_equal(io->offset, CHUNK);
	assert_int_equal(io->length, 3 * CHUNK);
	io->cb(io, 0);
	assert_int_equal(done_calls, 2);
	assert_int_equal(nq, 0);

	/* Write cache off: UNMAP is followed by a FLUSH before GOOD. */
	atomic_store(&lun.wce, false);
	assert_int_equal(sbh_submit_unmap(&lun, 0, BS, &cmd), TCMU_STS_OK);
	io = pop();
	assert_int_equal(io->op, SB_IO_UNMAP);
	io->cb(io, 0);
	assert_int_equal(done_calls, 2);
	io = pop();
	assert_int_equal(io->op, SB_IO_FLUSH);
	io->cb(io, 0);
	assert_int_equal(done_calls, 3);
	assert_int_equal(done_status, TCMU_STS_OK);

	/* A failed UNMAP is not followed by the FLUSH. */
	assert_int_equal(sbh_submit_unmap(&lun, 0, BS, &cmd), TCMU_STS_OK);
	io = pop();
	io->cb(io, -EIO);
	assert_int_equal(nq, 0);
	assert_int_equal(done_calls, 4);
	assert_int_equal(done_status, TCMU_STS_WR_ERR);
}

static void test_write_same_zero(void **state)
{
	static uint8_t zero[BS];
	struct iovec iov = {zero, BS};
	struct sbh_cmd cmd = mkcmd(&iov, 1);
	struct sb_io *io;

	(void)state;
	assert_int_equal(sbh_submit_write_same(&lun, BS, 100 * BS, true, &cmd),
			 TCMU_STS_OK);
	io = pop();
	assert_int_equal(io->op, SB_IO_WRITE_ZEROES);
	assert_int_equal(io->flags, SB_IO_F_UNMAP);
	assert_int_equal(io->offset, BS);
	assert_int_equal(io->length, 100 * BS);
	io->cb(io, 0);
	assert_int_equal(nq, 0);
	assert_int_equal(done_status, TCMU_STS_OK);

	assert_int_equal(sbh_submit_write_same(&lun, 0, BS, false, &cmd),
			 TCMU_STS_OK);
	io = pop();
	assert_int_equal(io->op, SB_IO_WRITE_ZEROES);
	assert_int_equal(io->flags, 0);
	io->cb(io, 0);
	assert_int_equal(done_calls, 2);
}

static void test_write_same_pattern(void **state)
{
	static uint8_t blk[BS];
	struct iovec iov[2] = {{blk, 100}, {blk + 100, BS - 100}};
	struct sbh_cmd cmd = mkcmd(iov, 2);
	uint64_t off = 7 * BS, len = 3 * CHUNK + 5 * BS, covered = 0;
	unsigned int ops = 0, k;
	struct sb_io *io;

	(void)state;
	for (k = 0; k < BS; k++)
		blk[k] = (uint8_t)(k * 7 + 1);
	/* UNMAP bit with a non-zero pattern: written, never unmapped. */
	assert_int_equal(sbh_submit_write_same(&lun, off, len, true, &cmd),
			 TCMU_STS_OK);
	assert_int_equal(nq, SBH_MAX_INFLIGHT);
	while (nq) {
		const uint8_t *p;

		io = pop();
		ops++;
		assert_int_equal(io->op, SB_IO_WRITE);
		assert_int_equal(io->flags, 0);
		assert_int_equal(io->offset, off + covered);
		assert_true(io->length <= SBH_PIECE_BUF);
		assert_int_equal(io->length % BS, 0);
		assert_int_equal(io->iovcnt, 1);
		assert_int_equal(io->iov[0].iov_len, io->length);
		p = io->iov[0].iov_base;
		for (k = 0; k < io->length; k += BS)
			assert_memory_equal(p + k, blk, BS);
		covered += io->length;
		assert_int_equal(done_calls, 0);
		io->cb(io, 0);
		assert_true(nq <= SBH_MAX_INFLIGHT);
	}
	assert_int_equal(covered, len);
	assert_int_equal(ops, 4);
	assert_int_equal(done_calls, 1);
	assert_int_equal(done_status, TCMU_STS_OK);
}

static void test_write_same_pattern_error(void **state)
{
	static uint8_t blk[BS];
	struct iovec iov = {blk, BS};
	struct sbh_cmd cmd = mkcmd(&iov, 1);
	struct sb_io *io;

	(void)state;
	memset(blk, 0x5a, BS);
	atomic_store(&lun.wce, false);
	assert_int_equal(sbh_submit_write_same(&lun, 0, 10 * (uint64_t)CHUNK,
					       false, &cmd),
			 TCMU_STS_OK);
	assert_int_equal(nq, SBH_MAX_INFLIGHT);
	io = pop();
	assert_int_equal(io->flags, SB_IO_F_FUA);
	io->cb(io, -EHOSTUNREACH);
	/* No new piece after the error; the others drain, then done. */
	assert_int_equal(nq, SBH_MAX_INFLIGHT - 1);
	while (nq) {
		assert_int_equal(done_calls, 0);
		io = pop();
		io->cb(io, 0);
	}
	assert_int_equal(done_calls, 1);
	assert_int_equal(done_status, TCMU_STS_PASSTHROUGH_ERR);
	assert_int_equal(sense[2], SCSI_SK_HARDWARE_ERROR);
	assert_int_equal(sense[12], 0x08);

	/* A later piece refused by the engine while others are in flight. */
	assert_int_equal(sbh_submit_write_same(&lun, 0, 10 * (uint64_t)CHUNK,
					       false, &cmd),
			 TCMU_STS_OK);
	io = pop();
	submit_fail = -ESHUTDOWN;
	io->cb(io, 0);
	assert_int_equal(nq, SBH_MAX_INFLIGHT - 1);
	while (nq) {
		io = pop();
		io->cb(io, 0);
	}
	assert_int_equal(done_calls, 2);
	assert_int_equal(done_status, TCMU_STS_BUSY);

	/* Out of memory for the request. */
	assert_int_equal(sbh_submit_write_same(&lun, 0, BS, false, &cmd),
			 TCMU_STS_OK);
	io = pop();
	io->cb(io, 0);
	calloc_fail = 1;
	assert_int_equal(sbh_submit_write_same(&lun, 0, BS, false, &cmd),
			 TCMU_STS_NO_RESOURCE);
	assert_int_equal(done_calls, 3);
}

static void test_caw(void **state)
{
	static uint8_t buf[4 * BS];
	struct iovec iov = {buf, sizeof(buf)};
	struct sbh_cmd cmd = mkcmd(&iov, 1);
	struct sb_io *io;

	(void)state;
	assert_int_equal(sbh_submit_caw(&lun, 2 * BS, 2 * BS, true, &cmd),
			 TCMU_STS_OK);
	io = pop();
	assert_int_equal(io->op, SB_IO_CAW);
	assert_int_equal(io->offset, 2 * BS);
	assert_int_equal(io->length, 2 * BS);
	assert_int_equal(io->flags, SB_IO_F_FUA);
	assert_ptr_equal(io->iov, &iov);
	io->cb(io, 0);
	assert_int_equal(done_status, TCMU_STS_OK);

	/* Miscompare: INFORMATION = first differing byte. */
	assert_int_equal(sbh_submit_caw(&lun, 0, 2 * BS, false, &cmd),
			 TCMU_STS_OK);
	io = pop();
	assert_int_equal(io->flags, 0);
	io->miscompare_off = 700;
	io->cb(io, -XP_EMISCOMPARE);
	assert_int_equal(done_status, TCMU_STS_PASSTHROUGH_ERR);
	assert_int_equal(sense[0], 0xf0);
	assert_int_equal(sense[2], SCSI_SK_MISCOMPARE);
	assert_int_equal(xp_get_be32(sense + 3), 700);
	assert_int_equal(sense[12], 0x1d);

	/* Across a chunk boundary: refused, nothing sent. */
	assert_int_equal(sbh_submit_caw(&lun, CHUNK - BS, 2 * BS, false, &cmd),
			 TCMU_STS_INVALID_CDB);
	/* Buffer too small for compare + write data. */
	iov.iov_len = 3 * BS;
	assert_int_equal(sbh_submit_caw(&lun, 0, 2 * BS, false, &cmd),
			 TCMU_STS_HW_ERR);
	assert_int_equal(nq, 0);
	assert_int_equal(done_calls, 2);
}

/* Complete a verify READ with the bytes it should have read from @src. */
static void verify_read(struct sb_io *io, const uint8_t *src, int err)
{
	assert_int_equal(io->op, SB_IO_READ);
	assert_int_equal(io->iovcnt, 1);
	memcpy(io->iov[0].iov_base, src + io->offset, io->length);
	io->cb(io, err);
}

static void test_verify(void **state)
{
	static uint8_t disk[3 * CHUNK], out[3 * CHUNK];
	struct iovec iov = {out, sizeof(out)};
	struct sbh_cmd cmd = mkcmd(&iov, 1);
	uint64_t len = 2 * CHUNK + 4 * BS;
	unsigned int pieces = 0;
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(disk); k++)
		disk[k] = (uint8_t)(k * 13 + k / 4096);
	memcpy(out, disk, sizeof(out));

	/* BYTCHK 1, equal: pieces one at a time, then GOOD. */
	iov.iov_len = len;
	assert_int_equal(sbh_submit_verify(&lun, 0, len, SBH_BYTCHK_ALL, &cmd),
			 TCMU_STS_OK);
	while (nq) {
		assert_int_equal(nq, 1);
		verify_read(pop(), disk, 0);
		pieces++;
	}
	assert_int_equal(pieces, 3);
	assert_int_equal(done_status, TCMU_STS_OK);

	/* A difference in the second piece: offset from the range start. */
	out[CHUNK + 77] ^= 1;
	assert_int_equal(sbh_submit_verify(&lun, 0, len, SBH_BYTCHK_ALL, &cmd),
			 TCMU_STS_OK);
	verify_read(pop(), disk, 0);
	verify_read(pop(), disk, 0);
	assert_int_equal(nq, 0);
	assert_int_equal(done_calls, 2);
	assert_int_equal(done_status, TCMU_STS_PASSTHROUGH_ERR);
	assert_int_equal(sense[2], SCSI_SK_MISCOMPARE);
	assert_int_equal(xp_get_be32(sense + 3), CHUNK + 77);
	out[CHUNK + 77] ^= 1;

	/* BYTCHK 0: reads only; a failure is a read error. */
	assert_int_equal(sbh_submit_verify(&lun, 0, 4 * BS, SBH_BYTCHK_NONE,
					   &cmd),
			 TCMU_STS_OK);
	verify_read(pop(), disk, -EIO);
	assert_int_equal(done_status, TCMU_STS_RD_ERR);

	/* BYTCHK 3: every block against the one block sent. */
	memset(disk, 0x42, 4 * BS);
	memset(out, 0x42, BS);
	iov.iov_len = BS;
	assert_int_equal(sbh_submit_verify(&lun, 0, 4 * BS, SBH_BYTCHK_ONE,
					   &cmd),
			 TCMU_STS_OK);
	verify_read(pop(), disk, 0);
	assert_int_equal(done_status, TCMU_STS_OK);
	disk[3 * BS + 5] = 0;
	assert_int_equal(sbh_submit_verify(&lun, 0, 4 * BS, SBH_BYTCHK_ONE,
					   &cmd),
			 TCMU_STS_OK);
	verify_read(pop(), disk, 0);
	assert_int_equal(done_status, TCMU_STS_PASSTHROUGH_ERR);
	assert_int_equal(xp_get_be32(sense + 3), 3 * BS + 5);
	assert_int_equal(done_calls, 5);
}

static void test_exec(void **state)
{
	static uint8_t buf[256 * BS];
	struct iovec iov = {buf, sizeof(buf)};
	struct sbh_cmd cmd = mkcmd(&iov, 1);
	struct sbh_cdb c = cdb_of(SBH_OP_READ, 10, 256);
	struct sb_io *io;

	(void)state;
	assert_int_equal(sbh_exec(&lun, &c, &cmd), TCMU_STS_OK);
	io = pop();
	assert_int_equal(io->op, SB_IO_READ);
	assert_int_equal(io->offset, 10 * BS);
	assert_int_equal(io->length, 256 * BS);
	io->cb(io, 0);

	c = cdb_of(SBH_OP_WRITE, 0, 1);
	c.fua = true;
	assert_int_equal(sbh_exec(&lun, &c, &cmd), TCMU_STS_OK);
	io = pop();
	assert_int_equal(io->op, SB_IO_WRITE);
	assert_int_equal(io->flags, SB_IO_F_FUA);
	io->cb(io, 0);

	c = cdb_of(SBH_OP_SYNC, 0, 0);
	assert_int_equal(sbh_exec(&lun, &c, &cmd), TCMU_STS_OK);
	io = pop();
	assert_int_equal(io->op, SB_IO_FLUSH);
	io->cb(io, 0);

	c = cdb_of(SBH_OP_UNMAP, 0, 0);
	assert_int_equal(sbh_exec(&lun, &c, &cmd), TCMU_STS_INVALID_CMD);
	assert_int_equal(done_calls, 3);
	assert_int_equal(nq, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_check_rw, setup),
		cmocka_unit_test_setup(test_check_sync_ws_caw_verify, setup),
		cmocka_unit_test_setup(test_check_unmap, setup),
		cmocka_unit_test_setup(test_read_good, setup),
		cmocka_unit_test_setup(test_write_fua_and_wce, setup),
		cmocka_unit_test_setup(test_errors_map, setup),
		cmocka_unit_test_setup(test_submit_failures, setup),
		cmocka_unit_test_setup(test_flush_unmap, setup),
		cmocka_unit_test_setup(test_write_same_zero, setup),
		cmocka_unit_test_setup(test_write_same_pattern, setup),
		cmocka_unit_test_setup(test_write_same_pattern_error, setup),
		cmocka_unit_test_setup(test_caw, setup),
		cmocka_unit_test_setup(test_verify, setup),
		cmocka_unit_test_setup(test_exec, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
