// SPDX-License-Identifier: Apache-2.0
/*
 * The cluster store's job thread (store.c has the watch thread and the
 * loop side): it runs the loop's jobs, record jobs of other chunks in one
 * transaction when they can, each compared with the record the loop
 * expects, one by one when that fails (add to or clear a chunk's stale
 * record, drop an out node's bit, the activity log's records, the push
 * epoch, a node's lease revoked), and posts each job back when done.
 */

#include "store_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../util/clock.h"
#include "../util/log.h"

#define JOB_TRIES 8 /* compare failures before a record job gives up */

/* The ids of node indices @mask. */
static void mask_to_ids(const struct sb_cluster *cl, uint64_t mask,
			struct xp_rec_stale *st)
{
	unsigned int i;

	st->n = 0;
	for (i = 0; i < cl->nr_nodes; i++)
		if (mask & (1ull << i))
			st->nodes[st->n++] = cl->nodes[i].id;
	/* the cluster's nodes are sorted by id: so is st */
}

/* Read-modify-write of one stale record. 0, -EAGAIN (changed meanwhile)
 * or the store's -errno. */
static int record_once(struct eng_store *s, struct eng_sjob *j)
{
	const struct sb_cluster *cl = &s->e->cl;
	char key[XP_REC_KEY_MAX], *txt = NULL;
	struct xp_kv_list l = {0};
	struct xp_rec_stale st = {0};
	char skey[XP_REC_KEY_MAX];
	struct xp_kv_cmp cmp[2] = {{.result = XP_KV_EQ},
				   {.key = skey,
				    .target = XP_KV_MOD,
				    .result = XP_KV_EQ,
				    .num = j->state_rev}};
	struct xp_kv_op op = {0};
	struct xp_kv_txn_res res = {0};
	uint64_t mask = 0;
	int ret;

	ret = xp_rec_key_stale(key, sizeof(key), s->prefix, j->lun, j->chunk);
	/* SJ_DROP: only while the node's state is the out it was dropped
	 * for (spanblkctl node in records its bits after a new state) */
	if (!ret && j->kind == SJ_DROP)
		ret = xp_rec_key_state(skey, sizeof(skey), s->prefix,
				       cl->nodes[__builtin_ctzll(j->mask)].id);
	if (!ret)
		ret = xp_kv_get(s->kv, key, false, &l);
	if (ret)
		return ret;
	if (l.n) {
		if (xp_rec_stale_decode(l.items[0].val, l.items[0].vlen, &st)) {
			xp_kv_list_free(&l);
			sb_err("store: %s does not decode", key);
			return -EPROTO;
		}
		mask = sb_cluster_ids_mask(cl, st.nodes, st.n);
		cmp[0].target = XP_KV_MOD;
		cmp[0].num = l.items[0].mod_rev;
	} else {
		cmp[0].target = XP_KV_VERSION;
	}
	xp_kv_list_free(&l);
	cmp[0].key = key;
	mask = j->kind == SJ_ADD ? mask | j->mask : mask & ~j->mask;
	op.key = key;
	if (mask) {
		mask_to_ids(cl, mask, &st);
		ret = xp_rec_stale_encode(&st, &txt);
		if (ret)
			return ret;
		op.kind = XP_KV_PUT;
		op.val = txt;
		op.vlen = strlen(txt);
	} else {
		op.kind = XP_KV_DEL;
	}
	ret = xp_kv_txn(s->kv, cmp, j->kind == SJ_DROP ? 2 : 1, &op, 1, NULL, 0,
			&res);
	free(txt);
	xp_kv_list_free(&res.got);
	if (!ret && !res.succeeded)
		return -EAGAIN;
	if (!ret)
		j->result = mask;
	return ret;
}

/* Put or delete one AL record. kv_mu held. */
static int al_once(struct eng_store *s, struct eng_sjob *j)
{
	char key[XP_REC_KEY_MAX];
	int ret;

	ret = xp_rec_key_al(key, sizeof(key), s->prefix, j->lun, j->chunk);
	if (ret)
		return ret;
	if (j->kind == SJ_AL_ADD)
		return xp_kv_put(s->kv, key, XP_REC_AL_VALUE,
				 strlen(XP_REC_AL_VALUE), 0, NULL);
	return xp_kv_del(s->kv, key, false, NULL);
}

/* Put P/epoch: j->result = the revision of the put. kv_mu held. */
static int epoch_once(struct eng_store *s, struct eng_sjob *j)
{
	char key[XP_REC_KEY_MAX];
	int64_t rev = 0;
	int ret;

	ret = xp_rec_key_epoch(key, sizeof(key), s->prefix);
	if (!ret)
		ret = xp_kv_put(s->kv, key, "{}", 2, 0, &rev);
	if (!ret && rev <= 0)
		ret = -EBADMSG; /* a store that names no revision */
	if (!ret)
		j->result = (uint64_t)rev;
	return ret;
}

static int run_job(struct eng_store *s, struct eng_sjob *j)
{
	int ret = -EINVAL, tries = 0;

	for (;;) {
		pthread_mutex_lock(&s->kv_mu);
		if (j->kind == SJ_REVOKE)
			ret = xp_kv_lease_revoke(s->kv, j->lease);
		else if (eng_sjob_is_record(j->kind) || j->kind == SJ_DROP)
			ret = record_once(s, j);
		else if (j->kind == SJ_EPOCH)
			ret = epoch_once(s, j);
		else
			ret = al_once(s, j);
		pthread_mutex_unlock(&s->kv_mu);
		if (ret == -EAGAIN && ++tries < JOB_TRIES)
			continue;
		if (ret != -EHOSTUNREACH || sb_now_ms() >= j->deadline ||
		    eng_store_stopping(s))
			return ret;
		/* unreachable: wait, never guess */
		eng_store_nap(s, ENG_STORE_RETRY_MS);
	}
}

#define JOB_BATCH 32 /* record jobs written in one transaction */

/* The record value of node-index mask @mask (NULL for 0), malloc'd. */
static int encode_mask(const struct sb_cluster *cl, uint64_t mask, char **txt)
{
	struct xp_rec_stale st;

	*txt = NULL;
	if (!mask)
		return 0;
	mask_to_ids(cl, mask, &st);
	return xp_rec_stale_encode(&st, txt);
}

/*
 * Write the records of jobs @js (@n of them, distinct chunks) in one
 * transaction, each compared with the value the loop expects. 0 when it
 * committed (each job's result set), -EAGAIN when a compare failed (a
 * record is not what the loop thinks: the caller goes one by one), or the
 * store's -errno.
 */
static int record_batch(struct eng_store *s, struct eng_sjob **js, size_t n)
{
	const struct sb_cluster *cl = &s->e->cl;
	struct xp_kv_cmp cmp[JOB_BATCH];
	struct xp_kv_op op[JOB_BATCH];
	char key[JOB_BATCH][XP_REC_KEY_MAX];
	char *old[JOB_BATCH] = {0}, *nev[JOB_BATCH] = {0};
	struct xp_kv_txn_res res = {0};
	size_t i;
	int ret = 0;

	for (i = 0; i < n && !ret; i++) {
		struct eng_sjob *j = js[i];
		uint64_t m = j->kind == SJ_ADD ? j->expect | j->mask
					       : j->expect & ~j->mask;

		j->result = m;
		ret = xp_rec_key_stale(key[i], sizeof(key[i]), s->prefix,
				       j->lun, j->chunk);
		if (!ret)
			ret = encode_mask(cl, j->expect, &old[i]);
		if (!ret)
			ret = encode_mask(cl, m, &nev[i]);
		cmp[i] = (struct xp_kv_cmp){.key = key[i], .result = XP_KV_EQ};
		if (old[i]) {
			cmp[i].target = XP_KV_VALUE;
			cmp[i].val = old[i];
			cmp[i].vlen = strlen(old[i]);
		} else {
			cmp[i].target = XP_KV_VERSION;
		}
		op[i] = (struct xp_kv_op){.key = key[i]};
		if (nev[i]) {
			op[i].kind = XP_KV_PUT;
			op[i].val = nev[i];
			op[i].vlen = strlen(nev[i]);
		} else {
			op[i].kind = XP_KV_DEL;
		}
	}
	if (!ret) {
		pthread_mutex_lock(&s->kv_mu);
		ret = xp_kv_txn(s->kv, cmp, n, op, n, NULL, 0, &res);
		pthread_mutex_unlock(&s->kv_mu);
		xp_kv_list_free(&res.got);
		if (!ret && !res.succeeded)
			ret = -EAGAIN;
	}
	for (i = 0; i < n; i++) {
		free(old[i]);
		free(nev[i]);
	}
	return ret;
}

/* Take the next job and, when it writes a record, up to JOB_BATCH - 1
 * more record jobs of other chunks behind it. mu held. */
static size_t take_jobs(struct eng_store *s, struct eng_sjob **js)
{
	struct sb_list *it, *nx;
	size_t n = 0, k;

	js[n] = container_of(s->jobs.next, struct eng_sjob, link);
	sb_list_del(&js[n++]->link);
	if (!eng_sjob_is_record(js[0]->kind))
		return n;
	sb_list_for_each_safe(it, nx, &s->jobs) {
		struct eng_sjob *j = container_of(it, struct eng_sjob, link);
		bool dup = false;

		if (n == JOB_BATCH)
			break;
		if (!eng_sjob_is_record(j->kind))
			continue;
		for (k = 0; k < n; k++)
			dup |= js[k]->lun == j->lun && js[k]->chunk == j->chunk;
		if (dup)
			continue;
		sb_list_del(&j->link);
		js[n++] = j;
	}
	return n;
}

static void job_back(struct eng_store *s, struct eng_sjob *j)
{
	struct eng_sev *ev;

	if (j->err && eng_sjob_is_record(j->kind))
		sb_err_rl("store: record of chunk %" PRIu64 ": %s", j->chunk,
			  strerror(-j->err));
	ev = eng_sev_new(SEV_JOB);
	if (ev) {
		ev->job = j;
		eng_store_post(s, ev);
	} else {
		free(j);
	}
}

void *eng_store_job_main(void *arg)
{
	struct eng_store *s = arg;
	struct eng_sjob *js[JOB_BATCH];

	pthread_mutex_lock(&s->mu);
	for (;;) {
		size_t n, i;
		int ret = -EAGAIN;

		while (!s->stop && sb_list_empty(&s->jobs))
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->stop)
			break;
		n = take_jobs(s, js);
		pthread_mutex_unlock(&s->mu);
		/* one transaction for the batch, one by one if it fails */
		if (eng_sjob_is_record(js[0]->kind))
			ret = record_batch(s, js, n);
		for (i = 0; i < n; i++) {
			js[i]->err = ret ? run_job(s, js[i]) : 0;
			job_back(s, js[i]);
		}
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}
