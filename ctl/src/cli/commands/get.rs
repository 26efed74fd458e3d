//! `get KEY [RANGE_END]`: a Range, printed in any format.

use std::io::Write;

use cairn_client::pb;
use cairn_client::pb::range_request::{SortOrder, SortTarget};
use prost::Message;

use crate::cli::{Ctx, Failure, Format, Outcome, exit, fields, json, out};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct Args {
    /// Linearizable(l) or Serializable(s)
    #[arg(long, default_value = "l")]
    pub consistency: String,
    /// Order of results; ASCEND or DESCEND (ASCEND by default)
    #[arg(long, default_value = "")]
    pub order: String,
    /// Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION
    #[arg(long = "sort-by", default_value = "")]
    pub sort_by: String,
    /// Maximum number of results
    #[arg(long, default_value_t = 0)]
    pub limit: i64,
    /// Get keys with matching prefix
    #[arg(long)]
    pub prefix: bool,
    /// Get keys that are greater than or equal to the given key using byte compare
    #[arg(long = "from-key")]
    pub from_key: bool,
    /// Specify the kv revision
    #[arg(long, default_value_t = 0)]
    pub rev: i64,
    /// Get only the keys
    #[arg(long = "keys-only")]
    pub keys_only: bool,
    /// Get only the count
    #[arg(long = "count-only")]
    pub count_only: bool,
    /// Only write values when using the "simple" output format
    #[arg(long = "print-value-only")]
    pub print_value_only: bool,
    #[arg(allow_hyphen_values = false)]
    pub args: Vec<String>,
}

pub use cairn_client::prefix_end;

/// The key and range end for `key`, an optional end, `--prefix` and
/// `--from-key` (shared by get, del and watch).
pub fn key_range(key: &str, end: Option<&str>, prefix: bool, from_key: bool) -> (Vec<u8>, Vec<u8>) {
    let mut key = key.as_bytes().to_vec();
    if prefix {
        if key.is_empty() {
            return (vec![0], vec![0]);
        }
        let end = prefix_end(&key);
        return (key, end);
    }
    if from_key {
        if key.is_empty() {
            key = vec![0];
        }
        return (key, vec![0]);
    }
    (key, end.map(|e| e.as_bytes().to_vec()).unwrap_or_default())
}

/// Builds the request, checking the flags as etcdctl does.
pub fn request(a: &Args, format: Format) -> Result<pb::RangeRequest, Failure> {
    if a.args.is_empty() || a.args.len() > 2 {
        return Err(Failure::bad_args(
            "get command needs one argument as key and an optional argument as range_end",
        ));
    }
    if a.prefix && a.from_key {
        return Err(Failure::bad_args(
            "`--prefix` and `--from-key` cannot be set at the same time, choose one",
        ));
    }
    if a.keys_only && a.count_only {
        return Err(Failure::bad_args(
            "`--keys-only` and `--count-only` cannot be set at the same time, choose one",
        ));
    }
    if a.count_only && format != Format::Fields {
        return Err(Failure::bad_args(
            "--count-only is only for `--write-out=fields`",
        ));
    }
    if a.print_value_only && format != Format::Simple {
        return Err(Failure::bad_args(
            "print-value-only is only for `--write-out=simple`",
        ));
    }
    let end = a.args.get(1).map(String::as_str);
    if end.is_some() && (a.prefix || a.from_key) {
        return Err(Failure::bad_args(
            "too many arguments, only accept one argument when `--prefix` or `--from-key` is set",
        ));
    }
    let serializable = match a.consistency.as_str() {
        "l" => false,
        "s" => true,
        other => {
            return Err(Failure::new(
                exit::BAD_FEATURE,
                format!("unknown consistency flag {other:?}"),
            ));
        }
    };
    let mut order = match a.order.to_uppercase().as_str() {
        "ASCEND" => SortOrder::Ascend,
        "DESCEND" => SortOrder::Descend,
        "" => SortOrder::None,
        other => {
            return Err(Failure::new(
                exit::BAD_FEATURE,
                format!("bad sort order {other}"),
            ));
        }
    };
    let target = match a.sort_by.to_uppercase().as_str() {
        "CREATE" => SortTarget::Create,
        "KEY" | "" => SortTarget::Key,
        "MODIFY" => SortTarget::Mod,
        "VALUE" => SortTarget::Value,
        "VERSION" => SortTarget::Version,
        other => {
            return Err(Failure::new(
                exit::BAD_FEATURE,
                format!("bad sort target {other}"),
            ));
        }
    };
    // Ranges come back sorted by key already; like etcd's client, do not
    // ask the server to sort what it returns in that order anyway.
    if target == SortTarget::Key && order == SortOrder::Ascend {
        order = SortOrder::None;
    }
    let (key, range_end) = key_range(&a.args[0], end, a.prefix, a.from_key);
    Ok(pb::RangeRequest {
        key,
        range_end,
        limit: a.limit,
        revision: a.rev,
        sort_order: order as i32,
        sort_target: target as i32,
        serializable,
        keys_only: a.keys_only,
        count_only: a.count_only,
        ..Default::default()
    })
}

pub async fn run(a: Args, ctx: &mut Ctx) -> Outcome {
    ctx.only(&[
        Format::Simple,
        Format::Json,
        Format::Fields,
        Format::Protobuf,
    ])?;
    let req = request(&a, ctx.format)?;
    let resp = ctx.client()?.range(req).await?;
    print(ctx, &resp, a.print_value_only)
}

/// Prints a Range response in the context's format.
pub fn print(ctx: &mut Ctx, resp: &pb::RangeResponse, value_only: bool) -> Outcome {
    let w: &mut dyn Write = &mut ctx.out;
    match ctx.format {
        Format::Json => writeln!(w, "{}", json::range(resp).finish())?,
        Format::Fields => fields::range(w, resp)?,
        Format::Protobuf => w.write_all(&resp.encode_to_vec())?,
        _ => {
            for kv in &resp.kvs {
                out::kv(w, kv, ctx.hex, value_only)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::commands::parse_subcommand;

    fn get(args: &[&str]) -> Args {
        parse_subcommand!(Get, "get", args)
    }

    #[test]
    fn prefix_sets_the_range_end() {
        let req = request(&get(&["--prefix", "/k/"]), Format::Simple).unwrap();
        assert_eq!(req.key, b"/k/");
        assert_eq!(req.range_end, b"/k0");
    }

    #[test]
    fn from_key_with_empty_key_means_everything() {
        let req = request(&get(&["--from-key", ""]), Format::Simple).unwrap();
        assert_eq!((req.key, req.range_end), (vec![0], vec![0]));
    }

    #[test]
    fn flags_mirror_etcdctl() {
        let a = get(&[
            "k",
            "z",
            "--limit=2",
            "--rev",
            "7",
            "--sort-by=MODIFY",
            "--order=DESCEND",
            "--consistency=s",
            "--keys-only",
        ]);
        let req = request(&a, Format::Json).unwrap();
        assert_eq!(req.range_end, b"z");
        assert_eq!(
            (req.limit, req.revision, req.serializable, req.keys_only),
            (2, 7, true, true)
        );
        assert_eq!(req.sort_target, SortTarget::Mod as i32);
        assert_eq!(req.sort_order, SortOrder::Descend as i32);
    }

    #[test]
    fn count_only_needs_fields() {
        let a = get(&["--count-only", "k"]);
        assert!(request(&a, Format::Simple).is_err());
        assert!(request(&a, Format::Fields).unwrap().count_only);
    }

    #[test]
    fn a_key_is_required() {
        assert!(matches!(
            request(&get(&[]), Format::Simple),
            Err(Failure::Exit { code: 128, .. })
        ));
    }

    #[test]
    fn prefix_end_of_all_ff_is_everything() {
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
    }
}
