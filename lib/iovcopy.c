/* SPDX-License-Identifier: Apache-2.0 */
/*
 * iovec arithmetic and copies (see iovcopy.h). The timed copy reads the
 * monotonic clock twice per copy (a vDSO call, tens of nanoseconds): cheap
 * enough to stay on, next to a copy of 4 KiB or more. No state, no locks:
 * safe from any thread.
 */
#include "iovcopy.h"

#include <string.h>

#include "util/clock.h"
#include "util/iovwalk.h"

uint64_t sb_iov_total(const struct iovec *iov, int iovcnt)
{
	uint64_t total = 0;
	int i;

	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len && !iov[i].iov_base)
			return UINT64_MAX;
		if (total + iov[i].iov_len < total)
			return UINT64_MAX;
		total += iov[i].iov_len;
	}
	return total;
}

int sb_iov_slice_count(const struct iovec *iov, int iovcnt, uint64_t off,
		       uint64_t len)
{
	struct sb_iov_walk w;
	void *p;
	int n = 0;

	sb_iov_walk_init(&w, iov, iovcnt, off, len);
	while (sb_iov_walk_next(&w, &p))
		n++;
	return n;
}

int sb_iov_slice(const struct iovec *iov, int iovcnt, uint64_t off,
		 uint64_t len, struct iovec *out)
{
	struct sb_iov_walk w;
	void *p;
	size_t l;
	int n = 0;

	sb_iov_walk_init(&w, iov, iovcnt, off, len);
	while ((l = sb_iov_walk_next(&w, &p))) {
		out[n].iov_base = p;
		out[n].iov_len = l;
		n++;
	}
	return n;
}

size_t sb_iov_copy(const struct iovec *iov, int iovcnt, uint64_t off, void *buf,
		   size_t len, bool to_iov)
{
	char *b = buf;
	struct sb_iov_walk w;
	size_t l, done = 0;
	void *p;

	sb_iov_walk_init(&w, iov, iovcnt, off, len);
	while ((l = sb_iov_walk_next(&w, &p))) {
		if (to_iov)
			memcpy(p, b + done, l);
		else
			memcpy(b + done, p, l);
		done += l;
	}
	return done;
}

size_t sb_iov_copy_timed(const struct iovec *iov, int iovcnt, uint64_t off,
			 void *buf, size_t len, bool to_iov, uint64_t *bytes,
			 uint64_t *ns)
{
	uint64_t t0 = sb_now_ns();
	size_t done = sb_iov_copy(iov, iovcnt, off, buf, len, to_iov);

	__atomic_fetch_add(ns, sb_now_ns() - t0, __ATOMIC_RELAXED);
	__atomic_fetch_add(bytes, (uint64_t)done, __ATOMIC_RELAXED);
	return done;
}
