//! `cairnctl`, an etcdctl-compatible command line. Thin glue: parse, run,
//! and turn a failure into etcdctl's one `Error: ...` line and exit code.

use std::process::ExitCode;

use cairnctl::cli;
use clap::Parser;

fn main() -> ExitCode {
    let parsed = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::from(1);
        }
    };
    let outcome = runtime.block_on(cli::run(parsed, Box::new(std::io::stdout())));
    // Background tasks (watches, keep-alives) must not hold the exit.
    runtime.shutdown_background();
    match outcome {
        Ok(()) | Err(cli::Failure::BrokenPipe) => ExitCode::SUCCESS,
        Err(cli::Failure::Quiet(code)) => ExitCode::from(code as u8),
        Err(cli::Failure::Exit { code, message }) => {
            eprintln!("Error: {message}");
            ExitCode::from(code as u8)
        }
    }
}
