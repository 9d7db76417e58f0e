// SPDX-License-Identifier: Apache-2.0
/*
 * The push epochs a node has admitted (node/pushfence.h): an open
 * addressing table keyed by (LUN, chunk), linear probing, grown by
 * doubling up to ND_PFENCE_MAX entries. Entries are never removed one by
 * one; the table is forgotten as a whole (its floor raised) when full.
 */
#include "pushfence.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#define PF_INIT_CAP 1024u

struct pf_ent {
	uint64_t lun, chunk;
	uint64_t epoch; /* 0: empty slot */
};

struct nd_pfence {
	struct pf_ent *tab;
	size_t cap; /* power of two */
	size_t n;
	uint64_t floor; /* every epoch the table forgot was below this */
	uint64_t max; /* highest epoch admitted */
};

static size_t slot_of(uint64_t lun, uint64_t chunk, size_t cap)
{
	uint64_t h = lun * 0x9E3779B97F4A7C15ull ^
		     chunk * 0xC2B2AE3D27D4EB4Full;

	h ^= h >> 29;
	return (size_t)(h & (cap - 1));
}

static struct pf_ent *find(struct pf_ent *tab, size_t cap, uint64_t lun,
			   uint64_t chunk)
{
	size_t i = slot_of(lun, chunk, cap);

	while (tab[i].epoch && (tab[i].lun != lun || tab[i].chunk != chunk))
		i = (i + 1) & (cap - 1);
	return &tab[i];
}

int nd_pfence_new(struct nd_pfence **out)
{
	struct nd_pfence *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	f->tab = calloc(PF_INIT_CAP, sizeof(*f->tab));
	if (!f->tab) {
		free(f);
		return -ENOMEM;
	}
	f->cap = PF_INIT_CAP;
	*out = f;
	return 0;
}

void nd_pfence_free(struct nd_pfence *f)
{
	if (!f)
		return;
	free(f->tab);
	free(f);
}

/* Forget every entry: nothing older than the highest epoch seen passes. */
static void forget(struct nd_pfence *f)
{
	size_t i;

	for (i = 0; i < f->cap; i++)
		f->tab[i].epoch = 0;
	f->n = 0;
	f->floor = f->max;
}

/* Room for one more entry: grow at 1/2 full, or forget when it cannot. */
static void make_room(struct nd_pfence *f)
{
	struct pf_ent *nt;
	size_t i;

	if ((f->n + 1) * 2 <= f->cap)
		return;
	if (f->n + 1 > ND_PFENCE_MAX ||
	    !(nt = calloc(f->cap * 2, sizeof(*nt)))) {
		forget(f);
		return;
	}
	for (i = 0; i < f->cap; i++)
		if (f->tab[i].epoch)
			*find(nt, f->cap * 2, f->tab[i].lun, f->tab[i].chunk) =
				f->tab[i];
	free(f->tab);
	f->tab = nt;
	f->cap *= 2;
}

/* Record @epoch (admissible) for (@lun, @chunk). */
static int admit_one(struct nd_pfence *f, uint64_t lun, uint64_t chunk,
		     uint64_t epoch)
{
	struct pf_ent *e = find(f->tab, f->cap, lun, chunk);

	if (!e->epoch) {
		make_room(f);
		if (epoch < f->floor) /* everything was forgotten */
			return -ESTALE;
		e = find(f->tab, f->cap, lun, chunk);
		e->lun = lun;
		e->chunk = chunk;
		f->n++;
	}
	e->epoch = epoch;
	if (epoch > f->max)
		f->max = epoch;
	return 0;
}

int nd_pfence_admit(struct nd_pfence *f, uint64_t lun, uint64_t first,
		    uint64_t last, uint64_t epoch, uint64_t floor)
{
	uint64_t c;
	int ret = 0;

	if (last < first)
		return -EINVAL;
	if (epoch < floor || epoch < f->floor)
		return -ESTALE;
	for (c = first; c <= last; c++)
		if (find(f->tab, f->cap, lun, c)->epoch > epoch)
			return -ESTALE;
	for (c = first; !ret && c <= last; c++)
		ret = admit_one(f, lun, c, epoch);
	return ret;
}

size_t nd_pfence_count(const struct nd_pfence *f)
{
	return f->n;
}
