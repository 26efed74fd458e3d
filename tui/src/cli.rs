//! cairntop's command line: its clap definition, which the binary parses
//! and the man page and shell completions are generated from.

use std::time::Duration;

use cairn_client::duration;
use cairn_client::{Credentials, User};
use clap::Parser;

/// A live terminal dashboard of a cairn (or etcd) cluster.
#[derive(Parser, Debug)]
#[command(name = "cairntop", version)]
pub struct Args {
    /// gRPC endpoints
    #[arg(
        long,
        env = "ETCDCTL_ENDPOINTS",
        value_delimiter = ',',
        default_value = "127.0.0.1:2379"
    )]
    pub endpoints: Vec<String>,
    /// how often to refresh (e.g. 1s, 500ms)
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub refresh: Duration,
    /// dial timeout for client connections
    #[arg(long = "dial-timeout", env = "ETCDCTL_DIAL_TIMEOUT",
          default_value = "2s", value_parser = parse_duration)]
    pub dial_timeout: Duration,
    /// timeout of one request; shorter than etcdctl's 5s so a silent member
    /// is reported within about one refresh
    #[arg(long = "command-timeout", env = "ETCDCTL_COMMAND_TIMEOUT",
          default_value = "1s", value_parser = parse_duration)]
    pub command_timeout: Duration,
    /// verify certificates of TLS-enabled secure servers using this CA bundle
    #[arg(long, env = "ETCDCTL_CACERT")]
    pub cacert: Option<String>,
    /// identify secure client using this TLS certificate file
    #[arg(long, env = "ETCDCTL_CERT")]
    pub cert: Option<String>,
    /// identify secure client using this TLS key file
    #[arg(long, env = "ETCDCTL_KEY")]
    pub key: Option<String>,
    /// skip server certificate verification (encrypted, not authenticated)
    #[arg(
        long = "insecure-skip-tls-verify",
        env = "ETCDCTL_INSECURE_SKIP_TLS_VERIFY"
    )]
    pub insecure_skip_tls_verify: bool,
    /// username[:password] for authentication (prompt if password is not supplied)
    #[arg(long, env = "ETCDCTL_USER")]
    pub user: Option<String>,
    /// password for authentication (if this option is used, --user option shouldn't include password)
    #[arg(long, env = "ETCDCTL_PASSWORD")]
    pub password: Option<String>,
}

/// What `--user` and `--password` say, as etcdctl reads them.
#[derive(Debug, PartialEq, Eq)]
pub enum Login {
    /// No user: no login.
    Anonymous,
    /// The name and the password.
    As(User),
    /// A name without a password: it must be asked for.
    Ask(String),
}

impl Args {
    /// The client's credentials: TLS when any TLS flag is given, as
    /// etcdctl decides.
    pub fn credentials(&self) -> Credentials {
        if self.cacert.is_none()
            && self.cert.is_none()
            && self.key.is_none()
            && !self.insecure_skip_tls_verify
        {
            return Credentials::Insecure;
        }
        Credentials::Tls {
            ca: self.cacert.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
            skip_verify: self.insecure_skip_tls_verify,
        }
    }
}

impl Args {
    /// The user to log in as: with `--password` the whole of `--user` is
    /// the name, else `name:password`, else a name whose password is asked.
    pub fn login(&self) -> Login {
        let user = match self.user.as_deref() {
            None | Some("") => return Login::Anonymous,
            Some(user) => user,
        };
        let as_user = |name: &str, password: &str| {
            Login::As(User {
                name: name.to_owned(),
                password: password.to_owned(),
            })
        };
        match (self.password.as_deref(), user.split_once(':')) {
            (Some(password), _) if !password.is_empty() => as_user(user, password),
            (_, Some((name, password))) => as_user(name, password),
            (_, None) => Login::Ask(user.to_owned()),
        }
    }
}

/// A Go duration (`1s`, `500ms`, `2m`), as etcdctl's flags take, or a
/// bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.parse::<f64>() {
        return Duration::try_from_secs_f64(secs)
            .map_err(|e| format!("invalid duration {s:?}: {e}"));
    }
    duration::parse_go_duration(s).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

/// The clap definition of the command line.
pub fn command() -> clap::Command {
    <Args as clap::CommandFactory>::command()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_etcdctl_flags() {
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("5d").is_err());
    }

    #[test]
    fn user_and_password_as_etcdctl_reads_them() {
        let login = |args: &[&str]| {
            let mut full = vec!["cairntop"];
            full.extend_from_slice(args);
            Args::try_parse_from(full).expect("parses").login()
        };
        let user = |name: &str, password: &str| {
            Login::As(User {
                name: name.into(),
                password: password.into(),
            })
        };
        assert_eq!(login(&[]), Login::Anonymous);
        assert_eq!(login(&["--user", "root:pw"]), user("root", "pw"));
        assert_eq!(
            login(&["--user", "a:b", "--password", "pw"]),
            user("a:b", "pw")
        );
        assert_eq!(login(&["--user", "root"]), Login::Ask("root".into()));
    }

    #[test]
    fn endpoints_split_on_commas() {
        let args = Args::try_parse_from(["cairntop", "--endpoints", "a:1,b:2", "--refresh", "2s"])
            .expect("parses");
        assert_eq!(args.endpoints, ["a:1", "b:2"]);
        assert_eq!(args.refresh, Duration::from_secs(2));
    }
}
