# SPDX-License-Identifier: ISC
# dlock: a POSIX file-lock command and library.  See README; the settings
# are in config.mk.
#
#   include/  the one public header, dlock.h
#   lib/      libdlock: locking, owner records, staleness, probing, waiting
#   cmd/      the dlock command, which sees only include/

include config.mk

LIB_SRC = lib/lock.c lib/wait.c lib/childwait.c lib/open.c \
	lib/method_fcntl.c lib/method_flock.c lib/method_lockfile.c \
	lib/method_mkdir.c lib/namelock.c lib/namewait.c lib/look.c lib/stale.c \
	lib/breaker.c lib/publish.c lib/kernlocks.c lib/status.c \
	lib/record.c lib/self.c lib/probe.c lib/mountinfo.c \
	lib/files.c lib/names.c lib/slots.c lib/queue.c lib/token.c \
	lib/fence.c lib/intent.c lib/sweep.c lib/shared.c
CMD_SRC = cmd/main.c cmd/run.c cmd/supervise.c cmd/keeper.c cmd/policy.c \
	cmd/report.c cmd/numbers.c cmd/subcommands.c cmd/waitline.c cmd/fence.c \
	cmd/guard.c
LIB_HDR = include/dlock.h lib/internal.h lib/record.h lib/probe.h
CMD_HDR = include/dlock.h cmd/cli.h cmd/numbers.h

LIB_CFLAGS = -std=c11 -fPIC -Iinclude -Ilib \
	$(CPPFLAGS) $(CFLAGS)
# The command is compiled against the public header alone.
CMD_CFLAGS = -std=c11 -Iinclude -Icmd $(CPPFLAGS) $(CFLAGS)

LIB_OBJ = $(LIB_SRC:lib/%.c=$(B)/lib/%.o)
CMD_OBJ = $(CMD_SRC:cmd/%.c=$(B)/cmd/%.o)
# The library tests: one program a method, each running the contract
# every method meets (tests/lib/contract.c; the name locks also that of
# tests/lib/contract_names.c), then what is the method's own.
METHOD_TESTS = fcntl flock lockfile mkdir auto
CONTRACT_TESTS = api $(METHOD_TESTS)
LIB_TESTS = $(CONTRACT_TESTS) record probe stale fallback shapes token lost
LIB_TEST_BIN = $(LIB_TESTS:%=$(B)/test_%)
SAN_TEST_BIN = $(LIB_TESTS:%=$(B)/san/test_%)
TEST_HDR = tests/lib/check.h tests/lib/contract.h

BATS = scripts/run-bats

all: $(B)/dlock $(B)/libdlock.a $(B)/libdlock.so

$(B)/lib/%.o: lib/%.c $(LIB_HDR)
	@mkdir -p $(B)/lib
	$(CC) $(LIB_CFLAGS) -c -o $@ $<

$(B)/cmd/%.o: cmd/%.c $(CMD_HDR)
	@mkdir -p $(B)/cmd
	$(CC) $(CMD_CFLAGS) -c -o $@ $<

# The library's own tests reach its internal functions, so they link the
# objects as they are.  What is installed is one relocatable object in
# which every symbol but the exported ones is made local, so that a
# program linking libdlock.a cannot collide with the library's insides.
$(B)/libdlock-internal.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $(LIB_OBJ)

$(B)/libdlock.exports: lib/libdlock.map
	@mkdir -p $(B)
	sed -n 's/^[[:space:]]*\(dlock_[a-z_]*\);$$/\1/p' lib/libdlock.map >$@

$(B)/libdlock.a: $(LIB_OBJ) $(B)/libdlock.exports
	$(CC) -r -nostdlib -o $(B)/libdlock.o $(LIB_OBJ)
	objcopy --keep-global-symbols=$(B)/libdlock.exports $(B)/libdlock.o
	rm -f $@
	ar rcs $@ $(B)/libdlock.o

$(B)/libdlock.so.$(VERSION): $(LIB_OBJ) lib/libdlock.map
	$(CC) -shared -Wl,-soname,libdlock.so.$(SOVERSION) \
		-Wl,--version-script=lib/libdlock.map $(LDFLAGS) \
		-o $@ $(LIB_OBJ)

$(B)/libdlock.so: $(B)/libdlock.so.$(VERSION)
	ln -sf libdlock.so.$(VERSION) $(B)/libdlock.so.$(SOVERSION)
	ln -sf libdlock.so.$(VERSION) $@

# Changes when STATIC does, so that the program is linked again.
$(B)/link-mode: FORCE
	@mkdir -p $(B)
	@echo "STATIC=$(STATIC)" | cmp -s - $@ || echo "STATIC=$(STATIC)" >$@

ifeq ($(STATIC),1)
ifeq ($(shell command -v $(MUSL_CC)),)
$(error STATIC=1 needs $(MUSL_CC): install musl-tools, or build without STATIC=1)
endif
STATIC_OBJ = $(LIB_SRC:lib/%.c=$(B)/static/lib/%.o) \
	$(CMD_SRC:cmd/%.c=$(B)/static/cmd/%.o)

$(B)/static/lib/%.o: lib/%.c $(LIB_HDR)
	@mkdir -p $(B)/static/lib
	$(MUSL_CC) $(LIB_CFLAGS) -c -o $@ $<

$(B)/static/cmd/%.o: cmd/%.c $(CMD_HDR)
	@mkdir -p $(B)/static/cmd
	$(MUSL_CC) $(CMD_CFLAGS) -c -o $@ $<

$(B)/dlock: $(STATIC_OBJ) $(B)/link-mode
	$(MUSL_CC) -static $(LDFLAGS) -o $@ $(STATIC_OBJ)
else
$(B)/dlock: $(CMD_OBJ) $(B)/libdlock.a $(B)/link-mode
	$(CC) $(LDFLAGS) -o $@ $(CMD_OBJ) $(B)/libdlock.a
endif

# What a test program is linked with beside its own file.
$(LIB_TEST_BIN) $(SAN_TEST_BIN): tests/lib/check.c
$(CONTRACT_TESTS:%=$(B)/test_%) $(CONTRACT_TESTS:%=$(B)/san/test_%): \
	tests/lib/places.c tests/lib/contract.c tests/lib/contract_names.c \
	tests/lib/contract_shared.c
$(B)/test_token $(B)/san/test_token: tests/lib/places.c tests/lib/contract.c \
	tests/lib/contract_names.c tests/lib/contract_shared.c
$(B)/test_lost $(B)/san/test_lost: tests/lib/places.c

$(B)/test_%: tests/lib/test_%.c $(TEST_HDR) $(B)/libdlock-internal.a
	$(CC) $(LIB_CFLAGS) -Itests/lib -o $@ \
		$(filter tests/%.c,$^) $(B)/libdlock-internal.a -lpthread

# The library tests again, built from source with the sanitizers.
$(B)/san/test_%: tests/lib/test_%.c $(TEST_HDR) $(LIB_SRC) $(LIB_HDR)
	@mkdir -p $(B)/san
	$(CC) $(LIB_CFLAGS) $(SAN) -Itests/lib -o $@ \
		$(filter tests/%.c,$^) $(LIB_SRC) -lpthread

# The tests' fault injector (tests/fault/fault.c): kernel lock calls that
# hang or fail with ENOLCK, for any build of dlock.  It needs the kernel's
# headers, so it is built with the system's compiler whatever CC is.
FAULT_CC = cc
$(B)/fault: tests/fault/fault.c
	@mkdir -p $(B)
	$(FAULT_CC) -std=c11 -O2 -Wall -Wextra -Werror -o $@ $<
FAULT_ENV = DLOCK_FAULT=$(abspath $(B)/fault)

check: all $(LIB_TEST_BIN) $(SAN_TEST_BIN) $(B)/fault
	scripts/run-lib-tests $(LIB_TEST_BIN) $(SAN_TEST_BIN)
	$(FAULT_ENV) $(BATS) $(B)/dlock tests/cmd

# The command tests again, against a build with the sanitizers.
$(B)/san/dlock: $(LIB_SRC) $(CMD_SRC) $(LIB_HDR) $(CMD_HDR)
	@mkdir -p $(B)/san
	$(CC) $(LIB_CFLAGS) $(SAN) -Icmd -o $@ $(CMD_SRC) $(LIB_SRC)

check-san: $(B)/san/dlock $(SAN_TEST_BIN) $(B)/fault
	scripts/run-lib-tests $(SAN_TEST_BIN)
	ASAN_OPTIONS=detect_leaks=1 $(FAULT_ENV) $(BATS) $(B)/san/dlock tests/cmd

# The library tests under valgrind's leak checker.  test_fcntl and
# test_auto (auto takes fcntl for a local file) are left out: valgrind
# 3.19 runs F_OFD_SETLKW as a call that cannot block, so a thread waiting
# in it stalls every other thread (their locking is covered by the
# sanitizer builds instead).
VALGRIND_TESTS = api flock lockfile mkdir record probe stale
check-valgrind: $(VALGRIND_TESTS:%=$(B)/test_%)
	scripts/need valgrind
	for t in $(VALGRIND_TESTS); do \
		timeout 600 valgrind -q --leak-check=full \
		--errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
		$(B)/test_$$t || exit 1; \
	done

# The tests with another C library or compiler, in a build of their own.
check-plain: all $(LIB_TEST_BIN) $(B)/fault
	scripts/run-lib-tests $(LIB_TEST_BIN)
	$(FAULT_ENV) $(BATS) $(B)/dlock tests/cmd

check-musl:
	scripts/need musl-gcc
	$(MAKE) B=$(B)/musl CC=musl-gcc STATIC= check-plain

check-clang:
	scripts/need clang
	$(MAKE) B=$(B)/clang CC=clang STATIC= check-plain

# Across two hosts on a GlusterFS volume: needs scripts/cluster-up first.
# The name methods' library contracts run on the volume too, where each
# poll is a round trip and waits poll as they do on network filesystems.
CLUSTER_ENV = $${DLOCK_CLUSTER_DIR:-/var/tmp/dlock-cluster}/env
check-cluster: all $(B)/test_lockfile $(B)/test_mkdir $(B)/test_shapes \
	$(B)/test_lost
	. $(CLUSTER_ENV) && DLOCK_TEST_DIR=$$DLOCK_CLUSTER_A \
	    scripts/run-lib-tests $(B)/test_lockfile $(B)/test_mkdir \
	    $(B)/test_shapes $(B)/test_lost
	$(BATS) $(B)/dlock tests/cluster

# On real NFS, a server and two client hosts in virtual machines: needs
# scripts/nfs-up first.
check-nfs: all $(B)/fault
	$(FAULT_ENV) $(BATS) $(B)/dlock tests/nfs

analyze:
	@mkdir -p $(B)
	scripts/analyze

# Each fuzz target runs FUZZ_SECONDS on a copy of its seed corpus; what
# it finds is kept in $(B)/fuzz/NAME/ to be turned into regression seeds.
FUZZ_SECONDS = 200
FUZZ_TARGETS = record numbers mountinfo
FUZZ_SRC_record = lib/record.c
FUZZ_SRC_numbers = cmd/numbers.c
FUZZ_SRC_mountinfo = lib/mountinfo.c

$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(LIB_SRC) $(CMD_SRC) $(LIB_HDR) $(CMD_HDR)
	@mkdir -p $(B)/fuzz
	clang -std=c11 -g -O1 -Iinclude -Ilib -Icmd \
		-fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_SRC_$*)

fuzz:
	scripts/need clang
	$(MAKE) $(FUZZ_TARGETS:%=$(B)/fuzz/fuzz_%)
	scripts/fuzz $(B)/fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# Ratios against the raw system calls and the peer tools, in one run;
# the report goes to $(B)/bench/report.md.  The program measured is
# linked statically (STATIC=1) where musl-gcc is installed.
bench:
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
	dlock_probe.3 dlock_fd.3 dlock_token.3
MAN3_LINKS = dlock_options_init:dlock_open dlock_open_fd:dlock_open \
	dlock_close:dlock_open dlock_unlock:dlock_lock \
	dlock_set_child:dlock_heartbeat dlock_lost:dlock_heartbeat \
	dlock_break:dlock_status dlock_status_readers:dlock_status \
	dlock_fell_back:dlock_fd dlock_method:dlock_fd dlock_path:dlock_fd \
	dlock_method_name:dlock_fd dlock_method_from_name:dlock_fd \
	dlock_slot:dlock_fd dlock_fence:dlock_token
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
	cp -f include/dlock.h "$(DESTDIR)$(INCLUDEDIR)/dlock.h"
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

.PHONY: FORCE all bench check check-cluster check-nfs check-valgrind check-san check-plain check-musl check-clang analyze fuzz \
	demo install uninstall clean

# The real-NFS tier: needs the guests of scripts/nfs-up.
