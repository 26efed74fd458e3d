//! The container image's entrypoint: gives bitnami/etcd's authentication
//! variables the meaning they have in that image, then runs `cairn` with
//! the container's arguments, so `docker run` lines written for
//! bitnami/etcd work with only the image name changed.
//!
//! - `ALLOW_NONE_AUTHENTICATION=yes` (`true` and `1` too, in any case):
//!   cairn runs without authentication; a warning says so.
//! - `ETCD_ROOT_PASSWORD`: at the member's first start (its data dir
//!   empty), the user `root` is created with that password, granted the
//!   role `root`, and authentication is enabled, with cairnctl against the
//!   member itself while it serves. Later starts leave authentication as
//!   the cluster has it (an operator's `auth disable` stays). In a cluster
//!   only the first member of the initial cluster does it, as in bitnami's
//!   image; the others only start. The password wins when both are set.
//! - Neither: the container refuses to start, with bitnami's message.
//!
//! `--help`, `--version`, `--print-config` and arguments cairn rejects go
//! straight to cairn, unchecked.
//!
//! With nothing to set up, the entrypoint replaces itself with cairn
//! (exec), which is then the container's process 1 as before. When it
//! sets up authentication it starts cairn as its child, stays to pass
//! SIGTERM and SIGINT on, and exits with cairn's status.
//!
//! Invariants: the password never appears on a command line or in a log
//! (cairnctl reads it from stdin; it is removed from the environment of
//! cairn and cairnctl). A first start interrupted before authentication
//! is on is not taken for a finished one: a marker file in the data dir,
//! removed only once authentication is on, makes the next start set up
//! again. A step that fails is retried for as long as cairn runs (a
//! cluster's first member waits for the others to form a quorum).

use std::ffi::OsString;
use std::io::Write as _;
use std::os::unix::fs::DirBuilderExt as _;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::Duration;

use cairn::config::urls::{EtcdUrl, Scheme};
use cairn::config::{self, Flags, ServerConfig};
use rustix::process::{Pid, Signal, kill_process};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

const PASSWORD_VAR: &str = "ETCD_ROOT_PASSWORD";
const ALLOW_NONE_VAR: &str = "ALLOW_NONE_AUTHENTICATION";

/// The words bitnami's error uses, so that people searching for it find
/// this image's refusal too.
const NEITHER_SET: &str = "The ETCD_ROOT_PASSWORD environment variable is empty or not set. \
     Set the environment variable ALLOW_NONE_AUTHENTICATION=yes to allow a blank password. \
     This is only recommended for development environments.";

/// In the data dir from before cairn first starts until authentication
/// is on: its presence means the first start's set-up is unfinished.
const PENDING_MARKER: &str = ".cairn-entrypoint-auth-pending";

/// Pause between two tries of a set-up step.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// A step still failing is reported on its first failure and then every
/// this many tries.
const REPORT_EVERY: u32 = 30;

fn say(line: &str) {
    eprintln!("cairn-entrypoint: {line}");
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("/usr/local/bin"));
    let mut cairn = Command::new(dir.join("cairn"));
    cairn.args(&args).env_remove(PASSWORD_VAR);

    let with_name = std::iter::once(OsString::from("cairn")).chain(args.iter().cloned());
    let flags = match Flags::try_parse_go(with_name) {
        Ok(flags) if !flags.version && !flags.print_config => flags,
        // Help, the version, the configuration or a usage error: cairn
        // prints them.
        _ => return exec(cairn),
    };

    let password = std::env::var(PASSWORD_VAR).ok().filter(|p| !p.is_empty());
    let allow_none = std::env::var(ALLOW_NONE_VAR).ok().filter(|v| is_yes(v));
    if let Some(value) = &allow_none {
        say(&format!(
            "warning: {ALLOW_NONE_VAR}={value}: anyone who reaches the client port may read \
             and change everything; keep this to development and tests"
        ));
    }
    let Some(password) = password else {
        if allow_none.is_some() {
            return exec(cairn);
        }
        say(&format!("error: {NEITHER_SET}"));
        return ExitCode::FAILURE;
    };
    if password.chars().any(char::is_whitespace) {
        // cairnctl reads the password as one word, as etcdctl does; a
        // longer one would be cut short without a word.
        say(&format!(
            "error: {PASSWORD_VAR} must not contain white space"
        ));
        return ExitCode::FAILURE;
    }

    // A configuration cairn refuses: cairn says why.
    let Ok(server) = config::load(&flags) else {
        return exec(cairn);
    };
    if !sets_up_auth(&server) {
        return exec(cairn);
    }
    let marker = server.data_dir.join(PENDING_MARKER);
    if !(is_empty_dir(&server.data_dir) || marker.exists()) {
        return exec(cairn);
    }
    if let Err(e) = mark_pending(&server.data_dir, &marker) {
        say(&format!(
            "error: cannot write {}: {e}",
            server.data_dir.display()
        ));
        return ExitCode::FAILURE;
    }
    say(&format!(
        "first start with {PASSWORD_VAR}: setting up authentication"
    ));
    supervise(cairn, &Ctl::new(&dir, &server), &password, &marker)
}

/// bitnami's reading of a yes/no variable.
fn is_yes(value: &str) -> bool {
    let value = value.to_ascii_lowercase();
    value == "yes" || value == "true" || value == "1"
}

/// Whether this member creates root and enables auth: the only member, or
/// the first one named in the initial cluster.
fn sets_up_auth(server: &ServerConfig) -> bool {
    server
        .initial_cluster
        .first()
        .is_none_or(|(first, _)| *first == server.name)
}

/// A data dir that does not exist yet counts as empty, and so does a new
/// volume's `lost+found`.
fn is_empty_dir(dir: &Path) -> bool {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            entries.all(|e| e.is_ok_and(|e| e.file_name().as_encoded_bytes() == b"lost+found"))
        }
        Err(_) => !dir.exists(),
    }
}

/// Creates the data dir as cairn would (owner only) and the marker in it.
fn mark_pending(data_dir: &Path, marker: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)?;
    std::fs::File::create(marker)?.sync_all()?;
    std::fs::File::open(data_dir)?.sync_all()
}

/// Replaces this process with `cmd`; returns only if that fails.
fn exec(mut cmd: Command) -> ExitCode {
    let e = cmd.exec();
    say(&format!(
        "error: cannot run {}: {e}",
        cmd.get_program().to_string_lossy()
    ));
    ExitCode::from(127)
}

/// Runs cairn as a child, sets up authentication while it serves, then
/// waits for it, passing SIGTERM and SIGINT on.
fn supervise(mut cmd: Command, ctl: &Ctl, password: &str, marker: &Path) -> ExitCode {
    // Listening before cairn starts: process 1 without a handler would
    // drop a signal sent in between.
    let mut signals = match Signals::new([SIGTERM, SIGINT]) {
        Ok(signals) => signals,
        Err(e) => {
            say(&format!("error: cannot handle signals: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let mut cairn = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            say(&format!(
                "error: cannot run {}: {e}",
                cmd.get_program().to_string_lossy()
            ));
            return ExitCode::from(127);
        }
    };
    let pid = i32::try_from(cairn.id()).ok().and_then(Pid::from_raw);
    std::thread::spawn(move || {
        for signal in signals.forever() {
            let signal = if signal == SIGINT {
                Signal::INT
            } else {
                Signal::TERM
            };
            if let Some(pid) = pid {
                let _ = kill_process(pid, signal);
            }
        }
    });

    match set_up_auth(&mut cairn, ctl, password) {
        Ok(()) => {
            if let Err(e) = std::fs::remove_file(marker) {
                say(&format!("warning: cannot remove {}: {e}", marker.display()));
            }
        }
        Err(status) => {
            say("cairn stopped before authentication was set up; the next start tries again");
            return exit_code(status);
        }
    }
    match cairn.wait() {
        Ok(status) => exit_code(status),
        Err(e) => {
            say(&format!("error: waiting for cairn: {e}"));
            ExitCode::FAILURE
        }
    }
}

/// cairn's exit status as a shell gives it: the code, or 128 plus the
/// signal that ended it.
fn exit_code(status: ExitStatus) -> ExitCode {
    let code = status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// etcdctl's steps as bitnami's image takes them: root with the password,
/// root granted the role root (which always exists, with every
/// permission), auth enabled. Each step is retried until it succeeds, or
/// answered as one that already happened; the error is cairn's status once
/// cairn has stopped.
fn set_up_auth(cairn: &mut Child, ctl: &Ctl, password: &str) -> Result<(), ExitStatus> {
    // Also waits for the member to serve with a quorum (the status is
    // read through raft). Refused to an anonymous client: auth is on.
    let enabled = retry(cairn, "read the authentication status", || {
        match ctl.run(&["auth", "status"], None) {
            Ok(out) => Ok(out.contains("Authentication Status: true")),
            Err(e) if e.contains("user name is empty") => Ok(true),
            Err(e) => Err(e),
        }
    })?;
    if enabled {
        say("authentication is enabled already; nothing to set up");
        return Ok(());
    }
    // An earlier try may have been applied after its answer was lost.
    retry(cairn, "create the user root", || {
        match ctl.run(
            &["user", "add", "root", "--interactive=false"],
            Some(password),
        ) {
            Err(e) if !e.contains("user name already exists") => Err(e),
            _ => Ok(()),
        }
    })?;
    retry(cairn, "grant root the role root", || {
        ctl.run(&["user", "grant-role", "root", "root"], None)
            .map(drop)
    })?;
    retry(cairn, "enable authentication", || {
        match ctl.run(&["auth", "enable"], None) {
            Err(e) if !e.contains("user name is empty") => Err(e),
            _ => Ok(()),
        }
    })?;
    say("created the user root, granted it the role root and enabled authentication");
    Ok(())
}

/// Tries `step` until it succeeds, pausing between tries, as long as
/// cairn runs.
fn retry<T>(
    cairn: &mut Child,
    what: &str,
    mut step: impl FnMut() -> Result<T, String>,
) -> Result<T, ExitStatus> {
    let mut tries = 0u32;
    loop {
        if let Ok(Some(status)) = cairn.try_wait() {
            return Err(status);
        }
        match step() {
            Ok(value) => return Ok(value),
            Err(e) => {
                if tries % REPORT_EVERY == 0 {
                    say(&format!("waiting to {what}: {e}"));
                }
                tries += 1;
                sleep(RETRY_PAUSE);
            }
        }
    }
}

/// cairnctl aimed at this member's own client port.
struct Ctl {
    program: PathBuf,
    global: Vec<String>,
}

impl Ctl {
    fn new(dir: &Path, server: &ServerConfig) -> Ctl {
        let url = server
            .listen_client_urls
            .iter()
            .find(|u| matches!(u.scheme(), Scheme::Http | Scheme::Https));
        let https = url.is_some_and(|u| u.scheme() == Scheme::Https);
        let mut global = vec![
            format!("--endpoints={}", url.map_or_else(default_endpoint, local)),
            "--dial-timeout=2s".to_owned(),
            "--command-timeout=5s".to_owned(),
        ];
        if https {
            // The member's own port on the loopback interface: no one else
            // can be listening there, and its certificate need not name
            // the address.
            global.push("--insecure-skip-tls-verify".to_owned());
            let tls = &server.client_tls;
            // With client certificates required, the member's own serves
            // (it is usable as a client's, as bitnami's image assumes)
            // unless cairnctl's variables name another.
            if tls.client_cert_auth && std::env::var_os("ETCDCTL_CERT").is_none() {
                if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
                    global.push(format!("--cert={}", cert.display()));
                    global.push(format!("--key={}", key.display()));
                }
            }
        }
        Ctl {
            program: dir.join("cairnctl"),
            global,
        }
    }

    /// Runs one command: its stdout, or its stderr when it fails. `stdin`
    /// is written to it followed by a line break.
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.global)
            .args(args)
            // Anonymous until auth is on; the container's own settings
            // for cairnctl must not log in or aim elsewhere.
            .env_remove("ETCDCTL_USER")
            .env_remove("ETCDCTL_PASSWORD")
            .env_remove("ETCDCTL_ENDPOINTS")
            .env_remove("ETCDCTL_DEBUG")
            .env_remove(PASSWORD_VAR)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.program.display()))?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // A write error shows as the command's own failure.
            let _ = pipe.write_all(format!("{text}\n").as_bytes());
        }
        let out = child
            .wait_with_output()
            .map_err(|e| format!("waiting for cairnctl: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }
}

/// A listening URL as this host dials it: a wildcard address becomes the
/// loopback one.
fn local(url: &EtcdUrl) -> String {
    let host = match url.host() {
        "0.0.0.0" | "" => "127.0.0.1",
        "[::]" => "[::1]",
        host => host,
    };
    format!(
        "{}://{host}:{}",
        url.scheme().as_str(),
        url.port().unwrap_or(2379)
    )
}

fn default_endpoint() -> String {
    "http://127.0.0.1:2379".to_owned()
}
