//! `member list | add | remove | update | promote`.

use std::io::Write;

use clap::Subcommand;
use prost::Message;

use crate::cli::json::{Obj, header, members};
use crate::cli::{Ctx, Failure, Format, Outcome, fields, go_parse_int_error, table};

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Lists all members in the cluster
    List,
    /// Adds a member into the cluster
    Add {
        /// comma separated peer URLs for the new member.
        #[arg(long = "peer-urls", default_value = "")]
        peer_urls: String,
        /// indicates if the new member is raft learner
        #[arg(long)]
        learner: bool,
        args: Vec<String>,
    },
    /// Removes a member from the cluster
    Remove { args: Vec<String> },
    /// Updates a member in the cluster
    Update {
        /// comma separated peer URLs for the updated member.
        #[arg(long = "peer-urls", default_value = "")]
        peer_urls: String,
        args: Vec<String>,
    },
    /// Promotes a non-voting member in the cluster
    Promote { args: Vec<String> },
}

fn member_id(args: &[String], usage: &str) -> Result<u64, Failure> {
    let [id] = args else {
        return Err(Failure::bad_args(usage));
    };
    u64::from_str_radix(id, 16).map_err(|e| {
        let why = go_parse_int_error(id, &e).replace("ParseInt", "ParseUint");
        Failure::bad_args(format!("bad member ID arg ({why}), expecting ID in Hex"))
    })
}

fn urls(list: &str) -> Vec<String> {
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

pub async fn run(c: Command, ctx: &mut Ctx) -> Outcome {
    match c {
        Command::List => {
            ctx.only(&[
                Format::Simple,
                Format::Json,
                Format::Fields,
                Format::Protobuf,
                Format::Table,
            ])?;
            let r = ctx.client()?.member_list().await?;
            match ctx.format {
                Format::Json => {
                    let o = Obj::new()
                        .obj("header", header(r.header.as_ref()))
                        .arr("members", members(&r.members));
                    writeln!(ctx.out, "{}", o.finish())?;
                }
                Format::Fields => fields::members(&mut ctx.out, &r)?,
                Format::Protobuf => ctx.out.write_all(&r.encode_to_vec())?,
                Format::Table => {
                    let rows: Vec<Vec<String>> = r.members.iter().map(row).collect();
                    let headers = [
                        "ID",
                        "STATUS",
                        "NAME",
                        "PEER ADDRS",
                        "CLIENT ADDRS",
                        "IS LEARNER",
                    ];
                    write!(ctx.out, "{}", table::render(&headers, &rows))?;
                }
                _ => {
                    for m in &r.members {
                        writeln!(ctx.out, "{}", row(m).join(", "))?;
                    }
                }
            }
        }
        Command::Add {
            peer_urls,
            learner,
            args,
        } => {
            ctx.only(&[Format::Simple, Format::Json])?;
            let [name] = args.as_slice() else {
                return Err(Failure::bad_args("member name not provided"));
            };
            if peer_urls.is_empty() {
                return Err(Failure::bad_args("member peer urls not provided"));
            }
            let r = ctx.client()?.member_add(urls(&peer_urls), learner).await?;
            let h = r.header.unwrap_or_default();
            let id = r.member.as_ref().map_or(0, |m| m.id);
            if ctx.format == Format::Json {
                let o = Obj::new()
                    .obj("header", header(r.header.as_ref()))
                    .obj("member", r.member.as_ref().map(crate::cli::json::member))
                    .arr("members", members(&r.members));
                writeln!(ctx.out, "{}", o.finish())?;
                return Ok(());
            }
            writeln!(
                ctx.out,
                "Member {id:16x} added to cluster {:16x}",
                h.cluster_id
            )?;
            let mut initial = Vec::new();
            for m in &r.members {
                let n = if m.id == id {
                    name.as_str()
                } else {
                    m.name.as_str()
                };
                for u in &m.peer_ur_ls {
                    initial.push(format!("{n}={u}"));
                }
            }
            writeln!(ctx.out)?;
            writeln!(ctx.out, "ETCD_NAME=\"{name}\"")?;
            writeln!(ctx.out, "ETCD_INITIAL_CLUSTER=\"{}\"", initial.join(","))?;
            writeln!(ctx.out, "ETCD_INITIAL_ADVERTISE_PEER_URLS=\"{peer_urls}\"")?;
            writeln!(ctx.out, "ETCD_INITIAL_CLUSTER_STATE=\"existing\"")?;
        }
        Command::Remove { args } => {
            let id = member_id(&args, "member ID is not provided")?;
            let r = ctx.client()?.member_remove(id).await?;
            done(
                ctx,
                r.header.as_ref(),
                &format!("Member {id:16x} removed from cluster"),
            )?;
        }
        Command::Update { peer_urls, args } => {
            let id = member_id(&args, "member ID is not provided")?;
            if peer_urls.is_empty() {
                return Err(Failure::bad_args("member peer urls not provided"));
            }
            let r = ctx.client()?.member_update(id, urls(&peer_urls)).await?;
            done(
                ctx,
                r.header.as_ref(),
                &format!("Member {id:16x} updated in cluster"),
            )?;
        }
        Command::Promote { args } => {
            let id = member_id(&args, "member ID is not provided")?;
            let r = ctx.client()?.member_promote(id).await?;
            done(
                ctx,
                r.header.as_ref(),
                &format!("Member {id:16x} promoted in cluster"),
            )?;
        }
    }
    Ok(())
}

/// A member as etcdctl lists it (simple and table formats).
fn row(m: &cairn_client::pb::Member) -> Vec<String> {
    let status = if m.name.is_empty() {
        "unstarted"
    } else {
        "started"
    };
    vec![
        format!("{:x}", m.id),
        status.to_owned(),
        m.name.clone(),
        m.peer_ur_ls.join(","),
        m.client_ur_ls.join(","),
        m.is_learner.to_string(),
    ]
}

fn done(ctx: &mut Ctx, h: Option<&cairn_client::pb::ResponseHeader>, what: &str) -> Outcome {
    if ctx.format == Format::Json {
        writeln!(ctx.out, "{}", Obj::new().obj("header", header(h)).finish())?;
    } else {
        let cluster = h.map_or(0, |h| h.cluster_id);
        writeln!(ctx.out, "{what} {cluster:16x}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::commands::parse_subcommand;

    fn member(args: &[&str]) -> Command {
        parse_subcommand!(Member, "member", args)
    }

    #[test]
    fn add_takes_peer_urls_and_learner() {
        match member(&[
            "add",
            "m4",
            "--peer-urls=http://a:1,http://b:2",
            "--learner",
        ]) {
            Command::Add {
                peer_urls,
                learner,
                args,
            } => {
                assert_eq!(urls(&peer_urls), ["http://a:1", "http://b:2"]);
                assert!(learner);
                assert_eq!(args, ["m4"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ids_are_hex() {
        assert!(matches!(
            member(&["remove", "8e9e05c52164694d"]),
            Command::Remove { .. }
        ));
        assert_eq!(member_id(&["ff".into()], "u").unwrap(), 255);
        assert!(member_id(&[], "u").is_err());
    }
}
