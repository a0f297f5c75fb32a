# SPDX-License-Identifier: ISC
# Shared set-up for the command tests.  Every wait here is bounded.

DLOCK=${DLOCK:-$BATS_TEST_DIRNAME/../../build/dlock}

setup() {
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/dlock-cmd.XXXXXX")
	L=$T/lock
	HOLDER_PIDS=()
}

# end_job PID: SIGKILLs the job PID leads, started with setsid: every
# process of its session.  The command of a dlock without a terminal has
# a process group of its own, and its keeper another, so killing the
# job's process group alone would leave them running.  All are stopped
# first, so that a keeper cannot see its command die and release the
# lock before its own SIGKILL: the job dies as a crash would.
end_job() {
	pkill -STOP -s "$1" 2>/dev/null
	pkill -KILL -s "$1" 2>/dev/null
	kill -KILL -- "-$1" 2>/dev/null || kill -KILL "$1" 2>/dev/null
}

teardown() {
	local pid i
	for pid in "${HOLDER_PIDS[@]}"; do
		end_job "$pid" || true
	done
	# A process on its way out (a waiter hung up by its terminal) may
	# still create a file in $T for a moment: try again for up to 2 s.
	for ((i = 0; i < 100; i++)); do
		rm -rf "$T" 2>/dev/null && return 0
		sleep 0.02
	done
	rm -rf "$T"
}

# wait_long SECS CONDITION...: polls every 20 ms for at most SECS seconds.
wait_long() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 50; i++)); do
		if "$@"; then
			return 0
		fi
		sleep 0.02
	done
	echo "timed out after $secs s waiting for: $*" >&2
	return 1
}

# wait_for CONDITION...: polls every 20 ms for at most 5 s.
wait_for() {
	wait_long 5 "$@"
}

# The seconds since the epoch, with fractions.
now() {
	date +%s.%N
}

# within START LOW HIGH: LOW <= now - START < HIGH.
within() {
	awk -v s="$1" -v e="$(now)" -v lo="$2" -v hi="$3" \
		'BEGIN { d = e - s; exit !(d >= lo && d < hi) }'
}

# hold OPTIONS...: starts a background dlock holding $L (with the given
# options) until the test ends, and returns once it holds the lock.  Each
# holder is a process group of its own, so that release_holders ends the
# command too (it inherits the lock descriptor).
hold() {
	local ready=$T/ready.$RANDOM
	setsid timeout 60 "$DLOCK" "$@" "$L" sh -c 'touch "$1"; exec sleep 60' sh "$ready" &
	HOLDER_PIDS+=("$!")
	wait_for test -e "$ready"
}

# hold_with_flock1 OPTIONS...: the same, with util-linux flock(1).
hold_with_flock1() {
	local ready=$T/ready.$RANDOM
	setsid timeout 60 flock "$@" "$L" sh -c 'touch "$1"; exec sleep 60' sh "$ready" &
	HOLDER_PIDS+=("$!")
	wait_for test -e "$ready"
}

release_holders() {
	local pid
	for pid in "${HOLDER_PIDS[@]}"; do
		end_job "$pid" || true
		wait "$pid" 2>/dev/null || true
	done
	HOLDER_PIDS=()
}

# need_or_skip TOOL...: as root, installs whichever is missing (scripts/need);
# otherwise the test is skipped unless every tool is there.
need_or_skip() {
	local tool
	if [ "$(id -u)" = 0 ]; then
		"$BATS_TEST_DIRNAME/../../scripts/need" "$@" >&2 || skip "cannot install $*"
	fi
	for tool in "$@"; do
		command -v "$tool" >/dev/null || skip "$tool is not installed (scripts/need $tool, as root)"
	done
}
