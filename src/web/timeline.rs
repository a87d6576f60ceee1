//! The week ahead (`GET /timeline`, `GET /api/timeline`): upcoming fires of every task that
//! will fire, per minute over 24 hours or per hour over 7 days, from
//! [`crate::TaskBackend::timeline`]; with `at`, the tasks of one slot.

use http::StatusCode;
use jiff::Timestamp;

use super::context::Ctx;
use super::request::{field_error, search_text, BadRequest, Params};
use super::response::{json, Resp};
use std::sync::Arc;

use crate::scheduler::{SlotTasks, Timeline, TimelineQuery, TimelineWindow};
use crate::views::{self, Nav};

/// The query from URL parameters: `window`, `job`, `trigger`, `q`, and the slot `at`.
pub(crate) fn query(p: &Params) -> Result<(TimelineQuery, Option<Timestamp>), BadRequest> {
    let window = match p.get("window").filter(|w| !w.is_empty()) {
        None => TimelineWindow::Day,
        Some(w) => TimelineWindow::parse(w)
            .ok_or_else(|| field_error("window", format!("{w:?} is not 24h or 7d")))?,
    };
    let q = search_text(p)?.map(String::from);
    let at = match p.get("at").map(str::trim).filter(|a| !a.is_empty()) {
        None => None,
        Some(a) => Some(parse_at(a).ok_or_else(|| {
            field_error(
                "at",
                format!(
                    "{a:?} is not a time (RFC 3339, e.g. 2026-12-08T03:00:00Z, or Unix seconds)"
                ),
            )
        })?),
    };
    Ok((
        TimelineQuery {
            window,
            job: p.get("job").filter(|j| !j.is_empty()).map(String::from),
            trigger: p.parse_opt("trigger")?,
            q,
        },
        at,
    ))
}

fn parse_at(a: &str) -> Option<Timestamp> {
    if a.bytes().all(|b| b.is_ascii_digit()) && a.len() <= 12 {
        return Timestamp::from_second(a.parse().ok()?).ok();
    }
    a.parse().ok()
}

/// The timeline the request asks for, and with `at` its slot's tasks; `Err` holds the
/// answer to send instead (400 for bad parameters or an `at` outside the window).
async fn read(cx: &Ctx<'_>) -> Result<(TimelineQuery, Arc<Timeline>, Option<SlotTasks>), Resp> {
    let (q, at) = query(&cx.query).map_err(|e| cx.bad(&e))?;
    let b = &cx.shared.backend;
    let timeline = b.timeline(&q).await.map_err(|e| cx.fail(&e))?;
    let slot = match at {
        Some(at) => Some(
            b.timeline_slot(&q, at)
                .await
                .map_err(|e| cx.fail(&e))?
                .ok_or_else(|| {
                    cx.bad(&field_error(
                        "at",
                        "is outside the window: pick a slot of the heat map",
                    ))
                })?,
        ),
        None => None,
    };
    Ok((q, timeline, slot))
}

/// `GET /timeline`.
pub(crate) async fn page(cx: &Ctx<'_>) -> Resp {
    let (q, timeline, slot) = match read(cx).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let jobs = cx.shared.backend.jobs().await.unwrap_or_default();
    let body = views::timeline::timeline(&cx.view(), &q, &timeline, slot.as_ref(), &jobs);
    cx.page(StatusCode::OK, "Timeline", Nav::Timeline, body)
}

/// `GET /api/timeline`: the same data as JSON.
pub(crate) async fn api(cx: &Ctx<'_>) -> Resp {
    let (_, timeline, slot) = match read(cx).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let mut out = match serde_json::to_value(&*timeline) {
        Ok(v) => v,
        Err(e) => return cx.fail(&crate::BackendError::unavailable(e.to_string())),
    };
    if let Some(s) = slot {
        out["slot"] = serde_json::to_value(s).unwrap_or_default();
    }
    json(StatusCode::OK, &out)
}

/// What the task form's preview says of the load where a trigger's fires fall: for each
/// fire, the tasks and fires already in its minute (within 24 hours) or hour (within 7 days);
/// and, when a fire lands on a pile-up, a quieter minute of the hour to move to.
pub(crate) async fn load_of(cx: &Ctx<'_>, fires: &[Timestamp]) -> Option<views::timeline::Load> {
    let b = &cx.shared.backend;
    let day = b.timeline(&TimelineQuery::default()).await.ok()?;
    let week = b
        .timeline(&TimelineQuery {
            window: TimelineWindow::Week,
            ..TimelineQuery::default()
        })
        .await
        .ok()?;
    let per_fire = fires
        .iter()
        .map(|&t| match (day.slot_of(t), week.slot_of(t)) {
            (Some(i), _) => Some((day.slot(i), day.step_secs)),
            (None, Some(i)) => Some((week.slot(i), week.step_secs)),
            (None, None) => None,
        })
        .collect();
    // Each minute of the hour, by the tasks that start in it over the next 24 hours.
    let mut by_minute = [0u64; 60];
    for (i, &k) in day.tasks.iter().enumerate() {
        let minute = (day.start.as_second() / 60 + i as i64).rem_euclid(60) as usize;
        by_minute[minute] += u64::from(k);
    }
    let quietest = (0..60).min_by_key(|&m| (by_minute[m], m)).unwrap_or(0);
    Some(views::timeline::Load {
        per_fire,
        quietest: (quietest as u8, (by_minute[quietest] + 12) / 24),
        pileup: crate::scheduler::PILEUP_TASKS,
    })
}
