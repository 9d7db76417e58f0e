/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tcmu_abi.h - the tcmu-runner 1.5.4 handler ABI, declared by spanblk.
 *
 * Debian 12 ships tcmu-runner and libtcmu.so.2 1.5.4 without headers, so
 * this file is our own declaration of everything a loadable handler shares
 * with them. It is written from the v1.5.4 sources and the Debian binaries
 * (docs/tcmu-abi.md lists each fact and where it was confirmed); it is not
 * a copy of upstream headers. Every layout below is pinned with
 * _Static_assert, so a drift fails the build instead of corrupting memory.
 *
 * Who provides what:
 *
 *   tcmu-runner (the executable; exactly eight exported functions)
 *     tcmur_register_handler, tcmur_cmd_complete, tcmur_dev_set_private,
 *     tcmur_dev_get_private, tcmur_dev_update_size, tcmu_notify_lock_lost,
 *     tcmu_notify_conn_lost, tcmu_notify_cmd_timed_out
 *   libtcmu.so.2 (linked by the plugin)
 *     device getters/setters, iovec, CDB and sense helpers, logging
 *   the plugin
 *     int handler_init(void), which calls tcmur_register_handler()
 *
 * The runner dlopen()s the plugin with RTLD_NOW | RTLD_LOCAL: a reference
 * to any runner symbol other than the eight above makes the load fail.
 *
 * struct tcmu_device is libtcmu's private structure and stays opaque here.
 * tcmu_dev_get_private() returns the RUNNER's per-device state, not ours:
 * a handler keeps its state with tcmur_dev_set_private/get_private.
 *
 * Also here, for the handler and the test harness alike: the SCSI opcodes,
 * status bytes, sense keys and ASC/ASCQ pairs spanblk uses (SCSI_*). They
 * are prefixed so they never collide with <scsi/scsi.h>. Handler-private
 * SCSI helpers belong in the handler's own header, not here.
 */
#ifndef SPANBLK_HANDLER_TCMU_ABI_H
#define SPANBLK_HANDLER_TCMU_ABI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

/* ---- opaque types --------------------------------------------------- */

/* libtcmu's per-device structure; read it only through the getters. */
struct tcmu_device;

/* ---- status codes (libtcmu_common.h, anonymous enum) ---------------- */

/*
 * Values a handler callback returns or passes to tcmur_cmd_complete().
 * libtcmu turns them into a SAM status and, for CHECK CONDITION, sense
 * data (tcmu_sts_to_scsi() in libtcmu.c); the comment gives that result.
 */
enum {
	TCMU_STS_ASYNC_HANDLED = -2, /* handle_cmd: completion comes later */
	TCMU_STS_NOT_HANDLED = -1, /* handle_cmd: runner emulates the CDB */
	TCMU_STS_OK = 0, /* GOOD (or "queued" for an async callout) */
	TCMU_STS_NO_RESOURCE = 1, /* TASK SET FULL: initiator retries */
	TCMU_STS_PASSTHROUGH_ERR = 2, /* CHECK CONDITION, handler's sense */
	TCMU_STS_BUSY = 3, /* BUSY */
	TCMU_STS_WR_ERR = 4, /* MEDIUM ERROR 0C/00 */
	TCMU_STS_RD_ERR = 5, /* MEDIUM ERROR 11/00 */
	TCMU_STS_MISCOMPARE = 6, /* MISCOMPARE 1D/00 */
	TCMU_STS_INVALID_CMD = 7, /* ILLEGAL REQUEST 20/00 */
	TCMU_STS_INVALID_CDB = 8, /* ILLEGAL REQUEST 24/00 */
	TCMU_STS_INVALID_PARAM_LIST = 9, /* ILLEGAL REQUEST 26/00 */
	TCMU_STS_INVALID_PARAM_LIST_LEN = 10, /* ILLEGAL REQUEST 1A/00 */
	TCMU_STS_TIMEOUT = 11, /* BUSY */
	TCMU_STS_FENCED = 12, /* NOT READY 04/0B */
	TCMU_STS_HW_ERR = 13, /* HARDWARE ERROR 44/00 */
	TCMU_STS_RANGE = 14, /* ILLEGAL REQUEST 21/00 */
	TCMU_STS_FRMT_IN_PROGRESS = 15, /* NOT READY 04/04 */
	TCMU_STS_CAPACITY_CHANGED = 16, /* UNIT ATTENTION 2A/09 */
	TCMU_STS_NOTSUPP_SAVE_PARAMS = 17, /* ILLEGAL REQUEST 39/00 */
	TCMU_STS_WR_ERR_INCOMPAT_FRMT = 18, /* ILLEGAL REQUEST 30/05 */
	TCMU_STS_TRANSITION = 19, /* NOT READY 04/0A */
	TCMU_STS_IMPL_TRANSITION_ERR = 20, /* UNIT ATTENTION 2A/07 */
	TCMU_STS_EXPL_TRANSITION_ERR = 21, /* HARDWARE ERROR 67/0A */
	TCMU_STS_NO_LOCK_HOLDERS = 22, /* lock helpers only */
	TCMU_STS_NOTSUPP_SEG_DESC_TYPE = 23, /* EXTENDED COPY errors ... */
	TCMU_STS_NOTSUPP_TGT_DESC_TYPE = 24,
	TCMU_STS_CP_TGT_DEV_NOTCONN = 25,
	TCMU_STS_INVALID_CP_TGT_DEV_TYPE = 26,
	TCMU_STS_TOO_MANY_SEG_DESC = 27,
	TCMU_STS_TOO_MANY_TGT_DESC = 28, /* ... up to here */
};

/* Size of tcmulib_cmd.sense_buf (SENSE_BUFFERSIZE upstream). */
#define TCMU_SENSE_BUFFERSIZE 96

/* Tag meaning "no tag" for the lock callouts (USHRT_MAX upstream). */
#define TCMU_INVALID_LOCK_TAG UINT16_MAX

/* Values get_lock_state returns (tcmur_device.h). */
enum {
	TCMUR_DEV_LOCK_UNKNOWN = 0,
	TCMUR_DEV_LOCK_UNLOCKED = 1,
	TCMUR_DEV_LOCK_READ_LOCKING = 2,
	TCMUR_DEV_LOCK_READ_LOCKED = 3,
	TCMUR_DEV_LOCK_WRITE_LOCKING = 4,
	TCMUR_DEV_LOCK_WRITE_LOCKED = 5,
};

/* ---- commands ------------------------------------------------------- */

/*
 * One SCSI command as libtcmu decodes it from the kernel ring. cdb and
 * iovec point into libtcmu's allocation and the kernel's data area (which
 * is lazily populated: never register it with an RDMA device); they stay
 * valid until the command is completed.
 */
struct tcmulib_cmd {
	uint16_t cmd_id; /* kernel's command id */
	uint8_t *cdb; /* the CDB, tcmu_cdb_get_length() bytes */
	struct iovec *iovec; /* data-in/data-out buffer */
	size_t iov_cnt; /* entries in iovec */
	uint8_t sense_buf[TCMU_SENSE_BUFFERSIZE]; /* for PASSTHROUGH_ERR */
	void *hm_private; /* libtcmu-user private, unused by runner */
};

/* ccan's doubly-linked list node, as embedded in struct tcmur_cmd. */
struct tcmu_abi_list_node {
	struct tcmu_abi_list_node *next; /* runner-owned */
	struct tcmu_abi_list_node *prev; /* runner-owned */
};

/*
 * The runner's wrapper around a tcmulib_cmd, handed to every I/O callout
 * and back to tcmur_cmd_complete(). A handler treats it as an opaque
 * completion token: it may read lib_cmd (for the CDB and sense buffer)
 * and must not touch anything else.
 */
struct tcmur_cmd {
	struct tcmulib_cmd *lib_cmd; /* the command being executed */
	struct iovec *iovec; /* runner: compound commands' buffer */
	size_t iov_cnt; /* runner: entries in iovec */
	void *iov_base_copy; /* runner: original iov_base */
	void *cmd_state; /* runner: compound-command state */
	size_t requested; /* runner: bytes of the current callout */
	struct tcmu_abi_list_node cmds_list_entry; /* runner: timeout list */
	struct timespec start_time; /* runner: for the command timeout */
	bool timed_out; /* runner: set when the timeout expired */
	/* runner: continuation run by tcmur_cmd_complete() */
	void (*done)(struct tcmu_device *dev, struct tcmur_cmd *cmd, int ret);
};

/* ---- reconfiguration ------------------------------------------------ */

/* What changed in a reconfig callout (enum tcmulib_cfg_type, libtcmu.h). */
enum tcmulib_cfg_type {
	TCMULIB_CFG_DEV_CFGSTR = 0, /* data.dev_cfgstring */
	TCMULIB_CFG_DEV_SIZE = 1, /* data.dev_size, in bytes */
	TCMULIB_CFG_WRITE_CACHE = 2, /* data.write_cache */
};

/* Argument of the reconfig callout; owned by the caller. */
struct tcmulib_cfg_info {
	enum tcmulib_cfg_type type; /* selects the union member */
	union {
		uint64_t dev_size; /* new size in bytes */
		char *dev_cfgstring; /* new cfgstring */
		bool write_cache; /* new write-cache setting */
	} data;
};

/* ---- the handler table ---------------------------------------------- */

/*
 * One handler, registered with tcmur_register_handler(). The runner keeps
 * the pointer: the table must outlive the plugin (a static object).
 *
 * How tcmu-runner 1.5.4 drives a handler that has read/write callouts
 * (tcmur_generic_handle_cmd() and tcmur_cmdproc_thread(); details and line
 * numbers in docs/tcmu-abi.md):
 *
 * - handle_cmd, when set, is called FIRST for every CDB, directly on the
 *   device's command thread, whatever nr_threads is, with a zeroed
 *   struct tcmur_cmd whose done callback is NULL. Its return value:
 *     TCMU_STS_NOT_HANDLED   the runner emulates the CDB (INQUIRY, READ
 *                            CAPACITY, MODE SENSE, ..., and READ/WRITE/
 *                            UNMAP/WRITE SAME/CAW/SYNC CACHE through the
 *                            callouts below);
 *     any other value        the command is COMPLETED at once with that
 *                            status: TCMU_STS_OK means GOOD, not "queued".
 *   handle_cmd must therefore be synchronous. TCMU_STS_ASYNC_HANDLED from
 *   it followed by tcmur_cmd_complete() makes 1.5.4 call the NULL done
 *   pointer (tcmur_cmd_complete() is "jmp *0x58(%rsi)"): a crash.
 * - The data callouts (read, write, flush, unmap, writesame, caw) are
 *   where asynchronous work goes. With nr_threads == 0 they run on the
 *   command thread and must not block; TCMU_STS_OK means "queued" and the
 *   handler must call tcmur_cmd_complete(dev, cmd, status) exactly once,
 *   from any thread, with the tcmur_cmd it was given (for UNMAP that is a
 *   per-descriptor command the runner allocated); any other return value
 *   is the final status and tcmur_cmd_complete() must not be called.
 * - Before a callout the runner has checked the LBA range (TCMU_STS_RANGE)
 *   and that the buffer matches the transfer length. It never passes FUA
 *   or other CDB flags: a callout that needs them reads
 *   cmd->lib_cmd->cdb. For COMPARE AND WRITE, caw gets off, len = half
 *   the buffer, and the whole buffer (compare data, then write data).
 */
struct tcmur_handler {
	const char *name; /* human-friendly name */
	const char *subtype; /* "spanblk": matches user:<subtype> */
	const char *cfg_desc; /* shown by "targetcli help create" */
	void *opaque; /* handler's own, untouched by the runner */

	/* Validate a cfgstring; false + malloc'd *reason (caller frees). */
	bool (*check_config)(const char *cfgstring, char **reason);
	/* Apply a live change; 0 or -errno. */
	int (*reconfig)(struct tcmu_device *dev, struct tcmulib_cfg_info *cfg);
	/* Open a device (reopen: after conn_lost); 0 or -errno. */
	int (*open)(struct tcmu_device *dev, bool reopen);
	/* Close a device; no callout runs after it. */
	void (*close)(struct tcmu_device *dev);

	/* 0: callouts on the command thread, async completion. */
	int nr_threads;

	/* Whole-CDB hook, tried first; returns a TCMU_STS_* value. */
	int (*handle_cmd)(struct tcmu_device *dev, struct tcmur_cmd *cmd);

	/* Byte-addressed data callouts used by the runner's emulation. */
	int (*read)(struct tcmu_device *dev, struct tcmur_cmd *cmd,
		    struct iovec *iovec, size_t iov_cnt, size_t len, off_t off);
	int (*write)(struct tcmu_device *dev, struct tcmur_cmd *cmd,
		     struct iovec *iovec, size_t iov_cnt, size_t len,
		     off_t off);
	int (*flush)(struct tcmu_device *dev, struct tcmur_cmd *cmd);
	int (*unmap)(struct tcmu_device *dev, struct tcmur_cmd *cmd,
		     uint64_t off, uint64_t len);
	int (*writesame)(struct tcmu_device *dev, struct tcmur_cmd *cmd,
			 uint64_t off, uint64_t len, struct iovec *iovec,
			 size_t iov_cnt);
	int (*caw)(struct tcmu_device *dev, struct tcmur_cmd *cmd, uint64_t off,
		   uint64_t len, struct iovec *iovec, size_t iov_cnt);

	/* Event notification (after tcmu_notify_*); 0 or -errno. */
	int (*report_event)(struct tcmu_device *dev);

	/* ALUA implicit failover; TCMU_STS_* results. */
	int (*lock)(struct tcmu_device *dev, uint16_t tag);
	int (*unlock)(struct tcmu_device *dev);
	int (*get_lock_tag)(struct tcmu_device *dev, uint16_t *tag);
	/* Returns a TCMUR_DEV_LOCK_* value. */
	int (*get_lock_state)(struct tcmu_device *dev);

	/* Runner-internal (D-Bus handlers); leave false. */
	bool _is_dbus_handler;

	/* Log directory changed in tcmu.conf; optional. */
	bool (*update_logdir)(void);
	/* Global setup, called by tcmur_register_handler(); 0 or -errno. */
	int (*init)(void);
	/* Global teardown at runner exit. */
	void (*destroy)(void);
};

/* ---- layout pins (x86-64, LP64) -------------------------------------- */

/* Fails the build unless struct type has field at byte offset off. */
#define TCMU_ABI_PIN(type, field, off)                        \
	_Static_assert(offsetof(struct type, field) == (off), \
		       #type "." #field " is not at offset " #off)
/* Fails the build unless struct type is size bytes long. */
#define TCMU_ABI_SIZE(type, size)                     \
	_Static_assert(sizeof(struct type) == (size), \
		       #type " is not " #size " bytes")

_Static_assert(sizeof(void *) == 8, "tcmu ABI pinned for LP64 only");
_Static_assert(sizeof(enum tcmulib_cfg_type) == 4, "cfg type size");

/* Each struct's size, then where each of its fields lies. */
TCMU_ABI_SIZE(tcmur_handler, 200);
TCMU_ABI_SIZE(tcmur_cmd, 96);
TCMU_ABI_SIZE(tcmulib_cmd, 136);
TCMU_ABI_SIZE(tcmulib_cfg_info, 16);

/* struct tcmur_handler */
TCMU_ABI_PIN(tcmur_handler, name, 0);
TCMU_ABI_PIN(tcmur_handler, subtype, 8);
TCMU_ABI_PIN(tcmur_handler, cfg_desc, 16);
TCMU_ABI_PIN(tcmur_handler, opaque, 24);
TCMU_ABI_PIN(tcmur_handler, check_config, 32);
TCMU_ABI_PIN(tcmur_handler, reconfig, 40);
TCMU_ABI_PIN(tcmur_handler, open, 48);
TCMU_ABI_PIN(tcmur_handler, close, 56);
TCMU_ABI_PIN(tcmur_handler, nr_threads, 64);
TCMU_ABI_PIN(tcmur_handler, handle_cmd, 72);
TCMU_ABI_PIN(tcmur_handler, read, 80);
TCMU_ABI_PIN(tcmur_handler, write, 88);
TCMU_ABI_PIN(tcmur_handler, flush, 96);
TCMU_ABI_PIN(tcmur_handler, unmap, 104);
TCMU_ABI_PIN(tcmur_handler, writesame, 112);
TCMU_ABI_PIN(tcmur_handler, caw, 120);
TCMU_ABI_PIN(tcmur_handler, report_event, 128);
TCMU_ABI_PIN(tcmur_handler, lock, 136);
TCMU_ABI_PIN(tcmur_handler, unlock, 144);
TCMU_ABI_PIN(tcmur_handler, get_lock_tag, 152);
TCMU_ABI_PIN(tcmur_handler, get_lock_state, 160);
TCMU_ABI_PIN(tcmur_handler, _is_dbus_handler, 168);
TCMU_ABI_PIN(tcmur_handler, update_logdir, 176);
TCMU_ABI_PIN(tcmur_handler, init, 184);
TCMU_ABI_PIN(tcmur_handler, destroy, 192);

/* struct tcmur_cmd */
TCMU_ABI_PIN(tcmur_cmd, lib_cmd, 0);
TCMU_ABI_PIN(tcmur_cmd, iovec, 8);
TCMU_ABI_PIN(tcmur_cmd, iov_cnt, 16);
TCMU_ABI_PIN(tcmur_cmd, iov_base_copy, 24);
TCMU_ABI_PIN(tcmur_cmd, cmd_state, 32);
TCMU_ABI_PIN(tcmur_cmd, requested, 40);
TCMU_ABI_PIN(tcmur_cmd, cmds_list_entry, 48);
TCMU_ABI_PIN(tcmur_cmd, start_time, 64);
TCMU_ABI_PIN(tcmur_cmd, timed_out, 80);
TCMU_ABI_PIN(tcmur_cmd, done, 88);

/* struct tcmulib_cmd */
TCMU_ABI_PIN(tcmulib_cmd, cmd_id, 0);
TCMU_ABI_PIN(tcmulib_cmd, cdb, 8);
TCMU_ABI_PIN(tcmulib_cmd, iovec, 16);
TCMU_ABI_PIN(tcmulib_cmd, iov_cnt, 24);
TCMU_ABI_PIN(tcmulib_cmd, sense_buf, 32);
TCMU_ABI_PIN(tcmulib_cmd, hm_private, 128);

/* struct tcmulib_cfg_info */
TCMU_ABI_PIN(tcmulib_cfg_info, type, 0);
TCMU_ABI_PIN(tcmulib_cfg_info, data, 8);

/* ---- exported by tcmu-runner ---------------------------------------- */

/*
 * Register a handler table. The runner refuses a duplicate subtype
 * (returns <0), keeps the pointer, then calls handler->init if set and
 * fails the registration if it fails. Returns 0 or <0.
 */
int tcmur_register_handler(struct tcmur_handler *handler);

/*
 * Complete a command a data callout returned TCMU_STS_OK ("queued") for
 * (never one handle_cmd saw: see struct tcmur_handler). data is the
 * struct tcmur_cmd * the callout received; rc a TCMU_STS_* value.
 * Callable from any thread, exactly once per queued command.
 */
void tcmur_cmd_complete(struct tcmu_device *dev, void *data, int rc);

/* Store / fetch the handler's per-device pointer (not libtcmu's). */
void tcmur_dev_set_private(struct tcmu_device *dev, void *priv);
void *tcmur_dev_get_private(struct tcmu_device *dev);

/*
 * Tell the runner and the kernel the device now has new_size bytes
 * (queues a CAPACITY CHANGED unit attention). Returns 0 or <0.
 */
int tcmur_dev_update_size(struct tcmu_device *dev, uint64_t new_size);

/* Failover events: the runner schedules the matching recovery. */
void tcmu_notify_lock_lost(struct tcmu_device *dev);
void tcmu_notify_conn_lost(struct tcmu_device *dev);
void tcmu_notify_cmd_timed_out(struct tcmu_device *dev);

/* The plugin's only export; the runner calls it right after dlopen(). */
int handler_init(void);

/* ---- exported by libtcmu.so.2 --------------------------------------- */

/* Device attributes; the runner sets them all before open. */
char *tcmu_dev_get_cfgstring(struct tcmu_device *dev); /* "subtype/cfg" */
uint32_t tcmu_dev_get_block_size(struct tcmu_device *dev);
void tcmu_dev_set_block_size(struct tcmu_device *dev, uint32_t block_size);
uint64_t tcmu_dev_get_num_lbas(struct tcmu_device *dev);
void tcmu_dev_set_num_lbas(struct tcmu_device *dev, uint64_t num_lbas);
uint32_t tcmu_dev_get_max_xfer_len(struct tcmu_device *dev); /* blocks */
void tcmu_dev_set_max_xfer_len(struct tcmu_device *dev, uint32_t len);
uint32_t tcmu_dev_get_max_unmap_len(struct tcmu_device *dev); /* blocks */
void tcmu_dev_set_max_unmap_len(struct tcmu_device *dev, uint32_t len);
uint32_t tcmu_dev_get_opt_unmap_gran(struct tcmu_device *dev); /* blocks */
/* split: let the runner split UNMAPs on the granularity. */
void tcmu_dev_set_opt_unmap_gran(struct tcmu_device *dev, uint32_t len,
				 bool split);
uint32_t tcmu_dev_get_unmap_gran_align(struct tcmu_device *dev);
void tcmu_dev_set_unmap_gran_align(struct tcmu_device *dev, uint32_t len);
bool tcmu_dev_get_write_cache_enabled(struct tcmu_device *dev);
void tcmu_dev_set_write_cache_enabled(struct tcmu_device *dev, bool enabled);
bool tcmu_dev_get_solid_state_media(struct tcmu_device *dev);
void tcmu_dev_set_solid_state_media(struct tcmu_device *dev, bool ssd);
bool tcmu_dev_get_unmap_enabled(struct tcmu_device *dev);
void tcmu_dev_set_unmap_enabled(struct tcmu_device *dev, bool enabled);
const char *tcmu_dev_get_uio_name(struct tcmu_device *dev);
uint64_t tcmu_lba_to_byte(struct tcmu_device *dev, uint64_t lba);
uint64_t tcmu_byte_to_lba(struct tcmu_device *dev, uint64_t byte);
/* The RUNNER's per-device state: a handler must not use it. */
void *tcmu_dev_get_private(struct tcmu_device *dev);

/* CDB decoding by group code (6/10/12/16-byte CDBs). */
int tcmu_cdb_get_length(uint8_t *cdb);
uint64_t tcmu_cdb_get_lba(uint8_t *cdb);
uint32_t tcmu_cdb_get_xfer_length(uint8_t *cdb);

/* iovec helpers; the copy helpers advance the iovec as they go. */
size_t tcmu_iovec_length(struct iovec *iovec, size_t iov_cnt);
size_t tcmu_memcpy_into_iovec(struct iovec *iovec, size_t iov_cnt, void *src,
			      size_t len);
size_t tcmu_memcpy_from_iovec(void *dest, size_t len, struct iovec *iovec,
			      size_t iov_cnt);
void tcmu_iovec_zero(struct iovec *iovec, size_t iov_cnt);
bool tcmu_iovec_zeroed(struct iovec *iovec, size_t iov_cnt);
/* Offset of the first byte differing from mem, or -1 if equal. */
off_t tcmu_iovec_compare(void *mem, struct iovec *iovec, size_t size);
size_t tcmu_iovec_seek(struct iovec *iovec, size_t count);
/* Consume count bytes of cmd's iovec, updating cmd->iov_cnt. */
void tcmu_cmd_seek(struct tcmulib_cmd *cmd, size_t count);

/*
 * Fill sense_buf (TCMU_SENSE_BUFFERSIZE bytes, cleared first) with fixed
 * format current sense; asc_ascq is ASC << 8 | ASCQ. Returns
 * TCMU_STS_PASSTHROUGH_ERR, ready to be returned from a callout.
 */
int tcmu_sense_set_data(uint8_t *sense_buf, uint8_t key, uint16_t asc_ascq);
/* As tcmu_sense_set_data() but without clearing the buffer first. */
void __tcmu_sense_set_data(uint8_t *sense_buf, uint8_t key, uint16_t asc_ascq);
/*
 * Set the INFORMATION field (and VALID bit) of fixed-format sense. It
 * CLEARS bytes 0-17 first, so it comes before __tcmu_sense_set_data(),
 * never after tcmu_sense_set_data(). For COMPARE AND WRITE, do as the
 * runner does: tcmu_sense_set_info(sense, offset) then return
 * TCMU_STS_MISCOMPARE; libtcmu adds key and ASC without clearing.
 */
void tcmu_sense_set_info(uint8_t *sense_buf, uint32_t info);
/* Set the SENSE KEY SPECIFIC field (SKSV set); clears bytes 0-17 too. */
void tcmu_sense_set_key_specific_info(uint8_t *sense_buf, uint16_t info);

/*
 * Logging (libtcmu_log.h), one signature for every level: printf-style
 * @fmt from function @funcname at line @linenr; dev may be NULL.
 */
#define TCMU_LOG_DECL(name)                                                  \
	void name(struct tcmu_device *dev, const char *funcname, int linenr, \
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)))
TCMU_LOG_DECL(tcmu_crit_message);
TCMU_LOG_DECL(tcmu_err_message);
TCMU_LOG_DECL(tcmu_warn_message);
TCMU_LOG_DECL(tcmu_info_message);
TCMU_LOG_DECL(tcmu_dbg_message);
TCMU_LOG_DECL(tcmu_dbg_scsi_cmd_message);

/* Log setup; the runner calls tcmu_setup_log() at start. */
int tcmu_setup_log(char *log_dir);
void tcmu_destroy_log(void);
void tcmu_set_log_level(int level);
unsigned int tcmu_get_log_level(void);

/* Per-device log macros, as tcmu-runner's handlers use them. */
#define tcmu_dev_crit(dev, ...) \
	tcmu_crit_message(dev, __func__, __LINE__, __VA_ARGS__)
#define tcmu_dev_err(dev, ...) \
	tcmu_err_message(dev, __func__, __LINE__, __VA_ARGS__)
#define tcmu_dev_warn(dev, ...) \
	tcmu_warn_message(dev, __func__, __LINE__, __VA_ARGS__)
#define tcmu_dev_info(dev, ...) \
	tcmu_info_message(dev, __func__, __LINE__, __VA_ARGS__)
#define tcmu_dev_dbg(dev, ...) \
	tcmu_dbg_message(dev, __func__, __LINE__, __VA_ARGS__)

/* ---- SCSI constants (SPC/SBC), shared by handler and harness -------- */

/* Operation codes. */
#define SCSI_OP_TEST_UNIT_READY 0x00
#define SCSI_OP_REQUEST_SENSE 0x03
#define SCSI_OP_READ_6 0x08
#define SCSI_OP_WRITE_6 0x0a
#define SCSI_OP_INQUIRY 0x12
#define SCSI_OP_MODE_SELECT_6 0x15
#define SCSI_OP_MODE_SENSE_6 0x1a
#define SCSI_OP_START_STOP_UNIT 0x1b
#define SCSI_OP_READ_CAPACITY_10 0x25
#define SCSI_OP_READ_10 0x28
#define SCSI_OP_WRITE_10 0x2a
#define SCSI_OP_WRITE_VERIFY_10 0x2e
#define SCSI_OP_VERIFY_10 0x2f
#define SCSI_OP_SYNCHRONIZE_CACHE_10 0x35
#define SCSI_OP_WRITE_SAME_10 0x41
#define SCSI_OP_UNMAP 0x42
#define SCSI_OP_MODE_SELECT_10 0x55
#define SCSI_OP_MODE_SENSE_10 0x5a
#define SCSI_OP_EXTENDED_COPY 0x83
#define SCSI_OP_RECEIVE_COPY_RESULTS 0x84
#define SCSI_OP_READ_16 0x88
#define SCSI_OP_COMPARE_AND_WRITE 0x89
#define SCSI_OP_WRITE_16 0x8a
#define SCSI_OP_WRITE_VERIFY_16 0x8e
#define SCSI_OP_VERIFY_16 0x8f
#define SCSI_OP_SYNCHRONIZE_CACHE_16 0x91
#define SCSI_OP_WRITE_SAME_16 0x93
#define SCSI_OP_SERVICE_ACTION_IN_16 0x9e
#define SCSI_OP_REPORT_LUNS 0xa0
#define SCSI_OP_MAINTENANCE_IN 0xa3
#define SCSI_OP_MAINTENANCE_OUT 0xa4
#define SCSI_OP_READ_12 0xa8
#define SCSI_OP_WRITE_12 0xaa
#define SCSI_OP_WRITE_VERIFY_12 0xae
#define SCSI_OP_VERIFY_12 0xaf

/* SERVICE ACTION IN(16) service actions. */
#define SCSI_SAI_READ_CAPACITY_16 0x10
#define SCSI_SAI_GET_LBA_STATUS 0x12

/* CDB bits. */
#define SCSI_CDB_FUA 0x08 /* byte 1 of READ/WRITE 10/12/16 */
#define SCSI_CDB_DPO 0x10 /* byte 1 of READ/WRITE 10/12/16 */
#define SCSI_CDB_WS_UNMAP 0x08 /* byte 1 of WRITE SAME 10/16 */
#define SCSI_CDB_WS_ANCHOR 0x10 /* byte 1 of WRITE SAME 10/16 */
#define SCSI_CDB_WS_NDOB 0x01 /* byte 1 of WRITE SAME 16 */
#define SCSI_CDB_SYNC_IMMED 0x02 /* byte 1 of SYNCHRONIZE CACHE */

/* Status bytes (SAM). */
#define SCSI_STATUS_GOOD 0x00
#define SCSI_STATUS_CHECK_CONDITION 0x02
#define SCSI_STATUS_BUSY 0x08
#define SCSI_STATUS_RESERVATION_CONFLICT 0x18
#define SCSI_STATUS_TASK_SET_FULL 0x28

/* Sense keys. */
#define SCSI_SK_NO_SENSE 0x0
#define SCSI_SK_RECOVERED_ERROR 0x1
#define SCSI_SK_NOT_READY 0x2
#define SCSI_SK_MEDIUM_ERROR 0x3
#define SCSI_SK_HARDWARE_ERROR 0x4
#define SCSI_SK_ILLEGAL_REQUEST 0x5
#define SCSI_SK_UNIT_ATTENTION 0x6
#define SCSI_SK_DATA_PROTECT 0x7
#define SCSI_SK_ABORTED_COMMAND 0xb
#define SCSI_SK_MISCOMPARE 0xe

/* ASC << 8 | ASCQ, the form tcmu_sense_set_data() takes. */
#define SCSI_ASC_NO_ADDITIONAL_SENSE 0x0000
#define SCSI_ASC_LUN_NOT_READY 0x0400
#define SCSI_ASC_WRITE_ERROR 0x0c00
#define SCSI_ASC_READ_ERROR 0x1100
#define SCSI_ASC_PARAM_LIST_LENGTH_ERROR 0x1a00
#define SCSI_ASC_MISCOMPARE_DURING_VERIFY 0x1d00
#define SCSI_ASC_INVALID_OPCODE 0x2000
#define SCSI_ASC_LBA_OUT_OF_RANGE 0x2100
#define SCSI_ASC_INVALID_FIELD_IN_CDB 0x2400
#define SCSI_ASC_INVALID_FIELD_IN_PARAM_LIST 0x2600
#define SCSI_ASC_WRITE_PROTECTED 0x2700
#define SCSI_ASC_CAPACITY_CHANGED 0x2a09
#define SCSI_ASC_INTERNAL_TARGET_FAILURE 0x4400

/* Fixed-format sense data (response code 0x70) byte offsets. */
#define SCSI_SENSE_RESPONSE_CODE 0 /* 0x70 current, | 0x80 VALID */
#define SCSI_SENSE_KEY 2 /* low nibble */
#define SCSI_SENSE_INFO 3 /* 4 bytes, big-endian */
#define SCSI_SENSE_ADD_LEN 7
#define SCSI_SENSE_ASC 12
#define SCSI_SENSE_ASCQ 13
#define SCSI_SENSE_FIXED_CURRENT 0x70
#define SCSI_SENSE_VALID 0x80

#endif /* SPANBLK_HANDLER_TCMU_ABI_H */
