/* SPDX-License-Identifier: Apache-2.0 */
/* Latency statistics of spanblk-bench (see latency.h). */
#include "latency.h"

#include <math.h>

static unsigned int bucket_of(uint64_t us)
{
	unsigned int msb, e;

	if (us < SBT_LAT_LINEAR)
		return (unsigned int)us;
	msb = 63u - (unsigned int)__builtin_clzll(us);
	e = msb - 5; /* us >> e is in [32, 63] */
	if (e > 39)
		return SBT_LAT_BUCKETS - 1;
	return SBT_LAT_LINEAR + (e - 1) * SBT_LAT_SUB +
	       (unsigned int)((us >> e) - SBT_LAT_SUB);
}

/* Middle of bucket @i in microseconds. */
static double bucket_value(unsigned int i)
{
	unsigned int e, m;

	if (i < SBT_LAT_LINEAR)
		return i;
	e = (i - SBT_LAT_LINEAR) / SBT_LAT_SUB + 1;
	m = (i - SBT_LAT_LINEAR) % SBT_LAT_SUB + SBT_LAT_SUB;
	return ((double)m + 0.5) * (double)(1ull << e);
}

void sbt_lat_add(struct sbt_lat *l, uint64_t us)
{
	l->n++;
	l->hist[bucket_of(us)]++;
	l->sum_us += us;
	if (us > l->max_us)
		l->max_us = us;
}

double sbt_lat_pct(const struct sbt_lat *l, double pct)
{
	uint64_t want = (uint64_t)ceil(pct / 100.0 * (double)l->n);
	uint64_t seen = 0;
	unsigned int i;

	if (!l->n)
		return 0;
	if (want == 0)
		want = 1;
	for (i = 0; i < SBT_LAT_BUCKETS; i++) {
		seen += l->hist[i];
		if (seen >= want)
			return bucket_value(i);
	}
	return bucket_value(SBT_LAT_BUCKETS - 1);
}

double sbt_lat_avg(const struct sbt_lat *l)
{
	return l->n ? (double)l->sum_us / (double)l->n : 0;
}
