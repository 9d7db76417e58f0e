/* SPDX-License-Identifier: Apache-2.0 */
/*
 * spanblk-bench: drive the gateway engine directly, without iSCSI, and
 * measure what the cluster delivers.
 *
 *   spanblk-bench -c FILE --lun NAME [--size SIZE] --rw MODE --bs SIZE
 *                 --qd N --time SECONDS [--prefill] [--fua |
 *                 --flush-every W] [--timeline MS]
 *
 * Keeps N operations of SIZE bytes in flight for SECONDS: each completion
 * (on the engine's thread) records its latency and submits the next one.
 * Sequential modes walk the LUN from offset 0 and wrap; random modes pick
 * block-aligned offsets uniformly. Prints a readable summary and one
 * machine-readable line starting with "result:" of key=value pairs.
 *
 * Durable writes: --fua sets the engine's FUA flag on every write (each
 * replica writes it with RWF_DSYNC before answering). --flush-every W
 * makes the FLUSH of the LUN (an fdatasync on every node) part of the
 * workload, as an initiator's SYNCHRONIZE CACHE would be: each time W
 * writes have completed since the last FLUSH was submitted, the slot whose
 * completion made it W submits a FLUSH instead of its next write. The
 * FLUSH takes that slot, so at most N operations are in flight, the
 * other slots keep writing meanwhile, and the FLUSH covers every write
 * completed before it. A FLUSH slower than W writes overlaps the next.
 *
 * --timeline MS counts the reads and writes completed in each MS-wide
 * interval of the run and finds the longest interval with no completion
 * at all (tools/timeline.h): how long a failure stalled the LUN, and
 * how the rate came back after it. Log lines then start with their Unix
 * time, as the timeline's lines do.
 *
 * Exit status: 0 ok, 1 I/O errors or engine failure, 2 usage or
 * configuration error, 3 nodes unreachable.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/config.h"
#include "tools/cli.h"
#include "tools/latency.h"
#include "tools/timeline.h"
#include "lib/engine.h"
#include "lib/util/clock.h"
#include "lib/util/log.h"
#include "lib/place.h"
#include "xport/auth.h"

const char sbt_prog[] = "spanblk-bench";

#define BENCH_CONNECT_MS 5000
#define BENCH_DEFAULT_SIZE (1ull << 30)
#define BENCH_MAX_BS (64u << 20)
#define BENCH_MAX_QD 1024
#define BENCH_ALIGN 4096
#define PREFILL_BS (1u << 20)
#define PREFILL_QD 8

#define BENCH_MAX_FLUSH_EVERY (1u << 30)

enum bench_mode { MODE_READ, MODE_WRITE, MODE_RANDREAD, MODE_RANDWRITE };

struct bench;

/* One of the --qd operations kept in flight. */
struct bench_slot {
	struct sb_io io;
	struct iovec iov;
	struct bench *b;
	uint64_t start_ns;
};

struct bench {
	struct sb_engine *e;
	uint64_t lun_id;
	enum bench_mode mode;
	uint32_t bs;
	unsigned int qd;
	uint64_t range; /* bytes of the LUN exercised, a multiple of bs */
	uint64_t limit; /* stop after this many bytes submitted (0: none) */
	uint32_t write_flags; /* SB_IO_F_FUA with --fua */
	uint64_t flush_every; /* --flush-every: writes per FLUSH, 0: none */

	pthread_mutex_t lock; /* protects everything below */
	pthread_cond_t cond;
	bool stop;
	unsigned int inflight;
	uint64_t cursor; /* next sequential offset */
	uint64_t submitted_bytes;
	uint64_t rng;
	uint64_t ios; /* reads and writes completed without error */
	uint64_t bytes;
	uint64_t errors;
	int first_err;
	struct sbt_lat lat; /* of the reads and writes */
	uint64_t since_flush; /* writes completed since the last FLUSH went */
	struct sbt_lat flush_lat; /* of the FLUSHes completed without error */
	uint64_t verify_seed; /* 0: no --verify */
	uint64_t mismatches; /* reads whose data differed from the pattern */
	struct sbt_timeline *timeline; /* --timeline, else NULL */
	double cpu_s; /* the process's CPU time in the last bench_run() */
	struct bench_slot *slots;
};

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

/*
 * --verify: the 8-byte word at LUN byte offset @off (a multiple of 8)
 * for pattern @seed. Depends on the offset, so data written to or read
 * from the wrong place is caught as surely as lost or stale data.
 */
static uint64_t pattern_word(uint64_t seed, uint64_t off)
{
	uint64_t x = (off + seed) * 0x9E3779B97F4A7C15ull;

	return x ^ (x >> 29) ^ seed;
}

static void pattern_fill(uint64_t seed, uint64_t off, void *buf, size_t len)
{
	uint64_t *w = buf;
	size_t k;

	for (k = 0; k < len / 8; k++)
		w[k] = pattern_word(seed, off + 8 * k);
}

/* True when @buf holds the pattern of @seed for [@off, @off + @len). */
static bool pattern_check(uint64_t seed, uint64_t off, const void *buf,
			  size_t len)
{
	const uint64_t *w = buf;
	size_t k;

	for (k = 0; k < len / 8; k++)
		if (w[k] != pattern_word(seed, off + 8 * k))
			return false;
	return true;
}

static bool mode_random(enum bench_mode m)
{
	return m == MODE_RANDREAD || m == MODE_RANDWRITE;
}

static bool mode_write(enum bench_mode m)
{
	return m == MODE_WRITE || m == MODE_RANDWRITE;
}

static const char *mode_name(enum bench_mode m)
{
	static const char *const names[] = {"read", "write", "randread",
					    "randwrite"};
	return names[m];
}

static void slot_done(struct sb_io *io, int err);

/* Submit @s as filled in; false (the run stopping) on failure. */
static bool slot_start_locked(struct bench *b, struct bench_slot *s)
{
	int ret;

	s->io.lun_id = b->lun_id;
	s->io.cb = slot_done;
	s->io.cb_arg = s;
	s->start_ns = sb_now_ns();
	ret = sb_engine_submit(b->e, &s->io);
	if (ret) {
		b->errors++;
		if (!b->first_err)
			b->first_err = ret;
		b->stop = true;
		return false;
	}
	b->inflight++;
	return true;
}

/*
 * The next operation of @s: a FLUSH of the LUN when --flush-every writes
 * have completed since the last one went, else a read or write at the
 * next offset. Called with b->lock held; returns false when nothing was
 * submitted (stopped, limit reached or error).
 */
static bool slot_submit_locked(struct bench *b, struct bench_slot *s)
{
	uint64_t off;

	if (b->stop || (b->limit && b->submitted_bytes >= b->limit))
		return false;
	if (b->flush_every && b->since_flush >= b->flush_every) {
		b->since_flush = 0;
		s->io.op = SB_IO_FLUSH;
		s->io.offset = 0;
		s->io.length = 0;
		s->io.iov = NULL;
		s->io.iovcnt = 0;
		s->io.flags = 0;
		return slot_start_locked(b, s);
	}
	if (mode_random(b->mode)) {
		off = (xorshift(&b->rng) % (b->range / b->bs)) * b->bs;
	} else {
		off = b->cursor;
		b->cursor += b->bs;
		if (b->cursor >= b->range)
			b->cursor = 0;
	}
	b->submitted_bytes += b->bs;
	if (b->verify_seed && mode_write(b->mode))
		pattern_fill(b->verify_seed, off, s->iov.iov_base, b->bs);
	s->io.op = mode_write(b->mode) ? SB_IO_WRITE : SB_IO_READ;
	s->io.offset = off;
	s->io.length = b->bs;
	s->io.iov = &s->iov;
	s->io.iovcnt = 1;
	s->io.flags = mode_write(b->mode) ? b->write_flags : 0;
	return slot_start_locked(b, s);
}

/* Completion callback, on the engine thread. */
static void slot_done(struct sb_io *io, int err)
{
	struct bench_slot *s = io->cb_arg;
	struct bench *b = s->b;
	uint64_t now = sb_now_ns();
	uint64_t us = (now - s->start_ns) / 1000;

	if (!err && b->verify_seed && io->op == SB_IO_READ &&
	    !pattern_check(b->verify_seed, io->offset, s->iov.iov_base,
			   io->length))
		err = -EILSEQ;
	pthread_mutex_lock(&b->lock);
	b->inflight--;
	if (err == -EILSEQ)
		b->mismatches++;
	if (err) {
		b->errors++;
		if (!b->first_err)
			b->first_err = err;
		b->stop = true;
	} else if (io->op == SB_IO_FLUSH) {
		sbt_lat_add(&b->flush_lat, us);
	} else {
		b->ios++;
		b->bytes += io->length;
		sbt_lat_add(&b->lat, us);
		if (b->timeline)
			sbt_timeline_add(b->timeline, now);
		if (io->op == SB_IO_WRITE)
			b->since_flush++;
	}
	slot_submit_locked(b, s);
	if (!b->inflight)
		pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

/* CPU seconds used by the whole process (every thread) so far. */
static double process_cpu_s(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts))
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Run one phase: @b's mode, bs and qd, for @seconds (0: until b->limit
 * bytes are done). Returns elapsed seconds; b->cpu_s gets the process's
 * CPU time meanwhile.
 */
static double bench_run(struct bench *b, double seconds)
{
	struct timespec until;
	double cpu0 = process_cpu_s();
	uint64_t t0, t1;
	unsigned int i;

	clock_gettime(CLOCK_REALTIME, &until);
	if (seconds > 0) {
		double whole = floor(seconds);

		until.tv_sec += (time_t)whole;
		until.tv_nsec += (long)((seconds - whole) * 1e9);
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
	}
	t0 = sb_now_ns();
	pthread_mutex_lock(&b->lock);
	if (b->timeline)
		sbt_timeline_start(b->timeline, t0);
	for (i = 0; i < b->qd; i++)
		if (!slot_submit_locked(b, &b->slots[i]))
			break;
	while (b->inflight && !b->stop) {
		if (seconds > 0) {
			if (pthread_cond_timedwait(&b->cond, &b->lock,
						   &until) == ETIMEDOUT)
				break;
		} else {
			pthread_cond_wait(&b->cond, &b->lock);
		}
	}
	b->stop = true;
	while (b->inflight)
		pthread_cond_wait(&b->cond, &b->lock);
	pthread_mutex_unlock(&b->lock);
	t1 = sb_now_ns();
	b->cpu_s = process_cpu_s() - cpu0;
	return (double)(t1 - t0) / 1e9;
}

static void bench_reset(struct bench *b)
{
	b->stop = false;
	b->cursor = 0;
	b->submitted_bytes = 0;
	b->ios = 0;
	b->bytes = 0;
	b->errors = 0;
	b->first_err = 0;
	memset(&b->lat, 0, sizeof(b->lat));
	b->since_flush = 0;
	memset(&b->flush_lat, 0, sizeof(b->flush_lat));
	b->mismatches = 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: spanblk-bench [-c CLUSTER_FILE] --lun NAME [options]\n"
		"\n"
		"  -c, --cluster FILE   cluster file (default %s)\n"
		"  -l, --lun NAME       LUN to use; created when missing\n"
		"  -s, --size SIZE      size for a new LUN (default 1G); also "
		"limits\n"
		"                       the range exercised on an existing "
		"LUN\n"
		"  -r, --rw MODE        read, write, randread or randwrite "
		"(default randread)\n"
		"  -b, --bs SIZE        bytes per operation (default 4K, "
		"multiple of 512)\n"
		"  -q, --qd N           operations in flight (default 32)\n"
		"  -t, --time SECONDS   run time (default 10, fractions "
		"allowed)\n"
		"  -p, --prefill        write the whole range first (for read "
		"modes)\n"
		"  -V, --verify SEED    writes carry a pattern of SEED and "
		"the LUN\n"
		"                       offset; reads check it (a mismatch is "
		"an error)\n"
		"      --fua            every write carries FUA: each replica "
		"has it\n"
		"                       on disk (RWF_DSYNC) before it "
		"completes\n"
		"      --flush-every N  after every N completed writes, a "
		"FLUSH of the\n"
		"                       LUN on every node takes the next "
		"slot\n"
		"                       (write modes; --fua or --flush-every, "
		"not both)\n"
		"      --timeline MS    count the completions in each MS "
		"(1..60000)\n"
		"                       interval and find the longest time "
		"without\n"
		"                       any; 'timeline:' lines, gap_* "
		"fields\n"
		"  -v, --verbose        log engine warnings (node connection "
		"changes)\n"
		"  -h, --help           this text\n"
		"\n"
		"Prints IOPS, MiB/s and latency percentiles, then a line\n"
		"'result: key=value ...' for scripts.\n",
		SB_DEFAULT_CLUSTER_CONF);
}

static int parse_mode(const char *s, enum bench_mode *m)
{
	unsigned int i;

	for (i = MODE_READ; i <= MODE_RANDWRITE; i++) {
		if (!strcmp(s, mode_name(i))) {
			*m = i;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_seconds(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0) || v > 86400)
		return -EINVAL;
	*out = v;
	return 0;
}

/*
 * Open @name, creating it with @size when missing. 0 or -errno;
 * -EMEDIUMTYPE with *@lay set when the LUN has another layout than the
 * engine's (the caller restarts the engine with it).
 */
static int open_lun(struct sb_engine *e, const char *name, uint64_t size,
		    uint64_t *lun_size, struct xp_layout *lay)
{
	uint64_t id = sb_lun_id(name);
	int ret;

	ret = sb_engine_lun_open(e, id, lun_size, lay);
	if (ret != -ENOENT)
		return ret;
	printf("creating LUN %s (%" PRIu64 " bytes)\n", name, size);
	ret = sb_engine_lun_create(e, name, size);
	if (ret)
		return ret;
	return sb_engine_lun_open(e, id, lun_size, lay);
}

/* "none", "fua" or "flushN": what makes the run's writes durable. */
static const char *durable_name(const struct bench *b, char *buf, size_t len)
{
	if (b->write_flags & SB_IO_F_FUA)
		return "fua";
	if (!b->flush_every)
		return "none";
	snprintf(buf, len, "flush%" PRIu64, b->flush_every);
	return buf;
}

static void print_result(const struct bench *b, double secs,
			 const struct sb_engine_stats *st)
{
	double iops = (double)b->ios / secs;
	double mib = (double)b->bytes / secs / (1024.0 * 1024.0);
	double mb = (double)b->bytes / secs / 1e6;
	double p50 = sbt_lat_pct(&b->lat, 50), p99 = sbt_lat_pct(&b->lat, 99);
	double fp50 = sbt_lat_pct(&b->flush_lat, 50);
	double fp99 = sbt_lat_pct(&b->flush_lat, 99);
	char dbuf[32];
	const char *durable = durable_name(b, dbuf, sizeof(dbuf));

	printf("%s bs=%u qd=%u: %" PRIu64 " operations in %.2f s\n",
	       mode_name(b->mode), b->bs, b->qd, b->ios, secs);
	printf("  IOPS       %.0f\n", iops);
	printf("  bandwidth  %.1f MiB/s (%.1f MB/s)\n", mib, mb);
	printf("  latency    p50 %.0f us, p99 %.0f us, avg %.0f us, max "
	       "%" PRIu64 " us\n",
	       p50, p99, sbt_lat_avg(&b->lat), b->lat.max_us);
	printf("  CPU        %.3f s in this process during the run\n",
	       b->cpu_s);
	if (b->timeline)
		sbt_timeline_print_gap(b->timeline, stdout);
	if (b->write_flags & SB_IO_F_FUA)
		printf("  durable    every write FUA\n");
	if (b->flush_every)
		printf("  flushes    %" PRIu64 " (one per %" PRIu64
		       " writes): p50 %.0f us, p99 %.0f us, max %" PRIu64 " us"
		       "\n",
		       b->flush_lat.n, b->flush_every, fp50, fp99,
		       b->flush_lat.max_us);
	if (b->errors)
		printf("  errors     %" PRIu64 " (first: %s)\n", b->errors,
		       strerror(-b->first_err));
	if (b->verify_seed)
		printf("  verify     %" PRIu64 " mismatching reads\n",
		       b->mismatches);
	printf("  payload    %" PRIu64 " bytes by RDMA, %" PRIu64
	       " inline, %" PRIu64 " resent inline\n",
	       st->bytes_rdma, st->bytes_inline, st->rdma_fallbacks);
	if (st->copy_bytes)
		printf("  copy       %" PRIu64 " bytes to/from the RDMA pool "
		       "in %.3f ms\n",
		       st->copy_bytes, (double)st->copy_ns / 1e6);
	printf("result: rw=%s bs=%u qd=%u seconds=%.3f ios=%" PRIu64
	       " iops=%.0f mib_s=%.2f mb_s=%.2f lat_p50_us=%.0f"
	       " lat_p99_us=%.0f lat_avg_us=%.0f lat_max_us=%" PRIu64,
	       mode_name(b->mode), b->bs, b->qd, secs, b->ios, iops, mib, mb,
	       p50, p99, sbt_lat_avg(&b->lat), b->lat.max_us);
	printf(" errors=%" PRIu64 " failovers=%" PRIu64 " timeouts=%" PRIu64
	       " reconnects=%" PRIu64,
	       b->errors, st->failovers, st->timeouts, st->reconnects);
	printf(" durable=%s flushes=%" PRIu64, durable, b->flush_lat.n);
	printf(" flush_p50_us=%.0f flush_p99_us=%.0f cpu_s=%.3f", fp50, fp99,
	       b->cpu_s);
	if (b->timeline)
		sbt_timeline_print_fields(b->timeline, stdout);
	putchar('\n');
	printf("transport: mismatches=%" PRIu64 " bytes_rdma=%" PRIu64
	       " bytes_inline=%" PRIu64 " rdma_fallbacks=%" PRIu64 "\n",
	       b->mismatches, st->bytes_rdma, st->bytes_inline,
	       st->rdma_fallbacks);
	/* ns per GiB copied between the slots and the RDMA pool */
	printf("copy: bytes=%" PRIu64 " ns=%" PRIu64 " ns_per_gib=%.0f\n",
	       st->copy_bytes, st->copy_ns,
	       st->copy_bytes ? (double)st->copy_ns * 1073741824.0 /
					(double)st->copy_bytes
			      : 0.0);
	if (b->timeline)
		sbt_timeline_print(b->timeline, stdout);
}

/* What the command line asks for. */
struct bench_opts {
	const char *path; /* cluster file */
	const char *lun;
	uint64_t size; /* --size, 0 when not given */
	uint64_t bs, qd;
	double seconds;
	enum bench_mode mode;
	bool prefill, verbose;
	uint64_t vseed; /* --verify, 0 when not given */
	bool fua; /* --fua */
	uint64_t flush_every; /* --flush-every, 0 when not given */
	uint64_t timeline_ms; /* --timeline, 0 when not given */
};

/* Long options without a short form. */
enum { OPT_FUA = 256, OPT_FLUSH_EVERY, OPT_TIMELINE };

/*
 * What parse_opts() checks once every option is in: a LUN, nothing else,
 * durable-write options only with a write mode. -1, or the exit code.
 */
static int check_opts(int argc, const struct bench_opts *o)
{
	if (optind != argc || !o->lun) {
		fprintf(stderr, "spanblk-bench: %s\n",
			o->lun ? "unexpected arguments"
			       : "--lun NAME is required");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!xp_lun_name_valid(o->lun, strlen(o->lun)))
		return sbt_usage_error("'%s' is not a valid LUN name (1-64 of "
				       "A-Z a-z 0-9 . _ -)",
				       o->lun);
	if (o->fua && o->flush_every)
		return sbt_usage_error("--fua and --flush-every exclude each "
				       "other");
	if ((o->fua || o->flush_every) && !mode_write(o->mode))
		return sbt_usage_error("%s needs --rw write or randwrite, not "
				       "%s",
				       o->fua ? "--fua" : "--flush-every",
				       mode_name(o->mode));
	return -1;
}

/*
 * Parse the command line into @o (which holds the defaults). Returns -1
 * when the benchmark should run, else the code main() returns after
 * --help or a usage error.
 */
static int parse_opts(int argc, char **argv, struct bench_opts *o)
{
	static const struct option opts[] = {
		{"cluster", required_argument, NULL, 'c'},
		{"lun", required_argument, NULL, 'l'},
		{"size", required_argument, NULL, 's'},
		{"rw", required_argument, NULL, 'r'},
		{"bs", required_argument, NULL, 'b'},
		{"qd", required_argument, NULL, 'q'},
		{"time", required_argument, NULL, 't'},
		{"prefill", no_argument, NULL, 'p'},
		{"verify", required_argument, NULL, 'V'},
		{"fua", no_argument, NULL, OPT_FUA},
		{"flush-every", required_argument, NULL, OPT_FLUSH_EVERY},
		{"timeline", required_argument, NULL, OPT_TIMELINE},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c, ret;

	while ((c = getopt_long(argc, argv, "c:l:s:r:b:q:t:pV:vh", opts,
				NULL)) != -1) {
		switch (c) {
		case 'c':
			o->path = optarg;
			break;
		case 'l':
			o->lun = optarg;
			break;
		case 's':
			if (sb_parse_size(optarg, &o->size) || o->size == 0 ||
			    o->size % BENCH_ALIGN)
				return sbt_usage_error("--size must be a "
						       "nonzero multiple of "
						       "%u bytes",
						       BENCH_ALIGN);
			break;
		case 'r':
			if (parse_mode(optarg, &o->mode))
				return sbt_usage_error("--rw must be read, "
						       "write, randread or "
						       "randwrite");
			break;
		case 'b':
			if (sb_parse_size(optarg, &o->bs) || o->bs == 0 ||
			    o->bs % 512 || o->bs > BENCH_MAX_BS)
				return sbt_usage_error("--bs must be a "
						       "multiple of 512 up "
						       "to 64M");
			break;
		case 'q':
			if (sb_parse_uint(optarg, 1, BENCH_MAX_QD, &o->qd))
				return sbt_usage_error("--qd must be 1..%u",
						       BENCH_MAX_QD);
			break;
		case 't':
			if (parse_seconds(optarg, &o->seconds))
				return sbt_usage_error("--time must be a "
						       "positive number of "
						       "seconds");
			break;
		case 'p':
			o->prefill = true;
			break;
		case 'V':
			if (sb_parse_uint(optarg, 1, UINT64_MAX, &o->vseed))
				return sbt_usage_error("--verify needs a "
						       "nonzero number");
			break;
		case OPT_FUA:
			o->fua = true;
			break;
		case OPT_FLUSH_EVERY:
			if (sb_parse_uint(optarg, 1, BENCH_MAX_FLUSH_EVERY,
					  &o->flush_every))
				return sbt_usage_error("--flush-every must be "
						       "1..%u writes",
						       BENCH_MAX_FLUSH_EVERY);
			break;
		case OPT_TIMELINE:
			if (sb_parse_uint(optarg, SBT_TL_MIN_MS, SBT_TL_MAX_MS,
					  &o->timeline_ms))
				return sbt_usage_error("--timeline must be "
						       "%u..%u ms",
						       SBT_TL_MIN_MS,
						       SBT_TL_MAX_MS);
			break;
		default:
			ret = sbt_common_opt(c, &o->verbose, usage);
			if (ret >= 0)
				return ret;
		}
	}
	return check_opts(argc, o);
}

/* Exit status for the first I/O error @err of a run. */
static int exit_for(int err)
{
	return err == -EHOSTUNREACH || err == -ETIMEDOUT ? EXIT_UNREACHABLE
							 : EXIT_FAIL;
}

/*
 * A new engine on @cl, given BENCH_CONNECT_MS to reach its nodes (*@up:
 * how many it did). NULL after one line on stderr.
 */
static struct sb_engine *start_engine(const struct sb_cluster *cl,
				      const struct xp_secret *secret, int *up)
{
	struct sb_engine *e;
	char err[512];

	e = sb_engine_new(cl, secret, err, sizeof(err));
	if (!e) {
		fprintf(stderr, "spanblk-bench: %s\n", err);
		return NULL;
	}
	*up = sb_engine_wait_ready(e, BENCH_CONNECT_MS);
	return e;
}

/* One line per node: the transport its payload takes. */
static void print_payloads(struct sb_engine *e, const struct sb_cluster *cl)
{
	unsigned int i;

	for (i = 0; i < cl->nr_nodes; i++) {
		char why[96];
		enum sb_payload pl =
			sb_engine_node_payload(e, i, why, sizeof(why));

		printf("node %u: payload %s%s%s%s\n", cl->nodes[i].id,
		       pl == SB_PAYLOAD_RDMA ? "rdma" : "tcp",
		       pl == SB_PAYLOAD_PENDING ? " (rdma pending)" : "",
		       why[0] && pl != SB_PAYLOAD_RDMA ? ": " : "",
		       pl != SB_PAYLOAD_RDMA ? why : "");
	}
}

/*
 * Start b->e on @cl and open LUN @o->lun, creating it when missing; when
 * the LUN has another layout, restart the engine with that one (@cl
 * takes it). @secret is wiped here. 0 with *@lun_size set, or the exit
 * code after one line on stderr (b->e, if any, is the caller's to free).
 */
static int bench_connect(struct bench *b, struct sb_cluster *cl,
			 struct xp_secret *secret, const struct bench_opts *o,
			 uint64_t *lun_size)
{
	uint64_t size = o->size ? o->size : BENCH_DEFAULT_SIZE;
	struct xp_layout lay;
	int ret, up;

	b->e = start_engine(cl, secret, &up);
	if (!b->e)
		goto out_wipe;
	printf("cluster %s: %d of %u nodes up, %u replicas, chunk %" PRIu64
	       " bytes\n",
	       o->path, up, cl->nr_nodes, cl->replicas, cl->chunk_size);
	ret = open_lun(b->e, o->lun, size, lun_size, &lay);
	if (ret == -EMEDIUMTYPE && lay.replicas <= cl->nr_nodes) {
		/* The LUN's recorded layout decides where its chunks are. */
		printf("LUN %s was created with chunk %" PRIu32 " bytes and %u "
		       "replicas: using them\n",
		       o->lun, lay.chunk_size, (unsigned int)lay.replicas);
		sb_engine_free(b->e);
		cl->chunk_size = lay.chunk_size;
		cl->replicas = lay.replicas;
		b->e = start_engine(cl, secret, &up);
		if (!b->e)
			goto out_wipe;
		ret = open_lun(b->e, o->lun, size, lun_size, &lay);
	}
	memset(secret, 0, sizeof(*secret));
	if (ret) {
		fprintf(stderr, "spanblk-bench: cannot open LUN %s: %s\n",
			o->lun, strerror(-ret));
		return ret == -EHOSTUNREACH ? EXIT_UNREACHABLE : EXIT_FAIL;
	}
	/* RDMA is set up after the handshake: start with it in place. */
	(void)sb_engine_wait_payload(b->e, BENCH_CONNECT_MS);
	print_payloads(b->e, cl);
	return 0;

out_wipe:
	memset(secret, 0, sizeof(*secret));
	return EXIT_FAIL;
}

/*
 * @n slots of @len bytes each, filled with random bytes (what writes
 * carry without --verify). 0 or -ENOMEM; slots_free() undoes either.
 */
static int slots_alloc(struct bench *b, unsigned int n, size_t len)
{
	unsigned int i;

	b->slots = calloc(n, sizeof(*b->slots));
	if (!b->slots)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct bench_slot *s = &b->slots[i];
		uint64_t *p;
		size_t k;

		s->b = b;
		s->iov.iov_len = len;
		s->iov.iov_base = aligned_alloc(BENCH_ALIGN, len);
		if (!s->iov.iov_base)
			return -ENOMEM;
		p = s->iov.iov_base;
		for (k = 0; k < len / sizeof(*p); k++)
			p[k] = xorshift(&b->rng);
	}
	return 0;
}

/* Free the @n slots of slots_alloc(), whole or not; NULL slots too. */
static void slots_free(struct bench *b, unsigned int n)
{
	unsigned int i;

	if (b->slots)
		for (i = 0; i < n; i++)
			free(b->slots[i].iov.iov_base);
	free(b->slots);
}

/*
 * --prefill: write the whole range, in 1 MiB writes unless the range is
 * not a multiple of that (then in @bs ones). 0, or the exit code after
 * one line on stderr.
 */
static int bench_prefill(struct bench *b, uint64_t bs)
{
	unsigned int i;
	double secs;

	b->mode = MODE_WRITE;
	b->bs = b->range % PREFILL_BS ? (uint32_t)bs : PREFILL_BS;
	b->qd = PREFILL_QD;
	b->limit = b->range;
	for (i = 0; i < PREFILL_QD; i++)
		b->slots[i].iov.iov_len = b->bs;
	printf("prefill: writing %" PRIu64 " bytes...\n", b->range);
	fflush(stdout);
	secs = bench_run(b, 0);
	if (b->errors) {
		fprintf(stderr, "spanblk-bench: prefill failed: %s\n",
			strerror(-b->first_err));
		return exit_for(b->first_err);
	}
	printf("prefill: %.1f MiB/s\n",
	       (double)b->bytes / secs / (1024.0 * 1024.0));
	bench_reset(b);
	b->limit = 0;
	return 0;
}

/*
 * The measured run's parameters from @o into @b, with @tl (prepared
 * here) as its timeline when --timeline is given. 0 or -ENOMEM.
 */
static int bench_setup(struct bench *b, const struct bench_opts *o,
		       struct sbt_timeline *tl)
{
	unsigned int i;
	int ret;

	b->mode = o->mode;
	b->bs = (uint32_t)o->bs;
	b->qd = (unsigned int)o->qd;
	b->write_flags = o->fua ? SB_IO_F_FUA : 0;
	b->flush_every = o->flush_every;
	for (i = 0; i < o->qd; i++)
		b->slots[i].iov.iov_len = (size_t)o->bs;
	if (!o->timeline_ms)
		return 0;
	ret = sbt_timeline_init(tl, (unsigned int)o->timeline_ms, o->seconds);
	if (ret)
		return ret;
	b->timeline = tl;
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_opts o = {
		.path = SB_DEFAULT_CLUSTER_CONF,
		.bs = 4096,
		.qd = 32,
		.seconds = 10,
		.mode = MODE_RANDREAD,
	};
	uint64_t lun_size = 0;
	struct sb_cluster *cl = NULL;
	struct xp_secret secret;
	struct sb_engine_stats st;
	struct sbt_timeline tl = {0};
	struct bench *b = NULL;
	unsigned int nslots;
	char dbuf[32];
	double secs;
	int rc;

	rc = parse_opts(argc, argv, &o);
	if (rc >= 0)
		return rc;
	if (o.timeline_ms)
		sb_log_set_sink(sbt_timeline_log_sink);
	rc = sbt_cluster_load(o.path, o.verbose, &cl, &secret);
	if (rc)
		goto out_free;
	rc = EXIT_FAIL;
	b = calloc(1, sizeof(*b));
	if (!b) {
		fprintf(stderr, "spanblk-bench: out of memory\n");
		goto out_free;
	}
	rc = bench_connect(b, cl, &secret, &o, &lun_size);
	if (rc)
		goto out_free_engine;
	b->verify_seed = o.vseed;
	b->range = o.size && o.size < lun_size ? o.size : lun_size;
	b->range -= b->range % o.bs;
	if (b->range == 0) {
		fprintf(stderr,
			"spanblk-bench: LUN %s (%" PRIu64 " bytes) is smaller "
			"than --bs\n",
			o.lun, lun_size);
		rc = EXIT_USAGE;
		goto out_free_engine;
	}
	b->lun_id = sb_lun_id(o.lun);
	b->rng = sb_now_ns() | 1;
	rc = EXIT_FAIL;
	if (pthread_mutex_init(&b->lock, NULL) ||
	    pthread_cond_init(&b->cond, NULL)) {
		fprintf(stderr, "spanblk-bench: cannot create locks\n");
		goto out_free_engine;
	}
	nslots = o.qd > PREFILL_QD ? (unsigned int)o.qd : PREFILL_QD;
	if (slots_alloc(b, nslots, o.bs > PREFILL_BS ? o.bs : PREFILL_BS)) {
		fprintf(stderr, "spanblk-bench: out of memory\n");
		goto out_free_slots;
	}
	if (o.prefill) {
		rc = bench_prefill(b, o.bs);
		if (rc)
			goto out_free_slots;
	}
	if (bench_setup(b, &o, &tl)) {
		fprintf(stderr, "spanblk-bench: out of memory\n");
		rc = EXIT_FAIL;
		goto out_free_slots;
	}
	printf("running %s bs=%" PRIu64 " qd=%" PRIu64 " durable=%s for %.1f s "
	       "on LUN %s (%" PRIu64 " bytes)..."
	       "\n",
	       mode_name(o.mode), o.bs, o.qd,
	       durable_name(b, dbuf, sizeof(dbuf)), o.seconds, o.lun, b->range);
	fflush(stdout);
	secs = bench_run(b, o.seconds);
	sb_engine_get_stats(b->e, &st);
	print_result(b, secs, &st);
	rc = b->errors ? exit_for(b->first_err) : 0;

out_free_slots:
	sbt_timeline_free(&tl);
	slots_free(b, nslots);
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
out_free_engine:
	sb_engine_free(b->e);
out_free:
	free(b);
	free(cl);
	return rc;
}
