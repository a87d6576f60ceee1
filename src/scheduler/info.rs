//! [`TaskInfo`]: a task as a dashboard or API client sees it.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::model::{LastRun, TaskState};
use super::store::TaskRecord;
use super::task::Task;
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
