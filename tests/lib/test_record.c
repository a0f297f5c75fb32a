/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "record.h"

#define INVALID		0

/* The fields of a valid v1 record, each with its leading space. */
#define TAG	"dlock/1"
#define METHOD	" method=lockfile"
#define PID	" pid=4242"
#define HOST	" host=build7"
#define BOOT	" boot=7fdeb7af-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
#define PIDNS	" pidns=4026531836"
#define START	" start=123456"
#define TIME	" time=1763712000"
#define NONCE	" nonce=9f2c4a7e1b3d5f608192a3b4c5d6e7f8"
#define VALID	TAG METHOD PID HOST BOOT PIDNS START TIME NONCE

#define HOST64	"h12345678901234567890123456789012" \
		"3456789012345678901234567890123"
#define BOOT36	"00000000-0000-0000-0000-000000000000"

struct parse_case {
	const char *name;
	const char *input;
	size_t len;
	int kind;		/* INVALID or the enum dlock_record_kind */
	pid_t pid;		/* checked when kind is not INVALID */
	pid_t child;
};

#define OK(name, input, kind, pid, child) \
	{ name, input, sizeof(input) - 1, kind, pid, child }
#define V1_OK(name, input)	OK(name, input, DLOCK_RECORD_V1, 4242, 0)
#define BAD(name, input)	OK(name, input, INVALID, 0, 0)

static const struct parse_case parse_cases[] = {
	V1_OK("v1 with its newline", VALID "\n"),
	V1_OK("v1 without a newline", VALID),
	OK("v1 with a child", VALID " child=4243\n", DLOCK_RECORD_V1, 4242,
	    4243),
	V1_OK("v1 child=0 means none", VALID " child=0\n"),
	OK("v1 child INT_MAX", VALID " child=2147483647\n",
	    DLOCK_RECORD_V1, 4242, INT_MAX),
	V1_OK("v1 method mkdir", TAG " method=mkdir" PID HOST BOOT PIDNS START
	    TIME NONCE "\n"),
	V1_OK("v1 keys in any order", TAG NONCE TIME START PIDNS BOOT HOST PID
	    METHOD "\n"),
	V1_OK("v1 unknown key ignored", VALID " future=yes\n"),
	V1_OK("v1 unknown key first", TAG " zz_9=1" METHOD PID HOST BOOT PIDNS
	    START TIME NONCE),
	V1_OK("v1 unknown key with empty value", VALID " future=\n"),
	V1_OK("v1 unknown key repeated", VALID " x=1 x=2\n"),
	V1_OK("v1 unknown key value holding '='", VALID " x=a=b\n"),
	V1_OK("v1 unknown key value of punctuation", VALID " x=!\"#$%&'()*+\n"),
	BAD("v1 unknown key uppercase", VALID " Future=1\n"),
	BAD("v1 unknown key with '-'", VALID " fu-ture=1\n"),
	BAD("v1 unknown key non-ASCII", VALID " \xc3\xbc=1\n"),
	BAD("v1 empty key", VALID " =1\n"),
	BAD("v1 token without '='", VALID " junk\n"),
	BAD("v1 unknown value non-ASCII", VALID " x=\xc3\xa9\n"),

	OK("pid 1", TAG METHOD " pid=1" HOST BOOT PIDNS START TIME NONCE,
	    DLOCK_RECORD_V1, 1, 0),
	OK("pid INT_MAX", TAG METHOD " pid=2147483647" HOST BOOT PIDNS START
	    TIME NONCE, DLOCK_RECORD_V1, INT_MAX, 0),
	BAD("pid INT_MAX+1", TAG METHOD " pid=2147483648" HOST BOOT PIDNS START
	    TIME NONCE),
	BAD("pid 20 nines", TAG METHOD " pid=99999999999999999999" HOST BOOT
	    PIDNS START TIME NONCE),
	BAD("pid 0", TAG METHOD " pid=0" HOST BOOT PIDNS START TIME NONCE),
	BAD("pid -1", TAG METHOD " pid=-1" HOST BOOT PIDNS START TIME NONCE),
	BAD("pid +1", TAG METHOD " pid=+1" HOST BOOT PIDNS START TIME NONCE),
	BAD("pid leading zero", TAG METHOD " pid=04242" HOST BOOT PIDNS START
	    TIME NONCE),
	BAD("pid 00", TAG METHOD " pid=00" HOST BOOT PIDNS START TIME NONCE),
	BAD("pid empty", TAG METHOD " pid=" HOST BOOT PIDNS START TIME NONCE),
	BAD("pid hex", TAG METHOD " pid=0x10" HOST BOOT PIDNS START TIME NONCE),
	BAD("pid trailing letter", TAG METHOD " pid=42a" HOST BOOT PIDNS START
	    TIME NONCE),
	BAD("pid with a space inside", TAG METHOD " pid=42 42" HOST BOOT PIDNS
	    START TIME NONCE),
	BAD("pid fullwidth digit", TAG METHOD " pid=\xef\xbc\x91" HOST BOOT
	    PIDNS START TIME NONCE),

	OK("v1 with a child and its start", VALID " child=4243 cstart=99\n",
	    DLOCK_RECORD_V1, 4242, 4243),
	BAD("cstart not a number", VALID " child=4243 cstart=x"),
	BAD("cstart twice", VALID " child=4243 cstart=1 cstart=2"),
	BAD("child INT_MAX+1", VALID " child=2147483648"),
	BAD("child -1", VALID " child=-1"),
	BAD("child +1", VALID " child=+1"),
	BAD("child leading zero", VALID " child=01"),
	BAD("child empty", VALID " child="),

	V1_OK("v1 with a token", TAG METHOD PID HOST BOOT PIDNS START TIME
	    " token=17" NONCE "\n"),
	V1_OK("v1 token UINT64_MAX", VALID " token=18446744073709551615"),
	BAD("token UINT64_MAX+1", VALID " token=18446744073709551616"),
	BAD("token twice", VALID " token=1 token=2"),
	BAD("token leading zero", VALID " token=017"),
	BAD("token negative", VALID " token=-1"),
	BAD("token empty", VALID " token="),
	BAD("cut inside the token, before the nonce", TAG METHOD PID HOST BOOT
	    PIDNS START TIME " token=1"),

	OK("pidns 0", TAG METHOD PID HOST BOOT " pidns=0" START TIME NONCE,
	    DLOCK_RECORD_V1, 4242, 0),
	V1_OK("pidns UINT64_MAX", TAG METHOD PID HOST BOOT
	    " pidns=18446744073709551615" START TIME NONCE),
	BAD("pidns UINT64_MAX+1", TAG METHOD PID HOST BOOT
	    " pidns=18446744073709551616" START TIME NONCE),
	BAD("pidns 20 nines", TAG METHOD PID HOST BOOT
	    " pidns=99999999999999999999" START TIME NONCE),
	BAD("pidns -1", TAG METHOD PID HOST BOOT " pidns=-1" START TIME NONCE),
	BAD("pidns leading zero", TAG METHOD PID HOST BOOT " pidns=01" START
	    TIME NONCE),
	BAD("pidns empty", TAG METHOD PID HOST BOOT " pidns=" START TIME NONCE),

	V1_OK("start 0", TAG METHOD PID HOST BOOT PIDNS " start=0" TIME NONCE),
	V1_OK("start UINT64_MAX", TAG METHOD PID HOST BOOT PIDNS
	    " start=18446744073709551615" TIME NONCE),
	BAD("start UINT64_MAX+1", TAG METHOD PID HOST BOOT PIDNS
	    " start=18446744073709551616" TIME NONCE),
	BAD("start +1", TAG METHOD PID HOST BOOT PIDNS " start=+1" TIME NONCE),
	BAD("start empty", TAG METHOD PID HOST BOOT PIDNS " start=" TIME NONCE),

	V1_OK("time 0", TAG METHOD PID HOST BOOT PIDNS START " time=0" NONCE),
	V1_OK("time INT64_MAX", TAG METHOD PID HOST BOOT PIDNS START
	    " time=9223372036854775807" NONCE),
	BAD("time INT64_MAX+1", TAG METHOD PID HOST BOOT PIDNS START
	    " time=9223372036854775808" NONCE),
	BAD("time -1", TAG METHOD PID HOST BOOT PIDNS START " time=-1" NONCE),
	BAD("time fractional", TAG METHOD PID HOST BOOT PIDNS START
	    " time=1.5" NONCE),
	BAD("time empty", TAG METHOD PID HOST BOOT PIDNS START " time=" NONCE),

	BAD("nonce 31 digits", TAG METHOD PID HOST BOOT PIDNS START TIME
	    " nonce=9f2c4a7e1b3d5f608192a3b4c5d6e7f"),
	BAD("nonce 33 digits", TAG METHOD PID HOST BOOT PIDNS START TIME
	    " nonce=9f2c4a7e1b3d5f608192a3b4c5d6e7f80"),
	BAD("nonce uppercase", TAG METHOD PID HOST BOOT PIDNS START TIME
	    " nonce=9F2C4A7E1B3D5F608192A3B4C5D6E7F8"),
	BAD("nonce not hex", TAG METHOD PID HOST BOOT PIDNS START TIME
	    " nonce=9f2c4a7e1b3d5f608192a3b4c5d6e7fg"),
	BAD("nonce empty", TAG METHOD PID HOST BOOT PIDNS START TIME " nonce="),

	BAD("method flock", TAG " method=flock" PID HOST BOOT PIDNS START TIME
	    NONCE),
	BAD("method uppercase", TAG " method=LOCKFILE" PID HOST BOOT PIDNS START
	    TIME NONCE),
	BAD("method with a suffix", TAG " method=lockfilex" PID HOST BOOT PIDNS
	    START TIME NONCE),
	BAD("method a prefix", TAG " method=mkdi" PID HOST BOOT PIDNS START
	    TIME NONCE),
	BAD("method empty", TAG " method=" PID HOST BOOT PIDNS START TIME
	    NONCE),

	V1_OK("host of 64", TAG METHOD PID " host=" HOST64 BOOT PIDNS START TIME
	    NONCE),
	V1_OK("host punctuation", TAG METHOD PID " host=(none).a-b_c:d" BOOT
	    PIDNS START TIME NONCE),
	BAD("host of 65", TAG METHOD PID " host=" HOST64 "x" BOOT PIDNS START
	    TIME NONCE),
	BAD("host empty", TAG METHOD PID " host=" BOOT PIDNS START TIME NONCE),
	BAD("host with a space", TAG METHOD PID " host=build 7" BOOT PIDNS START
	    TIME NONCE),
	BAD("host with '='", TAG METHOD PID " host=a=b" BOOT PIDNS START TIME
	    NONCE),
	BAD("host with a tab", TAG METHOD PID " host=a\tb" BOOT PIDNS START TIME
	    NONCE),
	BAD("host with DEL", TAG METHOD PID " host=a\x7f" BOOT PIDNS START TIME
	    NONCE),
	BAD("host with a control byte", TAG METHOD PID " host=a\x01" BOOT PIDNS
	    START TIME NONCE),
	BAD("host UTF-8", TAG METHOD PID " host=h\xc3\xa9" BOOT PIDNS START TIME
	    NONCE),

	V1_OK("boot of 36", TAG METHOD PID HOST " boot=" BOOT36 PIDNS START TIME
	    NONCE),
	V1_OK("boot empty", TAG METHOD PID HOST " boot=" PIDNS START TIME
	    NONCE),
	BAD("boot of 37", TAG METHOD PID HOST " boot=" BOOT36 "0" PIDNS START
	    TIME NONCE),
	BAD("boot uppercase", TAG METHOD PID HOST
	    " boot=7FDEB7AF-1C2D-4E5F-8A9B-0C1D2E3F4A5B" PIDNS START TIME
	    NONCE),
	BAD("boot braces", TAG METHOD PID HOST " boot={7fdeb7af}" PIDNS START
	    TIME NONCE),

	BAD("missing method", TAG PID HOST BOOT PIDNS START TIME NONCE),
	BAD("missing pid", TAG METHOD HOST BOOT PIDNS START TIME NONCE),
	BAD("missing host", TAG METHOD PID BOOT PIDNS START TIME NONCE),
	BAD("missing boot", TAG METHOD PID HOST PIDNS START TIME NONCE),
	BAD("missing pidns", TAG METHOD PID HOST BOOT START TIME NONCE),
	BAD("missing start", TAG METHOD PID HOST BOOT PIDNS TIME NONCE),
	BAD("missing time", TAG METHOD PID HOST BOOT PIDNS START NONCE),
	BAD("missing nonce", TAG METHOD PID HOST BOOT PIDNS START TIME),
	BAD("no fields at all", TAG "\n"),
	BAD("tag alone without newline", TAG),
	BAD("tag and a space", TAG " "),

	BAD("duplicate method", VALID METHOD),
	BAD("duplicate method of another value", VALID " method=mkdir"),
	BAD("duplicate pid", VALID PID),
	BAD("duplicate host", VALID HOST),
	BAD("duplicate boot", VALID BOOT),
	BAD("duplicate pidns", VALID PIDNS),
	BAD("duplicate start", VALID START),
	BAD("duplicate time", VALID TIME),
	BAD("duplicate nonce", VALID NONCE),
	BAD("duplicate child", VALID " child=1 child=1"),
	BAD("duplicate child=0", VALID " child=0 child=0"),

	BAD("version 2", "dlock/2" METHOD PID HOST BOOT PIDNS START TIME NONCE),
	BAD("version 10", "dlock/10" METHOD PID HOST BOOT PIDNS START TIME
	    NONCE),
	BAD("version 01", "dlock/01" METHOD PID HOST BOOT PIDNS START TIME
	    NONCE),
	BAD("version 1x", "dlock/1x" METHOD PID HOST BOOT PIDNS START TIME
	    NONCE),
	BAD("version missing", "dlock/" METHOD PID HOST BOOT PIDNS START TIME
	    NONCE),
	BAD("tag uppercase", "DLOCK/1" METHOD PID HOST BOOT PIDNS START TIME
	    NONCE),
	BAD("tag without a slash", "dlock1" METHOD PID HOST BOOT PIDNS START
	    TIME NONCE),

	BAD("leading space", " " VALID "\n"),
	BAD("leading newline", "\n" VALID "\n"),
	BAD("trailing space", VALID " \n"),
	BAD("trailing space without newline", VALID " "),
	BAD("two spaces between fields", TAG METHOD " " PID HOST BOOT PIDNS
	    START TIME NONCE),
	BAD("tab between fields", TAG METHOD "\t" PID HOST BOOT PIDNS START
	    TIME NONCE),
	BAD("CRLF ending", VALID "\r\n"),
	BAD("two newlines", VALID "\n\n"),
	BAD("garbage after the newline", VALID "\nx"),
	BAD("a second record after the newline", VALID "\n" VALID "\n"),
	BAD("newline between fields", TAG METHOD PID HOST "\n" BOOT PIDNS START
	    TIME NONCE),
	BAD("NUL after the tag", TAG "\0" METHOD PID HOST BOOT PIDNS START TIME
	    NONCE),
	BAD("NUL inside the host", TAG METHOD PID " host=bu\0ld7" BOOT PIDNS
	    START TIME NONCE),
	BAD("NUL after the newline", VALID "\n\0"),
	BAD("NUL instead of the newline", VALID "\0"),
	BAD("truncated line", TAG METHOD PID HOST BOOT " pidns=40265"),
	BAD("truncated inside a key", VALID " chi"),

	OK("legacy empty", "", DLOCK_RECORD_EMPTY, 0, 0),
	OK("legacy 0", "0", DLOCK_RECORD_EMPTY, 0, 0),
	OK("legacy 0 and newline", "0\n", DLOCK_RECORD_EMPTY, 0, 0),
	OK("legacy 0 and CRLF", "0\r\n", DLOCK_RECORD_EMPTY, 0, 0),
	OK("legacy newline alone", "\n", DLOCK_RECORD_EMPTY, 0, 0),
	OK("legacy CRLF alone", "\r\n", DLOCK_RECORD_EMPTY, 0, 0),
	OK("legacy pid", "4242", DLOCK_RECORD_PID, 4242, 0),
	OK("legacy pid and newline", "4242\n", DLOCK_RECORD_PID, 4242, 0),
	OK("legacy pid and CRLF", "4242\r\n", DLOCK_RECORD_PID, 4242, 0),
	OK("legacy pid 1", "1\n", DLOCK_RECORD_PID, 1, 0),
	OK("legacy pid INT_MAX", "2147483647\n", DLOCK_RECORD_PID, INT_MAX, 0),
	BAD("legacy pid INT_MAX+1", "2147483648\n"),
	BAD("legacy pid 20 nines", "99999999999999999999\n"),
	BAD("legacy pid -1", "-1\n"),
	BAD("legacy pid +42", "+42\n"),
	BAD("legacy pid leading zero", "042\n"),
	BAD("legacy 00", "00\n"),
	BAD("legacy pid leading space", " 42\n"),
	BAD("legacy pid trailing space", "42 \n"),
	BAD("legacy pid padded as HDB UUCP writes it", "      4242\n"),
	BAD("legacy pid and two newlines", "42\n\n"),
	BAD("legacy pid and garbage after the newline", "42\nx"),
	BAD("legacy pid and CR alone", "42\r"),
	BAD("legacy CR alone", "\r"),
	BAD("legacy pid hex", "0x2a\n"),
	BAD("legacy pid and NUL", "42\0"),
	BAD("legacy NUL alone", "\0"),
	BAD("legacy pid with text", "4242 build7\n"),
	BAD("binary garbage", "\xff\xfe\xfd\x00\x80\x01\x02"),
	BAD("terminal escape", "\x1b[31m4242\n"),
	BAD("word", "locked\n"),
};

/* A copy of exactly len bytes, so that the sanitizer sees any overread. */
static int parse_exact(const char *input, size_t len, struct dlock_owner *o)
{
	char *copy = malloc(len > 0 ? len : 1);
	int rc, save_errno;

	if (copy == NULL) {
		perror("malloc");
		exit(255);
	}
	memcpy(copy, input, len);
	rc = record_parse(copy, len, o);
	save_errno = errno;
	free(copy);
	errno = save_errno;
	return rc;
}

static int owner_is_zero(const struct dlock_owner *o)
{
	static const struct dlock_owner zero;

	return memcmp(o, &zero, sizeof(zero)) == 0;
}

static void test_parse_cases(void)
{
	size_t i;

	for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];
		struct dlock_owner o;
		int rc;

		memset(&o, 0x5a, sizeof(o));
		errno = 0;
		rc = parse_exact(c->input, c->len, &o);
		if (c->kind == INVALID) {
			CHECK(rc == -1 && errno == EINVAL && owner_is_zero(&o),
			    "parse %s: want EINVAL and a zeroed owner, got %d "
			    "(%s) kind %d", c->name, rc, strerror(errno),
			    o.kind);
			continue;
		}
		CHECK(rc == 0 && o.kind == c->kind && o.pid == c->pid &&
		    o.child == c->child,
		    "parse %s: want kind %d pid %d child %d, got %d (%s) "
		    "kind %d pid %d child %d", c->name, c->kind, (int)c->pid,
		    (int)c->child, rc, rc == 0 ? "ok" : strerror(errno), o.kind,
		    (int)o.pid, (int)o.child);
	}
}

static void test_parse_fields(void)
{
	static const char line[] = VALID " child=4243\n";
	struct dlock_owner o;

	CHECK(record_parse(line, sizeof(line) - 1, &o) == 0 &&
	    strcmp(o.method, "lockfile") == 0 && o.pid == 4242 &&
	    o.child == 4243 && strcmp(o.host, "build7") == 0 &&
	    strcmp(o.boot, "7fdeb7af-1c2d-4e5f-8a9b-0c1d2e3f4a5b") == 0 &&
	    o.pidns == UINT64_C(4026531836) && o.start == 123456 &&
	    o.time == INT64_C(1763712000) &&
	    strcmp(o.nonce, "9f2c4a7e1b3d5f608192a3b4c5d6e7f8") == 0,
	    "parse every field: some field read wrong");
	CHECK(record_parse(TAG METHOD PID HOST BOOT PIDNS START TIME NONCE
	    " pidns_v2=5 x=" HOST64, sizeof(VALID " pidns_v2=5 x=" HOST64) - 1,
	    &o) == 0 && o.pidns == UINT64_C(4026531836),
	    "parse unknown keys: a key sharing a prefix changed a field");
}

/* VALID padded with an unknown key to total bytes, newline or not. */
static void make_padded(char *buf, size_t total, int newline)
{
	size_t used = sizeof(VALID " pad=") - 1;

	memcpy(buf, VALID " pad=", used);
	memset(buf + used, 'x', total - used);
	if (newline)
		buf[total - 1] = '\n';
}

static void test_parse_sizes(void)
{
	char buf[DLOCK_RECORD_MAX + 2];
	struct dlock_owner o;
	int newline;

	for (newline = 0; newline <= 1; newline++) {
		make_padded(buf, DLOCK_RECORD_MAX, newline);
		CHECK(parse_exact(buf, DLOCK_RECORD_MAX, &o) == 0,
		    "parse 512 bytes (newline %d): refused", newline);
		make_padded(buf, DLOCK_RECORD_MAX + 1, newline);
		CHECK(parse_exact(buf, DLOCK_RECORD_MAX + 1, &o) == -1 &&
		    errno == EINVAL,
		    "parse 513 bytes (newline %d): accepted", newline);
	}
	memset(buf, '7', DLOCK_RECORD_MAX + 1);
	CHECK(parse_exact(buf, DLOCK_RECORD_MAX + 1, &o) == -1 &&
	    errno == EINVAL, "parse legacy of 513 bytes: accepted");
}

/*
 * Without a child= (whose value may lose digits), any prefix of a record
 * other than the whole line, with or without its newline, is invalid, and
 * only the empty one reads as a legacy record.
 */
static void test_parse_truncations(void)
{
	static const char line[] = VALID "\n";
	const size_t len = sizeof(line) - 1;
	struct dlock_owner o;
	size_t cut, first_accepted = 0;

	for (cut = len - 2; cut >= 1; cut--)
		if (parse_exact(line, cut, &o) != -1 || errno != EINVAL)
			first_accepted = cut;
	CHECK(first_accepted == 0, "parse truncated to %zu bytes: accepted",
	    first_accepted);
	CHECK(parse_exact(line, 0, &o) == 0 && o.kind == DLOCK_RECORD_EMPTY,
	    "parse truncated to nothing: not EMPTY");
	CHECK(parse_exact(line, len - 1, &o) == 0 &&
	    parse_exact(line, len, &o) == 0,
	    "parse whole line with or without its newline: refused");
}

static void test_version(void)
{
	static const struct {
		const char *input;
		int version;
	} cases[] = {
		{ VALID "\n", 1 },
		{ "dlock/1", 1 },
		{ "dlock/1 junk", 1 },
		{ "dlock/2 method=lockfile", 2 },
		{ "dlock/2", 2 },
		{ "dlock/2\n", 2 },
		{ "dlock/10 x=1", 10 },
		{ "dlock/2147483647 x", INT_MAX },
		{ "dlock/2147483648 x", 0 },
		{ "dlock/0 x", 0 },
		{ "dlock/01 x", 0 },
		{ "dlock/ x", 0 },
		{ "dlock/", 0 },
		{ "dlock/2x", 0 },
		{ "dlock/-2", 0 },
		{ "DLOCK/2", 0 },
		{ "4242\n", 0 },
		{ "", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int version;

		errno = EDOM;
		version = record_version(cases[i].input,
		    strlen(cases[i].input));
		CHECK(version == cases[i].version && errno == EDOM,
		    "version of \"%s\": want %d, got %d (errno %d)",
		    cases[i].input, cases[i].version, version, errno);
	}
	CHECK(record_version("dlock/2 x", 7) == 2,
	    "version: looked past len");
}

static void example_owner(struct dlock_owner *o)
{
	memset(o, 0, sizeof(*o));
	o->kind = DLOCK_RECORD_V1;
	strcpy(o->method, "lockfile");
	o->pid = 4242;
	strcpy(o->host, "build7");
	strcpy(o->boot, "7fdeb7af-1c2d-4e5f-8a9b-0c1d2e3f4a5b");
	o->pidns = UINT64_C(4026531836);
	o->start = 123456;
	o->time = INT64_C(1763712000);
	strcpy(o->nonce, "9f2c4a7e1b3d5f608192a3b4c5d6e7f8");
}

static int owners_equal(const struct dlock_owner *a,
    const struct dlock_owner *b)
{
	return a->kind == b->kind && strcmp(a->method, b->method) == 0 &&
	    a->pid == b->pid && a->child == b->child &&
	    strcmp(a->host, b->host) == 0 && strcmp(a->boot, b->boot) == 0 &&
	    a->pidns == b->pidns && a->start == b->start &&
	    a->time == b->time && a->token == b->token &&
	    strcmp(a->nonce, b->nonce) == 0;
}

/* The token comes before the nonce, so that a cut inside it is invalid. */
static void test_format_token(void)
{
	static const char want[] = TAG METHOD PID HOST BOOT PIDNS START TIME
	    " token=17" NONCE "\n";
	char buf[DLOCK_RECORD_MAX + 1];
	struct dlock_owner o, back;
	int n;

	example_owner(&o);
	o.token = 17;
	n = record_format(&o, buf, sizeof(buf));
	CHECK(n == (int)sizeof(want) - 1 && strcmp(buf, want) == 0,
	    "format with a token: got %d \"%s\"", n, buf);
	CHECK(record_parse(buf, (size_t)n, &back) == 0 && back.token == 17,
	    "a formatted token reads back");
}

static void test_format(void)
{
	static const char want[] = VALID " child=4243\n";
	char buf[DLOCK_RECORD_MAX + 1];
	struct dlock_owner o;
	int n;

	example_owner(&o);
	n = record_format(&o, buf, sizeof(buf));
	CHECK(n == (int)sizeof(VALID "\n") - 1 && strcmp(buf, VALID "\n") == 0,
	    "format without child: got %d \"%s\"", n, buf);
	o.child = 4243;
	n = record_format(&o, buf, sizeof(buf));
	CHECK(n == (int)sizeof(want) - 1 && strcmp(buf, want) == 0,
	    "format with child: got %d \"%s\"", n, buf);
	CHECK(record_format(&o, buf, sizeof(want)) == n,
	    "format into exactly length + 1 bytes: refused");
	CHECK(record_format(&o, buf, sizeof(want) - 1) == -1 && errno == ERANGE,
	    "format into length bytes: want ERANGE");
	CHECK(record_format(&o, buf, 1) == -1 && errno == ERANGE,
	    "format into 1 byte: want ERANGE");
	CHECK(record_format(&o, NULL, 0) == -1 && errno == ERANGE,
	    "format into nothing: want ERANGE");
}

enum mutation {
	SET_KIND, SET_PID, SET_CHILD, SET_TIME,
	SET_METHOD, SET_HOST, SET_BOOT, SET_NONCE, UNTERMINATE
};

static const struct format_case {
	const char *name;
	enum mutation what;
	long long number;
	const char *text;	/* for UNTERMINATE: which field */
} format_invalid[] = {
	{ "kind legacy pid", SET_KIND, DLOCK_RECORD_PID, NULL },
	{ "kind legacy empty", SET_KIND, DLOCK_RECORD_EMPTY, NULL },
	{ "kind 0", SET_KIND, 0, NULL },
	{ "pid 0", SET_PID, 0, NULL },
	{ "pid -1", SET_PID, -1, NULL },
	{ "child -1", SET_CHILD, -1, NULL },
	{ "time -1", SET_TIME, -1, NULL },
	{ "method flock", SET_METHOD, 0, "flock" },
	{ "method empty", SET_METHOD, 0, "" },
	{ "host empty", SET_HOST, 0, "" },
	{ "host with a space", SET_HOST, 0, "build 7" },
	{ "host with '='", SET_HOST, 0, "a=b" },
	{ "host with a newline", SET_HOST, 0, "build7\n" },
	{ "host with a control byte", SET_HOST, 0, "a\x01" },
	{ "host with DEL", SET_HOST, 0, "a\x7f" },
	{ "host non-ASCII", SET_HOST, 0, "h\xc3\xa9" },
	{ "boot uppercase", SET_BOOT, 0, "7FDEB7AF" },
	{ "boot with a space", SET_BOOT, 0, "7fde b7af" },
	{ "nonce short", SET_NONCE, 0, "9f2c" },
	{ "nonce uppercase", SET_NONCE, 0, "9F2C4A7E1B3D5F608192A3B4C5D6E7F8" },
	{ "method without its NUL", UNTERMINATE, 0, "method" },
	{ "host without its NUL", UNTERMINATE, 0, "host" },
	{ "boot without its NUL", UNTERMINATE, 0, "boot" },
	{ "nonce without its NUL", UNTERMINATE, 0, "nonce" },
};

static void mutate(struct dlock_owner *o, const struct format_case *c)
{
	switch (c->what) {
	case SET_KIND:
		o->kind = (int)c->number;
		break;
	case SET_PID:
		o->pid = (pid_t)c->number;
		break;
	case SET_CHILD:
		o->child = (pid_t)c->number;
		break;
	case SET_TIME:
		o->time = c->number;
		break;
	case SET_METHOD:
		strcpy(o->method, c->text);
		break;
	case SET_HOST:
		strcpy(o->host, c->text);
		break;
	case SET_BOOT:
		strcpy(o->boot, c->text);
		break;
	case SET_NONCE:
		strcpy(o->nonce, c->text);
		break;
	case UNTERMINATE:
		if (strcmp(c->text, "method") == 0)
			memset(o->method, 'm', sizeof(o->method));
		else if (strcmp(c->text, "host") == 0)
			memset(o->host, 'h', sizeof(o->host));
		else if (strcmp(c->text, "boot") == 0)
			memset(o->boot, 'b', sizeof(o->boot));
		else
			memset(o->nonce, 'a', sizeof(o->nonce));
		break;
	}
}

static void test_format_invalid(void)
{
	size_t i;

	for (i = 0; i < sizeof(format_invalid) / sizeof(format_invalid[0]);
	    i++) {
		char buf[DLOCK_RECORD_MAX + 1];
		struct dlock_owner o;
		int n;

		example_owner(&o);
		mutate(&o, &format_invalid[i]);
		memset(buf, 'Z', sizeof(buf));
		errno = 0;
		n = record_format(&o, buf, sizeof(buf));
		CHECK(n == -1 && errno == EINVAL && buf[0] == 'Z',
		    "format %s: want EINVAL and buf untouched, got %d (%s)",
		    format_invalid[i].name, n, strerror(errno));
	}
}

static void round_trip(const char *name, const struct dlock_owner *o)
{
	char buf[DLOCK_RECORD_MAX + 1];
	struct dlock_owner back;
	int n = record_format(o, buf, sizeof(buf));

	CHECK(n > 0 && n <= DLOCK_RECORD_MAX &&
	    parse_exact(buf, (size_t)n, &back) == 0 && owners_equal(o, &back),
	    "round trip %s: \"%s\" did not read back", name, n > 0 ? buf : "");
}

static void test_round_trips(void)
{
	static const char *const canonical[] = {
		VALID "\n",
		VALID " child=4243\n",
		TAG " method=mkdir" PID " host=" HOST64 " boot=" PIDNS START
		    TIME NONCE "\n",
	};
	struct dlock_owner o;
	size_t i;

	example_owner(&o);
	round_trip("example", &o);
	o.child = 4243;
	round_trip("example with child", &o);
	o.boot[0] = '\0';
	round_trip("empty boot", &o);
	strcpy(o.method, "mkdir");
	o.pid = INT_MAX;
	o.child = INT_MAX;
	strcpy(o.host, HOST64);
	strcpy(o.boot, BOOT36);
	o.pidns = UINT64_MAX;
	o.start = UINT64_MAX;
	o.time = INT64_MAX;
	round_trip("every field at its widest", &o);
	o.pidns = 0;
	o.start = 0;
	o.time = 0;
	o.child = 0;
	o.pid = 1;
	round_trip("every number at its smallest", &o);

	for (i = 0; i < sizeof(canonical) / sizeof(canonical[0]); i++) {
		char buf[DLOCK_RECORD_MAX + 1];
		size_t len = strlen(canonical[i]);

		CHECK(record_parse(canonical[i], len, &o) == 0 &&
		    record_format(&o, buf, sizeof(buf)) == (int)len &&
		    strcmp(buf, canonical[i]) == 0,
		    "canonical line %zu: not written back byte for byte", i);
	}
}

static void test_record_self(void)
{
	struct dlock_owner first, second, back;
	char boot[DLOCK_BOOT_MAX + 1], line[DLOCK_RECORD_MAX + 1];
	struct utsname uts;
	uint64_t start = 0, pidns = 0;
	time_t before = time(NULL), after;
	int n;

	CHECK(record_self(&first, "lockfile", 0) == 0,
	    "self: failed: %s", strerror(errno));
	after = time(NULL);
	CHECK(record_self(&second, "mkdir", 77) == 0,
	    "self with child: failed: %s", strerror(errno));
	CHECK(first.kind == DLOCK_RECORD_V1 &&
	    strcmp(first.method, "lockfile") == 0 && first.child == 0,
	    "self: kind %d method \"%s\" child %d", first.kind, first.method,
	    (int)first.child);
	CHECK(first.pid == getpid(), "self: pid %d, not %d", (int)first.pid,
	    (int)getpid());
	CHECK(proc_start_time(getpid(), &start) == 0 && first.start == start,
	    "self: start %" PRIu64 ", /proc says %" PRIu64, first.start, start);
	CHECK(uname(&uts) == 0 && strcmp(first.host, uts.nodename) == 0,
	    "self: host \"%s\"", first.host);
	CHECK(host_boot_id(boot, sizeof(boot)) == 0 &&
	    strcmp(first.boot, boot) == 0 && strlen(boot) == 36,
	    "self: boot \"%s\"", first.boot);
	CHECK(host_pidns(&pidns) == 0 && first.pidns == pidns && pidns != 0,
	    "self: pidns %" PRIu64, first.pidns);
	CHECK(first.time >= before && first.time <= after,
	    "self: time %" PRId64 " outside [%lld, %lld]", first.time,
	    (long long)before, (long long)after);
	CHECK(strcmp(first.nonce, second.nonce) != 0,
	    "self: two calls gave one nonce %s", first.nonce);
	CHECK(strcmp(second.method, "mkdir") == 0 && second.child == 77,
	    "self with child: method \"%s\" child %d", second.method,
	    (int)second.child);
	n = record_format(&first, line, sizeof(line));
	CHECK(n > 0 && record_parse(line, (size_t)n, &back) == 0 &&
	    owners_equal(&first, &back), "self: did not round-trip");

	CHECK(record_self(&first, "flock", 0) == -1 && errno == EINVAL,
	    "self with method flock: want EINVAL");
	CHECK(record_self(&first, NULL, 0) == -1 && errno == EINVAL,
	    "self without a method: want EINVAL");
	CHECK(record_self(&first, "lockfile", -1) == -1 && errno == EINVAL,
	    "self with child -1: want EINVAL");
	CHECK(host_boot_id(boot, 36) == -1 && errno == ERANGE,
	    "boot id into 36 bytes: want ERANGE");
}

static void test_proc_start_time_dead(void)
{
	uint64_t start = 0;
	pid_t pid = fork();

	if (pid == -1) {
		CHECK(0, "start of a dead process: fork: %s", strerror(errno));
		return;
	}
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	CHECK(proc_start_time(pid, &start) == -1 && errno == ESRCH,
	    "start of a dead process: want ESRCH, got %s", strerror(errno));
	CHECK(proc_start_time(0, &start) == -1 && errno == EINVAL,
	    "start of pid 0: want EINVAL");
	CHECK(proc_start_time(-1, &start) == -1 && errno == EINVAL,
	    "start of pid -1: want EINVAL");
}

/*
 * A command name holding ") " and a newline must not shift the fields: the
 * child reads its start time before and after taking such a name.
 */
static void test_proc_start_time_odd_name(void)
{
	uint64_t seen[2] = { 0, 0 }, ours = 0, parent = 0;
	int report[2], hold[2];
	pid_t pid;
	char byte;

	if (pipe(report) == -1 || pipe(hold) == -1) {
		CHECK(0, "start with an odd name: pipe: %s", strerror(errno));
		return;
	}
	pid = fork();
	if (pid == -1) {
		CHECK(0, "start with an odd name: fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		close(report[0]);
		close(hold[1]);
		proc_start_time(getpid(), &seen[0]);
		prctl(PR_SET_NAME, "a) b\n) 9 9 9 9");
		proc_start_time(getpid(), &seen[1]);
		if (write(report[1], seen, sizeof(seen)) != sizeof(seen))
			_exit(1);
		/* Stay alive, and so readable, until the parent closes hold. */
		_exit(read(hold[0], &byte, 1) == 0 ? 0 : 1);
	}
	close(report[1]);
	close(hold[0]);
	CHECK(read(report[0], seen, sizeof(seen)) == sizeof(seen),
	    "start with an odd name: the child said nothing");
	CHECK(proc_start_time(pid, &ours) == 0,
	    "start with an odd name: %s", strerror(errno));
	CHECK(proc_start_time(getpid(), &parent) == 0 && seen[0] != 0 &&
	    seen[0] == seen[1] && seen[1] == ours && ours >= parent,
	    "start with an odd name: %" PRIu64 " then %" PRIu64 ", parent "
	    "reads %" PRIu64 " (its own %" PRIu64 ")", seen[0], seen[1], ours,
	    parent);
	close(hold[1]);
	close(report[0]);
	waitpid(pid, NULL, 0);
}

int main(void)
{
	test_parse_cases();
	test_parse_fields();
	test_parse_sizes();
	test_parse_truncations();
	test_version();
	test_format();
	test_format_token();
	test_format_invalid();
	test_round_trips();
	test_record_self();
	test_proc_start_time_dead();
	test_proc_start_time_odd_name();
	return check_summary("record");
}
