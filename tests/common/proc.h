/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Daemons as child processes of a test (spanblkd in tests/host/testlib.c,
 * etcd in tests/common/etcd_proc.c).
 */
#ifndef SPANBLK_TESTS_COMMON_PROC_H
#define SPANBLK_TESTS_COMMON_PROC_H

#include <sys/types.h>

/* The most arguments tc_spawn() passes, the program's path included. */
#define TC_SPAWN_MAX_ARGS 63

/*
 * fork and exec the program at @path with the arguments that follow (as
 * execl takes them: argv[0] first, then a NULL) with its stdout and stderr
 * appended to @log (created 0644), killed (PR_SET_PDEATHSIG, SIGKILL)
 * when the test dies; does not wait for it. The child's pid, -E2BIG for
 * more than TC_SPAWN_MAX_ARGS arguments, or -errno when fork fails; a
 * child that cannot open @log or exec the program exits with status 127.
 */
pid_t tc_spawn(const char *log, const char *path, ...)
	__attribute__((sentinel));

#endif
