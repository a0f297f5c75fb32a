/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "numbers.h"

/*
 * dlock status, dlock break and dlock probe: looking at a lock, or at the
 * filesystem under it, for a person or (with --json) for monitoring.
 * dlock fence has its own file, fence.c.
 */

#define SUB_USAGE \
"usage: dlock status [-m method] [--stale secs] [--slots n] [--json] lockpath\n" \
"       dlock break [-f] [-m method] [--stale secs] lockpath\n" \
"       dlock probe [--json] path\n" \
"       dlock fence [--token token] statefile\n"

enum { OPT_JSON = 256, OPT_STALE, OPT_SLOTS };

static const struct option sub_options[] = {
	{ "method", required_argument, NULL, 'm' },
	{ "stale", required_argument, NULL, OPT_STALE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "slots", required_argument, NULL, OPT_SLOTS },
	{ "force", no_argument, NULL, 'f' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct sub {
	const char *name;
	struct dlock_options lock;
	int json;
	int force;
	const char *path;
};

void
sub_usage(FILE *to)
{
	fputs(SUB_USAGE, to);
}

void
sub_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarnx(fmt, ap);
	va_end(ap);
	sub_usage(stderr);
	exit(EXIT_USAGE);
}

int
is_subcommand(const char *word)
{
	return strcmp(word, "status") == 0 || strcmp(word, "break") == 0 ||
	    strcmp(word, "probe") == 0 || strcmp(word, "fence") == 0;
}

static void
parse_sub(struct sub *sub, int argc, char **argv)
{
	int64_t n;
	int c;

	sub->name = argv[0];
	dlock_options_init(&sub->lock);
	optind = 1;
	while ((c = getopt_long(argc, argv, "m:fh", sub_options, NULL)) != -1) {
		switch (c) {
		case 'm':
			sub->lock.method = dlock_method_from_name(optarg);
			if (sub->lock.method < 0)
				sub_usage_error(UNKNOWN_METHOD, optarg);
			break;
		case OPT_STALE:
			if (parse_seconds(optarg, 1e9, &sub->lock.stale) < 0 ||
			    sub->lock.stale <= 0)
				sub_usage_error("--stale '%s': not a number of "
				    "seconds above 0", optarg);
			break;
		case OPT_JSON:
			sub->json = 1;
			break;
		case OPT_SLOTS:
			if (parse_integer(optarg, 1, DLOCK_SLOTS_MAX, &n) < 0)
				sub_usage_error("--slots '%s': not a whole number "
				    "from 1 to %d", optarg, DLOCK_SLOTS_MAX);
			sub->lock.slots = (int)n;
			break;
		case 'f':
			sub->force = 1;
			break;
		case 'h':
			fputs(SUB_USAGE, stdout);
			exit(0);
		default:
			fputs(SUB_USAGE, stderr);
			exit(EXIT_USAGE);
		}
	}
	if (argc - optind != 1)
		sub_usage_error("%s takes exactly one path", sub->name);
	sub->path = argv[optind];
	if (sub->force && strcmp(sub->name, "break") != 0)
		sub_usage_error("-f belongs to dlock break");
	if (sub->lock.slots > 0 && strcmp(sub->name, "status") != 0)
		sub_usage_error("--slots belongs to dlock status");
	if (sub->json && strcmp(sub->name, "break") == 0)
		sub_usage_error("--json belongs to dlock status and probe");
}

static void
json_string(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static const char *
state_name(int state)
{
	static const char *const names[] = {
		[DLOCK_FREE] = "free",
		[DLOCK_ALIVE] = "alive",
		[DLOCK_DEAD] = "dead",
		[DLOCK_UNKNOWN] = "unknown",
	};

	return names[state];
}

/*
 * When the lock was taken, as the holder wrote it.  Only this host's
 * clock can turn that into an age, and only for a holder on this host:
 * another host's clock may be hours off ours.
 */
static void
print_since(int64_t t, int same_host)
{
	char when[64];
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %z", &tm) == 0)
		return;
	if (same_host)
		printf("  since:   %s (%lld s ago)\n", when,
		    (long long)(time(NULL) - tt));
	else
		printf("  since:   %s (by the holder's clock)\n", when);
}

/* The readers of a shared lockfile or mkdir lock, as dlock status shows
 * them: at most this many, and how many there are. */
#define READERS_SHOWN 64

struct readers {
	int count;
	struct dlock_status shown[READERS_SHOWN];
};

static const struct readers no_readers;

static void
print_reader_text(const struct dlock_status *r)
{
	const struct dlock_owner *o = &r->owner;

	printf("  reader:  pid %d%s%s%s", (int)o->pid,
	    o->host[0] != '\0' ? " on " : "", o->host,
	    r->same_host ? " (this host)" : "");
	if (o->child > 0)
		printf(", command pid %d", (int)o->child);
	if (r->age >= 0)
		printf(", refreshed %.0f s ago", r->age);
	printf(": %s: %s\n", state_name(r->state), r->reason);
}

static void
print_status_text(const char *path, const struct dlock_status *st,
    const struct readers *rd)
{
	const struct dlock_owner *o = &st->owner;
	int i;

	if (st->state == DLOCK_FREE && rd->count > 0) {
		printf("%s: held shared by %d reader%s (%s)\n", path,
		    rd->count, rd->count == 1 ? "" : "s",
		    dlock_method_name(st->method));
		goto readers;
	}
	printf("%s: %s (%s)\n", path, st->state == DLOCK_FREE ? "free" :
	    "held", dlock_method_name(st->method));
	if (st->state == DLOCK_FREE)
		goto token;
	if (st->has_owner && o->pid > 0)
		printf("  owner:   pid %d%s%s%s\n", (int)o->pid,
		    o->host[0] != '\0' ? " on " : "", o->host,
		    st->same_host ? " (this host)" : "");
	if (st->has_owner && o->child > 0)
		printf("  command: pid %d\n", (int)o->child);
	if (st->has_owner && o->token > 0)
		printf("  token:   %" PRIu64 "\n", o->token);
	if (st->has_owner && o->time > 0)
		print_since(o->time, st->same_host);
	/* The lease is judged by the file server's clock, the one clock
	 * every host sees alike. */
	if (st->age >= 0)
		printf("  refreshed: %.0f s ago, by the file server's clock\n",
		    st->age);
	printf("  holder:  %s: %s\n", state_name(st->state), st->reason);
	/* The gate held beside readers: a writer waiting for them to go. */
	if (rd->count > 0)
		printf("  waiting for %d reader%s to let go\n", rd->count,
		    rd->count == 1 ? "" : "s");
readers:
	for (i = 0; i < rd->count && i < READERS_SHOWN; i++)
		print_reader_text(&rd->shown[i]);
	if (rd->count > READERS_SHOWN)
		printf("  ... and %d more readers\n", rd->count - READERS_SHOWN);
token:
	/* Kept beside the lock, whatever its method, while it is free too. */
	if (st->last_token > 0)
		printf("  last token: %" PRIu64 " (in %s.token)\n",
		    st->last_token, path);
}

static void
print_owner_json(const struct dlock_status *st)
{
	const struct dlock_owner *o = &st->owner;

	printf("{\"pid\":%d,\"host\":", (int)o->pid);
	json_string(o->host);
	printf(",\"child\":%d,\"since\":%lld,\"token\":%" PRIu64
	    ",\"same_host\":%s", (int)o->child, (long long)o->time, o->token,
	    st->same_host ? "true" : "false");
}

static void
print_status_json(const char *path, const struct dlock_status *st,
    const struct readers *rd)
{
	int i;

	printf("{\"path\":");
	json_string(path);
	printf(",\"held\":%s,\"state\":\"%s\",\"method\":\"%s\"",
	    st->state == DLOCK_FREE && rd->count == 0 ? "false" : "true",
	    state_name(st->state), dlock_method_name(st->method));
	if (st->has_owner) {
		printf(",\"owner\":");
		print_owner_json(st);
		printf("}");
	}
	printf(",\"last_token\":%" PRIu64, st->last_token);
	if (st->age >= 0)
		printf(",\"age\":%.3f", st->age);
	printf(",\"stale\":%.3f,\"reason\":", st->stale);
	json_string(st->reason);
	if (rd != &no_readers) {
		printf(",\"readers\":%d,\"reader\":[", rd->count);
		for (i = 0; i < rd->count && i < READERS_SHOWN; i++) {
			const struct dlock_status *r = &rd->shown[i];

			printf("%s", i > 0 ? "," : "");
			print_owner_json(r);
			printf(",\"state\":\"%s\"", state_name(r->state));
			if (r->age >= 0)
				printf(",\"age\":%.3f", r->age);
			printf(",\"reason\":");
			json_string(r->reason);
			printf("}");
		}
		printf("]");
	}
	printf("}");
}

static int
path_failure(const struct sub *sub, const char *path, int err)
{
	warnx("%s: cannot examine lock '%s': %s", sub->name, path,
	    lock_error_text(err));
	return exit_status_for_open(err);
}

static int
status_failure(const struct sub *sub, int err)
{
	return path_failure(sub, sub->path, err);
}

static int
cmd_status(struct sub *sub)
{
	struct dlock_options readers_opts = sub->lock;
	struct dlock_status st;
	struct readers *rd;
	int n;

	if (dlock_status(sub->path, &sub->lock, &st) < 0)
		return status_failure(sub, errno);
	rd = calloc(1, sizeof(*rd));
	if (rd == NULL)
		return status_failure(sub, errno);
	/*
	 * Readers register with the method of the lock they share.  With
	 * auto and no lock at the path, their records tell the method: a
	 * shared lockfile or mkdir lock leaves the path itself free.
	 */
	if (st.method == DLOCK_LOCKFILE || st.method == DLOCK_MKDIR ||
	    (sub->lock.method == DLOCK_AUTO && st.state == DLOCK_FREE)) {
		if (st.method == DLOCK_LOCKFILE || st.method == DLOCK_MKDIR)
			readers_opts.method = st.method;
		n = dlock_status_readers(sub->path, &readers_opts, rd->shown,
		    READERS_SHOWN);
		if (n < 0) {
			free(rd);
			return status_failure(sub, errno);
		}
		rd->count = n;
		if (n > 0 && readers_opts.method == DLOCK_AUTO)
			st.method = rd->shown[0].method;
	}
	/* The readers' keys come with a lock that may have readers. */
	if (sub->json) {
		print_status_json(sub->path, &st, st.method == DLOCK_LOCKFILE ||
		    st.method == DLOCK_MKDIR ? rd : &no_readers);
		putchar('\n');
	} else {
		print_status_text(sub->path, &st, rd);
	}
	n = st.state == DLOCK_FREE && rd->count == 0 ? 1 : 0;
	free(rd);
	return n;
}

/*
 * A counting lock's slots are ordinary locks at LOCKPATH.slot1 to
 * LOCKPATH.slotN (dlock(1)): each is shown as the status of one lock.
 */
static int
cmd_slots_status(struct sub *sub)
{
	struct dlock_options one = sub->lock;
	struct dlock_status *st;
	char path[4096 + 32];
	int k, held = 0, n = sub->lock.slots;

	st = calloc((size_t)n, sizeof(*st));
	if (st == NULL)
		err(EXIT_OSERR, "status");
	one.slots = 0;
	for (k = 1; k <= n; k++) {
		snprintf(path, sizeof(path), "%s.slot%d", sub->path, k);
		if (dlock_status(path, &one, &st[k - 1]) < 0) {
			int e = errno;

			free(st);
			return path_failure(sub, path, e);
		}
		held += st[k - 1].state != DLOCK_FREE;
	}
	if (sub->json) {
		printf("{\"path\":");
		json_string(sub->path);
		printf(",\"slots\":%d,\"held\":%d,\"slot\":[", n, held);
	} else {
		printf("%s: %d of %d slots held\n", sub->path, held, n);
	}
	for (k = 1; k <= n; k++) {
		snprintf(path, sizeof(path), "%s.slot%d", sub->path, k);
		if (sub->json) {
			if (k > 1)
				putchar(',');
			print_status_json(path, &st[k - 1], &no_readers);
		} else {
			printf("slot %d: ", k);
			print_status_text(path, &st[k - 1], &no_readers);
		}
	}
	if (sub->json)
		printf("]}\n");
	free(st);
	return held == 0 ? 1 : 0;
}

static int
cmd_break(struct sub *sub)
{
	struct dlock_status st;
	const struct dlock_owner *o = &st.owner;
	char owner[128] = "an unknown owner";

	memset(&st, 0, sizeof(st));
	if (dlock_break(sub->path, &sub->lock, sub->force, &st) == 0) {
		if (st.has_owner && o->pid > 0)
			snprintf(owner, sizeof(owner), "pid %d%s%s",
			    (int)o->pid, o->host[0] != '\0' ? " on " : "",
			    o->host);
		printf("%s: removed the lock of %s (%s: %s)\n", sub->path,
		    owner, state_name(st.state), st.reason);
		return 0;
	}
	switch (errno) {
	case EBUSY:
		warnx("break: lock '%s' is not stale, not removed: %s "
		    "(-f removes it anyway)", sub->path, st.reason);
		return 1;
	case ENOENT:
		warnx("break: no lock at '%s'", sub->path);
		return EXIT_NOINPUT;
	case ECANCELED:
		warnx("break: lock '%s' changed while being examined; not "
		    "removed", sub->path);
		return 1;
	case EWOULDBLOCK:
		warnx("break: another process is breaking or releasing lock "
		    "'%s'; not removed", sub->path);
		return 1;
	case EOPNOTSUPP:
		warnx("break: lock '%s' is a kernel lock (%s), released only "
		    "by its holder", sub->path, dlock_method_name(st.method));
		return EXIT_UNAVAILABLE;
	case EPERM:
	case EACCES:
		report_no_permission("break: cannot remove lock", sub->path,
		    &sub->lock);
		return EXIT_NOPERM;
	default:
		return status_failure(sub, errno);
	}
}

static int
cmd_probe(struct sub *sub)
{
	struct dlock_fsinfo fs;

	if (dlock_probe(sub->path, &fs) < 0)
		return status_failure(sub, errno);
	if (sub->json) {
		printf("{\"path\":");
		json_string(sub->path);
		printf(",\"fstype\":");
		json_string(fs.fstype);
		printf(",\"subtype\":");
		json_string(fs.subtype);
		printf(",\"source\":");
		json_string(fs.source);
		printf(",\"mountpoint\":");
		json_string(fs.mountpoint);
		printf(",\"options\":");
		json_string(fs.options);
		printf(",\"method\":\"%s\",\"reason\":",
		    dlock_method_name(fs.method));
		json_string(fs.reason);
		printf("}\n");
		return 0;
	}
	printf("path:        %s\n", sub->path);
	printf("filesystem:  %s%s%s\n", fs.fstype, fs.subtype[0] ? "." : "",
	    fs.subtype);
	printf("mounted on:  %s (from %s)\n", fs.mountpoint, fs.source);
	printf("options:     %s\n", fs.options[0] ? fs.options :
	    "(none that matter)");
	printf("method:      %s\n", dlock_method_name(fs.method));
	printf("because:     %s\n", fs.reason);
	return 0;
}

int
run_subcommand(int argc, char **argv)
{
	struct sub sub;

	if (strcmp(argv[0], "fence") == 0)
		return run_fence(argc, argv);
	memset(&sub, 0, sizeof(sub));
	parse_sub(&sub, argc, argv);
	if (strcmp(sub.name, "status") == 0 && sub.lock.slots > 0)
		return cmd_slots_status(&sub);
	if (strcmp(sub.name, "status") == 0)
		return cmd_status(&sub);
	if (strcmp(sub.name, "break") == 0)
		return cmd_break(&sub);
	return cmd_probe(&sub);
}
