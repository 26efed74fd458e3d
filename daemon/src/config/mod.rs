//! cairn's configuration: etcd 3.5's flags, `ETCD_*` environment variables
//! and YAML configuration file, resolved into one plain server configuration.
//!
//! Owns: the names, meanings and defaults of every server setting; the
//! rules that judge their values; and the derivation of member and cluster
//! IDs, which must agree with etcd's.
//!
//! Must never: bind a socket, open the data dir, start a task or log.

pub mod defaults;
pub mod duration;
pub mod ids;
pub mod urls;
