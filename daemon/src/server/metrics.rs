//! The server's counters and gauges, rendered in Prometheus' text format
//! under etcd's metric names where the meaning is the same.
//!
//! Owns: the [`Metrics`] atomics and [`render`]. Must never: take a lock
//! that request handling holds for long (rendering reads atomics, the WAL's
//! histogram snapshot and the store's size).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::wal::HistogramSnapshot;

/// Counters bumped on the hot paths; all relaxed atomics.
#[derive(Debug, Default)]
pub struct Metrics {
    pub leader_changes: AtomicU64,
    pub proposals_committed: AtomicU64,
    pub proposals_applied: AtomicU64,
    pub proposals_pending: AtomicU64,
    pub proposals_failed: AtomicU64,
    pub slow_applies: AtomicU64,
    /// Entries applied as no-ops because they did not decode (see the
    /// node's `skip_undecodable`).
    pub undecodable_entries: AtomicU64,
    pub grpc_started: AtomicU64,
    pub grpc_handled_ok: AtomicU64,
    pub grpc_handled_err: AtomicU64,
    pub read_indexes: AtomicU64,
    pub read_index_failed: AtomicU64,
    /// The backend's size on disk after the last apply (the quota check's
    /// view; cheaper than asking the store per request).
    pub db_size_bytes: AtomicU64,
}

/// Values read at render time rather than counted.
#[derive(Debug, Default)]
pub struct Gauges {
    pub has_leader: bool,
    pub is_leader: bool,
    pub is_learner: bool,
    pub term: u64,
    pub commit: u64,
    pub applied: u64,
    pub db_total_bytes: u64,
    pub db_in_use_bytes: u64,
    pub current_revision: i64,
    pub compacted_revision: i64,
    pub fsync: Option<HistogramSnapshot>,
    /// This process's resident memory, when the platform tells.
    pub resident_bytes: Option<u64>,
}

/// This process's resident set size, from `/proc/self/status` (Linux).
/// `etcdctl check datascale` reads it through the metrics endpoint.
pub fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn load(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

/// One metric family: HELP, TYPE and a single unlabelled sample.
fn family(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    let _ = writeln!(out, "{name} {value}");
}

/// Renders every metric in Prometheus' text exposition format.
pub fn render(m: &Metrics, g: &Gauges) -> String {
    let mut out = String::new();
    let flag = |b: bool| u8::from(b);
    family(
        &mut out,
        "etcd_server_has_leader",
        "gauge",
        "Whether a leader exists: 1 yes, 0 no.",
        flag(g.has_leader),
    );
    family(
        &mut out,
        "etcd_server_is_leader",
        "gauge",
        "Whether this member is the leader: 1 yes, 0 no.",
        flag(g.is_leader),
    );
    family(
        &mut out,
        "etcd_server_is_learner",
        "gauge",
        "Whether this member is a learner: 1 yes, 0 no.",
        flag(g.is_learner),
    );
    family(
        &mut out,
        "etcd_server_leader_changes_seen_total",
        "counter",
        "Leader changes this member has seen.",
        load(&m.leader_changes),
    );
    family(
        &mut out,
        "etcd_server_proposals_committed_total",
        "gauge",
        "Raft index committed so far.",
        g.commit,
    );
    family(
        &mut out,
        "etcd_server_proposals_applied_total",
        "gauge",
        "Raft index applied so far.",
        g.applied,
    );
    family(
        &mut out,
        "etcd_server_proposals_pending",
        "gauge",
        "Proposals waiting to be applied.",
        load(&m.proposals_pending),
    );
    family(
        &mut out,
        "etcd_server_proposals_failed_total",
        "counter",
        "Proposals that failed or timed out.",
        load(&m.proposals_failed),
    );
    family(
        &mut out,
        "etcd_server_slow_apply_total",
        "counter",
        "Applies that took longer than expected.",
        load(&m.slow_applies),
    );
    family(
        &mut out,
        "cairn_server_undecodable_entries_total",
        "counter",
        "Committed entries that did not decode and were applied as no-ops.",
        load(&m.undecodable_entries),
    );
    family(
        &mut out,
        "etcd_server_slow_read_indexes_total",
        "counter",
        "Read index rounds that had to be retried or failed.",
        load(&m.read_index_failed),
    );
    family(
        &mut out,
        "etcd_server_read_indexes_total",
        "counter",
        "Read index rounds (each serves a batch of linearizable reads).",
        load(&m.read_indexes),
    );
    family(
        &mut out,
        "etcd_server_term",
        "gauge",
        "Current raft term (cairn's name; etcd has no such gauge).",
        g.term,
    );
    family(
        &mut out,
        "etcd_mvcc_db_total_size_in_bytes",
        "gauge",
        "Size of the backend on disk.",
        g.db_total_bytes,
    );
    family(
        &mut out,
        "etcd_mvcc_db_total_size_in_use_in_bytes",
        "gauge",
        "Size of the backend in use.",
        g.db_in_use_bytes,
    );
    family(
        &mut out,
        "etcd_debugging_mvcc_current_revision",
        "gauge",
        "Current revision of the key-value store.",
        g.current_revision,
    );
    family(
        &mut out,
        "etcd_debugging_mvcc_compact_revision",
        "gauge",
        "Last compacted revision.",
        g.compacted_revision,
    );
    if let Some(rss) = g.resident_bytes {
        family(
            &mut out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            rss,
        );
    }
    let _ = writeln!(
        out,
        "# HELP grpc_server_started_total RPCs started on the server.\n\
         # TYPE grpc_server_started_total counter\n\
         grpc_server_started_total {}",
        load(&m.grpc_started)
    );
    let _ = writeln!(
        out,
        "# HELP grpc_server_handled_total RPCs completed on the server, by outcome.\n\
         # TYPE grpc_server_handled_total counter\n\
         grpc_server_handled_total{{grpc_code=\"OK\"}} {}\n\
         grpc_server_handled_total{{grpc_code=\"Error\"}} {}",
        load(&m.grpc_handled_ok),
        load(&m.grpc_handled_err)
    );
    if let Some(h) = &g.fsync {
        let name = "etcd_disk_wal_fsync_duration_seconds";
        let _ = writeln!(out, "# HELP {name} Latency of WAL fdatasync calls.");
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (bound, cumulative) in &h.buckets {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(out, "{name}_sum {}", h.sum_seconds);
        let _ = writeln!(out, "{name}_count {}", h.count);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_etcd_names_with_values() {
        let m = Metrics::default();
        m.leader_changes.store(3, Ordering::Relaxed);
        let g = Gauges {
            has_leader: true,
            applied: 42,
            ..Gauges::default()
        };
        let text = render(&m, &g);
        assert!(text.contains("\netcd_server_has_leader 1\n"), "{text}");
        assert!(text.contains("\netcd_server_leader_changes_seen_total 3\n"));
        assert!(text.contains("\netcd_server_proposals_applied_total 42\n"));
        assert!(text.contains("# TYPE etcd_mvcc_db_total_size_in_bytes gauge"));
        assert!(!text.contains("process_resident_memory_bytes"));
    }

    #[test]
    fn reports_this_process_resident_memory_as_prometheus_names_it() {
        let rss = resident_memory_bytes().expect("Linux has /proc/self/status");
        assert!(rss > 1024 * 1024, "{rss}");
        let g = Gauges {
            resident_bytes: Some(rss),
            ..Gauges::default()
        };
        let text = render(&Metrics::default(), &g);
        assert!(text.contains(&format!("\nprocess_resident_memory_bytes {rss}\n")));
    }
}
