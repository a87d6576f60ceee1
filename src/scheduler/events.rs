//! Change notifications: a broadcast that a slow subscriber cannot block.
//!
//! Each subscriber has its own bounded queue in a ring shared by all. A subscriber that falls
//! more than the ring's capacity behind loses the oldest events and is told how many with
//! [`Recv::Lagged`]; the scheduler never waits for anyone.

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::history::{LogLine, Progress, RunId, RunRecord, RunStatus};

/// Something that changed in the scheduler.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// A task was added.
    TaskAdded {
        /// Its id.
        task_id: String,
    },
    /// A task's trigger, args or options changed.
    TaskUpdated {
        /// Its id.
        task_id: String,
    },
    /// A task was removed.
    TaskRemoved {
        /// Its id.
        task_id: String,
    },
    /// A task was paused.
    TaskPaused {
        /// Its id.
        task_id: String,
    },
    /// A task was resumed.
    TaskResumed {
        /// Its id.
        task_id: String,
    },
    /// A run began.
    RunStarted {
        /// The run.
        run_id: RunId,
        /// Its task.
        task_id: String,
        /// Attempt number, 1 for the first.
        attempt: u32,
    },
    /// A run ended (or was recorded as missed or skipped).
    RunFinished {
        /// The run.
        run_id: RunId,
        /// Its task.
        task_id: String,
        /// How it ended.
        status: RunStatus,
        /// How long it ran, when it ran.
        duration_ms: Option<u64>,
    },
    /// A running run logged lines (published about four times a second while it logs:
    /// [`crate::LIVE_EVERY`]). Told to other replicas without its lines, which they read
    /// from the store.
    RunLog {
        /// The run.
        run_id: RunId,
        /// Its task.
        task_id: String,
        /// The lines new since the last such event (the newest kept, if more came).
        lines: Vec<LogLine>,
        /// How many lines the run has kept so far, these included: the first of `lines` is
        /// line `seq - lines.len()`.
        seq: u64,
        /// Lines not kept so far (over the bounds).
        dropped: u32,
    },
    /// A running run told how far it got ([`crate::TaskContext::progress`]).
    RunProgress {
        /// The run.
        run_id: RunId,
        /// Its task.
        task_id: String,
        /// Its job.
        job: String,
        /// How far.
        progress: Progress,
    },
    /// Someone asked a running run to stop ([`crate::Scheduler::cancel_run`]): the process
    /// running it signals the job and aborts it after its grace period.
    RunCancelRequested {
        /// The run.
        run_id: RunId,
        /// Its task.
        task_id: String,
        /// Who asked.
        by: String,
    },
    /// Someone asked for a retry of a run whose job this process does not have: a process that
    /// has it starts the retry (once: a run is retried at most once).
    RetryRequested {
        /// The run to retry.
        run_id: RunId,
        /// Its task.
        task_id: String,
    },
    /// An alert was raised (by whichever process found it first: once across replicas).
    AlertRaised {
        /// What about.
        kind: super::AlertKind,
        /// Its task.
        task_id: String,
        /// The run it concerns, if one.
        run_id: Option<RunId>,
        /// What happened.
        message: String,
    },
    /// An open alert's condition ended.
    AlertResolved {
        /// What it was about.
        kind: super::AlertKind,
        /// Its task.
        task_id: String,
    },
    /// The whole scheduler was paused: nothing fires until resumed.
    SchedulerPaused,
    /// The whole scheduler was resumed.
    SchedulerResumed,
    /// The scheduler began shutting down.
    ShuttingDown,
}

impl Event {
    /// The news that run `rec` ended.
    pub(crate) fn finished(rec: &RunRecord) -> Event {
        Event::RunFinished {
            run_id: rec.id,
            task_id: rec.task_id.clone(),
            status: rec.status,
            duration_ms: rec.duration_ms(),
        }
    }

    /// The event's type name, as in its JSON `type` field (`task_added`, `run_finished`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Event::TaskAdded { .. } => "task_added",
            Event::TaskUpdated { .. } => "task_updated",
            Event::TaskRemoved { .. } => "task_removed",
            Event::TaskPaused { .. } => "task_paused",
            Event::TaskResumed { .. } => "task_resumed",
            Event::RunStarted { .. } => "run_started",
            Event::RunFinished { .. } => "run_finished",
            Event::RunLog { .. } => "run_log",
            Event::RunProgress { .. } => "run_progress",
            Event::RunCancelRequested { .. } => "run_cancel_requested",
            Event::RetryRequested { .. } => "retry_requested",
            Event::AlertRaised { .. } => "alert_raised",
            Event::AlertResolved { .. } => "alert_resolved",
            Event::SchedulerPaused => "scheduler_paused",
            Event::SchedulerResumed => "scheduler_resumed",
            Event::ShuttingDown => "shutting_down",
        }
    }

    /// The task this event is about, if any.
    pub fn task_id(&self) -> Option<&str> {
        match self {
            Event::TaskAdded { task_id }
            | Event::TaskUpdated { task_id }
            | Event::TaskRemoved { task_id }
            | Event::TaskPaused { task_id }
            | Event::TaskResumed { task_id }
            | Event::RunStarted { task_id, .. }
            | Event::RunFinished { task_id, .. }
            | Event::RunLog { task_id, .. }
            | Event::RunProgress { task_id, .. }
            | Event::RunCancelRequested { task_id, .. }
            | Event::RetryRequested { task_id, .. }
            | Event::AlertRaised { task_id, .. }
            | Event::AlertResolved { task_id, .. } => Some(task_id),
            Event::SchedulerPaused | Event::SchedulerResumed | Event::ShuttingDown => None,
        }
    }
}

/// What [`EventStream::recv`] yields.
#[derive(Clone, Debug, PartialEq)]
pub enum Recv {
    /// The next event.
    Event(Event),
    /// This many events were lost because the subscriber fell behind; the stream continues
    /// with the oldest event still held.
    Lagged(u64),
    /// The scheduler is gone; no more events will come.
    Closed,
}

/// A subscription to [`Event`]s, from [`crate::Scheduler::subscribe`].
#[derive(Debug)]
pub struct EventStream {
    rx: broadcast::Receiver<Event>,
}

impl EventStream {
    /// A stream over a tokio broadcast receiver, for backends that publish their own events.
    pub fn new(rx: broadcast::Receiver<Event>) -> Self {
        EventStream { rx }
    }

    /// A stream that is already closed, for backends without events.
    pub fn closed() -> Self {
        let (_, rx) = broadcast::channel(1);
        EventStream { rx }
    }

    /// Waits for the next event.
    pub async fn recv(&mut self) -> Recv {
        match self.rx.recv().await {
            Ok(e) => Recv::Event(e),
            Err(broadcast::error::RecvError::Lagged(n)) => Recv::Lagged(n),
            Err(broadcast::error::RecvError::Closed) => Recv::Closed,
        }
    }

    /// The next event if one is waiting, without blocking.
    pub fn try_recv(&mut self) -> Option<Recv> {
        match self.rx.try_recv() {
            Ok(e) => Some(Recv::Event(e)),
            Err(broadcast::error::TryRecvError::Lagged(n)) => Some(Recv::Lagged(n)),
            Err(broadcast::error::TryRecvError::Closed) => Some(Recv::Closed),
            Err(broadcast::error::TryRecvError::Empty) => None,
        }
    }
}

/// The sending side, owned by the scheduler.
#[derive(Debug)]
pub(crate) struct EventBus {
    tx: broadcast::Sender<Event>,
    /// Bumped by every event that changes what will fire (a task added, changed, removed,
    /// paused or resumed, here or on another replica), and when such events may have been
    /// missed: what was worked out from the schedule at another generation is stale.
    schedule: std::sync::atomic::AtomicU64,
    /// The latest changes to the schedule: (generation, the task changed, or `None` when
    /// anything may have), at most [`CHANGES_KEPT`], so that what was worked out from the
    /// schedule can be brought up to date task by task.
    changes: std::sync::Mutex<std::collections::VecDeque<(u64, Option<String>)>>,
}

/// Changes to the schedule kept for [`EventBus::changes_since`].
const CHANGES_KEPT: usize = 1024;

impl EventBus {
    pub(crate) fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        EventBus {
            tx,
            schedule: std::sync::atomic::AtomicU64::new(0),
            changes: Default::default(),
        }
    }

    pub(crate) fn send(&self, e: Event) {
        match &e {
            Event::TaskAdded { task_id }
            | Event::TaskUpdated { task_id }
            | Event::TaskRemoved { task_id }
            | Event::TaskPaused { task_id }
            | Event::TaskResumed { task_id } => self.changed(Some(task_id.clone())),
            _ => {}
        }
        // No subscribers is fine: nobody is watching.
        let _ = self.tx.send(e);
    }

    /// The schedule may have changed (notices were missed).
    pub(crate) fn schedule_changed(&self) {
        self.changed(None);
    }

    /// Task `id` changed, as another process's notice says (heard where no relay runs).
    pub(crate) fn task_changed(&self, id: &str) {
        self.changed(Some(id.to_string()));
    }

    fn changed(&self, task: Option<String>) {
        let mut changes = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        let generation = self
            .schedule
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel)
            + 1;
        changes.push_back((generation, task));
        if changes.len() > CHANGES_KEPT {
            changes.pop_front();
        }
    }

    /// The tasks changed since generation `since`, and the generation that brings one up to:
    /// `None` when that is not known task by task (too many changes, or some may have been
    /// missed).
    pub(crate) fn changes_since(&self, since: u64) -> Option<(Vec<String>, u64)> {
        let changes = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.schedule();
        if now == since {
            return Some((Vec::new(), now));
        }
        // Every generation after `since` must still be in the log.
        if changes.front().is_none_or(|(g, _)| *g > since + 1) {
            return None;
        }
        let mut ids: Vec<String> = Vec::new();
        for (_, task) in changes.iter().filter(|(g, _)| *g > since) {
            ids.push(task.clone()?);
        }
        ids.sort_unstable();
        ids.dedup();
        Some((ids, now))
    }

    /// The schedule's generation.
    pub(crate) fn schedule(&self) -> u64 {
        self.schedule.load(std::sync::atomic::Ordering::Acquire)
    }

    pub(crate) fn subscribe(&self) -> EventStream {
        EventStream::new(self.tx.subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_to_the_schedule_are_told_task_by_task_while_they_are_known() {
        let bus = EventBus::new(4);
        assert_eq!(bus.changes_since(0), Some((vec![], 0)));
        bus.send(Event::TaskAdded {
            task_id: "b".into(),
        });
        bus.send(Event::SchedulerPaused);
        bus.send(Event::TaskPaused {
            task_id: "a".into(),
        });
        bus.send(Event::TaskResumed {
            task_id: "b".into(),
        });
        assert_eq!(
            bus.schedule(),
            3,
            "the scheduler's pause is not a task's change"
        );
        assert_eq!(
            bus.changes_since(0),
            Some((vec!["a".into(), "b".into()], 3))
        );
        assert_eq!(bus.changes_since(2), Some((vec!["b".into()], 3)));
        // Missed notices: anything may have changed.
        bus.schedule_changed();
        assert_eq!(bus.changes_since(3), None);
        assert_eq!(bus.changes_since(4), Some((vec![], 4)));
        // Past what the log keeps: not known task by task.
        for i in 0..CHANGES_KEPT + 1 {
            bus.send(Event::TaskUpdated {
                task_id: format!("t{i}"),
            });
        }
        assert_eq!(bus.changes_since(4), None);
    }

    #[tokio::test]
    async fn slow_subscriber_learns_it_lagged_and_does_not_block_sender() {
        let bus = EventBus::new(4);
        let mut slow = bus.subscribe();
        for i in 0..10 {
            bus.send(Event::TaskAdded {
                task_id: format!("t{i}"),
            });
        }
        assert_eq!(slow.recv().await, Recv::Lagged(6));
        assert_eq!(
            slow.recv().await,
            Recv::Event(Event::TaskAdded {
                task_id: "t6".into()
            })
        );
    }

    #[test]
    fn event_json_shape() {
        let e = Event::RunFinished {
            run_id: 7,
            task_id: "a".into(),
            status: RunStatus::Failed,
            duration_ms: Some(12),
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"type":"run_finished","run_id":7,"task_id":"a","status":"failed","duration_ms":12}"#
        );
        assert_eq!(e.kind(), "run_finished");
    }
}
