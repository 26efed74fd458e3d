//! `endpoint health | status | hashkv [--cluster]`: one call per endpoint,
//! each to that endpoint alone (no balancing, no retry elsewhere), because
//! the answer is about that member.

use std::io::Write;
use std::time::Instant;

use clap::Subcommand;

use crate::cli::json::{self, Obj, array};
use crate::cli::out::{go_quote, human_bytes};
use crate::cli::{Ctx, Failure, Format, Outcome, describe, exit, fields, table};
use cairn_client::duration::go_string;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Checks the healthiness of endpoints specified in `--endpoints` flag
    Health {
        /// use all endpoints from the cluster member list
        #[arg(long)]
        cluster: bool,
    },
    /// Prints out the status of endpoints specified in `--endpoints` flag
    Status {
        /// use all endpoints from the cluster member list
        #[arg(long)]
        cluster: bool,
    },
    /// Prints the KV history hash for each endpoint in --endpoints
    Hashkv {
        /// use all endpoints from the cluster member list
        #[arg(long)]
        cluster: bool,
        /// maximum revision to hash (default: all revisions)
        #[arg(long, default_value_t = 0)]
        rev: i64,
    },
}

/// The endpoints to ask: the flag's, or every member's client URLs.
async fn endpoints(ctx: &mut Ctx, cluster: bool) -> Result<Vec<String>, Failure> {
    if !cluster {
        return Ok(ctx.global.endpoints.clone());
    }
    let list = ctx.client()?.member_list().await?;
    let mut urls: Vec<String> = Vec::new();
    for m in &list.members {
        for u in &m.client_ur_ls {
            if !urls.contains(u) {
                urls.push(u.clone());
            }
        }
    }
    Ok(urls)
}

pub async fn run(c: Command, ctx: &mut Ctx) -> Outcome {
    ctx.only(&[Format::Simple, Format::Json, Format::Fields, Format::Table])?;
    match c {
        Command::Health { cluster } => health(ctx, cluster).await,
        Command::Status { cluster } => status(ctx, cluster).await,
        Command::Hashkv { cluster, rev } => hashkv(ctx, cluster, rev).await,
    }
}

struct Health {
    endpoint: String,
    took: std::time::Duration,
    error: Option<String>,
}

async fn health(ctx: &mut Ctx, cluster: bool) -> Outcome {
    let eps = endpoints(ctx, cluster).await?;
    let mut probes = Vec::new();
    for ep in &eps {
        let client = ctx.client_for(vec![ep.clone()])?;
        let ep = ep.clone();
        probes.push(tokio::spawn(async move {
            let start = Instant::now();
            // A linearizable read goes through raft: it proves the member
            // is part of a working quorum, which is what healthy means.
            let read = client
                .range(cairn_client::pb::RangeRequest {
                    key: b"health".to_vec(),
                    ..Default::default()
                })
                .await;
            let took = start.elapsed();
            let error = match read {
                Err(e) if !describe(&e).contains("permission denied") => Some(describe(&e)),
                _ => match client
                    .alarm(cairn_client::pb::AlarmRequest::default())
                    .await
                {
                    Ok(a) if !a.alarms.is_empty() => {
                        let names: Vec<String> = a
                            .alarms
                            .iter()
                            .map(|m| alarm_name(m.alarm).to_owned())
                            .collect();
                        Some(format!("Active Alarm(s): {}", names.join(",")))
                    }
                    Ok(_) => None,
                    Err(e) => Some(format!("Unable to fetch the alarm list: {}", describe(&e))),
                },
            };
            Health {
                endpoint: ep,
                took,
                error,
            }
        }));
    }
    let mut results = Vec::new();
    for p in probes {
        results.push(
            p.await
                .map_err(|e| Failure::new(exit::ERROR, e.to_string()))?,
        );
    }
    let unhealthy = results.iter().any(|h| h.error.is_some());
    match ctx.format {
        Format::Json => {
            let items = results
                .iter()
                .map(|h| {
                    Obj::new()
                        .str_always("endpoint", &h.endpoint)
                        .flag_always("health", h.error.is_none())
                        .str_always("took", &go_string(h.took))
                        .str("error", h.error.as_deref().unwrap_or(""))
                        .finish()
                })
                .collect();
            writeln!(ctx.out, "{}", array(items))?;
        }
        Format::Fields => {
            for h in &results {
                writeln!(
                    ctx.out,
                    "\"Endpoint\" : {}",
                    go_quote(h.endpoint.as_bytes())
                )?;
                writeln!(ctx.out, "\"Health\" : {}", h.error.is_none())?;
                writeln!(ctx.out, "\"Took\" : {}", go_string(h.took))?;
                writeln!(ctx.out, "\"Error\" : {}", h.error.as_deref().unwrap_or(""))?;
                writeln!(ctx.out)?;
            }
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = results
                .iter()
                .map(|h| {
                    vec![
                        h.endpoint.clone(),
                        h.error.is_none().to_string(),
                        go_string(h.took),
                        h.error.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            let headers = ["ENDPOINT", "HEALTH", "TOOK", "ERROR"];
            write!(ctx.out, "{}", table::render(&headers, &rows))?;
        }
        _ => {
            for h in &results {
                match &h.error {
                    None => writeln!(
                        ctx.out,
                        "{} is healthy: successfully committed proposal: took = {}",
                        h.endpoint,
                        go_string(h.took)
                    )?,
                    Some(e) => eprintln!(
                        "{} is unhealthy: failed to commit proposal: {e}",
                        h.endpoint
                    ),
                }
            }
        }
    }
    if unhealthy {
        return Err(Failure::new(exit::ERROR, "unhealthy cluster"));
    }
    Ok(())
}

/// An endpoint's status as etcdctl lists it (simple and table formats).
fn status_row(ep: &str, s: &cairn_client::pb::StatusResponse) -> Vec<String> {
    let id = s.header.as_ref().map_or(0, |h| h.member_id);
    vec![
        ep.to_owned(),
        format!("{id:x}"),
        s.version.clone(),
        human_bytes(s.db_size),
        (s.leader == id).to_string(),
        s.is_learner.to_string(),
        s.raft_term.to_string(),
        s.raft_index.to_string(),
        s.raft_applied_index.to_string(),
        s.errors.join(", "),
    ]
}

pub fn alarm_name(alarm: i32) -> &'static str {
    match alarm {
        1 => "NOSPACE",
        2 => "CORRUPT",
        _ => "NONE",
    }
}

async fn status(ctx: &mut Ctx, cluster: bool) -> Outcome {
    let eps = endpoints(ctx, cluster).await?;
    let client = ctx.client()?;
    let mut rows = Vec::new();
    for ep in &eps {
        match client.status_at(ep).await {
            Ok(s) => rows.push((ep.clone(), s)),
            Err(e) => eprintln!(
                "Failed to get the status of endpoint {ep} ({})",
                describe(&e)
            ),
        }
    }
    match ctx.format {
        Format::Json => {
            let items = rows
                .iter()
                .map(|(ep, s)| {
                    Obj::new()
                        .str_always("Endpoint", ep)
                        .raw("Status", &json::status(s).finish())
                        .finish()
                })
                .collect();
            writeln!(ctx.out, "{}", array(items))?;
        }
        Format::Fields => {
            for (ep, s) in &rows {
                fields::header(&mut ctx.out, s.header.as_ref())?;
                writeln!(ctx.out, "\"Version\" : {}", go_quote(s.version.as_bytes()))?;
                writeln!(ctx.out, "\"DBSize\" : {}", s.db_size)?;
                writeln!(ctx.out, "\"Leader\" : {}", s.leader)?;
                writeln!(ctx.out, "\"IsLearner\" : {}", s.is_learner)?;
                writeln!(ctx.out, "\"RaftIndex\" : {}", s.raft_index)?;
                writeln!(ctx.out, "\"RaftTerm\" : {}", s.raft_term)?;
                writeln!(ctx.out, "\"RaftAppliedIndex\" : {}", s.raft_applied_index)?;
                writeln!(ctx.out, "\"Errors\" : [{}]", s.errors.join(" "))?;
                writeln!(ctx.out, "\"Endpoint\" : {}", go_quote(ep.as_bytes()))?;
                writeln!(ctx.out)?;
            }
        }
        Format::Table => {
            let table_rows: Vec<Vec<String>> =
                rows.iter().map(|(ep, s)| status_row(ep, s)).collect();
            let headers = [
                "ENDPOINT",
                "ID",
                "VERSION",
                "DB SIZE",
                "IS LEADER",
                "IS LEARNER",
                "RAFT TERM",
                "RAFT INDEX",
                "RAFT APPLIED INDEX",
                "ERRORS",
            ];
            write!(ctx.out, "{}", table::render(&headers, &table_rows))?;
        }
        _ => {
            for (ep, s) in &rows {
                writeln!(ctx.out, "{}", status_row(ep, s).join(", "))?;
            }
        }
    }
    if rows.len() < eps.len() {
        return Err(Failure::Quiet(exit::ERROR));
    }
    Ok(())
}

async fn hashkv(ctx: &mut Ctx, cluster: bool, rev: i64) -> Outcome {
    let eps = endpoints(ctx, cluster).await?;
    let client = ctx.client()?;
    let mut rows = Vec::new();
    for ep in &eps {
        match client.hash_kv_at(ep, rev).await {
            Ok(h) => rows.push((ep.clone(), h)),
            Err(e) => eprintln!("Failed to get the hash of endpoint {ep} ({})", describe(&e)),
        }
    }
    match ctx.format {
        Format::Json => {
            let items = rows
                .iter()
                .map(|(ep, h)| {
                    Obj::new()
                        .str_always("Endpoint", ep)
                        .raw("HashKV", &json::hash_kv(h).finish())
                        .finish()
                })
                .collect();
            writeln!(ctx.out, "{}", array(items))?;
        }
        Format::Fields => {
            for (ep, h) in &rows {
                fields::header(&mut ctx.out, h.header.as_ref())?;
                writeln!(ctx.out, "\"Endpoint\" : {}", go_quote(ep.as_bytes()))?;
                writeln!(ctx.out, "\"Hash\" : {}", h.hash)?;
                writeln!(ctx.out)?;
            }
        }
        Format::Table => {
            let table_rows: Vec<Vec<String>> = rows
                .iter()
                .map(|(ep, h)| vec![ep.clone(), h.hash.to_string()])
                .collect();
            write!(
                ctx.out,
                "{}",
                table::render(&["ENDPOINT", "HASH"], &table_rows)
            )?;
        }
        _ => {
            for (ep, h) in &rows {
                writeln!(ctx.out, "{ep}, {}", h.hash)?;
            }
        }
    }
    if rows.len() < eps.len() {
        return Err(Failure::Quiet(exit::ERROR));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::commands::parse_subcommand;

    fn endpoint(args: &[&str]) -> Command {
        parse_subcommand!(Endpoint, "endpoint", args)
    }

    #[test]
    fn cluster_flag_on_each_subcommand() {
        assert!(matches!(
            endpoint(&["health", "--cluster"]),
            Command::Health { cluster: true }
        ));
        assert!(matches!(
            endpoint(&["status"]),
            Command::Status { cluster: false }
        ));
        assert!(matches!(
            endpoint(&["hashkv", "--cluster", "--rev=3"]),
            Command::Hashkv {
                cluster: true,
                rev: 3
            }
        ));
    }
}
