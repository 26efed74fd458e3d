//! `txn [-i]`: a transaction read from stdin in etcdctl's syntax: compares
//! (`mod("k") = "3"`), a blank line, the success operations (`put`, `get`,
//! `del` with their flags), a blank line, the failure operations, a blank
//! line. `-i` prints etcdctl's prompts before each part.

use std::io::{BufRead, Write};

use cairn_client::pb;
use cairn_client::pb::compare::{CompareResult, CompareTarget, TargetUnion};
use cairn_client::pb::request_op::Request;
use cairn_client::pb::response_op::Response;
use clap::Parser;
use prost::Message;

use super::{del, get, put};
use crate::cli::{Ctx, Failure, Format, Outcome, exit, json};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct Args {
    /// Input transaction in interactive mode
    #[arg(short = 'i', long)]
    pub interactive: bool,
}

/// One operation line of a transaction, parsed with the commands' own flags.
#[derive(Parser, Debug)]
#[command(no_binary_name = true)]
enum Op {
    Get(get::Args),
    Put(put::Args),
    Del(del::Args),
}

/// Splits a line into words as etcdctl does: runs of non-space characters,
/// or double-quoted strings with backslash escapes.
pub fn argify(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut word = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => match chars.next() {
                        Some('n') => word.push('\n'),
                        Some('t') => word.push('\t'),
                        Some('r') => word.push('\r'),
                        Some(other) => word.push(other),
                        None => {}
                    },
                    c => word.push(c),
                }
            }
            words.push(word);
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '"' {
                    break;
                }
                word.push(c);
                chars.next();
            }
            words.push(word);
        }
    }
    words
}

/// Parses one compare line: `TARGET("KEY") OP "VALUE"`.
pub fn parse_compare(line: &str) -> Result<pb::Compare, Failure> {
    let malformed = || Failure::new(exit::INVALID_INPUT, format!("malformed comparison: {line}"));
    let (target, rest) = line.split_once('(').ok_or_else(malformed)?;
    let rest = rest.trim_start();
    let (key, rest) = quoted(rest).ok_or_else(malformed)?;
    let rest = rest.strip_prefix(')').ok_or_else(malformed)?.trim_start();
    let (op, rest) = rest.split_once(char::is_whitespace).ok_or_else(malformed)?;
    let (value, _) = quoted(rest.trim_start()).ok_or_else(malformed)?;
    let result = match op {
        "=" | "==" => CompareResult::Equal,
        "!=" => CompareResult::NotEqual,
        "<" => CompareResult::Less,
        ">" => CompareResult::Greater,
        _ => {
            return Err(Failure::new(
                exit::INVALID_INPUT,
                format!("Invalid compare operator: {op}"),
            ));
        }
    };
    let number = |v: &str, radix: u32| {
        i64::from_str_radix(v, radix).map_err(|e| {
            Failure::new(
                exit::INVALID_INPUT,
                format!("invalid txn compare request: {line} ({e})"),
            )
        })
    };
    let (target, union) = match target.trim() {
        "ver" | "version" => (
            CompareTarget::Version,
            TargetUnion::Version(number(&value, 10)?),
        ),
        "c" | "create" => (
            CompareTarget::Create,
            TargetUnion::CreateRevision(number(&value, 10)?),
        ),
        "m" | "mod" => (
            CompareTarget::Mod,
            TargetUnion::ModRevision(number(&value, 10)?),
        ),
        "val" | "value" => (CompareTarget::Value, TargetUnion::Value(value.into_bytes())),
        "lease" => (
            CompareTarget::Lease,
            TargetUnion::Lease(number(&value, 16)?),
        ),
        other => {
            return Err(Failure::new(
                exit::INVALID_INPUT,
                format!("malformed comparison: {other}; got {line:?}"),
            ));
        }
    };
    Ok(pb::Compare {
        result: result as i32,
        target: target as i32,
        key: key.into_bytes(),
        target_union: Some(union),
        ..Default::default()
    })
}

/// A leading double-quoted string (with escapes) and the text after it.
fn quoted(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('"')?;
    let mut out = String::new();
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        if escaped {
            out.push(match c {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                other => other,
            });
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            return Some((out, &body[i + 1..]));
        } else {
            out.push(c);
        }
    }
    None
}

/// Parses one operation line.
pub fn parse_op(line: &str) -> Result<pb::RequestOp, Failure> {
    let words = argify(line);
    let invalid = |e: String| Failure::new(exit::BAD_ARGS, format!("Invalid command {line} ({e})"));
    let op = Op::try_parse_from(&words).map_err(|e| invalid(e.kind().to_string()))?;
    let request = match op {
        Op::Get(a) => Request::RequestRange(get::request(&a, Format::Simple)?),
        Op::Put(a) => Request::RequestPut(put::request(&a, || Ok(Vec::new()))?),
        Op::Del(a) => Request::RequestDeleteRange(del::request(&a)?),
    };
    Ok(pb::RequestOp {
        request: Some(request),
    })
}

/// Reads lines up to a blank line or the end of input.
fn read_block(input: &mut dyn BufRead) -> Result<Vec<String>, Failure> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let n = input
            .read_line(&mut line)
            .map_err(|e| Failure::new(exit::INVALID_INPUT, e.to_string()))?;
        let line = line.trim_end_matches(['\n', '\r']);
        if n == 0 || line.is_empty() {
            return Ok(lines);
        }
        lines.push(line.to_owned());
    }
}

/// Reads a whole transaction, printing the prompts if `interactive`.
pub fn read(
    input: &mut dyn BufRead,
    prompts: &mut dyn Write,
    interactive: bool,
) -> Result<pb::TxnRequest, Failure> {
    let mut prompt = |text: &str| -> Outcome {
        if interactive {
            writeln!(prompts, "{text}")?;
            prompts.flush()?;
        }
        Ok(())
    };
    prompt("compares:")?;
    let compare = read_block(input)?
        .iter()
        .map(|l| parse_compare(l))
        .collect::<Result<Vec<_>, _>>()?;
    prompt("success requests (get, put, del):")?;
    let success = read_block(input)?
        .iter()
        .map(|l| parse_op(l))
        .collect::<Result<Vec<_>, _>>()?;
    prompt("failure requests (get, put, del):")?;
    let failure = read_block(input)?
        .iter()
        .map(|l| parse_op(l))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(pb::TxnRequest {
        compare,
        success,
        failure,
    })
}

pub async fn run(a: Args, ctx: &mut Ctx) -> Outcome {
    ctx.only(&[Format::Simple, Format::Json, Format::Protobuf])?;
    let stdin = std::io::stdin();
    let req = read(&mut stdin.lock(), &mut ctx.out, a.interactive)?;
    let resp = ctx.client()?.txn(req).await?;
    match ctx.format {
        Format::Json => writeln!(ctx.out, "{}", json::txn(&resp).finish())?,
        Format::Protobuf => ctx.out.write_all(&resp.encode_to_vec())?,
        _ => print_simple(ctx, &resp)?,
    }
    Ok(())
}

fn print_simple(ctx: &mut Ctx, resp: &pb::TxnResponse) -> Outcome {
    writeln!(
        ctx.out,
        "{}",
        if resp.succeeded { "SUCCESS" } else { "FAILURE" }
    )?;
    for op in &resp.responses {
        writeln!(ctx.out)?;
        match &op.response {
            Some(Response::ResponsePut(r)) => put::print(ctx, r)?,
            Some(Response::ResponseDeleteRange(r)) => del::print(ctx, r)?,
            Some(Response::ResponseRange(r)) => get::print(ctx, r, false)?,
            Some(Response::ResponseTxn(_)) | None => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argify_keeps_quoted_words() {
        assert_eq!(argify(r#"put /t/a "1 2""#), ["put", "/t/a", "1 2"]);
        assert_eq!(argify(r#"get --prefix /t/"#), ["get", "--prefix", "/t/"]);
    }

    #[test]
    fn compares_in_etcdctl_syntax() {
        let c = parse_compare(r#"mod("/t/a") = "0""#).unwrap();
        assert_eq!(c.key, b"/t/a");
        assert_eq!(c.target, CompareTarget::Mod as i32);
        assert_eq!(c.target_union, Some(TargetUnion::ModRevision(0)));
        let c = parse_compare(r#"value("/t/a") != "x y""#).unwrap();
        assert_eq!(c.result, CompareResult::NotEqual as i32);
        assert_eq!(c.target_union, Some(TargetUnion::Value(b"x y".to_vec())));
        let c = parse_compare(r#"version("k") > "3""#).unwrap();
        assert_eq!(c.result, CompareResult::Greater as i32);
        assert!(parse_compare("mod(k) = 0").is_err());
    }

    #[test]
    fn reads_three_blocks_with_prompts() {
        let script = "mod(\"/t/a\") = \"0\"\n\nput /t/a \"1\"\n\nget /t/a\n\n";
        let mut prompts = Vec::new();
        let req = read(&mut script.as_bytes(), &mut prompts, true).unwrap();
        assert_eq!(
            (req.compare.len(), req.success.len(), req.failure.len()),
            (1, 1, 1)
        );
        assert_eq!(
            String::from_utf8(prompts).unwrap(),
            "compares:\nsuccess requests (get, put, del):\nfailure requests (get, put, del):\n"
        );
    }

    #[test]
    fn operations_take_their_commands_flags() {
        let op = parse_op("del --prefix /t/ --prev-kv").unwrap();
        match op.request {
            Some(Request::RequestDeleteRange(d)) => assert!(d.prev_kv && d.range_end == b"/t0"),
            other => panic!("{other:?}"),
        }
        assert!(parse_op("frobnicate x").is_err());
    }
}
