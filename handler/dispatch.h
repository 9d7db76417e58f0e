/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SCSI block commands onto the gateway engine (lib/engine.h).
 *
 * Two halves:
 * - sbh_check(): validates a decoded CDB against the LUN's geometry and
 *   limits and answers what needs no I/O (errors, zero-length commands).
 *   It is synchronous and pure apart from reading the Data-Out buffer.
 * - the submit functions: byte-range operations run asynchronously on
 *   the engine, one per handler callout, plus sbh_exec() for a whole
 *   decoded CDB.
 *
 * Submit contract (all sbh_submit_* and sbh_exec): returns TCMU_STS_OK:
 * @cmd->done runs exactly once, on the engine thread, never inside the
 * call. Returns any other TCMU_STS_* value: that is the command's final
 * status (with @cmd->sense filled for TCMU_STS_PASSTHROUGH_ERR) and
 * @cmd->done never runs. Lengths are bytes, non-zero, whole blocks.
 */
#ifndef SPANBLK_HANDLER_DISPATCH_H
#define SPANBLK_HANDLER_DISPATCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "../lib/engine.h"
#include "cdb.h"

#define SBH_MAX_INFLIGHT 4 /* engine ops in flight per command */
#define SBH_PIECE_BUF (1u << 20) /* WRITE SAME pattern / VERIFY buffer */
#define SBH_MAX_UNMAP_DESC 64 /* most descriptors sbh_check will parse */

/* One LUN as the dispatcher sees it. Filled by open, read-mostly. */
struct sbh_lun {
	struct sb_engine *engine; /* not owned */
	uint64_t lun_id; /* sb_lun_id() of the name */
	uint32_t block_size; /* bytes, power of two */
	uint64_t chunk_size; /* bytes, the cluster's (after overrides) */
	_Atomic uint64_t nr_blocks; /* capacity for range checks (kernel's) */
	atomic_bool wce; /* write cache enabled; false: writes are FUA */
	uint32_t max_xfer_blocks; /* READ/WRITE/VERIFY limit */
	uint32_t max_caw_blocks; /* COMPARE AND WRITE limit */
	uint32_t max_unmap_blocks; /* per UNMAP descriptor */
	uint32_t max_unmap_desc; /* descriptors per UNMAP, <= SBH_MAX_... */
};

/*
 * Completion: @ctx and @arg as given in struct sbh_cmd; @status is a
 * TCMU_STS_* value, with the sense buffer filled if it needs one.
 */
typedef void (*sbh_done_fn)(void *ctx, void *arg, int status);

/* The command side of a submission; copied, the buffers are not. */
struct sbh_cmd {
	const struct iovec *iov; /* data-in/out buffer, valid until done */
	size_t iovcnt;
	uint8_t *sense; /* TCMU_SENSE_BUFFERSIZE bytes, valid until done */
	sbh_done_fn done;
	void *ctx; /* first argument of done (the handler: its device) */
	void *arg; /* second argument of done (the handler: its command) */
};

/*
 * Validate @c for @lun; @iov/@iovcnt is the command's data buffer (the
 * UNMAP parameter list is read from it, nothing is written). Returns
 * TCMU_STS_NOT_HANDLED when the command is valid and needs I/O, or the
 * final status: TCMU_STS_OK for a command with nothing to do
 * (zero-length transfer, empty UNMAP list), TCMU_STS_RANGE,
 * TCMU_STS_INVALID_CDB, ... (docs/scsi.md, "Checks").
 */
int sbh_check(const struct sbh_lun *lun, const struct sbh_cdb *c,
	      const struct iovec *iov, size_t iovcnt);

/* READ @len bytes at @off into @cmd->iov. */
int sbh_submit_read(struct sbh_lun *lun, uint64_t off, uint64_t len,
		    const struct sbh_cmd *cmd);

/* WRITE @cmd->iov to @off; @fua (or write cache off): durable first. */
int sbh_submit_write(struct sbh_lun *lun, uint64_t off, uint64_t len, bool fua,
		     const struct sbh_cmd *cmd);

/* SYNCHRONIZE CACHE: FLUSH on every node. */
int sbh_submit_flush(struct sbh_lun *lun, const struct sbh_cmd *cmd);

/* UNMAP [@off, @off + @len) on every replica. */
int sbh_submit_unmap(struct sbh_lun *lun, uint64_t off, uint64_t len,
		     const struct sbh_cmd *cmd);

/*
 * WRITE SAME: @cmd->iov holds one block, written to every block of the
 * range. An all-zero block becomes WRITE_ZEROES (deallocating when
 * @unmap); any other pattern is replicated into a SBH_PIECE_BUF buffer
 * and written in pieces, at most SBH_MAX_INFLIGHT at a time.
 */
int sbh_submit_write_same(struct sbh_lun *lun, uint64_t off, uint64_t len,
			  bool unmap, const struct sbh_cmd *cmd);

/*
 * COMPARE AND WRITE of @len bytes: @cmd->iov holds 2 * @len bytes
 * (compare data, then write data). The range must stay in one chunk (its
 * first replica decides atomically). A miscompare completes with
 * MISCOMPARE sense, INFORMATION = offset of the first differing byte.
 */
int sbh_submit_caw(struct sbh_lun *lun, uint64_t off, uint64_t len, bool fua,
		   const struct sbh_cmd *cmd);

/*
 * VERIFY: read the range in SBH_PIECE_BUF pieces, one at a time; with
 * @bytchk SBH_BYTCHK_ALL compare with @cmd->iov (@len bytes), with
 * SBH_BYTCHK_ONE with its one block, repeated. MISCOMPARE sense carries
 * the offset of the first differing byte from the start of the range.
 */
int sbh_submit_verify(struct sbh_lun *lun, uint64_t off, uint64_t len,
		      uint8_t bytchk, const struct sbh_cmd *cmd);

/*
 * Execute a decoded CDB that sbh_check() returned TCMU_STS_NOT_HANDLED
 * for: READ, WRITE, SYNCHRONIZE CACHE, WRITE SAME, COMPARE AND WRITE,
 * VERIFY. UNMAP goes through sbh_submit_unmap() per descriptor; here it
 * returns TCMU_STS_INVALID_CMD.
 */
int sbh_exec(struct sbh_lun *lun, const struct sbh_cdb *c,
	     const struct sbh_cmd *cmd);

#endif
