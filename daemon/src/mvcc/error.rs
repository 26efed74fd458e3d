//! The MVCC module's error type.
//!
//! Request errors (the client asked for something the store cannot do) are
//! kept apart from fatal ones (the store cannot trust its own state and the
//! node must stop): see [`MvccError::is_fatal`]. Mapping to gRPC status codes
//! is not done here; the server owns the one table that does it. Each
//! variant's doc names the etcd message that table must produce.

use super::backend::BackendError;

#[derive(Debug, thiserror::Error)]
pub enum MvccError {
    /// etcd: "etcdserver: mvcc: required revision has been compacted"
    #[error("required revision has been compacted")]
    Compacted,
    /// etcd: "etcdserver: mvcc: required revision is a future revision"
    #[error("required revision is a future revision")]
    FutureRev,
    /// etcd: "etcdserver: too many operations in txn request"
    #[error("too many operations in txn request")]
    TooManyOps,
    /// etcd: "etcdserver: duplicate key given in txn request"
    #[error("duplicate key given in txn request")]
    DuplicateKey,
    /// etcd: "etcdserver: key is not provided"
    #[error("key is not provided")]
    EmptyKey,
    /// etcd: "etcdserver: request is too large"
    #[error("request is too large")]
    RequestTooLarge,
    /// etcd: "etcdserver: value is provided"
    #[error("value is provided")]
    ValueProvided,
    /// etcd: "etcdserver: lease is provided"
    #[error("lease is provided")]
    LeaseProvided,
    /// etcd: "etcdserver: key not found"
    #[error("key not found")]
    KeyNotFound,
    /// etcd: "etcdserver: requested lease not found"
    #[error("requested lease not found")]
    LeaseNotFound,
    /// etcd: "etcdserver: invalid sort option"
    #[error("invalid sort option")]
    InvalidSortOption,
    /// Fatal: the backend failed to read or write.
    #[error("backend: {0}")]
    Backend(#[from] BackendError),
    /// Fatal: the backend holds bytes this code did not write.
    #[error("corrupt store: {what}")]
    Corrupt { what: &'static str },
    /// etcd: "etcdserver: lease already exists"
    #[error("lease already exists")]
    LeaseExist,
    /// etcd: "etcdserver: too large lease TTL"
    #[error("too large lease TTL")]
    LeaseTtlTooLarge,
}

impl MvccError {
    /// Whether the node must stop rather than answer the client: the store
    /// may now disagree with its own backend or with the other members.
    pub fn is_fatal(&self) -> bool {
        matches!(self, MvccError::Backend(_) | MvccError::Corrupt { .. })
    }
}
