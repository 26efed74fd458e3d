//! `lease grant | revoke | timetolive | list | keep-alive`. Lease ids are
//! written and read in hexadecimal, as etcdctl does.

use std::io::Write;

use cairn_client::pb;
use clap::Subcommand;

use crate::cli::json::{Obj, array, b64, header, header_fields};
use crate::cli::out::go_quote;
use crate::cli::{Ctx, Failure, Format, Outcome, describe, exit, fields, go_parse_int_error};
use prost::Message;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Creates leases
    Grant { args: Vec<String> },
    /// Revokes leases
    Revoke { args: Vec<String> },
    /// Get lease information
    Timetolive {
        /// Get keys attached to this lease
        #[arg(long)]
        keys: bool,
        args: Vec<String>,
    },
    /// List all active leases
    List,
    /// Keeps leases alive (renew)
    #[command(name = "keep-alive")]
    KeepAlive {
        /// Resets the keep-alive time to its original value and exits immediately
        #[arg(long)]
        once: bool,
        args: Vec<String>,
    },
}

fn one_id(args: &[String], usage: &str) -> Result<i64, Failure> {
    let [id] = args else {
        return Err(Failure::bad_args(usage));
    };
    i64::from_str_radix(id, 16).map_err(|e| {
        Failure::bad_args(format!(
            "bad lease ID arg ({}), expecting ID in Hex",
            go_parse_int_error(id, &e)
        ))
    })
}

pub async fn run(c: Command, ctx: &mut Ctx) -> Outcome {
    match c {
        Command::Grant { args } => {
            let [ttl] = args.as_slice() else {
                return Err(Failure::bad_args("lease grant command needs TTL argument"));
            };
            let ttl: i64 = ttl.parse().map_err(|e| {
                Failure::bad_args(format!("bad TTL ({})", go_parse_int_error(ttl, &e)))
            })?;
            let r = ctx.client()?.lease_grant(ttl, 0).await.map_err(|e| {
                Failure::new(
                    exit::ERROR,
                    format!("failed to grant lease ({})", describe(&e)),
                )
            })?;
            if other_format(ctx, r.header.as_ref(), |w| {
                writeln!(w, "\"ID\" : {}", r.id)?;
                writeln!(w, "\"TTL\" : {}", r.ttl)?;
                Ok(())
            })? {
                return Ok(());
            }
            if ctx.format == Format::Json {
                let h = r.header.unwrap_or_default();
                let o = header_fields(Obj::new(), &h)
                    .num_always("ID", r.id)
                    .num_always("TTL", r.ttl)
                    .str_always("Error", &r.error);
                writeln!(ctx.out, "{}", o.finish())?;
            } else {
                writeln!(ctx.out, "lease {:016x} granted with TTL({}s)", r.id, r.ttl)?;
            }
        }
        Command::Revoke { args } => {
            let id = one_id(&args, "lease revoke command needs 1 argument")?;
            let r = ctx.client()?.lease_revoke(id).await.map_err(|e| {
                Failure::new(
                    exit::ERROR,
                    format!("failed to revoke lease ({})", describe(&e)),
                )
            })?;
            if other_format(ctx, r.header.as_ref(), |_| Ok(()))? {
                return Ok(());
            }
            if ctx.format == Format::Json {
                let o = Obj::new().obj("header", header(r.header.as_ref()));
                writeln!(ctx.out, "{}", o.finish())?;
            } else {
                writeln!(ctx.out, "lease {id:016x} revoked")?;
            }
        }
        Command::Timetolive { keys, args } => {
            let id = one_id(&args, "lease timetolive command needs lease ID as argument")?;
            let r = ctx.client()?.lease_time_to_live(id, keys).await?;
            if other_format(ctx, r.header.as_ref(), |w| {
                writeln!(w, "\"ID\" : {}", r.id)?;
                writeln!(w, "\"TTL\" : {}", r.ttl)?;
                writeln!(w, "\"GrantedTTL\" : {}", r.granted_ttl)?;
                for k in &r.keys {
                    writeln!(w, "\"Key\" : {}", go_quote(k))?;
                }
                Ok(())
            })? {
                return Ok(());
            }
            if ctx.format == Format::Json {
                let h = r.header.unwrap_or_default();
                let keys = if r.keys.is_empty() {
                    "null".to_owned()
                } else {
                    array(r.keys.iter().map(|k| b64(k)).collect())
                };
                let o = header_fields(Obj::new(), &h)
                    .num_always("id", r.id)
                    .num_always("ttl", r.ttl)
                    .num_always("granted-ttl", r.granted_ttl)
                    .raw("keys", &keys);
                writeln!(ctx.out, "{}", o.finish())?;
            } else if r.ttl == -1 {
                writeln!(ctx.out, "lease {:016x} already expired", r.id)?;
            } else {
                let mut line = format!(
                    "lease {:016x} granted with TTL({}s), remaining({}s)",
                    r.id, r.granted_ttl, r.ttl
                );
                if keys {
                    let names: Vec<String> = r
                        .keys
                        .iter()
                        .map(|k| String::from_utf8_lossy(k).into_owned())
                        .collect();
                    line.push_str(&format!(", attached keys([{}])", names.join(" ")));
                }
                writeln!(ctx.out, "{line}")?;
            }
        }
        Command::List => {
            let r = ctx.client()?.lease_leases().await?;
            if other_format(ctx, r.header.as_ref(), |w| {
                for l in &r.leases {
                    writeln!(w, "\"ID\" : {}", l.id)?;
                }
                Ok(())
            })? {
                return Ok(());
            }
            if ctx.format == Format::Json {
                let h = r.header.unwrap_or_default();
                let leases = array(
                    r.leases
                        .iter()
                        .map(|l| Obj::new().num_always("id", l.id).finish())
                        .collect(),
                );
                let o = header_fields(Obj::new(), &h).raw("leases", &leases);
                writeln!(ctx.out, "{}", o.finish())?;
            } else {
                writeln!(ctx.out, "found {} leases", r.leases.len())?;
                for l in &r.leases {
                    writeln!(ctx.out, "{:016x}", l.id)?;
                }
            }
        }
        Command::KeepAlive { once, args } => {
            let id = one_id(&args, "lease keep-alive command needs lease ID as argument")?;
            let client = ctx.client()?;
            if once {
                let r = client
                    .lease_keep_alive_once(id)
                    .await
                    .map_err(|e| Failure::new(exit::BAD_CONNECTION, describe(&e)))?;
                print_keep_alive(ctx, &r)?;
                return Ok(());
            }
            let mut stream = client.lease_keep_alive(id);
            while let Some(next) = stream.next().await {
                match next {
                    Ok(r) => print_keep_alive(ctx, &r)?,
                    Err(cairn_client::Error::LeaseNotFound) => break,
                    Err(e) => return Err(Failure::new(exit::BAD_CONNECTION, describe(&e))),
                }
                ctx.out.flush()?;
            }
            if ctx.format != Format::Json {
                writeln!(ctx.out, "lease {id:016x} expired or revoked.")?;
            }
        }
    }
    Ok(())
}

fn print_keep_alive(ctx: &mut Ctx, r: &pb::LeaseKeepAliveResponse) -> Outcome {
    if other_format(ctx, r.header.as_ref(), |w| {
        writeln!(w, "\"ID\" : {}", r.id)?;
        writeln!(w, "\"TTL\" : {}", r.ttl)?;
        Ok(())
    })? {
        return Ok(());
    }
    if ctx.format == Format::Json {
        let h = r.header.unwrap_or_default();
        let o = header_fields(Obj::new(), &h)
            .num_always("ID", r.id)
            .num_always("TTL", r.ttl);
        writeln!(ctx.out, "{}", o.finish())?;
    } else {
        writeln!(
            ctx.out,
            "lease {:016x} keepalived with TTL({})",
            r.id, r.ttl
        )?;
    }
    Ok(())
}

/// Prints a lease answer in the formats beyond simple and json: `fields`
/// (the header, then `body`'s lines), `protobuf` (etcdctl encodes only the
/// response header for lease answers). `table` is refused, after the call,
/// as etcdctl refuses it. Returns whether it printed.
fn other_format(
    ctx: &mut Ctx,
    h: Option<&pb::ResponseHeader>,
    body: impl FnOnce(&mut dyn Write) -> Outcome,
) -> Result<bool, Failure> {
    match ctx.format {
        Format::Fields => {
            fields::header(&mut ctx.out, h)?;
            body(&mut ctx.out)?;
            Ok(true)
        }
        Format::Protobuf => {
            ctx.out
                .write_all(&h.copied().unwrap_or_default().encode_to_vec())?;
            Ok(true)
        }
        Format::Table => Err(Failure::new(
            exit::BAD_FEATURE,
            "table not supported as output format",
        )),
        Format::Simple | Format::Json => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::commands::parse_subcommand;

    fn lease(args: &[&str]) -> Command {
        parse_subcommand!(Lease, "lease", args)
    }

    #[test]
    fn subcommands_and_flags() {
        assert!(matches!(lease(&["grant", "60"]), Command::Grant { .. }));
        assert!(matches!(
            lease(&["timetolive", "--keys", "7b"]),
            Command::Timetolive { keys: true, .. }
        ));
        assert!(matches!(
            lease(&["keep-alive", "--once", "7b"]),
            Command::KeepAlive { once: true, .. }
        ));
        assert!(matches!(lease(&["list"]), Command::List));
    }

    #[test]
    fn ids_are_hex() {
        assert_eq!(one_id(&["7b".into()], "usage").unwrap(), 0x7b);
        assert!(one_id(&["zz".into()], "usage").is_err());
        assert!(one_id(&[], "usage").is_err());
    }
}
