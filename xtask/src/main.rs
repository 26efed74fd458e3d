//! `cargo xtask`: repository chores.
//!
//! - `cargo xtask man`: regenerates the man pages and shell completions
//!   under man/ from the command lines' clap definitions (review the diff,
//!   then commit it; `tests/man_pages.rs` fails until they match).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["man"] => match xtask::write(&xtask::repo_root()) {
            Ok(changes) if changes.is_empty() => {
                println!("man/ is up to date");
                ExitCode::SUCCESS
            }
            Ok(changes) => {
                println!("regenerated man/; what was out of date:");
                for change in changes {
                    println!("  {change}");
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("xtask man: {e}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!(
                "usage: cargo xtask man    (regenerate the man pages and completions in man/)"
            );
            ExitCode::from(2)
        }
    }
}
