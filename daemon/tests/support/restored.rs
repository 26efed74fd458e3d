//! A snapshot restored into a new single-member cluster: `cairnctl
//! snapshot restore` into a fresh data dir, and a cairn member started on
//! it, for the tests of what a backup carries.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::ports::{self, PortClaim};
use super::{Ctl, Server};

/// Where a restore goes: the new member's flags, its data dir and URLs.
pub struct Restore {
    pub data_dir: PathBuf,
    pub client_url: String,
    pub member_flags: Vec<String>,
    ports: Option<(PortClaim, PortClaim)>,
    peer_url: String,
}

impl Restore {
    /// A restore into `<dir>/restored` for a member named "solo".
    pub fn new(dir: &Path) -> Restore {
        let (client, peer) = (ports::claim(), ports::claim());
        let client_url = format!("http://127.0.0.1:{}", client.port);
        let peer_url = format!("http://127.0.0.1:{}", peer.port);
        let data_dir = dir.join("restored");
        Restore {
            member_flags: vec![
                "--name=solo".to_string(),
                format!("--initial-cluster=solo={peer_url}"),
                "--initial-cluster-token=restored".to_string(),
                format!("--initial-advertise-peer-urls={peer_url}"),
                format!("--data-dir={}", data_dir.display()),
            ],
            data_dir,
            client_url,
            peer_url,
            ports: Some((client, peer)),
        }
    }

    /// `cairnctl snapshot restore <file>` with the member's flags.
    pub fn run(&self, file: &str) -> Output {
        let mut args = vec!["snapshot", "restore", file];
        args.extend(self.member_flags.iter().map(String::as_str));
        Ctl::Cairnctl.run(&self.client_url, &args, None)
    }

    /// Starts the restored member and waits until it is healthy.
    pub async fn start(mut self) -> Restored {
        drop(self.ports.take());
        let child = Command::new(Server::Cairn.binary())
            .args(&self.member_flags)
            .arg(format!("--listen-client-urls={}", self.client_url))
            .arg(format!("--advertise-client-urls={}", self.client_url))
            .arg(format!("--listen-peer-urls={}", self.peer_url))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the restored member");
        let mut restored = Restored {
            child,
            endpoint: self.client_url.clone(),
        };
        let started = Instant::now();
        // Healthy, or (with auth on) answering that it wants a user.
        while !Ctl::V3_5
            .run(&restored.endpoint, &["endpoint", "status"], None)
            .status
            .success()
        {
            assert!(
                restored.child.try_wait().unwrap().is_none(),
                "the restored member exited"
            );
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the restored member never answered"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        restored
    }
}

/// The restored member, stopped when dropped.
pub struct Restored {
    child: Child,
    pub endpoint: String,
}

impl Drop for Restored {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
