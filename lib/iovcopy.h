/* SPDX-License-Identifier: Apache-2.0 */
/*
 * iovec arithmetic and copies: the total of an iovec, slices of it (new
 * entries pointing into the same memory, nothing copied), and copies
 * between an iovec and a flat buffer, optionally timed.
 *
 * The engine slices the caller's iovec into the payload of each request,
 * and copies a request's payload between the caller's iovec
 * (tcmu-runner's data area, which is not registered) and a registered
 * RDMA pool buffer; sb_iov_copy_timed() measures what that copy costs, so
 * the product can report it (docs/benchmarks.md section 3).
 *
 * Nothing here allocates, locks or keeps a pointer past the call.
 */
#ifndef SPANBLK_LIB_IOVCOPY_H
#define SPANBLK_LIB_IOVCOPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/*
 * Total bytes of @iov (@iovcnt entries), or UINT64_MAX when the sum wraps
 * or an entry has a length but no base. Zero-length entries may have a
 * NULL base.
 */
uint64_t sb_iov_total(const struct iovec *iov, int iovcnt);

/*
 * How many entries sb_iov_slice() writes for bytes [@off, @off + @len) of
 * @iov (@iovcnt entries). Zero-length entries take none; when @iov ends
 * first, the count covers what is there (0 when @off is past its end).
 */
int sb_iov_slice_count(const struct iovec *iov, int iovcnt, uint64_t off,
		       uint64_t len);

/*
 * Describe bytes [@off, @off + @len) of @iov (@iovcnt entries) in @out:
 * entries pointing into the memory of @iov, nothing copied. @out needs
 * room for sb_iov_slice_count() entries and must not overlap @iov. Stops
 * early when @iov ends first. Returns the entries written.
 */
int sb_iov_slice(const struct iovec *iov, int iovcnt, uint64_t off,
		 uint64_t len, struct iovec *out);

/*
 * Copy @len bytes between @buf and bytes [@off, @off + @len) of @iov
 * (@iovcnt entries): into the iovec when @to_iov, out of it otherwise.
 * Stops early when @iov ends first. Returns the bytes copied.
 */
size_t sb_iov_copy(const struct iovec *iov, int iovcnt, uint64_t off, void *buf,
		   size_t len, bool to_iov);

/*
 * sb_iov_copy(), timed with CLOCK_MONOTONIC: adds the bytes copied to
 * *@bytes and the nanoseconds it took to *@ns, both with relaxed atomic
 * adds (other threads may read them while the caller copies). Returns the
 * bytes copied.
 */
size_t sb_iov_copy_timed(const struct iovec *iov, int iovcnt, uint64_t off,
			 void *buf, size_t len, bool to_iov, uint64_t *bytes,
			 uint64_t *ns);

#endif
