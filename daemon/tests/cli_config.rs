//! The `cairn` binary's configuration behaviour, end to end: exit statuses,
//! one-line errors, `--help`, and the environment (which unit tests cannot
//! set without racing each other). Every run gets a cleared environment so
//! stray `ETCD_*` variables on the test machine cannot leak in.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs `cairn --print-config ARGS`: everything up to serving, then exit.
fn cairn(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("--print-config")
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("the cairn binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Asserts a refusal: status 1 and exactly one line, `cairn: <message>`.
fn assert_refused(args: &[&str], env: &[(&str, &str)], message: &str) {
    let out = cairn(args, env);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
    assert_eq!(stderr(&out), format!("cairn: {message}\n"), "{args:?}");
}

/// The resolved summary line for `key`, from a run that got that far.
fn summary_value(out: &Output, key: &str) -> String {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    let err = stdout(out);
    assert!(err.contains("cairn: resolved configuration:"), "{err}");
    let prefix = format!("  {key}: ");
    err.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {key} in {err}"))
        .to_owned()
}

fn temp_yaml(tag: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "cairn-cli-config-{}-{tag}.yaml",
        std::process::id()
    ));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn print_config_summarises_a_valid_configuration_and_exits() {
    let out = cairn(&["--name", "infra1"], &[]);
    assert_eq!(summary_value(&out, "name"), "infra1");
    assert_eq!(summary_value(&out, "data-dir"), "infra1.cairn");
    assert_eq!(
        summary_value(&out, "initial-cluster"),
        "infra1=http://localhost:2380"
    );
    assert_eq!(summary_value(&out, "member-id"), "8e9e05c52164694d");
    assert_eq!(summary_value(&out, "cluster-id"), "cdf818194e3a8c32");
}

#[test]
fn malformed_url_is_one_line_naming_flag_value_and_reason() {
    assert_refused(
        &["--listen-client-urls", "not a url"],
        &[],
        r#"invalid value "not a url" for flag --listen-client-urls: URL scheme must be http, https, unix or unixs: not a url"#,
    );
}

#[test]
fn other_refusals_are_one_line_too() {
    assert_refused(
        &["--heartbeat-interval=300"],
        &[],
        "--election-timeout (1000ms) must be at least 5 times --heartbeat-interval (300ms)",
    );
    assert_refused(
        &[
            "--name",
            "foo",
            "--initial-cluster",
            "bar=http://localhost:2380",
        ],
        &[],
        r#"this member's name "foo" is missing from --initial-cluster "bar=http://localhost:2380""#,
    );
    assert_refused(
        &[
            "--peer-cert-file",
            "peer.pem",
            "--listen-peer-urls",
            "https://127.0.0.1:2380",
        ],
        &[],
        "cannot listen on TLS for 127.0.0.1:2380: KeyFile and CertFile are not presented \
         (--peer-cert-file, --peer-key-file)",
    );
    assert_refused(
        &["--enable-v2"],
        &[],
        "--enable-v2 is not supported: cairn serves only the v3 API",
    );
}

#[test]
fn unknown_flags_are_usage_errors_naming_the_flag() {
    let out = cairn(&["--bogus-flag"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--bogus-flag"), "{}", stderr(&out));
    let out = cairn(&["--pre-vote", "false"], &[]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a boolean takes no separate value"
    );
}

#[test]
fn help_lists_every_etcd_flag() {
    let out = cairn(&["--help"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let help = stdout(&out);
    for flag in [
        "name",
        "data-dir",
        "wal-dir",
        "listen-client-urls",
        "advertise-client-urls",
        "listen-peer-urls",
        "initial-advertise-peer-urls",
        "initial-cluster",
        "initial-cluster-state",
        "initial-cluster-token",
        "heartbeat-interval",
        "election-timeout",
        "snapshot-count",
        "max-snapshots",
        "max-wals",
        "quota-backend-bytes",
        "max-txn-ops",
        "max-request-bytes",
        "pre-vote",
        "strict-reconfig-check",
        "auto-compaction-mode",
        "auto-compaction-retention",
        "listen-metrics-urls",
        "log-level",
        "logger",
        "log-outputs",
        "enable-v2",
        "config-file",
        "experimental-enable-lease-checkpoint",
        "experimental-lease-checkpoint-interval",
        "experimental-watch-progress-notify-interval",
        "force-new-cluster",
        "cert-file",
        "key-file",
        "client-cert-auth",
        "trusted-ca-file",
        "auto-tls",
        "peer-cert-file",
        "peer-key-file",
        "peer-client-cert-auth",
        "peer-trusted-ca-file",
        "peer-auto-tls",
    ] {
        let spelled = format!("--{flag} ");
        let spelled_bool = format!("--{flag}[=");
        assert!(
            help.contains(&spelled) || help.contains(&spelled_bool),
            "--help does not list --{flag}"
        );
    }
}

/// Every flag etcd 3.5.1 lists in its own `--help` is one cairn takes.
#[test]
fn every_flag_etcd_lists_is_taken() {
    let etcd = Command::new(support::Server::Etcd.binary())
        .arg("--help")
        .output()
        .expect("etcd 3.5.1 runs");
    let etcd_help = format!("{}{}", stdout(&etcd), stderr(&etcd));
    let etcd_flags: Vec<&str> = etcd_help
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--"))
        .filter_map(|l| l.split([' ', '\t']).next())
        .filter(|f| !f.is_empty() && *f != "version" && *f != "help")
        .collect();
    assert!(
        etcd_flags.len() > 80,
        "etcd lists {} flags?",
        etcd_flags.len()
    );
    let help = stdout(&cairn(&["--help"], &[]));
    let missing: Vec<&&str> = etcd_flags
        .iter()
        .filter(|f| !help.contains(&format!("--{f} ")) && !help.contains(&format!("--{f}[=")))
        .collect();
    assert!(missing.is_empty(), "cairn does not take {missing:?}");
    // Taken means parsed, from the command line and the environment.
    let out = cairn(
        &["--unsafe-no-fsync", "--metrics=extensive"],
        &[("ETCD_GRPC_KEEPALIVE_INTERVAL", "1s"), ("ETCD_CORS", "x")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("ETCD_CORS"), "{}", stderr(&out));
}

/// A flag whose effect cairn cannot give is refused when set, saying why.
#[test]
fn compatibility_flags_that_matter_are_refused() {
    assert_refused(
        &["--discovery=https://discovery.etcd.io/abc"],
        &[],
        "--discovery=https://discovery.etcd.io/abc is not supported: cairn cannot bootstrap \
         through a discovery service; list the members with --initial-cluster",
    );
    assert_refused(
        &[],
        &[("ETCD_PROXY", "on")],
        "--proxy=on is not supported: cairn has no v2 proxy mode; run a member",
    );
}

#[test]
fn version_names_cairn_and_the_etcd_api() {
    let out = cairn(&["--version"], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        format!(
            "cairn Version: {}\netcd API Version: 3.5\n",
            env!("CARGO_PKG_VERSION")
        )
    );
}

#[test]
fn every_flag_reads_its_etcd_variable() {
    let out = cairn(
        &[],
        &[
            ("ETCD_NAME", "envname"),
            ("ETCD_INITIAL_CLUSTER_TOKEN", "envtoken"),
            ("ETCD_PRE_VOTE", "false"),
            ("ETCD_HEARTBEAT_INTERVAL", "50"),
        ],
    );
    assert_eq!(summary_value(&out, "name"), "envname");
    assert_eq!(summary_value(&out, "initial-cluster-token"), "envtoken");
    assert_eq!(summary_value(&out, "pre-vote"), "false");
    assert_eq!(summary_value(&out, "heartbeat-interval"), "50ms");
}

/// etcd 3.5.1 refuses to start when both are set; cairn lets the flag win.
#[test]
fn flags_win_over_the_environment() {
    let out = cairn(
        &["--name", "flagname", "--pre-vote"],
        &[("ETCD_NAME", "envname"), ("ETCD_PRE_VOTE", "false")],
    );
    assert_eq!(summary_value(&out, "name"), "flagname");
    assert_eq!(summary_value(&out, "pre-vote"), "true");
}

#[test]
fn a_bad_environment_value_is_refused() {
    assert_refused(
        &[],
        &[("ETCD_HEARTBEAT_INTERVAL", "abc")],
        r#"invalid value "abc" for flag --heartbeat-interval: not a non-negative integer"#,
    );
}

#[test]
fn unknown_etcd_variables_are_warned_about() {
    let out = cairn(&[], &[("ETCD_BOGUS", "1")]);
    assert!(
        stderr(&out).starts_with("cairn: warning: unrecognized environment variable ETCD_BOGUS\n"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn go_style_single_dash_flags_work() {
    let out = cairn(&["-name", "dashname", "-pre-vote=false"], &[]);
    assert_eq!(summary_value(&out, "name"), "dashname");
    assert_eq!(summary_value(&out, "pre-vote"), "false");
}

/// As with etcd: given a config file, other flags and ETCD_* are ignored.
#[test]
fn a_config_file_ignores_flags_and_environment() {
    let path = temp_yaml("ignores", "name: cfgname\nunknown-key: ignored\n");
    let file = path.to_str().unwrap();
    let out = cairn(
        &["--config-file", file, "--name", "other"],
        &[("ETCD_NAME", "envname"), ("ETCD_PRE_VOTE", "false")],
    );
    assert_eq!(summary_value(&out, "name"), "cfgname");
    assert_eq!(summary_value(&out, "pre-vote"), "true");
    assert_eq!(summary_value(&out, "config-file"), file);

    let out = cairn(&[], &[("ETCD_CONFIG_FILE", file)]);
    assert_eq!(summary_value(&out, "name"), "cfgname");
    std::fs::remove_file(path).unwrap();
}

#[test]
fn config_file_problems_are_one_line() {
    let path = temp_yaml("problem", "heartbeat-interval: 300\n");
    let file = path.to_str().unwrap();
    assert_refused(
        &["--config-file", file],
        &[],
        &format!(
            "config file {file}: --election-timeout (1000ms) must be at least 5 times \
             --heartbeat-interval (300ms)"
        ),
    );
    std::fs::remove_file(&path).unwrap();

    let out = cairn(&["--config-file", file], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!("cairn: cannot read config file {file}: ")),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}
