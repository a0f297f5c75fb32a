#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
#
# A lock lost across two hosts on one GlusterFS volume: host A paused past
# its lease while host B takes the lock over, and host A's wrapper killed
# under its command.  Needs scripts/cluster-up to have been run.
#
# shellcheck disable=SC2154 # work_a, on_host and the like come from helpers
# shellcheck disable=SC2016 # the sh -c scripts expand in the inner shell

load helpers

minus() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", a - b }'
}

holds() {
	awk -v a="$1" -v b="$3" -v op="$2" 'BEGIN {
		if (op == "<") exit !(a < b); if (op == ">=") exit !(a >= b)
		exit 2 }'
}

# host_pids JOB: the processes, as this machine numbers them, of the host
# (PID namespace) that the on-host job JOB runs in.
host_pids() {
	local job=$1 ns0 ns p
	ns0=$(readlink "/proc/$job/ns/pid")
	for p in /proc/[0-9]*; do
		ns=$(readlink "$p/ns/pid" 2>/dev/null) || continue
		[ "$ns" != "$ns0" ] || continue
		# Only the namespace of this job: its processes descend from it.
		if pstree_has "$job" "${p#/proc/}"; then
			echo "${p#/proc/}"
		fi
	done
}

# pstree_has ANCESTOR PID: PID descends from ANCESTOR.
pstree_has() {
	local pid=$2
	while [ "$pid" -gt 1 ]; do
		[ "$pid" = "$1" ] && return 0
		pid=$(awk '{ print $4 }' "/proc/$pid/stat" 2>/dev/null) || return 1
		[ -n "$pid" ] || return 1
	done
	return 1
}

# comm_of PID: its command name.
comm_of() {
	cat "/proc/$1/comm" 2>/dev/null
}

# a_holds METHOD HOLD OPTIONS...: host A holds the lock, with a lease of
# 3 s, for a command that runs HOLD seconds and notes its end in
# $BATS_TEST_TMPDIR/a_end; A's job stays up 10 s longer, so that its
# host outlives a killed wrapper.  A's stderr goes to a.err; the job is
# $A_JOB.
a_holds() {
	local method=$1 hold=$2
	shift 2
	"$on_host" A sh -c '"$@"; echo "$?" >"'"$BATS_TEST_TMPDIR"'/a_status"; sleep 10' sh \
	    "$DLOCK" -m "$method" --stale 3 --heartbeat 0.5 "$@" \
	    "$work_a/lock.$method" sh -c 'touch "$1"; sleep "$2"; date +%s.%N >"$3"' sh \
	    "$BATS_TEST_TMPDIR/ready" "$hold" "$BATS_TEST_TMPDIR/a_end" \
	    2>"$BATS_TEST_TMPDIR/a.err" 3>&- &
	A_JOB=$!
	holder_pids+=("$A_JOB")
	wait_for 10 test -e "$BATS_TEST_TMPDIR/ready"
}

# b_waiters METHOD N: N waiters on host B, each noting its entry time in
# b_in.I and proving it is alone with a local marker.
b_waiters() {
	local method=$1 n=$2 i
	B_WAITERS=()
	for ((i = 1; i <= n; i++)); do
		timeout -k 2 40 "$on_host" B "$DLOCK" -m "$method" --stale 3 -w 30 \
		    "$work_b/lock.$method" sh -c '
			mkdir "$1/inside" 2>/dev/null || echo "$2" >>"$1/doubles"
			date +%s.%N >"$1/b_in.$2"
			sleep 0.3
			rmdir "$1/inside"' sh "$BATS_TEST_TMPDIR" "$i" 3>&- &
		B_WAITERS+=("$!")
	done
}

b_waiters_done() {
	local pid
	for pid in "${B_WAITERS[@]}"; do
		wait "$pid" || { echo "waiter on B exited $?"; return 1; }
	done
	[ ! -e "$BATS_TEST_TMPDIR/doubles" ]
}

b_first_in() {
	cat "$BATS_TEST_TMPDIR"/b_in.* | sort -g | head -1
}

@test "host A paused past its lease: host B takes the lock over, and A's command is ended when A resumes" {
	local method pids t_cont t_end got
	for method in lockfile mkdir; do
		rm -f "$BATS_TEST_TMPDIR"/{ready,a_end,a_status,b_in.*,doubles}
		a_holds "$method" 600
		pids=$(host_pids "$A_JOB")
		[ -n "$pids" ]
		# shellcheck disable=SC2086 # one pid a word
		kill -STOP $pids
		b_waiters "$method" 2
		wait_for 20 compgen -G "$BATS_TEST_TMPDIR/b_in.*"
		t_cont=$(now)
		# shellcheck disable=SC2086
		kill -CONT $pids
		wait_for 10 test -s "$BATS_TEST_TMPDIR/a_status"
		t_end=$(now)
		got=$(cat "$BATS_TEST_TMPDIR/a_status")
		[ "$got" -eq 71 ] || { cat "$BATS_TEST_TMPDIR/a.err"; false; }
		grep -q "lost lock '$work_a/lock.$method'.*sending SIGTERM" "$BATS_TEST_TMPDIR/a.err"
		[ ! -e "$BATS_TEST_TMPDIR/a_end" ]
		b_waiters_done
		note "$method: A resumed $(minus "$t_cont" "$(b_first_in)") s after B got in; A's dlock exited 71 $(minus "$t_end" "$t_cont") s after resuming"
		holds "$(minus "$t_end" "$t_cont")" "<" 3
		stop_holders
	done
}

@test "host A's wrapper SIGKILLed under its command: host B does not get in while the command runs, and gets in after" {
	local method p wrapper t_kill a_end first
	for method in lockfile mkdir; do
		rm -f "$BATS_TEST_TMPDIR"/{ready,a_end,a_status,b_in.*,doubles}
		a_holds "$method" 10
		wrapper=
		for p in $(host_pids "$A_JOB"); do
			if [ "$(comm_of "$p")" = dlock ] &&
			    [ -n "$(pgrep -P "$p" -x dlock-keeper)" ]; then
				wrapper=$p
			fi
		done
		[ -n "$wrapper" ]
		kill -KILL "$wrapper"
		t_kill=$(now)
		b_waiters "$method" 2
		wait_for 20 test -s "$BATS_TEST_TMPDIR/a_end"
		a_end=$(cat "$BATS_TEST_TMPDIR/a_end")
		b_waiters_done
		first=$(b_first_in)
		holds "$first" ">=" "$a_end" || { echo "B in at $first, A's command ended at $a_end"; false; }
		note "$method: A's wrapper killed; B kept out for $(minus "$a_end" "$t_kill") s (lease 3 s) while A's command ran, then in $(minus "$first" "$a_end") s after it ended"
		holds "$(minus "$first" "$a_end")" "<" 2
		stop_holders
	done
}
