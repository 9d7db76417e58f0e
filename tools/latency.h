/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Latency statistics of spanblk-bench: count, sum, maximum and a
 * log-linear histogram in microseconds (exact below 64, then 32
 * sub-buckets per power of two: about 3 % resolution) for percentiles.
 * Not thread-safe: the caller locks.
 */
#ifndef SPANBLK_TOOLS_LATENCY_H
#define SPANBLK_TOOLS_LATENCY_H

#include <stdint.h>

#define SBT_LAT_LINEAR 64
#define SBT_LAT_SUB 32
#define SBT_LAT_BUCKETS (SBT_LAT_LINEAR + 40 * SBT_LAT_SUB)

/* Latencies of one kind of operation; all zero when empty. */
struct sbt_lat {
	uint64_t n; /* operations recorded */
	uint64_t sum_us;
	uint64_t max_us;
	uint64_t hist[SBT_LAT_BUCKETS];
};

/* Record one operation of @us microseconds. */
void sbt_lat_add(struct sbt_lat *l, uint64_t us);

/*
 * The @pct percentile (0..100) of @l in microseconds (the middle of its
 * histogram bucket); 0 when @l is empty.
 */
double sbt_lat_pct(const struct sbt_lat *l, double pct);

/* The mean in microseconds; 0 when @l is empty. */
double sbt_lat_avg(const struct sbt_lat *l);

#endif
