//! Authentication and role-based access control, as etcd 3.5 has them.
//!
//! Owns: the auth state (users, roles, key-range permissions, the switch
//! and the auth revision) and what management requests do to it
//! ([`state`]); which permissions each request needs ([`check`]) and how
//! key ranges are matched ([`perms`]); simple tokens ([`tokens`]);
//! password hashes ([`password`]). Must never: do I/O beyond the blocking
//! pool for bcrypt, talk to raft (the server's Auth service and the apply
//! loop drive it), or log a password or token.
//!
//! The auth state lives in the MVCC store's auth trees (so snapshots and
//! restarts carry it) and changes only by applying committed entries; the
//! server publishes each new version to the request handlers.

pub mod check;
pub mod jwt;
pub mod password;
pub mod perms;
pub mod state;
pub mod tokens;

pub use state::{Access, AuthInfo, AuthState, ROOT, Record};
