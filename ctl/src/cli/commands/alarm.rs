//! `alarm list | disarm`.

use std::io::Write;

use cairn_client::pb;
use cairn_client::pb::alarm_request::AlarmAction;
use clap::Subcommand;

use super::endpoint::alarm_name;
use crate::cli::json::{Obj, header};
use crate::cli::{Ctx, Failure, Format, Outcome, exit, fields};
use prost::Message;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Lists all alarms
    List,
    /// Disarms all alarms
    Disarm,
}

pub async fn run(c: Command, ctx: &mut Ctx) -> Outcome {
    let client = ctx.client()?;
    let list = client
        .alarm(pb::AlarmRequest {
            action: AlarmAction::Get as i32,
            ..Default::default()
        })
        .await?;
    let resp = match c {
        Command::List => list,
        Command::Disarm => {
            // Disarm each alarm the cluster has, as etcd's client does; with
            // none, the answer is empty (no header either).
            let mut last = pb::AlarmResponse::default();
            for a in &list.alarms {
                let r = client
                    .alarm(pb::AlarmRequest {
                        action: AlarmAction::Deactivate as i32,
                        member_id: a.member_id,
                        alarm: a.alarm,
                    })
                    .await?;
                last.header = r.header;
                last.alarms.extend(r.alarms);
            }
            last
        }
    };
    match ctx.format {
        Format::Fields => {
            // etcdctl 3.5.1 crashes here on an answer without header
            // (disarm with no alarm); cairnctl prints a zero header.
            fields::header(&mut ctx.out, resp.header.as_ref())?;
            for a in &resp.alarms {
                writeln!(ctx.out, "\"MemberID\" : {}", a.member_id)?;
                writeln!(ctx.out, "\"AlarmType\" : {}", alarm_name(a.alarm))?;
            }
            return Ok(());
        }
        Format::Protobuf => {
            ctx.out.write_all(&resp.encode_to_vec())?;
            return Ok(());
        }
        Format::Table => {
            return Err(Failure::new(
                exit::BAD_FEATURE,
                "table not supported as output format",
            ));
        }
        Format::Simple | Format::Json => {}
    }
    if ctx.format == Format::Json {
        let alarms = resp
            .alarms
            .iter()
            .map(|a| {
                Obj::new()
                    .num("memberID", a.member_id)
                    .num("alarm", a.alarm)
                    .finish()
            })
            .collect();
        let o = Obj::new()
            .obj("header", header(resp.header.as_ref()))
            .arr("alarms", alarms);
        writeln!(ctx.out, "{}", o.finish())?;
    } else {
        for a in &resp.alarms {
            writeln!(
                ctx.out,
                "memberID:{} alarm:{} ",
                a.member_id,
                alarm_name(a.alarm)
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::commands::{Command as Top, parse};

    #[test]
    fn list_and_disarm() {
        assert!(matches!(
            parse(&["alarm", "list"]).unwrap().command,
            Top::Alarm(Command::List)
        ));
        assert!(matches!(
            parse(&["alarm", "disarm"]).unwrap().command,
            Top::Alarm(Command::Disarm)
        ));
    }
}
