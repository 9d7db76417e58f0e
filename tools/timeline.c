/* SPDX-License-Identifier: Apache-2.0 */
/* Completions over time of spanblk-bench (see timeline.h). */
#include "timeline.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NS_PER_MS UINT64_C(1000000)
#define NS_PER_S UINT64_C(1000000000)

int sbt_timeline_init(struct sbt_timeline *t, unsigned int bucket_ms,
		      double seconds)
{
	double n;

	memset(t, 0, sizeof(*t));
	if (bucket_ms < SBT_TL_MIN_MS || bucket_ms > SBT_TL_MAX_MS ||
	    !(seconds >= 0))
		return -EINVAL;
	t->bucket_ns = (uint64_t)bucket_ms * NS_PER_MS;
	/* the run, plus room for the operations it waits for at the end */
	n = seconds * 1000.0 / bucket_ms + 2;
	t->nbuckets = n < SBT_TL_MAX_BUCKETS ? (size_t)n : SBT_TL_MAX_BUCKETS;
	t->ios = calloc(t->nbuckets, sizeof(*t->ios));
	return t->ios ? 0 : -ENOMEM;
}

void sbt_timeline_start(struct sbt_timeline *t, uint64_t now_ns)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	t->t0_ns = now_ns;
	t->t0_unix_ns = (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
	memset(t->ios, 0, t->nbuckets * sizeof(*t->ios));
	t->used = 0;
	t->last_ns = now_ns;
	t->gap_ns = 0;
	t->gap_from_ns = now_ns;
	t->ngaps = 0;
	t->gaps_seen = 0;
}

/* Make room for interval @i; false when it cannot grow (then clamp). */
static bool grow(struct sbt_timeline *t, size_t i)
{
	size_t n = t->nbuckets;
	uint64_t *p;

	if (i < n)
		return true;
	while (n <= i && n < SBT_TL_MAX_BUCKETS)
		n *= 2;
	if (n > SBT_TL_MAX_BUCKETS)
		n = SBT_TL_MAX_BUCKETS;
	if (n <= i)
		return false;
	p = realloc(t->ios, n * sizeof(*p));
	if (!p)
		return false;
	memset(p + t->nbuckets, 0, (n - t->nbuckets) * sizeof(*p));
	t->ios = p;
	t->nbuckets = n;
	return true;
}

/* Keep the gap [@from_ns, +@ns) if it is among the longest. */
static void gap_keep(struct sbt_timeline *t, uint64_t from_ns, uint64_t ns)
{
	unsigned int i, shortest = 0;

	t->gaps_seen++;
	if (t->ngaps < SBT_TL_MAX_GAPS) {
		t->gaps[t->ngaps].from_ns = from_ns;
		t->gaps[t->ngaps++].ns = ns;
		return;
	}
	for (i = 1; i < t->ngaps; i++)
		if (t->gaps[i].ns < t->gaps[shortest].ns)
			shortest = i;
	if (ns > t->gaps[shortest].ns) {
		t->gaps[shortest].from_ns = from_ns;
		t->gaps[shortest].ns = ns;
	}
}

void sbt_timeline_add(struct sbt_timeline *t, uint64_t now_ns)
{
	uint64_t rel;
	size_t i;

	if (now_ns < t->t0_ns)
		now_ns = t->t0_ns;
	rel = now_ns - t->t0_ns;
	i = (size_t)(rel / t->bucket_ns);
	if (!grow(t, i))
		i = t->nbuckets - 1;
	t->ios[i]++;
	if (i + 1 > t->used)
		t->used = i + 1;
	if (now_ns - t->last_ns > t->gap_ns) {
		t->gap_ns = now_ns - t->last_ns;
		t->gap_from_ns = t->last_ns;
	}
	if (now_ns - t->last_ns >= t->bucket_ns)
		gap_keep(t, t->last_ns, now_ns - t->last_ns);
	t->last_ns = now_ns;
}

/* Print monotonic time @ns as Unix seconds with microseconds. */
static void print_unix(const struct sbt_timeline *t, uint64_t ns, FILE *f)
{
	uint64_t u = t->t0_unix_ns + (ns - t->t0_ns);

	fprintf(f, "%" PRIu64 ".%06" PRIu64, u / NS_PER_S, u % NS_PER_S / 1000);
}

void sbt_timeline_print_gap(const struct sbt_timeline *t, FILE *f)
{
	fprintf(f,
		"  longest gap %.3f s without a completion, from +%.3f s to "
		"+%.3f s\n",
		(double)t->gap_ns / 1e9,
		(double)(t->gap_from_ns - t->t0_ns) / 1e9,
		(double)(t->gap_from_ns + t->gap_ns - t->t0_ns) / 1e9);
}

void sbt_timeline_print_fields(const struct sbt_timeline *t, FILE *f)
{
	fprintf(f, " gap_max_us=%" PRIu64 " gap_from_unix=", t->gap_ns / 1000);
	print_unix(t, t->gap_from_ns, f);
	fputs(" gap_to_unix=", f);
	print_unix(t, t->gap_from_ns + t->gap_ns, f);
}

static int gap_cmp(const void *a, const void *b)
{
	const struct sbt_gap *x = a, *y = b;

	return x->from_ns < y->from_ns ? -1 : x->from_ns > y->from_ns;
}

void sbt_timeline_print(struct sbt_timeline *t, FILE *f)
{
	unsigned int g;
	size_t i;

	fputs("timeline: start_unix=", f);
	print_unix(t, t->t0_ns, f);
	fprintf(f, " bucket_ms=%" PRIu64 " intervals=%zu",
		t->bucket_ns / NS_PER_MS, t->used);
	fprintf(f, " gaps=%" PRIu64 " kept=%u\n", t->gaps_seen, t->ngaps);
	qsort(t->gaps, t->ngaps, sizeof(t->gaps[0]), gap_cmp);
	for (g = 0; g < t->ngaps; g++) {
		fputs("gap: from_unix=", f);
		print_unix(t, t->gaps[g].from_ns, f);
		fputs(" to_unix=", f);
		print_unix(t, t->gaps[g].from_ns + t->gaps[g].ns, f);
		fprintf(f, " us=%" PRIu64 "\n", t->gaps[g].ns / 1000);
	}
	for (i = 0; i < t->used; i++)
		fprintf(f, "timeline: t_ms=%" PRIu64 " ios=%" PRIu64 "\n",
			(uint64_t)i * t->bucket_ns / NS_PER_MS, t->ios[i]);
}

void sbt_timeline_log_sink(int level, const char *func, int line,
			   const char *msg)
{
	static const char *const tags[] = {"error", "warn", "info", "debug"};
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(stderr, "%lld.%06ld spanblk %s: %s:%d: %s\n",
		(long long)ts.tv_sec, ts.tv_nsec / 1000,
		tags[level < 0	 ? 0
		     : level > 3 ? 3
				 : level],
		func, line, msg);
}

void sbt_timeline_free(struct sbt_timeline *t)
{
	free(t->ios);
	memset(t, 0, sizeof(*t));
}
