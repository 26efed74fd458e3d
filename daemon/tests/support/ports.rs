//! Loopback ports for test clusters, claimed so that tests running in
//! parallel processes (cargo-nextest runs every test in its own process)
//! never hand the same port to two servers.
//!
//! A port is claimed by creating `$TMPDIR/cairn-test-ports/<port>.lock`
//! (create-new, so only one process wins) holding the claimant's pid, and
//! checking that the port can be bound right now. The file is removed when
//! the [`PortClaim`] drops; a file whose pid no longer runs is stale (a
//! killed test) and is taken over. Ports
//! come from 20000..32000, below Linux's ephemeral range (32768..), so the
//! kernel never picks one of them as the local port of an outgoing
//! connection.
//!
//! Never used for anything but 127.0.0.1.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

const FIRST: u16 = 20_000;
const END: u16 = 32_000;

/// A claimed port. The claim ends when this is dropped.
#[derive(Debug)]
pub struct PortClaim {
    pub port: u16,
    lock: PathBuf,
}

impl Drop for PortClaim {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.lock);
    }
}

/// Creates the lock file for a port, taking it over if its owner is dead.
fn try_lock(path: &PathBuf) -> bool {
    for _ in 0..2 {
        match OpenOptions::new().write(true).create_new(true).open(path) {
            Ok(mut file) => {
                let _ = write!(file, "{}", std::process::id());
                return true;
            }
            Err(_) => {
                let owner = std::fs::read_to_string(path).unwrap_or_default();
                let alive = owner.trim().parse::<u32>().is_ok_and(|pid| {
                    pid == std::process::id() || PathBuf::from(format!("/proc/{pid}")).exists()
                });
                // An empty file may be a claim being written right now.
                if alive || owner.is_empty() {
                    return false;
                }
                let _ = std::fs::remove_file(path);
            }
        }
    }
    false
}

fn lock_dir() -> PathBuf {
    let dir = std::env::temp_dir().join("cairn-test-ports");
    std::fs::create_dir_all(&dir).expect("create the port lock directory");
    dir
}

/// Claims one free port. Each call starts its search at a different place
/// (pid and clock mixed) so parallel processes rarely contend.
pub fn claim() -> PortClaim {
    let dir = lock_dir();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let span = u32::from(END - FIRST);
    let start = (std::process::id().wrapping_mul(7919) ^ nanos) % span;
    for step in 0..span {
        let port = FIRST + ((start + step * 7) % span) as u16;
        let path = dir.join(format!("{port}.lock"));
        if !try_lock(&path) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_err() {
            let _ = std::fs::remove_file(&path);
            continue;
        }
        return PortClaim { port, lock: path };
    }
    panic!("no free loopback port in {FIRST}..{END}");
}
