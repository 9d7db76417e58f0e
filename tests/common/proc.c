/* SPDX-License-Identifier: Apache-2.0 */
/* Daemons as child processes of a test (see proc.h). */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>

#include <sys/prctl.h>

pid_t tc_spawn(const char *log, const char *path, ...)
{
	char *argv[TC_SPAWN_MAX_ARGS + 1], *arg;
	va_list ap;
	size_t n = 0;
	pid_t pid;

	va_start(ap, path);
	while ((arg = va_arg(ap, char *))) {
		if (n == TC_SPAWN_MAX_ARGS) {
			va_end(ap);
			return -E2BIG;
		}
		argv[n++] = arg;
	}
	va_end(ap);
	argv[n] = NULL;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 ||
		    dup2(fd, STDERR_FILENO) < 0)
			_exit(127);
		if (fd > STDERR_FILENO)
			close(fd);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execv(path, argv);
		_exit(127);
	}
	return pid;
}
