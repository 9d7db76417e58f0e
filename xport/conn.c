/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Framed non-blocking TCP connection (see conn.h).
 *
 * Receive: bytes land in a 64 KiB ring-less buffer; headers are decoded
 * from it; a payload is copied out of it as far as it goes and the rest is
 * read straight into the payload's own allocation, so a 1 MiB write costs
 * one copy of at most 64 KiB plus direct reads. The payload's memory is
 * an allocation, or the owner's (xp_place_cb), or nothing (unplaced: the
 * bytes are dropped).
 *
 * Send: frames queue as (encoded header, caller's payload iovecs) and go
 * out with writev, never copying the payload.
 */
#include "conn.h"

#include "../lib/util/list.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RBUF_LEN (64u << 10)
#define TX_IOV_BATCH 64
/* Work done per xp_conn_service() call, so one busy peer cannot starve
 * the others sharing an event loop. */
#define RX_FRAME_BUDGET 64
#define RX_BYTE_BUDGET (8u << 20)

struct tx_frame {
	struct sb_list link; /* on the connection's txq */
	xp_sent_cb sent;
	void *sent_arg;
	int iovcnt; /* entries of iov still (partly) unsent from cur */
	int cur; /* first entry not yet fully sent */
	uint8_t hdr[XP_HDR_LEN];
	struct iovec iov[]; /* hdr first, then the payload pieces */
};

struct xp_conn {
	int fd;
	bool failed; /* no more sends; the owner frees */
	bool rx_paused;
	xp_frame_cb on_frame;
	void *arg;

	uint8_t *rbuf;
	size_t rstart, rend;
	bool have_hdr; /* cur is decoded; its payload is arriving */
	struct xp_hdr cur;
	uint8_t *payload; /* cur's payload allocation, NULL when placed */
	size_t pgot; /* payload bytes of cur received so far */
	xp_place_cb place;
	struct iovec pl[XP_PLACE_MAX]; /* cur's payload memory when placed */
	int npl; /* entries of pl in use, 0: not placed */
	bool drop; /* unplaced: the rest of cur's payload is dropped */

	struct sb_list txq; /* frames not yet fully written, in order */
	uint64_t rx_bytes, tx_bytes;
};

/* The oldest queued frame; the queue must not be empty. */
static struct tx_frame *tx_first(struct xp_conn *c)
{
	return container_of(c->txq.next, struct tx_frame, link);
}

struct xp_conn *xp_conn_new(int fd, xp_frame_cb on_frame, void *arg)
{
	struct xp_conn *c;
	int fl;

	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	sb_list_init(&c->txq);
	c->rbuf = malloc(RBUF_LEN);
	if (!c->rbuf)
		goto out_free_conn;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		goto out_free_rbuf;
	c->fd = fd;
	c->on_frame = on_frame;
	c->arg = arg;
	return c;

out_free_rbuf:
	free(c->rbuf);
out_free_conn:
	free(c);
	return NULL;
}

void xp_conn_free(struct xp_conn *c)
{
	struct tx_frame *f;

	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	while (!sb_list_empty(&c->txq)) {
		f = tx_first(c);
		sb_list_del(&f->link);
		if (f->sent)
			f->sent(f->sent_arg, -ECONNABORTED);
		free(f);
	}
	free(c->payload);
	free(c->rbuf);
	free(c);
}

void xp_conn_set_place(struct xp_conn *c, xp_place_cb place)
{
	c->place = place;
}

void xp_conn_unplace(struct xp_conn *c)
{
	if (!c->npl)
		return;
	c->npl = 0;
	c->drop = true;
}

int xp_conn_fd(const struct xp_conn *c)
{
	return c->fd;
}

bool xp_conn_want_write(const struct xp_conn *c)
{
	return !sb_list_empty(&c->txq) && !c->failed;
}

void xp_conn_pause_rx(struct xp_conn *c, bool paused)
{
	c->rx_paused = paused;
}

void xp_conn_counters(const struct xp_conn *c, uint64_t *rx, uint64_t *tx)
{
	*rx = c->rx_bytes;
	*tx = c->tx_bytes;
}

static uint32_t crc_iov(const struct iovec *iov, int iovcnt)
{
	uint32_t crc = 0xFFFFFFFFu;
	int i;

	for (i = 0; i < iovcnt; i++)
		crc = xp_crc32c_update(crc, iov[i].iov_base, iov[i].iov_len);
	return ~crc;
}

/* Write queued frames until the socket is full. 0 or -errno (failed). */
static int flush_tx(struct xp_conn *c)
{
	while (!sb_list_empty(&c->txq)) {
		struct iovec v[TX_IOV_BATCH];
		struct tx_frame *f;
		struct sb_list *pos;
		int n = 0;
		ssize_t w;

		for (pos = c->txq.next; pos != &c->txq && n < TX_IOV_BATCH;
		     pos = pos->next) {
			int i;

			f = container_of(pos, struct tx_frame, link);
			for (i = f->cur; i < f->iovcnt && n < TX_IOV_BATCH; i++)
				if (f->iov[i].iov_len)
					v[n++] = f->iov[i];
		}
		w = writev(c->fd, v, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			c->failed = true;
			return -errno;
		}
		c->tx_bytes += (uint64_t)w;
		while (!sb_list_empty(&c->txq)) {
			f = tx_first(c);
			while (f->cur < f->iovcnt) {
				struct iovec *e = &f->iov[f->cur];

				if ((size_t)w < e->iov_len) {
					e->iov_base = (char *)e->iov_base + w;
					e->iov_len -= (size_t)w;
					w = 0;
					break;
				}
				w -= (ssize_t)e->iov_len;
				e->iov_len = 0;
				f->cur++;
			}
			if (f->cur < f->iovcnt)
				break;
			sb_list_del(&f->link);
			if (f->sent)
				f->sent(f->sent_arg, 0);
			free(f);
		}
	}
	return 0;
}

uint32_t xp_conn_payload_crc(const struct iovec *iov, int iovcnt)
{
	return crc_iov(iov, iovcnt);
}

/* Queue a frame; @crc_given: h->data_crc is already right. */
static int queue_frame(struct xp_conn *c, const struct xp_hdr *h,
		       const struct iovec *iov, int iovcnt, bool crc_given,
		       xp_sent_cb sent, void *sent_arg)
{
	struct xp_hdr eh = *h;
	struct tx_frame *f;
	uint64_t total = 0;
	int i;

	if (c->failed)
		return -EPIPE;
	if (iovcnt < 0 || iovcnt > IOV_MAX || (iovcnt && !iov))
		return -EINVAL;
	for (i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (total != h->payload_len)
		return -EINVAL;

	f = malloc(sizeof(*f) + sizeof(struct iovec) * (size_t)(iovcnt + 1));
	if (!f)
		return -ENOMEM;
	if ((eh.flags & XP_F_DCRC) && !crc_given)
		eh.data_crc = crc_iov(iov, iovcnt);
	xp_hdr_encode(&eh, f->hdr);
	f->iov[0].iov_base = f->hdr;
	f->iov[0].iov_len = XP_HDR_LEN;
	if (iovcnt)
		memcpy(&f->iov[1], iov, sizeof(*iov) * (size_t)iovcnt);
	f->iovcnt = iovcnt + 1;
	f->cur = 0;
	f->sent = sent;
	f->sent_arg = sent_arg;
	sb_list_add_tail(&c->txq, &f->link);
	/* A write error shows up again as POLLERR/POLLHUP in service. */
	(void)flush_tx(c);
	return 0;
}

int xp_conn_send(struct xp_conn *c, const struct xp_hdr *h,
		 const struct iovec *iov, int iovcnt, xp_sent_cb sent,
		 void *sent_arg)
{
	return queue_frame(c, h, iov, iovcnt, false, sent, sent_arg);
}

int xp_conn_send_crc(struct xp_conn *c, const struct xp_hdr *h,
		     const struct iovec *iov, int iovcnt, xp_sent_cb sent,
		     void *sent_arg)
{
	return queue_frame(c, h, iov, iovcnt, true, sent, sent_arg);
}

/*
 * Room for a received payload of @len (> 0) bytes at an XP_PAYLOAD_ALIGN
 * address; aligned_alloc wants a multiple of the alignment. free() it.
 */
static uint8_t *payload_alloc(uint32_t len)
{
	size_t n = ((size_t)len + XP_PAYLOAD_ALIGN - 1) &
		   ~(size_t)(XP_PAYLOAD_ALIGN - 1);

	return aligned_alloc(XP_PAYLOAD_ALIGN, n);
}

/*
 * Entries of @v (XP_PLACE_MAX room) describing @iov[@cnt] from byte @off
 * on: where the rest of a placed payload goes.
 */
static int iov_tail(const struct iovec *iov, int cnt, size_t off,
		    struct iovec *v)
{
	int i, n = 0;

	for (i = 0; i < cnt; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		v[n].iov_base = (char *)iov[i].iov_base + off;
		v[n].iov_len = iov[i].iov_len - off;
		off = 0;
		n++;
	}
	return n;
}

/* Store @n bytes of cur's payload from @src at c->pgot. */
static void rx_store(struct xp_conn *c, const uint8_t *src, size_t n)
{
	struct iovec v[XP_PLACE_MAX];
	int i, cnt;

	if (c->npl) {
		cnt = iov_tail(c->pl, c->npl, c->pgot, v);
		for (i = 0; i < cnt && n; i++) {
			size_t l = v[i].iov_len < n ? v[i].iov_len : n;

			memcpy(v[i].iov_base, src, l);
			src += l;
			n -= l;
			c->pgot += l;
		}
	} else {
		if (!c->drop)
			memcpy(c->payload + c->pgot, src, n);
		c->pgot += n;
	}
}

/* Read the rest of a large payload straight into its memory. */
static ssize_t rx_read_direct(struct xp_conn *c)
{
	struct iovec v[XP_PLACE_MAX];

	if (c->npl)
		return readv(c->fd, v, iov_tail(c->pl, c->npl, c->pgot, v));
	return read(c->fd, c->payload + c->pgot, c->cur.payload_len - c->pgot);
}

/*
 * Ask the owner where cur's payload goes (a placement, checked to add up),
 * else allocate. 0, -ENOMEM, or -EINVAL for a placement that does not
 * match the payload (the owner's bug: fail the connection).
 */
static int rx_begin_payload(struct xp_conn *c)
{
	uint64_t total = 0;
	int i, n = 0;

	if (c->place)
		n = c->place(c->arg, &c->cur, c->pl);
	if (n < 0 || n > XP_PLACE_MAX)
		return -EINVAL;
	if (n) {
		for (i = 0; i < n; i++)
			total += c->pl[i].iov_len;
		if (total != c->cur.payload_len)
			return -EINVAL;
		c->npl = n;
		return 0;
	}
	c->payload = payload_alloc(c->cur.payload_len);
	return c->payload ? 0 : -ENOMEM;
}

/* Hand a complete frame (header in c->cur, payload wherever it went). */
static int deliver(struct xp_conn *c)
{
	void *payload = c->payload;
	bool crc_ok = true;

	if (c->drop) {
		crc_ok = false;
	} else if (c->cur.flags & XP_F_DCRC) {
		if (c->npl) {
			crc_ok = crc_iov(c->pl, c->npl) == c->cur.data_crc;
		} else if (payload) {
			struct iovec v = {payload, c->cur.payload_len};

			crc_ok = crc_iov(&v, 1) == c->cur.data_crc;
		}
	}
	c->payload = NULL;
	c->npl = 0;
	c->drop = false;
	c->pgot = 0;
	c->have_hdr = false;
	return c->on_frame(c->arg, &c->cur, payload, crc_ok);
}

/* Take what the buffer holds: headers and payload bytes. */
static int parse_rbuf(struct xp_conn *c, int *frames)
{
	int ret;

	for (;;) {
		size_t avail = c->rend - c->rstart;

		if (c->have_hdr) {
			size_t need = c->cur.payload_len - c->pgot;
			size_t n = avail < need ? avail : need;

			rx_store(c, c->rbuf + c->rstart, n);
			c->rstart += n;
			if (c->pgot < c->cur.payload_len)
				return 0;
		} else {
			if (avail < XP_HDR_LEN)
				return 0;
			ret = xp_hdr_decode(c->rbuf + c->rstart, avail,
					    &c->cur);
			if (ret < 0)
				return ret;
			c->rstart += XP_HDR_LEN;
			c->have_hdr = true;
			c->pgot = 0;
			if (c->cur.payload_len) {
				ret = rx_begin_payload(c);
				if (ret < 0)
					return ret;
				continue;
			}
		}
		ret = deliver(c);
		if (ret < 0)
			return ret;
		if (++*frames >= RX_FRAME_BUDGET || c->rx_paused)
			return 0;
	}
}

static int service_rx(struct xp_conn *c)
{
	size_t budget = RX_BYTE_BUDGET;
	int frames = 0;
	int ret;

	while (!c->rx_paused && frames < RX_FRAME_BUDGET && budget) {
		ssize_t r;

		ret = parse_rbuf(c, &frames);
		if (ret < 0)
			return ret;
		if (c->rx_paused || frames >= RX_FRAME_BUDGET)
			break;
		if (c->rstart == c->rend)
			c->rstart = c->rend = 0;

		if (c->have_hdr && !c->drop &&
		    c->cur.payload_len - c->pgot >= RBUF_LEN) {
			/* Large payload: read straight into it. */
			r = rx_read_direct(c);
			if (r > 0) {
				c->pgot += (size_t)r;
				if (c->pgot == c->cur.payload_len) {
					ret = deliver(c);
					if (ret < 0)
						return ret;
					frames++;
				}
			}
		} else {
			if (c->rstart && c->rend == RBUF_LEN) {
				memmove(c->rbuf, c->rbuf + c->rstart,
					c->rend - c->rstart);
				c->rend -= c->rstart;
				c->rstart = 0;
			}
			r = read(c->fd, c->rbuf + c->rend, RBUF_LEN - c->rend);
			if (r > 0)
				c->rend += (size_t)r;
		}
		if (r == 0)
			return -ECONNRESET;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -errno;
		}
		c->rx_bytes += (uint64_t)r;
		budget -= (size_t)r < budget ? (size_t)r : budget;
	}
	/* Frames already buffered are delivered even when the socket is
	 * quiet; a paused connection keeps them for later. */
	if (!c->rx_paused && frames < RX_FRAME_BUDGET)
		return parse_rbuf(c, &frames);
	return 0;
}

int xp_conn_service(struct xp_conn *c, uint32_t revents)
{
	int ret;

	if (c->failed)
		return -EPIPE;
	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		ret = service_rx(c);
		if (ret < 0) {
			c->failed = true;
			return ret;
		}
	}
	if (!sb_list_empty(&c->txq)) {
		ret = flush_tx(c);
		if (ret < 0)
			return ret;
	}
	if (c->failed)
		return -EPIPE;
	return 0;
}

bool xp_conn_rx_pending(const struct xp_conn *c)
{
	if (c->rx_paused)
		return false;
	if (c->have_hdr)
		return c->pgot + (c->rend - c->rstart) >= c->cur.payload_len;
	return c->rend - c->rstart >= XP_HDR_LEN;
}
