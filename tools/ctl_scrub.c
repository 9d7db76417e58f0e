// SPDX-License-Identifier: Apache-2.0
/* spanblkctl scrub (tools/ctl_scrub.h). */
#include "tools/ctl_scrub.h"
#include "lib/place.h"
#include "tools/cli.h"
#include "xport/kv.h"
#include "xport/records.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define STORE_TIMEOUT_MS 2000

struct scrub {
	struct sb_engine *e;
	const struct sb_cluster *cl;
	uint64_t lun, size;
	unsigned int replicas;
	uint32_t repair_from;
	uint64_t *stale; /* per chunk: node indices stale (from the store) */
	uint64_t nchunks;
	/* results */
	uint64_t compared, skipped, mismatched, repaired, unrepaired, errors;
};

/* The stale masks of the LUN's chunks from the store. 0 or -errno. */
static int load_stale(struct scrub *sc)
{
	char key[XP_REC_KEY_MAX], err[256];
	struct xp_kv_list l = {0};
	struct xp_kv *kv;
	size_t i, k;
	int ret;

	if (!sc->cl->etcd[0])
		return 0;
	ret = xp_etcd_open(sc->cl->etcd, STORE_TIMEOUT_MS, &kv, err,
			   sizeof(err));
	if (ret)
		return ret;
	ret = xp_rec_key_stale_prefix(key, sizeof(key), sc->cl->etcd_prefix,
				      true, sc->lun);
	if (!ret)
		ret = xp_kv_get(kv, key, true, &l);
	xp_kv_close(kv);
	for (i = 0; !ret && i < l.n; i++) {
		struct xp_rec_stale st;
		uint64_t lun, chunk;

		if (xp_rec_key_parse_stale(l.items[i].key, sc->cl->etcd_prefix,
					   &lun, &chunk) ||
		    xp_rec_stale_decode(l.items[i].val, l.items[i].vlen, &st)) {
			ret = -EPROTO;
			break;
		}
		for (k = 0; chunk < sc->nchunks && k < st.n; k++) {
			int idx = sb_cluster_node_index(sc->cl, st.nodes[k]);

			if (idx >= 0)
				sc->stale[chunk] |= 1ull << idx;
		}
	}
	xp_kv_list_free(&l);
	return ret;
}

/* Node index @idx's push target: its id and numeric address. */
static int target_of(const struct sb_cluster *cl, unsigned int idx,
		     struct xp_push_target *t)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
	const struct sb_node_addr *na = &cl->nodes[idx];
	int ret;

	ret = getaddrinfo(na->host, NULL, &hints, &res);
	if (ret)
		return -EHOSTUNREACH;
	memset(t, 0, sizeof(*t));
	if (res->ai_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)res->ai_addr;

		t->addr[10] = t->addr[11] = 0xff;
		memcpy(&t->addr[12], &a->sin_addr, 4);
	} else {
		const struct sockaddr_in6 *a = (const void *)res->ai_addr;

		memcpy(t->addr, &a->sin6_addr, 16);
	}
	freeaddrinfo(res);
	t->port = na->port;
	t->target_id = na->id;
	return 0;
}

/* The source of a repair among @n valid replicas @rep with @crc: the
 * named node, else a strict majority's (three copies or more); -1. */
static int pick_source(const struct scrub *sc, const unsigned int *rep,
		       const uint32_t *crc, unsigned int n)
{
	unsigned int i, j, same;

	for (i = 0; i < n; i++)
		if (sc->repair_from &&
		    sc->cl->nodes[rep[i]].id == sc->repair_from)
			return (int)i;
	if (sc->repair_from || n < 3)
		return -1;
	for (i = 0; i < n; i++) {
		for (same = 0, j = 0; j < n; j++)
			same += crc[j] == crc[i];
		if (2 * same > n)
			return (int)i;
	}
	return -1;
}

/* Copy the chunk from replica @src to each valid replica that differs. */
static void repair(struct scrub *sc, uint64_t c, uint32_t len,
		   const unsigned int *rep, const uint32_t *crc, unsigned int n,
		   unsigned int src)
{
	unsigned int i;
	bool ok = true;

	for (i = 0; i < n; i++) {
		struct xp_push_target t;
		uint32_t after = 0;
		int ret;

		if (crc[i] == crc[src])
			continue;
		ret = target_of(sc->cl, rep[i], &t);
		if (!ret)
			ret = sb_engine_chunk_push(sc->e, rep[src], &t, sc->lun,
						   c * sc->cl->chunk_size, len);
		if (!ret)
			ret = sb_engine_chunk_csum(sc->e, rep[i], sc->lun,
						   c * sc->cl->chunk_size, len,
						   &after);
		if (!ret && after != crc[src])
			ret = -EIO;
		printf("  chunk %" PRIu64 ": ", c);
		printf("node %u repaired from node %u%s%s\n",
		       sc->cl->nodes[rep[i]].id, sc->cl->nodes[rep[src]].id,
		       ret ? ": FAILED: " : "", ret ? strerror(-ret) : "");
		ok &= !ret;
	}
	if (ok)
		sc->repaired++;
	else
		sc->unrepaired++;
}

/* Compare (and repair) chunk @c. */
static void scrub_chunk(struct scrub *sc, uint64_t c)
{
	uint64_t off = c * sc->cl->chunk_size;
	uint32_t len = (uint32_t)(sc->size - off < sc->cl->chunk_size
					  ? sc->size - off
					  : sc->cl->chunk_size);
	unsigned int all[SB_MAX_NODES], rep[SB_MAX_NODES], n, nv = 0, i;
	uint32_t crc[SB_MAX_NODES];
	int src;

	n = sb_place(sc->cl, sc->lun, c, all, sc->replicas);
	for (i = 0; i < n; i++) {
		if ((sc->stale[c] >> all[i]) & 1 ||
		    !sb_engine_node_up(sc->e, all[i]))
			continue;
		if (sb_engine_chunk_csum(sc->e, all[i], sc->lun, off, len,
					 &crc[nv])) {
			sc->errors++;
			continue;
		}
		rep[nv++] = all[i];
	}
	if (nv < 2) {
		sc->skipped++;
		return;
	}
	sc->compared++;
	for (i = 1; i < nv && crc[i] == crc[0]; i++)
		;
	if (i == nv)
		return;
	sc->mismatched++;
	printf("  chunk %" PRIu64 " (bytes %" PRIu64 "+%u) differs:", c, off,
	       len);
	for (i = 0; i < nv; i++)
		printf(" node %u crc %08x", sc->cl->nodes[rep[i]].id, crc[i]);
	printf("\n");
	src = pick_source(sc, rep, crc, nv);
	if (src < 0) {
		printf("  chunk %" PRIu64 ": no majority and no --repair-from: "
		       "left as it is\n",
		       c);
		sc->unrepaired++;
		return;
	}
	repair(sc, c, len, rep, crc, nv, (unsigned int)src);
}

int sbt_scrub(struct sb_engine *e, const struct sb_cluster *cl,
	      const char *name, uint32_t repair_from)
{
	struct scrub sc = {.e = e, .cl = cl, .repair_from = repair_from};
	struct xp_layout lay;
	uint64_t c;
	int ret;

	sc.lun = sb_lun_id(name);
	ret = sb_engine_lun_open(e, sc.lun, &sc.size, &lay);
	if (ret) {
		fprintf(stderr, "%s: LUN %s: %s\n", sbt_prog, name,
			strerror(-ret));
		return EXIT_FAIL;
	}
	sc.replicas = lay.replicas;
	sc.nchunks = (sc.size + cl->chunk_size - 1) / cl->chunk_size;
	sc.stale = calloc(sc.nchunks, sizeof(*sc.stale));
	if (!sc.stale)
		return EXIT_FAIL;
	ret = load_stale(&sc);
	if (ret) {
		fprintf(stderr, "%s: cluster store: %s\n", sbt_prog,
			strerror(-ret));
		free(sc.stale);
		return EXIT_FAIL;
	}
	printf("scrub %s: %" PRIu64 " chunks\n", name, sc.nchunks);
	for (c = 0; c < sc.nchunks; c++)
		scrub_chunk(&sc, c);
	free(sc.stale);
	printf("scrub %s: %" PRIu64 " compared, ", name, sc.compared);
	printf("%" PRIu64 " skipped (fewer than two valid copies up), ",
	       sc.skipped);
	printf("%" PRIu64 " mismatched, ", sc.mismatched);
	printf("%" PRIu64 " repaired, ", sc.repaired);
	printf("%" PRIu64 " left, ", sc.unrepaired);
	printf("%" PRIu64 " checksum errors\n", sc.errors);
	return sc.unrepaired || sc.errors ? EXIT_FAIL : 0;
}
