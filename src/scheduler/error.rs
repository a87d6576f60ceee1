//! Errors of the scheduler's operations. Each message says what to fix.

use std::fmt;

/// A trigger that cannot be used: bad cron syntax, unknown zone, zero interval, …
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TriggerError {
    /// The cron expression did not parse.
    InvalidCron {
        /// The expression as given.
        expr: String,
        /// What is wrong: the field and the range it takes, or the number of fields, or
        /// the parser's objection.
        reason: String,
    },
    /// The cron expression parses but never matches (for example the 31st of February).
    CronNeverFires {
        /// The expression as given.
        expr: String,
    },
    /// The time zone name is not in the IANA database.
    UnknownTimezone {
        /// The name as given.
        zone: String,
    },
    /// An interval of zero (or below one millisecond).
    ZeroInterval,
    /// An interval trigger whose end is not after its start.
    EndBeforeStart,
    /// A one-off date that has already passed.
    DateInPast {
        /// The date as given.
        at: jiff::Timestamp,
    },
    /// A duration or timestamp string that did not parse.
    InvalidValue {
        /// Which field.
        field: &'static str,
        /// The text as given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl fmt::Display for TriggerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TriggerError::InvalidCron { expr, reason } => {
                write!(f, "invalid cron expression {expr:?}: {reason}")
            }
            TriggerError::CronNeverFires { expr } => {
                write!(f, "cron expression {expr:?} never matches a real date")
            }
            TriggerError::UnknownTimezone { zone } => write!(
                f,
                "unknown time zone {zone:?}; use an IANA name such as \"Europe/Berlin\" or \"UTC\""
            ),
            TriggerError::ZeroInterval => {
                write!(f, "interval must be at least 1 millisecond")
            }
            TriggerError::EndBeforeStart => {
                write!(f, "interval end must be after its start")
            }
            TriggerError::DateInPast { at } => {
                write!(f, "one-off date {at} is in the past; pick a future time")
            }
            TriggerError::InvalidValue {
                field,
                value,
                reason,
            } => write!(f, "invalid {field} {value:?}: {reason}"),
        }
    }
}

debug_is_display!(TriggerError);

impl std::error::Error for TriggerError {}

/// Why an operation on the scheduler failed.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The task names a job that was never registered with [`crate::Scheduler::register`].
    UnknownJob {
        /// The job name as given.
        job: String,
    },
    /// A task with this id already exists.
    DuplicateTask {
        /// The id.
        id: String,
    },
    /// No task has this id.
    UnknownTask {
        /// The id.
        id: String,
    },
    /// No run has this id.
    UnknownRun {
        /// The id.
        id: u64,
    },
    /// A field of the task is not acceptable.
    InvalidTask {
        /// The field, as named in the task's JSON form.
        field: &'static str,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The trigger is not acceptable.
    Trigger(TriggerError),
    /// The scheduler was built with settings that cannot work.
    InvalidConfig {
        /// The setting.
        setting: &'static str,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// `start` was called outside a tokio runtime, or twice.
    Start(String),
    /// The scheduler is shutting down and takes no new work.
    ShuttingDown,
    /// The run is not in a state that allows this (cancelling a finished run, retrying a
    /// succeeded one).
    RunState {
        /// The run.
        id: u64,
        /// What state it is in and what would work.
        message: String,
    },
    /// The store failed (a database error, for a shared store).
    Store(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownJob { job } => write!(
                f,
                "unknown job {job:?}; register it in code with Scheduler::register before adding tasks that use it"
            ),
            Error::DuplicateTask { id } => {
                write!(f, "a task with id {id:?} already exists; choose another id or update it")
            }
            Error::UnknownTask { id } => write!(f, "no task with id {id:?}"),
            Error::UnknownRun { id } => write!(f, "no run with id {id}"),
            Error::InvalidTask { field, message } => write!(f, "invalid {field}: {message}"),
            Error::Trigger(e) => write!(f, "invalid trigger: {e}"),
            Error::InvalidConfig { setting, message } => {
                write!(f, "invalid scheduler setting {setting}: {message}")
            }
            Error::Start(why) => write!(f, "cannot start the scheduler: {why}"),
            Error::ShuttingDown => write!(f, "the scheduler is shutting down"),
            Error::RunState { message, .. } => f.write_str(message),
            Error::Store(why) => write!(f, "task store failed: {why}"),
        }
    }
}

debug_is_display!(Error);

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Trigger(e) => Some(e),
            _ => None,
        }
    }
}

impl From<TriggerError> for Error {
    fn from(e: TriggerError) -> Self {
        Error::Trigger(e)
    }
}

impl Error {
    /// True when the error names an id (task or run) that does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::UnknownTask { .. } | Error::UnknownRun { .. })
    }

    /// True when the request conflicts with the current state (duplicate id, shutting down).
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            Error::DuplicateTask { .. } | Error::ShuttingDown | Error::RunState { .. }
        )
    }

    /// True when the input was at fault: bad field, trigger or job name.
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            Error::UnknownJob { .. } | Error::InvalidTask { .. } | Error::Trigger(_)
        )
    }
}
