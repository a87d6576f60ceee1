//! Dispatch: from a matched route to the function that answers it. The gate has already
//! decided that the request may proceed; handlers never re-check.

use http::header::HeaderMap;
use http::StatusCode;

use super::context::{Ctx, Shared};
use super::request::Params;
use super::response::Resp;
use super::routes::{Found, Handler};
use super::{api, jobs, login, pages, run_with, sse, timeline};

/// Runs the handler for a matched route.
pub(crate) async fn dispatch(cx: &Ctx<'_>, found: &Found<'_>, body: &[u8]) -> Resp {
    let id = found.id.map(|i| {
        percent_encoding::percent_decode_str(i)
            .decode_utf8_lossy()
            .into_owned()
    });
    let id = id.as_deref().unwrap_or("");
    let form = || Params::parse(body);
    if found.route.handler.renders() {
        cx.load_status().await;
    }
    match found.route.handler {
        Handler::Overview => pages::overview(cx).await,
        Handler::Tasks => pages::tasks(cx).await,
        Handler::TaskNew => pages::task_new(cx).await,
        Handler::TaskCreate => pages::task_save(cx, None, &form()).await,
        Handler::TaskDetail => pages::task_detail(cx, id).await,
        Handler::TaskEdit => pages::task_edit(cx, id).await,
        Handler::TaskUpdate => pages::task_save(cx, Some(id), &form()).await,
        Handler::TaskPreview => pages::task_preview(cx, &form()).await,
        Handler::TaskAction(action) => pages::task_action(cx, id, action, &form()).await,
        Handler::RunWith => run_with::page(cx, id).await,
        Handler::RunWithSubmit => run_with::submit(cx, id, &form()).await,
        Handler::ApiRunWith => run_with::api(cx, id, body).await,
        Handler::Bulk(action) => pages::bulk(cx, action, &form()).await,
        Handler::SchedulerPause(paused) => pages::scheduler_action(cx, paused, &form()).await,
        Handler::Runs => pages::runs(cx).await,
        Handler::RunDetail => pages::run_detail(cx, id).await,
        Handler::RunAction(action) => pages::run_action(cx, id, action, &form()).await,
        Handler::RunsRetry => pages::runs_retry(cx, &form()).await,
        Handler::Events => events(cx),
        Handler::ApiTasks => api::tasks(cx).await,
        Handler::ApiTaskCreate => api::create(cx, body).await,
        Handler::ApiTask => api::task(cx, id).await,
        Handler::ApiTaskUpdate => api::update(cx, id, body).await,
        Handler::ApiTaskRuns => api::task_runs(cx, id).await,
        Handler::ApiTaskAction(action) => api::action(cx, id, action).await,
        Handler::ApiBulk(action) => api::bulk(cx, action, body).await,
        Handler::ApiRuns => api::runs(cx).await,
        Handler::ApiRun => api::run(cx, id).await,
        Handler::ApiRunAction(action) => api::run_action(cx, id, action).await,
        Handler::ApiStats => api::stats(cx).await,
        Handler::ApiSeries => api::series(cx).await,
        Handler::ApiPreview => api::preview(cx, body).await,
        Handler::Health | Handler::Asset => {
            stateless(cx.shared, found, cx.query.get("v"), cx.headers)
        }
        Handler::Metrics => api::metrics(cx.shared).await,
        Handler::Ready => api::ready(cx).await,
        Handler::Login => login::login_page(cx),
        Handler::LoginSubmit => login::login_submit(cx, &form()).await,
        Handler::Logout => login::logout(cx).await,
        Handler::LogoutAll => login::logout_all(cx).await,
        Handler::Audit => login::audit_page(cx).await,
        Handler::AuthRoute => login::backend_route(cx, body).await,
        Handler::ApiAudit => login::audit_api(cx).await,
        Handler::Instances => pages::instances(cx).await,
        Handler::Jobs => jobs::page(cx).await,
        Handler::ApiJobs => jobs::api(cx).await,
        Handler::Timeline => timeline::page(cx).await,
        Handler::ApiTimeline => timeline::api(cx).await,
        Handler::JobPause(pause) => jobs::set_paused(cx, id, pause, &form()).await,
        Handler::ApiInstances => api::instances(cx).await,
        Handler::ApiAlerts => api::alerts(cx).await,
    }
}

/// `/events`: a live stream, within the per-session, per-user and total bounds (429 beyond).
fn events(cx: &Ctx<'_>) -> Resp {
    let holder = cx.session.map_or_else(|| cx.who(), str::to_string);
    // A stream opened with a session ends when the session does.
    let alive = cx.session_meta.map(|s| {
        let sessions = cx.shared.sessions.clone();
        let s = s.clone();
        Box::new(move || sessions.is_live(&s.sid, &s.via, &s.user, s.iat_ms, s.exp)) as sse::Alive
    });
    let user = cx.user.map(|u| u.id.as_str());
    match cx.shared.streams.hold(&holder, user) {
        Ok(held) => sse::stream(
            cx.shared.backend.subscribe(),
            cx.shared.keepalive,
            cx.shared.closing.subscribe(),
            held,
            alive,
        ),
        Err(why) => {
            let message = match why {
                sse::Refused::Holder(n) => {
                    format!("this session already has {n} live streams open; close a tab and retry")
                }
                sse::Refused::User(n) => format!(
                    "you already have {n} live streams open across your sessions; close a tab and retry"
                ),
                sse::Refused::Total(n) => {
                    format!("the dashboard already serves {n} live streams; retry later")
                }
            };
            let mut r = super::response::json_error(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_streams",
                &message,
                None,
            );
            r.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static("10"),
            );
            r
        }
    }
}

/// Routes answered without identity, body or context: static assets and the health check.
pub(crate) fn is_stateless(h: Handler) -> bool {
    matches!(h, Handler::Asset | Handler::Health)
}

/// Answers a [stateless](is_stateless) route (`version` is an asset's `v` parameter).
pub(crate) fn stateless(
    shared: &Shared,
    found: &Found<'_>,
    version: Option<&str>,
    headers: &HeaderMap,
) -> Resp {
    match found.route.handler {
        Handler::Asset => {
            super::assets::serve(&shared.assets, found.name.unwrap_or(""), version, headers)
        }
        _ => super::response::json_static(StatusCode::OK, br#"{"status":"ok"}"#),
    }
}
