/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tcmu_harness: loads build-san/handler_spanblk.so exactly as tcmu-runner
 * 1.5.4 does and drives it with real CDBs against three real spanblkd.
 *
 * What is real and what is ours:
 *
 *   plugin       the real .so: dlopen(RTLD_NOW | RTLD_LOCAL), dlsym
 *                "handler_init", call it (runner main.c open_handlers()).
 *   libtcmu      the system's libtcmu.so.2: every getter, setter, iovec,
 *                CDB, sense and log helper the plugin calls is the real one.
 *   runner       this file: it exports the runner's eight functions with
 *                the runner's semantics and re-implements the parts of the
 *                runner's command path the plugin depends on.
 *   devices      libtcmu's struct tcmu_device is private; we build it from
 *                a test-only mirror of the 1.5.4 layout (libtcmu_priv.h),
 *                fill it with the real setters where they exist, write the
 *                rest (cfgstring, names) into the mirror, and check at start
 *                that the real getters read back what was set.
 *   nodes        three spanblkd started by testlib (2 replicas, 64 KiB
 *                chunks); their STAT counters are read with our own engine.
 *
 * The runner's command path for a handler with read/write callouts and
 * nr_threads == 0 (tcmur_cmdproc_thread() in main.c and
 * tcmur_generic_handle_cmd() in tcmur_cmd_handler.c, v1.5.4; see
 * docs/tcmu-abi.md for line numbers):
 *
 *   1. A pending unit attention (after tcmur_dev_update_size) answers
 *      any CDB but INQUIRY and REQUEST SENSE with CAPACITY CHANGED.
 *   2. handle_cmd(dev, tcmur_cmd) is called first, directly, with a
 *      zeroed tcmur_cmd (done == NULL).
 *        NOT_HANDLED    go on with 3.
 *        ASYNC_HANDLED  the runner leaves the command pending; the only
 *                       way to finish it is tcmur_cmd_complete(), which
 *                       calls tcmur_cmd->done: NULL, so the runner crashes.
 *                       The harness reports this as a violation.
 *        anything else  the command completes NOW with that status
 *                       (OK = GOOD). It is not "queued".
 *   3. Runner emulation of INQUIRY, TEST UNIT READY, READ CAPACITY, MODE
 *      SENSE/SELECT, ... (only TEST UNIT READY is reproduced here).
 *   4. Runner emulation of READ/WRITE 6/10/12/16, UNMAP, SYNCHRONIZE
 *      CACHE 10/16, COMPARE AND WRITE, WRITE SAME 10/16 with the read,
 *      write, flush, unmap, writesame and caw callouts. Each callout gets
 *      a tcmur_cmd whose done is set; it returns OK for "queued" (the
 *      runner turns that into ASYNC_HANDLED) and the handler later calls
 *      tcmur_cmd_complete(); any other value is the final status.
 *   5. Anything still NOT_HANDLED: ILLEGAL REQUEST, INVALID COMMAND
 *      OPERATION CODE (libtcmu's tcmu_sts_to_scsi()).
 *   6. Every status other than ASYNC_HANDLED is completed at once;
 *      libtcmu converts TCMU_STS_* to a SAM status and sense data.
 *
 * Anything the plugin does that would crash or misbehave under the real
 * runner (NULL continuation, double completion, completion for another
 * device, an import the runner does not export...) is a "violation":
 * counted, printed, and failing the test that caused it.
 */
#include <dlfcn.h>
#include <elf.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "handler/tcmu_abi.h"
#include "lib/config.h"
#include "lib/engine.h"
#include "tests/host/testlib.h"
#include "xport/auth.h"
#include "xport/proto.h"

#define H_DEFAULT_SO "build-san/handler_spanblk.so"
#define H_DEFAULT_SPANBLKD "build-san/spanblkd"
#define H_NODES 3
#define H_REPLICAS 2
#define H_CHUNK (64u * 1024)
#define H_IO_TIMEOUT_MS 1500
#define H_CMD_TIMEOUT_MS 15000 /* one command, end to end */
#define H_BLOCK 512u
#define H_LUN_SIZE (8u << 20) /* bytes */
#define H_MAX_SECTORS 128u /* the kernel's TCMU hw_max_sectors default */
#define H_MAX_IOV 4
#define H_CDB_MAX 16

/* tcmu-runner 1.5.4 scsi.h limits its emulation applies. */
#define H_VPD_MAX_UNMAP_LBA_COUNT (32u * 1024 * 1024)
#define H_VPD_MAX_UNMAP_BLOCK_DESC_COUNT 4u
#define H_MAX_CAW_LENGTH 1u
#define H_WS_EMULATION_BYTES (1024u * 1024) /* handle_writesame() buffer */

/*
 * libtcmu.so.2 functions only the runner calls, so handler/tcmu_abi.h does
 * not declare them (a handler storing its state with tcmu_dev_set_private
 * would overwrite the runner's).
 */
void tcmu_dev_set_private(struct tcmu_device *dev, void *priv);
int tcmu_dev_get_fd(struct tcmu_device *dev);

/* ---- test-only mirror of libtcmu 1.5.4's struct tcmu_device ---------- */

/*
 * libtcmu_priv.h at v1.5.4, field for field. Only this file may know it;
 * the offsets below were also read off the Debian 1.5.4-4.1 binary
 * (tcmu_dev_get_cfgstring is "lea 0xe9(%rdi)", tcmu_dev_get_private
 * "mov 0x1100(%rdi)", ...). h_selfcheck() verifies it at run time.
 */
struct h_tcmu_device {
	int fd; /* uio fd; -1 here */
	void *map; /* struct tcmu_mailbox *; unused here */
	size_t map_len;
	uint32_t cmd_tail;
	uint64_t num_lbas;
	uint32_t block_size;
	uint32_t block_size_shift;
	uint32_t max_xfer_len;
	uint32_t opt_xcopy_rw_len;
	bool split_unmaps;
	uint32_t max_unmap_len;
	uint32_t opt_unmap_gran;
	uint32_t unmap_gran_align;
	unsigned int write_cache_enabled : 1;
	unsigned int solid_state_media : 1;
	unsigned int unmap_enabled : 1;
	char dev_name[16]; /* "uio0" */
	char tcm_hba_name[16]; /* "user_1" */
	char tcm_dev_name[128]; /* the backstore name */
	char cfgstring[PATH_MAX]; /* "spanblk/..." */
	void *handler; /* struct tcmulib_handler *; NULL here */
	void *ctx; /* struct tcmulib_context *; NULL here */
	void *hm_private; /* tcmu_dev_set_private(): the runner's state */
};

_Static_assert(offsetof(struct h_tcmu_device, num_lbas) == 0x20, "num_lbas");
_Static_assert(offsetof(struct h_tcmu_device, block_size) == 0x28, "bs");
_Static_assert(offsetof(struct h_tcmu_device, max_xfer_len) == 0x30, "mxl");
_Static_assert(offsetof(struct h_tcmu_device, split_unmaps) == 0x38, "split");
_Static_assert(offsetof(struct h_tcmu_device, max_unmap_len) == 0x3c, "mul");
_Static_assert(offsetof(struct h_tcmu_device, opt_unmap_gran) == 0x40, "oug");
_Static_assert(offsetof(struct h_tcmu_device, unmap_gran_align) == 0x44, "uga");
_Static_assert(offsetof(struct h_tcmu_device, dev_name) == 0x49, "dev_name");
_Static_assert(offsetof(struct h_tcmu_device, cfgstring) == 0xe9, "cfgstr");
_Static_assert(offsetof(struct h_tcmu_device, hm_private) == 0x1100, "priv");
_Static_assert(sizeof(struct h_tcmu_device) == 0x1108, "tcmu_device size");

/* ---- runner state ----------------------------------------------------- */

struct h_cmd;
struct h_subcmd;

/* The runner's per-device state (its struct tcmur_device). */
struct h_rdev {
	struct h_tcmu_device tdev; /* first: what the plugin sees */
	void *hm_private; /* tcmur_dev_set_private() */
	pthread_mutex_t lock; /* protects the fields below */
	bool pending_ua; /* CAPACITY CHANGED owed to the initiator */
	unsigned int lock_lost; /* tcmu_notify_* counters */
	unsigned int conn_lost;
	unsigned int cmd_timed_out;
	bool opened; /* open() succeeded, close() owed */
	struct h_cmd *retired; /* finished commands, freed after close */
	uint16_t next_id; /* cmd_id source */
};

/* One SCSI command from "the kernel" and the runner's state for it. */
struct h_cmd {
	struct tcmulib_cmd lib; /* libtcmu's view; lib.hm_private = &tcmur */
	struct tcmur_cmd tcmur; /* the runner's; handed to callouts */
	struct h_rdev *rdev;
	uint8_t cdb[H_CDB_MAX];
	struct iovec iov[H_MAX_IOV]; /* data area, as the kernel maps it */
	pthread_mutex_t lock; /* protects finished, sts, unmap_* */
	pthread_cond_t cond; /* signalled when finished */
	bool finished;
	int sts; /* final TCMU_STS_* */
	unsigned int unmap_refs; /* UNMAP pieces in flight + submitter */
	int unmap_status; /* UNMAP aggregate, as the runner keeps it */
	uint8_t *buf; /* WRITE SAME / CAW emulation buffer */
	struct iovec buf_iov; /* its one iovec, reset before each callout */
	uint64_t ws_lba; /* WRITE SAME emulation: next LBA */
	uint64_t ws_left; /* WRITE SAME emulation: LBAs left */
	bool caw_locked; /* CAW emulation holds h_caw_lock */
	bool async_handle_cmd; /* handle_cmd said ASYNC_HANDLED */
	struct h_subcmd *subs; /* UNMAP pieces, freed with the command */
	struct h_cmd *next_retired;
};

/* An UNMAP piece: the runner allocates one tcmur_cmd per descriptor. */
struct h_subcmd {
	struct tcmur_cmd tcmur;
	struct h_cmd *parent;
	bool finished;
	struct h_subcmd *next; /* in parent->subs */
};

struct h_result {
	int sts; /* TCMU_STS_* the command ended with */
	uint8_t status; /* SAM status */
	uint8_t sense[TCMU_SENSE_BUFFERSIZE];
};

static struct tcmur_handler *h_handler; /* registered by handler_init */
static unsigned int h_registrations;
static void *h_dl; /* dlopen handle of the plugin */
static char h_so_path[PATH_MAX];
static atomic_uint h_violations;
static pthread_mutex_t h_caw_lock = PTHREAD_MUTEX_INITIALIZER;

/* Which callouts the runner path used, for the summary at the end. */
enum h_call {
	H_CALL_HANDLE_CMD, /* handle_cmd answered the CDB itself */
	H_CALL_HANDLE_CMD_NH, /* handle_cmd said NOT_HANDLED */
	H_CALL_READ,
	H_CALL_WRITE,
	H_CALL_FLUSH,
	H_CALL_UNMAP,
	H_CALL_WRITESAME,
	H_CALL_CAW,
	H_CALL_MAX,
};
static const char *const h_call_names[H_CALL_MAX] = {
	"handle_cmd(answered)",
	"handle_cmd(not handled)",
	"read",
	"write",
	"flush",
	"unmap",
	"writesame",
	"caw",
};
static atomic_uint h_calls[H_CALL_MAX];

/* The shared cluster (group setup). */
static struct tl_cluster h_cluster;
static struct sb_engine *h_eng; /* our own, for STAT and LUN_CREATE */
static char h_logdir[PATH_MAX];

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr)-offsetof(type, member)))

static void h_violation(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* Record behaviour that would break under the real tcmu-runner. */
static void h_violation(const char *fmt, ...)
{
	va_list ap;

	atomic_fetch_add(&h_violations, 1);
	fprintf(stderr, "tcmu_harness: VIOLATION: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static struct tcmu_device *h_dev(struct h_rdev *rd)
{
	return (struct tcmu_device *)&rd->tdev;
}

/* The runner's state for @dev, found the runner's way (libtcmu private). */
static struct h_rdev *h_rdev_of(struct tcmu_device *dev)
{
	return tcmu_dev_get_private(dev);
}

/* ---- the runner's eight exports ---------------------------------------- */

/*
 * tcmu-runner's tcmur_register_handler(): refuse a duplicate subtype, call
 * init, keep the table. Returns 0, -1 (duplicate, as the runner does) or
 * init's error.
 */
int tcmur_register_handler(struct tcmur_handler *handler)
{
	int ret;

	if (!handler || !handler->subtype)
		return -EINVAL;
	if (h_handler && !strcmp(h_handler->subtype, handler->subtype))
		return -1;
	if (handler->init) {
		ret = handler->init();
		if (ret)
			return ret;
	}
	h_handler = handler;
	h_registrations++;
	return 0;
}

/*
 * tcmu-runner's tcmur_cmd_complete(): run the command's continuation.
 * Reports a violation instead of jumping to a NULL continuation.
 */
void tcmur_cmd_complete(struct tcmu_device *dev, void *data, int rc)
{
	struct tcmur_cmd *tc = data;

	if (!tc) {
		h_violation("tcmur_cmd_complete(dev, NULL, %d)", rc);
		return;
	}
	if (!tc->done) {
		h_violation("tcmur_cmd_complete() on a command with no "
			    "continuation (status %d): tcmu-runner 1.5.4 "
			    "jumps to NULL here; handle_cmd must complete "
			    "synchronously",
			    rc);
		return;
	}
	tc->done(dev, tc, rc);
}

/* tcmu-runner's tcmur_dev_set_private(): the runner state's hm_private. */
void tcmur_dev_set_private(struct tcmu_device *dev, void *priv)
{
	h_rdev_of(dev)->hm_private = priv;
}

/* tcmu-runner's tcmur_dev_get_private(). */
void *tcmur_dev_get_private(struct tcmu_device *dev)
{
	return h_rdev_of(dev)->hm_private;
}

/*
 * tcmu-runner's tcmur_dev_update_size(): new number of LBAs and a pending
 * CAPACITY CHANGED unit attention (the configfs write is skipped here).
 * Returns 0 or -EINVAL for a zero size.
 */
int tcmur_dev_update_size(struct tcmu_device *dev, uint64_t new_size)
{
	struct h_rdev *rd = h_rdev_of(dev);

	if (!new_size)
		return -EINVAL;
	tcmu_dev_set_num_lbas(dev, tcmu_byte_to_lba(dev, new_size));
	pthread_mutex_lock(&rd->lock);
	rd->pending_ua = true;
	pthread_mutex_unlock(&rd->lock);
	return 0;
}

/* tcmu-runner schedules a lock re-acquire; we count. */
void tcmu_notify_lock_lost(struct tcmu_device *dev)
{
	struct h_rdev *rd = h_rdev_of(dev);

	pthread_mutex_lock(&rd->lock);
	rd->lock_lost++;
	pthread_mutex_unlock(&rd->lock);
}

/* tcmu-runner schedules a reopen; we count. */
void tcmu_notify_conn_lost(struct tcmu_device *dev)
{
	struct h_rdev *rd = h_rdev_of(dev);

	pthread_mutex_lock(&rd->lock);
	rd->conn_lost++;
	pthread_mutex_unlock(&rd->lock);
}

/* tcmu-runner counts and logs; so do we. */
void tcmu_notify_cmd_timed_out(struct tcmu_device *dev)
{
	struct h_rdev *rd = h_rdev_of(dev);

	pthread_mutex_lock(&rd->lock);
	rd->cmd_timed_out++;
	pthread_mutex_unlock(&rd->lock);
}

/* ---- devices ------------------------------------------------------------ */

/*
 * Build a device as tcmu-runner's dev_added() leaves it just before
 * open(): runner state as libtcmu private data, block size, LBAs,
 * hw_max_sectors, unmap limits, unmap_enabled when the handler has unmap.
 */
static struct h_rdev *h_dev_new(const char *name, const char *cfg,
				uint64_t size)
{
	struct h_rdev *rd;
	struct tcmu_device *dev;
	int n;

	rd = calloc(1, sizeof(*rd));
	if (!rd)
		return NULL;
	pthread_mutex_init(&rd->lock, NULL);
	dev = h_dev(rd);
	rd->tdev.fd = -1;
	snprintf(rd->tdev.dev_name, sizeof(rd->tdev.dev_name), "uio0");
	snprintf(rd->tdev.tcm_hba_name, sizeof(rd->tdev.tcm_hba_name),
		 "user_1");
	snprintf(rd->tdev.tcm_dev_name, sizeof(rd->tdev.tcm_dev_name), "%s",
		 name);
	n = snprintf(rd->tdev.cfgstring, sizeof(rd->tdev.cfgstring), "%s", cfg);
	if (n < 0 || (size_t)n >= sizeof(rd->tdev.cfgstring)) {
		free(rd);
		return NULL;
	}

	tcmu_dev_set_private(dev, rd);
	tcmu_dev_set_block_size(dev, H_BLOCK);
	tcmu_dev_set_num_lbas(dev, tcmu_byte_to_lba(dev, size));
	tcmu_dev_set_max_xfer_len(dev, H_MAX_SECTORS);
	tcmu_dev_set_max_unmap_len(dev, H_VPD_MAX_UNMAP_LBA_COUNT);
	tcmu_dev_set_opt_unmap_gran(dev, H_MAX_SECTORS, true);
	tcmu_dev_set_unmap_gran_align(dev, 0);
	if (h_handler && h_handler->unmap)
		tcmu_dev_set_unmap_enabled(dev, true);
	return rd;
}

static void h_retire_free(struct h_rdev *rd)
{
	struct h_cmd *hc, *next;

	for (hc = rd->retired; hc; hc = next) {
		struct h_subcmd *sub, *snext;

		next = hc->next_retired;
		for (sub = hc->subs; sub; sub = snext) {
			snext = sub->next;
			free(sub);
		}
		pthread_mutex_destroy(&hc->lock);
		pthread_cond_destroy(&hc->cond);
		free(hc->buf);
		free(hc);
	}
	rd->retired = NULL;
}

/* Close (if open) and free, as dev_removed() does. Accepts NULL. */
static void h_dev_free(struct h_rdev *rd)
{
	if (!rd)
		return;
	if (rd->opened && h_handler->close)
		h_handler->close(h_dev(rd));
	h_retire_free(rd);
	pthread_mutex_destroy(&rd->lock);
	free(rd);
}

/*
 * Check that libtcmu's real getters read our mirror the way we wrote it.
 * A wrong mirror would make every later result meaningless: exit loudly.
 */
static void h_selfcheck(void)
{
	static const char cfg[] = "spanblk/selfcheck;conf=/x";
	struct h_rdev *rd;
	struct tcmu_device *dev;
	const char *bad = NULL;

	rd = h_dev_new("selfcheck", cfg, 1u << 20);
	if (!rd) {
		fprintf(stderr, "tcmu_harness: out of memory\n");
		exit(2);
	}
	dev = h_dev(rd);
	tcmu_dev_set_write_cache_enabled(dev, true);
	tcmu_dev_set_solid_state_media(dev, true);
	tcmu_dev_set_unmap_enabled(dev, true);
	tcmu_dev_set_unmap_gran_align(dev, 8);
	tcmu_dev_set_opt_unmap_gran(dev, 16, false);

	if (tcmu_dev_get_private(dev) != rd)
		bad = "tcmu_dev_get_private";
	else if (tcmu_dev_get_cfgstring(dev) != rd->tdev.cfgstring ||
		 strcmp(tcmu_dev_get_cfgstring(dev), cfg))
		bad = "tcmu_dev_get_cfgstring";
	else if (strcmp(tcmu_dev_get_uio_name(dev), "uio0"))
		bad = "tcmu_dev_get_uio_name";
	else if (tcmu_dev_get_block_size(dev) != H_BLOCK ||
		 rd->tdev.block_size != H_BLOCK)
		bad = "tcmu_dev_get_block_size";
	else if (tcmu_dev_get_num_lbas(dev) != (1u << 20) / H_BLOCK ||
		 rd->tdev.num_lbas != (1u << 20) / H_BLOCK)
		bad = "tcmu_dev_get_num_lbas";
	else if (tcmu_lba_to_byte(dev, 3) != 3 * H_BLOCK ||
		 rd->tdev.block_size_shift != 9)
		bad = "tcmu_lba_to_byte (block_size_shift)";
	else if (tcmu_dev_get_max_xfer_len(dev) != H_MAX_SECTORS ||
		 rd->tdev.max_xfer_len != H_MAX_SECTORS)
		bad = "tcmu_dev_get_max_xfer_len";
	else if (tcmu_dev_get_max_unmap_len(dev) != H_VPD_MAX_UNMAP_LBA_COUNT ||
		 rd->tdev.max_unmap_len != H_VPD_MAX_UNMAP_LBA_COUNT)
		bad = "tcmu_dev_get_max_unmap_len";
	else if (tcmu_dev_get_opt_unmap_gran(dev) != 16 ||
		 rd->tdev.opt_unmap_gran != 16 || rd->tdev.split_unmaps)
		bad = "tcmu_dev_get_opt_unmap_gran / split_unmaps";
	else if (tcmu_dev_get_unmap_gran_align(dev) != 8 ||
		 rd->tdev.unmap_gran_align != 8)
		bad = "tcmu_dev_get_unmap_gran_align";
	else if (!tcmu_dev_get_write_cache_enabled(dev) ||
		 !rd->tdev.write_cache_enabled)
		bad = "tcmu_dev_get_write_cache_enabled";
	else if (!tcmu_dev_get_solid_state_media(dev) ||
		 !rd->tdev.solid_state_media)
		bad = "tcmu_dev_get_solid_state_media";
	else if (!tcmu_dev_get_unmap_enabled(dev) || !rd->tdev.unmap_enabled)
		bad = "tcmu_dev_get_unmap_enabled";
	else if (tcmu_dev_get_fd(dev) != -1)
		bad = "tcmu_dev_get_fd";

	tcmu_dev_set_write_cache_enabled(dev, false);
	if (!bad && (tcmu_dev_get_write_cache_enabled(dev) ||
		     !tcmu_dev_get_solid_state_media(dev) ||
		     !tcmu_dev_get_unmap_enabled(dev)))
		bad = "bit fields";
	h_dev_free(rd);
	if (bad) {
		fprintf(stderr,
			"tcmu_harness: FATAL: the struct tcmu_device mirror "
			"does not match this libtcmu.so.2 (%s); fix "
			"struct h_tcmu_device before trusting any result\n",
			bad);
		exit(2);
	}
}

/* ---- runner command path ----------------------------------------------- */

static int h_finish(struct h_cmd *hc, int sts)
{
	pthread_mutex_lock(&hc->lock);
	if (hc->finished) {
		pthread_mutex_unlock(&hc->lock);
		h_violation("command 0x%02x completed twice (%d then %d)",
			    hc->cdb[0], hc->sts, sts);
		return -EALREADY;
	}
	hc->finished = true;
	hc->sts = sts;
	pthread_cond_broadcast(&hc->cond);
	pthread_mutex_unlock(&hc->lock);
	return 0;
}

static struct h_cmd *h_cmd_of(struct tcmu_device *dev, struct tcmur_cmd *tc)
{
	struct h_cmd *hc = container_of(tc, struct h_cmd, tcmur);

	if (h_dev(hc->rdev) != dev)
		h_violation("command completed on another device");
	return hc;
}

/* done for a plain callout (the runner's handle_generic_cbk). */
static void h_generic_cbk(struct tcmu_device *dev, struct tcmur_cmd *tc,
			  int ret)
{
	h_finish(h_cmd_of(dev, tc), ret);
}

/* Runner's aio_request_schedule() for nr_threads == 0, after callout @c. */
static int h_schedule_ret(enum h_call c, int ret)
{
	atomic_fetch_add(&h_calls[c], 1);
	if (h_handler->nr_threads != 0)
		h_violation("nr_threads = %d: the harness drives the "
			    "nr_threads == 0 path only",
			    h_handler->nr_threads);
	return ret == TCMU_STS_OK ? TCMU_STS_ASYNC_HANDLED : ret;
}

static int h_check_lbas(struct h_rdev *rd, uint64_t lba, uint64_t cnt)
{
	uint64_t last = tcmu_dev_get_num_lbas(h_dev(rd));

	if (lba + cnt > last || lba + cnt < lba)
		return TCMU_STS_RANGE;
	return TCMU_STS_OK;
}

/* Runner's check_lba_and_length(): buffer size first, then range. */
static int h_check_lba_and_length(struct h_rdev *rd, struct h_cmd *hc,
				  uint64_t sectors)
{
	struct tcmu_device *dev = h_dev(rd);
	size_t have = tcmu_iovec_length(hc->lib.iovec, hc->lib.iov_cnt);

	if (have != tcmu_lba_to_byte(dev, sectors))
		return TCMU_STS_HW_ERR;
	return h_check_lbas(rd, tcmu_cdb_get_lba(hc->cdb), sectors);
}

static int h_rw(struct h_rdev *rd, struct h_cmd *hc, bool is_read)
{
	struct tcmu_device *dev = h_dev(rd);
	uint32_t sectors = tcmu_cdb_get_xfer_length(hc->cdb);
	size_t len;
	off_t off;
	int ret;

	ret = h_check_lba_and_length(rd, hc, sectors);
	if (ret)
		return ret;
	if (is_read ? !h_handler->read : !h_handler->write) {
		h_violation("no %s callout: tcmu-runner 1.5.4 calls NULL",
			    is_read ? "read" : "write");
		return TCMU_STS_HW_ERR;
	}
	len = tcmu_iovec_length(hc->lib.iovec, hc->lib.iov_cnt);
	off = (off_t)tcmu_lba_to_byte(dev, tcmu_cdb_get_lba(hc->cdb));
	hc->tcmur.done = h_generic_cbk;
	if (is_read)
		ret = h_handler->read(dev, &hc->tcmur, hc->lib.iovec,
				      hc->lib.iov_cnt, len, off);
	else
		ret = h_handler->write(dev, &hc->tcmur, hc->lib.iovec,
				       hc->lib.iov_cnt, len, off);
	return h_schedule_ret(is_read ? H_CALL_READ : H_CALL_WRITE, ret);
}

static int h_flush(struct h_rdev *rd, struct h_cmd *hc)
{
	if (!h_handler->flush)
		return TCMU_STS_NOT_HANDLED; /* 1.5.4: falls to 20/00 */
	hc->tcmur.done = h_generic_cbk;
	return h_schedule_ret(H_CALL_FLUSH,
			      h_handler->flush(h_dev(rd), &hc->tcmur));
}

/*
 * The runner's unmap_put(). Its 1.5.4 aggregation keeps a piece's error
 * only when an error is already recorded, so a failing piece alone is
 * reported GOOD; we reproduce that (the tests read the data back).
 */
static void h_unmap_put(struct h_cmd *hc, int ret)
{
	int status;

	pthread_mutex_lock(&hc->lock);
	if (hc->unmap_status != TCMU_STS_OK && ret)
		hc->unmap_status = ret;
	if (--hc->unmap_refs > 0) {
		pthread_mutex_unlock(&hc->lock);
		return;
	}
	status = hc->unmap_status;
	pthread_mutex_unlock(&hc->lock);
	h_finish(hc, status);
}

static void h_unmap_cbk(struct tcmu_device *dev, struct tcmur_cmd *tc, int ret)
{
	struct h_subcmd *sub = container_of(tc, struct h_subcmd, tcmur);
	struct h_cmd *hc = sub->parent;

	if (h_dev(hc->rdev) != dev)
		h_violation("UNMAP piece completed on another device");
	if (sub->finished) {
		h_violation("UNMAP piece completed twice");
		return;
	}
	sub->finished = true;
	/* The runner frees it here; we keep it (in hc->subs) until close
	 * so that a second completion is reported, not a use after free. */
	h_unmap_put(hc, ret);
}

/* The runner's align_and_split_unmap(): one callout per piece. */
static int h_unmap_split(struct h_rdev *rd, struct h_cmd *hc, uint64_t lba,
			 uint64_t nlbas)
{
	struct tcmu_device *dev = h_dev(rd);
	uint64_t gran, mask, lbas;
	struct h_subcmd *sub;
	int ret = TCMU_STS_NOT_HANDLED;

	if (!rd->tdev.split_unmaps) {
		gran = tcmu_dev_get_max_unmap_len(dev);
		mask = 0;
	} else {
		gran = tcmu_dev_get_opt_unmap_gran(dev);
		mask = (uint64_t)tcmu_dev_get_unmap_gran_align(dev) - 1;
	}
	lbas = gran - (lba & mask);
	if (lbas > nlbas)
		lbas = nlbas;

	while (nlbas) {
		if (!lbas) {
			h_violation("unmap granularity 0: tcmu-runner 1.5.4 "
				    "loops forever");
			return TCMU_STS_HW_ERR;
		}
		sub = calloc(1, sizeof(*sub));
		if (!sub)
			return TCMU_STS_NO_RESOURCE;
		sub->parent = hc;
		sub->tcmur.lib_cmd = &hc->lib;
		sub->tcmur.done = h_unmap_cbk;
		pthread_mutex_lock(&hc->lock);
		hc->unmap_refs++;
		sub->next = hc->subs;
		hc->subs = sub;
		pthread_mutex_unlock(&hc->lock);
		ret = h_schedule_ret(
			H_CALL_UNMAP,
			h_handler->unmap(dev, &sub->tcmur,
					 tcmu_lba_to_byte(dev, lba),
					 tcmu_lba_to_byte(dev, lbas)));
		if (ret != TCMU_STS_ASYNC_HANDLED) {
			pthread_mutex_lock(&hc->lock);
			hc->unmap_refs--;
			pthread_mutex_unlock(&hc->lock);
			return ret;
		}
		nlbas -= lbas;
		lba += lbas;
		lbas = gran < nlbas ? gran : nlbas;
	}
	return ret;
}

/* The runner's unmap_init() + handle_unmap_internal() tail. */
static int h_unmap_run(struct h_rdev *rd, struct h_cmd *hc, const uint8_t *par,
		       uint16_t bddl)
{
	int ret = TCMU_STS_OK;
	uint16_t off = 0;

	hc->unmap_refs = 1;
	hc->unmap_status = TCMU_STS_OK;
	while (bddl) {
		uint64_t lba, nlbas;

		memcpy(&lba, par + 8 + off, 8);
		lba = be64toh(lba);
		nlbas = (uint64_t)par[8 + off + 8] << 24 |
			(uint64_t)par[8 + off + 9] << 16 |
			(uint64_t)par[8 + off + 10] << 8 | par[8 + off + 11];
		if (nlbas > tcmu_dev_get_max_unmap_len(h_dev(rd))) {
			ret = TCMU_STS_INVALID_PARAM_LIST;
			break;
		}
		ret = h_check_lbas(rd, lba, nlbas);
		if (ret)
			break;
		if (nlbas) {
			ret = h_unmap_split(rd, hc, lba, nlbas);
			if (ret != TCMU_STS_ASYNC_HANDLED)
				break;
		}
		off += 16;
		bddl -= 16;
	}
	pthread_mutex_lock(&hc->lock);
	if (ret == TCMU_STS_ASYNC_HANDLED)
		ret = TCMU_STS_OK;
	else
		hc->unmap_status = ret;
	pthread_mutex_unlock(&hc->lock);
	h_unmap_put(hc, ret);
	return TCMU_STS_ASYNC_HANDLED;
}

/* The runner's handle_unmap(). */
static int h_unmap(struct h_rdev *rd, struct h_cmd *hc)
{
	size_t len = tcmu_cdb_get_xfer_length(hc->cdb);
	uint8_t par[8 + 16 * (H_VPD_MAX_UNMAP_BLOCK_DESC_COUNT + 1)];
	uint8_t *big = NULL;
	const uint8_t *p;
	uint16_t bddl;
	size_t copied;
	int ret;

	if (!h_handler->unmap)
		return TCMU_STS_INVALID_CMD;
	if (hc->cdb[1] & 0x01)
		return TCMU_STS_INVALID_CDB; /* ANCHOR */
	if (!len)
		return TCMU_STS_OK;
	if (len < 8)
		return TCMU_STS_INVALID_PARAM_LIST_LEN;
	if (len > sizeof(par)) {
		big = calloc(1, len);
		if (!big)
			return TCMU_STS_NO_RESOURCE;
	}
	copied = tcmu_memcpy_from_iovec(big ? big : par, len, hc->lib.iovec,
					hc->lib.iov_cnt);
	p = big ? big : par;
	if (copied != len) {
		ret = TCMU_STS_INVALID_PARAM_LIST_LEN;
		goto out_free_big;
	}
	bddl = (uint16_t)(p[2] << 8 | p[3]);
	bddl &= ~0xFu;
	if (!bddl) {
		ret = TCMU_STS_OK;
		goto out_free_big;
	}
	if (bddl / 16 > H_VPD_MAX_UNMAP_BLOCK_DESC_COUNT) {
		ret = TCMU_STS_INVALID_PARAM_LIST;
		goto out_free_big;
	}
	ret = h_unmap_run(rd, hc, p, bddl);
out_free_big:
	free(big);
	return ret;
}

static int h_ws_write(struct h_rdev *rd, struct h_cmd *hc);

/* The runner's handle_writesame_cbk(): next slice or finish. */
static void h_ws_cbk(struct tcmu_device *dev, struct tcmur_cmd *tc, int ret)
{
	struct h_cmd *hc = h_cmd_of(dev, tc);
	uint64_t done_lbas = tcmu_byte_to_lba(dev, hc->tcmur.requested);
	int rc;

	if (ret != TCMU_STS_OK)
		goto finish;
	hc->ws_lba += done_lbas;
	hc->ws_left -= done_lbas;
	if (!hc->ws_left)
		goto finish;
	if (hc->ws_left <= done_lbas)
		hc->tcmur.requested = tcmu_lba_to_byte(dev, hc->ws_left);
	rc = h_ws_write(hc->rdev, hc);
	if (rc != TCMU_STS_ASYNC_HANDLED) {
		ret = TCMU_STS_WR_ERR;
		goto finish;
	}
	return;
finish:
	h_finish(hc, ret);
}

static int h_ws_write(struct h_rdev *rd, struct h_cmd *hc)
{
	struct tcmu_device *dev = h_dev(rd);

	hc->buf_iov.iov_base = hc->buf;
	hc->buf_iov.iov_len = hc->tcmur.requested;
	return h_schedule_ret(
		H_CALL_WRITE,
		h_handler->write(dev, &hc->tcmur, &hc->buf_iov, 1,
				 hc->tcmur.requested,
				 (off_t)tcmu_lba_to_byte(dev, hc->ws_lba)));
}

/* The runner's handle_writesame(). */
static int h_writesame(struct h_rdev *rd, struct h_cmd *hc)
{
	struct tcmu_device *dev = h_dev(rd);
	uint32_t cnt = tcmu_cdb_get_xfer_length(hc->cdb);
	uint32_t bs = tcmu_dev_get_block_size(dev);
	uint64_t lba = tcmu_cdb_get_lba(hc->cdb);
	uint64_t max_bytes, length, i;
	int ret;

	/* handle_writesame_check() */
	if (hc->lib.iov_cnt != 1 || hc->lib.iovec[0].iov_len != bs)
		return TCMU_STS_INVALID_CDB;
	if (!cnt)
		return TCMU_STS_INVALID_CDB;
	ret = h_check_lbas(rd, lba, cnt);
	if (ret)
		return ret;

	if (h_handler->unmap && (hc->cdb[1] & SCSI_CDB_WS_UNMAP)) {
		uint32_t align = tcmu_dev_get_unmap_gran_align(dev);

		if (!align) {
			h_violation("WRITE SAME with UNMAP while "
				    "unmap_gran_align is 0: tcmu-runner 1.5.4 "
				    "divides by zero (set it in open)");
			return TCMU_STS_HW_ERR;
		}
		if (!(lba % align) && !(cnt % align)) {
			hc->unmap_refs = 1;
			hc->unmap_status = TCMU_STS_OK;
			ret = h_unmap_split(rd, hc, lba, cnt);
			pthread_mutex_lock(&hc->lock);
			if (ret == TCMU_STS_ASYNC_HANDLED)
				ret = TCMU_STS_OK;
			else
				hc->unmap_status = ret;
			pthread_mutex_unlock(&hc->lock);
			h_unmap_put(hc, ret);
			return TCMU_STS_ASYNC_HANDLED;
		}
	}

	if (h_handler->writesame) {
		hc->tcmur.done = h_generic_cbk;
		return h_schedule_ret(
			H_CALL_WRITESAME,
			h_handler->writesame(dev, &hc->tcmur,
					     tcmu_lba_to_byte(dev, lba),
					     tcmu_lba_to_byte(dev, cnt),
					     hc->lib.iovec, hc->lib.iov_cnt));
	}

	if (!h_handler->write || !tcmu_dev_get_max_xfer_len(dev)) {
		h_violation("WRITE SAME emulation impossible (no write "
			    "callout or max_xfer_len 0)");
		return TCMU_STS_HW_ERR;
	}
	max_bytes = (uint64_t)tcmu_dev_get_max_xfer_len(dev) * bs;
	length = (H_WS_EMULATION_BYTES + max_bytes - 1) / max_bytes * max_bytes;
	if (length > tcmu_lba_to_byte(dev, cnt))
		length = tcmu_lba_to_byte(dev, cnt);
	hc->buf = malloc(length);
	if (!hc->buf)
		return TCMU_STS_NO_RESOURCE;
	for (i = 0; i < length / bs; i++)
		memcpy(hc->buf + i * bs, hc->lib.iovec[0].iov_base, bs);
	hc->tcmur.requested = length;
	hc->tcmur.done = h_ws_cbk;
	hc->ws_lba = lba;
	hc->ws_left = cnt;
	return h_ws_write(rd, hc);
}

static void h_caw_unlock(struct h_cmd *hc)
{
	if (hc->caw_locked) {
		hc->caw_locked = false;
		pthread_mutex_unlock(&h_caw_lock);
	}
}

static void h_caw_write_cbk(struct tcmu_device *dev, struct tcmur_cmd *tc,
			    int ret)
{
	struct h_cmd *hc = h_cmd_of(dev, tc);

	h_caw_unlock(hc);
	h_finish(hc, ret);
}

/* The runner's handle_caw_read_cbk(): compare, then write. */
static void h_caw_read_cbk(struct tcmu_device *dev, struct tcmur_cmd *tc,
			   int ret)
{
	struct h_cmd *hc = h_cmd_of(dev, tc);
	size_t half = hc->tcmur.requested;
	off_t cmp;

	if (ret != TCMU_STS_OK)
		goto finish;
	cmp = tcmu_iovec_compare(hc->buf, hc->lib.iovec, half);
	if (cmp != -1) {
		tcmu_sense_set_info(hc->lib.sense_buf, (uint32_t)cmp);
		ret = TCMU_STS_MISCOMPARE;
		goto finish;
	}
	tcmu_cmd_seek(&hc->lib, half);
	hc->tcmur.done = h_caw_write_cbk;
	ret = h_schedule_ret(
		H_CALL_WRITE,
		h_handler->write(dev, &hc->tcmur, hc->lib.iovec,
				 hc->lib.iov_cnt, half,
				 (off_t)tcmu_lba_to_byte(
					 dev, tcmu_cdb_get_lba(hc->cdb))));
	if (ret == TCMU_STS_ASYNC_HANDLED)
		return;
finish:
	h_caw_unlock(hc);
	h_finish(hc, ret);
}

/* The runner's handle_caw(). */
static int h_caw(struct h_rdev *rd, struct h_cmd *hc)
{
	struct tcmu_device *dev = h_dev(rd);
	uint8_t sectors = hc->cdb[13];
	uint64_t lba = tcmu_cdb_get_lba(hc->cdb);
	size_t half = tcmu_iovec_length(hc->lib.iovec, hc->lib.iov_cnt) / 2;
	int ret;

	if (!sectors)
		return TCMU_STS_OK;
	if (sectors > H_MAX_CAW_LENGTH)
		return TCMU_STS_INVALID_CDB;
	if (tcmu_iovec_length(hc->lib.iovec, hc->lib.iov_cnt) !=
	    tcmu_lba_to_byte(dev, 2u * sectors))
		return TCMU_STS_HW_ERR;
	ret = h_check_lbas(rd, lba, sectors);
	if (ret)
		return ret;

	if (h_handler->caw) {
		hc->tcmur.done = h_generic_cbk;
		return h_schedule_ret(H_CALL_CAW,
				      h_handler->caw(dev, &hc->tcmur,
						     tcmu_lba_to_byte(dev, lba),
						     half, hc->lib.iovec,
						     hc->lib.iov_cnt));
	}

	hc->buf = calloc(1, half);
	if (!hc->buf)
		return TCMU_STS_NO_RESOURCE;
	hc->buf_iov.iov_base = hc->buf;
	hc->buf_iov.iov_len = half;
	hc->tcmur.requested = half;
	hc->tcmur.done = h_caw_read_cbk;
	pthread_mutex_lock(&h_caw_lock);
	hc->caw_locked = true;
	ret = h_schedule_ret(
		H_CALL_READ,
		h_handler->read(dev, &hc->tcmur, &hc->buf_iov, 1, half,
				(off_t)tcmu_lba_to_byte(dev, lba)));
	if (ret != TCMU_STS_ASYNC_HANDLED)
		h_caw_unlock(hc);
	return ret;
}

/* The runner's tcmur_cmd_handler() for the opcodes the tests send. */
static int h_cmd_handler(struct h_rdev *rd, struct h_cmd *hc)
{
	switch (hc->cdb[0]) {
	case SCSI_OP_READ_6:
	case SCSI_OP_READ_10:
	case SCSI_OP_READ_12:
	case SCSI_OP_READ_16:
		return h_rw(rd, hc, true);
	case SCSI_OP_WRITE_6:
	case SCSI_OP_WRITE_10:
	case SCSI_OP_WRITE_12:
	case SCSI_OP_WRITE_16:
		return h_rw(rd, hc, false);
	case SCSI_OP_UNMAP:
		return h_unmap(rd, hc);
	case SCSI_OP_SYNCHRONIZE_CACHE_10:
	case SCSI_OP_SYNCHRONIZE_CACHE_16:
		return h_flush(rd, hc);
	case SCSI_OP_COMPARE_AND_WRITE:
		return h_caw(rd, hc);
	case SCSI_OP_WRITE_SAME_10:
	case SCSI_OP_WRITE_SAME_16:
		return h_writesame(rd, hc);
	case SCSI_OP_WRITE_VERIFY_10:
	case SCSI_OP_WRITE_VERIFY_16:
	case SCSI_OP_EXTENDED_COPY:
		h_violation("opcode 0x%02x: the runner emulates it, the "
			    "harness does not",
			    hc->cdb[0]);
		return TCMU_STS_HW_ERR;
	default:
		return TCMU_STS_NOT_HANDLED;
	}
}

/* The runner's tcmur_generic_handle_cmd(). */
static int h_generic_handle_cmd(struct h_rdev *rd, struct h_cmd *hc)
{
	int ret;

	if (hc->cdb[0] != SCSI_OP_INQUIRY &&
	    hc->cdb[0] != SCSI_OP_REQUEST_SENSE) {
		pthread_mutex_lock(&rd->lock);
		if (rd->pending_ua) {
			rd->pending_ua = false;
			pthread_mutex_unlock(&rd->lock);
			return TCMU_STS_CAPACITY_CHANGED;
		}
		pthread_mutex_unlock(&rd->lock);
	}

	if (h_handler->handle_cmd) {
		ret = h_handler->handle_cmd(h_dev(rd), &hc->tcmur);
		atomic_fetch_add(&h_calls[ret == TCMU_STS_NOT_HANDLED
						  ? H_CALL_HANDLE_CMD_NH
						  : H_CALL_HANDLE_CMD],
				 1);
		if (ret == TCMU_STS_ASYNC_HANDLED) {
			hc->async_handle_cmd = true;
			h_violation("handle_cmd returned ASYNC_HANDLED for "
				    "0x%02x: tcmu-runner 1.5.4 can only "
				    "finish it through a NULL continuation",
				    hc->cdb[0]);
		}
		if (ret != TCMU_STS_NOT_HANDLED)
			return ret;
	}

	/* handle_sync_cmd(): only TEST UNIT READY is reproduced. */
	switch (hc->cdb[0]) {
	case SCSI_OP_TEST_UNIT_READY:
		return TCMU_STS_OK;
	case SCSI_OP_INQUIRY:
	case SCSI_OP_READ_CAPACITY_10:
	case SCSI_OP_SERVICE_ACTION_IN_16:
	case SCSI_OP_MODE_SENSE_6:
	case SCSI_OP_MODE_SENSE_10:
	case SCSI_OP_MODE_SELECT_6:
	case SCSI_OP_MODE_SELECT_10:
	case SCSI_OP_START_STOP_UNIT:
		h_violation("opcode 0x%02x: the runner emulates it, the "
			    "harness does not",
			    hc->cdb[0]);
		return TCMU_STS_HW_ERR;
	default:
		break;
	}
	return h_cmd_handler(rd, hc);
}

/* libtcmu's tcmu_sts_to_scsi(): SAM status, and sense where it sets one. */
static uint8_t h_sts_to_scsi(int sts, uint8_t *sense)
{
	static const struct {
		int sts;
		uint8_t key;
		uint16_t asc;
		bool keep; /* __tcmu_sense_set_data: buffer not cleared */
	} map[] = {
		{TCMU_STS_RANGE, SCSI_SK_ILLEGAL_REQUEST, 0x2100, false},
		{TCMU_STS_HW_ERR, SCSI_SK_HARDWARE_ERROR, 0x4400, false},
		{TCMU_STS_MISCOMPARE, SCSI_SK_MISCOMPARE, 0x1d00, true},
		{TCMU_STS_RD_ERR, SCSI_SK_MEDIUM_ERROR, 0x1100, false},
		{TCMU_STS_WR_ERR, SCSI_SK_MEDIUM_ERROR, 0x0c00, false},
		{TCMU_STS_INVALID_CDB, SCSI_SK_ILLEGAL_REQUEST, 0x2400, false},
		{TCMU_STS_INVALID_PARAM_LIST, SCSI_SK_ILLEGAL_REQUEST, 0x2600,
		 false},
		{TCMU_STS_INVALID_PARAM_LIST_LEN, SCSI_SK_ILLEGAL_REQUEST,
		 0x1a00, false},
		{TCMU_STS_NOTSUPP_SEG_DESC_TYPE, SCSI_SK_ILLEGAL_REQUEST,
		 0x2609, false},
		{TCMU_STS_NOTSUPP_TGT_DESC_TYPE, SCSI_SK_ILLEGAL_REQUEST,
		 0x2607, false},
		{TCMU_STS_TOO_MANY_SEG_DESC, SCSI_SK_ILLEGAL_REQUEST, 0x2608,
		 false},
		{TCMU_STS_TOO_MANY_TGT_DESC, SCSI_SK_ILLEGAL_REQUEST, 0x2606,
		 false},
		{TCMU_STS_CP_TGT_DEV_NOTCONN, 0xa, 0x0d02, false},
		{TCMU_STS_INVALID_CP_TGT_DEV_TYPE, 0xa, 0x0d03, false},
		{TCMU_STS_CAPACITY_CHANGED, SCSI_SK_UNIT_ATTENTION, 0x2a09,
		 false},
		{TCMU_STS_TRANSITION, SCSI_SK_NOT_READY, 0x040a, false},
		{TCMU_STS_IMPL_TRANSITION_ERR, SCSI_SK_UNIT_ATTENTION, 0x2a07,
		 false},
		{TCMU_STS_EXPL_TRANSITION_ERR, SCSI_SK_HARDWARE_ERROR, 0x670a,
		 false},
		{TCMU_STS_FENCED, SCSI_SK_NOT_READY, 0x040b, false},
		{TCMU_STS_WR_ERR_INCOMPAT_FRMT, SCSI_SK_ILLEGAL_REQUEST, 0x3005,
		 false},
		{TCMU_STS_NOTSUPP_SAVE_PARAMS, SCSI_SK_ILLEGAL_REQUEST, 0x3900,
		 false},
		{TCMU_STS_FRMT_IN_PROGRESS, SCSI_SK_NOT_READY, 0x0404, true},
		{TCMU_STS_NOT_HANDLED, SCSI_SK_ILLEGAL_REQUEST, 0x2000, false},
		{TCMU_STS_INVALID_CMD, SCSI_SK_ILLEGAL_REQUEST, 0x2000, false},
	};
	size_t i;

	switch (sts) {
	case TCMU_STS_OK:
		return SCSI_STATUS_GOOD;
	case TCMU_STS_NO_RESOURCE:
		return SCSI_STATUS_TASK_SET_FULL;
	case TCMU_STS_TIMEOUT:
	case TCMU_STS_BUSY:
		return SCSI_STATUS_BUSY;
	case TCMU_STS_PASSTHROUGH_ERR:
		return SCSI_STATUS_CHECK_CONDITION;
	default:
		break;
	}
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (map[i].sts != sts)
			continue;
		if (map[i].keep)
			__tcmu_sense_set_data(sense, map[i].key, map[i].asc);
		else
			tcmu_sense_set_data(sense, map[i].key, map[i].asc);
		return SCSI_STATUS_CHECK_CONDITION;
	}
	h_violation("invalid TCMU status %d", sts);
	return SCSI_STATUS_CHECK_CONDITION;
}

/*
 * Run one CDB through the runner's path and wait for its completion.
 * @buf/@len is the data area (data-out or data-in); it is cut into
 * @nsplit iovecs (1..H_MAX_IOV) of uneven sizes, as the kernel's data
 * area may be. Returns 0 with @res filled, or -ETIMEDOUT.
 */
static int h_exec(struct h_rdev *rd, const uint8_t *cdb, size_t cdb_len,
		  void *buf, size_t len, unsigned int nsplit,
		  struct h_result *res)
{
	struct h_cmd *hc;
	struct timespec dl;
	size_t off = 0;
	unsigned int i;
	int ret, rc = 0;

	memset(res, 0, sizeof(*res));
	hc = calloc(1, sizeof(*hc));
	if (!hc)
		return -ENOMEM;
	pthread_mutex_init(&hc->lock, NULL);
	pthread_cond_init(&hc->cond, NULL);
	hc->rdev = rd;
	memcpy(hc->cdb, cdb, cdb_len < H_CDB_MAX ? cdb_len : H_CDB_MAX);

	if (!len || !nsplit)
		nsplit = 1;
	if (nsplit > H_MAX_IOV)
		nsplit = H_MAX_IOV;
	for (i = 0; i < nsplit && off < len; i++) {
		/* uneven pieces: 1/2, 1/4, ... the rest last */
		size_t piece = i + 1 == nsplit ? len - off : (len - off) / 2;

		if (!piece)
			piece = len - off;
		hc->iov[i].iov_base = (uint8_t *)buf + off;
		hc->iov[i].iov_len = piece;
		off += piece;
	}
	hc->lib.cmd_id = rd->next_id++;
	hc->lib.cdb = hc->cdb;
	hc->lib.iovec = hc->iov;
	hc->lib.iov_cnt = len ? i : 0;
	hc->lib.hm_private = &hc->tcmur;
	/* tcmur_tcmulib_cmd_start() */
	hc->tcmur.lib_cmd = &hc->lib;
	hc->tcmur.cmds_list_entry.next = &hc->tcmur.cmds_list_entry;
	hc->tcmur.cmds_list_entry.prev = &hc->tcmur.cmds_list_entry;

	ret = h_generic_handle_cmd(rd, hc);
	if (hc->async_handle_cmd)
		return -EPROTO; /* abandoned: see h_generic_handle_cmd */
	if (ret != TCMU_STS_ASYNC_HANDLED)
		h_finish(hc, ret);

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += H_CMD_TIMEOUT_MS / 1000;
	pthread_mutex_lock(&hc->lock);
	while (!hc->finished && rc == 0)
		rc = pthread_cond_timedwait(&hc->cond, &hc->lock, &dl);
	pthread_mutex_unlock(&hc->lock);
	if (!hc->finished) {
		/* Abandoned, never freed: a late completion stays safe. */
		h_violation("command 0x%02x not completed within %d ms", cdb[0],
			    H_CMD_TIMEOUT_MS);
		return -ETIMEDOUT;
	}

	res->sts = hc->sts;
	res->status = h_sts_to_scsi(hc->sts, hc->lib.sense_buf);
	memcpy(res->sense, hc->lib.sense_buf, sizeof(res->sense));
	hc->next_retired = rd->retired;
	rd->retired = hc;
	return 0;
}

/* ---- CDB builders ------------------------------------------------------- */

static void h_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void h_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void h_be64(uint8_t *p, uint64_t v)
{
	h_be32(p, (uint32_t)(v >> 32));
	h_be32(p + 4, (uint32_t)v);
}

/* READ/WRITE 6, 10, 12 or 16 (@size), with @flags in byte 1 (FUA...). */
static size_t h_cdb_rw(uint8_t *cdb, bool is_read, unsigned int size,
		       uint64_t lba, uint32_t nblocks, uint8_t flags)
{
	memset(cdb, 0, H_CDB_MAX);
	switch (size) {
	case 6:
		cdb[0] = is_read ? SCSI_OP_READ_6 : SCSI_OP_WRITE_6;
		cdb[1] = (uint8_t)((lba >> 16) & 0x1f);
		cdb[2] = (uint8_t)(lba >> 8);
		cdb[3] = (uint8_t)lba;
		cdb[4] = (uint8_t)nblocks;
		return 6;
	case 10:
		cdb[0] = is_read ? SCSI_OP_READ_10 : SCSI_OP_WRITE_10;
		cdb[1] = flags;
		h_be32(cdb + 2, (uint32_t)lba);
		h_be16(cdb + 7, (uint16_t)nblocks);
		return 10;
	case 12:
		cdb[0] = is_read ? SCSI_OP_READ_12 : SCSI_OP_WRITE_12;
		cdb[1] = flags;
		h_be32(cdb + 2, (uint32_t)lba);
		h_be32(cdb + 6, nblocks);
		return 12;
	default:
		cdb[0] = is_read ? SCSI_OP_READ_16 : SCSI_OP_WRITE_16;
		cdb[1] = flags;
		h_be64(cdb + 2, lba);
		h_be32(cdb + 10, nblocks);
		return 16;
	}
}

/* ---- data helpers -------------------------------------------------------- */

static uint64_t h_rng = 0x9e3779b97f4a7c15ull;

static void h_fill_random(uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		h_rng ^= h_rng << 13;
		h_rng ^= h_rng >> 7;
		h_rng ^= h_rng << 17;
		p[i] = (uint8_t)(h_rng >> 24);
	}
}

static bool h_all(const uint8_t *p, size_t len, uint8_t v)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != v)
			return false;
	return true;
}

static uint8_t h_sense_key(const struct h_result *r)
{
	return r->sense[SCSI_SENSE_KEY] & 0x0f;
}

static uint16_t h_sense_asc(const struct h_result *r)
{
	return (uint16_t)(r->sense[SCSI_SENSE_ASC] << 8 |
			  r->sense[SCSI_SENSE_ASCQ]);
}

static void h_print_result(const char *what, const struct h_result *r)
{
	fprintf(stderr,
		"tcmu_harness: %s: sts %d status 0x%02x sense key 0x%x asc "
		"%04x\n",
		what, r->sts, r->status, h_sense_key(r), h_sense_asc(r));
}

/* Expect GOOD; prints the sense when not. */
#define H_ASSERT_GOOD(what, r)                                   \
	do {                                                     \
		if ((r)->status != SCSI_STATUS_GOOD)             \
			h_print_result((what), (r));             \
		assert_int_equal((r)->status, SCSI_STATUS_GOOD); \
	} while (0)

/* Expect CHECK CONDITION with @key and ASC/ASCQ @asc. */
#define H_ASSERT_CHECK(what, r, key, asc)                                   \
	do {                                                                \
		if ((r)->status != SCSI_STATUS_CHECK_CONDITION ||           \
		    h_sense_key(r) != (key) || h_sense_asc(r) != (asc))     \
			h_print_result((what), (r));                        \
		assert_int_equal((r)->status, SCSI_STATUS_CHECK_CONDITION); \
		assert_int_equal(h_sense_key(r), (key));                    \
		assert_int_equal(h_sense_asc(r), (asc));                    \
	} while (0)

/* READ or WRITE through @size-byte CDBs; asserts GOOD. */
static void h_io(struct h_rdev *rd, bool is_read, unsigned int size,
		 uint64_t lba, uint32_t nblocks, uint8_t flags, uint8_t *buf,
		 unsigned int nsplit)
{
	uint8_t cdb[H_CDB_MAX];
	struct h_result r;
	size_t n;

	n = h_cdb_rw(cdb, is_read, size, lba, nblocks, flags);
	assert_int_equal(h_exec(rd, cdb, n, buf, (size_t)nblocks * H_BLOCK,
				nsplit, &r),
			 0);
	H_ASSERT_GOOD(is_read ? "READ" : "WRITE", &r);
	assert_int_equal(atomic_load(&h_violations), 0);
}

/* ---- plugin checks ----------------------------------------------------- */

static const char *const h_runner_exports[] = {
	"tcmur_register_handler", "tcmur_cmd_complete",
	"tcmur_dev_set_private",  "tcmur_dev_get_private",
	"tcmur_dev_update_size",  "tcmu_notify_lock_lost",
	"tcmu_notify_conn_lost",  "tcmu_notify_cmd_timed_out",
};

static bool h_is_runner_export(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(h_runner_exports) / sizeof(h_runner_exports[0]);
	     i++)
		if (!strcmp(name, h_runner_exports[i]))
			return true;
	return false;
}

/*
 * Walk the plugin's dynamic symbols. Each undefined strong symbol must be
 * one of the runner's eight exports or resolve inside the plugin's own
 * dependency tree (libtcmu, libc, ...): under the real runner nothing else
 * is there, and RTLD_NOW would refuse the plugin. The only defined global
 * must be handler_init. Returns the number of problems found.
 */
static int h_check_plugin_symbols(const char *path, void *dl)
{
	const Elf64_Ehdr *eh;
	const Elf64_Shdr *sh;
	const uint8_t *base;
	struct stat st;
	int fd, problems = 0, exports = 0;
	unsigned int i;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		fprintf(stderr, "tcmu_harness: %s: %s\n", path,
			strerror(errno));
		return 1;
	}
	base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (base == MAP_FAILED)
		return 1;
	eh = (const Elf64_Ehdr *)base;
	if ((size_t)st.st_size < sizeof(*eh) ||
	    memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(*sh) >
		    (uint64_t)st.st_size) {
		munmap((void *)base, (size_t)st.st_size);
		fprintf(stderr, "tcmu_harness: %s: not a 64-bit ELF\n", path);
		return 1;
	}
	sh = (const Elf64_Shdr *)(base + eh->e_shoff);
	for (i = 0; i < eh->e_shnum; i++) {
		const Elf64_Sym *sym;
		const char *strtab;
		size_t j, nsym;

		if (sh[i].sh_type != SHT_DYNSYM || sh[i].sh_link >= eh->e_shnum)
			continue;
		sym = (const Elf64_Sym *)(base + sh[i].sh_offset);
		nsym = sh[i].sh_size / sizeof(*sym);
		strtab = (const char *)(base + sh[sh[i].sh_link].sh_offset);
		for (j = 1; j < nsym; j++) {
			const char *name = strtab + sym[j].st_name;
			int bind = ELF64_ST_BIND(sym[j].st_info);

			if (!*name || bind == STB_LOCAL)
				continue;
			if (sym[j].st_shndx != SHN_UNDEF) {
				exports++;
				if (strcmp(name, "handler_init")) {
					fprintf(stderr,
						"tcmu_harness: plugin exports "
						"%s (only handler_init "
						"allowed)\n",
						name);
					problems++;
				}
				continue;
			}
			if (bind == STB_WEAK || h_is_runner_export(name))
				continue;
			dlerror();
			if (!dlsym(dl, name)) {
				fprintf(stderr,
					"tcmu_harness: plugin imports %s, "
					"which neither tcmu-runner nor its "
					"libraries provide\n",
					name);
				problems++;
			}
			if (!strcmp(name, "tcmu_dev_get_private"))
				fprintf(stderr, "tcmu_harness: note: plugin "
						"imports "
						"tcmu_dev_get_private (the "
						"runner's "
						"state, not the handler's)\n");
		}
	}
	munmap((void *)base, (size_t)st.st_size);
	if (exports != 1) {
		fprintf(stderr, "tcmu_harness: plugin has %d exports\n",
			exports);
		problems++;
	}
	return problems;
}

/* ---- fixtures ------------------------------------------------------------ */

static const char *h_env_or(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && *v ? v : def;
}

/* cfgstring for @lun on the shared cluster, plus @extra options. */
static void h_cfg(char *out, size_t len, const char *lun, const char *extra)
{
	int n = snprintf(out, len, "spanblk/%s;conf=%s%s", lun, h_cluster.conf,
			 extra ? extra : "");

	assert_true(n > 0 && (size_t)n < len);
}

/*
 * What a test allocated, released by h_test_teardown even when an assert
 * fails half-way (cmocka leaves the test function with a longjmp).
 */
#define H_TRACK_MAX 16
static void *h_scratch_ptr[H_TRACK_MAX];
static struct h_rdev *h_devs[H_TRACK_MAX];

/* calloc that h_test_teardown frees. */
static void *h_scratch(size_t len)
{
	unsigned int i;
	void *p;

	for (i = 0; i < H_TRACK_MAX && h_scratch_ptr[i]; i++)
		;
	assert_true(i < H_TRACK_MAX);
	p = calloc(1, len);
	assert_non_null(p);
	h_scratch_ptr[i] = p;
	return p;
}

/* Hand @rd to h_test_teardown (closed and freed there). */
static struct h_rdev *h_track_dev(struct h_rdev *rd)
{
	unsigned int i;

	assert_non_null(rd);
	for (i = 0; i < H_TRACK_MAX && h_devs[i]; i++)
		;
	assert_true(i < H_TRACK_MAX);
	h_devs[i] = rd;
	return rd;
}

/* Close and free @rd now (before the test's end). */
static void h_untrack_free(struct h_rdev *rd)
{
	unsigned int i;

	for (i = 0; i < H_TRACK_MAX; i++)
		if (h_devs[i] == rd)
			h_devs[i] = NULL;
	h_dev_free(rd);
}

/*
 * Wait until our engine is connected to every node again (it reconnects
 * with back-off after a node restart). Returns true when all are up.
 */
static bool h_wait_nodes_up(int timeout_ms)
{
	int waited;
	unsigned int i, up;

	for (waited = 0;; waited += 50) {
		for (i = 0, up = 0; i < H_NODES; i++)
			up += sb_engine_node_up(h_eng, i);
		if (up == H_NODES)
			return true;
		if (waited >= timeout_ms)
			return false;
		usleep(50 * 1000);
	}
}

/* Create LUN @lun of @size bytes on the nodes, then open a device on it. */
static struct h_rdev *h_open_lun(const char *lun, uint64_t size)
{
	char cfg[PATH_MAX + 128];
	struct h_rdev *rd;
	int ret;

	assert_true(h_wait_nodes_up(10000));
	ret = sb_engine_lun_create(h_eng, lun, size);
	if (ret && ret != -EEXIST)
		fprintf(stderr, "tcmu_harness: LUN_CREATE %s: %s\n", lun,
			strerror(-ret));
	assert_true(ret == 0 || ret == -EEXIST);
	h_cfg(cfg, sizeof(cfg), lun, NULL);
	rd = h_track_dev(h_dev_new(lun, cfg, size));
	ret = h_handler->open(h_dev(rd), false);
	if (ret)
		fprintf(stderr, "tcmu_harness: open(%s): %s\n", cfg,
			strerror(-ret));
	assert_int_equal(ret, 0);
	rd->opened = true;
	assert_non_null(tcmur_dev_get_private(h_dev(rd)));
	assert_int_equal(atomic_load(&h_violations), 0);
	return rd;
}

static int h_group_setup(void **state)
{
	const char *spanblkd = h_env_or("SPANBLKD", H_DEFAULT_SPANBLKD);
	char err[256];
	struct sb_cluster cl;
	struct xp_secret secret;
	int (*init)(void);
	char *dlerr;
	int ret;

	(void)state;
	/* What tcmu-runner's main() does before loading handlers. */
	snprintf(h_logdir, sizeof(h_logdir), "%s/tcmu_harness.XXXXXX",
		 h_env_or("TMPDIR", "/tmp"));
	if (!mkdtemp(h_logdir)) {
		fprintf(stderr, "tcmu_harness: mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	ret = tcmu_setup_log(h_logdir);
	if (ret) {
		fprintf(stderr, "tcmu_harness: tcmu_setup_log: %d\n", ret);
		return -1;
	}
	h_selfcheck();

	/* open_handlers(): exactly the runner's dlopen flags. */
	h_dl = dlopen(h_so_path, RTLD_NOW | RTLD_LOCAL);
	if (!h_dl) {
		fprintf(stderr, "tcmu_harness: dlopen: %s\n", dlerror());
		return -1;
	}
	dlerror();
	init = (int (*)(void))dlsym(h_dl, "handler_init");
	dlerr = dlerror();
	if (dlerr || !init) {
		fprintf(stderr, "tcmu_harness: dlsym(handler_init): %s\n",
			dlerr ? dlerr : "NULL");
		return -1;
	}
	ret = init();
	if (ret || !h_handler || h_registrations != 1) {
		fprintf(stderr,
			"tcmu_harness: handler_init() = %d, %u "
			"registrations\n",
			ret, h_registrations);
		return -1;
	}

	ret = tl_cluster_start(&h_cluster, H_NODES, H_REPLICAS, H_CHUNK,
			       H_IO_TIMEOUT_MS, spanblkd);
	if (ret) {
		fprintf(stderr, "tcmu_harness: tl_cluster_start(%s): %s\n",
			spanblkd, strerror(-ret));
		return -1;
	}
	ret = sb_cluster_load(h_cluster.conf, &cl, err, sizeof(err));
	if (!ret)
		ret = xp_secret_load(cl.secret_file, &secret);
	if (ret) {
		fprintf(stderr, "tcmu_harness: cluster: %s\n", err);
		return -1;
	}
	h_eng = sb_engine_new(&cl, &secret, err, sizeof(err));
	if (!h_eng) {
		fprintf(stderr, "tcmu_harness: sb_engine_new: %s\n", err);
		return -1;
	}
	if (sb_engine_wait_ready(h_eng, 10000) != H_NODES) {
		fprintf(stderr, "tcmu_harness: nodes not reachable\n");
		return -1;
	}
	return 0;
}

static int h_group_teardown(void **state)
{
	unsigned int i;

	(void)state;
	fprintf(stderr, "tcmu_harness: callouts:");
	for (i = 0; i < H_CALL_MAX; i++)
		fprintf(stderr, " %s %u", h_call_names[i],
			atomic_load(&h_calls[i]));
	fprintf(stderr, "; violations %u\n", atomic_load(&h_violations));
	sb_engine_free(h_eng);
	h_eng = NULL;
	/* tcmu-runner's exit path: destroy, no dlclose. */
	if (h_handler && h_handler->destroy)
		h_handler->destroy();
	tl_cluster_destroy(&h_cluster);
	tcmu_destroy_log();
	return 0;
}

/*
 * After each test: close its devices, free its buffers, restart any node
 * a failed test left down, and fail on violations it caused.
 */
static int h_test_teardown(void **state)
{
	unsigned int i;
	int ret = 0;

	(void)state;
	for (i = 0; i < H_TRACK_MAX; i++) {
		h_dev_free(h_devs[i]);
		h_devs[i] = NULL;
		free(h_scratch_ptr[i]);
		h_scratch_ptr[i] = NULL;
	}
	for (i = 0; i < H_NODES; i++) {
		if (h_cluster.nodes[i].pid <= 0 &&
		    tl_node_start(&h_cluster, i) < 0)
			ret = -1;
	}
	if (atomic_exchange(&h_violations, 0)) {
		fprintf(stderr, "tcmu_harness: the test above caused "
				"violations\n");
		ret = -1;
	}
	return ret;
}

/* STAT node @idx through our engine (counters only). 0 or -errno. */
static int h_stat(unsigned int idx, struct xp_stat *st)
{
	struct xp_stat_lun *luns = NULL;
	int ret;

	ret = sb_engine_stat(h_eng, idx, st, &luns);
	free(luns);
	return ret < 0 ? ret : 0;
}

/* ---- tests ------------------------------------------------------------ */

/* The loaded plugin as the runner sees it. */
static void test_plugin_abi(void **state)
{
	(void)state;
	assert_non_null(h_handler);
	assert_string_equal(h_handler->subtype, "spanblk");
	assert_non_null(h_handler->name);
	assert_non_null(h_handler->cfg_desc);
	assert_non_null(h_handler->open);
	assert_non_null(h_handler->close);
	assert_non_null(h_handler->check_config);
	assert_int_equal(h_handler->nr_threads, 0);
	assert_false(h_handler->_is_dbus_handler);
	/* A read/write handler: otherwise the runner treats it as
	 * passthrough-only and emulates nothing. */
	assert_true(h_handler->read && h_handler->write && h_handler->flush);
	/* A second registration of the subtype is refused. */
	assert_int_equal(tcmur_register_handler(h_handler), -1);
	assert_int_equal(h_check_plugin_symbols(h_so_path, h_dl), 0);
}

/* Random data through every READ/WRITE size, across chunk boundaries. */
static void test_rw_patterns(void **state)
{
	const uint64_t chunk_lbas = H_CHUNK / H_BLOCK;
	struct h_rdev *rd;
	uint8_t *w, *r;
	size_t max = (size_t)H_MAX_SECTORS * H_BLOCK;
	static const struct {
		unsigned int wsize, rsize;
		uint64_t lba;
		uint32_t n;
		uint8_t wflags;
	} io[] = {
		/* 10: straddles the chunk 0/1 boundary */
		{10, 10, 128 - 7, 20, 0},
		/* 16: a whole max transfer over the chunk 2/3 boundary */
		{16, 16, 3 * 128 - 64, 128, 0},
		/* written with 16, read with 10 and back */
		{16, 10, 5 * 128 - 1, 2, 0},
		{10, 16, 7 * 128 + 3, 100, 0},
		/* 6 and 12 at least once, one of them across a boundary */
		{6, 6, 9 * 128 - 4, 8, 0},
		{12, 12, 11 * 128 - 30, 60, 0},
		{6, 12, 12 * 128, 1, 0},
		/* FUA writes */
		{10, 10, 13 * 128 - 16, 32, SCSI_CDB_FUA},
		{16, 16, 14 * 128 - 1, 2, SCSI_CDB_FUA},
	};
	size_t i;

	(void)state;
	assert_true(chunk_lbas == 128);
	rd = h_open_lun("harness-rw", H_LUN_SIZE);
	w = h_scratch(max);
	r = h_scratch(max);

	for (i = 0; i < sizeof(io) / sizeof(io[0]); i++) {
		size_t len = (size_t)io[i].n * H_BLOCK;

		h_fill_random(w, len);
		memset(r, 0xa5, len);
		h_io(rd, false, io[i].wsize, io[i].lba, io[i].n, io[i].wflags,
		     w, 1 + (unsigned int)(i % H_MAX_IOV));
		h_io(rd, true, io[i].rsize, io[i].lba, io[i].n, 0, r,
		     1 + (unsigned int)((i + 1) % H_MAX_IOV));
		if (memcmp(w, r, len))
			fprintf(stderr, "tcmu_harness: data mismatch, io %zu\n",
				i);
		assert_memory_equal(w, r, len);
	}

	/* Rewrite the middle of an earlier range; neighbours intact. */
	h_fill_random(w, 4 * H_BLOCK);
	h_io(rd, false, 10, 128 - 2, 4, 0, w, 2);
	h_io(rd, true, 16, 128 - 7, 20, 0, r, 3);
	assert_memory_equal(r + 5 * H_BLOCK, w, 4 * H_BLOCK);

	/* Never-written blocks read back as zeros. */
	h_io(rd, true, 10, 15 * 128 + 5, 16, 0, r, 1);
	assert_true(h_all(r, 16 * H_BLOCK, 0));
}

/* UNMAP parameter list, then zeros; other blocks untouched. */
static void test_unmap(void **state)
{
	uint8_t cdb[H_CDB_MAX] = {0};
	uint8_t par[8 + 2 * 16] = {0};
	size_t len = 300 * H_BLOCK;
	struct h_result res;
	struct h_rdev *rd;
	uint8_t *w, *r;

	(void)state;
	rd = h_open_lun("harness-unmap", H_LUN_SIZE);
	w = h_scratch(len);
	r = h_scratch(len);
	h_fill_random(w, len);
	/* 300 blocks from LBA 100 (chunks 0..3), in 128-block writes */
	h_io(rd, false, 16, 100, 128, 0, w, 1);
	h_io(rd, false, 16, 228, 128, 0, w + 128 * H_BLOCK, 2);
	h_io(rd, false, 16, 356, 44, 0, w + 256 * H_BLOCK, 1);

	/* two descriptors: LBA 110 +40 (inside chunk 0) and 200 +150
	 * (chunks 1..2, across the boundary at 256) */
	h_be16(par, sizeof(par) - 2);
	h_be16(par + 2, 32);
	h_be64(par + 8, 110);
	h_be32(par + 16, 40);
	h_be64(par + 24, 200);
	h_be32(par + 32, 150);
	cdb[0] = SCSI_OP_UNMAP;
	h_be16(cdb + 7, sizeof(par));
	assert_int_equal(h_exec(rd, cdb, 10, par, sizeof(par), 1, &res), 0);
	H_ASSERT_GOOD("UNMAP", &res);

	memset(r, 0x5a, len);
	h_io(rd, true, 16, 100, 128, 0, r, 1);
	h_io(rd, true, 16, 228, 128, 0, r + 128 * H_BLOCK, 3);
	h_io(rd, true, 16, 356, 44, 0, r + 256 * H_BLOCK, 1);
	/* relative to LBA 100: [0,10) data, [10,50) zero, [50,100) data,
	 * [100,250) zero, [250,300) data */
	assert_memory_equal(r, w, 10 * H_BLOCK);
	assert_true(h_all(r + 10 * H_BLOCK, 40 * H_BLOCK, 0));
	assert_memory_equal(r + 50 * H_BLOCK, w + 50 * H_BLOCK, 50 * H_BLOCK);
	assert_true(h_all(r + 100 * H_BLOCK, 150 * H_BLOCK, 0));
	assert_memory_equal(r + 250 * H_BLOCK, w + 250 * H_BLOCK, 50 * H_BLOCK);

	/* ANCHOR is not supported: INVALID FIELD IN CDB */
	cdb[1] = 0x01;
	assert_int_equal(h_exec(rd, cdb, 10, par, sizeof(par), 1, &res), 0);
	H_ASSERT_CHECK("UNMAP ANCHOR", &res, SCSI_SK_ILLEGAL_REQUEST,
		       SCSI_ASC_INVALID_FIELD_IN_CDB);
	assert_int_equal(atomic_load(&h_violations), 0);
}

/* WRITE SAME(16) with a pattern, then with the UNMAP bit. */
static void test_write_same(void **state)
{
	uint8_t cdb[H_CDB_MAX] = {0};
	uint8_t block[H_BLOCK];
	const uint32_t n = 300;
	const uint64_t lba = 500;
	struct h_result res;
	struct h_rdev *rd;
	uint8_t *r;
	uint32_t i;

	(void)state;
	rd = h_open_lun("harness-ws", H_LUN_SIZE);
	r = h_scratch((size_t)128 * H_BLOCK);
	h_fill_random(block, sizeof(block));

	cdb[0] = SCSI_OP_WRITE_SAME_16;
	h_be64(cdb + 2, lba);
	h_be32(cdb + 10, n);
	assert_int_equal(h_exec(rd, cdb, 16, block, sizeof(block), 1, &res), 0);
	H_ASSERT_GOOD("WRITE SAME(16)", &res);
	for (i = 0; i < n; i += 100) {
		uint32_t k;

		h_io(rd, true, 16, lba + i, 100, 0, r, 2);
		for (k = 0; k < 100; k++)
			assert_memory_equal(r + (size_t)k * H_BLOCK, block,
					    H_BLOCK);
	}
	/* the blocks around are untouched (zero) */
	h_io(rd, true, 10, lba - 1, 1, 0, r, 1);
	assert_true(h_all(r, H_BLOCK, 0));
	h_io(rd, true, 10, lba + n, 1, 0, r, 1);
	assert_true(h_all(r, H_BLOCK, 0));

	/* UNMAP bit with a zero block: the range reads back as zeros. */
	memset(block, 0, sizeof(block));
	cdb[1] = SCSI_CDB_WS_UNMAP;
	assert_int_equal(h_exec(rd, cdb, 16, block, sizeof(block), 1, &res), 0);
	H_ASSERT_GOOD("WRITE SAME(16) UNMAP", &res);
	for (i = 0; i < n; i += 100) {
		h_io(rd, true, 16, lba + i, 100, 0, r, 1);
		assert_true(h_all(r, (size_t)100 * H_BLOCK, 0));
	}
}

/* COMPARE AND WRITE: a match replaces the data, a miscompare says where. */
static void test_compare_and_write(void **state)
{
	uint8_t cdb[H_CDB_MAX] = {0};
	uint8_t old[H_BLOCK], neu[H_BLOCK], buf[2 * H_BLOCK], r[H_BLOCK];
	const uint64_t lba = 128 + 127; /* last block of chunk 1 */
	const size_t diff = 300;
	struct h_result res;
	struct h_rdev *rd;
	uint32_t info;

	(void)state;
	rd = h_open_lun("harness-caw", H_LUN_SIZE);
	h_fill_random(old, sizeof(old));
	h_fill_random(neu, sizeof(neu));
	h_io(rd, false, 10, lba, 1, 0, old, 1);

	cdb[0] = SCSI_OP_COMPARE_AND_WRITE;
	h_be64(cdb + 2, lba);
	cdb[13] = 1;
	memcpy(buf, old, H_BLOCK);
	memcpy(buf + H_BLOCK, neu, H_BLOCK);
	assert_int_equal(h_exec(rd, cdb, 16, buf, sizeof(buf), 2, &res), 0);
	H_ASSERT_GOOD("COMPARE AND WRITE (match)", &res);
	h_io(rd, true, 16, lba, 1, 0, r, 1);
	assert_memory_equal(r, neu, H_BLOCK);

	/* compare data differs from the medium at byte @diff */
	memcpy(buf, neu, H_BLOCK);
	buf[diff] ^= 0xff;
	memcpy(buf + H_BLOCK, old, H_BLOCK);
	assert_int_equal(h_exec(rd, cdb, 16, buf, sizeof(buf), 3, &res), 0);
	H_ASSERT_CHECK("COMPARE AND WRITE (miscompare)", &res,
		       SCSI_SK_MISCOMPARE, SCSI_ASC_MISCOMPARE_DURING_VERIFY);
	assert_true(res.sense[0] & SCSI_SENSE_VALID);
	assert_int_equal(res.sense[0] & 0x7f, SCSI_SENSE_FIXED_CURRENT);
	info = (uint32_t)res.sense[3] << 24 | (uint32_t)res.sense[4] << 16 |
	       (uint32_t)res.sense[5] << 8 | res.sense[6];
	assert_int_equal(info, diff);
	/* nothing written */
	h_io(rd, true, 10, lba, 1, 0, r, 1);
	assert_memory_equal(r, neu, H_BLOCK);

	/* with FUA, matching again */
	cdb[1] = SCSI_CDB_FUA;
	memcpy(buf, neu, H_BLOCK);
	memcpy(buf + H_BLOCK, old, H_BLOCK);
	assert_int_equal(h_exec(rd, cdb, 16, buf, sizeof(buf), 1, &res), 0);
	H_ASSERT_GOOD("COMPARE AND WRITE FUA", &res);
	h_io(rd, true, 10, lba, 1, 0, r, 1);
	assert_memory_equal(r, old, H_BLOCK);
}

/* SYNCHRONIZE CACHE 10 and 16: GOOD, and every node flushed. */
static void test_sync_cache(void **state)
{
	uint8_t cdb[H_CDB_MAX];
	struct xp_stat before[H_NODES], after[H_NODES];
	uint8_t w[8 * H_BLOCK];
	struct h_result res;
	struct h_rdev *rd;
	unsigned int i, round;

	(void)state;
	rd = h_open_lun("harness-sync", H_LUN_SIZE);
	for (round = 0; round < 2; round++) {
		h_fill_random(w, sizeof(w));
		h_io(rd, false, 10, 64 + round * 128, 8, 0, w, 1);
		for (i = 0; i < H_NODES; i++)
			assert_int_equal(h_stat(i, &before[i]), 0);

		memset(cdb, 0, sizeof(cdb));
		if (round == 0) {
			cdb[0] = SCSI_OP_SYNCHRONIZE_CACHE_10;
			assert_int_equal(h_exec(rd, cdb, 10, NULL, 0, 1, &res),
					 0);
		} else {
			cdb[0] = SCSI_OP_SYNCHRONIZE_CACHE_16;
			assert_int_equal(h_exec(rd, cdb, 16, NULL, 0, 1, &res),
					 0);
		}
		H_ASSERT_GOOD("SYNCHRONIZE CACHE", &res);

		for (i = 0; i < H_NODES; i++) {
			assert_int_equal(h_stat(i, &after[i]), 0);
			if (after[i].ops_flush <= before[i].ops_flush)
				fprintf(stderr,
					"tcmu_harness: node %u flushes %llu "
					"-> %llu\n",
					i,
					(unsigned long long)before[i].ops_flush,
					(unsigned long long)after[i].ops_flush);
			assert_true(after[i].ops_flush > before[i].ops_flush);
		}
	}
}

/* Range and field errors come back as the right sense. */
static void test_errors(void **state)
{
	uint8_t cdb[H_CDB_MAX];
	uint8_t buf[4 * H_BLOCK] = {0};
	const uint64_t nlbas = H_LUN_SIZE / H_BLOCK;
	struct h_result res;
	struct h_rdev *rd;
	size_t n;

	(void)state;
	rd = h_open_lun("harness-err", H_LUN_SIZE);

	/* READ(10) of the last block + 1 */
	n = h_cdb_rw(cdb, true, 10, nlbas - 1, 2, 0);
	assert_int_equal(h_exec(rd, cdb, n, buf, 2 * H_BLOCK, 1, &res), 0);
	H_ASSERT_CHECK("READ past end", &res, SCSI_SK_ILLEGAL_REQUEST,
		       SCSI_ASC_LBA_OUT_OF_RANGE);
	/* WRITE(16) far beyond the end */
	n = h_cdb_rw(cdb, false, 16, 1ull << 40, 1, 0);
	assert_int_equal(h_exec(rd, cdb, n, buf, H_BLOCK, 1, &res), 0);
	H_ASSERT_CHECK("WRITE past end", &res, SCSI_SK_ILLEGAL_REQUEST,
		       SCSI_ASC_LBA_OUT_OF_RANGE);
	/* LBA + length wrapping around 2^64 */
	n = h_cdb_rw(cdb, true, 16, UINT64_MAX, 2, 0);
	assert_int_equal(h_exec(rd, cdb, n, buf, 2 * H_BLOCK, 1, &res), 0);
	H_ASSERT_CHECK("READ wrapping", &res, SCSI_SK_ILLEGAL_REQUEST,
		       SCSI_ASC_LBA_OUT_OF_RANGE);
	/* the last block itself is fine */
	n = h_cdb_rw(cdb, true, 10, nlbas - 1, 1, 0);
	assert_int_equal(h_exec(rd, cdb, n, buf, H_BLOCK, 1, &res), 0);
	H_ASSERT_GOOD("READ last block", &res);

	/* WRITE SAME with NUMBER OF LOGICAL BLOCKS 0 (WSNZ) */
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = SCSI_OP_WRITE_SAME_16;
	h_be64(cdb + 2, 8);
	assert_int_equal(h_exec(rd, cdb, 16, buf, H_BLOCK, 1, &res), 0);
	H_ASSERT_CHECK("WRITE SAME 0 blocks", &res, SCSI_SK_ILLEGAL_REQUEST,
		       SCSI_ASC_INVALID_FIELD_IN_CDB);
	/* WRITE AND VERIFY(10) with WRPROTECT: no protection information */
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = SCSI_OP_WRITE_VERIFY_10;
	cdb[1] = 0x20;
	h_be32(cdb + 2, 8);
	cdb[8] = 1;
	assert_int_equal(h_exec(rd, cdb, 10, buf, H_BLOCK, 1, &res), 0);
	H_ASSERT_CHECK("WRITE AND VERIFY WRPROTECT", &res,
		       SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_CDB);
	/* COMPARE AND WRITE of more blocks than advertised (1) */
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = SCSI_OP_COMPARE_AND_WRITE;
	h_be64(cdb + 2, 8);
	cdb[13] = 2;
	assert_int_equal(h_exec(rd, cdb, 16, buf, 4 * H_BLOCK, 1, &res), 0);
	H_ASSERT_CHECK("COMPARE AND WRITE 2 blocks", &res,
		       SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_CDB);
	/* UNMAP descriptor past the end */
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = SCSI_OP_UNMAP;
	{
		uint8_t par[24] = {0};

		h_be16(par, 22);
		h_be16(par + 2, 16);
		h_be64(par + 8, nlbas - 1);
		h_be32(par + 16, 2);
		h_be16(cdb + 7, sizeof(par));
		assert_int_equal(h_exec(rd, cdb, 10, par, sizeof(par), 1, &res),
				 0);
		H_ASSERT_CHECK("UNMAP past end", &res, SCSI_SK_ILLEGAL_REQUEST,
			       SCSI_ASC_LBA_OUT_OF_RANGE);
	}
	/* an opcode nobody implements */
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0x01; /* REZERO UNIT, obsolete in SBC */
	assert_int_equal(h_exec(rd, cdb, 6, NULL, 0, 1, &res), 0);
	H_ASSERT_CHECK("unknown opcode", &res, SCSI_SK_ILLEGAL_REQUEST,
		       SCSI_ASC_INVALID_OPCODE);
	/* TEST UNIT READY is the runner's */
	memset(cdb, 0, sizeof(cdb));
	assert_int_equal(h_exec(rd, cdb, 6, NULL, 0, 1, &res), 0);
	H_ASSERT_GOOD("TEST UNIT READY", &res);
	assert_int_equal(atomic_load(&h_violations), 0);
}

/*
 * MODE SENSE is the handler's (the runner's says DPOFUA = 0): DPOFUA set,
 * the caching page's WCE, no byte past the ALLOCATION LENGTH or past the
 * answer left over from an earlier command.
 */
static void test_mode_sense(void **state)
{
	uint8_t cdb[H_CDB_MAX] = {0};
	uint8_t buf[256];
	struct h_result res;
	struct h_rdev *rd;
	size_t i;

	(void)state;
	rd = h_open_lun("harness-mode", H_LUN_SIZE);

	/* MODE SENSE(6), all pages, over a buffer full of stale bytes */
	memset(buf, 0xa5, sizeof(buf));
	cdb[0] = SCSI_OP_MODE_SENSE_6;
	cdb[2] = 0x3f;
	cdb[4] = 255;
	assert_int_equal(h_exec(rd, cdb, 6, buf, 255, 3, &res), 0);
	H_ASSERT_GOOD("MODE SENSE(6)", &res);
	assert_int_equal(buf[2] & 0x10, 0x10); /* DPOFUA */
	assert_int_equal(buf[3], 8); /* one block descriptor */
	/* NUMBER OF LOGICAL BLOCKS and LOGICAL BLOCK LENGTH */
	assert_int_equal((uint64_t)buf[4] << 24 | (uint64_t)buf[5] << 16 |
				 (uint64_t)buf[6] << 8 | buf[7],
			 H_LUN_SIZE / H_BLOCK);
	assert_int_equal(buf[9] << 16 | buf[10] << 8 | buf[11], H_BLOCK);
	assert_int_equal(buf[24], 0x08); /* caching page, after 01h */
	assert_int_equal(buf[26] & 0x04, 0x04); /* WCE */
	for (i = (size_t)buf[0] + 1; i < 255; i++)
		assert_int_equal(buf[i], 0);

	/* MODE SENSE(10) truncated to 10 bytes: the rest stays zero */
	memset(buf, 0xa5, sizeof(buf));
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = SCSI_OP_MODE_SENSE_10;
	cdb[1] = 0x08; /* DBD */
	cdb[2] = 0x08;
	cdb[8] = 10;
	assert_int_equal(h_exec(rd, cdb, 10, buf, 64, 1, &res), 0);
	H_ASSERT_GOOD("MODE SENSE(10)", &res);
	assert_int_equal(buf[0] << 8 | buf[1], 8 + 20 - 2);
	assert_int_equal(buf[3], 0x10);
	assert_int_equal(buf[8], 0x08);
	for (i = 10; i < 64; i++)
		assert_int_equal(buf[i], 0);

	/* saved values: SAVING PARAMETERS NOT SUPPORTED */
	cdb[2] = 0xc0 | 0x3f;
	assert_int_equal(h_exec(rd, cdb, 10, buf, 64, 1, &res), 0);
	H_ASSERT_CHECK("MODE SENSE saved", &res, SCSI_SK_ILLEGAL_REQUEST,
		       0x3900);
	/* an unknown page */
	cdb[2] = 0x1c;
	assert_int_equal(h_exec(rd, cdb, 10, buf, 64, 1, &res), 0);
	H_ASSERT_CHECK("MODE SENSE page 1Ch", &res, SCSI_SK_ILLEGAL_REQUEST,
		       SCSI_ASC_INVALID_FIELD_IN_CDB);
	assert_int_equal(atomic_load(&h_violations), 0);
}

/* A node killed and restarted between write and read: data intact. */
static void test_node_restart(void **state)
{
	const size_t len = (size_t)H_MAX_SECTORS * H_BLOCK;
	struct h_rdev *rd;
	uint8_t *w, *r;
	unsigned int i;

	(void)state;
	rd = h_open_lun("harness-restart", H_LUN_SIZE);
	w = h_scratch(4 * len);
	r = h_scratch(4 * len);
	h_fill_random(w, 4 * len);
	for (i = 0; i < 4; i++)
		h_io(rd, false, 16, 60 + (uint64_t)i * 128, 128, 0, w + i * len,
		     2);

	assert_true(tl_node_stop(&h_cluster, 0, SIGKILL) >= 0);
	assert_int_equal(tl_node_start(&h_cluster, 0), 0);

	memset(r, 0, 4 * len);
	for (i = 0; i < 4; i++)
		h_io(rd, true, 16, 60 + (uint64_t)i * 128, 128, 0, r + i * len,
		     3);
	assert_memory_equal(r, w, 4 * len);

	/* Writes work again once the gateway has reconnected; an
	 * initiator retries a failed write, so do we, for a while. */
	h_fill_random(w, len);
	{
		uint8_t cdb[H_CDB_MAX];
		struct h_result res = {0};
		size_t n = h_cdb_rw(cdb, false, 10, 1000, 128, 0);

		for (i = 0; i < 50; i++) {
			assert_int_equal(h_exec(rd, cdb, n, w, len, 1, &res),
					 0);
			if (res.status == SCSI_STATUS_GOOD)
				break;
			usleep(100 * 1000);
		}
		H_ASSERT_GOOD("WRITE after restart", &res);
	}
	h_io(rd, true, 10, 1000, 128, 0, r, 1);
	assert_memory_equal(r, w, len);
}

/* One replica down: every chunk still has a copy, reads are served. */
static void test_replica_down(void **state)
{
	const size_t len = (size_t)H_MAX_SECTORS * H_BLOCK;
	const unsigned int nio = 6; /* chunks 0..6, across all nodes */
	struct h_rdev *rd;
	uint8_t *w, *r;
	unsigned int i;

	(void)state;
	rd = h_open_lun("harness-degraded", H_LUN_SIZE);
	w = h_scratch(nio * len);
	r = h_scratch(nio * len);
	h_fill_random(w, nio * len);
	for (i = 0; i < nio; i++)
		h_io(rd, false, 16, 32 + (uint64_t)i * 128, 128, 0, w + i * len,
		     1);

	assert_true(tl_node_stop(&h_cluster, 1, SIGKILL) >= 0);
	memset(r, 0, nio * len);
	for (i = 0; i < nio; i++)
		h_io(rd, true, 10, 32 + (uint64_t)i * 128, 128, 0, r + i * len,
		     2);
	assert_memory_equal(r, w, nio * len);

	assert_int_equal(tl_node_start(&h_cluster, 1), 0);
}

/* check_config refuses bad cfgstrings with a reason; open fails cleanly. */
static void test_bad_config(void **state)
{
	char good[PATH_MAX + 128], bad[PATH_MAX + 128];
	const char *cases[6];
	char c_name[PATH_MAX + 128], c_key[PATH_MAX + 128];
	char c_repl[PATH_MAX + 128], c_conf[PATH_MAX + 128];
	char c_repl0[PATH_MAX + 128];
	struct h_rdev *rd;
	char *reason;
	size_t i;
	int ret;

	(void)state;
	h_cfg(good, sizeof(good), "harness-cfg", NULL);
	reason = NULL;
	if (!h_handler->check_config(good, &reason))
		fprintf(stderr, "tcmu_harness: good cfgstring refused: %s\n",
			reason ? reason : "(no reason)");
	assert_true(h_handler->check_config(good, &reason));
	free(reason);

	snprintf(c_name, sizeof(c_name), "spanblk/bad name!;conf=%s",
		 h_cluster.conf);
	snprintf(c_key, sizeof(c_key), "spanblk/lun1;conf=%s;colour=blue",
		 h_cluster.conf);
	snprintf(c_repl, sizeof(c_repl), "spanblk/lun1;conf=%s;replicas=x",
		 h_cluster.conf);
	snprintf(c_repl0, sizeof(c_repl0), "spanblk/lun1;conf=%s;replicas=9",
		 h_cluster.conf);
	snprintf(c_conf, sizeof(c_conf),
		 "spanblk/lun1;conf=%s/does-not-exist.conf", h_cluster.dir);
	cases[0] = c_name;
	cases[1] = c_key;
	cases[2] = c_repl;
	cases[3] = c_repl0; /* more replicas than the cluster's 3 nodes */
	cases[4] = c_conf;
	cases[5] = "spanblk/";
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool ok;

		reason = NULL;
		ok = h_handler->check_config(cases[i], &reason);
		if (ok || !reason || !reason[0])
			fprintf(stderr,
				"tcmu_harness: check_config(\"%s\") = %d, "
				"reason \"%s\"\n",
				cases[i], ok, reason ? reason : "(null)");
		assert_false(ok);
		assert_non_null(reason);
		assert_true(strlen(reason) > 0);
		free(reason);
	}

	/* open on a missing cluster file fails, publishes nothing */
	snprintf(bad, sizeof(bad), "%s", c_conf);
	rd = h_track_dev(h_dev_new("harness-badopen", bad, H_LUN_SIZE));
	ret = h_handler->open(h_dev(rd), false);
	assert_true(ret < 0);
	assert_null(tcmur_dev_get_private(h_dev(rd)));
	h_untrack_free(rd);
	/* and on an unknown key */
	rd = h_track_dev(h_dev_new("harness-badopen", c_key, H_LUN_SIZE));
	ret = h_handler->open(h_dev(rd), false);
	assert_true(ret < 0);
	assert_null(tcmur_dev_get_private(h_dev(rd)));
	h_untrack_free(rd);
	assert_int_equal(atomic_load(&h_violations), 0);
}

/*
 * A LUN's layout is the one it was created with: a gateway whose
 * cfgstring sets chunk= creates it that way, another gateway without an
 * override adopts it and reads the same data, and one that insists on
 * another chunk size is refused at open (never placing blocks elsewhere).
 */
static void test_layout(void **state)
{
	const size_t len = 4 * H_CHUNK; /* crosses 128 KiB chunks */
	const uint64_t lba = (H_CHUNK + 4096) / H_BLOCK;
	const size_t piece = 32 * 1024; /* under the max transfer length */
	char cfg[PATH_MAX + 128];
	size_t off;
	struct h_rdev *a, *b, *c;
	uint8_t *w = h_scratch(len), *r = h_scratch(len);
	int ret;

	(void)state;
	assert_true(h_wait_nodes_up(10000));
	h_cfg(cfg, sizeof(cfg), "harness-layout", ";chunk=128K");
	a = h_track_dev(h_dev_new("harness-layout", cfg, H_LUN_SIZE));
	assert_int_equal(h_handler->open(h_dev(a), false), 0);
	a->opened = true;
	h_fill_random(w, len);
	for (off = 0; off < len; off += piece)
		h_io(a, false, 16, lba + off / H_BLOCK,
		     (uint32_t)(piece / H_BLOCK), 0, w + off, 3);

	h_cfg(cfg, sizeof(cfg), "harness-layout", NULL);
	b = h_track_dev(h_dev_new("harness-layout", cfg, H_LUN_SIZE));
	assert_int_equal(h_handler->open(h_dev(b), false), 0);
	b->opened = true;
	for (off = 0; off < len; off += piece)
		h_io(b, true, 16, lba + off / H_BLOCK,
		     (uint32_t)(piece / H_BLOCK), 0, r + off, 2);
	assert_memory_equal(w, r, len);

	h_cfg(cfg, sizeof(cfg), "harness-layout", ";chunk=64K");
	c = h_track_dev(h_dev_new("harness-layout", cfg, H_LUN_SIZE));
	ret = h_handler->open(h_dev(c), false);
	assert_int_equal(ret, -EMEDIUMTYPE);
	assert_null(tcmur_dev_get_private(h_dev(c)));
	h_untrack_free(c);
	assert_int_equal(atomic_load(&h_violations), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_plugin_abi, h_test_teardown),
		cmocka_unit_test_teardown(test_rw_patterns, h_test_teardown),
		cmocka_unit_test_teardown(test_unmap, h_test_teardown),
		cmocka_unit_test_teardown(test_write_same, h_test_teardown),
		cmocka_unit_test_teardown(test_compare_and_write,
					  h_test_teardown),
		cmocka_unit_test_teardown(test_sync_cache, h_test_teardown),
		cmocka_unit_test_teardown(test_errors, h_test_teardown),
		cmocka_unit_test_teardown(test_mode_sense, h_test_teardown),
		cmocka_unit_test_teardown(test_node_restart, h_test_teardown),
		cmocka_unit_test_teardown(test_replica_down, h_test_teardown),
		cmocka_unit_test_teardown(test_bad_config, h_test_teardown),
		cmocka_unit_test_teardown(test_layout, h_test_teardown),
	};
	const char *so = argc > 1 ? argv[1]
				  : h_env_or("SPANBLK_HANDLER", H_DEFAULT_SO);
	int n;

	n = snprintf(h_so_path, sizeof(h_so_path), "%s", so);
	if (n < 0 || (size_t)n >= sizeof(h_so_path))
		return 2;
	/* dlopen() takes a path with a '/' as a file, not a soname. */
	if (!strchr(h_so_path, '/')) {
		n = snprintf(h_so_path, sizeof(h_so_path), "./%s", so);
		if (n < 0 || (size_t)n >= sizeof(h_so_path))
			return 2;
	}
	/* TCMU_HARNESS_FILTER=test_unmap (cmocka wildcards) runs a subset. */
	if (getenv("TCMU_HARNESS_FILTER"))
		cmocka_set_test_filter(getenv("TCMU_HARNESS_FILTER"));
	return cmocka_run_group_tests(tests, h_group_setup, h_group_teardown);
}
