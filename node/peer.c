/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Node-to-node sessions: this node as a gateway towards another node,
 * for CHUNK_PUSH (push.c; docs/protocol.md, "The node-to-node session").
 * One session per target (node id, address, port), shared by the pushes
 * to it and cached while it is used; the handshake is the gateway's
 * (lib/engine/session.c): HELLO with a random sender id and no features,
 * the target's proof and node id checked, then AUTH.
 *
 * Session state:
 *
 *   CONNECTING ─ POLLOUT, connected ─> HELLO_SENT ─ proof and id right ─>
 *   AUTH_READY ─ AUTH queued ─> AUTH_SENT ─ AUTH answered OK ─> UP
 *
 *   any state ─ socket or frame error, handshake over PEER_HS_MS, idle
 *               PEER_IDLE_MS, nd_peer_abort ─> FAILED
 *
 * FAILED is final: the socket leaves epoll and nothing more is sent.
 * After the epoll batch, nd_peer_reap closes the connection (its sent
 * callbacks run) and then fails every request of the session with the
 * session's error; the session is freed once no user holds it, after the
 * batch in which it went (events of the batch may still point at it).
 * Nothing here frees a connection from inside its own xp_conn_service.
 *
 * Requests wait on waitq until UP, then go out at once (push.c bounds how
 * many it has in flight); their answers are matched on inflight by
 * req_id, and must carry the request's opcode and LUN.
 *
 * SECURITY: the target is not trusted before its proof. Every frame is
 * decoded by xp_conn (xp_hdr_decode, data CRC) and checked here with
 * xp_hdr_check; any frame that is not the expected answer fails the
 * session.
 *
 * Threading: only the loop thread (single-threaded node, see
 * server_internal.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../lib/util/clock.h"
#include "../lib/util/log.h"
#include "../xport/tcp.h"
#include "server_internal.h"

#define PEER_HS_MS 5000 /* connect to AUTH answered */
#define PEER_IDLE_MS 60000 /* unused this long: closed */
#define PEER_MAX 64 /* sessions kept; the longest idle one makes room */

enum peer_state {
	PEER_CONNECTING = 0,
	PEER_HELLO_SENT,
	PEER_AUTH_READY,
	PEER_AUTH_SENT,
	PEER_UP,
	PEER_FAILED,
};

struct nd_peer {
	struct sb_evtag tag; /* ND_EV_PEER */
	struct nd_server *srv;
	struct sb_list link; /* on srv->peers, then srv->peers_dead */
	struct xp_push_target t; /* who: node id, address, port */
	enum peer_state state;
	int err; /* FAILED: what its requests fail with */
	int fd; /* the socket; owned by xc once that exists; -1 closed */
	struct xp_conn *xc;
	uint32_t events; /* registered epoll mask, 0: not registered */
	unsigned int users; /* nd_peer_get references */
	uint64_t hs_deadline_ms;
	uint64_t last_used_ms;
	uint64_t next_id;
	uint64_t sender_id; /* our HELLO's, random */
	uint8_t nc[XP_NONCE_LEN]; /* our nonce */
	uint8_t hello[XP_HELLO_LEN]; /* our HELLO payload, until sent */
	uint8_t proof[XP_PROOF_LEN]; /* our AUTH payload, until sent */
	struct sb_list waitq; /* submitted before UP */
	struct sb_list inflight; /* sent, answer pending */
};

static const char *peer_name(const struct nd_peer *p, char *buf, size_t len)
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0,    0,
					     0, 0, 0, 0, 0xff, 0xff};
	char a[INET6_ADDRSTRLEN];

	if (!memcmp(p->t.addr, v4mapped, sizeof(v4mapped)))
		inet_ntop(AF_INET, p->t.addr + 12, a, sizeof(a));
	else
		inet_ntop(AF_INET6, p->t.addr, a, sizeof(a));
	snprintf(buf, len, "node %" PRIu64 " (%s port %u)", p->t.target_id, a,
		 p->t.port);
	return buf;
}

static bool peer_idle(const struct nd_peer *p)
{
	return !p->users && sb_list_empty(&p->waitq) &&
	       sb_list_empty(&p->inflight);
}

/*
 * @p fails with @err (what its requests get). Safe anywhere, also inside
 * its own callbacks: it only stops I/O; nd_peer_reap does the rest.
 */
static void peer_fail(struct nd_peer *p, int err, const char *why)
{
	struct nd_server *s = p->srv;
	char name[96];

	if (p->state == PEER_FAILED)
		return;
	if (why)
		sb_err_rl("session to %s: %s", peer_name(p, name, sizeof(name)),
			  why);
	p->state = PEER_FAILED;
	p->err = err;
	if (p->events) {
		(void)sb_evtag_ctl(s->epfd, EPOLL_CTL_DEL, p->fd, 0, NULL);
		p->events = 0;
	}
	s->peer_reap = true;
}

static void peer_update_events(struct nd_peer *p)
{
	struct nd_server *s = p->srv;
	uint32_t want;
	int ret;

	if (p->state == PEER_FAILED)
		return;
	if (p->state == PEER_CONNECTING)
		want = EPOLLOUT;
	else
		want = EPOLLIN | (xp_conn_want_write(p->xc) ? EPOLLOUT : 0);
	if (want == p->events)
		return;
	ret = sb_evtag_ctl(s->epfd, p->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
			   p->fd, want, &p->tag);
	if (ret) {
		peer_fail(p, -EHOSTUNREACH, "epoll_ctl failed");
		return;
	}
	p->events = want;
}

/* Close @p's socket (its queued frames' sent callbacks run). */
static void peer_close_conn(struct nd_peer *p)
{
	if (p->xc)
		xp_conn_free(p->xc); /* closes fd */
	else if (p->fd >= 0)
		close(p->fd);
	p->xc = NULL;
	p->fd = -1;
}

/* Unreferenced and failed: off srv->peers, freed after the batch. */
static void peer_bury(struct nd_peer *p)
{
	struct nd_server *s = p->srv;

	sb_list_del(&p->link);
	sb_list_add_tail(&s->peers_dead, &p->link);
	s->npeers--;
}

/* ---- frames ------------------------------------------------------------- */

static void peer_sent(void *arg, int err)
{
	struct nd_peer_req *r = arg;

	(void)err; /* a failed send fails the session, which fails r */
	r->in_tx = false;
}

/* Hand @r (on inflight) to the connection. 0 or -errno. */
static int peer_send(struct nd_peer *p, struct nd_peer_req *r)
{
	struct xp_hdr h;
	struct iovec iov;
	int ret;

	xp_hdr_init(&h, r->opcode, r->req_id, r->lun_id);
	h.flags = r->flags;
	h.offset = r->offset;
	h.length = r->length;
	h.epoch = r->epoch;
	if (r->opcode == XP_OP_WRITE) {
		h.payload_len = r->length;
		h.flags |= XP_F_DCRC;
		iov.iov_base = (void *)(uintptr_t)r->payload;
		iov.iov_len = r->length;
		r->in_tx = true;
	}
	ret = xp_conn_send(p->xc, &h, &iov, h.payload_len ? 1 : 0,
			   h.payload_len ? peer_sent : NULL, r);
	if (ret)
		r->in_tx = false;
	return ret;
}

static void peer_pump(struct nd_peer *p)
{
	while (p->state == PEER_UP && !sb_list_empty(&p->waitq)) {
		struct nd_peer_req *r =
			container_of(p->waitq.next, struct nd_peer_req, link);

		sb_list_del(&r->link);
		sb_list_add_tail(&p->inflight, &r->link);
		if (peer_send(p, r))
			peer_fail(p, -EHOSTUNREACH, "cannot queue a request");
	}
}

static int peer_send_small(struct nd_peer *p, uint8_t op, uint8_t *buf,
			   uint32_t len)
{
	struct xp_hdr h;
	struct iovec iov = {buf, len};

	xp_hdr_init(&h, op, p->next_id++, 0);
	h.payload_len = len;
	return xp_conn_send(p->xc, &h, &iov, 1, NULL, NULL);
}

/* HELLO answer: the version, the target's proof and id; AUTH prepared. */
static int peer_on_hello(struct nd_peer *p, const struct xp_hdr *h,
			 const uint8_t *payload)
{
	struct nd_server *s = p->srv;
	uint8_t want[XP_PROOF_LEN];
	struct xp_hello hl;
	char name[96];

	if (h->status != XP_ST_OK || h->payload_len != XP_HELLO_ANSWER_LEN ||
	    xp_hello_decode(payload, XP_HELLO_LEN, &hl) < 0 ||
	    hl.max_ver < XP_VERSION_MIN || hl.min_ver > XP_VERSION_MAX) {
		sb_err_rl("session to %s: HELLO refused or malformed",
			  peer_name(p, name, sizeof(name)));
		return -EPROTO;
	}
	if (xp_auth_proof(&s->secret, true, p->nc, hl.nonce, want))
		return -EIO;
	if (!xp_auth_equal(want, payload + XP_HELLO_LEN)) {
		sb_err_rl("session to %s: its proof is wrong (another cluster "
			  "secret?)",
			  peer_name(p, name, sizeof(name)));
		return -EPERM;
	}
	if (hl.sender_id != p->t.target_id) {
		sb_err_rl("session to %s: answered as node %" PRIu64,
			  peer_name(p, name, sizeof(name)), hl.sender_id);
		return -EPROTO;
	}
	if (xp_auth_proof(&s->secret, false, p->nc, hl.nonce, p->proof))
		return -EIO;
	p->state = PEER_AUTH_READY;
	return 0;
}

/* The answer to a request in flight. */
static int peer_on_answer(struct nd_peer *p, const struct xp_hdr *h)
{
	struct nd_peer_req *r = NULL;
	struct sb_list *pos;

	sb_list_for_each(pos, &p->inflight) {
		struct nd_peer_req *it =
			container_of(pos, struct nd_peer_req, link);

		if (it->req_id == h->req_id) {
			r = it;
			break;
		}
	}
	/* Nothing is ever abandoned here: an unknown answer is a lie. */
	if (!r || r->opcode != h->opcode || r->lun_id != h->lun_id ||
	    r->in_tx || h->payload_len)
		return -EPROTO;
	sb_list_del(&r->link);
	p->last_used_ms = sb_now_ms();
	r->done(r, h->status == XP_ST_OK ? 0 : xp_status_to_errno(h->status));
	/* r->done may have failed the session: read no further. */
	return p->state == PEER_FAILED ? -EPIPE : 0;
}

/* xp_frame_cb of every session. */
static int peer_on_frame(void *arg, const struct xp_hdr *h, void *payload,
			 bool crc_ok)
{
	struct nd_peer *p = arg;
	int ret = -EPROTO;

	if (p->state == PEER_FAILED) {
		ret = -EPIPE;
		goto out_free;
	}
	if (!crc_ok || !(h->flags & XP_F_RESP) || xp_hdr_check(h) < 0)
		goto out_free;
	switch (p->state) {
	case PEER_HELLO_SENT:
		if (h->opcode == XP_OP_HELLO)
			ret = peer_on_hello(p, h, payload);
		break;
	case PEER_AUTH_SENT:
		if (h->opcode != XP_OP_AUTH)
			break;
		if (h->status != XP_ST_OK) {
			ret = -EPERM;
			break;
		}
		p->state = PEER_UP;
		ret = 0;
		break;
	case PEER_UP:
		ret = peer_on_answer(p, h);
		break;
	default:
		break;
	}
out_free:
	free(payload);
	return ret;
}

/* The socket of a CONNECTING session is writable: connected or refused. */
static void peer_connected(struct nd_peer *p)
{
	struct xp_hello hl = {0};
	char why[64];
	int ret;

	ret = xp_tcp_connect_done(p->fd);
	if (ret) {
		snprintf(why, sizeof(why), "cannot connect: %s",
			 strerror(-ret));
		peer_fail(p, -EHOSTUNREACH, why);
		return;
	}
	p->xc = xp_conn_new(p->fd, peer_on_frame, p);
	if (!p->xc) {
		peer_fail(p, -EHOSTUNREACH, "out of memory");
		return;
	}
	ret = xp_auth_nonce(p->nc);
	if (!ret) {
		hl.min_ver = XP_VERSION_MIN;
		hl.max_ver = XP_VERSION_MAX;
		hl.sender_id = p->sender_id;
		memcpy(hl.nonce, p->nc, XP_NONCE_LEN);
		xp_hello_encode(&hl, p->hello);
		ret = peer_send_small(p, XP_OP_HELLO, p->hello, XP_HELLO_LEN);
	}
	if (ret) {
		peer_fail(p, -EHOSTUNREACH, "cannot send HELLO");
		return;
	}
	p->state = PEER_HELLO_SENT;
	peer_update_events(p);
}

void nd_peer_event(struct sb_evtag *tag, uint32_t events)
{
	struct nd_peer *p = container_of(tag, struct nd_peer, tag);
	int ret;

	if (p->state == PEER_FAILED)
		return;
	if (p->state == PEER_CONNECTING) {
		peer_connected(p);
		return;
	}
	ret = xp_conn_service(p->xc, events);
	if (ret < 0) {
		char why[64];

		snprintf(why, sizeof(why), "failed: %s", strerror(-ret));
		peer_fail(p, ret == -EPERM ? -EPERM : -EHOSTUNREACH,
			  ret == -EPIPE ? NULL : why);
		return;
	}
	if (p->state == PEER_AUTH_READY) {
		if (peer_send_small(p, XP_OP_AUTH, p->proof, XP_PROOF_LEN)) {
			peer_fail(p, -EHOSTUNREACH, "cannot send AUTH");
			return;
		}
		p->state = PEER_AUTH_SENT;
	}
	peer_pump(p);
	peer_update_events(p);
}

/* ---- the API for push.c ------------------------------------------------- */

static bool same_target(const struct xp_push_target *a,
			const struct xp_push_target *b)
{
	return a->target_id == b->target_id && a->port == b->port &&
	       !memcmp(a->addr, b->addr, sizeof(a->addr));
}

/* At PEER_MAX sessions: close the one unused the longest, if any. */
static void peer_make_room(struct nd_server *s)
{
	struct nd_peer *oldest = NULL;
	struct sb_list *pos;

	if (s->npeers < PEER_MAX)
		return;
	sb_list_for_each(pos, &s->peers) {
		struct nd_peer *p = container_of(pos, struct nd_peer, link);

		if (p->state != PEER_FAILED && peer_idle(p) &&
		    (!oldest || p->last_used_ms < oldest->last_used_ms))
			oldest = p;
	}
	if (oldest)
		peer_fail(oldest, -EHOSTUNREACH, NULL);
}

int nd_peer_get(struct nd_server *s, const struct xp_push_target *t,
		struct nd_peer **out)
{
	struct sockaddr_storage ss;
	struct sb_list *pos;
	struct nd_peer *p;
	unsigned int sslen;
	char name[96];
	int fd;

	sb_list_for_each(pos, &s->peers) {
		p = container_of(pos, struct nd_peer, link);
		if (p->state != PEER_FAILED && same_target(&p->t, t)) {
			p->users++;
			*out = p;
			return 0;
		}
	}
	peer_make_room(s);
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	sb_evtag_init(&p->tag, ND_EV_PEER);
	sb_list_init(&p->waitq);
	sb_list_init(&p->inflight);
	p->srv = s;
	p->t = *t;
	p->fd = -1;
	p->next_id = 1;
	if (getrandom(&p->sender_id, sizeof(p->sender_id), 0) !=
	    (ssize_t)sizeof(p->sender_id)) {
		free(p);
		return -EIO;
	}
	sslen = xp_addr_sockaddr(t->addr, t->port, &ss);
	fd = xp_tcp_connect_sa((const struct sockaddr *)&ss, sslen);
	if (fd < 0) {
		sb_err_rl("session to %s: cannot connect: %s",
			  peer_name(p, name, sizeof(name)), strerror(-fd));
		free(p);
		return -EHOSTUNREACH;
	}
	p->fd = fd;
	p->state = PEER_CONNECTING;
	p->hs_deadline_ms = sb_now_ms() + PEER_HS_MS;
	p->last_used_ms = sb_now_ms();
	p->users = 1;
	sb_list_add_tail(&s->peers, &p->link);
	s->npeers++;
	peer_update_events(p);
	*out = p;
	return 0;
}

void nd_peer_put(struct nd_peer *p)
{
	if (--p->users)
		return;
	p->last_used_ms = sb_now_ms();
	/* A failed one with requests left goes in nd_peer_reap. */
	if (p->state == PEER_FAILED && peer_idle(p))
		peer_bury(p);
}

void nd_peer_submit(struct nd_peer *p, struct nd_peer_req *r)
{
	r->req_id = p->next_id++;
	r->in_tx = false;
	p->last_used_ms = sb_now_ms();
	if (p->state != PEER_UP) {
		/* FAILED: nd_peer_reap fails it after this batch. */
		sb_list_add_tail(&p->waitq, &r->link);
		if (p->state == PEER_FAILED)
			p->srv->peer_reap = true;
		return;
	}
	sb_list_add_tail(&p->inflight, &r->link);
	if (peer_send(p, r)) {
		peer_fail(p, -EHOSTUNREACH, "cannot queue a request");
		return;
	}
	peer_update_events(p);
}

void nd_peer_abort(struct nd_peer *p)
{
	peer_fail(p, -EHOSTUNREACH, NULL);
}

void nd_peer_tick(struct nd_server *s, uint64_t now)
{
	struct sb_list *pos;

	sb_list_for_each(pos, &s->peers) {
		struct nd_peer *p = container_of(pos, struct nd_peer, link);

		if (p->state == PEER_FAILED)
			continue;
		if (p->state != PEER_UP && now >= p->hs_deadline_ms)
			peer_fail(p, -EHOSTUNREACH, "no handshake within 5 s");
		else if (p->state == PEER_UP && peer_idle(p) &&
			 now - p->last_used_ms >= PEER_IDLE_MS)
			peer_fail(p, -EHOSTUNREACH, NULL);
	}
}

/* Fail every request of failed @p (held by the caller). */
static void peer_fail_requests(struct nd_peer *p)
{
	struct sb_list l;

	sb_list_init(&l);
	sb_list_splice_tail(&p->waitq, &l);
	sb_list_splice_tail(&p->inflight, &l);
	while (!sb_list_empty(&l)) {
		struct nd_peer_req *r =
			container_of(l.next, struct nd_peer_req, link);

		sb_list_del(&r->link);
		r->done(r, p->err);
	}
}

void nd_peer_reap(struct nd_server *s)
{
	struct sb_list *pos, *next;

	while (s->peer_reap) {
		s->peer_reap = false;
	restart:
		sb_list_for_each_safe(pos, next, &s->peers) {
			struct nd_peer *p =
				container_of(pos, struct nd_peer, link);

			if (p->state != PEER_FAILED)
				continue;
			peer_close_conn(p);
			if (!sb_list_empty(&p->waitq) ||
			    !sb_list_empty(&p->inflight)) {
				/* Callbacks may get, put, submit: hold it. */
				p->users++;
				peer_fail_requests(p);
				p->users--;
				if (!p->users && peer_idle(p))
					peer_bury(p);
				goto restart;
			}
			if (!p->users)
				peer_bury(p);
		}
	}
}

void nd_peer_free_dead(struct nd_server *s)
{
	while (!sb_list_empty(&s->peers_dead)) {
		struct nd_peer *p =
			container_of(s->peers_dead.next, struct nd_peer, link);

		sb_list_del(&p->link);
		peer_close_conn(p);
		free(p);
	}
}

void nd_peer_abort_all(struct nd_server *s)
{
	struct sb_list *pos;

	sb_list_for_each(pos, &s->peers)
		peer_fail(container_of(pos, struct nd_peer, link),
			  -EHOSTUNREACH, NULL);
}
