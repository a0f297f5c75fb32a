#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# The mkdir method: the lock is the directory LOCKPATH with its owner
# record in LOCKPATH/owner, which appears whole; it is removed only by its
# holder, and nothing else is ever left beside it or in it.

# bats runs each test in a subshell, which shellcheck takes for changes
# that get lost.
# shellcheck disable=SC2030,SC2031

load helpers
bats_require_minimum_version 1.5.0
# For namelock_contract.bash, which reads it when loaded.
# shellcheck disable=SC2034
METHOD='mkdir'
load namelock_contract

# The contract of the name-lock methods, defined in namelock_contract.bash.

# The lock and its record.
@test "mkdir: a held lock is LOCKPATH holding one complete record" { held_lock_is_one_complete_record; }
@test "mkdir: cat of the record names the wrapper, its host, boot, namespace, start time, and the command" { record_names_wrapper_host_boot_namespace_start_and_command; }
@test "mkdir: --heartbeat keeps the record's mtime fresh while the command runs" { heartbeat_keeps_the_record_fresh; }
@test "mkdir: a run leaves nothing behind, after success or any failure" { run_leaves_nothing_behind_after_success_or_failure; }

# A busy lock.
@test "mkdir: a busy lock with -n exits 1 at once and does not run the command" { busy_lock_with_n_exits_1_at_once; }
@test "mkdir: -n makes one attempt and never sleeps" { n_makes_one_attempt_and_never_sleeps; }
@test "mkdir: -w bounds the wait on a busy lock" { w_bounds_the_wait; }

# Waiting for it.
@test "mkdir: a waiter takes the lock soon after the holder lets go" { waiter_takes_the_lock_soon_after_release; }
@test "mkdir: a waiter polls with a growing delay, up to a small cap" { waiter_polls_with_a_growing_delay_up_to_a_small_cap; }
@test "mkdir: the poll delay stays jittered once it reaches its cap" { poll_delay_stays_jittered_at_its_cap; }

# Signals while waiting.
@test "mkdir: SIGTERM ends a wait: dlock dies of it, leaving the holder's lock" { signal_ends_wait TERM; }
@test "mkdir: SIGINT ends a wait: dlock dies of it, leaving the holder's lock" { signal_ends_wait INT; }
@test "mkdir: SIGTERM during an attempt: the lock is let go, the command never runs" { sigterm_during_an_attempt_lets_the_lock_go; }
@test "mkdir: a signal that arrives while a waiter tries, not sleeps, still ends the wait" { signal_while_a_waiter_tries_still_ends_the_wait; }

# A lock lost while held.
@test "mkdir: a holder whose record was replaced says it was lost, exits 71, and leaves the new lock" { holder_whose_record_was_replaced_says_lost_and_leaves_it; }
@test "mkdir: a holder whose lock was removed says it was lost and creates nothing" { holder_whose_lock_was_removed_says_lost_and_creates_nothing; }
@test "mkdir: a lost lock keeps the command's own failure status" { lost_lock_keeps_the_commands_own_failure_status; }
@test "mkdir: the lock appears with a record that already names the command, written once" { record_names_the_command_from_the_start_and_is_written_once; }

# What is refused, at once.
@test "mkdir: -s runs beside another shared holder, and an exclusive -n is refused meanwhile" { shared_lock_runs_beside_another_and_keeps_a_writer_out; }
@test "mkdir: what the method does not make at the path is refused with 66 at once, not waited on" { other_kind_at_the_path_is_refused_with_66_at_once; }
@test "mkdir: a record naming the other name-lock method is refused with 69 at once" { record_naming_the_other_method_is_refused_with_69_at_once; }

# Processes contending.
@test "mkdir: 8 processes contending lose no update and never overlap" { contending_processes_lose_no_update_and_never_overlap; }
@test "mkdir: a reader never sees a partial record while writers contend" { reader_never_sees_a_partial_record_while_writers_contend; }

# What is the mkdir method's own.

@test "mkdir: a holder whose lock directory was replaced says it was lost and leaves the new one" {
	start_holder
	wait_for grep -q ' child=' "$R"
	sed 's/nonce=[0-9a-f]*/nonce=0123456789abcdef0123456789abcdef/' "$R" >"$T/new"
	rm -r "$L"
	mkdir "$L"
	cp "$T/new" "$R"
	holder_lets_go
	[ "$HOLDER_STATUS" -eq 71 ]
	grep -q lost "$T/err"
	cmp "$T/new" "$R"
}
