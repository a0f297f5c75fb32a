/* SPDX-License-Identifier: ISC */
#ifndef DLOCK_TEST_CONTRACT_H
#define DLOCK_TEST_CONTRACT_H

/*
 * The contract every lock method meets (contract.c), the further one of
 * the methods that hold a lock by a name (contract_names.c) and of their
 * shared locks (contract_shared.c), and the places all work in
 * (places.c): each case runs in a directory of its own, so that what a
 * lock leaves behind can be counted.
 */

#include <stddef.h>

#include "dlock.h"

/* What a method is expected to do where the methods differ. */
struct method_traits {
	int method;		/* as asked for in dlock_options */
	int resolved;		/* as dlock_method() reports it */
	int shared;		/* has shared locks (else EOPNOTSUPP) */
	int entries_at_rest;	/* entries a released lock leaves: its file */
	int thread_rounds;	/* rounds of each contending thread */
};

struct place {
	char dir[256];		/* the case's own directory */
	char lock[300];		/* the lock path in it */
	char record[320];	/* the file holding the record, if any */
};

/* The traits of method, resolving DLOCK_AUTO for a file in a place. */
struct method_traits traits_of(int method);

int places_init(const char *suite);
void places_remove(void);
void place_for(struct place *p, const char *what, int method);
const char *places_top(void);

dlock_t *open_with(const char *path, int method, int flags, double stale);
int entries_in(const char *dir);
const char *contents(const char *path, char *buf, size_t size);
int write_file(const char *path, const char *text);
/* Zeroed memory that forked children share, or NULL; munmap(2) frees it. */
void *shared_memory(size_t size);

void contract_run(const struct method_traits *t);
void names_contract_run(int method);
void shared_contract_run(int method);

/*
 * The main() of a method's test program: the contract of every method,
 * that of the name locks for lockfile and mkdir, then own_tests (if not
 * NULL); returns the exit status.
 */
int contract_main(int method, void (*own_tests)(void));

#endif /* DLOCK_TEST_CONTRACT_H */
