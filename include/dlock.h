/* SPDX-License-Identifier: ISC */
#ifndef DLOCK_H
#define DLOCK_H

/*
 * libdlock: file locks that hold on shared filesystems.
 *
 * Every call returns 0 (or a valid pointer) on success and -1 (or NULL)
 * with errno set on failure.  The library never prints, never exits and
 * never installs signal handlers.
 */

#include <sys/types.h>
#include <sys/file.h>		/* LOCK_SH, LOCK_EX, LOCK_NB, LOCK_UN */
#include <errno.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DLOCK_VERSION "0.1.0"

/* How a lock is held; see dlock(3). */
enum dlock_method {
	DLOCK_AUTO = 0,		/* chosen from the filesystem */
	DLOCK_FCNTL,		/* kernel record lock (OFD where available) */
	DLOCK_FLOCK,		/* flock(2), shared with util-linux flock(1) */
	DLOCK_LOCKFILE,		/* existence of a file holding an owner record */
	DLOCK_MKDIR		/* existence of a directory holding one */
};

/* Flags for struct dlock_options. */
#define DLOCK_INTERRUPTIBLE	0x01	/* a signal ends a wait with EINTR */
#define DLOCK_NOCREATE		0x02	/* fail with ENOENT if the file is missing */
#define DLOCK_INHERIT		0x04	/* the descriptor survives exec() */
#define DLOCK_TOKEN		0x08	/* each grant takes a fencing token;
					   see dlock_token() */
#define DLOCK_FAIR		0x10	/* waiters are served in arrival order */

/* The most slots a counting lock (struct dlock_options.slots) may have. */
#define DLOCK_SLOTS_MAX		1024

/*
 * errno of dlock_open() when the lock is used with another number of
 * slots than the one asked for (recorded in LOCKPATH.slots).
 */
#define DLOCK_ESLOTS		EBADSLT

/*
 * Default lease, in seconds, after which a lock whose holder cannot be asked
 * (another host, a legacy record) is stale unless refreshed.  It must exceed
 * NFS's longest attribute cache (60 s) plus the heartbeat period (a third of
 * the lease) by a wide margin.
 */
#define DLOCK_STALE_DEFAULT	300.0

/*
 * errno of a release or heartbeat that found the lock broken by another,
 * or its lease run out by the holder's own clock (dlock_lost()).
 * (Not ESTALE: network filesystems return that for their own reasons.)
 */
#define DLOCK_ELOST		EIDRM

struct dlock_options {
	int method;		/* enum dlock_method */
	int flags;		/* DLOCK_* flags above */
	off_t start;		/* byte range (fcntl): first byte */
	off_t length;		/* byte range (fcntl): 0 means to the end */
	mode_t mode;		/* creation mode before the umask */
	double stale;		/* lease in seconds; 0 means the default */
	int slots;		/* at most this many holders; 0: one */
};

typedef struct dlock dlock_t;

/* What a lockfile or mkdir lock says about its holder (the owner record). */
#define DLOCK_RECORD_MAX	512	/* bytes, newline included */
#define DLOCK_HOST_MAX		64
#define DLOCK_BOOT_MAX		36
#define DLOCK_NONCE_LEN		32

enum dlock_record_kind {
	DLOCK_RECORD_V1 = 1,	/* "dlock/1 key=value ..." */
	DLOCK_RECORD_PID,	/* legacy: a bare PID line (dotlockfile -p) */
	DLOCK_RECORD_EMPTY	/* legacy: empty or "0" (lockfile(1), lockfile-progs) */
};

struct dlock_owner {
	int kind;			/* enum dlock_record_kind */
	char method[16];		/* "lockfile" or "mkdir" */
	pid_t pid;			/* 0 when unknown */
	pid_t child;			/* pid of the wrapped command, 0 if none */
	uint64_t child_start;		/* its start time, 0 when unknown */
	char host[DLOCK_HOST_MAX + 1];
	char boot[DLOCK_BOOT_MAX + 1];	/* /proc/sys/kernel/random/boot_id */
	uint64_t pidns;			/* inode of /proc/self/ns/pid */
	uint64_t start;			/* process start, clock ticks after boot */
	int64_t time;			/* acquired, seconds since the epoch */
	char nonce[DLOCK_NONCE_LEN + 1];	/* hex */
	uint64_t token;			/* its fencing token, 0 if none */
};

void dlock_options_init(struct dlock_options *opts);

dlock_t *dlock_open(const char *path, const struct dlock_options *opts);
dlock_t *dlock_open_fd(int fd, const struct dlock_options *opts);
int dlock_lock(dlock_t *lk, int operation, double timeout);
int dlock_unlock(dlock_t *lk);
int dlock_close(dlock_t *lk);

int dlock_heartbeat(dlock_t *lk);
int dlock_lost(const dlock_t *lk);
int dlock_set_child(dlock_t *lk, pid_t child);

/* What dlock_status() and dlock_break() find at a lock path. */
enum dlock_state {
	DLOCK_FREE = 0,		/* nobody holds it */
	DLOCK_ALIVE,		/* held; the holder is proven alive */
	DLOCK_DEAD,		/* held by a holder proven gone: stale */
	DLOCK_UNKNOWN		/* held; the holder cannot be asked and its
				   lease has not run out: treated as alive */
};

struct dlock_status {
	int state;		/* enum dlock_state */
	int method;		/* the method whose lock was examined */
	int has_owner;		/* owner is filled in */
	struct dlock_owner owner;
	int same_host;		/* the owner is on this host and PID namespace */
	double age;		/* seconds since taken or refreshed, by the
				   file server's clock; -1 when unknown */
	double stale;		/* the lease the age is judged against */
	char reason[256];	/* one sentence: why that state */
	uint64_t last_token;	/* the highest fencing token granted on
				   the path (LOCKPATH.token), 0 if none */
};

int dlock_status(const char *path, const struct dlock_options *opts,
    struct dlock_status *out);
int dlock_break(const char *path, const struct dlock_options *opts, int force,
    struct dlock_status *out);
/* The holders of a shared lockfile or mkdir lock: how many, up to max in out. */
int dlock_status_readers(const char *path, const struct dlock_options *opts,
    struct dlock_status *out, size_t max);

/* What dlock_probe() sees of the filesystem holding a lock path. */
struct dlock_fsinfo {
	char fstype[32];	/* "nfs4"; "fuse" for FUSE filesystems */
	char subtype[64];	/* "glusterfs" for fuse.glusterfs; "" if none */
	char source[256];	/* "server:/export"; may be cut short */
	char mountpoint[4096];
	char options[512];	/* the mount options the choice reads, comma
				   separated: "nolock,local_lock=all" */
	int method;		/* what auto chooses for the path */
	char reason[256];	/* one sentence: why */
};

int dlock_probe(const char *path, struct dlock_fsinfo *out);

/* Fencing tokens: see dlock_token(3). */
uint64_t dlock_token(const dlock_t *lk);
int dlock_fence(const char *statefile, uint64_t token, uint64_t *highest);

int dlock_fd(const dlock_t *lk);
int dlock_fell_back(const dlock_t *lk);
int dlock_method(const dlock_t *lk);
int dlock_slot(const dlock_t *lk);
const char *dlock_path(const dlock_t *lk);

const char *dlock_method_name(int method);
int dlock_method_from_name(const char *name);

#ifdef __cplusplus
}
#endif

#endif /* DLOCK_H */
