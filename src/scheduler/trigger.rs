//! When a task fires: every N, on a cron schedule in a time zone, or once at a date.
//!
//! [`TriggerSpec`] is the plain, serializable description a user or the dashboard writes;
//! [`Trigger`] is its checked, compiled form that computes fire times. Date math is jiff's,
//! cron matching croner's, so DST gaps and repeats follow croner's documented rules:
//! a fixed-time job whose time falls in a gap runs at the first valid time after it, and
//! runs once (on the first occurrence) when the time repeats.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, LazyLock, Mutex, OnceLock, Weak};
use std::time::Duration;

use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::clock;
use super::duration;
use super::error::TriggerError;

/// The kind of a trigger, for filtering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    /// Every fixed duration.
    Interval,
    /// A cron expression.
    Cron,
    /// Once, at a date.
    Date,
}

impl TriggerKind {
    /// The lower-case name used in URLs and JSON (`interval`, `cron`, `date`).
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::Interval => "interval",
            TriggerKind::Cron => "cron",
            TriggerKind::Date => "date",
        }
    }
}

impl FromStr for TriggerKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "interval" => Ok(TriggerKind::Interval),
            "cron" => Ok(TriggerKind::Cron),
            "date" => Ok(TriggerKind::Date),
            _ => Err(format!(
                "unknown trigger kind {s:?}; expected interval, cron or date"
            )),
        }
    }
}

/// A trigger as written: serializable, not yet checked.
///
/// JSON forms: `{"kind":"interval","every":"30s"}`,
/// `{"kind":"cron","expr":"0 30 3 * * *","timezone":"Europe/Berlin"}`,
/// `{"kind":"date","at":"2030-01-01T00:00:00Z"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TriggerSpec {
    /// Every `every`, starting at `start` (or one interval after the task is added), until `end`.
    Interval {
        /// The period.
        #[serde(with = "duration")]
        every: Duration,
        /// First fire time; by default one period after the task is added.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start: Option<Timestamp>,
        /// No fire after this time.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        end: Option<Timestamp>,
    },
    /// A cron expression of 5 fields, or 6 with seconds first; `L`, `W`, `#` and `@daily`-style
    /// aliases are accepted.
    Cron {
        /// The expression.
        expr: String,
        /// IANA zone; the scheduler's zone when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timezone: Option<String>,
    },
    /// Once, at `at`.
    Date {
        /// When.
        at: Timestamp,
    },
}

impl TriggerSpec {
    /// The kind of this trigger.
    pub fn kind(&self) -> TriggerKind {
        match self {
            TriggerSpec::Interval { .. } => TriggerKind::Interval,
            TriggerSpec::Cron { .. } => TriggerKind::Cron,
            TriggerSpec::Date { .. } => TriggerKind::Date,
        }
    }
}

/// A checked trigger that computes fire times.
///
/// ```
/// use taskdeck::store::Trigger;
/// use taskdeck::TriggerSpec;
/// let spec = TriggerSpec::Cron { expr: "0 30 3 * * *".into(), timezone: Some("Europe/Berlin".into()) };
/// let trigger = Trigger::new(&spec, &jiff::tz::TimeZone::UTC).unwrap();
/// let from: jiff::Timestamp = "2026-03-28T12:00:00Z".parse().unwrap();
/// let next = trigger.next_after(from, from).unwrap();
/// assert_eq!(next.to_string(), "2026-03-29T01:30:00Z"); // 03:30 CEST
/// ```
///
/// Cheap to clone (one shared allocation): every listed task carries its trigger.
#[derive(Clone, Debug)]
pub struct Trigger(Arc<Checked>);

#[derive(Debug)]
struct Checked {
    spec: TriggerSpec,
    compiled: Compiled,
    /// [`Trigger::describe`]'s text, written the first time it is asked for (an idle task
    /// that is never listed does not pay for it).
    text: OnceLock<Box<str>>,
}

#[derive(Clone, Debug)]
enum Compiled {
    Interval {
        every: Duration,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
    },
    /// Parsed patterns are large (several KiB) and slow to parse (about 10 µs), so equal
    /// expressions share one parsed pattern through [`CronCache`].
    Cron {
        pattern: Arc<CronPattern>,
        tz: TimeZone,
    },
    Date {
        at: Timestamp,
    },
}

/// A parsed cron pattern and its description.
#[derive(Debug)]
pub(crate) struct CronPattern {
    cron: Cron,
    text: String,
}

/// Interns parsed cron patterns by expression. Holds them weakly: a pattern lives as long as a
/// trigger uses it. Dead entries are swept when the map has doubled since the last sweep.
#[derive(Default)]
struct CronCache {
    map: HashMap<Box<str>, Weak<CronPattern>>,
    sweep_at: usize,
}

static CRON_CACHE: LazyLock<Mutex<CronCache>> = LazyLock::new(Mutex::default);

pub(crate) fn cron_pattern(expr: &str) -> Result<Arc<CronPattern>, TriggerError> {
    let key = expr.trim();
    let mut cache = CRON_CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = cache.map.get(key).and_then(Weak::upgrade) {
        return Ok(p);
    }
    let cron = parse_cron(key)?;
    let text = cron.describe();
    let pattern = Arc::new(CronPattern { cron, text });
    cache.map.insert(key.into(), Arc::downgrade(&pattern));
    if cache.map.len() > cache.sweep_at {
        cache.map.retain(|_, w| w.strong_count() > 0);
        cache.sweep_at = (cache.map.len() * 2).max(64);
    }
    Ok(pattern)
}

/// Parses a cron expression of 5 or 6 fields (seconds optional) with croner. A refusal says
/// which field is wrong and what it takes, where that can be told.
pub(crate) fn parse_cron(expr: &str) -> Result<Cron, TriggerError> {
    CronParser::builder()
        .seconds(Seconds::Optional)
        // A year field would make a pattern that fires once look like one that never does
        // (see `never_fires_probe`), and is not what "5 or 6 fields" promises.
        .year(Year::Disallowed)
        .build()
        .parse(expr.trim())
        .map_err(|e| TriggerError::InvalidCron {
            expr: expr.to_string(),
            reason: cron_refusal(expr.trim()).unwrap_or_else(|| {
                format!(
                    "{e}; write 5 fields ({FIELDS_5}) or 6 with seconds first, e.g. \"0 30 3 * * *\""
                )
            }),
        })
}

const FIELDS_5: &str = "minute hour day-of-month month day-of-week";

/// Each field of a cron expression: its name and the numbers it takes.
const CRON_FIELDS: [(&str, u32, u32); 6] = [
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
];

/// What is wrong with a cron expression croner refused, when it is the number of fields or a
/// number out of its field's range; `None` when it is something else.
fn cron_refusal(expr: &str) -> Option<String> {
    if expr.starts_with('@') {
        return None;
    }
    let parts: Vec<&str> = expr.split_whitespace().collect();
    let fields = match parts.len() {
        5 => &CRON_FIELDS[1..],
        6 => &CRON_FIELDS[..],
        n => {
            return Some(format!(
                "it has {n} field{}; write 5 ({FIELDS_5}) or 6 with seconds first, e.g. \"0 30 3 * * *\"",
                if n == 1 { "" } else { "s" }
            ))
        }
    };
    for (i, (text, &(name, lo, hi))) in parts.iter().zip(fields).enumerate() {
        for item in text.split(',') {
            let (range, step) = match item.split_once('/') {
                Some((r, s)) => (r, Some(s)),
                None => (item, None),
            };
            if let Some(step) = step.and_then(|s| s.parse::<u32>().ok()) {
                if step == 0 {
                    return Some(format!(
                        "the {name} field ({} of {}) is {text:?}: a step of 0 never advances; use /1 or more",
                        ordinal(i + 1),
                        parts.len()
                    ));
                }
            }
            for bound in range.split('-') {
                let Ok(n) = bound.parse::<u32>() else {
                    continue;
                };
                if n < lo || n > hi {
                    return Some(format!(
                        "the {name} field ({} of {}) is {text:?}: {n} is outside {lo}-{hi}",
                        ordinal(i + 1),
                        parts.len()
                    ));
                }
            }
        }
    }
    None
}

fn ordinal(n: usize) -> &'static str {
    [
        "the 1st", "the 2nd", "the 3rd", "the 4th", "the 5th", "the 6th",
    ]
    .get(n - 1)
    .copied()
    .unwrap_or("one")
}

/// Looks up an IANA zone in the bundled database.
pub(crate) fn parse_zone(name: &str) -> Result<TimeZone, TriggerError> {
    jiff::tz::db()
        .get(name.trim())
        .map_err(|_| TriggerError::UnknownTimezone {
            zone: name.to_string(),
        })
}

/// Where the search for a pattern's first fire starts when checking it fires at all: 410
/// years before croner's last year (5000), a whole Gregorian cycle and a margin.
fn never_fires_probe(tz: &TimeZone) -> jiff::Zoned {
    jiff::civil::date(4590, 1, 1)
        .at(0, 0, 0, 0)
        .to_zoned(tz.clone())
        .unwrap_or_else(|_| Timestamp::UNIX_EPOCH.to_zoned(tz.clone()))
}

fn next_cron(cron: &Cron, tz: &TimeZone, after: Timestamp) -> Option<Timestamp> {
    let zoned = after.to_zoned(tz.clone());
    cron.find_next_occurrence(&zoned, false)
        .ok()
        .map(|z| z.timestamp())
}

/// What the timeline needs to know of a trigger's shape.
pub(crate) enum Shape {
    /// Every `every` from the anchor or start, until `end`.
    Interval {
        every: Duration,
        end: Option<Timestamp>,
    },
    /// Fires that depend on the expression and zone alone: equal keys, equal fires.
    Cron((usize, String)),
    Date,
}

impl Trigger {
    /// Its shape, for counting fires over a window.
    pub(crate) fn shape(&self) -> Shape {
        match &self.0.compiled {
            Compiled::Interval { every, end, .. } => Shape::Interval {
                every: *every,
                end: *end,
            },
            Compiled::Cron { pattern, tz } => Shape::Cron((
                Arc::as_ptr(pattern) as usize,
                tz.iana_name().unwrap_or("").to_string(),
            )),
            Compiled::Date { .. } => Shape::Date,
        }
    }

    /// Checks `spec`, using `default_tz` for cron triggers without a zone.
    ///
    /// Does not reject dates in the past: that depends on when the task is added, see
    /// [`Trigger::check_future`].
    pub fn new(spec: &TriggerSpec, default_tz: &TimeZone) -> Result<Trigger, TriggerError> {
        let compiled = match spec {
            TriggerSpec::Interval { every, start, end } => {
                if *every < Duration::from_millis(1) {
                    return Err(TriggerError::ZeroInterval);
                }
                if let (Some(s), Some(e)) = (start, end) {
                    if e <= s {
                        return Err(TriggerError::EndBeforeStart);
                    }
                }
                Compiled::Interval {
                    every: *every,
                    start: *start,
                    end: *end,
                }
            }
            TriggerSpec::Cron { expr, timezone } => {
                let pattern = cron_pattern(expr)?;
                let cron = &pattern.cron;
                let tz = match timezone {
                    Some(name) => parse_zone(name)?,
                    None => default_tz.clone(),
                };
                // A pattern like "0 0 30 2 *" parses but has no occurrence; croner searches
                // up to the year 5000 and then gives up. The Gregorian calendar repeats every
                // 400 years, weekdays included (146,097 days, a whole number of weeks), so a
                // pattern that fires at all fires in any 400 years: searching from 4590 tells
                // the same as from 1970 at a seventh of the cost (a pattern that never fires
                // took 80 to 140 ms from 1970).
                let probe = never_fires_probe(&tz);
                if cron.find_next_occurrence(&probe, false).is_err() {
                    return Err(TriggerError::CronNeverFires { expr: expr.clone() });
                }
                Compiled::Cron {
                    pattern: pattern.clone(),
                    tz,
                }
            }
            TriggerSpec::Date { at } => Compiled::Date { at: *at },
        };
        Ok(Trigger(Arc::new(Checked {
            spec: spec.clone(),
            compiled,
            text: OnceLock::new(),
        })))
    }

    /// Rejects a one-off date that is not after `now`, and an interval whose end has passed.
    pub fn check_future(&self, now: Timestamp) -> Result<(), TriggerError> {
        match &self.0.compiled {
            Compiled::Date { at } if *at <= now => Err(TriggerError::DateInPast { at: *at }),
            Compiled::Interval { end: Some(end), .. } if *end <= now => {
                Err(TriggerError::DateInPast { at: *end })
            }
            _ => Ok(()),
        }
    }

    /// The spec this trigger was made from.
    pub fn spec(&self) -> &TriggerSpec {
        &self.0.spec
    }

    /// The kind of this trigger.
    pub fn kind(&self) -> TriggerKind {
        self.0.spec.kind()
    }

    /// The first fire time strictly after `after`, or `None` when the trigger is exhausted.
    ///
    /// `anchor` is when the task's current schedule began (added, or trigger changed): an
    /// interval without a start fires at `anchor + k·every` for k ≥ 1.
    pub fn next_after(&self, after: Timestamp, anchor: Timestamp) -> Option<Timestamp> {
        match &self.0.compiled {
            Compiled::Interval { every, start, end } => {
                let origin = start.unwrap_or(anchor);
                let next = if after < origin {
                    if start.is_some() {
                        origin
                    } else {
                        clock::add(origin, *every)
                    }
                } else {
                    let elapsed = clock::duration_between(origin, after).as_nanos();
                    let period = every.as_nanos();
                    let k = elapsed / period + 1;
                    let offset = period.checked_mul(k)?;
                    let offset = Duration::new(
                        u64::try_from(offset / 1_000_000_000).ok()?,
                        (offset % 1_000_000_000) as u32,
                    );
                    clock::add(origin, offset)
                };
                match end {
                    Some(end) if next > *end => None,
                    _ => Some(next),
                }
            }
            Compiled::Cron { pattern, tz } => next_cron(&pattern.cron, tz, after),
            Compiled::Date { at } => (*at > after).then_some(*at),
        }
    }

    /// Up to `n` fire times strictly after `after`.
    pub fn preview(&self, after: Timestamp, anchor: Timestamp, n: usize) -> Vec<Timestamp> {
        let mut out = Vec::with_capacity(n.min(64));
        let mut t = after;
        while out.len() < n {
            match self.next_after(t, anchor) {
                Some(next) => {
                    out.push(next);
                    t = next;
                }
                None => break,
            }
        }
        out
    }

    /// A sentence for people: "every 30s", "At 03:30:00 (Europe/Berlin)", "once at …".
    pub fn describe(&self) -> String {
        self.text().to_string()
    }

    /// [`Trigger::describe`]'s text, borrowed.
    pub fn text(&self) -> &str {
        self.0
            .text
            .get_or_init(|| describe(&self.0.compiled).into_boxed_str())
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

/// The sentence [`Trigger::describe`] gives.
fn describe(compiled: &Compiled) -> String {
    match compiled {
        Compiled::Interval { every, start, end } => {
            let mut s = format!("every {}", duration::format(*every));
            if let Some(at) = start {
                s.push_str(" from ");
                s.push_str(&at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string());
            }
            if let Some(at) = end {
                s.push_str(" until ");
                s.push_str(&at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string());
            }
            s
        }
        Compiled::Cron { pattern, tz } => {
            let text = pattern.text.trim_end_matches('.');
            let name = tz.iana_name().unwrap_or("UTC");
            format!("{text} ({name})")
        }
        Compiled::Date { at } => format!("once at {}", at.strftime("%Y-%m-%d %H:%M:%S UTC")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cron_refusals_name_the_field_and_its_range() {
        let reason = |expr: &str| match super::parse_cron(expr) {
            Err(crate::TriggerError::InvalidCron { reason, .. }) => reason,
            other => panic!("{expr:?} was not refused as invalid: {other:?}"),
        };
        assert_eq!(
            reason("61 * * * *"),
            "the minute field (the 1st of 5) is \"61\": 61 is outside 0-59"
        );
        assert_eq!(
            reason("0 0 25 * * *"),
            "the hour field (the 3rd of 6) is \"25\": 25 is outside 0-23"
        );
        assert_eq!(
            reason("0 0 1-32 * *"),
            "the day-of-month field (the 3rd of 5) is \"1-32\": 32 is outside 1-31"
        );
        assert_eq!(
            reason("0 0 * 13 *"),
            "the month field (the 4th of 5) is \"13\": 13 is outside 1-12"
        );
        assert_eq!(
            reason("*/0 * * * *"),
            "the minute field (the 1st of 5) is \"*/0\": a step of 0 never advances; use /1 or more"
        );
        let few = reason("* * *");
        assert!(
            few.starts_with("it has 3 fields; write 5 (minute hour"),
            "{few}"
        );
        let many = reason("* * * * * * * *");
        assert!(many.starts_with("it has 8 fields"), "{many}");
        // Something else: croner's reason, with what the fields are.
        let other = reason("0 0 * * FOO");
        assert!(
            other.contains("write 5 fields (minute hour day-of-month month day-of-week)"),
            "{other}"
        );
    }

    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn cron(expr: &str, zone: &str) -> Trigger {
        Trigger::new(
            &TriggerSpec::Cron {
                expr: expr.into(),
                timezone: Some(zone.into()),
            },
            &TimeZone::UTC,
        )
        .unwrap()
    }

    struct CronCase {
        what: &'static str,
        expr: &'static str,
        zone: &'static str,
        after: &'static str,
        want: &'static [&'static str],
    }

    impl CronCase {
        fn run(&self) {
            let t = cron(self.expr, self.zone);
            let got: Vec<String> = t
                .preview(ts(self.after), ts(self.after), self.want.len())
                .iter()
                .map(|t| t.to_string())
                .collect();
            assert_eq!(got, self.want, "{}", self.what);
        }
    }

    #[test]
    fn cron_table() {
        let cases = [
            CronCase {
                what: "daily 03:30 Berlin across the spring-forward night (CET → CEST)",
                expr: "0 30 3 * * *",
                zone: "Europe/Berlin",
                after: "2026-03-28T00:00:00Z",
                want: &["2026-03-28T02:30:00Z", "2026-03-29T01:30:00Z"],
            },
            CronCase {
                what: "02:30 Berlin falls in the spring gap: runs right after the gap, 03:00 CEST",
                expr: "30 2 * * *",
                zone: "Europe/Berlin",
                after: "2026-03-28T12:00:00Z",
                want: &["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"],
            },
            CronCase {
                what: "02:30 Berlin repeats in the autumn: runs once, on the first pass",
                expr: "30 2 * * *",
                zone: "Europe/Berlin",
                after: "2026-10-24T12:00:00Z",
                want: &["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"],
            },
            CronCase {
                what: "5 fields means minute granularity",
                expr: "*/15 * * * *",
                zone: "UTC",
                after: "2026-01-01T00:07:00Z",
                want: &["2026-01-01T00:15:00Z", "2026-01-01T00:30:00Z"],
            },
            CronCase {
                what: "last day of month, through February of a leap year",
                expr: "0 0 L * *",
                zone: "UTC",
                after: "2028-01-15T00:00:00Z",
                want: &[
                    "2028-01-31T00:00:00Z",
                    "2028-02-29T00:00:00Z",
                    "2028-03-31T00:00:00Z",
                ],
            },
            CronCase {
                what: "the 29th of February only in leap years",
                expr: "0 0 29 2 *",
                zone: "UTC",
                after: "2026-01-01T00:00:00Z",
                want: &["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"],
            },
            CronCase {
                what: "the 31st skips short months",
                expr: "0 12 31 * *",
                zone: "UTC",
                after: "2026-04-01T00:00:00Z",
                want: &["2026-05-31T12:00:00Z", "2026-07-31T12:00:00Z"],
            },
            CronCase {
                what: "New York across its DST change",
                expr: "0 9 * * *",
                zone: "America/New_York",
                after: "2026-03-07T00:00:00Z",
                want: &["2026-03-07T14:00:00Z", "2026-03-08T13:00:00Z"],
            },
        ];
        for case in &cases {
            case.run();
        }
    }

    #[test]
    fn cron_rejects_bad_input() {
        let cases: &[(&str, Option<&str>)] = &[
            ("not cron", None),
            ("* * *", None),
            ("61 * * * *", None),
            ("0 0 30 2 *", None),
            ("0 * * * *", Some("Mars/Olympus")),
        ];
        for (expr, zone) in cases {
            let spec = TriggerSpec::Cron {
                expr: expr.to_string(),
                timezone: zone.map(String::from),
            };
            let err = Trigger::new(&spec, &TimeZone::UTC).unwrap_err();
            assert!(!err.to_string().is_empty(), "{expr}");
        }
    }

    #[test]
    fn interval_without_start_counts_from_anchor() {
        let t = Trigger::new(
            &TriggerSpec::Interval {
                every: Duration::from_secs(30),
                start: None,
                end: None,
            },
            &TimeZone::UTC,
        )
        .unwrap();
        let anchor = ts("2026-01-01T00:00:00Z");
        assert_eq!(
            t.next_after(anchor, anchor),
            Some(ts("2026-01-01T00:00:30Z"))
        );
        assert_eq!(
            t.next_after(ts("2026-01-01T00:00:30Z"), anchor),
            Some(ts("2026-01-01T00:01:00Z"))
        );
        assert_eq!(
            t.next_after(ts("2026-01-01T00:00:45.5Z"), anchor),
            Some(ts("2026-01-01T00:01:00Z"))
        );
        assert_eq!(t.describe(), "every 30s");
    }

    #[test]
    fn interval_with_start_and_end() {
        let t = Trigger::new(
            &TriggerSpec::Interval {
                every: Duration::from_secs(60),
                start: Some(ts("2026-01-01T10:00:00Z")),
                end: Some(ts("2026-01-01T10:02:00Z")),
            },
            &TimeZone::UTC,
        )
        .unwrap();
        let anchor = ts("2026-01-01T00:00:00Z");
        let got = t.preview(anchor, anchor, 10);
        assert_eq!(
            got,
            vec![
                ts("2026-01-01T10:00:00Z"),
                ts("2026-01-01T10:01:00Z"),
                ts("2026-01-01T10:02:00Z")
            ]
        );
    }

    #[test]
    fn interval_rejects_zero_and_reversed_range() {
        let zero = TriggerSpec::Interval {
            every: Duration::ZERO,
            start: None,
            end: None,
        };
        assert_eq!(
            Trigger::new(&zero, &TimeZone::UTC).unwrap_err(),
            TriggerError::ZeroInterval
        );
        let reversed = TriggerSpec::Interval {
            every: Duration::from_secs(1),
            start: Some(ts("2026-01-02T00:00:00Z")),
            end: Some(ts("2026-01-01T00:00:00Z")),
        };
        assert_eq!(
            Trigger::new(&reversed, &TimeZone::UTC).unwrap_err(),
            TriggerError::EndBeforeStart
        );
    }

    #[test]
    fn date_fires_once_and_rejects_past() {
        let at = ts("2026-06-01T12:00:00Z");
        let t = Trigger::new(&TriggerSpec::Date { at }, &TimeZone::UTC).unwrap();
        let before = ts("2026-06-01T11:00:00Z");
        assert_eq!(t.preview(before, before, 5), vec![at]);
        assert_eq!(t.next_after(at, before), None);
        assert!(t.check_future(before).is_ok());
        assert_eq!(
            t.check_future(at).unwrap_err(),
            TriggerError::DateInPast { at }
        );
        assert_eq!(t.describe(), "once at 2026-06-01 12:00:00 UTC");
    }

    #[test]
    fn spec_json_round_trip() {
        let cases = [
            r#"{"kind":"interval","every":"30s"}"#,
            r#"{"kind":"cron","expr":"0 30 3 * * *","timezone":"Europe/Berlin"}"#,
            r#"{"kind":"date","at":"2030-01-01T00:00:00Z"}"#,
        ];
        for json in cases {
            let spec: TriggerSpec = serde_json::from_str(json).unwrap();
            assert_eq!(serde_json::to_string(&spec).unwrap(), json);
        }
        let bad = r#"{"kind":"interval","every":"soon"}"#;
        let err = serde_json::from_str::<TriggerSpec>(bad).unwrap_err();
        assert!(err.to_string().contains("not a duration"), "{err}");
    }

    #[test]
    fn cron_description_names_zone() {
        let t = cron("0 30 3 * * *", "Europe/Berlin");
        let text = t.describe();
        assert!(text.ends_with("(Europe/Berlin)"), "{text}");
        assert!(text.contains("03:30"), "{text}");
    }
}
