//! `--auth simple|jwt`: both clusters with auth enabled, and every workload
//! run as a user that is not root, so that each request pays the
//! permission check (root skips it on both servers).
//!
//! After the clusters start, each gets the same users and roles through
//! cairnctl: `root` (which auth enable needs), a role `bench` that may
//! read and write every key, and a user `bench` holding it; then auth
//! enable. For JWTs both servers sign with one ES256 key pair made for
//! the run with rcgen: the private key as a PKCS#8 PEM, the public one as
//! a "PUBLIC KEY" PEM, which is what etcd 3.5.1 reads.
//!
//! Owns: the server flag, the users and roles, the passwords. Must never:
//! make root the measured user.

use std::path::Path;

use anyhow::{Context, bail};
use clap::ValueEnum;
use rcgen::KeyPair;

use crate::cluster::Cluster;

/// How tokens are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// etcd's simple tokens: random strings each member keeps
    Simple,
    /// ES256-signed JWTs, the same key pair on every member
    Jwt,
}

const ROOT: &str = "root:bench-root-password";
const USER: &str = "bench:bench-password";

/// One run's auth: the flag both servers start with.
#[derive(Debug, Clone)]
pub struct Auth {
    mode: Mode,
    flag: String,
}

impl Auth {
    /// The `--auth-token` flag for `mode`; for JWTs, writes the key pair
    /// under `dir`.
    pub fn make(mode: Mode, dir: &Path) -> anyhow::Result<Auth> {
        let flag = match mode {
            Mode::Simple => "--auth-token=simple".to_string(),
            Mode::Jwt => {
                std::fs::create_dir_all(dir)?;
                let key = KeyPair::generate()?;
                let private = dir.join("jwt.key");
                let public = dir.join("jwt.pub");
                std::fs::write(&private, key.serialize_pem())
                    .with_context(|| format!("writing {}", private.display()))?;
                std::fs::write(&public, key.public_key_pem())
                    .with_context(|| format!("writing {}", public.display()))?;
                format!(
                    "--auth-token=jwt,pub-key={},priv-key={},sign-method=ES256,ttl=10m",
                    public.display(),
                    private.display()
                )
            }
        };
        Ok(Auth { mode, flag })
    }

    /// The server flags, the same for etcd and cairn.
    pub fn server_flags(&self) -> Vec<String> {
        vec![self.flag.clone()]
    }

    /// The line printed above the table.
    pub fn describe(&self) -> String {
        let tokens = match self.mode {
            Mode::Simple => "simple tokens",
            Mode::Jwt => "ES256 JWTs",
        };
        let name = USER.split_once(':').map_or(USER, |(n, _)| n);
        format!(
            "Auth enabled on both clusters ({tokens}); every workload runs as user `{name}`, \
             read-write on all keys, not root."
        )
    }

    /// Creates root, the role and the user on `cluster`, enables auth,
    /// checks that a request without a token is refused, and makes the
    /// cluster's cairnctl calls log in as the user from then on.
    pub fn enable(&self, cluster: &mut Cluster) -> anyhow::Result<()> {
        let password = |who: &str| who.split_once(':').map_or("", |(_, p)| p).to_string();
        let name = |who: &str| who.split_once(':').map_or(who, |(n, _)| n).to_string();
        let steps: [Vec<String>; 6] = [
            vec![
                "user".into(),
                "add".into(),
                name(ROOT),
                format!("--new-user-password={}", password(ROOT)),
            ],
            vec!["role".into(), "add".into(), name(USER)],
            // An empty key with --from-key is the whole key space, as
            // etcdctl and cairnctl both read it (["\0", "\0")).
            vec![
                "role".into(),
                "grant-permission".into(),
                "--from-key".into(),
                name(USER),
                "readwrite".into(),
                String::new(),
            ],
            vec![
                "user".into(),
                "add".into(),
                name(USER),
                format!("--new-user-password={}", password(USER)),
            ],
            vec!["user".into(), "grant-role".into(), name(USER), name(USER)],
            vec!["auth".into(), "enable".into()],
        ];
        cluster.set_user(None);
        for step in &steps {
            cluster.ctl(&cluster.endpoints(), step)?;
        }
        let probe = ["get".to_string(), "/range/one".into()];
        if cluster.ctl(&cluster.endpoints(), &probe).is_ok() {
            bail!(
                "{} served a read without a token after auth enable",
                cluster.kind.label()
            );
        }
        cluster.set_user(Some(USER.into()));
        Ok(())
    }

    /// Turns auth off on `cluster` (as root) and makes its cairnctl calls
    /// anonymous again.
    pub fn disable(&self, cluster: &mut Cluster) -> anyhow::Result<()> {
        cluster.set_user(Some(ROOT.into()));
        cluster.ctl(&cluster.endpoints(), &["auth".into(), "disable".into()])?;
        cluster.set_user(None);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_keys_are_the_pems_etcd_reads() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let auth = Auth::make(Mode::Jwt, dir.path()).expect("a key pair");
        let flag = &auth.server_flags()[0];
        assert!(flag.ends_with(",sign-method=ES256,ttl=10m"), "{flag}");
        let private = std::fs::read_to_string(dir.path().join("jwt.key")).unwrap();
        let public = std::fs::read_to_string(dir.path().join("jwt.pub")).unwrap();
        assert!(private.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"));
    }

    #[test]
    fn the_measured_user_is_not_root() {
        assert_ne!(USER.split_once(':').map(|(n, _)| n), Some("root"));
    }
}
