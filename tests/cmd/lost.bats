#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# A lock lost while its command runs (--on-lost, --kill-after), and the
# keeper that refreshes the lease when the wrapper is gone.  The holder is
# on a host of its own (a UTS namespace named otherhost), so that the
# waiters here can judge its lock only by the lease, as another host
# would.  Every wait is bounded.

load helpers
load stale_helpers
load lost_helpers

LEASE=3

# lost_holder METHOD NAME HOLD MODE [OPTIONS...]: starts, on otherhost, a
# dlock holding $L by METHOD with a lease of $LEASE s for victim.sh NAME
# HOLD MODE; returns once the command runs.  Its stderr goes to
# $T/NAME.err; its pid (the job's) is in $HOLDER.
lost_holder() {
	local method=$1 name=$2 hold=$3 mode=$4
	shift 4
	setsid timeout 60 unshare --uts --fork sh -c \
		'hostname otherhost && exec "$@"' sh \
		"$DLOCK" -m "$method" --stale "$LEASE" --heartbeat 0.5 "$@" \
		"$L" bash "$VICTIM" "$T" "$name" "$hold" ${mode:+"$mode"} \
		2>"$T/$name.err" &
	HOLDER=$!
	HOLDER_PIDS+=("$HOLDER")
	wait_for test -s "$T/in.$name"
	read -r SHELL_PID CHILD_PID WRAPPER_PID <"$T/pids.$name"
	wait_for keeper_of "$WRAPPER_PID" >/dev/null
	KEEPER_PID=$(keeper_of "$WRAPPER_PID")
}

# waiters METHOD N HOLD: N waiters here, each running occupy.sh for HOLD
# seconds under the lock once it is theirs (waiting 20 s at most).
waiters() {
	local method=$1 n=$2 hold=$3 i
	for ((i = 1; i <= n; i++)); do
		setsid timeout 30 "$DLOCK" -m "$method" --stale "$LEASE" \
			--heartbeat 0.5 -w 20 "$L" \
			bash "$OCCUPY" "$T" "w$i" "$hold" mark 2>"$T/w$i.err" &
		HOLDER_PIDS+=("$!")
		WAITERS+=("$!")
	done
}

# lease_mtime: the time of the last refresh, the mtime of the record.
lease_mtime() {
	if [ -d "$L" ]; then
		stat -c %.9Y "$L/owner"
	else
		stat -c %.9Y "$L"
	fi
}

# ended_at PID...: waits (10 s at most) until every PID is gone; prints
# the time the last one was seen gone.
ended_at() {
	local pid
	for pid in "$@"; do
		wait_long 10 gone "$pid" || return 1
	done
	echo "$EPOCHREALTIME"
}

# paused_past_lease METHOD MODE OPTIONS...: the holder (wrapper, keeper
# and command) is stopped past its lease while 3 waiters wait; the first
# breaks the lock and gets in; then the holder resumes.  Leaves the times
# in T_IN (first waiter in), T_CONT (resumed), T_END (old command gone).
paused_past_lease() {
	local method=$1 mode=$2
	shift 2
	WAITERS=()
	lost_holder "$method" o 60 "$mode" "$@"
	kill -STOP "$WRAPPER_PID" "$KEEPER_PID" "$SHELL_PID" "$CHILD_PID"
	waiters "$method" 3 0.3
	wait_long 15 compgen -G "$T/in.w*" >/dev/null
	T_IN=$(first_in)
	T_CONT=$EPOCHREALTIME
	kill -CONT "$CHILD_PID" "$SHELL_PID" "$KEEPER_PID" "$WRAPPER_PID"
	T_END=$(ended_at "$SHELL_PID" "$CHILD_PID")
}

@test "a holder paused past its lease: on resuming, its command and the command's children get SIGTERM, and dlock exits 71" {
	local method status_o
	for method in lockfile mkdir; do
		rm -f "$T"/in.* "$T"/out.* "$T"/term.* "$T"/pids.* "$T"/doubles
		paused_past_lease "$method" ""
		status_o=0
		wait "$HOLDER" || status_o=$?
		[ "$status_o" -eq 71 ] || { cat "$T/o.err"; false; }
		grep -q "lost lock '$L'.*sending SIGTERM to the command" "$T/o.err"
		[ "$(grep -c . "$T/o.err")" -eq 1 ] || { cat "$T/o.err"; false; }
		[ -s "$T/term.o" ]
		[ ! -e "$T/out.o" ]
		waiters_done 3
		[ ! -e "$L" ]
		wait_for gone "$KEEPER_PID"
		figure "$method: old command ended $(minus "$T_END" "$T_IN") s after the new holder got in, $(minus "$T_END" "$T_CONT") s after resuming"
	done
}

@test "a paused holder whose command ignores SIGTERM: SIGKILL follows after --kill-after" {
	local method status_o took
	for method in lockfile mkdir; do
		rm -f "$T"/in.* "$T"/out.* "$T"/term.* "$T"/pids.* "$T"/doubles
		paused_past_lease "$method" stubborn --kill-after 1
		status_o=0
		wait "$HOLDER" || status_o=$?
		[ "$status_o" -eq 71 ]
		grep -q "sending SIGTERM" "$T/o.err"
		grep -q "still runs 1 s after SIGTERM: sending SIGKILL" "$T/o.err"
		took=$(minus "$T_END" "$T_CONT")
		holds "$took" ">=" 0.9 || { echo "ended after $took s"; false; }
		holds "$took" "<" 3 || { echo "ended after $took s"; false; }
		waiters_done 3
		figure "$method, SIGTERM ignored, --kill-after 1: old command ended $(minus "$T_END" "$T_IN") s after the new holder got in, $took s after resuming"
	done
}

@test "a refresh that does not return: the command is ended before the lease runs out, and before any waiter gets in" {
	local method status_o last before_lease
	for method in lockfile mkdir; do
		rm -f "$T"/in.* "$T"/out.* "$T"/term.* "$T"/pids.* "$T"/doubles
		WAITERS=()
		lost_holder "$method" o 60 ""
		# The keeper stuck in a call to a file server that does not
		# answer, as on a hard NFS mount: it no longer refreshes.
		kill -STOP "$KEEPER_PID"
		last=$(lease_mtime)
		waiters "$method" 3 0.3
		T_END=$(ended_at "$SHELL_PID" "$CHILD_PID")
		status_o=0
		wait "$HOLDER" || status_o=$?
		[ "$status_o" -eq 71 ]
		grep -q "lost lock '$L': no refresh of its lease got through for" "$T/o.err"
		before_lease=$(minus "$(minus "$last" -"$LEASE")" "$T_END")
		holds "$before_lease" ">" 0 || { echo "ended $before_lease s before the lease ran out"; false; }
		kill -CONT "$KEEPER_PID" 2>/dev/null || true
		waiters_done 3
		holds "$(first_in)" ">" "$(cat "$T/term.o")"
		figure "$method: command ended $(minus "$T_END" "$last") s after the last refresh, $before_lease s before the lease of $LEASE s ran out"
	done
}

@test "a lock broken under a running command: the line names the new holder, and the command is ended within a heartbeat" {
	local method status_o t_broken took
	for method in lockfile mkdir; do
		rm -f "$T"/in.* "$T"/out.* "$T"/term.* "$T"/pids.*
		lost_holder "$method" o 60 ""
		sleeper
		RECORD_METHOD=$method write_record "$T/new" "$SLEEPER" \
			"$(start_of "$SLEEPER")"
		if [ "$method" = mkdir ]; then
			mv "$T/new" "$L/owner"
		else
			mv "$T/new" "$L"
		fi
		t_broken=$EPOCHREALTIME
		T_END=$(ended_at "$SHELL_PID" "$CHILD_PID")
		status_o=0
		wait "$HOLDER" || status_o=$?
		[ "$status_o" -eq 71 ]
		grep -q "lost lock '$L': it was broken, and pid $SLEEPER on host $(this_host) has held it since" "$T/o.err"
		took=$(minus "$T_END" "$t_broken")
		holds "$took" "<" 2 || { echo "ended after $took s"; false; }
		# Never the other's lock: it is still there.
		grep -q "pid=$SLEEPER " "$L" "$L/owner" 2>/dev/null
		rm -rf "$L"
		figure "$method: command ended $took s after its lock was broken"
	done
}

@test "--on-lost=ignore: the command runs to its end, and dlock exits 71" {
	local method status_o
	for method in lockfile mkdir; do
		rm -f "$T"/in.* "$T"/out.* "$T"/term.* "$T"/pids.* "$T"/doubles
		WAITERS=()
		lost_holder "$method" o 6 "" --on-lost=ignore
		kill -STOP "$WRAPPER_PID" "$KEEPER_PID"
		waiters "$method" 3 0.3
		wait_long 15 compgen -G "$T/in.w*" >/dev/null
		kill -CONT "$KEEPER_PID" "$WRAPPER_PID"
		status_o=0
		wait "$HOLDER" || status_o=$?
		[ "$status_o" -eq 71 ]
		grep -q "lost lock '$L'.*--on-lost=ignore: the command runs on" "$T/o.err"
		# The command ran to its end.
		[ -s "$T/out.o" ]
		waiters_done 3
	done
}

@test "--on-lost=kill: SIGKILL at once" {
	local status_o
	rm -f "$T"/in.* "$T"/out.* "$T"/term.* "$T"/pids.* "$T"/doubles
	paused_past_lease lockfile stubborn --on-lost=kill
	status_o=0
	wait "$HOLDER" || status_o=$?
	[ "$status_o" -eq 71 ]
	grep -q "sending SIGKILL to the command" "$T/o.err"
	run grep -c SIGTERM "$T/o.err"
	[ "$output" = 0 ]
	holds "$(minus "$T_END" "$T_CONT")" "<" 1
	waiters_done 3
}

@test "a wrapper SIGKILLed mid-command: its keeper keeps the lease while the command runs, then releases at once" {
	local method t_kill m1 m2 t_out took
	for method in lockfile mkdir; do
		rm -f "$T"/in.* "$T"/out.* "$T"/term.* "$T"/pids.* "$T"/doubles
		WAITERS=()
		lost_holder "$method" o 5 ""
		kill -KILL "$WRAPPER_PID"
		t_kill=$EPOCHREALTIME
		waiters "$method" 3 0.3
		# The lease is 3 s: the waiters would be in after it unless
		# it is refreshed.
		m1=$(lease_mtime)
		sleep 1.2
		m2=$(lease_mtime)
		holds "$m2" ">" "$m1" || { echo "not refreshed: $m1 $m2"; false; }
		wait_long 10 test -s "$T/out.o"
		t_out=$(cat "$T/out.o")
		waiters_done 3
		holds "$(first_in)" ">=" "$t_out"
		took=$(minus "$(first_in)" "$t_out")
		holds "$took" "<" 1 || { echo "in $took s after the command ended"; false; }
		wait_for gone "$KEEPER_PID"
		[ ! -e "$L" ]
		figure "$method: wrapper killed; no waiter in for $(minus "$t_out" "$t_kill") s while the command ran; first in $took s after it ended"
	done
}

@test "a wrapper stopped past the lease while its keeper refreshes: no loss, and the command's own status" {
	local method status_o
	for method in lockfile mkdir; do
		rm -f "$T"/in.* "$T"/out.* "$T"/term.* "$T"/pids.* "$T"/doubles
		WAITERS=()
		lost_holder "$method" o 5 ""
		kill -STOP "$WRAPPER_PID"
		waiters "$method" 3 0.2
		sleep 3.5
		kill -CONT "$WRAPPER_PID"
		status_o=0
		wait "$HOLDER" || status_o=$?
		[ "$status_o" -eq 0 ] || { cat "$T/o.err"; false; }
		[ ! -s "$T/o.err" ]
		[ -s "$T/out.o" ]
		waiters_done 3
		holds "$(first_in)" ">=" "$(cat "$T/out.o")"
	done
}

@test "the keeper is in a process group of its own, and the command in another" {
	lost_holder lockfile o 60 ""
	[ "$(ps -o pgid= -p "$KEEPER_PID" | tr -d ' ')" -eq "$KEEPER_PID" ]
	[ "$(ps -o pgid= -p "$SHELL_PID" | tr -d ' ')" -eq "$SHELL_PID" ]
	[ "$(ps -o pgid= -p "$CHILD_PID" | tr -d ' ')" -eq "$SHELL_PID" ]
	# A signal to the wrapper's group reaches neither.
	kill -KILL -- "-$(ps -o pgid= -p "$WRAPPER_PID" | tr -d ' ')"
	sleep 0.3
	kill -0 "$KEEPER_PID"
	kill -0 "$SHELL_PID"
	# The keeper ends when the command does.
	kill -KILL "$SHELL_PID" "$CHILD_PID"
	wait_for gone "$KEEPER_PID"
	wait_for test ! -e "$L"
}

@test "under a terminal, the command stays in the job's process group, so that Ctrl-C reaches it" {
	local method cmd_group dlock_group
	command -v script >/dev/null || skip "no script(1) to give dlock a terminal"
	for method in lockfile flock; do
		rm -f "$T/pgids"
		# ^C once the command has noted its group and dlock's. script(1)
		# runs the line with $SHELL, which must be bash: dash, in the
		# same foreground group, dies of the ^C before it can echo rc.
		{
			wait_for test -s "$T/pgids"
			printf '\003'
			sleep 2
		} | SHELL=$BASH timeout 20 script -qec "'$DLOCK' -m $method '$L.$method' \
			sh -c 'echo \$(ps -o pgid= -p \$\$) \$(ps -o pgid= -p \$PPID) >\"\$1\"; sleep 30' sh '$T/pgids'; echo rc=\$?" \
			/dev/null >"$T/tty.out"
		grep -q "rc=130" "$T/tty.out" || { cat "$T/tty.out"; false; }
		read -r cmd_group dlock_group <"$T/pgids"
		[ "$cmd_group" = "$dlock_group" ]
	done
}

@test "--on-lost, --kill-after and --max-time refuse bad values, quoting them" {
	run "$DLOCK" --on-lost=later "$L" true
	[ "$status" -eq 64 ]
	[[ "${lines[0]}" == "dlock: --on-lost 'later': the actions are term, kill and ignore" ]]
	run "$DLOCK" --kill-after -1 "$L" true
	[ "$status" -eq 64 ]
	[[ "${lines[0]}" == "dlock: --kill-after '-1': "* ]]
	run "$DLOCK" --kill-after 5x "$L" true
	[ "$status" -eq 64 ]
	[[ "${lines[0]}" == "dlock: --kill-after '5x': not a number of seconds" ]]
	run "$DLOCK" --max-time 0 "$L" true
	[ "$status" -eq 64 ]
	[[ "${lines[0]}" == "dlock: --max-time '0': must be more than 0" ]]
	run "$DLOCK" --max-time 1e10 "$L" true
	[ "$status" -eq 64 ]
	[[ "${lines[0]}" == "dlock: --max-time '1e10': out of range"* ]]
	run "$DLOCK" --max-time 1 -F "$L" true
	[ "$status" -eq 64 ]
	[ ! -e "$L" ]
}
