//! `move-leader TARGET_ID`: finds the leader among the endpoints (by
//! Status) and asks it to hand leadership to the target.

use std::io::Write;

use crate::cli::json::{Obj, header};
use crate::cli::{Ctx, Failure, Format, Outcome, exit};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct Args {
    pub args: Vec<String>,
}

pub fn target(a: &Args) -> Result<u64, Failure> {
    let [id] = a.args.as_slice() else {
        return Err(Failure::bad_args("move-leader command needs 1 argument"));
    };
    u64::from_str_radix(id, 16).map_err(|e| Failure::bad_args(e.to_string()))
}

pub async fn run(a: Args, ctx: &mut Ctx) -> Outcome {
    let target = target(&a)?;
    let client = ctx.client()?;
    let mut leader = None;
    for ep in ctx.global.endpoints.clone() {
        let s = client.status_at(&ep).await?;
        let id = s.header.as_ref().map_or(0, |h| h.member_id);
        if s.leader == id {
            leader = Some((ep, id));
            break;
        }
    }
    let Some((ep, id)) = leader else {
        return Err(Failure::new(
            exit::ERROR,
            format!("no leader endpoint given at {:?}", ctx.global.endpoints),
        ));
    };
    let r = client.move_leader_at(&ep, target).await?;
    // Like etcdctl, the format is judged only once the call succeeded.
    ctx.only(&[Format::Simple, Format::Json])?;
    if ctx.format == Format::Json {
        writeln!(
            ctx.out,
            "{}",
            Obj::new().obj("header", header(r.header.as_ref())).finish()
        )?;
    } else {
        writeln!(ctx.out, "Leadership transferred from {id:x} to {target:x}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_is_hex() {
        assert_eq!(
            target(&Args {
                args: vec!["ff".into()]
            })
            .unwrap(),
            255
        );
        assert!(target(&Args { args: vec![] }).is_err());
    }
}
