/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One engine operation, waited for: what tests need to write and read a
 * LUN through the gateway engine without their own completion plumbing.
 */
#ifndef SPANBLK_TESTS_COMMON_SYNCIO_H
#define SPANBLK_TESTS_COMMON_SYNCIO_H

#include <stddef.h>
#include <stdint.h>

#include "lib/engine.h"

/*
 * Run @op on @lun at @off over @len bytes of @buf (READ: filled; WRITE:
 * sent; others: unused) with @flags; wait for it. A completion missing
 * after @wait_s seconds aborts the test program (it would write into
 * this call's frame later). Returns the completion status.
 */
int tc_sync_io(struct sb_engine *e, enum sb_io_op op, uint64_t lun,
	       uint64_t off, void *buf, size_t len, uint32_t flags,
	       unsigned int wait_s);

#endif
