/* SPDX-License-Identifier: Apache-2.0 */
/*
 * spanblkd: the spanblk storage node. main() only: options, the config
 * file, then nd_server (node/server.h) does the rest.
 *
 *   spanblkd -c /etc/spanblk/node.conf [--port 7401 ...]
 *
 * Command-line options override the file's keys. Any reason not to start
 * is one line on stderr and exit status 1; a clean stop (SIGTERM/SIGINT)
 * exits 0.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/config.h"
#include "../lib/util/log.h"
#include "../xport/proto.h"
#include "server.h"

#define SPANBLKD_VERSION "0.1.0"

/*
 * Allocations up to this size come from the heap, not a fresh mmap: every
 * payload and read buffer (at most XP_MAX_PAYLOAD) included.
 */
#define MMAP_THRESHOLD (32u << 20)
/* Free memory at the heap's top kept mapped before it is given back. */
#define TRIM_THRESHOLD (256u << 20)
_Static_assert(XP_MAX_PAYLOAD <= MMAP_THRESHOLD, "payloads must fit the heap");

enum {
	OPT_ID = 256,
	OPT_LISTEN,
	OPT_PORT,
	OPT_DATA_DIR,
	OPT_SECRET_FILE,
	OPT_RDMA_DEVICE,
};

static const struct option long_opts[] = {
	{"config", required_argument, NULL, 'c'},
	{"id", required_argument, NULL, OPT_ID},
	{"listen", required_argument, NULL, OPT_LISTEN},
	{"port", required_argument, NULL, OPT_PORT},
	{"data-dir", required_argument, NULL, OPT_DATA_DIR},
	{"secret-file", required_argument, NULL, OPT_SECRET_FILE},
	{"rdma-device", required_argument, NULL, OPT_RDMA_DEVICE},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: spanblkd [-c FILE] [options]\n"
		"  -c, --config FILE     node config file ([node] section)\n"
		"      --id N            node id (1..4294967295)\n"
		"      --listen ADDR     address to listen on (default "
		"0.0.0.0)\n"
		"      --port N          TCP port (default %u)\n"
		"      --data-dir DIR    folder of the LUN files\n"
		"      --secret-file F   cluster secret (16..256 bytes)\n"
		"      --rdma-device DEV RDMA device: RDMA payload\n"
		"  -h, --help            this text\n"
		"  -V, --version         print the version\n"
		"Options override the config file. Stop with SIGTERM.\n",
		SB_DEFAULT_PORT);
}

/* Print the one line that says why the node does not start; returns 1. */
static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "spanblkd: %s\n", line);
	return 1;
}

/* Copy @src into @dst of @cap bytes; false when it does not fit. */
static bool copy_opt(char *dst, size_t cap, const char *src)
{
	int n = snprintf(dst, cap, "%s", src);

	return n >= 0 && (size_t)n < cap && *src;
}

struct overrides {
	const char *id, *listen, *port, *data_dir, *secret_file, *rdma;
};

static int apply(struct sb_nodecfg *nc, const struct overrides *o)
{
	uint64_t v;

	if (o->id) {
		if (sb_parse_uint(o->id, 1, UINT32_MAX, &v))
			return fail("bad --id '%s'", o->id);
		nc->id = (uint32_t)v;
	}
	if (o->port) {
		if (sb_parse_uint(o->port, 1, 65535, &v))
			return fail("bad --port '%s'", o->port);
		nc->port = (uint16_t)v;
	}
	if (o->listen && !copy_opt(nc->listen, sizeof(nc->listen), o->listen))
		return fail("bad --listen '%s'", o->listen);
	if (o->data_dir &&
	    !copy_opt(nc->data_dir, sizeof(nc->data_dir), o->data_dir))
		return fail("bad --data-dir '%s'", o->data_dir);
	if (o->secret_file &&
	    !copy_opt(nc->secret_file, sizeof(nc->secret_file), o->secret_file))
		return fail("bad --secret-file '%s'", o->secret_file);
	if (o->rdma &&
	    !copy_opt(nc->rdma_device, sizeof(nc->rdma_device), o->rdma))
		return fail("bad --rdma-device '%s'", o->rdma);
	if (!nc->id)
		return fail("no node id: set [node] id or --id");
	return 0;
}

int main(int argc, char **argv)
{
	struct overrides o = {0};
	const char *conf = NULL;
	struct nd_server *s;
	struct sb_nodecfg nc;
	char err[512];
	int opt, ret;

	/*
	 * glibc serves 1 MiB buffers by mmap and unmaps them on free (or trims
	 * the heap under them), so every chunk-sized I/O paid page faults and
	 * page zeroing: a quarter of the node's time in 1 MiB writes (perf).
	 * Keep them on a heap that stays mapped. Failure (as under ASan,
	 * whose allocator ignores mallopt) only costs speed.
	 */
	(void)mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
	(void)mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD);

	while ((opt = getopt_long(argc, argv, "c:hV", long_opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			conf = optarg;
			break;
		case OPT_ID:
			o.id = optarg;
			break;
		case OPT_LISTEN:
			o.listen = optarg;
			break;
		case OPT_PORT:
			o.port = optarg;
			break;
		case OPT_DATA_DIR:
			o.data_dir = optarg;
			break;
		case OPT_SECRET_FILE:
			o.secret_file = optarg;
			break;
		case OPT_RDMA_DEVICE:
			o.rdma = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("spanblkd %s (protocol %d)\n", SPANBLKD_VERSION,
			       XP_VERSION);
			return 0;
		default:
			/* getopt printed the reason on its one line. */
			return 1;
		}
	}
	if (optind < argc)
		return fail("unexpected argument '%s'", argv[optind]);

	if (conf) {
		ret = sb_nodecfg_load(conf, &nc, err, sizeof(err));
		if (ret)
			return fail("%s: %s", conf,
				    err[0] ? err : strerror(-ret));
	} else {
		sb_nodecfg_defaults(&nc);
	}
	ret = apply(&nc, &o);
	if (ret)
		return ret;

	err[0] = '\0';
	ret = nd_server_new(&nc, &s, err, sizeof(err));
	if (ret)
		return fail("%s", err[0] ? err : strerror(-ret));
	sb_info("node %u listening on %s port %u, data dir %s", nc.id,
		nc.listen, nd_server_port(s), nc.data_dir);
	ret = nd_server_run(s);
	nd_server_free(s);
	return ret ? 1 : 0;
}
