#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
#
# A client whose statd is gone before its first lock on a server: lockd
# must have the server monitored first and cannot ("lockd: cannot
# monitor" in the kernel log).  On this kernel the lock call does not fail
# with ENOLCK then; it sleeps in the kernel, as on a server that does not
# answer.  So dlock's deadlines must hold: -w and -n give up a few seconds
# past the deadline and say why.  The server is reached by a second
# address of S, which B's lockd has never monitored; B is rebooted after
# the test, which gives it its statd back and drops the extra mount.

# shellcheck disable=SC2154 # set by helpers.bash

load helpers

alt=198.18.0.21

setup() {
	load_rig
	make_work_dir
	on S ip addr add "$alt" peer 198.18.0.3 dev eth1
	on B ip route add "$alt" dev eth0 src 198.18.0.3
	on B mkdir -p /mnt/alt
	on B -t 40 mount -t nfs -o vers=3,nosharecache "$alt:/srv/disk/export" /mnt/alt
	# statd gone, and unknown to rpcbind: nothing can be monitored.
	on B sh -c 'pkill -x rpc.statd; sleep 0.5; rpcinfo -d 100024 1 || :'
	! on B pgrep -x rpc.statd
}

teardown() {
	stop_holders
	on S ip addr del "$alt" peer 198.18.0.3 dev eth1 || :
	timeout -k 5 120 "$nfs_host" reboot B >/dev/null 2>&1 3>&- || :
	restore_rig
	remove_work_dir
}

@test "no statd on B before its first lock on a server: three dlock -w 3 at once give up a few seconds past the deadline, saying why" {
	local dir=/mnt/alt/$work_name t0 took
	t0=$(now)
	# shellcheck disable=SC2016 # expanded by the guest's shell
	run on B -t 40 sh -c '
		for i in 1 2 3; do
			( timeout -s KILL 30 "$1" -w 3 "$2/lock" true 2>"/tmp/err.$i"
			  echo "exit $?: $(cat /tmp/err.$i)" ) &
		done
		wait' sh "$DLOCK" "$dir"
	took=$(elapsed "$t0" "$(now)")
	note "B without statd, first lock on $alt: dlock -w 3 x3 took $took s: $output"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^exit 1: dlock: .*no answer from its filesystem' <<<"$output")" -eq 3 ]
	awk -v t="$took" 'BEGIN { exit !(t <= 15) }'
	on B sh -c 'dmesg | grep -q "lockd: cannot monitor"'
}

@test "no statd on B before its first lock on a server: dlock -n does not hang either" {
	local dir=/mnt/alt/$work_name t0 took
	t0=$(now)
	run on B -t 30 timeout -s KILL 20 "$DLOCK" -n -m fcntl "$dir/lock" true
	took=$(elapsed "$t0" "$(now)")
	note "B without statd: dlock -n -m fcntl took $took s, exit $status: $output"
	[ "$status" -eq 1 ]
	[[ $output == *"no answer from its filesystem"* ]]
	awk -v t="$took" 'BEGIN { exit !(t <= 10) }'
}
