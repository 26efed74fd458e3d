//! `watch [KEY [RANGE_END]] [-- CMD ARGS...]` and `watch -i`.
//!
//! Events print as they arrive, one response at a time, flushed, so a
//! script reading the pipe sees each event at once. With a command after
//! `--`, the command runs once per event with `ETCD_WATCH_REVISION`,
//! `ETCD_WATCH_EVENT_TYPE`, `ETCD_WATCH_KEY` and `ETCD_WATCH_VALUE` set
//! (Go-quoted, as etcdctl sets them). The watch survives the loss of its
//! member (the client library resumes it elsewhere); it ends only when the
//! server cancels it.

use std::io::{BufRead, Write};

use cairn_client::pb;
use cairn_client::{WatchOptions, Watcher};
use clap::Parser;

use super::get::key_range;
use super::txn::argify;
use crate::cli::out::{self, go_quote};
use crate::cli::{Ctx, Failure, Format, Outcome, exit, json};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct Args {
    /// Interactive mode
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Watch on a prefix if prefix is set
    #[arg(long)]
    pub prefix: bool,
    /// Revision to start watching
    #[arg(long, default_value_t = 0)]
    pub rev: i64,
    /// get the previous key-value pair before the event happens
    #[arg(long = "prev-kv")]
    pub prev_kv: bool,
    /// get periodic watch progress notification from server
    #[arg(long = "progress-notify")]
    pub progress_notify: bool,
    pub args: Vec<String>,
    /// A command to run for each event
    #[arg(last = true)]
    pub exec: Vec<String>,
}

/// One `watch ...` line of interactive mode.
#[derive(Parser, Debug)]
#[command(no_binary_name = true)]
enum Line {
    Watch(Args),
}

/// The watch options of `a`; the key and range end fall back to
/// `ETCDCTL_WATCH_KEY` and `ETCDCTL_WATCH_RANGE_END`.
pub fn options(a: &Args, env: impl Fn(&str) -> Option<String>) -> Result<WatchOptions, Failure> {
    let key = a.args.first().cloned().or_else(|| env("ETCDCTL_WATCH_KEY"));
    let end = a
        .args
        .get(1)
        .cloned()
        .or_else(|| env("ETCDCTL_WATCH_RANGE_END"));
    if a.args.len() > 2 {
        return Err(Failure::bad_args("bad number of arguments"));
    }
    let Some(key) = key else {
        return Err(Failure::bad_args("bad number of arguments"));
    };
    if a.prefix && end.is_some() {
        return Err(Failure::bad_args(
            "`range_end` and `--prefix` are mutually exclusive",
        ));
    }
    let (key, range_end) = key_range(&key, end.as_deref(), a.prefix, false);
    Ok(WatchOptions {
        key,
        range_end,
        start_revision: a.rev,
        prev_kv: a.prev_kv,
        progress_notify: a.progress_notify,
    })
}

pub async fn run(a: Args, ctx: &mut Ctx) -> Outcome {
    ctx.only(&[Format::Simple, Format::Json])?;
    let client = ctx.client()?;
    if a.interactive {
        return interactive(ctx, client).await;
    }
    let options = options(&a, |k| std::env::var(k).ok())?;
    let mut watcher = client.watch(options);
    follow(ctx, &mut watcher, &a.exec).await
}

/// Prints a watcher's responses until it ends.
async fn follow(ctx: &mut Ctx, watcher: &mut Watcher, exec: &[String]) -> Outcome {
    while let Some(next) = watcher.next().await {
        let resp = match next {
            Ok(r) => r,
            Err(e) => {
                eprintln!("watch was canceled ({e})");
                break;
            }
        };
        print(ctx, &resp)?;
        ctx.out.flush()?;
        if !exec.is_empty() {
            run_exec(exec, &resp)?;
        }
    }
    Err(Failure::new(
        exit::INTERRUPTED,
        "watch is canceled by the server",
    ))
}

/// The server refused to create the watch (no permission, a bad range).
fn refused_at_creation(resp: &pb::WatchResponse) -> bool {
    resp.created && resp.canceled && (resp.watch_id == -1 || !resp.cancel_reason.is_empty())
}

/// A response with no events that is not a creation: the server saying how
/// far the watch has got.
fn is_progress_notify(resp: &pb::WatchResponse) -> bool {
    resp.events.is_empty() && !resp.canceled && !resp.created && resp.compact_revision == 0
}

pub fn print(ctx: &mut Ctx, resp: &pb::WatchResponse) -> Outcome {
    if refused_at_creation(resp) {
        // etcd's client hands over a cancellation of its own instead of
        // the server's answer: no header, no events.
        if ctx.format == Format::Json {
            writeln!(
                ctx.out,
                r#"{{"Header":{{}},"Events":null,"CompactRevision":0,"Canceled":true,"Created":false}}"#
            )?;
        }
        return Ok(());
    }
    if is_progress_notify(resp) {
        let rev = resp.header.as_ref().map_or(0, |h| h.revision);
        writeln!(ctx.out, "progress notify: {rev}")?;
    }
    if ctx.format == Format::Json {
        writeln!(ctx.out, "{}", json::watch(resp).finish())?;
        return Ok(());
    }
    for e in &resp.events {
        writeln!(ctx.out, "{}", if e.r#type == 1 { "DELETE" } else { "PUT" })?;
        if let Some(prev) = &e.prev_kv {
            out::kv(&mut ctx.out, prev, ctx.hex, false)?;
        }
        if let Some(kv) = &e.kv {
            out::kv(&mut ctx.out, kv, ctx.hex, false)?;
        }
    }
    Ok(())
}

fn run_exec(exec: &[String], resp: &pb::WatchResponse) -> Outcome {
    let rev = resp.header.as_ref().map_or(0, |h| h.revision);
    for e in &resp.events {
        let kv = e.kv.clone().unwrap_or_default();
        let kind = if e.r#type == 1 { "DELETE" } else { "PUT" };
        let status = std::process::Command::new(&exec[0])
            .args(&exec[1..])
            .env("ETCD_WATCH_REVISION", rev.to_string())
            .env("ETCD_WATCH_EVENT_TYPE", go_quote(kind.as_bytes()))
            .env("ETCD_WATCH_KEY", go_quote(&kv.key))
            .env("ETCD_WATCH_VALUE", go_quote(&kv.value))
            .status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => {
                return Err(Failure::new(
                    exit::ERROR,
                    format!("command {exec:?} error ({s})"),
                ));
            }
            Err(e) => {
                return Err(Failure::new(
                    exit::ERROR,
                    format!("command {exec:?} error ({e})"),
                ));
            }
        }
    }
    Ok(())
}

/// `watch -i`: each stdin line `watch [flags] KEY [END]` starts a watch;
/// all their events print as they come.
async fn interactive(ctx: &mut Ctx, client: cairn_client::Client) -> Outcome {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<pb::WatchResponse>(64);
    let (lines_tx, mut lines_rx) = tokio::sync::mpsc::channel::<String>(8);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if lines_tx.blocking_send(line).is_err() {
                return;
            }
        }
    });
    let mut stdin_open = true;
    loop {
        tokio::select! {
            line = lines_rx.recv(), if stdin_open => {
                let Some(line) = line else { stdin_open = false; continue };
                let words = argify(&line);
                if words.is_empty() {
                    continue;
                }
                let Ok(Line::Watch(a)) = Line::try_parse_from(&words) else {
                    eprintln!("Invalid command: {line} (only support watch)");
                    continue;
                };
                let options = match options(&a, |_| None) {
                    Ok(o) => o,
                    Err(_) => {
                        eprintln!("Invalid command: {line}");
                        continue;
                    }
                };
                let mut watcher = client.watch(options);
                let tx = tx.clone();
                tokio::spawn(async move {
                    while let Some(Ok(resp)) = watcher.next().await {
                        if tx.send(resp).await.is_err() {
                            return;
                        }
                    }
                });
            }
            resp = rx.recv() => {
                let Some(resp) = resp else { break };
                print(ctx, &resp)?;
                ctx.out.flush()?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::commands::parse_subcommand;

    fn watch(args: &[&str]) -> Args {
        parse_subcommand!(Watch, "watch", args)
    }

    #[test]
    fn prefix_rev_prev_kv() {
        let o = options(&watch(&["--prefix", "/w/", "--rev=3", "--prev-kv"]), |_| {
            None
        })
        .unwrap();
        assert_eq!(
            (o.key.as_slice(), o.range_end.as_slice()),
            (&b"/w/"[..], &b"/w0"[..])
        );
        assert_eq!((o.start_revision, o.prev_kv), (3, true));
    }

    #[test]
    fn command_after_double_dash() {
        let a = watch(&["k", "--", "echo", "hi"]);
        assert_eq!(a.args, ["k"]);
        assert_eq!(a.exec, ["echo", "hi"]);
    }

    #[test]
    fn key_from_the_environment() {
        let o = options(&watch(&[]), |k| {
            (k == "ETCDCTL_WATCH_KEY").then(|| "env-key".to_owned())
        })
        .unwrap();
        assert_eq!(o.key, b"env-key");
        assert!(options(&watch(&[]), |_| None).is_err());
    }
}
