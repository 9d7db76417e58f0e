// SPDX-License-Identifier: Apache-2.0
/*
 * The engine's cluster store (docs/recovery.md): which nodes are up, which
 * replicas of which chunks are stale, and the records written before a
 * degraded write is acknowledged.
 *
 *   watch thread   reads the nodes' membership and every stale record,
 *                  then watches the nodes' keys; posts events
 *   job thread     runs the loop's jobs one by one (add to or clear a
 *                  chunk's stale record, revoke a node's lease); posts
 *                  each job back when done
 *   loop thread    applies events to its cache (eng_node.st_*, the stale
 *                  hash of store_io.c) and wakes the pieces that waited
 *
 * The threads share one store handle under kv_mu (a watch has its own
 * connection once open). The event and job queues are under mu; the
 * loop learns of events through an eventfd (ENG_EV_STORE).
 *
 * Stale records are written only by this engine (the LUN's one writer),
 * so the watch does not follow them: the loop's cache changes when its
 * own jobs finish, never from an echo that could arrive out of order.
 */

#include "store_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "../members.h"
#include "../util/clock.h"
#include "../util/errbuf.h"
#include "../util/log.h"

#define WATCH_POLL_MS 200 /* how often a blocked watch looks at stop */

/* ---- queues between the threads --------------------------------------- */

/* Hand the events of @batch (emptied) to the loop, which applies them in
 * one go: nothing of the loop runs between two of them. */
static void post_batch(struct eng_store *s, struct sb_list *batch)
{
	uint64_t one = 1;

	pthread_mutex_lock(&s->mu);
	sb_list_splice_tail(batch, &s->events);
	pthread_mutex_unlock(&s->mu);
	if (write(s->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		sb_err_rl("store eventfd: %s", strerror(errno));
}

void eng_store_post(struct eng_store *s, struct eng_sev *ev)
{
	struct sb_list one;

	sb_list_init(&one);
	sb_list_add_tail(&one, &ev->link);
	post_batch(s, &one);
}

void eng_sev_free_list(struct sb_list *l)
{
	while (!sb_list_empty(l)) {
		struct eng_sev *ev =
			container_of(l->next, struct eng_sev, link);

		sb_list_del(&ev->link);
		free(ev->job);
		free(ev);
	}
}

struct eng_sev *eng_sev_new(enum eng_sev_kind kind)
{
	struct eng_sev *ev = calloc(1, sizeof(*ev));

	if (ev)
		ev->kind = kind;
	else
		sb_err_rl("store: out of memory for an event");
	return ev;
}

void eng_store_submit(struct eng_store *s, struct eng_sjob *j)
{
	pthread_mutex_lock(&s->mu);
	sb_list_add_tail(&s->jobs, &j->link);
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

void eng_store_nap(struct eng_store *s, unsigned int ms)
{
	struct timespec ts = sb_deadline_in(ms);

	pthread_mutex_lock(&s->mu);
	while (!s->stop &&
	       pthread_cond_timedwait(&s->cv, &s->mu, &ts) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&s->mu);
}

bool eng_store_stopping(struct eng_store *s)
{
	bool st;

	pthread_mutex_lock(&s->mu);
	st = s->stop;
	pthread_mutex_unlock(&s->mu);
	return st;
}

/* ---- watch thread ------------------------------------------------------ */

static int load_stale(struct eng_store *s, struct sb_list *merge, int64_t *rev);

/*
 * Post node index @idx's placement state @state (its key at @rev). Unless
 * @first, the stale records are read again first and merged: spanblkctl
 * records the new replicas of every chunk the change moves before it
 * writes the state, so the loop knows them before it places by the new
 * state. 0 or -errno.
 */
static int post_state(struct eng_store *s, unsigned int idx,
		      enum xp_node_state state, int64_t rev, bool first)
{
	struct sb_list batch;
	struct eng_sev *ev;
	int64_t srev;
	int ret = 0;

	sb_list_init(&batch);
	if (!first)
		ret = load_stale(s, &batch, &srev);
	ev = ret ? NULL : eng_sev_new(SEV_STATE);
	if (!ev) {
		eng_sev_free_list(&batch);
		return ret ? ret : -ENOMEM;
	}
	ev->idx = idx;
	ev->state = state;
	ev->rev = rev;
	sb_list_add_tail(&batch, &ev->link);
	/* the records and the state together: the loop applies the
	 * merged bits before it places by the new state */
	post_batch(s, &batch);
	s->state_posted[idx] = state;
	s->rev_posted[idx] = rev;
	return 0;
}

/* Post every cluster node's liveness and placement state from @ms. 0, or
 * -EPROTO for a state record that does not decode (never guessed). */
static int post_members(struct eng_store *s, const struct sb_members *ms,
			bool first)
{
	const struct sb_cluster *cl = &s->e->cl;
	unsigned int i;
	int ret;

	for (i = 0; i < cl->nr_nodes; i++) {
		const struct sb_member *m =
			sb_members_find(ms, cl->nodes[i].id);
		enum xp_node_state st = m ? m->state : XP_NODE_IN;
		int64_t rev = m ? m->state_mod : 0;

		if (m && m->state_bad) {
			sb_err("store: node %u's state record does not decode",
			       cl->nodes[i].id);
			return -EPROTO;
		}
		if (first ? st != XP_NODE_IN
			  : st != s->state_posted[i] ||
				    rev != s->rev_posted[i]) {
			ret = post_state(s, i, st, rev, first);
			if (ret)
				return ret;
		}
	}
	for (i = 0; i < cl->nr_nodes; i++) {
		const struct sb_member *m =
			sb_members_find(ms, cl->nodes[i].id);
		struct eng_sev *ev = eng_sev_new(SEV_NODE);

		if (!ev)
			continue;
		ev->idx = i;
		ev->up = m && m->up;
		ev->inc = ev->up ? m->alive.incarnation : 0;
		eng_store_post(s, ev);
	}
	return 0;
}

/* Post every stale record (with @merge: as SEV_MERGE onto @merge, not
 * posted). 0, or the store's -errno. */
static int load_stale(struct eng_store *s, struct sb_list *merge, int64_t *rev)
{
	char key[XP_REC_KEY_MAX];
	struct xp_kv_list l = {0};
	struct xp_rec_stale st;
	size_t i;
	int ret;

	ret = xp_rec_key_stale_prefix(key, sizeof(key), s->prefix, false, 0);
	if (ret)
		return ret;
	pthread_mutex_lock(&s->kv_mu);
	ret = xp_kv_get(s->kv, key, true, &l);
	pthread_mutex_unlock(&s->kv_mu);
	if (ret)
		return ret;
	*rev = l.rev;
	for (i = 0; i < l.n; i++) {
		struct eng_sev *ev;
		uint64_t lun, chunk;

		if (xp_rec_key_parse_stale(l.items[i].key, s->prefix, &lun,
					   &chunk) ||
		    xp_rec_stale_decode(l.items[i].val, l.items[i].vlen, &st)) {
			/* never guess: a record we cannot read stops us */
			sb_err("store: %s does not decode", l.items[i].key);
			ret = -EPROTO;
			break;
		}
		ev = eng_sev_new(merge ? SEV_MERGE : SEV_STALE);
		if (!ev) {
			ret = -ENOMEM;
			break;
		}
		ev->lun = lun;
		ev->chunk = chunk;
		ev->mask = sb_cluster_ids_mask(&s->e->cl, st.nodes, st.n);
		if (merge)
			sb_list_add_tail(merge, &ev->link);
		else
			eng_store_post(s, ev);
	}
	xp_kv_list_free(&l);
	return ret;
}

/* Post the activity log's extents (a gateway that died left them). */
static int load_al(struct eng_store *s)
{
	char key[XP_REC_KEY_MAX];
	struct xp_kv_list l = {0};
	size_t i;
	int ret;

	ret = xp_rec_key_al_prefix(key, sizeof(key), s->prefix);
	if (ret)
		return ret;
	pthread_mutex_lock(&s->kv_mu);
	ret = xp_kv_get(s->kv, key, true, &l);
	pthread_mutex_unlock(&s->kv_mu);
	for (i = 0; !ret && i < l.n; i++) {
		struct eng_sev *ev;
		uint64_t lun, ext;

		if (xp_rec_key_parse_al(l.items[i].key, s->prefix, &lun,
					&ext)) {
			sb_err("store: %s is not an activity-log key",
			       l.items[i].key);
			ret = -EPROTO;
			break;
		}
		ev = eng_sev_new(SEV_AL);
		if (!ev) {
			ret = -ENOMEM;
			break;
		}
		ev->lun = lun;
		ev->chunk = ext;
		eng_store_post(s, ev);
	}
	xp_kv_list_free(&l);
	return ret;
}

/* The members, under kv_mu. 0 or -errno. */
static int read_members(struct eng_store *s, struct sb_members *ms)
{
	int ret;

	pthread_mutex_lock(&s->kv_mu);
	ret = sb_members_read(s->kv, s->prefix, ms);
	pthread_mutex_unlock(&s->kv_mu);
	return ret;
}

/*
 * The first load: the activity log and the stale records, posted, then
 * the members read again into *@ms; all of it again when a node's
 * placement state changed meanwhile. The records then match the states:
 * read under an older state, a record could already lack the bits that a
 * gateway dropped for a node put out since, and this engine would place
 * on that node, with no bit, until the watch brought the new state. 0 or
 * -errno.
 */
static int load_first(struct eng_store *s, struct sb_members *ms)
{
	struct sb_members before;
	bool changed = false;
	int64_t srev;
	int ret;

	do {
		if (changed)
			sb_members_free(ms);
		ret = read_members(s, &before);
		if (ret)
			return ret;
		ret = load_al(s);
		if (!ret)
			ret = load_stale(s, NULL, &srev);
		if (!ret)
			ret = read_members(s, ms);
		changed = !ret && !sb_members_states_equal(&before, ms);
		sb_members_free(&before);
	} while (changed && !eng_store_stopping(s));
	if (changed) {
		sb_members_free(ms);
		ret = -ECANCELED; /* stopping */
	}
	return ret;
}

/* Read the members (the first time, with the activity log and the stale
 * records: load_first); post them. 0 and *@rev, or -errno. */
static int load(struct eng_store *s, bool first, int64_t *rev)
{
	struct sb_members ms;
	int ret;

	ret = first ? load_first(s, &ms) : read_members(s, &ms);
	if (ret)
		return ret;
	*rev = ms.rev;
	ret = post_members(s, &ms, first);
	sb_members_free(&ms);
	if (ret)
		return ret;
	if (first) {
		struct eng_sev *ev = eng_sev_new(SEV_LOADED);

		if (!ev)
			return -ENOMEM;
		eng_store_post(s, ev);
	}
	return 0;
}

/* A watch event on node index @idx's state key. 0 or -errno. */
static int state_event(struct eng_store *s, const struct xp_kv_event *ev,
		       unsigned int idx)
{
	enum xp_node_state st = XP_NODE_IN;
	int64_t rev = 0;

	if (ev->type == XP_KV_EV_PUT) {
		if (xp_rec_state_decode(ev->kv.val, ev->kv.vlen, &st)) {
			sb_err_rl("store: %s does not decode: node %u keeps "
				  "its placement state",
				  ev->kv.key, s->e->cl.nodes[idx].id);
			return 0;
		}
		rev = ev->kv.mod_rev;
	}
	if (st == s->state_posted[idx] && rev == s->rev_posted[idx])
		return 0;
	return post_state(s, idx, st, rev, false);
}

/* One watch event on the node keys. 0, or -errno (the watch starts over:
 * a placement change not posted is read again). */
static int on_node_event(struct eng_store *s, const struct xp_kv_event *ev)
{
	struct xp_rec_alive a;
	struct eng_sev *sev;
	uint32_t id;
	int idx, kind;

	kind = xp_rec_key_parse_node(ev->kv.key, s->prefix, &id);
	idx = sb_cluster_node_index(&s->e->cl, id);
	if (idx < 0 || (kind != XP_REC_ALIVE && kind != XP_REC_STATE))
		return 0;
	if (kind == XP_REC_STATE)
		return state_event(s, ev, (unsigned int)idx);
	sev = eng_sev_new(SEV_NODE);
	if (!sev)
		return 0;
	sev->idx = (unsigned int)idx;
	if (ev->type == XP_KV_EV_PUT &&
	    !xp_rec_alive_decode(ev->kv.val, ev->kv.vlen, &a)) {
		sev->up = true;
		sev->inc = a.incarnation;
	} else if (ev->type == XP_KV_EV_PUT) {
		sb_err_rl("store: %s does not decode: node %u counts as down",
			  ev->kv.key, id);
	}
	eng_store_post(s, sev);
	return 0;
}

/* Follow the node keys from @rev + 1 until the watch ends. */
static int follow(struct eng_store *s, int64_t *rev)
{
	char key[XP_REC_KEY_MAX];
	struct xp_kv_watch *w = NULL;
	int ret;

	ret = xp_rec_key_nodes(key, sizeof(key), s->prefix);
	if (ret)
		return ret;
	pthread_mutex_lock(&s->kv_mu);
	ret = xp_kv_watch_open(s->kv, key, *rev + 1, &w);
	pthread_mutex_unlock(&s->kv_mu);
	if (ret)
		return ret;
	while (!eng_store_stopping(s)) {
		struct xp_kv_events evs = {0};
		size_t i;

		ret = xp_kv_watch_next(w, WATCH_POLL_MS, &evs);
		if (ret)
			break;
		for (i = 0; !ret && i < evs.n; i++)
			ret = on_node_event(s, &evs.ev[i]);
		if (!ret && evs.n && evs.rev > *rev)
			*rev = evs.rev;
		xp_kv_events_free(&evs);
		if (ret)
			break;
	}
	xp_kv_watch_close(w);
	return ret;
}

static void *watch_main(void *arg)
{
	struct eng_store *s = arg;
	bool first = true, logged = false;
	int64_t rev = 0;
	int ret;

	while (!eng_store_stopping(s)) {
		ret = load(s, first, &rev);
		if (!ret) {
			if (logged)
				sb_info("cluster store: reachable again");
			logged = false;
			first = false;
			ret = follow(s, &rev);
		}
		if (ret && !logged && !eng_store_stopping(s)) {
			sb_warn("cluster store: %s; retrying", strerror(-ret));
			logged = true;
		}
		/* a compacted or broken watch: read the members again */
		if (!eng_store_stopping(s))
			eng_store_nap(s, ENG_STORE_RETRY_MS);
	}
	return NULL;
}

/* ---- start, stop ------------------------------------------------------- */

static void store_free(struct eng_store *s)
{
	struct eng_sev *ev;
	struct eng_sjob *j;

	while (!sb_list_empty(&s->jobs)) {
		j = container_of(s->jobs.next, struct eng_sjob, link);
		sb_list_del(&j->link);
		free(j);
	}
	while (!sb_list_empty(&s->events)) {
		ev = container_of(s->events.next, struct eng_sev, link);
		sb_list_del(&ev->link);
		free(ev->job);
		free(ev);
	}
	eng_stale_free_all(s);
	eng_al_free(s);
	eng_backfill_free(s);
	xp_kv_close(s->kv);
	if (s->evfd >= 0)
		close(s->evfd);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->kv_mu);
	free(s);
}

int eng_store_start(struct sb_engine *e, struct xp_kv *kv, char *err,
		    size_t errlen)
{
	struct eng_store *s = calloc(1, sizeof(*s));
	pthread_condattr_t ca;
	int ret;

	if (!s) {
		xp_kv_close(kv);
		sb_errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->e = e;
	s->kv = kv;
	snprintf(s->prefix, sizeof(s->prefix), "%s", e->cl.etcd_prefix);
	sb_list_init(&s->jobs);
	sb_list_init(&s->events);
	sb_list_init(&s->deferred);
	sb_list_init(&s->dirty);
	sb_list_init(&s->recon);
	sb_evtag_init(&s->tag, ENG_EV_STORE);
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->kv_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	s->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ret = s->evfd < 0 ? -errno : 0;
	if (!ret)
		ret = sb_evtag_ctl(e->epfd, EPOLL_CTL_ADD, s->evfd, EPOLLIN,
				   &s->tag);
	if (!ret)
		ret = -pthread_create(&s->wthread, NULL, watch_main, s);
	if (!ret) {
		s->wstarted = true;
		ret = -pthread_create(&s->jthread, NULL, eng_store_job_main, s);
	}
	if (!ret)
		s->jstarted = true;
	e->store = s;
	if (ret) {
		sb_errf(err, errlen, "cluster store: %s", strerror(-ret));
		eng_store_stop(e);
	}
	return ret;
}

void eng_store_stop(struct sb_engine *e)
{
	struct eng_store *s = e->store;

	if (!s)
		return;
	if (s->jstarted)
		eng_al_close(s);
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (s->wstarted)
		pthread_join(s->wthread, NULL);
	if (s->jstarted)
		pthread_join(s->jthread, NULL);
	e->store = NULL;
	store_free(s);
}

/* ---- loop side --------------------------------------------------------- */

/* Node @idx's liveness changed in the store. */
static void node_event(struct sb_engine *e, const struct eng_sev *ev)
{
	struct eng_node *n = &e->nodes[ev->idx];
	char name[SB_HOST_MAX + 32];

	if (ev->up && n->st_up && ev->inc == n->st_inc)
		return;
	if (!ev->up && !n->st_up)
		return;
	eng_node_name(n, name, sizeof(name));
	if (!ev->up) {
		sb_warn("%s: down in the cluster store (incarnation %" PRId64
			"): writes go on without it, recorded",
			name, n->st_inc);
		n->st_up = false;
		n->st_inc = 0;
		/* what it was sent may land or not: the pieces record it */
		eng_node_fail(n, -EHOSTDOWN);
		eng_node_fail_waiting(n, -EHOSTDOWN);
		return;
	}
	if (n->st_up)
		eng_node_fail(n, -ESTALE); /* a new incarnation: new session */
	eng_node_retry_now(n);
	sb_info("%s: up in the cluster store (incarnation %" PRId64 ")", name,
		ev->inc);
	n->st_up = true;
	n->st_inc = ev->inc;
}

/* Node ev->idx's placement state (its records merged before). */
static void state_applied(struct sb_engine *e, const struct eng_sev *ev)
{
	static const char *const what[] = {
		[XP_NODE_IN] = "in placement",
		[XP_NODE_OUT] = "out of placement",
		[XP_NODE_JOINING] = "joining placement (not placed yet)",
	};
	struct sb_node_addr *a = &e->cl.nodes[ev->idx];
	bool out = ev->state != XP_NODE_IN;

	e->store->out_rev[ev->idx] = ev->state == XP_NODE_OUT ? ev->rev : 0;
	if (a->out != out)
		sb_info("node %u: %s (cluster store)", a->id, what[ev->state]);
	a->out = out;
	e->store->resync_at = 0;
}

static void loaded(struct sb_engine *e)
{
	struct eng_store *s = e->store;

	if (s->loaded)
		return;
	s->loaded = true;
	sb_info("cluster store: %zu chunks with stale replicas", s->nstale);
	pthread_mutex_lock(&e->lock);
	e->store_loaded = true;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
	while (!sb_list_empty(&s->deferred)) {
		struct eng_op *op =
			container_of(s->deferred.next, struct eng_op, link);

		sb_list_del(&op->link);
		eng_op_start_deferred(op);
	}
}

void eng_store_event(struct sb_engine *e)
{
	struct eng_store *s = e->store;
	struct sb_list batch;
	uint64_t v;

	if (read(s->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		sb_err_rl("store eventfd: %s", strerror(errno));
	sb_list_init(&batch);
	pthread_mutex_lock(&s->mu);
	sb_list_splice_tail(&s->events, &batch);
	pthread_mutex_unlock(&s->mu);
	while (!sb_list_empty(&batch)) {
		struct eng_sev *ev =
			container_of(batch.next, struct eng_sev, link);

		sb_list_del(&ev->link);
		switch (ev->kind) {
		case SEV_NODE:
			node_event(e, ev);
			break;
		case SEV_STALE:
			eng_stale_loaded(e, ev->lun, ev->chunk, ev->mask);
			break;
		case SEV_AL:
			eng_al_loaded(e, ev->lun, ev->chunk);
			break;
		case SEV_MERGE:
			eng_stale_merge(e, ev->lun, ev->chunk, ev->mask);
			break;
		case SEV_STATE:
			state_applied(e, ev);
			break;
		case SEV_LOADED:
			loaded(e);
			break;
		case SEV_JOB:
			eng_stale_job_done(e, ev->job);
			ev->job = NULL;
			break;
		}
		free(ev->job);
		free(ev);
	}
}

void eng_store_defer_op(struct sb_engine *e, struct eng_op *op)
{
	sb_list_add_tail(&e->store->deferred, &op->link);
}

void eng_store_evict(struct eng_node *n, const char *why)
{
	struct sb_engine *e = n->e;
	struct eng_sjob *j;
	char name[SB_HOST_MAX + 32];

	if (!e->store || !n->st_up || n->st_revoked == n->st_inc)
		return;
	j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->kind = SJ_REVOKE;
	j->lease = n->st_inc;
	j->deadline = sb_now_ms() + e->cl.io_timeout_ms;
	n->st_revoked = n->st_inc;
	sb_warn("%s: %s: revoking its lease (incarnation %" PRId64 ")",
		eng_node_name(n, name, sizeof(name)), why, n->st_inc);
	eng_store_submit(e->store, j);
}
