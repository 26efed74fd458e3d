//! The fault-injecting TCP proxy between members' peer ports, owned by the
//! test.
//!
//! Every member advertises a proxy port as its peer URL and listens on
//! another, real one; the proxy for member `to` forwards its advertised
//! port to the real one. A connection's source member is found from the
//! kernel (the connecting socket's inode in `/proc/net/tcp`, then which
//! member process holds it), so rules apply per directed link `from → to`.
//! cairn sends raft messages from `from` to `to` on the connection `from`
//! dials, so the link's rule governs what `from` tells `to`; the reverse
//! bytes on that connection are only acknowledgements of the stream.
//!
//! Rules, changed at any time, apply to open connections too:
//! * `Pass`;
//! * `Delay`: each chunk waits a base delay plus uniform jitter (order is
//!   kept, as TCP would);
//! * `Blackhole`: nothing moves, the connection stays open (the sender's
//!   keep-alive gives up on it, as with a silent network);
//! * `Drop`: connections are closed and new ones refused.
//!
//! It only ever connects to 127.0.0.1.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What a directed link does to its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Pass,
    Delay { base_ms: u64, jitter_ms: u64 },
    Blackhole,
    Drop,
}

/// An unidentified source (a connection no member process holds).
pub const UNKNOWN: usize = usize::MAX;

#[derive(Debug, Default)]
struct Shared {
    links: HashMap<(usize, usize), Link>,
    /// Member process ids, kept current by the harness across restarts.
    pids: HashMap<u32, usize>,
    /// Each member's real peer port, where its proxy forwards.
    targets: HashMap<usize, u16>,
    /// Connections forwarded, and how many of them had no known source
    /// (rules by source cannot apply to those).
    accepted: usize,
    unidentified: usize,
}

/// The proxies of one cluster: one listener per member.
#[derive(Debug)]
pub struct Proxy {
    shared: Arc<Mutex<Shared>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Proxy {
    /// Starts one forwarder per member on `listeners[to]` (bound on the
    /// port member `to` advertises). It forwards once [`Proxy::set_member`]
    /// has named the member's real port; until then it closes connections.
    pub fn start(listeners: Vec<std::net::TcpListener>, seed: u64) -> Proxy {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let tasks = listeners
            .into_iter()
            .enumerate()
            .map(|(to, listener)| {
                listener.set_nonblocking(true).expect("nonblocking");
                let listener = TcpListener::from_std(listener).expect("tokio listener");
                let shared = Arc::clone(&shared);
                tokio::spawn(accept_loop(listener, to, shared, seed ^ to as u64))
            })
            .collect();
        Proxy { shared, tasks }
    }

    /// Records that process `pid` is member `member`, listening for peers
    /// on `peer_port` (at every start and restart).
    pub fn set_member(&self, member: usize, pid: u32, peer_port: u16) {
        let mut s = self.shared.lock().expect("proxy lock");
        s.pids.retain(|_, m| *m != member);
        s.pids.insert(pid, member);
        s.targets.insert(member, peer_port);
    }

    /// Sets the rule of the link `from → to`.
    pub fn set(&self, from: usize, to: usize, link: Link) {
        self.shared
            .lock()
            .expect("proxy lock")
            .links
            .insert((from, to), link);
    }

    /// Cuts `member` off from every other of `members`, both ways.
    pub fn isolate(&self, member: usize, members: usize, link: Link) {
        for other in (0..members).filter(|&o| o != member) {
            self.set(member, other, link);
            self.set(other, member, link);
        }
    }

    /// (connections forwarded, of which from an unknown source).
    pub fn connections(&self) -> (usize, usize) {
        let s = self.shared.lock().expect("proxy lock");
        (s.accepted, s.unidentified)
    }

    /// Every link passes again.
    pub fn heal(&self) {
        self.shared.lock().expect("proxy lock").links.clear();
    }

    fn rule(shared: &Mutex<Shared>, from: usize, to: usize) -> Link {
        let s = shared.lock().expect("proxy lock");
        s.links.get(&(from, to)).copied().unwrap_or(Link::Pass)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn accept_loop(listener: TcpListener, to: usize, shared: Arc<Mutex<Shared>>, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    loop {
        let Ok((inbound, peer)) = listener.accept().await else {
            continue;
        };
        let (pids, port) = {
            let s = shared.lock().expect("proxy lock");
            (s.pids.clone(), s.targets.get(&to).copied())
        };
        let Some(port) = port else { continue };
        let from = tokio::task::spawn_blocking(move || source_member(peer.port(), &pids))
            .await
            .unwrap_or(UNKNOWN);
        if Proxy::rule(&shared, from, to) == Link::Drop {
            continue;
        }
        {
            let mut s = shared.lock().expect("proxy lock");
            s.accepted += 1;
            s.unidentified += usize::from(from == UNKNOWN);
        }
        let Ok(outbound) = TcpStream::connect(("127.0.0.1", port)).await else {
            continue;
        };
        let _ = inbound.set_nodelay(true);
        let _ = outbound.set_nodelay(true);
        let (in_read, in_write) = inbound.into_split();
        let (out_read, out_write) = outbound.into_split();
        let (s1, s2) = (Arc::clone(&shared), Arc::clone(&shared));
        let (r1, r2) = (rng.random(), rng.random());
        tokio::spawn(pump(in_read, out_write, s1, from, to, r1));
        tokio::spawn(pump(out_read, in_write, s2, from, to, r2));
    }
}

/// Copies one direction of a connection under the link's current rule.
async fn pump(
    mut from_side: tokio::net::tcp::OwnedReadHalf,
    mut to_side: tokio::net::tcp::OwnedWriteHalf,
    shared: Arc<Mutex<Shared>>,
    from: usize,
    to: usize,
    seed: u64,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let rule = Proxy::rule(&shared, from, to);
        match rule {
            Link::Drop => return,
            Link::Blackhole => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            Link::Pass | Link::Delay { .. } => {}
        }
        let n =
            match tokio::time::timeout(Duration::from_millis(50), from_side.read(&mut buf)).await {
                Err(_) => continue,
                Ok(Ok(0) | Err(_)) => return,
                Ok(Ok(n)) => n,
            };
        if let Link::Delay { base_ms, jitter_ms } = rule {
            let ms = base_ms + rng.random_range(0..=jitter_ms);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if to_side.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Which member holds the client end of a loopback connection whose local
/// port is `port`: the socket's inode from /proc/net/tcp, then the member
/// process with a descriptor on it.
///
/// The kernel writes /proc/net/tcp a page at a time, so a read while other
/// sockets open and close can miss a row, and a closed connection that used
/// the same port may linger there (inode 0): the lookup is tried a few
/// times before the source counts as unknown.
fn source_member(port: u16, pids: &HashMap<u32, usize>) -> usize {
    for attempt in 0..5 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Some(member) = find_source(port, pids) {
            return member;
        }
    }
    UNKNOWN
}

fn find_source(port: u16, pids: &HashMap<u32, usize>) -> Option<usize> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let local = format!(":{port:04X}");
    let inode = table.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        (cols.len() > 9 && cols[1].ends_with(&local) && cols[9] != "0").then(|| cols[9].to_owned())
    })?;
    let target = format!("socket:[{inode}]");
    for (pid, member) in pids {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy() == target) {
                return Some(*member);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server and a proxy in front of it; this process plays the
    /// member sending, so its pid is member 0 and the echo server is 1.
    async fn echo_through_proxy() -> (Proxy, u16) {
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let echo_port = echo.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = echo.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let front = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let front_port = front.local_addr().unwrap().port();
        // Member 0 is unused; the echo server is "member 1".
        let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = Proxy::start(vec![unused, front], 7);
        proxy.set_member(0, std::process::id(), 1);
        proxy.set_member(1, 0, echo_port);
        (proxy, front_port)
    }

    async fn round_trip(port: u16, within: Duration) -> Option<Duration> {
        let started = tokio::time::Instant::now();
        let attempt = async {
            let mut s = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
            s.write_all(b"ping").await.ok()?;
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).await.ok()?;
            (&buf == b"ping").then_some(())
        };
        tokio::time::timeout(within, attempt).await.ok().flatten()?;
        Some(started.elapsed())
    }

    #[tokio::test]
    async fn links_pass_delay_blackhole_and_drop_by_source_member() {
        let (proxy, port) = echo_through_proxy().await;
        let quick = round_trip(port, Duration::from_secs(5)).await;
        assert!(quick.is_some(), "a passing link echoes");

        proxy.set(
            0,
            1,
            Link::Delay {
                base_ms: 150,
                jitter_ms: 20,
            },
        );
        let slow = round_trip(port, Duration::from_secs(5))
            .await
            .expect("a delayed link echoes");
        assert!(
            slow >= Duration::from_millis(300),
            "both directions wait: {slow:?}"
        );

        // Only the link from this process's member is cut: the rule of
        // another source does not touch it.
        proxy.set(0, 1, Link::Pass);
        proxy.set(2, 1, Link::Drop);
        assert!(round_trip(port, Duration::from_secs(5)).await.is_some());

        proxy.set(0, 1, Link::Blackhole);
        assert!(round_trip(port, Duration::from_millis(500)).await.is_none());
        proxy.set(0, 1, Link::Drop);
        assert!(round_trip(port, Duration::from_millis(500)).await.is_none());
        proxy.heal();
        assert!(
            round_trip(port, Duration::from_secs(5)).await.is_some(),
            "healed"
        );
        let (accepted, unidentified) = proxy.connections();
        assert_eq!(unidentified, 0, "every connection's source was found");
        assert!(accepted >= 4);
    }
}
