//! Auto-compaction, as etcd's `--auto-compaction-mode` and
//! `--auto-compaction-retention` ask for: the leader proposes Compaction
//! requests on its own, keeping a window of history by time (`periodic`)
//! or by revision count (`revision`).
//!
//! [`Schedule`] decides what to compact and when, with the clock and the
//! revisions passed in, so its timing is tested without waiting;
//! [`compactor_loop`] runs it on the leader. Must never: compact on a
//! member that is not the leader (every compaction goes through raft like
//! a client's), or compact past a revision that is younger than the
//! retention asks to keep.
//!
//! The timings are etcd's:
//! - periodic, retention `P`: every `min(P, 1h) / 10` the current revision
//!   is sampled; every `min(P, 1h)` the history is compacted to the oldest
//!   of the last `P / (min(P, 1h) / 10) + 1` samples, the revision of about
//!   `P` ago.
//! - revision, retention `N`: every 5 minutes, compact to `current - N`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cairn_proto::etcdserverpb::CompactionRequest;
use cairn_proto::internal::request::Op;
use tokio::sync::watch;

use super::kv::propose_internal;
use super::state::Shared;
use crate::config::AutoCompaction;

const HOUR: Duration = Duration::from_secs(3600);
/// How often revision mode looks (etcd's `revInterval`).
const REVISION_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// When to compact, and to which revision.
#[derive(Debug)]
pub enum Schedule {
    Periodic {
        /// How often a sample is taken (and a failed compaction retried).
        sample_every: Duration,
        /// How often a compaction is attempted.
        compact_every: Duration,
        /// Samples kept: the oldest is the revision of one period ago.
        keep: usize,
        samples: VecDeque<i64>,
        last_success: Instant,
    },
    Revision {
        retention: i64,
        /// The revision last compacted to.
        last: i64,
    },
}

impl Schedule {
    /// The schedule for `cfg`, started at `now`; `None` when disabled.
    pub fn new(cfg: AutoCompaction, now: Instant) -> Option<Schedule> {
        match cfg {
            AutoCompaction::Disabled => None,
            AutoCompaction::Periodic(period) => {
                let compact_every = period.min(HOUR);
                let sample_every = compact_every / 10;
                let keep = (period.as_nanos() / sample_every.as_nanos().max(1)) as usize + 1;
                Some(Schedule::Periodic {
                    sample_every,
                    compact_every,
                    keep,
                    samples: VecDeque::with_capacity(keep),
                    last_success: now,
                })
            }
            AutoCompaction::Revision(n) => Some(Schedule::Revision {
                retention: i64::try_from(n).unwrap_or(i64::MAX),
                last: 0,
            }),
        }
    }

    /// How long to wait between two calls to [`Schedule::tick`].
    pub fn interval(&self) -> Duration {
        match self {
            Schedule::Periodic { sample_every, .. } => *sample_every,
            Schedule::Revision { .. } => REVISION_INTERVAL,
        }
    }

    /// Called every [`Schedule::interval`] with the store's current and
    /// compacted revisions: the revision to compact to now, if any.
    pub fn tick(&mut self, now: Instant, current: i64, compacted: i64) -> Option<i64> {
        let target = match self {
            Schedule::Periodic {
                compact_every,
                keep,
                samples,
                last_success,
                ..
            } => {
                samples.push_back(current);
                if samples.len() > *keep {
                    samples.pop_front();
                }
                if now.duration_since(*last_success) < *compact_every {
                    return None;
                }
                *samples.front()?
            }
            Schedule::Revision { retention, last } => {
                let target = current - *retention;
                if target <= 0 || target == *last {
                    return None;
                }
                target
            }
        };
        (target > compacted).then_some(target)
    }

    /// Records that the compaction to `rev` was done (or found already
    /// done) at `now`.
    pub fn done(&mut self, now: Instant, rev: i64) {
        match self {
            Schedule::Periodic { last_success, .. } => *last_success = now,
            Schedule::Revision { last, .. } => *last = rev,
        }
    }
}

/// While this member leads, compacts the history as `cfg` asks.
pub async fn compactor_loop(
    shared: Arc<Shared>,
    cfg: AutoCompaction,
    mut stop: watch::Receiver<bool>,
) {
    let Some(mut schedule) = Schedule::new(cfg, Instant::now()) else {
        return;
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(schedule.interval()) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if !shared.raft.is_leader.load(Ordering::Relaxed) {
            continue;
        }
        let (current, compacted) = {
            let store = shared.read_store();
            (store.current_revision(), store.compacted_revision())
        };
        let Some(rev) = schedule.tick(Instant::now(), current, compacted) else {
            continue;
        };
        tracing::info!(revision = rev, "starting auto compaction");
        let req = CompactionRequest {
            revision: rev,
            physical: false,
        };
        match propose_internal(&shared, Op::Compaction(req)).await {
            Ok(_) => {
                tracing::info!(revision = rev, "completed auto compaction");
                schedule.done(Instant::now(), rev);
            }
            Err(e) if e.message().contains("required revision has been compacted") => {
                schedule.done(Instant::now(), rev);
            }
            Err(e) => {
                tracing::warn!(revision = rev, error = %e.message(), "auto compaction failed; will retry");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives a schedule through `ticks` intervals, the revision growing
    /// by `per_tick` each time; the compactions it asks for, by tick.
    fn run(schedule: &mut Schedule, ticks: u32, per_tick: i64) -> Vec<(u32, i64)> {
        let start = Instant::now();
        let mut compacted = 0;
        let mut out = Vec::new();
        for t in 1..=ticks {
            let now = start + schedule.interval() * t;
            let current = 1 + per_tick * i64::from(t);
            if let Some(rev) = schedule.tick(now, current, compacted) {
                out.push((t, rev));
                compacted = rev;
                schedule.done(now, rev);
            }
        }
        out
    }

    #[test]
    fn periodic_keeps_one_period_of_history_and_compacts_once_a_period() {
        let start = Instant::now();
        let mut s = Schedule::new(AutoCompaction::Periodic(Duration::from_secs(10)), start)
            .expect("enabled");
        assert_eq!(s.interval(), Duration::from_secs(1));
        // Revision grows by 100 a second: the first compaction comes after
        // one period, to what was current about a period before.
        let done = run(&mut s, 25, 100);
        assert_eq!(done, vec![(10, 101), (20, 1001)]);
    }

    #[test]
    fn periodic_beyond_an_hour_compacts_hourly_and_keeps_the_whole_retention() {
        let s = Schedule::new(
            AutoCompaction::Periodic(Duration::from_secs(5 * 3600)),
            Instant::now(),
        )
        .expect("enabled");
        assert_eq!(s.interval(), Duration::from_secs(360));
        let Schedule::Periodic {
            compact_every,
            keep,
            ..
        } = s
        else {
            panic!("periodic")
        };
        assert_eq!(compact_every, HOUR);
        assert_eq!(
            keep, 51,
            "five hours of samples six minutes apart, plus now"
        );
    }

    #[test]
    fn revision_mode_keeps_the_last_n_revisions() {
        let mut s = Schedule::new(AutoCompaction::Revision(1000), Instant::now()).expect("enabled");
        assert_eq!(s.interval(), REVISION_INTERVAL);
        // 300 revisions a tick: nothing until the history is longer than
        // the retention, then current - 1000 every time.
        assert_eq!(run(&mut s, 6, 300), vec![(4, 201), (5, 501), (6, 801)]);
    }

    #[test]
    fn nothing_to_do_when_the_history_did_not_move() {
        let mut s = Schedule::new(AutoCompaction::Revision(10), Instant::now()).expect("enabled");
        let now = Instant::now();
        assert_eq!(s.tick(now, 50, 0), Some(40));
        s.done(now, 40);
        assert_eq!(s.tick(now, 50, 40), None, "same target as last time");
        assert_eq!(s.tick(now, 45, 40), None, "already compacted past it");
        assert!(Schedule::new(AutoCompaction::Disabled, now).is_none());
    }
}
