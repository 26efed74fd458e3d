//! cairn, the server: an etcd-compatible coordination store.
//!
//! The consensus core is the `cairn-raft` crate, re-exported as [`raft`];
//! [`peer`] translates its messages to
//! and from the wire; [`wal`], [`snap`] and [`raft_storage`] keep its log on
//! disk; [`mvcc`] is the key-value state machine committed entries are
//! applied to; [`config`] resolves etcd's flags. See ARCHITECTURE.md for the
//! codemap.

pub mod auth; // users, roles, permissions and tokens: etcd's auth
pub mod config;
pub mod etcd_error; // etcd's client-facing errors: the one table of gRPC codes and messages
pub mod lease; // leases: TTLs, key attachments, leader-only expiry
pub mod mvcc; // the MVCC key-value store on sled that committed entries are applied to
pub mod peer;
pub use cairn_raft as raft;
pub mod raft_storage; // DiskStorage: raft::Storage over the WAL and snapshot files
pub mod server; // the gRPC services, the raft driver thread and the apply loop
pub mod snap; // raft snapshot files: atomic writes, loaded only as the WAL vouches
pub mod wal; // the segmented, CRC-32C framed write-ahead log
pub mod watch; // the watch hub: synced, unsynced and victim watchers
