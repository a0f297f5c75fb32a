#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# A call on the lock's filesystem that does not return, as on a hard NFS
# mount whose server has stopped answering: with -w or -n, dlock gives up
# a few seconds past its deadline, says why and exits with the timeout
# status, however long the call would go on.  The call is made to hang by
# an LD_PRELOAD shim whose flock(2) sleeps for ever, signals or not; the
# NFS tier (tests/nfs/server_pause.bats) does the same with a real server.

load helpers

# The shim, built for this test; skips where it cannot be loaded (a static
# dlock, or one built with AddressSanitizer, which must come first).
build_shim() {
	local cc=${CC:-cc}
	ldd "$DLOCK" >/dev/null 2>&1 || skip "$DLOCK is static: no LD_PRELOAD"
	! ldd "$DLOCK" | grep -q libasan || skip "a sanitizer build loads no shim"
	command -v "$cc" >/dev/null || skip "no C compiler for the shim"
	cat >"$T/hang.c" <<'C'
#include <unistd.h>
int flock(int fd, int op)
{
	(void)fd;
	(void)op;
	for (;;)
		pause();
}
C
	"$cc" -shared -fPIC -o "$T/hang.so" "$T/hang.c"
}

# stuck OPTION...: three dlocks at once on one lock, each with the shim and
# the options, each bounded by timeout(1); their statuses, times and
# messages go to $T/out.N.
stuck() {
	local i
	for i in 1 2 3; do
		(
			start=$(now) rc=0
			LD_PRELOAD=$T/hang.so timeout -s KILL 30 "$DLOCK" -m flock \
				"$@" "$L" true 2>"$T/err.$i" || rc=$?
			echo "status=$rc took=$(awk -v s="$start" -v e="$(now)" \
				'BEGIN { printf "%.2f", e - s }')" >"$T/out.$i"
		) &
	done
	wait
}

@test "-w 1 with a call that never returns: each of three dlocks gives up about 4 s past the deadline, names the lock and exits 1" {
	build_shim
	stuck -w 1
	for i in 1 2 3; do
		read -r status took <"$T/out.$i"
		echo "$status $took: $(cat "$T/err.$i")" >&3
		[ "$status" = status=1 ]
		awk -v t="${took#took=}" 'BEGIN { exit !(t >= 4.5 && t < 9) }'
		grep -q "^dlock: $L: no answer from its filesystem 4 seconds after the deadline of -w" "$T/err.$i"
	done
}

@test "-n with a call that never returns does not hang: it gives up after 4 s; -E sets the status" {
	build_shim
	stuck -n -E 9
	for i in 1 2 3; do
		read -r status took <"$T/out.$i"
		echo "$status $took" >&3
		[ "$status" = status=9 ]
		awk -v t="${took#took=}" 'BEGIN { exit !(t >= 3.5 && t < 8) }'
		grep -q "after the single try of -n" "$T/err.$i"
	done
}

@test "without -w, the guard is not there: a wait for ever stays a wait, and the command never runs" {
	build_shim
	LD_PRELOAD=$T/hang.so timeout -s KILL 7 "$DLOCK" -m flock "$L" touch "$T/ran" 2>"$T/err" || status=$?
	[ "${status:-0}" -eq 137 ]
	[ ! -e "$T/ran" ]
}

@test "a lock taken in time is not given up when the command runs past the guard's time" {
	run timeout 20 "$DLOCK" -w 1 "$L" sleep 6
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}
