/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Real etcd members as child processes of a test (see etcd_proc.h).
 *
 *   DIR/m0        member 0's --data-dir      DIR/m0.log  its output
 *   DIR/m1 ...    (three-member clusters)
 *
 * Ports: 2 x n sockets bound to 127.0.0.1:0 at once (so all differ),
 * read back, closed, handed to etcd. Health: GET /health on the client
 * URL until {"health":"true"}, which needs a leader.
 */
#include "etcd_proc.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "lib/util/clock.h"
#include "lib/util/errbuf.h"
#include "proc.h"

#define TC_ETCD_START_MS 20000u
#define TC_ETCD_POLL_MS 50

bool tc_etcd_available(char *bin, size_t len)
{
	const char *env = getenv("SPANBLK_ETCD"), *path = getenv("PATH");
	char cand[PATH_MAX];
	const char *p, *colon;

	if (env && *env) {
		snprintf(bin, len, "%s", env);
		return access(bin, X_OK) == 0;
	}
	for (p = path ? path : "/usr/bin:/bin"; p && *p; p = colon + 1) {
		colon = strchr(p, ':');
		snprintf(cand, sizeof(cand), "%.*s/etcd",
			 (int)(colon ? (size_t)(colon - p) : strlen(p)), p);
		if (access(cand, X_OK) == 0) {
			snprintf(bin, len, "%s", cand);
			return true;
		}
		if (!colon)
			break;
	}
	return false;
}

/* @n distinct free ports on 127.0.0.1. 0 or -errno. */
static int free_ports(uint16_t *ports, unsigned int n)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	int fds[2 * TC_ETCD_MAX];
	unsigned int i, made = 0;
	int ret = 0;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (i = 0; i < n && !ret; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (fds[i] < 0) {
			ret = -errno;
			break;
		}
		made++;
		a.sin_port = 0;
		alen = sizeof(a);
		if (bind(fds[i], (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    getsockname(fds[i], (struct sockaddr *)&a, &alen) < 0)
			ret = -errno;
		else
			ports[i] = ntohs(a.sin_port);
	}
	for (i = 0; i < made; i++)
		close(fds[i]);
	return ret;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static size_t http_sink(char *p, size_t size, size_t nmemb, void *arg)
{
	char **cur = arg; /* cur[0]: write position, cur[1]: end */
	size_t n = size * nmemb, room = (size_t)(cur[1] - cur[0]);

	if (n < room) {
		memcpy(cur[0], p, n);
		cur[0] += n;
	} else if (room) {
		memcpy(cur[0], p, room);
		cur[0] += room;
	}
	return n;
}

int tc_etcd_http(const char *url, const char *path, const char *body, char *out,
		 size_t cap, long *status)
{
	char full[256], *cur[2];
	CURLcode res;
	CURL *e;

	if (!cap)
		return -EINVAL;
	*status = 0;
	out[0] = '\0';
	cur[0] = out;
	cur[1] = out + cap - 1;
	snprintf(full, sizeof(full), "%s%s", url, path);
	e = curl_easy_init();
	if (!e)
		return -ENOMEM;
	curl_easy_setopt(e, CURLOPT_URL, full);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_sink);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, cur);
	if (body)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	res = curl_easy_perform(e);
	if (res == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(e);
	*cur[0] = '\0';
	return res == CURLE_OK ? 0 : -EHOSTUNREACH;
}

int tc_etcd_wait_healthy(struct tc_etcd *e, unsigned int i,
			 unsigned int timeout_ms)
{
	uint64_t deadline = sb_now_ms() + timeout_ms;
	char reply[256];
	long status;
	int st;

	while (sb_now_ms() < deadline) {
		if (!e->m[i].pid || waitpid(e->m[i].pid, &st, WNOHANG) > 0) {
			e->m[i].pid = 0;
			return -ECHILD;
		}
		if (!tc_etcd_http(e->m[i].url, "/health", NULL, reply,
				  sizeof(reply), &status) &&
		    status == 200 && strstr(reply, "\"health\":\"true\""))
			return 0;
		sleep_ms(TC_ETCD_POLL_MS);
	}
	return -ETIMEDOUT;
}

/* fork and exec member @i (not waiting for it). 0 or -errno. */
static int member_spawn(struct tc_etcd *e, unsigned int i)
{
	struct tc_etcd_member *m = &e->m[i];
	char listen_client[64], listen_peer[64];
	pid_t pid;

	snprintf(listen_client, sizeof(listen_client), "http://127.0.0.1:%u",
		 m->client_port);
	snprintf(listen_peer, sizeof(listen_peer), "http://127.0.0.1:%u",
		 m->peer_port);
	pid = tc_spawn(m->log, e->bin, e->bin, "--name", m->name, "--data-dir",
		       m->data, "--listen-client-urls", listen_client,
		       "--advertise-client-urls", listen_client,
		       "--listen-peer-urls", listen_peer,
		       "--initial-advertise-peer-urls", listen_peer,
		       "--initial-cluster", e->initial_cluster,
		       "--initial-cluster-state", "new",
		       "--initial-cluster-token", e->dir,
		       "--heartbeat-interval", "50", "--election-timeout",
		       "500", "--logger", "zap", "--log-outputs", "stderr",
		       "--log-level", "warn", (char *)NULL);
	if (pid < 0)
		return pid;
	m->pid = pid;
	return 0;
}

/* Names, ports, folders and the --initial-cluster of @n members. */
static int cluster_layout(struct tc_etcd *e, unsigned int n)
{
	uint16_t ports[2 * TC_ETCD_MAX];
	size_t off = 0, eoff = 0;
	unsigned int i;
	int ret;

	ret = free_ports(ports, 2 * n);
	if (ret)
		return ret;
	for (i = 0; i < n; i++) {
		struct tc_etcd_member *m = &e->m[i];

		snprintf(m->name, sizeof(m->name), "m%u", i);
		m->client_port = ports[2 * i];
		m->peer_port = ports[2 * i + 1];
		snprintf(m->url, sizeof(m->url), "http://127.0.0.1:%u",
			 m->client_port);
		snprintf(m->data, sizeof(m->data), "%s/%s", e->dir, m->name);
		snprintf(m->log, sizeof(m->log), "%s/%s.log", e->dir, m->name);
		off += (size_t)snprintf(e->initial_cluster + off,
					sizeof(e->initial_cluster) - off,
					"%s%s=http://127.0.0.1:%u",
					i ? "," : "", m->name, m->peer_port);
		eoff += (size_t)snprintf(e->endpoints + eoff,
					 sizeof(e->endpoints) - eoff, "%s%s",
					 i ? "," : "", m->url);
	}
	return 0;
}

/* Where the members' folders go: $SPANBLK_ETCD_DIR, else /dev/shm (a
 * member fsyncs every write: on tmpfs that costs nothing, whatever else
 * loads the disk), else $TMPDIR or /tmp. */
static const char *base_dir(void)
{
	const char *d = getenv("SPANBLK_ETCD_DIR");

	if (d && *d)
		return d;
	if (!access("/dev/shm", W_OK | X_OK))
		return "/dev/shm";
	d = getenv("TMPDIR");
	return d && *d ? d : "/tmp";
}

int tc_etcd_start(struct tc_etcd *e, unsigned int n, char *err, size_t errlen)
{
	unsigned int i;
	int ret;

	memset(e, 0, sizeof(*e));
	if (n < 1 || n > TC_ETCD_MAX) {
		sb_errf(err, errlen, "members: 1..%d", TC_ETCD_MAX);
		return -EINVAL;
	}
	if (!tc_etcd_available(e->bin, sizeof(e->bin))) {
		sb_errf(err, errlen, "no etcd binary (SPANBLK_ETCD or PATH)");
		return -ENOENT;
	}
	snprintf(e->dir, sizeof(e->dir), "%s/spanblk-etcd-XXXXXX", base_dir());
	if (!mkdtemp(e->dir)) {
		ret = -errno;
		sb_errf(err, errlen, "mkdtemp %s: %s", e->dir, strerror(-ret));
		e->dir[0] = '\0';
		return ret;
	}
	e->n = n;
	ret = cluster_layout(e, n);
	for (i = 0; !ret && i < n; i++)
		ret = member_spawn(e, i);
	for (i = 0; !ret && i < n; i++)
		ret = tc_etcd_wait_healthy(e, i, TC_ETCD_START_MS);
	if (ret) {
		sb_errf(err, errlen,
			"etcd cluster of %u did not start (%s): see %s", n,
			strerror(-ret), e->dir);
		tc_etcd_stop(e);
	}
	return ret;
}

int tc_etcd_kill(struct tc_etcd *e, unsigned int i)
{
	int st;

	if (i >= e->n || !e->m[i].pid)
		return -EINVAL;
	if (kill(e->m[i].pid, SIGKILL) < 0 && errno != ESRCH)
		return -errno;
	while (waitpid(e->m[i].pid, &st, 0) < 0 && errno == EINTR)
		;
	e->m[i].pid = 0;
	return 0;
}

int tc_etcd_restart(struct tc_etcd *e, unsigned int i, char *err, size_t errlen)
{
	int ret;

	if (i >= e->n || e->m[i].pid)
		return -EINVAL;
	ret = member_spawn(e, i);
	if (!ret)
		ret = tc_etcd_wait_healthy(e, i, TC_ETCD_START_MS);
	if (ret)
		sb_errf(err, errlen, "etcd member %u did not restart (%s)", i,
			strerror(-ret));
	return ret;
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void tc_etcd_stop(struct tc_etcd *e)
{
	unsigned int i;

	if (!e)
		return;
	for (i = 0; i < e->n && i < TC_ETCD_MAX; i++)
		if (e->m[i].pid)
			tc_etcd_kill(e, i);
	if (e->dir[0] && !getenv("TC_ETCD_KEEP"))
		nftw(e->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	memset(e, 0, sizeof(*e));
}
