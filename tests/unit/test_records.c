/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of xport/records.c: the cluster store's keys and values. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xport/records.h"

#define GEN "0123456789abcdef0123456789abcdef"

static void test_keys(void **state)
{
	char k[XP_REC_KEY_MAX];
	uint32_t node = 0;

	(void)state;
	assert_int_equal(xp_rec_key_alive(k, sizeof(k), "/spanblk/", 7), 0);
	assert_string_equal(k, "/spanblk/node/7/alive");
	assert_int_equal(xp_rec_key_parse_node(k, "/spanblk/", &node),
			 XP_REC_ALIVE);
	assert_int_equal(node, 7);
	assert_int_equal(xp_rec_key_gen(k, sizeof(k), "/p/", 4294967295u), 0);
	assert_string_equal(k, "/p/node/4294967295/gen");
	assert_int_equal(xp_rec_key_parse_node(k, "/p/", &node), XP_REC_GEN);
	assert_true(node == 4294967295u);
	assert_int_equal(xp_rec_key_nodes(k, sizeof(k), "/p/"), 0);
	assert_string_equal(k, "/p/node/");
	assert_int_equal(xp_rec_key_alive(k, 10, "/spanblk/", 7),
			 -ENAMETOOLONG);
	assert_int_equal(xp_rec_key_parse_node("/p/node/3/later", "/p/", &node),
			 0);
	static const char *const bad[] = {
		"/q/node/3/alive",
		"/p/node//alive",
		"/p/node/0/alive",
		"/p/node/03/alive",
		"/p/node/4294967296/alive",
		"/p/node/3x/alive",
		"/p/node/3",
		"/p/nodes/3/alive",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (xp_rec_key_parse_node(bad[i], "/p/", &node) != -EINVAL)
			fail_msg("accepted %s", bad[i]);
}

static void test_alive(void **state)
{
	struct xp_rec_alive a = {.incarnation = 7587869101445712001LL,
				 .gen = GEN,
				 .boot = 3,
				 .host = "10.0.0.1",
				 .port = 7400},
			    b;
	char *txt;

	(void)state;
	assert_int_equal(xp_rec_alive_encode(&a, &txt), 0);
	assert_non_null(strstr(txt, "\"incarnation\":\"7587869101445712001\""));
	assert_int_equal(xp_rec_alive_decode(txt, strlen(txt), &b), 0);
	free(txt);
	assert_true(b.incarnation == a.incarnation);
	assert_string_equal(b.gen, GEN);
	assert_true(b.boot == 3);
	assert_string_equal(b.host, "10.0.0.1");
	assert_int_equal(b.port, 7400);

	a.incarnation = 0;
	assert_int_equal(xp_rec_alive_encode(&a, &txt), -EINVAL);
	a.incarnation = 1;
	a.gen[0] = 'G';
	assert_int_equal(xp_rec_alive_encode(&a, &txt), -EINVAL);

	static const char *const bad[] = {
		"",
		"[]",
		"{}",
		"{\"incarnation\":\"1\",\"gen\":\"" GEN "\",\"boot\":1,"
		"\"host\":\"h\"}",
		"{\"incarnation\":1,\"gen\":\"" GEN "\",\"boot\":1,"
		"\"host\":\"h\",\"port\":1}",
		"{\"incarnation\":\"-1\",\"gen\":\"" GEN "\",\"boot\":1,"
		"\"host\":\"h\",\"port\":1}",
		"{\"incarnation\":\"99999999999999999999\",\"gen\":\"" GEN
		"\",\"boot\":1,\"host\":\"h\",\"port\":1}",
		"{\"incarnation\":\"1\",\"gen\":\"abc\",\"boot\":1,"
		"\"host\":\"h\",\"port\":1}",
		"{\"incarnation\":\"1\",\"gen\":\"" GEN "\",\"boot\":0,"
		"\"host\":\"h\",\"port\":1}",
		"{\"incarnation\":\"1\",\"gen\":\"" GEN "\",\"boot\":1,"
		"\"host\":\"\",\"port\":1}",
		"{\"incarnation\":\"1\",\"gen\":\"" GEN "\",\"boot\":1,"
		"\"host\":\"h\",\"port\":65536}",
		"{\"incarnation\":\"1\",\"gen\":\"" GEN "\",\"boot\":1.5,"
		"\"host\":\"h\",\"port\":1}",
		"{\"incarnation\":\"1\",\"gen\":\"" GEN "\",\"boot\":1,"
		"\"host\":\"h\",\"port\":1} x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (xp_rec_alive_decode(bad[i], strlen(bad[i]), &b) != -EINVAL)
			fail_msg("accepted case %zu", i);
	/* unknown fields are a later version's: ignored */
	static const char later[] = "{\"incarnation\":\"5\",\"gen\":\"" GEN
				    "\",\"boot\":2,"
				    "\"host\":\"h\",\"port\":9,\"weight\":3}";
	assert_int_equal(xp_rec_alive_decode(later, strlen(later), &b), 0);
	assert_true(b.incarnation == 5);
}

static void test_gen(void **state)
{
	struct xp_rec_gen g = {.gen = GEN, .boot = 41}, h;
	char *txt;

	(void)state;
	assert_int_equal(xp_rec_gen_encode(&g, &txt), 0);
	assert_int_equal(xp_rec_gen_decode(txt, strlen(txt), &h), 0);
	free(txt);
	assert_string_equal(h.gen, GEN);
	assert_true(h.boot == 41);
	assert_int_equal(xp_rec_gen_decode("{\"gen\":\"" GEN "\"}", 42, &h),
			 -EINVAL);
	/* a NUL inside the value is refused, not cut short */
	static const char nul[] = "{\"gen\":\"" GEN "\",\"boot\":1}\0";
	assert_int_equal(xp_rec_gen_decode(nul, sizeof(nul), &h), -EINVAL);
}

/* The node state record: every state, and anything else refused. */
static void test_state(void **state)
{
	static const char *const want[] = {"{\"state\":\"in\"}",
					   "{\"state\":\"out\"}",
					   "{\"state\":\"joining\"}"};
	char k[XP_REC_KEY_MAX], *txt;
	enum xp_node_state ns;
	uint32_t id = 0;
	unsigned int i;

	(void)state;
	assert_int_equal(xp_rec_key_state(k, sizeof(k), "/p/", 7), 0);
	assert_string_equal(k, "/p/node/7/state");
	assert_int_equal(xp_rec_key_parse_node(k, "/p/", &id), XP_REC_STATE);
	assert_int_equal(id, 7);
	for (i = XP_NODE_IN; i <= XP_NODE_JOINING; i++) {
		assert_int_equal(xp_rec_state_encode(i, &txt), 0);
		assert_string_equal(txt, want[i]);
		assert_int_equal(xp_rec_state_decode(txt, strlen(txt), &ns), 0);
		assert_int_equal(ns, i);
		free(txt);
	}
	assert_int_equal(xp_rec_state_encode(3, &txt), -EINVAL);
	assert_int_equal(xp_rec_state_decode("{\"state\":\"gone\"}", 16, &ns),
			 -EINVAL);
	assert_int_equal(xp_rec_state_decode("{\"state\":\"joiningX\"}", 20,
					     &ns),
			 -EINVAL);
	assert_int_equal(xp_rec_state_decode("{\"state\":1}", 11, &ns),
			 -EINVAL);
	assert_int_equal(xp_rec_state_decode("{}", 2, &ns), -EINVAL);
}

/* Activity-log keys: built, parsed, and refused when they are not one. */
static void test_al_keys(void **state)
{
	char k[XP_REC_KEY_MAX];
	uint64_t lun, ext;

	(void)state;
	assert_int_equal(xp_rec_key_al(k, sizeof(k), "/p/", 0xabcull, 3), 0);
	assert_string_equal(k, "/p/al/0000000000000abc/0000000000000003");
	assert_int_equal(xp_rec_key_parse_al(k, "/p/", &lun, &ext), 0);
	assert_true(lun == 0xabc && ext == 3);
	assert_int_equal(xp_rec_key_al_prefix(k, sizeof(k), "/p/"), 0);
	assert_string_equal(k, "/p/al/");
	assert_int_equal(xp_rec_key_epoch(k, sizeof(k), "/p/"), 0);
	assert_string_equal(k, "/p/epoch");
	assert_int_equal(xp_rec_key_epoch(k, 8, "/p/"), -ENAMETOOLONG);
	/* a stale key is not an AL key, nor one cut short or too long */
	assert_int_equal(xp_rec_key_parse_al("/p/stale/0000000000000abc/"
					     "0000000000000003",
					     "/p/", &lun, &ext),
			 -EINVAL);
	assert_int_equal(xp_rec_key_parse_al("/p/al/0000000000000abc/"
					     "000000000000003",
					     "/p/", &lun, &ext),
			 -EINVAL);
	assert_int_equal(xp_rec_key_parse_al("/p/alx/0000000000000abc/"
					     "0000000000000003",
					     "/p/", &lun, &ext),
			 -EINVAL);
	assert_int_equal(xp_rec_key_al(k, 20, "/p/", 1, 2), -ENAMETOOLONG);
}

static void test_stale(void **state)
{
	struct xp_rec_stale st = {.n = 2, .nodes = {2, 7}}, back;
	char k[XP_REC_KEY_MAX], *txt;
	uint64_t lun, chunk;

	(void)state;
	assert_int_equal(xp_rec_key_stale(k, sizeof(k), "/p/",
					  0x0123456789abcdefull, 42),
			 0);
	assert_string_equal(k, "/p/stale/0123456789abcdef/000000000000002a");
	assert_int_equal(xp_rec_key_parse_stale(k, "/p/", &lun, &chunk), 0);
	assert_true(lun == 0x0123456789abcdefull && chunk == 42);
	assert_int_equal(xp_rec_key_stale_prefix(k, sizeof(k), "/p/", true, 5),
			 0);
	assert_string_equal(k, "/p/stale/0000000000000005/");
	assert_int_equal(xp_rec_key_stale_prefix(k, sizeof(k), "/p/", false, 5),
			 0);
	assert_string_equal(k, "/p/stale/");
	assert_int_equal(xp_rec_key_parse_stale("/p/stale/0123456789ABCDEF/"
						"000000000000002a",
						"/p/", &lun, &chunk),
			 -EINVAL);
	assert_int_equal(xp_rec_key_parse_stale("/p/stale/0123456789abcdef/"
						"000000000000002a/x",
						"/p/", &lun, &chunk),
			 -EINVAL);

	assert_int_equal(xp_rec_stale_encode(&st, &txt), 0);
	assert_string_equal(txt, "{\"nodes\":[2,7]}");
	assert_int_equal(xp_rec_stale_decode(txt, strlen(txt), &back), 0);
	free(txt);
	assert_int_equal(back.n, 2);
	assert_int_equal(back.nodes[1], 7);
	static const char *const bad[] = {
		"{\"nodes\":[]}",      "{\"nodes\":[0]}",
		"{\"nodes\":[3,3]}",   "{\"nodes\":[3,2]}",
		"{\"nodes\":[\"1\"]}", "{\"nodes\":[4294967296]}",
		"{\"nodes\":1}",       "{}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (xp_rec_stale_decode(bad[i], strlen(bad[i]), &back) !=
		    -EINVAL)
			fail_msg("accepted %s", bad[i]);
	st.n = 0;
	assert_int_equal(xp_rec_stale_encode(&st, &txt), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),	cmocka_unit_test(test_alive),
		cmocka_unit_test(test_gen),	cmocka_unit_test(test_stale),
		cmocka_unit_test(test_al_keys), cmocka_unit_test(test_state),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
