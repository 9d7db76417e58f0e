/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Randomized fault test (docs/recovery.md, "Testing"): a real three-member
 * etcd, five real spanblkd registered in it, the gateway engine in this
 * process. An I/O thread keeps reads and writes in flight and checks every
 * read against a model of acknowledged writes (tests/common/chaos_model.h);
 * the main thread injects faults at random: kill -9, SIGSTOP for 1-5 s,
 * restart of a dead node, restart with its data folder wiped, SIGTERM and
 * restart (the folder is copied meanwhile), restart of a dead node on such
 * an old copy of its folder (it must serve none of it), restart of the
 * gateway engine (a cold one learns from etcd which replicas are stale),
 * `spanblkctl node out` of a node (alive or dead; one at a time) and
 * `node in` of it later. At most two nodes are down at once, so chunks whose
 * replicas are all down do happen: they must fail, never serve old data.
 *
 * The run is cut into rounds: each one on a new LUN, replicas 2
 * and 3 in turn, ending with every node healed and a full read of the LUN
 * by a cold gateway. Rounds keep the test making progress: nothing copies
 * a missed chunk back to a returning node yet, so one LUN would only
 * lose copies (a wiped node loses all of its).
 *
 * CHAOS_SEED picks the random choices (printed at start; the timing of
 * the processes differs between runs), CHAOS_SECONDS the duration
 * (default 100), CHAOS_ROUND_SECONDS the round length (default 25).
 * TL_KEEP=1 keeps the nodes' logs.
 *
 * Threads: the main thread owns the processes (nodes, etcd) and the
 * statistics of faults; the I/O thread owns the engine, the model, the
 * operations and their statistics. They share fx.mu: the completed
 * operations, the command from main to the I/O thread, a failure.
 */
#include <errno.h>
#include <inttypes.h>
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
#include "lib/place.h"
#include "lib/util/clock.h"
#include "lib/util/log.h"
#include "testlib.h"
#include "tests/common/chaos_model.h"
#include "tests/common/etcd_proc.h"
#include "xport/auth.h"
#include "xport/kv.h"

#define NODES 5
#define MAX_DOWN 2 /* nodes dead or stopped at once */
#define CHUNK (64u << 10)
#define LUN_SIZE (8u << 20)
#define NBLK (LUN_SIZE / TC_BLOCK)
#define CHUNK_BLKS (CHUNK / TC_BLOCK)
#define IO_TIMEOUT_MS 2000
#define TTL_S 2
#define QD 12 /* operations in flight */
#define MAX_WRITE_BLKS 16
#define MAX_READ_BLKS 32
#define HANG_MS 60000 /* an operation older than this is a hang */
#define FORCE_RESTART_MS 8000 /* a node dead this long is restarted */
#define UP_WAIT_MS 30000
#define TERM_WAIT_MS 20000
#define DEFAULT_SECONDS 100
#define DEFAULT_ROUND_S 25
#define MIN_ACKED 1000
#define MAX_REPORTS 40 /* stale blocks printed */
#define PFX "/chaos-test/"

enum fault {
	F_KILL,
	F_STOP,
	F_RESTART,
	F_WIPE,
	F_TERM,
	F_GATEWAY,
	F_OLDCOPY,
	F_OUT,
	F_IN,
	F_KINDS
};

static const char *const fault_name[F_KINDS] = {
	[F_KILL] = "kill -9",
	[F_STOP] = "SIGSTOP",
	[F_RESTART] = "restart",
	[F_WIPE] = "wipe+restart",
	[F_TERM] = "SIGTERM+restart",
	[F_GATEWAY] = "gateway restart",
	[F_OLDCOPY] = "old copy+restart",
	[F_OUT] = "node out",
	[F_IN] = "node in",
};

enum cmd { CMD_NONE, CMD_GATEWAY, CMD_ROUND, CMD_QUIT };

/* One operation of the I/O thread. */
struct cop {
	struct sb_io io;
	struct iovec v;
	struct cop *next; /* in fx.done */
	int err;
	bool busy, write, verify;
	size_t blk, n;
	uint64_t ver; /* write */
	uint64_t snap[MAX_READ_BLKS]; /* read: acknowledged at submission */
	uint64_t t0;
	uint8_t buf[MAX_READ_BLKS * TC_BLOCK];
};

#define ERRS 160 /* errno counters */

struct io_stats {
	uint64_t ops, acked, wfailed, reads, rfailed, stale, lost, corrupt;
	uint64_t vreads, vfailed; /* the full reads at the end of rounds */
	uint64_t werr[ERRS], rerr[ERRS];
};

static struct {
	/* fixture (main thread; read-only for the I/O thread) */
	struct tc_etcd etcd;
	struct tl_cluster c;
	struct sb_cluster cl[2]; /* replicas 2, replicas 3 */
	struct xp_secret secret;
	struct xp_kv *kv;
	uint64_t seed, t_start;
	unsigned int seconds, round_s;

	/* main thread */
	uint64_t rng_fault;
	bool stopped[NODES];
	bool snapped[NODES]; /* DATA.snap holds a copy from a clean stop */
	bool out[NODES]; /* out of placement (spanblkctl node out) */
	char conf3[PATH_MAX + 8]; /* the cluster file with replicas 3 */
	uint64_t cont_at[NODES], dead_since[NODES];
	uint64_t faults[F_KINDS];
	uint64_t outs; /* node outs that succeeded (a node in needs one) */

	/* I/O thread */
	pthread_t io_thread;
	uint64_t rng_io;
	struct sb_engine *e;
	unsigned int cfg, round;
	uint64_t lun;
	struct tc_model m;
	struct cop *ops; /* QD */
	unsigned int nbusy;
	struct io_stats st, round_st; /* now, at the round's start */

	/* shared, under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct cop *done;
	enum cmd cmd; /* from main; CMD_NONE once the I/O thread took it */
	bool running; /* the I/O thread runs a command */
	bool failed;
	char why[512];
} fx;

/* ---- small helpers ------------------------------------------------------ */

static uint64_t rnd(uint64_t *s, uint64_t n)
{
	uint64_t x = *s ? *s : 1;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return n ? (x * 0x2545f4914f6cdd1dull) % n : 0;
}

static double elapsed_s(void)
{
	return (double)(sb_now_ms() - fx.t_start) / 1000.0;
}

/* Record a failure found off the main thread; main fails the test. */
static void set_failed(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static void set_failed(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&fx.mu);
	if (!fx.failed) {
		va_start(ap, fmt);
		vsnprintf(fx.why, sizeof(fx.why), fmt, ap);
		va_end(ap);
		fx.failed = true;
	}
	pthread_cond_broadcast(&fx.cv);
	pthread_mutex_unlock(&fx.mu);
}

static bool failed(void)
{
	bool f;

	pthread_mutex_lock(&fx.mu);
	f = fx.failed;
	pthread_mutex_unlock(&fx.mu);
	return f;
}

static unsigned int env_uint(const char *name, unsigned int def)
{
	const char *s = getenv(name);
	char *end;
	unsigned long v;

	if (!s || !*s)
		return def;
	v = strtoul(s, &end, 10);
	return *end || v == 0 || v > 1000000 ? def : (unsigned int)v;
}

/* ---- the I/O thread: operations and the model --------------------------- */

static void on_done(struct sb_io *io, int err)
{
	struct cop *o = io->cb_arg;

	pthread_mutex_lock(&fx.mu);
	o->err = err;
	o->next = fx.done;
	fx.done = o;
	pthread_cond_broadcast(&fx.cv);
	pthread_mutex_unlock(&fx.mu);
}

/* The node ids placement gives @blk's chunk, as text. */
static void replicas_text(uint64_t blk, char *out, size_t len)
{
	const struct sb_cluster *cl = &fx.cl[fx.cfg];
	unsigned int rep[SB_MAX_NODES], n, i;
	size_t off = 0;

	out[0] = '\0';
	n = sb_place(cl, fx.lun, blk / CHUNK_BLKS, rep, cl->replicas);
	for (i = 0; i < n && off < len; i++)
		off += (size_t)snprintf(out + off, len - off, "%s%u",
					i ? "," : "", cl->nodes[rep[i]].id);
}

/* Judge every block a read returned. */
static void check_read(struct cop *o)
{
	unsigned int bad = 0;
	size_t i;

	for (i = 0; i < o->n; i++) {
		uint64_t blk = o->blk + i, got;
		enum tc_verdict v = tc_block_check(
			o->buf + i * TC_BLOCK, fx.m.lun, blk, o->snap[i], &got);
		char reps[64];

		if (v == TC_LEGAL)
			continue;
		bad++;
		if (v == TC_OLDER)
			fx.st.lost++;
		else
			fx.st.corrupt++;
		if (bad > 4 || fx.st.lost + fx.st.corrupt > MAX_REPORTS)
			continue;
		replicas_text(blk, reps, sizeof(reps));
		printf("t=%.1fs STALE READ round %u LUN %016" PRIx64
		       " block %" PRIu64 " (chunk %" PRIu64 " on nodes %s): "
		       "version %" PRIu64 " acknowledged before the read, "
		       "got %s%" PRIu64 "\n",
		       elapsed_s(), fx.round, fx.lun, blk, blk / CHUNK_BLKS,
		       reps, o->snap[i], v == TC_CORRUPT ? "corrupt " : "",
		       v == TC_CORRUPT ? 0 : got);
	}
	if (bad)
		fx.st.stale++;
}

static void count_err(uint64_t *errs, int err)
{
	errs[-err > 0 && -err < ERRS ? -err : 0]++;
}

/* An operation came back: the model and the statistics. */
static void complete(struct cop *o)
{
	o->busy = false;
	fx.nbusy--;
	if (o->write) {
		tc_model_write_end(&fx.m, o->blk, o->n, o->ver, o->err == 0);
		if (o->err) {
			fx.st.wfailed++;
			count_err(fx.st.werr, o->err);
		} else {
			fx.st.acked++;
		}
		return;
	}
	if (o->verify)
		fx.st.vreads++;
	else
		fx.st.reads++;
	if (o->err) {
		if (o->verify)
			fx.st.vfailed++;
		else
			fx.st.rfailed++;
		count_err(fx.st.rerr, o->err);
		return;
	}
	check_read(o);
}

/* Take the completed operations and account for them. */
static void reap(void)
{
	struct cop *list;

	pthread_mutex_lock(&fx.mu);
	list = fx.done;
	fx.done = NULL;
	pthread_mutex_unlock(&fx.mu);
	while (list) {
		struct cop *o = list;

		list = o->next;
		complete(o);
	}
}

/* Wait up to @ms for a completion or a command; then reap. */
static void wait_some(unsigned int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)ms * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&fx.mu);
	while (!fx.done && fx.cmd == CMD_NONE && !fx.failed)
		if (pthread_cond_timedwait(&fx.cv, &fx.mu, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&fx.mu);
	reap();
}

/* An operation in flight for longer than HANG_MS: a hang. */
static bool hung(void)
{
	uint64_t now = sb_now_ms();
	unsigned int i;

	for (i = 0; i < QD; i++) {
		struct cop *o = &fx.ops[i];

		if (o->busy && now - o->t0 > HANG_MS) {
			set_failed("hang: a %s of blocks %zu+%zu of LUN "
				   "%016" PRIx64 " (round %u) has not "
				   "completed after %" PRIu64 " ms",
				   o->write ? "write" : "read", o->blk, o->n,
				   fx.lun, fx.round, now - o->t0);
			return true;
		}
	}
	return false;
}

/* Submit @o as it is set up (blk, n, write, verify). */
static void submit(struct cop *o)
{
	int ret;

	o->v.iov_base = o->buf;
	o->v.iov_len = o->n * TC_BLOCK;
	o->io = (struct sb_io){
		.op = o->write ? SB_IO_WRITE : SB_IO_READ,
		.lun_id = fx.lun,
		.offset = o->blk * TC_BLOCK,
		.length = o->n * TC_BLOCK,
		.iov = &o->v,
		.iovcnt = 1,
		.flags = o->write && rnd(&fx.rng_io, 8) == 0 ? SB_IO_F_FUA : 0,
		.cb = on_done,
		.cb_arg = o,
	};
	o->busy = true;
	o->t0 = sb_now_ms();
	o->err = 0;
	fx.nbusy++;
	fx.st.ops++;
	ret = sb_engine_submit(fx.e, &o->io);
	if (ret) {
		o->err = ret; /* the callback never runs */
		complete(o);
	}
}

/* Set @o up as a random write or read of the model's LUN. */
static void gen_op(struct cop *o)
{
	unsigned int tries;
	size_t i;

	o->verify = false;
	o->write = rnd(&fx.rng_io, 100) < 55;
	for (tries = 0; o->write && tries < 8; tries++) {
		o->n = 1 + rnd(&fx.rng_io, MAX_WRITE_BLKS);
		o->blk = rnd(&fx.rng_io, NBLK - o->n + 1);
		if (tc_model_can_write(&fx.m, o->blk, o->n))
			break;
	}
	if (o->write && tries == 8)
		o->write = false;
	if (o->write) {
		o->ver = tc_model_write_begin(&fx.m, o->blk, o->n);
		for (i = 0; i < o->n; i++)
			tc_block_fill(o->buf + i * TC_BLOCK, fx.m.lun,
				      o->blk + i, o->ver);
		return;
	}
	o->n = 1 + rnd(&fx.rng_io, MAX_READ_BLKS);
	o->blk = rnd(&fx.rng_io, NBLK - o->n + 1);
	tc_model_snapshot(&fx.m, o->blk, o->n, o->snap);
}

static struct cop *free_op(void)
{
	unsigned int i;

	for (i = 0; i < QD; i++)
		if (!fx.ops[i].busy)
			return &fx.ops[i];
	return NULL;
}

/* Wait until nothing is in flight. False on a hang. */
static bool drain(void)
{
	while (fx.nbusy) {
		if (hung())
			return false;
		wait_some(100);
	}
	return true;
}

/* Read the whole LUN, a chunk at a time, checking every block. */
static bool verify_all(void)
{
	size_t next = 0;
	struct cop *o;

	while (next < NBLK || fx.nbusy) {
		while (next < NBLK && (o = free_op())) {
			o->verify = true;
			o->write = false;
			o->blk = next;
			o->n = CHUNK_BLKS;
			tc_model_snapshot(&fx.m, o->blk, o->n, o->snap);
			next += CHUNK_BLKS;
			submit(o);
		}
		if (hung())
			return false;
		wait_some(100);
	}
	return true;
}

/* ---- the I/O thread: engines, LUNs, rounds ------------------------------ */

static bool engine_start(void)
{
	char err[256];

	fx.e = sb_engine_new(&fx.cl[fx.cfg], &fx.secret, err, sizeof(err));
	if (!fx.e)
		set_failed("sb_engine_new: %s", err);
	return fx.e != NULL;
}

/* Free the engine with whatever is in flight: all of it must complete. */
static bool engine_stop(void)
{
	sb_engine_free(fx.e);
	fx.e = NULL;
	reap();
	if (fx.nbusy) {
		set_failed("sb_engine_free returned with %u operations not "
			   "completed",
			   fx.nbusy);
		return false;
	}
	return true;
}

/* A new LUN for round fx.round (every node is up) and a new model. */
static bool lun_begin(void)
{
	char name[32];
	unsigned int tries;
	int ret = -EIO;

	snprintf(name, sizeof(name), "chaos%u", fx.round);
	fx.lun = sb_lun_id(name);
	for (tries = 0; tries < 40; tries++) {
		ret = sb_engine_lun_create(fx.e, name, LUN_SIZE);
		if (!ret)
			break;
		usleep(250 * 1000);
	}
	if (ret) {
		set_failed("LUN %s: create: %s", name, strerror(-ret));
		return false;
	}
	tc_model_free(&fx.m);
	if (tc_model_init(&fx.m, fx.lun, NBLK)) {
		set_failed("model: out of memory");
		return false;
	}
	printf("t=%.1fs round %u: LUN %s (%016" PRIx64 "), replicas %u\n",
	       elapsed_s(), fx.round, name, fx.lun, fx.cl[fx.cfg].replicas);
	return true;
}

/*
 * End of a round (every node healed): a cold gateway reads the whole LUN,
 * the LUN is deleted; with @next, a new round starts with the other
 * replica count.
 */
static bool round_end(bool next)
{
	const struct io_stats *a = &fx.round_st, *b = &fx.st;
	int ret;

	if (!drain())
		return false;
	printf("t=%.1fs round %u: %" PRIu64 " writes acknowledged, %" PRIu64
	       " failed; %" PRIu64 " reads, %" PRIu64 " failed\n",
	       elapsed_s(), fx.round, b->acked - a->acked,
	       b->wfailed - a->wfailed, b->reads - a->reads,
	       b->rfailed - a->rfailed);
	if (!engine_stop() || !engine_start() || !verify_all())
		return false;
	printf("t=%.1fs round %u verified by a cold gateway: %" PRIu64
	       " chunks read, %" PRIu64 " unreadable\n",
	       elapsed_s(), fx.round, b->vreads - a->vreads,
	       b->vfailed - a->vfailed);
	if (!next)
		return true;
	ret = sb_engine_lun_delete(fx.e, fx.lun);
	if (ret) /* a wiped node lost it: ENOENT there */
		printf("t=%.1fs LUN %016" PRIx64 " delete: %s\n", elapsed_s(),
		       fx.lun, strerror(-ret));
	if (!engine_stop())
		return false;
	fx.round++;
	fx.cfg = fx.round % 2;
	fx.round_st = fx.st;
	return engine_start() && lun_begin();
}

/* Run the command @c; false when the thread must end. */
static bool run_cmd(enum cmd c)
{
	bool ok = true;

	switch (c) {
	case CMD_NONE:
		return true;
	case CMD_GATEWAY:
		ok = engine_stop() && engine_start();
		break;
	case CMD_ROUND:
		ok = round_end(true);
		break;
	case CMD_QUIT:
		ok = round_end(false);
		break;
	}
	pthread_mutex_lock(&fx.mu);
	fx.running = false;
	pthread_cond_broadcast(&fx.cv);
	pthread_mutex_unlock(&fx.mu);
	return ok && c != CMD_QUIT;
}

static void *io_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct cop *o;
		enum cmd c;

		pthread_mutex_lock(&fx.mu);
		c = fx.cmd;
		fx.cmd = CMD_NONE;
		fx.running = c != CMD_NONE;
		pthread_mutex_unlock(&fx.mu);
		if (failed() || !run_cmd(c))
			break;
		while ((o = free_op())) {
			gen_op(o);
			submit(o);
		}
		if (hung())
			break;
		wait_some(100);
	}
	return NULL;
}

/* Have the I/O thread run @c and wait until it has. */
static void io_cmd(enum cmd c)
{
	pthread_mutex_lock(&fx.mu);
	fx.cmd = c;
	pthread_cond_broadcast(&fx.cv);
	while ((fx.cmd != CMD_NONE || fx.running) && !fx.failed)
		pthread_cond_wait(&fx.cv, &fx.mu);
	pthread_mutex_unlock(&fx.mu);
}

/* ---- the main thread: nodes and faults ---------------------------------- */

static bool node_dead(unsigned int i)
{
	return fx.c.nodes[i].pid <= 0;
}

static unsigned int nodes_down(void)
{
	unsigned int i, n = 0;

	for (i = 0; i < NODES; i++)
		n += node_dead(i) || fx.stopped[i];
	return n;
}

static void fault_log(enum fault f, unsigned int i)
{
	fx.faults[f]++;
	if (f == F_GATEWAY)
		printf("t=%.1fs %s\n", elapsed_s(), fault_name[f]);
	else
		printf("t=%.1fs %s node %u (%u down)\n", elapsed_s(),
		       fault_name[f], fx.c.nodes[i].id, nodes_down());
}

/* Start dead node @i; a failure to start fails the test. */
static void node_start(unsigned int i)
{
	int ret = tl_node_start(&fx.c, i);

	if (ret) {
		tl_node_log_tail(&fx.c, i, 30);
		set_failed("node %u did not start again: %s", fx.c.nodes[i].id,
			   strerror(-ret));
	}
}

/* SIGTERM node @i: it must stop in time and exit 0 (a sanitizer report or
 * a leak makes it exit otherwise). */
static void node_term(unsigned int i)
{
	int status = tl_node_term(&fx.c, i, TERM_WAIT_MS);

	if (status == 0)
		return;
	tl_node_log_tail(&fx.c, i, 30);
	set_failed("node %u: %s after SIGTERM (status 0x%x)", fx.c.nodes[i].id,
		   status == -ETIMEDOUT ? "still running" : "unclean exit",
		   (unsigned int)status);
}

/* A node that exited without being killed fails the test. */
static void check_alive(void)
{
	unsigned int i;

	for (i = 0; i < NODES; i++) {
		int status;

		if (!tl_node_exited(&fx.c, i))
			continue;
		status = tl_node_stop(&fx.c, i, SIGKILL);
		tl_node_log_tail(&fx.c, i, 30);
		set_failed("node %u exited by itself: status 0x%x",
			   fx.c.nodes[i].id, (unsigned int)status);
	}
}

/* A random node index among those with @mask's bits. */
static unsigned int pick(uint32_t mask)
{
	unsigned int k = (unsigned int)rnd(&fx.rng_fault,
					   (uint64_t)__builtin_popcount(mask));
	unsigned int i;

	for (i = 0; i < NODES; i++)
		if ((mask & (1u << i)) && k-- == 0)
			return i;
	return 0;
}

/* SIGCONT the stopped nodes whose time has come (all with @all). */
static void cont_due(bool all)
{
	uint64_t now = sb_now_ms();
	unsigned int i;

	for (i = 0; i < NODES; i++) {
		if (!fx.stopped[i] || (!all && now < fx.cont_at[i]))
			continue;
		if (!node_dead(i))
			kill(fx.c.nodes[i].pid, SIGCONT);
		fx.stopped[i] = false;
		printf("t=%.1fs SIGCONT node %u\n", elapsed_s(),
		       fx.c.nodes[i].id);
	}
}

/*
 * Node @i's data folder copied to DATA.snap (@save) or put back from it,
 * the node stopped; a failure fails the test.
 */
static void folder_copy(unsigned int i, bool save)
{
	const char *d = fx.c.nodes[i].data;
	char cmd[3 * PATH_MAX + 64];

	if (save)
		snprintf(cmd, sizeof(cmd),
			 "rm -rf '%s.snap' && cp -a '%s' "
			 "'%s.snap'",
			 d, d, d);
	else
		snprintf(cmd, sizeof(cmd),
			 "rm -rf '%s' && cp -a '%s.snap' "
			 "'%s'",
			 d, d, d);
	if (system(cmd))
		set_failed("failed: %s", cmd);
	fx.snapped[i] = true;
}

/*
 * `spanblkctl node out|in` of node @i with the cluster file of the round
 * (docs/recovery.md, "Node out and in"): its exit code. A refusal (exit
 * 1: too few nodes would stay in, or a chunk's only valid copy is there)
 * is fine for out, and no node answering in time (exit 3: this host is
 * loaded) for either; anything else fails the test.
 */
static int node_state_once(unsigned int i, bool out)
{
	char id[16], buf[8192];
	char *const argv[] = {"build-san/spanblkctl",
			      "-c",
			      fx.cfg ? fx.conf3 : fx.c.conf,
			      "node",
			      out ? "out" : "in",
			      id,
			      NULL};
	int rc;

	snprintf(id, sizeof(id), "%u", fx.c.nodes[i].id);
	rc = tl_run(argv, buf, sizeof(buf));
	if (rc == 0) {
		fx.out[i] = out;
		fx.outs += out;
	} else if ((rc == 1 && out) || (rc == 3 && strstr(buf, "no node "
							       "answered"))) {
		printf("t=%.1fs node %s %u refused (exit %d): %s", elapsed_s(),
		       out ? "out" : "in", fx.c.nodes[i].id, rc, buf);
	} else {
		set_failed("spanblkctl node %s %u exited %d: %s",
			   out ? "out" : "in", fx.c.nodes[i].id, rc, buf);
	}
	return rc;
}

/* node_state_once(), tried again (up to 4 times) while no node answers;
 * a node that then still is not back in fails the test. */
static void node_state(unsigned int i, bool out)
{
	unsigned int tries;
	int rc = 3;

	for (tries = 0; rc == 3 && tries < 4 && !failed(); tries++) {
		if (tries)
			sleep(1);
		rc = node_state_once(i, out);
	}
	if (rc && !out && !failed())
		set_failed("spanblkctl node in %u did not succeed",
			   fx.c.nodes[i].id);
}

/* Run fault @f on a node of @mask. */
static void fault_run(enum fault f, uint32_t mask)
{
	unsigned int i = f == F_GATEWAY ? 0 : pick(mask);

	switch (f) {
	case F_KILL:
		fx.stopped[i] = false;
		tl_node_stop(&fx.c, i, SIGKILL);
		fx.dead_since[i] = sb_now_ms();
		break;
	case F_STOP:
		kill(fx.c.nodes[i].pid, SIGSTOP);
		fx.stopped[i] = true;
		fx.cont_at[i] = sb_now_ms() + 1000 + rnd(&fx.rng_fault, 4001);
		break;
	case F_WIPE:
		if (tl_node_wipe(&fx.c, i))
			set_failed("wiping %s failed", fx.c.nodes[i].data);
		/* fall through */
	case F_RESTART:
		node_start(i);
		break;
	case F_TERM:
		node_term(i);
		folder_copy(i, true); /* for a later F_OLDCOPY */
		node_start(i);
		break;
	case F_OLDCOPY:
		/* an old copy: it must serve none of it (docs/recovery.md) */
		folder_copy(i, false);
		node_start(i);
		break;
	case F_GATEWAY:
		io_cmd(CMD_GATEWAY);
		break;
	case F_OUT:
	case F_IN:
		node_state(i, f == F_OUT);
		break;
	case F_KINDS:
		return;
	}
	fault_log(f, i);
}

/* One fault, chosen at random among those that apply now. */
static void fault_one(bool prefer_new)
{
	static const unsigned int weight[F_KINDS] = {3, 2, 3, 1, 1, 1, 2, 1, 1};
	uint32_t running = 0, alive = 0, dead = 0, snapped = 0, out = 0;
	uint32_t mask[F_KINDS];
	unsigned int i, total = 0, k;
	uint64_t now = sb_now_ms();
	enum fault f;

	for (i = 0; i < NODES; i++) {
		if (fx.out[i])
			out |= 1u << i;
		if (node_dead(i)) {
			dead |= 1u << i;
			if (fx.snapped[i])
				snapped |= 1u << i;
			if (now - fx.dead_since[i] > FORCE_RESTART_MS) {
				fault_run(F_RESTART, 1u << i);
				return;
			}
			continue;
		}
		alive |= 1u << i;
		if (!fx.stopped[i])
			running |= 1u << i;
	}
	/* a stopped node may be killed: it is down already */
	mask[F_KILL] = nodes_down() < MAX_DOWN ? alive : alive & ~running;
	mask[F_STOP] = mask[F_TERM] = nodes_down() < MAX_DOWN ? running : 0;
	mask[F_RESTART] = mask[F_WIPE] = dead;
	mask[F_GATEWAY] = 1;
	mask[F_OLDCOPY] = snapped;
	/* one node out at a time, alive or dead */
	mask[F_OUT] = out ? 0 : (1u << NODES) - 1;
	mask[F_IN] = out;
	for (f = 0; f < F_KINDS; f++) {
		if (!mask[f])
			continue;
		if (prefer_new && !fx.faults[f]) {
			fault_run(f, mask[f]);
			return;
		}
		total += weight[f];
	}
	k = (unsigned int)rnd(&fx.rng_fault, total);
	for (f = 0; f < F_KINDS; f++) {
		if (!mask[f])
			continue;
		if (k < weight[f]) {
			fault_run(f, mask[f]);
			return;
		}
		k -= weight[f];
	}
}

/* Wait until node id @id is up (@up) or down in the store. */
static bool wait_member(uint32_t id, bool up, unsigned int ms)
{
	return tl_wait_member(fx.kv, PFX, id, up, ms);
}

/* Every node running and up in the store. */
static void heal(void)
{
	unsigned int i;

	check_alive();
	cont_due(true);
	for (i = 0; i < NODES && !failed(); i++)
		if (node_dead(i))
			node_start(i);
	for (i = 0; i < NODES && !failed(); i++)
		if (fx.out[i]) {
			node_state(i, false);
			fx.faults[F_IN] += !fx.out[i]; /* a node in too */
		}
	for (i = 0; i < NODES && !failed(); i++)
		if (!wait_member(fx.c.nodes[i].id, true, UP_WAIT_MS))
			set_failed("node %u is not up in the store %u s after "
				   "it was healed",
				   fx.c.nodes[i].id, UP_WAIT_MS / 1000);
	printf("t=%.1fs every node healed\n", elapsed_s());
}

/* Faults until @until (ms); false when the test failed. */
static bool chaos_until(uint64_t until)
{
	uint64_t next = sb_now_ms() + 500;

	while (sb_now_ms() < until && !failed()) {
		check_alive();
		cont_due(false);
		if (sb_now_ms() >= next) {
			fault_one(elapsed_s() > fx.seconds / 2.0);
			next = sb_now_ms() + 200 + rnd(&fx.rng_fault, 1800);
		}
		usleep(50 * 1000);
	}
	return !failed();
}

/* ---- setup, the test, the report ---------------------------------------- */

/* The cluster file with the store, and a copy of it with replicas 3. */
static int cluster_files(void)
{
	char cmd[4 * PATH_MAX], err[256];
	char *conf3 = fx.conf3;

	snprintf(conf3, sizeof(fx.conf3), "%s.r3", fx.c.conf);
	snprintf(cmd, sizeof(cmd),
		 "sed 's|^replicas = 2$|replicas = 3|' %s > %s", fx.c.conf,
		 conf3);
	if (tl_cluster_file_use_store(&fx.c, fx.etcd.endpoints, PFX, NULL) ||
	    system(cmd))
		return -1;
	if (sb_cluster_load(fx.c.conf, &fx.cl[0], err, sizeof(err)) ||
	    sb_cluster_load(conf3, &fx.cl[1], err, sizeof(err))) {
		print_error("cluster file: %s\n", err);
		return -1;
	}
	if (fx.cl[0].replicas != 2 || fx.cl[1].replicas != 3)
		return -1;
	return xp_secret_load(fx.cl[0].secret_file, &fx.secret) ? -1 : 0;
}

static int setup(void **state)
{
	char err[256];
	unsigned int i;

	(void)state;
	memset(&fx, 0, sizeof(fx));
	setvbuf(stdout, NULL, _IOLBF, 0);
	pthread_mutex_init(&fx.mu, NULL);
	pthread_cond_init(&fx.cv, NULL);
	sb_log_set_level(getenv("CHAOS_VERBOSE") ? SB_LOG_INFO : SB_LOG_ERR);
	fx.seconds = env_uint("CHAOS_SECONDS", DEFAULT_SECONDS);
	fx.round_s = env_uint("CHAOS_ROUND_SECONDS", DEFAULT_ROUND_S);
	if (getenv("CHAOS_SEED") && *getenv("CHAOS_SEED"))
		fx.seed = strtoull(getenv("CHAOS_SEED"), NULL, 0);
	else
		fx.seed = ((uint64_t)time(NULL) ^ (uint64_t)getpid() << 16) &
			  0xffffffffull;
	printf("chaos: seed %" PRIu64 ", %u s, rounds of %u s "
	       "(replay with CHAOS_SEED=%" PRIu64 ")\n",
	       fx.seed, fx.seconds, fx.round_s, fx.seed);
	fx.rng_fault = fx.seed * 0x9e3779b97f4a7c15ull + 1;
	fx.rng_io = fx.seed * 0xc2b2ae3d27d4eb4full + 7;
	fx.ops = calloc(QD, sizeof(*fx.ops));
	if (!fx.ops || tc_etcd_start(&fx.etcd, 3, err, sizeof(err)) ||
	    tl_cluster_start(&fx.c, NODES, 2, CHUNK, IO_TIMEOUT_MS, NULL) ||
	    tl_nodes_use_store(&fx.c, fx.etcd.endpoints, PFX, TTL_S) ||
	    cluster_files() ||
	    xp_etcd_open(fx.etcd.endpoints, 2000, &fx.kv, err, sizeof(err)))
		return -1;
	for (i = 0; i < NODES; i++)
		if (!wait_member(fx.c.nodes[i].id, true, 10000))
			return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sb_engine_free(fx.e);
	tc_model_free(&fx.m);
	free(fx.ops);
	xp_kv_close(fx.kv);
	tl_cluster_destroy(&fx.c);
	tc_etcd_stop(&fx.etcd);
	return 0;
}

static void print_errs(const char *what, const uint64_t *errs)
{
	unsigned int i;

	printf("  %s:", what);
	for (i = 0; i < ERRS; i++)
		if (errs[i])
			printf(" %s %" PRIu64, i ? strerror((int)i) : "other",
			       errs[i]);
	printf("\n");
}

static void report(void)
{
	const struct io_stats *s = &fx.st;
	unsigned int f;

	printf("chaos: seed %" PRIu64 ", %.0f s, %u rounds\n", fx.seed,
	       elapsed_s(), fx.round + 1);
	printf("  operations %" PRIu64 ", acknowledged writes %" PRIu64
	       ", failed writes %" PRIu64 "\n",
	       s->ops, s->acked, s->wfailed);
	printf("  reads %" PRIu64 ", failed reads (unavailable) %" PRIu64
	       "; end-of-round chunk reads %" PRIu64 ", unreadable %" PRIu64
	       "\n",
	       s->reads, s->rfailed, s->vreads, s->vfailed);
	printf("  stale reads %" PRIu64 " (must be 0), lost writes %" PRIu64
	       " (blocks older than acknowledged, must be 0), corrupt "
	       "blocks %" PRIu64 " (must be 0)\n",
	       s->stale, s->lost, s->corrupt);
	printf("  faults:");
	for (f = 0; f < F_KINDS; f++)
		printf("%s %s %" PRIu64, f ? "," : "", fault_name[f],
		       fx.faults[f]);
	printf("\n");
	print_errs("write errors", s->werr);
	print_errs("read errors", s->rerr);
}

/* Rounds of faults under I/O, then every check. */
static void test_chaos(void **state)
{
	uint64_t deadline;
	unsigned int f;
	bool ok = true;

	(void)state;
	fx.t_start = sb_now_ms();
	deadline = fx.t_start + fx.seconds * 1000ull;
	assert_true(engine_start() && lun_begin());
	assert_int_equal(pthread_create(&fx.io_thread, NULL, io_main, NULL), 0);
	while (ok) {
		uint64_t end = sb_now_ms() + fx.round_s * 1000ull;
		bool last = end + fx.round_s * 500ull >= deadline;

		ok = chaos_until(last ? deadline : end);
		if (ok)
			heal();
		io_cmd(last || !ok ? CMD_QUIT : CMD_ROUND);
		ok = ok && !last && !failed();
	}
	pthread_join(fx.io_thread, NULL);
	for (f = 0; f < NODES && !failed(); f++)
		node_term(f); /* every node exits cleanly */
	report();
	if (fx.failed)
		fail_msg("%s (replay with CHAOS_SEED=%" PRIu64 ")", fx.why,
			 fx.seed);
	if (fx.st.stale || fx.st.lost || fx.st.corrupt)
		fail_msg("%" PRIu64 " stale reads: %" PRIu64 " blocks older "
			 "than acknowledged, %" PRIu64 " corrupt (replay with "
			 "CHAOS_SEED=%" PRIu64 ")",
			 fx.st.stale, fx.st.lost, fx.st.corrupt, fx.seed);
	if (fx.st.acked < MIN_ACKED)
		fail_msg("only %" PRIu64 " acknowledged writes (replay with "
			 "CHAOS_SEED=%" PRIu64 ")",
			 fx.st.acked, fx.seed);
	assert_true(fx.st.reads > fx.st.rfailed);
	/* an old copy needs a clean stop, then a death, of the same node; a
	 * node in needs a node out that was not refused */
	for (f = 0; f < F_KINDS; f++)
		if (!fx.faults[f] && f != F_OLDCOPY && (f != F_IN || fx.outs))
			fail_msg("no %s happened (replay with "
				 "CHAOS_SEED=%" PRIu64 ")",
				 fault_name[f], fx.seed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_chaos, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
