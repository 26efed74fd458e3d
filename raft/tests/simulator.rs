//! The deterministic cluster simulator over many seeds. `SIM_SEEDS=N` runs
//! N seeds per cluster size; `SIM_SEED=S` replays one. See `sim/mod.rs` for
//! the faults injected and the invariants checked.

mod sim;

use sim::{SimConfig, run, seeds, trace_of};

type Profile = fn(u64, u64) -> SimConfig;

/// Seeds per cluster size when SIM_SEEDS is not set: enough to exercise
/// every fault many times while keeping the test well under a minute on a
/// two-core machine.
const DEFAULT_SEEDS: u64 = 3000;

fn run_all(nodes: u64, profile: Profile, name: &str) {
    let started = std::time::Instant::now();
    let mut total = sim::Stats::default();
    let list = seeds(DEFAULT_SEEDS);
    for seed in &list {
        match run(profile(*seed, nodes)) {
            Ok(s) => {
                total.committed += s.committed;
                total.leaders_elected += s.leaders_elected;
                total.crashes += s.crashes;
                total.snapshots_sent += s.snapshots_sent;
                total.conf_changes += s.conf_changes;
                total.transfers += s.transfers;
                total.reads += s.reads;
            }
            Err(v) => panic!("{v}"),
        }
    }
    eprintln!(
        "{name}, {nodes} nodes: {} seeds in {:.1?}: {} entries committed, {} leaders, {} crashes, \
         {} snapshots sent, {} conf changes, {} transfers, {} reads checked",
        list.len(),
        started.elapsed(),
        total.committed,
        total.leaders_elected,
        total.crashes,
        total.snapshots_sent,
        total.conf_changes,
        total.transfers,
        total.reads
    );
    // A simulator that exercises nothing proves nothing.
    if list.len() >= 50 && name == "swarm" {
        assert!(total.crashes > 0 && total.snapshots_sent > 0 && total.conf_changes > 0);
        assert!(total.transfers > 0 && total.reads > 0);
    }
}

#[test]
fn three_nodes_survive_random_faults() {
    run_all(3, SimConfig::new, "swarm");
}

#[test]
fn five_nodes_survive_random_faults() {
    run_all(5, SimConfig::new, "swarm");
}

#[test]
fn three_nodes_survive_flapping_leaders() {
    run_all(3, SimConfig::flapping_leaders, "flapping leaders");
}

#[test]
fn five_nodes_survive_flapping_leaders() {
    run_all(5, SimConfig::flapping_leaders, "flapping leaders");
}

#[test]
fn same_seed_gives_the_same_trace() {
    let a = trace_of(SimConfig::new(42, 3));
    let b = trace_of(SimConfig::new(42, 3));
    assert!(a.len() > 1000, "trace suspiciously short");
    assert_eq!(a, b);
}
