/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "check.h"
#include "dlock.h"
#include "probe.h"

/* How `-m auto` reads a mount and what it chooses for it. */

struct recorded {
	const char *name;
	const char *line;	/* as /proc/self/mountinfo shows it */
	int method;
	const char *fstype;
	const char *subtype;
	const char *mountpoint;
	const char *options;	/* the options the choice read */
};

#define FCNTL	DLOCK_FCNTL
#define FLOCK	DLOCK_FLOCK
#define LOCKF	DLOCK_LOCKFILE

/* The parser as the probe calls it. */
static int
parse_line(const char *line, struct fsprobe *p)
{
	return mountinfo_parse_line(line, probe_option_matters, p);
}

static const char *
method_name(int method)
{
	return method == FCNTL ? "fcntl" : method == FLOCK ? "flock" :
	    method == LOCKF ? "lockfile" : "other";
}

static const struct recorded recorded[] = {
	{ "ext4 root",
	  "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard",
	  FLOCK, "ext4", "", "/", "" },
	{ "xfs",
	  "61 27 8:17 / /srv rw,noatime shared:30 - xfs /dev/sdb1 "
	  "rw,attr2,inode64,logbufs=8,logbsize=32k,noquota",
	  FLOCK, "xfs", "", "/srv", "" },
	{ "btrfs subvolume",
	  "62 27 0:44 /@home /home rw,relatime shared:31 - btrfs "
	  "/dev/nvme0n1p2 rw,compress=zstd:3,ssd,space_cache=v2,"
	  "subvolid=257,subvol=/@home",
	  FLOCK, "btrfs", "", "/home", "" },
	{ "tmpfs",
	  "25 24 0:23 / /dev/shm rw,nosuid,nodev shared:4 - tmpfs tmpfs "
	  "rw,size=8131320k,inode64",
	  FLOCK, "tmpfs", "", "/dev/shm", "" },
	{ "overlay container root",
	  "700 650 0:120 / / rw,relatime - overlay overlay rw,lowerdir="
	  "/var/lib/docker/overlay2/l/ABC:/var/lib/docker/overlay2/l/DEF,"
	  "upperdir=/var/lib/docker/overlay2/123/diff,"
	  "workdir=/var/lib/docker/overlay2/123/work",
	  FLOCK, "overlay", "", "/", "" },
	{ "nfs vers=3 default",
	  "88 27 0:52 / /mnt/nfs3 rw,relatime shared:40 - nfs fs1:/export "
	  "rw,vers=3,rsize=1048576,wsize=1048576,namlen=255,hard,proto=tcp,"
	  "timeo=600,retrans=2,sec=sys,mountaddr=10.0.0.5,mountvers=3,"
	  "mountport=20048,mountproto=udp,local_lock=none,addr=10.0.0.5",
	  FCNTL, "nfs", "", "/mnt/nfs3", "local_lock=none" },
	{ "nfs nolock",
	  "89 27 0:53 / /mnt/nolock rw,relatime shared:41 - nfs fs1:/export "
	  "rw,vers=3,rsize=1048576,wsize=1048576,namlen=255,hard,nolock,"
	  "proto=tcp,timeo=600,retrans=2,sec=sys,mountaddr=10.0.0.5,"
	  "mountvers=3,mountport=20048,mountproto=udp,local_lock=all,"
	  "addr=10.0.0.5",
	  LOCKF, "nfs", "", "/mnt/nolock", "nolock,local_lock=all" },
	{ "nfs local_lock=all",
	  "90 27 0:54 / /mnt/la rw,relatime - nfs4 fs2:/data rw,vers=4.2,"
	  "rsize=1048576,wsize=1048576,namlen=255,hard,proto=tcp,timeo=600,"
	  "retrans=2,sec=sys,clientaddr=10.0.0.9,local_lock=all,"
	  "addr=10.0.0.6",
	  LOCKF, "nfs4", "", "/mnt/la", "local_lock=all" },
	{ "nfs local_lock=posix",
	  "91 27 0:55 / /mnt/lp rw,relatime - nfs fs1:/export rw,vers=3,"
	  "hard,proto=tcp,timeo=600,retrans=2,sec=sys,mountaddr=10.0.0.5,"
	  "mountvers=3,mountproto=udp,local_lock=posix,addr=10.0.0.5",
	  LOCKF, "nfs", "", "/mnt/lp", "local_lock=posix" },
	{ "nfs local_lock=flock",
	  "92 27 0:56 / /mnt/lf rw,relatime - nfs4 fs2:/data rw,vers=4.1,"
	  "hard,proto=tcp,timeo=600,retrans=2,sec=krb5,clientaddr=10.0.0.9,"
	  "local_lock=flock,addr=10.0.0.6",
	  FCNTL, "nfs4", "", "/mnt/lf", "local_lock=flock" },
	{ "nfs4 default",
	  "95 27 0:60 / /home rw,relatime shared:50 - nfs4 fs2:/home "
	  "rw,vers=4.2,rsize=1048576,wsize=1048576,namlen=255,hard,"
	  "proto=tcp,timeo=600,retrans=2,sec=sys,clientaddr=10.0.0.9,"
	  "local_lock=none,addr=10.0.0.6",
	  FCNTL, "nfs4", "", "/home", "local_lock=none" },
	{ "cifs",
	  "101 27 0:70 / /mnt/share rw,relatime shared:60 - cifs "
	  "//filer/share rw,vers=3.1.1,cache=strict,username=alice,uid=1000,"
	  "noforceuid,gid=1000,noforcegid,addr=10.0.0.7,file_mode=0755,"
	  "dir_mode=0755,soft,nounix,serverino,mapposix,rsize=4194304,"
	  "wsize=4194304,bsize=1048576,retrans=1,echo_interval=60,actimeo=1,"
	  "closetimeo=1",
	  FCNTL, "cifs", "", "/mnt/share", "" },
	{ "cifs nobrl",
	  "102 27 0:71 / /mnt/share2 rw,relatime - cifs //filer/share "
	  "rw,vers=3.1.1,cache=strict,username=alice,uid=1000,noforceuid,"
	  "gid=1000,noforcegid,addr=10.0.0.7,file_mode=0755,dir_mode=0755,"
	  "soft,nounix,serverino,mapposix,nobrl,rsize=4194304,"
	  "wsize=4194304,bsize=1048576,echo_interval=60,actimeo=1",
	  LOCKF, "cifs", "", "/mnt/share2", "nobrl" },
	{ "smb3",
	  "103 27 0:72 / /mnt/smb3 rw,relatime - smb3 //filer/eng rw,"
	  "vers=3.0,cache=strict,username=bob,uid=0,noforceuid,gid=0,"
	  "noforcegid,addr=10.0.0.7,soft,nounix,serverino,actimeo=1",
	  FCNTL, "smb3", "", "/mnt/smb3", "" },
	{ "lustre flock",
	  "120 27 0:80 / /lustre rw,relatime shared:70 - lustre "
	  "10.0.0.20@tcp:/scratch rw,flock,lazystatfs,encrypt",
	  FCNTL, "lustre", "", "/lustre", "flock" },
	{ "lustre localflock",
	  "121 27 0:81 / /lustre2 rw,relatime - lustre "
	  "10.0.0.20@o2ib:/work rw,localflock,lazystatfs",
	  LOCKF, "lustre", "", "/lustre2", "localflock" },
	{ "lustre noflock",
	  "122 27 0:82 / /lustre3 rw,relatime - lustre "
	  "10.0.0.20@tcp:/proj rw,noflock,lazystatfs",
	  LOCKF, "lustre", "", "/lustre3", "noflock" },
	{ "lustre neither flock nor localflock",
	  "123 27 0:83 / /lustre4 rw,relatime - lustre "
	  "10.0.0.20@tcp:/old rw,lazystatfs",
	  LOCKF, "lustre", "", "/lustre4", "" },
	{ "ceph kernel client",
	  "130 27 0:90 / /mnt/cephfs rw,relatime shared:80 - ceph "
	  "10.0.0.30:6789,10.0.0.31:6789:/ rw,name=admin,secret=<hidden>,acl",
	  FLOCK, "ceph", "", "/mnt/cephfs", "" },
	{ "fuse.ceph-fuse",
	  "131 27 0:91 / /mnt/ceph-fuse rw,nosuid,nodev,relatime shared:81 - "
	  "fuse.ceph-fuse ceph-fuse rw,user_id=0,group_id=0,allow_other",
	  FCNTL, "fuse", "ceph-fuse", "/mnt/ceph-fuse", "" },
	{ "fuse.glusterfs",
	  "132 27 0:92 / /mnt/gv0 rw,relatime shared:82 - fuse.glusterfs "
	  "198.18.0.1:/v0 rw,user_id=0,group_id=0,default_permissions,"
	  "allow_other,max_read=131072",
	  FLOCK, "fuse", "glusterfs", "/mnt/gv0", "" },
	{ "fuse.sshfs is an unknown FUSE",
	  "133 27 0:93 / /home/alice/remote rw,nosuid,nodev,relatime "
	  "shared:83 - fuse.sshfs alice@build7:/srv rw,user_id=1000,"
	  "group_id=1000",
	  LOCKF, "fuse", "sshfs", "/home/alice/remote", "" },
	{ "fuseblk",
	  "136 27 8:33 / /media/usb rw,nosuid,nodev,relatime - fuseblk "
	  "/dev/sdc1 rw,user_id=0,group_id=0,allow_other,blksize=4096",
	  FLOCK, "fuseblk", "", "/media/usb", "" },
	{ "unknown filesystem",
	  "134 27 0:94 / /mnt/weird rw,relatime - weirdfs none rw",
	  LOCKF, "weirdfs", "", "/mnt/weird", "" },
	{ "gpfs",
	  "140 27 0:100 / /gpfs/fs1 rw,relatime - gpfs fs1 rw",
	  FCNTL, "gpfs", "", "/gpfs/fs1", "" },
	{ "gfs2 clustered",
	  "141 27 253:3 / /cluster rw,relatime - gfs2 /dev/mapper/vg-gfs "
	  "rw,seclabel,relatime",
	  FLOCK, "gfs2", "", "/cluster", "" },
	{ "gfs2 localflocks",
	  "142 27 253:4 / /cluster2 rw,relatime - gfs2 /dev/mapper/vg-gfs2 "
	  "rw,localflocks",
	  LOCKF, "gfs2", "", "/cluster2", "localflocks" },
	{ "ocfs2 o2cb",
	  "143 27 253:5 / /ocfs rw,relatime - ocfs2 /dev/sdd1 rw,_netdev,"
	  "heartbeat=local,nointr,data=ordered,errors=remount-ro,"
	  "atime_quantum=60,coherency=full,user_xattr,acl",
	  LOCKF, "ocfs2", "", "/ocfs", "heartbeat=local" },
	{ "ocfs2 pacemaker stack",
	  "144 27 253:6 / /ocfs2 rw,relatime - ocfs2 /dev/sde1 "
	  "rw,heartbeat=none,nointr,data=ordered,errors=remount-ro,"
	  "atime_quantum=60,cluster_stack=pcmk,coherency=full,user_xattr",
	  FCNTL, "ocfs2", "", "/ocfs2", "heartbeat=none,cluster_stack=pcmk" },
	{ "ocfs2 localflocks with its trailing comma",
	  "145 27 253:7 / /ocfs3 rw,relatime - ocfs2 /dev/sdf1 "
	  "rw,heartbeat=none,localflocks,,cluster_stack=pcmk,coherency=full",
	  LOCKF, "ocfs2", "", "/ocfs3",
	  "heartbeat=none,localflocks,cluster_stack=pcmk" },
	{ "9p",
	  "146 27 0:110 / /mnt/host rw,relatime - 9p hostshare "
	  "rw,sync,dirsync,access=client,trans=virtio",
	  LOCKF, "9p", "", "/mnt/host", "" },
	{ "escaped space in mount point",
	  "135 27 0:95 / /mnt/my\\040share rw,relatime shared:85 - nfs4 "
	  "fs2:/exp\\040a rw,vers=4.1,hard,proto=tcp,sec=sys,"
	  "clientaddr=10.0.0.9,local_lock=none,addr=10.0.0.6",
	  FCNTL, "nfs4", "", "/mnt/my share", "local_lock=none" },
};

#define NRECORDED (sizeof(recorded) / sizeof(recorded[0]))

static void
test_recorded_lines(void)
{
	struct fsprobe *p = malloc(sizeof(*p));
	size_t i;

	CHECK(p != NULL, "malloc");
	if (p == NULL)
		return;
	for (i = 0; i < NRECORDED; i++) {
		const struct recorded *r = &recorded[i];
		int rc;

		memset(p, 0, sizeof(*p));
		rc = parse_line(r->line, p);
		CHECK(rc == 0, "%s: parse failed: %s", r->name, strerror(errno));
		if (rc != 0)
			continue;
		CHECK(strcmp(p->fs.fstype, r->fstype) == 0, "%s: fstype \"%s\"",
		    r->name, p->fs.fstype);
		CHECK(strcmp(p->fs.subtype, r->subtype) == 0, "%s: subtype \"%s\"",
		    r->name, p->fs.subtype);
		CHECK(strcmp(p->fs.mountpoint, r->mountpoint) == 0,
		    "%s: mount point \"%s\"", r->name, p->fs.mountpoint);
		CHECK(strcmp(p->fs.options, r->options) == 0, "%s: options \"%s\"",
		    r->name, p->fs.options);
		CHECK(probe_choose(p) == r->method && p->fs.method == r->method,
		    "%s: method %s, want %s (%s)", r->name,
		    method_name(p->fs.method), method_name(r->method),
		    p->fs.reason);
		CHECK(p->fs.reason[0] != '\0' && strchr(p->fs.reason, '\n') == NULL,
		    "%s: reason \"%s\"", r->name, p->fs.reason);
		/* Every answer says where flock(1) users stand. */
		CHECK(strstr(p->fs.reason, "flock(1)") != NULL,
		    "%s: reason names flock(1): \"%s\"", r->name, p->fs.reason);
		CHECK(r->method != FLOCK ||
		    strstr(p->fs.reason, "flock(1) users are excluded") != NULL,
		    "%s: a flock choice excludes flock(1): \"%s\"", r->name,
		    p->fs.reason);
	}
	free(p);
}

static void
test_parse_details(void)
{
	static struct fsprobe p;

	memset(&p, 0, sizeof(p));
	CHECK(parse_line(recorded[NRECORDED - 1].line, &p) == 0 &&
	    strcmp(p.fs.source, "fs2:/exp a") == 0 && p.major == 0 &&
	    p.minor == 95, "escaped source \"%s\" dev %u:%u", p.fs.source,
	    p.major, p.minor);
	CHECK(probe_choose(&p) == FCNTL &&
	    strcmp(p.fs.reason, "nfs4: fcntl locks are NFSv4 lock state held by "
	    "the server, which sees every client, and flock(2) is sent as a "
	    "whole-file fcntl lock; flock(1) users are excluded") == 0,
	    "nfs4 reason \"%s\"", p.fs.reason);

	memset(&p, 0, sizeof(p));
	CHECK(parse_line(recorded[7].line, &p) == 0 &&
	    probe_choose(&p) == LOCKF && strcmp(p.fs.reason, "nfs4 mounted with "
	    "local_lock=all: kernel locks would be local to this client; "
	    "flock(1) users are not excluded") == 0,
	    "local_lock=all reason \"%s\"", p.fs.reason);

	strcpy(p.dir, "/kept");
	errno = 0;
	CHECK(parse_line("27 1 254:0 / / rw ext4 /dev/vda rw", &p)
	    == -1 && errno == EINVAL && strcmp(p.dir, "/kept") == 0 &&
	    strcmp(p.fs.fstype, "nfs4") == 0,
	    "a line without \" - \" is EINVAL and leaves *out alone");
	errno = 0;
	CHECK(parse_line("27 1 x:0 / / rw - ext4 /dev/vda rw", &p)
	    == -1 && errno == EINVAL, "a bad major:minor is EINVAL");
	errno = 0;
	CHECK(parse_line("27 1 0:1 / / rw - "
	    "averyveryverylongfilesystemtypename /dev/x rw", &p) == -1 &&
	    errno == EOVERFLOW, "an fstype too long is EOVERFLOW");
	CHECK(parse_line("27 1 0:1 / /\\134x\\0777 rw - tmpfs "
	    "none rw", &p) == 0 && strcmp(p.fs.mountpoint, "/\\x?7") == 0,
	    "backslash and octal decoding gives \"%s\"", p.fs.mountpoint);
	CHECK(probe_option_matters("nfs", "local_lock=none") &&
	    probe_option_matters("ocfs2", "cluster_stack=o2cb") &&
	    !probe_option_matters("nfs", "hard") &&
	    !probe_option_matters("ext4", "nolock"),
	    "options that matter are those the table reads, per fstype");
	CHECK(probe_local_fstype(0xEF53) != NULL &&
	    strcmp(probe_local_fstype(0xEF53), "ext4") == 0 &&
	    probe_local_fstype(0x6969) == NULL &&
	    probe_local_fstype(~0UL - 0xFFFFFFFFUL + 0x9123683EUL) != NULL,
	    "statfs magic names local filesystems only");
}

static const char table[] =
    "27 1 254:0 / / rw - ext4 /dev/vda rw\n"
    "42 27 254:0 /run/netns /run/netns rw shared:1 - ext4 /dev/vda rw\n"
    "50 27 0:44 /@home /home rw - btrfs /dev/sda2 rw,subvol=/@home\n"
    "this line is not mountinfo\n"
    "60 27 0:52 / /mnt/nfs rw - nfs4 srv:/x rw,local_lock=none\n"
    "61 60 0:53 / /mnt/nfs/sub rw - nfs4 srv:/y rw,nolock,local_lock=all\n";

struct lookup {
	const char *name;
	unsigned int major, minor;
	const char *dir;
	int found_by;
	const char *mountpoint;
};

static const struct lookup lookups[] = {
	{ "bind mount: the longest prefix of the same device", 254, 0,
	  "/run/netns/x", PROBE_BY_DEVICE, "/run/netns" },
	{ "same device elsewhere: the root mount", 254, 0, "/var/tmp",
	  PROBE_BY_DEVICE, "/" },
	{ "btrfs subvolume device: longest mount-point prefix", 0, 99,
	  "/home/alice", PROBE_BY_PREFIX, "/home" },
	{ "prefixes end at a slash", 0, 99, "/mnt/nfs/subdir",
	  PROBE_BY_PREFIX, "/mnt/nfs" },
	{ "device match outside its mount point", 0, 53, "/elsewhere",
	  PROBE_BY_DEVICE, "/mnt/nfs/sub" },
};

static void
test_lookup(void)
{
	static struct fsprobe p;
	FILE *fp;
	size_t i;

	for (i = 0; i < sizeof(lookups) / sizeof(lookups[0]); i++) {
		const struct lookup *l = &lookups[i];
		int rc;

		fp = fmemopen((void *)table, sizeof(table) - 1, "r");
		CHECK(fp != NULL, "%s: fmemopen", l->name);
		if (fp == NULL)
			continue;
		memset(&p, 0, sizeof(p));
		rc = mountinfo_find(fp, l->major, l->minor, l->dir,
		    probe_option_matters, &p);
		fclose(fp);
		CHECK(rc == 0 && p.found_by == l->found_by &&
		    strcmp(p.fs.mountpoint, l->mountpoint) == 0,
		    "%s: rc %d found_by %d mount point \"%s\"", l->name, rc,
		    p.found_by, p.fs.mountpoint);
	}
	fp = fmemopen((void *)table, 10, "r");
	if (fp != NULL) {
		errno = 0;
		CHECK(mountinfo_find(fp, 1, 2, "/x",
		    probe_option_matters, &p) == -1 &&
		    errno == ENOENT, "no line fits: ENOENT");
		fclose(fp);
	}
}

/* Mounts not at hand, recorded as auto would see them from a directory. */
struct mount_case {
	const char *name;
	const char *fstype;	/* as mountinfo shows it: "fuse.sshfs" */
	const char *source;
	const char *options;
	int method;
	const char *reason_has;
};

static const struct mount_case mount_cases[] = {
	{ "NFS mounted local_lock=all gets a lockfile", "nfs4",
	  "server:/export", "rw,vers=4.2,local_lock=all", LOCKF,
	  "mounted with local_lock=all" },
	{ "NFS mounted nolock gets a lockfile", "nfs", "server:/export",
	  "rw,vers=3,nolock,local_lock=all", LOCKF, "mounted with nolock" },
	{ "NFS with its lock service gets fcntl", "nfs4", "server:/export",
	  "rw,vers=4.2,local_lock=none", FCNTL, "NFSv4 lock state" },
	{ "an unknown FUSE filesystem gets a lockfile", "fuse.sshfs",
	  "user@host:/srv", "rw,user_id=0,group_id=0", LOCKF, "fuse.sshfs" },
	{ "GlusterFS over FUSE gets flock", "fuse.glusterfs", "198.18.0.1:/v0",
	  "rw,user_id=0,group_id=0", FLOCK, "GlusterFS" },
	{ "Lustre without the flock option gets a lockfile", "lustre",
	  "10.0.0.1@tcp:/fs", "rw,localflock", LOCKF, "localflock" },
};

/* What the table chooses for a filesystem known by its statfs magic. */
static int
choice_by_magic(const char *fstype)
{
	static struct fsprobe q;

	memset(&q, 0, sizeof(q));
	snprintf(q.fs.fstype, sizeof(q.fs.fstype), "%s", fstype);
	q.found_by = PROBE_BY_MAGIC;
	return probe_choose(&q);
}

/* NFS's statfs magic: not a local filesystem's. */
#define NFS_MAGIC 0x6969UL

/* probe_mounts() on a one-line table that puts dir on device 0:4242. */
static int
probe_recorded(const char *dir, int resolve, const struct mount_case *m,
    struct fsprobe *p)
{
	char line[PATH_MAX + 256];
	FILE *fp;
	int rc;

	snprintf(line, sizeof(line), "99 1 0:4242 / %s rw,relatime shared:1 "
	    "- %s %s %s\n", dir, m->fstype, m->source, m->options);
	if ((fp = fmemopen(line, strlen(line), "r")) == NULL)
		return -1;
	memset(p, 0, sizeof(*p));
	rc = probe_mounts(dir, resolve, NFS_MAGIC, makedev(0, 4242), fp, p);
	fclose(fp);
	return rc;
}

static void
test_recorded_mounts(const char *tmp)
{
	static struct fsprobe p;
	char real[PATH_MAX];
	size_t i;
	int resolve;
	FILE *fp;

	CHECK(realpath(tmp, real) != NULL, "realpath %s", tmp);
	for (i = 0; i < sizeof(mount_cases) / sizeof(mount_cases[0]); i++) {
		const struct mount_case *m = &mount_cases[i];

		/* As dlock probe sees it, then as auto does. */
		for (resolve = 1; resolve >= 0; resolve--) {
			CHECK(probe_recorded(real, resolve, m, &p) == 0 &&
			    p.fs.method == m->method &&
			    p.found_by == PROBE_BY_DEVICE &&
			    strcmp(p.fs.mountpoint, real) == 0 &&
			    strstr(p.fs.reason, m->reason_has) != NULL,
			    "%s%s: %s (%s)", m->name, resolve ? "" :
			    " (auto)", method_name(p.fs.method), p.fs.reason);
		}
	}
	CHECK(probe_recorded(real, 1, &mount_cases[3], &p) == 0 &&
	    strcmp(p.fs.fstype, "fuse") == 0 &&
	    strcmp(p.fs.subtype, "sshfs") == 0 &&
	    strcmp(p.fs.source, "user@host:/srv") == 0 &&
	    p.fs_magic == NFS_MAGIC && p.major == 0 && p.minor == 4242,
	    "a FUSE mount's type, subtype, source and device");

	/* The table of test_lookup, from a directory on device 0:53. */
	fp = fmemopen((void *)table, sizeof(table) - 1, "r");
	if (fp != NULL) {
		memset(&p, 0, sizeof(p));
		CHECK(probe_mounts(real, 1, NFS_MAGIC, makedev(0, 53), fp,
		    &p) == 0 && strcmp(p.fs.fstype, "nfs4") == 0 &&
		    p.fs.method == LOCKF, "recorded nolock mount gives "
		    "lockfile (%s)", p.fs.reason);
		fclose(fp);
	}

	/* No line fits: statfs alone may name only a local filesystem. */
	fp = fmemopen((void *)table, 10, "r");
	if (fp != NULL) {
		memset(&p, 0, sizeof(p));
		CHECK(probe_mounts(real, 0, 0xEF53, makedev(7, 7), fp,
		    &p) == 0 && p.found_by == PROBE_BY_MAGIC &&
		    strcmp(p.fs.fstype, "ext4") == 0 &&
		    p.fs.method == choice_by_magic("ext4") &&
		    strstr(p.fs.reason, "statfs magic") != NULL,
		    "chroot fallback by magic (%s)", p.fs.reason);
		errno = 0;
		CHECK(probe_mounts(real, 1, NFS_MAGIC, makedev(7, 7), fp,
		    &p) == -1 && errno == ENODEV,
		    "no line and a network magic is ENODEV");
		fclose(fp);
	}
	memset(&p, 0, sizeof(p));
	CHECK(probe_mounts(real, 1, 0x01021994, makedev(7, 7), NULL, &p) == 0 &&
	    strcmp(p.fs.fstype, "tmpfs") == 0 &&
	    p.fs.method == choice_by_magic("tmpfs"),
	    "no mount table at all: tmpfs by its magic (%s)", p.fs.reason);
}

static int
known_local(const struct fsprobe *p)
{
	return probe_local_fstype(p->fs_magic) != NULL;
}

static void
test_this_machine(const char *tmp)
{
	static struct fsprobe p;
	char path[PATH_MAX], real[PATH_MAX], cwd[PATH_MAX];
	FILE *fp;

	CHECK(realpath(tmp, real) != NULL, "realpath %s", tmp);

	snprintf(path, sizeof(path), "%s/lock", tmp);
	CHECK(probe_path(path, &p) == 0 && strcmp(p.dir, real) == 0 &&
	    p.fs.fstype[0] != '\0' && p.fs.reason[0] != '\0' &&
	    (p.fs.method == FLOCK || p.fs.method == FCNTL || p.fs.method == LOCKF) &&
	    (!known_local(&p) || p.fs.method == FLOCK),
	    "/tmp: dir \"%s\" %s %s (%s)", p.dir, p.fs.fstype,
	    method_name(p.fs.method), p.fs.reason);

	CHECK(probe_path(tmp, &p) == 0 && strcmp(p.dir, real) == 0,
	    "a directory lock path is its own directory (\"%s\")", p.dir);

	snprintf(path, sizeof(path), "%s/link", tmp);
	CHECK(symlink("/dev/shm", path) == 0, "symlink %s", path);
	CHECK(probe_path(path, &p) == 0 && strcmp(p.dir, real) == 0,
	    "a final symlink is not followed (\"%s\")", p.dir);
	unlink(path);

	CHECK(probe_path("/", &p) == 0 && strcmp(p.dir, "/") == 0 &&
	    strcmp(p.fs.mountpoint, "/") == 0 && p.found_by == PROBE_BY_DEVICE &&
	    (!known_local(&p) || p.fs.method == FLOCK),
	    "/: %s on \"%s\" %s (%s)", p.fs.fstype, p.fs.mountpoint,
	    method_name(p.fs.method), p.fs.reason);

	CHECK(probe_path("/dev/shm/dlock-probe-lock", &p) == 0 &&
	    strcmp(p.fs.fstype, "tmpfs") == 0 && p.fs.method == FLOCK &&
	    strcmp(p.fs.mountpoint, "/dev/shm") == 0,
	    "/dev/shm: %s on \"%s\" %s", p.fs.fstype, p.fs.mountpoint,
	    method_name(p.fs.method));

	errno = 0;
	CHECK(probe_path("/nonexistent-dlock-probe/dir/lock", &p) == -1 &&
	    errno == ENOENT, "missing parent: ENOENT (%s)", strerror(errno));

	snprintf(path, sizeof(path), "%s/file", tmp);
	if ((fp = fopen(path, "w")) != NULL)
		fclose(fp);
	snprintf(path, sizeof(path), "%s/file/lock", tmp);
	errno = 0;
	CHECK(probe_path(path, &p) == -1 && errno == ENOTDIR,
	    "parent is a file: ENOTDIR (%s)", strerror(errno));
	snprintf(path, sizeof(path), "%s/file", tmp);
	unlink(path);

	CHECK(getcwd(cwd, sizeof(cwd)) != NULL &&
	    probe_path("dlock-probe-no-such-lock", &p) == 0 &&
	    strcmp(p.dir, cwd) == 0, "a bare name lives in \".\" (\"%s\")",
	    p.dir);

	errno = 0;
	CHECK(probe_path(NULL, &p) == -1 && errno == EINVAL, "NULL: EINVAL");
}

/* What auto runs: a local filesystem is known by its statfs magic alone,
 * or, with no block device (tmpfs), by the mount line of its device. */
static void
test_auto(const char *tmp)
{
	static struct fsprobe p;
	char path[PATH_MAX];
	int method;

	snprintf(path, sizeof(path), "%s/lock", tmp);
	method = probe_method(path, NULL, &p);
	CHECK(method >= FCNTL && method == p.fs.method &&
	    (!known_local(&p) || (p.found_by == PROBE_BY_MAGIC &&
	    method == choice_by_magic(p.fs.fstype) &&
	    strcmp(p.dir, tmp) == 0)),
	    "auto under /tmp: %s, found by %d (%s)", method_name(method),
	    p.found_by, p.fs.reason);
	if (probe_method("/dev/shm/dlock-probe-lock", NULL, &p) >= 0)
		CHECK(strcmp(p.fs.fstype, "tmpfs") == 0 &&
		    p.fs.method == choice_by_magic("tmpfs"),
		    "auto on /dev/shm: tmpfs, by its mount line or its magic "
		    "(%s)", p.fs.reason);
	errno = 0;
	CHECK(probe_method("/nonexistent-dlock-probe/lock", NULL, &p) == -1 &&
	    errno == ENOENT, "auto in a missing directory: ENOENT");
}

int
main(void)
{
	char tmp[] = "/tmp/dlock-probe-XXXXXX";

	test_recorded_lines();
	test_parse_details();
	test_lookup();
	if (mkdtemp(tmp) == NULL) {
		CHECK(0, "mkdtemp: %s", strerror(errno));
	} else {
		test_recorded_mounts(tmp);
		test_auto(tmp);
		test_this_machine(tmp);
		rmdir(tmp);
	}
	return check_summary("probe");
}
