/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Registered buffer pools (docs/rdma.md, "Pool"): @count buffers of one
 * size in one page-aligned, zeroed region, registered once at a random
 * 2 MiB-aligned IOVA base above every user address, so no process address
 * ever crosses the wire; and the dry-pool policy, back-pressure and never
 * failure: a caller that finds no buffer waits, FIFO, in a place it owns
 * (struct xp_rdma_wait), and the next buffer put back goes to it.
 *
 * No lock: a pool belongs to its connection, and so to the thread that
 * owns the connection (the gateway engine's loop, the node server's loop).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "lib/util/log.h"
#include "rdma_int.h"

#define IOVA_ALIGN (2u << 20)
/* Above every user virtual address (47 or 56 bits), so never one of them. */
#define IOVA_TOP_BIT (1ull << 62)

/* A random IOVA base: 2 MiB aligned, in [2^62, 2^62 + 2^61): never a VA. */
static int random_iova(uint64_t *iova)
{
	uint64_t v;
	ssize_t r;

	r = getrandom(&v, sizeof(v), 0);
	if (r < 0)
		return -errno;
	if (r != (ssize_t)sizeof(v))
		return -EIO;
	/* Below 2^61, so base + XPR_POOL_MAX_BYTES stays under 2^63. */
	v &= (IOVA_TOP_BIT >> 1) - 1;
	v &= ~(uint64_t)(IOVA_ALIGN - 1);
	*iova = IOVA_TOP_BIT | v;
	return 0;
}

struct xp_rdma_pool *xp_rdma_pool_new(const struct xp_verbs_ops *ops,
				      struct ibv_pd *pd, uint32_t count,
				      uint32_t size, unsigned int access)
{
	uint64_t bytes = (uint64_t)count * size;
	struct xp_rdma_pool *p;
	uint32_t i;
	int err;

	if (!ops || !pd || !count || !size || size % XPR_PAGE ||
	    bytes > XPR_POOL_MAX_BYTES) {
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->ops = ops;
	p->count = count;
	p->size = size;
	sb_list_init(&p->free);
	sb_list_init(&p->waiters);
	p->bufs = calloc(count, sizeof(*p->bufs));
	if (!p->bufs)
		goto out_free_pool;
	err = posix_memalign(&p->mem, XPR_PAGE, bytes);
	if (err) {
		p->mem = NULL;
		errno = err;
		goto out_free_bufs;
	}
	/* The peer may read the whole pool: never expose stale heap data. */
	memset(p->mem, 0, bytes);
	err = random_iova(&p->base);
	if (err) {
		errno = -err;
		goto out_free_mem;
	}
	p->mr = ops->reg_mr_iova(pd, p->mem, bytes, p->base, access);
	if (!p->mr) {
		err = errno ? errno : EIO;
		sb_err("rdma: registering a pool of %u x %u bytes: %s", count,
		       size, strerror(err));
		errno = err;
		goto out_free_mem;
	}
	p->lkey = ops->mr_lkey(p->mr);
	p->rkey = ops->mr_rkey(p->mr);
	for (i = 0; i < count; i++) {
		struct xp_rdma_buf *b = &p->bufs[i];

		b->data = (uint8_t *)p->mem + (size_t)i * size;
		b->size = size;
		b->index = i;
		b->iova = p->base + (uint64_t)i * size;
		sb_list_add_tail(&p->free, &b->link);
	}
	p->nfree = count;
	return p;

out_free_mem:
	free(p->mem);
out_free_bufs:
	free(p->bufs);
out_free_pool:
	err = errno;
	free(p);
	errno = err;
	return NULL;
}

/* Take the first waiter off @p's queue. */
static struct xp_rdma_wait *pool_unqueue(struct xp_rdma_pool *p)
{
	struct xp_rdma_wait *w;

	w = container_of(p->waiters.next, struct xp_rdma_wait, link);
	sb_list_del(&w->link);
	w->queued = false;
	return w;
}

void xp_rdma_pool_free(struct xp_rdma_pool *p)
{
	struct xp_rdma_wait *w;
	int err;

	if (!p)
		return;
	while (!sb_list_empty(&p->waiters)) {
		w = pool_unqueue(p);
		w->cb(w->arg, NULL);
	}
	if (p->nfree != p->count)
		sb_err("rdma: pool freed with %u of %u buffers in use",
		       p->count - p->nfree, p->count);
	err = p->ops->dereg_mr(p->mr);
	if (err)
		sb_err("rdma: deregistering a pool: %s", strerror(-err));
	free(p->mem);
	free(p->bufs);
	free(p);
}

struct xp_rdma_buf *xp_rdma_pool_get(struct xp_rdma_pool *p,
				     struct xp_rdma_wait *w, xp_rdma_buf_cb cb,
				     void *arg)
{
	struct xp_rdma_buf *b;

	/* Waiters first: a newcomer never overtakes the queue. */
	if (!sb_list_empty(&p->free) && sb_list_empty(&p->waiters)) {
		b = container_of(p->free.next, struct xp_rdma_buf, link);
		sb_list_del(&b->link);
		p->nfree--;
		return b;
	}
	w->cb = cb;
	w->arg = arg;
	w->queued = true;
	sb_list_add_tail(&p->waiters, &w->link);
	return NULL;
}

void xp_rdma_pool_cancel(struct xp_rdma_pool *p, struct xp_rdma_wait *w)
{
	(void)p;
	if (!w->queued)
		return;
	sb_list_del(&w->link);
	w->queued = false;
}

void xp_rdma_pool_put(struct xp_rdma_pool *p, struct xp_rdma_buf *b)
{
	struct xp_rdma_wait *w;

	if (b->index >= p->count || &p->bufs[b->index] != b) {
		sb_err("rdma: buffer %p is not from this pool", (void *)b);
		return;
	}
	if (!sb_list_empty(&p->waiters)) {
		w = pool_unqueue(p);
		w->cb(w->arg, b);
		return;
	}
	sb_list_add_head(&p->free, &b->link);
	p->nfree++;
}

int xp_rdma_pool_describe(const struct xp_rdma_pool *p,
			  const struct xp_rdma_buf *b, uint32_t off,
			  uint32_t len, struct xp_hdr *h)
{
	if (b->index >= p->count || &p->bufs[b->index] != b)
		return -EINVAL;
	if (!len || off > b->size || len > b->size - off)
		return -EINVAL;
	h->desc_xport = XP_DESC_RDMA;
	h->desc_key = p->rkey;
	h->desc_addr = b->iova + off;
	h->desc_len = len;
	return 0;
}

uint32_t xp_rdma_pool_count(const struct xp_rdma_pool *p)
{
	return p->count;
}

uint32_t xp_rdma_pool_nfree(const struct xp_rdma_pool *p)
{
	return p->nfree;
}

uint64_t xp_rdma_pool_base(const struct xp_rdma_pool *p)
{
	return p->base;
}

uint32_t xp_rdma_pool_lkey(const struct xp_rdma_pool *p)
{
	return p->lkey;
}

uint32_t xp_rdma_pool_rkey(const struct xp_rdma_pool *p)
{
	return p->rkey;
}
