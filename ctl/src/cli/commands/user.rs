//! `user add | delete | get | list | passwd | grant-role | revoke-role`.
//!
//! Passwords come from the argument (`name:password`), from
//! `--new-user-password`, or from stdin: asked twice without echo
//! (`--interactive`, the default; see [`crate::cli::password`]) or read as
//! one word (`--interactive=false`). `--no-password` makes a user that can
//! log in only by its certificate's common name.

use std::io::Write;

use clap::{ArgAction, Subcommand};

use super::auth::{no_args, print, print_header_only};
use super::role;
use crate::cli::json::string;
use crate::cli::password;
use crate::cli::{Ctx, Failure, Outcome};

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Adds a new user
    Add {
        /// Read password from stdin instead of interactive terminal
        #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
              default_value = "true", default_missing_value = "true",
              value_parser = go_bool)]
        interactive: bool,
        /// Supply password from the command line flag
        #[arg(long = "new-user-password", default_value = "")]
        new_user_password: String,
        /// Create a user without password (CN based auth only)
        #[arg(long = "no-password")]
        no_password: bool,
        args: Vec<String>,
    },
    /// Deletes a user
    Delete { args: Vec<String> },
    /// Gets detailed information of a user
    Get {
        /// Show permissions of roles granted to the user
        #[arg(long)]
        detail: bool,
        args: Vec<String>,
    },
    /// Lists all users
    List { args: Vec<String> },
    /// Changes password of user
    Passwd {
        /// If true, read password from stdin instead of interactive terminal
        #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
              default_value = "true", default_missing_value = "true",
              value_parser = go_bool)]
        interactive: bool,
        args: Vec<String>,
    },
    /// Grants a role to a user
    #[command(name = "grant-role")]
    GrantRole { args: Vec<String> },
    /// Revokes a role from a user
    #[command(name = "revoke-role")]
    RevokeRole { args: Vec<String> },
}

/// A Go boolean flag value (`strconv.ParseBool`).
pub fn go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("strconv.ParseBool: parsing {s:?}: invalid syntax")),
    }
}

pub async fn run(c: Command, ctx: &mut Ctx) -> Outcome {
    match c {
        Command::Add {
            interactive,
            new_user_password,
            no_password,
            args,
        } => {
            let [arg] = args.as_slice() else {
                return Err(Failure::bad_args(
                    "user add command requires user name as its argument",
                ));
            };
            let (name, password) = if no_password {
                (arg.clone(), String::new())
            } else if !new_user_password.is_empty() {
                (arg.clone(), new_user_password)
            } else if let Some((name, password)) = arg.split_once(':') {
                if name.is_empty() {
                    return Err(Failure::bad_args("empty user name is not allowed"));
                }
                (name.to_owned(), password.to_owned())
            } else {
                (arg.clone(), read_password(ctx, arg, interactive)?)
            };
            let r = ctx
                .client()?
                .user_add(&name, &password, no_password)
                .await?;
            print_header_only(ctx, &r, r.header.as_ref(), |w| {
                writeln!(w, "User {name} created")?;
                Ok(())
            })
        }
        Command::Delete { args } => {
            let [name] = args.as_slice() else {
                return Err(Failure::bad_args(
                    "user delete command requires user name as its argument",
                ));
            };
            let r = ctx.client()?.user_delete(name).await?;
            print_header_only(ctx, &r, r.header.as_ref(), |w| {
                writeln!(w, "User {name} deleted")?;
                Ok(())
            })
        }
        Command::Get { detail, args } => {
            let [name] = args.as_slice() else {
                return Err(Failure::bad_args(
                    "user get command requires user name as its argument",
                ));
            };
            let client = ctx.client()?;
            let r = client.user_get(name).await?;
            if detail {
                // The name, then each role as `role get` prints it, in
                // the chosen format, after an empty line.
                writeln!(ctx.out, "User: {name}")?;
                for role in &r.roles {
                    writeln!(ctx.out)?;
                    let perms = client.role_get(role).await?;
                    role::print_role(ctx, role, &perms)?;
                }
                return Ok(());
            }
            print(
                ctx,
                &r,
                r.header.as_ref(),
                |w| {
                    write!(w, "User: {name}\nRoles:")?;
                    for role in &r.roles {
                        write!(w, " {role}")?;
                    }
                    writeln!(w)?;
                    Ok(())
                },
                None,
                |o| o.arr("roles", names(&r.roles)),
            )
        }
        Command::List { args } => {
            no_args(&args, "user list command requires no arguments")?;
            let r = ctx.client()?.user_list().await?;
            print(
                ctx,
                &r,
                r.header.as_ref(),
                |w| {
                    for user in &r.users {
                        writeln!(w, "{user}")?;
                    }
                    Ok(())
                },
                None,
                |o| o.arr("users", names(&r.users)),
            )
        }
        Command::Passwd { interactive, args } => {
            let [name] = args.as_slice() else {
                return Err(Failure::bad_args(
                    "user passwd command requires user name as its argument",
                ));
            };
            let password = read_password(ctx, name, interactive)?;
            let r = ctx.client()?.user_change_password(name, &password).await?;
            print_header_only(ctx, &r, r.header.as_ref(), |w| {
                writeln!(w, "Password updated")?;
                Ok(())
            })
        }
        Command::GrantRole { args } => {
            let [user, role] = args.as_slice() else {
                return Err(Failure::bad_args(
                    "user grant command requires user name and role name as its argument",
                ));
            };
            let r = ctx.client()?.user_grant_role(user, role).await?;
            print_header_only(ctx, &r, r.header.as_ref(), |w| {
                writeln!(w, "Role {role} is granted to user {user}")?;
                Ok(())
            })
        }
        Command::RevokeRole { args } => {
            let [user, role] = args.as_slice() else {
                return Err(Failure::bad_args(
                    "user revoke-role requires user name and role name as its argument",
                ));
            };
            let r = ctx.client()?.user_revoke_role(user, role).await?;
            print_header_only(ctx, &r, r.header.as_ref(), |w| {
                writeln!(w, "Role {role} is revoked from user {user}")?;
                Ok(())
            })
        }
    }
}

/// Names as JSON strings (an empty list is left out, as Go's `omitempty`
/// leaves it out).
pub(super) fn names(list: &[String]) -> Vec<String> {
    list.iter().map(|n| string(n)).collect()
}

/// The new password of user `name` from stdin: one word, or asked twice
/// without echo (and refused if empty or different), as etcdctl does.
fn read_password(ctx: &mut Ctx, name: &str, interactive: bool) -> Result<String, Failure> {
    if !interactive {
        return Ok(password::scan_word());
    }
    let ask = |ctx: &mut Ctx, prompt: String| {
        password::ask(&mut ctx.out, &prompt)
            .map_err(|e| Failure::bad_args(format!("failed to ask password: {e}")))
    };
    let first = ask(ctx, format!("Password of {name}: "))?;
    if first.is_empty() {
        return Err(Failure::bad_args("empty password"));
    }
    let second = ask(
        ctx,
        format!("Type password of {name} again for confirmation: "),
    )?;
    if first != second {
        return Err(Failure::bad_args("given passwords are different"));
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::commands::parse_subcommand;

    fn user(args: &[&str]) -> Command {
        parse_subcommand!(User, "user", args)
    }

    #[test]
    fn add_takes_etcdctls_password_flags() {
        match user(&["add", "u1"]) {
            Command::Add {
                interactive,
                new_user_password,
                no_password,
                args,
            } => {
                assert!(interactive && !no_password);
                assert_eq!(new_user_password, "");
                assert_eq!(args, ["u1"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            user(&["add", "--interactive=false", "u1"]),
            Command::Add {
                interactive: false,
                ..
            }
        ));
        // A bare `--interactive` takes no value: `u1` stays the user.
        assert!(matches!(
            user(&["add", "--interactive", "u1"]),
            Command::Add { interactive: true, args, .. } if args == ["u1"]
        ));
        assert!(matches!(
            user(&["add", "u1", "--new-user-password", "pw"]),
            Command::Add { new_user_password, .. } if new_user_password == "pw"
        ));
        assert!(matches!(
            user(&["add", "u1", "--no-password"]),
            Command::Add {
                no_password: true,
                ..
            }
        ));
    }

    #[test]
    fn the_other_subcommands() {
        assert!(matches!(
            user(&["get", "u1", "--detail"]),
            Command::Get { detail: true, .. }
        ));
        assert!(matches!(
            user(&["passwd", "u1", "--interactive=f"]),
            Command::Passwd {
                interactive: false,
                ..
            }
        ));
        assert!(matches!(user(&["list"]), Command::List { .. }));
        assert!(matches!(user(&["delete", "u1"]), Command::Delete { .. }));
        assert!(matches!(
            user(&["grant-role", "u1", "r"]),
            Command::GrantRole { args } if args == ["u1", "r"]
        ));
        assert!(matches!(
            user(&["revoke-role", "u1", "r"]),
            Command::RevokeRole { .. }
        ));
    }

    #[test]
    fn go_booleans() {
        assert_eq!(go_bool("T"), Ok(true));
        assert_eq!(go_bool("0"), Ok(false));
        assert!(go_bool("yes").is_err());
    }
}
