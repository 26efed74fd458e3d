//! `auth enable | disable | status`, and how the three auth commands
//! (`auth`, `user`, `role`) print an answer in each `-w` format.
//!
//! etcdctl prints after the call: a format it cannot print an answer in
//! (`table` for all of them, `fields` for some) fails with exit 4 only once
//! the change is made. `auth enable` and `auth disable` print their one
//! line in every format.

use std::io::Write;

use cairn_client::pb;
use clap::Subcommand;
use prost::Message;

use crate::cli::json::{Obj, header};
use crate::cli::{Ctx, Failure, Format, Outcome, exit, fields};

/// etcd's answer to AuthEnable when the root user lacks the root role.
const ROOT_ROLE_MISSING: &str = "etcdserver: root user does not have root role";
/// How often `auth enable` adds the root role and tries again.
const ENABLE_ATTEMPTS: usize = 3;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Enables authentication
    Enable { args: Vec<String> },
    /// Disables authentication
    Disable { args: Vec<String> },
    /// Returns authentication status
    Status { args: Vec<String> },
}

pub async fn run(c: Command, ctx: &mut Ctx) -> Outcome {
    match c {
        Command::Enable { args } => {
            no_args(&args, "auth enable command does not accept any arguments")?;
            let client = ctx.client()?;
            // The root user needs the root role first; etcdctl gives it
            // (creating the role) and asks again.
            let mut attempts = 0;
            loop {
                match client.auth_enable().await {
                    Ok(_) => break,
                    Err(e)
                        if attempts < ENABLE_ATTEMPTS
                            && e.status().is_some_and(|s| s.message() == ROOT_ROLE_MISSING) =>
                    {
                        attempts += 1;
                        client.role_add("root").await?;
                        client.user_grant_role("root", "root").await?;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            writeln!(ctx.out, "Authentication Enabled")?;
        }
        Command::Disable { args } => {
            no_args(&args, "auth disable command does not accept any arguments")?;
            ctx.client()?.auth_disable().await?;
            writeln!(ctx.out, "Authentication Disabled")?;
        }
        Command::Status { args } => {
            no_args(&args, "auth status command does not accept any arguments")?;
            let r = ctx.client()?.auth_status().await?;
            print(
                ctx,
                &r,
                r.header.as_ref(),
                |w| {
                    writeln!(w, "Authentication Status: {}", r.enabled)?;
                    writeln!(w, "AuthRevision: {}", r.auth_revision)?;
                    Ok(())
                },
                None,
                |o| {
                    o.flag("enabled", r.enabled)
                        .num("authRevision", r.auth_revision)
                },
            )?;
        }
    }
    Ok(())
}

/// Fails with `usage` (exit 128) unless `args` is empty.
pub(super) fn no_args(args: &[String], usage: &str) -> Outcome {
    if args.is_empty() {
        Ok(())
    } else {
        Err(Failure::bad_args(usage))
    }
}

/// Extra `-w fields` lines after the header; `None`: etcdctl cannot print
/// this answer as fields.
pub(super) type FieldLines<'a> = Option<&'a dyn Fn(&mut dyn Write) -> Outcome>;

/// Prints an auth answer as etcdctl does in the chosen format: `simple`
/// writes the simple text; JSON is the header then what `json` adds (Go's
/// field names, zero values left out); protobuf the answer's bytes.
pub(super) fn print<M: Message>(
    ctx: &mut Ctx,
    resp: &M,
    h: Option<&pb::ResponseHeader>,
    simple: impl FnOnce(&mut dyn Write) -> Outcome,
    field_lines: FieldLines<'_>,
    json: impl FnOnce(Obj) -> Obj,
) -> Outcome {
    match ctx.format {
        Format::Simple => simple(&mut ctx.out),
        Format::Json => {
            let o = json(Obj::new().obj("header", header(h)));
            writeln!(ctx.out, "{}", o.finish())?;
            Ok(())
        }
        Format::Protobuf => {
            ctx.out.write_all(&resp.encode_to_vec())?;
            Ok(())
        }
        Format::Fields => match field_lines {
            Some(lines) => {
                fields::header(&mut ctx.out, h)?;
                lines(&mut ctx.out)
            }
            None => Err(unsupported("fields")),
        },
        Format::Table => Err(unsupported("table")),
    }
}

/// An answer printed only as its header (in every format but simple).
pub(super) fn print_header_only<M: Message>(
    ctx: &mut Ctx,
    resp: &M,
    h: Option<&pb::ResponseHeader>,
    simple: impl FnOnce(&mut dyn Write) -> Outcome,
) -> Outcome {
    print(ctx, resp, h, simple, Some(&|_| Ok(())), |o| o)
}

fn unsupported(format: &str) -> Failure {
    Failure::new(
        exit::BAD_FEATURE,
        format!("{format} not supported as output format"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::commands::parse_subcommand;

    fn auth(args: &[&str]) -> Command {
        parse_subcommand!(Auth, "auth", args)
    }

    #[test]
    fn three_subcommands() {
        assert!(matches!(auth(&["enable"]), Command::Enable { args } if args.is_empty()));
        assert!(matches!(auth(&["disable"]), Command::Disable { .. }));
        assert!(matches!(auth(&["status", "x"]), Command::Status { args } if args == ["x"]));
    }

    #[test]
    fn user_flags_are_global() {
        let cli = crate::cli::commands::parse(&["auth", "status", "--user", "root:pw"]).unwrap();
        assert_eq!(cli.global.user.as_deref(), Some("root:pw"));
        let cli = crate::cli::commands::parse(&["--user=root", "--password=pw", "auth", "status"])
            .unwrap();
        assert_eq!(cli.global.password.as_deref(), Some("pw"));
    }
}
