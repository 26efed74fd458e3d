//! `compaction REV [--physical]`. etcdctl prints the same line whatever
//! the `-w` format.

use std::io::Write;

use cairn_client::pb;

use crate::cli::{Ctx, Failure, Outcome, exit, go_parse_int_error};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct Args {
    /// 'true' to wait for compaction to physically remove all old revisions
    #[arg(long)]
    pub physical: bool,
    pub args: Vec<String>,
}

pub fn request(a: &Args) -> Result<pb::CompactionRequest, Failure> {
    let [rev] = a.args.as_slice() else {
        return Err(Failure::bad_args("compaction command needs 1 argument"));
    };
    let revision: i64 = rev
        .parse()
        .map_err(|e| Failure::new(exit::ERROR, go_parse_int_error(rev, &e)))?;
    Ok(pb::CompactionRequest {
        revision,
        physical: a.physical,
    })
}

pub async fn run(a: Args, ctx: &mut Ctx) -> Outcome {
    let req = request(&a)?;
    let revision = req.revision;
    ctx.client()?.compact(req).await?;
    writeln!(ctx.out, "compacted revision {revision}")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::commands::parse_subcommand;

    fn compaction(args: &[&str]) -> Args {
        parse_subcommand!(Compaction, "compaction", args)
    }

    #[test]
    fn revision_and_physical() {
        let req = request(&compaction(&["12", "--physical"])).unwrap();
        assert_eq!((req.revision, req.physical), (12, true));
        assert!(request(&compaction(&[])).is_err());
        assert!(request(&compaction(&["x"])).is_err());
    }
}
