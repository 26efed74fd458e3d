//! cairn, the server: an etcd-compatible coordination store.
//!
//! The consensus core lives in [`raft`]; [`peer`] translates its messages to
//! and from the wire. Storage, the MVCC store and the gRPC services build on
//! them (see ARCHITECTURE.md for the codemap).

pub mod config;
pub mod peer;
pub mod raft;
pub mod raft_storage; // DiskStorage: raft::Storage over the WAL and snapshot files
pub mod snap; // raft snapshot files: atomic writes, loaded only as the WAL vouches
pub mod wal; // the segmented, CRC-32C framed write-ahead log
