#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# Stale lockfile and mkdir locks: a dead holder is taken over promptly, a
# live one never; a holder elsewhere keeps its lock by its lease, and loses
# it when the lease runs out.  Figures (rounds, takeover times) go to the
# log.

# Each test runs in a process of its own, and each sh -c script expands
# its own arguments.
# shellcheck disable=SC2016,SC2030,SC2031

load helpers
load stale_helpers

# torture VICTIM ROUNDS: ROUNDS times, while waiter b waits, holder a is
# SIGKILLed at a random moment of its critical section: its wrapper, its
# command, or both.  b must get in promptly, never while a's command runs,
# and never with anyone else inside.
torture() {
	local victim=$1 rounds=$2 r a b cmd wrapper t_kill t_in took mark=""
	local late=0 got
	[ "$victim" != wrapper ] || mark=mark
	: >"$T/takeovers"
	: >"$T/doubles"
	for ((r = 1; r <= rounds; r++)); do
		rm -f "$T"/in.* "$T"/out.* "$T"/pids.*
		occupant a 0.2 "$mark"
		a=$OCCUPANT
		wait_for test -s "$T/in.a"
		wait_for grep -q ' child=' "$L"
		occupant b 0 "$mark"
		b=$OCCUPANT
		sleep "$(random_seconds 200)"
		read -r cmd wrapper <"$T/pids.a"
		t_kill=$EPOCHREALTIME
		# The kill may come after a has ended: that is a moment too.
		case $victim in
		wrapper) kill -KILL "$wrapper" 2>/dev/null || true ;;
		command) kill -KILL "$cmd" 2>/dev/null || true ;;
		both)
			# Either order: the wrapper may see its command die and
			# begin to release before it dies itself.
			if ((RANDOM % 2)); then
				kill -KILL "$wrapper" "$cmd" 2>/dev/null || true
			else
				kill -KILL "$cmd" 2>/dev/null || true
				sleep "0.00$((RANDOM % 3))"
				kill -KILL "$wrapper" 2>/dev/null || true
			fi ;;
		esac
		wait_long 10 test -s "$T/in.b"
		t_in=$(cat "$T/in.b")
		if [ "$victim" = wrapper ]; then
			# The command outlives its wrapper and keeps the lock.
			[ -s "$T/out.a" ]
			holds "$t_in" ">" "$(cat "$T/out.a")" ||
				{ echo "round $r: b got in while a's command ran"; false; }
			took=$(minus "$t_in" "$(cat "$T/out.a")")
		elif [ "$victim" = command ]; then
			# The run ends with its command.  The kill may land after
			# the command's last step, or on the zombie it has become:
			# then it ended on its own, with 0, having done its part.
			got=0
			wait "$a" || got=$?
			case $got in
			137) took=$(minus "$t_in" "$t_kill") ;;
			0)
				[ -s "$T/out.a" ] ||
					{ echo "round $r: a exited 0 unfinished"; false; }
				took=
				late=$((late + 1)) ;;
			*) echo "round $r: a exited $got"; false ;;
			esac
		elif [ -s "$T/out.a" ] && holds "$(cat "$T/out.a")" "<" "$t_kill"; then
			# a had ended before the kill: nothing was taken over.
			took=
			late=$((late + 1))
		else
			took=$(minus "$t_in" "$t_kill")
		fi
		if [ -n "$took" ]; then
			echo "$took" >>"$T/takeovers"
			holds "$took" "<" 1 || { echo "round $r: took $took s"; false; }
		fi
		wait "$b" || { echo "round $r: b exited $?"; false; }
		end_job "$a" || true
		wait "$a" 2>/dev/null || true
		no_doubles
		[ ! -e "$L" ]
	done
	figure "SIGKILL $victim: $rounds rounds ($late after the holder had ended), $(wc -l <"$T/doubles") double holders; takeover $(min_median_max "$T/takeovers")"
}

@test "a wrapper SIGKILLed at random moments: its command keeps the lock, and a waiter gets in once the command ends" {
	torture wrapper 30
}

@test "a command SIGKILLed at random moments: its wrapper releases, and a waiter gets in at once" {
	torture command 30
}

@test "a wrapper and its command SIGKILLed at random moments: a waiter gets in at once, without waiting for the lease" {
	# The lease is the default 300 s: only the dead pids can free it.
	# shellcheck disable=SC2034 # read by occupant()
	LF=(-m lockfile)
	torture both 30
}

# race_dead_lock METHOD ROUNDS: ROUNDS times, a holder and its command are
# SIGKILLed, leaving a lock of dead pids; 16 waiters race to break it.
# Exactly one is inside at a time, all get in, and none breaks the lock of
# one that got in before it.  The lease is the default 300 s: only the
# dead pids can free it.
race_dead_lock() {
	local method=$1 rounds=$2 r i p t_kill first pids
	: >"$T/takeovers"
	: >"$T/doubles"
	for ((r = 1; r <= rounds; r++)); do
		rm -f "$T"/in.* "$T"/out.* "$T"/pids.*
		setsid timeout 30 "$DLOCK" -m "$method" "$L" sleep 100 &
		p=$!
		HOLDER_PIDS+=("$p")
		wait_for grep -qs ' child=' "$L" "$L/owner"
		t_kill=$EPOCHREALTIME
		end_job "$p"
		wait "$p" || true
		pids=()
		for ((i = 1; i <= 16; i++)); do
			setsid timeout 30 "$DLOCK" -m "$method" -w 20 "$L" \
				bash "$OCCUPY" "$T" "w$i" 0 mark &
			pids+=("$!")
			HOLDER_PIDS+=("$!")
		done
		for p in "${pids[@]}"; do
			wait "$p" || { echo "round $r: a waiter exited $?"; false; }
		done
		no_doubles
		[ "$(find "$T" -name 'in.w*' | wc -l)" -eq 16 ]
		first=$(cat "$T"/in.w* | sort -g | head -n 1)
		minus "$first" "$t_kill" >>"$T/takeovers"
		[ ! -e "$L" ]
		[ ! -e "$L.break" ]
	done
	figure "16 waiters breaking a dead $method lock: $rounds rounds, $(wc -l <"$T/doubles") double holders; first in $(min_median_max "$T/takeovers")"
}

@test "16 waiters racing to break a dead holder's lock get in one at a time, and all get in" {
	race_dead_lock lockfile 20
}

@test "16 waiters racing to break a dead holder's mkdir lock get in one at a time, and all get in" {
	race_dead_lock mkdir 5
}

@test "a wrapper killed just as its command starts still keeps the lock for the command" {
	local r
	for ((r = 1; r <= 10; r++)); do
		rm -f "$T/done" "$L"
		# The command kills its wrapper before anything else.
		run timeout 10 "$DLOCK" -m lockfile "$L" \
			sh -c 'kill -KILL $PPID; sleep 0.5; touch "$1"' sh "$T/done"
		run timeout 10 "$DLOCK" -m lockfile -n "$L" true
		if [ "$status" -eq 0 ] && [ ! -e "$T/done" ]; then
			echo "round $r: a waiter got in while the command ran"
			false
		fi
		wait_for test -e "$T/done"
	done
}

@test "a record naming a live pid with another start time is stale: the pid was reused" {
	sleeper
	write_record "$L" "$SLEEPER" "$(($(start_of "$SLEEPER") + 1))"
	run timeout 10 "$DLOCK" status -m lockfile "$L"
	[ "$status" -eq 0 ]
	[[ "$output" == *"dead: "*"pid $SLEEPER now belongs to another process"* ]]
	# The default lease: only the start time can make it stale.
	run timeout 10 "$DLOCK" -m lockfile -n "$L" touch "$T/ran"
	[ "$status" -eq 0 ]
	[ -e "$T/ran" ]
	[ ! -e "$L" ]
}

@test "a record naming a live process with its start time is not stale" {
	sleeper
	write_record "$L" "$SLEEPER" "$(start_of "$SLEEPER")"
	touch -d '-1 hour' "$L"
	cp "$L" "$T/before"
	run timeout 10 "$DLOCK" -m lockfile --stale 3 -n "$L" touch "$T/ran"
	[ "$status" -eq 1 ]
	[ ! -e "$T/ran" ]
	cmp "$L" "$T/before"
	run timeout 10 "$DLOCK" status -m lockfile --stale 3 "$L"
	[ "$status" -eq 0 ]
	[[ "$output" == *"alive: held on this host: pid $SLEEPER is running"* ]]
}

@test "a holder that has exited but is not yet reaped by its parent is dead" {
	# The inner sleep ends after its parent has become a sleep that
	# never reaps it.
	setsid sh -c 'sleep 0.2 & echo $! >"$1"; exec sleep 60' sh "$T/zombie" &
	HOLDER_PIDS+=("$!")
	wait_for test -s "$T/zombie"
	z=$(cat "$T/zombie")
	wait_for grep -q '^State:.Z' "/proc/$z/status"
	write_record "$L" "$z" "$(start_of "$z")"
	run timeout 10 "$DLOCK" status -m lockfile "$L"
	[[ "$output" == *"dead: "* ]]
	run timeout 10 "$DLOCK" -m lockfile -n "$L" true
	[ "$status" -eq 0 ]
	[ ! -e "$L" ]
}

@test "a breaker lock left by a dead process does not hold up breaking a stale lock" {
	write_record "$L" "$(a_dead_pid)" 1
	# A process that died while breaking: its own record, seconds old.
	write_record "$L.break" "$(a_dead_pid)" 1
	run timeout 10 "$DLOCK" -m lockfile -w 5 "$L" true
	[ "$status" -eq 0 ]
	[ ! -e "$L" ]
	[ ! -e "$L.break" ]
}

@test "a breaker lock of a live process is respected" {
	sleeper
	write_record "$L" "$(a_dead_pid)" 1
	write_record "$L.break" "$SLEEPER" "$(start_of "$SLEEPER")"
	run timeout 10 "$DLOCK" -m lockfile -w 1 "$L" true
	[ "$status" -eq 1 ]
	[ -e "$L" ]
	[ -e "$L.break" ]
}

@test "a lock of another host is never broken while its heartbeat runs" {
	local i
	other_host_occupant o 20 3
	wait_for test -s "$T/o.d/in.o"
	grep -q ' host=otherhost ' "$L"
	# 10 s, more than three leases, of attempts from this host.
	for ((i = 0; i < 20; i++)); do
		sleep 0.5
		run timeout 10 "$DLOCK" -m lockfile --stale 3 -n "$L" true
		[ "$status" -eq 1 ] || { echo "attempt $i got in"; false; }
	done
	run timeout 10 "$DLOCK" status -m lockfile --stale 3 "$L"
	[[ "$output" == *"unknown: held by pid "*" on otherhost, refreshed "* ]]
	figure "another host's lock with a running heartbeat: 20 attempts over 10 s, none got in"
}

@test "a lock of another host whose heartbeat stopped is taken over after its lease, not before" {
	local r o cmd wrapper keeper t_stop last t_in silence took
	: >"$T/takeovers"
	: >"$T/silences"
	for ((r = 1; r <= 4; r++)); do
		rm -rf "$T"/in.* "$T"/o.d
		other_host_occupant o 20 2
		o=$OCCUPANT
		wait_for test -s "$T/o.d/in.o"
		sleep 0.3
		read -r cmd wrapper < <(pids_of o "$T/o.d")
		keeper=$(keeper_of "$wrapper")
		# Stopping the wrapper and its keeper stops the heartbeat;
		# killing all three ends everything, which from here looks
		# the same.
		t_stop=$EPOCHREALTIME
		if ((r % 2)); then
			kill -STOP "$wrapper" "$keeper"
		else
			kill -KILL "$wrapper" "$keeper" "$cmd"
		fi
		last=$(stat -c %.9Y "$L")
		occupant w 0 "" --stale 2
		wait_long 10 test -s "$T/in.w"
		t_in=$(cat "$T/in.w")
		silence=$(minus "$t_in" "$last")
		took=$(minus "$t_in" "$t_stop")
		echo "$took" >>"$T/takeovers"
		echo "$silence" >>"$T/silences"
		holds "$silence" ">=" 1.95 || { echo "round $r: in after $silence s of silence"; false; }
		holds "$took" "<=" 4 || { echo "round $r: took $took s"; false; }
		wait "$OCCUPANT"
		end_job "$o" || true
		wait "$o" 2>/dev/null || true
	done
	figure "another host's silent lock, lease 2 s: 4 rounds; takeover after the heartbeat stopped $(min_median_max "$T/takeovers")"
	figure "  ... after the last heartbeat $(min_median_max "$T/silences")"
}

@test "a holder paused past its lease loses the lock: it says so when it ends, and leaves its successor's lock" {
	local o cmd wrapper keeper got nonce
	other_host_occupant o 3 2
	o=$OCCUPANT
	wait_for test -s "$T/o.d/in.o"
	read -r cmd wrapper < <(pids_of o "$T/o.d")
	keeper=$(keeper_of "$wrapper")
	kill -STOP "$wrapper" "$keeper"
	occupant w 2 "" --stale 2
	wait_long 10 test -s "$T/in.w"
	nonce=$(nonce_in "$L")
	[ -n "$nonce" ]
	grep -q " host=$(this_host) " "$L"
	kill -CONT "$keeper" "$wrapper"
	got=0
	wait "$o" || got=$?
	[ "$got" -ne 0 ]
	grep -q 'lost' "$T/o.err"
	# The successor is still inside, and its lock is still its own.
	[ ! -e "$T/out.w" ]
	[ "$(nonce_in "$L")" = "$nonce" ]
	wait "$OCCUPANT"
	[ ! -e "$L" ]
}

# check_legacy WRITER...: a record written by WRITER at $L (a peer tool,
# or printf) names no host, so only its age can make it stale.
check_legacy() {
	rm -f "$T/ran"
	"$@"
	[ -e "$L" ]
	run timeout 10 "$DLOCK" -m lockfile --stale 3 -n "$L" touch "$T/ran"
	[ "$status" -eq 1 ]
	[ ! -e "$T/ran" ]
	touch -d '-10 seconds' "$L"
	run timeout 10 "$DLOCK" -m lockfile --stale 3 -n "$L" touch "$T/ran"
	[ "$status" -eq 0 ]
	[ -e "$T/ran" ]
	[ ! -e "$L" ]
}

@test "a bare pid record (dotlockfile -p) goes stale by its age alone" {
	# A dead pid does not make it stale, nor a live one keep it.
	check_legacy sh -c 'echo "$1" >"$2"' sh "$(a_dead_pid)" "$L"
	check_legacy sh -c 'echo "$1" >"$2"' sh "$$" "$L"
	if command -v dotlockfile >/dev/null; then
		check_legacy dotlockfile -p "$L"
	fi
}

@test "a \"0\" record (procmail lockfile, lockfile-progs) goes stale by its age alone" {
	check_legacy sh -c 'printf 0 >"$1"' sh "$L"
	check_legacy sh -c 'printf "0\n" >"$1"' sh "$L"
	if command -v lockfile >/dev/null; then
		check_legacy lockfile -r 0 "$L"
	fi
	if command -v lockfile-create >/dev/null; then
		check_legacy lockfile-create --retry 0 --lock-name "$L"
	fi
}

@test "an empty record goes stale by its age alone" {
	check_legacy touch "$L"
}
