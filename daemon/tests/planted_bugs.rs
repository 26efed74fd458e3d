//! Proof that the simulator has teeth: each test re-introduces a classic
//! Raft bug (compiled in only with the `planted-bugs` feature) and requires
//! the simulator to catch it within the seeds CI runs.
#![cfg(feature = "planted-bugs")]

mod sim;

use sim::{Bug, SimConfig, run};

/// The most seeds a planted bug may take to be caught.
const BUDGET: u64 = 2000;
fn budget() -> u64 {
    std::env::var("PLANTED_BUDGET")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(BUDGET)
}

fn caught(bug: Bug, nodes: u64) -> String {
    for seed in 0..budget() {
        let mut cfg = SimConfig::new(seed, nodes);
        cfg.bug = bug;
        if let Err(v) = run(cfg) {
            eprintln!(
                "{bug:?} caught at seed {seed}: {} ({})",
                v.invariant, v.detail
            );
            return v.invariant.to_string();
        }
    }
    panic!("{bug:?} was not caught within {BUDGET} seeds");
}

#[test]
fn committing_a_previous_term_entry_by_counting_is_caught() {
    caught(Bug::CommitPreviousTermByCounting, 5);
}

#[test]
fn acknowledging_before_persisting_is_caught() {
    caught(Bug::AckBeforePersist, 3);
}

#[test]
fn voting_without_the_log_check_is_caught() {
    caught(Bug::VoteWithoutLogCheck, 3);
}

#[test]
fn the_same_seeds_pass_without_a_planted_bug() {
    for seed in 0..20 {
        if let Err(v) = run(SimConfig::new(seed, 3)) {
            panic!("{v}");
        }
    }
}
