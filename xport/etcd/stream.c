/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The watch stream (see codec.h). The gateway answers POST /v3/watch
 * with one JSON object per message, back to back, each
 *
 *   {"result": {"header": {"revision"}, "created", "canceled",
 *               "compact_revision", "events": [{"type", "kv"}]}}
 *
 * or {"error": {"grpc_code", "message"}} when the stream itself fails.
 * An event's type is absent for PUT (the enum's zero) and "DELETE" for a
 * delete, whose kv carries only the key and the revision of the delete.
 * One json_tokener follows the bytes across however the network cut
 * them; a complete message is decoded at once and queued, so what is
 * queued has passed every check.
 */
#include "codec.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "jsonval.h"
#include "lib/util/list.h"

struct wnode {
	struct sb_list link; /* on xpe_wstream.q */
	struct xpe_wmsg m;
};

struct xpe_wstream {
	json_tokener *tok;
	size_t msg_bytes; /* bytes fed into the message being parsed */
	int err; /* sticky: the first error */
	struct sb_list q; /* decoded messages, oldest first */
};

struct xpe_wstream *xpe_wstream_new(void)
{
	struct xpe_wstream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->tok = json_tokener_new();
	if (!s->tok) {
		free(s);
		return NULL;
	}
	json_tokener_set_flags(s->tok,
			       JSON_TOKENER_STRICT |
				       JSON_TOKENER_ALLOW_TRAILING_CHARS);
	sb_list_init(&s->q);
	return s;
}

void xpe_wstream_free(struct xpe_wstream *s)
{
	struct xpe_wmsg m;

	if (!s)
		return;
	while (xpe_wstream_pop(s, &m))
		xp_kv_events_free(&m.ev);
	json_tokener_free(s->tok);
	free(s);
}

bool xpe_wstream_pop(struct xpe_wstream *s, struct xpe_wmsg *out)
{
	struct wnode *n;

	if (sb_list_empty(&s->q))
		return false;
	n = sb_list_entry(s->q.next, struct wnode, link);
	sb_list_del(&n->link);
	*out = n->m;
	free(n);
	return true;
}

const struct xpe_wmsg *xpe_wstream_peek(const struct xpe_wstream *s)
{
	if (sb_list_empty(&s->q))
		return NULL;
	return &sb_list_entry(s->q.next, struct wnode, link)->m;
}

/* One event into @ev: a PUT's kv is a whole consistent item, a DELETE's
 * only its key and revision. */
static int event_decode(json_object *e, struct xp_kv_event *ev)
{
	const char *type;
	json_object *kv;
	size_t tlen;
	int ret;

	memset(ev, 0, sizeof(*ev));
	if (!e || !json_object_is_type(e, json_type_object))
		return -EPROTO;
	ret = xpe_get_str(e, "type", &type, &tlen);
	if (ret)
		return ret;
	if (!type || (tlen == 3 && !memcmp(type, "PUT", 3)))
		ev->type = XP_KV_EV_PUT;
	else if (tlen == 6 && !memcmp(type, "DELETE", 6))
		ev->type = XP_KV_EV_DELETE;
	else
		return -EPROTO;
	ret = xpe_get_obj(e, "kv", true, &kv);
	if (!ret)
		ret = xpe_item_decode(kv, &ev->kv);
	if (ret)
		return ret;
	if (ev->type == XP_KV_EV_DELETE) {
		ev->kv.vlen = 0;
		ev->kv.val[0] = '\0';
		ev->kv.create_rev = 0;
		ev->kv.version = 0;
		ev->kv.lease = 0;
		if (ev->kv.mod_rev >= 1)
			return 0;
	} else if (ev->kv.create_rev >= 1 &&
		   ev->kv.mod_rev >= ev->kv.create_rev && ev->kv.version >= 1) {
		return 0;
	}
	xpe_item_clear(&ev->kv);
	return -EPROTO;
}

/* The events of @arr into @out, in revision order; out->rev is the last
 * event's revision (a revision never spans two messages). */
static int events_decode(json_object *arr, struct xp_kv_events *out)
{
	size_t i, n = json_object_array_length(arr);
	int ret;

	out->ev = calloc(n, sizeof(*out->ev));
	if (!out->ev)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		ret = event_decode(json_object_array_get_idx(arr, i),
				   &out->ev[i]);
		if (ret)
			return ret;
		out->n++;
		if (out->ev[i].kv.mod_rev < out->rev)
			return -EPROTO;
		out->rev = out->ev[i].kv.mod_rev;
	}
	return 0;
}

static int result_decode(json_object *r, struct xpe_wmsg *m)
{
	bool created, canceled;
	json_object *arr;
	int64_t compact;
	int ret;

	ret = xpe_header_rev(r, false, &m->rev);
	if (!ret)
		ret = xpe_get_bool(r, "created", &created);
	if (!ret)
		ret = xpe_get_bool(r, "canceled", &canceled);
	if (!ret)
		ret = xpe_get_i64(r, "compact_revision", false, &compact);
	if (!ret)
		ret = xpe_get_arr(r, "events", &arr);
	if (ret)
		return ret;
	if (arr && json_object_array_length(arr) == 0)
		arr = NULL;
	if (compact) {
		m->kind = XPE_W_COMPACTED;
		m->rev = compact;
		return 0;
	}
	if (canceled) {
		m->kind = XPE_W_CANCELED;
		return 0;
	}
	if (arr && !created) {
		m->kind = XPE_W_EVENTS;
		ret = events_decode(arr, &m->ev);
		m->rev = m->ev.rev;
		return ret;
	}
	m->kind = created ? XPE_W_CREATED : XPE_W_PROGRESS;
	return arr || m->rev < 1 ? -EPROTO : 0;
}

/* Decode one message @o into a queued node. */
static int msg_queue(struct xpe_wstream *s, json_object *o)
{
	json_object *r, *e;
	struct wnode *n;
	int64_t code;
	int ret;

	if (!o || !json_object_is_type(o, json_type_object))
		return -EPROTO;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	ret = xpe_get_obj(o, "error", false, &e);
	if (!ret && e) {
		/* unavailable: the member is; anything else: the watch */
		n->m.kind = XPE_W_ERROR;
		ret = xpe_stream_error(e, &code);
		n->m.err = xpe_grpc_errno(code) == -EAGAIN ? -EHOSTUNREACH
							   : -ECANCELED;
	} else if (!ret) {
		ret = xpe_get_obj(o, "result", true, &r);
		if (!ret)
			ret = result_decode(r, &n->m);
	}
	if (ret) {
		xp_kv_events_free(&n->m.ev);
		free(n);
		return ret;
	}
	sb_list_add_tail(&s->q, &n->link);
	return 0;
}

/* Parse at most INT_MAX bytes of @p: how many were used, or -errno. */
static long feed_some(struct xpe_wstream *s, const char *p, int n)
{
	enum json_tokener_error jerr;
	json_object *o;
	size_t used;
	int ret;

	o = json_tokener_parse_ex(s->tok, p, n);
	jerr = json_tokener_get_error(s->tok);
	used = json_tokener_get_parse_end(s->tok);
	if (!o && jerr == json_tokener_continue) {
		s->msg_bytes += (size_t)n;
		return s->msg_bytes > XPE_REPLY_MAX ? -EPROTO : n;
	}
	if (jerr != json_tokener_success) {
		json_object_put(o);
		return -EPROTO;
	}
	s->msg_bytes += used;
	json_tokener_reset(s->tok);
	if (s->msg_bytes > XPE_REPLY_MAX || used == 0)
		ret = -EPROTO;
	else
		ret = msg_queue(s, o);
	json_object_put(o);
	s->msg_bytes = 0;
	return ret ? ret : (long)used;
}

int xpe_wstream_feed(struct xpe_wstream *s, const char *p, size_t n)
{
	long used;
	int chunk;

	if (s->err)
		return s->err;
	while (n) {
		chunk = n > INT_MAX ? INT_MAX : (int)n;
		used = feed_some(s, p, chunk);
		if (used < 0) {
			s->err = (int)used;
			return s->err;
		}
		p += used;
		n -= (size_t)used;
	}
	return 0;
}
