/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP to etcd's gateway over libcurl (see etcd_int.h for the failover
 * sketch): the endpoint list, the options of every exchange, the reply
 * buffer with its cap, one POST tried on each endpoint in turn.
 *
 * A write that may have reached a member is never sent to another: etcd
 * could apply both copies (the first one's answer was lost, not
 * necessarily its effect). Such a write ends in -EHOSTUNREACH and the
 * caller reads again to learn what happened.
 */
#include "etcd_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "lib/util/errbuf.h"

void xpe_eps_free(struct xpe_eps *eps)
{
	size_t i;

	for (i = 0; i < eps->n; i++)
		free(eps->url[i]);
	memset(eps, 0, sizeof(*eps));
}

/* One URL of @len bytes at @s, trimmed of blanks and of a final '/'. */
static int ep_add(struct xpe_eps *eps, const char *s, size_t len, char *err,
		  size_t errlen)
{
	while (len && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len && s[len - 1] == '/')
		len--;
	if ((strncmp(s, "http://", 7) && strncmp(s, "https://", 8)) ||
	    len <= 8 || len >= XPE_EP_LEN || memchr(s, ' ', len)) {
		sb_errf(err, errlen,
			"etcd endpoint '%.*s': want http://host:port",
			(int)(len < 64 ? len : 64), s);
		return -EINVAL;
	}
	if (eps->n == XPE_EP_MAX) {
		sb_errf(err, errlen, "more than %d etcd endpoints", XPE_EP_MAX);
		return -EINVAL;
	}
	eps->url[eps->n] = strndup(s, len);
	if (!eps->url[eps->n])
		return -ENOMEM;
	eps->n++;
	return 0;
}

int xpe_eps_parse(const char *s, struct xpe_eps *eps, char *err, size_t errlen)
{
	const char *comma;
	int ret;

	memset(eps, 0, sizeof(*eps));
	if (!s || !*s) {
		sb_errf(err, errlen, "no etcd endpoint");
		return -EINVAL;
	}
	for (;;) {
		comma = strchr(s, ',');
		ret = ep_add(eps, s, comma ? (size_t)(comma - s) : strlen(s),
			     err, errlen);
		if (ret) {
			xpe_eps_free(eps);
			return ret;
		}
		if (!comma)
			return 0;
		s = comma + 1;
	}
}

int xpe_eps_copy(const struct xpe_eps *from, struct xpe_eps *to)
{
	size_t i;

	memset(to, 0, sizeof(*to));
	for (i = 0; i < from->n; i++) {
		to->url[i] = strdup(from->url[i]);
		if (!to->url[i]) {
			xpe_eps_free(to);
			return -ENOMEM;
		}
		to->n++;
	}
	to->cur = from->cur;
	return 0;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_res;

static void curl_init_once(void)
{
	curl_init_res = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int xpe_curl_global(void)
{
	pthread_once(&curl_once, curl_init_once);
	return curl_init_res == CURLE_OK ? 0 : -ENOMEM;
}

struct curl_slist *xpe_json_headers(void)
{
	struct curl_slist *h, *h2;

	h = curl_slist_append(NULL, "Content-Type: application/json");
	if (!h)
		return NULL;
	/* No "Expect: 100-continue" round trip before large bodies. */
	h2 = curl_slist_append(h, "Expect:");
	if (!h2) {
		curl_slist_free_all(h);
		return NULL;
	}
	return h2;
}

size_t xpe_rbuf_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct xpe_rbuf *rb = arg;
	size_t n = size * nmemb, ncap;
	char *np;

	if (n > rb->max - rb->len) {
		rb->over = true;
		return 0;
	}
	if (rb->len + n + 1 > rb->cap) {
		ncap = rb->cap ? rb->cap : 4096;
		while (ncap < rb->len + n + 1)
			ncap *= 2;
		np = realloc(rb->p, ncap);
		if (!np)
			return 0;
		rb->p = np;
		rb->cap = ncap;
	}
	memcpy(rb->p + rb->len, p, n);
	rb->len += n;
	rb->p[rb->len] = '\0';
	return n;
}

int xpe_easy_setup(CURL *easy, struct xpe_rbuf *rb, struct curl_slist *hdrs,
		   unsigned int timeout_ms)
{
	CURLcode r = CURLE_OK;

#define SET(opt, val)                                         \
	do {                                                  \
		if (r == CURLE_OK)                            \
			r = curl_easy_setopt(easy, opt, val); \
	} while (0)
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_NOPROXY, "*");
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_HTTPHEADER, hdrs);
	SET(CURLOPT_WRITEFUNCTION, xpe_rbuf_write);
	SET(CURLOPT_WRITEDATA, rb);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_POST, 1L);
#undef SET
	return r == CURLE_OK ? 0 : -ENOMEM;
}

/* Whether a failed transfer never sent its request: it failed to
 * resolve or connect. */
static bool never_sent(CURL *easy, CURLcode res)
{
	curl_off_t pre = 0;

	if (res == CURLE_COULDNT_CONNECT || res == CURLE_COULDNT_RESOLVE_HOST)
		return true;
	if (res != CURLE_OPERATION_TIMEDOUT)
		return false;
	curl_easy_getinfo(easy, CURLINFO_PRETRANSFER_TIME_T, &pre);
	return pre == 0;
}

/* One POST to @url: 0 and *@status, -EHOSTUNREACH (*@sent: whether the
 * request may have left), -EPROTO (reply too long), -ENOMEM. */
static int post_one(struct xpe_client *c, const char *url, const char *body,
		    long *status, bool *sent)
{
	CURLcode res;

	*status = 0;
	*sent = false;
	c->rb.len = 0;
	c->rb.over = false;
	if (c->rb.p)
		c->rb.p[0] = '\0';
	if (curl_easy_setopt(c->easy, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, body) != CURLE_OK ||
	    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE,
			     (curl_off_t)strlen(body)) != CURLE_OK)
		return -ENOMEM;
	res = curl_easy_perform(c->easy);
	if (res == CURLE_OK) {
		curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, status);
		return 0;
	}
	if (res == CURLE_WRITE_ERROR && c->rb.over)
		return -EPROTO;
	if (res == CURLE_OUT_OF_MEMORY || res == CURLE_WRITE_ERROR)
		return -ENOMEM;
	*sent = !never_sent(c->easy, res);
	return -EHOSTUNREACH;
}

int xpe_post(struct xpe_client *c, const char *path, const char *body,
	     enum xpe_kind kind)
{
	char url[XPE_EP_LEN + 64];
	size_t k, i;
	long status;
	bool sent;
	int ret;

	for (k = 0; k < c->eps.n; k++) {
		i = (c->eps.cur + k) % c->eps.n;
		snprintf(url, sizeof(url), "%s%s", c->eps.url[i], path);
		ret = post_one(c, url, body, &status, &sent);
		if (ret == -EHOSTUNREACH) {
			if (kind == XPE_ONCE && sent)
				return ret;
			continue;
		}
		if (ret)
			return ret;
		c->eps.cur = i;
		if (status == 200)
			return c->rb.len ? 0 : -EPROTO;
		ret = xpe_parse_error(c->rb.p, c->rb.len, NULL, 0);
		if (ret != -EAGAIN)
			return ret;
		if (kind == XPE_ONCE)
			return -EHOSTUNREACH;
	}
	return -EHOSTUNREACH;
}
