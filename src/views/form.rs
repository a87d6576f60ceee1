//! The create / edit task form, with errors shown beside their fields.

use maud::{html, Markup};

use super::task_form::{FieldErrors, TaskForm};
use super::View;

/// The form body. `editing` is the task id when editing (the id is then fixed).
pub(crate) fn task_form(
    v: &View<'_>,
    f: &TaskForm,
    errors: &FieldErrors,
    jobs: &[String],
    editing: Option<&str>,
    preview: Option<&crate::seam::TriggerPreview>,
    load: Option<&super::timeline::Load>,
) -> Markup {
    let u = v.urls;
    let action = match editing {
        Some(id) => u.task(id, ""),
        None => u.at("/tasks"),
    };
    let err = |field: &str| {
        errors
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    };
    let field = |name: &'static str, label: &str, value: &str, hint: &str, kind: &str| {
        let e = err(name);
        html! {
            div.field.has-error[e.is_some()] {
                label for=(name) { (label) }
                input id=(name) name=(name) type=(kind) value=(value)
                    aria-invalid=[e.map(|_| "true")]
                    aria-describedby={(name) "-hint"};
                @if let Some(e) = e { p.field-error id={(name) "-hint"} { (e) } }
                @else if !hint.is_empty() { p.hint id={(name) "-hint"} { (hint) } }
            }
        }
    };
    html! {
        @if let Some(e) = err("form") { div.flash.flash-err role="alert" { (e) } }
        @if !errors.is_empty() { div.flash.flash-err role="alert" { "Please fix the fields marked below." } }
        form.card.task-form method="post" action=(action) novalidate {
            (v.csrf_field())
            fieldset {
                legend { "Task" }
                @if let Some(id) = editing {
                    div.field { label { "Id" } p.mono { (id) } input type="hidden" name="id" value=(id); }
                } @else {
                    (field("id", "Id", &f.id, "Letters, digits, - _ . : — used in URLs", "text"))
                    // A copy keeps the hidden values of the task it copies.
                    @if !f.copy_of.is_empty() { input type="hidden" name="copy_of" value=(f.copy_of); }
                }
                (field("name", "Name", &f.name, "Shown in lists; the id when empty", "text"))
                div.field.has-error[err("job").is_some()] {
                    label for="job" { "Job" }
                    select id="job" name="job" {
                        @if f.job.is_empty() { option value="" { "Pick a registered job…" } }
                        @for j in jobs { option value=(j) selected[f.job == *j] { (j) } }
                        @if !f.job.is_empty() && !jobs.contains(&f.job) { option value=(f.job) selected { (f.job) " (not registered)" } }
                    }
                    @if let Some(e) = err("job") { p.field-error { (e) } }
                }
            }
            fieldset {
                legend { "Trigger" }
                div.field.has-error[err("kind").is_some()] {
                    label for="kind" { "Kind" }
                    select id="kind" name="kind" data-trigger-kind {
                        option value="interval" selected[f.kind == "interval"] { "Interval" }
                        option value="cron" selected[f.kind == "cron"] { "Cron" }
                        option value="date" selected[f.kind == "date"] { "One-off date" }
                    }
                    @if let Some(e) = err("kind") { p.field-error { (e) } }
                }
                div.trigger-group data-kind="interval" {
                    (field("every", "Every", &f.every, "e.g. 30s, 5m, 1h 30m", "text"))
                    (field("start", "Start (optional)", &f.start, "First fire, e.g. 2030-01-31T09:30 (scheduler zone)", "text"))
                    (field("end", "End (optional)", &f.end, "No fire after this", "text"))
                }
                div.trigger-group data-kind="cron" {
                    (field("expr", "Cron expression", &f.expr, "5 fields, or 6 with seconds first: 0 30 3 * * *", "text"))
                    (field("timezone", "Time zone (optional)", &f.timezone, &format!("IANA name; default {}", v.status.timezone), "text"))
                }
                div.trigger-group data-kind="date" {
                    (field("at", "At", &f.at, "e.g. 2030-01-31T09:30 (scheduler zone) or 2030-01-31T08:30:00Z", "text"))
                }
                // The next fires: updated as you type (script), or by the Preview button.
                section.trigger-preview #trigger-preview aria-live="polite" aria-label="Next fires of this trigger"
                    data-preview=(u.href("/api/preview")) {
                    @if let Some(p) = preview {
                        p.muted { (p.text) }
                        @if p.fires.is_empty() {
                            p { "It will not fire again." }
                        } @else {
                            h3 { "Next " (p.fires.len()) " fires" }
                            ol.fires { @for (i, t) in p.fires.iter().enumerate() { li {
                                (super::components::Abs(v, *t))
                                @if let Some(l) = load { (super::timeline::load_note(l, i)) }
                            } } }
                            @if let Some(l) = load { (super::timeline::advice(v, l)) }
                        }
                    }
                }
                @if let Some(id) = editing { input type="hidden" name="editing" value=(id); }
                button.btn.preview-button type="submit" formaction=(u.href("/tasks/preview")) formnovalidate {
                    "Preview the next fires"
                }
            }
            fieldset {
                legend { "Arguments" }
                div.field.has-error[err("args").is_some()] {
                    label for="args" { "Args (JSON)" }
                    textarea id="args" name="args" rows="5" spellcheck="false" { (f.args) }
                    @if let Some(e) = err("args") { p.field-error { (e) } } @else { p.hint { "Handed to the job as ctx.args()" } }
                    @if f.args.contains(crate::policy::MASK) { p.hint.hidden-note { span.badge.b-hidden { "hidden" } " Values shown as " (crate::policy::MASK) " are secrets: leave them as they are to keep them, or type a new value." } }
                }
            }
            fieldset {
                legend { "Options" }
                div.row {
                    (field("max_instances", "Max instances", &f.max_instances, "Runs at once", "text"))
                    (field("retries", "Retries", &f.retries, "On failure", "text"))
                    (field("retry_backoff", "Retry backoff", &f.retry_backoff, "Doubles per retry", "text"))
                }
                div.row {
                    (field("timeout", "Timeout", &f.timeout, "Empty for none", "text"))
                    (field("misfire_grace", "Misfire grace", &f.misfire_grace, "Later fires are missed", "text"))
                    (field("jitter", "Jitter", &f.jitter, "Random start delay", "text"))
                }
                div.row {
                    (field("expect_within", "Alert if a run takes over", &f.expect_within, "Empty: far over its usual", "text"))
                    (field("no_success_within", "Alert if no success for", &f.no_success_within, "Empty for never", "text"))
                }
                div.checks {
                    label { input type="checkbox" name="coalesce" checked[f.coalesce]; " Coalesce missed fires into one run" }
                    @if editing.is_none() {
                        label { input type="checkbox" name="paused" checked[f.paused]; " Add paused" }
                    }
                }
            }
            div.form-actions {
                button.btn.btn-primary type="submit" { @if editing.is_some() { "Save changes" } @else { "Create task" } }
                a.btn href=(match editing { Some(id) => u.task(id, ""), None => u.at("/tasks") }) { "Cancel" }
            }
        }
    }
}
