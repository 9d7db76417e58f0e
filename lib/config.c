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
	vsnprintf(ctx->err, ctx->errlen, fmt, ap);
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

static int cluster_key(void *user, const char *section, const char *name,
		       const char *value)
{
	struct parse_ctx *ctx = user;
	struct sb_cluster *cl = ctx->out;
	uint64_t v;

	if (!strcmp(section, "cluster")) {
		if (!strcmp(name, "replicas")) {
			if (sb_parse_uint(value, 1, SB_MAX_NODES, &v) < 0)
				goto bad_value;
			cl->replicas = (unsigned int)v;
		} else if (!strcmp(name, "chunk_size")) {
			if (sb_parse_size(value, &v) < 0 || v < SB_MIN_CHUNK ||
			    v > SB_MAX_CHUNK || (v & (v - 1))) {
				fail(ctx,
				     "[cluster] chunk_size must be a power of "
				     "two from 64K to 1G, not '%s'",
				     value);
				return 0;
			}
			cl->chunk_size = v;
		} else if (!strcmp(name, "secret_file")) {
			if (!copy_str(cl->secret_file, sizeof(cl->secret_file),
				      value))
				goto bad_value;
		} else if (!strcmp(name, "io_timeout_ms")) {
			if (sb_parse_uint(value, 100, 3600000, &v) < 0)
				goto bad_value;
			cl->io_timeout_ms = (unsigned int)v;
		} else if (!strcmp(name, "queue_depth")) {
			if (sb_parse_uint(value, 1, 4096, &v) < 0)
				goto bad_value;
			cl->queue_depth = (unsigned int)v;
		} else if (!strcmp(name, "rdma")) {
			if (!strcmp(value, "auto"))
				cl->rdma = SB_RDMA_AUTO;
			else if (!strcmp(value, "off"))
				cl->rdma = SB_RDMA_OFF;
			else if (!strcmp(value, "on"))
				cl->rdma = SB_RDMA_ON;
			else
				goto bad_value;
		} else if (!strcmp(name, "rdma_buffers")) {
			if (sb_parse_uint(value, 1, 4096, &v) < 0)
				goto bad_value;
			cl->rdma_buffers = (unsigned int)v;
		} else if (!strcmp(name, "rdma_buffer_size")) {
			if (sb_parse_size(value, &v) < 0 ||
			    v < SB_RDMA_BUF_MIN || v > SB_RDMA_BUF_MAX ||
			    v % SB_RDMA_BUF_MIN)
				goto bad_value;
			cl->rdma_buffer_size = (uint32_t)v;
		} else if (!strcmp(name, "rdma_windows")) {
			if (!strcmp(value, "auto"))
				cl->rdma_windows = true;
			else if (!strcmp(value, "off"))
				cl->rdma_windows = false;
			else
				goto bad_value;
		} else {
			goto bad_key;
		}
		return 1;
	}
	if (!strncmp(section, "node.", 5)) {
		struct sb_node_addr *na = NULL;
		unsigned int i;

		if (sb_parse_uint(section + 5, 1, UINT32_MAX, &v) < 0) {
			fail(ctx, "section [%s]: node id must be 1..%u",
			     section, UINT32_MAX);
			return 0;
		}
		for (i = 0; i < cl->nr_nodes; i++)
			if (cl->nodes[i].id == v)
				na = &cl->nodes[i];
		if (!na) {
			if (cl->nr_nodes == SB_MAX_NODES) {
				fail(ctx, "more than %d nodes", SB_MAX_NODES);
				return 0;
			}
			na = &cl->nodes[cl->nr_nodes++];
			na->id = (uint32_t)v;
			na->port = SB_DEFAULT_PORT;
		}
		if (!strcmp(name, "address")) {
			if (!copy_str(na->host, sizeof(na->host), value))
				goto bad_value;
			ctx->node_has_addr[na - cl->nodes] = true;
		} else if (!strcmp(name, "port")) {
			if (sb_parse_uint(value, 1, 65535, &v) < 0)
				goto bad_value;
			na->port = (uint16_t)v;
		} else {
			goto bad_key;
		}
		return 1;
	}
	fail(ctx, "unknown section [%s] (expected [cluster] or [node.<id>])",
	     section);
	return 0;

bad_key:
	fail(ctx, "unknown key '%s' in [%s]", name, section);
	return 0;
bad_value:
	fail(ctx, "[%s] %s: bad value '%s'", section, name, value);
	return 0;
}

static int cmp_node(const void *a, const void *b)
{
	const struct sb_node_addr *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static void cluster_defaults(struct sb_cluster *cl)
{
	memset(cl, 0, sizeof(*cl));
	cl->replicas = SB_DEFAULT_REPLICAS;
	cl->chunk_size = SB_DEFAULT_CHUNK;
	cl->io_timeout_ms = SB_DEFAULT_IO_TIMEOUT_MS;
	cl->queue_depth = SB_DEFAULT_QUEUE_DEPTH;
	cl->rdma = SB_RDMA_AUTO;
	cl->rdma_buffers = SB_DEFAULT_GW_RDMA_BUFFERS;
	cl->rdma_buffer_size = SB_DEFAULT_GW_RDMA_BUFFER;
	cl->rdma_windows = true;
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

void sb_nodecfg_defaults(struct sb_nodecfg *nc)
{
	memset(nc, 0, sizeof(*nc));
	snprintf(nc->listen, sizeof(nc->listen), "0.0.0.0");
	nc->port = SB_DEFAULT_PORT;
	snprintf(nc->data_dir, sizeof(nc->data_dir), "/var/lib/spanblk");
	snprintf(nc->secret_file, sizeof(nc->secret_file),
		 "/etc/spanblk/secret");
	nc->rdma_port = SB_DEFAULT_RDMA_PORT;
	nc->rdma_buffers = SB_DEFAULT_RDMA_BUFFERS;
	nc->rdma_segment = SB_DEFAULT_RDMA_SEGMENT;
	nc->rdma_max_ops = SB_DEFAULT_RDMA_MAX_OPS;
}

static int node_key(void *user, const char *section, const char *name,
		    const char *value)
{
	struct parse_ctx *ctx = user;
	struct sb_nodecfg *nc = ctx->out;
	uint64_t v;

	if (strcmp(section, "node")) {
		fail(ctx, "unknown section [%s] (expected [node])", section);
		return 0;
	}
	ctx->seen_node = true;
	if (!strcmp(name, "id")) {
		if (sb_parse_uint(value, 1, UINT32_MAX, &v) < 0)
			goto bad_value;
		nc->id = (uint32_t)v;
		ctx->has_id = true;
	} else if (!strcmp(name, "listen")) {
		if (!copy_str(nc->listen, sizeof(nc->listen), value))
			goto bad_value;
	} else if (!strcmp(name, "port")) {
		if (sb_parse_uint(value, 1, 65535, &v) < 0)
			goto bad_value;
		nc->port = (uint16_t)v;
	} else if (!strcmp(name, "data_dir")) {
		if (!copy_str(nc->data_dir, sizeof(nc->data_dir), value))
			goto bad_value;
	} else if (!strcmp(name, "secret_file")) {
		if (!copy_str(nc->secret_file, sizeof(nc->secret_file), value))
			goto bad_value;
	} else if (!strcmp(name, "rdma_device")) {
		if (!copy_str(nc->rdma_device, sizeof(nc->rdma_device), value))
			goto bad_value;
	} else if (!strcmp(name, "rdma_addr")) {
		if (!copy_str(nc->rdma_addr, sizeof(nc->rdma_addr), value))
			goto bad_value;
	} else if (!strcmp(name, "rdma_port")) {
		if (sb_parse_uint(value, 1, 65535, &v) < 0)
			goto bad_value;
		nc->rdma_port = (uint16_t)v;
	} else if (!strcmp(name, "rdma_buffers")) {
		if (sb_parse_uint(value, 1, 4096, &v) < 0)
			goto bad_value;
		nc->rdma_buffers = (uint32_t)v;
	} else if (!strcmp(name, "rdma_segment")) {
		if (sb_parse_size(value, &v) < 0 || v < SB_RDMA_BUF_MIN ||
		    v > SB_RDMA_BUF_MAX || v % SB_RDMA_BUF_MIN)
			goto bad_value;
		nc->rdma_segment = (uint32_t)v;
	} else if (!strcmp(name, "rdma_max_ops")) {
		if (sb_parse_uint(value, 1, 4096, &v) < 0)
			goto bad_value;
		nc->rdma_max_ops = (uint32_t)v;
	} else {
		fail(ctx, "unknown key '%s' in [node]", name);
		return 0;
	}
	return 1;

bad_value:
	fail(ctx, "[node] %s: bad value '%s'", name, value);
	return 0;
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
