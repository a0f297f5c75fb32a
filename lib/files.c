/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
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

/*
 * Where struct statx keeps the fields read here, for libcs that do not
 * declare statx(2) (musl before 1.2.5); the flags are in internal.h.
 */
#define STX_NLINK	16	/* __u32 */
#define STX_UID		20	/* __u32 */
#define STX_GID		24	/* __u32 */
#define STX_MODE	28	/* __u16 */
#define STX_INO		32	/* __u64 */
#define STX_SIZE	40	/* __u64 */
#define STX_MTIME	112	/* __s64 seconds, __u32 nanoseconds */
#define STX_DEV_MAJOR	136	/* __u32 */
#define STX_DEV_MINOR	140	/* __u32 */

static uint32_t
stx_u32(const unsigned char *stx, size_t at)
{
	uint32_t v;

	memcpy(&v, stx + at, sizeof(v));
	return v;
}

static uint64_t
stx_u64(const unsigned char *stx, size_t at)
{
	uint64_t v;

	memcpy(&v, stx + at, sizeof(v));
	return v;
}

int
statx_stat(int dirfd, const char *path, int flags, unsigned int mask,
    struct stat *st)
{
#ifdef SYS_statx
	unsigned long long buf[32];	/* struct statx: 256 bytes */
	const unsigned char *stx = (const unsigned char *)buf;
	uint16_t mode;
	int64_t sec;

	if (syscall(SYS_statx, dirfd, path, flags, mask, buf) < 0)
		return -1;
	memset(st, 0, sizeof(*st));
	memcpy(&mode, stx + STX_MODE, sizeof(mode));
	st->st_mode = mode;
	st->st_nlink = stx_u32(stx, STX_NLINK);
	st->st_uid = stx_u32(stx, STX_UID);
	st->st_gid = stx_u32(stx, STX_GID);
	st->st_ino = (ino_t)stx_u64(stx, STX_INO);
	st->st_size = (off_t)stx_u64(stx, STX_SIZE);
	memcpy(&sec, stx + STX_MTIME, sizeof(sec));
	st->st_mtim.tv_sec = (time_t)sec;
	st->st_mtim.tv_nsec = (long)stx_u32(stx, STX_MTIME + 8);
	st->st_dev = makedev(stx_u32(stx, STX_DEV_MAJOR),
	    stx_u32(stx, STX_DEV_MINOR));
	return 0;
#else
	(void)dirfd;
	(void)path;
	(void)flags;
	(void)mask;
	(void)st;
	errno = ENOSYS;
	return -1;
#endif
}

int
look_without_opening(const char *path, struct stat *st)
{
	int fd, saved;

	fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (statx_stat(fd, "", STATX_EMPTY_PATH | STATX_DONT_SYNC,
	    STATX_BASIC, st) == 0 || (errno == ENOSYS && fstat(fd, st) == 0))
		return fd;
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

int
reopen_looked(int looked, int flags)
{
	char proc[40];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", looked);
	return open(proc, flags & ~O_NOFOLLOW);
}
