/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of node/lease.c: the node's in-memory lease table. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "node/lease.h"

#define LUN_A 0x1111
#define LUN_B 0x2222

static void test_acquire_busy_expire(void **state)
{
	struct nd_leases *t = nd_leases_new();
	uint64_t e;

	(void)state;
	assert_non_null(t);
	assert_int_equal(nd_lease_acquire(t, LUN_A, 7, 1000, 0, &e), 0);
	assert_int_equal(e, 1);
	/* Another holder while it runs: busy, current epoch reported. */
	assert_int_equal(nd_lease_acquire(t, LUN_A, 8, 1000, 999, &e), -EBUSY);
	assert_int_equal(e, 1);
	/* Another LUN is independent. */
	assert_int_equal(nd_lease_acquire(t, LUN_B, 8, 1000, 999, &e), 0);
	assert_int_equal(e, 1);
	/* Expired: the other holder gets it, with a new epoch. */
	assert_int_equal(nd_lease_acquire(t, LUN_A, 8, 1000, 1000, &e), 0);
	assert_int_equal(e, 2);
	/* The holder itself may acquire again: a new epoch. */
	assert_int_equal(nd_lease_acquire(t, LUN_A, 8, 1000, 1001, &e), 0);
	assert_int_equal(e, 3);
	nd_leases_free(t);
}

static void test_renew_and_release_check_epoch(void **state)
{
	struct nd_leases *t = nd_leases_new();
	uint64_t e, cur;

	(void)state;
	assert_int_equal(nd_lease_acquire(t, LUN_A, 7, 100, 0, &e), 0);
	assert_int_equal(nd_lease_renew(t, LUN_A, 7, e + 1, 100, 50, &cur),
			 -ESTALE);
	assert_int_equal(cur, e);
	assert_int_equal(nd_lease_renew(t, LUN_A, 9, e, 100, 50, &cur),
			 -ESTALE);
	assert_int_equal(nd_lease_renew(t, LUN_B, 7, e, 100, 50, &cur),
			 -ESTALE);
	assert_int_equal(cur, 0);
	/* Renewed at 50 for 100 ms: still held at 140. */
	assert_int_equal(nd_lease_renew(t, LUN_A, 7, e, 100, 50, &cur), 0);
	assert_int_equal(nd_lease_acquire(t, LUN_A, 9, 100, 140, &cur), -EBUSY);
	assert_int_equal(nd_lease_release(t, LUN_A, 9, e, &cur), -ESTALE);
	assert_int_equal(nd_lease_release(t, LUN_A, 7, e, &cur), 0);
	/* Released: renew fails, anyone may acquire at once. */
	assert_int_equal(nd_lease_renew(t, LUN_A, 7, e, 100, 141, &cur),
			 -ESTALE);
	assert_int_equal(nd_lease_acquire(t, LUN_A, 9, 100, 141, &cur), 0);
	assert_int_equal(cur, e + 1);
	nd_leases_free(t);
}

static void test_lapsed_lease_renews_if_untaken(void **state)
{
	struct nd_leases *t = nd_leases_new();
	uint64_t e, cur;

	(void)state;
	assert_int_equal(nd_lease_acquire(t, LUN_A, 7, 10, 0, &e), 0);
	assert_int_equal(nd_lease_renew(t, LUN_A, 7, e, 10, 500, &cur), 0);
	assert_int_equal(nd_lease_acquire(t, LUN_A, 9, 10, 505, &cur), -EBUSY);
	nd_leases_free(t);
}

static void test_invalid_and_many(void **state)
{
	struct nd_leases *t = nd_leases_new();
	uint64_t e, i;

	(void)state;
	assert_int_equal(nd_lease_acquire(t, LUN_A, 0, 10, 0, &e), -EINVAL);
	assert_int_equal(nd_lease_acquire(t, LUN_A, 1, 0, 0, &e), -EINVAL);
	assert_int_equal(nd_lease_acquire(t, LUN_A, 1, 10, 0, &e), 0);
	assert_int_equal(nd_lease_renew(t, LUN_A, 1, e, 0, 0, &e), -EINVAL);
	/* The table grows past its first allocation. */
	for (i = 1; i <= 100; i++)
		assert_int_equal(nd_lease_acquire(t, 1000 + i, i, 10, 0, &e),
				 0);
	for (i = 1; i <= 100; i++)
		assert_int_equal(nd_lease_release(t, 1000 + i, i, 1, &e), 0);
	nd_leases_free(t);
	nd_leases_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_acquire_busy_expire),
		cmocka_unit_test(test_renew_and_release_check_epoch),
		cmocka_unit_test(test_lapsed_lease_renews_if_untaken),
		cmocka_unit_test(test_invalid_and_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
