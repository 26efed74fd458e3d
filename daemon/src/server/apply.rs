//! The applier: what one committed request does to the store and the
//! lessor, the same on every member.
//!
//! Owns: the alarm gates etcd's appliers have (NOSPACE refuses what could
//! grow the store, CORRUPT what touches keys or leases), the dispatch of
//! each request kind to the store, and turning store errors into the
//! proposer's answer (request errors) or the member's stop (fatal ones).
//! Must never: look at this member's configuration or clock for a verdict
//! (the lessor's expiry time aside, which only the leader acts on), talk to
//! raft or the network. The raft thread (`node.rs`) decodes entries, calls
//! this in log order under the store lock and answers the proposers.

use std::time::Instant;

use cairn_proto::etcdserverpb::AlarmType;
use cairn_proto::internal::{MemberAttributes, request::Op};
use cairn_proto::mvccpb::Event;

use super::state::Outcome;
use crate::etcd_error::EtcdError;
use crate::lease::Lessor;
use crate::mvcc::{EntryId, MvccError, MvccStore};

/// Applies one committed request to the store (and the lessor). Request
/// errors become the caller's answer; a fatal store error stops the member.
pub(super) fn apply_request(
    store: &mut MvccStore,
    lessor: &mut Lessor,
    op: Option<Op>,
    at: EntryId,
    events: &mut Vec<Event>,
) -> anyhow::Result<Result<Outcome, EtcdError>> {
    let first_event = events.len();
    // While NOSPACE is raised, writes that can grow the store are refused
    // (entry consumed), as etcd's capped applier does; deletes, reads and
    // compactions still go through so that space can be freed.
    if store.has_alarm(AlarmType::Nospace) && grows_the_store(op.as_ref()) {
        store.mark_applied(at)?;
        return Ok(Err(EtcdError::NoSpace));
    }
    // While CORRUPT is raised nothing that touches keys or leases is
    // applied (etcd's corrupt applier): members that disagree must not
    // drift further apart. Alarms still go through, so it can be disarmed.
    if store.has_alarm(AlarmType::Corrupt) && touches_keys_or_leases(op.as_ref()) {
        store.mark_applied(at)?;
        return Ok(Err(EtcdError::Corrupt));
    }
    let result: Result<Outcome, MvccError> = match op {
        Some(Op::Put(r)) => store.put(&r, at, Some(&*lessor)).map(|a| {
            events.extend(a.events);
            Outcome::Put(a.response)
        }),
        Some(Op::DeleteRange(r)) => store.delete_range(&r, at).map(|a| {
            events.extend(a.events);
            Outcome::DeleteRange(a.response)
        }),
        Some(Op::Txn(r)) => store.txn(&r, at, Some(&*lessor)).map(|a| {
            events.extend(a.events);
            Outcome::Txn(a.response)
        }),
        Some(Op::Compaction(r)) => {
            let compacted = if r.physical {
                store.compact(r.revision, at)
            } else {
                store.schedule_compaction(r.revision, at)
            };
            compacted.map(Outcome::Compaction)
        }
        Some(Op::LeaseGrant(r)) => store.lease_grant(r.id, r.ttl, at).map(|resp| {
            // The store accepted it, so the lessor (which mirrors the
            // store) cannot refuse it.
            let _ = lessor.grant(r.id, r.ttl, Instant::now());
            Outcome::LeaseGrant(resp)
        }),
        Some(Op::LeaseRevoke(r)) => {
            let keys = lessor.revoke(r.id).unwrap_or_default();
            store.lease_revoke(r.id, &keys, at).map(|a| {
                events.extend(a.events);
                Outcome::LeaseRevoke(a.response)
            })
        }
        Some(Op::MemberAttributes(attrs)) => {
            apply_member_attributes(store, &attrs, at)?;
            Ok(Outcome::Done)
        }
        Some(Op::LeaseCheckpoint(r)) => {
            let checkpoints: Vec<(i64, i64)> = r
                .checkpoints
                .iter()
                .map(|c| (c.id, c.remaining_ttl))
                .collect();
            store.lease_checkpoint(&checkpoints, at).map(|()| {
                for &(id, remaining) in &checkpoints {
                    lessor.checkpoint(id, remaining);
                }
                Outcome::Done
            })
        }
        Some(Op::Alarm(r)) => store.alarm(&r, at).map(Outcome::Alarm),
        None => {
            store.mark_applied(at)?;
            return Ok(Err(EtcdError::NotCapable));
        }
    };
    lessor.observe(&events[first_event..]);
    match result {
        Ok(outcome) => Ok(Ok(outcome)),
        Err(e) if e.is_fatal() => Err(e.into()),
        Err(e) => Ok(Err(EtcdError::from(&e))),
    }
}

/// The requests etcd's corrupt applier refuses.
fn touches_keys_or_leases(op: Option<&Op>) -> bool {
    matches!(
        op,
        Some(
            Op::Put(_)
                | Op::DeleteRange(_)
                | Op::Txn(_)
                | Op::Compaction(_)
                | Op::LeaseGrant(_)
                | Op::LeaseRevoke(_)
        )
    )
}

/// Whether a request can make the store bigger: puts, lease grants and
/// txns with a write in either branch.
fn grows_the_store(op: Option<&Op>) -> bool {
    match op {
        Some(Op::Put(_) | Op::LeaseGrant(_)) => true,
        Some(Op::Txn(t)) => !crate::mvcc::txn_is_read_only(t),
        _ => false,
    }
}

fn apply_member_attributes(
    store: &mut MvccStore,
    attrs: &MemberAttributes,
    at: EntryId,
) -> anyhow::Result<()> {
    let existing = store
        .members()?
        .into_iter()
        .find(|m| m.id == attrs.member_id);
    match existing {
        Some(mut m) => {
            m.name.clone_from(&attrs.name);
            m.client_ur_ls.clone_from(&attrs.client_urls);
            store.put_member(&m, at)?;
        }
        // A member removed meanwhile: nothing to record.
        None => store.mark_applied(at)?,
    }
    Ok(())
}
