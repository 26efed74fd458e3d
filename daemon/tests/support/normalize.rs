//! Turns etcdctl's output into text that is equal for etcd and cairn when
//! they behave the same, by masking only what legitimately differs between
//! two runs or two implementations: member and cluster ids, lease ids,
//! ports, raft terms and indexes, timings, db sizes, server versions, hash
//! values and client-side log noise (timestamps, addresses).
//!
//! It must never mask what a client relies on: keys, values, revisions,
//! versions of keys, counts, error messages, gRPC codes, exit codes.
//!
//! Invariants: ids are masked by the *role* of their member (`leader`,
//! `follower-a`, `follower-b`, followers in member order), so which process
//! won the election does not matter but a member's id, URLs and name still
//! have to agree with each other; lease ids by order of registration; hash
//! values by order of first appearance within one output, so equal hashes
//! stay visibly equal. Outputs listing members are sorted after masking.

use std::collections::BTreeMap;
use std::process::Output;

use serde_json::Value;

use super::cluster::Cluster;

/// The masks of one cluster (and the leases a scenario registered).
#[derive(Debug, Clone, Default)]
pub struct Masks {
    /// Text replacements, applied longest first.
    literals: Vec<(String, String)>,
    /// Numbers (in JSON) that are ids, and their masks.
    numbers: BTreeMap<u64, String>,
    /// Member names and their masks (only in `member list`).
    names: Vec<(String, String)>,
    leases: usize,
}

impl Masks {
    /// Masks for `cluster`, whose leader is member `leader`.
    pub fn for_cluster(cluster: &Cluster, leader: usize) -> Masks {
        let mut masks = Masks::default();
        let mut followers = 0u8;
        for i in 0..cluster.size() {
            let role = if i == leader {
                "leader".to_owned()
            } else {
                followers += 1;
                format!("follower-{}", char::from(b'a' + followers - 1))
            };
            masks.add_id(cluster.member_id(i), &format!("<id:{role}>"));
            let client = cluster.client_url(i);
            let peer = cluster.peer_url(i);
            masks.literal(host_port(&client), &format!("<client:{role}>"));
            masks.literal(host_port(&peer), &format!("<peer:{role}>"));
            masks
                .names
                .push((cluster.name(i).to_owned(), format!("<name:{role}>")));
        }
        masks.add_id(cluster.cluster_id(), "<cluster-id>");
        masks
    }

    fn literal(&mut self, from: &str, to: &str) {
        self.literals.push((from.to_owned(), to.to_owned()));
        self.literals
            .sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
    }

    /// Masks an id in decimal, in zero-padded hex and in plain hex.
    fn add_id(&mut self, id: u64, mask: &str) {
        self.numbers.insert(id, mask.to_owned());
        self.literal(&format!("{id:016x}"), mask);
        self.literal(&format!("{id:x}"), mask);
        self.literal(&id.to_string(), mask);
    }

    /// Registers a lease id (from a grant); it prints as `<lease-N>`.
    pub fn add_lease(&mut self, id: u64) -> String {
        self.leases += 1;
        let mask = format!("<lease-{}>", self.leases);
        self.add_id(id, &mask);
        mask
    }

    /// Applies the text masks to one string.
    pub fn text(&self, s: &str) -> String {
        let mut out = s.to_owned();
        for (from, to) in &self.literals {
            if out.contains(from.as_str()) {
                out = out.replace(from.as_str(), to);
            }
        }
        out
    }

    /// The normalized transcript of one etcdctl run with `args`: stdout,
    /// stderr (prefixed) and the exit code.
    pub fn output(&self, args: &[&str], out: &Output) -> String {
        let command = command_of(args);
        let mut hashes = Hashes::default();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut lines: Vec<String> = stdout
            .lines()
            .map(|line| self.stdout_line(&command, line, &mut hashes))
            .collect();
        if lists_members(&command) {
            lines.sort();
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let mut errors: Vec<String> = stderr
            .lines()
            .map(|line| format!("stderr: {}", self.stderr_line(line)))
            .collect();
        if lists_members(&command) {
            errors.sort();
        }
        lines.extend(errors);
        lines.push(format!(
            "exit: {}",
            out.status.code().map_or("signal".into(), |c| c.to_string())
        ));
        let mut text = lines.join("\n");
        text.push('\n');
        text
    }

    fn stdout_line(&self, command: &str, line: &str, hashes: &mut Hashes) -> String {
        if line.starts_with('{') || line.starts_with('[') {
            if let Ok(mut value) = serde_json::from_str::<Value>(line) {
                self.json(&mut value, None, hashes);
                return value.to_string();
            }
        }
        let line = self.text(line);
        // `-w fields` prints one `"Name" : value` per line.
        if line.starts_with("\"RaftTerm\" : ") {
            return "\"RaftTerm\" : <term>".to_owned();
        }
        match command {
            "endpoint status" => mask_fields(&line, &[2, 3, 6, 7, 8], |_| None),
            "endpoint hashkv" => mask_fields(&line, &[], |(i, f)| (i == 1).then(|| hashes.mask(f))),
            "member list" => self.mask_names(&line),
            "endpoint health" => mask_after(&line, "took = ", "<duration>"),
            _ => sort_between(
                &mask_between(&line, "remaining(", ")", "<remaining>"),
                "attached keys([",
                "])",
            ),
        }
    }

    fn mask_names(&self, line: &str) -> String {
        let fields: Vec<String> = line
            .split(", ")
            .map(|f| {
                self.names
                    .iter()
                    .find(|(n, _)| n == f)
                    .map_or(f.to_owned(), |(_, m)| m.clone())
            })
            .collect();
        fields.join(", ")
    }

    /// Masks a JSON value in place; `key` is the key it sits under.
    fn json(&self, value: &mut Value, key: Option<&str>, hashes: &mut Hashes) {
        let masked = match (key, &*value) {
            (Some("raft_term" | "raftTerm"), _) => Some("<term>".to_owned()),
            (Some("raftIndex" | "raftAppliedIndex"), _) => Some("<index>".to_owned()),
            (Some("dbSize" | "dbSizeInUse"), _) => Some("<bytes>".to_owned()),
            (Some("version"), Value::String(_)) => Some("<version>".to_owned()),
            (Some("took"), _) => Some("<duration>".to_owned()),
            // Time left on a live lease; an expired one's -1 stays visible.
            (Some("ttl"), Value::Number(n)) if n.as_i64().is_some_and(|t| t > 0) => {
                Some("<remaining>".to_owned())
            }
            (Some("hash"), v) => Some(hashes.mask(&v.to_string())),
            (Some("name"), Value::String(s)) => self
                .names
                .iter()
                .find(|(n, _)| n == s)
                .map(|(_, m)| m.clone()),
            (_, Value::Number(n)) => n.as_u64().and_then(|n| self.numbers.get(&n).cloned()),
            (_, Value::String(s)) => Some(self.text(s)).filter(|t| t != s),
            _ => None,
        };
        if let Some(mask) = masked {
            *value = Value::String(mask);
            return;
        }
        match value {
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    self.json(v, Some(k), hashes);
                }
            }
            Value::Array(items) => {
                for v in items.iter_mut() {
                    self.json(v, None, hashes);
                }
                // Per-member lists, and a lease's keys, come in any order.
                if matches!(key, None | Some("members" | "keys")) {
                    items.sort_by_key(|v| v.to_string());
                }
            }
            _ => {}
        }
    }

    /// etcdctl 3.5 logs client retries as zap JSON lines: keep what the
    /// server decided (the message and the gRPC error), drop timestamps
    /// and addresses.
    fn stderr_line(&self, line: &str) -> String {
        if let Ok(Value::Object(log)) = serde_json::from_str::<Value>(line) {
            let field = |k: &str| log.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            return self.text(&format!(
                "[client {}] {}: {}",
                field("level"),
                field("msg"),
                field("error")
            ));
        }
        // `endpoint health` reports how long its probe took.
        mask_after(&self.text(line), "took = ", "<duration>")
    }
}

/// Distinct hash values numbered by first appearance.
#[derive(Debug, Default)]
struct Hashes(Vec<String>);

impl Hashes {
    fn mask(&mut self, value: &str) -> String {
        let n = match self.0.iter().position(|v| v == value) {
            Some(n) => n,
            None => {
                self.0.push(value.to_owned());
                self.0.len() - 1
            }
        };
        format!("<hash-{}>", n + 1)
    }
}

/// The command words of an etcdctl argument list (`endpoint status`),
/// skipping flags and the value of `-w`.
fn command_of(args: &[&str]) -> String {
    let mut words = Vec::new();
    let mut skip = false;
    for arg in args {
        if std::mem::take(&mut skip) {
            continue;
        }
        if *arg == "-w" {
            skip = true;
        } else if !arg.starts_with('-') {
            words.push(*arg);
        }
    }
    match words.as_slice() {
        [first @ ("endpoint" | "member" | "lease"), sub, ..] => format!("{first} {sub}"),
        [first, ..] => (*first).to_owned(),
        [] => String::new(),
    }
}

fn lists_members(command: &str) -> bool {
    matches!(
        command,
        "endpoint status" | "endpoint health" | "endpoint hashkv" | "member list"
    )
}

/// Masks the comma-separated fields at `positions` of a table line, and
/// lets `custom` rewrite any field.
fn mask_fields(
    line: &str,
    positions: &[usize],
    mut custom: impl FnMut((usize, &str)) -> Option<String>,
) -> String {
    let fields: Vec<String> = line
        .split(", ")
        .enumerate()
        .map(|(i, f)| {
            if let Some(s) = custom((i, f)) {
                s
            } else if positions.contains(&i) {
                "<masked>".to_owned()
            } else {
                f.to_owned()
            }
        })
        .collect();
    fields.join(", ")
}

/// Replaces the word after `marker` with `mask`.
fn mask_after(line: &str, marker: &str, mask: &str) -> String {
    match line.find(marker) {
        Some(at) => {
            let start = at + marker.len();
            let end = line[start..].find(' ').map_or(line.len(), |e| start + e);
            format!("{}{mask}{}", &line[..start], &line[end..])
        }
        None => line.to_owned(),
    }
}

/// Replaces what lies between `open` and the next `close` with `mask`.
fn mask_between(line: &str, open: &str, close: &str, mask: &str) -> String {
    match line.find(open) {
        Some(at) => {
            let start = at + open.len();
            match line[start..].find(close) {
                Some(e) => format!("{}{mask}{}", &line[..start], &line[start + e..]),
                None => line.to_owned(),
            }
        }
        None => line.to_owned(),
    }
}

/// Sorts the space-separated words between `open` and the next `close`:
/// etcd lists a lease's keys in no particular order.
fn sort_between(line: &str, open: &str, close: &str) -> String {
    let Some(start) = line.find(open).map(|at| at + open.len()) else {
        return line.to_owned();
    };
    let Some(len) = line[start..].find(close) else {
        return line.to_owned();
    };
    let mut words: Vec<&str> = line[start..start + len].split(' ').collect();
    words.sort_unstable();
    format!(
        "{}{}{}",
        &line[..start],
        words.join(" "),
        &line[start + len..]
    )
}

/// `host:port` of an `http://` or `https://` URL.
fn host_port(url: &str) -> &str {
    url.split_once("://").map_or(url, |(_, rest)| rest)
}
