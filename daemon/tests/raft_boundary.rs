//! The consensus core must stay a pure state machine: no async runtime, no
//! RPC, no files, no sockets, no clocks, no ambient randomness. This test
//! reads its sources and fails on any import of those.

use std::path::Path;

/// What the core must never touch, and why each is a problem there.
const FORBIDDEN: &[(&str, &str)] = &[
    ("tokio", "async runtime"),
    ("tonic", "RPC"),
    ("std::fs", "file I/O"),
    ("std::net", "network I/O"),
    ("std::time", "wall clock"),
    ("std::thread", "threads and sleeping"),
    ("std::process", "processes"),
    ("std::env", "environment"),
    ("thread_rng", "unseeded randomness"),
    ("rand::", "randomness not passed in"),
    ("SystemTime", "wall clock"),
    ("Instant", "wall clock"),
];

/// Returns every forbidden use in `source`, ignoring comments.
fn violations(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (n, line) in source.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let flat: String = code.split_whitespace().collect();
        for (word, why) in FORBIDDEN {
            if flat.contains(word) {
                found.push(format!("line {}: `{word}` ({why})", n + 1));
            }
        }
        // Grouped imports such as `use std::{fs, net::TcpStream};`.
        if let Some(group) = flat.split("std::{").nth(1) {
            for module in ["fs", "net", "time", "thread", "process", "env"] {
                let hit = group
                    .split(|c: char| !c.is_alphanumeric() && c != '_')
                    .any(|tok| tok == module);
                if hit {
                    found.push(format!("line {}: `std::{{{module}}}`", n + 1));
                }
            }
        }
    }
    found
}

#[test]
fn raft_core_imports_no_io_clock_or_runtime() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/raft");
    let mut checked = 0;
    let mut all = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("daemon/src/raft exists") {
        let path = entry.expect("readable dir entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("readable source");
            for v in violations(&text) {
                all.push(format!("{}: {v}", path.display()));
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 5,
        "expected the raft module's files, found {checked}"
    );
    assert!(
        all.is_empty(),
        "the raft core must stay pure:\n{}",
        all.join("\n")
    );
}

#[test]
fn the_scan_catches_each_kind_of_import() {
    assert!(violations("use std::{io, fs};").len() == 1);
    assert!(!violations("let t = std::time::Instant::now();").is_empty());
    assert!(!violations("use tokio :: sync;").is_empty());
    assert!(!violations("use tonic::Status;").is_empty());
    assert!(!violations("let s = std::net::TcpStream::connect(a);").is_empty());
    assert!(violations("// tokio is mentioned only in a comment").is_empty());
    assert!(violations("use std::collections::BTreeMap;").is_empty());
}
