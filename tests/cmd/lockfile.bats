#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# The lockfile method: the lock is the file LOCKPATH, holding its owner
# record, published whole, removed only by its holder, and nothing else
# is ever left beside it.

# bats runs each test in a subshell, which shellcheck takes for changes
# that get lost.
# shellcheck disable=SC2030,SC2031

load helpers
bats_require_minimum_version 1.5.0
# For namelock_contract.bash, which reads it when loaded.
# shellcheck disable=SC2034
METHOD='lockfile'
load namelock_contract

# The contract of the name-lock methods, defined in namelock_contract.bash.

# The lock and its record.
@test "lockfile: a held lock is LOCKPATH holding one complete record" { held_lock_is_one_complete_record; }
@test "lockfile: cat of the record names the wrapper, its host, boot, namespace, start time, and the command" { record_names_wrapper_host_boot_namespace_start_and_command; }
@test "lockfile: --heartbeat keeps the record's mtime fresh while the command runs" { heartbeat_keeps_the_record_fresh; }
@test "lockfile: a run leaves nothing behind, after success or any failure" { run_leaves_nothing_behind_after_success_or_failure; }

# A busy lock.
@test "lockfile: a busy lock with -n exits 1 at once and does not run the command" { busy_lock_with_n_exits_1_at_once; }
@test "lockfile: -n makes one attempt and never sleeps" { n_makes_one_attempt_and_never_sleeps; }
@test "lockfile: -w bounds the wait on a busy lock" { w_bounds_the_wait; }

# Waiting for it.
@test "lockfile: a waiter takes the lock soon after the holder lets go" { waiter_takes_the_lock_soon_after_release; }
@test "lockfile: a waiter polls with a growing delay, up to a small cap" { waiter_polls_with_a_growing_delay_up_to_a_small_cap; }
@test "lockfile: the poll delay stays jittered once it reaches its cap" { poll_delay_stays_jittered_at_its_cap; }

# Signals while waiting.
@test "lockfile: SIGTERM ends a wait: dlock dies of it, leaving the holder's lock" { signal_ends_wait TERM; }
@test "lockfile: SIGINT ends a wait: dlock dies of it, leaving the holder's lock" { signal_ends_wait INT; }
@test "lockfile: SIGTERM during an attempt: the lock is let go, the command never runs" { sigterm_during_an_attempt_lets_the_lock_go; }
@test "lockfile: a signal that arrives while a waiter tries, not sleeps, still ends the wait" { signal_while_a_waiter_tries_still_ends_the_wait; }

# A lock lost while held.
@test "lockfile: a holder whose record was replaced says it was lost, exits 71, and leaves the new lock" { holder_whose_record_was_replaced_says_lost_and_leaves_it; }
@test "lockfile: a holder whose lock was removed says it was lost and creates nothing" { holder_whose_lock_was_removed_says_lost_and_creates_nothing; }
@test "lockfile: a lost lock keeps the command's own failure status" { lost_lock_keeps_the_commands_own_failure_status; }
@test "lockfile: the lock appears with a record that already names the command, written once" { record_names_the_command_from_the_start_and_is_written_once; }

# What is refused, at once.
@test "lockfile: -s runs beside another shared holder, and an exclusive -n is refused meanwhile" { shared_lock_runs_beside_another_and_keeps_a_writer_out; }
@test "lockfile: what the method does not make at the path is refused with 66 at once, not waited on" { other_kind_at_the_path_is_refused_with_66_at_once; }
@test "lockfile: a record naming the other name-lock method is refused with 69 at once" { record_naming_the_other_method_is_refused_with_69_at_once; }

# Processes contending.
@test "lockfile: 8 processes contending lose no update and never overlap" { contending_processes_lose_no_update_and_never_overlap; }
@test "lockfile: a reader never sees a partial record while writers contend" { reader_never_sees_a_partial_record_while_writers_contend; }
