#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# A call on the lock's filesystem that does not return, as on a hard NFS
# mount whose server has stopped answering: with -w or -n, dlock gives up
# a few seconds past its deadline, says why and exits with the timeout
# status, however long the call would go on.  tests/fault/fault.c makes
# the kernel lock calls hang (a seccomp filter hands them to a listener
# that never answers); the NFS tier (tests/nfs/server_pause.bats) does the
# same with a real server.

load helpers

FAULT=${DLOCK_FAULT:-$BATS_TEST_DIRNAME/../../build/fault}

need_fault() {
	[ -x "$FAULT" ] || skip "no fault injector at $FAULT (make $FAULT)"
}

# stuck OPTION...: three dlocks at once on one lock, their lock calls made
# to hang, each with the options, each bounded by timeout(1); their statuses, times and
# messages go to $T/out.N.
stuck() {
	local i
	for i in 1 2 3; do
		(
			start=$(now) rc=0
			timeout -s KILL 30 "$FAULT" hang "$DLOCK" -m flock \
				"$@" "$L" true 2>"$T/err.$i" || rc=$?
			echo "status=$rc took=$(awk -v s="$start" -v e="$(now)" \
				'BEGIN { printf "%.2f", e - s }')" >"$T/out.$i"
		) &
	done
	wait
}

# gave_up STATUS LOW HIGH TEXT: each of the three ended with STATUS, between
# LOW and HIGH seconds after it started, and said TEXT (a grep pattern).
gave_up() {
	local want=$1 low=$2 high=$3 text=$4 i status took
	for i in 1 2 3; do
		read -r status took <"$T/out.$i"
		echo "$status $took: $(cat "$T/err.$i")" >&3
		[ "$status" = "status=$want" ]
		awk -v t="${took#took=}" -v lo="$low" -v hi="$high" \
		    'BEGIN { exit !(t >= lo && t < hi) }'
		grep -q "$text" "$T/err.$i"
	done
}

@test "-w 1 with a call that never returns: each of three dlocks gives up about 4 s past the deadline, names the lock and exits 1" {
	need_fault
	stuck -w 1
	gave_up 1 4.5 9 "^dlock: $L: no answer from its filesystem 4 seconds after the deadline of -w"
}

@test "-n with a call that never returns does not hang: it gives up after 4 s; -E sets the status" {
	need_fault
	stuck -n -E 9
	gave_up 9 3.5 8 "after the single try of -n"
}

@test "without -w, the guard is not there: a wait for ever stays a wait, and the command never runs" {
	need_fault
	timeout -s KILL 7 "$FAULT" hang "$DLOCK" -m flock "$L" touch "$T/ran" 2>"$T/err" || status=$?
	[ "${status:-0}" -eq 137 ]
	[ ! -e "$T/ran" ]
}

@test "a lock taken in time is not given up when the command runs past the guard's time: every method, a waiter behind each" {
	local m
	for m in flock fcntl lockfile mkdir; do
		(
			rc=0
			timeout -s KILL 20 "$DLOCK" -m "$m" -w 0.5 "$L.$m" sh -c \
			    'touch "$1"; sleep 5' sh "$T/in.$m" 2>"$T/err.$m" || rc=$?
			echo "$rc" >"$T/first.$m"
		) &
		(
			rc=0
			wait_for test -e "$T/in.$m"
			timeout -s KILL 20 "$DLOCK" -m "$m" -w 15 "$L.$m" true \
			    2>"$T/err2.$m" || rc=$?
			echo "$rc" >"$T/second.$m"
		) &
	done
	wait
	for m in flock fcntl lockfile mkdir; do
		echo "$m: first $(cat "$T/first.$m"), second $(cat "$T/second.$m"): $(cat "$T/err.$m" "$T/err2.$m")" >&3
		[ "$(cat "$T/first.$m")" = 0 ] && [ "$(cat "$T/second.$m")" = 0 ]
		[ ! -s "$T/err.$m" ] && [ ! -s "$T/err2.$m" ]
	done
}
