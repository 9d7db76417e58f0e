/* SPDX-License-Identifier: Apache-2.0 */
/*
 * xport/kv.c: the transaction argument checks every store implementation
 * runs (xp_kv_txn_check), at each bound and one past it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xport/kv.h"

#define KEY_MAX 16
#define VAL_MAX 64

static int check(const struct xp_kv_cmp *cmp, size_t ncmp,
		 const struct xp_kv_op *ok, size_t nok)
{
	return xp_kv_txn_check(cmp, ncmp, ok, nok, NULL, 0, KEY_MAX, VAL_MAX);
}

/* At most XP_KV_TXN_MAX per array, and an array for each count. */
static void test_counts(void **state)
{
	static struct xp_kv_op ops[XP_KV_TXN_MAX + 1];
	static struct xp_kv_cmp cmps[XP_KV_TXN_MAX + 1];
	size_t i;

	(void)state;
	for (i = 0; i <= XP_KV_TXN_MAX; i++) {
		ops[i] = (struct xp_kv_op){.kind = XP_KV_DEL, .key = "k"};
		cmps[i] = (struct xp_kv_cmp){.key = "k",
					     .target = XP_KV_VERSION,
					     .result = XP_KV_EQ};
	}
	assert_int_equal(check(NULL, 0, NULL, 0), 0);
	assert_int_equal(check(cmps, XP_KV_TXN_MAX, ops, XP_KV_TXN_MAX), 0);
	assert_int_equal(check(cmps, XP_KV_TXN_MAX + 1, ops, 1), -EINVAL);
	assert_int_equal(check(cmps, 1, ops, XP_KV_TXN_MAX + 1), -EINVAL);
	assert_int_equal(xp_kv_txn_check(NULL, 0, NULL, 0, ops,
					 XP_KV_TXN_MAX + 1, KEY_MAX, VAL_MAX),
			 -EINVAL);
	assert_int_equal(check(NULL, 1, ops, 1), -EINVAL);
	assert_int_equal(check(cmps, 1, NULL, 1), -EINVAL);
	assert_int_equal(xp_kv_txn_check(NULL, 0, NULL, 0, NULL, 1, KEY_MAX,
					 VAL_MAX),
			 -EINVAL);
}

/* Keys of 1..KEY_MAX bytes; an empty one only for DEL_PREFIX. */
static void test_keys(void **state)
{
	char at_max[KEY_MAX + 1], over[KEY_MAX + 2];
	struct xp_kv_op op = {.kind = XP_KV_GET};
	struct xp_kv_cmp c = {.target = XP_KV_CREATE, .result = XP_KV_EQ};

	(void)state;
	memset(at_max, 'k', KEY_MAX);
	at_max[KEY_MAX] = '\0';
	memset(over, 'k', KEY_MAX + 1);
	over[KEY_MAX + 1] = '\0';
	op.key = at_max;
	assert_int_equal(check(NULL, 0, &op, 1), 0);
	op.key = over;
	assert_int_equal(check(NULL, 0, &op, 1), -EINVAL);
	op.key = NULL;
	assert_int_equal(check(NULL, 0, &op, 1), -EINVAL);
	op.key = "";
	assert_int_equal(check(NULL, 0, &op, 1), -EINVAL);
	op.kind = XP_KV_DEL_PREFIX;
	assert_int_equal(check(NULL, 0, &op, 1), 0);
	c.key = at_max;
	assert_int_equal(check(&c, 1, NULL, 0), 0);
	c.key = over;
	assert_int_equal(check(&c, 1, NULL, 0), -EINVAL);
	c.key = "";
	assert_int_equal(check(&c, 1, NULL, 0), -EINVAL);
}

/* Values of at most VAL_MAX bytes, present when their length is not 0. */
static void test_values(void **state)
{
	static const char val[VAL_MAX + 1];
	struct xp_kv_op op = {.kind = XP_KV_PUT, .key = "k", .val = val};
	struct xp_kv_cmp c = {.key = "k",
			      .target = XP_KV_VALUE,
			      .result = XP_KV_EQ,
			      .val = val};

	(void)state;
	op.vlen = VAL_MAX;
	assert_int_equal(check(NULL, 0, &op, 1), 0);
	op.vlen = VAL_MAX + 1;
	assert_int_equal(check(NULL, 0, &op, 1), -EINVAL);
	op.vlen = 1;
	op.val = NULL;
	assert_int_equal(check(NULL, 0, &op, 1), -EINVAL);
	op.vlen = 0;
	assert_int_equal(check(NULL, 0, &op, 1), 0); /* an empty value */
	op.lease = -1;
	assert_int_equal(check(NULL, 0, &op, 1), -EINVAL);
	c.vlen = VAL_MAX;
	assert_int_equal(check(&c, 1, NULL, 0), 0);
	c.vlen = VAL_MAX + 1;
	assert_int_equal(check(&c, 1, NULL, 0), -EINVAL);
	c.vlen = 1;
	c.val = NULL;
	assert_int_equal(check(&c, 1, NULL, 0), -EINVAL);
	/* a compare on the version carries no value: none is checked */
	c.target = XP_KV_VERSION;
	c.vlen = VAL_MAX + 1;
	assert_int_equal(check(&c, 1, NULL, 0), 0);
}

/* Enums out of range are refused. */
static void test_enums(void **state)
{
	struct xp_kv_op op = {.kind = XP_KV_GET, .key = "k"};
	struct xp_kv_cmp c = {
		.key = "k", .target = XP_KV_LEASE, .result = XP_KV_LT};

	(void)state;
	assert_int_equal(check(&c, 1, &op, 1), 0);
	c.target = (enum xp_kv_target)(XP_KV_LEASE + 1);
	assert_int_equal(check(&c, 1, NULL, 0), -EINVAL);
	c.target = XP_KV_LEASE;
	c.result = (enum xp_kv_result)(XP_KV_LT + 1);
	assert_int_equal(check(&c, 1, NULL, 0), -EINVAL);
	op.kind = (enum xp_kv_opkind)(XP_KV_GET + 1);
	assert_int_equal(check(NULL, 0, &op, 1), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_enums),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
