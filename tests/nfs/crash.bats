#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
#
# Host A crashes (its QEMU is killed: a power cut) while it holds locks, and
# host B, waiting for each, takes over when the method allows and never
# while A lives: NFSv4.2 fcntl after the server's lease, lockfile and mkdir
# after --stale, NFSv3 fcntl only when A has rebooted and its statd has told
# the server.  Takeover times are measured on this machine, from the crash.

# shellcheck disable=SC2154 # set by helpers.bash

load helpers

stale=12

# hold NAME MNT OPTIONS...: A holds a lock on MNT and says so.  The holding
# command makes an occupancy directory that B's command must find gone.
hold() {
	local name=$1 dir
	dir=$(work_on "$2")
	shift 2
	start_holder "$name-a" A "$DLOCK" "$@" "$dir/$name" sh -c \
	    "mkdir $dir/$name.occupied && echo held && exec sleep 600"
	wait_for 60 holder_said "$name-a" held
}

# await NAME MNT OPTIONS...: B waits for the same lock and, when it gets
# it, removes A's occupancy directory (A can no longer) and says so.
await() {
	local name=$1 dir
	dir=$(work_on "$2")
	shift 2
	start_holder "$name-b" B "$DLOCK" -w 280 "$@" "$dir/$name" sh -c \
	    "rmdir $dir/$name.occupied && echo got || echo 'got, but the occupancy directory is gone'"
}

got_at_init() { declare -gA got_at=(); }
record_takeovers() {
	local name
	for name in "$@"; do
		if [[ -z ${got_at[$name]-} ]] && holder_said "$name-b" got; then
			got_at[$name]=$(now)
		fi
	done
}

all_taken() {
	local name
	record_takeovers "$@"
	for name in "$@"; do
		[[ -n ${got_at[$name]-} ]] || return 1
	done
}

none_taken() {
	local name
	for name in "$@"; do
		if holder_said "$name-b" got; then
			echo "B got $name while A was alive" >&2
			return 1
		fi
	done
}

@test "after A crashes holding locks, B takes over: v4.2 fcntl after the lease, lockfile and mkdir after --stale, v3 fcntl only once A has rebooted" {
	got_at_init
	hold v4 /mnt/v4.2 -m fcntl
	hold v3 /mnt/v3 -m fcntl
	hold lockfile /mnt/v3 -m lockfile --stale "$stale"
	hold mkdir /mnt/v3 -m mkdir --stale "$stale"
	await v4 /mnt/v4.2 -m fcntl
	await v3 /mnt/v3 -m fcntl
	await lockfile /mnt/v3 -m lockfile --stale "$stale"
	await mkdir /mnt/v3 -m mkdir --stale "$stale"

	# Longer than the lease and than --stale: A's lease renewals and
	# heartbeats must keep every lock A's while A lives.
	local t0 deadline
	t0=$(now)
	deadline=$((SECONDS + stale + 8))
	while ((SECONDS < deadline)); do
		none_taken v4 v3 lockfile mkdir
		sleep 0.5
	done
	run on B "$DLOCK" -n -m fcntl "$(work_on /mnt/v4.2)/v4" true
	[ "$status" -eq 1 ]

	local crash
	crash=$(now)
	"$nfs_host" crash A
	# NLM has no lease: without A's reboot the server keeps A's v3 lock.
	wait_for 60 all_taken v4 lockfile mkdir
	local name
	for name in v4 lockfile mkdir; do
		note "$name: B took over $(elapsed "$crash" "${got_at[$name]}") s after A crashed"
	done
	deadline=$((SECONDS + 5))
	while ((SECONDS < deadline)); do
		none_taken v3
		sleep 0.5
	done
	note "v3: still A's $(elapsed "$crash" "$(now)") s after the crash, while A is down"

	# A's statd tells the server of the reboot as it starts, a little
	# before A is ready (its mounts back, which is when it writes "ready").
	local booting booted up
	booting=$(now)
	timeout -k 5 300 "$repo_root/scripts/nfs-up" >/dev/null 2>&1 3>&- &
	up=$!
	wait_for 120 all_taken v3
	wait "$up"
	booted=$(stat -c %.9Y "$DLOCK_NFS_RUN/a/ctl/ready")
	note "v3: B took over $(elapsed "$crash" "${got_at[v3]}") s after the crash;" \
	    "A was booted again at $(elapsed "$crash" "$booting") s and ready at" \
	    "$(elapsed "$crash" "$booted") s"
	awk -v t="$(elapsed "$booting" "${got_at[v3]}")" 'BEGIN { exit !(t > 0) }'

	# The lease is 10 s and the laundromat runs every lease period.
	local v4_after lockfile_after mkdir_after
	v4_after=$(elapsed "$crash" "${got_at[v4]}")
	lockfile_after=$(elapsed "$crash" "${got_at[lockfile]}")
	mkdir_after=$(elapsed "$crash" "${got_at[mkdir]}")
	awk -v t="$v4_after" 'BEGIN { exit !(t >= 5 && t <= 40) }'
	# The last heartbeat was at most stale/3 before the crash.
	awk -v t="$lockfile_after" -v s="$stale" 'BEGIN { exit !(t >= s * 2 / 3 - 1 && t <= s + 20) }'
	awk -v t="$mkdir_after" -v s="$stale" 'BEGIN { exit !(t >= s * 2 / 3 - 1 && t <= s + 20) }'
	for name in v4 v3 lockfile mkdir; do
		wait_for 30 holder_exited "$name-b"
		holder_status "$name-b"
		[ "$holder_rc" -eq 0 ]
		run cat "$BATS_TEST_TMPDIR/$name-b.out"
		[ "$output" = got ]
	done
	note "held before the crash for $(elapsed "$t0" "$crash") s with B waiting"
}
