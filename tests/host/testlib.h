/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared by the host tests: start and stop real spanblkd processes on
 * 127.0.0.1 with a generated cluster file in a temporary folder.
 */
#ifndef SPANBLK_TESTS_TESTLIB_H
#define SPANBLK_TESTS_TESTLIB_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TL_MAX_NODES 8

struct tl_node {
	uint32_t id;
	uint16_t port;
	pid_t pid; /* 0 when not running */
	char conf[PATH_MAX]; /* the node's own config file */
	char data[PATH_MAX]; /* its data folder */
	char log[PATH_MAX]; /* its stderr */
};

struct tl_cluster {
	char dir[PATH_MAX]; /* temporary root, removed by tl_cluster_destroy */
	char conf[PATH_MAX]; /* cluster file */
	char secret[PATH_MAX]; /* secret file */
	char spanblkd[PATH_MAX]; /* daemon binary */
	unsigned int n;
	struct tl_node nodes[TL_MAX_NODES];
};

/*
 * Write a secret, a cluster file ([cluster] replicas, chunk_size,
 * io_timeout_ms; [node.N] address 127.0.0.1, a free port) and one node
 * config per node, start @n daemons from @spanblkd and wait until each
 * accepts connections. 0 or -errno; on error everything is cleaned up.
 */
int tl_cluster_start(struct tl_cluster *c, unsigned int n,
		     unsigned int replicas, uint64_t chunk_size,
		     unsigned int io_timeout_ms, const char *spanblkd);

struct sb_cluster;
struct sb_engine;
struct xp_secret;

/*
 * tl_cluster_start(), then load its secret into @secret (as a gateway
 * holds it). 0, or -1 with the reason on stderr; the caller destroys the
 * cluster whatever it returns.
 */
int tl_cluster_start_secret(struct tl_cluster *c, unsigned int n,
			    unsigned int replicas, uint64_t chunk_size,
			    unsigned int io_timeout_ms, const char *spanblkd,
			    struct xp_secret *secret);

/* How long tl_engine_start() waits for its engine to reach every node. */
#define TL_READY_MS 10000

/*
 * tl_cluster_start_secret() with the default daemon, then load its
 * cluster file into @cl and make an engine, into @e, that
 * has every node connected within TL_READY_MS. 0, or -1 with the reason on
 * stderr. Whatever it returns, the caller frees the engine (NULL when
 * none was made) and destroys the cluster.
 */
int tl_engine_start(struct tl_cluster *c, unsigned int n, unsigned int replicas,
		    uint64_t chunk_size, unsigned int io_timeout_ms,
		    struct sb_cluster *cl, struct xp_secret *secret,
		    struct sb_engine **e);

/*
 * Restart node @i of @c (SIGTERM, then waited for until it accepts again)
 * with @text appended to its config. 0 or -errno.
 */
int tl_node_add_config(struct tl_cluster *c, unsigned int i, const char *text);

/*
 * Restart every node of @c with the cluster store in its config (etcd
 * @endpoints, etcd_prefix @prefix and node_ttl @ttl_s), as
 * tl_node_add_config() does. 0 or -errno.
 */
int tl_nodes_use_store(struct tl_cluster *c, const char *endpoints,
		       const char *prefix, unsigned int ttl_s);

/*
 * Name the cluster store (etcd @endpoints, etcd_prefix @prefix) in the
 * [cluster] section of @c's cluster file, with one more "key = value"
 * line @extra (NULL: none). 0 or -errno.
 */
int tl_cluster_file_use_store(const struct tl_cluster *c, const char *endpoints,
			      const char *prefix, const char *extra);

/* Send @sig to node @i and reap it (SIGKILL, SIGTERM). Returns its exit
 * status as waitpid gives it, or -errno. */
int tl_node_stop(struct tl_cluster *c, unsigned int i, int sig);

/* (Re)start node @i with its config and wait until it accepts. 0 or -errno. */
int tl_node_start(struct tl_cluster *c, unsigned int i);

/*
 * SIGTERM node @i and reap it; SIGKILL when it has not exited within
 * @wait_ms. Its exit status as waitpid gives it, or -ETIMEDOUT (killed),
 * or -errno.
 */
int tl_node_term(struct tl_cluster *c, unsigned int i, unsigned int wait_ms);

/* Node @i's process has exited on its own (not reaped yet). */
bool tl_node_exited(const struct tl_cluster *c, unsigned int i);

/* Empty the data folder of node @i, which is not running (a new disk).
 * 0 or -errno. */
int tl_node_wipe(struct tl_cluster *c, unsigned int i);

/* The last @lines lines of node @i's log to stdout. */
void tl_node_log_tail(const struct tl_cluster *c, unsigned int i,
		      unsigned int lines);

struct xp_kv;

/* Wait up to @ms until node id @id is up (@up) or down in the cluster
 * store @kv under @prefix. */
bool tl_wait_member(struct xp_kv *kv, const char *prefix, uint32_t id, bool up,
		    unsigned int ms);

/* The store revision at which node id @id registered its current
 * incarnation (its alive key's create revision; the floor of the push
 * epochs it admits), or 0 when it is not up. */
int64_t tl_alive_rev(struct xp_kv *kv, const char *prefix, uint32_t id);

/* Stop every node (SIGKILL) and remove the folder. Accepts a zeroed c. */
void tl_cluster_destroy(struct tl_cluster *c);

/* A TCP port on 127.0.0.1 that was free a moment ago. */
uint16_t tl_free_port(void);

/* Fill @buf with @len random bytes; a cmocka assertion fails when the
 * kernel gives none. */
void tl_fill_random(void *buf, size_t len);

/* Run @argv (NULL-terminated), capture up to @cap bytes of stdout+stderr
 * into @out (NUL-terminated); returns the exit status or -errno. */
int tl_run(char *const argv[], char *out, size_t cap);

struct sb_cluster;
struct xp_secret;
struct sb_engine;
/* A gateway engine over @cl, given up to 10 s to connect; the test fails
 * when it cannot be made. */
struct sb_engine *tl_engine(const struct sb_cluster *cl,
			    const struct xp_secret *secret);

#endif
