//! etcd's Watch, server side: who watches which keys, and getting every
//! event to each of them exactly once, in order, without letting a slow
//! client hold up the apply loop.
//!
//! Owns: [`WatchHub`] (the watchers of every stream and their state),
//! [`WatchService`] (the `etcdserverpb.Watch` gRPC service over the hub) and
//! [`WatchConfig`]. Must never: write to the store, block
//! [`WatchHub::notify`] on a client, or hold the hub's lock and the store's
//! lock in the other order (the hub's lock is taken first, if both).
//!
//! # Design (etcd's watchable store, in our own words)
//! Each watcher is in exactly one group:
//! - **synced**: it has been handed every matching event up to the last
//!   revision the apply loop announced; [`WatchHub::notify`] hands it new
//!   ones directly.
//! - **unsynced**: it starts in the past (or fell behind); a background
//!   thread reads history from the store in chunks and hands the events
//!   over, then moves it to synced (see the hand-over rule below).
//! - **victim**: its stream's bounded channel was full; the response that
//!   did not fit waits with the watcher and is retried by the background
//!   thread; later events are not kept in memory but read back from history
//!   once the retry succeeds (the watcher is then unsynced).
//!
//! Each stream has one bounded channel shared by its watchers; only the
//! stream's own control messages (created, canceled) wait for room in it.
//!
//! # The hand-over rule
//! Every watcher has `next_rev`, the first revision it has not been handed.
//! The hub records `notified`, the last revision announced. A watcher is
//! synced only while `next_rev > notified`; `notify` hands it events of
//! revision `r` only when `r >= next_rev` and then sets `next_rev = r + 1`.
//! A catch-up reads history up to some revision `last` without the hub's
//! lock, then under the lock hands over the events from `next_rev` to
//! `last`, plus those from `last + 1` to `notified` out of a small ring of
//! recently announced revisions, and only then marks the watcher synced.
//! Revisions written but not yet announced when the history was read are
//! skipped by `notify` later because they are below `next_rev`: no gap, no
//! duplicate.

mod hub;
mod service;

pub use hub::WatchHub;
pub(crate) use hub::{Outgoing, WatchStream};
pub use service::{Admission, Admit, HeaderSource, PERMISSION_DENIED, WatchService};

use std::time::Duration;

/// The watch tunables.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// Responses buffered per stream before its watchers become victims
    /// (etcd: 128).
    pub stream_buffer: usize,
    /// How often a watcher created with `progress_notify` hears the
    /// revision when it received no events in the meantime (etcd: 10
    /// minutes, `--experimental-watch-progress-notify-interval`).
    pub progress_notify_interval: Duration,
    /// A watcher created with `fragment` gets responses larger than this
    /// split into several; catch-up responses are also cut at revision
    /// boundaries near this size. etcd uses `--max-request-bytes` plus
    /// 512 KiB of gRPC overhead.
    pub fragment_bytes: usize,
    /// History entries examined per catch-up read (etcd: 1000 revisions).
    pub catchup_chunk: usize,
    /// Recently announced revisions kept in memory for the hand-over.
    pub recent_revisions: usize,
    /// Cap on the events those revisions hold together: one huge revision
    /// (a DeleteRange of a whole prefix) is not kept around in memory; a
    /// hand-over that needs it reads the store instead.
    pub recent_events: usize,
    /// How often the background thread looks for work when not woken
    /// (etcd: 100 ms).
    pub sync_interval: Duration,
    /// How soon a victim's response is retried (etcd: 10 ms).
    pub victim_retry: Duration,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            stream_buffer: 128,
            progress_notify_interval: Duration::from_secs(600),
            fragment_bytes: 1536 * 1024 + 512 * 1024,
            catchup_chunk: 1000,
            recent_revisions: 1024,
            recent_events: 16 * 1024,
            sync_interval: Duration::from_millis(100),
            victim_retry: Duration::from_millis(10),
        }
    }
}

#[cfg(test)]
mod tests;
