/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Configuration files shared by the handler, the daemon and the tools:
 * the cluster file (nodes, replica count, chunk size, secret) and the
 * storage node's own file. Both are INI, parsed with inih. Every parser
 * takes a buffer for a one-line reason an administrator can act on.
 * docs/operations.md documents every key.
 */
#ifndef SPANBLK_LIB_CONFIG_H
#define SPANBLK_LIB_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SB_MAX_NODES 64
#define SB_HOST_MAX 255
#define SB_DEFAULT_CLUSTER_CONF "/etc/spanblk/cluster.conf"
#define SB_DEFAULT_PORT 7400
#define SB_DEFAULT_CHUNK (1u << 20)
#define SB_MIN_CHUNK (64u << 10)
#define SB_MAX_CHUNK (1u << 30)
#define SB_DEFAULT_REPLICAS 2
#define SB_DEFAULT_IO_TIMEOUT_MS 30000
#define SB_DEFAULT_QUEUE_DEPTH 64
#define SB_DEFAULT_RDMA_PORT 7401
#define SB_DEFAULT_RDMA_BUFFERS 32 /* node: pool buffers per connection */
#define SB_DEFAULT_RDMA_SEGMENT (256u << 10)
#define SB_DEFAULT_RDMA_MAX_OPS 64
#define SB_DEFAULT_GW_RDMA_BUFFERS 16 /* gateway: per node connection */
#define SB_DEFAULT_GW_RDMA_BUFFER (1u << 20)
#define SB_RDMA_BUF_MIN 4096u
#define SB_RDMA_BUF_MAX (4u << 20)
#define SB_ETCD_MAX 1023 /* bytes of an etcd endpoint list */
#define SB_ETCD_ENDPOINTS_MAX 8
#define SB_ETCD_PREFIX_MAX 127
#define SB_DEFAULT_ETCD_PREFIX "/spanblk/"
#define SB_DEFAULT_RESYNC_DEPTH 8 /* chunks resync copies at once */
#define SB_MAX_RESYNC_DEPTH 64
#define SB_DEFAULT_NODE_TTL 3 /* seconds: a node's etcd lease */
#define SB_DEFAULT_PUSH_TIMEOUT_MS 30000 /* node: one CHUNK_PUSH */

/* Whether a gateway moves payload by RDMA ([cluster] rdma). */
enum sb_rdma_mode {
	SB_RDMA_AUTO = 0, /* when this host and the node both can, per node */
	SB_RDMA_OFF, /* never: payload inline on TCP */
	SB_RDMA_ON, /* like auto, but a node without RDMA is logged as error */
};

struct sb_node_addr {
	uint32_t id; /* node id, 1..UINT32_MAX, unique in the cluster */
	char host[SB_HOST_MAX + 1]; /* address or name the node listens on */
	uint16_t port;
	bool out; /* out of placement (its P/node/<id>/state), not a file key */
};

struct sb_cluster {
	unsigned int nr_nodes;
	struct sb_node_addr nodes[SB_MAX_NODES]; /* sorted by id */
	unsigned int replicas; /* copies of each chunk, 1..nr_nodes */
	uint64_t chunk_size; /* power of two, SB_MIN_CHUNK..SB_MAX_CHUNK */
	char secret_file[PATH_MAX];
	unsigned int io_timeout_ms; /* per request to one node */
	unsigned int queue_depth; /* requests in flight per node */
	enum sb_rdma_mode rdma; /* payload by RDMA when possible */
	unsigned int rdma_buffers; /* registered buffers per node connection */
	uint32_t rdma_buffer_size; /* bytes each, a page multiple */
	/* rdma_windows = auto: a type 2 memory window per request where the
	 * device has them; off: the whole pool stays remotely accessible */
	bool rdma_windows;
	/* the cluster store (docs/recovery.md): etcd endpoints, comma-
	 * separated http://host:port; empty: no store */
	char etcd[SB_ETCD_MAX + 1];
	char etcd_prefix[SB_ETCD_PREFIX_MAX + 1]; /* "/.../", the state's keys */
	/* with a store: copies a write needs (0: replicas - 1, at least 1) */
	unsigned int min_replicas;
	/* with a store: chunks copied at once by resync, and its cap in
	 * MiB/s over all of them (0: none; foreground I/O still goes first
	 * in the nodes' queues) */
	unsigned int resync_depth;
	unsigned int resync_rate;
};

struct sb_nodecfg {
	uint32_t id;
	char listen[SB_HOST_MAX + 1];
	uint16_t port;
	char data_dir[PATH_MAX];
	char secret_file[PATH_MAX];
	char rdma_device[64]; /* empty: no RDMA, payload inline only */
	char rdma_addr[SB_HOST_MAX + 1]; /* empty: the listen address */
	uint16_t rdma_port; /* rdma_cm port */
	uint32_t rdma_buffers; /* pool buffers per RDMA connection */
	uint32_t rdma_segment; /* bytes per buffer and per RDMA operation */
	uint32_t rdma_max_ops; /* RDMA operations in flight per connection */
	char etcd[SB_ETCD_MAX + 1]; /* cluster store endpoints; empty: none */
	char etcd_prefix[SB_ETCD_PREFIX_MAX + 1];
	uint32_t node_ttl; /* seconds: the node's lease in the store */
	uint32_t push_timeout_ms; /* a CHUNK_PUSH from receipt to answer */
};

/*
 * Parse cluster file text @text (NUL-terminated). Returns 0 or -EINVAL
 * with @err filled ("line 7: replicas must be 1..3").
 */
int sb_cluster_parse(const char *text, struct sb_cluster *cl, char *err,
		     size_t errlen);

/* Read and parse the cluster file at @path. 0, -errno of the file, -EINVAL. */
int sb_cluster_load(const char *path, struct sb_cluster *cl, char *err,
		    size_t errlen);

/* Same for a storage node's file; defaults filled first. */
int sb_nodecfg_parse(const char *text, struct sb_nodecfg *nc, char *err,
		     size_t errlen);
int sb_nodecfg_load(const char *path, struct sb_nodecfg *nc, char *err,
		    size_t errlen);
void sb_nodecfg_defaults(struct sb_nodecfg *nc);

/*
 * Parse a size: digits with an optional k/K, m/M, g/G, t/T suffix (powers
 * of 1024) and an optional "iB"/"B". Rejects overflow, signs, spaces,
 * empty strings. 0 or -EINVAL / -ERANGE.
 */
int sb_parse_size(const char *s, uint64_t *out);

/* Parse an unsigned decimal within [min, max]. 0, -EINVAL or -ERANGE. */
int sb_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/*
 * Check an etcd endpoint list: 1..SB_ETCD_ENDPOINTS_MAX comma-separated
 * "http://HOST:PORT" (HOST a name, an IPv4 address or [IPv6]), no spaces.
 * 0 or -EINVAL with @err filled.
 */
int sb_etcd_endpoints_check(const char *s, char *err, size_t errlen);

/* Check a key prefix: "/", then [A-Za-z0-9._-/], ending in "/". 0/-EINVAL. */
int sb_etcd_prefix_check(const char *s, char *err, size_t errlen);

/* Index of node @id in @cl, or -ENOENT. */
int sb_cluster_node_index(const struct sb_cluster *cl, uint32_t id);

/* The node-index bits of the @n node ids @ids (ids not in @cl dropped). */
uint64_t sb_cluster_ids_mask(const struct sb_cluster *cl, const uint32_t *ids,
			     unsigned int n);

#endif
