#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# Locks shared between users: a stale lock that this user may not remove
# is said to be so at once, with whose it is and who may remove it; in a
# lock directory laid out for sharing, any member removes a stale lock.
# Root makes the locks, nobody (65534) takes them.

# Each sh -c script expands its own arguments.
# shellcheck disable=SC2016

load helpers

as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups timeout 10 "$@"
}

need_root() {
	[ "$(id -u)" -eq 0 ] || skip "needs root, to be two users"
	command -v strace >/dev/null || skip "needs strace"
	chmod 755 "$T"
}

# dead_lock METHOD: root takes $D/L and is killed as it releases it, so
# that the lock stays, naming a process that is gone.
dead_lock() {
	local call=unlink
	[ "$1" = lockfile ] || call=rename
	{ strace -o /dev/null -e inject=$call:signal=SIGKILL:when=1 \
		"$DLOCK" -m "$1" "$D/L" true; } 2>/dev/null || true
	[ -e "$D/L" ]
}

# record_of METHOD: the lock's record file.
record_of() {
	if [ "$1" = mkdir ]; then echo "$D/L/owner"; else echo "$D/L"; fi
}

# contend_as_nobody N COMMAND...: N processes of nobody run COMMAND at
# once; their statuses go to $T/status.I, their output to $T/out.I.
contend_as_nobody() {
	local n=$1 i
	shift
	for ((i = 1; i <= n; i++)); do
		{
			st=0
			as_nobody "$@" >"$T/out.$i" 2>&1 || st=$?
			echo "$st" >"$T/status.$i"
		} &
	done
	wait
}

# all_said STATUS TEXT N: each of the N processes exited STATUS and said
# exactly TEXT (and the hint line).
all_said() {
	local i
	for ((i = 1; i <= $3; i++)); do
		[ "$(cat "$T/status.$i")" -eq "$1" ] ||
			{ echo "process $i: status $(cat "$T/status.$i")"; cat "$T/out.$i"; false; }
		[ "$(head -n 1 "$T/out.$i")" = "$2" ] ||
			{ printf 'expected: %s\ngot:      %s\n' "$2" "$(head -n 1 "$T/out.$i")"; false; }
		[ "$(wc -l <"$T/out.$i")" -eq 2 ]
		[[ "$(tail -n 1 "$T/out.$i")" == "dlock: hint: "*"Shared lock directories"* ]]
	done
}

# stale_text METHOD: how the holder of the dead lock is described.
stale_text() {
	local record pid when
	record=$(record_of "$1")
	pid=$(sed 's/.* pid=\([0-9]*\) .*/\1/' "$record")
	when=$(date -d "@$(stat -c %Y "$record")" '+%Y-%m-%d %H:%M:%S')
	echo "it is stale (held on this host: pid $pid is gone, and so is its command; silent since $when)"
}

sticky_refusal() {
	local m=$1 start
	need_root
	dead_lock_in 1777 "$m"
	want="dlock: cannot lock '$D/L': $(stale_text "$m"), but it belongs to root (uid 0) and '$D' is sticky (mode 1777): only root (uid 0) may remove it"
	start=$(now)
	contend_as_nobody 4 "$DLOCK" -m "$m" -w 5 "$D/L" true
	# At once: the lock can never become free for nobody.
	within "$start" 0 2
	all_said 77 "$want" 4
	contend_as_nobody 2 "$DLOCK" break "$D/L"
	all_said 77 "dlock: break: cannot remove lock '$D/L': $(stale_text "$m"), but it belongs to root (uid 0) and '$D' is sticky (mode 1777): only root (uid 0) may remove it" 2
	# Its owner may: root's waiters break it and get in, one at a time.
	for i in 1 2 3; do
		"$DLOCK" -m "$m" -w 5 "$D/L" sh -c 'set -C; : >"$1/in" && rm "$1/in"' sh "$T" &
	done
	wait
	[ -z "$(ls -A "$D")" ]
}

@test "lockfile: root's stale lock in a sticky directory: nobody's waiters exit 77 at once, saying whose it is and who may remove it" {
	sticky_refusal lockfile
}

@test "mkdir: root's stale lock in a sticky directory: nobody's waiters exit 77 at once, saying whose it is and who may remove it" {
	sticky_refusal mkdir
}

# dead_lock_in MODE METHOD: a fresh directory $D of that mode, holding a
# stale lock of root's.
dead_lock_in() {
	D=$(mktemp -d "$T/dir.XXXXXX")
	chmod "$1" "$D"
	dead_lock "$2"
}

@test "a stale lock in a directory nobody may not write to: 77, naming the directory" {
	local m
	need_root
	for m in lockfile mkdir; do
		dead_lock_in 755 "$m"
		contend_as_nobody 3 "$DLOCK" -m "$m" -w 5 "$D/L" true
		all_said 77 "dlock: cannot lock '$D/L': $(stale_text "$m"), but '$D' (of root (uid 0), mode 0755) is not writable by this user: only a user who may write to it, or root, may remove it" 3
	done
}

@test "a breaker lock of root's dead process in a sticky directory: nobody's waiters exit 77 at once, naming it" {
	local m
	need_root
	for m in lockfile mkdir; do
		dead_lock_in 1777 "$m"
		printf 'dlock/1 method=%s pid=%d host=%s boot=%s pidns=%s start=1 time=1 nonce=0123456789abcdef0123456789abcdef\n' \
			"$m" "$(cat /proc/sys/kernel/pid_max)" "$(uname -n)" \
			"$(cat /proc/sys/kernel/random/boot_id)" \
			"$(stat -L -c %i /proc/self/ns/pid)" >"$D/L.break"
		contend_as_nobody 3 "$DLOCK" -m "$m" -w 5 "$D/L" true
		all_said 77 "dlock: cannot lock '$D/L': its breaker lock '$D/L.break', left by a process that died while breaking or releasing it, cannot be removed: it belongs to root (uid 0) and '$D' is sticky (mode 1777): only root (uid 0) may remove it" 3
	done
}

shared_layout() {
	local m=$1 i
	need_root
	D=$(mktemp -d "$T/shared.XXXXXX")
	chgrp 65534 "$D"
	chmod 2775 "$D"
	# Root, a member of the group, with the umask the layout asks for.
	(umask 002 && dead_lock "$m")
	echo 0 >"$D/count"
	chmod 666 "$D/count"
	contend_as_nobody 6 "$DLOCK" -m "$m" -w 8 "$D/L" sh -c '
		set -C
		: >"$1/in" || exit 3
		n=$(cat "$1/count")
		echo $((n + 1)) >|"$1/count"
		rm "$1/in"' sh "$D"
	for i in 1 2 3 4 5 6; do
		[ "$(cat "$T/status.$i")" -eq 0 ] || { cat "$T/out.$i"; false; }
	done
	[ "$(cat "$D/count")" -eq 6 ]
	[ "$(ls -A "$D")" = count ]
	# And dlock break, as nobody, of another stale lock of root's.
	(umask 002 && dead_lock "$m")
	run as_nobody "$DLOCK" break "$D/L"
	[ "$status" -eq 0 ]
	[ "$(ls -A "$D")" = count ]
}

@test "lockfile: in a setgid group directory (2775), nobody's waiters break root's stale lock and get in, one at a time" {
	shared_layout lockfile
}

@test "mkdir: in a setgid group directory (2775), nobody's waiters break root's stale lock and get in, one at a time" {
	shared_layout mkdir
}

@test "mkdir: what root's killed processes left in a sticky directory (an intent, a released directory) does not stop nobody's processes" {
	local i
	need_root
	D=$(mktemp -d "$T/dir.XXXXXX")
	chmod 1777 "$D"
	# Killed as it enters mkdir: root's intent stays.
	{ strace -o /dev/null -e inject=mkdir:signal=SIGKILL:when=1 \
		"$DLOCK" -m mkdir "$D/L" true; } 2>/dev/null || true
	[ -s "$D/L.intent" ]
	mkdir "$D/L.released"
	echo 0 >"$D/count"
	chmod 666 "$D/count"
	contend_as_nobody 4 "$DLOCK" -m mkdir -w 8 "$D/L" sh -c '
		n=$(cat "$1/count")
		echo $((n + 1)) >|"$1/count"' sh "$D"
	for i in 1 2 3 4; do
		[ "$(cat "$T/status.$i")" -eq 0 ] || { cat "$T/out.$i"; false; }
	done
	[ "$(cat "$D/count")" -eq 4 ]
	[ ! -e "$D/L" ]
}
