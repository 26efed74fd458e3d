//! `role add | delete | get | list | grant-permission | revoke-permission`.
//!
//! A permission covers one key, a range `[key, end)`, a prefix
//! (`--prefix`) or every key from `key` on (`--from-key`, an end of
//! `\0`). An empty key with either flag means the whole key space; etcd
//! spells an empty key `\0`.

use std::io::Write;

use cairn_client::authpb::{self, permission::Type};
use cairn_client::{pb, prefix_end};
use clap::Subcommand;

use super::auth::{no_args, print, print_header_only};
use super::user::names;
use crate::cli::json::Obj;
use crate::cli::out::go_quote;
use crate::cli::{Ctx, Failure, Outcome};

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Adds a new role
    Add { args: Vec<String> },
    /// Deletes a role
    Delete { args: Vec<String> },
    /// Gets detailed information of a role
    Get { args: Vec<String> },
    /// Lists all roles
    List { args: Vec<String> },
    /// Grants a key to a role
    #[command(name = "grant-permission")]
    GrantPermission {
        /// grant a prefix permission
        #[arg(long)]
        prefix: bool,
        /// grant a permission of keys that are greater than or equal to the given key using byte compare
        #[arg(long = "from-key")]
        from_key: bool,
        args: Vec<String>,
    },
    /// Revokes a key from a role
    #[command(name = "revoke-permission")]
    RevokePermission {
        /// revoke a prefix permission
        #[arg(long)]
        prefix: bool,
        /// revoke a permission of keys that are greater than or equal to the given key using byte compare
        #[arg(long = "from-key")]
        from_key: bool,
        args: Vec<String>,
    },
}

pub async fn run(c: Command, ctx: &mut Ctx) -> Outcome {
    match c {
        Command::Add { args } => {
            let [role] = args.as_slice() else {
                return Err(Failure::bad_args(
                    "role add command requires role name as its argument",
                ));
            };
            let r = ctx.client()?.role_add(role).await?;
            print_header_only(ctx, &r, r.header.as_ref(), |w| {
                writeln!(w, "Role {role} created")?;
                Ok(())
            })
        }
        Command::Delete { args } => {
            let [role] = args.as_slice() else {
                return Err(Failure::bad_args(
                    "role delete command requires role name as its argument",
                ));
            };
            let r = ctx.client()?.role_delete(role).await?;
            print_header_only(ctx, &r, r.header.as_ref(), |w| {
                writeln!(w, "Role {role} deleted")?;
                Ok(())
            })
        }
        Command::Get { args } => {
            let [role] = args.as_slice() else {
                return Err(Failure::bad_args(
                    "role get command requires role name as its argument",
                ));
            };
            let r = ctx.client()?.role_get(role).await?;
            print_role(ctx, role, &r)
        }
        Command::List { args } => {
            no_args(&args, "role list command requires no arguments")?;
            let r = ctx.client()?.role_list().await?;
            print(
                ctx,
                &r,
                r.header.as_ref(),
                |w| {
                    for role in &r.roles {
                        writeln!(w, "{role}")?;
                    }
                    Ok(())
                },
                Some(&|w| {
                    write!(w, "\"Roles\" :")?;
                    for role in &r.roles {
                        write!(w, " {}", go_quote(role.as_bytes()))?;
                    }
                    writeln!(w)?;
                    Ok(())
                }),
                |o| o.arr("roles", names(&r.roles)),
            )
        }
        Command::GrantPermission {
            prefix,
            from_key,
            args,
        } => {
            let [role, perm_type, keys @ ..] = args.as_slice() else {
                return Err(grant_usage());
            };
            if keys.is_empty() {
                return Err(grant_usage());
            }
            let perm_type = perm_type_named(perm_type)?;
            let (key, range_end) = perm_range(keys, prefix, from_key)?;
            let perm = authpb::Permission {
                perm_type: perm_type as i32,
                key,
                range_end,
            };
            let r = ctx.client()?.role_grant_permission(role, perm).await?;
            print_header_only(ctx, &r, r.header.as_ref(), |w| {
                writeln!(w, "Role {role} updated")?;
                Ok(())
            })
        }
        Command::RevokePermission {
            prefix,
            from_key,
            args,
        } => {
            let [role, keys @ ..] = args.as_slice() else {
                return Err(revoke_usage());
            };
            let Some(shown) = keys.first() else {
                return Err(revoke_usage());
            };
            let (key, range_end) = perm_range(keys, prefix, from_key)?;
            let r = ctx
                .client()?
                .role_revoke_permission(role, &key, &range_end)
                .await?;
            // etcdctl names the key as given, and the end as sent.
            print_header_only(ctx, &r, r.header.as_ref(), |w| {
                if range_end.is_empty() {
                    writeln!(w, "Permission of key {shown} is revoked from role {role}")?;
                } else if range_end != [0] {
                    write!(w, "Permission of range [{shown}, ")?;
                    w.write_all(&range_end)?;
                    writeln!(w, ") is revoked from role {role}")?;
                } else {
                    writeln!(
                        w,
                        "Permission of range [{shown}, <open ended> is revoked from role {role}"
                    )?;
                }
                Ok(())
            })
        }
    }
}

fn grant_usage() -> Failure {
    Failure::bad_args(
        "role grant command requires role name, permission type, and key [endkey] as its argument",
    )
}

fn revoke_usage() -> Failure {
    Failure::bad_args(
        "role revoke-permission command requires role name and key [endkey] as its argument",
    )
}

/// `read`, `write` or `readwrite`, in any case.
fn perm_type_named(name: &str) -> Result<Type, Failure> {
    Type::from_str_name(&name.to_uppercase())
        .ok_or_else(|| Failure::bad_args(format!("invalid permission type: {name}")))
}

/// The key and range end of a permission on `args` (`key [end]`), as
/// etcdctl computes them from `--prefix` and `--from-key`.
fn perm_range(
    args: &[String],
    prefix: bool,
    from_key: bool,
) -> Result<(Vec<u8>, Vec<u8>), Failure> {
    let key = args[0].as_bytes();
    let exclusive = || Failure::bad_args("--from-key and --prefix flags are mutually exclusive");
    if key.is_empty() {
        if prefix && from_key {
            return Err(exclusive());
        }
        // The empty key is `\0`; with either flag the whole key space.
        let end = if prefix || from_key { vec![0] } else { vec![] };
        return Ok((vec![0], end));
    }
    let end = match args {
        [_] if prefix && from_key => return Err(exclusive()),
        [_] if prefix => prefix_end(key),
        [_] if from_key => vec![0],
        [_] => vec![],
        _ if prefix => {
            return Err(Failure::bad_args(
                "unexpected endkey argument with --prefix flag",
            ));
        }
        _ if from_key => {
            return Err(Failure::bad_args(
                "unexpected endkey argument with --from-key flag",
            ));
        }
        [_, end, ..] => end.as_bytes().to_vec(),
        [] => vec![],
    };
    Ok((key.to_vec(), end))
}

/// A role's permissions as `role get` prints them (also `user get
/// --detail`, role by role).
pub(super) fn print_role(ctx: &mut Ctx, role: &str, r: &pb::AuthRoleGetResponse) -> Outcome {
    print(
        ctx,
        r,
        r.header.as_ref(),
        |w| {
            writeln!(w, "Role {role}")?;
            writeln!(w, "KV Read:")?;
            for p in r.perm.iter().filter(|p| grants(p, Type::Read)) {
                simple_perm(w, p)?;
            }
            writeln!(w, "KV Write:")?;
            for p in r.perm.iter().filter(|p| grants(p, Type::Write)) {
                simple_perm(w, p)?;
            }
            Ok(())
        },
        Some(&|w| {
            for p in &r.perm {
                writeln!(w, "\"PermType\" :  {}", type_name(p.perm_type))?;
                writeln!(w, "\"Key\" : {}", go_quote(&p.key))?;
                writeln!(w, "\"RangeEnd\" : {}", go_quote(&p.range_end))?;
            }
            Ok(())
        }),
        |o| {
            let perms = r
                .perm
                .iter()
                .map(|p| {
                    Obj::new()
                        .num("permType", p.perm_type)
                        .bytes("key", &p.key)
                        .bytes("range_end", &p.range_end)
                        .finish()
                })
                .collect();
            o.arr("perm", perms)
        },
    )
}

/// Whether `p` grants `access` (read or write; readwrite grants both).
fn grants(p: &authpb::Permission, access: Type) -> bool {
    p.perm_type == access as i32 || p.perm_type == Type::Readwrite as i32
}

/// Go's name of a permission type (its number if unknown).
fn type_name(t: i32) -> String {
    Type::try_from(t).map_or_else(|_| t.to_string(), |t| t.as_str_name().to_owned())
}

/// One permission in the simple format: a key, or a range with its
/// open end or the prefix it stands for.
fn simple_perm(w: &mut dyn Write, p: &authpb::Permission) -> Outcome {
    let mut line = b"\t".to_vec();
    if p.range_end.is_empty() {
        line.extend_from_slice(&p.key);
    } else {
        line.push(b'[');
        line.extend_from_slice(&p.key);
        if p.range_end != [0] {
            line.extend_from_slice(b", ");
            line.extend_from_slice(&p.range_end);
            line.push(b')');
        } else {
            line.extend_from_slice(b", <open ended>");
        }
        if prefix_end(&p.key) == p.range_end {
            line.extend_from_slice(b" (prefix ");
            line.extend_from_slice(&p.key);
            line.push(b')');
        }
    }
    line.push(b'\n');
    w.write_all(&line)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::commands::parse_subcommand;

    fn role(args: &[&str]) -> Command {
        parse_subcommand!(Role, "role", args)
    }

    fn range(args: &[&str], prefix: bool, from_key: bool) -> Result<(Vec<u8>, Vec<u8>), String> {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        perm_range(&args, prefix, from_key).map_err(|f| match f {
            Failure::Exit { message, .. } => message,
            other => format!("{other:?}"),
        })
    }

    #[test]
    fn subcommands_and_flags() {
        assert!(matches!(role(&["add", "r"]), Command::Add { .. }));
        assert!(matches!(role(&["delete", "r"]), Command::Delete { .. }));
        assert!(matches!(role(&["get", "r"]), Command::Get { .. }));
        assert!(matches!(role(&["list"]), Command::List { .. }));
        assert!(matches!(
            role(&["grant-permission", "--prefix", "r", "read", "/a/"]),
            Command::GrantPermission { prefix: true, from_key: false, args } if args.len() == 3
        ));
        assert!(matches!(
            role(&["revoke-permission", "r", "/a", "--from-key"]),
            Command::RevokePermission { from_key: true, .. }
        ));
    }

    #[test]
    fn ranges_as_etcdctl_computes_them() {
        assert_eq!(range(&["/a"], false, false), Ok((b"/a".to_vec(), vec![])));
        assert_eq!(
            range(&["/a/"], true, false),
            Ok((b"/a/".to_vec(), b"/a0".to_vec()))
        );
        assert_eq!(range(&["/a"], false, true), Ok((b"/a".to_vec(), vec![0])));
        assert_eq!(
            range(&["/a", "/z"], false, false),
            Ok((b"/a".to_vec(), b"/z".to_vec()))
        );
        assert_eq!(range(&[""], true, false), Ok((vec![0], vec![0])));
        assert_eq!(range(&[""], false, false), Ok((vec![0], vec![])));
        assert_eq!(
            range(&["/a", "/z"], true, false),
            Err("unexpected endkey argument with --prefix flag".to_owned())
        );
        assert_eq!(
            range(&["/a"], true, true),
            Err("--from-key and --prefix flags are mutually exclusive".to_owned())
        );
    }

    #[test]
    fn permission_types_in_any_case() {
        assert_eq!(perm_type_named("readWrite").ok(), Some(Type::Readwrite));
        assert!(perm_type_named("bogus").is_err());
    }
}
