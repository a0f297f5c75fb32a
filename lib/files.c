/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* Small helpers on descriptors, files and paths, shared inside libdlock. */

int
fail_closing(int fd, int err)
{
	close(fd);
	errno = err;
	return -1;
}

ssize_t
read_full(int fd, char *buf, size_t size)
{
	size_t got = 0, want;
	ssize_t n;

	while (got < size) {
		want = size - got;
		n = read(fd, buf + got, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		got += (size_t)n;
		/* A short read of a regular file is its end: over NFS a
		 * second call would be one more round trip to learn it. */
		if ((size_t)n < want)
			break;
	}
	return (ssize_t)got;
}

ssize_t
read_file(const char *path, int flags, char *buf, size_t size)
{
	ssize_t n;
	int fd, saved;

	do
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | flags);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -1;
	n = read_full(fd, buf, size);
	saved = errno;
	close(fd);
	errno = saved;
	return n;
}

int
write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int
parent_dir(const char *path, char *dir, size_t size)
{
	size_t len = strlen(path);

	while (len > 1 && path[len - 1] == '/')
		len--;
	while (len > 0 && path[len - 1] != '/')
		len--;
	if (len == 0) {
		path = ".";
		len = 1;
	}
	while (len > 1 && path[len - 1] == '/')
		len--;
	if (len >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(dir, path, len);
	dir[len] = '\0';
	return 0;
}

int
replace_with(int fd, int rc, const char *tmp, const char *path)
{
	int saved = errno;

	if (fd >= 0 && close(fd) < 0 && rc == 0) {
		rc = -1;
		saved = errno;
	}
	if (rc == 0 && rename(tmp, path) < 0) {
		rc = -1;
		saved = errno;
	}
	if (rc < 0 && fd >= 0)
		unlink(tmp);
	errno = saved;
	return rc;
}
