/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A walk over bytes [off, off + len) of an iovec, one contiguous piece at
 * a time, for code that slices, copies or compares an iovec at an offset.
 * The walk only reads the iovec; it lives on the caller's stack and is
 * used by one thread.
 *
 *   struct sb_iov_walk w;
 *   void *p;
 *   size_t n;
 *
 *   sb_iov_walk_init(&w, iov, iovcnt, off, len);
 *   while ((n = sb_iov_walk_next(&w, &p)))
 *           ... n bytes at p ...
 */
#ifndef SPANBLK_LIB_UTIL_IOVWALK_H
#define SPANBLK_LIB_UTIL_IOVWALK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct sb_iov_walk {
	const struct iovec *iov; /* next entry to look at */
	int cnt; /* entries left from iov on */
	uint64_t skip; /* bytes still to pass over before the range */
	uint64_t left; /* bytes of the range not yet given */
};

/* Start a walk over bytes [@off, @off + @len) of @iov (@iovcnt entries). */
static inline void sb_iov_walk_init(struct sb_iov_walk *w,
				    const struct iovec *iov, int iovcnt,
				    uint64_t off, uint64_t len)
{
	w->iov = iov;
	w->cnt = iovcnt;
	w->skip = off;
	w->left = len;
}

/*
 * The next piece of the range: its address in *@base and its length
 * (never 0; zero-length entries are passed over), or 0 once the range or
 * the iovec has ended.
 */
static inline size_t sb_iov_walk_next(struct sb_iov_walk *w, void **base)
{
	while (w->cnt > 0 && w->left) {
		const struct iovec *v = w->iov++;
		uint64_t l = v->iov_len;

		w->cnt--;
		if (w->skip >= l) {
			w->skip -= l;
			continue;
		}
		l -= w->skip;
		if (l > w->left)
			l = w->left;
		*base = (char *)v->iov_base + w->skip;
		w->skip = 0;
		w->left -= l;
		return (size_t)l;
	}
	return 0;
}

#endif
