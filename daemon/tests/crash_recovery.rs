//! Crash tests with real processes: `cairn-crash-writer` writes through the
//! whole durable path (Raft, WAL with fdatasync, MVCC on sled) and is killed
//! with SIGKILL at random moments, many times. After every kill the store
//! must open, replay, and hold every write the writer acknowledged, at the
//! revision it acknowledged; revisions never go backwards.
//!
//! `CRASH_KILLS=N` changes the number of kills (default 50);
//! `CRASH_SEED=S` replays the kill timings of one run.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cairn::mvcc::{MvccStore, SledBackend, SledOptions, StoreConfig};
use cairn_proto::etcdserverpb::RangeRequest;

#[derive(Debug, Clone)]
struct Ack {
    key: String,
    value: String,
    rev: i64,
}

/// What one run of the writer printed before it died. Only complete lines
/// count: a line cut off by the kill was never acknowledged.
#[derive(Debug, Default)]
struct Output {
    start: Option<i64>,
    acks: Vec<Ack>,
    recovered: Option<i64>,
}

fn parse(stdout: &str) -> Output {
    let mut out = Output::default();
    let complete = match stdout.rfind('\n') {
        Some(end) => &stdout[..end],
        None => "",
    };
    for line in complete.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        match f.as_slice() {
            ["start", rev] => out.start = Some(rev.parse().expect("revision")),
            ["recovered", rev] => out.recovered = Some(rev.parse().expect("revision")),
            ["ack", key, value, rev] => out.acks.push(Ack {
                key: key.to_string(),
                value: value.to_string(),
                rev: rev.parse().expect("revision"),
            }),
            _ => panic!("unexpected writer output: {line:?}"),
        }
    }
    out
}

fn writer() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cairn-crash-writer"))
}

/// Runs the writer for `ms` milliseconds, then SIGKILLs it.
fn write_then_kill(dir: &Path, run: u64, ms: u64) -> Output {
    let mut child = writer()
        .arg(dir)
        .args(["write", &run.to_string(), "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the writer");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    std::thread::sleep(Duration::from_millis(ms));
    // Child::kill sends SIGKILL: no chance to flush or clean up.
    let _ = child.kill();
    let status = child.wait().expect("reap the writer");
    let text = reader.join().expect("reader thread");
    let out = parse(&text);
    assert!(
        !status.success() || out.start.is_some(),
        "writer exited before being killed: {status}"
    );
    out
}

/// Replays the WAL into the store and makes it durable, like a restart.
fn recover(dir: &Path) -> i64 {
    let out = writer()
        .arg(dir)
        .arg("recover")
        .output()
        .expect("run the writer in recover mode");
    assert!(
        out.status.success(),
        "recovery failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse(&String::from_utf8_lossy(&out.stdout))
        .recovered
        .expect("recover prints the revision")
}

/// Checks each acknowledged write is readable at its revision.
fn verify(dir: &Path, acks: &[Ack]) {
    let backend = SledBackend::open(&dir.join("member/db"), &SledOptions::default())
        .expect("the sled backend opens after a crash");
    let store = MvccStore::open(Box::new(backend), StoreConfig::default()).expect("store opens");
    for a in acks {
        let resp = store
            .range(&RangeRequest {
                key: a.key.clone().into_bytes(),
                revision: a.rev,
                ..RangeRequest::default()
            })
            .unwrap_or_else(|e| panic!("reading {a:?}: {e}"));
        let kv = resp
            .kvs
            .first()
            .unwrap_or_else(|| panic!("acknowledged write lost: {a:?}"));
        assert_eq!(
            (String::from_utf8_lossy(&kv.value).as_ref(), kv.mod_revision),
            (a.value.as_str(), a.rev),
            "acknowledged write changed: {a:?}"
        );
    }
}

#[test]
fn acknowledged_writes_survive_sigkill_at_random_moments() {
    let kills: u64 = std::env::var("CRASH_KILLS")
        .map(|s| s.parse().expect("CRASH_KILLS is a number"))
        .unwrap_or(50);
    let seed: u64 = std::env::var("CRASH_SEED")
        .map(|s| s.parse().expect("CRASH_SEED is a number"))
        .unwrap_or_else(|_| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock after 1970")
                .as_nanos() as u64
        });
    eprintln!("crash test: {kills} kills, CRASH_SEED={seed}");
    let mut x = seed | 1;
    let dir = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let mut all: Vec<Ack> = Vec::new();
    let mut high_water = 0i64;
    let mut runs_with_acks = 0;
    for run in 0..kills {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let ms = 40 + x % 400;
        let out = write_then_kill(dir.path(), run, ms);
        if let Some(start) = out.start {
            assert!(
                start >= high_water,
                "run {run}: revision went back from {high_water} to {start} (CRASH_SEED={seed})"
            );
        }
        if !out.acks.is_empty() {
            runs_with_acks += 1;
        }
        for a in &out.acks {
            high_water = high_water.max(a.rev);
        }
        let recovered = recover(dir.path());
        assert!(
            recovered >= high_water,
            "run {run}: recovered revision {recovered} below acknowledged {high_water} \
             (CRASH_SEED={seed})"
        );
        high_water = recovered;
        verify(dir.path(), &out.acks);
        all.extend(out.acks);
    }
    // Once more at the end, every write of every run.
    verify(dir.path(), &all);
    let keys: BTreeMap<&str, &Ack> = all.iter().map(|a| (a.key.as_str(), a)).collect();
    eprintln!(
        "crash test: {kills} kills in {:.1?}, {} acknowledged writes over {} keys, final revision {high_water}",
        started.elapsed(),
        all.len(),
        keys.len()
    );
    assert!(
        runs_with_acks * 2 >= kills,
        "most runs should acknowledge writes before the kill ({runs_with_acks} of {kills} did)"
    );
}
