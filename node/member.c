// SPDX-License-Identifier: Apache-2.0
/*
 * The node's membership thread (node/member.h). The thread owns the store
 * handle; the loop thread touches only the mutex-guarded state and the
 * resume flag.
 */
#include "member.h"
#include "../lib/util/clock.h"
#include "../lib/util/errbuf.h"
#include "../lib/util/log.h"
#include "../xport/kv.h"
#include "../xport/records.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RETRY_MS 500 /* between registration attempts */
#define UNREACHABLE_RETRY_MS 1000

struct nd_member {
	struct xp_kv *kv; /* owned; used by the thread only */
	uint32_t node_id;
	char *prefix, *data_dir, *host;
	uint16_t port;
	unsigned int ttl_s;
	int notify_fd;
	struct nd_ident ident; /* thread only */
	bool registered_once; /* thread only */
	bool retired; /* thread only: the folder's LUNs are retired */
	char retire_tag[ND_GEN_HEX + 1]; /* mu */
	int64_t lease; /* thread only: granted, maybe not yet registered */
	bool waiting_logged, unreachable_logged; /* thread only */

	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* CLOCK_MONOTONIC */
	enum nd_member_state state; /* mu */
	int64_t incarnation; /* mu */
	int64_t reg_rev; /* mu: store revision of the registration */
	int64_t txn_rev; /* thread only: of the last registration txn */
	bool resume, stop; /* mu */
};

/* Wait on the cv for @ms or until stop/resume; mu held. */
static void nap(struct nd_member *m, unsigned int ms)
{
	struct timespec ts = sb_deadline_in(ms);

	while (!m->stop && !m->resume &&
	       pthread_cond_timedwait(&m->cv, &m->mu, &ts) != ETIMEDOUT)
		;
}

/* The folder's LUNs are not to be served: name them for the loop. */
static int retire(struct nd_member *m)
{
	pthread_mutex_lock(&m->mu);
	snprintf(m->retire_tag, sizeof(m->retire_tag), "%s", m->ident.gen);
	pthread_mutex_unlock(&m->mu);
	return 1;
}

/*
 * Decide what the gen record @rec (NULL: none) says about our folder;
 * renew our gen when the folder is an old copy. 0 (trusted, or new to
 * the cluster), 1 (retire its LUNs before registering) or -errno.
 */
static int judge_folder(struct nd_member *m, const struct xp_rec_gen *rec)
{
	char err[256];
	int ret;

	if (m->registered_once || m->retired || !rec)
		return 0;
	if (strcmp(rec->gen, m->ident.gen)) {
		sb_warn("data generation %s is not the one the cluster knows "
			"(%s): retiring its LUNs, rejoining as an empty node",
			m->ident.gen, rec->gen);
		return retire(m);
	}
	if (m->ident.boot > rec->boot)
		return 0;
	sb_warn("data folder is at boot %" PRIu64 " but the cluster saw boot "
		"%" PRIu64 ": an old copy; retiring its LUNs, rejoining as an "
		"empty node",
		m->ident.boot, rec->boot);
	ret = retire(m);
	if (nd_ident_renew(m->data_dir, &m->ident, err, sizeof(err))) {
		sb_err("%s", err);
		ret = -EIO;
	}
	return ret;
}

/* Read our gen record: 0 with *@have, or -errno. */
static int read_gen(struct nd_member *m, const char *key,
		    struct xp_rec_gen *rec, bool *have, int64_t *mod_rev)
{
	struct xp_kv_list l = {0};
	int ret;

	ret = xp_kv_get(m->kv, key, false, &l);
	if (ret)
		return ret;
	*have = l.n == 1;
	if (*have) {
		*mod_rev = l.items[0].mod_rev;
		if (xp_rec_gen_decode(l.items[0].val, l.items[0].vlen, rec)) {
			sb_err("%s holds no valid gen record: refusing to "
			       "overwrite it",
			       key);
			ret = -EPROTO;
		}
	}
	xp_kv_list_free(&l);
	return ret;
}

/* Encode our alive and gen records. 0 or -errno; frees nothing. */
static int encode_records(struct nd_member *m, char **alive, char **gen)
{
	struct xp_rec_alive a = {.incarnation = m->lease,
				 .boot = m->ident.boot,
				 .port = m->port};
	struct xp_rec_gen g = {.boot = m->ident.boot};
	int ret;

	memcpy(a.gen, m->ident.gen, sizeof(a.gen));
	memcpy(g.gen, m->ident.gen, sizeof(g.gen));
	snprintf(a.host, sizeof(a.host), "%s", m->host);
	ret = xp_rec_alive_encode(&a, alive);
	if (ret)
		return ret;
	ret = xp_rec_gen_encode(&g, gen);
	if (ret) {
		free(*alive);
		*alive = NULL;
	}
	return ret;
}

/* The registration transaction. 0, -EAGAIN (retry later) or -errno. */
static int register_txn(struct nd_member *m, const char *akey, const char *gkey,
			bool have, int64_t mod_rev)
{
	struct xp_kv_cmp cmp[2] = {
		{.key = akey, .target = XP_KV_VERSION, .result = XP_KV_EQ},
		{.key = gkey,
		 .target = have ? XP_KV_MOD : XP_KV_VERSION,
		 .result = XP_KV_EQ,
		 .num = have ? mod_rev : 0},
	};
	struct xp_kv_op ok[2] = {{.kind = XP_KV_PUT, .key = akey},
				 {.kind = XP_KV_PUT, .key = gkey}};
	struct xp_kv_op fail = {.kind = XP_KV_GET, .key = akey};
	struct xp_kv_txn_res res = {0};
	char *alive = NULL, *gen = NULL;
	int ret;

	ret = encode_records(m, &alive, &gen);
	if (ret)
		return ret;
	ok[0].val = alive;
	ok[0].vlen = strlen(alive);
	ok[0].lease = m->lease;
	ok[1].val = gen;
	ok[1].vlen = strlen(gen);
	ret = xp_kv_txn(m->kv, cmp, 2, ok, 2, &fail, 1, &res);
	free(alive);
	free(gen);
	if (ret)
		return ret;
	if (!res.succeeded) {
		if (res.got.n && !m->waiting_logged) {
			sb_info("node %" PRIu32 " is still registered by a "
				"previous incarnation: waiting for its lease "
				"to expire",
				m->node_id);
			m->waiting_logged = true;
		}
		ret = -EAGAIN;
	}
	m->txn_rev = res.rev;
	xp_kv_list_free(&res.got);
	return ret;
}

/* One registration attempt. 0, 1 (retire the folder's LUNs first),
 * -EAGAIN or -errno. */
static int try_register(struct nd_member *m)
{
	char akey[XP_REC_KEY_MAX], gkey[XP_REC_KEY_MAX];
	struct xp_rec_gen rec;
	int64_t mod_rev = 0, ttl;
	bool have = false;
	int ret;

	if (xp_rec_key_alive(akey, sizeof(akey), m->prefix, m->node_id) ||
	    xp_rec_key_gen(gkey, sizeof(gkey), m->prefix, m->node_id))
		return -ENAMETOOLONG;
	ret = read_gen(m, gkey, &rec, &have, &mod_rev);
	if (!ret)
		ret = judge_folder(m, have ? &rec : NULL);
	if (!ret && !m->lease)
		ret = xp_kv_lease_grant(m->kv, m->ttl_s, &m->lease, &ttl);
	if (!ret)
		ret = register_txn(m, akey, gkey, have, mod_rev);
	return ret;
}

static void set_state(struct nd_member *m, enum nd_member_state st, int64_t inc)
{
	m->state = st;
	m->incarnation = inc;
}

static void notify(struct nd_member *m)
{
	uint64_t one = 1;

	if (write(m->notify_fd, &one, sizeof(one)) < 0)
		sb_err("member eventfd: %s", strerror(errno));
}

/* Registering, mu held across naps only. Returns when UP or stopping. */
static void do_register(struct nd_member *m)
{
	int ret;

	m->waiting_logged = false;
	while (!m->stop) {
		pthread_mutex_unlock(&m->mu);
		ret = try_register(m);
		pthread_mutex_lock(&m->mu);
		if (!ret) {
			set_state(m, ND_MEMBER_UP, m->lease);
			m->reg_rev = m->txn_rev;
			m->registered_once = true;
			sb_info("node %" PRIu32 " registered in the cluster "
				"store "
				"as incarnation %" PRId64 " (gen %s, boot "
				"%" PRIu64 ")",
				m->node_id, m->lease, m->ident.gen,
				m->ident.boot);
			return;
		}
		if (ret == 1) {
			/* the loop retires the folder's LUNs, then resumes us */
			set_state(m, ND_MEMBER_RETIRING, 0);
			m->resume = false;
			notify(m);
			while (!m->stop && !m->resume)
				pthread_cond_wait(&m->cv, &m->mu);
			m->retired = true;
			set_state(m, ND_MEMBER_REGISTERING, 0);
			continue;
		}
		if (ret != -EAGAIN && ret != -EHOSTUNREACH)
			sb_warn("registering in the cluster store: %s",
				strerror(-ret));
		if (ret == -ENOENT) /* our unused lease expired meanwhile */
			m->lease = 0;
		nap(m, RETRY_MS);
	}
}

/* Renew until the lease is gone or we stop; mu held across naps only. */
static void keep_alive(struct nd_member *m)
{
	unsigned int every = m->ttl_s * 1000 / 3;
	int64_t ttl;
	int ret;

	while (!m->stop) {
		nap(m, every);
		if (m->stop)
			return;
		pthread_mutex_unlock(&m->mu);
		ret = xp_kv_lease_keepalive(m->kv, m->lease, &ttl);
		pthread_mutex_lock(&m->mu);
		if (!ret) {
			if (m->unreachable_logged)
				sb_info("cluster store reachable again");
			m->unreachable_logged = false;
			continue;
		}
		if (ret == -ENOENT) {
			sb_warn("node %" PRIu32 " lost its lease (incarnation "
				"%" PRId64 "): fencing, then registering again",
				m->node_id, m->lease);
			m->lease = 0;
			return;
		}
		if (!m->unreachable_logged)
			sb_warn("cluster store: %s; serving on, renewing",
				strerror(-ret));
		m->unreachable_logged = true;
	}
}

static void *member_main(void *arg)
{
	struct nd_member *m = arg;

	pthread_mutex_lock(&m->mu);
	while (!m->stop) {
		do_register(m);
		keep_alive(m);
		if (m->stop)
			break;
		set_state(m, ND_MEMBER_FENCED, 0);
		m->resume = false;
		notify(m);
		while (!m->stop && !m->resume)
			pthread_cond_wait(&m->cv, &m->mu);
		set_state(m, ND_MEMBER_REGISTERING, 0);
	}
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

static void member_free(struct nd_member *m)
{
	xp_kv_close(m->kv);
	pthread_cond_destroy(&m->cv);
	pthread_mutex_destroy(&m->mu);
	free(m->prefix);
	free(m->data_dir);
	free(m->host);
	free(m);
}

int nd_member_start(const struct nd_member_cfg *cfg, struct xp_kv *kv,
		    const struct nd_ident *ident, struct nd_member **out,
		    char *err, size_t errlen)
{
	pthread_condattr_t ca;
	struct nd_member *m;
	int ret;

	m = calloc(1, sizeof(*m));
	if (!m) {
		xp_kv_close(kv);
		sb_errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	m->kv = kv;
	m->node_id = cfg->node_id;
	m->port = cfg->port;
	m->ttl_s = cfg->ttl_s < 2 ? 2 : cfg->ttl_s;
	m->notify_fd = cfg->notify_fd;
	m->ident = *ident;
	m->prefix = strdup(cfg->prefix);
	m->data_dir = strdup(cfg->data_dir);
	m->host = strdup(cfg->host);
	pthread_mutex_init(&m->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (!m->prefix || !m->data_dir || !m->host) {
		ret = -ENOMEM;
		sb_errf(err, errlen, "out of memory");
		goto out_free;
	}
	ret = -pthread_create(&m->thread, NULL, member_main, m);
	if (ret) {
		sb_errf(err, errlen, "cannot start the membership thread: %s",
			strerror(-ret));
		goto out_free;
	}
	*out = m;
	return 0;
out_free:
	member_free(m);
	return ret;
}

enum nd_member_state nd_member_state(struct nd_member *m, int64_t *incarnation)
{
	enum nd_member_state st;

	pthread_mutex_lock(&m->mu);
	st = m->state;
	if (incarnation)
		*incarnation = m->incarnation;
	pthread_mutex_unlock(&m->mu);
	return st;
}

int64_t nd_member_rev(struct nd_member *m)
{
	int64_t rev;

	pthread_mutex_lock(&m->mu);
	rev = m->state == ND_MEMBER_UP ? m->reg_rev : 0;
	pthread_mutex_unlock(&m->mu);
	return rev;
}

void nd_member_resume(struct nd_member *m)
{
	pthread_mutex_lock(&m->mu);
	m->resume = true;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

void nd_member_retire_tag(struct nd_member *m, char tag[ND_GEN_HEX + 1])
{
	pthread_mutex_lock(&m->mu);
	memcpy(tag, m->retire_tag, ND_GEN_HEX + 1);
	pthread_mutex_unlock(&m->mu);
}

void nd_member_stop(struct nd_member *m)
{
	int ret;

	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	m->stop = true;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
	pthread_join(m->thread, NULL);
	if (m->lease) {
		ret = xp_kv_lease_revoke(m->kv, m->lease);
		if (ret)
			sb_warn("revoking lease %" PRId64 ": %s", m->lease,
				strerror(-ret));
	}
	member_free(m);
}
