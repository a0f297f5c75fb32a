# SPDX-License-Identifier: ISC
# The command's contract for the methods that hold a lock by a name,
# defined once: lockfile.bats and mkdir.bats set METHOD (lockfile or
# mkdir), load this after helpers.bash, and run each case in a test whose
# name starts with the method.  Every wait here is bounded.
#
# shellcheck disable=SC2154 # METHOD comes from the loader
# Commands for sh -c are in single quotes on purpose.
# shellcheck disable=SC2016

# How the two methods differ, and nowhere else: the lock is the file
# LOCKPATH holding the record (lockfile), or the directory LOCKPATH with
# the record in LOCKPATH/owner (mkdir); an attempt is one link or mkdir.
case "$METHOD" in
lockfile)
	RECORD_IN=''
	ATTEMPT_CALL='link(at)?'
	ATTEMPT_SYSCALLS=link,linkat
	OTHER_METHOD='mkdir'
	OTHER_KIND_SAYS='is a directory'
	is_the_lock() { [ -f "$L" ]; }
	only_the_lock() { [ "$(ls -A "$D")" = lock ]; }
	plant_record() { echo "$1" >"$L"; }
	plant_other_kind() { mkdir "$L"; }
	other_kind_is_intact() { [ -d "$L" ]; }
	;;
mkdir)
	RECORD_IN=/owner
	ATTEMPT_CALL='mkdir(at)?'
	ATTEMPT_SYSCALLS=mkdir,mkdirat
	OTHER_METHOD='lockfile'
	OTHER_KIND_SAYS='is not a directory'
	is_the_lock() { [ -d "$L" ]; }
	only_the_lock() { [ "$(ls -A "$D")" = lock ] && [ "$(ls -A "$L")" = owner ]; }
	plant_record() { mkdir "$L" && echo "$1" >"$L/owner"; }
	plant_other_kind() { echo data >"$L"; }
	other_kind_is_intact() { [ "$(cat "$L")" = data ]; }
	;;
*)
	echo "namelock_contract.bash: METHOD is '$METHOD'" >&2
	exit 1
	;;
esac

# Each lock lives in a directory of its own, $D, so that everything a run
# leaves there can be listed; $R is the file holding its record.
eval "shared_$(declare -f setup)"
setup() {
	shared_setup
	D=$T/d
	mkdir "$D"
	L=$D/lock
	R=$L$RECORD_IN
}

RECORD="dlock/1 method=$METHOD "'pid=[0-9]+ host=[^ ]+ boot=[0-9a-f-]* pidns=[0-9]+ start=[0-9]+ time=[0-9]+ nonce=[0-9a-f]{32}( [a-z0-9_]+=[^ ]*)*'

# start_holder: a background dlock holding $L until $T/go exists; its
# command notes its pid in $T/child.  HOLDER is the process group (timeout,
# whose child is dlock), and dlock's exit status is its status.
start_holder() {
	setsid timeout 60 "$DLOCK" -m "$METHOD" "$L" sh -c '
		echo $$ >"$1/child"
		while [ ! -e "$1/go" ]; do sleep 0.02; done' sh "$T" 2>"$T/err" &
	HOLDER=$!
	HOLDER_PIDS+=("$HOLDER")
	wait_for test -s "$T/child"
}

# waiting PID: the dlock under timeout PID is waiting for the lock (it
# watches the directory for releases only once its first try failed).
waiting() {
	local pid fd
	pid=$(pgrep -P "$1" -x dlock) || return 1
	for fd in "/proc/$pid/fd/"*; do
		[ "$(readlink "$fd" 2>/dev/null)" = anon_inode:inotify ] && return 0
	done
	return 1
}

gone() {
	! kill -0 "$1" 2>/dev/null
}

# signal_until_gone SIG PID: sends SIG to PID once, and waits (3 s at
# most) until it is gone: a signal must end a wait however it falls.
signal_until_gone() {
	local j
	kill "-$1" "$2" 2>/dev/null || return 0
	for ((j = 0; j < 150; j++)); do
		gone "$2" && return 0
		sleep 0.02
	done
	return 1
}

# attempts_traced N: $T/trace shows at least N attempts to publish a lock.
attempts_traced() {
	[ -e "$T/trace" ] && [ "$(grep -c -E " $ATTEMPT_CALL\\(" "$T/trace")" -ge "$1" ]
}

# The tests that trace dlock turn leak detection off in a sanitizer build
# (strace -E ASAN_OPTIONS=detect_leaks=0): LeakSanitizer cannot work under
# ptrace.
can_strace() {
	command -v strace >/dev/null && strace -f -o /dev/null true 2>/dev/null
}

# contend N ROUNDS: N processes each take the lock ROUNDS times to add one
# to a counter, read and written back in place; a marker made with
# noclobber proves nobody else is inside.  Trouble goes to $T/bad.  They
# run at the lowest priority, so that a reader beside them reads often.
contend() {
	local p pids=()
	echo 0 >"$T/counter"
	for ((p = 0; p < $1; p++)); do
		(
			for ((i = 0; i < $2; i++)); do
				nice -n 19 timeout 30 "$DLOCK" -m "$METHOD" "$L" sh -c '
					set -C
					: >"$1/inside" || echo "overlap" >>"$1/bad"
					n=$(cat "$1/counter")
					echo $((n + 1)) >|"$1/counter"
					rm -f "$1/inside"' sh "$T" ||
					echo "dlock exited $?" >>"$T/bad"
			done
		) &
		pids+=("$!")
	done
	wait "${pids[@]}"
}

# poll_gaps: the milliseconds between the attempts of a waiter, from
# $T/trace (strace -f -ttt).
poll_gaps() {
	awk -v call=" $ATTEMPT_CALL\\\\(" '$0 ~ call { if (p) printf "%.3f\n", ($2 - p) * 1000; p = $2 }' "$T/trace"
}

# poll_pauses: the milliseconds of sleep a waiter asked for after each
# attempt, from $T/trace (strace -f, attempts and ppoll traced): the
# first ppoll after an attempt asks for the whole pause, and any later
# one before the next attempt only for what an inotify wake-up left of
# it.  Unlike the gaps, these do not grow when the machine is loaded.
poll_pauses() {
	awk -v call=" $ATTEMPT_CALL\\\\(" '
		BEGIN { asked = 1 }
		$0 ~ call { asked = 0; next }
		/ ppoll\(/ && !asked && match($0, /tv_sec=[0-9]+, tv_nsec=[0-9]+/) {
			split(substr($0, RSTART, RLENGTH), f, /[=,]/)
			printf "%.3f\n", f[2] * 1000 + f[4] / 1e6
			asked = 1
		}' "$T/trace"
}

# check_record TEXT: TEXT, read whole from the record file, is one
# complete record; anything else is noted in $T/partial.
check_record() {
	[[ $1 =~ ^$RECORD$'\n'$ ]] || printf '%q\n' "$1" >>"$T/partial"
}

# read_records FILE: reads FILE with cat over and over until $T/stop
# exists, counting the reads in $T/reads.cat.
# cat fails when there is no lock at the moment, or no record in it yet;
# when it succeeds, the whole record must be there, newline included: an
# empty or truncated one would be a lock published before its record was
# written, or a record read while being written.
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

# The cases.  Each is the body of one test in lockfile.bats and mkdir.bats.

held_lock_is_one_complete_record() {
	hold -m "$METHOD"
	[ ! -L "$L" ]
	is_the_lock
	[ -f "$R" ]
	only_the_lock
	# One line, newline included, within the 512 bytes of a record.
	[ "$(wc -l <"$R")" -eq 1 ]
	[ "$(tail -c 1 "$R" | wc -l)" -eq 1 ]
	[ "$(wc -c <"$R")" -le 512 ]
	[[ "$(cat "$R")" =~ ^$RECORD$ ]]
}

record_names_wrapper_host_boot_namespace_start_and_command() {
	local wrapper start boot pidns record taken cstart
	start_holder
	wait_for grep -q ' child=' "$R"
	wrapper=$(pgrep -P "$HOLDER" -x dlock)
	# Field 22 of /proc/PID/stat, counted after the command name.
	start=$(sed 's/.*) //' "/proc/$wrapper/stat" | cut -d ' ' -f 20)
	boot=$(cat /proc/sys/kernel/random/boot_id)
	pidns=$(stat -L -c %i /proc/self/ns/pid)
	record=$(cat "$R")
	echo "$record"
	[[ "$record" =~ ^dlock/1\ method=$METHOD\ pid=$wrapper\ host=$(uname -n)\ boot=$boot\ pidns=$pidns\ start=$start\ time=([0-9]+)\ nonce=[0-9a-f]{32}\ child=$(cat "$T/child")(\ cstart=([0-9]+))?$ ]]
	taken=${BASH_REMATCH[1]}
	(( taken <= $(date +%s) && taken > $(date +%s) - 60 ))
	# The command's start time, where the record gives it.
	cstart=${BASH_REMATCH[3]}
	[ -z "$cstart" ] ||
		[ "$cstart" = "$(sed 's/.*) //' "/proc/$(cat "$T/child")/stat" | cut -d ' ' -f 20)" ]
	# The rewrite that added child= left nothing beside the record.
	only_the_lock
}

busy_lock_with_n_exits_1_at_once() {
	local before start
	hold -m "$METHOD"
	before=$(cat "$R")
	start=$(now)
	run timeout 10 "$DLOCK" -m "$METHOD" -n "$L" touch "$T/ran"
	[ "$status" -eq 1 ]
	[ ! -e "$T/ran" ]
	within "$start" 0 1
	[ "$(cat "$R")" = "$before" ]
	only_the_lock
}

n_makes_one_attempt_and_never_sleeps() {
	can_strace || skip "strace cannot trace here"
	hold -m "$METHOD"
	run timeout 10 strace -E ASAN_OPTIONS=detect_leaks=0 -f -o "$T/trace" -e trace="$ATTEMPT_SYSCALLS",ppoll,clock_nanosleep,nanosleep \
		"$DLOCK" -m "$METHOD" -n "$L" true
	[ "$status" -eq 1 ]
	[ "$(grep -c -E " $ATTEMPT_CALL\\(" "$T/trace")" -eq 1 ]
	[ "$(grep -c -E 'ppoll|nanosleep' "$T/trace")" -eq 0 ]
}

w_bounds_the_wait() {
	local start
	hold -m "$METHOD"
	start=$(now)
	run timeout 10 "$DLOCK" -m "$METHOD" -w 1 -E 7 "$L" touch "$T/ran"
	[ "$status" -eq 7 ]
	[ ! -e "$T/ran" ]
	# Bounds, not a benchmark: at least the timeout, and not stuck.
	within "$start" 1.0 4.0
	start=$(now)
	run timeout 10 "$DLOCK" -m "$METHOD" -w 0.2 "$L" true
	[ "$status" -eq 1 ]
	within "$start" 0.2 3.0
}

waiter_takes_the_lock_soon_after_release() {
	local start
	start_holder
	( sleep 0.5; touch "$T/go" ) &
	start=$(now)
	run timeout 10 "$DLOCK" -m "$METHOD" -w 8 "$L" echo got
	[ "$status" -eq 0 ]
	[ "$output" = got ]
	within "$start" 0.5 2.0
	wait "$HOLDER"
	[ -z "$(ls -A "$D")" ]
}

waiter_polls_with_a_growing_delay_up_to_a_small_cap() {
	local n
	can_strace || skip "strace cannot trace here"
	hold -m "$METHOD"
	run timeout 10 strace -E ASAN_OPTIONS=detect_leaks=0 -f -ttt -o "$T/trace" -e trace="$ATTEMPT_SYSCALLS",ppoll \
		"$DLOCK" -m "$METHOD" -w 1 "$L" true
	[ "$status" -eq 1 ]
	# Neither spinning nor asleep: tens of attempts in the second.
	n=$(poll_gaps | wc -l)
	echo "$n attempts after the first"
	(( n >= 10 && n <= 200 ))
	# The pauses asked for, less the last, which the deadline cuts: the
	# first ones short, the later ones longer, none long.
	poll_pauses | head -n -1 >"$T/pauses"
	cat "$T/pauses"
	awk 'NR <= 3 { early += $1 }
	     NR > 10 { late += $1; nlate++ }
	     { if ($1 > max) max = $1 }
	     END { exit !(nlate > 0 && early / 3 * 2 < late / nlate && max < 100) }' "$T/pauses"
}

poll_delay_stays_jittered_at_its_cap() {
	can_strace || skip "strace cannot trace here"
	hold -m "$METHOD"
	run timeout 10 strace -E ASAN_OPTIONS=detect_leaks=0 -f -o "$T/trace" -e trace="$ATTEMPT_SYSCALLS",ppoll \
		"$DLOCK" -m "$METHOD" -w 1.5 "$L" true
	[ "$status" -eq 1 ]
	# The pauses asked for from the ninth on, less the last, which the
	# deadline cuts.
	poll_pauses | sed -n '9,$p' | head -n -1 | sort -n >"$T/capped"
	cat "$T/capped"
	# A random factor makes some of the capped pauses clearly shorter
	# than the others.
	awk '{ gap[NR] = $1 }
	     END { median = gap[int(NR / 2) + 1]
		   for (i = 1; i <= NR; i++) short += gap[i] < 0.9 * median
		   exit !(NR >= 20 && short >= 2) }' "$T/capped"
}

run_leaves_nothing_behind_after_success_or_failure() {
	local before
	run timeout 10 "$DLOCK" -m "$METHOD" "$L" true
	[ "$status" -eq 0 ]
	[ -z "$(ls -A "$D")" ]
	run -127 timeout 10 "$DLOCK" -m "$METHOD" "$L" no-such-command-here
	[ -z "$(ls -A "$D")" ]
	run timeout 10 "$DLOCK" -m "$METHOD" "$L" sh -c 'exit 3'
	[ "$status" -eq 3 ]
	[ -z "$(ls -A "$D")" ]
	run timeout 10 "$DLOCK" -m "$METHOD" "$L" sh -c 'kill -KILL $$'
	[ "$status" -eq 137 ]
	[ -z "$(ls -A "$D")" ]
	hold -m "$METHOD"
	before=$(cat "$R")
	run timeout 10 "$DLOCK" -m "$METHOD" -n "$L" true
	[ "$status" -eq 1 ]
	run timeout 10 "$DLOCK" -m "$METHOD" -w 0.2 "$L" true
	[ "$status" -eq 1 ]
	run timeout 10 "$DLOCK" -m "$METHOD" -s -n "$L" true
	[ "$status" -eq 1 ]
	run timeout 10 "$DLOCK" -m "$METHOD" -s -w 0.2 "$L" true
	[ "$status" -eq 1 ]
	only_the_lock
	[ "$(cat "$R")" = "$before" ]
}

# holder_lets_go: lets the holder end and waits for it; its status is in
# HOLDER_STATUS, and what it said is shown.
holder_lets_go() {
	touch "$T/go"
	HOLDER_STATUS=0
	wait "$HOLDER" || HOLDER_STATUS=$?
	cat "$T/err"
}

holder_whose_record_was_replaced_says_lost_and_leaves_it() {
	start_holder
	wait_for grep -q ' child=' "$R"
	sed 's/nonce=[0-9a-f]*/nonce=0123456789abcdef0123456789abcdef/' "$R" >"$T/new"
	rm "$R"
	cp "$T/new" "$R"
	holder_lets_go
	[ "$HOLDER_STATUS" -eq 71 ]
	grep -q "lock '$L'.*lost" "$T/err"
	cmp "$T/new" "$R"
	only_the_lock
}

holder_whose_lock_was_removed_says_lost_and_creates_nothing() {
	start_holder
	wait_for grep -q ' child=' "$R"
	rm -r "$L"
	holder_lets_go
	[ "$HOLDER_STATUS" -eq 71 ]
	grep -q lost "$T/err"
	[ -z "$(ls -A "$D")" ]
}

lost_lock_keeps_the_commands_own_failure_status() {
	run timeout 10 "$DLOCK" -m "$METHOD" "$L" sh -c '
		while ! grep -q " child=" "$1$2"; do sleep 0.01; done
		rm -r "$1"
		exit 5' sh "$L" "$RECORD_IN"
	[ "$status" -eq 5 ]
	[[ "$output" == *"releasing lock '$L'"*lost* ]]
}

record_names_the_command_from_the_start_and_is_written_once() {
	local pid
	can_strace || skip "strace cannot trace here"
	timeout 10 strace -E ASAN_OPTIONS=detect_leaks=0 -f -o "$T/trace" \
		-e trace=link,linkat,rename,renameat,renameat2 \
		"$DLOCK" -m "$METHOD" "$L" sh -c 'echo "$$"; cat "$1"' sh "$L$RECORD_IN" >"$T/out"
	pid=$(head -1 "$T/out")
	[[ "$(sed -n 2p "$T/out")" == *" child=$pid "* ]]
	# One link publishes the record; nothing renames a new one onto it.
	[ "$(grep -c -E "link(at)?\\(.*\"$L$RECORD_IN\"" "$T/trace")" -eq 1 ]
	run grep -E "rename.*\"$L$RECORD_IN\"" "$T/trace"
	[ "$status" -eq 1 ]
	[ -z "$(ls -A "$D")" ]
}

shared_lock_runs_beside_another_and_keeps_a_writer_out() {
	hold -m "$METHOD" -s
	run timeout 10 "$DLOCK" -m "$METHOD" -s -n "$L" echo both
	[ "$status" -eq 0 ]
	[ "$output" = both ]
	run timeout 10 "$DLOCK" -m "$METHOD" -n "$L" touch "$T/ran"
	[ "$status" -eq 1 ]
	[ ! -e "$T/ran" ]
	release_holders
	run timeout 10 "$DLOCK" -m "$METHOD" -n "$L" true
	[ "$status" -eq 0 ]
	[ -z "$(ls -A "$D")" ]
}

# refused_at_once STATUS TEXT: dlock, told to wait 5 s for $L, exits
# STATUS at once, saying TEXT after the path, and runs nothing.
refused_at_once() {
	local start
	start=$(now)
	run timeout 10 "$DLOCK" -m "$METHOD" -w 5 "$L" touch "$T/ran"
	[ "$status" -eq "$1" ]
	[[ "$output" == *"'$L'"*"$2"* ]]
	within "$start" 0 2
	[ ! -e "$T/ran" ]
}

other_kind_at_the_path_is_refused_with_66_at_once() {
	plant_other_kind
	refused_at_once 66 "$OTHER_KIND_SAYS"
	other_kind_is_intact
	[ "$(ls -A "$D")" = lock ]
}

record_naming_the_other_method_is_refused_with_69_at_once() {
	local record
	record="dlock/1 method=$OTHER_METHOD pid=4242 host=elsewhere boot= pidns=1 start=1 time=1763712000 nonce=0123456789abcdef0123456789abcdef"
	plant_record "$record"
	refused_at_once 69 "another lock method"
	[ "$(cat "$R")" = "$record" ]
	only_the_lock
}

# signal_ends_wait SIG: SIG sent to a dlock waiting for the held lock ends
# the wait; dlock dies of it, without running the command, and leaves the
# holder's lock as it was.
signal_ends_wait() {
	local before waiter got
	hold -m "$METHOD"
	before=$(cat "$R")
	# A shell ignores SIGINT in background jobs; dlock would keep that.
	env --default-signal="$1" timeout 20 "$DLOCK" -m "$METHOD" "$L" touch "$T/ran" &
	waiter=$!
	HOLDER_PIDS+=("$waiter")
	wait_for waiting "$waiter"
	signal_until_gone "$1" "$(pgrep -P "$waiter" -x dlock)"
	got=0
	wait "$waiter" || got=$?
	[ "$got" -eq $((128 + $(kill -l "$1"))) ]
	[ ! -e "$T/ran" ]
	only_the_lock
	[ "$(cat "$R")" = "$before" ]
}

# sigterm_at_attempt WHEN N COMMAND...: runs dlock -m METHOD LOCKPATH
# COMMAND under strace, which holds up the attempts WHEN (as strace's
# when= takes it) for a second each; once N attempts are seen, the
# traced dlock is sent SIGTERM.  Its status is in TRACED_STATUS.
sigterm_at_attempt() {
	local when=$1 attempts=$2 tracer
	shift 2
	env --default-signal=TERM timeout 20 strace -E ASAN_OPTIONS=detect_leaks=0 -f -o "$T/trace" \
		-e trace="$ATTEMPT_SYSCALLS" -e inject="$ATTEMPT_SYSCALLS":delay_enter=1000000:when="$when" \
		"$DLOCK" -m "$METHOD" "$L" "$@" &
	tracer=$!
	HOLDER_PIDS+=("$tracer")
	wait_for attempts_traced "$attempts"
	kill -TERM "$(awk '{ print $1; exit }' "$T/trace")"
	wait_for gone "$tracer"
	TRACED_STATUS=0
	wait "$tracer" || TRACED_STATUS=$?
}

sigterm_during_an_attempt_lets_the_lock_go() {
	can_strace || skip "strace cannot trace here"
	# Every attempt is held up, and the signal arrives during the first.
	sigterm_at_attempt 1+ 1 touch "$T/ran"
	[ "$TRACED_STATUS" -eq 143 ]
	[ ! -e "$T/ran" ]
	[ -z "$(ls -A "$D")" ]
}

signal_while_a_waiter_tries_still_ends_the_wait() {
	can_strace || skip "strace cannot trace here"
	hold -m "$METHOD"
	# The third attempt (the first after a pause) is held up, and the
	# signal arrives during it.
	sigterm_at_attempt 3 3 true
	[ "$TRACED_STATUS" -eq 143 ]
}

heartbeat_keeps_the_record_fresh() {
	run timeout 10 "$DLOCK" -m "$METHOD" --heartbeat 0.1 "$L" sh -c '
		while ! grep -q " child=" "$1"; do sleep 0.01; done
		touch -d "2000-01-01" "$1"
		sleep 0.5
		stat -c %Y "$1"' sh "$R"
	[ "$status" -eq 0 ]
	(( output > $(date +%s) - 10 ))
}

contending_processes_lose_no_update_and_never_overlap() {
	contend 8 25
	[ ! -e "$T/bad" ] || { cat "$T/bad"; false; }
	[ "$(cat "$T/counter")" -eq 200 ]
	[ -z "$(ls -A "$D")" ]
}

reader_never_sees_a_partial_record_while_writers_contend() {
	local cat_reader fast_reader
	read_records "$R" &
	cat_reader=$!
	read_records_fast "$R" &
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
