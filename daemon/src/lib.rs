//! cairn, the server: an etcd-compatible coordination store.
//!
//! The consensus core lives in [`raft`]; storage, the MVCC store and the
//! gRPC services build on it (see ARCHITECTURE.md for the codemap).

pub mod raft;
pub mod snap;
pub mod wal; // the segmented, CRC-32C framed write-ahead log // raft snapshot files: atomic writes, WAL-vouched loading, purging
