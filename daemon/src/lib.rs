//! cairn, the server: an etcd-compatible coordination store.
//!
//! The consensus core lives in [`raft`]; [`peer`] translates its messages to
//! and from the wire. Storage, the MVCC store and the gRPC services build on
//! them (see ARCHITECTURE.md for the codemap).

pub mod config;
pub mod peer;
pub mod raft;
