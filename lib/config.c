/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cluster and node configuration files (see config.h), parsed with inih.
 *
 * Cluster file:                       Node file:
 *   [cluster]                           [node]
 *   replicas = 2                        id = 1
 *   chunk_size = 1M                     listen = 0.0.0.0
 *   secret_file = /etc/spanblk/secret   port = 7400
 *   io_timeout_ms = 30000               data_dir = /var/lib/spanblk
 *   queue_depth = 64                    secret_file = /etc/spanblk/secret
 *   rdma = auto                         rdma_device = rxe0
 *   rdma_buffers = 16                   rdma_addr = 10.0.0.1
 *   rdma_buffer_size = 1M               rdma_port = 7401
 *   rdma_windows = auto                 rdma_buffers = 32
 *   [node.1]                            rdma_segment = 256K
 *   address = 10.0.0.1                  rdma_max_ops = 64
 *   port = 7400
 */
#include "config.h"
#include "util/errbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#define CONF_MAX_BYTES (1u << 20)

struct parse_ctx {
	char *err;
	size_t errlen;
	bool failed; /* err holds the first problem */
	void *out;
	/* cluster file only */
	bool node_has_addr[SB_MAX_NODES];
	/* node file only */
	bool seen_node;
	bool has_id;
};

static void fail(struct parse_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fail(struct parse_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	if (ctx->failed)
		return;
	ctx->failed = true;
	va_start(ap, fmt);
	sb_verrf(ctx->err, ctx->errlen, fmt, ap);
	va_end(ap);
}

/* The leading decimal digits of @s into *@v, *@end after them. */
static int parse_digits(const char *s, unsigned long long *v, char **end)
{
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, end, 10);
	return errno == ERANGE ? -ERANGE : 0;
}

int sb_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;
	int ret = parse_digits(s, &v, &end);

	if (ret)
		return ret;
	if (*end)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int sb_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;
	int ret = parse_digits(s, &v, &end);

	if (ret)
		return ret;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	case 't':
	case 'T':
		shift = 40;
		break;
	case '\0':
	case 'B':
		break;
	default:
		return -EINVAL;
	}
	if (shift) {
		end++;
		if (!strcmp(end, "iB") || !strcmp(end, "B"))
			end += strlen(end);
	} else if (*end == 'B') {
		end++;
	}
	if (*end)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

static bool copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (!n || n >= cap)
		return false;
	memcpy(dst, src, n + 1);
	return true;
}

/* What a section's setter made of one key. */
enum key_res {
	KEY_SET, /* value stored */
	KEY_BAD_VALUE, /* the caller reports "[section] key: bad value" */
	KEY_UNKNOWN, /* the caller reports "unknown key" */
	KEY_FAILED, /* reported already */
};

/* How a plain key's value is read. */
enum key_kind {
	KEY_STR, /* non-empty, fits the field with its NUL */
	KEY_U16, /* decimal in [min, max] */
	KEY_U32, /* decimal in [min, max] */
	KEY_RDMA_BUF, /* size: a multiple of SB_RDMA_BUF_MIN up to _MAX */
};

/* A plain key of a section and the field its value goes to. */
struct conf_key {
	const char *name;
	enum key_kind kind;
	union {
		char *str;
		uint16_t *u16;
		uint32_t *u32;
	} to;
	size_t cap; /* KEY_STR: room at to.str */
	uint64_t min, max; /* KEY_U16, KEY_U32 */
};

#define STR_KEY(n, f)                                     \
	{                                                 \
		n, KEY_STR, {.str = (f)}, sizeof(f), 0, 0 \
	}
#define U16_KEY(n, f, lo, hi)                        \
	{                                            \
		n, KEY_U16, {.u16 = &(f)}, 0, lo, hi \
	}
#define U32_KEY(n, f, lo, hi)                        \
	{                                            \
		n, KEY_U32, {.u32 = &(f)}, 0, lo, hi \
	}
#define BUF_KEY(n, f)                                   \
	{                                               \
		n, KEY_RDMA_BUF, {.u32 = &(f)}, 0, 0, 0 \
	}
#define NKEYS(t) (sizeof(t) / sizeof((t)[0]))

/* Set key @name of the @n @keys from @value. */
static enum key_res key_set(const struct conf_key *keys, size_t n,
			    const char *name, const char *value)
{
	const struct conf_key *k = keys;
	uint64_t v;

	while (k < keys + n && strcmp(k->name, name))
		k++;
	if (k == keys + n)
		return KEY_UNKNOWN;
	switch (k->kind) {
	case KEY_STR:
		return copy_str(k->to.str, k->cap, value) ? KEY_SET
							  : KEY_BAD_VALUE;
	case KEY_U16:
		if (sb_parse_uint(value, k->min, k->max, &v) < 0)
			return KEY_BAD_VALUE;
		*k->to.u16 = (uint16_t)v;
		return KEY_SET;
	case KEY_U32:
		if (sb_parse_uint(value, k->min, k->max, &v) < 0)
			return KEY_BAD_VALUE;
		*k->to.u32 = (uint32_t)v;
		return KEY_SET;
	case KEY_RDMA_BUF:
		if (sb_parse_size(value, &v) < 0 || v < SB_RDMA_BUF_MIN ||
		    v > SB_RDMA_BUF_MAX || v % SB_RDMA_BUF_MIN)
			return KEY_BAD_VALUE;
		*k->to.u32 = (uint32_t)v;
		return KEY_SET;
	}
	return KEY_BAD_VALUE;
}

/* Report what @res says about key @name = @value of [@section]. 1 or 0. */
static int key_report(struct parse_ctx *ctx, enum key_res res,
		      const char *section, const char *name, const char *value)
{
	switch (res) {
	case KEY_SET:
		return 1;
	case KEY_BAD_VALUE:
		fail(ctx, "[%s] %s: bad value '%s'", section, name, value);
		break;
	case KEY_UNKNOWN:
		fail(ctx, "unknown key '%s' in [%s]", name, section);
		break;
	case KEY_FAILED:
		break;
	}
	return 0;
}

/* The index of @value in @words (@n of them), or -1. */
static int word_index(const char *value, const char *const *words, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (words[i] && !strcmp(value, words[i]))
			return i;
	return -1;
}

/* Key @name = @value of [cluster]. */
static enum key_res cluster_set(struct parse_ctx *ctx, struct sb_cluster *cl,
				const char *name, const char *value)
{
	static const char *const modes[] = {
		[SB_RDMA_AUTO] = "auto",
		[SB_RDMA_OFF] = "off",
		[SB_RDMA_ON] = "on",
	};
	static const char *const windows[] = {[false] = "off", [true] = "auto"};
	const struct conf_key keys[] = {
		U32_KEY("replicas", cl->replicas, 1, SB_MAX_NODES),
		STR_KEY("secret_file", cl->secret_file),
		U32_KEY("io_timeout_ms", cl->io_timeout_ms, 100, 3600000),
		U32_KEY("queue_depth", cl->queue_depth, 1, 4096),
		U32_KEY("rdma_buffers", cl->rdma_buffers, 1, 4096),
		BUF_KEY("rdma_buffer_size", cl->rdma_buffer_size),
		STR_KEY("etcd", cl->etcd),
		STR_KEY("etcd_prefix", cl->etcd_prefix),
		U32_KEY("min_replicas", cl->min_replicas, 1, SB_MAX_NODES),
		U32_KEY("resync_depth", cl->resync_depth, 1,
			SB_MAX_RESYNC_DEPTH),
		U32_KEY("resync_rate", cl->resync_rate, 0, 1000000),
	};
	uint64_t v;
	int i;

	if (!strcmp(name, "chunk_size")) {
		if (sb_parse_size(value, &v) < 0 || v < SB_MIN_CHUNK ||
		    v > SB_MAX_CHUNK || (v & (v - 1))) {
			fail(ctx,
			     "[cluster] chunk_size must be a power of two from "
			     "64K to 1G, not '%s'",
			     value);
			return KEY_FAILED;
		}
		cl->chunk_size = v;
		return KEY_SET;
	}
	if (!strcmp(name, "rdma")) {
		i = word_index(value, modes, (int)NKEYS(modes));
		if (i < 0)
			return KEY_BAD_VALUE;
		cl->rdma = (enum sb_rdma_mode)i;
		return KEY_SET;
	}
	if (!strcmp(name, "rdma_windows")) {
		i = word_index(value, windows, (int)NKEYS(windows));
		if (i < 0)
			return KEY_BAD_VALUE;
		cl->rdma_windows = i;
		return KEY_SET;
	}
	return key_set(keys, NKEYS(keys), name, value);
}

/*
 * The entry of section [@section] ("node.<id>") in ctx->out, added when
 * new. NULL after fail().
 */
static struct sb_node_addr *node_addr(struct parse_ctx *ctx,
				      const char *section)
{
	struct sb_cluster *cl = ctx->out;
	struct sb_node_addr *na = NULL;
	unsigned int i;
	uint64_t v;

	if (sb_parse_uint(section + 5, 1, UINT32_MAX, &v) < 0) {
		fail(ctx, "section [%s]: node id must be 1..%u", section,
		     UINT32_MAX);
		return NULL;
	}
	for (i = 0; i < cl->nr_nodes; i++)
		if (cl->nodes[i].id == v)
			na = &cl->nodes[i];
	if (!na) {
		if (cl->nr_nodes == SB_MAX_NODES) {
			fail(ctx, "more than %d nodes", SB_MAX_NODES);
			return NULL;
		}
		na = &cl->nodes[cl->nr_nodes++];
		na->id = (uint32_t)v;
		na->port = SB_DEFAULT_PORT;
	}
	return na;
}

/* Key @name = @value of a [node.<id>] section, for node @na. */
static enum key_res node_addr_set(struct parse_ctx *ctx,
				  struct sb_node_addr *na, const char *name,
				  const char *value)
{
	struct sb_cluster *cl = ctx->out;
	const struct conf_key keys[] = {
		STR_KEY("address", na->host),
		U16_KEY("port", na->port, 1, 65535),
	};
	enum key_res res = key_set(keys, NKEYS(keys), name, value);

	if (res == KEY_SET && !strcmp(name, "address"))
		ctx->node_has_addr[na - cl->nodes] = true;
	return res;
}

static int cluster_key(void *user, const char *section, const char *name,
		       const char *value)
{
	struct parse_ctx *ctx = user;
	struct sb_node_addr *na;
	enum key_res res;

	if (!strcmp(section, "cluster")) {
		res = cluster_set(ctx, ctx->out, name, value);
	} else if (!strncmp(section, "node.", 5)) {
		na = node_addr(ctx, section);
		res = na ? node_addr_set(ctx, na, name, value) : KEY_FAILED;
	} else {
		fail(ctx,
		     "unknown section [%s] (expected [cluster] or [node.<id>])",
		     section);
		return 0;
	}
	return key_report(ctx, res, section, name, value);
}

/* Format a reason into @err and return -EINVAL. */
__attribute__((format(printf, 3, 4))) static int
einval(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sb_verrf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Check "HOST:PORT" of an endpoint (@len bytes at @s). 0 or -EINVAL. */
static int endpoint_hostport(const char *s, size_t len, char *err,
			     size_t errlen)
{
	const char *colon;
	char port[8];
	uint64_t v;
	size_t hl, i;

	colon = memrchr(s, ':', len);
	if (!colon || colon == s)
		return einval(err, errlen, "'%.*s' has no host:port", (int)len,
			      s);
	hl = (size_t)(colon - s);
	if (s[0] == '[' ? s[hl - 1] != ']' || hl < 3 : hl > SB_HOST_MAX)
		return einval(err, errlen, "bad host in '%.*s'", (int)len, s);
	for (i = 0; i < hl; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]",
			    s[i]))
			return einval(err, errlen, "bad host in '%.*s'",
				      (int)len, s);
	if (len - hl - 1 >= sizeof(port) || len - hl - 1 == 0)
		return einval(err, errlen, "bad port in '%.*s'", (int)len, s);
	memcpy(port, colon + 1, len - hl - 1);
	port[len - hl - 1] = '\0';
	if (sb_parse_uint(port, 1, 65535, &v) < 0)
		return einval(err, errlen, "bad port in '%.*s'", (int)len, s);
	return 0;
}

int sb_etcd_endpoints_check(const char *s, char *err, size_t errlen)
{
	static const char scheme[] = "http://";
	const size_t sl = sizeof(scheme) - 1;
	unsigned int n = 0;
	const char *end;
	size_t len;

	if (!*s)
		return einval(err, errlen, "no endpoint");
	for (;; s = end + 1) {
		end = strchrnul(s, ',');
		len = (size_t)(end - s);
		if (++n > SB_ETCD_ENDPOINTS_MAX)
			return einval(err, errlen, "more than %d endpoints",
				      SB_ETCD_ENDPOINTS_MAX);
		if (len <= sl || strncmp(s, scheme, sl))
			return einval(err, errlen,
				      "'%.*s' is not http://host:port",
				      (int)len, s);
		if (endpoint_hostport(s + sl, len - sl, err, errlen) < 0)
			return -EINVAL;
		if (!*end)
			return 0;
	}
}

int sb_etcd_prefix_check(const char *s, char *err, size_t errlen)
{
	size_t n = strlen(s);

	if (n < 1 || s[0] != '/' || s[n - 1] != '/' ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyz"
		      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/") != n)
		return einval(err, errlen,
			      "'%s' must start and end with '/' and hold "
			      "only letters, digits and ._-/",
			      s);
	return 0;
}

/* The store keys of [@section]: endpoints and prefix. 0 or -EINVAL. */
static int store_check(struct parse_ctx *ctx, const char *section,
		       const char *etcd, const char *prefix)
{
	char why[256];

	if (etcd[0] && sb_etcd_endpoints_check(etcd, why, sizeof(why)) < 0) {
		fail(ctx, "[%s] etcd: %s", section, why);
		return -EINVAL;
	}
	if (sb_etcd_prefix_check(prefix, why, sizeof(why)) < 0) {
		fail(ctx, "[%s] etcd_prefix: %s", section, why);
		return -EINVAL;
	}
	return 0;
}

static int cmp_node(const void *a, const void *b)
{
	const struct sb_node_addr *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static void cluster_defaults(struct sb_cluster *cl)
{
	static const struct sb_cluster defaults = {
		.replicas = SB_DEFAULT_REPLICAS,
		.chunk_size = SB_DEFAULT_CHUNK,
		.io_timeout_ms = SB_DEFAULT_IO_TIMEOUT_MS,
		.queue_depth = SB_DEFAULT_QUEUE_DEPTH,
		.rdma = SB_RDMA_AUTO,
		.rdma_buffers = SB_DEFAULT_GW_RDMA_BUFFERS,
		.rdma_buffer_size = SB_DEFAULT_GW_RDMA_BUFFER,
		.rdma_windows = true,
		.etcd_prefix = SB_DEFAULT_ETCD_PREFIX,
		.resync_depth = SB_DEFAULT_RESYNC_DEPTH,
	};

	*cl = defaults;
}

static int parse_text(const char *text, ini_handler h, struct parse_ctx *ctx)
{
	int ret;

	ret = ini_parse_string(text, h, ctx);
	if (ret < 0) {
		fail(ctx, "cannot parse the file");
		return -EINVAL;
	}
	if (ret > 0 && !ctx->failed)
		fail(ctx,
		     "line %d: syntax error (expected [section] or key = "
		     "value)",
		     ret);
	return ctx->failed ? -EINVAL : 0;
}

int sb_cluster_parse(const char *text, struct sb_cluster *cl, char *err,
		     size_t errlen)
{
	struct parse_ctx ctx = {.err = err, .errlen = errlen, .out = cl};
	unsigned int i, j;

	cluster_defaults(cl);
	if (errlen)
		err[0] = '\0';
	if (parse_text(text, cluster_key, &ctx) < 0)
		return -EINVAL;
	if (!cl->nr_nodes) {
		fail(&ctx, "no [node.<id>] sections: a cluster needs nodes");
		return -EINVAL;
	}
	for (i = 0; i < cl->nr_nodes; i++) {
		if (!ctx.node_has_addr[i]) {
			fail(&ctx, "[node.%u] has no address", cl->nodes[i].id);
			return -EINVAL;
		}
	}
	if (!cl->secret_file[0]) {
		fail(&ctx, "[cluster] secret_file is required");
		return -EINVAL;
	}
	if (store_check(&ctx, "cluster", cl->etcd, cl->etcd_prefix) < 0)
		return -EINVAL;
	if (cl->min_replicas > cl->replicas) {
		fail(&ctx, "min_replicas = %u is above replicas = %u",
		     cl->min_replicas, cl->replicas);
		return -EINVAL;
	}
	if (cl->replicas > cl->nr_nodes) {
		fail(&ctx, "replicas = %u but the cluster has only %u node%s",
		     cl->replicas, cl->nr_nodes, cl->nr_nodes == 1 ? "" : "s");
		return -EINVAL;
	}
	qsort(cl->nodes, cl->nr_nodes, sizeof(cl->nodes[0]), cmp_node);
	for (i = 0; i < cl->nr_nodes; i++)
		for (j = i + 1; j < cl->nr_nodes; j++)
			if (cl->nodes[i].port == cl->nodes[j].port &&
			    !strcmp(cl->nodes[i].host, cl->nodes[j].host)) {
				fail(&ctx, "nodes %u and %u both use %s:%u",
				     cl->nodes[i].id, cl->nodes[j].id,
				     cl->nodes[i].host, cl->nodes[i].port);
				return -EINVAL;
			}
	return 0;
}

/* Read a whole configuration file into a NUL-terminated malloc'd buffer. */
static int read_file(const char *path, char **text, char *err, size_t errlen)
{
	struct stat st;
	char *buf;
	size_t len = 0;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open %s: %s", path,
			 strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > CONF_MAX_BYTES) {
		snprintf(err, errlen, "%s is not a regular file under 1 MiB",
			 path);
		ret = -EINVAL;
		goto out_close;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory reading %s", path);
		goto out_close;
	}
	while (len < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + len, (size_t)st.st_size - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			ret = r < 0 ? -errno : -EIO;
			snprintf(err, errlen, "cannot read %s", path);
			free(buf);
			goto out_close;
		}
		len += (size_t)r;
	}
	buf[len] = '\0';
	if (strlen(buf) != len) {
		snprintf(err, errlen, "%s contains a NUL byte", path);
		free(buf);
		ret = -EINVAL;
		goto out_close;
	}
	*text = buf;
	ret = 0;
out_close:
	close(fd);
	return ret;
}

static int load(const char *path, char *err, size_t errlen,
		int (*parse)(const char *, void *, char *, size_t), void *out)
{
	char inner[512];
	char *text = NULL;
	int ret;

	ret = read_file(path, &text, err, errlen);
	if (ret < 0)
		return ret;
	ret = parse(text, out, inner, sizeof(inner));
	if (ret < 0)
		snprintf(err, errlen, "%s: %s", path, inner);
	free(text);
	return ret;
}

static int cluster_parse_v(const char *text, void *out, char *err,
			   size_t errlen)
{
	return sb_cluster_parse(text, out, err, errlen);
}

int sb_cluster_load(const char *path, struct sb_cluster *cl, char *err,
		    size_t errlen)
{
	return load(path, err, errlen, cluster_parse_v, cl);
}

int sb_cluster_node_index(const struct sb_cluster *cl, uint32_t id)
{
	unsigned int i;

	for (i = 0; i < cl->nr_nodes; i++)
		if (cl->nodes[i].id == id)
			return (int)i;
	return -ENOENT;
}

uint64_t sb_cluster_ids_mask(const struct sb_cluster *cl, const uint32_t *ids,
			     unsigned int n)
{
	uint64_t mask = 0;
	unsigned int i;
	int idx;

	for (i = 0; i < n; i++) {
		idx = sb_cluster_node_index(cl, ids[i]);
		if (idx >= 0)
			mask |= 1ull << idx;
	}
	return mask;
}

void sb_nodecfg_defaults(struct sb_nodecfg *nc)
{
	static const struct sb_nodecfg defaults = {
		.listen = "0.0.0.0",
		.port = SB_DEFAULT_PORT,
		.data_dir = "/var/lib/spanblk",
		.secret_file = "/etc/spanblk/secret",
		.rdma_port = SB_DEFAULT_RDMA_PORT,
		.rdma_buffers = SB_DEFAULT_RDMA_BUFFERS,
		.rdma_segment = SB_DEFAULT_RDMA_SEGMENT,
		.rdma_max_ops = SB_DEFAULT_RDMA_MAX_OPS,
		.etcd_prefix = SB_DEFAULT_ETCD_PREFIX,
		.node_ttl = SB_DEFAULT_NODE_TTL,
		.push_timeout_ms = SB_DEFAULT_PUSH_TIMEOUT_MS,
	};

	*nc = defaults;
}

static int node_key(void *user, const char *section, const char *name,
		    const char *value)
{
	struct parse_ctx *ctx = user;
	struct sb_nodecfg *nc = ctx->out;
	const struct conf_key keys[] = {
		U32_KEY("id", nc->id, 1, UINT32_MAX),
		STR_KEY("listen", nc->listen),
		U16_KEY("port", nc->port, 1, 65535),
		STR_KEY("data_dir", nc->data_dir),
		STR_KEY("secret_file", nc->secret_file),
		STR_KEY("rdma_device", nc->rdma_device),
		STR_KEY("rdma_addr", nc->rdma_addr),
		U16_KEY("rdma_port", nc->rdma_port, 1, 65535),
		U32_KEY("rdma_buffers", nc->rdma_buffers, 1, 4096),
		BUF_KEY("rdma_segment", nc->rdma_segment),
		U32_KEY("rdma_max_ops", nc->rdma_max_ops, 1, 4096),
		STR_KEY("etcd", nc->etcd),
		STR_KEY("etcd_prefix", nc->etcd_prefix),
		U32_KEY("node_ttl", nc->node_ttl, 2, 60),
		U32_KEY("push_timeout_ms", nc->push_timeout_ms, 100, 3600000),
	};
	enum key_res res;

	if (strcmp(section, "node")) {
		fail(ctx, "unknown section [%s] (expected [node])", section);
		return 0;
	}
	ctx->seen_node = true;
	res = key_set(keys, NKEYS(keys), name, value);
	if (res == KEY_SET && !strcmp(name, "id"))
		ctx->has_id = true;
	return key_report(ctx, res, section, name, value);
}

int sb_nodecfg_parse(const char *text, struct sb_nodecfg *nc, char *err,
		     size_t errlen)
{
	struct parse_ctx ctx = {.err = err, .errlen = errlen, .out = nc};

	sb_nodecfg_defaults(nc);
	if (errlen)
		err[0] = '\0';
	if (parse_text(text, node_key, &ctx) < 0)
		return -EINVAL;
	if (!ctx.seen_node) {
		fail(&ctx, "no [node] section");
		return -EINVAL;
	}
	if (!ctx.has_id) {
		fail(&ctx, "[node] id is required");
		return -EINVAL;
	}
	if (store_check(&ctx, "node", nc->etcd, nc->etcd_prefix) < 0)
		return -EINVAL;
	return 0;
}

static int node_parse_v(const char *text, void *out, char *err, size_t errlen)
{
	return sb_nodecfg_parse(text, out, err, errlen);
}

int sb_nodecfg_load(const char *path, struct sb_nodecfg *nc, char *err,
		    size_t errlen)
{
	return load(path, err, errlen, node_parse_v, nc);
}
