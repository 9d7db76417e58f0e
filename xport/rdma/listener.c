/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node's RDMA listener and its one-time tokens (docs/protocol.md,
 * "RDMA payload"; docs/security.md). A token is issued per TCP session
 * (its RDMA_OFFER answer): random bytes, compared in constant time,
 * valid XP_RDMA_TOKEN_TTL_MS, spent by the first connect request that
 * names it, and good only with the gateway id of the session it was
 * issued to. Anything else is rejected and counted.
 *
 *   connect request --> on_request: token issued here, unspent,
 *                       unexpired, same gateway? --no--> reject
 *                         | yes
 *                       xpr_conn_accept (conn.c) --> pending list
 *                         | state callback (up or down)
 *                       handed to the owner
 *
 * One thread owns a listener and its connections: the node server's loop.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/clock.h"
#include "lib/util/log.h"
#include "xport/auth.h"
#include "rdma_int.h"

/* What an rdma_cm rejection or error without a status reports (node). */
#define NODE_REJECTED 0 /* the event's status */
#define NODE_CM_ERROR (-ECONNABORTED)

struct xp_rdma_listener *xp_rdma_listen(const struct xp_verbs_ops *ops,
					const struct sockaddr *addr,
					const struct xp_rdma_params *p)
{
	struct xp_rdma_listener *l;
	int err;

	if (!ops || !addr || !xpr_params_ok(p)) {
		errno = EINVAL;
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->ops = ops;
	l->params = *p;
	l->now_ms = sb_now_ms;
	sb_list_init(&l->pending);
	err = xpr_cm_open(ops, &l->ch, &l->id, l);
	if (err)
		goto out_free_listener;
	err = ops->bind_addr(l->id, addr);
	if (err)
		goto out_close_cm;
	err = ops->listen(l->id, 64);
	if (err)
		goto out_close_cm;
	return l;

out_close_cm:
	xpr_cm_close(ops, l->ch, l->id);
out_free_listener:
	free(l);
	errno = -err;
	return NULL;
}

void xp_rdma_listener_free(struct xp_rdma_listener *l)
{
	if (!l)
		return;
	while (!sb_list_empty(&l->pending))
		xp_rdma_conn_free(container_of(l->pending.next,
					       struct xp_rdma_conn, lnode));
	xpr_cm_close(l->ops, l->ch, l->id);
	explicit_bzero(l->toks, sizeof(l->toks));
	free(l);
}

int xp_rdma_listener_fd(const struct xp_rdma_listener *l)
{
	return l->ops->event_channel_fd(l->ch);
}

void xp_rdma_listener_set_clock(struct xp_rdma_listener *l,
				uint64_t (*now_ms)(void))
{
	l->now_ms = now_ms ? now_ms : sb_now_ms;
}

uint64_t xp_rdma_listener_refused(const struct xp_rdma_listener *l)
{
	return l->refused;
}

static void token_clear(struct xpr_token *t)
{
	explicit_bzero(t, sizeof(*t));
}

int xp_rdma_token_issue(struct xp_rdma_listener *l, const void *session,
			uint64_t gateway_id, xp_rdma_state_cb cb, void *arg,
			uint8_t token[XP_RDMA_TOKEN_LEN])
{
	uint64_t now = l->now_ms();
	struct xpr_token *slot = NULL;
	unsigned int i;
	int err;

	if (!session)
		return -EINVAL;
	xp_rdma_token_revoke(l, session);
	for (i = 0; i < XP_RDMA_TOKENS_MAX; i++) {
		struct xpr_token *t = &l->toks[i];

		if (t->session && now > t->expires_ms)
			token_clear(t);
		if (!t->session && !slot)
			slot = t;
	}
	if (!slot)
		return -EAGAIN;
	err = xp_auth_nonce(slot->token);
	if (err) {
		token_clear(slot);
		return err;
	}
	slot->session = session;
	slot->gateway_id = gateway_id;
	slot->expires_ms = now + XP_RDMA_TOKEN_TTL_MS;
	slot->cb = cb;
	slot->arg = arg;
	memcpy(token, slot->token, XP_RDMA_TOKEN_LEN);
	return 0;
}

int xp_rdma_token_revoke(struct xp_rdma_listener *l, const void *session)
{
	struct sb_list *it, *next;
	unsigned int i;
	int n = 0;

	for (i = 0; i < XP_RDMA_TOKENS_MAX; i++) {
		if (session && l->toks[i].session == session) {
			token_clear(&l->toks[i]);
			n++;
		}
	}
	sb_list_for_each_safe(it, next, &l->pending) {
		struct xp_rdma_conn *c =
			container_of(it, struct xp_rdma_conn, lnode);

		if (c->session == session)
			xp_rdma_conn_free(c);
	}
	return n;
}

int xp_rdma_token_confirm(struct xp_rdma_listener *l, const void *session)
{
	struct xp_rdma_conn *c;
	struct sb_list *it;

	sb_list_for_each(it, &l->pending) {
		c = container_of(it, struct xp_rdma_conn, lnode);
		if (c->session != session || c->state != ST_CONNECTING)
			continue;
		/* rdma_accept left the QP ready to send (RTS). */
		c->state = ST_UP;
		xpr_report(c, 0);
		return 1;
	}
	return 0;
}

/* Find the live token equal to @tok, comparing every slot in full. */
static struct xpr_token *token_find(struct xp_rdma_listener *l,
				    const uint8_t *tok)
{
	struct xpr_token *found = NULL;
	unsigned int i;

	for (i = 0; i < XP_RDMA_TOKENS_MAX; i++) {
		struct xpr_token *t = &l->toks[i];

		if (t->session && xp_auth_equal(t->token, tok) && !found)
			found = t;
	}
	return found;
}

/*
 * A connect request: accept it only for a token issued here, unspent,
 * unexpired, presented by the gateway of the session it was issued to.
 * Returns the id to destroy once the event is acknowledged (refused or
 * failed), or NULL when a connection now owns it.
 */
static struct rdma_cm_id *on_request(struct xp_rdma_listener *l,
				     const struct xp_verbs_cm_event *ev)
{
	struct xp_rdma_priv pd;
	struct xp_rdma_conn *c;
	struct xpr_token tk, *t;
	const char *why;
	int err;

	if (xp_rdma_priv_decode(ev->priv, ev->priv_len, &pd)) {
		why = "malformed private data";
		goto out_reject;
	}
	t = token_find(l, pd.token);
	if (!t) {
		why = "unknown or spent token";
		goto out_reject;
	}
	/* Spent now, whatever happens next: a token is tried once. */
	tk = *t;
	token_clear(t);
	if (l->now_ms() > tk.expires_ms) {
		why = "expired token";
		goto out_reject_tk;
	}
	if (tk.gateway_id != pd.gateway_id) {
		why = "token of another session";
		goto out_reject_tk;
	}
	c = xpr_conn_accept(l, ev, &tk, &why);
	if (!c)
		goto out_reject_tk;
	sb_list_add_head(&l->pending, &c->lnode);
	explicit_bzero(&tk, sizeof(tk));
	return NULL;

out_reject_tk:
	explicit_bzero(&tk, sizeof(tk));
out_reject:
	l->refused++;
	sb_err_rl("rdma: refused a connect request: %s", why);
	err = l->ops->reject(ev->id);
	if (err)
		sb_err_rl("rdma: reject: %s", strerror(-err));
	return ev->id;
}

int xp_rdma_listener_service(struct xp_rdma_listener *l)
{
	const struct xp_verbs_ops *ops = l->ops;
	struct xp_verbs_cm_event ev;
	struct rdma_cm_id *drop;
	struct xp_rdma_conn *c;
	int err;

	while ((err = ops->get_cm_event(l->ch, &ev)) == 0) {
		drop = NULL;
		if (ev.type == XP_CM_CONNECT_REQUEST) {
			drop = on_request(l, &ev);
		} else if (ev.id == l->id) {
			if (ev.type == XP_CM_DEVICE_REMOVAL)
				l->dead = -ENODEV;
		} else {
			c = ops->id_context(ev.id);
			if (c)
				xpr_conn_cm_event(c, &ev, NODE_REJECTED,
						  NODE_CM_ERROR);
		}
		ops->ack_cm_event(&ev);
		/* librdmacm: an id's events must be acked before destroying. */
		if (drop)
			ops->destroy_id(drop);
	}
	if (err != -EAGAIN)
		return err;
	return l->dead;
}
