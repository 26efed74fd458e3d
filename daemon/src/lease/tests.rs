//! Unit tests of the lessor and the id generator, each named after the
//! behaviour it pins. Attachments are driven by the events of a real store
//! (in memory); time is `Instant`s the tests pass in, never a clock read.

use super::*;
use crate::mvcc::{EntryId, MemBackend, MvccError, MvccStore, StoreConfig};
use cairn_proto::etcdserverpb::{
    DeleteRangeRequest, PutRequest, RequestOp, TxnRequest, request_op::Request,
};
use std::time::{Duration, Instant};

fn cfg() -> LessorConfig {
    LessorConfig::new(Duration::from_millis(100), Duration::from_millis(1000))
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A member in miniature: a real store and a lessor, applied to together.
struct M {
    store: MvccStore,
    lessor: Lessor,
    next: u64,
    t0: Instant,
}

impl M {
    fn new() -> Self {
        M {
            store: MvccStore::open(Box::new(MemBackend::new()), StoreConfig::default()).unwrap(),
            lessor: Lessor::new(cfg()),
            next: 1,
            t0: Instant::now(),
        }
    }
    fn at(&mut self) -> EntryId {
        self.next += 1;
        EntryId {
            index: self.next - 1,
            term: 1,
        }
    }
    fn grant(&mut self, id: i64, ttl: i64) {
        let at = self.at();
        self.store.lease_grant(id, ttl, at).unwrap();
        self.lessor.grant(id, ttl, self.t0).unwrap();
    }
    fn put(&mut self, key: &str, lease: i64) -> Result<(), MvccError> {
        let req = PutRequest {
            key: key.into(),
            value: b"v".to_vec(),
            lease,
            ..Default::default()
        };
        let at = self.at();
        let applied = self.store.put(&req, at, Some(&self.lessor))?;
        self.lessor.observe(&applied.events);
        Ok(())
    }
    fn delete(&mut self, key: &str, range_end: &str) {
        let req = DeleteRangeRequest {
            key: key.into(),
            range_end: range_end.into(),
            ..Default::default()
        };
        let at = self.at();
        let applied = self.store.delete_range(&req, at).unwrap();
        self.lessor.observe(&applied.events);
    }
    fn txn(&mut self, ops: Vec<Request>) {
        let req = TxnRequest {
            success: ops
                .into_iter()
                .map(|r| RequestOp { request: Some(r) })
                .collect(),
            ..Default::default()
        };
        let at = self.at();
        let applied = self.store.txn(&req, at, Some(&self.lessor)).unwrap();
        self.lessor.observe(&applied.events);
    }
    fn keys(&self, id: i64) -> Vec<String> {
        self.lessor
            .keys(id)
            .unwrap()
            .into_iter()
            .map(|k| String::from_utf8(k).unwrap())
            .collect()
    }
}

fn put_op(key: &str, lease: i64) -> Request {
    Request::RequestPut(PutRequest {
        key: key.into(),
        lease,
        ..Default::default()
    })
}

#[test]
fn a_put_attaches_its_key_and_a_delete_detaches_it() {
    let mut m = M::new();
    m.grant(7, 60);
    m.put("a", 7).unwrap();
    m.put("b", 7).unwrap();
    m.put("c", 0).unwrap();
    assert_eq!(m.keys(7), ["a", "b"]);
    m.delete("a", "");
    assert_eq!(m.keys(7), ["b"]);
    m.delete("\0", "\0");
    assert!(m.keys(7).is_empty());
}

#[test]
fn overwriting_a_key_moves_it_to_the_new_lease_or_to_none() {
    let mut m = M::new();
    m.grant(1, 60);
    m.grant(2, 60);
    m.put("k", 1).unwrap();
    m.put("k", 2).unwrap();
    assert!(m.keys(1).is_empty());
    assert_eq!(m.keys(2), ["k"]);
    m.put("k", 0).unwrap();
    assert!(m.keys(2).is_empty());
}

#[test]
fn a_txn_attaches_and_detaches_in_op_order() {
    let mut m = M::new();
    m.grant(1, 60);
    m.grant(2, 60);
    m.put("x", 1).unwrap();
    m.put("y", 1).unwrap();
    m.txn(vec![
        Request::RequestDeleteRange(DeleteRangeRequest {
            key: b"x".to_vec(),
            ..Default::default()
        }),
        put_op("y", 2),
        put_op("z", 1),
    ]);
    assert_eq!(m.keys(1), ["z"]);
    assert_eq!(m.keys(2), ["y"]);
}

#[test]
fn a_put_naming_an_unknown_lease_is_refused_and_attaches_nothing() {
    let mut m = M::new();
    assert!(matches!(m.put("k", 99), Err(MvccError::LeaseNotFound)));
    m.grant(1, 60);
    m.put("k", 1).unwrap();
    assert_eq!(m.keys(1), ["k"]);
}

#[test]
fn revoke_returns_exactly_the_attached_keys_in_key_order() {
    let mut m = M::new();
    m.grant(1, 60);
    m.grant(2, 60);
    for k in ["q", "b", "m"] {
        m.put(k, 1).unwrap();
    }
    m.put("other", 2).unwrap();
    m.put("moved", 1).unwrap();
    m.put("moved", 2).unwrap();
    m.delete("m", "");
    let keys = m.lessor.revoke(1).unwrap();
    assert_eq!(keys, [b"b".to_vec(), b"q".to_vec()]);
    assert!(!m.lessor.contains(1));
    assert_eq!(m.lessor.revoke(1), Err(LeaseError::NotFound));
    assert_eq!(m.keys(2), ["moved", "other"]);
}

#[test]
fn events_for_a_revoked_lease_change_nothing() {
    let mut m = M::new();
    m.grant(1, 60);
    m.put("k", 1).unwrap();
    let keys = m.lessor.revoke(1).unwrap();
    let at = m.at();
    let applied = m.store.lease_revoke(1, &keys, at).unwrap();
    m.lessor.observe(&applied.events);
    assert!(m.lessor.is_empty());
}

#[test]
fn the_minimum_ttl_follows_etcds_formula() {
    let ms = Duration::from_millis;
    // 1.5 election timeouts in whole heartbeats, rounded up to seconds.
    assert_eq!(LessorConfig::new(ms(100), ms(1000)).min_ttl, 2);
    assert_eq!(LessorConfig::new(ms(10), ms(50)).min_ttl, 1);
    assert_eq!(LessorConfig::new(ms(100), ms(3000)).min_ttl, 5);
    // 1250 / 300 = 4 ticks; 6 ticks of 300 ms = 1.8 s.
    assert_eq!(LessorConfig::new(ms(300), ms(1250)).min_ttl, 2);
    assert_eq!(
        LessorConfig::new(ms(100), ms(1000)).retry_interval,
        Duration::from_secs(7)
    );
}

#[test]
fn proposed_ttls_are_raised_to_the_minimum_and_capped_at_the_maximum() {
    let l = Lessor::new(cfg());
    assert_eq!(l.proposed_ttl(-5), Ok(2));
    assert_eq!(l.proposed_ttl(0), Ok(2));
    assert_eq!(l.proposed_ttl(1), Ok(2));
    assert_eq!(l.proposed_ttl(60), Ok(60));
    assert_eq!(l.proposed_ttl(MAX_LEASE_TTL), Ok(MAX_LEASE_TTL));
    assert_eq!(
        l.proposed_ttl(MAX_LEASE_TTL + 1),
        Err(LeaseError::TtlTooLarge)
    );
}

#[test]
fn grant_refuses_id_zero_a_taken_id_and_a_ttl_above_the_maximum() {
    let now = Instant::now();
    let mut l = Lessor::new(cfg());
    assert_eq!(l.grant(0, 10, now), Err(LeaseError::NotFound));
    assert_eq!(
        l.grant(1, MAX_LEASE_TTL + 1, now),
        Err(LeaseError::TtlTooLarge)
    );
    l.grant(1, MAX_LEASE_TTL, now).unwrap();
    assert_eq!(l.grant(1, 10, now), Err(LeaseError::Exists));
    assert_eq!(l.ttl(1), Some(MAX_LEASE_TTL));
}

#[test]
fn a_huge_ttl_on_the_leader_does_not_overflow() {
    let now = Instant::now();
    let mut l = Lessor::new(cfg());
    l.promote(now, secs(1));
    l.grant(1, MAX_LEASE_TTL, now).unwrap();
    assert_eq!(l.renew(1, now), Ok(MAX_LEASE_TTL));
    assert!(l.expired(now + secs(3600), 10).is_empty());
}

#[test]
fn promote_gives_every_lease_a_full_ttl_plus_the_extension() {
    let t = Instant::now();
    let mut l = Lessor::new(cfg());
    l.grant(1, 10, t).unwrap();
    l.grant(2, 20, t).unwrap();
    // Leases granted long before the election still get their full TTL.
    let now = t + secs(1000);
    l.promote(now, secs(1));
    assert_eq!(l.time_to_live(1, now).unwrap().ttl, 11);
    assert_eq!(l.time_to_live(2, now).unwrap().ttl, 21);
    assert!(
        l.expired(now + Duration::from_millis(10_999), 10)
            .is_empty()
    );
    assert_eq!(l.expired(now + secs(11), 10), [1]);
}

#[test]
fn promote_spreads_a_pile_of_expiries_over_seconds() {
    let t = Instant::now();
    let mut l = Lessor::new(cfg());
    for id in 1..=2000 {
        l.grant(id, 10, t).unwrap();
    }
    l.promote(t, secs(1));
    let due = t + secs(11);
    assert_eq!(
        l.expired(due - Duration::from_millis(1), usize::MAX).len(),
        0
    );
    assert_eq!(l.expired(due, usize::MAX).len(), 750);
    assert_eq!(l.expired(due + secs(1), usize::MAX).len(), 0);
    assert_eq!(l.expired(due + secs(2), usize::MAX).len(), 750);
    assert_eq!(l.expired(due + secs(3), usize::MAX).len(), 500);
}

#[test]
fn a_grant_on_the_leader_starts_its_clock_and_a_follower_has_none() {
    let t = Instant::now();
    let mut l = Lessor::new(cfg());
    l.grant(1, 10, t).unwrap();
    assert!(l.expired(t + secs(100_000), 10).is_empty());
    assert_eq!(l.next_due(), None);
    l.promote(t, secs(1));
    l.grant(2, 5, t + secs(2)).unwrap();
    assert_eq!(l.next_due(), Some(t + secs(7)));
    assert_eq!(l.expired(t + secs(7), 10), [2]);
}

#[test]
fn expired_hands_out_earliest_first_up_to_max_and_retries_only_after_the_interval() {
    let t = Instant::now();
    let mut l = Lessor::new(cfg());
    l.promote(t, secs(1));
    l.grant(30, 30, t).unwrap();
    l.grant(10, 10, t).unwrap();
    l.grant(20, 20, t).unwrap();
    l.grant(99, 99, t).unwrap();
    let now = t + secs(40);
    assert_eq!(l.expired(now, 2), [10, 20]);
    assert_eq!(l.expired(now, 10), [30]);
    // Proposed already: not again until the retry interval has passed.
    assert!(l.expired(now + secs(6), 10).is_empty());
    // Lease 20's revoke was applied; 10 and 30's proposals were lost.
    l.revoke(20).unwrap();
    let retry = now + l.config().retry_interval;
    assert_eq!(l.expired(retry, 10), [10, 30]);
    // Still not revoked a retry interval later: handed out again, due
    // before lease 99, which has only just expired.
    assert_eq!(l.expired(t + secs(99), 10), [10, 30, 99]);
}

#[test]
fn renew_restarts_the_ttl_and_refuses_expired_unknown_and_follower() {
    let t = Instant::now();
    let mut l = Lessor::new(cfg());
    l.grant(1, 10, t).unwrap();
    assert_eq!(l.renew(1, t), Err(LeaseError::NotLeader));
    l.promote(t, secs(1));
    assert_eq!(l.renew(1, t + secs(8)), Ok(10));
    assert_eq!(l.time_to_live(1, t + secs(8)).unwrap().ttl, 10);
    assert!(l.expired(t + secs(17), 10).is_empty());
    assert_eq!(l.renew(1, t + secs(18)), Err(LeaseError::Expired));
    assert_eq!(l.renew(2, t), Err(LeaseError::NotFound));
}

#[test]
fn demote_forgets_all_timing_and_promote_restores_it() {
    let t = Instant::now();
    let mut l = Lessor::new(cfg());
    l.promote(t, secs(1));
    l.grant(1, 5, t).unwrap();
    l.demote();
    assert!(!l.is_leader());
    assert!(l.expired(t + secs(1000), 10).is_empty());
    assert_eq!(l.next_due(), None);
    assert_eq!(l.renew(1, t), Err(LeaseError::NotLeader));
    assert_eq!(l.time_to_live(1, t), Err(LeaseError::NotLeader));
    assert!(l.contains(1));
    let later = t + secs(1000);
    l.promote(later, secs(1));
    assert_eq!(l.time_to_live(1, later).unwrap().ttl, 6);
}

#[test]
fn time_to_live_reports_whole_seconds_left_and_sorted_keys() {
    let mut m = M::new();
    m.lessor.promote(m.t0, secs(0));
    m.grant(1, 30);
    m.put("z", 1).unwrap();
    m.put("a", 1).unwrap();
    let got = m
        .lessor
        .time_to_live(1, m.t0 + Duration::from_millis(1500))
        .unwrap();
    assert_eq!(
        got,
        TimeToLive {
            granted_ttl: 30,
            ttl: 28,
            keys: vec![b"a".to_vec(), b"z".to_vec()],
        }
    );
    assert_eq!(m.lessor.time_to_live(2, m.t0), Err(LeaseError::NotFound));
    // Past expiry but not yet revoked: 0, never negative.
    assert_eq!(m.lessor.time_to_live(1, m.t0 + secs(31)).unwrap().ttl, 0);
}

#[test]
fn leases_are_listed_by_expiry_on_the_leader_and_by_id_on_a_follower() {
    let t = Instant::now();
    let mut l = Lessor::new(cfg());
    l.grant(3, 10, t).unwrap();
    l.grant(1, 30, t).unwrap();
    l.grant(2, 20, t).unwrap();
    assert_eq!(l.leases(), [1, 2, 3]);
    l.promote(t, secs(1));
    assert_eq!(l.leases(), [3, 2, 1]);
}

#[test]
fn rebuild_from_the_store_gives_the_same_leases_and_keys_as_a_follower() {
    let mut m = M::new();
    m.lessor.promote(m.t0, secs(1));
    m.grant(1, 10);
    m.grant(2, 20);
    m.put("a", 1).unwrap();
    m.put("b", 2).unwrap();
    m.put("c", 2).unwrap();
    m.put("c", 1).unwrap();
    let mut rebuilt = Lessor::new(cfg());
    rebuilt.grant(42, 5, m.t0).unwrap();
    rebuilt.rebuild(&m.store).unwrap();
    assert!(!rebuilt.is_leader());
    assert_eq!(rebuilt.leases(), [1, 2]);
    for id in [1, 2] {
        assert_eq!(rebuilt.keys(id), m.lessor.keys(id));
        assert_eq!(rebuilt.ttl(id), m.lessor.ttl(id));
    }
    // The rebuilt table knows each key's lease: a delete, whose events
    // carry no previous value, still detaches.
    m.lessor = rebuilt;
    m.delete("c", "");
    assert_eq!(m.keys(1), ["a"]);
    assert_eq!(m.keys(2), ["b"]);
}

#[test]
fn ids_carry_the_member_then_the_start_time_then_a_count() {
    let g = LeaseIdGen::new(0xbdae_9bbc_11dd_390d, 0x12_3456_789a);
    let a = g.next();
    let b = g.next();
    // The member's low 16 bits with the sign bit cleared: 0xb90d -> 0x390d.
    assert_eq!(a as u64 >> 48, 0x390d);
    assert_eq!((a as u64 >> 8) & 0xff_ffff_ffff, 0x12_3456_789a);
    assert_eq!(a & 0xff, 1);
    assert_eq!(b, a + 1);
    assert!(a > 0);
    // The count carries into the time bits rather than into the member's.
    let g = LeaseIdGen::new(1, (1 << 40) - 1);
    for _ in 0..300 {
        assert_eq!(g.next() as u64 >> 48, 1);
    }
}

#[test]
fn ids_are_never_zero_or_negative() {
    // Member 0 at time 0 would give id 0 after a wrap of the low 48 bits.
    let g = LeaseIdGen::new(0x8000, (1 << 40) - 1);
    for _ in 0..512 {
        let id = g.next();
        assert!(id > 0, "{id}");
    }
}

#[test]
fn a_new_leader_counts_down_from_the_checkpointed_remaining_ttl() {
    let t = Instant::now();
    let mut l = Lessor::new(cfg());
    l.grant(1, 100, t).unwrap();
    l.grant(2, 100, t).unwrap();
    l.checkpoint(1, 40);
    l.checkpoint(99, 5); // unknown: ignored
    assert!(l.checkpointed(1) && !l.checkpointed(2));
    l.promote(t + secs(500), secs(1));
    assert_eq!(l.time_to_live(1, t + secs(500)).unwrap().ttl, 41);
    assert_eq!(l.time_to_live(2, t + secs(500)).unwrap().ttl, 101);
    // A checkpoint of 0 forgets the recorded value (a renewal asks that).
    l.checkpoint(1, 0);
    assert!(!l.checkpointed(1));
    l.demote();
    l.promote(t + secs(600), secs(1));
    assert_eq!(l.time_to_live(1, t + secs(600)).unwrap().ttl, 101);
}

#[test]
fn checkpoints_list_long_leases_rounded_up_and_only_on_the_leader() {
    let t = Instant::now();
    let mut l = Lessor::new(cfg());
    l.grant(3, 600, t).unwrap();
    l.grant(1, 300, t).unwrap();
    l.grant(2, 5, t).unwrap();
    assert!(
        l.checkpoints(t, secs(10)).is_empty(),
        "a follower has no clock"
    );
    l.promote(t, Duration::ZERO);
    let later = t + Duration::from_millis(100_500);
    // 199.5 s and 499.5 s left, rounded up; the 5 s lease is too short to
    // be worth one.
    assert_eq!(l.checkpoints(later, secs(10)), [(1, 200), (3, 500)]);
    assert!(l.checkpoints(t + secs(700), secs(10)).is_empty(), "expired");
}
