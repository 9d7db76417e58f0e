/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of lib/place.c: LUN ids, rendezvous placement, splitting. */
#include <errno.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lib/place.h"

#define NCHUNKS 100000

static void make_cluster(struct sb_cluster *cl, unsigned int n)
{
	unsigned int i;

	memset(cl, 0, sizeof(*cl));
	cl->nr_nodes = n;
	cl->replicas = 2;
	cl->chunk_size = 1 << 20;
	for (i = 0; i < n; i++) {
		cl->nodes[i].id = i + 1;
		snprintf(cl->nodes[i].host, sizeof(cl->nodes[i].host),
			 "10.0.0.%u", i + 1);
		cl->nodes[i].port = 7400;
	}
}

static void test_lun_id(void **state)
{
	(void)state;
	assert_true(sb_lun_id("vol1") != 0);
	assert_true(sb_lun_id("vol1") == sb_lun_id("vol1"));
	assert_true(sb_lun_id("vol1") != sb_lun_id("vol2"));
	/* SHA-256("abc") starts ba7816bf8f01cfea. */
	assert_true(sb_lun_id("abc") == 0xba7816bf8f01cfeaull);
}

/* Every node within 10% of the mean over 5 nodes and 100,000 chunks, for
 * primaries and for all copies. */
static void test_balance(void **state)
{
	struct sb_cluster cl;
	unsigned int prim[5] = {0}, all[5] = {0}, out[2], i;
	uint64_t c;

	(void)state;
	make_cluster(&cl, 5);
	for (c = 0; c < NCHUNKS; c++) {
		assert_int_equal(sb_place(&cl, 77, c, out, 2), 2);
		assert_int_not_equal(out[0], out[1]);
		prim[out[0]]++;
		all[out[0]]++;
		all[out[1]]++;
	}
	for (i = 0; i < 5; i++) {
		double p = prim[i] / (NCHUNKS / 5.0);
		double a = all[i] / (2.0 * NCHUNKS / 5.0);

		assert_true(p > 0.9 && p < 1.1);
		assert_true(a > 0.9 && a < 1.1);
	}
}

static void test_distinct_and_ordered(void **state)
{
	struct sb_cluster cl;
	unsigned int out[8], i, j;
	uint64_t c;

	(void)state;
	make_cluster(&cl, 8);
	for (c = 0; c < 2000; c++) {
		assert_int_equal(sb_place(&cl, 3, c, out, 8), 8);
		for (i = 0; i < 8; i++)
			for (j = i + 1; j < 8; j++) {
				assert_int_not_equal(out[i], out[j]);
				assert_true(
					sb_place_weight(3, c,
							cl.nodes[out[i]].id) >=
					sb_place_weight(3, c,
							cl.nodes[out[j]].id));
			}
	}
	/* Asking for more copies than nodes gives every node once. */
	make_cluster(&cl, 3);
	assert_int_equal(sb_place(&cl, 3, 1, out, 5), 3);
}

/* Adding a 6th node to 5 moves about 1/6 of the primaries, all of them
 * to the new node, and nothing between old nodes. */
static void test_movement_on_add(void **state)
{
	struct sb_cluster a, b;
	unsigned int oa[2], ob[2], moved = 0, moved_copies = 0;
	uint64_t c;

	(void)state;
	make_cluster(&a, 5);
	make_cluster(&b, 6);
	for (c = 0; c < NCHUNKS; c++) {
		sb_place(&a, 9, c, oa, 2);
		sb_place(&b, 9, c, ob, 2);
		if (oa[0] != ob[0]) {
			moved++;
			assert_int_equal(ob[0], 5); /* only to the new node */
		}
		if (!((ob[0] == oa[0] || ob[0] == oa[1]) &&
		      (ob[1] == oa[0] || ob[1] == oa[1])))
			moved_copies++;
	}
	/* Expected 1/6 = 16.7%; allow 15%..18.5%. */
	assert_true(moved > NCHUNKS * 0.15 && moved < NCHUNKS * 0.185);
	/* A chunk's copy set changes when the new node enters its top 2:
	 * 2/6 of chunks. */
	assert_true(moved_copies > NCHUNKS * 0.30 &&
		    moved_copies < NCHUNKS * 0.37);
}

/* A node out: never placed; only the chunks it held change, and each
 * keeps its other copy and gains one new one. */
static void test_out(void **state)
{
	struct sb_cluster a, b;
	unsigned int oa[2], ob[2], changed = 0, i;
	uint64_t c;

	(void)state;
	make_cluster(&a, 5);
	make_cluster(&b, 5);
	b.nodes[2].out = true;
	for (c = 0; c < NCHUNKS; c++) {
		bool had = false;

		assert_int_equal(sb_place(&a, 9, c, oa, 2), 2);
		assert_int_equal(sb_place(&b, 9, c, ob, 2), 2);
		assert_true(ob[0] != 2 && ob[1] != 2);
		for (i = 0; i < 2; i++)
			had |= oa[i] == 2;
		if (!had) {
			assert_int_equal(ob[0], oa[0]);
			assert_int_equal(ob[1], oa[1]);
			continue;
		}
		changed++;
		/* the copy that stays is still there */
		assert_true(ob[0] == (oa[0] == 2 ? oa[1] : oa[0]) ||
			    ob[1] == (oa[0] == 2 ? oa[1] : oa[0]));
	}
	assert_true(changed > NCHUNKS * 0.37 && changed < NCHUNKS * 0.43);
	/* every node out but one: one copy at most */
	for (i = 0; i < 4; i++)
		b.nodes[i].out = true;
	assert_int_equal(sb_place(&b, 9, 1, ob, 2), 1);
	assert_int_equal(ob[0], 4);
}

/* The mask holds exactly the nodes sb_place gives, out nodes never. */
static void test_mask(void **state)
{
	struct sb_cluster cl;
	unsigned int rep[3];
	uint64_t c;

	(void)state;
	make_cluster(&cl, 6);
	cl.replicas = 3;
	cl.nodes[4].out = true;
	for (c = 0; c < 1000; c++) {
		uint64_t m = sb_place_mask(&cl, 5, c);

		assert_int_equal(sb_place(&cl, 5, c, rep, 3), 3);
		assert_int_equal(m, (1ull << rep[0]) | (1ull << rep[1]) |
					    (1ull << rep[2]));
		assert_false(m & (1ull << 4));
	}
	cl.replicas = 1;
	assert_int_equal(__builtin_popcountll(sb_place_mask(&cl, 5, 0)), 1);
}

static void test_split(void **state)
{
	struct sb_extent e[16];
	int n;

	(void)state;
	/* Within one chunk. */
	n = sb_split(4096, 8192, 65536, 1 << 20, e, 16);
	assert_int_equal(n, 1);
	assert_true(e[0].chunk == 0 && e[0].offset == 4096 &&
		    e[0].length == 8192 && e[0].buf_off == 0);
	/* Across two boundaries. */
	n = sb_split(65536 - 512, 65536 + 1024, 65536, 1 << 20, e, 16);
	assert_int_equal(n, 3);
	assert_true(e[0].chunk == 0 && e[0].length == 512);
	assert_true(e[1].chunk == 1 && e[1].offset == 65536 &&
		    e[1].length == 65536 && e[1].buf_off == 512);
	assert_true(e[2].chunk == 2 && e[2].length == 512 &&
		    e[2].buf_off == 65536 + 512);
	/* max_piece splits inside a chunk. */
	n = sb_split(0, 1 << 20, 1 << 20, 256 << 10, e, 16);
	assert_int_equal(n, 4);
	assert_true(e[3].offset == 768 << 10 && e[3].chunk == 0);
	/* Too little room: the count still comes back. */
	n = sb_split(0, 10 * 65536, 65536, 1 << 20, e, 2);
	assert_int_equal(n, 10);
	/* Errors. */
	assert_int_equal(sb_split(0, 0, 65536, 1 << 20, e, 16), -EINVAL);
	assert_int_equal(sb_split(0, 1, 65535, 1 << 20, e, 16), -EINVAL);
	assert_int_equal(sb_split(0, 1, 65536, 0, e, 16), -EINVAL);
	assert_int_equal(sb_split(UINT64_MAX - 10, 100, 65536, 1 << 20, e, 16),
			 -EOVERFLOW);
	/* The very top of the 64-bit space: the last chunk's end wraps. */
	n = sb_split(UINT64_MAX - 1024, 1024, 65536, 1 << 20, e, 16);
	assert_int_equal(n, 1);
	assert_int_equal(e[0].length, 1024);
	assert_int_equal(sb_split(UINT64_MAX - 1023, 1024, 65536, 1 << 20, e,
				  16),
			 -EOVERFLOW);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lun_id),
		cmocka_unit_test(test_balance),
		cmocka_unit_test(test_distinct_and_ordered),
		cmocka_unit_test(test_movement_on_add),
		cmocka_unit_test(test_out),
		cmocka_unit_test(test_mask),
		cmocka_unit_test(test_split),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
