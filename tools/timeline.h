/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The completions of a spanblk-bench run over time (--timeline MS): how
 * many reads and writes completed in each MS-wide interval from the
 * run's start, and the gaps: intervals of at least MS in which none
 * completed (a stall: a node dying or hanging until the cluster goes on
 * without it), the SBT_TL_MAX_GAPS longest of them kept.
 * Times are kept on CLOCK_MONOTONIC and printed also as Unix times
 * (CLOCK_REALTIME at the start plus the monotonic offset), so a script
 * can place an event it caused (a kill) on the run's timeline.
 * Not thread-safe: the caller locks.
 */
#ifndef SPANBLK_TOOLS_TIMELINE_H
#define SPANBLK_TOOLS_TIMELINE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SBT_TL_MIN_MS 1
#define SBT_TL_MAX_MS 60000
/* Completions later than this many intervals count in the last one. */
#define SBT_TL_MAX_BUCKETS (1u << 20)
#define SBT_TL_MAX_GAPS 64

/* An interval without a completion: after the one at @from_ns (or the
 * start), before the one at @from_ns + @ns. */
struct sbt_gap {
	uint64_t from_ns;
	uint64_t ns;
};

struct sbt_timeline {
	uint64_t bucket_ns; /* interval width */
	uint64_t t0_ns; /* the run's start, sb_now_ns() */
	uint64_t t0_unix_ns; /* the same instant, CLOCK_REALTIME */
	uint64_t *ios; /* completions per interval; owned */
	size_t nbuckets; /* intervals allocated */
	size_t used; /* intervals up to the last completion */
	uint64_t last_ns; /* the last completion, t0_ns before the first */
	uint64_t gap_ns; /* the longest interval without a completion */
	uint64_t gap_from_ns; /* where it began (a completion or t0_ns) */
	struct sbt_gap gaps[SBT_TL_MAX_GAPS]; /* of >= bucket_ns, unordered */
	unsigned int ngaps;
	uint64_t gaps_seen; /* gaps of >= bucket_ns, kept or not */
};

/*
 * Prepare @t for intervals of @bucket_ms (SBT_TL_MIN_MS..SBT_TL_MAX_MS)
 * over a run of about @seconds (more intervals are added if it runs
 * longer). 0, -EINVAL or -ENOMEM; sbt_timeline_free() undoes it.
 */
int sbt_timeline_init(struct sbt_timeline *t, unsigned int bucket_ms,
		      double seconds);

/* The run starts now (@now_ns, sb_now_ns()): counts and the gap reset. */
void sbt_timeline_start(struct sbt_timeline *t, uint64_t now_ns);

/* One read or write completed at @now_ns (not before the start). */
void sbt_timeline_add(struct sbt_timeline *t, uint64_t now_ns);

/* The readable line of the longest gap, for the run's summary. */
void sbt_timeline_print_gap(const struct sbt_timeline *t, FILE *f);

/*
 * The gap's fields for the "result:" line: " gap_max_us=N
 * gap_from_unix=S.UUUUUU gap_to_unix=S.UUUUUU".
 */
void sbt_timeline_print_fields(const struct sbt_timeline *t, FILE *f);

/*
 * "timeline: start_unix=S.UUUUUU bucket_ms=M intervals=N gaps=G kept=K",
 * one line "gap: from_unix=S.UUUUUU to_unix=S.UUUUUU us=N" per gap
 * kept, in time order (they are sorted in @t), then one line
 * "timeline: t_ms=T ios=N" per interval up to the last completion.
 */
void sbt_timeline_print(struct sbt_timeline *t, FILE *f);

/*
 * A log sink (sb_log_set_sink) for runs with a timeline: the line the
 * default sink writes to stderr, after the Unix time it was logged at
 * ("S.UUUUUU spanblk warn: func:line: msg"), so the engine's events (a
 * node down) sit on the same axis as the completions.
 */
void sbt_timeline_log_sink(int level, const char *func, int line,
			   const char *msg);

/* Free what sbt_timeline_init() took; a zeroed @t too. */
void sbt_timeline_free(struct sbt_timeline *t);

#endif
