/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of node/rlock.c: exclusive and shared byte-range locks in
 * arrival order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "node/rlock.h"

static int granted_order[16];
static int ngranted;

struct op {
	struct nd_rlock_req r;
	int id;
	struct nd_rlock *lock; /* release at once when granted, if set */
};

static void on_grant(struct nd_rlock_req *r)
{
	struct op *o =
		(struct op *)(void *)((char *)r - offsetof(struct op, r));

	granted_order[ngranted++] = o->id;
	if (o->lock)
		nd_rlock_release(o->lock, r);
}

static int reset(void **state)
{
	(void)state;
	ngranted = 0;
	return 0;
}

static void test_disjoint_ranges_run_together(void **state)
{
	struct nd_rlock l;
	struct op a = {.id = 1}, b = {.id = 2};

	(void)state;
	nd_rlock_init(&l);
	assert_true(nd_rlock_idle(&l));
	assert_true(nd_rlock_acquire(&l, &a.r, 0, 4096, on_grant));
	assert_true(nd_rlock_acquire(&l, &b.r, 4096, 4096, on_grant));
	assert_false(nd_rlock_idle(&l));
	nd_rlock_release(&l, &a.r);
	nd_rlock_release(&l, &b.r);
	assert_true(nd_rlock_idle(&l));
	assert_int_equal(ngranted, 0);
}

static void test_overlap_waits_until_release(void **state)
{
	struct nd_rlock l;
	struct op a = {.id = 1}, b = {.id = 2};

	(void)state;
	nd_rlock_init(&l);
	assert_true(nd_rlock_acquire(&l, &a.r, 1000, 100, on_grant));
	/* Last byte of b touches the first byte of a. */
	assert_false(nd_rlock_acquire(&l, &b.r, 0, 1001, on_grant));
	assert_false(b.r.held);
	assert_int_equal(ngranted, 0);
	nd_rlock_release(&l, &a.r);
	assert_int_equal(ngranted, 1);
	assert_int_equal(granted_order[0], 2);
	assert_true(b.r.held);
	nd_rlock_release(&l, &b.r);
	assert_true(nd_rlock_idle(&l));
}

static void test_waiter_keeps_its_turn(void **state)
{
	struct nd_rlock l;
	struct op a = {.id = 1}, b = {.id = 2}, c = {.id = 3};

	(void)state;
	nd_rlock_init(&l);
	assert_true(nd_rlock_acquire(&l, &a.r, 0, 100, on_grant));
	/* b waits for a; c does not overlap a but overlaps waiting b. */
	assert_false(nd_rlock_acquire(&l, &b.r, 50, 100, on_grant));
	assert_false(nd_rlock_acquire(&l, &c.r, 120, 10, on_grant));
	nd_rlock_release(&l, &a.r);
	assert_int_equal(ngranted, 1);
	assert_int_equal(granted_order[0], 2);
	nd_rlock_release(&l, &b.r);
	assert_int_equal(ngranted, 2);
	assert_int_equal(granted_order[1], 3);
	nd_rlock_release(&l, &c.r);
	assert_true(nd_rlock_idle(&l));
}

static void test_release_grants_several(void **state)
{
	struct nd_rlock l;
	struct op a = {.id = 1}, b = {.id = 2}, c = {.id = 3};

	(void)state;
	nd_rlock_init(&l);
	assert_true(nd_rlock_acquire(&l, &a.r, 0, 1000, on_grant));
	assert_false(nd_rlock_acquire(&l, &b.r, 0, 10, on_grant));
	assert_false(nd_rlock_acquire(&l, &c.r, 500, 10, on_grant));
	nd_rlock_release(&l, &a.r);
	assert_int_equal(ngranted, 2);
	assert_int_equal(granted_order[0], 2);
	assert_int_equal(granted_order[1], 3);
	nd_rlock_release(&l, &c.r);
	nd_rlock_release(&l, &b.r);
	assert_true(nd_rlock_idle(&l));
}

static void test_whole_range_and_reentrant_release(void **state)
{
	struct nd_rlock l;
	struct op a = {.id = 1}, all = {.id = 2}, b = {.id = 3};

	(void)state;
	nd_rlock_init(&l);
	assert_true(nd_rlock_acquire(&l, &a.r, UINT64_MAX - 10, 10, on_grant));
	/* len 0: everything; it waits for a, and b waits behind it. */
	all.lock = &l;
	assert_false(nd_rlock_acquire(&l, &all.r, 0, 0, on_grant));
	assert_int_equal(all.r.end, UINT64_MAX);
	b.lock = &l;
	assert_false(nd_rlock_acquire(&l, &b.r, 0, 1, on_grant));
	/* all's callback releases it at once, which grants b re-entrantly. */
	nd_rlock_release(&l, &a.r);
	assert_int_equal(ngranted, 2);
	assert_int_equal(granted_order[0], 2);
	assert_int_equal(granted_order[1], 3);
	assert_true(nd_rlock_idle(&l));
}

static void test_shared_run_together_exclusive_waits(void **state)
{
	struct nd_rlock l;
	struct op r1 = {.id = 1}, r2 = {.id = 2}, w = {.id = 3}, r3 = {.id = 4};

	(void)state;
	nd_rlock_init(&l);
	assert_true(nd_rlock_acquire_shared(&l, &r1.r, 0, 100, on_grant));
	/* Shared overlapping shared: granted at once. */
	assert_true(nd_rlock_acquire_shared(&l, &r2.r, 50, 100, on_grant));
	/* An exclusive request waits for both readers. */
	assert_false(nd_rlock_acquire(&l, &w.r, 90, 20, on_grant));
	/* A later shared one overlapping the waiting writer keeps order. */
	assert_false(nd_rlock_acquire_shared(&l, &r3.r, 0, 95, on_grant));
	nd_rlock_release(&l, &r1.r);
	assert_int_equal(ngranted, 0);
	nd_rlock_release(&l, &r2.r);
	assert_int_equal(ngranted, 1);
	assert_int_equal(granted_order[0], 3);
	assert_false(r3.r.held);
	nd_rlock_release(&l, &w.r);
	assert_int_equal(ngranted, 2);
	assert_int_equal(granted_order[1], 4);
	nd_rlock_release(&l, &r3.r);
	assert_true(nd_rlock_idle(&l));
}

static void test_shared_waits_for_exclusive(void **state)
{
	struct nd_rlock l;
	struct op w = {.id = 1}, r1 = {.id = 2}, r2 = {.id = 3}, d = {.id = 4};

	(void)state;
	nd_rlock_init(&l);
	assert_true(nd_rlock_acquire(&l, &w.r, 0, 4096, on_grant));
	assert_false(nd_rlock_acquire_shared(&l, &r1.r, 0, 10, on_grant));
	assert_false(nd_rlock_acquire_shared(&l, &r2.r, 5, 10, on_grant));
	/* Disjoint from everything: granted at once. */
	assert_true(nd_rlock_acquire(&l, &d.r, 8192, 1, on_grant));
	nd_rlock_release(&l, &w.r);
	/* Both readers granted by one release, in order. */
	assert_int_equal(ngranted, 2);
	assert_int_equal(granted_order[0], 2);
	assert_int_equal(granted_order[1], 3);
	assert_true(r1.r.held && r2.r.held);
	nd_rlock_release(&l, &r1.r);
	nd_rlock_release(&l, &r2.r);
	nd_rlock_release(&l, &d.r);
	assert_true(nd_rlock_idle(&l));
}

static void test_withdraw_waiting(void **state)
{
	struct nd_rlock l;
	struct op w = {.id = 1}, r = {.id = 2}, x = {.id = 3};

	(void)state;
	nd_rlock_init(&l);
	assert_true(nd_rlock_acquire_shared(&l, &r.r, 0, 100, on_grant));
	/* w waits for r; x (disjoint from r) waits behind w. */
	assert_false(nd_rlock_acquire(&l, &w.r, 50, 100, on_grant));
	assert_false(nd_rlock_acquire(&l, &x.r, 120, 10, on_grant));
	/* w gives up: x no longer waits behind anything. */
	nd_rlock_release(&l, &w.r);
	assert_false(w.r.held);
	assert_int_equal(ngranted, 1);
	assert_int_equal(granted_order[0], 3);
	nd_rlock_release(&l, &x.r);
	nd_rlock_release(&l, &r.r);
	assert_int_equal(ngranted, 1); /* w's callback never ran */
	assert_true(nd_rlock_idle(&l));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_shared_run_together_exclusive_waits,
				       reset),
		cmocka_unit_test_setup(test_shared_waits_for_exclusive, reset),
		cmocka_unit_test_setup(test_withdraw_waiting, reset),
		cmocka_unit_test_setup(test_disjoint_ranges_run_together,
				       reset),
		cmocka_unit_test_setup(test_overlap_waits_until_release, reset),
		cmocka_unit_test_setup(test_waiter_keeps_its_turn, reset),
		cmocka_unit_test_setup(test_release_grants_several, reset),
		cmocka_unit_test_setup(test_whole_range_and_reentrant_release,
				       reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
