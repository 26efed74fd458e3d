//! `cairntop`, a live terminal dashboard of a cairn (or etcd) cluster. The
//! dashboard arrives once the client library can talk to a server.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "cairntop {}: the dashboard is not built yet",
        env!("CARGO_PKG_VERSION")
    );
    ExitCode::FAILURE
}
