//! The store's half of leases, with the lessor applied alongside it as the
//! server will: grant and revoke as raft entries (atomic with the
//! consistent index, replay refused), revoke as one revision of DELETE
//! events, and the lessor rebuilt identically after a reopen on sled and
//! after a snapshot restore.

use cairn::lease::{Lessor, LessorConfig, MAX_LEASE_TTL, StoredLease};
use cairn::mvcc::{
    EntryId, MemBackend, MvccError, MvccStore, SledBackend, SledOptions, StoreConfig,
};
use cairn_proto::etcdserverpb::{PutRequest, RangeRequest};
use cairn_proto::mvccpb::event::EventType;
use std::time::{Duration, Instant};

fn cfg() -> LessorConfig {
    LessorConfig::new(Duration::from_millis(100), Duration::from_millis(1000))
}

/// A lessor's applied state: each lease's id, TTL and keys.
type LessorState = Vec<(i64, Option<i64>, Option<Vec<Vec<u8>>>)>;

struct Member {
    store: MvccStore,
    lessor: Lessor,
    next: u64,
}

impl Member {
    fn on(store: MvccStore) -> Self {
        let mut lessor = Lessor::new(cfg());
        lessor.rebuild(&store).unwrap();
        let next = store.applied().index + 1;
        Member {
            store,
            lessor,
            next,
        }
    }
    fn mem() -> Self {
        Self::on(MvccStore::open(Box::new(MemBackend::new()), StoreConfig::default()).unwrap())
    }
    fn at(&mut self) -> EntryId {
        self.next += 1;
        EntryId {
            index: self.next - 1,
            term: 1,
        }
    }
    /// The apply loop's LeaseGrant: store first, then the lessor.
    fn grant(&mut self, id: i64, ttl: i64) -> Result<(), MvccError> {
        let at = self.at();
        let resp = self.store.lease_grant(id, ttl, at)?;
        assert_eq!((resp.id, resp.ttl), (id, ttl));
        self.lessor.grant(id, ttl, Instant::now()).unwrap();
        Ok(())
    }
    /// The apply loop's LeaseRevoke.
    fn revoke(&mut self, id: i64) -> Result<(i64, Vec<(EventType, String)>), MvccError> {
        let keys = self.lessor.revoke(id).unwrap_or_default();
        let at = self.at();
        let applied = self.store.lease_revoke(id, &keys, at)?;
        self.lessor.observe(&applied.events);
        let events = applied
            .events
            .iter()
            .map(|e| {
                let kv = e.kv.as_ref().unwrap();
                assert_eq!(kv.mod_revision, applied.response.header.unwrap().revision);
                (
                    EventType::try_from(e.r#type).unwrap(),
                    String::from_utf8(kv.key.clone()).unwrap(),
                )
            })
            .collect();
        Ok((applied.response.header.unwrap().revision, events))
    }
    fn put(&mut self, key: &str, lease: i64) {
        let req = PutRequest {
            key: key.into(),
            value: b"v".to_vec(),
            lease,
            ..Default::default()
        };
        let at = self.at();
        let applied = self.store.put(&req, at, Some(&self.lessor)).unwrap();
        self.lessor.observe(&applied.events);
    }
    fn live_keys(&self) -> Vec<String> {
        let req = RangeRequest {
            key: b"\0".to_vec(),
            range_end: b"\0".to_vec(),
            keys_only: true,
            ..Default::default()
        };
        let resp = self.store.range(&req).unwrap();
        resp.kvs
            .into_iter()
            .map(|kv| String::from_utf8(kv.key).unwrap())
            .collect()
    }
    fn state(&self) -> LessorState {
        self.lessor
            .leases()
            .into_iter()
            .map(|id| (id, self.lessor.ttl(id), self.lessor.keys(id)))
            .collect()
    }
}

#[test]
fn revoke_deletes_the_leases_keys_in_one_revision_of_delete_events() {
    let mut m = Member::mem();
    m.grant(1, 60).unwrap();
    m.grant(2, 60).unwrap();
    m.put("c", 1);
    m.put("a", 1);
    m.put("b", 2);
    m.put("d", 0);
    let before = m.store.current_revision();
    let (rev, events) = m.revoke(1).unwrap();
    assert_eq!(rev, before + 1);
    assert_eq!(m.store.current_revision(), before + 1);
    assert_eq!(
        events,
        [
            (EventType::Delete, "a".to_string()),
            (EventType::Delete, "c".to_string())
        ]
    );
    assert_eq!(m.live_keys(), ["b", "d"]);
    assert_eq!(
        m.store.leases().unwrap(),
        [StoredLease {
            id: 2,
            ttl: 60,
            remaining: 0
        }]
    );
    assert!(!m.lessor.contains(1));
}

#[test]
fn revoking_a_lease_without_keys_creates_no_revision() {
    let mut m = Member::mem();
    m.grant(5, 60).unwrap();
    let before = m.store.current_revision();
    let (rev, events) = m.revoke(5).unwrap();
    assert_eq!((rev, events.len()), (before, 0));
    assert!(m.store.leases().unwrap().is_empty());
}

#[test]
fn revoke_deletes_only_keys_that_still_carry_the_lease() {
    let mut m = Member::mem();
    m.grant(1, 60).unwrap();
    m.grant(2, 60).unwrap();
    m.put("mine", 1);
    m.put("theirs", 2);
    let at = m.at();
    // A stale or wrong key list cannot delete another lease's key or a key
    // that does not exist.
    let keys = [b"gone".to_vec(), b"theirs".to_vec(), b"mine".to_vec()];
    let applied = m.store.lease_revoke(1, &keys, at).unwrap();
    assert_eq!(applied.events.len(), 1);
    assert_eq!(m.live_keys(), ["theirs"]);
}

#[test]
fn refused_grants_and_revokes_still_consume_their_entries() {
    let mut m = Member::mem();
    m.grant(1, 60).unwrap();
    let hash = m.store.hash_kv(0).unwrap().hash;
    let rev = m.store.current_revision();
    assert!(matches!(m.grant(1, 30), Err(MvccError::LeaseExist)));
    assert!(matches!(m.grant(0, 30), Err(MvccError::LeaseNotFound)));
    assert!(matches!(
        m.grant(2, MAX_LEASE_TTL + 1),
        Err(MvccError::LeaseTtlTooLarge)
    ));
    assert!(matches!(m.revoke(9), Err(MvccError::LeaseNotFound)));
    assert!(m.store.is_applied(m.next - 1));
    assert_eq!(m.store.current_revision(), rev);
    assert_eq!(m.store.hash_kv(0).unwrap().hash, hash);
    assert_eq!(
        m.store.leases().unwrap(),
        [StoredLease {
            id: 1,
            ttl: 60,
            remaining: 0
        }]
    );
    m.grant(2, MAX_LEASE_TTL).unwrap();
}

#[test]
#[should_panic(expected = "applied twice")]
fn a_grant_entry_cannot_be_applied_twice() {
    let mut m = Member::mem();
    let at = m.at();
    m.store.lease_grant(1, 60, at).unwrap();
    let _ = m.store.lease_grant(2, 60, at);
}

#[test]
#[should_panic(expected = "applied twice")]
fn a_revoke_entry_cannot_be_applied_twice() {
    let mut m = Member::mem();
    m.grant(1, 60).unwrap();
    let at = m.at();
    m.store.lease_revoke(1, &[], at).unwrap();
    let _ = m.store.lease_revoke(1, &[], at);
}

#[test]
fn reopening_on_sled_rebuilds_the_same_leases_and_attachments() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        let b = SledBackend::open(dir.path(), &SledOptions::default()).unwrap();
        MvccStore::open(Box::new(b), StoreConfig::default()).unwrap()
    };
    let (state, applied) = {
        let mut m = Member::on(open());
        for id in 1..=4 {
            m.grant(id, 10 * id).unwrap();
        }
        m.put("a", 1);
        m.put("b", 2);
        m.put("c", 2);
        m.put("c", 3);
        m.put("d", 0);
        m.revoke(4).unwrap();
        m.revoke(2).unwrap();
        m.store.force_commit().unwrap();
        (m.state(), m.store.applied())
    };
    let m = Member::on(open());
    assert_eq!(m.store.applied(), applied);
    assert_eq!(m.state(), state);
    assert_eq!(
        state,
        [
            (1, Some(10), Some(vec![b"a".to_vec()])),
            (3, Some(30), Some(vec![b"c".to_vec()])),
        ]
    );
}

#[test]
fn snapshot_then_restore_then_rebuild_gives_the_same_lessor() {
    let mut m = Member::mem();
    for id in [10, 20, 30] {
        m.grant(id, id).unwrap();
    }
    for (k, id) in [("x", 10), ("y", 20), ("z", 20), ("w", 0)] {
        m.put(k, id);
    }
    m.revoke(30).unwrap();
    let dump = m.store.snapshot().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let sled = SledBackend::open(dir.path(), &SledOptions::default()).unwrap();
    let mut other = Member::on(MvccStore::open(Box::new(sled), StoreConfig::default()).unwrap());
    other.grant(99, 5).unwrap(); // state the restore must replace
    other.store.restore(&dump).unwrap();
    other.lessor.rebuild(&other.store).unwrap();
    assert_eq!(other.state(), m.state());
    assert_eq!(other.store.hash().unwrap(), m.store.hash().unwrap());
}
