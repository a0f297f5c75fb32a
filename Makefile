# SPDX-License-Identifier: ISC
# dlock: a POSIX file-lock command and library.  See README.

VERSION = 0.1.0
SOVERSION = 0

PREFIX = /usr/local
BINDIR = $(PREFIX)/bin
LIBDIR = $(PREFIX)/lib
INCLUDEDIR = $(PREFIX)/include
MANDIR = $(PREFIX)/share/man
PKGCONFIGDIR = $(LIBDIR)/pkgconfig
BASHCOMPDIR = $(PREFIX)/share/bash-completion/completions
# Prepended to every installed path, for staged installs and packages.
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
SAN = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

B = build
ALL_CFLAGS = -std=c11 -fPIC -Isrc $(CPPFLAGS) $(CFLAGS)

LIB_SRC = src/lock.c src/deadline.c src/kwait.c src/fileopen.c \
	src/method_fcntl.c src/method_flock.c src/method_lockfile.c \
	src/method_mkdir.c src/namelock.c src/owner.c src/stale.c \
	src/breaker.c src/publish.c src/kernlocks.c src/inspect.c src/record.c src/identity.c \
	src/probe.c src/mountinfo.c
CMD_SRC = src/main.c src/run.c src/report.c src/parse.c src/subcommands.c \
	src/waitline.c
HDR = src/dlock.h src/dlock_int.h src/record.h src/probe.h src/cli.h \
	src/parse.h

LIB_OBJ = $(LIB_SRC:src/%.c=$(B)/%.o)
CMD_OBJ = $(CMD_SRC:src/%.c=$(B)/%.o)
# The program runs once per wrapped job, and most of what a wrapper costs
# is starting a process: a dynamically linked program spends about half a
# millisecond in the loader and the C library's start-up before main()
# (make bench).  So where musl-gcc is installed, the program is linked
# statically against musl, from a build of the library of its own.
# CMD_CC= links it with $(CC) against libdlock.a instead, dynamically.
CMD_CC = $(shell command -v musl-gcc >/dev/null 2>&1 && echo musl-gcc)
STATIC_OBJ = $(LIB_SRC:src/%.c=$(B)/static/%.o) \
	$(CMD_SRC:src/%.c=$(B)/static/%.o)
# Test builds: the same sources with the test hooks of probe.c compiled in,
# so recorded mount tables can stand in for filesystems not at hand.
HOOK_LIB_OBJ = $(LIB_SRC:src/%.c=$(B)/hooks/%.o)
HOOK_CMD_OBJ = $(CMD_SRC:src/%.c=$(B)/hooks/%.o)

LIB_TESTS = lock record probe namelock stale
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

$(B)/static/%.o: src/%.c $(HDR)
	@mkdir -p $(B)/static
	$(CMD_CC) $(ALL_CFLAGS) -c -o $@ $<

ifeq ($(CMD_CC),)
$(B)/dlock: $(CMD_OBJ) $(B)/libdlock.a
	$(CC) $(LDFLAGS) -o $@ $(CMD_OBJ) $(B)/libdlock.a
else
$(B)/dlock: $(STATIC_OBJ)
	$(CMD_CC) -static $(LDFLAGS) -o $@ $(STATIC_OBJ)
endif

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

# The library tests under valgrind's leak checker.  test_lock is left out:
# valgrind 3.19 runs F_OFD_SETLKW as a call that cannot block, so a thread
# waiting in it stalls every other thread (its locking is covered by the
# sanitizer builds instead).
VALGRIND_TESTS = record probe stale namelock
check-valgrind: $(VALGRIND_TESTS:%=$(B)/test_%)
	scripts/need valgrind
	for t in $(VALGRIND_TESTS); do \
		timeout 600 valgrind -q --leak-check=full \
		--errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
		$(B)/test_$$t || exit 1; \
	done

# The tests with another C library or compiler, in a build of their own.
check-plain: all $(B)/hooks/dlock $(LIB_TEST_BIN)
	scripts/run-lib-tests $(LIB_TEST_BIN)
	scripts/need bats
	DLOCK=$(CURDIR)/$(B)/dlock DLOCK_HOOKED=$(CURDIR)/$(B)/hooks/dlock \
		bats tests/cmd

check-musl:
	scripts/need musl-gcc
	$(MAKE) B=$(B)/musl CC=musl-gcc CMD_CC= check-plain

check-clang:
	scripts/need clang
	$(MAKE) B=$(B)/clang CC=clang CMD_CC= check-plain

# Across two hosts on a GlusterFS volume: needs scripts/cluster-up first.
check-cluster: all
	scripts/need bats
	DLOCK=$(CURDIR)/$(B)/dlock bats tests/cluster

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

# Ratios against the raw system calls and the peer tools, in one run;
# the report goes to $(B)/bench/report.md.
bench: all
	scripts/bench

demo: $(B)/dlock
	scripts/demo $(B)/dlock

# Installation.  One page documents several functions; each other function
# gets a link to it, NAME:PAGE.  The shared library is removed before it is
# copied, not written over: running programs may have the old one mapped.
# uninstall removes what install put there; from a staged install (DESTDIR)
# also the directories left empty, but never a system's own directories.
MAN1 = dlock.1
MAN3 = dlock.3 dlock_open.3 dlock_lock.3 dlock_heartbeat.3 dlock_status.3 \
	dlock_probe.3 dlock_fd.3
MAN3_LINKS = dlock_options_init:dlock_open dlock_open_fd:dlock_open \
	dlock_close:dlock_open dlock_unlock:dlock_lock \
	dlock_set_child:dlock_heartbeat dlock_break:dlock_status \
	dlock_fell_back:dlock_fd dlock_method:dlock_fd dlock_path:dlock_fd \
	dlock_method_name:dlock_fd dlock_method_from_name:dlock_fd

install: all
	mkdir -p "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(LIBDIR)" \
		"$(DESTDIR)$(PKGCONFIGDIR)" "$(DESTDIR)$(INCLUDEDIR)" \
		"$(DESTDIR)$(MANDIR)/man1" "$(DESTDIR)$(MANDIR)/man3" \
		"$(DESTDIR)$(BASHCOMPDIR)"
	cp -f $(B)/dlock "$(DESTDIR)$(BINDIR)/dlock"
	chmod 755 "$(DESTDIR)$(BINDIR)/dlock"
	rm -f "$(DESTDIR)$(LIBDIR)/libdlock.so.$(VERSION)"
	cp $(B)/libdlock.so.$(VERSION) "$(DESTDIR)$(LIBDIR)/"
	chmod 755 "$(DESTDIR)$(LIBDIR)/libdlock.so.$(VERSION)"
	ln -sf libdlock.so.$(VERSION) \
		"$(DESTDIR)$(LIBDIR)/libdlock.so.$(SOVERSION)"
	ln -sf libdlock.so.$(SOVERSION) "$(DESTDIR)$(LIBDIR)/libdlock.so"
	cp -f $(B)/libdlock.a "$(DESTDIR)$(LIBDIR)/libdlock.a"
	chmod 644 "$(DESTDIR)$(LIBDIR)/libdlock.a"
	cp -f src/dlock.h "$(DESTDIR)$(INCLUDEDIR)/dlock.h"
	chmod 644 "$(DESTDIR)$(INCLUDEDIR)/dlock.h"
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
		dlock.pc.in >"$(DESTDIR)$(PKGCONFIGDIR)/dlock.pc"
	chmod 644 "$(DESTDIR)$(PKGCONFIGDIR)/dlock.pc"
	for page in $(MAN1); do \
		cp -f man/$$page "$(DESTDIR)$(MANDIR)/man1/$$page" && \
		chmod 644 "$(DESTDIR)$(MANDIR)/man1/$$page" || exit 1; \
	done
	for page in $(MAN3); do \
		cp -f man/$$page "$(DESTDIR)$(MANDIR)/man3/$$page" && \
		chmod 644 "$(DESTDIR)$(MANDIR)/man3/$$page" || exit 1; \
	done
	for link in $(MAN3_LINKS); do \
		ln -sf $${link#*:}.3 \
			"$(DESTDIR)$(MANDIR)/man3/$${link%%:*}.3" || exit 1; \
	done
	cp -f completion/dlock.bash "$(DESTDIR)$(BASHCOMPDIR)/dlock"
	chmod 644 "$(DESTDIR)$(BASHCOMPDIR)/dlock"

uninstall:
	rm -f "$(DESTDIR)$(BINDIR)/dlock" \
		"$(DESTDIR)$(LIBDIR)/libdlock.so.$(VERSION)" \
		"$(DESTDIR)$(LIBDIR)/libdlock.so.$(SOVERSION)" \
		"$(DESTDIR)$(LIBDIR)/libdlock.so" \
		"$(DESTDIR)$(LIBDIR)/libdlock.a" \
		"$(DESTDIR)$(INCLUDEDIR)/dlock.h" \
		"$(DESTDIR)$(PKGCONFIGDIR)/dlock.pc" \
		"$(DESTDIR)$(BASHCOMPDIR)/dlock"
	for page in $(MAN1); do \
		rm -f "$(DESTDIR)$(MANDIR)/man1/$$page"; \
	done
	for page in $(MAN3); do \
		rm -f "$(DESTDIR)$(MANDIR)/man3/$$page"; \
	done
	for link in $(MAN3_LINKS); do \
		rm -f "$(DESTDIR)$(MANDIR)/man3/$${link%%:*}.3"; \
	done
	if [ -n "$(DESTDIR)" ]; then \
		for dir in "$(BINDIR)" "$(PKGCONFIGDIR)" "$(LIBDIR)" \
		    "$(INCLUDEDIR)" "$(MANDIR)/man1" "$(MANDIR)/man3" \
		    "$(BASHCOMPDIR)"; do \
			while [ -n "$$dir" ] && \
			    rmdir "$(DESTDIR)$$dir" 2>/dev/null; do \
				dir=$${dir%/*}; \
			done; \
		done; \
	fi

clean:
	rm -rf $(B)

.PHONY: all bench check check-cluster check-valgrind check-san check-plain check-musl check-clang analyze fuzz \
	demo install uninstall clean

# The real-NFS tier: needs the guests of scripts/nfs-up.
check-nfs: all
	scripts/need bats
	DLOCK=$(CURDIR)/$(B)/dlock bats tests/nfs

.PHONY: check-nfs
