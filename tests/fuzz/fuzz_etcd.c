/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: every reply parser of the etcd codec (range, txn,
 * header, lease grant, keepalive, gRPC error) on the input as a whole,
 * and the watch stream decoder on the input cut into chunks of sizes
 * that vary with the input's length. What a parser accepts must hold its
 * promises (codec.h): keys of 1..XPE_KEY_MAX bytes without NUL, sorted
 * lists, NUL-terminated values, events in revision order; what it
 * refuses leaves nothing behind.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xport/etcd/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_item(const struct xp_kv_item *it)
{
	size_t klen = strnlen(it->key, XPE_KEY_MAX + 1);

	if (!klen || klen > XPE_KEY_MAX || !it->val || it->val[it->vlen] ||
	    it->vlen > XPE_VAL_MAX || it->mod_rev < 0 || it->version < 0)
		abort();
}

static void check_list(const struct xp_kv_list *l, bool sorted)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		check_item(&l->items[i]);
		if (sorted && i &&
		    strcmp(l->items[i - 1].key, l->items[i].key) >= 0)
			abort();
	}
}

static void fuzz_replies(const char *s, size_t n)
{
	static const struct xp_kv_op ops[] = {
		{.kind = XP_KV_PUT, .key = "a"},
		{.kind = XP_KV_GET, .key = "a"},
		{.kind = XP_KV_GET, .key = "b"},
	};
	struct xp_kv_txn_res res;
	struct xp_kv_list l;
	int64_t a, b;
	bool more;
	char msg[64];

	if (!xpe_parse_range(s, n, &l, &more)) {
		check_list(&l, true);
		if (l.rev < 1)
			abort();
	} else if (l.n || l.items || more) {
		abort();
	}
	xp_kv_list_free(&l);
	if (!xpe_parse_txn(s, n, ops, 3, ops + 1, 1, &res))
		check_list(&res.got, true);
	else if (res.got.n || res.got.items)
		abort();
	xp_kv_list_free(&res.got);
	(void)xpe_parse_header(s, n, &a);
	if (!xpe_parse_lease_grant(s, n, &a, &b) && (a < 1 || b < 1))
		abort();
	if (!xpe_parse_keepalive(s, n, 7, &b) && b < 1)
		abort();
	(void)xpe_parse_error(s, n, msg, sizeof(msg));
	if (!memchr(msg, '\0', sizeof(msg)))
		abort();
}

static void drain(struct xpe_wstream *ws)
{
	struct xpe_wmsg m;
	size_t i;

	while (xpe_wstream_pop(ws, &m)) {
		for (i = 0; i < m.ev.n; i++) {
			check_item(&m.ev.ev[i].kv);
			if (i &&
			    m.ev.ev[i].kv.mod_rev < m.ev.ev[i - 1].kv.mod_rev)
				abort();
		}
		if (m.kind == XPE_W_EVENTS && (!m.ev.n || m.rev != m.ev.rev))
			abort();
		if (m.kind != XPE_W_EVENTS && m.ev.n)
			abort();
		xp_kv_events_free(&m.ev);
	}
}

static void fuzz_stream(const uint8_t *data, size_t size)
{
	struct xpe_wstream *ws;
	size_t chunk = size % 97 + 1, off = 0;

	ws = xpe_wstream_new();
	if (!ws)
		return;
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;

		if (xpe_wstream_feed(ws, (const char *)data + off, n))
			break;
		drain(ws);
		off += n;
		chunk = chunk * 3 % 251 + 1;
	}
	drain(ws);
	xpe_wstream_free(ws);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1u << 20))
		return 0;
	fuzz_replies((const char *)data, size);
	fuzz_stream(data, size);
	return 0;
}
