/* SPDX-License-Identifier: Apache-2.0 */
/*
 * spanblkctl: administer a spanblk cluster from the cluster file.
 *
 *   spanblkctl [-c FILE] status              nodes, LUNs, bytes per node
 *   spanblkctl [-c FILE] lun create NAME SIZE
 *   spanblkctl [-c FILE] lun delete NAME
 *   spanblkctl [-c FILE] lun resize NAME SIZE
 *   spanblkctl [-c FILE] lun list
 *   spanblkctl [-c FILE] counters            per-node STAT counters
 *
 * It is a gateway like the handler: it connects to every node through the
 * engine (HELLO/AUTH with the cluster secret) and uses the engine's
 * synchronous control operations. Exit codes: 0 success, 1 the operation
 * failed, 2 usage or configuration error, 3 nodes unreachable.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/config.h"
#include "tools/cli.h"
#include "tools/ctl_node.h"
#include "tools/ctl_scrub.h"
#include "tools/ctl_store.h"
#include "lib/engine.h"
#include "lib/util/clock.h"
#include "lib/util/log.h"
#include "lib/place.h"
#include "xport/auth.h"
#include "xport/proto.h"

const char sbt_prog[] = "spanblkctl";

#define CTL_CONNECT_MS 5000
#define SIZE_ALIGN 4096u

/* One LUN as the union of the nodes' STAT answers. */
struct ctl_lun {
	uint64_t id;
	uint64_t size;
	uint64_t allocated; /* summed over nodes */
	unsigned int nodes; /* nodes that report it */
	uint64_t on; /* bit i: node index i reports it */
	char name[XP_LUN_NAME_MAX + 1];
	struct xp_layout layout; /* as the first node reporting it says */
};

/* How long `status` waits for RDMA set-up before reporting payload. */
#define PAYLOAD_WAIT_MS 3000

/* Everything `status`, `lun list` and `counters` show. */
struct ctl_view {
	unsigned int nr_nodes;
	unsigned int nanswered; /* nodes whose STAT succeeded */
	bool up[SB_MAX_NODES];
	int err[SB_MAX_NODES]; /* STAT result, 0 when st is valid */
	struct xp_stat st[SB_MAX_NODES];
	uint64_t stored[SB_MAX_NODES]; /* bytes the node's LUN files hold */
	struct ctl_lun *luns;
	size_t nluns;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: spanblkctl [-c CLUSTER_FILE] [-v] COMMAND\n"
		"\n"
		"commands:\n"
		"  status                   nodes up/down, LUNs, bytes stored "
		"per node\n"
		"  lun create NAME SIZE     create a LUN on every node (SIZE: "
		"10G, 512M, ...)\n"
		"  lun delete NAME          delete a LUN and its data on every "
		"node\n"
		"  lun resize NAME SIZE     change a LUN's size on every node\n"
		"  lun list                 LUNs with their sizes and bytes "
		"stored\n"
		"  counters                 per-node operation and byte "
		"counters\n"
		"  scrub LUN [--repair-from NODE]\n"
		"                           compare every chunk's valid "
		"replicas (checksums on\n"
		"                           the nodes); repair from the "
		"majority or NODE\n"
		"  wait-healthy [SECONDS]   with a cluster store: show resync "
		"progress until\n"
		"                           every node is up and every chunk's "
		"replicas are\n"
		"                           valid (exit 3 after SECONDS)\n"
		"  node out ID [--force]    take a node out of placement (dead "
		"for good): its\n"
		"                           chunks get new replicas; --force "
		"even when it\n"
		"                           holds the only valid copy of some\n"
		"  node in ID               put it back (its chunks are copied "
		"to it again)\n"
		"\n"
		"options:\n"
		"  -c, --cluster FILE       cluster file (default %s)\n"
		"  -v, --verbose            log connection progress\n"
		"  -h, --help               this text\n"
		"\n"
		"LUN names: 1-64 characters of [A-Za-z0-9._-]. SIZE is a "
		"multiple of\n"
		"4096 bytes with an optional K, M, G or T suffix (powers of "
		"1024).\n"
		"exit status: 0 ok, 1 operation failed, 2 "
		"usage/configuration,\n"
		"3 nodes unreachable.\n",
		SB_DEFAULT_CLUSTER_CONF);
}

/* Human-readable size into @buf ("1.5 GiB"). */
static const char *human(uint64_t v, char *buf, size_t len)
{
	static const char *const units[] = {"B",   "KiB", "MiB",
					    "GiB", "TiB", "PiB"};
	double d = (double)v;
	unsigned int u = 0;

	while (d >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		d /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " B", v);
	else
		snprintf(buf, len, "%.1f %s", d, units[u]);
	return buf;
}

static int exit_for(int err)
{
	return err == -EHOSTUNREACH || err == -ETIMEDOUT || err == -ECONNRESET
		       ? EXIT_UNREACHABLE
		       : EXIT_FAIL;
}

static int parse_name(const char *name)
{
	if (!xp_lun_name_valid(name, strlen(name))) {
		fprintf(stderr,
			"spanblkctl: '%s' is not a valid LUN name (1-64 "
			"characters of A-Z a-z 0-9 . _ -)\n",
			name);
		return -EINVAL;
	}
	return 0;
}

static int parse_lun_size(const char *s, uint64_t *size)
{
	int ret = sb_parse_size(s, size);

	if (ret) {
		fprintf(stderr,
			"spanblkctl: '%s' is not a size (examples: 1073741824, "
			"512M, 10G)\n",
			s);
		return ret;
	}
	if (*size == 0 || *size % SIZE_ALIGN) {
		fprintf(stderr,
			"spanblkctl: size must be a nonzero multiple of %u "
			"bytes\n",
			SIZE_ALIGN);
		return -EINVAL;
	}
	return 0;
}

static struct ctl_lun *view_find(struct ctl_view *v, uint64_t id)
{
	size_t i;

	for (i = 0; i < v->nluns; i++)
		if (v->luns[i].id == id)
			return &v->luns[i];
	return NULL;
}

/* Merge node index @idx's LUN entries into @v. 0 or -ENOMEM. */
static int view_merge(struct ctl_view *v, unsigned int idx,
		      const struct xp_stat_lun *l, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		struct ctl_lun *c = view_find(v, l[i].lun_id);

		if (!c) {
			struct ctl_lun *nl;

			nl = realloc(v->luns, (v->nluns + 1) * sizeof(*nl));
			if (!nl)
				return -ENOMEM;
			v->luns = nl;
			c = &v->luns[v->nluns++];
			memset(c, 0, sizeof(*c));
			c->id = l[i].lun_id;
			c->size = l[i].size;
			c->layout = l[i].layout;
			snprintf(c->name, sizeof(c->name), "%s", l[i].name);
		} else if (c->size != l[i].size) {
			fprintf(stderr,
				"spanblkctl: warning: LUN %s has size %" PRIu64
				" on one node and %" PRIu64 " on "
				"another\n",
				c->name, c->size, l[i].size);
		}
		c->allocated += l[i].allocated;
		c->nodes++;
		c->on |= 1ull << idx;
	}
	return 0;
}

static int cmp_lun(const void *a, const void *b)
{
	return strcmp(((const struct ctl_lun *)a)->name,
		      ((const struct ctl_lun *)b)->name);
}

static uint64_t node_allocated(const struct xp_stat_lun *l, int n)
{
	uint64_t sum = 0;
	int i;

	for (i = 0; i < n; i++)
		sum += l[i].allocated;
	return sum;
}

/* STAT every node that is up. 0, or -ENOMEM. */
static int view_load(struct sb_engine *e, const struct sb_cluster *cl,
		     struct ctl_view *v)
{
	unsigned int i;
	int ret;

	memset(v, 0, sizeof(*v));
	v->nr_nodes = cl->nr_nodes;
	for (i = 0; i < cl->nr_nodes; i++) {
		struct xp_stat_lun *l = NULL;
		int n;

		v->up[i] = sb_engine_node_up(e, i);
		if (!v->up[i]) {
			v->err[i] = -EHOSTUNREACH;
			continue;
		}
		n = sb_engine_stat(e, i, &v->st[i], &l);
		if (n < 0) {
			v->err[i] = n;
			continue;
		}
		v->nanswered++;
		v->stored[i] = node_allocated(l, n);
		ret = view_merge(v, i, l, n);
		free(l);
		if (ret)
			return ret;
	}
	if (v->nluns)
		qsort(v->luns, v->nluns, sizeof(*v->luns), cmp_lun);
	return 0;
}

static void print_luns(const struct ctl_view *v)
{
	char b1[32], b2[32];
	size_t i;

	if (!v->nluns) {
		printf("  (no LUNs)\n");
		return;
	}
	printf("  %-24s %16s %12s %12s %9s %4s  %s\n", "NAME", "SIZE (bytes)",
	       "SIZE", "STORED", "CHUNK", "REPL", "ID");
	for (i = 0; i < v->nluns; i++) {
		const struct ctl_lun *l = &v->luns[i];
		char b3[32];

		printf("  %-24s %16" PRIu64 " %12s %12s %9s %4u  %016" PRIx64
		       "%s\n",
		       l->name, l->size, human(l->size, b1, sizeof(b1)),
		       human(l->allocated, b2, sizeof(b2)),
		       human(l->layout.chunk_size, b3, sizeof(b3)),
		       (unsigned int)l->layout.replicas, l->id,
		       l->nodes < v->nanswered ? "  (not on every node)" : "");
	}
	printf("  STORED counts every replica (REPL per chunk).\n");
}

/*
 * Name the nodes that answered but lack a LUN others hold: its copies
 * there are gone (a wiped data folder, or one the node retired as an old
 * copy) and are not refilled, so its chunks there are a copy short.
 * Returns how many (LUN, node) pairs.
 */
static unsigned int print_missing(const struct sb_cluster *cl,
				  const struct ctl_view *v, bool print)
{
	unsigned int i, n = 0;
	size_t j;

	for (j = 0; j < v->nluns; j++) {
		const struct ctl_lun *l = &v->luns[j];

		for (i = 0; i < cl->nr_nodes; i++) {
			if (!v->up[i] || v->err[i] || (l->on & (1ull << i)))
				continue;
			if (print && !n)
				printf("\n");
			n++;
			if (print)
				printf("  LUN %s has no copy on node %u: its "
				       "data folder was wiped or retired "
				       "(docs/recovery.md); a gateway that "
				       "opens the LUN backfills it\n",
				       l->name, cl->nodes[i].id);
		}
	}
	return n;
}

/*
 * How this tool's connection to node @i moves payload, as the engine and
 * the node's STAT (flags) see it: "rdma", or "tcp (why)".
 */
static const char *payload_text(struct sb_engine *e, unsigned int i,
				const struct xp_stat *st, char *buf, size_t len)
{
	char why[96];
	enum sb_payload p = sb_engine_node_payload(e, i, why, sizeof(why));

	if (p == SB_PAYLOAD_RDMA && (st->flags & XP_STAT_F_RDMA_SESSION))
		snprintf(buf, len, "rdma");
	else if (p == SB_PAYLOAD_PENDING)
		snprintf(buf, len, "tcp (rdma being set up)");
	else
		snprintf(buf, len, "tcp (%s%s)", why[0] ? why : "node: no rdma",
			 st->flags & XP_STAT_F_RDMA ? "; node has rdma" : "");
	return buf;
}

/* A node the engine moves payload to by RDMA does not say so yet. */
static bool node_lags(struct sb_engine *e, const struct ctl_view *v)
{
	unsigned int i;

	for (i = 0; i < v->nr_nodes; i++)
		if (v->up[i] && !v->err[i] &&
		    sb_engine_node_payload(e, i, NULL, 0) == SB_PAYLOAD_RDMA &&
		    !(v->st[i].flags & XP_STAT_F_RDMA_SESSION))
			return true;
	return false;
}

static int cmd_status(struct sb_engine *e, const struct sb_cluster *cl,
		      const char *path)
{
	struct ctl_view v;
	unsigned int i, up = 0, down = 0, nout = 0, missing;
	uint64_t out = 0;
	char b1[32];
	int ret, store;

	/* STAT then tells whether this session's payload moves by RDMA. */
	(void)sb_engine_wait_payload(e, PAYLOAD_WAIT_MS);
	ret = view_load(e, cl, &v);
	/* The node may read its ESTABLISHED a moment after the engine. */
	for (i = 0; !ret && i < PAYLOAD_WAIT_MS / 100 && node_lags(e, &v);
	     i++) {
		free(v.luns);
		usleep(100 * 1000);
		ret = view_load(e, cl, &v);
	}
	if (ret)
		goto out_free;
	printf("cluster %s: %u nodes, %u replicas, chunk %s\n", path,
	       cl->nr_nodes, cl->replicas,
	       human(cl->chunk_size, b1, sizeof(b1)));
	printf("\nnodes:\n");
	printf("  %-6s %-28s %-5s %10s %6s %12s  %s\n", "ID", "ADDRESS",
	       "STATE", "UPTIME", "LUNS", "STORED", "PAYLOAD");
	for (i = 0; i < cl->nr_nodes; i++) {
		const struct sb_node_addr *a = &cl->nodes[i];
		char addr[SB_HOST_MAX + 16];
		char upt[32], pay[160];

		snprintf(addr, sizeof(addr), "%s:%u", a->host, a->port);
		if (!v.up[i] || v.err[i]) {
			printf("  %-6u %-28s %-5s %10s %6s %12s%s%s\n", a->id,
			       addr, "down", "-", "-", "-",
			       v.up[i] ? "  STAT failed: " : "",
			       v.up[i] ? strerror(-v.err[i]) : "");
			continue;
		}
		up++;
		snprintf(upt, sizeof(upt), "%" PRIu64 "s", v.st[i].uptime_s);
		printf("  %-6u %-28s %-5s %10s %6u %12s  %s\n", a->id, addr,
		       "up", upt, v.st[i].nluns,
		       human(v.stored[i], b1, sizeof(b1)),
		       payload_text(e, i, &v.st[i], pay, sizeof(pay)));
	}
	printf("\nLUNs:\n");
	print_luns(&v);
	missing = print_missing(cl, &v, true);
	store = sbt_store_status(cl, &out);
	for (i = 0; i < cl->nr_nodes; i++)
		nout += (out >> i) & 1;
	printf("\n%u of %u nodes up", up, cl->nr_nodes);
	if (nout)
		printf(" (%u out of placement)", nout);
	printf("\n");
	for (i = 0; i < cl->nr_nodes; i++)
		if (!v.up[i] || v.err[i])
			down += !((out >> i) & 1); /* out: not needed */
	ret = !down && store == 0 && !missing ? 0 : -EHOSTUNREACH;
out_free:
	free(v.luns);
	if (ret == -ENOMEM) {
		fprintf(stderr, "spanblkctl: out of memory\n");
		return EXIT_FAIL;
	}
	return ret ? EXIT_UNREACHABLE : 0;
}

static int cmd_lun_list(struct sb_engine *e, const struct sb_cluster *cl)
{
	struct ctl_view v;
	unsigned int i, up = 0;
	int ret;

	ret = view_load(e, cl, &v);
	if (ret) {
		free(v.luns);
		fprintf(stderr, "spanblkctl: %s\n", strerror(-ret));
		return EXIT_FAIL;
	}
	for (i = 0; i < cl->nr_nodes; i++)
		up += v.up[i] && !v.err[i];
	print_luns(&v);
	free(v.luns);
	if (up < cl->nr_nodes) {
		fprintf(stderr,
			"spanblkctl: warning: only %u of %u nodes answered; "
			"the list may be incomplete\n",
			up, cl->nr_nodes);
		return EXIT_UNREACHABLE;
	}
	return 0;
}

static int cmd_counters(struct sb_engine *e, const struct sb_cluster *cl)
{
	unsigned int i;
	int rc = 0;

	printf("%-6s %-5s %10s %10s %10s %8s %8s %8s %14s %14s %14s %14s "
	       "%12s %6s\n",
	       "NODE", "STATE", "READS", "WRITES", "FUA_WRITES", "FLUSHES",
	       "UNMAPS", "CAWS", "BYTES_READ", "BYTES_WRITTEN", "BYTES_TCP",
	       "BYTES_RDMA", "BYTES_CTL", "CONNS");
	for (i = 0; i < cl->nr_nodes; i++) {
		struct xp_stat st;
		int n = -EHOSTUNREACH;

		if (sb_engine_node_up(e, i))
			n = sb_engine_stat(e, i, &st, NULL);
		if (n < 0) {
			printf("%-6u %-5s (%s)\n", cl->nodes[i].id, "down",
			       strerror(-n));
			rc = EXIT_UNREACHABLE;
			continue;
		}
		printf("%-6u %-5s %10" PRIu64 " %10" PRIu64 " %10" PRIu64
		       " %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %14" PRIu64
		       " %14" PRIu64 " %14" PRIu64 " %14" PRIu64 " %12" PRIu64
		       " %6" PRIu64 "\n",
		       cl->nodes[i].id, "up", st.ops_read, st.ops_write,
		       st.ops_write_fua, st.ops_flush, st.ops_unmap, st.ops_caw,
		       st.bytes_read, st.bytes_written, st.bytes_tcp_payload,
		       st.bytes_rdma, st.bytes_tcp_control, st.conns);
	}
	return rc;
}

static int report(int ret, const char *what, const char *name)
{
	const char *why;

	if (!ret)
		return 0;
	switch (ret) {
	case -EHOSTUNREACH:
		why = "a node is down (every node must be up; see 'spanblkctl "
		      "status')";
		break;
	case -EEXIST:
		why = "a LUN with that id exists with another name or size";
		break;
	case -ENOENT:
		why = "no such LUN";
		break;
	case -ENOSPC:
		why = "a node's disk is full";
		break;
	default:
		why = strerror(-ret);
		break;
	}
	fprintf(stderr, "spanblkctl: %s %s: %s\n", what, name, why);
	return exit_for(ret);
}

static int cmd_lun(struct sb_engine *e, int argc, char **argv)
{
	const char *sub = argv[0];
	struct xp_layout lay;
	uint64_t size = 0, cur = 0;
	char b1[32];
	int ret;

	if (!strcmp(sub, "create") || !strcmp(sub, "resize")) {
		if (argc != 3)
			return sbt_usage_error("usage: lun %s NAME SIZE", sub);
		if (parse_name(argv[1]) || parse_lun_size(argv[2], &size))
			return EXIT_USAGE;
		if (!strcmp(sub, "create")) {
			ret = sb_engine_lun_create(e, argv[1], size);
			if (ret)
				return report(ret, "cannot create LUN",
					      argv[1]);
			printf("created LUN %s, %" PRIu64 " bytes (%s), id "
			       "%016" PRIx64 "\n",
			       argv[1], size, human(size, b1, sizeof(b1)),
			       sb_lun_id(argv[1]));
			return 0;
		}
		/* Only the size matters here; any layout will do. */
		ret = sb_engine_lun_open(e, sb_lun_id(argv[1]), &cur, &lay);
		if (ret && ret != -EMEDIUMTYPE)
			return report(ret, "cannot resize LUN", argv[1]);
		ret = sb_engine_lun_resize(e, sb_lun_id(argv[1]), size);
		if (ret)
			return report(ret, "cannot resize LUN", argv[1]);
		printf("resized LUN %s from %" PRIu64 " to %" PRIu64 " bytes "
		       "(%s)\n",
		       argv[1], cur, size, human(size, b1, sizeof(b1)));
		return 0;
	}
	if (!strcmp(sub, "delete")) {
		if (argc != 2)
			return sbt_usage_error("usage: lun delete NAME");
		if (parse_name(argv[1]))
			return EXIT_USAGE;
		ret = sb_engine_lun_delete(e, sb_lun_id(argv[1]));
		if (ret)
			return report(ret, "cannot delete LUN", argv[1]);
		printf("deleted LUN %s\n", argv[1]);
		return 0;
	}
	return sbt_usage_error("unknown lun command '%s' (create, delete, "
			       "resize, list)",
			       sub);
}

/* `scrub LUN [--repair-from NODE]`. */
static int cmd_scrub(struct sb_engine *e, const struct sb_cluster *cl, int argc,
		     char **argv)
{
	uint64_t from = 0;

	if (parse_name(argv[0]))
		return EXIT_USAGE;
	if (argc == 3 && (sb_parse_uint(argv[2], 1, UINT32_MAX, &from) ||
			  sb_cluster_node_index(cl, (uint32_t)from) < 0))
		return sbt_usage_error("--repair-from: '%s' is not a node of "
				       "the cluster",
				       argv[2]);
	return sbt_scrub(e, cl, argv[0], (uint32_t)from);
}

/* `node out|in ID [--force]`: the LUNs from the nodes, then the store. */
static int cmd_node(struct sb_engine *e, const struct sb_cluster *cl, int argc,
		    char **argv)
{
	struct sbt_lun_ref *refs = NULL;
	bool force = argc == 3;
	struct ctl_view v;
	uint64_t id;
	size_t i;
	int rc;

	if (sb_parse_uint(argv[1], 1, UINT32_MAX, &id))
		return sbt_usage_error("node: '%s' is not a node id", argv[1]);
	if (view_load(e, cl, &v)) {
		free(v.luns);
		fprintf(stderr, "spanblkctl: out of memory\n");
		return EXIT_FAIL;
	}
	if (!v.nanswered) {
		free(v.luns);
		fprintf(stderr, "spanblkctl: no node answered: the LUNs are "
				"unknown\n");
		return EXIT_UNREACHABLE;
	}
	refs = calloc(v.nluns ? v.nluns : 1, sizeof(*refs));
	if (!refs) {
		free(v.luns);
		return EXIT_FAIL;
	}
	for (i = 0; i < v.nluns; i++) {
		refs[i].id = v.luns[i].id;
		refs[i].size = v.luns[i].size;
	}
	rc = sbt_node_set(cl, refs, v.nluns, (uint32_t)id,
			  !strcmp(argv[0], "out"), force);
	free(refs);
	free(v.luns);
	return rc;
}

/*
 * (LUN, node) pairs where an up node lacks a LUN other nodes hold (the
 * store cannot say: a wiped node has no records until a gateway
 * backfills it); -errno when the nodes cannot be asked.
 */
static int lacking(const struct sb_cluster *cl, const struct xp_secret *sec)
{
	struct sb_engine *e;
	struct ctl_view v;
	char err[256];
	int ret;

	e = sb_engine_new(cl, sec, err, sizeof(err));
	if (!e) {
		fprintf(stderr, "spanblkctl: %s\n", err);
		return -EIO;
	}
	sb_engine_wait_ready(e, CTL_CONNECT_MS);
	ret = view_load(e, cl, &v);
	if (!ret)
		ret = (int)print_missing(cl, &v, false);
	if (ret > 0)
		print_missing(cl, &v, true);
	free(v.luns);
	sb_engine_free(e);
	return ret;
}

/*
 * `wait-healthy [SECONDS]`: the cluster store's records, then the nodes:
 * healthy when no chunk is stale, every node is up and every node holds
 * every LUN.
 */
static int wait_healthy(const char *path, bool verbose, int argc, char **argv)
{
	struct sb_cluster *cl;
	struct xp_secret secret;
	uint64_t secs = 0, t0 = sb_now_ms(), spent;
	int rc, n;

	if (argc > 1 ||
	    (argc == 1 && sb_parse_uint(argv[0], 1, 86400 * 7, &secs)))
		return sbt_usage_error("usage: wait-healthy [SECONDS]");
	rc = sbt_cluster_load(path, verbose, &cl, &secret);
	if (rc)
		return rc;
	cl->rdma = SB_RDMA_OFF;
	for (;;) {
		spent = (sb_now_ms() - t0) / 1000;
		if (secs && spent >= secs) {
			printf("spanblkctl: not healthy after %u s\n",
			       (unsigned int)secs);
			rc = EXIT_UNREACHABLE;
			break;
		}
		rc = sbt_wait_healthy(cl,
				      secs ? (unsigned int)(secs - spent) : 0);
		if (rc || !cl->etcd[0])
			break;
		n = lacking(cl, &secret);
		if (!n)
			break;
		if (n < 0) {
			rc = EXIT_FAIL;
			break;
		}
		sleep(1); /* a gateway records the chunks, then copies */
	}
	memset(&secret, 0, sizeof(secret));
	free(cl);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"cluster", required_argument, NULL, 'c'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *path = SB_DEFAULT_CLUSTER_CONF;
	struct sb_cluster *cl = NULL;
	struct xp_secret secret;
	struct sb_engine *e = NULL;
	char err[512];
	const char *cmd;
	bool verbose = false;
	int c, rc, up;

	while ((c = getopt_long(argc, argv, "+c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		default:
			rc = sbt_common_opt(c, &verbose, usage);
			if (rc >= 0)
				return rc;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[optind];
	argc -= optind + 1;
	argv += optind + 1;
	if (!strcmp(cmd, "wait-healthy"))
		return wait_healthy(path, verbose, argc, argv);
	if (strcmp(cmd, "status") && strcmp(cmd, "lun") &&
	    strcmp(cmd, "counters") && strcmp(cmd, "scrub") &&
	    strcmp(cmd, "node")) {
		fprintf(stderr, "spanblkctl: unknown command '%s'\n", cmd);
		usage(stderr);
		return EXIT_USAGE;
	}
	if ((!strcmp(cmd, "status") || !strcmp(cmd, "counters")) && argc)
		return sbt_usage_error("%s takes no arguments", cmd);
	if (!strcmp(cmd, "scrub") &&
	    (argc != 1 && !(argc == 3 && !strcmp(argv[1], "--repair-from"))))
		return sbt_usage_error("usage: scrub LUN [--repair-from NODE]");
	if (!strcmp(cmd, "node") && !((argc == 2 && (!strcmp(argv[0], "out") ||
						     !strcmp(argv[0], "in"))) ||
				      (argc == 3 && !strcmp(argv[0], "out") &&
				       !strcmp(argv[2], "--force"))))
		return sbt_usage_error("usage: node out ID [--force] | node "
				       "in ID");
	if (!strcmp(cmd, "lun") && argc < 1)
		return sbt_usage_error("usage: lun "
				       "create|delete|resize|list ...");
	if (!strcmp(cmd, "lun") && !strcmp(argv[0], "list") && argc != 1)
		return sbt_usage_error("lun list takes no arguments");

	/* Connection warnings only with -v; the commands report failures. */
	rc = sbt_cluster_load(path, verbose, &cl, &secret);
	if (rc)
		return rc;
	/* Only status looks at payload transport; nothing else moves any. */
	if (strcmp(cmd, "status"))
		cl->rdma = SB_RDMA_OFF;
	e = sb_engine_new(cl, &secret, err, sizeof(err));
	memset(&secret, 0, sizeof(secret));
	if (!e) {
		fprintf(stderr, "spanblkctl: %s\n", err);
		rc = EXIT_FAIL;
		goto out_free_cluster;
	}
	up = sb_engine_wait_ready(e, CTL_CONNECT_MS);
	if (verbose)
		fprintf(stderr, "spanblkctl: %d of %u nodes up\n", up,
			cl->nr_nodes);

	if (!strcmp(cmd, "status"))
		rc = cmd_status(e, cl, path);
	else if (!strcmp(cmd, "counters"))
		rc = cmd_counters(e, cl);
	else if (!strcmp(cmd, "scrub"))
		rc = cmd_scrub(e, cl, argc, argv);
	else if (!strcmp(cmd, "node"))
		rc = cmd_node(e, cl, argc, argv);
	else if (!strcmp(argv[0], "list"))
		rc = cmd_lun_list(e, cl);
	else
		rc = cmd_lun(e, argc, argv);

	sb_engine_free(e);
out_free_cluster:
	free(cl);
	return rc;
}
