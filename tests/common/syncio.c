// SPDX-License-Identifier: Apache-2.0
/* One engine operation, waited for (tests/common/syncio.h). */
#include "syncio.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct done {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int err;
};

static void on_done(struct sb_io *io, int err)
{
	struct done *d = io->cb_arg;

	pthread_mutex_lock(&d->lock);
	d->done = true;
	d->err = err;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

int tc_sync_io(struct sb_engine *e, enum sb_io_op op, uint64_t lun,
	       uint64_t off, void *buf, size_t len, uint32_t flags,
	       unsigned int wait_s)
{
	struct done d = {.lock = PTHREAD_MUTEX_INITIALIZER,
			 .cond = PTHREAD_COND_INITIALIZER};
	struct iovec v = {buf, len};
	struct sb_io io = {.op = op,
			   .lun_id = lun,
			   .offset = off,
			   .length = len,
			   .iov = &v,
			   .iovcnt = 1,
			   .flags = flags,
			   .cb = on_done,
			   .cb_arg = &d};
	struct timespec until;
	int ret;

	ret = sb_engine_submit(e, &io);
	if (ret)
		return ret;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += wait_s;
	pthread_mutex_lock(&d.lock);
	while (!d.done)
		if (pthread_cond_timedwait(&d.cond, &d.lock, &until) ==
		    ETIMEDOUT)
			break;
	ret = d.err;
	if (!d.done) {
		/* a late completion would write to this stack frame */
		fprintf(stderr, "tc_sync_io: no completion after %u s\n",
			wait_s);
		abort();
	}
	pthread_mutex_unlock(&d.lock);
	return ret;
}
