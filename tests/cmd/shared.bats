#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# Shared locks (-s) of the lockfile and mkdir methods: readers hold
# together, a writer alone; a writer waiting keeps new readers out, so it
# gets in under a stream of readers; readers killed with SIGKILL are
# cleared by the next writer; dlock status lists the readers.

# Each test runs in a process of its own, and each sh -c script expands
# its own arguments.
# shellcheck disable=SC2016,SC2030,SC2031

load helpers
load ../inside

# contender METHOD ROLE ROUNDS: one process taking the lock ROUNDS times,
# shared as reader r or exclusive as writer w.
contender() {
	local method=$1 role=$2 rounds=$3 i opt=-x hold=0.01
	if [ "$role" = r ]; then
		opt=-s
		hold=0.05
	fi
	for ((i = 0; i < rounds; i++)); do
		timeout 60 "$DLOCK" -m "$method" "$opt" -w 30 "$L" \
			sh -c "$INSIDE" sh "$M" "$role" "$T/log" "$hold" ||
			echo "error $role $?" >>"$T/log"
	done
}

# mixed METHOD: 6 readers and 2 writers, 10 rounds each.
readers_and_writers_mixed() {
	local method=$1 peak pids=() pid
	M=$T/markers
	mkdir "$M"
	for role in r r r r r r w w; do
		contender "$method" "$role" 10 &
		pids+=("$!")
	done
	for pid in "${pids[@]}"; do
		wait "$pid"
	done
	! grep -q '^error' "$T/log"
	peak=$(inside_log_ok "$T/log" 60 20)
	echo "# $method: 6 readers + 2 writers x 10 rounds: reader peak $peak, writers always alone" >&3
	[ "$peak" -gt 1 ]
	[ -z "$(find "$T" -mindepth 1 -maxdepth 1 ! -name markers ! -name log)" ]
}

# reader_stream METHOD: until $T/stop exists (or $T is gone), runs
# back-to-back shared holds of 0.3 s, so that readers are always inside.
reader_stream() {
	while [ -d "$T" ] && [ ! -e "$T/stop" ]; do
		timeout 60 "$DLOCK" -m "$1" -s -w 30 "$L" sleep 0.3 ||
			echo "error $?" >>"$T/stream"
	done
}

# readers_held N: dlock status counts N readers of $L.
readers_held() {
	timeout 10 "$DLOCK" status -m "$METHOD" "$L" >"$T/status" 2>&1
	[ "$(grep -c '^  reader: ' "$T/status")" -ge "$1" ]
}

writer_gets_in_under_a_reader_stream() {
	local method=$1 i start waited
	METHOD=$method
	for ((i = 0; i < 4; i++)); do
		reader_stream "$method" &
		HOLDER_PIDS+=("$!")
	done
	wait_for readers_held 2
	start=$(now)
	run timeout 40 "$DLOCK" -m "$method" -w 30 "$L" sh -c \
		'timeout 10 "$1" status -m "$2" "$3"' sh "$DLOCK" "$method" "$L"
	waited=$(awk -v s="$start" -v e="$(now)" 'BEGIN { printf "%.2f", e - s }')
	echo "# $method: a writer waited $waited s under a stream of 4 readers" >&3
	[ "$status" -eq 0 ]
	# While the writer held, its status saw no reader.
	[[ "$output" == *"held ($method)"* ]]
	[[ "$output" != *"reader:"* ]]
	touch "$T/stop"
	for i in "${HOLDER_PIDS[@]}"; do
		wait "$i"
	done
	HOLDER_PIDS=()
	[ ! -e "$T/stream" ]
}

# writer_waits_for N: dlock status says a writer waits for N readers.
writer_waits_for() {
	timeout 10 "$DLOCK" status -m "$METHOD" "$L" | grep -q "waiting for $1 readers"
}

# killed_readers_are_cleared METHOD: three readers hold; a writer waits
# for them; they are killed with SIGKILL, and the writer gets in.
killed_readers_are_cleared() {
	local method=$1 start waited
	METHOD=$method
	hold -m "$method" -s
	hold -m "$method" -s
	hold -m "$method" -s
	[ "$(find "$L.readers" -mindepth 1 -maxdepth 1 | wc -l)" -ge 3 ]
	setsid timeout 30 "$DLOCK" -m "$method" -w 20 "$L" touch "$T/writer" &
	HOLDER_PIDS+=("$!")
	wait_for writer_waits_for 3
	start=$(now)
	# Each reader's whole job: dlock, its command and its keeper.
	end_job "${HOLDER_PIDS[0]}"
	end_job "${HOLDER_PIDS[1]}"
	end_job "${HOLDER_PIDS[2]}"
	wait_for test -e "$T/writer"
	waited=$(awk -v s="$start" -v e="$(now)" 'BEGIN { printf "%.2f", e - s }')
	echo "# $method: 3 readers killed with SIGKILL: their registrations cleared, the waiting writer in $waited s" >&3
	within "$start" 0 5
	wait_for test ! -e "$L"
	[ ! -e "$L.readers" ]
}

status_lists_the_readers() {
	local method=$1
	hold -m "$method" -s
	hold -m "$method" -s
	run timeout 10 "$DLOCK" status "$L"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$L: held shared by 2 readers ($method)" ]
	for pid in $(pgrep -P "${HOLDER_PIDS[0]}" -x dlock) $(pgrep -P "${HOLDER_PIDS[1]}" -x dlock); do
		[[ "$output" == *"reader:  pid $pid on $(uname -n) (this host)"*": alive: "* ]]
	done
	run timeout 10 "$DLOCK" status --json -m "$method" "$L"
	[ "$status" -eq 0 ]
	[[ "$output" == *'"held":true'*'"readers":2,"reader":[{"pid":'*'"state":"alive"'*'},{"pid":'* ]]
	release_holders
	run timeout 10 "$DLOCK" status -m "$method" "$L"
	[ "$status" -eq 0 ]
	[[ "$output" == *"reader:  "*": dead: "* ]]
	timeout 10 "$DLOCK" -m "$method" -n "$L" true
	run timeout 10 "$DLOCK" status -m "$method" "$L"
	[ "$status" -eq 1 ]
	[ "$output" = "$L: free ($method)" ]
}

@test "lockfile: 8 processes, 6 readers and 2 writers: readers overlap, a writer is always alone" { readers_and_writers_mixed lockfile; }
@test "mkdir: 8 processes, 6 readers and 2 writers: readers overlap, a writer is always alone" { readers_and_writers_mixed mkdir; }
@test "lockfile: a waiting writer gets in under a continuous stream of readers" { writer_gets_in_under_a_reader_stream lockfile; }
@test "mkdir: a waiting writer gets in under a continuous stream of readers" { writer_gets_in_under_a_reader_stream mkdir; }
@test "lockfile: readers killed with SIGKILL are cleared, and a waiting writer gets in at once" { killed_readers_are_cleared lockfile; }
@test "mkdir: readers killed with SIGKILL are cleared, and a waiting writer gets in at once" { killed_readers_are_cleared mkdir; }
@test "lockfile: dlock status lists each reader, alive or dead, in text and --json" { status_lists_the_readers lockfile; }
@test "mkdir: dlock status lists each reader, alive or dead, in text and --json" { status_lists_the_readers mkdir; }
