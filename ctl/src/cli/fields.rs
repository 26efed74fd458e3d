//! `-w fields`: one `"Name" : value` line per field, as etcdctl prints
//! them for scripts that grep a field.

use std::io::Write;

use cairn_client::{mvccpb, pb};

use super::Outcome;
use super::out::go_quote;

pub fn header(out: &mut dyn Write, h: Option<&pb::ResponseHeader>) -> Outcome {
    let h = h.cloned().unwrap_or_default();
    writeln!(out, "\"ClusterID\" : {}", h.cluster_id)?;
    writeln!(out, "\"MemberID\" : {}", h.member_id)?;
    writeln!(out, "\"Revision\" : {}", h.revision)?;
    writeln!(out, "\"RaftTerm\" : {}", h.raft_term)?;
    Ok(())
}

/// A key-value's fields, each name prefixed with `prefix` (`Prev`).
pub fn kv(out: &mut dyn Write, prefix: &str, kv: &mvccpb::KeyValue) -> Outcome {
    writeln!(out, "\"{prefix}Key\" : {}", go_quote(&kv.key))?;
    writeln!(out, "\"{prefix}CreateRevision\" : {}", kv.create_revision)?;
    writeln!(out, "\"{prefix}ModRevision\" : {}", kv.mod_revision)?;
    writeln!(out, "\"{prefix}Version\" : {}", kv.version)?;
    writeln!(out, "\"{prefix}Value\" : {}", go_quote(&kv.value))?;
    writeln!(out, "\"{prefix}Lease\" : {}", kv.lease)?;
    Ok(())
}

pub fn range(out: &mut dyn Write, r: &pb::RangeResponse) -> Outcome {
    header(out, r.header.as_ref())?;
    for k in &r.kvs {
        kv(out, "", k)?;
    }
    writeln!(out, "\"More\" : {}", r.more)?;
    writeln!(out, "\"Count\" : {}", r.count)?;
    Ok(())
}

pub fn put(out: &mut dyn Write, r: &pb::PutResponse) -> Outcome {
    header(out, r.header.as_ref())?;
    if let Some(p) = &r.prev_kv {
        kv(out, "Prev", p)?;
    }
    Ok(())
}

pub fn delete(out: &mut dyn Write, r: &pb::DeleteRangeResponse) -> Outcome {
    header(out, r.header.as_ref())?;
    writeln!(out, "\"Deleted\" : {}", r.deleted)?;
    for p in &r.prev_kvs {
        kv(out, "Prev", p)?;
    }
    Ok(())
}

pub fn members(out: &mut dyn Write, r: &pb::MemberListResponse) -> Outcome {
    header(out, r.header.as_ref())?;
    for m in &r.members {
        writeln!(out, "\"ID\" : {}", m.id)?;
        writeln!(out, "\"Name\" : {}", go_quote(m.name.as_bytes()))?;
        for u in &m.peer_ur_ls {
            writeln!(out, "\"PeerURL\" : {}", go_quote(u.as_bytes()))?;
        }
        for u in &m.client_ur_ls {
            writeln!(out, "\"ClientURL\" : {}", go_quote(u.as_bytes()))?;
        }
        writeln!(out, "\"IsLearner\" : {}", m.is_learner)?;
        writeln!(out)?;
    }
    Ok(())
}
