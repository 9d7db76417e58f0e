/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gateway I/O engine: turns LUN byte-range operations into requests
 * to the storage nodes that hold each chunk.
 *
 * - A range is split at chunk boundaries (sb_split); each piece goes to
 *   the replicas placement gives it (sb_place).
 * - Writes, WRITE_ZEROES and UNMAP go to every replica in parallel and
 *   complete when all have acknowledged; a replica that cannot be reached
 *   within the I/O timeout fails the operation (no silent divergence: the
 *   engine never acknowledges a write that a replica missed).
 * - Reads go to the first replica that is up and fail over to the next
 *   on error or timeout (or the connection dropping).
 * - COMPARE_AND_WRITE is decided atomically by the chunk's first replica;
 *   on a match the data then goes to the other replicas.
 * - FLUSH goes to every node (any of them may hold the LUN's chunks); a
 *   node that stays down for the I/O timeout fails it.
 * - Each node has a bounded number of requests in flight
 *   (cluster queue_depth); more wait in the engine (back-pressure, never
 *   failure). Connections are re-established, with back-off, when a node
 *   comes back.
 *
 * The engine runs its own event-loop thread; completion callbacks run on
 * that thread and must not block. Submission is thread-safe.
 */
#ifndef SPANBLK_LIB_ENGINE_H
#define SPANBLK_LIB_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "config.h"
#include "../xport/auth.h"
#include "../xport/proto.h"

struct sb_engine;
struct xp_kv;

enum sb_io_op {
	SB_IO_READ,
	SB_IO_WRITE,
	SB_IO_WRITE_ZEROES,
	SB_IO_UNMAP,
	SB_IO_FLUSH,
	SB_IO_CAW,
};

#define SB_IO_F_FUA 0x1u /* WRITE, CAW: durable before completion */
#define SB_IO_F_UNMAP 0x2u /* WRITE_ZEROES: nodes may deallocate */

struct sb_io;
/*
 * @err: 0, -EILSEQ (CAW miscompare: io->miscompare_off set), -ERANGE
 * (beyond the LUN's size), -ENOENT (no such LUN), -ETIMEDOUT (a node did
 * not answer within io_timeout_ms), -EHOSTUNREACH (a node needed was not
 * reachable within io_timeout_ms), -ECONNRESET (the connection dropped
 * while a CAW was in flight: its outcome on that node is unknown), -EIO,
 * -ENOSPC, -ENOMEM, -ESHUTDOWN (engine freed), ...
 * A failed WRITE, WRITE_ZEROES, UNMAP or CAW may have reached some
 * replicas and not others; the initiator is expected to retry it.
 */
typedef void (*sb_io_cb)(struct sb_io *io, int err);

/* One operation. Owned by the caller; must stay valid until @cb runs. */
struct sb_io {
	enum sb_io_op op;
	uint64_t lun_id;
	uint64_t offset; /* bytes */
	uint64_t length; /* bytes; CAW: bytes compared (= bytes written) */
	/*
	 * READ: destination; WRITE: source; CAW: 2 * length bytes, the
	 * compare data then the write data. Unused for other ops. Not
	 * touched by the engine after @cb.
	 */
	const struct iovec *iov;
	int iovcnt;
	uint32_t flags; /* SB_IO_F_* */
	sb_io_cb cb;
	void *cb_arg;
	uint64_t miscompare_off; /* out: first differing byte, CAW */
};

/*
 * Largest request the engine sends to a node: a range is split at chunk
 * boundaries and into pieces of at most this many bytes (sent in parallel,
 * at most 32 pieces of one operation at a time), so any length is
 * accepted. A CAW is not split: length <= XP_MAX_CAW, inside one chunk.
 */
#define SB_ENGINE_MAX_PIECE (1u << 20)

/*
 * Start an engine for cluster @cl (copied) with secret @secret (copied):
 * starts the loop thread and begins connecting to every node. Returns
 * NULL with @err filled on failure.
 */
struct sb_engine *sb_engine_new(const struct sb_cluster *cl,
				const struct xp_secret *secret, char *err,
				size_t errlen);

struct xp_verbs_ops;

/*
 * sb_engine_new with the RDMA verbs of @vops (borrowed: static storage or
 * outliving the engine; NULL: the real libibverbs/librdmacm table). Unit
 * tests pass a fake device here.
 */
struct sb_engine *sb_engine_new_verbs(const struct sb_cluster *cl,
				      const struct xp_secret *secret,
				      const struct xp_verbs_ops *vops,
				      char *err, size_t errlen);

/*
 * sb_engine_new_verbs with the cluster store @kv (owned from here on,
 * also on failure; NULL: the cluster file's etcd endpoints, or none).
 * With a store, node liveness and stale replicas come from it and writes
 * go on degraded, recorded there (docs/recovery.md); I/O submitted before
 * its first read waits for it. Tests pass an in-memory store here.
 */
struct sb_engine *sb_engine_new_store(const struct sb_cluster *cl,
				      const struct xp_secret *secret,
				      const struct xp_verbs_ops *vops,
				      struct xp_kv *kv, char *err,
				      size_t errlen);

/*
 * Stop: I/O still queued or in flight completes with -ESHUTDOWN, the loop
 * thread is joined, connections are closed. Accepts NULL. Must not be
 * called from a completion callback.
 */
void sb_engine_free(struct sb_engine *e);

/*
 * Submit @io. Returns 0: @io->cb runs exactly once, on the engine thread
 * (never inside this call). Returns <0 (-EINVAL for a bad range, flags or
 * iovec, a zero length, a CAW longer than XP_MAX_CAW or crossing a chunk;
 * -ENOMEM; -ESHUTDOWN): @io->cb never runs. Thread-safe, and may be called
 * from a completion callback. READ and WRITE need iovecs covering
 * @io->length bytes (CAW: 2 * length); FLUSH ignores offset and length.
 */
int sb_engine_submit(struct sb_engine *e, struct sb_io *io);

/*
 * Wait until every node has been tried once (connected and authenticated
 * or failed), at most @timeout_ms. Returns the number of nodes up.
 */
int sb_engine_wait_ready(struct sb_engine *e, int timeout_ms);

/* Node @idx (index into the cluster's nodes) is connected and authenticated. */
bool sb_engine_node_up(struct sb_engine *e, unsigned int idx);

/*
 * Synchronous control operations for the handler's open/reconfig and the
 * tools; never call them from a completion callback. Each first waits (up
 * to 5 s) for the first connection attempt to every node; each node's
 * request has the I/O timeout. They return 0 or -errno:
 * -EHOSTUNREACH when a node they need is down, else the nodes' answers.
 *
 * sb_engine_lun_create: LUN_CREATE on every node (all must be up), with
 *   this engine's layout (its cluster's chunk_size and replicas), which
 *   the nodes record with the LUN.
 * sb_engine_lun_open: size and layout of the LUN as the reachable nodes
 *   report them; -ENOENT when no node knows it, -EIO when nodes disagree.
 *   -EMEDIUMTYPE (with *@size and *@layout filled) when the LUN's layout is
 *   not this engine's: this engine would place the LUN's chunks on other
 *   nodes, so the caller must not do I/O on it through this engine; it
 *   can start another engine with the LUN's layout.
 * sb_engine_lun_resize / _delete: on every node (all must be up).
 */
int sb_engine_lun_create(struct sb_engine *e, const char *name, uint64_t size);
int sb_engine_lun_open(struct sb_engine *e, uint64_t lun_id, uint64_t *size,
		       struct xp_layout *layout);
/*
 * Load the cluster file at @path and the secret file it names (what the
 * tools need before sb_engine_new). 0, or -errno with a one-line reason in
 * @err, e.g. "secret file /etc/spanblk/secret: must hold 16 to 256 bytes".
 */
int sb_engine_load_config(const char *path, struct sb_cluster *cl,
			  struct xp_secret *secret, char *err, size_t errlen);

/* The layout this engine places chunks with. */
void sb_engine_layout(const struct sb_engine *e, struct xp_layout *lay);
int sb_engine_lun_resize(struct sb_engine *e, uint64_t lun_id, uint64_t size);
int sb_engine_lun_delete(struct sb_engine *e, uint64_t lun_id);

/*
 * STAT node @idx: fills @st; when @luns is not NULL, *@luns receives a
 * malloc'd array of every LUN entry the node reported (NULL when there are
 * none; the caller frees it). Returns the number of entries or -errno
 * (-EHOSTUNREACH: the node is down).
 */
int sb_engine_stat(struct sb_engine *e, unsigned int idx, struct xp_stat *st,
		   struct xp_stat_lun **luns);

/*
 * CHUNK_CSUM: the CRC32C of [@off, @off + @len) of @lun as node index @idx
 * holds it (computed on the node). Blocking, like the LUN calls. 0 and
 * *@crc, or -errno (-EHOSTUNREACH: the node is down).
 */
int sb_engine_chunk_csum(struct sb_engine *e, unsigned int idx, uint64_t lun,
			 uint64_t off, uint32_t len, uint32_t *crc);

/*
 * CHUNK_PUSH: node index @src copies [@off, @off + @len) of @lun to the
 * node @to names (its id and numeric address), which must have the LUN.
 * Blocking. 0 once the bytes are durable there, or -errno.
 */
int sb_engine_chunk_push(struct sb_engine *e, unsigned int src,
			 const struct xp_push_target *to, uint64_t lun,
			 uint64_t off, uint32_t len);

/* How payload moves on the connection to one node. */
enum sb_payload {
	SB_PAYLOAD_TCP = 0, /* inline on TCP */
	SB_PAYLOAD_PENDING, /* RDMA being set up */
	SB_PAYLOAD_RDMA, /* READ and WRITE payload by RDMA */
};

/*
 * The payload transport of node @idx's connection now, and in @why (may be
 * NULL) the reason when it is TCP ("node has no RDMA", "no RDMA device
 * here", "rdma = off", the connection's error). Safe from any thread.
 */
enum sb_payload sb_engine_node_payload(struct sb_engine *e, unsigned int idx,
				       char *why, size_t whylen);

/*
 * Wait (up to @timeout_ms) until no connected node's payload transport is
 * still being set up. Returns how many still are.
 */
int sb_engine_wait_payload(struct sb_engine *e, int timeout_ms);

/* Engine-side counters, for spanblk-bench and tests; safe from any thread. */
struct sb_engine_stats {
	uint64_t submitted;
	uint64_t completed;
	uint64_t failovers; /* reads retried on another replica */
	uint64_t timeouts; /* requests expired (in flight or waiting) */
	uint64_t reconnects; /* connections re-established after a loss */
	uint64_t throttled; /* times a full queue held requests back */
	uint64_t max_inflight; /* most requests in flight to one node */
	uint64_t bytes_rdma; /* READ/WRITE payload described by RDMA */
	uint64_t bytes_inline; /* READ/WRITE payload inline on TCP */
	uint64_t rdma_fallbacks; /* EPROTO answers: resent inline */
	uint64_t copy_bytes; /* copied between caller iovecs and RDMA pool */
	uint64_t copy_ns; /* CLOCK_MONOTONIC ns spent in those copies */
};
void sb_engine_get_stats(struct sb_engine *e, struct sb_engine_stats *st);

#endif
