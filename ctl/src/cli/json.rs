//! JSON as etcdctl 3.5.1 writes it with `-w json`: Go's encoding/json over
//! etcd's structs. Fields come in struct order, zero values are left out
//! where the Go field says `omitempty` (the protobuf messages), bytes are
//! base64, and `<`, `>`, `&` are escaped as Go does. Callers state per
//! field whether it is omitted when empty, because the Go structs differ
//! (`"Error":""` of lease grant is kept, `"revision":0` of a header is not).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cairn_client::mvccpb;
use cairn_client::pb;

/// A JSON object under construction.
#[derive(Debug, Default)]
pub struct Obj {
    buf: String,
}

impl Obj {
    pub fn new() -> Obj {
        Obj::default()
    }

    /// A field with already encoded JSON, always present.
    pub fn raw(mut self, name: &str, json: &str) -> Obj {
        if !self.buf.is_empty() {
            self.buf.push(',');
        }
        self.buf.push_str(&string(name));
        self.buf.push(':');
        self.buf.push_str(json);
        self
    }

    /// A number, left out when zero (`omitempty`).
    pub fn num<N: Into<i128> + Copy>(self, name: &str, n: N) -> Obj {
        if n.into() == 0 {
            self
        } else {
            self.num_always(name, n)
        }
    }

    pub fn num_always<N: Into<i128> + Copy>(self, name: &str, n: N) -> Obj {
        let text = n.into().to_string();
        self.raw(name, &text)
    }

    /// A bool, left out when false.
    pub fn flag(self, name: &str, b: bool) -> Obj {
        if b { self.raw(name, "true") } else { self }
    }

    pub fn flag_always(self, name: &str, b: bool) -> Obj {
        self.raw(name, if b { "true" } else { "false" })
    }

    /// A string, left out when empty.
    pub fn str(self, name: &str, s: &str) -> Obj {
        if s.is_empty() {
            self
        } else {
            self.str_always(name, s)
        }
    }

    pub fn str_always(self, name: &str, s: &str) -> Obj {
        let text = string(s);
        self.raw(name, &text)
    }

    /// Bytes as base64, left out when empty.
    pub fn bytes(self, name: &str, b: &[u8]) -> Obj {
        if b.is_empty() {
            self
        } else {
            self.str_always(name, &STANDARD.encode(b))
        }
    }

    /// An object field, left out when `None`.
    pub fn obj(self, name: &str, o: Option<Obj>) -> Obj {
        match o {
            Some(o) => self.raw(name, &o.finish()),
            None => self,
        }
    }

    /// An array field, left out when empty (`omitempty`).
    pub fn arr(self, name: &str, items: Vec<String>) -> Obj {
        if items.is_empty() {
            self
        } else {
            self.raw(name, &array(items))
        }
    }

    pub fn finish(self) -> String {
        format!("{{{}}}", self.buf)
    }
}

/// Bytes as a base64 JSON string (Go's encoding of `[]byte`).
pub fn b64(b: &[u8]) -> String {
    string(&STANDARD.encode(b))
}

/// A JSON array of encoded items.
pub fn array(items: Vec<String>) -> String {
    format!("[{}]", items.join(","))
}

/// A JSON string, escaped as Go's encoding/json does.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `pb.ResponseHeader`.
pub fn header(h: Option<&pb::ResponseHeader>) -> Option<Obj> {
    h.map(|h| header_fields(Obj::new(), h))
}

/// The header's fields added to `o` (Go embeds the header in clientv3's
/// lease responses, flattening it).
pub fn header_fields(o: Obj, h: &pb::ResponseHeader) -> Obj {
    o.num("cluster_id", h.cluster_id)
        .num("member_id", h.member_id)
        .num("revision", h.revision)
        .num("raft_term", h.raft_term)
}

/// `mvccpb.KeyValue`.
pub fn kv(kv: &mvccpb::KeyValue) -> Obj {
    Obj::new()
        .bytes("key", &kv.key)
        .num("create_revision", kv.create_revision)
        .num("mod_revision", kv.mod_revision)
        .num("version", kv.version)
        .bytes("value", &kv.value)
        .num("lease", kv.lease)
}

pub fn kvs(list: &[mvccpb::KeyValue]) -> Vec<String> {
    list.iter().map(|k| kv(k).finish()).collect()
}

pub fn range(r: &pb::RangeResponse) -> Obj {
    Obj::new()
        .obj("header", header(r.header.as_ref()))
        .arr("kvs", kvs(&r.kvs))
        .flag("more", r.more)
        .num("count", r.count)
}

pub fn put(r: &pb::PutResponse) -> Obj {
    Obj::new()
        .obj("header", header(r.header.as_ref()))
        .obj("prev_kv", r.prev_kv.as_ref().map(kv))
}

pub fn delete(r: &pb::DeleteRangeResponse) -> Obj {
    Obj::new()
        .obj("header", header(r.header.as_ref()))
        .num("deleted", r.deleted)
        .arr("prev_kvs", kvs(&r.prev_kvs))
}

pub fn txn(r: &pb::TxnResponse) -> Obj {
    use pb::response_op::Response;
    let responses = r
        .responses
        .iter()
        .map(|op| {
            let inner = match &op.response {
                Some(Response::ResponseRange(x)) => {
                    Obj::new().raw("response_range", &range(x).finish())
                }
                Some(Response::ResponsePut(x)) => Obj::new().raw("response_put", &put(x).finish()),
                Some(Response::ResponseDeleteRange(x)) => {
                    Obj::new().raw("response_delete_range", &delete(x).finish())
                }
                Some(Response::ResponseTxn(x)) => Obj::new().raw("response_txn", &txn(x).finish()),
                None => Obj::new(),
            };
            Obj::new().raw("Response", &inner.finish()).finish()
        })
        .collect();
    Obj::new()
        .obj("header", header(r.header.as_ref()))
        .flag("succeeded", r.succeeded)
        .arr("responses", responses)
}

pub fn event(e: &mvccpb::Event) -> Obj {
    Obj::new()
        .num("type", e.r#type)
        .obj("kv", e.kv.as_ref().map(kv))
        .obj("prev_kv", e.prev_kv.as_ref().map(kv))
}

/// clientv3's WatchResponse: exported Go fields without json tags.
pub fn watch(r: &pb::WatchResponse) -> Obj {
    let events: Vec<String> = r.events.iter().map(|e| event(e).finish()).collect();
    let h = header(r.header.as_ref()).unwrap_or_default();
    // etcd's client hands over a cancellation with an empty (not nil)
    // event list, and other event-less responses with none.
    let events = if events.is_empty() && !r.canceled {
        "null".to_owned()
    } else {
        array(events)
    };
    Obj::new()
        .raw("Header", &h.finish())
        .raw("Events", &events)
        .num_always("CompactRevision", r.compact_revision)
        .flag_always("Canceled", r.canceled)
        .flag_always("Created", r.created)
}

pub fn member(m: &pb::Member) -> Obj {
    let urls = |u: &[String]| u.iter().map(|s| string(s)).collect::<Vec<_>>();
    Obj::new()
        .num("ID", m.id)
        .str("name", &m.name)
        .arr("peerURLs", urls(&m.peer_ur_ls))
        .arr("clientURLs", urls(&m.client_ur_ls))
        .flag("isLearner", m.is_learner)
}

pub fn members(list: &[pb::Member]) -> Vec<String> {
    list.iter().map(|m| member(m).finish()).collect()
}

pub fn status(s: &pb::StatusResponse) -> Obj {
    let errors = s.errors.iter().map(|e| string(e)).collect();
    Obj::new()
        .obj("header", header(s.header.as_ref()))
        .str("version", &s.version)
        .num("dbSize", s.db_size)
        .num("leader", s.leader)
        .num("raftIndex", s.raft_index)
        .num("raftTerm", s.raft_term)
        .num("raftAppliedIndex", s.raft_applied_index)
        .arr("errors", errors)
        .num("dbSizeInUse", s.db_size_in_use)
        .flag("isLearner", s.is_learner)
}

pub fn hash_kv(h: &pb::HashKvResponse) -> Obj {
    Obj::new()
        .obj("header", header(h.header.as_ref()))
        .num("hash", h.hash)
        .num("compact_revision", h.compact_revision)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_as_go_does() {
        assert_eq!(string("a\"b<c>&\n"), r#""a\"b\u003cc\u003e\u0026\n""#);
    }

    #[test]
    fn zero_fields_are_omitted_and_order_is_kept() {
        let h = pb::ResponseHeader {
            cluster_id: 1,
            member_id: 2,
            revision: 0,
            raft_term: 3,
        };
        assert_eq!(
            header(Some(&h)).unwrap().finish(),
            r#"{"cluster_id":1,"member_id":2,"raft_term":3}"#
        );
    }
}
