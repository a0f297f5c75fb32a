/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dlock.h"
#include "bench.h"

/*
 * micro: an uncontended lock+unlock through libdlock, per method, against
 * the system calls that method needs at the very least:
 *
 *   fcntl     fcntl(F_OFD_SETLK, F_WRLCK) + fcntl(F_OFD_SETLK, F_UNLCK)
 *   flock     flock(LOCK_EX|LOCK_NB) + flock(LOCK_UN)
 *   lockfile  open(O_CREAT|O_EXCL|O_WRONLY) + close + unlink
 *   mkdir     mkdir + rmdir
 *
 * and, for the two methods that hold a lock by a name, against the floor
 * of their protocol (design sections 3 and 6): the lock published whole
 * with a record as long as dlock's (an unnamed file, written, linked into
 * place; for mkdir, inside the new directory), and on release the
 * breaker lock published the same way, the lock removed, the breaker
 * removed.  What dlock does beyond that floor is its own cost; what the
 * floor costs beyond the raw calls is the price of the protocol.
 *
 * Batches of the two alternate (dlock, raw, raw, dlock, ...) so that a
 * noisy moment hits both alike; each side's figure is the median of its
 * per-batch nanoseconds per operation.  One line of tab-separated values
 * per method on standard output.
 */

#define USAGE "usage: micro [-b batches] [-t ms-per-batch] DIR [method ...]\n" \
	"       micro -c count -s dlock|raw DIR method\n"

struct side {
	int (*op)(struct side *);
	dlock_t *lk;
	int fd;
	const char *path;
	/* The protocol floor only. */
	const char *dir, *inner, *breaker;
	char record[DLOCK_RECORD_MAX];
	size_t reclen;
};

static int
dlock_op(struct side *s)
{
	if (dlock_lock(s->lk, LOCK_EX | LOCK_NB, 0) < 0)
		return -1;
	return dlock_unlock(s->lk);
}

static int
raw_ofd_op(struct side *s)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	if (fcntl(s->fd, F_OFD_SETLK, &fl) < 0)
		return -1;
	fl.l_type = F_UNLCK;
	return fcntl(s->fd, F_OFD_SETLK, &fl);
}

static int
raw_flock_op(struct side *s)
{
	if (flock(s->fd, LOCK_EX | LOCK_NB) < 0)
		return -1;
	return flock(s->fd, LOCK_UN);
}

static int
raw_excl_op(struct side *s)
{
	int fd = open(s->path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);

	if (fd < 0)
		return -1;
	close(fd);
	return unlink(s->path);
}

static int
raw_mkdir_op(struct side *s)
{
	if (mkdir(s->path, 0755) < 0)
		return -1;
	return rmdir(s->path);
}

/* Where there are no unnamed files (NFS): a named one, linked in and
 * removed, as dlock does there. */
static int
publish_named(const char *target, const char *data, size_t len)
{
	char tmp[PATH_MAX];
	int fd, rc;

	snprintf(tmp, sizeof(tmp), "%s.tmp", target);
	fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	rc = write(fd, data, len) == (ssize_t)len ? 0 : -1;
	if (close(fd) < 0 || link(tmp, target) < 0)
		rc = -1;
	if (unlink(tmp) < 0)
		rc = -1;
	return rc;
}

/* An unnamed file holding data, linked in as target. */
static int
publish_whole(const char *dir, const char *target, const char *data,
    size_t len)
{
	char proc[64];
	int fd, rc;

	fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR))
		return publish_named(target, data, len);
	if (fd < 0)
		return -1;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	rc = write(fd, data, len) == (ssize_t)len &&
	    linkat(AT_FDCWD, proc, AT_FDCWD, target, AT_SYMLINK_FOLLOW) == 0 ?
	    0 : -1;
	close(fd);
	return rc;
}

static int
floor_lockfile_op(struct side *s)
{
	if (publish_whole(s->dir, s->path, s->record, s->reclen) < 0 ||
	    publish_whole(s->dir, s->breaker, s->record, s->reclen) < 0 ||
	    unlink(s->path) < 0)
		return -1;
	return unlink(s->breaker);
}

static int
floor_mkdir_op(struct side *s)
{
	if (mkdir(s->path, 0755) < 0 ||
	    publish_whole(s->path, s->inner, s->record, s->reclen) < 0 ||
	    publish_whole(s->dir, s->breaker, s->record, s->reclen) < 0 ||
	    unlink(s->inner) < 0 || rmdir(s->path) < 0)
		return -1;
	return unlink(s->breaker);
}

static const char *
raw_description(int method)
{
	switch (method) {
	case DLOCK_FCNTL:
		return "fcntl(F_OFD_SETLK) F_WRLCK+F_UNLCK";
	case DLOCK_FLOCK:
		return "flock(LOCK_EX|LOCK_NB)+flock(LOCK_UN)";
	case DLOCK_LOCKFILE:
		return "open(O_CREAT|O_EXCL)+close+unlink";
	case DLOCK_MKDIR:
		return "mkdir+rmdir";
	}
	return "?";
}

static char *
join(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		err(2, "asprintf");
	return p;
}

/* Sets up the raw side; the dlock side is opened by the caller. */
static void
raw_setup(struct side *s, int method, const char *dir)
{
	char name[64];

	snprintf(name, sizeof(name), "micro-raw-%s", dlock_method_name(method));
	s->path = join(dir, name);
	s->fd = -1;
	switch (method) {
	case DLOCK_FCNTL:
	case DLOCK_FLOCK:
		s->op = method == DLOCK_FCNTL ? raw_ofd_op : raw_flock_op;
		s->fd = open(s->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (s->fd < 0)
			err(2, "%s", s->path);
		break;
	case DLOCK_LOCKFILE:
		s->op = raw_excl_op;
		break;
	default:
		s->op = raw_mkdir_op;
		break;
	}
}

/* Sets up the protocol floor of a method held by a name, with a record
 * of reclen bytes; returns 0 when the method has none. */
static int
floor_setup(struct side *s, int method, const char *dir, size_t reclen)
{
	char name[64];

	if (method != DLOCK_LOCKFILE && method != DLOCK_MKDIR)
		return 0;
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->op = method == DLOCK_LOCKFILE ? floor_lockfile_op : floor_mkdir_op;
	snprintf(name, sizeof(name), "micro-floor-%s",
	    dlock_method_name(method));
	s->dir = dir;
	s->path = join(dir, name);
	s->inner = join(s->path, "owner");
	s->breaker = join(dir, "micro-floor.break");
	s->reclen = reclen > 0 && reclen < sizeof(s->record) ? reclen : 160;
	memset(s->record, 'x', s->reclen - 1);
	s->record[s->reclen - 1] = '\n';
	return 1;
}

/* Runs n operations; returns nanoseconds per operation, or -1. */
static double
run_batch(struct side *s, long n)
{
	uint64_t t0 = now_ns();
	long i;

	for (i = 0; i < n; i++)
		if (s->op(s) < 0)
			return -1;
	return (double)(now_ns() - t0) / (double)n;
}

/* Enough operations for a batch to last about ms milliseconds. */
static long
calibrate(struct side *s, double ms)
{
	long n = 16;
	uint64_t t0, spent;

	for (;;) {
		t0 = now_ns();
		if (run_batch(s, n) < 0)
			return -1;
		spent = now_ns() - t0;
		if (spent > 10000000u || n > (1L << 24))
			break;
		n *= 2;
	}
	n = (long)(ms * 1e6 / ((double)spent / (double)n));
	return n < 20 ? 20 : n;
}

/* What the lock holds while taken: the owner record, for the methods
 * that write one.  Tells the reader of the report that the raw baseline
 * of those methods (which writes nothing) is a lower bound.  Returns the
 * record's length, or 0. */
static size_t
describe_record(const dlock_t *lk, int method, char *out, size_t size)
{
	char buf[DLOCK_RECORD_MAX + 1], *inner = NULL, *nl;
	const char *path = dlock_path(lk);
	struct dirent *de;
	ssize_t len;
	DIR *d;
	int fd;

	snprintf(out, size, "no owner record found");
	if (method == DLOCK_MKDIR) {
		d = opendir(path);
		if (d == NULL)
			return 0;
		while ((de = readdir(d)) != NULL && inner == NULL)
			if (strcmp(de->d_name, ".") != 0 &&
			    strcmp(de->d_name, "..") != 0)
				inner = join(path, de->d_name);
		closedir(d);
		if (inner == NULL)
			return 0;
		path = inner;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(inner);
	if (fd < 0)
		return 0;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0) {
		snprintf(out, size, "owner record empty");
		return 0;
	}
	buf[len] = '\0';
	if ((nl = strchr(buf, '\n')) != NULL)
		*nl = '\0';
	for (char *p = buf; *p != '\0'; p++)
		if (*p == '\t' || *p == '|' || *p == '`')
			*p = ' ';
	snprintf(out, size, "writes an owner record of %zd bytes: %.48s...",
	    len, buf);
	return (size_t)len;
}

static void
print_header(void)
{
	printf("#method\tstatus\tdlock_ns\traw_ns\tratio\tratio_lo\t"
	    "ratio_hi\tper_batch\traw\tnote\tpair_median\tfloor_ns\t"
	    "floor_ratio\n");
}

static void
bench_method(const char *dir, int method, int batches, double ms)
{
	struct dlock_options opts;
	struct side d = { .op = dlock_op }, r, f;
	double *dn, *rn, *fn, *ratio, x, y, z = -1, pair;
	size_t reclen = 0;
	int has_floor;
	char name[64], note[160] = "-";
	const char *mname = dlock_method_name(method);
	long n;
	int b;

	dlock_options_init(&opts);
	opts.method = method;
	snprintf(name, sizeof(name), "micro-%s.lock", mname);
	d.lk = dlock_open(join(dir, name), &opts);
	if (d.lk == NULL) {
		if (errno == EOPNOTSUPP)
			printf("%s\tn/a\t-\t-\t-\t-\t-\t-\t%s\tmethod not "
			    "available in this build\n", mname,
			    raw_description(method));
		else
			printf("%s\terror\t-\t-\t-\t-\t-\t-\t%s\tdlock_open: "
			    "%s\n", mname, raw_description(method),
			    strerror(errno));
		return;
	}
	if (dlock_lock(d.lk, LOCK_EX | LOCK_NB, 0) < 0) {
		printf("%s\terror\t-\t-\t-\t-\t-\t-\t%s\tdlock_lock: %s\n",
		    mname, raw_description(method), strerror(errno));
		dlock_close(d.lk);
		return;
	}
	if (method == DLOCK_LOCKFILE || method == DLOCK_MKDIR)
		reclen = describe_record(d.lk, method, note, sizeof(note));
	dlock_unlock(d.lk);
	raw_setup(&r, method, dir);
	has_floor = floor_setup(&f, method, dir, reclen);

	n = calibrate(&d, ms);
	if (n < 0 || calibrate(&r, ms) < 0 ||
	    (has_floor && calibrate(&f, ms) < 0)) {
		printf("%s\terror\t-\t-\t-\t-\t-\t-\t%s\t%s side failed: %s\n",
		    mname, raw_description(method), n < 0 ? "dlock" : "raw",
		    strerror(errno));
		dlock_close(d.lk);
		return;
	}
	dn = calloc((size_t)batches, sizeof(*dn));
	rn = calloc((size_t)batches, sizeof(*rn));
	fn = calloc((size_t)batches, sizeof(*fn));
	ratio = calloc((size_t)batches, sizeof(*ratio));
	if (dn == NULL || rn == NULL || fn == NULL || ratio == NULL)
		err(2, "calloc");
	for (b = 0; b < batches; b++) {
		if (b % 2 == 0) {
			x = run_batch(&d, n);
			y = run_batch(&r, n);
			z = has_floor ? run_batch(&f, n) : 0;
		} else {
			z = has_floor ? run_batch(&f, n) : 0;
			y = run_batch(&r, n);
			x = run_batch(&d, n);
		}
		if (x < 0 || y < 0 || z < 0) {
			printf("%s\terror\t-\t-\t-\t-\t-\t-\t%s\t%s side "
			    "failed: %s\n", mname, raw_description(method),
			    x < 0 ? "dlock" : y < 0 ? "raw" : "floor",
			    strerror(errno));
			dlock_close(d.lk);
			return;
		}
		dn[b] = x;
		rn[b] = y;
		fn[b] = z;
		ratio[b] = x / y;
	}
	x = median_double(dn, (size_t)batches);
	y = median_double(rn, (size_t)batches);
	z = median_double(fn, (size_t)batches);
	pair = median_double(ratio, (size_t)batches);	/* sorts ratio */
	printf("%s\tok\t%.0f\t%.0f\t%.3f\t%.3f\t%.3f\t%ld\t%s\t%s\t%.3f\t",
	    mname, x, y, x / y, ratio[0], ratio[batches - 1], n,
	    raw_description(method), note, pair);
	if (has_floor)
		printf("%.0f\t%.3f\n", z, x / z);
	else
		printf("-\t-\n");
	dlock_close(d.lk);
	if (r.fd >= 0)
		close(r.fd);
	free(dn);
	free(rn);
	free(fn);
	free(ratio);
}

/* -c/-s: one side alone, a fixed number of times (for strace -c). */
static int
fixed_run(const char *dir, int method, const char *which, long count)
{
	struct dlock_options opts;
	struct side s = { .op = dlock_op };

	if (strcmp(which, "raw") == 0) {
		raw_setup(&s, method, dir);
	} else if (strcmp(which, "dlock") == 0) {
		dlock_options_init(&opts);
		opts.method = method;
		char name[64];

		snprintf(name, sizeof(name), "micro-fixed-%s.lock",
		    dlock_method_name(method));
		s.lk = dlock_open(join(dir, name), &opts);
		if (s.lk == NULL)
			err(errno == EOPNOTSUPP ? 3 : 1, "dlock_open");
	} else {
		errx(2, "-s takes dlock or raw");
	}
	if (run_batch(&s, count) < 0)
		err(1, "%s", which);
	return 0;
}

int
main(int argc, char **argv)
{
	static const char *const all[] = { "fcntl", "flock", "lockfile",
	    "mkdir" };
	const char *which = NULL, *dir;
	int batches = 10, c, i, method;
	double ms = 40;
	long count = 0;

	while ((c = getopt(argc, argv, "b:t:c:s:")) != -1) {
		switch (c) {
		case 'b':
			batches = atoi(optarg);
			break;
		case 't':
			ms = atof(optarg);
			break;
		case 'c':
			count = atol(optarg);
			break;
		case 's':
			which = optarg;
			break;
		default:
			fputs(USAGE, stderr);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || batches < 1 || batches > 1000 || !(ms > 0)) {
		fputs(USAGE, stderr);
		return 2;
	}
	dir = argv[0];
	if (which != NULL) {
		if (argc != 2 || count < 1 ||
		    (method = dlock_method_from_name(argv[1])) <= 0)
			errx(2, "-c and -s need a count and one method");
		return fixed_run(dir, method, which, count);
	}
	print_header();
	for (i = 1; i < argc || (argc == 1 && i <= 4); i++) {
		const char *name = argc == 1 ? all[i - 1] : argv[i];

		method = dlock_method_from_name(name);
		if (method <= 0)
			errx(2, "unknown method '%s'", name);
		bench_method(dir, method, batches, ms);
		fflush(stdout);
	}
	return 0;
}
