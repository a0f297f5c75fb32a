/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * minwrap LOCKPATH COMMAND [ARG...]: the least a lock wrapper can do --
 * open, F_OFD_SETLKW, posix_spawnp, waitpid -- with no option parsing, no
 * error messages and no signal forwarding.  The wrapper-cost benchmark
 * runs it beside dlock as the physical floor of a wrapper that starts
 * the command as a child.
 */

extern char **environ;

int
main(int argc, char **argv)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	pid_t pid;
	int fd, status;

	if (argc < 3)
		return 64;
	fd = open(argv[1], O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0 || fcntl(fd, F_OFD_SETLKW, &fl) < 0)
		return 71;
	if (posix_spawnp(&pid, argv[2], NULL, NULL, argv + 2, environ) != 0)
		return 127;
	if (waitpid(pid, &status, 0) < 0)
		return 71;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
