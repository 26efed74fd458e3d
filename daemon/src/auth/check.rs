//! What each request needs, in etcd's terms: the key permissions of a
//! Range, Put, DeleteRange or Txn (every compare and every operation of
//! both branches, nested Txns included), of revoking a lease, and the
//! root role for management requests.
//!
//! These run twice for a write: nothing before proposing, then at apply
//! against the auth state at that point of the log (so a role revoked
//! just before takes effect at once), with the requester the proposing
//! member recorded. Reads run them once, after their read index is
//! applied.

use cairn_proto::etcdserverpb::{
    AlarmRequest, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
    alarm_request, request_op,
};
use cairn_proto::internal::request::Op;

use super::state::{Access, AuthInfo, AuthState};
use crate::etcd_error::EtcdError;

/// The keys a lease has attached, for the checks that revoking or
/// extending it needs.
pub trait LeaseKeys {
    fn keys_of(&self, lease: i64) -> Vec<Vec<u8>>;
}

pub fn range(s: &AuthState, who: &AuthInfo, r: &RangeRequest) -> Result<(), EtcdError> {
    s.check_keys(who, &r.key, &r.range_end, Access::Read)
}

/// A Put writes its key, reads it too when it asks for the previous value,
/// and may attach a lease only if the user could write every key the
/// lease already holds (or it could not revoke it).
pub fn put(
    s: &AuthState,
    who: &AuthInfo,
    r: &PutRequest,
    leases: &dyn LeaseKeys,
) -> Result<(), EtcdError> {
    s.check_keys(who, &r.key, &[], Access::Write)?;
    if r.lease != 0 {
        lease_keys_writable(s, who, r.lease, leases)?;
    }
    if r.prev_kv {
        s.check_keys(who, &r.key, &[], Access::Read)?;
    }
    Ok(())
}

pub fn delete_range(
    s: &AuthState,
    who: &AuthInfo,
    r: &DeleteRangeRequest,
) -> Result<(), EtcdError> {
    s.check_keys(who, &r.key, &r.range_end, Access::Write)?;
    if r.prev_kv {
        s.check_keys(who, &r.key, &r.range_end, Access::Read)?;
    }
    Ok(())
}

/// Every compare reads; every operation in either branch is checked as it
/// would be on its own, whichever branch runs.
pub fn txn(
    s: &AuthState,
    who: &AuthInfo,
    r: &TxnRequest,
    leases: &dyn LeaseKeys,
) -> Result<(), EtcdError> {
    for c in &r.compare {
        s.check_keys(who, &c.key, &c.range_end, Access::Read)?;
    }
    for op in r.success.iter().chain(&r.failure) {
        request_op(s, who, op, leases)?;
    }
    Ok(())
}

fn request_op(
    s: &AuthState,
    who: &AuthInfo,
    op: &RequestOp,
    leases: &dyn LeaseKeys,
) -> Result<(), EtcdError> {
    match &op.request {
        None => Ok(()),
        Some(request_op::Request::RequestRange(r)) => range(s, who, r),
        Some(request_op::Request::RequestPut(r)) => put(s, who, r, leases),
        Some(request_op::Request::RequestDeleteRange(r)) => delete_range(s, who, r),
        Some(request_op::Request::RequestTxn(t)) => txn(s, who, t, leases),
    }
}

/// Revoking a lease deletes its keys: the user must be able to write each.
pub fn lease_keys_writable(
    s: &AuthState,
    who: &AuthInfo,
    lease: i64,
    leases: &dyn LeaseKeys,
) -> Result<(), EtcdError> {
    if !s.enabled() {
        return Ok(());
    }
    for key in leases.keys_of(lease) {
        s.check_keys(who, &key, &[], Access::Write)?;
    }
    Ok(())
}

/// Listing alarms needs a user; raising or clearing one needs the root
/// role (etcd's later 3.5 releases; 3.5.1 checked neither).
pub fn alarm(s: &AuthState, who: &AuthInfo, r: &AlarmRequest) -> Result<(), EtcdError> {
    if !s.enabled() {
        return Ok(());
    }
    if r.action == alarm_request::AlarmAction::Get as i32 {
        if who.user.is_empty() {
            return Err(EtcdError::UserEmpty);
        }
        return Ok(());
    }
    s.check_admin(who)
}

/// The check a committed request passes before it is applied, for the
/// client `who` it was proposed for. Requests only the server proposes
/// (checkpoints, member attributes, logins) are not the client's to check.
pub fn proposal(
    s: &AuthState,
    who: &AuthInfo,
    op: &Op,
    leases: &dyn LeaseKeys,
) -> Result<(), EtcdError> {
    match op {
        Op::Put(r) => put(s, who, r, leases),
        Op::DeleteRange(r) => delete_range(s, who, r),
        Op::Txn(r) => txn(s, who, r, leases),
        Op::LeaseRevoke(r) => lease_keys_writable(s, who, r.id, leases),
        Op::Alarm(r) => alarm(s, who, r),
        Op::Compaction(_)
        | Op::LeaseGrant(_)
        | Op::LeaseCheckpoint(_)
        | Op::MemberAttributes(_)
        | Op::Authenticate(_) => Ok(()),
        Op::AuthEnable(_)
        | Op::AuthDisable(_)
        | Op::UserAdd(_)
        | Op::UserDelete(_)
        | Op::UserChangePassword(_)
        | Op::UserGrantRole(_)
        | Op::UserRevokeRole(_)
        | Op::RoleAdd(_)
        | Op::RoleDelete(_)
        | Op::RoleGrantPermission(_)
        | Op::RoleRevokePermission(_) => s.check_admin(who),
    }
}
