//! Specification tests for the configuration: how each flag parses, what
//! each defaults to, and every way resolution refuses a value. The facts
//! about etcd that they pin were observed on etcd 3.5.1.
//!
//! Environment variables are not set here (doing so in-process would race
//! with other tests); `tests/cli_config.rs` covers them through the binary.

use std::path::PathBuf;
use std::time::Duration;

use super::*;

fn flags(args: &[&str]) -> Flags {
    let argv = std::iter::once("cairn").chain(args.iter().copied());
    Flags::try_parse_go(argv).unwrap_or_else(|e| panic!("{args:?} did not parse: {e}"))
}

fn config(args: &[&str]) -> ServerConfig {
    resolve(&flags(args)).unwrap_or_else(|e| panic!("{args:?} did not resolve: {e}"))
}

fn error(args: &[&str]) -> String {
    match resolve(&flags(args)).and_then(|c| c.verify_bootstrap().map(|()| c)) {
        Ok(_) => panic!("{args:?} resolved, but should not"),
        Err(e) => e.to_string(),
    }
}

fn urls(list: &[urls::EtcdUrl]) -> Vec<String> {
    list.iter().map(|u| u.to_string()).collect()
}

// ----- Defaults -----

#[test]
fn defaults_are_etcds() {
    let c = config(&[]);
    assert_eq!(c.name, "default");
    assert_eq!(c.data_dir, PathBuf::from("default.cairn"));
    assert_eq!(c.wal_dir, None);
    assert_eq!(urls(&c.listen_client_urls), ["http://localhost:2379"]);
    assert_eq!(urls(&c.advertise_client_urls), ["http://localhost:2379"]);
    assert_eq!(urls(&c.listen_peer_urls), ["http://localhost:2380"]);
    assert_eq!(
        urls(&c.initial_advertise_peer_urls),
        ["http://localhost:2380"]
    );
    assert!(c.listen_metrics_urls.is_empty());
    assert_eq!(
        urls::join_cluster(&c.initial_cluster),
        "default=http://localhost:2380"
    );
    assert_eq!(c.initial_cluster_state, ClusterState::New);
    assert_eq!(c.initial_cluster_token, "etcd-cluster");
    assert_eq!(c.heartbeat_interval, Duration::from_millis(100));
    assert_eq!(c.election_timeout, Duration::from_millis(1000));
    assert_eq!(c.snapshot_count, 100_000);
    assert_eq!(c.max_snapshots, 5);
    assert_eq!(c.max_wals, 5);
    assert_eq!(
        c.quota_backend_bytes,
        BackendQuota::Bytes(2 * 1024 * 1024 * 1024)
    );
    assert_eq!(c.max_txn_ops, 128);
    assert_eq!(c.max_request_bytes, 1_572_864);
    assert!(c.pre_vote, "etcd 3.5.1 logs pre-vote:true by default");
    assert!(c.strict_reconfig_check);
    assert_eq!(c.auto_compaction, AutoCompaction::Disabled);
    assert_eq!(c.log_level, LogLevel::Info);
    assert_eq!(c.log_outputs, ["default"]);
    assert!(!c.experimental_enable_lease_checkpoint);
    assert_eq!(
        c.experimental_lease_checkpoint_interval,
        Duration::from_secs(300)
    );
    assert_eq!(
        c.experimental_watch_progress_notify_interval,
        Duration::from_secs(600)
    );
    assert!(!c.force_new_cluster);
    assert_eq!(c.client_tls, TlsConfig::default());
    // etcd checks a peer's client certificate against its address unless
    // told not to.
    assert_eq!(
        c.peer_tls,
        TlsConfig {
            check_client_san: true,
            ..TlsConfig::default()
        }
    );
    assert_eq!(c.config_file, None);
    c.verify_bootstrap().unwrap();
}

#[test]
fn default_configuration_gets_etcds_ids() {
    let c = config(&[]);
    assert_eq!(c.local_member_id(), Some(0x8e9e05c52164694d));
    assert_eq!(c.initial_cluster_id(), 0xcdf818194e3a8c32);
}

/// The file reader fills in the same defaults as the flags.
#[test]
fn file_defaults_match_flag_defaults() {
    let from_file = FileConfig::from_yaml("")
        .unwrap()
        .into_flags(PathBuf::from("x.yaml"));
    let mut from_flags = flags(&[]);
    from_flags.config_file = Some(PathBuf::from("x.yaml"));
    from_flags.advertise_client_urls = Some(defaults::ADVERTISE_CLIENT_URLS.to_owned());
    assert_eq!(from_file, from_flags);
}

// ----- Each flag -----

#[test]
fn member_flags() {
    let c = config(&[
        "--name=infra1",
        "--data-dir",
        "/var/lib/cairn",
        "--wal-dir=/wal",
        "--snapshot-count=10",
        "--heartbeat-interval=50",
        "--election-timeout=500",
        "--max-snapshots=0",
        "--max-wals=7",
        "--quota-backend-bytes=1024",
        "--max-txn-ops=64",
        "--max-request-bytes=100",
    ]);
    assert_eq!(c.name, "infra1");
    assert_eq!(c.data_dir, PathBuf::from("/var/lib/cairn"));
    assert_eq!(c.wal_dir, Some(PathBuf::from("/wal")));
    assert_eq!(c.snapshot_count, 10);
    assert_eq!(c.heartbeat_interval, Duration::from_millis(50));
    assert_eq!(c.election_timeout, Duration::from_millis(500));
    assert_eq!(c.max_snapshots, 0);
    assert_eq!(c.max_wals, 7);
    assert_eq!(c.quota_backend_bytes, BackendQuota::Bytes(1024));
    assert_eq!(c.max_txn_ops, 64);
    assert_eq!(c.max_request_bytes, 100);
}

#[test]
fn data_dir_defaults_to_name_dot_cairn() {
    assert_eq!(
        config(&["--name", "node7"]).data_dir,
        PathBuf::from("node7.cairn")
    );
}

#[test]
fn url_flags_take_comma_separated_lists() {
    let c = config(&[
        "--listen-client-urls=http://127.0.0.1:2379,unix://localhost:4001",
        "--advertise-client-urls=http://10.0.0.1:2379",
        "--listen-peer-urls=http://127.0.0.1:2380",
        "--initial-advertise-peer-urls=http://localhost:2380",
        "--listen-metrics-urls=http://127.0.0.1:2381",
    ]);
    assert_eq!(
        urls(&c.listen_client_urls),
        ["http://127.0.0.1:2379", "unix://localhost:4001"]
    );
    assert_eq!(urls(&c.advertise_client_urls), ["http://10.0.0.1:2379"]);
    assert_eq!(urls(&c.listen_peer_urls), ["http://127.0.0.1:2380"]);
    assert_eq!(urls(&c.listen_metrics_urls), ["http://127.0.0.1:2381"]);
}

#[test]
fn clustering_flags() {
    let c = config(&[
        "--name=b",
        "--initial-advertise-peer-urls=http://127.0.0.1:2382",
        "--initial-cluster=a=http://127.0.0.1:2380,b=http://127.0.0.1:2382",
        "--initial-cluster-state=existing",
        "--initial-cluster-token=tok",
        "--strict-reconfig-check=false",
        "--pre-vote=false",
    ]);
    assert_eq!(c.initial_cluster.len(), 2);
    assert_eq!(c.initial_cluster[1].0, "b");
    assert_eq!(c.initial_cluster_state, ClusterState::Existing);
    assert_eq!(c.initial_cluster_token, "tok");
    assert!(!c.strict_reconfig_check);
    assert!(!c.pre_vote);
    c.verify_bootstrap().unwrap();
}

#[test]
fn logging_and_experimental_flags() {
    let c = config(&[
        "--log-level=debug",
        "--logger=zap",
        "--log-outputs=stderr,/var/log/cairn.log",
        "--experimental-enable-lease-checkpoint",
        "--experimental-lease-checkpoint-interval=90s",
        "--experimental-watch-progress-notify-interval=5s",
        "--force-new-cluster",
        "--enable-v2=false",
        "--experimental-initial-corrupt-check",
    ]);
    assert!(c.experimental_initial_corrupt_check);
    assert_eq!(c.log_level, LogLevel::Debug);
    assert_eq!(c.log_outputs, ["stderr", "/var/log/cairn.log"]);
    assert!(c.experimental_enable_lease_checkpoint);
    assert_eq!(
        c.experimental_lease_checkpoint_interval,
        Duration::from_secs(90)
    );
    assert_eq!(
        c.experimental_watch_progress_notify_interval,
        Duration::from_secs(5)
    );
    assert!(c.force_new_cluster);
    for level in ["info", "warn", "error", "panic", "fatal"] {
        assert_eq!(config(&["--log-level", level]).log_level.to_string(), level);
    }
}

#[test]
fn tls_flags_are_accepted_by_the_parser() {
    let f = flags(&[
        "--cert-file=c.pem",
        "--key-file=k.pem",
        "--client-cert-auth",
        "--trusted-ca-file=ca.pem",
        "--auto-tls",
        "--peer-cert-file=pc.pem",
        "--peer-key-file=pk.pem",
        "--peer-client-cert-auth",
        "--peer-trusted-ca-file=pca.pem",
        "--peer-auto-tls",
    ]);
    assert_eq!(f.cert_file, Some(PathBuf::from("c.pem")));
    assert_eq!(f.key_file, Some(PathBuf::from("k.pem")));
    assert!(f.client_cert_auth && f.auto_tls && f.peer_client_cert_auth && f.peer_auto_tls);
    assert_eq!(f.trusted_ca_file, Some(PathBuf::from("ca.pem")));
    assert_eq!(f.peer_cert_file, Some(PathBuf::from("pc.pem")));
    assert_eq!(f.peer_key_file, Some(PathBuf::from("pk.pem")));
    assert_eq!(f.peer_trusted_ca_file, Some(PathBuf::from("pca.pem")));
}

#[test]
fn quota_zero_is_two_gib_and_negative_disables_it() {
    assert_eq!(
        config(&["--quota-backend-bytes=0"]).quota_backend_bytes,
        BackendQuota::Bytes(defaults::BACKEND_QUOTA_BYTES)
    );
    assert_eq!(
        config(&["--quota-backend-bytes=-1"]).quota_backend_bytes,
        BackendQuota::Disabled
    );
}

#[test]
fn auto_compaction_periodic_takes_durations_or_hours() {
    let periodic = |r: &str| config(&["--auto-compaction-retention", r]).auto_compaction;
    assert_eq!(
        periodic("1h"),
        AutoCompaction::Periodic(Duration::from_secs(3600))
    );
    assert_eq!(
        periodic("30m"),
        AutoCompaction::Periodic(Duration::from_secs(1800))
    );
    assert_eq!(
        periodic("5"),
        AutoCompaction::Periodic(Duration::from_secs(5 * 3600))
    );
    assert_eq!(periodic("0"), AutoCompaction::Disabled);
    assert_eq!(periodic("0s"), AutoCompaction::Disabled);
}

#[test]
fn auto_compaction_revision_takes_a_count() {
    let c = config(&[
        "--auto-compaction-mode=revision",
        "--auto-compaction-retention=1000",
    ]);
    assert_eq!(c.auto_compaction, AutoCompaction::Revision(1000));
}

// ----- etcd's initial-cluster defaulting -----

/// `etcd --name foo` logs `"initial-cluster":"foo=http://localhost:2380"`.
#[test]
fn a_named_member_without_initial_cluster_bootstraps_itself() {
    let c = config(&["--name", "foo"]);
    assert_eq!(
        urls::join_cluster(&c.initial_cluster),
        "foo=http://localhost:2380"
    );
    c.verify_bootstrap().unwrap();

    let c = config(&[
        "--name=infra1",
        "--initial-advertise-peer-urls=http://127.0.0.1:12380",
        "--initial-cluster-token=cairn-test-token",
    ]);
    assert_eq!(
        urls::join_cluster(&c.initial_cluster),
        "infra1=http://127.0.0.1:12380"
    );
    assert_eq!(c.local_member_id(), Some(0x206e24456ec8dd89));
    assert_eq!(c.initial_cluster_id(), 1044396170071264749);
}

/// etcd compares --initial-cluster with its default text, so spelling the
/// default out is the same as leaving it out.
#[test]
fn the_default_initial_cluster_spelled_out_is_still_rewritten() {
    let c = config(&[
        "--name=foo",
        "--initial-cluster=default=http://localhost:2380",
    ]);
    assert_eq!(
        urls::join_cluster(&c.initial_cluster),
        "foo=http://localhost:2380"
    );
}

/// With the name left at `default`, etcd does not rewrite the cluster; a
/// changed advertise URL then no longer matches (etcd refuses the same).
#[test]
fn the_default_name_keeps_the_default_cluster() {
    let c = config(&["--initial-advertise-peer-urls=http://127.0.0.1:2390"]);
    assert_eq!(
        urls::join_cluster(&c.initial_cluster),
        "default=http://localhost:2380"
    );
    assert!(c.verify_bootstrap().is_err());
}

// ----- Go-style spellings -----

#[test]
fn go_single_dash_long_flags_work() {
    let f = flags(&[
        "-name",
        "dashname",
        "-heartbeat-interval=200",
        "-pre-vote=false",
    ]);
    assert_eq!(f.name, "dashname");
    assert_eq!(f.heartbeat_interval, "200");
    assert!(!f.pre_vote);
}

#[test]
fn space_and_equals_forms_are_the_same() {
    assert_eq!(flags(&["--name", "x"]), flags(&["--name=x"]));
    assert_eq!(flags(&["-name", "x"]), flags(&["-name=x"]));
}

#[test]
fn a_value_that_looks_like_a_flag_is_still_a_value() {
    // Go's flag package hands the next argument to a flag that takes one.
    assert_eq!(flags(&["-name", "-data-dir"]).name, "-data-dir");
    assert_eq!(
        flags(&["--heartbeat-interval", "-1"]).heartbeat_interval,
        "-1"
    );
}

#[test]
fn rewriting_leaves_unknown_and_short_flags_alone() {
    let out = normalize_go_args(["cairn", "-name", "x", "-bogus", "-h", "--", "-name"]);
    let out: Vec<_> = out.iter().map(|s| s.to_str().unwrap()).collect();
    assert_eq!(out, ["cairn", "--name", "x", "-bogus", "-h", "--", "-name"]);
}

#[test]
fn booleans_take_go_forms() {
    assert!(flags(&["--pre-vote"]).pre_vote);
    assert!(!flags(&["--pre-vote=false"]).pre_vote);
    assert!(!flags(&["--pre-vote=0"]).pre_vote);
    assert!(!flags(&["--pre-vote=F"]).pre_vote);
    assert!(flags(&["--pre-vote=TRUE"]).pre_vote);
    assert!(flags(&["--force-new-cluster=t"]).force_new_cluster);
    assert!(!flags(&[]).force_new_cluster);
}

/// `etcd --pre-vote false` refuses the stray `false`; so does cairn.
#[test]
fn a_boolean_does_not_take_the_next_argument() {
    assert!(Flags::try_parse_go(["cairn", "--pre-vote", "false"]).is_err());
}

#[test]
fn bad_booleans_and_unknown_flags_are_usage_errors() {
    let e = Flags::try_parse_go(["cairn", "--pre-vote=notabool"]).unwrap_err();
    assert!(e.to_string().contains("notabool"), "{e}");
    let e = Flags::try_parse_go(["cairn", "--bogus-flag"]).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("--bogus-flag"), "{e}");
}

#[test]
fn version_is_a_flag_of_ours() {
    assert!(flags(&["--version"]).version);
    assert!(flags(&["-version"]).version);
}

// ----- Every refusal, with its message -----

#[test]
fn malformed_urls_name_flag_value_and_reason() {
    assert_eq!(
        error(&[
            "--listen-client-urls",
            "not a url",
            "--advertise-client-urls=http://a:1"
        ]),
        r#"invalid value "not a url" for flag --listen-client-urls: URL scheme must be http, https, unix or unixs: not a url"#
    );
    assert_eq!(
        error(&["--listen-peer-urls=http://127.0.0.1"]),
        r#"invalid value "http://127.0.0.1" for flag --listen-peer-urls: URL address must have the form host:port: http://127.0.0.1"#
    );
    assert_eq!(
        error(&["--initial-advertise-peer-urls=http://127.0.0.1:2380/path"]),
        r#"invalid value "http://127.0.0.1:2380/path" for flag --initial-advertise-peer-urls: URL must not contain a path: http://127.0.0.1:2380/path"#
    );
    assert_eq!(
        error(&["--advertise-client-urls=ftp://h:1"]),
        r#"invalid value "ftp://h:1" for flag --advertise-client-urls: URL scheme must be http, https, unix or unixs: ftp://h:1"#
    );
    assert_eq!(
        error(&["--listen-metrics-urls=http://h:x"]),
        r#"invalid value "http://h:x" for flag --listen-metrics-urls: URL port must be a number from 0 to 65535: http://h:x"#
    );
    assert_eq!(
        error(&["--listen-peer-urls="]),
        r#"invalid value "" for flag --listen-peer-urls: at least one URL is required"#
    );
}

#[test]
fn listen_client_urls_need_advertise_client_urls() {
    assert_eq!(
        error(&["--listen-client-urls=http://127.0.0.1:2379"]),
        "--advertise-client-urls is required when --listen-client-urls is given"
    );
}

#[test]
fn bad_initial_cluster_values() {
    assert_eq!(
        error(&["--initial-cluster=default"]),
        r#"invalid value "default" for flag --initial-cluster: expected name=URL pairs, found "default""#
    );
    assert_eq!(
        error(&["--initial-cluster=default=http://localhost:2380/"]),
        r#"invalid value "default=http://localhost:2380/" for flag --initial-cluster: URL must not contain a path: http://localhost:2380/"#
    );
    assert_eq!(
        error(&["--initial-cluster=default=http://localhost:2380,other=http://localhost:2380"]),
        r#"invalid value "default=http://localhost:2380,other=http://localhost:2380" for flag --initial-cluster: http://localhost:2380 is listed for more than one member"#
    );
}

#[test]
fn this_member_must_be_in_the_initial_cluster() {
    assert_eq!(
        error(&["--name=foo", "--initial-cluster=bar=http://localhost:2380"]),
        r#"this member's name "foo" is missing from --initial-cluster "bar=http://localhost:2380""#
    );
    // etcd: `--initial-cluster ""` fails the same way.
    assert_eq!(
        error(&["--initial-cluster="]),
        r#"this member's name "default" is missing from --initial-cluster """#
    );
}

#[test]
fn advertised_peer_urls_must_match_the_members_entry() {
    assert_eq!(
        error(&[
            "--name=a",
            "--initial-advertise-peer-urls=http://127.0.0.1:2390",
            "--initial-cluster=a=http://127.0.0.1:2380,b=http://127.0.0.1:2381",
        ]),
        r#"--initial-advertise-peer-urls "http://127.0.0.1:2390" does not match member "a" in --initial-cluster, which lists "http://127.0.0.1:2380""#
    );
    // Order does not matter, as a set of URLs.
    config(&[
        "--initial-cluster=default=http://localhost:2380,default=http://127.0.0.1:2380",
        "--initial-advertise-peer-urls=http://127.0.0.1:2380,http://localhost:2380",
    ])
    .verify_bootstrap()
    .unwrap();
    // Joining an existing cluster only needs the name listed.
    config(&[
        "--name=a",
        "--initial-cluster-state=existing",
        "--initial-advertise-peer-urls=http://127.0.0.1:2390",
        "--initial-cluster=a=http://127.0.0.1:2380",
    ])
    .verify_bootstrap()
    .unwrap();
}

#[test]
fn bad_initial_cluster_state() {
    assert_eq!(
        error(&["--initial-cluster-state=bogus"]),
        r#"invalid value "bogus" for flag --initial-cluster-state: must be one of new, existing"#
    );
}

#[test]
fn heartbeat_and_election_limits() {
    assert_eq!(
        error(&["--heartbeat-interval=300"]),
        "--election-timeout (1000ms) must be at least 5 times --heartbeat-interval (300ms)"
    );
    assert_eq!(
        error(&["--heartbeat-interval=200", "--election-timeout=999"]),
        "--election-timeout (999ms) must be at least 5 times --heartbeat-interval (200ms)"
    );
    config(&["--heartbeat-interval=200", "--election-timeout=1000"]);
    assert_eq!(
        error(&["--heartbeat-interval=0"]),
        "--heartbeat-interval must be greater than 0"
    );
    assert_eq!(
        error(&["--election-timeout=0"]),
        "--election-timeout must be greater than 0"
    );
    assert_eq!(
        error(&["--election-timeout=50001"]),
        "--election-timeout (50001ms) is too long: it must be at most 50000ms"
    );
    config(&["--election-timeout=50000"]);
}

#[test]
fn negative_and_garbage_numbers() {
    assert_eq!(
        error(&["--heartbeat-interval=-1"]),
        r#"invalid value "-1" for flag --heartbeat-interval: not a non-negative integer"#
    );
    assert_eq!(
        error(&["--election-timeout=abc"]),
        r#"invalid value "abc" for flag --election-timeout: not a non-negative integer"#
    );
    for flag in [
        "snapshot-count",
        "max-snapshots",
        "max-wals",
        "max-txn-ops",
        "max-request-bytes",
    ] {
        assert_eq!(
            error(&[&format!("--{flag}=-5")]),
            format!(r#"invalid value "-5" for flag --{flag}: not a non-negative integer"#)
        );
    }
    assert_eq!(
        error(&["--snapshot-count=1.5"]),
        r#"invalid value "1.5" for flag --snapshot-count: not a non-negative integer"#
    );
    assert_eq!(
        error(&["--quota-backend-bytes=1.5"]),
        r#"invalid value "1.5" for flag --quota-backend-bytes: not an integer"#
    );
}

#[test]
fn bad_auto_compaction() {
    assert_eq!(
        error(&["--auto-compaction-retention=xyz"]),
        r#"invalid value "xyz" for flag --auto-compaction-retention: not a duration (expected e.g. 90s, 30m, 1h30m)"#
    );
    assert_eq!(
        error(&["--auto-compaction-retention=-1"]),
        r#"invalid value "-1" for flag --auto-compaction-retention: duration is missing a unit (ns, us, ms, s, m or h)"#
    );
    assert_eq!(
        error(&["--auto-compaction-retention=-1h"]),
        r#"invalid value "-1h" for flag --auto-compaction-retention: duration must not be negative"#
    );
    assert_eq!(
        error(&[
            "--auto-compaction-mode=revision",
            "--auto-compaction-retention=1h"
        ]),
        r#"invalid value "1h" for flag --auto-compaction-retention: in revision mode the retention is a number of revisions"#
    );
    assert_eq!(
        error(&["--auto-compaction-mode=bogus"]),
        r#"invalid value "bogus" for flag --auto-compaction-mode: must be one of periodic, revision"#
    );
}

#[test]
fn bad_logging() {
    assert_eq!(
        error(&["--log-level=verbose"]),
        r#"invalid value "verbose" for flag --log-level: must be one of debug, info, warn, error, panic, fatal"#
    );
    assert_eq!(
        error(&["--logger=capnslog"]),
        "--logger=capnslog is not supported: zap is the only logger"
    );
    assert_eq!(
        error(&["--log-outputs=,"]),
        r#"invalid value "," for flag --log-outputs: at least one log output is required"#
    );
}

#[test]
fn bad_watch_progress_interval() {
    assert_eq!(
        error(&["--experimental-watch-progress-notify-interval=abc"]),
        r#"invalid value "abc" for flag --experimental-watch-progress-notify-interval: not a duration (expected e.g. 90s, 30m, 1h30m)"#
    );
}

#[test]
fn enable_v2_is_accepted_but_must_be_false() {
    assert_eq!(
        error(&["--enable-v2"]),
        "--enable-v2 is not supported: cairn serves only the v3 API"
    );
}

#[test]
fn tls_flags_are_accepted_and_checked() {
    let cfg = config(&[
        "--cert-file=server.pem",
        "--key-file=server-key.pem",
        "--trusted-ca-file=ca.pem",
        "--client-cert-auth",
        "--listen-client-urls=https://127.0.0.1:2379,http://127.0.0.1:22379",
        "--advertise-client-urls=https://127.0.0.1:2379",
        "--peer-cert-file=peer.pem",
        "--peer-key-file=peer-key.pem",
        "--peer-trusted-ca-file=peer-ca.pem",
        "--peer-client-cert-auth",
        "--listen-peer-urls=https://127.0.0.1:2380",
        "--initial-advertise-peer-urls=https://127.0.0.1:2380",
        "--initial-cluster=default=https://127.0.0.1:2380",
    ]);
    assert_eq!(
        cfg.client_tls.cert_file.as_deref(),
        Some(std::path::Path::new("server.pem"))
    );
    assert!(cfg.client_tls.client_cert_auth);
    assert_eq!(
        cfg.peer_tls.trusted_ca_file.as_deref(),
        Some(std::path::Path::new("peer-ca.pem"))
    );
    assert!(cfg.peer_tls.client_cert_auth);
    assert_eq!(
        error(&[
            "--listen-client-urls=https://127.0.0.1:2379",
            "--advertise-client-urls=https://127.0.0.1:2379",
        ]),
        "TLS key/cert (--cert-file, --key-file) must be provided for client url \
         https://127.0.0.1:2379 with HTTPS scheme"
    );
    assert_eq!(
        error(&[
            "--peer-cert-file=peer.pem",
            "--listen-peer-urls=https://127.0.0.1:2380",
        ]),
        "cannot listen on TLS for 127.0.0.1:2380: KeyFile and CertFile are not presented \
         (--peer-cert-file, --peer-key-file)"
    );
    assert!(error(&["--client-cert-auth"]).contains("needs --trusted-ca-file"));
    assert!(error(&["--peer-client-cert-auth"]).contains("needs --peer-trusted-ca-file"));
    // Self-signed certificates need no files, but a validity.
    let auto = config(&[
        "--auto-tls",
        "--peer-auto-tls",
        "--self-signed-cert-validity=3",
        "--listen-client-urls=https://127.0.0.1:2379",
        "--advertise-client-urls=https://127.0.0.1:2379",
        "--listen-peer-urls=https://127.0.0.1:2380",
    ]);
    assert!(auto.client_tls.auto_tls && auto.peer_tls.auto_tls);
    assert_eq!(auto.self_signed_cert_validity, 3);
    assert_eq!(config(&[]).self_signed_cert_validity, 1);
    assert!(
        error(&["--peer-auto-tls", "--self-signed-cert-validity=0"])
            .contains("--self-signed-cert-validity must be at least 1")
    );
    // Empty paths mean "not set", as in etcd.
    config(&["--cert-file=", "--peer-key-file="]);
}

#[test]
fn cipher_suites_take_gos_names_and_crls_their_files() {
    let c = config(&[
        "--cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_RSA_WITH_AES_128_CBC_SHA",
        "--client-crl-file=client.crl",
        "--peer-crl-file=peer.crl",
    ]);
    let offered = vec!["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".to_owned()];
    assert_eq!(c.client_tls.cipher_suites, offered);
    assert_eq!(c.peer_tls.cipher_suites, offered);
    assert_eq!(
        c.cipher_suites_not_offered,
        vec!["TLS_RSA_WITH_AES_128_CBC_SHA".to_owned()]
    );
    assert_eq!(
        c.client_tls.crl_file.as_deref(),
        Some(std::path::Path::new("client.crl"))
    );
    assert_eq!(
        c.peer_tls.crl_file.as_deref(),
        Some(std::path::Path::new("peer.crl"))
    );
    assert!(config(&[]).client_tls.cipher_suites.is_empty());
    let allowed = config(&[
        "--client-cert-allowed-hostname=c.example",
        "--peer-cert-allowed-cn=member",
    ]);
    assert_eq!(
        allowed.client_tls.allowed_hostname.as_deref(),
        Some("c.example")
    );
    assert_eq!(allowed.peer_tls.allowed_cn.as_deref(), Some("member"));
    assert_eq!(
        error(&[
            "--peer-cert-allowed-cn=member",
            "--peer-cert-allowed-hostname=m.example"
        ]),
        "AllowedCN and AllowedHostname are mutually exclusive (cn=\"member\", hostname=\"m.example\")"
    );
    // etcd's own message for a name Go does not know.
    assert_eq!(
        error(&["--cipher-suites=FOO"]),
        "unexpected TLS cipher suite \"FOO\""
    );
    assert!(
        error(&["--cipher-suites=TLS_RSA_WITH_AES_128_CBC_SHA"])
            .contains("names none that cairn offers")
    );
}

// ----- The config file -----

const SAMPLE: &str = "
# Keys as etcd's sample configuration spells them.
name: cfgname
data-dir:
heartbeat-interval: 50
election-timeout: 500
listen-client-urls: http://127.0.0.1:12379
initial-advertise-peer-urls: http://127.0.0.1:12380
listen-peer-urls: http://127.0.0.1:12380
initial-cluster-token: cairn-test-token
quota-backend-bytes: -1
auto-compaction-mode: periodic
auto-compaction-retention: \"1\"
pre-vote: false
log-level: debug
log-outputs: [stderr]
experimental-watch-progress-notify-interval: 5000000000
experimental-initial-corrupt-check: true
client-transport-security:
  cert-file:
  client-cert-auth: false
bogus-key: 42
";

#[test]
fn config_file_keys_are_the_flag_names() {
    let c = resolve(
        &FileConfig::from_yaml(SAMPLE)
            .unwrap()
            .into_flags("c.yaml".into()),
    )
    .unwrap();
    assert_eq!(c.name, "cfgname");
    assert_eq!(c.data_dir, PathBuf::from("cfgname.cairn"));
    assert_eq!(c.heartbeat_interval, Duration::from_millis(50));
    assert_eq!(c.election_timeout, Duration::from_millis(500));
    assert_eq!(urls(&c.listen_client_urls), ["http://127.0.0.1:12379"]);
    // In a file, advertise-client-urls keeps its default (etcd starts so).
    assert_eq!(urls(&c.advertise_client_urls), ["http://localhost:2379"]);
    assert_eq!(
        urls::join_cluster(&c.initial_cluster),
        "cfgname=http://127.0.0.1:12380"
    );
    assert_eq!(c.quota_backend_bytes, BackendQuota::Disabled);
    assert_eq!(
        c.auto_compaction,
        AutoCompaction::Periodic(Duration::from_secs(3600))
    );
    assert!(!c.pre_vote);
    assert_eq!(c.log_level, LogLevel::Debug);
    assert_eq!(c.log_outputs, ["stderr"]);
    assert!(c.experimental_initial_corrupt_check);
    assert_eq!(
        c.experimental_watch_progress_notify_interval,
        Duration::from_secs(5)
    );
    assert_eq!(c.config_file, Some(PathBuf::from("c.yaml")));
    assert_eq!(c.local_member_id(), Some(0x206e24456ec8dd89));
}

/// etcd 3.5.1 rejects these types in its file; so does cairn. (etcd also
/// rejects a number where it wants a string, e.g. `auto-compaction-retention:
/// 1`; cairn reads it as the string it would have been.)
#[test]
fn config_file_types_are_strict() {
    for text in [
        "heartbeat-interval: abc",
        "heartbeat-interval: -5",
        "pre-vote: \"false\"",
        "log-outputs: stderr",
        "experimental-watch-progress-notify-interval: 5s",
        "name: [1, 2",
    ] {
        assert!(FileConfig::from_yaml(text).is_err(), "{text}");
    }
}

fn temp_file(tag: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("cairn-config-{}-{tag}.yaml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

/// etcd with `--config-file c.yaml --name other` runs as the file's name.
#[test]
fn a_config_file_replaces_the_other_flags() {
    let path = temp_file("replaces", "name: cfgname\n");
    let f = flags(&[
        "--config-file",
        path.to_str().unwrap(),
        "--name",
        "other",
        "--pre-vote=false",
    ]);
    let c = load(&f).unwrap();
    assert_eq!(c.name, "cfgname");
    assert!(c.pre_vote);
    std::fs::remove_file(path).unwrap();
}

#[test]
fn config_file_errors_name_the_file() {
    let path = temp_file("bad-value", "heartbeat-interval: 300\n");
    let f = flags(&["--config-file", path.to_str().unwrap()]);
    assert_eq!(
        load(&f).unwrap_err().to_string(),
        format!(
            "config file {}: --election-timeout (1000ms) must be at least 5 times \
             --heartbeat-interval (300ms)",
            path.display()
        )
    );
    std::fs::remove_file(&path).unwrap();

    let e = load(&f).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("cannot read config file {}: ", path.display())),
        "{e}"
    );

    let path = temp_file("bad-type", "heartbeat-interval: abc\n");
    let f = flags(&["--config-file", path.to_str().unwrap()]);
    let e = load(&f).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("config file {}: ", path.display())),
        "{e}"
    );
    assert!(e.contains("heartbeat-interval"), "{e}");
    assert!(!e.contains('\n'), "{e}");
    std::fs::remove_file(path).unwrap();
}

#[test]
fn unknown_etcd_variables_are_reported() {
    let names = [
        "ETCD_NAME",
        "ETCD_BOGUS",
        "ETCDCTL_API",
        "PATH",
        "ETCD_PRE_VOTE",
    ];
    assert_eq!(unrecognized_env_vars(names), ["ETCD_BOGUS"]);
}

#[test]
fn compatibility_flags_are_taken_and_judged() {
    let c = config(&[
        "--unsafe-no-fsync",
        "--auth-token=simple",
        "--metrics=extensive",
    ]);
    assert_eq!(
        c.ignored_flags,
        vec![
            "--metrics=extensive has no effect in cairn: /metrics serves the same series at \
             every level"
                .to_owned(),
            "--unsafe-no-fsync=true has no effect in cairn: cairn always syncs its log to \
             disk; the setting would only trade data for speed"
                .to_owned(),
        ]
    );
    assert!(
        config(&["--unsafe-no-fsync=false"])
            .ignored_flags
            .is_empty()
    );
    assert!(error(&["--discovery-srv=example.com"]).contains("is not supported"));
    assert!(error(&["--enable-pprof=maybe"]).contains("not a boolean"));
    // Only the proxy mode itself is refused; its tuning is harmless.
    assert_eq!(config(&["--proxy-dial-timeout=5"]).ignored_flags.len(), 1);
}

/// The same flags in a config file: judged as on the command line, a
/// duration (nanoseconds in etcd's file) equal to etcd's default is not
/// reported, and a refused one stops start-up.
#[test]
fn compatibility_keys_of_a_config_file_are_judged_too() {
    let from = |text: &str| {
        resolve(
            &FileConfig::from_yaml(text)
                .unwrap()
                .into_flags("c.yaml".into()),
        )
    };
    let c = from(
        "name: m1\nunsafe-no-fsync: true\nauth-token: simple\n\
         grpc-keepalive-interval: 7200000000000\ngrpc-keepalive-timeout: 1000000000\n",
    )
    .unwrap();
    assert_eq!(
        c.ignored_flags,
        vec![
            "--grpc-keepalive-timeout=1000000000ns has no effect in cairn: the client port \
             pings idle connections every 10s and accepts any client ping rate"
                .to_owned(),
            "--unsafe-no-fsync=true has no effect in cairn: cairn always syncs its log to \
             disk; the setting would only trade data for speed"
                .to_owned(),
        ]
    );
    let refused = from("discovery: https://discovery.example/abc\n").unwrap_err();
    assert!(
        refused.to_string().contains("is not supported"),
        "{refused}"
    );
}

/// `--tls-min-version` / `--tls-max-version` as etcd validates them.
#[test]
fn tls_versions_are_checked_as_etcd_checks_them() {
    let c = config(&["--tls-min-version=TLS1.3"]);
    assert!(!c.client_tls.versions.tls12 && c.peer_tls.versions.tls13);
    let c = config(&["--tls-max-version=TLS1.2"]);
    assert!(c.client_tls.versions.tls12 && !c.peer_tls.versions.tls13);
    assert_eq!(
        error(&["--tls-min-version=TLS1.1"]),
        "unexpected TLS version \"TLS1.1\" (must be one of: TLS1.2, TLS1.3)"
    );
    assert_eq!(
        error(&["--tls-min-version=TLS1.3", "--tls-max-version=TLS1.2"]),
        "min version (TLS1.3) is greater than max version (TLS1.2)"
    );
    assert_eq!(
        error(&[
            "--tls-min-version=TLS1.3",
            "--cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
        ]),
        "cipher suites cannot be configured when only TLS1.3 is enabled"
    );
}

// ----- Auth -----

#[test]
fn auth_defaults_are_etcds() {
    let c = config(&[]);
    assert_eq!(c.auth_token, AuthToken::Simple);
    assert_eq!(c.auth_token_ttl, Duration::from_secs(300));
    assert_eq!(c.bcrypt_cost, 10);
    // etcd 3.5.1: `--auth-token-ttl 0` leaves simple tokens at 300s.
    assert_eq!(
        config(&["--auth-token-ttl=0"]).auth_token_ttl,
        Duration::from_secs(300)
    );
    assert_eq!(
        config(&["--auth-token-ttl", "7"]).auth_token_ttl,
        Duration::from_secs(7)
    );
    // Options after "simple" are split and checked, then ignored.
    assert_eq!(
        config(&["--auth-token=simple,ttl=1s"]).auth_token,
        AuthToken::Simple
    );
    // An empty value is etcd's token-less provider.
    assert_eq!(config(&["--auth-token="]).auth_token, AuthToken::Off);
}

#[test]
fn jwt_options_are_parsed_as_etcd_splits_them() {
    let c = config(&[
        "--auth-token",
        "jwt,pub-key=/k/a.pub,priv-key=/k/a.pem,sign-method=RS256,ttl=90s",
    ]);
    assert_eq!(
        c.auth_token,
        AuthToken::Jwt(JwtOptions {
            pub_key: Some("/k/a.pub".into()),
            priv_key: Some("/k/a.pem".into()),
            sign_method: "RS256".to_owned(),
            ttl: Duration::from_secs(90),
        })
    );
    assert!(c.ignored_flags.is_empty());
    // ttl defaults to 5m; a public key alone verifies; an empty path is
    // no path.
    let AuthToken::Jwt(jwt) =
        config(&["--auth-token=jwt,sign-method=ES384,pub-key=e.pub,priv-key="]).auth_token
    else {
        panic!("not jwt");
    };
    assert_eq!(jwt.ttl, Duration::from_secs(300));
    assert_eq!(
        (jwt.pub_key, jwt.priv_key),
        (Some(PathBuf::from("e.pub")), None)
    );
    // Unknown options are ignored with a warning, as etcd does.
    let c = config(&["--auth-token=jwt,sign-method=HS256,priv-key=s,bogus=1"]);
    assert!(matches!(c.auth_token, AuthToken::Jwt(_)));
    assert_eq!(
        c.ignored_flags,
        ["--auth-token: unknown jwt options bogus, ignored"]
    );
}

/// Every `--auth-token` etcd 3.5.1 fails to start with (it says "auth:
/// invalid auth options", "auth: missing key data" or "unsupported
/// signing method" once the member starts), refused up front in one line.
#[test]
fn bad_auth_tokens_are_refused_in_one_line() {
    let cases: &[(&str, &str)] = &[
        (
            "bogus",
            "unknown token type \"bogus\": must be simple or jwt,sign-method=...,priv-key=...",
        ),
        (
            "JWT,sign-method=HS256,priv-key=s",
            "unknown token type \"JWT\": must be simple or jwt,sign-method=...,priv-key=...",
        ),
        (
            "jwt,sign-method=HS256,priv-key=s,noequals",
            "token option \"noequals\" is not name=value",
        ),
        ("simple,a=b=c", "token option \"a=b=c\" is not name=value"),
        ("jwt,ttl=1m,ttl=2m", "token option \"ttl\" is given twice"),
        (
            "jwt",
            "jwt needs sign-method=<RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, \
             HS256, HS384, HS512>",
        ),
        (
            "jwt,sign-method=XX256,priv-key=k",
            "sign-method \"XX256\" is not one of RS256, RS384, RS512, PS256, PS384, PS512, \
             ES256, ES384, HS256, HS384, HS512",
        ),
        (
            "jwt,sign-method=EdDSA,priv-key=k",
            "sign-method \"EdDSA\" is not one of RS256, RS384, RS512, PS256, PS384, PS512, \
             ES256, ES384, HS256, HS384, HS512",
        ),
        (
            "jwt,sign-method=none,priv-key=k",
            "sign-method \"none\" is not one of RS256, RS384, RS512, PS256, PS384, PS512, \
             ES256, ES384, HS256, HS384, HS512",
        ),
        (
            "jwt,sign-method=ES512,priv-key=k",
            "sign-method ES512 is not supported: cairn's crypto library has no P-521 curve; \
             use ES256 or ES384",
        ),
        (
            "jwt,sign-method=RS256,priv-key=k,ttl=abc",
            "ttl: not a duration (expected e.g. 90s, 30m, 1h30m)",
        ),
        (
            "jwt,sign-method=RS256,priv-key=k,ttl=-5m",
            "ttl: duration must not be negative",
        ),
        (
            "jwt,sign-method=RS256",
            "sign-method RS256 needs priv-key=<file>, or pub-key=<file> to only verify tokens",
        ),
        (
            "jwt,sign-method=HS512,pub-key=k.pub",
            "sign-method HS512 needs priv-key=<file>, the shared secret",
        ),
    ];
    for (value, problem) in cases {
        assert_eq!(
            error(&["--auth-token", value]),
            format!("invalid value {value:?} for flag --auth-token: {problem}")
        );
    }
}

#[test]
fn auth_numbers_are_checked_as_etcd_checks_them() {
    assert_eq!(
        error(&["--auth-token-ttl=-1"]),
        "invalid value \"-1\" for flag --auth-token-ttl: not a non-negative integer"
    );
    assert_eq!(
        error(&["--bcrypt-cost=abc"]),
        "invalid value \"abc\" for flag --bcrypt-cost: not a non-negative integer"
    );
    assert_eq!(config(&["--bcrypt-cost=4"]).bcrypt_cost, 4);
    assert_eq!(config(&["--bcrypt-cost=31"]).bcrypt_cost, 31);
    // etcd 3.5.1 starts with cost 10 and a warning when bcrypt would
    // refuse the cost.
    for cost in ["3", "32", "99999999999"] {
        let c = config(&["--bcrypt-cost", cost]);
        assert_eq!(c.bcrypt_cost, 10);
        assert_eq!(
            c.ignored_flags,
            [format!(
                "--bcrypt-cost={cost} is outside bcrypt's 4..31; using 10, as etcd does"
            )]
        );
    }
}

#[test]
fn auth_keys_of_a_config_file_are_read() {
    let from = |text: &str| {
        resolve(
            &FileConfig::from_yaml(text)
                .unwrap()
                .into_flags("c.yaml".into()),
        )
    };
    let c = from(
        "auth-token: jwt,sign-method=HS256,priv-key=/s/secret,ttl=10m\n\
         auth-token-ttl: 60\nbcrypt-cost: 12\n",
    )
    .unwrap();
    assert_eq!(
        c.auth_token,
        AuthToken::Jwt(JwtOptions {
            pub_key: None,
            priv_key: Some("/s/secret".into()),
            sign_method: "HS256".to_owned(),
            ttl: Duration::from_secs(600),
        })
    );
    assert_eq!(c.auth_token_ttl, Duration::from_secs(60));
    assert_eq!(c.bcrypt_cost, 12);
    let c = from("name: m1\n").unwrap();
    assert_eq!(
        (c.auth_token, c.auth_token_ttl, c.bcrypt_cost),
        (AuthToken::Simple, Duration::from_secs(300), 10)
    );
    let e = from("auth-token: jwt\n").unwrap_err().to_string();
    assert!(e.contains("jwt needs sign-method"), "{e}");
}

#[test]
fn print_config_shows_the_auth_settings() {
    let text = config(&[
        "--auth-token=jwt,sign-method=PS256,priv-key=k.pem",
        "--bcrypt-cost=11",
    ])
    .to_string();
    assert!(
        text.contains(
            "\nauth-token: jwt, sign-method PS256, pub-key -, priv-key k.pem, ttl 300s\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("\nauth-token-ttl: 300s\nbcrypt-cost: 11\n"),
        "{text}"
    );
}
