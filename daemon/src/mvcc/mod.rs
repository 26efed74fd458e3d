//! The MVCC key-value store: etcd's data model (revisions, history,
//! compaction, watchable events) on a narrow backend, sled in production.
//!
//! Owns: the key-value state machine that committed raft entries are
//! applied to and that serves Range reads. Must never: talk to raft, the WAL
//! or the network; map its errors to gRPC (the server's one table does); or
//! apply anything that differs between members (configuration-dependent
//! limits are checked before proposing — see [`validate`]).
//!
//! # Layout
//! - [`schema`]: every backend tree and meta key, in one place;
//! - [`revision`]: `(main, sub)` revisions and their byte encoding;
//! - [`backend`]: the [`Backend`] trait, [`SledBackend`], [`MemBackend`] and
//!   their shared conformance suite;
//! - [`key_index`]: user key → generations of revisions, in memory;
//! - `read` (read view): Range and Compare semantics;
//! - `write` (write view): Put, DeleteRange and Txn as one revision each;
//! - [`store`]: [`MvccStore`], tying them together with the consistent
//!   index, the commit policy, compaction and hashes;
//! - [`validate`]: request checks, before proposing and before applying.
//!
//! # Invariants
//! - One request or txn that writes creates exactly one revision; one that
//!   writes nothing creates none.
//! - The `key` tree holds history in revision order; the key index is a
//!   function of it (rebuilt on open, identical to the one kept live).
//! - A raft entry's effects and its index reach the backend in one atomic
//!   batch, so replaying the WAL after a crash is idempotent.
//! - The WAL, not this store, is the source of truth: unflushed writes may
//!   be lost in a crash and are replayed from it.
//!
//! ```
//! use cairn::mvcc::{EntryId, MemBackend, MvccStore, StoreConfig};
//! use cairn_proto::etcdserverpb::{PutRequest, RangeRequest};
//!
//! let mut store = MvccStore::open(Box::new(MemBackend::new()), StoreConfig::default()).unwrap();
//! let put = PutRequest { key: b"k".to_vec(), value: b"v".to_vec(), ..Default::default() };
//! let applied = store.put(&put, EntryId { index: 1, term: 1 }, None).unwrap();
//! assert_eq!(applied.response.header.unwrap().revision, 2);
//! assert_eq!(applied.events.len(), 1);
//!
//! let got = store.range(&RangeRequest { key: b"k".to_vec(), ..Default::default() }).unwrap();
//! assert_eq!(got.kvs[0].value, b"v");
//! assert!(store.is_applied(1));
//! ```

pub mod backend;
mod error;
pub mod key_index;
mod read;
pub mod revision;
pub mod schema;
pub mod store;
pub mod validate;
mod write;

#[cfg(test)]
mod tests;

pub use backend::{
    Backend, BackendError, BackendSize, MemBackend, SledBackend, SledOptions, WriteBatch,
};
pub use error::MvccError;
pub use store::{Applied, EntryId, HashKv, LeaseCheck, MvccStore, StoreConfig};
pub use validate::{
    Limits, check_request_size, txn_is_read_only, validate_delete, validate_put, validate_range,
    validate_txn,
};
