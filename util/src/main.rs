//! `cairnutl`: parse, run, and turn a failure into etcdutl's one
//! `Error: ...` line (the error with its causes) and exit status 1.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cairnutl::Cli::parse();
    let mut out = std::io::stdout().lock();
    match cairnutl::run(cli, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(1)
        }
    }
}
