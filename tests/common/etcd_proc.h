/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Real etcd servers for host tests: a cluster of 1 to TC_ETCD_MAX members
 * on 127.0.0.1 with ports the kernel picked a moment before, each member
 * a child process with its data and log in a temporary folder, fast
 * elections (heartbeat 50 ms, election 500 ms). Members die with the test
 * process (PR_SET_PDEATHSIG). Single members can be killed and started
 * again with their data, for failure tests.
 *
 * The etcd binary is $SPANBLK_ETCD, else "etcd" on PATH; the folder is
 * under $SPANBLK_ETCD_DIR, else /dev/shm, else $TMPDIR or /tmp.
 * Not thread-safe: the test thread drives it.
 */
#ifndef SPANBLK_TESTS_ETCD_PROC_H
#define SPANBLK_TESTS_ETCD_PROC_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TC_ETCD_MAX 3

struct tc_etcd_member {
	char name[8]; /* m0, m1, ... */
	uint16_t client_port;
	uint16_t peer_port;
	char url[64]; /* http://127.0.0.1:client_port */
	char data[PATH_MAX]; /* its --data-dir */
	char log[PATH_MAX]; /* its stdout and stderr */
	pid_t pid; /* 0 when not running */
};

struct tc_etcd {
	char dir[256]; /* .../spanblk-etcd-XXXXXX, removed by stop */
	char bin[PATH_MAX];
	unsigned int n;
	struct tc_etcd_member m[TC_ETCD_MAX];
	char initial_cluster[512]; /* m0=http://127.0.0.1:peer,... */
	char endpoints[256]; /* every member's url, comma-separated */
};

/* Whether an etcd binary is there; its path into @bin. */
bool tc_etcd_available(char *bin, size_t len);

/*
 * Start a new cluster of @n members and wait (up to 20 s) until each
 * answers /health. 0, or -errno with the reason in @err and nothing left
 * running.
 */
int tc_etcd_start(struct tc_etcd *e, unsigned int n, char *err, size_t errlen);

/* SIGKILL member @i and reap it. 0 or -errno. */
int tc_etcd_kill(struct tc_etcd *e, unsigned int i);

/* Start member @i again on its data and ports, and wait until it is
 * healthy. 0 or -errno. */
int tc_etcd_restart(struct tc_etcd *e, unsigned int i, char *err,
		    size_t errlen);

/* Wait up to @timeout_ms until member @i answers {"health":"true"}. */
int tc_etcd_wait_healthy(struct tc_etcd *e, unsigned int i,
			 unsigned int timeout_ms);

/*
 * POST @body to @url @path (GET when @body is NULL); the reply into @out
 * (@cap bytes, NUL-terminated, truncated), its HTTP status into @status.
 * 0, or -EHOSTUNREACH when nothing answered within 5 s.
 */
int tc_etcd_http(const char *url, const char *path, const char *body, char *out,
		 size_t cap, long *status);

/* Kill every member and remove the folder. Accepts a zeroed @e. */
void tc_etcd_stop(struct tc_etcd *e);

#endif
