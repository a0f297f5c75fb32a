#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
#
# The method auto chooses from a real NFS client's mount options, the same
# on both hosts, and what dlock probe says of it.

# shellcheck disable=SC2154 # set by helpers.bash

load helpers

# probe_says HOST MNT METHOD FSTYPE OPTION: probe on HOST names FSTYPE, the
# mount option that decided, and METHOD.
probe_says() {
	local host=$1 mnt=$2 method=$3 fstype=$4 option=$5
	run on "$host" "$DLOCK" probe "$(work_on "$mnt")/lock"
	echo "$host $mnt: $output"
	[ "$status" -eq 0 ]
	[[ $output == *"filesystem:  $fstype"$'\n'* ]]
	[[ $output == *"options:     "*"$option"* ]]
	[[ $output == *"method:      $method"$'\n'* ]]
	[[ $output == *"because:     $fstype"* ]]
}

@test "auto picks fcntl on NFSv3 with NLM on both hosts, and probe names nfs and local_lock=none" {
	probe_says A /mnt/v3 fcntl nfs local_lock=none
	probe_says B /mnt/v3 fcntl nfs local_lock=none
}

@test "auto picks fcntl on NFSv4.2 on both hosts, and probe names nfs4 and local_lock=none" {
	probe_says A /mnt/v4.2 fcntl nfs4 local_lock=none
	probe_says B /mnt/v4.2 fcntl nfs4 local_lock=none
}

@test "auto picks lockfile on an NFSv3 nolock mount on both hosts, and probe names nolock" {
	probe_says A /mnt/v3-nolock lockfile nfs nolock
	probe_says B /mnt/v3-nolock lockfile nfs nolock
}

# Each mount gets a lock of its own: on one path, the fcntl method's empty
# file would be another method's lock to the lockfile method (mixed.bats).
@test "the command form on each mount takes the lock with the method probe names" {
	local mnt host want
	for host in A B; do
		for mnt in "${mounts[@]}"; do
			want=fcntl
			[[ $mnt == /mnt/v3-nolock ]] && want=lockfile
			run on "$host" "$DLOCK" --verbose "$(work_on "$mnt")/lock-$host-${mnt##*/}" true
			echo "$host $mnt: $output"
			[ "$status" -eq 0 ]
			[[ $output == *"lock on "*"($want)"* ]]
		done
	done
}
