/* SPDX-License-Identifier: ISC */
#ifndef DLOCK_RECORD_H
#define DLOCK_RECORD_H

/*
 * Owner records and the host identity they carry.
 * Internal to libdlock; never installed.
 *
 * A v1 record is one line, at most DLOCK_RECORD_MAX bytes with its newline:
 *
 *   dlock/1 method=lockfile pid=4242 host=build7 boot=<boot id>
 *       pidns=4026531836 start=123456 time=1763712000 token=17
 *       nonce=<32 hex> child=4243
 *
 * (one line; token= and child= only when non-zero).  Every call returns 0 (or a length)
 * on success and -1 with errno set on failure.
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dlock.h"

/* Every dlock record starts with this and its version number: "dlock/1". */
#define RECORD_TAG	"dlock/"
#define RECORD_TAG_LEN	(sizeof(RECORD_TAG) - 1)

/*
 * Writes o, which must be of kind DLOCK_RECORD_V1, as one line ending in "\n"
 * followed by a NUL.  Returns the length of the line without the NUL, never
 * more than DLOCK_RECORD_MAX, so a buffer of DLOCK_RECORD_MAX + 1 bytes always
 * suffices.
 *
 * EINVAL  a field record_parse() would not read back unchanged: kind not V1,
 *         method not "lockfile" or "mkdir", pid < 1, child < 0, time < 0,
 *         host not 1..DLOCK_HOST_MAX printable ASCII bytes other than space
 *         and '=', boot not 0..DLOCK_BOOT_MAX bytes of [0-9a-f-], nonce not
 *         DLOCK_NONCE_LEN bytes of [0-9a-f], or a string field without its
 *         terminating NUL.  buf is left untouched.
 * ERANGE  the line and its NUL do not fit in size bytes; buf then holds a
 *         truncated line that must not be written anywhere.
 */
int record_format(const struct dlock_owner *o, char *buf, size_t size);

/*
 * Reads the len bytes at buf (no NUL needed; nothing past len is read) into
 * o, which is zeroed first.  No allocation, no locale.  Returns 0, or -1 with
 * errno EINVAL for anything that is not one of these, exactly:
 *
 * DLOCK_RECORD_V1
 *   "dlock/1", then key=value tokens each after one space, then an optional
 *   single "\n"; no other whitespace, no "\r", no NUL, nothing after the
 *   newline, at most DLOCK_RECORD_MAX bytes in all.  Keys are [a-z0-9_]+;
 *   values are printable ASCII other than space, possibly empty.
 *   Required: method pid host boot pidns start time nonce; optional: child,
 *   cstart, token (the holder's fencing token, 0 = none; see token.c).
 *   A known key given twice is invalid; unknown keys are ignored, however
 *   often they appear.  Numbers are canonical decimal: digits only, no sign,
 *   no leading zero (so "007" is invalid, "0" is "0"), range-checked:
 *   pid 1..INT_MAX, child 0..INT_MAX (0 = none), pidns, start, cstart and
 *   token 0..UINT64_MAX, time 0..INT64_MAX.  method is "lockfile" or "mkdir";
 *   host, boot and nonce as for record_format().  An empty boot means the
 *   writer did not know its boot id: no two empty boot ids prove one host.
 *
 * DLOCK_RECORD_PID (legacy, "dotlockfile -p")
 *   a canonical decimal 1..INT_MAX, then optionally "\n" or "\r\n".  Only
 *   o->kind and o->pid are set.
 *
 * DLOCK_RECORD_EMPTY (legacy, lockfile(1), lockfile-progs)
 *   nothing, or "0", each optionally followed by "\n" or "\r\n".  Only
 *   o->kind is set.
 *
 * Legacy records tolerate "\r\n" because other tools, some on other systems,
 * write them; v1 records are written by dlock alone and get no such slack.
 *
 * A v1 record truncated inside its child= value still parses, with a shorter
 * child pid; every other truncation of a v1 record is invalid, and no
 * truncation of one reads as a legacy record except the empty one.  So an
 * EMPTY or invalid record may be one still being written: the lock and its
 * record appear together only where the filesystem can link a whole file
 * into place (publish.c).
 *
 * On failure o is left zeroed.  A record from a newer dlock ("dlock/2 ...")
 * is invalid too; record_version() tells it apart.
 */
int record_parse(const char *buf, size_t len, struct dlock_owner *o);

/*
 * The version N that the len bytes at buf claim by starting with "dlock/N"
 * (N canonical decimal, 1..INT_MAX, followed by a space, a newline or the
 * end), or 0 when they claim none.  It says nothing about whether the rest
 * is valid; it lets a caller whose record_parse() failed tell a newer
 * writer's lock (N > 1) from a damaged or half-written one.  errno is never
 * changed.
 */
int record_version(const char *buf, size_t len);

/*
 * Canonical decimal (see record_parse()) of n bytes at s, at most max.
 * Returns 0, or -1 without touching errno.
 */
int parse_canonical_decimal(const char *s, size_t n, uint64_t max,
    uint64_t *value);

/*
 * Fills o as the owner record of the calling process holding a lock by
 * method ("lockfile" or "mkdir"), on behalf of command child (0 if none).
 * The result always passes record_format().  o is unspecified on failure.
 *
 * EINVAL        method not "lockfile" or "mkdir", child < 0, or a host name
 *               that record_format() refuses (empty, spaces, '=', bytes
 *               outside printable ASCII).
 * ENAMETOOLONG  the host name is longer than DLOCK_HOST_MAX.
 * EIO           /proc held something this code does not understand.
 * other         from uname(2), open(2)/read(2)/stat(2) of /proc (ENOENT
 *               when /proc is not mounted) and getrandom(2).
 */
int record_self(struct dlock_owner *o, const char *method, pid_t child);

/*
 * A fresh random nonce: DLOCK_NONCE_LEN lowercase hex digits and a NUL.
 * Errors are those of getrandom(2) (or of reading /dev/urandom).
 */
int record_nonce(char nonce[DLOCK_NONCE_LEN + 1]);

/*
 * The start time of process pid, in clock ticks after boot: field 22 of
 * /proc/PID/stat, as the "start" of a record.
 *
 * EINVAL  pid < 1.
 * ESRCH   the process does not exist: /proc has no entry for it and
 *         kill(pid, 0) fails with ESRCH.
 * EACCES  /proc has no entry for it but kill(pid, 0) says it exists (a
 *         hidepid= mount, or /proc not mounted): its start time is unknown,
 *         not proof of death.
 * EIO     /proc/PID/stat held something this code does not understand.
 * other   from open(2) and read(2).
 */
int proc_start_time(pid_t pid, uint64_t *start);

/*
 * The boot id of this host (/proc/sys/kernel/random/boot_id without its
 * newline) into buf; DLOCK_BOOT_MAX + 1 bytes always suffice.
 *
 * ERANGE  the id and its NUL do not fit in size bytes.
 * EIO     the file does not hold 1..DLOCK_BOOT_MAX bytes of [0-9a-f-].
 * other   from open(2) and read(2) (ENOENT when /proc is not mounted).
 */
int host_boot_id(char *buf, size_t size);

/*
 * The inode number of the calling process's PID namespace
 * (/proc/self/ns/pid).  Errors are those of stat(2).
 */
int host_pidns(uint64_t *ino);

#endif /* DLOCK_RECORD_H */
