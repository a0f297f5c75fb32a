/* SPDX-License-Identifier: ISC */
#ifndef DLOCK_INT_H
#define DLOCK_INT_H

/* Declarations shared inside libdlock; never installed. */

#include <sys/types.h>
#include <time.h>

#include "dlock.h"

struct dlock;

/*
 * One row per lock method.  try_lock makes a single attempt that never
 * blocks and fails with EWOULDBLOCK when the lock is busy.  wait_lock blocks
 * until the lock is ours or the deadline (CLOCK_MONOTONIC, NULL for none)
 * passes; methods without a way to sleep in the kernel leave it NULL and are
 * polled by wait_poll().
 */
struct dlock_ops {
	const char *name;
	int (*prepare)(struct dlock *lk);
	int (*try_lock)(struct dlock *lk, int shared);
	int (*wait_lock)(struct dlock *lk, int shared,
	    const struct timespec *deadline);
	int (*unlock)(struct dlock *lk);
	int (*release)(struct dlock *lk);
};

extern const struct dlock_ops dlock_fcntl_ops;
extern const struct dlock_ops dlock_flock_ops;

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
	int classic;		/* fcntl: the kernel has no OFD locks */
};

/* deadline.c */
void deadline_set(struct timespec *deadline, double timeout);
int deadline_left(const struct timespec *deadline, struct timespec *left);
int sleep_until(const struct timespec *deadline, long max_ns, int interruptible);
long backoff_ns(unsigned int attempt, long cap_ns);
int wait_poll(struct dlock *lk, int shared, const struct timespec *deadline,
    long cap_ns);

/* kwait.c */
int wait_in_child(struct dlock *lk, int shared, const struct timespec *deadline,
    int (*blocking_lock)(struct dlock *, int));

/* fileopen.c */
int open_lock_file(struct dlock *lk, int want_write);
int close_lock_file(struct dlock *lk);

#endif /* DLOCK_INT_H */
