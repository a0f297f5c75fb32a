# SPDX-License-Identifier: ISC
# dlock build configuration: override any of these on the make command
# line (make PREFIX=/usr CC=clang) or edit them here.

VERSION = 0.1.0
SOVERSION = 0

# Installation paths.  DESTDIR is prepended to each, for staged installs.
PREFIX = /usr/local
BINDIR = $(PREFIX)/bin
LIBDIR = $(PREFIX)/lib
INCLUDEDIR = $(PREFIX)/include
MANDIR = $(PREFIX)/share/man
PKGCONFIGDIR = $(LIBDIR)/pkgconfig
BASHCOMPDIR = $(PREFIX)/share/bash-completion/completions
DESTDIR =

CC = cc
OPT = -O2 -g
WARN = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wformat=2 -Wvla
# Warnings are errors in development builds; packagers may set WERROR=.
WERROR = -Werror
CFLAGS = $(OPT) $(WARN) $(WERROR)
CPPFLAGS =
LDFLAGS =
SAN = -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all

# STATIC=1 links the program statically against musl (MUSL_CC), from a
# build of the library of its own.  A wrapper's cost is mostly process
# start-up, and a dynamically linked program spends about half a
# millisecond in the loader before main() (make bench).  Without it the
# program is linked with $(CC) against libdlock.a.
STATIC =
MUSL_CC = musl-gcc

# The build directory.
B = build
