# SPDX-License-Identifier: ISC
# Shared by the tiers that run across hosts (tests/cluster, tests/nfs).

# Polls COMMAND for up to SECONDS; every wait in these tests is bounded.
wait_for() {
	local seconds=$1
	shift
	local deadline=$((SECONDS + seconds))
	until "$@"; do
		if ((SECONDS >= deadline)); then
			echo "gave up after ${seconds}s waiting for: $*" >&2
			return 1
		fi
		sleep 0.1
	done
}
