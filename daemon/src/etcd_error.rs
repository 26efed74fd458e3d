//! The errors etcd's clients can see, and the one table that gives each its
//! gRPC status code and exact message. Clients (etcdctl, clientv3, Kubernetes)
//! match on these strings and codes, so they are facts of the wire protocol:
//! change one and a client somewhere behaves differently.
//!
//! Internal errors (`MvccError`, and the server's own as they arrive) are
//! translated into an [`EtcdError`] here and nowhere else; a gRPC service
//! turns it into a `tonic::Status` with `Status::from`.

use tonic::Code;

use crate::lease::LeaseError;
use crate::mvcc::MvccError;

/// An error as etcd names it on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EtcdError {
    EmptyKey,
    KeyNotFound,
    ValueProvided,
    LeaseProvided,
    TtlZero,
    TooManyOps,
    DuplicateKey,
    InvalidSortOption,
    Compacted,
    FutureRev,
    NoSpace,
    LeaseNotFound,
    LeaseExist,
    LeaseTtlTooLarge,
    MemberExist,
    PeerUrlExist,
    MemberNotEnoughStarted,
    MemberBadUrls,
    MemberNotFound,
    MemberNotLearner,
    LearnerNotReady,
    TooManyLearners,
    RequestTooLarge,
    TooManyRequests,
    NoLeader,
    NotLeader,
    LeaderChanged,
    NotCapable,
    Stopped,
    Timeout,
    TimeoutDueToLeaderFail,
    TimeoutDueToConnectionLost,
    Unhealthy,
    Corrupt,
    NotSupportedForLearner,
    BadLeaderTransferee,
    TimeoutLeaderTransfer,
    RootUserNotExist,
    RootRoleNotExist,
    UserAlreadyExist,
    UserEmpty,
    UserNotFound,
    RoleAlreadyExist,
    RoleNotFound,
    RoleEmpty,
    AuthFailed,
    PermissionNotGiven,
    PermissionDenied,
    RoleNotGranted,
    PermissionNotGranted,
    AuthNotEnabled,
    InvalidAuthToken,
    InvalidAuthMgmt,
    AuthOldRevision,
    NoPasswordUser,
    JwtVerifyOnly,
}

impl EtcdError {
    /// Every variant, for tests and documentation.
    pub const ALL: [EtcdError; 56] = [
        EtcdError::EmptyKey,
        EtcdError::KeyNotFound,
        EtcdError::ValueProvided,
        EtcdError::LeaseProvided,
        EtcdError::TtlZero,
        EtcdError::TooManyOps,
        EtcdError::DuplicateKey,
        EtcdError::InvalidSortOption,
        EtcdError::Compacted,
        EtcdError::FutureRev,
        EtcdError::NoSpace,
        EtcdError::LeaseNotFound,
        EtcdError::LeaseExist,
        EtcdError::LeaseTtlTooLarge,
        EtcdError::MemberExist,
        EtcdError::PeerUrlExist,
        EtcdError::MemberNotEnoughStarted,
        EtcdError::MemberBadUrls,
        EtcdError::MemberNotFound,
        EtcdError::MemberNotLearner,
        EtcdError::LearnerNotReady,
        EtcdError::TooManyLearners,
        EtcdError::RequestTooLarge,
        EtcdError::TooManyRequests,
        EtcdError::NoLeader,
        EtcdError::NotLeader,
        EtcdError::LeaderChanged,
        EtcdError::NotCapable,
        EtcdError::Stopped,
        EtcdError::Timeout,
        EtcdError::TimeoutDueToLeaderFail,
        EtcdError::TimeoutDueToConnectionLost,
        EtcdError::Unhealthy,
        EtcdError::Corrupt,
        EtcdError::NotSupportedForLearner,
        EtcdError::BadLeaderTransferee,
        EtcdError::TimeoutLeaderTransfer,
        EtcdError::RootUserNotExist,
        EtcdError::RootRoleNotExist,
        EtcdError::UserAlreadyExist,
        EtcdError::UserEmpty,
        EtcdError::UserNotFound,
        EtcdError::RoleAlreadyExist,
        EtcdError::RoleNotFound,
        EtcdError::RoleEmpty,
        EtcdError::AuthFailed,
        EtcdError::PermissionNotGiven,
        EtcdError::PermissionDenied,
        EtcdError::RoleNotGranted,
        EtcdError::PermissionNotGranted,
        EtcdError::AuthNotEnabled,
        EtcdError::InvalidAuthToken,
        EtcdError::InvalidAuthMgmt,
        EtcdError::AuthOldRevision,
        EtcdError::NoPasswordUser,
        EtcdError::JwtVerifyOnly,
    ];

    /// The table: etcd 3.5's status code and message for each error.
    pub fn code_and_message(self) -> (Code, &'static str) {
        use EtcdError::*;
        match self {
            EmptyKey => (Code::InvalidArgument, "etcdserver: key is not provided"),
            KeyNotFound => (Code::InvalidArgument, "etcdserver: key not found"),
            ValueProvided => (Code::InvalidArgument, "etcdserver: value is provided"),
            LeaseProvided => (Code::InvalidArgument, "etcdserver: lease is provided"),
            TtlZero => (Code::InvalidArgument, "etcdserver: ttl is 0"),
            TooManyOps => (
                Code::InvalidArgument,
                "etcdserver: too many operations in txn request",
            ),
            DuplicateKey => (
                Code::InvalidArgument,
                "etcdserver: duplicate key given in txn request",
            ),
            InvalidSortOption => (Code::InvalidArgument, "etcdserver: invalid sort option"),
            Compacted => (
                Code::OutOfRange,
                "etcdserver: mvcc: required revision has been compacted",
            ),
            FutureRev => (
                Code::OutOfRange,
                "etcdserver: mvcc: required revision is a future revision",
            ),
            NoSpace => (
                Code::ResourceExhausted,
                "etcdserver: mvcc: database space exceeded",
            ),
            LeaseNotFound => (Code::NotFound, "etcdserver: requested lease not found"),
            LeaseExist => (Code::FailedPrecondition, "etcdserver: lease already exists"),
            LeaseTtlTooLarge => (Code::OutOfRange, "etcdserver: too large lease TTL"),
            MemberExist => (
                Code::FailedPrecondition,
                "etcdserver: member ID already exist",
            ),
            PeerUrlExist => (
                Code::FailedPrecondition,
                "etcdserver: Peer URLs already exists",
            ),
            MemberNotEnoughStarted => (
                Code::FailedPrecondition,
                "etcdserver: re-configuration failed due to not enough started members",
            ),
            MemberBadUrls => (
                Code::InvalidArgument,
                "etcdserver: given member URLs are invalid",
            ),
            MemberNotFound => (Code::NotFound, "etcdserver: member not found"),
            MemberNotLearner => (
                Code::FailedPrecondition,
                "etcdserver: can only promote a learner member",
            ),
            LearnerNotReady => (
                Code::FailedPrecondition,
                "etcdserver: can only promote a learner member which is in sync with leader",
            ),
            TooManyLearners => (
                Code::FailedPrecondition,
                "etcdserver: too many learner members in cluster",
            ),
            RequestTooLarge => (Code::InvalidArgument, "etcdserver: request is too large"),
            TooManyRequests => (Code::ResourceExhausted, "etcdserver: too many requests"),
            NoLeader => (Code::Unavailable, "etcdserver: no leader"),
            NotLeader => (Code::FailedPrecondition, "etcdserver: not leader"),
            LeaderChanged => (Code::Unavailable, "etcdserver: leader changed"),
            NotCapable => (Code::Unavailable, "etcdserver: not capable"),
            Stopped => (Code::Unavailable, "etcdserver: server stopped"),
            Timeout => (Code::Unavailable, "etcdserver: request timed out"),
            TimeoutDueToLeaderFail => (
                Code::Unavailable,
                "etcdserver: request timed out, possibly due to previous leader failure",
            ),
            TimeoutDueToConnectionLost => (
                Code::Unavailable,
                "etcdserver: request timed out, possibly due to connection lost",
            ),
            Unhealthy => (Code::Unavailable, "etcdserver: unhealthy cluster"),
            Corrupt => (Code::DataLoss, "etcdserver: corrupt cluster"),
            NotSupportedForLearner => (
                Code::Unavailable,
                "etcdserver: rpc not supported for learner",
            ),
            BadLeaderTransferee => (
                Code::FailedPrecondition,
                "etcdserver: bad leader transferee",
            ),
            // etcd has no gRPC error for this one: its server falls back to
            // code Unknown with the error's text.
            TimeoutLeaderTransfer => (
                Code::Unknown,
                "etcdserver: request timed out, leader transfer took too long",
            ),
            RootUserNotExist => (
                Code::FailedPrecondition,
                "etcdserver: root user does not exist",
            ),
            RootRoleNotExist => (
                Code::FailedPrecondition,
                "etcdserver: root user does not have root role",
            ),
            UserAlreadyExist => (
                Code::FailedPrecondition,
                "etcdserver: user name already exists",
            ),
            UserEmpty => (Code::InvalidArgument, "etcdserver: user name is empty"),
            UserNotFound => (Code::FailedPrecondition, "etcdserver: user name not found"),
            RoleAlreadyExist => (
                Code::FailedPrecondition,
                "etcdserver: role name already exists",
            ),
            RoleNotFound => (Code::FailedPrecondition, "etcdserver: role name not found"),
            RoleEmpty => (Code::InvalidArgument, "etcdserver: role name is empty"),
            AuthFailed => (
                Code::InvalidArgument,
                "etcdserver: authentication failed, invalid user ID or password",
            ),
            PermissionNotGiven => (Code::InvalidArgument, "etcdserver: permission not given"),
            PermissionDenied => (Code::PermissionDenied, "etcdserver: permission denied"),
            RoleNotGranted => (
                Code::FailedPrecondition,
                "etcdserver: role is not granted to the user",
            ),
            PermissionNotGranted => (
                Code::FailedPrecondition,
                "etcdserver: permission is not granted to the role",
            ),
            AuthNotEnabled => (
                Code::FailedPrecondition,
                "etcdserver: authentication is not enabled",
            ),
            InvalidAuthToken => (Code::Unauthenticated, "etcdserver: invalid auth token"),
            InvalidAuthMgmt => (Code::InvalidArgument, "etcdserver: invalid auth management"),
            // etcd 3.5.1 sends this one unmapped ("auth: revision in
            // header is old", code Unknown); every later release maps it
            // so, and their clients log in again when they see it.
            AuthOldRevision => (
                Code::InvalidArgument,
                "etcdserver: revision of auth store is old",
            ),
            // etcd has no gRPC error for this one: code Unknown, its text.
            NoPasswordUser => (
                Code::Unknown,
                "auth: authentication failed, password was given for no password user",
            ),
            // Also unmapped in etcd: a login on a member whose JWT key is
            // only the public half.
            JwtVerifyOnly => (
                Code::Unknown,
                "auth: token signing attempted with verify-only key",
            ),
        }
    }
}

impl From<EtcdError> for tonic::Status {
    fn from(e: EtcdError) -> tonic::Status {
        let (code, message) = e.code_and_message();
        tonic::Status::new(code, message)
    }
}

impl From<&MvccError> for EtcdError {
    /// A request error maps to etcd's error of the same meaning. A fatal
    /// store error (the member must stop) reaches the client as "server
    /// stopped", which clients treat as a reason to retry on another member.
    fn from(e: &MvccError) -> EtcdError {
        match e {
            MvccError::Compacted => EtcdError::Compacted,
            MvccError::FutureRev => EtcdError::FutureRev,
            MvccError::TooManyOps => EtcdError::TooManyOps,
            MvccError::DuplicateKey => EtcdError::DuplicateKey,
            MvccError::EmptyKey => EtcdError::EmptyKey,
            MvccError::RequestTooLarge => EtcdError::RequestTooLarge,
            MvccError::ValueProvided => EtcdError::ValueProvided,
            MvccError::LeaseProvided => EtcdError::LeaseProvided,
            MvccError::KeyNotFound => EtcdError::KeyNotFound,
            MvccError::LeaseNotFound => EtcdError::LeaseNotFound,
            MvccError::InvalidSortOption => EtcdError::InvalidSortOption,
            MvccError::LeaseExist => EtcdError::LeaseExist,
            MvccError::LeaseTtlTooLarge => EtcdError::LeaseTtlTooLarge,
            MvccError::Backend(_) | MvccError::Corrupt { .. } => EtcdError::Stopped,
        }
    }
}

impl From<LeaseError> for EtcdError {
    /// `Expired` reads as not found: that is what the client sees once the
    /// revoke already on its way is applied.
    fn from(e: LeaseError) -> EtcdError {
        match e {
            LeaseError::NotFound | LeaseError::Expired => EtcdError::LeaseNotFound,
            LeaseError::Exists => EtcdError::LeaseExist,
            LeaseError::TtlTooLarge => EtcdError::LeaseTtlTooLarge,
            LeaseError::NotLeader => EtcdError::NotLeader,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_message_is_etcds_form_and_unique() {
        let mut seen = HashSet::new();
        for e in EtcdError::ALL {
            let (_, msg) = e.code_and_message();
            // etcd sends a few of its auth errors unmapped, in their
            // internal "auth: " form.
            let unmapped = matches!(e, EtcdError::NoPasswordUser | EtcdError::JwtVerifyOnly);
            assert!(
                msg.starts_with("etcdserver: ") || unmapped && msg.starts_with("auth: "),
                "{e:?}: {msg}"
            );
            assert!(seen.insert(msg), "{e:?} repeats {msg}");
        }
    }

    #[test]
    fn store_request_errors_keep_their_meaning_on_the_wire() {
        // The store's own messages are etcd's without the server prefix; the
        // wire message must end with exactly that text.
        for e in [
            MvccError::Compacted,
            MvccError::FutureRev,
            MvccError::TooManyOps,
            MvccError::DuplicateKey,
            MvccError::EmptyKey,
            MvccError::RequestTooLarge,
            MvccError::ValueProvided,
            MvccError::LeaseProvided,
            MvccError::KeyNotFound,
            MvccError::LeaseNotFound,
            MvccError::InvalidSortOption,
            MvccError::LeaseExist,
            MvccError::LeaseTtlTooLarge,
        ] {
            let status = tonic::Status::from(EtcdError::from(&e));
            assert!(
                status.message().ends_with(&e.to_string()),
                "{e:?}: {} vs {e}",
                status.message()
            );
        }
    }

    #[test]
    fn fatal_store_errors_tell_the_client_to_go_elsewhere() {
        let e = MvccError::Corrupt { what: "test" };
        let status = tonic::Status::from(EtcdError::from(&e));
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(status.message(), "etcdserver: server stopped");
    }

    #[test]
    fn the_codes_clients_branch_on() {
        let code = |e: EtcdError| tonic::Status::from(e).code();
        assert_eq!(code(EtcdError::Compacted), Code::OutOfRange);
        assert_eq!(code(EtcdError::LeaseNotFound), Code::NotFound);
        assert_eq!(code(EtcdError::NoLeader), Code::Unavailable);
        assert_eq!(code(EtcdError::NoSpace), Code::ResourceExhausted);
        assert_eq!(code(EtcdError::Corrupt), Code::DataLoss);
    }
}
