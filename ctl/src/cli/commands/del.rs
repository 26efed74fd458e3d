//! `del KEY [RANGE_END]`: a DeleteRange.

use std::io::Write;

use cairn_client::pb;
use prost::Message;

use super::get::key_range;
use crate::cli::{Ctx, Failure, Format, Outcome, fields, json, out};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct Args {
    /// delete keys with matching prefix
    #[arg(long)]
    pub prefix: bool,
    /// return deleted key-value pairs
    #[arg(long = "prev-kv")]
    pub prev_kv: bool,
    /// delete keys that are greater than or equal to the given key using byte compare
    #[arg(long = "from-key")]
    pub from_key: bool,
    pub args: Vec<String>,
}

pub fn request(a: &Args) -> Result<pb::DeleteRangeRequest, Failure> {
    if a.args.is_empty() || a.args.len() > 2 {
        return Err(Failure::bad_args(
            "del command needs one argument as key and an optional argument as range_end",
        ));
    }
    if a.prefix && a.from_key {
        return Err(Failure::bad_args(
            "`--prefix` and `--from-key` cannot be set at the same time, choose one",
        ));
    }
    let end = a.args.get(1).map(String::as_str);
    if end.is_some() && (a.prefix || a.from_key) {
        return Err(Failure::bad_args(
            "too many arguments, only accept one argument when `--prefix` or `--from-key` is set",
        ));
    }
    let (key, range_end) = key_range(&a.args[0], end, a.prefix, a.from_key);
    Ok(pb::DeleteRangeRequest {
        key,
        range_end,
        prev_kv: a.prev_kv,
    })
}

pub async fn run(a: Args, ctx: &mut Ctx) -> Outcome {
    ctx.only(&[
        Format::Simple,
        Format::Json,
        Format::Fields,
        Format::Protobuf,
    ])?;
    let req = request(&a)?;
    let resp = ctx.client()?.delete_range(req).await?;
    print(ctx, &resp)
}

pub fn print(ctx: &mut Ctx, resp: &pb::DeleteRangeResponse) -> Outcome {
    let w: &mut dyn Write = &mut ctx.out;
    match ctx.format {
        Format::Json => writeln!(w, "{}", json::delete(resp).finish())?,
        Format::Fields => fields::delete(w, resp)?,
        Format::Protobuf => w.write_all(&resp.encode_to_vec())?,
        _ => {
            writeln!(w, "{}", resp.deleted)?;
            for kv in &resp.prev_kvs {
                out::kv(w, kv, ctx.hex, false)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::commands::parse_subcommand;

    fn del(args: &[&str]) -> Args {
        parse_subcommand!(Del, "del", args)
    }

    #[test]
    fn prefix_and_prev_kv() {
        let req = request(&del(&["--prefix", "/d/", "--prev-kv"])).unwrap();
        assert_eq!(
            (req.key.as_slice(), req.range_end.as_slice(), req.prev_kv),
            (&b"/d/"[..], &b"/d0"[..], true)
        );
    }

    #[test]
    fn from_key_and_explicit_range() {
        assert_eq!(
            request(&del(&["--from-key", "a"])).unwrap().range_end,
            vec![0]
        );
        assert_eq!(request(&del(&["a", "c"])).unwrap().range_end, b"c");
    }

    #[test]
    fn needs_a_key() {
        assert!(request(&del(&[])).is_err());
    }
}
