//! The `cairn` binary: glue only. It parses and resolves the configuration
//! (`cairn::config`), prints it, and stops there: the server that would run
//! with it is not built yet, and the binary says so rather than pretend to
//! serve.

use std::process::ExitCode;

use anyhow::bail;
use cairn::config::{self, Flags};

/// The etcd API version cairn speaks.
const ETCD_API_VERSION: &str = "3.5";

fn main() -> ExitCode {
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
            eprintln!("cairn: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(flags: &Flags) -> anyhow::Result<()> {
    if flags.config_file.is_none() {
        for name in config::unrecognized_env_vars(std::env::vars_os().map(|(name, _)| name)) {
            eprintln!("cairn: warning: unrecognized environment variable {name}");
        }
    }
    let server_config = config::load(flags)?;
    // Until the server can tell a restart from its data dir apart from a
    // bootstrap, every start is a bootstrap.
    server_config.verify_bootstrap()?;
    eprintln!("cairn: resolved configuration:");
    for line in server_config.to_string().lines() {
        eprintln!("  {line}");
    }
    bail!(
        "the server is not built yet (cairn {} resolves its configuration and holds the consensus \
         core only)",
        env!("CARGO_PKG_VERSION")
    )
}
