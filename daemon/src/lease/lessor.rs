//! [`Lessor`]: the in-memory lease table.
//!
//! Owns: which leases exist with which TTL, the keys attached to each, and —
//! while this member leads — every lease's expiry and the queue of leases
//! due for a look. Must never: read a clock (every timing call takes
//! `now`), touch the store (the server applies to both, in the order the
//! module docs give), or let expiry affect applied state (it only tells the
//! leader what to propose).
//!
//! Invariants: `leader` ⇔ every lease has an expiry and exactly one entry
//! in `due`, at or after that expiry; a key is in the key set of at most one
//! lease.

use super::LeaseError;
use super::MAX_LEASE_TTL;
use crate::mvcc::{LeaseCheck, MvccError, MvccStore};
use cairn_proto::mvccpb::{Event, event::EventType};
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// etcd's `leaseRevokeRate`: expired leases the leader revokes per second
/// at most. Promote spreads expiries once this many leases exist.
const REVOKE_RATE: usize = 1000;

/// The lessor's settings, derived from the member's raft timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LessorConfig {
    /// Granted TTLs below this many seconds are raised to it (by the
    /// proposer, see [`Lessor::proposed_ttl`]).
    pub min_ttl: i64,
    /// How long an expired lease handed out by [`Lessor::expired`] waits
    /// before it is handed out again, should its revoke not have been
    /// applied by then.
    pub retry_interval: Duration,
}

impl LessorConfig {
    /// etcd's settings for a member with these raft timings: the minimum TTL
    /// is one and a half election timeouts counted in whole heartbeats
    /// (`(3 * election_ticks / 2) * heartbeat`), rounded up to whole
    /// seconds — 2 s with the default 100 ms / 1000 ms; the retry interval
    /// is etcd's request timeout, 5 s plus two election timeouts.
    pub fn new(heartbeat: Duration, election_timeout: Duration) -> Self {
        let heartbeat_ms = heartbeat.as_millis().max(1);
        let election_ticks = election_timeout.as_millis() / heartbeat_ms;
        let min_ms = (3 * election_ticks / 2) * heartbeat_ms;
        LessorConfig {
            min_ttl: min_ms.div_ceil(1000) as i64,
            retry_interval: Duration::from_secs(5) + 2 * election_timeout,
        }
    }
}

/// What LeaseTimeToLive reports of one lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeToLive {
    /// The TTL the lease was granted with, in seconds.
    pub granted_ttl: i64,
    /// Whole seconds left before it expires (truncated, never negative).
    pub ttl: i64,
    /// The attached keys, in key order.
    pub keys: Vec<Vec<u8>>,
}

#[derive(Debug)]
struct Lease {
    ttl: i64,
    /// The remaining TTL (seconds) the last applied checkpoint recorded;
    /// 0: none. A new leader counts from it instead of the full TTL.
    remaining: i64,
    keys: BTreeSet<Vec<u8>>,
    /// Leader only.
    expiry: Option<Instant>,
    /// Leader only: this lease's entry in [`Lessor::due`].
    due: Option<Instant>,
}

impl Lease {
    fn new(ttl: i64) -> Self {
        Lease {
            ttl,
            remaining: 0,
            keys: BTreeSet::new(),
            expiry: None,
            due: None,
        }
    }

    fn ttl_duration(&self) -> Duration {
        Duration::from_secs(self.ttl.max(0) as u64)
    }

    /// What a new leader gives the lease: the checkpointed remaining TTL
    /// if there is one, else the full TTL.
    fn restart_duration(&self) -> Duration {
        if self.remaining > 0 {
            Duration::from_secs(self.remaining as u64)
        } else {
            self.ttl_duration()
        }
    }
}

/// The lease table. One per member, behind the server's lock; see the
/// module docs of [`crate::lease`] for which calls belong where.
#[derive(Debug)]
pub struct Lessor {
    cfg: LessorConfig,
    leases: HashMap<i64, Lease>,
    /// Which lease each attached key is on: the reverse of `Lease::keys`,
    /// so a delete needs no previous value to detach its key.
    key_lease: HashMap<Vec<u8>, i64>,
    leader: bool,
    /// Leader only: `(when to look at the lease, id)`, earliest first.
    due: BTreeSet<(Instant, i64)>,
}

/// `now + d`, or as far as `Instant` reaches (a 285-year TTL may not fit on
/// every platform).
fn after(now: Instant, d: Duration) -> Instant {
    let mut d = d;
    loop {
        if let Some(t) = now.checked_add(d) {
            return t;
        }
        d /= 2;
    }
}

impl Lessor {
    /// An empty table, not leading.
    pub fn new(cfg: LessorConfig) -> Self {
        Lessor {
            cfg,
            leases: HashMap::new(),
            key_lease: HashMap::new(),
            leader: false,
            due: BTreeSet::new(),
        }
    }

    pub fn config(&self) -> &LessorConfig {
        &self.cfg
    }

    /// The TTL to put in a LeaseGrant proposal for a client's `requested`
    /// one: refused above [`MAX_LEASE_TTL`], raised to the minimum below it.
    /// Runs on the proposing member only, because the minimum depends on
    /// its configuration.
    pub fn proposed_ttl(&self, requested: i64) -> Result<i64, LeaseError> {
        if requested > MAX_LEASE_TTL {
            return Err(LeaseError::TtlTooLarge);
        }
        Ok(requested.max(self.cfg.min_ttl))
    }

    // ---- applied state: every member, from the apply loop, in log order ----

    /// Applies a grant the store accepted. A leader starts the lease's
    /// clock at `now`; a follower ignores `now`.
    pub fn grant(&mut self, id: i64, ttl: i64, now: Instant) -> Result<(), LeaseError> {
        if id == 0 {
            return Err(LeaseError::NotFound);
        }
        if ttl > MAX_LEASE_TTL {
            return Err(LeaseError::TtlTooLarge);
        }
        if self.leases.contains_key(&id) {
            return Err(LeaseError::Exists);
        }
        let mut lease = Lease::new(ttl);
        if self.leader {
            let expiry = after(now, lease.ttl_duration());
            lease.expiry = Some(expiry);
            lease.due = Some(expiry);
            self.due.insert((expiry, id));
        }
        self.leases.insert(id, lease);
        Ok(())
    }

    /// Removes lease `id` and returns its keys, in key order: exactly what
    /// the store's `lease_revoke` must delete.
    pub fn revoke(&mut self, id: i64) -> Result<Vec<Vec<u8>>, LeaseError> {
        let lease = self.leases.remove(&id).ok_or(LeaseError::NotFound)?;
        if let Some(due) = lease.due {
            self.due.remove(&(due, id));
        }
        for key in &lease.keys {
            self.key_lease.remove(key);
        }
        Ok(lease.keys.into_iter().collect())
    }

    /// Applies a checkpoint: lease `id` has `remaining` seconds left (0:
    /// forget a recorded value). Only what a future leader starts from
    /// changes; the current leader's clock does not. Unknown ids are
    /// ignored, as the store ignores them.
    pub fn checkpoint(&mut self, id: i64, remaining: i64) {
        if let Some(l) = self.leases.get_mut(&id) {
            l.remaining = remaining;
        }
    }

    /// Whether lease `id` carries a checkpointed remaining TTL, which a
    /// renewal must reset (or a later leader would cut the renewed lease
    /// short).
    pub fn checkpointed(&self, id: i64) -> bool {
        self.leases.get(&id).is_some_and(|l| l.remaining > 0)
    }

    /// Keeps attachments in step with an applied write's events (a put, a
    /// delete, a txn or a revoke): a deleted key leaves its lease, a put
    /// moves its key to the put's lease (or to none). Events naming a lease
    /// that no longer exists change nothing.
    pub fn observe(&mut self, events: &[Event]) {
        for ev in events {
            let Some(kv) = ev.kv.as_ref() else { continue };
            let lease = if ev.r#type == EventType::Put as i32 {
                kv.lease
            } else {
                0
            };
            if self.key_lease.get(&kv.key) == Some(&lease) {
                continue;
            }
            if let Some(old) = self.key_lease.remove(&kv.key) {
                if let Some(l) = self.leases.get_mut(&old) {
                    l.keys.remove(&kv.key);
                }
            }
            if let Some(l) = self.leases.get_mut(&lease) {
                l.keys.insert(kv.key.clone());
                self.key_lease.insert(kv.key.clone(), lease);
            }
        }
    }

    /// Replaces the table with what `store` holds: its lease records and
    /// the live keys naming them. Leaves the lessor a follower (a leader that
    /// rebuilds must [`Lessor::promote`] again). A key naming a lease the
    /// store does not hold is left unattached, as etcd does.
    pub fn rebuild(&mut self, store: &MvccStore) -> Result<(), MvccError> {
        let mut leases: HashMap<i64, Lease> = store
            .leases()?
            .into_iter()
            .map(|s| {
                let mut lease = Lease::new(s.ttl);
                lease.remaining = s.remaining;
                (s.id, lease)
            })
            .collect();
        let mut key_lease = HashMap::new();
        for (key, id) in store.leased_keys()? {
            match leases.get_mut(&id) {
                Some(l) => {
                    l.keys.insert(key.clone());
                    key_lease.insert(key, id);
                }
                None => tracing::warn!(lease = id, "a key names a lease that does not exist"),
            }
        }
        self.leases = leases;
        self.key_lease = key_lease;
        self.leader = false;
        self.due.clear();
        Ok(())
    }

    // ---- leader timing: this member's clock, never applied state ----

    /// This member became leader: every lease expires `extend` (one election
    /// timeout) after a full TTL from `now`, so none dies because the
    /// election took time. With [`REVOKE_RATE`] leases or more, expiries are
    /// then spread so that no second holds more than three quarters of that
    /// rate.
    pub fn promote(&mut self, now: Instant, extend: Duration) {
        self.leader = true;
        self.due.clear();
        let mut order: Vec<(Instant, i64)> = self
            .leases
            .iter()
            .map(|(&id, l)| (after(now, extend + l.restart_duration()), id))
            .collect();
        if order.len() >= REVOKE_RATE {
            order.sort_unstable();
            spread(&mut order);
        }
        for (expiry, id) in order {
            let l = self.leases.get_mut(&id).expect("ids come from the table");
            l.expiry = Some(expiry);
            l.due = Some(expiry);
            self.due.insert((expiry, id));
        }
    }

    /// This member stopped leading: forget every expiry.
    pub fn demote(&mut self) {
        self.leader = false;
        self.due.clear();
        for l in self.leases.values_mut() {
            l.expiry = None;
            l.due = None;
        }
    }

    /// Whether [`Lessor::promote`] was called more recently than
    /// [`Lessor::demote`].
    pub fn is_leader(&self) -> bool {
        self.leader
    }

    /// Restarts lease `id`'s TTL from `now` and returns the TTL. Refused on
    /// a follower (`NotLeader`: forward to the leader) and for a lease that
    /// already expired (`Expired`: its revoke is on its way).
    pub fn renew(&mut self, id: i64, now: Instant) -> Result<i64, LeaseError> {
        if !self.leader {
            return Err(LeaseError::NotLeader);
        }
        let l = self.leases.get_mut(&id).ok_or(LeaseError::NotFound)?;
        if l.expiry.is_some_and(|e| e <= now) {
            return Err(LeaseError::Expired);
        }
        let expiry = after(now, l.ttl_duration());
        if let Some(old) = l.due.replace(expiry) {
            self.due.remove(&(old, id));
        }
        l.expiry = Some(expiry);
        self.due.insert((expiry, id));
        Ok(l.ttl)
    }

    /// Up to `max` leases expired at `now`, earliest expiry first, for the
    /// leader to propose LeaseRevoke for. Each one handed out is not handed
    /// out again before `now` + the retry interval, by which time its revoke
    /// has normally been applied (and the lease is gone); if not, the
    /// proposal was lost and is made again. Always empty on a follower.
    pub fn expired(&mut self, now: Instant, max: usize) -> Vec<i64> {
        let mut out = Vec::new();
        let retry = after(now, self.cfg.retry_interval);
        while out.len() < max {
            let Some(&(at, id)) = self.due.first() else {
                break;
            };
            if at > now {
                break;
            }
            self.due.pop_first();
            let l = self.leases.get_mut(&id).expect("queued leases exist");
            l.due = Some(retry);
            self.due.insert((retry, id));
            out.push(id);
        }
        out
    }

    /// Leader only: the remaining TTL at `now`, in whole seconds rounded up,
    /// of every lease granted for longer than `longer_than` that has not
    /// expired, in id order. Shorter leases are left out: they expire or
    /// are renewed before a checkpoint would matter.
    pub fn checkpoints(&self, now: Instant, longer_than: Duration) -> Vec<(i64, i64)> {
        let mut out: Vec<(i64, i64)> = self
            .leases
            .iter()
            .filter(|(_, l)| l.ttl_duration() > longer_than)
            .filter_map(|(&id, l)| {
                let left = l.expiry?.checked_duration_since(now)?;
                let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                (secs > 0).then_some((id, secs as i64))
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// When the next lease falls due for [`Lessor::expired`], if any: the
    /// expiry loop may sleep until then (or a renewal, whichever first).
    pub fn next_due(&self) -> Option<Instant> {
        self.due.first().map(|&(at, _)| at)
    }

    /// The granted TTL, the whole seconds left at `now`, and the keys of
    /// lease `id`. Only the leader knows the time left (`NotLeader`
    /// otherwise).
    pub fn time_to_live(&self, id: i64, now: Instant) -> Result<TimeToLive, LeaseError> {
        if !self.leader {
            return Err(LeaseError::NotLeader);
        }
        let l = self.leases.get(&id).ok_or(LeaseError::NotFound)?;
        let left = l
            .expiry
            .map_or(Duration::ZERO, |e| e.saturating_duration_since(now));
        Ok(TimeToLive {
            granted_ttl: l.ttl,
            ttl: left.as_secs() as i64,
            keys: l.keys.iter().cloned().collect(),
        })
    }

    /// Every lease id: on the leader soonest expiry first (as etcd lists
    /// them), on a follower in id order.
    pub fn leases(&self) -> Vec<i64> {
        let mut ids: Vec<(Option<Instant>, i64)> =
            self.leases.iter().map(|(&id, l)| (l.expiry, id)).collect();
        ids.sort_unstable();
        ids.into_iter().map(|(_, id)| id).collect()
    }

    /// Whether lease `id` exists.
    pub fn contains(&self, id: i64) -> bool {
        self.leases.contains_key(&id)
    }

    /// The keys attached to lease `id`, in key order.
    pub fn keys(&self, id: i64) -> Option<Vec<Vec<u8>>> {
        Some(self.leases.get(&id)?.keys.iter().cloned().collect())
    }

    /// The granted TTL of lease `id`.
    pub fn ttl(&self, id: i64) -> Option<i64> {
        Some(self.leases.get(&id)?.ttl)
    }

    /// Number of leases.
    pub fn len(&self) -> usize {
        self.leases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.leases.is_empty()
    }
}

/// Pushes back expiries (sorted, earliest first) so that, counting from the
/// first expiry of each one-second window, no more than three quarters of
/// [`REVOKE_RATE`] fall in a second: the `n`-th lease past that target in a
/// window moves to `n / target` seconds after the window's start.
fn spread(order: &mut [(Instant, i64)]) {
    let target = REVOKE_RATE * 3 / 4;
    let Some(&(first, _)) = order.first() else {
        return;
    };
    let mut base = first;
    let mut window_end = base + Duration::from_secs(1);
    let mut count = 0usize;
    for (expiry, _) in order.iter_mut() {
        if *expiry > window_end {
            base = *expiry;
            window_end = base + Duration::from_secs(1);
            count = 1;
            continue;
        }
        count += 1;
        if count <= target {
            continue;
        }
        let pushed = base + Duration::from_secs_f64(count as f64 / target as f64);
        if pushed > *expiry {
            *expiry = pushed;
        }
        window_end = window_end.max(*expiry);
    }
}

impl LeaseCheck for Lessor {
    fn lease_exists(&self, id: i64) -> bool {
        self.contains(id)
    }
}
