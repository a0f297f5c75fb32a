/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "contract.h"

/*
 * The places of the method tests: under one temporary directory of the
 * suite, a directory for each case, in which whatever a lock leaves
 * behind can be counted.
 */

static char top[160];

int
places_init(const char *suite)
{
	const char *under = getenv("DLOCK_TEST_DIR");
	int n;

	/* DLOCK_TEST_DIR puts the places on another filesystem: the
	 * cluster tier runs the name methods' contracts on its volume. */
	n = snprintf(top, sizeof(top), "%s/dlock-%s-XXXXXX",
	    under != NULL && *under != '\0' ? under : "/tmp", suite);

	return n > 0 && (size_t)n < sizeof(top) && mkdtemp(top) != NULL ?
	    0 : -1;
}

void
places_remove(void)
{
	char cmd[sizeof(top) + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", top);
	(void)!system(cmd);
}

const char *
places_top(void)
{
	return top;
}

void
place_for(struct place *p, const char *what, int method)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->dir, sizeof(p->dir), "%s/%.64s-%.16s", top, what,
	    dlock_method_name(method));
	mkdir(p->dir, 0755);
	snprintf(p->lock, sizeof(p->lock), "%s/lock", p->dir);
	snprintf(p->record, sizeof(p->record), "%s%s", p->lock,
	    method == DLOCK_MKDIR ? "/owner" : "");
}

dlock_t *
open_with(const char *path, int method, int flags, double stale)
{
	struct dlock_options o;

	dlock_options_init(&o);
	o.method = method;
	o.flags = flags;
	o.stale = stale;
	return dlock_open(path, &o);
}

/* Entries of a directory other than . and .., or -1. */
int
entries_in(const char *dir)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	int n = 0;

	if (d == NULL)
		return -1;
	/* cppcheck-suppress readdirCalled ; one thread reads each directory */
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* The file's content as a string, or "" when it cannot be read. */
const char *
contents(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd = open(path, O_RDONLY);

	buf[0] = '\0';
	if (fd < 0)
		return buf;
	n = read(fd, buf, size - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

int
write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	size_t len = strlen(text);

	if (fd < 0)
		return -1;
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	return close(fd);
}

void *
shared_memory(size_t size)
{
	int prot = PROT_READ | PROT_WRITE, flags = MAP_SHARED | MAP_ANONYMOUS;
	void *p;

	/* cppcheck-suppress invalidFunctionArg ; an anonymous map has no fd */
	p = mmap(NULL, size, prot, flags, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	memset(p, 0, size);
	return p;
}
