//! [`TaskInfo`]: a task as a dashboard or API client sees it.

use std::fmt;
use std::io::Write as _;
use std::ops::Deref;
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::model::{LastRun, TaskState};
use super::store::TaskRecord;
use super::task::{Task, TaskOptions};
use super::trigger::{Trigger, TriggerKind};

/// A task with its state, as listed and shown. Plain data, serializable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// The definition, shared with the store (listing does not copy it).
    pub task: Arc<Task>,
    /// Where it stands.
    pub state: TaskState,
    /// Kind of trigger.
    pub trigger_kind: TriggerKind,
    /// The trigger in words.
    pub trigger_text: TriggerText,
    /// Next fire, if any.
    #[serde(serialize_with = "super::text::opt_timestamp")]
    pub next_fire: Option<Timestamp>,
    /// Latest finished run.
    pub last_run: Option<LastRun>,
    /// Runs going now.
    pub running: u32,
    /// When it was added.
    #[serde(serialize_with = "super::text::timestamp")]
    pub created_at: Timestamp,
    /// When it last changed.
    #[serde(serialize_with = "super::text::timestamp")]
    pub updated_at: Timestamp,
    /// False when this process has no job of that name registered (it is skipped here).
    pub job_registered: bool,
}

impl TaskInfo {
    pub(crate) fn new(rec: TaskRecord, job_registered: bool) -> TaskInfo {
        TaskInfo {
            state: rec.state(),
            trigger_kind: rec.trigger.kind(),
            trigger_text: TriggerText(Text::Trigger(rec.trigger)),
            next_fire: rec.next_fire,
            last_run: rec.last_run,
            running: rec.running,
            created_at: rec.created_at,
            updated_at: rec.updated_at,
            task: rec.task,
            job_registered,
        }
    }
}

/// A trigger in words ([`Trigger::describe`]), as [`TaskInfo::trigger_text`] carries it: a
/// string to read, compare, print and serialize, which shares the listed trigger's text
/// instead of copying it into every listed task.
#[derive(Clone)]
pub struct TriggerText(Text);

#[derive(Clone)]
enum Text {
    Trigger(Trigger),
    Owned(Box<str>),
}

impl TriggerText {
    /// The text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Text::Trigger(t) => t.text(),
            Text::Owned(s) => s,
        }
    }
}

impl Deref for TriggerText {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for TriggerText {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl From<String> for TriggerText {
    fn from(s: String) -> TriggerText {
        TriggerText(Text::Owned(s.into_boxed_str()))
    }
}

impl From<&str> for TriggerText {
    fn from(s: &str) -> TriggerText {
        TriggerText(Text::Owned(s.into()))
    }
}

impl fmt::Display for TriggerText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for TriggerText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq for TriggerText {
    fn eq(&self, other: &TriggerText) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for TriggerText {}

impl PartialEq<str> for TriggerText {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for TriggerText {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for TriggerText {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl Serialize for TriggerText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TriggerText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<TriggerText, D::Error> {
        String::deserialize(d).map(TriggerText::from)
    }
}

// The hand-written JSON of a listing (see `TaskInfo::write_json`).

impl TaskInfo {
    /// Appends this listing as JSON, byte for byte what `serde_json` writes for it (a test
    /// compares them), without serde's per-field machinery: the JSON API's hottest answer.
    ///
    /// Every struct is taken apart without `..`, so a new field does not compile until it is
    /// written here too.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        let TaskInfo {
            task,
            state,
            trigger_kind,
            trigger_text,
            next_fire,
            last_run,
            running,
            created_at,
            updated_at,
            job_registered,
        } = self;
        let Task {
            id,
            name,
            job,
            trigger,
            args,
            options,
            paused,
        } = &**task;
        out.extend_from_slice(b"{\"task\":{\"id\":");
        string(out, id);
        out.extend_from_slice(b",\"name\":");
        string(out, name);
        out.extend_from_slice(b",\"job\":");
        string(out, job);
        out.extend_from_slice(b",\"trigger\":");
        // Small, and an enum with optional parts: serde writes it.
        let _ = serde_json::to_writer(&mut *out, trigger);
        out.extend_from_slice(b",\"args\":");
        let _ = serde_json::to_writer(&mut *out, args);
        out.extend_from_slice(b",\"options\":");
        write_options(out, options);
        out.extend_from_slice(b",\"paused\":");
        boolean(out, *paused);
        out.extend_from_slice(b"},\"state\":\"");
        out.extend_from_slice(state.as_str().as_bytes());
        out.extend_from_slice(b"\",\"trigger_kind\":\"");
        out.extend_from_slice(trigger_kind.as_str().as_bytes());
        out.extend_from_slice(b"\",\"trigger_text\":");
        string(out, trigger_text);
        out.extend_from_slice(b",\"next_fire\":");
        opt_timestamp(out, *next_fire);
        out.extend_from_slice(b",\"last_run\":");
        match last_run {
            Some(l) => write_last_run(out, l),
            None => out.extend_from_slice(b"null"),
        }
        let _ = write!(out, ",\"running\":{running},\"created_at\":");
        timestamp(out, *created_at);
        out.extend_from_slice(b",\"updated_at\":");
        timestamp(out, *updated_at);
        out.extend_from_slice(b",\"job_registered\":");
        boolean(out, *job_registered);
        out.push(b'}');
    }
}

fn write_options(out: &mut Vec<u8>, o: &TaskOptions) {
    let TaskOptions {
        max_instances,
        coalesce,
        misfire_grace,
        jitter,
        timeout,
        retries,
        retry_backoff,
        retry_backoff_max,
    } = o;
    let _ = write!(out, "{{\"max_instances\":{max_instances},\"coalesce\":");
    boolean(out, *coalesce);
    out.extend_from_slice(b",\"misfire_grace\":");
    duration(out, *misfire_grace);
    out.extend_from_slice(b",\"jitter\":");
    duration(out, *jitter);
    if let Some(t) = timeout {
        out.extend_from_slice(b",\"timeout\":");
        duration(out, *t);
    }
    let _ = write!(out, ",\"retries\":{retries},\"retry_backoff\":");
    duration(out, *retry_backoff);
    out.extend_from_slice(b",\"retry_backoff_max\":");
    duration(out, *retry_backoff_max);
    out.push(b'}');
}

fn write_last_run(out: &mut Vec<u8>, l: &LastRun) {
    let LastRun {
        run_id,
        status,
        scheduled_at,
        finished_at,
        error,
    } = l;
    let _ = write!(out, "{{\"run_id\":{run_id},\"status\":\"");
    out.extend_from_slice(status.as_str().as_bytes());
    out.extend_from_slice(b"\",\"scheduled_at\":");
    timestamp(out, *scheduled_at);
    out.extend_from_slice(b",\"finished_at\":");
    opt_timestamp(out, *finished_at);
    out.extend_from_slice(b",\"error\":");
    match error {
        Some(e) => string(out, e),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
}

fn boolean(out: &mut Vec<u8>, b: bool) {
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

fn duration(out: &mut Vec<u8>, d: std::time::Duration) {
    out.push(b'"');
    out.extend_from_slice(super::duration::format(d).as_bytes());
    out.push(b'"');
}

fn timestamp(out: &mut Vec<u8>, t: Timestamp) {
    out.push(b'"');
    let _ = jiff::fmt::temporal::DateTimePrinter::new().print_timestamp(&t, &mut *out);
    out.push(b'"');
}

fn opt_timestamp(out: &mut Vec<u8>, t: Option<Timestamp>) {
    match t {
        Some(t) => timestamp(out, t),
        None => out.extend_from_slice(b"null"),
    }
}

/// A JSON string, escaped as `serde_json` escapes: `"`, `\` and control characters.
fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut last = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..0x20 => {
                out.extend_from_slice(&bytes[last..i]);
                let _ = write!(out, "\\u{b:04x}");
                last = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[last..i]);
        out.extend_from_slice(esc);
        last = i + 1;
    }
    out.extend_from_slice(&bytes[last..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_text_reads_compares_and_round_trips_like_a_string() {
        let trigger = Trigger::new(
            &super::super::TriggerSpec::Interval {
                every: std::time::Duration::from_secs(30),
                start: None,
                end: None,
            },
            &jiff::tz::TimeZone::UTC,
        )
        .unwrap();
        let shared = TriggerText(Text::Trigger(trigger));
        assert_eq!(shared, "every 30s");
        assert_eq!(shared.len(), 9);
        assert_eq!(
            format!("{shared} / {shared:?}"),
            "every 30s / \"every 30s\""
        );
        let json = serde_json::to_string(&shared).unwrap();
        assert_eq!(json, "\"every 30s\"");
        let back: TriggerText = serde_json::from_str(&json).unwrap();
        assert_eq!(back, shared);
        assert_ne!(TriggerText::from("every 31s"), shared);
    }
}
