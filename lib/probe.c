/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>

#include "internal.h"
#include "probe.h"

/*
 * The choice for `-m auto`.  A kernel lock is right only where every host
 * that can open the file goes through one lock table: this kernel, or a
 * server or cluster service that sees every client.  Where a filesystem
 * accepts a kernel lock but keeps it on this host, it still "succeeds" on
 * two hosts at once, so anything not known to be coherent gets a lock
 * file, which needs only an atomic exclusive create.
 *
 * Of the kernel locks, flock(2) is the one util-linux flock(1) takes, and
 * on Linux flock(2) and fcntl locks do not see each other.  So where
 * flock(2) is coherent, whole files get flock (lock.c turns a byte range
 * into fcntl, which every flock row also makes coherent); where flock(2)
 * is itself an emulation with whole-file fcntl locks (NFS), fcntl is the
 * same lock.  Each reason ends by saying whether flock(1) users of the
 * same path are excluded.
 *
 * Rows are tried in order and the first that fits decides, so a
 * filesystem's option rows come before its default row.  option is one
 * mount option as mountinfo shows it; "key=" matches any value.  The
 * answer depends on nothing but the mount, so every host that mounts the
 * filesystem the same way makes the same choice.
 */
struct choice {
	const char *fstype;
	const char *subtype;	/* NULL: any */
	const char *option;	/* NULL: whatever the options */
	unsigned long magic;	/* statfs f_type; only on rows that need no
				   options and are the first with it */
	int method;
	const char *why;	/* completes "<fstype>[ mounted with <opt>]: " */
};

#define EXCLUDED	"; flock(1) users are excluded"
#define NOT_EXCLUDED	"; flock(1) users are not excluded"
#define MAYBE_EXCLUDED	"; whether flock(1) users are excluded is not known"
#define LOCAL	"a local filesystem, so every locker goes through this " \
		"kernel's lock table, and flock(2) is the lock flock(1) " \
		"takes" EXCLUDED
#define STAYS	"kernel locks would be local to this client" NOT_EXCLUDED
#define SINGLE	"a single-node mount, so every locker goes through this " \
		"kernel's lock table" EXCLUDED

static const struct choice choices[] = {
	/* Local filesystems.  ext2 and ext3 share ext4's magic and answer. */
	{ "ext4", NULL, NULL, 0xEF53, DLOCK_FLOCK, LOCAL },
	{ "ext3", NULL, NULL, 0, DLOCK_FLOCK, LOCAL },
	{ "ext2", NULL, NULL, 0, DLOCK_FLOCK, LOCAL },
	{ "xfs", NULL, NULL, 0x58465342, DLOCK_FLOCK, LOCAL },
	{ "btrfs", NULL, NULL, 0x9123683E, DLOCK_FLOCK, LOCAL },
	{ "tmpfs", NULL, NULL, 0x01021994, DLOCK_FLOCK, LOCAL },
	{ "ramfs", NULL, NULL, 0x858458F6, DLOCK_FLOCK, LOCAL },
	{ "devtmpfs", NULL, NULL, 0, DLOCK_FLOCK, LOCAL },
	{ "f2fs", NULL, NULL, 0xF2F52010, DLOCK_FLOCK, LOCAL },
	{ "zfs", NULL, NULL, 0x2FC12FC1, DLOCK_FLOCK, LOCAL },
	{ "bcachefs", NULL, NULL, 0xCA451A4E, DLOCK_FLOCK, LOCAL },
	{ "nilfs2", NULL, NULL, 0x3434, DLOCK_FLOCK, LOCAL },
	/* Overlay locks land on the overlay's inode in this kernel, even
	 * when a lower layer is remote. */
	{ "overlay", NULL, NULL, 0x794C7630, DLOCK_FLOCK, LOCAL },
	{ "jfs", NULL, NULL, 0x3153464A, DLOCK_FLOCK, LOCAL },
	{ "reiserfs", NULL, NULL, 0x52654973, DLOCK_FLOCK, LOCAL },
	{ "vfat", NULL, NULL, 0x4D44, DLOCK_FLOCK, LOCAL },
	{ "msdos", NULL, NULL, 0, DLOCK_FLOCK, LOCAL },
	{ "exfat", NULL, NULL, 0x2011BAB0, DLOCK_FLOCK, LOCAL },
	{ "ntfs3", NULL, NULL, 0, DLOCK_FLOCK, LOCAL },
	{ "hfsplus", NULL, NULL, 0x482B, DLOCK_FLOCK, LOCAL },
	{ "udf", NULL, NULL, 0x15013346, DLOCK_FLOCK, LOCAL },

	/*
	 * NFS, nfs(5) and fs/nfs: "nolock" sets both local-lock flags, and
	 * local_lock=posix|all keeps POSIX locks on the client, for NFSv4
	 * as for v2/v3 (the flags are tested in nfs_lock() whatever the
	 * version).  The kernel prints local_lock= on every NFS mount, and
	 * nolock besides.  local_lock=flock and none send fcntl locks to the
	 * server: NLM for v2/v3, lock state under the client's lease for v4.
	 * Unless local_lock=flock keeps them on the client, flock(2) locks
	 * are sent as whole-file fcntl locks (nfs_flock()), so fcntl is the
	 * lock flock(1) takes.
	 */
	{ "nfs", NULL, "nolock", 0, DLOCK_LOCKFILE, STAYS },
	{ "nfs", NULL, "local_lock=all", 0, DLOCK_LOCKFILE, STAYS },
	{ "nfs", NULL, "local_lock=posix", 0, DLOCK_LOCKFILE, STAYS },
	{ "nfs", NULL, "local_lock=flock", 0, DLOCK_FCNTL,
	    "fcntl locks go to the server's lock manager (NLM), which sees "
	    "every client, but flock(2) locks stay on this client"
	    NOT_EXCLUDED },
	{ "nfs", NULL, NULL, 0, DLOCK_FCNTL,
	    "fcntl locks go to the server's lock manager (NLM), which sees "
	    "every client, and flock(2) is sent as a whole-file fcntl lock"
	    EXCLUDED },
	{ "nfs4", NULL, "nolock", 0, DLOCK_LOCKFILE, STAYS },
	{ "nfs4", NULL, "local_lock=all", 0, DLOCK_LOCKFILE, STAYS },
	{ "nfs4", NULL, "local_lock=posix", 0, DLOCK_LOCKFILE, STAYS },
	{ "nfs4", NULL, "local_lock=flock", 0, DLOCK_FCNTL,
	    "fcntl locks are NFSv4 lock state held by the server, which sees "
	    "every client, but flock(2) locks stay on this client"
	    NOT_EXCLUDED },
	{ "nfs4", NULL, NULL, 0, DLOCK_FCNTL,
	    "fcntl locks are NFSv4 lock state held by the server, which sees "
	    "every client, and flock(2) is sent as a whole-file fcntl lock"
	    EXCLUDED },

	/*
	 * SMB, mount.cifs(8): byte-range locks are sent to the server, which
	 * enforces them against every client (as mandatory SMB locks, or
	 * POSIX locks with the Unix extensions), unless the mount says
	 * "nobrl" (alias "nolock"; the kernel prints nobrl): "Do not send
	 * byte range lock requests to the server."  A lease lets the client
	 * hold locks locally only until another client opens the file.
	 * What flock(2) does here depends on the kernel's version.
	 */
	{ "cifs", NULL, "nobrl", 0, DLOCK_LOCKFILE,
	    "byte-range locks are not sent to the server, so " STAYS },
	{ "cifs", NULL, NULL, 0, DLOCK_FCNTL,
	    "byte-range locks are sent to the SMB server, which enforces them "
	    "against every client" MAYBE_EXCLUDED },
	{ "smb3", NULL, "nobrl", 0, DLOCK_LOCKFILE,
	    "byte-range locks are not sent to the server, so " STAYS },
	{ "smb3", NULL, NULL, 0, DLOCK_FCNTL,
	    "byte-range locks are sent to the SMB server, which enforces them "
	    "against every client" MAYBE_EXCLUDED },

	/*
	 * Lustre, mount.lustre(8): "flock" is coherent across all client
	 * nodes, "localflock" only within one node, "noflock" refuses locks
	 * (ENOSYS).  The client prints flock or localflock when set (flock
	 * is the default since 2.12.3); neither means noflock.
	 */
	{ "lustre", NULL, "localflock", 0, DLOCK_LOCKFILE,
	    "locks are coherent only on this client node" NOT_EXCLUDED },
	{ "lustre", NULL, "flock", 0, DLOCK_FCNTL,
	    "locks are coherent across all client nodes" MAYBE_EXCLUDED },
	{ "lustre", NULL, "noflock", 0, DLOCK_LOCKFILE,
	    "the client refuses kernel locks, flock(1)'s too" },
	{ "lustre", NULL, NULL, 0, DLOCK_LOCKFILE,
	    "without the flock option the client refuses kernel locks, "
	    "flock(1)'s too" },

	/* CephFS kernel client, fs/ceph/locks.c: fcntl and flock locks are
	 * synchronous with the metadata server, as two kinds that do not
	 * see each other. */
	{ "ceph", NULL, NULL, 0, DLOCK_FLOCK,
	    "flock(2) and fcntl locks are held by the Ceph metadata server, "
	    "which sees every client" EXCLUDED },

	/*
	 * FUSE hands a lock to the daemon only if the daemon implements
	 * locking; otherwise the kernel keeps it local to the mount and two
	 * clients both "hold" it (seen with two sshfs mounts of one
	 * directory).  The GlusterFS client sends fcntl and flock(2) locks
	 * to the bricks, and ceph-fuse fcntl locks to the metadata server.
	 * fuseblk sits on a local block device, which no other host has
	 * mounted, so local locks are exact.
	 */
	{ "fuse", "glusterfs", NULL, 0, DLOCK_FLOCK,
	    "the GlusterFS client forwards flock(2) and fcntl locks to the "
	    "bricks, which see every client" EXCLUDED },
	{ "fuse", "ceph-fuse", NULL, 0, DLOCK_FCNTL,
	    "ceph-fuse forwards locks to the Ceph metadata server"
	    MAYBE_EXCLUDED },
	{ "fuse", "ceph", NULL, 0, DLOCK_FCNTL,
	    "ceph-fuse forwards locks to the Ceph metadata server"
	    MAYBE_EXCLUDED },
	{ "fuse", NULL, NULL, 0, DLOCK_LOCKFILE,
	    "a FUSE filesystem not known to forward locks, so the kernel "
	    "would keep them local to this mount" NOT_EXCLUDED },
	{ "fuseblk", NULL, NULL, 0, DLOCK_FLOCK,
	    "FUSE on a local block device, so every locker goes through this "
	    "kernel's lock table" EXCLUDED },

	/* IBM Storage Scale: fcntl byte-range locks are coherent across the
	 * cluster; its flock locks are node-local, which fcntl avoids. */
	{ "gpfs", NULL, NULL, 0, DLOCK_FCNTL,
	    "fcntl locks are coherent across the whole cluster, flock(2) "
	    "locks only on one node" NOT_EXCLUDED },

	/*
	 * GFS2, gfs2_mount(8): POSIX locks go through dlm_controld, and
	 * flock(2) locks are glocks, to every node, unless "localflocks"
	 * leaves both to this node's VFS.  lock_nolock is a single-node
	 * mount (and implies localflocks).
	 */
	{ "gfs2", NULL, "lockproto=lock_nolock", 0, DLOCK_FLOCK, SINGLE },
	{ "gfs2", NULL, "localflocks", 0, DLOCK_LOCKFILE,
	    "locks are handled by this node alone" NOT_EXCLUDED },
	{ "gfs2", NULL, NULL, 0, DLOCK_FLOCK,
	    "flock(2) locks are cluster glocks and POSIX locks go through "
	    "dlm_controld, to every node" EXCLUDED },

	/*
	 * OCFS2, fs/ocfs2: POSIX locks are cluster-wide only through a
	 * userspace cluster stack (pcmk, cman: dlm_controld); the classic
	 * o2cb stack has no plock operation, so the kernel keeps them on
	 * the node.  The mount shows cluster_stack= for userspace stacks and
	 * for o2cb with global heartbeat.  heartbeat=none is shown for
	 * userspace stacks (caught by the row before) and for local mounts,
	 * which no other node can have.  Its flock(2) locks are cluster
	 * locks of their own, apart from POSIX locks.
	 */
	{ "ocfs2", NULL, "localflocks", 0, DLOCK_LOCKFILE,
	    "locks are handled by this node alone" NOT_EXCLUDED },
	{ "ocfs2", NULL, "cluster_stack=o2cb", 0, DLOCK_LOCKFILE,
	    "the o2cb stack keeps POSIX locks on this node" NOT_EXCLUDED },
	{ "ocfs2", NULL, "cluster_stack=", 0, DLOCK_FCNTL,
	    "a userspace cluster stack makes POSIX locks cluster-wide"
	    NOT_EXCLUDED },
	{ "ocfs2", NULL, "heartbeat=none", 0, DLOCK_FLOCK, SINGLE },
	{ "ocfs2", NULL, NULL, 0, DLOCK_LOCKFILE,
	    "the o2cb stack keeps POSIX locks on this node" NOT_EXCLUDED },

	/* BeeGFS keeps locks on the client unless its client configuration
	 * sets tuneUseGlobalFileLocks, which the mount does not show. */
	{ "beegfs", NULL, NULL, 0, DLOCK_LOCKFILE,
	    "locks stay on this client unless the client configuration says "
	    "otherwise, which the mount does not show" NOT_EXCLUDED },

	/* 9P: QEMU's server answers every lock request with success. */
	{ "9p", NULL, NULL, 0, DLOCK_LOCKFILE,
	    "common 9P servers grant every lock without checking other "
	    "clients" NOT_EXCLUDED },

	/* AFS servers know only whole-file locks; the kernel client keeps
	 * byte-range locks local in its default flock=openafs mode. */
	{ "afs", NULL, NULL, 0, DLOCK_LOCKFILE,
	    "byte-range locks may stay on this client, as AFS servers lock "
	    "only whole files" NOT_EXCLUDED },
};

#define NCHOICES (sizeof(choices) / sizeof(choices[0]))

#define UNKNOWN	"lock semantics unknown, so only an exclusive-create lock " \
		"file is trusted" NOT_EXCLUDED

static size_t
key_length(const char *opt)
{
	return strcspn(opt, "=");
}

int
probe_option_matters(const char *fstype, const char *option)
{
	size_t i, n = key_length(option);

	for (i = 0; i < NCHOICES; i++)
		if (choices[i].option != NULL &&
		    strcmp(choices[i].fstype, fstype) == 0 &&
		    key_length(choices[i].option) == n &&
		    strncmp(choices[i].option, option, n) == 0)
			return 1;
	return 0;
}

const char *
probe_local_fstype(unsigned long magic)
{
	size_t i;

	/* Magic numbers are 32 bits; f_type may come sign-extended. */
	magic &= 0xFFFFFFFFUL;
	for (i = 0; i < NCHOICES; i++)
		if (choices[i].magic != 0 && choices[i].magic == magic)
			return choices[i].fstype;
	return NULL;
}

/* Finds want in the comma-separated options; "key=" matches any value. */
static const char *
find_option(const char *options, const char *want, size_t *len)
{
	size_t wn = strlen(want);
	const char *p = options;

	while (*p != '\0') {
		size_t n = strcspn(p, ",");

		int any_value = want[wn - 1] == '=';

		if ((any_value ? n >= wn : n == wn) &&
		    strncmp(p, want, wn) == 0) {
			*len = n;
			return p;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return NULL;
}

int
probe_choose(struct fsprobe *p)
{
	const struct choice *c;
	const char *opt = NULL, *why = UNKNOWN;
	size_t i, optlen = 0;

	p->fs.method = DLOCK_LOCKFILE;
	for (i = 0; i < NCHOICES; i++) {
		c = &choices[i];
		if (strcmp(c->fstype, p->fs.fstype) != 0 ||
		    (c->subtype != NULL && strcmp(c->subtype, p->fs.subtype) != 0))
			continue;
		if (c->option != NULL &&
		    (opt = find_option(p->fs.options, c->option, &optlen)) == NULL)
			continue;
		p->fs.method = c->method;
		why = c->why;
		break;
	}
	snprintf(p->fs.reason, sizeof(p->fs.reason), "%s%s%s%s%s%.*s: %s",
	    p->fs.fstype[0] != '\0' ? p->fs.fstype : "an unnamed filesystem",
	    p->fs.subtype[0] != '\0' ? "." : "", p->fs.subtype,
	    p->found_by == PROBE_BY_MAGIC ? " (known by its statfs magic)" : "",
	    opt != NULL ? " mounted with " : "", (int)optlen,
	    opt != NULL ? opt : "", why);
	return p->fs.method;
}

/* The directory that holds a lock: the lock path itself when it is a
 * directory (flock(1) can lock one), else its parent. */
static int
lock_directory(const char *lockpath, int is_dir, char *dir, size_t size)
{
	if (!is_dir)
		return parent_dir(lockpath, dir, size);
	if (strlen(lockpath) >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(dir, lockpath, strlen(lockpath) + 1);
	return 0;
}

#define MOUNTINFO "/proc/self/mountinfo"

/* A chroot hides the mount that holds it.  Only a local filesystem can be
 * named from statfs alone: every other answer needs the mount options. */
static int
name_by_magic(unsigned long magic, struct fsprobe *out)
{
	const char *local = probe_local_fstype(magic);

	if (local == NULL) {
		errno = ENODEV;
		return -1;
	}
	snprintf(out->fs.fstype, sizeof(out->fs.fstype), "%s", local);
	out->found_by = PROBE_BY_MAGIC;
	return 0;
}

static int
find_mount(FILE *mountinfo, unsigned int dev_major, unsigned int dev_minor,
    const char *dir, struct fsprobe *out)
{
	if (mountinfo == NULL) {
		errno = ENOENT;
		return -1;
	}
	rewind(mountinfo);
	return mountinfo_find(mountinfo, dev_major, dev_minor, dir,
	    probe_option_matters, out);
}

/*
 * Without resolve (auto, which only wants the method), dir is resolved
 * only when no mount line carries its device: lines that share a device
 * share one superblock, and with it the options the choice reads, so any
 * of them gives the same method.  On a network filesystem every step of
 * realpath() is a round trip to the server.
 */
int
probe_mounts(const char *dir, int resolve, unsigned long fs_magic, dev_t dev,
    FILE *mountinfo, struct fsprobe *out)
{
	unsigned int dev_major = major(dev), dev_minor = minor(dev);
	int rc;

	if (resolve ? realpath(dir, out->dir) == NULL :
	    snprintf(out->dir, sizeof(out->dir), "%s", dir) < 0)
		return -1;
	/* Unresolved, the directory matches by device alone: a mount-point
	 * prefix of a path with symlinks in it could name the wrong mount. */
	rc = find_mount(mountinfo, dev_major, dev_minor,
	    resolve ? out->dir : "", out);
	if (rc == -1 && errno == ENOENT && !resolve) {
		if (realpath(dir, out->dir) == NULL)
			return -1;
		rc = find_mount(mountinfo, dev_major, dev_minor, out->dir, out);
	}
	if (rc == -1 && (errno != ENOENT || name_by_magic(fs_magic, out) == -1))
		return -1;
	out->fs_magic = fs_magic & 0xFFFFFFFFUL;
	out->major = dev_major;
	out->minor = dev_minor;
	probe_choose(out);
	return 0;
}

/* Probes the directory dir; with resolve, out->dir is dir resolved, for
 * display and for choosing among bind mounts.  seen, if not NULL, is what
 * lstat() said of the lock path a moment ago: its device is that of dir
 * (the lock path is dir, or a name in it), which spares a stat() of dir,
 * a round trip on a network filesystem; without it, that stat() gives the
 * device instead of a statfs(). */
static int
probe_directory(const char *dir, int resolve, const struct stat *seen,
    struct fsprobe *out)
{
	struct statfs sfs;
	struct stat st;
	unsigned long magic;
	FILE *fp;
	int rc, save;

	/*
	 * A filesystem with no block device of its own (major 0: NFS, FUSE,
	 * CephFS, but also tmpfs and btrfs) is named by its mount line, found
	 * by the device of the look at the lock path: statfs(), a round trip
	 * to the server on a network filesystem, is needed only when no line
	 * carries the device (in a chroot).
	 */
	if (!resolve && seen == NULL) {
		/* No lock file yet: the directory's own look gives the
		 * device, one call either way. */
		if (stat(dir, &st) == -1)
			return -1;
		if (!S_ISDIR(st.st_mode)) {
			errno = ENOTDIR;
			return -1;
		}
		seen = &st;
	}
	if (!resolve && major(seen->st_dev) == 0 &&
	    (fp = fopen(MOUNTINFO, "re")) != NULL) {
		rc = probe_mounts(dir, 0, 0, seen->st_dev, fp, out);
		fclose(fp);
		if (rc == 0)
			return 0;
		memset(out, 0, sizeof(*out));
	}
	if (statfs(dir, &sfs) == -1)
		return -1;
	magic = (unsigned long)sfs.f_type & 0xFFFFFFFFUL;
	/* A local filesystem is named by its statfs magic alone, and every
	 * local filesystem gets flock: no need to read the mount table. */
	if (!resolve && name_by_magic(magic, out) == 0) {
		snprintf(out->dir, sizeof(out->dir), "%s", dir);
		out->fs_magic = magic;
		probe_choose(out);
		return 0;
	}
	if (seen != NULL) {
		if (seen != &st)
			st = *seen;
	} else {
		if (stat(dir, &st) == -1)
			return -1;
		if (!S_ISDIR(st.st_mode)) {
			errno = ENOTDIR;
			return -1;
		}
	}
	/* Without /proc, the mount is named by its statfs magic or not. */
	if ((fp = fopen(MOUNTINFO, "re")) == NULL && errno != ENOENT)
		return -1;
	rc = probe_mounts(dir, resolve, magic, st.st_dev, fp, out);
	save = errno;
	if (fp != NULL)
		fclose(fp);
	errno = save;
	return rc;
}

int
probe_path(const char *lockpath, struct fsprobe *out)
{
	char dir[PATH_MAX];
	struct stat st;

	if (lockpath == NULL || out == NULL) {
		errno = EINVAL;
		return -1;
	}
	memset(out, 0, sizeof(*out));
	/* lstat: a symlink at the lock path is not followed, so it is the
	 * parent that counts. */
	if (lock_directory(lockpath, lstat(lockpath, &st) == 0 &&
	    S_ISDIR(st.st_mode), dir, sizeof(dir)) == -1)
		return -1;
	return probe_directory(dir, 1, NULL, out);
}

int
probe_method(const char *lockpath, const struct stat *seen,
    struct fsprobe *out)
{
	char dir[PATH_MAX];
	int is_dir = seen != NULL && S_ISDIR(seen->st_mode);

	memset(out, 0, sizeof(*out));
	if (lock_directory(lockpath, is_dir, dir, sizeof(dir)) == -1 ||
	    probe_directory(dir, 0, seen, out) == -1)
		return -1;
	return out->fs.method;
}
