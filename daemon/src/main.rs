//! The `cairn` binary. The server itself (etcd's v3 API over Raft) is built
//! on the consensus core in `cairn::raft`; until it lands, the binary says so
//! rather than pretend to serve.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--version") {
        println!("cairn Version: {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "cairn {}: the server is not built yet; this build contains the consensus core only",
        env!("CARGO_PKG_VERSION")
    );
    ExitCode::FAILURE
}
