/* SPDX-License-Identifier: ISC */
#ifndef DLOCK_BENCH_SHM_H
#define DLOCK_BENCH_SHM_H

/*
 * The memory the contention workers share: a file (under /dev/shm by
 * default) mapped MAP_SHARED by the driver, by every worker, by the
 * critical-section helper the command workers run, and by the Python
 * workers (tests/bench/pyworker.py), which use the same layout: 64-bit
 * words, the header first, then one slot per worker, then each worker's
 * latency samples.  Keep the two in step.
 */

#include <stdint.h>

#define SHM_MAGIC	0x646c6f636b62656eULL	/* "dlockben" */
#define SHM_WORKERS	64
#define SHM_CAP		65536	/* latency samples kept per worker */

struct shm_slot {
	uint64_t count;		/* acquisitions (all of them) */
	uint64_t in_time;	/* acquisitions before stop_ns */
	uint64_t nlat;		/* latency samples stored */
	uint64_t errors;	/* failed lock or unlock calls */
	uint64_t ready;		/* set once the worker waits for go */
	uint64_t done;		/* set when the worker's loop ended */
	uint64_t last_err;	/* errno, or exit status of a failed step */
	uint64_t done_ns;
};

struct shm {
	uint64_t magic;
	uint64_t nworkers;
	uint64_t cap;
	uint64_t go;		/* the workers start together */
	uint64_t stop;		/* the workers end their loops */
	uint64_t stop_ns;	/* acquisitions after this are not in_time */
	uint64_t release_ns;	/* when the last holder released */
	uint64_t release_worker; /* who that was, plus one */
	uint64_t holders;	/* inside the critical section: at most 1 */
	uint64_t overlaps;	/* times a holder found another inside */
	uint64_t iters;		/* acquisitions per worker, 0: until stop */
	uint64_t go_ns;
	uint64_t reserved[4];
	struct shm_slot slot[SHM_WORKERS];
	uint64_t lat[];		/* slot i: lat[i * cap] .. */
};

#define SHM_SIZE (sizeof(struct shm) + \
	(uint64_t)SHM_WORKERS * SHM_CAP * sizeof(uint64_t))

#endif /* DLOCK_BENCH_SHM_H */
