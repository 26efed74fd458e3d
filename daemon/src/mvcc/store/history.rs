//! Reading history as watch events: what changed in a key range between two
//! revisions, for watchers that start in the past or fell behind.
//!
//! Owns: turning `key`-tree entries back into `mvccpb::Event`s (PUT or
//! DELETE, with the previous value on request). Must never: write, or hold
//! the caller for long — a read examines a bounded number of entries and
//! says where the next one resumes, so a catch-up goes in chunks and the
//! store's lock is released between them.
//!
//! Invariants: events come out in revision order; a revision's events are
//! never split between two reads; a read never reaches below the compacted
//! revision (it fails with [`MvccError::Compacted`] instead), so it returns
//! the same events whether or not the removal of compacted history has
//! finished.

use super::MvccStore;
use crate::mvcc::MvccError;
use crate::mvcc::backend::Backend;
use crate::mvcc::key_index::KeyRange;
use crate::mvcc::read::ReadView;
use crate::mvcc::revision::{Revision, decode_key};
use crate::mvcc::schema::Tree;
use cairn_proto::mvccpb::{Event, KeyValue, event::EventType};
use prost::Message;

/// One chunk of history returned by [`MvccStore::history`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct History {
    /// Events of keys in the range, in revision order (and write order
    /// within a revision).
    pub events: Vec<Event>,
    /// The first revision this read did not examine: where the next chunk
    /// starts. Past the end revision (or the current one) once done.
    pub next: i64,
    /// The store's revision when the read was made.
    pub current: i64,
}

impl History {
    /// The last revision this read examined (`next - 1`).
    pub fn last(&self) -> i64 {
        self.next - 1
    }
}

impl MvccStore {
    /// The events of keys in `range` at revisions `from..=to` (`to` is
    /// clamped to the current revision), examining at most `limit` history
    /// entries (of any key) plus the rest of the last revision begun, so a
    /// revision is never split. With `prev_kv`, each event that replaced or
    /// deleted an existing value carries that value, as a read at the
    /// revision before the event would see it (nothing when that revision is
    /// compacted, like etcd).
    ///
    /// Fails with `Compacted` when `from` is below the compacted revision.
    /// DELETE events carry only the key and the deleting revision.
    pub fn history(
        &self,
        range: &KeyRange,
        from: i64,
        to: i64,
        limit: usize,
        prev_kv: bool,
    ) -> Result<History, MvccError> {
        if from < self.compacted {
            return Err(MvccError::Compacted);
        }
        let from = from.max(1);
        let to = to.min(self.current);
        let mut out = History {
            events: Vec::new(),
            next: from,
            current: self.current,
        };
        if from > to {
            out.next = from.max(to + 1);
            return Ok(out);
        }
        let start = Revision::first_of(from);
        let end = Revision::first_of(to + 1);
        let limit = limit.max(1);
        let mut examined = 0usize;
        let mut stopped_before = None;
        let mut last_main = None;
        let mut raw: Vec<(Revision, bool, KeyValue)> = Vec::new();
        let mut bad = None;
        self.backend
            .scan(Tree::Key, &start, Some(&end), &mut |k, v| {
                let Some(rk) = decode_key(k) else {
                    bad = Some("undecodable revision in the key tree");
                    return false;
                };
                if examined >= limit && last_main != Some(rk.rev.main) {
                    stopped_before = Some(rk.rev.main);
                    return false;
                }
                examined += 1;
                last_main = Some(rk.rev.main);
                let Ok(kv) = KeyValue::decode(v) else {
                    bad = Some("undecodable KeyValue in the key tree");
                    return false;
                };
                if range.contains(&kv.key) {
                    raw.push((rk.rev, rk.tombstone, kv));
                }
                true
            })?;
        if let Some(what) = bad {
            return Err(MvccError::Corrupt { what });
        }
        out.next = stopped_before.unwrap_or(to + 1);
        let view = self.view();
        // Nothing below the compacted revision is read, and compaction
        // keeps every write of the compacted revision itself (tombstones
        // too, for watches that start there), so all of `raw` is history.
        for (rev, tombstone, kv) in raw {
            let prev = if prev_kv {
                self.kv_before(&view, &kv.key, rev.main)?
            } else {
                None
            };
            let event = if tombstone {
                Event {
                    r#type: EventType::Delete as i32,
                    kv: Some(KeyValue {
                        key: kv.key,
                        mod_revision: rev.main,
                        ..Default::default()
                    }),
                    prev_kv: prev,
                }
            } else {
                Event {
                    r#type: EventType::Put as i32,
                    kv: Some(kv),
                    prev_kv: prev,
                }
            };
            out.events.push(event);
        }
        Ok(out)
    }

    /// The KeyValue `key` had just before revision `rev`: the `prev_kv` of
    /// an event at `rev`. None if the key did not exist then, or if that
    /// revision is compacted away.
    pub fn prev_kv(&self, key: &[u8], rev: i64) -> Result<Option<KeyValue>, MvccError> {
        self.kv_before(&self.view(), key, rev)
    }

    fn kv_before(
        &self,
        view: &ReadView<'_>,
        key: &[u8],
        rev: i64,
    ) -> Result<Option<KeyValue>, MvccError> {
        // The revision before the event must itself be readable.
        if rev <= self.compacted.max(1) {
            return Ok(None);
        }
        self.index
            .get(key, rev - 1)
            .map(|v| view.kv(&v))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use crate::mvcc::key_index::KeyRange;
    use crate::mvcc::{EntryId, MemBackend, MvccError, MvccStore, StoreConfig};
    use cairn_proto::etcdserverpb::{
        DeleteRangeRequest, PutRequest, RequestOp, TxnRequest, request_op::Request,
    };
    use cairn_proto::mvccpb::{Event, event::EventType};

    fn store() -> MvccStore {
        MvccStore::open(Box::new(MemBackend::new()), StoreConfig::default()).unwrap()
    }

    fn put_req(k: &str, v: &str) -> PutRequest {
        PutRequest {
            key: k.into(),
            value: v.into(),
            ..Default::default()
        }
    }

    fn at(i: u64) -> EntryId {
        EntryId { index: i, term: 1 }
    }

    fn summary(evs: &[Event]) -> Vec<(i64, &'static str, String)> {
        evs.iter()
            .map(|e| {
                let kv = e.kv.as_ref().unwrap();
                let t = if e.r#type == EventType::Put as i32 {
                    "put"
                } else {
                    "del"
                };
                (
                    kv.mod_revision,
                    t,
                    String::from_utf8_lossy(&kv.key).into_owned(),
                )
            })
            .collect()
    }

    /// rev 2: a=1; 3: b=1; 4: txn a=2 c=1; 5: delete a; 6: a=3.
    fn sample() -> (MvccStore, Vec<Event>) {
        let mut s = store();
        let mut live = Vec::new();
        live.extend(s.put(&put_req("a", "1"), at(1), None).unwrap().events);
        live.extend(s.put(&put_req("b", "1"), at(2), None).unwrap().events);
        let op = |k: &str, v: &str| RequestOp {
            request: Some(Request::RequestPut(put_req(k, v))),
        };
        let txn = TxnRequest {
            success: vec![op("a", "2"), op("c", "1")],
            ..Default::default()
        };
        live.extend(s.txn(&txn, at(3), None).unwrap().events);
        // With prev_kv, so the delete's event carries what history adds.
        let del = DeleteRangeRequest {
            key: "a".into(),
            prev_kv: true,
            ..Default::default()
        };
        live.extend(s.delete_range(&del, at(4)).unwrap().events);
        live.extend(s.put(&put_req("a", "3"), at(5), None).unwrap().events);
        (s, live)
    }

    #[test]
    fn history_with_prev_kv_equals_the_events_the_writes_produced() {
        let (s, live) = sample();
        let all = KeyRange::From(Vec::new());
        let h = s.history(&all, 1, i64::MAX, 1000, true).unwrap();
        assert_eq!(h.events, live);
        assert_eq!((h.next, h.current), (7, 6));
    }

    #[test]
    fn a_delete_reads_previous_values_only_when_asked_and_prev_kv_finds_them() {
        let mut s = store();
        s.put(&put_req("a", "1"), at(1), None).unwrap();
        let del = DeleteRangeRequest {
            key: "a".into(),
            ..Default::default()
        };
        let evs = s.delete_range(&del, at(2)).unwrap().events;
        assert_eq!(summary(&evs), vec![(3, "del", "a".into())]);
        assert_eq!(evs[0].prev_kv, None);
        let prev = s.prev_kv(b"a", 3).unwrap().expect("a existed at 2");
        assert_eq!((prev.value.as_slice(), prev.mod_revision), (&b"1"[..], 2));
        assert_eq!(s.prev_kv(b"a", 2).unwrap(), None, "nothing before the put");
    }

    #[test]
    fn history_filters_by_range_and_revision_and_drops_prev_kv_unless_asked() {
        let (s, _) = sample();
        let h = s
            .history(&KeyRange::Single(b"a".to_vec()), 3, 5, 1000, false)
            .unwrap();
        assert_eq!(
            summary(&h.events),
            vec![(4, "put", "a".into()), (5, "del", "a".into())]
        );
        assert!(h.events.iter().all(|e| e.prev_kv.is_none()));
        assert_eq!(h.next, 6);
        let del = &h.events[1];
        assert_eq!(del.kv.as_ref().unwrap().value, b"");
    }

    #[test]
    fn a_chunk_never_splits_a_revision_and_says_where_to_resume() {
        let (s, live) = sample();
        let all = KeyRange::From(Vec::new());
        let mut got = Vec::new();
        let mut from = 1;
        let mut chunks = 0;
        while from <= s.current_revision() {
            // Limit 1: the txn at revision 4 writes two keys; both come.
            let h = s.history(&all, from, i64::MAX, 1, true).unwrap();
            assert!(h.next > from, "a chunk always makes progress");
            let revs: Vec<i64> = h
                .events
                .iter()
                .map(|e| e.kv.as_ref().unwrap().mod_revision)
                .collect();
            assert!(
                revs.windows(2).all(|w| w[0] == w[1]),
                "one revision per chunk: {revs:?}"
            );
            got.extend(h.events);
            from = h.next;
            chunks += 1;
        }
        assert_eq!(got, live);
        assert_eq!(chunks, 5);
    }

    #[test]
    fn reading_below_the_compacted_revision_fails_and_at_it_shows_all_of_it() {
        let (mut s, _) = sample();
        s.compact(5, at(6)).unwrap();
        let all = KeyRange::From(Vec::new());
        assert!(matches!(
            s.history(&all, 4, i64::MAX, 1000, false),
            Err(MvccError::Compacted)
        ));
        let h = s.history(&all, 5, i64::MAX, 1000, true).unwrap();
        // The delete at 5 stays for watches starting there (etcd issue
        // 18089), without its previous value: revision 4 is compacted away.
        // The put at 6 has none either, as a was deleted at 5.
        assert_eq!(
            summary(&h.events),
            vec![(5, "del", "a".into()), (6, "put", "a".into())]
        );
        assert_eq!((&h.events[0].prev_kv, &h.events[1].prev_kv), (&None, &None));
    }

    #[test]
    fn from_past_the_end_is_empty() {
        let (s, _) = sample();
        let h = s
            .history(&KeyRange::From(Vec::new()), 9, i64::MAX, 10, false)
            .unwrap();
        assert!(h.events.is_empty());
        assert_eq!(h.next, 9);
    }
}
