//! Checks a request must pass before it is proposed, and (for the checks
//! that depend on nothing but the request) again before it is applied.
//!
//! Owns: [`Limits`] and the pure request checks. Must never: look at the
//! store's state (those checks — compacted or future revisions, missing keys
//! and leases — happen while applying).
//!
//! Two kinds of check live here, and the difference matters:
//! - *shape* checks (empty keys, `ignore_value` with a value, invalid sort
//!   options, a key written twice in a txn) depend only on the request, so
//!   the store re-runs them when applying: every member reaches the same
//!   verdict.
//! - *limit* checks ([`Limits`]: ops per txn, request bytes) depend on the
//!   member's configuration. Members may be configured differently, so these
//!   run only before proposing ([`validate_txn`], [`check_request_size`]);
//!   re-running them at apply time could make members disagree.

use super::MvccError;
use super::key_index::KeyRange;
use cairn_proto::etcdserverpb::{
    DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
    range_request::{SortOrder, SortTarget},
    request_op::Request,
};
use cairn_proto::nesting::MAX_TXN_DEPTH;
use std::collections::HashSet;

/// Per-member request limits, enforced before proposing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most compares, success ops or failure ops in one txn level (etcd's
    /// `--max-txn-ops`).
    pub max_txn_ops: usize,
    /// Largest encoded request accepted (etcd's `--max-request-bytes`).
    pub max_request_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_txn_ops: 128,
            max_request_bytes: 3 * 512 * 1024,
        }
    }
}

/// Refuses a request whose encoding (as it would be proposed) is larger
/// than the limit.
pub fn check_request_size(encoded_len: usize, limits: &Limits) -> Result<(), MvccError> {
    if encoded_len > limits.max_request_bytes {
        return Err(MvccError::RequestTooLarge);
    }
    Ok(())
}

pub fn validate_range(r: &RangeRequest) -> Result<(), MvccError> {
    if r.key.is_empty() {
        return Err(MvccError::EmptyKey);
    }
    if SortOrder::try_from(r.sort_order).is_err() || SortTarget::try_from(r.sort_target).is_err() {
        return Err(MvccError::InvalidSortOption);
    }
    Ok(())
}

pub fn validate_put(r: &PutRequest) -> Result<(), MvccError> {
    if r.key.is_empty() {
        return Err(MvccError::EmptyKey);
    }
    if r.ignore_value && !r.value.is_empty() {
        return Err(MvccError::ValueProvided);
    }
    if r.ignore_lease && r.lease != 0 {
        return Err(MvccError::LeaseProvided);
    }
    Ok(())
}

pub fn validate_delete(r: &DeleteRangeRequest) -> Result<(), MvccError> {
    if r.key.is_empty() {
        return Err(MvccError::EmptyKey);
    }
    Ok(())
}

/// Every check etcd makes on a txn before proposing it: the ops limit (the
/// widest of compares, success and failure at each level, with nested txns
/// limited to what their parent left), then the shape of every compare and
/// op, then that no key is written twice. cairn adds one: no deeper than
/// [`MAX_TXN_DEPTH`] levels, so that the entry decodes back.
pub fn validate_txn(t: &TxnRequest, limits: &Limits) -> Result<(), MvccError> {
    check_txn(t, Some(limits.max_txn_ops), 1)?;
    check_writes(&t.success)?;
    check_writes(&t.failure)?;
    Ok(())
}

/// The configuration-independent part of [`validate_txn`], re-run when
/// applying.
pub(crate) fn validate_txn_shape(t: &TxnRequest) -> Result<(), MvccError> {
    check_txn(t, None, 1)?;
    check_writes(&t.success)?;
    check_writes(&t.failure)?;
    Ok(())
}

/// Whether a txn only reads, in both branches and every nested txn (such
/// a txn is allowed while NOSPACE is raised).
pub fn txn_is_read_only(t: &TxnRequest) -> bool {
    use cairn_proto::etcdserverpb::request_op::Request;
    t.success
        .iter()
        .chain(&t.failure)
        .all(|op| match &op.request {
            Some(Request::RequestRange(_)) | None => true,
            Some(Request::RequestTxn(inner)) => txn_is_read_only(inner),
            Some(_) => false,
        })
}

fn check_txn(t: &TxnRequest, max_ops: Option<usize>, depth: usize) -> Result<(), MvccError> {
    let widest = t.compare.len().max(t.success.len()).max(t.failure.len());
    // Past this depth the entry could not be decoded back (see
    // `cairn_proto::nesting`); etcd refuses such a txn for its ops budget.
    if depth > MAX_TXN_DEPTH || max_ops.is_some_and(|m| widest > m) {
        return Err(MvccError::TooManyOps);
    }
    if t.compare.iter().any(|c| c.key.is_empty()) {
        return Err(MvccError::EmptyKey);
    }
    // A nested txn gets what its parent left of the budget, so the limit
    // bounds the whole tree, not each level alone.
    let nested = max_ops.map(|m| m - widest);
    for op in t.success.iter().chain(&t.failure) {
        check_op(op, nested, depth)?;
    }
    Ok(())
}

fn check_op(op: &RequestOp, max_ops: Option<usize>, depth: usize) -> Result<(), MvccError> {
    match &op.request {
        Some(Request::RequestRange(r)) => validate_range(r),
        Some(Request::RequestPut(r)) => validate_put(r),
        Some(Request::RequestDeleteRange(r)) => validate_delete(r),
        Some(Request::RequestTxn(t)) => check_txn(t, max_ops, depth + 1),
        // etcd answers an op with nothing in it this way.
        None => Err(MvccError::KeyNotFound),
    }
}

/// A deleted interval as etcd's duplicate check sees it. etcd builds the
/// interval `[key, range_end)` from the raw bytes, so a from-key delete
/// (`range_end == "\0"`) or an inverted one covers no key *for this check*,
/// although it deletes keys when applied. cairn keeps that behaviour so it
/// accepts exactly the txns etcd accepts.
#[derive(Debug, Clone)]
struct Deleted(Vec<u8>, Vec<u8>);

impl Deleted {
    fn of(r: &DeleteRangeRequest) -> Self {
        Deleted(r.key.clone(), r.range_end.clone())
    }

    fn covers(&self, k: &[u8]) -> bool {
        if self.1.is_empty() {
            return k == self.0.as_slice();
        }
        KeyRange::Span(self.0.clone(), self.1.clone()).contains(k)
    }
}

/// The keys one branch puts and the intervals it deletes, or
/// `DuplicateKey`. The rules, as etcd applies them: a put may not hit a key
/// put elsewhere or a deleted interval collected so far; a nested txn's two
/// branches are exclusive, so the same key put in both is fine; deletes may
/// overlap each other. Order matters the way it does in etcd: this level's
/// deletes are gathered first, then nested txns left to right (their deletes
/// join the set after their puts are checked), then this level's puts.
fn check_writes(ops: &[RequestOp]) -> Result<(HashSet<Vec<u8>>, Vec<Deleted>), MvccError> {
    let mut dels: Vec<Deleted> = ops
        .iter()
        .filter_map(|op| match &op.request {
            Some(Request::RequestDeleteRange(d)) => Some(Deleted::of(d)),
            _ => None,
        })
        .collect();
    let hits = |dels: &[Deleted], k: &[u8]| dels.iter().any(|d| d.covers(k));

    let mut puts: HashSet<Vec<u8>> = HashSet::new();
    for op in ops {
        let Some(Request::RequestTxn(t)) = &op.request else {
            continue;
        };
        let (puts_then, dels_then) = check_writes(&t.success)?;
        let (puts_else, dels_else) = check_writes(&t.failure)?;
        for k in &puts_then {
            if puts.contains(k) || hits(&dels, k) {
                return Err(MvccError::DuplicateKey);
            }
        }
        for k in &puts_else {
            if (puts.contains(k) && !puts_then.contains(k)) || hits(&dels, k) {
                return Err(MvccError::DuplicateKey);
            }
        }
        puts.extend(puts_then);
        puts.extend(puts_else);
        dels.extend(dels_then);
        dels.extend(dels_else);
    }

    for op in ops {
        let Some(Request::RequestPut(p)) = &op.request else {
            continue;
        };
        if puts.contains(&p.key) || hits(&dels, &p.key) {
            return Err(MvccError::DuplicateKey);
        }
        puts.insert(p.key.clone());
    }
    Ok((puts, dels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_proto::etcdserverpb::Compare;

    fn put(k: &str) -> RequestOp {
        RequestOp {
            request: Some(Request::RequestPut(PutRequest {
                key: k.into(),
                ..Default::default()
            })),
        }
    }
    fn del(k: &str, end: &str) -> RequestOp {
        RequestOp {
            request: Some(Request::RequestDeleteRange(DeleteRangeRequest {
                key: k.into(),
                range_end: end.into(),
                ..Default::default()
            })),
        }
    }
    fn get(k: &str) -> RequestOp {
        RequestOp {
            request: Some(Request::RequestRange(RangeRequest {
                key: k.into(),
                ..Default::default()
            })),
        }
    }
    fn txn(success: Vec<RequestOp>, failure: Vec<RequestOp>) -> TxnRequest {
        TxnRequest {
            compare: vec![],
            success,
            failure,
        }
    }
    fn nested(t: TxnRequest) -> RequestOp {
        RequestOp {
            request: Some(Request::RequestTxn(t)),
        }
    }
    fn check(t: &TxnRequest) -> Result<(), MvccError> {
        validate_txn(t, &Limits::default())
    }

    #[test]
    fn too_many_ops_counts_the_widest_list_of_each_level() {
        let l = Limits {
            max_txn_ops: 2,
            ..Limits::default()
        };
        let ok = txn(vec![put("a"), put("b")], vec![put("c"), put("d")]);
        assert!(validate_txn(&ok, &l).is_ok());
        let wide = txn(vec![put("a"), put("b"), put("c")], vec![]);
        assert!(matches!(
            validate_txn(&wide, &l),
            Err(MvccError::TooManyOps)
        ));
        let deep = txn(vec![nested(wide.clone())], vec![]);
        assert!(matches!(
            validate_txn(&deep, &l),
            Err(MvccError::TooManyOps)
        ));
        // One op at the top leaves one for the nested level.
        let one = txn(vec![put("x")], vec![]);
        assert!(validate_txn(&txn(vec![nested(one.clone())], vec![]), &l).is_ok());
        let two = txn(vec![put("x"), put("y")], vec![]);
        assert!(matches!(
            validate_txn(&txn(vec![nested(two)], vec![]), &l),
            Err(MvccError::TooManyOps)
        ));
        assert!(
            validate_txn_shape(&deep).is_ok(),
            "the apply-time check has no limit"
        );
        let mut cmps = txn(vec![], vec![]);
        cmps.compare = vec![
            Compare {
                key: "k".into(),
                ..Default::default()
            };
            3
        ];
        assert!(matches!(
            validate_txn(&cmps, &l),
            Err(MvccError::TooManyOps)
        ));
    }

    #[test]
    fn empty_keys_and_empty_ops_are_refused_anywhere() {
        assert!(matches!(
            check(&txn(vec![put("")], vec![])),
            Err(MvccError::EmptyKey)
        ));
        assert!(matches!(
            check(&txn(vec![], vec![get("")])),
            Err(MvccError::EmptyKey)
        ));
        let inner = txn(vec![del("", "")], vec![]);
        assert!(matches!(
            check(&txn(vec![nested(inner)], vec![])),
            Err(MvccError::EmptyKey)
        ));
        let mut cmp = txn(vec![], vec![]);
        cmp.compare.push(Compare::default());
        assert!(matches!(check(&cmp), Err(MvccError::EmptyKey)));
        let empty_op = txn(vec![RequestOp { request: None }], vec![]);
        assert!(matches!(check(&empty_op), Err(MvccError::KeyNotFound)));
    }

    #[test]
    fn put_options_are_checked_inside_txns() {
        let p = PutRequest {
            key: "k".into(),
            value: "v".into(),
            ignore_value: true,
            ..Default::default()
        };
        let t = txn(
            vec![RequestOp {
                request: Some(Request::RequestPut(p)),
            }],
            vec![],
        );
        assert!(matches!(check(&t), Err(MvccError::ValueProvided)));
        let p = PutRequest {
            key: "k".into(),
            lease: 5,
            ignore_lease: true,
            ..Default::default()
        };
        assert!(matches!(validate_put(&p), Err(MvccError::LeaseProvided)));
    }

    #[test]
    fn invalid_sort_options_are_refused() {
        let r = RangeRequest {
            key: "k".into(),
            sort_order: 9,
            ..Default::default()
        };
        assert!(matches!(
            validate_range(&r),
            Err(MvccError::InvalidSortOption)
        ));
        let r = RangeRequest {
            key: "k".into(),
            sort_target: -1,
            ..Default::default()
        };
        assert!(matches!(
            validate_range(&r),
            Err(MvccError::InvalidSortOption)
        ));
    }

    #[test]
    fn a_key_written_twice_is_a_duplicate() {
        let dup = |t: TxnRequest| matches!(check(&t), Err(MvccError::DuplicateKey));
        assert!(dup(txn(vec![put("a"), put("a")], vec![])));
        assert!(dup(txn(vec![del("a", ""), put("a")], vec![])));
        assert!(dup(txn(vec![put("b"), del("a", "c")], vec![])));
        assert!(dup(txn(
            vec![put("a"), nested(txn(vec![put("a")], vec![]))],
            vec![]
        )));
        assert!(dup(txn(
            vec![del("a", "z"), nested(txn(vec![], vec![put("m")]))],
            vec![]
        )));
        assert!(dup(txn(
            vec![nested(txn(vec![del("a", "c")], vec![])), put("b")],
            vec![]
        )));
        // Sibling nested txns: both put the same key.
        let t1 = nested(txn(vec![put("k")], vec![]));
        assert!(dup(txn(vec![t1.clone(), t1], vec![])));
    }

    #[test]
    fn allowed_overlaps_are_not_duplicates() {
        let ok = |t: TxnRequest| check(&t).is_ok();
        // The two branches of one txn never both run.
        assert!(ok(txn(vec![put("a")], vec![put("a")])));
        assert!(ok(txn(
            vec![nested(txn(vec![put("a")], vec![put("a")]))],
            vec![]
        )));
        // Deletes may overlap deletes; reads overlap anything.
        assert!(ok(txn(
            vec![del("a", "c"), del("b", "d"), get("b")],
            vec![]
        )));
        assert!(ok(txn(vec![put("a"), get("a")], vec![])));
        // etcd's interval check treats a from-key or inverted delete as
        // covering nothing, and checks a nested txn's puts before the
        // deletes of later siblings join the set.
        assert!(ok(txn(vec![del("a", "\0"), put("b")], vec![])));
        assert!(ok(txn(vec![del("c", "a"), put("b")], vec![])));
        let later_del = nested(txn(vec![del("k", "")], vec![]));
        assert!(ok(txn(
            vec![nested(txn(vec![put("k")], vec![])), later_del],
            vec![]
        )));
    }

    #[test]
    fn request_size_limit() {
        let l = Limits::default();
        assert_eq!(l.max_request_bytes, 1536 * 1024);
        assert!(check_request_size(l.max_request_bytes, &l).is_ok());
        assert!(matches!(
            check_request_size(l.max_request_bytes + 1, &l),
            Err(MvccError::RequestTooLarge)
        ));
    }

    /// A txn `depth` levels deep: each level reads its own key and puts
    /// its own key, and holds the next level on the side `sides` picks.
    fn levels(depth: usize, sides: &[bool]) -> TxnRequest {
        let mut inner: Option<TxnRequest> = None;
        for level in (0..depth).rev() {
            let key = format!("k{level}");
            let mut branch = vec![get(&key), put(&key)];
            let mut other = vec![];
            if let Some(t) = inner.take() {
                if sides[level % sides.len()] {
                    branch.push(nested(t));
                } else {
                    other.push(nested(t));
                }
            }
            inner = Some(txn(branch, other));
        }
        inner.expect("depth > 0")
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]

        /// Whatever the proposal checks accept decodes back from the entry
        /// that carries it, at any depth; deeper than that is refused with
        /// etcd's ops error, even when --max-txn-ops would allow it.
        #[test]
        fn accepted_txns_decode_back_from_their_entry(
            depth in 1..=MAX_TXN_DEPTH + 4,
            sides in proptest::collection::vec(proptest::bool::ANY, 1..8),
        ) {
            let limits = Limits { max_txn_ops: 100_000, ..Limits::default() };
            let checked = std::thread::Builder::new()
                .stack_size(crate::server::THREAD_STACK_BYTES)
                .spawn(move || {
                    use cairn_proto::internal::{Request as Envelope, request::Op};
                    use prost::Message as _;
                    let t = levels(depth, &sides);
                    let verdict = validate_txn(&t, &limits).map_err(|e| e.to_string());
                    let entry = Envelope { id: 7, op: Some(Op::Txn(t.clone())), requester: None }.encode_to_vec();
                    let back = cairn_proto::nesting::decode_request(entry.into());
                    (verdict, back.map(|r| r.op == Some(Op::Txn(t))))
                })
                .expect("spawn")
                .join()
                .expect("no panic");
            if depth <= MAX_TXN_DEPTH {
                proptest::prop_assert_eq!(checked, (Ok(()), Ok(true)));
            } else {
                proptest::prop_assert_eq!(checked.0, Err(MvccError::TooManyOps.to_string()));
            }
        }
    }
}
