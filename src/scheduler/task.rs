//! A task binds a registered job to a trigger, JSON args and run options.

use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::duration;
use super::error::{Error, TriggerError};
use super::trigger::{cron_pattern, parse_zone, TriggerSpec};

/// Longest accepted task id, in bytes.
pub const MAX_ID_LEN: usize = 128;
/// Largest accepted `args`, serialized, in bytes.
pub const MAX_ARGS_BYTES: usize = 64 * 1024;

/// How a task runs. Every field has a documented default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskOptions {
    /// Most runs of this task at once; a fire beyond it is recorded as skipped. Default 1.
    pub max_instances: u32,
    /// When several fires were missed (scheduler paused, process stopped), run once instead of
    /// once per missed fire. Default `true`.
    pub coalesce: bool,
    /// A fire that starts later than this after its scheduled time is recorded as missed
    /// instead of run. Default 60 s.
    #[serde(with = "duration")]
    pub misfire_grace: Duration,
    /// Each run starts after a random delay in `0..=jitter`, to spread load. Default 0.
    #[serde(with = "duration")]
    pub jitter: Duration,
    /// A run still going after this is cancelled and recorded as timed out. Default none.
    #[serde(with = "duration::option", skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Failed, panicked or timed-out runs are retried this many times. Default 0.
    pub retries: u32,
    /// Wait before the first retry; doubles for each further retry. Default 1 s.
    #[serde(with = "duration")]
    pub retry_backoff: Duration,
    /// Upper bound of the doubling backoff. Default 5 min.
    #[serde(with = "duration")]
    pub retry_backoff_max: Duration,
    /// A run going longer than this raises a `running_long` alert, whatever the job usually
    /// takes. Default none (the job's usual duration decides; see
    /// [`crate::AlertSettings`]).
    #[serde(with = "duration::option", skip_serializing_if = "Option::is_none")]
    pub expect_within: Option<Duration>,
    /// No run succeeding for this long (since the last success, or since the task was
    /// added) raises a `no_success` alert: a dead man's switch. Default none.
    #[serde(with = "duration::option", skip_serializing_if = "Option::is_none")]
    pub no_success_within: Option<Duration>,
}

impl Default for TaskOptions {
    fn default() -> Self {
        TaskOptions {
            max_instances: 1,
            coalesce: true,
            misfire_grace: Duration::from_secs(60),
            jitter: Duration::ZERO,
            timeout: None,
            retries: 0,
            retry_backoff: Duration::from_secs(1),
            retry_backoff_max: Duration::from_secs(300),
            expect_within: None,
            no_success_within: None,
        }
    }
}

impl TaskOptions {
    /// The wait before retry number `retry` (1 for the first retry).
    pub fn backoff_for(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.retry_backoff
            .saturating_mul(factor)
            .min(self.retry_backoff_max)
    }
}

/// A task: which job to run, when, with which arguments and options.
///
/// This one type is what you pass to [`crate::Scheduler::add`], what the dashboard's create
/// and edit forms produce, and what the JSON API accepts.
///
/// ```
/// use std::time::Duration;
/// use taskdeck::Task;
///
/// let task = Task::new("nightly-report", "send_report")
///     .cron("0 30 3 * * *")?
///     .args(serde_json::json!({"to": "ops"}))
///     .retries(3)
///     .timeout(Duration::from_secs(600));
/// assert_eq!(task.name, "nightly-report");
/// # Ok::<(), taskdeck::TriggerError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    /// Unique id: letters, digits, `-`, `_`, `.`, `:`; at most 128 bytes; not `new` or `bulk`
    /// (dashboard URLs).
    #[serde(default)]
    pub id: String,
    /// Display name; the id when not set.
    #[serde(default)]
    pub name: String,
    /// Name of a job registered in code.
    pub job: String,
    /// When it fires.
    pub trigger: TriggerSpec,
    /// JSON handed to the job as [`crate::TaskContext::args`]. Default `null`.
    #[serde(default)]
    pub args: Value,
    /// Run options.
    #[serde(default)]
    pub options: TaskOptions,
    /// Added paused: it does not fire until resumed.
    #[serde(default)]
    pub paused: bool,
}

impl Task {
    /// A task with id `id` running job `job`, firing every minute until you set a trigger.
    pub fn new(id: impl Into<String>, job: impl Into<String>) -> Task {
        let id = id.into();
        Task {
            name: id.clone(),
            id,
            job: job.into(),
            trigger: TriggerSpec::Interval {
                every: Duration::from_secs(60),
                start: None,
                end: None,
            },
            args: Value::Null,
            options: TaskOptions::default(),
            paused: false,
        }
    }

    /// Sets the display name.
    pub fn name(mut self, name: impl Into<String>) -> Task {
        self.name = name.into();
        self
    }

    /// Fires every `every`, first one period after the task is added.
    pub fn every(mut self, every: Duration) -> Task {
        self.trigger = TriggerSpec::Interval {
            every,
            start: None,
            end: None,
        };
        self
    }

    /// Fires every `every` from `start` (inclusive) until `end` (inclusive), if given.
    pub fn every_between(
        mut self,
        every: Duration,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
    ) -> Task {
        self.trigger = TriggerSpec::Interval { every, start, end };
        self
    }

    /// Fires on a cron schedule (5 fields, or 6 with seconds) in the scheduler's zone.
    /// The syntax is checked here.
    pub fn cron(mut self, expr: &str) -> Result<Task, TriggerError> {
        cron_pattern(expr)?;
        self.trigger = TriggerSpec::Cron {
            expr: expr.to_string(),
            timezone: None,
        };
        Ok(self)
    }

    /// Fires on a cron schedule in the IANA zone `zone`. Syntax and zone are checked here.
    pub fn cron_in(mut self, expr: &str, zone: &str) -> Result<Task, TriggerError> {
        cron_pattern(expr)?;
        parse_zone(zone)?;
        self.trigger = TriggerSpec::Cron {
            expr: expr.to_string(),
            timezone: Some(zone.to_string()),
        };
        Ok(self)
    }

    /// Fires once at `at`.
    pub fn at(mut self, at: Timestamp) -> Task {
        self.trigger = TriggerSpec::Date { at };
        self
    }

    /// Sets the JSON arguments.
    pub fn args(mut self, args: Value) -> Task {
        self.args = args;
        self
    }

    /// Replaces all options.
    pub fn options(mut self, options: TaskOptions) -> Task {
        self.options = options;
        self
    }

    /// Most runs at once (default 1).
    pub fn max_instances(mut self, n: u32) -> Task {
        self.options.max_instances = n;
        self
    }

    /// Run once for several missed fires (default true).
    pub fn coalesce(mut self, yes: bool) -> Task {
        self.options.coalesce = yes;
        self
    }

    /// Grace period for late fires (default 60 s): a fire that starts later than this is
    /// recorded as missed. The grace is extended by the timer slack
    /// ([`crate::SchedulerBuilder::timer_slack`], 3 ms by default), whatever made the fire
    /// late.
    pub fn misfire_grace(mut self, grace: Duration) -> Task {
        self.options.misfire_grace = grace;
        self
    }

    /// Random start delay up to `jitter` (default 0).
    pub fn jitter(mut self, jitter: Duration) -> Task {
        self.options.jitter = jitter;
        self
    }

    /// Cancel a run after `timeout` (default none).
    pub fn timeout(mut self, timeout: Duration) -> Task {
        self.options.timeout = Some(timeout);
        self
    }

    /// Raise a `running_long` alert when a run takes longer than `within` (default: only
    /// when it takes far longer than the job usually does).
    pub fn expect_within(mut self, within: Duration) -> Task {
        self.options.expect_within = Some(within);
        self
    }

    /// Raise a `no_success` alert when no run has succeeded for `within` (since the last
    /// success, or since the task was added): a dead man's switch for work that must happen.
    pub fn alert_if_no_success_within(mut self, within: Duration) -> Task {
        self.options.no_success_within = Some(within);
        self
    }

    /// Retry a failed run `n` times (default 0).
    pub fn retries(mut self, n: u32) -> Task {
        self.options.retries = n;
        self
    }

    /// First retry delay, doubled per retry (default 1 s).
    pub fn retry_backoff(mut self, backoff: Duration) -> Task {
        self.options.retry_backoff = backoff;
        self
    }

    /// Add the task paused.
    pub fn paused(mut self, paused: bool) -> Task {
        self.paused = paused;
        self
    }

    /// Checks the fields that do not depend on the scheduler (id, name, args size, options),
    /// filling in a missing name.
    pub(crate) fn normalize(&mut self) -> Result<(), Error> {
        check_id(&self.id)?;
        if self.name.trim().is_empty() {
            self.name = self.id.clone();
        }
        if self.name.len() > 200 {
            return Err(invalid("name", "must be at most 200 bytes"));
        }
        if self.job.is_empty() {
            return Err(invalid("job", "is required"));
        }
        check_args(&self.args)?;
        let o = &self.options;
        if o.max_instances == 0 {
            return Err(invalid("options.max_instances", "must be at least 1"));
        }
        if o.timeout == Some(Duration::ZERO) {
            return Err(invalid(
                "options.timeout",
                "must be above zero; leave it out for no timeout",
            ));
        }
        for (field, d) in [
            ("options.expect_within", o.expect_within),
            ("options.no_success_within", o.no_success_within),
        ] {
            match d {
                Some(d) if d < Duration::from_secs(1) => {
                    return Err(invalid(
                        field,
                        "must be at least 1 s; leave it out for none",
                    ))
                }
                Some(d) if d > Duration::from_secs(366 * 86_400) => {
                    return Err(invalid(field, "must be at most 366 days"))
                }
                _ => {}
            }
        }
        if o.retries > 100 {
            return Err(invalid("options.retries", "must be at most 100"));
        }
        Ok(())
    }
}

/// Args are bounded where they are kept (a task's, a run's): at most [`MAX_ARGS_BYTES`].
pub(crate) fn check_args(args: &serde_json::Value) -> Result<(), Error> {
    let args_len = serde_json::to_vec(args).map(|v| v.len()).unwrap_or(0);
    if args_len > MAX_ARGS_BYTES {
        return Err(invalid(
            "args",
            format!("is {args_len} bytes serialized; the limit is {MAX_ARGS_BYTES}"),
        ));
    }
    Ok(())
}

fn invalid(field: &'static str, message: impl Into<String>) -> Error {
    Error::InvalidTask {
        field,
        message: message.into(),
    }
}

/// Ids appear in URLs and logs: keep them to a safe alphabet.
pub(crate) fn check_id(id: &str) -> Result<(), Error> {
    if id.is_empty() {
        return Err(invalid("id", "is required"));
    }
    if id.len() > MAX_ID_LEN {
        return Err(invalid("id", format!("must be at most {MAX_ID_LEN} bytes")));
    }
    if matches!(id, "new" | "bulk") {
        return Err(invalid(
            "id",
            format!("{id:?} is reserved (a dashboard URL); choose another id"),
        ));
    }
    // `.` and `..` as a path segment are resolved away by browsers and proxies: a link to
    // task `..` would lead to another page.
    if id.bytes().all(|b| b == b'.') {
        return Err(invalid(
            "id",
            "may not be made only of dots (it would read as a relative path in URLs)",
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
    {
        return Err(invalid(
            "id",
            format!("may contain only letters, digits, '-', '_', '.' and ':' (found {c:?})"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        let cases: &[(&str, bool)] = &[
            ("nightly-report", true),
            ("a.b:c_d-1", true),
            ("", false),
            (".", false),
            ("..", false),
            ("...", false),
            (".hidden", true),
            ("a..b", true),
            ("has space", false),
            ("slash/y", false),
            ("ünï", false),
            ("<script>", false),
            ("new", false),
            ("bulk", false),
        ];
        for (id, ok) in cases {
            assert_eq!(check_id(id).is_ok(), *ok, "{id:?}");
        }
        assert!(check_id(&"x".repeat(129)).is_err());
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let o = TaskOptions {
            retry_backoff: Duration::from_secs(1),
            retry_backoff_max: Duration::from_secs(5),
            ..TaskOptions::default()
        };
        let got: Vec<u64> = (1..=5).map(|r| o.backoff_for(r).as_secs()).collect();
        assert_eq!(got, [1, 2, 4, 5, 5]);
        assert_eq!(o.backoff_for(1000), Duration::from_secs(5));
    }

    #[test]
    fn json_defaults_and_unknown_fields() {
        let t: Task = serde_json::from_str(
            r#"{"id":"x","job":"j","trigger":{"kind":"interval","every":"5m"}}"#,
        )
        .unwrap();
        assert_eq!(t.options, TaskOptions::default());
        assert_eq!(t.args, Value::Null);
        let err = serde_json::from_str::<Task>(
            r#"{"id":"x","job":"j","trigger":{"kind":"interval","every":"5m"},"bogus":1}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
    }

    #[test]
    fn normalize_rejects_bad_options() {
        let mut t = Task::new("x", "j").max_instances(0);
        assert!(matches!(
            t.normalize(),
            Err(Error::InvalidTask {
                field: "options.max_instances",
                ..
            })
        ));
        let mut t = Task::new("x", "j").args(Value::String("a".repeat(MAX_ARGS_BYTES)));
        assert!(matches!(
            t.normalize(),
            Err(Error::InvalidTask { field: "args", .. })
        ));
        let mut t = Task::new("x", "j").name("");
        t.normalize().unwrap();
        assert_eq!(t.name, "x");
    }
}
