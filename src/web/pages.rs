//! HTML handlers: pages (GET) and actions (POST → 303 back, with a flash message).

use http::StatusCode;

use super::api::{run_query, task_query};
use super::context::{public_message, ArgsError, Ctx};
use super::request::{field_error, Params};
use super::response::Resp;
use crate::policy::ActionTarget;
use crate::scheduler::{Page, RunQuery, TaskQuery, TaskSort, TaskState};
use crate::seam::BulkAction;
use crate::views::task_form::{form_field, TaskForm};
use crate::views::{self, Nav};

pub(crate) async fn overview(cx: &Ctx<'_>) -> Resp {
    let b = &cx.shared.backend;
    let next_q = TaskQuery {
        state: Some(TaskState::Scheduled),
        sort: TaskSort::NextRun,
        per_page: 8,
        ..TaskQuery::default()
    };
    let fail_q = RunQuery {
        failures_only: true,
        per_page: 8,
        ..RunQuery::default()
    };
    let (mut stats, next, failures, alerts, open) = match (
        b.stats().await,
        b.list(&next_q).await,
        b.runs(&fail_q).await,
        b.alerts(None).await,
        b.alert_counts().await,
    ) {
        (Ok(s), Ok(n), Ok(f), Ok(a), Ok(c)) => (s, n, f, a, c.iter().map(|c| c.1).sum::<u64>()),
        (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), ..) | (.., Err(e), _) | (.., Err(e)) => {
            return cx.fail(&e)
        }
    };
    let view = cx.view();
    let charts = match overview_charts(cx, &view, &stats).await {
        Ok(c) => c,
        Err(e) => return cx.fail(&e),
    };
    // The "24 h" cards count what the 24-hour chart draws (its hours, the current one so far),
    // so that the two never disagree.
    if let Some((_, (runs, failed))) = &charts {
        stats.last_day.runs = *runs;
        stats.last_day.failures = *failed;
    }
    let charts = charts.map(|(html, _)| html);
    let body = views::overview::overview(
        &view,
        &stats,
        &next,
        &failures,
        (&alerts, open),
        charts.as_deref(),
    );
    cx.page(StatusCode::OK, "Overview", Nav::Overview, body)
}

/// The overview's charts: all three windows, or none when the backend keeps no counts over
/// time. Drawn again only when a run has finished or a minute has passed since the last
/// drawing; otherwise the kept drawing is shown.
async fn overview_charts(
    cx: &Ctx<'_>,
    view: &views::View<'_>,
    stats: &crate::scheduler::Stats,
) -> Result<Option<(std::sync::Arc<str>, (u64, u64))>, crate::seam::BackendError> {
    let key = (
        view.now.as_second().div_euclid(60),
        stats.runs_by_status.values().sum::<u64>() + stats.last_day.runs + stats.last_day.not_run,
    );
    {
        let kept = cx.shared.charts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((k, html, day)) = kept.as_ref() {
            if *k == key {
                return Ok(Some((html.clone(), *day)));
            }
        }
    }
    let mut series = Vec::new();
    for w in crate::scheduler::SeriesWindow::ALL {
        match cx.shared.backend.series(w, None, None).await {
            Ok(s) => series.push(s),
            Err(e) if e.is_unsupported() => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    let html: std::sync::Arc<str> = views::charts::overview_charts(view, &series).into();
    let day = series
        .iter()
        .find(|s| s.window == crate::scheduler::SeriesWindow::Day)
        .map_or((0, 0), |s| {
            s.points
                .iter()
                .fold((0, 0), |(r, f), p| (r + p.runs, f + p.failures))
        });
    *cx.shared.charts.lock().unwrap_or_else(|p| p.into_inner()) = Some((key, html.clone(), day));
    Ok(Some((html, day)))
}

pub(crate) async fn tasks(cx: &Ctx<'_>) -> Resp {
    let q = match task_query(&cx.query) {
        Ok(q) => q,
        Err(e) => return cx.bad(&e),
    };
    let page = match cx.shared.backend.list(&q).await {
        Ok(p) => p,
        Err(e) => return cx.fail(&e),
    };
    let jobs = jobs(cx).await;
    // Progress bars for the rows of running tasks, when some run.
    let progress = if page.items.iter().any(|t| t.running > 0) {
        cx.shared.backend.live_progress().await.unwrap_or_default()
    } else {
        Vec::new()
    };
    let view = cx.view();
    let body = views::tasks::tasks(
        &view,
        &q,
        &page,
        &jobs,
        cx.here(),
        Some(&cx.shared.fragments),
        &progress,
    );
    cx.page(StatusCode::OK, "Tasks", Nav::Tasks, body)
}

pub(crate) async fn task_new(cx: &Ctx<'_>) -> Resp {
    let mut form = TaskForm::blank();
    // "Copy as new task": the form filled from another task, under a new id and name.
    if let Some(from) = cx.query.get("copy") {
        match cx.shared.backend.get(from).await {
            Ok(d) => {
                let mut t = d.info.task;
                cx.shared.redaction.task(&mut t);
                form = TaskForm::from_task(&t);
                form.id = format!("{}-copy", t.id);
                form.name = format!("{} (copy)", t.name);
                // Hidden values are taken from the task copied when the form is saved.
                form.copy_of = t.id.clone();
            }
            Err(e) => return cx.fail(&e),
        }
    }
    if let Some(job) = cx.query.get("job") {
        form.job = job.to_string();
    }
    render_form(cx, StatusCode::OK, &form, &Vec::new(), None).await
}

pub(crate) async fn task_edit(cx: &Ctx<'_>, id: &str) -> Resp {
    match cx.shared.backend.get(id).await {
        Ok(d) => {
            let mut t = d.info.task;
            cx.shared.redaction.task(&mut t);
            render_form(
                cx,
                StatusCode::OK,
                &TaskForm::from_task(&t),
                &Vec::new(),
                Some(id),
            )
            .await
        }
        Err(e) => cx.fail(&e),
    }
}

/// The registered jobs, for filters and forms; none (logged) when the backend cannot say.
async fn jobs(cx: &Ctx<'_>) -> Vec<String> {
    cx.shared.backend.jobs().await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "the backend could not list its jobs");
        Vec::new()
    })
}

async fn render_form(
    cx: &Ctx<'_>,
    status: StatusCode,
    form: &TaskForm,
    errors: &crate::views::task_form::FieldErrors,
    editing: Option<&str>,
) -> Resp {
    render_form_with(cx, status, form, errors, editing, None).await
}

async fn render_form_with(
    cx: &Ctx<'_>,
    status: StatusCode,
    form: &TaskForm,
    errors: &crate::views::task_form::FieldErrors,
    editing: Option<&str>,
    preview: Option<&crate::seam::TriggerPreview>,
) -> Resp {
    let jobs = jobs(cx).await;
    // Where the previewed fires fall in the existing load.
    let load = match preview {
        Some(p) => super::timeline::load_of(cx, &p.fires).await,
        None => None,
    };
    let body = views::form::task_form(
        &cx.view(),
        form,
        errors,
        &jobs,
        editing,
        preview,
        load.as_ref(),
    );
    let title = match editing {
        Some(id) => format!("Edit {id}"),
        None => "New task".to_string(),
    };
    cx.page(status, &title, Nav::Tasks, body)
}

/// How many fires a preview lists.
pub(crate) const PREVIEW_FIRES: usize = 5;

/// `POST /tasks/preview`: the posted form again, unsaved, with the next fires of its trigger
/// (or its trigger's errors beside their fields).
pub(crate) async fn task_preview(cx: &Ctx<'_>, p: &Params) -> Resp {
    let editing = p.get("editing").filter(|e| !e.is_empty());
    let mut form = TaskForm::from_params(p);
    if let Some(id) = editing {
        form.id = id.to_string();
    }
    let tz = cx.view().tz;
    let spec = match form.trigger_spec(&tz) {
        Ok(s) => s,
        Err(errs) => return render_form(cx, StatusCode::BAD_REQUEST, &form, &errs, editing).await,
    };
    let answer = match cx.preview(&spec, PREVIEW_FIRES).await {
        Ok(answer) => answer,
        Err(refused) => return refused,
    };
    match answer {
        Ok(preview) => {
            render_form_with(
                cx,
                StatusCode::OK,
                &form,
                &Vec::new(),
                editing,
                Some(&preview),
            )
            .await
        }
        Err(e) if e.is_invalid() => {
            let field = e.field().map_or("kind", |f| form_field(f, &form.kind));
            let errs = vec![(field, e.message().to_string())];
            render_form(cx, StatusCode::BAD_REQUEST, &form, &errs, editing).await
        }
        Err(e) => cx.fail(&e),
    }
}

/// Create (`editing` None) or update a task from the posted form; invalid input shows the
/// form again with each error beside its field (400).
pub(crate) async fn task_save(cx: &Ctx<'_>, editing: Option<&str>, p: &Params) -> Resp {
    let mut form = TaskForm::from_params(p);
    if let Some(id) = editing {
        form.id = id.to_string();
    }
    let tz = cx.view().tz;
    let mut task = match form.to_task(&tz) {
        Ok(t) => t,
        Err(errs) => return render_form(cx, StatusCode::BAD_REQUEST, &form, &errs, editing).await,
    };
    // The narrowing hook, on the job the task will have.
    let action = if editing.is_some() {
        "task.update"
    } else {
        "task.create"
    };
    if !cx.allows(action, &ActionTarget::task(&task.id, &task.job)) {
        return super::gate::refuse_action(false, action);
    }
    // Hidden values left as shown keep what is stored: the task's own when editing, the
    // copied task's when saving a copy (for whoever may edit that one), under the same job.
    let copy_of = Some(form.copy_of.as_str()).filter(|c| !c.is_empty() && editing.is_none());
    if let Some(source) = copy_of {
        let allowed = match cx.shared.backend.job_of(source).await {
            Ok(Some(job)) => cx.allows("task.update", &ActionTarget::task(source, &job)),
            Ok(None) => true,
            Err(e) => return cx.fail(&e),
        };
        if !allowed {
            return super::gate::refuse_action(false, "task.update");
        }
    }
    match cx
        .unmask(&mut task.args, editing.or(copy_of), &task.job)
        .await
    {
        Ok(()) => {}
        Err(ArgsError::Field(e)) => {
            return render_form(
                cx,
                StatusCode::BAD_REQUEST,
                &form,
                &vec![("args", e)],
                editing,
            )
            .await
        }
        Err(ArgsError::Backend(e)) => return cx.fail(&e),
    }
    let b = &cx.shared.backend;
    let id = task.id.clone();
    let result = match editing {
        Some(_) => b.update(task).await,
        None => b.create(task).await,
    };
    match result {
        Ok(_) => {
            let verb = if editing.is_some() {
                "Saved"
            } else {
                "Created"
            };
            let to = crate::links::Urls::task_rel(&id, "");
            cx.go(&to, true, &format!("{verb} task {id}."))
        }
        Err(e) if e.is_invalid() || e.is_conflict() => {
            let field = match (e.is_conflict(), e.field()) {
                (true, _) => "id",
                (false, Some(f)) => form_field(f, &form.kind),
                (false, None) => "form",
            };
            let errs = vec![(field, e.message().to_string())];
            render_form(cx, StatusCode::BAD_REQUEST, &form, &errs, editing).await
        }
        Err(e) => cx.fail(&e),
    }
}

pub(crate) async fn task_detail(cx: &Ctx<'_>, id: &str) -> Resp {
    let b = &cx.shared.backend;
    let mut detail = match b.get(id).await {
        Ok(d) => d,
        Err(e) => return cx.fail(&e),
    };
    cx.shared.redaction.info(&mut detail.info);
    let page = match cx.query.parse_opt::<u32>("page") {
        Ok(p) => p.unwrap_or(1),
        Err(e) => return cx.bad(&e),
    };
    let rq = RunQuery {
        task_id: Some(id.to_string()),
        page,
        per_page: 20,
        ..RunQuery::default()
    };
    let mut runs = match b.runs(&rq).await {
        Ok(r) => r,
        Err(e) => return cx.fail(&e),
    };
    cx.shared.redaction.runs(&mut runs.items);
    let mut selected = match cx.query.parse_opt::<u64>("run") {
        Ok(Some(run_id)) => match b.run(run_id).await {
            Ok(r) if r.task_id == id => Some(r),
            Ok(_) => return cx.bad(&field_error("run", "belongs to another task")),
            Err(e) => return cx.fail(&e),
        },
        Ok(None) => runs.items.iter().find(|r| r.status.is_finished()).cloned(),
        Err(e) => return cx.bad(&e),
    };
    // A run asked for by id was read here, not from the (redacted) list.
    if let (Some(r), true) = (selected.as_mut(), cx.query.get("run").is_some()) {
        cx.shared.redaction.run(r);
    }
    let series = b
        .series(crate::scheduler::SeriesWindow::Day, Some(id), None)
        .await
        .ok();
    let alerts = match b.alerts(Some(id)).await {
        Ok(a) => a,
        Err(e) => return cx.fail(&e),
    };
    let body = views::task::task(
        &cx.view(),
        &detail,
        &runs,
        selected.as_ref(),
        cx.here(),
        series.as_ref(),
        &alerts,
        cx.shared.backend.runs_with_args(),
    );
    cx.page(StatusCode::OK, &detail.info.task.name, Nav::Tasks, body)
}

/// `POST /tasks/{id}/{run|pause|resume|remove}`. Remove asks for confirmation first (the
/// script asks in the page; without it, a confirmation page does).
pub(crate) async fn task_action(cx: &Ctx<'_>, id: &str, action: BulkAction, p: &Params) -> Resp {
    let b = &cx.shared.backend;
    let fallback = crate::links::Urls::task_rel(id, "");
    let result = match action {
        BulkAction::Run => b.run_now(id).await.map(|r| match r.status {
            crate::scheduler::RunStatus::Skipped => {
                format!("Run of {id} skipped: {}", r.error.unwrap_or_default())
            }
            _ => format!("Started run #{} of {id}.", r.id),
        }),
        BulkAction::Pause => b.pause(id).await.map(|_| format!("Paused {id}.")),
        BulkAction::Resume => b.resume(id).await.map(|_| format!("Resumed {id}.")),
        BulkAction::Remove => {
            if p.get("confirm") != Some("yes") {
                return confirm_page(
                    cx,
                    &format!("Remove task {id}? Its history is kept."),
                    &cx.urls.task(id, "/remove"),
                    &[],
                    p,
                );
            }
            let r = b.remove(id).await.map(|()| format!("Removed {id}."));
            // The task's own page is gone: come back to the list unless sent elsewhere.
            return match r {
                Ok(msg) => {
                    let to = p
                        .get("back")
                        .and_then(crate::links::safe_relative)
                        .filter(|b| !b.starts_with(&fallback))
                        .unwrap_or("/tasks");
                    cx.go(to, true, &msg)
                }
                Err(e) => cx.fail(&e),
            };
        }
    };
    match result {
        Ok(msg) => cx.back(p, &fallback, true, &msg),
        Err(e) if e.is_not_found() => cx.fail(&e),
        Err(e) => cx.back(p, &fallback, false, public_message(&e)),
    }
}

fn confirm_page(
    cx: &Ctx<'_>,
    question: &str,
    action: &str,
    hidden: &[(&str, &str)],
    p: &Params,
) -> Resp {
    let back = p
        .get("back")
        .and_then(crate::links::safe_relative)
        .unwrap_or("/tasks");
    let body = views::errors::confirm(&cx.view(), question, action, hidden, back);
    cx.page(StatusCode::OK, "Confirm", Nav::Tasks, body)
}

pub(crate) async fn bulk(cx: &Ctx<'_>, act: BulkAction, p: &Params) -> Resp {
    let ids: Vec<String> = p.all("id").map(String::from).take(1000).collect();
    if ids.is_empty() {
        return cx.back(p, "/tasks", false, "Select at least one task first.");
    }
    if act == BulkAction::Remove && p.get("confirm") != Some("yes") {
        let hidden: Vec<(&str, &str)> = ids.iter().map(|i| ("id", i.as_str())).collect();
        let q = format!(
            "Remove {} task(s): {}? Their history is kept.",
            ids.len(),
            ids.join(", ")
        );
        return confirm_page(cx, &q, &cx.urls.at("/tasks/bulk/remove"), &hidden, p);
    }
    let (ids, refused) = cx.narrow_ids(act, ids).await;
    let outcome = if ids.is_empty() {
        Ok(crate::seam::BulkOutcome::default())
    } else {
        cx.shared.backend.bulk(act, &ids).await
    };
    match outcome.map(|mut out| {
        out.failed.extend(refused);
        out
    }) {
        Ok(out) => {
            let mut msg = format!("{}: {} done", act.as_str(), out.done.len());
            if !out.failed.is_empty() {
                msg.push_str(&format!(
                    ", {} failed ({})",
                    out.failed.len(),
                    out.failed
                        .iter()
                        .map(|(i, e)| format!("{i}: {e}"))
                        .collect::<Vec<_>>()
                        .join("; ")
                ));
            }
            msg.push('.');
            cx.back(p, "/tasks", out.failed.is_empty(), &msg)
        }
        Err(e) => cx.fail(&e),
    }
}

pub(crate) async fn scheduler_action(cx: &Ctx<'_>, paused: bool, p: &Params) -> Resp {
    match cx.shared.backend.set_paused(paused).await {
        Ok(()) => cx.back(
            p,
            "/",
            true,
            if paused {
                "Scheduler paused: nothing fires until you resume it."
            } else {
                "Scheduler resumed."
            },
        ),
        Err(e) => cx.back(p, "/", false, public_message(&e)),
    }
}

pub(crate) async fn runs(cx: &Ctx<'_>) -> Resp {
    let view = cx.view();
    let q = match run_query(&cx.query, &view.tz) {
        Ok(q) => q,
        Err(e) => return cx.bad(&e),
    };
    let mut page: Page<_> = match cx.shared.backend.runs(&q).await {
        Ok(p) => p,
        Err(e) => return cx.fail(&e),
    };
    cx.shared.redaction.runs(&mut page.items);
    let jobs = cx.shared.backend.jobs().await.unwrap_or_default();
    let raw: Vec<(&str, &str)> = ["q", "task", "job", "status", "since", "until", "per_page"]
        .into_iter()
        .filter_map(|k| cx.query.get(k).map(|v| (k, v)))
        .collect();
    let body = views::runs::runs(&view, &q, &page, &raw, &jobs);
    cx.page(StatusCode::OK, "Runs", Nav::Runs, body)
}

pub(crate) async fn instances(cx: &Ctx<'_>) -> Resp {
    match cx.shared.backend.instances().await {
        Ok(list) => {
            let body = views::instances::instances(&cx.view(), &list);
            cx.page(StatusCode::OK, "Instances", Nav::Instances, body)
        }
        Err(e) => cx.fail(&e),
    }
}

pub(crate) async fn run_detail(cx: &Ctx<'_>, id: &str) -> Resp {
    let Ok(run_id) = id.parse::<u64>() else {
        return cx.fail(&crate::seam::BackendError::not_found(format!(
            "no run {id:?}; run ids are numbers"
        )));
    };
    match cx.shared.backend.run(run_id).await {
        Ok(mut r) => {
            cx.shared.redaction.run(&mut r);
            let body = views::runs::run(&cx.view(), &r);
            cx.page(StatusCode::OK, &format!("Run #{run_id}"), Nav::Runs, body)
        }
        Err(e) => cx.fail(&e),
    }
}

/// `POST /runs/{id}/cancel` and `/retry`: back to the run's page (or `back`) with a message.
pub(crate) async fn run_action(
    cx: &Ctx<'_>,
    id: &str,
    action: crate::web::routes::RunAction,
    p: &Params,
) -> Resp {
    use crate::web::routes::RunAction;
    let Ok(run_id) = id.parse::<u64>() else {
        return cx.fail(&crate::seam::BackendError::not_found(format!(
            "no run {id:?}; run ids are numbers"
        )));
    };
    let b = &cx.shared.backend;
    let fallback = crate::links::Urls::run_rel(run_id, "");
    let result = match action {
        RunAction::Cancel => b
            .cancel_run(run_id, &cx.actor())
            .await
            .map(|_| format!("Asked run #{run_id} to stop; it ends as cancelled.")),
        RunAction::Retry => b.retry_run(run_id).await.map(|r| match r {
            Some(r) => format!("Started run #{} to retry run #{run_id}.", r.id),
            None => format!("Asked a replica that has this job to retry run #{run_id}."),
        }),
    };
    match result {
        Ok(msg) => cx.back(p, &fallback, true, &msg),
        Err(e) if e.is_not_found() => cx.fail(&e),
        Err(e) => cx.back(p, &fallback, false, public_message(&e)),
    }
}

/// Most runs one bulk retry starts.
const BULK_RETRY: u32 = 100;

/// `POST /runs/retry`: retries the retryable runs the posted filter shows (the first
/// [`BULK_RETRY`]), back to the runs page with a count.
pub(crate) async fn runs_retry(cx: &Ctx<'_>, p: &Params) -> Resp {
    let view = cx.view();
    let mut q = match run_query(p, &view.tz) {
        Ok(q) => q,
        Err(e) => return cx.bad(&e),
    };
    q.page = 1;
    q.per_page = BULK_RETRY;
    let page = match cx.shared.backend.runs(&q).await {
        Ok(p) => p,
        Err(e) => return cx.fail(&e),
    };
    let mut started = 0;
    let mut retried: Vec<String> = Vec::new();
    let mut refused: Vec<String> = Vec::new();
    for r in page.items.iter().filter(|r| r.status.is_retryable()) {
        if !cx.allows("run.retry", &ActionTarget::run(r.id, &r.task_id, &r.job)) {
            refused.push(format!("#{}: not allowed for you", r.id));
            continue;
        }
        match cx.shared.backend.retry_run(r.id).await {
            Ok(_) => {
                started += 1;
                retried.push(r.id.to_string());
            }
            Err(e) => refused.push(format!("#{}: {e}", r.id)),
        }
    }
    // The audit entry names the runs retried and those refused, with why.
    let mut target = format!(
        "retried: {}",
        if retried.is_empty() {
            "none".into()
        } else {
            retried.join(",")
        }
    );
    if !refused.is_empty() {
        target.push_str("; refused: ");
        target.push_str(&refused.join("; "));
    }
    let _ = cx.audit_target.set(target.chars().take(2000).collect());
    let mut msg = format!("Retried {started} run(s).");
    if !refused.is_empty() {
        // Each refused run says why, the first few in full.
        const SHOWN: usize = 5;
        msg.push_str(&format!(" {} not retried: ", refused.len()));
        msg.push_str(&refused[..refused.len().min(SHOWN)].join("; "));
        if refused.len() > SHOWN {
            msg.push_str(&format!("; and {} more", refused.len() - SHOWN));
        }
        msg.push('.');
    }
    cx.back(p, "/runs", refused.is_empty(), &msg)
}
