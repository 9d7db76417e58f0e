/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of node/ident.c: data_dir/node.meta, gen and boot. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "node/ident.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/sb-ident-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_meta(const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/node.meta", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_parse(void **state)
{
	struct nd_ident id;

	(void)state;
	assert_int_equal(nd_ident_parse("spanblk-node 1\nid 7\ngen "
					"0123456789abcdef0123456789abcdef\n"
					"boot 12\n",
					&id),
			 0);
	assert_int_equal(id.id, 7);
	assert_string_equal(id.gen, "0123456789abcdef0123456789abcdef");
	assert_true(id.boot == 12);

	static const char *const bad[] = {
		"",
		"spanblk-node 2\nid 7\ngen 0123456789abcdef0123456789abcdef\n"
		"boot 1\n",
		"spanblk-node 1\nid 0\ngen 0123456789abcdef0123456789abcdef\n"
		"boot 1\n",
		"spanblk-node 1\nid 4294967296\ngen "
		"0123456789abcdef0123456789abcdef\nboot 1\n",
		"spanblk-node 1\nid 07\ngen 0123456789abcdef0123456789abcdef\n"
		"boot 1\n",
		"spanblk-node 1\nid 7\ngen 0123456789ABCDEF0123456789abcdef\n"
		"boot 1\n",
		"spanblk-node 1\nid 7\ngen 0123456789abcdef0123456789abcde\n"
		"boot 1\n",
		"spanblk-node 1\nid 7\ngen 0123456789abcdef0123456789abcdef\n"
		"boot 0\n",
		"spanblk-node 1\nid 7\ngen 0123456789abcdef0123456789abcdef\n"
		"boot 1",
		"spanblk-node 1\nid 7\ngen 0123456789abcdef0123456789abcdef\n"
		"boot 1\nextra 1\n",
		"spanblk-node 1\nid -7\ngen 0123456789abcdef0123456789abcdef\n"
		"boot 1\n",
		"spanblk-node 1\nid 7\ngen 0123456789abcdef0123456789abcdef\n"
		"boot 99999999999999999999\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (nd_ident_parse(bad[i], &id) != -EINVAL)
			fail_msg("accepted case %zu", i);
}

static void test_start_counts_boots(void **state)
{
	struct nd_ident a, b;
	char err[256];

	(void)state;
	assert_int_equal(nd_ident_start(dir, 3, &a, err, sizeof(err)), 0);
	assert_int_equal(a.id, 3);
	assert_true(a.boot == 1);
	assert_int_equal(strlen(a.gen), ND_GEN_HEX);
	assert_int_equal(nd_ident_start(dir, 3, &b, err, sizeof(err)), 0);
	assert_string_equal(a.gen, b.gen);
	assert_true(b.boot == 2);
	/* another node id refuses the folder */
	assert_int_equal(nd_ident_start(dir, 4, &b, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "belongs to node 3"));
	/* renewing gives a new gen from boot 1, kept across starts */
	b = a;
	assert_int_equal(nd_ident_renew(dir, &b, err, sizeof(err)), 0);
	assert_string_not_equal(a.gen, b.gen);
	assert_true(b.boot == 1);
	assert_int_equal(nd_ident_start(dir, 3, &a, err, sizeof(err)), 0);
	assert_string_equal(a.gen, b.gen);
	assert_true(a.boot == 2);
}

static void test_wiped_and_damaged(void **state)
{
	struct nd_ident a, b;
	char err[256], path[128];

	(void)state;
	assert_int_equal(nd_ident_start(dir, 1, &a, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/node.meta", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(nd_ident_start(dir, 1, &b, err, sizeof(err)), 0);
	assert_string_not_equal(a.gen, b.gen); /* a wiped folder: new gen */
	assert_true(b.boot == 1);
	write_meta("spanblk-node 1\nid 1\ngen zz\nboot 1\n");
	assert_int_equal(nd_ident_start(dir, 1, &b, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "damaged"));
	assert_int_equal(nd_ident_start("/nonexistent/x", 1, &b, err,
					sizeof(err)),
			 -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test_setup_teardown(test_start_counts_boots, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wiped_and_damaged, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
