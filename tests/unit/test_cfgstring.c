/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of handler/cfgstring.c: the backstore's cfgstring. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "handler/cfgstring.h"

static char err[256];

static int parse(const char *s, struct sbh_cfg *cfg)
{
	err[0] = '\0';
	return sbh_cfg_parse(s, cfg, err, sizeof(err));
}

/* Refused, with a reason that mentions @word. */
static void refused(const char *s, const char *word)
{
	struct sbh_cfg cfg;

	assert_int_not_equal(parse(s, &cfg), 0);
	if (!strstr(err, word))
		fail_msg("'%s': reason '%s' lacks '%s'", s, err, word);
}

static void test_minimal(void **state)
{
	struct sbh_cfg cfg;

	(void)state;
	assert_int_equal(parse("spanblk/lun0", &cfg), 0);
	assert_string_equal(cfg.lun, "lun0");
	assert_string_equal(cfg.conf, SB_DEFAULT_CLUSTER_CONF);
	assert_int_equal(cfg.replicas, 0);
	assert_int_equal(cfg.chunk_size, 0);
	/* Without the subtype prefix too. */
	assert_int_equal(parse("vol.A-1_b", &cfg), 0);
	assert_string_equal(cfg.lun, "vol.A-1_b");
}

static void test_all_options(void **state)
{
	struct sbh_cfg cfg;

	(void)state;
	assert_int_equal(parse("spanblk/db1;conf=/tmp/c.conf;replicas=3;"
			       "chunk=4M",
			       &cfg),
			 0);
	assert_string_equal(cfg.lun, "db1");
	assert_string_equal(cfg.conf, "/tmp/c.conf");
	assert_int_equal(cfg.replicas, 3);
	assert_int_equal(cfg.chunk_size, 4u << 20);
	/* Any order; sizes with suffixes. */
	assert_int_equal(parse("spanblk/x;chunk=64K;replicas=1", &cfg), 0);
	assert_int_equal(cfg.chunk_size, 64u << 10);
	assert_int_equal(parse("spanblk/x;chunk=1G", &cfg), 0);
	assert_int_equal(cfg.chunk_size, 1u << 30);
}

static void test_runner_timeout_ignored(void **state)
{
	struct sbh_cfg cfg;

	(void)state;
	assert_int_equal(parse("spanblk/lun0;tcmur_cmd_time_out=30", &cfg), 0);
	assert_string_equal(cfg.lun, "lun0");
	assert_int_equal(
		parse("spanblk/lun0;replicas=2;tcmur_cmd_time_out=0", &cfg), 0);
	assert_int_equal(cfg.replicas, 2);
	refused("spanblk/lun0;tcmur_cmd_time_out=soon", "tcmur_cmd_time_out");
}

static void test_refusals(void **state)
{
	(void)state;
	refused("", "expected");
	refused("spanblk/", "expected");
	refused("spanblk/;replicas=2", "expected");
	refused("spanblk/lun0;size=4G", "unknown option 'size'");
	refused("spanblk/lun0;replicas=2;replicas=3", "twice");
	refused("spanblk/lun0;conf=/a;conf=/b", "twice");
	refused("spanblk/lun0;replicas=", "empty value");
	refused("spanblk/lun0;chunk=", "empty value");
	refused("spanblk/lun0;;replicas=2", "empty option");
	refused("spanblk/lun0;", "empty option");
	refused("spanblk/lun0;replicas", "key=value");
	refused("spanblk/lun0;replicas=0", "replicas");
	refused("spanblk/lun0;replicas=65", "replicas");
	refused("spanblk/lun0;replicas=two", "replicas");
	refused("spanblk/lun0;replicas=-1", "replicas");
	refused("spanblk/lun0;chunk=3M", "power of two");
	refused("spanblk/lun0;chunk=32K", "power of two");
	refused("spanblk/lun0;chunk=2G", "power of two");
	refused("spanblk/lun0;chunk=99999999999999999999", "power of two");
	refused("spanblk/lun0;conf=etc/c.conf", "absolute");
	refused("spanblk/lun,0", "','");
	refused("spanblk/lun0;conf=/a:b", "':'");
	refused("spanblk/lun 0", "LUN name");
	refused("spanblk/lun$0", "LUN name");
	refused("other/lun0", "spanblk/");
	refused("spanblk/a/b", "spanblk/");
}

static void test_lengths(void **state)
{
	char s[SBH_CFG_MAX + 2], name[XP_LUN_NAME_MAX + 2];
	struct sbh_cfg cfg;
	size_t n;

	(void)state;
	/* A 64-byte LUN name is fine, 65 is not. */
	memset(name, 'a', XP_LUN_NAME_MAX);
	name[XP_LUN_NAME_MAX] = '\0';
	snprintf(s, sizeof(s), "spanblk/%s", name);
	assert_int_equal(parse(s, &cfg), 0);
	assert_string_equal(cfg.lun, name);
	name[XP_LUN_NAME_MAX] = 'a';
	name[XP_LUN_NAME_MAX + 1] = '\0';
	snprintf(s, sizeof(s), "spanblk/%s", name);
	refused(s, "LUN name");

	/* Exactly 255 bytes parse; 256 are refused before anything else. */
	n = (size_t)snprintf(s, sizeof(s), "spanblk/l;conf=/");
	memset(s + n, 'p', SBH_CFG_MAX - n);
	s[SBH_CFG_MAX] = '\0';
	assert_int_equal(parse(s, &cfg), 0);
	assert_int_equal(strlen(cfg.conf), SBH_CFG_MAX - strlen("spanblk/"
								"l;conf="));
	s[SBH_CFG_MAX] = 'p';
	s[SBH_CFG_MAX + 1] = '\0';
	assert_int_equal(parse(s, &cfg), -ENAMETOOLONG);
	assert_non_null(strstr(err, "255"));
	assert_int_equal(sbh_cfg_parse(NULL, &cfg, err, sizeof(err)), -EINVAL);
}

static void test_apply(void **state)
{
	struct sb_cluster cl;
	struct sbh_cfg cfg;

	(void)state;
	memset(&cl, 0, sizeof(cl));
	cl.nr_nodes = 3;
	cl.replicas = 2;
	cl.chunk_size = SB_DEFAULT_CHUNK;

	assert_int_equal(parse("spanblk/a", &cfg), 0);
	assert_int_equal(sbh_cfg_apply(&cfg, &cl, err, sizeof(err)), 0);
	assert_int_equal(cl.replicas, 2);
	assert_int_equal(cl.chunk_size, SB_DEFAULT_CHUNK);

	assert_int_equal(parse("spanblk/a;replicas=3;chunk=256K", &cfg), 0);
	assert_int_equal(sbh_cfg_apply(&cfg, &cl, err, sizeof(err)), 0);
	assert_int_equal(cl.replicas, 3);
	assert_int_equal(cl.chunk_size, 256u << 10);

	assert_int_equal(parse("spanblk/a;replicas=4", &cfg), 0);
	assert_int_equal(sbh_cfg_apply(&cfg, &cl, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "3 node"));
}

static void test_equal(void **state)
{
	struct sbh_cfg a, b;

	(void)state;
	assert_int_equal(parse("spanblk/a;replicas=2", &a), 0);
	assert_int_equal(parse("a;tcmur_cmd_time_out=5;replicas=2", &b), 0);
	assert_true(sbh_cfg_equal(&a, &b));
	assert_int_equal(parse("spanblk/a;replicas=3", &b), 0);
	assert_false(sbh_cfg_equal(&a, &b));
	assert_int_equal(parse("spanblk/b;replicas=2", &b), 0);
	assert_false(sbh_cfg_equal(&a, &b));
	assert_int_equal(parse("spanblk/a;replicas=2;conf=/x", &b), 0);
	assert_false(sbh_cfg_equal(&a, &b));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_all_options),
		cmocka_unit_test(test_runner_timeout_ignored),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_apply),
		cmocka_unit_test(test_equal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
