//! `completion bash|zsh|fish`: shell completion generated from the same
//! clap definitions the parser uses, so it never drifts from the flags.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, Ctx, Failure, Outcome};

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// bash, zsh or fish
    pub shell: String,
}

pub fn shell(name: &str) -> Result<Shell, Failure> {
    match name {
        "bash" => Ok(Shell::Bash),
        "zsh" => Ok(Shell::Zsh),
        "fish" => Ok(Shell::Fish),
        other => Err(Failure::bad_args(format!(
            "unsupported shell {other:?}; use bash, zsh or fish"
        ))),
    }
}

/// The completion script for `shell`, as `cairnctl completion` prints it
/// and as `man/completions/` holds it.
pub fn script(shell: Shell) -> Vec<u8> {
    // clap_complete panics on a write error; rendering into memory first
    // lets a closed pipe end quietly like any other output.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "cairnctl", &mut script);
    script
}

pub fn run(a: Args, ctx: &mut Ctx) -> Outcome {
    let shell = shell(&a.shell)?;
    ctx.out.write_all(&script(shell))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_a_script_naming_the_commands() {
        let text = String::from_utf8(script(shell("bash").unwrap())).unwrap();
        assert!(text.contains("move-leader") && text.contains("--endpoints"));
        assert!(shell("tcsh").is_err());
    }
}
