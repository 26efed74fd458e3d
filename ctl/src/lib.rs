//! The cairn client library, used by `cairnctl` and `cairntop`: a client of
//! etcd's v3 gRPC API that balances unary calls over several endpoints,
//! retries the calls that are safe to repeat on another endpoint, and keeps
//! watches and lease keep-alives alive across the loss of a member. It
//! speaks to cairn and to etcd alike.
//!
//! [`Client`] is the entry point; [`ClientConfig`] says how to reach the
//! cluster. Every call returns a typed [`Error`]; nothing here prints.
//!
//! [`cli`] is the `cairnctl` command line itself (the binary is glue around
//! it). It lives in the library so that tools can read its clap
//! definition: the man pages and shell completions are generated from it.

// `cli` names this crate `cairnctl::` as the binary does.
extern crate self as cairnctl;

pub mod cli;
pub mod client;
pub mod snapshot_file;

pub use client::config::{ClientConfig, Credentials};
pub use client::error::Error;
pub use client::watch::{WatchOptions, WatchStream, Watcher};
pub use client::{Client, lease::KeepAlive, prefix_end};

/// The gRPC messages the client sends and receives, re-exported so callers
/// need not depend on `cairn-proto` themselves.
pub use cairn_proto::{etcdserverpb as pb, mvccpb};
