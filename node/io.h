/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nd_io: the node's disk I/O engine, one io_uring whose completions are
 * signalled on an eventfd the event loop polls, so disk I/O never blocks
 * the network loop.
 *
 *   submit (nd_io_read, ...)  -> SQE prepared (or queued while the SQ is
 *                                full); nd_io_kick() submits the batch
 *   eventfd readable          -> nd_io_poll() reaps CQEs and runs callbacks
 *
 * Every submit function: returns 0 and the callback runs exactly once,
 * later, from nd_io_poll() or nd_io_wait() (never from inside the submit
 * call); or returns <0 and the callback never runs. Callbacks may submit.
 *
 * Short reads and writes are continued until the whole length is done; a
 * read that meets end of file fills the rest with zeros (a LUN's file is
 * sparse, so this only matters for a file shortened behind our back).
 * Not thread-safe: one thread owns an engine.
 */
#ifndef SPANBLK_NODE_IO_H
#define SPANBLK_NODE_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/util/list.h"

struct nd_io;
struct nd_io_op;

/* @res: 0 on success, or a negative errno. */
typedef void (*nd_io_cb)(struct nd_io_op *op, int res);

/* nd_io_zero() flags */
#define ND_ZERO_UNMAP 0x1u /* deallocating is allowed: punch first */
#define ND_ZERO_NO_ZERO_RANGE 0x2u /* known unsupported: skip ZERO_RANGE */

/* How nd_io_zero() did it, in op->zero_how after success. */
enum nd_zero_how {
	ND_ZERO_BY_ZERO_RANGE = 1,
	ND_ZERO_BY_PUNCH = 2,
	ND_ZERO_BY_WRITE = 3,
};

enum nd_io_kind {
	ND_IO_READ = 1,
	ND_IO_WRITE,
	ND_IO_FSYNC,
	ND_IO_FALLOCATE,
	ND_IO_ZERO,
};

/*
 * One operation, embedded in the caller's request; it must stay valid
 * until its callback runs. Fields past cb are the engine's.
 */
struct nd_io_op {
	nd_io_cb cb; /* completion */
	enum nd_io_kind kind;
	int fd;
	uint8_t *buf; /* READ, WRITE */
	uint64_t offset; /* first byte */
	uint64_t length; /* bytes */
	uint64_t done; /* bytes completed so far */
	int rw_flags; /* WRITE: RWF_DSYNC for FUA */
	int mode; /* FALLOCATE: FALLOC_FL_* */
	unsigned int zflags; /* ZERO: ND_ZERO_* */
	enum nd_zero_how zero_how; /* ZERO: current method, result */
	struct sb_list qlink; /* on the queue waiting for SQ room */
};

/* A ring of @entries (power of two, 8..4096) with its eventfd. */
int nd_io_new(unsigned int entries, struct nd_io **out);

/*
 * Free the engine. Operations still in flight never complete: call only
 * when nd_io_inflight() is 0 (or the process is exiting). Accepts NULL.
 */
void nd_io_free(struct nd_io *io);

/* The eventfd to poll for readability. */
int nd_io_event_fd(const struct nd_io *io);

/* Operations submitted and not yet completed. */
unsigned int nd_io_inflight(const struct nd_io *io);

/* Read @len bytes at @offset of @fd into @buf. */
int nd_io_read(struct nd_io *io, struct nd_io_op *op, int fd, void *buf,
	       uint64_t len, uint64_t offset, nd_io_cb cb);

/* Write @len bytes of @buf at @offset; @fua: durable when it completes. */
int nd_io_write(struct nd_io *io, struct nd_io_op *op, int fd, const void *buf,
		uint64_t len, uint64_t offset, bool fua, nd_io_cb cb);

/* fdatasync(@fd). */
int nd_io_fsync(struct nd_io *io, struct nd_io_op *op, int fd, nd_io_cb cb);

/* fallocate(@fd, @mode, @offset, @len). */
int nd_io_fallocate(struct nd_io *io, struct nd_io_op *op, int fd, int mode,
		    uint64_t offset, uint64_t len, nd_io_cb cb);

/*
 * Make [@offset, @offset + @len) of @fd read as zeros, keeping the size:
 * FALLOC_FL_ZERO_RANGE, else (ND_ZERO_UNMAP set, or ZERO_RANGE
 * unsupported as on tmpfs) FALLOC_FL_PUNCH_HOLE, else writing zeros.
 * With ND_ZERO_UNMAP the order is PUNCH_HOLE, ZERO_RANGE, writes.
 * op->zero_how tells which one worked.
 */
int nd_io_zero(struct nd_io *io, struct nd_io_op *op, int fd, uint64_t offset,
	       uint64_t len, unsigned int flags, nd_io_cb cb);

/* Submit prepared operations to the kernel. 0 or -errno. */
int nd_io_kick(struct nd_io *io);

/*
 * Reap every available completion and run callbacks; then submit what
 * they and the overflow queue prepared. Returns completions reaped, or
 * -errno when the ring failed.
 */
int nd_io_poll(struct nd_io *io);

/*
 * Submit, wait for at least one completion (up to @timeout_ms, -1: no
 * limit) and reap like nd_io_poll(). Returns completions reaped (0 on
 * timeout) or -errno.
 */
int nd_io_wait(struct nd_io *io, int timeout_ms);

#endif
