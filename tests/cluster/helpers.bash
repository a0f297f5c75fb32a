# SPDX-License-Identifier: ISC
#
# Shared by the shared-filesystem tests.  They need the rig from
# scripts/cluster-up; each test gets a fresh directory on the shared volume,
# seen as $work_a from host A and $work_b from host B.

repo_root=$(cd -- "$BATS_TEST_DIRNAME/../.." && pwd)
on_host=$repo_root/scripts/on-host
cluster_env=${DLOCK_CLUSTER_DIR:-/var/tmp/dlock-cluster}/env
holder_pids=()
DLOCK=${DLOCK:-$repo_root/build/dlock}

# note TEXT...: a figure for the record, shown by bats as a "# " line.
note() {
	echo "# $*" >&3
}

now() {
	date +%s.%N
}

# A tiny POSIX record lock tool, since util-linux flock(1) only takes
# flock(2) locks.  "hold" waits for the lock, creates READY, then sleeps;
# "try" exits 0 if it got the lock at once and 1 if the lock is busy.
# KIND is "posix" (fcntl F_SETLK) or "ofd" (F_OFD_SETLK).
# shellcheck disable=SC2034 # used by the .bats files
fcntl_lock_py='
import errno, fcntl, os, struct, sys, time
mode, kind, path = sys.argv[1:4]
if kind == "ofd":
    cmd = fcntl.F_OFD_SETLKW if mode == "hold" else fcntl.F_OFD_SETLK
else:
    cmd = fcntl.F_SETLKW if mode == "hold" else fcntl.F_SETLK
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
whole_file = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
try:
    fcntl.fcntl(fd, cmd, whole_file)
except OSError as e:
    if e.errno in (errno.EAGAIN, errno.EACCES):
        sys.exit(1)
    raise
if mode == "hold":
    open(sys.argv[4], "w").close()
    time.sleep(600)
'

# Exits 1 if the file exists: the O_EXCL create that lockfiles rely on.
# shellcheck disable=SC2034
create_excl=(/usr/bin/python3 -c '
import os, sys
try:
    os.close(os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
except FileExistsError:
    sys.exit(1)
')

# The rig being down is a failure, not a skip: a shared-filesystem suite
# that quietly runs nothing proves nothing.
load_cluster() {
	if [[ ! -r $cluster_env ]]; then
		echo "cluster rig is not up ($cluster_env is missing): run scripts/cluster-up first" >&2
		return 1
	fi
	# shellcheck source=/dev/null
	source "$cluster_env"
	local mnt
	for mnt in "$DLOCK_CLUSTER_A" "$DLOCK_CLUSTER_B"; do
		if ! timeout -k 2 10 mountpoint -q "$mnt" ||
		    ! timeout -k 2 10 stat -f "$mnt" >/dev/null 2>&1; then
			echo "cluster rig is broken: $mnt is not a working mount; run scripts/cluster-up" >&2
			return 1
		fi
	done
}

# Each test works in its own directory, named the same from both hosts.
make_work_dirs() {
	local name=rig-test.$BATS_TEST_NUMBER.$$
	work_a=$DLOCK_CLUSTER_A/$name
	work_b=$DLOCK_CLUSTER_B/$name
	timeout -k 2 10 mkdir "$work_a"
}

remove_work_dirs() {
	[[ -n ${work_b-} ]] && timeout -k 2 20 rm -rf -- "$work_b"
	return 0
}

# wait_for SECONDS COMMAND...
# shellcheck source=tests/poll.bash
source "$BATS_TEST_DIRNAME/../poll.bash"

# start_holder HOST READY COMMAND...: runs COMMAND on HOST in the
# background, where it is expected to take a lock and then create READY
# (a local file, so no cache stands between it and us), and waits until it
# does.  Its output goes to the test's log, never to bats' own descriptors,
# which a leftover background process would keep open.
start_holder() {
	local host=$1 ready=$2
	shift 2
	"$on_host" "$host" "$@" >>"$BATS_TEST_TMPDIR/holders.log" 2>&1 3>&- &
	holder_pids+=("$!")
	wait_for 10 test -e "$ready"
}

stop_holders() {
	local pid
	for pid in "${holder_pids[@]}"; do
		kill -KILL "$pid" 2>/dev/null || :
		wait "$pid" 2>/dev/null || :
	done
	holder_pids=()
}

# The glusterfs client of a mount, checked against its command line so a
# stale pid file can never aim a kill at an unrelated process.
client_pid() {
	local mnt=$1 pidfile=$2 pid
	read -r pid <"$pidfile"
	if [[ ! $pid =~ ^[0-9]+$ ]] ||
	    ! tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF -- "$mnt"; then
		echo "no glusterfs client for $mnt (pid file $pidfile)" >&2
		return 1
	fi
	printf '%s\n' "$pid"
}

# race_on_both_hosts ROUNDS COMMAND...: starts COMMAND on a fresh name from
# both hosts at once, ROUNDS times.  Both may never succeed in one round,
# and each must exit 0 or 1.  Both failing is allowed: GlusterFS 10 does not
# create entries atomically on the brick, so a lookup from one client can
# make the other's mkdir fail with EEXIST while its own fails too (seen in
# about 1 round in 150, sometimes leaving the directory behind).
race_on_both_hosts() {
	local rounds=$1 round a b a_status b_status winners=0
	shift
	for ((round = 1; round <= rounds; round++)); do
		timeout -k 2 10 "$on_host" A "$@" "$work_a/race$round" \
		    2>"$BATS_TEST_TMPDIR/race-a" &
		a=$!
		timeout -k 2 10 "$on_host" B "$@" "$work_b/race$round" \
		    2>"$BATS_TEST_TMPDIR/race-b" &
		b=$!
		a_status=0 b_status=0
		wait "$a" || a_status=$?
		wait "$b" || b_status=$?
		case "$a_status $b_status" in
		"0 1" | "1 0") winners=$((winners + 1)) ;;
		"1 1") ;;
		*)
			echo "round $round: host A exited $a_status, host B $b_status" >&2
			cat "$BATS_TEST_TMPDIR/race-a" "$BATS_TEST_TMPDIR/race-b" >&2
			return 1
			;;
		esac
	done
	if ((winners < rounds / 2)); then
		echo "only $winners of $rounds rounds had a winner" >&2
		return 1
	fi
}

# wait_all PID...: waits for each of these children of the calling shell
# (never from a subshell, which cannot wait for them); fails if any of
# them exited non-zero.
wait_all() {
	local pid failed=0
	for pid in "$@"; do
		wait "$pid" || failed=$((failed + 1))
	done
	[ "$failed" -eq 0 ]
}

flock_is_free() {
	timeout -k 2 10 "$on_host" "$1" flock -n "$2" true
}

fcntl_is_free() {
	timeout -k 2 10 "$on_host" "$1" /usr/bin/python3 -c "$fcntl_lock_py" try "$2" "$3"
}

# host_dir A|B: the test's directory as that host sees it.
host_dir() {
	if [ "$1" = A ]; then echo "$work_a"; else echo "$work_b"; fi
}

# Every test: the rig must be up, and gets fresh directories.
setup() {
	load_cluster
	make_work_dirs
}

# Only the crash tests leave a host without its mount; putting it back is
# cluster-up's job, and it rewrites the env file with the new client's pid.
teardown() {
	stop_holders
	if [[ -e $BATS_TEST_TMPDIR/remount ]]; then
		timeout -k 5 120 "$repo_root/scripts/cluster-up" \
		    >"$BATS_TEST_TMPDIR/cluster-up.log" 2>&1 3>&- ||
		    { cat "$BATS_TEST_TMPDIR/cluster-up.log" >&2; return 1; }
	fi
	remove_work_dirs
}
