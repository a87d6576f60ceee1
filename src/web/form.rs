//! The task form as posted: its fields read from a form body (the model is
//! [`crate::views::task_form`]).

use super::request::Params;
use crate::views::task_form::TaskForm;

impl TaskForm {
    /// The form as posted.
    pub(crate) fn from_params(p: &Params) -> TaskForm {
        let s = |k: &str| p.get(k).unwrap_or("").to_string();
        TaskForm {
            id: s("id"),
            name: s("name"),
            job: s("job"),
            kind: s("kind"),
            every: s("every"),
            start: s("start"),
            end: s("end"),
            expr: s("expr"),
            timezone: s("timezone"),
            at: s("at"),
            args: p.raw("args").to_string(),
            max_instances: s("max_instances"),
            coalesce: p.flag("coalesce"),
            misfire_grace: s("misfire_grace"),
            jitter: s("jitter"),
            timeout: s("timeout"),
            retries: s("retries"),
            retry_backoff: s("retry_backoff"),
            expect_within: s("expect_within"),
            no_success_within: s("no_success_within"),
            paused: p.flag("paused"),
            copy_of: s("copy_of"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use jiff::tz::TimeZone;

    use crate::scheduler::{Task, TriggerSpec};

    fn form(pairs: &str) -> TaskForm {
        TaskForm::from_params(&Params::parse(pairs.as_bytes()))
    }

    #[test]
    fn valid_forms_become_tasks() {
        let t = form("id=a&job=j&kind=interval&every=30s&args=%7B%22x%22%3A1%7D&coalesce=on")
            .to_task(&TimeZone::UTC)
            .unwrap();
        assert_eq!(
            t.trigger,
            TriggerSpec::Interval {
                every: Duration::from_secs(30),
                start: None,
                end: None
            }
        );
        assert_eq!(t.args["x"], 1);
        assert!(t.options.coalesce);
        let berlin = jiff::tz::db().get("Europe/Berlin").unwrap();
        let t = form("id=a&job=j&kind=date&at=2030-01-31T09%3A30")
            .to_task(&berlin)
            .unwrap();
        assert_eq!(
            t.trigger,
            TriggerSpec::Date {
                at: "2030-01-31T08:30:00Z".parse().unwrap()
            }
        );
    }

    #[test]
    fn every_bad_field_is_reported() {
        let errs = form("kind=interval&every=soon&args=%7Bnope&max_instances=x&timeout=-1s")
            .to_task(&TimeZone::UTC)
            .unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|(f, _)| *f).collect();
        for want in ["every", "args", "max_instances", "timeout", "id", "job"] {
            assert!(fields.contains(&want), "{want} missing from {fields:?}");
        }
        let errs = form("id=a&job=j&kind=weekly")
            .to_task(&TimeZone::UTC)
            .unwrap_err();
        assert_eq!(errs[0].0, "kind");
    }

    #[test]
    fn edit_form_round_trips() {
        let t = Task::new("x", "j")
            .cron_in("0 3 * * *", "Europe/Berlin")
            .unwrap()
            .timeout(Duration::from_secs(90));
        let back = TaskForm::from_task(&t).to_task(&TimeZone::UTC).unwrap();
        assert_eq!(back.trigger, t.trigger);
        assert_eq!(back.options, t.options);
    }
}
