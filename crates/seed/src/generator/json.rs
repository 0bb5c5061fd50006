//! Just enough JSON writing for the generated columns (order items and payments, eyes,
//! product attributes): strings escaped, numbers exact. Written by hand because serde_json
//! through `Value`s would allocate per field on the hottest path. The shapes themselves
//! belong to the modules that own the columns.

use uuid::Uuid;

use super::copy::{push_int, push_uuid};

/// A JSON object being written into `buf`.
pub(crate) struct Obj<'a> {
    buf: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Obj<'a> {
    pub(crate) fn open(buf: &'a mut Vec<u8>) -> Self {
        buf.push(b'{');
        Self { buf, first: true }
    }

    fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.first {
            self.buf.extend_from_slice(b", ");
        }
        self.first = false;
        push_str(self.buf, key);
        self.buf.extend_from_slice(b": ");
        self.buf
    }

    pub(crate) fn str(&mut self, key: &str, value: &str) -> &mut Self {
        let buf = self.key(key);
        push_str(buf, value);
        self
    }

    pub(crate) fn int(&mut self, key: &str, value: i64) -> &mut Self {
        push_int(self.key(key), value);
        self
    }

    pub(crate) fn uuid(&mut self, key: &str, value: &Uuid) -> &mut Self {
        let buf = self.key(key);
        buf.push(b'"');
        push_uuid(buf, value);
        buf.push(b'"');
        self
    }

    pub(crate) fn opt_uuid(&mut self, key: &str, value: Option<&Uuid>) -> &mut Self {
        match value {
            Some(v) => self.uuid(key, v),
            None => self.null(key),
        }
    }

    pub(crate) fn null(&mut self, key: &str) -> &mut Self {
        self.key(key).extend_from_slice(b"null");
        self
    }

    pub(crate) fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        let text: &[u8] = if value { b"true" } else { b"false" };
        self.key(key).extend_from_slice(text);
        self
    }

    /// A number in hundredths written as a decimal (`-225` → `-2.25`, `300` → `3.0`), the
    /// way serde_json prints the same f64.
    pub(crate) fn hundredths(&mut self, key: &str, value: i64) -> &mut Self {
        push_hundredths(self.key(key), value);
        self
    }

    /// A value written by `write` (nested objects, timestamps).
    pub(crate) fn with(&mut self, key: &str, write: impl FnOnce(&mut Vec<u8>)) -> &mut Self {
        write(self.key(key));
        self
    }

    pub(crate) fn close(&mut self) {
        self.buf.push(b'}');
    }
}

pub(crate) fn push_str(buf: &mut Vec<u8>, value: &str) {
    buf.push(b'"');
    for c in value.chars() {
        match c {
            '"' => buf.extend_from_slice(b"\\\""),
            '\\' => buf.extend_from_slice(b"\\\\"),
            c if (c as u32) < 0x20 => {
                buf.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            c => {
                let mut utf8 = [0u8; 4];
                buf.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
        }
    }
    buf.push(b'"');
}

pub(crate) fn push_hundredths(buf: &mut Vec<u8>, value: i64) {
    if value < 0 {
        buf.push(b'-');
    }
    let abs = value.unsigned_abs();
    push_int(buf, (abs / 100) as i64);
    buf.push(b'.');
    let frac = abs % 100;
    if frac == 0 {
        buf.push(b'0');
    } else if frac.is_multiple_of(10) {
        buf.push(b'0' + (frac / 10) as u8);
    } else {
        buf.push(b'0' + (frac / 10) as u8);
        buf.push(b'0' + (frac % 10) as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_parse_as_json_with_exact_numbers() {
        let mut buf = Vec::new();
        Obj::open(&mut buf)
            .str("name", "D'Souza \"Ray\" \\ x")
            .hundredths("sphere", -225)
            .hundredths("cylinder", -50)
            .hundredths("add", 300)
            .hundredths("zero", 0)
            .int("axis", 90)
            .null("prism")
            .bool("polarized", true)
            .close();
        let value: serde_json::Value = serde_json::from_slice(&buf).expect("valid JSON");
        assert_eq!(value["name"], "D'Souza \"Ray\" \\ x");
        assert_eq!(value["sphere"].as_f64(), Some(-2.25));
        assert_eq!(value["cylinder"].as_f64(), Some(-0.5));
        assert_eq!(value["add"].as_f64(), Some(3.0));
        assert_eq!(value["zero"].as_f64(), Some(0.0));
        let text = String::from_utf8(buf).expect("utf8");
        assert!(text.contains("\"sphere\": -2.25, \"cylinder\": -0.5, \"add\": 3.0"));
    }
}
