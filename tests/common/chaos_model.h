/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The model of acknowledged writes that a randomized fault test checks
 * every read against (tests/host/test_chaos.c).
 *
 * Every write carries a version, a number that grows with each write
 * submitted; every 4 KiB block it writes holds the LUN, the block number
 * and that version, then bytes derived from the three, so a read tells
 * which write it got (version 0: the block was never written, all zero).
 *
 * Per block the model keeps the version last acknowledged and whether a
 * write of it is in flight (the generator never overlaps two writes of
 * one block, which keeps the model exact). A read takes, when submitted,
 * the acknowledged version of each of its blocks; when it completes, a
 * block is legal when it holds that version or a later one: a later one
 * was written to that block after it (in flight, failed, or acknowledged
 * while the read ran), and "old or new" is the right answer for a write
 * that failed or is in flight until the block's next acknowledged write.
 * Anything older is a stale read and means an acknowledged write is lost;
 * bytes that are no version of that block are corrupt.
 *
 * Not thread-safe: one thread owns a model.
 */
#ifndef SPANBLK_TESTS_COMMON_CHAOS_MODEL_H
#define SPANBLK_TESTS_COMMON_CHAOS_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TC_BLOCK 4096u

struct tc_model {
	uint64_t lun;
	size_t nblk;
	uint64_t *acked; /* per block: version last acknowledged, 0: none */
	uint8_t *writing; /* per block: a write of it is in flight */
	uint64_t next_ver; /* the next write's version (from 1) */
};

/* What a block read back is, against the version acknowledged before. */
enum tc_verdict {
	TC_LEGAL, /* the acknowledged version or a later write of the block */
	TC_OLDER, /* an older version (or zeros): an acknowledged write lost */
	TC_CORRUPT, /* no version of this block of this LUN */
};

/* A model of @nblk blocks of LUN @lun, nothing written. 0 or -ENOMEM. */
int tc_model_init(struct tc_model *m, uint64_t lun, size_t nblk);

/* Free the arrays. Accepts a zeroed @m. */
void tc_model_free(struct tc_model *m);

/* No write of blocks [@blk, @blk + @n) is in flight. */
bool tc_model_can_write(const struct tc_model *m, size_t blk, size_t n);

/*
 * A write of blocks [@blk, @blk + @n) starts: marks them in flight and
 * returns its version. The caller checked tc_model_can_write.
 */
uint64_t tc_model_write_begin(struct tc_model *m, size_t blk, size_t n);

/* The write of version @ver ended, acknowledged (@ok) or failed. */
void tc_model_write_end(struct tc_model *m, size_t blk, size_t n, uint64_t ver,
			bool ok);

/* The acknowledged versions of [@blk, @blk + @n) into @snap (@n entries),
 * taken when a read is submitted. */
void tc_model_snapshot(const struct tc_model *m, size_t blk, size_t n,
		       uint64_t *snap);

/* Fill @buf (TC_BLOCK bytes) with version @ver of block @blk of @lun. */
void tc_block_fill(void *buf, uint64_t lun, uint64_t blk, uint64_t ver);

/*
 * Judge @buf (TC_BLOCK bytes) read from block @blk of @lun by a read whose
 * snapshot of the block was @acked; the version found into *@got (for
 * TC_CORRUPT: UINT64_MAX).
 */
enum tc_verdict tc_block_check(const void *buf, uint64_t lun, uint64_t blk,
			       uint64_t acked, uint64_t *got);

#endif
