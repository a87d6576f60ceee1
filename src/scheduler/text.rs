//! Serializing timestamps and durations through a stack buffer: the JSON API writes several
//! per listed task, and going through `collect_str` (timestamps) or a `String` (durations)
//! was a quarter of a page of tasks.

use std::fmt;

use jiff::fmt::temporal::DateTimePrinter;
use jiff::Timestamp;
use serde::Serializer;

/// A small string on the stack; writes past its end fail.
pub(crate) struct StackStr<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackStr<N> {
    pub(crate) fn new() -> Self {
        StackStr {
            buf: [0; N],
            len: 0,
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only whole `&str`s are ever copied in, so the bytes are UTF-8.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl<const N: usize> fmt::Write for StackStr<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > N {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// A timestamp as jiff writes it (RFC 3339, UTC, fractional seconds only when present).
pub(crate) fn timestamp<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = StackStr::<48>::new();
    match DateTimePrinter::new().print_timestamp(t, jiff::fmt::StdFmtWrite(&mut buf)) {
        Ok(()) => s.serialize_str(buf.as_str()),
        // Cannot happen for jiff's range; fall back to the general path.
        Err(_) => s.collect_str(t),
    }
}

/// [`timestamp`] for an optional one.
pub(crate) fn opt_timestamp<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => timestamp(t, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct Ours {
        #[serde(serialize_with = "timestamp")]
        t: Timestamp,
        #[serde(serialize_with = "opt_timestamp")]
        o: Option<Timestamp>,
    }

    #[derive(serde::Serialize)]
    struct Jiffs {
        t: Timestamp,
        o: Option<Timestamp>,
    }

    #[test]
    fn timestamps_serialize_like_jiff() {
        for text in [
            "2026-03-01T10:00:00Z",
            "2026-03-01T10:00:00.5Z",
            "2026-03-01T10:00:00.123456789Z",
            "1970-01-01T00:00:00Z",
            "-009999-01-02T01:59:59Z",
            "9999-12-30T22:00:00.999999999Z",
        ] {
            let t: Timestamp = text.parse().unwrap();
            for o in [None, Some(t)] {
                assert_eq!(
                    serde_json::to_string(&Ours { t, o }).unwrap(),
                    serde_json::to_string(&Jiffs { t, o }).unwrap(),
                    "{text}"
                );
            }
        }
    }

    #[test]
    fn stack_str_refuses_overflow() {
        use std::fmt::Write as _;
        let mut s = StackStr::<4>::new();
        assert!(s.write_str("abcd").is_ok());
        assert!(s.write_str("e").is_err());
        assert_eq!(s.as_str(), "abcd");
    }
}
