//! The linearizability checker for the key-value history.
//!
//! etcd's revision couples every key: each write takes the next global
//! revision, and every response carries the global revision in its header.
//! A search over the whole store's state would be exact but exponential in
//! the number of keys touched concurrently, so the check is split in two,
//! each part sound on its own (it never flags a history a correct etcd
//! could produce):
//!
//! 1. **Per key, a Wing & Gong search** (with porcupine's memo of
//!    (linearized set, state) pairs) over that key's calls: put, get,
//!    delete, compare-and-swap on value, and lease revokes that may touch
//!    it. The model state is the key's value, its lease and its
//!    `mod_revision` (unknown until a read reveals it, after a write of
//!    unknown outcome). Linearizability is local: a history is linearizable
//!    iff each key's sub-history is, *for operations on single keys*; the
//!    revision is what is not local, hence part 2.
//! 2. **Revision checks across keys**: writes that surely created a
//!    revision all have different ones; in real time the header revision of
//!    linearizable calls never goes backwards, and a write's revision is
//!    above that of every call that returned before it was invoked; a
//!    value's `mod_revision` is the revision its write was answered with and
//!    is never above the read's header revision.
//!
//! What this misses: an anomaly visible only across keys *and* not in the
//! revision order (e.g. two keys' writes applied in an order that no
//! revision shows). Watches (see `watch.rs`) see the global order of every
//! write and cover that.
//!
//! Serializable reads are not linearizable by design; they are checked for
//! never going backwards on one member and never showing a value no write
//! wrote (`check_serializable`).
//!
//! Writes of unknown outcome return "never": the search may place them at
//! any point after their invocation, including after everything, which is
//! the same as never taking effect.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::history::{History, Kv, Op, Outcome, Request, Response};

/// One thing a checker found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which guarantee was broken (a stable name, for reports).
    pub check: &'static str,
    pub detail: String,
}

impl Violation {
    pub fn new(check: &'static str, detail: impl Into<String>) -> Violation {
        Violation {
            check,
            detail: detail.into(),
        }
    }
}

/// Steps of the search per key before it gives up and says "undecided".
const SEARCH_BUDGET: usize = 2_000_000;

/// The result of checking one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyVerdict {
    Linearizable,
    NotLinearizable,
    /// The search ran out of budget (too many concurrent unknown writes).
    Undecided,
}

/// A key's state in the model.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum KeyState {
    Absent,
    Present {
        value: String,
        lease: i64,
        /// `None` after a write of unknown outcome, until a read shows it.
        mod_rev: Option<i64>,
    },
}

/// Applies `op` to `state`; `None` if its response cannot follow `state`.
fn step(state: &KeyState, op: &Op) -> Option<KeyState> {
    let resp = op.response();
    match (&op.req, resp) {
        (Request::Put { value, lease, .. }, _) => Some(KeyState::Present {
            value: value.clone(),
            lease: *lease,
            mod_rev: resp.map(Response::rev),
        }),
        (Request::Get { .. }, Some(Response::Get { kv, .. })) => observe(state, kv.as_ref()),
        (Request::Get { .. }, _) => Some(state.clone()),
        (Request::Delete { .. }, Some(Response::Delete { deleted, .. })) => {
            let existed = i64::from(matches!(state, KeyState::Present { .. }));
            (*deleted == existed).then_some(KeyState::Absent)
        }
        (Request::Delete { .. }, _) => Some(KeyState::Absent),
        (Request::Cas { expect, value, .. }, resp) => {
            let current = match state {
                KeyState::Absent => None,
                KeyState::Present { value, .. } => Some(value),
            };
            let holds = current == expect.as_ref();
            let swapped = KeyState::Present {
                value: value.clone(),
                lease: 0,
                mod_rev: resp.map(Response::rev),
            };
            match resp {
                Some(Response::Cas { succeeded, kv, .. }) => {
                    if *succeeded != holds {
                        None
                    } else if holds {
                        Some(swapped)
                    } else {
                        observe(state, kv.as_ref())
                    }
                }
                Some(_) => None,
                None if holds => Some(swapped),
                None => Some(state.clone()),
            }
        }
        (Request::Revoke { lease }, _) => match state {
            KeyState::Present { lease: l, .. } if l == lease => Some(KeyState::Absent),
            _ => Some(state.clone()),
        },
        (Request::Compact { .. }, _) => Some(state.clone()),
    }
}

/// A read of `kv` from `state`: the same value and lease, and the same
/// revision once known (a read teaches the model an unknown one).
fn observe(state: &KeyState, kv: Option<&Kv>) -> Option<KeyState> {
    match (state, kv) {
        (KeyState::Absent, None) => Some(KeyState::Absent),
        (
            KeyState::Present {
                value,
                lease,
                mod_rev,
            },
            Some(kv),
        ) if *value == kv.value
            && *lease == kv.lease
            && mod_rev.is_none_or(|r| r == kv.mod_rev) =>
        {
            Some(KeyState::Present {
                value: value.clone(),
                lease: *lease,
                mod_rev: Some(kv.mod_rev),
            })
        }
        _ => None,
    }
}

/// Wing & Gong's search over one key's calls, all of which must be
/// linearized (unknown ones return "never", so they can go last).
///
/// Depth-first: the next call linearized is one invoked before the
/// earliest return among the calls still pending; a (linearized set, model
/// state) pair already explored is not explored again (porcupine's memo).
/// Pending calls are kept in invocation order and their returns in a
/// sorted set, so a step costs the calls it may choose from, not the whole
/// history.
pub fn check_key(ops: &[&Op]) -> KeyVerdict {
    let n = ops.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (ops[i].call, i));
    let mut pos = vec![0; n];
    for (p, &i) in order.iter().enumerate() {
        pos[i] = p;
    }
    let mut done = vec![false; n];
    let mut bits = vec![0u64; n.div_ceil(64)];
    let mut returns: std::collections::BTreeSet<(u64, usize)> =
        (0..n).map(|i| (ops[i].ret_or_never(), i)).collect();
    let mut seen: HashSet<(Vec<u64>, KeyState)> = HashSet::new();
    let mut budget = SEARCH_BUDGET;
    // Each frame: the state reached, where its candidate scan resumes (a
    // position in `order`), and the call linearized to reach it.
    let mut stack: Vec<(KeyState, usize, Option<usize>)> = vec![(KeyState::Absent, 0, None)];
    // Positions in `order` before this are all linearized.
    let mut first_pending = 0;
    while let Some((state, cursor, _)) = stack.last().cloned() {
        while first_pending < n && done[order[first_pending]] {
            first_pending += 1;
        }
        if first_pending == n {
            return KeyVerdict::Linearizable;
        }
        if budget == 0 {
            return KeyVerdict::Undecided;
        }
        budget -= 1;
        let horizon = returns.first().map_or(u64::MAX, |r| r.0);
        let mut next = cursor.max(first_pending);
        let mut advanced = false;
        while next < n {
            let i = order[next];
            next += 1;
            if done[i] {
                continue;
            }
            if ops[i].call > horizon {
                break;
            }
            let Some(new_state) = step(&state, ops[i]) else {
                continue;
            };
            bits[i / 64] ^= 1 << (i % 64);
            if !seen.insert((bits.clone(), new_state.clone())) {
                bits[i / 64] ^= 1 << (i % 64);
                continue;
            }
            done[i] = true;
            returns.remove(&(ops[i].ret_or_never(), i));
            stack.last_mut().expect("non-empty").1 = next;
            stack.push((new_state, 0, Some(i)));
            advanced = true;
            break;
        }
        if !advanced {
            match stack.pop().expect("non-empty").2 {
                Some(i) => {
                    done[i] = false;
                    bits[i / 64] ^= 1 << (i % 64);
                    returns.insert((ops[i].ret_or_never(), i));
                    first_pending = first_pending.min(pos[i]);
                }
                None => return KeyVerdict::NotLinearizable,
            }
        }
    }
    KeyVerdict::NotLinearizable
}

/// The calls of the history that one key's search must consider.
/// Failed calls had no effect and are left out; so are serializable reads.
fn per_key(history: &History) -> BTreeMap<String, Vec<&Op>> {
    let mut keys: BTreeMap<String, Vec<&Op>> = BTreeMap::new();
    let mut lease_keys: HashMap<i64, HashSet<String>> = HashMap::new();
    for op in &history.ops {
        // Failed calls had no effect; reads without an answer constrain
        // nothing; serializable reads are checked apart.
        let unanswered_read = matches!(op.req, Request::Get { .. }) && op.response().is_none();
        if matches!(op.outcome, Outcome::Failed(_)) || unanswered_read || op.is_serializable() {
            continue;
        }
        if let Request::Put { key, lease, .. } = &op.req {
            if *lease != 0 {
                lease_keys.entry(*lease).or_default().insert(key.clone());
            }
        }
        if let Some(key) = op.req.key() {
            keys.entry(key.to_owned()).or_default().push(op);
        }
    }
    for op in &history.ops {
        if let (Request::Revoke { lease }, false) =
            (&op.req, matches!(op.outcome, Outcome::Failed(_)))
        {
            for key in lease_keys.get(lease).into_iter().flatten() {
                keys.entry(key.clone()).or_default().push(op);
            }
        }
    }
    keys
}

/// Part 1: every key's sub-history is linearizable. Returns violations and
/// the number of keys left undecided.
pub fn check_keys(history: &History) -> (Vec<Violation>, usize) {
    let mut violations = Vec::new();
    let mut undecided = 0;
    for (key, ops) in per_key(history) {
        match check_key(&ops) {
            KeyVerdict::Linearizable => {}
            KeyVerdict::Undecided => undecided += 1,
            KeyVerdict::NotLinearizable => violations.push(Violation::new(
                "linearizable-key",
                format!("key {key:?}: no linearization of its {} calls", ops.len()),
            )),
        }
    }
    (violations, undecided)
}

/// Part 2: the revision checks across keys.
pub fn check_revisions(history: &History) -> Vec<Violation> {
    let mut out = Vec::new();
    let linearizable: Vec<&Op> = history
        .ops
        .iter()
        .filter(|op| op.response().is_some() && !op.is_serializable())
        .collect();

    // Distinct writes, distinct revisions.
    let mut by_rev: HashMap<i64, &Op> = HashMap::new();
    for op in &linearizable {
        if let Some(rev) = op.created_rev() {
            if let Some(other) = by_rev.insert(rev, op) {
                out.push(Violation::new(
                    "unique-write-revision",
                    format!("revision {rev} answered to two writes: {other:?} and {op:?}"),
                ));
            }
        }
    }

    // Real time: sweep calls in invocation order, keeping the highest
    // revision among calls that returned before it.
    let mut by_call = linearizable.clone();
    by_call.sort_by_key(|op| op.call);
    let mut by_ret = linearizable.clone();
    by_ret.sort_by_key(|op| op.ret_or_never());
    let mut returned = 0;
    let mut floor: Option<&Op> = None;
    for op in &by_call {
        while returned < by_ret.len() && by_ret[returned].ret_or_never() < op.call {
            let r = by_ret[returned];
            if floor
                .is_none_or(|f| f.response().map(Response::rev) < r.response().map(Response::rev))
            {
                floor = Some(r);
            }
            returned += 1;
        }
        let (Some(f), Some(resp)) = (floor, op.response()) else {
            continue;
        };
        let before = f.response().map_or(0, Response::rev);
        let rev = resp.rev();
        if rev < before || (op.created_rev().is_some() && rev == before) {
            out.push(Violation::new(
                "revision-real-time",
                format!(
                    "{op:?} answered revision {rev} but {f:?} had returned revision {before} before it was invoked"
                ),
            ));
        }
    }

    // A value's revision is its write's, never above the read's header.
    let mut written_at: HashMap<&str, i64> = HashMap::new();
    for op in &linearizable {
        match (&op.req, op.response()) {
            (Request::Put { value, .. }, Some(Response::Put { rev }))
            | (
                Request::Cas { value, .. },
                Some(Response::Cas {
                    rev,
                    succeeded: true,
                    ..
                }),
            ) => {
                written_at.insert(value, *rev);
            }
            _ => {}
        }
    }
    for op in &history.ops {
        let (rev, kv) = match op.response() {
            Some(Response::Get { rev, kv: Some(kv) }) => (*rev, kv),
            Some(Response::Cas {
                rev,
                succeeded: false,
                kv: Some(kv),
            }) => (*rev, kv),
            _ => continue,
        };
        if kv.mod_rev > rev {
            out.push(Violation::new(
                "read-revision",
                format!("{op:?}: mod_revision above the header revision"),
            ));
        }
        if let Some(&w) = written_at.get(kv.value.as_str()) {
            if w != kv.mod_rev {
                out.push(Violation::new(
                    "read-revision",
                    format!(
                        "{op:?}: value written at revision {w}, read with mod_revision {}",
                        kv.mod_rev
                    ),
                ));
            }
        }
    }
    out
}

/// Serializable reads: per client and member, the header revision never
/// goes backwards; the value read was written by a call invoked before the
/// read returned, for the same key.
pub fn check_serializable(history: &History) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut writers: HashMap<&str, (&str, u64)> = HashMap::new();
    for op in &history.ops {
        if let Request::Put { key, value, .. } | Request::Cas { key, value, .. } = &op.req {
            writers.insert(value, (key, op.call));
        }
    }
    let mut last: HashMap<(usize, usize), (i64, &Op)> = HashMap::new();
    let mut reads: Vec<&Op> = history
        .ops
        .iter()
        .filter(|op| op.is_serializable())
        .collect();
    reads.sort_by_key(|op| op.call);
    for op in reads {
        let Some(Response::Get { rev, kv }) = op.response() else {
            continue;
        };
        if let Some((prev, prev_op)) = last.get(&(op.client, op.member)) {
            if rev < prev {
                out.push(Violation::new(
                    "serializable-monotonic",
                    format!("{op:?} read revision {rev} after {prev_op:?} read {prev}"),
                ));
            }
        }
        last.insert((op.client, op.member), (*rev, op));
        if let Some(kv) = kv {
            let ok = writers
                .get(kv.value.as_str())
                .is_some_and(|(key, call)| *key == kv.key && *call < op.ret_or_never());
            if !ok {
                out.push(Violation::new(
                    "serializable-written",
                    format!("{op:?} read a value no write wrote before"),
                ));
            }
            if kv.mod_rev > *rev {
                out.push(Violation::new(
                    "read-revision",
                    format!("{op:?}: mod_revision above the header revision"),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(call: u64, ret: Option<u64>, req: Request, outcome: Outcome) -> Op {
        Op {
            client: 0,
            member: 0,
            call,
            ret,
            req,
            outcome,
        }
    }

    fn put(call: u64, ret: u64, value: &str, rev: i64) -> Op {
        op(
            call,
            Some(ret),
            Request::Put {
                key: "k".into(),
                value: value.into(),
                lease: 0,
            },
            Outcome::Ok(Response::Put { rev }),
        )
    }

    fn put_unknown(call: u64, value: &str) -> Op {
        op(
            call,
            None,
            Request::Put {
                key: "k".into(),
                value: value.into(),
                lease: 0,
            },
            Outcome::Unknown("timeout".into()),
        )
    }

    fn get(call: u64, ret: u64, seen: Option<(&str, i64)>, rev: i64) -> Op {
        op(
            call,
            Some(ret),
            Request::Get {
                key: "k".into(),
                serializable: false,
            },
            Outcome::Ok(Response::Get {
                rev,
                kv: seen.map(|(v, r)| Kv {
                    key: "k".into(),
                    value: v.into(),
                    mod_rev: r,
                    lease: 0,
                }),
            }),
        )
    }

    fn history(ops: Vec<Op>) -> History {
        History {
            ops,
            ..History::default()
        }
    }

    fn verdict(ops: &[Op]) -> KeyVerdict {
        check_key(&ops.iter().collect::<Vec<_>>())
    }

    #[test]
    fn sequential_put_then_read_is_linearizable() {
        let h = [put(0, 10, "a", 2), get(20, 30, Some(("a", 2)), 2)];
        assert_eq!(verdict(&h), KeyVerdict::Linearizable);
        assert!(check_revisions(&history(h.to_vec())).is_empty());
    }

    #[test]
    fn a_stale_read_after_an_acknowledged_put_is_not() {
        let h = [
            put(0, 10, "a", 2),
            put(20, 30, "b", 3),
            get(40, 50, Some(("a", 2)), 3),
        ];
        assert_eq!(verdict(&h), KeyVerdict::NotLinearizable);
    }

    #[test]
    fn a_read_concurrent_with_a_put_may_see_either_value() {
        let old = [
            put(0, 10, "a", 2),
            put(20, 50, "b", 3),
            get(30, 40, Some(("a", 2)), 2),
        ];
        let new = [
            put(0, 10, "a", 2),
            put(20, 50, "b", 3),
            get(30, 40, Some(("b", 3)), 3),
        ];
        assert_eq!(verdict(&old), KeyVerdict::Linearizable);
        assert_eq!(verdict(&new), KeyVerdict::Linearizable);
    }

    #[test]
    fn reads_may_not_flip_back_to_an_old_value() {
        // Two reads during one long put: new then old is impossible.
        let h = [
            put(0, 10, "a", 2),
            put(20, 100, "b", 3),
            get(30, 40, Some(("b", 3)), 3),
            get(50, 60, Some(("a", 2)), 3),
        ];
        assert_eq!(verdict(&h), KeyVerdict::NotLinearizable);
    }

    #[test]
    fn a_write_of_unknown_outcome_may_take_effect_late_or_never() {
        let late = [
            put(0, 10, "a", 2),
            put_unknown(20, "b"),
            get(30, 40, Some(("a", 2)), 2),
            get(500, 510, Some(("b", 3)), 3),
        ];
        let never = [
            put(0, 10, "a", 2),
            put_unknown(20, "b"),
            get(500, 510, Some(("a", 2)), 2),
        ];
        assert_eq!(verdict(&late), KeyVerdict::Linearizable);
        assert_eq!(verdict(&never), KeyVerdict::Linearizable);
    }

    #[test]
    fn a_write_of_unknown_outcome_never_takes_effect_before_its_invocation() {
        let h = [
            put(0, 10, "a", 2),
            get(20, 30, Some(("b", 3)), 3),
            put_unknown(40, "b"),
        ];
        assert_eq!(verdict(&h), KeyVerdict::NotLinearizable);
    }

    #[test]
    fn a_value_nobody_wrote_is_not_linearizable() {
        let h = [put(0, 10, "a", 2), get(20, 30, Some(("z", 2)), 2)];
        assert_eq!(verdict(&h), KeyVerdict::NotLinearizable);
    }

    #[test]
    fn a_lost_acknowledged_write_is_not_linearizable() {
        let h = [put(0, 10, "a", 2), get(20, 30, None, 2)];
        assert_eq!(verdict(&h), KeyVerdict::NotLinearizable);
    }

    #[test]
    fn delete_counts_must_match_the_state() {
        let del = |call, ret, deleted, rev| {
            op(
                call,
                Some(ret),
                Request::Delete { key: "k".into() },
                Outcome::Ok(Response::Delete { rev, deleted }),
            )
        };
        assert_eq!(
            verdict(&[put(0, 10, "a", 2), del(20, 30, 1, 3)]),
            KeyVerdict::Linearizable
        );
        assert_eq!(
            verdict(&[put(0, 10, "a", 2), del(20, 30, 0, 2)]),
            KeyVerdict::NotLinearizable
        );
        assert_eq!(
            verdict(&[del(0, 10, 0, 1), get(20, 30, None, 1)]),
            KeyVerdict::Linearizable
        );
    }

    #[test]
    fn compare_and_swap_succeeds_exactly_when_the_value_matches() {
        let cas = |call, ret, expect: Option<&str>, value: &str, succeeded, rev| {
            op(
                call,
                Some(ret),
                Request::Cas {
                    key: "k".into(),
                    expect: expect.map(str::to_owned),
                    value: value.into(),
                },
                Outcome::Ok(Response::Cas {
                    rev,
                    succeeded,
                    kv: None,
                }),
            )
        };
        // Two clients swap from "a": only one may win.
        let both_win = [
            put(0, 10, "a", 2),
            cas(20, 30, Some("a"), "b", true, 3),
            cas(40, 50, Some("a"), "c", true, 4),
        ];
        let one_wins = [
            put(0, 10, "a", 2),
            cas(20, 30, Some("a"), "b", true, 3),
            cas(40, 50, Some("b"), "c", true, 4),
            get(60, 70, Some(("c", 4)), 4),
        ];
        assert_eq!(verdict(&both_win), KeyVerdict::NotLinearizable);
        assert_eq!(verdict(&one_wins), KeyVerdict::Linearizable);
        // A create-if-absent on an absent key must succeed.
        assert_eq!(
            verdict(&[cas(0, 10, None, "a", false, 1)]),
            KeyVerdict::NotLinearizable
        );
    }

    #[test]
    fn a_revoke_deletes_the_keys_of_its_lease_only() {
        let leased = op(
            0,
            Some(10),
            Request::Put {
                key: "k".into(),
                value: "a".into(),
                lease: 7,
            },
            Outcome::Ok(Response::Put { rev: 2 }),
        );
        let revoke = |lease| {
            op(
                20,
                Some(30),
                Request::Revoke { lease },
                Outcome::Ok(Response::Revoke { rev: 3 }),
            )
        };
        let gone = get(40, 50, None, 3);
        let h = history(vec![leased.clone(), revoke(7), gone.clone()]);
        assert!(check_keys(&h).0.is_empty());
        let h = history(vec![leased, revoke(8), gone.clone()]);
        assert_eq!(check_keys(&h).0.len(), 1);
    }

    #[test]
    fn writes_may_not_share_a_revision() {
        let mut b = put(20, 30, "b", 2);
        b.req = Request::Put {
            key: "other".into(),
            value: "b".into(),
            lease: 0,
        };
        let v = check_revisions(&history(vec![put(0, 10, "a", 2), b]));
        assert!(
            v.iter().any(|v| v.check == "unique-write-revision"),
            "{v:?}"
        );
    }

    #[test]
    fn revisions_never_go_backwards_in_real_time_across_keys() {
        // A read of another key, invoked after a put returned, reports an
        // older header revision: a stale member answered it.
        let mut read = get(20, 30, None, 1);
        read.req = Request::Get {
            key: "other".into(),
            serializable: false,
        };
        let h = history(vec![put(0, 10, "a", 5), read]);
        assert!(check_keys(&h).0.is_empty(), "each key alone is fine");
        let v = check_revisions(&h);
        assert!(v.iter().any(|v| v.check == "revision-real-time"), "{v:?}");
    }

    #[test]
    fn a_read_must_report_the_revision_its_value_was_written_at() {
        let h = history(vec![put(0, 10, "a", 2), get(20, 30, Some(("a", 3)), 3)]);
        assert!(
            check_revisions(&h)
                .iter()
                .any(|v| v.check == "read-revision")
        );
    }

    #[test]
    fn serializable_reads_may_be_stale_but_not_go_backwards() {
        let sget = |call, ret, seen: Option<(&str, i64)>, rev| {
            let mut g = get(call, ret, seen, rev);
            g.req = Request::Get {
                key: "k".into(),
                serializable: true,
            };
            g
        };
        let stale = history(vec![
            put(0, 10, "a", 2),
            put(20, 30, "b", 3),
            sget(40, 50, Some(("a", 2)), 2),
        ]);
        assert!(check_serializable(&stale).is_empty());
        assert!(
            check_keys(&stale).0.is_empty(),
            "serializable reads are not searched"
        );
        let backwards = history(vec![
            put(0, 10, "a", 2),
            put(20, 30, "b", 3),
            sget(40, 50, Some(("b", 3)), 3),
            sget(60, 70, Some(("a", 2)), 2),
        ]);
        assert!(
            check_serializable(&backwards)
                .iter()
                .any(|v| v.check == "serializable-monotonic")
        );
        let invented = history(vec![sget(0, 10, Some(("zz", 2)), 2)]);
        assert!(
            check_serializable(&invented)
                .iter()
                .any(|v| v.check == "serializable-written")
        );
    }

    #[test]
    fn many_concurrent_unknown_writes_stay_within_the_budget() {
        // Twelve concurrent writes of unknown outcome, then reads revealing
        // two of them: the memo keeps even the failing search small.
        let mut h: Vec<Op> = (0..12).map(|i| put_unknown(i, &format!("v{i}"))).collect();
        h.push(get(100, 110, Some(("v3", 9)), 9));
        h.push(get(120, 130, Some(("v11", 12)), 12));
        h.push(get(140, 150, Some(("v3", 9)), 12));
        assert_eq!(
            verdict(&h),
            KeyVerdict::NotLinearizable,
            "v3 cannot come back"
        );
        h.pop();
        assert_eq!(verdict(&h), KeyVerdict::Linearizable);
    }
}
