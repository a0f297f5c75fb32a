/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "record.h"

/* The range checks below take a pid as an int. */
_Static_assert(sizeof(pid_t) == sizeof(int), "pid_t must be an int");

#define V1_TAG		RECORD_TAG "1"

enum field_type {
	FIELD_METHOD,
	FIELD_TEXT,
	FIELD_PID,
	FIELD_CHILD,
	FIELD_U64,
	FIELD_TIME
};

/*
 * Character classes are spelled out rather than taken from <ctype.h>, whose
 * answers depend on the locale: a record must read the same everywhere.
 */
static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int is_lower_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f');
}

static int is_visible_ascii(char c)
{
	return c > ' ' && c < 0x7f;
}

static int is_key_char(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || c == '_';
}

static int is_host_char(char c)
{
	return is_visible_ascii(c) && c != '=';
}

static int is_boot_char(char c)
{
	return is_lower_hex(c) || c == '-';
}

struct field {
	const char *key;
	enum field_type type;
	size_t offset;
	int required;
	/* FIELD_TEXT: the value's length bounds and its one character class */
	size_t min_len, max_len;
	int (*is_valid_char)(char c);
};

static const struct field fields[] = {
	{ "method", FIELD_METHOD, offsetof(struct dlock_owner, method), 1,
	    0, 0, NULL },
	{ "pid", FIELD_PID, offsetof(struct dlock_owner, pid), 1, 0, 0, NULL },
	{ "host", FIELD_TEXT, offsetof(struct dlock_owner, host), 1,
	    1, DLOCK_HOST_MAX, is_host_char },
	{ "boot", FIELD_TEXT, offsetof(struct dlock_owner, boot), 1,
	    0, DLOCK_BOOT_MAX, is_boot_char },
	{ "pidns", FIELD_U64, offsetof(struct dlock_owner, pidns), 1,
	    0, 0, NULL },
	{ "start", FIELD_U64, offsetof(struct dlock_owner, start), 1,
	    0, 0, NULL },
	{ "time", FIELD_TIME, offsetof(struct dlock_owner, time), 1,
	    0, 0, NULL },
	{ "nonce", FIELD_TEXT, offsetof(struct dlock_owner, nonce), 1,
	    DLOCK_NONCE_LEN, DLOCK_NONCE_LEN, is_lower_hex },
	{ "child", FIELD_CHILD, offsetof(struct dlock_owner, child), 0,
	    0, 0, NULL },
	{ "cstart", FIELD_U64, offsetof(struct dlock_owner, child_start), 0,
	    0, 0, NULL },
	{ "token", FIELD_U64, offsetof(struct dlock_owner, token), 0,
	    0, 0, NULL },
};

#define FIELD_COUNT	(sizeof(fields) / sizeof(fields[0]))

int parse_canonical_decimal(const char *s, size_t n, uint64_t max,
    uint64_t *value)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || (s[0] == '0' && n > 1))
		return -1;
	for (i = 0; i < n; i++) {
		unsigned digit;

		if (!is_digit(s[i]))
			return -1;
		digit = (unsigned)(s[i] - '0');
		if (v > (max - digit) / 10)
			return -1;
		v = v * 10 + digit;
	}
	*value = v;
	return 0;
}

static int method_is_valid(const char *s, size_t n)
{
	return (n == 8 && memcmp(s, "lockfile", 8) == 0) ||
	    (n == 5 && memcmp(s, "mkdir", 5) == 0);
}

static int text_is_valid(const struct field *f, const char *s, size_t n)
{
	size_t i;

	if (n < f->min_len || n > f->max_len)
		return 0;
	for (i = 0; i < n; i++)
		if (!f->is_valid_char(s[i]))
			return 0;
	return 1;
}

/* Whether record_parse() would read o back from record_format()'s line. */
static int owner_is_writable(const struct dlock_owner *o)
{
	size_t method_len = strnlen(o->method, sizeof(o->method));
	size_t i;

	if (o->kind != DLOCK_RECORD_V1 || o->pid < 1 || o->child < 0 ||
	    o->time < 0 || method_len == sizeof(o->method) ||
	    !method_is_valid(o->method, method_len))
		return 0;
	for (i = 0; i < FIELD_COUNT; i++) {
		const struct field *f = &fields[i];
		const char *text = (const char *)o + f->offset;

		/* Each text array holds max_len bytes and a NUL. */
		if (f->type == FIELD_TEXT &&
		    !text_is_valid(f, text, strnlen(text, f->max_len + 1)))
			return 0;
	}
	return 1;
}

int record_format(const struct dlock_owner *o, char *buf, size_t size)
{
	char child[64] = "", token[32] = "";
	int n;

	if (!owner_is_writable(o)) {
		errno = EINVAL;
		return -1;
	}
	if (o->child > 0 && o->child_start > 0)
		snprintf(child, sizeof(child), " child=%d cstart=%" PRIu64,
		    (int)o->child, o->child_start);
	else if (o->child > 0)
		snprintf(child, sizeof(child), " child=%d", (int)o->child);
	else if (o->child_start > 0)
		snprintf(child, sizeof(child), " cstart=%" PRIu64,
		    o->child_start);
	/* Before the nonce, which is required and of fixed length: a record
	 * cut inside the token's digits then lacks it and is invalid, where
	 * one cut after the nonce would read as a smaller token. */
	if (o->token > 0)
		snprintf(token, sizeof(token), " token=%" PRIu64, o->token);
	n = snprintf(buf, size, V1_TAG " method=%s pid=%d host=%s boot=%s"
	    " pidns=%" PRIu64 " start=%" PRIu64 " time=%" PRId64
	    "%s nonce=%s%s\n", o->method, (int)o->pid, o->host, o->boot,
	    o->pidns, o->start, o->time, token, o->nonce, child);
	if (n < 0)
		return -1;
	if ((size_t)n >= size || n > DLOCK_RECORD_MAX) {
		errno = ERANGE;
		return -1;
	}
	return n;
}

/* Checks one known field's value and stores it; o was zeroed beforehand. */
static int store_field(struct dlock_owner *o, const struct field *f,
    const char *value, size_t n)
{
	char *dst = (char *)o + f->offset;
	uint64_t number;

	switch (f->type) {
	case FIELD_METHOD:
	case FIELD_TEXT:
		if (f->type == FIELD_METHOD ? !method_is_valid(value, n) :
		    !text_is_valid(f, value, n))
			return -1;
		memcpy(dst, value, n);
		dst[n] = '\0';
		return 0;
	case FIELD_PID:
	case FIELD_CHILD:
		if (parse_canonical_decimal(value, n, INT_MAX, &number) == -1 ||
		    (f->type == FIELD_PID && number == 0))
			return -1;
		*(pid_t *)(void *)dst = (pid_t)number;
		return 0;
	case FIELD_U64:
		if (parse_canonical_decimal(value, n, UINT64_MAX,
		    &number) == -1)
			return -1;
		*(uint64_t *)(void *)dst = number;
		return 0;
	case FIELD_TIME:
		if (parse_canonical_decimal(value, n, INT64_MAX, &number) == -1)
			return -1;
		*(int64_t *)(void *)dst = (int64_t)number;
		return 0;
	}
	return -1;
}

static const struct field *find_field(const char *key, size_t n)
{
	size_t i;

	for (i = 0; i < FIELD_COUNT; i++)
		if (strlen(fields[i].key) == n &&
		    memcmp(fields[i].key, key, n) == 0)
			return &fields[i];
	return NULL;
}

/* One key=value token of a v1 record, already known to be visible ASCII. */
static int parse_token(struct dlock_owner *o, const char *token, size_t n,
    unsigned *seen)
{
	const char *equals = memchr(token, '=', n);
	const struct field *f;
	size_t key_len, i;
	unsigned bit;

	if (equals == NULL || equals == token)
		return -1;
	key_len = (size_t)(equals - token);
	for (i = 0; i < key_len; i++)
		if (!is_key_char(token[i]))
			return -1;
	f = find_field(token, key_len);
	if (f == NULL)
		return 0;	/* a newer writer's key */
	bit = 1u << (f - fields);
	if (*seen & bit)
		return -1;
	*seen |= bit;
	return store_field(o, f, equals + 1, n - key_len - 1);
}

static int parse_v1(const char *line, size_t n, struct dlock_owner *o)
{
	const size_t tag_len = sizeof(V1_TAG) - 1;
	unsigned seen = 0, required = 0;
	size_t pos, i;

	if (n < tag_len || memcmp(line, V1_TAG, tag_len) != 0)
		return -1;
	for (pos = tag_len; pos < n; ) {
		size_t start;

		if (line[pos] != ' ')
			return -1;
		start = ++pos;
		while (pos < n && line[pos] != ' ') {
			if (!is_visible_ascii(line[pos]))
				return -1;
			pos++;
		}
		if (pos == start ||
		    parse_token(o, line + start, pos - start, &seen) == -1)
			return -1;
	}
	for (i = 0; i < FIELD_COUNT; i++)
		if (fields[i].required)
			required |= 1u << i;
	if ((seen & required) != required)
		return -1;
	o->kind = DLOCK_RECORD_V1;
	return 0;
}

static int parse_legacy(const char *buf, size_t len, struct dlock_owner *o)
{
	uint64_t pid;

	if (len >= 1 && buf[len - 1] == '\n') {
		len--;
		if (len >= 1 && buf[len - 1] == '\r')
			len--;
	}
	if (len == 0 || (len == 1 && buf[0] == '0')) {
		o->kind = DLOCK_RECORD_EMPTY;
		return 0;
	}
	if (parse_canonical_decimal(buf, len, INT_MAX, &pid) == -1)
		return -1;
	o->kind = DLOCK_RECORD_PID;
	o->pid = (pid_t)pid;
	return 0;
}

int record_parse(const char *buf, size_t len, struct dlock_owner *o)
{
	const size_t prefix_len = RECORD_TAG_LEN;
	int rc;

	memset(o, 0, sizeof(*o));
	if (len > DLOCK_RECORD_MAX)
		rc = -1;
	else if (len >= prefix_len && memcmp(buf, RECORD_TAG, prefix_len) == 0)
		rc = parse_v1(buf, buf[len - 1] == '\n' ? len - 1 : len, o);
	else
		rc = parse_legacy(buf, len, o);
	if (rc == -1) {
		memset(o, 0, sizeof(*o));
		errno = EINVAL;
	}
	return rc;
}

int record_version(const char *buf, size_t len)
{
	const size_t prefix_len = RECORD_TAG_LEN;
	uint64_t version;
	size_t end;

	if (len < prefix_len || memcmp(buf, RECORD_TAG, prefix_len) != 0)
		return 0;
	for (end = prefix_len; end < len; end++)
		if (buf[end] == ' ' || buf[end] == '\n')
			break;
	if (parse_canonical_decimal(buf + prefix_len, end - prefix_len, INT_MAX,
	    &version) == -1 || version == 0)
		return 0;
	return (int)version;
}
