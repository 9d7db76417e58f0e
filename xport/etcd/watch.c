/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Watches over etcd's gateway: POST /v3/watch with a create_request, then
 * the reply streams for as long as the watch lives (codec.h's stream
 * decoder cuts it into messages). The transfer runs in a curl multi
 * handle of its own, driven only from xp_kv_watch_next, so a wait honours
 * its timeout and nothing runs in between.
 *
 *   open:  each endpoint in turn until one answers the create_request
 *          (its first message, "created", within the handle's timeout)
 *   next:  queued messages first: events -> returned; compacted ->
 *          -ERANGE; canceled -> -ECANCELED; stream error, end of the
 *          transfer, a member gone -> -EHOSTUNREACH; the end is sticky
 *
 * A watch owns copies of what it needs (endpoints, timeout): once open it
 * does not touch its handle, so another thread may use it.
 */
#include "etcd_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "lib/util/clock.h"

/* Probes on an idle watch connection, seconds: a member that vanished
 * without closing it is noticed. */
#define XPE_WATCH_KEEPIDLE 5L

struct xpe_watch {
	struct xp_kv_watch w; /* first: what callers hold */
	struct xpe_eps eps; /* a copy of the handle's */
	unsigned int timeout_ms; /* to connect and to be answered */
	char *body; /* the create_request */
	struct curl_slist *hdrs;
	CURLM *multi;
	CURL *easy; /* the transfer, NULL between attempts */
	struct xpe_wstream *ws; /* its decoded messages */
	struct xpe_rbuf eb; /* the body of an answer other than 200 */
	long status; /* HTTP status, 0 until known */
	int feed_err; /* the stream decoder's error */
	bool done; /* the transfer finished ... */
	CURLcode res; /* ... with this */
	int end; /* sticky: 0 while the watch lives, else its -errno */
	int64_t end_rev; /* -ERANGE: the oldest revision kept */
};

static size_t watch_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct xpe_watch *w = arg;
	size_t n = size * nmemb;
	int ret;

	if (!w->status)
		curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &w->status);
	if (w->status != 200)
		return xpe_rbuf_write(p, size, nmemb, &w->eb);
	ret = xpe_wstream_feed(w->ws, p, n);
	if (ret) {
		w->feed_err = ret;
		return 0;
	}
	return n;
}

/* Drop the transfer (between attempts and at close). */
static void transfer_stop(struct xpe_watch *w)
{
	if (w->easy) {
		curl_multi_remove_handle(w->multi, w->easy);
		curl_easy_cleanup(w->easy);
		w->easy = NULL;
	}
	xpe_wstream_free(w->ws);
	w->ws = NULL;
	w->eb.len = 0;
	w->eb.over = false;
	w->status = 0;
	w->feed_err = 0;
	w->done = false;
	w->res = CURLE_OK;
}

/* Start the POST to endpoint @i. 0 or -ENOMEM. */
static int transfer_start(struct xpe_watch *w, size_t i)
{
	char url[XPE_EP_LEN + 16];
	CURL *e;

	snprintf(url, sizeof(url), "%s/v3/watch", w->eps.url[i]);
	w->ws = xpe_wstream_new();
	e = curl_easy_init();
	if (!w->ws || !e)
		goto out_nomem;
	if (xpe_easy_setup(e, &w->eb, w->hdrs, w->timeout_ms) ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, watch_write) ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, w) ||
	    curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, XPE_WATCH_KEEPIDLE) ||
	    curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, XPE_WATCH_KEEPIDLE) ||
	    curl_easy_setopt(e, CURLOPT_URL, url) ||
	    curl_easy_setopt(e, CURLOPT_POSTFIELDS, w->body))
		goto out_nomem;
	if (curl_multi_add_handle(w->multi, e) != CURLM_OK)
		goto out_nomem;
	w->easy = e;
	return 0;

out_nomem:
	curl_easy_cleanup(e);
	return -ENOMEM;
}

/* Wait at most @wait_ms for the transfer, then move it on. */
static void pump(struct xpe_watch *w, int wait_ms)
{
	int running, left;
	CURLMsg *m;

	if (wait_ms > 0)
		curl_multi_poll(w->multi, NULL, 0, wait_ms, NULL);
	curl_multi_perform(w->multi, &running);
	while ((m = curl_multi_info_read(w->multi, &left))) {
		if (m->msg == CURLMSG_DONE && m->easy_handle == w->easy) {
			w->done = true;
			w->res = m->data.result;
		}
	}
}

/* Why a finished transfer ended, as the watch's -errno. */
static int transfer_end(struct xpe_watch *w)
{
	int ret;

	if (w->feed_err)
		return w->feed_err;
	if (w->status && w->status != 200) {
		ret = xpe_parse_error(w->eb.p, w->eb.len, NULL, 0);
		return ret == -EAGAIN ? -EHOSTUNREACH : ret;
	}
	/* A stream that ends without a cancel: its member went away. */
	return -EHOSTUNREACH;
}

static int remaining_ms(uint64_t deadline)
{
	uint64_t now = sb_now_ms();

	if (now >= deadline)
		return 0;
	return deadline - now > (uint64_t)INT32_MAX ? INT32_MAX
						    : (int)(deadline - now);
}

/* The first answer of the endpoint being tried: 0 once a message is
 * queued ("created" is consumed), or -errno. */
static int await_created(struct xpe_watch *w)
{
	uint64_t deadline = sb_now_ms() + w->timeout_ms;
	const struct xpe_wmsg *m;
	struct xpe_wmsg created;

	pump(w, 0);
	for (;;) {
		m = xpe_wstream_peek(w->ws);
		if (m && m->kind == XPE_W_CREATED)
			xpe_wstream_pop(w->ws, &created);
		if (m)
			return 0;
		if (w->done)
			return transfer_end(w);
		if (!remaining_ms(deadline))
			return -EHOSTUNREACH;
		pump(w, remaining_ms(deadline));
	}
}

/* Try each endpoint, the handle's current one first. */
static int watch_connect(struct xpe_watch *w, struct xpe_client *c)
{
	size_t k, i;
	int ret = -EHOSTUNREACH;

	for (k = 0; k < w->eps.n; k++) {
		i = (w->eps.cur + k) % w->eps.n;
		ret = transfer_start(w, i);
		if (!ret)
			ret = await_created(w);
		if (!ret) {
			c->eps.cur = i;
			w->eps.cur = i;
			return 0;
		}
		transfer_stop(w);
		if (ret != -EHOSTUNREACH)
			return ret;
	}
	return ret;
}

void xpe_watch_close(struct xp_kv_watch *kw)
{
	struct xpe_watch *w = (struct xpe_watch *)kw;

	transfer_stop(w);
	curl_multi_cleanup(w->multi);
	curl_slist_free_all(w->hdrs);
	xpe_eps_free(&w->eps);
	free(w->eb.p);
	free(w->body);
	free(w);
}

int xpe_watch_open(struct xp_kv *kv, const char *prefix, int64_t start_rev,
		   struct xp_kv_watch **out)
{
	struct xpe_client *c = (struct xpe_client *)kv;
	struct xpe_watch *w;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->w.ops = kv->ops;
	w->timeout_ms = c->timeout_ms;
	w->eb.max = XPE_ERRBODY_MAX;
	ret = xpe_body_watch(prefix, start_rev, &w->body);
	if (ret) {
		free(w);
		return ret;
	}
	ret = xpe_eps_copy(&c->eps, &w->eps);
	w->hdrs = xpe_json_headers();
	w->multi = curl_multi_init();
	if (!ret && (!w->hdrs || !w->multi))
		ret = -ENOMEM;
	if (!ret)
		ret = watch_connect(w, c);
	if (ret) {
		xpe_watch_close(&w->w);
		return ret;
	}
	*out = &w->w;
	return 0;
}

/* Take what is queued: 1 with events in @out, the watch's -errno once it
 * ended, 0 when nothing waits. */
static int deliver(struct xpe_watch *w, struct xp_kv_events *out)
{
	struct xpe_wmsg m;

	while (!w->end && xpe_wstream_pop(w->ws, &m)) {
		switch (m.kind) {
		case XPE_W_EVENTS:
			*out = m.ev;
			return 1;
		case XPE_W_COMPACTED:
			w->end = -ERANGE;
			w->end_rev = m.rev;
			break;
		case XPE_W_CANCELED:
			w->end = -ECANCELED;
			break;
		case XPE_W_ERROR:
			w->end = m.err;
			break;
		case XPE_W_CREATED:
		case XPE_W_PROGRESS:
			break;
		}
	}
	if (!w->end && w->done)
		w->end = transfer_end(w);
	if (w->end == -ERANGE)
		out->rev = w->end_rev;
	return w->end;
}

int xpe_watch_next(struct xp_kv_watch *kw, int timeout_ms,
		   struct xp_kv_events *out)
{
	struct xpe_watch *w = (struct xpe_watch *)kw;
	uint64_t deadline = sb_now_ms() + (uint64_t)timeout_ms;
	int ret;

	pump(w, 0);
	for (;;) {
		ret = deliver(w, out);
		if (ret)
			return ret > 0 ? 0 : ret;
		if (!remaining_ms(deadline))
			return 0;
		pump(w, remaining_ms(deadline));
	}
}
