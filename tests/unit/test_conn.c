/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of xport/conn.c over a socketpair: framing both ways, large
 * payloads, CRC failures, garbage, EOF, back-pressure. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "xport/conn.h"

struct rx {
	int frames;
	struct xp_hdr last;
	uint8_t *payload; /* last payload, owned */
	bool crc_ok;
	int stop_after; /* return -ECANCELED after this many, 0: never */
};

static int on_frame(void *arg, const struct xp_hdr *h, void *payload,
		    bool crc_ok)
{
	struct rx *r = arg;

	free(r->payload);
	r->payload = payload;
	r->last = *h;
	r->crc_ok = crc_ok;
	r->frames++;
	if (r->stop_after && r->frames >= r->stop_after)
		return -ECANCELED;
	return 0;
}

static int sent_calls, sent_err;
static void on_sent(void *arg, int err)
{
	(void)arg;
	sent_calls++;
	sent_err = err;
}

/* Pump both ends until @rx has @want frames or nothing moves. */
static int pump(struct xp_conn *a, struct xp_conn *b, struct rx *rx, int want)
{
	int i, ret = 0;

	for (i = 0; i < 100000 && rx->frames < want; i++) {
		ret = xp_conn_service(a, POLLOUT);
		if (ret < 0)
			return ret;
		ret = xp_conn_service(b, POLLIN);
		if (ret < 0)
			return ret;
	}
	return ret;
}

static void pair(struct xp_conn **a, struct xp_conn **b, struct rx *ra,
		 struct rx *rb)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	*a = xp_conn_new(sv[0], on_frame, ra);
	*b = xp_conn_new(sv[1], on_frame, rb);
	assert_non_null(*a);
	assert_non_null(*b);
}

static void test_small_frames(void **state)
{
	struct xp_conn *a, *b;
	struct rx ra = { 0 }, rb = { 0 };
	struct xp_hdr h;
	int i;

	(void)state;
	pair(&a, &b, &ra, &rb);
	for (i = 0; i < 500; i++) {
		xp_hdr_init(&h, XP_OP_FLUSH, (uint64_t)i, 1);
		assert_int_equal(xp_conn_send(a, &h, NULL, 0, NULL, NULL), 0);
	}
	assert_int_equal(pump(a, b, &rb, 500), 0);
	/* A work budget may leave frames buffered: service until drained. */
	while (xp_conn_rx_pending(b))
		assert_int_equal(xp_conn_service(b, POLLIN), 0);
	assert_int_equal(rb.frames, 500);
	assert_true(rb.last.req_id == 499);
	assert_null(rb.payload);
	xp_conn_free(a);
	xp_conn_free(b);
}

static void test_large_payload_iov(void **state)
{
	struct xp_conn *a, *b;
	struct rx ra = { 0 }, rb = { 0 };
	struct xp_hdr h;
	struct iovec iov[3];
	size_t len = 3 << 20, i;
	uint8_t *buf = malloc(len);

	(void)state;
	assert_non_null(buf);
	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 7 + (i >> 11));
	pair(&a, &b, &ra, &rb);
	xp_hdr_init(&h, XP_OP_WRITE, 5, 1);
	h.flags = XP_F_DCRC;
	h.length = (uint32_t)len;
	h.payload_len = (uint32_t)len;
	iov[0] = (struct iovec){ buf, 100 };
	iov[1] = (struct iovec){ buf + 100, len - 200 };
	iov[2] = (struct iovec){ buf + len - 100, 100 };
	sent_calls = 0;
	assert_int_equal(xp_conn_send(a, &h, iov, 3, on_sent, NULL), 0);
	assert_int_equal(pump(a, b, &rb, 1), 0);
	assert_int_equal(rb.frames, 1);
	assert_true(rb.crc_ok);
	assert_int_equal(rb.last.payload_len, len);
	assert_memory_equal(rb.payload, buf, len);
	assert_int_equal(sent_calls, 1);
	assert_int_equal(sent_err, 0);
	/* Lengths that disagree with payload_len are refused. */
	h.payload_len = 10;
	assert_int_equal(xp_conn_send(a, &h, iov, 3, NULL, NULL), -EINVAL);
	free(rb.payload);
	free(buf);
	xp_conn_free(a);
	xp_conn_free(b);
}

static void test_data_crc_mismatch(void **state)
{
	struct rx rb = { 0 };
	struct xp_conn *b;
	uint8_t frame[XP_HDR_LEN + 16];
	struct xp_hdr h;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	b = xp_conn_new(sv[1], on_frame, &rb);
	xp_hdr_init(&h, XP_OP_WRITE, 1, 1);
	h.flags = XP_F_DCRC;
	h.length = h.payload_len = 16;
	memset(frame + XP_HDR_LEN, 0x55, 16);
	h.data_crc = xp_crc32c(frame + XP_HDR_LEN, 16) ^ 1;
	xp_hdr_encode(&h, frame);
	assert_int_equal(write(sv[0], frame, sizeof(frame)), sizeof(frame));
	assert_int_equal(xp_conn_service(b, POLLIN), 0);
	assert_int_equal(rb.frames, 1);
	assert_false(rb.crc_ok);
	free(rb.payload);
	close(sv[0]);
	xp_conn_free(b);
}

static void test_garbage_and_eof(void **state)
{
	struct rx rb = { 0 };
	struct xp_conn *b;
	uint8_t junk[XP_HDR_LEN];
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	b = xp_conn_new(sv[1], on_frame, &rb);
	memset(junk, 0x41, sizeof(junk));
	assert_int_equal(write(sv[0], junk, sizeof(junk)), sizeof(junk));
	assert_int_equal(xp_conn_service(b, POLLIN), -EBADMSG);
	assert_int_equal(rb.frames, 0);
	/* Once failed, sends are refused. */
	assert_int_equal(xp_conn_send(b, &rb.last, NULL, 0, NULL, NULL),
			 -EPIPE);
	xp_conn_free(b);
	close(sv[0]);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	b = xp_conn_new(sv[1], on_frame, &rb);
	/* Half a header, then EOF. */
	assert_int_equal(write(sv[0], junk, 10), 10);
	close(sv[0]);
	assert_int_equal(xp_conn_service(b, POLLIN), -ECONNRESET);
	xp_conn_free(b);
}

static void test_callback_error_and_pause(void **state)
{
	struct xp_conn *a, *b;
	struct rx ra = { 0 }, rb = { 0 };
	struct xp_hdr h;
	int i, ret = 0;

	(void)state;
	pair(&a, &b, &ra, &rb);
	for (i = 0; i < 5; i++) {
		xp_hdr_init(&h, XP_OP_FLUSH, (uint64_t)i, 1);
		assert_int_equal(xp_conn_send(a, &h, NULL, 0, NULL, NULL), 0);
	}
	xp_conn_pause_rx(b, true);
	assert_int_equal(xp_conn_service(b, POLLIN), 0);
	assert_int_equal(rb.frames, 0);
	xp_conn_pause_rx(b, false);
	rb.stop_after = 3;
	for (i = 0; i < 10 && ret == 0; i++)
		ret = xp_conn_service(b, POLLIN);
	assert_int_equal(ret, -ECANCELED);
	assert_int_equal(rb.frames, 3);
	xp_conn_free(a);
	xp_conn_free(b);
}

static void test_free_calls_sent(void **state)
{
	struct xp_conn *a, *b;
	struct rx ra = { 0 }, rb = { 0 };
	struct xp_hdr h;
	struct iovec iov;
	size_t len = 4 << 20;
	uint8_t *buf = calloc(1, len);
	int i;

	(void)state;
	pair(&a, &b, &ra, &rb);
	xp_hdr_init(&h, XP_OP_WRITE, 1, 1);
	h.length = h.payload_len = (uint32_t)len;
	iov.iov_base = buf;
	iov.iov_len = len;
	sent_calls = 0;
	/* More than the socket buffers hold: some stays queued. */
	for (i = 0; i < 4; i++)
		assert_int_equal(xp_conn_send(a, &h, &iov, 1, on_sent, NULL),
				 0);
	assert_true(xp_conn_want_write(a));
	xp_conn_free(a);
	assert_int_equal(sent_calls, 4);
	assert_int_equal(sent_err, -ECONNABORTED);
	xp_conn_free(b);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_frames),
		cmocka_unit_test(test_large_payload_iov),
		cmocka_unit_test(test_data_crc_mismatch),
		cmocka_unit_test(test_garbage_and_eof),
		cmocka_unit_test(test_callback_error_and_pause),
		cmocka_unit_test(test_free_calls_sent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
