/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of eng_stale_after (lib/engine/store_io.c): what a chunk's
 * stale entry holds once a record job committed, when the loop learnt
 * more about the record while the job was in flight (docs/recovery.md,
 * "Node out and in": the records read again before a state change).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lib/engine/store_int.h"

#define A (1ull << 0)
#define B (1ull << 1)
#define C (1ull << 2)
#define D (1ull << 3)

static struct eng_sjob job(enum eng_sjob_kind kind, uint64_t mask,
			   uint64_t result)
{
	struct eng_sjob j = {.kind = kind, .mask = mask, .result = result};

	return j;
}

/* A write's record job read the record before spanblkctl recorded node B
 * there; the loop merged B before the job's answer came: B stays. */
static void test_add_keeps_merged(void **state)
{
	struct eng_stale st = {.mask = A | B | C, .merged = B};
	struct eng_sjob j = job(SJ_ADD, C, A | C);

	(void)state;
	assert_int_equal(eng_stale_after(&st, &j, false), A | B | C);
	assert_int_equal(st.merged, 0);
}

/* The record held bits the loop did not know (another writer's): they
 * join the entry. */
static void test_add_learns_record(void **state)
{
	struct eng_stale st = {.mask = C};
	struct eng_sjob j = job(SJ_ADD, C, A | C);

	(void)state;
	assert_int_equal(eng_stale_after(&st, &j, false), A | C);
}

/* A drop (or a clear after a copy) takes its bit out of the entry, keeps
 * the rest, and keeps the bit when a merge added it again meanwhile. */
static void test_removal(void **state)
{
	struct eng_stale st = {.mask = A | D};
	struct eng_stale again = {.mask = A | D, .merged = D};
	struct eng_sjob j = job(SJ_DROP, D, A);

	(void)state;
	assert_int_equal(eng_stale_after(&st, &j, true), A);
	assert_int_equal(eng_stale_after(&again, &j, true), A | D);
	assert_int_equal(again.merged, 0);
	st.mask = A | B | D; /* B merged after the job read the record */
	assert_int_equal(eng_stale_after(&st, &j, true), A | B);
	j = job(SJ_CLEAR, D, 0);
	st.mask = D;
	assert_int_equal(eng_stale_after(&st, &j, true), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_keeps_merged),
		cmocka_unit_test(test_add_learns_record),
		cmocka_unit_test(test_removal),
	};

	return cmocka_run_group_tests_name("engine_stale", tests, NULL, NULL);
}
