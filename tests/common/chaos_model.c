// SPDX-License-Identifier: Apache-2.0
/*
 * The model of acknowledged writes (tests/common/chaos_model.h).
 *
 * A block of version v >= 1:
 *   word 0  TC_MAGIC     word 2  block number
 *   word 1  LUN id       word 3  version
 *   words 4..511: mix(LUN, block, version, word index)
 * Version 0 is all zero bytes (a block never written).
 */
#include "chaos_model.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define TC_MAGIC 0x53424348414f5331ull /* "SBCHAOS1" */
#define WORDS (TC_BLOCK / sizeof(uint64_t))
#define HDR_WORDS 4

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

int tc_model_init(struct tc_model *m, uint64_t lun, size_t nblk)
{
	memset(m, 0, sizeof(*m));
	m->acked = calloc(nblk, sizeof(*m->acked));
	m->writing = calloc(nblk, 1);
	if (!m->acked || !m->writing) {
		tc_model_free(m);
		return -ENOMEM;
	}
	m->lun = lun;
	m->nblk = nblk;
	m->next_ver = 1;
	return 0;
}

void tc_model_free(struct tc_model *m)
{
	free(m->acked);
	free(m->writing);
	memset(m, 0, sizeof(*m));
}

bool tc_model_can_write(const struct tc_model *m, size_t blk, size_t n)
{
	size_t i;

	if (blk >= m->nblk || n > m->nblk - blk)
		return false;
	for (i = blk; i < blk + n; i++)
		if (m->writing[i])
			return false;
	return true;
}

uint64_t tc_model_write_begin(struct tc_model *m, size_t blk, size_t n)
{
	memset(m->writing + blk, 1, n);
	return m->next_ver++;
}

void tc_model_write_end(struct tc_model *m, size_t blk, size_t n, uint64_t ver,
			bool ok)
{
	size_t i;

	for (i = blk; i < blk + n; i++) {
		m->writing[i] = 0;
		if (ok)
			m->acked[i] = ver;
	}
}

void tc_model_snapshot(const struct tc_model *m, size_t blk, size_t n,
		       uint64_t *snap)
{
	memcpy(snap, m->acked + blk, n * sizeof(*snap));
}

static uint64_t body_word(uint64_t lun, uint64_t blk, uint64_t ver, size_t i)
{
	return mix64(lun ^ mix64(blk * 0x9e3779b97f4a7c15ull ^
				 mix64(ver + ((uint64_t)i << 48))));
}

void tc_block_fill(void *buf, uint64_t lun, uint64_t blk, uint64_t ver)
{
	uint64_t w[WORDS];
	size_t i;

	if (ver == 0) {
		memset(buf, 0, TC_BLOCK);
		return;
	}
	w[0] = TC_MAGIC;
	w[1] = lun;
	w[2] = blk;
	w[3] = ver;
	for (i = HDR_WORDS; i < WORDS; i++)
		w[i] = body_word(lun, blk, ver, i);
	memcpy(buf, w, TC_BLOCK);
}

/* The version @buf holds as block @blk of @lun, or UINT64_MAX. */
static uint64_t block_version(const void *buf, uint64_t lun, uint64_t blk)
{
	uint64_t w[WORDS];
	size_t i;
	bool zero = true;

	memcpy(w, buf, TC_BLOCK);
	for (i = 0; i < WORDS && zero; i++)
		zero = w[i] == 0;
	if (zero)
		return 0;
	if (w[0] != TC_MAGIC || w[1] != lun || w[2] != blk || w[3] == 0)
		return UINT64_MAX;
	for (i = HDR_WORDS; i < WORDS; i++)
		if (w[i] != body_word(lun, blk, w[3], i))
			return UINT64_MAX;
	return w[3];
}

enum tc_verdict tc_block_check(const void *buf, uint64_t lun, uint64_t blk,
			       uint64_t acked, uint64_t *got)
{
	*got = block_version(buf, lun, blk);
	if (*got == UINT64_MAX)
		return TC_CORRUPT;
	return *got >= acked ? TC_LEGAL : TC_OLDER;
}
