/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/*
 * Removing what processes killed while taking, breaking or releasing a
 * lock left beside it, none of which is a lock: the temporary names a
 * record is written under before it is linked into place
 * (LOCKPATH.PID.N.tmp, LOCKPATH.break.PID.N.tmp, a wait's
 * LOCKPATH.wait.tmp), the rewritten record's LOCKPATH.break.new, and
 * mkdir locks set aside (LOCKPATH.*.released).  Finding them takes a look
 * at the whole directory, so it is made only where a death has just been
 * seen: after a stale lock or a dead intent was removed, with the breaker
 * held.
 */

/* Whether s, after the lock's name, is ".PID.N.tmp", as publish.c names
 * a temporary file, or ".break.PID.N.tmp". */
static int
is_temporary_name(const char *s)
{
	int fields = 0;

	if (strncmp(s, ".break", 6) == 0)
		s += 6;
	while (*s == '.' && s[1] >= '0' && s[1] <= '9') {
		for (s++; *s >= '0' && *s <= '9'; s++)
			;
		fields++;
	}
	return fields == 2 && strcmp(s, ".tmp") == 0;
}

/* Whether s, after the lock's name, is ".released" or ".NONCE.released". */
static int
is_released_name(const char *s)
{
	size_t n = strspn(s + 1, "0123456789abcdef");

	return strcmp(s, ".released") == 0 || (*s == '.' &&
	    n == DLOCK_NONCE_LEN && strcmp(s + 1 + n, ".released") == 0);
}

/*
 * A temporary file goes once its writer is dead: by its pid on this
 * host, by its age (INTENT_STALE, or a second if it was never written)
 * for one of elsewhere, if by_age.  A file that holds something other
 * than a record is not ours, whatever its name, and stays.
 */
static void
sweep_file(struct dlock *lk, const char *path, int by_age)
{
	struct intent_look file;
	char why[160];
	struct stat st;

	if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	if (look_at_record_file(path, &file) == 0 && file.exists &&
	    (file.parsed || st.st_size == 0) &&
	    judge_intent(lk, &file, by_age, why, sizeof(why)) == DLOCK_DEAD)
		unlink(path);
}

void
sweep_leftovers(struct dlock *lk)
{
	const char *slash = strrchr(lk->path, '/');
	const char *base = slash != NULL ? slash + 1 : lk->path;
	size_t blen = strlen(base);
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d;
	int n, saved = errno, dated = 0;

	d = opendir(lk->dir);
	if (d == NULL) {
		errno = saved;
		return;
	}
	/* Ages are counted to a time taken before the looks (stale.c). */
	if (!lk->looked_after_set)
		dated = lk->looked_after_set =
		    server_now(lk->dir, &lk->looked_after) == 0;
	/* readdir_r(3) is deprecated; this stream is ours alone. */
	// cppcheck-suppress readdirCalled
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, base, blen) != 0 ||
		    e->d_name[blen] != '.')
			continue;
		n = snprintf(path, sizeof(path), "%s/%s", lk->dir, e->d_name);
		if (n < 0 || (size_t)n >= sizeof(path))
			continue;
		if (is_temporary_name(e->d_name + blen) ||
		    strcmp(e->d_name + blen, ".break.new") == 0) {
			sweep_file(lk, path, 1);
		} else if (strcmp(e->d_name + blen, ".wait.tmp") == 0) {
			/* Linked by its name for as long as a wait lasts:
			 * see prepare_waiting_name() (namewait.c). */
			sweep_file(lk, path, 0);
		} else if (lk->name_ops->kind == NAME_HOLDS_RECORD &&
		    is_released_name(e->d_name + blen)) {
			/* No lock any more: whatever is inside was ours. */
			empty_aside(path);
			rmdir(path);
		}
	}
	closedir(d);
	if (dated)
		lk->looked_after_set = 0;
	errno = saved;
}
