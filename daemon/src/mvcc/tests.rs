//! Unit tests of the store as a whole, each named after the behaviour it
//! pins. Most run on the in-memory backend; the reopen tests use sled.

use super::*;
use crate::mvcc::backend::{BackendError, Visit};
use crate::mvcc::key_index::KeyRange;
use crate::mvcc::schema::Tree;
use cairn_proto::etcdserverpb::{
    Compare, DeleteRangeRequest, PutRequest, RangeRequest, RangeResponse, RequestOp, TxnRequest,
    compare::{CompareResult, CompareTarget, TargetUnion},
    range_request::{SortOrder, SortTarget},
    request_op::Request,
    response_op::Response,
};
use cairn_proto::mvccpb::{KeyValue, event::EventType};
use std::sync::{Arc, Mutex};

struct H {
    s: MvccStore,
    next: u64,
}

impl H {
    fn new() -> Self {
        Self::on(Box::new(MemBackend::new()))
    }
    fn on(b: Box<dyn Backend>) -> Self {
        let s = MvccStore::open(b, StoreConfig::default()).unwrap();
        let next = s.applied().index + 1;
        H { s, next }
    }
    fn at(&mut self) -> EntryId {
        self.next += 1;
        EntryId {
            index: self.next - 1,
            term: 1,
        }
    }
    fn put(&mut self, k: &str, v: &str) -> i64 {
        let at = self.at();
        let r = self.s.put(&put(k, v), at, None).unwrap();
        r.response.header.unwrap().revision
    }
    fn del(&mut self, k: &str, end: &str) -> i64 {
        let at = self.at();
        let r = self.s.delete_range(&del(k, end), at).unwrap();
        r.response.deleted
    }
    fn txn(
        &mut self,
        t: &TxnRequest,
    ) -> Result<Applied<cairn_proto::etcdserverpb::TxnResponse>, MvccError> {
        let at = self.at();
        self.s.txn(t, at, None)
    }
    fn range(&self, r: RangeRequest) -> Result<RangeResponse, MvccError> {
        self.s.range(&r)
    }
    fn keys(&self, r: RangeRequest) -> Vec<String> {
        self.range(r)
            .unwrap()
            .kvs
            .iter()
            .map(|kv| String::from_utf8(kv.key.clone()).unwrap())
            .collect()
    }
}

fn put(k: &str, v: &str) -> PutRequest {
    PutRequest {
        key: k.into(),
        value: v.into(),
        ..Default::default()
    }
}
fn del(k: &str, end: &str) -> DeleteRangeRequest {
    DeleteRangeRequest {
        key: k.into(),
        range_end: end.into(),
        ..Default::default()
    }
}
fn rr(k: &str, end: &str) -> RangeRequest {
    RangeRequest {
        key: k.into(),
        range_end: end.into(),
        ..Default::default()
    }
}
fn op(r: Request) -> RequestOp {
    RequestOp { request: Some(r) }
}
fn cmp(k: &str, target: CompareTarget, result: CompareResult, u: TargetUnion) -> Compare {
    Compare {
        key: k.into(),
        target: target as i32,
        result: result as i32,
        target_union: Some(u),
        ..Default::default()
    }
}

#[test]
fn revisions_start_at_one_and_each_write_takes_one() {
    let mut h = H::new();
    assert_eq!(h.s.current_revision(), 1);
    assert_eq!(h.put("a", "1"), 2);
    assert_eq!(h.put("b", "1"), 3);
    assert_eq!(h.del("zzz", ""), 0, "deleting nothing");
    assert_eq!(
        h.s.current_revision(),
        3,
        "deleting nothing creates no revision"
    );
    assert_eq!(h.del("a", "c"), 2);
    assert_eq!(h.s.current_revision(), 4, "one revision for two deletions");
}

#[test]
fn range_end_selects_single_key_from_key_or_span() {
    let mut h = H::new();
    for k in ["a", "b", "c", "d"] {
        h.put(k, k);
    }
    assert_eq!(h.keys(rr("b", "")), ["b"]);
    assert_eq!(h.keys(rr("b", "\0")), ["b", "c", "d"]);
    assert_eq!(h.keys(rr("\0", "\0")), ["a", "b", "c", "d"]);
    assert_eq!(h.keys(rr("b", "d")), ["b", "c"]);
    assert!(h.keys(rr("d", "b")).is_empty());
    assert!(matches!(h.range(rr("", "")), Err(MvccError::EmptyKey)));
}

#[test]
fn limit_sets_more_and_count_counts_everything() {
    let mut h = H::new();
    for k in ["a", "b", "c"] {
        h.put(k, k);
    }
    let r = h
        .range(RangeRequest {
            limit: 2,
            ..rr("a", "z")
        })
        .unwrap();
    assert_eq!((r.kvs.len(), r.more, r.count), (2, true, 3));
    let r = h
        .range(RangeRequest {
            limit: 3,
            ..rr("a", "z")
        })
        .unwrap();
    assert_eq!((r.kvs.len(), r.more, r.count), (3, false, 3));
    let r = h
        .range(RangeRequest {
            count_only: true,
            limit: 1,
            ..rr("a", "z")
        })
        .unwrap();
    assert_eq!((r.kvs.len(), r.more, r.count), (0, false, 3));
    let r = h
        .range(RangeRequest {
            keys_only: true,
            ..rr("a", "")
        })
        .unwrap();
    assert_eq!(r.kvs[0].value, b"");
    assert_eq!(r.kvs[0].mod_revision, 2);
    assert_eq!(r.header.unwrap().revision, 4);
}

#[test]
fn historical_reads_and_their_errors() {
    let mut h = H::new();
    h.put("k", "v1"); // 2
    h.put("k", "v2"); // 3
    h.del("k", ""); // 4
    h.put("k", "v3"); // 5
    let at = |h: &H, rev| {
        h.range(RangeRequest {
            revision: rev,
            ..rr("k", "")
        })
    };
    assert!(at(&h, 1).unwrap().kvs.is_empty());
    let r = at(&h, 3).unwrap();
    assert_eq!(r.kvs[0].value, b"v2");
    assert_eq!(r.kvs[0].version, 2);
    assert_eq!(
        r.header.unwrap().revision,
        5,
        "the header reports the current revision"
    );
    assert!(at(&h, 4).unwrap().kvs.is_empty());
    let r = at(&h, 5).unwrap();
    assert_eq!((r.kvs[0].create_revision, r.kvs[0].version), (5, 1));
    assert!(matches!(at(&h, 6), Err(MvccError::FutureRev)));
    let c = h.at();
    h.s.compact(3, c).unwrap();
    assert!(matches!(at(&h, 2), Err(MvccError::Compacted)));
    assert_eq!(
        at(&h, 3).unwrap().kvs[0].value,
        b"v2",
        "the compacted revision itself still reads"
    );
}

#[test]
fn sorting_follows_etcds_rules_and_limit_applies_after_it() {
    let mut h = H::new();
    h.put("a", "3"); // 2
    h.put("b", "1"); // 3
    h.put("c", "2"); // 4
    h.put("b", "4"); // 5: b version 2
    let sorted = |h: &H, o: SortOrder, t: SortTarget, limit| {
        h.keys(RangeRequest {
            sort_order: o as i32,
            sort_target: t as i32,
            limit,
            ..rr("a", "z")
        })
    };
    use SortOrder::*;
    use SortTarget::*;
    assert_eq!(sorted(&h, None, Key, 0), ["a", "b", "c"]);
    assert_eq!(sorted(&h, Descend, Key, 0), ["c", "b", "a"]);
    assert_eq!(sorted(&h, Descend, Key, 1), ["c"], "limit after sorting");
    assert_eq!(
        sorted(&h, None, Value, 0),
        ["c", "a", "b"],
        "no order on a non-key target means ascending"
    );
    assert_eq!(sorted(&h, Descend, Value, 0), ["b", "a", "c"]);
    assert_eq!(sorted(&h, Ascend, Mod, 0), ["a", "c", "b"]);
    assert_eq!(sorted(&h, Descend, Create, 0), ["c", "b", "a"]);
    assert_eq!(
        sorted(&h, Descend, Version, 0),
        ["b", "a", "c"],
        "ties keep key order"
    );
    // etcd's quirk, kept: no explicit order on a non-key target sorts only
    // the `limit + 1` keys fetched in key order.
    assert_eq!(sorted(&h, None, Value, 1), ["a"]);
    assert_eq!(sorted(&h, Ascend, Value, 1), ["c"]);
    let r = h
        .range(RangeRequest {
            sort_order: Descend as i32,
            limit: 2,
            ..rr("a", "z")
        })
        .unwrap();
    assert!(r.more);
    assert!(matches!(
        h.range(RangeRequest {
            sort_target: 42,
            ..rr("a", "")
        }),
        Err(MvccError::InvalidSortOption)
    ));
}

#[test]
fn revision_filters_narrow_kvs_but_not_count() {
    let mut h = H::new();
    h.put("a", "1"); // 2
    h.put("b", "1"); // 3
    h.put("c", "1"); // 4
    h.put("a", "2"); // 5
    let f = |h: &H, r: RangeRequest| {
        let resp = h.range(r).unwrap();
        let keys: Vec<_> = resp
            .kvs
            .iter()
            .map(|kv| String::from_utf8(kv.key.clone()).unwrap())
            .collect();
        (keys, resp.count, resp.more)
    };
    let base = rr("a", "z");
    assert_eq!(
        f(
            &h,
            RangeRequest {
                min_mod_revision: 4,
                ..base.clone()
            }
        )
        .0,
        ["a", "c"]
    );
    assert_eq!(
        f(
            &h,
            RangeRequest {
                max_mod_revision: 3,
                ..base.clone()
            }
        )
        .0,
        ["b"]
    );
    assert_eq!(
        f(
            &h,
            RangeRequest {
                min_create_revision: 3,
                ..base.clone()
            }
        )
        .0,
        ["b", "c"]
    );
    assert_eq!(
        f(
            &h,
            RangeRequest {
                max_create_revision: 2,
                ..base.clone()
            }
        )
        .0,
        ["a"]
    );
    let (keys, count, more) = f(
        &h,
        RangeRequest {
            min_mod_revision: 3,
            limit: 1,
            ..base.clone()
        },
    );
    assert_eq!((keys, count, more), (vec!["a".to_string()], 3, true));
}

#[test]
fn put_prev_kv_ignore_value_and_ignore_lease() {
    let mut h = H::new();
    let at = h.at();
    let p = PutRequest {
        lease: 7,
        ..put("k", "v1")
    };
    let r = h.s.put(&p, at, None).unwrap();
    assert_eq!(r.response.prev_kv, None);
    assert_eq!(r.events[0].kv.as_ref().unwrap().lease, 7);

    let at = h.at();
    let p = PutRequest {
        ignore_value: true,
        prev_kv: true,
        ..put("k", "")
    };
    let r = h.s.put(&p, at, None).unwrap();
    assert_eq!(r.response.prev_kv.unwrap().value, b"v1");
    let kv = r.events[0].kv.clone().unwrap();
    assert_eq!(
        (kv.value.as_slice(), kv.lease, kv.version),
        (&b"v1"[..], 0, 2),
        "lease not kept without ignore_lease"
    );

    let at = h.at();
    let p = PutRequest {
        ignore_lease: true,
        ..put("k", "v3")
    };
    h.s.put(
        &PutRequest {
            lease: 9,
            ..put("k", "v2")
        },
        at,
        None,
    )
    .unwrap();
    let at = h.at();
    let kv = h.s.put(&p, at, None).unwrap().events[0].kv.clone().unwrap();
    assert_eq!((kv.value.as_slice(), kv.lease), (&b"v3"[..], 9));

    let rev = h.s.current_revision();
    for (p, want) in [
        (
            PutRequest {
                ignore_value: true,
                ..put("nope", "")
            },
            "key not found",
        ),
        (
            PutRequest {
                ignore_lease: true,
                ..put("nope", "x")
            },
            "key not found",
        ),
        (
            PutRequest {
                ignore_value: true,
                ..put("k", "x")
            },
            "value is provided",
        ),
        (
            PutRequest {
                ignore_lease: true,
                lease: 1,
                ..put("k", "x")
            },
            "lease is provided",
        ),
        (put("", "x"), "key is not provided"),
    ] {
        let at = h.at();
        let e = h.s.put(&p, at, None).unwrap_err();
        assert_eq!(e.to_string(), want);
        assert!(
            h.s.is_applied(at.index),
            "a failed request still consumes its entry"
        );
    }
    assert_eq!(h.s.current_revision(), rev);
}

#[test]
fn put_with_an_unknown_lease_fails_only_when_a_checker_is_given() {
    let mut h = H::new();
    let only_five = |id: i64| id == 5;
    let at = h.at();
    let e = h.s.put(
        &PutRequest {
            lease: 6,
            ..put("k", "v")
        },
        at,
        Some(&only_five),
    );
    assert!(matches!(e, Err(MvccError::LeaseNotFound)));
    let at = h.at();
    assert!(
        h.s.put(
            &PutRequest {
                lease: 5,
                ..put("k", "v")
            },
            at,
            Some(&only_five)
        )
        .is_ok()
    );
    let at = h.at();
    assert!(
        h.s.put(
            &PutRequest {
                lease: 6,
                ..put("k", "v")
            },
            at,
            None
        )
        .is_ok()
    );
    // Inside a txn too, with nothing applied.
    let t = TxnRequest {
        success: vec![
            op(Request::RequestPut(put("other", "v"))),
            op(Request::RequestPut(PutRequest {
                lease: 6,
                ..put("k", "v")
            })),
        ],
        ..Default::default()
    };
    let at = h.at();
    let rev = h.s.current_revision();
    assert!(matches!(
        h.s.txn(&t, at, Some(&only_five)),
        Err(MvccError::LeaseNotFound)
    ));
    assert_eq!(h.s.current_revision(), rev);
    assert!(h.keys(rr("other", "")).is_empty());
}

#[test]
fn delete_range_reports_prev_kvs_and_events() {
    let mut h = H::new();
    h.put("a", "1");
    h.put("b", "2");
    let at = h.at();
    let r =
        h.s.delete_range(
            &DeleteRangeRequest {
                prev_kv: true,
                ..del("a", "\0")
            },
            at,
        )
        .unwrap();
    assert_eq!(r.response.deleted, 2);
    assert_eq!(r.response.header.unwrap().revision, 4);
    assert_eq!(
        r.response
            .prev_kvs
            .iter()
            .map(|kv| kv.value.clone())
            .collect::<Vec<_>>(),
        [b"1", b"2"]
    );
    let e = &r.events[1];
    assert_eq!(e.r#type, EventType::Delete as i32);
    assert_eq!(
        e.kv.as_ref().unwrap(),
        &KeyValue {
            key: b"b".to_vec(),
            mod_revision: 4,
            ..Default::default()
        }
    );
    assert_eq!(e.prev_kv.as_ref().unwrap().value, b"2");
    let at = h.at();
    let r = h.s.delete_range(&del("a", "\0"), at).unwrap();
    assert_eq!(
        (r.response.deleted, r.response.header.unwrap().revision),
        (0, 4)
    );
    assert!(r.events.is_empty());
}

#[test]
fn txn_is_one_revision_and_later_ops_see_earlier_writes() {
    let mut h = H::new();
    h.put("a", "0"); // 2
    let t = TxnRequest {
        compare: vec![cmp(
            "a",
            CompareTarget::Value,
            CompareResult::Equal,
            TargetUnion::Value("0".into()),
        )],
        success: vec![
            op(Request::RequestRange(rr("a", ""))),
            op(Request::RequestPut(put("a", "1"))),
            op(Request::RequestRange(rr("a", ""))),
            op(Request::RequestDeleteRange(del("b", ""))),
            op(Request::RequestPut(put("c", "1"))),
        ],
        failure: vec![],
    };
    let r = h.txn(&t).unwrap();
    let resp = r.response;
    assert!(resp.succeeded);
    assert_eq!(resp.header.unwrap().revision, 3);
    let rng = |i: usize| match &resp.responses[i].response {
        Some(Response::ResponseRange(r)) => r.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (rng(0).kvs[0].value.clone(), rng(0).header.unwrap().revision),
        (b"0".to_vec(), 2)
    );
    assert_eq!(
        (rng(2).kvs[0].value.clone(), rng(2).header.unwrap().revision),
        (b"1".to_vec(), 3)
    );
    assert_eq!(r.events.len(), 2);
    let mods: Vec<_> = r
        .events
        .iter()
        .map(|e| e.kv.as_ref().unwrap().mod_revision)
        .collect();
    assert_eq!(mods, [3, 3]);
    // Sub revisions order the writes: the key tree holds 3.0 and 3.1.
    let a = h.range(rr("a", "")).unwrap().kvs[0].clone();
    assert_eq!((a.version, a.create_revision, a.mod_revision), (2, 2, 3));

    let read_only = TxnRequest {
        success: vec![op(Request::RequestRange(rr("a", "")))],
        ..Default::default()
    };
    let r = h.txn(&read_only).unwrap();
    assert_eq!(r.response.header.unwrap().revision, 3);
    assert_eq!(
        h.s.current_revision(),
        3,
        "a txn that writes nothing creates no revision"
    );
}

#[test]
fn compares_cover_every_target_result_and_ranges() {
    let mut h = H::new();
    h.put("a", "x"); // 2
    h.put("b", "y"); // 3
    h.put("b", "z"); // 4
    let holds = |h: &mut H, c: Compare| {
        let t = TxnRequest {
            compare: vec![c],
            ..Default::default()
        };
        h.txn(&t).unwrap().response.succeeded
    };
    use CompareResult::*;
    use CompareTarget::*;
    assert!(holds(
        &mut h,
        cmp("a", Value, Equal, TargetUnion::Value("x".into()))
    ));
    assert!(holds(
        &mut h,
        cmp("a", Value, Less, TargetUnion::Value("y".into()))
    ));
    assert!(holds(
        &mut h,
        cmp("b", Version, Greater, TargetUnion::Version(1))
    ));
    assert!(holds(
        &mut h,
        cmp("b", Create, Equal, TargetUnion::CreateRevision(3))
    ));
    assert!(holds(
        &mut h,
        cmp("b", Mod, NotEqual, TargetUnion::ModRevision(3))
    ));
    assert!(holds(&mut h, cmp("a", Lease, Equal, TargetUnion::Lease(0))));
    // A missing key compares as zeroes, except on VALUE, which fails.
    assert!(holds(
        &mut h,
        cmp("nope", Version, Equal, TargetUnion::Version(0))
    ));
    assert!(holds(
        &mut h,
        cmp("nope", Create, Equal, TargetUnion::CreateRevision(0))
    ));
    assert!(!holds(
        &mut h,
        cmp("nope", Value, Equal, TargetUnion::Value(vec![]))
    ));
    assert!(!holds(
        &mut h,
        cmp("nope", Value, NotEqual, TargetUnion::Value("q".into()))
    ));
    // Range compares: every key must satisfy it.
    let ranged = |c: Compare| Compare {
        range_end: "c".into(),
        ..c
    };
    assert!(holds(
        &mut h,
        ranged(cmp("a", Mod, Greater, TargetUnion::ModRevision(1)))
    ));
    assert!(!holds(
        &mut h,
        ranged(cmp("a", Mod, Greater, TargetUnion::ModRevision(2)))
    ));
    assert!(holds(
        &mut h,
        ranged(cmp("a", Value, Less, TargetUnion::Value("zz".into())))
    ));
    // A target_union of the wrong kind counts as zero.
    assert!(holds(
        &mut h,
        cmp("a", Version, Greater, TargetUnion::Lease(100))
    ));
}

#[test]
fn nested_txns_choose_branches_against_the_state_before_the_txn() {
    let mut h = H::new();
    h.put("k", "old"); // 2
    let inner = TxnRequest {
        compare: vec![cmp(
            "k",
            CompareTarget::Value,
            CompareResult::Equal,
            TargetUnion::Value("old".into()),
        )],
        success: vec![op(Request::RequestPut(put("saw", "old")))],
        failure: vec![op(Request::RequestPut(put("saw", "new")))],
    };
    let t = TxnRequest {
        success: vec![
            op(Request::RequestPut(put("k", "new"))),
            op(Request::RequestTxn(inner)),
        ],
        ..Default::default()
    };
    let r = h.txn(&t).unwrap().response;
    assert_eq!(h.range(rr("saw", "")).unwrap().kvs[0].value, b"old");
    match &r.responses[1].response {
        Some(Response::ResponseTxn(n)) => {
            assert!(n.succeeded);
            assert_eq!(
                n.header.unwrap().revision,
                0,
                "nested txns report an empty header"
            );
            assert_eq!(r.header.unwrap().revision, 3);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn txn_checks_reject_the_whole_txn_before_anything_is_applied() {
    let mut h = H::new();
    h.put("k", "v"); // 2
    let rev = h.s.current_revision();
    let with = |ops: Vec<RequestOp>| TxnRequest {
        success: ops,
        ..Default::default()
    };
    let cases: Vec<(TxnRequest, &str)> = vec![
        (
            with(vec![
                op(Request::RequestPut(put("a", "1"))),
                op(Request::RequestPut(PutRequest {
                    ignore_value: true,
                    ..put("nope", "")
                })),
            ]),
            "key not found",
        ),
        (
            with(vec![
                op(Request::RequestPut(put("a", "1"))),
                op(Request::RequestRange(RangeRequest {
                    revision: 99,
                    ..rr("k", "")
                })),
            ]),
            "required revision is a future revision",
        ),
        (
            with(vec![
                op(Request::RequestPut(put("a", "1"))),
                op(Request::RequestPut(put("a", "2"))),
            ]),
            "duplicate key given in txn request",
        ),
        (
            with(vec![op(Request::RequestPut(put("", "1")))]),
            "key is not provided",
        ),
        // A from-key delete passes the duplicate check but removes the key
        // the later put needs (etcd 3.5 crashes here; cairn refuses).
        (
            with(vec![
                op(Request::RequestDeleteRange(del("a", "\0"))),
                op(Request::RequestPut(PutRequest {
                    ignore_value: true,
                    ..put("k", "")
                })),
            ]),
            "key not found",
        ),
    ];
    for (t, want) in cases {
        assert_eq!(h.txn(&t).unwrap_err().to_string(), want);
        assert_eq!(h.s.current_revision(), rev);
        assert!(h.keys(rr("a", "")).is_empty());
    }
    // The ops limit is checked before proposing, not when applying.
    let wide = with(
        (0..200)
            .map(|i| op(Request::RequestPut(put(&format!("w{i}"), ""))))
            .collect(),
    );
    assert!(matches!(
        validate_txn(&wide, &Limits::default()),
        Err(MvccError::TooManyOps)
    ));
    assert!(h.txn(&wide).is_ok());
}

// Regression: a put keeping the previous value, after an earlier op of the
// same txn deleted its key (here through a nested from-key delete), passed
// the checks and then failed while applying, which is fatal for the store.
// The checks now follow the txn's own deletes and refuse it whole.
#[test]
fn keeping_the_value_of_a_key_the_same_txn_deleted_is_refused_whole() {
    let mut h = H::new();
    h.put("d", "v");
    let rev = h.s.current_revision();
    let keep = |k: &str| {
        op(Request::RequestPut(PutRequest {
            ignore_value: true,
            ..put(k, "")
        }))
    };
    let nested_delete = |from: &str, end: &str| {
        op(Request::RequestTxn(TxnRequest {
            success: vec![op(Request::RequestDeleteRange(del(from, end)))],
            ..Default::default()
        }))
    };
    let t = TxnRequest {
        success: vec![nested_delete("a", "\0"), keep("d")],
        ..Default::default()
    };
    assert!(matches!(h.txn(&t), Err(MvccError::KeyNotFound)));
    assert_eq!(h.s.current_revision(), rev);
    assert_eq!(h.keys(rr("d", "")), vec!["d"]);
    // A delete that does not reach the key leaves the put valid.
    let t = TxnRequest {
        success: vec![nested_delete("a", "c"), keep("d")],
        ..Default::default()
    };
    assert!(h.txn(&t).is_ok());
}

/// Every key-tree entry, decoded, for checking what compaction left.
fn history(b: &dyn Backend) -> Vec<(i64, bool, String)> {
    let mut out = Vec::new();
    b.scan(Tree::Key, &[], None, &mut |k, v| {
        let rk = revision::decode_key(k).unwrap();
        let kv = <KeyValue as prost::Message>::decode(v).unwrap();
        out.push((
            rk.rev.main,
            rk.tombstone,
            String::from_utf8(kv.key).unwrap(),
        ));
        true
    })
    .unwrap();
    out
}

#[test]
fn compaction_keeps_each_keys_latest_version_at_or_below_and_drops_dead_keys() {
    let backend = MemBackend::new();
    let mut h = H::on(Box::new(backend.clone()));
    h.put("a", "1"); // 2
    h.put("a", "2"); // 3
    h.put("b", "1"); // 4
    h.del("b", ""); // 5
    h.put("c", "1"); // 6
    h.put("a", "3"); // 7
    let at = h.at();
    let r = h.s.compact(6, at).unwrap();
    assert_eq!(r.header.unwrap().revision, 7);
    assert_eq!(
        history(&backend),
        [
            (3, false, "a".into()),
            (6, false, "c".into()),
            (7, false, "a".into())
        ]
    );
    assert_eq!(
        h.range(RangeRequest {
            revision: 6,
            ..rr("a", "z")
        })
        .unwrap()
        .kvs
        .len(),
        2
    );
    let a6 = h
        .range(RangeRequest {
            revision: 6,
            ..rr("a", "")
        })
        .unwrap()
        .kvs[0]
        .clone();
    assert_eq!((a6.value.as_slice(), a6.version), (&b"2"[..], 2));
    let at = h.at();
    assert!(matches!(h.s.compact(6, at), Err(MvccError::Compacted)));
    let at = h.at();
    assert!(matches!(h.s.compact(8, at), Err(MvccError::FutureRev)));
    assert_eq!(h.s.compacted_revision(), 6);
}

#[test]
fn compaction_of_a_trailing_tombstone_keeps_the_current_revision() {
    let backend = MemBackend::new();
    let mut h = H::on(Box::new(backend.clone()));
    h.put("a", "1"); // 2
    h.del("a", ""); // 3
    let at = h.at();
    h.s.compact(3, at).unwrap();
    // Only the tombstone at the compaction revision is left, for watches.
    assert_eq!(history(&backend), vec![(3, true, "a".to_string())]);
    drop(h);
    let h = H::on(Box::new(backend));
    assert_eq!((h.s.current_revision(), h.s.compacted_revision()), (3, 3));
    assert!(
        h.keys(rr("a", "")).is_empty(),
        "the deleted key stays deleted"
    );
}

/// etcd issue 18089's sequence: compacting at a delete's revision must not
/// take the delete from a watch that starts there.
#[test]
fn a_delete_at_the_compaction_revision_stays_in_history_until_the_next_compaction() {
    let backend = MemBackend::new();
    let mut h = H::on(Box::new(backend.clone()));
    h.put("k", "2"); // 2
    h.put("k", "3"); // 3
    h.put("k", "4"); // 4
    h.del("k", ""); // 5
    h.put("k", "6"); // 6
    let at = h.at();
    h.s.compact(5, at).unwrap();
    let all = KeyRange::From(Vec::new());
    let events = |s: &MvccStore| -> Vec<(i64, i32)> {
        s.history(&all, 5, i64::MAX, 100, true)
            .unwrap()
            .events
            .iter()
            .map(|e| (e.kv.as_ref().unwrap().mod_revision, e.r#type))
            .collect()
    };
    let (put, delete) = (EventType::Put as i32, EventType::Delete as i32);
    assert_eq!(events(&h.s), vec![(5, delete), (6, put)]);
    // The same after a reopen rebuilds the index from the backend, and the
    // key reads as re-created at 6.
    drop(h);
    let mut h = H::on(Box::new(backend.clone()));
    assert_eq!(events(&h.s), vec![(5, delete), (6, put)]);
    let kv = h.range(rr("k", "")).unwrap().kvs[0].clone();
    assert_eq!((kv.create_revision, kv.version), (6, 1));
    // A later compaction removes the old tombstone.
    let at = h.at();
    h.s.compact(6, at).unwrap();
    assert_eq!(history(&backend), vec![(6, false, "k".to_string())]);
}

#[test]
fn compaction_resumes_after_a_crash_between_scheduling_and_finishing() {
    let build = |b: &MemBackend, batch: usize| {
        let cfg = StoreConfig {
            compaction_batch_limit: batch,
            ..StoreConfig::default()
        };
        let mut s = MvccStore::open(Box::new(b.clone()), cfg).unwrap();
        let mut i = 0;
        let mut at = || {
            i += 1;
            EntryId { index: i, term: 1 }
        };
        for n in 0..20 {
            s.put(&put(&format!("k{}", n % 4), &n.to_string()), at(), None)
                .unwrap();
        }
        s.delete_range(&del("k0", ""), at()).unwrap();
        s.put(&put("k1", "last"), at(), None).unwrap();
        s.schedule_compaction(21, at()).unwrap();
        s
    };
    let reference = MemBackend::new();
    let mut full = build(&reference, 1000);
    full.compact_step().unwrap();
    let crashed = MemBackend::new();
    let mut s = build(&crashed, 3);
    assert!(!s.compact_step().unwrap(), "one small batch, not done");
    assert!(history(&crashed).len() > history(&reference).len());
    drop(s); // crash: scheduled is recorded, finished is not
    let get = |b: &MemBackend, k: &[u8]| b.get(Tree::Meta, k).unwrap();
    assert_ne!(
        get(&crashed, schema::META_FINISHED_COMPACT_REV),
        get(&crashed, schema::META_SCHEDULED_COMPACT_REV)
    );
    let reopened = MvccStore::open(Box::new(crashed.clone()), StoreConfig::default()).unwrap();
    assert_eq!(history(&crashed), history(&reference));
    assert_eq!(
        get(&crashed, schema::META_FINISHED_COMPACT_REV),
        get(&crashed, schema::META_SCHEDULED_COMPACT_REV)
    );
    assert_eq!(reopened.compacted_revision(), 21);
    assert_eq!(reopened.key_index(), full.key_index());
    assert_eq!(reopened.hash().unwrap(), full.hash().unwrap());
}

#[test]
fn reopening_sled_rebuilds_the_same_index_and_answers_identically() {
    let dir = tempfile::tempdir().unwrap();
    let open = || Box::new(SledBackend::open(dir.path(), &SledOptions::default()).unwrap());
    let mut h = H::on(open());
    for n in 0..30 {
        h.put(&format!("k{}", n % 7), &n.to_string());
        if n % 5 == 4 {
            h.del(&format!("k{}", n % 3), "");
        }
    }
    let at = h.at();
    h.s.compact(20, at).unwrap();
    h.put("after", "compaction");
    h.s.force_commit().unwrap();
    let cur = h.s.current_revision();
    let answers = |s: &MvccStore| -> Vec<Result<RangeResponse, String>> {
        (0..=cur + 1)
            .map(|rev| {
                s.range(&RangeRequest {
                    revision: rev,
                    ..rr("\0", "\0")
                })
                .map_err(|e| e.to_string())
            })
            .collect()
    };
    let before = (
        answers(&h.s),
        h.s.key_index().clone(),
        h.s.hash().unwrap(),
        h.s.applied(),
    );
    drop(h);
    let h = H::on(open());
    let after = (
        answers(&h.s),
        h.s.key_index().clone(),
        h.s.hash().unwrap(),
        h.s.applied(),
    );
    assert_eq!(before, after);
}

/// A backend that records every batch and can be told to fail writes, to
/// watch what the store hands it.
#[derive(Debug, Clone)]
struct Spy {
    inner: MemBackend,
    batches: Arc<Mutex<Vec<WriteBatch>>>,
    flushes: Arc<Mutex<usize>>,
}

impl Spy {
    fn new() -> Self {
        Spy {
            inner: MemBackend::new(),
            batches: Default::default(),
            flushes: Default::default(),
        }
    }
}

impl Backend for Spy {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        self.inner.get(tree, key)
    }
    fn scan(
        &self,
        tree: Tree,
        start: &[u8],
        end: Option<&[u8]>,
        visit: Visit<'_>,
    ) -> Result<(), BackendError> {
        self.inner.scan(tree, start, end, visit)
    }
    fn write(&self, batch: &WriteBatch) -> Result<(), BackendError> {
        self.batches.lock().unwrap().push(batch.clone());
        self.inner.write(batch)
    }
    fn flush(&self) -> Result<(), BackendError> {
        *self.flushes.lock().unwrap() += 1;
        Ok(())
    }
    fn size(&self) -> Result<BackendSize, BackendError> {
        self.inner.size()
    }
    fn restore(&self, dump: &[u8]) -> Result<(), BackendError> {
        self.inner.restore(dump)
    }
}

#[test]
fn consistent_index_is_written_in_the_same_batch_as_the_data() {
    let spy = Spy::new();
    let mut h = H::on(Box::new(spy.clone()));
    spy.batches.lock().unwrap().clear();
    h.put("a", "1");
    let t = TxnRequest {
        success: vec![
            op(Request::RequestPut(put("b", "1"))),
            op(Request::RequestDeleteRange(del("a", ""))),
        ],
        ..Default::default()
    };
    h.txn(&t).unwrap();
    let at = h.at();
    h.s.compact(2, at).unwrap();
    let batches = spy.batches.lock().unwrap().clone();
    let ci = |b: &WriteBatch| {
        b.ops().iter().find_map(|(t, k, v)| {
            (*t == Tree::Meta && k == schema::META_CONSISTENT_INDEX)
                .then(|| schema::decode_u64(v.as_ref().unwrap()).unwrap())
        })
    };
    // put, txn, compaction scheduling: each one batch carrying data and index.
    assert_eq!(ci(&batches[0]), Some(1));
    assert!(batches[0].ops().iter().any(|(t, ..)| *t == Tree::Key));
    assert_eq!(ci(&batches[1]), Some(2));
    assert_eq!(
        batches[1]
            .ops()
            .iter()
            .filter(|(t, ..)| *t == Tree::Key)
            .count(),
        2
    );
    assert_eq!(ci(&batches[2]), Some(3));
    assert!(
        batches[2]
            .ops()
            .iter()
            .any(|(_, k, _)| k == schema::META_SCHEDULED_COMPACT_REV)
    );
    // Compaction's removals are not a raft entry and carry no index.
    assert!(batches[3..].iter().all(|b| ci(b).is_none()));

    // Replaying: a reopened store knows what it applied.
    drop(h);
    let h = H::on(Box::new(spy.inner.clone()));
    assert_eq!(h.s.applied(), EntryId { index: 3, term: 1 });
    assert!(h.s.is_applied(3) && !h.s.is_applied(4));
}

#[test]
#[should_panic(expected = "applied twice")]
fn applying_an_entry_twice_is_refused() {
    let mut h = H::new();
    h.put("a", "1");
    let _ = h.s.put(&put("a", "2"), EntryId { index: 1, term: 1 }, None);
}

#[test]
fn flushes_are_batched_not_per_request() {
    let spy = Spy::new();
    let cfg = StoreConfig {
        batch_limit: Some(30),
        ..StoreConfig::default()
    };
    let mut s = MvccStore::open(Box::new(spy.clone()), cfg).unwrap();
    for i in 1..=30u64 {
        s.put(&put("k", "v"), EntryId { index: i, term: 1 }, None)
            .unwrap();
    }
    // Each put writes 3 entries (value, index, term): 90 ops, 3 flushes.
    assert_eq!(*spy.flushes.lock().unwrap(), 3);
    s.mark_applied(EntryId { index: 31, term: 2 }).unwrap();
    s.force_commit().unwrap();
    assert_eq!(*spy.flushes.lock().unwrap(), 4);
    assert_eq!(s.applied(), EntryId { index: 31, term: 2 });
}

#[test]
fn hash_kv_agrees_mid_compaction_and_changes_with_history() {
    let make = |batch| {
        let b = MemBackend::new();
        let cfg = StoreConfig {
            compaction_batch_limit: batch,
            ..StoreConfig::default()
        };
        let mut s = MvccStore::open(Box::new(b), cfg).unwrap();
        for i in 1..=12u64 {
            s.put(
                &put(&format!("k{}", i % 3), &i.to_string()),
                EntryId { index: i, term: 1 },
                None,
            )
            .unwrap();
        }
        s.schedule_compaction(8, EntryId { index: 13, term: 1 })
            .unwrap();
        s
    };
    let mut done = make(1000);
    done.compact_step().unwrap();
    let mut half = make(2);
    half.compact_step().unwrap();
    let hd = done.hash_kv(0).unwrap();
    assert_eq!(hd, half.hash_kv(0).unwrap());
    assert_eq!((hd.compact_revision, hd.hash_revision), (8, 13));
    assert_ne!(done.hash_kv(12).unwrap().hash, hd.hash);
    assert!(matches!(done.hash_kv(8), Err(MvccError::Compacted)));
    assert!(matches!(done.hash_kv(14), Err(MvccError::FutureRev)));
    assert_ne!(
        done.hash().unwrap(),
        half.hash().unwrap(),
        "hash() sees the unfinished removals"
    );
    half.compact_step().unwrap();
    while !half.compact_step().unwrap() {}
    assert_eq!(done.hash().unwrap(), half.hash().unwrap());
}

#[test]
fn snapshot_restores_onto_another_backend_kind() {
    let mut h = H::new();
    h.put("a", "1");
    h.del("a", "");
    h.put("b", "2");
    let dump = h.s.snapshot().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sled = SledBackend::open(dir.path(), &SledOptions::default()).unwrap();
    let mut other = MvccStore::open(Box::new(sled), StoreConfig::default()).unwrap();
    other.restore(&dump).unwrap();
    assert_eq!(other.hash().unwrap(), h.s.hash().unwrap());
    assert_eq!(other.applied(), h.s.applied());
    assert_eq!(other.key_index(), h.s.key_index());
    assert_eq!(other.current_revision(), 4);
}

// Two members that applied the same log agree on Hash and HashKV whatever
// their backend: the corruption check between members compares exactly
// these numbers.
#[test]
fn members_that_applied_the_same_log_agree_on_hash_and_hash_kv() {
    let dir = tempfile::tempdir().unwrap();
    let sled = SledBackend::open(dir.path(), &SledOptions::default()).unwrap();
    let mut members = [H::new(), H::on(Box::new(sled))];
    for h in members.iter_mut() {
        for i in 0..40 {
            h.put(&format!("k{}", i % 7), &format!("v{i}"));
        }
        h.del("k3", "");
        h.del("k5", "k7");
        let t = TxnRequest {
            compare: vec![cmp(
                "k1",
                CompareTarget::Version,
                CompareResult::Greater,
                TargetUnion::Version(2),
            )],
            success: vec![op(Request::RequestPut(put("t", "yes")))],
            failure: vec![op(Request::RequestPut(put("t", "no")))],
        };
        h.txn(&t).unwrap();
        let at = h.at();
        h.s.compact(20, at).unwrap();
        h.put("after", "compaction");
    }
    let [a, b] = &members;
    assert_eq!(a.s.current_revision(), b.s.current_revision());
    assert_eq!(a.s.hash().unwrap(), b.s.hash().unwrap());
    for rev in [0, 21, 30, a.s.current_revision()] {
        assert_eq!(
            a.s.hash_kv(rev).unwrap(),
            b.s.hash_kv(rev).unwrap(),
            "at {rev}"
        );
    }
    // And a member that applied one more write disagrees.
    members[1].put("extra", "1");
    let [a, b] = &members;
    assert_ne!(a.s.hash_kv(0).unwrap().hash, b.s.hash_kv(0).unwrap().hash);
}
