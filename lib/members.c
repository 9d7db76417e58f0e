// SPDX-License-Identifier: Apache-2.0
/* The nodes' membership records, read from the cluster store. */
#include "members.h"
#include "util/log.h"
#include "../xport/kv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* The entry for @id in @ms, added (zeroed) when new; NULL: no memory. */
static struct sb_member *entry(struct sb_members *ms, uint32_t id, size_t cap)
{
	size_t i;

	for (i = 0; i < ms->n; i++)
		if (ms->m[i].id == id)
			return &ms->m[i];
	if (ms->n == cap)
		return NULL;
	memset(&ms->m[ms->n], 0, sizeof(ms->m[0]));
	ms->m[ms->n].id = id;
	return &ms->m[ms->n++];
}

static int cmp_id(const void *a, const void *b)
{
	const struct sb_member *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* Fold one key of the node prefix into @ms. */
static void fold(struct sb_members *ms, size_t cap, const char *prefix,
		 const struct xp_kv_item *it)
{
	struct sb_member *m;
	uint32_t id;
	int kind;

	kind = xp_rec_key_parse_node(it->key, prefix, &id);
	if (kind <= 0) {
		if (kind < 0)
			sb_warn("cluster store: ignoring key %s", it->key);
		return;
	}
	m = entry(ms, id, cap);
	if (!m)
		return;
	if (kind == XP_REC_ALIVE) {
		m->up = !xp_rec_alive_decode(it->val, it->vlen, &m->alive);
		m->damaged |= !m->up;
	} else if (kind == XP_REC_STATE) {
		m->state_mod = it->mod_rev;
		m->state_bad =
			xp_rec_state_decode(it->val, it->vlen, &m->state) != 0;
		m->damaged |= m->state_bad;
	} else {
		m->known = !xp_rec_gen_decode(it->val, it->vlen, &m->gen);
		m->damaged |= !m->known;
	}
	if (m->damaged)
		sb_warn("cluster store: %s does not decode", it->key);
}

int sb_members_read(struct xp_kv *kv, const char *prefix,
		    struct sb_members *out)
{
	char key[XP_REC_KEY_MAX];
	struct xp_kv_list l = {0};
	size_t i;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = xp_rec_key_nodes(key, sizeof(key), prefix);
	if (!ret)
		ret = xp_kv_get(kv, key, true, &l);
	if (ret)
		return ret;
	out->rev = l.rev;
	if (l.n) {
		out->m = calloc(l.n, sizeof(out->m[0]));
		if (!out->m) {
			xp_kv_list_free(&l);
			return -ENOMEM;
		}
	}
	for (i = 0; i < l.n; i++)
		fold(out, l.n, prefix, &l.items[i]);
	xp_kv_list_free(&l);
	if (out->n)
		qsort(out->m, out->n, sizeof(out->m[0]), cmp_id);
	return 0;
}

const struct sb_member *sb_members_find(const struct sb_members *ms,
					uint32_t id)
{
	size_t i;

	for (i = 0; i < ms->n; i++)
		if (ms->m[i].id == id)
			return &ms->m[i];
	return NULL;
}

void sb_members_free(struct sb_members *ms)
{
	if (!ms)
		return;
	free(ms->m);
	ms->m = NULL;
	ms->n = 0;
}

/* The state key's mod revision of node @id in @ms (0: no key, no node). */
static int64_t state_mod(const struct sb_members *ms, uint32_t id)
{
	const struct sb_member *m = sb_members_find(ms, id);

	return m ? m->state_mod : 0;
}

bool sb_members_states_equal(const struct sb_members *a,
			     const struct sb_members *b)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		if (a->m[i].state_mod != state_mod(b, a->m[i].id))
			return false;
	for (i = 0; i < b->n; i++)
		if (b->m[i].state_mod != state_mod(a, b->m[i].id))
			return false;
	return true;
}
