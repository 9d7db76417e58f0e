/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of xport/auth.c: secret files and handshake proofs. */
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

#include "xport/auth.h"

static int load_text(const char *text, size_t len, struct xp_secret *s)
{
	char path[] = "/tmp/sbsecXXXXXX";
	int fd, ret;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	ret = xp_secret_load(path, s);
	unlink(path);
	return ret;
}

static void test_secret_files(void **state)
{
	struct xp_secret s;
	char big[XP_SECRET_MAX + 1];

	(void)state;
	assert_int_equal(load_text("0123456789abcdef\n", 17, &s), 0);
	assert_int_equal(s.len, 16);
	assert_memory_equal(s.key, "0123456789abcdef", 16);
	assert_int_equal(load_text("short\n", 6, &s), -EINVAL);
	memset(big, 'x', sizeof(big));
	assert_int_equal(load_text(big, sizeof(big), &s), -EINVAL);
	assert_int_equal(load_text(big, XP_SECRET_MAX, &s), 0);
	assert_int_equal(xp_secret_load("/nonexistent/secret", &s), -ENOENT);
}

static void test_proofs(void **state)
{
	struct xp_secret s = {.len = 16}, t = {.len = 16};
	uint8_t nc[XP_NONCE_LEN], ns[XP_NONCE_LEN];
	uint8_t p1[XP_PROOF_LEN], p2[XP_PROOF_LEN], p3[XP_PROOF_LEN];

	(void)state;
	memcpy(s.key, "0123456789abcdef", 16);
	memcpy(t.key, "0123456789abcdeg", 16);
	assert_int_equal(xp_auth_nonce(nc), 0);
	assert_int_equal(xp_auth_nonce(ns), 0);
	assert_memory_not_equal(nc, ns, XP_NONCE_LEN);

	assert_int_equal(xp_auth_proof(&s, true, nc, ns, p1), 0);
	assert_int_equal(xp_auth_proof(&s, true, nc, ns, p2), 0);
	assert_true(xp_auth_equal(p1, p2));
	/* The node's proof is never a valid gateway proof. */
	assert_int_equal(xp_auth_proof(&s, false, nc, ns, p3), 0);
	assert_false(xp_auth_equal(p1, p3));
	/* Another secret, another proof. */
	assert_int_equal(xp_auth_proof(&t, true, nc, ns, p2), 0);
	assert_false(xp_auth_equal(p1, p2));
	/* Swapped nonces, another proof. */
	assert_int_equal(xp_auth_proof(&s, true, ns, nc, p2), 0);
	assert_false(xp_auth_equal(p1, p2));
}

/* HMAC-SHA256 known answer (RFC 4231 test case 2 key and data are not our
 * message layout, so check the layout instead: "spanblk-node"||nc||ns
 * with zero nonces and key "0123456789abcdef"). */
static void test_known_answer(void **state)
{
	static const uint8_t want[XP_PROOF_LEN] = {
#include "test_auth_kat.inc"
	};
	struct xp_secret s = {.len = 16};
	uint8_t z[XP_NONCE_LEN] = {0}, p[XP_PROOF_LEN];

	(void)state;
	memcpy(s.key, "0123456789abcdef", 16);
	assert_int_equal(xp_auth_proof(&s, true, z, z, p), 0);
	assert_memory_equal(p, want, XP_PROOF_LEN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secret_files),
		cmocka_unit_test(test_proofs),
		cmocka_unit_test(test_known_answer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
