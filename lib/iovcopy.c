/* SPDX-License-Identifier: Apache-2.0 */
/*
 * iovec copies (see iovcopy.h). The timed variant reads CLOCK_MONOTONIC
 * twice per copy (a vDSO call, tens of nanoseconds): cheap enough to stay
 * on, next to a copy of 4 KiB or more.
 */
#include "iovcopy.h"

#include <string.h>
#include <time.h>

size_t sb_iov_copy(const struct iovec *iov, int iovcnt, uint64_t off, void *buf,
		   size_t len, bool to_iov)
{
	char *b = buf;
	size_t done = 0;
	int i;

	for (i = 0; i < iovcnt && len; i++) {
		char *base = iov[i].iov_base;
		size_t l = iov[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		l -= (size_t)off;
		if (l > len)
			l = len;
		if (to_iov)
			memcpy(base + off, b, l);
		else
			memcpy(b, base + off, l);
		b += l;
		len -= l;
		done += l;
		off = 0;
	}
	return done;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

size_t sb_iov_copy_timed(const struct iovec *iov, int iovcnt, uint64_t off,
			 void *buf, size_t len, bool to_iov, uint64_t *bytes,
			 uint64_t *ns)
{
	uint64_t t0 = mono_ns();
	size_t done = sb_iov_copy(iov, iovcnt, off, buf, len, to_iov);

	__atomic_fetch_add(ns, mono_ns() - t0, __ATOMIC_RELAXED);
	__atomic_fetch_add(bytes, (uint64_t)done, __ATOMIC_RELAXED);
	return done;
}
