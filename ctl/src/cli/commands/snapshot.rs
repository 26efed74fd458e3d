//! `snapshot save FILE`: streams one member's backend into FILE, through
//! `FILE.part` so a broken stream never leaves a file that looks complete.
//! Progress (bytes, rate, time left) goes to stderr, drawn only when stderr
//! is a terminal. `snapshot status` reads etcd's bbolt files; `restore`
//! is cairnutl's, which builds a cairn data dir from a file saved from
//! cairn (see the server's `server::restore`).

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
        Command::Restore { args } => return restore(ctx, &args),
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

/// `snapshot restore FILE ...`: offline work on a data dir, which is
/// `cairnutl`'s (etcdctl 3.5 likewise hands it to etcdutl's code). Says
/// what etcdctl says, then runs `cairnutl snapshot restore` with the same
/// arguments: the one installed next to this binary, else the one on PATH.
fn restore(ctx: &mut Ctx, args: &[String]) -> Outcome {
    writeln!(
        ctx.out,
        "Deprecated: Use `etcdutl snapshot restore` instead.\n"
    )?;
    ctx.out.flush()?;
    let beside = std::env::current_exe()
        .ok()
        .map(|exe| exe.with_file_name("cairnutl"))
        .filter(|path| path.is_file());
    let program = beside.unwrap_or_else(|| "cairnutl".into());
    let status = std::process::Command::new(&program)
        .args(["snapshot", "restore"])
        .args(args)
        .status()
        .map_err(|e| {
            Failure::new(
                exit::ERROR,
                format!(
                    "snapshot restore runs cairnutl, which could not be started ({e}): \
                     install it next to cairnctl or on PATH"
                ),
            )
        })?;
    match status.code() {
        Some(0) => Ok(()),
        Some(code) => Err(Failure::Quiet(code)),
        None => Err(Failure::new(exit::ERROR, format!("cairnutl {status}"))),
    }
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
    let s = crate::snapshot_file::status(&bytes)
        .map_err(|e| Failure::new(exit::ERROR, e.to_string()))?;
    print_status(ctx.format, &mut ctx.out, &s)?;
    Ok(())
}

/// Prints what `snapshot status` found in `format`, as etcdctl and
/// etcdutl print it (`cairnutl snapshot status` uses this too).
pub fn print_status(
    format: crate::cli::Format,
    out: &mut dyn Write,
    s: &crate::snapshot_file::Status,
) -> std::io::Result<()> {
    let size = crate::cli::out::human_bytes(s.total_size as i64);
    match format {
        crate::cli::Format::Json => writeln!(
            out,
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
            write!(out, "{}", crate::cli::table::render(&headers, &[row]))?;
        }
        crate::cli::Format::Fields => {
            writeln!(out, "\"Hash\" : {}", s.hash)?;
            writeln!(out, "\"Revision\" : {}", s.revision)?;
            writeln!(out, "\"Keys\" : {}", s.total_key)?;
            writeln!(out, "\"Size\" : {}", s.total_size)?;
        }
        _ => writeln!(out, "{:x}, {}, {}, {size}", s.hash, s.revision, s.total_key)?,
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
