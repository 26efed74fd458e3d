//! `lock NAME [CMD ARGS...]`: takes the distributed lock NAME (etcd's
//! client-side algorithm, so cairnctl and etcdctl exclude each other), then
//! either prints the holder key and holds the lock until SIGINT or SIGTERM,
//! or runs CMD with `ETCD_LOCK_KEY` and `ETCD_LOCK_REV` set and releases
//! the lock when it exits.

use std::io::Write;

use cairn_client::concurrency::{self, Session};
use cairn_client::pb;

use super::get;
use crate::cli::{Ctx, Failure, Outcome, exit};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct Args {
    /// timeout for session
    #[arg(long, default_value_t = 10)]
    pub ttl: i64,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// `args` without its first `--`, which etcdctl's flag parser drops
/// (`lock NAME -- CMD ...`).
fn without_separator(mut args: Vec<String>) -> Vec<String> {
    if let Some(at) = args.iter().position(|w| w == "--") {
        args.remove(at);
    }
    args
}

pub async fn run(a: Args, ctx: &mut Ctx) -> Outcome {
    let args = without_separator(a.args);
    let Some((name, command)) = args.split_first() else {
        return Err(Failure::bad_args(
            "lock takes a lock name argument and an optional command to execute.",
        ));
    };
    let mut stop = Interrupt::listen();
    let client = ctx.client()?;
    let mut session = Session::new(&client, a.ttl).await?;
    let locked = tokio::select! {
        l = concurrency::lock(&client, &session, name) => l?,
        _ = stop.wait() => return Err(Failure::Quiet(exit::INTERRUPTED)),
    };
    if !command.is_empty() {
        let status = tokio::process::Command::new(&command[0])
            .args(&command[1..])
            .env(
                "ETCD_LOCK_KEY",
                String::from_utf8_lossy(&locked.key).as_ref(),
            )
            .env("ETCD_LOCK_REV", locked.header.revision.to_string())
            .status()
            .await;
        let unlocked = concurrency::unlock(&client, &locked).await;
        let _ = session.close().await;
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => return Err(Failure::new(exit::ERROR, s.to_string())),
            Err(e) => return Err(Failure::new(exit::ERROR, e.to_string())),
        }
        return unlocked.map_err(Failure::from);
    }
    let held = client
        .range(pb::RangeRequest {
            key: locked.key.clone(),
            ..Default::default()
        })
        .await?;
    if held.kvs.is_empty() {
        return Err(Failure::new(exit::ERROR, "lock lost on init"));
    }
    get::print(ctx, &held, false)?;
    ctx.out.flush()?;
    tokio::select! {
        _ = stop.wait() => {
            concurrency::unlock(&client, &locked).await?;
            let _ = session.close().await;
            Ok(())
        }
        _ = session.done() => Err(Failure::new(exit::ERROR, "session expired")),
    }
}

/// SIGINT or SIGTERM, listened for from the moment it is made. A signal
/// that arrives while nothing is awaiting it (say between acquiring the
/// lock and waiting to release it) is kept for the next `wait`, where a
/// listener made afresh for each wait would let it slip by unseen and the
/// process would hold on forever.
#[derive(Debug)]
pub struct Interrupt {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Interrupt {
    pub fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signals = signal(SignalKind::interrupt())
                .and_then(|int| Ok((int, signal(SignalKind::terminate())?)))
                .ok();
            Interrupt { signals }
        }
        #[cfg(not(unix))]
        Interrupt {}
    }

    /// Resolves once SIGINT or SIGTERM has arrived since `listen`.
    pub async fn wait(&mut self) {
        #[cfg(unix)]
        if let Some((int, term)) = &mut self.signals {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Interrupt, without_separator};
    use crate::cli::commands::{Command, parse};

    #[tokio::test]
    async fn a_signal_arriving_before_the_wait_is_kept_for_it() {
        let mut stop = Interrupt::listen();
        let sent = std::process::Command::new("kill")
            .args(["-INT", &std::process::id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success());
        // Let the signal land while nothing awaits it.
        tokio::time::sleep(Duration::from_millis(200)).await;
        tokio::time::timeout(Duration::from_secs(10), stop.wait())
            .await
            .expect("the SIGINT sent before waiting was seen");
    }

    #[test]
    fn name_then_command_with_its_own_flags() {
        match parse(&["lock", "--ttl=5", "mylock", "ls", "-l"])
            .unwrap()
            .command
        {
            Command::Lock(a) => {
                assert_eq!(a.ttl, 5);
                assert_eq!(a.args, ["mylock", "ls", "-l"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_separator_before_the_command_is_dropped() {
        match parse(&["lock", "mylock", "--", "sh", "-c", "echo --"])
            .unwrap()
            .command
        {
            Command::Lock(a) => {
                assert_eq!(without_separator(a.args), ["mylock", "sh", "-c", "echo --"]);
            }
            other => panic!("{other:?}"),
        }
    }
}
