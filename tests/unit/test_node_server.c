/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the node server (node/server.c and its parts), in
 * process: setup failures free everything
 * (LeakSanitizer watches), and a server run on a thread serves, then stops
 * on nd_server_stop() with the requests it had received answered and on
 * disk. The wire protocol end to end is tests/host/test_node.c's job.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "node/server.h"
#include "xport/auth.h"
#include "xport/proto.h"

#define SECRET "unit-test-secret-0123456789"

struct fx {
	char dir[64]; /* /tmp/spanblk-srv-XXXXXX */
	struct sb_nodecfg cfg;
	struct xp_secret secret;
	struct nd_server *srv;
	pthread_t thr;
	int run_ret;
};

static int rm_one(const char *path, const struct stat *sb, int flag,
		  struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	FILE *fp;

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/spanblk-srv-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	sb_nodecfg_defaults(&f->cfg);
	f->cfg.id = 42;
	snprintf(f->cfg.listen, sizeof(f->cfg.listen), "127.0.0.1");
	f->cfg.port = 0;
	snprintf(f->cfg.data_dir, sizeof(f->cfg.data_dir), "%s/data", f->dir);
	snprintf(f->cfg.secret_file, sizeof(f->cfg.secret_file), "%s/secret",
		 f->dir);
	fp = fopen(f->cfg.secret_file, "w");
	if (!fp)
		return -1;
	fputs(SECRET "\n", fp);
	fclose(fp);
	if (xp_secret_load(f->cfg.secret_file, &f->secret))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	nftw(f->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void expect_fail(struct fx *f, int want, const char *needle)
{
	struct nd_server *s = NULL;
	char err[512] = "";

	assert_int_equal(nd_server_new(&f->cfg, &s, err, sizeof(err)), want);
	assert_null(s);
	if (!strstr(err, needle))
		fail_msg("'%s' not in '%s'", needle, err);
	assert_null(strchr(err, '\n'));
}

static void test_new_fails_cleanly(void **state)
{
	struct fx *f = *state;
	struct sb_nodecfg good = f->cfg;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	FILE *fp;
	int lfd;

	snprintf(f->cfg.secret_file, sizeof(f->cfg.secret_file), "%s/missing",
		 f->dir);
	expect_fail(f, -ENOENT, "missing");

	snprintf(f->cfg.secret_file, sizeof(f->cfg.secret_file), "%s/short",
		 f->dir);
	fp = fopen(f->cfg.secret_file, "w");
	assert_non_null(fp);
	fputs("short\n", fp);
	fclose(fp);
	expect_fail(f, -EINVAL, "16 to 256 bytes");
	f->cfg = good;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	f->cfg.port = ntohs(sa.sin_port);
	expect_fail(f, -EADDRINUSE, "cannot listen");
	close(lfd);
	f->cfg = good;

	snprintf(f->cfg.data_dir, sizeof(f->cfg.data_dir), "%s",
		 good.secret_file);
	expect_fail(f, -ENOTDIR, "data_dir");
	f->cfg = good;
}

static void *run_thread(void *arg)
{
	struct fx *f = arg;

	f->run_ret = nd_server_run(f->srv);
	return NULL;
}

static void start(struct fx *f)
{
	char err[512];

	assert_int_equal(nd_server_new(&f->cfg, &f->srv, err, sizeof(err)), 0);
	assert_true(nd_server_port(f->srv) > 0);
	assert_int_equal(pthread_create(&f->thr, NULL, run_thread, f), 0);
}

static void stop(struct fx *f)
{
	nd_server_stop(f->srv);
	assert_int_equal(pthread_join(f->thr, NULL), 0);
	assert_int_equal(f->run_ret, 0);
	nd_server_free(f->srv);
	f->srv = NULL;
}

static void send_frame(int fd, struct xp_hdr *h, const void *payload)
{
	uint8_t hb[XP_HDR_LEN];

	if (h->payload_len) {
		h->flags |= XP_F_DCRC;
		h->data_crc = xp_crc32c(payload, h->payload_len);
	}
	xp_hdr_encode(h, hb);
	assert_int_equal(send(fd, hb, sizeof(hb), MSG_NOSIGNAL), sizeof(hb));
	if (h->payload_len)
		assert_int_equal(send(fd, payload, h->payload_len,
				      MSG_NOSIGNAL),
				 h->payload_len);
}

/* 0 and the answer, or -1 on EOF. */
static int recv_frame(int fd, struct xp_hdr *h, uint8_t *buf, size_t cap)
{
	uint8_t hb[XP_HDR_LEN];

	if (recv(fd, hb, sizeof(hb), MSG_WAITALL) != sizeof(hb))
		return -1;
	assert_int_equal(xp_hdr_decode(hb, sizeof(hb), h), 0);
	assert_true(h->payload_len <= cap);
	if (h->payload_len)
		assert_int_equal(recv(fd, buf, h->payload_len, MSG_WAITALL),
				 h->payload_len);
	return 0;
}

static int connect_auth(struct fx *f)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	uint8_t nc[XP_NONCE_LEN], pl[XP_HELLO_ANSWER_LEN], proof[XP_PROOF_LEN];
	struct xp_hello hl = {.min_ver = 1, .max_ver = 1};
	struct xp_hdr h;
	int fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)nd_server_port(f->srv));
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(xp_auth_nonce(nc), 0);
	memcpy(hl.nonce, nc, XP_NONCE_LEN);
	xp_hello_encode(&hl, pl);
	xp_hdr_init(&h, XP_OP_HELLO, 1, 0);
	h.payload_len = XP_HELLO_LEN;
	send_frame(fd, &h, pl);
	assert_int_equal(recv_frame(fd, &h, pl, sizeof(pl)), 0);
	assert_int_equal(h.status, XP_ST_OK);
	assert_int_equal(xp_get_be64(pl + 8), 42);
	assert_int_equal(xp_auth_proof(&f->secret, false, nc, pl + 16, proof),
			 0);
	xp_hdr_init(&h, XP_OP_AUTH, 2, 0);
	h.payload_len = XP_PROOF_LEN;
	send_frame(fd, &h, proof);
	assert_int_equal(recv_frame(fd, &h, NULL, 0), 0);
	assert_int_equal(h.status, XP_ST_OK);
	return fd;
}

static void test_serve_then_stop(void **state)
{
	struct fx *f = *state;
	uint8_t buf[4096], got[4096];
	struct xp_hdr h;
	int fd, idle;

	start(f);
	fd = connect_auth(f);
	/* A second connection that never authenticates must not hold up stop. */
	idle = socket(AF_INET, SOCK_STREAM, 0);
	{
		struct sockaddr_in sa = {.sin_family = AF_INET};

		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sa.sin_port = htons((uint16_t)nd_server_port(f->srv));
		assert_int_equal(
			connect(idle, (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	xp_hdr_init(&h, XP_OP_LUN_CREATE, 3, 0x77);
	h.offset = 1u << 20;
	h.payload_len = XP_LAYOUT_LEN + 3;
	/* layout: chunk 1 MiB, 2 replicas; then the name */
	send_frame(fd, &h,
		   "\x00\x10\x00\x00\x02\x00\x00\x00"
		   "u-1");
	assert_int_equal(recv_frame(fd, &h, NULL, 0), 0);
	assert_int_equal(h.status, XP_ST_OK);

	memset(buf, 0x3c, sizeof(buf));
	xp_hdr_init(&h, XP_OP_WRITE, 4, 0x77);
	h.offset = 8192;
	h.length = sizeof(buf);
	h.payload_len = sizeof(buf);
	send_frame(fd, &h, buf);
	assert_int_equal(recv_frame(fd, &h, NULL, 0), 0);
	assert_int_equal(h.status, XP_ST_OK);

	xp_hdr_init(&h, XP_OP_READ, 5, 0x77);
	h.offset = 8192;
	h.length = sizeof(got);
	send_frame(fd, &h, NULL);
	assert_int_equal(recv_frame(fd, &h, got, sizeof(got)), 0);
	assert_int_equal(h.status, XP_ST_OK);
	assert_memory_equal(buf, got, sizeof(got));

	stop(f);
	/* Both connections were closed by the stop. */
	assert_int_equal(recv_frame(fd, &h, NULL, 0), -1);
	assert_int_equal(recv(idle, got, 1, 0), 0);
	close(fd);
	close(idle);
}

/*
 * Pipelined writes, then stop at once: every write the node answered is
 * on disk after it returns (answers and data agree), and it answered OK.
 */
static void test_stop_finishes_what_it_received(void **state)
{
	enum { N = 64, LEN = 65536 };
	static uint8_t data[LEN];
	struct fx *f = *state;
	char path[PATH_MAX + 64];
	bool answered[N] = {false};
	struct xp_hdr h;
	int fd, dfd, i, n = 0;

	start(f);
	fd = connect_auth(f);
	xp_hdr_init(&h, XP_OP_LUN_CREATE, 3, 0x99);
	h.offset = 8u << 20;
	h.payload_len = XP_LAYOUT_LEN + 3;
	/* layout: chunk 1 MiB, 2 replicas; then the name */
	send_frame(fd, &h,
		   "\x00\x10\x00\x00\x02\x00\x00\x00"
		   "u-2");
	assert_int_equal(recv_frame(fd, &h, NULL, 0), 0);
	assert_int_equal(h.status, XP_ST_OK);

	for (i = 0; i < N; i++) {
		memset(data, i + 1, sizeof(data));
		xp_hdr_init(&h, XP_OP_WRITE, 100 + i, 0x99);
		h.offset = (uint64_t)i * LEN;
		h.length = LEN;
		h.payload_len = LEN;
		send_frame(fd, &h, data);
	}
	nd_server_stop(f->srv);
	while (recv_frame(fd, &h, NULL, 0) == 0) {
		assert_int_equal(h.status, XP_ST_OK);
		assert_true(h.req_id >= 100 && h.req_id < 100 + N);
		answered[h.req_id - 100] = true;
		n++;
	}
	assert_int_equal(pthread_join(f->thr, NULL), 0);
	assert_int_equal(f->run_ret, 0);
	nd_server_free(f->srv);
	f->srv = NULL;
	close(fd);

	snprintf(path, sizeof(path), "%s/luns/%016x.data", f->cfg.data_dir,
		 0x99);
	dfd = open(path, O_RDONLY);
	assert_true(dfd >= 0);
	for (i = 0; i < N; i++) {
		if (!answered[i])
			continue;
		assert_int_equal(pread(dfd, data, LEN, (off_t)i * LEN), LEN);
		assert_int_equal(data[0], i + 1);
		assert_int_equal(data[LEN - 1], i + 1);
	}
	close(dfd);
	print_message("%d of %d writes answered before the stop\n", n, N);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_new_fails_cleanly, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_serve_then_stop, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_stop_finishes_what_it_received, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
