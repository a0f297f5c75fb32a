# SPDX-License-Identifier: ISC
# Bash completion for dlock(1): options, subcommands, methods, lock paths,
# and the command to run under the lock.
# shellcheck shell=bash

_dlock_methods="auto fcntl flock lockfile mkdir"

_dlock_options="-s --shared -x -e --exclusive -u --unlock -n --nb --nonblocking --nonblock
	-w --wait --timeout -E --conflict-exit-code -o --close -F --no-fork
	-m --method --fcntl --start --length --fd --stale --heartbeat --slots
	--fair --verbose -h --help -V --version"

# Options whose value is the next word.
_dlock_takes_value() {
	case $1 in
	-w | --wait | --timeout | -E | --conflict-exit-code | -m | --method | \
		--start | --length | --fd | --stale | --heartbeat | --slots)
		return 0 ;;
	esac
	return 1
}

_dlock_files() {
	local IFS=$'\n'
	compopt -o filenames 2>/dev/null || :
	# shellcheck disable=SC2207 # one file name a line
	COMPREPLY=($(compgen -f -- "$1"))
}

_dlock_subcommand() {
	local sub=$1 cur=$2 prev=$3 opts
	case $prev in
	-m | --method)
		# shellcheck disable=SC2207
		COMPREPLY=($(compgen -W "$_dlock_methods" -- "$cur"))
		return ;;
	--stale | --slots)
		return ;;
	esac
	case $sub in
	status) opts="-m --method --stale --slots --json -h --help" ;;
	break) opts="-f --force -m --method --stale -h --help" ;;
	probe) opts="--json -h --help" ;;
	esac
	if [[ $cur == -* ]]; then
		# shellcheck disable=SC2207
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
	else
		_dlock_files "$cur"
	fi
}

_dlock() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local i word lockpath=0

	COMPREPLY=()
	case ${COMP_WORDS[1]-} in
	status | break | probe)
		if ((COMP_CWORD > 1)); then
			_dlock_subcommand "${COMP_WORDS[1]}" "$cur" "$prev"
			return
		fi ;;
	esac

	# Find the lock path: the first word that is neither an option nor
	# an option's value.  What follows it is the command.
	for ((i = 1; i < COMP_CWORD; i++)); do
		word=${COMP_WORDS[i]}
		if _dlock_takes_value "$word"; then
			((i++))
		elif [[ $word == -- ]]; then
			lockpath=$((i + 1))
			break
		elif [[ $word != -* ]]; then
			lockpath=$i
			break
		fi
	done

	if ((lockpath > 0 && lockpath < COMP_CWORD)); then
		local first=$((lockpath + 1))
		case ${COMP_WORDS[first]-} in
		-c | --command)
			# A shell command string: nothing to offer.
			return ;;
		--)
			first=$((first + 1)) ;;
		esac
		if ((COMP_CWORD == lockpath + 1)) && [[ $cur == -* ]]; then
			# shellcheck disable=SC2207
			COMPREPLY=($(compgen -W "-c --command --" -- "$cur"))
		elif ((COMP_CWORD == first)); then
			# shellcheck disable=SC2207
			COMPREPLY=($(compgen -c -- "$cur" | sort -u))
		elif declare -F _command_offset >/dev/null; then
			# bash-completion: complete the command's own arguments.
			_command_offset "$first"
		else
			_dlock_files "$cur"
		fi
		return
	fi

	case $prev in
	-m | --method)
		# shellcheck disable=SC2207
		COMPREPLY=($(compgen -W "$_dlock_methods" -- "$cur"))
		return ;;
	-w | --wait | --timeout | -E | --conflict-exit-code | --start | \
		--length | --fd | --stale | --heartbeat | --slots)
		return ;;
	esac
	if [[ $cur == -* ]]; then
		# shellcheck disable=SC2207
		COMPREPLY=($(compgen -W "$_dlock_options" -- "$cur"))
	elif ((COMP_CWORD == 1)); then
		_dlock_files "$cur"
		# shellcheck disable=SC2207
		COMPREPLY+=($(compgen -W "status break probe" -- "$cur"))
	else
		_dlock_files "$cur"
	fi
}

complete -F _dlock dlock
