/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * minwrap [-f] [-l] LOCKPATH COMMAND [ARG...]: the least a lock wrapper can
 * do -- open, F_OFD_SETLKW, posix_spawnp, waitpid -- with no option
 * parsing beyond these, no error messages and no signal forwarding.  The
 * wrapper-cost benchmark runs it beside dlock as the physical floor of a
 * wrapper that starts the command as a child.  -f does as flock(1) does:
 * flock(2), on a descriptor the command inherits; -l makes an lstat(2) of
 * the path first, what a separate look before the open costs.
 */

#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

extern char **environ;

int
main(int argc, char **argv)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	struct stat st;
	int use_flock = 0, look = 0, fd, status;
	pid_t pid;

	for (; argc > 1 && argv[1][0] == '-'; argc--, argv++) {
		if (strcmp(argv[1], "-f") == 0)
			use_flock = 1;
		else if (strcmp(argv[1], "-l") == 0)
			look = 1;
		else
			return 64;
	}
	if (argc < 3)
		return 64;
	/* With the look, a file seen is opened as it is, as dlock does. */
	if (look && lstat(argv[1], &st) == 0) {
		if (!S_ISREG(st.st_mode))
			return 65;
		fd = open(argv[1], O_RDWR | O_NOFOLLOW | O_NONBLOCK);
	} else {
		fd = open(argv[1], O_RDWR | O_CREAT |
		    (use_flock ? 0 : O_CLOEXEC), 0666);
	}
	if (fd < 0 || (use_flock ? flock(fd, LOCK_EX) :
	    fcntl(fd, F_OFD_SETLKW, &fl)) < 0)
		return 71;
	if (posix_spawnp(&pid, argv[2], NULL, NULL, argv + 2, environ) != 0)
		return 127;
	if (waitpid(pid, &status, 0) < 0)
		return 71;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
