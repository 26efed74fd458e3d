//! etcd 3.5 flags cairn takes so that an etcd command line, environment or
//! unit file starts it, but does not act on. Each one is either harmless
//! to leave unacted on (start-up then logs, for a value other than etcd's
//! default, that it has no effect and why) or refused when set, because
//! ignoring it would make the member something other than what was asked
//! for (bootstrapping by discovery, the v2 proxy).
//!
//! They are defined from the table below rather than as fields of
//! [`Flags`](super::Flags): clap adds them to the command (with their
//! `ETCD_*` variables, under one help heading), and the resolver reads
//! their values by name. The YAML file's keys for them are read too
//! ([`from_file`]) and judged the same way.

use clap::{Arg, ArgAction, ArgMatches};

/// What a compatibility flag set away from etcd's default does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Nothing; the reason is logged at start-up.
    None(&'static str),
    /// Start-up stops, saying why.
    Refused(&'static str),
}

/// One flag: its name, etcd's default, whether it is a boolean, and what
/// cairn does with it.
#[derive(Debug, Clone, Copy)]
pub struct Compat {
    pub name: &'static str,
    pub default: &'static str,
    pub boolean: bool,
    pub effect: Effect,
}

const TRACING: Effect = Effect::None("cairn exports no OpenTelemetry traces");
const DISCOVERY: Effect = Effect::Refused(
    "cairn cannot bootstrap through a discovery service; list the members with \
     --initial-cluster",
);
const DISCOVERY_ONLY: Effect = Effect::None("it only matters with --discovery");
const PROXY_ONLY: Effect = Effect::None("it only matters with --proxy");
const KEEPALIVE: Effect = Effect::None(
    "the client port pings idle connections every 10s and accepts any client ping rate",
);

const fn text(name: &'static str, default: &'static str, effect: Effect) -> Compat {
    Compat {
        name,
        default,
        boolean: false,
        effect,
    }
}

const fn boolean(name: &'static str, default: &'static str, effect: Effect) -> Compat {
    Compat {
        name,
        default,
        boolean: true,
        effect,
    }
}

/// Every etcd 3.5.1 flag cairn takes without acting on it.
pub const FLAGS: &[Compat] = &[
    text(
        "backend-batch-interval",
        "",
        Effect::None("cairn's store commits each apply group when it is applied"),
    ),
    text(
        "backend-batch-limit",
        "0",
        Effect::None("cairn's store commits each apply group when it is applied"),
    ),
    text(
        "backend-bbolt-freelist-type",
        "map",
        Effect::None("cairn's store is not bbolt"),
    ),
    text(
        "cors",
        "*",
        Effect::None("cairn sends no CORS headers (they serve etcd's v2 API in browsers)"),
    ),
    text("discovery", "", DISCOVERY),
    text("discovery-fallback", "proxy", DISCOVERY_ONLY),
    text("discovery-proxy", "", DISCOVERY_ONLY),
    text("discovery-srv", "", DISCOVERY),
    text("discovery-srv-name", "", DISCOVERY_ONLY),
    boolean(
        "enable-log-rotation",
        "false",
        Effect::None(
            "log files are not rotated by cairn; rotate them with logrotate (copytruncate)",
        ),
    ),
    text(
        "log-rotation-config-json",
        r#"{"maxsize": 100, "maxage": 0, "maxbackups": 0, "localtime": false, "compress": false}"#,
        Effect::None("log files are not rotated by cairn"),
    ),
    boolean(
        "enable-pprof",
        "false",
        Effect::None("there is no Go profiler in cairn"),
    ),
    text(
        "experimental-bootstrap-defrag-threshold-megabytes",
        "0",
        Effect::None("cairn does not defragment at start-up"),
    ),
    text(
        "experimental-compaction-batch-limit",
        "1000",
        Effect::None("compaction removes old revisions in one pass"),
    ),
    boolean("experimental-enable-distributed-tracing", "false", TRACING),
    text(
        "experimental-distributed-tracing-address",
        "localhost:4317",
        TRACING,
    ),
    text("experimental-distributed-tracing-instance-id", "", TRACING),
    text(
        "experimental-distributed-tracing-service-name",
        "etcd",
        TRACING,
    ),
    text(
        "experimental-enable-v2v3",
        "",
        Effect::Refused("cairn serves only the v3 API"),
    ),
    boolean(
        "experimental-txn-mode-write-with-shared-buffer",
        "true",
        Effect::None("cairn's transactions read the store directly"),
    ),
    text(
        "experimental-warning-apply-duration",
        "100ms",
        Effect::None("applies slower than 100ms are logged"),
    ),
    text("grpc-keepalive-interval", "2h", KEEPALIVE),
    text("grpc-keepalive-min-time", "5s", KEEPALIVE),
    text("grpc-keepalive-timeout", "20s", KEEPALIVE),
    text(
        "host-whitelist",
        "*",
        Effect::None("cairn serves every Host header (the check guards etcd's v2 API)"),
    ),
    boolean(
        "initial-election-tick-advance",
        "true",
        Effect::None("a new member waits one election timeout before campaigning"),
    ),
    text(
        "metrics",
        "basic",
        Effect::None("/metrics serves the same series at every level"),
    ),
    text(
        "proxy",
        "off",
        Effect::Refused("cairn has no v2 proxy mode; run a member"),
    ),
    text("proxy-dial-timeout", "1000", PROXY_ONLY),
    text("proxy-failure-wait", "5000", PROXY_ONLY),
    text("proxy-read-timeout", "0", PROXY_ONLY),
    text("proxy-refresh-interval", "30000", PROXY_ONLY),
    text("proxy-write-timeout", "5000", PROXY_ONLY),
    boolean(
        "socket-reuse-address",
        "false",
        Effect::None("listeners always set SO_REUSEADDR"),
    ),
    boolean(
        "socket-reuse-port",
        "false",
        Effect::None("listeners do not set SO_REUSEPORT; a port in use stops start-up"),
    ),
    boolean(
        "unsafe-no-fsync",
        "false",
        Effect::None(
            "cairn always syncs its log to disk; the setting would only trade data for speed",
        ),
    ),
    text(
        "v2-deprecation",
        "not-yet",
        Effect::None("cairn has no v2 store to deprecate"),
    ),
];

/// The help heading they are listed under.
pub const HEADING: &str = "Accepted for etcd compatibility (see the README)";

/// The `ETCD_*` variable of a flag.
fn env_name(name: &str) -> String {
    format!("ETCD_{}", name.to_uppercase().replace('-', "_"))
}

/// clap arguments for every flag of [`FLAGS`].
pub fn args() -> impl Iterator<Item = Arg> {
    FLAGS.iter().map(|c| {
        let help = match c.effect {
            Effect::None(why) => format!("No effect: {why}."),
            Effect::Refused(why) => format!("Refused unless left at its default: {why}."),
        };
        let arg = Arg::new(c.name)
            .long(c.name)
            .env(env_name(c.name))
            .default_value(c.default)
            .hide_default_value(c.default.is_empty())
            .help(help)
            .help_heading(HEADING)
            .action(ArgAction::Set);
        if c.boolean {
            arg.value_name("BOOL")
                .num_args(0..=1)
                .require_equals(true)
                .default_missing_value("true")
        } else {
            arg.value_name("VALUE")
        }
    })
}

/// The value of every flag of [`FLAGS`] in `matches` (its default when not
/// given), by name.
pub fn values(matches: &ArgMatches) -> Vec<(&'static str, String)> {
    FLAGS
        .iter()
        .map(|c| {
            let value = matches
                .get_one::<String>(c.name)
                .cloned()
                .unwrap_or_else(|| c.default.to_owned());
            (c.name, value)
        })
        .collect()
}

/// The value of every flag of [`FLAGS`] in a config file's `keys` (its
/// default when absent), in the command line's form: booleans and numbers
/// as text, lists comma-joined. A Go duration is a count of nanoseconds in
/// etcd's file; one equal to the flag's default reads as the default.
pub fn from_file(
    keys: &std::collections::BTreeMap<String, serde_norway::Value>,
) -> Vec<(&'static str, String)> {
    use serde_norway::Value;
    let text = |v: &Value| match v {
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Sequence(items) => items
            .iter()
            .filter_map(|i| match i {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(","),
        _ => String::new(),
    };
    FLAGS
        .iter()
        .map(|c| {
            let value = match keys.get(c.name) {
                None | Some(Value::Null) => c.default.to_owned(),
                Some(Value::Number(n)) => {
                    let default = cairn_client::duration::parse_go_duration(c.default).ok();
                    match (default, n.as_u64()) {
                        (Some(d), Some(ns)) if d.as_nanos() == u128::from(ns) => {
                            c.default.to_owned()
                        }
                        (Some(_), Some(ns)) => format!("{ns}ns"),
                        _ => n.to_string(),
                    }
                }
                Some(v) => text(v),
            };
            (c.name, value)
        })
        .collect()
}

/// The flag named `name`.
pub fn find(name: &str) -> Option<&'static Compat> {
    FLAGS.iter().find(|c| c.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_variables_follow_etcds_rule() {
        let mut names: Vec<&str> = FLAGS.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FLAGS.len());
        assert_eq!(env_name("unsafe-no-fsync"), "ETCD_UNSAFE_NO_FSYNC");
    }
}
