//! cairntop's command line: its clap definition, which the binary parses
//! and the man page and shell completions are generated from.

use std::time::Duration;

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
}

/// `1s`, `500ms`, `2m`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |at| s.split_at(at));
    let n: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("invalid duration {s:?}: unit must be ms, s or m")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("invalid duration {s:?}: {e}"))
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
        assert!(parse_duration("1h").is_err());
        assert!(parse_duration("fast").is_err());
    }

    #[test]
    fn endpoints_split_on_commas() {
        let args = Args::try_parse_from(["cairntop", "--endpoints", "a:1,b:2", "--refresh", "2s"])
            .expect("parses");
        assert_eq!(args.endpoints, ["a:1", "b:2"]);
        assert_eq!(args.refresh, Duration::from_secs(2));
    }
}
