# SPDX-License-Identifier: ISC
# Who is inside a lock, for the tests of shared locks in every tier: a
# command each holder runs, and the check of what they noted.

# The command: sh -c "$INSIDE" sh MARKERS ROLE LOG SECONDS.  It makes a
# marker named for its ROLE (r, a reader, or w, a writer) in the local
# directory MARKERS (mktemp is atomic, and pids repeat across the PID
# namespaces of the cluster's hosts), counts the markers of readers and
# writers there, notes "ROLE READERS WRITERS" in LOG, stays SECONDS and
# removes its marker before it lets go.  Markers live only while their
# makers hold the lock, so a writer must count itself alone and a reader
# no writer.
# shellcheck disable=SC2016,SC2034 # expanded by the holder's shell; used by the tests
INSIDE='
	m=$(mktemp -d "$1/$2.XXXXXX") || exit 90
	r=$(ls "$1" | grep -c "^r\.")
	w=$(ls "$1" | grep -c "^w\.")
	echo "$2 $r $w" >>"$3"
	sleep "$4"
	rmdir "$m"'

# inside_log_ok LOG READS WRITES: LOG has READS entries of readers and
# WRITES of writers, no writer saw anyone else and no reader a writer.
# Prints the most readers inside at once.
inside_log_ok() {
	[ "$(grep -c '^r ' "$1")" -eq "$2" ] || { echo "readers: $(grep -c '^r ' "$1") of $2" >&2; return 1; }
	[ "$(grep -c '^w ' "$1")" -eq "$3" ] || { echo "writers: $(grep -c '^w ' "$1") of $3" >&2; return 1; }
	! awk '($1 == "w" && ($2 != 0 || $3 != 1)) || ($1 == "r" && $3 != 0)' "$1" | grep . >&2 ||
		return 1
	awk '$1 == "r" && $2 > p { p = $2 } END { print p + 0 }' "$1"
}
