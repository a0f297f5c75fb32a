# SPDX-License-Identifier: ISC
# Shared by lockfile.bats and mkdir.bats: set METHOD (lockfile or mkdir)
# and ATTEMPT_CALL (the system call of one attempt, as a regular
# expression) before loading it.
#
# shellcheck disable=SC2154 # METHOD and ATTEMPT_CALL come from the loader

# Each lock lives in a directory of its own, $D, so that everything a run
# leaves there can be listed.
eval "shared_$(declare -f setup)"
setup() {
	shared_setup
	D=$T/d
	mkdir "$D"
	L=$D/lock
}

# shellcheck disable=SC2034 # used by the loaders
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

# attempts_traced N: $T/trace shows at least N attempts to publish a lock
# (link for lockfile, mkdir for mkdir).
attempts_traced() {
	[ -e "$T/trace" ] && [ "$(grep -c -E " $ATTEMPT_CALL\\(" "$T/trace")" -ge "$1" ]
}

# The tests that trace dlock turn leak detection off in a sanitizer build
# (strace -E ASAN_OPTIONS=detect_leaks=0): LeakSanitizer cannot work under
# ptrace.
can_strace() {
	command -v strace >/dev/null && strace -f -o /dev/null true 2>/dev/null
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
