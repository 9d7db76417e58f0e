/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nd_store: the LUNs a storage node holds, one sparse file each.
 *
 *   DATA_DIR/luns/<lun_id as 016 hex>.data   the whole LUN's size, sparse;
 *                                            block at byte offset = block
 *   DATA_DIR/luns/<lun_id as 016 hex>.meta   "spanblk-lun 1", id, size,
 *                                            name; replaced atomically
 *                                            (temp + fsync + rename +
 *                                            fsync of the folder)
 *
 * The node only ever receives the chunks placement gives it, so most of
 * each file is holes. Metadata changes (create, resize, delete) are
 * synchronous and durable when they return; data I/O goes through
 * node/io.h on the file descriptor nd_lun_data_fd() picks.
 *
 * Direct I/O: each .data file is open twice, buffered (fd) and O_DIRECT
 * (dfd), on the same inode. Block-aligned reads and writes use dfd and so
 * skip the page-cache copy; anything else uses fd. Linux keeps the two
 * coherent (a direct write writes back and invalidates the cached range
 * first, a direct read writes back dirty pages of its range first), and
 * the server's range lock orders overlapping mutations, so mixing them
 * never returns stale data. That holds only while a direct write shares
 * no page with a buffered write in flight, so direct I/O is used for
 * whole pages and file-system blocks only (dio_off_align is at least
 * both), even where the disk would take 512-byte pieces. fdatasync on either fd covers both; FUA
 * stays RWF_DSYNC on whichever fd. A short direct transfer ends on a
 * file-system block boundary (or at end of file, which a range-checked
 * request never reaches while the file keeps the LUN's size), so
 * node/io.c's continuation of it stays aligned. A file system that
 * refuses O_DIRECT gets buffered I/O only (logged once per store).
 *
 * Not thread-safe: the node's event-loop thread owns the store.
 */
#ifndef SPANBLK_NODE_STORE_H
#define SPANBLK_NODE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rlock.h"
#include "../xport/proto.h"

/* Largest LUN size a node accepts (off_t must hold offset + length). */
#define ND_LUN_SIZE_MAX ((uint64_t)1 << 60)

struct nd_store;

/*
 * One LUN. Referenced by the store while it is in the table and by every
 * operation in flight on it (nd_lun_get/nd_lun_put); the file descriptor
 * is closed when the last reference goes, so a LUN deleted while I/O is in
 * flight stays usable by that I/O.
 */
struct nd_lun {
	uint64_t id; /* LUN id (docs/protocol.md, "LUN ids") */
	uint64_t size; /* bytes; the .data file has exactly this size */
	struct xp_layout layout; /* placement recorded at creation */
	char name[XP_LUN_NAME_MAX + 1]; /* NUL-terminated */
	int fd; /* the .data file, read-write, buffered */
	int dfd; /* the same file with O_DIRECT, -1 when refused */
	uint32_t dio_mem_align; /* dfd: buffer address alignment */
	uint32_t dio_off_align; /* dfd: offset and length alignment, at least
				   a page and a file-system block */
	unsigned int refs; /* table reference + operations in flight */
	bool deleted; /* removed from the table; files unlinked */
	bool no_zero_range; /* FALLOC_FL_ZERO_RANGE failed with EOPNOTSUPP */
	struct nd_rlock rlock; /* mutating operations' byte ranges */
	struct nd_lun *hnext; /* hash chain, store-private */
};

/*
 * Open (creating when missing: the folder itself, one level, and its
 * luns/ subfolder) the store in @data_dir, prove that it is writable by
 * creating, syncing and removing a probe file, and load every LUN whose
 * .meta file is valid (leftover temp files are removed; a .data file whose
 * size disagrees with its .meta is truncated to the recorded size).
 * Returns 0 with *@out set, or -errno with a one-line reason in @err.
 */
int nd_store_open(const char *data_dir, struct nd_store **out, char *err,
		  size_t errlen);

/*
 * Parse the text of a .meta file (NUL-terminated): every key once, in
 * order, nothing else. 0, or -EINVAL for anything damaged (then the
 * outputs are unspecified). Exposed for the fuzz target.
 */
int nd_store_meta_parse(const char *text, uint64_t *id, uint64_t *size,
			struct xp_layout *lay, char name[XP_LUN_NAME_MAX + 1]);

/* Drop the table's references and free the store. Accepts NULL. */
void nd_store_close(struct nd_store *st);

/* The LUN with id @id, or NULL. No reference is taken. */
struct nd_lun *nd_store_find(struct nd_store *st, uint64_t id);

/*
 * Create LUN @id named @name (@name_len bytes, not NUL-terminated) of
 * @size bytes with layout @lay: a fresh sparse .data file, then the .meta,
 * durably. Creating a LUN that exists with the same name, size and layout
 * succeeds (the request is idempotent); with another one it gives
 * -EEXIST. -EINVAL for a bad name or layout, id 0 or a size of 0 or over
 * ND_LUN_SIZE_MAX.
 * *@out (may be NULL) receives the LUN, no reference taken.
 */
int nd_store_create(struct nd_store *st, uint64_t id, const char *name,
		    size_t name_len, uint64_t size, const struct xp_layout *lay,
		    struct nd_lun **out);

/*
 * Change @lun's size to @size (grows with holes, shrinking drops the
 * tail), durably. The caller makes sure no I/O on the LUN is in flight
 * (the server holds the LUN's whole range lock). 0, -ENOENT when the LUN
 * has been deleted, -EINVAL for a bad size, or -errno of the file system.
 */
int nd_store_resize(struct nd_store *st, struct nd_lun *lun, uint64_t size);

/*
 * Remove @lun from the table and unlink its files (the .meta first, so a
 * crash in between leaves a stray .data that a later create truncates).
 * Drops the table's reference. 0 or -errno of the file system (the LUN is
 * gone from the table either way).
 */
int nd_store_delete(struct nd_store *st, struct nd_lun *lun);

/*
 * Take every LUN out of the table and move its files, .meta first, into
 * DATA_DIR/retired/@tag/ (made when missing), durably: the data stays for
 * the administrator but is never served again. For a folder the cluster
 * does not count (docs/recovery.md: wiped, restored from an old copy, or
 * another node's). The caller makes sure no session is open. 0 or -errno
 * with a one-line reason in @err; what was moved stays moved.
 */
int nd_store_retire_all(struct nd_store *st, const char *tag, char *err,
			size_t errlen);

/*
 * Fill @out with up to @max LUNs of the table (any order), taking no
 * references. Returns how many the table holds (may exceed @max).
 */
size_t nd_store_list(struct nd_store *st, struct nd_lun **out, size_t max);

/* LUNs in the table. */
size_t nd_store_count(const struct nd_store *st);

/*
 * fdatasync every LUN's file, synchronously (shutdown only). Returns 0 or
 * the first error; every LUN is tried.
 */
int nd_store_sync_all(struct nd_store *st);

void nd_lun_get(struct nd_lun *lun);
/* Drop one reference; the last one closes the file and frees @lun. */
void nd_lun_put(struct nd_lun *lun);

/* 0 when [@offset, @offset + @length) lies inside @lun, else -ERANGE. */
int nd_lun_check_range(const struct nd_lun *lun, uint64_t offset,
		       uint64_t length);

/*
 * The descriptor for reading or writing @len bytes at @offset from or to
 * @buf: the O_DIRECT one when @lun has it and @buf, @offset and @len are
 * all aligned to its direct-I/O alignment, else the buffered one.
 */
int nd_lun_data_fd(const struct nd_lun *lun, const void *buf, uint64_t offset,
		   uint64_t len);

/* Bytes the .data file really holds (st_blocks * 512) into *@bytes. */
int nd_lun_allocated(const struct nd_lun *lun, uint64_t *bytes);

/*
 * Bytes of [@offset, @offset + @len) that @lun's file holds as data rather
 * than holes, as lseek(SEEK_DATA, SEEK_HOLE) reports them (metadata only,
 * no data is read; whole file-system blocks). A hole reads as zeros. A
 * file system that cannot tell counts everything as data.
 */
uint64_t nd_lun_data_bytes(const struct nd_lun *lun, uint64_t offset,
			   uint64_t len);

#endif
