//! deploy/ on this machine's Docker Engine: the image is built without
//! pulling anything (`deploy/build-image --dev`: static binaries in a
//! `FROM scratch` image), deploy/docker-compose.yml starts three members
//! configured by `ETCD_*` variables alone, and cairnctl on the host drives
//! them through the published client ports: put, get, member list,
//! endpoint status --cluster, lease keep-alives sent to the followers
//! (forwarded to the leader on the peer network). The leader's container
//! is stopped and writes go on; it is started again and catches up (the
//! same HashKV on every member, the writes it missed readable from it).
//!
//! Containers, network, volumes and the image tag are removed at the end,
//! pass or fail; a run killed before that (a timeout) is swept up by the
//! next. Without a Docker Engine and docker-compose the test fails saying
//! so: it never skips.
//!
//! The same cluster with deploy/docker-compose.tls.yml on top, and the
//! certificates deploy/gen-certs makes, serves only clients with a
//! certificate of its CA, over https, members talking over mutual TLS.
//!
//! The image takes bitnami/etcd's authentication variables, one member
//! per case started with `docker run`: neither set, it refuses to start;
//! `ETCD_ROOT_PASSWORD` makes root and enables auth, once;
//! `ALLOW_NONE_AUTHENTICATION=yes` runs without auth.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use support::Ctl;
use support::ports::{self, PortClaim};

/// Projects and image tags this test creates start with this, followed by
/// the pid of the test process that owns them.
const PREFIX: &str = "cairntest";

/// After the pid in the names of containers started with `docker run`.
const RUN_TAG: &str = "run-";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("daemon/ has a parent")
        .to_path_buf()
}

fn compose_file() -> PathBuf {
    repo_root().join("deploy/docker-compose.yml")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a command to completion, capturing its output.
fn output(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn docker(args: &[&str]) -> Output {
    output(Command::new("docker").args(args))
}

/// The compose command: `docker-compose` (Debian's package, what
/// scripts/install-test-deps installs), else the `docker compose` plugin.
/// Panics saying what is missing, so a machine without Docker fails the
/// test instead of skipping it.
fn compose_program() -> Vec<String> {
    let engine = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output();
    match engine {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "this test needs a running Docker Engine, and `docker info` failed: {}\n\
             start the engine (dockerd), or run the test on a machine that has one",
            text(&out.stderr).trim()
        ),
        Err(e) => panic!(
            "this test needs Docker: cannot run `docker` ({e}); install docker.io and start \
             the engine"
        ),
    }
    let works = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if works("docker-compose", &["version"]) {
        vec!["docker-compose".into()]
    } else if works("docker", &["compose", "version"]) {
        vec!["docker".into(), "compose".into()]
    } else {
        panic!(
            "this test needs docker-compose (or the docker compose plugin): run \
             scripts/install-test-deps"
        )
    }
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The owning pid in a name this test made (`cairntest<pid>...`).
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Removes what earlier runs of this test left when they were killed
/// before cleaning up: their compose projects (with volumes) and images.
fn sweep_leftovers(program: &[String]) {
    let mut projects: Vec<String> = Vec::new();
    for kind in [
        &["ps", "-a"][..],
        &["volume", "ls"][..],
        &["network", "ls"][..],
    ] {
        let mut args = kind.to_vec();
        args.extend([
            "--filter",
            "label=com.docker.compose.project",
            "--format",
            "{{.Label \"com.docker.compose.project\"}}",
        ]);
        for name in text(&docker(&args).stdout).lines() {
            let name = name.trim().to_owned();
            if owner_pid(&name).is_some_and(|pid| !pid_alive(pid)) && !projects.contains(&name) {
                projects.push(name);
            }
        }
    }
    for project in projects {
        eprintln!("removing {project}, left by a run that did not clean up");
        let _ = output(
            Command::new(&program[0])
                .args(&program[1..])
                .args(["-p", &project, "-f"])
                .arg(compose_file())
                .args(["down", "-v", "--remove-orphans", "-t", "1"]),
        );
    }
    // Containers of the image's own test (`docker run`, no compose
    // project), named `cairntest<pid>run-...`, with their volumes.
    let containers = docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("name={PREFIX}"),
        "--format",
        "{{.Names}}",
    ]);
    for name in text(&containers.stdout).lines() {
        let ours = name
            .strip_prefix(PREFIX)
            .map(|rest| rest.trim_start_matches(|c: char| c.is_ascii_digit()))
            .is_some_and(|rest| rest.starts_with(RUN_TAG));
        if ours && owner_pid(name).is_some_and(|pid| !pid_alive(pid)) {
            let _ = docker(&["rm", "--force", "--volumes", name]);
        }
    }
    let images = docker(&[
        "images",
        "--filter",
        &format!("reference={PREFIX}*"),
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ]);
    for image in text(&images.stdout).lines() {
        if owner_pid(image).is_some_and(|pid| !pid_alive(pid)) {
            let _ = docker(&["rmi", "--force", image]);
        }
    }
}

/// One compose project: the cluster of deploy/docker-compose.yml under a
/// unique name, on claimed host ports, from an image tag of its own.
/// Dropping it tears everything down.
struct Project {
    program: Vec<String>,
    name: String,
    image: String,
    ports: Vec<PortClaim>,
    torn_down: bool,
    /// With deploy/docker-compose.tls.yml on top, the certificates'
    /// directory (`CAIRN_CERTS`).
    tls_certs: Option<PathBuf>,
}

impl Project {
    /// A project of this test process on claimed ports (not started). Made
    /// before anything else, so the Drop guard owns the cleanup from the
    /// first docker command on.
    fn new(tls_certs: Option<PathBuf>) -> Project {
        let program = compose_program();
        sweep_leftovers(&program);
        let name = format!("{PREFIX}{}", std::process::id());
        Project {
            program,
            image: format!("{name}:latest"),
            name,
            ports: (0..3).map(|_| ports::claim()).collect(),
            torn_down: false,
            tls_certs,
        }
    }

    /// Builds the project's image (`deploy/build-image --dev`).
    fn build_image(&self) {
        let build = output(
            Command::new(repo_root().join("deploy/build-image"))
                .args(["--dev", "--tag", &self.image])
                .current_dir(repo_root()),
        );
        assert!(
            build.status.success(),
            "deploy/build-image failed:\n{}",
            text(&build.stderr)
        );
    }

    fn compose(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(&self.program[0]);
        cmd.args(&self.program[1..])
            .args(["-p", &self.name, "-f"])
            .arg(compose_file());
        if let Some(certs) = &self.tls_certs {
            cmd.arg("-f")
                .arg(repo_root().join("deploy/docker-compose.tls.yml"))
                .env("CAIRN_CERTS", certs);
        }
        cmd.args(args)
            .env("CAIRN_IMAGE", &self.image)
            .env("CAIRN_HOST", "127.0.0.1");
        for (i, claim) in self.ports.iter().enumerate() {
            cmd.env(format!("CAIRN_{}_PORT", i + 1), claim.port.to_string());
        }
        output(&mut cmd)
    }

    fn compose_ok(&self, args: &[&str]) -> String {
        let out = self.compose(args);
        assert!(
            out.status.success(),
            "compose {args:?} failed:\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Member `i`'s (1-based) client endpoint on the host.
    fn endpoint(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.ports[i - 1].port)
    }

    fn endpoints(&self, members: &[usize]) -> String {
        let list: Vec<String> = members.iter().map(|&i| self.endpoint(i)).collect();
        list.join(",")
    }

    /// Everything the project made: containers, network, volumes, image.
    fn tear_down(&mut self) -> Vec<String> {
        self.torn_down = true;
        let mut problems = Vec::new();
        let down = self.compose(&["down", "-v", "--remove-orphans", "-t", "5"]);
        if !down.status.success() {
            problems.push(format!("compose down failed: {}", text(&down.stderr)));
        }
        let rmi = docker(&["rmi", "--force", &self.image]);
        if !rmi.status.success() {
            problems.push(format!(
                "docker rmi {} failed: {}",
                self.image,
                text(&rmi.stderr)
            ));
        }
        problems
    }

    /// What is still there after tear_down (should be nothing).
    fn leftovers(&self) -> Vec<String> {
        let label = format!("label=com.docker.compose.project={}", self.name);
        let mut left = Vec::new();
        for (kind, args) in [
            ("container", &["ps", "-a", "-q", "--filter", &label][..]),
            ("volume", &["volume", "ls", "-q", "--filter", &label][..]),
            ("network", &["network", "ls", "-q", "--filter", &label][..]),
        ] {
            for id in text(&docker(args).stdout).lines() {
                left.push(format!("{kind} {id}"));
            }
        }
        if docker(&["image", "inspect", &self.image]).status.success() {
            left.push(format!("image {}", self.image));
        }
        left
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        if !self.torn_down {
            for problem in self.tear_down() {
                eprintln!("tear-down: {problem}");
            }
        }
    }
}

/// Runs cairnctl against `endpoints`.
fn ctl(endpoints: &str, args: &[&str]) -> Output {
    Ctl::Cairnctl.run(endpoints, args, None)
}

fn ctl_ok(endpoints: &str, args: &[&str]) -> String {
    let out = ctl(endpoints, args);
    assert!(
        out.status.success(),
        "cairnctl --endpoints={endpoints} {args:?} failed: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Retries `attempt` until it gives `Some` or `within` has passed.
fn eventually<T>(
    what: &str,
    within: Duration,
    mut attempt: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        match attempt() {
            Ok(value) => return value,
            Err(last) if Instant::now() >= deadline => {
                panic!("{what}: not within {within:?}; last: {last}")
            }
            Err(_) => sleep(Duration::from_millis(250)),
        }
    }
}

/// `endpoint status --cluster` rows (simple format): endpoint URL and
/// whether it is the leader.
fn status_rows(stdout: &str) -> Vec<(String, bool)> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split(", ").collect();
            (fields[0].to_owned(), fields.get(4) == Some(&"true"))
        })
        .collect()
}

#[test]
fn compose_cluster_serves_survives_a_stopped_member_and_catches_up() {
    let started = Instant::now();
    let mut project = Project::new(None);
    project.build_image();
    let built = started.elapsed();

    project.compose_ok(&["up", "-d"]);
    let all = project.endpoints(&[1, 2, 3]);
    eventually("all three members healthy", Duration::from_secs(60), || {
        let out = ctl(&all, &["endpoint", "health"]);
        if out.status.success() {
            Ok(())
        } else {
            Err(text(&out.stderr))
        }
    });
    let up = started.elapsed();

    // The basics, through the published ports.
    assert_eq!(ctl_ok(&all, &["put", "greeting", "hello"]), "OK\n");
    assert_eq!(ctl_ok(&all, &["get", "greeting"]), "greeting\nhello\n");
    let members = ctl_ok(&all, &["member", "list"]);
    assert_eq!(members.lines().count(), 3, "{members}");
    for i in 1..=3 {
        let line = members
            .lines()
            .find(|l| l.contains(&format!(", cairn-{i}, ")))
            .unwrap_or_else(|| panic!("no cairn-{i} in member list:\n{members}"));
        // Configured by ETCD_* alone: the name, the peer URL by service
        // name, the client URL as published on the host.
        assert!(line.contains(", started, "), "{line}");
        assert!(line.contains(&format!("http://cairn-{i}:2380")), "{line}");
        assert!(
            line.contains(&format!("http://{}", project.endpoint(i))),
            "{line}"
        );
    }
    let status = ctl_ok(&all, &["endpoint", "status", "--cluster"]);
    let rows = status_rows(&status);
    assert_eq!(rows.len(), 3, "{status}");
    let leaders: Vec<&String> = rows.iter().filter(|r| r.1).map(|r| &r.0).collect();
    assert_eq!(leaders.len(), 1, "{status}");
    let leader = (1..=3)
        .find(|&i| *leaders[0] == format!("http://{}", project.endpoint(i)))
        .unwrap_or_else(|| panic!("leader {} is no member's endpoint", leaders[0]));

    // Keep-alives sent to the followers reach the leader over the peer
    // network: each member's client URL is the host's published port,
    // which inside a container is the container itself, so a follower
    // that forwarded to it would fail, and the lease would expire.
    let followers: Vec<usize> = (1..=3).filter(|&i| i != leader).collect();
    let granted = ctl_ok(&project.endpoint(leader), &["lease", "grant", "4"]);
    let lease = granted
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no lease id in {granted:?}"))
        .to_owned();
    ctl_ok(
        &project.endpoint(leader),
        &["put", "--lease", &lease, "kept", "alive"],
    );
    let kept_from = Instant::now();
    while kept_from.elapsed() < Duration::from_secs(10) {
        for &f in &followers {
            let renewed = ctl_ok(
                &project.endpoint(f),
                &["lease", "keep-alive", "--once", &lease],
            );
            assert!(renewed.contains("keepalived with TTL(4)"), "{renewed}");
        }
        sleep(Duration::from_secs(1));
    }
    let remaining = ctl_ok(
        &project.endpoint(followers[0]),
        &["lease", "timetolive", &lease],
    );
    assert!(remaining.contains("granted with TTL(4s)"), "{remaining}");
    assert_eq!(
        ctl_ok(&all, &["get", "--print-value-only", "kept"]),
        "alive\n",
        "the kept-alive lease's key"
    );

    // The leader's container stops; the other two elect a leader and go
    // on taking writes.
    let service = format!("cairn-{leader}");
    project.compose_ok(&["stop", "-t", "10", &service]);
    let rest: Vec<usize> = (1..=3).filter(|&i| i != leader).collect();
    let survivors = project.endpoints(&rest);
    for n in 0..20 {
        let key = format!("during-outage/{n:02}");
        eventually(
            "a write with one member stopped",
            Duration::from_secs(30),
            || {
                let out = ctl(&survivors, &["put", &key, "written"]);
                if out.status.success() {
                    Ok(())
                } else {
                    Err(text(&out.stderr))
                }
            },
        );
    }
    let written = ctl_ok(
        &survivors,
        &["get", "--prefix", "--keys-only", "during-outage/"],
    );
    assert_eq!(
        written.lines().filter(|l| !l.is_empty()).count(),
        20,
        "{written}"
    );
    let outage = started.elapsed();

    // Back again: it catches up from the others.
    project.compose_ok(&["start", &service]);
    let back = project.endpoint(leader);
    eventually(
        "the restarted member caught up",
        Duration::from_secs(60),
        || {
            let out = ctl(&all, &["endpoint", "hashkv", "--cluster"]);
            let stdout = text(&out.stdout);
            let hashes: Vec<&str> = stdout
                .lines()
                .filter_map(|l| l.split(", ").nth(1))
                .collect();
            let serial = ctl(
                &back,
                &[
                    "get",
                    "--consistency=s",
                    "--print-value-only",
                    "during-outage/19",
                ],
            );
            if out.status.success()
                && hashes.len() == 3
                && hashes.iter().all(|h| *h == hashes[0])
                && text(&serial.stdout) == "written\n"
            {
                Ok(())
            } else {
                Err(format!("{stdout}{}", text(&out.stderr)))
            }
        },
    );
    let caught_up = started.elapsed();

    let problems = project.tear_down();
    assert!(problems.is_empty(), "tear-down: {problems:?}");
    let left = project.leftovers();
    assert!(left.is_empty(), "left behind after tear-down: {left:?}");
    eprintln!(
        "timings: image built {built:?}, cluster healthy {up:?}, writes with a member \
         stopped {outage:?}, caught up {caught_up:?}, torn down {:?}",
        started.elapsed()
    );
}

/// cairnctl with the client certificate deploy/gen-certs made, against
/// `endpoints`.
fn tls_ctl(certs: &Path, endpoints: &str, args: &[&str]) -> Output {
    let mut all = vec![
        format!("--cacert={}", certs.join("ca.pem").display()),
        format!("--cert={}", certs.join("client.pem").display()),
        format!("--key={}", certs.join("client-key.pem").display()),
    ];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    Ctl::Cairnctl.run(endpoints, &all, None)
}

/// deploy/docker-compose.tls.yml on top of the compose file, with the
/// certificates deploy/gen-certs makes as its comment says: the members
/// find each other over mutual TLS by service name, serve cairnctl on the
/// host with the client certificate and refuse it without one, and
/// forward a follower's keep-alives to the leader over the TLS peer port.
#[test]
fn compose_tls_override_serves_only_clients_with_a_certificate() {
    let certs_dir = tempfile::tempdir().expect("temp dir");
    let certs = certs_dir.path().join("certs");
    let made = output(
        Command::new(repo_root().join("deploy/gen-certs"))
            .arg("--readable-keys")
            .arg(&certs),
    );
    assert!(made.status.success(), "gen-certs: {}", text(&made.stderr));
    // The members run as another uid: the mounted directory must be open
    // to it (the keys are, with --readable-keys).
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&certs, std::fs::Permissions::from_mode(0o755))
        .expect("chmod the certificates' directory");
    let mut project = Project::new(Some(certs.clone()));
    project.build_image();
    project.compose_ok(&["up", "-d"]);
    let all = project.endpoints(&[1, 2, 3]);
    eventually("all three members healthy", Duration::from_secs(60), || {
        let out = tls_ctl(&certs, &all, &["endpoint", "health"]);
        if out.status.success() {
            Ok(())
        } else {
            Err(text(&out.stderr))
        }
    });
    let ok = |endpoints: &str, args: &[&str]| {
        let out = tls_ctl(&certs, endpoints, args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    assert_eq!(ok(&all, &["put", "greeting", "hello"]), "OK\n");
    assert_eq!(ok(&all, &["get", "greeting"]), "greeting\nhello\n");
    let members = ok(&all, &["member", "list"]);
    for i in 1..=3 {
        assert!(
            members.contains(&format!("https://cairn-{i}:2380"))
                && members.contains(&format!("https://{}", project.endpoint(i))),
            "member {i} is not on https: {members}"
        );
    }
    // Without a client certificate, or in plain text: refused.
    let ca_only = format!("--cacert={}", certs.join("ca.pem").display());
    let refused = Ctl::Cairnctl.run(
        &project.endpoint(1),
        &[
            &ca_only,
            "--dial-timeout=2s",
            "--command-timeout=4s",
            "get",
            "greeting",
        ],
        None,
    );
    assert!(
        !refused.status.success(),
        "served without a client certificate"
    );
    let plain = ctl(
        &format!("http://{}", project.endpoint(1)),
        &["--command-timeout=4s", "get", "greeting"],
    );
    assert!(!plain.status.success(), "served in plain text");

    // A follower's keep-alive reaches the leader over the TLS peer port.
    let status = ok(&all, &["endpoint", "status", "--cluster"]);
    let rows = status_rows(&status);
    let leader_url = &rows.iter().find(|r| r.1).expect("a leader").0;
    let follower = (1..=3)
        .find(|&i| *leader_url != format!("https://{}", project.endpoint(i)))
        .expect("a follower");
    let granted = ok(&all, &["lease", "grant", "4"]);
    let lease = granted
        .split_whitespace()
        .nth(1)
        .expect("a lease id")
        .to_owned();
    for _ in 0..6 {
        let renewed = ok(
            &project.endpoint(follower),
            &["lease", "keep-alive", "--once", &lease],
        );
        assert!(renewed.contains("keepalived with TTL(4)"), "{renewed}");
        sleep(Duration::from_secs(1));
    }

    let problems = project.tear_down();
    assert!(problems.is_empty(), "tear-down: {problems:?}");
    let left = project.leftovers();
    assert!(left.is_empty(), "left behind after tear-down: {left:?}");
}

/// A container started with `docker run`, removed with its volume when
/// dropped.
struct Container {
    name: String,
}

impl Container {
    /// `docker run --name <name> <args>`; the name is made from the
    /// project's and `what`.
    fn run(project: &Project, what: &str, args: &[&str]) -> (Container, Output) {
        let container = Container {
            name: format!("{}{RUN_TAG}{what}", project.name),
        };
        let mut all = vec!["run", "--name", &container.name];
        all.extend_from_slice(args);
        let out = docker(&all);
        (container, out)
    }

    /// Everything the container wrote on stdout and stderr, every start.
    fn logs(&self) -> String {
        let out = docker(&["logs", &self.name]);
        format!("{}{}", text(&out.stdout), text(&out.stderr))
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker(&["rm", "--force", "--volumes", &self.name]);
    }
}

/// The image gives bitnami/etcd's authentication variables their meaning,
/// so `docker run` lines written for that image work with this one:
/// neither set, the container refuses to start with bitnami's message;
/// `ETCD_ROOT_PASSWORD` makes the user root and enables auth at the first
/// start, and a restart keeps it without setting up again;
/// `ALLOW_NONE_AUTHENTICATION=yes` runs without auth.
#[test]
fn image_takes_bitnamis_authentication_variables() {
    let mut project = Project::new(None);
    project.build_image();
    let image = project.image.clone();

    let (refused, out) = Container::run(&project, "neither", &[&image]);
    assert!(!out.status.success(), "started with neither variable set");
    assert!(
        text(&out.stderr).contains(
            "The ETCD_ROOT_PASSWORD environment variable is empty or not set. Set the \
             environment variable ALLOW_NONE_AUTHENTICATION=yes to allow a blank password."
        ),
        "{}",
        text(&out.stderr)
    );
    drop(refused);

    let password = "Root-pw-4-cairn";
    let published = |i: usize| format!("127.0.0.1:{}:2379", project.ports[i - 1].port);
    let advertised =
        |i: usize| format!("ETCD_ADVERTISE_CLIENT_URLS=http://{}", project.endpoint(i));
    let root = format!("--user=root:{password}");
    let (with_auth, out) = Container::run(
        &project,
        "root-password",
        &[
            "-d",
            "-p",
            &published(1),
            "-e",
            &format!("ETCD_ROOT_PASSWORD={password}"),
            "-e",
            &advertised(1),
            &image,
        ],
    );
    assert!(out.status.success(), "docker run: {}", text(&out.stderr));
    let endpoint = project.endpoint(1);
    let as_root = |args: &[&str]| {
        let mut all = vec![root.as_str()];
        all.extend_from_slice(args);
        ctl(&endpoint, &all)
    };
    // A client with a user is served before auth is on too (etcd's
    // clients go on without a token then): wait for the anonymous refusal.
    eventually("auth enabled", Duration::from_secs(60), || {
        let out = ctl(&endpoint, &["get", "greeting"]);
        if text(&out.stderr).contains("etcdserver: user name is empty") {
            Ok(())
        } else {
            Err(format!("{}{}", text(&out.stdout), text(&out.stderr)))
        }
    });
    let put = as_root(&["put", "greeting", "hello"]);
    assert!(put.status.success(), "put as root: {}", text(&put.stderr));
    let authenticated = |when: &str| {
        let got = as_root(&["get", "greeting"]);
        assert_eq!(
            text(&got.stdout),
            "greeting\nhello\n",
            "{when}: {}",
            text(&got.stderr)
        );
        let anonymous = ctl(&endpoint, &["get", "greeting"]);
        assert!(!anonymous.status.success(), "{when}: served anonymously");
        assert!(
            text(&anonymous.stderr).contains("etcdserver: user name is empty"),
            "{when}: {}",
            text(&anonymous.stderr)
        );
        let roles = as_root(&["user", "get", "root"]);
        assert!(
            text(&roles.stdout).contains("Roles: root"),
            "{when}: {roles:?}"
        );
    };
    authenticated("first start");
    // Stopped with SIGTERM, which the entrypoint (process 1 while it set
    // up auth) passes on: cairn stops cleanly, well before docker's kill.
    let stopped = docker(&["stop", "-t", "20", &with_auth.name]);
    assert!(stopped.status.success(), "{}", text(&stopped.stderr));
    let code = docker(&["inspect", "-f", "{{.State.ExitCode}}", &with_auth.name]);
    assert_eq!(
        text(&code.stdout).trim(),
        "0",
        "exit status after docker stop"
    );
    let started = docker(&["start", &with_auth.name]);
    assert!(started.status.success(), "{}", text(&started.stderr));
    eventually(
        "a get as root after the restart",
        Duration::from_secs(60),
        || {
            let out = as_root(&["get", "greeting"]);
            if out.status.success() {
                Ok(())
            } else {
                Err(text(&out.stderr))
            }
        },
    );
    authenticated("after the restart");
    let logs = with_auth.logs();
    assert_eq!(
        logs.matches("setting up authentication").count(),
        1,
        "set up once, at the first start only:\n{logs}"
    );
    assert!(
        logs.contains("enabled authentication"),
        "no word of the set-up:\n{logs}"
    );
    assert!(
        !logs.contains(password),
        "the password is in the logs:\n{logs}"
    );
    drop(with_auth);

    let (without_auth, out) = Container::run(
        &project,
        "none",
        &[
            "-d",
            "-p",
            &published(2),
            "-e",
            "ALLOW_NONE_AUTHENTICATION=yes",
            "-e",
            &advertised(2),
            &image,
        ],
    );
    assert!(out.status.success(), "docker run: {}", text(&out.stderr));
    let open = project.endpoint(2);
    eventually("an anonymous put", Duration::from_secs(60), || {
        let out = ctl(&open, &["put", "greeting", "hello"]);
        if out.status.success() {
            Ok(())
        } else {
            Err(text(&out.stderr))
        }
    });
    assert_eq!(ctl_ok(&open, &["get", "greeting"]), "greeting\nhello\n");
    assert!(
        ctl_ok(&open, &["auth", "status"]).contains("Authentication Status: false"),
        "auth is on"
    );
    let logs = without_auth.logs();
    assert!(
        logs.contains("ALLOW_NONE_AUTHENTICATION=yes"),
        "no warning:\n{logs}"
    );
    drop(without_auth);

    let left = docker(&[
        "ps",
        "-a",
        "-q",
        "--filter",
        &format!("name={}{RUN_TAG}", project.name),
    ]);
    assert_eq!(text(&left.stdout), "", "containers left behind");
    let problems = project.tear_down();
    assert!(problems.is_empty(), "tear-down: {problems:?}");
    let left = project.leftovers();
    assert!(left.is_empty(), "left behind after tear-down: {left:?}");
}

/// The runtime stage of deploy/Dockerfile (built from source where a
/// registry is reachable) must be the one deploy/Dockerfile.local builds
/// here, but for where the binaries and the data dir come from.
#[test]
fn both_dockerfiles_build_the_same_runtime_image() {
    let runtime = |file: &str| -> Vec<String> {
        let dockerfile = std::fs::read_to_string(repo_root().join("deploy").join(file))
            .unwrap_or_else(|e| panic!("read deploy/{file}: {e}"));
        let (_, stage) = dockerfile
            .split_once("# ----- runtime -----\n")
            .unwrap_or_else(|| panic!("deploy/{file} has no runtime stage marker"));
        stage
            .lines()
            .map(|l| l.replace("--from=build ", "").replace("/out/", ""))
            .collect()
    };
    assert_eq!(runtime("Dockerfile"), runtime("Dockerfile.local"));
}
