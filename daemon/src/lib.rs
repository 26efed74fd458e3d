//! cairn, the server: an etcd-compatible coordination store.
//!
//! The consensus core lives in [`raft`]; storage, the MVCC store and the
//! gRPC services build on it (see ARCHITECTURE.md for the codemap).

pub mod raft;

/// The MVCC key-value store on sled that committed entries are applied to.
pub mod mvcc;
