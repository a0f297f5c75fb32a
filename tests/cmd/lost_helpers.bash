# SPDX-License-Identifier: ISC
# Shared by lost.bats and max_time.bats: the waiters' results and the end
# of the command under test.  Load after helpers.bash and
# stale_helpers.bash.  Every wait here is bounded.

# shellcheck disable=SC2034 # used by the .bats files
VICTIM=$BATS_TEST_DIRNAME/victim.sh

# waiters_done N: every waiter got in, one at a time, and exited 0.
waiters_done() {
	local pid
	for pid in "${WAITERS[@]}"; do
		wait "$pid" || { echo "waiter $pid exited $?"; return 1; }
	done
	no_doubles
	[ "$(find "$T" -maxdepth 1 -name 'out.w*' | wc -l)" -eq "$1" ]
}

# first_in: the earliest time a waiter got in.
first_in() {
	cat "$T"/in.w* | sort -g | head -1
}

# gone PID: PID has exited (a zombie not yet reaped counts as gone).
gone() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	stat=${stat##*) }
	[ "${stat%% *}" = Z ]
}
