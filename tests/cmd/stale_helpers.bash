# SPDX-License-Identifier: ISC
# Shared by stale.bats and status.bats: lock holders that can be killed
# or paused, owner records written by hand, and figures for the log.
# Load after helpers.bash.  Every wait here is bounded.

OCCUPY=$BATS_TEST_DIRNAME/occupy.sh

# The lockfile method with a short lease, as every participant must use it.
LF=(-m lockfile --stale 3 --heartbeat 0.5)

# occupant NAME HOLD MARK [OPTIONS...]: starts, in a process group of
# its own, a dlock that waits (20 s at most) for $L and then runs the
# critical section occupy.sh for HOLD seconds (MARK: "mark" or "", as
# occupy.sh takes it); its pid is in $OCCUPANT.
occupant() {
	local name=$1 hold=$2 mark=$3
	shift 3
	setsid timeout 30 "$DLOCK" "${LF[@]}" "$@" -w 20 "$L" \
		bash "$OCCUPY" "$T" "$name" "$hold" "$mark" &
	OCCUPANT=$!
	HOLDER_PIDS+=("$OCCUPANT")
}

# other_host_occupant NAME HOLD STALE: the same, on a host of its own:
# in a new UTS namespace whose host name is otherhost, so that this host
# can judge its lock only by the lease.  Its stderr goes to $T/NAME.err.
other_host_occupant() {
	local name=$1 hold=$2 stale=$3
	mkdir -p "$T/$name.d"
	setsid timeout 60 unshare --uts --fork sh -c \
		'hostname otherhost && exec "$@"' sh \
		"$DLOCK" -m lockfile --stale "$stale" --heartbeat 0.5 "$L" \
		bash "$OCCUPY" "$T/$name.d" "$name" "$hold" 2>"$T/$name.err" &
	OCCUPANT=$!
	HOLDER_PIDS+=("$OCCUPANT")
}

# pids_of NAME [DIR]: "COMMAND WRAPPER", once the occupant is inside.
pids_of() {
	cat "${2:-$T}/pids.$1"
}

# keeper_of WRAPPER: the pid of the keeper that refreshes the lease of
# the dlock WRAPPER's lock while its command runs.
keeper_of() {
	pgrep -P "$1" -x dlock-keeper
}

# minus A B: A - B, to the millisecond.
minus() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", a - b }'
}

# holds A OP B: the comparison of two decimal numbers.
holds() {
	awk -v a="$1" -v b="$3" -v op="$2" 'BEGIN {
		if (op == "<") exit !(a < b); if (op == "<=") exit !(a <= b)
		if (op == ">") exit !(a > b); if (op == ">=") exit !(a >= b)
		exit 2 }'
}

# min_median_max FILE: of the numbers in FILE, one per line.
min_median_max() {
	sort -g "$1" | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "none"; exit }
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "min %.3f s, median %.3f s, max %.3f s (%d)\n",
		    v[1], m, v[NR], NR }'
}

# figure TEXT...: a line for the test log (bats shows what goes to fd 3).
figure() {
	echo "# $*" >&3
}

# random_seconds MAX_MS: a random delay from 0 to MAX_MS milliseconds.
random_seconds() {
	printf '0.%03d\n' $((RANDOM % $1))
}

# This host as owner records name it.
this_host() { uname -n; }
this_boot() { cat /proc/sys/kernel/random/boot_id; }
this_pidns() { stat -L -c %i /proc/self/ns/pid; }

# start_of PID: the start time of PID (field 22 of /proc/PID/stat; the
# command name, field 2, may hold spaces, so count from the last ')').
start_of() {
	local stat
	stat=$(cat "/proc/$1/stat")
	stat=${stat##*) }
	# shellcheck disable=SC2086 # split into fields 3, 4, ...
	set -- $stat
	echo "${20}"
}

new_nonce() {
	od -An -N16 -tx1 /dev/urandom | tr -d ' \n'
}

# write_record FILE PID START [HOST [BOOT [PIDNS [EXTRA]]]]: a dlock/1
# record of the method $RECORD_METHOD (default lockfile), with this host's
# identity unless told otherwise.
write_record() {
	local file=$1 pid=$2 start=$3 host=${4:-$(this_host)}
	local boot=${5:-$(this_boot)} pidns=${6:-$(this_pidns)} extra=${7:-}
	printf 'dlock/1 method=%s pid=%s host=%s boot=%s pidns=%s start=%s time=%s nonce=%s%s\n' \
		"${RECORD_METHOD:-lockfile}" "$pid" "$host" "$boot" "$pidns" \
		"$start" "$(date +%s)" "$(new_nonce)" "$extra" >"$file"
}

# nonce_in FILE: the nonce of the record in FILE.
nonce_in() {
	sed -n 's/.* nonce=\([0-9a-f]*\).*/\1/p' "$1"
}

# a_dead_pid: the pid of a process that has exited and been reaped.
a_dead_pid() {
	local pid
	sh -c 'exit 0' &
	pid=$!
	wait "$pid"
	echo "$pid"
}

# sleeper: starts a long sleep in its own process group; pid in $SLEEPER.
sleeper() {
	setsid sleep 60 &
	SLEEPER=$!
	HOLDER_PIDS+=("$SLEEPER")
}

# no_doubles: nobody ever found another occupant inside.
no_doubles() {
	if [ -s "$T/doubles" ]; then
		cat "$T/doubles" >&2
		return 1
	fi
}
