//! A lock-free latency histogram with Prometheus's cumulative-bucket
//! semantics, for the WAL's fsync durations.
//!
//! The WAL records into it on the node driver's thread; the metrics
//! endpoint reads a [`HistogramSnapshot`] from another thread at any time.
//! It owns no exporter and no text format: the server renders snapshots as
//! `etcd_disk_wal_fsync_duration_seconds`.
//!
//! Invariants: bucket bounds are fixed at construction and increasing; a
//! snapshot's cumulative counts never decrease from one bucket to the next,
//! and the last (`+Inf`) equals `count`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counts observations into buckets by upper bound (in seconds).
#[derive(Debug)]
pub struct Histogram {
    bounds: Vec<f64>,
    /// Per-bucket (not cumulative) counts; one extra slot for `+Inf`.
    counts: Vec<AtomicU64>,
    sum_nanos: AtomicU64,
}

/// A point-in-time copy of a [`Histogram`], as Prometheus exposes it.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramSnapshot {
    /// `(upper bound in seconds, observations <= bound)`, cumulative, in
    /// increasing order; the implicit `+Inf` bucket is `count`.
    pub buckets: Vec<(f64, u64)>,
    pub count: u64,
    pub sum_seconds: f64,
}

impl Histogram {
    /// Buckets `start, start*factor, ...`, `count` of them.
    pub fn exponential(start: f64, factor: f64, count: usize) -> Histogram {
        let bounds: Vec<f64> = (0..count).map(|i| start * factor.powi(i as i32)).collect();
        Histogram {
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            bounds,
            sum_nanos: AtomicU64::new(0),
        }
    }

    /// The buckets etcd uses for `etcd_disk_wal_fsync_duration_seconds`:
    /// 1 ms doubling up to about 8 s.
    pub fn fsync() -> Histogram {
        Histogram::exponential(0.001, 2.0, 14)
    }

    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let slot = self
            .bounds
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(self.bounds.len());
        self.counts[slot].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Reads the counters. Concurrent observations may be half-visible (in
    /// the count but not yet the sum); scrapes tolerate that.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut running = 0;
        let buckets = self
            .bounds
            .iter()
            .zip(&self.counts)
            .map(|(b, c)| {
                running += c.load(Ordering::Relaxed);
                (*b, running)
            })
            .collect();
        let count = running + self.counts[self.bounds.len()].load(Ordering::Relaxed);
        HistogramSnapshot {
            buckets,
            count,
            sum_seconds: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fsync_buckets_match_etcds_bounds() {
        let s = Histogram::fsync().snapshot();
        assert_eq!(s.buckets.len(), 14);
        assert_eq!(s.buckets[0].0, 0.001);
        assert_eq!(s.buckets[13].0, 8.192);
    }

    #[test]
    fn counts_are_cumulative_and_overflow_goes_to_inf() {
        let h = Histogram::fsync();
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(1));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(60));
        let s = h.snapshot();
        assert_eq!(s.buckets[0], (0.001, 2));
        assert_eq!(s.buckets[1].1, 2);
        assert_eq!(s.buckets[2], (0.004, 3));
        assert_eq!(s.buckets[13].1, 3);
        assert_eq!(s.count, 4);
        assert!((s.sum_seconds - 60.0045).abs() < 1e-9);
    }
}
