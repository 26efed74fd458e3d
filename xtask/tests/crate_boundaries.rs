//! The command-line tools link the client library, never the server: an
//! edit to the server must not rebuild cairnctl or cairntop, and neither
//! binary should carry sled, the raft core or the WAL. This reads the
//! dependency graph from Cargo.lock (which lists every kind of dependency,
//! dev-dependencies included, so it is stricter than `cargo tree`) and
//! fails if the server crate or sled is reachable from a client-side crate.

use std::collections::{BTreeMap, BTreeSet};

/// Every package in Cargo.lock with the names of its dependencies.
fn lock_graph() -> BTreeMap<String, Vec<String>> {
    let lock = std::fs::read_to_string(xtask::repo_root().join("Cargo.lock")).expect("Cargo.lock");
    let mut graph = BTreeMap::new();
    for entry in lock.split("[[package]]").skip(1) {
        let field = |name: &str| {
            entry
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name} = \"")))
                .map(|v| v.trim_end_matches('"').to_owned())
        };
        let name = field("name").expect("a package has a name");
        let deps = match entry.split_once("dependencies = [") {
            Some((_, rest)) => rest
                .split(']')
                .next()
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.trim().strip_prefix('"'))
                // "name" or "name version" when several versions exist.
                .map(|d| d.trim_end_matches(',').trim_end_matches('"'))
                .map(|d| d.split(' ').next().unwrap_or(d).to_owned())
                .collect(),
            None => Vec::new(),
        };
        graph.entry(name).or_insert_with(Vec::new).extend(deps);
    }
    graph
}

fn reachable(graph: &BTreeMap<String, Vec<String>>, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from.to_owned()];
    while let Some(next) = todo.pop() {
        if seen.insert(next.clone()) {
            todo.extend(graph.get(&next).into_iter().flatten().cloned());
        }
    }
    seen
}

#[test]
fn the_client_side_links_nothing_of_the_server() {
    let graph = lock_graph();
    for tool in ["cairn-client", "cairnctl", "cairntop"] {
        assert!(graph.contains_key(tool), "{tool} is not in Cargo.lock");
        let deps = reachable(&graph, tool);
        for forbidden in ["cairn", "cairn-raft", "sled"] {
            assert!(
                !deps.contains(forbidden),
                "{tool} depends on {forbidden}: the command-line tools and the client \
                 library must not link the server (offline data-dir work is cairnutl's)"
            );
        }
    }
}

#[test]
fn the_raft_core_depends_on_nothing_heavier_than_bytes_and_thiserror() {
    let manifest =
        std::fs::read_to_string(xtask::repo_root().join("raft/Cargo.toml")).expect("raft manifest");
    let section = manifest
        .split("[dependencies]")
        .nth(1)
        .expect("a [dependencies] section")
        .split("\n[")
        .next()
        .unwrap_or_default();
    let deps: BTreeSet<&str> = section
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split(['.', ' ', '=']).next())
        .collect();
    assert_eq!(
        deps,
        BTreeSet::from(["bytes", "thiserror"]),
        "raft/Cargo.toml's [dependencies] are the raft core's boundary"
    );
}
