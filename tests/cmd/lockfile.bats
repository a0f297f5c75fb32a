#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# The lockfile method: the lock is the file LOCKPATH, holding its owner
# record, published whole, removed only by its holder, and nothing else
# is ever left beside it.

# Commands for sh -c are in single quotes on purpose; and bats runs each
# test in a subshell, which shellcheck takes for changes that get lost.
# shellcheck disable=SC2016,SC2030,SC2031,SC2153

load helpers
bats_require_minimum_version 1.5.0
# For namelock_helpers.bash, which defines RECORD for us.
# shellcheck disable=SC2034
METHOD='lockfile'
# shellcheck disable=SC2034
ATTEMPT_CALL='link(at)?'
load namelock_helpers

@test "a held lockfile lock is the file LOCKPATH holding one complete record" {
	hold -m lockfile
	[ ! -L "$L" ]
	[ -f "$L" ]
	[ "$(ls -A "$D")" = lock ]
	# One line, newline included, within the 512 bytes of a record.
	[ "$(wc -l <"$L")" -eq 1 ]
	[ "$(tail -c 1 "$L" | wc -l)" -eq 1 ]
	[ "$(wc -c <"$L")" -le 512 ]
	[[ "$(cat "$L")" =~ ^$RECORD$ ]]
}

@test "cat of a held lockfile names the wrapper, its host, boot, namespace, start time, and the command" {
	start_holder
	wait_for grep -q ' child=' "$L"
	wrapper=$(pgrep -P "$HOLDER" -x dlock)
	# Field 22 of /proc/PID/stat, counted after the command name.
	start=$(sed 's/.*) //' "/proc/$wrapper/stat" | cut -d ' ' -f 20)
	boot=$(cat /proc/sys/kernel/random/boot_id)
	pidns=$(stat -L -c %i /proc/self/ns/pid)
	record=$(cat "$L")
	echo "$record"
	[[ "$record" =~ ^dlock/1\ method=lockfile\ pid=$wrapper\ host=$(uname -n)\ boot=$boot\ pidns=$pidns\ start=$start\ time=([0-9]+)\ nonce=[0-9a-f]{32}\ child=$(cat "$T/child")(\ cstart=([0-9]+))?$ ]]
	taken=${BASH_REMATCH[1]}
	(( taken <= $(date +%s) && taken > $(date +%s) - 60 ))
	# The command's start time, where the record gives it.
	cstart=${BASH_REMATCH[3]}
	[ -z "$cstart" ] ||
		[ "$cstart" = "$(sed 's/.*) //' "/proc/$(cat "$T/child")/stat" | cut -d ' ' -f 20)" ]
}

@test "a busy lockfile lock with -n exits 1 at once and does not run the command" {
	hold -m lockfile
	before=$(cat "$L")
	start=$(now)
	run timeout 10 "$DLOCK" -m lockfile -n "$L" touch "$T/ran"
	[ "$status" -eq 1 ]
	[ ! -e "$T/ran" ]
	within "$start" 0 1
	[ "$(cat "$L")" = "$before" ]
	[ "$(ls -A "$D")" = lock ]
}

@test "-n makes one attempt and never sleeps" {
	can_strace || skip "strace cannot trace here"
	hold -m lockfile
	run timeout 10 strace -E ASAN_OPTIONS=detect_leaks=0 -f -o "$T/trace" -e trace=link,linkat,ppoll,clock_nanosleep,nanosleep \
		"$DLOCK" -m lockfile -n "$L" true
	[ "$status" -eq 1 ]
	[ "$(grep -c -E ' link(at)?\(' "$T/trace")" -eq 1 ]
	[ "$(grep -c -E 'ppoll|nanosleep' "$T/trace")" -eq 0 ]
}

@test "-w bounds the wait on a busy lockfile lock" {
	hold -m lockfile
	start=$(now)
	run timeout 10 "$DLOCK" -m lockfile -w 1 -E 7 "$L" touch "$T/ran"
	[ "$status" -eq 7 ]
	[ ! -e "$T/ran" ]
	# Bounds, not a benchmark: at least the timeout, and not stuck.
	within "$start" 1.0 4.0
	start=$(now)
	run timeout 10 "$DLOCK" -m lockfile -w 0.2 "$L" true
	[ "$status" -eq 1 ]
	within "$start" 0.2 3.0
}

@test "a waiter takes the lockfile lock soon after the holder lets go" {
	start_holder
	( sleep 0.5; touch "$T/go" ) &
	start=$(now)
	run timeout 10 "$DLOCK" -m lockfile -w 8 "$L" echo got
	[ "$status" -eq 0 ]
	[ "$output" = got ]
	within "$start" 0.5 2.0
	wait "$HOLDER"
	[ -z "$(ls -A "$D")" ]
}

# poll_gaps: the milliseconds between the link attempts of a waiter,
# from $T/trace (strace -E ASAN_OPTIONS=detect_leaks=0 -f -ttt).
poll_gaps() {
	awk '/ link(at)?\(/ { if (p) printf "%.3f\n", ($2 - p) * 1000; p = $2 }' "$T/trace"
}

@test "a waiter polls with a growing delay, up to a small cap" {
	can_strace || skip "strace cannot trace here"
	hold -m lockfile
	run timeout 10 strace -E ASAN_OPTIONS=detect_leaks=0 -f -ttt -o "$T/trace" -e trace=link,linkat \
		"$DLOCK" -m lockfile -w 1 "$L" true
	[ "$status" -eq 1 ]
	poll_gaps >"$T/gaps"
	cat "$T/gaps"
	# Neither spinning nor asleep: tens of attempts in the second.
	n=$(wc -l <"$T/gaps")
	(( n >= 10 && n <= 200 ))
	# The first pauses are short, the later ones longer, none long.
	awk 'NR >= 2 && NR <= 4 { early += $1 }
	     NR > 10 { late += $1; nlate++; if ($1 > max) max = $1 }
	     END { exit !(early / 3 < late / nlate / 2 && max < 100) }' "$T/gaps"
}

@test "the poll delay stays jittered once it reaches its cap" {
	can_strace || skip "strace cannot trace here"
	hold -m lockfile
	run timeout 10 strace -E ASAN_OPTIONS=detect_leaks=0 -f -ttt -o "$T/trace" -e trace=link,linkat \
		"$DLOCK" -m lockfile -w 1.5 "$L" true
	[ "$status" -eq 1 ]
	# From the ninth pause on, less the last two, which the deadline cuts.
	poll_gaps | sed -n '9,$p' | head -n -2 | sort -n >"$T/capped"
	cat "$T/capped"
	# Scheduling only ever makes a pause longer; a random factor also
	# makes some of the capped pauses clearly shorter than the others.
	awk '{ gap[NR] = $1 }
	     END { median = gap[int(NR / 2) + 1]
		   for (i = 1; i <= NR; i++) short += gap[i] < 0.9 * median
		   exit !(NR >= 20 && short >= 2) }' "$T/capped"
}

@test "a lockfile run leaves nothing behind, after success or any failure" {
	run timeout 10 "$DLOCK" -m lockfile "$L" true
	[ "$status" -eq 0 ]
	[ -z "$(ls -A "$D")" ]
	run -127 timeout 10 "$DLOCK" -m lockfile "$L" no-such-command-here
	[ -z "$(ls -A "$D")" ]
	run timeout 10 "$DLOCK" -m lockfile "$L" sh -c 'exit 3'
	[ "$status" -eq 3 ]
	[ -z "$(ls -A "$D")" ]
	run timeout 10 "$DLOCK" -m lockfile "$L" sh -c 'kill -KILL $$'
	[ "$status" -eq 137 ]
	[ -z "$(ls -A "$D")" ]
	hold -m lockfile
	before=$(cat "$L")
	run timeout 10 "$DLOCK" -m lockfile -n "$L" true
	[ "$status" -eq 1 ]
	run timeout 10 "$DLOCK" -m lockfile -w 0.2 "$L" true
	[ "$status" -eq 1 ]
	run timeout 10 "$DLOCK" -m lockfile -s "$L" true
	[ "$status" -eq 64 ]
	[ "$(ls -A "$D")" = lock ]
	[ "$(cat "$L")" = "$before" ]
}

@test "a holder whose lockfile was replaced says it was lost, exits 71, and leaves the new lock" {
	start_holder
	wait_for grep -q ' child=' "$L"
	sed 's/nonce=[0-9a-f]*/nonce=0123456789abcdef0123456789abcdef/' "$L" >"$T/new"
	rm "$L"
	cp "$T/new" "$L"
	touch "$T/go"
	got=0
	wait "$HOLDER" || got=$?
	cat "$T/err"
	[ "$got" -eq 71 ]
	grep -q "lock '$L'.*lost" "$T/err"
	cmp "$T/new" "$L"
	[ "$(ls -A "$D")" = lock ]
}

@test "a holder whose lockfile was removed says it was lost and creates nothing" {
	start_holder
	wait_for grep -q ' child=' "$L"
	rm "$L"
	touch "$T/go"
	got=0
	wait "$HOLDER" || got=$?
	[ "$got" -eq 71 ]
	grep -q lost "$T/err"
	[ -z "$(ls -A "$D")" ]
}

@test "a lost lockfile lock keeps the command's own failure status" {
	run timeout 10 "$DLOCK" -m lockfile "$L" sh -c '
		while ! grep -q " child=" "$1"; do sleep 0.01; done
		rm "$1"
		exit 5' sh "$L"
	[ "$status" -eq 5 ]
	[[ "$output" == *"releasing lock '$L'"*lost* ]]
}

@test "a lockfile lock appears with a record that already names the command, and is written once" {
	can_strace || skip "strace cannot trace here"
	timeout 10 strace -E ASAN_OPTIONS=detect_leaks=0 -f -o "$T/trace" \
		-e trace=link,linkat,rename,renameat,renameat2 \
		"$DLOCK" -m lockfile "$L" sh -c 'echo "$$"; cat "$1"' sh "$L" >"$T/out"
	pid=$(head -1 "$T/out")
	[[ "$(sed -n 2p "$T/out")" == *" child=$pid "* ]]
	# One link publishes the lock; nothing renames a new record onto it.
	[ "$(grep -c -E "link(at)?\\(.*\"$L\"" "$T/trace")" -eq 1 ]
	run grep -E "rename.*\"$L\"" "$T/trace"
	[ "$status" -eq 1 ]
	[ -z "$(ls -A "$D")" ]
}

@test "-s with -m lockfile is refused with 64, naming the method" {
	run timeout 10 "$DLOCK" -m lockfile -s "$L" touch "$T/ran"
	[ "$status" -eq 64 ]
	[[ "$output" == *"lockfile method has no shared locks"* ]]
	[ ! -e "$T/ran" ]
	[ -z "$(ls -A "$D")" ]
}

@test "a directory at the path is refused with 66 at once, not waited on" {
	mkdir "$L"
	start=$(now)
	run timeout 10 "$DLOCK" -m lockfile -w 5 "$L" touch "$T/ran"
	[ "$status" -eq 66 ]
	[[ "$output" == *"'$L'"*"is a directory"* ]]
	within "$start" 0 2
	[ ! -e "$T/ran" ]
	[ -d "$L" ]
	[ "$(ls -A "$D")" = lock ]
}

@test "a lockfile whose record names the mkdir method is refused with 69 at once" {
	record="dlock/1 method=mkdir pid=4242 host=elsewhere boot= pidns=1 start=1 time=1763712000 nonce=0123456789abcdef0123456789abcdef"
	echo "$record" >"$L"
	start=$(now)
	run timeout 10 "$DLOCK" -m lockfile -w 5 "$L" touch "$T/ran"
	[ "$status" -eq 69 ]
	[[ "$output" == *"'$L'"*"another lock method"* ]]
	within "$start" 0 2
	[ ! -e "$T/ran" ]
	[ "$(cat "$L")" = "$record" ]
	[ "$(ls -A "$D")" = lock ]
}

# check_signal_ends_wait SIG: SIG sent to a dlock waiting for the held
# lock ends the wait; dlock dies of it, without running the command, and
# leaves the holder's lock as it was.
check_signal_ends_wait() {
	hold -m lockfile
	before=$(cat "$L")
	# A shell ignores SIGINT in background jobs; dlock would keep that.
	env --default-signal="$1" timeout 20 "$DLOCK" -m lockfile "$L" touch "$T/ran" &
	waiter=$!
	HOLDER_PIDS+=("$waiter")
	wait_for waiting "$waiter"
	signal_until_gone "$1" "$(pgrep -P "$waiter" -x dlock)"
	got=0
	wait "$waiter" || got=$?
	[ "$got" -eq $((128 + $(kill -l "$1"))) ]
	[ ! -e "$T/ran" ]
	[ "$(ls -A "$D")" = lock ]
	[ "$(cat "$L")" = "$before" ]
}

@test "SIGTERM ends a wait for a lockfile lock: dlock dies of it, leaving nothing" {
	check_signal_ends_wait TERM
}

@test "SIGINT ends a wait for a lockfile lock: dlock dies of it, leaving nothing" {
	check_signal_ends_wait INT
}

@test "SIGTERM while the lockfile is being linked: the lock is let go, the command never runs" {
	can_strace || skip "strace cannot trace here"
	# The link is held up for a second, and the signal arrives meanwhile.
	env --default-signal=TERM timeout 20 strace -E ASAN_OPTIONS=detect_leaks=0 -f -o "$T/trace" \
		-e trace=link,linkat -e inject=link,linkat:delay_enter=1000000 \
		"$DLOCK" -m lockfile "$L" touch "$T/ran" &
	tracer=$!
	HOLDER_PIDS+=("$tracer")
	wait_for grep -q -E ' link(at)?\(' "$T/trace"
	kill -TERM "$(awk '{ print $1; exit }' "$T/trace")"
	got=0
	wait "$tracer" || got=$?
	[ "$got" -eq 143 ]
	[ ! -e "$T/ran" ]
	[ -z "$(ls -A "$D")" ]
}

@test "a signal that arrives while a waiter tries, not sleeps, still ends the wait" {
	can_strace || skip "strace cannot trace here"
	hold -m lockfile
	# The third attempt (the first after a pause) is held up for a second.
	env --default-signal=TERM timeout 20 strace -E ASAN_OPTIONS=detect_leaks=0 -f -o "$T/trace" \
		-e trace=link,linkat -e inject=link,linkat:delay_enter=1000000:when=3 \
		"$DLOCK" -m lockfile "$L" true &
	tracer=$!
	HOLDER_PIDS+=("$tracer")
	wait_for attempts_traced 3
	kill -TERM "$(awk '{ print $1; exit }' "$T/trace")"
	wait_for gone "$tracer"
	got=0
	wait "$tracer" || got=$?
	[ "$got" -eq 143 ]
}

@test "--heartbeat keeps the lockfile's mtime fresh while the command runs" {
	run timeout 10 "$DLOCK" -m lockfile --heartbeat 0.1 "$L" sh -c '
		while ! grep -q " child=" "$1"; do sleep 0.01; done
		touch -d "2000-01-01" "$1"
		sleep 0.5
		stat -c %Y "$1"' sh "$L"
	[ "$status" -eq 0 ]
	(( output > $(date +%s) - 10 ))
}

@test "8 processes contending for a lockfile lose no update and never overlap" {
	contend 8 25
	[ ! -e "$T/bad" ] || { cat "$T/bad"; false; }
	[ "$(cat "$T/counter")" -eq 200 ]
	[ -z "$(ls -A "$D")" ]
}

# check_record TEXT: TEXT, read whole from the record file, is one
# complete record; anything else is noted in $T/partial.
check_record() {
	[[ $1 =~ ^$RECORD$'\n'$ ]] || printf '%q\n' "$1" >>"$T/partial"
}

# read_records FILE: reads FILE with cat over and over until $T/stop
# exists, counting the reads in $T/reads.cat.
# cat fails when there is no lock at the moment; when it succeeds, the
# whole record must be there, newline included: an empty or truncated one
# would be a lock published before its record was written.
read_records() {
	local r n=0
	while [ ! -e "$T/stop" ] && ((SECONDS < 60)); do
		if r=$(cat "$1" 2>/dev/null && echo .); then
			n=$((n + 1))
			check_record "${r%.}"
		fi
	done
	echo "$n" >"$T/reads.cat"
}

# read_records_fast FILE: the same with the shell's own open and read, a
# hundred times as many reads as cat's fork and exec allow.
read_records_fast() {
	local r opened n=0
	while [ ! -e "$T/stop" ] && ((SECONDS < 60)); do
		# The braces run only if the file could be opened; read
		# fails at the end of the file, having read it all.
		opened=no
		{ opened=yes; IFS= read -r -d '' r || :; } 2>/dev/null <"$1" || :
		if [ "$opened" = yes ]; then
			n=$((n + 1))
			check_record "$r"
		fi
	done
	echo "$n" >"$T/reads.fast"
}

@test "a reader never sees a partial lockfile record while writers contend" {
	read_records "$L" &
	cat_reader=$!
	read_records_fast "$L" &
	fast_reader=$!
	contend 8 10
	touch "$T/stop"
	wait "$cat_reader" "$fast_reader"
	[ ! -e "$T/bad" ] || { cat "$T/bad"; false; }
	[ ! -e "$T/partial" ] || { sort "$T/partial" | uniq -c; false; }
	[ "$(cat "$T/reads.cat")" -ge 20 ]
	[ "$(cat "$T/reads.fast")" -ge 200 ]
	[ "$(cat "$T/counter")" -eq 80 ]
}
