//! [`WatchHub`]: every stream's watchers, the synced / unsynced / victim
//! groups, and the background thread that catches watchers up.
//!
//! Owns: watcher state and the hand-over rule described in the module docs
//! of `watch`. Must never: block in [`WatchHub::notify`] (it only uses
//! `try_send`), read the store while holding the hub's lock except in
//! [`WatchHub::store_restored`] (hub lock, then store lock — never the other
//! way round), or keep more than one pending response per victim.
//!
//! Invariants (checked by the unit tests below):
//! - a watcher is `Synced` only if its `next_rev > notified`;
//! - every watcher is handed the events of each revision at most once, in
//!   revision order, and, until it is cancelled, compacted or its stream
//!   closes, every matching event from its start revision on;
//! - a created response reaches the channel before any event of its
//!   watcher, a canceled response after the last one.

use super::WatchConfig;
use crate::mvcc::MvccStore;
use crate::mvcc::key_index::KeyRange;
use cairn_proto::etcdserverpb::{
    WatchCreateRequest, WatchResponse, watch_create_request::FilterType,
};
use cairn_proto::mvccpb::{Event, event::EventType};
use prost::Message;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, Weak};
use std::time::Duration;
use tokio::sync::mpsc::{self, error::TrySendError};

/// etcd's cancel reason for a client-chosen id already in use.
pub(crate) const DUPLICATE_ID: &str = "mvcc: duplicate watch ID provided on the WatchStream";
/// etcd's cancel reason for a range whose end is not after its start.
pub(crate) const EMPTY_RANGE: &str = "mvcc: watcher range is empty";

/// A response on its way to a stream, before the service adds the header.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outgoing {
    /// Everything but the header.
    pub response: WatchResponse,
    /// The header's revision; `None` takes the header source's (current).
    pub revision: Option<i64>,
    /// Split into fragments if too large (the watcher asked for it).
    pub fragment: bool,
}

#[derive(Debug)]
enum Phase {
    Synced,
    Unsynced,
    /// The channel was full: these responses wait, then the watcher is
    /// unsynced (or synced if nothing happened meanwhile), or finished if
    /// the last of them was its compaction notice.
    Victim {
        pending: VecDeque<Outgoing>,
        compacted: bool,
    },
    /// Told that its start revision is compacted; gets nothing more but
    /// keeps its id until cancelled, like etcd.
    Compacted,
}

#[derive(Debug)]
struct Watcher {
    range: KeyRange,
    /// The first revision not yet handed to this watcher.
    next_rev: i64,
    prev_kv: bool,
    no_put: bool,
    no_delete: bool,
    fragment: bool,
    progress_notify: bool,
    /// No events since the last progress tick.
    progress_due: bool,
    phase: Phase,
}

impl Watcher {
    /// The events of `evs` this watcher wants, as it wants them.
    fn select<'a>(&self, evs: impl IntoIterator<Item = &'a Event>) -> Vec<Event> {
        evs.into_iter()
            .filter(|e| {
                let key = e.kv.as_ref().map_or(&[][..], |kv| kv.key.as_slice());
                let put = e.r#type == EventType::Put as i32;
                let wanted = if put { !self.no_put } else { !self.no_delete };
                self.range.contains(key) && wanted
            })
            .map(|e| {
                let mut e = e.clone();
                if !self.prev_kv {
                    e.prev_kv = None;
                }
                e
            })
            .collect()
    }

    fn is_synced(&self) -> bool {
        matches!(self.phase, Phase::Synced | Phase::Compacted)
    }
}

#[derive(Debug)]
struct Stream {
    tx: mpsc::Sender<Outgoing>,
    watchers: BTreeMap<i64, Watcher>,
    next_id: i64,
    /// A progress request waits for every watcher to be synced.
    progress_wanted: bool,
}

impl Stream {
    fn all_synced(&self) -> bool {
        self.watchers.values().all(Watcher::is_synced)
    }

    /// Answers a waiting progress request if it can be answered now;
    /// returns whether one still waits.
    fn try_progress(&mut self, notified: i64) -> bool {
        if self.progress_wanted && self.all_synced() {
            match self.tx.try_send(progress(-1, notified)) {
                Ok(()) | Err(TrySendError::Closed(_)) => self.progress_wanted = false,
                Err(TrySendError::Full(_)) => {}
            }
        }
        self.progress_wanted
    }
}

#[derive(Debug)]
struct State {
    /// The last revision announced by `notify`.
    notified: i64,
    /// Recently announced revisions and their events, oldest first.
    recent: VecDeque<(i64, Vec<Event>)>,
    /// Every revision announced from here to `notified` is in `recent`.
    recent_from: i64,
    /// Events held in `recent`, all revisions together.
    recent_events: usize,
    streams: HashMap<u64, Stream>,
    next_stream: u64,
}

/// The announced events at revisions `from..=notified`, if the ring still
/// holds them all (`recent_from` as in [`State`]).
fn recent_since(
    recent: &VecDeque<(i64, Vec<Event>)>,
    recent_from: i64,
    from: i64,
) -> Option<impl Iterator<Item = &Vec<Event>>> {
    (from >= recent_from).then(|| {
        recent
            .iter()
            .filter(move |(r, _)| *r >= from)
            .map(|(_, e)| e)
    })
}

/// Wakes the background thread; outlives the hub so the thread can learn
/// the hub is gone.
#[derive(Debug, Default)]
struct Wake {
    flags: Mutex<(bool, bool)>, // (work to do, hub dropped)
    cond: Condvar,
}

impl Wake {
    fn set(&self, dropped: bool) {
        let mut f = lock(&self.flags);
        f.0 = true;
        f.1 |= dropped;
        self.cond.notify_one();
    }

    /// Waits up to `timeout` for work; returns false once the hub is gone.
    fn wait(&self, timeout: Duration) -> bool {
        let mut f = lock(&self.flags);
        if !f.0 && !f.1 && !timeout.is_zero() {
            f = self
                .cond
                .wait_timeout(f, timeout)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        f.0 = false;
        !f.1
    }
}

/// What the background thread should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pending {
    /// Unsynced watchers remain: go again at once.
    CatchUp,
    /// Victims (or a progress answer) wait for room: retry soon.
    Retry,
    /// Nothing to do until woken.
    Idle,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; the watch
    // state stays usable (at worst a watcher misses its stream's end).
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The watchers of every stream, fed by the apply loop. See the module
/// docs of `watch` for the design; share it as `Arc<WatchHub>`.
#[derive(Debug)]
pub struct WatchHub {
    store: Arc<RwLock<MvccStore>>,
    cfg: WatchConfig,
    state: Mutex<State>,
    wake: Arc<Wake>,
}

impl Drop for WatchHub {
    fn drop(&mut self) {
        self.wake.set(true);
    }
}

impl WatchHub {
    /// A hub over `store`, with its background thread (`watch-sync`)
    /// started. Every revision the store reaches after this call must be
    /// announced with [`WatchHub::notify`].
    pub fn new(store: Arc<RwLock<MvccStore>>, cfg: WatchConfig) -> Arc<WatchHub> {
        let hub = Self::without_thread(store, cfg);
        let weak = Arc::downgrade(&hub);
        let wake = hub.wake.clone();
        std::thread::Builder::new()
            .name("watch-sync".into())
            .spawn(move || sync_thread(weak, wake))
            .expect("spawning the watch-sync thread");
        hub
    }

    /// A hub whose background work runs only when [`WatchHub::sync_once`]
    /// is called: for deterministic tests.
    pub(crate) fn without_thread(store: Arc<RwLock<MvccStore>>, cfg: WatchConfig) -> Arc<WatchHub> {
        let current = read_store(&store).current_revision();
        Arc::new(WatchHub {
            store,
            cfg,
            state: Mutex::new(State {
                notified: current,
                recent: VecDeque::new(),
                recent_from: current + 1,
                recent_events: 0,
                streams: HashMap::new(),
                next_stream: 0,
            }),
            wake: Arc::new(Wake::default()),
        })
    }

    /// The configuration the hub was built with.
    pub fn config(&self) -> &WatchConfig {
        &self.cfg
    }

    /// The last revision announced with [`WatchHub::notify`].
    pub fn notified_revision(&self) -> i64 {
        lock(&self.state).notified
    }

    /// Announces applied events (the `events` of `mvcc::Applied`), grouped
    /// by revision, in revision order. The apply loop calls it after each
    /// entry that changed the store, **after releasing the store's write
    /// lock**, once per revision and in order. Never waits for a client: a
    /// watcher whose stream is full becomes a victim.
    pub fn notify(&self, events: &[Event]) {
        let mut victims = false;
        let mut st = lock(&self.state);
        for group in events.chunk_by(|a, b| mod_rev(a) == mod_rev(b)) {
            let rev = mod_rev(&group[0]);
            if rev <= st.notified {
                tracing::warn!(
                    rev,
                    notified = st.notified,
                    "watch: revision announced twice; ignored"
                );
                continue;
            }
            if rev != st.notified + 1 {
                tracing::warn!(
                    rev,
                    notified = st.notified,
                    "watch: revisions skipped in announcements"
                );
                st.recent.clear();
                st.recent_events = 0;
                st.recent_from = rev;
            }
            st.notified = rev;
            if group.len() > self.cfg.recent_events {
                // Too big to keep: not even cloned. The ring restarts after it.
                st.recent.clear();
                st.recent_events = 0;
                st.recent_from = rev + 1;
            } else {
                st.recent.push_back((rev, group.to_vec()));
                st.recent_events += group.len();
            }
            while st.recent.len() > self.cfg.recent_revisions.max(1)
                || st.recent_events > self.cfg.recent_events
            {
                let Some((r, evs)) = st.recent.pop_front() else {
                    break;
                };
                st.recent_from = r + 1;
                st.recent_events -= evs.len();
            }
            for stream in st.streams.values_mut() {
                for (&id, w) in stream.watchers.iter_mut() {
                    if !matches!(w.phase, Phase::Synced) || w.next_rev > rev {
                        continue;
                    }
                    w.next_rev = rev + 1;
                    let mut evs = w.select(group);
                    if w.prev_kv {
                        fill_prev_kvs(&self.store, &mut evs);
                    }
                    if evs.is_empty() {
                        continue;
                    }
                    w.progress_due = false;
                    match stream
                        .tx
                        .try_send(events_response(id, rev, evs, w.fragment))
                    {
                        Ok(()) | Err(TrySendError::Closed(_)) => {}
                        Err(TrySendError::Full(o)) => {
                            w.phase = Phase::Victim {
                                pending: VecDeque::from([o]),
                                compacted: false,
                            };
                            victims = true;
                        }
                    }
                }
            }
        }
        drop(st);
        if victims {
            self.wake.set(false);
        }
    }

    /// Tells the hub the store was replaced by a snapshot: every watcher
    /// catches up from the new store's history (or learns it is compacted).
    /// Call it from the apply loop after releasing the store's lock.
    pub fn store_restored(&self) {
        let mut st = lock(&self.state);
        let current = read_store(&self.store).current_revision();
        st.notified = current;
        st.recent.clear();
        st.recent_events = 0;
        st.recent_from = current + 1;
        for stream in st.streams.values_mut() {
            for w in stream.watchers.values_mut() {
                if matches!(w.phase, Phase::Synced) {
                    w.phase = Phase::Unsynced;
                }
            }
        }
        drop(st);
        self.wake.set(false);
    }

    /// Opens a stream: its handle and the receiving end of its channel.
    pub(crate) fn open_stream(self: &Arc<Self>) -> (WatchStream, mpsc::Receiver<Outgoing>) {
        let (tx, rx) = mpsc::channel(self.cfg.stream_buffer.max(1));
        let mut st = lock(&self.state);
        let id = st.next_stream;
        st.next_stream += 1;
        st.streams.insert(
            id,
            Stream {
                tx: tx.clone(),
                watchers: BTreeMap::new(),
                next_id: 0,
                progress_wanted: false,
            },
        );
        let handle = WatchStream {
            hub: self.clone(),
            id,
            tx,
        };
        (handle, rx)
    }

    fn current(&self) -> i64 {
        read_store(&self.store).current_revision()
    }

    /// One round of background work: retry victims, then one catch-up
    /// chunk for the unsynced watchers, then waiting progress requests.
    pub(crate) fn sync_once(&self) -> Pending {
        let retry = self.retry_victims();
        let catch_up = self.catch_up();
        let progress = {
            let mut st = lock(&self.state);
            let n = st.notified;
            let mut waiting = false;
            for s in st.streams.values_mut() {
                waiting |= s.try_progress(n);
            }
            waiting
        };
        if catch_up {
            Pending::CatchUp
        } else if retry || progress {
            Pending::Retry
        } else {
            Pending::Idle
        }
    }

    /// Resends victims' pending responses; returns whether any remain.
    fn retry_victims(&self) -> bool {
        let mut st = lock(&self.state);
        let n = st.notified;
        let mut left = false;
        for stream in st.streams.values_mut() {
            for w in stream.watchers.values_mut() {
                let Phase::Victim { pending, compacted } = &mut w.phase else {
                    continue;
                };
                send_queued(&stream.tx, pending);
                if pending.is_empty() {
                    w.phase = if *compacted {
                        Phase::Compacted
                    } else if w.next_rev > n {
                        Phase::Synced
                    } else {
                        Phase::Unsynced
                    };
                } else {
                    left = true;
                }
            }
        }
        left
    }

    /// Reads one chunk of history for the unsynced watchers and hands it
    /// over; returns whether unsynced watchers remain.
    fn catch_up(&self) -> bool {
        let (from, prev_kv) = {
            let st = lock(&self.state);
            let unsynced = st
                .streams
                .values()
                .flat_map(|s| s.watchers.values())
                .filter(|w| matches!(w.phase, Phase::Unsynced));
            let (mut from, mut prev) = (None::<i64>, false);
            for w in unsynced {
                from = Some(from.map_or(w.next_rev, |f| f.min(w.next_rev)));
                prev |= w.prev_kv;
            }
            match from {
                Some(f) => (f, prev),
                None => return false,
            }
        };
        let (compacted, chunk) = {
            let store = read_store(&self.store);
            let compacted = store.compacted_revision();
            let read = store.history(
                &KeyRange::From(Vec::new()),
                from.max(compacted),
                i64::MAX,
                self.cfg.catchup_chunk,
                prev_kv,
            );
            match read {
                Ok(h) => (compacted, h),
                Err(e) => {
                    tracing::error!(error = %e, "watch: reading history failed");
                    return false;
                }
            }
        };
        let chunk_from = from.max(compacted).max(1);
        let last = chunk.last();

        let mut st = lock(&self.state);
        let n = st.notified;
        let mut remaining = false;
        let State {
            streams,
            recent,
            recent_from,
            ..
        } = &mut *st;
        for stream in streams.values_mut() {
            for (&id, w) in stream.watchers.iter_mut() {
                if !matches!(w.phase, Phase::Unsynced) {
                    continue;
                }
                if w.next_rev < compacted || w.next_rev < 0 {
                    let o = compacted_response(id, compacted);
                    w.phase = match stream.tx.try_send(o) {
                        Ok(()) | Err(TrySendError::Closed(_)) => Phase::Compacted,
                        Err(TrySendError::Full(o)) => Phase::Victim {
                            pending: VecDeque::from([o]),
                            compacted: true,
                        },
                    };
                    continue;
                }
                if w.next_rev < chunk_from {
                    // Joined after the read began; the next round has it.
                    remaining = true;
                    continue;
                }
                let mut evs = Vec::new();
                let mut next = w.next_rev;
                if next <= last {
                    let from = next;
                    #[cfg(feature = "planted-bugs")]
                    let from = from + i64::from(planted_watch_off_by_one());
                    evs.extend(w.select(chunk.events.iter().filter(|e| mod_rev(e) >= from)));
                    next = last + 1;
                }
                if next <= n {
                    if let Some(tail) = recent_since(recent, *recent_from, next) {
                        for group in tail {
                            let mut selected = w.select(group);
                            if w.prev_kv {
                                fill_prev_kvs(&self.store, &mut selected);
                            }
                            evs.extend(selected);
                        }
                        next = n + 1;
                    }
                }
                w.next_rev = next;
                let mut out: VecDeque<Outgoing> = split_by_size(evs, self.cfg.fragment_bytes)
                    .into_iter()
                    .map(|e| events_response(id, next - 1, e, w.fragment))
                    .collect();
                if !out.is_empty() {
                    w.progress_due = false;
                }
                send_queued(&stream.tx, &mut out);
                w.phase = if !out.is_empty() {
                    Phase::Victim {
                        pending: out,
                        compacted: false,
                    }
                } else if next > n {
                    Phase::Synced
                } else {
                    remaining = true;
                    Phase::Unsynced
                };
            }
        }
        remaining
    }
}

/// A client's watch stream as the hub sees it. Dropping it removes the
/// stream and all its watchers.
#[derive(Debug)]
pub(crate) struct WatchStream {
    hub: Arc<WatchHub>,
    id: u64,
    tx: mpsc::Sender<Outgoing>,
}

impl Drop for WatchStream {
    fn drop(&mut self) {
        lock(&self.hub.state).streams.remove(&self.id);
    }
}

impl WatchStream {
    /// Creates a watcher as etcd does and queues its created response
    /// (waiting for room in the stream's channel, never in the hub).
    pub async fn watch(&self, req: &WatchCreateRequest) {
        let current = self.hub.current();
        let Ok(permit) = self.tx.reserve().await else {
            return;
        };
        let mut st = lock(&self.hub.state);
        let notified = st.notified;
        let Some(stream) = st.streams.get_mut(&self.id) else {
            return;
        };
        let refuse = |reason: &str| Outgoing {
            response: WatchResponse {
                watch_id: -1,
                created: true,
                canceled: true,
                cancel_reason: reason.to_string(),
                ..Default::default()
            },
            revision: Some(current),
            fragment: false,
        };
        // etcd: an empty key means the smallest key, "\0".
        let key = if req.key.is_empty() {
            vec![0]
        } else {
            req.key.clone()
        };
        let range = match req.range_end.as_slice() {
            [] => KeyRange::Single(key),
            [0] => KeyRange::From(key),
            end if end <= key.as_slice() => {
                permit.send(refuse(EMPTY_RANGE));
                return;
            }
            end => KeyRange::Span(key, end.to_vec()),
        };
        let id = if req.watch_id != 0 {
            if stream.watchers.contains_key(&req.watch_id) {
                permit.send(refuse(DUPLICATE_ID));
                return;
            }
            req.watch_id
        } else {
            while stream.watchers.contains_key(&stream.next_id) {
                stream.next_id += 1;
            }
            stream.next_id += 1;
            stream.next_id - 1
        };
        let next_rev = if req.start_revision == 0 {
            current + 1
        } else {
            req.start_revision
        };
        let synced = next_rev > notified;
        let filters = |f: FilterType| req.filters.contains(&(f as i32));
        stream.watchers.insert(
            id,
            Watcher {
                range,
                next_rev,
                prev_kv: req.prev_kv,
                no_put: filters(FilterType::Noput),
                no_delete: filters(FilterType::Nodelete),
                fragment: req.fragment,
                progress_notify: req.progress_notify,
                progress_due: true,
                phase: if synced {
                    Phase::Synced
                } else {
                    Phase::Unsynced
                },
            },
        );
        permit.send(Outgoing {
            response: WatchResponse {
                watch_id: id,
                created: true,
                ..Default::default()
            },
            revision: Some(current),
            fragment: false,
        });
        drop(st);
        if !synced {
            self.hub.wake.set(false);
        }
    }

    /// Queues the answer to a create request refused before it reached
    /// the hub (a permission check): created and canceled at once, under
    /// the id the client asked for, with `reason`.
    pub async fn deny(&self, watch_id: i64, reason: &str) {
        let current = self.hub.current();
        let Ok(permit) = self.tx.reserve().await else {
            return;
        };
        permit.send(Outgoing {
            response: WatchResponse {
                watch_id,
                created: true,
                canceled: true,
                cancel_reason: reason.to_string(),
                ..Default::default()
            },
            revision: Some(current),
            fragment: false,
        });
    }

    /// Cancels watcher `watch_id` and queues etcd's canceled response; an
    /// unknown id gets no answer, like etcd.
    pub async fn cancel(&self, watch_id: i64) {
        let current = self.hub.current();
        let Ok(permit) = self.tx.reserve().await else {
            return;
        };
        let mut st = lock(&self.hub.state);
        let notified = st.notified;
        let Some(stream) = st.streams.get_mut(&self.id) else {
            return;
        };
        if stream.watchers.remove(&watch_id).is_some() {
            permit.send(Outgoing {
                response: WatchResponse {
                    watch_id,
                    canceled: true,
                    ..Default::default()
                },
                revision: Some(current),
                fragment: false,
            });
            stream.try_progress(notified);
        }
    }

    /// A progress request: answered (watch id -1, the last announced
    /// revision) as soon as every watcher of the stream is synced.
    pub async fn request_progress(&self) {
        let Ok(permit) = self.tx.reserve().await else {
            return;
        };
        let mut st = lock(&self.hub.state);
        let notified = st.notified;
        let Some(stream) = st.streams.get_mut(&self.id) else {
            return;
        };
        if stream.all_synced() {
            permit.send(progress(-1, notified));
        } else {
            stream.progress_wanted = true;
            drop(st);
            self.hub.wake.set(false);
        }
    }

    /// The progress-notify tick: each synced watcher created with
    /// `progress_notify` that got no events since the last tick hears the
    /// last announced revision (skipped if the channel is full: such a
    /// stream is busy receiving events anyway).
    pub fn progress_tick(&self) {
        let mut st = lock(&self.hub.state);
        let notified = st.notified;
        let Some(stream) = st.streams.get_mut(&self.id) else {
            return;
        };
        for (&id, w) in stream.watchers.iter_mut() {
            if !w.progress_notify {
                continue;
            }
            if w.progress_due && matches!(w.phase, Phase::Synced) {
                let _ = stream.tx.try_send(progress(id, notified));
            }
            w.progress_due = true;
        }
    }
}

fn sync_thread(hub: Weak<WatchHub>, wake: Arc<Wake>) {
    let mut pause = Duration::ZERO;
    while wake.wait(pause) {
        let Some(hub) = hub.upgrade() else { return };
        pause = match hub.sync_once() {
            Pending::CatchUp => Duration::ZERO,
            Pending::Retry => hub.cfg.victim_retry,
            Pending::Idle => hub.cfg.sync_interval,
        };
    }
}

/// Sends `queue` in order until the stream is full (what is left stays
/// queued) or closed (the queue is dropped: nobody will read it).
fn send_queued(tx: &mpsc::Sender<Outgoing>, queue: &mut VecDeque<Outgoing>) {
    while let Some(o) = queue.pop_front() {
        match tx.try_send(o) {
            Ok(()) => {}
            Err(TrySendError::Full(o)) => {
                queue.push_front(o);
                return;
            }
            Err(TrySendError::Closed(_)) => queue.clear(),
        }
    }
}

/// Gives the DELETE events in `evs` their previous KeyValue, which the
/// apply loop does not read (see `WriteTxn::delete_range`); etcd, too,
/// fetches it only for watchers that ask. Takes the store's read lock, so
/// call it with the hub's lock held or with none, never under the store's.
fn fill_prev_kvs(store: &RwLock<MvccStore>, evs: &mut [Event]) {
    let missing = |e: &Event| e.prev_kv.is_none() && e.r#type == EventType::Delete as i32;
    if !evs.iter().any(missing) {
        return;
    }
    let store = read_store(store);
    for e in evs.iter_mut().filter(|e| missing(e)) {
        let Some(kv) = e.kv.as_ref() else { continue };
        match store.prev_kv(&kv.key, kv.mod_revision) {
            Ok(prev) => e.prev_kv = prev,
            Err(err) => {
                tracing::warn!(error = %err, rev = kv.mod_revision, "watch: no prev_kv for a delete");
            }
        }
    }
}

fn read_store(store: &RwLock<MvccStore>) -> std::sync::RwLockReadGuard<'_, MvccStore> {
    store.read().unwrap_or_else(|e| e.into_inner())
}

fn mod_rev(e: &Event) -> i64 {
    e.kv.as_ref().map_or(0, |kv| kv.mod_revision)
}

fn events_response(watch_id: i64, rev: i64, events: Vec<Event>, fragment: bool) -> Outgoing {
    Outgoing {
        response: WatchResponse {
            watch_id,
            events,
            ..Default::default()
        },
        revision: Some(rev),
        fragment,
    }
}

fn progress(watch_id: i64, rev: i64) -> Outgoing {
    Outgoing {
        response: WatchResponse {
            watch_id,
            ..Default::default()
        },
        revision: Some(rev),
        fragment: false,
    }
}

/// etcd's answer to a watcher whose next revision is compacted: header
/// revision 0, canceled only if there was a compaction.
fn compacted_response(watch_id: i64, compacted: i64) -> Outgoing {
    Outgoing {
        response: WatchResponse {
            watch_id,
            compact_revision: compacted,
            canceled: compacted != 0,
            ..Default::default()
        },
        revision: Some(0),
        fragment: false,
    }
}

/// Cuts events into responses of about `limit` bytes, only between
/// revisions.
fn split_by_size(events: Vec<Event>, limit: usize) -> Vec<Vec<Event>> {
    let mut out: Vec<Vec<Event>> = Vec::new();
    let mut size = 0;
    for e in events {
        let starts_rev = out
            .last()
            .and_then(|c| c.last())
            .is_none_or(|p| mod_rev(p) != mod_rev(&e));
        if out.is_empty() || (starts_rev && size >= limit) {
            out.push(Vec::new());
            size = 0;
        }
        size += e.encoded_len();
        if let Some(c) = out.last_mut() {
            c.push(e);
        }
    }
    out
}

/// Planted bug `watch-off-by-one` (the robustness suite must catch it): a
/// watcher catching up from history skips the first revision it should
/// send. On when the process starts with `CAIRN_PLANTED_BUG=watch-off-by-one`.
#[cfg(feature = "planted-bugs")]
fn planted_watch_off_by_one() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("CAIRN_PLANTED_BUG").is_ok_and(|v| v == "watch-off-by-one"))
}
