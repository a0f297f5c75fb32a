#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
#
# Mutual exclusion between hosts A and B on a real NFS server, several
# processes on each host, for every method on every mount that supports it.

# shellcheck disable=SC2154 # set by helpers.bash

load helpers

@test "fcntl locks on NFSv3 (NLM) exclude across hosts: no update lost, never two holders" {
	count_updates /mnt/v3 -w 120 -m fcntl
}

@test "fcntl locks on NFSv4.2 exclude across hosts: no update lost, never two holders" {
	count_updates /mnt/v4.2 -w 120 -m fcntl
}

@test "flock locks on NFSv3 exclude across hosts: no update lost, never two holders" {
	count_updates /mnt/v3 -w 120 -m flock
}

@test "flock locks on NFSv4.2 exclude across hosts: no update lost, never two holders" {
	count_updates /mnt/v4.2 -w 120 -m flock
}

@test "lockfile locks on NFSv3 exclude across hosts: no update lost, never two holders" {
	count_updates /mnt/v3 -w 120 -m lockfile
}

@test "lockfile locks on NFSv4.2 exclude across hosts: no update lost, never two holders" {
	count_updates /mnt/v4.2 -w 120 -m lockfile
}

@test "lockfile locks on an NFSv3 nolock mount exclude across hosts: no update lost, never two holders" {
	count_updates /mnt/v3-nolock -w 120 -m lockfile
}

@test "mkdir locks on NFSv3 exclude across hosts: no update lost, never two holders" {
	count_updates /mnt/v3 -w 120 -m mkdir
}

@test "mkdir locks on NFSv4.2 exclude across hosts: no update lost, never two holders" {
	count_updates /mnt/v4.2 -w 120 -m mkdir
}

@test "mkdir locks on an NFSv3 nolock mount exclude across hosts: no update lost, never two holders" {
	count_updates /mnt/v3-nolock -w 120 -m mkdir
}

@test "auto locks on NFSv3 exclude across hosts: no update lost, never two holders" {
	count_updates /mnt/v3 -w 120
}

@test "auto locks on NFSv4.2 exclude across hosts: no update lost, never two holders" {
	count_updates /mnt/v4.2 -w 120
}

@test "auto locks on an NFSv3 nolock mount exclude across hosts: no update lost, never two holders" {
	count_updates /mnt/v3-nolock -w 120
}
