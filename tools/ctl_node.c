// SPDX-License-Identifier: Apache-2.0
/*
 * spanblkctl node out|in (tools/ctl_node.h). The order is what makes it
 * safe (docs/recovery.md, "Node out and in"): every chunk whose replica
 * set gains a node under the new state is recorded stale for that node
 * first, each record by a compare-and-swap on its mod revision, and only
 * then is the node's state written (a compare on the state key's mod
 * revision: two tools cannot both change it). A gateway that sees the new
 * state reads the records again before it places by it, so no new
 * replica is ever read before resync has copied it.
 */
#include "tools/ctl_node.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/members.h"
#include "lib/place.h"
#include "tools/cli.h"
#include "xport/kv.h"
#include "xport/records.h"

#define STORE_TIMEOUT_MS 5000
#define CAS_TRIES 8
#define LOST_SHOWN 5
#define BATCH 64 /* records per transaction (XP_KV_TXN_MAX / 2) */

/* The stale records, sorted by (lun, chunk). */
struct rec {
	uint64_t lun, chunk;
	uint64_t mask; /* node indices */
	int64_t mod; /* its mod revision when read (0: none) */
};

struct plan {
	const struct sb_cluster *cl;
	struct xp_kv *kv;
	struct rec *recs;
	size_t nrecs;
	int64_t mods[SB_MAX_NODES]; /* each node's state key as read (0: none) */
	struct rec batch[BATCH]; /* marks to write: mask = the bits to add */
	size_t nbatch;
	size_t marked, lost, unmarked;
};

static int cmp_rec(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	if (x->lun != y->lun)
		return x->lun < y->lun ? -1 : 1;
	return x->chunk < y->chunk ? -1 : x->chunk > y->chunk;
}

/* Read every stale record into p->recs. 0 or -errno. */
static int load_recs(struct plan *p)
{
	char key[XP_REC_KEY_MAX];
	struct xp_kv_list l = {0};
	struct xp_rec_stale st;
	size_t i;
	int ret;

	ret = xp_rec_key_stale_prefix(key, sizeof(key), p->cl->etcd_prefix,
				      false, 0);
	if (!ret)
		ret = xp_kv_get(p->kv, key, true, &l);
	if (ret)
		return ret;
	p->recs = calloc(l.n ? l.n : 1, sizeof(*p->recs));
	if (!p->recs) {
		xp_kv_list_free(&l);
		return -ENOMEM;
	}
	for (i = 0; i < l.n; i++) {
		struct rec *r = &p->recs[p->nrecs];

		if (xp_rec_key_parse_stale(l.items[i].key, p->cl->etcd_prefix,
					   &r->lun, &r->chunk) ||
		    xp_rec_stale_decode(l.items[i].val, l.items[i].vlen, &st)) {
			fprintf(stderr, "spanblkctl: %s does not decode\n",
				l.items[i].key);
			xp_kv_list_free(&l);
			return -EPROTO; /* never guess */
		}
		r->mask = sb_cluster_ids_mask(p->cl, st.nodes, st.n);
		r->mod = l.items[i].mod_rev;
		p->nrecs++;
	}
	xp_kv_list_free(&l);
	qsort(p->recs, p->nrecs, sizeof(*p->recs), cmp_rec);
	return 0;
}

static const struct rec *rec_of(const struct plan *p, uint64_t lun,
				uint64_t chunk)
{
	struct rec k = {.lun = lun, .chunk = chunk};

	return bsearch(&k, p->recs, p->nrecs, sizeof(*p->recs), cmp_rec);
}

static uint64_t stale_of(const struct plan *p, uint64_t lun, uint64_t chunk)
{
	const struct rec *r = rec_of(p, lun, chunk);

	return r ? r->mask : 0;
}

/* The record text of node bits @mask, malloc'd into *@txt. */
static int encode(const struct sb_cluster *cl, uint64_t mask, char **txt)
{
	struct xp_rec_stale st = {0};
	unsigned int i;

	for (i = 0; i < cl->nr_nodes; i++)
		if (mask & (1ull << i))
			st.nodes[st.n++] = cl->nodes[i].id;
	return xp_rec_stale_encode(&st, txt);
}

/*
 * Add node bits @add to the record of (@lun, @chunk): read it, compare
 * its mod revision, write the union. 0 or -errno.
 */
static int mark(struct plan *p, uint64_t lun, uint64_t chunk, uint64_t add)
{
	char key[XP_REC_KEY_MAX], *txt = NULL;
	const struct sb_cluster *cl = p->cl;
	int tries, ret;

	ret = xp_rec_key_stale(key, sizeof(key), cl->etcd_prefix, lun, chunk);
	for (tries = 0; !ret && tries < CAS_TRIES; tries++) {
		struct xp_kv_list l = {0};
		struct xp_rec_stale st = {0};
		struct xp_kv_cmp cmp = {.key = key, .result = XP_KV_EQ};
		struct xp_kv_op op = {.kind = XP_KV_PUT, .key = key};
		struct xp_kv_txn_res res = {0};
		uint64_t m = add;

		ret = xp_kv_get(p->kv, key, false, &l);
		if (ret)
			break;
		if (l.n &&
		    xp_rec_stale_decode(l.items[0].val, l.items[0].vlen, &st))
			ret = -EPROTO;
		cmp.target = l.n ? XP_KV_MOD : XP_KV_VERSION;
		cmp.num = l.n ? l.items[0].mod_rev : 0;
		xp_kv_list_free(&l);
		if (ret)
			break;
		m |= sb_cluster_ids_mask(cl, st.nodes, st.n);
		ret = encode(cl, m, &txt);
		if (ret)
			break;
		op.val = txt;
		op.vlen = strlen(txt);
		ret = xp_kv_txn(p->kv, &cmp, 1, &op, 1, NULL, 0, &res);
		free(txt);
		txt = NULL;
		if (!ret && res.succeeded)
			return 0;
		xp_kv_list_free(&res.got);
	}
	return ret ? ret : -EAGAIN;
}

/*
 * Write the marks of p->batch in one transaction, each compared with the
 * mod revision it was read at; when one changed since (a gateway wrote
 * it), each mark again on its own. 0 or -errno.
 */
static int flush(struct plan *p)
{
	static char keys[BATCH][XP_REC_KEY_MAX];
	struct xp_kv_cmp cmp[BATCH] = {0};
	struct xp_kv_op ops[BATCH] = {0};
	struct xp_kv_txn_res res = {0};
	char *txt[BATCH] = {0};
	size_t i, n = p->nbatch;
	int ret = 0;

	for (i = 0; !ret && i < n; i++) {
		const struct rec *b = &p->batch[i];
		const struct rec *r = rec_of(p, b->lun, b->chunk);

		ret = xp_rec_key_stale(keys[i], sizeof(keys[i]),
				       p->cl->etcd_prefix, b->lun, b->chunk);
		if (!ret)
			ret = encode(p->cl, b->mask | (r ? r->mask : 0),
				     &txt[i]);
		cmp[i] = (struct xp_kv_cmp){
			.key = keys[i],
			.target = r ? XP_KV_MOD : XP_KV_VERSION,
			.result = XP_KV_EQ,
			.num = r ? r->mod : 0,
		};
		ops[i] = (struct xp_kv_op){.kind = XP_KV_PUT, .key = keys[i]};
		if (txt[i]) {
			ops[i].val = txt[i];
			ops[i].vlen = strlen(txt[i]);
		}
	}
	if (!ret)
		ret = xp_kv_txn(p->kv, cmp, n, ops, n, NULL, 0, &res);
	for (i = 0; i < n; i++)
		free(txt[i]);
	xp_kv_list_free(&res.got);
	for (i = 0; !ret && !res.succeeded && i < n; i++)
		ret = mark(p, p->batch[i].lun, p->batch[i].chunk,
			   p->batch[i].mask);
	if (!ret)
		p->marked += n;
	p->nbatch = 0;
	return ret;
}

/*
 * Walk every chunk of @luns: with @do_mark, record each chunk's new
 * replicas under @to; else count the chunks whose only valid copy is on
 * node index @gone (-1: none) in p->lost.
 */
static int walk(struct plan *p, const struct sb_cluster *from,
		const struct sb_cluster *to, const struct sbt_lun_ref *luns,
		size_t n, int gone, bool do_mark)
{
	size_t i;
	int ret;

	for (i = 0; i < n; i++) {
		uint64_t chunks = (luns[i].size + p->cl->chunk_size - 1) /
				  p->cl->chunk_size;
		uint64_t c;

		for (c = 0; c < chunks; c++) {
			uint64_t old = sb_place_mask(from, luns[i].id, c);
			uint64_t add = sb_place_mask(to, luns[i].id, c) & ~old;
			uint64_t valid = old & ~stale_of(p, luns[i].id, c);

			if (!add)
				continue;
			if (!do_mark) {
				if (gone >= 0 && !(valid & ~(1ull << gone)) &&
				    p->lost++ < LOST_SHOWN)
					fprintf(stderr,
						"spanblkctl: chunk %" PRIu64
						" of LUN %016" PRIx64 " has no "
						"valid "
						"copy "
						"but on "
						"the node going out\n",
						c, luns[i].id);
				continue;
			}
			p->batch[p->nbatch++] = (struct rec){
				.lun = luns[i].id, .chunk = c, .mask = add};
			if (p->nbatch == BATCH && (ret = flush(p)))
				return ret;
		}
	}
	return do_mark && p->nbatch ? flush(p) : 0;
}

/*
 * Write the state @st of node index @idx, compared with every node's state
 * key as it was read (p->mods): two changes made at once would each have
 * recorded the new replicas of its own placement only. p->mods[@idx]
 * becomes the new revision. 0, -EAGAIN (changed meanwhile) or -errno.
 */
/* Compares @cmp (one per node, @keys their keys): every node's state
 * key as p->mods has it. 0 or -errno. */
static int state_cmps(const struct plan *p, char (*keys)[XP_REC_KEY_MAX],
		      struct xp_kv_cmp *cmp)
{
	const struct sb_cluster *cl = p->cl;
	unsigned int i;
	int ret = 0;

	for (i = 0; !ret && i < cl->nr_nodes; i++) {
		ret = xp_rec_key_state(keys[i], XP_REC_KEY_MAX, cl->etcd_prefix,
				       cl->nodes[i].id);
		cmp[i] = (struct xp_kv_cmp){
			.key = keys[i],
			.target = p->mods[i] ? XP_KV_MOD : XP_KV_VERSION,
			.result = XP_KV_EQ,
			.num = p->mods[i],
		};
	}
	return ret;
}

static int write_state(struct plan *p, unsigned int idx, enum xp_node_state st)
{
	static char keys[SB_MAX_NODES][XP_REC_KEY_MAX];
	struct xp_kv_cmp cmp[SB_MAX_NODES] = {0};
	struct xp_kv_op op = {.kind = XP_KV_PUT, .key = keys[idx]};
	struct xp_kv_txn_res res = {0};
	const struct sb_cluster *cl = p->cl;
	char *txt = NULL;
	int ret;

	ret = state_cmps(p, keys, cmp);
	if (!ret)
		ret = xp_rec_state_encode(st, &txt);
	if (ret)
		return ret;
	op.val = txt;
	op.vlen = strlen(txt);
	ret = xp_kv_txn(p->kv, cmp, cl->nr_nodes, &op, 1, NULL, 0, &res);
	free(txt);
	xp_kv_list_free(&res.got);
	if (!ret && !res.succeeded)
		ret = -EAGAIN;
	if (!ret)
		p->mods[idx] = res.rev;
	return ret;
}

/* @from: @cl with the store's states; 0, or the exit code of a refusal. */
static int read_states(struct plan *p, struct sb_cluster *from,
		       enum xp_node_state *cur, unsigned int idx)
{
	const struct sb_cluster *cl = p->cl;
	struct sb_members ms;
	unsigned int i;
	int ret;

	ret = sb_members_read(p->kv, cl->etcd_prefix, &ms);
	if (ret) {
		fprintf(stderr, "spanblkctl: reading the cluster store: %s\n",
			strerror(-ret));
		return EXIT_UNREACHABLE;
	}
	*from = *cl;
	for (i = 0; i < cl->nr_nodes; i++) {
		const struct sb_member *m =
			sb_members_find(&ms, cl->nodes[i].id);

		if (m && m->state_bad) {
			fprintf(stderr,
				"spanblkctl: node %u's state record does not "
				"decode\n",
				m->id);
			sb_members_free(&ms);
			return EXIT_FAIL;
		}
		from->nodes[i].out = m && m->state != XP_NODE_IN;
		p->mods[i] = m ? m->state_mod : 0;
		if (i == idx)
			*cur = m ? m->state : XP_NODE_IN;
	}
	sb_members_free(&ms);
	return 0;
}

static unsigned int count_in(const struct sb_cluster *cl)
{
	unsigned int i, n = 0;

	for (i = 0; i < cl->nr_nodes; i++)
		n += !cl->nodes[i].out;
	return n;
}

/* Refusals before anything is written; 0 to go on. */
static int check(struct plan *p, const struct sb_cluster *from,
		 const struct sb_cluster *to, const struct sbt_lun_ref *luns,
		 size_t n, int idx, bool out, bool force)
{
	int ret;

	if (count_in(to) < p->cl->replicas) {
		fprintf(stderr,
			"spanblkctl: node %u out would leave %u nodes in "
			"placement for %u replicas\n",
			p->cl->nodes[idx].id, count_in(to), p->cl->replicas);
		return EXIT_FAIL;
	}
	ret = walk(p, from, to, luns, n, out ? idx : -1, false);
	if (ret) {
		fprintf(stderr, "spanblkctl: %s\n", strerror(-ret));
		return EXIT_FAIL;
	}
	if (p->lost && !force) {
		fprintf(stderr,
			"spanblkctl: %zu chunks have their only valid copy on "
			"node %u: bring it back and let resync finish "
			"(spanblkctl wait-healthy), or use --force to take it "
			"out anyway (those chunks become unreadable)\n",
			p->lost, p->cl->nodes[idx].id);
		return EXIT_FAIL;
	}
	return 0;
}

/*
 * Take node bits @left out of record @r, compared with its mod revision
 * when read and with every node's state as this tool last wrote it (a
 * later change could make those nodes members again). 1 when done, 0
 * when either changed meanwhile (the bits stay), or -errno.
 */
static int unmark(struct plan *p, const struct rec *r, uint64_t left)
{
	static char keys[SB_MAX_NODES + 1][XP_REC_KEY_MAX];
	struct xp_kv_cmp cmp[SB_MAX_NODES + 1] = {0};
	const struct sb_cluster *cl = p->cl;
	struct xp_kv_op op = {.key = keys[cl->nr_nodes]};
	struct xp_kv_txn_res res = {0};
	char *txt = NULL;
	int ret;

	ret = state_cmps(p, keys, cmp);
	if (!ret)
		ret = xp_rec_key_stale(keys[cl->nr_nodes], XP_REC_KEY_MAX,
				       cl->etcd_prefix, r->lun, r->chunk);
	if (!ret && (r->mask & ~left))
		ret = encode(cl, r->mask & ~left, &txt);
	if (ret)
		return ret;
	cmp[cl->nr_nodes] = (struct xp_kv_cmp){.key = keys[cl->nr_nodes],
					       .target = XP_KV_MOD,
					       .result = XP_KV_EQ,
					       .num = r->mod};
	op.kind = txt ? XP_KV_PUT : XP_KV_DEL;
	op.val = txt;
	op.vlen = txt ? strlen(txt) : 0;
	ret = xp_kv_txn(p->kv, cmp, cl->nr_nodes + 1, &op, 1, NULL, 0, &res);
	free(txt);
	xp_kv_list_free(&res.got);
	return ret ? ret : res.succeeded;
}

/*
 * After the state is written: the records read again, and the bits of
 * nodes that left a chunk's replica set under it taken out (the node put
 * out; for "in", the new replicas of its "out" that resync had not filled
 * yet). Those nodes hold no replica of the chunk: their bits would only
 * keep `spanblkctl status` from ever saying healthy. Best effort: a bit a
 * change made meanwhile stays (gateways drop an out node's). 0 or -errno.
 */
static int unmark_left(struct plan *p, const struct sb_cluster *from,
		       const struct sb_cluster *to)
{
	size_t i;
	int ret;

	free(p->recs);
	p->recs = NULL;
	p->nrecs = 0;
	ret = load_recs(p);
	for (i = 0; !ret && i < p->nrecs; i++) {
		const struct rec *r = &p->recs[i];
		uint64_t left = r->mask &
				sb_place_mask(from, r->lun, r->chunk) &
				~sb_place_mask(to, r->lun, r->chunk);

		if (!left)
			continue;
		ret = unmark(p, r, left);
		p->unmarked += ret == 1;
		ret = ret < 0 ? ret : 0;
	}
	return ret;
}

/*
 * Record the new replicas, then write the state: for "in", the node is
 * "joining" first, so that no gateway drops the bits recorded for it as
 * bits of a node that is out (docs/recovery.md, "Node out and in").
 */
static int apply(struct plan *p, const struct sb_cluster *from,
		 const struct sb_cluster *to, const struct sbt_lun_ref *luns,
		 size_t n, unsigned int idx, bool out, enum xp_node_state cur)
{
	int ret = 0;

	if (!out && cur == XP_NODE_OUT)
		ret = write_state(p, idx, XP_NODE_JOINING);
	if (!ret)
		ret = walk(p, from, to, luns, n, -1, true);
	if (!ret)
		ret = write_state(p, idx, out ? XP_NODE_OUT : XP_NODE_IN);
	if (ret)
		return ret;
	ret = unmark_left(p, from, to);
	if (ret) /* the change is made: only the cleanup failed */
		fprintf(stderr,
			"spanblkctl: warning: dropping the records of nodes "
			"that left their chunks: %s\n",
			strerror(-ret));
	return 0;
}

int sbt_node_set(const struct sb_cluster *cl, const struct sbt_lun_ref *luns,
		 size_t n, uint32_t id, bool out, bool force)
{
	static struct sb_cluster from, to;
	struct plan p = {.cl = cl};
	int idx = sb_cluster_node_index(cl, id), ret, rc;
	enum xp_node_state cur = XP_NODE_IN;
	char err[256];

	if (!cl->etcd[0])
		return sbt_usage_error("node out/in needs a cluster store "
				       "(etcd in the cluster file)");
	if (idx < 0)
		return sbt_usage_error("node %u is not in the cluster file",
				       id);
	ret = xp_etcd_open(cl->etcd, STORE_TIMEOUT_MS, &p.kv, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "spanblkctl: %s\n", err);
		return EXIT_UNREACHABLE;
	}
	rc = read_states(&p, &from, &cur, (unsigned int)idx);
	if (rc)
		goto out_close;
	if (cur == (out ? XP_NODE_OUT : XP_NODE_IN)) {
		printf("node %u is already %s\n", id, out ? "out" : "in");
		goto out_close;
	}
	to = from;
	to.nodes[idx].out = out;
	ret = load_recs(&p);
	rc = ret ? EXIT_UNREACHABLE
		 : check(&p, &from, &to, luns, n, idx, out, force);
	if (ret)
		fprintf(stderr, "spanblkctl: reading the stale records: %s\n",
			strerror(-ret));
	if (rc)
		goto out_free;
	ret = apply(&p, &from, &to, luns, n, (unsigned int)idx, out, cur);
	if (ret) {
		fprintf(stderr, "spanblkctl: node %u %s: %s%s\n", id,
			out ? "out" : "in", strerror(-ret),
			ret == -EAGAIN ? " (the store changed meanwhile: run "
					 "it again)"
				       : "");
		rc = EXIT_FAIL;
		goto out_free;
	}
	printf("node %u %s: %zu chunks of %zu LUNs get a new replica; "
	       "the gateways copy them (spanblkctl wait-healthy)\n",
	       id, out ? "out of placement" : "back in placement", p.marked, n);
	if (p.unmarked)
		printf("%zu records of nodes that left their chunks "
		       "dropped\n",
		       p.unmarked);
out_free:
	free(p.recs);
out_close:
	xp_kv_close(p.kv);
	return rc;
}
