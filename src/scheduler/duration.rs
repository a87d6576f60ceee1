//! Human-readable durations: `"30s"`, `"1h 30m"`, `"PT5M"`, or a number of seconds.
//!
//! Parsing is jiff's (its "friendly" and ISO 8601 formats); this module only adapts it to
//! `std::time::Duration` and serde.

use std::time::Duration;

use jiff::SignedDuration;
use serde::{Deserialize, Deserializer, Serializer};

/// Parses `"30s"`, `"1h 30m"`, `"500ms"`, `"PT1M"` or a bare number of seconds (`"90"`, `"1.5"`).
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration; write e.g. \"30s\", \"5m\" or \"1h 30m\"".into());
    }
    let signed = if let Ok(secs) = text.parse::<f64>() {
        SignedDuration::try_from_secs_f64(secs).map_err(|e| e.to_string())?
    } else {
        text.parse::<SignedDuration>().map_err(|_| {
            format!("{text:?} is not a duration; write e.g. \"30s\", \"5m\" or \"1h 30m\"")
        })?
    };
    Duration::try_from(signed).map_err(|_| "a duration cannot be negative".to_string())
}

/// Formats a duration the way [`parse`] reads it back: `"30s"`, `"1h 30m"`, `"250ms"`.
pub(crate) fn format(d: Duration) -> String {
    let mut out = String::with_capacity(12);
    let _ = format_into(&mut out, d);
    out
}

/// [`format`], written to `out`.
fn format_into(out: &mut impl std::fmt::Write, d: Duration) -> std::fmt::Result {
    if d.subsec_nanos() == 0 {
        // Whole seconds (nearly every option value): the same text as jiff's friendly
        // printer gives, without it (every task listed in the API formats several).
        let secs = d.as_secs();
        let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
        let mut first = true;
        for (n, unit) in [(h, 'h'), (m, 'm'), (s, 's')] {
            if n > 0 {
                if !first {
                    out.write_char(' ')?;
                }
                first = false;
                write!(out, "{n}{unit}")?;
            }
        }
        if first {
            out.write_str("0s")?;
        }
        return Ok(());
    }
    match SignedDuration::try_from(d) {
        Ok(s) => write!(out, "{s:#}"),
        Err(_) => write!(out, "{}s", d.as_secs()),
    }
}

pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = super::text::StackStr::<64>::new();
    match format_into(&mut buf, *d) {
        Ok(()) => s.serialize_str(buf.as_str()),
        Err(_) => s.serialize_str(&format(*d)),
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Text<'a> {
    Seconds(f64),
    #[serde(borrow)]
    Str(std::borrow::Cow<'a, str>),
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    match Text::deserialize(d)? {
        Text::Seconds(secs) => Duration::try_from_secs_f64(secs).map_err(|_| {
            serde::de::Error::custom("a duration must be a non-negative number of seconds")
        }),
        Text::Str(s) => parse(&s).map_err(serde::de::Error::custom),
    }
}

/// The same for `Option<Duration>` (absent or `null` is `None`).
pub(crate) mod option {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&super::format(*d)),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(deserialize_with = "super::deserialize")] Duration);
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_seconds_format_like_jiff() {
        let jiff_text = |d: Duration| format!("{:#}", SignedDuration::try_from(d).unwrap());
        for secs in (0..200_000u64).step_by(7).chain([
            0, 1, 59, 60, 61, 3599, 3600, 3601, 86_400, 90_061, 31_536_000,
        ]) {
            let d = Duration::from_secs(secs);
            assert_eq!(format(d), jiff_text(d), "{secs}s");
            assert_eq!(parse(&format(d)).unwrap(), d, "{secs}s round trip");
        }
    }

    #[test]
    fn parse_table() {
        let cases: &[(&str, Option<Duration>)] = &[
            ("30s", Some(Duration::from_secs(30))),
            ("1h 30m", Some(Duration::from_secs(5400))),
            ("500ms", Some(Duration::from_millis(500))),
            ("PT2M", Some(Duration::from_secs(120))),
            ("90", Some(Duration::from_secs(90))),
            ("1.5", Some(Duration::from_millis(1500))),
            ("", None),
            ("-5s", None),
            ("soon", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text).ok(), *want, "parsing {text:?}");
        }
    }

    #[test]
    fn format_round_trips() {
        for d in [
            Duration::from_secs(30),
            Duration::from_millis(250),
            Duration::from_secs(5400),
        ] {
            assert_eq!(parse(&format(d)).unwrap(), d, "{}", format(d));
        }
        assert_eq!(format(Duration::from_secs(30)), "30s");
    }
}
