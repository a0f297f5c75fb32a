/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "probe.h"

/*
 * Reads /proc/PID/mountinfo (proc(5)):
 *
 *   36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
 *
 * mount ID, parent ID, major:minor, root, mount point, per-mount options,
 * optional fields ending at a lone "-", filesystem type, source, and the
 * filesystem's own (super) options.  The kernel writes space, tab, newline
 * and backslash inside a field as octal escapes ("\040"), and a comma
 * inside an option value as "\054", so options are split before decoding.
 * Nothing is copied into a fixed buffer without a bound.
 */

struct span {
	const char *s;
	size_t n;
};

struct mi_fields {
	struct span dev, mountpoint, mntopts, fstype, source, superopts;
};

static int
next_field(const char **pp, struct span *f)
{
	const char *p = *pp;

	if (*p == '\0' || *p == '\n')
		return 0;
	f->s = p;
	while (*p != ' ' && *p != '\0' && *p != '\n')
		p++;
	f->n = (size_t)(p - f->s);
	if (*p == ' ')
		p++;
	*pp = p;
	return 1;
}

static int
split_line(const char *line, struct mi_fields *mf)
{
	const char *p = line;
	struct span id, parent, root, optional;

	if (!next_field(&p, &id) || !next_field(&p, &parent) ||
	    !next_field(&p, &mf->dev) || !next_field(&p, &root) ||
	    !next_field(&p, &mf->mountpoint) || !next_field(&p, &mf->mntopts))
		goto invalid;
	do {
		if (!next_field(&p, &optional))
			goto invalid;
	} while (optional.n != 1 || optional.s[0] != '-');
	if (!next_field(&p, &mf->fstype) || !next_field(&p, &mf->source))
		goto invalid;
	if (!next_field(&p, &mf->superopts)) {
		mf->superopts.s = p;
		mf->superopts.n = 0;
	}
	return 0;
invalid:
	errno = EINVAL;
	return -1;
}

static int
is_octal(char c)
{
	return c >= '0' && c <= '7';
}

/* Decodes in into out (size > 0).  Fails, or with cut truncates, when it
 * does not fit. */
static int
unescape(struct span in, char *out, size_t size, int cut)
{
	size_t i = 0, o = 0;

	while (i < in.n) {
		int c = (unsigned char)in.s[i];

		if (c == '\\' && in.n - i >= 4 && is_octal(in.s[i + 1]) &&
		    is_octal(in.s[i + 2]) && is_octal(in.s[i + 3])) {
			c = (in.s[i + 1] - '0') * 64 + (in.s[i + 2] - '0') * 8 +
			    (in.s[i + 3] - '0');
			/* A NUL or a value past a byte is no escape the
			 * kernel writes; keep the text as it is. */
			if (c > 0 && c < 256)
				i += 3;
			else
				c = '\\';
		}
		if (o + 1 >= size) {
			if (!cut) {
				errno = EOVERFLOW;
				return -1;
			}
			break;
		}
		out[o++] = (char)c;
		i++;
	}
	out[o] = '\0';
	return 0;
}

static int
parse_dev(struct span f, unsigned int *major, unsigned int *minor)
{
	char buf[32], *end;
	unsigned long ma, mi;

	if (f.n == 0 || f.n >= sizeof(buf) || f.s[0] < '0' || f.s[0] > '9')
		return -1;
	memcpy(buf, f.s, f.n);
	buf[f.n] = '\0';
	errno = 0;
	ma = strtoul(buf, &end, 10);
	if (*end != ':' || end[1] < '0' || end[1] > '9')
		return -1;
	mi = strtoul(end + 1, &end, 10);
	if (*end != '\0' || errno != 0 || ma > UINT_MAX || mi > UINT_MAX)
		return -1;
	*major = (unsigned int)ma;
	*minor = (unsigned int)mi;
	return 0;
}

static int
append_option(char *dst, size_t size, const char *opt)
{
	size_t len = strlen(dst), add = strlen(opt);

	if (len + (len > 0) + add + 1 > size) {
		errno = EOVERFLOW;
		return -1;
	}
	if (len > 0)
		dst[len++] = ',';
	memcpy(dst + len, opt, add + 1);
	return 0;
}

/*
 * Keeps only the options the choice reads, so that a long list (an SMB
 * mount's runs to hundreds of bytes) can never push one of them out of a
 * fixed buffer.
 */
static int
collect_options(struct span list, const char *fstype,
    mount_option_filter *wanted, char *dst, size_t size)
{
	const char *p = list.s, *end = list.s + list.n, *comma;
	struct span tok;
	char opt[128];

	while (p < end) {
		comma = memchr(p, ',', (size_t)(end - p));
		tok.s = p;
		tok.n = (size_t)((comma != NULL ? comma : end) - p);
		p = comma != NULL ? comma + 1 : end;
		/* Every option the table knows is far shorter than opt. */
		if (tok.n == 0 || unescape(tok, opt, sizeof(opt), 0) == -1)
			continue;
		if (wanted(fstype, opt) &&
		    append_option(dst, size, opt) == -1)
			return -1;
	}
	return 0;
}

int
mountinfo_parse_line(const char *line, mount_option_filter *wanted,
    struct fsprobe *out)
{
	struct mi_fields mf;
	struct fsprobe *mnt;
	char type[sizeof(out->fs.fstype) + sizeof(out->fs.subtype)];
	char *dot;
	int rc = -1, save;

	if (line == NULL || wanted == NULL || out == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (split_line(line, &mf) == -1)
		return -1;
	/* The struct is large; parse into the heap so that *out stays as it
	 * was unless the whole line is good. */
	if ((mnt = calloc(1, sizeof(*mnt))) == NULL)
		return -1;
	if (parse_dev(mf.dev, &mnt->major, &mnt->minor) == -1 ||
	    mf.fstype.n == 0) {
		errno = EINVAL;
		goto done;
	}
	if (unescape(mf.mountpoint, mnt->fs.mountpoint,
	    sizeof(mnt->fs.mountpoint), 0) == -1 ||
	    unescape(mf.fstype, type, sizeof(type), 0) == -1)
		goto done;
	/* FUSE mounts read "fuse.sshfs" or "fuseblk.ntfs": the kernel type,
	 * then the daemon's own name. */
	if ((dot = strchr(type, '.')) != NULL)
		*dot++ = '\0';
	if (strlen(type) >= sizeof(mnt->fs.fstype) ||
	    (dot != NULL && strlen(dot) >= sizeof(mnt->fs.subtype))) {
		errno = EOVERFLOW;
		goto done;
	}
	memcpy(mnt->fs.fstype, type, strlen(type) + 1);
	if (dot != NULL)
		memcpy(mnt->fs.subtype, dot, strlen(dot) + 1);
	else
		mnt->fs.subtype[0] = '\0';
	(void)unescape(mf.source, mnt->fs.source, sizeof(mnt->fs.source), 1);
	if (collect_options(mf.mntopts, mnt->fs.fstype, wanted,
	    mnt->fs.options, sizeof(mnt->fs.options)) == -1 ||
	    collect_options(mf.superopts, mnt->fs.fstype, wanted,
	    mnt->fs.options, sizeof(mnt->fs.options)) == -1)
		goto done;

	out->major = mnt->major;
	out->minor = mnt->minor;
	out->found_by = PROBE_FROM_LINE;
	memcpy(out->fs.fstype, mnt->fs.fstype, sizeof(out->fs.fstype));
	memcpy(out->fs.subtype, mnt->fs.subtype, sizeof(out->fs.subtype));
	memcpy(out->fs.source, mnt->fs.source, sizeof(out->fs.source));
	memcpy(out->fs.mountpoint, mnt->fs.mountpoint,
	    sizeof(out->fs.mountpoint));
	memcpy(out->fs.options, mnt->fs.options, sizeof(out->fs.options));
	rc = 0;
done:
	save = errno;
	free(mnt);
	errno = save;
	return rc;
}

/* The length of mount point mp if it is a path prefix of dir, else 0. */
static size_t
mount_prefix(const char *dir, const char *mp)
{
	size_t n = strlen(mp);

	if (n == 0 || strncmp(dir, mp, n) != 0)
		return 0;
	if (mp[n - 1] == '/' || dir[n] == '\0' || dir[n] == '/')
		return n;
	return 0;
}

static int
keep_line(char **slot, const char *line)
{
	char *copy;

	if ((copy = strdup(line)) == NULL)
		return -1;
	free(*slot);
	*slot = copy;
	return 0;
}

int
mountinfo_find(FILE *fp, unsigned int major, unsigned int minor,
    const char *dir, mount_option_filter *wanted, struct fsprobe *out)
{
	char *line = NULL, *by_dev = NULL, *by_prefix = NULL, *mp = NULL;
	size_t cap = 0, dev_rank = 0, prefix_rank = 0, plen;
	struct mi_fields mf;
	unsigned int ma, mi;
	int rc = -1, save;

	if (fp == NULL || dir == NULL || wanted == NULL || out == NULL) {
		errno = EINVAL;
		return -1;
	}
	if ((mp = malloc(PATH_MAX)) == NULL)
		return -1;
	while (getline(&line, &cap, fp) != -1) {
		if (split_line(line, &mf) == -1 ||
		    parse_dev(mf.dev, &ma, &mi) == -1)
			continue;
		plen = 0;
		if (unescape(mf.mountpoint, mp, PATH_MAX, 0) == 0)
			plen = mount_prefix(dir, mp);
		/* Later lines win ties: a mount stacked on the same point
		 * is listed after the one it hides. */
		if (ma == major && mi == minor && plen + 1 >= dev_rank) {
			if (keep_line(&by_dev, line) == -1)
				goto done;
			dev_rank = plen + 1;
		}
		if (plen > 0 && plen >= prefix_rank) {
			if (keep_line(&by_prefix, line) == -1)
				goto done;
			prefix_rank = plen;
		}
	}
	if (ferror(fp)) {
		if (errno == 0)
			errno = EIO;
		goto done;
	}
	if (by_dev != NULL) {
		if ((rc = mountinfo_parse_line(by_dev, wanted, out)) == 0)
			out->found_by = PROBE_BY_DEVICE;
	} else if (by_prefix != NULL) {
		if ((rc = mountinfo_parse_line(by_prefix, wanted, out)) == 0)
			out->found_by = PROBE_BY_PREFIX;
	} else {
		errno = ENOENT;
	}
done:
	save = errno;
	free(line);
	free(by_dev);
	free(by_prefix);
	free(mp);
	errno = save;
	return rc;
}
