//! `version`: cairnctl's own version and the etcd API version it speaks.

use std::io::Write;

use crate::cli::{Ctx, Outcome};

pub fn run(ctx: &mut Ctx) -> Outcome {
    writeln!(ctx.out, "cairnctl version: {}", env!("CARGO_PKG_VERSION"))?;
    writeln!(ctx.out, "API version: 3.5")?;
    Ok(())
}
