//! `cairnctl`'s command line, an etcdctl-compatible one over the
//! `cairn-client` library. It links nothing of the server: offline work on
//! a data dir (snapshot restore, defrag of a stopped member) is
//! `cairnutl`'s, as it is etcdutl's for etcd.
//!
//! [`cli`] is the command line itself (the binary is glue around it). It
//! lives in a library so that tools can read its clap definition: the man
//! pages and shell completions are generated from it, and `cairnutl`
//! prints snapshot status with the same output formats.
//! [`snapshot_file`] reads etcd's snapshot files for `snapshot status`.

pub mod cli;
pub mod snapshot_file;
