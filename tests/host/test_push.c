/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Host test of CHUNK_CSUM and CHUNK_PUSH (docs/protocol.md, "Chunk
 * operations") against three real build-san/spanblkd processes on
 * 127.0.0.1 (run from the repository root): data written to node A is
 * pushed to B or C and read back, checksums compared, holes, dead and
 * stopped targets, targets without the LUN, writes racing a push, and the
 * requests the edge refuses. Node A runs with push_timeout_ms = 2000.
 */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/place.h"
#include "tests/common/client.h"
#include "tests/host/testlib.h"
#include "xport/auth.h"
#include "xport/proto.h"

#define SPANBLKD "build-san/spanblkd"
#define RECV_TIMEOUT_S 20
#define A 0
#define B 1
#define C 2
#define A_PUSH_TIMEOUT_MS 2000
#define MIB (1u << 20)

static struct tl_cluster cl;
static struct xp_secret secret;

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- requests ----------------------------------------------------------- */

static void cli_open(struct tc_client *c, unsigned int node)
{
	assert_int_equal(tc_client_open(c, cl.nodes[node].port, &secret,
					cl.nodes[node].id, RECV_TIMEOUT_S),
			 0);
}

/* A request with push epoch @epoch (0: none); its status. */
static uint32_t rpc_ep(struct tc_client *c, uint8_t op, uint64_t lun,
		       uint64_t off, uint32_t len, uint64_t epoch,
		       const void *payload, uint32_t plen, void *buf,
		       size_t cap, struct xp_hdr *ans)
{
	struct xp_hdr h;

	xp_hdr_init(&h, op, 0, lun);
	h.offset = off;
	h.length = len;
	h.epoch = epoch;
	h.payload_len = plen;
	return tc_client_rpc(c, &h, payload, ans, buf, cap);
}

static uint32_t rpc(struct tc_client *c, uint8_t op, uint64_t lun, uint64_t off,
		    uint32_t len, const void *payload, uint32_t plen, void *buf,
		    size_t cap, struct xp_hdr *ans)
{
	return rpc_ep(c, op, lun, off, len, 0, payload, plen, buf, cap, ans);
}

static uint64_t lun_create(struct tc_client *c, const char *name, uint64_t size)
{
	const struct xp_layout lay = {.chunk_size = MIB, .replicas = 2};
	uint8_t pl[XP_LAYOUT_LEN + XP_LUN_NAME_MAX];
	size_t n = strlen(name);

	xp_layout_encode(&lay, pl);
	memcpy(pl + XP_LAYOUT_LEN, name, n);
	assert_int_equal(rpc(c, XP_OP_LUN_CREATE, sb_lun_id(name), size, 0, pl,
			     (uint32_t)(XP_LAYOUT_LEN + n), NULL, 0, NULL),
			 XP_ST_OK);
	return sb_lun_id(name);
}

/* lun_create() on node @node over a session of its own. */
static void lun_create_on(unsigned int node, const char *name, uint64_t size)
{
	struct tc_client c;

	cli_open(&c, node);
	lun_create(&c, name, size);
	tc_client_close(&c);
}

/* WRITE @len bytes (any length: pieces of at most 1 MiB). */
static void write_all(struct tc_client *c, uint64_t lun, uint64_t off,
		      const uint8_t *buf, uint64_t len)
{
	while (len) {
		uint32_t n = len > MIB ? MIB : (uint32_t)len;

		assert_int_equal(rpc(c, XP_OP_WRITE, lun, off, n, buf, n, NULL,
				     0, NULL),
				 XP_ST_OK);
		off += n;
		buf += n;
		len -= n;
	}
}

static void read_all(struct tc_client *c, uint64_t lun, uint64_t off,
		     uint8_t *buf, uint64_t len)
{
	struct xp_hdr a;

	while (len) {
		uint32_t n = len > MIB ? MIB : (uint32_t)len;

		assert_int_equal(rpc(c, XP_OP_READ, lun, off, n, NULL, 0, buf,
				     n, &a),
				 XP_ST_OK);
		assert_int_equal(a.payload_len, n);
		off += n;
		buf += n;
		len -= n;
	}
}

static uint32_t csum(struct tc_client *c, uint64_t lun, uint64_t off,
		     uint32_t len, struct xp_csum *out)
{
	uint8_t pl[XP_CSUM_LEN];
	struct xp_hdr a;
	uint32_t st;

	st = rpc(c, XP_OP_CHUNK_CSUM, lun, off, len, NULL, 0, pl, sizeof(pl),
		 &a);
	if (st == XP_ST_OK) {
		assert_int_equal(a.payload_len, XP_CSUM_LEN);
		assert_int_equal(xp_csum_decode(pl, a.payload_len, len, out),
				 0);
	}
	return st;
}

/* The push target naming node @i of the cluster. */
static struct xp_push_target target_of(unsigned int i)
{
	struct xp_push_target t = {.target_id = cl.nodes[i].id,
				   .port = cl.nodes[i].port};

	t.addr[10] = t.addr[11] = 0xff;
	t.addr[12] = 127;
	t.addr[15] = 1;
	return t;
}

#define PUSH_EPOCH 77 /* of every push but those of test_push_epochs */

static void push_send_ep(struct tc_client *c, uint64_t lun, uint64_t off,
			 uint32_t len, const struct xp_push_target *t,
			 uint64_t epoch)
{
	uint8_t pl[XP_PUSH_LEN];
	struct xp_hdr h;

	xp_push_target_encode(t, pl);
	xp_hdr_init(&h, XP_OP_CHUNK_PUSH, 0, lun);
	h.offset = off;
	h.length = len;
	h.epoch = epoch;
	h.payload_len = XP_PUSH_LEN;
	assert_int_equal(tc_client_send(c, &h, pl, NULL), 0);
}

static void push_send(struct tc_client *c, uint64_t lun, uint64_t off,
		      uint32_t len, const struct xp_push_target *t)
{
	push_send_ep(c, lun, off, len, t, PUSH_EPOCH);
}

/* The answer of a push sent with push_send; its result into @res. */
static uint32_t push_recv(struct tc_client *c, uint32_t len,
			  struct xp_push_result *res)
{
	uint8_t pl[XP_PUSH_RESULT_LEN];
	struct xp_hdr a;

	assert_int_equal(tc_client_recv(c, &a, pl, sizeof(pl)), 0);
	assert_int_equal(a.opcode, XP_OP_CHUNK_PUSH);
	if (a.status == XP_ST_OK) {
		assert_int_equal(a.payload_len, XP_PUSH_RESULT_LEN);
		assert_int_equal(
			xp_push_result_decode(pl, a.payload_len, len, res), 0);
	} else {
		assert_int_equal(a.payload_len, 0);
	}
	return a.status;
}

static uint32_t push(struct tc_client *c, uint64_t lun, uint64_t off,
		     uint32_t len, const struct xp_push_target *t,
		     struct xp_push_result *res)
{
	struct xp_push_result r;

	push_send(c, lun, off, len, t);
	return push_recv(c, len, res ? res : &r);
}

static uint32_t push_ep(struct tc_client *c, uint64_t lun, uint64_t off,
			uint32_t len, const struct xp_push_target *t,
			uint64_t epoch)
{
	struct xp_push_result r;

	push_send_ep(c, lun, off, len, t, epoch);
	return push_recv(c, len, &r);
}

static void ping(struct tc_client *c)
{
	assert_int_equal(rpc(c, XP_OP_PING, 0, 0, 0, "x", 1, (uint8_t[1]){0}, 1,
			     NULL),
			 XP_ST_OK);
}

/* ---- fixtures ----------------------------------------------------------- */

static int group_setup(void **state)
{
	char line[64];

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	if (tl_cluster_start_secret(&cl, 3, 2, MIB, 5000, SPANBLKD, &secret))
		return -1;
	/* A with a short push timeout. */
	snprintf(line, sizeof(line), "push_timeout_ms = %u\n",
		 A_PUSH_TIMEOUT_MS);
	return tl_node_add_config(&cl, A, line) ? -1 : 0;
}

static int group_teardown(void **state)
{
	(void)state;
	tl_cluster_destroy(&cl);
	return 0;
}

/* ---- tests -------------------------------------------------------------- */

static void test_push_roundtrip(void **state)
{
	/* Unaligned at both ends: direct and buffered reads on A. */
	const uint64_t off = MIB + 3 * 4096 + 512;
	const uint32_t len = 5 * MIB + 12345;
	struct tc_client ca, cb;
	struct xp_push_target tb = target_of(B);
	struct xp_push_result res;
	struct xp_csum sa, sb;
	uint8_t *data = malloc(len), *back = malloc(len);
	uint64_t lun;
	long long t0;

	(void)state;
	assert_non_null(data);
	assert_non_null(back);
	cli_open(&ca, A);
	cli_open(&cb, B);
	lun = lun_create(&ca, "push-rt", 16 * MIB);
	assert_int_equal(lun_create(&cb, "push-rt", 16 * MIB), lun);
	tl_fill_random(data, len);
	write_all(&ca, lun, off, data, len);

	/* Before: A's CRC is the data's, B's is different. */
	assert_int_equal(csum(&ca, lun, off, len, &sa), XP_ST_OK);
	assert_int_equal(sa.crc, xp_crc32c(data, len));
	assert_int_equal(csum(&cb, lun, off, len, &sb), XP_ST_OK);
	assert_int_not_equal(sa.crc, sb.crc);
	assert_int_equal(sb.data_bytes, 0);

	t0 = now_ms();
	assert_int_equal(push(&ca, lun, off, len, &tb, &res), XP_ST_OK);
	print_message("push of %u bytes A->B: %lld ms\n", len, now_ms() - t0);
	assert_int_equal(res.bytes_data + res.bytes_zero, len);
	assert_true(res.bytes_data > 0);

	read_all(&cb, lun, off, back, len);
	assert_memory_equal(back, data, len);
	assert_int_equal(csum(&cb, lun, off, len, &sb), XP_ST_OK);
	assert_int_equal(sb.crc, sa.crc);
	/* The bytes before the range did not move. */
	assert_int_equal(csum(&cb, lun, 0, MIB, &sb), XP_ST_OK);
	assert_int_equal(sb.data_bytes, 0);
	assert_int_equal(csum(&cb, lun, off + len, 4 * MIB, &sb), XP_ST_OK);
	assert_true(sb.data_bytes < 4096);

	/* A second push reuses the session and changes nothing. */
	assert_int_equal(push(&ca, lun, off, len, &tb, &res), XP_ST_OK);
	assert_int_equal(csum(&cb, lun, off, len, &sb), XP_ST_OK);
	assert_int_equal(sb.crc, sa.crc);

	tc_client_close(&ca);
	tc_client_close(&cb);
	free(data);
	free(back);
}

static void test_push_holes(void **state)
{
	const uint32_t len = 8 * MIB;
	struct tc_client ca, cc;
	struct xp_push_target tc = target_of(C);
	struct xp_push_result res;
	struct xp_csum sa, sc;
	uint8_t *data = malloc(len), *back = malloc(len), *zero;
	uint64_t lun;

	(void)state;
	assert_non_null(data);
	assert_non_null(back);
	zero = calloc(1, len);
	assert_non_null(zero);
	cli_open(&ca, A);
	cli_open(&cc, C);
	lun = lun_create(&ca, "push-holes", 32 * MIB);
	lun_create(&cc, "push-holes", 32 * MIB);

	/* A: data in the 2nd and 5th MiB only; C: data everywhere. */
	tl_fill_random(data, len);
	write_all(&cc, lun, 0, data, len);
	write_all(&ca, lun, 1 * MIB, data + MIB, MIB);
	write_all(&ca, lun, 4 * MIB, data + 4 * MIB, MIB);

	/* A CRC of holes is the CRC of zeros; data_bytes counts data. */
	assert_int_equal(csum(&ca, lun, 2 * MIB, 2 * MIB, &sa), XP_ST_OK);
	assert_int_equal(sa.crc, xp_crc32c(zero, 2 * MIB));
	assert_int_equal(sa.data_bytes, 0);
	assert_int_equal(csum(&ca, lun, 0, len, &sa), XP_ST_OK);
	assert_int_equal(sa.data_bytes, 2 * MIB);
	assert_int_equal(csum(&cc, lun, 0, len, &sc), XP_ST_OK);
	assert_int_not_equal(sa.crc, sc.crc);

	assert_int_equal(push(&ca, lun, 0, len, &tc, &res), XP_ST_OK);
	/* Holes travel as WRITE_ZEROES, data as WRITE. */
	assert_int_equal(res.bytes_data, 2 * MIB);
	assert_int_equal(res.bytes_zero, 6 * MIB);

	read_all(&cc, lun, 0, back, len);
	assert_memory_equal(back, zero, MIB);
	assert_memory_equal(back + MIB, data + MIB, MIB);
	assert_memory_equal(back + 2 * MIB, zero, 2 * MIB);
	assert_memory_equal(back + 4 * MIB, data + 4 * MIB, MIB);
	assert_memory_equal(back + 5 * MIB, zero, 3 * MIB);
	assert_int_equal(csum(&cc, lun, 0, len, &sc), XP_ST_OK);
	assert_int_equal(sc.crc, sa.crc);
	/* The holes were punched on C, not written as zeros. */
	assert_true(sc.data_bytes <= 2 * MIB);

	tc_client_close(&ca);
	tc_client_close(&cc);
	free(data);
	free(back);
	free(zero);
}

/*
 * Push epochs (docs/protocol.md, "Push epochs"): once a push with epoch E
 * wrote a range on B, a piece of an older push (a copy its requester gave
 * up on, its source hung with the piece read and resumed later) is
 * refused with ESTALE and leaves B as it is, whether it comes straight to
 * B or through a push from A. Plain writes (epoch 0) are not concerned.
 */
static void test_push_epochs(void **state)
{
	const uint32_t len = 2 * MIB;
	struct tc_client ca, cb;
	struct xp_push_target tb = target_of(B);
	struct xp_csum sa, sb;
	uint8_t *data = malloc(len), *old = malloc(MIB);
	uint64_t lun;

	(void)state;
	assert_non_null(data);
	assert_non_null(old);
	cli_open(&ca, A);
	cli_open(&cb, B);
	lun = lun_create(&ca, "push-ep", 8 * MIB);
	assert_int_equal(lun_create(&cb, "push-ep", 8 * MIB), lun);
	tl_fill_random(data, len);
	tl_fill_random(old, MIB);
	write_all(&ca, lun, 0, data, len);
	assert_int_equal(push_ep(&ca, lun, 0, len, &tb, 1000), XP_ST_OK);
	assert_int_equal(csum(&ca, lun, 0, len, &sa), XP_ST_OK);
	assert_int_equal(csum(&cb, lun, 0, len, &sb), XP_ST_OK);
	assert_int_equal(sb.crc, sa.crc);

	/* late pieces of an older copy, both pieces of the range */
	assert_int_equal(rpc_ep(&cb, XP_OP_WRITE, lun, 0, MIB, 999, old, MIB,
				NULL, 0, NULL),
			 XP_ST_ESTALE);
	assert_int_equal(rpc_ep(&cb, XP_OP_WRITE, lun, MIB, MIB, 999, old, MIB,
				NULL, 0, NULL),
			 XP_ST_ESTALE);
	assert_int_equal(rpc_ep(&cb, XP_OP_WRITE_ZEROES, lun, 0, MIB, 1, NULL,
				0, NULL, 0, NULL),
			 XP_ST_ESTALE);
	/* an older push through the source: the target's ESTALE comes back */
	write_all(&ca, lun, 0, old, MIB);
	assert_int_equal(push_ep(&ca, lun, 0, len, &tb, 999), XP_ST_ESTALE);
	assert_int_equal(csum(&cb, lun, 0, len, &sb), XP_ST_OK);
	assert_int_equal(sb.crc, sa.crc); /* B is as the first push left it */

	/* a newer (or the same) epoch copies */
	assert_int_equal(push_ep(&ca, lun, 0, len, &tb, 1001), XP_ST_OK);
	assert_int_equal(csum(&ca, lun, 0, len, &sa), XP_ST_OK);
	assert_int_equal(csum(&cb, lun, 0, len, &sb), XP_ST_OK);
	assert_int_equal(sb.crc, sa.crc);
	assert_int_equal(rpc_ep(&cb, XP_OP_WRITE, lun, 0, MIB, 1000, old, MIB,
				NULL, 0, NULL),
			 XP_ST_ESTALE);
	/* a plain write is not a push; a range no push wrote takes any */
	write_all(&cb, lun, 0, data, MIB);
	assert_int_equal(rpc_ep(&cb, XP_OP_WRITE, lun, 4 * MIB, MIB, 5, old,
				MIB, NULL, 0, NULL),
			 XP_ST_OK);

	/* a fence writes nothing and refuses older pieces anywhere in its
	 * chunk; an older fence is refused; epoch 0 is no fence */
	assert_int_equal(csum(&cb, lun, 4 * MIB, MIB, &sa), XP_ST_OK);
	assert_int_equal(rpc_ep(&cb, XP_OP_PUSH_FENCE, lun, 4 * MIB, MIB, 2000,
				NULL, 0, NULL, 0, NULL),
			 XP_ST_OK);
	assert_int_equal(rpc_ep(&cb, XP_OP_WRITE, lun, 4 * MIB + 8192, 4096,
				1999, old, 4096, NULL, 0, NULL),
			 XP_ST_ESTALE);
	assert_int_equal(rpc_ep(&cb, XP_OP_PUSH_FENCE, lun, 4 * MIB, MIB, 1999,
				NULL, 0, NULL, 0, NULL),
			 XP_ST_ESTALE);
	assert_int_equal(rpc_ep(&cb, XP_OP_PUSH_FENCE, lun, 4 * MIB, MIB, 0,
				NULL, 0, NULL, 0, NULL),
			 XP_ST_EINVAL);
	assert_int_equal(csum(&cb, lun, 4 * MIB, MIB, &sb), XP_ST_OK);
	assert_int_equal(sb.crc, sa.crc);
	/* a piece over two chunks needs both: chunk 5 is fenced at 2000 */
	assert_int_equal(rpc_ep(&cb, XP_OP_PUSH_FENCE, lun, 5 * MIB, MIB, 2000,
				NULL, 0, NULL, 0, NULL),
			 XP_ST_OK);
	assert_int_equal(rpc_ep(&cb, XP_OP_WRITE, lun, 4 * MIB - 4096, 8192,
				1000, old, 8192, NULL, 0, NULL),
			 XP_ST_ESTALE);
	assert_int_equal(rpc_ep(&cb, XP_OP_WRITE, lun, 5 * MIB - 4096, 8192,
				2000, old, 8192, NULL, 0, NULL),
			 XP_ST_OK);

	tc_client_close(&ca);
	tc_client_close(&cb);
	free(data);
	free(old);
}

static void test_push_dead_target(void **state)
{
	struct xp_push_target tc = target_of(C), nowhere = target_of(C);
	struct tc_client ca;
	uint8_t buf[4096];
	uint64_t lun;
	long long t0;

	(void)state;
	cli_open(&ca, A);
	lun = lun_create(&ca, "push-dead", 8 * MIB);
	tl_fill_random(buf, sizeof(buf));
	write_all(&ca, lun, 0, buf, sizeof(buf));

	/* Nothing listens on that port: refused at once. */
	nowhere.port = tl_free_port();
	t0 = now_ms();
	assert_int_equal(push(&ca, lun, 0, MIB, &nowhere, NULL),
			 XP_ST_EHOSTUNREACH);
	assert_true(now_ms() - t0 < 1000);

	/* The target dies (its session, if cached, goes with it). */
	assert_true(tl_node_stop(&cl, C, SIGKILL) >= 0);
	t0 = now_ms();
	assert_int_equal(push(&ca, lun, 0, MIB, &tc, NULL), XP_ST_EHOSTUNREACH);
	assert_true(now_ms() - t0 < 1000);
	ping(&ca);

	/* Back, with the LUN: the next push opens a new session. */
	assert_int_equal(tl_node_start(&cl, C), 0);
	lun_create_on(C, "push-dead", 8 * MIB);
	assert_int_equal(push(&ca, lun, 0, MIB, &tc, NULL), XP_ST_OK);
	tc_client_close(&ca);
}

static void test_push_target_errors(void **state)
{
	struct xp_push_target tb = target_of(B), liar = target_of(B);
	struct tc_client ca, cb;
	uint64_t lun, small;

	(void)state;
	cli_open(&ca, A);
	cli_open(&cb, B);
	lun = lun_create(&ca, "push-only-on-a", 8 * MIB);
	/* The target has no such LUN: its ENOENT comes back. */
	assert_int_equal(push(&ca, lun, 0, 2 * MIB, &tb, NULL), XP_ST_ENOENT);
	/* Its LUN is smaller: its ERANGE comes back. */
	small = lun_create(&ca, "push-small", 8 * MIB);
	{
		const struct xp_layout lay = {.chunk_size = MIB, .replicas = 2};
		uint8_t pl[XP_LAYOUT_LEN + 10];

		xp_layout_encode(&lay, pl);
		memcpy(pl + XP_LAYOUT_LEN, "push-small", 10);
		assert_int_equal(rpc(&cb, XP_OP_LUN_CREATE, small, 4 * MIB, 0,
				     pl, sizeof(pl), NULL, 0, NULL),
				 XP_ST_OK);
	}
	assert_int_equal(push(&ca, small, 3 * MIB, 2 * MIB, &tb, NULL),
			 XP_ST_ERANGE);
	/* The address is B's, the id C's: B answers as itself. */
	liar.target_id = cl.nodes[C].id;
	assert_int_equal(push(&ca, small, 0, MIB, &liar, NULL),
			 XP_ST_EHOSTUNREACH);
	/* The session to B still serves. */
	assert_int_equal(push(&ca, small, 0, MIB, &tb, NULL), XP_ST_OK);
	tc_client_close(&ca);
	tc_client_close(&cb);
}

/* A CHUNK_PUSH with payload @pl of @plen bytes: its status. */
static uint32_t push_raw(struct tc_client *c, uint64_t lun, uint64_t off,
			 uint32_t len, const uint8_t *pl, uint32_t plen)
{
	return rpc(c, XP_OP_CHUNK_PUSH, lun, off, len, pl, plen, NULL, 0, NULL);
}

static void test_bad_requests(void **state)
{
	struct xp_push_target tb = target_of(B), t;
	uint8_t pl[XP_PUSH_LEN + 1];
	struct tc_client ca;
	struct xp_csum cs;
	uint64_t lun;

	(void)state;
	cli_open(&ca, A);
	lun = lun_create(&ca, "push-bad", 8 * MIB);
	xp_push_target_encode(&tb, pl);

	/* Edge: lengths, overflow, payload. */
	assert_int_equal(push_raw(&ca, lun, 0, 0, pl, XP_PUSH_LEN),
			 XP_ST_EINVAL);
	assert_int_equal(push_raw(&ca, lun, 0, XP_MAX_CHUNK_OP + 1, pl,
				  XP_PUSH_LEN),
			 XP_ST_EINVAL);
	assert_int_equal(push_raw(&ca, lun, UINT64_MAX - 10, 4096, pl,
				  XP_PUSH_LEN),
			 XP_ST_EINVAL);
	assert_int_equal(push_raw(&ca, lun, 0, 4096, pl, XP_PUSH_LEN - 1),
			 XP_ST_EINVAL);
	assert_int_equal(push_raw(&ca, lun, 0, 4096, pl, XP_PUSH_LEN + 1),
			 XP_ST_EINVAL);
	assert_int_equal(push_raw(&ca, lun, 0, 4096, NULL, 0), XP_ST_EINVAL);
	assert_int_equal(push_raw(&ca, 0, 0, 4096, pl, XP_PUSH_LEN),
			 XP_ST_EINVAL);
	/* Bad push targets. */
	t = tb;
	t.port = 0;
	xp_push_target_encode(&t, pl);
	assert_int_equal(push_raw(&ca, lun, 0, 4096, pl, XP_PUSH_LEN),
			 XP_ST_EINVAL);
	t = tb;
	t.target_id = 0;
	xp_push_target_encode(&t, pl);
	assert_int_equal(push_raw(&ca, lun, 0, 4096, pl, XP_PUSH_LEN),
			 XP_ST_EINVAL);
	t = tb;
	memset(t.addr, 0, sizeof(t.addr));
	xp_push_target_encode(&t, pl);
	assert_int_equal(push_raw(&ca, lun, 0, 4096, pl, XP_PUSH_LEN),
			 XP_ST_EINVAL);
	t = tb;
	t.addr[12] = 224; /* ::ffff:224.0.0.1, multicast */
	xp_push_target_encode(&t, pl);
	assert_int_equal(push_raw(&ca, lun, 0, 4096, pl, XP_PUSH_LEN),
			 XP_ST_EINVAL);
	xp_push_target_encode(&tb, pl);
	pl[XP_PUSH_LEN - 1] = 1; /* reserved */
	assert_int_equal(push_raw(&ca, lun, 0, 4096, pl, XP_PUSH_LEN),
			 XP_ST_EINVAL);
	/* To itself. */
	t = target_of(A);
	xp_push_target_encode(&t, pl);
	assert_int_equal(push_raw(&ca, lun, 0, 4096, pl, XP_PUSH_LEN),
			 XP_ST_EINVAL);
	/* The source's LUN and range. */
	xp_push_target_encode(&tb, pl);
	assert_int_equal(push_raw(&ca, lun, 8 * MIB - 4096, 8192, pl,
				  XP_PUSH_LEN),
			 XP_ST_ERANGE);
	assert_int_equal(push_raw(&ca, sb_lun_id("push-nope"), 0, 4096, pl,
				  XP_PUSH_LEN),
			 XP_ST_ENOENT);

	/* CHUNK_CSUM. */
	assert_int_equal(csum(&ca, lun, 0, 0, &cs), XP_ST_EINVAL);
	assert_int_equal(csum(&ca, lun, 0, XP_MAX_CHUNK_OP + 1, &cs),
			 XP_ST_EINVAL);
	assert_int_equal(csum(&ca, lun, UINT64_MAX - 10, 4096, &cs),
			 XP_ST_EINVAL);
	assert_int_equal(rpc(&ca, XP_OP_CHUNK_CSUM, lun, 0, 4096, "x", 1, NULL,
			     0, NULL),
			 XP_ST_EINVAL);
	assert_int_equal(csum(&ca, lun, 8 * MIB - 4096, 4097, &cs),
			 XP_ST_ERANGE);
	assert_int_equal(csum(&ca, lun, 9 * MIB, 1, &cs), XP_ST_ERANGE);
	assert_int_equal(csum(&ca, sb_lun_id("push-nope"), 0, 1, &cs),
			 XP_ST_ENOENT);
	/* The whole LUN in one request is fine. */
	assert_int_equal(csum(&ca, lun, 0, 8 * MIB, &cs), XP_ST_OK);

	/* The session survived all of it. */
	ping(&ca);
	tc_client_close(&ca);
}

/* Write unit @u (64 KiB) of generation @gen: a recognisable pattern. */
#define UNIT (64u << 10)
static void unit_fill(uint8_t *p, unsigned int u, unsigned int gen)
{
	unsigned int i;

	for (i = 0; i < UNIT; i++)
		p[i] = (uint8_t)(u * 7 + gen * 101 + i / 512);
}

/* Send the WRITE of unit @u, generation @gen; its answer comes later. */
static void write_unit_send(struct tc_client *c, uint64_t lun, unsigned int u,
			    unsigned int gen)
{
	static uint8_t unit[UNIT];
	struct xp_hdr h;

	unit_fill(unit, u, gen);
	xp_hdr_init(&h, XP_OP_WRITE, 0, lun);
	h.offset = (uint64_t)u * UNIT;
	h.length = UNIT;
	h.payload_len = UNIT;
	assert_int_equal(tc_client_send(c, &h, unit, NULL), 0);
}

static void write_unit_recv(struct tc_client *c)
{
	struct xp_hdr a;

	assert_int_equal(tc_client_recv(c, &a, NULL, 0), 0);
	assert_int_equal(a.opcode, XP_OP_WRITE);
	assert_int_equal(a.status, XP_ST_OK);
}

static void test_push_snapshot_against_writes(void **state)
{
	/* 32 MiB: far more than the pieces one push reads at once. */
	const unsigned int nunits = 512;
	const uint32_t len = nunits * UNIT;
	struct xp_push_target tb = target_of(B);
	struct tc_client cpush, cwrite, cb;
	struct xp_push_result res;
	uint8_t *unit = malloc(UNIT), *back = malloc(len), *want = malloc(UNIT);
	unsigned int u, round;
	uint64_t lun;

	(void)state;
	assert_non_null(unit);
	assert_non_null(back);
	assert_non_null(want);
	cli_open(&cpush, A);
	cli_open(&cwrite, A);
	cli_open(&cb, B);
	lun = lun_create(&cpush, "push-race", 64 * MIB);
	lun_create(&cb, "push-race", 64 * MIB);
	for (u = 0; u < nunits; u++) {
		unit_fill(unit, u, 0);
		write_all(&cwrite, lun, (uint64_t)u * UNIT, unit, UNIT);
	}

	/*
	 * Once a PING sent after the PUSH is answered, the push holds its
	 * range: writes sent then wait, so B gets generation 0 throughout.
	 */
	push_send(&cpush, lun, 0, len, &tb);
	ping(&cpush);
	for (u = 1; u < nunits; u += 7)
		write_unit_send(&cwrite, lun, u, 1);
	for (u = 1; u < nunits; u += 7)
		write_unit_recv(&cwrite);
	assert_int_equal(push_recv(&cpush, len, &res), XP_ST_OK);
	read_all(&cb, lun, 0, back, len);
	for (u = 0; u < nunits; u++) {
		unit_fill(want, u, 0);
		assert_memory_equal(back + (size_t)u * UNIT, want, UNIT);
	}

	/*
	 * Racing: pushes and writes sent together. Each unit on B ends as
	 * one generation or another, never torn, and a last push with
	 * nothing racing makes B equal to A.
	 */
	for (round = 2; round < 6; round++) {
		push_send(&cpush, lun, 0, len, &tb);
		for (u = round % 4; u < nunits; u += 4)
			write_unit_send(&cwrite, lun, u, round);
		for (u = round % 4; u < nunits; u += 4)
			write_unit_recv(&cwrite);
		assert_int_equal(push_recv(&cpush, len, &res), XP_ST_OK);
		read_all(&cb, lun, 0, back, len);
		for (u = 0; u < nunits; u++) {
			unsigned int g;
			bool ok = false;

			for (g = 0; g <= round && !ok; g++) {
				unit_fill(want, u, g);
				ok = !memcmp(back + (size_t)u * UNIT, want,
					     UNIT);
			}
			assert_true(ok);
		}
	}
	{
		struct xp_csum sa, sb;

		assert_int_equal(push(&cpush, lun, 0, len, &tb, &res),
				 XP_ST_OK);
		assert_int_equal(csum(&cwrite, lun, 0, len, &sa), XP_ST_OK);
		assert_int_equal(csum(&cb, lun, 0, len, &sb), XP_ST_OK);
		assert_int_equal(sa.crc, sb.crc);
	}
	tc_client_close(&cpush);
	tc_client_close(&cwrite);
	tc_client_close(&cb);
	free(unit);
	free(back);
	free(want);
}

static void test_push_parallel_targets(void **state)
{
	const uint32_t len = 3 * MIB;
	struct xp_push_target tb = target_of(B), tc = target_of(C);
	struct tc_client ca, cb, cc;
	struct xp_push_result res;
	struct xp_csum sa, sb, sc;
	uint8_t *data = malloc(len);
	uint64_t lun;
	int i;

	(void)state;
	assert_non_null(data);
	cli_open(&ca, A);
	cli_open(&cb, B);
	cli_open(&cc, C);
	lun = lun_create(&ca, "push-par", 8 * MIB);
	lun_create(&cb, "push-par", 8 * MIB);
	lun_create(&cc, "push-par", 8 * MIB);
	tl_fill_random(data, len);
	write_all(&ca, lun, 0, data, len);
	/* Eight pushes pipelined on one session: more than the 4 slots. */
	for (i = 0; i < 8; i++)
		push_send(&ca, lun, 0, len, i % 2 ? &tb : &tc);
	for (i = 0; i < 8; i++)
		assert_int_equal(push_recv(&ca, len, &res), XP_ST_OK);
	/* And B on to C, C on to B, at the same time. */
	push_send(&cb, lun, 0, len, &tc);
	push_send(&cc, lun, 4 * MIB, MIB, &tb);
	assert_int_equal(push_recv(&cb, len, &res), XP_ST_OK);
	assert_int_equal(push_recv(&cc, MIB, &res), XP_ST_OK);
	assert_int_equal(csum(&ca, lun, 0, len, &sa), XP_ST_OK);
	assert_int_equal(csum(&cb, lun, 0, len, &sb), XP_ST_OK);
	assert_int_equal(csum(&cc, lun, 0, len, &sc), XP_ST_OK);
	assert_int_equal(sa.crc, xp_crc32c(data, len));
	assert_int_equal(sb.crc, sa.crc);
	assert_int_equal(sc.crc, sa.crc);
	tc_client_close(&ca);
	tc_client_close(&cb);
	tc_client_close(&cc);
	free(data);
}

/*
 * Open @c on node @node and create LUN @name (8 MiB) there and on B; warm
 * the session to B with a push, then freeze B: it accepts but never
 * answers. The LUN's id.
 */
static uint64_t warm_then_freeze_b(struct tc_client *c, unsigned int node,
				   const char *name)
{
	struct xp_push_target tb = target_of(B);
	uint64_t lun;

	cli_open(c, node);
	lun = lun_create(c, name, 8 * MIB);
	lun_create_on(B, name, 8 * MIB);
	assert_int_equal(push(c, lun, 0, MIB, &tb, NULL), XP_ST_OK);
	assert_int_equal(kill(cl.nodes[B].pid, SIGSTOP), 0);
	return lun;
}

static void test_push_timeout(void **state)
{
	struct xp_push_target tb = target_of(B);
	struct xp_push_result res;
	struct tc_client ca;
	long long t0, dt;
	uint64_t lun;
	int i;

	(void)state;
	lun = warm_then_freeze_b(&ca, A, "push-stopped");
	t0 = now_ms();
	/* Six at once: four run, two wait for a slot; all time out. */
	for (i = 0; i < 6; i++)
		push_send(&ca, lun, 0, 2 * MIB, &tb);
	for (i = 0; i < 6; i++)
		assert_int_equal(push_recv(&ca, 2 * MIB, &res),
				 XP_ST_ETIMEDOUT);
	dt = now_ms() - t0;
	print_message("6 pushes to a stopped node answered ETIMEDOUT after "
		      "%lld ms\n",
		      dt);
	assert_true(dt >= A_PUSH_TIMEOUT_MS - 100);
	assert_true(dt < A_PUSH_TIMEOUT_MS + 3000);
	ping(&ca);
	assert_int_equal(kill(cl.nodes[B].pid, SIGCONT), 0);
	/* B is back: a new session carries the next push. */
	assert_int_equal(push(&ca, lun, 0, 2 * MIB, &tb, &res), XP_ST_OK);
	assert_int_equal(res.bytes_data + res.bytes_zero, 2 * MIB);
	tc_client_close(&ca);
}

/* A node that never answers HELLO: the handshake gives up after 5 s. */
static void test_push_handshake_timeout(void **state)
{
	struct xp_push_target tb = target_of(B);
	struct tc_client cc;
	long long t0, dt;
	uint64_t lun;

	(void)state;
	cli_open(&cc, C);
	lun = lun_create(&cc, "push-hs", 8 * MIB);
	assert_int_equal(kill(cl.nodes[B].pid, SIGSTOP), 0);
	t0 = now_ms();
	/* C's push timeout is 30 s: the 5 s handshake limit answers. */
	assert_int_equal(push(&cc, lun, 0, MIB, &tb, NULL), XP_ST_EHOSTUNREACH);
	dt = now_ms() - t0;
	assert_int_equal(kill(cl.nodes[B].pid, SIGCONT), 0);
	print_message("push to a node that never answers HELLO: %lld ms\n", dt);
	assert_true(dt >= 4800 && dt < 8000);
	tc_client_close(&cc);
}

/* A node stopped with a push in flight exits cleanly (ASan: no leak). */
static void test_stop_with_push_in_flight(void **state)
{
	struct xp_push_target tb = target_of(B);
	struct tc_client cc;
	uint64_t lun;
	long long t0;
	int status;

	(void)state;
	lun = warm_then_freeze_b(&cc, C, "push-stop");
	push_send(&cc, lun, 0, MIB, &tb);
	ping(&cc);
	t0 = now_ms();
	status = tl_node_stop(&cl, C, SIGTERM);
	assert_int_equal(kill(cl.nodes[B].pid, SIGCONT), 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* The stop's grace is 5 s; the push does not hold it longer. */
	assert_true(now_ms() - t0 < 9000);
	tc_client_close(&cc);
	assert_int_equal(tl_node_start(&cl, C), 0);
}

/* Every node exits 0 on SIGTERM: no sanitizer report, nothing leaked. */
static void test_nodes_exit_clean(void **state)
{
	unsigned int i;

	(void)state;
	for (i = 0; i < cl.n; i++) {
		int status = tl_node_stop(&cl, i, SIGTERM);

		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_push_roundtrip),
		cmocka_unit_test(test_push_holes),
		cmocka_unit_test(test_push_epochs),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_push_target_errors),
		cmocka_unit_test(test_push_snapshot_against_writes),
		cmocka_unit_test(test_push_parallel_targets),
		cmocka_unit_test(test_push_dead_target),
		cmocka_unit_test(test_push_timeout),
		cmocka_unit_test(test_push_handshake_timeout),
		cmocka_unit_test(test_stop_with_push_in_flight),
		cmocka_unit_test(test_nodes_exit_clean),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
