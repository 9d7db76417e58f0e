/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io_uring disk engine (see io.h).
 *
 * One SQE per operation step, user_data = the operation. A step that
 * finishes short (a short read or write, or one zero-fill write of many)
 * is re-queued from the completion; the callback runs when the whole
 * operation is done or failed. Operations that find the SQ full wait on a
 * FIFO and are prepared as completions free room.
 */
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <liburing.h>

/* Zero-fill writes go out in pieces of this size from one shared buffer. */
#define ZERO_PIECE (1u << 20)
/* One read or write step never exceeds what an SQE length holds. */
#define STEP_MAX (1u << 30)

struct nd_io {
	struct io_uring ring;
	int efd; /* eventfd registered with the ring */
	unsigned int inflight; /* operations between submit and callback */
	unsigned int prepped; /* SQEs prepared since the last submit */
	struct sb_list queue; /* ops waiting for SQ room, in order */
	uint8_t *zeros; /* ZERO_PIECE zero bytes, allocated on first use */
	bool failed; /* io_uring_submit failed: the ring is unusable */
};

int nd_io_new(unsigned int entries, struct nd_io **out)
{
	struct nd_io *io;
	int ret;

	if (entries < 8 || entries > 4096 || (entries & (entries - 1)))
		return -EINVAL;
	io = calloc(1, sizeof(*io));
	if (!io)
		return -ENOMEM;
	sb_list_init(&io->queue);
	ret = io_uring_queue_init(entries, &io->ring, 0);
	if (ret < 0)
		goto out_free_io;
	io->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (io->efd < 0) {
		ret = -errno;
		goto out_exit_ring;
	}
	ret = io_uring_register_eventfd(&io->ring, io->efd);
	if (ret < 0)
		goto out_close_efd;
	*out = io;
	return 0;

out_close_efd:
	close(io->efd);
out_exit_ring:
	io_uring_queue_exit(&io->ring);
out_free_io:
	free(io);
	return ret;
}

void nd_io_free(struct nd_io *io)
{
	if (!io)
		return;
	io_uring_queue_exit(&io->ring);
	close(io->efd);
	free(io->zeros);
	free(io);
}

int nd_io_event_fd(const struct nd_io *io)
{
	return io->efd;
}

unsigned int nd_io_inflight(const struct nd_io *io)
{
	return io->inflight;
}

/* Prepare the SQE of @op's next step. false: the SQ is full. */
static bool prep(struct nd_io *io, struct nd_io_op *op)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);
	uint64_t left = op->length - op->done;
	unsigned int step = left > STEP_MAX ? STEP_MAX : (unsigned int)left;

	if (!sqe)
		return false;
	switch (op->kind) {
	case ND_IO_READ:
		io_uring_prep_read(sqe, op->fd, op->buf + op->done, step,
				   op->offset + op->done);
		break;
	case ND_IO_WRITE:
		io_uring_prep_write(sqe, op->fd, op->buf + op->done, step,
				    op->offset + op->done);
		sqe->rw_flags = op->rw_flags;
		break;
	case ND_IO_FSYNC:
		io_uring_prep_fsync(sqe, op->fd, IORING_FSYNC_DATASYNC);
		break;
	case ND_IO_FALLOCATE:
		io_uring_prep_fallocate(sqe, op->fd, op->mode,
					(off_t)op->offset, (off_t)op->length);
		break;
	case ND_IO_ZERO:
		if (op->zero_how == ND_ZERO_BY_WRITE) {
			if (step > ZERO_PIECE)
				step = ZERO_PIECE;
			io_uring_prep_write(sqe, op->fd, io->zeros, step,
					    op->offset + op->done);
		} else {
			int mode = FALLOC_FL_KEEP_SIZE;

			mode |= op->zero_how == ND_ZERO_BY_PUNCH
					? FALLOC_FL_PUNCH_HOLE
					: FALLOC_FL_ZERO_RANGE;
			io_uring_prep_fallocate(sqe, op->fd, mode,
						(off_t)op->offset,
						(off_t)op->length);
		}
		break;
	}
	io_uring_sqe_set_data(sqe, op);
	io->prepped++;
	return true;
}

/* Prepare @op's next step now or queue it behind the others. */
static void enqueue(struct nd_io *io, struct nd_io_op *op)
{
	if (sb_list_empty(&io->queue) && prep(io, op))
		return;
	sb_list_add_tail(&io->queue, &op->qlink);
}

static void drain_queue(struct nd_io *io)
{
	while (!sb_list_empty(&io->queue)) {
		struct sb_list *first = io->queue.next;

		if (!prep(io, container_of(first, struct nd_io_op, qlink)))
			break;
		sb_list_del(first);
	}
}

int nd_io_kick(struct nd_io *io)
{
	int ret;

	if (io->failed)
		return -EIO;
	drain_queue(io);
	while (io->prepped) {
		ret = io_uring_submit(&io->ring);
		if (ret == -EINTR)
			continue;
		/* -EAGAIN/-EBUSY: the kernel wants CQEs reaped first. */
		if (ret == -EAGAIN || ret == -EBUSY || ret == 0)
			return 0;
		if (ret < 0) {
			io->failed = true;
			return ret;
		}
		io->prepped -= (unsigned int)ret < io->prepped
				       ? (unsigned int)ret
				       : io->prepped;
		drain_queue(io);
	}
	return 0;
}

static int start(struct nd_io *io, struct nd_io_op *op, enum nd_io_kind kind,
		 int fd, nd_io_cb cb)
{
	if (io->failed)
		return -EIO;
	if (!cb || fd < 0)
		return -EINVAL;
	op->cb = cb;
	op->kind = kind;
	op->fd = fd;
	op->done = 0;
	io->inflight++;
	enqueue(io, op);
	return 0;
}

int nd_io_read(struct nd_io *io, struct nd_io_op *op, int fd, void *buf,
	       uint64_t len, uint64_t offset, nd_io_cb cb)
{
	if (!len || !buf)
		return -EINVAL;
	op->buf = buf;
	op->length = len;
	op->offset = offset;
	return start(io, op, ND_IO_READ, fd, cb);
}

int nd_io_write(struct nd_io *io, struct nd_io_op *op, int fd, const void *buf,
		uint64_t len, uint64_t offset, bool fua, nd_io_cb cb)
{
	if (!len || !buf)
		return -EINVAL;
	/* The engine never writes through buf; the cast only shares a field. */
	op->buf = (uint8_t *)(uintptr_t)buf;
	op->length = len;
	op->offset = offset;
	op->rw_flags = fua ? RWF_DSYNC : 0;
	return start(io, op, ND_IO_WRITE, fd, cb);
}

int nd_io_fsync(struct nd_io *io, struct nd_io_op *op, int fd, nd_io_cb cb)
{
	op->length = 0;
	op->offset = 0;
	return start(io, op, ND_IO_FSYNC, fd, cb);
}

int nd_io_fallocate(struct nd_io *io, struct nd_io_op *op, int fd, int mode,
		    uint64_t offset, uint64_t len, nd_io_cb cb)
{
	if (!len)
		return -EINVAL;
	op->mode = mode;
	op->offset = offset;
	op->length = len;
	return start(io, op, ND_IO_FALLOCATE, fd, cb);
}

int nd_io_zero(struct nd_io *io, struct nd_io_op *op, int fd, uint64_t offset,
	       uint64_t len, unsigned int flags, nd_io_cb cb)
{
	if (!len)
		return -EINVAL;
	op->offset = offset;
	op->length = len;
	op->zflags = flags;
	if (flags & ND_ZERO_UNMAP)
		op->zero_how = ND_ZERO_BY_PUNCH;
	else if (flags & ND_ZERO_NO_ZERO_RANGE)
		op->zero_how = ND_ZERO_BY_PUNCH;
	else
		op->zero_how = ND_ZERO_BY_ZERO_RANGE;
	return start(io, op, ND_IO_ZERO, fd, cb);
}

/*
 * The next method after @op's current one failed as unsupported, or 0
 * when none is left. UNMAP allowed: punch, zero range, write; otherwise
 * zero range, punch, write.
 */
static enum nd_zero_how zero_next(const struct nd_io_op *op)
{
	bool skip_zr = op->zflags & ND_ZERO_NO_ZERO_RANGE;

	switch (op->zero_how) {
	case ND_ZERO_BY_ZERO_RANGE:
		if (op->zflags & ND_ZERO_UNMAP)
			return ND_ZERO_BY_WRITE;
		return ND_ZERO_BY_PUNCH;
	case ND_ZERO_BY_PUNCH:
		if ((op->zflags & ND_ZERO_UNMAP) && !skip_zr)
			return ND_ZERO_BY_ZERO_RANGE;
		return ND_ZERO_BY_WRITE;
	default:
		return 0;
	}
}

/*
 * Unsupported, as opposed to failed: try the next way. -ENODEV is what
 * fallocate gives for a file type that has no notion of it.
 */
static bool unsupported(int res)
{
	return res == -EOPNOTSUPP || res == -ENOSYS || res == -ENOTTY ||
	       res == -ENODEV;
}

static void finish(struct nd_io *io, struct nd_io_op *op, int res)
{
	io->inflight--;
	op->cb(op, res);
}

/*
 * A write step of @op (ND_IO_WRITE, or ND_IO_ZERO by writing zeros)
 * completed with @res: bytes written, or -errno. A short or interrupted
 * write queues the next step and returns false; otherwise returns true
 * with the operation's result in *@res (0 once every byte is written;
 * a write of nothing is -EIO, so a step that makes no progress never
 * loops).
 */
static bool write_step_done(struct nd_io *io, struct nd_io_op *op, int *res)
{
	if (*res == 0)
		*res = -EIO;
	if (*res == -EINTR || *res == -EAGAIN) {
		enqueue(io, op);
		return false;
	}
	if (*res < 0)
		return true;
	op->done += (uint64_t)*res;
	if (op->done < op->length) {
		enqueue(io, op);
		return false;
	}
	*res = 0;
	return true;
}

/* One CQE of @op with result @res: continue, fall back or finish. */
static void complete(struct nd_io *io, struct nd_io_op *op, int res)
{
	switch (op->kind) {
	case ND_IO_READ:
		if (res == 0) {
			/* End of file: the rest is a hole. */
			memset(op->buf + op->done, 0, op->length - op->done);
			op->done = op->length;
		} else if (res > 0) {
			op->done += (uint64_t)res;
		} else if (res != -EINTR && res != -EAGAIN) {
			break;
		}
		if (op->done < op->length) {
			enqueue(io, op);
			return;
		}
		res = 0;
		break;
	case ND_IO_WRITE:
		if (!write_step_done(io, op, &res))
			return;
		break;
	case ND_IO_FSYNC:
	case ND_IO_FALLOCATE:
		if (res == -EINTR) {
			enqueue(io, op);
			return;
		}
		break;
	case ND_IO_ZERO:
		if (op->zero_how != ND_ZERO_BY_WRITE) {
			if (unsupported(res) ||
			    (res == -EINVAL &&
			     op->zero_how == ND_ZERO_BY_ZERO_RANGE)) {
				op->zero_how = zero_next(op);
				if (op->zero_how == ND_ZERO_BY_WRITE &&
				    !io->zeros) {
					io->zeros = calloc(1, ZERO_PIECE);
					if (!io->zeros) {
						res = -ENOMEM;
						break;
					}
				}
				enqueue(io, op);
				return;
			}
			if (res == -EINTR) {
				enqueue(io, op);
				return;
			}
			break;
		}
		/* Zero-fill writes: continued like any write. */
		if (!write_step_done(io, op, &res))
			return;
		break;
	}
	finish(io, op, res > 0 ? 0 : res);
}

static int reap(struct nd_io *io)
{
	struct io_uring_cqe *cqe;
	uint64_t junk;
	int n = 0;

	/* Level-triggered eventfd: clear it before looking at the CQ. */
	while (read(io->efd, &junk, sizeof(junk)) < 0 && errno == EINTR)
		;
	while (io_uring_peek_cqe(&io->ring, &cqe) == 0) {
		struct nd_io_op *op = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&io->ring, cqe);
		drain_queue(io);
		complete(io, op, res);
		n++;
	}
	return n;
}

int nd_io_poll(struct nd_io *io)
{
	int n = reap(io);
	int ret = nd_io_kick(io);

	return ret < 0 ? ret : n;
}

int nd_io_wait(struct nd_io *io, int timeout_ms)
{
	struct io_uring_cqe *cqe;
	int ret;

	ret = nd_io_kick(io);
	if (ret < 0)
		return ret;
	if (timeout_ms < 0) {
		ret = io_uring_wait_cqe(&io->ring, &cqe);
	} else {
		struct __kernel_timespec ts = {
			.tv_sec = timeout_ms / 1000,
			.tv_nsec = (long long)(timeout_ms % 1000) * 1000000,
		};

		ret = io_uring_wait_cqe_timeout(&io->ring, &cqe, &ts);
	}
	if (ret < 0 && ret != -ETIME && ret != -EINTR)
		return ret;
	return nd_io_poll(io);
}
