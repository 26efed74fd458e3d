//! The commands, one file each. Every file holds the command's clap
//! arguments (etcdctl's flag names), its `run`, and parse-only tests; what
//! a command prints for each `-w` format is in the same file, next to the
//! call it prints.

pub mod alarm;
pub mod auth;
pub mod bench;
pub mod check;
pub mod compaction;
pub mod completion;
pub mod defrag;
pub mod del;
pub mod elect;
pub mod endpoint;
pub mod get;
pub mod lease;
pub mod lock;
pub mod make_mirror;
pub mod member;
pub mod move_leader;
pub mod put;
pub mod role;
pub mod snapshot;
pub mod txn;
pub mod user;
pub mod version;
pub mod watch;

use clap::Subcommand;

use super::{Ctx, Outcome};

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Gets the key or a range of keys
    Get(get::Args),
    /// Puts the given key into the store
    Put(put::Args),
    /// Removes the specified key or range of keys [key, range_end)
    Del(del::Args),
    /// Txn processes all the requests in one transaction
    Txn(txn::Args),
    /// Compacts the event history in etcd
    Compaction(compaction::Args),
    /// Watches events stream on keys or prefixes
    Watch(watch::Args),
    /// Lease related commands
    #[command(subcommand)]
    Lease(lease::Command),
    /// Membership related commands
    #[command(subcommand)]
    Member(member::Command),
    /// Endpoint related commands
    #[command(subcommand)]
    Endpoint(endpoint::Command),
    /// Alarm related commands
    #[command(subcommand)]
    Alarm(alarm::Command),
    /// Defragments the storage of the etcd members with given endpoints
    Defrag(defrag::Args),
    /// Transfers leadership to another etcd cluster member.
    #[command(name = "move-leader")]
    MoveLeader(move_leader::Args),
    /// Makes a mirror at the destination etcd cluster
    #[command(name = "make-mirror")]
    MakeMirror(make_mirror::Args),
    /// Manages etcd node snapshots
    #[command(subcommand)]
    Snapshot(snapshot::Command),
    /// Enable or disable authentication
    #[command(subcommand)]
    Auth(auth::Command),
    /// User related commands
    #[command(subcommand)]
    User(user::Command),
    /// Role related commands
    #[command(subcommand)]
    Role(role::Command),
    /// Acquires a named lock
    Lock(lock::Args),
    /// Observes and participates in leader election
    Elect(elect::Args),
    /// commands for checking properties of the etcd cluster
    #[command(subcommand)]
    Check(check::Command),
    /// Benchmarks a cluster (etcd's benchmark tool's workloads)
    Bench(bench::Args),
    /// Prints the version of cairnctl
    Version,
    /// Generates completion scripts for bash, zsh or fish
    Completion(completion::Args),
}

pub async fn run(command: Command, ctx: &mut Ctx) -> Outcome {
    match command {
        Command::Get(a) => get::run(a, ctx).await,
        Command::Put(a) => put::run(a, ctx).await,
        Command::Del(a) => del::run(a, ctx).await,
        Command::Txn(a) => txn::run(a, ctx).await,
        Command::Compaction(a) => compaction::run(a, ctx).await,
        Command::Watch(a) => watch::run(a, ctx).await,
        Command::Lease(c) => lease::run(c, ctx).await,
        Command::Member(c) => member::run(c, ctx).await,
        Command::Endpoint(c) => endpoint::run(c, ctx).await,
        Command::Alarm(c) => alarm::run(c, ctx).await,
        Command::Defrag(a) => defrag::run(a, ctx).await,
        Command::MoveLeader(a) => move_leader::run(a, ctx).await,
        Command::Snapshot(c) => snapshot::run(c, ctx).await,
        Command::MakeMirror(a) => make_mirror::run(a, ctx).await,
        Command::Auth(c) => auth::run(c, ctx).await,
        Command::User(c) => user::run(c, ctx).await,
        Command::Role(c) => role::run(c, ctx).await,
        Command::Lock(a) => lock::run(a, ctx).await,
        Command::Elect(a) => elect::run(a, ctx).await,
        Command::Bench(a) => bench::run(a, ctx).await,
        Command::Check(c) => check::run(c, ctx).await,
        Command::Version => version::run(ctx),
        Command::Completion(a) => completion::run(a, ctx),
    }
}

/// The arguments of subcommand `$name` (variant `$variant` of
/// [`Command`]) parsed from `$name` followed by `$args`; panics if they do
/// not parse as that subcommand. For the parse-only tests of each command.
#[cfg(test)]
macro_rules! parse_subcommand {
    ($variant:ident, $name:literal, $args:expr) => {{
        let mut full = vec![$name];
        full.extend_from_slice($args);
        match $crate::cli::commands::parse(&full).expect("parses").command {
            $crate::cli::commands::Command::$variant(a) => a,
            other => panic!("not {}: {other:?}", $name),
        }
    }};
}
#[cfg(test)]
pub(crate) use parse_subcommand;

/// Parses `args` (without the program name) as a cairnctl command line,
/// for the parse-only tests of each command.
#[cfg(test)]
pub fn parse(args: &[&str]) -> Result<super::Cli, clap::Error> {
    use clap::Parser;
    let mut full = vec!["cairnctl"];
    full.extend_from_slice(args);
    super::Cli::try_parse_from(full)
}
