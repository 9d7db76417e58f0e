/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of lib/iovcopy.c: the total of an iovec and its refusal of
 * bad entries, slices of an iovec (what the engine builds each request's
 * payload from), copies between a scattered iovec and a flat buffer at an
 * offset, and the byte / time accounting of the timed copy that the
 * engine's RDMA path uses (sb_engine_stats copy_bytes, copy_ns).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/iovcopy.h"

/* Three uneven pieces of one pattern, like a TCMU request's data area. */
#define P0 4096
#define P1 1
#define P2 (1 << 20)
#define TOTAL (P0 + P1 + P2)

struct fx {
	unsigned char *area; /* TOTAL bytes, i & 0xff at byte i */
	unsigned char *buf; /* TOTAL bytes, the "pool buffer" */
	struct iovec iov[3];
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	size_t i;

	assert_non_null(f);
	f->area = malloc(TOTAL);
	f->buf = malloc(TOTAL);
	assert_non_null(f->area);
	assert_non_null(f->buf);
	for (i = 0; i < TOTAL; i++)
		f->area[i] = (unsigned char)(i * 7 + 3);
	f->iov[0] = (struct iovec){f->area, P0};
	f->iov[1] = (struct iovec){f->area + P0, P1};
	f->iov[2] = (struct iovec){f->area + P0 + P1, P2};
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	free(f->area);
	free(f->buf);
	free(f);
	return 0;
}

/* Out of the iovec, from an offset inside the first piece across all. */
static void test_copy_out(void **state)
{
	struct fx *f = *state;
	size_t len = TOTAL - 100;

	memset(f->buf, 0, TOTAL);
	assert_int_equal(sb_iov_copy(f->iov, 3, 100, f->buf, len, false), len);
	assert_memory_equal(f->buf, f->area + 100, len);
	/* Starting in the 1-byte piece. */
	memset(f->buf, 0, TOTAL);
	assert_int_equal(sb_iov_copy(f->iov, 3, P0, f->buf, 2, false), 2);
	assert_memory_equal(f->buf, f->area + P0, 2);
}

/* Into the iovec: only the bytes asked for change. */
static void test_copy_in(void **state)
{
	struct fx *f = *state;
	unsigned char *want = malloc(TOTAL);

	assert_non_null(want);
	memcpy(want, f->area, TOTAL);
	memset(f->buf, 0xa5, TOTAL);
	memset(want + P0 - 10, 0xa5, 20);
	assert_int_equal(sb_iov_copy(f->iov, 3, P0 - 10, f->buf, 20, true), 20);
	assert_memory_equal(f->area, want, TOTAL);
	free(want);
}

/* The iovec ends before @len: the bytes that were there, no more. */
static void test_copy_short(void **state)
{
	struct fx *f = *state;

	assert_int_equal(sb_iov_copy(f->iov, 3, TOTAL - 5, f->buf, 100, false),
			 5);
	assert_int_equal(sb_iov_copy(f->iov, 3, TOTAL, f->buf, 100, false), 0);
	assert_int_equal(sb_iov_copy(f->iov, 0, 0, f->buf, 100, false), 0);
}

/* The total, and UINT64_MAX for an entry without memory or a wrap. */
static void test_total(void **state)
{
	struct fx *f = *state;
	char c;
	struct iovec bad[2] = {{&c, 1}, {NULL, 1}};
	struct iovec wrap[2] = {{&c, SIZE_MAX}, {&c, 2}};
	struct iovec empty[2] = {{NULL, 0}, {&c, 1}};

	assert_true(sb_iov_total(f->iov, 3) == TOTAL);
	assert_true(sb_iov_total(f->iov, 0) == 0);
	assert_true(sb_iov_total(bad, 2) == UINT64_MAX);
	assert_true(sb_iov_total(wrap, 2) == UINT64_MAX);
	/* A zero-length entry may have no memory. */
	assert_true(sb_iov_total(empty, 2) == 1);
}

/*
 * A slice across all three pieces: the entries point into the iovec's
 * memory at the right places, and the count matches what is written.
 */
static void test_slice(void **state)
{
	struct fx *f = *state;
	struct iovec out[3];

	assert_int_equal(sb_iov_slice_count(f->iov, 3, P0 - 3, 10), 3);
	assert_int_equal(sb_iov_slice(f->iov, 3, P0 - 3, 10, out), 3);
	assert_ptr_equal(out[0].iov_base, f->area + P0 - 3);
	assert_int_equal(out[0].iov_len, 3);
	assert_ptr_equal(out[1].iov_base, f->area + P0);
	assert_int_equal(out[1].iov_len, 1);
	assert_ptr_equal(out[2].iov_base, f->area + P0 + P1);
	assert_int_equal(out[2].iov_len, 6);
	/* Inside one piece: one entry. */
	assert_int_equal(sb_iov_slice_count(f->iov, 3, 10, 100), 1);
	assert_int_equal(sb_iov_slice(f->iov, 3, 10, 100, out), 1);
	assert_ptr_equal(out[0].iov_base, f->area + 10);
	assert_int_equal(out[0].iov_len, 100);
}

/* Zero-length entries take no slot; a slice of a slice (CAW) works. */
static void test_slice_empty_and_nested(void **state)
{
	struct fx *f = *state;
	struct iovec v[4] = {
		{f->area, 8}, {NULL, 0}, {f->area + 8, 0}, {f->area + 100, 8}};
	struct iovec out[4];

	assert_int_equal(sb_iov_slice_count(v, 4, 4, 8), 2);
	assert_int_equal(sb_iov_slice(v, 4, 4, 8, out), 2);
	assert_ptr_equal(out[0].iov_base, f->area + 4);
	assert_int_equal(out[0].iov_len, 4);
	assert_ptr_equal(out[1].iov_base, f->area + 100);
	assert_int_equal(out[1].iov_len, 4);
	/* The second half of that slice, written behind it. */
	assert_int_equal(sb_iov_slice(out, 2, 4, 4, out + 2), 1);
	assert_ptr_equal(out[2].iov_base, f->area + 100);
	assert_int_equal(out[2].iov_len, 4);
}

/* The iovec ends first: the slice covers what is there, and no more. */
static void test_slice_short(void **state)
{
	struct fx *f = *state;
	struct iovec out[3];

	assert_int_equal(sb_iov_slice_count(f->iov, 3, TOTAL - 5, 100), 1);
	assert_int_equal(sb_iov_slice(f->iov, 3, TOTAL - 5, 100, out), 1);
	assert_int_equal(out[0].iov_len, 5);
	assert_int_equal(sb_iov_slice_count(f->iov, 3, TOTAL, 100), 0);
	assert_int_equal(sb_iov_slice(f->iov, 3, TOTAL, 100, out), 0);
	assert_int_equal(sb_iov_slice_count(f->iov, 3, 0, 0), 0);
}

/*
 * The timed copy adds exactly the bytes it copied and some time: a 1 MiB
 * write payload out of the iovec and a 4 KiB read answer into it, as the
 * engine's RDMA path does for one request of each.
 */
static void test_copy_timed_accounting(void **state)
{
	struct fx *f = *state;
	uint64_t bytes = 123, ns = 456, ns1;

	assert_int_equal(sb_iov_copy_timed(f->iov, 3, P0 + P1, f->buf, P2,
					   false, &bytes, &ns),
			 P2);
	assert_memory_equal(f->buf, f->area + P0 + P1, P2);
	assert_true(bytes == 123 + P2);
	/* A 1 MiB memcpy takes microseconds; the clock counts nanoseconds. */
	assert_true(ns > 456);
	ns1 = ns;
	assert_int_equal(sb_iov_copy_timed(f->iov, 3, 0, f->buf, 4096, true,
					   &bytes, &ns),
			 4096);
	assert_true(bytes == 123 + P2 + 4096);
	assert_true(ns >= ns1);
	/* A short copy is accounted as what it copied. */
	assert_int_equal(sb_iov_copy_timed(f->iov, 3, TOTAL - 7, f->buf, 4096,
					   false, &bytes, &ns),
			 7);
	assert_true(bytes == 123 + P2 + 4096 + 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_total, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_slice, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_slice_empty_and_nested,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_slice_short, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_copy_out, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_copy_in, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_copy_short, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_copy_timed_accounting,
						fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
