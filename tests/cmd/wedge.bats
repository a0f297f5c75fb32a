#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# No wedge after a kill at any instant: a lockfile or mkdir holder killed
# at any step of taking or releasing its lock leaves nothing that a waiter
# on this host must wait out, and nothing that outlives the next holder's
# clean release.  Figures (steps walked, rounds) go to the log.

# Each sh -c script expands its own arguments.
# shellcheck disable=SC2016

load helpers

can_strace() {
	command -v strace >/dev/null && strace -f -o /dev/null true 2>/dev/null
}

# What dlock may leave beside a lock for a moment; none of it may stay.
dlock_leftovers() {
	ls -A "$T/d"
}

# LeakSanitizer cannot work under ptrace: a sanitizer build traced here
# would fail at its exit for that alone.
untraced_leaks=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0

# kill_at CALL N METHOD STRACE-OPTIONS...: runs dlock -m METHOD on $T/d/L,
# SIGKILLed by strace as it enters its Nth CALL.  Succeeds if it was.
kill_at() {
	local call=$1 n=$2 method=$3
	shift 3
	{ ASAN_OPTIONS=$untraced_leaks timeout 20 strace -o "$T/trace" "$@" \
		-e inject="$call":signal=SIGKILL:when="$n" \
		"$DLOCK" -m "$method" "$T/d/L" true; } 2>/dev/null || true
	grep -q 'killed by SIGKILL' "$T/trace"
}

# under STRACE-OPTIONS... -- COMMAND...: COMMAND for at most 10 s, under
# strace with those options if any (the filesystem the killed holder saw).
under() {
	local opts=()
	while [ "$1" != -- ]; do
		opts+=("$1")
		shift
	done
	shift
	if [ "${#opts[@]}" -eq 0 ]; then
		timeout 10 "$@"
	else
		ASAN_OPTIONS=$untraced_leaks timeout 10 strace -o /dev/null \
		    "${opts[@]}" "$@"
	fi
}

# walk_kills METHOD CALLS STRACE-OPTIONS...: for each CALL of CALLS, and N
# from 1 until dlock no longer reaches an Nth CALL, kills a holder at its
# Nth CALL; then a waiter on this host must take the lock within a second,
# and once it has released it, nothing of dlock's may be left.  An intent
# or a wait's temporary file that the kill left empty (created, not yet
# written: only where there are no unnamed files) names no one: it goes
# once it is a second old, at the next process that comes.
walk_kills() {
	local method=$1 calls=$2 call n start steps=0 left
	shift 2
	can_strace || skip "strace cannot trace here"
	for call in $calls; do
		for ((n = 1; n < 100; n++)); do
			rm -rf "$T/d"
			mkdir "$T/d"
			kill_at "$call" "$n" "$method" "$@" || break
			steps=$((steps + 1))
			start=$(now)
			under "$@" -- "$DLOCK" -m "$method" -w 1 "$T/d/L" true ||
				{ echo "killed at $call #$n: the waiter did not get in" >&2; return 1; }
			within "$start" 0 1 ||
				{ echo "killed at $call #$n: the waiter took over a second" >&2; return 1; }
			left=$(dlock_leftovers)
			if { [ "$left" = L.intent ] || [ "$left" = L.wait.tmp ]; } &&
				[ ! -s "$T/d/$left" ]; then
				sleep 1.2
				under "$@" -- "$DLOCK" -m "$method" -w 1 "$T/d/L" true
			fi
			left=$(dlock_leftovers)
			[ -z "$left" ] ||
				{ echo "killed at $call #$n: left behind: $left" >&2; return 1; }
		done
	done
	echo "# $method: killed at $steps steps, a waiter got in within a second every time" >&3
	[ "$steps" -gt 10 ]
}

CALLS="mkdir openat link linkat write close unlink rmdir rename"

@test "mkdir: a holder killed at any step of taking or releasing leaves the lock to a waiter at once, and nothing behind" {
	walk_kills mkdir "$CALLS"
}

@test "lockfile: a holder killed at any step of taking or releasing leaves the lock to a waiter at once, and nothing behind" {
	walk_kills lockfile "$CALLS"
}

# Without unnamed files (O_TMPFILE: network filesystems), records are
# written under a name and linked into place.
NAMED=(-e inject=linkat:error=EOPNOTSUPP)
@test "mkdir without unnamed files: a holder killed at any step leaves the lock to a waiter at once, and nothing behind" {
	walk_kills mkdir "${CALLS/linkat/}" "${NAMED[@]}"
}

@test "lockfile without unnamed files: a holder killed at any step leaves the lock to a waiter at once, and nothing behind" {
	walk_kills lockfile "${CALLS/linkat/}" "${NAMED[@]}"
}

# Without hard links, the lock is created in place and written at once.
IN_PLACE=(-e "inject=link,linkat:error=EPERM")
@test "mkdir without hard links: a holder killed at any step leaves the lock to a waiter at once, and nothing behind" {
	walk_kills mkdir "mkdir openat write close unlink rmdir rename" "${IN_PLACE[@]}"
}

@test "lockfile without hard links: a holder killed at any step leaves the lock to a waiter at once, and nothing behind" {
	walk_kills lockfile "mkdir openat write close unlink rmdir rename" "${IN_PLACE[@]}"
}

# torture METHOD PROCS ROUNDS: each round, PROCS processes contend for the
# lock while random ones are SIGKILLed at random moments; then a waiter
# must get in within a second.  Nobody is ever inside with anyone else.
torture() {
	local method=$1 procs=$2 rounds=$3 r i pids victim start ok=0 killed=0
	: >"$T/bad"
	for ((r = 1; r <= rounds; r++)); do
		pids=()
		for ((i = 0; i < procs; i++)); do
			"$DLOCK" -m "$method" -w 10 "$L" sh -c '
				set -C
				: >"$1/inside" 2>/dev/null || echo overlap >>"$1/bad"
				rm -f "$1/inside"' sh "$T" &
			pids+=("$!")
		done
		for ((i = 0; i < procs / 2; i++)); do
			sleep "0.0$((RANDOM % 20))"
			victim=${pids[RANDOM % procs]}
			kill -KILL "$victim" 2>/dev/null && killed=$((killed + 1))
		done
		wait "${pids[@]}" 2>/dev/null || true
		rm -f "$T/inside"
		start=$(now)
		if timeout 10 "$DLOCK" -m "$method" -w 1 "$L" true && within "$start" 0 1; then
			ok=$((ok + 1))
		else
			echo "round $r: the waiter did not get in within a second" >>"$T/bad"
			ls -lA "$T" >>"$T/bad"
		fi
	done
	echo "# $method: $rounds rounds of $procs processes, $killed SIGKILLed; a waiter got in within a second in $ok" >&3
	cat "$T/bad"
	[ ! -s "$T/bad" ]
	[ "$ok" -eq "$rounds" ]
}

@test "mkdir: 8 processes SIGKILLed at random moments, 25 rounds: a waiter gets in within a second after every round" {
	torture mkdir 8 25
}

@test "lockfile: 8 processes SIGKILLed at random moments, 25 rounds: a waiter gets in within a second after every round" {
	torture lockfile 8 25
}

@test "mkdir: an empty directory made by plain mkdir, with no intent beside it, is still judged by its age" {
	local start
	mkdir "$L"
	run "$DLOCK" -m mkdir --stale 2 -n "$L" true
	[ "$status" -eq 1 ]
	run "$DLOCK" status -m mkdir --stale 2 "$L"
	[[ "$output" == *"no record yet"* ]]
	start=$(now)
	run timeout 10 "$DLOCK" -m mkdir --stale 2 -w 5 "$L" true
	[ "$status" -eq 0 ]
	within "$start" 1 5
}

@test "mkdir: the intent of a dead process beside a directory made later by someone else is not taken for its maker's" {
	local i
	can_strace || skip "strace cannot trace here"
	T_D=$T/d
	mkdir "$T_D"
	# Killed as it enters mkdir: its intent stands, the directory does not.
	(strace -o "$T/trace" -e inject=mkdir:signal=SIGKILL:when=1 \
		"$DLOCK" -m mkdir "$T_D/L" true) 2>/dev/null || true
	grep -q 'killed by SIGKILL' "$T/trace"
	[ -s "$T_D/L.intent" ]
	# Seconds later, a shell takes the lock its own way.
	touch -d "@$(($(date +%s) - 10))" "$T_D/L.intent"
	mkdir "$T_D/L"
	for i in 1 2 3 4; do
		{
			st=0
			"$DLOCK" -m mkdir -w 0.5 "$T_D/L" true || st=$?
			echo "$st" >"$T/status.$i"
		} &
	done
	wait
	for i in 1 2 3 4; do
		[ "$(cat "$T/status.$i")" -eq 1 ]
	done
	[ -d "$T_D/L" ]
	[ -z "$(ls -A "$T_D/L")" ]
	# The dead intent itself is cleared, being no one's.
	[ ! -e "$T_D/L.intent" ]
}

@test "mkdir: a directory with no record made just after the intent of a live process is being written, not stale" {
	local i maker
	mkdir -p "$T/d"
	# A live process of this host, with its start time: an intent it wrote.
	sleep 30 &
	maker=$!
	HOLDER_PIDS+=("$maker")
	printf 'dlock/1 method=mkdir pid=%d host=%s boot=%s pidns=%s start=%s time=%s nonce=%s\n' \
		"$maker" "$(uname -n)" "$(cat /proc/sys/kernel/random/boot_id)" \
		"$(stat -L -c %i /proc/self/ns/pid)" "$(awk '{ print $22 }' "/proc/$maker/stat")" \
		"$(date +%s)" 0123456789abcdef0123456789abcdef >"$T/d/L.intent"
	mkdir "$T/d/L"
	for i in 1 2 3 4; do
		"$DLOCK" -m mkdir --stale 1 -n "$T/d/L" true &
	done
	run "$DLOCK" -m mkdir --stale 1 -w 2 "$T/d/L" true
	[ "$status" -eq 1 ]
	wait "${!}" || true
	run "$DLOCK" status -m mkdir "$T/d/L"
	[[ "$output" == *"pid $maker is running"* ]]
	# Once it is gone, the lock is stale at once.
	kill "$maker"
	wait "$maker" 2>/dev/null || true
	run timeout 10 "$DLOCK" -m mkdir -w 1 "$T/d/L" true
	[ "$status" -eq 0 ]
	[ -z "$(ls -A "$T/d")" ]
}

@test "temporary files of dead processes are removed by the next process that breaks a stale lock; files that are not records stay" {
	local m
	can_strace || skip "strace cannot trace here"
	for m in lockfile mkdir; do
		rm -rf "$T/d"
		mkdir "$T/d"
		# A holder killed as it releases: a stale lock.
		{ strace -o /dev/null -e inject=unlink,rename:signal=SIGKILL:when=1 \
			"$DLOCK" -m "$m" "$T/d/L" true; } 2>/dev/null || true
		[ -e "$T/d/L" ]
		# Its record under the names a kill leaves, and two files of
		# someone else's that only look like them.
		if [ "$m" = mkdir ]; then cat "$T/d/L/owner"; else cat "$T/d/L"; fi >"$T/rec"
		cp "$T/rec" "$T/d/L.4242.0.tmp"
		cp "$T/rec" "$T/d/L.break.4242.1.tmp"
		: >"$T/d/L.4243.0.tmp"
		touch -d '-5 sec' "$T/d/L.4243.0.tmp"
		echo data >"$T/d/L.1.2.tmp"
		echo data >"$T/d/L.notes.tmp"
		for i in 1 2 3; do
			"$DLOCK" -m "$m" -w 2 "$T/d/L" true &
		done
		wait
		[ "$(cd "$T/d" && echo * .[!.]*)" = "L.1.2.tmp L.notes.tmp .[!.]*" ] ||
			{ echo "$m: $(ls -A "$T/d")"; false; }
	done
}
