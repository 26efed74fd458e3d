//! `elect NAME [PROPOSAL]` and `elect -l NAME`: campaigns in an election
//! (etcd's client-side algorithm, so cairnctl and etcdctl candidates share
//! one election) and prints the leader key and value once elected, holding
//! leadership until SIGINT or SIGTERM; with `--listen`, prints each new
//! leader as leadership changes.

use std::io::Write;

use cairn_client::WatchOptions;
use cairn_client::concurrency::{self, Session};

use super::get;
use super::lock::Interrupt;
use crate::cli::{Ctx, Failure, Outcome, exit};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct Args {
    /// observation mode
    #[arg(short = 'l', long)]
    pub listen: bool,
    /// timeout for session
    #[arg(long, default_value_t = 60)]
    pub ttl: i64,
    pub args: Vec<String>,
}

pub async fn run(a: Args, ctx: &mut Ctx) -> Outcome {
    let usage = "elect takes one election name argument and one proposal argument.";
    let mut stop = Interrupt::listen();
    let client = ctx.client()?;
    if a.listen {
        let [name] = a.args.as_slice() else {
            return Err(Failure::bad_args(usage));
        };
        tokio::select! {
            r = observe(ctx, &client, name) => return r,
            _ = stop.wait() => return Ok(()),
        }
    }
    let [name, proposal] = a.args.as_slice() else {
        return Err(Failure::bad_args(usage));
    };
    let mut session = Session::new(&client, a.ttl).await?;
    let key = tokio::select! {
        k = concurrency::campaign(&client, &session, name, proposal.as_bytes()) => k?,
        _ = stop.wait() => return Err(Failure::Quiet(exit::INTERRUPTED)),
    };
    let resp = client
        .range(cairn_client::pb::RangeRequest {
            key,
            ..Default::default()
        })
        .await?;
    get::print(ctx, &resp, false)?;
    ctx.out.flush()?;
    tokio::select! {
        _ = stop.wait() => {
            // Resign: the next candidate takes over at once.
            let _ = session.close().await;
            Ok(())
        }
        _ = session.done() => Err(Failure::new(exit::ERROR, "elect: session expired")),
    }
}

/// Prints the leader, then every change of leader or of its value.
async fn observe(ctx: &mut Ctx, client: &cairn_client::Client, name: &str) -> Outcome {
    let prefix = format!("{name}/").into_bytes();
    let mut last: Option<(Vec<u8>, i64)> = None;
    loop {
        let resp = concurrency::leader(client, name).await?;
        let rev = resp.header.as_ref().map_or(0, |h| h.revision);
        let now = resp.kvs.first().map(|kv| (kv.key.clone(), kv.mod_revision));
        if now.is_some() && now != last {
            get::print(ctx, &resp, false)?;
            ctx.out.flush()?;
        }
        last = now;
        let mut watcher = client.watch(WatchOptions {
            key: prefix.clone(),
            range_end: get::prefix_end(&prefix),
            start_revision: rev + 1,
            ..Default::default()
        });
        match watcher.next().await {
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => return Err(Failure::new(exit::ERROR, "watch ended")),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::cli::commands::{Command, parse};

    #[test]
    fn campaign_and_listen() {
        match parse(&["elect", "e", "p"]).unwrap().command {
            Command::Elect(a) => assert!(!a.listen && a.args == ["e", "p"]),
            other => panic!("{other:?}"),
        }
        match parse(&["elect", "-l", "e"]).unwrap().command {
            Command::Elect(a) => assert!(a.listen),
            other => panic!("{other:?}"),
        }
    }
}
