/* SPDX-License-Identifier: Apache-2.0 */
/*
 * In-process test cluster (cluster.h): each node's thread creates its
 * server, reports the outcome through the node's lock and condition, runs
 * the loop until nd_server_stop(), then frees the server. The test thread
 * owns everything else.
 *
 *   DIR/secret       32 bytes of hex and a newline
 *   DIR/nodeN/       node N's data folder
 */
#include "cluster.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node/server.h"

static int write_secret(const char *path)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t raw[16];
	char text[2 * sizeof(raw) + 2];
	size_t i;
	FILE *f;
	int ret = 0;

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -EIO;
	for (i = 0; i < sizeof(raw); i++) {
		text[2 * i] = hex[raw[i] >> 4];
		text[2 * i + 1] = hex[raw[i] & 0xf];
	}
	text[2 * sizeof(raw)] = '\n';
	text[2 * sizeof(raw) + 1] = '\0';
	f = fopen(path, "w");
	if (!f)
		return -errno;
	if (fputs(text, f) < 0)
		ret = -EIO;
	if (fclose(f) && !ret)
		ret = -EIO;
	return ret;
}

int tcl_init(struct tcl_cluster *c, unsigned int n, const char *rdma_device)
{
	char path[PATH_MAX];
	unsigned int i;
	int ret;

	if (!n || n > TCL_MAX_NODES)
		return -EINVAL;
	memset(c, 0, sizeof(*c));
	snprintf(c->dir, sizeof(c->dir), "/tmp/spanblk-tcl-XXXXXX");
	if (!mkdtemp(c->dir)) {
		c->dir[0] = '\0';
		return -errno;
	}
	c->n = n;
	for (i = 0; i < n; i++) {
		pthread_mutex_init(&c->nodes[i].lock, NULL);
		pthread_cond_init(&c->nodes[i].cond, NULL);
	}
	snprintf(c->secret_file, sizeof(c->secret_file), "%s/secret", c->dir);
	ret = write_secret(c->secret_file);
	if (!ret)
		ret = xp_secret_load(c->secret_file, &c->secret);
	for (i = 0; i < n && !ret; i++) {
		struct tcl_node *nd = &c->nodes[i];
		struct sb_nodecfg *cfg = &nd->cfg;

		sb_nodecfg_defaults(cfg);
		cfg->id = i + 1;
		snprintf(cfg->listen, sizeof(cfg->listen), "127.0.0.1");
		cfg->port = 0;
		snprintf(path, sizeof(path), "%s/node%u", c->dir, cfg->id);
		memcpy(cfg->data_dir, path, sizeof(path));
		memcpy(cfg->secret_file, c->secret_file, sizeof(path));
		if (rdma_device)
			snprintf(cfg->rdma_device, sizeof(cfg->rdma_device),
				 "%s", rdma_device);
		cfg->rdma_port = (uint16_t)(4791 + cfg->id);
		if (mkdir(cfg->data_dir, 0755) < 0)
			ret = -errno;
	}
	if (ret)
		tcl_destroy(c);
	return ret;
}

static void *node_main(void *arg)
{
	struct tcl_node *nd = arg;
	struct nd_server *srv = NULL;
	int ret;

	ret = nd_server_new_verbs(&nd->cfg, nd->vops, &srv, nd->err,
				  sizeof(nd->err));
	pthread_mutex_lock(&nd->lock);
	nd->srv = srv;
	nd->start_ret = ret;
	nd->started = true;
	pthread_cond_broadcast(&nd->cond);
	pthread_mutex_unlock(&nd->lock);
	if (ret)
		return NULL;
	nd->run_ret = nd_server_run(srv);
	nd_server_free(srv);
	return NULL;
}

int tcl_node_start(struct tcl_cluster *c, unsigned int i,
		   const struct xp_verbs_ops *vops, char *err, size_t errlen)
{
	struct tcl_node *nd = &c->nodes[i];
	int ret;

	if (i >= c->n || nd->running)
		return -EINVAL;
	nd->vops = vops;
	nd->started = false;
	nd->err[0] = '\0';
	ret = pthread_create(&nd->thr, NULL, node_main, nd);
	if (ret) {
		snprintf(err, errlen, "pthread_create: %s", strerror(ret));
		return -ret;
	}
	pthread_mutex_lock(&nd->lock);
	while (!nd->started)
		pthread_cond_wait(&nd->cond, &nd->lock);
	ret = nd->start_ret;
	pthread_mutex_unlock(&nd->lock);
	if (ret) {
		pthread_join(nd->thr, NULL);
		snprintf(err, errlen, "node %u: %s", nd->cfg.id, nd->err);
		return ret;
	}
	nd->cfg.port = (uint16_t)nd_server_port(nd->srv);
	nd->running = true;
	return 0;
}

void tcl_node_stop(struct tcl_cluster *c, unsigned int i)
{
	struct tcl_node *nd = &c->nodes[i];

	if (i >= c->n || !nd->running)
		return;
	nd_server_stop(nd->srv);
	pthread_join(nd->thr, NULL);
	nd->srv = NULL;
	nd->running = false;
}

int tcl_cluster_conf(struct tcl_cluster *c, unsigned int replicas,
		     uint64_t chunk_size, unsigned int io_timeout_ms)
{
	char text[4096], err[256];
	unsigned int i;
	int off;

	off = snprintf(text, sizeof(text),
		       "[cluster]\nreplicas = %u\nchunk_size = %llu\n"
		       "secret_file = %s\nio_timeout_ms = %u\nrdma = on\n",
		       replicas, (unsigned long long)chunk_size, c->secret_file,
		       io_timeout_ms);
	for (i = 0; i < c->n; i++)
		off += snprintf(text + off, sizeof(text) - (size_t)off,
				"[node.%u]\naddress = 127.0.0.1\nport = %u\n",
				c->nodes[i].cfg.id, c->nodes[i].cfg.port);
	if (off >= (int)sizeof(text))
		return -EINVAL;
	if (sb_cluster_parse(text, &c->cl, err, sizeof(err))) {
		fprintf(stderr, "tcl_cluster_conf: %s\n", err);
		return -EINVAL;
	}
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void tcl_destroy(struct tcl_cluster *c)
{
	unsigned int i;

	for (i = 0; i < c->n; i++) {
		tcl_node_stop(c, i);
		pthread_cond_destroy(&c->nodes[i].cond);
		pthread_mutex_destroy(&c->nodes[i].lock);
	}
	if (c->dir[0])
		nftw(c->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	memset(c, 0, sizeof(*c));
}
