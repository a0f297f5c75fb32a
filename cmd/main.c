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
#include <unistd.h>

#include "cli.h"
#include "numbers.h"

/* The dlock command: parses options, then lets the library do the work. */

#define USAGE \
"usage: dlock [-sxnoF] [-w secs] [-E code] [-m method] [--start offset]\n" \
"             [--length length] [--stale secs] [--heartbeat secs]\n" \
"             [--slots n] [--fair] [--token] [--print-token]\n" \
"             [--on-lost=term|kill|ignore] [--kill-after secs]\n" \
"             [--max-time secs] [--verbose[=flock]]\n" \
"             lockpath [--] command [arg ...]\n" \
"       dlock [options] lockpath -c command\n" \
"       dlock [-sxun] [-w secs] [-E code] [-m method] [--token]\n" \
"             [--print-token] fd\n" \
"       dlock [options] --fd fd [-c command | command [arg ...]]\n" \
"       dlock status [-m method] [--stale secs] [--slots n] [--json] lockpath\n" \
"       dlock break [-f] [-m method] [--stale secs] lockpath\n" \
"       dlock probe [--json] path\n" \
"       dlock fence [--token token] statefile\n" \
"       dlock -h | -V\n"

#define HELP \
"Run a command while holding a lock, or lock an open file descriptor.\n" \
"\n" \
"  -s, --shared             take a shared lock\n" \
"  -x, -e, --exclusive      take an exclusive lock (the default)\n" \
"  -u, --unlock             release the lock on a descriptor\n" \
"  -n, --nb, --nonblocking  fail at once if the lock is busy (also\n" \
"                           --nonblock)\n" \
"  -w, --wait, --timeout SECS\n" \
"                           give up after SECS seconds (fractions allowed)\n" \
"  -E, --conflict-exit-code CODE\n" \
"                           exit status when busy or timed out (default 1)\n" \
"  -o, --close              do not pass the lock descriptor to the command\n" \
"  -c, --command STRING     run STRING with /bin/sh -c\n" \
"  -F, --no-fork            execute the command in place of dlock\n" \
"  -m, --method METHOD      auto (default), " METHODS_BESIDES_AUTO "\n" \
"      --fcntl              the same as -m fcntl\n" \
"      --start OFFSET       first byte of an fcntl byte-range lock\n" \
"      --length LENGTH      bytes in the range (0: to the end of file)\n" \
"      --fd FD              lock the open descriptor FD (and run the\n" \
"                           command, if one follows)\n" \
"      --stale SECS         lease of lockfile and mkdir locks (default 300)\n" \
"      --heartbeat SECS     refresh the lease this often (default stale/3)\n" \
"      --slots N            let up to N holders in at once, each in a slot\n" \
"                           of its own (DLOCK_SLOT); all must give the same N\n" \
"      --fair               serve waiters in the order they came\n" \
"      --token              take a fencing token, greater than every one\n" \
"                           granted on the lock before; the command gets\n" \
"                           it in DLOCK_TOKEN\n" \
"      --print-token        --token, and print the token on stdout once\n" \
"                           the lock is taken\n" \
"      --on-lost=ACTION     when the lock is lost while the command runs:\n" \
"                           term (default), kill or ignore\n" \
"      --kill-after SECS    SIGKILL this long after SIGTERM (default 5)\n" \
"      --max-time SECS      end the command after SECS seconds (exit 124)\n" \
"      --verbose            report waiting, acquisition and release on\n" \
"                           stderr, with the time of day\n" \
"      --verbose=flock      print flock(1)'s --verbose lines instead (also\n" \
"                           --verbose with DLOCK_VERBOSE=flock)\n" \
"  -h, --help               show this help\n" \
"  -V, --version            show the version\n" \
"\n" \
"Subcommands: status shows who holds a lock and whether it is alive;\n" \
"break removes a stale lock (-f: any lock); probe tells which method\n" \
"auto chooses for a path, and why; fence accepts a command's token\n" \
"(DLOCK_TOKEN) unless a state file has seen a newer one.\n" \
"\n" \
"Exit status: the command's, or 128+N if it died of signal N; 1 (or -E)\n" \
"when busy or timed out; 64 usage; 65 bad descriptor, or --slots differs\n" \
"from the lock's; 66 cannot open; 69 method unavailable; 71 system error\n" \
"or lock lost; 73 cannot create; 124 --max-time ran out; 126 cannot\n" \
"execute; 127 not found; 77 a stale lock this user may not remove;\n" \
"3 (fence) a newer token was seen.\n"

#define TRY_HELP "Try 'dlock --help' for more information.\n"

enum {
	OPT_VERBOSE = 256,
	OPT_START,
	OPT_LENGTH,
	OPT_FD,
	OPT_FCNTL,
	OPT_STALE,
	OPT_HEARTBEAT,
	OPT_SLOTS,
	OPT_FAIR,
	OPT_TOKEN,
	OPT_PRINT_TOKEN,
	OPT_ON_LOST,
	OPT_KILL_AFTER,
	OPT_MAX_TIME,
};

static const struct option long_options[] = {
	{ "shared", no_argument, NULL, 's' },
	{ "exclusive", no_argument, NULL, 'x' },
	{ "unlock", no_argument, NULL, 'u' },
	{ "nonblocking", no_argument, NULL, 'n' },
	{ "nonblock", no_argument, NULL, 'n' },
	{ "nb", no_argument, NULL, 'n' },
	{ "wait", required_argument, NULL, 'w' },
	{ "timeout", required_argument, NULL, 'w' },
	{ "conflict-exit-code", required_argument, NULL, 'E' },
	{ "close", no_argument, NULL, 'o' },
	{ "no-fork", no_argument, NULL, 'F' },
	{ "method", required_argument, NULL, 'm' },
	{ "fcntl", no_argument, NULL, OPT_FCNTL },
	{ "start", required_argument, NULL, OPT_START },
	{ "length", required_argument, NULL, OPT_LENGTH },
	{ "fd", required_argument, NULL, OPT_FD },
	{ "stale", required_argument, NULL, OPT_STALE },
	{ "heartbeat", required_argument, NULL, OPT_HEARTBEAT },
	{ "slots", required_argument, NULL, OPT_SLOTS },
	{ "fair", no_argument, NULL, OPT_FAIR },
	{ "token", no_argument, NULL, OPT_TOKEN },
	{ "print-token", no_argument, NULL, OPT_PRINT_TOKEN },
	{ "on-lost", required_argument, NULL, OPT_ON_LOST },
	{ "kill-after", required_argument, NULL, OPT_KILL_AFTER },
	{ "max-time", required_argument, NULL, OPT_MAX_TIME },
	{ "verbose", optional_argument, NULL, OPT_VERBOSE },
	{ "command", required_argument, NULL, 'c' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static char *shell_argv[4] = { "/bin/sh", "-c", NULL, NULL };

__attribute__((noreturn)) static void
usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* As flock(1) does: the one line that says what is wrong, then where to
 * read more; the synopsis would bury the line in a log. */
static void
usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarnx(fmt, ap);
	va_end(ap);
	fputs(TRY_HELP, stderr);
	exit(EXIT_USAGE);
}

/*
 * getopt's own messages are off (opterr = 0): they would start with
 * argv[0] as typed ("./build/dlock: ..."), where every message of dlock
 * starts with "dlock:".  word is the argument getopt was reading: a long
 * option, or a cluster of short ones, of which optopt is the culprit.
 */
__attribute__((noreturn)) static void
bad_option(const char *word, int c)
{
	int is_long = strncmp(word, "--", 2) == 0;
	int n = (int)strcspn(word, "=");

	if (c == ':' && is_long)
		usage_error("option '%.*s' requires an argument", n, word);
	if (c == ':')
		usage_error("option '-%c' requires an argument", optopt);
	if (is_long)
		usage_error("unrecognized option '%.*s'", n, word);
	usage_error("unrecognized option '-%c'", optopt);
}

static int
verbose_style(const char *arg)
{
	const char *env = getenv("DLOCK_VERBOSE");
	const char *style = arg;

	if (style == NULL)
		style = env != NULL && *env != '\0' ? env : "dlock";
	if (strcmp(style, "flock") == 0)
		return VERBOSE_FLOCK;
	if (strcmp(style, "dlock") == 0)
		return VERBOSE_DLOCK;
	usage_error("%s '%s': the styles are dlock and flock",
	    arg != NULL ? "--verbose" : "DLOCK_VERBOSE", style);
}

static int64_t
number_arg(const char *opt, const char *value, int64_t min, int64_t max)
{
	int64_t v;

	if (parse_integer(value, min, max, &v) < 0)
		usage_error("%s '%s': %s", opt, value, errno == ERANGE ?
		    "out of range" : "not a whole number");
	return v;
}

static double
seconds_arg(const char *what, const char *value)
{
	double v;

	if (parse_seconds(value, 1e9, &v) < 0)
		usage_error("%s '%s': %s", what, value, errno == ERANGE ?
		    "out of range (at most 1e9 seconds)" :
		    "not a number of seconds");
	return v;
}

static int
on_lost_arg(const char *value)
{
	if (strcmp(value, "term") == 0)
		return ON_LOST_TERM;
	if (strcmp(value, "kill") == 0)
		return ON_LOST_KILL;
	if (strcmp(value, "ignore") == 0)
		return ON_LOST_IGNORE;
	usage_error("--on-lost '%s': the actions are term, kill and ignore",
	    value);
}

static int
is_number(const char *s)
{
	return *s != '\0' && strspn(s, "0123456789") == strlen(s);
}

/* What follows the options: a descriptor, or a lock path and a command;
 * after --fd, the command alone, if any. */
static void
parse_operands(struct cli *cli, int argc, char **argv)
{
	if (cli->command != NULL && cli->fd < 0)
		usage_error("-c before the lock path needs --fd; write "
		    "dlock LOCKPATH -c COMMAND");
	if (cli->fd >= 0) {
		if (cli->command != NULL) {
			if (argc > 0)
				usage_error("-c takes exactly one command "
				    "string");
			shell_argv[2] = cli->command;
			cli->argv = shell_argv;
		} else if (argc > 0) {
			if (strcmp(argv[0], "--") == 0 && --argc == 0)
				usage_error("missing command after '--'");
			cli->argv = argv + (strcmp(argv[0], "--") == 0);
		}
		return;
	}
	if (argc == 0)
		usage_error("missing lock path or descriptor");
	if (argc == 1) {
		if (!is_number(argv[0]))
			usage_error("missing command to run under lock '%s'",
			    argv[0]);
		cli->fd = (int)number_arg("descriptor", argv[0], 0, 1 << 30);
		return;
	}
	cli->path = argv[0];
	if (strcmp(argv[1], "-c") == 0 || strcmp(argv[1], "--command") == 0) {
		if (argc != 3)
			usage_error("%s takes exactly one command string",
			    argv[1]);
		shell_argv[2] = argv[2];
		cli->argv = shell_argv;
	} else if (strcmp(argv[1], "--") == 0) {
		if (argc == 2)
			usage_error("missing command after '--'");
		cli->argv = argv + 2;
	} else {
		cli->argv = argv + 1;
	}
}

static void
parse_options(struct cli *cli, int argc, char **argv)
{
	int64_t n;
	int c, at;

	opterr = 0;
	while ((at = optind, c = getopt_long(argc, argv,
	    "+:sxeunw:E:oFm:c:hV", long_options, NULL)) != -1) {
		switch (c) {
		case 's':
			cli->operation = LOCK_SH;
			break;
		case 'x':
		case 'e':
			cli->operation = LOCK_EX;
			break;
		case 'u':
			cli->operation = LOCK_UN;
			break;
		case 'n':
			cli->timeout = 0;
			break;
		case 'w':
			cli->timeout = seconds_arg("timeout", optarg);
			break;
		case OPT_STALE:
			cli->lock.stale = seconds_arg("--stale", optarg);
			if (cli->lock.stale <= 0)
				usage_error("--stale '%s': must be more than 0",
				    optarg);
			break;
		case OPT_HEARTBEAT:
			cli->heartbeat = seconds_arg("--heartbeat", optarg);
			if (cli->heartbeat < 0.01)
				usage_error("--heartbeat '%s': must be at least "
				    "0.01", optarg);
			break;
		case OPT_SLOTS:
			cli->lock.slots = (int)number_arg("--slots", optarg, 1,
			    DLOCK_SLOTS_MAX);
			break;
		case OPT_FAIR:
			cli->lock.flags |= DLOCK_FAIR;
			break;
		case OPT_ON_LOST:
			cli->on_lost = on_lost_arg(optarg);
			break;
		case OPT_KILL_AFTER:
			cli->kill_after = seconds_arg("--kill-after", optarg);
			break;
		case OPT_MAX_TIME:
			cli->max_time = seconds_arg("--max-time", optarg);
			if (cli->max_time <= 0)
				usage_error("--max-time '%s': must be more than "
				    "0", optarg);
			break;
		case 'E':
			cli->conflict_status = (int)number_arg("exit code",
			    optarg, 0, 255);
			break;
		case 'o':
			cli->close_fd = 1;
			break;
		case 'F':
			cli->no_fork = 1;
			break;
		case 'm':
			cli->lock.method = dlock_method_from_name(optarg);
			if (cli->lock.method < 0)
				usage_error(UNKNOWN_METHOD, optarg);
			break;
		case OPT_FCNTL:
			cli->lock.method = DLOCK_FCNTL;
			break;
		case OPT_START:
			n = number_arg("--start", optarg, 0, INT64_MAX);
			cli->lock.start = (off_t)n;
			break;
		case OPT_LENGTH:
			n = number_arg("--length", optarg, 0, INT64_MAX);
			cli->lock.length = (off_t)n;
			break;
		case OPT_FD:
			cli->fd = (int)number_arg("--fd", optarg, 0, 1 << 30);
			break;
		case OPT_VERBOSE:
			cli->verbose = verbose_style(optarg);
			break;
		case OPT_PRINT_TOKEN:
			cli->print_token = 1;
			/* FALLTHROUGH */
		case OPT_TOKEN:
			cli->lock.flags |= DLOCK_TOKEN;
			break;
		case 'c':
			cli->command = optarg;
			break;
		case 'h':
			fputs(USAGE, stdout);
			fputs(HELP, stdout);
			exit(0);
		case 'V':
			printf("dlock %s\n", DLOCK_VERSION);
			exit(0);
		default:
			bad_option(at < argc ? argv[at] : "", c);
		}
	}
	parse_operands(cli, argc - optind, argv + optind);

	if (cli->lock.length > 0 && cli->lock.start > INT64_MAX - cli->lock.length)
		usage_error("byte range --start %lld --length %lld overflows",
		    (long long)cli->lock.start, (long long)cli->lock.length);
	if (cli->close_fd && cli->no_fork)
		usage_error("-o and -F cannot be used together: without a "
		    "wrapper, the command is the only holder of the lock");
	if (cli->max_time > 0 && (cli->no_fork || cli->argv == NULL))
		usage_error("--max-time: %s", cli->no_fork ? "-F leaves no "
		    "dlock to end the command" : "there is no command to end");
	if (cli->operation == LOCK_UN && cli->fd < 0)
		usage_error("-u releases a lock on a descriptor; a lock taken "
		    "for a command is released when the command exits");
	if (cli->operation == LOCK_UN && (cli->lock.flags & DLOCK_TOKEN))
		usage_error("-u releases a lock; --token and --print-token "
		    "belong to taking one");
	if (cli->operation == LOCK_UN && cli->argv != NULL)
		usage_error("-u with a command: release the descriptor's lock "
		    "first (dlock -u FD), then run the command");
	if ((cli->lock.slots > 0 || (cli->lock.flags & DLOCK_FAIR)) &&
	    cli->fd >= 0)
		usage_error("--slots and --fair lock a path, not a descriptor");
	if ((cli->lock.slots > 0 || (cli->lock.flags & DLOCK_FAIR)) &&
	    (cli->lock.flags & DLOCK_TOKEN))
		usage_error("--token with --slots or --fair: fencing tokens "
		    "count the grants of a plain lock only");
	if (cli->lock.slots > 0 && cli->operation == LOCK_SH)
		usage_error("-s with --slots: each slot is an exclusive lock");
	if (cli->lock.slots > 0 && (cli->lock.start != 0 ||
	    cli->lock.length != 0))
		usage_error("--slots with a byte range: slots are whole files");
	if ((cli->lock.start != 0 || cli->lock.length != 0) &&
	    cli->lock.method != DLOCK_FCNTL && cli->lock.method != DLOCK_AUTO)
		usage_error("--start and --length: the %s method locks whole "
		    "files; byte ranges need -m fcntl",
		    dlock_method_name(cli->lock.method));
	if (cli->lock.method == DLOCK_LOCKFILE ||
	    cli->lock.method == DLOCK_MKDIR) {
		const char *m = dlock_method_name(cli->lock.method);

		if (cli->fd >= 0)
			usage_error("the %s method locks a path, not a "
			    "descriptor", m);
		if (cli->no_fork)
			usage_error("-F: a %s lock needs dlock to stay and "
			    "release it", m);
	}
}

/* flock(1)'s number for a descriptor it cannot lock (EX_DATAERR). */
static int
descriptor_status(const struct cli *cli, int err, int status)
{
	return cli->path == NULL && err == EBADF ? EXIT_DATAERR : status;
}

static dlock_t *
open_lock(struct cli *cli)
{
	dlock_t *lk;

	if (cli->path != NULL)
		lk = dlock_open(cli->path, &cli->lock);
	else
		lk = dlock_open_fd(cli->fd, &cli->lock);
	if (lk == NULL) {
		int err = errno;

		if (cli->path == NULL && (cli->lock.flags & DLOCK_TOKEN) &&
		    err == ENOENT) {
			warnx("cannot lock descriptor %d: --token needs the path "
			    "of its file, for the token file beside it, and "
			    "/proc/self/fd/%d leads to none (a pipe or socket, "
			    "a file deleted or renamed, or no /proc)", cli->fd,
			    cli->fd);
			exit(EXIT_NOINPUT);
		}
		report_open_error(cli, err);
		exit(descriptor_status(cli, err, exit_status_for_open(err)));
	}
	return lk;
}

static void
take_lock(struct cli *cli, dlock_t *lk)
{
	struct timespec t0;
	int err;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (lock_showing_wait(cli, lk) == 0) {
		double took = seconds_since(&t0);

		if (dlock_fell_back(lk))
			say_verbose(cli, "kernel locks fail on %s; fell back "
			    "to a lockfile", cli->path);
		say_verbose(cli, "%s lock on %s (%s) after %.6f seconds",
		    cli->operation == LOCK_SH ? "shared" : "exclusive",
		    lock_name(cli), dlock_method_name(dlock_method(lk)), took);
		say_like_flock(cli, stdout, "getting lock took %.6f seconds",
		    took);
		return;
	}
	err = errno;
	forget_command();
	if (err == EINTR && caught_signal()) {
		dlock_close(lk);
		die_of_caught_signal();
	}
	if (err == EWOULDBLOCK || err == ETIMEDOUT) {
		say_verbose(cli, "%s is busy: %s after %.6f seconds",
		    lock_name(cli),
		    err == EWOULDBLOCK ? "gave up at once" : "timed out",
		    seconds_since(&t0));
		say_like_flock(cli, stderr, "%s", err == EWOULDBLOCK ?
		    "failed to get lock" : "timeout while waiting to get lock");
		dlock_close(lk);
		exit(cli->conflict_status);
	}
	report_lock_error(cli, err);
	dlock_close(lk);
	exit(descriptor_status(cli, err, exit_status_for_lock(err)));
}

/*
 * The token goes to the command in DLOCK_TOKEN, and with --print-token
 * to stdout, before the command runs; a token that cannot be handed on
 * is no use, so the lock is let go of then.
 */
static void
pass_token(struct cli *cli, dlock_t *lk)
{
	char token[32];

	snprintf(token, sizeof(token), "%" PRIu64, dlock_token(lk));
	if (setenv("DLOCK_TOKEN", token, 1) < 0 || (cli->print_token &&
	    (printf("%s\n", token) < 0 || fflush(stdout) == EOF))) {
		warn("handing on token %s of lock %s", token, lock_name(cli));
		forget_command();
		dlock_unlock(lk);
		dlock_close(lk);
		exit(EXIT_OSERR);
	}
}

int
main(int argc, char **argv)
{
	struct cli cli = {
		.operation = LOCK_EX,
		.timeout = -1,
		.conflict_status = 1,
		.fd = -1,
		.on_lost = ON_LOST_TERM,
		.kill_after = KILL_AFTER_DEFAULT,
	};
	dlock_t *lk;

	if (argc > 1 && is_subcommand(argv[1]))
		return run_subcommand(argc - 1, argv + 1);
	dlock_options_init(&cli.lock);
	parse_options(&cli, argc, argv);
	if (cli.argv != NULL) {
		if (!cli.close_fd)
			cli.lock.flags |= DLOCK_INHERIT;
		/* A signal ends the wait and kills dlock, as it would have
		 * without the lock; but the library first cleans up. */
		cli.lock.flags |= DLOCK_INTERRUPTIBLE;
		catch_signals();
	}

	if (cli.operation != LOCK_UN)
		guard_start(&cli);
	lk = open_lock(&cli);
	if (cli.operation == LOCK_UN) {
		if (dlock_unlock(lk) < 0) {
			int err = errno;

			report_lock_error(&cli, err);
			return descriptor_status(&cli, err,
			    exit_status_for_lock(err));
		}
		dlock_close(lk);
		return 0;
	}
	/* The command must find its token in its environment, which is known
	 * only once the lock is taken: its process is made after that. */
	if (cli.argv != NULL && !(cli.lock.flags & DLOCK_TOKEN)) {
		int rc = prepare_command(&cli, lk);

		if (rc == -1) {
			dlock_close(lk);
			die_of_caught_signal();
		}
		if (rc != 0) {
			warnx("cannot start %s: %s", cli.argv[0], strerror(rc));
			dlock_close(lk);
			return EXIT_OSERR;
		}
	}
	take_lock(&cli, lk);
	guard_stop();
	if (cli.lock.flags & DLOCK_TOKEN)
		pass_token(&cli, lk);
	if (cli.argv == NULL) {
		/* The descriptor form: the lock stays with the descriptor. */
		dlock_close(lk);
		return 0;
	}
	return run_command(&cli, lk);
}
