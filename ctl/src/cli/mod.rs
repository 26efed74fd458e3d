//! The command line: global flags ([`Global`]), their resolution into a
//! [`Ctx`] (client configuration, output format), the commands (one file
//! each under `commands/`), and the output helpers they share.
//!
//! Parsing never touches the network; only [`run`] does. Every failure
//! becomes a [`Failure`] carrying etcdctl's exit code, printed by `main` as
//! one `Error: ...` line.

pub mod commands;
pub mod fields;
pub mod json;
pub mod out;
pub mod password;
pub mod table;

use std::io::Write;
use std::time::Duration;

use cairn_client::duration;
use cairn_client::{Client, ClientConfig, Credentials, User};
use clap::{ArgAction, Args, Parser};

use commands::Command;

/// etcdctl's exit codes.
pub mod exit {
    pub const ERROR: i32 = 1;
    pub const BAD_CONNECTION: i32 = 2;
    pub const INVALID_INPUT: i32 = 3;
    pub const BAD_FEATURE: i32 = 4;
    pub const INTERRUPTED: i32 = 5;
    pub const IO: i32 = 6;
    pub const BAD_ARGS: i32 = 128;
}

/// The whole command line.
#[derive(Parser, Debug)]
#[command(
    name = "cairnctl",
    about = "A simple command line client for cairn and etcd (etcdctl-compatible)",
    version,
    disable_version_flag = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// The clap definition of the whole command line, which the man pages and
/// shell completions are generated from.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// etcdctl's global flags, also read from `ETCDCTL_*` variables.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// gRPC endpoints
    #[arg(
        long,
        global = true,
        env = "ETCDCTL_ENDPOINTS",
        value_delimiter = ',',
        default_value = "127.0.0.1:2379"
    )]
    pub endpoints: Vec<String>,
    /// dial timeout for client connections
    #[arg(long = "dial-timeout", global = true, env = "ETCDCTL_DIAL_TIMEOUT",
          default_value = "2s", value_parser = duration::parse_go_duration)]
    pub dial_timeout: Duration,
    /// timeout for short running command (excluding dial timeout)
    #[arg(long = "command-timeout", global = true, env = "ETCDCTL_COMMAND_TIMEOUT",
          default_value = "5s", value_parser = duration::parse_go_duration)]
    pub command_timeout: Duration,
    /// keepalive time for client connections
    #[arg(long = "keepalive-time", global = true, env = "ETCDCTL_KEEPALIVE_TIME",
          default_value = "2s", value_parser = duration::parse_go_duration)]
    pub keepalive_time: Duration,
    /// keepalive timeout for client connections
    #[arg(long = "keepalive-timeout", global = true, env = "ETCDCTL_KEEPALIVE_TIMEOUT",
          default_value = "6s", value_parser = duration::parse_go_duration)]
    pub keepalive_timeout: Duration,
    /// print byte strings as hex encoded strings
    #[arg(long, global = true, env = "ETCDCTL_HEX")]
    pub hex: bool,
    /// set the output format (fields, json, protobuf, simple, table)
    #[arg(
        short = 'w',
        long = "write-out",
        global = true,
        env = "ETCDCTL_WRITE_OUT",
        default_value = "simple"
    )]
    pub write_out: String,
    /// enable client-side debug logging
    #[arg(long, global = true, env = "ETCDCTL_DEBUG")]
    pub debug: bool,
    /// verify certificates of TLS-enabled secure servers using this CA bundle
    #[arg(long, global = true, env = "ETCDCTL_CACERT")]
    pub cacert: Option<String>,
    /// identify secure client using this TLS certificate file
    #[arg(long, global = true, env = "ETCDCTL_CERT")]
    pub cert: Option<String>,
    /// identify secure client using this TLS key file
    #[arg(long, global = true, env = "ETCDCTL_KEY")]
    pub key: Option<String>,
    /// disable transport security for client connections
    #[arg(long = "insecure-transport", global = true, env = "ETCDCTL_INSECURE_TRANSPORT",
          action = ArgAction::Set, num_args = 0..=1, default_value = "true",
          default_missing_value = "true")]
    pub insecure_transport: bool,
    /// skip server certificate verification
    #[arg(
        long = "insecure-skip-tls-verify",
        global = true,
        env = "ETCDCTL_INSECURE_SKIP_TLS_VERIFY"
    )]
    pub insecure_skip_tls_verify: bool,
    /// accept insecure SRV records describing cluster endpoints
    #[arg(long = "insecure-discovery", global = true, env = "ETCDCTL_INSECURE_DISCOVERY",
          action = ArgAction::Set, num_args = 0..=1, default_value = "true",
          default_missing_value = "true")]
    pub insecure_discovery: bool,
    /// domain name to query for SRV records describing cluster endpoints
    #[arg(
        short = 'd',
        long = "discovery-srv",
        global = true,
        env = "ETCDCTL_DISCOVERY_SRV"
    )]
    pub discovery_srv: Option<String>,
    /// service name to query when using DNS discovery
    #[arg(
        long = "discovery-srv-name",
        global = true,
        env = "ETCDCTL_DISCOVERY_SRV_NAME"
    )]
    pub discovery_srv_name: Option<String>,
    /// username[:password] for authentication (prompt if password is not supplied)
    #[arg(long, global = true, env = "ETCDCTL_USER")]
    pub user: Option<String>,
    /// password for authentication (if this option is used, --user option shouldn't include password)
    #[arg(long, global = true, env = "ETCDCTL_PASSWORD")]
    pub password: Option<String>,
}

/// The output formats of `-w`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Simple,
    Json,
    Fields,
    Table,
    Protobuf,
}

impl Format {
    /// The format `-w`/`--write-out` names, as etcdctl spells them.
    pub fn named(name: &str) -> Option<Format> {
        Some(match name {
            "simple" => Format::Simple,
            "json" => Format::Json,
            "fields" => Format::Fields,
            "table" => Format::Table,
            "protobuf" => Format::Protobuf,
            _ => return None,
        })
    }
}

/// Why a command failed, and etcdctl's exit code for it.
#[derive(Debug)]
pub enum Failure {
    /// Print `Error: <message>` and exit with `code`.
    Exit { code: i32, message: String },
    /// Exit with `code`, everything already said.
    Quiet(i32),
    /// stdout was closed under us: exit quietly.
    BrokenPipe,
}

impl Failure {
    pub fn new(code: i32, message: impl Into<String>) -> Failure {
        Failure::Exit {
            code,
            message: message.into(),
        }
    }

    /// A wrong use of a command's arguments.
    pub fn bad_args(message: impl Into<String>) -> Failure {
        Failure::new(exit::BAD_ARGS, message)
    }
}

impl From<cairn_client::Error> for Failure {
    /// A failed first login is etcdctl's failure to create its client
    /// (exit 2); anything else a failed command (exit 1).
    fn from(e: cairn_client::Error) -> Failure {
        let code = match e {
            cairn_client::Error::Login(_) => exit::BAD_CONNECTION,
            _ => exit::ERROR,
        };
        Failure::new(code, describe(&e))
    }
}

/// An error as etcdctl words it. etcd's client turns the server's own
/// errors (every message starting `etcdserver: `) into their bare message,
/// and leaves any other gRPC status in gRPC's form, `rpc error: code = ...
/// desc = ...`, with Go's names for the codes.
pub fn describe(e: &cairn_client::Error) -> String {
    let Some(status) = e.status() else {
        return e.to_string();
    };
    if status.message().starts_with("etcdserver: ") {
        return status.message().to_owned();
    }
    use tonic::Code::*;
    let code = match status.code() {
        Ok => "OK",
        Cancelled => "Canceled",
        Unknown => "Unknown",
        InvalidArgument => "InvalidArgument",
        DeadlineExceeded => "DeadlineExceeded",
        NotFound => "NotFound",
        AlreadyExists => "AlreadyExists",
        PermissionDenied => "PermissionDenied",
        ResourceExhausted => "ResourceExhausted",
        FailedPrecondition => "FailedPrecondition",
        Aborted => "Aborted",
        OutOfRange => "OutOfRange",
        Unimplemented => "Unimplemented",
        Internal => "Internal",
        Unavailable => "Unavailable",
        DataLoss => "DataLoss",
        Unauthenticated => "Unauthenticated",
    };
    format!("rpc error: code = {code} desc = {}", status.message())
}

/// The text of Go's `strconv.ParseInt` error for `s`, which etcdctl
/// embeds in its messages about bad ids and numbers.
pub fn go_parse_int_error(s: &str, e: &std::num::ParseIntError) -> String {
    use std::num::IntErrorKind::*;
    let why = match e.kind() {
        PosOverflow | NegOverflow => "value out of range",
        _ => "invalid syntax",
    };
    format!("strconv.ParseInt: parsing {s:?}: {why}")
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Failure::BrokenPipe
        } else {
            Failure::new(exit::IO, e.to_string())
        }
    }
}

pub type Outcome = Result<(), Failure>;

/// What every command gets: the resolved flags, a client and stdout.
pub struct Ctx {
    pub format: Format,
    pub hex: bool,
    pub global: Global,
    client: Option<Client>,
    /// `--user` resolved (the password asked for if need be), once.
    user: Option<Option<User>>,
    pub out: Box<dyn Write>,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").field("format", &self.format).finish()
    }
}

impl Ctx {
    /// Resolves the global flags; fails on an unknown format.
    pub fn new(global: Global, out: Box<dyn Write>) -> Result<Ctx, Failure> {
        let format = Format::named(&global.write_out)
            .ok_or_else(|| Failure::new(exit::BAD_FEATURE, "unsupported output format"))?;
        Ok(Ctx {
            format,
            hex: global.hex,
            global,
            client: None,
            user: None,
            out,
        })
    }

    /// The client configuration the flags describe. The user is resolved
    /// by [`Ctx::client`] (it may ask for a password); this has none.
    pub fn config(&self) -> Result<ClientConfig, Failure> {
        let g = &self.global;
        let tls = g.cacert.is_some()
            || g.cert.is_some()
            || g.key.is_some()
            || g.insecure_skip_tls_verify
            || !g.insecure_transport;
        let credentials = if tls {
            Credentials::Tls {
                ca: g.cacert.clone(),
                cert: g.cert.clone(),
                key: g.key.clone(),
                skip_verify: g.insecure_skip_tls_verify,
            }
        } else {
            Credentials::Insecure
        };
        if g.discovery_srv.is_some() {
            return Err(Failure::new(
                exit::BAD_FEATURE,
                "DNS discovery (--discovery-srv) is not supported by cairnctl yet",
            ));
        }
        Ok(ClientConfig {
            endpoints: g.endpoints.clone(),
            dial_timeout: g.dial_timeout,
            command_timeout: g.command_timeout,
            keepalive_time: g.keepalive_time,
            keepalive_timeout: g.keepalive_timeout,
            auto_sync_interval: None,
            credentials,
            user: None,
        })
    }

    /// The user of `--user` and `--password` (or `ETCDCTL_USER` and
    /// `ETCDCTL_PASSWORD`), as etcdctl reads them: `--password` given, the
    /// whole of `--user` is the name; otherwise `name:password`, and with
    /// no colon the password is asked for (`Password: `, on stdout).
    pub fn user(&mut self) -> Result<Option<User>, Failure> {
        if let Some(user) = &self.user {
            return Ok(user.clone());
        }
        let user = match (self.global.user.as_deref(), self.global.password.as_deref()) {
            (None | Some(""), _) => None,
            (Some(name), Some(password)) if !password.is_empty() => Some(User {
                name: name.to_owned(),
                password: password.to_owned(),
            }),
            (Some(user), _) => match user.split_once(':') {
                Some((name, password)) => Some(User {
                    name: name.to_owned(),
                    password: password.to_owned(),
                }),
                None => {
                    let password = password::ask(&mut self.out, "Password: ")
                        .map_err(|e| Failure::new(exit::ERROR, e))?;
                    Some(User {
                        name: user.to_owned(),
                        password,
                    })
                }
            },
        };
        self.user = Some(user.clone());
        Ok(user)
    }

    /// The client, built on first use (commands that only parse never dial).
    pub fn client(&mut self) -> Result<Client, Failure> {
        if let Some(c) = &self.client {
            return Ok(c.clone());
        }
        let mut config = self.config()?;
        config.user = self.user()?;
        let client =
            Client::new(config).map_err(|e| Failure::new(exit::BAD_CONNECTION, e.to_string()))?;
        self.client = Some(client.clone());
        Ok(client)
    }

    /// A client of the same cluster for exactly these endpoints
    /// (per-member commands), logged in as the same user.
    pub fn client_for(&mut self, endpoints: Vec<String>) -> Result<Client, Failure> {
        let mut config = self.config()?;
        config.endpoints = endpoints;
        config.user = self.user()?;
        Client::new(config).map_err(|e| Failure::new(exit::BAD_CONNECTION, e.to_string()))
    }

    /// Fails unless the format is one of `allowed` (etcdctl prints
    /// `<format> not supported as output format` for the rest).
    pub fn only(&self, allowed: &[Format]) -> Outcome {
        if allowed.contains(&self.format) {
            Ok(())
        } else {
            Err(Failure::new(
                exit::BAD_FEATURE,
                format!("{} not supported as output format", self.global.write_out),
            ))
        }
    }
}

/// `--debug`: every global setting as an `ETCDCTL_*` line on stderr, as
/// etcdctl prints them, so a script's effective settings can be checked.
fn print_settings(g: &Global) {
    use duration::go_string;
    let opt = |o: &Option<String>| o.clone().unwrap_or_default();
    let lines = [
        ("CACERT", opt(&g.cacert)),
        ("CERT", opt(&g.cert)),
        ("COMMAND_TIMEOUT", go_string(g.command_timeout)),
        ("DEBUG", g.debug.to_string()),
        ("DIAL_TIMEOUT", go_string(g.dial_timeout)),
        ("DISCOVERY_SRV", opt(&g.discovery_srv)),
        ("DISCOVERY_SRV_NAME", opt(&g.discovery_srv_name)),
        ("ENDPOINTS", format!("[{}]", g.endpoints.join(" "))),
        ("HEX", g.hex.to_string()),
        ("INSECURE_DISCOVERY", g.insecure_discovery.to_string()),
        (
            "INSECURE_SKIP_TLS_VERIFY",
            g.insecure_skip_tls_verify.to_string(),
        ),
        ("INSECURE_TRANSPORT", g.insecure_transport.to_string()),
        ("KEEPALIVE_TIME", go_string(g.keepalive_time)),
        ("KEEPALIVE_TIMEOUT", go_string(g.keepalive_timeout)),
        ("KEY", opt(&g.key)),
        ("PASSWORD", opt(&g.password)),
        ("USER", opt(&g.user)),
        ("WRITE_OUT", g.write_out.clone()),
    ];
    for (name, value) in lines {
        eprintln!("ETCDCTL_{name}={value}");
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli, out: Box<dyn Write>) -> Outcome {
    if cli.global.debug {
        print_settings(&cli.global);
    }
    let mut ctx = Ctx::new(cli.global, out)?;
    let result = commands::run(cli.command, &mut ctx).await;
    let flushed = ctx.out.flush().map_err(Failure::from);
    result.and(flushed)
}
