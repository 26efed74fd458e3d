//! `snapshot save FILE`: streams one member's backend into FILE, through
//! `FILE.part` so a broken stream never leaves a file that looks complete.
//! Progress (bytes, rate, time left) goes to stderr, drawn only when stderr
//! is a terminal. `snapshot status` reads etcd's bbolt files; `restore`
//! builds a cairn data dir from a file saved from cairn (see the server's
//! `server::restore`).

use std::io::Write;
use std::time::Duration;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{Ctx, Failure, Outcome, describe, exit};

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Stores an etcd node backend snapshot to a given file
    Save { args: Vec<String> },
    /// [deprecated] Gets backend snapshot status of a given file
    Status { args: Vec<String> },
    /// Restores an etcd member snapshot to an etcd directory
    Restore {
        /// FILE, then --data-dir, --wal-dir, --name, --initial-cluster,
        /// --initial-cluster-token, --initial-advertise-peer-urls
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn progress() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {bytes} of {total_bytes} ({binary_bytes_per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

pub async fn run(c: Command, ctx: &mut Ctx) -> Outcome {
    let args = match c {
        Command::Save { args } => args,
        Command::Status { args } => return status(ctx, &args),
        Command::Restore { args } => return restore(&args),
    };
    let [path] = args.as_slice() else {
        return Err(Failure::bad_args("snapshot save expects one argument"));
    };
    let endpoints = &ctx.global.endpoints;
    if endpoints.len() != 1 {
        return Err(Failure::new(
            exit::INTERRUPTED,
            format!(
                "snapshot must be requested to one selected node, not multiple [{}]",
                endpoints.join(" ")
            ),
        ));
    }
    let url = endpoints[0].clone();
    let part = format!("{path}.part");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    // A snapshot holds every key: readable by its owner only, as etcdctl's.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&part)
        .map_err(|e| Failure::new(exit::ERROR, format!("could not open {part} ({e})")))?;
    let client = ctx.client()?;
    let bar = progress();
    let mut received = 0u64;
    let streamed = client
        .snapshot_at(&url, |chunk, remaining| {
            received += chunk.len() as u64;
            bar.set_length(received + remaining);
            bar.set_position(received);
            file.write_all(chunk)
        })
        .await;
    bar.finish_and_clear();
    if let Err(e) = streamed {
        let _ = std::fs::remove_file(&part);
        return Err(Failure::new(exit::INTERRUPTED, describe(&e)));
    }
    file.sync_all()
        .and_then(|()| std::fs::rename(&part, path))
        .map_err(|e| {
            Failure::new(
                exit::ERROR,
                format!("could not rename {part} to {path} ({e})"),
            )
        })?;
    writeln!(ctx.out, "Snapshot saved at {path}")?;
    Ok(())
}

/// `snapshot restore FILE`'s flags: etcdutl's names and defaults (those
/// of a new member's flags, which the server resolves).
#[derive(clap::Parser, Debug)]
#[command(no_binary_name = true)]
struct RestoreArgs {
    file: String,
    #[arg(long)]
    data_dir: Option<String>,
    #[arg(long)]
    wal_dir: Option<String>,
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    initial_cluster: Option<String>,
    #[arg(long)]
    initial_cluster_token: Option<String>,
    #[arg(long)]
    initial_advertise_peer_urls: Option<String>,
    #[arg(long)]
    skip_hash_check: bool,
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

/// `snapshot restore FILE`: a new member's data dir holding the snapshot.
fn restore(args: &[String]) -> Outcome {
    use clap::Parser as _;
    let args = RestoreArgs::try_parse_from(args)
        .map_err(|e| Failure::bad_args(e.to_string().trim_end().to_string()))?;
    if args.skip_hash_check {
        return Err(Failure::new(
            exit::BAD_FEATURE,
            "--skip-hash-check is not supported: cairn restores files saved with `snapshot save`, \
             which carry their checksum",
        ));
    }
    let flags = cairn::config::Flags::try_parse_from(args.member_flags())
        .map_err(|e| Failure::bad_args(e.to_string().trim_end().to_string()))?;
    let cfg = cairn::config::load(&flags).map_err(|e| Failure::new(exit::ERROR, e.to_string()))?;
    let restored = cairn::server::restore::restore_snapshot(std::path::Path::new(&args.file), &cfg)
        .map_err(|e| Failure::new(exit::ERROR, format!("{e:#}")))?;
    eprintln!(
        "restored snapshot {} ({} entries) into {}: member {:x} of cluster {:x}",
        args.file,
        restored.entries,
        cfg.data_dir.display(),
        restored.member_id,
        restored.cluster_id
    );
    Ok(())
}

/// `snapshot status FILE`: hash, revision, key count and size, in etcdctl's
/// formats (with its deprecation notice on stderr).
fn status(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let [path] = args else {
        return Err(Failure::bad_args(
            "snapshot status requires exactly one argument",
        ));
    };
    eprintln!("Deprecated: Use `etcdutl snapshot status` instead.\n");
    let bytes =
        std::fs::read(path).map_err(|e| Failure::new(exit::ERROR, format!("open {path}: {e}")))?;
    let s = cairnctl::snapshot_file::status(&bytes)
        .map_err(|e| Failure::new(exit::ERROR, e.to_string()))?;
    let size = crate::cli::out::human_bytes(s.total_size as i64);
    match ctx.format {
        crate::cli::Format::Json => writeln!(
            ctx.out,
            "{}",
            crate::cli::json::Obj::new()
                .num("hash", s.hash)
                .num("revision", s.revision)
                .num("totalKey", s.total_key)
                .num("totalSize", s.total_size)
                .finish()
        )?,
        crate::cli::Format::Table => {
            let row = vec![
                format!("{:x}", s.hash),
                s.revision.to_string(),
                s.total_key.to_string(),
                size,
            ];
            let headers = ["HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE"];
            write!(ctx.out, "{}", crate::cli::table::render(&headers, &[row]))?;
        }
        crate::cli::Format::Fields => {
            writeln!(ctx.out, "\"Hash\" : {}", s.hash)?;
            writeln!(ctx.out, "\"Revision\" : {}", s.revision)?;
            writeln!(ctx.out, "\"Keys\" : {}", s.total_key)?;
            writeln!(ctx.out, "\"Size\" : {}", s.total_size)?;
        }
        _ => writeln!(
            ctx.out,
            "{:x}, {}, {}, {size}",
            s.hash, s.revision, s.total_key
        )?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::commands::{Command as Top, parse};

    #[test]
    fn save_takes_a_file() {
        match parse(&["snapshot", "save", "x.db"]).unwrap().command {
            Top::Snapshot(Command::Save { args }) => assert_eq!(args, ["x.db"]),
            other => panic!("{other:?}"),
        }
    }
}
