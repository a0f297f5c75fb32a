#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# Fair waiting, --fair: waiters are served in the order they came, for
# every method; one that gives up or is killed never stalls those behind
# it; and a handoff costs as many filesystem operations with 32 waiters as
# with 4.  The service order and the operation counts are printed as "# "
# lines for the record.
#
# shellcheck disable=SC2016 # the sh -c scripts expand in the inner shell

load helpers

# The shared teardown, kept under another name, then the waiters too.
eval "shared_$(declare -f teardown)"
teardown() {
	local pid
	for pid in "${WAITERS[@]}"; do
		kill -KILL -- "-$pid" 2>/dev/null || true
	done
	shared_teardown
}

note() {
	echo "# $*" >&3
}

# The tickets in the queue: its names of exactly twelve digits.
tickets() {
	find "$L.queue" -maxdepth 1 -name '[0-9]*' 2>/dev/null |
	    grep -c '/[0-9]\{12\}$' || true
}

tickets_are() {
	[ "$(tickets)" -eq "$1" ]
}

# queue_waiter NAME OPTIONS...: a waiter that, once in, appends NAME to
# $T/order (and stays HOLD seconds, 0 unless set); the new one has joined
# the queue when it returns.
queue_waiter() {
	local name=$1 before
	shift
	before=$(tickets)
	setsid timeout -k 5 60 "$DLOCK" --fair "$@" "$L" \
	    sh -c 'echo "$1" >>"$2"; sleep "$3"' sh "$name" "$T/order" "${HOLD:-0}" &
	WAITERS+=("$!")
	wait_for tickets_are $((before + 1))
}

# queue_ten OPTIONS...: ten waiters queued one after the other behind the
# holders, which then go; $order is the order they were served in.
queue_ten() {
	local i
	for ((i = 1; i <= 10; i++)); do
		queue_waiter "$i" "$@" -w 30
	done
	release_holders
	for i in "${WAITERS[@]}"; do
		wait "$i"
	done
	order=$(tr '\n' ' ' <"$T/order")
}

check_order() {
	local method=$1
	WAITERS=()
	hold --fair -m "$method"
	queue_ten -m "$method"
	note "$method: 10 waiters queued in order 1..10 were served in order: $order"
	[ "$order" = "1 2 3 4 5 6 7 8 9 10 " ]
	tickets_are 0
}

@test "fcntl: 10 queued waiters are served exactly in the order they came" {
	check_order fcntl
}

@test "flock: 10 queued waiters are served exactly in the order they came" {
	check_order flock
}

@test "lockfile: 10 queued waiters are served exactly in the order they came" {
	check_order lockfile
}

@test "mkdir: 10 queued waiters are served exactly in the order they came" {
	check_order mkdir
}

@test "auto, with --slots 2: 10 queued waiters enter in the order they came" {
	WAITERS=()
	hold --fair --slots 2
	hold --fair --slots 2
	HOLD=0.3 queue_ten --slots 2
	note "auto --slots 2: served in order: $order"
	[ "$(wc -l <"$T/order")" -eq 10 ]
	# Two slots: a waiter may note its name before the one let in just
	# ahead of it, never before one two places ahead, which had to leave
	# (after 0.3 s inside) to make room.
	awk '{ if (NR > 2 && $1 < prev2) bad = 1; prev2 = prev1; prev1 = $1 }
		END { exit bad }' <"$T/order"
}

@test "a queued waiter that times out (-w) leaves the queue and does not stall the ones behind it" {
	local i s
	WAITERS=()
	hold --fair -m lockfile
	queue_waiter 1 -m lockfile -w 30
	queue_waiter 2 -m lockfile -w 0.5
	queue_waiter 3 -m lockfile -w 30
	s=0
	wait "${WAITERS[1]}" || s=$?
	[ "$s" -eq 1 ]
	tickets_are 2
	release_holders
	wait "${WAITERS[0]}"
	wait "${WAITERS[2]}"
	note "after waiter 2 timed out: served $(tr '\n' ' ' <"$T/order")"
	[ "$(tr '\n' ' ' <"$T/order")" = "1 3 " ]
	tickets_are 0
}

@test "a queued waiter that is SIGKILLed does not stall the ones behind it, and its ticket is removed" {
	local method
	for method in fcntl lockfile; do
		WAITERS=()
		rm -f "$T/order"
		L=$T/lock.$method
		hold --fair -m "$method"
		queue_waiter 1 -m "$method" -w 30
		queue_waiter 2 -m "$method" -w 30
		queue_waiter 3 -m "$method" -w 30
		kill -KILL -- "-${WAITERS[1]}"
		wait "${WAITERS[1]}" || true
		# Its successor finds it dead and removes its ticket, while
		# the holder still holds.
		wait_for tickets_are 2
		[ "$(tr '\n' ' ' <"$T/order" 2>/dev/null)" = "" ]
		# The holder goes too (so a lockfile is left to break).
		kill -KILL -- "-${HOLDER_PIDS[0]}"
		wait "${WAITERS[0]}"
		wait "${WAITERS[2]}"
		note "$method: after waiter 2 was killed: served $(tr '\n' ' ' <"$T/order")"
		[ "$(tr '\n' ' ' <"$T/order")" = "1 3 " ]
		tickets_are 0
		release_holders
	done
}

@test "--fair is refused with a descriptor (64)" {
	run "$DLOCK" --fair 3
	[ "$status" -eq 64 ]
	[[ ${lines[0]} == "dlock: --slots and --fair lock a path, not a descriptor" ]]
}

# ops_per_handoff METHOD WAITERS [--fair]: the filesystem operations
# (system calls on paths, directory reads, kernel lock calls) per handoff
# of WAITERS waiters, queued behind a holder, from the holder's release
# until all were served: strace -f -c attaches to them once they wait.
# Each handoff includes the waiter's release, its command (true) and its
# exit, which are the same however many wait.
ops_per_handoff() {
	local method=$1 n=$2 fair=${3:-} i pids=() attach=() calls
	L=$T/lock.$method.$n$fair
	# shellcheck disable=SC2086 # $fair is one option or none
	hold -m "$method" $fair
	for ((i = 0; i < n; i++)); do
		# shellcheck disable=SC2086
		setsid timeout -k 5 120 "$DLOCK" $fair -m "$method" -w 100 "$L" true &
		WAITERS+=("$!")
		pids+=("$!")
	done
	if [ -n "$fair" ]; then
		wait_long 60 tickets_are "$n"
	else
		# Those that poll have begun to.
		wait_long 60 sh -c '[ "$(pgrep -c -f -- "-w 100 $1 true")" -ge "$2" ]' sh "$L" $((n * 2))
		sleep 0.5
	fi
	for i in "${pids[@]}"; do
		attach+=(-p "$(pgrep -P "$i")")
	done
	strace -f -c -o "$T/strace.$n$fair" -e trace=%file,getdents64,flock,fcntl \
	    "${attach[@]}" 2>"$T/attached.$n$fair" &
	local tracer=$!
	wait_long 30 sh -c '[ "$(grep -c attached "$1")" -ge "$2" ]' sh "$T/attached.$n$fair" "$n"
	release_holders
	for i in "${pids[@]}"; do
		wait "$i"
	done
	wait "$tracer"
	calls=$(awk '$NF == "total" { print $4 }' "$T/strace.$n$fair")
	awk -v c="$calls" -v n="$n" 'BEGIN { printf "%.1f", c / n }'
}

@test "with --fair, the filesystem operations per handoff do not grow with the number of waiters (4, 16, 32)" {
	need_or_skip strace
	local method n fair line f4 f32
	WAITERS=()
	for method in lockfile fcntl; do
		for fair in "" --fair; do
			line="$method${fair:+ $fair}: operations per handoff:"
			for n in 4 16 32; do
				v=$(ops_per_handoff "$method" "$n" "$fair")
				line="$line $n waiters $v;"
				if [ -n "$fair" ] && [ "$n" = 4 ]; then f4=$v; fi
				if [ -n "$fair" ] && [ "$n" = 32 ]; then f32=$v; fi
			done
			note "$line"
		done
		# Within a half of the 4-waiter figure (or a few operations of
		# it), whatever the load.
		awk -v a="$f4" -v b="$f32" 'BEGIN { exit !(b <= a * 1.5 + 5) }'
	done
}

@test "a queued waiter ended by SIGTERM dies of it, removes its ticket and does not stall the one behind it" {
	local s=0
	WAITERS=()
	hold --fair -m fcntl
	queue_waiter 1 -m fcntl -w 30
	queue_waiter 2 -m fcntl -w 30
	# The dlock under setsid and timeout: the waiter itself.
	kill -TERM "$(pgrep -P "${WAITERS[0]}")"
	wait "${WAITERS[0]}" || s=$?
	[ "$s" -eq $((128 + 15)) ]
	tickets_are 1
	release_holders
	wait "${WAITERS[1]}"
	[ "$(tr '\n' ' ' <"$T/order")" = "2 " ]
}
