//! The applier: what one committed request does to the store and the
//! lessor, the same on every member.
//!
//! Owns: the alarm gates etcd's appliers have (NOSPACE refuses what could
//! grow the store, CORRUPT what touches keys or leases), the permission
//! check of a client's request against the auth state at its place in the
//! log (etcd's auth applier), the dispatch of
//! each request kind to the store, and turning store errors into the
//! proposer's answer (request errors) or the member's stop (fatal ones).
//! Must never: look at this member's configuration or clock for a verdict
//! (the lessor's expiry time aside, which only the leader acts on), talk to
//! raft or the network. The raft thread (`node.rs`) decodes entries, calls
//! this in log order under the store lock and answers the proposers.

use std::time::Instant;

use cairn_proto::etcdserverpb::{
    AlarmType, AuthDisableResponse, AuthEnableResponse, AuthRoleAddResponse,
    AuthRoleDeleteResponse, AuthRoleGrantPermissionResponse, AuthRoleRevokePermissionResponse,
    AuthUserAddResponse, AuthUserChangePasswordResponse, AuthUserDeleteResponse,
    AuthUserGrantRoleResponse, AuthUserRevokeRoleResponse, AuthenticateResponse,
};
use cairn_proto::internal::{MemberAttributes, Request, request::Op};
use cairn_proto::mvccpb::Event;

use super::state::{AuthOutcome, Outcome};
use crate::auth::tokens::{self, TokenProvider};
use crate::auth::{AuthInfo, AuthState, Record, check};
use crate::etcd_error::EtcdError;
use crate::lease::Lessor;
use crate::mvcc::{EntryId, MvccError, MvccStore};

impl check::LeaseKeys for Lessor {
    fn keys_of(&self, lease: i64) -> Vec<Vec<u8>> {
        self.keys(lease).unwrap_or_default()
    }
}

/// What applying needs besides the request: the store, the lessor, and
/// this member's simple tokens (logins register theirs on every member).
pub(super) struct Appliers<'a> {
    pub store: &'a mut MvccStore,
    pub lessor: &'a mut Lessor,
    pub tokens: &'a TokenProvider,
}

/// Applies one committed request to the store (and the lessor). Request
/// errors become the caller's answer; a fatal store error stops the member.
pub(super) fn apply_request(
    a: Appliers<'_>,
    req: Request,
    at: EntryId,
    events: &mut Vec<Event>,
) -> anyhow::Result<Result<Outcome, EtcdError>> {
    let Appliers {
        store,
        lessor,
        tokens,
    } = a;
    let op = req.op;
    // A client's request passes etcd's permission checks as of this point
    // in the log, whatever the proposing member thought: a role revoked
    // or credentials outdated meanwhile refuse it here, on every member
    // alike. The server's own requests carry no requester.
    if let (Some(who), Some(op)) = (&req.requester, op.as_ref()) {
        let who = AuthInfo::user(who.user.clone(), who.auth_revision);
        if let Err(refused) = check::proposal(store.auth(), &who, op, &*lessor) {
            store.mark_applied(at)?;
            return Ok(Err(refused));
        }
    }
    if let Some(op) = op.as_ref().filter(|op| is_auth_change(op)) {
        return apply_auth(store, tokens, op, at);
    }
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
        Some(_) => unreachable!("auth changes are applied above"),
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

fn is_auth_change(op: &Op) -> bool {
    matches!(
        op,
        Op::AuthEnable(_)
            | Op::AuthDisable(_)
            | Op::Authenticate(_)
            | Op::UserAdd(_)
            | Op::UserDelete(_)
            | Op::UserChangePassword(_)
            | Op::UserGrantRole(_)
            | Op::UserRevokeRole(_)
            | Op::RoleAdd(_)
            | Op::RoleDelete(_)
            | Op::RoleGrantPermission(_)
            | Op::RoleRevokePermission(_)
    )
}

/// Applies an auth change (or a login) to the store's auth state, and
/// keeps this member's simple tokens in step: a login registers its token,
/// deleting a user or changing its password drops that user's tokens,
/// disabling auth drops them all.
fn apply_auth(
    store: &mut MvccStore,
    tokens: &TokenProvider,
    op: &Op,
    at: EntryId,
) -> anyhow::Result<Result<Outcome, EtcdError>> {
    let mut reply = None;
    let changed = store.apply_auth(at, |s: &mut AuthState| -> Result<Vec<Record>, EtcdError> {
        let (records, outcome) = match op {
            Op::AuthEnable(_) => (
                s.enable()?,
                AuthOutcome::Enable(AuthEnableResponse::default()),
            ),
            Op::AuthDisable(_) => {
                tokens.clear();
                (
                    s.disable(),
                    AuthOutcome::Disable(AuthDisableResponse::default()),
                )
            }
            Op::Authenticate(login) => {
                // The password was checked before proposing; only whether
                // the user can still log in is decided here.
                s.check_login(&login.name).map_err(|_| match s.enabled() {
                    true => EtcdError::AuthFailed,
                    false => EtcdError::AuthNotEnabled,
                })?;
                let token = tokens::token(&login.token_prefix, at.index);
                tokens.assign(token.clone(), login.name.clone(), Instant::now());
                let resp = AuthenticateResponse {
                    header: None,
                    token,
                };
                (Vec::new(), AuthOutcome::Authenticate(resp, s.revision()))
            }
            Op::UserAdd(r) => (
                s.user_add(r)?,
                AuthOutcome::UserAdd(AuthUserAddResponse::default()),
            ),
            Op::UserDelete(r) => {
                let records = s.user_delete(r)?;
                tokens.invalidate_user(&r.name);
                (
                    records,
                    AuthOutcome::UserDelete(AuthUserDeleteResponse::default()),
                )
            }
            Op::UserChangePassword(r) => {
                let records = s.user_change_password(r)?;
                tokens.invalidate_user(&r.name);
                let resp = AuthUserChangePasswordResponse::default();
                (records, AuthOutcome::UserChangePassword(resp))
            }
            Op::UserGrantRole(r) => {
                let resp = AuthUserGrantRoleResponse::default();
                (s.user_grant_role(r)?, AuthOutcome::UserGrantRole(resp))
            }
            Op::UserRevokeRole(r) => {
                let resp = AuthUserRevokeRoleResponse::default();
                (s.user_revoke_role(r)?, AuthOutcome::UserRevokeRole(resp))
            }
            Op::RoleAdd(r) => (
                s.role_add(r)?,
                AuthOutcome::RoleAdd(AuthRoleAddResponse::default()),
            ),
            Op::RoleDelete(r) => {
                let resp = AuthRoleDeleteResponse::default();
                (s.role_delete(r)?, AuthOutcome::RoleDelete(resp))
            }
            Op::RoleGrantPermission(r) => {
                let resp = AuthRoleGrantPermissionResponse::default();
                (
                    s.role_grant_permission(r)?,
                    AuthOutcome::RoleGrantPermission(resp),
                )
            }
            Op::RoleRevokePermission(r) => {
                let resp = AuthRoleRevokePermissionResponse::default();
                (
                    s.role_revoke_permission(r)?,
                    AuthOutcome::RoleRevokePermission(resp),
                )
            }
            other => unreachable!("not an auth change: {other:?}"),
        };
        reply = Some(outcome);
        Ok(records)
    })?;
    Ok(changed.map(|()| Outcome::Auth(reply.expect("set when the change succeeds"))))
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
