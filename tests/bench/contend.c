/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dlock.h"
#include "bench.h"
#include "shm.h"

/*
 * contend: N processes take one lock over and over; inside, each reads a
 * counter file, increments it and writes it back.  Two phases, each with
 * fresh files:
 *
 *   count  every worker takes the lock M times (cut at -l seconds):
 *          throughput, and whether the counter lost updates;
 *   time   every worker loops for -t seconds: the least and the most
 *          acquisitions of one worker (fairness).
 *
 * In both, "wait after release" is the time from a release to the next
 * acquisition by another process: the releasing worker writes the time
 * into shared memory just before it releases, the next holder reads it
 * just after it acquired.  Only handoffs count; a worker that takes the
 * lock again right after its own release waited for nobody.
 *
 * Worker kinds (-k):
 *   lib    libdlock, one handle per worker, dlock_lock(LOCK_EX, forever)
 *   raw    the bare system calls: -m fcntl (F_OFD_SETLKW), -m flock
 *   cmd    per acquisition, run the -x commands in turn (a lock tool
 *          wrapping "{CS}", or a lock step, "{CS}", an unlock step);
 *          {CS} is this program's critical-section helper, and the wait
 *          is then from the end of one critical section to the start of
 *          the next one, tool start-up and release included
 *   exec   each worker execs -x once: a long-running worker that speaks
 *          the shared-memory protocol itself (tests/bench/pyworker.py)
 *
 * One line of key=value pairs per phase on standard output; exit 3 with
 * "status=unavailable" when libdlock lacks the method (-m).
 */

#define USAGE \
"usage: contend -k lib|raw|cmd|exec [-m method] [-x command]... [-n workers]\n" \
"               [-i iterations] [-l limit] [-t seconds] [-g grace]\n" \
"               [-S shmdir] dir...\n" \
"       contend cs   (the critical section, configured by BENCH_* variables)\n"

enum kind { KIND_LIB, KIND_RAW, KIND_CMD, KIND_EXEC };

struct config {
	enum kind kind;
	int method;
	const char *steps[8];
	int nsteps;
	int nworkers;
	long iters;
	double limit;
	double seconds;
	double grace;
	const char *shmdir;
	char **dirs;
	int ndirs;
	char self[PATH_MAX];
};

static struct shm *shm;
static char shm_path[PATH_MAX];
static pid_t driver_pid;

extern char **environ;

static uint64_t
load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void
store(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static struct shm *
map_shm(const char *path, int create)
{
	struct shm *p;
	int fd;

	fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0),
	    0600);
	if (fd < 0)
		err(2, "%s", path);
	if (create && ftruncate(fd, (off_t)SHM_SIZE) < 0)
		err(2, "%s: ftruncate", path);
	p = mmap(NULL, SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		err(2, "%s: mmap", path);
	close(fd);
	return p;
}

static int
read_counter(const char *path, uint64_t *value)
{
	char buf[32];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	*value = strtoull(buf, NULL, 10);
	return 0;
}

static void
write_counter(const char *path, uint64_t value, int create)
{
	char buf[32];
	int fd, len;

	fd = open(path, O_WRONLY | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0),
	    0644);
	if (fd < 0)
		err(2, "%s", path);
	len = snprintf(buf, sizeof(buf), "%020llu\n", (unsigned long long)value);
	if (pwrite(fd, buf, (size_t)len, 0) != len)
		err(2, "%s: write", path);
	close(fd);
}

/*
 * The critical section, the same for every worker kind: note the wait,
 * check that nobody else is inside, increment the counter file, and
 * stamp the release time just before the caller releases.
 */
static void
critical_section(int id, const char *counter)
{
	struct shm_slot *slot = &shm->slot[id];
	uint64_t t = now_ns(), who, value = 0;

	if (__atomic_fetch_add(&shm->holders, 1, __ATOMIC_ACQ_REL) != 0)
		__atomic_fetch_add(&shm->overlaps, 1, __ATOMIC_RELAXED);
	who = load(&shm->release_worker);
	if (who != 0 && who != (uint64_t)id + 1 && slot->nlat < shm->cap)
		shm->lat[(uint64_t)id * shm->cap + slot->nlat++] =
		    t - load(&shm->release_ns);
	if (read_counter(counter, &value) < 0)
		slot->errors++;
	write_counter(counter, value + 1, 0);
	slot->count++;
	if (shm->stop_ns == 0 || t <= shm->stop_ns)
		slot->in_time++;
	__atomic_fetch_sub(&shm->holders, 1, __ATOMIC_ACQ_REL);
	store(&shm->release_worker, (uint64_t)id + 1);
	store(&shm->release_ns, now_ns());
}

static const char *
env_or_die(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL)
		errx(2, "%s is not set", name);
	return v;
}

/* "contend cs": the critical section as a program, for lock commands. */
static int
cs_main(void)
{
	int id = atoi(env_or_die("BENCH_WORKER"));

	shm = map_shm(env_or_die("BENCH_SHM"), 0);
	if (shm->magic != SHM_MAGIC || id < 0 || id >= (int)shm->nworkers)
		errx(2, "BENCH_SHM or BENCH_WORKER is wrong");
	critical_section(id, env_or_die("BENCH_COUNTER"));
	return 0;
}

static char *
path_in(const char *dir, const char *name, const char *phase)
{
	char *p;

	if (asprintf(&p, "%s/%s-%s", dir, name, phase) < 0)
		err(2, "asprintf");
	return p;
}

/* Splits a step at spaces; {L} is the lock path, {CS} the helper. */
static char **
expand_step(const struct config *cf, const char *step, const char *lock)
{
	char *copy = strdup(step), *word, *save = NULL;
	char **argv = calloc(strlen(step) + 3, sizeof(*argv));
	int n = 0;

	if (copy == NULL || argv == NULL)
		err(2, "malloc");
	for (word = strtok_r(copy, " ", &save); word != NULL;
	    word = strtok_r(NULL, " ", &save)) {
		if (strcmp(word, "{L}") == 0) {
			argv[n++] = (char *)lock;
		} else if (strcmp(word, "{CS}") == 0) {
			argv[n++] = (char *)cf->self;
			argv[n++] = "cs";
		} else {
			argv[n++] = word;
		}
	}
	argv[n] = NULL;
	return argv;
}

static int
run_step(char **argv)
{
	pid_t pid;
	int rc, status;

	rc = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	errno = WIFEXITED(status) ? 1000 + WEXITSTATUS(status) :
	    2000 + WTERMSIG(status);
	return -1;
}

/* What failed, kept with its errno in a slot's last_err. */
enum stage { STAGE_OPEN = 1, STAGE_LOCK, STAGE_UNLOCK, STAGE_STEP };
#define STAGE_SHIFT 100000

struct worker {
	const struct config *cf;
	enum stage stage;
	int id;
	const char *lock;
	const char *counter;
	dlock_t *lk;
	int fd;
	char **argv[8];
};

static int
worker_open(struct worker *w)
{
	struct dlock_options opts;
	int i;

	switch (w->cf->kind) {
	case KIND_LIB:
		dlock_options_init(&opts);
		opts.method = w->cf->method;
		w->lk = dlock_open(w->lock, &opts);
		return w->lk == NULL ? -1 : 0;
	case KIND_RAW:
		w->fd = open(w->lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		return w->fd < 0 ? -1 : 0;
	default:
		for (i = 0; i < w->cf->nsteps; i++)
			w->argv[i] = expand_step(w->cf, w->cf->steps[i], w->lock);
		return 0;
	}
}

static int
raw_lock(struct worker *w, short type)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET };
	int rc;

	if (w->cf->method == DLOCK_FLOCK)
		while ((rc = flock(w->fd, type == F_UNLCK ? LOCK_UN : LOCK_EX)) < 0 &&
		    errno == EINTR)
			;
	else
		while ((rc = fcntl(w->fd, type == F_UNLCK ? F_OFD_SETLK :
		    F_OFD_SETLKW, &fl)) < 0 && errno == EINTR)
			;
	return rc;
}

/* One acquisition: lock, critical section, unlock. */
static int
worker_iteration(struct worker *w)
{
	int i;

	switch (w->cf->kind) {
	case KIND_LIB:
		w->stage = STAGE_LOCK;
		if (dlock_lock(w->lk, LOCK_EX, -1) < 0)
			return -1;
		critical_section(w->id, w->counter);
		w->stage = STAGE_UNLOCK;
		return dlock_unlock(w->lk);
	case KIND_RAW:
		w->stage = STAGE_LOCK;
		if (raw_lock(w, F_WRLCK) < 0)
			return -1;
		critical_section(w->id, w->counter);
		w->stage = STAGE_UNLOCK;
		return raw_lock(w, F_UNLCK);
	default:
		w->stage = STAGE_STEP;
		for (i = 0; i < w->cf->nsteps; i++)
			if (run_step(w->argv[i]) < 0)
				return -1;
		return 0;
	}
}

static void
set_env_num(const char *name, long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ld", v);
	setenv(name, buf, 1);
}

__attribute__((noreturn)) static void
worker_main(const struct config *cf, int id, const char *lock,
    const char *counter)
{
	struct worker w = { .cf = cf, .id = id, .lock = lock,
	    .counter = counter, .fd = -1 };
	struct shm_slot *slot = &shm->slot[id];
	uint64_t n;

	setenv("BENCH_SHM", shm_path, 1);
	set_env_num("BENCH_WORKER", id);
	setenv("BENCH_COUNTER", counter, 1);
	setenv("BENCH_LOCK", lock, 1);
	if (cf->kind == KIND_EXEC) {
		char **argv = expand_step(cf, cf->steps[0], lock);

		execvp(argv[0], argv);
		slot->last_err = (uint64_t)errno + STAGE_OPEN * STAGE_SHIFT;
		slot->errors++;
		store(&slot->done, 1);
		_exit(127);
	}
	if (worker_open(&w) < 0) {
		slot->last_err = (uint64_t)errno + STAGE_OPEN * STAGE_SHIFT;
		slot->errors++;
		store(&slot->done, 1);
		_exit(1);
	}
	store(&slot->ready, 1);
	while (!load(&shm->go) && !load(&shm->stop))
		sleep_ns(100000);
	for (n = 0; !load(&shm->stop) && (shm->iters == 0 || n < shm->iters);
	    n++) {
		if (worker_iteration(&w) < 0) {
			slot->last_err = (uint64_t)errno +
			    (uint64_t)w.stage * STAGE_SHIFT;
			slot->errors++;
			break;
		}
	}
	slot->done_ns = now_ns();
	store(&slot->done, 1);
	_exit(0);
}

/* "unlock:ESTALE", "step:exit-1": what a worker's last failure was. */
static const char *
describe_error(uint64_t code, char *buf, size_t size)
{
	static const char *const stages[] = { "?", "open", "lock", "unlock",
	    "step" };
	unsigned stage = (unsigned)(code / STAGE_SHIFT);
	int err = (int)(code % STAGE_SHIFT);
	const char *name;

	if (stage > STAGE_STEP)
		stage = 0;
	if (err >= 2000 && err < 3000)
		snprintf(buf, size, "%s:signal-%d", stages[stage], err - 2000);
	else if (err >= 1000 && err < 2000)
		snprintf(buf, size, "%s:exit-%d", stages[stage], err - 1000);
	else if ((name = strerrorname_np(err)) != NULL)
		snprintf(buf, size, "%s:%s", stages[stage], name);
	else
		snprintf(buf, size, "%s:errno-%d", stages[stage], err);
	return buf;
}

static double
seconds(uint64_t ns)
{
	return (double)ns / 1e9;
}

/* Waits for the workers to end; kills those still there at the deadline. */
static int
reap_workers(pid_t *pids, int n, uint64_t deadline)
{
	int i, left, killed = 0, status;

	for (;;) {
		left = 0;
		for (i = 0; i < n; i++) {
			if (pids[i] <= 0)
				continue;
			if (waitpid(pids[i], &status, WNOHANG) == pids[i]) {
				kill(-pids[i], SIGKILL);	/* stray children */
				pids[i] = 0;
			} else {
				left++;
			}
		}
		if (left == 0)
			return killed;
		if (now_ns() >= deadline) {
			for (i = 0; i < n; i++) {
				if (pids[i] <= 0)
					continue;
				kill(-pids[i], SIGKILL);
				kill(pids[i], SIGKILL);
				waitpid(pids[i], &status, 0);
				pids[i] = 0;
				killed++;
			}
			return killed;
		}
		sleep_ns(2000000);
	}
}

static int
all_flag(int n, size_t offset)
{
	int i;

	for (i = 0; i < n; i++)
		if (!load((uint64_t *)((char *)&shm->slot[i] + offset)))
			return 0;
	return 1;
}

static void
run_phase(const struct config *cf, const char *phase)
{
	int n = cf->nworkers, i, killed, complete = 0, started;
	pid_t *pids = calloc((size_t)n, sizeof(*pids));
	uint64_t t0, t_end, deadline, total = 0, in_time = 0, errors = 0;
	uint64_t min = UINT64_MAX, max = 0, nlat = 0, counter = 0, last_err = 0;
	uint64_t *lat, p50 = 0, p99 = 0, served = 0;
	char *counter_path = path_in(cf->dirs[0], "counter", phase);
	char errbuf[64];
	int counter_ok;

	if (pids == NULL)
		err(2, "calloc");
	memset(shm, 0, sizeof(*shm));
	shm->magic = SHM_MAGIC;
	shm->nworkers = (uint64_t)n;
	shm->cap = SHM_CAP;
	shm->iters = strcmp(phase, "count") == 0 ? (uint64_t)cf->iters : 0;
	write_counter(counter_path, 0, 1);
	for (i = 0; i < cf->ndirs; i++) {
		char *lock = path_in(cf->dirs[i], "lock", phase);

		/* A lock file left by another row would block a lockfile tool
		 * for good: every row needs a directory of its own. */
		if (access(lock, F_OK) == 0)
			errx(2, "%s exists already: use a fresh directory", lock);
		free(lock);
	}

	fflush(NULL);
	for (i = 0; i < n; i++) {
		const char *dir = cf->dirs[i % cf->ndirs];

		pids[i] = fork();
		if (pids[i] < 0)
			err(2, "fork");
		if (pids[i] == 0) {
			setpgid(0, 0);
			worker_main(cf, i, path_in(dir, "lock", phase),
			    path_in(dir, "counter", phase));
		}
		setpgid(pids[i], pids[i]);
	}

	/* Everyone set up (Python imported, handles open) before the start. */
	deadline = now_ns() + 30000000000u;
	started = 1;
	while (!all_flag(n, offsetof(struct shm_slot, ready))) {
		for (i = 0; i < n; i++)
			if (load(&shm->slot[i].done))
				started = 0;
		if (!started || now_ns() > deadline) {
			started = 0;
			break;
		}
		sleep_ns(1000000);
	}

	t0 = now_ns();
	if (shm->iters > 0)
		shm->stop_ns = t0 + (uint64_t)(cf->limit * 1e9);
	else
		shm->stop_ns = t0 + (uint64_t)(cf->seconds * 1e9);
	shm->go_ns = t0;
	store(&shm->go, started);
	if (!started)
		store(&shm->stop, 1);
	for (;;) {
		if (all_flag(n, offsetof(struct shm_slot, done))) {
			complete = 1;
			break;
		}
		if (now_ns() >= shm->stop_ns)
			break;
		sleep_ns(shm->iters > 0 ? 1000000 : 5000000);
	}
	store(&shm->stop, 1);
	t_end = now_ns();
	if (complete && shm->iters > 0) {
		t_end = t0;
		for (i = 0; i < n; i++)
			if (shm->slot[i].done_ns > t_end)
				t_end = shm->slot[i].done_ns;
	} else if (t_end > shm->stop_ns) {
		t_end = shm->stop_ns;
	}
	if (shm->iters == 0)
		complete = 1;	/* a timed phase ends by design */
	for (i = 0; i < n; i++) {
		if (!load(&shm->slot[i].done) && shm->iters > 0)
			complete = 0;
	}
	killed = reap_workers(pids, n, now_ns() +
	    (uint64_t)(cf->grace * 1e9));

	lat = malloc(sizeof(*lat) * SHM_CAP * (size_t)n);
	if (lat == NULL)
		err(2, "malloc");
	for (i = 0; i < n; i++) {
		struct shm_slot *s = &shm->slot[i];

		total += s->count;
		in_time += s->in_time;
		errors += s->errors;
		if (s->errors != 0)
			last_err = s->last_err;
		if (s->in_time < min)
			min = s->in_time;
		if (s->in_time > max)
			max = s->in_time;
		if (s->in_time > 0)
			served++;
		if (s->nlat > SHM_CAP)
			s->nlat = SHM_CAP;
		memcpy(lat + nlat, shm->lat + (uint64_t)i * SHM_CAP,
		    s->nlat * sizeof(*lat));
		nlat += s->nlat;
	}
	qsort(lat, nlat, sizeof(*lat), compare_u64);
	p50 = percentile_sorted(lat, nlat, 50);
	p99 = percentile_sorted(lat, nlat, 99);
	counter_ok = read_counter(counter_path, &counter) == 0;

	printf("phase=%s workers=%d started=%d acquisitions=%llu in_time=%llu "
	    "seconds=%.4f per_sec=%.1f handoffs=%llu", phase, n, started,
	    (unsigned long long)total, (unsigned long long)in_time,
	    seconds(t_end - t0), t_end > t0 ? (double)in_time /
	    seconds(t_end - t0) : 0, (unsigned long long)nlat);
	if (nlat > 0)
		printf(" wait_p50_us=%.1f wait_p99_us=%.1f", (double)p50 / 1e3,
		    (double)p99 / 1e3);
	else
		printf(" wait_p50_us=- wait_p99_us=-");
	printf(" min=%llu max=%llu served=%llu counter=%s%llu lost=%lld overlaps=%llu "
	    "errors=%llu last_error=%s complete=%d killed=%d\n",
	    (unsigned long long)min, (unsigned long long)max,
	    (unsigned long long)served, counter_ok ? "" : "unreadable:", (unsigned long long)counter,
	    (long long)(total - counter), (unsigned long long)shm->overlaps,
	    (unsigned long long)errors, errors == 0 ? "-" :
	    describe_error(last_err, errbuf, sizeof(errbuf)), complete, killed);
	fflush(stdout);
	free(lat);
	free(pids);
	free(counter_path);
}

/* The driver's shared memory goes with it, also when it ends by err(). */
static void
remove_shm(void)
{
	if (getpid() == driver_pid && shm_path[0] != '\0')
		unlink(shm_path);
}

/* Whether libdlock has the method at all (lockfile and mkdir may not). */
static int
method_available(const struct config *cf)
{
	struct dlock_options opts;
	char *probe = path_in(cf->dirs[0], "probe", dlock_method_name(cf->method));
	dlock_t *lk;

	dlock_options_init(&opts);
	opts.method = cf->method;
	lk = dlock_open(probe, &opts);
	free(probe);
	if (lk != NULL) {
		dlock_close(lk);
		return 1;
	}
	if (errno == EOPNOTSUPP)
		return 0;
	err(2, "dlock_open %s", cf->dirs[0]);
}

int
main(int argc, char **argv)
{
	struct config cf = {
		.kind = KIND_LIB, .method = -1, .nworkers = 2, .iters = 1000,
		.limit = 5, .seconds = 1, .grace = 1, .shmdir = "/dev/shm",
	};
	ssize_t len;
	int c;

	if (argc == 2 && strcmp(argv[1], "cs") == 0)
		return cs_main();

	while ((c = getopt(argc, argv, "k:m:x:n:i:l:t:g:S:")) != -1) {
		switch (c) {
		case 'k':
			if (strcmp(optarg, "lib") == 0)
				cf.kind = KIND_LIB;
			else if (strcmp(optarg, "raw") == 0)
				cf.kind = KIND_RAW;
			else if (strcmp(optarg, "cmd") == 0)
				cf.kind = KIND_CMD;
			else if (strcmp(optarg, "exec") == 0)
				cf.kind = KIND_EXEC;
			else
				errx(2, "unknown kind '%s'", optarg);
			break;
		case 'm':
			cf.method = dlock_method_from_name(optarg);
			if (cf.method <= 0)
				errx(2, "unknown method '%s'", optarg);
			break;
		case 'x':
			if (cf.nsteps == 8)
				errx(2, "too many steps");
			cf.steps[cf.nsteps++] = optarg;
			break;
		case 'n':
			cf.nworkers = atoi(optarg);
			break;
		case 'i':
			cf.iters = atol(optarg);
			break;
		case 'l':
			cf.limit = atof(optarg);
			break;
		case 't':
			cf.seconds = atof(optarg);
			break;
		case 'g':
			cf.grace = atof(optarg);
			break;
		case 'S':
			cf.shmdir = optarg;
			break;
		default:
			fputs(USAGE, stderr);
			return 2;
		}
	}
	cf.dirs = argv + optind;
	cf.ndirs = argc - optind;
	if (cf.ndirs < 1 || cf.nworkers < 1 || cf.nworkers > SHM_WORKERS ||
	    cf.iters < 0 || !(cf.limit > 0) || cf.seconds < 0) {
		fputs(USAGE, stderr);
		return 2;
	}
	if ((cf.kind == KIND_LIB && cf.method < 0) ||
	    (cf.kind == KIND_RAW && cf.method != DLOCK_FCNTL &&
	    cf.method != DLOCK_FLOCK) ||
	    ((cf.kind == KIND_CMD || cf.kind == KIND_EXEC) && cf.nsteps == 0))
		errx(2, "-k lib needs -m, -k raw -m fcntl|flock, -k cmd|exec -x");
	if (cf.method > 0 && cf.kind != KIND_RAW && !method_available(&cf)) {
		printf("status=unavailable method=%s\n",
		    dlock_method_name(cf.method));
		return 3;
	}
	len = readlink("/proc/self/exe", cf.self, sizeof(cf.self) - 1);
	if (len < 0)
		err(2, "/proc/self/exe");
	cf.self[len] = '\0';

	snprintf(shm_path, sizeof(shm_path), "%s/dlock-bench-shm.%d",
	    cf.shmdir, (int)getpid());
	driver_pid = getpid();
	atexit(remove_shm);
	shm = map_shm(shm_path, 1);
	if (cf.iters > 0)
		run_phase(&cf, "count");
	if (cf.seconds > 0)
		run_phase(&cf, "time");
	return 0;
}
