//! cairn's configuration: etcd 3.5's flags, `ETCD_*` environment variables
//! and YAML configuration file, resolved into one plain [`ServerConfig`].
//!
//! Owns: the names, meanings and defaults of every server setting; the
//! rules that judge their values; and the derivation of member and cluster
//! IDs, which must agree with etcd's. It is the only place that knows how a
//! setting is spelled.
//!
//! Must never: bind a socket, open the data dir, start a task or log. A
//! [`ServerConfig`] says what to do; the server does it. Checks that need
//! the disk (is this data dir from another cluster?) belong to the server,
//! which gets the pieces from here ([`ServerConfig::verify_bootstrap`],
//! [`ids`]).
//!
//! The path through it, in the spirit of ripgrep's split between parsed
//! arguments and resolved configuration:
//!
//! 1. [`Flags::try_parse_go`]: argv (Go-style spellings rewritten) and the
//!    environment become [`Flags`], what the user said, still text.
//! 2. [`load`]: when `--config-file` is given, the file replaces the
//!    command line and the environment entirely, as etcd does; it is read
//!    into [`Flags`] too.
//! 3. [`resolve`]: every value is parsed, defaulted and checked, giving a
//!    [`ServerConfig`] or one [`ConfigError`] whose message is one line.
//!
//! One known difference from etcd 3.5.1: etcd refuses to start when a flag
//! and its `ETCD_*` variable are both set; cairn lets the flag win.

pub mod ciphers;
pub mod compat;
pub mod defaults;
mod error;
mod file;
mod flags;
pub mod ids;
mod resolve;
pub mod urls;

#[cfg(test)]
mod tests;

pub use error::{ConfigError, ValueError};
pub use file::FileConfig;
pub use flags::{Flags, command, normalize_go_args, parse_go_bool, unrecognized_env_vars};
pub use resolve::{
    AuthToken, AutoCompaction, BackendQuota, ClusterState, JwtOptions, LogLevel, SIGN_METHODS,
    ServerConfig, TlsConfig, resolve,
};

/// Resolves parsed flags, or the config file they name.
pub fn load(flags: &Flags) -> Result<ServerConfig, ConfigError> {
    let Some(path) = &flags.config_file else {
        return resolve(flags);
    };
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
        path: path.clone(),
        source,
    })?;
    let from_file = FileConfig::from_yaml(&text)
        .map_err(|source| ConfigError::ParseFile {
            path: path.clone(),
            source,
        })?
        .into_flags(path.clone());
    resolve(&from_file).map_err(|source| ConfigError::InFile {
        path: path.clone(),
        source: Box::new(source),
    })
}
