#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# --max-time: the command holds the lock at most so long, then gets
# SIGTERM and, --kill-after seconds later, SIGKILL, with its process
# group; dlock exits 124, and releases the lock only once the command has
# exited.  Every wait is bounded.

load helpers
load stale_helpers
load lost_helpers

# timed_holder METHOD MODE OPTIONS...: a dlock with a time limit of 1 s
# and a grace of 1 s running victim.sh o for 30 s (MODE: "" or
# stubborn); returns once the command runs.
timed_holder() {
	local method=$1 mode=$2
	shift 2
	setsid timeout 60 "$DLOCK" -m "$method" --stale 3 --max-time 1 \
		--kill-after 1 "$@" "$L" bash "$VICTIM" "$T" o 30 \
		${mode:+"$mode"} 2>"$T/o.err" &
	HOLDER=$!
	HOLDER_PIDS+=("$HOLDER")
	wait_for test -s "$T/in.o"
	read -r SHELL_PID CHILD_PID _ <"$T/pids.o"
}

# waiters METHOD N: N waiters for the lock; once in, each notes in
# $T/doubles any process of the timed command still running, then runs
# occupy.sh briefly.
waiters() {
	local method=$1 n=$2 i
	WAITERS=()
	for ((i = 1; i <= n; i++)); do
		setsid timeout 30 "$DLOCK" -m "$method" --stale 3 -w 20 "$L" \
			bash -c '
				for p in "$2" "$3"; do
					s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
					s=${s##*) }
					[ "${s%% *}" = Z ] ||
						echo "$4 got in while $p ran" >>"$1/doubles"
				done
				exec bash "$5" "$1" "$4" 0.2 mark' sh \
			"$T" "$SHELL_PID" "$CHILD_PID" "w$i" "$OCCUPY" &
		HOLDER_PIDS+=("$!")
		WAITERS+=("$!")
	done
}

@test "--max-time ends a command that ignores SIGTERM, and its children, with SIGKILL after --kill-after; exit 124; waiters get in only after" {
	local method got took
	for method in lockfile mkdir flock fcntl; do
		rm -f "$T"/in.* "$T"/out.* "$T"/pids.* "$T"/doubles
		timed_holder "$method" stubborn
		waiters "$method" 3
		got=0
		wait "$HOLDER" || got=$?
		[ "$got" -eq 124 ] || { echo "$method: exit $got"; cat "$T/o.err"; false; }
		took=$(minus "$EPOCHREALTIME" "$(cat "$T/in.o")")
		grep -q "bash has held lock '$L' for its --max-time of 1 s: sending SIGTERM to the command" "$T/o.err"
		grep -q "bash still runs 1 s after SIGTERM: sending SIGKILL" "$T/o.err"
		wait_for gone "$SHELL_PID"
		wait_for gone "$CHILD_PID"
		[ ! -e "$T/out.o" ]
		holds "$took" ">=" 1.9 || { echo "$method: ended after $took s"; false; }
		holds "$took" "<" 4 || { echo "$method: ended after $took s"; false; }
		waiters_done 3
		figure "$method: --max-time 1 --kill-after 1, SIGTERM ignored: dlock exited $took s after the command started"
	done
}

@test "--max-time sends SIGTERM to the command's process group, and no SIGKILL when it ends" {
	local method got
	for method in lockfile flock; do
		rm -f "$T"/in.* "$T"/out.* "$T"/term.* "$T"/pids.* "$T"/doubles
		timed_holder "$method" ""
		waiters "$method" 3
		got=0
		wait "$HOLDER" || got=$?
		[ "$got" -eq 124 ]
		[ -s "$T/term.o" ]
		run grep -c SIGKILL "$T/o.err"
		[ "$output" = 0 ]
		wait_for gone "$CHILD_PID"
		waiters_done 3
	done
}

@test "a command that ends within --max-time gives its own status, and nothing is said" {
	run timeout 20 "$DLOCK" --max-time 5 "$L" sh -c 'exit 3'
	[ "$status" -eq 3 ]
	[ -z "$output" ]
	run timeout 20 "$DLOCK" -m lockfile --max-time 5 "$L.name" true
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ ! -e "$L.name" ]
}

@test "--max-time still ends the command when its wrapper was SIGKILLed: the keeper applies it, then releases" {
	local wrapper t_end
	rm -f "$T"/in.* "$T"/out.* "$T"/pids.* "$T"/doubles
	timed_holder lockfile stubborn
	read -r _ _ wrapper <"$T/pids.o"
	kill -KILL "$wrapper"
	waiters lockfile 3
	wait_long 10 gone "$SHELL_PID"
	wait_for gone "$CHILD_PID"
	t_end=$EPOCHREALTIME
	holds "$(minus "$t_end" "$(cat "$T/in.o")")" ">=" 1.9
	grep -q "sending SIGKILL" "$T/o.err"
	waiters_done 3
	[ ! -e "$L" ]
}
