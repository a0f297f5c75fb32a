/* SPDX-License-Identifier: ISC */
#ifndef DLOCK_INTERNAL_H
#define DLOCK_INTERNAL_H

/* Declarations shared inside libdlock; never installed. */

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "dlock.h"
#include "record.h"

struct dlock;

/*
 * The kernel's lock calls, as the kernel-lock methods make them: fcntl(2)
 * for F_SETLK and its kin, and flock(2).  A test gives stand-ins through
 * handle_open(), so that a filesystem without a lock service (ENOLCK) can
 * be had anywhere.
 */
struct kernel_calls {
	int (*setlk)(int fd, int cmd, struct flock *fl);
	int (*flock)(int fd, int operation);
};

/* lock.c: the real ones. */
extern const struct kernel_calls system_lock_calls;

/*
 * One row per lock method.  try_lock makes a single attempt that never
 * blocks and fails with EWOULDBLOCK when the lock is busy.  wait_lock blocks
 * until the lock is ours or the deadline (CLOCK_MONOTONIC, NULL for none)
 * passes; methods without a way to sleep in the kernel leave it NULL and are
 * polled by wait_poll().
 */
struct dlock_ops {
	int (*prepare)(struct dlock *lk);
	int (*try_lock)(struct dlock *lk, int shared);
	int (*wait_lock)(struct dlock *lk, int shared,
	    const struct timespec *deadline);
	int (*unlock)(struct dlock *lk);
	int (*release)(struct dlock *lk);
	/* NULL for kernel locks, which need neither. */
	int (*heartbeat)(struct dlock *lk);
	int (*set_child)(struct dlock *lk, pid_t child);
};

extern const struct dlock_ops fcntl_ops;
extern const struct dlock_ops flock_ops;
/* The operations of every lock held by a name (namelock.c). */
extern const struct dlock_ops name_lock_ops;
/* Those with shared locks made of them, which the name methods use
 * (shared.c). */
extern const struct dlock_ops shared_name_ops;

/*
 * Locks held by a name (lockfile, mkdir) share one engine (namelock.c);
 * this is what differs between them.  publish makes the lock exist with
 * the record in it and answers 0 (ours) or -1 with EEXIST (someone's);
 * unpublish removes the lock at lk->path, record and all.
 */
enum name_kind {
	NAME_IS_RECORD,		/* lockfile: the lock is the record file */
	NAME_HOLDS_RECORD	/* mkdir: a directory with the record inside */
};

/* The record file inside a mkdir lock's directory. */
#define MKDIR_RECORD_NAME	"owner"

struct name_ops {
	enum name_kind kind;
	int (*publish)(struct dlock *lk, const char *record, size_t len);
	int (*unpublish)(struct dlock *lk);
};

extern const struct name_ops lockfile_name_ops;
extern const struct name_ops mkdir_name_ops;

/* The intent beside a lock (intent.c), as a look found it. */
struct intent_look {
	int exists;
	int parsed;		/* a v1 record */
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
	struct dlock_owner owner;
};

/*
 * A look at what is at a lock path right now: the lock object (the file,
 * or the directory of the mkdir method), the record file's identity and
 * time, and its record; and, for a lock with no complete record, the
 * intent beside it.
 */
struct lock_look {
	int exists;		/* something is at the lock path */
	int kind_mismatch;	/* 0, or the errno of what is there instead:
				   EISDIR a directory for lockfile, ENOTDIR
				   a file for mkdir, ELOOP a symlink, EINVAL
				   anything else */
	int has_record_file;
	dev_t dev;		/* of the record file, else of the lock */
	ino_t ino;
	struct timespec mtime;
	struct timespec made;	/* the lock object's ctime */
	int parsed;		/* record_parse() accepted the record */
	int version;		/* record_version(): > 1 is a newer writer */
	int oversized;		/* more than any record holds, and not a
				   newer writer's: someone's file, not a lock */
	struct dlock_owner owner;
	struct intent_look intent;
};

/* What a look at the lock path found, kept for the next step. */
enum path_seen {
	PATH_UNSEEN = 0,	/* not looked at, or the look failed */
	PATH_FOUND,
	PATH_MISSING		/* ENOENT */
};

/* A wait for a lock held by a name, and what lets its polls cost one
 * operation each (namewait.c). */
struct quick_poll {
	int waiting;		/* a wait is going on */
	struct timespec began;	/* CLOCK_MONOTONIC, when it began */
	int active;		/* a poll need not look until ... */
	struct timespec until;	/* ... then (CLOCK_MONOTONIC) */
	int owner_here;		/* ... nor while owner, on this host, lives */
	int tried;		/* a try of this wait was made */
	struct dlock_owner owner;
	char record[DLOCK_RECORD_MAX + 1];	/* our record for this wait */
	int len;		/* its length, 0 before the first try */
	char tmp[PATH_MAX];	/* lockfile: it under a temporary name,
				   "" if none */
	struct timespec tmp_at;	/* CLOCK_MONOTONIC, just before it was
				   written */
	int tmp_fd;		/* O_PATH on it, or the unnamed file the
				   lock was published from; -1 if none */
	int linked;		/* the lock we hold was linked from it:
				   tmp_fd is kept until the release */
	dev_t kept_dev;		/* an unnamed file's device and inode */
	ino_t kept_ino;
};

struct dlock {
	const struct dlock_ops *ops;
	int method;		/* enum dlock_method, never DLOCK_AUTO */
	char *path;		/* NULL for a borrowed descriptor */
	int fd;			/* -1 when the method keeps none */
	int owns_fd;
	int flags;		/* DLOCK_* */
	off_t start;
	off_t length;
	mode_t mode;
	double stale;
	int held;		/* 0, LOCK_SH or LOCK_EX */
	int chosen;		/* the method was chosen by auto */
	int fell_back;		/* ... and fell back to lockfile */
	int by_auto;		/* auto chose the method, at first or later */
	int classic;		/* fcntl: the kernel has no OFD locks */
	const struct kernel_calls *kernel;	/* fcntl, flock: the calls */
	int created;		/* the lock file was created by this handle */
	enum path_seen path_seen; /* auto's look at path, in path_st;
				   open_lock_file() uses it once */
	struct stat path_st;
	int path_fd;		/* ... and the O_PATH descriptor of what
				   it found, or -1 */

	/* Locks held by a name; name_ops is NULL for kernel locks. */
	const struct name_ops *name_ops;
	struct dlock_owner self;	/* our record, nonce renewed per lock */
	char *record_path;	/* the file holding the record */
	char *break_path;	/* the breaker lock, LOCKPATH.break */
	char *intent_path;	/* the intent, LOCKPATH.intent */
	char *aside_path;	/* a mkdir lock on its way out, LOCKPATH.released */
	char *dir;		/* the directory holding the lock */
	struct timespec published_at;	/* CLOCK_MONOTONIC, taken just
					   before our lock was published */
	struct timespec renewed_at;	/* CLOCK_BOOTTIME, taken just before
					   the last publish or refresh that
					   got through */
	int lost;		/* a heartbeat found the lock broken, or
				   its lease run out: see dlock_lost() */
	int publish_how;	/* what publish_file() found works here */
	struct timespec intent_at;	/* CLOCK_MONOTONIC: our intent published */
	int intent_whole_soon;	/* ... and its record was in it at once */
	struct timespec looked_after;	/* the file server's time, taken
					   before the look that a removal
					   goes by (breaker.c) ... */
	int looked_after_set;		/* ... while this is set */
	long poll_cap_ns;	/* longest sleep between polls */
	int watch;		/* inotify on dir, -1 until a first wait */
	struct lock_look judged;	/* the last lock judged alive by lease */
	struct lock_look empty;		/* an empty file first seen ... */
	struct timespec empty_since;	/* ... then (CLOCK_MONOTONIC) */
	struct timespec rejudge_at;	/* ... and when it may next be stale */
	int remote;		/* on a network filesystem: polls are round
				   trips (namewait.c) */
	int over_nfs;		/* ... NFS: a rename onto a name in use is
				   two steps (rewrite_record()) */
	struct quick_poll quick;	/* the wait going on, if any */

	/* Shapes made of ordinary locks (slots.c, queue.c); NULL, 0 and
	 * NULL for any other lock. */
	struct slots *slots;
	int slot;		/* the slot held, 1..N, else 0 */
	struct queue *queue;
	struct dlock *inner;	/* the ordinary lock the shape holds now */

	/* Fencing tokens (DLOCK_TOKEN): token.c. */
	char *token_path;	/* LOCKPATH.token; NULL without DLOCK_TOKEN */
	uint64_t token;		/* of the grant held, 0 if none */
	/* Shared locks of the name methods (shared.c). */
	struct dlock *reader;	/* our registration while we hold LOCK_SH */
	struct timespec gate_beat_at;	/* a writer waiting for readers
					   refreshes the gate then */
	int gate_kept;		/* a writer's first try found readers and
				   kept the gate for the wait that follows */
};

/* wait.c */
void deadline_set(struct timespec *deadline, double timeout);
int deadline_left(const struct timespec *deadline, struct timespec *left);
int sleep_up_to(int fd, const struct timespec *deadline, long max_ns,
    const sigset_t *mask);
long backoff_ns(unsigned int attempt, long cap_ns);
/* base_ns times a random factor in [0.75, 1.25). */
long jittered(long base_ns);
/*
 * How a polling wait tries and sleeps.  try_lock makes one attempt that
 * fails with EWOULDBLOCK while the lock is busy; woken says a release cut
 * the pause before it short.  pause sleeps as sleep_up_to() does, and
 * returns 1 when a release cut it short, else as sleep_up_to().
 */
struct poll_steps {
	int (*try_lock)(struct dlock *lk, int shared, int woken);
	int (*pause)(struct dlock *lk, long delay_ns,
	    const struct timespec *deadline, const sigset_t *mask);
	/* The sleep before poll attempt n; NULL: backoff_ns(). */
	long (*delay)(struct dlock *lk, unsigned int attempt, long cap_ns);
};
int wait_polling(struct dlock *lk, int shared, const struct timespec *deadline,
    long cap_ns, const sigset_t *blocked, const struct poll_steps *steps);
/* wait_polling() with lk->ops->try_lock and sleep_up_to(). */
int wait_poll(struct dlock *lk, int shared, const struct timespec *deadline,
    long cap_ns, const sigset_t *blocked);

/*
 * childwait.c: the wait of a kernel lock, blocking_lock(lk, shared) being
 * its blocking call.  With a deadline, or interruptible, the call runs in
 * a child, or where the child's lock would not be ours (child_can_lock
 * 0: classic fcntl locks) the lock is polled.
 */
int wait_kernel(struct dlock *lk, int shared, const struct timespec *deadline,
    int (*blocking_lock)(struct dlock *, int), int child_can_lock);
/* childwait.c: a pidfd of process pid (pidfd_open(2)); -1 with errno. */
int pidfd_for(pid_t pid);

/* namelock.c: whether the lease ran out by our own clock. */
int name_lease_ran_out(const struct dlock *lk);

/* lock.c: dlock_open() with the kernel's lock calls given. */
struct dlock *handle_open(const char *path, const struct dlock_options *opts,
    const struct kernel_calls *kernel);
/* lock.c: a handle for a shape, with its options checked and path set. */
struct dlock *shape_handle(const char *path, const struct dlock_options *opts,
    const struct dlock_ops *ops);
/* lock.c: frees a handle that holds nothing (errno is kept). */
void handle_free(struct dlock *lk);

/* slots.c: a lock of opts->slots slots, each an ordinary lock. */
struct dlock *slots_open(const char *path, const struct dlock_options *opts);
/* queue.c: a lock whose waiters queue (DLOCK_FAIR), and its dlock_lock(). */
struct dlock *queue_open(const char *path, const struct dlock_options *opts);
int queue_lock(struct dlock *lk, int shared, double timeout);

/* look.c */
int look_at_lock(struct dlock *lk, struct lock_look *look);
/* Fills the record file's part of look from fd, a regular file whose
 * status is st, and closes fd. */
int read_record(int fd, const struct stat *st, struct lock_look *look);
int same_lock(const struct lock_look *a, const struct lock_look *b);
int lock_is_ours(struct dlock *lk, const struct lock_look *look);

/* namelock.c, namewait.c: the engine of the name methods. */
int name_try(struct dlock *lk, int shared);
int name_record(struct dlock *lk, int new_nonce);
int name_wait(struct dlock *lk, int shared, const struct timespec *deadline);
void quick_start(struct dlock *lk, const struct lock_look *look,
    const struct dlock_status *verdict);
int quick_try(struct dlock *lk);
int wait_publish(struct dlock *lk);
void quick_begin(struct dlock *lk);
void quick_end(struct dlock *lk);
int kept_still_ours(struct dlock *lk);
void kept_drop(struct dlock *lk);
void kept_take(struct dlock *lk, int fd);

/* stale.c */
int judge_lock(struct dlock *lk, const struct lock_look *look,
    struct dlock_status *out);
int judge_intent(struct dlock *lk, const struct intent_look *intent,
    int by_age, char *why, size_t size);
int server_now(const char *dir, struct timespec *now);
/* The owner, on this host, runs (or may: anything uncertain is alive). */
int owner_alive(const struct dlock_owner *o);

/* breaker.c */
int break_if_unchanged(struct dlock *lk, const struct lock_look *judged,
    int force);
int clear_intent_if_dead(struct dlock *lk);
void drop_own_intent(struct dlock *lk);
int with_own_lock(struct dlock *lk, int (*fn)(struct dlock *));

/* namelock.c: our record (lk->self) written over the one at the lock;
 * a and b in one string of its own (ENAMETOOLONG past PATH_MAX). */
int rewrite_record(struct dlock *lk);
char *joined(const char *a, const char *b);

/*
 * token.c.  token_take() gives the lock just taken its token (lk->token);
 * counter_read() and counter_replace() read and replace a file holding
 * one decimal number, as the token file and dlock_fence()'s state file
 * do: EBADMSG for one that is not a regular file holding a number,
 * ECANCELED when replacing finds another value than the one expected.
 * fd_path() is the path of an open file, ENOENT if it has none.
 */
char *token_path_for(const char *path);
char *fd_path(int fd);
int counter_read(const char *path, uint64_t *value);
int counter_replace(const char *path, const uint64_t *expect,
    uint64_t value, mode_t mode);
int token_take(struct dlock *lk);

/* kernlocks.c */
int kernel_lock_present(const char *path);
int flock_held(const struct stat *st);

/* publish.c */
enum { PUBLISH_UNNAMED, PUBLISH_NAMED, PUBLISH_IN_PLACE };
int publish_file(const char *dir, const char *target, const char *data,
    size_t len, mode_t mode, int *how, struct stat *st);
/* Whether target holds exactly data: a failed link(2) that made it. */
int linked_after_all(const char *target, const char *data, size_t len);
int publish_early(const char *dir, const char *target, const char *data,
    size_t len, mode_t mode, int *how);
int publish_unnamed_file(const char *dir, const char *target,
    const char *data, size_t len, mode_t mode, int *how, int *keep);
/* Whether a link(2) failed with err because the filesystem has none. */
int link_unsupported(int err);
/* Removes a file we created and could not fill, unless the server lost it. */
void unlink_unfilled(const char *path, int err);

/*
 * intent.c.  intent_publish() answers 1 when our intent stands, 0 when
 * the lock is to be made without one, -1 with errno (EWOULDBLOCK: a live
 * process of this host is making the lock right now).
 */
int intent_publish(struct dlock *lk, const char *record, size_t len);
int intent_link(struct dlock *lk, const char *target, const char *record,
    size_t len);
void intent_drop(struct dlock *lk);
int look_at_intent(struct dlock *lk, struct intent_look *intent);
int look_at_record_file(const char *path, struct intent_look *intent);

/* sweep.c: with the breaker held. */
void sweep_leftovers(struct dlock *lk);

/* method_mkdir.c: empties a mkdir lock's directory that was set aside. */
void empty_aside(const char *aside);
int intent_made_lock(const struct lock_look *look);
/* data, whole, under a new temporary name beside target, given in tmp. */
int prepare_named(const char *target, const char *data, size_t len,
    mode_t mode, char *tmp, size_t size);

/* open.c */
int open_lock_file(struct dlock *lk, int want_write);
/* Drops what auto's look at the path kept for open_lock_file(). */
void forget_look(struct dlock *lk);
int close_lock_file(struct dlock *lk);

/* files.c */
/* Closes fd and fails with err, which close(2) cannot overwrite. */
int fail_closing(int fd, int err);
/* Reads up to size bytes, to the end of the file; -1 with errno. */
ssize_t read_full(int fd, char *buf, size_t size);
/* The same of the file at path, opened read-only with flags besides. */
ssize_t read_file(const char *path, int flags, char *buf, size_t size);
/* Writes all of buf; a short write is retried, so -1 carries the cause. */
int write_all(int fd, const char *buf, size_t len);
/*
 * Ends the replacement of path by the new file tmp, open at fd (-1 if it
 * could not be made) and written with result rc (0 or -1, errno set):
 * closes it and, if all went well, renames it over path, else removes
 * it.  Returns 0, or -1 with the errno of the first failure.
 */
int replace_with(int fd, int rc, const char *tmp, const char *path);
/* dirname(3) without writing into path; ENAMETOOLONG if dir is too small. */
int parent_dir(const char *path, char *dir, size_t size);
/* statx(2)'s flags and masks used here, for libcs that do not declare them. */
#define STATX_EMPTY_PATH	0x1000	/* AT_EMPTY_PATH */
#define STATX_FORCE_SYNC	0x2000	/* AT_STATX_FORCE_SYNC */
#define STATX_DONT_SYNC		0x4000	/* AT_STATX_DONT_SYNC */
#define STATX_TYPE_ONLY		0x0001U	/* STATX_TYPE */
#define STATX_NLINK_ONLY	0x0004U	/* STATX_NLINK */
#define STATX_BASIC		0x07ffU	/* STATX_BASIC_STATS */
/*
 * statx(2) as a struct stat: the fields of mask that it filled (type and
 * mode, links, owner, inode, size, mtime, device), the others 0.  -1 with
 * ENOSYS where the kernel or the build lacks it.
 */
int statx_stat(int dirfd, const char *path, int flags, unsigned int mask,
    struct stat *st);
/*
 * A look at path that opens nothing (O_PATH, a symlink not followed):
 * one lookup, with what the client learnt of the file by it in st, asked
 * of its cache (AT_STATX_DONT_SYNC), not the server again.  Opening a
 * device can have side effects (a tape rewinds, a watchdog starts); an
 * O_PATH descriptor has none.  Returns the descriptor, or -1 with errno.
 */
int look_without_opening(const char *path, struct stat *st);
/*
 * Opens the file that look_without_opening() found, through
 * /proc/self/fd, with no second lookup of its name: on a network
 * filesystem a lookup is a round trip.  -1 with ENOENT without /proc.
 */
int reopen_looked(int looked, int flags);

#endif /* DLOCK_INTERNAL_H */
