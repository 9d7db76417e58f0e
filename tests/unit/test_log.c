/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of lib/util/log.c: levels, sinks, rate limiting, errno kept. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lib/util/log.h"

static int calls, last_level, last_line;
static char last_msg[256], last_func[64];

static void sink(int level, const char *func, int line, const char *msg)
{
	calls++;
	last_level = level;
	last_line = line;
	snprintf(last_func, sizeof(last_func), "%s", func);
	snprintf(last_msg, sizeof(last_msg), "%s", msg);
}

static int setup(void **state)
{
	(void)state;
	calls = 0;
	last_msg[0] = '\0';
	sb_log_set_sink(sink);
	sb_log_set_level(SB_LOG_INFO);
	return 0;
}

static void test_levels_and_sink(void **state)
{
	(void)state;
	sb_err("disk %d failed", 3);
	assert_int_equal(calls, 1);
	assert_int_equal(last_level, SB_LOG_ERR);
	assert_string_equal(last_msg, "disk 3 failed");
	assert_string_equal(last_func, "test_levels_and_sink");
	assert_true(last_line > 0);
	sb_log_msg(SB_LOG_DEBUG, __func__, __LINE__, "hidden");
	assert_int_equal(calls, 1); /* below the level */
	sb_log_set_level(SB_LOG_DEBUG);
	sb_log_msg(SB_LOG_DEBUG, __func__, __LINE__, "shown");
	assert_int_equal(calls, 2);
	sb_log_set_level(SB_LOG_ERR);
	sb_warn("hidden too");
	assert_int_equal(calls, 2);
}

static void test_errno_preserved(void **state)
{
	(void)state;
	errno = ENOSPC;
	sb_err("x");
	assert_int_equal(errno, ENOSPC);
}

static void test_long_message_truncated(void **state)
{
	char big[4000];

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	sb_err("%s", big);
	assert_int_equal(calls, 1);
	assert_true(strlen(last_msg) > 200);
}

static void test_rate_limit(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < 1000; i++)
		sb_err_rl("I/O error %d", i);
	/* At most 10 a second (a second boundary may fall inside the loop,
	 * plus one "suppressed" line). */
	assert_true(calls >= 10 && calls <= 21);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_levels_and_sink, setup),
		cmocka_unit_test_setup(test_errno_preserved, setup),
		cmocka_unit_test_setup(test_long_message_truncated, setup),
		cmocka_unit_test_setup(test_rate_limit, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
