//! `cairnutl`, etcdutl's counterpart: offline work on files, where
//! `cairnctl` works over the network. It restores a snapshot file into a
//! new member's data dir, reports a snapshot file's status, defragments a
//! stopped member's store and hashes its key history. It links the server
//! crate, so a data dir is written and read exactly as the member that
//! runs on it writes and reads it.
//!
//! The command line is etcdutl 3.5's: the same commands, flags, output
//! formats (`-w simple|json|fields|table`) and `Error: ...` lines, plus
//! `hashkv`, which etcdutl gained in 3.6. [`run`] does the work and
//! returns what to print as an error; `main` is glue around it.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use cairnctl::cli::Format;
use cairnctl::cli::commands::snapshot::print_status;
use clap::{Args, Parser, Subcommand};

/// The command line.
#[derive(Parser, Debug)]
#[command(
    name = "cairnutl",
    version,
    about = "Offline work on cairn data dirs and snapshot files (etcdutl's counterpart)"
)]
pub struct Cli {
    /// set the output format (fields, json, simple, table)
    #[arg(
        short = 'w',
        long = "write-out",
        default_value = "simple",
        global = true
    )]
    pub write_out: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Manages etcd node snapshots
    #[command(subcommand)]
    Snapshot(Snapshot),
    /// Defragments the storage of a member that is not running
    Defrag {
        /// Required. Defragments a data directory not in use by cairn.
        #[arg(long, required = true)]
        data_dir: PathBuf,
    },
    /// Prints the KV history hash of a member that is not running
    Hashkv {
        /// Required. The data directory of a member not in use by cairn.
        #[arg(long, required = true)]
        data_dir: PathBuf,
        /// the revision to hash at (0: the current revision)
        #[arg(long, default_value_t = 0)]
        rev: i64,
    },
    /// Prints the version of cairnutl
    Version,
}

#[derive(Subcommand, Debug)]
pub enum Snapshot {
    /// Gets backend snapshot status of a given file
    Status {
        /// the snapshot file (etcd's format)
        filename: PathBuf,
    },
    /// Restores an etcd member snapshot to an etcd directory
    Restore(RestoreArgs),
}

/// `snapshot restore`'s flags: etcdutl's names; their defaults are those
/// of a new member's flags, which the server resolves.
#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// the snapshot file (saved with `snapshot save`)
    pub filename: PathBuf,
    /// Path to the output data directory
    #[arg(long)]
    pub data_dir: Option<String>,
    /// Path to the WAL directory (use --data-dir if none given)
    #[arg(long)]
    pub wal_dir: Option<String>,
    /// Human-readable name for this member
    #[arg(long)]
    pub name: Option<String>,
    /// Initial cluster configuration for restore bootstrap
    #[arg(long)]
    pub initial_cluster: Option<String>,
    /// Initial cluster token for the cluster during restore bootstrap
    #[arg(long)]
    pub initial_cluster_token: Option<String>,
    /// List of this member's peer URLs to advertise to the rest of the cluster
    #[arg(long)]
    pub initial_advertise_peer_urls: Option<String>,
    /// Ignore snapshot integrity hash value (not supported: cairn restores
    /// files saved with `snapshot save`, which carry their checksum)
    #[arg(long)]
    pub skip_hash_check: bool,
}

impl RestoreArgs {
    /// The member flags `cairn` would be started with, so that the data
    /// dir gets the same member and cluster ids it will compute.
    fn member_flags(&self) -> Vec<String> {
        let mut flags = vec!["cairn".to_string()];
        let pairs = [
            ("data-dir", &self.data_dir),
            ("wal-dir", &self.wal_dir),
            ("name", &self.name),
            ("initial-cluster", &self.initial_cluster),
            ("initial-cluster-token", &self.initial_cluster_token),
            (
                "initial-advertise-peer-urls",
                &self.initial_advertise_peer_urls,
            ),
        ];
        for (flag, value) in pairs {
            if let Some(v) = value {
                flags.push(format!("--{flag}={v}"));
            }
        }
        flags
    }
}

/// The clap definition, for man pages and completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// Runs `cli`, writing results to `out` (notes go to stderr). An error is
/// what `main` prints after `Error: `.
pub fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<()> {
    let format = match Format::named(&cli.write_out) {
        Some(Format::Protobuf) | None => {
            bail!("{} is not a supported output format", cli.write_out)
        }
        Some(format) => format,
    };
    match cli.command {
        Command::Snapshot(Snapshot::Status { filename }) => {
            let bytes = std::fs::read(&filename)
                .with_context(|| format!("reading {}", filename.display()))?;
            let status = cairnctl::snapshot_file::status(&bytes)?;
            print_status(format, out, &status)?;
        }
        Command::Snapshot(Snapshot::Restore(args)) => restore(&args)?,
        Command::Defrag { data_dir } => {
            let sizes = cairn::server::offline::defragment(&data_dir)?;
            eprintln!(
                "defragmented {}: {} bytes before, {} after",
                data_dir.display(),
                sizes.before,
                sizes.after
            );
        }
        Command::Hashkv { data_dir, rev } => {
            let h = cairn::server::offline::hash_kv(&data_dir, rev)?;
            print_hash_kv(format, out, &h)?;
        }
        Command::Version => {
            writeln!(out, "cairnutl version: {}", env!("CARGO_PKG_VERSION"))?;
            writeln!(out, "API version: 3.5")?;
        }
    }
    Ok(())
}

/// `snapshot restore FILE`: a new member's data dir holding the snapshot.
fn restore(args: &RestoreArgs) -> anyhow::Result<()> {
    if args.skip_hash_check {
        bail!(
            "--skip-hash-check is not supported: cairn restores files saved with \
             `snapshot save`, which carry their checksum"
        );
    }
    let flags = <cairn::config::Flags as Parser>::try_parse_from(args.member_flags())
        .map_err(|e| anyhow::anyhow!("{}", e.to_string().trim_end()))?;
    let cfg = cairn::config::load(&flags)?;
    let restored = cairn::server::restore::restore_snapshot(Path::new(&args.filename), &cfg)?;
    eprintln!(
        "restored snapshot {} ({} entries) into {}: member {:x} of cluster {:x}",
        args.filename.display(),
        restored.entries,
        cfg.data_dir.display(),
        restored.member_id,
        restored.cluster_id
    );
    Ok(())
}

/// `hashkv`'s answer in `format`, as etcdutl 3.6 prints it.
fn print_hash_kv(
    format: Format,
    out: &mut dyn Write,
    h: &cairn::mvcc::HashKv,
) -> std::io::Result<()> {
    match format {
        Format::Json => writeln!(
            out,
            "{{\"hash\":{},\"hashRevision\":{},\"compactRevision\":{}}}",
            h.hash, h.hash_revision, h.compact_revision
        ),
        Format::Table => {
            let row = vec![
                h.hash.to_string(),
                h.hash_revision.to_string(),
                h.compact_revision.to_string(),
            ];
            let headers = ["HASH", "HASH REVISION", "COMPACT REVISION"];
            write!(out, "{}", cairnctl::cli::table::render(&headers, &[row]))
        }
        Format::Fields => {
            writeln!(out, "\"Hash\" : {}", h.hash)?;
            writeln!(out, "\"HashRevision\" : {}", h.hash_revision)?;
            writeln!(out, "\"CompactRevision\" : {}", h.compact_revision)
        }
        _ => writeln!(
            out,
            "{}, {}, {}",
            h.hash, h.hash_revision, h.compact_revision
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("cairnutl").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn restore_passes_the_member_flags_on() {
        let cli = parse(&[
            "snapshot",
            "restore",
            "b.db",
            "--data-dir",
            "d",
            "--name=m1",
        ]);
        let Command::Snapshot(Snapshot::Restore(args)) = cli.command else {
            panic!("{cli:?}");
        };
        assert_eq!(args.member_flags(), ["cairn", "--data-dir=d", "--name=m1"]);
    }

    #[test]
    fn defrag_needs_a_data_dir() {
        assert!(Cli::try_parse_from(["cairnutl", "defrag"]).is_err());
    }

    #[test]
    fn a_missing_data_dir_is_one_error_line() {
        let dir = tempfile::tempdir().unwrap();
        let cli = parse(&["hashkv", "--data-dir", dir.path().to_str().unwrap()]);
        let err = run(cli, &mut Vec::new()).unwrap_err();
        assert!(
            format!("{err:#}").contains("holds no member data"),
            "{err:#}"
        );
    }
}
