/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Copies between an iovec and a flat buffer, optionally timed. The engine
 * copies a request's payload between the caller's iovec (tcmu-runner's
 * data area, which is not registered) and a registered RDMA pool buffer;
 * sb_iov_copy_timed() measures what that copy costs (issue 4,
 * docs/benchmarks.md section 3).
 */
#ifndef SPANBLK_LIB_IOVCOPY_H
#define SPANBLK_LIB_IOVCOPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

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
