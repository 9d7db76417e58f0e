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
	const struct iovec *pl; /* placement offered, NULL: none */
	int npl;
	int place_calls;
};

static int on_place(void *arg, const struct xp_hdr *h, struct iovec *iov)
{
	struct rx *r = arg;

	(void)h;
	r->place_calls++;
	if (!r->pl)
		return 0;
	memcpy(iov, r->pl, sizeof(*iov) * (size_t)r->npl);
	return r->npl;
}

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
	struct rx ra = {0}, rb = {0};
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
	struct rx ra = {0}, rb = {0};
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
	iov[0] = (struct iovec){buf, 100};
	iov[1] = (struct iovec){buf + 100, len - 200};
	iov[2] = (struct iovec){buf + len - 100, 100};
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
	struct rx rb = {0};
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
	struct rx rb = {0};
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
	struct rx ra = {0}, rb = {0};
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
	struct rx ra = {0}, rb = {0};
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

/*
 * xp_conn_send_crc: the CRC given by the caller goes on the wire as is.
 * The right one (xp_conn_payload_crc, which equals what xp_conn_send
 * computes) is accepted by the peer; a wrong one shows up as a data CRC
 * failure, so the function really does not compute its own.
 */
static void test_send_with_given_crc(void **state)
{
	struct xp_conn *a, *b;
	struct rx ra = {0}, rb = {0};
	struct xp_hdr h;
	struct iovec iov[2];
	uint8_t buf[8192];
	uint32_t crc;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 13 + 1);
	iov[0] = (struct iovec){buf, 1000};
	iov[1] = (struct iovec){buf + 1000, sizeof(buf) - 1000};
	crc = xp_conn_payload_crc(iov, 2);
	/* Pieces or one run: the same CRC32C as the proto helper. */
	assert_int_equal(crc, xp_crc32c(buf, sizeof(buf)));
	iov[0].iov_len = 0;
	iov[1] = (struct iovec){buf, sizeof(buf)};
	assert_int_equal(xp_conn_payload_crc(iov, 2), crc);
	iov[0] = (struct iovec){buf, 1000};
	iov[1] = (struct iovec){buf + 1000, sizeof(buf) - 1000};

	pair(&a, &b, &ra, &rb);
	xp_hdr_init(&h, XP_OP_WRITE, 1, 1);
	h.flags = XP_F_DCRC;
	h.length = sizeof(buf);
	h.payload_len = sizeof(buf);
	h.data_crc = crc;
	sent_calls = 0;
	/* The same payload to "two replicas" with one CRC. */
	assert_int_equal(xp_conn_send_crc(a, &h, iov, 2, on_sent, NULL), 0);
	h.req_id = 2;
	assert_int_equal(xp_conn_send_crc(a, &h, iov, 2, on_sent, NULL), 0);
	assert_int_equal(pump(a, b, &rb, 2), 0);
	assert_int_equal(rb.frames, 2);
	assert_true(rb.crc_ok);
	assert_int_equal(rb.last.data_crc, crc);
	assert_memory_equal(rb.payload, buf, sizeof(buf));
	assert_int_equal(sent_calls, 2);

	/* A wrong CRC is sent as given: the receiver flags the frame. */
	h.req_id = 3;
	h.data_crc = crc ^ 1;
	assert_int_equal(xp_conn_send_crc(a, &h, iov, 2, NULL, NULL), 0);
	assert_int_equal(pump(a, b, &rb, 3), 0);
	assert_int_equal(rb.frames, 3);
	assert_false(rb.crc_ok);

	/* Without XP_F_DCRC nothing is checked; lengths still are. */
	h.flags = 0;
	h.payload_len = 10;
	assert_int_equal(xp_conn_send_crc(a, &h, iov, 2, NULL, NULL), -EINVAL);
	free(rb.payload);
	xp_conn_free(a);
	xp_conn_free(b);
}

/* Received payloads of any length start XP_PAYLOAD_ALIGN-aligned. */
static void test_payload_alignment(void **state)
{
	static const uint32_t lens[] = {1, 511, 4096, 4097, 70000, 1 << 20};
	struct xp_conn *a, *b;
	struct rx ra = {0}, rb = {0};
	struct xp_hdr h;
	struct iovec iov;
	uint8_t *buf = malloc(1 << 20);
	size_t i;

	(void)state;
	assert_non_null(buf);
	memset(buf, 0x5a, 1 << 20);
	pair(&a, &b, &ra, &rb);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		xp_hdr_init(&h, XP_OP_WRITE, i, 1);
		h.flags = XP_F_DCRC;
		h.length = lens[i];
		h.payload_len = lens[i];
		iov = (struct iovec){buf, lens[i]};
		assert_int_equal(xp_conn_send(a, &h, &iov, 1, NULL, NULL), 0);
		assert_int_equal(pump(a, b, &rb, (int)i + 1), 0);
		assert_int_equal(rb.frames, (int)i + 1);
		assert_true(rb.crc_ok);
		assert_int_equal((uintptr_t)rb.payload % XP_PAYLOAD_ALIGN, 0);
		assert_memory_equal(rb.payload, buf, lens[i]);
	}
	free(rb.payload);
	free(buf);
	xp_conn_free(a);
	xp_conn_free(b);
}

/* Send one WRITE frame of @len bytes of @buf from @a (DCRC, or a bad CRC). */
static void send_payload(struct xp_conn *a, uint64_t id, uint8_t *buf,
			 size_t len, bool bad_crc)
{
	struct iovec v = {buf, len};
	struct xp_hdr h;

	xp_hdr_init(&h, XP_OP_WRITE, id, 1);
	h.flags = XP_F_DCRC;
	h.length = (uint32_t)len;
	h.payload_len = (uint32_t)len;
	h.data_crc = xp_conn_payload_crc(&v, 1) ^ (bad_crc ? 1u : 0u);
	assert_int_equal(xp_conn_send_crc(a, &h, &v, 1, NULL, NULL), 0);
}

/*
 * A placement receives the payload straight into the owner's pieces, both
 * through the 64 KiB buffer (small frames) and by readv (large ones); the
 * frame callback gets no allocation and the CRC verdict over the pieces.
 */
static void test_place_into_owner_memory(void **state)
{
	static const size_t lens[] = {1000, 200000, 3 << 20};
	size_t len_max = 3 << 20, i, k;
	uint8_t *src = malloc(len_max), *dst = malloc(len_max);
	struct xp_conn *a, *b;
	struct rx ra = {0}, rb = {0};
	struct iovec pl[3];

	(void)state;
	assert_non_null(src);
	assert_non_null(dst);
	for (i = 0; i < len_max; i++)
		src[i] = (uint8_t)(i * 11 + (i >> 9));
	pair(&a, &b, &ra, &rb);
	xp_conn_set_place(b, on_place);
	for (k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		size_t len = lens[k];

		memset(dst, 0, len_max);
		/* Three uneven pieces, out of order in dst. */
		pl[0] = (struct iovec){dst + len / 2, 7};
		pl[1] = (struct iovec){dst, len / 2};
		pl[2] = (struct iovec){dst + len / 2 + 7, len - len / 2 - 7};
		rb.pl = pl;
		rb.npl = 3;
		send_payload(a, k, src, len, false);
		assert_int_equal(pump(a, b, &rb, (int)k + 1), 0);
		assert_int_equal(rb.frames, (int)k + 1);
		assert_int_equal(rb.place_calls, (int)k + 1);
		assert_null(rb.payload);
		assert_true(rb.crc_ok);
		assert_int_equal(rb.last.payload_len, len);
		assert_memory_equal(dst + len / 2, src, 7);
		assert_memory_equal(dst, src + 7, len / 2);
		assert_memory_equal(dst + len / 2 + 7, src + 7 + len / 2,
				    len - len / 2 - 7);
		/* Nothing past the placement was touched. */
		assert_true(len == len_max || dst[len] == 0);
	}
	/* A corrupted payload is still reported as such. */
	pl[0] = (struct iovec){dst, 4096};
	rb.npl = 1;
	send_payload(a, 9, src, 4096, true);
	assert_int_equal(pump(a, b, &rb, 4), 0);
	assert_int_equal(rb.frames, 4);
	assert_false(rb.crc_ok);
	/* Declining (0) falls back to an allocation. */
	rb.pl = NULL;
	send_payload(a, 10, src, 4096, false);
	assert_int_equal(pump(a, b, &rb, 5), 0);
	assert_non_null(rb.payload);
	assert_true(rb.crc_ok);
	assert_memory_equal(rb.payload, src, 4096);
	free(rb.payload);
	free(src);
	free(dst);
	xp_conn_free(a);
	xp_conn_free(b);
}

/*
 * xp_conn_unplace in the middle of a payload: no byte is stored in the
 * owner's memory afterwards, the rest is dropped, the frame arrives with
 * no payload and a failed CRC, and the next frame is framed correctly.
 */
static void test_unplace_mid_payload(void **state)
{
	size_t len = 4 << 20, i;
	uint8_t *src = malloc(len), *dst = malloc(len);
	struct xp_conn *a, *b;
	struct rx ra = {0}, rb = {0};
	struct iovec pl;
	int spins;

	(void)state;
	assert_non_null(src);
	assert_non_null(dst);
	memset(src, 0x11, len);
	pair(&a, &b, &ra, &rb);
	xp_conn_set_place(b, on_place);
	pl = (struct iovec){dst, len};
	rb.pl = &pl;
	rb.npl = 1;
	send_payload(a, 1, src, len, false);
	/* Receive until part of the payload is in, not all of it. */
	for (spins = 0; spins < 1000 && !rb.place_calls; spins++) {
		assert_int_equal(xp_conn_service(a, POLLOUT), 0);
		assert_int_equal(xp_conn_service(b, POLLIN), 0);
	}
	assert_int_equal(rb.place_calls, 1);
	assert_int_equal(rb.frames, 0);
	/* The owner takes its memory back. */
	memset(dst, 0xee, len);
	xp_conn_unplace(b);
	xp_conn_unplace(b); /* twice is harmless */
	rb.pl = NULL;
	assert_int_equal(pump(a, b, &rb, 1), 0);
	assert_int_equal(rb.frames, 1);
	assert_null(rb.payload);
	assert_false(rb.crc_ok);
	for (i = 0; i < len; i++)
		if (dst[i] != 0xee)
			fail_msg("byte %zu written after unplace", i);
	/* The stream is still in step. */
	send_payload(a, 2, src, 5000, false);
	assert_int_equal(pump(a, b, &rb, 2), 0);
	assert_int_equal(rb.last.req_id, 2);
	assert_true(rb.crc_ok);
	assert_memory_equal(rb.payload, src, 5000);
	free(rb.payload);
	free(src);
	free(dst);
	xp_conn_free(a);
	xp_conn_free(b);
}

/* A placement that does not add up to the payload fails the connection. */
static void test_place_wrong_total(void **state)
{
	uint8_t src[100] = {0}, dst[50];
	struct xp_conn *a, *b;
	struct rx ra = {0}, rb = {0};
	struct iovec pl = {dst, sizeof(dst)};

	(void)state;
	pair(&a, &b, &ra, &rb);
	xp_conn_set_place(b, on_place);
	rb.pl = &pl;
	rb.npl = 1;
	send_payload(a, 1, src, sizeof(src), false);
	assert_int_equal(pump(a, b, &rb, 1), -EINVAL);
	assert_int_equal(rb.frames, 0);
	xp_conn_free(a);
	xp_conn_free(b);
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
		cmocka_unit_test(test_send_with_given_crc),
		cmocka_unit_test(test_payload_alignment),
		cmocka_unit_test(test_place_into_owner_memory),
		cmocka_unit_test(test_unplace_mid_payload),
		cmocka_unit_test(test_place_wrong_total),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
