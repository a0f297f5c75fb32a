# SPDX-License-Identifier: ISC
# dlock: a POSIX file-lock command and library.  See README.

VERSION = 0.1.0
SOVERSION = 0

PREFIX = /usr/local
BINDIR = $(PREFIX)/bin
LIBDIR = $(PREFIX)/lib
INCLUDEDIR = $(PREFIX)/include
MANDIR = $(PREFIX)/share/man

CC = cc
OPT = -O2 -g
WARN = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wformat=2 -Wvla
# Warnings are errors in development builds; packagers may set WERROR=.
WERROR = -Werror
CFLAGS = $(OPT) $(WARN) $(WERROR)
CPPFLAGS =
LDFLAGS =
SAN = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

B = build
ALL_CFLAGS = -std=c11 -fPIC -Isrc $(CPPFLAGS) $(CFLAGS)

LIB_SRC = src/lock.c src/deadline.c src/kwait.c src/fileopen.c \
	src/method_fcntl.c src/method_flock.c src/method_lockfile.c \
	src/method_mkdir.c src/namelock.c src/owner.c src/stale.c \
	src/breaker.c src/inspect.c src/record.c src/identity.c \
	src/probe.c src/mountinfo.c
CMD_SRC = src/main.c src/run.c src/report.c src/parse.c src/subcommands.c
HDR = src/dlock.h src/dlock_int.h src/record.h src/probe.h src/cli.h \
	src/parse.h

LIB_OBJ = $(LIB_SRC:src/%.c=$(B)/%.o)
CMD_OBJ = $(CMD_SRC:src/%.c=$(B)/%.o)
# Test builds: the same sources with the test hooks of probe.c compiled in,
# so recorded mount tables can stand in for filesystems not at hand.
HOOK_LIB_OBJ = $(LIB_SRC:src/%.c=$(B)/hooks/%.o)
HOOK_CMD_OBJ = $(CMD_SRC:src/%.c=$(B)/hooks/%.o)

LIB_TESTS = lock record probe
LIB_TEST_BIN = $(LIB_TESTS:%=$(B)/test_%)
SAN_TEST_BIN = $(LIB_TESTS:%=$(B)/san/test_%)

all: $(B)/dlock $(B)/libdlock.a $(B)/libdlock.so

$(B)/%.o: src/%.c $(HDR)
	@mkdir -p $(B)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/hooks/%.o: src/%.c $(HDR)
	@mkdir -p $(B)/hooks
	$(CC) $(ALL_CFLAGS) -DDLOCK_TEST_HOOKS -c -o $@ $<

$(B)/hooks/libdlock.a: $(HOOK_LIB_OBJ)
	rm -f $@
	ar rcs $@ $(HOOK_LIB_OBJ)

$(B)/hooks/dlock: $(HOOK_CMD_OBJ) $(B)/hooks/libdlock.a
	$(CC) $(LDFLAGS) -o $@ $(HOOK_CMD_OBJ) $(B)/hooks/libdlock.a

$(B)/libdlock.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $(LIB_OBJ)

$(B)/libdlock.so.$(VERSION): $(LIB_OBJ) src/libdlock.map
	$(CC) -shared -Wl,-soname,libdlock.so.$(SOVERSION) \
		-Wl,--version-script=src/libdlock.map $(LDFLAGS) \
		-o $@ $(LIB_OBJ)

$(B)/libdlock.so: $(B)/libdlock.so.$(VERSION)
	ln -sf libdlock.so.$(VERSION) $(B)/libdlock.so.$(SOVERSION)
	ln -sf libdlock.so.$(VERSION) $@

$(B)/dlock: $(CMD_OBJ) $(B)/libdlock.a
	$(CC) $(LDFLAGS) -o $@ $(CMD_OBJ) $(B)/libdlock.a

$(B)/test_%: tests/lib/test_%.c tests/lib/check.h $(B)/hooks/libdlock.a
	$(CC) $(ALL_CFLAGS) -DDLOCK_TEST_HOOKS -Itests/lib -o $@ $< \
		$(B)/hooks/libdlock.a -lpthread

# The library tests again, built from source with the sanitizers.
$(B)/san/test_%: tests/lib/test_%.c tests/lib/check.h $(LIB_SRC) $(HDR)
	@mkdir -p $(B)/san
	$(CC) $(ALL_CFLAGS) $(SAN) -DDLOCK_TEST_HOOKS -Itests/lib -o $@ $< \
		$(LIB_SRC) -lpthread

check: all $(B)/hooks/dlock $(LIB_TEST_BIN) $(SAN_TEST_BIN)
	scripts/run-lib-tests $(LIB_TEST_BIN) $(SAN_TEST_BIN)
	scripts/need bats
	DLOCK=$(CURDIR)/$(B)/dlock DLOCK_HOOKED=$(CURDIR)/$(B)/hooks/dlock \
		bats tests/cmd

demo: $(B)/dlock
	scripts/demo $(B)/dlock

clean:
	rm -rf $(B)

.PHONY: all check demo clean
