//! "Run now with…": the task's args in a JSON field, to start one run with other ones.

use maud::{html, Markup};

use super::components::Esc;
use super::View;

/// The form: `args` as given (the task's own, pretty-printed, at first), and the error that
/// sent it back, if any.
pub(crate) fn run_with(
    v: &View<'_>,
    id: &str,
    name: &str,
    job: &str,
    args: &str,
    error: Option<&str>,
) -> Markup {
    let u = v.urls;
    html! {
        @if error.is_some() { div.flash.flash-err role="alert" { "Please fix the args below." } }
        form.card.task-form method="post" action=(u.task(id, "/run-with")) novalidate {
            (v.csrf_field())
            h2 { "Run " (name) " now with other args" }
            p.muted {
                "Starts one run of job " span.mono { (job) } " with these args instead of the task's own. "
                "The task keeps its args; the run shows the ones it had, and a retry of it uses them again."
            }
            div.field.has-error[error.is_some()] {
                label for="args" { "Args (JSON)" }
                textarea id="args" name="args" rows="12" spellcheck="false"
                    aria-invalid=[error.map(|_| "true")] aria-describedby="args-hint" { (args) }
                @if let Some(e) = error { p.field-error id="args-hint" { (e) } }
                @else { p.hint id="args-hint" { "Handed to the job as ctx.args(); empty means null" } }
                @if args.contains(crate::policy::MASK) { p.hint.hidden-note { span.badge.b-hidden { "hidden" } " Values shown as " (crate::policy::MASK) " are secrets: this run gets the task's own there unless you type another." } }
            }
            div.actions {
                button.btn.btn-primary type="submit" { "Start the run" }
                " "
                a.btn href=(Esc(u.task(id, ""))) { "Cancel" }
            }
        }
    }
}
