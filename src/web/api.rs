//! The JSON API under `/api/`, and `/metrics`. Errors are `{"error", "message", "field"}` with
//! 400 for bad input, 404 for unknown ids, 409 for conflicts.

use http::StatusCode;
use serde::Deserialize;

use super::context::{ArgsError, Ctx};
use super::request::{field_error, search_text, BadRequest, Params};
use super::response::{json, json_bytes, text, Resp};
use crate::policy::ActionTarget;
use crate::scheduler::{RunQuery, Task, TaskQuery, TaskState};
use crate::seam::BulkAction;

/// The task list query from URL parameters (shared with the tasks page).
pub(crate) fn task_query(p: &Params) -> Result<TaskQuery, BadRequest> {
    search_text(p)?;
    let sort = p.parse_opt("sort")?.unwrap_or_default();
    let cursor = match (p.get("after"), p.get("before")) {
        (None, None) => None,
        (Some(_), Some(_)) => {
            return Err(field_error("before", "give after or before, not both"));
        }
        (Some(t), None) => {
            Some(crate::TaskCursor::parse(t, sort, false).map_err(|e| field_error("after", e))?)
        }
        (None, Some(t)) => {
            Some(crate::TaskCursor::parse(t, sort, true).map_err(|e| field_error("before", e))?)
        }
    };
    Ok(TaskQuery {
        q: p.get("q").map(String::from),
        state: p.parse_opt("state")?,
        job: p.get("job").map(String::from),
        trigger: p.parse_opt("trigger")?,
        attention: match p.get("attention") {
            None | Some("" | "0" | "false") => false,
            Some("1" | "true" | "on") => true,
            Some(other) => {
                return Err(field_error("attention", format!("{other:?} is not 1 or 0")))
            }
        },
        sort,
        desc: match p.get("dir") {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => return Err(field_error("dir", format!("{other:?} is not asc or desc"))),
        },
        page: p.parse_opt("page")?.unwrap_or(1),
        per_page: p.parse_opt("per_page")?.unwrap_or(0),
        cursor,
    })
}

/// The run list query from URL parameters (shared with the runs page).
pub(crate) fn run_query(p: &Params, tz: &jiff::tz::TimeZone) -> Result<RunQuery, BadRequest> {
    let time = |name: &str| -> Result<Option<jiff::Timestamp>, BadRequest> {
        match p.get(name) {
            None => Ok(None),
            Some(v) => crate::views::task_form::parse_time(v, tz)
                .map(Some)
                .ok_or_else(|| {
                    field_error(
                        name,
                        format!("{v:?} is not a date and time like 2030-01-31T09:30"),
                    )
                }),
        }
    };
    let status = p.get("status");
    let text = search_text(p)?;
    let cursor = match (p.parse_opt::<u64>("after")?, p.parse_opt::<u64>("before")?) {
        (None, None) => None,
        (Some(_), Some(_)) => return Err(field_error("before", "give after or before, not both")),
        (Some(id), None) => Some(crate::RunCursor::After(id)),
        (None, Some(id)) => Some(crate::RunCursor::Before(id)),
    };
    Ok(RunQuery {
        job: p.get("job").filter(|j| !j.is_empty()).map(String::from),
        q: text.map(String::from),
        task_id: p.get("task").map(String::from),
        status: match status {
            None | Some("failures") => None,
            Some(s) => Some(s.parse().map_err(|e: String| field_error("status", e))?),
        },
        failures_only: status == Some("failures"),
        since: time("since")?,
        until: time("until")?,
        page: p.parse_opt("page")?.unwrap_or(1),
        per_page: p.parse_opt("per_page")?.unwrap_or(0),
        cursor,
    })
}

fn parse_json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, BadRequest> {
    serde_json::from_slice(body).map_err(|e| field_error("body", format!("invalid JSON: {e}")))
}

pub(crate) async fn tasks(cx: &Ctx<'_>) -> Resp {
    let q = match task_query(&cx.query) {
        Ok(q) => q,
        Err(e) => return cx.bad(&e),
    };
    match cx.shared.backend.list(&q).await {
        Ok(page) => super::response::json_bytes(
            StatusCode::OK,
            super::json::task_page(
                &page,
                Some(&cx.shared.fragments),
                Some(&q),
                &cx.shared.redaction,
            ),
        ),
        Err(e) => cx.fail(&e),
    }
}

pub(crate) async fn task(cx: &Ctx<'_>, id: &str) -> Resp {
    match cx.shared.backend.get(id).await {
        Ok(mut d) => {
            cx.shared.redaction.info(&mut d.info);
            json(StatusCode::OK, &d)
        }
        Err(e) => cx.fail(&e),
    }
}

pub(crate) async fn create(cx: &Ctx<'_>, body: &[u8]) -> Resp {
    let mut task: Task = match parse_json(body) {
        Ok(t) => t,
        Err(e) => return cx.bad(&e),
    };
    if let Err(r) = ready_to_save(cx, &mut task, None, "task.create").await {
        return r;
    }
    match cx.shared.backend.create(task).await {
        Ok(info) => shown(cx, StatusCode::CREATED, info),
        Err(e) => cx.fail(&e),
    }
}

pub(crate) async fn update(cx: &Ctx<'_>, id: &str, body: &[u8]) -> Resp {
    let mut task: Task = match parse_json(body) {
        Ok(t) => t,
        Err(e) => return cx.bad(&e),
    };
    if task.id.is_empty() {
        task.id = id.to_string();
    } else if task.id != id {
        return cx.bad(&field_error(
            "id",
            "does not match the URL; ids cannot be changed",
        ));
    }
    if let Err(r) = ready_to_save(cx, &mut task, Some(id), "task.update").await {
        return r;
    }
    match cx.shared.backend.update(task).await {
        Ok(info) => shown(cx, StatusCode::OK, info),
        Err(e) => cx.fail(&e),
    }
}

/// Before a task from the API is saved: hidden values left as shown ([`crate::policy::MASK`])
/// take the stored ones back (`from`, the task being updated), and the narrowing hook is
/// asked about the job the task will have. `Err` holds the answer to send instead.
async fn ready_to_save(
    cx: &Ctx<'_>,
    task: &mut Task,
    from: Option<&str>,
    action: &str,
) -> Result<(), Resp> {
    if !cx.allows(action, &ActionTarget::task(&task.id, &task.job)) {
        return Err(super::gate::refuse_action(true, action));
    }
    match cx.unmask(&mut task.args, from, &task.job).await {
        Ok(()) => Ok(()),
        Err(ArgsError::Field(e)) => Err(cx.bad(&field_error("args", e))),
        Err(ArgsError::Backend(e)) => Err(cx.fail(&e)),
    }
}

/// A task as the API shows it: redacted.
fn shown(cx: &Ctx<'_>, status: StatusCode, mut info: crate::TaskInfo) -> Resp {
    cx.shared.redaction.info(&mut info);
    json(status, &info)
}

/// A run as the API shows it: redacted.
fn shown_run(cx: &Ctx<'_>, status: StatusCode, mut run: crate::RunRecord) -> Resp {
    cx.shared.redaction.run(&mut run);
    json(status, &run)
}

pub(crate) async fn task_runs(cx: &Ctx<'_>, id: &str) -> Resp {
    if let Err(e) = cx.shared.backend.get(id).await {
        return cx.fail(&e);
    }
    let tz = jiff::tz::TimeZone::UTC;
    let mut q = match run_query(&cx.query, &tz) {
        Ok(q) => q,
        Err(e) => return cx.bad(&e),
    };
    q.task_id = Some(id.to_string());
    match cx.shared.backend.runs(&q).await {
        Ok(mut page) => {
            cx.shared.redaction.runs(&mut page.items);
            runs_page(&page, q.cursor)
        }
        Err(e) => cx.fail(&e),
    }
}

/// Most bytes of full runs in one `/api/runs` answer: a run may carry 400 KiB of log lines,
/// 64 KiB of args and 16 KiB of result, so 500 of them could make hundreds of megabytes.
const RUNS_ANSWER_BUDGET: usize = 4 * 1024 * 1024;

/// A page of runs as JSON, each in full while the answer stays within
/// [`RUNS_ANSWER_BUDGET`]; past it, runs come without their logs, args and result
/// (`"omitted": ["logs", "args", "result"]`; `/api/runs/{id}` has them), and `trimmed`
/// counts them.
fn runs_page(page: &crate::Page<crate::RunRecord>, cursor: Option<crate::RunCursor>) -> Resp {
    use std::io::Write as _;
    // Each run is written once, straight into the answer; only those past the budget are
    // written again, slimmed.
    let mut out = Vec::with_capacity(256 + page.items.len() * 512);
    out.extend_from_slice(b"{\"items\":[");
    let mut used = 0usize;
    let mut trimmed = 0usize;
    for (i, run) in page.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let start = out.len();
        let _ = serde_json::to_writer(&mut out, run);
        let size = out.len() - start;
        if used + size <= RUNS_ANSWER_BUDGET {
            used += size;
            continue;
        }
        out.truncate(start);
        let mut slim = serde_json::to_value(crate::RunRecord {
            logs: Vec::new(),
            args: serde_json::Value::Null,
            result: None,
            ..run.clone()
        })
        .unwrap_or(serde_json::Value::Null);
        if let Some(o) = slim.as_object_mut() {
            o.insert(
                "omitted".into(),
                serde_json::json!(["logs", "args", "result"]),
            );
        }
        let _ = serde_json::to_writer(&mut out, &slim);
        trimmed += 1;
    }
    let _ = write!(
        out,
        "],\"total\":{},\"estimated\":{},\"page\":{},\"per_page\":{},\"trimmed\":{}",
        page.total, page.estimated, page.page, page.per_page, trimmed
    );
    let id = |c: Option<crate::RunCursor>| c.map_or("null".to_string(), |c| c.run_id().to_string());
    let _ = write!(
        out,
        ",\"next_after\":{},\"prev_before\":{}}}",
        id(crate::RunCursor::next_of(page, cursor)),
        id(crate::RunCursor::prev_of(page, cursor))
    );
    json_bytes(StatusCode::OK, out)
}

pub(crate) async fn action(cx: &Ctx<'_>, id: &str, action: BulkAction) -> Resp {
    let b = &cx.shared.backend;
    let result = match action {
        BulkAction::Run => b
            .run_now(id)
            .await
            .map(|r| shown_run(cx, StatusCode::ACCEPTED, r)),
        BulkAction::Pause => b.pause(id).await.map(|t| shown(cx, StatusCode::OK, t)),
        BulkAction::Resume => b.resume(id).await.map(|t| shown(cx, StatusCode::OK, t)),
        BulkAction::Remove => b
            .remove(id)
            .await
            .map(|()| json(StatusCode::OK, &serde_json::json!({"removed": id}))),
    };
    result.unwrap_or_else(|e| cx.fail(&e))
}

pub(crate) async fn bulk(cx: &Ctx<'_>, action: BulkAction, body: &[u8]) -> Resp {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Ids {
        ids: Vec<String>,
    }
    let ids: Ids = match parse_json(body) {
        Ok(i) => i,
        Err(e) => return cx.bad(&e),
    };
    if ids.ids.len() > 1000 {
        return cx.bad(&field_error("ids", "at most 1000 ids per request"));
    }
    let (ids, refused) = cx.narrow_ids(action, ids.ids).await;
    let outcome = if ids.is_empty() {
        Ok(crate::seam::BulkOutcome::default())
    } else {
        cx.shared.backend.bulk(action, &ids).await
    };
    match outcome {
        Ok(mut out) => {
            out.failed.extend(refused);
            json(StatusCode::OK, &out)
        }
        Err(e) => cx.fail(&e),
    }
}

pub(crate) async fn runs(cx: &Ctx<'_>) -> Resp {
    let q = match run_query(&cx.query, &jiff::tz::TimeZone::UTC) {
        Ok(q) => q,
        Err(e) => return cx.bad(&e),
    };
    match cx.shared.backend.runs(&q).await {
        Ok(mut page) => {
            cx.shared.redaction.runs(&mut page.items);
            runs_page(&page, q.cursor)
        }
        Err(e) => cx.fail(&e),
    }
}

pub(crate) async fn run(cx: &Ctx<'_>, id: &str) -> Resp {
    let Ok(id) = id.parse::<u64>() else {
        return cx.bad(&field_error("id", "a run id is a number"));
    };
    match cx.shared.backend.run(id).await {
        Ok(r) => shown_run(cx, StatusCode::OK, r),
        Err(e) => cx.fail(&e),
    }
}

/// `POST /api/runs/{id}/cancel` (202, the run as it stands) and `/retry` (201 with the new
/// run, or 202 when another replica starts it).
pub(crate) async fn run_action(
    cx: &Ctx<'_>,
    id: &str,
    action: crate::web::routes::RunAction,
) -> Resp {
    use crate::web::routes::RunAction;
    let Ok(id) = id.parse::<u64>() else {
        return cx.bad(&field_error("id", "a run id is a number"));
    };
    let b = &cx.shared.backend;
    match action {
        RunAction::Cancel => match b.cancel_run(id, &cx.actor()).await {
            Ok(mut r) => json(
                StatusCode::ACCEPTED,
                &serde_json::json!({ "cancel_requested": true, "run": cx.shared.redaction.shown_run(&mut r) }),
            ),
            Err(e) => cx.fail(&e),
        },
        RunAction::Retry => match b.retry_run(id).await {
            Ok(Some(r)) => shown_run(cx, StatusCode::CREATED, r),
            Ok(None) => json(
                StatusCode::ACCEPTED,
                &serde_json::json!({ "retry_requested": true, "retry_of": id }),
            ),
            Err(e) => cx.fail(&e),
        },
    }
}

/// `GET /api/stats/series?window=1h|24h|7d[&task=…|&job=…]`: runs and failures over time, as
/// the charts show them.
pub(crate) async fn series(cx: &Ctx<'_>) -> Resp {
    let window = match cx.query.get("window").unwrap_or("24h").parse() {
        Ok(w) => w,
        Err(e) => return cx.bad(&field_error("window", e)),
    };
    let task = cx.query.get("task").filter(|t| !t.is_empty());
    let job = cx.query.get("job").filter(|j| !j.is_empty());
    if task.is_some() && job.is_some() {
        return cx.bad(&field_error("job", "give a task or a job, not both"));
    }
    match cx.shared.backend.series(window, task, job).await {
        Ok(s) => json(StatusCode::OK, &s),
        Err(e) => cx.fail(&e),
    }
}

pub(crate) async fn instances(cx: &Ctx<'_>) -> Resp {
    match cx.shared.backend.instances().await {
        Ok(list) => json(StatusCode::OK, &serde_json::json!({ "items": list })),
        Err(e) => cx.fail(&e),
    }
}

/// `GET /api/alerts`: the open alerts, oldest first.
pub(crate) async fn alerts(cx: &Ctx<'_>) -> Resp {
    match cx.shared.backend.alerts(None).await {
        Ok(list) => json(StatusCode::OK, &serde_json::json!({ "items": list })),
        Err(e) => cx.fail(&e),
    }
}

pub(crate) async fn stats(cx: &Ctx<'_>) -> Resp {
    let scheduler = match cx.shared.backend.status().await {
        Ok(s) => s,
        Err(e) => return cx.fail(&e),
    };
    match cx.shared.backend.stats().await {
        Ok(s) => json(
            StatusCode::OK,
            &serde_json::json!({"scheduler": scheduler, "stats": s}),
        ),
        Err(e) => cx.fail(&e),
    }
}

/// `POST /api/preview`: a trigger as JSON (`TriggerSpec`), or the task form's trigger fields
/// form-encoded (what the form's script sends as you type: times without an offset are read in
/// the scheduler's zone, as when the form is saved). The description and the next fires (10
/// for JSON, as many as `n` asks up to 10 for a form).
pub(crate) async fn preview(cx: &Ctx<'_>, body: &[u8]) -> Resp {
    let form_encoded = cx
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let (spec, n) = if form_encoded {
        let p = Params::parse(body);
        let form = crate::views::task_form::TaskForm::from_params(&p);
        let n = p
            .parse_opt::<usize>("n")
            .ok()
            .flatten()
            .unwrap_or(10)
            .clamp(1, 10);
        match form.trigger_spec(&cx.view().tz) {
            Ok(s) => (s, n),
            // The form's script asks as the user types: an unfinished trigger is an answer
            // ("not valid yet, because …"), not a failed request.
            Err(errs) => {
                let (field, message) = errs
                    .into_iter()
                    .next()
                    .unwrap_or(("kind", "the trigger is incomplete".into()));
                return json(
                    StatusCode::OK,
                    &serde_json::json!({ "valid": false, "field": field, "message": message }),
                );
            }
        }
    } else {
        match parse_json(body) {
            Ok(s) => (s, 10),
            Err(e) => return cx.bad(&e),
        }
    };
    let answer = match cx.preview(&spec, n).await {
        Ok(answer) => answer,
        Err(refused) => return refused,
    };
    match answer {
        Err(e) if form_encoded && e.is_invalid() => json(
            StatusCode::OK,
            &serde_json::json!({ "valid": false, "field": e.field(), "message": e.message() }),
        ),
        // The form's script shows the times as the page would: in the scheduler's zone.
        Ok(p) if form_encoded => {
            let view = cx.view();
            let shown: Vec<String> = p
                .fires
                .iter()
                .map(|t| crate::views::components::absolute(&view, *t))
                .collect();
            // Where they fall in the existing load: a note per fire, and advice on a pile-up.
            let load = super::timeline::load_of(cx, &p.fires).await;
            let notes: Vec<Option<serde_json::Value>> = (0..p.fires.len())
                .map(|i| {
                    let (text, crowded) = load.as_ref()?.note(i)?;
                    Some(serde_json::json!({ "text": text, "crowded": crowded }))
                })
                .collect();
            let advice = load
                .as_ref()
                .and_then(|l| l.advice(|at| crate::views::components::absolute(&view, at)));
            json(
                StatusCode::OK,
                &serde_json::json!({ "valid": true, "text": p.text, "fires": p.fires, "fires_text": shown,
                    "load": notes, "advice": advice }),
            )
        }
        Ok(p) => json(StatusCode::OK, &p),
        Err(e) => cx.fail(&e),
    }
}

/// Readiness for probes: 200 when every check passes, else 503 with the first failure as
/// `reason`; never cached by anyone else.
pub(crate) async fn ready(cx: &Ctx<'_>) -> Resp {
    let r = cx.shared.ready.get(&*cx.shared.backend).await;
    let status = if r.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    // `response::secure` marks it `no-store`, as every answer without a cache policy.
    json(
        status,
        &serde_json::json!({
            "status": if r.ready { "ready" } else { "not ready" },
            "reason": r.reason(),
            "checks": r.checks,
        }),
    )
}

/// Prometheus text format: this process's figures (the scheduler's, then the dashboard's),
/// then the cluster-wide ones read from the store (`taskdeck_cluster_*`, the same on every
/// replica).
pub(crate) async fn metrics(shared: &super::context::Shared) -> Resp {
    let cluster = shared
        .cluster_metrics
        .get(cluster_metrics(&*shared.backend))
        .await;
    let cluster = match cluster {
        Ok(c) => c,
        Err(e) => {
            // Scrapers may be anyone (`public_metrics`): the error goes to the log only.
            tracing::warn!(error = %e, "/metrics: the store did not answer");
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the store did not answer; the error is logged\n".to_string(),
            );
        }
    };
    let mut t = crate::metrics::Text(shared.backend.prometheus_metrics());
    shared.metrics.write(&mut t, shared.streams.total());
    t.0.push_str(&cluster);
    let mut r = text(StatusCode::OK, t.0);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

/// The `taskdeck_cluster_*` families, read from the store: the same on every replica.
async fn cluster_metrics(
    backend: &dyn crate::seam::TaskBackend,
) -> Result<String, crate::seam::BackendError> {
    let (stats, instances, alerts) =
        tokio::join!(backend.stats(), backend.instances(), backend.alert_counts());
    let stats = stats?;
    let mut t = crate::metrics::Text::default();
    t.family(
        "taskdeck_cluster_tasks",
        "gauge",
        "Tasks by state, read from the store: the same on every replica sharing it, so max(), not sum().",
    );
    for st in TaskState::ALL {
        t.sample(
            "taskdeck_cluster_tasks",
            &[("state", st.as_str())],
            stats.tasks.get(st),
        );
    }
    t.family(
        "taskdeck_cluster_runs_running",
        "gauge",
        "Runs going on every replica, read from the store: the same on every replica, so max(), not sum().",
    );
    t.sample("taskdeck_cluster_runs_running", &[], stats.running_runs);
    t.family(
        "taskdeck_cluster_tasks_overdue",
        "gauge",
        "Tasks not paused whose next fire is more than a minute past: no process fired them. The same on every replica: max().",
    );
    t.sample("taskdeck_cluster_tasks_overdue", &[], stats.overdue);
    t.family(
        "taskdeck_cluster_alerts_open",
        "gauge",
        "Open alerts by kind (missed, skipped, overdue, running_long, no_success, failing), read from the store: the same on every replica, so max(), not sum().",
    );
    for (k, n) in alerts? {
        t.sample("taskdeck_cluster_alerts_open", &[("kind", k.as_str())], n);
    }
    t.family(
        "taskdeck_cluster_replicas",
        "gauge",
        "Scheduler processes sharing the store, live or stale (missed heartbeats), read from the store: max(), not sum(). A private store reports none.",
    );
    // A failed read of the instances is a failed scrape, not zero replicas.
    let instances = instances?;
    let stale = instances.iter().filter(|i| i.stale).count();
    t.sample(
        "taskdeck_cluster_replicas",
        &[("state", "live")],
        instances.len() - stale,
    );
    t.sample("taskdeck_cluster_replicas", &[("state", "stale")], stale);
    Ok(t.0)
}
