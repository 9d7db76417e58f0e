/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The etcd client's private types: the endpoint list, the handle (one
 * curl easy handle, so one connection cache, used by one thread at a
 * time) and the HTTP exchange with failover (http.c), the calls of the
 * ops table (client.c) and the watch (watch.c). The JSON is codec.h's.
 *
 *   xpe_post(path, body)
 *     for each endpoint, the one that answered last first:
 *       connect failed, timed out, or a gRPC "unavailable" body
 *         -> the next endpoint (a write only if it was never sent)
 *       HTTP 200 -> the body;  another status -> its gRPC error's errno
 *     none answered -> -EHOSTUNREACH
 */
#ifndef SPANBLK_XPORT_ETCD_INT_H
#define SPANBLK_XPORT_ETCD_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "xport/kv.h"

#define XPE_EP_MAX 16 /* endpoints of one handle */
#define XPE_EP_LEN 256 /* bytes of one endpoint URL */
#define XPE_PAGE 1000 /* keys per range page */
#define XPE_ERRBODY_MAX 4096u /* bytes kept of an error body */

struct xpe_eps {
	char *url[XPE_EP_MAX]; /* "http://host:port", no trailing '/' */
	size_t n;
	size_t cur; /* the one that answered last: tried first */
};

/* A reply being received: grows up to a cap, NUL-terminated. */
struct xpe_rbuf {
	char *p;
	size_t len;
	size_t cap;
	size_t max; /* longer replies fail the transfer */
	bool over; /* the reply passed @max */
};

struct xpe_client {
	struct xp_kv kv; /* first: what callers hold */
	struct xpe_eps eps;
	unsigned int timeout_ms; /* per HTTP exchange */
	int64_t page; /* keys per range page */
	CURL *easy; /* its connection cache */
	struct curl_slist *hdrs; /* Content-Type, no Expect */
	struct xpe_rbuf rb; /* the last reply */
};

/* Whether a request may go to another endpoint after it may have been
 * received (reads, lease grants and renewals) or only if it never left
 * (writes: a second copy could run twice). */
enum xpe_kind { XPE_RETRY, XPE_ONCE };

/* Parse @s (comma-separated URLs, http:// or https://) into @eps. 0 or
 * -EINVAL (reason in @err), -ENOMEM. */
int xpe_eps_parse(const char *s, struct xpe_eps *eps, char *err, size_t errlen);
int xpe_eps_copy(const struct xpe_eps *from, struct xpe_eps *to);
void xpe_eps_free(struct xpe_eps *eps);

/* curl_global_init once per process: 0 or -ENOMEM. */
int xpe_curl_global(void);

/* The options every exchange of ours sets on @easy (receiving into @rb,
 * sending @hdrs, connect bounded by @timeout_ms). 0 or -ENOMEM. */
int xpe_easy_setup(CURL *easy, struct xpe_rbuf *rb, struct curl_slist *hdrs,
		   unsigned int timeout_ms);
struct curl_slist *xpe_json_headers(void); /* NULL: no memory */
/* curl's write callback into a struct xpe_rbuf. */
size_t xpe_rbuf_write(char *p, size_t size, size_t nmemb, void *arg);

/*
 * POST @body to @path with failover (the sketch above). 0 and the reply
 * in c->rb (valid until the next exchange), or -errno: -EHOSTUNREACH,
 * -EPROTO (an answer that is not HTTP 200 nor a gRPC error, a reply
 * too long), -ENOMEM, or the errno of a gRPC error (xpe_parse_error).
 */
int xpe_post(struct xpe_client *c, const char *path, const char *body,
	     enum xpe_kind kind);

int xpe_watch_open(struct xp_kv *kv, const char *prefix, int64_t start_rev,
		   struct xp_kv_watch **out);
int xpe_watch_next(struct xp_kv_watch *w, int timeout_ms,
		   struct xp_kv_events *out);
void xpe_watch_close(struct xp_kv_watch *w);

/* Keys per page of a prefix read of @kv, an etcd handle (tests page
 * small ranges with it). @keys >= 1. */
void xpe_set_page(struct xp_kv *kv, int64_t keys);

#endif
