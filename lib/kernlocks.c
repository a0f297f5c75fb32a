/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "internal.h"

/*
 * Seeing kernel locks on a file without taking them.  Taking a lock to
 * test it, even for an instant, would make another process's test or a
 * holder's non-blocking attempt fail at that instant.  fcntl locks answer
 * F_OFD_GETLK (the file server's answer, on a network filesystem);
 * flock(2) has no such query, so this host's lock table is read instead.
 */

/* Whether /proc/locks lists a flock(2) lock on the file st describes. */
int
flock_held(const struct stat *st)
{
	char line[256], id[64];
	FILE *fp;
	int found = 0;

	snprintf(id, sizeof(id), " %02x:%02x:%lu ", major(st->st_dev),
	    minor(st->st_dev), (unsigned long)st->st_ino);
	fp = fopen("/proc/locks", "re");
	if (fp == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), fp) != NULL)
		found = strstr(line, " FLOCK ") != NULL &&
		    strstr(line, id) != NULL;
	fclose(fp);
	return found;
}

/*
 * A file that a kernel-lock method (fcntl, flock) uses as its lock looks
 * like a legacy empty record, and a directory flock(1) locks like a mkdir
 * lock with no record yet.  Breaking either while its lock is held would
 * let two holders in, each by its own method.
 */
int
kernel_lock_present(const char *path)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	struct stat st;
	int fd, present = 0;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return 0;
#ifdef F_OFD_GETLK
	if (fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
		present = 1;
#endif
	if (!present && fstat(fd, &st) == 0)
		present = flock_held(&st);
	close(fd);
	return present;
}
