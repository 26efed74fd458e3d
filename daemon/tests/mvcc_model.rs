//! The MVCC store against a deliberately naive model: a list of every write
//! ever made, evaluated from scratch for each read.
//!
//! Random sequences of puts, deletes (single key and ranges), txns (with
//! compares and nested txns), compactions and reopens run against the store
//! and the model side by side; after every step a random Range (any
//! options, including historical revisions) must get the same answer from
//! both, field by field — kvs, count, more, header revision, or the same
//! error. Write responses and their events are compared the same way. Both
//! backends run the same sequences.
//!
//! The model reuses exactly one piece of the store: `validate_txn` decides
//! whether a txn is malformed (empty keys, duplicate keys). Those rules are
//! pinned by their own unit tests; reusing them here keeps this file about
//! MVCC semantics.

use cairn::mvcc::{
    Backend, EntryId, Limits, MemBackend, MvccError, MvccStore, SledBackend, SledOptions,
    StoreConfig, validate_txn,
};
use cairn_proto::etcdserverpb::{
    CompactionResponse, Compare, DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse,
    RangeRequest, RangeResponse, RequestOp, ResponseHeader, ResponseOp, TxnRequest, TxnResponse,
    compare::TargetUnion, request_op::Request, response_op::Response,
};
use cairn_proto::mvccpb::{Event, KeyValue, event::EventType};
use proptest::prelude::*;
use std::cmp::Ordering;
use std::collections::BTreeMap;

// ---------------------------------------------------------------- the model

#[derive(Debug, Clone)]
struct Rec {
    key: Vec<u8>,
    value: Vec<u8>,
    lease: i64,
    main: i64,
    tomb: bool,
}

#[derive(Debug, Default)]
struct Model {
    log: Vec<Rec>,
    current: i64,
    compacted: i64,
}

type Res<T> = Result<T, String>;

fn hdr(rev: i64) -> Option<ResponseHeader> {
    Some(ResponseHeader {
        revision: rev,
        ..Default::default()
    })
}

fn in_range(key: &[u8], end: &[u8], k: &[u8]) -> bool {
    match end {
        [] => k == key,
        [0] => k >= key,
        _ => k >= key && k < end,
    }
}

impl Model {
    fn new() -> Self {
        Model {
            current: 1,
            ..Default::default()
        }
    }

    /// Every live key at `rev`, replaying the log from the start.
    fn state(&self, rev: i64) -> BTreeMap<Vec<u8>, KeyValue> {
        let mut live: BTreeMap<Vec<u8>, KeyValue> = BTreeMap::new();
        for r in self.log.iter().filter(|r| r.main <= rev) {
            if r.tomb {
                live.remove(&r.key);
                continue;
            }
            let (create, version) = match live.get(&r.key) {
                Some(kv) => (kv.create_revision, kv.version + 1),
                None => (r.main, 1),
            };
            live.insert(
                r.key.clone(),
                KeyValue {
                    key: r.key.clone(),
                    create_revision: create,
                    mod_revision: r.main,
                    version,
                    value: r.value.clone(),
                    lease: r.lease,
                },
            );
        }
        live
    }

    fn range(&self, r: &RangeRequest, current: i64) -> Res<RangeResponse> {
        if r.revision > current {
            return Err("required revision is a future revision".into());
        }
        let rev = if r.revision <= 0 { current } else { r.revision };
        if rev < self.compacted {
            return Err("required revision has been compacted".into());
        }
        let all: Vec<KeyValue> = self
            .state(rev)
            .into_values()
            .filter(|kv| in_range(&r.key, &r.range_end, &kv.key))
            .collect();
        let count = all.len() as i64;
        if r.count_only {
            return Ok(RangeResponse {
                header: hdr(current),
                kvs: vec![],
                more: false,
                count,
            });
        }
        let mut kvs: Vec<KeyValue> = all
            .into_iter()
            .filter(|kv| r.min_mod_revision == 0 || kv.mod_revision >= r.min_mod_revision)
            .filter(|kv| r.max_mod_revision == 0 || kv.mod_revision <= r.max_mod_revision)
            .filter(|kv| r.min_create_revision == 0 || kv.create_revision >= r.min_create_revision)
            .filter(|kv| r.max_create_revision == 0 || kv.create_revision <= r.max_create_revision)
            .collect();
        // etcd's quirk: with no explicit order and no filters it fetches
        // only `limit + 1` keys (in key order) before the implicit
        // ascending sort of a non-key target.
        let filtered = r.min_mod_revision != 0
            || r.max_mod_revision != 0
            || r.min_create_revision != 0
            || r.max_create_revision != 0;
        if r.sort_order == 0 && !filtered && r.limit > 0 {
            kvs.truncate(r.limit as usize + 1);
        }
        let field = |kv: &KeyValue| -> (i64, Vec<u8>) {
            match r.sort_target {
                0 => (0, kv.key.clone()),
                1 => (kv.version, vec![]),
                2 => (kv.create_revision, vec![]),
                3 => (kv.mod_revision, vec![]),
                _ => (0, kv.value.clone()),
            }
        };
        // 0 NONE, 1 ASCEND, 2 DESCEND; NONE on a non-key target ascends.
        match (r.sort_order, r.sort_target) {
            (1, _) | (0, 1..) => kvs.sort_by_key(|kv| field(kv)),
            (2, _) => kvs.sort_by_key(|kv| std::cmp::Reverse(field(kv))),
            _ => {}
        }
        let mut more = false;
        if r.limit > 0 && kvs.len() > r.limit as usize {
            kvs.truncate(r.limit as usize);
            more = true;
        }
        if r.keys_only {
            kvs.iter_mut().for_each(|kv| kv.value.clear());
        }
        Ok(RangeResponse {
            header: hdr(current),
            kvs,
            more,
            count,
        })
    }

    fn compare(&self, c: &Compare) -> bool {
        let kvs: Vec<KeyValue> = self
            .state(self.current)
            .into_values()
            .filter(|kv| in_range(&c.key, &c.range_end, &kv.key))
            .collect();
        let one = |kv: &KeyValue| {
            let ord = match (c.target, &c.target_union) {
                (0, Some(TargetUnion::Version(v))) => kv.version.cmp(v),
                (0, _) => kv.version.cmp(&0),
                (1, Some(TargetUnion::CreateRevision(v))) => kv.create_revision.cmp(v),
                (1, _) => kv.create_revision.cmp(&0),
                (2, Some(TargetUnion::ModRevision(v))) => kv.mod_revision.cmp(v),
                (2, _) => kv.mod_revision.cmp(&0),
                (3, Some(TargetUnion::Value(v))) => kv.value.cmp(v),
                (3, _) => kv.value.as_slice().cmp(&[][..]),
                (4, Some(TargetUnion::Lease(v))) => kv.lease.cmp(v),
                (4, _) => kv.lease.cmp(&0),
                _ => Ordering::Equal,
            };
            match c.result {
                0 => ord == Ordering::Equal,
                1 => ord == Ordering::Greater,
                2 => ord == Ordering::Less,
                3 => ord != Ordering::Equal,
                _ => true,
            }
        };
        if kvs.is_empty() {
            return c.target != 3 && one(&KeyValue::default());
        }
        kvs.iter().all(one)
    }

    fn put_checks(&self, p: &PutRequest) -> Res<()> {
        if p.ignore_value && !p.value.is_empty() {
            return Err("value is provided".into());
        }
        if p.ignore_lease && p.lease != 0 {
            return Err("lease is provided".into());
        }
        Ok(())
    }

    fn write_put(&mut self, p: &PutRequest, txn: &mut Txn) -> Res<PutResponse> {
        let prev = self.state(txn.rev()).remove(&p.key);
        if (p.ignore_value || p.ignore_lease) && prev.is_none() {
            return Err("key not found".into());
        }
        let value = if p.ignore_value {
            prev.clone().unwrap().value
        } else {
            p.value.clone()
        };
        let lease = if p.ignore_lease {
            prev.clone().unwrap().lease
        } else {
            p.lease
        };
        txn.writes += 1;
        self.log.push(Rec {
            key: p.key.clone(),
            value,
            lease,
            main: txn.begin + 1,
            tomb: false,
        });
        let kv = self.state(txn.rev()).remove(&p.key);
        txn.events.push(Event {
            r#type: EventType::Put as i32,
            kv,
            prev_kv: prev.clone(),
        });
        Ok(PutResponse {
            header: hdr(txn.begin + 1),
            prev_kv: if p.prev_kv { prev } else { None },
        })
    }

    fn write_delete(&mut self, d: &DeleteRangeRequest, txn: &mut Txn) -> DeleteRangeResponse {
        let doomed: Vec<KeyValue> = self
            .state(txn.rev())
            .into_values()
            .filter(|kv| in_range(&d.key, &d.range_end, &kv.key))
            .collect();
        for kv in &doomed {
            txn.writes += 1;
            self.log.push(Rec {
                key: kv.key.clone(),
                value: vec![],
                lease: 0,
                main: txn.begin + 1,
                tomb: true,
            });
            txn.events.push(Event {
                r#type: EventType::Delete as i32,
                kv: Some(KeyValue {
                    key: kv.key.clone(),
                    mod_revision: txn.begin + 1,
                    ..Default::default()
                }),
                // A delete reads previous values only when asked to.
                prev_kv: d.prev_kv.then(|| kv.clone()),
            });
        }
        DeleteRangeResponse {
            header: hdr(txn.rev()),
            deleted: doomed.len() as i64,
            prev_kvs: if d.prev_kv { doomed } else { vec![] },
        }
    }

    fn finish(&mut self, txn: Txn) -> Vec<Event> {
        self.current = txn.rev();
        txn.events
    }

    fn put(&mut self, p: &PutRequest) -> Res<(PutResponse, Vec<Event>)> {
        self.put_checks(p)?;
        let mut t = Txn::new(self.current);
        let resp = self.write_put(p, &mut t)?;
        Ok((resp, self.finish(t)))
    }

    fn delete(&mut self, d: &DeleteRangeRequest) -> (DeleteRangeResponse, Vec<Event>) {
        let mut t = Txn::new(self.current);
        let resp = self.write_delete(d, &mut t);
        (resp, self.finish(t))
    }

    fn path(&self, t: &TxnRequest, out: &mut Vec<bool>) {
        let ok = t.compare.iter().all(|c| self.compare(c));
        out.push(ok);
        for op in if ok { &t.success } else { &t.failure } {
            if let Some(Request::RequestTxn(inner)) = &op.request {
                self.path(inner, out);
            }
        }
    }

    fn chosen<'a>(t: &'a TxnRequest, path: &[bool], at: &mut usize, out: &mut Vec<&'a Request>) {
        let ops = if path[*at] { &t.success } else { &t.failure };
        *at += 1;
        for op in ops {
            match &op.request {
                Some(Request::RequestTxn(inner)) => Self::chosen(inner, path, at, out),
                Some(r) => out.push(r),
                None => {}
            }
        }
    }

    fn txn(&mut self, t: &TxnRequest) -> Res<(TxnResponse, Vec<Event>)> {
        let limits = Limits {
            max_txn_ops: usize::MAX,
            ..Limits::default()
        };
        validate_txn(t, &limits).map_err(|e| e.to_string())?;
        let mut path = vec![];
        self.path(t, &mut path);
        let mut ops = vec![];
        Self::chosen(t, &path, &mut 0, &mut ops);
        // An `ignore_*` put needs its key to exist before the txn and not to
        // be deleted by an earlier op of it (etcd would crash on the latter;
        // cairn refuses the txn).
        let live = self.state(self.current);
        let mut deleted: Vec<&DeleteRangeRequest> = vec![];
        for op in &ops {
            match op {
                Request::RequestDeleteRange(d) => deleted.push(d),
                Request::RequestPut(p) if p.ignore_value || p.ignore_lease => {
                    let gone = deleted
                        .iter()
                        .any(|d| in_range(&d.key, &d.range_end, &p.key));
                    if !live.contains_key(&p.key) || gone {
                        return Err("key not found".into());
                    }
                }
                _ => {}
            }
        }
        for op in &ops {
            if let Request::RequestRange(r) = op {
                if r.revision != 0 && r.revision > self.current {
                    return Err("required revision is a future revision".into());
                }
                if r.revision != 0 && r.revision < self.compacted {
                    return Err("required revision has been compacted".into());
                }
            }
        }
        let mut txn = Txn::new(self.current);
        let mut resp = self.apply_txn(t, &path, &mut 0, &mut txn)?;
        resp.header = hdr(txn.rev());
        Ok((resp, self.finish(txn)))
    }

    fn apply_txn(
        &mut self,
        t: &TxnRequest,
        path: &[bool],
        at: &mut usize,
        txn: &mut Txn,
    ) -> Res<TxnResponse> {
        let ok = path[*at];
        *at += 1;
        let mut responses = vec![];
        for op in if ok { &t.success } else { &t.failure } {
            let response = match &op.request {
                Some(Request::RequestRange(r)) => {
                    Some(Response::ResponseRange(self.range(r, txn.rev())?))
                }
                Some(Request::RequestPut(p)) => {
                    Some(Response::ResponsePut(self.write_put(p, txn)?))
                }
                Some(Request::RequestDeleteRange(d)) => {
                    Some(Response::ResponseDeleteRange(self.write_delete(d, txn)))
                }
                Some(Request::RequestTxn(inner)) => {
                    Some(Response::ResponseTxn(self.apply_txn(inner, path, at, txn)?))
                }
                None => None,
            };
            responses.push(ResponseOp { response });
        }
        Ok(TxnResponse {
            header: Some(ResponseHeader::default()),
            succeeded: ok,
            responses,
        })
    }

    fn compact(&mut self, rev: i64) -> Res<CompactionResponse> {
        if rev <= self.compacted {
            return Err("required revision has been compacted".into());
        }
        if rev > self.current {
            return Err("required revision is a future revision".into());
        }
        // History stays in the model; only reads below `rev` are refused.
        self.compacted = rev;
        Ok(CompactionResponse {
            header: hdr(self.current),
        })
    }
}

struct Txn {
    begin: i64,
    writes: i64,
    events: Vec<Event>,
}

impl Txn {
    fn new(begin: i64) -> Self {
        Txn {
            begin,
            writes: 0,
            events: vec![],
        }
    }
    fn rev(&self) -> i64 {
        if self.writes > 0 {
            self.begin + 1
        } else {
            self.begin
        }
    }
}

// ----------------------------------------------------------- the generators

const KEYS: &[&str] = &["a", "b", "c", "d", "e"];

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(KEYS).prop_map(|k| k.as_bytes().to_vec())
}

fn range_end() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => Just(vec![]),
        1 => Just(vec![0]),
        2 => prop::sample::select(&["b", "c", "d", "f", "a"][..]).prop_map(|k| k.as_bytes().to_vec()),
    ]
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(&["", "x", "y", "z"][..]).prop_map(|v| v.as_bytes().to_vec())
}

fn revision() -> impl Strategy<Value = i64> {
    prop_oneof![2 => Just(0i64), 3 => 1i64..30]
}

fn filter_rev() -> impl Strategy<Value = i64> {
    prop_oneof![4 => Just(0i64), 1 => 1i64..30]
}

fn range_req() -> impl Strategy<Value = RangeRequest> {
    (
        (key(), range_end(), 0i64..4, revision()),
        (0i32..3, 0i32..5, any::<bool>(), prop::bool::weighted(0.15)),
        (filter_rev(), filter_rev(), filter_rev(), filter_rev()),
    )
        .prop_map(
            |((key, range_end, limit, revision), (so, st, ko, co), (a, b, c, d))| RangeRequest {
                key,
                range_end,
                limit,
                revision,
                sort_order: so,
                sort_target: st,
                keys_only: ko,
                count_only: co,
                min_mod_revision: a,
                max_mod_revision: b,
                min_create_revision: c,
                max_create_revision: d,
                ..Default::default()
            },
        )
}

fn put_req() -> impl Strategy<Value = PutRequest> {
    (
        key(),
        value(),
        prop::sample::select(&[0i64, 0, 5, 7][..]),
        any::<bool>(),
        prop::bool::weighted(0.15),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(key, value, lease, prev_kv, iv, il)| PutRequest {
            key,
            value: if iv && lease % 2 == 0 { vec![] } else { value },
            lease: if il && value_len_hint(lease) {
                0
            } else {
                lease
            },
            prev_kv,
            ignore_value: iv,
            ignore_lease: il,
        })
}

/// Mostly keep `ignore_*` requests valid so they exercise the store rather
/// than the validation, but not always.
fn value_len_hint(lease: i64) -> bool {
    lease != 7
}

fn del_req() -> impl Strategy<Value = DeleteRangeRequest> {
    (key(), range_end(), any::<bool>()).prop_map(|(key, range_end, prev_kv)| DeleteRangeRequest {
        key,
        range_end,
        prev_kv,
    })
}

fn compare() -> impl Strategy<Value = Compare> {
    (
        key(),
        prop_oneof![3 => Just(vec![]), 1 => range_end()],
        0i32..5,
        0i32..4,
        0i64..8,
        value(),
    )
        .prop_map(|(key, range_end, target, result, n, v)| Compare {
            result,
            target,
            key,
            range_end,
            target_union: Some(match target {
                0 => TargetUnion::Version(n % 4),
                1 => TargetUnion::CreateRevision(n),
                2 => TargetUnion::ModRevision(n),
                3 => TargetUnion::Value(v),
                _ => TargetUnion::Lease(if n % 2 == 0 { 0 } else { 5 }),
            }),
        })
}

fn flat_op() -> impl Strategy<Value = RequestOp> {
    prop_oneof![
        range_req().prop_map(Request::RequestRange),
        put_req().prop_map(Request::RequestPut),
        del_req().prop_map(Request::RequestDeleteRange),
    ]
    .prop_map(|r| RequestOp { request: Some(r) })
}

fn txn_req() -> impl Strategy<Value = TxnRequest> {
    let inner = (
        prop::collection::vec(compare(), 0..2),
        prop::collection::vec(flat_op(), 0..3),
        prop::collection::vec(flat_op(), 0..3),
    )
        .prop_map(|(compare, success, failure)| TxnRequest {
            compare,
            success,
            failure,
        });
    let op = prop_oneof![
        4 => flat_op(),
        1 => inner.prop_map(|t| RequestOp { request: Some(Request::RequestTxn(t)) }),
    ];
    (
        prop::collection::vec(compare(), 0..3),
        prop::collection::vec(op.clone(), 0..4),
        prop::collection::vec(op, 0..4),
    )
        .prop_map(|(compare, success, failure)| TxnRequest {
            compare,
            success,
            failure,
        })
}

#[derive(Debug, Clone)]
enum Step {
    Put(PutRequest),
    Delete(DeleteRangeRequest),
    Txn(TxnRequest),
    Compact(i64),
    Reopen,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => put_req().prop_map(Step::Put),
        2 => del_req().prop_map(Step::Delete),
        4 => txn_req().prop_map(Step::Txn),
        1 => (0i64..25).prop_map(Step::Compact),
        1 => Just(Step::Reopen),
    ]
}

// ----------------------------------------------------------------- the runs

fn err<T>(r: Result<T, MvccError>) -> Result<T, String> {
    r.map_err(|e| {
        assert!(!e.is_fatal(), "fatal store error: {e}");
        e.to_string()
    })
}

fn with_events<T>(r: Result<cairn::mvcc::Applied<T>, MvccError>) -> Res<(T, Vec<Event>)> {
    err(r).map(|a| (a.response, a.events))
}

/// Runs `steps` on a store opened (and reopened) by `open`.
fn run(
    open: &mut dyn FnMut() -> Box<dyn Backend>,
    steps: &[(Step, RangeRequest)],
) -> Result<(), TestCaseError> {
    let cfg = || StoreConfig {
        compaction_batch_limit: 3,
        ..StoreConfig::default()
    };
    let mut store = Some(MvccStore::open(open(), cfg()).unwrap());
    let mut model = Model::new();
    let mut index = 0u64;
    for (i, (step, read)) in steps.iter().enumerate() {
        index += 1;
        let at = EntryId { index, term: 1 };
        let s = store.as_mut().unwrap();
        match step {
            Step::Put(p) => {
                prop_assert_eq!(with_events(s.put(p, at, None)), model.put(p), "step {}", i)
            }
            Step::Delete(d) => {
                prop_assert_eq!(
                    with_events(s.delete_range(d, at)),
                    Ok(model.delete(d)),
                    "step {}",
                    i
                )
            }
            Step::Txn(t) => {
                prop_assert_eq!(with_events(s.txn(t, at, None)), model.txn(t), "step {}", i)
            }
            Step::Compact(rev) => {
                prop_assert_eq!(err(s.compact(*rev, at)), model.compact(*rev), "step {}", i)
            }
            Step::Reopen => {
                s.force_commit().unwrap();
                drop(store.take());
                store = Some(MvccStore::open(open(), cfg()).unwrap());
                prop_assert!(store.as_ref().unwrap().is_applied(index - 1));
                index -= 1;
            }
        }
        let s = store.as_ref().unwrap();
        prop_assert_eq!(s.current_revision(), model.current, "step {}", i);
        prop_assert_eq!(
            err(s.range(read)),
            model.range(read, model.current),
            "read after step {}: {:?}",
            i,
            read
        );
    }
    Ok(())
}

fn steps() -> impl Strategy<Value = Vec<(Step, RangeRequest)>> {
    prop::collection::vec((step(), range_req()), 1..30)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn memory_backend_matches_the_model(steps in steps()) {
        let b = MemBackend::new();
        run(&mut || Box::new(b.clone()), &steps)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn sled_backend_matches_the_model(steps in steps()) {
        let dir = tempfile::tempdir().unwrap();
        let opts = SledOptions { cache_capacity: 4 << 20, flush_every_ms: None };
        run(&mut || Box::new(SledBackend::open(dir.path(), &opts).unwrap()), &steps)?;
    }
}
