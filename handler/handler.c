/* SPDX-License-Identifier: Apache-2.0 */
/*
 * handler_spanblk.so: the tcmu-runner 1.5.4 handler "user:spanblk".
 *
 * How tcmu-runner 1.5.4 drives a handler with read/write callouts and
 * nr_threads = 0 (tcmur_cmd_handler.c, main.c; docs/scsi.md cites them):
 *
 *   cmdproc thread                                engine thread
 *   tcmur_generic_handle_cmd
 *    -> handle_cmd (ours): decode + check;
 *       errors and no-ops answered here,
 *       valid I/O: TCMU_STS_NOT_HANDLED
 *    -> runner emulation (INQUIRY, ...) or
 *       handle_read/write/flush/unmap/
 *       writesame/caw: sets tcmur_cmd->done,
 *       calls our callout inline
 *        -> sbh_submit_*(): queued, return 0 --------> engine I/O
 *                                                      sbh_complete
 *                                                      tcmur_cmd_complete
 *
 * handle_cmd itself never goes asynchronous: the runner calls it with
 * tcmur_cmd->done still NULL (tcmur_tcmulib_cmd_start() zeroes the
 * command), so tcmur_cmd_complete() on it would jump to NULL, and a
 * TCMU_STS_OK return is taken as GOOD at once. The two commands the runner
 * cannot route to a callout (VERIFY, and READ/WRITE(6) with a transfer
 * length of 0, i.e. 256 blocks, which the runner counts as 0) are run to
 * completion inside handle_cmd, blocking the command thread for one
 * bounded operation.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/util/errbuf.h"
#include "../lib/util/log.h"
#include "../lib/place.h"
#include "../xport/auth.h"
#include "cdb.h"
#include "handler_internal.h"
#include "modepage.h"
#include "sense.h"

#define SBH_ERRLEN 256

static const char sbh_cfg_desc[] =
	"<lun>[;conf=<path>][;replicas=N][;chunk=<size>]\n"
	"(the handler sees spanblk/<lun>...; targetcli adds the prefix)\n"
	"  lun       LUN name, 1-64 characters [A-Za-z0-9._-]; created on "
	"every node with the backstore's size if it does not exist\n"
	"  conf      cluster file (default " SB_DEFAULT_CLUSTER_CONF ")\n"
	"  replicas  copies of each chunk, 1..nodes (overrides the cluster "
	"file)\n"
	"  chunk     chunk size, power of two 64K..1G (overrides the cluster "
	"file)\n"
	"No ',' or ':'; at most 255 bytes. Node addresses and the secret "
	"live in the cluster file.";

/* ---- logging: lib/util/log.h messages into tcmu-runner's log ------------------ */

static void sbh_log_sink(int level, const char *func, int line, const char *msg)
{
	switch (level) {
	case SB_LOG_ERR:
		tcmu_err_message(NULL, func, line, "%s\n", msg);
		break;
	case SB_LOG_WARN:
		tcmu_warn_message(NULL, func, line, "%s\n", msg);
		break;
	case SB_LOG_INFO:
		tcmu_info_message(NULL, func, line, "%s\n", msg);
		break;
	default:
		tcmu_dbg_message(NULL, func, line, "%s\n", msg);
		break;
	}
}

/* ---- configuration ------------------------------------------------------- */

/* Parse @cfgstring and load what it names. 0 or -errno, reason in @err. */
static int sbh_load(const char *cfgstring, struct sbh_cfg *cfg,
		    struct sb_cluster *cl, struct xp_secret *secret, char *err,
		    size_t errlen)
{
	char why[SBH_ERRLEN];
	int ret;

	ret = sbh_cfg_parse(cfgstring, cfg, err, errlen);
	if (ret)
		return ret;
	ret = sb_cluster_load(cfg->conf, cl, why, sizeof(why));
	if (ret) {
		if (ret == -EINVAL)
			sb_errf(err, errlen, "cluster file %s: %s", cfg->conf,
				why);
		else
			sb_errf(err, errlen, "cluster file %s: %s", cfg->conf,
				strerror(-ret));
		return ret;
	}
	ret = sbh_cfg_apply(cfg, cl, err, errlen);
	if (ret)
		return ret;
	ret = xp_secret_load(cl->secret_file, secret);
	if (ret) {
		sb_errf(err, errlen, "secret file %s: %s", cl->secret_file,
			ret == -EINVAL ? "must hold 16 to 256 bytes"
				       : strerror(-ret));
		return ret;
	}
	return 0;
}

static bool sbh_check_config(const char *cfgstring, char **reason)
{
	struct xp_secret secret;
	struct sb_cluster *cl;
	struct sbh_cfg cfg;
	char err[SBH_ERRLEN] = "";
	int ret;

	cl = calloc(1, sizeof(*cl));
	if (!cl) {
		*reason = strdup("out of memory");
		return false;
	}
	ret = sbh_load(cfgstring, &cfg, cl, &secret, err, sizeof(err));
	explicit_bzero(&secret, sizeof(secret));
	free(cl);
	if (ret) {
		*reason = strdup(err);
		return false;
	}
	return true;
}

/* ---- synchronous execution (handle_cmd, reconfig) ------------------------ */

struct sbh_wait {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int status;
};

static void sbh_wait_done(void *ctx, void *arg, int status)
{
	struct sbh_wait *w = ctx;

	(void)arg;
	pthread_mutex_lock(&w->lock);
	w->status = status;
	w->done = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/*
 * Run @c (or a FLUSH when @c is NULL) and wait for it. The engine's I/O
 * timeout bounds the wait. Returns the TCMU status.
 */
static int sbh_exec_sync(struct sbh_dev *d, const struct sbh_cdb *c,
			 struct tcmulib_cmd *cmd)
{
	uint8_t sense[TCMU_SENSE_BUFFERSIZE];
	struct sbh_wait w = {.done = false};
	struct sbh_cmd sc = {
		.iov = cmd ? cmd->iovec : NULL,
		.iovcnt = cmd ? cmd->iov_cnt : 0,
		.sense = cmd ? cmd->sense_buf : sense,
		.done = sbh_wait_done,
		.ctx = &w,
	};
	int st;

	if (pthread_mutex_init(&w.lock, NULL))
		return TCMU_STS_NO_RESOURCE;
	if (pthread_cond_init(&w.cond, NULL)) {
		pthread_mutex_destroy(&w.lock);
		return TCMU_STS_NO_RESOURCE;
	}
	st = c ? sbh_exec(&d->lun, c, &sc) : sbh_submit_flush(&d->lun, &sc);
	if (st == TCMU_STS_OK) {
		pthread_mutex_lock(&w.lock);
		while (!w.done)
			pthread_cond_wait(&w.cond, &w.lock);
		st = w.status;
		pthread_mutex_unlock(&w.lock);
	}
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	return st;
}

/* ---- open / close / reconfig --------------------------------------------- */

static uint32_t sbh_min32(uint64_t a, uint64_t b)
{
	uint64_t m = a < b ? a : b;

	return m > UINT32_MAX ? UINT32_MAX : (uint32_t)m;
}

/* A new engine on d->cluster with @secret; NULL after logging why. */
static struct sb_engine *sbh_engine_new(struct tcmu_device *dev,
					struct sbh_dev *d,
					const struct xp_secret *secret)
{
	char err[SBH_ERRLEN] = "";
	struct sb_engine *e;

	e = sb_engine_new(&d->cluster, secret, err, sizeof(err));
	if (!e)
		tcmu_dev_err(dev, "cannot start the I/O engine: %s\n", err);
	return e;
}

/*
 * The LUN exists with another layout than this gateway's engine: adopt
 * it (a new engine with the LUN's chunk size and replicas), unless the
 * cfgstring asked for a layout explicitly, which is then refused. 0 or
 * -errno.
 */
static int sbh_adopt_layout(struct tcmu_device *dev, struct sbh_dev *d,
			    const struct xp_secret *secret,
			    const struct xp_layout *lay)
{
	struct sb_engine *e;

	if ((d->cfg.chunk_size && d->cfg.chunk_size != lay->chunk_size) ||
	    (d->cfg.replicas && d->cfg.replicas != lay->replicas)) {
		tcmu_dev_err(dev,
			     "LUN %s was created with chunk %u and %u "
			     "replicas, but the cfgstring asks for chunk %llu "
			     "and %u replicas: refusing, its blocks would be "
			     "looked for on other nodes (drop chunk= and "
			     "replicas= or make them match)\n",
			     d->cfg.lun, lay->chunk_size, lay->replicas,
			     (unsigned long long)d->cluster.chunk_size,
			     d->cluster.replicas);
		return -EMEDIUMTYPE;
	}
	if (lay->replicas > d->cluster.nr_nodes) {
		tcmu_dev_err(dev,
			     "LUN %s has %u replicas but %s lists %u nodes\n",
			     d->cfg.lun, lay->replicas, d->cfg.conf,
			     d->cluster.nr_nodes);
		return -EMEDIUMTYPE;
	}
	tcmu_dev_info(dev,
		      "LUN %s was created with chunk %u and %u replicas; "
		      "using them (the cluster file says chunk %llu, %u "
		      "replicas)\n",
		      d->cfg.lun, lay->chunk_size, lay->replicas,
		      (unsigned long long)d->cluster.chunk_size,
		      d->cluster.replicas);
	d->cluster.chunk_size = lay->chunk_size;
	d->cluster.replicas = lay->replicas;
	e = sbh_engine_new(dev, d, secret);
	if (!e)
		return -ENOMEM;
	sb_engine_free(d->engine);
	d->engine = e;
	d->lun.engine = e;
	(void)sb_engine_wait_ready(e, (int)d->cluster.io_timeout_ms);
	return 0;
}

/* Find or create the LUN; 0 or -errno. */
static int sbh_lun_attach(struct tcmu_device *dev, struct sbh_dev *d,
			  const struct xp_secret *secret, uint64_t size)
{
	struct xp_layout lay;
	uint64_t have;
	int ret;

	ret = sb_engine_lun_open(d->engine, d->lun.lun_id, &have, &lay);
	if (ret == -EMEDIUMTYPE) {
		ret = sbh_adopt_layout(dev, d, secret, &lay);
		if (!ret)
			ret = sb_engine_lun_open(d->engine, d->lun.lun_id,
						 &have, &lay);
	}
	if (ret == -ENOENT) {
		tcmu_dev_info(dev, "creating LUN %s (%llu bytes) on %u nodes\n",
			      d->cfg.lun, (unsigned long long)size,
			      d->cluster.nr_nodes);
		ret = sb_engine_lun_create(d->engine, d->cfg.lun, size);
		if (ret)
			tcmu_dev_err(dev,
				     "cannot create LUN %s: %s (every node "
				     "must be up)\n",
				     d->cfg.lun, strerror(-ret));
		return ret;
	}
	if (ret) {
		tcmu_dev_err(dev, "cannot open LUN %s: %s\n", d->cfg.lun,
			     strerror(-ret));
		return ret;
	}
	if (have != size)
		tcmu_dev_warn(dev,
			      "LUN %s holds %llu bytes on the nodes but the "
			      "backstore has %llu; using the backstore's size "
			      "(I/O past the nodes' size fails with LBA OUT OF "
			      "RANGE)\n",
			      d->cfg.lun, (unsigned long long)have,
			      (unsigned long long)size);
	return 0;
}

/*
 * Tell the runner how LUN d->lun of @bs-byte blocks behaves (write
 * cache, no seek locality, transfer and unmap limits) and keep the
 * limits the dispatcher checks in d->lun.
 */
static void sbh_set_limits(struct tcmu_device *dev, struct sbh_dev *d,
			   uint32_t bs)
{
	uint32_t max_xfer, gran;

	/*
	 * The nodes' page cache is a volatile write cache: WCE = 1, and
	 * SYNCHRONIZE CACHE flushes it on every node.
	 */
	atomic_init(&d->lun.wce, true);
	tcmu_dev_set_write_cache_enabled(dev, true);
	/* Placement spreads blocks over nodes: no seek locality to keep. */
	tcmu_dev_set_solid_state_media(dev, true);
	max_xfer = sbh_min32(tcmu_dev_get_max_xfer_len(dev), XP_MAX_IO / bs);
	if (!max_xfer)
		max_xfer = XP_MAX_IO / bs;
	tcmu_dev_set_max_xfer_len(dev, max_xfer);
	gran = (uint32_t)(d->cluster.chunk_size / bs);
	tcmu_dev_set_unmap_enabled(dev, true);
	tcmu_dev_set_max_unmap_len(dev, sbh_min32(SBH_MAX_UNMAP_BYTES / bs,
						  UINT32_MAX));
	/* Whole descriptors to the callout: the engine splits at chunks. */
	tcmu_dev_set_opt_unmap_gran(dev, gran, false);
	tcmu_dev_set_unmap_gran_align(dev, gran);

	d->lun.max_xfer_blocks = max_xfer;
	d->lun.max_caw_blocks =
		sbh_min32(SBH_RUNNER_MAX_CAW_BLOCKS, XP_MAX_CAW / bs);
	d->lun.max_unmap_blocks = tcmu_dev_get_max_unmap_len(dev);
	d->lun.max_unmap_desc = SBH_RUNNER_MAX_UNMAP_DESC;
}

static int sbh_open(struct tcmu_device *dev, bool reopen)
{
	char err[SBH_ERRLEN] = "";
	struct xp_secret secret;
	struct sbh_dev *d;
	uint64_t nblocks;
	uint32_t bs;
	int ret, up;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->dev = dev;

	ret = sbh_load(tcmu_dev_get_cfgstring(dev), &d->cfg, &d->cluster,
		       &secret, err, sizeof(err));
	if (ret) {
		tcmu_dev_err(dev, "%s\n", err);
		goto out_free;
	}
	bs = tcmu_dev_get_block_size(dev);
	nblocks = tcmu_dev_get_num_lbas(dev);
	if (!bs || (bs & (bs - 1)) || d->cluster.chunk_size % bs ||
	    nblocks > UINT64_MAX / bs) {
		tcmu_dev_err(dev,
			     "block size %u does not fit chunk size %llu\n", bs,
			     (unsigned long long)d->cluster.chunk_size);
		ret = -EINVAL;
		goto out_free;
	}

	d->engine = sbh_engine_new(dev, d, &secret);
	if (!d->engine) {
		ret = -ENOMEM;
		goto out_free;
	}
	up = sb_engine_wait_ready(d->engine, (int)d->cluster.io_timeout_ms);
	if (up <= 0) {
		tcmu_dev_err(dev, "no storage node of %s is reachable\n",
			     d->cfg.conf);
		ret = -EHOSTUNREACH;
		goto out_engine;
	}
	if ((unsigned int)up < d->cluster.nr_nodes)
		tcmu_dev_warn(dev, "%d of %u storage nodes up\n", up,
			      d->cluster.nr_nodes);

	d->lun.engine = d->engine;
	d->lun.lun_id = sb_lun_id(d->cfg.lun);
	d->lun.block_size = bs;
	atomic_init(&d->lun.nr_blocks, nblocks);
	ret = sbh_lun_attach(dev, d, &secret, nblocks * bs);
	if (ret)
		goto out_engine;
	explicit_bzero(&secret, sizeof(secret));
	/* The LUN's own layout (sbh_lun_attach may have adopted it). */
	d->lun.chunk_size = d->cluster.chunk_size;
	sbh_set_limits(dev, d, bs);

	tcmu_dev_info(dev,
		      "%s LUN %s: %llu blocks of %u bytes, %u nodes, "
		      "%u replicas, chunk %llu\n",
		      reopen ? "reopened" : "opened", d->cfg.lun,
		      (unsigned long long)nblocks, bs, d->cluster.nr_nodes,
		      d->cluster.replicas,
		      (unsigned long long)d->cluster.chunk_size);
	tcmur_dev_set_private(dev, d);
	return 0;

out_engine:
	sb_engine_free(d->engine);
out_free:
	explicit_bzero(&secret, sizeof(secret));
	free(d);
	return ret;
}

static void sbh_close(struct tcmu_device *dev)
{
	struct sbh_dev *d = tcmur_dev_get_private(dev);

	tcmur_dev_set_private(dev, NULL);
	if (!d)
		return;
	sb_engine_free(d->engine);
	free(d);
}

static int sbh_reconfig(struct tcmu_device *dev, struct tcmulib_cfg_info *cfg)
{
	struct sbh_dev *d = tcmur_dev_get_private(dev);
	char err[SBH_ERRLEN] = "";
	struct sbh_cfg next;
	int ret, st;

	if (!d)
		return -ENODEV;
	switch (cfg->type) {
	case TCMULIB_CFG_DEV_SIZE:
		/*
		 * The runner's dev_resize() sets num_lbas and queues the
		 * CAPACITY CHANGED unit attention after we return 0; we
		 * only resize on the nodes (tcmur_dev_update_size is for
		 * handler-initiated changes and would write configfs).
		 */
		if (!cfg->data.dev_size ||
		    cfg->data.dev_size % d->lun.block_size)
			return -EINVAL;
		ret = sb_engine_lun_resize(d->engine, d->lun.lun_id,
					   cfg->data.dev_size);
		if (ret) {
			tcmu_dev_err(dev, "resize to %llu failed: %s\n",
				     (unsigned long long)cfg->data.dev_size,
				     strerror(-ret));
			return ret;
		}
		atomic_store(&d->lun.nr_blocks,
			     cfg->data.dev_size / d->lun.block_size);
		return 0;
	case TCMULIB_CFG_DEV_CFGSTR:
		ret = sbh_cfg_parse(cfg->data.dev_cfgstring, &next, err,
				    sizeof(err));
		if (ret) {
			tcmu_dev_err(dev, "new cfgstring refused: %s\n", err);
			return ret;
		}
		if (sbh_cfg_equal(&next, &d->cfg))
			return 0;
		tcmu_dev_err(dev, "changing the LUN, cluster file, replicas or "
				  "chunk of a live backstore is not supported; "
				  "delete and recreate it\n");
		return -EOPNOTSUPP;
	case TCMULIB_CFG_WRITE_CACHE:
		if (!cfg->data.write_cache && atomic_load(&d->lun.wce)) {
			/* Write through from now on: drain the cache first. */
			st = sbh_exec_sync(d, NULL, NULL);
			if (st != TCMU_STS_OK) {
				tcmu_dev_err(dev, "flush before disabling the "
						  "write cache failed\n");
				return -EIO;
			}
		}
		atomic_store(&d->lun.wce, cfg->data.write_cache);
		tcmu_dev_set_write_cache_enabled(dev, cfg->data.write_cache);
		return 0;
	}
	return -EOPNOTSUPP;
}

/* ---- data path ----------------------------------------------------------- */

static void sbh_complete(void *ctx, void *arg, int status)
{
	tcmur_cmd_complete(ctx, arg, status);
}

static struct sbh_cmd sbh_cmd_of(struct tcmu_device *dev, struct tcmur_cmd *cmd,
				 const struct iovec *iov, size_t iov_cnt)
{
	struct sbh_cmd sc = {
		.iov = iov,
		.iovcnt = iov_cnt,
		.sense = cmd->lib_cmd->sense_buf,
		.done = sbh_complete,
		.ctx = dev,
		.arg = cmd,
	};

	return sc;
}

/*
 * FUA of the CDB behind a write callout: the runner also calls it for
 * WRITE AND VERIFY (durable before the verify read: FUA) and for
 * EXTENDED COPY (no FUA).
 */
static bool sbh_cmd_fua(const struct tcmur_cmd *cmd)
{
	const uint8_t *cdb = cmd->lib_cmd->cdb;
	struct sbh_cdb c;
	int len = sbh_cdb_length(cdb[0]);

	switch (cdb[0]) {
	case SCSI_OP_WRITE_VERIFY_10:
	case SCSI_OP_WRITE_VERIFY_12:
	case SCSI_OP_WRITE_VERIFY_16:
		return true;
	default:
		return len > 0 && !sbh_cdb_decode(cdb, (size_t)len, &c) &&
		       c.fua;
	}
}

/*
 * A zero-length callout (the runner's WRITE AND VERIFY of 0 blocks): GOOD
 * at once. Completing inside the callout is safe for the runner: it
 * touches the command no more once the callout returns 0.
 */
static int sbh_nothing(struct tcmu_device *dev, struct tcmur_cmd *cmd)
{
	tcmur_cmd_complete(dev, cmd, TCMU_STS_OK);
	return TCMU_STS_OK;
}

/* The read and write callouts: a zero length completes at once. */
static int sbh_rw(struct tcmu_device *dev, struct tcmur_cmd *cmd,
		  struct iovec *iov, size_t iov_cnt, size_t len, off_t off,
		  bool write)
{
	struct sbh_dev *d = tcmur_dev_get_private(dev);
	struct sbh_cmd sc = sbh_cmd_of(dev, cmd, iov, iov_cnt);

	if (!len)
		return sbh_nothing(dev, cmd);
	if (write)
		return sbh_submit_write(&d->lun, (uint64_t)off, len,
					sbh_cmd_fua(cmd), &sc);
	return sbh_submit_read(&d->lun, (uint64_t)off, len, &sc);
}

static int sbh_read(struct tcmu_device *dev, struct tcmur_cmd *cmd,
		    struct iovec *iov, size_t iov_cnt, size_t len, off_t off)
{
	return sbh_rw(dev, cmd, iov, iov_cnt, len, off, false);
}

static int sbh_write(struct tcmu_device *dev, struct tcmur_cmd *cmd,
		     struct iovec *iov, size_t iov_cnt, size_t len, off_t off)
{
	return sbh_rw(dev, cmd, iov, iov_cnt, len, off, true);
}

static int sbh_flush(struct tcmu_device *dev, struct tcmur_cmd *cmd)
{
	struct sbh_dev *d = tcmur_dev_get_private(dev);
	struct sbh_cmd sc = sbh_cmd_of(dev, cmd, NULL, 0);

	return sbh_submit_flush(&d->lun, &sc);
}

/*
 * The runner calls this with its own per-descriptor command (same
 * lib_cmd) for UNMAP, and for an aligned WRITE SAME with the UNMAP bit if
 * one ever reaches it (handle_cmd routes those to writesame instead).
 */
static int sbh_unmap(struct tcmu_device *dev, struct tcmur_cmd *cmd,
		     uint64_t off, uint64_t len)
{
	struct sbh_dev *d = tcmur_dev_get_private(dev);
	struct tcmulib_cmd *lc = cmd->lib_cmd;
	struct sbh_cmd sc = sbh_cmd_of(dev, cmd, lc->iovec, lc->iov_cnt);

	if (!len)
		return sbh_nothing(dev, cmd);
	if (lc->cdb[0] == SCSI_OP_WRITE_SAME_10 ||
	    lc->cdb[0] == SCSI_OP_WRITE_SAME_16)
		return sbh_submit_write_same(&d->lun, off, len, true, &sc);
	sc.iov = NULL;
	sc.iovcnt = 0;
	return sbh_submit_unmap(&d->lun, off, len, &sc);
}

static int sbh_writesame(struct tcmu_device *dev, struct tcmur_cmd *cmd,
			 uint64_t off, uint64_t len, struct iovec *iov,
			 size_t iov_cnt)
{
	struct sbh_dev *d = tcmur_dev_get_private(dev);
	struct sbh_cmd sc = sbh_cmd_of(dev, cmd, iov, iov_cnt);
	bool unmap = d->ws_unmap_cmd == cmd->lib_cmd;

	d->ws_unmap_cmd = NULL;
	if (!len)
		return sbh_nothing(dev, cmd);
	return sbh_submit_write_same(&d->lun, off, len, unmap, &sc);
}

static int sbh_caw(struct tcmu_device *dev, struct tcmur_cmd *cmd, uint64_t off,
		   uint64_t len, struct iovec *iov, size_t iov_cnt)
{
	struct sbh_dev *d = tcmur_dev_get_private(dev);
	struct sbh_cmd sc = sbh_cmd_of(dev, cmd, iov, iov_cnt);

	if (!len)
		return sbh_nothing(dev, cmd);
	return sbh_submit_caw(&d->lun, off, len, sbh_cmd_fua(cmd), &sc);
}

/*
 * Data-In commands tcmu-runner emulates. It answers them with fewer bytes
 * than the initiator's allocation length (36 bytes of standard INQUIRY,
 * say), and the kernel returns the whole Data-In buffer, whose tail the
 * data area may still hold from an earlier command: another LUN's data
 * must not leak, so the buffer is zeroed before the runner fills it.
 */
static bool sbh_runner_data_in(uint8_t opcode)
{
	switch (opcode) {
	case SCSI_OP_INQUIRY:
	case SCSI_OP_REQUEST_SENSE:
	case SCSI_OP_READ_CAPACITY_10:
	case SCSI_OP_SERVICE_ACTION_IN_16:
	case SCSI_OP_MAINTENANCE_IN:
	case SCSI_OP_RECEIVE_COPY_RESULTS:
		return true;
	default:
		return false;
	}
}

/*
 * MODE SENSE(6)/(10): answered here so the header says DPOFUA = 1
 * (modepage.h). At most the ALLOCATION LENGTH is returned; the rest of the
 * Data-In buffer is zero (the kernel returns all of it, see above).
 */
static int sbh_mode_sense_cmd(struct sbh_dev *d, struct tcmulib_cmd *cmd)
{
	struct sbh_mode_lun ml = {
		.nr_blocks = atomic_load(&d->lun.nr_blocks),
		.block_size = d->lun.block_size,
		.wce = atomic_load(&d->lun.wce),
	};
	size_t clen = cmd->cdb[0] == SCSI_OP_MODE_SENSE_6 ? 6 : 10;
	uint8_t buf[SBH_MODE_MAX_LEN];
	size_t len, alloc;
	int st;

	tcmu_iovec_zero(cmd->iovec, cmd->iov_cnt);
	st = sbh_mode_sense(cmd->cdb, clen, &ml, buf, sizeof(buf), &len);
	if (st != TCMU_STS_OK)
		return st;
	alloc = sbh_mode_sense_alloc_len(cmd->cdb, clen);
	tcmu_memcpy_into_iovec(cmd->iovec, cmd->iov_cnt, buf,
			       len < alloc ? len : alloc);
	return TCMU_STS_OK;
}

/*
 * Checks of CDBs the runner builds from our callouts but does not check
 * itself. WRITE AND VERIFY: WRPROTECT must be 0 (no protection
 * information: SBC-4 5.34, INVALID FIELD IN CDB). NOT_HANDLED when fine.
 */
static int sbh_check_runner_cdb(const uint8_t *cdb)
{
	switch (cdb[0]) {
	case SCSI_OP_WRITE_VERIFY_10:
	case SCSI_OP_WRITE_VERIFY_12:
	case SCSI_OP_WRITE_VERIFY_16:
		return (cdb[1] & 0xe0) ? TCMU_STS_INVALID_CDB
				       : TCMU_STS_NOT_HANDLED;
	default:
		return TCMU_STS_NOT_HANDLED;
	}
}

static int sbh_handle_cmd(struct tcmu_device *dev, struct tcmur_cmd *tcmd)
{
	struct sbh_dev *d = tcmur_dev_get_private(dev);
	struct tcmulib_cmd *cmd = tcmd->lib_cmd;
	struct sbh_cdb c;
	int len, ret, st;

	if (!d)
		return TCMU_STS_NOT_HANDLED;
	d->ws_unmap_cmd = NULL;
	if (cmd->cdb[0] == SCSI_OP_MODE_SENSE_6 ||
	    cmd->cdb[0] == SCSI_OP_MODE_SENSE_10)
		return sbh_mode_sense_cmd(d, cmd);
	if (sbh_runner_data_in(cmd->cdb[0])) {
		tcmu_iovec_zero(cmd->iovec, cmd->iov_cnt);
		return TCMU_STS_NOT_HANDLED;
	}
	len = sbh_cdb_length(cmd->cdb[0]);
	if (len < 0)
		return TCMU_STS_NOT_HANDLED;
	ret = sbh_cdb_decode(cmd->cdb, (size_t)len, &c);
	if (ret == -ENOTSUP)
		return sbh_check_runner_cdb(cmd->cdb);
	if (ret)
		return TCMU_STS_INVALID_CDB;

	st = sbh_check(&d->lun, &c, cmd->iovec, cmd->iov_cnt);
	if (st != TCMU_STS_NOT_HANDLED)
		return st;

	switch (c.op) {
	case SBH_OP_VERIFY:
		/* No runner callout exists for VERIFY. */
		return sbh_exec_sync(d, &c, cmd);
	case SBH_OP_READ:
	case SBH_OP_WRITE:
		/* The runner reads a 6-byte length of 0 as 0, SBC as 256. */
		if (c.len == 6 && !cmd->cdb[4])
			return sbh_exec_sync(d, &c, cmd);
		return TCMU_STS_NOT_HANDLED;
	case SBH_OP_WRITE_SAME:
		if (c.unmap) {
			/*
			 * With the UNMAP bit the runner would split the range
			 * into unmap callouts whose errors its unmap_put()
			 * drops. Clearing the bit in libtcmu's private copy
			 * of the CDB sends it to our writesame callout, on
			 * this thread, right after we return; ws_unmap_cmd
			 * remembers the bit for it.
			 */
			cmd->cdb[1] &= (uint8_t)~SCSI_CDB_WS_UNMAP;
			d->ws_unmap_cmd = cmd;
		}
		return TCMU_STS_NOT_HANDLED;
	default:
		return TCMU_STS_NOT_HANDLED;
	}
}

static struct tcmur_handler sbh_handler = {
	.name = "spanblk: iSCSI LUNs on a cluster of storage nodes",
	.subtype = SBH_SUBTYPE,
	.cfg_desc = sbh_cfg_desc,
	.check_config = sbh_check_config,
	.reconfig = sbh_reconfig,
	.open = sbh_open,
	.close = sbh_close,
	.nr_threads = 0,
	.handle_cmd = sbh_handle_cmd,
	.read = sbh_read,
	.write = sbh_write,
	.flush = sbh_flush,
	.unmap = sbh_unmap,
	.writesame = sbh_writesame,
	.caw = sbh_caw,
};

/* The plugin's only export: route our log to the runner's, register. */
int handler_init(void)
{
	sb_log_set_sink(sbh_log_sink);
	return tcmur_register_handler(&sbh_handler);
}
