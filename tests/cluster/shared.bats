#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
#
# Shared locks (-s) of the lockfile and mkdir methods across two hosts on
# one GlusterFS volume: readers on A and B hold together, a writer on one
# host excludes readers on both, a reader that crashed on one host holds a
# writer on the other only until its lease runs out.  Figures are printed
# as "# " lines for the record.
#
# shellcheck disable=SC2154 # work_a, on_host and the like come from helpers
# shellcheck disable=SC2016 # the sh -c scripts expand in the inner shell

load helpers
load ../inside

DLOCK=${DLOCK:-$repo_root/build/dlock}

# holder_on HOST METHOD NAME [OPTIONS...]: a holder on HOST of
# lock.METHOD, with OPTIONS, that creates the local file NAME.ready once it
# holds and lets go once NAME.go exists.
holder_on() {
	local host=$1 method=$2 name=$BATS_TEST_TMPDIR/$3
	shift 3
	start_holder "$host" "$name.ready" "$DLOCK" -m "$method" "$@" \
	    "$(host_dir "$host")/lock.$method" sh -c '
		touch "$1.ready"
		while [ ! -e "$1.go" ]; do sleep 0.05; done' sh "$name"
}

# try_on HOST METHOD [OPTIONS...]: one try from HOST, running true.
try_on() {
	local host=$1 method=$2
	shift 2
	timeout -k 2 10 "$on_host" "$host" "$DLOCK" -m "$method" "$@" -n \
	    "$(host_dir "$host")/lock.$method" true
}

# let_go NAME...: the holders named let go, and have exited.
let_go() {
	local name pid
	for name in "$@"; do
		touch "$BATS_TEST_TMPDIR/$name.go"
	done
	for pid in "${holder_pids[@]}"; do
		wait "$pid"
	done
	holder_pids=()
}

readers_on_both_hosts_hold_together() {
	local method=$1
	holder_on A "$method" ra -s
	# B enters while A holds: the two overlap.
	holder_on B "$method" rb -s
	run try_on A "$method"
	[ "$status" -eq 1 ]
	run try_on B "$method"
	[ "$status" -eq 1 ]
	run timeout -k 2 10 "$on_host" B "$DLOCK" status -m "$method" "$work_b/lock.$method"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == *"held shared by 2 readers ($method)" ]]
	[[ "$output" == *"reader:  pid "*" on dlock-a"* ]]
	[[ "$output" == *"reader:  pid "*" on dlock-b"* ]]
	let_go ra rb
	run try_on A "$method"
	[ "$status" -eq 0 ]
	note "$method: readers on A and B held together; writers on both refused meanwhile, and in once they let go"
}

a_writer_excludes_readers_on_both_hosts() {
	local method=$1
	holder_on A "$method" w
	run try_on A "$method" -s
	[ "$status" -eq 1 ]
	run try_on B "$method" -s
	[ "$status" -eq 1 ]
	let_go w
	run try_on B "$method" -s
	[ "$status" -eq 0 ]
	run try_on A "$method" -s
	[ "$status" -eq 0 ]
}

# A reader on A with a 4 s lease crashes (its host's processes die with
# SIGKILL); a writer on B, waiting, gets in after the lease, not before.
crashed_reader_holds_a_writer_until_its_lease() {
	local method=$1 t0 took
	holder_on A "$method" ra -s --stale 4 --heartbeat 0.5
	sleep 1
	t0=$(now)
	kill -KILL "${holder_pids[0]}"
	wait "${holder_pids[0]}" || :
	holder_pids=()
	run timeout -k 2 30 "$on_host" B "$DLOCK" -m "$method" --stale 4 -w 20 \
	    "$work_b/lock.$method" true
	took=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
	note "$method: a writer on B got in $took s after a reader on A crashed (lease 4 s, heartbeat 0.5 s)"
	[ "$status" -eq 0 ]
	# The reader's last heartbeat came at most 0.5 s before the crash.
	awk -v f="$took" 'BEGIN { exit !(f >= 3.4 && f <= 12) }'
}

mixed_across_hosts() {
	local method=$1 h role pids=() peak hold
	mkdir "$BATS_TEST_TMPDIR/markers"
	for h in A B; do
		for role in r r w; do
			hold=0.02
			[ "$role" = r ] && hold=0.2
			timeout -k 5 240 "$on_host" "$h" sh -c '
				dlock=$1 method=$2 lock=$3 role=$4 inside=$5 dir=$6 log=$7 hold=$8
				opt=-x
				[ "$role" = r ] && opt=-s
				i=0
				while [ "$i" -lt 5 ]; do
					"$dlock" -m "$method" "$opt" -w 120 "$lock" \
					    sh -c "$inside" sh "$dir" "$role" "$log" "$hold" || exit 1
					i=$((i + 1))
				done' sh "$DLOCK" "$method" "$(host_dir "$h")/lock.$method" \
			    "$role" "$INSIDE" "$BATS_TEST_TMPDIR/markers" \
			    "$BATS_TEST_TMPDIR/log" "$hold" 3>&- &
			pids+=("$!")
		done
	done
	wait_all "${pids[@]}"
	peak=$(inside_log_ok "$BATS_TEST_TMPDIR/log" 20 10)
	note "$method: 2 readers + 1 writer on each host x 5 rounds: reader peak $peak, writers always alone"
	[ "$peak" -gt 1 ]
}

@test "lockfile: readers on hosts A and B hold together, and keep writers on both out" {
	readers_on_both_hosts_hold_together lockfile
}

@test "mkdir: readers on hosts A and B hold together, and keep writers on both out" {
	readers_on_both_hosts_hold_together mkdir
}

@test "lockfile: a writer on host A excludes readers on both hosts" {
	a_writer_excludes_readers_on_both_hosts lockfile
}

@test "mkdir: a writer on host A excludes readers on both hosts" {
	a_writer_excludes_readers_on_both_hosts mkdir
}

@test "lockfile: a reader that crashed on host A holds a writer on B until its lease runs out" {
	crashed_reader_holds_a_writer_until_its_lease lockfile
}

@test "mkdir: a reader that crashed on host A holds a writer on B until its lease runs out" {
	crashed_reader_holds_a_writer_until_its_lease mkdir
}

@test "lockfile: readers and writers on both hosts: a writer is always alone, readers overlap" {
	mixed_across_hosts lockfile
}

@test "mkdir: readers and writers on both hosts: a writer is always alone, readers overlap" {
	mixed_across_hosts mkdir
}
