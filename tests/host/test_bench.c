/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Host test of spanblk-bench's durable writes against three real spanblkd
 * processes on 127.0.0.1 (tests/host/testlib.c starts them): the
 * benchmark (build-san/spanblk-bench, or $SPANBLK_BENCH) runs as its own
 * process, and the nodes' STAT counters, read through an engine of the
 * test's own, show what reached them:
 *
 *   - --fua: every WRITE request of the run carried FUA (the nodes' FUA
 *     write counter grows by exactly replicas x writes, as their write
 *     counter does); without it the FUA counter stays still;
 *   - --flush-every N: every node counts exactly the FLUSHes the
 *     benchmark reports, one per N completed writes;
 *   - the options are refused with read modes, with N = 0 and together:
 *     one line on stderr, exit 2;
 *   - --timeline MS: the intervals' counts add up to the run's reads and
 *     writes, and a node stopped (SIGSTOP) for a while mid-run shows as
 *     a gap without completions over that while, with empty intervals.
 *
 * Cluster: 3 nodes, 2 replicas, 1 MiB chunks; writes of at most one
 * chunk, aligned, so each is one request per replica.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/config.h"
#include "lib/engine.h"
#include "lib/util/log.h"
#include "tests/host/testlib.h"
#include "xport/auth.h"

#define NODES 3
#define REPLICAS 2
#define CHUNK (1u << 20)
#define TIMEOUT_MS 10000
#define LUN "durable"
#define LUN_SIZE "64M"
#define BENCH_DEFAULT "build-san/spanblk-bench"
#define OUT_CAP 16384
#define TL_OUT_CAP (1u << 20)

struct fixture {
	struct tl_cluster tc;
	struct sb_cluster cl;
	struct xp_secret secret;
	struct sb_engine *e; /* the test's own, to read the nodes' STAT */
	char bench[PATH_MAX];
};

static struct fixture fx;

/* What a run's "result:" line says. */
struct run {
	uint64_t ios, errors, flushes;
	double flush_p50_us, flush_p99_us, cpu_s, seconds;
	char durable[32];
};

/* The nodes' counters summed (and FLUSHes per node). */
struct counters {
	uint64_t writes, fua_writes;
	uint64_t flushes[NODES];
};

static void counters_get(struct counters *c)
{
	unsigned int i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < NODES; i++) {
		struct xp_stat st;

		assert_true(sb_engine_stat(fx.e, i, &st, NULL) >= 0);
		c->writes += st.ops_write;
		c->fua_writes += st.ops_write_fua;
		c->flushes[i] = st.ops_flush;
	}
}

/* The value of " @key=" in @line, as text up to the next blank. */
static const char *field(const char *line, const char *key, char *val,
			 size_t len)
{
	char pat[64];
	const char *p;
	size_t n;

	snprintf(pat, sizeof(pat), " %s=", key);
	p = strstr(line, pat);
	if (!p)
		fail_msg("no %s= in: %s", key, line);
	p += strlen(pat);
	n = strcspn(p, " \n");
	assert_true(n < len);
	memcpy(val, p, n);
	val[n] = '\0';
	return val;
}

static uint64_t field_u64(const char *line, const char *key)
{
	char v[32];

	return strtoull(field(line, key, v, sizeof(v)), NULL, 10);
}

/* The benchmark with @args (NULL-terminated, after -c and --lun). */
static int bench_exec(const char *const args[], char *out, size_t cap)
{
	char *argv[32];
	unsigned int n = 0, i;

	argv[n++] = fx.bench;
	argv[n++] = "-c";
	argv[n++] = fx.tc.conf;
	argv[n++] = "--lun";
	argv[n++] = LUN;
	for (i = 0; args[i]; i++) {
		assert_true(n < sizeof(argv) / sizeof(argv[0]) - 1);
		argv[n++] = (char *)args[i];
	}
	argv[n] = NULL;
	return tl_run(argv, out, cap);
}

/* A run that must succeed; its result line into @r. */
static void bench_ok(const char *const args[], struct run *r)
{
	static char out[OUT_CAP];
	const char *line;
	char v[32];
	int rc;

	rc = bench_exec(args, out, sizeof(out));
	if (rc != 0)
		fail_msg("spanblk-bench exit %d: %s", rc, out);
	line = strstr(out, "\nresult: ");
	if (!line)
		fail_msg("no result line: %s", out);
	memset(r, 0, sizeof(*r));
	r->ios = field_u64(line, "ios");
	r->errors = field_u64(line, "errors");
	r->flushes = field_u64(line, "flushes");
	r->flush_p50_us =
		strtod(field(line, "flush_p50_us", v, sizeof(v)), NULL);
	r->flush_p99_us =
		strtod(field(line, "flush_p99_us", v, sizeof(v)), NULL);
	field(line, "durable", r->durable, sizeof(r->durable));
	r->cpu_s = strtod(field(line, "cpu_s", v, sizeof(v)), NULL);
	r->seconds = strtod(field(line, "seconds", v, sizeof(v)), NULL);
	assert_int_equal(r->errors, 0);
	assert_true(r->ios > 0);
}

/* A run that must be refused: exit 2, one line naming @needle. */
static void bench_refused(const char *const args[], const char *needle)
{
	char out[4096];
	const char *nl;
	int rc;

	rc = bench_exec(args, out, sizeof(out));
	if (rc != 2 || !strstr(out, needle))
		fail_msg("exit %d, wanted 2 and '%s': %s", rc, needle, out);
	assert_true(strncmp(out, "spanblk-bench: ", 15) == 0);
	nl = strchr(out, '\n');
	assert_non_null(nl);
	assert_int_equal(nl[1], '\0');
}

/* ---- the tests ---------------------------------------------------------- */

/* Plain writes: every write reaches both replicas, none with FUA. */
static void test_plain_writes(void **state)
{
	const char *const args[] = {"--rw", "randwrite", "--bs", "4k", "--qd",
				    "8",    "--time",	 "1",	 NULL};
	struct counters a, b;
	struct run r;
	unsigned int i;

	(void)state;
	counters_get(&a);
	bench_ok(args, &r);
	counters_get(&b);
	assert_string_equal(r.durable, "none");
	assert_int_equal(r.flushes, 0);
	/* the run's CPU: some, and at most every core for its whole time */
	assert_true(r.cpu_s > 0);
	assert_true(r.cpu_s <=
		    r.seconds * (double)sysconf(_SC_NPROCESSORS_ONLN) + 0.05);
	assert_int_equal(b.writes - a.writes, REPLICAS * r.ios);
	assert_int_equal(b.fua_writes, a.fua_writes);
	for (i = 0; i < NODES; i++)
		assert_int_equal(b.flushes[i], a.flushes[i]);
}

/* --fua, random 4 KiB and sequential 1 MiB: every write request is FUA. */
static void test_fua(void **state)
{
	const char *const rnd[] = {"--rw", "randwrite", "--bs", "4k",	 "--qd",
				   "8",	   "--time",	"1",	"--fua", NULL};
	const char *const seq[] = {"--rw", "write",  "--bs", "1M",    "--qd",
				   "4",	   "--time", "1",    "--fua", NULL};
	struct counters a, b, c;
	struct run r1, r2;
	unsigned int i;

	(void)state;
	counters_get(&a);
	bench_ok(rnd, &r1);
	counters_get(&b);
	assert_string_equal(r1.durable, "fua");
	assert_int_equal(r1.flushes, 0);
	assert_int_equal(b.writes - a.writes, REPLICAS * r1.ios);
	assert_int_equal(b.fua_writes - a.fua_writes, REPLICAS * r1.ios);

	bench_ok(seq, &r2);
	counters_get(&c);
	assert_string_equal(r2.durable, "fua");
	assert_int_equal(c.writes - b.writes, REPLICAS * r2.ios);
	assert_int_equal(c.fua_writes - b.fua_writes, REPLICAS * r2.ios);
	for (i = 0; i < NODES; i++)
		assert_int_equal(c.flushes[i], a.flushes[i]);
}

/*
 * --flush-every N at @qd: every node served exactly the FLUSHes the
 * benchmark counted, and they were one per N completed writes: the
 * writes that completed after the last FLUSH went are fewer than N, plus
 * those still in flight when the run stopped (at most @qd).
 */
static void check_flush_every(const char *qd, unsigned int n)
{
	char every[16], want[32];
	const char *const args[] = {"--rw",   "randwrite", "--bs",
				    "4k",     "--qd",	   qd,
				    "--time", "1",	   "--flush-every",
				    every,    NULL};
	struct counters a, b;
	struct run r;
	unsigned int i;

	snprintf(every, sizeof(every), "%u", n);
	snprintf(want, sizeof(want), "flush%u", n);
	counters_get(&a);
	bench_ok(args, &r);
	counters_get(&b);
	assert_string_equal(r.durable, want);
	assert_true(r.flushes > 0);
	for (i = 0; i < NODES; i++)
		assert_int_equal(b.flushes[i] - a.flushes[i], r.flushes);
	assert_int_equal(b.writes - a.writes, REPLICAS * r.ios);
	assert_int_equal(b.fua_writes, a.fua_writes);
	if (r.flushes * n > r.ios ||
	    r.ios >= (r.flushes + 1) * n + strtoull(qd, NULL, 10))
		fail_msg("%" PRIu64 " flushes for %" PRIu64 " writes, one per "
			 "%u at qd %s",
			 r.flushes, r.ios, n, qd);
	assert_true(r.flush_p50_us > 0);
	assert_true(r.flush_p99_us >= r.flush_p50_us);
}

static void test_flush_every(void **state)
{
	(void)state;
	/* One slot: writes and FLUSHes strictly take turns. */
	check_flush_every("1", 4);
	/* Eight slots: FLUSHes share the queue with writes. */
	check_flush_every("8", 16);
}

/* Durable writes need a write mode, a positive N, and one of the two. */
static void test_refused(void **state)
{
	const char *const read_fua[] = {"--rw", "read", "--fua", NULL};
	const char *const randread_flush[] = {"--rw", "randread",
					      "--flush-every", "8", NULL};
	const char *const default_fua[] = {"--fua", NULL};
	const char *const zero[] = {"--rw", "write", "--flush-every", "0",
				    NULL};
	const char *const junk[] = {"--rw", "write", "--flush-every", "4x",
				    NULL};
	const char *const both[] = {"--rw",	     "randwrite", "--fua",
				    "--flush-every", "4",	  NULL};
	struct counters a, b;
	unsigned int i;

	(void)state;
	counters_get(&a);
	bench_refused(read_fua, "--fua needs --rw write or randwrite");
	bench_refused(randread_flush, "--flush-every needs --rw write or "
				      "randwrite");
	/* The default mode is randread. */
	bench_refused(default_fua, "--fua needs --rw write or randwrite");
	bench_refused(zero, "--flush-every must be 1..");
	bench_refused(junk, "--flush-every must be 1..");
	bench_refused(both, "--fua and --flush-every exclude each other");
	counters_get(&b);
	/* Refused before any I/O. */
	assert_int_equal(b.writes, a.writes);
	for (i = 0; i < NODES; i++)
		assert_int_equal(b.flushes[i], a.flushes[i]);
}

/* ---- --timeline ---------------------------------------------------------- */

/* What the timeline lines of one run say. */
struct tl_run {
	double start; /* Unix seconds */
	unsigned int bucket_ms, intervals, ngaps;
	uint64_t sum; /* completions over every interval */
	double gap_from[64], gap_to[64];
	uint64_t ios, lat_max_us, gap_max_us;
	double res_gap_from, res_gap_to;
	const char *out; /* the whole output, for the intervals */
};

static double now_unix(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run with @args and --timeline; parse and check what holds for any run. */
static void timeline_run(const char *const args[], struct tl_run *t)
{
	static char out[TL_OUT_CAP];
	const char *p, *line;
	unsigned int next = 0;
	char v[40];
	double d;
	int rc;

	rc = bench_exec(args, out, sizeof(out));
	if (rc != 0)
		fail_msg("spanblk-bench exit %d: %s", rc, out);
	memset(t, 0, sizeof(*t));
	t->out = out;
	line = strstr(out, "\nresult: ");
	assert_non_null(line);
	t->ios = field_u64(line, "ios");
	t->lat_max_us = field_u64(line, "lat_max_us");
	t->gap_max_us = field_u64(line, "gap_max_us");
	t->res_gap_from =
		strtod(field(line, "gap_from_unix", v, sizeof(v)), NULL);
	t->res_gap_to = strtod(field(line, "gap_to_unix", v, sizeof(v)), NULL);
	p = strstr(out, "\ntimeline: start_unix=");
	assert_non_null(p);
	assert_int_equal(sscanf(p,
				"\ntimeline: start_unix=%lf bucket_ms=%u "
				"intervals=%u",
				&t->start, &t->bucket_ms, &t->intervals),
			 3);
	for (p = strstr(out, "\ngap: "); p; p = strstr(p + 1, "\ngap: ")) {
		assert_true(t->ngaps < 64);
		assert_int_equal(sscanf(p, "\ngap: from_unix=%lf to_unix=%lf",
					&t->gap_from[t->ngaps],
					&t->gap_to[t->ngaps]),
				 2);
		/* in time order, each at least an interval long */
		assert_true(t->gap_to[t->ngaps] - t->gap_from[t->ngaps] >=
			    t->bucket_ms / 1000.0 - 1e-6);
		if (t->ngaps)
			assert_true(t->gap_from[t->ngaps] >=
				    t->gap_to[t->ngaps - 1] - 1e-6);
		t->ngaps++;
	}
	/* one line per interval, in order, adding up to the run's count */
	for (p = strstr(out, "\ntimeline: t_ms="); p; p = strstr(p + 1, "\ntime"
									"line: "
									"t_"
									"ms"
									"=")) {
		unsigned int ms;
		unsigned long long n;

		assert_int_equal(
			sscanf(p, "\ntimeline: t_ms=%u ios=%llu", &ms, &n), 2);
		assert_int_equal(ms, next * t->bucket_ms);
		next++;
		t->sum += n;
	}
	assert_int_equal(next, t->intervals);
	assert_int_equal(t->sum, t->ios);
	/* the longest gap is where the result line says */
	assert_true(t->res_gap_from >= t->start - 1e-6);
	d = (t->res_gap_to - t->res_gap_from) * 1e6 - (double)t->gap_max_us;
	assert_true(d > -2.0 && d < 2.0);
}

/* Completions of the intervals that lie wholly inside [@a, @b]. */
static uint64_t ios_between(const struct tl_run *t, double a, double b)
{
	const char *p;
	uint64_t sum = 0;

	for (p = strstr(t->out, "\ntimeline: t_ms="); p;
	     p = strstr(p + 1, "\ntimeline: t_ms=")) {
		unsigned int ms;
		unsigned long long n;
		double from;

		assert_int_equal(
			sscanf(p, "\ntimeline: t_ms=%u ios=%llu", &ms, &n), 2);
		from = t->start + ms / 1000.0;
		if (from >= a && from + t->bucket_ms / 1000.0 <= b)
			sum += n;
	}
	return sum;
}

/*
 * The engine's log lines (-v) of @t's run, each after the Unix time it
 * was logged at, between the command's start @t0 and its end @t1.
 * Returns how many there were.
 */
static unsigned int stamped_log_lines(const struct tl_run *t, double t0,
				      double t1)
{
	const char *p;
	unsigned int n = 0;

	for (p = strstr(t->out, " spanblk "); p; p = strstr(p + 1, " spanblk"
								   " ")) {
		const char *bol = p;
		double at;

		while (bol > t->out && bol[-1] != '\n')
			bol--;
		if (sscanf(bol, "%lf spanblk ", &at) != 1)
			fail_msg("log line without its time: %.80s", bol);
		assert_true(at >= t0 && at <= t1);
		n++;
	}
	return n;
}

/* A plain run: intervals of 50 ms over 1 s, counts adding up. */
static void test_timeline(void **state)
{
	const char *const args[] = {"--rw",	  "randwrite", "--bs",	 "4k",
				    "--qd",	  "8",	       "--time", "1",
				    "--timeline", "50",	       "-v",	 NULL};
	struct tl_run t;
	double t0 = now_unix();

	(void)state;
	timeline_run(args, &t);
	/* -v: each node's payload transport at least, on the same clock */
	assert_true(stamped_log_lines(&t, t0, now_unix()) >= NODES);
	assert_int_equal(t.bucket_ms, 50);
	assert_true(t.ios > 0);
	/* 20 intervals, maybe a few more for the writes that end the run */
	assert_true(t.intervals >= 19 && t.intervals <= 30);
	assert_true(t.start > now_unix() - 60 && t.start < now_unix());
}

struct stopper {
	pid_t pid;
	double stop, cont; /* when it was stopped and continued */
};

/* Stop the node 2 s into the benchmark's process, continue it 1.5 s later. */
static void *stopper_main(void *arg)
{
	struct stopper *s = arg;

	usleep(2000 * 1000);
	s->stop = now_unix();
	kill(s->pid, SIGSTOP);
	usleep(1500 * 1000);
	s->cont = now_unix();
	kill(s->pid, SIGCONT);
	return NULL;
}

/*
 * A node stopped mid-run: 2 of 3 chunks have a replica on it, so every
 * slot soon waits for it and nothing completes until it continues. The
 * longest gap covers the stop, and the intervals inside it are empty.
 */
static void test_timeline_stall(void **state)
{
	const char *const args[] = {"--rw",	  "randwrite", "--bs",	 "4k",
				    "--qd",	  "8",	       "--time", "6",
				    "--timeline", "10",	       NULL};
	struct stopper s = {.pid = fx.tc.nodes[1].pid};
	struct tl_run t;
	pthread_t th;

	(void)state;
	assert_true(s.pid > 0);
	assert_int_equal(pthread_create(&th, NULL, stopper_main, &s), 0);
	timeline_run(args, &t);
	assert_int_equal(pthread_join(th, NULL), 0);
	if (t.start > s.stop)
		fail_msg("the run started %.3f s after the node was stopped",
			 t.start - s.stop);
	/* the longest gap: from just after the stop to just after the
	 * continue (the slots in flight on other nodes end first) */
	if (!(t.res_gap_from >= s.stop - 0.05 &&
	      t.res_gap_from <= s.stop + 0.5 && t.res_gap_to >= s.cont &&
	      t.res_gap_to <= s.cont + 1.0))
		fail_msg("gap %.3f..%.3f, node stopped %.3f..%.3f",
			 t.res_gap_from, t.res_gap_to, s.stop, s.cont);
	assert_true(t.gap_max_us >= 1000000);
	assert_true(t.lat_max_us + 20000 >= t.gap_max_us);
	assert_true(t.ngaps >= 1);
	assert_int_equal(
		ios_between(&t, t.res_gap_from + 0.01, t.res_gap_to - 0.01), 0);
	assert_true(ios_between(&t, t.start, s.stop) > 0);
	assert_true(ios_between(&t, s.cont + 1.0, t.start + 6.0) > 0);
}

/* ---- fixture ------------------------------------------------------------ */

static int group_setup(void **state)
{
	const char *bench = getenv("SPANBLK_BENCH");
	uint64_t size;

	(void)state;
	sb_log_set_level(SB_LOG_ERR);
	if (!realpath(bench ? bench : BENCH_DEFAULT, fx.bench) ||
	    access(fx.bench, X_OK) < 0) {
		fprintf(stderr, "no spanblk-bench at %s\n",
			bench ? bench : BENCH_DEFAULT);
		return -1;
	}
	if (tl_engine_start(&fx.tc, NODES, REPLICAS, CHUNK, TIMEOUT_MS, &fx.cl,
			    &fx.secret, &fx.e))
		return -1;
	if (sb_parse_size(LUN_SIZE, &size) ||
	    sb_engine_lun_create(fx.e, LUN, size)) {
		fprintf(stderr, "cannot create LUN %s\n", LUN);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	sb_engine_free(fx.e);
	fx.e = NULL;
	memset(&fx.secret, 0, sizeof(fx.secret));
	tl_cluster_destroy(&fx.tc);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_writes),
		cmocka_unit_test(test_fua),
		cmocka_unit_test(test_flush_every),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_timeline),
		cmocka_unit_test(test_timeline_stall),
	};

	return cmocka_run_group_tests_name("spanblk-bench", tests, group_setup,
					   group_teardown);
}
