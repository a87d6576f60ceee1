//! The create/edit task form's model: its raw fields (kept for re-display) and their
//! conversion to a [`Task`], with an error per field. The template is `views::form`; reading
//! the posted fields is `web::form`.

use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::scheduler::{Task, TaskOptions, TriggerSpec};

/// The form's fields as typed.
#[derive(Clone, Debug, Default)]
pub(crate) struct TaskForm {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) job: String,
    pub(crate) kind: String,
    pub(crate) every: String,
    pub(crate) start: String,
    pub(crate) end: String,
    pub(crate) expr: String,
    pub(crate) timezone: String,
    pub(crate) at: String,
    pub(crate) args: String,
    pub(crate) max_instances: String,
    pub(crate) coalesce: bool,
    pub(crate) misfire_grace: String,
    pub(crate) jitter: String,
    pub(crate) timeout: String,
    pub(crate) retries: String,
    pub(crate) retry_backoff: String,
    pub(crate) expect_within: String,
    pub(crate) no_success_within: String,
    pub(crate) paused: bool,
    /// The task this form copies ("Copy as new task"): its stored values fill the hidden ones.
    pub(crate) copy_of: String,
}

/// Errors by form field name.
pub(crate) type FieldErrors = Vec<(&'static str, String)>;

fn dur(d: Duration) -> String {
    crate::scheduler::format_duration(d)
}

impl TaskForm {
    /// A blank form with the documented defaults filled in.
    pub(crate) fn blank() -> TaskForm {
        let o = TaskOptions::default();
        TaskForm {
            kind: "interval".into(),
            every: "5m".into(),
            args: "{}".into(),
            ..Self::options(&o)
        }
    }

    fn options(o: &TaskOptions) -> TaskForm {
        TaskForm {
            max_instances: o.max_instances.to_string(),
            coalesce: o.coalesce,
            misfire_grace: dur(o.misfire_grace),
            jitter: if o.jitter.is_zero() {
                String::new()
            } else {
                dur(o.jitter)
            },
            timeout: o.timeout.map(dur).unwrap_or_default(),
            retries: o.retries.to_string(),
            retry_backoff: dur(o.retry_backoff),
            expect_within: o.expect_within.map(dur).unwrap_or_default(),
            no_success_within: o.no_success_within.map(dur).unwrap_or_default(),
            ..TaskForm::default()
        }
    }

    /// The form for editing `t`.
    pub(crate) fn from_task(t: &Task) -> TaskForm {
        let mut f = Self::options(&t.options);
        f.id = t.id.clone();
        f.name = t.name.clone();
        f.job = t.job.clone();
        f.args = serde_json::to_string_pretty(&t.args).unwrap_or_default();
        f.paused = t.paused;
        match &t.trigger {
            TriggerSpec::Interval { every, start, end } => {
                f.kind = "interval".into();
                f.every = dur(*every);
                f.start = start.map(|t| t.to_string()).unwrap_or_default();
                f.end = end.map(|t| t.to_string()).unwrap_or_default();
            }
            TriggerSpec::Cron { expr, timezone } => {
                f.kind = "cron".into();
                f.expr = expr.clone();
                f.timezone = timezone.clone().unwrap_or_default();
            }
            TriggerSpec::Date { at } => {
                f.kind = "date".into();
                f.at = at.to_string();
            }
        }
        f
    }

    /// The trigger the form's trigger fields describe, or their errors.
    pub(crate) fn trigger_spec(&self, tz: &TimeZone) -> Result<TriggerSpec, FieldErrors> {
        let mut errs: FieldErrors = Vec::new();
        let every = if self.every.trim().is_empty() {
            None
        } else {
            match crate::scheduler::parse_duration(&self.every) {
                Ok(d) => Some(d),
                Err(e) => {
                    errs.push(("every", e));
                    None
                }
            }
        };
        let mut time = |field: &'static str, text: &str| -> Option<Timestamp> {
            let text = text.trim();
            if text.is_empty() {
                return None;
            }
            match parse_time(text, tz) {
                Some(t) => Some(t),
                None => {
                    errs.push((
                        field,
                        format!("{text:?} is not a date and time; write e.g. 2030-01-31T09:30 or 2030-01-31T08:30:00Z"),
                    ));
                    None
                }
            }
        };
        let trigger = match self.kind.as_str() {
            "interval" => {
                let start = time("start", &self.start);
                let end = time("end", &self.end);
                match every {
                    Some(every) => Some(TriggerSpec::Interval { every, start, end }),
                    None => {
                        if self.every.trim().is_empty() {
                            errs.push(("every", "is required, e.g. 30s or 5m".into()));
                        }
                        None
                    }
                }
            }
            "cron" => {
                if self.expr.trim().is_empty() {
                    errs.push(("expr", "is required, e.g. 0 3 * * *".into()));
                    None
                } else {
                    let zone = self.timezone.trim();
                    Some(TriggerSpec::Cron {
                        expr: self.expr.trim().to_string(),
                        timezone: (!zone.is_empty()).then(|| zone.to_string()),
                    })
                }
            }
            "date" => match time("at", &self.at) {
                Some(at) => Some(TriggerSpec::Date { at }),
                None => {
                    if self.at.trim().is_empty() {
                        errs.push(("at", "is required".into()));
                    }
                    None
                }
            },
            other => {
                errs.push(("kind", format!("{other:?} is not interval, cron or date")));
                None
            }
        };
        match trigger {
            Some(t) if errs.is_empty() => Ok(t),
            _ => Err(errs),
        }
    }

    /// The task this form describes, or every field error at once. Local times without an
    /// offset (`2026-05-01T09:30`, as a browser's date-time input sends) are read in `tz`.
    pub(crate) fn to_task(&self, tz: &TimeZone) -> Result<Task, FieldErrors> {
        let mut errs: FieldErrors = Vec::new();
        let trigger = match self.trigger_spec(tz) {
            Ok(t) => Some(t),
            Err(e) => {
                errs.extend(e);
                None
            }
        };
        let mut duration = |field: &'static str, text: &str, default: Option<Duration>| {
            if text.trim().is_empty() {
                return default;
            }
            match crate::scheduler::parse_duration(text) {
                Ok(d) => Some(d),
                Err(e) => {
                    errs.push((field, e));
                    default
                }
            }
        };
        let defaults = TaskOptions::default();
        let misfire_grace = duration(
            "misfire_grace",
            &self.misfire_grace,
            Some(defaults.misfire_grace),
        );
        let jitter = duration("jitter", &self.jitter, Some(Duration::ZERO));
        let timeout = duration("timeout", &self.timeout, None);
        let retry_backoff = duration(
            "retry_backoff",
            &self.retry_backoff,
            Some(defaults.retry_backoff),
        );
        let expect_within = duration("expect_within", &self.expect_within, None);
        let no_success_within = duration("no_success_within", &self.no_success_within, None);
        let args = if self.args.trim().is_empty() {
            serde_json::Value::Null
        } else {
            match serde_json::from_str(&self.args) {
                Ok(v) => v,
                Err(e) => {
                    errs.push(("args", format!("not valid JSON: {e}")));
                    serde_json::Value::Null
                }
            }
        };
        let mut number = |field: &'static str, text: &str, default: u32| -> u32 {
            if text.trim().is_empty() {
                return default;
            }
            text.trim().parse().unwrap_or_else(|_| {
                errs.push((field, format!("{text:?} is not a whole number")));
                default
            })
        };
        let max_instances = number("max_instances", &self.max_instances, defaults.max_instances);
        let retries = number("retries", &self.retries, defaults.retries);
        if self.id.trim().is_empty() {
            errs.push(("id", "is required".into()));
        }
        if self.job.trim().is_empty() {
            errs.push(("job", "pick a job".into()));
        }
        match trigger {
            Some(trigger) if errs.is_empty() => Ok(Task {
                id: self.id.trim().to_string(),
                name: self.name.trim().to_string(),
                job: self.job.trim().to_string(),
                trigger,
                args,
                options: TaskOptions {
                    max_instances,
                    coalesce: self.coalesce,
                    misfire_grace: misfire_grace.unwrap_or(defaults.misfire_grace),
                    jitter: jitter.unwrap_or_default(),
                    timeout,
                    retries,
                    retry_backoff: retry_backoff.unwrap_or(defaults.retry_backoff),
                    retry_backoff_max: defaults.retry_backoff_max,
                    expect_within,
                    no_success_within,
                },
                paused: self.paused,
            }),
            _ => Err(errs),
        }
    }
}

/// RFC 3339 with offset, or a civil date-time read in `tz`.
pub(crate) fn parse_time(text: &str, tz: &TimeZone) -> Option<Timestamp> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Some(t);
    }
    let civil = text.parse::<jiff::civil::DateTime>().ok()?;
    civil.to_zoned(tz.clone()).ok().map(|z| z.timestamp())
}

/// The form field a backend error belongs to (`options.timeout` → `timeout`).
pub(crate) fn form_field(backend_field: &str, kind: &str) -> &'static str {
    let f = backend_field
        .strip_prefix("options.")
        .unwrap_or(backend_field);
    match f {
        "trigger" => match kind {
            "cron" => "expr",
            "date" => "at",
            _ => "every",
        },
        "id" => "id",
        "name" => "name",
        "job" => "job",
        "args" => "args",
        "max_instances" => "max_instances",
        "timeout" => "timeout",
        "retries" => "retries",
        _ => "form",
    }
}
