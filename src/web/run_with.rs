//! "Run now with…" (`GET`/`POST /tasks/{id}/run-with`, `POST /api/tasks/{id}/run-with`):
//! one run of a task with other args. Admin only (args can change what a job does); the
//! audit entry names the task and a keyed hash (HMAC) of the args, never the args themselves.

use http::StatusCode;
use serde::Deserialize;

use super::context::{ArgsError, Ctx};
use super::request::{field_error, Params};
use super::response::{json, Resp};
use crate::views::{self, Nav};

/// The audit target: the task and a keyed fingerprint of the args' JSON (its keys sorted):
/// two entries can be told equal or not, but a reader of the log without the dashboard's
/// secret cannot confirm a guess at the args.
fn audit_target(cx: &Ctx<'_>, id: &str, args: &serde_json::Value) -> String {
    let bytes = serde_json::to_vec(args).unwrap_or_default();
    format!("{id} args hmac:{}", cx.shared.keys.fingerprint(&bytes))
}

/// Hidden values left in `args` take the task's stored ones (same task, same job).
async fn unmask(cx: &Ctx<'_>, args: &mut serde_json::Value, id: &str) -> Result<(), ArgsError> {
    match cx.shared.backend.job_of(id).await {
        Ok(Some(job)) => cx.unmask(args, Some(id), &job).await,
        // The run is refused as for any unknown task.
        Ok(None) => Ok(()),
        Err(e) => Err(ArgsError::Backend(e)),
    }
}

/// The args a form gives: JSON, or null when empty.
fn parse_args(text: &str) -> Result<serde_json::Value, String> {
    if text.trim().is_empty() {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))
}

async fn form_page(cx: &Ctx<'_>, id: &str, args: Option<&str>, error: Option<&str>) -> Resp {
    let b = &cx.shared.backend;
    if !b.runs_with_args() {
        return cx.fail(&crate::BackendError::unsupported(
            "this backend cannot run a task with other arguments",
        ));
    }
    let detail = match b.get(id).await {
        Ok(d) => d,
        Err(e) => return cx.fail(&e),
    };
    let mut t = detail.info.task;
    cx.shared.redaction.task(&mut t);
    let own = serde_json::to_string_pretty(&t.args).unwrap_or_default();
    let args = args.unwrap_or(&own);
    let body = views::run_with::run_with(&cx.view(), &t.id, &t.name, &t.job, args, error);
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    cx.page(status, &format!("Run {} with…", t.name), Nav::Tasks, body)
}

/// `GET /tasks/{id}/run-with`: the form, with the task's args.
pub(crate) async fn page(cx: &Ctx<'_>, id: &str) -> Resp {
    form_page(cx, id, None, None).await
}

/// `POST /tasks/{id}/run-with`: starts the run and shows it; bad JSON comes back in the form.
pub(crate) async fn submit(cx: &Ctx<'_>, id: &str, p: &Params) -> Resp {
    let text = p.get("args").unwrap_or("");
    let mut args = match parse_args(text) {
        Ok(a) => a,
        Err(e) => return form_page(cx, id, Some(text), Some(&e)).await,
    };
    match unmask(cx, &mut args, id).await {
        Ok(()) => {}
        Err(ArgsError::Field(e)) => return form_page(cx, id, Some(text), Some(&e)).await,
        Err(ArgsError::Backend(e)) => return cx.fail(&e),
    }
    let _ = cx.audit_target.set(audit_target(cx, id, &args));
    match cx.shared.backend.run_now_with(id, args).await {
        Ok(run) => cx.go(
            &format!("/runs/{}", run.id),
            true,
            &format!("Run #{} of {id} started with the args given.", run.id),
        ),
        Err(e) => cx.fail(&e),
    }
}

/// `POST /api/tasks/{id}/run-with` with `{"args": …}`: 202 and the run as begun.
pub(crate) async fn api(cx: &Ctx<'_>, id: &str, body: &[u8]) -> Resp {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        args: serde_json::Value,
    }
    let mut args = match serde_json::from_slice::<Body>(body) {
        Ok(b) => b.args,
        Err(e) => {
            return cx.bad(&field_error(
                "body",
                format!("expected {{\"args\": …}}: {e}"),
            ))
        }
    };
    match unmask(cx, &mut args, id).await {
        Ok(()) => {}
        Err(ArgsError::Field(e)) => return cx.bad(&field_error("args", e)),
        Err(ArgsError::Backend(e)) => return cx.fail(&e),
    }
    let _ = cx.audit_target.set(audit_target(cx, id, &args));
    match cx.shared.backend.run_now_with(id, args).await {
        Ok(mut run) => {
            cx.shared.redaction.run(&mut run);
            json(StatusCode::ACCEPTED, &run)
        }
        Err(e) => cx.fail(&e),
    }
}
