/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of lib/members.c against the fake store: the placement
 * states read from P/node/<id>/state, and sb_members_states_equal, which
 * a gateway's first load uses to know that the stale records it read
 * match the states it places by.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/members.h"
#include "tests/common/fake_kv.h"
#include "xport/kv.h"
#include "xport/records.h"

#define PFX "/m/"

static void put_state(struct xp_kv *kv, uint32_t id, enum xp_node_state st)
{
	char key[XP_REC_KEY_MAX], *txt = NULL;

	assert_int_equal(xp_rec_key_state(key, sizeof(key), PFX, id), 0);
	assert_int_equal(xp_rec_state_encode(st, &txt), 0);
	assert_int_equal(xp_kv_put(kv, key, txt, strlen(txt), 0, NULL), 0);
	free(txt);
}

static void read_all(struct xp_kv *kv, struct sb_members *ms)
{
	assert_int_equal(sb_members_read(kv, PFX, ms), 0);
}

static void test_states_equal(void **state)
{
	struct fake_kv_store *store = fake_kv_store_new();
	struct sb_members a, b, c, d;
	struct xp_kv *kv;

	(void)state;
	assert_non_null(store);
	assert_int_equal(fake_kv_open(store, &kv), 0);
	put_state(kv, 2, XP_NODE_OUT);
	read_all(kv, &a);
	read_all(kv, &b);
	assert_true(sb_members_states_equal(&a, &b));
	assert_int_equal(sb_members_find(&a, 2)->state, XP_NODE_OUT);

	/* the same state written again is a change (a new mod revision) */
	put_state(kv, 2, XP_NODE_OUT);
	read_all(kv, &c);
	assert_false(sb_members_states_equal(&a, &c));
	/* a node that gains a state key, either way round */
	put_state(kv, 3, XP_NODE_JOINING);
	read_all(kv, &d);
	assert_false(sb_members_states_equal(&c, &d));
	assert_false(sb_members_states_equal(&d, &c));
	assert_true(sb_members_states_equal(&d, &d));

	sb_members_free(&a);
	sb_members_free(&b);
	sb_members_free(&c);
	sb_members_free(&d);
	xp_kv_close(kv);
	assert_int_equal(fake_kv_store_free(store), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_states_equal),
	};

	return cmocka_run_group_tests_name("members", tests, NULL, NULL);
}
