//! `cairnctl`, an etcdctl-compatible command line. Only `version` exists so
//! far; the other commands arrive with the server.

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "cairnctl", about = "A command line client for cairn and etcd")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Prints the version of cairnctl
    Version,
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("cairnctl version: {}", env!("CARGO_PKG_VERSION"));
            println!("API version: 3.5");
        }
    }
}
