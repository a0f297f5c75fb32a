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
CMD_SRC = src/main.c src/run.c src/report.c src/parse.c src/subcommands.c \
	src/waitline.c
HDR = src/dlock.h src/dlock_int.h src/record.h src/probe.h src/cli.h \
	src/parse.h

LIB_OBJ = $(LIB_SRC:src/%.c=$(B)/%.o)
CMD_OBJ = $(CMD_SRC:src/%.c=$(B)/%.o)
# Test builds: the same sources with the test hooks of probe.c compiled in,
# so recorded mount tables can stand in for filesystems not at hand.
HOOK_LIB_OBJ = $(LIB_SRC:src/%.c=$(B)/hooks/%.o)
HOOK_CMD_OBJ = $(CMD_SRC:src/%.c=$(B)/hooks/%.o)

LIB_TESTS = lock record probe namelock
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

# The command tests again, against a build with the sanitizers.
$(B)/san/dlock: $(LIB_SRC) $(CMD_SRC) $(HDR)
	@mkdir -p $(B)/san
	$(CC) $(ALL_CFLAGS) $(SAN) -o $@ $(CMD_SRC) $(LIB_SRC)

$(B)/san/hooks-dlock: $(LIB_SRC) $(CMD_SRC) $(HDR)
	@mkdir -p $(B)/san
	$(CC) $(ALL_CFLAGS) $(SAN) -DDLOCK_TEST_HOOKS -o $@ $(CMD_SRC) $(LIB_SRC)

check-san: $(B)/san/dlock $(B)/san/hooks-dlock $(SAN_TEST_BIN)
	scripts/run-lib-tests $(SAN_TEST_BIN)
	scripts/need bats
	ASAN_OPTIONS=detect_leaks=1 DLOCK=$(CURDIR)/$(B)/san/dlock \
		DLOCK_HOOKED=$(CURDIR)/$(B)/san/hooks-dlock bats tests/cmd

# The tests with another C library or compiler, in a build of their own.
check-plain: all $(B)/hooks/dlock $(LIB_TEST_BIN)
	scripts/run-lib-tests $(LIB_TEST_BIN)
	scripts/need bats
	DLOCK=$(CURDIR)/$(B)/dlock DLOCK_HOOKED=$(CURDIR)/$(B)/hooks/dlock \
		bats tests/cmd

check-musl:
	scripts/need musl-gcc
	$(MAKE) B=$(B)/musl CC=musl-gcc check-plain

check-clang:
	scripts/need clang
	$(MAKE) B=$(B)/clang CC=clang check-plain

analyze:
	@mkdir -p $(B)
	scripts/analyze

# Each fuzz target runs FUZZ_SECONDS on a copy of its seed corpus; what
# it finds is kept in $(B)/fuzz/NAME/ to be turned into regression seeds.
FUZZ_SECONDS = 200
FUZZ_TARGETS = record numbers mountinfo
FUZZ_SRC_record = src/record.c
FUZZ_SRC_numbers = src/parse.c
FUZZ_SRC_mountinfo = src/probe.c src/mountinfo.c

$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(LIB_SRC) $(CMD_SRC) $(HDR)
	@mkdir -p $(B)/fuzz
	clang -std=c11 -g -O1 -Isrc -fsanitize=fuzzer,address,undefined \
		-o $@ $< $(FUZZ_SRC_$*)

fuzz:
	scripts/need clang
	$(MAKE) $(FUZZ_TARGETS:%=$(B)/fuzz/fuzz_%)
	scripts/fuzz $(B)/fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

demo: $(B)/dlock
	scripts/demo $(B)/dlock

clean:
	rm -rf $(B)

.PHONY: all check check-san check-plain check-musl check-clang analyze fuzz \
	demo clean
