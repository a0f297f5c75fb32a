# SPDX-License-Identifier: ISC
#
# Shared by the real-NFS tests.  They need the rig from scripts/nfs-up: a
# server S and client hosts A and B, each client mounting S's export at
# /mnt/v3 (NFSv3 with NLM), /mnt/v4.2 and /mnt/v3-nolock.  Every command on
# a host goes through scripts/nfs-on under a timeout, so no test can hang;
# each test gets a fresh directory on the export, the same name on every
# mount.  Figures for the record are printed as "# " lines.
#
# shellcheck disable=SC2034 # the .bats files use what is set here

repo_root=$(cd -- "$BATS_TEST_DIRNAME/../.." && pwd)
nfs_on=$repo_root/scripts/nfs-on
nfs_host=$repo_root/scripts/nfs-host
nfs_env=${DLOCK_NFS_RUN:-/run/dlock-nfs}/env
DLOCK=${DLOCK:-$repo_root/build/dlock}
FAULT=${DLOCK_FAULT:-$repo_root/build/fault}
mounts=(/mnt/v3 /mnt/v4.2 /mnt/v3-nolock)
holder_pids=()
# -g: load sources this file inside a function, where a plain declare
# would make the table local to it.
declare -gA holder_pid=()
workers=${DLOCK_NFS_WORKERS:-3}
rounds=${DLOCK_NFS_ROUNDS:-3}

note() {
	echo "# $*" >&3
}

now() {
	date +%s.%N
}

elapsed() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'
}

# The rig being down is a failure, not a skip: a suite that quietly runs
# nothing proves nothing.
load_rig() {
	if [[ ! -r $nfs_env ]]; then
		echo "NFS rig is not up ($nfs_env is missing): run scripts/nfs-up first" >&2
		return 1
	fi
	# The guests map programs from this machine through 9p, and keep the
	# pages they mapped: one rebuilt while they run may still run as it
	# was.
	local bin
	for bin in "$DLOCK" "$FAULT"; do
		if [[ $bin -nt $nfs_env ]]; then
			echo "$bin is newer than the rig, whose guests may still run it as it was: restart the rig (scripts/nfs-down; scripts/nfs-up)" >&2
			return 1
		fi
	done
	# shellcheck source=/dev/null
	source "$nfs_env"
}

# on HOST [-t SECONDS] COMMAND...: COMMAND on a guest, without standard
# input, bounded by SECONDS (default 60) there and here.
on() {
	local host=$1 seconds=60
	shift
	if [[ ${1-} == -t ]]; then
		seconds=$2
		shift 2
	fi
	timeout --foreground -k 5 $((seconds + 30)) "$nfs_on" -n -t "$seconds" "$host" "$@"
}

# wait_for SECONDS COMMAND...
# shellcheck source=tests/poll.bash
source "$BATS_TEST_DIRNAME/../poll.bash"

# The test's directory on the export, as seen through mount MNT.
work_on() {
	printf '%s/%s\n' "$1" "$work_name"
}

make_work_dir() {
	work_name=nfs-test.$BATS_TEST_NUMBER.$$
	on A mkdir -m 1777 "/mnt/v3/$work_name"
}

remove_work_dir() {
	[[ -n ${work_name-} ]] || return 0
	on A -t 60 rm -rf -- "/mnt/v3/$work_name"
}

# start_holder NAME HOST COMMAND...: runs COMMAND on HOST in the background;
# its output goes to $BATS_TEST_TMPDIR/NAME.out.  The caller waits for
# what the holder prints (see holder_said).  Bats' own descriptors are
# closed for it, since a leftover background process would hold them.
start_holder() {
	local name=$1 host=$2
	shift 2
	timeout --foreground -k 5 900 "$nfs_on" -n -t 600 "$host" "$@" \
	    >"$BATS_TEST_TMPDIR/$name.out" 2>"$BATS_TEST_TMPDIR/$name.err" 3>&- &
	holder_pids+=("$!")
	holder_pid[$name]=$!
}

holder_said() {
	grep -q -- "$2" "$BATS_TEST_TMPDIR/$1.out" 2>/dev/null
}

# holder_status NAME: sets holder_rc to the holder's exit status, once
# holder_exited.  Called in the test's own shell: a $(...) subshell cannot
# wait for this shell's children, and bash may have no record left to
# give it.
holder_status() {
	holder_rc=0
	wait "${holder_pid[$1]}" || holder_rc=$?
}

holder_exited() {
	! kill -0 "${holder_pid[$1]}" 2>/dev/null
}

stop_holders() {
	local pid
	for pid in "${holder_pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || :
	done
	for pid in "${holder_pids[@]}"; do
		wait_for 20 eval "! kill -0 $pid 2>/dev/null" || kill -KILL "$pid" 2>/dev/null || :
		wait "$pid" 2>/dev/null || :
	done
	holder_pids=()
}

# Whatever a test did to a host is undone before the next one: a paused
# server resumed, clocks set right, crashed hosts booted again.
restore_rig() {
	local status=0
	timeout -k 2 10 "$nfs_host" resume S 2>/dev/null || :
	if [[ -e $BATS_TEST_TMPDIR/clocks ]]; then
		on A date -u -s "@$(date +%s)" >/dev/null || status=1
		on B date -u -s "@$(date +%s)" >/dev/null || status=1
	fi
	if ! "$nfs_host" boot-id S >/dev/null 2>&1 || ! "$nfs_host" boot-id A >/dev/null 2>&1 ||
	    ! "$nfs_host" boot-id B >/dev/null 2>&1; then
		timeout -k 5 300 "$repo_root/scripts/nfs-up" >"$BATS_TEST_TMPDIR/nfs-up.log" 2>&1 3>&- ||
		    { cat "$BATS_TEST_TMPDIR/nfs-up.log" >&2; status=1; }
	fi
	return "$status"
}

# The worker that the exclusion and crash tests run on each host: WORKERS
# processes each take the lock ROUNDS times and, under it, claim an
# occupancy marker with an atomic mkdir on the export (a second holder
# finds it taken, whatever the caches say), increment a counter and let
# the marker go.  Prints "overlaps N failures N" for the host.
# shellcheck disable=SC2016 # expanded by the guest's shell
counter_worker='
dlock=$1 dir=$2 workers=$3 rounds=$4
shift 4
export dir
work() {
	i=0
	while [ "$i" -lt "$rounds" ]; do
		"$dlock" "$@" "$dir/lock" sh -c "
			mkdir \"\$dir/occupied\" 2>/dev/null || echo overlap >>\"\$dir/overlaps.\$(hostname)\"
			n=\$(cat \"\$dir/counter\")
			echo \$((n + 1)) >\"\$dir/counter\"
			rmdir \"\$dir/occupied\" 2>/dev/null" || echo "exit $?" >>"$dir/failures.$(hostname)"
		i=$((i + 1))
	done
}
w=0
while [ "$w" -lt "$workers" ]; do
	work "$@" &
	w=$((w + 1))
done
wait
'

# count_updates MNT DLOCK-OPTIONS...: the worker above on both hosts at
# once, on mount MNT; then checks the count, the overlaps and the failures.
count_updates() {
	local mnt=$1
	shift
	count_updates_on "$mnt" "$mnt" "$@"
}

# count_updates_on MNT-A MNT-B DLOCK-OPTIONS...: the same, with each host
# on a mount of its own of the one directory; A runs $dlock_a and B
# $dlock_b if set.
count_updates_on() {
	local mnt=$1 mnt_b=$2 dir t0 t1 a b got expected overlaps failures
	shift 2
	dir=$(work_on "$mnt")
	on A sh -c "echo 0 >$dir/counter"
	expected=$((2 * workers * rounds))
	t0=$(now)
	on A -t 400 sh -c "$counter_worker" sh "${dlock_a:-$DLOCK}" "$dir" "$workers" "$rounds" "$@" \
	    2>"$BATS_TEST_TMPDIR/workers-a.err" &
	a=$!
	on B -t 400 sh -c "$counter_worker" sh "${dlock_b:-$DLOCK}" "$(work_on "$mnt_b")" "$workers" "$rounds" "$@" \
	    2>"$BATS_TEST_TMPDIR/workers-b.err" &
	b=$!
	local a_status=0 b_status=0 refused=0 failed ok=0
	wait "$a" || a_status=$?
	wait "$b" || b_status=$?
	t1=$(now)
	got=$(on A cat "$dir/counter")
	overlaps=$(on A sh -c "cat $dir/overlaps.* 2>/dev/null | wc -l")
	failures=$(on A sh -c "cat $dir/failures.* 2>/dev/null | sort | uniq -c | tr -s ' \n' ' '")
	failed=$(on A sh -c "cat $dir/failures.* 2>/dev/null | wc -l")
	[[ $mnt_b == "$mnt" ]] || mnt="A $mnt, B $mnt_b"
	[[ -z ${dlock_a-} ]] || mnt="$mnt (A runs ${dlock_a##*/})"
	[[ -z ${dlock_b-} ]] || mnt="$mnt (B runs ${dlock_b##*/})"
	note "$mnt $*: $got updates counted of $expected expected, $overlaps overlaps," \
	    "failures: ${failures:-none}; $(elapsed "$t0" "$t1") s"
	# What dlock said on either host is part of the result: an NFS error
	# (ESTALE above all) must never surface.
	sort "$BATS_TEST_TMPDIR/workers-a.err" | uniq -c | sed 's/^/A: /' >&2
	sort "$BATS_TEST_TMPDIR/workers-b.err" | uniq -c | sed 's/^/B: /' >&2
	((a_status == 0)) || { echo "host A's workers exited $a_status" >&2; ok=1; }
	((b_status == 0)) || { echo "host B's workers exited $b_status" >&2; ok=1; }
	if grep -qi 'stale file handle' "$BATS_TEST_TMPDIR"/workers-?.err; then
		echo "ESTALE surfaced" >&2
		ok=1
	fi
	((overlaps == 0)) || ok=1
	# Where refusals are allowed (tolerate_refusals set), a run refused
	# with exit 69 did not count, and nothing else may fail.
	if [[ -n ${tolerate_refusals-} ]]; then
		refused=$(on A sh -c "cat $dir/failures.* 2>/dev/null | grep -cx 'exit 69'" || :)
		((failed == refused)) || ok=1
		((got == expected - refused)) || ok=1
	else
		[[ $got == "$expected" && -z $failures ]] || ok=1
	fi
	return "$ok"
}

setup() {
	load_rig
	make_work_dir
}

teardown() {
	stop_holders
	restore_rig
	remove_work_dir
}
