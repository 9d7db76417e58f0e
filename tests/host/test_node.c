/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Host test of spanblkd: starts the real build-san/spanblkd on 127.0.0.1
 * (run from the repository root) and speaks the wire protocol to it over
 * plain blocking sockets, frame by frame, so every answer (or the absence
 * of one) is seen exactly as a gateway would see it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/place.h"
#include "tests/host/testlib.h"
#include "xport/auth.h"
#include "xport/proto.h"
#include "tests/common/sockio.h"

#define SPANBLKD "build-san/spanblkd"
#define LUN_SIZE (64ull << 20)
#define RECV_TIMEOUT_S 10

static struct tl_cluster cl;
static struct xp_secret secret;
/* features of the next HELLO sent, and of the node's last HELLO answer */
static uint32_t hello_features;
static uint32_t node_features;

/* ---- a minimal blocking client ----------------------------------------- */

struct cli {
	int fd;
	uint64_t next_id;
};

static int cli_connect(uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct timeval tv = {.tv_sec = RECV_TIMEOUT_S};
	int one = 1;
	int fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Send one frame; a payload gets its CRC unless @bad_crc. */
static int send_frame(int fd, struct xp_hdr *h, const void *payload,
		      bool bad_crc)
{
	uint8_t hb[XP_HDR_LEN];
	int ret;

	if (h->payload_len) {
		h->flags |= XP_F_DCRC;
		h->data_crc = xp_crc32c(payload, h->payload_len);
		if (bad_crc)
			h->data_crc ^= 0x1;
	}
	xp_hdr_encode(h, hb);
	ret = tc_write_all(fd, hb, sizeof(hb));
	if (!ret && h->payload_len)
		ret = tc_write_all(fd, payload, h->payload_len);
	return ret;
}

/* Receive one frame; its payload (up to @cap bytes) into @buf. */
static int recv_frame(int fd, struct xp_hdr *h, void *buf, size_t cap)
{
	uint8_t hb[XP_HDR_LEN];
	int ret;

	ret = tc_read_all(fd, hb, sizeof(hb));
	if (ret)
		return ret;
	assert_int_equal(xp_hdr_decode(hb, sizeof(hb), h), 0);
	assert_int_equal(xp_hdr_check(h), 0);
	assert_true(h->flags & XP_F_RESP);
	assert_true(h->payload_len <= cap);
	if (h->payload_len) {
		ret = tc_read_all(fd, buf, h->payload_len);
		if (ret)
			return ret;
		assert_true(h->flags & XP_F_DCRC);
		assert_int_equal(xp_crc32c(buf, h->payload_len), h->data_crc);
	}
	return 0;
}

/* The node closed the connection without sending a single byte. */
static void assert_closed_silently(int fd)
{
	uint8_t b;
	ssize_t n = recv(fd, &b, 1, 0);

	if (n < 0)
		assert_int_equal(errno, ECONNRESET);
	else
		assert_int_equal(n, 0);
}

static void do_hello(struct cli *c, uint8_t nc[XP_NONCE_LEN],
		     uint8_t ns[XP_NONCE_LEN])
{
	uint8_t pl[XP_HELLO_LEN], ans[XP_HELLO_ANSWER_LEN];
	uint8_t want[XP_PROOF_LEN];
	struct xp_hello hl = {.min_ver = 1, .max_ver = 1}, got;
	struct xp_hdr h;

	assert_int_equal(xp_auth_nonce(nc), 0);
	memcpy(hl.nonce, nc, XP_NONCE_LEN);
	hl.sender_id = 0x1234;
	hl.features = hello_features;
	xp_hello_encode(&hl, pl);
	xp_hdr_init(&h, XP_OP_HELLO, c->next_id++, 0);
	h.payload_len = XP_HELLO_LEN;
	assert_int_equal(send_frame(c->fd, &h, pl, false), 0);
	assert_int_equal(recv_frame(c->fd, &h, ans, sizeof(ans)), 0);
	assert_int_equal(h.status, XP_ST_OK);
	assert_int_equal(h.payload_len, XP_HELLO_ANSWER_LEN);
	assert_int_equal(xp_hello_decode(ans, XP_HELLO_LEN, &got), 0);
	assert_int_equal(got.max_ver, 1);
	assert_int_equal(got.sender_id, cl.nodes[0].id);
	node_features = got.features;
	memcpy(ns, got.nonce, XP_NONCE_LEN);
	/* The node proves it holds the secret. */
	assert_int_equal(xp_auth_proof(&secret, true, nc, ns, want), 0);
	assert_true(xp_auth_equal(want, ans + XP_HELLO_LEN));
}

static void cli_open(struct cli *c)
{
	uint8_t nc[XP_NONCE_LEN], ns[XP_NONCE_LEN], proof[XP_PROOF_LEN];
	struct xp_hdr h;

	c->fd = cli_connect(cl.nodes[0].port);
	c->next_id = 1;
	do_hello(c, nc, ns);
	assert_int_equal(xp_auth_proof(&secret, false, nc, ns, proof), 0);
	xp_hdr_init(&h, XP_OP_AUTH, c->next_id++, 0);
	h.payload_len = XP_PROOF_LEN;
	assert_int_equal(send_frame(c->fd, &h, proof, false), 0);
	assert_int_equal(recv_frame(c->fd, &h, NULL, 0), 0);
	assert_int_equal(h.status, XP_ST_OK);
}

static void cli_close(struct cli *c)
{
	close(c->fd);
	c->fd = -1;
}

struct rq {
	uint8_t op;
	uint64_t lun;
	uint64_t offset;
	uint32_t length;
	uint16_t flags;
	uint64_t epoch;
	const void *payload;
	uint32_t plen;
};

/* One request, one answer; returns the answer's status. */
static uint32_t rpc(struct cli *c, const struct rq *r, struct xp_hdr *ans,
		    void *buf, size_t cap)
{
	struct xp_hdr h, a;
	uint64_t id = c->next_id++;

	xp_hdr_init(&h, r->op, id, r->lun);
	h.offset = r->offset;
	h.length = r->length;
	h.flags = r->flags;
	h.epoch = r->epoch;
	h.payload_len = r->plen;
	assert_int_equal(send_frame(c->fd, &h, r->payload, false), 0);
	assert_int_equal(recv_frame(c->fd, &a, buf, cap), 0);
	assert_int_equal(a.req_id, id);
	assert_int_equal(a.opcode, r->op);
	assert_int_equal(a.lun_id, r->lun);
	if (ans)
		*ans = a;
	return a.status;
}

/* The layout these tests create LUNs with. */
static const struct xp_layout test_layout = {.chunk_size = 1u << 20,
					     .replicas = 2};

/* A LUN_CREATE payload: @lay, then @name. Returns its length. */
static uint32_t create_payload(uint8_t *buf, const struct xp_layout *lay,
			       const char *name)
{
	size_t n = strlen(name);

	xp_layout_encode(lay, buf);
	memcpy(buf + XP_LAYOUT_LEN, name, n);
	return (uint32_t)(XP_LAYOUT_LEN + n);
}

static uint64_t lun_create(struct cli *c, const char *name, uint64_t size)
{
	uint8_t pl[XP_LAYOUT_LEN + XP_LUN_NAME_MAX];
	uint64_t id = sb_lun_id(name);
	struct rq r = {.op = XP_OP_LUN_CREATE,
		       .lun = id,
		       .offset = size,
		       .payload = pl,
		       .plen = create_payload(pl, &test_layout, name)};

	assert_int_equal(rpc(c, &r, NULL, NULL, 0), XP_ST_OK);
	return id;
}

static uint32_t do_write(struct cli *c, uint64_t lun, uint64_t off,
			 const void *buf, uint32_t len, uint16_t flags)
{
	struct rq r = {.op = XP_OP_WRITE,
		       .lun = lun,
		       .offset = off,
		       .length = len,
		       .flags = flags,
		       .payload = buf,
		       .plen = len};

	return rpc(c, &r, NULL, NULL, 0);
}

static uint32_t do_read(struct cli *c, uint64_t lun, uint64_t off, void *buf,
			uint32_t len)
{
	struct rq r = {
		.op = XP_OP_READ, .lun = lun, .offset = off, .length = len};
	struct xp_hdr a;
	uint32_t st = rpc(c, &r, &a, buf, len);

	if (st == XP_ST_OK)
		assert_int_equal(a.payload_len, len);
	return st;
}

static uint32_t do_simple(struct cli *c, uint8_t op, uint64_t lun, uint64_t off,
			  uint32_t len, uint16_t flags)
{
	struct rq r = {.op = op,
		       .lun = lun,
		       .offset = off,
		       .length = len,
		       .flags = flags};

	return rpc(c, &r, NULL, NULL, 0);
}

/* STAT: fixed part into @st, allocated bytes of @lun into @alloc. */
static void do_stat(struct cli *c, struct xp_stat *st, uint64_t lun,
		    uint64_t *alloc)
{
	static uint8_t buf[XP_STAT_FIXED_LEN + 64 * XP_STAT_LUN_LEN];
	struct xp_stat_lun luns[64];
	struct rq r = {.op = XP_OP_STAT};
	struct xp_hdr a;
	int n, i;

	assert_int_equal(rpc(c, &r, &a, buf, sizeof(buf)), XP_ST_OK);
	n = xp_stat_decode(buf, a.payload_len, st, luns, 64);
	assert_true(n >= 0);
	if (!alloc)
		return;
	for (i = 0; i < n && i < 64; i++) {
		if (luns[i].lun_id == lun) {
			*alloc = luns[i].allocated;
			return;
		}
	}
	fail_msg("LUN %016llx not in STAT", (unsigned long long)lun);
}

static bool all_zero(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/* ---- fixtures ----------------------------------------------------------- */

static int group_setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	return tl_cluster_start_secret(&cl, 1, 1, 1u << 20, 5000, SPANBLKD,
				       &secret);
}

static int group_teardown(void **state)
{
	(void)state;
	tl_cluster_destroy(&cl);
	return 0;
}

/* ---- handshake ---------------------------------------------------------- */

static void test_auth_good(void **state)
{
	uint8_t ping[100], echo[100];
	struct rq r = {.op = XP_OP_PING, .payload = ping, .plen = 100};
	struct xp_hdr a;
	struct cli c;

	(void)state;
	cli_open(&c);
	tl_fill_random(ping, sizeof(ping));
	assert_int_equal(rpc(&c, &r, &a, echo, sizeof(echo)), XP_ST_OK);
	assert_int_equal(a.payload_len, sizeof(ping));
	assert_memory_equal(ping, echo, sizeof(ping));
	cli_close(&c);
}

static void test_auth_bad_proof(void **state)
{
	uint8_t nc[XP_NONCE_LEN], ns[XP_NONCE_LEN], proof[XP_PROOF_LEN];
	struct cli c = {.next_id = 1};
	struct xp_hdr h;

	(void)state;
	c.fd = cli_connect(cl.nodes[0].port);
	do_hello(&c, nc, ns);
	/* The node's own proof must not pass as the gateway's. */
	assert_int_equal(xp_auth_proof(&secret, true, nc, ns, proof), 0);
	xp_hdr_init(&h, XP_OP_AUTH, c.next_id++, 0);
	h.payload_len = XP_PROOF_LEN;
	assert_int_equal(send_frame(c.fd, &h, proof, false), 0);
	assert_closed_silently(c.fd);
	cli_close(&c);
}

static void test_unauthenticated_read(void **state)
{
	struct xp_hdr h;
	int fd;

	(void)state;
	fd = cli_connect(cl.nodes[0].port);
	xp_hdr_init(&h, XP_OP_READ, 1, sb_lun_id("any"));
	h.length = 4096;
	assert_int_equal(send_frame(fd, &h, NULL, false), 0);
	assert_closed_silently(fd);
	close(fd);

	/* AUTH before HELLO is just as wrong. */
	fd = cli_connect(cl.nodes[0].port);
	{
		uint8_t proof[XP_PROOF_LEN] = {0};

		xp_hdr_init(&h, XP_OP_AUTH, 1, 0);
		h.payload_len = XP_PROOF_LEN;
		assert_int_equal(send_frame(fd, &h, proof, false), 0);
	}
	assert_closed_silently(fd);
	close(fd);
}

static void test_bad_header_crc_closes(void **state)
{
	uint8_t hb[XP_HDR_LEN];
	struct xp_hdr h;
	struct cli c;

	(void)state;
	cli_open(&c);
	xp_hdr_init(&h, XP_OP_PING, 99, 0);
	xp_hdr_encode(&h, hb);
	hb[XP_HDR_LEN - 1] ^= 0x5a;
	assert_int_equal(tc_write_all(c.fd, hb, sizeof(hb)), 0);
	assert_closed_silently(c.fd);
	cli_close(&c);
}

static void test_auth_timeout(void **state)
{
	time_t t0 = time(NULL);
	int fd;

	(void)state;
	fd = cli_connect(cl.nodes[0].port);
	assert_closed_silently(fd);
	/* XP_AUTH_TIMEOUT_MS is 5 s; the node ticks every 200 ms. */
	assert_true(time(NULL) - t0 >= 4);
	assert_true(time(NULL) - t0 <= 8);
	close(fd);
}

/* ---- data path ---------------------------------------------------------- */

static void test_write_read_roundtrip(void **state)
{
	static uint8_t wbuf[1u << 20], rbuf[1u << 20];
	const uint32_t sizes[] = {512, 4096, 65536, 1u << 20, 12345};
	struct cli c;
	uint64_t lun;
	size_t i;

	(void)state;
	cli_open(&c);
	lun = lun_create(&c, "roundtrip", LUN_SIZE);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t off = (uint64_t)i * (3u << 20) + 4096 * i;
		uint16_t fl = i % 2 ? XP_F_FUA : 0;

		tl_fill_random(wbuf, sizes[i]);
		assert_int_equal(do_write(&c, lun, off, wbuf, sizes[i], fl),
				 XP_ST_OK);
		memset(rbuf, 0xee, sizes[i]);
		assert_int_equal(do_read(&c, lun, off, rbuf, sizes[i]),
				 XP_ST_OK);
		assert_memory_equal(wbuf, rbuf, sizes[i]);
	}
	/* Never written: a hole reads as zeros. */
	assert_int_equal(do_read(&c, lun, LUN_SIZE - 8192, rbuf, 8192),
			 XP_ST_OK);
	assert_true(all_zero(rbuf, 8192));
	/* The last byte of the LUN is reachable. */
	assert_int_equal(do_write(&c, lun, LUN_SIZE - 1, wbuf, 1, XP_F_FUA),
			 XP_ST_OK);
	cli_close(&c);
}

/*
 * Writes that share a 4 KiB page but no byte, in flight together: five
 * adjacent 1 MiB writes at an offset aligned to 512 but not to 4096 (the
 * disk's logical block may be 512 bytes, so each could go by direct I/O)
 * and a 12345-byte one after them (buffered: a read-modify-write of the
 * page it shares), on pages already in the page cache, in a different
 * order each time, twice per region. A direct and a buffered write to one page at once
 * leave the page cache stale (the kernel warns "Page cache invalidation
 * failure on direct I/O"), let its writeback put old bytes back, and make
 * fdatasync fail. Every FLUSH must succeed, every byte read back.
 */
static void test_writes_sharing_a_page(void **state)
{
	enum { REGIONS = 24, PIECE = 1 << 20, TAIL = 12345, STRIDE = 8 << 20 };
	static uint8_t data[REGIONS][5 * PIECE + TAIL], back[5 * PIECE + TAIL];
	const uint64_t skew = 3 * 4096 + 512;
	struct cli c;
	uint64_t lun;
	int i, k;

	(void)state;
	cli_open(&c);
	lun = lun_create(&c, "page-share", (uint64_t)REGIONS * STRIDE + STRIDE);
	tl_fill_random(data, sizeof(data));
	/* Each region twice: the second time over allocated blocks. */
	for (i = 0; i < 2 * REGIONS; i++) {
		uint64_t base = (uint64_t)(i % REGIONS) * STRIDE + skew;
		const uint8_t *src =
			data[i < REGIONS ? (i + 1) % REGIONS : i % REGIONS];

		/* The pages the pieces share, cached by buffered reads. */
		for (k = 1; k <= 5; k++)
			assert_int_equal(do_read(&c, lun,
						 base + (uint64_t)k * PIECE - 1,
						 back, 2),
					 XP_ST_OK);
		for (k = 0; k < 6; k++) {
			/* A rotation of the six writes, per region. */
			int p = (k + i) % 6;
			uint32_t len = p < 5 ? PIECE : TAIL;
			struct xp_hdr h;

			xp_hdr_init(&h, XP_OP_WRITE, c.next_id++, lun);
			h.offset = base + (uint64_t)p * PIECE;
			h.length = len;
			h.payload_len = len;
			assert_int_equal(send_frame(c.fd, &h,
						    src + (size_t)p * PIECE,
						    false),
					 0);
		}
		for (k = 0; k < 6; k++) {
			struct xp_hdr h;

			assert_int_equal(recv_frame(c.fd, &h, NULL, 0), 0);
			assert_int_equal(h.status, XP_ST_OK);
		}
		assert_int_equal(do_simple(&c, XP_OP_FLUSH, lun, 0, 0, 0),
				 XP_ST_OK);
	}
	for (i = 0; i < REGIONS; i++) {
		uint64_t base = (uint64_t)i * STRIDE + skew;

		for (k = 0; k < 6; k++) {
			uint32_t len = k < 5 ? PIECE : TAIL;

			assert_int_equal(do_read(&c, lun,
						 base + (uint64_t)k * PIECE,
						 back + (size_t)k * PIECE, len),
					 XP_ST_OK);
		}
		assert_memory_equal(back, data[i], sizeof(back));
	}
	cli_close(&c);
}

/*
 * 300 pipelined writes without reading a single answer (well past the
 * node's 128 in flight per connection), then every answer, then the data.
 */
static void test_pipelined_backpressure(void **state)
{
	enum { N = 300, LEN = 4096 };
	static uint8_t data[N][LEN], rbuf[LEN];
	static bool seen[N + 1];
	struct cli c;
	uint64_t lun;
	int i;

	(void)state;
	cli_open(&c);
	lun = lun_create(&c, "pipeline", LUN_SIZE);
	tl_fill_random(data, sizeof(data));
	for (i = 0; i < N; i++) {
		struct xp_hdr h;

		xp_hdr_init(&h, XP_OP_WRITE, 1000 + i, lun);
		h.offset = (uint64_t)i * LEN;
		h.length = LEN;
		h.payload_len = LEN;
		assert_int_equal(send_frame(c.fd, &h, data[i], false), 0);
	}
	for (i = 0; i < N; i++) {
		struct xp_hdr a;

		assert_int_equal(recv_frame(c.fd, &a, NULL, 0), 0);
		assert_int_equal(a.status, XP_ST_OK);
		assert_true(a.req_id >= 1000 && a.req_id < 1000 + N);
		assert_false(seen[a.req_id - 1000]);
		seen[a.req_id - 1000] = true;
	}
	c.next_id = 5000;
	for (i = 0; i < N; i += 37) {
		assert_int_equal(do_read(&c, lun, (uint64_t)i * LEN, rbuf, LEN),
				 XP_ST_OK);
		assert_memory_equal(rbuf, data[i], LEN);
	}
	cli_close(&c);
}

static void test_bad_payload_crc(void **state)
{
	uint8_t good[4096], bad[4096], rbuf[4096];
	struct xp_hdr h, a;
	struct cli c;
	uint64_t lun;

	(void)state;
	cli_open(&c);
	lun = lun_create(&c, "crc", LUN_SIZE);
	tl_fill_random(good, sizeof(good));
	tl_fill_random(bad, sizeof(bad));
	assert_int_equal(do_write(&c, lun, 0, good, sizeof(good), 0), XP_ST_OK);
	xp_hdr_init(&h, XP_OP_WRITE, 77, lun);
	h.length = sizeof(bad);
	h.payload_len = sizeof(bad);
	assert_int_equal(send_frame(c.fd, &h, bad, true), 0);
	assert_int_equal(recv_frame(c.fd, &a, NULL, 0), 0);
	assert_int_equal(a.req_id, 77);
	assert_int_equal(a.status, XP_ST_EBADMSG);
	/* Not applied, and the connection is still in sync. */
	assert_int_equal(do_read(&c, lun, 0, rbuf, sizeof(rbuf)), XP_ST_OK);
	assert_memory_equal(rbuf, good, sizeof(good));
	cli_close(&c);
}

static void test_flush(void **state)
{
	uint8_t buf[4096] = {1};
	struct xp_stat st;
	struct cli c;
	uint64_t lun;

	(void)state;
	cli_open(&c);
	lun = lun_create(&c, "flush", LUN_SIZE);
	assert_int_equal(do_write(&c, lun, 0, buf, sizeof(buf), 0), XP_ST_OK);
	do_stat(&c, &st, 0, NULL);
	assert_int_equal(do_simple(&c, XP_OP_FLUSH, lun, 0, 0, 0), XP_ST_OK);
	assert_int_equal(do_simple(&c, XP_OP_FLUSH, 0, 0, 0, 0), XP_ST_OK);
	assert_int_equal(do_simple(&c, XP_OP_FLUSH, sb_lun_id("nope"), 0, 0, 0),
			 XP_ST_ENOENT);
	{
		struct xp_stat st2;

		do_stat(&c, &st2, 0, NULL);
		assert_int_equal(st2.ops_flush, st.ops_flush + 2);
	}
	cli_close(&c);
}

static void test_caw(void **state)
{
	enum { N = 8192 };
	static uint8_t old[N], neu[N], pl[2 * N], rbuf[N];
	uint8_t mis[8];
	struct xp_stat s0, s1;
	struct rq r;
	struct xp_hdr a;
	struct cli c;
	uint64_t lun;

	(void)state;
	cli_open(&c);
	lun = lun_create(&c, "caw", LUN_SIZE);
	tl_fill_random(old, N);
	tl_fill_random(neu, N);
	assert_int_equal(do_write(&c, lun, 65536, old, N, 0), XP_ST_OK);

	/* Miscompare at byte 5000: nothing written, offset reported. */
	memcpy(pl, old, N);
	pl[5000] ^= 0xff;
	memcpy(pl + N, neu, N);
	r = (struct rq){.op = XP_OP_CAW,
			.lun = lun,
			.offset = 65536,
			.length = N,
			.payload = pl,
			.plen = 2 * N};
	assert_int_equal(rpc(&c, &r, &a, mis, sizeof(mis)), XP_ST_MISCOMPARE);
	assert_int_equal(a.payload_len, 8);
	assert_int_equal(xp_get_be64(mis), 5000);
	assert_int_equal(do_read(&c, lun, 65536, rbuf, N), XP_ST_OK);
	assert_memory_equal(rbuf, old, N);

	/* Match (with FUA): the new data is there, a FUA write counted. */
	pl[5000] ^= 0xff;
	r.flags = XP_F_FUA;
	do_stat(&c, &s0, 0, NULL);
	assert_int_equal(rpc(&c, &r, &a, NULL, 0), XP_ST_OK);
	do_stat(&c, &s1, 0, NULL);
	assert_int_equal(s1.ops_write_fua, s0.ops_write_fua + 1);
	assert_int_equal(do_read(&c, lun, 65536, rbuf, N), XP_ST_OK);
	assert_memory_equal(rbuf, neu, N);

	/*
	 * The same request again now miscompares at byte 0 (random data):
	 * nothing written, so no FUA write counted.
	 */
	if (old[0] != neu[0]) {
		assert_int_equal(rpc(&c, &r, &a, mis, sizeof(mis)),
				 XP_ST_MISCOMPARE);
		assert_int_equal(xp_get_be64(mis), 0);
		do_stat(&c, &s0, 0, NULL);
		assert_int_equal(s0.ops_write_fua, s1.ops_write_fua);
	}
	cli_close(&c);
}

static void test_unmap_and_write_zeroes(void **state)
{
	enum { LEN = 1u << 20 };
	static uint8_t buf[LEN];
	uint64_t before, after;
	struct xp_stat st;
	struct cli c;
	uint64_t lun;

	(void)state;
	cli_open(&c);
	lun = lun_create(&c, "unmap", LUN_SIZE);
	tl_fill_random(buf, LEN);
	assert_int_equal(do_write(&c, lun, 4u << 20, buf, LEN, XP_F_FUA),
			 XP_ST_OK);
	assert_int_equal(do_write(&c, lun, 8u << 20, buf, LEN, XP_F_FUA),
			 XP_ST_OK);
	do_stat(&c, &st, lun, &before);
	assert_true(before >= 2ull * LEN);

	assert_int_equal(do_simple(&c, XP_OP_UNMAP, lun, 4u << 20, LEN, 0),
			 XP_ST_OK);
	assert_int_equal(do_read(&c, lun, 4u << 20, buf, LEN), XP_ST_OK);
	assert_true(all_zero(buf, LEN));
	do_stat(&c, &st, lun, &after);
	assert_true(after <= before - LEN);

	/* WRITE_ZEROES (no UNMAP flag) also reads back zeros. */
	assert_int_equal(do_simple(&c, XP_OP_WRITE_ZEROES, lun, 8u << 20,
				   LEN / 2, 0),
			 XP_ST_OK);
	assert_int_equal(do_read(&c, lun, 8u << 20, buf, LEN), XP_ST_OK);
	assert_true(all_zero(buf, LEN / 2));
	assert_false(all_zero(buf + LEN / 2, LEN / 2));
	/* With UNMAP it may deallocate. */
	assert_int_equal(do_simple(&c, XP_OP_WRITE_ZEROES, lun, 8u << 20, LEN,
				   XP_F_UNMAP),
			 XP_ST_OK);
	assert_int_equal(do_read(&c, lun, 8u << 20, buf, LEN), XP_ST_OK);
	assert_true(all_zero(buf, LEN));
	do_stat(&c, &st, lun, &after);
	assert_true(after < LEN);
	assert_true(st.ops_unmap >= 3);
	cli_close(&c);
}

static void test_ranges_and_errors(void **state)
{
	uint8_t buf[8192] = {0};
	struct xp_hdr h, a;
	struct cli c;
	uint64_t lun;

	(void)state;
	cli_open(&c);
	lun = lun_create(&c, "ranges", 1u << 20);
	assert_int_equal(do_read(&c, lun, (1u << 20) - 4096, buf, 8192),
			 XP_ST_ERANGE);
	assert_int_equal(do_write(&c, lun, 1u << 20, buf, 512, 0),
			 XP_ST_ERANGE);
	assert_int_equal(do_simple(&c, XP_OP_UNMAP, lun, 0, (1u << 20) + 1, 0),
			 XP_ST_ERANGE);
	assert_int_equal(do_read(&c, sb_lun_id("missing"), 0, buf, 512),
			 XP_ST_ENOENT);
	/* Fails xp_hdr_check: READ of length 0 -> EINVAL, stays open. */
	xp_hdr_init(&h, XP_OP_READ, 4242, lun);
	assert_int_equal(send_frame(c.fd, &h, NULL, false), 0);
	assert_int_equal(recv_frame(c.fd, &a, NULL, 0), 0);
	assert_int_equal(a.req_id, 4242);
	assert_int_equal(a.status, XP_ST_EINVAL);
	assert_int_equal(do_read(&c, lun, 0, buf, 512), XP_ST_OK);
	cli_close(&c);
}

static void test_lun_admin(void **state)
{
	static const struct xp_layout other_layout = {.chunk_size = 4u << 20,
						      .replicas = 2};
	uint8_t pl[XP_LAYOUT_LEN + XP_LUN_NAME_MAX];
	struct xp_layout got;
	struct rq r;
	struct xp_hdr a;
	struct cli c;
	uint64_t lun;

	(void)state;
	cli_open(&c);
	lun = lun_create(&c, "admin", 1u << 20);
	/* Idempotent with the same name and size. */
	assert_int_equal(lun_create(&c, "admin", 1u << 20), lun);
	r = (struct rq){.op = XP_OP_LUN_CREATE,
			.lun = lun,
			.offset = 2u << 20,
			.payload = pl,
			.plen = create_payload(pl, &test_layout, "admin")};
	assert_int_equal(rpc(&c, &r, NULL, NULL, 0), XP_ST_EEXIST);
	r.offset = 1u << 20;
	r.plen = create_payload(pl, &test_layout, "other");
	assert_int_equal(rpc(&c, &r, NULL, NULL, 0), XP_ST_EEXIST);
	/* The same name and size with another layout is a conflict too. */
	r.plen = create_payload(pl, &other_layout, "admin");
	assert_int_equal(rpc(&c, &r, NULL, NULL, 0), XP_ST_EEXIST);
	r.plen = create_payload(pl, &test_layout, "bad/name");
	assert_int_equal(rpc(&c, &r, NULL, NULL, 0), XP_ST_EINVAL);
	/* A layout the protocol does not allow. */
	r.plen = create_payload(pl, &test_layout, "fresh");
	pl[0] = 0xff; /* chunk size 0xff100000: not a power of two */
	assert_int_equal(rpc(&c, &r, NULL, NULL, 0), XP_ST_EINVAL);

	r = (struct rq){.op = XP_OP_LUN_OPEN, .lun = lun};
	assert_int_equal(rpc(&c, &r, &a, pl, sizeof(pl)), XP_ST_OK);
	assert_int_equal(a.offset, 1u << 20);
	{
		char name[XP_LUN_NAME_MAX + 1];

		assert_int_equal(
			xp_lun_open_decode(pl, a.payload_len, &got, name), 0);
		assert_string_equal(name, "admin");
	}
	assert_int_equal(got.chunk_size, test_layout.chunk_size);
	assert_int_equal(got.replicas, test_layout.replicas);
	assert_int_equal(do_simple(&c, XP_OP_LUN_RESIZE, lun, 3u << 20, 0, 0),
			 XP_ST_OK);
	assert_int_equal(rpc(&c, &r, &a, pl, sizeof(pl)), XP_ST_OK);
	assert_int_equal(a.offset, 3u << 20);
	assert_int_equal(do_simple(&c, XP_OP_LUN_DELETE, lun, 0, 0, 0),
			 XP_ST_OK);
	assert_int_equal(rpc(&c, &r, &a, NULL, 0), XP_ST_ENOENT);
	assert_int_equal(do_simple(&c, XP_OP_LUN_DELETE, lun, 0, 0, 0),
			 XP_ST_ENOENT);
	cli_close(&c);
}

static uint32_t lease(struct cli *c, uint8_t op, uint64_t lun, uint64_t holder,
		      uint64_t epoch, uint64_t *got)
{
	uint8_t pl[XP_LEASE_LEN];
	struct xp_lease l = {.holder = holder, .duration_ms = 60000};
	struct rq r = {.op = op,
		       .lun = lun,
		       .epoch = epoch,
		       .payload = pl,
		       .plen = XP_LEASE_LEN};
	struct xp_hdr a;
	uint32_t st;

	xp_lease_encode(&l, pl);
	st = rpc(c, &r, &a, NULL, 0);
	*got = a.epoch;
	return st;
}

static void test_leases(void **state)
{
	uint64_t lun = sb_lun_id("leased"), e1, e2, e;
	struct cli c;

	(void)state;
	cli_open(&c);
	assert_int_equal(lease(&c, XP_OP_LEASE_ACQUIRE, lun, 11, 0, &e1),
			 XP_ST_OK);
	assert_true(e1 >= 1);
	assert_int_equal(lease(&c, XP_OP_LEASE_ACQUIRE, lun, 22, 0, &e),
			 XP_ST_EBUSY);
	assert_int_equal(lease(&c, XP_OP_LEASE_RENEW, lun, 11, e1 + 1, &e),
			 XP_ST_ESTALE);
	assert_int_equal(lease(&c, XP_OP_LEASE_RENEW, lun, 22, e1, &e),
			 XP_ST_ESTALE);
	assert_int_equal(lease(&c, XP_OP_LEASE_RENEW, lun, 11, e1, &e),
			 XP_ST_OK);
	assert_int_equal(lease(&c, XP_OP_LEASE_RELEASE, lun, 11, e1, &e),
			 XP_ST_OK);
	assert_int_equal(lease(&c, XP_OP_LEASE_ACQUIRE, lun, 22, 0, &e2),
			 XP_ST_OK);
	assert_int_equal(e2, e1 + 1);
	assert_int_equal(lease(&c, XP_OP_LEASE_RELEASE, lun, 11, e1, &e),
			 XP_ST_ESTALE);
	cli_close(&c);
}

static void test_stat_counters(void **state)
{
	uint8_t buf[4096];
	struct xp_stat a, b;
	struct cli c;
	uint64_t lun, alloc = 0;

	(void)state;
	cli_open(&c);
	lun = lun_create(&c, "stat", LUN_SIZE);
	do_stat(&c, &a, lun, &alloc);
	assert_int_equal(a.node_id, cl.nodes[0].id);
	assert_true(a.conns >= 1);
	tl_fill_random(buf, sizeof(buf));
	assert_int_equal(do_write(&c, lun, 0, buf, sizeof(buf), 0), XP_ST_OK);
	assert_int_equal(do_read(&c, lun, 0, buf, sizeof(buf)), XP_ST_OK);
	do_stat(&c, &b, lun, &alloc);
	assert_int_equal(b.ops_write, a.ops_write + 1);
	assert_int_equal(b.ops_read, a.ops_read + 1);
	assert_int_equal(b.bytes_written, a.bytes_written + sizeof(buf));
	assert_int_equal(b.bytes_read, a.bytes_read + sizeof(buf));
	assert_true(b.bytes_tcp_payload >= a.bytes_tcp_payload + 8192);
	/*
	 * Control on TCP: the headers of the first STAT's answer, the WRITE
	 * and READ with their answers, and the second STAT.
	 */
	assert_true(b.bytes_tcp_control ==
		    a.bytes_tcp_control + 6 * XP_HDR_LEN);
	assert_true(alloc >= sizeof(buf));
	assert_int_equal(b.ops_write_fua, a.ops_write_fua);

	/* A write with FUA counts in both WRITES and FUA writes. */
	assert_int_equal(do_write(&c, lun, 4096, buf, sizeof(buf), XP_F_FUA),
			 XP_ST_OK);
	do_stat(&c, &a, lun, &alloc);
	assert_int_equal(a.ops_write, b.ops_write + 1);
	assert_int_equal(a.ops_write_fua, b.ops_write_fua + 1);
	cli_close(&c);
}

/* ---- durability and lifecycle ------------------------------------------ */

static void test_kill9_after_fua_and_flush(void **state)
{
	static uint8_t a[65536], b[65536], rbuf[65536];
	struct cli c;
	uint64_t lun;
	int st;

	(void)state;
	cli_open(&c);
	lun = lun_create(&c, "durable", LUN_SIZE);
	tl_fill_random(a, sizeof(a));
	tl_fill_random(b, sizeof(b));
	assert_int_equal(do_write(&c, lun, 1u << 20, a, sizeof(a), XP_F_FUA),
			 XP_ST_OK);
	assert_int_equal(do_write(&c, lun, 2u << 20, b, sizeof(b), 0),
			 XP_ST_OK);
	assert_int_equal(do_simple(&c, XP_OP_FLUSH, lun, 0, 0, 0), XP_ST_OK);
	cli_close(&c);

	st = tl_node_stop(&cl, 0, SIGKILL);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	assert_int_equal(tl_node_start(&cl, 0), 0);

	cli_open(&c);
	assert_int_equal(do_read(&c, lun, 1u << 20, rbuf, sizeof(rbuf)),
			 XP_ST_OK);
	assert_memory_equal(rbuf, a, sizeof(a));
	assert_int_equal(do_read(&c, lun, 2u << 20, rbuf, sizeof(rbuf)),
			 XP_ST_OK);
	assert_memory_equal(rbuf, b, sizeof(b));
	cli_close(&c);
}

static void test_sigterm_exits_zero(void **state)
{
	static uint8_t buf[65536], rbuf[65536];
	struct cli c;
	uint64_t lun;
	int st;

	(void)state;
	cli_open(&c);
	lun = lun_create(&c, "graceful", LUN_SIZE);
	tl_fill_random(buf, sizeof(buf));
	assert_int_equal(do_write(&c, lun, 0, buf, sizeof(buf), 0), XP_ST_OK);
	/* The connection stays open: the node must not wait for it. */
	st = tl_node_stop(&cl, 0, SIGTERM);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	cli_close(&c);

	assert_int_equal(tl_node_start(&cl, 0), 0);
	cli_open(&c);
	assert_int_equal(do_read(&c, lun, 0, rbuf, sizeof(rbuf)), XP_ST_OK);
	assert_memory_equal(rbuf, buf, sizeof(buf));
	cli_close(&c);
}

/* ---- RDMA configured, no device: payload stays inline ------------------ */

/* A READ or WRITE of @len bytes whose descriptor names RDMA. */
static uint32_t rdma_rpc(struct cli *c, uint8_t op, uint64_t lun, uint32_t len)
{
	struct xp_hdr h, a;
	uint64_t id = c->next_id++;

	xp_hdr_init(&h, op, id, lun);
	h.length = len;
	h.desc_xport = XP_DESC_RDMA;
	h.desc_key = 0x1234;
	h.desc_addr = 1ull << 62;
	h.desc_len = len;
	assert_int_equal(send_frame(c->fd, &h, NULL, false), 0);
	assert_int_equal(recv_frame(c->fd, &a, NULL, 0), 0);
	assert_int_equal(a.req_id, id);
	assert_int_equal(a.payload_len, 0);
	return a.status;
}

static bool log_has(const char *path, const char *needle)
{
	static char text[1 << 16];
	ssize_t n;
	off_t end;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return false;
	/* The log grows across restarts: what matters is at its end. */
	end = lseek(fd, 0, SEEK_END);
	if (end > (off_t)sizeof(text) - 1)
		lseek(fd, end - (off_t)sizeof(text) + 1, SEEK_SET);
	else
		lseek(fd, 0, SEEK_SET);
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n < 0)
		return false;
	text[n] = '\0';
	return strstr(text, needle) != NULL;
}

/*
 * rdma_device names a device this host does not have (it has none): the
 * node starts, says why in its log, offers no RDMA in HELLO, refuses
 * RDMA_OFFER and RDMA descriptors with EPROTO (the gateway's cue to go
 * inline), and inline I/O works as before.
 */
static void test_rdma_configured_without_device(void **state)
{
	static uint8_t buf[65536], rbuf[65536];
	struct rq offer = {.op = XP_OP_RDMA_OFFER};
	struct xp_stat st;
	struct xp_hdr a;
	struct cli c;
	uint64_t lun;
	FILE *f;

	(void)state;
	tl_node_stop(&cl, 0, SIGTERM);
	f = fopen(cl.nodes[0].conf, "a");
	assert_non_null(f);
	fprintf(f, "rdma_device = spanblk-no-such-dev\nrdma_buffers = 4\n");
	fclose(f);
	assert_int_equal(tl_node_start(&cl, 0), 0);

	hello_features = XP_FEAT_RDMA;
	cli_open(&c);
	hello_features = 0;
	/* Logged before the loop ran, so before our HELLO was answered. */
	assert_true(log_has(cl.nodes[0].log, "no such RDMA device"));
	assert_int_equal(node_features & XP_FEAT_RDMA, 0);
	assert_int_equal(rpc(&c, &offer, &a, NULL, 0), XP_ST_EPROTO);

	lun = lun_create(&c, "rdma-fallback", LUN_SIZE);
	assert_int_equal(rdma_rpc(&c, XP_OP_WRITE, lun, 8192), XP_ST_EPROTO);
	assert_int_equal(rdma_rpc(&c, XP_OP_READ, lun, 8192), XP_ST_EPROTO);
	tl_fill_random(buf, sizeof(buf));
	assert_int_equal(do_write(&c, lun, 4096, buf, sizeof(buf), 0),
			 XP_ST_OK);
	assert_int_equal(do_read(&c, lun, 4096, rbuf, sizeof(rbuf)), XP_ST_OK);
	assert_memory_equal(rbuf, buf, sizeof(buf));
	do_stat(&c, &st, 0, NULL);
	assert_int_equal(st.flags & (XP_STAT_F_RDMA | XP_STAT_F_RDMA_SESSION),
			 0);
	assert_int_equal(st.bytes_rdma, 0);
	assert_true(st.bytes_tcp_payload >= 2 * sizeof(buf));
	cli_close(&c);
}

/* ---- refusing to start -------------------------------------------------- */

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* spanblkd with @argv exits 1 with exactly one line on stderr. */
static void assert_refuses(char *const argv[], const char *needle)
{
	char out[4096];
	char *nl;
	int rc;

	rc = tl_run(argv, out, sizeof(out));
	if (rc != 1 || !strstr(out, needle))
		fail_msg("rc %d, output: %s", rc, out);
	nl = strchr(out, '\n');
	assert_non_null(nl);
	assert_int_equal(nl[1], '\0');
	assert_true(strncmp(out, "spanblkd: ", 10) == 0);
}

/* Make @dir immutable (root ignores permission bits). */
static bool make_unwritable(const char *dir)
{
	int fd, flags;
	bool ok = false;

	if (geteuid() != 0)
		return chmod(dir, 0500) == 0;
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return false;
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
		flags |= FS_IMMUTABLE_FL;
		ok = ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
	}
	close(fd);
	return ok;
}

static void make_writable(const char *dir)
{
	int fd, flags;

	chmod(dir, 0755);
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return;
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
		flags &= ~FS_IMMUTABLE_FL;
		ioctl(fd, FS_IOC_SETFLAGS, &flags);
	}
	close(fd);
}

static void test_refuses_to_start(void **state)
{
	char conf[PATH_MAX + 32], dir[PATH_MAX + 32], shortsec[PATH_MAX + 32];
	char port[16], bin[PATH_MAX];
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int lfd;
	bool ro;

	(void)state;
	snprintf(bin, sizeof(bin), "%s", cl.spanblkd);
	snprintf(conf, sizeof(conf), "%s/bad.conf", cl.dir);
	snprintf(dir, sizeof(dir), "%s/rodata", cl.dir);
	snprintf(shortsec, sizeof(shortsec), "%s/short.secret", cl.dir);

	/* Bad config: an unknown key. */
	write_text(conf, "[node]\nid = 5\nbogus = 1\n");
	{
		char *argv[] = {bin, "-c", conf, NULL};

		assert_refuses(argv, "bogus");
	}
	/* Bad config: not there at all. */
	{
		char *argv[] = {bin, "-c", "/nonexistent/node.conf", NULL};

		assert_refuses(argv, "/nonexistent/node.conf");
	}

	/* Port in use. */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	snprintf(port, sizeof(port), "%u", ntohs(sa.sin_port));
	{
		char *argv[] = {bin,	  "-c", cl.nodes[0].conf,
				"--port", port, NULL};

		assert_refuses(argv, "in use");
	}
	close(lfd);

	/* Secret missing, and too short. */
	{
		char *argv[] = {bin,
				"-c",
				cl.nodes[0].conf,
				"--secret-file",
				"/nonexistent/secret",
				NULL};

		assert_refuses(argv, "secret");
	}
	write_text(shortsec, "tooshort\n");
	{
		char *argv[] = {
			bin,	  "-c", cl.nodes[0].conf, "--secret-file",
			shortsec, NULL};

		assert_refuses(argv, "secret");
	}

	/* Data folder that cannot be written. */
	assert_int_equal(mkdir(dir, 0755), 0);
	ro = make_unwritable(dir);
	if (ro) {
		char *argv[] = {bin,	      "-c", cl.nodes[0].conf,
				"--data-dir", dir,  "--port",
				port,	      NULL};

		assert_refuses(argv, "not writable");
		make_writable(dir);
	}
	/* A data folder that is a file. */
	{
		char *argv[] = {bin,	      "-c",	cl.nodes[0].conf,
				"--data-dir", shortsec, "--port",
				port,	      NULL};

		assert_refuses(argv, shortsec);
	}
	if (!ro) {
		/* Everything else ran; say what could not. */
		fprintf(stderr, "note: cannot make %s unwritable here\n", dir);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auth_good),
		cmocka_unit_test(test_auth_bad_proof),
		cmocka_unit_test(test_unauthenticated_read),
		cmocka_unit_test(test_bad_header_crc_closes),
		cmocka_unit_test(test_write_read_roundtrip),
		cmocka_unit_test(test_pipelined_backpressure),
		cmocka_unit_test(test_writes_sharing_a_page),
		cmocka_unit_test(test_bad_payload_crc),
		cmocka_unit_test(test_flush),
		cmocka_unit_test(test_caw),
		cmocka_unit_test(test_unmap_and_write_zeroes),
		cmocka_unit_test(test_ranges_and_errors),
		cmocka_unit_test(test_lun_admin),
		cmocka_unit_test(test_leases),
		cmocka_unit_test(test_stat_counters),
		cmocka_unit_test(test_kill9_after_fua_and_flush),
		cmocka_unit_test(test_sigterm_exits_zero),
		cmocka_unit_test(test_refuses_to_start),
		cmocka_unit_test(test_auth_timeout),
		cmocka_unit_test(test_rdma_configured_without_device),
	};

	return cmocka_run_group_tests_name("spanblkd", tests, group_setup,
					   group_teardown);
}
