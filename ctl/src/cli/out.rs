//! Text shared by the simple and fields formats: how a key or value is
//! shown (`--hex` writes `\xNN` per byte), Go's `%q` quoting, and Go's
//! human-readable byte sizes.

use std::io::Write;

use cairn_client::mvccpb;

use super::Outcome;

/// A key or value as etcdctl prints it: raw bytes, or `\x..` per byte with
/// `--hex`.
pub fn bytes(b: &[u8], hex: bool) -> Vec<u8> {
    if !hex {
        return b.to_vec();
    }
    let mut s = String::with_capacity(b.len() * 4);
    for byte in b {
        s.push_str(&format!("\\x{byte:02x}"));
    }
    s.into_bytes()
}

/// One key-value pair in simple format: the key (unless `value_only`) and
/// the value, each on its own line.
pub fn kv(out: &mut dyn Write, kv: &mvccpb::KeyValue, hex: bool, value_only: bool) -> Outcome {
    if !value_only {
        out.write_all(&bytes(&kv.key, hex))?;
        out.write_all(b"\n")?;
    }
    out.write_all(&bytes(&kv.value, hex))?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Go's `%q` of a byte string.
pub fn go_quote(b: &[u8]) -> String {
    let mut out = String::from("\"");
    let mut rest = b;
    while !rest.is_empty() {
        let (c, len) = match std::str::from_utf8(&rest[..rest.len().min(4)]) {
            Ok(s) => {
                let c = s.chars().next().unwrap_or('\0');
                (Some(c), c.len_utf8())
            }
            Err(e) if e.valid_up_to() > 0 => {
                let s = std::str::from_utf8(&rest[..e.valid_up_to()]).unwrap_or("");
                let c = s.chars().next().unwrap_or('\0');
                (Some(c), c.len_utf8())
            }
            Err(_) => (None, 1),
        };
        match c {
            Some('"') => out.push_str("\\\""),
            Some('\\') => out.push_str("\\\\"),
            Some('\x07') => out.push_str("\\a"),
            Some('\x08') => out.push_str("\\b"),
            Some('\x0c') => out.push_str("\\f"),
            Some('\n') => out.push_str("\\n"),
            Some('\r') => out.push_str("\\r"),
            Some('\t') => out.push_str("\\t"),
            Some('\x0b') => out.push_str("\\v"),
            Some(c) if (c as u32) < 0x20 => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            Some(c) if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            Some(c) => out.push(c),
            None => out.push_str(&format!("\\x{:02x}", rest[0])),
        }
        rest = &rest[len..];
    }
    out.push('"');
    out
}

/// Go humanize's `Bytes`: SI units, one decimal below 10.
pub fn human_bytes(n: i64) -> String {
    let n = n.max(0) as f64;
    if n < 10.0 {
        return format!("{n} B");
    }
    let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let e = (n.ln() / 1000f64.ln()).floor() as usize;
    let e = e.min(units.len() - 1);
    let val = (n / 1000f64.powi(e as i32) * 10.0 + 0.5).floor() / 10.0;
    if val < 10.0 {
        format!("{val:.1} {}", units[e])
    } else {
        format!("{val:.0} {}", units[e])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_prefixes_every_byte() {
        assert_eq!(bytes(b"a\x01", true), b"\\x61\\x01".to_vec());
        assert_eq!(bytes(b"a", false), b"a".to_vec());
    }

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote(b"/k/a"), "\"/k/a\"");
        assert_eq!(go_quote(b"a\"\n\x01\xff"), "\"a\\\"\\n\\x01\\xff\"");
        assert_eq!(go_quote("é".as_bytes()), "\"é\"");
        assert_eq!(go_quote(b"\x7f"), "\"\\u007f\"");
    }

    #[test]
    fn sizes_like_humanize() {
        assert_eq!(human_bytes(20480), "20 kB");
        assert_eq!(human_bytes(1500), "1.5 kB");
        assert_eq!(human_bytes(5), "5 B");
    }
}
