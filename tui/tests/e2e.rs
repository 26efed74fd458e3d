//! End to end: cairntop in a real terminal (a detached tmux session)
//! against a real three-member cairn cluster on loopback.
//!
//! It needs the `cairn` binary next to `cairntop` (`cargo nextest run
//! --workspace`, the README's test command, builds it; alone, run
//! `cargo build -p cairn` first) and `tmux` on the PATH
//! (`scripts/install-test-deps` installs it). It fails, rather than skips,
//! when either is missing.

// The one port allocator of the process-level tests (the daemon's test
// support), so this cluster never gets a port another test has claimed.
#[path = "../../daemon/tests/support/ports.rs"]
mod ports;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cairn_client::{Client, ClientConfig};

const NAMES: [&str; 3] = ["m1", "m2", "m3"];

/// The members and the tmux session; everything is killed on drop, also
/// when an assertion fails.
struct Rig {
    _dir: tempfile::TempDir,
    _ports: Vec<ports::PortClaim>,
    members: Vec<Option<Child>>,
    client_urls: Vec<String>,
    session: String,
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .status();
        for child in self.members.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Rig {
    fn start() -> Rig {
        let cairntop = PathBuf::from(env!("CARGO_BIN_EXE_cairntop"));
        let cairn = cairntop.with_file_name("cairn");
        assert!(
            cairn.exists(),
            "{} is missing: run `cargo build -p cairn` first",
            cairn.display()
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let claims: Vec<ports::PortClaim> = (0..2 * NAMES.len()).map(|_| ports::claim()).collect();
        let ports: Vec<(u16, u16)> = claims.chunks(2).map(|c| (c[0].port, c[1].port)).collect();
        let initial: Vec<String> = NAMES
            .iter()
            .zip(&ports)
            .map(|(n, (_, peer))| format!("{n}=http://127.0.0.1:{peer}"))
            .collect();
        let mut members = Vec::new();
        let mut client_urls = Vec::new();
        for (name, (client, peer)) in NAMES.iter().zip(&ports) {
            let client = format!("http://127.0.0.1:{client}");
            let peer = format!("http://127.0.0.1:{peer}");
            let log = std::fs::File::create(dir.path().join(format!("{name}.log"))).expect("log");
            let child = Command::new(&cairn)
                .arg(format!("--name={name}"))
                .arg(format!("--data-dir={}", dir.path().join(name).display()))
                .arg(format!("--listen-client-urls={client}"))
                .arg(format!("--advertise-client-urls={client}"))
                .arg(format!("--listen-peer-urls={peer}"))
                .arg(format!("--initial-advertise-peer-urls={peer}"))
                .arg(format!("--initial-cluster={}", initial.join(",")))
                .arg("--initial-cluster-state=new")
                .arg("--initial-cluster-token=cairntop-e2e")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone log"))
                .stderr(log)
                .spawn()
                .expect("spawn cairn");
            members.push(Some(child));
            client_urls.push(client);
        }
        let session = format!("cairntop-e2e-{}", std::process::id());
        let command = format!(
            "{} --endpoints {}",
            cairntop.display(),
            client_urls.join(",")
        );
        let ok = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &session,
                "-x",
                "80",
                "-y",
                "24",
                &command,
            ])
            .status()
            .expect("run tmux: is it installed?");
        assert!(ok.success(), "tmux new-session failed");
        Rig {
            _dir: dir,
            _ports: claims,
            members,
            client_urls,
            session,
        }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Captures until `ok` holds or `within` passes; returns the screen
    /// that satisfied it, or panics showing the last one.
    fn wait_for(&self, what: &str, within: Duration, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + within;
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited {within:?} for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Types into cairntop: each item is a tmux key name (`Enter`), or
    /// literal text when `literal` is set.
    fn send(&self, literal: bool, keys: &str) {
        let mut cmd = Command::new("tmux");
        cmd.args(["send-keys", "-t", &self.session]);
        if literal {
            cmd.arg("-l");
        }
        let ok = cmd.arg(keys).status().expect("tmux send-keys");
        assert!(ok.success(), "tmux send-keys {keys:?} failed");
    }

    fn kill(&mut self, name: &str) {
        let i = NAMES
            .iter()
            .position(|n| *n == name)
            .expect("a member name");
        let mut child = self.members[i].take().expect("member running");
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
    }
}

/// The word after `label` on the cluster bar (the first line).
fn bar_field<'a>(screen: &'a str, label: &str) -> Option<&'a str> {
    let bar = screen.lines().next()?;
    let rest = &bar[bar.find(label)? + label.len()..];
    rest.split_whitespace().next()
}

/// Seconds left of lease `id` on its gauge row, `  27s/30s`.
fn lease_left(screen: &str, id: &str) -> Option<u64> {
    let line = screen.lines().find(|l| l.contains(id))?;
    let after = &line[line.find(id)? + id.len()..];
    after
        .split_whitespace()
        .next()?
        .split('s')
        .next()?
        .parse()
        .ok()
}

/// Whether a row of the key list (left half, `┃` borders when focused)
/// shows `name`.
fn listed(screen: &str, name: &str) -> bool {
    screen
        .lines()
        .any(|l| l.starts_with('┃') && l.contains(&format!(" {name} ")))
}

#[test]
fn cairntop_follows_a_leader_kill_and_counts_a_lease_down() {
    let mut rig = Rig::start();
    let first = rig.wait_for(
        "a leader and a healthy quorum",
        Duration::from_secs(20),
        |s| bar_field(s, "quorum ") == Some("healthy") && bar_field(s, "leader ") != Some("none"),
    );
    let leader = bar_field(&first, "leader ").expect("leader").to_owned();
    let term: u64 = bar_field(&first, "term ")
        .and_then(|t| t.parse().ok())
        .expect("term");

    // The client dials inside a runtime; the test itself stays blocking.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let urls = rig.client_urls.clone();
    let lease = runtime
        .block_on(async move {
            let client = Client::new(ClientConfig::new(urls))?;
            client.lease_grant(30, 0).await
        })
        .expect("grant a lease");
    let id = format!("{:x}", lease.id);
    let before = rig.wait_for("the lease", Duration::from_secs(5), |s| {
        lease_left(s, &id).is_some()
    });
    let left_before = lease_left(&before, &id).expect("lease row");
    std::thread::sleep(Duration::from_millis(2500));
    let after = rig.screen();
    let left_after = lease_left(&after, &id).expect("lease row");
    assert!(
        left_after < left_before,
        "remaining TTL went {left_before}s -> {left_after}s:\n{after}"
    );

    // The key browser: keys under a prefix typed after `/`, the value of
    // the selected one, and a put arriving in the watch tail.
    let put = |key: &'static str, value: &'static str| {
        let urls = rig.client_urls.clone();
        runtime
            .block_on(async move {
                let client = Client::new(ClientConfig::new(urls))?;
                client
                    .put(cairn_client::pb::PutRequest {
                        key: key.into(),
                        value: value.into(),
                        ..Default::default()
                    })
                    .await
            })
            .expect("put");
    };
    put("/e2e/alpha", "first value");
    put("/e2e/bravo", "second value");
    put("/e2e/charlie", "third value");
    put("/elsewhere/zulu", "not under the prefix");
    rig.send(false, "k");
    rig.wait_for(
        "the key browser on every key",
        Duration::from_secs(5),
        |s| s.contains("Keys (all)") && listed(s, "/elsewhere/zulu"),
    );
    rig.send(false, "/");
    rig.wait_for("the filter input", Duration::from_secs(5), |s| {
        s.contains("prefix: ")
    });
    rig.send(true, "/e2e/");
    rig.send(false, "Enter");
    let browsed = rig.wait_for(
        "the keys under /e2e/ and the first one's value",
        Duration::from_secs(5),
        |s| {
            s.contains("Keys /e2e/")
                && ["alpha", "bravo", "charlie"].iter().all(|k| listed(s, k))
                && !s.contains("zulu")
                && s.contains("first value")
                && s.contains("lease none, 11 bytes")
        },
    );
    assert!(
        browsed.lines().any(|l| l.contains("> alpha")),
        "the first key is selected:\n{browsed}"
    );
    put("/e2e/delta", "fourth value");
    let tail = rig.wait_for(
        "the new put in the watch tail and the list",
        Duration::from_secs(5),
        |s| {
            s.lines()
                .any(|l| l.contains(" PUT ") && l.contains("delta"))
                && listed(s, "delta")
        },
    );
    // The closing note of issue 7 quotes this capture.
    println!("{tail}");
    rig.send(false, "k");
    rig.wait_for("the overview again", Duration::from_secs(5), |s| {
        s.contains(" Leases ")
    });

    rig.kill(&leader);
    let last = rig.wait_for(
        "the killed leader unreachable, a new leader and a higher term",
        Duration::from_secs(10),
        |s| {
            let row = s.lines().find(|l| l.contains(&format!("│{leader} ")));
            row.is_some_and(|r| r.contains("unreachable"))
                && bar_field(s, "leader ").is_some_and(|l| l != leader && l != "none")
                && bar_field(s, "term ")
                    .and_then(|t| t.parse::<u64>().ok())
                    .is_some_and(|t| t > term)
        },
    );
    // The closing note of issue 7 quotes this capture.
    println!("{last}");
}
