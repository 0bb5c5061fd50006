//! The generator's side of the COPY pipeline: rows written in PostgreSQL's text COPY format
//! into large buffers that a bounded channel hands to the loader (`load`), so Rust formats
//! rows on one core while the server parses them on the other.

use tokio::sync::mpsc;
use uuid::Uuid;

use super::time;

/// Bytes per chunk: large enough that each send is one big write, small enough that the
/// generator never runs far ahead of the server.
const CHUNK: usize = 2 << 20;

/// What flows from the generator to the loader, in order.
#[derive(Debug)]
pub(crate) enum Message {
    /// A new phase (progress bar and timing), expecting about `rows` rows.
    Phase {
        label: &'static str,
        rows: u64,
    },
    /// Start `COPY … FROM STDIN`; rows go to the table count named `table`.
    Copy {
        table: &'static str,
        statement: String,
    },
    /// Rows of the current COPY and how many there are.
    Data(Vec<u8>, u64),
    EndCopy,
    EndPhase,
}

/// The loader hung up (it failed; its error is the one to report).
#[derive(Debug)]
pub(crate) struct Closed;

pub(crate) type Sent = Result<(), Closed>;

pub(crate) struct Sink {
    tx: mpsc::Sender<Message>,
    buf: Vec<u8>,
    rows: u64,
}

impl Sink {
    pub(crate) fn new(tx: mpsc::Sender<Message>) -> Self {
        Self {
            tx,
            buf: Vec::with_capacity(CHUNK + (64 << 10)),
            rows: 0,
        }
    }

    fn send(&self, message: Message) -> Sent {
        self.tx.blocking_send(message).map_err(|_| Closed)
    }

    pub(crate) fn phase(&mut self, label: &'static str, rows: usize) -> Sent {
        self.send(Message::Phase {
            label,
            rows: rows as u64,
        })
    }

    pub(crate) fn end_phase(&mut self) -> Sent {
        self.send(Message::EndPhase)
    }

    /// Starts `COPY target (columns) FROM STDIN`; `freeze` when the table was truncated in
    /// this transaction, so its rows are written frozen and all-visible (no vacuum needed).
    pub(crate) fn copy(
        &mut self,
        table: &'static str,
        target: &str,
        columns: &str,
        freeze: bool,
    ) -> Sent {
        let with = if freeze { " WITH (FREEZE)" } else { "" };
        self.send(Message::Copy {
            table,
            statement: format!("COPY {target} ({columns}) FROM STDIN{with}"),
        })
    }

    /// Writes one row; `fill` writes its fields in column order.
    pub(crate) fn row(&mut self, fill: impl FnOnce(&mut Row<'_>)) -> Sent {
        let mut row = Row {
            buf: &mut self.buf,
            first: true,
        };
        fill(&mut row);
        self.buf.push(b'\n');
        self.rows += 1;
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Sent {
        if self.buf.is_empty() {
            return Ok(());
        }
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK + (64 << 10)));
        let rows = std::mem::take(&mut self.rows);
        self.send(Message::Data(data, rows))
    }

    pub(crate) fn end_copy(&mut self) -> Sent {
        self.flush()?;
        self.send(Message::EndCopy)
    }
}

/// One row being written: each method appends one field.
pub(crate) struct Row<'a> {
    buf: &'a mut Vec<u8>,
    first: bool,
}

impl Row<'_> {
    fn sep(&mut self) -> &mut Vec<u8> {
        if !self.first {
            self.buf.push(b'\t');
        }
        self.first = false;
        self.buf
    }

    /// Text, escaped for COPY (backslash, tab, newline, carriage return).
    pub(crate) fn text(&mut self, value: &str) -> &mut Self {
        let buf = self.sep();
        push_escaped(buf, value.as_bytes());
        self
    }

    pub(crate) fn opt_text(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.text(v),
            None => self.null(),
        }
    }

    pub(crate) fn null(&mut self) -> &mut Self {
        self.sep().extend_from_slice(b"\\N");
        self
    }

    pub(crate) fn int(&mut self, value: i64) -> &mut Self {
        push_int(self.sep(), value);
        self
    }

    pub(crate) fn uuid(&mut self, value: &Uuid) -> &mut Self {
        push_uuid(self.sep(), value);
        self
    }

    pub(crate) fn opt_uuid(&mut self, value: Option<&Uuid>) -> &mut Self {
        match value {
            Some(v) => self.uuid(v),
            None => self.null(),
        }
    }

    pub(crate) fn timestamp(&mut self, ms: i64) -> &mut Self {
        time::push_timestamp(self.sep(), ms);
        self
    }

    pub(crate) fn opt_timestamp(&mut self, ms: Option<i64>) -> &mut Self {
        match ms {
            Some(ms) => self.timestamp(ms),
            None => self.null(),
        }
    }

    pub(crate) fn date(&mut self, days: i64) -> &mut Self {
        time::push_date(self.sep(), days);
        self
    }

    /// A field already in COPY-safe form (JSON built by [`super::json`], array literals).
    pub(crate) fn raw(&mut self, value: &[u8]) -> &mut Self {
        let buf = self.sep();
        push_escaped(buf, value);
        self
    }
}

pub(crate) fn push_escaped(buf: &mut Vec<u8>, bytes: &[u8]) {
    if !bytes
        .iter()
        .any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r'))
    {
        buf.extend_from_slice(bytes);
        return;
    }
    for &b in bytes {
        match b {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            _ => buf.push(b),
        }
    }
}

pub(crate) fn push_int(buf: &mut Vec<u8>, value: i64) {
    let mut digits = [0u8; 20];
    let mut n = value.unsigned_abs();
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if value < 0 {
        buf.push(b'-');
    }
    buf.extend_from_slice(&digits[i..]);
}

pub(crate) fn push_uuid(buf: &mut Vec<u8>, value: &Uuid) {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    buf.extend_from_slice(value.hyphenated().encode_lower(&mut text).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_copy_text() {
        let (tx, mut rx) = mpsc::channel(8);
        let mut sink = Sink::new(tx);
        sink.row(|r| {
            r.text("a\tb\\c\nd")
                .null()
                .int(-42)
                .int(0)
                .uuid(&Uuid::nil())
                .opt_text(Some("x"));
        })
        .expect("open");
        sink.end_copy().expect("open");
        let Some(Message::Data(data, rows)) = rx.blocking_recv() else {
            panic!("data first")
        };
        assert_eq!(rows, 1);
        assert_eq!(
            String::from_utf8(data).expect("utf8"),
            "a\\tb\\\\c\\nd\t\\N\t-42\t0\t00000000-0000-0000-0000-000000000000\tx\n"
        );
        assert!(matches!(rx.blocking_recv(), Some(Message::EndCopy)));
    }
}
