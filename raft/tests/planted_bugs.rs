//! Proof that the simulator has teeth: each test re-introduces a classic
//! Raft bug (compiled in only with the `planted-bugs` feature) and requires
//! the simulator to catch it within a budget of seeds no larger than what CI
//! runs of the same profile in `simulator.rs`.
#![cfg(feature = "planted-bugs")]

mod sim;

use sim::{Bug, SimConfig, run};

/// Runs seeds of `profile` with `bug` planted until an invariant breaks;
/// returns the invariant. Panics if none does within `budget` seeds.
fn caught(bug: Bug, budget: u64, profile: fn(u64) -> SimConfig) -> &'static str {
    for seed in 0..budget {
        let mut cfg = profile(seed);
        cfg.bug = bug;
        if let Err(v) = run(cfg) {
            eprintln!(
                "{bug:?} caught at seed {seed}: {} ({})",
                v.invariant, v.detail
            );
            return v.invariant;
        }
    }
    panic!("{bug:?} was not caught within {budget} seeds");
}

// Figure 8 of the Raft paper: counting replicas of an old-term entry lets a
// later leader that never had it overwrite it. Needs several leaders in a
// row with half-replicated logs, which is what the flapping-leaders profile
// produces (about one seed in three hundred lines the events up).
#[test]
fn committing_a_previous_term_entry_by_counting_is_caught() {
    let invariant = caught(Bug::CommitPreviousTermByCounting, 3000, |seed| {
        SimConfig::flapping_leaders(seed, 3)
    });
    assert_eq!(invariant, "leader-completeness");
}

// An acknowledgement sent before the entries are durable lets a crash take
// back an entry the leader already counted as committed.
#[test]
fn acknowledging_before_persisting_is_caught() {
    caught(Bug::AckBeforePersist, 2000, |seed| SimConfig::new(seed, 3));
}

// Without the up-to-date check a candidate missing committed entries can
// win, and its log then overwrites them.
#[test]
fn voting_without_the_log_check_is_caught() {
    caught(Bug::VoteWithoutLogCheck, 2000, |seed| {
        SimConfig::new(seed, 3)
    });
}

// The feature only adds switches; with every switch off the same seeds pass.
#[test]
fn the_same_seeds_pass_without_a_planted_bug() {
    for seed in 0..50 {
        for cfg in [
            SimConfig::new(seed, 3),
            SimConfig::flapping_leaders(seed, 3),
        ] {
            if let Err(v) = run(cfg) {
                panic!("{v}");
            }
        }
    }
}
