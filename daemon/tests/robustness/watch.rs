//! Checks on watch streams, on members' revisions and on the end state,
//! and the use of watches to settle writes of unknown outcome.
//!
//! Every watch of the workload covers the whole keyspace, and in etcd (and
//! cairn) every new revision comes from a write with at least one event, so
//! a watch must deliver *every* revision from its start revision up to the
//! last it vouched for (its last event, or a progress notification), in
//! order, each once. All watches must agree on what each revision holds,
//! and that must agree with the key-value calls: an acknowledged write at
//! revision r is the event at r; an event's value was written by a call on
//! the same key.
//!
//! `prev_kv` is checked against the previous event on the same key, taken
//! from the same watch or, when the run's watches together cover every
//! revision from 1, from all of them. A compaction may remove the previous
//! value before a lagging watch delivers the event (etcd then sends no
//! `prev_kv`, as the read of revision − 1 fails), so an event at or below
//! one past a requested compaction may lack it; a wrong one is never
//! allowed.

use std::collections::{BTreeMap, HashMap};

use super::history::{Event, History, Kv, Outcome, Request, Response};
use super::linearize::Violation;

/// Every event any watch delivered, by revision then key.
pub type Log = BTreeMap<i64, BTreeMap<String, Event>>;

/// Per-watch order and completeness, and agreement between watches.
/// Returns the merged log too.
pub fn check_watches(history: &History) -> (Log, Vec<Violation>) {
    let mut out = Vec::new();
    let mut log: Log = BTreeMap::new();
    for (w_i, w) in history.watches.iter().enumerate() {
        let mut last: Option<(i64, &str)> = None;
        let mut expect_rev = w.start_rev.max(2);
        for e in &w.events {
            let at = (e.rev, e.kv.key.as_str());
            if last.is_some_and(|l| l >= at) {
                out.push(Violation::new(
                    "watch-order",
                    format!("watch {w_i}: event {e:?} after revision/key {last:?}"),
                ));
            }
            if last.is_none_or(|l| l.0 != e.rev) {
                if e.rev != expect_rev {
                    out.push(Violation::new(
                        "watch-gap",
                        format!(
                            "watch {w_i} (start {}): revision {} follows {}, expected {expect_rev}",
                            w.start_rev,
                            e.rev,
                            expect_rev - 1
                        ),
                    ));
                }
                expect_rev = e.rev + 1;
            }
            last = Some(at);
            if e.put && e.kv.mod_rev != e.rev {
                out.push(Violation::new(
                    "watch-event",
                    format!(
                        "watch {w_i}: PUT at {} with mod_revision {}",
                        e.rev, e.kv.mod_rev
                    ),
                ));
            }
            let slot = log.entry(e.rev).or_default();
            match slot.get(&e.kv.key) {
                Some(other) if !same_event(other, e) => out.push(Violation::new(
                    "watch-agreement",
                    format!("watch {w_i}: {e:?}; another watch saw {other:?}"),
                )),
                Some(_) => {}
                None => {
                    slot.insert(e.kv.key.clone(), e.clone());
                }
            }
        }
        let last_event = w.events.last().map_or(0, |e| e.rev);
        if w.last_rev > last_event && w.last_rev >= expect_rev {
            out.push(Violation::new(
                "watch-gap",
                format!(
                    "watch {w_i}: vouched for revision {} but its events stop before {expect_rev}",
                    w.last_rev
                ),
            ));
        }
    }
    // Watches that cover a revision must all hold every key of it.
    for (w_i, w) in history.watches.iter().enumerate() {
        let Some(end) = w.events.last().map(|e| e.rev.max(w.last_rev)) else {
            continue;
        };
        let mine: std::collections::HashSet<(i64, &str)> = w
            .events
            .iter()
            .map(|e| (e.rev, e.kv.key.as_str()))
            .collect();
        for (rev, events) in log.range(w.start_rev..=end) {
            for key in events.keys() {
                if !mine.contains(&(*rev, key.as_str())) {
                    out.push(Violation::new(
                        "watch-gap",
                        format!("watch {w_i} missed key {key:?} at revision {rev}"),
                    ));
                }
            }
        }
    }
    (log, out)
}

fn same_event(a: &Event, b: &Event) -> bool {
    a.rev == b.rev && a.put == b.put && (!a.put || a.kv == b.kv)
}

/// The highest revision r such that the watches together delivered every
/// revision in 2..=r (0 if none starts at or below 2).
pub fn covered_from_start(history: &History) -> i64 {
    let mut spans: Vec<(i64, i64)> = history
        .watches
        .iter()
        .filter_map(|w| {
            let end = w.events.last().map_or(0, |e| e.rev).max(w.last_rev);
            (end >= w.start_rev).then_some((w.start_rev.max(2), end))
        })
        .collect();
    spans.sort();
    let mut reach = 1;
    for (start, end) in spans {
        if start > reach + 1 {
            break;
        }
        reach = reach.max(end);
    }
    if reach == 1 { 0 } else { reach }
}

/// Events against the key-value calls, and `prev_kv`.
pub fn check_events_against_calls(history: &History, log: &Log) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut writes: HashMap<&str, (&str, i64, Option<i64>)> = HashMap::new();
    for op in &history.ops {
        let (key, value, lease) = match &op.req {
            Request::Put { key, value, lease } => (key, value, *lease),
            Request::Cas { key, value, .. } => (key, value, 0),
            _ => continue,
        };
        let rev = match op.response() {
            Some(Response::Put { rev }) => Some(*rev),
            Some(Response::Cas {
                rev,
                succeeded: true,
                ..
            }) => Some(*rev),
            _ => None,
        };
        writes.insert(value, (key, lease, rev));
    }
    for events in log.values() {
        for e in events.values().filter(|e| e.put) {
            match writes.get(e.kv.value.as_str()) {
                None => out.push(Violation::new(
                    "watch-kv",
                    format!("{e:?}: no call wrote this value"),
                )),
                Some((key, lease, rev)) => {
                    if *key != e.kv.key || *lease != e.kv.lease || rev.is_some_and(|r| r != e.rev) {
                        out.push(Violation::new(
                            "watch-kv",
                            format!("{e:?}: written as key {key:?} lease {lease} revision {rev:?}"),
                        ));
                    }
                }
            }
        }
    }
    // Acknowledged writes within the log's span are in it.
    let full = covered_from_start(history);
    for op in &history.ops {
        let Some(rev) = op.created_rev() else {
            continue;
        };
        if rev > full {
            continue;
        }
        let key = op.req.key().unwrap_or_default();
        let found = log.get(&rev).and_then(|events| events.get(key));
        let right = match (&op.req, found) {
            (Request::Put { value, .. } | Request::Cas { value, .. }, Some(e)) => {
                e.put && e.kv.value == *value
            }
            (Request::Delete { .. }, Some(e)) => !e.put,
            _ => false,
        };
        if !right {
            out.push(Violation::new(
                "watch-kv",
                format!("acknowledged {op:?} is not the event at revision {rev}: {found:?}"),
            ));
        }
    }
    // prev_kv: the previous event on the key, from the same watch or from
    // the merged log where it covers everything before.
    let compacted = history
        .ops
        .iter()
        .filter_map(|op| match (&op.req, &op.outcome) {
            (Request::Compact { .. }, Outcome::Failed(_)) => None,
            (Request::Compact { revision }, _) => Some(*revision),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    for (w_i, w) in history.watches.iter().enumerate() {
        let mut latest: HashMap<&str, &Event> = HashMap::new();
        for e in &w.events {
            let before = latest.get(e.kv.key.as_str()).copied().or_else(|| {
                (e.rev <= full + 1)
                    .then(|| {
                        log.range(..e.rev)
                            .rev()
                            .find_map(|(_, events)| events.get(&e.kv.key))
                    })
                    .flatten()
            });
            let known = latest.contains_key(e.kv.key.as_str()) || e.rev <= full + 1;
            if known {
                let expected: Option<&Kv> = before.filter(|b| b.put).map(|b| &b.kv);
                let compacted_away = e.prev.is_none() && e.rev <= compacted + 1;
                if e.prev.as_ref() != expected && !compacted_away {
                    out.push(Violation::new(
                        "watch-prev-kv",
                        format!("watch {w_i}: {e:?}, expected prev_kv {expected:?}"),
                    ));
                }
            }
            latest.insert(&e.kv.key, e);
        }
    }
    out
}

/// Settles writes of unknown outcome from what the watches saw, so the
/// search need not place them blindly (etcd's robustness tests patch their
/// histories the same way):
///
/// * a put or swap whose value a watch delivered at revision r took effect
///   there: it becomes answered with revision r, returning no later than
///   the first call whose header showed a revision ≥ r (that member had
///   applied it by then);
/// * one no watch saw, when the watches covered every revision up to the
///   end, never took effect: it becomes failed.
///
/// Deletes and revokes carry no value to recognize and stay unknown.
pub fn settle_unknown_writes(history: &mut History, log: &Log, final_rev: i64) {
    let complete = covered_from_start(history) >= final_rev;
    let seen: HashMap<&str, i64> = log
        .iter()
        .flat_map(|(rev, events)| events.values().map(move |e| (e, *rev)))
        .filter(|(e, _)| e.put)
        .map(|(e, rev)| (e.kv.value.as_str(), rev))
        .collect();
    // The earliest return among calls whose header revision is ≥ r.
    let mut answered: Vec<(i64, u64)> = history
        .ops
        .iter()
        .filter_map(|op| Some((op.response()?.rev(), op.ret?)))
        .collect();
    answered.sort();
    let mut earliest_from = vec![u64::MAX; answered.len() + 1];
    for i in (0..answered.len()).rev() {
        earliest_from[i] = earliest_from[i + 1].min(answered[i].1);
    }
    let applied_by = |rev: i64| {
        let i = answered.partition_point(|(r, _)| *r < rev);
        Some(earliest_from[i]).filter(|&t| t != u64::MAX)
    };
    let mut settled = Vec::new();
    for (i, op) in history.ops.iter().enumerate() {
        let (Request::Put { value, .. } | Request::Cas { value, .. }, Outcome::Unknown(_)) =
            (&op.req, &op.outcome)
        else {
            continue;
        };
        match seen.get(value.as_str()) {
            Some(&rev) => {
                let outcome = match op.req {
                    Request::Put { .. } => Response::Put { rev },
                    _ => Response::Cas {
                        rev,
                        succeeded: true,
                        kv: None,
                    },
                };
                let ret = applied_by(rev).map(|t| t.max(op.call));
                settled.push((i, Outcome::Ok(outcome), ret));
            }
            None if complete => settled.push((
                i,
                Outcome::Failed("unknown outcome; no watch ever saw it".into()),
                op.ret,
            )),
            None => {}
        }
    }
    for (i, outcome, ret) in settled {
        history.ops[i].outcome = outcome;
        history.ops[i].ret = ret;
    }
}

/// End of run: every member at the same revision has the same HashKV; no
/// member's revision went backwards; every acknowledged write is still
/// there or was overwritten or deleted by a later revision.
pub fn check_final(
    history: &History,
    final_kvs: &BTreeMap<String, Option<Kv>>,
    log: &Log,
) -> Vec<Violation> {
    let mut out = Vec::new();
    if let Some(first) = history.final_hashes.first() {
        for h in &history.final_hashes {
            if (h.1, h.2) != (first.1, first.2) {
                out.push(Violation::new(
                    "hash-kv",
                    format!(
                        "member {} has HashKV {:08x} at revision {}; member {} has {:08x} at {}",
                        h.0, h.2, h.1, first.0, first.2, first.1
                    ),
                ));
            }
        }
    }
    let mut last: HashMap<usize, (u64, i64)> = HashMap::new();
    let mut samples = history.samples.clone();
    samples.sort_by_key(|s| s.at);
    for s in samples {
        if let Some((at, rev)) = last.get(&s.member) {
            if s.rev < *rev {
                out.push(Violation::new(
                    "member-revision",
                    format!(
                        "member {} at {} ns: revision {} after {rev} at {at} ns",
                        s.member, s.at, s.rev
                    ),
                ));
            }
        }
        last.insert(s.member, (s.at, s.rev));
    }
    let full = covered_from_start(history);
    for op in &history.ops {
        let Some(rev) = op.created_rev() else {
            continue;
        };
        let (Request::Put { key, .. } | Request::Cas { key, .. }) = &op.req else {
            continue;
        };
        let Some(now) = final_kvs.get(key) else {
            continue;
        };
        let lost = match now {
            Some(kv) => kv.mod_rev < rev,
            None => {
                let deleted_later = log
                    .range(rev + 1..)
                    .any(|(_, events)| events.get(key).is_some_and(|e| !e.put));
                full >= rev && !deleted_later
            }
        };
        if lost {
            out.push(Violation::new(
                "acknowledged-write-lost",
                format!("{op:?}; at the end the key holds {now:?}"),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::history::{Op, RevisionSample, Watch};
    use super::*;

    fn kv(key: &str, value: &str, rev: i64) -> Kv {
        Kv {
            key: key.into(),
            value: value.into(),
            mod_rev: rev,
            lease: 0,
        }
    }

    fn put_event(key: &str, value: &str, rev: i64, prev: Option<Kv>) -> Event {
        Event {
            rev,
            put: true,
            kv: kv(key, value, rev),
            prev,
        }
    }

    fn watch(start_rev: i64, events: Vec<Event>) -> Watch {
        let last_rev = events.last().map_or(0, |e| e.rev);
        Watch {
            client: 0,
            member: 0,
            start_rev,
            events,
            last_rev,
            error: None,
        }
    }

    fn put(value: &str, key: &str, rev: i64) -> Op {
        Op {
            client: 0,
            member: 0,
            call: rev as u64 * 10,
            ret: Some(rev as u64 * 10 + 5),
            req: Request::Put {
                key: key.into(),
                value: value.into(),
                lease: 0,
            },
            outcome: Outcome::Ok(Response::Put { rev }),
        }
    }

    fn three_puts() -> Vec<Event> {
        vec![
            put_event("a", "1", 2, None),
            put_event("b", "2", 3, None),
            put_event("a", "3", 4, Some(kv("a", "1", 2))),
        ]
    }

    fn history(watches: Vec<Watch>) -> History {
        History {
            ops: vec![put("1", "a", 2), put("2", "b", 3), put("3", "a", 4)],
            watches,
            ..History::default()
        }
    }

    fn all_checks(h: &History) -> Vec<Violation> {
        let (log, mut v) = check_watches(h);
        v.extend(check_events_against_calls(h, &log));
        v
    }

    #[test]
    fn complete_ordered_watches_pass() {
        let h = history(vec![
            watch(1, three_puts()),
            watch(3, three_puts()[1..].to_vec()),
        ]);
        assert_eq!(all_checks(&h), vec![]);
        assert_eq!(covered_from_start(&h), 4);
    }

    #[test]
    fn a_skipped_revision_is_a_gap() {
        let mut events = three_puts();
        events.remove(1);
        let v = all_checks(&history(vec![watch(1, events)]));
        assert!(v.iter().any(|v| v.check == "watch-gap"), "{v:?}");
    }

    #[test]
    fn a_watch_starting_late_must_begin_at_its_start_revision() {
        let v = all_checks(&history(vec![watch(2, three_puts()[1..].to_vec())]));
        assert!(v.iter().any(|v| v.check == "watch-gap"), "{v:?}");
    }

    #[test]
    fn a_duplicate_or_reordered_event_is_caught() {
        let mut dup = three_puts();
        dup.push(dup[2].clone());
        let v = all_checks(&history(vec![watch(1, dup)]));
        assert!(v.iter().any(|v| v.check == "watch-order"), "{v:?}");
        let mut swapped = three_puts();
        swapped.swap(0, 1);
        let v = all_checks(&history(vec![watch(1, swapped)]));
        assert!(v.iter().any(|v| v.check == "watch-order"), "{v:?}");
    }

    #[test]
    fn a_wrong_prev_kv_is_caught() {
        let mut events = three_puts();
        events[2].prev = None;
        let v = all_checks(&history(vec![watch(1, events)]));
        assert!(v.iter().any(|v| v.check == "watch-prev-kv"), "{v:?}");
        // From another watch's history: this one starts at 4 and has never
        // seen key a, but the first watch covers revisions 2 and 3.
        let mut late = three_puts()[2..].to_vec();
        late[0].prev = Some(kv("a", "2", 3));
        let v = all_checks(&history(vec![watch(1, three_puts()), watch(4, late)]));
        assert!(v.iter().any(|v| v.check == "watch-prev-kv"), "{v:?}");
    }

    #[test]
    fn prev_kv_may_be_missing_only_where_a_compaction_removed_it() {
        let mut events = three_puts();
        events[2].prev = None;
        let mut h = history(vec![watch(1, events)]);
        h.ops.push(Op {
            client: 1,
            member: 0,
            call: 1,
            ret: Some(2),
            req: Request::Compact { revision: 3 },
            outcome: Outcome::Ok(Response::Compact { rev: 4 }),
        });
        assert_eq!(all_checks(&h), vec![]);
        // A wrong previous value is wrong whatever was compacted.
        h.watches[0].events[2].prev = Some(kv("a", "2", 3));
        let v = all_checks(&h);
        assert!(v.iter().any(|v| v.check == "watch-prev-kv"), "{v:?}");
    }

    #[test]
    fn watches_disagreeing_on_a_revision_are_caught() {
        let mut other = three_puts();
        other[1] = put_event("b", "3", 3, None);
        let v = all_checks(&history(vec![watch(1, three_puts()), watch(1, other)]));
        assert!(v.iter().any(|v| v.check == "watch-agreement"), "{v:?}");
    }

    #[test]
    fn an_acknowledged_write_missing_from_a_complete_log_is_caught() {
        let mut h = history(vec![watch(1, three_puts())]);
        h.ops.push(put("4", "c", 5));
        h.watches[0].last_rev = 5;
        let v = all_checks(&h);
        assert!(v.iter().any(|v| v.check == "watch-gap"), "{v:?}");
        assert!(v.iter().any(|v| v.check == "watch-kv"), "{v:?}");
    }

    #[test]
    fn unseen_unknown_writes_are_settled_as_failed_only_with_full_coverage() {
        let mut h = history(vec![watch(1, three_puts())]);
        let mut unknown = put("never", "a", 9);
        unknown.ret = None;
        unknown.outcome = Outcome::Unknown("timeout".into());
        h.ops.push(unknown);
        let (log, _) = check_watches(&h);
        let mut partial = h.clone();
        settle_unknown_writes(&mut partial, &log, 5);
        assert!(matches!(partial.ops[3].outcome, Outcome::Unknown(_)));
        settle_unknown_writes(&mut h, &log, 4);
        assert!(matches!(h.ops[3].outcome, Outcome::Failed(_)));
    }

    #[test]
    fn unknown_writes_a_watch_saw_take_its_revision_and_a_return_bound() {
        let mut h = history(vec![watch(1, three_puts())]);
        // The put at revision 3 timed out; a later call showed revision 4.
        h.ops[1].ret = None;
        h.ops[1].outcome = Outcome::Unknown("timeout".into());
        let (log, _) = check_watches(&h);
        settle_unknown_writes(&mut h, &log, 4);
        assert_eq!(h.ops[1].outcome, Outcome::Ok(Response::Put { rev: 3 }));
        assert_eq!(
            h.ops[1].ret,
            Some(45),
            "the put answered at revision 4 returned at 45"
        );
    }

    #[test]
    fn final_state_checks() {
        let mut h = history(vec![watch(1, three_puts())]);
        h.final_hashes = vec![(0, 4, 0xabc), (1, 4, 0xabc), (2, 4, 0xdef)];
        h.samples = vec![
            RevisionSample {
                member: 1,
                at: 10,
                rev: 4,
            },
            RevisionSample {
                member: 1,
                at: 20,
                rev: 3,
            },
        ];
        let (log, _) = check_watches(&h);
        let mut finals = BTreeMap::new();
        finals.insert("a".to_owned(), Some(kv("a", "1", 2)));
        finals.insert("b".to_owned(), Some(kv("b", "2", 3)));
        let v = check_final(&h, &finals, &log);
        let names: Vec<&str> = v.iter().map(|v| v.check).collect();
        assert_eq!(
            names,
            ["hash-kv", "member-revision", "acknowledged-write-lost"],
            "{v:?}"
        );
        finals.insert("a".to_owned(), Some(kv("a", "3", 4)));
        h.final_hashes.pop();
        h.samples.pop();
        assert_eq!(check_final(&h, &finals, &log), vec![]);
    }
}
