//! `make-mirror DEST`: copies every key under `--prefix` to the cluster at
//! DEST (renamed under `--dest-prefix`, or with the prefix stripped with
//! `--no-dest-prefix`), then follows the source's changes for ever: each
//! source revision becomes one transaction on the destination, so the
//! mirror never shows half of a source transaction. Prints the number of
//! keys mirrored every 30 s, as etcdctl does; a spinner with the count runs
//! on stderr when it is a terminal.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cairn_client::pb;
use cairn_client::pb::request_op::Request;
use cairn_client::{Client, WatchOptions};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::get::key_range;
use crate::cli::{Ctx, Failure, Outcome, exit};

/// Keys read per page while copying the base.
const PAGE: i64 = 1000;
/// How often the mirrored count is printed.
const REPORT_EVERY: Duration = Duration::from_secs(30);

#[derive(clap::Args, Debug, Clone, Default)]
pub struct Args {
    /// Key-value prefix to mirror
    #[arg(long, default_value = "")]
    pub prefix: String,
    /// destination prefix to mirror a prefix to a different prefix in the destination cluster
    #[arg(long = "dest-prefix", default_value = "")]
    pub dest_prefix: String,
    /// mirror key-values to the root of the destination cluster
    #[arg(long = "no-dest-prefix")]
    pub no_dest_prefix: bool,
    /// Verify certificates of TLS enabled secure servers using this CA bundle
    #[arg(long = "dest-cacert")]
    pub dest_cacert: Option<String>,
    /// Identify secure client using this TLS certificate file for the destination cluster
    #[arg(long = "dest-cert")]
    pub dest_cert: Option<String>,
    /// Identify secure client using this TLS key file
    #[arg(long = "dest-key")]
    pub dest_key: Option<String>,
    /// Destination username[:password] for authentication
    #[arg(long = "dest-user")]
    pub dest_user: Option<String>,
    /// Destination password for authentication
    #[arg(long = "dest-password")]
    pub dest_password: Option<String>,
    pub args: Vec<String>,
}

/// The destination key of source key `key`.
pub fn rename(key: &[u8], prefix: &str, dest_prefix: &str) -> Vec<u8> {
    let rest = key.strip_prefix(prefix.as_bytes()).unwrap_or(key);
    let mut out = dest_prefix.as_bytes().to_vec();
    out.extend_from_slice(rest);
    out
}

pub async fn run(a: Args, ctx: &mut Ctx) -> Outcome {
    let [dest] = a.args.as_slice() else {
        return Err(Failure::bad_args(
            "make-mirror takes one destination argument",
        ));
    };
    if a.no_dest_prefix && !a.dest_prefix.is_empty() {
        return Err(Failure::bad_args(
            "`--dest-prefix` and `--no-dest-prefix` cannot be set at the same time, choose one",
        ));
    }
    if a.dest_cacert.is_some()
        || a.dest_cert.is_some()
        || a.dest_key.is_some()
        || a.dest_user.is_some()
    {
        return Err(Failure::new(
            exit::BAD_FEATURE,
            "TLS and users for the destination are not supported by cairnctl yet",
        ));
    }
    let dest_prefix = if a.no_dest_prefix {
        String::new()
    } else if a.dest_prefix.is_empty() {
        a.prefix.clone()
    } else {
        a.dest_prefix.clone()
    };
    let source = ctx.client()?;
    // Another cluster: the source's user does not log in there (etcdctl
    // logs in to the destination only with --dest-user).
    let mut config = ctx.config()?;
    config.endpoints = vec![dest.clone()];
    let target =
        Client::new(config).map_err(|e| Failure::new(exit::BAD_CONNECTION, e.to_string()))?;
    let total = Arc::new(AtomicU64::new(0));
    let spinner = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    spinner.set_style(
        ProgressStyle::with_template("{spinner} {pos} keys mirrored")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    spinner.enable_steady_tick(Duration::from_millis(200));
    let mirror = mirror(&source, &target, &a.prefix, &dest_prefix, &total, &spinner);
    tokio::pin!(mirror);
    let mut report =
        tokio::time::interval_at(tokio::time::Instant::now() + REPORT_EVERY, REPORT_EVERY);
    loop {
        tokio::select! {
            r = &mut mirror => {
                spinner.finish_and_clear();
                return r;
            }
            _ = report.tick() => {
                spinner.suspend(|| writeln!(ctx.out, "{}", total.load(Ordering::Relaxed)))?;
                ctx.out.flush()?;
            }
        }
    }
}

async fn mirror(
    source: &Client,
    target: &Client,
    prefix: &str,
    dest_prefix: &str,
    total: &AtomicU64,
    spinner: &ProgressBar,
) -> Outcome {
    let (key, end) = key_range(prefix, None, true, false);
    let counted = |n: u64| {
        let now = total.fetch_add(n, Ordering::Relaxed) + n;
        spinner.set_position(now);
    };
    // The base: every key as of one revision, page by page.
    let mut revision = 0;
    let mut from = key.clone();
    loop {
        let page = source
            .range(pb::RangeRequest {
                key: from.clone(),
                range_end: end.clone(),
                limit: PAGE,
                revision,
                ..Default::default()
            })
            .await?;
        if revision == 0 {
            revision = page.header.as_ref().map_or(0, |h| h.revision);
        }
        for kv in &page.kvs {
            target
                .put(pb::PutRequest {
                    key: rename(&kv.key, prefix, dest_prefix),
                    value: kv.value.clone(),
                    ..Default::default()
                })
                .await?;
            counted(1);
        }
        match page.kvs.last() {
            Some(last) if page.more => {
                from = last.key.clone();
                from.push(0);
            }
            _ => break,
        }
    }
    // Then the changes, one destination transaction per source revision.
    let mut watcher = source.watch(WatchOptions {
        key,
        range_end: end,
        start_revision: revision + 1,
        ..Default::default()
    });
    while let Some(resp) = watcher.next().await {
        let resp = resp?;
        let mut ops = Vec::new();
        let mut rev = 0;
        for e in &resp.events {
            let kv = e.kv.clone().unwrap_or_default();
            if rev != 0 && kv.mod_revision != rev {
                apply(target, std::mem::take(&mut ops)).await?;
            }
            rev = kv.mod_revision;
            let key = rename(&kv.key, prefix, dest_prefix);
            ops.push(if e.r#type == 1 {
                Request::RequestDeleteRange(pb::DeleteRangeRequest {
                    key,
                    ..Default::default()
                })
            } else {
                Request::RequestPut(pb::PutRequest {
                    key,
                    value: kv.value,
                    ..Default::default()
                })
            });
            counted(1);
        }
        if !ops.is_empty() {
            apply(target, ops).await?;
        }
    }
    Err(Failure::new(exit::ERROR, "watch of the source ended"))
}

async fn apply(target: &Client, ops: Vec<Request>) -> Outcome {
    let success = ops
        .into_iter()
        .map(|r| pb::RequestOp { request: Some(r) })
        .collect();
    target
        .txn(pb::TxnRequest {
            success,
            ..Default::default()
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::commands::{Command, parse};

    #[test]
    fn keys_move_under_the_destination_prefix() {
        assert_eq!(rename(b"/m/a", "/m/", "/copy/"), b"/copy/a");
        assert_eq!(rename(b"/m/a", "/m/", ""), b"a");
    }

    #[test]
    fn flags() {
        match parse(&[
            "make-mirror",
            "--prefix=/m/",
            "--dest-prefix=/c/",
            "127.0.0.1:2379",
        ])
        .unwrap()
        .command
        {
            Command::MakeMirror(a) => {
                assert_eq!((a.prefix.as_str(), a.dest_prefix.as_str()), ("/m/", "/c/"));
                assert_eq!(a.args, ["127.0.0.1:2379"]);
            }
            other => panic!("{other:?}"),
        }
    }
}
