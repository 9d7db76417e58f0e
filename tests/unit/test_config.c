/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of lib/config.c: cluster and node files, sizes, numbers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/config.h"

static const char good[] = "[cluster]\n"
			   "replicas = 2\n"
			   "chunk_size = 256K\n"
			   "secret_file = /etc/spanblk/secret\n"
			   "io_timeout_ms = 5000\n"
			   "; comment\n"
			   "[node.3]\n"
			   "address = 10.0.0.3\n"
			   "port = 7403\n"
			   "[node.1]\n"
			   "address = node1.example\n";

static void expect_bad(const char *text, const char *needle);

static void test_cluster_good(void **state)
{
	struct sb_cluster cl;
	char err[256];

	(void)state;
	assert_int_equal(sb_cluster_parse(good, &cl, err, sizeof(err)), 0);
	assert_int_equal(cl.nr_nodes, 2);
	assert_int_equal(cl.nodes[0].id, 1); /* sorted by id */
	assert_string_equal(cl.nodes[0].host, "node1.example");
	assert_int_equal(cl.nodes[0].port, SB_DEFAULT_PORT);
	assert_int_equal(cl.nodes[1].port, 7403);
	assert_int_equal(cl.replicas, 2);
	assert_true(cl.chunk_size == 256 << 10);
	assert_int_equal(cl.io_timeout_ms, 5000);
	assert_int_equal(cl.queue_depth, SB_DEFAULT_QUEUE_DEPTH);
	assert_string_equal(cl.secret_file, "/etc/spanblk/secret");
	assert_int_equal(sb_cluster_node_index(&cl, 3), 1);
	assert_int_equal(sb_cluster_node_index(&cl, 2), -ENOENT);
	assert_int_equal(cl.rdma, SB_RDMA_AUTO);
	assert_int_equal(cl.rdma_buffers, SB_DEFAULT_GW_RDMA_BUFFERS);
	assert_int_equal(cl.rdma_buffer_size, SB_DEFAULT_GW_RDMA_BUFFER);
	assert_true(cl.rdma_windows);
}

static void test_cluster_rdma_keys(void **state)
{
	struct sb_cluster cl;
	char err[256];

	(void)state;
	assert_int_equal(sb_cluster_parse("[cluster]\nsecret_file=/s\n"
					  "replicas=1\nrdma=off\n"
					  "rdma_buffers=4\n"
					  "rdma_buffer_size=512K\n"
					  "rdma_windows=off\n"
					  "[node.1]\naddress=h\n",
					  &cl, err, sizeof(err)),
			 0);
	assert_int_equal(cl.rdma, SB_RDMA_OFF);
	assert_false(cl.rdma_windows);
	assert_int_equal(cl.rdma_buffers, 4);
	assert_int_equal(cl.rdma_buffer_size, 512 << 10);
	assert_int_equal(sb_cluster_parse("[cluster]\nsecret_file=/s\n"
					  "replicas=1\nrdma=on\n"
					  "[node.1]\naddress=h\n",
					  &cl, err, sizeof(err)),
			 0);
	assert_int_equal(cl.rdma, SB_RDMA_ON);
	assert_true(cl.rdma_windows);
	expect_bad("[cluster]\nsecret_file=/s\nrdma_windows=on\n"
		   "[node.1]\naddress=h\n",
		   "rdma_windows");
	expect_bad("[cluster]\nsecret_file=/s\nrdma=yes\n[node.1]\naddress=h\n",
		   "rdma");
	expect_bad("[cluster]\nsecret_file=/s\nrdma_buffer_size=5000\n"
		   "[node.1]\naddress=h\n",
		   "rdma_buffer_size");
	expect_bad("[cluster]\nsecret_file=/s\nrdma_buffers=0\n"
		   "[node.1]\naddress=h\n",
		   "rdma_buffers");
}

/* Each bad file is refused with a reason mentioning @needle. */
static void expect_bad(const char *text, const char *needle)
{
	struct sb_cluster cl;
	char err[256];

	assert_int_equal(sb_cluster_parse(text, &cl, err, sizeof(err)),
			 -EINVAL);
	if (!strstr(err, needle))
		fail_msg("reason '%s' lacks '%s'", err, needle);
}

static void test_cluster_bad(void **state)
{
	(void)state;
	expect_bad("", "no [node");
	expect_bad("[cluster]\nsecret_file=/s\n", "no [node");
	expect_bad("[cluster]\nreplicas=3\nsecret_file=/"
		   "s\n[node.1]\naddress=a\n",
		   "only 1 node");
	expect_bad("[cluster]\nreplicas=0\n", "replicas");
	expect_bad("[cluster]\nreplicas=two\n", "replicas");
	expect_bad("[cluster]\nchunk_size=100K\n", "power of two");
	expect_bad("[cluster]\nchunk_size=32K\n", "power of two");
	expect_bad("[cluster]\nchunk_size=2G\n", "power of two");
	expect_bad("[cluster]\ncolour=blue\n", "unknown key 'colour'");
	expect_bad("[cluster]\nsecret_file=/s\n[node.x]\naddress=a\n", "node "
								       "id");
	expect_bad("[cluster]\nsecret_file=/s\n[node.0]\naddress=a\n", "node "
								       "id");
	expect_bad("[cluster]\nsecret_file=/s\n[node.1]\nport=7400\n", "no "
								       "addres"
								       "s");
	expect_bad("[cluster]\nsecret_file=/"
		   "s\n[node.1]\naddress=a\nport=70000\n",
		   "port");
	expect_bad("[cluster]\n[node.1]\naddress=a\n", "secret_file");
	expect_bad("[cluster]\nsecret_file=/s\n[node.1]\naddress=a\n"
		   "[node.2]\naddress=a\n",
		   "both use a:7400");
	expect_bad("[clusters]\nreplicas=1\n", "unknown section");
	expect_bad("[cluster]\nthis line has no equals\n", "syntax");
	expect_bad("[cluster]\nio_timeout_ms=5\n", "io_timeout_ms");
}

static void test_store_keys(void **state)
{
	static const char base[] = "[node.1]\naddress = a\n[cluster]\n"
				   "secret_file = /s\nreplicas = 1\n";
	struct sb_cluster cl;
	struct sb_nodecfg nc;
	char text[1024], err[256];

	(void)state;
	assert_int_equal(sb_cluster_parse(base, &cl, err, sizeof(err)), 0);
	assert_string_equal(cl.etcd, "");
	assert_string_equal(cl.etcd_prefix, SB_DEFAULT_ETCD_PREFIX);
	snprintf(text, sizeof(text),
		 "%setcd = http://10.0.0.1:2379,http://e2.example:2379,"
		 "http://[::1]:2379\netcd_prefix = /prod/spanblk-1/\n",
		 base);
	assert_int_equal(sb_cluster_parse(text, &cl, err, sizeof(err)), 0);
	assert_string_equal(cl.etcd, "http://10.0.0.1:2379,http://"
				     "e2.example:2379,http://[::1]:2379");
	assert_string_equal(cl.etcd_prefix, "/prod/spanblk-1/");
	assert_int_equal(cl.resync_depth, SB_DEFAULT_RESYNC_DEPTH);
	assert_int_equal(cl.resync_rate, 0);
	snprintf(text, sizeof(text), "%sresync_depth = 64\nresync_rate = 200\n",
		 base);
	assert_int_equal(sb_cluster_parse(text, &cl, err, sizeof(err)), 0);
	assert_int_equal(cl.resync_depth, 64);
	assert_int_equal(cl.resync_rate, 200);
	snprintf(text, sizeof(text), "%sresync_depth = 0\n", base);
	expect_bad(text, "resync_depth");
	snprintf(text, sizeof(text), "%sresync_depth = 65\n", base);
	expect_bad(text, "resync_depth");
	snprintf(text, sizeof(text), "%sresync_rate = -1\n", base);
	expect_bad(text, "resync_rate");
	snprintf(text, sizeof(text), "%sresync_rate = 10M\n", base);
	expect_bad(text, "resync_rate");

	static const char *const bad_ep[] = {
		"https://a:1",
		"http://a",
		"http://:1",
		"http://a:0",
		"http://a:65536",
		"http://a:1,",
		",http://a:1",
		"http://a b:1",
		"http://a:1x",
		"http://[::1:1",
		"http://a:1,http://a:2,http://a:3,http://a:4,http://a:5,"
		"http://a:6,http://a:7,http://a:8,http://a:9",
	};
	for (size_t i = 0; i < sizeof(bad_ep) / sizeof(bad_ep[0]); i++) {
		snprintf(text, sizeof(text), "%setcd = %s\n", base, bad_ep[i]);
		expect_bad(text, "[cluster] etcd:");
		assert_int_equal(sb_etcd_endpoints_check(bad_ep[i], err,
							 sizeof(err)),
				 -EINVAL);
	}
	static const char *const bad_pfx[] = {"spanblk/", "/spanblk", "/a b/",
					      "/", "/x\"/"};
	for (size_t i = 0; i < sizeof(bad_pfx) / sizeof(bad_pfx[0]); i++) {
		snprintf(text, sizeof(text), "%setcd_prefix = %s\n", base,
			 bad_pfx[i]);
		if (!strcmp(bad_pfx[i], "/")) { /* the root is allowed */
			assert_int_equal(sb_cluster_parse(text, &cl, err,
							  sizeof(err)),
					 0);
			continue;
		}
		expect_bad(text, "[cluster] etcd_prefix:");
	}

	assert_int_equal(
		sb_nodecfg_parse("[node]\nid=1\n", &nc, err, sizeof(err)), 0);
	assert_string_equal(nc.etcd, "");
	assert_int_equal(nc.node_ttl, SB_DEFAULT_NODE_TTL);
	assert_int_equal(nc.push_timeout_ms, SB_DEFAULT_PUSH_TIMEOUT_MS);
	assert_int_equal(sb_nodecfg_parse("[node]\nid=1\npush_timeout_ms=99\n",
					  &nc, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(sb_nodecfg_parse("[node]\nid=1\npush_timeout_ms=500\n",
					  &nc, err, sizeof(err)),
			 0);
	assert_int_equal(nc.push_timeout_ms, 500);
	assert_int_equal(sb_nodecfg_parse("[node]\nid=1\netcd=http://e:2379\n"
					  "node_ttl=5\netcd_prefix=/x/\n",
					  &nc, err, sizeof(err)),
			 0);
	assert_string_equal(nc.etcd, "http://e:2379");
	assert_string_equal(nc.etcd_prefix, "/x/");
	assert_int_equal(nc.node_ttl, 5);
	assert_int_equal(sb_nodecfg_parse("[node]\nid=1\nnode_ttl=1\n", &nc,
					  err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(sb_nodecfg_parse("[node]\nid=1\netcd=e:2379\n", &nc,
					  err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "[node] etcd:"));
}

static void test_sizes(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(sb_parse_size("0", &v), 0);
	assert_true(v == 0);
	assert_int_equal(sb_parse_size("4096", &v), 0);
	assert_true(v == 4096);
	assert_int_equal(sb_parse_size("64k", &v), 0);
	assert_true(v == 65536);
	assert_int_equal(sb_parse_size("1M", &v), 0);
	assert_true(v == 1 << 20);
	assert_int_equal(sb_parse_size("1MiB", &v), 0);
	assert_true(v == 1 << 20);
	assert_int_equal(sb_parse_size("2GB", &v), 0);
	assert_true(v == 2ull << 30);
	assert_int_equal(sb_parse_size("3T", &v), 0);
	assert_true(v == 3ull << 40);
	assert_int_equal(sb_parse_size("512B", &v), 0);
	assert_true(v == 512);
	assert_int_equal(sb_parse_size("", &v), -EINVAL);
	assert_int_equal(sb_parse_size("-1", &v), -EINVAL);
	assert_int_equal(sb_parse_size(" 1", &v), -EINVAL);
	assert_int_equal(sb_parse_size("1 M", &v), -EINVAL);
	assert_int_equal(sb_parse_size("1X", &v), -EINVAL);
	assert_int_equal(sb_parse_size("1Mi", &v), -EINVAL);
	assert_int_equal(sb_parse_size("16777216T", &v), -ERANGE);
	assert_int_equal(sb_parse_size("99999999999999999999", &v), -ERANGE);
	assert_int_equal(sb_parse_uint("12", 1, 12, &v), 0);
	assert_int_equal(sb_parse_uint("13", 1, 12, &v), -ERANGE);
	assert_int_equal(sb_parse_uint("0", 1, 12, &v), -ERANGE);
	assert_int_equal(sb_parse_uint("1a", 1, 12, &v), -EINVAL);
	assert_int_equal(sb_parse_uint("+1", 1, 12, &v), -EINVAL);
}

static void test_node_file(void **state)
{
	struct sb_nodecfg nc;
	char err[256];

	(void)state;
	assert_int_equal(sb_nodecfg_parse("[node]\nid=4\nport=7404\n"
					  "data_dir=/srv/n4\n"
					  "rdma_device=rxe0\n",
					  &nc, err, sizeof(err)),
			 0);
	assert_int_equal(nc.id, 4);
	assert_int_equal(nc.port, 7404);
	assert_string_equal(nc.data_dir, "/srv/n4");
	assert_string_equal(nc.rdma_device, "rxe0");
	assert_string_equal(nc.listen, "0.0.0.0");
	assert_string_equal(nc.secret_file, "/etc/spanblk/secret");
	assert_int_equal(sb_nodecfg_parse("[node]\nport=1\n", &nc, err,
					  sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "id is required"));
	assert_int_equal(sb_nodecfg_parse("[node]\nid=1\nspeed=9\n", &nc, err,
					  sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "speed"));
	assert_int_equal(sb_nodecfg_parse("[nod]\nid=1\n", &nc, err,
					  sizeof(err)),
			 -EINVAL);
	/* RDMA keys: defaults, values, bounds. */
	assert_int_equal(nc.rdma_port, SB_DEFAULT_RDMA_PORT);
	assert_int_equal(sb_nodecfg_parse("[node]\nid=1\nrdma_device=rxe1\n"
					  "rdma_addr=10.9.0.2\nrdma_port=7500\n"
					  "rdma_buffers=8\nrdma_segment=128K\n"
					  "rdma_max_ops=16\n",
					  &nc, err, sizeof(err)),
			 0);
	assert_string_equal(nc.rdma_addr, "10.9.0.2");
	assert_int_equal(nc.rdma_port, 7500);
	assert_int_equal(nc.rdma_buffers, 8);
	assert_int_equal(nc.rdma_segment, 128 << 10);
	assert_int_equal(nc.rdma_max_ops, 16);
	assert_int_equal(sb_nodecfg_parse("[node]\nid=1\nrdma_segment=6000\n",
					  &nc, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(sb_nodecfg_parse("[node]\nid=1\nrdma_segment=8M\n",
					  &nc, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(sb_nodecfg_parse("[node]\nid=1\nrdma_buffers=0\n", &nc,
					  err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(sb_nodecfg_parse("[node]\nid=1\ndata_dir=\n", &nc, err,
					  sizeof(err)),
			 -EINVAL);
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/sbcfgXXXXXX";
	struct sb_cluster cl;
	char err[512];
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, good, strlen(good)), (int)strlen(good));
	close(fd);
	assert_int_equal(sb_cluster_load(path, &cl, err, sizeof(err)), 0);
	assert_int_equal(cl.nr_nodes, 2);
	unlink(path);
	assert_int_equal(sb_cluster_load(path, &cl, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));
	assert_int_equal(sb_cluster_load("/tmp", &cl, err, sizeof(err)),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cluster_good),
		cmocka_unit_test(test_cluster_rdma_keys),
		cmocka_unit_test(test_cluster_bad),
		cmocka_unit_test(test_store_keys),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_node_file),
		cmocka_unit_test(test_load_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
