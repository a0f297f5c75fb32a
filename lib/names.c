/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "dlock.h"

/* The methods' names, as -m and owner records spell them. */
static const char *const method_names[] = {
	[DLOCK_AUTO] = "auto",
	[DLOCK_FCNTL] = "fcntl",
	[DLOCK_FLOCK] = "flock",
	[DLOCK_LOCKFILE] = "lockfile",
	[DLOCK_MKDIR] = "mkdir",
};

#define NMETHODS (int)(sizeof(method_names) / sizeof(method_names[0]))

const char *
dlock_method_name(int method)
{
	if (method < 0 || method >= NMETHODS)
		return NULL;
	return method_names[method];
}

int
dlock_method_from_name(const char *name)
{
	int m;

	for (m = 0; name != NULL && m < NMETHODS; m++)
		if (strcmp(name, method_names[m]) == 0)
			return m;
	errno = EINVAL;
	return -1;
}
