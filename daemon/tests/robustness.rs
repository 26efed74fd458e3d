//! The robustness suite (issue 9): real cairn processes under faults,
//! every client call recorded, and the history checked.
//!
//! Built only with `--features failpoints` (add `planted-bugs` for the
//! tests that plant a bug and expect the suite to catch it).
//!
//! * `robustness/history.rs`: what a run records.
//! * `robustness/linearize.rs`: the per-key linearizability search and
//!   the revision checks across keys.
//! * `robustness/watch.rs`: watch guarantees, the end state.
//! * `robustness/proxy.rs`: the fault-injecting TCP proxy on peer links.
//! * `robustness/auth.rs`: the auth batch's users, prober and checks.

mod support;

#[path = "robustness/auth.rs"]
mod auth;
#[path = "robustness/history.rs"]
mod history;
#[path = "robustness/linearize.rs"]
mod linearize;
#[path = "robustness/proxy.rs"]
mod proxy;
#[path = "robustness/run.rs"]
mod run;
#[path = "robustness/watch.rs"]
mod watch;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use run::{RunConfig, RunReport};

/// Runs in the CI batch unless `ROBUSTNESS_RUNS` says otherwise (or
/// `ROBUSTNESS_MINUTES` ends it sooner).
const CI_RUNS: u64 = 10;
/// Runs in the auth batch, likewise: one per token kind.
const AUTH_RUNS: u64 = 3;
/// Seconds of traffic and faults per run unless `ROBUSTNESS_SECONDS` says
/// otherwise.
const CI_SECONDS: u64 = 12;

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
    )
}

/// The seeds of a batch: `ROBUSTNESS_SEED` alone, or `ROBUSTNESS_RUNS`
/// (default `runs`) seeds from `ROBUSTNESS_BASE_SEED` (default: the clock,
/// so every CI run tries new ones; each seed is printed).
fn seeds(runs: u64) -> Vec<u64> {
    if let Some(seed) = env_u64("ROBUSTNESS_SEED") {
        return vec![seed];
    }
    let runs = env_u64("ROBUSTNESS_RUNS").unwrap_or(runs);
    let base = env_u64("ROBUSTNESS_BASE_SEED").unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() * 1000)
    });
    (base..base + runs).collect()
}

fn traffic() -> Duration {
    Duration::from_secs(env_u64("ROBUSTNESS_SECONDS").unwrap_or(CI_SECONDS))
}

fn describe(report: &RunReport, cfg: &RunConfig) -> String {
    let mut text = report.summary();
    for v in &report.violations {
        text.push_str(&format!("\n    [{}] {}", v.check, v.detail));
    }
    if let Some(dir) = &report.kept {
        text.push_str(&format!(
            "\n    history, faults and member logs kept in {}\n    replay: {}",
            dir.display(),
            run::replay_command(cfg)
        ));
    }
    text
}

/// The CI batch: randomized runs, each with faults, every history checked.
/// Fails listing each violating seed, where its evidence is, and how to
/// replay it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn randomized_batch() {
    batch(CI_RUNS, |_| None).await;
}

/// The auth batch: the same runs with auth on (simple tokens, simple
/// tokens with a 2 s TTL, or JWTs, by seed), the workload logged in,
/// root changing a writer's role, and callers without the right probing
/// all the while; on top of every check of the CI batch, nothing
/// unauthorised is ever answered or seen (`robustness/auth.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_batch() {
    batch(AUTH_RUNS, |seed| Some(auth::AuthMode::of_seed(seed))).await;
}

/// Runs a batch of seeds, `auth` saying how each uses auth.
async fn batch(runs: u64, auth: fn(u64) -> Option<auth::AuthMode>) {
    let mut failed = Vec::new();
    let mut seeds = seeds(runs);
    // ROBUSTNESS_MINUTES: start no run after this long (a long run that
    // must end by a deadline).
    let budget = env_u64("ROBUSTNESS_MINUTES").map(|m| Duration::from_secs(m * 60));
    let started = std::time::Instant::now();
    let (mut calls, mut unknown, mut events, mut undecided) = (0, 0, 0, 0);
    for (done, &seed) in seeds.clone().iter().enumerate() {
        if budget.is_some_and(|b| started.elapsed() > b) {
            seeds.truncate(done);
            break;
        }
        let cfg = RunConfig {
            seed,
            traffic: traffic(),
            planted_bug: None,
            members: None,
            auth: auth(seed),
        };
        let report = run::run(&cfg).await;
        eprintln!("robustness: {}", describe(&report, &cfg));
        calls += report.ops;
        unknown += report.unknown;
        events += report.watch_events;
        undecided += report.undecided;
        if !report.violations.is_empty() {
            failed.push(describe(&report, &cfg));
        }
    }
    eprintln!(
        "robustness: {} runs, {calls} calls ({unknown} of unknown outcome), {events} watch events, {} with violations, {undecided} keys undecided",
        seeds.len(),
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "{} of {} runs broke a guarantee:\n{}",
        failed.len(),
        seeds.len(),
        failed.join("\n")
    );
}

/// Runs seeds with `bug` planted in every member until a violation of one
/// of `expected` shows; fails if the CI batch's number of runs passes
/// without one.
#[cfg(feature = "planted-bugs")]
async fn planted_bug_is_caught(bug: &'static str, expected: &[&str]) {
    let base = env_u64("ROBUSTNESS_SEED").unwrap_or(1);
    for seed in base..base + CI_RUNS {
        let cfg = RunConfig {
            seed,
            traffic: traffic(),
            planted_bug: Some(bug),
            members: Some(3),
            auth: None,
        };
        let report = run::run(&cfg).await;
        eprintln!("planted {bug}: {}", describe(&report, &cfg));
        if report
            .violations
            .iter()
            .any(|v| expected.contains(&v.check))
        {
            return;
        }
    }
    panic!("the planted {bug} bug went unnoticed in {CI_RUNS} runs");
}

/// Linearizable reads answered without ReadIndex: a lagging member serves
/// stale values.
#[cfg(feature = "planted-bugs")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_local_reads_is_caught() {
    planted_bug_is_caught("local-reads", &["linearizable-key", "revision-real-time"]).await;
}

/// Compaction at a delete's revision removes the delete, so a watch that
/// starts at the compaction revision misses it (etcd's issue 18089).
#[cfg(feature = "planted-bugs")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_compaction_drops_delete_is_caught() {
    planted_bug_is_caught("compaction-drops-delete", &["watch-gap"]).await;
}

/// A watcher catching up from history skips a revision.
#[cfg(feature = "planted-bugs")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_watch_off_by_one_is_caught() {
    planted_bug_is_caught("watch-off-by-one", &["watch-gap"]).await;
}
