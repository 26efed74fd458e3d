//! The `cairn` binary: glue only. It parses and resolves the configuration
//! (`cairn::config`), sets up logging and the tokio runtime, runs the server
//! (`cairn::server`) and stops it cleanly on SIGINT or SIGTERM, or when the
//! member stops on its own (removed from the cluster: exit 0; its raft
//! thread failed: the error, exit 1).

use std::process::ExitCode;

use cairn::config::{self, Flags, LogLevel};
use cairn::server::{Server, Stopped};

/// The etcd API version cairn speaks.
const ETCD_API_VERSION: &str = "3.5";

fn main() -> ExitCode {
    // The robustness suite's build: fail points from FAILPOINTS, and a
    // panic (a fail point's, or any) kills the process as a crash would,
    // instead of leaving a member with a dead thread.
    #[cfg(feature = "failpoints")]
    let _failpoints = {
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            report(info);
            std::process::abort();
        }));
        fail::FailScenario::setup()
    };
    let flags = match Flags::try_parse_go(std::env::args_os()) {
        Ok(flags) => flags,
        // clap prints usage errors (exit 2) and --help (exit 0) itself.
        Err(e) => e.exit(),
    };
    if flags.version {
        println!("cairn Version: {}", env!("CARGO_PKG_VERSION"));
        println!("etcd API Version: {ETCD_API_VERSION}");
        return ExitCode::SUCCESS;
    }
    match run(&flags) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cairn: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, as etcd reports them ("listening
/// for peers on ...: Address already in use"); a cause the message before
/// it already spells out is not repeated.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn run(flags: &Flags) -> anyhow::Result<()> {
    if flags.config_file.is_none() {
        for name in config::unrecognized_env_vars(std::env::vars_os().map(|(name, _)| name)) {
            eprintln!("cairn: warning: unrecognized environment variable {name}");
        }
    }
    let server_config = config::load(flags)?;
    if flags.print_config {
        server_config.verify_bootstrap()?;
        println!("cairn: resolved configuration:");
        for line in server_config.to_string().lines() {
            println!("  {line}");
        }
        return Ok(());
    }
    init_logging(server_config.log_level);
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        etcd_api = ETCD_API_VERSION,
        "starting cairn"
    );
    for line in server_config.to_string().lines() {
        tracing::info!("config: {line}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("cairn-io")
        .thread_stack_size(cairn::server::THREAD_STACK_BYTES)
        .build()?;
    runtime.block_on(async {
        let mut server = Server::start(&server_config).await?;
        tokio::select! {
            signalled = wait_for_signal() => {
                signalled?;
                tracing::info!("shutting down");
            }
            why = server.stopped() => match why {
                Stopped::Removed => tracing::info!("removed from the cluster; shutting down"),
                // shutdown() returns the raft thread's error.
                Stopped::Failed | Stopped::Shutdown => {}
            },
        }
        server.shutdown().await
    })
}

/// Logs to stderr at the configured level (`RUST_LOG` overrides it).
fn init_logging(level: LogLevel) {
    let default = match level {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error | LogLevel::Panic | LogLevel::Fatal => "error",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

/// Returns on SIGINT or SIGTERM.
async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}
