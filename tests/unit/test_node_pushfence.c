/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of node/pushfence.c: which push pieces a node admits
 * (docs/protocol.md, "Push epochs"). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "node/pushfence.h"
#include "xport/proto.h"

#define LUN 0x1234u
#define MIB (1ull << 20)

static struct nd_pfence *fresh(void)
{
	struct nd_pfence *f = NULL;

	assert_int_equal(nd_pfence_new(&f), 0);
	return f;
}

/* A piece older than the last one admitted for its chunk is refused; an
 * equal or newer one passes. */
static void test_older_refused(void **state)
{
	struct nd_pfence *f = fresh();

	(void)state;
	assert_int_equal(nd_pfence_admit(f, LUN, 0, 0, 10, 0), 0);
	assert_int_equal(nd_pfence_admit(f, LUN, 0, 0, 9, 0), -ESTALE);
	assert_int_equal(nd_pfence_admit(f, LUN, 0, 0, 10, 0), 0);
	assert_int_equal(nd_pfence_admit(f, LUN, 0, 0, 11, 0), 0);
	assert_int_equal(nd_pfence_admit(f, LUN, 0, 0, 10, 0), -ESTALE);
	assert_int_equal(nd_pfence_count(f), 1);
	nd_pfence_free(f);
}

/* Chunks are independent: other chunks and other LUNs. */
static void test_places_independent(void **state)
{
	struct nd_pfence *f = fresh();

	(void)state;
	assert_int_equal(nd_pfence_admit(f, LUN, 1, 1, 50, 0), 0);
	assert_int_equal(nd_pfence_admit(f, LUN, 0, 0, 3, 0), 0);
	assert_int_equal(nd_pfence_admit(f, LUN, 2, 2, 3, 0), 0);
	assert_int_equal(nd_pfence_admit(f, LUN + 1, 1, 1, 3, 0), 0);
	assert_int_equal(nd_pfence_admit(f, LUN, 1, 1, 49, 0), -ESTALE);
	assert_int_equal(nd_pfence_count(f), 4);
	nd_pfence_free(f);
}

/* The node's floor (its registration) refuses what came before it. */
static void test_floor(void **state)
{
	struct nd_pfence *f = fresh();
	uint64_t floor = xp_push_epoch(100, 0);

	(void)state;
	assert_int_equal(nd_pfence_admit(f, LUN, 0, 0, xp_push_epoch(99, 7),
					 floor),
			 -ESTALE);
	assert_int_equal(nd_pfence_count(f), 0);
	assert_int_equal(
		nd_pfence_admit(f, LUN, 0, 0, xp_push_epoch(100, 1), floor), 0);
	nd_pfence_free(f);
}

/* Growth keeps every entry; past ND_PFENCE_MAX the table forgets them
 * all and refuses whatever is older than the newest it saw. */
static void test_grow_and_forget(void **state)
{
	struct nd_pfence *f = fresh();
	uint64_t i;

	(void)state;
	for (i = 0; i < 5000; i++)
		assert_int_equal(nd_pfence_admit(f, LUN, i, i, 1000 + i, 0), 0);
	for (i = 0; i < 5000; i++)
		assert_int_equal(nd_pfence_admit(f, LUN, i, i, 999 + i, 0),
				 -ESTALE);
	assert_int_equal(nd_pfence_count(f), 5000);
	for (i = 5000; i < ND_PFENCE_MAX; i++)
		assert_int_equal(nd_pfence_admit(f, LUN, i, i, 10000000, 0), 0);
	assert_int_equal(nd_pfence_count(f), ND_PFENCE_MAX);
	/* one more: everything forgotten, the newest epoch is the floor */
	assert_int_equal(nd_pfence_admit(f, LUN, ND_PFENCE_MAX, ND_PFENCE_MAX,
					 10000000, 0),
			 0);
	assert_int_equal(nd_pfence_count(f), 1);
	assert_int_equal(nd_pfence_admit(f, LUN, 0, 0, 9999999, 0), -ESTALE);
	assert_int_equal(nd_pfence_admit(f, LUN, 0, 0, 10000001, 0), 0);
	nd_pfence_free(f);
}

/* A range (a fence, or a piece over two chunks) is admitted only when
 * every chunk of it admits the epoch, and then raises them all. */
static void test_range(void **state)
{
	struct nd_pfence *f = fresh();

	(void)state;
	assert_int_equal(nd_pfence_admit(f, LUN, 5, 5, 20, 0), 0);
	assert_int_equal(nd_pfence_admit(f, LUN, 3, 6, 19, 0), -ESTALE);
	assert_int_equal(nd_pfence_count(f), 1); /* nothing changed */
	assert_int_equal(nd_pfence_admit(f, LUN, 3, 3, 1, 0), 0);
	assert_int_equal(nd_pfence_admit(f, LUN, 3, 6, 20, 0), 0);
	assert_int_equal(nd_pfence_count(f), 4);
	assert_int_equal(nd_pfence_admit(f, LUN, 4, 4, 19, 0), -ESTALE);
	assert_int_equal(nd_pfence_admit(f, LUN, 6, 6, 19, 0), -ESTALE);
	assert_int_equal(nd_pfence_admit(f, LUN, 7, 7, 19, 0), 0);
	assert_int_equal(nd_pfence_admit(f, LUN, 4, 3, 30, 0), -EINVAL);
	nd_pfence_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_older_refused),
		cmocka_unit_test(test_places_independent),
		cmocka_unit_test(test_floor),
		cmocka_unit_test(test_range),
		cmocka_unit_test(test_grow_and_forget),
	};

	return cmocka_run_group_tests_name("node_pushfence", tests, NULL, NULL);
}
