//! `put KEY [VALUE]`: a Put; the value comes from stdin when not given.

use std::io::{Read, Write};

use cairn_client::pb;
use prost::Message;

use crate::cli::{Ctx, Failure, Format, Outcome, fields, go_parse_int_error, json, out};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct Args {
    /// lease ID (in hexadecimal) to attach to the key
    #[arg(long, default_value = "0")]
    pub lease: String,
    /// return the previous key-value pair before modification
    #[arg(long = "prev-kv")]
    pub prev_kv: bool,
    /// updates the key using its current value
    #[arg(long = "ignore-value")]
    pub ignore_value: bool,
    /// updates the key using its current lease
    #[arg(long = "ignore-lease")]
    pub ignore_lease: bool,
    pub args: Vec<String>,
}

/// Builds the request; `stdin` supplies the value when only a key is given.
pub fn request(
    a: &Args,
    stdin: impl FnOnce() -> std::io::Result<Vec<u8>>,
) -> Result<pb::PutRequest, Failure> {
    let usage = "put command needs 1 argument and input from stdin or 2 arguments";
    // Like etcdctl, words after the value are ignored.
    let (key, value) = match a.args.as_slice() {
        [k] if a.ignore_value => (k.clone(), Vec::new()),
        [_, _, ..] if a.ignore_value => {
            return Err(Failure::bad_args(
                "put command needs only 1 argument when 'ignore-value' is set",
            ));
        }
        [k, v, ..] => (k.clone(), v.clone().into_bytes()),
        [k] => {
            let value = stdin().map_err(|e| Failure::bad_args(e.to_string()))?;
            if value.is_empty() {
                return Err(Failure::bad_args(usage));
            }
            (k.clone(), value)
        }
        _ => return Err(Failure::bad_args(usage)),
    };
    let lease = i64::from_str_radix(&a.lease, 16).map_err(|e| {
        Failure::bad_args(format!(
            "bad lease ID ({}), expecting ID in Hex",
            go_parse_int_error(&a.lease, &e)
        ))
    })?;
    Ok(pb::PutRequest {
        key: key.into_bytes(),
        value,
        lease,
        prev_kv: a.prev_kv,
        ignore_value: a.ignore_value,
        ignore_lease: a.ignore_lease,
    })
}

pub async fn run(a: Args, ctx: &mut Ctx) -> Outcome {
    ctx.only(&[
        Format::Simple,
        Format::Json,
        Format::Fields,
        Format::Protobuf,
    ])?;
    let req = request(&a, || {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf)?;
        Ok(buf)
    })?;
    let resp = ctx.client()?.put(req).await?;
    print(ctx, &resp)
}

pub fn print(ctx: &mut Ctx, resp: &pb::PutResponse) -> Outcome {
    let w: &mut dyn Write = &mut ctx.out;
    match ctx.format {
        Format::Json => writeln!(w, "{}", json::put(resp).finish())?,
        Format::Fields => fields::put(w, resp)?,
        Format::Protobuf => w.write_all(&resp.encode_to_vec())?,
        _ => {
            writeln!(w, "OK")?;
            if let Some(prev) = &resp.prev_kv {
                out::kv(w, prev, ctx.hex, false)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::commands::parse_subcommand;

    fn put(args: &[&str]) -> Args {
        parse_subcommand!(Put, "put", args)
    }

    fn no_stdin() -> std::io::Result<Vec<u8>> {
        panic!("stdin must not be read")
    }

    #[test]
    fn key_value_and_hex_lease() {
        let req = request(&put(&["k", "v", "--lease=7b", "--prev-kv"]), no_stdin).unwrap();
        assert_eq!(
            (
                req.key.as_slice(),
                req.value.as_slice(),
                req.lease,
                req.prev_kv
            ),
            (&b"k"[..], &b"v"[..], 0x7b, true)
        );
    }

    #[test]
    fn value_from_stdin_when_only_a_key() {
        let req = request(&put(&["k"]), || Ok(b"from stdin".to_vec())).unwrap();
        assert_eq!(req.value, b"from stdin");
    }

    #[test]
    fn a_value_after_double_dash_may_start_with_a_dash() {
        let req = request(&put(&["k", "--", "-v"]), no_stdin).unwrap();
        assert_eq!(req.value, b"-v");
    }

    #[test]
    fn ignore_value_takes_only_a_key() {
        let req = request(&put(&["k", "--ignore-value"]), no_stdin).unwrap();
        assert!(req.ignore_value && req.value.is_empty());
        assert!(request(&put(&["k", "v", "--ignore-value"]), no_stdin).is_err());
    }

    #[test]
    fn bad_lease_is_bad_args() {
        assert!(matches!(
            request(&put(&["k", "v", "--lease=xyz"]), no_stdin),
            Err(Failure::Exit { code: 128, .. })
        ));
    }
}
