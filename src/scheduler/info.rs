//! [`TaskInfo`]: a task as a dashboard or API client sees it.

use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::store::{LastRun, TaskRecord, TaskState};
use super::task::Task;
use super::trigger::TriggerKind;

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
    pub trigger_text: String,
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
            trigger_text: rec.trigger.text().to_owned(),
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
