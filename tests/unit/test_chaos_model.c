// SPDX-License-Identifier: Apache-2.0
/* The chaos test's model of acknowledged writes (tests/common/chaos_model.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tests/common/chaos_model.h"

#define LUN 0x1234abcdull

static uint8_t buf[TC_BLOCK];

static enum tc_verdict judge(uint64_t blk, uint64_t acked, uint64_t *got)
{
	return tc_block_check(buf, LUN, blk, acked, got);
}

/* judge() of block @blk read back as version @ver wrote it. */
static enum tc_verdict judge_read(uint64_t blk, uint64_t ver, uint64_t acked,
				  uint64_t *got)
{
	tc_block_fill(buf, LUN, blk, ver);
	return judge(blk, acked, got);
}

/* Acknowledged, failed and in-flight writes: what a read may return. */
static void test_versions(void **state)
{
	struct tc_model m;
	uint64_t snap[2], got, v1, v2, v3;

	(void)state;
	assert_int_equal(tc_model_init(&m, LUN, 8), 0);
	tc_model_snapshot(&m, 3, 1, snap);
	assert_int_equal(snap[0], 0);
	assert_int_equal(judge_read(3, 0, snap[0], &got), TC_LEGAL);
	assert_int_equal(got, 0);

	v1 = tc_model_write_begin(&m, 3, 2);
	assert_false(tc_model_can_write(&m, 4, 1));
	assert_false(tc_model_can_write(&m, 0, 4));
	assert_true(tc_model_can_write(&m, 5, 3));
	assert_false(tc_model_can_write(&m, 5, 4)); /* past the end */
	/* a read submitted before the write ends may see either */
	assert_int_equal(judge_read(3, v1, snap[0], &got), TC_LEGAL);
	assert_int_equal(got, v1);
	tc_model_write_end(&m, 3, 2, v1, true);
	assert_true(tc_model_can_write(&m, 0, 8));

	/* acknowledged: zeros are a lost write now */
	tc_model_snapshot(&m, 3, 2, snap);
	assert_int_equal(snap[0], v1);
	assert_int_equal(snap[1], v1);
	assert_int_equal(judge_read(4, 0, snap[1], &got), TC_OLDER);

	/* a failed write: old or new until the next acknowledged one */
	v2 = tc_model_write_begin(&m, 3, 1);
	tc_model_write_end(&m, 3, 1, v2, false);
	tc_model_snapshot(&m, 3, 1, snap);
	assert_int_equal(judge_read(3, v1, snap[0], &got), TC_LEGAL);
	assert_int_equal(judge_read(3, v2, snap[0], &got), TC_LEGAL);

	v3 = tc_model_write_begin(&m, 3, 1);
	tc_model_write_end(&m, 3, 1, v3, true);
	tc_model_snapshot(&m, 3, 1, snap);
	assert_int_equal(judge_read(3, v2, snap[0], &got), TC_OLDER);
	assert_int_equal(got, v2);
	assert_int_equal(judge_read(3, v1, snap[0], &got), TC_OLDER);
	assert_int_equal(judge_read(3, v3, snap[0], &got), TC_LEGAL);
	assert_true(v1 < v2 && v2 < v3);
	tc_model_free(&m);
}

/* Bytes that are no version of the block are corrupt. */
static void test_corrupt(void **state)
{
	uint64_t got;

	(void)state;
	assert_int_equal(judge_read(5, 7, 7, &got), TC_LEGAL);
	assert_int_equal(judge(6, 0, &got), TC_CORRUPT); /* another block */
	assert_int_equal(got, UINT64_MAX);
	assert_int_equal(tc_block_check(buf, LUN + 1, 5, 0, &got),
			 TC_CORRUPT); /* another LUN */
	buf[TC_BLOCK - 1] ^= 1;
	assert_int_equal(judge(5, 0, &got), TC_CORRUPT);
	memset(buf, 0, TC_BLOCK);
	buf[100] = 1;
	assert_int_equal(judge(5, 0, &got), TC_CORRUPT);
	/* a version's bytes with another version in its header */
	tc_block_fill(buf, LUN, 5, 7);
	buf[3 * 8] = 8;
	assert_int_equal(judge(5, 0, &got), TC_CORRUPT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_corrupt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
