//! Reading passwords as etcdctl does, so that scripts piping passwords in
//! (and people typing them) get what etcdctl gives them.
//!
//! [`ask`] is etcdctl's prompt (the `speakeasy` package): the prompt on
//! stdout, the terminal's echo switched off by running `stty -echo` on
//! our stdin, stdout and stderr, one line read from stdin, echo back on
//! with `stty echo`, a newline on stdout. When stdin is not a terminal
//! `stty` complains on stderr (twice) and the line is read all the same:
//! that is how `echo pw | etcdctl user add u` works, and why its stderr has
//! those two lines. End of input ends the line; surrounding white space is
//! dropped.
//!
//! [`scan_word`] is `--interactive=false`: Go's `fmt.Scanf("%s")`, one
//! word from stdin, nothing if the input starts with a line break or ends.
//!
//! Both read stdin a byte at a time through the process's one `Stdin`, so
//! two prompts in a row take two lines and leave the rest for whoever reads
//! next.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Where etcdctl finds `stty`.
const STTY: &str = "/bin/stty";

/// Prints `prompt` and reads a password without echo; the error is
/// etcdctl's text.
pub fn ask(out: &mut dyn Write, prompt: &str) -> Result<String, String> {
    let say = |out: &mut dyn Write, text: &str| {
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| e.to_string())
    };
    say(out, prompt)?;
    // stdout must be out before stty writes anything of its own.
    let off = Command::new(STTY)
        .arg0("stty")
        .arg("-echo")
        .status()
        .map_err(|e| format!("failed turning off console echo for password entry:\n\t{e}"));
    let line = match off {
        Ok(_) => read_line().map(|l| l.trim().to_owned()),
        Err(e) => {
            say(out, "\n")?;
            return Err(e);
        }
    };
    let _ = Command::new(STTY).arg0("stty").arg("echo").status();
    say(out, "\n")?;
    line.map_err(|e| format!("failed during password entry: {e}"))
}

/// One line of stdin without its line break (and a `\r` before it); what
/// was read so far at end of input.
fn read_line() -> std::io::Result<String> {
    let mut line = Vec::new();
    let mut stdin = std::io::stdin().lock();
    let mut byte = [0u8; 1];
    loop {
        match stdin.read(&mut byte) {
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// Go's `fmt.Scanf("%s", &word)` on stdin: spaces skipped, then the bytes
/// up to the next white space; empty at a line break or the end.
pub fn scan_word() -> String {
    let mut stdin = std::io::stdin().lock();
    scan_word_from(&mut stdin)
}

fn scan_word_from(input: &mut dyn Read) -> String {
    let mut word = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match input.read(&mut byte) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let b = byte[0];
                let space = matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c);
                if !space {
                    word.push(b);
                } else if !word.is_empty() || b == b'\n' {
                    break;
                }
            }
        }
    }
    String::from_utf8_lossy(&word).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_one_word_like_go() {
        let scan = |s: &str| scan_word_from(&mut s.as_bytes());
        assert_eq!(scan("secret\n"), "secret");
        assert_eq!(scan("  two words\n"), "two");
        assert_eq!(scan("\nlater"), "");
        assert_eq!(scan(""), "");
        assert_eq!(scan("last"), "last");
    }
}
