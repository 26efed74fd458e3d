//! Leases: TTLs that keys can be attached to, kept alive by clients and
//! revoked — with every attached key — when they run out.
//!
//! Owns: the in-memory lease table ([`Lessor`]): which leases exist, which
//! keys each holds, and, on the leader only, when each expires; the
//! proposer-side rules for a grant (the minimum TTL, lease id generation,
//! [`LeaseIdGen`]); and the Lease gRPC service ([`LeaseService`]) over the
//! server's [`LeaseApi`]. The durable half (lease records, deleting a
//! revoked lease's keys in one revision) is the MVCC store's, in
//! `mvcc/store/lease.rs`.
//!
//! Must never: read a clock (callers pass `Instant`s), spawn or block on
//! anything in the lessor (it is plain data behind the server's lock), let
//! applied state depend on this member's configuration or clock (the
//! minimum TTL and the lease id are fixed before proposing; expiry only
//! decides *when* the leader proposes a revoke), or answer a renew on a
//! follower (its leases never expire; the leader's clock is the only one
//! that counts).
//!
//! # Two kinds of state
//! - *Applied state* — leases, their TTLs, their keys — changes only from
//!   committed raft entries, in log order, on every member: [`Lessor::grant`],
//!   [`Lessor::revoke`], [`Lessor::observe`] and [`Lessor::rebuild`]. It is a
//!   function of the MVCC store and is rebuilt from it after a restart or a
//!   snapshot restore.
//! - *Leader timing* — expiries — exists only while this member leads:
//!   [`Lessor::promote`] gives every lease a full TTL plus an election
//!   timeout (no lease dies because leadership moved), [`Lessor::renew`]
//!   restarts one, [`Lessor::expired`] names those due for a LeaseRevoke
//!   proposal, [`Lessor::demote`] forgets all of it.
//!
//! # Invariants
//! - A key is attached to at most one lease: the one its current KeyValue
//!   names.
//! - A follower has no expiries and refuses renewals; a leader has an
//!   expiry for every lease.
//! - An expired lease is handed out by [`Lessor::expired`] once, then again
//!   only after the retry interval if its revoke has not been applied by
//!   then (etcd's answer to a revoke proposal lost in an election).

mod id;
mod lessor;
mod service;

#[cfg(test)]
mod tests;

pub use crate::mvcc::store::lease::{MAX_LEASE_TTL, StoredLease};
pub use id::LeaseIdGen;
pub use lessor::{Lessor, LessorConfig, TimeToLive};
pub use service::{LeaseApi, LeaseService};

/// What the lessor refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    /// No lease with that id (or id 0).
    #[error("lease not found")]
    NotFound,
    /// A lease with that id already exists.
    #[error("lease already exists")]
    Exists,
    /// The TTL is above [`MAX_LEASE_TTL`].
    #[error("too large lease TTL")]
    TtlTooLarge,
    /// Renewals and remaining TTLs are the leader's; forward to it.
    #[error("not the leader")]
    NotLeader,
    /// The lease ran out and a revoke for it is on its way: etcd makes the
    /// renewal wait until the revoke is applied (then: not found) or this
    /// member stops leading (then: retry on the new leader).
    #[error("lease expired, revoke pending")]
    Expired,
}
