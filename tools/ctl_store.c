// SPDX-License-Identifier: Apache-2.0
/* spanblkctl: the cluster store section of `status` (tools/ctl_store.h). */
#include "tools/ctl_store.h"
#include "lib/members.h"
#include "xport/kv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/util/clock.h"
#include "tools/cli.h"

#define STORE_TIMEOUT_MS 2000

/* Count stale records per node id (@ids, @counts: parallel arrays of
 * @cap) and in all; -errno when the store cannot be read. */
static int stale_counts(struct xp_kv *kv, const char *prefix, uint32_t *ids,
			size_t *counts, size_t cap, size_t *nids, size_t *total)
{
	char key[XP_REC_KEY_MAX];
	struct xp_kv_list l = {0};
	struct xp_rec_stale st;
	size_t i, j, k;
	int ret;

	*nids = *total = 0;
	ret = xp_rec_key_stale_prefix(key, sizeof(key), prefix, false, 0);
	if (!ret)
		ret = xp_kv_get(kv, key, true, &l);
	if (ret)
		return ret;
	for (i = 0; i < l.n; i++) {
		if (xp_rec_stale_decode(l.items[i].val, l.items[i].vlen, &st)) {
			printf("  %s: damaged record\n", l.items[i].key);
			continue;
		}
		(*total)++;
		for (j = 0; j < st.n; j++) {
			for (k = 0; k < *nids && ids[k] != st.nodes[j]; k++)
				;
			if (k == *nids && *nids < cap) {
				ids[k] = st.nodes[j];
				counts[k] = 0;
				(*nids)++;
			}
			if (k < *nids)
				counts[k]++;
		}
	}
	xp_kv_list_free(&l);
	return 0;
}

/* Print the stale chunks; returns how many (or -errno). */
static int print_stale(struct xp_kv *kv, const char *prefix)
{
	uint32_t ids[SB_MAX_NODES];
	size_t counts[SB_MAX_NODES], nids, total, k;
	int ret;

	ret = stale_counts(kv, prefix, ids, counts, SB_MAX_NODES, &nids,
			   &total);
	if (ret)
		return ret;
	if (!total) {
		printf("  every replica of every chunk is valid\n");
		return 0;
	}
	printf("  %zu chunks with replicas that missed writes:", total);
	for (k = 0; k < nids; k++)
		printf(" node %" PRIu32 ": %zu", ids[k], counts[k]);
	printf("\n");
	return (int)total;
}

/* One row: node @id, its store entry @m (NULL: never registered). */
static void row(uint32_t id, const struct sb_member *m, bool in_file)
{
	char inc[24] = "-", gen[12] = "-", boot[24] = "-";
	const char *state = "unknown";

	if (m && m->up) {
		state = "up";
		snprintf(inc, sizeof(inc), "%" PRId64, m->alive.incarnation);
		snprintf(gen, sizeof(gen), "%.8s", m->alive.gen);
		snprintf(boot, sizeof(boot), "%" PRIu64, m->alive.boot);
	} else if (m && m->known) {
		state = "down";
		snprintf(gen, sizeof(gen), "%.8s", m->gen.gen);
		snprintf(boot, sizeof(boot), "%" PRIu64, m->gen.boot);
	}
	printf("  %-6" PRIu32 " %-7s %-20s %-9s %6s%s%s%s\n", id, state, inc,
	       gen, boot,
	       !m || m->state == XP_NODE_IN ? ""
	       : m->state == XP_NODE_OUT    ? "  out of placement"
					    : "  joining placement",
	       m && m->damaged ? "  damaged record" : "",
	       in_file ? "" : "  not in the cluster file");
}

int sbt_store_status(const struct sb_cluster *cl, uint64_t *out)
{
	struct sb_members ms;
	struct xp_kv *kv;
	char err[256];
	unsigned int i, down = 0;
	size_t j;
	int ret, stale;

	*out = 0;
	printf("\ncluster store:");
	if (!cl->etcd[0]) {
		printf(" none (no etcd in the cluster file: writes need every "
		       "replica, docs/recovery.md)\n");
		return 0;
	}
	printf(" etcd %s, prefix %s\n", cl->etcd, cl->etcd_prefix);
	ret = xp_etcd_open(cl->etcd, STORE_TIMEOUT_MS, &kv, err, sizeof(err));
	if (ret) {
		printf("  %s\n", err);
		return ret;
	}
	ret = sb_members_read(kv, cl->etcd_prefix, &ms);
	if (!ret) {
		stale = print_stale(kv, cl->etcd_prefix);
		if (stale < 0) {
			sb_members_free(&ms);
			ret = stale;
		}
	}
	xp_kv_close(kv);
	if (ret) {
		printf("  cannot read it: %s\n", strerror(-ret));
		return ret;
	}
	printf("  revision %" PRId64 "\n", ms.rev);
	printf("  %-6s %-7s %-20s %-9s %6s\n", "ID", "STATE", "INCARNATION",
	       "GEN", "BOOT");
	for (i = 0; i < cl->nr_nodes; i++) {
		const struct sb_member *m =
			sb_members_find(&ms, cl->nodes[i].id);

		row(cl->nodes[i].id, m, true);
		down += !(m && (m->up || m->state != XP_NODE_IN));
		if (m && m->state != XP_NODE_IN)
			*out |= 1ull << i;
	}
	for (j = 0; j < ms.n; j++)
		if (sb_cluster_node_index(cl, ms.m[j].id) < 0)
			row(ms.m[j].id, &ms.m[j], false);
	sb_members_free(&ms);
	return (int)down + stale;
}

/* The store's view now: *@down cluster nodes not up, *@stale chunks. */
static int health(struct xp_kv *kv, const struct sb_cluster *cl,
		  unsigned int *down, size_t *stale)
{
	uint32_t ids[SB_MAX_NODES];
	size_t counts[SB_MAX_NODES], nids;
	struct sb_members ms;
	unsigned int i;
	int ret;

	ret = sb_members_read(kv, cl->etcd_prefix, &ms);
	if (ret)
		return ret;
	*down = 0;
	for (i = 0; i < cl->nr_nodes; i++) {
		const struct sb_member *m =
			sb_members_find(&ms, cl->nodes[i].id);

		*down += !(m && (m->up || m->state != XP_NODE_IN));
	}
	sb_members_free(&ms);
	return stale_counts(kv, cl->etcd_prefix, ids, counts, SB_MAX_NODES,
			    &nids, stale);
}

/* One progress line: a bar on a terminal (redrawn), else a plain line. */
static void progress(size_t first, size_t left, unsigned int down, double rate,
		     bool tty)
{
	char bar[41];
	size_t done = first > left ? first - left : 0;
	unsigned int fill = first ? (unsigned int)(40 * done / first) : 40;

	memset(bar, '#', fill);
	memset(bar + fill, '.', 40 - fill);
	bar[40] = '\0';
	printf("%s[%s] %zu of %zu chunks copied, %.1f chunks/s",
	       tty ? "\r" : "", bar, done, first, rate);
	if (rate > 0 && left)
		printf(", about %.0f s left", (double)left / rate);
	if (down)
		printf(", %u node%s down", down, down == 1 ? "" : "s");
	printf("%s", tty ? "   " : "\n");
	fflush(stdout);
}

int sbt_wait_healthy(const struct sb_cluster *cl, unsigned int timeout_s)
{
	uint64_t t0 = sb_now_ms(), last_print = 0;
	size_t first = SIZE_MAX, left = 0, prev = SIZE_MAX;
	bool tty = isatty(STDOUT_FILENO);
	unsigned int down = 0;
	struct xp_kv *kv;
	char err[256];
	int ret;

	if (!cl->etcd[0]) {
		fprintf(stderr,
			"%s: wait-healthy needs a cluster store (etcd "
			"in the cluster file)\n",
			sbt_prog);
		return EXIT_USAGE;
	}
	ret = xp_etcd_open(cl->etcd, STORE_TIMEOUT_MS, &kv, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "%s: %s\n", sbt_prog, err);
		return EXIT_USAGE;
	}
	for (;;) {
		uint64_t now = sb_now_ms();
		double secs = (double)(now - t0) / 1000.0;

		ret = health(kv, cl, &down, &left);
		if (ret) {
			fprintf(stderr, "%s: cluster store: %s\n", sbt_prog,
				strerror(-ret));
		} else {
			if (first == SIZE_MAX)
				first = left;
			if (left > first)
				first = left; /* more degraded writes meanwhile */
			if (left != prev || now - last_print >= 5000 || !left) {
				progress(first, left, down,
					 secs > 0
						 ? (double)(first - left) / secs
						 : 0,
					 tty);
				prev = left;
				last_print = now;
			}
			if (!left && !down)
				break;
		}
		if (timeout_s && now - t0 >= (uint64_t)timeout_s * 1000) {
			printf("%s%s: not healthy after %u s\n",
			       tty ? "\n" : "", sbt_prog, timeout_s);
			xp_kv_close(kv);
			return EXIT_UNREACHABLE;
		}
		usleep(100 * 1000);
	}
	xp_kv_close(kv);
	printf("%shealthy: every node up, every chunk's replicas valid (%.1f "
	       "s)\n",
	       tty ? "\n" : "", (double)(sb_now_ms() - t0) / 1000.0);
	return 0;
}
