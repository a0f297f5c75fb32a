# SPDX-License-Identifier: ISC
#
# Shared by scripts/nfs-up, nfs-down, nfs-on and nfs-host: where the NFS
# rig keeps its files, and how its guests are found, started and stopped.
#
# DLOCK_NFS_CACHE (default /var/cache/dlock-nfs) holds what is downloaded
# and built once: the kernel, its modules, the initramfs and the server's
# disk image.  DLOCK_NFS_RUN (default /run/dlock-nfs) holds what a running
# rig needs: QEMU's pid files and sockets, the guests' control shares and
# the clients' /var/lib/nfs.
#
# shellcheck disable=SC2034 # used by the scripts that source this one
# shellcheck disable=SC2154 # each of them sets prog

nfs_cache=${DLOCK_NFS_CACHE:-/var/cache/dlock-nfs}
nfs_run=${DLOCK_NFS_RUN:-/run/dlock-nfs}
nfs_here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
nfs_guests=(s a b)
nfs_memory=${DLOCK_NFS_MEMORY:-768}

# Both directories are removed with rm -rf and given to QEMU in option
# strings where a comma would split them, so only plain names pass.
nfs_check_dirs() {
	local dir
	for dir in "$nfs_cache" "$nfs_run"; do
		if [[ ! $dir =~ ^(/[A-Za-z0-9._-]+)+$ || $dir == */. || $dir == */.. ||
		    $dir == / ]]; then
			echo "$prog: DLOCK_NFS_CACHE and DLOCK_NFS_RUN must be absolute paths of letters, digits, '.', '_', '-' and '/': $dir" >&2
			exit 2
		fi
	done
}

nfs_guest_letter() {
	case ${1,,} in
	s | a | b) printf '%s\n' "${1,,}" ;;
	*) return 1 ;;
	esac
}

nfs_hostname() {
	printf 'nfs-%s\n' "$1"
}

nfs_address() {
	case $1 in
	s) echo 198.18.0.1 ;;
	a) echo 198.18.0.2 ;;
	b) echo 198.18.0.3 ;;
	esac
}

# The pid in QEMU's pid file, but only while that process is a QEMU of this
# rig's guest: a stale pid file must never aim a signal at anything else.
#
# Builtins only: nfs-on calls this while signals may be sent to its whole
# process group, and a killed helper process must not pass for a dead guest.
nfs_qemu_pid() {
	local pidfile=$nfs_run/$1/qemu.pid pid="" arg
	local -a args=()
	[[ -r $pidfile ]] && read -r pid <"$pidfile"
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	mapfile -d '' args 2>/dev/null <"/proc/$pid/cmdline" || return 1
	for arg in "${args[@]}"; do
		if [[ $arg == "$pidfile" ]]; then
			printf '%s\n' "$pid"
			return 0
		fi
	done
	return 1
}

nfs_guest_running() {
	nfs_qemu_pid "$1" >/dev/null
}

nfs_guest_ready() {
	nfs_guest_running "$1" && [[ -s $nfs_run/$1/ctl/ready ]]
}

# Polls COMMAND until it succeeds or SECONDS pass; never waits unbounded.
nfs_wait_for() {
	local seconds=$1
	shift
	local deadline=$((SECONDS + seconds))
	until "$@"; do
		((SECONDS < deadline)) || return 1
		sleep 0.1
	done
}

nfs_pid_gone() {
	! kill -0 "$1" 2>/dev/null
}

# A power cut: the guest gets no chance to write or say anything.
nfs_kill_guest() {
	local pid
	pid=$(nfs_qemu_pid "$1") || return 0
	kill -CONT "$pid" 2>/dev/null || :
	kill -KILL "$pid" 2>/dev/null || :
	nfs_wait_for 20 nfs_pid_gone "$pid"
}
