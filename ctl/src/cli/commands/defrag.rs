//! `defrag [--cluster]`: Defragment on each endpoint in turn. etcdctl
//! prints the same lines whatever the `-w` format.

use std::io::Write;

use crate::cli::{Ctx, Failure, Outcome, describe, exit};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct Args {
    /// use all endpoints from the cluster member list
    #[arg(long)]
    pub cluster: bool,
    /// Defragments a data directory of an etcd member that is not running
    #[arg(long = "data-dir", default_value = "")]
    pub data_dir: String,
}

pub async fn run(a: Args, ctx: &mut Ctx) -> Outcome {
    if !a.data_dir.is_empty() {
        return Err(Failure::new(
            exit::BAD_FEATURE,
            "defrag --data-dir is not supported by cairnctl",
        ));
    }
    let client = ctx.client()?;
    let eps = if a.cluster {
        let list = client.member_list().await?;
        list.members
            .iter()
            .flat_map(|m| m.client_ur_ls.clone())
            .collect()
    } else {
        ctx.global.endpoints.clone()
    };
    let mut failed = false;
    for ep in &eps {
        match client.defragment_at(ep).await {
            Ok(_) => writeln!(ctx.out, "Finished defragmenting etcd member[{ep}]")?,
            Err(e) => {
                failed = true;
                eprintln!("Failed to defragment etcd member[{ep}] ({})", describe(&e));
            }
        }
    }
    if failed {
        return Err(Failure::Quiet(exit::ERROR));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::cli::commands::{Command, parse};

    #[test]
    fn cluster_flag() {
        assert!(
            matches!(parse(&["defrag", "--cluster"]).unwrap().command, Command::Defrag(a) if a.cluster)
        );
    }
}
