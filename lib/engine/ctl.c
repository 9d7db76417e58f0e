/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The engine's blocking control calls: LUN create, open, resize and
 * delete, and STAT of one node. Each builds a control operation (one
 * request per node it targets), queues it for the loop thread and waits
 * on e->cond until the loop sets the op's ctl_done under e->lock; then it
 * reads the per-node results, which the loop no longer touches.
 *
 * They run on the caller's thread and block: never from a completion
 * callback (the loop thread would wait for itself).
 */

#include "engine_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/log.h"

/*
 * Send @opcode to every node with @targets[i] set (all when NULL) and wait.
 * On success *@opp holds the finished op (reqs[i].err etc. per node);
 * the caller releases it with ctl_free().
 */
static int ctl_run_len(struct sb_engine *e, uint8_t opcode, uint64_t lun_id,
		       uint64_t offset, uint32_t length, const void *payload,
		       uint32_t paylen, const bool *targets,
		       struct eng_op **opp)
{
	struct eng_op *op;
	unsigned int i;
	int ret;

	op = eng_op_alloc(e, 1, e->cl.nr_nodes);
	if (!op)
		return -ENOMEM;
	op->kind = OP_CTL;
	op->ctl_payload = payload;
	op->ctl_paylen = paylen;
	for (i = 0; i < e->cl.nr_nodes; i++) {
		struct eng_req *r = &op->pieces[0].reqs[i];

		if (targets && !targets[i])
			continue;
		eng_req_fill(r, opcode, 0, lun_id, offset, length);
		if (paylen) {
			/* the iovec lives in the piece's slice array */
			r->paylen = paylen;
		}
	}
	if (paylen) {
		op->pieces[0].iov = calloc(1, sizeof(struct iovec));
		if (!op->pieces[0].iov) {
			free(op);
			return -ENOMEM;
		}
		op->pieces[0].iovcap = 1;
		op->pieces[0].iov[0].iov_base = (void *)payload;
		op->pieces[0].iov[0].iov_len = paylen;
		for (i = 0; i < e->cl.nr_nodes; i++) {
			struct eng_req *r = &op->pieces[0].reqs[i];

			if (r->opcode) {
				r->iov = op->pieces[0].iov;
				r->iovcnt = 1;
			}
		}
	}
	ret = eng_op_queue(e, op);
	if (ret) {
		free(op->pieces[0].iov);
		free(op);
		return ret;
	}
	pthread_mutex_lock(&e->lock);
	while (!op->ctl_done)
		pthread_cond_wait(&e->cond, &e->lock);
	pthread_mutex_unlock(&e->lock);
	*opp = op;
	return 0;
}

static int ctl_run(struct sb_engine *e, uint8_t opcode, uint64_t lun_id,
		   uint64_t offset, const void *payload, uint32_t paylen,
		   const bool *targets, struct eng_op **opp)
{
	return ctl_run_len(e, opcode, lun_id, offset, 0, payload, paylen,
			   targets, opp);
}

static void ctl_free(struct eng_op *op)
{
	unsigned int i;

	if (!op)
		return;
	for (i = 0; i < op->rpp; i++)
		free(op->pieces[0].reqs[i].ans_payload);
	free(op->pieces[0].iov);
	free(op);
}

/* Give the first connection attempts a chance before a control op. */
static void ctl_wait_tried(struct sb_engine *e)
{
	int t = (int)e->cl.io_timeout_ms;

	if (t > ENG_HANDSHAKE_MS)
		t = ENG_HANDSHAKE_MS;
	sb_engine_wait_ready(e, t + 100);
}

/* 0 when every node is up, else -EHOSTUNREACH. */
static int ctl_all_up(struct sb_engine *e, const char *what)
{
	unsigned int i;

	ctl_wait_tried(e);
	for (i = 0; i < e->cl.nr_nodes; i++) {
		if (!sb_engine_node_up(e, i)) {
			sb_err("%s needs every node up; node %u (%s:%u) is "
			       "down",
			       what, e->cl.nodes[i].id, e->cl.nodes[i].host,
			       e->cl.nodes[i].port);
			return -EHOSTUNREACH;
		}
	}
	return 0;
}

/*
 * A LUN is created on every node or on none: when some nodes have @name
 * and others do not, the others lost it (a wiped disk, an old copy
 * retired) and hold none of its data, so a LUN_CREATE there would make
 * empty copies nothing records as stale. -EEXIST then: backfill gives
 * them the LUN, with its chunks recorded stale first.
 */
static int ctl_create_check(struct sb_engine *e, const char *name)
{
	struct eng_op *op = NULL;
	unsigned int i, have = 0;
	int ret;

	ret = ctl_run(e, XP_OP_LUN_OPEN, sb_lun_id(name), 0, NULL, 0, NULL,
		      &op);
	if (ret)
		return ret;
	for (i = 0; i < op->rpp; i++) {
		int err = op->pieces[0].reqs[i].err;

		if (!err)
			have++;
		else if (err != -ENOENT && !ret)
			ret = err;
	}
	ctl_free(op);
	if (!ret && have && have < e->cl.nr_nodes) {
		sb_err("LUN %s exists on %u of %u nodes: the others lost it "
		       "and "
		       "get it back by backfill, not by create",
		       name, have, e->cl.nr_nodes);
		ret = -EEXIST;
	}
	return ret;
}

int sb_engine_lun_create(struct sb_engine *e, const char *name, uint64_t size)
{
	uint8_t payload[XP_LAYOUT_LEN + XP_LUN_NAME_MAX];
	struct eng_op *op = NULL;
	struct xp_layout lay;
	unsigned int i;
	size_t len;
	int ret;

	if (!e || !name || size == 0)
		return -EINVAL;
	sb_engine_layout(e, &lay);
	len = strnlen(name, XP_LUN_NAME_MAX + 1);
	if (!xp_lun_name_valid(name, len))
		return -EINVAL;
	ret = ctl_all_up(e, "LUN create");
	if (ret)
		return ret;
	ret = ctl_create_check(e, name);
	if (ret)
		return ret;
	/* Payload: this engine's layout, then the name. */
	xp_layout_encode(&lay, payload);
	memcpy(payload + XP_LAYOUT_LEN, name, len);
	ret = ctl_run(e, XP_OP_LUN_CREATE, sb_lun_id(name), size, payload,
		      (uint32_t)(XP_LAYOUT_LEN + len), NULL, &op);
	if (ret)
		return ret;
	for (i = 0; i < op->rpp && !ret; i++)
		ret = op->pieces[0].reqs[i].err;
	ctl_free(op);
	if (!ret) {
		eng_lun_size_set(e, sb_lun_id(name), size);
		eng_lun_name_set(e, sb_lun_id(name), name);
	}
	return ret;
}

int sb_engine_lun_open(struct sb_engine *e, uint64_t lun_id, uint64_t *size,
		       struct xp_layout *layout)
{
	struct eng_op *op = NULL;
	bool targets[SB_MAX_NODES];
	unsigned int i, nup = 0, nfound = 0, nmissing = 0;
	struct xp_layout flay = {0}, rlay, mine;
	char name[XP_LUN_NAME_MAX + 1], fname[XP_LUN_NAME_MAX + 1] = "";
	uint64_t found = 0;
	int ret, other = 0;

	if (!e || !lun_id || !size || !layout)
		return -EINVAL;
	ctl_wait_tried(e);
	for (i = 0; i < e->cl.nr_nodes; i++) {
		targets[i] = sb_engine_node_up(e, i);
		nup += targets[i];
	}
	if (!nup)
		return -EHOSTUNREACH;
	ret = ctl_run(e, XP_OP_LUN_OPEN, lun_id, 0, NULL, 0, targets, &op);
	if (ret)
		return ret;
	for (i = 0; i < e->cl.nr_nodes; i++) {
		const struct eng_req *r = &op->pieces[0].reqs[i];

		if (!targets[i])
			continue;
		if (r->err == -ENOENT) {
			nmissing++;
		} else if (r->err) {
			if (!other)
				other = r->err;
		} else if (xp_lun_open_decode(r->ans_payload, r->ans_len, &rlay,
					      name) < 0) {
			if (!other)
				other = -EBADMSG;
		} else if (nfound++ && (r->ans_offset != found ||
					rlay.chunk_size != flay.chunk_size ||
					rlay.replicas != flay.replicas ||
					strcmp(name, fname))) {
			sb_err("LUN %016llx: nodes disagree on its size or "
			       "layout (%llu, %llu bytes)",
			       (unsigned long long)lun_id,
			       (unsigned long long)found,
			       (unsigned long long)r->ans_offset);
			ret = -EIO;
		} else {
			found = r->ans_offset;
			flay = rlay;
			memcpy(fname, name, sizeof(fname));
		}
	}
	ctl_free(op);
	if (ret)
		return ret;
	if (!nfound)
		return nmissing && !other ? -ENOENT : other;
	if (nmissing)
		sb_warn("LUN %s: %u node(s) do not have it%s", fname, nmissing,
			e->store ? " (backfilled)" : "");
	*size = found;
	*layout = flay;
	eng_lun_size_set(e, lun_id, found);
	eng_lun_name_set(e, lun_id, fname);
	sb_engine_layout(e, &mine);
	if (flay.chunk_size != mine.chunk_size ||
	    flay.replicas != mine.replicas)
		return -EMEDIUMTYPE;
	return 0;
}

/* Run a LUN-wide @opcode on every node and reduce the answers. */
static int ctl_everywhere(struct sb_engine *e, uint8_t opcode, uint64_t lun_id,
			  uint64_t offset, bool enoent_ok)
{
	struct eng_op *op = NULL;
	unsigned int i, nmissing = 0;
	int ret;

	ret = ctl_all_up(e, xp_opcode_name(opcode));
	if (ret)
		return ret;
	ret = ctl_run(e, opcode, lun_id, offset, NULL, 0, NULL, &op);
	if (ret)
		return ret;
	for (i = 0; i < op->rpp; i++) {
		int err = op->pieces[0].reqs[i].err;

		if (err == -ENOENT && enoent_ok)
			nmissing++;
		else if (err && !ret)
			ret = err;
	}
	if (!ret && nmissing == op->rpp)
		ret = -ENOENT;
	ctl_free(op);
	return ret;
}

int sb_engine_lun_resize(struct sb_engine *e, uint64_t lun_id, uint64_t size)
{
	int ret;

	if (!e || !lun_id || !size)
		return -EINVAL;
	ret = ctl_everywhere(e, XP_OP_LUN_RESIZE, lun_id, size, false);
	if (!ret)
		eng_lun_size_set(e, lun_id, size);
	return ret;
}

int sb_engine_lun_delete(struct sb_engine *e, uint64_t lun_id)
{
	if (!e || !lun_id)
		return -EINVAL;
	eng_lun_size_set(e, lun_id, 0);
	/* a node that lost it already (an earlier partial delete) is fine */
	return ctl_everywhere(e, XP_OP_LUN_DELETE, lun_id, 0, true);
}

int sb_engine_stat(struct sb_engine *e, unsigned int idx, struct xp_stat *st,
		   struct xp_stat_lun **luns)
{
	struct eng_op *op = NULL;
	bool targets[SB_MAX_NODES] = {false};
	struct xp_stat_lun *arr = NULL;
	const struct eng_req *r;
	int ret, n;

	if (!e || idx >= e->cl.nr_nodes || !st)
		return -EINVAL;
	ctl_wait_tried(e);
	targets[idx] = true;
	ret = ctl_run(e, XP_OP_STAT, 0, 0, NULL, 0, targets, &op);
	if (ret)
		return ret;
	r = &op->pieces[0].reqs[idx];
	ret = r->err;
	if (ret)
		goto out_free_op;
	if (!r->ans_payload) {
		ret = -EBADMSG;
		goto out_free_op;
	}
	n = xp_stat_decode(r->ans_payload, r->ans_len, st, NULL, 0);
	if (n < 0) {
		ret = n;
		goto out_free_op;
	}
	if (luns && n > 0) {
		arr = calloc((size_t)n, sizeof(*arr));
		if (!arr) {
			ret = -ENOMEM;
			goto out_free_op;
		}
		n = xp_stat_decode(r->ans_payload, r->ans_len, st, arr,
				   (size_t)n);
		if (n < 0) {
			free(arr);
			ret = n;
			goto out_free_op;
		}
	}
	if (luns)
		*luns = arr;
	ret = n;
out_free_op:
	ctl_free(op);
	return ret;
}

void eng_lun_size_set(struct sb_engine *e, uint64_t lun, uint64_t size)
{
	unsigned int i;

	pthread_mutex_lock(&e->lock);
	for (i = 0; i < e->n_lun_sizes && e->lun_sizes[i].lun != lun; i++)
		;
	if (!size) {
		if (i < e->n_lun_sizes)
			e->lun_sizes[i] = e->lun_sizes[--e->n_lun_sizes];
	} else if (i < e->n_lun_sizes) {
		e->lun_sizes[i].size = size;
	} else if (i < ENG_MAX_LUNS) {
		e->lun_sizes[i].lun = lun;
		e->lun_sizes[i].size = size;
		e->lun_sizes[i].name[0] = '\0';
		e->n_lun_sizes++;
	}
	pthread_mutex_unlock(&e->lock);
}

void eng_lun_name_set(struct sb_engine *e, uint64_t lun, const char *name)
{
	unsigned int i;

	pthread_mutex_lock(&e->lock);
	for (i = 0; i < e->n_lun_sizes; i++)
		if (e->lun_sizes[i].lun == lun)
			snprintf(e->lun_sizes[i].name,
				 sizeof(e->lun_sizes[i].name), "%s", name);
	pthread_mutex_unlock(&e->lock);
}

unsigned int eng_lun_list(struct sb_engine *e, struct eng_lun *out)
{
	unsigned int n;

	pthread_mutex_lock(&e->lock);
	n = e->n_lun_sizes;
	memcpy(out, e->lun_sizes, n * sizeof(*out));
	pthread_mutex_unlock(&e->lock);
	return n;
}

uint64_t eng_lun_size(struct sb_engine *e, uint64_t lun)
{
	uint64_t size = 0;
	unsigned int i;

	pthread_mutex_lock(&e->lock);
	for (i = 0; i < e->n_lun_sizes; i++)
		if (e->lun_sizes[i].lun == lun)
			size = e->lun_sizes[i].size;
	pthread_mutex_unlock(&e->lock);
	return size;
}

int sb_engine_chunk_csum(struct sb_engine *e, unsigned int idx, uint64_t lun,
			 uint64_t off, uint32_t len, uint32_t *crc)
{
	bool targets[SB_MAX_NODES] = {0};
	struct eng_op *op = NULL;
	const struct eng_req *r;
	struct xp_csum cs;
	int ret;

	if (!e || idx >= e->cl.nr_nodes || !lun || !len ||
	    len > XP_MAX_CHUNK_OP || !crc)
		return -EINVAL;
	ctl_wait_tried(e);
	targets[idx] = true;
	ret = ctl_run_len(e, XP_OP_CHUNK_CSUM, lun, off, len, NULL, 0, targets,
			  &op);
	if (ret)
		return ret;
	r = &op->pieces[0].reqs[idx];
	ret = r->err;
	if (!ret && xp_csum_decode(r->ans_payload, r->ans_len, len, &cs))
		ret = -EBADMSG;
	if (!ret)
		*crc = cs.crc;
	ctl_free(op);
	return ret;
}

int sb_engine_chunk_push(struct sb_engine *e, unsigned int src,
			 const struct xp_push_target *to, uint64_t lun,
			 uint64_t off, uint32_t len)
{
	bool targets[SB_MAX_NODES] = {0};
	uint8_t payload[XP_PUSH_LEN];
	struct eng_op *op = NULL;
	int ret;

	if (!e || src >= e->cl.nr_nodes || !to || !lun || !len ||
	    len > XP_MAX_CHUNK_OP)
		return -EINVAL;
	ctl_wait_tried(e);
	xp_push_target_encode(to, payload);
	targets[src] = true;
	ret = ctl_run_len(e, XP_OP_CHUNK_PUSH, lun, off, len, payload,
			  XP_PUSH_LEN, targets, &op);
	if (ret)
		return ret;
	ret = op->pieces[0].reqs[src].err;
	ctl_free(op);
	return ret;
}
