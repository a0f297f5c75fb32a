/* SPDX-License-Identifier: ISC */
#ifndef DLOCK_PROBE_H
#define DLOCK_PROBE_H

/*
 * What `-m auto` looks at: the filesystem holding a lock's directory, and
 * the method chosen for it.  Internal to libdlock; never installed.
 */

#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "dlock.h"

/* How the mount was identified. */
enum probe_found_by {
	PROBE_FROM_LINE = 0,	/* parsed from a line the caller gave */
	PROBE_BY_DEVICE,	/* the mountinfo line carrying the st_dev */
	PROBE_BY_PREFIX,	/* no line has the st_dev (btrfs subvolumes):
				   the mount point that is the longest
				   prefix of the directory */
	PROBE_BY_MAGIC		/* no line at all (a chroot hides it): the
				   statfs magic of a local filesystem */
};

/*
 * What the probe saw.  The public part is filled in place, so that
 * dlock_probe() hands it out as it is.
 */
struct fsprobe {
	struct dlock_fsinfo fs;		/* fstype, subtype, source, mount
					   point, options, method, reason */
	char dir[PATH_MAX];		/* the lock's directory, resolved */
	unsigned long fs_magic;		/* statfs() f_type */
	unsigned int major, minor;	/* st_dev of dir; a parsed line's own */
	int found_by;			/* enum probe_found_by */
};

/*
 * Fills *out for the directory that holds lockpath and chooses the method
 * (probe_choose).  The directory is lockpath itself when it is a directory,
 * else its parent; a final symlink is not followed, because the lock lives
 * where its name is.  Returns 0, or -1 with errno set: ENOENT, ENOTDIR,
 * EACCES, ELOOP, ENAMETOOLONG from the directory; ENOENT, EACCES, EMFILE
 * from opening /proc/self/mountinfo (not mounted, say); ENODEV when the
 * mount is not in mountinfo and statfs does not name a local filesystem;
 * EOVERFLOW when the mount's line has a field too long for *out; EINVAL
 * for a NULL argument; ENOMEM.
 */
int probe_path(const char *lockpath, struct fsprobe *out);

/*
 * The same for `auto`, which wants only the method, at the least cost:
 * the caller has looked at lockpath already and passes what lstat() said
 * in seen (NULL: nothing is there), whose device and type then need no
 * second look; a local filesystem is known by its statfs magic without the
 * mount table, and out->dir is resolved only when the mount table needs
 * it.  Returns the method, or -1 with errno set as probe_path().
 */
int probe_method(const char *lockpath, const struct stat *seen,
    struct fsprobe *out);

/*
 * The probe of directory dir from what the system says of it: fs_magic
 * from statfs(2), dev from stat(2), and mountinfo the mount table
 * (/proc/self/mountinfo; NULL when there is none to read).  probe_path()
 * and probe_method() pass what the system says; tests pass recorded
 * mounts.  With resolve, out->dir is dir resolved first; without it, only
 * when no line carries dev.  When no line fits, fs_magic alone may name a
 * local filesystem.  Returns 0, or -1 with errno set as probe_path().
 */
int probe_mounts(const char *dir, int resolve, unsigned long fs_magic,
    dev_t dev, FILE *mountinfo, struct fsprobe *out);

/*
 * Chooses the method from fstype, subtype and options, sets method and
 * reason, and returns the method.  Never fails: an unknown filesystem gets
 * DLOCK_LOCKFILE.  The same mount always gives the same answer.
 */
int probe_choose(struct fsprobe *p);

/* Nonzero if the choice for fstype reads option ("nolock", "local_lock="). */
int probe_option_matters(const char *fstype, const char *option);

/* The fstype of a local filesystem with this statfs magic, or NULL. */
const char *probe_local_fstype(unsigned long magic);

/*
 * mountinfo.c, the mount-table parser.  It keeps of a line's options only
 * those that wanted(fstype, option) says the caller reads, so that a long
 * list cannot push one of them out of out->fs.options.
 */
typedef int mount_option_filter(const char *fstype, const char *option);

/*
 * One line of /proc/PID/mountinfo into the mount fields of *out (major,
 * minor, found_by, and in out->fs mountpoint, fstype, subtype, source,
 * options); other fields are left alone, and so is everything on failure.
 * Returns 0, or -1 with errno EINVAL (not a mountinfo line, or a NULL
 * argument) or EOVERFLOW (a field does not fit; source alone is cut short
 * instead, as it is only shown).
 */
int mountinfo_parse_line(const char *line, mount_option_filter *wanted,
    struct fsprobe *out);

/*
 * Reads mountinfo lines from fp and parses the one for a directory whose
 * st_dev is major:minor and whose resolved path is dir.  Of several lines
 * with that device (bind mounts), the one whose mount point is the longest
 * prefix of dir wins, else the last; with none, the longest mount-point
 * prefix of dir on any device.  Returns 0, or -1 with errno ENOENT (no line
 * fits), ENOMEM, a read error, or mountinfo_parse_line's.
 */
int mountinfo_find(FILE *fp, unsigned int major, unsigned int minor,
    const char *dir, mount_option_filter *wanted, struct fsprobe *out);

#endif /* DLOCK_PROBE_H */
